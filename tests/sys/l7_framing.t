#!/usr/bin/env bash
# l7_framing.t: message framing through tandem l7, with every relay engine,
# seen byte-exact by a raw-socket client: chunked responses, HEAD, 204, 304,
# Expect: 100-continue, request bodies on a keep-alive connection, pipelined
# requests in one write and split at every byte (responses in order although
# they come from two origins), HTTP/1.0 with and without keep-alive,
# Connection: close, X-Forwarded-For and Host as the origin sees them.
source "$(dirname "$0")/lib.sh"

alloc_port O1; alloc_port O2
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $O2 || { echo "Bail out! nginx be2"; exit 1; }
ETAG=$(curl -s -I "http://127.0.0.1:$O1/4m" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
LASTMOD=$(curl -s -I "http://127.0.0.1:$O1/4m" | tr -d '\r' | awk -F': ' 'tolower($1) == "last-modified" { print $2 }')
[ -n "$ETAG" ] || echo "# no ETag from nginx?"

for engine in copy splice sockmap $PACKET; do
	alloc_port L7; alloc_port ADM
	cluster_ini "$T/$engine.ini" $engine be1=$O1:$L7:$ADM be2=$O2
	tandem_start "$T/$engine.ini" be1 || { echo "Bail out! tandem $engine"; exit 1; }

	py_checks "$engine: " "$L7" "$T/www" "$ETAG" "$LASTMOD" <<'PY'
import os, socket, sys, time
from l7_client import *
port, www, etag, lastmod = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
F = lambda n: open(os.path.join(www, n), "rb").read()
TEXT = F("chunked/text")

# chunked response, then another request on the same connection
rs, rd = exchange(port, request("/chunked/text") + request("/1k"), ["GET", "GET"])
check("chunked response: relayed chunked, de-chunked body identical, then the next response",
      [(r.status, r.header("transfer-encoding"), r.complete) for r in rs] + [rs[0].body == TEXT, rs[1].body == F("1k")],
      [(200, "chunked", True), (200, None, True), True, True])
check("chunked response: last chunk and final CRLF present", rs[0].raw.endswith(b"0\r\n\r\n"), True)

# HEAD, 204, 304 (ETag and date), no body, then a body: one write
reqs = [("HEAD", "/4m", ()), ("GET", "/204", ()), ("GET", "/4m", ("If-None-Match: " + etag,)),
        ("GET", "/4m", ("If-Modified-Since: " + lastmod,)), ("HEAD", "/chunked/text", ()),
        ("GET", "/16k", ())]
rs, rd = exchange(port, b"".join(request(p, m, headers=h) for m, p, h in reqs), [m for m, _, _ in reqs])
check("HEAD, 204, 304, 304, HEAD of chunked, then a body, pipelined",
      [(r.status, len(r.body)) for r in rs], [(200, 0), (204, 0), (304, 0), (304, 0), (200, 0), (200, 16384)])
check("HEAD keeps the origin's Content-Length", rs[0].header("content-length"), "4194304")
check("the body after them is the file", rs[5].body == F("16k"), True)
check("nothing after the last response, connection open", quiet(rd), "quiet")

# ordering: a large slow-to-finish response before small fast ones, on two origins
paths = ["/4m", "/1", "/slow/0.3", "/1k", "/64m", "/0"]
rs, rd = exchange(port, b"".join(request(p) for p in paths), ["GET"] * len(paths), timeout=30)
want = [F("4m"), F("1"), b"slept 0.3\n", F("1k"), F("64m"), F("0")]
check("6 pipelined requests over two origins come back in order, whole",
      [(r.status, r.complete, r.body == w) for r, w in zip(rs, want)], [(200, True, True)] * 6)
orig = [r.header("x-origin") for r in rs]
check("pipelined requests alternate origins", all(a != b for a, b in zip(orig, orig[1:])), True)

# pipelining split at every byte: the head of each request may end anywhere
paths = [("GET", "/1k"), ("HEAD", "/16k"), ("GET", "/204"), ("GET", "/0"), ("GET", "/16k"), ("GET", "/1")]
data = b"".join(request(p, m) for m, p in paths)
want = [(200, F("1k")), (200, b""), (204, b""), (200, b""), (200, F("16k")), (200, F("1"))]
bad, t0 = [], time.time()
for cut in range(0, len(data) + 1):
    s = connect(port)
    if cut in (0, len(data)):
        s.sendall(data)
    else:
        s.sendall(data[:cut]); time.sleep(0.002); s.sendall(data[cut:])
    rd = Reader(s)
    got = []
    try:
        for m, _ in paths:
            r = read_response(rd, m)
            got.append((r.status, r.body))
    except Exception as e:
        got.append(repr(e))
    if got != want or rd.buf:
        bad.append(cut)
    s.close()
    if time.time() - t0 > 60: bad.append("time"); break
check("6 pipelined requests split in two writes at each of %d bytes: all answered in order" % len(data), bad, [])

# Expect: 100-continue: the client waits for the interim response
body = F("16k")
s = connect(port); rd = Reader(s)
s.sendall(request("/up/expect-" + str(port), "PUT", headers=("Expect: 100-continue", "Content-Length: %d" % len(body))))
s.settimeout(5)
try:
    first = read_head(rd).status
except Exception as e:
    first = repr(e)
s.sendall(body)
r = read_response(rd, "PUT")
check("Expect: 100-continue: 100 Continue first, then 201 after the body", (first, r.status), (100, 201))
s.sendall(request("/up/expect-" + str(port)))
r = read_response(rd)
check("the uploaded body, fetched back on the same connection", (r.status, r.body == body), (200, True))
# a client that does not wait for 100 sends head and body at once
rs, rd = exchange(port, request("/up/expect2-" + str(port), "PUT", headers=("Expect: 100-continue",), body=body) + request("/1"), ["PUT", "GET"])
check("Expect with the body sent at once: 201, then the next request", [(r.status, r.interim in ([], [100])) for r in rs], [(201, True), (200, True)])

# a request body nginx refuses to take (405 for POST to a static file): the
# body must be consumed, not read as the next request
rs, rd = exchange(port, request("/1k", "POST", body=b"GET /16k HTTP/1.1\r\nHost: t\r\n\r\n") + request("/1"), ["POST", "GET"])
check("POST with a body that looks like a request: 405, then the next response is /1",
      [(r.status, r.complete) for r in rs] + [rs[-1].body if rs else None], [(405, True), (200, True), F("1")])

# HTTP/1.0
rs, rd = exchange(port, request("/1k", version="HTTP/1.0", host=None), ["GET"])
check("HTTP/1.0 without keep-alive: Connection: close, then closed",
      (rs[0].status, rs[0].body == F("1k"), rs[0].close, rd.closed_soon(3)), (200, True, True, True))
rs, rd = exchange(port, request("/1k", version="HTTP/1.0", headers=("Connection: keep-alive",)) +
                  request("/16k", version="HTTP/1.0", headers=("Connection: keep-alive",)), ["GET", "GET"])
check("HTTP/1.0 keep-alive: two responses on one connection, still open", [(r.status, r.complete) for r in rs] + [quiet(rd)],
      [(200, True), (200, True), "quiet"])
check("HTTP/1.0 keep-alive: the switch says keep-alive", (rs[0].header("connection") or "").lower(), "keep-alive")
rs, rd = exchange(port, request("/chunked/text", version="HTTP/1.0"), ["GET"])
r = rs[0]
check("HTTP/1.0 client, chunked origin response: not chunked to the client, body whole, closed or delimited",
      ((r.header("transfer-encoding") or "none"), r.body == TEXT, r.complete), ("none", True, True))

# Connection: close honoured; a request pipelined after it is not answered
rs, rd = exchange(port, request("/1k", headers=("Connection: close",)) + request("/16k"), ["GET", "GET"])
check("Connection: close: one response with Connection: close, then the connection closes",
      ([(r.status, r.close) for r in rs], rd.eof or rd.closed_soon(3)), ([(200, True)], True))

# what the origin sees: X-Forwarded-For and Host
rs, rd = exchange(port, request("/xff", host="example.test") + request("/xff", headers=("X-Forwarded-For: 198.18.9.9",)), ["GET", "GET"])
check("X-Forwarded-For added with the client's address, Host passed unchanged",
      [r.body.decode().split("|")[:2] for r in rs], [["127.0.0.1", "example.test"], ["198.18.9.9, 127.0.0.1", "t"]])

# hop-by-hop headers (RFC 9110 7.6.1): what Connection names, and Keep-Alive,
# are not forwarded
rs, rd = exchange(port, request("/xff", headers=("Connection: keep-alive, X-Foo", "X-Foo: secret", "Keep-Alive: timeout=5")), ["GET"])
check("hop-by-hop: headers named in Connection, and Keep-Alive, do not reach the origin",
      rs[0].body.decode().rstrip("\n").split("|")[3:], ["", ""])

# a client that half-closes after its request still gets the whole response
s = connect(port); s.sendall(request("/1m") + request("/16k")); s.shutdown(socket.SHUT_WR)
rd = Reader(s)
rs = []
try:
    rs = [read_response(rd), read_response(rd)]
except Exception as e:
    pass
check("client half-closes after two requests: both responses whole", [(r.status, r.complete) for r in rs] + [len(rs) == 2 and rs[0].body == F("1m")],
      [(200, True), (200, True), True])

# 300 small requests in one write (9 KB, more than a head buffer): all answered
n = 300
rs, rd = exchange(port, request("/1") * n, ["GET"] * n, timeout=20)
check("%d pipelined requests in one write: all answered, in order" % n,
      (len(rs), sum(1 for r in rs if r.status == 200 and r.body == F("1"))), (n, n))

# Expect: 100-continue to a location that answers at once (nginx return):
# the client gets a final response without sending the body, never a hang
s = connect(port, 5); rd = Reader(s)
s.sendall(request("/xff", "POST", headers=("Expect: 100-continue", "Content-Length: 100000")))
t0 = time.time()
try:
    r = read_response(rd)
    got = (r.status, time.time() - t0 < 3)
except Exception as e:
    got = (repr(e), time.time() - t0 < 3)
check("Expect: 100-continue, origin answers without reading the body: final response within 3 s", got, (200, True))
s.close()

# absolute-form target
rs, rd = exchange(port, request("http://t/1k"), ["GET"])
check("absolute-form target: served", (rs[0].status, rs[0].body == F("1k")), (200, True))
PY

	tandem_stop
	is "$STOP_RC" 0 "$engine: SIGTERM: exit status 0"
done

done_testing
