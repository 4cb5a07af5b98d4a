#!/usr/bin/env bash
# tls_bodies.t: HTTPS on a node's L7 switch (tls = ADDR:PORT): bodies of
# 0 B..64 MiB fetched by curl (TLS 1.3 and 1.2) and openssl s_client over
# keep-alive TLS connections whose requests alternate between two nginx
# origins, byte-identical (sha256); ALPN http/1.1; X-Forwarded-Proto;
# TLS clients' bodies copied, never spliced (no kernel TLS); the handshake
# counters match the connections the clients made.
source "$(dirname "$0")/lib.sh"

SEQ="0 1 1k 16k 256k 1m 4m 64m 4m 1m 256k 16k 1k 1 0 16k"
like() { # GOT REGEX DESCRIPTION
	[[ $1 =~ $2 ]]
	ok $? "$3"
}

alloc_port O1; alloc_port O2; alloc_port L7; alloc_port TLS; alloc_port ADM
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $O2 || { echo "Bail out! nginx be2"; exit 1; }
tls_cert site www.example.test || { echo "Bail out! openssl req"; exit 1; }
cat > "$T/c.ini" <<EOF
[cluster]
relay = splice
[l7]
workers = 2
[tls]
cert = site.crt
key = site.key
[node be1]
web = 127.0.0.1:$O1
l7 = 127.0.0.1:$L7
tls = 127.0.0.1:$TLS
admin = 127.0.0.1:$ADM
[node be2]
web = 127.0.0.1:$O2
EOF
ok "$("$TANDEM" -t -c "$T/c.ini" > /dev/null 2>&1; echo $?)" "tandem -t accepts the file with its certificate"
tandem_start "$T/c.ini" be1 || { echo "Bail out! tandem"; exit 1; }
grep -q "kernel TLS is not available\|kernel TLS is available" "$T/tandem-be1.log"
ok $? "the kernel TLS probe said what it found, once at start"
R=(--resolve "www.example.test:$TLS:127.0.0.1" --cacert "$T/site.crt")
U=https://www.example.test:$TLS

# ---- every size on one keep-alive TLS connection, alternating origins
fetch_seq() { # NAME CURL-OPTS...: the sequence over one connection
	local name=$1 i=0 s bad=0; shift
	rm -f "$T"/got.* "$T/k"
	for s in $SEQ; do
		i=$((i + 1))
		printf 'url = "%s/%s"\noutput = "%s/got.%02d.%s"\n' "$U" "$s" "$T" $i "$s" >> "$T/k"
	done
	curl -s --http1.1 "${R[@]}" "$@" --max-time 180 -K "$T/k" -D "$T/heads" \
		-w '%{num_connects} %{http_code}\n' > "$T/w"
	is "$(awk '{ c += $1 } END { print c }' "$T/w"):$(awk '$2 == 200' "$T/w" | wc -l)" "1:16" \
		"$name: 16 requests, all 200, over one verified TLS connection"
	for f in "$T"/got.*; do
		s=${f##*.}
		[ "$(sha "$f")" = "$(sha "$T/www/$s")" ] || { bad=$((bad + 1)); echo "# $name: /$s differs"; }
	done
	is "$bad" 0 "$name: the 16 bodies byte-identical (sha256)"
	is "$(tr -d '\r' < "$T/heads" | awk '/^X-Origin:/ { printf "%s ", $2 }')" \
		"$(for i in $(seq 8); do printf 'be1 be2 '; done)" "$name: requests alternate be1, be2, ..."
}
fetch_seq "TLS 1.3, 0 B..64 MiB"
SEQ="0 1k 256k 4m 1m 16k 1 256k 0 1k 256k 4m 1m 16k 1 256k"
fetch_seq "TLS 1.2, 0 B..4 MiB" --tlsv1.2 --tls-max 1.2

# ---- ALPN, and the scheme the origin is told
curl -sv --http1.1 "${R[@]}" "$U/1" -o /dev/null 2> "$T/v"
grep -q "ALPN: server accepted http/1.1" "$T/v"
ok $? "ALPN: the server picks http/1.1"
is "$(curl -s "${R[@]}" "$U/xfp" -H 'X-Forwarded-Proto: http')" "https" \
	"X-Forwarded-Proto: https reaches the origin for a TLS client (the client's own is dropped)"
is "$(curl -s "http://127.0.0.1:$L7/xfp" -H 'X-Forwarded-Proto: https')" "http" \
	"... and http for a plain one, whatever it claims"

# ---- openssl s_client: two requests on one connection, parsed
py_checks "s_client: " "$TLS" "$T" <<'PY'
import hashlib, subprocess, sys
port, t = sys.argv[1], sys.argv[2]
req = (b"GET /1m HTTP/1.1\r\nHost: www.example.test\r\n\r\n"
       b"GET /256k HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n")
p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:" + port, "-quiet", "-ign_eof",
                    "-servername", "www.example.test"], input=req, capture_output=True, timeout=60)
out, bodies = p.stdout, []
while out:
    head, _, rest = out.partition(b"\r\n\r\n")
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    if not n:
        break
    bodies.append(rest[:n[0]])
    out = rest[n[0]:]
want = [hashlib.sha256(open(t + "/www/" + s, "rb").read()).hexdigest() for s in ("1m", "256k")]
print("two responses on one connection, bodies by sha256\t%s\t%s" %
      ([hashlib.sha256(b).hexdigest() for b in bodies] == want, True))
PY

