#!/usr/bin/env bash
# l7_bodies.t: response and request bodies through tandem l7, with every relay
# engines, are byte-identical to the files the origins serve. Sizes 0 B to
# 64 MiB over one keep-alive client connection whose successive requests
# alternate between two real nginx origins; eight clients at once; uploads
# with Expect: 100-continue and chunked (nginx DAV PUT), fetched back.
source "$(dirname "$0")/lib.sh"

SIZES="0 1 1k 16k 256k 1m 4m 64m"
# 16 requests on one connection: every size, then back down without 64m
SEQ="0 1 1k 16k 256k 1m 4m 64m 4m 1m 256k 16k 1k 1 0 16k"

alloc_port O1; alloc_port O2
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $O2 || { echo "Bail out! nginx be2"; exit 1; }
declare -A SUM
for s in $SIZES; do SUM[$s]=$(sha "$T/www/$s"); done

# ---- the origins themselves, fetched directly: the reference
bad=0
for o in $O1 $O2; do
	for s in $SIZES; do
		[ "$(curl -s --http1.1 "http://127.0.0.1:$o/$s" | sha)" = "${SUM[$s]}" ] || bad=$((bad + 1))
	done
done
is "$bad" 0 "direct: both nginx origins serve every file byte-identical"
is "$(curl -s -D - -o /dev/null "http://127.0.0.1:$O2/1k" | tr -d '\r' | grep '^X-Origin')" \
	"X-Origin: be2" "direct: origins name themselves in X-Origin"

for engine in ${ENGINES:-copy splice sockmap $PACKET}; do
	alloc_port L7; alloc_port ADM
	# two workers (SO_REUSEPORT) for splice and sockmap, one for copy
	WORKERS=1; [ $engine != copy ] && WORKERS=2
	cluster_ini "$T/$engine.ini" $engine be1=$O1:$L7:$ADM be2=$O2
	tandem_start "$T/$engine.ini" be1 || { echo "Bail out! tandem $engine"; exit 1; }
	U=http://127.0.0.1:$L7
	before=$(access_count)

	# ---- every size on one keep-alive connection, alternating origins
	# shellcheck disable=SC2086
	is "$(fetch_seq "$U" $SEQ)" "1:16" "$engine: 16 requests, all 200, over one client connection"
	is "$(bad_bodies $engine)" 0 \
		"$engine: 16 bodies of 0 B..64 MiB byte-identical (sha256)"
	origins=$(tr -d '\r' < "$T/heads" | awk '/^X-Origin:/ { printf "%s ", $2 }')
	is "$origins" "$(for i in $(seq 8); do printf 'be1 be2 '; done)" \
		"$engine: successive requests alternate be1, be2, be1, ..."
	is "$(($(access_count) - before))" 16 "$engine: the origins logged the 16 requests"
	cls=$(tr -d '\r' < "$T/heads" | awk 'tolower($1) == "content-length:" { printf "%s ", $2 }')
	want=$(for s in $SEQ; do printf '%s ' "$(stat -c %s "$T/www/$s")"; done)
	is "$cls" "$want" "$engine: every Content-Length is the file's size"

	r1=$(metric 'tandem_requests_total{node="be1",code="2xx"}'); r2=$(metric 'tandem_requests_total{node="be2",code="2xx"}')
	is "$r1:$r2" "8:8" "$engine: /metrics counts 8 2xx requests per node"
	u1=$(metric 'tandem_pool_reused_total{node="be1"}'); u2=$(metric 'tandem_pool_reused_total{node="be2"}')
	o1=$(metric 'tandem_pool_opened_total{node="be1"}'); o2=$(metric 'tandem_pool_opened_total{node="be2"}')
	ok $([ "${u1:-0}" -ge 6 ] && [ "${u2:-0}" -ge 6 ] && [ "${o1:-9}" -le 2 ] && [ "${o2:-9}" -le 2 ] && echo 0 || echo 1) \
		"$engine: upstream connections pooled (opened be1 $o1 be2 $o2, reused be1 $u1 be2 $u2)"
	spl=$(metric 'tandem_relay_bytes_total{engine="splice"}'); cpy=$(metric 'tandem_relay_bytes_total{engine="copy"}')
	total=$(for s in $SEQ; do stat -c %s "$T/www/$s"; done | awk '{ s += $1 } END { print s }')
	if [ $engine = splice ]; then
		ok $([ "${spl:-0}" -ge $((64 << 20)) ] && echo 0 || echo 1) "splice: the large bodies were spliced ($spl B spliced, $cpy B copied)"
	elif [ $engine = packet ]; then
		pkt=$(metric 'tandem_relay_bytes_total{engine="packet"}')
		ok $([ "${pkt:-0}" -ge $((32 << 20)) ] && [ $((pkt + spl + cpy)) -ge "$total" ] && echo 0 || echo 1) \
			"packet: the large bodies went packet by packet ($pkt B at packet level, $spl B spliced, $cpy B copied of $total)"
		drops=$(metric_sum 'tandem_relay_packet_drops_total')
		is "${drops:-x}" 0 "packet: the tc programs dropped no segment"
	elif [ $engine = sockmap ]; then
		krn=$(metric 'tandem_relay_bytes_total{engine="sockmap"}')
		ok $([ "${spl:-x}" = 0 ] && [ "${krn:-0}" -ge $((16 << 20)) ] && [ $((krn + cpy)) -ge "$total" ] && echo 0 || echo 1) \
			"sockmap: large bodies went through the kernel, nothing spliced ($krn B in the kernel, $cpy B copied of $total)"
	else
		ok $([ "${spl:-x}" = 0 ] && [ "${cpy:-0}" -ge "$total" ] && echo 0 || echo 1) \
			"copy: every body copied, nothing spliced ($cpy B copied of $total, $spl B spliced)"
	fi

	# ---- eight clients at once, each on its own keep-alive connection
	rm -f "$T"/par.* "$T"/k.*
	for c in $(seq 8); do
		for s in 4m 1m 256k 16k 1k 0 4m 1; do
			printf 'url = "%s/%s"\noutput = "%s/par.%d.%s.%s"\n' "$U" "$s" "$T" "$c" "$RANDOM$RANDOM" "$s" >> "$T/k.$c"
		done
	done
	cpids=()
	for c in $(seq 8); do
		curl -s --http1.1 --max-time 60 -K "$T/k.$c" -w '%{num_connects} %{http_code}\n' > "$T/par.w$c" &
		cpids+=($!)
	done
	wait "${cpids[@]}"
	codes=$(cat "$T"/par.w* | awk '$2 == 200 { n++ } { c += $1 } END { print n + 0 ":" c + 0 }')
	is "$codes" "64:8" "$engine: 8 concurrent clients x 8 requests: 64 x 200 over 8 connections"
	bad=0
	for f in "$T"/par.*.*.*; do
		s=${f##*.}
		[ "$(sha "$f")" = "${SUM[$s]}" ] || bad=$((bad + 1))
	done
	is "$bad" 0 "$engine: every concurrent body byte-identical"

	# ---- uploads: Expect: 100-continue with Content-Length, and chunked
	code=$(curl -s --http1.1 --max-time 30 -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' \
		-T "$T/www/4m" "$U/up/$engine-cl")
	is "$code" 201 "$engine: 4 MiB PUT with Expect: 100-continue: 201"
	code=$(curl -s --http1.1 --max-time 30 -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		-T - "$U/up/$engine-ch" < "$T/www/1m")
	is "$code" 201 "$engine: 1 MiB chunked PUT: 201"
	code=$(curl -s --http1.1 --max-time 30 -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		-T - "$U/up/$engine-ch0" < /dev/null)
	is "$code" 201 "$engine: empty chunked PUT: 201"
	code=$(curl -s --http1.1 --max-time 30 -o /dev/null -w '%{http_code}' -T "$T/www/16k" "$U/up/$engine-16k")
	is "$code" 201 "$engine: 16 KiB PUT: 201"
	got=$(for f in cl ch ch0 16k; do curl -s --max-time 30 "$U/up/$engine-$f" | sha; done | tr '\n' ' ')
	is "$got" "${SUM[4m]} ${SUM[1m]} ${SUM[0]} ${SUM[16k]} " "$engine: uploaded bodies fetched back through tandem are identical"

	# ---- a short load: many connections, no error
	if command -v wrk >/dev/null; then
		for s in 1k 256k; do
			wrk -t2 -c64 -d$((2 * SLOW))s "$U/$s" > "$T/wrk.out" 2>&1
			n=$(awk '/requests in/ { print $1 }' "$T/wrk.out")
			errs=$(grep -E 'Socket errors|Non-2xx' "$T/wrk.out" | tr -s ' ')
			ok $([ -z "$errs" ] && [ "${n:-0}" -gt 100 ] && echo 0 || echo 1) \
				"$engine: wrk -c64 for 2 s on /$s: $n requests, no error${errs:+ ($errs)}"
		done
		is "$(metric_sum 'tandem_local_responses_total')" 0 "$engine: no response made by tandem itself under load"
	fi

	tandem_stop
	is "$STOP_RC" 0 "$engine: SIGTERM: tandem exits with status 0"
	grep -qiE 'asan|runtime error|leak' "$T/tandem-be1.log" && { echo "# sanitizer report:"; sed 's/^/#   /' "$T/tandem-be1.log" | head -30; }
	: > "$T/tandem-be1.log"
done

done_testing
