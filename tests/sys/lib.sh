# lib.sh: sourced by the l7_*.t system tests. Owns one private temp dir, the
# real Debian nginx origins and the tandem l7 processes a test starts on
# 127.0.0.1, and ends every one of them by PID on exit, pass or fail.
#   port                       the next free port of this test's block
#   origin_start NAME PORT     nginx (1 worker) adding "X-Origin: NAME"; see below
#   origin_stop NAME           SIGKILL its master and worker (a crash, mid-response)
#   access_count [NAME]        request lines in one origin's access log, or in all
#   tandem_start CONF NODE     tandem l7 in the background; waits for its l7 and
#                              admin ports; sets TANDEM_PID, L7_PORT, ADMIN_PORT;
#                              TANDEM_WRAP (words) runs it under a tool that
#                              keeps the PID, e.g. valgrind
#   tandem_stop [PID]          SIGTERM and wait; STOP_RC: its exit status (124: hung)
#   metric 'name{labels}' [ADMIN_PORT]   one value ('' when absent)
#   metric_sum PREFIX [ADMIN_PORT]       sum of every series starting with PREFIX
#   wait_for SECONDS CMD...    retry CMD every 0.1 s until it succeeds
#   tls_cert NAME CN [DAYS]    a self-signed P-256 certificate for CN (and its SAN)
#                              in $T/NAME.crt and its key in $T/NAME.key (openssl)
# Every origin also listens on the unix socket $T/origin-NAME/http.sock (its
# access log then says "unix:" where the client's address goes).
# Every origin serves the same tree $T/www: /0 /1 /1k /16k /256k /1m /4m /64m
# (fixed pseudo-random bytes), /204, /chunked/text (answered chunked to
# HTTP/1.1: sub_filter drops Content-Length), /chunked/big (/64m, chunked), /xff (echoes what the switch
# sent: X-Forwarded-For|Host|Connection|X-Foo|Keep-Alive), /slow/N (echo module: N seconds,
# then a body), /slow/body/FILE and /slow/chunked/FILE (the same at 8 MB/s:
# an origin killed a moment after the head is surely mid-body, whatever the
# engine buffers), and /up/ (DAV PUT into $T/up, shared by all origins, so a
# body PUT through one origin can be fetched back through any).
# ORIGIN_KA_TIMEOUT and ORIGIN_KA_REQUESTS override nginx's keepalive_timeout
# and keepalive_requests for the next origin_start. IN_NS runs the next
# origin, tandem_start's waits and metric in that network namespace (nginx
# then also listens on ORIGIN_LISTEN:PORT; tandem goes in with TANDEM_WRAP).
SYS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$SYS_DIR/tap.sh"

ROOT=$(cd "$SYS_DIR/../.." && pwd)
TANDEM=${TANDEM:-$ROOT/build/tandem}
SAN=${SAN:-0}
# Sanitizer builds are several times slower: stretch every wait by this.
SLOW=1
[ "$SAN" = 1 ] && SLOW=4
# The engines' loops run packet-level splicing too, except under the
# sanitizers (relay_packet.t and l7_bodies.t run it there): CI's time
PACKET=packet
[ "$SAN" = 1 ] && PACKET=""
[ "$SAN" = 1 ] && [ "${0##*/}" = l7_bodies.t ] && PACKET=packet
export PYTHONPATH=$SYS_DIR${PYTHONPATH:+:$PYTHONPATH}

T=$(mktemp -d /tmp/tandem-l7.XXXXXX)
chmod 755 "$T"
PIDS=()                 # tandem and helper processes
declare -A ORIGIN_PID   # NAME -> nginx master
declare -A ORIGIN_WPID  # NAME -> nginx worker(s), space separated
declare -A ORIGIN_PORTS # NAME -> port

