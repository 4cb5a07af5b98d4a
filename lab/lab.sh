#!/bin/bash
# lab.sh: an emulated cluster on one machine. Every host is a network
# namespace with one veth "eth0"; the other ends sit on a bridge "br0" in a
# switch namespace of their own, so nothing touches the host's network.
# Every host may get a CPU budget (a cgroup v1 cpu quota: a fraction of one
# core, as if it were a small machine of its own) and a link rate (tbf).
#
#   lab.sh up N [OPTS]     client, fe (front end), be1..beN on 198.18.0.0/24
#   lab.sh cluster N MODE [OPTS]   up N, then start the servers of MODE:
#       two-level        tandem l4 on fe; tandem l7 (:80) + nginx (:8080) on every beI
#       central-tandem   tandem l7 on fe (VIP:80) to every beI's nginx (:8080)
#       central-haproxy  HAProxy 2.6 on fe (VIP:80) to every beI's nginx (:8080)
#       l4-only          tandem l4 on fe; nginx (:80) on every beI, no L7
#       two-level-tls, central-tandem-tls, central-haproxy-tls   the same
#                        serving HTTPS on VIP:443: TLS terminated by every
#                        beI's tandem l7 (tandem l4 spreads VIP:80 and :443),
#                        by fe's tandem l7, or by fe's HAProxy (VIP:443 only)
#   lab.sh down            removes everything of this lab, also half-built
#   lab.sh exec HOST CMD   runs CMD inside HOST (netns and cgroup of HOST)
#   lab.sh start HOST NAME CMD   runs CMD in HOST in the background (pid kept)
#   lab.sh stop HOST NAME  stops what start started, by its pid
#   lab.sh status          hosts, addresses, CPU budgets, processes
#   lab.sh cpu             per host: CPU ns used, periods throttled, quota
#   lab.sh nginx HOST start|stop [PORT]   a real nginx on beI (default :80)
#   lab.sh addr HOST       HOST's address (addr6: its IPv6 address)
#   lab.sh vip-route       the router's next hops for the VIP (with --fe K)
#
# --fe K (LAB_FE, default 1): K > 1 front ends fe1..feK behind a router rt
# running BIRD (AS 65000) with a multipath route to the VIP, learnt over
# BGP from each front end's tandem l4 (AS 65001, [l4] bgp_*); the client
# sits behind the router on 198.18.1.0/24. cluster starts tandem l4 on
# every front end (two-level and l4-only). See doc/lab.md.
#
# OPTS (or the environment): --cpu-be PCT (LAB_CPU_BE), --cpu-fe PCT
# (LAB_CPU_FE), --cpu-client PCT (LAB_CPU_CLIENT): percent of one core, 0 or
# empty for no limit, enforced over LAB_CPU_PERIOD_US periods (default
# 10000: 10 ms); --rate RATE (LAB_RATE): tbf rate on every link, both
# directions, e.g. 100mbit; --native-xdp (LAB_NATIVE_XDP=1): the two veth
# workarounds native XDP needs on fe (see below; tandem l4's default hook,
# auto, takes tc on these veths and needs neither). cluster also reads
# LAB_IMAGES (nodes that serve /images/, default all; "none" for no
# content rules), LAB_IMAGES_POLICY (default chash), LAB_PREFER_LOCAL (the
# default group's prefer_local, default yes: a back end serves what it can
# itself, see doc/internals/policies.md), LAB_TANDEM (the binary, default
# build/tandem),
# LAB_NGINX_LOG (1: access log on, default 0 for cluster, 1 for nginx),
# LAB_LOCAL (how a back end's tandem l7 reaches its own nginx: unix, the
# default, over nginx's unix socket $STATE/nginx-beI/nginx.sock; tcp, over
# 127.0.0.1:8080; none, at its eth0 address like the other back ends),
# LAB_RELAY (the relay engine of every tandem cluster file: copy, splice,
# sockmap, packet or auto, default splice; packet also names the node's
# own interfaces, [l7] splice_ifaces = eth0 lo; a back end's own nginx
# behind lo is reached with the pool's MSS clamped to eth0's, so its
# segments fit the client's path and are spliced at packet level too, but
# not over its unix socket (LAB_LOCAL=unix): those bodies go by splice(2),
# see doc/lab.md),
# LAB_TLS_DIR (the *-tls modes: site.crt, site.key, site.pem and tickets
# there, made with the openssl CLI when missing: one ECDSA P-256
# certificate and one ticket key file for every terminator; default
# $STATE/tls), LAB_TLS_SUITE (the TLS 1.3 suite HAProxy is pinned to,
# default TLS_AES_128_GCM_SHA256; tandem has no cipher setting, so a
# client pins the same one for both).
#
# Addresses (only 198.18.0.0/15, the benchmarking range): fe 198.18.0.1,
# client 198.18.0.2, beI 198.18.0.(10+I), the VIP $LAB_VIP (198.18.0.100)
# owned by fe on eth0 and by every back end on lo, with arp_ignore=1 and
# arp_announce=2 so only fe answers ARP for it (direct routing). IPv6 (in
# 2001:2::/48, the benchmarking range): fe 2001:2::1, client 2001:2::2,
# beI 2001:2::1:I, the VIP $LAB_VIP6 (2001:2::100) the same way, added
# deprecated (preferred_lft 0) so no host picks it as a source address.
# Environment: LAB_PREFIX (namespace prefix, default "tdm"; use one per
# concurrent lab), LAB_STATE (default /tmp/tandem-lab-$LAB_PREFIX).
# Cgroups: tandem-lab-$LAB_PREFIX/HOST under the cpu (and cpuacct) mounts.
# See doc/lab.md for what the budgets emulate and where they fall short.
set -u

P=${LAB_PREFIX:-tdm}
STATE=${LAB_STATE:-/tmp/tandem-lab-$P}
LAB_VIP=${LAB_VIP:-198.18.0.100}
LAB_VIP6=${LAB_VIP6:-2001:2::100}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TANDEM=${LAB_TANDEM:-${TANDEM:-$ROOT/build/tandem}}
CG_NAME=tandem-lab-$P
PERIOD_US=${LAB_CPU_PERIOD_US:-10000}

die() { echo "lab: $*" >&2; exit 1; }
warn() { echo "lab: warning: $*" >&2; }

need_root() {
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, veth, cgroups, XDP); run as root"
	command -v ip >/dev/null || die "ip (iproute2) not found"
}

