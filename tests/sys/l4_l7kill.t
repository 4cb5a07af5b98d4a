#!/bin/bash
# l4_l7kill.t: a node's L7 switch killed under the L4 front end. A two-level
# cluster in the lab (tandem l4 in DR mode on fe, hook auto: tc on the lab's
# veths; tandem l7 on :80 and nginx on :8080 on be1..be3) carries a bounded
# load through the VIP: 24 keep-alive connections and a stream of new ones
# (l4_l7kill.py). be2's tandem l7 gets SIGKILL by its PID: the front end's
# health check must take be2 out within 10 s (the time is measured and
# printed); keep-alive connections on be1 and be3 see no error at all,
# before, during or after; new connections made once be2 is out all succeed.
# Then be2's L7 switch is started again: be2 must be back in the table and
# take new connections, all of which succeed. Every connection's first
# request is routed by the cluster file to the node's own nginx, so its
# X-Backend header says which node's L7 switch the front end chose; later
# requests go round-robin over every node's nginx (be2's nginx stays up and
# keeps serving the others). Everything is stopped by PID and the lab torn
# down on exit, pass or fail.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/tap.sh"
. "$HERE/labtest.sh"

SLOW=1
[ "${SAN:-0}" = 1 ] && SLOW=3
TMP=
LOAD_PID=

lab_test_init tlk tandem nginx curl python3

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
TMP=$(mktemp -d /tmp/tandem-l7kill.XXXXXX)
chmod 755 "$TMP"

