#!/usr/bin/env bash
# l7_limits.t: the answers README promises for limits and unusable nodes,
# with both relay engines. max_clients: a connection over it is closed at
# accept with no byte; pool_max_per_node: a request that needs one more
# upstream connection gets 503; a group whose only node refuses: 502 for
# the first fail_down (3) requests, then the node is down and the group
# answers 503 with Retry-After; a group whose every node is drained
# (weight 0): 503 with Retry-After, nothing sent to a node; a connect timeout (a listener whose full
# queue drops SYNs) gives 504 and is not retried; a server that answers before reading the
# request body: its response whole, then the connection closed.
source "$(dirname "$0")/lib.sh"

alloc_port FAKE; alloc_port REFUSED; alloc_port BH
python3 "$SYS_DIR/l7_fake_origin.py" $FAKE $((60 * SLOW)) &
PIDS+=($!)
wait_for 5 tcp_open $FAKE || { echo "Bail out! fake origin"; exit 1; }

for engine in copy splice $PACKET; do
	alloc_port L7; alloc_port ADM
	cluster_ini "$T/$engine.ini" $engine f=$FAKE:$L7:$ADM r=$REFUSED bh=$BH -- \
		"max_clients = 3" "pool_max_per_node = 1" "server_timeout = 2s" "connect_timeout = 1s" \
		"[node dr1]" "web = 127.0.0.1:$FAKE" "weight = 0" \
		"[node dr2]" "web = 127.0.0.1:$FAKE" "weight = 0" \
		"[group drained]" "nodes = dr1 dr2" "policy = rr" \
		"[rule drained]" "path_prefix = /hold/drained/" "group = drained" \
		"[group dead]" "nodes = r" "policy = rr" \
		"[group default]" "nodes = f" "policy = rr" \
		"[group black]" "nodes = bh f" "policy = rr" \
		"[rule dead]" "path_prefix = /dead/" "group = dead" \
		"[rule black]" "path_prefix = /black/" "group = black"
	tandem_start "$T/$engine.ini" f || { echo "Bail out! tandem $engine"; exit 1; }
	py_checks "$engine: " "$L7" "$BH" "$FAKE" <<'PY'
import socket, sys, time
from l7_client import *
port, bh, fake = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

# connect timeout: a listener that never accepts, its queue full, drops
# every further SYN (Linux: accept queue full -> SYN dropped)
L = socket.socket(); L.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
L.bind(("127.0.0.1", bh)); L.listen(0)
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False); c.connect_ex(("127.0.0.1", bh)); fill.append(c)
time.sleep(0.2)
got = []
for i in range(2):      # rr over bh and f: one each
    t0 = time.time()
    rs, rd = exchange(port, request("/black/%d" % i), ["GET"])
    dt = time.time() - t0
    got.append((rs[0].status if rs else None, "at once" if dt < 0.8 else "after ~1 s" if dt < 4 else "late"))
    rd.s.close()
check("connect timeout (1 s) to a node that never answers the SYN: 504, not retried on the other node",
      sorted(got), [(200, "at once"), (504, "after ~1 s")])
for c in fill: c.close()
L.close()

# pool_max_per_node = 1: one request holds the node's only connection
a = connect(port); a.sendall(request("/silent")); time.sleep(0.3)
rs, rd = exchange(port, request("/"), ["GET"])
check("pool_max_per_node reached: 503 and close", (rs[0].status if rs else None, rd.closed_soon()), (503, True))
rd.s.close()    # a closed session lingers until the client closes too
ra = read_response(Reader(a))
check("... while the request holding the connection ends in 504 (server_timeout)", ra.status, 504)
a.close()
time.sleep(0.3)

# max_clients = 3: the fourth connection is closed at accept, no byte
held = [connect(port) for _ in range(3)]
for h in held:
    h.sendall(request("/")); read_response(Reader(h))
x = connect(port)
try:
    x.sendall(request("/"))
    got = x.recv(100)
except ConnectionResetError:
    got = b""
check("max_clients (3) reached: a 4th connection is closed with no byte", got, b"")
x.close()
for h in held:
    h.close()
time.sleep(0.3)
rs, rd = exchange(port, request("/"), ["GET"])
check("... and served again once the others left", rs[0].status if rs else None, 200)
rd.s.close()

# a group whose only node refuses: 502 until fail_down, then 503 + Retry-After
got = []
for i in range(5):
    rs, rd = exchange(port, request("/dead/x"), ["GET"])
    got.append((rs[0].status, rs[0].header("retry-after")) if rs else None)
    rd.s.close()
