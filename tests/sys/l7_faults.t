#!/usr/bin/env bash
# l7_faults.t: failures around tandem l7, with every relay engine. A client
# that disconnects (FIN or RST) mid-response leaves no connection, pipe or fd
# behind and no stray bytes in a pooled connection; an origin killed
# mid-response (Content-Length and chunked) gives the client a closed
# connection, never a short body passed off as complete, and a restarted
# origin is used again; a client that goes away inside its request body:
# the origin sees the request cut; an origin that sends a broken head (CL
# with TE, not HTTP, longer than a buffer, cut by a close: 502 and close,
# that connection closed), a short or close-delimited response, trickles,
# or never answers (a fake origin, l7_fake_origin.py); a pooled connection
# closed as a request arrives (a GET is replayed once, a POST gets 502); an
# origin that refuses connections -> 502/503, never a hang; a new upstream
# connection closed or reset before any response byte (a GET is retried on
# the other node, a POST gets 502); origins that close idle or used-up
# keep-alive connections.
source "$(dirname "$0")/lib.sh"

alloc_port O1; alloc_port O2; alloc_port FAKE; alloc_port REFUSED
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $O2 || { echo "Bail out! nginx be2"; exit 1; }
python3 "$SYS_DIR/l7_fake_origin.py" $FAKE $((240 * SLOW)) &
PIDS+=($!)
wait_for 5 tcp_open $FAKE || { echo "Bail out! fake origin"; exit 1; }

fds() { ls /proc/$TANDEM_PID/fd 2>/dev/null | wc -l; }
pipes() { ls -l /proc/$TANDEM_PID/fd 2>/dev/null | grep -c 'pipe:'; }

for engine in copy splice sockmap $PACKET; do
	alloc_port L7; alloc_port ADM
	cluster_ini "$T/$engine.ini" $engine be1=$O1:$L7:$ADM be2=$O2 -- \
		"server_timeout = 2s" "connect_timeout = 1s"
	tandem_start "$T/$engine.ini" be1 || { echo "Bail out! tandem $engine"; exit 1; }
	curl -s -o /dev/null "http://127.0.0.1:$L7/4m" -o /dev/null "http://127.0.0.1:$L7/4m"
	fd0=$(fds); pipe0=$(pipes)

	# ---- clients that go away mid-response
	py_checks "$engine: " "$L7" "$T/www" <<'PY'
