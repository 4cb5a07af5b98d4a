#!/usr/bin/env bash
# bench/tls: HTTPS through tandem l7 against HAProxy 2.6, both terminating
# TLS with the same certificate (ECDSA P-256, made here with the openssl CLI)
# and the same negotiated suite (TLS 1.3 TLS_AES_128_GCM_SHA256, X25519),
# side by side in one run, with plain-HTTP tandem and nginx directly as
# reference rows. Tests:
#   ka      keep-alive: wrk -c$CONNS, bodies of each of SIZES
#   close   one request per connection (wrk -H "Connection: close": wrk
#           reconnects), 1 KiB. wrk reuses its SSL object after SSL_clear,
#           which keeps the session, so on TLS targets it resumes whenever
#           the server lets it: a mix of full and resumed handshakes, whose
#           share a check before measuring counts on each server (column
#           resumed of tls.csv); the full and resume tests are the clean ones
#   full    TLS targets: new connections with full handshakes, hs.py (Python)
#   resume  TLS targets: new connections resumed by a session ticket, hs.py
# Pinning as in ../shared/BASELINE.md: the client on CPU 0, the proxy and the
# origin together on CPU 1. CPU per request (per connection in close, full
# and resume) is the proxy's threads from /proc/PID/task/*/schedstat: on two
# cores the client may be the bottleneck of the connection tests (cpu0_busy
# in the CSVs says how busy it was), so the server's CPU per handshake is the
# figure that compares the two terminators.
# The suite is pinned on the client side (tandem has no cipher key): every
# client (wrk, hs.py, s_client) runs with OPENSSL_CONF=$T/client.cnf, which
# allows TLS 1.3 with TLS_AES_128_GCM_SHA256 and X25519 only; HAProxy is
# pinned to the same suite too. Before measuring, s_client says what each
# TLS target negotiates (pinned, and what a default client would get), and
# the pinned wrk and hs.py must fail against a HAProxy port that offers only
# TLS_AES_256_GCM_SHA384 (proof that the pin reaches them).
# Writes bench/results/tls.csv (median of REPS runs per point), tls.runs.csv
# (every run, with CPU 0/1 busy, softirq, load, handshake counts of the
# server) and tls.png/svg.
#   DUR=10 REPS=3 CONNS=32 SIZES="1k 256k" TESTS="ka close full resume"
#   TARGETS="direct tandem-http tandem-tls haproxy-tls" PYPROCS=4
#   MAX_SECONDS=700 OUT=bench/results bench/tls/run.sh
# Quick look: DUR=1 REPS=1 OUT=/tmp/tls bench/tls/run.sh (under a minute).
# haproxy-http (HAProxy's plain port) may be added to TARGETS.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TANDEM=${TANDEM:-$ROOT/build/tandem}
DUR=${DUR:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-32}
SIZES=${SIZES:-"1k 256k"}
TESTS=${TESTS:-"ka close full resume"}
TARGETS=${TARGETS:-"direct tandem-http tandem-tls haproxy-tls"}
PYPROCS=${PYPROCS:-4}            # hs.py client processes (all on CPU 0)
RELAY=${RELAY:-splice}           # tandem's engine for plain clients (TLS ones are copied)
MAX_SECONDS=${MAX_SECONDS:-700}  # refuse a plan longer than this
OUT=${OUT:-$ROOT/bench/results}
SUITE=TLS_AES_128_GCM_SHA256
mkdir -p "$OUT"
for t in wrk nginx haproxy taskset gnuplot openssl curl python3; do
	command -v $t >/dev/null || { echo "bench/tls: $t is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
[ -x "$TANDEM" ] || { echo "bench/tls: build tandem first (make)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench/tls: needs 2 CPUs for the pinning" >&2; exit 1; }
for t in $TARGETS; do
	case $t in direct|tandem-http|tandem-tls|haproxy-tls|haproxy-http) ;;
	*) echo "bench/tls: unknown target $t" >&2; exit 1;; esac
done
for t in $TESTS; do
	case $t in ka|close|full|resume) ;; *) echo "bench/tls: unknown test $t" >&2; exit 1;; esac
done

T=$(mktemp -d /tmp/tandem-tlsbench.XXXXXX)
chmod 755 "$T"
source "$ROOT/bench/lib.sh"

