#!/usr/bin/env bash
# valgrind.t: tandem l7 under valgrind's memcheck, once per relay engine
# (copy and splice, side by side, two workers each), through a short mix
# with real nginx origins: keep-alive, 20 pipelined requests, chunked and
# Content-Length uploads fetched back, 4 MiB and chunked downloads, clients
# that abort mid-response (FIN and RST) and mid-head, malformed requests
# (400), a node that refuses connections (retried elsewhere), /metrics, 5
# SIGHUP reloads during the mix and one after, and an idle keep-alive
# client at SIGTERM; then TLS: keep-alive requests by sha256, plain HTTP and a
# truncated ClientHello on the TLS port, and half a handshake held open
# through a reload and SIGTERM. After SIGTERM,
# valgrind must report 0 errors and no definitely lost block (it exits 99
# on either: --error-exitcode, --errors-for-leak-kinds=definite).
# Skipped under SAN=1: ASan's shadow memory and valgrind cannot share a
# process.
source "$(dirname "$0")/lib.sh"

[ "$SAN" = 1 ] && skip_all "SAN=1 build: ASan and valgrind do not mix (the plain build runs this)"
command -v valgrind >/dev/null || skip_all "valgrind is not installed (scripts/deps.sh)"
SLOW=4      # everything under valgrind runs 10-50x slower

alloc_port O1; alloc_port O2; alloc_port REFUSED
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $O2 || { echo "Bail out! nginx be2"; exit 1; }

# /16k goes to a group whose first node refuses connections: every other
# request is retried on be1. Everything else: be1 and be2, round-robin.
declare -A VPID VPORT VADM VTLS
tls_cert site www.example.test || { echo "Bail out! openssl req"; exit 1; }
openssl rand -hex 80 > "$T/tickets"
for engine in copy splice; do
	alloc_port L7; alloc_port ADM; alloc_port TLSP
	WORKERS=2 cluster_ini "$T/$engine.ini" $engine be1=$O1:$L7:$ADM be2=$O2 be3=$REFUSED -- \
		"server_timeout = 10s" "connect_timeout = 2s" \
		"[group flaky]" "nodes = be3 be1" "policy = rr" \
		"[group default]" "nodes = be1 be2" "policy = rr" \
		"[rule flaky]" "path_prefix = /16k" "group = flaky" \
		"[tls]" "cert = site.crt" "key = site.key" "ticket_keys = tickets"
	sed -i "/^admin = 127.0.0.1:$ADM\$/a tls = 127.0.0.1:$TLSP" "$T/$engine.ini"
	VTLS[$engine]=$TLSP
	"$TANDEM" -t -c "$T/$engine.ini" >/dev/null || { echo "Bail out! tandem -t $engine.ini"; exit 1; }
	TANDEM_WRAP="valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
		--errors-for-leak-kinds=definite --show-leak-kinds=definite,possible
		--track-fds=no --num-callers=30 --log-file=$T/vg-$engine.log" \
		tandem_start "$T/$engine.ini" be1 || { echo "Bail out! tandem $engine under valgrind"; exit 1; }
	VPID[$engine]=$TANDEM_PID; VPORT[$engine]=$L7; VADM[$engine]=$ADM
done
is "$(cat /proc/${VPID[copy]}/comm)" "memcheck-amd64-" "tandem runs under memcheck (PID ${VPID[copy]})"

# the mix, both engines at once
mix() { # ENGINE
	timeout 300 python3 - "${VPORT[$1]}" "$T/www" "$1" > "$T/mix-$1.out" 2> "$T/mix-$1.err" <<'PY'
import hashlib, os, socket, struct, sys, time
from l7_client import *
port, www, engine = int(sys.argv[1]), sys.argv[2], sys.argv[3]
F = lambda n: open(os.path.join(www, n), "rb").read()
TO = 60

# keep-alive: eight requests one after the other on one connection
s = connect(port, TO); rd = Reader(s)
got = []
for p, m in [("/1k", "GET"), ("/0", "GET"), ("/204", "GET"), ("/1k", "HEAD"), ("/1", "GET"),
             ("/nope", "GET"), ("/256k", "GET"), ("/1m", "GET")]:
    s.sendall(request(p, method=m))
    r = read_response(rd, m)
    want = b"" if m == "HEAD" or p in ("/204", "/nope") else F(p[1:])
    got.append(r.status if (r.complete and (p == "/nope" or r.body == want)) else -1)
s.close()
check("keep-alive: 8 requests on one connection", got, [200, 200, 204, 200, 200, 404, 200, 200])

# pipelined: 20 requests in one write, answered whole and in order
paths = ["1k", "0", "16k", "1", "256k"] * 4
rs, rd = exchange(port, b"".join(request("/" + p) for p in paths), ["GET"] * 20, timeout=TO)
check("pipelined: 20 responses whole and in order",
      sum(1 for r, p in zip(rs, paths) if r.status == 200 and r.complete and r.body == F(p)), 20)

# uploads: chunked and Content-Length, fetched back
body = F("1m")
chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65000]), body[i:i + 65000])
                  for i in range(0, len(body), 65000)) + b"0\r\n\r\n"
