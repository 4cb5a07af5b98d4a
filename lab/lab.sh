#!/bin/bash
# lab.sh: an emulated cluster on one machine. Every host is a network
# namespace with one veth "eth0"; the other ends sit on a bridge "br0" in a
# switch namespace of their own, so nothing touches the host's network.
#
#   lab.sh up N            client, fe (front end), be1..beN on 198.18.0.0/24
#   lab.sh down            removes everything of this lab, also half-built
#   lab.sh exec HOST CMD   runs CMD inside HOST (client, fe, beI, sw)
#   lab.sh status          namespaces, addresses, processes
#   lab.sh nginx HOST start|stop   a real nginx on beI, answering with its name
#   lab.sh addr HOST       HOST's address
#
# Addresses (only 198.18.0.0/15, the benchmarking range): fe 198.18.0.1,
# client 198.18.0.2, beI 198.18.0.(10+I), the VIP $LAB_VIP (198.18.0.100)
# owned by fe on eth0 and by every back end on lo, with arp_ignore=1 and
# arp_announce=2 so only fe answers ARP for it (direct routing).
# Environment: LAB_PREFIX (namespace prefix, default "tdm"; use one per
# concurrent lab), LAB_STATE (default /tmp/tandem-lab-$LAB_PREFIX).
# Later growth (per-host cgroup CPU budgets, tbf link rates) goes here too.
set -u

P=${LAB_PREFIX:-tdm}
STATE=${LAB_STATE:-/tmp/tandem-lab-$P}
LAB_VIP=${LAB_VIP:-198.18.0.100}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

die() { echo "lab: $*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, veth, XDP); run as root"
	command -v ip >/dev/null || die "ip (iproute2) not found"
}

ns() { echo "$P-$1"; }
nsx() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }

host_addr() {
	case $1 in
	fe) echo 198.18.0.1 ;;
	client) echo 198.18.0.2 ;;
	be*) echo "198.18.0.$((10 + ${1#be}))" ;;
	*) return 1 ;;
	esac
}

hosts() { # the hosts of this lab that exist, switch last
	ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-" | sed "s/^$P-//" |
		grep -v '^sw$'
	ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$P-sw" && echo sw
	return 0
}

# Veth quirk: a frame sent with XDP_TX on a veth is dropped unless the peer
# has an XDP program too (it sets up the peer's NAPI queue). Build a
# pass-everything program once and attach it on the switch side of fe.
xdp_pass_obj() {
	local obj=$STATE/l4_pass.bpf.o
	if [ ! -s "$obj" ]; then
		command -v clang >/dev/null || return 1
		clang -O2 -g -target bpf -I"/usr/include/$(cc -dumpmachine)" \
			-c -o "$obj" "$ROOT/src/bpf/l4_pass.bpf.c" 2>"$STATE/clang.log" || return 1
	fi
	echo "$obj"
}

# Checksum offload: a veth hands the receiver "checksum partial" frames, and
# an XDP program that sends them on (XDP_TX) loses that mark, so the next
# host would see a wrong checksum. A real wire always carries full
# checksums: switch TX checksum offload off on every host's eth0 to match.
tx_csum_off() { # HOST
	nsx "$1" python3 - <<'EOF' 2>/dev/null || nsx "$1" ethtool -K eth0 tx off >/dev/null 2>&1
import array, fcntl, socket, struct
ETHTOOL_STXCSUM, SIOCETHTOOL = 0x17, 0x8946
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
val = array.array('B', struct.pack('II', ETHTOOL_STXCSUM, 0))
addr, _ = val.buffer_info()
ifr = struct.pack('16sP', b'eth0', addr)
fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
EOF
}

add_host() { # NAME ADDR
	local h=$1 a=$2
	ip netns add "$(ns "$h")" || return 1
	ip -n "$(ns sw)" link add "$h" type veth peer name eth0 netns "$(ns "$h")" || return 1
	ip -n "$(ns sw)" link set "$h" master br0 up || return 1
	ip -n "$(ns "$h")" link set lo up
	ip -n "$(ns "$h")" addr add "$a/24" dev eth0
	ip -n "$(ns "$h")" link set eth0 up
	tx_csum_off "$h" || echo "lab: warning: could not turn TX checksum offload off on $h" >&2
}

