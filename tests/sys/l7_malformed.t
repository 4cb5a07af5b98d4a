#!/usr/bin/env bash
# l7_malformed.t: every malformed or smuggling request is answered 400 and
# the connection closed, with nothing reaching an origin (their access logs
# do not grow); also after a valid request on the same keep-alive connection.
# A bad chunk line further into a request body, once the origin has the head
# and the first chunk: 400 and close, the origin sees a cut request and
# stores nothing.
# Limits: an oversized head or too many headers -> 431, a body over
# client_max_body -> 413, a head not finished in time -> 408, an idle client
# closed after keepalive_timeout; each counted in /metrics. Every engine.
source "$(dirname "$0")/lib.sh"

alloc_port O1; alloc_port O2
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $O2 || { echo "Bail out! nginx be2"; exit 1; }

for engine in splice copy sockmap $PACKET; do
	alloc_port L7; alloc_port ADM
	cluster_ini "$T/$engine.ini" $engine be1=$O1:$L7:$ADM be2=$O2 -- \
		"max_head = 4k" "max_headers = 20" "client_max_body = 1m" \
		"client_header_timeout = 1s" "keepalive_timeout = 1s"
	tandem_start "$T/$engine.ini" be1 || { echo "Bail out! tandem $engine"; exit 1; }
	a400=$(metric 'tandem_local_responses_total{code="400"}'); a400=${a400:-0}
	aperr=$(metric_sum tandem_parse_errors_total)

	py_checks "$engine: " "$T/ncases" "$L7" "$T"/origin-*/access.log <<'PY'
import socket, sys, time, re
from l7_client import *
ncases, port, logs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def logged():
    n = 0
    for f in logs:
        with open(f, "rb") as fh:
            n += fh.read().count(b"\n")
    return n

H = b"Host: x\r\n"
def post(te_body, te=b"Transfer-Encoding: chunked\r\n"):
    return b"POST /up/mal HTTP/1.1\r\n" + H + te + b"\r\n" + te_body