P=$((20000 + $$ % 300 * 8))    # below the ephemeral range, apart from bench/relay's 30000+
ORIGIN=$P; THTTP=$((P + 1)); TTLS=$((P + 2)); TADM=$((P + 3))
HTLS=$((P + 4)); HHTTP=$((P + 5)); HPROBE=$((P + 6)); HLOG=$((P + 7))

bytes_of() { case $1 in *k) echo $(( ${1%k} * 1024 ));; *m) echo $(( ${1%m} * 1048576 ));; *) echo "$1";; esac; }
mkdir -p "$T/www"
for s in $SIZES 1k; do
	head -c "$(bytes_of "$s")" /dev/urandom > "$T/www/$s"
done
chmod -R a+rX "$T/www"

# ---- one certificate for both: ECDSA P-256, self-signed, for the name and 127.0.0.1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$T/site.key" -out "$T/site.crt" -days 2 -subj "/CN=bench.tandem.test" \
	-addext "subjectAltName=DNS:bench.tandem.test,IP:127.0.0.1" 2>/dev/null
cat "$T/site.crt" "$T/site.key" > "$T/site.pem"     # HAProxy's crt: both in one file
openssl rand -hex 80 > "$T/tickets"                 # tandem's shared ticket key
# the clients' OpenSSL configuration: TLS 1.3, one suite, one group
bench/tls/client_cnf.sh "$SUITE" > "$T/client.cnf"
CL=(env OPENSSL_CONF="$T/client.cnf" taskset -c 0)

bench_origin $ORIGIN

# ---- tandem: one l7 process with a plain and a TLS listener
cat > "$T/tandem.ini" <<CONF
[cluster]
relay = $RELAY
[l7]
workers = 1
[tls]
cert = $T/site.crt
key = $T/site.key
ticket_keys = $T/tickets
handshake_timeout = 10s
[node o]
web = 127.0.0.1:$ORIGIN
l7 = 127.0.0.1:$THTTP
tls = 127.0.0.1:$TTLS
admin = 127.0.0.1:$TADM
CONF
taskset -c 1 "$TANDEM" l7 -c "$T/tandem.ini" --node o 2> "$T/tandem.log" &
PIDS+=($!)
PID_tandem=$!

# ---- HAProxy: the same certificate, suite pinned; TLS 1.2 with tandem's list
cat > "$T/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4000
  stats socket $T/haproxy.sock level admin
  ssl-default-bind-ciphersuites $SUITE
  ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend tls
  bind 127.0.0.1:$HTLS ssl crt $T/site.pem alpn http/1.1
  default_backend b
frontend plain
  bind 127.0.0.1:$HHTTP
  default_backend b
frontend probe
  bind 127.0.0.1:$HPROBE ssl crt $T/site.pem ciphersuites TLS_AES_256_GCM_SHA384
  default_backend b
frontend tlslog
  bind 127.0.0.1:$HLOG ssl crt $T/site.pem alpn http/1.1
  log stdout format raw local0
  log-format "%[ssl_fc_is_resumed]"
  default_backend b
backend b
  server o 127.0.0.1:$ORIGIN
CONF
taskset -c 1 haproxy -f "$T/haproxy.cfg" -db > "$T/haproxy.out" 2> "$T/haproxy.log" &
PIDS+=($!)
PID_haproxy=$!
sleep 0.5
kill -0 "$PID_tandem" 2>/dev/null || { echo "bench/tls: tandem did not start:" >&2; tail -5 "$T/tandem.log" >&2; exit 1; }
kill -0 "$PID_haproxy" 2>/dev/null || { echo "bench/tls: haproxy did not start:" >&2; tail -5 "$T/haproxy.log" >&2; exit 1; }

port_of() { case $1 in direct) echo $ORIGIN;; tandem-http) echo $THTTP;; tandem-tls) echo $TTLS;;
	haproxy-tls) echo $HTLS;; haproxy-http) echo $HHTTP;; esac; }
pid_of() { case $1 in direct) echo "";; tandem-*) echo $PID_tandem;; haproxy-*) echo $PID_haproxy;; esac; }
is_tls() { case $1 in *-tls) return 0;; esac; return 1; }
url_of() { if is_tls "$1"; then echo "https://127.0.0.1:$(port_of "$1")"; else echo "http://127.0.0.1:$(port_of "$1")"; fi; }
log_of() { case $1 in tandem-*) echo "$T/tandem.log";; haproxy-*) echo "$T/haproxy.log";; *) echo "$T/o/error.log";; esac; }