# ---- eight TLS clients at once
pids=()
for i in $(seq 8); do
	curl -s --http1.1 "${R[@]}" --max-time 120 "$U/4m" "$U/1m" -o "$T/par.$i.a" -o "$T/par.$i.b" &
	pids+=($!)
done
wait "${pids[@]}"
bad=0
for i in $(seq 8); do
	[ "$(sha "$T/par.$i.a")" = "$(sha "$T/www/4m")" ] && [ "$(sha "$T/par.$i.b")" = "$(sha "$T/www/1m")" ] ||
		bad=$((bad + 1))
done
is "$bad" 0 "eight TLS clients at once: 4 MiB and 1 MiB each, byte-identical"

# ---- counters: 2 sequences + ALPN + xfp + s_client + 8 parallel = 13 connections
is "$(metric 'tandem_tls_handshakes_total{node="be1",kind="full"}')" 13 \
	"13 full handshakes counted, one per client connection"
is "$(metric 'tandem_tls_handshakes_total{node="be1",kind="resumed"}')" 0 "no resumption (no client kept a session)"
is "$(metric_sum tandem_tls_handshake_failures_total)" 0 "no handshake failure"
is "$(metric 'tandem_relay_bytes_total{engine="splice"}')" 0 \
	"no TLS client's body was spliced (the plain client's /xfp is below splice_min)"
fb=$(metric 'tandem_relay_fallback_total{reason="tls"}')
[ "${fb:-0}" -ge 30 ]
ok $? "the copy fallback of TLS clients is counted ($fb directions)"

tandem_stop
is "$STOP_RC" 0 "tandem l7 exits 0 on SIGTERM"

# ---- relay = sockmap: its sockets are the plain ones; TLS clients copied
alloc_port L7B; alloc_port TLSB; alloc_port ADMB
sed -e "s/^relay = splice/relay = sockmap/" -e "s/:$L7\$/:$L7B/" -e "s/:$TLS\$/:$TLSB/" \
	-e "s/:$ADM\$/:$ADMB/" "$T/c.ini" > "$T/sm.ini"
tandem_start "$T/sm.ini" be1 || { echo "Bail out! tandem sockmap"; exit 1; }
R=(--resolve "www.example.test:$TLSB:127.0.0.1" --cacert "$T/site.crt")
U=https://www.example.test:$TLSB
SEQ="4m 256k 1k 4m 1m 0 4m 256k 1k 4m 1m 0 4m 256k 1k 4m"
fetch_seq "relay sockmap ($(grep -o 'relay [a-z]*,' "$T/tandem-be1.log" | tail -1 | tr -d ,))"
is "$(curl -s "http://127.0.0.1:$L7B/4m" | sha)" "$(sha "$T/www/4m")" "relay sockmap: a plain client beside them too"
tandem_stop
is "$STOP_RC" 0 "tandem l7 (sockmap) exits 0 on SIGTERM"

# ---- [tls] ciphers and ciphersuites: what is offered, and bad lists
alloc_port L7C; alloc_port TLSC; alloc_port ADMC
sed -e "s/:$L7\$/:$L7C/" -e "s/:$TLS\$/:$TLSC/" -e "s/:$ADM\$/:$ADMC/" \
	-e 's/^key = site.key$/key = site.key\nciphers = ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305\nciphersuites = TLS_CHACHA20_POLY1305_SHA256/' \
	"$T/c.ini" > "$T/ciph.ini"
ok "$("$TANDEM" -t -c "$T/ciph.ini" > /dev/null 2>&1; echo $?)" "tandem -t accepts ciphers and ciphersuites"
sed 's/^ciphers = .*/ciphers = NO-SUCH-CIPHER/' "$T/ciph.ini" > "$T/badc.ini"
is "$("$TANDEM" -t -c "$T/badc.ini" 2>&1 | grep -c 'badc.ini:8: \[tls\] ciphers NO-SUCH-CIPHER: ')" 1 \
	"tandem -t: a cipher list OpenSSL takes nothing from is an error at its line"
sed 's/^ciphersuites = .*/ciphersuites = TLS_NO_SUCH_SUITE/' "$T/ciph.ini" > "$T/bads.ini"
is "$("$TANDEM" -t -c "$T/bads.ini" 2>&1 | grep -c 'bads.ini:9: \[tls\] ciphersuites TLS_NO_SUCH_SUITE: ')" 1 \
	"tandem -t: an unknown TLS 1.3 suite is an error at its line"
tandem_start "$T/ciph.ini" be1 || { echo "Bail out! tandem ciphers"; exit 1; }
sc() { openssl s_client -brief -connect 127.0.0.1:$TLSC -servername www.example.test "$@" < /dev/null 2>&1 |
	awk -F': *' '$1 == "Ciphersuite" { print $2 }'; }
is "$(sc -tls1_3)" TLS_CHACHA20_POLY1305_SHA256 "ciphersuites: TLS 1.3 negotiates the one suite offered"
like "$(sc -tls1_2)" "^ECDHE-(ECDSA|RSA)-CHACHA20-POLY1305$" "ciphers: TLS 1.2 negotiates a suite of the list"
is "$(sc -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256)" "" "ciphersuites: a client offering only another suite gets no session"
is "$(curl -s "${R[@]/$TLSB/$TLSC}" "https://www.example.test:$TLSC/4m" | sha)" "$(sha "$T/www/4m")" \
	"ciphers: a body over the chosen suite, byte-identical"
tandem_stop
is "$STOP_RC" 0 "tandem l7 (ciphers) exits 0 on SIGTERM"
done_testing
