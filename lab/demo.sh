#!/bin/bash
# demo.sh: the main job of `make demo`. Brings up a 4-node emulated cluster
# (lab/lab.sh cluster 4 two-level): tandem l4 (direct routing; tc on the
# lab's veths) on the front end, tandem l7 + nginx on every back end,
# /images/ served by be1 and be2 only, everything else by all four. Runs a
# bounded load through the VIP for DEMO_SECONDS (20) from the client host
# with wrk, prints a table per node every 2 s, then tears everything down
# and prints a summary.
# Builds nothing (make did). Without root: the loopback demo
# (scripts/demo.sh) instead.
# Environment: DEMO_SECONDS (20), DEMO_CONNS (32), DEMO_CPU_BE (percent of a
# core per back end, 20), TANDEM (the binary, default build/tandem).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LAB=$HERE/lab.sh
SECS=${DEMO_SECONDS:-20}
CONNS=${DEMO_CONNS:-32}
CPU_BE=${DEMO_CPU_BE:-20}
N=4
VIP=198.18.0.100
export LAB_PREFIX=${LAB_PREFIX:-demo$$}
export LAB_STATE=/tmp/tandem-lab-$LAB_PREFIX
export LAB_TANDEM=${TANDEM:-$ROOT/build/tandem}
export LAB_IMAGES="be1 be2"

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: the cluster demo needs root (network namespaces, cgroups, XDP)."
	if [ -x "$ROOT/scripts/demo.sh" ]; then
		echo "demo: running the loopback demo instead (scripts/demo.sh)"
		exec "$ROOT/scripts/demo.sh"
	fi
	echo "demo: the loopback demo (scripts/demo.sh) does not exist yet: nothing to run" >&2
	exit 1
fi
for t in wrk nginx curl; do
	command -v "$t" >/dev/null || { echo "demo: $t not found: run scripts/deps.sh" >&2; exit 1; }
done
[ -x "$LAB_TANDEM" ] || { echo "demo: no tandem binary at $LAB_TANDEM: run make" >&2; exit 1; }