# busy and total jiffies of cpuN (/proc/stat)
cpu_busy() { awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
pct() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN { printf "%.0f", (d > b) ? 100 * (c - a) / (d - b) : 0 }'; }
# TLS connections the server counted: "full resumed" (tandem), "all -" (HAProxy)
srv_hs() {
	case $1 in
	tandem-tls) curl -s --max-time 5 "http://127.0.0.1:$TADM/metrics" | awk '
		$1 == "tandem_tls_handshakes_total{node=\"o\",kind=\"full\"}" { f = $2 }
		$1 == "tandem_tls_handshakes_total{node=\"o\",kind=\"resumed\"}" { r = $2 }
		END { print f + 0, r + 0 }';;
	haproxy-tls) python3 - "$T/haproxy.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show info\n")
out = s.makefile("rb").read()
info = dict(l.split(": ", 1) for l in out.decode().splitlines() if ": " in l)
print(info.get("CumSslConns", "0"), "-")
PY
	;;
	*) echo "- -";;
	esac
}
# ---- every target serves every body byte-identical (sha256) before it is measured
for t in $TARGETS; do
	for s in $SIZES 1k; do
		got=$(curl -s --max-time 20 --cacert "$T/site.crt" "$(url_of "$t")/$s" | sha256sum | cut -c1-64)
		want=$(sha256sum < "$T/www/$s" | cut -c1-64)
		[ "$got" = "$want" ] || { echo "bench/tls: $t serves /$s wrong (sha256 $got, file $want); log:" >&2;
			tail -5 "$(log_of "$t")" >&2 2>/dev/null; exit 1; }
	done
done
echo "bench/tls: every target serves every size byte-identical (sha256; TLS ones with the certificate verified)"

# ---- what each TLS target negotiates: pinned (the measuring clients) and by default
declare -A NEG
sc() { # PORT: "proto/suite/group/sigtype" that s_client gets
	timeout 10 openssl s_client -brief -connect "127.0.0.1:$1" -servername bench.tandem.test < /dev/null 2>&1 |
		awk -F': *' '$1 == "Protocol version" { p = $2 } $1 == "Ciphersuite" { c = $2 }
			$1 == "Server Temp Key" { split($2, g, ","); k = g[1] } $1 == "Signature type" { s = $2 }
			END { printf "%s/%s/%s/%s", p ? p : "-", c ? c : "-", k ? k : "-", s ? s : "-" }'
}
printf '%-12s %-44s %s\n' target "pinned client (measured)" "default client (Debian openssl.cnf)"
for t in $TARGETS; do
	is_tls "$t" || continue
	pin=$(OPENSSL_CONF="$T/client.cnf" sc "$(port_of "$t")")
	def=$(sc "$(port_of "$t")")
	printf '%-12s %-44s %s\n' "$t" "$pin" "$def"
	[ "$(echo "$pin" | cut -d/ -f1-3)" = "TLSv1.3/$SUITE/X25519" ] ||
		{ echo "bench/tls: $t negotiates $pin, not TLSv1.3/$SUITE/X25519" >&2; exit 1; }
	NEG[$t]=$pin