cases = [
 # message framing (smuggling)
 ("CL then TE", b"POST /up/mal HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
 ("TE then CL", b"POST /up/mal HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
 ("conflicting CL headers", b"POST /up/mal HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
 ("conflicting CL list", b"POST /up/mal HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!"),
 ("CL with sign", b"POST /up/mal HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello"),
 ("negative CL", b"POST /up/mal HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n"),
 ("hex CL", b"POST /up/mal HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello"),
 ("CL overflow", b"POST /up/mal HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\n"),
 ("empty CL", b"POST /up/mal HTTP/1.1\r\n" + H + b"Content-Length: \r\n\r\n"),
 ("TE gzip, chunked", post(b"0\r\n\r\n", b"Transfer-Encoding: gzip, chunked\r\n")),
 ("TE chunked, gzip", post(b"0\r\n\r\n", b"Transfer-Encoding: chunked, gzip\r\n")),
 ("TE identity", post(b"0\r\n\r\n", b"Transfer-Encoding: identity\r\n")),
 ("TE xchunked", post(b"0\r\n\r\n", b"Transfer-Encoding: xchunked\r\n")),
 ("TE chunked twice", post(b"0\r\n\r\n", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")),
 ("TE with vertical tab", post(b"0\r\n\r\n", b"Transfer-Encoding: \x0bchunked\r\n")),
 ("TE in HTTP/1.0", b"POST /up/mal HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
 # header syntax
 ("space before colon", b"GET /1k HTTP/1.1\r\nHost : x\r\n\r\n"),
 ("tab before colon", b"GET /1k HTTP/1.1\r\n" + H + b"X-A\t: b\r\n\r\n"),
 ("space before colon of TE", b"POST /up/mal HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
 ("obs-fold (space)", b"GET /1k HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n"),
 ("obs-fold (tab)", b"GET /1k HTTP/1.1\r\n" + H + b"X-A: a\r\n\tb\r\n\r\n"),
 ("bare LF line ends", b"GET /1k HTTP/1.1\nHost: x\n\n"),
 ("bare LF in one header", b"GET /1k HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"),
 ("bare CR in a value", b"GET /1k HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
 ("bare CR ending a header", b"GET /1k HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n"),
 ("NUL in a value", b"GET /1k HTTP/1.1\r\nHost: x\x00y\r\n\r\n"),
 ("NUL in a name", b"GET /1k HTTP/1.1\r\n" + H + b"X-\x00A: b\r\n\r\n"),
 ("NUL in the target", b"GET /1k\x00 HTTP/1.1\r\n" + H + b"\r\n"),
 ("control byte in a value", b"GET /1k HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n"),
 ("DEL in a value", b"GET /1k HTTP/1.1\r\n" + H + b"X-A: a\x7fb\r\n\r\n"),
 ("( in a name", b"GET /1k HTTP/1.1\r\n" + H + b"X(a): y\r\n\r\n"),
 ("space in a name", b"GET /1k HTTP/1.1\r\n" + H + b"X a: y\r\n\r\n"),
 ("quote in a name", b"GET /1k HTTP/1.1\r\n" + H + b"X\"a: y\r\n\r\n"),
 ("@ in a name", b"GET /1k HTTP/1.1\r\n" + H + b"X@a: y\r\n\r\n"),
 ("8-bit byte in a name", b"GET /1k HTTP/1.1\r\n" + H + b"X\xe9a: y\r\n\r\n"),
 ("empty name", b"GET /1k HTTP/1.1\r\n" + H + b": y\r\n\r\n"),
 ("no colon", b"GET /1k HTTP/1.1\r\n" + H + b"X-A y\r\n\r\n"),
 # Host
 ("no Host in HTTP/1.1", b"GET /1k HTTP/1.1\r\n\r\n"),
 ("two Host headers", b"GET /1k HTTP/1.1\r\n" + H + b"Host: y\r\n\r\n"),
 ("two Host headers, same value", b"GET /1k HTTP/1.1\r\n" + H + H + b"\r\n"),
 # request line and version
 ("HTTP/2.0", b"GET /1k HTTP/2.0\r\n" + H + b"\r\n"),
 ("HTTP/1.2", b"GET /1k HTTP/1.2\r\n" + H + b"\r\n"),
 ("HTTP/0.9", b"GET /1k HTTP/0.9\r\n" + H + b"\r\n"),
 ("lower-case http/1.1", b"GET /1k http/1.1\r\n" + H + b"\r\n"),
 ("HTTP/1.1x", b"GET /1k HTTP/1.1x\r\n" + H + b"\r\n"),
 ("HTTP/1", b"GET /1k HTTP/1\r\n" + H + b"\r\n"),
 ("HTTP/01.1", b"GET /1k HTTP/01.1\r\n" + H + b"\r\n"),
 ("no version", b"GET /1k\r\n" + H + b"\r\n"),
 ("two spaces in the request line", b"GET  /1k HTTP/1.1\r\n" + H + b"\r\n"),
 ("space in the target", b"GET /1 k HTTP/1.1\r\n" + H + b"\r\n"),
 ("target not origin-form", b"GET 1k HTTP/1.1\r\n" + H + b"\r\n"),
 ("bad method byte", b"G(T /1k HTTP/1.1\r\n" + H + b"\r\n"),
 # chunked request bodies
 ("chunk size overflow", post(b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n")),
 ("chunk size 0x", post(b"0x5\r\nhello\r\n0\r\n\r\n")),
 ("chunk size +", post(b"+5\r\nhello\r\n0\r\n\r\n")),
 ("chunk size -", post(b"-5\r\nhello\r\n0\r\n\r\n")),
 ("space before chunk size", post(b" 5\r\nhello\r\n0\r\n\r\n")),
 ("space after chunk size", post(b"5 \r\nhello\r\n0\r\n\r\n")),
 ("empty chunk size", post(b"\r\nhello\r\n0\r\n\r\n")),
 ("non-hex chunk size", post(b"g\r\nhello\r\n0\r\n\r\n")),
 ("chunk size with LF only", post(b"5\nhello\r\n0\r\n\r\n")),
 ("missing CRLF after chunk data", post(b"5\r\nhelloXX0\r\n\r\n")),
 ("chunk data longer than its size", post(b"3\r\nhello\r\n0\r\n\r\n")),
]

a400 = 0
for name, req in cases:
    before = logged()
    s = connect(port, 5)
    try:
        s.sendall(req)
    except OSError:
        pass
    rd = Reader(s)
    data = rd.rest()
    closed = rd.eof
    s.close()
    statuses = re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)
    time.sleep(0.02)
    after = logged()
    check("malformed: %s -> 400, closed, nothing at an origin" % name,
          (b",".join(statuses).decode(), closed, after - before), ("400", True, 0))
    a400 += 1

# after a valid request on a keep-alive connection: 200, then 400 and close;
# the malformed request sent with the valid one and in a later write
for split in (False, True):
    before = logged()
    s = connect(port, 5)
    good = b"GET /1k HTTP/1.1\r\n" + H + b"\r\n"
    bad = b"POST /up/mal HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    rd = Reader(s)
    st = []
    if split:
        s.sendall(good)
        st.append(read_response(rd).status)
        s.sendall(bad)
    else:
        s.sendall(good + bad)
    data = rd.rest()
    st += [int(x) for x in re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)]
    a400 += 1
    time.sleep(0.05)
    check("smuggling after a valid request (%s): 200, 400, closed; only the valid one at an origin"
          % ("later write" if split else "same write"), (st, rd.eof, logged() - before), ([200, 400], True, 1))
open(ncases, "w").write("%d\n" % a400)
PY
	ncases=$(cat "$T/ncases")
	b400=$(metric 'tandem_local_responses_total{code="400"}')
	is "$((b400 - a400))" "$ncases" "$engine: tandem_local_responses_total{code=\"400\"} counts the $ncases refusals"
	bperr=$(metric_sum tandem_parse_errors_total)
	is "$((bperr - aperr))" "$ncases" "$engine: tandem_parse_errors_total counts them by reason"

	# ---- bad chunk framing after the head and a first chunk went up: nginx
	# has them once it opened the body's temp file (DAV PUT bodies always
	# go to one)
	py_checks "$engine: " "$L7" "$T" "$engine" <<'PY'
import glob, os, sys, time
from l7_client import *
port, T, engine = int(sys.argv[1]), sys.argv[2], sys.argv[3]
path = "/up/%s-cut" % engine
for f in glob.glob(T + "/origin-*/cb/*"):
    os.unlink(f)
s = connect(port, 10); rd = Reader(s)
s.sendall(request(path, "PUT", headers=["Transfer-Encoding: chunked"]) + b"10000\r\n" + b"a" * 65536 + b"\r\n")
end = time.time() + 10
while not glob.glob(T + "/origin-*/cb/*") and time.time() < end:
    time.sleep(0.02)
check("a chunked PUT: the origin has its head and first chunk", bool(glob.glob(T + "/origin-*/cb/*")), True)
s.sendall(b"zz\r\n5\r\nhello\r\n0\r\n\r\n")
try:
    r = read_response(rd, "PUT")
    got = (r.status, rd.closed_soon())
except (Closed, ConnectionResetError):
    got = "closed with no response"
check("then a bad chunk size line: 400 and close", got, (400, True))
def logged():
    return [ln for f in glob.glob(T + "/origin-*/access.log") for ln in open(f) if path in ln]
end = time.time() + 10
while not logged() and time.time() < end:
    time.sleep(0.05)
check("the origin saw the request cut (nginx logs 400), and stored nothing",
      ([ln.split('"')[2].split()[0] for ln in logged()], os.path.exists(T + path)), (["400"], False))

# a chunked body that passes client_max_body (1m) on its way: 413 and
# close, the origin gets a cut request and stores nothing
path = "/up/%s-over" % engine
s = connect(port, 10); rd = Reader(s)
s.sendall(request(path, "PUT", headers=["Transfer-Encoding: chunked"]))
try:
    for i in range(40):
        s.sendall(b"10000\r\n" + b"a" * 65536 + b"\r\n")
except OSError:
    pass
try:
    r = read_response(rd, "PUT")
    got = (r.status, rd.closed_soon())
except (Closed, ConnectionResetError):
    got = "closed with no response"
check("a chunked body over client_max_body: 413 and close", got, (413, True))
end = time.time() + 10
while not logged() and time.time() < end:
    time.sleep(0.05)
check("... the origin saw the request cut (nginx logs 400), and stored nothing",
      ([ln.split('"')[2].split()[0] for ln in logged()], os.path.exists(T + path)), (["400"], False))
PY

	# ---- limits
	before=$(access_count)
	U=http://127.0.0.1:$L7
	big=$(head -c 5000 /dev/zero | tr '\0' a)
	is "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$U/1k")" 431 "$engine: a 5 KB header over max_head 4k: 431"
	is "$(curl -s -o /dev/null -w '%{http_code}' "$U/1k?$big")" 431 "$engine: a 5 KB request line: 431"
	hdrs=(); for i in $(seq 25); do hdrs+=(-H "X-H$i: v"); done
	is "$(curl -s -o /dev/null -w '%{http_code}' "${hdrs[@]}" "$U/1k")" 431 "$engine: 25 headers over max_headers 20: 431"
	hdrs=(); for i in $(seq 15); do hdrs+=(-H "X-H$i: v"); done
	is "$(curl -s -o /dev/null -w '%{http_code}' "${hdrs[@]}" -H "X-Big: ${big:0:3000}" "$U/1k")" 200 \
		"$engine: 15 headers and 3.3 KB, within both limits: 200"
	before=$(access_count)
	py_checks "$engine: " "$L7" <<'PY'
import socket, sys, time, re
from l7_client import *
port = int(sys.argv[1])
# a head over max_head arriving 100 bytes at a time: refused once it is over
s = connect(port, 5)
head = b"GET /1k HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 6000 + b"\r\n\r\n"
t0 = time.time()
try:
    for i in range(0, len(head), 100):
        s.sendall(head[i:i + 100]); time.sleep(0.002)
except OSError:
    pass
rd = Reader(s)
d = rd.rest()
check("a head over max_head sent 100 bytes at a time: 431 and closed", (d[:12], rd.eof), (b"HTTP/1.1 431", True))
# a body over client_max_body: refused from Content-Length, before the body
s = connect(port, 5)
s.sendall(b"PUT /up/big HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\nExpect: 100-continue\r\n\r\n")
rd = Reader(s)
r = read_response(rd, "PUT")
check("Content-Length over client_max_body 1m: 413 without waiting for the body, and close",
      (r.status, r.interim, rd.closed_soon()), (413, [], True))
# a head never finished: 408 after client_header_timeout (1 s), then closed;
# an idle keep-alive client: closed after keepalive_timeout (1 s), quietly
# (the two at once: their waits overlap)
def unfinished(check):
    s = connect(port, 5)
    s.sendall(b"GET /1k HTTP/1.1\r\nHo")
    t0 = time.time()
    rd = Reader(s)
    d = rd.rest()
    dt = time.time() - t0
    check("a head not finished: 408 after client_header_timeout, closed", (d[:12], rd.eof, 0.8 < dt < 4), (b"HTTP/1.1 408", True, True))
def idle(check):
    s = connect(port, 5)
    s.sendall(request("/1k"))
    rd = Reader(s)
    read_response(rd)
    t0 = time.time()
    d = rd.rest()
    dt = time.time() - t0
    check("an idle keep-alive client: closed after keepalive_timeout, no bytes", (d, rd.eof, 0.8 < dt < 4), (b"", True, True))
concurrently(unfinished, idle)
PY
	is "$(($(access_count) - before))" 1 "$engine: none of 431/413/408 reached an origin (only the idle client's request)"
	chunked_big=$(head -c 2000000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -T - "$U/up/$engine-big")
	ok $([ "$chunked_big" != 201 ] && echo 0 || echo 1) "$engine: a chunked body over client_max_body is not accepted ($chunked_big)"
	[ -e "$T/up/$engine-big" ] && sz=$(stat -c %s "$T/up/$engine-big") || sz=none
	ok $([ "$sz" = none ] && echo 0 || echo 1) "$engine: and no file was stored by the origin ($sz)"
	for c in 431 413 408; do
		n=$(metric "tandem_local_responses_total{code=\"$c\"}")
		ok $([ "${n:-0}" -ge 1 ] && echo 0 || echo 1) "$engine: /metrics counts local $c responses ($n)"
	done
	tandem_stop
	is "$STOP_RC" 0 "$engine: SIGTERM: exit status 0"
done

done_testing
