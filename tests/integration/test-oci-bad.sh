#!/bin/sh
# test-oci-bad.sh - hostile and broken tar blobs in an OCI image layout,
# made by hand (tests/lib/mktar.py, tests/lib/oci.sh; no engines):
# a truncated gzip blob, a damaged tar header, a blob whose sha256 is not
# its name, a manifest naming a missing blob, a member larger than the
# archive, a gzip bomb (beyond the configured bound; served without it),
# an index that names itself; and, served with the documented fix-ups,
# ".." and absolute names (cleaned, never above the root), duplicate
# entries (the later wins), hard links to missing or later targets (left
# out); all as docs/TAR.md says.
#
# Each case is a layout holding a good image beside the bad one, mounted
# in the foreground with its log kept. For each: the good image is still
# served and reads right; the bad layer is refused (listed, but reading it
# fails with EIO) or fixed up as documented; the log names the blob (and
# the entry); the layout is unchanged (sha256 of every file, stat of every
# entry, before and after); nothing is written outside the cache
# directory (the test's directory listed before and after, the daemon's
# TMPDIR empty). Then the same small tars plain, gzip'd and zstd'd give
# the same image (render), empty files included. About 10 s.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"
. "$top_srcdir/tests/lib/oci.sh"
set -u

requires_mount
requires python3
requires jq
requires bsdtar
requires gzip
requires sha256sum
mktmpdir

errors=0
check() {	# check DESCRIPTION COMMAND...: count a failure, go on
	_chk=$1
	shift
	if ! "$@"; then
		echo "FAIL: $testname: $_chk" >&2
		errors=$((errors + 1))
	fi
	return 0
}
eq() { [ "$1" = "$2" ] || { echo "  expected '$2'" >&2; echo "  got      '$1'" >&2; return 1; }; }
hex() { echo "${1#sha256:}"; }

T=$tmpdir/tars
mkdir -p "$T"
for c in good good2 paths dup hardlinks corrupt oversize bomb truncated changed empties; do
	python3 "$top_srcdir/tests/lib/mktar.py" $c "$T/$c.tar" || fail "mktar.py $c failed"
done
gzip -n -c "$T/good.tar" > "$T/good.tar.gz"
gzip -n -c "$T/good2.tar" > "$T/good2.tar.gz"
mv "$T/bomb.tar" "$T/bomb.tar.gz"
mv "$T/truncated.tar" "$T/truncated.tar.gz"

# The option that bounds what one blob may decompress to.
bound_opt=tar_max
"$LIMG" mount --help 2>&1 | grep -q -- "-o $bound_opt=SIZE" ||
	check "'fuse-layerimg mount --help' documents -o $bound_opt=SIZE" false

# new_layout NAME: a layout with the good image (tag "good"); sets L,
# good_layer, good_config.
new_layout() {
	L=$tmpdir/layouts/$1
	limg_oci_layout_new "$L"
	limg_oci_image "$L" good "$T/good.tar.gz"
	good_layer=$(hex "$oci_layers")
	good_config=$(hex "$oci_config")
}

# tree_sums DIR: every entry's stat and every file's sha256.
tree_sums() {
	find "$1" -printf '%p %y %s %m %T@ %C@ %i\n' | sort
	find "$1" -type f -exec sha256sum {} + | sort
}
# outside_cache: everything under $tmpdir but the caches, the mount
# point and this test's own files (work/, the logs).
outside_cache() {
	(cd "$tmpdir" && find . -mindepth 1 \( -path ./cache -o -path ./mnt -o -path ./work \
		-o -name '*.log' \) -prune -o -printf '%p %y %s %T@\n') | sort
}
# wait_ready MNT [SECS]: 0 once every image is laid out; 1 after SECS
# (default 60), or at once when images are pending but for 3 s nothing
# was queued, settling, running or building (the workers are off).
wait_ready() {
	_wr=0
	_idle=0
	while [ $_wr -lt $(( ${2:-60} * 10 )) ]; do
		eval "$(awk '$1 ~ /^[a-z_]+$/ && $2 ~ /^[0-9.]+$/ { printf "_s_%s=%s\n", $1, $2 }' "$1/.stats" 2>/dev/null)"
		[ "${_s_images_pending:-x}" = 0 ] && [ "${_s_queue_length:-x}" = 0 ] && return 0
		if [ "${_s_queue_length:-0}${_s_queue_settling:-0}${_s_queue_running:-0}${_s_images_building:-0}" = 0000 ]; then
			_idle=$((_idle + 1))
			[ $_idle -lt 30 ] || break
		else
			_idle=0
		fi
		sleep 0.1
		_wr=$((_wr + 1))
	done
	sed 's/^/  /' "$1/.stats" >&2
	return 1
}

