#!/usr/bin/env bash
# l7_reload_head.t: max_head raised by a reload takes effect, with every relay
# engine. Started with [l7] max_head = 8k, a request head of about 12 KiB
# gets 431; the file then says 32k and SIGHUP reloads it (the log says so):
# heads of about 12 and 24 KiB, both between the old and the new limit, get
# 200 and the right body, on a new connection and on a keep-alive connection
# opened before the reload; a head of about 40 KiB, over the new limit,
# gets 431 and a close, never a silent close.
source "$(dirname "$0")/lib.sh"

alloc_port O1
origin_start be1 $O1 || { echo "Bail out! nginx be1"; exit 1; }

for engine in copy splice sockmap $PACKET; do
	alloc_port L7; alloc_port ADM
	cluster_ini "$T/$engine.ini" $engine be1=$O1:$L7:$ADM -- "max_head = 8k"
	tandem_start "$T/$engine.ini" be1 || { echo "Bail out! tandem $engine"; exit 1; }
	# one python process for the whole story, so that the keep-alive
	# connection opened before the reload is used after it
	py_checks "$engine: " "$L7" "$T/www/1k" "$T/$engine.ini" "$TANDEM_PID" "$T/tandem-be1.log" <<'PY'
import os, re, signal, sys, time
from l7_client import *
port, body, ini, pid, log = int(sys.argv[1]), open(sys.argv[2], "rb").read(), sys.argv[3], int(sys.argv[4]), sys.argv[5]

def big(kib):
    """GET /1k with a head of about KIB KiB: lines of 1000 bytes (nginx
    takes 8 KiB per line, 32 KiB in all)."""
    pads = ["X-Pad-%02d: %s" % (i, "p" * 988) for i in range(kib)]
    return request("/1k", headers=pads)

def response(rd):
    """The next response, or a word for a close with no response."""
    try:
        return read_response(rd)
    except (Closed, ConnectionResetError):
        return "closed with no response"

def judge(r, rd, wait=1.0):
    """(status, body is /1k, connection closed after it within WAIT s), or
    response's word."""
    if isinstance(r, str):
        return r
    return (r.status, r.body == body if r.status == 200 else None, rd.closed_soon(wait))

def answer(s, rd):
    return judge(response(rd), rd)

def reloads():
    return len(re.findall(r"reload: .*generation", open(log).read()))

ka = connect(port, 20); kard = Reader(ka)
ka.sendall(request("/1k"))
r = read_response(kard)
check("max_head 8k: a small request on a keep-alive connection", (r.status, r.body == body), (200, True))
s = connect(port, 20); rd = Reader(s)
s.sendall(big(12))
check("max_head 8k: a %d-byte head gets 431 and a close" % len(big(12)), answer(s, rd), (431, None, True))

n = reloads()
text = open(ini).read()
open(ini, "w").write(text.replace("max_head = 8k\n", "max_head = 32k\n"))
os.kill(pid, signal.SIGHUP)
end = time.time() + 20
while reloads() == n and time.time() < end:
    time.sleep(0.05)
check("max_head = 32k in the file, SIGHUP: the reload is logged", reloads(), n + 1)

# the four answers first, then one wait of 1 s for them all: a connection
# closed after its answer is closed by then (on the keep-alive connection,
# the second answer says it was open after the first)
new, old = [], []
for kib in (12, 24):
    s = connect(port, 20); rd = Reader(s)
    s.sendall(big(kib))
    new.append((kib, response(rd), s, rd))
for kib in (12, 24):
    ka.sendall(big(kib))
    old.append((kib, response(kard), ka, kard))
time.sleep(1.0)
for kib, r, s, rd in new:
    check("reloaded to 32k: a %d-byte head on a new connection: 200, the body, kept open" % len(big(kib)),
          judge(r, rd, 0.01), (200, True, False))
    s.close()
for kib, r, s, rd in old:
    check("reloaded to 32k: a %d-byte head on the keep-alive connection from before: 200, the body"
          % len(big(kib)), judge(r, rd, 0.01), (200, True, False))
s = connect(port, 20); rd = Reader(s)
s.sendall(big(40))
check("reloaded to 32k: a %d-byte head gets 431 and a close, not a silent close" % len(big(40)),
      answer(s, rd), (431, None, True))
PY
	tandem_stop
	is "$STOP_RC" 0 "$engine: SIGTERM: exit status 0"
done

done_testing
