#!/usr/bin/env bash
# bench/relay: req/s, p99 and proxy CPU of tandem l7 (copy, splice, sockmap
# and packet engines) against HAProxy (splice-response) and nginx directly, for
# 1 KiB .. 4 MiB bodies over keep-alive connections, side by side in one run.
# Pinning as in ../shared/BASELINE.md: the client on CPU 0, the proxy and the
# origin together on CPU 1, so the ratio to direct shows the proxy's own cost.
# Writes bench/results/relay.csv (median of REPS runs per point), relay.runs.csv
# (every run) and relay.png/svg.
# relay.runs.csv also has the origin's CPU per request, wrk's error count and
# the load average, since other jobs may share the machine.
# CPU per GB counts what a relay costs wherever it runs: the proxy's threads,
# plus CPU 1's softirq time (/proc/stat) and its kworkers (the sockmap
# engine's psock backlog sends from a workqueue), per GB of bodies; and CPU 1's
# whole busy time per GB (proxy, origin and every kernel path on that CPU:
# the packet engine's tc programs run in softirq and in the origin's sends);
# and the whole box's busy time per GB (both CPUs: client, proxy, origin and
# every kernel path wherever it ran: the client's ACKs are processed, and
# for the packet engine translated, in softirq on the client's CPU 0), with
# in relay.csv what that adds over direct at the same size (box_over_direct).
#   DUR=10 REPS=3 CONNS=32 SIZES="1k 16k 256k 4m" TARGETS="direct tandem-copy
#   tandem-splice tandem-sockmap tandem-packet haproxy" MAX_SECONDS=600 bench/relay/run.sh
# Quick look: DUR=2 REPS=1 bench/relay/run.sh (about 1 min).
# PERF="TARGET:SIZE ..." (e.g. "tandem-packet:4m") records a system-wide perf
# profile of those points' first run: relay.perf-TARGET-SIZE.txt in OUT.
# Before and after a change, in one run: TANDEM_BASE=/path/to/old/tandem adds
# the targets base-copy, base-splice, base-sockmap and base-packet (the old
# binary's engines), to list in TARGETS beside the tandem-* ones.
# TOPO=netns: the client, the proxies and the origin each in a network
# namespace of their own, joined by two veth pairs (198.18.70.0/24 client -
# node, 198.18.71.0/24 node - origin; the node routes, so direct goes
# through it), as the L7 switch meets its clients and web servers on other
# hosts: MSS 1460 instead of loopback's 65,483, and the packet engine's
# programs on the node's two veths. Pinning and CPU counting as on lo.
# Writes relay_netns.csv, .runs.csv, .png and .svg (TOPO=lo, the default:
# relay.*).
# CC=cubic (TOPO=netns only): the TCP congestion control of every namespace
# (client, node, origin), set per namespace, the host's left alone; results
# in relay_netns_cubic.* beside the default's. Unset, the namespaces get the
# host's default (printed at the start): with bbr and no fq qdisc every
# sender paces with a per-socket hrtimer, costly on a paravirtualised guest.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TANDEM=${TANDEM:-$ROOT/build/tandem}
TANDEM_BASE=${TANDEM_BASE:-}
DUR=${DUR:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-32}
SIZES=${SIZES:-"1k 16k 256k 4m"}
TARGETS=${TARGETS:-"direct tandem-copy tandem-splice tandem-sockmap tandem-packet haproxy"}
MAX_SECONDS=${MAX_SECONDS:-600}   # refuse a plan longer than this
OUT=${OUT:-$ROOT/bench/results}   # where the CSV and plots go
TOPO=${TOPO:-lo}
case $TOPO in lo) NAME=relay;; netns) NAME=relay_netns;; *) echo "bench/relay: TOPO is lo or netns, not $TOPO" >&2; exit 1;; esac
CC=${CC:-}
if [ -n "$CC" ]; then
	[ "$TOPO" = netns ] || { echo "bench/relay: CC needs TOPO=netns (on lo it would change the host's setting)" >&2; exit 1; }
	[[ " $(sysctl -n net.ipv4.tcp_available_congestion_control) " == *" $CC "* ]] ||
		{ echo "bench/relay: congestion control $CC is not available here ($(sysctl -n net.ipv4.tcp_available_congestion_control))" >&2; exit 1; }
	NAME=${NAME}_$CC
