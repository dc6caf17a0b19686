#!/bin/sh
# Same tree, same bytes: render twice, and render a copy of the tree that
# lies elsewhere under another directory name; all three images must be
# byte-identical. Then change one mtime and expect different bytes, so the
# comparison is shown able to fail.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"

requires_root
mktmpdir

tree=$tmpdir/tree
rc=0
sh "$top_srcdir/tests/lib/mktree.sh" "$tree" --no-big >/dev/null || rc=$?
[ $rc = 77 ] && skip "mktree.sh skipped"
[ $rc = 0 ] || fail "mktree.sh failed ($rc)"

"$LIMG" render -q "$tree" -o "$tmpdir/a.iso" || fail "first render failed"
"$LIMG" render -q "$tree" > "$tmpdir/b.iso" || fail "second render (to stdout) failed"
cmp "$tmpdir/a.iso" "$tmpdir/b.iso" || fail "two renders of one tree differ"

# The parallel walk builds exactly the tree of the single-threaded one.
"$LIMG" render -q -j 1 "$tree" -o "$tmpdir/j1.iso" || fail "render -j 1 failed"
"$LIMG" render -q -j 4 "$tree" -o "$tmpdir/j4.iso" || fail "render -j 4 failed"
cmp "$tmpdir/j1.iso" "$tmpdir/j4.iso" || fail "single-threaded and 4-thread walks give other bytes"
cmp "$tmpdir/a.iso" "$tmpdir/j1.iso" || fail "render -j 1 differs from the default render"

# A second copy of the same tree, built afresh elsewhere under another
# name: other inode numbers, ctimes and atimes, the same contents. (cp -a
# cannot copy it: some of its paths are longer than PATH_MAX.)
mkdir -p "$tmpdir/elsewhere/deeper"
sh "$top_srcdir/tests/lib/mktree.sh" "$tmpdir/elsewhere/deeper/another-name" --no-big >/dev/null ||
	fail "mktree.sh (copy) failed"
"$LIMG" render -q "$tmpdir/elsewhere/deeper/another-name" -o "$tmpdir/c.iso" ||
	fail "render of the copy failed"
cmp "$tmpdir/a.iso" "$tmpdir/c.iso" || fail "a copy of the tree in another place gives other bytes"
echo "two renders and a copy elsewhere: $(stat -c %s "$tmpdir/a.iso") identical bytes"

# No wall-clock time anywhere: render again a second later.
sleep 1
"$LIMG" render -q "$tree" -o "$tmpdir/d.iso"
cmp "$tmpdir/a.iso" "$tmpdir/d.iso" || fail "rendering later gives other bytes"

# The comparison can fail: one mtime changed, other bytes.
touch -h -d @1234567890 "$tmpdir/elsewhere/deeper/another-name/sizes/1"
"$LIMG" render -q "$tmpdir/elsewhere/deeper/another-name" -o "$tmpdir/e.iso"
if cmp -s "$tmpdir/a.iso" "$tmpdir/e.iso"; then
	fail "changing an mtime did not change the image"
fi
echo "PASS: determinism"
