#!/bin/bash
# budget_check.sh: does a CPU budget behave like a machine of that speed?
# One two-level node (tandem l7 + nginx on be1, tandem l4 on fe) is loaded
# at budgets B, 2B, 4B, 8B (percent of one core); if the budget emulates a
# machine k times as fast, req/s at k*B divided by k equals req/s at B.
# Prints "budget rps rps_per_B ratio" per budget (ratio: to the B row), the
# median of REPS runs of DUR seconds. Used for the table in doc/lab.md.
# Environment: B (10), REPS (3), DUR (3), CONNS (64), MODE (two-level).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LAB=$HERE/lab.sh
B=${B:-10}
REPS=${REPS:-3}
DUR=${DUR:-3}
CONNS=${CONNS:-64}
MODE=${MODE:-two-level}
export LAB_PREFIX=${LAB_PREFIX:-bud$$}
export LAB_STATE=/tmp/tandem-lab-$LAB_PREFIX
[ "$(id -u)" -eq 0 ] || { echo "budget_check: needs root" >&2; exit 1; }
trap '"$LAB" down >/dev/null 2>&1' EXIT
trap 'exit 1' INT TERM

base=
printf '%-8s %8s %10s %7s %s\n' budget rps "rps/k" ratio runs
for k in 1 2 4 8; do
	"$LAB" cluster 1 "$MODE" --cpu-be $((k * B)) --cpu-fe $((k * B)) >/dev/null 2>&1 ||
		{ echo "budget_check: cluster at $((k * B))% did not come up" >&2; exit 1; }
	"$LAB" exec client wrk -t2 -c"$CONNS" -d1s -s "$HERE/mix.lua" http://198.18.0.100/ >/dev/null 2>&1
	runs=
	for _ in $(seq 1 "$REPS"); do
		r=$("$LAB" exec client wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$HERE/mix.lua" \
			http://198.18.0.100/ 2>&1 | awk '/^Requests\/sec:/ { printf "%.0f", $2 }')
		runs="$runs ${r:-0}"
	done
	med=$(tr ' ' '\n' <<<"$runs" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	per=$((med / k))
	[ -n "$base" ] || base=$per
	printf '%-8s %8d %10d %7.2f %s\n' "$((k * B))%" "$med" "$per" "$(awk -v a="$per" -v b="$base" 'BEGIN { print a / b }')" "$runs"
	"$LAB" down >/dev/null 2>&1
done
