#!/bin/bash
# l4_veth.t: issue 13's setup, built the way a new user builds it: network
# namespaces for a client, a front end and three back ends, their veths on
# a Linux bridge (in a switch namespace of its own, so nothing touches the
# host's network), no ethtool change on any host, no program on the bridge
# ports; Debian nginx on every back end with the VIPs on lo (arp_ignore=1,
# arp_announce=2); `tandem l4` on the front end with `hook = auto`. On these
# veths auto must pick tc (native XDP there drops XDP_TX frames and loses
# the partial checksums the hosts send) and every connection must work:
#   DR, IPv4: 300 connections (curl, each a new one) spread over the three
#     back ends; a stopped nginx is taken out, the others keep serving;
#     SIGTERM detaches everything (no xdp in `ip link`, no filter in
#     `tc filter show`, no clsact left since tandem created it); after a
#     SIGKILL the next start removes the stale filter and still cleans up.
#   DR, IPv6 only (over a clsact qdisc the user made, which stays); DR
#     dual-stack (one file, an IPv4 and an IPv6 VIP, per-VIP /metrics).
#   NAT, IPv4 and IPv6, back ends routing the client via the front end; the
#     switch completes checksums in software here (TX checksum offload off
#     on its own ports, not on any host), so a partial checksum the tc
#     program got wrong would be caught by the receiver.
# Everything it starts is stopped by PID and every namespace deleted on
# exit, pass or fail.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/tap.sh"

TANDEM=${TANDEM:-$ROOT/build/tandem}
P=tv$$
NODES="b1 b2 b3"
VIP4=198.18.0.100
VIP6=2001:2::100
FE_PID=
TMP=
declare -A NGINX_PID

[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, BPF)"
[ -x "$TANDEM" ] || skip_all "no binary at $TANDEM"
PATH=$PATH:/usr/sbin
for t in nginx curl ip tc python3; do
	command -v $t >/dev/null || skip_all "$t not installed (scripts/deps.sh installs it)"
done

ns() { echo "$P-$1"; }
at() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }

cleanup() {
	exec 2>/dev/null
	[ -n "$FE_PID" ] && { kill "$FE_PID"; wait "$FE_PID"; }
	for n in "${!NGINX_PID[@]}"; do kill "${NGINX_PID[$n]}"; done
	sleep 0.2
	for h in sw fe c $NODES; do ip netns del "$(ns "$h")"; done
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
TMP=$(mktemp -d /tmp/tandem-l4veth.XXXXXX)
chmod 755 "$TMP"

addr4() { case $1 in fe) echo 198.18.0.1 ;; c) echo 198.18.0.2 ;; b*) echo "198.18.0.1${1#b}" ;; esac; }
addr6() { case $1 in fe) echo 2001:2::1 ;; c) echo 2001:2::2 ;; b*) echo "2001:2::1${1#b}" ;; esac; }

# ---- the topology, as a user types it ------------------------------------
build() {
	ip netns add "$(ns sw)" &&
		ip -n "$(ns sw)" link add br0 type bridge &&
		ip -n "$(ns sw)" link set br0 up || return 1
	for h in fe c $NODES; do
		ip netns add "$(ns "$h")" &&
			ip -n "$(ns sw)" link add "$h" type veth peer name eth0 netns "$(ns "$h")" &&
			ip -n "$(ns sw)" link set "$h" master br0 up &&
			ip -n "$(ns "$h")" link set lo up &&
			ip -n "$(ns "$h")" link set eth0 up &&
			ip -n "$(ns "$h")" addr add "$(addr4 "$h")/24" dev eth0 &&
			ip -n "$(ns "$h")" addr add "$(addr6 "$h")/64" dev eth0 nodad || return 1
	done
	# an IPv6 VIP is added deprecated (preferred_lft 0): still answered
	# and served, but never picked as the source of the host's own
	# connections (a /128 beats the /64 in source selection, and the front
	# end's health checks would leave from the VIP, their replies going to
	# a back end's lo)
	ip -n "$(ns fe)" addr add "$VIP4/32" dev eth0 &&
		ip -n "$(ns fe)" addr add "$VIP6/128" dev eth0 nodad preferred_lft 0 || return 1
	for h in $NODES; do
		ip -n "$(ns "$h")" addr add "$VIP4/32" dev lo &&
			ip -n "$(ns "$h")" addr add "$VIP6/128" dev lo nodad preferred_lft 0 &&
			at "$h" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
				net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 || return 1
	done
}