M=$tmpdir/mnt
W=$tmpdir/work
mkdir -p "$M" "$W" "$tmpdir/daemon-tmp"
cleanup_fn limg_umount_quiet "$M"

# mount_case NAME [OPTS]: mount $L on $M in the foreground, log in
# $W/NAME.log; the daemon's TMPDIR is $tmpdir/daemon-tmp.
mount_case() {
	_log=$W/$1.log
	tree_sums "$L" > "$W/layout.before"
	outside_cache > "$W/outside.before"
	env TMPDIR="$tmpdir/daemon-tmp" "$LIMG" -f -o workers=1,cache_dir="$tmpdir/cache/$1"${2:+,$2} \
		"$L" "$M" > "$_log" 2>&1 &
	_pid=$!
	_i=0
	until mountpoint -q "$M" 2>/dev/null; do
		_i=$((_i + 1))
		if [ $_i -ge 100 ] || ! kill -0 $_pid 2>/dev/null; then
			sed 's/^/  | /' "$_log" >&2
			fail "$1: the mount did not come up"
		fi
		sleep 0.1
	done
	# Background layouts: checked once (the cases read on demand).
	if [ -z "${precompute_checked:-}" ]; then
		precompute_checked=yes
		wait_ready "$M" 15 || check "$1: the background workers lay out every image within 15 s" false
	fi
}

# good_served NAME: the good image is served, whole and right.
good_served() {
	check "$1: the good layer $good_layer.iso is served" test -f "$M/$good_layer.iso"
	check "$1: the good layer reads right" eq \
		"$(bsdtar -xOf "$M/$good_layer.iso" good/hello 2>&1)" "hello from good"
	check "$1: the good layer reads to its end" sh -c "cat '$M/$good_layer.iso' > /dev/null"
	check "$1: images/$good_config/rootfs.iso reads" \
		sh -c "cat '$M/images/$good_config/rootfs.iso' > /dev/null"
	check "$1: tags/good -> images/$good_config" eq \
		"$(readlink -f "$M/tags/good")" "$(cd "$M/images/$good_config" 2>/dev/null && pwd -P)"
}

# refused NAME HEX: the layer blob HEX is not served (docs/TAR.md,
# "Refused blobs"): it is listed, as a layer of the store, but opening or
# reading it fails with EIO.
refused() {
	if head -c 2048 "$M/$2.iso" > /dev/null 2>&1; then
		check "$1: the bad layer $2.iso is refused" false
	fi
	check "$1: reading the refused layer $2.iso gives EIO" sh -c \
		"head -c 2048 '$M/$2.iso' 2>&1 >/dev/null | grep -q 'Input/output error'"
}

# umount_case NAME PATTERN...: unmount; the log holds every PATTERN
# (fixed strings); the layout and everything outside the cache unchanged.
umount_case() {
	_n=$1
	shift
	cat "$M/.stats" > "$W/$_n.stats" 2>/dev/null || check "$_n: .stats reads" false
	ls -R "$M" > /dev/null 2>&1 || check "$_n: ls -R of the mount" false
	fusermount3 -u "$M" || fail "$_n: cannot unmount"
	wait $_pid || check "$_n: the daemon exited 0" false
	for _pat; do
		grep -q -F -- "$_pat" "$_log" ||
			{ sed 's/^/  | /' "$_log" >&2; check "$_n: the log names '$_pat'" false; }
	done
	tree_sums "$L" > "$W/layout.after"
	cmp -s "$W/layout.before" "$W/layout.after" ||
		{ diff "$W/layout.before" "$W/layout.after" | head | sed 's/^/  /' >&2
		  check "$_n: the layout is unchanged" false; }
	outside_cache > "$W/outside.after"
	cmp -s "$W/outside.before" "$W/outside.after" ||
		{ diff "$W/outside.before" "$W/outside.after" | head | sed 's/^/  /' >&2
		  check "$_n: nothing written outside the cache directory" false; }
	check "$_n: nothing left in the daemon's TMPDIR" eq "$(ls -A "$tmpdir/daemon-tmp")" ""
	echo "$testname: $_n: done"
}

# listing IMAGE: "path type" per entry, as libarchive reads IMAGE.
listing() {
	"$LIMG" check --print --reader=libarchive "$1" 2>/dev/null | awk '$1 != "." { print $1, $2 }' | sort
}