fi
mkdir -p "$OUT"
for t in wrk nginx haproxy taskset gnuplot; do
	command -v $t >/dev/null || { echo "bench/relay: $t is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
[ -x "$TANDEM" ] || { echo "bench/relay: build tandem first (make)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench/relay: needs 2 CPUs for the pinning" >&2; exit 1; }

T=$(mktemp -d /tmp/tandem-bench.XXXXXX)
chmod 755 "$T"
source "$ROOT/bench/lib.sh"

# Where each part runs: NS_C (client), NS_N (proxies), NS_S (origin), each
# empty on lo; ADDR_P the proxies' address, ADDR_O the origin's.
NS_C=""; NS_N=""; NS_S=""; ADDR_P=127.0.0.1; ADDR_O=127.0.0.1; IFACES=lo
if [ "$TOPO" = netns ]; then
	NS_C=tbc$$; NS_N=tbn$$; NS_S=tbs$$; ADDR_P=198.18.70.1; ADDR_O=198.18.71.2; IFACES="vc vs"
	trap 'bench_cleanup; for n in $NS_C $NS_N $NS_S; do ip netns del $n 2>/dev/null || true; done' EXIT
	for n in $NS_C $NS_N $NS_S; do ip netns add $n; ip -n $n link set lo up; done
	ip link add eth0 netns $NS_C type veth peer name vc netns $NS_N
	ip link add eth0 netns $NS_S type veth peer name vs netns $NS_N
	ip -n $NS_C addr add 198.18.70.2/24 dev eth0
	ip -n $NS_S addr add $ADDR_O/24 dev eth0
	ip -n $NS_N addr add $ADDR_P/24 dev vc
	ip -n $NS_N addr add 198.18.71.1/24 dev vs
	for l in "$NS_C eth0" "$NS_S eth0" "$NS_N vc" "$NS_N vs"; do ip -n ${l% *} link set ${l#* } up; done
	ip -n $NS_C route add default via $ADDR_P
	ip -n $NS_S route add default via 198.18.71.1
	ip netns exec $NS_N sysctl -qw net.ipv4.ip_forward=1
	if [ -n "$CC" ]; then
		for n in $NS_C $NS_N $NS_S; do ip netns exec $n sysctl -qw net.ipv4.tcp_congestion_control=$CC; done
	fi
fi
echo "bench/relay: TCP congestion control $(${NS_N:+ip netns exec $NS_N} sysctl -n net.ipv4.tcp_congestion_control)${CC:+ (CC)}, default qdisc $(sysctl -n net.core.default_qdisc)"
# command prefixes: in the client's, node's or origin's namespace (lo:
# none); ip netns exec execs its command, so a background one's $! is the
# program's own PID
IN_C=(); IN_N=()
[ -n "$NS_C" ] && IN_C=(ip netns exec "$NS_C") && IN_N=(ip netns exec "$NS_N")

P=$((30000 + $$ % 250 * 10))   # below the ephemeral range (32768+)
ORIGIN=$P; TCOPY=$((P + 1)); TSPLICE=$((P + 2)); HAP=$((P + 3)); TSOCKMAP=$((P + 4)); TPACKET=$((P + 8))
BCOPY=$((P + 5)); BSPLICE=$((P + 6)); BSOCKMAP=$((P + 7)); BPACKET=$((P + 9))   # TANDEM_BASE's

mkdir -p "$T/www"
for s in $SIZES; do
	case $s in *k) n=$(( ${s%k} * 1024 ));; *m) n=$(( ${s%m} * 1048576 ));; *) n=$s;; esac
	head -c "$n" /dev/urandom > "$T/www/$s"
done
chmod -R a+rX "$T/www"

ORIGIN_ADDR=$ADDR_O ORIGIN_NS=$NS_S bench_origin $ORIGIN

