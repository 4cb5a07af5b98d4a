#!/usr/bin/env bash
# bench/locality: does content-aware distribution buy cache locality? N nodes
# on 127.0.0.1, each a `tandem l7` in front of a cacheorigin (an origin with
# its own bounded LRU cache and one emulated disk, cacheorigin.c: on one
# machine every nginx would share the kernel's page cache, so nginx cannot
# show this). Every switch has one group of all nodes under POLICY (rr,
# chash, lard); wrk sends Zipf-popular GETs over a working set several times
# one node's cache but smaller than all caches together, one wrk thread per
# switch (as the L4 level spreads clients). Each run starts with empty
# caches, warms up for WARM seconds through the policy under test, then
# measures DUR seconds: req/s and p99 from wrk, the cluster hit ratio from
# the origins' counters (GET /__stats) over that window, and how many nodes
# cache each object at the end (GET /__keys). A sample of bodies is checked
# byte for byte (sha256) through the switches after every run.
# Writes bench/results/locality.runs.csv (every run, with the load average),
# locality.csv (median per policy, ratios to rr) and locality.png/svg.
# Settings: bench/BENCHMARK.md. Every one is an environment knob:
#   NODES=4 POLICIES="rr chash lard" (also chash:LOAD_FACTOR and
#   lard:LOW-HIGH, e.g. "chash:2 lard:4-12"; lard-own, lard-own:LOW-HIGH:
#   lard with [l7] load_share = off, each switch on its own load) REPS=3 WARM=15 DUR=15 CONNS=64
#   NFILES=4000 ALPHA=0.8 SIZE_MIN=2048 SIZE_MAX=32768 CACHE (bytes per node;
#   default a third of the working set) SEEK_US=5000 DISK_BW=40m WORKERS=1
#   RELAY=splice LOAD_FACTOR=1.25 LARD_LOW=25 LARD_HIGH=65 CHECK=24
#   MAX_SECONDS=660 OUT=bench/results
# QUICK=1: REPS=1 WARM=8 DUR=8, about a minute (the default: about 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/bench/locality
TANDEM=${TANDEM:-$ROOT/build/tandem}
ORIGIN=$ROOT/build/bench/cacheorigin
if [ "${QUICK:-0}" = 1 ]; then
	REPS=${REPS:-1}; WARM=${WARM:-8}; DUR=${DUR:-8}
fi
NODES=${NODES:-4}
POLICIES=${POLICIES:-"rr chash lard"}
REPS=${REPS:-3}
WARM=${WARM:-15}
DUR=${DUR:-15}
CONNS=${CONNS:-64}
NFILES=${NFILES:-4000}
ALPHA=${ALPHA:-0.8}
SIZE_MIN=${SIZE_MIN:-2048}
SIZE_MAX=${SIZE_MAX:-32768}
SEEK_US=${SEEK_US:-5000}
DISK_BW=${DISK_BW:-40m}
WORKERS=${WORKERS:-1}
RELAY=${RELAY:-splice}
LOAD_FACTOR=${LOAD_FACTOR:-1.25}
LARD_LOW=${LARD_LOW:-25}
LARD_HIGH=${LARD_HIGH:-65}
CHECK=${CHECK:-24}
MAX_SECONDS=${MAX_SECONDS:-660}
OUT=${OUT:-$ROOT/bench/results}

die() { echo "bench/locality: $*" >&2; exit 1; }
for t in wrk curl python3 gnuplot ss; do
	command -v $t >/dev/null || die "$t is missing (scripts/deps.sh installs it)"
done
[ -x "$TANDEM" ] || die "build tandem first (make)"
make -s -C "$ROOT" build/bench/cacheorigin >/dev/null || die "cannot build $ORIGIN"
[ "$CONNS" -ge "$NODES" ] || die "CONNS must be at least NODES (one wrk thread per switch)"

