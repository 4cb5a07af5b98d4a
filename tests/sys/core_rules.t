#!/usr/bin/env bash
# core_rules.t: content-aware distribution with three real nginx origins:
# rules partition paths over groups on one keep-alive connection; chash maps
# a URL to the same node from two different L7 switches, and removing a node
# moves only that node's URLs; weighted rr splits 1:3; wlc avoids a slow
# origin; weight 0 drains; a dead origin is marked down, probed and put
# back, with no failed GET meanwhile; a class over max_inflight queues and
# answers 503 with Retry-After after queue_timeout; a more urgent class goes
# first, a class held back by its own limit holds back no other, and a
# reload starts the queued requests; a client that half-closes while queued
# keeps its place. The Web-QoS checks hold their requests
# in flight at a gated fake origin (l7_fake_origin.py /hold/) until every
# other request is where the check needs it, so no outcome depends on how
# fast the box runs.
source "$(dirname "$0")/origin.sh"

make_files
mkdir -p "$T/www/images" "$T/www/cgi"
for i in $(seq 0 299); do echo "img $i" > "$T/www/images/$i.png"; done
echo script > "$T/www/cgi/run"
chmod -R a+rX "$T/www"
ORIGIN_DELAY_be3=0.3
for i in 1 2 3; do origin_start be$i $((BASE + i)) || { echo "Bail out! nginx be$i"; exit 1; }; done
[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] || echo "# no echo module: slow-origin checks will fail"
gate() { curl -s --max-time 5 "http://127.0.0.1:$GATE/gate/$1"; } # close | open | log
# the gated origin on the first port of BASE+4..BASE+9 it can bind (the
# one it answers on must be this process: another test's server could hold it)
GATE=
for p in $(seq $((BASE + 4)) $((BASE + 9))); do
	PYTHONPATH=$(dirname "$0") python3 "$(dirname "$0")/l7_fake_origin.py" $p 900 2> /dev/null &
	gp=$!
	for _ in $(seq 100); do
		kill -0 $gp 2> /dev/null || break
		curl -s -o /dev/null "http://127.0.0.1:$p/" && break
		sleep 0.05
	done
	if kill -0 $gp 2> /dev/null && [ "$(GATE=$p gate open)" = open ]; then
		GATE=$p; PIDS+=($gp); break
	fi
	kill $gp 2> /dev/null
done
[ -n "$GATE" ] || { echo "Bail out! the gated origin (l7_fake_origin.py) did not start"; exit 1; }
until_gate() { # N: waits (up to 30 s) until N requests have reached the gate
	for _ in $(seq 300); do [ "$(gate log | wc -w)" -ge "$1" ] && return 0; sleep 0.1; done
	return 1
}
# SIGHUP, then waits (up to 30 s) for the log line that says the workers took it
reload() {
	local n
	n=$(grep -c 'reload: .*generation' "$T/tandem-be2.log")
	kill -HUP $TANDEM_PID
	for _ in $(seq 300); do
		[ "$(grep -c 'reload: .*generation' "$T/tandem-be2.log")" -gt "$n" ] && return 0
		sleep 0.1
	done
	echo "# reload not logged within 30 s"
	return 1
}

conf() { # FILE, extra lines appended
	cat > "$1" <<CONF
[l7]
workers = 1
check_interval = 200ms
fail_down = 2
[node be1]
web = 127.0.0.1:$((BASE + 1))
l7 = 127.0.0.1:$((BASE + 11))
admin = 127.0.0.1:$((BASE + 21))
[node be2]
web = 127.0.0.1:$((BASE + 2))
l7 = 127.0.0.1:$((BASE + 12))
admin = 127.0.0.1:$((BASE + 22))
[node be3]
web = 127.0.0.1:$((BASE + 3))
l7 = 127.0.0.1:$((BASE + 13))
admin = 127.0.0.1:$((BASE + 23))
[node gate]
web = 127.0.0.1:$GATE
CONF
	cat >> "$1"
}