ns() { echo "$P-$1"; }

# ---- cgroups (v1) ------------------------------------------------------
# The mount point of a v1 hierarchy that has controller $1 among its
# options: /sys/fs/cgroup/cpu, /sys/fs/cgroup/cpu,cpuacct, ...
cg_mount() {
	awk -v c="$1" '$3 == "cgroup" {
		n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $2; exit }
	}' /proc/mounts
}
CG_CPU=$(cg_mount cpu)
CG_ACCT=$(cg_mount cpuacct)

# The cgroup folders of HOST (cpu first, then cpuacct if mounted apart).
cg_dirs() {
	[ -n "$CG_CPU" ] && echo "$CG_CPU/$CG_NAME/$1"
	[ -n "$CG_ACCT" ] && [ "$CG_ACCT" != "$CG_CPU" ] && echo "$CG_ACCT/$CG_NAME/$1"
	return 0
}

cg_create() { # HOST PCT
	local h=$1 pct=${2:-0} d
	for d in $(cg_dirs "$h"); do
		mkdir -p "$d" || return 1
	done
	[ -n "$CG_CPU" ] || return 0
	d=$CG_CPU/$CG_NAME/$h
	if [ -n "$pct" ] && [ "$pct" != 0 ]; then
		local per=$PERIOD_US q=$((pct * PERIOD_US / 100))
		# the kernel refuses a quota under 1 ms: stretch the period instead
		[ "$q" -lt 1000 ] && { q=1000; per=$((100000 / pct)); }
		echo -1 >"$d/cpu.cfs_quota_us" &&
			echo "$per" >"$d/cpu.cfs_period_us" &&
			echo "$q" >"$d/cpu.cfs_quota_us" || return 1
	else
		echo -1 >"$d/cpu.cfs_quota_us" || return 1
	fi
}

# Runs CMD in HOST: this (sub)shell joins HOST's cgroups first, so every
# process CMD starts is charged to HOST's budget.
in_host() { # HOST CMD...
	local h=$1 d
	shift
	for d in $(cg_dirs "$h"); do
		[ -d "$d" ] && echo "$BASHPID" >"$d/cgroup.procs"
	done
	exec ip netns exec "$(ns "$h")" "$@"
}
nsx() { (in_host "$@"); }

cg_pids() { # every task in this lab's cgroups
	local d
	for d in "$CG_CPU/$CG_NAME" "$CG_ACCT/$CG_NAME"; do
		[ -d "$d" ] && cat "$d"/*/cgroup.procs 2>/dev/null
	done | sort -u
}

cg_remove() {
	local top d
	for top in "$CG_CPU/$CG_NAME" "$CG_ACCT/$CG_NAME"; do
		[ -d "$top" ] || continue
		for d in "$top"/*/; do
			[ -d "$d" ] || continue
			for _ in $(seq 1 20); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
		done
		rmdir "$top" 2>/dev/null
	done
	! { [ -n "$CG_CPU" ] && [ -d "$CG_CPU/$CG_NAME" ]; } &&
		! { [ -n "$CG_ACCT" ] && [ -d "$CG_ACCT/$CG_NAME" ]; }
}

# ---- hosts ---------------------------------------------------------------
host_addr() {
	case $1 in
	fe) echo 198.18.0.1 ;;
	client) echo 198.18.0.2 ;;
	be*) echo "198.18.0.$((10 + ${1#be}))" ;;
	*) return 1 ;;
	esac
}

host_addr6() {
	case $1 in
	fe) echo 2001:2::1 ;;
	client) echo 2001:2::2 ;;
	be*) echo "2001:2::1:${1#be}" ;;
	*) return 1 ;;
	esac
}

hosts() { # the hosts of this lab that exist, switch last
	ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-" | sed "s/^$P-//" |
		grep -v '^sw$'
	ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$P-sw" && echo sw
	return 0
}

nodes() { cat "$STATE/nodes" 2>/dev/null || echo 0; }

# Veth quirk, for --native-xdp only: a frame sent with XDP_TX on a veth is
# dropped unless the peer has an XDP program too (it sets up the peer's
# NAPI queue). Build a pass-everything program once and attach it on the
# switch side of fe. tandem l4 with hook = auto (or tc) does not need it.
xdp_pass_obj() {
	local obj=$STATE/l4_pass.bpf.o
	if [ -s "$ROOT/build/bpf/l4_pass.bpf.o" ]; then
		echo "$ROOT/build/bpf/l4_pass.bpf.o"
		return 0
	fi
	if [ ! -s "$obj" ]; then
		command -v clang >/dev/null || return 1
		clang -O2 -g -target bpf -I"/usr/include/$(cc -dumpmachine)" \
			-c -o "$obj" "$ROOT/src/bpf/l4_pass.bpf.c" 2>"$STATE/clang.log" || return 1
	fi
	echo "$obj"
}

# Checksum offload, for --native-xdp only: a veth hands the receiver
# "checksum partial" frames, and an XDP program that sends them on (XDP_TX)
# loses that mark, so the next host would see a wrong checksum. A real wire
# always carries full checksums: switch TX checksum offload off on every
# host's eth0 to match. The tc hook keeps the mark and needs none of this.
tx_csum_off() { # HOST
	ip netns exec "$(ns "$1")" python3 - <<'EOF' 2>/dev/null ||
import array, fcntl, socket, struct
ETHTOOL_STXCSUM, SIOCETHTOOL = 0x17, 0x8946
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
val = array.array('B', struct.pack('II', ETHTOOL_STXCSUM, 0))
addr, _ = val.buffer_info()
ifr = struct.pack('16sP', b'eth0', addr)
fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
EOF
		ip netns exec "$(ns "$1")" ethtool -K eth0 tx off >/dev/null 2>&1
}

# A link rate: tbf on both ends of the host's veth, so each direction of
# the "cable" is shaped (the switch side shapes what the host receives).
shape() { # HOST RATE
	local q="tbf rate $2 burst 64kb latency 20ms"
	# shellcheck disable=SC2086
	ip -n "$(ns "$1")" link set eth0 txqueuelen 1000 &&
		ip netns exec "$(ns "$1")" tc qdisc replace dev eth0 root $q &&
		ip netns exec "$(ns sw)" tc qdisc replace dev "$1" root $q
}

