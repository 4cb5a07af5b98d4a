"""soak.py: the client of bench/soak/run.sh (Python 3, stdlib only).

    soak.py PORT WWW NAME SECONDS THREADS SEED STATUSFILE [MAXREQ]

THREADS threads, each picking one scenario after another (seeded, so a run
can be repeated) until SECONDS pass or MAXREQ requests were sent:

  keepalive   5..20 requests of random sizes on one connection
  pipelined   10 requests in one write, read back in order
  upload      a random body (1 KiB..512 KiB) PUT chunked or with
              Content-Length, fetched back and compared, then DELETEd
  large       /4m, /64m or /chunked/big (64 MiB answered chunked)
  abort       a large download (or a pipelined pair) read for 0..2 MiB,
              then closed with FIN or RST

Every complete response body is hashed (sha256, streamed) and compared
with the file the origins serve: a difference is a mismatch. A response
cut short, a wrong status or a connection error is an error. Counters go
to STATUSFILE as JSON every 2 s and at the end:
  requests, responses, bytes_down, bytes_up, mismatches, errors, aborts,
  scenarios{}, samples[] (the first few mismatches and errors).
"""
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time

from l7_client import Closed, Reader, read_head, request

TIMEOUT = 30.0
SIZES = ["0", "1", "1k", "16k", "256k", "1m", "chunked/text"]
SIZE_W = [1, 1, 4, 4, 2, 1, 1]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {"requests": 0, "responses": 0, "bytes_down": 0, "bytes_up": 0,
                  "mismatches": 0, "errors": 0, "aborts": 0}
        self.scen = {}
        self.samples = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                self.c[k] += v

    def note(self, kind, what):
        with self.lock:
            self.c[kind] += 1
            if len(self.samples) < 20:
                self.samples.append("%s %.1f: %s" % (kind, time.time(), what))

    def dump(self, path):
        with self.lock:
            d = dict(self.c, scenarios=dict(self.scen), samples=list(self.samples))
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f)
        os.replace(tmp, path)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def take(rd, n, h):
    """Streams N body bytes from RD into hash H; returns bytes read (short
    when the connection ended)."""
    got = 0
    if rd.buf:
        k = min(n, len(rd.buf))
        h.update(rd.buf[:k])
        rd.buf = rd.buf[k:]
        got = k
    while got < n:
        d = rd.s.recv(min(1 << 20, n - got))
        if not d:
            rd.eof = True
            break
        h.update(d)
        got += len(d)
    return got


def read_hashed(rd, method="GET"):
    """One final response: (status, headers, sha256 hex, body bytes,
    complete). Raises Closed when no head came."""
    while True:
        r = read_head(rd)
        if not (100 <= r.status < 200):
            break
    h = hashlib.sha256()
    te = (r.header("transfer-encoding") or "").lower()
    cl = r.header("content-length")
    n, complete = 0, False
    if method == "HEAD" or r.status in (204, 304):
        complete = True
    elif "chunked" in te:
        try:
            while True:
                size = int(rd.line().split(b";")[0], 16)
                if size == 0:
                    while rd.line() != b"":
                        pass
                    complete = True
                    break
                k = take(rd, size, h)
                n += k
                if k < size or rd.exact(2) != b"\r\n":
                    break
        except Closed:
            pass
    elif cl is not None:
        n = take(rd, int(cl), h)
        complete = n == int(cl)
    else:
        try:
            while True:
                rd.fill()
        except Closed:
            pass
        n = take(rd, len(rd.buf), h)
        complete = True
    return r.status, r, h.hexdigest(), n, complete


