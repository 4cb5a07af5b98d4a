# origin.sh: sourced by the L7 system tests. Starts real Debian nginx origins
# and tandem l7 processes on loopback in a private temp dir, and ends all of
# them by PID on exit, pass or fail.
#   origin_start NAME PORT     nginx answering with "X-Origin: NAME"; /slow/X
#                              answers after $ORIGIN_DELAY_NAME seconds (echo module)
#   origin_kill NAME           SIGKILL its worker (the master is stopped too)
#   tandem_start FILE NODE     tandem l7 in the background, waits for /metrics
#   metric NAME_WITH_LABELS ADMIN_PORT
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

TANDEM=${TANDEM:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/tandem}
T=$(mktemp -d /tmp/tandem-sys.XXXXXX)
chmod 755 "$T"
PIDS=()
declare -A ORIGIN_PID

cleanup() {
	exec 2>/dev/null        # no "Killed" job notices in the TAP stream
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for n in "${!ORIGIN_PID[@]}"; do
		local m=${ORIGIN_PID[$n]}
		kill -QUIT "$m" 2>/dev/null
	done
	sleep 0.2
	for n in "${!ORIGIN_PID[@]}"; do kill -KILL "${ORIGIN_PID[$n]}" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

[ -x "$TANDEM" ] || { echo "Bail out! no tandem binary at $TANDEM"; exit 1; }
command -v nginx >/dev/null || skip_all "nginx is not installed"

# A base port per test process, so tests never collide with each other.
BASE=$(( 20000 + ($$ % 250) * 50 ))   # below the ephemeral range (32768+)

make_files() {
	mkdir -p "$T/www/chunked"
	python3 - "$T/www" <<'PY'
import os, random, sys
d = sys.argv[1]
r = random.Random(7)
for name, n in [("0", 0), ("1", 1), ("1k", 1024), ("16k", 16384), ("256k", 262144),
                ("1m", 1 << 20), ("4m", 4 << 20), ("64m", 64 << 20)]:
    with open(os.path.join(d, name), "wb") as f:
        left = n
        while left:
            k = min(left, 1 << 20)
            f.write(r.randbytes(k))
            left -= k
with open(os.path.join(d, "chunked", "text"), "w") as f:
    f.write("".join("line %d of a text body that nginx sub_filters\n" % i for i in range(40000)))
PY
	chmod -R a+rX "$T/www"
}

origin_start() { # NAME PORT
	local name=$1 port=$2 d=$T/origin-$1
	mkdir -p "$d/up"
	chmod 777 "$d" "$d/up"
	local echo_mod="" slow=""
	if [ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ]; then
		echo_mod="load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;"
		local dvar=ORIGIN_DELAY_$name
		slow="location /slow/ { echo_sleep ${!dvar:-0}; echo \$uri; }"
	fi
	cat > "$d/nginx.conf" <<CONF
$echo_mod
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 4096; }
http {
  access_log $d/access.log;
  sendfile on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path $d/cb; proxy_temp_path $d/px; fastcgi_temp_path $d/fc;
  uwsgi_temp_path $d/uw; scgi_temp_path $d/sc;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    root $T/www;
    add_header X-Origin $name always;
    location = /204 { return 204; }
    location /chunked/ { sub_filter_types *; sub_filter 'zzzz' 'y'; sub_filter_once off; }
    $slow
    location /up/ { root $d; dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 0; }
  }
}
CONF
	nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" || return 1
	for _ in $(seq 50); do [ -s "$d/nginx.pid" ] && break; sleep 0.05; done
	ORIGIN_PID[$name]=$(cat "$d/nginx.pid")
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$port/0" && return 0
		sleep 0.05
	done
	return 1
}

origin_workers() { pgrep -P "${ORIGIN_PID[$1]}"; }

origin_kill() { # NAME: the whole origin, worker first
	local w
	w=$(origin_workers "$1")
	kill -KILL ${ORIGIN_PID[$1]} $w 2>/dev/null
	unset "ORIGIN_PID[$1]"
}

access_lines() { cat "$T"/origin-*/access.log 2>/dev/null | wc -l; }

tandem_start() { # FILE NODE ADMIN_PORT
	"$TANDEM" l7 -c "$1" --node "$2" >> "$T/tandem-$2.log" 2>&1 &
	PIDS+=($!)
	TANDEM_PID=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$3/metrics" && return 0
		sleep 0.05
	done
	echo "# tandem did not start:"; sed 's/^/#   /' "$T/tandem-$2.log"
	return 1
}

metric() { # 'name{labels}' ADMIN_PORT
	curl -s "http://127.0.0.1:$2/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}
