#!/usr/bin/env bash
# l7_reload_nodes.t: a reload keeps per-node state with the node's name.
# Three nginx origins a, b, c behind one tandem l7 (two workers, wlc); the
# file also lists 60 idle nodes in no group, so that every one of the 64
# node indexes ends up in use. b's origin dies and b is marked down; then,
# under a steady load of GETs, three reloads: the [node] sections
# reordered, a node d added in the middle, node c removed. Right after
# each one /metrics shows b down (and only b), no request goes to b, no
# node's counters go backwards, d takes requests, c's series are gone; no
# GET of the load fails. With all indexes in use, a file that removes b
# and adds two nodes is refused (b's index is not free before the next
# reload) and changes nothing; one that adds e alone gives it c's index,
# with counters that start at 0. Finally b's origin comes back and the
# probe, which follows b's name, puts b back.
source "$(dirname "$0")/lib.sh"

alloc_port OA; alloc_port OB; alloc_port OC; alloc_port OD; alloc_port L7; alloc_port ADM
declare -A WEB=([a]=$OA [b]=$OB [c]=$OC [d]=$OD)
for n in a b c; do origin_start $n ${WEB[$n]} || { echo "Bail out! nginx $n"; exit 1; }; done

WEB[e]=$OC     # e, added last, is served by c's origin
conf() { # FILE NODE...: one [node] section per NODE, in that order, then
	# the 60 idle ones; the default group lists NODE... in name order (so
	# only the sections move)
	local f=$1 n; shift
	{
		printf '[l7]\nworkers = 2\nfail_down = 3\ncheck_interval = 3s\n'
		for n in "$@"; do
			printf '[node %s]\nweb = 127.0.0.1:%s\n' $n ${WEB[$n]}
			[ $n = a ] && printf 'l7 = 127.0.0.1:%s\nadmin = 127.0.0.1:%s\n' $L7 $ADM
		done
		for n in $(seq 60); do printf '[node idle%d]\nweb = 127.0.0.1:%s\n' $n $OA; done
		printf '[group default]\nnodes = %s\npolicy = wlc\n' "$(printf '%s\n' "$@" | sort | tr '\n' ' ')"
	} > "$f"
}

LOG=$T/tandem-a.log
RELOADS=0
reload() { # NODE...: the running file rewritten with these sections, SIGHUP,
	# and wait for the reload to be done (every worker on the new file)
	conf "$T/run.ini" "$@"
	RELOADS=$((RELOADS + 1))
	kill -HUP $TANDEM_PID
	wait_for 5 grep -q "generation $RELOADS\$" "$LOG"
}

scrape() { curl -s --max-time 5 "http://127.0.0.1:$ADM/metrics" > "$1"; }
# per-node values of one scrape: requests (every status class), failures, up
reqs() { awk -v k="tandem_requests_total{node=\"$2\"," 'index($1, k) == 1 { s += $2 } END { printf "%d\n", s }' "$1"; }
fails() { awk -v k="tandem_upstream_failures_total{node=\"$2\"}" '$1 == k { print $2 }' "$1"; }
up() { awk -v k="tandem_node_up{node=\"$2\"}" '$1 == k { print $2 }' "$1"; }
series() { grep -c "node=\"$2\"" "$1"; }

# which of the nodes NAME... has a request or failure count below PREV's ("none")
monotonic() { # PREV CUR NAME...
	local prev=$1 cur=$2 n bad=""; shift 2
	for n in "$@"; do
		[ "$(reqs "$cur" $n)" -ge "$(reqs "$prev" $n)" ] &&
			[ "$(fails "$cur" $n)" -ge "$(fails "$prev" $n)" ] || bad="$bad $n"
	done
	echo "${bad:-none}"
}

for order in "a b c" "c a b" "c d a b" "d a b" "d a e x" "d a b e"; do
	WEB[x]=$OC
	conf "$T/t.ini" $order
	"$TANDEM" -t -c "$T/t.ini" > /dev/null; ok $? "the cluster file with sections $order passes tandem -t"
