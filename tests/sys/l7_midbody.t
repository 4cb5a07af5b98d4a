#!/usr/bin/env bash
# l7_midbody.t: a backend that breaks its response after the head went out,
# with every relay engine (copy, splice, sockmap), from l7_fake_origin.py:
#  - valid chunks, a pause, then a bad chunk line (a size that is not hex,
#    chunk data not followed by CRLF, a size past 64 bits), the origin's
#    connection kept open;
#  - a Content-Length body that stops halfway, the connection kept open
#    (server_timeout 3 s).
# The client sees its connection closed and a body short of its framing
# (curl reports an error, a raw client sees no last chunk or too few
# bytes), never a response passed off as complete; the origin's connection
# is closed by the switch, never reused; other clients are served while a
# response stalls. Each target is first answered whole and big, so that the
# sockmap engine runs the broken response in the kernel (head mode) and
# hands it back. The broken exchanges of an engine run all at once (curl's
# in the background, the raw client's in threads), so that their waits for
# server_timeout overlap; the checks are made in order afterwards.
source "$(dirname "$0")/lib.sh"

alloc_port FAKE
python3 "$SYS_DIR/l7_fake_origin.py" $FAKE $((600 * SLOW)) &
PIDS+=($!)
wait_for 5 tcp_open $FAKE || { echo "Bail out! fake origin"; exit 1; }

