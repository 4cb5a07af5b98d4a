#!/usr/bin/env bash
# core_hostile.t: what tandem l7 does with bad input and failures around it.
# Malformed and smuggling requests get 400 with nothing reaching an origin;
# limits (431, 413 read whole even by a client that sends its refused body
# before reading, 408); a refused origin (retry or 502); a silent origin
# (504); a client gone mid-response; an origin killed mid-response (the
# client sees a closed connection and a short body, never a complete-looking
# one); graceful drain, reloads and binary upgrades under load with no
# failed request.
source "$(dirname "$0")/origin.sh"

make_files
origin_start be1 $((BASE + 1)) || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $((BASE + 2)) || { echo "Bail out! nginx be2"; exit 1; }
L7=$((BASE + 10)); ADM=$((BASE + 11))
U=http://127.0.0.1:$L7

# a port that refuses, and a listener that accepts and never answers
REFUSED=$((BASE + 40)); SILENT=$((BASE + 41))
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $SILENT)); s.listen(64)
conns = []
t = time.time()
while time.time() - t < 120:
    c, _ = s.accept(); conns.append(c)
" &
PIDS+=($!)

cat > "$T/c.ini" <<CONF
[cluster]
relay = splice
[l7]
workers = 1
max_head = 4k
max_headers = 20
client_header_timeout = 1s
server_timeout = 1s
connect_timeout = 1s
client_max_body = 1m
[node be1]
web = 127.0.0.1:$((BASE + 1))
l7 = 127.0.0.1:$L7
admin = 127.0.0.1:$ADM
[node be2]
web = 127.0.0.1:$((BASE + 2))
CONF
tandem_start "$T/c.ini" be1 $ADM || { echo "Bail out! tandem"; exit 1; }

