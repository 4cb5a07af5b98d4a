# bench/lib.sh: what bench/relay/run.sh and bench/tls/run.sh share; sourced
# once they made their temp dir T (mode 755) and the files under $T/www.
#   bench_origin PORT   nginx from Debian on 127.0.0.1:PORT serving $T/www
#                       (1 worker, sendfile, keep-alive without limit, no
#                       access log), pinned on CPU 1; sets ORIGIN_WORKER;
#                       ORIGIN_ADDR (another address) and ORIGIN_NS (a
#                       network namespace to run in) if set
#   cpu_ns PID          CPU time of all the threads of PID, ns (schedstat)
#   softirq1_ns         CPU 1's softirq time, ns (/proc/stat)
#   busy1_ns            CPU 1's time not idle, ns (/proc/stat): proxy, origin and kernel
#   busy_ns [CPU]       the same for every CPU together (or /proc/stat's line CPU)
#   p99_ms              the 99% latency of wrk --latency output on stdin, ms
# Every process a script starts goes into PIDS; the EXIT trap ends them by
# PID (TERM, then KILL) and removes $T.

PIDS=()
bench_cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap bench_cleanup EXIT

bench_origin() { # PORT
	mkdir -p "$T/o"
	cat > "$T/o/nginx.conf" <<CONF
worker_processes 1;
pid $T/o/nginx.pid;
error_log $T/o/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  client_body_temp_path $T/o/cb; proxy_temp_path $T/o/px; fastcgi_temp_path $T/o/fc;
  uwsgi_temp_path $T/o/uw; scgi_temp_path $T/o/sc;
  server { listen ${ORIGIN_ADDR:-127.0.0.1}:$1; root $T/www; }
}
CONF
	${ORIGIN_NS:+ip netns exec "$ORIGIN_NS"} taskset -c 1 nginx -p "$T/o" -c "$T/o/nginx.conf" -e "$T/o/error.log"
	sleep 0.3
	PIDS+=($(cat "$T/o/nginx.pid"))
	ORIGIN_WORKER=$(pgrep -P "$(cat "$T/o/nginx.pid")" | head -1)   # by parent PID: our own worker
	PIDS+=($ORIGIN_WORKER)
}

cpu_ns() { # PID
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'
}

softirq1_ns() { # /proc/stat counts USER_HZ ticks
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu1" { printf "%.0f", $8 * 1e9 / hz }' /proc/stat
}

busy1_ns() { # CPU 1's time not idle (user, nice, system, irq, softirq, steal), ns
	busy_ns cpu1
}

busy_ns() { # [CPU] the time not idle of /proc/stat's line CPU (default cpu: every CPU), ns
	awk -v c="${1:-cpu}" -v hz="$(getconf CLK_TCK)" '$1 == c { printf "%.0f", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / hz }' /proc/stat
}

p99_ms() {
	awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } printf "%.3f", v }'
}