nginx_start() { # NODE
	local d=$TMP/nginx-$1
	mkdir -p "$d/logs" "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon on;
user root;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $d/tmp;
	proxy_temp_path $d/tmp;
	fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp;
	scgi_temp_path $d/tmp;
	server {
		listen 80;
		listen [::]:80 ipv6only=on;
		location = / { default_type text/plain; return 200 "$1\n"; }
	}
}
EOF
	rm -f "$d/nginx.pid"
	at "$1" nginx -p "$d" -c "$d/nginx.conf" || return 1
	for _ in $(seq 1 50); do [ -s "$d/nginx.pid" ] && break; sleep 0.1; done
	[ -s "$d/nginx.pid" ] || return 1
	NGINX_PID[$1]=$(cat "$d/nginx.pid")
}

nginx_stop() { # NODE
	local pid=${NGINX_PID[$1]}
	[ -n "$pid" ] || return 0
	kill "$pid"
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	unset "NGINX_PID[$1]"
}

metrics() { at fe curl -s -m 2 http://127.0.0.1:9300/metrics; }
metric() { metrics | awk -v k="$1" '$1 == k { print $2 }'; }

write_cfg() { # FILE MODE "VIPS" FAMILIES(4|6|46)
	{
		printf '[cluster]\nvip = %s\n\n[l4]\niface = eth0\nmode = %s\nhook = auto\n' "$3" "$2"
		printf 'admin = 127.0.0.1:9300\n'
		for n in $NODES; do
			case $4 in
			4) printf '\n[node %s]\naddress = %s\n' "$n" "$(addr4 "$n")" ;;
			6) printf '\n[node %s]\naddress = %s\n' "$n" "$(addr6 "$n")" ;;
			46) printf '\n[node %s]\naddress = %s %s\n' "$n" "$(addr4 "$n")" "$(addr6 "$n")" ;;
			esac
		done
	} >"$1"
	"$TANDEM" -t -c "$1" >"$1.check" 2>&1
}

start_fe() { # FILE [NODES_UP]
	local want=${2:-3}
	# not through at(): $! must be tandem itself (ip netns exec execs it)
	ip netns exec "$(ns fe)" "$TANDEM" l4 ${L4_OPTS:-} -c "$1" >>"$TMP/fe.log" 2>&1 &
	FE_PID=$!
	for _ in $(seq 1 100); do
		[ "$(metrics | grep -c 'tandem_l4_backend_up{.*} 1$')" = "$want" ] && return 0
		kill -0 "$FE_PID" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/# fe: /' "$TMP/fe.log" | tail -20
	return 1
}

stop_fe() { # [SIGNAL]: 0 when it exited 0 (SIGTERM) or was killed (SIGKILL)
	[ -n "$FE_PID" ] || return 0
	kill "-${1:-TERM}" "$FE_PID"
	wait "$FE_PID"
	local st=$?
	FE_PID=
	[ "${1:-TERM}" = KILL ] && return 0
	return $st
}

# N connections from the client, one curl (so one new connection) each;
# counts the answers per back end in $TMP/got (NAME COUNT lines).
conns() { # N URL [CURL_OPTS...]
	local n=$1 url=$2 i
	shift 2
	: >"$TMP/bodies"
	for i in $(seq 1 "$n"); do
		at c curl -g -s -m 2 "$@" "$url" >>"$TMP/bodies" || echo FAIL >>"$TMP/bodies"
	done
	sort "$TMP/bodies" | uniq -c | awk '{ print $2, $1 }' >"$TMP/got"
}
got() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/got"; }
spread_ok() { # N: all N answered, by b1..b3 only, each at least N/10 (binomial: 4 of 30 for one of three comes about once in ten runs)
	local b
	[ -z "$(got FAIL)" ] || return 1
	for b in $NODES; do
		[ -n "$(got "$b")" ] && [ "$(got "$b")" -ge $(($1 / 10)) ] || return 1
	done
	[ $(($(got b1) + $(got b2) + $(got b3))) = "$1" ]
}
spread() { echo "b1 $(got b1), b2 $(got b2), b3 $(got b3), failed $(got FAIL)"; }

# ETHTOOL_GTXCSUM / ETHTOOL_STXCSUM by ioctl (ethtool itself may be missing)
tx_csum() { # HOST DEV [0|1]: prints the TX checksum offload state, or sets it
	ip netns exec "$(ns "$1")" python3 - "$2" "${3:-}" <<'EOF'
import array, fcntl, socket, struct, sys
SIOCETHTOOL, GET, SET = 0x8946, 0x16, 0x17
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dev, val = sys.argv[1].encode(), sys.argv[2]
buf = array.array('B', struct.pack('II', SET if val else GET, int(val or 0)))
fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack('16sP', dev, buf.buffer_info()[0]))
if not val:
    print(struct.unpack('II', buf.tobytes())[1])
EOF
}

nothing_left() { # what of tandem is still on fe's eth0
	local out=
	at fe ip link show dev eth0 | grep -q xdp && out="$out xdp"
	[ -n "$(at fe tc filter show dev eth0 ingress)" ] && out="$out tc-filter"
	at fe tc qdisc show dev eth0 | grep -q clsact && out="$out clsact"
	echo "${out# }"
}

