# tap.sh: Test Anything Protocol helpers for system tests written in bash.
# Source it; call ok/is/skip_all; end with done_testing.
TAP_N=0
TAP_FAILED=0

ok() { # ok COND_STATUS DESCRIPTION
	local st=$1; shift
	TAP_N=$((TAP_N + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $TAP_N - $*"
	else
		echo "not ok $TAP_N - $*"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
	return "$st"
}

is() { # is GOT WANT DESCRIPTION
	local got=$1 want=$2; shift 2
	if [ "$got" = "$want" ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		echo "#   got '$got', want '$want'"
		return 1
	fi
}

diag() { echo "# $*"; }

skip() { # skip REASON: one test, skipped (its precondition did not hold)
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N # SKIP $*"
}

skip_all() { echo "1..0 # SKIP $*"; exit 0; }

done_testing() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}
