#!/bin/sh
# test-external-readers.sh - render the edge-case tree (without the 4 GiB
# file) and let other programs read the image: xorriso (libisofs) must
# find every block readable and list every node without complaint;
# isoinfo (cdrkit) must read the volume descriptors and the Rock Ridge
# listing, and show our names. Each tool is skipped when not installed;
# the test is skipped when none is.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"

requires_root
have_xorriso=no
have_isoinfo=no
command -v xorriso >/dev/null 2>&1 && have_xorriso=yes
command -v isoinfo >/dev/null 2>&1 && have_isoinfo=yes
[ $have_xorriso = yes ] || [ $have_isoinfo = yes ] ||
	skip "neither xorriso nor isoinfo is installed"

mktmpdir
tree=$tmpdir/tree
img=$tmpdir/tree.iso

rc=0
sh "$top_srcdir/tests/lib/mktree.sh" "$tree" --no-big || rc=$?
[ $rc = 77 ] && skip "mktree.sh skipped"
[ $rc = 0 ] || fail "mktree.sh failed ($rc)"
# xorriso's command line stops at ISO paths of 4096 bytes ("Path given for
# file in ISO image is much too long"): the libisofs API reads deeplong/
# (test-roundtrip.sh), the xorriso and isoinfo programs are shown the rest.
rm -rf "$tree/deeplong"
"$LIMG" render "$tree" -o "$img" || fail "render $tree failed"

# Messages of these severities mean xorriso found something wrong.
bad_events='(SORRY|FAILURE|FATAL|ABORT|WARNING) :'
# Except this one: libisofs drops symlinks with targets of 1024 bytes or
# more ("Rock Ridge path too long"), a documented limit of the reader.
known_event='(Error when adding file /links/long4000$|Caused by: Rock Ridge path too long$)'
# Load everything libisofs can (AAIP xattrs of all namespaces, hard
# links), tolerate the known drop, and fail (32) on FAILURE and worse.
xorriso_in="-abort_on FATAL -return_with FAILURE 32 -error_behavior image_loading best_effort -xattr any -hardlinks on -indev"

# xorriso_bad_events FILE: print complaints other than the known one.
xorriso_bad_events() {
	grep -E "$bad_events" "$1" | grep -v -E "$known_event" || true
}

if [ $have_xorriso = yes ]; then
	out=$tmpdir/xorriso-check.out
	rc=0
	xorriso $xorriso_in "$img" -check_media -- > "$out" 2>&1 || rc=$?
	grep -v 'UPDATE :' "$out"
	[ $rc = 0 ] || fail "xorriso -check_media exited $rc"
	[ -z "$(xorriso_bad_events "$out")" ] || fail "xorriso -check_media complained"
	grep -q '^Media region.*+ good' "$out" ||
		fail "xorriso -check_media found no good region"
	# Quality "-" (unreadable, md5 mismatch) or "?" (invalid) is an error.
	! grep -E -q '^Media region *: *[0-9]+ *, *[0-9]+ *, *[-?]' "$out" ||
		fail "xorriso -check_media found bad regions"

	out=$tmpdir/xorriso-lsdl.out
	rc=0
	xorriso $xorriso_in "$img" -find / -exec lsdl -- \
		-getfattr /xattrs/file /xattrs/opaque -- > "$out" 2>&1 || rc=$?
	[ $rc = 0 ] || { tail -n 50 "$out"; fail "xorriso -find -exec lsdl exited $rc"; }
	bad=$(xorriso_bad_events "$out")
	[ -z "$bad" ] || { echo "$bad"; fail "xorriso complained while listing"; }
	for name in /dev/whiteout /hard/sub/wh3 /modes/f4755 /mangle/A.B \
		/mangle/a+b "/mangle/a b" /wide/f19999 /deep/d01/d02/d03; do
		grep -q "'$name'\$" "$out" || fail "xorriso listing lacks $name"
	done
	grep -q "^c.* 0,0 .*'/dev/whiteout'\$" "$out" ||
		fail "xorriso does not show /dev/whiteout as char device 0,0"
	grep -q "^-rwsr-xr-x .*'/modes/f4755'\$" "$out" ||
		fail "xorriso does not show /modes/f4755 as setuid"
	# (Only when mktree.sh could set xattrs.)
	if "$LIMG" check --print "$tree/xattrs" | grep -q 'xattr:user.test=value'; then
		grep -q '^user.test="value"$' "$out" ||
			fail "xorriso does not see user.test"
		grep -q '^trusted.overlay.opaque="y"$' "$out" ||
			fail "xorriso does not see trusted.overlay.opaque"
	fi
	echo "xorriso: $(grep -c "^[-dlcbps][-rwxsStT]\{9\} " "$out") nodes listed"
fi

if [ $have_isoinfo = yes ]; then
	# isoinfo (cdrkit 1.1.11) segfaults in -R listings on symlink targets
	# of about 2.5 KB and more (2492 bytes in one component crashes it),
	# so it reads an image of the tree without links/long4000.
	rm "$tree/links/long4000"
	touch -h -d @1600000000 "$tree/links"
	img=$tmpdir/isoinfo.iso
	"$LIMG" render "$tree" -o "$img" 2>/dev/null ||
		fail "render $tree (without links/long4000) failed"

	out=$tmpdir/isoinfo-d.out
	isoinfo -d -i "$img" > "$out" 2>&1 || { cat "$out"; fail "isoinfo -d failed"; }
	cat "$out"
	grep -q 'CD-ROM is in ISO 9660 format' "$out" || fail "isoinfo -d: not ISO 9660"
	grep -q 'Logical block size is: 2048' "$out" || fail "isoinfo -d: block size"
	grep -q 'Rock Ridge signatures' "$out" || fail "isoinfo -d: no Rock Ridge"

	out=$tmpdir/isoinfo-l.out
	rc=0
	isoinfo -R -l -i "$img" > "$out" 2> "$tmpdir/isoinfo-l.err" || rc=$?
	[ $rc = 0 ] || { cat "$tmpdir/isoinfo-l.err"; fail "isoinfo -R -l exited $rc"; }
	if [ -s "$tmpdir/isoinfo-l.err" ]; then
		head -n 20 "$tmpdir/isoinfo-l.err"
		fail "isoinfo -R -l wrote errors"
	fi
	for name in whiteout f4755 A.B a+b 'a b' f19999 d45 data1 \
		'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'; do
		grep -q -F -- " $name" "$out" || fail "isoinfo listing lacks $name"
	done
	grep -q '^Directory listing of /deep/d01/d02/' "$out" ||
		fail "isoinfo did not descend into /deep"
	echo "isoinfo: $(grep -c '^[-dlcbps][-rwxsStT]\{9\}' "$out") entries listed"
fi

[ $have_xorriso = yes ] || echo "SKIP: $testname: xorriso part (not installed)"
[ $have_isoinfo = yes ] || echo "SKIP: $testname: isoinfo part (not installed)"
echo "PASS: $testname"
