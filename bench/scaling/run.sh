#!/bin/bash
# bench/scaling/run.sh: the paper's scaling experiment (section IV, Figure
# 9) in the emulated cluster: req/s against the number of back ends for
#   two-level        tandem l4 (DR; tc on the lab's veths) on fe; tandem l7 + nginx on every back end
#   central-tandem   tandem l7 on fe (budget of one node) to every back end's nginx
#   central-haproxy  HAProxy 2.6 on fe, same budget (mode http, splice-response,
#                    http-reuse always, nbthread 1)
#   l4-only          tandem l4 to nginx directly, no content rules: the ceiling
# Two workloads: keep-alive (P-HTTP, wrk + lab/mix.lua) and one connection
# per request (the same requests with "Connection: close"); the latter is
# written as MODE-close. Each point is run REPS times and the median kept.
# Output: bench/results/scaling.csv (mode,nodes,rps,p99_ms), every run with
# its CPU use in bench/results/scaling.runs.csv, the plot in
# bench/results/scaling.png and .svg. Settings: bench/BENCHMARK.md.
#
# Environment: NODES ("1 2 ... 9"), MODES, REPS (3), DUR (seconds per run,
# 2), WARM (1), CONNS (wrk connections, 64), THREADS (2), CPU_BE (percent
# of a core per back end, 10), CPU_FE (= CPU_BE), CPU_CLIENT (0: no limit),
# CLOSE (1: also the connection-per-request runs), QUICK=1 (NODES="1 3 5 9",
# REPS=1, DUR=2), OUT (bench/results).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LAB=$ROOT/lab/lab.sh

if [ "${QUICK:-0}" = 1 ]; then
	NODES=${NODES:-"1 3 5 9"}; REPS=${REPS:-1}; DUR=${DUR:-2}
fi
NODES=${NODES:-"1 2 3 4 5 6 7 8 9"}
MODES=${MODES:-"two-level central-tandem central-haproxy l4-only"}
REPS=${REPS:-3}
DUR=${DUR:-2}
WARM=${WARM:-1}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
CPU_BE=${CPU_BE:-10}
CPU_FE=${CPU_FE:-$CPU_BE}
CPU_CLIENT=${CPU_CLIENT:-0}
CLOSE=${CLOSE:-1}
OUT=${OUT:-$ROOT/bench/results}
export LAB_PREFIX=${LAB_PREFIX:-bsc$$}
export LAB_STATE=/tmp/tandem-lab-$LAB_PREFIX
export LAB_TANDEM=${TANDEM:-$ROOT/build/tandem}
VIP=198.18.0.100

die() { echo "scaling: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (the emulated cluster: namespaces, cgroups, XDP)"
for t in wrk nginx haproxy curl gnuplot; do
	command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh)"
done
[ -x "$LAB_TANDEM" ] || die "no tandem at $LAB_TANDEM (make first)"