def main():
    port, www, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    seconds, threads, seed, status = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
    maxreq = int(sys.argv[8]) if len(sys.argv) > 8 else 50_000_000
    want = {}
    for p in SIZES + ["4m", "64m"]:
        h = hashlib.sha256()
        with open(os.path.join(www, p), "rb") as f:
            for blk in iter(lambda: f.read(1 << 20), b""):
                h.update(blk)
        want["/" + p] = h.hexdigest()
    want["/chunked/big"] = want["/64m"]
    st = Stats()
    end = time.time() + seconds

    def going():
        return time.time() < end and st.c["requests"] < maxreq

    def expect(path, res, tag):
        status, r, sha, n, complete = res
        st.add(responses=1, bytes_down=n)
        if status != 200 or not complete:
            st.note("errors", "%s %s: status %d, %d bytes, %s" % (tag, path, status, n,
                                                                  "whole" if complete else "cut"))
        elif sha != want[path]:
            st.note("mismatches", "%s %s: %d bytes, sha256 %s" % (tag, path, n, sha[:16]))

    def keepalive(rnd, s, rd):
        for _ in range(rnd.randint(5, 20)):
            if not going():
                break
            p = "/" + rnd.choices(SIZES, SIZE_W)[0]
            s.sendall(request(p))
            st.add(requests=1)
            expect(p, read_hashed(rd), "keepalive")

    def pipelined(rnd, s, rd):
        paths = ["/" + rnd.choices(SIZES, SIZE_W)[0] for _ in range(10)]
        s.sendall(b"".join(request(p) for p in paths))
        st.add(requests=10)
        for p in paths:
            expect(p, read_hashed(rd), "pipelined")

    def upload(rnd, s, rd, tid, k):
        n = rnd.randint(1024, 512 * 1024)
        body = rnd.randbytes(n)
        path = "/up/soak-%s-%d-%d" % (name, tid, k)
        if rnd.random() < 0.5:
            chunks, i = [], 0
            while i < n:
                c = rnd.randint(1, 70000)
                chunks.append(b"%x\r\n%s\r\n" % (len(body[i:i + c]), body[i:i + c]))
                i += c
            s.sendall(request(path, method="PUT", headers=["Transfer-Encoding: chunked"]) +
                      b"".join(chunks) + b"0\r\n\r\n")
        else:
            s.sendall(request(path, method="PUT", body=body))
        st.add(requests=1, bytes_up=n)
        status, r, sha, m, complete = read_hashed(rd)
        st.add(responses=1)
        if status not in (201, 204) or not complete:
            st.note("errors", "upload PUT %s: status %d" % (path, status))
            return
        s.sendall(request(path))
        st.add(requests=1)
        want[path] = hashlib.sha256(body).hexdigest()
        expect(path, read_hashed(rd), "upload")
        del want[path]
        s.sendall(request(path, method="DELETE"))
        st.add(requests=1)
        status, r, sha, m, complete = read_hashed(rd)
        st.add(responses=1)
        if status not in (200, 204):
            st.note("errors", "upload DELETE %s: status %d" % (path, status))

    def large(rnd, s, rd):
        p = rnd.choices(["/4m", "/64m", "/chunked/big"], [12, 2, 1])[0]
        s.sendall(request(p))
        st.add(requests=1)
        expect(p, read_hashed(rd), "large")

    def abort(rnd, s, rd):
        if rnd.random() < 0.3:
            s.sendall(request("/1m") + request("/4m"))
            st.add(requests=2)
        else:
            s.sendall(request(rnd.choice(["/4m", "/64m", "/chunked/big"])))
            st.add(requests=1)
        left = rnd.randint(0, 2 << 20)
        while left > 0:
            d = s.recv(min(left, 65536))
            if not d:
                break
            st.add(bytes_down=len(d))
            left -= len(d)
        if rnd.random() < 0.5:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        st.add(aborts=1)

    scen = [("keepalive", 35), ("pipelined", 20), ("upload", 15), ("large", 15), ("abort", 15)]

    def worker(tid):
        rnd = random.Random(seed * 1000 + tid)
        k = 0
        while going():
            which = rnd.choices([x for x, _ in scen], [w for _, w in scen])[0]
            with st.lock:
                st.scen[which] = st.scen.get(which, 0) + 1
            k += 1
            s = None
            try:
                s = connect(port)
                rd = Reader(s)
                if which == "upload":
                    upload(rnd, s, rd, tid, k)
                else:
                    {"keepalive": keepalive, "pipelined": pipelined, "large": large,
                     "abort": abort}[which](rnd, s, rd)
            except Exception as e:
                st.note("errors", "%s: %s: %s" % (which, type(e).__name__, e))
            finally:
                if s:
                    s.close()

    th = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in th:
        t.start()
    while any(t.is_alive() for t in th):
        st.dump(status)
        for t in th:
            t.join(timeout=2.0 / len(th))
    st.dump(status)


if __name__ == "__main__":
    main()