add_host() { # NAME ADDR PCT
	local h=$1 a=$2
	cg_create "$h" "$3" || { echo "lab: cannot create cgroup $CG_NAME/$h" >&2; return 1; }
	ip netns add "$(ns "$h")" || return 1
	ip -n "$(ns sw)" link add "$h" type veth peer name eth0 netns "$(ns "$h")" || return 1
	ip -n "$(ns sw)" link set "$h" master br0 up || return 1
	ip -n "$(ns "$h")" link set lo up
	ip -n "$(ns "$h")" addr add "$a/24" dev eth0
	ip -n "$(ns "$h")" addr add "$(host_addr6 "$h")/64" dev eth0 nodad
	ip -n "$(ns "$h")" link set eth0 up
	if [ "$NATIVE_XDP" = 1 ]; then
		tx_csum_off "$h" || warn "could not turn TX checksum offload off on $h"
	fi
	if [ -n "$RATE" ]; then
		shape "$h" "$RATE" || { echo "lab: tbf rate $RATE on $h failed" >&2; return 1; }
	fi
}

# Kernel features, probed before anything is built: a clear refusal
# instead of a half-built lab.
probe() {
	need_root
	local t=$P-probe$$
	ip netns add "$t" 2>/dev/null || die "cannot create network namespaces (CONFIG_NET_NS?)"
	if ! ip -n "$t" link add v0 type veth peer name v1 2>/dev/null; then
		ip netns del "$t"
		die "cannot create veth pairs (CONFIG_VETH, module veth)"
	fi
	if ! ip -n "$t" link add b0 type bridge 2>/dev/null; then
		ip netns del "$t"
		die "cannot create a bridge (CONFIG_BRIDGE, module bridge)"
	fi
	if [ -n "$RATE" ] && ! ip netns exec "$t" tc qdisc add dev v0 root tbf rate "$RATE" \
		burst 64kb latency 20ms 2>/dev/null; then
		ip netns del "$t"
		die "cannot add a tbf qdisc with rate '$RATE' (CONFIG_NET_SCH_TBF, tc, or a bad rate)"
	fi
	ip netns del "$t"
	if [ -n "$CPU_BE$CPU_FE$CPU_CLIENT" ] && [ "$CPU_BE$CPU_FE$CPU_CLIENT" != 000 ]; then
		[ -n "$CG_CPU" ] || die "no cgroup v1 hierarchy with the cpu controller in /proc/mounts" \
			"(mount -t cgroup -o cpu cgroup /sys/fs/cgroup/cpu); CPU budgets need it"
		[ -e "$CG_CPU/cpu.cfs_quota_us" ] ||
			die "$CG_CPU has no cpu.cfs_quota_us: the kernel lacks CONFIG_CFS_BANDWIDTH"
	fi
}

RATE=${LAB_RATE:-}
CPU_BE=${LAB_CPU_BE:-}
CPU_FE=${LAB_CPU_FE:-}
CPU_CLIENT=${LAB_CPU_CLIENT:-}
FE=${LAB_FE:-1}
NATIVE_XDP=${LAB_NATIVE_XDP:-0}

parse_opts() {
	while [ $# -gt 0 ]; do
		case $1 in
		--cpu-be) CPU_BE=${2:-} ; shift 2 ;;
		--cpu-fe) CPU_FE=${2:-} ; shift 2 ;;
		--cpu-client) CPU_CLIENT=${2:-} ; shift 2 ;;
		--rate) RATE=${2:-} ; shift 2 ;;
		--fe) FE=${2:-} ; shift 2 ;;
		--native-xdp) NATIVE_XDP=1 ; shift ;;
		*) die "unknown option '$1'" ;;
		esac
	done
	for v in "$CPU_BE" "$CPU_FE" "$CPU_CLIENT"; do
		[ -z "$v" ] || [[ $v =~ ^[0-9]+$ && $v -le 10000 ]] ||
			die "a CPU budget is a whole percent of one core (0 = no limit), got '$v'"
	done
	[[ $FE =~ ^[0-9]+$ ]] && [ "$FE" -ge 1 ] && [ "$FE" -le 30 ] ||
		die "--fe K: K front ends, 1 to 30, got '$FE'"
}

cmd_up() {
	local n=${1:-3} obj i
	[ $# -gt 0 ] && shift
	parse_opts "$@"
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "up N: N from 1 to 200"
	[ "$FE" -gt 1 ] && { ecmp_up "$n"; return; }
	probe
	cmd_down >/dev/null 2>&1
	mkdir -p "$STATE/pid" "$STATE/log" || die "cannot create $STATE"
	trap 'echo "lab: building the lab failed, tearing it down" >&2; cmd_down >/dev/null 2>&1' EXIT
	{
		ip netns add "$(ns sw)" &&
		ip -n "$(ns sw)" link add br0 type bridge &&
		ip -n "$(ns sw)" link set br0 up &&
		add_host fe "$(host_addr fe)" "$CPU_FE" &&
		add_host client "$(host_addr client)" "$CPU_CLIENT"
	} || die "building the switch, fe or client failed"
	for i in $(seq 1 "$n"); do
		add_host "be$i" "$(host_addr "be$i")" "$CPU_BE" || die "building be$i failed"
		ip netns exec "$(ns "be$i")" ip addr add "$LAB_VIP/32" dev lo
		ip netns exec "$(ns "be$i")" ip addr add "$LAB_VIP6/128" dev lo nodad preferred_lft 0
		ip netns exec "$(ns "be$i")" sysctl -qw net.ipv4.conf.all.arp_ignore=1 \
			net.ipv4.conf.all.arp_announce=2 \
			net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
	done
	ip netns exec "$(ns fe)" ip addr add "$LAB_VIP/32" dev eth0
	ip netns exec "$(ns fe)" ip addr add "$LAB_VIP6/128" dev eth0 nodad preferred_lft 0
	# fe forwards what its XDP program hands to the stack (NAT replies
	# without a neighbour yet) and must not answer that with ICMP redirects
	ip netns exec "$(ns fe)" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
	# many short connections from one client: let it reuse TIME_WAIT ports
	ip netns exec "$(ns client)" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
		net.ipv4.ip_local_port_range="10000 65000"
	if [ "$NATIVE_XDP" != 1 ]; then
		:
	elif obj=$(xdp_pass_obj); then
		ip -n "$(ns sw)" link set dev fe xdpdrv obj "$obj" sec xdp ||
			warn "no XDP program on fe's peer: native XDP_TX will be dropped"
	else
		warn "cannot build l4_pass.bpf.o (see $STATE/clang.log)"
	fi
	echo "$n" >"$STATE/nodes"
	printf 'be=%s fe=%s client=%s rate=%s native-xdp=%s\n' "${CPU_BE:-0}" "${CPU_FE:-0}" \
		"${CPU_CLIENT:-0}" "${RATE:-none}" "$NATIVE_XDP" >"$STATE/budgets"
	trap - EXIT
	echo "lab $P up: fe $(host_addr fe), client $(host_addr client), be1..be$n, vip $LAB_VIP" \
		"and [$LAB_VIP6]$([ "$NATIVE_XDP" = 1 ] && echo ', native-XDP workarounds on')" \
		"(cpu % of a core: be ${CPU_BE:-no limit}, fe ${CPU_FE:-no limit}," \
		"client ${CPU_CLIENT:-no limit}; rate ${RATE:-none})"
}

stop_pid() { # PID: TERM, up to 3 s, then KILL
	local pid=$1
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 30); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
}

