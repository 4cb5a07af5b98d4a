#!/bin/bash
# bench/scaling/run.sh: the paper's scaling experiment (section IV, Figure
# 9) in the emulated cluster: req/s against the number of back ends for
#   two-level        tandem l4 (DR; tc on the lab's veths) on fe; tandem l7 + nginx on every back end
#   central-tandem   tandem l7 on fe (budget of one node) to every back end's nginx
#   central-haproxy  HAProxy 2.6 on fe, same budget (mode http, splice-response,
#                    http-reuse always, nbthread 1)
#   l4-only          tandem l4 to nginx directly, no content rules: the ceiling
#   two-level-nolocal two-level with prefer_local = no in every group: rr
#                    sends (N-1)/N of the requests to other back ends (the
#                    scheme before local-first routing, to show its gain)
#   two-level-tcp    two-level with each tandem l7 reaching its own nginx
#                    over 127.0.0.1:8080 (LAB_LOCAL=tcp) instead of nginx's
#                    unix socket (the default, local = unix:...), to show
#                    what the unix socket gains
# Two workloads: keep-alive (P-HTTP, wrk + lab/mix.lua) and one connection
# per request (the same requests with "Connection: close"); the latter is
# written as MODE-close. Each point is run REPS times and the median kept.
# Output: bench/results/scaling.csv (mode,nodes,rps,p99_ms), every run with
# its CPU use in bench/results/scaling.runs.csv, the plot in
# bench/results/scaling.png and .svg. Settings: bench/BENCHMARK.md.
#
# The HTTPS workload (TLS=1, or MODES naming only these; make
# bench-scaling-tls): the same requests to https://VIP/ (port 443) for
#   two-level-tls        tandem l4 on fe spreading VIP:443; every back end's
#                        tandem l7 terminates TLS (one certificate, one
#                        shared ticket key file), then as two-level
#   central-haproxy-tls  HAProxy on fe terminating TLS at VIP:443, then as
#                        central-haproxy
#   central-tandem-tls   tandem l7 on fe terminating TLS (not in the default
#                        MODES)
# One ECDSA P-256 certificate and one ticket key for the whole run, made
# with the openssl CLI (lab.sh, LAB_TLS_DIR under this run's temp dir); wrk
# is pinned with OPENSSL_CONF to TLS 1.3, SUITE (TLS_AES_128_GCM_SHA256)
# and X25519, HAProxy to SUITE too, and each cluster is checked to
# negotiate that before it is measured. In MODE-close runs wrk reconnects
# with its SSL object, which keeps the session: those connections mostly
# resume by ticket (no certificate signature, still an X25519 exchange),
# on any back end since they share the ticket key. The client pays for
# TLS too, with no budget: client_cpu and idle in the runs file say
# whether it ran short of CPU. Writes bench/results/scaling_tls.csv,
# .runs.csv, .png and .svg; the plain results are left alone.
#
# The large-object workload (LARGE=1; make bench-scaling-large): wrk with
# WRK_MIX=large (lab/mix.lua): keep-alive GETs of /large/lK.bin, 256 KiB to
# 4 MiB (1.55 MiB on average), for
#   two-level-packet     two-level with relay = packet on every back end
#                        (lab.sh LAB_RELAY=packet: tc programs on eth0 and
#                        lo; Content-Length bodies of 256 KiB and more
#                        spliced at packet level)
#   two-level            the same with relay = splice
#   central-haproxy      as above
# (central-tandem, central-tandem-packet and l4-only may be named too).
# The back ends route as in the plain runs (prefer_local = yes unless
# LAB_PREFER_LOCAL=no): most bodies come from the back end's own nginx
# over lo (two-level-packet reaches it over 127.0.0.1, not its unix
# socket, whose bodies the engine cannot take), whose segments the packet
# engine's pool clamp (MSS 1460) makes fit the client's path, and spills
# from other back ends over eth0.
# Besides req/s the CSV has mb_s (response
# bytes, heads included, per second, in 10^6 bytes: wrk's count) and
# pkt_pct (for tandem modes: the share of the body bytes tandem moved that
# went at packet level over the point, from the L7 switches' metrics, both
# workloads and the warm-up included); the plot is MB/s. Writes
# bench/results/scaling_large.csv, .runs.csv, .png and .svg.
#
# Environment: NODES ("1 2 ... 9"), MODES, REPS (3), DUR (seconds per run,
# 2; 4 with TLS=1), WARM (1), CONNS (wrk connections, 64), THREADS (2),
# CPU_BE (percent of a core per back end, 10), CPU_FE (= CPU_BE),
# CPU_CLIENT (0: no limit), CLOSE (1: also the connection-per-request
# runs), QUICK=1 (NODES="1 3 5 9", REPS=1, DUR=2), OUT (bench/results), TLS
# (1: the HTTPS workload, MODES default "two-level-tls
# central-haproxy-tls"), SUITE (its TLS 1.3 suite), LARGE (1: the
# large-object workload, MODES default "two-level-packet two-level
# central-haproxy", DUR 4).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LAB=$ROOT/lab/lab.sh

