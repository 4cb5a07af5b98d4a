"""l4_ecmp.py: the load and the verdict of l4_ecmp.t (stdlib only).

  load VIP CONNS INTERVAL OUT STOPFILE MAXSECONDS   in the client host
  judge OUT T_REMOVE NODE                           on the host: one check a
                                                    line, "description<TAB>got<TAB>want"

The load: CONNS keep-alive connections, opened at the start, each sending
"GET /" every INTERVAL seconds (one event loop, non-blocking sockets) until
the stop file appears or MAXSECONDS pass. The answer's X-Backend header
names the node; every later answer on the connection must name the same
one. A request with no complete answer within REQ_TIMEOUT fails; a
connection that is closed, reset, or whose request failed is broken and
not used again. Bounded in time (MAXSECONDS) and in count (MAX_REQUESTS).

OUT gets one JSON line per event, times in time.time() seconds:
  {"k": "open", "id", "t"}                     connected
  {"k": "node", "id", "node", "t"}             its first answer
  {"k": "fail", "id", "node", "t", "err", "req"}   broken; req: a request
                                               was out (it failed)
  {"k": "end", "t", "oks", "max_ms", "per_node", "alive", "opened", "refused"}
  {"k": "round", "from", "t"}  every connection still alive had an answer to a
                               request sent at FROM or later (the next round
                               starts then): the test waits for these, the
                               verdict does not read them
"""
import errno
import json
import os
import selectors
import socket
import sys
import time

REQ_TIMEOUT = 3.0        # s for one answer; TCP's first retransmit is 0.2..1 s
MAX_REQUESTS = 2000000   # over everything
CONNECT_TIMEOUT = 3.0


class Conn:
    def __init__(self, i, vip):
        self.id = i
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.setblocking(False)
        self.vip = vip
        self.node = None
        self.buf = b""
        self.sent_at = None      # a request is out since then
        self.next_at = 0.0
        self.connected = False
        self.dead = False
        self.oks = 0
        self.ok_sent = 0.0       # when the request of its last answer went out


def parse(buf):
    """(status, x-backend, rest) for one complete answer in BUF, or None."""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None
    lines = buf[:i].split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    hdr = {}
    for ln in lines[1:]:
        k, v = ln.split(b":", 1)
        hdr[k.strip().lower()] = v.strip().decode()
    n = int(hdr.get(b"content-length", "-1"))
    if n < 0:
        raise ValueError("no Content-Length")
    if len(buf) < i + 4 + n:
        return None
    return status, hdr.get(b"x-backend"), buf[i + 4 + n:]


