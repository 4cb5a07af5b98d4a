"""l7_fake_origin.py PORT [LIFETIME_S]: a misbehaving web server for the
system tests (l7_faults.t, core_rules.t; stdlib only). Keep-alive; answers by path:
  /silent       accepts the request, never answers
  /cl-te        a response with both Content-Length and Transfer-Encoding;
                keeps the connection open (event "TAG closed" when the
                proxy closes it)
  /garbage      a status line that is not HTTP
  /bighead      a response head of 40 KiB (40 lines of 1000 bytes), longer
                than any buffer of the proxy; keeps the connection open
  /headcut      half a status line and header, then closes
  /slam, /slam-rst  as the first request of a connection: closes it without
                a byte (-rst: with a reset); later on a connection: 200 "ok"
  /short        Content-Length: 100000, 50000 bytes, then closes
  /chunked-cut  two chunks, then closes without the last chunk
  /chunked-mixed  CHUNKED_MIXED: 64 KiB chunks, one with a chunk extension
                among them, a trailer at the end, written in pieces
  /close        no length: 100000 bytes delimited by the close
  /trickle      a valid 5-byte response sent one byte every 10 ms
  /drop         as the first request of a connection: 200 "fresh\n";
                later on a kept-alive connection: reads it, closes without
                a byte (the race of a server closing an idle connection
                just as a proxy reuses it)
  /hold/NAME    logs NAME in the arrival log, then waits while the gate is
                closed (at most LIFETIME_S), then 200 "NAME\\n": with the gate
                closed a request stays in flight until the test says
  /gate/close   closes the gate and empties the arrival log (200 "closed\\n")
  /gate/open    opens it: every held request is answered (200 "open\\n")
  /gate/log     the arrival log: the NAMEs of /hold/ requests, space separated,
                in the order they reached this origin
  /echo/NAME    200 "NAME\\n"
 The next ones name their exchange by the request's X-Tag header (the same
 target with other tags, so that the sockmap engine's per-target memory of
 big responses applies), and with "X-Good: 1" answer a whole, well framed
 response instead (from the sockmap engine's view: this target is big):
  /chunk-bad/KIND  chunked: three valid 16 KiB chunks, a pause (0.2 s),
                then a bad chunk: KIND size ("zz" as size line), crlf (data
                not followed by CRLF) or huge (a size past 64 bits); then
                keeps the connection open. Good: 20 chunks of 16 KiB
  /stall/SIZE   Content-Length: SIZE, the first half of the body (pattern()),
                then nothing; keeps the connection open
  /glue/now/SIZE    a whole SIZE-byte response (body: pattern(SIZE)) and, in
                the same send, a whole second one nobody asked for (EVIL)
  /glue/later/SIZE  the same, EVIL sent 50 ms after the first response,
                with no request
  /glue/tail/SIZE   the head and all but the last 20000 bytes of the body,
                50 ms, then those 20000 bytes and EVIL in one send (an
                engine that moves a body's last bytes by the count, as
                splice does past splice_min, leaves EVIL in the socket)
  /events       what happened to those connections after their response,
                one "TAG what" per line: "TAG late-sent" (the late EVIL is
                out), "TAG closed" (the proxy closed the connection),
                "TAG reused" (a request arrived on it afterwards)
  anything else 200 "ok\\n"
Exits after LIFETIME_S (default 120) seconds whatever happens."""
import os
import socket
import sys
import threading
import time

port = int(sys.argv[1])
life = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
BODY = bytes(i % 251 for i in range(100000))
from l7_client import CHUNKED_MIXED, pattern

GATE = threading.Event()        # set: open (the start: nothing is held)
GATE.set()
ARRIVED = []                    # /hold/ NAMEs in arrival order
ARRIVED_LOCK = threading.Lock()


EVENTS = []
EVENTS_LOCK = threading.Lock()
EVIL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Evil: 1\r\n\r\nEVIL"


def event(name, what):
    with EVENTS_LOCK:
        EVENTS.append("%s %s" % (name, what))


