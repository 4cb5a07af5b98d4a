#!/usr/bin/env bash
# ctl_cluster.t: tandem ctl against three L7 switches with real nginx
# origins on loopback. status shows every node and every daemon, a stopped
# switch as not answering, and --json parses; drain, enable and weight
# reach every switch within a second while a bounded load (ab -t) runs, with
# no failed request: after drain no new request reaches the node (its
# access log stops), enable brings it back, weight 3 changes the split; a
# runtime weight survives a SIGHUP that leaves the node alone and is dropped
# by one that changes its weight; ctl reload of a broken file reports each
# switch's file:line and changes nothing. Then, in two network namespaces
# of this test (198.18.0.0/15), a control verb from off loopback without
# the [cluster] admin_token_file token gets 403, is counted and changes
# nothing, and with it is taken.
source "$(dirname "$0")/lib.sh"
command -v ab > /dev/null || skip_all "ab (apache2-utils) is not installed"

for i in 1 2 3; do origin_start be$i $((BASE + i)) || { echo "Bail out! nginx be$i"; exit 1; }; done
CONF=$T/ctl.ini
conf() { # [be2 weight]
	{
		printf '[l7]\nworkers = 1\n'
		for i in 1 2 3; do
			printf '[node be%d]\nweight = %d\nweb = 127.0.0.1:%d\nl7 = 127.0.0.1:%d\nadmin = 127.0.0.1:%d\n' \
				$i "$([ $i = 2 ] && echo "${1:-1}" || echo 1)" $((BASE + i)) $((BASE + 10 + i)) $((BASE + 20 + i))
		done
	} > "$CONF"
}
conf
declare -A SW
for i in 1 2 3; do
	tandem_start "$CONF" be$i || { echo "Bail out! tandem l7 be$i"; exit 1; }
	SW[be$i]=$TANDEM_PID
