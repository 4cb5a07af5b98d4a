#!/usr/bin/env bash
# qos_flood.t: Web-QoS under a bulk flood. A wrk flood of slow "bulk"
# requests, far more than the bulk class may have in flight, runs through one
# tandem l7 while a client sends "interactive" requests one after another:
# every interactive request is answered 200 without ever waiting in a queue;
# bulk never has more than its max_inflight at the origins; bulk requests
# past queue_timeout get 503 with Retry-After, each one counted in /metrics.
# Interactive latency, unloaded and under the flood, is printed (medians and
# their ratio), not asserted: these machines are too noisy for a threshold.
# A client that resets while queued leaves the queue at once.
source "$(dirname "$0")/lib.sh"

command -v wrk >/dev/null || { skip_all "wrk missing"; exit 0; }
[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] || { skip_all "nginx echo module missing (/slow/)"; exit 0; }

alloc_port O1; alloc_port O2; alloc_port L7; alloc_port ADM
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $O2 || { echo "Bail out! nginx be2"; exit 1; }
BULK_MAX=4
CONNS=48
cluster_ini "$T/q.ini" splice be1=$O1:$L7:$ADM be2=$O2 -- "max_inflight = 64"
cat >> "$T/q.ini" <<CONF
[class interactive]
priority = 0
queue_timeout = 5s
[class bulk]
priority = 2
max_inflight = $BULK_MAX
queue_timeout = 1s
[rule bulk]
path_prefix = /slow/
class = bulk
[rule interactive]
path_prefix = /
class = interactive
CONF
"$TANDEM" -t -c "$T/q.ini" > "$T/t.out" 2>&1; ok $? "the cluster file checks" || sed 's/^/# /' "$T/t.out"
tandem_start "$T/q.ini" be1 || { echo "Bail out! tandem"; exit 1; }
U=http://127.0.0.1:$L7

# N interactive requests one after another: "CODE SECONDS" per line, and
# the bulk class's in-flight gauge sampled between them
interactive() { # N OUT
	for _ in $(seq "$1"); do
		curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$U/1k"
		metric 'tandem_class_inflight{class="bulk"}' >> "$T/inflight"
	done > "$2"
}
median() { awk '{ print $2 }' "$1" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: > "$T/inflight"
interactive 40 "$T/idle"
is "$(awk '$1 == 200' "$T/idle" | wc -l)" 40 "unloaded: 40 interactive requests answered 200"

rej0=$(metric 'tandem_class_rejected_total{class="bulk"}')
: > "$T/inflight"
wrk -t1 -c$CONNS -d6s "$U/slow/0.2" > "$T/wrk.out" 2>&1 &
wpid=$!
sleep 1
interactive 60 "$T/busy"
wait $wpid
sleep 1.5       # requests still queued when wrk stopped time out now

is "$(awk '$1 == 200' "$T/busy" | wc -l)" 60 "under the bulk flood: 60 interactive requests answered 200"
is "$(metric 'tandem_class_queued_total{class="interactive"}')" 0 "no interactive request waited in a queue"
max=$(sort -n "$T/inflight" | tail -1)
ok $([ "${max:-0}" -ge 1 ] && [ "${max:-0}" -le $BULK_MAX ] && echo 0 || echo 1) \
	"bulk in flight never above its max_inflight $BULK_MAX (most seen: $max)"
non2xx=$(awk '/Non-2xx/ { print $NF }' "$T/wrk.out")
total=$(awk '/requests in/ { print $1 }' "$T/wrk.out")
rej=$(( $(metric 'tandem_class_rejected_total{class="bulk"}') - rej0 ))
ok $([ "${non2xx:-0}" -ge 1 ] && echo 0 || echo 1) "bulk past queue_timeout refused: wrk saw ${non2xx:-0} non-2xx of ${total:-0}"
# wrk counts only responses it read before it stopped; tandem also counts
# the refusals of requests still queued then (at most one per connection)
ok $([ "$rej" -ge "${non2xx:-0}" ] && [ "$rej" -le $(( ${non2xx:-0} + CONNS )) ] && echo 0 || echo 1) \
	"every refusal counted: tandem_class_rejected_total +$rej, wrk saw ${non2xx:-0}"
is "$(grep -cE 'Socket errors' "$T/wrk.out")" 0 "wrk: no socket error"
e502=$(metric 'tandem_local_responses_total{code="502"}'); e504=$(metric 'tandem_local_responses_total{code="504"}')
is "${e502:-0} ${e504:-0}" "0 0" "nothing answered 502 or 504"

# a refusal says when to come back
rl=()
for i in $(seq 16); do curl -s -D "$T/h.$i" -o /dev/null "$U/slow/0.6" & rl+=($!); done
wait "${rl[@]}"
n503=$(grep -l '^HTTP/1.1 503' "$T"/h.* | wc -l)
ok $([ "$n503" -ge 1 ] && echo 0 || echo 1) "16 requests of 0.6 s at once, room for $BULK_MAX and 1 s of queue: $n503 refused"
ra=$(grep -l '^HTTP/1.1 503' "$T"/h.* | head -1 | xargs -r grep -h '^Retry-After' | tr -d '\r')
is "$ra" "Retry-After: 1" "the 503 carries Retry-After: 1 (the class's queue_timeout)"

# a client that resets its connection while its request waits leaves the
# queue at once (counted as cancelled), it is not answered later
c0=$(metric 'tandem_class_cancelled_total{class="bulk"}')
rl=()
for i in $(seq $BULK_MAX); do curl -s -o /dev/null "$U/slow/1.5" & rl+=($!); done
bulk_is() { test "$(metric "tandem_class_$1{class=\"bulk\"}")" = "$2"; }
wait_for 1 bulk_is inflight $BULK_MAX
python3 - "$L7" "$ADM" <<'PY'
import socket, struct, sys, time, urllib.request
def qlen():
    m = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[2]).read().decode()
    return [l.split()[1] for l in m.splitlines() if l.startswith('tandem_class_queue_length{class="bulk"}')][0]
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /slow/0.1 HTTP/1.1\r\nHost: t\r\n\r\n")
t = time.time()
while qlen() != "1" and time.time() - t < 0.8:
    time.sleep(0.02)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()   # RST
PY
wait_for 1 bulk_is queue_length 0
is $(( $(metric 'tandem_class_cancelled_total{class="bulk"}') - c0 )) 1 "a client reset while queued: cancelled at once"
is "$(metric 'tandem_class_queue_length{class="bulk"}')" 0 "and the queue is empty"
wait "${rl[@]}"

mi=$(median "$T/idle"); mb=$(median "$T/busy")
echo "# interactive latency, median: unloaded ${mi}s, under the bulk flood ${mb}s ($(awk -v a="$mi" -v b="$mb" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "n/a" }'))"
echo "# bulk: wrk $(grep -m1 'Requests/sec' "$T/wrk.out" | tr -s ' '), $total requests, ${non2xx:-0} refused"

tandem_stop
is "$STOP_RC" 0 "SIGTERM: tandem exits with status 0"
done_testing
