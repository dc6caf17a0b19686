#!/bin/sh
# Quick start: install dependencies, build, mount a layer store with
# fuse-layerimg, list the images and verify one with two independent ISO
# readers.
#
# Usage: scripts/demo.sh [--keep] [STORE]
#   STORE   a layer store to serve (default: /var/lib/docker/overlay2 if it
#           exists, else a generated demo store of three layers)
#   --keep  leave the mount up (unmount with fusermount3 -u MOUNTPOINT)
set -eu

keep=no
if [ "${1:-}" = "--keep" ]; then
	keep=yes
	shift
fi
cd "$(dirname "$0")/.."
top=$(pwd)
scripts/install-deps.sh
if [ ! -f Makefile ]; then
	./autogen.sh >/dev/null
	./configure -q
fi
make -j"$(nproc)" >/dev/null

work=$(mktemp -d /tmp/limg-demo.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
	if [ "$keep" = no ]; then
		mountpoint -q "$mnt" && fusermount3 -u "$mnt"
		rm -rf "$work"
	fi
}
trap cleanup EXIT

store=${1:-}
if [ -z "$store" ] && [ -d /var/lib/docker/overlay2 ] &&
   ls /var/lib/docker/overlay2/*/diff >/dev/null 2>&1; then
	store=/var/lib/docker/overlay2
fi
if [ -z "$store" ]; then
	store=$work/store
	# base: a tiny root file system
	b=$store/base
	mkdir -p "$b/etc" "$b/usr/bin" "$b/var/empty" "$b/tmp"
	chmod 1777 "$b/tmp"
	printf 'demo\n' > "$b/etc/hostname"
	printf 'root:x:0:0:root:/root:/bin/sh\n' > "$b/etc/passwd"
	head -c 3000000 /dev/urandom > "$b/usr/bin/tool"
	chmod 4755 "$b/usr/bin/tool"
	ln -s ../usr/bin/tool "$b/usr/bin/tool-link"
	ln "$b/etc/passwd" "$b/etc/passwd.hardlink"
	# app: a layer on top, with an overlay whiteout and an escaping symlink
	a=$store/app
	mkdir -p "$a/srv/app" "$a/etc"
	printf 'print("hello")\n' > "$a/srv/app/main.py"
	ln -s /etc/shadow "$a/srv/app/escape"
	if [ "$(id -u)" = 0 ]; then
		mknod "$a/etc/hostname" c 0 0     # whiteout: deletes base's file
		chown -R 100000:100000 "$a/srv/app"
	fi
	mkfifo "$a/srv/app/fifo"
	# big: one larger file
	mkdir -p "$store/big"
	head -c 50000000 /dev/urandom > "$store/big/data.bin"
fi

echo "== mount $store on $mnt"
./fuse-layerimg "$store" "$mnt"
ls -l "$mnt"
first=$(ls "$mnt" | grep '\.iso$' | head -1)
layer=${first%.iso}
src=$store/$layer
[ -d "$src/diff" ] && src=$src/diff
echo "== $first through libisofs (xorriso):"
xorriso -indev "$mnt/$first" -find / -exec lsdl -- 2>/dev/null | head -20
echo "== check $first against $src with libisofs, then libarchive"
./fuse-layerimg check --reader=libisofs "$mnt/$first" "$src"
./fuse-layerimg check --reader=libarchive "$mnt/$first" "$src"
echo "== $mnt/.stats"
cat "$mnt/.stats"
if [ "$keep" = yes ]; then
	echo "mounted at $mnt (unmount: fusermount3 -u $mnt)"
fi