cleanup() {
	local p n pids=()
	exec 2>/dev/null        # no "Terminated" job notices in the TAP stream
	[ -n "${PY_PID:-}" ] && PIDS+=("$PY_PID")      # a py_start script still running
	for p in "${PIDS[@]}"; do kill -TERM "$p"; done
	for n in "${!ORIGIN_PID[@]}"; do
		kill -TERM "${ORIGIN_PID[$n]}"   # nginx: fast shutdown
		pids+=("${ORIGIN_PID[$n]}" ${ORIGIN_WPID[$n]})
	done
	pids+=("${PIDS[@]}")
	for _ in $(seq 30); do
		local alive=0
		for p in "${pids[@]}"; do alive "$p" && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}"; do alive "$p" && kill -KILL "$p"; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ -x "$TANDEM" ] || { echo "Bail out! no tandem binary at $TANDEM (run make)"; exit 1; }
for t in nginx curl python3; do
	command -v $t >/dev/null || PATH=$PATH:/usr/sbin
	command -v $t >/dev/null || skip_all "$t is not installed"
done

# A block of 60 ports per test process, below the ephemeral range (32768+)
# so a client's source port never takes one; derived from $$ and moved on
# while any port of the block is held by a socket in any state (a TIME_WAIT
# left by an earlier test on the same block fails a bind without
# SO_REUSEADDR).
PORT_BLOCK=60
port_block_free() { # FIRST
	! ss -Htan 2>/dev/null | awk '{ print $4 }' | sed 's/.*://' |
		awk -v a="$1" -v b=$(($1 + PORT_BLOCK)) '$1 >= a && $1 < b { f = 1 } END { exit !f }'
}
BASE=$((12000 + ($$ % 100) * PORT_BLOCK))
for _ in $(seq 100); do
	port_block_free $BASE && break
	BASE=$((12000 + ((BASE - 12000) / PORT_BLOCK + 1) % 100 * PORT_BLOCK))
done
NEXT_PORT=$BASE
port() { echo $NEXT_PORT; }   # use: P=$(port); next_port
next_port() { NEXT_PORT=$((NEXT_PORT + 1)); }
alloc_port() { # VAR: assigns the next port of the block to VAR
	printf -v "$1" %d $NEXT_PORT
	NEXT_PORT=$((NEXT_PORT + 1))
}

wait_for() { # SECONDS CMD...: 0 once CMD succeeds, 1 after SECONDS * SLOW
	local n=$(( $1 * SLOW * 10 )); shift
	for _ in $(seq $n); do "$@" && return 0; sleep 0.1; done
	return 1
}

alive() { # PID: running (a zombie child is not)
	kill -0 "$1" 2>/dev/null && [ "$(awk '{ print $3 }' /proc/$1/stat 2>/dev/null)" != Z ]
}