TMP=$(mktemp -d /tmp/tandem-scaling.XXXXXX)
cleanup() { "$LAB" down >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$OUT"
RUNS=$OUT/scaling.runs.csv
echo "mode,nodes,rep,rps,p99_ms,errors,client_cpu,fe_cpu,be_cpu,be_throttled,idle" >"$RUNS"

idle_ticks() { awk '$1 == "cpu" { print $5 + $6 }' /proc/stat; }

# One wrk run from the client; appends a line to the runs CSV and prints
# "RPS P99_MS". CPU use is per second of the run, in percent of one core.
run_once() { # MODE NODES REP CLOSE
	local mode=$1 n=$2 rep=$3 close=$4 i0 i1 out rps p99 err name=$1 t0 t1
	[ "$close" = 1 ] && name=$mode-close
	"$LAB" cpu >"$TMP/cpu0"
	i0=$(idle_ticks); t0=$(date +%s%N)
	out=$(WRK_CLOSE=$close "$LAB" exec client timeout $((DUR + 20)) wrk -t"$THREADS" \
		-c"$CONNS" -d"${DUR}s" --timeout 5s -s "$ROOT/lab/mix.lua" "http://$VIP/" 2>&1)
	t1=$(date +%s%N); i1=$(idle_ticks)
	"$LAB" cpu >"$TMP/cpu1"
	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	p99=$(awk '/^mix:/ { printf "%.2f", $7 / 1000 }' <<<"$out")
	err=$(awk '/^mix:/ { print $5 }' <<<"$out")
	[ -n "$rps" ] || { echo "$out" >&2; rps=0; p99=0; err=-1; }
	join "$TMP/cpu0" "$TMP/cpu1" | awk -v s="$(( (t1 - t0) / 1000000 ))" \
		-v pre="$name,$n,$rep,$rps,$p99,$err" -v idle="$(( (i1 - i0) ))" -v hz="$(getconf CLK_TCK)" '
		{ u = ($6 - $2) / 1e4 / s                 # percent of one core
		  if ($1 == "client") c = u; else if ($1 == "fe") f = u
		  else { b += u; bt += $7 - $3 } }
		END { printf "%s,%.1f,%.1f,%.1f,%d,%.0f\n", pre, c, f, b, bt, idle * 100 / hz / (s / 1000) }' \
		>>"$RUNS"
	echo "$rps $p99"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

declare -A RPS P99
start=$(date +%s)
total=$(( $(wc -w <<<"$NODES") * $(wc -w <<<"$MODES") ))
k=0
echo "scaling: nodes {$NODES} x modes {$MODES}, $REPS x ${DUR}s per point" \
	"(keep-alive$([ "$CLOSE" = 1 ] && echo " and connection per request")), budgets: back end" \
	"$CPU_BE%, front end $CPU_FE%, client ${CPU_CLIENT/#0/no limit}$([ "$CPU_CLIENT" != 0 ] && echo %)"
for n in $NODES; do
	for mode in $MODES; do
		k=$((k + 1))
		if ! "$LAB" cluster "$n" "$mode" --cpu-be "$CPU_BE" --cpu-fe "$CPU_FE" \
			--cpu-client "$CPU_CLIENT" >"$TMP/lab.log" 2>&1; then
			sed 's/^/  lab: /' "$TMP/lab.log" >&2
			die "cluster $n $mode did not come up"
		fi
		grep -q 'no content rules' "$TMP/lab.log" && NORULES=1
		"$LAB" exec client wrk -t"$THREADS" -c"$CONNS" -d"${WARM}s" -s "$ROOT/lab/mix.lua" \
			"http://$VIP/" >/dev/null 2>&1
		for close in 0 $([ "$CLOSE" = 1 ] && echo 1); do
			name=$mode; [ "$close" = 1 ] && name=$mode-close
			: >"$TMP/r"; : >"$TMP/p"
			for rep in $(seq 1 "$REPS"); do
				read -r r p < <(run_once "$mode" "$n" "$rep" "$close")
				echo "$r" >>"$TMP/r"; echo "$p" >>"$TMP/p"
			done
			RPS[$name,$n]=$(median <"$TMP/r")
			P99[$name,$n]=$(awk '{ printf "%.0f\n", $1 * 100 }' "$TMP/p" | median |
				awk '{ printf "%.2f", $1 / 100 }')
			printf '[%3ds %2d/%d] %-22s nodes %d: %7s req/s  p99 %7s ms  (runs: %s)\n' \
				$(( $(date +%s) - start )) "$k" "$total" "$name" "$n" "${RPS[$name,$n]}" \
				"${P99[$name,$n]}" "$(tr '\n' ' ' <"$TMP/r")"
		done
		"$LAB" down >/dev/null 2>&1
	done
done

CSV=$OUT/scaling.csv
{
	echo "mode,nodes,rps,p99_ms"
	for mode in $MODES; do
		for name in "$mode" $([ "$CLOSE" = 1 ] && echo "$mode-close"); do
			for n in $NODES; do
				echo "$name,$n,${RPS[$name,$n]},${P99[$name,$n]}"
			done
		done
	done
} >"$CSV"

# Figure 9: req/s against nodes, one line per mode; keep-alive on the left,
# connection per request on the right
plot() { # TERMINAL FILE
	local cols=1
	[ "$CLOSE" = 1 ] && cols=2
	{
		echo "set terminal $1"
		echo "set output '$2'"
		echo "set datafile separator ','"
		echo "set key top left"
		echo "set grid"
		echo "set xlabel 'back-end nodes'"
		echo "set ylabel 'req/s'"
		echo "set xrange [0.5:$(( $(tr ' ' '\n' <<<"$NODES" | sort -n | tail -1) ))+0.5]"
		echo "set yrange [0:*]"
		echo "set multiplot layout 1,$cols"
		for suffix in "" $([ "$CLOSE" = 1 ] && echo "-close"); do
			if [ -z "$suffix" ]; then
				echo "set title 'keep-alive (P-HTTP), back end $CPU_BE% of a core each'"
			else
				echo "set title 'one connection per request'"
			fi
			printf "plot "
			sep=
			for mode in $MODES; do
				printf "%s'%s' using 2:(strcol(1) eq '%s' ? \$3 : 1/0) with linespoints title '%s'" \
					"$sep" "$CSV" "$mode$suffix" "$mode"
				sep=", "
			done
			echo
		done
		echo "unset multiplot"
	} >"$TMP/plot.gp"
	gnuplot "$TMP/plot.gp" || echo "scaling: gnuplot failed for $2" >&2
}
plot "pngcairo size 1200,500 font ',10'" "$OUT/scaling.png" 2>/dev/null ||
	plot "png size 1200,500" "$OUT/scaling.png"
plot "svg size 1200,500" "$OUT/scaling.svg"

echo
echo "scaling: done in $(( $(date +%s) - start )) s; $CSV, $OUT/scaling.png, $OUT/scaling.runs.csv"
[ "${NORULES:-0}" = 1 ] && echo "scaling: note: tandem took no content rules: L7 levels ran plain rr"
column -s, -t "$CSV" 2>/dev/null || cat "$CSV"