def load(vip, nconns, interval, out, stopfile, maxsec):
    t_start = time.time()
    end = t_start + maxsec
    f = open(out, "w")
    sel = selectors.DefaultSelector()
    conns = []
    total = 0
    max_ms = 0.0
    refused = 0

    def emit(**ev):
        f.write(json.dumps(ev) + "\n")
        f.flush()

    def kill(c, err):
        if c.dead:
            return
        c.dead = True
        emit(k="fail", id=c.id, node=c.node, t=time.time(), err=err,
             req=c.sent_at is not None)
        try:
            sel.unregister(c.s)
        except (KeyError, ValueError):
            pass
        c.s.close()

    # open every connection first, a few at a time, so the phases that
    # follow see all of them established
    for i in range(nconns):
        c = Conn(i, vip)
        try:
            c.s.connect((vip, 80))
        except BlockingIOError:
            pass
        c.opened_at = time.time()
        conns.append(c)
        sel.register(c.s, selectors.EVENT_WRITE, c)
    pending = nconns
    while pending and time.time() < t_start + 2 * CONNECT_TIMEOUT:
        for key, _ in sel.select(0.1):
            c = key.data
            e = c.s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            pending -= 1
            if e:
                refused += 1
                kill(c, "connect: " + os.strerror(e))
                continue
            c.connected = True
            emit(k="open", id=c.id, t=time.time())
            sel.modify(c.s, selectors.EVENT_READ, c)
            # spread the requests over the interval
            c.next_at = time.time() + interval * (c.id % 100) / 100.0
    for c in conns:
        if not c.connected and not c.dead:
            refused += 1
            kill(c, "connect: timed out")

    round_from = round_check = time.time()
    while time.time() < end and total < MAX_REQUESTS and not os.path.exists(stopfile):
        now = time.time()
        wake = now + 0.05
        if now >= round_check:      # every 20 ms at most
            round_check = now + 0.02
            if all(c.dead or c.ok_sent >= round_from for c in conns):
                emit(k="round", t=now, **{"from": round_from})
                round_from = now
        for c in conns:
            if c.dead:
                continue
            if c.sent_at is None and now >= c.next_at:
                try:
                    c.s.send(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
                except OSError as e:
                    kill(c, "send: " + os.strerror(e.errno or errno.EIO))
                    continue
                c.sent_at = now
                c.next_at = now + interval
                total += 1
            if c.sent_at is not None and now - c.sent_at > REQ_TIMEOUT:
                kill(c, "no answer in %.1f s" % REQ_TIMEOUT)
                continue
            wake = min(wake, c.next_at if c.sent_at is None else c.sent_at + REQ_TIMEOUT)
        for key, _ in sel.select(max(0.0, wake - time.time())):
            c = key.data
            try:
                d = c.s.recv(65536)
            except OSError as e:
                kill(c, "recv: " + os.strerror(e.errno or errno.EIO))
                continue
            if not d:
                kill(c, "closed by the server")
                continue
            c.buf += d
            try:
                r = parse(c.buf)
            except (ValueError, IndexError) as e:
                kill(c, "bad answer: %s" % e)
                continue
            if r is None:
                continue
            status, node, c.buf = r
            if c.sent_at is None:
                kill(c, "an answer to no request")
                continue
            ms = (time.time() - c.sent_at) * 1000
            sent, c.sent_at = c.sent_at, None
            if status != 200:
                kill(c, "status %d" % status)
                continue
            if c.node is None:
                c.node = node
                emit(k="node", id=c.id, node=node, t=time.time())
            elif node != c.node:
                kill(c, "answer from %s on a connection to %s" % (node, c.node))
                continue
            c.oks += 1
            c.ok_sent = sent
            max_ms = max(max_ms, ms)
    per_node = {}
    for c in conns:
        if c.node is not None:
            per_node[c.node] = per_node.get(c.node, 0) + 1
    emit(k="end", t=time.time(), oks=sum(c.oks for c in conns), max_ms=round(max_ms, 1),
         per_node=per_node, alive=sum(1 for c in conns if not c.dead), opened=nconns - refused,
         refused=refused)
    for c in conns:
        if not c.dead:
            c.s.close()
    f.close()
    return 0


def judge(out, t_remove, removed):
    """Before T_REMOVE no connection may break; after it only REMOVED's."""
    t_remove = float(t_remove)
    ev = [json.loads(ln) for ln in open(out)]
    end = [e for e in ev if e["k"] == "end"]
    if not end:
        print("the load wrote its summary\t0\t1")
        return 0
    end = end[-1]
    node_of = {e["id"]: e["node"] for e in ev if e["k"] == "node"}
    fails = [e for e in ev if e["k"] == "fail"]
    early = [e for e in fails if e["t"] < t_remove]
    late = [e for e in fails if e["t"] >= t_remove]
    late_other = [e for e in late if e["node"] != removed]
    on_removed = sum(1 for n in node_of.values() if n == removed)
    print("#\t%d connections opened (%d refused), per node %s; %d requests answered, "
          "slowest %.1f ms" % (end["opened"], end["refused"], json.dumps(end["per_node"],
                                                                       sort_keys=True),
                               end["oks"], end["max_ms"]))
    print("#\tbroken before %s was removed: %d; after: %d on %s, %d elsewhere; alive at "
          "the end: %d" % (removed, len(early), len(late) - len(late_other), removed,
                           len(late_other), end["alive"]))
    for e in (early + late_other)[:5]:
        print("#\tunexpected: connection %s to %s at %.3f: %s" % (e["id"], e["node"], e["t"],
                                                                   e["err"]))
    nconns = end["opened"] + end["refused"]
    print("#\tfailed requests: %d before %s was removed, %d after" % (
        sum(1 for e in early if e["req"]), removed, sum(1 for e in late if e["req"])))
    print("every connection opened and answered\t%d\t%d" % (len(node_of), nconns))
    print("the connections spread over the nodes\t%d\t%d" % (
        min(3, len(end["per_node"])), 3))
    print("no connection broke (front end removed and added back)\t%d\t0" % len(early))
    print("after %s is removed, every one of its %d connections broke\t%d\t%d" % (
        removed, on_removed, len(late) - len(late_other), on_removed))
    print("... and no connection to another node\t%d\t0" % len(late_other))
    print("connections still alive at the end\t%d\t%d" % (end["alive"],
                                                            len(node_of) - on_removed))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "load":
        sys.exit(load(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5],
                      sys.argv[6], float(sys.argv[7])))
    if len(sys.argv) == 5 and sys.argv[1] == "judge":
        sys.exit(judge(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.stderr.write(__doc__)
    sys.exit(2)