tcp_open() { # PORT: 0 when something accepts on 127.0.0.1:PORT (in namespace $IN_NS when set)
	if [ -n "${IN_NS:-}" ]; then
		ip netns exec "$IN_NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

in_ns() { # CMD...: CMD in namespace $IN_NS when set
	if [ -n "${IN_NS:-}" ]; then ip netns exec "$IN_NS" "$@"; else "$@"; fi
}

# The served tree, generated once per test with a fixed seed: the same bytes
# on every origin and in every run.
make_files() {
	[ -d "$T/www" ] && return 0
	mkdir -p "$T/www/chunked" "$T/up"
	python3 - "$T/www" <<'PY'
import os, random, sys
d = sys.argv[1]
r = random.Random(20240521)
for name, n in [("0", 0), ("1", 1), ("1k", 1024), ("16k", 16384), ("256k", 262144),
                ("1m", 1 << 20), ("4m", 4 << 20), ("64m", 64 << 20)]:
    with open(os.path.join(d, name), "wb") as f:
        left = n
        while left:
            k = min(left, 1 << 22)
            f.write(r.randbytes(k))
            left -= k
with open(os.path.join(d, "chunked", "text"), "w") as f:
    f.write("".join("line %d: a text body that nginx answers chunked\n" % i for i in range(60000)))
PY
	ln -s ../64m "$T/www/chunked/big"   # 64 MiB answered chunked
	chmod -R a+rX "$T/www"
	chmod 777 "$T/up"
}

origin_start() { # NAME PORT
	local name=$1 port=$2 d=$T/origin-$1 user="" echo_mod="" slow=""
	make_files
	mkdir -p "$d"
	chmod 777 "$d"
	[ "$(id -u)" = 0 ] && user="user root;"
	if [ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ]; then
		echo_mod="load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;"
		slow='location ~ ^/slow/([0-9.]+)$ { default_type text/plain; echo_sleep $1; echo "slept $1"; }'
	fi
	cat > "$d/nginx.conf" <<CONF
$echo_mod
$user
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 4096; }
http {
  log_format l7 '\$remote_addr \$connection/\$connection_requests "\$request" \$status \$body_bytes_sent "\$http_x_forwarded_for"';
  access_log $d/access.log l7;
  sendfile on;
  keepalive_requests ${ORIGIN_KA_REQUESTS:-100000};
  keepalive_timeout ${ORIGIN_KA_TIMEOUT:-75s};
  client_body_temp_path $d/cb; proxy_temp_path $d/px; fastcgi_temp_path $d/fc;
  uwsgi_temp_path $d/uw; scgi_temp_path $d/sc;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    listen unix:$d/http.sock;
    ${ORIGIN_LISTEN:+listen $ORIGIN_LISTEN:$port;}
    root $T/www;
    add_header X-Origin $name always;
    location = /204 { return 204; }
    location = /xfp { default_type text/plain; return 200 "\$http_x_forwarded_proto\n"; }
    location = /xff { default_type text/plain; return 200 "\$http_x_forwarded_for|\$http_host|\$http_connection|\$http_x_foo|\$http_keep_alive\n"; }
    location /chunked/ { default_type text/plain; sub_filter_types *; sub_filter 'zzzz' 'y'; sub_filter_once off; }
    location /slow/body/ { alias $T/www/; limit_rate 8m; }
    location /slow/chunked/ { alias $T/www/chunked/; default_type text/plain; sub_filter_types *; sub_filter 'zzzz' 'y'; sub_filter_once off; limit_rate 8m; }
    location /up/ { root $T; dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 0; }
    $slow
  }
}
CONF
	rm -f "$d/nginx.pid" "$d/http.sock"     # a restarted origin binds it anew
	in_ns /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" 2>> "$d/start.log" || {
		echo "# nginx $name did not start:"; sed 's/^/#   /' "$d/start.log" "$d/error.log"; return 1; }
	wait_for 5 test -s "$d/nginx.pid" || return 1
	ORIGIN_PID[$name]=$(cat "$d/nginx.pid")
	ORIGIN_PORTS[$name]=$port
	wait_for 5 tcp_open "$port" || return 1
	# pgrep by parent PID only: this test's own nginx workers. The master
	# listens before it forks them: wait for one, or origin_stop would
	# kill the master alone and leave a worker serving on the port
	wait_for 5 eval '[ -n "$(pgrep -P "${ORIGIN_PID[$name]}")" ]' || return 1
	ORIGIN_WPID[$name]=$(pgrep -P "${ORIGIN_PID[$name]}" | tr '\n' ' ')
}

origin_stop() { # NAME: SIGKILL, worker and master, as in a crash
	local name=$1 p
	# the master first: killed after its worker, it may see the worker
	# die and fork a new one, which would go on serving the port
	kill -KILL "${ORIGIN_PID[$name]}" ${ORIGIN_WPID[$name]} 2>/dev/null
	# gone, or a zombie (nginx's parent is init, which may take a second or
	# two to reap it: its sockets are closed already)
	for p in ${ORIGIN_WPID[$name]} "${ORIGIN_PID[$name]}"; do
		wait_for 5 eval "! alive $p"
	done
	unset "ORIGIN_PID[$name]" "ORIGIN_WPID[$name]"
}

