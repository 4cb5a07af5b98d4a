#!/bin/bash
# bench/l4/run.sh: what the level-1 front end costs, two ways.
#  1. Packets per second of the data path on one core, at both hooks (XDP
#     and tc) and for both families: build/bench/l4/xdp_pps
#     (bpf_prog_test_run_opts, the program alone, no driver) for SYN,
#     established, non-VIP and NAT reply frames in DR and NAT modes.
#  2. CPU per connection under wrk in the emulated cluster (lab/lab.sh up 3
#     --native-xdp, so the XDP rows can run on its veths; nginx :80 on
#     be1..be3, no L7), one connection per request ("Connection: close"),
#     front end by front end:
#       direct       the client to be1's own address, no front end (the floor)
#       xdp-dr       tandem l4, hook = xdp, direct routing (replies bypass fe)
#       xdp-nat      tandem l4, hook = xdp, NAT (back ends route replies via fe)
#       tc-dr        tandem l4, hook = tc, direct routing
#       tc-nat       tandem l4, hook = tc, NAT
#       direct6, xdp-dr6, xdp-nat6, tc-dr6, tc-nat6: the same over IPv6
#                    (the VIP [2001:2::100]; direct6: be1's IPv6 address)
#       user         tandem l4, mode = user (accept + connect + splice)
#       nft-numgen   nftables DNAT in fe's namespace, numgen inc mod 3
#       nft-jhash    nftables DNAT, jhash ip saddr . tcp sport mod 3
#     CPU is the sum over the lab's hosts (cgroup cpuacct), per connection;
#     XDP and the stack's forwarding run in softirq, billed to whichever
#     host's task was running (mostly the sender, see doc/lab.md), so only
#     the sum is meaningful; "front end" = that sum minus direct's
#     (direct6's for the IPv6 rows). Softirq work deferred to ksoftirqd is
#     billed to no cgroup: its CPU is recorded
#     apart (it is shared with other jobs on the box).
# Outputs in OUT (bench/results): l4_pps.csv, l4.csv (medians), l4.runs.csv
# (every run, with the load average), l4.png and l4.svg. Settings:
# bench/BENCHMARK.md.
#
# Environment: MODES, REPS (3), DUR (seconds per run, 5), CONNS (wrk
# connections, 16), THREADS (1), MAXREQ (requests per wrk thread and run,
# 30000), PPS_REPEAT (10000000), PPS_RUNS (5), PPS_SINGLES (20000), PPS=0 to
# skip part 1, LAB_RUNS=0 to skip part 2; QUICK=1: REPS=1 DUR=3
# PPS_REPEAT=1000000 PPS_RUNS=3 PPS_SINGLES=5000 (about 1-2 minutes).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LAB=$ROOT/lab/lab.sh

if [ "${QUICK:-0}" = 1 ]; then
	REPS=${REPS:-1}; DUR=${DUR:-3}
	PPS_REPEAT=${PPS_REPEAT:-1000000}; PPS_RUNS=${PPS_RUNS:-3}; PPS_SINGLES=${PPS_SINGLES:-5000}
fi
MODES=${MODES:-"direct xdp-dr xdp-nat tc-dr tc-nat direct6 xdp-dr6 xdp-nat6 tc-dr6 tc-nat6 user nft-numgen nft-jhash"}
REPS=${REPS:-3}
DUR=${DUR:-5}
CONNS=${CONNS:-16}
THREADS=${THREADS:-1}
MAXREQ=${MAXREQ:-30000}
PPS_REPEAT=${PPS_REPEAT:-10000000}
PPS_RUNS=${PPS_RUNS:-5}
PPS_SINGLES=${PPS_SINGLES:-20000}
OUT=${OUT:-$ROOT/bench/results}
TANDEM=${TANDEM:-$ROOT/build/tandem}
PPS_BIN=${PPS_BIN:-$ROOT/build/bench/l4/xdp_pps}
export LAB_PREFIX=${LAB_PREFIX:-bl4$$}
export LAB_STATE=/tmp/tandem-lab-$LAB_PREFIX
export LAB_TANDEM=$TANDEM
VIP=198.18.0.100
CLIENT=198.18.0.2
FE=198.18.0.1
VIP6=2001:2::100
CLIENT6=2001:2::2
FE6=2001:2::1
NODES=3

die() { echo "bench/l4: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (BPF test-run, network namespaces, XDP, nftables)"
for t in wrk nginx nft curl gnuplot; do
	command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh)"
done
[ -x "$TANDEM" ] || die "no tandem at $TANDEM (make first)"
[ -x "$PPS_BIN" ] || die "no $PPS_BIN (make build/bench/l4/xdp_pps, or make bench-l4)"