if [ "${QUICK:-0}" = 1 ]; then
	NODES=${NODES:-"1 3 5 9"}; REPS=${REPS:-1}; DUR=${DUR:-2}
fi
NODES=${NODES:-"1 2 3 4 5 6 7 8 9"}
# the HTTPS workload: asked for, or the only one MODES names
if [ -z "${TLS:-}" ] && [ -n "${MODES:-}" ]; then
	TLS=1
	for m in $MODES; do [[ $m == *-tls ]] || TLS=0; done
fi
TLS=${TLS:-0}
LARGE=${LARGE:-0}
if [ "$TLS" = 1 ]; then
	MODES=${MODES:-"two-level-tls central-haproxy-tls"}
elif [ "$LARGE" = 1 ]; then
	MODES=${MODES:-"two-level-packet two-level central-haproxy"}
else
	MODES=${MODES:-"two-level two-level-tcp two-level-nolocal central-tandem central-haproxy l4-only"}
fi
SUITE=${SUITE:-TLS_AES_128_GCM_SHA256}
REPS=${REPS:-3}
# HTTPS: every run starts with CONNS full handshakes (a new wrk process
# resumes nothing), a larger share of a short run
if [ "$TLS" = 1 ] || [ "$LARGE" = 1 ]; then DUR=${DUR:-4}; else DUR=${DUR:-2}; fi
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
for t in wrk nginx haproxy curl gnuplot $([ "$TLS" = 1 ] && echo openssl); do
	command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh)"
done
[ "$TLS$LARGE" != 11 ] || die "TLS=1 and LARGE=1 are two workloads: one at a time"
for m in $MODES; do
	case $TLS:$m in
	1:two-level-tls | 1:central-tandem-tls | 1:central-haproxy-tls) ;;
	0:two-level | 0:two-level-nolocal | 0:two-level-tcp | 0:central-tandem | 0:central-haproxy | 0:l4-only) ;;
	0:two-level-packet | 0:central-tandem-packet) ;;
	*) die "mode $m does not go with TLS=$TLS (plain and HTTPS modes run apart: their own CSVs)" ;;
	esac
done
[ -x "$LAB_TANDEM" ] || die "no tandem at $LAB_TANDEM (make first)"

TMP=$(mktemp -d /tmp/tandem-scaling.XXXXXX)
cleanup() { "$LAB" down >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$OUT"
NAME=scaling URL=http://$VIP/
WRK=(env)
if [ "$TLS" = 1 ]; then
	NAME=scaling_tls URL=https://$VIP/
	# one certificate and ticket key for every cluster of the run (lab.sh
	# makes them there on the first); the clients' OpenSSL pinned: TLS 1.3,
	# one suite, one group
	export LAB_TLS_DIR=$TMP/tls LAB_TLS_SUITE=$SUITE
	"$ROOT/bench/tls/client_cnf.sh" "$SUITE" >"$TMP/client.cnf"
	WRK=(env OPENSSL_CONF="$TMP/client.cnf")
elif [ "$LARGE" = 1 ]; then
	NAME=scaling_large
	WRK=(env WRK_MIX=large)
fi
RUNS=$OUT/$NAME.runs.csv
echo "mode,nodes,rep,rps,p99_ms,errors,client_cpu,fe_cpu,be_cpu,be_throttled,idle$(
	[ "$LARGE" = 1 ] && echo ,mb_s)" >"$RUNS"

