#!/usr/bin/env bash
# tls_bad.t: bad input on a node's TLS port, with another client served
# meanwhile: plain HTTP (answered 400 in clear, also when its first bytes
# come one at a time), other bytes that are not TLS (closed), a truncated
# ClientHello (closed, or left hanging),
# a malformed one, a connection that never says anything (closed at
# handshake_timeout), a client that asks for renegotiation (refused:
# SSL_OP_NO_RENEGOTIATION); each is counted by reason, none stalls the
# others, and the daemon exits cleanly after them (under ASan: no leak).
source "$(dirname "$0")/lib.sh"

alloc_port O1; alloc_port L7; alloc_port TLS; alloc_port ADM
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
tls_cert site www.example.test || { echo "Bail out! openssl req"; exit 1; }
cat > "$T/c.ini" <<EOF
[cluster]
relay = splice
[l7]
workers = 1
[tls]
cert = site.crt
key = site.key
handshake_timeout = 2s
[node be1]
web = 127.0.0.1:$O1
l7 = 127.0.0.1:$L7
tls = 127.0.0.1:$TLS
admin = 127.0.0.1:$ADM
EOF
tandem_start "$T/c.ini" be1 || { echo "Bail out! tandem"; exit 1; }

py_checks "" "$TLS" "$T" <<'PY'
import hashlib, socket, ssl, sys, time
port, t = int(sys.argv[1]), sys.argv[2]

def check(desc, got, want):
    print("%s\t%s\t%s" % (desc, got, want), flush=True)

def raw():
    return socket.create_connection(("127.0.0.1", port), timeout=30)

def closed(s, limit=30):
    """what the server does: 'closed' once it closes (after any alert), else 'open'"""
    s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
        return "closed"
    except ConnectionResetError:
        return "closed"
    except socket.timeout:
        return "open"

def answer(s, limit=30):
    """everything the server sends until it closes (None: it never did)"""
    s.settimeout(limit)
    buf = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return buf
            buf += d
    except ConnectionResetError:
        return buf
    except socket.timeout:
        return None

def http400(buf):
    """a plain-text 400 with Connection: close that says to use HTTPS"""
    head, _, body = (buf or b"").partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return (lines[0] == b"HTTP/1.1 400 Bad Request" and b"connection: close" in head.lower()
            and b"HTTPS" in body and b"content-length: %d" % len(body) in head.lower())

def served():
    """another client, a whole TLS exchange: its body's sha256 matches"""
    ctx = ssl.create_default_context(cafile=t + "/site.crt")
    with ctx.wrap_socket(raw(), server_hostname="www.example.test") as s:
        s.sendall(b"GET /256k HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    body = buf.partition(b"\r\n\r\n")[2]
    return hashlib.sha256(body).hexdigest() == hashlib.sha256(open(t + "/www/256k", "rb").read()).hexdigest()

# a real ClientHello, to cut
bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
c = ssl.create_default_context().wrap_bio(bio_in, bio_out, server_hostname="www.example.test")
try:
    c.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = bio_out.read()

# left hanging: nothing at all, and half a ClientHello
silent = raw()
half = raw()
half.sendall(hello[:len(hello) // 2])
time.sleep(0.2)
check("a client is served while two handshakes hang", served(), True)

s = raw()
s.sendall(b"GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n")
check("plain HTTP on the TLS port: 400 in clear, then closed", http400(answer(s)), True)
# a method that comes a byte at a time: waited for, a client served meanwhile
s = raw()
s.sendall(b"P")
time.sleep(0.2)
s.sendall(b"RO")
check("a client is served while a plain request trickles in", served(), True)
s.sendall(b"PFIND /dav HTTP/1.1\r\nHost: www.example.test\r\n\r\n")
check("... that request, once its method and space came: 400 in clear", http400(answer(s)), True)
s = raw()
s.sendall(b"\x00\x01 not TLS, not HTTP\r\n")
check("bytes neither TLS nor HTTP: closed without an answer", answer(s), b"")
s = raw()
s.sendall(hello[:40])
s.shutdown(socket.SHUT_WR)
check("a truncated ClientHello, then EOF: closed", closed(s), "closed")
s = raw()
s.sendall(bytes([0x16, 3, 1, 0, 48]) + bytes(range(48)))
check("a malformed ClientHello: closed", closed(s), "closed")
s = raw()
s.sendall(bytes([0x16, 3, 1, 0x40, 0]) + hello[5:])   # a record length past what is sent
s.shutdown(socket.SHUT_WR)
check("a ClientHello record longer than its bytes, then EOF: closed", closed(s), "closed")
check("a client is served after them", served(), True)
check("the silent connection is closed at handshake_timeout", closed(silent), "closed")
check("the half ClientHello is closed at handshake_timeout", closed(half), "closed")
check("a client is served after the timeouts", served(), True)
PY

# ---- renegotiation: TLS 1.2 s_client's R command, then a request
{ printf 'R\n'; sleep 1; printf 'GET /1k HTTP/1.1\r\nHost: www.example.test\r\n\r\n'; sleep 1; } |
	timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$TLS" -servername www.example.test > "$T/reneg" 2>&1
grep -q RENEGOTIATING "$T/reneg"
ok $? "s_client asked for a renegotiation"
grep -qi "no renegotiation\|no_renegotiation" "$T/reneg"
ok $? "... and the server refused it (no_renegotiation alert)"
is "$(grep -c 'Verify return code' "$T/reneg")" 1 "... no second handshake took place"
is "$(curl -s --resolve "www.example.test:$TLS:127.0.0.1" --cacert "$T/site.crt" \
	"https://www.example.test:$TLS/1k" | sha)" "$(sha "$T/www/1k")" "a client is served after it"

# ---- curl to the TLS port with http://: the 400 and its body, then https://
code=$(curl -s -o "$T/plain400" -D "$T/plain400.h" -w '%{http_code}' "http://127.0.0.1:$TLS/1k")
is "$code" 400 "curl http:// to the TLS port: 400"
grep -q "speaks HTTPS" "$T/plain400"
ok $? "... its body says the port speaks HTTPS"
grep -qi '^connection: close' "$T/plain400.h"
ok $? "... with Connection: close"
is "$(curl -s --resolve "www.example.test:$TLS:127.0.0.1" --cacert "$T/site.crt" \
	"https://www.example.test:$TLS/1k" | sha)" "$(sha "$T/www/1k")" "curl https:// to the same port is served"

m() { metric "tandem_tls_handshake_failures_total{node=\"be1\",reason=\"$1\"}"; }
is "$(m http)" 3 "failures counted: http 3 (the plain HTTP requests)"
is "$(m closed)" 2 "failures counted: closed 2 (the truncated ClientHellos)"
is "$(m protocol)" 2 "failures counted: protocol 2 (the malformed ClientHello, the bytes neither TLS nor HTTP)"
is "$(metric 'tandem_tls_handshake_timeouts_total{node="be1"}')" 2 "handshake timeouts counted: 2"
is "$(metric 'tandem_tls_handshakes_total{node="be1",kind="full"}')" 7 \
	"full handshakes: the 4 clients served, the renegotiating one and the 2 curls"
is "$(metric tandem_client_connections)" 0 "no client connection is left open"

tandem_stop
is "$STOP_RC" 0 "tandem l7 exits 0 on SIGTERM (under ASan: nothing leaked)"
done_testing