access_count() { # [NAME]
	if [ -n "${1:-}" ]; then
		cat "$T/origin-$1/access.log" 2>/dev/null | wc -l
	else
		cat "$T"/origin-*/access.log 2>/dev/null | wc -l
	fi
}

ini_get() { # FILE SECTION KEY: the value, comments and blanks stripped
	awk -v sec="[$2]" -v key="$3" '
		{ sub(/[;#].*/, ""); gsub(/^[ \t]+|[ \t]+$/, "") }
		/^\[/ { in_s = ($0 == sec); next }
		in_s { k = $0; sub(/[ \t]*=.*/, "", k); if (k == key) { v = $0; sub(/^[^=]*=[ \t]*/, "", v); print v; exit } }
	' "$1"
}

tandem_start() { # CONF NODE
	local conf=$1 node=$2 l7 adm log=$T/tandem-$2.log
	l7=$(ini_get "$conf" "node $node" l7)
	adm=$(ini_get "$conf" "node $node" admin)
	L7_PORT=${l7##*:}; ADMIN_PORT=${adm##*:}
	# shellcheck disable=SC2086
	${TANDEM_WRAP:-} "$TANDEM" l7 ${TANDEM_ARGS:-} -c "$conf" --node "$node" >> "$log" 2>&1 &
	TANDEM_PID=$!
	PIDS+=($TANDEM_PID)
	if wait_for 10 eval "tcp_open $L7_PORT || ! alive $TANDEM_PID" &&
	   alive $TANDEM_PID &&
	   { [ -z "$ADMIN_PORT" ] || wait_for 10 tcp_open "$ADMIN_PORT"; }; then
		return 0
	fi
	echo "# tandem l7 --node $node did not start (conf $conf):"
	sed 's/^/#   /' "$log" | tail -20
	return 1
}

tandem_stop() { # [PID]: SIGTERM and wait (in this shell, not a subshell: only
	# the parent can collect the status); sets STOP_RC, 124 when it did not exit
	local p=${1:-$TANDEM_PID}
	kill -TERM "$p" 2>/dev/null
	if wait_for 10 eval "! alive $p"; then
		wait "$p" 2>/dev/null
		STOP_RC=$?
	else
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		STOP_RC=124
	fi
}

# The files SEQ names (sizes of $T/www), fetched in turn over one
# keep-alive connection to URL: bodies in $T/got.NN.SIZE, response heads in
# $T/heads, "connects code" a line per request in $T/w; prints
# "CONNECTS:OKS" (connections opened, 200s)
fetch_seq() { # URL SEQ...
	local u=$1 i=0 s
	shift
	rm -f "$T"/got.* "$T/k"
	for s in "$@"; do
		i=$((i + 1))
		printf 'url = "%s/%s"\noutput = "%s/got.%02d.%s"\n' "$u" "$s" "$T" $i "$s" >> "$T/k"
	done
	curl -s --http1.1 --max-time 120 -K "$T/k" -D "$T/heads" -w '%{num_connects} %{http_code}\n' > "$T/w"
	echo "$(awk '{ c += $1 } END { print c }' "$T/w"):$(awk '$2 == 200' "$T/w" | wc -l)"
}

# How many of fetch_seq's bodies differ from their file (SUM[SIZE] holds
# each file's sha); says which in a comment
bad_bodies() { # LABEL
	local f s bad=0
	for f in "$T"/got.*; do
		s=${f##*.}
		[ "$(sha "$f")" = "${SUM[$s]}" ] || { bad=$((bad + 1)); echo "# $1: body of /$s differs ($(stat -c %s "$f") bytes)" >&2; }
	done
	echo $bad
}

metric() { # 'name{labels}' [ADMIN_PORT]
	in_ns curl -s --max-time 5 "http://127.0.0.1:${2:-$ADMIN_PORT}/metrics" |
		awk -v k="$1" '$1 == k { print $2; exit }'
}

metric_sum() { # PREFIX [ADMIN_PORT]: sum over every series whose name starts with PREFIX
	in_ns curl -s --max-time 5 "http://127.0.0.1:${2:-$ADMIN_PORT}/metrics" |
		awk -v k="$1" 'index($1, k) == 1 && $1 !~ /^#/ { s += $2 } END { printf "%d\n", s }'
}

# py_checks PREFIX SCRIPT [ARGS...]: runs a python3 script (stdin) that prints
# one line per check, "description<TAB>got<TAB>want", and turns each into a
# TAP test; a script that dies, or prints no check, is a failure of its own.
py_checks() {
	py_start "$@"
	py_wait
}

# py_start PREFIX SCRIPT [ARGS...]: the same script started in the background,
# for a test that does something else while it runs; py_wait waits for it
# and turns its lines into TAP tests. One such script at a time.
py_start() {
	PY_PREFIX=$1 PY_OUT=$T/py.$RANDOM; shift
	cat > "$PY_OUT.py"
	timeout $((120 * SLOW)) python3 - "$@" < "$PY_OUT.py" > "$PY_OUT" 2> "$PY_OUT.err" &
	PY_PID=$!
}

py_wait() {
	local rc desc got want n=0
	wait "$PY_PID"
	rc=$?
	PY_PID=""
	while IFS=$'\t' read -r desc got want; do
		n=$((n + 1))
		is "$got" "$want" "$PY_PREFIX$desc"
	done < "$PY_OUT"
	if [ $rc != 0 ] || [ $n = 0 ]; then
		ok 1 "${PY_PREFIX}python checks ran to the end (status $rc, $n checks)"
		sed 's/^/#   /' "$PY_OUT.err" | tail -15
	fi
}

sha() { sha256sum "$@" | cut -c1-64; }

tls_cert() { # NAME CN [DAYS]
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$T/$1.key" -out "$T/$1.crt" -days "${3:-2}" -subj "/CN=$2" \
		-addext "subjectAltName=DNS:$2" 2>/dev/null
}

# tls_subject PORT [SNI]: the CN of the certificate the server at PORT shows
tls_subject() {
	timeout 10 openssl s_client -connect "127.0.0.1:$1" ${2:+-servername "$2"} < /dev/null 2>/dev/null |
		openssl x509 -noout -subject -nameopt multiline 2>/dev/null | awk '/commonName/ { print $3 }'
}

# cluster_ini FILE RELAY NODE=WEBPORT[:L7PORT:ADMINPORT]... [-- EXTRA [l7] LINES]
# ([l7] workers = $WORKERS, default 1)
cluster_ini() {
	local f=$1 relay=$2; shift 2
	{
		printf '[cluster]\nrelay = %s\n[l7]\nworkers = %s\n' "$relay" "${WORKERS:-1}"
		# packet splicing on loopback only: nothing on the host's own NICs
		[ "$relay" = packet ] && printf 'splice_ifaces = lo\n'
		local specs=() x
		while [ $# -gt 0 ] && [ "$1" != -- ]; do specs+=("$1"); shift; done
		[ "${1:-}" = -- ] && shift
		for x in "$@"; do echo "$x"; done
		for x in "${specs[@]}"; do
			local name=${x%%=*} rest=${x#*=}
			IFS=: read -r w l a <<< "$rest"
			printf '[node %s]\nweb = 127.0.0.1:%s\n' "$name" "$w"
			[ -n "$l" ] && printf 'l7 = 127.0.0.1:%s\n' "$l"
			[ -n "$a" ] && printf 'admin = 127.0.0.1:%s\n' "$a"
		done
	} > "$f"
}
