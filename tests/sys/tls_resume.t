#!/usr/bin/env bash
# tls_resume.t: two tandem l7 daemons on loopback sharing a ticket key
# file: a session ticket one issued resumes on the other ("Reused"), also
# after a rotation that keeps the old key second, and no more once the old
# key is gone; SNI picks the certificate ([tls NAME] hosts: exact names and
# *.domain); unknown_sni = refuse; a reload with a broken certificate keeps
# the old one, a good one is taken, and a keep-alive TLS connection open
# through both reloads goes on; the handshake counters match; --takeover
# hands the TLS listeners over too.
source "$(dirname "$0")/lib.sh"

alloc_port O1; alloc_port L1; alloc_port S1; alloc_port A1; alloc_port L2; alloc_port S2; alloc_port A2
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
tls_cert site www.example.test && tls_cert img img.example.test && tls_cert site2 www.example.test ||
	{ echo "Bail out! openssl req"; exit 1; }
openssl rand -hex 80 > "$T/k.old"
openssl rand -hex 80 > "$T/k.new"
cp "$T/k.old" "$T/tickets"

ini() { # FILE CERT KEY [EXTRA [tls] LINE]
	cat > "$1" <<EOF
[cluster]
relay = splice
[l7]
workers = 2
[tls]
cert = $2.crt
key = $3.key
ticket_keys = tickets
handshake_timeout = 5s
${4:-}
[tls img]
hosts = img.example.test *.static.test
cert = img.crt
key = img.key
[node a]
web = 127.0.0.1:$O1
l7 = 127.0.0.1:$L1
tls = 127.0.0.1:$S1
admin = 127.0.0.1:$A1
[node b]
web = 127.0.0.1:$O1
l7 = 127.0.0.1:$L2
tls = 127.0.0.1:$S2
admin = 127.0.0.1:$A2
EOF
}
ini "$T/c.ini" site site
tandem_start "$T/c.ini" a || { echo "Bail out! tandem a"; exit 1; }
PA=$TANDEM_PID
tandem_start "$T/c.ini" b || { echo "Bail out! tandem b"; exit 1; }
PB=$TANDEM_PID
# (both listeners are open once the plain one is: a probe here would count as a failed handshake)

get() { # PORT [s_client options]: one request; prints the s_client output
	local port=$1; shift
	printf 'GET /1k HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n' |
		timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername www.example.test -ign_eof "$@" 2>&1
}

# ---- a ticket of node a resumes on node b (TLS 1.3 and 1.2)
get $S1 -sess_out "$T/s13" > "$T/o1"
grep -q '^X-Origin: be1' "$T/o1"
ok $? "node a answers over TLS 1.3 and hands out a ticket"
get $S2 -sess_in "$T/s13" > "$T/o2"
grep -q '^Reused, TLSv1.3' "$T/o2" && grep -q '^X-Origin: be1' "$T/o2"
ok $? "node b resumes the session of node a's ticket (Reused, TLSv1.3) and answers"
get $S1 -tls1_2 -sess_out "$T/s12" > /dev/null
get $S2 -tls1_2 -sess_in "$T/s12" > "$T/o3"
grep -q '^Reused, TLSv1.2' "$T/o3"
ok $? "... and a TLS 1.2 ticket too"

# ---- SNI
is "$(tls_subject $S1)" www.example.test "no SNI: the default certificate"
is "$(tls_subject $S1 www.example.test)" www.example.test "SNI www.example.test: the default certificate"
is "$(tls_subject $S1 img.example.test)" img.example.test "SNI img.example.test: [tls img] (exact name)"
is "$(tls_subject $S2 x.static.test)" img.example.test "SNI x.static.test: [tls img] (*.static.test)"
is "$(tls_subject $S2 a.b.static.test)" www.example.test \
	"SNI a.b.static.test: the wildcard is one label, so the default certificate"
is "$(tls_subject $S1 IMG.Example.TEST)" img.example.test "SNI is matched without case"

# ---- ticket keys rotated by reload: the old key second still decrypts
reload() { # PID NODE: SIGHUP, then waits for the reload's verdict in the log
	local n
	n=$(grep -c 'reload' "$T/tandem-$2.log")
	kill -HUP "$1"
	wait_for 10 eval "[ \$(grep -c 'reload' '$T/tandem-$2.log') -gt $n ]"
	sleep 0.3       # the workers take the new file at their next turn
}
cat "$T/k.new" "$T/k.old" > "$T/tickets"
reload $PB b
grep -q "reload: $T/c.ini, 2 node(s)" "$T/tandem-b.log"
ok $? "node b reloads the rotated ticket key file"
get $S2 -sess_in "$T/s13" > "$T/o4"
grep -q '^Reused' "$T/o4"
ok $? "node b still resumes a ticket of the old key (now the second line)"
cp "$T/k.new" "$T/tickets"
reload $PB b
get $S2 -sess_in "$T/s13" > "$T/o5"
grep -q '^New, TLSv1.3' "$T/o5" && grep -q '^X-Origin: be1' "$T/o5"
ok $? "once the old key is gone, its ticket gets a full handshake (New), and an answer"
cp "$T/k.old" "$T/tickets"
reload $PB b

