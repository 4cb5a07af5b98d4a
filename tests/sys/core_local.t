#!/usr/bin/env bash
# core_local.t: local-first routing (a [group] with prefer_local = yes). Two
# nodes, a and b, each with its own nginx; the L7 switch of node a, in front
# of a group of both: unloaded, every request is served by a's own web server
# (its X-Origin header says which); once a has spill requests in flight,
# new ones go to b, counted as spilled; a drained (weight 0) or down local
# node gets none. And a bad spill is refused by tandem -t with file:line.
source "$(dirname "$0")/origin.sh"

make_files
ORIGIN_DELAY_a=3
origin_start a $((BASE + 1)) || { echo "Bail out! nginx a"; exit 1; }
origin_start b $((BASE + 2)) || { echo "Bail out! nginx b"; exit 1; }
[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] || echo "# no echo module: the spill check will fail"

conf() { # FILE WEIGHT_OF_A SPILL
	cat > "$1" <<CONF
[l7]
workers = 2
check_interval = 200ms
fail_down = 1
[node a]
web = 127.0.0.1:$((BASE + 1))
l7 = 127.0.0.1:$((BASE + 11))
admin = 127.0.0.1:$((BASE + 21))
weight = $2
[node b]
web = 127.0.0.1:$((BASE + 2))
l7 = 127.0.0.1:$((BASE + 12))
admin = 127.0.0.1:$((BASE + 22))
[group default]
nodes = a b
policy = rr
prefer_local = yes
spill = $3
CONF
}
ADM=$((BASE + 21)); URL=http://127.0.0.1:$((BASE + 11))
origin_of() { curl -s -D - -o /dev/null --max-time 10 "$URL$1" | awk -F': ' 'tolower($1) == "x-origin" { sub(/\r/, "", $2); print $2 }'; }

conf "$T/bad.ini" 1 0
out=$("$TANDEM" -t -c "$T/bad.ini" 2>&1); rc=$?
is "$rc" 1 "spill = 0 is refused by tandem -t"
line=$(grep -n '^spill' "$T/bad.ini" | cut -d: -f1)
case $out in *"bad.ini:$line:"*spill*) ok 0 "the error names bad.ini:$line and the key";; *) ok 1 "the error names bad.ini:$line and the key (got: $out)";; esac

conf "$T/a.ini" 1 2
"$TANDEM" -t -c "$T/a.ini" > /dev/null; ok $? "the cluster file passes tandem -t"
tandem_start "$T/a.ini" a $ADM || { echo "Bail out! tandem"; exit 1; }

# unloaded: all of it stays on the node
n_a=0; n_b=0
for i in $(seq 40); do
	case $(origin_of /1k) in a) n_a=$((n_a + 1));; b) n_b=$((n_b + 1));; esac
done
is "$n_a/$n_b" "40/0" "unloaded: 40 of 40 requests served by the local web server"
is "$(metric 'tandem_group_local_total{group="default"}' $ADM)" 40 "counted local"
is "$(metric 'tandem_group_spilled_total{group="default"}' $ADM)" 0 "none spilled"

# past spill: two slow requests hold a's two slots, the next ones go to b
curl -s -o /dev/null --max-time 20 "$URL/slow/1" & s1=$!
curl -s -o /dev/null --max-time 20 "$URL/slow/2" & s2=$!
wait_inflight() { # N: the switch has N requests in flight at a
	for _ in $(seq 100); do
		[ "$(metric 'tandem_node_inflight{node="a"}' $ADM)" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
wait_inflight 2; ok $? "two slow requests in flight at a (spill = 2)"
n_a=0; n_b=0
for i in $(seq 10); do
	case $(origin_of /1k) in a) n_a=$((n_a + 1));; b) n_b=$((n_b + 1));; esac
done
is "$n_a/$n_b" "0/10" "past spill: the next 10 requests go to the other node"
is "$(metric 'tandem_group_spilled_total{group="default"}' $ADM)" 10 "counted spilled"
wait $s1 $s2
wait_inflight 0; ok $? "the slow requests are done"
is "$(origin_of /1k)" a "below spill again: back to the local node"

reloads() { grep -c 'reload: ' "$T/tandem-a.log"; }
reload() { # the log line comes once every worker has taken the file
	local n; n=$(reloads)
	kill -HUP $TANDEM_PID
	for _ in $(seq 100); do [ "$(reloads)" -gt "$n" ] && return 0; sleep 0.05; done
	return 1
}

# a drained local node is never preferred
conf "$T/a.ini" 0 2
reload; ok $? "reloaded with a's weight 0"
n_a=0; n_b=0
for i in $(seq 20); do
	case $(origin_of /1k) in a) n_a=$((n_a + 1));; b) n_b=$((n_b + 1));; esac
done
is "$n_a/$n_b" "0/20" "drained (weight 0): all 20 requests to the other node"

# nor is a local node marked down
conf "$T/a.ini" 1 2
reload; ok $? "reloaded with a's weight 1"
is "$(origin_of /1k)" a "weight back to 1: local again"
origin_kill a
# the failure that marks it down (fail_down = 1): the pooled connection the
# server closed is replayed on a fresh one, which is refused
origin_of /1k > /dev/null
for _ in $(seq 100); do [ "$(metric 'tandem_node_up{node="a"}' $ADM)" = 0 ] && break; sleep 0.05; done
is "$(metric 'tandem_node_up{node="a"}' $ADM)" 0 "a marked down after its origin died"
n_b=0
for i in $(seq 20); do [ "$(origin_of /1k)" = b ] && n_b=$((n_b + 1)); done
is "$n_b" 20 "down: all 20 requests to the other node"
done_testing
