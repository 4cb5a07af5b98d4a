#!/usr/bin/env bash
# rules_match.t: the rule matchers end to end, through a real L7 switch and
# three nginx origins that name themselves in X-Origin: host (with a port,
# any case), header regex over repeated headers, path suffix before a query,
# anchored path regex, absolute-form targets routed by their path and host,
# a class section with no keys, and LARD keeping a target on one node
# while idle nodes share new targets.
# core_rules.t covers partitioning, chash, rr, wlc, drain, health and QoS.
source "$(dirname "$0")/lib.sh"

make_files
mkdir -p "$T/www/dl" "$T/www/v2" "$T/www/lard"
echo iso > "$T/www/dl/a.iso"
echo api > "$T/www/v2/api"
echo x > "$T/www/plain"
for i in 0 1 2 3 4; do echo "$i" > "$T/www/lard/$i"; done
chmod -R a+rX "$T/www"
alloc_port W1; alloc_port W2; alloc_port W3; alloc_port L7; alloc_port ADM
for i in 1 2 3; do
	w=W$i
	origin_start be$i ${!w} || { echo "Bail out! nginx be$i"; exit 1; }
done

cat > "$T/m.ini" <<CONF
[l7]
workers = 2
[node be1]
web = 127.0.0.1:$W1
l7 = 127.0.0.1:$L7
admin = 127.0.0.1:$ADM
[node be2]
web = 127.0.0.1:$W2
[node be3]
web = 127.0.0.1:$W3
[group one]
nodes = be1
[group two]
nodes = be2
[group three]
nodes = be3
[group spread]
nodes = be1 be2 be3
policy = lard
[group default]
nodes = be1 be3
[class normal]
[rule static]
host = static.example
group = one
[rule gold]
header = X-Tier: ^gold\$
group = two
class = normal
[rule iso]
path_suffix = .iso
group = three
[rule api]
path_regex = ^/v[0-9]+/api\$
group = two
[rule lard]
path_prefix = /lard/
group = spread
CONF
"$TANDEM" -t -c "$T/m.ini" > /dev/null; ok $? "the cluster file passes tandem -t (a [class] without keys included)"
tandem_start "$T/m.ini" be1 || { echo "Bail out! tandem be1"; exit 1; }
S=127.0.0.1:$L7_PORT

origin() { # curl arguments -> the X-Origin of the answer, or the status
	curl -s -D - -o /dev/null "$@" | tr -d '\r' | awk '/^HTTP/ { s = $2 } /^X-Origin/ { o = $2 } END { print o ? o : s }'
}

is "$(origin -H 'Host: STATIC.example:8080' "http://$S/plain")" be1 "host: case and port ignored"
is "$(origin -H 'Host: static.example.org' "http://$S/dl/a.iso")" be3 "host is compared whole"
is "$(origin -H 'X-Tier: silver' -H 'X-Tier: gold' "http://$S/plain")" be2 "header: the second of two values matches"
is "$(origin -H 'X-Tier: golden' "http://$S/dl/a.iso")" be3 "header regex anchored"
is "$(origin "http://$S/dl/a.iso?v=1.zip")" be3 "suffix before the query"
is "$(origin "http://$S/v2/api?x=1")" be2 "anchored regex on the path, query ignored"
got=$(for i in 1 2 3 4; do origin "http://$S/v2/api/x"; done | sort -u | tr '\n' ' ')
is "$got" "be1 be3 " "regex anchored at the end: /v2/api/x goes to the default group"
is "$(origin --request-target "http://other.example/dl/a.iso" "http://$S/")" be3 \
	"absolute-form target: path rules see its path"
is "$(origin --request-target "http://static.example/plain" -H 'Host: other.example' "http://$S/")" be1 \
	"absolute-form target: host rule sees its authority"

# LARD: a target stays on the node that first served it (sequential
# requests: the load never nears lard_high), and idle nodes share new
# targets by their hash rather than all taking the first listed node
nodes=""
for t in 0 1 2 3 4; do
	got=$(for i in $(seq 8); do origin "http://$S/lard/$t"; done | sort -u | tr '\n' ' ')
	ok $([ "$(echo $got | wc -w)" = 1 ] && echo 0 || echo 1) "lard: /lard/$t always on one node ($got)"
	nodes="$nodes$got"
done
n=$(echo $nodes | tr ' ' '\n' | sort -u | wc -l)
ok $([ "$n" -ge 2 ] && echo 0 || echo 1) "lard: five targets on $n nodes, not all on the first"

gold=$(metric 'tandem_rule_requests_total{rule="gold"}')
is "$gold" 1 "rule metrics count the header rule"
is "$(metric 'tandem_class_requests_total{class="normal"}')" 1 "the key-less class counts its requests"
done_testing