# ------------------------------------------------------------- refused layers
# bad_layer NAME BLOB ENTRY: the layout with the good image and an image
# "bad" of BLOB; the layer is refused, the log names it and ENTRY (the
# entry at fault, or the last one read).
bad_layer() {
	new_layout "$1"
	limg_oci_image "$L" bad "$2"
	_bad=$(hex "$oci_layers")
	mount_case "$1"
	good_served "$1"
	refused "$1" "$_bad"
	umount_case "$1" "$_bad" "$3"
}
bad_layer truncated-gzip "$T/truncated.tar.gz" t/data
bad_layer corrupt-header "$T/corrupt.tar" c/first
bad_layer member-past-end "$T/oversize.tar" o/huge

# A blob that is not its digest: named as good2.tar, holding changed.tar.
new_layout digest-mismatch
limg_oci_image "$L" bad "$T/good2.tar"
bad=$(hex "$oci_layers")
cp "$T/changed.tar" "$L/blobs/sha256/$bad"
mount_case digest-mismatch
good_served digest-mismatch
refused digest-mismatch "$bad"
umount_case digest-mismatch "$bad" digest

# A manifest naming a blob that is not there.
new_layout missing-blob
limg_oci_image "$L" bad "$T/good2.tar.gz"
bad=$(hex "$oci_layers")
bad_config=$(hex "$oci_config")
rm "$L/blobs/sha256/$bad"
mount_case missing-blob
good_served missing-blob
check "missing-blob: no layer image of the missing blob" test ! -e "$M/$bad.iso"
if [ -e "$M/images/$bad_config/rootfs.iso" ] && head -c 2048 "$M/images/$bad_config/rootfs.iso" >/dev/null 2>&1; then
	check "missing-blob: the image on the missing blob is not served" false
fi
umount_case missing-blob "$bad"

# An index that names itself (a cycle cannot hash right: the blob is
# named by a digest that is not its own).
new_layout index-cycle
cyc=$(printf 'limg index cycle' | sha256sum | cut -c1-64)
jq -nc --arg d "sha256:$cyc" '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
	manifests: [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: 200}]}' \
	> "$L/blobs/sha256/$cyc"
limg_oci_index_add "$L" "sha256:$cyc" application/vnd.oci.image.index.v1+json \
	"$(wc -c < "$L/blobs/sha256/$cyc")" cycle
mount_case index-cycle
good_served index-cycle
check "index-cycle: no tags/cycle" test ! -e "$M/tags/cycle"
umount_case index-cycle "$cyc"

# A gzip bomb: 64 MiB of zeros in 64 KiB, with a bound of 16 MiB.
new_layout gzip-bomb
limg_oci_image "$L" bad "$T/bomb.tar.gz"
bomb=$(hex "$oci_layers")
mount_case gzip-bomb "$bound_opt=16M"
good_served gzip-bomb
refused gzip-bomb "$bomb"
umount_case gzip-bomb "$bomb" $((16 << 20))
# Under the default bound the same blob is an ordinary layer.
mount_case gzip-bomb-default
check "gzip bomb, default bound: served" eq \
	"$(bsdtar -xOf "$M/$bomb.iso" bomb/zeros 2>/dev/null | wc -c)" $((64 << 20))
umount_case gzip-bomb-default

# ------------------------------------------------------------- fixed-up layers
# ".." and absolute names: cleaned, never above the root (as containerd
# extracts), each clamped one named in the log.
new_layout paths
limg_oci_image "$L" paths "$T/paths.tar"
p=$(hex "$oci_layers")
mount_case paths
good_served paths
listing "$M/$p.iso" > "$W/paths.got"
for f in escape-dotdot abs/escape-abs b/cleaned c/d escape-deep; do
	grep -q "^$f reg\$" "$W/paths.got" || { sed 's/^/  /' "$W/paths.got" >&2; check "paths: $f in the image" false; }
done
check "paths: no '..' and no absolute name in the image" eq \
	"$(grep -E '(^|/)\.\.(/| )|^/' "$W/paths.got" || true)" ""
check "paths: ../../escape-dotdot reads" eq "$(bsdtar -xOf "$M/$p.iso" escape-dotdot 2>&1)" dotdot
for f in "$tmpdir/../escape-dotdot" "$tmpdir/../../escape-dotdot" /escape-dotdot /abs /escape-deep; do
	check "paths: nothing made at $f" test ! -e "$f"