TMP=$(mktemp -d /tmp/tandem-demo.XXXXXX)
WRK_PID=
cleanup() {
	if [ -n "$WRK_PID" ]; then
		kill "$WRK_PID" 2>/dev/null
		wait "$WRK_PID" 2>/dev/null
	fi
	"$LAB" down >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "demo: building a $N-node cluster in network namespaces (back ends $CPU_BE% of a core each)"
"$LAB" cluster "$N" two-level --cpu-be "$CPU_BE" >"$TMP/lab.log" 2>&1 ||
	{ sed 's/^/  /' "$TMP/lab.log" >&2; echo "demo: the cluster did not come up" >&2; exit 1; }
sed 's/^/  /' "$TMP/lab.log"
RULES=$(cat "$LAB_STATE/rules" 2>/dev/null || echo 0)
if [ "$RULES" = 1 ]; then
	rules="/images/ -> be1 be2 (chash); everything else -> all four (rr)"
else
	rules="no content rules in this build of tandem: every request round-robin over all four"
fi
echo
echo "   client 198.18.0.2 --wrk--> VIP $VIP:80"
echo "                                |"
echo "                 fe 198.18.0.1: tandem l4 (XDP, Maglev, direct routing)"
echo "          +----------+----------+----------+"
echo "         be1        be2        be3        be4     each: tandem l7 :80 + nginx :8080"
echo "   $rules"
echo

# Per node: connections its L7 switch accepted from the L4 level (acc),
# requests it parsed and forwarded (fwd), requests sent to it as a web
# server summed over all L7 switches (to), and nginx's own count (web).
snapshot() { # FILE
	local i m
	for i in $(seq 1 "$N"); do
		m=$("$LAB" exec "be$i" curl -s -m 1 http://127.0.0.1:9301/metrics)
		awk -v h="be$i" '
			$1 == "tandem_accepted_total" { print h, "acc", $2 }
			$1 ~ /^tandem_requests_total\{/ { split($1, a, "\""); fwd += $2; to[a[2]] += $2 }
			END { print h, "fwd", fwd + 0; for (n in to) print n, "to", to[n] }' <<<"$m"
		"$LAB" exec "be$i" curl -s -m 1 http://127.0.0.1:8081/nginx_status |
			awk -v h="be$i" 'NR == 3 { print h, "web", $3 }'
	done | awk '{ v[$1 " " $2] += $3 } END { for (k in v) print k, v[k] }' | sort >"$1"
}
val() { awk -v k="$2 $3" '$1 " " $2 == k { print $3 + 0; f = 1 } END { if (!f) print 0 }' "$1"; }

echo "demo: wrk -t2 -c$CONNS -d${SECS}s from the client, keep-alive, a mix of /,"
echo "      /static/*.css (1 KiB) and /images/*.jpg (4-32 KiB)"
snapshot "$TMP/s0"
cp "$TMP/s0" "$TMP/first"
polls=0
"$LAB" exec client timeout $((SECS + 30)) wrk -t2 -c"$CONNS" -d"${SECS}s" --latency \
	-s "$HERE/mix.lua" "http://$VIP/" >"$TMP/wrk.out" 2>&1 &
WRK_PID=$!
start=$(date +%s%N)
t0=$start
printf '\n%6s | %-35s | %-35s\n' "" "L4 -> L7 switch: req/s it parsed" "L7 -> web server: req/s served"
printf '%6s | %8s %8s %8s %8s | %8s %8s %8s %8s\n' time be1 be2 be3 be4 be1 be2 be3 be4
while kill -0 "$WRK_PID" 2>/dev/null; do
	sleep 2
	snapshot "$TMP/s1"
	polls=$((polls + 1))
	t1=$(date +%s%N)
	dt=$(( (t1 - t0) / 1000000 ))
	[ "$dt" -gt 0 ] || dt=1
	line=$(printf '%5ss |' "$(( (t1 - start) / 1000000000 ))")
	for kind in fwd web; do
		for i in $(seq 1 "$N"); do
			d=$(( $(val "$TMP/s1" "be$i" $kind) - $(val "$TMP/s0" "be$i" $kind) ))
			# stub_status counts our own polls: one per snapshot
			[ "$kind" = web ] && d=$((d - 1))
			line="$line$(printf ' %8d' $(( d * 1000 / dt )))"
		done
		[ "$kind" = fwd ] && line="$line |"
	done
	echo "$line"
	mv "$TMP/s1" "$TMP/s0"
	t0=$t1
done
wait "$WRK_PID"
WRK_PID=
snapshot "$TMP/last"
polls=$((polls + 1))

echo
echo "demo: summary"
grep -E 'Requests/sec|requests in|Socket errors|Non-2xx|^ +99%|Latency  ' "$TMP/wrk.out" |
	sed 's/^ */  wrk: /'
printf '  %-5s %14s %14s %14s %14s\n' node "connections" "req parsed" "req routed to" "web served"
for i in $(seq 1 "$N"); do
	printf '  %-5s %14d %14d %14d %14d\n' "be$i" \
		$(( $(val "$TMP/last" "be$i" acc) - $(val "$TMP/first" "be$i" acc) )) \
		$(( $(val "$TMP/last" "be$i" fwd) - $(val "$TMP/first" "be$i" fwd) )) \
		$(( $(val "$TMP/last" "be$i" to) - $(val "$TMP/first" "be$i" to) )) \
		$(( $(val "$TMP/last" "be$i" web) - $(val "$TMP/first" "be$i" web) - polls ))
done
echo "  connections: spread by tandem l4 (Maglev, XDP or tc) over the four L7 switches"
echo "  (wrk's $CONNS, plus tandem l4's health checks, two a second per node);"
if [ "$RULES" = 1 ]; then
	echo "  routed to: /images/ only to be1 and be2, the rest to all four, whichever"
	echo "  node's L7 switch parsed the request."
else
	echo "  routed to: round-robin over all four from every L7 switch."
fi
"$LAB" exec fe curl -s -m 1 http://127.0.0.1:9300/metrics |
	awk '$1 ~ /tandem_l4_packets_total\{outcome="(tx_dr|flow_new)"\}/ { print "  fe: " $1, $2 }'
"$LAB" down >/dev/null 2>&1 && echo "demo: cluster torn down, nothing left"
