# functions.sh - helpers shared by the integration tests; source it:
#
#	. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
#
# The test harness (make check) exports top_srcdir, top_builddir and LIMG
# (the built fuse-layerimg); when a test is run by hand they default to
# the tree the test lives in. Exit 77 means SKIP to automake.
#
#	requires CMD [ARGS...]	skip unless CMD exists (or, with ARGS, the
#				command CMD ARGS succeeds)
#	requires_root		skip unless running as root
#	skip MSG		print "SKIP: ..." on stdout and stderr, exit 77
#	fail MSG		print "FAIL: ..." on stderr, exit 1
#	cleanup_fn CMD [ARGS...]	run CMD ARGS on exit (last registered
#				runs first); the exit status is kept
#	mktmpdir		create a work directory under
#				$top_builddir/tests/tmp/<test>.XXXX, removed on
#				exit unless LIMG_KEEP_TMP=1; sets $tmpdir
#
# POSIX sh (tests run under $(SHELL)).

set -e

testname=$(basename "$0" .sh)
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
LIMG=${LIMG:-$top_builddir/fuse-layerimg}
export top_srcdir top_builddir LIMG
LC_ALL=C
export LC_ALL

skip() {
	echo "SKIP: $testname: $*"
	echo "SKIP: $testname: $*" >&2
	exit 77
}

fail() {
	echo "FAIL: $testname: $*" >&2
	exit 1
}

requires() {
	if [ $# -eq 1 ]; then
		command -v "$1" >/dev/null 2>&1 || skip "'$1' is not installed"
	else
		"$@" >/dev/null 2>&1 || skip "'$*' does not work here"
	fi
}

requires_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

# Quote one word for eval.
_limg_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

_limg_cleanup=
cleanup_fn() {
	_c=
	for _w; do
		_c="$_c $(_limg_quote "$_w")"
	done
	# Newest first.
	_limg_cleanup="$_c
$_limg_cleanup"
}

# When the test started (scripts/test.sh lists the slowest by this).
_limg_t0=$(date +%s)

_limg_run_cleanup() {
	_rc=$?
	set +e
	trap - EXIT INT TERM HUP
	printf '%s\n' "$_limg_cleanup" | while IFS= read -r _line; do
		[ -n "$_line" ] && eval "$_line"
	done
	echo "duration: $testname: $(($(date +%s) - _limg_t0)) s (exit $_rc)"
	exit $_rc
}
trap _limg_run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mktmpdir() {
	mkdir -p "$top_builddir/tests/tmp"
	tmpdir=$(mktemp -d "$top_builddir/tests/tmp/$testname.XXXX")
	if [ "${LIMG_KEEP_TMP:-0}" = 1 ]; then
		echo "$testname: keeping $tmpdir" >&2
	else
		cleanup_fn rm -rf "$tmpdir"
	fi
}

# The program under test must exist.
if [ ! -x "$LIMG" ]; then
	fail "$LIMG is not built"
fi