done
# the pin reaches wrk and hs.py: against a port without the suite they fail
n=$("${CL[@]}" wrk -t1 -c1 -d1s "https://127.0.0.1:$HPROBE/1k" | awk '/requests in/ { print $1 }')
[ "${n:-1}" = 0 ] || { echo "bench/tls: the pinned wrk made $n requests to a port without $SUITE: OPENSSL_CONF is not honoured" >&2; exit 1; }
r=$("${CL[@]}" python3 bench/tls/hs.py "$HPROBE" 0.3 1 full /1k)
echo "$r" | grep -q '"conns": 0,' || { echo "bench/tls: the pinned hs.py got through a port without $SUITE: $r" >&2; exit 1; }
echo "bench/tls: the pinned wrk and hs.py fail against a port that offers only TLS_AES_256_GCM_SHA384, as they must"
# does wrk with "Connection: close" resume? (it reuses its SSL object after
# SSL_clear, which keeps the session): tandem's counters, and a HAProxy port
# that logs ssl_fc_is_resumed per connection (not measured: logging costs)
declare -A CLOSE_RES
for t in $TARGETS; do
	is_tls "$t" || continue
	case $t in
	tandem-tls) read -r f0 r0 < <(srv_hs tandem-tls)
		"${CL[@]}" wrk -t1 -c"$CONNS" -d1s -H "Connection: close" "https://127.0.0.1:$TTLS/1k" > /dev/null
		read -r f1 r1 < <(srv_hs tandem-tls)
		CLOSE_RES[$t]="$((r1 - r0)) of $((f1 + r1 - f0 - r0))";;
	haproxy-tls) : > "$T/haproxy.out"
		"${CL[@]}" wrk -t1 -c"$CONNS" -d1s -H "Connection: close" "https://127.0.0.1:$HLOG/1k" > /dev/null
		sleep 0.2
		CLOSE_RES[$t]="$(grep -c '^1' "$T/haproxy.out" || true) of $(grep -c '^[01]' "$T/haproxy.out" || true)";;
	esac
	echo "bench/tls: wrk -H 'Connection: close' against $t: ${CLOSE_RES[$t]} connections resumed in 1 s"
done

# ---- the plan
PLAN=()
for t in $TESTS; do
	case $t in
	ka) for s in $SIZES; do PLAN+=("ka:$s"); done;;
	close) PLAN+=("close:1k");;
	full|resume) PLAN+=("$t:1k");;
	esac
done
npts=0
for p in "${PLAN[@]}"; do
	for t in $TARGETS; do
		case ${p%%:*} in full|resume) is_tls "$t" || continue;; esac
		npts=$((npts + 1))
	done
done
total=$((npts * REPS))
eta=$(( total * (DUR + 2) + 15 ))
echo "bench/tls: $total runs of ${DUR}s (+1s warm-up each), about $((eta / 60)) min $((eta % 60)) s; load now $(cut -d' ' -f1-3 /proc/loadavg)"
[ $eta -le "$MAX_SECONDS" ] || { echo "bench/tls: that is over MAX_SECONDS=$MAX_SECONDS: lower DUR, REPS, SIZES or TESTS" >&2; exit 1; }

RUNS=$OUT/tls.runs.csv
echo "target,test,size,rep,rps,p99_ms,proxy_cpu_us_per_req,origin_cpu_us_per_req,errors,conns,srv_tls_conns,srv_resumed,cli_resumed,cpu0_busy_pct,cpu1_busy_pct,softirq1_ms,load1" > "$RUNS"
load() { # TEST SIZE TARGET SECONDS [--latency]: one client run into $T/c.out
	local test=$1 s=$2 t=$3 d=$4 lat=${5:-}
	case $test in
	ka) "${CL[@]}" wrk -t1 -c"$CONNS" -d"${d}s" $lat "$(url_of "$t")/$s" > "$T/c.out";;
	close) "${CL[@]}" wrk -t1 -c"$CONNS" -d"${d}s" $lat -H "Connection: close" "$(url_of "$t")/$s" > "$T/c.out";;
	full|resume) "${CL[@]}" python3 bench/tls/hs.py "$(port_of "$t")" "$d" "$PYPROCS" "$test" "/$s" > "$T/c.out";;
	esac
}
i=0
for rep in $(seq "$REPS"); do
	for p in "${PLAN[@]}"; do
		test=${p%%:*}; s=${p#*:}
		for t in $TARGETS; do
			case $test in full|resume) is_tls "$t" || continue;; esac
			i=$((i + 1))
			pid=$(pid_of "$t")
			load "$test" "$s" "$t" 1      # warm-up
			# the server's counters outside the CPU window (reading them costs CPU)
			read -r ha hra < <(srv_hs "$t")
			a=0; [ -n "$pid" ] && a=$(cpu_ns "$pid")
			oa=$(cpu_ns "$ORIGIN_WORKER"); sa=$(softirq1_ns)
			read -r c0a c0t < <(cpu_busy 0); read -r c1a c1t < <(cpu_busy 1)
			load "$test" "$s" "$t" "$DUR" --latency
			read -r c0b c0u < <(cpu_busy 0); read -r c1b c1u < <(cpu_busy 1)
			b=0; [ -n "$pid" ] && b=$(cpu_ns "$pid")
			ob=$(cpu_ns "$ORIGIN_WORKER"); sb=$(softirq1_ns)
			read -r hb hrb < <(srv_hs "$t")
			clires=""
			case $test in
			full|resume)
				eval "$(python3 -c 'import json, shlex, sys; r = json.load(open(sys.argv[1]))