TMP=$(mktemp -d /tmp/tandem-bl4.XXXXXX)
cleanup() { "$LAB" down >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$OUT"
start=$(date +%s)
load1() { cut -d' ' -f1 /proc/loadavg; }
elapsed() { echo $(( $(date +%s) - start )); }

# ---- 1. packets per second, the program alone ------------------------------
if [ "${PPS:-1}" = 1 ]; then
	echo "bench/l4: XDP and tc test-run, repeat $PPS_REPEAT x $PPS_RUNS runs, $PPS_SINGLES single" \
		"calls per case; load $(load1)"
	l0=$(load1)
	"$PPS_BIN" -r "$PPS_REPEAT" -n "$PPS_RUNS" -s "$PPS_SINGLES" >"$TMP/pps.csv" ||
		die "xdp_pps failed"
	awk -v l0="$l0" -v l1="$(load1)" 'NR == 1 { print $0 ",load1_before,load1_after"; next }
		{ print $0 "," l0 "," l1 }' "$TMP/pps.csv" >"$OUT/l4_pps.csv"
	printf '[%3ds] pps done\n' "$(elapsed)"
	column -s, -t "$OUT/l4_pps.csv"
fi

# ---- 2. CPU per connection in the emulated cluster ------------------------
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
softirq_ticks() { awk '$1 == "cpu" { print $8 }' /proc/stat; }
KSOFT=$(for p in /proc/[0-9]*; do
	[[ $(cat "$p/comm" 2>/dev/null) == ksoftirqd/* ]] && echo "${p#/proc/}"
done)
ksoft_ticks() { # utime + stime of every ksoftirqd thread
	local p s=0
	for p in $KSOFT; do
		s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$s"
}
lab_ns() { "$LAB" cpu | awk '{ u[$1] = $2; t += $2 }
	END { printf "%.0f %.0f %.0f %.0f\n", t, u["client"], u["fe"], t - u["client"] - u["fe"] }'; }

write_l4_cfg() { # MODE [HOOK]
	local vips="$VIP:80 [$VIP6]:80"
	[ "$1" = user ] && vips="$VIP:80"      # mode = user serves one VIP
	{
		printf '[cluster]\nvip = %s\n\n[l4]\niface = eth0\nmode = %s\n' "$vips" "$1"
		printf 'hook = %s\nadmin = 127.0.0.1:9300\n' "${2:-auto}"
		for i in $(seq 1 $NODES); do
			printf '\n[node be%d]\naddress = %s %s\n' "$i" "$("$LAB" addr "be$i")" \
				"$("$LAB" addr6 "be$i")"
		done
	} >"$TMP/l4.ini"
	"$TANDEM" -t -c "$TMP/l4.ini" >/dev/null 2>&1 || die "tandem -t refuses $TMP/l4.ini"
}

l4_up() {
	[ "$("$LAB" exec fe curl -s -m 1 http://127.0.0.1:9300/metrics |
		grep -c 'tandem_l4_backend_up{.*} 1$')" = $NODES ]
}

# Replies through fe (NAT, nftables) or straight to the client (DR, direct,
# user: the user-space proxy's back-end connections are fe's own).
replies_via_fe() { # 1|0
	local i
	for i in $(seq 1 $NODES); do
		if [ "$1" = 1 ]; then
			"$LAB" exec "be$i" ip route replace "$CLIENT/32" via "$FE"
			"$LAB" exec "be$i" ip -6 route replace "$CLIENT6/128" via "$FE6"
		else
			"$LAB" exec "be$i" ip route del "$CLIENT/32" 2>/dev/null
			"$LAB" exec "be$i" ip -6 route del "$CLIENT6/128" 2>/dev/null
		fi
	done
	return 0
}

nft_rules() { # numgen|jhash
	local sel map i
	case $1 in
	numgen) sel="numgen inc mod $NODES" ;;
	jhash) sel="jhash ip saddr . tcp sport mod $NODES" ;;
	esac
	map=$(for i in $(seq 1 $NODES); do printf '%d : %s, ' $((i - 1)) "$("$LAB" addr "be$i")"; done)
	map=${map%, }
	cat >"$TMP/nft.conf" <<EOF
table ip tandem_bench
delete table ip tandem_bench
table ip tandem_bench {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr $VIP tcp dport 80 dnat to $sel map { $map }
	}
}
EOF
	"$LAB" exec fe nft -f "$TMP/nft.conf"
}

URL=
mode_start() { # MODE
	URL=http://$VIP/
	[[ $1 == *6 ]] && URL=http://[$VIP6]/
	case $1 in
	direct)
		replies_via_fe 0
		URL=http://$("$LAB" addr be1)/
		;;
	direct6)
		replies_via_fe 0
		URL=http://[$("$LAB" addr6 be1)]/
		;;
	xdp-dr | xdp-nat | tc-dr | tc-nat | xdp-dr6 | xdp-nat6 | tc-dr6 | tc-nat6 | user)
		local m=${1#*-} h=${1%%-*}
		m=${m%6}
		[ "$1" = user ] && m=user h=auto
		replies_via_fe "$([ "$m" = nat ] && echo 1 || echo 0)"
		write_l4_cfg "$m" "$h"
		"$LAB" start fe l4 "$TANDEM" l4 -c "$TMP/l4.ini" >/dev/null
		for _ in $(seq 1 100); do l4_up && break; sleep 0.1; done
		l4_up || { tail -5 "$LAB_STATE/log/fe-l4.log" >&2; return 1; }
		;;
	nft-numgen | nft-jhash)
		replies_via_fe 1
		nft_rules "${1#nft-}" || return 1
		;;
	*) die "unknown mode $1" ;;
	esac
	for _ in $(seq 1 50); do
		"$LAB" exec client curl -sf -m 1 -o /dev/null "$URL" && return 0
		sleep 0.1
	done
	echo "bench/l4: $1: $URL does not answer from the client" >&2
	return 1
}

mode_stop() { # MODE
	case $1 in
	xdp-* | tc-* | user) "$LAB" stop fe l4 ;;
	nft-*) "$LAB" exec fe nft delete table ip tandem_bench ;;
	esac
}

# One bounded wrk run; appends to the runs CSV.
run_once() { # MODE REP
	local out c0 c1 b0 b1 s0 s1 k0 k1 hz l0
	hz=$(getconf CLK_TCK)
	l0=$(load1)
	c0=$(lab_ns); b0=$(busy_ticks); s0=$(softirq_ticks); k0=$(ksoft_ticks)
	out=$(WRK_MAX=$MAXREQ "$LAB" exec client timeout $((DUR + 15)) wrk -t"$THREADS" \
		-c"$CONNS" -d"${DUR}s" --timeout 5s -s "$HERE/close.lua" "$URL" 2>&1)
	c1=$(lab_ns); b1=$(busy_ticks); s1=$(softirq_ticks); k1=$(ksoft_ticks)
	awk -v m="$1" -v r="$2" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v l0="$l0" \
		-v b="$((b1 - b0))" -v s="$((s1 - s0))" -v k="$((k1 - k0))" '
		/^close:/ { n = $3; e = $5; d = $7 }
		END {
			if (n + 0 == 0) { printf "%s,%d,0,0,-1,,,,,,,,%s\n", m, r, l0; exit }
			split(c0, a, " "); split(c1, z, " ")
			us = 1e3 * n                                  # ns -> us per conn
			printf "%s,%d,%d,%.0f,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%s\n", m, r, n,
				n / (d / 1e6), e, (z[1] - a[1]) / us, (z[2] - a[2]) / us,
				(z[3] - a[3]) / us, (z[4] - a[4]) / us, k * 1e6 / hz / n,
				b * 1e6 / hz / n, s * 1e6 / hz / n, l0
		}' <<<"$out" >>"$TMP/runs.csv"
	grep -q '^close:' <<<"$out" || echo "$out" | tail -5 >&2
}

if [ "${LAB_RUNS:-1}" = 1 ]; then
	# --native-xdp: the XDP rows need both veth workarounds on fe; every
	# row runs on the same wire, so they compare (doc/lab.md)
	"$LAB" up $NODES --native-xdp >"$TMP/lab.log" 2>&1 ||
		{ cat "$TMP/lab.log" >&2; die "lab up failed"; }
	for i in $(seq 1 $NODES); do
		LAB_NGINX_LOG=0 "$LAB" nginx "be$i" start 80 || die "nginx on be$i failed"
	done
	echo "mode,rep,conns,conn_s,errors,lab_cpu_us_per_conn,client_us,fe_us,be_us," \
		"ksoftirqd_us,box_busy_us,box_softirq_us,load1" | tr -d ' ' >"$TMP/runs.csv"
	echo "bench/l4: modes {$MODES}, $REPS x ${DUR}s (at most $MAXREQ connections per wrk" \
		"thread), wrk -t$THREADS -c$CONNS, Connection: close; load $(load1)"
	# modes take turns within each repetition, so a burst of other jobs on
	# the box falls on every mode alike rather than on one
	for rep in $(seq 1 "$REPS"); do
		for mode in $MODES; do
			mode_start "$mode" || die "$mode did not come up"
			WRK_MAX=2000 "$LAB" exec client timeout 10 wrk -t1 -c"$CONNS" -d1s \
				-s "$HERE/close.lua" "$URL" >/dev/null 2>&1
			run_once "$mode" "$rep"
			printf '[%3ds] %-11s rep %d: %s\n' "$(elapsed)" "$mode" "$rep" \
				"$(tail -1 "$TMP/runs.csv")"
			mode_stop "$mode"
		done
	done
	cp "$TMP/runs.csv" "$OUT/l4.runs.csv"

	# medians per mode; the front end's share is the lab total minus direct's
	python3 - "$OUT/l4.runs.csv" "$OUT/l4.csv" "$MODES" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
modes = sys.argv[3].split()
med = lambda m, k: statistics.median(float(r[k]) for r in rows
                                     if r["mode"] == m and r[k] not in ("", None))
# the floor of each family: direct for IPv4 rows, direct6 for IPv6 ones
base = {f: med(d, "lab_cpu_us_per_conn") if d in modes else 0
        for f, d in (("4", "direct"), ("6", "direct6"))}
with open(sys.argv[2], "w") as f:
    f.write("mode,conn_s,errors,lab_cpu_us_per_conn,front_end_us_per_conn,"
            "front_end_cpu_s_per_10k,ksoftirqd_us,box_busy_us,runs\n")
    for m in modes:
        fe = med(m, "lab_cpu_us_per_conn") - base["6" if m.endswith("6") else "4"]
        f.write("%s,%.0f,%d,%.1f,%.1f,%.3f,%.1f,%.1f,%d\n" % (
            m, med(m, "conn_s"), sum(int(r["errors"]) for r in rows if r["mode"] == m),
            med(m, "lab_cpu_us_per_conn"), fe, fe * 1e4 / 1e6,
            med(m, "ksoftirqd_us"), med(m, "box_busy_us"),
            sum(1 for r in rows if r["mode"] == m)))
PY
	echo
	column -s, -t "$OUT/l4.csv"
fi

# ---- plot: ns per packet (left), front-end CPU per connection (right) -------
plot() { # TERMINAL FILE
	{
		echo "set terminal $1"
		echo "set output '$2'"
		echo "set termoption noenhanced"
		echo "set datafile separator ','"
		echo "set style data histograms"
		echo "set style histogram clustered gap 1"
		echo "set style fill solid 0.8 border -1"
		echo "set grid ytics"
		echo "set yrange [0:*]"
		echo "set multiplot layout 1,2"
		if [ -s "$OUT/l4_pps.csv" ]; then
			# repeat rows per kind (nat_reply: single calls), one bar per
			# hook, mode and family
			awk -F, 'NR > 1 && $2 != "empty" && ($1 == "repeat" || $3 == "nat_reply") {
					s = $10 " " $2 ($11 == 6 ? " v6" : ""); v[$3 "," s] = $6; k[$3] = 1 }
				END { n = split("xdp dr,xdp nat,tc dr,tc nat,xdp dr v6,xdp nat v6,tc dr v6,tc nat v6", o, ",")
					printf "kind"; for (j = 1; j <= n; j++) printf ",%s", o[j]; print ""
					m = split("syn established not_vip nat_reply", q, " ")
					for (i = 1; i <= m; i++) if (q[i] in k) {
						printf "%s", q[i]
						for (j = 1; j <= n; j++) printf ",%s", (q[i] "," o[j]) in v ? v[q[i] "," o[j]] : ""
						print "" } }' "$OUT/l4_pps.csv" >"$TMP/pps.dat"
			echo "set title 'data path alone, one core: ns per packet (test-run repeat; nat_reply: single calls)'"
			echo "set ylabel 'ns per packet'"
			echo "set key outside bottom center horizontal"
			printf "plot '%s' using 2:xtic(1) title columnheader(2)" "$TMP/pps.dat"
			for c in 3 4 5 6 7 8 9; do printf ", '' using %d title columnheader(%d)" $c $c; done
			echo
		fi
		if [ -s "$OUT/l4.csv" ]; then
			echo "set title 'front-end CPU per connection (lab total minus direct / direct6)'"
			echo "set ylabel 'CPU us per connection'"
			echo "set xtics rotate by -35"
			awk -F, 'NR > 1 && $1 != "direct" && $1 != "direct6" { print $1 "," $5 }' \
				"$OUT/l4.csv" >"$TMP/cpu.dat"
			echo "plot '$TMP/cpu.dat' using 2:xtic(1) notitle"
		fi
		echo "unset multiplot"
	} >"$TMP/plot.gp"
	gnuplot "$TMP/plot.gp" 2>"$TMP/gnuplot.err"
}
plot "pngcairo size 1500,520 font ',10'" "$OUT/l4.png" ||
	plot "png size 1500,520" "$OUT/l4.png" || { cat "$TMP/gnuplot.err" >&2; echo "bench/l4: png plot failed" >&2; }
plot "svg size 1500,520" "$OUT/l4.svg" || echo "bench/l4: svg plot failed" >&2
echo "bench/l4: done in $(elapsed) s; $OUT/l4_pps.csv, l4.csv, l4.runs.csv, l4.png, l4.svg"