# ---- reloads of node a with a keep-alive TLS connection open through them
cp "$T/c.ini" "$T/good.ini"
ini "$T/bad.ini" site img                # the key of another certificate
ini "$T/new.ini" site2 site2 $'hosts = www.example.test\nunknown_sni = refuse'
echo "not a certificate" > "$T/broken.crt"
ini "$T/broken.ini" broken site
is "$("$TANDEM" -t -c "$T/bad.ini" 2>&1 | grep -c "bad.ini:7: \[tls\] key .*img.key does not match cert")" 1 \
	"tandem -t: a key that is not the certificate's is an error at its line"
is "$("$TANDEM" -t -c "$T/broken.ini" 2>&1 | grep -c "broken.ini:6: \[tls\] cert .*broken.crt: ")" 1 \
	"tandem -t: an unreadable certificate is an error at its line"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/old.key" \
	-out "$T/old.csr" -subj /CN=www.example.test 2>/dev/null &&
	openssl x509 -req -in "$T/old.csr" -signkey "$T/old.key" -days -1 -out "$T/old.crt" 2>/dev/null
ini "$T/expired.ini" old old
is "$("$TANDEM" -t -c "$T/expired.ini" 2>&1 | grep -c "expired.ini:6: \[tls\] cert .*old.crt has expired")" 1 \
	"tandem -t: an expired certificate is an error at its line"
printf '# the current key first\n%s\nnot-hex\n' "$(cat "$T/k.new")" > "$T/bad.tk"
sed 's/^ticket_keys = tickets$/ticket_keys = bad.tk/' "$T/c.ini" > "$T/badtk.ini"
is "$("$TANDEM" -t -c "$T/badtk.ini" 2>&1 | grep -c "badtk.ini:8: ticket_keys .*bad.tk:3: not a key")" 1 \
	"tandem -t: a bad line of the ticket key file is an error naming both files' lines"
fp() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
py_checks "reload: " "$S1" "$T" "$PA" "$(fp "$T/site.crt")" "$(fp "$T/site2.crt")" <<'PY'
import os, shutil, signal, socket, ssl, subprocess, sys, time
port, t, pid, fp_old, fp_new = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
log = t + "/tandem-a.log"

def check(desc, got, want):
    print("%s\t%s\t%s" % (desc, got, want), flush=True)

def conn():
    ctx = ssl.create_default_context(cafile=t + "/site.crt")
    ctx.load_verify_locations(t + "/site2.crt")
    ctx.check_hostname = False
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                        server_hostname="www.example.test")
    return s

def fingerprint(s):
    import hashlib
    h = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))

def get(s, path="/1k"):
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: www.example.test\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            return None
        body += d
    return head.split(b"\r\n")[0].decode(), len(body)

def reload(ini):
    n = open(log).read().count("reload")
    shutil.copy(t + "/" + ini, t + "/c.ini")
    os.kill(pid, signal.SIGHUP)
    for _ in range(100):
        if open(log).read().count("reload") > n:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    return open(log).read()

ka = conn()
check("a keep-alive TLS connection gets its answer", get(ka), ("HTTP/1.1 200 OK", 1024))
text = reload("bad.ini")
check("a reload with a key that does not match is refused, with file:line",
      ("c.ini:7: [tls] key" in text and "does not match cert" in text and
       "keeping the running configuration" in text), True)
check("... the old certificate stays in use", fingerprint(conn()), fp_old)
check("... and the keep-alive connection goes on", get(ka), ("HTTP/1.1 200 OK", 1024))
text = reload("broken.ini")
check("a reload with an unreadable certificate is refused", text.count("keeping the running configuration"), 2)
check("... the old certificate stays in use", fingerprint(conn()), fp_old)
reload("new.ini")
check("a good reload: new connections get the new certificate", fingerprint(conn()), fp_new)
check("... and the keep-alive connection opened before both reloads goes on", get(ka), ("HTTP/1.1 200 OK", 1024))
ka.close()
# unknown_sni = refuse (the new file): a name no hosts list has is refused
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="other.test")
    got = "accepted"
except ssl.SSLError as e:
    got = "refused" if "UNRECOGNIZED_NAME" in str(e).upper() else str(e)
check("unknown_sni = refuse: SNI other.test gets the unrecognized_name alert", got, "refused")
s = conn()
check("... while www.example.test (the default certificate's hosts) is served", get(s), ("HTTP/1.1 200 OK", 1024))
s.close()
PY