cmd_down() {
	local h pid f pids
	[ "$(id -u)" -eq 0 ] || die "needs root"
	# what we started, by the pids we wrote, then nginx masters, then
	# anything else left in our namespaces or our cgroups
	for f in "$STATE"/pid/*; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	for f in "$STATE"/nginx-*/nginx.pid; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		pids=$({ for h in $(hosts); do ip netns pids "$(ns "$h")" 2>/dev/null; done; cg_pids; } |
			sort -u)
		[ -z "$pids" ] && break
		# shellcheck disable=SC2086
		kill $pids 2>/dev/null
		sleep 0.1
	done
	for pid in $({ for h in $(hosts); do ip netns pids "$(ns "$h")" 2>/dev/null; done; cg_pids; } |
		sort -u); do
		kill -9 "$pid" 2>/dev/null
	done
	for h in $(hosts); do
		ip netns del "$(ns "$h")" 2>/dev/null
	done
	cg_remove || echo "lab: cgroup $CG_NAME is left (tasks still in it?)" >&2
	rm -rf "$STATE"
	[ -z "$(hosts)" ] || die "some namespaces of $P are left: $(hosts | tr '\n' ' ')"
	echo "lab $P down"
}

has_host() { ip netns list | awk '{print $1}' | grep -qx "$(ns "$1")"; }

cmd_exec() {
	local h=${1:-}
	need_root
	[ -n "$h" ] || die "exec HOST CMD..."
	shift
	has_host "$h" || die "no host $h in lab $P"
	in_host "$h" "$@"
}