curl_says() { # RC: what curl's exit status means here
	case $1 in
	0) echo complete;;
	18|56) echo "cut short";;   # transfer closed with data outstanding / receive failure
	28) echo "timed out";;
	*) echo "status $1";;
	esac
}
curl_bg() { # NAME CURL-ARGS...: curl -s in the background (its PID in CURL_BG), the body in $T/NAME
	local n=$1; shift
	{ curl -s -o "$T/$n" "$@"; echo " $?"; } > "$T/$n.w" &
	CURL_BG+=($!)
}
curl_report() { # KEY WANT-WHOLE WANT-BROKEN DESC-WHOLE DESC-BROKEN (printf: %d the try):
	# the checks of one target: good[KEY], then curl_bg KEY-1 and KEY-2
	# (-w's output, then what curl's exit status means: "200, cut short")
	local i w
	is "${good[$1]}" "$2" "$engine: $4"
	for i in 1 2; do
		w=$(cat "$T/$1-$i.w")
		# shellcheck disable=SC2059
		is "${w% *}, $(curl_says "${w##* }")" "$3" "$engine: $(printf "$5" $i)"
	done
}

for engine in copy splice sockmap $PACKET; do
	alloc_port L7; alloc_port ADM
	cluster_ini "$T/$engine.ini" $engine f=$FAKE:$L7:$ADM -- "server_timeout = 3s"
	tandem_start "$T/$engine.ini" f || { echo "Bail out! tandem $engine"; exit 1; }
	U=http://127.0.0.1:$L7

	# ---- curl's view: each target first answered whole (and big), then
	# its broken responses all at once, in the background, beside the raw
	# client's below (the stalled ones wait out server_timeout together);
	# their checks in order once all are done
	declare -A good=()
	for kind in size crlf huge; do
		code=$(curl -s -o "$T/good" -w '%{http_code}' --max-time 30 -H 'X-Good: 1' "$U/chunk-bad/$kind")
		good[$kind]="$code $(stat -c %s "$T/good")"
	done
	for size in 100000 1048576; do
		good[$size]=$(curl -s -o "$T/good" -w '%{http_code} %{size_download}' --max-time 30 -H 'X-Good: 1' "$U/stall/$size")
	done
	CURL_BG=()
	for i in 1 2; do
		for kind in size crlf huge; do
			curl_bg "$kind-$i" -w '%{http_code}' --max-time 30 -H "X-Tag: $engine-curl-$kind-$i" "$U/chunk-bad/$kind"
		done
		for size in 100000 1048576; do
			curl_bg "$size-$i" -w '%{http_code} %{size_download}' --max-time 30 \
				-H "X-Tag: $engine-curl-stall-$size-$i" "$U/stall/$size"
		done
	done

	# ---- a raw client: framing, the closes on both sides, others meanwhile
	py_start "$engine: " "$L7" "$FAKE" "$engine" <<'PY'
import socket, sys, threading
from l7_client import *
port, fake, engine = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pattern(100000), pattern(1 << 20)      # computed once, before the threads


def bad_chunk(kind, check):
    for i in (1, 2):
        tag = "%s-py-%s-%d" % (engine, kind, i)
        s = connect(port, 30)
        s.sendall(request("/chunk-bad/" + kind, headers=["X-Tag: " + tag]))
        rd = Reader(s)
        r = read_head(rd)
        data = rd.rest()        # what is buffered, then on to the close (or 30 s)
        complete, body = dechunk(data)
        check("bad chunk (%s) #%d: head 200, no last chunk, client connection closed" % (kind, i),
              (r.status, r.header("transfer-encoding"), complete, rd.eof), (200, "chunked", False, True))
        # (crlf: the data of the chunk whose CRLF is missing may pass too)
        valid = b"".join(bytes((j + k) % 251 for j in range(16384)) for k in range(3))
        valid += b"hello" if kind == "crlf" else b""
        check("bad chunk (%s) #%d: the body so far is the valid chunks' data, nothing else" % (kind, i),
              (len(body) <= len(valid), body == valid[:len(body)]), (True, True))
        check("bad chunk (%s) #%d: the origin's connection closed by the switch, never reused" % (kind, i),
              fake_wait(fake, tag, "closed"), ["closed"])
    rs, rd = exchange(port, request("/echo/after-" + kind), ["GET"])
    check("after the bad chunk (%s): a new client served" % kind, [(r.status, r.body) for r in rs],
          [(200, b"after-" + kind.encode() + b"\n")])

def others(tag, out):
    """Two clients, three keep-alive requests each, and a whole 1 MiB body."""
    for c in range(2):
        names = ["%s-o%d-%d" % (tag, c, k) for k in range(3)]
        rs, rd = exchange(port, b"".join(request("/echo/" + n) for n in names), ["GET"] * 3)
        out.append([(r.status, r.body) for r in rs] == [(200, n.encode() + b"\n") for n in names])
        rd.s.close()
    rs, rd = exchange(port, request("/stall/1048576", headers=["X-Good: 1"]), ["GET"], timeout=30)
    out.append([(r.status, r.body == pattern(1 << 20)) for r in rs] == [(200, True)])
    rd.s.close()

def stall(size, i, check):
    tag = "%s-py-stall-%d-%d" % (engine, size, i)
    s = connect(port, 30)
    s.sendall(request("/stall/%d" % size, headers=["X-Tag: " + tag]))
    rd = Reader(s)
    r = read_head(rd)
    half = rd.exact(size // 2)
    check("stall %d #%d: head 200, the first half of the body" % (size, i),
          (r.status, r.header("content-length"), half == pattern(size)[:size // 2]), (200, str(size), True))
    # other clients while this one waits (server_timeout 3 s: they need
    # a few milliseconds, the stalled response is closed only after it)
    out = []
    others(tag, out)
    check("stall %d #%d: other clients served meanwhile" % (size, i), out, [True] * 3)
    check("stall %d #%d: ... while the stalled response is still open" % (size, i), quiet(rd, 0.05), "quiet")
    rest = rd.rest()
    # closed, or reset (packet: a splice cut short resets the client)
    check("stall %d #%d: then the client connection closed, the body short of its Content-Length" % (size, i),
          (len(half) + len(rest), rd.eof or rd.reset), (size // 2, True))
    check("stall %d #%d: the origin's connection closed by the switch, never reused" % (size, i),
          fake_wait(fake, tag, "closed"), ["closed"])

# every case at once (each stall waits out server_timeout), the checks in
# this order afterwards
concurrently(*[lambda c, k=kind: bad_chunk(k, c) for kind in ["size", "crlf", "huge"]],
             *[lambda c, z=size, i=i: stall(z, i, c) for size in (100000, 1 << 20) for i in (1, 2)])
PY
	wait "${CURL_BG[@]}"
	for kind in size crlf huge; do
		curl_report $kind "200 327680" "200, cut short" "/chunk-bad/$kind answered whole first (20 chunks of 16 KiB)" \
			"bad chunk ($kind) after 48 KiB of chunks and a pause, #%d: curl reports the body cut short"
	done
	for size in 100000 1048576; do
		curl_report $size "200 $size" "200 $((size / 2)), cut short" "/stall/$size answered whole first" \
			"$size-byte body stalls halfway, #%d: curl gets half and reports it cut short"
	done
	py_wait
	is "$(metric tandem_aborted_total)" 20 "$engine: the 20 broken exchanges counted as aborted"
	if [ $engine = sockmap ]; then
		# after each target's whole first answer: the 12 bad chunked
		# ones, the 4 stalled 1 MiB ones, the 4 whole 1 MiB ones of
		# the other clients, their heads checked by the program
		n=$(metric tandem_relay_sockmap_heads_total)
		ok $([ "${n:-0}" -ge 20 ] && echo 0 || echo 1) "sockmap: the broken responses ran in the kernel (head mode: $n of 20)"
	fi
	tandem_stop
	is "$STOP_RC" 0 "$engine: SIGTERM: exit status 0"
done

done_testing
