#!/bin/sh
# mk-seeds.sh - (re)make the seed corpora of the fuzz harnesses,
# tests/data/fuzz/<harness>/ (see the README there for what each is).
#
#	tests/fuzz/mk-seeds.sh BUILDDIR [ENGINES]
#
# BUILDDIR: a build tree with fuse-layerimg and the harnesses
# (tests/fuzz/build.sh BUILDDIR). ENGINES: the kept work directory of
# tests/integration/test-engines-fixture.sh (run it with LIMG_KEEP_TMP=1):
# the engines' metadata (Docker, containers-storage, an OCI layout, an
# oci-archive, a docker-archive, containerd's databases) become seeds too;
# without it those seeds are left as they are. Needs python3, zstd, GNU
# tar, genisoimage, xorriso, setfattr (scripts/install-deps.sh).
# Deterministic but for the engines' own ids and times, and the time
# genisoimage writes into its image.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILDDIR [ENGINES]" >&2; exit 2; }
build=$(cd "$1" && pwd)
engines=${2:-}
data=$srcdir/tests/data/fuzz
LIMG=$build/fuse-layerimg
py=$here/mk-seeds.py

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in persist bolt store-meta store-blobs tar check layout-hints; do
	mkdir -p "$data/$h"
done
# clean DIR [PATTERN]: remove the seeds made here, never a regression input
# nor a cache file with a head (headed-*: written by a mount, which this
# script does not make; a layer of 600 files under one cache_dir, read once)
clean() {
	for _f in "$1"/${2:-*}; do
		case ${_f##*/} in
		regress-* | headed-*) ;;
		*) rm -f "$_f" ;;
		esac
	done
}

# ---- tar: layer blobs (tests/lib/mktar.py's cases and more)
clean "$data/tar"
python3 "$py" tars "$data/tar"
# GNU tar's own sparse members, both encodings, and one gzip-compressed.
mkdir -p "$tmp/sp/sparse"
printf 'head' > "$tmp/sp/sparse/file"
printf 'tail' | dd of="$tmp/sp/sparse/file" bs=1 seek=1048572 conv=notrunc 2>/dev/null
printf 'middle' | dd of="$tmp/sp/sparse/file" bs=1 seek=409600 conv=notrunc 2>/dev/null
(cd "$tmp/sp" && tar --sparse --format=gnu --mtime=@1600000000 --owner=0 --group=0 \
	-cf "$data/tar/sparse-gnu.tar" sparse)
(cd "$tmp/sp" && tar --sparse --format=pax --mtime=@1600000000 --owner=0 --group=0 \
	--pax-option=delete=atime,delete=ctime -cf "$tmp/sparse-pax.tar" sparse)
# GNU tar names the member GNUSparseFile.<its pid>/file: the pid becomes 0s
python3 - "$tmp/sparse-pax.tar" "$data/tar/sparse-pax.tar" <<'EOF'
import re, sys
b = bytearray(open(sys.argv[1], "rb").read())
for off in range(0, len(b) - 512, 512):
    m = re.match(rb"[^\0]*GNUSparseFile\.(\d+)/", bytes(b[off:off + 100]))
    if m and b[off + 257:off + 262] == b"ustar":
        b[off + m.start(1):off + m.end(1)] = b"0" * (m.end(1) - m.start(1))
        b[off + 148:off + 156] = b" " * 8
        b[off + 148:off + 155] = b"%06o\0" % sum(b[off:off + 512])
open(sys.argv[2], "wb").write(b)
EOF
cp "$data/tar/sparse-pax.tar" "$tmp/sparse-pax.tar"
gzip -n -9 < "$tmp/sparse-pax.tar" > "$data/tar/sparse-pax.tar.gz"

