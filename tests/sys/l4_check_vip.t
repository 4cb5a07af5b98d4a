#!/bin/bash
# l4_check_vip.t: the front end's health checks prove what clients need. In
# the lab (lab/lab.sh: client, fe, three back ends with real nginx), DR mode:
# be3 answers on its own address but lacks the VIP on lo; the check goes to
# the VIP through be3's MAC, so be3 is marked down (metrics and log) and gets
# none of 150 connections through the VIP while be1 and be2 get them all.
# With the VIP added on be3's lo it comes up (polled; the time is printed
# against rise * interval) and takes connections. A SIGHUP brings
# check_path = /health and check_status = 200: be2, whose nginx answers 500
# there, goes down and gets no connection. On SIGTERM the policy routes,
# the moved "lookup local" rule and accept_local are as before the start
# (a node removed by SIGHUP takes its rule and route with it; a start after
# a SIGKILL removes what the killed run left, and its exit puts the rules
# back; accept_local stays on, its old value died with the killed run).
# NAT mode: the check goes to the node's address, so be3 without the VIP is
# up. Everything it starts is stopped by PID and the lab torn down on exit.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/tap.sh"
. "$HERE/labtest.sh"

TMP=
FE_PID=
NG2_PID=

lab_test_init tlc tandem nginx ab curl