start_tandem() { # BINARY PREFIX ENGINE PORT: one tandem l7 with that engine
	local bin=$1 pre=$2 eng=$3 port=$4
	cat > "$T/$pre$eng.ini" <<CONF
[cluster]
relay = $eng
[l7]
workers = 1
splice_ifaces = $IFACES
[node o]
web = $ADDR_O:$ORIGIN
l7 = $ADDR_P:$port
CONF
	"${IN_N[@]}" taskset -c 1 "$bin" l7 -c "$T/$pre$eng.ini" --node o 2> "$T/$pre$eng.log" &
	PIDS+=($!)
	eval "PID_${pre}$eng=$!"
}
start_tandem "$TANDEM" tandem_ copy $TCOPY
start_tandem "$TANDEM" tandem_ splice $TSPLICE
start_tandem "$TANDEM" tandem_ sockmap $TSOCKMAP
# The packet engine's tc programs see every packet on lo, every other
# target's too: it runs only for its own points (pk_up before, pk_down
# after), so no other figure pays for its programs. TANDEM_BASE's
# packet engine (base-packet) likewise, never beside tandem-packet's.
pk_up() { # [base]
	local bin=$TANDEM pre=tandem_ port=$TPACKET
	[ "${1:-}" = base ] && { bin=$TANDEM_BASE; pre=base_; port=$BPACKET; }
	start_tandem "$bin" $pre packet $port
	for _ in $(seq 50); do
		"${IN_C[@]}" curl -s -o /dev/null --max-time 1 "http://$ADDR_P:$port/" && return 0
		sleep 0.1
	done
	echo "bench/relay: ${pre}packet did not come up: $(tail -3 "$T/${pre}packet.log")" >&2
	exit 1
}
pk_down() { # [base]
	local pid=$PID_tandem_packet
	[ "${1:-}" = base ] && pid=$PID_base_packet
	kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
}
pk_up
if [ -n "$TANDEM_BASE" ]; then
	[ -x "$TANDEM_BASE" ] || { echo "bench/relay: no binary at TANDEM_BASE=$TANDEM_BASE" >&2; exit 1; }
	start_tandem "$TANDEM_BASE" base_ copy $BCOPY
	start_tandem "$TANDEM_BASE" base_ splice $BSPLICE
	start_tandem "$TANDEM_BASE" base_ sockmap $BSOCKMAP
	[[ " $TARGETS " == *" base-packet "* ]] && pk_up base
fi
sleep 0.3
grep -q 'relay sockmap' "$T/tandem_sockmap.log" ||
	echo "bench/relay: the sockmap engine is not available here, tandem-sockmap runs splice: $(grep -o 'relay .*' "$T/tandem_sockmap.log" | head -1)" >&2
grep -q 'relay packet: tc programs' "$T/tandem_packet.log" ||
	echo "bench/relay: packet splicing is not available here, tandem-packet runs splice: $(grep -o 'relay .*' "$T/tandem_packet.log" | head -1)" >&2
cat > "$T/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend f
  bind $ADDR_P:$HAP
  default_backend b
backend b
  option splice-response
  server o $ADDR_O:$ORIGIN
CONF
"${IN_N[@]}" taskset -c 1 haproxy -f "$T/haproxy.cfg" -db 2> "$T/haproxy.log" &
PIDS+=($!)
PID_haproxy=$!
sleep 0.5

addr_of() { [ "$1" = direct ] && echo $ADDR_O || echo $ADDR_P; }
port_of() { case $1 in direct) echo $ORIGIN;; tandem-copy) echo $TCOPY;; tandem-splice) echo $TSPLICE;; tandem-sockmap) echo $TSOCKMAP;; tandem-packet) echo $TPACKET;; haproxy) echo $HAP;;
	base-copy) echo $BCOPY;; base-splice) echo $BSPLICE;; base-sockmap) echo $BSOCKMAP;; base-packet) echo $BPACKET;; esac; }
pid_of() { case $1 in direct) echo "";; tandem-copy) echo $PID_tandem_copy;; tandem-splice) echo $PID_tandem_splice;; tandem-sockmap) echo $PID_tandem_sockmap;; tandem-packet) echo $PID_tandem_packet;; haproxy) echo $PID_haproxy;;
	base-copy) echo $PID_base_copy;; base-splice) echo $PID_base_splice;; base-sockmap) echo $PID_base_sockmap;; base-packet) echo $PID_base_packet;; esac; }

# CPU time of CPU 1's kworker threads in ns: the workqueue that runs the
# sockmap engine's psock backlog (other kernel work there is counted too)
kworker1_ns() {
	local f t s=0
	for f in $(grep -l '^kworker/1:' /proc/[0-9]*/task/[0-9]*/comm 2>/dev/null); do
		read -r t _ < "${f%comm}schedstat" 2>/dev/null && s=$((s + t))
	done
	echo $s
}

# Every target must serve every body byte-identical before it is measured:
# a proxy that answers fast but wrong must not make a figure.
for t in $TARGETS; do
	for s in $SIZES; do
		got=$("${IN_C[@]}" curl -s --max-time 20 "http://$(addr_of $t):$(port_of $t)/$s" | sha256sum | cut -c1-64)
		want=$(sha256sum < "$T/www/$s" | cut -c1-64)
		[ "$got" = "$want" ] || { echo "bench/relay: $t serves /$s wrong (sha256 $got, file $want); log:" >&2;
			tail -5 "$T/$(echo "$t" | tr - _).log" >&2 2>/dev/null; exit 1; }
	done