def answer(c, body):
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def serve(c):
    buf = b""
    nreq = 0
    watched = None      # the NAME whose response this connection ended oddly
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                try:
                    d = c.recv(65536)
                except ConnectionResetError:
                    d = b""
                if not d:
                    if watched:
                        event(watched, "closed")
                    return
                if watched:
                    event(watched, "reused")
                    watched = None
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1].decode()
            nreq += 1
            part = path.split("/")
            if path.startswith("/hold/"):
                with ARRIVED_LOCK:
                    ARRIVED.append(path[6:])
                GATE.wait(life)
                answer(c, path[6:].encode() + b"\n")
                continue
            if path == "/gate/close":
                with ARRIVED_LOCK:
                    GATE.clear()
                    del ARRIVED[:]
                answer(c, b"closed\n")
                continue
            if path == "/gate/open":
                GATE.set()
                answer(c, b"open\n")
                continue
            if path == "/gate/log":
                with ARRIVED_LOCK:
                    answer(c, " ".join(ARRIVED).encode() + b"\n")
                continue
            if path.startswith("/echo/"):
                answer(c, path[6:].encode() + b"\n")
                continue
            if path == "/events":
                with EVENTS_LOCK:
                    answer(c, "".join(e + "\n" for e in EVENTS).encode())
                continue
            tag, good = "-", False
            for ln in head.split(b"\r\n")[1:]:
                k, _, v = ln.partition(b":")
                if k.strip().lower() == b"x-tag":
                    tag = v.strip().decode()
                if k.strip().lower() == b"x-good":
                    good = True
            if path.startswith("/chunk-bad/") and len(part) == 3:
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for k in range(20 if good else 3):
                    c.sendall(b"4000\r\n" + bytes((i + k) % 251 for i in range(16384)) + b"\r\n")
                if good:
                    c.sendall(b"0\r\n\r\n")
                    continue
                time.sleep(0.2)
                c.sendall({"size": b"zz\r\nhello\r\n", "crlf": b"5\r\nhelloXY5\r\nhello\r\n",
                           "huge": b"10000000000000000a\r\nhello\r\n"}[part[2]])
                watched = tag
                continue
            if path.startswith("/stall/") and len(part) == 3:
                body = pattern(int(part[2]))
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) +
                          (body if good else body[:len(body) // 2]))
                if not good:
                    watched = tag
                continue
            if path.startswith("/glue/") and len(part) == 4:
                body = pattern(int(part[3]))
                first = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                if good:
                    c.sendall(first)
                elif part[2] == "now":
                    c.sendall(first + EVIL)
                    watched = tag
                elif part[2] == "tail":
                    c.sendall(first[:-20000])
                    time.sleep(0.05)
                    c.sendall(first[-20000:] + EVIL)
                    watched = tag
                else:
                    c.sendall(first)
                    time.sleep(0.05)
                    c.sendall(EVIL)
                    event(tag, "late-sent")
                    watched = tag
                continue
            if path == "/drop":
                if nreq > 1:
                    return
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfresh\n")
                continue
            if path == "/early":
                c.sendall(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nbig\n")
                while c.recv(65536):
                    pass
                return
            if path == "/silent":
                while c.recv(65536):
                    pass
                return
            if path in ("/slam", "/slam-rst") and nreq == 1:
                if path == "/slam-rst":
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                return
            if path == "/cl-te":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
                watched = tag
            elif path == "/bighead":
                c.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Big-%02d: %s\r\n" % (i, b"b" * 988) for i in range(40)) +
                          b"Content-Length: 3\r\n\r\nok\n")
                watched = tag
            elif path == "/headcut":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Le")
                time.sleep(0.1)
                return
            elif path == "/garbage":
                c.sendall(b"SMTP ready\r\n\r\n")
                return
            elif path == "/short":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + BODY[:50000])
                time.sleep(0.1)
                return
            elif path == "/chunked-cut":
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n")
                time.sleep(0.1)
                return
            elif path == "/chunked-mixed":
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for part in CHUNKED_MIXED:
                    time.sleep(0.003)   # one skb or a few per part
                    c.sendall(part)
            elif path == "/close":
                c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY)
                return
            elif path == "/trickle":
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello":
                    c.sendall(bytes([b]))
                    time.sleep(0.01)
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    except OSError:
        pass
    finally:
        c.close()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(128)
s.settimeout(0.5)
end = time.time() + life
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
os._exit(0)