# ---- persist: cache files, the should-fail corpus and persist.c's own
clean "$data/persist"
cp "$srcdir"/tests/data/should-fail/cache/*.tree "$data/persist/"
mkdir -p "$tmp/trees"
LIMG_FUZZ_KEEP_TREES=$tmp/trees "$build/fuzz/fuzz-tar" "$data"/tar/* >/dev/null 2>&1
for f in "$tmp"/trees/*.tree; do
	cp "$f" "$data/persist/scanned-$(basename "$f" | cut -c1-16).tree"
done

# ---- check: images from block 16 on (the harness adds the system area)
strip16() { tail -c +32769 "$1" > "$2"; }
t=$tmp/iso
mkdir -p "$t/edge/dir/sub" "$t/deep"
printf 'hello\n' > "$t/edge/hello"
ln "$t/edge/hello" "$t/edge/dir/hard"
ln -s hello "$t/edge/link"
ln -s "$(printf '%0300d' 0)" "$t/edge/longlink"
: > "$t/edge/$(printf 'n%.0s' $(seq 1 200))"
mkfifo "$t/edge/fifo"
mknod "$t/edge/null" c 1 3
mknod "$t/edge/.wh-like" c 0 0
printf 'x' > "$t/edge/dir/sub/caf$(printf '\351')"
setfattr -n user.fuzz -v yes "$t/edge/hello" 2>/dev/null || true
setfattr -n trusted.overlay.opaque -v y "$t/edge/dir" 2>/dev/null || true
d=$t/deep
for i in $(seq 1 12); do d=$d/d$i; done
mkdir -p "$d"
printf 'deep\n' > "$d/leaf"
find "$t" -exec touch -h -d @1000000000 {} +
clean "$data/check"
for tree in edge deep; do
	"$LIMG" render "$t/$tree" -o "$tmp/$tree.iso" >/dev/null
	strip16 "$tmp/$tree.iso" "$data/check/render-$tree.iso16"
done
"$LIMG" render "$data/tar/small.tar.gz" -o "$tmp/tar.iso" >/dev/null
strip16 "$tmp/tar.iso" "$data/check/render-tar.iso16"
genisoimage -quiet -no-pad -R -J -o "$tmp/g.iso" "$t/edge" 2>/dev/null
strip16 "$tmp/g.iso" "$data/check/genisoimage-edge.iso16"
SOURCE_DATE_EPOCH=1000000000 xorriso -as mkisofs -quiet -no-pad -R -o "$tmp/x.iso" "$t/deep" 2>/dev/null
strip16 "$tmp/x.iso" "$data/check/xorriso-deep.iso16"

# ---- layout-hints: the harness's own tree's hints and splices of them
clean "$data/layout-hints"
LIMG_FUZZ_WRITE_SEEDS=$data/layout-hints "$build/fuzz/fuzz-layout-hints" >/dev/null 2>&1

# ---- bolt: databases, cut to their high-water mark (the rest is unused)
cut_bolt() {	# cut_bolt IN OUT
	python3 - "$1" "$2" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
ps = struct.unpack_from("<I", b, 24)[0]
hw = max(struct.unpack_from("<Q", b, off + 56)[0] for off in (0, ps))
open(sys.argv[2], "wb").write(b[:hw * ps])
EOF
}
clean "$data/bolt" "fixture-*"
cut_bolt "$srcdir/tests/data/bolt/meta.db" "$data/bolt/fixture-meta.db"
cut_bolt "$srcdir/tests/data/bolt/snapshots.db" "$data/bolt/fixture-snapshots.db"
# meta 0 damaged: the reader falls back to meta 1, the commit before
python3 - "$data/bolt/fixture-meta.db" "$data/bolt/fixture-meta0-damaged.db" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[16:20] = b"\0\0\0\0"
open(sys.argv[2], "wb").write(b)
EOF

# ---- stores: hand-made ones; with ENGINES, the engines' own
rm -f "$data"/store-meta/hand-* "$data"/store-blobs/hand-*
python3 "$py" hand "$data"
if [ -n "$engines" ]; then
	clean "$data/store-meta" "engine-*"
	clean "$data/store-blobs" "engine-*"
	clean "$data/bolt" "engine-*"
	python3 "$py" docker "$engines/d/root" "$data/store-meta/engine-docker.layout"
	python3 "$py" cstorage "$engines/cs/root" "$data/store-meta/engine-cstorage.layout"
	python3 "$py" oci "$engines/oci" "$data/store-blobs/engine-oci.layout"
	python3 "$py" oci "$engines/image.oci.tar" "$data/store-blobs/engine-oci-archive.layout" \
		--archive
	python3 "$py" docker-archive "$engines"/*.docker.tar \
		"$data/store-blobs/engine-docker-archive.layout" \
		"$data/store-blobs/engine-docker-archive.tar"
	cut_bolt "$engines/c/root/io.containerd.metadata.v1.bolt/meta.db" \
		"$data/bolt/engine-containerd-meta.db"
	cut_bolt "$engines/c/root/io.containerd.snapshotter.v1.overlayfs/metadata.db" \
		"$data/bolt/engine-containerd-snapshots.db"
	# Nothing of this host: the engines ran in temporary directories.
	if grep -rlE "$engines|/tmp/" "$data" >/dev/null 2>&1; then
		echo "$0: a seed names a temporary directory of this host:" >&2
		grep -rlE "$engines|/tmp/" "$data" >&2
		exit 1
	fi
fi
for h in persist bolt store-meta store-blobs tar check layout-hints; do
	printf '%-12s %3d seeds, %7d bytes\n' "$h" "$(ls "$data/$h" | wc -l)" \
		"$(cat "$data/$h"/* | wc -c)"
done