done
conf "$T/run.ini" a b c
tandem_start "$T/run.ini" a || { echo "Bail out! tandem"; exit 1; }

o=$(for i in $(seq 30); do curl -s -D - -o /dev/null "http://127.0.0.1:$L7/1k"; done |
	tr -d '\r' | awk '/^X-Origin/ { print $2 }' | sort -u | tr '\n' ' ')
is "$o" "a b c " "a, b and c serve"

# ---- b's origin dies: its GETs are retried elsewhere, b is marked down
origin_stop b
codes=""
for i in $(seq 60); do
	codes="$codes$(curl -s -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$L7/1k")"
	[ "$(metric 'tandem_node_up{node="b"}')" = 0 ] && break
done
is "$(echo $codes | tr ' ' '\n' | grep -vc '^200$')" 0 "GETs while b dies: every one 200 (retried on another node)"
scrape "$T/m0"
is "$(up "$T/m0" a) $(up "$T/m0" b) $(up "$T/m0" c)" "1 0 1" "b marked down, a and c up"

# ---- a steady load through the reloads: two clients, four keep-alive GETs
# per connection, until told to stop (at most 500 connections each)
load() { # N
	local u=http://127.0.0.1:$L7/1k
	for _ in $(seq 500); do
		[ -e "$T/stop" ] && break
		curl -s --max-time 10 -w '%{http_code}\n' -o /dev/null $u -o /dev/null $u \
			-o /dev/null $u -o /dev/null $u
	done > "$T/codes.$1"
}
load 1 & LOAD1=$!; PIDS+=($LOAD1)
load 2 & LOAD2=$!; PIDS+=($LOAD2)
sleep 0.5
scrape "$T/m1"

# ---- reload 1: the [node] sections reordered
reload c a b; ok $? "reload 1 (sections c a b) done"
scrape "$T/m2"
is "$(up "$T/m2" a) $(up "$T/m2" b) $(up "$T/m2" c)" "1 0 1" "right after the reorder: b still down, a and c up"
is "$(monotonic "$T/m1" "$T/m2" a b c)" none "right after the reorder: no node's counters went backwards"
sleep 1
scrape "$T/m3"
is "$(up "$T/m3" b) $(reqs "$T/m3" b) $(fails "$T/m3" b)" "0 $(reqs "$T/m1" b) $(fails "$T/m1" b)" \
	"after the reorder: b still down, no request went to b"
ok $([ "$(reqs "$T/m3" a)" -gt "$(reqs "$T/m2" a)" ] && [ "$(reqs "$T/m3" c)" -gt "$(reqs "$T/m2" c)" ] &&
	echo 0 || echo 1) "after the reorder: a and c take the load"
is "$(monotonic "$T/m2" "$T/m3" a b c)" none "after the reorder: no node's counters went backwards"

# ---- reload 2: node d added, between the others
origin_start d $OD || { echo "Bail out! nginx d"; exit 1; }
reload c d a b; ok $? "reload 2 (sections c d a b) done"
scrape "$T/m4"
is "$(up "$T/m4" a) $(up "$T/m4" b) $(up "$T/m4" c) $(up "$T/m4" d)" "1 0 1 1" \
	"right after adding d: b still down, a, c and d up"
is "$(monotonic "$T/m3" "$T/m4" a b c)" none "right after adding d: no node's counters went backwards"
sleep 1
scrape "$T/m5"
is "$(up "$T/m5" b) $(reqs "$T/m5" b) $(fails "$T/m5" b)" "0 $(reqs "$T/m1" b) $(fails "$T/m1" b)" \
	"after adding d: b still down, no request went to b"
ok $([ "$(reqs "$T/m5" d)" -gt 0 ] && echo 0 || echo 1) "after adding d: d takes requests ($(reqs "$T/m5" d))"
is "$(monotonic "$T/m4" "$T/m5" a b c d)" none "after adding d: no node's counters went backwards"

