"""l4_l7kill.py: the load and the verdict of l4_l7kill.t (stdlib only).

  load VIP OUT STOPFILE MAXSECONDS   run in the client host: bounded load
  judge OUT T_KILL T_GONE T_RESTART T_BACK   on the host: one check per line,
                                     "description<TAB>got<TAB>want"

The load: LONG keep-alive connections, each sending requests one after the
other (with a short pause) until the stop file appears or MAXSECONDS pass;
and a stream of new connections, one request each. Every connection's first
request carries "X-Which: 1", which the cluster file routes to the node's own
web server: its X-Backend header names the node whose L7 switch the L4 front
end chose for that connection. Later requests on a keep-alive connection go
round-robin over every node's web server, so they also cross to the node
whose L7 switch is killed (its nginx stays up).

Every event is one JSON line in OUT, times in time.time() seconds:
  {"k": "long", "id", "node", "t0", "oks" (the end time of every answered
   request), "err", "t_err", "bodies" (answers per web server)}
  {"k": "short", "t0", "node", "err"}
  {"k": "up", "id", "node", "t0"}   a keep-alive connection's first answer (at
   once: the test waits for these, the judge does not read them)
"""
import json
import os
import socket
import sys
import threading
import time

LONG = 24
PAUSE = 0.03          # between two requests of one keep-alive connection
SHORT_EVERY = 0.02    # one new connection this often
MAX_REQUESTS = 200000  # over everything: the load is bounded in count too