import os, socket, struct, sys, time
from l7_client import *
port, www = int(sys.argv[1]), sys.argv[2]
F = lambda n: open(os.path.join(www, n), "rb").read()
gone = 0
for mode in ["fin", "rst", "fin-pipelined", "rst-pipelined", "fin-early", "rst-chunked"]:
    for i in range(2):
        s = connect(port)
        path = "/chunked/big" if "chunked" in mode else "/64m"
        req = request(path)
        if "pipelined" in mode:
            req += request("/1k") + request("/64m")
        s.sendall(req)
        want = 0 if "early" in mode else 1 << 20
        got = 0
        while got < want:
            d = s.recv(65536)
            if not d: break
            got += len(d)
        if mode.startswith("rst"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        gone += 1
time.sleep(0.3)
# the pooled connections must not carry the rest of an abandoned body
paths = ["4m", "1k", "1m", "16k", "0", "256k", "1", "4m"]
rs, rd = exchange(port, b"".join(request("/" + p) for p in paths), ["GET"] * len(paths), timeout=20)
check("after %d clients left mid-response: 8 pipelined responses whole and in order" % gone,
      [(r.status, r.body == F(p)) for r, p in zip(rs, paths)], [(200, True)] * len(paths))
PY
	# ---- clients that go away inside their request body (FIN, RST): the
	# origin sees each request cut (nginx logs 400) and stores nothing
	py_checks "$engine: " "$L7" "$T" "$engine" "$ADM" <<'PY'
import glob, os, socket, struct, sys, time
from l7_client import *
port, T, engine, adm = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
def aborted():
    rs, rd = exchange(adm, request("/metrics"), ["GET"])
    rd.s.close()
    return sum(int(ln.split()[1]) for ln in rs[0].body.decode().splitlines() if ln.startswith("tandem_aborted_total "))
a0 = aborted()
paths = []
for mode in ["fin", "rst"]:
    for te in ["length", "chunked"]:
        path = "/up/%s-gone-%s-%s" % (engine, mode, te)
        paths.append(path)
        s = connect(port)
        if te == "length":
            s.sendall(request(path, "PUT", headers=["Content-Length: 1048576"]) + b"x" * 262144)
        else:
            s.sendall(request(path, "PUT", headers=["Transfer-Encoding: chunked"]) + b"40000\r\n" + b"x" * 262144 + b"\r\n")
        end = time.time() + 10      # until the origin has the head and bytes of the body
        while not glob.glob(T + "/origin-*/cb/*") and time.time() < end:
            time.sleep(0.02)
        if mode == "rst":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        end = time.time() + 10
        while glob.glob(T + "/origin-*/cb/*") and time.time() < end:
            time.sleep(0.02)
def logged(path):
    return [ln.split('"')[2].split()[0] for f in glob.glob(T + "/origin-*/access.log") for ln in open(f) if path in ln]
end = time.time() + 10
while not all(logged(p) for p in paths) and time.time() < end:
    time.sleep(0.05)
check("4 clients gone inside a PUT body (FIN, RST; Content-Length, chunked): each cut at the origin, nothing stored",
      [(logged(p), os.path.exists(T + p)) for p in paths], [(["400"], False)] * 4)
check("... each counted in tandem_aborted_total", aborted() - a0, 4)
PY
	wait_for 5 eval '[ "$(metric tandem_client_connections)" = 0 ]'
	is "$(metric tandem_client_connections)" 0 "$engine: clients gone: tandem_client_connections back to 0"
	wait_for 5 eval '[ $(fds) -le $((fd0 + 4)) ]'
	ok $([ "$(fds)" -le $((fd0 + 4)) ] && echo 0 || echo 1) "$engine: no fd left behind ($fd0 before, $(fds) after)"
	ok $([ "$(pipes)" -le $((pipe0 + 2)) ] && echo 0 || echo 1) "$engine: no pipe left behind ($pipe0 before, $(pipes) after)"

	# ---- origins killed mid-response: Content-Length and chunked
	py_checks "$engine: " "$L7" "${ORIGIN_PID[be1]} ${ORIGIN_WPID[be1]} ${ORIGIN_PID[be2]} ${ORIGIN_WPID[be2]}" <<'PY'
import os, signal, socket, sys, time
from l7_client import *
port, pids = int(sys.argv[1]), [int(p) for p in sys.argv[2].split()]
conns = []
# at 8 MB/s, so the kill lands inside the body: a sockmap redirect has no
# bound of its own (the psock queue), and on a busy box the whole 64 MiB
# could be queued in the kernel before a kill at full speed
for path in ["/slow/body/64m", "/slow/chunked/big"]:
    s = connect(port, 10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(request(path))
    rd = Reader(s)
    r = read_head(rd)
    conns.append((path, s, rd, r))
for _, s, rd, _ in conns:      # a little of each body, then the origins die
    rd.fill()
for p in pids:
    try: os.kill(p, signal.SIGKILL)
    except ProcessLookupError: pass
time.sleep(0.3)
for path, s, rd, head in conns:
    # read to the end and judge the framing of what arrived
    data = rd.rest()    # what is buffered, then on to the close
    if path.endswith("/64m"):
        whole = head.header("content-length") == str(len(data))
    else:
        whole = data.endswith(b"0\r\n\r\n")
    # closed, or reset (a packet-level splice cut short resets: a close
    # after the hole would read as the end of the body)
    check("origin killed mid-response (%s): head %d, connection closed, body short" % (path, head.status),
          (head.status, rd.eof or rd.reset, whole), (200, True, False))
PY
	origin_stop be1; origin_stop be2
	origin_start be1 $O1 && origin_start be2 $O2 || { echo "Bail out! restart nginx"; exit 1; }
	n=$(metric tandem_aborted_total)
	ok $([ "${n:-0}" -ge 2 ] && echo 0 || echo 1) "$engine: aborted exchanges counted ($n)"
	rm -f "$T"/re.*
	codes=$(curl -s --max-time 20 -w '%{http_code} ' -o "$T/re.1" "http://127.0.0.1:$L7/1m" -o "$T/re.2" "http://127.0.0.1:$L7/1m" \
		-o "$T/re.3" "http://127.0.0.1:$L7/1m" -o "$T/re.4" "http://127.0.0.1:$L7/1m")
	is "$codes" "200 200 200 200 " "$engine: origins restarted: served again (stale pooled connections dropped)"
	is "$(sha "$T"/re.* | sort -u)" "$(sha "$T/www/1m")" "$engine: and the bodies are whole"
	tandem_stop
	is "$STOP_RC" 0 "$engine: SIGTERM: exit status 0"

	# ---- a misbehaving origin
	alloc_port L7F; alloc_port ADMF
	cluster_ini "$T/fake-$engine.ini" $engine f=$FAKE:$L7F:$ADMF -- "server_timeout = 1s" "connect_timeout = 1s"
	tandem_start "$T/fake-$engine.ini" f || { echo "Bail out! tandem fake"; exit 1; }
	py_checks "$engine: " "$L7F" "$FAKE" "$engine" <<'PY'
import sys, time
from l7_client import *
port, fake, engine = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
BODY = bytes(i % 251 for i in range(100000))
def one(path, method="GET"):
    t0 = time.time()
    rs, rd = exchange(port, request(path, method), [method], timeout=10)
    return (rs[0] if rs else None), rd, time.time() - t0
def broken(check):
    # a broken response head: 502 and close, and the origin's connection is
    # closed (where the origin keeps it open, the fake origin says so)
    for path, what in [("/cl-te", "CL with TE"), ("/garbage", "a status line that is not HTTP"),
                       ("/bighead", "a 40 KiB head, over one buffer"), ("/headcut", "half a head, then a close")]:
        tag = "%s-%s" % (engine, path[1:])
        rs, rd = exchange(port, request(path, headers=["X-Tag: " + tag]), ["GET"], timeout=10)
        check("origin answers %s: 502 and close" % what, (rs[0].status if rs else None, rd.closed_soon()), (502, True))
        rd.s.close()
        if path in ("/cl-te", "/bighead"):
            check("... and the origin's connection is closed", fake_wait(fake, tag, "closed"), ["closed"])
    r, rd, dt = one("/short")
    check("origin closes after half the Content-Length: short body, closed, not complete",
          (r.status, len(r.body) < 100000, r.complete, rd.eof), (200, True, False, True))
    r, rd, dt = one("/chunked-cut")
    check("origin closes a chunked body before its last chunk: closed, not complete",
          (r.status, r.complete, rd.eof), (200, False, True))
    # chunked: plain 64 KiB chunks, then an extension and a trailer (with
    # sockmap the program frames the first ones in the kernel and stops before
    # the extension, user space parses on), three times on one connection
    want = b""
    for part in CHUNKED_MIXED:
        size, _, rest = part.partition(b"\r\n")
        want += rest[:int(size.split(b";")[0], 16)]
    rs, rd = exchange(port, request("/chunked-mixed") * 3, ["GET"] * 3, timeout=20)
    check("chunked body with an extension and a trailer mid-way, three times: whole",
          [(r.status, r.body == want, r.complete) for r in rs], [(200, True, True)] * 3)
    r, rd, dt = one("/close")
    check("close-delimited origin response: the whole body reaches an HTTP/1.1 client",
          (r.status, r.body == BODY, r.complete), (200, True, True))
    r, rd, dt = one("/trickle")
    check("a response trickled one byte at a time: whole", (r.status, r.body), (200, b"hello"))
def silent(check):
    r, rd, dt = one("/silent")
    check("an origin that never answers: 504 after server_timeout (1 s)", (r and r.status, 0.8 < dt < 5), (504, True))
# the origin that never answers waits out server_timeout beside the others
concurrently(broken, silent)
rs, rd = exchange(port, request("/") + request("/trickle") + request("/"), ["GET"] * 3)
check("then three pipelined requests: served", [(r.status, r.body) for r in rs], [(200, b"ok\n"), (200, b"hello"), (200, b"ok\n")])
# a pooled connection the origin closes as the next request arrives: a
# bodiless GET is replayed once on a new connection, a POST with a body gets
# 502 (its body may have been consumed), and so does a POST without one
s = connect(port); rd = Reader(s)
got = []
for req in [request("/"), request("/drop"), request("/"), request("/drop", "POST", body=b"x" * 100),
            request("/"), request("/drop", "POST", headers=["Content-Length: 0"])]:
    if rd.eof:
        s = connect(port); rd = Reader(s)
    s.sendall(req)
    try:
        r = read_response(rd)
        got.append((r.status, r.body))
        if r.close:
            rd.rest()
    except (Closed, ConnectionResetError):
        got.append(None)
check("pooled connection closed under a GET: replayed on a new one; under a POST: 502", got,
      [(200, b"ok\n"), (200, b"fresh\n"), (200, b"ok\n"), (502, b"Bad Gateway\n"), (200, b"ok\n"),
       (502, b"Bad Gateway\n")])
PY
	n=$(metric tandem_retries_total)
	is "${n:-0}" 1 "$engine: one replay counted (the GET)"
	if [ $engine = sockmap ]; then
		# the second and third /chunked-mixed: head and plain chunks
		# in the kernel, the rest parsed on in user space
		n=$(metric tandem_relay_sockmap_heads_total)
		ok $([ "${n:-0}" -ge 2 ] && echo 0 || echo 1) "sockmap: chunked responses taken into the kernel and handed back mid-body ($n)"
	fi
	tandem_stop

	# ---- an origin that refuses connections: 502/503 at once, never a hang
	alloc_port L7R; alloc_port ADMR
	cluster_ini "$T/ref-$engine.ini" $engine r=$REFUSED:$L7R:$ADMR -- "connect_timeout = 1s"
	tandem_start "$T/ref-$engine.ini" r || { echo "Bail out! tandem refused"; exit 1; }
	out=$(for m in GET GET HEAD POST PUT GET; do
		curl -s -o /dev/null --max-time 10 -X $m -w '%{http_code}:%{time_total} ' "http://127.0.0.1:$L7R/1k"
	done)
	bad=$(echo "$out" | tr ' ' '\n' | awk -F: 'NF == 2 && !(($1 == 502 || $1 == 503) && $2 < 5)' | wc -l)
	is "$bad" 0 "$engine: only node refuses: 502/503 within 5 s for GET, HEAD, POST, PUT ($out)"
	n=$(metric_sum tandem_upstream_failures_total)
	ok $([ "${n:-0}" -ge 1 ] && echo 0 || echo 1) "$engine: upstream failures counted ($n)"
	tandem_stop

	# one node of two refuses: nothing hangs, GETs may be retried elsewhere
	alloc_port L7H; alloc_port ADMH
	cluster_ini "$T/half-$engine.ini" $engine be1=$O1:$L7H:$ADMH r=$REFUSED -- "connect_timeout = 1s"
	tandem_start "$T/half-$engine.ini" be1 || { echo "Bail out! tandem half"; exit 1; }
	out=$(for i in $(seq 8); do curl -s -o /dev/null --max-time 10 -w '%{http_code}:%{time_total} ' "http://127.0.0.1:$L7H/1k"; done)
	bad=$(echo "$out" | tr ' ' '\n' | awk -F: 'NF == 2 && !(($1 == 200 || $1 == 502 || $1 == 503) && $2 < 5)' | wc -l)
	is "$bad" 0 "$engine: one node of two refuses: every GET 200 or 502/503 within 5 s ($out)"
	n200=$(echo "$out" | tr ' ' '\n' | grep -c '^200:')
	ok $([ "$n200" -ge 4 ] && echo 0 || echo 1) "$engine: at least the live node's share is served ($n200 of 8)"
	tandem_stop

	# a new upstream connection closed or reset before any response byte
	# (the fake origin's /slam): a GET is retried on the other node (nginx
	# be1: 404 for /slam), a POST with a body gets 502 and is not retried
	alloc_port L7S; alloc_port ADMS
	cluster_ini "$T/slam-$engine.ini" $engine be1=$O1:$L7S:$ADMS f=$FAKE -- "fail_down = 1000"
	tandem_start "$T/slam-$engine.ini" be1 || { echo "Bail out! tandem slam"; exit 1; }
	py_checks "$engine: " "$L7S" "$ADMS" <<'PY'
import sys
from l7_client import *
port, adm = int(sys.argv[1]), int(sys.argv[2])
def retries():
    rs, rd = exchange(adm, request("/metrics"), ["GET"])
    rd.s.close()
    return [int(ln.split()[1]) for ln in rs[0].body.decode().splitlines() if ln.startswith("tandem_retries_total ")]
def one(req, method="GET"):
    rs, rd = exchange(port, req, [method])
    rd.s.close()
    return (rs[0].status, rs[0].header("x-origin")) if rs else None
got = [one(request(p)) for p in ["/slam", "/slam-rst"] * 3]
check("a new upstream connection closed or reset before any byte: 6 GETs all answered by the other node",
      got, [(404, "be1")] * 6)
n = retries()
check("... their retries counted", len(n) == 1 and n[0] >= 1, True)
got = [one(request(p, "POST", body=b"x" * 100), "POST") for p in ["/slam", "/slam-rst"] * 3]
check("... 6 POSTs with a body: each 502 (not retried) or answered by be1, some 502",
      (all(g in ((502, None), (405, "be1"), (404, "be1")) for g in got), (502, None) in got), (True, True))
print("# POSTs: %s" % got, file=sys.stderr)
check("... and none of them retried", retries(), n)
PY
	tandem_stop
done

# ---- origins that close their keep-alive connections: after 3 requests, and
# when idle for 1 s; the pool must notice, never hand a dead one a request
ORIGIN_KA_REQUESTS=3 ORIGIN_KA_TIMEOUT=1s
alloc_port O3
origin_start ka $O3 || { echo "Bail out! nginx ka"; exit 1; }
unset ORIGIN_KA_REQUESTS ORIGIN_KA_TIMEOUT
# one tandem per engine, all checked at once by one script (their idle waits
# overlap), the checks in the engines' order
ka_ports=()
declare -A KA_PID
for engine in copy splice sockmap $PACKET; do
	alloc_port L7K; alloc_port ADMK
	cluster_ini "$T/ka-$engine.ini" $engine ka=$O3:$L7K:$ADMK
	tandem_start "$T/ka-$engine.ini" ka || { echo "Bail out! tandem ka"; exit 1; }
	KA_PID[$engine]=$TANDEM_PID
	ka_ports+=("$engine:$L7K")
done
py_checks "" "$T/www" "${ka_ports[@]}" <<'PY'
import os, sys, time
from l7_client import *
www = sys.argv[1]
F = lambda n: open(os.path.join(www, n), "rb").read()

def one(engine, port, check):
    paths = ["16k", "1", "256k", "0", "1k", "16k", "1m", "1", "16k", "1k", "0", "1k"]
    s = connect(port); rd = Reader(s)
    res = []
    for p in paths:
        s.sendall(request("/" + p))
        r = read_response(rd)
        res.append((r.status, r.body == F(p)))
    check("%s: origin closes every 3rd request's connection: 12 sequential requests served" % engine,
          res, [(200, True)] * 12)
    res = []
    for i in range(3):
        time.sleep(1.5)
        s.sendall(request("/16k"))
        r = read_response(rd)
        res.append((r.status, r.body == F("16k")))
    check("%s: origin closes idle pooled connections after 1 s: the next request still served" % engine,
          res, [(200, True)] * 3)

concurrently(*[lambda c, e=e, p=int(p): one(e, p, c) for e, p in (a.split(":") for a in sys.argv[2:])])
PY
for engine in copy splice sockmap $PACKET; do
	tandem_stop "${KA_PID[$engine]}"
	is "$STOP_RC" 0 "$engine: SIGTERM: exit status 0"
done

done_testing