at() { "$LAB" exec "$@"; }
now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
l4_up() { # NODE: its tandem_l4_backend_up value
	at fe curl -s -m 1 http://127.0.0.1:9300/metrics |
		awk -v k="tandem_l4_backend_up{node=\"$1\"}" '$1 == k { print $2 }'
}
wait_up() { # NODE VALUE SECONDS: poll every 50 ms
	local n=$(($3 * 20))
	for _ in $(seq 1 $n); do
		[ "$(l4_up "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# The cluster file of be$1's L7 switch (one per process: every back end
# listens on 0.0.0.0:80). A request with X-Which goes to the node's own
# nginx, everything else round-robin over all three.
write_cfg() { # I
	local f=$TMP/be$1.ini i
	{
		printf '[cluster]\nvip = %s:80\nrelay = splice\n[l7]\nworkers = 1\n' "$VIP"
		printf 'connect_timeout = 1s\nserver_timeout = 5s\n'
		for i in 1 2 3; do
			printf '[node be%d]\naddress = 198.18.0.1%d\nweb = 198.18.0.1%d:8080\n' $i $i $i
			[ "$i" = "$1" ] && printf 'l7 = 0.0.0.0:80\nadmin = 127.0.0.1:9301\n'
		done
		printf '[group self]\nnodes = be%d\npolicy = rr\n' "$1"
		printf '[group all]\nnodes = be1 be2 be3\npolicy = rr\n'
		printf '[rule self]\nheader = X-Which: .\ngroup = self\n'
		printf '[rule all]\npath_prefix = /\ngroup = all\n'
	} >"$f"
	"$TANDEM" -t -c "$f" >"$f.check" 2>&1 || { sed 's/^/# /' "$f.check"; return 1; }
}
l7_start() { # I: prints the PID (the lab's start keeps it, for down)
	"$LAB" start "be$1" l7 "$TANDEM" l7 -c "$TMP/be$1.ini" --node "be$1"
}
l7_ready() { at "be$1" curl -sf -m 1 -o /dev/null http://127.0.0.1:9301/metrics; }
# The load's events of KIND (short, up) that began at T or later (answered
# by NODE): how many
events() { # KIND T [NODE]
	[ -f "$TMP/events" ] || { echo 0; return; }
	awk -v k="\"k\": \"$1\"" -v t="$2" -v n="\"node\": \"${3:-}\"" '
		index($0, k) && (n == "\"node\": \"\"" || index($0, n)) && match($0, /"t0": [0-9.]+/) &&
			substr($0, RSTART + 6, RLENGTH - 6) + 0 >= t + 0 { c++ }
		END { print c + 0 }' "$TMP/events"
}
# The load's time in a phase: until N events (events' arguments), at most
# 3 s (x SLOW), the fixed time it had before; the verdict judges the phase
let_run() { # N KIND T [NODE]
	local n=$1 _
	shift
	for _ in $(seq 1 $((60 * SLOW))); do
		[ "$(events "$@")" -ge "$n" ] && return 0
		sleep 0.05
	done
	return 1
}

"$LAB" up 3 >"$TMP/lab.log" 2>&1
ok $? "lab up 3 (client, fe, be1..be3)" || { sed 's/^/# /' "$TMP/lab.log"; exit 1; }
st=0
for i in 1 2 3; do
	"$LAB" nginx "be$i" start 8080 >>"$TMP/lab.log" 2>&1 || st=1
	write_cfg $i || st=1
	eval "L7PID_$i=\$(l7_start $i)"
done
for i in 1 2 3; do
	for _ in $(seq 1 $((50 * SLOW))); do l7_ready $i && break; sleep 0.2; done
	l7_ready $i || { st=1; diag "tandem l7 on be$i did not start"; tail -5 "$LAB_STATE/log/be$i-l7.log" | sed 's/^/# /'; }
done
ok $st "nginx :8080 and tandem l7 :80 on every back end" || exit 1

cat >"$TMP/l4.ini" <<EOF
[cluster]
vip = $VIP:80
[l4]
iface = eth0
mode = dr
admin = 127.0.0.1:9300
[node be1]
address = 198.18.0.11
[node be2]
address = 198.18.0.12
[node be3]
address = 198.18.0.13
EOF
"$LAB" start fe l4 "$TANDEM" l4 -c "$TMP/l4.ini" >/dev/null
up=1
for _ in $(seq 1 $((50 * SLOW))); do
	[ "$(at fe curl -s -m 1 http://127.0.0.1:9300/metrics | grep -c 'tandem_l4_backend_up{.*} 1$')" = 3 ] &&
		{ up=0; break; }
	sleep 0.2
done
ok $up "tandem l4 (XDP, dr) up, all three back ends healthy" ||
	{ tail -20 "$LAB_STATE/log/fe-l4.log" | sed 's/^/# /'; exit 1; }
is "$(at client curl -s -m 2 -H 'X-Which: 1' "http://$VIP/" | tr -d '\n' | sed 's/[123]$//')" be \
	"a request through the VIP is answered"

# the load: bounded by the stop file, 60 s and 200,000 requests
victim=$(cat "/proc/$L7PID_2/comm" 2>/dev/null)
is "$victim" tandem "the PID kept for be2's L7 switch is tandem's ($L7PID_2)"
at client timeout 90 python3 "$HERE/l4_l7kill.py" load "$VIP" "$TMP/events" "$TMP/stop" \
	$((60 * SLOW)) 2>"$TMP/load.err" &
LOAD_PID=$!
let_run 24 up 0 && let_run 30 short 0  # every keep-alive connection answered once, new ones made

t_kill=$(now)
kill -KILL "$L7PID_2"
if wait_up be2 0 10; then
	gone_ms=$(ms_since "$t_kill")
	t_gone=$(now)
	ok 0 "be2's L7 switch killed: be2 out of the front end's table after $gone_ms ms"
else
	ok 1 "be2's L7 switch killed: be2 out of the front end's table within 10 s"
	gone_ms=-1
	t_gone=$(now)
fi
diag "time to remove a node whose L7 switch died: $gone_ms ms (checks every 500 ms, 2 failures; polled every 50 ms)"
grep -m1 'be2 is down' "$LAB_STATE/log/fe-l4.log" | sed 's/^/# fe: /'
let_run 30 short "$t_gone"      # new connections while be2 is out (the verdict wants 10)

t_restart=$(now)
l7_start 2 >/dev/null
if wait_up be2 1 10; then
	t_back=$(now)
	ok 0 "be2's L7 switch restarted: be2 back in the table after $(ms_since "$t_restart") ms"
else
	t_back=$(now)
	ok 1 "be2's L7 switch restarted: be2 back in the table within 10 s"
fi
let_run 30 short "$t_back" && let_run 3 short "$t_back" be2     # new ones after, be2 taking some
touch "$TMP/stop"
wait "$LOAD_PID"
rc=$?
LOAD_PID=
is $rc 0 "the load ran to its end" || sed 's/^/# /' "$TMP/load.err" | tail -10

python3 "$HERE/l4_l7kill.py" judge "$TMP/events" "$t_kill" "$t_gone" "$t_restart" "$t_back" >"$TMP/verdict" 2>"$TMP/judge.err"
is $? 0 "the verdict script ran" || sed 's/^/# /' "$TMP/judge.err" | tail -10
while IFS=$'\t' read -r desc got want; do
	if [ "$desc" = "#" ]; then
		diag "$got"
	else
		is "$got" "$want" "$desc"
	fi
done <"$TMP/verdict"

done_testing
