"""l7_client: a byte-exact HTTP/1.1 client for the l7_*.t system tests
(stdlib only). It reads responses with their own framing rules, so a test
sees exactly what crossed the wire: interim 1xx responses, chunked framing,
a short body followed by a close, or bytes left over after a response.

    s = connect(port)
    r = read_response(s, rd, method="GET")    # rd = Reader(s)
    r.status, r.headers (list of (name, value) as bytes, names lowercased),
    r.body (de-chunked), r.raw (the body bytes as framed), r.complete
    (False when the connection ended before the framing said the body was
    whole), r.close (the server's Connection: close)
"""
import socket
import threading
import time

TIMEOUT = 10.0


# The chunked body of l7_fake_origin.py's /chunked-mixed, in the pieces it
# writes: plain 64 KiB chunks the sockmap program frames in the kernel, one
# with an extension among them and a trailer at the end, which it leaves to
# user space.
CHUNKED_MIXED = [b"10000\r\n" + bytes((i * 7 + k) % 256 for i in range(65536)) + b"\r\n" for k in range(6)]
CHUNKED_MIXED += [b"10;x=1\r\n" + b"0123456789abcdef\r\n"]
CHUNKED_MIXED += [b"8000\r\n" + bytes((i * 3 + k) % 256 for i in range(32768)) + b"\r\n" for k in range(3)]
CHUNKED_MIXED += [b"0\r\nX-Sum: 1\r\n\r\n"]


def pattern(n):
    """The body of l7_fake_origin.py's /stall/N and /glue/*/N: N bytes, not
    a prefix of another size's, never containing "EVIL" (steps of 7)."""
    if n not in _patterns:
        _patterns[n] = bytes((i * 7 + n) % 251 for i in range(n))
    return _patterns[n]


_patterns = {}


def connect(port, timeout=TIMEOUT):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Closed(Exception):
    pass


class Reader:
    """Buffered reads from a socket; .eof once the peer closed, .reset
    once it reset the connection (rest())."""

    def __init__(self, s):
        self.s, self.buf, self.eof, self.reset = s, b"", False, False

    def fill(self):
        if self.eof:
            raise Closed()
        d = self.s.recv(1 << 20)
        if not d:
            self.eof = True
            raise Closed()
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def rest(self):
        """Everything until the peer closes (or the socket times out)."""
        try:
            while True:
                self.fill()
        except ConnectionResetError:
            self.reset = True
        except (Closed, socket.timeout):
            pass
        d, self.buf = self.buf, b""
        return d

    def closed_soon(self, wait=2.0):
        """True when the peer closes within WAIT seconds with no more bytes."""
        if self.buf:
            return False
        self.s.settimeout(wait)
        try:
            d = self.s.recv(1)
            return d == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.s.settimeout(TIMEOUT)


def quiet(rd, wait=0.3):
    """What follows on the connection within WAIT seconds: 'quiet' (nothing,
    still open), 'closed', or 'extra' (bytes nobody asked for)."""
    if rd.buf:
        return "extra"
    rd.s.settimeout(wait)
    try:
        d = rd.s.recv(65536)
        return "extra" if d else "closed"
    except ConnectionResetError:
        return "closed"
    except socket.timeout:
        return "quiet"
    finally:
        rd.s.settimeout(TIMEOUT)


class Response:
    def __init__(self):
        self.status, self.reason, self.version = 0, b"", b""
        self.headers, self.body, self.raw = [], b"", b""
        self.complete, self.interim = False, []

    def header(self, name):
        name = name.lower().encode() if isinstance(name, str) else name.lower()
        v = [val for k, val in self.headers if k == name]
        return v[0].decode() if v else None

    def headers_all(self, name):
        name = name.lower().encode()
        return [val.decode() for k, val in self.headers if k == name]

    @property
    def close(self):
        c = self.header("connection")
        return c is not None and "close" in c.lower()

    def __repr__(self):
        return "<%d %d bytes%s>" % (self.status, len(self.body), "" if self.complete else " SHORT")


def read_head(rd):
    r = Response()
    line = rd.line()
    parts = line.split(b" ", 2)
    r.version, r.status = parts[0], int(parts[1])
    r.reason = parts[2] if len(parts) > 2 else b""
    while True:
        ln = rd.line()
        if ln == b"":
            break
        k, v = ln.split(b":", 1)
        r.headers.append((k.strip().lower(), v.strip()))
    return r


