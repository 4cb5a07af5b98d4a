#!/usr/bin/env bash
# Installs every Debian package tandem needs to build, test, run its demo and
# benchmarks. Idempotent: packages already present are left alone. Run as root.
set -euo pipefail

pkgs=(
	build-essential clang llvm libclang-rt-14-dev pkg-config make
	libinih-dev libbpf-dev bpftool linux-libc-dev libelf-dev zlib1g-dev libsystemd-dev
	# HTTPS termination (src/core/tls.c) and the TLS tests' certificates and clients
	libssl-dev openssl
	nginx-light libnginx-mod-http-echo haproxy wrk apache2-utils curl
	iproute2 nftables procps psmisc gnuplot-nox python3 valgrind
	# the man pages, the Debian package and its check (scripts/pkg-check.sh)
	scdoc debhelper dpkg-dev systemd man-db
	# the front ends' BGP announcements (tandem l4 bgp_*, tests/sys/l4_ecmp.t)
	bird2
	# the dashboard's charts (served as /chart.js) and its test in headless
	# Chromium (tests/sys/dash.t)
	libjs-chart.js chromium
	# TX checksum offload off in tests/bpf/test_psplice_e2e (software checksums)
	ethtool
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts nginx, haproxy and BIRD as services on install; tandem's
# tests run their own instances (BIRD inside the lab's namespaces), so the
# system ones are stopped.
for s in nginx haproxy bird; do
	if command -v systemctl >/dev/null && systemctl is-active -q "$s" 2>/dev/null; then
		systemctl stop "$s" || true
	fi
done
