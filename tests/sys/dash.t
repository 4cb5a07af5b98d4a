#!/usr/bin/env bash
# dash.t: the live dashboard (GET / of every admin address) on a two-level
# cluster on loopback: tandem l4 in user mode on a VIP of 127.0.0.1, three
# tandem l7 on 127.0.0.2-4, real nginx origins behind them. The page, its
# script, Debian's Chart.js and /cluster.json are served by every admin
# address; after a bounded load through the VIP (ab -t), a drain, a
# runtime weight and one switch stopped, headless Chromium (Debian's) loads
# the page from the front end's admin address, runs it for a few virtual
# seconds, writes build/dash.png and build/dash.dom.html, and the numbers
# in its DOM are checked against the daemons' /metrics: requests served
# per node, states, weights, the stopped switch shown as not answering,
# every chart drawn with points and no error shown.
source "$(dirname "$0")/lib.sh"
command -v ab > /dev/null || { echo "Bail out! ab (apache2-utils) is missing: scripts/deps.sh installs it"; exit 1; }
command -v chromium > /dev/null || { echo "Bail out! chromium is missing: scripts/deps.sh installs it"; exit 1; }
ip -o addr show lo | grep -q '127.0.0.1/8' || skip_all "loopback is not 127.0.0.0/8 here"
CHARTJS=/usr/share/javascript/chart.js/chart.min.js
OUTDIR=$ROOT/build
mkdir -p "$OUTDIR"

for i in 1 2 3; do origin_start be$i $((BASE + i)) || { echo "Bail out! nginx be$i"; exit 1; }; done
VIP=$((BASE + 10)) A4=$((BASE + 20))
CONF=$T/cluster.ini
# check_interval 60s and check_rise 1: the front end checks each node once
# at its start, so no health check adds to the counters while the page is
# compared with /metrics (one that does shows as before != after below)
{
	cat <<CONF
[cluster]
vip = 127.0.0.1:$VIP
[l4]
mode = user
admin = 127.0.0.1:$A4
check_interval = 60s
check_rise = 1
check_path = /1k
[l7]
workers = 1
[group all]
nodes = be1 be2 be3
policy = rr
[class web]
priority = 0
[rule all]
path_prefix = /
group = all
class = web
CONF
	for i in 1 2 3; do
		printf '[node be%d]\naddress = 127.0.0.%d\nweb = 127.0.0.1:%d\nl7 = 127.0.0.%d:%d\nadmin = 127.0.0.1:%d\n' \
			$i $((i + 1)) $((BASE + i)) $((i + 1)) $VIP $((BASE + 20 + i))
	done
} > "$CONF"
declare -A SW
for i in 1 2 3; do
	"$TANDEM" l7 -c "$CONF" --node be$i >> "$T/tandem-be$i.log" 2>&1 &
	SW[be$i]=$!
	PIDS+=($!)
	wait_for 10 tcp_open $((BASE + 20 + i)) || { echo "Bail out! tandem l7 be$i"; sed 's/^/# /' "$T/tandem-be$i.log"; exit 1; }
done
"$TANDEM" l4 -c "$CONF" >> "$T/tandem-l4.log" 2>&1 &
PIDS+=($!)
l4m() { curl -s --max-time 5 "http://127.0.0.1:$A4/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
wait_for 10 eval '[ "$(l4m "tandem_l4_backend_up{node=\"be1\"}")$(l4m "tandem_l4_backend_up{node=\"be2\"}")$(l4m "tandem_l4_backend_up{node=\"be3\"}")" = 111 ]' ||
	{ echo "Bail out! tandem l4 did not see the nodes up"; sed 's/^/# /' "$T/tandem-l4.log"; exit 1; }

# --- what every admin address serves
for a in $A4 $((BASE + 21)) $((BASE + 22)) $((BASE + 23)); do
	got=$(curl -s --max-time 10 -o "$T/page.$a" -w '%{http_code} %{content_type}' "http://127.0.0.1:$a/")
	ok $([ "$got" = "200 text/html; charset=utf-8" ] && grep -q '<script src="/chart.js">' "$T/page.$a"; echo $?) \
		"GET / on 127.0.0.1:$a: the dashboard page ($got)"
done
is "$(curl -s --max-time 10 -o "$T/dash.js" -w '%{http_code} %{content_type}' "http://127.0.0.1:$A4/dash.js")" \
	"200 application/javascript" "GET /dash.js: the page's script"
ok $(cmp -s "$T/dash.js" "$ROOT/src/dash/dash.js"; echo $?) "GET /dash.js is src/dash/dash.js, built into the binary"
is "$(curl -s --max-time 10 -o "$T/chart.js" -w '%{http_code}' "http://127.0.0.1:$((BASE + 22))/chart.js")" 200 "GET /chart.js: 200"
ok $(cmp -s "$T/chart.js" "$CHARTJS"; echo $?) "GET /chart.js is Debian's $CHARTJS"
is "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$A4/nothing")" 404 "GET /nothing: 404"
is "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$A4/metrics")" 200 "GET /metrics still answers"

