#!/usr/bin/env bash
# core_slow.t: slow and idle clients. Slowloris clients (a head one byte at a
# time) and thousands of idle keep-alive connections must not hold up normal
# clients, and memory per idle connection stays small; slowloris heads end in
# 408 at client_header_timeout.
source "$(dirname "$0")/origin.sh"

make_files
origin_start be1 $((BASE + 1)) || { echo "Bail out! nginx"; exit 1; }
L7=$((BASE + 10)); ADM=$((BASE + 11))
cat > "$T/c.ini" <<CONF
[l7]
workers = 1
client_header_timeout = 3s
[node be1]
web = 127.0.0.1:$((BASE + 1))
l7 = 127.0.0.1:$L7
admin = 127.0.0.1:$ADM
CONF
tandem_start "$T/c.ini" be1 $ADM || { echo "Bail out! tandem"; exit 1; }
ulimit -n 8192 2>/dev/null

lat() { # median of 20 sequential request times, ms
	for i in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$L7/1k"; done |
		sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int(NR / 2) + 1] * 1000 }'
}
base=$(lat)
rss0=$(awk '/VmRSS/ { print $2 }' /proc/$TANDEM_PID/status)

python3 - "$L7" "$T/slow.out" <<'PY' &
import socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
idle, slow = [], []
for i in range(2000):       # one request each, answered, then idle
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /0 HTTP/1.1\r\nHost: x\r\n\r\n")
    d = b""
    while b"\r\n\r\n" not in d:
        d += s.recv(4096)
    idle.append(s)
open(out, "w").write("idle\n")
time.sleep(1)
req = b"GET /1k HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n\r\n"
for i in range(200):
    slow.append(socket.create_connection(("127.0.0.1", port)))
open(out, "a").write("ready\n")
t0 = time.time(); pos = 0; answered = 0
while time.time() - t0 < 6 and pos < len(req) - 1:
    for s in slow:
        try: s.send(req[pos:pos + 1])
        except OSError: pass
    pos += 1
    time.sleep(0.1)
for s in slow:
    s.settimeout(3)
    try:
        if s.recv(100).startswith(b"HTTP/1.1 408"): answered += 1
    except OSError: pass
open(out, "a").write("408 %d\n" % answered)
time.sleep(1)
PY
spid=$!
for _ in $(seq 600); do grep -q idle "$T/slow.out" 2>/dev/null && break; sleep 0.1; done
rss1=$(awk '/VmRSS/ { print $2 }' /proc/$TANDEM_PID/status)
for _ in $(seq 300); do grep -q ready "$T/slow.out" 2>/dev/null && break; sleep 0.1; done
# counted now: the slowloris connections get their 408 client_header_timeout later
sleep 0.2
conns=$(metric tandem_client_connections $ADM)
sleep 0.3
loaded=$(lat)
n=0; for i in $(seq 20); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$L7/1k")" = 200 ] && n=$((n + 1)); done
echo "$n 200" > "$T/normal"
wait $spid
ok $([ "$conns" -ge 2100 ] && echo 0 || echo 1) "2000 idle keep-alive and 200 slowloris connections open ($conns)"
per=$(( (rss1 - rss0) * 1024 / 2000 ))
echo "# RSS $rss0 kB -> $rss1 kB: about $per bytes per idle connection"
ok $([ $per -lt 4096 ] && echo 0 || echo 1) "memory per idle connection stays small ($per bytes < 4 KiB)"
# a figure, not a check: timings on a shared 2-core box are noise-prone
echo "# normal client median latency: $base ms alone, $loaded ms beside 2000 idle and 200 slowloris"
is "$(cat "$T/normal")" "20 200" "normal clients are all served while slowloris clients hang on"
is "$(awk '/^408/ { print $2 }' "$T/slow.out")" 200 "every slowloris head got 408 at client_header_timeout"

done_testing