conf "$T/a.ini" <<CONF
[group images]
nodes = be1 be2
policy = chash
[group cgi]
nodes = be3
[group default]
nodes = be1 be2 be3
[rule images]
path_prefix = /images/
group = images
[rule cgi]
path_prefix = /cgi/
method = GET
group = cgi
CONF
"$TANDEM" -t -c "$T/a.ini" > /dev/null; ok $? "the cluster file passes tandem -t"
tandem_start "$T/a.ini" be1 $((BASE + 21)) || { echo "Bail out! tandem be1"; exit 1; }
tandem_start "$T/a.ini" be2 $((BASE + 22)) || { echo "Bail out! tandem be2"; exit 1; }
S1=http://127.0.0.1:$((BASE + 11)); S2=http://127.0.0.1:$((BASE + 12))

# one keep-alive connection mixing the three kinds of path
args=()
for i in 1 2 3 4 5 6; do args+=(-o /dev/null "$S1/images/$i.png" -o /dev/null "$S1/cgi/run" -o /dev/null "$S1/1k"); done
curl -s -D "$T/mix" -w '%{num_connects}\n' "${args[@]}" > "$T/conns"
is "$(paste -sd+ "$T/conns" | bc)" 1 "18 requests on one connection"
tr -d '\r' < "$T/mix" | awk '/^X-Origin/ { print $2 }' > "$T/orig"
img=$(awk 'NR % 3 == 1' "$T/orig" | sort -u | tr '\n' ' ')
cgi=$(awk 'NR % 3 == 2' "$T/orig" | sort -u | tr '\n' ' ')
oth=$(awk 'NR % 3 == 0' "$T/orig" | sort -u | tr '\n' ' ')
ok $(echo "$img" | grep -qv be3 && echo 0 || echo 1) "/images/ answered by the images group only ($img)"
is "$cgi" "be3 " "/cgi/ answered by be3 only"
is "$oth" "be1 be2 be3 " "other paths spread over all three"
# (nginx answers a POST to a static file 405, with its X-Origin: the cgi
# rule would send all six to be3, the default group's rr sends two to each)
o=$(for i in 1 2 3 4 5 6; do curl -s -D - -o /dev/null -X POST "$S1/cgi/run"; done |
	tr -d '\r' | awk '/^X-Origin/ { print $2 }' | sort -u | tr '\n' ' ')
is "$o" "be1 be2 be3 " "method matcher ANDed: six POST /cgi/run are not the cgi rule's, the default group answers them"

# chash: the same URL lands on the same node from two different switches
map() { # SWITCH_URL -> "i node" per line
	for i in $(seq 0 299); do
		printf '%d %s\n' $i "$(curl -s -D - -o /dev/null "$1/images/$i.png" | tr -d '\r' | awk '/^X-Origin/ { print $2 }')"
	done
}
map "$S1" > "$T/m1"; map "$S2" > "$T/m2"
is "$(diff "$T/m1" "$T/m2" | grep -c '^<')" 0 "chash: 300 URLs map to the same node from be1's and be2's switch"
n1=$(grep -c be1 "$T/m1"); n2=$(grep -c be2 "$T/m1")
ok $([ $n1 -gt 100 ] && [ $n2 -gt 100 ] && echo 0 || echo 1) "chash: both nodes get a share ($n1:$n2)"

# removing a node moves only its URLs: a three-node chash group, then two
conf "$T/c3.ini" <<CONF
[group images]
nodes = be1 be2 be3
policy = chash
[rule images]
path_prefix = /images/
group = images
CONF
sed 's/^nodes = be1 be2 be3/nodes = be1 be2/' "$T/c3.ini" > "$T/c2.ini"
kill -TERM ${PIDS[-1]}
for _ in $(seq 100); do kill -0 ${PIDS[-1]} 2>/dev/null || break; sleep 0.1; done
tandem_start "$T/c3.ini" be2 $((BASE + 22)) || { echo "Bail out! tandem c3"; exit 1; }
map "$S2" > "$T/m3"
cp "$T/c2.ini" "$T/c3.ini"; reload
map "$S2" > "$T/m4"
moved=$(paste "$T/m3" "$T/m4" | awk '$2 != "be3" && $2 != $4 { n++ } END { print n + 0 }')
on3=$(grep -c be3 "$T/m3")
is "$moved" 0 "chash: after removing be3, none of the $((300 - on3)) URLs on be1/be2 moved"
echo "# chash: be3 held $on3 of 300 URLs ($((on3 * 100 / 300))%); they moved, nothing else did"