s = connect(port, TO); rd = Reader(s)
s.sendall(request("/up/vg-%s-c" % engine, method="PUT", headers=["Transfer-Encoding: chunked"]) + chunks)
r1 = read_response(rd)
s.sendall(request("/up/vg-%s-l" % engine, method="PUT", body=F("256k")))
r2 = read_response(rd)
s.sendall(request("/up/vg-%s-c" % engine) + request("/up/vg-%s-l" % engine))
r3, r4 = read_response(rd), read_response(rd)
s.close()
check("uploads: chunked 1 MiB and Content-Length 256 KiB stored (201/204)",
      [r1.status in (201, 204), r2.status in (201, 204)], [True, True])
check("uploads: fetched back byte-identical", [r3.body == body, r4.body == F("256k")], [True, True])

# large downloads: 4 MiB by length, 2.8 MiB chunked
rs, rd = exchange(port, request("/4m") + request("/chunked/text") + request("/4m"), ["GET"] * 3, timeout=TO)
check("downloads: 4 MiB, chunked text, 4 MiB", [r.complete and r.body == F(p) for r, p in
      zip(rs, ["4m", "chunked/text", "4m"])], [True, True, True])

# clients that go away: mid-body (FIN, RST), mid-head, after a pipelined burst
for mode in ["fin", "rst", "head", "burst"]:
    s = connect(port, TO)
    if mode == "head":
        s.sendall(b"GET /1k HTTP/1.1\r\nHo")
        time.sleep(0.2)
    else:
        s.sendall(request("/64m") + (request("/1k") * 3 if mode == "burst" else b""))
        n = 0
        while n < 256 * 1024:
            d = s.recv(65536)
            if not d:
                break
            n += len(d)
    if mode == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()

# malformed: two Host headers, a bad chunk size, a bare LF in the head
bad = [request("/1k", headers=["Host: other"]),
       request("/up/x", method="PUT", headers=["Transfer-Encoding: chunked"]) + b"zz\r\n",
       b"GET /1k HTTP/1.1\nHost: t\r\n\r\n"]
st = []
for b in bad:
    rs, rd = exchange(port, b, ["GET"], timeout=TO)
    st.append(rs[0].status if rs else 0)
check("malformed requests: 400 each", st, [400, 400, 400])

# a node that refuses: /16k is retried on be1, every answer whole
rs, rd = exchange(port, request("/16k") * 6, ["GET"] * 6, timeout=TO)
check("refused node: 6 x /16k answered by be1", [(r.status, r.header("x-origin")) for r in rs],
      [(200, "be1")] * 6)
PY
}
r0=$(grep -c 'reload:' "$T/tandem-be1.log")
mix copy & mc=$!
mix splice & ms=$!
# reloads while requests are in flight: an old configuration must outlive
# every reader of it (memcheck sees a use after free)
# (each reload is waited for before the next SIGHUP: under valgrind on a
# busy machine a second SIGHUP sent before the first is handled merges
# with it, as signals of one kind do)
for i in 1 2 3 4 5; do
	sleep 0.3
	kill -HUP "${VPID[copy]}" "${VPID[splice]}"
	wait_for 20 eval '[ "$(grep -c "reload:" "$T/tandem-be1.log")" -ge $((r0 + 2 * i)) ]'