cleanup() {
	exec 2>/dev/null
	if [ -n "$FE_PID" ]; then
		kill "$FE_PID"
		wait "$FE_PID"
	fi
	[ -n "$NG2_PID" ] && kill "$NG2_PID"
	"$LAB" down >/dev/null 2>&1
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

TMP=$(mktemp -d /tmp/tandem-l4chk.XXXXXX)
chmod 755 "$TMP"
at() { "$LAB" exec "$@"; }
metrics() { at fe curl -s -m 2 http://127.0.0.1:9300/metrics; }
metric() { metrics | awk -v k="$1" '$1 == k { print $2 }'; }
up_of() { metric "tandem_l4_backend_up{node=\"$1\"}"; }
hits() { # requests a back end logged (the checks are not logged)
	local f=$LAB_STATE/nginx-$1/logs/access.log
	[ "$1" = be2 ] && [ -n "$NG2_PID" ] && f=$TMP/ng-be2/access.log
	[ -f "$f" ] && wc -l <"$f" || echo 0
}
wait_metric() { # KEY VALUE SECONDS: poll every 50 ms
	for _ in $(seq 1 $(($3 * 20))); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
wait_metric_ge() { # KEY MIN SECONDS: a counter that keeps counting may pass MIN between two polls
	local v
	for _ in $(seq 1 $(($3 * 20))); do
		v=$(metric "$1")
		[ -n "$v" ] && [ "${v%.*}" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

INTERVAL=200
RISE=3
write_cfg() { # MODE [EXTRA [l4] LINES] [NODES, default "1 2 3"]
	local i
	cat >"$TMP/cluster.ini" <<EOF
[cluster]
vip = $VIP:80

[l4]
iface = eth0
mode = $1
admin = 127.0.0.1:9300
check_interval = ${INTERVAL}ms
check_timeout = 300ms
check_rise = $RISE
check_fall = 2
${2:-}
EOF
	for i in ${3:-1 2 3}; do printf '\n[node be%d]\naddress = 198.18.0.1%d\n' "$i" "$i"; done \
		>>"$TMP/cluster.ini"
	"$TANDEM" -t -c "$TMP/cluster.ini" >"$TMP/t.out" 2>&1 || { sed 's/^/# /' "$TMP/t.out"; return 1; }
}

start_fe() { # MODE: waits until be1 and be2 are up
	write_cfg "$1" || return 1
	ip netns exec "$LAB_PREFIX-fe" "$TANDEM" l4 -c "$TMP/cluster.ini" >>"$TMP/fe.log" 2>&1 &
	FE_PID=$!
	for _ in $(seq 1 100); do
		[ "$(up_of be1)" = 1 ] && [ "$(up_of be2)" = 1 ] && return 0
		kill -0 "$FE_PID" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/# fe: /' "$TMP/fe.log"
	return 1
}

stop_fe() {
	[ -n "$FE_PID" ] || return 0
	kill "$FE_PID"
	wait "$FE_PID"
	local st=$?
	FE_PID=
	return $st
}

load() { # N: N connections through the VIP, one request each, bounded
	at client timeout 60 ab -q -n "$1" -c 5 -s 5 "http://$VIP/" >"$TMP/ab.out" 2>&1
	local done failed
	done=$(awk '/^Complete requests:/ { print $3 }' "$TMP/ab.out")
	failed=$(awk '/^Failed requests:/ { print $3 }' "$TMP/ab.out")
	[ "${done:-0}" = "$1" ] && [ "${failed:-1}" = 0 ] && ! grep -q '^Non-2xx' "$TMP/ab.out"
}

fe_rules() { at fe ip rule show; }

"$LAB" up 3 >"$TMP/lab.log" 2>&1
ok $? "lab up 3 (client, fe, be1..be3)" || { sed 's/^/# /' "$TMP/lab.log"; exit 1; }
for i in 1 2 3; do "$LAB" nginx "be$i" start || exit 1; done
rules0=$(fe_rules)
acc0=$(at fe sysctl -n net.ipv4.conf.eth0.accept_local)

# ---- DR: a node without the VIP --------------------------------------------
at be3 ip addr del "$VIP/32" dev lo
is "$(at client curl -s -m 2 http://198.18.0.13/)" "be3" \
	"be3 answers on its own address (a check of 198.18.0.13:80 would pass)"
ok "$(at be3 ip -o addr show dev lo | grep -q "$VIP"; [ $? -ne 0 ]; echo $?)" "be3 has no VIP on lo"

start_fe dr
ok $? "tandem l4 (dr) up: be1 and be2 healthy" || exit 1
is "$(metric tandem_l4_check_via_vip)" 1 "DR: checks go through the VIP"
wait_metric_ge 'tandem_l4_check_total{node="be3",result="timeout"}' 2 10
ok $? "be3's checks through the VIP go unanswered (2 timeouts or more)"
is "$(up_of be3)" 0 "be3 is down (tandem_l4_backend_up 0)"
is "$(metric 'tandem_l4_backend_slots{node="be3"}')" 0 "be3 owns no slot"
is "$(metric 'tandem_l4_check_total{node="be3",result="pass"}')" 0 "no check of be3 passed"
for _ in $(seq 1 40); do grep -q "node be3 is down" "$TMP/fe.log" && break; sleep 0.05; done
ok "$(grep -q 'node be3 is down: no answer in 300 ms (connecting)' "$TMP/fe.log"; echo $?)" \
	"the log says be3 is down, and why"
grep 'node be3 is down' "$TMP/fe.log" | head -1 | sed 's/^/# fe: /'
is "$(fe_rules | grep -c 'fwmark 0x7464c00[012] lookup')" 3 "one fwmark rule per node"
ok "$(fe_rules | grep -q '^1:.*lookup local'; echo $?)" \
	"fe owns the VIP: 'lookup local' moved behind the checks' rules"
is "$(at fe ip route get "$VIP" mark 0x7464c002 | head -1 | awk '{ print $3 }')" 198.18.0.13 \
	"a packet to the VIP with be3's mark goes via 198.18.0.13"
is "$(at fe sysctl -n net.ipv4.conf.eth0.accept_local)" 1 "accept_local on eth0 (answers come from the VIP)"

b1=$(hits be1); b2=$(hits be2); b3=$(hits be3)
load 150
ok $? "150 connections through the VIP, none failed"
d1=$(($(hits be1) - b1)); d2=$(($(hits be2) - b2)); d3=$(($(hits be3) - b3))
diag "connections: be1 $d1, be2 $d2, be3 $d3"
is "$d3" 0 "be3 (no VIP) got none of them"
is $((d1 + d2)) 150 "be1 and be2 got all 150"
ok "$([ "$(metric 'tandem_l4_packets_total{outcome="pass_not_vip"}')" -gt 0 ]; echo $?)" \
	"the checks' answers (VIP -> fe's address) pass the XDP program to the stack"

# ---- the VIP added: be3 comes up --------------------------------------------
t0=$(date +%s%N)
at be3 ip addr add "$VIP/32" dev lo
wait_metric 'tandem_l4_backend_up{node="be3"}' 1 30
ok $? "VIP added on be3's lo: be3 comes up"
ms=$((($(date +%s%N) - t0) / 1000000))
diag "be3 up after $ms ms (rise * interval = $((RISE * INTERVAL)) ms, plus a check in flight)"
ok "$([ "$(metric 'tandem_l4_check_total{node="be3",result="pass"}')" -ge $RISE ]; echo $?)" \
	"be3 passed $RISE checks"
ok "$(grep -q 'node be3 is up' "$TMP/fe.log"; echo $?)" "the log says be3 is up"
b1=$(hits be1); b2=$(hits be2); b3=$(hits be3)
load 150
ok $? "150 connections with be3 up, none failed"
d1=$(($(hits be1) - b1)); d2=$(($(hits be2) - b2)); d3=$(($(hits be3) - b3))
diag "connections: be1 $d1, be2 $d2, be3 $d3"
ok "$([ "$d3" -gt 0 ]; echo $?)" "be3 takes connections ($d3)"
is $((d1 + d2 + d3)) 150 "every connection reached a back end"

# ---- check_path and check_status: be2 answers 500 on /health ------------------
# /health is a file every lab nginx serves (200); be2 gets an nginx of its own
# that answers 500 there and serves everything else as the lab's does
echo ok >"$LAB_STATE/html/health"
"$LAB" nginx be2 stop
mkdir -p "$TMP/ng-be2"
cat >"$TMP/ng-be2/nginx.conf" <<EOF
worker_processes 1;
daemon on;
user root;
pid $TMP/ng-be2/nginx.pid;
error_log $TMP/ng-be2/error.log warn;
events { worker_connections 1024; }
http {
	map \$http_user_agent \$logged { ~^tandem-l4-check 0; default 1; }
	access_log $TMP/ng-be2/access.log combined if=\$logged;
	client_body_temp_path $TMP/ng-be2;
	proxy_temp_path $TMP/ng-be2;
	fastcgi_temp_path $TMP/ng-be2;
	uwsgi_temp_path $TMP/ng-be2;
	scgi_temp_path $TMP/ng-be2;
	server {
		listen 80;
		root $LAB_STATE/html;
		add_header X-Backend be2 always;
		location = /health { return 500; }
		location = / { default_type text/plain; return 200 "be2\n"; }
	}
}
EOF
at be2 nginx -p "$TMP/ng-be2" -c "$TMP/ng-be2/nginx.conf"
for _ in $(seq 1 50); do [ -s "$TMP/ng-be2/nginx.pid" ] && break; sleep 0.1; done
NG2_PID=$(cat "$TMP/ng-be2/nginx.pid" 2>/dev/null)
ok "$([ -n "$NG2_PID" ]; echo $?)" "be2: an nginx that answers 500 on /health (pid $NG2_PID)"
is "$(at client curl -s -m 2 -o /dev/null -w '%{http_code}' http://198.18.0.12/health)" 500 \
	"be2: GET /health is 500"
is "$(at client curl -s -m 2 -o /dev/null -w '%{http_code}' http://198.18.0.11/health)" 200 \
	"be1: GET /health is 200"
# its old nginx stopping took be2 out: it must be back (checks of / pass)
# before the new check path can prove anything
wait_metric 'tandem_l4_backend_up{node="be2"}' 1 30
ok $? "be2 with its new nginx is up again (GET / is 200)"

write_cfg dr "check_path = /health
check_status = 200"
kill -HUP "$FE_PID"
wait_metric 'tandem_l4_backend_up{node="be2"}' 0 30
ok $? "SIGHUP: check_path = /health, check_status = 200: be2 (500) is down"
is "$(metric 'tandem_l4_check_status{node="be2"}')" 500 "be2's last check answer: 500"
ok "$([ "$(metric 'tandem_l4_check_total{node="be2",result="status"}')" -ge 2 ]; echo $?)" \
	"be2's checks failed on the status"
ok "$(grep -q 'node be2 is down: GET /health: status 500, expected 200' "$TMP/fe.log"; echo $?)" \
	"the log says be2 is down, and why"
sleep 0.5
is "$(up_of be1) $(up_of be3)" "1 1" "be1 and be3 (200 on /health) stay up"
is "$(metric 'tandem_l4_check_status{node="be1"}')" 200 "be1's last check answer: 200"
b1=$(hits be1); b2=$(hits be2); b3=$(hits be3)
load 150
ok $? "150 connections with be2 down, none failed"
d1=$(($(hits be1) - b1)); d2=$(($(hits be2) - b2)); d3=$(($(hits be3) - b3))
diag "connections: be1 $d1, be2 $d2, be3 $d3"
is "$d2" 0 "be2 (500 on the check path) got none of them"
is $((d1 + d3)) 150 "be1 and be3 got all 150"

# a node leaves the file: its rule and route go with it
write_cfg dr "check_path = /health
check_status = 200" "1 2"
kill -HUP "$FE_PID"
for _ in $(seq 1 40); do
	[ "$(fe_rules | grep -c 'fwmark 0x7464c')" = 2 ] && break
	sleep 0.05
done
ok "$(fe_rules | grep -q 'fwmark 0x7464c002'; [ $? -ne 0 ]; echo $?)" \
	"SIGHUP without be3: be3's fwmark rule is gone"
is "$(at fe ip route show table $((0x7464c002)) 2>/dev/null)" "" "... and its route"
is "$(fe_rules | grep -c 'fwmark 0x7464c00[01]')" 2 "... be1's and be2's stay"

stop_fe
ok $? "SIGTERM: tandem l4 exits 0"
is "$(fe_rules)" "$rules0" "fe's routing rules are as before the start"
is "$(at fe ip route show table all | grep -c 'table 19527598')" 0 "no route left in the checks' tables"
is "$(at fe sysctl -n net.ipv4.conf.eth0.accept_local)" "$acc0" "accept_local is as before"

# a killed front end leaves its rules; the next start clears them, its exit
# puts "lookup local" back at pref 0
start_fe dr
ok $? "tandem l4 (dr) up again"
kill -KILL "$FE_PID"
wait "$FE_PID" 2>/dev/null
FE_PID=
ok "$(fe_rules | grep -q 'fwmark 0x7464c'; echo $?)" "SIGKILL: its rules are left behind"
start_fe dr
ok $? "tandem l4 (dr) started over them"
ok "$(grep -q 'removed .* rules and routes an earlier run left' "$TMP/fe.log"; echo $?)" \
	"... and removed what the killed run left"
is "$(fe_rules | grep -c 'fwmark 0x7464c')" 3 "... one rule per node again"
stop_fe
ok $? "SIGTERM: tandem l4 exits 0"
is "$(fe_rules)" "$rules0" "fe's routing rules are as before the first start"
# what accept_local was before the killed run died with it (doc/internals/l4.md)
is "$(at fe sysctl -n net.ipv4.conf.eth0.accept_local)" 1 \
	"accept_local stays on after a SIGKILL, as documented"
at fe sysctl -qw net.ipv4.conf.eth0.accept_local="$acc0"

# ---- NAT: the check goes to the node's address --------------------------------
at be3 ip addr del "$VIP/32" dev lo
for i in 1 2 3; do at "be$i" ip route replace 198.18.0.2/32 via 198.18.0.1; done
start_fe nat
ok $? "tandem l4 (nat) up" || exit 1
is "$(metric tandem_l4_check_via_vip)" 0 "NAT: checks go to the nodes' addresses"
wait_metric 'tandem_l4_backend_up{node="be3"}' 1 10
ok $? "NAT: be3 without the VIP is up (NAT rewrites to its address)"
is "$(fe_rules)" "$rules0" "NAT: no policy routing"
b3=$(hits be3)
load 150
ok $? "NAT: 150 connections through the VIP, none failed"
ok "$([ $(($(hits be3) - b3)) -gt 0 ]; echo $?)" "NAT: be3 takes connections"
stop_fe
ok $? "NAT: tandem l4 exits 0"

done_testing