build
ok $? "namespaces on a bridge: client, fe, b1..b3 (IPv4 and IPv6, VIPs on the back ends' lo)" ||
	exit 1
for n in $NODES; do nginx_start "$n" || { echo "Bail out! nginx on $n"; exit 1; }; done
is "$(at c curl -s -m 2 "http://$(addr4 b2)/")" b2 "nginx on b2 answers over IPv4"
is "$(at c curl -g -s -m 2 "http://[$(addr6 b3)]/")" b3 "nginx on b3 answers over IPv6"
ok "$(for h in fe c $NODES; do [ "$(tx_csum "$h" eth0)" = 1 ] || exit 1; done
	! ip -n "$(ns sw)" link show | grep -q xdp; echo $?)" \
	"every host's eth0 has TX checksum offload on (the default), no bridge port an XDP program"

# ---- DR, IPv4 ------------------------------------------------------------------
write_cfg "$TMP/dr4.ini" dr "$VIP4:80" 4
ok $? "tandem -t accepts the DR IPv4 file" || sed 's/^/# /' "$TMP/dr4.ini.check"
start_fe "$TMP/dr4.ini"
ok $? "tandem l4 (dr, hook auto) up, all three back ends healthy" || exit 1
grep -q "warning: hook auto: tc on eth0: eth0 is a veth" "$TMP/fe.log"
ok $? "hook auto chose tc, and said why as a warning"
diag "$(grep 'hook auto' "$TMP/fe.log" | sed 's/^[0-9.]* //')"
is "$(metric 'tandem_l4_hook{hook="tc"}')" 1 "/metrics: hook tc"
ok "$(at fe tc filter show dev eth0 ingress | grep -q 'l4_tc.*direct-action'; echo $?)" \
	"tc filter show: l4_tc on eth0 ingress, direct action"

conns 300 "http://$VIP4/"
diag "DR IPv4, 300 connections: $(spread)"
ok "$(spread_ok 300; echo $?)" "DR IPv4: 300 connections, all answered, spread over b1..b3"
newf=$(metric 'tandem_l4_packets_total{outcome="flow_new"}')
ok "$([ "${newf:-0}" -ge 300 ]; echo $?)" "DR IPv4: >= 300 new flows counted ($newf)"
is "$(metric "tandem_l4_vip_connections_total{vip=\"$VIP4:80\"}")" "$newf" \
	"DR IPv4: /metrics per VIP: connections of $VIP4:80"

# a back end fails: out of the table, the others keep serving
t0=$(date +%s%N)
nginx_stop b2
gone=1
for _ in $(seq 1 200); do
	[ "$(metric 'tandem_l4_backend_up{node="b2"}')" = 0 ] && { gone=0; break; }
	sleep 0.05
done
ok $gone "b2's nginx stopped: b2 taken out (after $((($(date +%s%N) - t0) / 1000000)) ms)"
conns 60 "http://$VIP4/"
diag "with b2 down: $(spread)"
ok "$([ -z "$(got FAIL)" ] && [ -z "$(got b2)" ] && [ $(($(got b1) + $(got b3))) = 60 ]; echo $?)" \
	"60 connections with b2 down: all answered, none by b2"
nginx_start b2

# SIGKILL: the next start removes what the killed one left
stop_fe KILL
ok "$(at fe tc filter show dev eth0 ingress | grep -q l4_tc; echo $?)" \
	"SIGKILL leaves the tc filter behind (nothing could detach it)"
start_fe "$TMP/dr4.ini"
ok $? "tandem l4 starts again over the stale filter" || exit 1
grep -q "removed a stale tc filter" "$TMP/fe.log"
ok $? "... and says it removed the stale tc filter"
is "$(at fe tc filter show dev eth0 ingress | grep -c 'l4_tc')" 1 "... one filter of ours, not two"
conns 30 "http://$VIP4/"
ok "$(spread_ok 30; echo $?)" "30 connections after the restart: $(spread)"
stop_fe
ok $? "SIGTERM: tandem l4 exits 0"
is "$(nothing_left)" "" "SIGTERM detached everything: no xdp, no tc filter, no clsact (it was tandem's)"

# ---- DR, IPv6 only ------------------------------------------------------------
write_cfg "$TMP/dr6.ini" dr "[$VIP6]:80" 6
ok $? "tandem -t accepts the IPv6-only file" || sed 's/^/# /' "$TMP/dr6.ini.check"
# this time the clsact qdisc is the user's: tandem must leave it there
at fe tc qdisc add dev eth0 clsact
start_fe "$TMP/dr6.ini"
ok $? "tandem l4 (dr, IPv6 only) up: three IPv6 back ends healthy, MACs by neighbour discovery" ||
	exit 1