class Conn:
    def __init__(self, vip):
        self.s = socket.create_connection((vip, 80), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def get(self, path, which=False):
        """One request; returns (status, x-backend, body) or raises."""
        h = "GET %s HTTP/1.1\r\nHost: vip\r\n%s\r\n" % (path, "X-Which: 1\r\n" if which else "")
        self.s.sendall(h.encode())
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        hdr = {}
        for ln in lines[1:]:
            k, v = ln.split(b":", 1)
            hdr[k.strip().lower()] = v.strip().decode()
        n = int(hdr.get(b"content-length", "-1"))
        if n < 0:
            raise ValueError("no Content-Length")
        while len(self.buf) < n:
            self.fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdr.get(b"x-backend"), body

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise ConnectionError("closed by the server")
        self.buf += d

    def close(self):
        self.s.close()


def load(vip, out, stopfile, maxsec):
    end = time.time() + maxsec
    lock = threading.Lock()
    count = [0]
    f = open(out, "w")

    def emit(ev):
        with lock:
            f.write(json.dumps(ev) + "\n")
            f.flush()

    def going():
        with lock:
            count[0] += 1
            n = count[0]
        return n < MAX_REQUESTS and time.time() < end and not os.path.exists(stopfile)

    def long_conn(i):
        gen = 0
        while going():
            ev = {"k": "long", "id": "%d.%d" % (i, gen), "t0": time.time(), "node": None,
                  "oks": [], "err": None, "t_err": None, "bodies": {}}
            gen += 1
            c = None
            try:
                c = Conn(vip)
                st, node, body = c.get("/", which=True)
                if st != 200 or body != (node + "\n").encode():
                    raise ValueError("first answer %d %r from %s" % (st, body[:20], node))
                ev["node"] = node
                ev["oks"].append(time.time())
                emit({"k": "up", "id": ev["id"], "node": node, "t0": ev["oks"][0]})
                k = 0
                while going():
                    time.sleep(PAUSE)
                    k += 1
                    path = "/" if k % 2 else "/static/s%d.css" % (k % 64)
                    st, node, body = c.get(path)
                    want = (node + "\n").encode() if path == "/" else b"\0" * 1024
                    if st != 200 or body != want:
                        raise ValueError("%s: %d, %d bytes from %s" % (path, st, len(body), node))
                    ev["oks"].append(time.time())
                    ev["bodies"][node] = ev["bodies"].get(node, 0) + 1
            except Exception as e:  # every failure is recorded, then a new connection
                ev["err"], ev["t_err"] = "%s: %s" % (type(e).__name__, e), time.time()
            finally:
                if c:
                    c.close()
            emit(ev)
            if ev["err"]:
                time.sleep(0.05)

    def short_conns():
        while going():
            t0 = time.time()
            ev = {"k": "short", "t0": t0, "node": None, "err": None}
            c = None
            try:
                c = Conn(vip)
                st, node, body = c.get("/", which=True)
                if st != 200 or body != (node + "\n").encode():
                    raise ValueError("%d %r from %s" % (st, body[:20], node))
                ev["node"] = node
            except Exception as e:
                ev["err"] = "%s: %s" % (type(e).__name__, e)
            finally:
                if c:
                    c.close()
            emit(ev)
            time.sleep(max(0, SHORT_EVERY - (time.time() - t0)))

    th = [threading.Thread(target=long_conn, args=(i,)) for i in range(LONG)]
    th.append(threading.Thread(target=short_conns))
    for t in th:
        t.start()
    for t in th:
        t.join()
    f.close()


def judge(out, t_kill, t_gone, t_restart, t_back, victim="be2"):
    evs = [json.loads(ln) for ln in open(out)]
    longs = [e for e in evs if e["k"] == "long"]
    shorts = [e for e in evs if e["k"] == "short"]

    def check(desc, got, want):
        print("%s\t%s\t%s" % (desc, got, want), flush=True)

    def info(desc, v):
        print("#\t%s: %s" % (desc, v), flush=True)

    # connections that were open when the L7 switch died
    held = [e for e in longs if e["node"] and e["oks"] and e["oks"][0] < t_kill]
    nodes = sorted(set(e["node"] for e in held))
    check("keep-alive connections on every node when the L7 switch is killed", " ".join(nodes),
          "be1 be2 be3")
    others = [e for e in held if e["node"] != victim]
    mine = [e for e in held if e["node"] == victim]
    info("keep-alive connections open at the kill", "%d on %s, %d on the others" %
         (len(mine), victim, len(others)))
    bad = [e for e in others if e["err"]]
    check("keep-alive connections on the other nodes: no error, before or after the kill",
          len(bad), 0)
    for e in bad[:5]:
        info("  error", "%s on %s at kill%+.3fs: %s" % (e["id"], e["node"], e["t_err"] - t_kill, e["err"]))
    after = sum(1 for e in others for t in e["oks"] if t > t_back)
    check("... and they kept working to the end (requests after the node came back)",
          after > 0 and all(e["oks"][-1] > t_back for e in others), True)
    crossed = sum(e["bodies"].get(victim, 0) for e in others)
    info("requests the other nodes' L7 switches sent to %s's nginx" % victim, crossed)
    noticed = sum(1 for e in mine if e["err"])
    info("keep-alive connections on %s that saw their L7 switch die" % victim,
         "%d of %d (%s)" % (noticed, len(mine), mine[0]["err"] if mine and mine[0]["err"] else "-"))
    check("every keep-alive connection on %s ended with an error, none went on" % victim,
          noticed, len(mine))

    # new connections, by when they started
    def window(a, b):
        return [e for e in shorts if a <= e["t0"] < b]
    before = window(0, t_kill)
    check("new connections before the kill: all succeed (%d)" % len(before),
          sum(1 for e in before if e["err"]), 0)
    during = window(t_kill, t_gone)
    failed = [e for e in during if e["err"]]
    info("new connections between the kill and the removal", "%d, %d failed (%s)" % (
        len(during), len(failed), failed[0]["err"] if failed else "-"))
    # a long connection re-opened after an error is a new connection too
    relong = [e for e in longs if e["t0"] >= t_gone]
    # until the restart: once the switch listens again the front end may
    # put the node back at any moment, before the test sees it in /metrics
    gone = window(t_gone, t_restart)
    check("new connections while %s is out: all succeed (%d + %d keep-alive)" % (
        victim, len(gone), len(relong)),
          sum(1 for e in gone if e["err"]) + sum(1 for e in relong if e["err"]), 0)
    reached = [e for e in gone if e["node"] == victim]
    check("... and none of them reached %s" % victim, len(reached), 0)
    for e in reached[:3]:
        info("  reached %s" % victim, "at kill%+.3fs (out at %+.3fs, restart at %+.3fs)" % (
            e["t0"] - t_kill, t_gone - t_kill, t_restart - t_kill))
    coming = window(t_restart, t_back)
    check("new connections while %s's switch restarts: all succeed (%d)" % (victim, len(coming)),
          sum(1 for e in coming if e["err"]), 0)
    check("some new connections were made while %s was out" % victim, len(gone) >= 10, True)
    back = window(t_back, 1e12)
    check("new connections after %s came back: all succeed (%d)" % (victim, len(back)),
          sum(1 for e in back if e["err"]), 0)
    check("... and %s takes new connections again" % victim,
          sum(1 for e in back if e["node"] == victim) > 0, True)
    info("requests answered in all", sum(len(e["oks"]) for e in longs) +
         sum(1 for e in shorts if not e["err"]))


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    else:
        judge(sys.argv[2], *map(float, sys.argv[3:7]))