# ---- what the counters say: node a: 2 s_client + 4 SNI (tls_subject) +
# 5 python connections (the refused one is a failure); node b: 3 resumed,
# 1 full (the old key gone) + 2 SNI
is "$(metric 'tandem_tls_handshakes_total{node="a",kind="full"}' $A1)" 11 "node a: 11 full handshakes"
is "$(metric 'tandem_tls_handshakes_total{node="a",kind="resumed"}' $A1)" 0 "node a: none resumed"
is "$(metric 'tandem_tls_handshake_failures_total{node="a",reason="sni"}' $A1)" 1 \
	"node a: the refused SNI is counted (reason sni)"
is "$(metric 'tandem_tls_handshakes_total{node="b",kind="resumed"}' $A2)" 3 "node b: 3 resumed handshakes"
is "$(metric 'tandem_tls_handshakes_total{node="b",kind="full"}' $A2)" 3 "node b: 3 full ones"
is "$(metric_sum tandem_tls_handshake_failures_total $A2)" 0 "node b: no failure"

# ---- a reload of node b with a bad ticket key file: refused, tickets still good
cp "$T/c.ini" "$T/b-good.ini"
cp "$T/badtk.ini" "$T/c.ini"
reload $PB b
grep -q "bad.tk:3: not a key" "$T/tandem-b.log" && tail -1 "$T/tandem-b.log" | grep -q "keeping the running configuration"
ok $? "node b: a reload with a bad ticket key file is refused, with file:line"
get $S2 -sess_in "$T/s13" > "$T/o7"
grep -q '^Reused' "$T/o7"
ok $? "... and its running ticket keys still resume node a's ticket"
cp "$T/b-good.ini" "$T/c.ini"

# ---- OCSP stapling: a [tls NAME] with ocsp = a DER response (openssl ocsp)
(
	cd "$T" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
		-out ca.crt -days 2 -subj /CN=test-ca &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout leaf.key \
		-out leaf.csr -subj /CN=ocsp.example.test &&
	openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out leaf.crt &&
	printf 'V\t%s\t\t%s\tunknown\t/CN=ocsp.example.test\n' "$(date -u -d '+2 days' +%y%m%d%H%M%SZ)" \
		"$(openssl x509 -in leaf.crt -noout -serial | cut -d= -f2)" > index.txt &&
	openssl ocsp -index index.txt -rsigner ca.crt -rkey ca.key -CA ca.crt -issuer ca.crt \
		-cert leaf.crt -respout resp.der -ndays 1
) > "$T/ocsp.log" 2>&1
ok $? "an OCSP response for a certificate of a test CA (openssl ocsp)"
cp "$T/c.ini" "$T/b-good.ini"
printf '[tls stapled]\nhosts = ocsp.example.test\ncert = leaf.crt\nkey = leaf.key\nocsp = resp.der\n' >> "$T/c.ini"
reload $PB b
ocsp_status() { # SNI: what s_client -status says of the stapled response
	timeout 20 openssl s_client -connect "127.0.0.1:$S2" -servername "$1" -status < /dev/null 2>/dev/null |
		grep -E 'OCSP Response Status|Cert Status|no response sent' | tr -s ' ' | tr '\n' ';'
}
is "$(ocsp_status ocsp.example.test)" " OCSP Response Status: successful (0x0); Cert Status: good;" \
	"SNI ocsp.example.test: the OCSP response is stapled (successful, good)"
is "$(ocsp_status www.example.test)" "OCSP response: no response sent;" "a certificate without ocsp staples none"
echo junk > "$T/junk.der"
sed 's/^ocsp = resp.der$/ocsp = junk.der/' "$T/c.ini" > "$T/junk.ini"
is "$("$TANDEM" -t -c "$T/junk.ini" 2>&1 | grep -c "junk.ini:.*: ocsp .*junk.der: not a DER OCSP response")" 1 \
	"tandem -t: an ocsp file that is not a response is an error at its line"
cp "$T/b-good.ini" "$T/c.ini"
reload $PB b

# ---- binary upgrade of node b: the new process takes the TLS listeners too
lsn_inode() { # PORT: the inode of the socket listening on 127.0.0.1:PORT
	awk -v p="$(printf ':%04X' "$1")" '$2 ~ p"$" && $4 == "0A" { print $10 }' /proc/net/tcp | sort -u | tr '\n' ' '
}
before=$(lsn_inode $S2)
"$TANDEM" l7 -c "$T/c.ini" --node b --takeover >> "$T/tandem-b2.log" 2>&1 &
PB2=$!
PIDS+=($PB2)
wait_for 20 eval "! alive $PB"
ok $? "--takeover: the old process of node b drains and exits"
wait "$PB" 2>/dev/null
is "$(lsn_inode $S2)" "$before" "the new process serves the very TLS listening sockets (same inodes: $before)"
get $S2 -sess_in "$T/s13" > "$T/o6"
grep -q '^Reused' "$T/o6" && grep -q '^X-Origin: be1' "$T/o6"
ok $? "the new process answers over TLS and resumes node a's ticket"
PB=$PB2

tandem_stop $PA
is "$STOP_RC" 0 "node a exits 0 on SIGTERM"
tandem_stop $PB
is "$STOP_RC" 0 "node b exits 0 on SIGTERM"
done_testing