# weighted rr 1:3
conf "$T/w.ini" <<CONF
[group default]
nodes = be1 be2
CONF
sed -i 's/^\[node be2\]/[node be2]\nweight = 3/' "$T/w.ini"
cp "$T/w.ini" "$T/c3.ini"; reload
b1=$(metric 'tandem_requests_total{node="be1",code="2xx"}' $((BASE + 22)))
b2=$(metric 'tandem_requests_total{node="be2",code="2xx"}' $((BASE + 22)))
args=(); for i in $(seq 1000); do args+=(-o /dev/null "$S2/0"); done
curl -s "${args[@]}"
d1=$(( $(metric 'tandem_requests_total{node="be1",code="2xx"}' $((BASE + 22))) - b1 ))
d2=$(( $(metric 'tandem_requests_total{node="be2",code="2xx"}' $((BASE + 22))) - b2 ))
ok $([ $d1 -ge 240 ] && [ $d1 -le 260 ] && [ $d2 -ge 740 ] && [ $d2 -le 760 ] && echo 0 || echo 1) \
	"rr with weights 1:3 splits 1000 requests $d1:$d2"

# wlc avoids a slow origin (be3 answers /slow/ after 0.3 s)
conf "$T/l.ini" <<CONF
[group default]
nodes = be1 be2 be3
policy = wlc
CONF
cp "$T/l.ini" "$T/c3.ini"; reload
lp=()
for j in $(seq 8); do
	( for i in $(seq 15); do curl -s -D - -o /dev/null "$S2/slow/x$j$i"; done | tr -d '\r' | awk '/^X-Origin/ { print $2 }' ) > "$T/wlc.$j" &
	lp+=($!)
done
wait "${lp[@]}"
s3=$(cat "$T"/wlc.* | grep -c be3); tot=$(cat "$T"/wlc.* | wc -l)
# (about 10 on a quiet box; a loaded one makes every origin slow, so the
# bound sits between that and rr's share)
ok $([ $tot -eq 120 ] && [ $s3 -lt 30 ] && echo 0 || echo 1) "wlc: the slow origin got $s3 of $tot requests (rr would give 40)"

# drain and node down
conf "$T/d.ini" <<CONF
[group default]
nodes = be1 be2 be3
CONF
sed -i '/^\[node be3\]/a weight = 0' "$T/d.ini"
cp "$T/d.ini" "$T/c3.ini"; reload
o=$(for i in $(seq 30); do curl -s -D - -o /dev/null "$S2/0"; done | tr -d '\r' | awk '/^X-Origin/ { print $2 }' | sort -u | tr '\n' ' ')
is "$o" "be1 be2 " "weight 0 drains be3"
sed -i '/^weight = 0/d' "$T/c3.ini"; reload
origin_kill be3
fails=0; codes=""
for i in $(seq 60); do
	c=$(curl -s -o /dev/null -w '%{http_code}' "$S2/1k"); [ "$c" = 200 ] || fails=$((fails + 1))
done
is "$fails" 0 "GETs while be3 dies: none failed (retried on another node)"
is "$(metric 'tandem_node_up{node="be3"}' $((BASE + 22)))" 0 "be3 marked down"
origin_start be3 $((BASE + 3))
for _ in $(seq 30); do [ "$(metric 'tandem_node_up{node="be3"}' $((BASE + 22)))" = 1 ] && break; sleep 0.1; done
is "$(metric 'tandem_node_up{node="be3"}' $((BASE + 22)))" 1 "be3 marked up again once its health check answers"
o=$(for i in $(seq 9); do curl -s -D - -o /dev/null "$S2/0"; done | tr -d '\r' | awk '/^X-Origin/ { print $2 }' | sort -u | tr '\n' ' ')
is "$o" "be1 be2 be3 " "be3 serves again"