# The working set, exactly: the sizes cacheorigin gives /obj/0 .. /obj/NFILES-1.
WSET=$(python3 - "$HERE" "$NFILES" "$SIZE_MIN" "$SIZE_MAX" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from body import obj_hash
n, lo, hi = map(int, sys.argv[2:5])
print(sum(lo + obj_hash(b"/obj/%d" % k) % (hi - lo + 1) for k in range(n)))
PY
)
CACHE=${CACHE:-$((WSET / 3))}
runs=$(( $(echo $POLICIES | wc -w) * REPS ))
eta=$(( runs * (WARM + DUR + 4) + 10 ))
echo "bench/locality: $NODES nodes, working set $NFILES objects $((WSET >> 20)) MiB, cache $((CACHE >> 20)) MiB per node" \
	"(set/cache $(awk -v w=$WSET -v c=$CACHE 'BEGIN { printf "%.1f", w / c }'), all caches $(( NODES * CACHE >> 20 )) MiB);" \
	"$runs runs of ${WARM}+${DUR} s, about $((eta / 60)) min $((eta % 60)) s; load now $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$eta" -le "$MAX_SECONDS" ] || die "that is over MAX_SECONDS=$MAX_SECONDS: lower REPS, WARM or DUR"

T=$(mktemp -d /tmp/tandem-locality.XXXXXX)
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 30); do
		local alive=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
cleanup() { stop_all; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

# Ports: 3 per node (origin, l7, admin) in a block below the ephemeral range
# (32768+), moved on while any port of it is taken.
BLOCK=$((3 * NODES))
block_free() {
	! ss -Htan 2>/dev/null | awk '{ print $4 }' | sed 's/.*://' |
		awk -v a="$1" -v b=$(($1 + BLOCK)) '$1 >= a && $1 < b { f = 1 } END { exit !f }'
}
BASE=$((20000 + ($$ % 200) * 48))
for _ in $(seq 200); do
	block_free $BASE && break
	BASE=$((20000 + ((BASE - 20000) / 48 + 1) % 200 * 48))
done
oport() { echo $((BASE + $1 - 1)); }
lport() { echo $((BASE + NODES + $1 - 1)); }
aport() { echo $((BASE + 2 * NODES + $1 - 1)); }
LPORTS=$(for i in $(seq "$NODES"); do lport "$i"; done | tr '\n' ' ')

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # PORT
	for _ in $(seq 50); do tcp_open "$1" && return 0; sleep 0.1; done
	die "nothing listens on 127.0.0.1:$1 (logs in $T)"
}

write_conf() { # POLICY FILE
	{
		printf '[cluster]\nrelay = %s\n[l7]\nworkers = %s\n' "$RELAY" "$WORKERS"
		# lard-own: lard on each switch's own load ([l7] load_share off)
		case $1 in lard-own*) printf 'load_share = off\n' ;; esac
		for i in $(seq "$NODES"); do
			printf '[node n%d]\nweb = 127.0.0.1:%d\nlocal = 127.0.0.1:%d\nl7 = 127.0.0.1:%d\nadmin = 127.0.0.1:%d\n' \
				"$i" "$(oport $i)" "$(oport $i)" "$(lport $i)" "$(aport $i)"
		done
		local pol=${1%%:*}
		printf '[group default]\nnodes = %s\npolicy = %s\n' "$(seq -f 'n%g' -s ' ' "$NODES")" "${pol%-own}"
		case ${1/lard-own/lard} in
		chash) printf 'load_factor = %s\n' "$LOAD_FACTOR" ;;
		chash:*) printf 'load_factor = %s\n' "${1#*:}" ;;
		lard) printf 'lard_low = %s\nlard_high = %s\n' "$LARD_LOW" "$LARD_HIGH" ;;
		lard:*-*) v=${1#*:}; printf 'lard_low = %s\nlard_high = %s\n' "${v%-*}" "${v#*-}" ;;
		esac
	} > "$2"
	"$TANDEM" -t -c "$2" >/dev/null || die "tandem -t rejects $2"
}

stats() { # FILE: "node hits misses reads disk_busy_us requests" per node
	for i in $(seq "$NODES"); do
		curl -s --max-time 5 "http://127.0.0.1:$(oport $i)/__stats" |
			awk -v n="$i" '{ v[$1] = $2 } END { print n, v["hits"], v["misses"], v["reads"], v["disk_busy_us"], v["requests"] }'
	done > "$1"
}

