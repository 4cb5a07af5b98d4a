#!/bin/bash
# l4_ecmp.t: three front ends behind an ECMP router, one cluster file.
# The lab (lab.sh up 3 --fe 3): client -> router rt (BIRD, a multipath
# route to the VIP, L4 hashing) -> fe1..fe3, each running tandem l4 (XDP,
# DR) with the same file, whose [l4] bgp_* make it announce the VIP to
# the router -> be1..be3 (nginx :80, the VIP on lo), which answer the
# client directly through the router.
#
# A bounded load (l4_ecmp.py: 200 keep-alive connections, a request each
# every 100 ms) runs while: fe2's tandem l4 gets SIGTERM (its route must
# leave the router's multipath route, and no connection may break: the
# flows ECMP moves to fe1 and fe3 have no flow entry there and must be
# forwarded by the Maglev pick, which is the same node); fe2 starts again
# (the route must come back with three next hops; again no break: flows
# moved back to fe2 also meet an empty flow table); then be3's nginx stops,
# which every front end's health check sees: exactly be3's connections
# break, no other. Last, with be1 and be2 stopped too, every front end
# withdraws the VIP: the router has no route left. Counts are printed.
# Everything is stopped by PID and the lab torn down on exit, pass or fail.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/tap.sh"
. "$HERE/labtest.sh"

SLOW=1
[ "${SAN:-0}" = 1 ] && SLOW=3
TMP=
LOAD_PID=

lab_test_init tle tandem nginx curl python3 bird birdc