cmd_start() { # HOST NAME CMD...
	local h=${1:-} name=${2:-} pid
	need_root
	[ -n "$h" ] && [ -n "$name" ] && [ $# -gt 2 ] || die "start HOST NAME CMD..."
	shift 2
	has_host "$h" || die "no host $h in lab $P"
	mkdir -p "$STATE/pid" "$STATE/log"
	(in_host "$h" "$@") </dev/null >>"$STATE/log/$h-$name.log" 2>&1 &
	pid=$!
	echo "$pid" >"$STATE/pid/$h-$name"
	echo "$pid"
}

cmd_stop() { # HOST NAME
	local f=$STATE/pid/${1:-}-${2:-}
	need_root
	[ -s "$f" ] || return 0
	stop_pid "$(cat "$f")"
	rm -f "$f"
}

cmd_status() {
	local h cg q
	need_root
	[ -n "$(hosts)" ] || { echo "lab $P: down"; return 0; }
	[ -s "$STATE/budgets" ] && echo "lab $P: $(cat "$STATE/budgets")"
	for h in $(hosts); do
		cg=$CG_CPU/$CG_NAME/$h
		q=-
		[ -r "$cg/cpu.cfs_quota_us" ] && q=$(awk '{ print ($1 < 0) ? "max" : $1 / 1000 "%" }' \
			"$cg/cpu.cfs_quota_us")
		printf '%-8s %-16s cpu %-5s pids: %s\n' "$h" \
			"$(ip -n "$(ns "$h")" -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}' | head -1)" \
			"$q" "$(ip netns pids "$(ns "$h")" 2>/dev/null | tr '\n' ' ')"
	done
	for f in "$STATE"/pid/*; do
		[ -s "$f" ] || continue
		kill -0 "$(cat "$f")" 2>/dev/null && st=running || st=gone
		printf '  %-24s pid %-8s %s\n' "$(basename "$f")" "$(cat "$f")" "$st"
	done
}

# HOST USAGE_NS NR_THROTTLED NR_PERIODS QUOTA_US, one line per host
cmd_cpu() {
	local h u t n q
	for h in $(hosts); do
		[ "$h" = sw ] && continue
		u=0; t=0; n=0; q=-1
		[ -n "$CG_ACCT" ] && [ -r "$CG_ACCT/$CG_NAME/$h/cpuacct.usage" ] &&
			u=$(cat "$CG_ACCT/$CG_NAME/$h/cpuacct.usage")
		if [ -r "$CG_CPU/$CG_NAME/$h/cpu.stat" ]; then
			t=$(awk '$1 == "nr_throttled" { print $2 }' "$CG_CPU/$CG_NAME/$h/cpu.stat")
			n=$(awk '$1 == "nr_periods" { print $2 }' "$CG_CPU/$CG_NAME/$h/cpu.stat")
			q=$(cat "$CG_CPU/$CG_NAME/$h/cpu.cfs_quota_us")
		fi
		echo "$h $u $t $n $q"
	done
}

# A real nginx per back end: its own prefix, config and pid file under
# $STATE/nginx-HOST; every answer names the host in a header and the body.
# Content for the cluster's workload: / (tiny), /static/sK.css (1 KiB),
# /images/iK.jpg (4..32 KiB), /big (1 MiB), /large/lK.bin (K 0..14: 256
# KiB << K % 5, i.e. 256 KiB, 512 KiB, 1, 2 and 4 MiB, three of each: 23.25
# MiB in all, once per lab); /nginx_status (stub_status) on
# 127.0.0.1:8081 inside the host, for counting what it served.
content() { # the same files on every back end, written once
	local k html=$STATE/html
	[ -s "$html/.done" ] && return 0
	mkdir -p "$html/images" "$html/static" "$html/large" || return 1
	head -c 1048576 /dev/zero >"$html/big"
	for k in $(seq 0 63); do
		head -c 1024 /dev/zero >"$html/static/s$k.css"
		head -c $((4096 * (1 + k % 8))) /dev/zero >"$html/images/i$k.jpg"
	done
	for k in $(seq 0 14); do
		head -c $((262144 << (k % 5))) /dev/zero >"$html/large/l$k.bin"
	done
	echo 1 >"$html/.done"
}

cmd_nginx() {
	local h=${1:-} op=${2:-start} port=${3:-80} d pid k log
	need_root
	[[ $h == be* ]] || die "nginx beI start|stop [PORT]"
	d=$STATE/nginx-$h
	case $op in
	start)
		command -v nginx >/dev/null || die "nginx not found"
		mkdir -p "$d/logs" "$d/tmp"
		rm -f "$d/nginx.sock"   # nginx binds it anew: one left by a killed one
		content || die "cannot write the web content under $STATE/html"
		# health checks of tandem l4 are not client requests: tests that count
		# log lines would see them within any window over 0.5 s
		log="access_log $d/logs/access.log combined if=\$lab_logged"
		[ "${LAB_NGINX_LOG:-1}" = 0 ] && log="access_log off"
		cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon on;
user root;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 8192; }
http {
	map \$http_user_agent \$lab_logged { ~^tandem-l4-check 0; default 1; }
	$log;
	sendfile on;
	client_body_temp_path $d/tmp;
	proxy_temp_path $d/tmp;
	fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp;
	scgi_temp_path $d/tmp;
	keepalive_requests 100000;
	server {
		listen $port reuseport backlog=4096;
		listen [::]:$port ipv6only=on reuseport backlog=4096;
		listen unix:$d/nginx.sock backlog=4096;
		root $STATE/html;
		add_header X-Backend $h always;
		location = / { default_type text/plain; return 200 "$h\n"; }
	}
	server {
		listen 127.0.0.1:8081;
		access_log off;
		location = /nginx_status { stub_status; }
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
	*) die "nginx HOST start|stop [PORT]" ;;
	esac
}

# ---- cluster: the servers of one mode ---------------------------------------
be_list() { local i; for i in $(seq 1 "$(nodes)"); do printf 'be%d ' "$i"; done; }

images_nodes() {
	local v=${LAB_IMAGES:-all}
	[ "$v" = all ] && v=$(be_list)
	echo "$v"
}

# Does this tandem take content rules? (they are being added while the lab
# is written: probe with `tandem -t` instead of guessing from a version)
rules_supported() {
	local f=$STATE/probe-rules.ini
	printf '[cluster]\n[node a]\nweb = 127.0.0.1:1\n[group g]\nnodes = a\npolicy = %s\n[rule g]\npath_prefix = /images/\ngroup = g\n' \
		"${LAB_IMAGES_POLICY:-chash}" >"$f"
	"$TANDEM" -t -c "$f" >/dev/null 2>&1
}

# The *-tls modes' files in LAB_TLS_DIR, made once: a self-signed ECDSA
# P-256 certificate for the VIP, its key, both in one file for HAProxy, and
# a session ticket key that every back end shares (a ticket one node issued
# resumes on another).
TLS_DIR=${LAB_TLS_DIR:-$STATE/tls}
tls_files() {
	[ -s "$TLS_DIR/site.pem" ] && [ -s "$TLS_DIR/tickets" ] && return 0
	mkdir -p "$TLS_DIR" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$TLS_DIR/site.key" -out "$TLS_DIR/site.crt" -days 2 \
			-subj "/CN=lab.tandem.test" \
			-addext "subjectAltName=DNS:lab.tandem.test,IP:$LAB_VIP" 2>/dev/null &&
		openssl rand -hex 80 >"$TLS_DIR/tickets" &&
		cat "$TLS_DIR/site.crt" "$TLS_DIR/site.key" >"$TLS_DIR/site.pem"
}

# The cluster file for the L7 switch of node SELF (a back end, or "fe" for
# a central switch) and for the L4 front end (SELF empty). One file per
# process: every back end listens on VIP:80 (0.0.0.0:80), and `tandem -t`
# refuses two nodes with the same l7 or admin address in one file.
write_cfg() { # FILE SELF WEBPORT
	local f=$1 self=$2 wp=$3 i vip="$LAB_VIP:80"
	# HTTPS: VIP:443 too (the first, :80, is what tandem l4 checks)
	[ "$TLS" = 1 ] && vip="$vip $LAB_VIP:443"
	{
		printf '; written by lab/lab.sh cluster (%s)\n[cluster]\nvip = %s\nrelay = %s\n\n' \
			"$(mode_name)" "$vip" "$RELAY"
		printf '[l7]\nworkers = 1\n'
		# the packet engine's tc programs: the node's own interfaces, toward
		# the client and the other back ends (eth0) and its own nginx (lo)
		[ "$RELAY" = packet ] && printf 'splice_ifaces = eth0 lo\n'
		printf '\n[l4]\niface = eth0\nmode = dr\nadmin = 127.0.0.1:9300\n\n'
		[ "$TLS" = 1 ] && printf '[tls]\ncert = %s\nkey = %s\nticket_keys = %s\n\n' \
			"$TLS_DIR/site.crt" "$TLS_DIR/site.key" "$TLS_DIR/tickets"
		if [ "$self" = fe ]; then
			printf '[node fe]\nl7 = %s:80\nadmin = 127.0.0.1:9301\n' "$LAB_VIP"
			[ "$TLS" = 1 ] && printf 'tls = %s:443\n' "$LAB_VIP"
			echo
		fi
		for i in $(seq 1 "$(nodes)"); do
			printf '[node be%d]\naddress = %s\nweb = %s:%s\n' "$i" "$(host_addr "be$i")" \
				"$(host_addr "be$i")" "$wp"
			[ "$self" = "be$i" ] && printf 'l7 = 0.0.0.0:80\nadmin = 127.0.0.1:9301\n'
			# its own nginx: over its unix socket (default), loopback, or
			# like every other node's (LAB_LOCAL=none)
			[ "$self" = "be$i" ] && case ${LAB_LOCAL:-unix} in
			unix) printf 'local = unix:%s/nginx-be%d/nginx.sock\n' "$STATE" "$i" ;;
			tcp) printf 'local = 127.0.0.1:%s\n' "$wp" ;;
			esac
			[ "$self" = "be$i" ] && [ "$TLS" = 1 ] && printf 'tls = 0.0.0.0:443\n'
			echo
		done
		if [ "$RULES" = 1 ]; then
			printf '[group images]\nnodes = %s\npolicy = %s\n\n' "$(images_nodes)" \
				"${LAB_IMAGES_POLICY:-chash}"
			printf '[group rest]\nnodes = %s\npolicy = rr\nprefer_local = %s\n\n' "$(be_list)" \
				"${LAB_PREFER_LOCAL:-yes}"
			printf '[rule images]\npath_prefix = /images/\ngroup = images\n\n'
			printf '[rule rest]\npath_prefix = /\ngroup = rest\n'
		else
			printf '[group default]\nnodes = %s\npolicy = rr\nprefer_local = %s\n' "$(be_list)" \
				"${LAB_PREFER_LOCAL:-yes}"
		fi
	} >"$f"
	"$TANDEM" -t -c "$f" >"$f.check" 2>&1 || die "tandem -t refuses $f: $(cat "$f.check")"
}

write_haproxy() { # FILE
	local f=$1 i s bind="bind $LAB_VIP:80" pin=""
	s=$(for i in $(seq 1 "$(nodes)"); do
		printf '\tserver be%d %s:8080\n' "$i" "$(host_addr "be$i")"
	done)
	if [ "$TLS" = 1 ]; then
		bind="bind $LAB_VIP:443 ssl crt $TLS_DIR/site.pem alpn http/1.1"
		pin=$(printf '\tssl-default-bind-ciphersuites %s\n\tssl-default-bind-options ssl-min-ver TLSv1.2' \
			"${LAB_TLS_SUITE:-TLS_AES_128_GCM_SHA256}")
	fi
	cat >"$f" <<EOF
# written by lab/lab.sh cluster $(mode_name)
global
	nbthread 1
	maxconn 4096
	log stderr format short local0 warning
$pin
defaults
	mode http
	timeout connect 3s
	timeout client 30s
	timeout server 30s
	timeout http-keep-alive 30s
	option http-keep-alive
	option splice-response
	http-reuse always
frontend vip
	$bind
	default_backend rest
EOF
	if [ "$RULES" = 1 ]; then
		printf '\tacl images path_beg /images/\n\tuse_backend images if images\n' >>"$f"
		printf 'backend images\n\tbalance uri\n\thash-type consistent\n' >>"$f"
		for i in $(images_nodes); do
			printf '\tserver %s %s:8080\n' "$i" "$(host_addr "$i")" >>"$f"
		done
	fi
	printf 'backend rest\n\tbalance roundrobin\n%s\n' "$s" >>"$f"
	haproxy -c -f "$f" >"$f.check" 2>&1 || die "haproxy -c refuses $f: $(cat "$f.check")"
}

wait_for() { # TRIES DESCRIPTION CMD...: retry CMD every 0.2 s
	local n=$1 what=$2
	shift 2
	for _ in $(seq 1 "$n"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "$what did not come up"
}

l7_ready() { ip netns exec "$(ns "$1")" curl -sf -m 1 http://127.0.0.1:9301/metrics; }
l4_ready() {
	[ "$(ip netns exec "$(ns fe)" curl -s -m 1 http://127.0.0.1:9300/metrics |
		grep -c 'tandem_l4_backend_up{.*} 1$')" = "$(nodes)" ]
}
vip_ready() {
	if [ "$TLS" = 1 ]; then
		ip netns exec "$(ns client)" curl -sf -m 1 --cacert "$TLS_DIR/site.crt" "https://$LAB_VIP/"
	else
		ip netns exec "$(ns client)" curl -sf -m 1 "http://$LAB_VIP/"
	fi
}

MODE=
RULES=0
TLS=0
RELAY=${LAB_RELAY:-splice}
mode_name() { if [ "$TLS" = 1 ]; then echo "$MODE-tls"; else echo "$MODE"; fi; }
cmd_cluster() {
	local n=${1:-} i
	MODE=${2:-}
	[ $# -ge 2 ] && shift 2
	case $MODE in
	two-level | central-tandem | central-haproxy | l4-only) ;;
	two-level-tls | central-tandem-tls | central-haproxy-tls) TLS=1 ;;
	*) die "cluster N two-level|central-tandem|central-haproxy|l4-only[, the first three with -tls] [OPTS]" ;;
	esac
	case $RELAY in
	copy | splice | sockmap | packet | auto) ;;
	*) die "LAB_RELAY: copy, splice, sockmap, packet or auto, got '$RELAY'" ;;
	esac
	# from here on a -tls mode is its plain one, with HTTPS on VIP:443 (TLS)
	MODE=${MODE%-tls}
	[ -x "$TANDEM" ] || die "no tandem binary at $TANDEM (make first)"
	command -v nginx >/dev/null || die "nginx not found (scripts/deps.sh)"
	command -v curl >/dev/null || die "curl not found (scripts/deps.sh)"
	[ "$MODE" != central-haproxy ] || command -v haproxy >/dev/null || die "haproxy not found"
	cmd_up "$n" "$@" || exit 1
	[ "$(fes)" = 1 ] || [ "$MODE" = two-level ] || [ "$MODE" = l4-only ] ||
		{ cmd_down >/dev/null 2>&1; die "--fe K: front ends are tandem l4 (two-level or l4-only)"; }
	trap 'echo "lab: starting the $(mode_name) cluster failed, tearing it down" >&2
		tail -n 5 "$STATE"/log/*.log >&2 2>/dev/null; cmd_down >/dev/null 2>&1' EXIT
	if [ "${LAB_IMAGES:-all}" != none ] && [ "$MODE" != l4-only ]; then
		if rules_supported; then
			RULES=1
		else
			warn "this tandem takes no [group]/[rule] sections yet: no content rules, plain rr"
		fi
	fi
	if [ "$TLS" = 1 ]; then
		command -v openssl >/dev/null || die "openssl not found"
		tls_files || die "cannot write the certificate and ticket key under $TLS_DIR"
	fi
	echo "$RULES" >"$STATE/rules"
	echo "$(mode_name)" >"$STATE/mode"
	for i in $(seq 1 "$n"); do
		if [ "$MODE" = l4-only ]; then
			LAB_NGINX_LOG=${LAB_NGINX_LOG:-0} cmd_nginx "be$i" start 80
		else
			LAB_NGINX_LOG=${LAB_NGINX_LOG:-0} cmd_nginx "be$i" start 8080
		fi
	done
	case $MODE in
	two-level)
		for i in $(seq 1 "$n"); do
			write_cfg "$STATE/be$i.ini" "be$i" 8080
			cmd_start "be$i" l7 "$TANDEM" l7 -c "$STATE/be$i.ini" --node "be$i" >/dev/null
		done
		for i in $(seq 1 "$n"); do wait_for 50 "tandem l7 on be$i" l7_ready "be$i"; done
		;;
	central-tandem)
		write_cfg "$STATE/fe.ini" fe 8080
		cmd_start fe l7 "$TANDEM" l7 -c "$STATE/fe.ini" --node fe >/dev/null
		wait_for 50 "tandem l7 on fe" l7_ready fe
		;;
	central-haproxy)
		write_haproxy "$STATE/haproxy.cfg"
		cmd_start fe haproxy haproxy -db -f "$STATE/haproxy.cfg" >/dev/null
		;;
	esac
	[ "$(fes)" -gt 1 ] && ecmp_cluster_l4
	if { [ "$MODE" = two-level ] || [ "$MODE" = l4-only ]; } && [ "$(fes)" = 1 ]; then
		write_cfg "$STATE/l4.ini" "" 80
		cmd_start fe l4 "$TANDEM" l4 -c "$STATE/l4.ini" >/dev/null
		wait_for 100 "tandem l4 on fe (all $n back ends healthy)" l4_ready
	fi
	wait_for 50 "the VIP (from the client)" vip_ready
	trap - EXIT
	echo "lab $P: $(mode_name) cluster of $n node(s) serving $([ "$TLS" = 1 ] &&
		echo "https://$LAB_VIP:443" || echo "$LAB_VIP:80") (content rules: $(
		[ "$RULES" = 1 ] && echo "/images/ -> $(images_nodes)" || echo none))"
}

# ---- several front ends behind an ECMP router (up N --fe K, K > 1) ---------
# The paper's one front end becomes K, all with the same cluster file, so
# all with the same Maglev table: a router in front of them spreads the
# client's flows over them by ECMP, from the routes each front end's BIRD
# announces for the VIP (tandem l4's [l4] bgp_*), and a flow that moves
# from one front end to another still reaches the same back end.
#
#   client 198.18.1.2 --- br1 --- rt 198.18.1.1 (eth1)
#                                 rt 198.18.0.254 (eth0) ---+--- br0
#   fe1..feK 198.18.0.(220+K) --------------------------------+
#   be1..beN 198.18.0.(10+I), the VIP on lo -------------------+
#
# Packets: client -> rt (the VIP's multipath route, BIRD) -> one feK (XDP,
# DR: destination MAC) -> beI, which answers the client directly via rt.
# The front ends do not own the VIP, and do not forward (ip_forward 0):
# what reaches one whose tandem l4 is gone is dropped, never answered
# with a reset, so TCP retransmits it to the front end ECMP picks next.
LAB_RT_AS=65000
LAB_FE_AS=65001

fes() { cat "$STATE/fes" 2>/dev/null || echo 1; }

ecmp_addr() {
	case $1 in
	fe[0-9]*) echo "198.18.0.$((220 + ${1#fe}))" ;;
	rt) echo 198.18.0.254 ;;
	rt-up) echo 198.18.1.1 ;;
	client) echo 198.18.1.2 ;;
	*) host_addr "$1" ;;
	esac
}

# HOST's address, whichever the lab's shape.
lab_addr() {
	if [ "$(fes)" -gt 1 ]; then ecmp_addr "$1"; else host_addr "$1"; fi
}

# A veth from HOST's IFACE to br1 (the client's side of the router), named
# SWNAME on the switch.
ecmp_uplink() { # HOST IFACE ADDR SWNAME
	ip -n "$(ns sw)" link add "$4" type veth peer name "$2" netns "$(ns "$1")" &&
		ip -n "$(ns sw)" link set "$4" master br1 up &&
		ip -n "$(ns "$1")" addr add "$3/24" dev "$2" &&
		ip -n "$(ns "$1")" link set "$2" up
}

ecmp_client() { # PCT
	cg_create client "$1" || { echo "lab: cannot create cgroup $CG_NAME/client" >&2; return 1; }
	ip netns add "$(ns client)" || return 1
	ip -n "$(ns client)" link set lo up
	ecmp_uplink client eth0 "$(ecmp_addr client)" client || return 1
	# as add_host does with --native-xdp (the veth checksum quirk)
	if [ "$NATIVE_XDP" = 1 ]; then
		tx_csum_off client || warn "could not turn TX checksum offload off on client"
	fi
	if [ -n "$RATE" ]; then
		shape client "$RATE" || { echo "lab: tbf rate $RATE on client failed" >&2; return 1; }
	fi
	ip -n "$(ns client)" route add default via "$(ecmp_addr rt-up)"
}

# The veth XDP_TX quirk of cmd_up, for each front end, with --native-xdp
# only: its switch-side peer needs an XDP program (hook auto takes tc on a
# veth without one, and needs nothing).
ecmp_xdp_peer() { # FE
	local obj
	[ "$NATIVE_XDP" = 1 ] || return 0
	if obj=$(xdp_pass_obj); then
		ip -n "$(ns sw)" link set dev "$1" xdpdrv obj "$obj" sec xdp ||
			warn "no XDP program on $1's peer: native XDP_TX will be dropped"
	else
		warn "cannot build l4_pass.bpf.o (see $STATE/clang.log)"
	fi
}

# The router's BIRD: one eBGP session per front end, every route learnt
# into the kernel, equal ones merged into one multipath route.
ecmp_bird_conf() { # K
	local k
	cat <<CONF
# written by lab/lab.sh up --fe $1: the lab's ECMP router
log stderr all;
router id $(ecmp_addr rt);
protocol device {
}
# the VIP's routes from the front ends into the kernel: equal BGP routes
# (same neighbour AS, path length, origin, MED) become one route with a
# next hop per front end
protocol kernel {
	ipv4 { import none; export where source = RTS_BGP; };
	merge paths on;
}
template bgp fe {
	local $(ecmp_addr rt) as $LAB_RT_AS;
	hold time 9;
	connect retry time 2;
	error wait time 1, 5;
	ipv4 { import all; export none; };
}
CONF
	for k in $(seq 1 "$1"); do
		printf 'protocol bgp fe%d from fe {\n\tneighbor %s as %s;\n}\n' "$k" \
			"$(ecmp_addr "fe$k")" "$LAB_FE_AS"
	done
}

bird_ready() { ip netns exec "$(ns rt)" birdc -s "$STATE/rt-bird.ctl" show status; }

ecmp_up() { # N (and FE, the options)
	local n=$1 i k
	command -v bird >/dev/null || die "bird not found (BIRD 2: Debian's bird2, scripts/deps.sh)"
	probe
	cmd_down >/dev/null 2>&1
	mkdir -p "$STATE/pid" "$STATE/log" || die "cannot create $STATE"
	trap 'echo "lab: building the lab failed, tearing it down" >&2; cmd_down >/dev/null 2>&1' EXIT
	echo "$FE" >"$STATE/fes"
	{
		ip netns add "$(ns sw)" &&
		ip -n "$(ns sw)" link add br0 type bridge &&
		ip -n "$(ns sw)" link set br0 up &&
		ip -n "$(ns sw)" link add br1 type bridge &&
		ip -n "$(ns sw)" link set br1 up &&
		add_host rt "$(ecmp_addr rt)" "" &&
		ecmp_uplink rt eth1 "$(ecmp_addr rt-up)" rt-up &&
		ecmp_client "$CPU_CLIENT"
	} || die "building the switch, the router or the client failed"
	# fib_multipath_hash_policy 1: ECMP hashes the 5-tuple (L4), so the
	# client's connections spread over the front ends, not only its address
	ip netns exec "$(ns rt)" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 \
		net.ipv4.conf.eth1.rp_filter=0 || die "router sysctls failed"
	ip netns exec "$(ns client)" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
		net.ipv4.ip_local_port_range="10000 65000"
	for k in $(seq 1 "$FE"); do
		add_host "fe$k" "$(ecmp_addr "fe$k")" "$CPU_FE" || die "building fe$k failed"
		ip -n "$(ns "fe$k")" route add default via "$(ecmp_addr rt)"
		ip netns exec "$(ns "fe$k")" sysctl -qw net.ipv4.ip_forward=0
		ecmp_xdp_peer "fe$k"
	done
	for i in $(seq 1 "$n"); do
		add_host "be$i" "$(host_addr "be$i")" "$CPU_BE" || die "building be$i failed"
		ip netns exec "$(ns "be$i")" ip addr add "$LAB_VIP/32" dev lo
		ip netns exec "$(ns "be$i")" sysctl -qw net.ipv4.conf.all.arp_ignore=1 \
			net.ipv4.conf.all.arp_announce=2 \
			net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
		ip -n "$(ns "be$i")" route add default via "$(ecmp_addr rt)"
	done
	ecmp_bird_conf "$FE" >"$STATE/rt-bird.conf"
	bird -p -c "$STATE/rt-bird.conf" >"$STATE/rt-bird.check" 2>&1 ||
		die "bird refuses $STATE/rt-bird.conf: $(cat "$STATE/rt-bird.check")"
	cmd_start rt bird bird -f -c "$STATE/rt-bird.conf" -s "$STATE/rt-bird.ctl" \
		-P "$STATE/rt-bird.pid" >/dev/null
	wait_for 50 "BIRD on the router" bird_ready
	echo "$n" >"$STATE/nodes"
	printf 'be=%s fe=%s client=%s rate=%s fes=%s\n' "${CPU_BE:-0}" "${CPU_FE:-0}" \
		"${CPU_CLIENT:-0}" "${RATE:-none}" "$FE" >"$STATE/budgets"
	trap - EXIT
	echo "lab $P up: client $(ecmp_addr client) -> rt $(ecmp_addr rt-up)/$(ecmp_addr rt)" \
		"(BIRD, AS $LAB_RT_AS, ECMP) -> fe1..fe$FE (AS $LAB_FE_AS), be1..be$n, vip $LAB_VIP" \
		"(cpu % of a core: be ${CPU_BE:-no limit}, fe ${CPU_FE:-no limit}," \
		"client ${CPU_CLIENT:-no limit}; rate ${RATE:-none})"
}

# The next hops of the router's route to the VIP, one address a line (none:
# no front end announces it).
cmd_vip_route() {
	need_root
	has_host rt || die "no router in lab $P (up N --fe K, K > 1)"
	ip -n "$(ns rt)" -4 route show "$LAB_VIP/32" |
		awk '{ for (i = 1; i < NF; i++) if ($i == "via") print $(i + 1) }'
}

# cluster on the ECMP shape: tandem l4 on every front end, each with the
# same nodes and a BGP session to the router; waits until each has every
# back end up and the router has a next hop per front end.
ecmp_l4_ready() { # FE
	[ "$(ip netns exec "$(ns "$1")" curl -s -m 1 http://127.0.0.1:9300/metrics |
		grep -c 'tandem_l4_backend_up{.*} 1$')" = "$(nodes)" ]
}
ecmp_routes_ready() { [ "$(cmd_vip_route | wc -l)" = "$(fes)" ]; }

ecmp_cluster_l4() {
	local k f
	for k in $(seq 1 "$(fes)"); do
		f=$STATE/fe$k-l4.ini
		write_cfg "$f" "" 80
		printf '\n[l4]\nbgp_peer = %s\nbgp_as = %s\nbgp_peer_as = %s\nbgp_dir = %s\n' \
			"$(ecmp_addr rt)" "$LAB_FE_AS" "$LAB_RT_AS" "$STATE/bgp-fe$k" >>"$f"
		"$TANDEM" -t -c "$f" >"$f.check" 2>&1 || die "tandem -t refuses $f: $(cat "$f.check")"
		cmd_start "fe$k" l4 "$TANDEM" l4 -c "$f" >/dev/null
	done
	for k in $(seq 1 "$(fes)"); do
		wait_for 100 "tandem l4 on fe$k (all $(nodes) back ends healthy)" ecmp_l4_ready "fe$k"
	done
	wait_for 100 "the VIP's route on the router (a next hop per front end)" ecmp_routes_ready
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
cluster) shift; cmd_cluster "$@" ;;
down) cmd_down ;;
exec) shift; cmd_exec "$@" ;;
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
status) cmd_status ;;
cpu) cmd_cpu ;;
nginx) shift; cmd_nginx "$@" ;;
addr) lab_addr "${2:-}" ;;
addr6) host_addr6 "${2:-}" ;;
vip-route) cmd_vip_route ;;
*) sed -n '2,70s/^# \{0,1\}//p' "$0"; exit 2 ;;
esac
