#!/usr/bin/env bash
# l7_access_log.t: [l7] access_log with both formats and every engine: every
# request of a mixed load (sizes from 0 to 4 MiB, 404, HEAD, PUT, chunked,
# pipelined, a bad head, an oversize head, a client gone mid-body) has
# exactly one line, whose fields agree with what the client saw and with the
# web server that served it; SIGUSR1 after logrotate's move reopens the file
# with no line lost; a full disk and a read-only one cost log lines, counted,
# and never a request.
source "$(dirname "$0")/lib.sh"
command -v mount >/dev/null || skip_all "no mount(8)"

make_files
origin_start a $(port); PA=$(port); next_port
origin_start b $(port); PB=$(port); next_port
MNT=$T/mnt; RO=$T/ro
mkdir -p "$MNT" "$RO/dir"
# a 64 KiB file system for the full-disk case, unmounted whatever happens
mount -t tmpfs -o size=64k tandem-alog "$MNT" || { echo "Bail out! mount tmpfs"; exit 1; }
mount --bind "$RO/dir" "$RO/dir" && mount -o remount,bind,ro "$RO/dir" || { echo "Bail out! read-only bind mount"; exit 1; }
trap 'umount "$RO/dir" 2>/dev/null; umount "$MNT" 2>/dev/null; cleanup' EXIT

# load PORT FIRST COUNT OUT: the mixed load, ids FIRST.., what the client saw in OUT
load() {
	timeout $((120 * SLOW)) python3 - "$@" <<'PY'
import json, socket, sys, time
from l7_client import *
port, first, count, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
seen = []
sizes = ["0", "1", "1k", "16k", "256k", "1m", "4m"]
def note(i, method, target, r):
    seen.append({"id": i, "method": method, "target": target, "status": r.status,
                 "bytes": len(r.raw) if method != "HEAD" else 0,
                 "node": (r.header("x-origin") or "-")})
i = first
s = connect(port); rd = Reader(s)
while i < first + count:
    k = i % 10
    if k < 6:           # keep-alive GETs of every size
        t = "/%s?id=%d" % (sizes[i % len(sizes)], i)
        s.sendall(request(t)); r = read_response(rd); note(i, "GET", t, r); i += 1
    elif k == 6:        # a 404 and a HEAD
        t = "/missing?id=%d" % i
        s.sendall(request(t)); note(i, "GET", t, read_response(rd)); i += 1
        t = "/1k?id=%d" % i
        s.sendall(request(t, method="HEAD")); note(i, "HEAD", t, read_response(rd, "HEAD")); i += 1
    elif k == 8:        # a PUT, then a chunked response
        t = "/up/f%d?id=%d" % (i, i)
        s.sendall(request(t, method="PUT", body=b"x" * 5000)); note(i, "PUT", t, read_response(rd)); i += 1
        t = "/chunked/text?id=%d" % i
        s.sendall(request(t)); note(i, "GET", t, read_response(rd)); i += 1
    else:               # three pipelined in one write
        ts = ["/16k?id=%d" % (i + j) for j in range(3)]
        s.sendall(b"".join(request(t) for t in ts))
        for j, t in enumerate(ts):
            note(i + j, "GET", t, read_response(rd))
        i += 3
s.close()
json.dump(seen, open(out, "w"))
PY
}

# the access log writer's round is 50 ms: two of them (x SLOW)
two_rounds() { sleep "$(awk -v s="$SLOW" 'BEGIN { print 0.1 * s }')"; }

# check LOG... : every id of $T/seen*.json has one line, agreeing; prints TAP via py_checks
check_log() {
	py_checks "$1: " "$T" "$@" <<'PY'
import glob, json, sys
from l7_client import check
tdir, tag, logs = sys.argv[1], sys.argv[2], sys.argv[3:]
seen = {}
for f in glob.glob("%s/seen*.json" % tdir):
    for x in json.load(open(f)):
        seen[x["id"]] = x
lines, bad, other = [], 0, []
for f in logs:
    for ln in open(f):
        try:
            lines.append(json.loads(ln))
        except ValueError:
            bad += 1
check("every line is JSON", bad, 0)
by = {}
for l in lines:
    t = l["target"]
    if "id=" in t:
        by.setdefault(int(t.split("id=")[1]), []).append(l)
    else:
        other.append(l)
dups = sorted(k for k, v in by.items() if len(v) != 1)
check("no request has two lines", dups, [])
check("every request has its line", sorted(set(seen) - set(by)), [])
wrong = []
for k, x in seen.items():
    l = by.get(k, [None])[0]
    if not l:
        continue
    got = (l["method"], l["target"], l["status"], l["bytes"], l["node"])
    want = (x["method"], x["target"], x["status"], x["bytes"], x["node"])
    if got != want:
        wrong.append((k, got, want))
check("method, target, status, bytes and node agree with the client and the web server", wrong[:3], [])
eng = sorted(set(l["engine"] for l in by.values() for l in l))
check("the engine is named", all(e in ("copy", "splice", "sockmap", "packet") for e in eng), True)
check("timings present", all(l["first_byte_ms"] is not None and l["total_ms"] is not None for v in by.values() for l in v), True)
print("lines\t%d\t%d" % (len(lines), len(lines)))
PY
}