cmd_up() {
	local n=${1:-3} obj
	need_root
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "up N: N from 1 to 200"
	cmd_down >/dev/null 2>&1
	mkdir -p "$STATE" || die "cannot create $STATE"
	{
		ip netns add "$(ns sw)" &&
		ip -n "$(ns sw)" link add br0 type bridge &&
		ip -n "$(ns sw)" link set br0 up &&
		add_host fe "$(host_addr fe)" &&
		add_host client "$(host_addr client)" || die "building the switch, fe or client failed"
	}
	for i in $(seq 1 "$n"); do
		add_host "be$i" "$(host_addr "be$i")" || die "building be$i failed"
		nsx "be$i" ip addr add "$LAB_VIP/32" dev lo
		nsx "be$i" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
			net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
	done
	nsx fe ip addr add "$LAB_VIP/32" dev eth0
	# fe forwards what its XDP program hands to the stack (NAT replies
	# without a neighbour yet) and must not answer that with ICMP redirects
	nsx fe sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
		net.ipv4.conf.eth0.send_redirects=0
	if obj=$(xdp_pass_obj); then
		ip -n "$(ns sw)" link set dev fe xdpdrv obj "$obj" sec xdp ||
			echo "lab: warning: no XDP program on fe's peer: native XDP_TX will be dropped" >&2
	else
		echo "lab: warning: cannot build l4_pass.bpf.o (see $STATE/clang.log)" >&2
	fi
	echo "$n" >"$STATE/nodes"
	echo "lab $P up: fe $(host_addr fe), client $(host_addr client), be1..be$n, vip $LAB_VIP"
}

cmd_down() {
	local h pid f
	[ "$(id -u)" -eq 0 ] || die "needs root"
	# nginx first, by the pid it wrote, then anything else left in our hosts
	for f in "$STATE"/nginx-*/nginx.pid; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	for h in $(hosts); do
		for pid in $(ip netns pids "$(ns "$h")" 2>/dev/null); do
			kill "$pid" 2>/dev/null
		done
	done
	for h in $(hosts); do
		for pid in $(ip netns pids "$(ns "$h")" 2>/dev/null); do
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$pid" 2>/dev/null
		done
	done
	for h in $(hosts); do
		ip netns del "$(ns "$h")" 2>/dev/null
	done
	rm -rf "$STATE"
	[ -z "$(hosts)" ] || die "some namespaces of $P are left: $(hosts | tr '\n' ' ')"
	echo "lab $P down"
}

cmd_exec() {
	local h=${1:-}
	need_root
	[ -n "$h" ] || die "exec HOST CMD..."
	shift
	ip netns list | awk '{print $1}' | grep -qx "$(ns "$h")" || die "no host $h in lab $P"
	nsx "$h" "$@"
}

cmd_status() {
	local h
	need_root
	[ -n "$(hosts)" ] || { echo "lab $P: down"; return 0; }
	for h in $(hosts); do
		printf '%-8s %-16s pids: %s\n' "$h" \
			"$(ip -n "$(ns "$h")" -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}' | head -1)" \
			"$(ip netns pids "$(ns "$h")" 2>/dev/null | tr '\n' ' ')"
	done
}

# A real nginx per back end: its own prefix, config and pid file under
# $STATE/nginx-HOST; every answer names the host in a header and the body.
cmd_nginx() {
	local h=${1:-} op=${2:-start} d pid
	need_root
	[[ $h == be* ]] || die "nginx beI start|stop"
	d=$STATE/nginx-$h
	case $op in
	start)
		command -v nginx >/dev/null || die "nginx not found"
		mkdir -p "$d/logs" "$d/html" "$d/tmp"
		echo "$h" >"$d/html/index.html"
		head -c 1048576 /dev/zero >"$d/html/big"
		cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon on;
user root;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log $d/logs/access.log;
	client_body_temp_path $d/tmp;
	proxy_temp_path $d/tmp;
	fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp;
	scgi_temp_path $d/tmp;
	keepalive_requests 1000;
	server {
		listen 80 reuseport backlog=4096;
		root $d/html;
		add_header X-Backend $h always;
		location = / { default_type text/plain; return 200 "$h\n"; }
	}
}
EOF
		nsx "$h" nginx -p "$d" -c "$d/nginx.conf" || die "nginx on $h failed to start"
		for _ in $(seq 1 50); do [ -s "$d/nginx.pid" ] && break; sleep 0.1; done
		[ -s "$d/nginx.pid" ] || die "nginx on $h wrote no pid file"
		;;
	stop)
		[ -s "$d/nginx.pid" ] || return 0
		pid=$(cat "$d/nginx.pid")
		kill "$pid" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		rm -f "$d/nginx.pid"
		;;
	*) die "nginx HOST start|stop" ;;
	esac
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
exec) shift; cmd_exec "$@" ;;
status) cmd_status ;;
nginx) shift; cmd_nginx "$@" ;;
addr) host_addr "${2:-}" ;;
*) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 2 ;;
esac
