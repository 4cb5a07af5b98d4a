#!/usr/bin/env bash
# ctl_l4.t: tandem ctl on a two-level cluster on loopback: tandem l4 in
# user mode on a VIP of 127.0.0.1, two tandem l7 on 127.0.0.2 and
# 127.0.0.3 (the nodes' addresses, on the VIP's port), real nginx origins
# behind them. status shows the front end's view beside the switches';
# drain under a bounded load (ab -t) reaches the front end and both
# switches (its Maglev slots go to 0, its origin's access log stops within
# a second, no failed request), enable brings it back; the front end keeps
# the runtime weight over a SIGHUP; ctl reload of a broken file is refused
# by all three daemons with FILE:LINE.
source "$(dirname "$0")/lib.sh"
command -v ab > /dev/null || skip_all "ab (apache2-utils) is not installed"
ip -o addr show lo | grep -q '127.0.0.1/8' || skip_all "loopback is not 127.0.0.0/8 here"

for i in 1 2; do origin_start be$i $((BASE + i)) || { echo "Bail out! nginx be$i"; exit 1; }; done
VIP=$((BASE + 10)) A4=$((BASE + 20))
CONF=$T/cluster.ini
cat > "$CONF" <<CONF
[cluster]
vip = 127.0.0.1:$VIP
[l4]
mode = user
admin = 127.0.0.1:$A4
check_interval = 200ms
check_path = /1k
[l7]
workers = 1
[node be1]
address = 127.0.0.2
web = 127.0.0.1:$((BASE + 1))
l7 = 127.0.0.2:$VIP
admin = 127.0.0.1:$((BASE + 21))
[node be2]
address = 127.0.0.3
web = 127.0.0.1:$((BASE + 2))
l7 = 127.0.0.3:$VIP
admin = 127.0.0.1:$((BASE + 22))
CONF
for i in 1 2; do
	"$TANDEM" l7 -c "$CONF" --node be$i >> "$T/tandem-be$i.log" 2>&1 &
	PIDS+=($!)
	wait_for 10 tcp_open $((BASE + 20 + i)) || { echo "Bail out! tandem l7 be$i"; sed 's/^/# /' "$T/tandem-be$i.log"; exit 1; }
done
"$TANDEM" l4 -c "$CONF" >> "$T/tandem-l4.log" 2>&1 &
L4PID=$!
PIDS+=($L4PID)
l4m() { curl -s --max-time 5 "http://127.0.0.1:$A4/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
wait_for 10 eval '[ "$(l4m "tandem_l4_backend_up{node=\"be1\"}")$(l4m "tandem_l4_backend_up{node=\"be2\"}")" = 11 ]' ||
	{ echo "Bail out! tandem l4 did not see both nodes up"; sed 's/^/# /' "$T/tandem-l4.log"; exit 1; }
ctl() { "$TANDEM" ctl -c "$CONF" "$@"; }

for _ in $(seq 10); do curl -s -o /dev/null "http://127.0.0.1:$VIP/1k"; done
out=$(ctl status); rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 0 "ctl status: exit 0, the front end and both switches answering"
ok $(( $(grep -cE '^be[12] +up +1 .* ok +up 1 [0-9]+$' <<< "$out") == 2 ? 0 : 1 )) \
	"ctl status: each node up at the switches and at the front end, with its slots"
got=$(ctl --json status | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(sorted(d["name"] for d in j["daemons"] if d["answering"]), [n["l4"]["up"] for n in j["nodes"]])')
is "$got" "['l4', 'l7 be1', 'l7 be2'] [True, True]" "ctl --json status: three daemons, the front end's view per node"

ab -q -t 7 -n 1000000 -c 4 "http://127.0.0.1:$VIP/1k" > "$T/ab.out" 2>&1 &
AB=$!
PIDS+=($AB)
sleep 1.5
out=$(ctl node be2 drain); rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 0 "ctl node be2 drain: exit 0"
ok $(grep -q 'taken by all 3 daemons' <<< "$out"; echo $?) "drain: taken by the front end and both switches"
is "$(l4m 'tandem_l4_backend_slots{node="be2"}')" 0 "drain: be2 has no Maglev slot at the front end"
sleep 1
c1=$(access_count be2); o1=$(access_count be1)
sleep 2
c2=$(access_count be2); o2=$(access_count be1)
diag "be2's origin: $c1 -> $c2; be1's: $o1 -> $o2"
ok $(( c2 == c1 && o2 > o1 + 100 ? 0 : 1 )) "drain: no new request reaches be2's origin from a second after"
kill -HUP $L4PID
wait_for 5 eval '[ "$(grep -c "reloaded" "$T/tandem-l4.log")" -ge 1 ]'
is "$(l4m 'tandem_l4_backend_weight{node="be2"}')" 0 "the front end keeps the drain over a SIGHUP that leaves be2 alone"
out=$(ctl node be2 enable); rc=$?
is "$rc" 0 "ctl node be2 enable: exit 0"
sleep 1
c3=$(access_count be2)
sleep 1
c4=$(access_count be2)
ok $(( c4 > c3 + 50 ? 0 : 1 )) "enable: be2's origin takes requests again ($c3 -> $c4)"
ok $(( $(l4m 'tandem_l4_backend_slots{node="be2"}') > 0 ? 0 : 1 )) "enable: be2 has Maglev slots again"
wait $AB
done_n=$(awk '/^Complete requests:/ { print $3 }' "$T/ab.out")
failed=$(awk '/^Failed requests:/ { print $3 }' "$T/ab.out")
non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' "$T/ab.out")
diag "ab through the VIP: ${done_n:-?} complete, ${failed:-?} failed, ${non2xx:-0} non-2xx"
ok $(( ${done_n:-0} > 500 && ${failed:-1} == 0 && ${non2xx:-0} == 0 ? 0 : 1 )) \
	"no failed request through the VIP during drain and enable"

printf '[node be3\n' >> "$CONF"
line=$(wc -l < "$CONF")
out=$(ctl reload 2> /dev/null); rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 1 "ctl reload of a broken file: exit 1"
is "$(grep -c "$CONF:$line: " <<< "$out")" 3 "the front end and both switches report $CONF:$line"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$VIP/1k")" 200 "the cluster still serves"
done_testing