idle_ticks() { awk '$1 == "cpu" { print $5 + $6 }' /proc/stat; }

# One wrk run from the client; appends a line to the runs CSV and prints
# "RPS P99_MS MB_S". CPU use is per second of the run, in percent of one
# core; MB/s (10^6 bytes) from wrk's byte count (LARGE=1 only in the CSV).
run_once() { # MODE NODES REP CLOSE
	local mode=$1 n=$2 rep=$3 close=$4 i0 i1 out rps p99 err name=$1 t0 t1 mbs
	[ "$close" = 1 ] && name=$mode-close
	"$LAB" cpu >"$TMP/cpu0"
	i0=$(idle_ticks); t0=$(date +%s%N)
	out=$("$LAB" exec client "${WRK[@]}" WRK_CLOSE="$close" timeout $((DUR + 20)) wrk -t"$THREADS" \
		-c"$CONNS" -d"${DUR}s" --timeout 5s -s "$ROOT/lab/mix.lua" "$URL" 2>&1)
	t1=$(date +%s%N); i1=$(idle_ticks)
	"$LAB" cpu >"$TMP/cpu1"
	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	p99=$(awk '/^mix:/ { printf "%.2f", $7 / 1000 }' <<<"$out")
	err=$(awk '/^mix:/ { print $5 }' <<<"$out")
	mbs=$(awk '/^mix:/ && $11 > 0 { printf "%.1f", $9 / $11 }' <<<"$out")
	[ -n "$rps" ] || { echo "$out" >&2; rps=0; p99=0; err=-1; }
	join "$TMP/cpu0" "$TMP/cpu1" | awk -v s="$(( (t1 - t0) / 1000000 ))" \
		-v pre="$name,$n,$rep,$rps,$p99,$err" -v idle="$(( (i1 - i0) ))" -v hz="$(getconf CLK_TCK)" \
		-v post="$([ "$LARGE" = 1 ] && echo ",${mbs:-0}")" '
		{ u = ($6 - $2) / 1e4 / s                 # percent of one core
		  if ($1 == "client") c = u; else if ($1 == "fe") f = u
		  else { b += u; bt += $7 - $3 } }
		END { printf "%s,%.1f,%.1f,%.1f,%d,%.0f%s\n", pre, c, f, b, bt, idle * 100 / hz / (s / 1000), post }' \
		>>"$RUNS"
	echo "$rps $p99 ${mbs:-0}"
}

# The L7 switches of a tandem mode: every back end, or fe
l7_hosts() { # MODE
	case $1 in
	two-level*) seq -f 'be%g' 1 "$2" ;;
	central-tandem*) echo fe ;;
	esac
}

