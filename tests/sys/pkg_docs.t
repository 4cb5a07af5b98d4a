#!/usr/bin/env bash
# pkg_docs.t: the man pages and units say what the code does. Every key
# cfg.c parses is documented in tandem.ini(5) under its section, and no
# other (scripts/man-keys.py; shown to fail on a page missing a key and on
# a parser with a new one); every option of tandem l7 and tandem l4 is in
# tandem(8); both pages build with scdoc; the systemd units pass
# `systemd-analyze verify` (with this tree's binary as ExecStart); every
# conf/*.ini passes tandem -t; debian/changelog has tandem's version.
# Needs no root; scdoc and systemd-analyze are skipped where missing.
source "$(dirname "$0")/tap.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TANDEM=${TANDEM:-$ROOT/build/tandem}
T=$(mktemp -d /tmp/tandem-docs.XXXXXX)
trap 'rm -rf "$T"' EXIT
SCD=$ROOT/doc/man/tandem.ini.5.scd

out=$(python3 "$ROOT/scripts/man-keys.py" 2>&1)
rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 0 "every key cfg.c parses is in tandem.ini.5.scd under its section, and no other"

# the check bites: a page without a key, a parser with a key more
grep -v '^\*kernel_min\* =' "$SCD" > "$T/missing.scd"
out=$(python3 "$ROOT/scripts/man-keys.py" "$ROOT/src/core/cfg.c" "$T/missing.scd" 2>&1)
rc=$?
ok $(( rc == 1 && $(grep -c '\[l7\] kernel_min: parsed by cfg.c, not documented' <<< "$out") == 1 ? 0 : 1 )) \
	"man-keys.py fails on a page without [l7] kernel_min, naming it"
sed 's/if (!strcmp(k, "weight"))/if (!strcmp(k, "bogus_key")) return 0;\n\tif (!strcmp(k, "weight"))/' \
	"$ROOT/src/core/cfg.c" > "$T/cfg.c"
out=$(python3 "$ROOT/scripts/man-keys.py" "$T/cfg.c" "$SCD" 2>&1)
rc=$?
ok $(( rc == 1 && $(grep -c '\[node\] bogus_key: parsed by cfg.c, not documented' <<< "$out") == 1 ? 0 : 1 )) \
	"man-keys.py fails on a parser with a new [node] key, naming it"

# every option of the roles, as the code declares them, is in tandem(8)
missing=()
for o in $(sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", [a-z_]*argument.*/\1/p' "$ROOT/src/l7/l7_main.c"); do
	grep -q -- "--$o" "$ROOT/doc/man/tandem.8.scd" || missing+=("l7 --$o")
done
n7=$(sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", [a-z_]*argument.*/\1/p' "$ROOT/src/l7/l7_main.c" | wc -l)
for getopt in $(sed -n 's/.*getopt[_a-z]*(argc, argv, "\([^"]*\)".*/\1/p' "$ROOT/src/l7/l7_main.c" \
		"$ROOT/src/l4/l4_main.c" | tr -d ':'); do
	for ((i = 0; i < ${#getopt}; i++)); do
		grep -q -- "\*-${getopt:i:1}\*" "$ROOT/doc/man/tandem.8.scd" || missing+=("-${getopt:i:1}")
	done
done
ok $(( ${#missing[@]} == 0 && n7 >= 4 ? 0 : 1 )) "every option of tandem l7 ($n7 long) and tandem l4 is in tandem.8.scd"
[ ${#missing[@]} -eq 0 ] || diag "not in tandem.8.scd: ${missing[*]}"

if command -v scdoc >/dev/null; then
	for p in tandem.8 tandem.ini.5; do
		err=$(scdoc < "$ROOT/doc/man/$p.scd" 2>&1 > "$T/$p")
		ok $(( $? == 0 && $(wc -c < "$T/$p") > 2000 ? 0 : 1 )) "scdoc builds $p"
		[ -z "$err" ] || diag "$err"
	done
else
	skip "scdoc not installed (scripts/deps.sh installs it)"
fi

if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	for u in "$ROOT"/dist/systemd/*.service.in; do
		sed -e "s|@SBINDIR@|$(dirname "$TANDEM")|g" -e "s|@SYSCONFDIR@|$T/etc|g" "$u" \
			> "$T/units/$(basename "${u%.in}")"
	done
	left=$(grep -l '@[A-Z]*@' "$T"/units/* 2>/dev/null)
	is "$left" "" "no @PLACEHOLDER@ left in the units but SBINDIR and SYSCONFDIR"
	# --man=no: the pages are not installed here; verify exits 0 on
	# warnings (unknown key, bad value), so any output fails
	out=$(cd "$T/units" && systemd-analyze verify --man=no ./tandem-l4.service \
		./tandem-l7@.service ./tandem-l7@be1.service 2>&1)
	rc=$?
	[ -z "$out" ] || while IFS= read -r l; do diag "$l"; done <<< "$out"
	ok $(( rc == 0 && ${#out} == 0 ? 0 : 1 )) "systemd-analyze verify: tandem-l4.service, tandem-l7@.service, an instance"
else
	skip "systemd-analyze not installed"
fi

bad=()
for f in "$ROOT"/conf/*.ini; do
	"$TANDEM" -t -c "$f" > /dev/null 2> "$T/err" || bad+=("$(cat "$T/err")")
done
ok ${#bad[@]} "every conf/*.ini passes tandem -t"
for b in "${bad[@]}"; do diag "$b"; done

v_src=$(sed -n 's/^#define TANDEM_VERSION "\(.*\)"/\1/p' "$ROOT/src/ctl/ctl.h")
v_deb=$(sed -n '1s/^tandem (\([^)]*\)).*/\1/p' "$ROOT/debian/changelog")
is "$v_deb" "$v_src" "debian/changelog's version is TANDEM_VERSION (the .deb's name)"
is "$("$TANDEM" --version)" "tandem $v_src" "tandem --version"

done_testing