print("rps=%d n=%d p99=%.3f nerr=%d clires=%d" % (r["rps"], r["conns"], r["p99_ms"], r["errors"], r["resumed"]))
print("seen=%s lasterr=%s" % (shlex.quote(",".join(r["negotiated"])), shlex.quote(r["last_error"])))' "$T/c.out")"
				conns=$n
				[ "$seen" = "TLSv1.3/$SUITE" ] || echo "bench/tls: $t $test: hs.py negotiated '$seen' ($lasterr)" >&2
				errs=""; [ "$nerr" -gt 0 ] && errs="errors $nerr: $lasterr";;
			*)
				rps=$(awk '/^Requests\/sec/ { printf "%d", $2 }' "$T/c.out")
				n=$(awk '/requests in/ { print $1 }' "$T/c.out")
				p99=$(p99_ms < "$T/c.out")
				errs=$(grep -E 'Socket errors|Non-2xx' "$T/c.out" || true)
				nerr=$(awk '/Socket errors/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 } /Non-2xx/ { e += $NF } END { print e + 0 }' "$T/c.out")
				if [ "$test" = close ]; then conns=$n; else conns=$CONNS; fi;;
			esac
			cpu=""; ocpu=""
			[ -n "$pid" ] && [ "${n:-0}" -gt 0 ] && cpu=$(awk -v d=$((b - a)) -v n="$n" 'BEGIN { printf "%.2f", d / 1000 / n }')
			[ "${n:-0}" -gt 0 ] && ocpu=$(awk -v d=$((ob - oa)) -v n="$n" 'BEGIN { printf "%.2f", d / 1000 / n }')
			stc=""; sres=""
			[ "$ha" != - ] && stc=$(( hb + ${hrb/-/0} - ha - ${hra/-/0} ))
			[ "$hra" != - ] && sres=$((hrb - hra))
			b0=$(pct "$c0a" "$c0t" "$c0b" "$c0u"); b1=$(pct "$c1a" "$c1t" "$c1b" "$c1u")
			# what the run was meant to be: resumed connections resumed, full ones not
			[ "$test" = resume ] && [ "$clires" -lt $((conns - PYPROCS)) ] &&
				echo "bench/tls: $t resume: only $clires of $conns connections resumed" >&2
			case $test in close|full) [ -n "$sres" ] && [ "$sres" -gt 0 ] &&
				echo "bench/tls: $t $test: the server resumed $sres sessions" >&2;; esac
			echo "$t,$test,$s,$rep,$rps,$p99,$cpu,$ocpu,$nerr,$conns,$stc,$sres,$clires,$b0,$b1,$(( (sb - sa) / 1000000 )),$(cut -d' ' -f1 /proc/loadavg)" >> "$RUNS"
			hs=""
			[ -n "$stc" ] && hs="server tls conns $stc${sres:+, resumed $sres}"
			[ -n "$clires" ] && hs="$hs${hs:+, }client saw $clires resumed"
			printf '[%3d/%d] %-12s %-6s %-4s rep %d: %7s req/s  p99 %8s ms  proxy %7s us/req  cpu0 %3s%%  %s %s\n' \
				"$i" "$total" "$t" "$test" "$s" "$rep" "$rps" "$p99" "${cpu:--}" "$b0" "$hs" "${errs:+($errs)}"
		done
	done
done

# ---- medians per target, test and size
negs=""
for t in "${!NEG[@]}"; do negs="$negs $t=${NEG[$t]}"; done
cres=""
for t in "${!CLOSE_RES[@]}"; do cres="$cres $t=$(echo "${CLOSE_RES[$t]}" | tr ' ' '_')"; done
python3 - "$RUNS" "$OUT/tls.csv" "$negs" "$cres" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
neg = dict(x.split("=", 1) for x in sys.argv[3].split())
cres = dict(x.split("=", 1) for x in sys.argv[4].split())
keys = []
for r in rows:
    k = (r["target"], r["test"], r["size"])
    if k not in keys:
        keys.append(k)
