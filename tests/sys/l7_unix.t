#!/usr/bin/env bash
# l7_unix.t: a node's own web server over a unix socket (`local =
# unix:/path`). Node be1's L7 switch, in front of a group of be1 and be2
# with prefer_local, sends be1's requests to be1's nginx over its unix
# socket (nginx logs them from "unix:"), with every relay engine: bodies of
# 0 B..64 MiB on one keep-alive connection byte for byte, the pooled
# connection reused, bodies spliced out of the unix socket (splice), left
# to user space by the kernel engines, which take only TCP (counted as
# tandem_relay_fallback_total{reason="unix"}; packet then splices them,
# sockmap copies them), uploads into it. When be1's
# nginx dies its requests go to be2; once it is back, the health check
# that marks be1 up again goes over the unix socket too. And tandem -t
# refuses a relative, empty or too long path with file:line.
source "$(dirname "$0")/lib.sh"

SEQ="0 1 1k 16k 256k 1m 4m 64m 4m 1m 256k 16k 1k 1 0 16k"
alloc_port O1; alloc_port O2
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $O2 || { echo "Bail out! nginx be2"; exit 1; }
SOCK=$T/origin-be1/http.sock
declare -A SUM
for s in 0 1 1k 16k 256k 1m 4m 64m; do SUM[$s]=$(sha "$T/www/$s"); done
[ -S "$SOCK" ] || echo "# nginx made no unix socket at $SOCK: everything below fails"

conf() { # FILE ENGINE LOCAL L7 ADMIN
	cat > "$1" <<CONF
[cluster]
relay = $2
[l7]
workers = 2
check_interval = 200ms
fail_down = 1
$([ "$2" = packet ] && echo 'splice_ifaces = lo')
[node be1]
web = 127.0.0.1:$O1
local = $3
l7 = 127.0.0.1:$4
admin = 127.0.0.1:$5
[node be2]
web = 127.0.0.1:$O2
[group default]
nodes = be1 be2
policy = rr
prefer_local = yes
CONF
}

# ---- bad paths: tandem -t names the file, the line and the key
long=/$(printf 'x%.0s' $(seq 110))
for bad in "unix:relative/http.sock" "unix:" "unix:$long"; do
	conf "$T/bad.ini" splice "$bad" 1 2
	out=$("$TANDEM" -t -c "$T/bad.ini" 2>&1); rc=$?
	line=$(grep -n '^local' "$T/bad.ini" | cut -d: -f1)
	case $rc:$out in
	1:*"bad.ini:$line:"*local*) ok 0 "tandem -t refuses local = ${bad:0:30}... at bad.ini:$line";;
	*) ok 1 "tandem -t refuses local = ${bad:0:30}... at bad.ini:$line (rc $rc: $out)";;
	esac
done
conf "$T/good.ini" splice "unix:$SOCK" 1 2
"$TANDEM" -t -c "$T/good.ini" > /dev/null 2>&1; ok $? "local = unix:$SOCK passes tandem -t"

# ---- a path nobody listens on: said at start; the group's other node answers
alloc_port L7; alloc_port ADM
conf "$T/nope.ini" splice "unix:$T/nope.sock" $L7 $ADM
tandem_start "$T/nope.ini" be1 || { echo "Bail out! tandem nope"; exit 1; }
grep -q "local = unix:$T/nope.sock: No such file or directory" "$T/tandem-be1.log"
ok $? "a missing socket is said at start"
is "$(curl -s -D - -o /dev/null --max-time 10 "http://127.0.0.1:$L7/1k" | tr -d '\r' |
	awk '/^HTTP/ { c = $2 } /^X-Origin:/ { o = $2 } END { print c "/" o }')" 200/be2 \
	"a missing socket: the request is answered by the other node"
tandem_stop