# CHECK objects (the most popular ones and a spread over the tail), each
# fetched through another switch, must be byte-identical to body.py's.
check_bodies() { # POLICY REP
	local paths i=0 t got
	paths=$(python3 -c "
import sys; n, k = $NFILES, $CHECK
print(' '.join('/obj/%d' % j for j in sorted(set(list(range(min(k // 2, n))) + [(n - 1) * i // max(1, k - k // 2) for i in range(1, k - k // 2 + 1)]))))")
	"$HERE/body.py" "$SIZE_MIN" "$SIZE_MAX" $paths > "$T/want"
	for t in $paths; do
		i=$((i % NODES + 1))
		got=$(curl -s --max-time 10 "http://127.0.0.1:$(lport $i)$t" | sha256sum | cut -c1-64)
		grep -q " $got\$" <(grep "^$t " "$T/want") ||
			die "$1 run $2: $t through switch n$i is not the expected body (sha256 $got; $(grep "^$t " "$T/want"))"
	done
}

p99_ms() { # wrk --latency output on stdin
	awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } printf "%.2f", v }'
}

wrk_run() { # SECONDS SEED OUTFILE
	LOC_PORTS=$LPORTS LOC_NFILES=$NFILES LOC_ALPHA=$ALPHA LOC_SEED=$2 \
		timeout $(($1 + 20)) wrk -t"$NODES" -c"$CONNS" -d"$1s" --timeout 5s --latency \
		-s "$HERE/zipf.lua" "http://127.0.0.1:$(lport 1)/" > "$3" 2>&1 || true
}

mkdir -p "$OUT"
RUNS=$OUT/locality.runs.csv
echo "policy,run,rps,hit_ratio,p99_ms,errors,load1,warm_hit_ratio,disk_util,copies,node_share_max" > "$RUNS"
for pol in $POLICIES; do write_conf "$pol" "$T/$pol.ini"; done

run_one() { # POLICY REP
	local pol=$1 rep=$2 i
	for i in $(seq "$NODES"); do
		"$ORIGIN" -l "127.0.0.1:$(oport $i)" -n "n$i" -c "$CACHE" -s "$SEEK_US" -b "$DISK_BW" \
			-z "$SIZE_MIN-$SIZE_MAX" 2> "$T/origin-$i.log" &
		PIDS+=($!)
	done
	for i in $(seq "$NODES"); do wait_port "$(oport $i)"; done
	for i in $(seq "$NODES"); do
		"$TANDEM" l7 -c "$T/$pol.ini" --node "n$i" 2> "$T/l7-$pol-$i.log" &
		PIDS+=($!)
	done
	for i in $(seq "$NODES"); do wait_port "$(lport $i)"; done
	stats "$T/s0"
	wrk_run "$WARM" "$rep" "$T/warm.out"
	stats "$T/s1"
	wrk_run "$DUR" "$((rep + 100))" "$T/wrk.out"
	stats "$T/s2"
	for i in $(seq "$NODES"); do
		curl -s --max-time 5 "http://127.0.0.1:$(oport $i)/__keys"
	done > "$T/keys"
	check_bodies "$pol" "$rep"
	stop_all

	local rps p99 nerr hr whr util copies share
	rps=$(awk '/^Requests\/sec/ { printf "%d", $2 }' "$T/wrk.out")
	[ -n "$rps" ] || { cat "$T/wrk.out" >&2; die "$pol run $rep: wrk gave no figure"; }
	p99=$(p99_ms < "$T/wrk.out")
	nerr=$(awk '/Socket errors/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 } /Non-2xx/ { e += $NF } END { print e + 0 }' "$T/wrk.out")
	# the stats files list the nodes in the same order: side by side, the
	# second snapshot's fields are the first's plus 6
	read -r hr util share < <(paste -d' ' "$T/s1" "$T/s2" | awk -v d="$DUR" -v n="$NODES" '
		{ h += $8 - $2; m += $9 - $3; busy += $11 - $5; r = $12 - $6; q += r; if (r > mx) mx = r }
		END { printf "%.4f %.3f %.3f\n", h / (h + m), busy / 1e6 / d / n, q ? mx / q : 0 }')
	whr=$(paste -d' ' "$T/s0" "$T/s1" | awk '{ h += $8 - $2; m += $9 - $3 } END { printf "%.4f", h / (h + m) }')
	copies=$(sort "$T/keys" | uniq -c | awk '{ s += $1; k++ } END { printf "%.2f", k ? s / k : 0 }')
	echo "$pol,$rep,$rps,$hr,$p99,$nerr,$(cut -d' ' -f1 /proc/loadavg),$whr,$util,$copies,$share" >> "$RUNS"
	printf '%-6s run %d: %7s req/s  hit %s (warm-up %s)  p99 %8s ms  errors %s  disk busy %s  copies/object %s  load %s\n' \
		"$pol" "$rep" "$rps" "$hr" "$whr" "$p99" "$nerr" "$util" "$copies" "$(cut -d' ' -f1 /proc/loadavg)"
}

# Policies interleaved within each repetition, so slow drifts of the box's
# load spread over all of them.
for rep in $(seq "$REPS"); do
	for pol in $POLICIES; do run_one "$pol" "$rep"; done
done

python3 - "$RUNS" "$OUT/locality.csv" "$POLICIES" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
pols = sys.argv[3].split()
med = {}
for p in pols:
    r = [x for x in rows if x["policy"] == p]
    med[p] = {k: statistics.median(float(x[k]) for x in r)
              for k in ("rps", "hit_ratio", "p99_ms", "errors", "copies", "disk_util")}
    med[p]["runs"] = len(r)
base = med.get("rr")
with open(sys.argv[2], "w") as f:
    f.write("policy,runs,rps,hit_ratio,p99_ms,errors,copies,disk_util,rps_vs_rr,hit_vs_rr\n")
    for p in pols:
        m = med[p]
        f.write("%s,%d,%d,%.4f,%.2f,%d,%.2f,%.3f,%s,%s\n" % (
            p, m["runs"], m["rps"], m["hit_ratio"], m["p99_ms"], m["errors"], m["copies"], m["disk_util"],
            "%.2f" % (m["rps"] / base["rps"]) if base else "",
            "%.2f" % (m["hit_ratio"] / base["hit_ratio"]) if base else ""))
PY
echo
column -s, -t "$OUT/locality.csv"

# Two panels: req/s and hit ratio per policy (median), every run as a point.
awk -F, 'NR > 1 { print NR - 2, $1, $3, $4 }' "$OUT/locality.csv" > "$T/med.dat"
awk -F, -v pols="$POLICIES" 'BEGIN { n = split(pols, p, " "); for (i = 1; i <= n; i++) x[p[i]] = i - 1 }
	NR > 1 { print x[$1], $3, $4 }' "$RUNS" > "$T/runs.dat"
for fmt in png svg; do
	if [ $fmt = png ]; then term="pngcairo size 900,420"; else term="svg size 900,420"; fi
	gnuplot <<GP
set terminal $term
set output "$OUT/locality.$fmt"
set multiplot layout 1,2 title "Locality: $NODES nodes, Zipf($ALPHA) over $NFILES objects, set = $(awk -v w=$WSET -v c=$CACHE 'BEGIN { printf "%.1f", w / c }') x one cache (median of $REPS; points: runs)"
set style fill solid 0.7 border -1
set boxwidth 0.6
set xrange [-0.6:$(( $(echo $POLICIES | wc -w) ))-0.4]
set grid ytics
set key off
set yrange [0:*]
set title "requests per second"
plot "$T/med.dat" using 1:3:xtic(2) with boxes lc rgb "#4477aa", \
     "$T/runs.dat" using 1:2 with points pt 7 ps 0.6 lc rgb "black"
set title "cluster hit ratio"
set yrange [0:1]
plot "$T/med.dat" using 1:4:xtic(2) with boxes lc rgb "#228833", \
     "$T/runs.dat" using 1:3 with points pt 7 ps 0.6 lc rgb "black"
unset multiplot
GP
done
echo "bench/locality: wrote $OUT/locality.csv, locality.runs.csv, locality.png, locality.svg"