def med(rs, k):
    v = [float(x[k]) for x in rs if x[k] not in ("", "-")]
    return statistics.median(v) if v else None
fmt = lambda v, f: "" if v is None else f % v
with open(sys.argv[2], "w") as f:
    f.write("target,test,size,rps,p99_ms,proxy_cpu_us_per_req,cpu0_busy_pct,errors,negotiated,resumed\n")
    for t, test, s in sorted(keys, key=lambda k: (["ka", "close", "full", "resume"].index(k[1]), k[2], keys.index(k))):
        rs = [x for x in rows if (x["target"], x["test"], x["size"]) == (t, test, s)]
        # what share of the connections resumed: hs.py's own count, or for
        # wrk's close runs the check before measuring
        res = ""
        if test in ("full", "resume"):
            res = "%.0f%%" % (100 * sum(int(x["cli_resumed"] or 0) for x in rs) / max(1, sum(int(x["conns"] or 0) for x in rs)))
        if test == "close" and t in cres:
            res = cres[t].replace("_", " ")
        f.write("%s,%s,%s,%s,%s,%s,%s,%d,%s,%s\n" % (t, test, s, fmt(med(rs, "rps"), "%d"), fmt(med(rs, "p99_ms"), "%.3f"),
                fmt(med(rs, "proxy_cpu_us_per_req"), "%.2f"), fmt(med(rs, "cpu0_busy_pct"), "%.0f"),
                sum(int(x["errors"] or 0) for x in rs), neg.get(t, "plain"), res))
PY
echo
column -s, -t "$OUT/tls.csv"

# ---- plot: req/s (top) and proxy CPU per request (bottom), by test, log scales
PROXIED=$(for t in $TARGETS; do [ "$t" = direct ] || printf '%s ' "$t"; done)
python3 - "$OUT/tls.csv" "$T/plot.dat" "$TARGETS" "$PROXIED" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
targets, proxied = sys.argv[3].split(), sys.argv[4].split()
pts = []
for r in rows:
    p = r["test"] + "-" + r["size"]
    if p not in pts:
        pts.append(p)
with open(sys.argv[2], "w") as f:
    f.write("point " + " ".join(targets) + " " + " ".join(proxied) + "\n")
    for p in pts:
        get = lambda t, k: next((r[k] or "?" for r in rows if r["test"] + "-" + r["size"] == p and r["target"] == t), "?")
        f.write(p + " " + " ".join(get(t, "rps") for t in targets) + " " +
                " ".join(get(t, "proxy_cpu_us_per_req") for t in proxied) + "\n")
PY
nt=$(echo $TARGETS | wc -w); np=$(echo $PROXIED | wc -w)
# the bottom plot's bars take the colours of the same targets above
LTS=$(j=0; for t in $TARGETS; do j=$((j + 1)); [ "$t" = direct ] || printf '%d ' $j; done)
plot_gp() { # TERMINAL
	cat <<GP
set terminal $1
set termoption noenhanced
set output "$OUT/tls.$fmt"
set datafile missing "?"
set multiplot layout 2,1 title "HTTPS: TLS 1.3 $SUITE, ECDSA P-256 (wrk/hs.py on CPU 0, proxy + nginx on CPU 1)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set grid ytics
set key top right
set ylabel "req/s (conn/s in close, full, resume)"
plot for [i=2:$((nt + 1))] "$T/plot.dat" using i:xtic(1) title columnheader(i)
set ylabel "proxy CPU, us per request"
plot for [i=$((nt + 2)):$((nt + np + 1))] "$T/plot.dat" using i:xtic(1) title columnheader(i) lt (word("$LTS", i - $((nt + 1))) + 0)
unset multiplot
GP
}
for fmt in png svg; do
	if [ $fmt = png ]; then term="pngcairo size 1000,760"; else term="svg size 1000,760"; fi
	plot_gp "$term" | gnuplot 2>/dev/null || plot_gp "${term/pngcairo/png}" | gnuplot
done
echo "bench/tls: wrote $OUT/tls.csv, tls.runs.csv, tls.png, tls.svg"