done
echo "bench/relay: every target serves every size byte-identical (sha256)"
pk_down
[[ " $TARGETS " == *" base-packet "* ]] && pk_down base

RUNS=$OUT/$NAME.runs.csv
echo "target,size,rep,rps,p99_ms,proxy_cpu_us_per_req,origin_cpu_us_per_req,errors,load1,proxy_cpu_s_per_gb,softirq1_ms,kworker1_ms,cpu1_s_per_gb,box_s_per_gb" > "$RUNS"
total=$(( $(echo $TARGETS | wc -w) * $(echo $SIZES | wc -w) * REPS ))
eta=$(( total * (DUR + 2) + 10 ))
echo "bench/relay: $total runs of ${DUR}s (+1s warm-up each), about $((eta / 60)) min $((eta % 60)) s; load now $(cut -d' ' -f1-3 /proc/loadavg)"
[ $eta -le "$MAX_SECONDS" ] || { echo "bench/relay: that is over MAX_SECONDS=$MAX_SECONDS: lower DUR, REPS or SIZES" >&2; exit 1; }
i=0
for rep in $(seq "$REPS"); do
	for s in $SIZES; do
		for t in $TARGETS; do
			i=$((i + 1))
			[ "$t" = tandem-packet ] && pk_up
			[ "$t" = base-packet ] && pk_up base
			port=$(port_of $t); pid=$(pid_of $t); addr=$(addr_of $t)
			# warm the pool and the page cache
			"${IN_C[@]}" taskset -c 0 wrk -t1 -c"$CONNS" -d1s "http://$addr:$port/$s" > /dev/null
			a=0; [ -n "$pid" ] && a=$(cpu_ns "$pid")
			oa=$(cpu_ns "$ORIGIN_WORKER")
			sa=$(softirq1_ns); ka=$(kworker1_ns); ua=$(busy1_ns); xa=$(busy_ns)
			prec=""
			if [ "$rep" = 1 ] && [[ " ${PERF:-} " == *" $t:$s "* ]]; then
				# a system-wide profile of this point's first run (perf's cpu-clock:
				# these VMs have no hardware counters)
				perf record -q -a -g -F 999 -o "$T/perf.data" -- sleep "$DUR" >/dev/null 2>&1 &
				prec=$!
			fi
			"${IN_C[@]}" taskset -c 0 wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "http://$addr:$port/$s" > "$T/wrk.out"
			if [ -n "$prec" ]; then
				wait "$prec" || true
				perf report -i "$T/perf.data" --stdio --no-children -g none --sort comm,dso,symbol --percent-limit 0.5 \
					> "$OUT/$NAME.perf-$t-$s.txt" 2>/dev/null || true
				echo "bench/relay: profile of $t $s in $OUT/$NAME.perf-$t-$s.txt"
			fi
			b=0; [ -n "$pid" ] && b=$(cpu_ns "$pid")
			ob=$(cpu_ns "$ORIGIN_WORKER")
			sb=$(softirq1_ns); kb=$(kworker1_ns); ub=$(busy1_ns); xb=$(busy_ns)
			rps=$(awk '/^Requests\/sec/ { printf "%d", $2 }' "$T/wrk.out")
			n=$(awk '/requests in/ { print $1 }' "$T/wrk.out")
			p99=$(p99_ms < "$T/wrk.out")
			errs=$(grep -E 'Socket errors|Non-2xx' "$T/wrk.out" || true)
			nerr=$(awk '/Socket errors/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 } /Non-2xx/ { e += $NF } END { print e + 0 }' "$T/wrk.out")
			cpu=""; ocpu=""; gb=""
			case $s in *k) bytes=$(( ${s%k} * 1024 ));; *m) bytes=$(( ${s%m} * 1048576 ));; *) bytes=$s;; esac
			[ -n "$pid" ] && [ "${n:-0}" -gt 0 ] && cpu=$(awk -v d=$((b - a)) -v n="$n" 'BEGIN { printf "%.2f", d / 1000 / n }')
			[ -n "$pid" ] && [ "${n:-0}" -gt 0 ] && gb=$(awk -v d=$((b - a + sb - sa + kb - ka)) -v n="$n" -v z="$bytes" \
				'BEGIN { printf "%.3f", d / 1e9 / (n * z / 1e9) }')
			all=""
			[ "${n:-0}" -gt 0 ] && all=$(awk -v d=$((ub - ua)) -v n="$n" -v z="$bytes" 'BEGIN { printf "%.3f", d / 1e9 / (n * z / 1e9) }')
			box=""
			[ "${n:-0}" -gt 0 ] && box=$(awk -v d=$((xb - xa)) -v n="$n" -v z="$bytes" 'BEGIN { printf "%.3f", d / 1e9 / (n * z / 1e9) }')
			[ "${n:-0}" -gt 0 ] && ocpu=$(awk -v d=$((ob - oa)) -v n="$n" 'BEGIN { printf "%.2f", d / 1000 / n }')
			echo "$t,$s,$rep,$rps,$p99,$cpu,$ocpu,$nerr,$(cut -d' ' -f1 /proc/loadavg),$gb,$(( (sb - sa) / 1000000 )),$(( (kb - ka) / 1000000 )),$all,$box" >> "$RUNS"
			[ "$t" = tandem-packet ] && pk_down
			[ "$t" = base-packet ] && pk_down base
			printf '[%3d/%d] %-14s %-5s rep %d: %8s req/s  p99 %8s ms  proxy %6s us/req %7s s/GB %s\n' \
				"$i" "$total" "$t" "$s" "$rep" "$rps" "$p99" "${cpu:--}" "${gb:--}" "${errs:+($errs)}"
		done
	done
