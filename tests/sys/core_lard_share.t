#!/usr/bin/env bash
# core_lard_share.t: lard across two L7 switches ([l7] load_share). Nodes
# n1, n2 with a switch each, n3 a web server only; every web server is a
# fake origin whose gate holds /hold/NAME requests in flight. One group of
# the three under lard (T_low 1, T_high 2). Unloaded, both switches place a
# target at the same node (its home). Then switch 1 holds 3 requests at n1
# (over T_high): with load_share on, switch 2, which has none there, sees
# them through its polls of GET /load and sends a new target whose home is
# n1 elsewhere; with load_share off, switch 2 sends it to n1, where it waits
# behind the gate (each switch judged by its own load alone).
source "$(dirname "$0")/lib.sh"

alloc_port F1; alloc_port F2; alloc_port F3
for f in $F1 $F2 $F3; do
	python3 "$SYS_DIR/l7_fake_origin.py" $f $((90 * SLOW)) &
	PIDS+=($!)
done
for f in $F1 $F2 $F3; do
	wait_for 5 tcp_open $f || { echo "Bail out! fake origin $f"; exit 1; }
done

for share in 100ms off; do
	alloc_port L1; alloc_port A1; alloc_port L2; alloc_port A2
	ini=$T/share-$share.ini
	cluster_ini "$ini" copy n1=$F1:$L1:$A1 n2=$F2:$L2:$A2 n3=$F3 -- \
		"load_share = $share" \
		"[group default]" "nodes = n1 n2 n3" "policy = lard" "lard_low = 1" "lard_high = 2"
	tandem_start "$ini" n1 || { echo "Bail out! switch n1"; exit 1; }
	P1=$TANDEM_PID
	tandem_start "$ini" n2 || { echo "Bail out! switch n2"; exit 1; }
	P2=$TANDEM_PID
	py_checks "load_share $share: " "$share" $L1 $A1 $L2 $A2 $F1 $F2 $F3 <<'PY'
import socket, sys, time, urllib.request
from l7_client import *
share = sys.argv[1]
l1, a1, l2, a2 = (int(x) for x in sys.argv[2:6])
origins = [int(x) for x in sys.argv[6:9]]

def get(port, path):
    rs, rd = exchange(port, request(path), ["GET"])
    rd.s.close()
    return rs[0] if rs else None

def log(i):
    return get(origins[i], "/gate/log").body.decode().split()

def reset_logs():
    for o in origins:
        get(o, "/gate/close")
        get(o, "/gate/open")

def metric(adm, name):
    t = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % adm, timeout=5).read().decode()
    for ln in t.splitlines():
        if ln.split(" ")[0] == name:
            return int(float(ln.split(" ")[1]))

def where(name):
    return [i for i in range(3) if name in log(i)]

# unloaded: 30 targets through both switches (t*), 30 more through switch 1
# only (u*: new to switch 2 later)
reset_logs()
names = ["t%d" % k for k in range(30)]
fresh = ["u%d" % k for k in range(30)]
for n in names + fresh:
    get(l1, "/hold/" + n)
home = {}
for i in range(3):
    for n in log(i):
        home.setdefault(n, i)
reset_logs()
for n in names:
    get(l2, "/hold/" + n)
same = sum(1 for n in names if where(n) == [home.get(n)])
check("unloaded: switch 2 sends each of 30 targets where switch 1 did", same, 30)
at1 = [n for n in names if home.get(n) == 0]
new1 = [n for n in fresh if home.get(n) == 0]
check("... the targets spread over the three nodes, 4 or more at n1 of each kind",
      (len(set(home.values())), len(at1) >= 4, len(new1) >= 1), (3, True, True))

# switch 1 holds 3 requests at n1 (its gate closed): over T_high. First
# switch 1's view of switch 2's load at n1 must be back to 0: the unloaded
# requests through switch 2 just ended, and a share taken before then
# (slower under the sanitizers) would put n1 over T_high before the third
if share != "off":
    end = time.time() + 10
    while time.time() < end and metric(a1, 'tandem_peer_inflight{node="n1"}') != 0:
        time.sleep(0.05)
reset_logs()
held = []
get(origins[0], "/gate/close")
for n in at1[:3]:
    s = connect(l1)
    s.sendall(request("/hold/" + n))
    held.append(s)
end = time.time() + 10
while time.time() < end and len(log(0)) < 3:
    time.sleep(0.05)
check("switch 1 has 3 requests held at n1", sorted(log(0)), sorted(at1[:3]))
check("switch 1's GET /load says so", get(a1, "/load").body.decode().split("\n")[0], "n1 3")
if share != "off":
    end = time.time() + 10
    while time.time() < end and metric(a2, 'tandem_peer_inflight{node="n1"}') != 3:
        time.sleep(0.05)
check("switch 2's tandem_peer_inflight for n1: switch 1's 3 (on), 0 (off)",
      metric(a2, 'tandem_peer_inflight{node="n1"}'), 3 if share != "off" else 0)

# through switch 2: a target new to it whose home is n1 (the home rule), and
# one its table has at n1 (the move rule)
waiting = []
# (the new one first: with load_share off, switch 2's own held request at n1
# would count against the next new target)
for kind, n in (("a target new to switch 2, its home n1", new1[0]), ("a target switch 2 has at n1", at1[3])):
    s = connect(l2, 1.5)
    s.sendall(request("/hold/" + n))
    try:
        got = read_response(Reader(s)).status
        s.close()
    except (socket.timeout, Closed):
        got = "held"
        waiting.append(s)
    w = where(n)
    at = "n1" if w == [0] else "n2 or n3" if w in ([1], [2]) else str(w)
    check("switch 2, %s, n1 over T_high: %s" % (kind, "answered elsewhere" if share != "off"
                                                  else "held at n1 all the same"),
          (got, at), (200, "n2 or n3") if share != "off" else ("held", "n1"))
get(origins[0], "/gate/open")
st = []
for s in held + waiting:
    s.settimeout(10)
    st.append(read_response(Reader(s)).status)
    s.close()
check("once n1's gate opens, every held request ends with 200", st, [200] * (3 + len(waiting)))
polls = metric(a2, 'tandem_load_share_polls_total{switch="n1",result="ok"}')
check("switch 2 counts its polls of switch 1 (on), makes none (off)", (polls or 0) > 0, share != "off")
PY
	tandem_stop "$P1"; tandem_stop "$P2"
done
done_testing