# Their relay counters summed: "PACKET_BYTES ALL_BYTES REASON=N ..." (the
# packet engine's fallbacks that happened); nothing for a mode without
# tandem l7
relay_counts() { # MODE NODES
	local h
	for h in $(l7_hosts "$1" "$2"); do
		"$LAB" exec "$h" curl -s -m 2 http://127.0.0.1:9301/metrics
	done | awk '
		/^tandem_relay_bytes_total\{/ { a += $2; if ($1 ~ /engine="packet"/) p += $2; seen = 1 }
		/^tandem_relay_packet_fallbacks_total\{/ && $2 > 0 {
			r = $1; sub(/.*reason="/, "", r); sub(/".*/, "", r); fb[r] += $2 }
		END { if (!seen) exit; printf "%.0f %.0f", p, a; for (r in fb) printf " %s=%.0f", r, fb[r]; print "" }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

declare -A RPS P99 MBS PKT
start=$(date +%s)
total=$(( $(wc -w <<<"$NODES") * $(wc -w <<<"$MODES") ))
k=0
echo "scaling: nodes {$NODES} x modes {$MODES}, $REPS x ${DUR}s per point" \
	"($([ "$TLS" = 1 ] && echo "HTTPS, TLS 1.3 $SUITE, ")keep-alive$([ "$CLOSE" = 1 ] && echo " and connection per request")), budgets: back end" \
	"$CPU_BE%, front end $CPU_FE%, client ${CPU_CLIENT/#0/no limit}$([ "$CPU_CLIENT" != 0 ] && echo %)"
for n in $NODES; do
	for mode in $MODES; do
		k=$((k + 1))
		# MODE-packet: lab.sh's MODE with relay = packet in tandem's files
		# MODE-nolocal: lab.sh's MODE with prefer_local = no in the groups
		# MODE-tcp: lab.sh's MODE with local = 127.0.0.1:8080
		relay=splice local=${LAB_PREFER_LOCAL:-yes} how=${LAB_LOCAL:-unix}
		# a unix socket carries no TCP segments to translate: packet
		# modes reach the node's own nginx over 127.0.0.1 (its bodies
		# otherwise never go at packet level) unless LAB_LOCAL says how
		[[ $mode == *-packet ]] && relay=packet how=${LAB_LOCAL:-tcp}
		[[ $mode == *-nolocal ]] && local=no
		[[ $mode == *-tcp ]] && how=tcp
		if ! LAB_RELAY=$relay LAB_PREFER_LOCAL=$local LAB_LOCAL=$how "$LAB" cluster "$n" \
			"$(sed -E 's/-(packet|nolocal|tcp)$//' <<<"$mode")" --cpu-be "$CPU_BE" \
			--cpu-fe "$CPU_FE" --cpu-client "$CPU_CLIENT" >"$TMP/lab.log" 2>&1; then
			sed 's/^/  lab: /' "$TMP/lab.log" >&2
			die "cluster $n $mode did not come up"
		fi
		if [ "$relay" = packet ] && ! grep -qs 'relay packet: tc programs' \
			"$LAB_STATE"/log/*-l7.log; then
			echo "scaling: $mode: packet-level splicing does not run here, tandem uses splice:" \
				"$(grep -hos 'relay packet: .*' "$LAB_STATE"/log/*-l7.log | head -1)" >&2
		fi
		grep -q 'no content rules' "$TMP/lab.log" && NORULES=1
		if [ "$TLS" = 1 ]; then
			# what the measuring client negotiates here: the pinned suite
			neg=$("$LAB" exec client "${WRK[@]}" timeout 10 openssl s_client -brief \
				-connect "$VIP:443" </dev/null 2>&1 | awk -F': *' '
				$1 == "Protocol version" { p = $2 } $1 == "Ciphersuite" { c = $2 }
				END { printf "%s/%s", p, c }')
			[ "$neg" = "TLSv1.3/$SUITE" ] || die "$mode with $n nodes negotiates '$neg', not TLSv1.3/$SUITE"
		fi
		"$LAB" exec client "${WRK[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${WARM}s" -s "$ROOT/lab/mix.lua" \
			"$URL" >/dev/null 2>&1
		for close in 0 $([ "$CLOSE" = 1 ] && echo 1); do
			name=$mode; [ "$close" = 1 ] && name=$mode-close
			: >"$TMP/r"; : >"$TMP/p"; : >"$TMP/m"
			for rep in $(seq 1 "$REPS"); do
				read -r r p m < <(run_once "$mode" "$n" "$rep" "$close")
				echo "$r" >>"$TMP/r"; echo "$p" >>"$TMP/p"; echo "$m" >>"$TMP/m"
			done
			RPS[$name,$n]=$(median <"$TMP/r")
			P99[$name,$n]=$(awk '{ printf "%.0f\n", $1 * 100 }' "$TMP/p" | median |
				awk '{ printf "%.2f", $1 / 100 }')
			MBS[$name,$n]=$(awk '{ printf "%.0f\n", $1 * 10 }' "$TMP/m" | median |
				awk '{ printf "%.1f", $1 / 10 }')
			printf '[%3ds %2d/%d] %-22s nodes %d: %7s req/s  p99 %7s ms%s  (runs: %s)\n' \
				$(( $(date +%s) - start )) "$k" "$total" "$name" "$n" "${RPS[$name,$n]}" \
				"${P99[$name,$n]}" "$([ "$LARGE" = 1 ] && printf '  %7s MB/s' "${MBS[$name,$n]}")" \
				"$(tr '\n' ' ' <"$TMP/r")"
		done
		# what tandem's relay engines carried over the point (both workloads)
		read -r pb ab fb < <(relay_counts "$mode" "$n")
		if [ -n "${ab:-}" ]; then
			pct=$(awk -v p="$pb" -v a="$ab" 'BEGIN { printf "%.1f", (a > 0) ? p * 100 / a : 0 }')
			for name in "$mode" $([ "$CLOSE" = 1 ] && echo "$mode-close"); do PKT[$name,$n]=$pct; done
			[ "$relay" = packet ] && echo "    $mode nodes $n: $pct% of $ab body bytes at packet" \
				"level; fallbacks: ${fb:-none}"
		fi
		"$LAB" down >/dev/null 2>&1
	done
done

CSV=$OUT/$NAME.csv
{
	echo "mode,nodes,rps,p99_ms$([ "$LARGE" = 1 ] && echo ,mb_s,pkt_pct)"
	for mode in $MODES; do
		for name in "$mode" $([ "$CLOSE" = 1 ] && echo "$mode-close"); do
			for n in $NODES; do
				echo "$name,$n,${RPS[$name,$n]},${P99[$name,$n]}$([ "$LARGE" = 1 ] &&
					echo ",${MBS[$name,$n]},${PKT[$name,$n]:-}")"
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
		echo "set termoption noenhanced"        # the suite's underscores as written
		echo "set datafile separator ','"
		echo "set key top left"
		echo "set grid"
		echo "set xlabel 'back-end nodes'"
		if [ "$LARGE" = 1 ]; then
			echo "set ylabel 'MB/s (10^6 bytes, wrk)'"
		else
			echo "set ylabel 'req/s'"
		fi
		echo "set xrange [0.5:$(( $(tr ' ' '\n' <<<"$NODES" | sort -n | tail -1) ))+0.5]"
		echo "set yrange [0:*]"
		echo "set multiplot layout 1,$cols"
		for suffix in "" $([ "$CLOSE" = 1 ] && echo "-close"); do
			if [ -z "$suffix" ]; then
				echo "set title '$([ "$TLS" = 1 ] && echo "HTTPS (TLS 1.3 $SUITE), ")$([ "$LARGE" = 1 ] && echo "256 KiB-4 MiB objects, ")keep-alive (P-HTTP), back end $CPU_BE% of a core each'"
			else
				echo "set title '$([ "$TLS" = 1 ] && echo "HTTPS, ")$([ "$LARGE" = 1 ] && echo "256 KiB-4 MiB objects, ")one connection per request$([ "$TLS" = 1 ] && echo " (mostly resumed)")'"
			fi
			printf "plot "
			sep=
			for mode in $MODES; do
				printf "%s'%s' using 2:(strcol(1) eq '%s' ? \$%d : 1/0) with linespoints title '%s'" \
					"$sep" "$CSV" "$mode$suffix" "$([ "$LARGE" = 1 ] && echo 5 || echo 3)" "$mode"
				sep=", "
			done
			echo
		done
		echo "unset multiplot"
	} >"$TMP/plot.gp"
	gnuplot "$TMP/plot.gp" || echo "scaling: gnuplot failed for $2" >&2
}
plot "pngcairo size 1200,500 font ',10'" "$OUT/$NAME.png" 2>/dev/null ||
	plot "png size 1200,500" "$OUT/$NAME.png"
plot "svg size 1200,500" "$OUT/$NAME.svg"

echo
echo "scaling: done in $(( $(date +%s) - start )) s; $CSV, $OUT/$NAME.png, $RUNS"
# issue 16's aim for HTTPS: two-level at the most nodes >= 5x central HAProxy
top=$(tr ' ' '\n' <<<"$NODES" | sort -n | tail -1)
for suffix in "" $([ "$CLOSE" = 1 ] && echo "-close"); do
	a=${RPS[two-level-tls$suffix,$top]:-} b=${RPS[central-haproxy-tls$suffix,$top]:-}
	[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt 0 ] &&
		awk -v a="$a" -v b="$b" -v n="$top" -v s="$suffix" 'BEGIN {
			printf "scaling: two-level-tls%s at %d nodes carries %.1fx central-haproxy-tls%s (aim: >= 5x)\n", s, n, a / b, s }'
done
[ "${NORULES:-0}" = 1 ] && echo "scaling: note: tandem took no content rules: L7 levels ran plain rr"
column -s, -t "$CSV" 2>/dev/null || cat "$CSV"