cleanup() {
	exec 2>/dev/null
	if [ -n "$LOAD_PID" ]; then
		kill "$LOAD_PID"
		wait "$LOAD_PID"
	fi
	"$LAB" down >/dev/null 2>&1
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
TMP=$(mktemp -d /tmp/tandem-ecmp.XXXXXX)
chmod 755 "$TMP"

at() { "$LAB" exec "$@"; }
now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
metric() { # FE NAME: the value of the metric line that starts with NAME
	at "$1" curl -s -m 1 http://127.0.0.1:9300/metrics | awk -v k="$2" '$1 == k { print $2 }'
}
nexthops() { "$LAB" vip-route | sort | tr '\n' ' ' | sed 's/ $//'; }
wait_for() { # SECONDS CMD...: poll every 50 ms
	local n=$(($1 * 20))
	shift
	for _ in $(seq 1 $n); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
hops_are() { [ "$(nexthops)" = "$1" ]; }
all_up() { # FE: every back end up
	[ "$(at "$1" curl -s -m 1 http://127.0.0.1:9300/metrics |
		grep -c 'tandem_l4_backend_up{.*} 1$')" = 3 ]
}
down_everywhere() { # NODE
	local k
	for k in 1 2 3; do
		[ "$(metric "fe$k" "tandem_l4_backend_up{node=\"$1\"}")" = 0 ] || return 1
	done
}
l4_start() { "$LAB" start "fe$1" l4 "$TANDEM" l4 -c "$TMP/l4.ini" >/dev/null; }
rounds_since() { # T: the load's rounds begun at T or later (l4_ecmp.py)
	[ -f "$TMP/events" ] && awk -v t="$1" '/"k": "round"/ && match($0, /"from": [0-9.]+/) &&
		substr($0, RSTART + 8, RLENGTH - 8) + 0 >= t + 0 { c++ } END { exit c < 3 }' "$TMP/events"
}
# The load's time in a phase: until three rounds begun now or later (every
# connection answered three times since, or broken: its failure recorded),
# at most SECONDS (x SLOW), the fixed time it had before
let_run() { # SECONDS
	wait_for $(($1 * SLOW)) rounds_since "$(now)"
}

"$LAB" up 3 --fe 3 >"$TMP/lab.log" 2>&1
ok $? "lab up 3 --fe 3 (client, router with BIRD, fe1..fe3, be1..be3)" ||
	{ sed 's/^/# /' "$TMP/lab.log"; exit 1; }
st=0
for i in 1 2 3; do
	"$LAB" nginx "be$i" start 80 >>"$TMP/lab.log" 2>&1 || st=1
done
ok $st "nginx :80 on every back end" || { sed 's/^/# /' "$TMP/lab.log"; exit 1; }

# one file for the three front ends: the same nodes, so the same Maglev
# table; each one's router id is its own eth0 address, its BIRD folder
# named after its network namespace
cat >"$TMP/l4.ini" <<EOF
[cluster]
vip = $VIP:80
[l4]
iface = eth0
mode = dr
admin = 127.0.0.1:9300
check_interval = 200ms
check_timeout = 500ms
bgp_peer = 198.18.0.254
bgp_as = 65001
bgp_peer_as = 65000
bgp_withdraw_wait = 1s
[node be1]
address = 198.18.0.11
[node be2]
address = 198.18.0.12
[node be3]
address = 198.18.0.13
EOF
"$TANDEM" -t -c "$TMP/l4.ini" >"$TMP/t.log" 2>&1
ok $? "tandem -t accepts the [l4] bgp_* keys" || sed 's/^/# /' "$TMP/t.log"

t0=$(now)
for k in 1 2 3; do l4_start $k; done
st=0
for k in 1 2 3; do
	wait_for $((20 * SLOW)) all_up "fe$k" || { st=1; diag "fe$k: not every back end up"; }
done
all3="198.18.0.221 198.18.0.222 198.18.0.223"
wait_for $((20 * SLOW)) hops_are "$all3" || st=1
ok $st "three front ends up, each announcing the VIP: the router's route has three next hops ($(ms_since "$t0") ms)" ||
	{ diag "next hops: $(nexthops)"; tail -15 "$LAB_STATE/log/fe1-l4.log" | sed 's/^/# fe1: /'; exit 1; }
at rt ip -4 route show "$VIP/32" | sed 's/^/# rt: /'
is "$(at rt ip -4 route show "$VIP/32" | grep -c nexthop)" 3 "... one route with three next hops (BIRD merge paths)"

# the load: 200 connections, a request each every 100 ms, bounded by the
# stop file, 60 s and the client's request count
at client timeout $((90 * SLOW)) python3 "$HERE/l4_ecmp.py" load "$VIP" 200 0.1 "$TMP/events" \
	"$TMP/stop" $((60 * SLOW)) 2>"$TMP/load.err" &
LOAD_PID=$!
let_run 3
is "$(grep -c '"k": "node"' "$TMP/events")" 200 "200 keep-alive connections answered before fe2 goes"

# fe2 leaves: SIGTERM by its PID (lab.sh stop)
t_kill=$(now)
"$LAB" stop fe2 l4 &
stop_pid=$!
if wait_for 5 hops_are "198.18.0.221 198.18.0.223"; then
	ok 0 "fe2 stopped (SIGTERM): its next hop left the route after $(ms_since "$t_kill") ms"
else
	ok 1 "fe2 stopped (SIGTERM): its next hop left the route within 5 s"
	diag "next hops: $(nexthops)"
fi
# a process that has exited leaves its namespace, zombie or not
fe2_empty() { [ -z "$(ip netns pids "$LAB_PREFIX-fe2")" ]; }
if wait_for 5 fe2_empty; then
	gone=$(ms_since "$t_kill")
	ok "$([ "$gone" -ge 1000 ]; echo $?)" "fe2's tandem l4 and its BIRD exited after $gone ms (forwarding on for bgp_withdraw_wait = 1 s)"
else
	ok 1 "fe2's tandem l4 and its BIRD exit within 5 s"
fi
wait "$stop_pid"
grep -E 'bgp: VIP .* withdrawn|forwarding' "$LAB_STATE/log/fe2-l4.log" | tail -2 | sed 's/^/# fe2: /'
let_run 3

# fe2 comes back with the same file
t_add=$(now)
l4_start 2
if wait_for $((20 * SLOW)) hops_are "$all3"; then
	ok 0 "fe2 started again: its next hop is back after $(ms_since "$t_add") ms"
else
	ok 1 "fe2 started again: its next hop is back within $((20 * SLOW)) s"
	diag "next hops: $(nexthops)"
fi
let_run 3

# a back end goes: be3's nginx stops, every front end's checks see it
t_rm=$(now)
"$LAB" nginx be3 stop
if wait_for 10 down_everywhere be3; then
	ok 0 "be3's nginx stopped: be3 out of every front end's table after $(ms_since "$t_rm") ms"
else
	ok 1 "be3's nginx stopped: be3 out of every front end's table within 10 s"
fi
let_run 2
touch "$TMP/stop"
wait "$LOAD_PID"
rc=$?
LOAD_PID=
is $rc 0 "the load ran to its end" || sed 's/^/# /' "$TMP/load.err" | tail -10

python3 "$HERE/l4_ecmp.py" judge "$TMP/events" "$t_rm" be3 >"$TMP/verdict" 2>"$TMP/judge.err"
is $? 0 "the verdict script ran" || sed 's/^/# /' "$TMP/judge.err" | tail -10
while IFS=$'\t' read -r desc got want; do
	if [ "$desc" = "#" ]; then
		diag "$got"
	else
		is "$got" "$want" "$desc"
	fi
done <"$TMP/verdict"

# the flows ECMP moved met a front end without their flow entry, which
# forwarded them by the Maglev pick (a packet without SYN: flow_new_nosyn)
nosyn=0
line=
for k in 1 2 3; do
	v=$(metric "fe$k" 'tandem_l4_packets_total{outcome="flow_new_nosyn"}')
	line="$line fe$k ${v:-?}"
	nosyn=$((nosyn + ${v:-0}))
done
ok "$([ "$nosyn" -gt 0 ]; echo $?)" "moved flows were forwarded by Maglev without a flow entry (flow_new_nosyn:$line)"

# no back end left: every front end withdraws the VIP
t_none=$(now)
"$LAB" nginx be1 stop
"$LAB" nginx be2 stop
if wait_for 10 hops_are ""; then
	ok 0 "no back end left: every front end withdrew the VIP, the router has no route after $(ms_since "$t_none") ms"
else
	ok 1 "no back end left: the router's route is gone within 10 s"
	diag "next hops: $(nexthops)"
fi
is "$(metric fe1 tandem_l4_bgp_announced)" 0 "fe1 says it announces nothing (tandem_l4_bgp_announced)"
is "$(metric fe1 'tandem_l4_bgp_session_up{peer="198.18.0.254"}')" 1 "... and keeps its session to the router"

done_testing
