#!/bin/sh
# test-roundtrip.sh - render the edge-case tree (with the 4 GiB sparse
# file) and check that libisofs and libarchive each read back exactly the
# tree (within their documented quirks). Then prove the checker can fail:
# on a small tree, change one byte / one mode after rendering and expect
# `check` to report exactly that difference.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"

requires_root
mktmpdir

tree=$tmpdir/tree
img=$tmpdir/tree.iso

rc=0
sh "$top_srcdir/tests/lib/mktree.sh" "$tree" --outside-link="$tmpdir/outside" || rc=$?
[ $rc = 77 ] && skip "mktree.sh skipped"
[ $rc = 0 ] || fail "mktree.sh failed ($rc)"

"$LIMG" render "$tree" -o "$img" || fail "render $tree failed"
[ -s "$img" ] || fail "render wrote no image"

for reader in libisofs libarchive; do
	rc=0
	"$LIMG" check --reader=$reader "$img" "$tree" > "$tmpdir/check-$reader.out" || rc=$?
	if [ $rc != 0 ]; then
		head -n 100 "$tmpdir/check-$reader.out" | cut -c1-400
		fail "check --reader=$reader found differences (exit $rc)"
	fi
	tail -n 1 "$tmpdir/check-$reader.out"
done

# ----------------------------------------------------- the checker can fail
small=$tmpdir/small
simg=$tmpdir/small.iso
mkdir "$small"
cp -a "$tree/modes" "$tree/hard" "$tree/links" "$tree/xattrs" "$small/"
mkdir "$small/sizes"
for f in 0 1 2047 2048 2049 1MiB; do
	cp -a "$tree/sizes/$f" "$small/sizes/"
done
touch -h -d @1600000000 "$small/sizes" "$small"

"$LIMG" render "$small" -o "$simg" || fail "render $small failed"
"$LIMG" check "$simg" "$small" > "$tmpdir/small.out" ||
	{ cat "$tmpdir/small.out"; fail "small tree differs before any change"; }

# expect_one_difference READER PATTERN: check must exit 1 with exactly one
# difference line, matching PATTERN (grep -E).
expect_one_difference() {
	rc=0
	"$LIMG" check --reader="$1" "$simg" "$small" > "$tmpdir/neg.out" || rc=$?
	cat "$tmpdir/neg.out"
	[ $rc = 1 ] || fail "check --reader=$1 exited $rc, expected 1"
	n=$(grep -c -v ' difference.* from ' "$tmpdir/neg.out" || true)
	[ "$n" = 1 ] || fail "check --reader=$1 reported $n differences, expected 1"
	grep -E -q "$2" "$tmpdir/neg.out" ||
		fail "check --reader=$1 did not report '$2'"
	grep -q ': 1 difference from ' "$tmpdir/neg.out" ||
		fail "check --reader=$1: no summary line"
}

# One byte of content, same size and mtime.
printf 'Z' | dd of="$small/sizes/2049" bs=1 seek=1000 conv=notrunc status=none
touch -d @1600000000 "$small/sizes/2049"
expect_one_difference libisofs '^sizes/2049: content sha256: expected [0-9a-f]{64}, actual [0-9a-f]{64}$'
expect_one_difference libarchive '^sizes/2049: content sha256: '
cp -a "$tree/sizes/2049" "$small/sizes/2049"

# One mode.
chmod 0600 "$small/modes/f0777"
expect_one_difference libisofs '^modes/f0777: mode: expected 0600, actual 0777$'
expect_one_difference libarchive '^modes/f0777: mode: expected 0600, actual 0777$'
chmod 0777 "$small/modes/f0777"

# One xattr value (libisofs only: libarchive reads no xattrs).
xattr_set=no
if command -v setfattr >/dev/null 2>&1; then
	setfattr -n user.test -v other "$small/xattrs/file" && xattr_set=yes
elif command -v python3 >/dev/null 2>&1; then
	python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.test", b"other")' \
		"$small/xattrs/file" && xattr_set=yes
fi
if [ $xattr_set = yes ]; then
	expect_one_difference libisofs '^xattrs/file: xattr user.test: expected "other", actual "value"$'
	# libarchive cannot see xattrs, so for it the trees are still equal.
	"$LIMG" check --quiet --reader=libarchive "$simg" "$small" ||
		fail "libarchive reader compared xattrs it cannot see"
fi

# One hard link broken: a separate copy with the same content.
cp -p "$small/hard/data2" "$small/hard/data2.tmp"
mv "$small/hard/data2.tmp" "$small/hard/data2"
touch -d @1600000000 "$small/hard"
rc=0
"$LIMG" check "$simg" "$small" > "$tmpdir/neg.out" || rc=$?
cat "$tmpdir/neg.out"
[ $rc = 1 ] || fail "a broken hard link went unnoticed"
grep -q '^hard/data2: hard-link group: expected (none), actual hard/data1$' "$tmpdir/neg.out" ||
	fail "broken hard link not reported on hard/data2"

echo "PASS: $testname"
