# labtest.sh: the start of a test that builds the emulated cluster
# (lab/lab.sh) in namespaces of its own. Source it after tap.sh, with HERE
# and ROOT set, and call lab_test_init first.

# lab_test_init PREFIX [TOOL...]: LAB_PREFIX (PREFIX and this shell's PID)
# and LAB_STATE for lab.sh, LAB, VIP and TANDEM; skips the whole test unless
# it runs as root, every TOOL is there ("tandem": the binary at $TANDEM), and
# a network namespace can be made.
lab_test_init() {
	export LAB_PREFIX=$1$$
	export LAB_STATE=/tmp/tandem-lab-$LAB_PREFIX
	LAB=$ROOT/lab/lab.sh
	VIP=198.18.0.100
	TANDEM=${TANDEM:-$ROOT/build/tandem}
	shift
	[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, XDP, cgroups)"
	for t in "$@"; do
		if [ "$t" = tandem ]; then
			[ -x "$TANDEM" ] || skip_all "no binary at $TANDEM"
		else
			command -v "$t" >/dev/null || skip_all "$t not installed (scripts/deps.sh installs it)"
		fi
	done
	ip netns add "$LAB_PREFIX-probe" 2>/dev/null || skip_all "cannot create network namespaces"
	ip netns del "$LAB_PREFIX-probe"
}