# ---- malformed requests: 400, and not one byte reaches an origin
before=$(access_lines)
python3 - "$L7" > "$T/bad.out" <<'PY'
import socket, sys
port = int(sys.argv[1])
H = b"Host: x\r\n"
cases = [
 ("CL with TE", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
 ("TE with CL", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
 ("conflicting CL", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
 ("signed CL", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello"),
 ("TE gzip, chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
 ("TE chunked twice", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
 ("space before colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
 ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n"),
 ("bare LF", b"GET / HTTP/1.1\n" + H + b"\r\n"),
 ("bare CR", b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"),
 ("NUL", b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n"),
 ("bad name byte", b"GET / HTTP/1.1\r\n" + H + b"X(a): y\r\n\r\n"),
 ("no Host", b"GET / HTTP/1.1\r\n\r\n"),
 ("two Host", b"GET / HTTP/1.1\r\n" + H + b"Host: y\r\n\r\n"),
 ("HTTP/1.2", b"GET / HTTP/1.2\r\n" + H + b"\r\n"),
 ("HTTP/2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n"),
 ("chunk 0x", b"POST /up/z HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
 ("chunk sign", b"POST /up/z HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
 ("chunk overflow", b"POST /up/z HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
 ("chunk space", b"POST /up/z HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"),
 ("chunk CRLF missing", b"POST /up/z HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
 ("smuggled after valid", b"GET /1k HTTP/1.1\r\n" + H + b"\r\nGET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
]
for name, req in cases:
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
    s.sendall(req)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            data += d
    except Exception as e:
        data += b" TIMEOUT"
    import re
    statuses = [m.decode() for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    closed = not data.endswith(b" TIMEOUT")
    print("%s|%s|%s" % (name, ",".join(statuses), "closed" if closed else "open"))
PY
while IFS='|' read -r name st cl; do
	want=400; [ "$name" = "smuggled after valid" ] && want=200,400
	is "$st $cl" "$want closed" "malformed: $name -> $want and close"
done < "$T/bad.out"
after=$(access_lines)
is "$after" $((before + 1)) "malformed: nothing reached an origin (only the one valid request)"
n=$(metric 'tandem_local_responses_total{code="400"}' $ADM)
is "$n" 22 "metrics count the 400s"

# ---- limits
big=$(head -c 5000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$U/1k")
is "$code" 431 "head over max_head: 431"
hdrs=(); for i in $(seq 25); do hdrs+=(-H "X-H$i: v"); done
code=$(curl -s -o /dev/null -w '%{http_code}' "${hdrs[@]}" "$U/1k")
is "$code" 431 "more than max_headers: 431"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Expect:' --data-binary @"$T/www/4m" "$U/up/big")
is "$code" 413 "body over client_max_body: 413"
# a client that sends its whole body before it reads: tandem drains what it
# refused while the client sends, so the 413 is read, never lost to a reset
cat > "$T/bigpost.py" <<'PY'
import socket, sys, time
from l7_client import connect, Reader
s = connect(sys.argv[1])
n, piece, pause = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s.sendall(b"POST /up/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n)
chunk = b"a" * piece
try:
    for i in range(n // len(chunk)):
        s.sendall(chunk)
        time.sleep(pause)
    s.shutdown(socket.SHUT_WR)
except OSError as e:
    print("send:", e.strerror); sys.exit()
rd = Reader(s)
data = rd.rest()
print("recv: reset" if rd.reset else data.split(b"\r\n")[0].decode())
PY
r=$(PYTHONPATH="$(dirname "$0")" python3 "$T/bigpost.py" $L7 $((16 << 20)) 65536 0)
is "$r" "HTTP/1.1 413 Content Too Large" "16 MiB over client_max_body, sent whole before reading: 413, not a reset"
# a slow one: 4 pieces 0.9 s apart, past the 2 s a silent client is given
r=$(PYTHONPATH="$(dirname "$0")" python3 "$T/bigpost.py" $L7 $((2 << 20)) $((512 << 10)) 0.9)
is "$r" "HTTP/1.1 413 Content Too Large" "a body over client_max_body sent slowly: 413, not a reset"
st=$(python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $L7)); s.settimeout(5)
s.sendall(b'GET /1k HTTP/1.1\r\nHo'); t = time.time()
d = s.recv(100); print(d.split(b' ')[1].decode(), int(time.time() - t + 0.5))")
is "$st" "408 1" "head not finished within client_header_timeout: 408 after 1 s"

# ---- a node that refuses: GET retried elsewhere, POST gets 502
cat > "$T/r.ini" <<CONF
[l7]
workers = 1
connect_timeout = 1s
server_timeout = 1s
[node be1]
web = 127.0.0.1:$REFUSED
l7 = 127.0.0.1:$((BASE + 20))
admin = 127.0.0.1:$((BASE + 21))
[node be2]
web = 127.0.0.1:$((BASE + 2))
[node dead]
web = 127.0.0.1:$SILENT
weight = 0
CONF
tandem_start "$T/r.ini" be1 $((BASE + 21)) || { echo "Bail out! tandem r"; exit 1; }
R=http://127.0.0.1:$((BASE + 20))
codes=$(for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' "$R/1k"; done)
is "$codes" "200 200 200 200 " "GET to a refusing node is retried on another"
codes=$(for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' -X POST --data x "$R/up/p$i"; done)
ok $(echo "$codes" | grep -q 502 && echo 0 || echo 1) "POST to a refusing node: 502, never a hang ($codes)"
n=$(metric 'tandem_retries_total' $((BASE + 21)))
ok $([ "${n:-0}" -ge 2 ] && echo 0 || echo 1) "retries counted ($n)"

# ---- an origin that accepts and never answers: 504 after server_timeout
cat > "$T/s.ini" <<CONF
[l7]
workers = 1
server_timeout = 1s
[node be1]
web = 127.0.0.1:$SILENT
l7 = 127.0.0.1:$((BASE + 25))
admin = 127.0.0.1:$((BASE + 26))
CONF
tandem_start "$T/s.ini" be1 $((BASE + 26)) || { echo "Bail out! tandem s"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$((BASE + 25))/1k")
is "$code" 504 "silent origin: 504"

# ---- a client that goes away mid-response; the switch goes on
for i in 1 2 3; do curl -s -o /dev/null --max-time 0.05 --limit-rate 50M "$U/64m"; done
curl -s -o "$T/after" "$U/4m"
cmp -s "$T/after" "$T/www/4m"; ok $? "after clients left mid-response, a new request is served whole"
n=$(metric 'tandem_client_connections' $ADM)
is "$n" 0 "no client connection left behind"

# ---- an origin killed mid-response: short body, closed connection
curl -s -o "$T/cut" --limit-rate 5M "$U/64m" &   # 13 s for the body: the kill comes well inside it
cpid=$!
sleep 1
origin_kill be1; origin_kill be2
wait $cpid; rc=$?
is "$rc" 18 "origin killed mid-body: curl sees a partial transfer (exit 18), not a complete response"
size=$(stat -c %s "$T/cut")
ok $([ "$size" -lt 67108864 ] && echo 0 || echo 1) "the body is short ($size bytes), the connection closed"
n=$(metric 'tandem_aborted_total' $ADM)
ok $([ "${n:-0}" -ge 1 ] && echo 0 || echo 1) "aborted exchanges counted ($n)"

# ---- reloads, binary upgrades and a drain under load, with no failed request
origin_start be1 $((BASE + 1)); origin_start be2 $((BASE + 2))
if command -v wrk >/dev/null; then
	wrk -t1 -c8 -d8s "$U/1k" > "$T/wrk1" 2>&1 &
	wpid=$!
	for i in $(seq 10); do sleep 0.3; kill -HUP $TANDEM_PID 2>/dev/null; done
	# a burst: reloads faster than the workers take them (each takes the
	# newest at its next loop turn), so replaced configurations pile up
	for i in $(seq 40); do kill -HUP $TANDEM_PID 2>/dev/null; sleep 0.01; done
	sleep 0.3
	kill -0 $TANDEM_PID 2>/dev/null; ok $? "40 reloads 10 ms apart under load: still running"
	# three binary upgrades: each new process takes the listeners
	for i in 1 2 3; do
		"$TANDEM" l7 -c "$T/c.ini" --node be1 --takeover >> "$T/tk.log" 2>&1 &
		PIDS+=($!)
		sleep 1
	done
	wait $wpid
	errs=$(grep -E 'Socket errors|Non-2xx' "$T/wrk1")
	reqs=$(awk '/requests in/ { print $1 }' "$T/wrk1")
	is "${errs:-none}" none "50 reloads and 3 binary upgrades during wrk: no error ($reqs requests)"
	ok $([ "${reqs:-0}" -gt 1000 ] && echo 0 || echo 1) "the load went on ($reqs requests)"
	live=0
	for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && live=$((live + 1)); done
	code=$(curl -s -o /dev/null -w '%{http_code}' "$U/1k")
	is "$code" 200 "the last process serves"
else
	skip_all "wrk missing"
fi

# SIGTERM drains: a transfer in flight completes, the process exits
last=${PIDS[-1]}
curl -s -o "$T/drain" --limit-rate 40M "$U/64m" &
cpid=$!
sleep 0.3
kill -TERM $last
wait $cpid; rc=$?
is "$rc" 0 "SIGTERM: the response in flight completes"
cmp -s "$T/drain" "$T/www/64m"; ok $? "SIGTERM: and it is whole"
for _ in $(seq 50); do kill -0 $last 2>/dev/null || break; sleep 0.1; done
kill -0 $last 2>/dev/null; ok $((! $?)) "SIGTERM: the process exits after the drain"

done_testing