# Web-QoS: class bulk at most 1 in flight, 0.5 s queue. q1 is held in
# flight at the gate; q2..q5 wait in the queue and are refused after
# queue_timeout while it is still held; then the gate opens and q1 is served
conf "$T/q.ini" <<CONF
[group gate]
nodes = gate
[class bulk]
priority = 2
max_inflight = 1
queue_timeout = 500ms
[rule bulk]
path_prefix = /hold/
group = gate
class = bulk
CONF
cp "$T/q.ini" "$T/c3.ini"; reload
gate close > /dev/null
qc() { curl -s --max-time 60 -D "$T/q.h$1" -o /dev/null -w '%{http_code}\n' "$S2/hold/q$1" > "$T/q.$1"; }
qc 1 & q1=$!
until_gate 1
lp=(); for j in 2 3 4 5; do qc $j & lp+=($!); done
wait "${lp[@]}"
gate open > /dev/null
wait $q1
is "$(cat "$T"/q.[1-5] | tr '\n' ' ')" "200 503 503 503 503 " \
	"bulk over max_inflight 1: the one in flight served, the four queued behind it refused after queue_timeout"
is "$(grep -l 'Retry-After: 1' "$T"/q.h[2-5] | wc -l)" 4 "each 503 says Retry-After: 1 (queue_timeout 500 ms, rounded up)"
is "$(gate log)" "q1" "the refused requests never reached the origin"
is "$(metric 'tandem_class_queued_total{class="bulk"}' $((BASE + 22)))" 4 "four queued requests counted"
is "$(metric 'tandem_class_rejected_total{class="bulk"}' $((BASE + 22)))" 4 "four refused requests counted"

# Web-QoS priority: one request in flight for the whole switch (lo1, held at
# the gate); lo2 and lo3 queue, then a hi request arrives; the gate opens:
# the origin sees hi1 before both queued lo requests, and lo2 before lo3
conf "$T/p.ini" <<CONF
[group gate]
nodes = gate
[class hi]
priority = 0
queue_timeout = 60s
[class lo]
priority = 2
queue_timeout = 60s
[rule hi]
path_prefix = /hold/hi
group = gate
class = hi
[rule lo]
path_prefix = /hold/lo
group = gate
class = lo
CONF
sed -i 's/^workers = 1$/workers = 1\nmax_inflight = 1/' "$T/p.ini"
cp "$T/p.ini" "$T/c3.ini"; reload
fin() { curl -s --max-time 120 -o /dev/null -w '%{http_code}\n' "$S2/hold/$1" >> "$T/codes"; }
until_metric() { # 'name{labels}' VALUE: waits up to 30 s
	for _ in $(seq 300); do [ "$(metric "$1" $((BASE + 22)))" = "$2" ] && return 0; sleep 0.1; done
	echo "# $1 did not reach $2 within 30 s"
	return 1
}
gate close > /dev/null; : > "$T/codes"; lp=()
fin lo1 & lp+=($!); until_gate 1
fin lo2 & lp+=($!); until_metric 'tandem_class_queue_length{class="lo"}' 1
fin lo3 & lp+=($!); until_metric 'tandem_class_queue_length{class="lo"}' 2
fin hi1 & lp+=($!); until_metric 'tandem_class_queue_length{class="hi"}' 1
is "$(gate log)" "lo1" "max_inflight 1: only lo1 reached the origin while lo2, lo3 and hi1 wait"
gate open > /dev/null
wait "${lp[@]}"
is "$(gate log)" "lo1 hi1 lo2 lo3" \
	"max_inflight 1: a later hi request is served before lo requests queued earlier; lo keeps its order"
is "$(sort "$T/codes" | uniq -c | awk '{ printf "%s x%s ", $2, $1 }')" "200 x4 " "all four answered 200"
is "$(metric 'tandem_class_queued_total{class="lo"}' $((BASE + 22)))" 2 "both waiting lo requests counted as queued"

