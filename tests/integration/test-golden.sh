#!/bin/sh
# test-golden.sh - the bytes of `render` for fixed trees are the recorded
# ones (tests/data/golden): a deterministic but unintended change of the
# image format fails here, whatever else still reads the images.
#
# The trees are generated with fixed names, contents, modes, owners and
# times: tests/lib/mktree.sh (the edge cases; needs root for devices,
# owners and trusted xattrs) and tests/tools/mktree-gen (a realistic
# layer; needs root for whiteouts and trusted.overlay.opaque).

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"

requires_root
requires sha256sum
gen=$top_builddir/tests/tools/mktree-gen
[ -x "$gen" ] || fail "$gen is not built"
golden=$top_srcdir/tests/data/golden

mktmpdir
sh "$top_srcdir/tests/lib/mktree.sh" "$tmpdir/edge" --no-big > "$tmpdir/mktree.log" 2>&1 ||
	{ cat "$tmpdir/mktree.log"; fail "mktree.sh failed"; }
if grep -q '^NOTE:' "$tmpdir/mktree.log"; then
	cat "$tmpdir/mktree.log"
	skip "mktree.sh had to leave parts out here; the golden edge tree needs all of it"
fi
"$gen" "$tmpdir/gen3000" 3000 1 > /dev/null || fail "mktree-gen failed"

check() {	# check NAME TREE [RENDER OPTIONS...]
	_name=$1 _tree=$2
	shift 2
	"$LIMG" render -q "$@" -o "$tmpdir/$_name.iso" "$_tree" ||
		fail "render of $_name failed"
	(cd "$tmpdir" && sha256sum "$_name.iso") > "$tmpdir/$_name.sha256"
	if ! cmp -s "$tmpdir/$_name.sha256" "$golden/$_name.sha256"; then
		echo "expected: $(cat "$golden/$_name.sha256")" >&2
		echo "got:      $(cat "$tmpdir/$_name.sha256")" >&2
		fail "$_name.iso changed (if intended, update tests/data/golden and say why)"
	fi
	echo "$_name.iso: $(cut -c1-16 "$tmpdir/$_name.sha256")... as recorded"
}

check edge "$tmpdir/edge"
check edge-noxattrs "$tmpdir/edge" --no-xattrs
check gen3000 "$tmpdir/gen3000"
check gen3000-noxattrs "$tmpdir/gen3000" --no-xattrs
echo "PASS: $testname"
