#!/bin/sh
# test-cli.sh - command-line error handling of render and check: missing
# and wrong arguments, inputs that are not what they should be, --help,
# and (as root, via setpriv) a source file the renderer cannot read.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"

mktmpdir
out=$tmpdir/out
err=$tmpdir/err

# run EXPECTED_STATUS CMD...: run CMD with stdout in $out, stderr in $err,
# fail unless it exits with EXPECTED_STATUS ("nonzero" accepts any but 0).
run() {
	_want=$1
	shift
	_rc=0
	"$@" > "$out" 2> "$err" || _rc=$?
	case $_want in
	nonzero) [ $_rc != 0 ] && return 0 ;;
	*) [ $_rc = "$_want" ] && return 0 ;;
	esac
	echo "--- stdout:"; cat "$out"; echo "--- stderr:"; cat "$err"
	fail "'$*' exited $_rc, expected $_want"
}

# mentions FILE TEXT: fail unless FILE contains TEXT (fixed string).
mentions() {
	grep -q -F -- "$2" "$1" || {
		cat "$1"
		fail "expected '$2' in $(basename "$1")"
	}
}

mkdir "$tmpdir/tree"
echo hello > "$tmpdir/tree/file"
echo not an image > "$tmpdir/notiso"

# ------------------------------------------------------------- render
run nonzero "$LIMG" render "$tmpdir/missing-dir" -o "$tmpdir/x.iso"
mentions "$err" "$tmpdir/missing-dir"
[ ! -e "$tmpdir/x.iso" ] || fail "render of a missing dir left an image behind"

run nonzero "$LIMG" render "$tmpdir/notiso" -o "$tmpdir/x.iso"
mentions "$err" "$tmpdir/notiso"

run 0 "$LIMG" render --help
mentions "$out" "Usage"
mentions "$out" "render"

run nonzero "$LIMG" render
[ -s "$err" ] || fail "render without arguments printed no message"

run 0 "$LIMG" render "$tmpdir/tree" -o "$tmpdir/tree.iso"
[ -s "$tmpdir/tree.iso" ] || fail "render wrote no image"

# ------------------------------------------------------------- check
run 0 "$LIMG" check "$tmpdir/tree.iso" "$tmpdir/tree"
mentions "$out" "equal"

run 0 "$LIMG" check --help
mentions "$out" "Usage: fuse-layerimg check"
mentions "$out" "libarchive"

run 1 "$LIMG" check "$tmpdir/notiso" "$tmpdir/tree"
mentions "$err" "fuse-layerimg check: $tmpdir/notiso: not an ISO 9660 image"

run 1 "$LIMG" check --reader=libarchive "$tmpdir/notiso" "$tmpdir/tree"
mentions "$err" "not an ISO 9660 image"

run 1 "$LIMG" check "$tmpdir/no-such.iso" "$tmpdir/tree"
mentions "$err" "$tmpdir/no-such.iso"

run 1 "$LIMG" check "$tmpdir/tree.iso" "$tmpdir/no-such-dir"
mentions "$err" "$tmpdir/no-such-dir"

run 2 "$LIMG" check
run 2 "$LIMG" check "$tmpdir/tree.iso"
run 2 "$LIMG" check "$tmpdir/tree.iso" "$tmpdir/tree" extra
run 2 "$LIMG" check --reader=nosuch "$tmpdir/tree.iso" "$tmpdir/tree"
mentions "$err" "nosuch"
run 2 "$LIMG" check --no-such-option "$tmpdir/tree.iso" "$tmpdir/tree"

run 0 "$LIMG" check --print "$tmpdir/tree.iso"
mentions "$out" "file reg mode=0644"

# A different tree: exit 1, the difference on stdout.
echo changed > "$tmpdir/tree/file"
run 1 "$LIMG" check "$tmpdir/tree.iso" "$tmpdir/tree"
mentions "$out" "file: content sha256"
mentions "$out" "difference"
run 1 "$LIMG" check --quiet "$tmpdir/tree.iso" "$tmpdir/tree"
[ ! -s "$out" ] || fail "check --quiet printed something"

# ------------------------------------------------------ unreadable source
# Root reads everything, so run render as nobody on a tree with a 0000
# file inside a world-readable directory.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 &&
	id nobody >/dev/null 2>&1; then
	ngroup=$(id -gn nobody)
	chmod 0755 "$tmpdir"
	mkdir -p "$tmpdir/unreadable/dir" "$tmpdir/outdir"
	echo secret > "$tmpdir/unreadable/dir/secret"
	chmod 0000 "$tmpdir/unreadable/dir/secret"
	chmod 0777 "$tmpdir/outdir"
	if setpriv --reuid=nobody --regid="$ngroup" --clear-groups \
		test -r "$tmpdir/unreadable/dir"; then
		run nonzero setpriv --reuid=nobody --regid="$ngroup" --clear-groups \
			"$LIMG" render "$tmpdir/unreadable" -o "$tmpdir/outdir/u.iso"
		mentions "$err" "secret"
	else
		echo "SKIP: $testname: unreadable-file part ($tmpdir not reachable by nobody)"
	fi
else
	echo "SKIP: $testname: unreadable-file part (needs root, setpriv and user nobody)"
fi

echo "PASS: $testname"