done

# medians per target and size
python3 - "$RUNS" "$OUT/$NAME.csv" "$TARGETS" "$SIZES" <<'PY'
import csv, statistics, sys
runs, out, targets, sizes = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
rows = list(csv.DictReader(open(runs)))
with open(out, "w") as f:
    f.write("target,size,rps,p99_ms,proxy_cpu_us_per_req,proxy_cpu_s_per_gb,cpu1_s_per_gb,box_s_per_gb,box_over_direct\n")
    fmt = lambda v, p: "" if v is None else p % v
    for s in sizes:
        def med(t, k):
            r = [x for x in rows if x["target"] == t and x["size"] == s and x.get(k)]
            return statistics.median(float(x[k]) for x in r) if r else None
        direct = med("direct", "box_s_per_gb")
        for t in targets:
            rps, p99, cpu = med(t, "rps"), med(t, "p99_ms"), med(t, "proxy_cpu_us_per_req")
            gb, all1, box = med(t, "proxy_cpu_s_per_gb"), med(t, "cpu1_s_per_gb"), med(t, "box_s_per_gb")
            over = box - direct if box is not None and direct is not None and t != "direct" else None
            f.write("%s,%s,%d,%.3f,%s,%s,%s,%s,%s\n" % (t, s, rps or 0, p99 or 0, fmt(cpu, "%.2f"), fmt(gb, "%.3f"),
                                                     fmt(all1, "%.3f"), fmt(box, "%.3f"), fmt(over, "%.3f")))
PY
echo
column -s, -t "$OUT/$NAME.csv"

# grouped bars of req/s per size, log scale
python3 - "$OUT/$NAME.csv" "$T/plot.dat" "$TARGETS" "$SIZES" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
targets, sizes = sys.argv[3].split(), sys.argv[4].split()
with open(sys.argv[2], "w") as f:
    f.write("size " + " ".join(targets) + "\n")
    for s in sizes:
        f.write(s + " " + " ".join(next(r["rps"] for r in rows if r["size"] == s and r["target"] == t) for t in targets) + "\n")
PY
for fmt in png svg; do
	if [ $fmt = png ]; then term="pngcairo size 900,520"; else term="svg size 900,520"; fi
	gnuplot <<GP 2>/dev/null || gnuplot <<GP2
set terminal $term
set output "$OUT/$NAME.$fmt"
set title "Relay: req/s by body size (wrk -c$CONNS keep-alive; client CPU 0, proxy + nginx CPU 1$([ "$TOPO" = netns ] && echo "; over veths between namespaces"))"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "requests per second (log)"
set key top right
set grid ytics
plot for [i=2:$(( $(echo $TARGETS | wc -w) + 1 ))] "$T/plot.dat" using i:xtic(1) title columnheader(i)
GP
set terminal ${term/pngcairo/png}
set output "$OUT/$NAME.$fmt"
set title "Relay: req/s by body size"
set style data histograms
set style fill solid 0.8 border -1
set logscale y
plot for [i=2:$(( $(echo $TARGETS | wc -w) + 1 ))] "$T/plot.dat" using i:xtic(1) title columnheader(i)
GP2
done
echo "bench/relay: wrote $OUT/$NAME.csv, $NAME.runs.csv, $NAME.png, $NAME.svg"
