#!/usr/bin/env bash
# pkg-check.sh: tandem as a Debian package, end to end. `make install` and
# `make uninstall` into a scratch DESTDIR (an existing cluster file kept);
# then `make deb`, `apt-get install` of build/tandem_VERSION_ARCH.deb,
# `tandem -t` on the installed examples and /etc/tandem/cluster.ini,
# the logrotate file in place,
# `man -w` for both pages, `systemd-analyze verify` on the installed units
# (their Documentation= man pages included), and `apt-get purge`, after
# which no file of the package may remain. Each step says ok or why not;
# the first failure stops the run, and the package is purged on any exit.
# Run as root from anywhere in the tree (CI: .ci/run). It refuses to run
# where a tandem package is already installed: it removes only what it put
# there.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "pkg-check: $*"; }
fail() { echo "pkg-check: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (apt-get install, /lib/systemd/system)"
for c in dpkg-buildpackage scdoc systemd-analyze man apt-get; do
	command -v "$c" >/dev/null || fail "$c missing: scripts/deps.sh installs it"
done
if dpkg-query -W -f='${Status}' tandem 2>/dev/null | grep -q 'installed'; then
	fail "a tandem package is installed already; remove it first (this check purges its own)"
fi

tmp=$(mktemp -d /tmp/tandem-pkg.XXXXXX)
installed=0
cleanup() {
	local rc=$?
	if [ "$installed" = 1 ]; then
		step "cleanup: purging the package after a failure"
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q tandem >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

# --- make install / uninstall, into a scratch root ---------------------
d=$tmp/root
make -s install DESTDIR="$d" PREFIX=/usr >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "make install DESTDIR=$d PREFIX=/usr"; }
# every conf/*.ini is an example: a new one is installed without an edit here
want=$( { printf '%s\n' etc/logrotate.d/tandem etc/tandem/cluster.ini \
	lib/systemd/system/tandem-l4.service lib/systemd/system/tandem-l7@.service \
	usr/sbin/tandem usr/share/man/man5/tandem.ini.5 usr/share/man/man8/tandem.8
	for f in conf/*.ini; do echo "usr/share/doc/tandem/examples/${f#conf/}"; done; } | sort)
got=$(cd "$d" && find . -type f | sed 's|^\./||' | sort)
[ "$got" = "$want" ] || fail "make install put $(echo $got), want $(echo $want)"
grep -q '^ExecStart=/usr/sbin/tandem l7 -c /etc/tandem/cluster.ini --node %i$' \
	"$d/lib/systemd/system/tandem-l7@.service" || fail "tandem-l7@.service: ExecStart not substituted"
echo '; edited' >>"$d/etc/tandem/cluster.ini"
make -s install DESTDIR="$d" PREFIX=/usr >"$tmp/install.log" 2>&1 || fail "make install (again)"
grep -q '^; edited$' "$d/etc/tandem/cluster.ini" || fail "make install overwrote an existing cluster file"
make -s uninstall DESTDIR="$d" PREFIX=/usr >"$tmp/install.log" 2>&1 || fail "make uninstall"
got=$(cd "$d" && find . -type f | sed 's|^\./||')
[ "$got" = "etc/tandem/cluster.ini" ] || fail "make uninstall left $(echo $got)"
cp conf/cluster.ini "$d/etc/tandem/cluster.ini"
make -s uninstall DESTDIR="$d" PREFIX=/usr >"$tmp/install.log" 2>&1 || fail "make uninstall (again)"
[ -z "$(cd "$d" && find . -type f)" ] || fail "make uninstall kept an unedited cluster file"
step "make install/uninstall (DESTDIR, PREFIX=/usr): $(wc -l <<< "$want") files, an edited cluster file kept: ok"

# --- the package --------------------------------------------------------
version=$(sed -n 's/^#define TANDEM_VERSION "\(.*\)"/\1/p' src/ctl/ctl.h)
deb=build/tandem_${version}_$(dpkg --print-architecture).deb
rm -f "$deb"
t0=$(date +%s)
make deb >"$tmp/deb.log" 2>&1 || { tail -30 "$tmp/deb.log"; fail "make deb"; }
[ -f "$deb" ] || fail "make deb made no $deb"
step "make deb: $deb, $(stat -c %s "$deb") bytes, $(($(date +%s) - t0)) s: ok"
step "  Depends: $(dpkg-deb -f "$deb" Depends)"

installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$deb" >"$tmp/apt.log" 2>&1 ||
	{ tail -20 "$tmp/apt.log"; fail "apt-get install ./$deb"; }
dpkg-query -W -f='${Status}' tandem | grep -q 'install ok installed' || fail "dpkg does not list tandem as installed"
mapfile -t files < <(dpkg -L tandem | while read -r f; do [ -d "$f" ] || echo "$f"; done)
step "apt-get install ./$deb: ${#files[@]} files: ok"

[ "$(command -v tandem)" = /usr/sbin/tandem ] || fail "tandem is not /usr/sbin/tandem on PATH"
v=$(tandem --version)
[ "$v" = "tandem $version" ] || fail "tandem --version says '$v', want 'tandem $version'"
n=0
for f in /usr/share/doc/tandem/examples/*.ini /etc/tandem/cluster.ini; do
	out=$(tandem -t -c "$f" 2>&1) || fail "tandem -t -c $f: $out"
	step "  $out"
	n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "no example installed under /usr/share/doc/tandem/examples"
step "tandem -t on $n installed cluster files: ok"
grep -q "systemctl kill -s USR1 --kill-whom=main 'tandem-l7@\*.service'" /etc/logrotate.d/tandem ||
	fail "/etc/logrotate.d/tandem missing, or it signals no tandem-l7@ unit"
step "/etc/logrotate.d/tandem: ok"

for p in tandem tandem.ini; do
	w=$(man -w "$p" 2>&1) || fail "man -w $p: $w"
	step "  man -w $p: $w"
done
step "man pages found: ok"

units=(/lib/systemd/system/tandem-l4.service /lib/systemd/system/tandem-l7@.service)
for u in "${units[@]}"; do [ -f "$u" ] || fail "$u not installed"; done
# verify exits 0 on mere warnings (an unknown key, a bad value): any output fails
out=$(systemd-analyze verify "${units[@]}" tandem-l7@be1.service 2>&1) && [ -z "$out" ] ||
	fail "systemd-analyze verify: ${out:-exit status not 0}"
step "systemd-analyze verify tandem-l4.service tandem-l7@.service tandem-l7@be1.service: ok"

DEBIAN_FRONTEND=noninteractive apt-get purge -y -q tandem >"$tmp/apt.log" 2>&1 ||
	{ tail -20 "$tmp/apt.log"; fail "apt-get purge tandem"; }
installed=0
if dpkg-query -W -f='${Status}' tandem 2>/dev/null | grep -q 'installed'; then
	fail "dpkg still lists tandem after the purge"
fi
left=()
for f in "${files[@]}"; do [ -e "$f" ] && left+=("$f"); done
[ -e /etc/tandem ] && left+=(/etc/tandem)
[ ${#left[@]} -eq 0 ] || fail "left after the purge: ${left[*]}"
step "apt-get purge tandem: none of its ${#files[@]} files left, /etc/tandem gone: ok"
step "all ok"
