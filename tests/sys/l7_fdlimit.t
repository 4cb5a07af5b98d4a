#!/usr/bin/env bash
# l7_fdlimit.t: tandem l7 out of file descriptors (RLIMIT_NOFILE 64): the
# accept loop pauses the listener instead of spinning on EMFILE, says so at
# most once a second, drops nothing queued, and serves again once clients
# leave; with every engine.
source "$(dirname "$0")/lib.sh"
command -v prlimit >/dev/null || PATH=$PATH:/usr/bin
command -v prlimit >/dev/null || { echo "Bail out! prlimit (util-linux) is missing"; exit 1; }

origin_start a $(port); PA=$(port); next_port
for engine in copy splice sockmap $PACKET; do
	alloc_port L7; alloc_port ADM
	cluster_ini "$T/$engine.ini" $engine a=$PA:$L7:$ADM
	TANDEM_WRAP="prlimit --nofile=64:64" tandem_start "$T/$engine.ini" a ||
		{ echo "Bail out! tandem $engine"; exit 1; }
	py_checks "$engine: " $L7 $ADM "$T/tandem-a.log" <<'PY'
import socket, sys, time, urllib.request
from l7_client import *
port, adm, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def metric(name):
    for ln in urllib.request.urlopen("http://127.0.0.1:%d/metrics" % adm, timeout=5).read().decode().splitlines():
        if ln.split(" ")[0] == name:
            return float(ln.split(" ")[1])
# 100 idle connections: more than the process has fds for; the kernel
# queues the rest (backlog 4096)
socks = [connect(port) for _ in range(100)]
# (the admin thread has no fd to accept with either: the log says it)
for _ in range(200):
    if "the listener pauses" in open(log).read():
        break
    time.sleep(0.05)
check("the listener paused for want of fds (logged)", "the listener pauses" in open(log).read(), True)
# the first 60 leave; the other 40, some accepted and some still queued,
# each get a request: every one is answered (none was dropped)
for s in socks[:60]:
    s.close()
got = 0
for s in socks[60:]:
    s.settimeout(20)
    try:
        s.sendall(request("/1k"))
        r = read_response(Reader(s))
        got += r.status == 200 and len(r.body) == 1024
    except Exception:
        pass
    s.close()
check("the 40 left, queued while fds ran out or not, are all served", got, 40)
check("the pauses are counted", (metric("tandem_accept_paused_total") or 0) > 0, True)
rs, _ = exchange(port, request("/1k"))
check("a new connection afterwards is served", [r.status for r in rs], [200])
PY
	n=$(grep -c 'the listener pauses' "$T/tandem-a.log")
	ok $([ "$n" -ge 1 ] && [ "$n" -le 30 ] && echo 0 || echo 1) "$engine: the pause is logged, at most once a second ($n lines)"
	tandem_stop
	is "$STOP_RC" 0 "$engine: SIGTERM: exit status 0"
	# tandem_start appends: the next engine's checks read its own lines only
	mv "$T/tandem-a.log" "$T/tandem-a.$engine.log"
done
done_testing
