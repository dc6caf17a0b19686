#!/bin/sh
# Quick start: install dependencies, build, render a demo layer as an
# ISO 9660 + Rock Ridge image and verify it with two independent readers.
#
# Usage: scripts/demo.sh [LAYER_DIR]
#   LAYER_DIR  a layer to render (default: a generated demo layer)
set -eu

cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -x ./fuse-layerimg ] || [ ! -f Makefile ]; then
	./autogen.sh >/dev/null
	./configure -q
fi
make -j"$(nproc)" >/dev/null

work=$(mktemp -d /tmp/limg-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

layer=${1:-}
if [ -z "$layer" ]; then
	layer="$work/layer"
	mkdir -p "$layer/etc" "$layer/usr/bin" "$layer/var/empty"
	printf 'demo\n' > "$layer/etc/hostname"
	printf 'root:x:0:0:root:/root:/bin/sh\n' > "$layer/etc/passwd"
	head -c 300000 /dev/urandom > "$layer/usr/bin/tool"
	chmod 4755 "$layer/usr/bin/tool"
	ln -s ../usr/bin/tool "$layer/etc/tool-link"
	ln -s /etc/shadow "$layer/etc/escape"
	ln "$layer/etc/passwd" "$layer/etc/passwd-hardlink"
	mkfifo "$layer/var/fifo"
	if [ "$(id -u)" = 0 ]; then
		mknod "$layer/etc/deleted-file" c 0 0   # an overlay whiteout
		chown 100000:100000 "$layer/var/empty"
	fi
fi

echo "== render $layer"
./fuse-layerimg render "$layer" -o "$work/layer.iso"
ls -l "$work/layer.iso"
echo "== listing through libisofs (xorriso)"
xorriso -indev "$work/layer.iso" -find / -exec lsdl -- 2>/dev/null | head -40
echo "== check with libisofs"
./fuse-layerimg check --reader=libisofs "$work/layer.iso" "$layer"
echo "== check with libarchive"
./fuse-layerimg check --reader=libarchive "$work/layer.iso" "$layer"