check("a refusing node alone in its group: 502 x3, then marked down: 503 Retry-After: 1", got,
      [(502, None)] * 3 + [(503, "1")] * 2)

# a group whose nodes are all drained (weight 0), their web server up (the
# fake origin logs every /hold/ request that reaches it): 503 + Retry-After
# (one CI run saw the first of these connections closed with no byte, which
# 16 runs under CPU load here did not reproduce: a closed connection keeps
# the README's promise, so a try that gets nothing is made once more, and a
# second empty one fails)
got = []
for i in range(3):
    for _ in range(2):
        rs, rd = exchange(port, request("/hold/drained/%d" % i), ["GET"])
        if rs:
            break
        rd.s.close()
    got.append((rs[0].status, rs[0].header("retry-after"), rd.closed_soon()) if rs else None)
    rd.s.close()
check("a group whose every node has weight 0: 503 Retry-After: 1, and close", got, [(503, "1", True)] * 3)
rs, rd = exchange(port, request("/hold/seen"), ["GET"])     # the default group: it does reach one
check("... while a /hold/ request for the default group is served", [(r.status, r.body) for r in rs], [(200, b"seen\n")])
rd.s.close()
rs, rd = exchange(fake, request("/gate/log"), ["GET"])
log = rs[0].body.decode().split()
check("... and none of the drained group's requests reached a node (the fake origin logged only that one)",
      ("seen" in log, [x for x in log if "drained" in x]), (True, []))
rd.s.close()

# a server answering before it read the request body
s = connect(port); rd = Reader(s)
s.sendall(request("/early", "POST", headers=["Content-Length: 1048576"]) + b"x" * 65536)
r = read_response(rd)
check("server answers 413 before reading the body: the response whole, then closed",
      (r.status, r.body, r.complete, rd.closed_soon()), (413, b"big\n", True, True))
PY
	n=$(metric 'tandem_local_responses_total{code="503"}')
	ok "$([ "${n:-0}" -ge 7 ]; echo $?)" "$engine: local 503s counted ($n: pool, max_clients, down group, drained group)"
	is "$(metric 'tandem_node_up{node="r"}')" 0 "$engine: the refusing node is down in /metrics"
	is "$(metric tandem_retries_total)" 0 "$engine: no retry counted (no other node to retry on, or a timeout)"
	tandem_stop
	is "$STOP_RC" 0 "$engine: SIGTERM: exit status 0"
done

# ---- idle pooled connections of an older configuration, reused after a
# reload before the sweep closes them: each is closed, the rest of the idle
# list stays in the pool (a double unlink used to drop the list, leaking its
# connections and their pool_max_per_node slots)
for engine in copy splice $PACKET; do
	alloc_port L7; alloc_port ADM
	cluster_ini "$T/re-$engine.ini" $engine f=$FAKE:$L7:$ADM -- "pool_max_per_node = 4"
	tandem_start "$T/re-$engine.ini" f || { echo "Bail out! tandem re-$engine"; exit 1; }
	ups() { metric tandem_upstream_connections; }
	py_checks "$engine: " "$L7" "$TANDEM_PID" <<'PY'
import os, signal, sys, threading, time
from l7_client import *
port, pid = int(sys.argv[1]), int(sys.argv[2])
def trickle(out):
    rs, rd = exchange(port, request("/trickle"), ["GET"])
    out.append(rs[0].status if rs else None)
    rd.s.close()
for rnd in range(3):
    # four requests at once: four upstream connections, then all idle
    out = []
    th = [threading.Thread(target=trickle, args=(out,)) for _ in range(4)]
    for t in th: t.start()
    for t in th: t.join()
    # a reload, then requests every 20 ms: the first one after the worker
    # switched configuration meets the old idle connections
    os.kill(pid, signal.SIGHUP)
    s = connect(port); rd = Reader(s)
    for i in range(15):
        s.sendall(request("/"))
        out.append(read_response(rd).status)
        time.sleep(0.02)
    s.close()
    time.sleep(0.3)
    check("round %d: 4 concurrent requests, a reload, 15 requests: all 200" % rnd, out, [200] * 19)
# pool_max_per_node = 4: leaked slots would turn some of these into 503
out = []
th = [threading.Thread(target=trickle, args=(out,)) for _ in range(4)]
for t in th: t.start()
for t in th: t.join()
check("then 4 requests at once still find 4 connection slots", sorted(out), [200] * 4)
PY
	sleep 0.3
	is "$(ups)" 4 "$engine: upstream connections open at the end: the 4 pooled ones ($(ls /proc/$TANDEM_PID/fd | wc -l) fds)"
	tandem_stop
done

done_testing