done
# Only what had to be clamped is named (a/../b stays inside the layer).
check "paths: a/../b/cleaned is not said to point outside the layer" \
	sh -c "! grep -F \"'a/../b/cleaned' points outside\" '$W/paths.log'"
umount_case paths "../../escape-dotdot" "e/../../../escape-deep"

# Duplicates: the later entry wins, for a file and for a directory.
new_layout dup
limg_oci_image "$L" dup "$T/dup.tar"
p=$(hex "$oci_layers")
mount_case dup
good_served dup
check "dup: the later dup/file wins (content)" eq \
	"$(bsdtar -xOf "$M/$p.iso" dup/file 2>&1)" "second, the later one"
"$LIMG" check --print "$M/$p.iso" > "$W/dup.print" 2>&1 || true
check "dup: the later dup/file wins (mode)" grep -q '^dup/file reg mode=0600 ' "$W/dup.print"
check "dup: the later dup/ wins (mode)" grep -q '^dup dir mode=0750 ' "$W/dup.print"
check "dup: dup/file once" eq "$(grep -c '^dup/file ' "$W/dup.print")" 1
umount_case dup

# Hard links: to a missing name and to a later name, left out (named in
# the log); to an earlier name, a hard link.
new_layout hardlinks
limg_oci_image "$L" hardlinks "$T/hardlinks.tar"
p=$(hex "$oci_layers")
mount_case hardlinks
good_served hardlinks
listing "$M/$p.iso" > "$W/hl.got"
printf '%s\n' "hl dir" "hl/fine reg" "hl/later reg" | sort > "$W/hl.want"
cmp -s "$W/hl.want" "$W/hl.got" ||
	{ diff -u "$W/hl.want" "$W/hl.got" | sed 's/^/  /' >&2; check "hardlinks: the entries served (- expected, + image)" false; }
"$LIMG" check --print "$M/$p.iso" > "$W/hl.print" 2>&1 || true
hl_group() { sed -n "s|^hl/$1 .* link=\([^ ]*\).*|\1|p" "$W/hl.print"; }
check "hardlinks: hl/fine is a hard link of hl/later" eq "$(hl_group fine)+$(hl_group later)" "hl/fine+hl/fine"
# (libarchive reads the data under the first name only: read hl/fine.)
check "hardlinks: hl/later's data" eq "$(bsdtar -xOf "$M/$p.iso" hl/fine 2>&1)" later
check "hardlinks: hl/later's sha256 (libisofs)" grep -q \
	"^hl/later reg .* sha256=$(printf 'later\n' | sha256sum | cut -c1-64)" "$W/hl.print"
umount_case hardlinks hl/to-missing hl/to-later

# ------------------------------------------------------------- any compression
# The same tar, plain, gzip'd or zstd'd, is the same image (render: the
# same image service and planner as the mount; -k: the hard links left
# out do not stop it).
have_zstd=no
command -v zstd >/dev/null 2>&1 && have_zstd=yes
for c in good dup hardlinks paths empties; do
	gzip -n -c "$T/$c.tar" > "$W/$c.tar.gz"
	"$LIMG" render -q -k "$T/$c.tar" -o "$W/$c.plain.iso" 2>/dev/null || check "render $c.tar" false
	"$LIMG" render -q -k "$W/$c.tar.gz" -o "$W/$c.gzip.iso" 2>/dev/null || check "render $c.tar.gz" false
	check "$c: the gzip blob's image = the plain tar's" cmp "$W/$c.plain.iso" "$W/$c.gzip.iso"
	if [ $have_zstd = yes ]; then
		zstd -q -c "$T/$c.tar" > "$W/$c.tar.zst"
		"$LIMG" render -q -k "$W/$c.tar.zst" -o "$W/$c.zstd.iso" 2>/dev/null || check "render $c.tar.zst" false
		check "$c: the zstd blob's image = the plain tar's" cmp "$W/$c.plain.iso" "$W/$c.zstd.iso"
	fi
done
[ $have_zstd = yes ] || echo "SKIP: $testname: zstd blobs (zstd is not installed)"
# Empty files of a compressed blob are not hard links of each other.
"$LIMG" check --print "$W/empties.gzip.iso" > "$W/empties.print" 2>&1 || true
check "empties: no hard links in the gzip blob's image" eq \
	"$(grep ' link=' "$W/empties.print" | cut -d' ' -f1 | tr '\n' ' ')" ""

[ $errors = 0 ] || fail "$errors checks failed"
echo "PASS: $testname"