# ---- reload 3: node c removed
reload d a b; ok $? "reload 3 (sections d a b) done"
scrape "$T/m6"
is "$(up "$T/m6" a) $(up "$T/m6" b) $(up "$T/m6" d)" "1 0 1" "right after removing c: b still down, a and d up"
is "$(series "$T/m6" c)" 0 "right after removing c: c's series are gone"
is "$(monotonic "$T/m5" "$T/m6" a b d)" none "right after removing c: no node's counters went backwards"
sleep 1
scrape "$T/m7"
is "$(up "$T/m7" b) $(reqs "$T/m7" b) $(fails "$T/m7" b)" "0 $(reqs "$T/m1" b) $(fails "$T/m1" b)" \
	"after removing c: b still down, no request went to b"
ok $([ "$(reqs "$T/m7" a)" -gt "$(reqs "$T/m6" a)" ] && [ "$(reqs "$T/m7" d)" -gt "$(reqs "$T/m6" d)" ] &&
	echo 0 || echo 1) "after removing c: a and d take the load"
is "$(monotonic "$T/m6" "$T/m7" a b d)" none "after removing c: no node's counters went backwards"

touch "$T/stop"
wait $LOAD1 $LOAD2
n=$(cat "$T"/codes.* | wc -l)
is "$(cat "$T"/codes.* | grep -vc '^200$')" 0 "the load through three reloads: every one of $n GETs 200"
ok $([ "$n" -ge 200 ] && echo 0 || echo 1) "the load ran through the reloads ($n GETs)"

# ---- every index in use (d took the last one, c left a tombstone): b out
# and two new nodes in needs 65
conf "$T/run.ini" d a e x
kill -HUP $TANDEM_PID
wait_for 5 grep -q 'needs more than 64 node indexes' "$LOG"
ok $? "remove b, add e and x: refused, needs more than 64 indexes"
scrape "$T/m8"
is "$(up "$T/m8" b) $(series "$T/m8" e) $(series "$T/m8" x)" "0 0 0" \
	"the refused file changed nothing: b still there and down, no e, no x"

# ---- e alone: it takes c's index; c's counters are not e's
reload d a b e; ok $? "reload 4 (sections d a b e) done"
scrape "$T/m9"
ok $([ "$(reqs "$T/m5" c)" -gt 0 ] && echo 0 || echo 1) "c had served $(reqs "$T/m5" c) requests"
is "$(up "$T/m9" b) $(up "$T/m9" e) $(reqs "$T/m9" e) $(fails "$T/m9" e)" "0 1 0 0" \
	"e on c's index: up, its counters start at 0, not at c's"
ne=$(for i in $(seq 30); do curl -s -D - -o /dev/null "http://127.0.0.1:$L7/1k"; done |
	tr -d '\r' | grep -c '^X-Origin: c')
scrape "$T/m10"
is "$(reqs "$T/m10" e)" "$ne" "e counts what it serves ($ne of 30)"
is "$(monotonic "$T/m7" "$T/m10" a b d)" none "a, b and d's counters went on"
is "$(grep -c 'marked down' "$LOG")" 1 "one node was ever marked down"
grep -q 'node b marked down' "$LOG"; ok $? "... and that was b"

# ---- b's origin comes back: the probe finds b under its name
origin_start b $OB || { echo "Bail out! nginx b again"; exit 1; }
wait_for 10 eval '[ "$(metric "tandem_node_up{node=\"b\"}")" = 1 ]'
is "$(metric 'tandem_node_up{node="b"}')" 1 "b's origin back: b marked up again"
o=$(for i in $(seq 12); do curl -s -D - -o /dev/null "http://127.0.0.1:$L7/1k"; done |
	tr -d '\r' | awk '/^X-Origin/ { print $2 }' | sort -u | tr '\n' ' ')
is "$o" "a b c d " "a, b, d and e (c's origin) serve"

tandem_stop
is "$STOP_RC" 0 "SIGTERM: exit status 0"
done_testing
