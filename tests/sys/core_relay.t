#!/usr/bin/env bash
# core_relay.t: tandem l7 between a real client (curl, python sockets) and two
# real nginx origins, with every relay engine (copy, splice, sockmap): bodies of 0 B to 64 MiB are
# byte-identical to the files, over one keep-alive connection whose
# successive requests alternate between the origins; chunked responses,
# HEAD, 204, 304, uploads with 100-continue and chunked uploads, pipelined
# requests split at every byte, HTTP/1.0, X-Forwarded-For.
source "$(dirname "$0")/origin.sh"

make_files
origin_start be1 $((BASE + 1)) || { echo "Bail out! nginx be1"; exit 1; }
origin_start be2 $((BASE + 2)) || { echo "Bail out! nginx be2"; exit 1; }

sizes="0 1 1k 16k 256k 1m 4m 64m"

for engine in copy splice sockmap $PACKET; do
	case $engine in copy) L7=$((BASE + 10)); ADM=$((BASE + 11));; splice) L7=$((BASE + 20)); ADM=$((BASE + 21));; sockmap) L7=$((BASE + 40)); ADM=$((BASE + 41));; esac
	cat > "$T/$engine.ini" <<CONF
[cluster]
relay = $engine
[l7]
workers = 2
[node be1]
web = 127.0.0.1:$((BASE + 1))
l7 = 127.0.0.1:$L7
admin = 127.0.0.1:$ADM
[node be2]
web = 127.0.0.1:$((BASE + 2))
CONF
	tandem_start "$T/$engine.ini" be1 $ADM || { echo "Bail out! tandem"; exit 1; }
	U=http://127.0.0.1:$L7

	# every size, twice, on one connection
	args=()
	for s in $sizes $sizes; do args+=(-o "$T/got.$s.$RANDOM" "$U/$s"); done
	rm -f "$T"/got.*
	curl -s -D "$T/heads" -w '%{num_connects}\n' "${args[@]}" > "$T/conns"
	is "$(paste -sd+ "$T/conns" | bc)" 1 "$engine: 16 requests on one client connection"
	bad=0
	for f in "$T"/got.*; do
		s=$(basename "$f" | cut -d. -f2)
		cmp -s "$f" "$T/www/$s" || { bad=$((bad + 1)); echo "# $engine: body of /$s differs"; }
	done
	is "$bad" 0 "$engine: bodies 0 B..64 MiB byte-identical (sha by cmp)"
	o1=$(grep -c 'X-Origin: be1' "$T/heads"); o2=$(grep -c 'X-Origin: be2' "$T/heads")
	is "$o1:$o2" "8:8" "$engine: successive requests alternate between the origins"
	alt=$(grep 'X-Origin' "$T/heads" | tr -d '\r' | awk 'NR > 1 && $2 == prev { same++ } { prev = $2 } END { print same + 0 }')
	is "$alt" 0 "$engine: no two successive requests went to the same origin"

	# chunked responses: compare with a direct fetch
	direct=$(curl -s --raw "http://127.0.0.1:$((BASE + 1))/chunked/text" | sha256sum)
	via=$(curl -s --raw -D "$T/ch.h" "$U/chunked/text" | sha256sum)
	grep -qi 'transfer-encoding: chunked' "$T/ch.h"; ok $? "$engine: response relayed chunked"
	is "$via" "$direct" "$engine: chunked body identical, framing included"
	if [ $engine = sockmap ]; then
		# four on one connection: from the second on, the program
		# frames nginx's chunks in the kernel (head mode), and the
		# bytes are the origin's, framing included
		h0=$(metric tandem_relay_sockmap_heads_total $ADM)
		rm -f "$T"/chraw.*
		curl -s --raw -o "$T/chraw.1" "$U/chunked/text" -o "$T/chraw.2" "$U/chunked/text" \
			-o "$T/chraw.3" "$U/chunked/text" -o "$T/chraw.4" "$U/chunked/text"
		h1=$(metric tandem_relay_sockmap_heads_total $ADM)
		same=0
		for f in "$T"/chraw.*; do [ "$(sha256sum < "$f")" = "$direct" ] && same=$((same + 1)); done
		is "$same" 4 "sockmap: 4 chunked responses on one connection, framing included, as the origin sent them"
		ok $([ $((h1 - h0)) -ge 2 ] && echo 0 || echo 1) "sockmap: chunked responses ran whole in the kernel ($((h1 - h0)) of 4)"
	fi
	is "$(curl -s "$U/chunked/text" | sha256sum)" "$(sha256sum < "$T/www/chunked/text")" \
		"$engine: de-chunked body identical to the file"

	# HEAD, 204, 304 on one connection, then a body
	curl -s -o /dev/null -D "$T/h3" -I "$U/4m"
	grep -q 'Content-Length: 4194304' "$T/h3"; ok $? "$engine: HEAD keeps Content-Length, no body"
	etag=$(tr -d '\r' < "$T/h3" | awk -F': ' 'tolower($1) == "etag" { print $2 }')
	python3 - "$L7" "$etag" "$T/www/16k" > "$T/h204" <<'PY'