done
ctl() { "$TANDEM" ctl -c "$CONF" "$@"; }
weights() { # NODE: its weight at every switch, "w1 w2 w3"
	local i out=()
	for i in 1 2 3; do out+=("$(metric "tandem_node_weight{node=\"$1\"}" $((BASE + 20 + i)))"); done
	echo "${out[*]}"
}

# --- status
for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$((BASE + 10 + i))/1k"; done
out=$(ctl status); rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 0 "ctl status: exit 0 with every switch answering"
ok $(( $(grep -cE '^be[123] +up +1 ' <<< "$out") == 3 ? 0 : 1 )) "ctl status: a row per node, up, weight 1"
ok $(( $(grep -cE '^l7 be[123] .* ok$' <<< "$out") == 3 ? 0 : 1 )) "ctl status: every switch ok"
got=$(ctl --json status | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(len(j["nodes"]), sum(d["answering"] for d in j["daemons"]), sum(r["requests"] for r in j["routed"]) >= 3)')
is "$got" "3 3 True" "ctl --json status parses: 3 nodes, 3 daemons answering, the requests routed"

tandem_stop "${SW[be3]}"
out=$(ctl status); rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 1 "ctl status with be3's switch stopped: exit 1"
ok $(grep -qE '^l7 be3 .*not answering' <<< "$out"; echo $?) "ctl status: the stopped switch shown as not answering"
ok $(grep -qE '^be3 +up .*not answering' <<< "$out"; echo $?) "ctl status: its node still has its row (as the other switches see it)"
got=$(ctl --json status | python3 -c '
import json, sys
j = json.load(sys.stdin)
print([d["answering"] for d in j["daemons"] if d["name"] == "l7 be3"], len(j["nodes"]))')
is "$got" "[False] 3" "ctl --json status: be3's switch answering false, every node listed"
tandem_start "$CONF" be3 || { echo "Bail out! tandem l7 be3 again"; exit 1; }
SW[be3]=$TANDEM_PID

# --- drain and enable under load: ab on every switch, 2 connections each
for i in 1 2 3; do
	ab -q -t 9 -n 1000000 -c 2 "http://127.0.0.1:$((BASE + 10 + i))/1k" > "$T/ab$i.out" 2>&1 &
	AB[$i]=$!
	PIDS+=(${AB[$i]})
done
sleep 1.5
before=$(access_count be2)
out=$(ctl node be2 drain); rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 0 "ctl node be2 drain: exit 0"
ok $(grep -q 'taken by all 3 daemons' <<< "$out"; echo $?) "drain: taken by all 3 switches"
sleep 1
c1=$(access_count be2); o1=$(( $(access_count be1) + $(access_count be3) ))
sleep 2
c2=$(access_count be2); o2=$(( $(access_count be1) + $(access_count be3) ))
diag "be2 requests: $before before the drain, $c1 a second after, $c2 two seconds later; others $o1 -> $o2"
ok $(( c1 > before && c2 == c1 ? 0 : 1 )) "drain: no new request reaches be2 from a second after (it had $c1)"
ok $(( o2 > o1 + 100 ? 0 : 1 )) "drain: be1 and be3 take the load ($o1 -> $o2)"
is "$(weights be2)" "0 0 0" "drain: tandem_node_weight{be2} 0 at every switch"
out=$(ctl node be2 enable); rc=$?
is "$rc" 0 "ctl node be2 enable: exit 0"
sleep 1
c3=$(access_count be2)
sleep 1
c4=$(access_count be2)
ok $(( c4 > c3 + 50 ? 0 : 1 )) "enable: be2 takes requests again ($c3 -> $c4)"
for i in 1 2 3; do wait "${AB[$i]}"; done
for i in 1 2 3; do
	done_n=$(awk '/^Complete requests:/ { print $3 }' "$T/ab$i.out")
	failed=$(awk '/^Failed requests:/ { print $3 }' "$T/ab$i.out")
	non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' "$T/ab$i.out")
	diag "ab through be$i's switch: ${done_n:-?} complete, ${failed:-?} failed, ${non2xx:-0} non-2xx"
	ok $(( ${done_n:-0} > 500 && ${failed:-1} == 0 && ${non2xx:-0} == 0 ? 0 : 1 )) \
		"no failed request through be$i's switch during drain and enable"
done

# --- weight 3: rr 1:3:1 at each switch
out=$(ctl node be2 weight 3); rc=$?
is "$rc" 0 "ctl node be2 weight 3: exit 0"
is "$(weights be2)" "3 3 3" "weight 3: tandem_node_weight{be2} 3 at every switch"
split() { # the requests each origin gets of 50 through every switch: "be1 be2 be3"
	local a=() i
	for i in 1 2 3; do a[$i]=$(access_count be$i); done
	for s in 1 2 3; do
		for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$((BASE + 10 + s))/1k"; done
	done
	echo "$(( $(access_count be1) - a[1] )) $(( $(access_count be2) - a[2] )) $(( $(access_count be3) - a[3] ))"
}
got=$(split)
diag "150 requests with be2 at weight 3: be1 be2 be3 = $got"
read -r n1 n2 n3 <<< "$got"
ok $(( n2 >= 85 && n2 <= 95 && n1 >= 25 && n3 >= 25 ? 0 : 1 )) "weight 3: be2 takes 3/5 of the requests ($got)"

# --- the override over reloads
kill -HUP "${SW[be1]}"
wait_for 5 eval '[ "$(grep -c "reload: .*generation 1" "$T/tandem-be1.log")" -ge 1 ]'
is "$(metric 'tandem_node_weight{node="be2"}' $((BASE + 21)))" 3 \
	"SIGHUP with be2 unchanged in the file: the runtime weight 3 stays"
conf 2
out=$(ctl reload); rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 0 "ctl reload: exit 0"
ok $(( $(grep -c 'ok: taken' <<< "$out") == 3 ? 0 : 1 )) "ctl reload: each switch says it took the file"
is "$(weights be2)" "2 2 2" "a reload that changes be2's weight drops the runtime one: the file's 2 everywhere"

# --- reload of a broken file
cp "$CONF" "$T/good.ini"
printf 'bogus_key = 1\n' >> "$CONF"
line=$(wc -l < "$CONF")
out=$(ctl reload 2> "$T/ctl.err"); rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 1 "ctl reload of a broken file: exit 1"
is "$(grep -c "$CONF:$line: unknown key 'bogus_key'" <<< "$out")" 3 \
	"each of the 3 switches reports $CONF:$line"
ok $(grep -q 'taken by 0 of 3 daemons' <<< "$out"; echo $?) "ctl reload: taken by none"
is "$(weights be2)" "2 2 2" "the refused file changed nothing (weights as before)"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((BASE + 11))/1k")" 200 \
	"the switches still serve"
cp "$T/good.ini" "$CONF"

# --- the token, from off loopback: two namespaces of this test
if ! ip netns add "tdmc$$a" 2> /dev/null; then
	skip "no network namespaces (not root?): token checks"
	done_testing
	exit
fi
NS_A=tdmc$$a NS_B=tdmc$$b
NET=198.18.$(( $$ % 200 + 20 ))
netns_cleanup() {
	ip netns del "$NS_A" 2> /dev/null
	ip netns del "$NS_B" 2> /dev/null
}
trap 'netns_cleanup; cleanup' EXIT
ip netns add "$NS_B"
ip link add "tdc$$a" type veth peer name "tdc$$b"
ip link set "tdc$$a" netns "$NS_A"
ip link set "tdc$$b" netns "$NS_B"
ip -n "$NS_A" addr add "$NET.1/24" dev "tdc$$a"
ip -n "$NS_B" addr add "$NET.2/24" dev "tdc$$b"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "tdc$$a" up
ip -n "$NS_B" link set "tdc$$b" up
echo "s3cr3t-$$-token" > "$T/token"
chmod 600 "$T/token"
NSCONF=$T/ns.ini
cat > "$NSCONF" <<CONF
[cluster]
admin_token_file = token
[l7]
workers = 1
[node na]
web = $NET.1:9
l7 = $NET.1:8080
admin = $NET.1:9090
CONF
ip netns exec "$NS_A" "$TANDEM" l7 -c "$NSCONF" --node na >> "$T/tandem-na.log" 2>&1 &
NSPID=$!
PIDS+=($NSPID)
ns_b() { ip netns exec "$NS_B" "$@"; }
wait_for 10 ns_b curl -s -o /dev/null "http://$NET.1:9090/metrics" || diag "the namespaced switch did not answer"
is "$(ns_b curl -s -o /dev/null -w '%{http_code}' "http://$NET.1:9090/metrics")" 200 \
	"from another namespace: /metrics stays open"
is "$(ns_b curl -s -o /dev/null -w '%{http_code}' -X POST "http://$NET.1:9090/node/na/drain")" 403 \
	"from another namespace without the token: drain gets 403"
is "$(ns_b curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer wrong' \
	"http://$NET.1:9090/node/na/drain")" 403 "with a wrong token: 403"
m=$(ns_b curl -s "http://$NET.1:9090/metrics")
is "$(awk '$1 == "tandem_admin_refused_total" { print $2 }' <<< "$m")" 2 "both refusals counted"
is "$(awk '$1 == "tandem_node_weight{node=\"na\"}" { print $2 }' <<< "$m")" 1 "and nothing changed (weight 1)"
is "$(ns_b curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$T/token")" \
	"http://$NET.1:9090/node/na/weight?value=4")" 200 "with the token: weight 4 is taken"
out=$(ns_b "$TANDEM" ctl -c "$NSCONF" node na drain); rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 0 "tandem ctl from the other namespace, token from admin_token_file: drain taken"
is "$(ns_b curl -s "http://$NET.1:9090/metrics" | awk '$1 == "tandem_node_weight{node=\"na\"}" { print $2 }')" 0 \
	"the namespaced switch's na is drained"
tandem_stop "$NSPID"
done_testing
