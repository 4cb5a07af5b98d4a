#!/usr/bin/env python3
"""bench/tls/hs.py: new TLS connections per second, one request on each.

    hs.py PORT SECONDS PROCS full|resume PATH

PROCS processes (fork) each loop for SECONDS: connect to 127.0.0.1:PORT,
handshake (mode resume: offering the session of the connection before, so
every connection but each process's first is resumed by a ticket), send
`GET PATH` with `Connection: close`, read the whole response by its
Content-Length, close. The TLS version and cipher come from OpenSSL's
configuration (run.sh points OPENSSL_CONF at its pinned client file); the
minimum is set to TLS 1.3 here because Python's own default (1.2) would
override the file's MinProtocol. Prints one JSON line: connections made,
how many the server resumed (SSLSocket.session_reused), errors, p99 of a
connection's whole time in ms, and the protocol/cipher pairs seen.
"""
import json
import multiprocessing as mp
import socket
import ssl
import sys
import time


def one(port, ctx, path, sess):
    """One connection and request: (seconds, reused, 'proto/cipher', session)."""
    t0 = time.monotonic()
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s = ctx.wrap_socket(raw, server_hostname="bench.tandem.test", session=sess)
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: bench.tandem.test\r\nConnection: close\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                raise OSError("EOF before the response head")
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise OSError("status: %r" % head.split(b"\r\n")[0])
        n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        if not n:
            raise OSError("no Content-Length")
        while len(body) < n[0]:
            d = s.recv(65536)
            if not d:
                raise OSError("EOF inside the body")
            body += d
        # the tickets came before the response (TLS 1.3 sends them right
        # after the handshake), so s.session is the newest one now
        return time.monotonic() - t0, s.session_reused, "%s/%s" % (s.version(), s.cipher()[0]), s.session
    finally:
        raw.close()


def worker(port, secs, mode, path, q):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE          # as wrk: the client's work is not measured
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    end = time.monotonic() + secs
    lat, reused, errs, seen, sess, last = [], 0, 0, {}, None, ""
    while time.monotonic() < end:
        try:
            t, r, pc, s = one(port, ctx, path, sess if mode == "resume" else None)
        except (OSError, ssl.SSLError) as e:
            errs += 1
            last = str(e)
            sess = None
            continue
        lat.append(t)
        reused += bool(r)
        seen[pc] = seen.get(pc, 0) + 1
        sess = s
    q.put((lat, reused, errs, seen, last))


def main():
    port, secs, procs, mode, path = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    if mode not in ("full", "resume"):
        sys.exit("hs.py: mode is full or resume")
    q = mp.Queue()
    t0 = time.monotonic()
    ps = [mp.Process(target=worker, args=(port, secs, mode, path.encode(), q)) for _ in range(procs)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    wall = time.monotonic() - t0
    lat = sorted(x for r in res for x in r[0])
    seen = {}
    for r in res:
        for k, v in r[3].items():
            seen[k] = seen.get(k, 0) + v
    print(json.dumps({
        "conns": len(lat), "resumed": sum(r[1] for r in res), "errors": sum(r[2] for r in res),
        "rps": len(lat) / wall if wall else 0.0,
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else 0.0,
        "negotiated": seen, "last_error": next((r[4] for r in res if r[4]), ""),
    }))


if __name__ == "__main__":
    main()