import socket, sys
port, etag, f16 = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(10)
reqs = [("HEAD", "/1k", ""), ("GET", "/204", ""), ("GET", "/4m", "If-None-Match: %s\r\n" % etag), ("GET", "/16k", "")]
s.sendall("".join("%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % r for r in reqs).encode())
buf, res = b"", []
for m, path, _ in reqs:
    while b"\r\n\r\n" not in buf: buf += s.recv(65536)
    head, buf = buf.split(b"\r\n\r\n", 1)
    code = int(head.split()[1])
    cl = 0
    for l in head.split(b"\r\n")[1:]:
        k, v = l.split(b":", 1)
        if k.lower() == b"content-length": cl = int(v)
    if m == "HEAD" or code in (204, 304): cl = 0
    while len(buf) < cl: buf += s.recv(65536)
    body, buf = buf[:cl], buf[cl:]
    res.append("%d %d" % (code, len(body)))
    last = body
print(" ".join(res), "same" if last == open(f16, "rb").read() else "differs", "extra" if buf else "clean")
PY
	is "$(cat "$T/h204")" "200 0 204 0 304 0 200 16384 same clean" \
		"$engine: HEAD, 204, 304, then a body, pipelined on one connection"
	# uploads: Content-Length with Expect: 100-continue, and chunked
	code=$(curl -s -o /dev/null -w '%{http_code}' -T "$T/www/4m" "$U/up/$engine-cl")
	is "$code" 201 "$engine: 4 MiB PUT with 100-continue accepted"
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -T - "$U/up/$engine-ch" < "$T/www/1m")
	is "$code" 201 "$engine: chunked 1 MiB PUT accepted"
	got=$(cat "$T"/origin-*/up/$engine-cl 2>/dev/null | sha256sum)
	is "$got" "$(sha256sum < "$T/www/4m")" "$engine: uploaded body identical"
	got=$(cat "$T"/origin-*/up/$engine-ch 2>/dev/null | sha256sum)
	is "$got" "$(sha256sum < "$T/www/1m")" "$engine: chunked upload identical"

	# pipelining: six requests in one write, then split at every byte
	python3 - "$L7" "$T/www" > "$T/pipe.out" <<'PY'
import socket, sys, os
port, www = int(sys.argv[1]), sys.argv[2]
paths = ["1k", "16k", "204", "0", "256k", "1"]
reqs = b"".join(b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n" % p.encode() for p in paths)
want = [b"" if p == "204" else open(os.path.join(www, p), "rb").read() for p in paths]

def read_responses(s, n):
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d: return out
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        cl = 0
        for l in lines[1:]:
            k, v = l.split(b":", 1)
            if k.lower() == b"content-length": cl = int(v)
        if b" 204 " in lines[0]: cl = 0
        while len(buf) < cl:
            d = s.recv(65536)
            if not d: return out
            buf += d
        out.append(buf[:cl]); buf = buf[cl:]
    return out

bad = 0
for cut in [None] + list(range(1, len(reqs))):
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(10)
    if cut is None:
        s.sendall(reqs)
    else:
        s.sendall(reqs[:cut]); s.sendall(reqs[cut:])
    got = read_responses(s, len(paths))
    if got != want: bad += 1
    s.close()
print(bad, len(reqs))
PY
	read -r pbad plen < "$T/pipe.out"
	is "$pbad" 0 "$engine: 6 pipelined requests, in one write and split at each of $plen bytes, answered in order"

	# HTTP/1.0: close unless keep-alive was asked
	h=$(curl -s -0 -D - -o /dev/null "$U/1k" | tr -d '\r' | grep -i '^connection:')
	is "$h" "Connection: close" "$engine: HTTP/1.0 client without keep-alive gets close"
	n=$(curl -s -0 -H 'Connection: keep-alive' -w '%{num_connects}\n' -o /dev/null "$U/1k" -o /dev/null "$U/1k" | paste -sd+ | bc)
	is "$n" 1 "$engine: HTTP/1.0 keep-alive honoured"
	h=$(curl -s -D - -o /dev/null -H 'Connection: close' "$U/1k" | tr -d '\r' | grep -i '^connection:')
	is "$h" "Connection: close" "$engine: Connection: close honoured"

	spliced=$(metric 'tandem_relay_bytes_total{engine="splice"}' $ADM)
	if [ $engine = splice ]; then
		ok $([ "${spliced:-0}" -gt 67108864 ] && echo 0 || echo 1) "splice: large bodies were spliced ($spliced bytes)"
	else
		is "${spliced:-x}" 0 "$engine: nothing spliced"
	fi
	if [ $engine = sockmap ]; then
		inkernel=$(metric 'tandem_relay_bytes_total{engine="sockmap"}' $ADM)
		hb=$(metric 'tandem_relay_sockmap_handbacks_total' $ADM)
		ok $([ "${inkernel:-0}" -gt 67108864 ] && echo 0 || echo 1) "sockmap: large bodies went through the kernel ($inkernel bytes, $hb hand-backs)"
		is "$(metric 'tandem_relay_sockmap_errors_total' $ADM)" 0 "sockmap: no redirect cut off"
	fi
	kill -TERM $TANDEM_PID; wait $TANDEM_PID 2>/dev/null
done

# X-Forwarded-For reaches the origin with the client's address appended
grep -c . "$T/origin-be1/access.log" >/dev/null
sed -i 's/access_log .*/access_log '"${T//\//\\/}"'\/origin-be1\/xff.log xff;/' "$T/origin-be1/nginx.conf"
sed -i 's/^http {/http {\n  log_format xff "$http_x_forwarded_for";/' "$T/origin-be1/nginx.conf"
kill -HUP ${ORIGIN_PID[be1]}; sleep 0.3
cat > "$T/xff.ini" <<CONF
[node be1]
web = 127.0.0.1:$((BASE + 1))
l7 = 127.0.0.1:$((BASE + 30))
admin = 127.0.0.1:$((BASE + 31))
CONF
tandem_start "$T/xff.ini" be1 $((BASE + 31))
curl -s -o /dev/null -H 'X-Forwarded-For: 198.18.9.9' "http://127.0.0.1:$((BASE + 30))/1k"
is "$(tail -1 "$T/origin-be1/xff.log")" "198.18.9.9, 127.0.0.1" "X-Forwarded-For: the client's address appended"

done_testing