# a class held back only by its own max_inflight does not hold back a less
# urgent class that has room: hi (max_inflight 1) has one held at the gate
# and two queued; lo1 and lo2 reach the origin meanwhile
sed -i 's/^max_inflight = 1$/max_inflight = 8/; s/^priority = 0$/priority = 0\nmax_inflight = 1/' "$T/p.ini"
cp "$T/p.ini" "$T/c3.ini"; reload
qhi=$(metric 'tandem_class_queued_total{class="hi"}' $((BASE + 22)))
qlo=$(metric 'tandem_class_queued_total{class="lo"}' $((BASE + 22)))
gate close > /dev/null; : > "$T/codes"; lp=()
for j in 1 2 3; do fin hi$j & lp+=($!); done
until_metric 'tandem_class_queue_length{class="hi"}' 2
for j in 1 2; do fin lo$j & lp+=($!); done
until_gate 3
is "$(gate log | tr ' ' '\n' | sed 's/^hi[123]$/hi/' | sort | tr '\n' ' ')" "hi lo1 lo2 " \
	"one hi and both lo requests reached the origin"
is "$(metric 'tandem_class_queue_length{class="hi"}' $((BASE + 22)))" 2 "while two hi requests still wait"
gate open > /dev/null
wait "${lp[@]}"
is "$(sort "$T/codes" | uniq -c | awk '{ printf "%s x%s ", $2, $1 }')" "200 x5 " "five requests answered 200"
is "$(gate log | wc -w)" 5 "all five reached the origin"
is $(($(metric 'tandem_class_queued_total{class="hi"}' $((BASE + 22))) - qhi)) 2 "hi over its own max_inflight 1: two queued"
is $(($(metric 'tandem_class_queued_total{class="lo"}' $((BASE + 22))) - qlo)) 0 "lo started at once, none queued"
is "$(metric 'tandem_class_rejected_total{class="hi"}' $((BASE + 22)))" 0 "none refused"

# a client that half-closes (FIN after its request) while its request waits
# in the queue keeps its place and gets its response
gate close > /dev/null; : > "$T/codes"; lp=()
fin hi1 & lp+=($!); until_gate 1
python3 - $((BASE + 12)) > "$T/half" <<'PY' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=120)
s.sendall(b"GET /hold/hihalf HTTP/1.1\r\nHost: t\r\n\r\n")
s.shutdown(socket.SHUT_WR)
d = b""
while True:
    x = s.recv(65536)
    if not x:
        break
    d += x
print(d.split(b"\r\n")[0].decode(), d.endswith(b"\r\n\r\nhihalf\n"))
PY
lp+=($!)
until_metric 'tandem_class_queue_length{class="hi"}' 1
is "$(gate log)" "hi1" "a half-closed client's request waits in the queue behind hi1"
gate open > /dev/null
wait "${lp[@]}"
is "$(cat "$T/half")" "HTTP/1.1 200 OK True" "a client that half-closed while queued kept its place: 200 and its body"
is "$(gate log)" "hi1 hihalf" "and its request reached the origin after hi1"
is "$(metric 'tandem_class_cancelled_total{class="hi"}' $((BASE + 22)))" 0 "nothing cancelled"

# a reload while requests wait in a class queue: they start, none is lost
gate close > /dev/null; : > "$T/codes"; lp=()
for j in 1 2 3; do fin hi$j & lp+=($!); done
until_metric 'tandem_class_queue_length{class="hi"}' 2
reload
gate open > /dev/null
wait "${lp[@]}"
is "$(sort "$T/codes" | uniq -c | awk '{ printf "%s x%s ", $2, $1 }')" "200 x3 " "reload with two requests queued: all three answered 200"
is "$(gate log | wc -w)" 3 "all three reached the origin"
is "$(metric 'tandem_class_queue_length{class="hi"}' $((BASE + 22)))" 0 "nothing left in the queue"

done_testing