def read_response(rd, method="GET", keep_interim=True):
    """One final response (1xx interim ones are collected in .interim)."""
    interim = []
    while True:
        r = read_head(rd)
        if 100 <= r.status < 200 and r.status != 101:
            interim.append(r.status)
            continue
        break
    r.interim = interim
    te = (r.header("transfer-encoding") or "").lower()
    cl = r.header("content-length")
    try:
        if method == "HEAD" or r.status in (204, 304):
            r.complete = True
        elif "chunked" in te:
            raw, body = b"", b""
            while True:
                ln = rd.line()
                raw += ln + b"\r\n"
                n = int(ln.split(b";")[0], 16)
                if n == 0:
                    while True:  # trailers
                        t = rd.line()
                        raw += t + b"\r\n"
                        if t == b"":
                            break
                    break
                d = rd.exact(n)
                body += d
                crlf = rd.exact(2)
                raw += d + crlf
                if crlf != b"\r\n":
                    raise ValueError("bad chunk CRLF")
            r.body, r.raw, r.complete = body, raw, True
        elif cl is not None:
            n = int(cl)
            got = b""
            try:
                got = rd.exact(n)
            except Closed:
                got, rd.buf = rd.buf, b""
                r.body = r.raw = got
                return r
            r.body = r.raw = got
            r.complete = True
        else:
            r.body = r.raw = rd.rest()
            r.complete = rd.eof
    except Closed:
        r.body = r.raw = r.body or rd.buf
        rd.buf = b""
    return r


def request(path, method="GET", host="t", headers=(), body=b"", version="HTTP/1.1"):
    h = "%s %s %s\r\n" % (method, path, version)
    if host is not None:
        h += "Host: %s\r\n" % host
    for x in headers:
        h += x + "\r\n"
    if body and not any(x.lower().startswith(("content-length", "transfer-encoding")) for x in headers):
        h += "Content-Length: %d\r\n" % len(body)
    return (h + "\r\n").encode() + body


def exchange(port, data, methods=("GET",), timeout=TIMEOUT):
    """Send DATA in one write; read one response per method; returns
    (responses, reader). A missing response ends the list early."""
    s = connect(port, timeout)
    s.sendall(data)
    rd = Reader(s)
    out = []
    for m in methods:
        try:
            out.append(read_response(rd, m))
        except (Closed, socket.timeout, ConnectionResetError):
            break
    return out, rd


def deadline(seconds):
    end = time.time() + seconds
    return lambda: time.time() < end


def _clean(x):
    return str(x).replace("\t", " ").replace("\r", "\\r").replace("\n", "\\n")


def check(desc, got, want):
    """One TAP check for lib.sh's py_checks: description, got, want."""
    print("%s\t%s\t%s" % (_clean(desc), _clean(got), _clean(want)), flush=True)
    return got == want


def concurrently(*cases):
    """Runs the cases all at once, each in a thread: functions of one
    argument, the check function to call (check's arguments), for cases
    whose waits may overlap. Their checks are printed once every case is
    done, in the cases' order; an exception of a case is raised again then,
    after the checks it made."""
    runs = []
    for fn in cases:
        run = {"checks": [], "error": None}

        def body(fn=fn, run=run):
            def chk(desc, got, want):
                run["checks"].append((desc, got, want))
                return got == want
            try:
                fn(chk)
            except BaseException as e:
                run["error"] = e
        t = threading.Thread(target=body, daemon=True)
        t.start()
        runs.append((t, run))
    for t, run in runs:
        t.join()
    for t, run in runs:
        for c in run["checks"]:
            check(*c)
        if run["error"] is not None:
            raise run["error"]


def summary(rs):
    """'200 1024 be1, 204 0 be2, ...' for a list of responses."""
    return ", ".join("%d %d%s %s" % (r.status, len(r.body), "" if r.complete else "(short)",
                                     r.header("x-origin")) for r in rs)


def dechunk(data):
    """Decodes a chunked body as far as its framing is valid: (complete,
    body), complete only when a last chunk and the end of the trailers were
    seen; a bad line or a short chunk just ends the decoding."""
    body, i = b"", 0
    while True:
        j = data.find(b"\r\n", i)
        if j < 0:
            return False, body
        size = data[i:j].split(b";")[0]
        if not size or any(c not in b"0123456789abcdefABCDEF" for c in size) or len(size) > 15:
            return False, body
        n, i = int(size, 16), j + 2
        if n == 0:
            while True:
                j = data.find(b"\r\n", i)
                if j < 0:
                    return False, body
                if j == i:
                    return True, body
                i = j + 2
        if len(data) < i + n + 2 or data[i + n:i + n + 2] != b"\r\n":
            return False, body + data[i:i + n]
        body, i = body + data[i:i + n], i + n + 2


def fake_events(port):
    """l7_fake_origin.py's /events, asked directly: a list of (tag, what)."""
    rs, rd = exchange(port, request("/events"), ["GET"])
    rd.s.close()
    return [tuple(ln.split(" ", 1)) for ln in rs[0].body.decode().splitlines()]


def fake_wait(port, tag, what, seconds=10.0):
    """Waits up to SECONDS for the fake origin's event WHAT about TAG;
    returns every event about TAG then, in order."""
    end = time.time() + seconds
    while True:
        ev = [w for t, w in fake_events(port) if t == tag]
        if what in ev or time.time() > end:
            return ev
        time.sleep(0.05)