# the first /cluster.json starts the gatherers, so the history covers the load
for a in $A4 $((BASE + 21)); do
	got=$(curl -s --max-time 10 "http://127.0.0.1:$a/cluster.json" | python3 -c '
import json, sys
j = json.load(sys.stdin)
s = j["status"]
print(j["by"], len(s["nodes"]), sum(d["answering"] for d in s["daemons"]), len(s["daemons"]), j["history"]["nodes"])' 2>&1 | tail -1)
	is "$got" "$([ $a = $A4 ] && echo l4 || echo l7 be1) 3 4 4 ['be1', 'be2', 'be3']" \
		"GET /cluster.json on 127.0.0.1:$a: the whole cluster, 4 daemons answering"
done

# --- load, then a drain, a runtime weight and a switch stopped
ab -q -t $((4 * SLOW)) -n 1000000 -c 4 "http://127.0.0.1:$VIP/1k" > "$T/ab.out" 2>&1
diag "ab through the VIP: $(awk '/^Complete requests:/ { print $3 }' "$T/ab.out") complete," \
	"$(awk '/^Failed requests:/ { print $3 }' "$T/ab.out") failed"
ctl() { "$TANDEM" ctl -c "$CONF" "$@"; }
out=$(ctl node be2 drain); rc=$?
is "$rc" 0 "ctl node be2 drain: taken ($(tail -1 <<< "$out"))"
out=$(ctl node be1 weight 3); rc=$?
is "$rc" 0 "ctl node be1 weight 3: taken ($(tail -1 <<< "$out"))"
tandem_stop "${SW[be3]}"
sleep 2.5       # two rounds of the gatherer: the page's snapshot is after all of it

# /metrics of the switches still running: requests each node got from all of them
served() { # NODE
	local s=0 v i
	for i in 1 2; do
		v=$(curl -s --max-time 5 "http://127.0.0.1:$((BASE + 20 + i))/metrics" |
			awk -v k="tandem_requests_total{node=\"$1\"," 'index($1, k) == 1 { s += $2 } END { printf "%d", s }')
		s=$((s + v))
	done
	echo $s
}
declare -A BEFORE AFTER
for n in be1 be2 be3; do BEFORE[$n]=$(served $n); done

# --- the page in headless Chromium; virtual time runs the 1 s timer on
chrome() { # OUTPUT-OPTION...: one run on a fresh profile under $T, bounded
	rm -rf "$T/chromium"
	timeout $((90 * SLOW)) chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--no-first-run --disable-extensions --user-data-dir="$T/chromium" --window-size=1400,1400 \
		--virtual-time-budget=6000 "$@" "http://127.0.0.1:$A4/" 2>> "$T/chromium.log"
}
rm -f "$OUTDIR/dash.png" "$OUTDIR/dash.dom.html"
chrome --dump-dom > "$OUTDIR/dash.dom.html"
is "$?" 0 "chromium --dump-dom: exit 0"
chrome --screenshot="$OUTDIR/dash.png" > /dev/null
ok $([ -s "$OUTDIR/dash.png" ] && [ "$(head -c 8 "$OUTDIR/dash.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; echo $?) \
	"chromium --screenshot: $OUTDIR/dash.png is a PNG"
[ -s "$OUTDIR/dash.dom.html" ] || { diag "chromium said:"; tail -20 "$T/chromium.log" | sed 's/^/#   /'; }
for n in be1 be2 be3; do AFTER[$n]=$(served $n); done

# the DOM's numbers, one "key value" a line
python3 - "$OUTDIR/dash.dom.html" > "$T/dom.txt" <<'PY'
import sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.out = [], {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        ctx = dict(self.stack[-1][1]) if self.stack else {}
        if "data-node" in a: ctx["row"] = "node." + a["data-node"]
        if "data-daemon" in a: ctx["row"] = "daemon." + a["data-daemon"].replace(" ", "_")
        key = None
        if "data-field" in a and "row" in ctx: key = ctx["row"] + "." + a["data-field"]
        elif a.get("id") in ("total-requests", "nodes-up", "daemons-answering", "error"): key = a["id"]
        if tag == "body":
            for k in ("data-updates", "data-error", "data-samples"): self.out["body." + k] = a.get(k, "")
        if tag == "canvas": self.out["canvas." + a.get("id", "?")] = a.get("data-points", "")
        if key: self.out[key] = ""
        self.stack.append((tag, ctx, key))
    def handle_endtag(self, tag):
        while self.stack:
            t, _, _ = self.stack.pop()
            if t == tag: break
    def handle_data(self, d):
        for _, _, key in reversed(self.stack):
            if key:
                self.out[key] += d
                break

p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
for k, v in sorted(p.out.items()):
    print(k, " ".join(v.split()) or "-")
PY
sed 's/^/# dom: /' "$T/dom.txt" | grep -E 'node\.|daemon\.l7_be3|total|body|canvas|error'
dom() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$T/dom.txt"; }

n=$(dom body.data-updates)
ok $(( ${n//[^0-9]/}0 >= 20 ? 0 : 1 )) "the page updated itself without a reload ($(dom body.data-updates) times)"
is "$(dom body.data-error)" "-" "no error shown on the page"
for c in chart-conn chart-served chart-in chart-bytes chart-queue chart-states; do
	ok $(( $(dom canvas.$c | tr -dc 0-9)0 > 0 ? 0 : 1 )) "Chart.js drew $c ($(dom canvas.$c) points)"
done
total=0
for n in be1 be2 be3; do
	b=${BEFORE[$n]} a=${AFTER[$n]} got=$(dom node.$n.requests)
	got=${got//[^0-9]/}
	total=$((total + ${got:-0}))
	diag "$n: /metrics says $b before the page and $a after, the page $got"
	ok $(( ${got:--1} >= ${b:-0} && ${got:--1} <= ${a:-0} && ${a:-0} > 0 ? 0 : 1 )) \
		"node $n: requests served on the page ($got) as /metrics of the running switches say ($b..$a)"
done
t=$(dom total-requests)
ok $(( ${t//[^0-9]/}0 == total * 10 && total > 100 ? 0 : 1 )) \
	"total requests on the page ($(dom total-requests)) is the nodes' sum ($total)"
is "$(dom node.be1.state) $(dom node.be1.weight)" "up 3" "be1: up, weight 3 (as tandem_node_weight: $(metric 'tandem_node_weight{node="be1"}' $((BASE + 21))))"
is "$(dom node.be2.state) $(dom node.be2.weight)" "drain 0" "be2: drain, weight 0 (as tandem_node_weight: $(metric 'tandem_node_weight{node="be2"}' $((BASE + 22))))"
is "$(dom node.be3.state) $(dom node.be3.weight)" "up 1" "be3: up, weight 1 at the two switches left"
is "$(dom node.be2.l4)" "up / 0 / $(l4m 'tandem_l4_backend_slots{node="be2"}')" \
	"be2 at the front end: up, weight 0, its slots as tandem_l4_backend_slots"
is "$(dom node.be3.l7_switch)" "not answering" "be3's own switch: not answering"
is "$(dom daemon.l7_be3.answering)" "no" "the stopped switch is listed among the daemons, answering no"
is "$(dom daemons-answering)" "3 / 4" "daemons answering: 3 of 4"
is "$(dom node.be1.l7_switch) $(dom daemon.l4.answering)" "ok yes" "be1's switch and the front end answer"
done_testing