done
wait $mc; wait $ms
wait_for 10 eval '[ "$(grep -c "reload:" "$T/tandem-be1.log")" -ge $((r0 + 10)) ]'
ok $? "5 SIGHUP reloads of each switch during the mix ($(($(grep -c 'reload:' "$T/tandem-be1.log") - r0)) reload lines)"
for engine in copy splice; do
	while IFS=$'\t' read -r desc got want; do is "$got" "$want" "$engine: $desc"; done < "$T/mix-$engine.out"
	[ -s "$T/mix-$engine.err" ] && sed 's/^/#   /' "$T/mix-$engine.err" | tail -5
	[ "$(wc -l < "$T/mix-$engine.out")" = 7 ] || ok 1 "$engine: the mix ran to its end"

	# TLS: keep-alive requests, bad input, and half a handshake held open
	# through the reload below and SIGTERM
	timeout 300 python3 - "${VTLS[$engine]}" "$T" > "$T/tls-$engine.out" 2>&1 <<'PY'
import hashlib, socket, ssl, sys
port, t = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=t + "/site.crt")
ok = 0
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60),
                     server_hostname="www.example.test") as s:
    f = s.makefile("rb")
    for name in ("1k", "4m", "0", "256k", "chunked/text"):
        s.sendall(("GET /%s HTTP/1.1\r\nHost: www.example.test\r\n\r\n" % name).encode())
        line, n, chunked = f.readline(), 0, False
        while True:
            h = f.readline()
            if h == b"\r\n":
                break
            if h.lower().startswith(b"content-length:"):
                n = int(h.split(b":")[1])
            if h.lower().startswith(b"transfer-encoding:"):
                chunked = True
        body = b""
        if chunked:
            while True:
                k = int(f.readline().split(b";")[0], 16)
                body += f.read(k)
                f.readline()
                if not k:
                    break
        else:
            body = f.read(n)
        ok += line.startswith(b"HTTP/1.1 200") and body == open(t + "/www/" + name, "rb").read()
for data in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes([0x16, 3, 1, 1, 0, 1, 0])):
    r = socket.create_connection(("127.0.0.1", port), timeout=60)
    r.sendall(data)
    r.shutdown(socket.SHUT_WR)
    try:
        while r.recv(4096):
            pass
    except ConnectionResetError:
        pass                    # closed with bytes unread: a reset
    r.close()
print(ok)
PY
	is "$(tail -1 "$T/tls-$engine.out")" 5 "$engine: TLS: 5 keep-alive requests, bodies identical"
	exec 8<>"/dev/tcp/127.0.0.1/${VTLS[$engine]}"
	printf '\x16\x03\x01\x01\x00\x01' >&8

	# a reload, /metrics, then an idle keep-alive client while it stops
	ADMIN_PORT=${VADM[$engine]}
	# both switches log into tandem-be1.log: wait for one more reload line
	n0=$(grep -c 'reload:' "$T/tandem-be1.log")
	kill -HUP "${VPID[$engine]}"
	wait_for 5 eval '[ "$(grep -c "reload:" "$T/tandem-be1.log")" -gt "$n0" ]'
	ok $? "$engine: SIGHUP: the file reloaded"
	r=$(metric_sum tandem_retries_total)
	ok "$([ "${r:-0}" -ge 1 ]; echo $?)" "$engine: /metrics answers after SIGHUP ($r retries counted)"
	exec 7<>"/dev/tcp/127.0.0.1/${VPORT[$engine]}"
	printf 'GET /1k HTTP/1.1\r\nHost: t\r\n\r\n' >&7
	sleep 1
	tandem_stop "${VPID[$engine]}"
	exec 7>&- 8>&-
	log=$T/vg-$engine.log
	is "$STOP_RC" 0 "$engine: SIGTERM: exit 0 (valgrind exits 99 on an error or a definite leak)"
	errs=$(awk '/ERROR SUMMARY:/ { print $4 }' "$log" | tail -1)
	is "$errs" 0 "$engine: valgrind: ERROR SUMMARY 0 errors"
	lost=$(awk '/definitely lost:/ { gsub(",", "", $4); print $4 }' "$log" | tail -1)
	is "${lost:-0}" 0 "$engine: valgrind: 0 bytes definitely lost"
	diag "$engine: $(grep -E 'in use at exit|possibly lost|still reachable|All heap' "$log" | sed 's/^==[0-9]*== *//' | tr '\n' ';')"
	if [ "$errs" != 0 ] || [ "${lost:-0}" != 0 ] || [ "$STOP_RC" != 0 ]; then
		grep -v '^--' "$log" | sed 's/^/#   /' | head -80
	fi
done

done_testing
