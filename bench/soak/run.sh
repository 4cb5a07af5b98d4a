#!/usr/bin/env bash
# bench/soak: a bounded soak of tandem l7, every relay engine at once. One
# tandem l7 per engine (two workers, two nginx origins round-robin), each
# loaded for SOAK_SECONDS by its own client (bench/soak/soak.py: keep-alive,
# pipelining, chunked and Content-Length uploads fetched back, 4-64 MiB
# downloads, client aborts with FIN and RST), every response body checked
# by sha256; every SOAK_RELOAD seconds each tandem gets a SIGHUP (a reload of
# the same file: pooled connections of the old configuration are retired
# while requests are in flight). Every SAMPLE seconds the fd count (/proc/PID/fd) and RSS
# (/proc/PID/status VmRSS) of each tandem and its request count (/metrics)
# go to bench/results/soak.csv; idle fds and RSS are taken after a warm-up
# (with the same load and reloads)
# and again after the soak, both after the same load and a 3 s pause.
# Writes soak.csv, soak.summary.csv, soak.png/svg; exits 1 on a mismatch,
# an error, or growth: idle fds at the end over the idle start by more than
# FD_SLACK, or idle RSS at the end over RSS at half time by more than
# RSS_SLACK_PCT percent (malloc arenas and buffer free lists fill up in the
# first minute or two, reloads included, and then stay; a leak keeps
# growing with the requests, in the second half too). Not in CI.
#   SOAK_SECONDS=300 SOAK_ENGINES="copy splice sockmap" SOAK_THREADS=6
#   SOAK_WORKERS=2 SOAK_RELOAD=10 WARMUP=15 SAMPLE=5 SEED=1 FD_SLACK=16 RSS_SLACK_PCT=5
#   OUT=bench/results bench/soak/run.sh
# An engine that `tandem -t` refuses (sockmap, until it lands) is skipped
# with a note. Quick look: SOAK_SECONDS=60 OUT=/tmp/soak bench/soak/run.sh
set -o pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SOAK_SECONDS=${SOAK_SECONDS:-300}
SOAK_ENGINES=${SOAK_ENGINES:-"copy splice sockmap"}
SOAK_THREADS=${SOAK_THREADS:-6}
SOAK_WORKERS=${SOAK_WORKERS:-2}
SOAK_RELOAD=${SOAK_RELOAD:-10}     # seconds between SIGHUPs; 0: none
WARMUP=${WARMUP:-15}
SAMPLE=${SAMPLE:-5}
SEED=${SEED:-1}
FD_SLACK=${FD_SLACK:-16}
RSS_SLACK_PCT=${RSS_SLACK_PCT:-5}
OUT=${OUT:-$ROOT/bench/results}
for t in nginx gnuplot python3 curl; do
	command -v $t >/dev/null || PATH=$PATH:/usr/sbin
	command -v $t >/dev/null || { echo "bench/soak: $t is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
[[ $SOAK_SECONDS =~ ^[0-9]+$ ]] && [ "$SOAK_SECONDS" -ge 10 ] && [ "$SOAK_SECONDS" -le 86400 ] ||
	{ echo "bench/soak: SOAK_SECONDS is 10..86400, got '$SOAK_SECONDS'" >&2; exit 1; }
mkdir -p "$OUT"

# tests/sys/lib.sh: nginx origins with the served tree ($T/www: /0 ../64m,
# /chunked/..., DAV /up/), tandem_start, metric_sum; it ends every process
# it knows (PIDS, origins) by PID on exit and removes $T.
source "$ROOT/tests/sys/lib.sh"
export PYTHONPATH=$ROOT/tests/sys:$ROOT/bench/soak

alloc_port O1; alloc_port O2
echo "bench/soak: writing the served files (64 MiB of fixed bytes) and starting two nginx origins"
origin_start be1 $O1 || exit 1
origin_start be2 $O2 || exit 1

ENGINES=()
declare -A TPID TPORT TADM
for e in $SOAK_ENGINES; do
	alloc_port L7; alloc_port ADM
	WORKERS=$SOAK_WORKERS cluster_ini "$T/$e.ini" "$e" be1=$O1:$L7:$ADM be2=$O2
	if ! "$TANDEM" -t -c "$T/$e.ini" >"$T/$e.check" 2>&1; then
		echo "bench/soak: engine $e skipped: tandem -t refuses relay = $e ($(head -1 "$T/$e.check"))"
		continue
	fi
	n0=$(grep -c 'listening on' "$T/tandem-be1.log" 2>/dev/null)
	tandem_start "$T/$e.ini" be1 || exit 1
	# an engine the file names but this build does not have falls back
	# (its start line says which engine runs): not a soak of that engine
	wait_for 5 eval '[ "$(grep -c "listening on" "$T/tandem-be1.log")" -gt "${n0:-0}" ]'
	ran=$(grep 'listening on' "$T/tandem-be1.log" | tail -1 | sed -n 's/.*, relay \([a-z]*\).*/\1/p')
	if [ "$ran" != "$e" ]; then
		echo "bench/soak: engine $e skipped: this tandem runs relay = ${ran:-?} for it"
		tandem_stop
		continue
	fi
	ENGINES+=("$e")
	TPID[$e]=$TANDEM_PID; TPORT[$e]=$L7; TADM[$e]=$ADM
done
[ ${#ENGINES[@]} -gt 0 ] || { echo "bench/soak: no engine left to soak" >&2; exit 1; }

fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
pipes() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'pipe:'; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
reqs() { metric_sum tandem_requests_total "${TADM[$1]}"; }

load() { # SECONDS TAG: one client per engine, all at once; waits for them
	local e pids=()
	for e in "${ENGINES[@]}"; do
		python3 "$ROOT/bench/soak/soak.py" "${TPORT[$e]}" "$T/www" "$e" "$1" "$SOAK_THREADS" \
			"$SEED" "$T/$2-$e.json" 2>"$T/$2-$e.err" &
		pids+=($!)
		PIDS+=($!)
	done
	LOAD_PIDS=("${pids[@]}")
}

echo "bench/soak: engines ${ENGINES[*]}; warm-up ${WARMUP}s, then ${SOAK_SECONDS}s with $SOAK_THREADS client threads per engine, a SIGHUP every ${SOAK_RELOAD}s"
# reloads from the warm-up on: the first ones grow RSS once (about 0.5 MB:
# new allocations while the old configuration is still read), which must
# land before the idle "start" sample, not inside the soak
RELOAD_PID=
if [ "$SOAK_RELOAD" -gt 0 ]; then
	( n=0
	  while sleep "$SOAK_RELOAD"; do
		for e in "${ENGINES[@]}"; do kill -HUP "${TPID[$e]}"; done
		n=$((n + 1)); echo $n >"$T/reloads"
	  done ) &
	RELOAD_PID=$!
	PIDS+=($RELOAD_PID)
fi
load "$WARMUP" warmup
wait "${LOAD_PIDS[@]}"
sleep 3
declare -A FD0 RSS0 FD1 RSS1 PIPE0 PIPE1
for e in "${ENGINES[@]}"; do
	FD0[$e]=$(fds "${TPID[$e]}"); RSS0[$e]=$(rss "${TPID[$e]}"); PIPE0[$e]=$(pipes "${TPID[$e]}")
done

CSV=$OUT/soak.csv
echo "t_s,engine,fds,rss_kb,requests" >"$CSV"
t0=$(date +%s)
load "$SOAK_SECONDS" soak
while :; do
	t=$(($(date +%s) - t0))
	for e in "${ENGINES[@]}"; do
		echo "$t,$e,$(fds "${TPID[$e]}"),$(rss "${TPID[$e]}"),$(reqs "$e")" >>"$CSV"
	done
	running=0
	for p in "${LOAD_PIDS[@]}"; do alive "$p" && running=1; done
	[ $running = 1 ] || break
	[ $((t % 60)) -lt "$SAMPLE" ] && [ "$t" -ge "$SAMPLE" ] &&
		echo "bench/soak: ${t}s: $(for e in "${ENGINES[@]}"; do printf '%s %s req, %s fds, %s kB; ' "$e" \
			"$(reqs "$e")" "$(fds "${TPID[$e]}")" "$(rss "${TPID[$e]}")"; done)"
	[ "$t" -le $((SOAK_SECONDS + 120)) ] || { echo "bench/soak: clients overran by 120 s" >&2; break; }
	sleep "$SAMPLE"
done
wait "${LOAD_PIDS[@]}"
[ -n "$RELOAD_PID" ] && kill "$RELOAD_PID" 2>/dev/null
RELOADS=$(cat "$T/reloads" 2>/dev/null || echo 0)
sleep 3
for e in "${ENGINES[@]}"; do
	FD1[$e]=$(fds "${TPID[$e]}"); RSS1[$e]=$(rss "${TPID[$e]}"); PIPE1[$e]=$(pipes "${TPID[$e]}")
done

SUM=$OUT/soak.summary.csv
echo "engine,seconds,reloads,requests,responses,bytes_down,bytes_up,mismatches,errors,aborts,tandem_requests,idle_fds_start,idle_fds_end,idle_pipe_fds_start,idle_pipe_fds_end,idle_rss_kb_start,rss_kb_half,idle_rss_kb_end,rss_kb_max" >"$SUM"
fail=0
for e in "${ENGINES[@]}"; do
	python3 - "$T/soak-$e.json" >"$T/sum-$e" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(",".join(str(d[k]) for k in ["requests", "responses", "bytes_down", "bytes_up", "mismatches", "errors", "aborts"]))
for s in d["samples"]:
    print("# " + s)
PY
	rmax=$(awk -F, -v e="$e" '$2 == e && $4 > m { m = $4 } END { print m + 0 }' "$CSV")
	rhalf=$(awk -F, -v e="$e" -v h=$((SOAK_SECONDS / 2)) '$2 == e && $1 >= h { print $4; exit }' "$CSV")
	echo "$e,$SOAK_SECONDS,$RELOADS,$(head -1 "$T/sum-$e"),$(reqs "$e"),${FD0[$e]},${FD1[$e]},${PIPE0[$e]},${PIPE1[$e]},${RSS0[$e]},$rhalf,${RSS1[$e]},$rmax" >>"$SUM"
	grep '^#' "$T/sum-$e" | sed "s/^# /bench\/soak: $e: /" | head -10
	IFS=, read -r _ _ _ _ mis err _ <<<"$(head -1 "$T/sum-$e")"
	[ "$mis" = 0 ] && [ "$err" = 0 ] || { echo "bench/soak: $e: $mis mismatches, $err errors"; fail=1; }
	[ "${FD1[$e]}" -le $((FD0[$e] + FD_SLACK)) ] ||
		{ echo "bench/soak: $e: idle fds grew from ${FD0[$e]} to ${FD1[$e]}"; fail=1; }
	[ "${RSS1[$e]}" -le $((rhalf * (100 + RSS_SLACK_PCT) / 100)) ] ||
		{ echo "bench/soak: $e: RSS grew in the second half, from $rhalf to ${RSS1[$e]} kB"; fail=1; }
	[ -s "$T/soak-$e.err" ] && sed "s/^/bench\/soak: $e client: /" "$T/soak-$e.err" | tail -5
done
echo
column -s, -t "$SUM"

# RSS and fds over time, one line per engine
for fmt in png svg; do
	if [ $fmt = png ]; then term="pngcairo size 900,600"; else term="svg size 900,600"; fi
	plots_rss=""; plots_fd=""
	for e in "${ENGINES[@]}"; do
		plots_rss+="\"< awk -F, '\$2 == \\\"$e\\\"' $CSV\" using 1:(\$4/1024) with lines lw 2 title \"$e\", "
		plots_fd+="\"< awk -F, '\$2 == \\\"$e\\\"' $CSV\" using 1:3 with lines lw 2 title \"$e\", "
	done
	gnuplot <<GP || echo "bench/soak: gnuplot failed for $fmt" >&2
set terminal $term
set output "$OUT/soak.$fmt"
set multiplot layout 2,1 title "Soak: tandem l7 under a mixed load for ${SOAK_SECONDS}s, per relay engine"
set datafile separator ","
set grid
set key bottom right
set xlabel "seconds"
set ylabel "RSS (MiB)"
set yrange [0:*]
plot ${plots_rss%, }
set ylabel "open fds"
plot ${plots_fd%, }
unset multiplot
GP
done
echo "bench/soak: wrote $CSV, $SUM, $OUT/soak.png, $OUT/soak.svg"
[ $fail = 0 ] && echo "bench/soak: PASS: no mismatch, no error, no fd or RSS growth" || echo "bench/soak: FAIL"
exit $fail
