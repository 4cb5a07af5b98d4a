#!/bin/bash
# lab_updown.t: the emulated cluster comes up and goes down cleanly, ten
# times in a row, with CPU budgets: each time every host exists with its
# cgroup quota, the processes started in a host are charged to its cgroup,
# and after "down" no namespace, veth, cgroup or process of the lab is left.
# Also: a half-built lab (namespaces and a cgroup, no state) is cleaned up,
# and a bad budget is refused before anything is built.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/tap.sh"
. "$HERE/labtest.sh"

TMP=

lab_test_init tlu
CG=$(awk '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == "cpu") { print $2; exit } }' /proc/mounts)
[ -n "$CG" ] && [ -e "$CG/cpu.cfs_quota_us" ] || skip_all "no cgroup v1 cpu controller with CFS bandwidth"

cleanup() {
	"$LAB" down >/dev/null 2>&1
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
TMP=$(mktemp -d /tmp/tandem-labt.XXXXXX)

leftovers() { # what of this lab is still there, one word per kind
	local out=
	ip netns list | grep -q "^$LAB_PREFIX-" && out="$out namespaces"
	ip -o link show type veth 2>/dev/null | grep -q "$LAB_PREFIX" && out="$out veths"
	[ -d "$CG/tandem-lab-$LAB_PREFIX" ] && out="$out cgroups"
	[ -d "$LAB_STATE" ] && out="$out state"
	for p in $(cat "$TMP/pids" 2>/dev/null); do
		# a zombie waiting for its parent to reap it is gone for our purposes
		[ -r "/proc/$p/stat" ] && [ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" != Z ] &&
			{ out="$out processes"; break; }
	done
	echo "${out# }"
}

veths0=$(ip -o link show type veth 2>/dev/null | wc -l)
bad=0
for round in $(seq 1 10); do
	if ! "$LAB" up 2 --cpu-be 10 --cpu-fe 20 >"$TMP/up.log" 2>&1; then
		sed 's/^/# /' "$TMP/up.log"
		bad=$((bad + 1))
		continue
	fi
	st=0
	for h in fe client be1 be2; do ip netns list | grep -q "^$LAB_PREFIX-$h\b" || st=1; done
	[ "$(cat "$CG/tandem-lab-$LAB_PREFIX/be1/cpu.cfs_quota_us")" -eq \
		$(($(cat "$CG/tandem-lab-$LAB_PREFIX/be1/cpu.cfs_period_us") / 10)) ] || st=1
	# a process started in a host lands in its cgroup, and one left running is
	# for "down" to stop
	pid=$("$LAB" start be1 sleeper sleep 60)
	echo "$pid" >>"$TMP/pids"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		grep -qx "$pid" "$CG/tandem-lab-$LAB_PREFIX/be1/cgroup.procs" && break
		sleep 0.05
	done
	grep -qx "$pid" "$CG/tandem-lab-$LAB_PREFIX/be1/cgroup.procs" || st=1
	# the switch works: be2 answers a connect with a reset (nothing listens)
	"$LAB" exec client timeout 2 bash -c ': </dev/tcp/198.18.0.12/9' 2>&1 |
		grep -q refused || { diag "round $round: be2 unreachable from the client"; st=1; }
	"$LAB" down >"$TMP/down.log" 2>&1 || st=1
	left=$(leftovers)
	[ -z "$left" ] || { diag "round $round left: $left"; st=1; }
	[ $st -eq 0 ] || bad=$((bad + 1))
done
is "$bad" 0 "ten rounds of up 2 (budgets) / start / down, nothing left behind"
is "$(ip -o link show type veth 2>/dev/null | wc -l)" "$veths0" "no veth left on the host"

# a half-built lab: namespaces and a cgroup but no state folder
ip netns add "$LAB_PREFIX-fe"
ip netns add "$LAB_PREFIX-sw"
mkdir -p "$CG/tandem-lab-$LAB_PREFIX/fe"
ip netns exec "$LAB_PREFIX-fe" sleep 60 &
echo $! >>"$TMP/pids"
"$LAB" down >/dev/null 2>&1
is "$(leftovers)" "" "down cleans up a half-built lab (namespaces, cgroup, process)"

"$LAB" up 1 --cpu-be ten >"$TMP/bad.log" 2>&1
st=$?
ok "$([ $st -ne 0 ] && grep -q 'whole percent' "$TMP/bad.log"; echo $?)" "a bad CPU budget is refused"
is "$(leftovers)" "" "... before anything is built"

done_testing