for engine in copy splice sockmap $PACKET; do
	alloc_port L7; alloc_port ADM
	LOG=$T/$engine.access.log
	cluster_ini "$T/$engine.ini" $engine a=$PA:$L7:$ADM b=$PB -- \
		"access_log = $LOG" "access_log_format = json" "max_head = 4k"
	tandem_start "$T/$engine.ini" a || { echo "Bail out! tandem $engine"; exit 1; }
	rm -f "$T"/seen*.json
	load $L7 0 200 "$T/seen1.json"; ok $? "$engine: the first mixed load ran"
	# logrotate: the file moves, SIGUSR1, the new lines go to a new file
	mv "$LOG" "$LOG.1"
	kill -USR1 $TANDEM_PID
	load $L7 1000 200 "$T/seen2.json"; ok $? "$engine: the second mixed load ran"
	wait_for 5 test -s "$LOG"; ok $? "$engine: SIGUSR1 opened a new file"
	# the 400 lines written, and two rounds more for any line too many
	wait_for 1 eval '[ "$(cat "$LOG.1" "$LOG" | wc -l)" -ge 400 ]'
	two_rounds
	check_log "$engine" "$LOG.1" "$LOG"
	# refused heads are requests too: one line each, status 400 and 431
	py_checks "$engine: " $L7 <<'PY'
import sys, socket
from l7_client import *
port = int(sys.argv[1])
rs, _ = exchange(port, b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n")
check("a bad head gets 400", [r.status for r in rs], [400])
rs, _ = exchange(port, request("/y", headers=["X-Big: " + "a" * 6000]))
check("an oversize head gets 431", [r.status for r in rs], [431])
s = connect(port); s.sendall(request("/up/cut?id=cut", method="PUT", headers=["Content-Length: 100000"]) + b"abc"); s.close()
PY
	wait_for 5 eval 'grep -q "\"status\":400" "$LOG" && grep -q "\"status\":431" "$LOG" &&
		grep -q "id=cut.*\"aborted\":true" "$LOG"'
	two_rounds
	is "$(grep -c '"status":400' "$LOG")" 1 "$engine: one line for the bad head, status 400"
	is "$(grep -c '"status":431' "$LOG")" 1 "$engine: one line for the oversize head, status 431"
	is "$(grep -c 'id=cut.*"aborted":true' "$LOG")" 1 "$engine: one line for the request cut mid-body, marked aborted"
	tandem_stop
done

# combined format, then a full disk and a read-only one
alloc_port L7; alloc_port ADM
cluster_ini "$T/c.ini" splice a=$PA:$L7:$ADM b=$PB -- "access_log = $T/combined.log"
tandem_start "$T/c.ini" a || { echo "Bail out! tandem combined"; exit 1; }
curl -s -o /dev/null -A 'agent "quoted"' -e http://r/ "http://127.0.0.1:$L7/1k?id=c1"
wait_for 5 grep -q 'id=c1' "$T/combined.log"
line=$(grep 'id=c1' "$T/combined.log")
diag "$line"
case $line in
	'127.0.0.1 - - ['*'] "GET /1k?id=c1 HTTP/1.1" 200 1024 "http://r/" "agent \"quoted\"" node='[ab]' rule=- group=all policy=rr route=policy retried=0 engine=splice class=- queue_ms='*' head_ms='*' connect_ms='*' first_byte_ms='*' total_ms='*' aborted=0')
		ok 0 "combined: the line has every field, quotes escaped";;
	*) ok 1 "combined: the line has every field, quotes escaped";;
esac
dd if=/dev/zero of="$MNT/fill" bs=4k count=100 2>/dev/null      # the tmpfs is full now
sed -i "s|^access_log = .*|access_log = $MNT/access.log|" "$T/c.ini"
kill -HUP $TANDEM_PID
wait_for 5 test -e "$MNT/access.log" || true
fails=0
for i in $(seq 300); do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$L7/16k?id=f$i")
	[ "$code" = 200 ] || fails=$((fails + 1))
done
is "$fails" 0 "full disk: 300 requests, none failed"
wait_for 5 eval '[ "$(metric tandem_access_log_write_errors_total $ADM)" -gt 0 ] 2>/dev/null'
errs=$(metric tandem_access_log_write_errors_total $ADM)
ok $([ "${errs:-0}" -gt 0 ]; echo $?) "full disk: failed writes counted ($errs)"
sed -i "s|^access_log = .*|access_log = $RO/dir/access.log|" "$T/c.ini"
kill -HUP $TANDEM_PID
# the reload done: its failed open logged
wait_for 5 grep -q 'access log: open(.*ro/dir/access.log) failed' "$T/tandem-a.log"
e0=$(metric tandem_access_log_write_errors_total $ADM)
fails=0
for i in $(seq 100); do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$L7/1k?id=r$i")
	[ "$code" = 200 ] || fails=$((fails + 1))
done
is "$fails" 0 "read-only disk: 100 requests, none failed"
wait_for 5 eval '[ "$(metric tandem_access_log_write_errors_total $ADM)" -gt "${e0:-0}" ] 2>/dev/null'
e1=$(metric tandem_access_log_write_errors_total $ADM)
ok $([ "${e1:-0}" -gt "${e0:-0}" ]; echo $?) "read-only disk: lost lines counted ($e0 -> $e1)"
grep -q 'access log: open(.*ro/dir/access.log) failed' "$T/tandem-a.log"; ok $? "read-only disk: the failed open is logged"
tandem_stop
is "$STOP_RC" 0 "SIGTERM: exit status 0"
done_testing
