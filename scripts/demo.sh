#!/usr/bin/env bash
# demo.sh: the loopback demo (what `make demo` runs without root): two real
# nginx origins, each behind its node's `tandem l7`, under a bounded wrk load
# spread over both L7 switches. Every request is routed on its own, so each
# switch sends its requests to both origins. Prints a per-node table every
# 2 s and a summary, then ends every process it started (by PID).
#   DEMO_SECONDS=15 DEMO_CONNS=16 scripts/demo.sh
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TANDEM=${TANDEM:-$ROOT/build/tandem}
SECS=${DEMO_SECONDS:-15}
CONNS=${DEMO_CONNS:-16}
for t in nginx wrk curl; do
	command -v $t >/dev/null || { echo "demo: $t not found: run scripts/deps.sh" >&2; exit 1; }
done
[ -x "$TANDEM" ] || { echo "demo: no tandem binary at $TANDEM: run make" >&2; exit 1; }

T=$(mktemp -d /tmp/tandem-demo.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

B=$((24000 + $$ % 400 * 10))
mkdir -p "$T/www/images"
head -c 1024 /dev/urandom > "$T/www/index.html"
head -c 16384 /dev/urandom > "$T/www/images/a.png"
chmod -R a+rX "$T/www"
for i in 1 2; do
	d=$T/be$i; mkdir -p "$d"
	cat > "$d/nginx.conf" <<CONF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 1024; }
http {
  access_log $d/access.log;
  sendfile on;
  keepalive_requests 10000000;
  client_body_temp_path $d/cb; proxy_temp_path $d/px; fastcgi_temp_path $d/fc;
  uwsgi_temp_path $d/uw; scgi_temp_path $d/sc;
  server { listen 127.0.0.1:$((B + i)); root $T/www; add_header X-Origin be$i; }
}
CONF
	nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" || exit 1
	for _ in $(seq 50); do [ -s "$d/nginx.pid" ] && break; sleep 0.05; done
	m=$(cat "$d/nginx.pid")
	# the master and, by parent PID, its worker: both ended on exit
	PIDS+=($m $(pgrep -P "$m"))
done
cat > "$T/cluster.ini" <<CONF
[cluster]
relay = splice
[l7]
workers = 1
[node be1]
web = 127.0.0.1:$((B + 1))
l7 = 127.0.0.1:$((B + 3))
admin = 127.0.0.1:$((B + 5))
[node be2]
web = 127.0.0.1:$((B + 2))
l7 = 127.0.0.1:$((B + 4))
admin = 127.0.0.1:$((B + 6))
CONF
"$TANDEM" -t -c "$T/cluster.ini" || exit 1
for i in 1 2; do
	"$TANDEM" l7 -c "$T/cluster.ini" --node be$i 2> "$T/l7-be$i.log" &
	PIDS+=($!)
done
for i in 1 2; do   # wait until both switches answer, at most 5 s
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$((B + 4 + i))/metrics" && break; sleep 0.1; done
done

took() { curl -s "http://127.0.0.1:$((B + 4 + $1))/metrics" | awk '$1 ~ /^tandem_requests_total/ { s += $2 } END { print s + 0 }'; }
served() { wc -l < "$T/be$1/access.log"; }

echo "demo: 2 nodes on loopback, each an nginx + tandem l7; wrk with $CONNS keep-alive connections for ${SECS}s"
echo "      (no root: this is the loopback form of the demo; as root, make demo runs the 4-node cluster)"
for i in 1 2; do
	wrk -t1 -c$((CONNS / 2)) -d${SECS}s "http://127.0.0.1:$((B + 2 + i))/" > "$T/wrk$i.out" 2>&1 &
	PIDS+=($!)
	WRK[$i]=$!
done
printf '%6s | %-22s | %-22s\n' "t (s)" "L7 switch took (req/s)" "web server served (req/s)"
printf '%6s | %10s %10s  | %10s %10s\n' "" be1 be2 be1 be2
pt1=0; pt2=0; ps1=0; ps2=0
for ((s = 2; s <= SECS; s += 2)); do
	sleep 2
	t1=$(took 1); t2=$(took 2); s1=$(served 1); s2=$(served 2)
	printf '%6d | %10d %10d  | %10d %10d\n' $s $(((t1 - pt1) / 2)) $(((t2 - pt2) / 2)) $(((s1 - ps1) / 2)) $(((s2 - ps2) / 2))
	pt1=$t1; pt2=$t2; ps1=$s1; ps2=$s2
done
wait ${WRK[1]} ${WRK[2]}
sleep 0.3
total=0; errs=0
for i in 1 2; do
	r=$(awk '/^Requests\/sec/ { printf "%d", $2 }' "$T/wrk$i.out")
	total=$((total + ${r:-0}))
	grep -qE 'Socket errors|Non-2xx' "$T/wrk$i.out" && errs=1
done
echo
echo "summary: $total req/s through the two L7 switches"
echo "  requests routed by each switch: be1 $(took 1), be2 $(took 2)"
echo "  requests served by each nginx:  be1 $(served 1), be2 $(served 2)"
for i in 1 2; do
	curl -s "http://127.0.0.1:$((B + 4 + i))/metrics" | awk -v n=be$i '$1 ~ /^tandem_requests_total/ && $2 > 0 { sub(/tandem_requests_total/, ""); printf "  switch %s -> %s %s\n", n, $1, $2 }'
done
bad=0
for i in 1 2; do   # non-2xx forwarded, and responses tandem made itself (400, 502, ...)
	n=$(curl -s "http://127.0.0.1:$((B + 4 + i))/metrics" |
		awk '($1 ~ /^tandem_requests_total/ && $1 !~ /code="2xx"/) || $1 ~ /^tandem_local_responses_total/ { s += $2 } END { print s + 0 }')
	bad=$((bad + n))
done
echo "  non-2xx or locally made responses in /metrics: $bad"
[ $errs = 0 ] && echo "  no socket error, no non-2xx response" || { echo "  wrk reported errors:"; grep -hE 'Socket errors|Non-2xx' "$T"/wrk*.out; }