conns 300 "http://[$VIP6]/"
diag "DR IPv6, 300 connections: $(spread)"
ok "$(spread_ok 300; echo $?)" "DR IPv6: 300 connections, all answered, spread over b1..b3"
nd=$(metric 'tandem_l4_packets_total{outcome="pass_nd"}')
ok "$([ "${nd:-0}" -gt 0 ]; echo $?)" "DR IPv6: neighbour discovery passed to the stack ($nd)"
nginx_stop b3
gone=1
for _ in $(seq 1 200); do
	[ "$(metric 'tandem_l4_backend_up{node="b3"}')" = 0 ] && { gone=0; break; }
	sleep 0.05
done
ok $gone "IPv6: b3's nginx stopped: b3 taken out"
conns 30 "http://[$VIP6]/"
ok "$([ -z "$(got FAIL)" ] && [ -z "$(got b3)" ]; echo $?)" "IPv6: 30 connections with b3 down: $(spread)"
nginx_start b3
stop_fe
ok $? "IPv6: SIGTERM, exit 0"
is "$(nothing_left)" "clsact" "IPv6: filter detached, the user's clsact qdisc left in place"
at fe tc qdisc del dev eth0 clsact

# ---- DR, dual stack -------------------------------------------------------------
write_cfg "$TMP/dual.ini" dr "$VIP4:80 [$VIP6]:80" 46
ok $? "tandem -t accepts the dual-stack file" || sed 's/^/# /' "$TMP/dual.ini.check"
start_fe "$TMP/dual.ini"
ok $? "tandem l4 (dr, dual stack) up" || exit 1
conns 150 "http://$VIP4/"
ok "$(spread_ok 150; echo $?)" "dual stack: 150 connections to $VIP4: $(spread)"
conns 150 "http://[$VIP6]/"
ok "$(spread_ok 150; echo $?)" "dual stack: 150 connections to [$VIP6]: $(spread)"
c4=$(metric "tandem_l4_vip_connections_total{vip=\"$VIP4:80\"}")
c6=$(metric "tandem_l4_vip_connections_total{vip=\"[$VIP6]:80\"}")
diag "per-VIP connections: $VIP4:80 $c4, [$VIP6]:80 $c6"
ok "$([ "${c4:-0}" -ge 150 ] && [ "${c6:-0}" -ge 150 ] && [ "$c4" -lt 200 ] && [ "$c6" -lt 200 ]; echo $?)" \
	"dual stack: /metrics counts connections per VIP"
stop_fe
ok $? "dual stack: SIGTERM, exit 0"
is "$(nothing_left)" "" "dual stack: everything detached"

# ---- NAT, IPv4 and IPv6 ---------------------------------------------------------
# Back ends reach the client through the front end; the front end forwards
# what it hands to the stack. The switch's own ports complete checksums in
# software (as a NIC would), so a wrong partial checksum is not trusted on.
at fe sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
	net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
for n in $NODES; do
	ip -n "$(ns "$n")" route replace "$(addr4 c)/32" via "$(addr4 fe)"
	ip -n "$(ns "$n")" -6 route replace "$(addr6 c)/128" via "$(addr6 fe)"
done
csum_off=0
for port in c $NODES; do
	tx_csum sw "$port" 0 && [ "$(tx_csum sw "$port")" = 0 ] || csum_off=1
done
ok $csum_off "the switch completes checksums in software on the client's and back ends' ports"
write_cfg "$TMP/nat.ini" nat "$VIP4:80 [$VIP6]:80" 46
ok $? "tandem -t accepts the NAT dual-stack file" || sed 's/^/# /' "$TMP/nat.ini.check"
start_fe "$TMP/nat.ini"
ok $? "tandem l4 (nat, hook auto) up" || exit 1
conns 150 "http://$VIP4/"
ok "$(spread_ok 150; echo $?)" "NAT IPv4: 150 connections: $(spread)"
conns 150 "http://[$VIP6]/"
ok "$(spread_ok 150; echo $?)" "NAT IPv6: 150 connections: $(spread)"
t=$(metric 'tandem_l4_packets_total{outcome="tx_nat"}')
r=$(metric 'tandem_l4_packets_total{outcome="tx_nat_reply"}')
p=$(metric 'tandem_l4_packets_total{outcome="pass_nat_nofib"}')
diag "NAT: $t packets rewritten to back ends, $r replies rewritten to the VIPs by tc, $p by the stack"
ok "$([ "${t:-0}" -ge 900 ] && [ "${r:-0}" -ge 900 ]; echo $?)" \
	"NAT: both directions went through the tc program"
stop_fe
ok $? "NAT: SIGTERM, exit 0"
is "$(nothing_left)" "" "NAT: everything detached"

done_testing