for engine in copy splice sockmap $PACKET; do
	alloc_port L7; alloc_port ADM
	conf "$T/$engine.ini" $engine "unix:$SOCK" $L7 $ADM
	tandem_start "$T/$engine.ini" be1 || { echo "Bail out! tandem $engine"; exit 1; }
	U=http://127.0.0.1:$L7
	grep -q "node be1: its own web server over unix:$SOCK" "$T/tandem-be1.log"
	ok $? "$engine: the start says where the node's own web server is"
	before=$(grep -c '^unix:' "$T/origin-be1/access.log")

	# shellcheck disable=SC2086
	is "$(fetch_seq "$U" $SEQ)" "1:16" "$engine: 16 requests, all 200, over one client connection"
	is "$(bad_bodies $engine)" 0 "$engine: 16 bodies of 0 B..64 MiB byte-identical (sha256)"
	origins=$(tr -d '\r' < "$T/heads" | awk '/^X-Origin:/ { printf "%s ", $2 }')
	is "$origins" "$(for i in $(seq 16); do printf 'be1 '; done)" "$engine: all 16 served by the local nginx"
	is "$(($(grep -c '^unix:' "$T/origin-be1/access.log") - before))" 16 \
		"$engine: be1's nginx got the 16 over its unix socket"
	is "$(metric 'tandem_group_local_total{group="default"}'):$(metric 'tandem_requests_total{node="be1",code="2xx"}')" \
		"16:16" "$engine: counted local, 16 2xx at be1"
	o=$(metric 'tandem_pool_opened_total{node="be1"}'); u=$(metric 'tandem_pool_reused_total{node="be1"}')
	ok $([ "${o:-9}" -le 2 ] && [ "${u:-0}" -ge 14 ] && echo 0 || echo 1) \
		"$engine: the unix connection is pooled (opened $o, reused $u)"
	spl=$(metric 'tandem_relay_bytes_total{engine="splice"}'); cpy=$(metric 'tandem_relay_bytes_total{engine="copy"}')
	unx=$(metric 'tandem_relay_fallback_total{reason="unix"}')
	case $engine in
	copy)
		ok $([ "${spl:-x}" = 0 ] && [ "${unx:-x}" = 0 ] && echo 0 || echo 1) \
			"copy: every body copied ($cpy B), no fallback counted ($unx)" ;;
	splice)
		ok $([ "${spl:-0}" -ge $((64 << 20)) ] && [ "${unx:-x}" = 0 ] && echo 0 || echo 1) \
			"splice: the large bodies spliced out of the unix socket ($spl B spliced, $cpy B copied)" ;;
	*)
		# sockmap's user-space side copies (its sockets cannot be
		# spliced from), packet's splices
		krn=$(metric "tandem_relay_bytes_total{engine=\"$engine\"}")
		moved=$cpy; [ $engine = packet ] && moved=$spl
		ok $([ "${krn:-x}" = 0 ] && [ "${moved:-0}" -ge $((64 << 20)) ] && [ "${unx:-0}" -ge 1 ] && echo 0 || echo 1) \
			"$engine: the unix connection left to user space and counted ($krn B by $engine, $spl B spliced, $cpy B copied, fallback unix $unx)" ;;
	esac

	code=$(curl -s --http1.1 --max-time 30 -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' \
		-T "$T/www/4m" "$U/up/$engine-cl")
	code=$code:$(curl -s --http1.1 --max-time 30 -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		-T - "$U/up/$engine-ch" < "$T/www/1m")
	is "$code" 201:201 "$engine: 4 MiB PUT (Expect: 100-continue) and 1 MiB chunked PUT into the unix socket: 201"
	got=$(for f in cl ch; do curl -s --max-time 30 "$U/up/$engine-$f" | sha; done | tr '\n' ' ')
	is "$got" "${SUM[4m]} ${SUM[1m]} " "$engine: the uploaded bodies fetched back are identical"
	tandem_stop
	is "$STOP_RC" 0 "$engine: tandem l7 exits 0 at SIGTERM"
done

# ---- the local nginx dies, then comes back: the health check goes over
# the unix socket too
alloc_port L7; alloc_port ADM
conf "$T/fail.ini" splice "unix:$SOCK" $L7 $ADM
tandem_start "$T/fail.ini" be1 || { echo "Bail out! tandem"; exit 1; }
U=http://127.0.0.1:$L7
is "$(curl -s -D - -o /dev/null "$U/1k" | tr -d '\r' | awk '/^X-Origin:/ { print $2 }')" be1 "up: served by be1"
origin_stop be1
codes=$(for i in $(seq 10); do curl -s -D - -o /dev/null --max-time 10 "$U/1k" |
	tr -d '\r' | awk '/^HTTP/ { c = $2 } /^X-Origin:/ { o = $2 } END { printf "%s/%s ", c, o }'; done)
is "$codes" "$(for i in $(seq 10); do printf '200/be2 '; done)" "be1's nginx killed: 10 requests answered by be2"
is "$(metric 'tandem_node_up{node="be1"}' $ADM)" 0 "be1 marked down"
origin_start be1 $O1 || { echo "Bail out! nginx be1 again"; exit 1; }
wait_for 10 eval '[ "$(metric "tandem_node_up{node=\"be1\"}" $ADM)" = 1 ]'; ok $? "be1 marked up again by its health check"
checks=$(grep -c '^unix: .*"GET / HTTP/1.1"' "$T/origin-be1/access.log")
ok $([ "$checks" -ge 1 ] && echo 0 || echo 1) "the health check went over the unix socket ($checks in be1's log)"
is "$(curl -s -D - -o /dev/null "$U/1k" | tr -d '\r' | awk '/^X-Origin:/ { print $2 }')" be1 "up again: served by be1"
done_testing
