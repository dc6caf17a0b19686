#!/bin/sh
# test-mount.sh - the FUSE mount serves every layer of a store as an image:
# byte-identical to `render`, read back equal to the tree by libisofs and
# libarchive, readable through a loop device and by 16 concurrent random
# readers, read-only, and safe against hostile layers and layers that
# change or vanish while mounted.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires_mount
requires python3
mktmpdir

store=$tmpdir/store
mnt=$tmpdir/mnt
ref=$tmpdir/ref
mkdir -p "$store" "$ref"

# ------------------------------------------------------------- layers
rc=0
sh "$top_srcdir/tests/lib/mktree.sh" "$store/edge" --no-big >/dev/null || rc=$?
[ $rc = 0 ] || fail "mktree.sh failed ($rc)"

mkdir -p "$store/small/etc" "$store/small/usr/bin"
printf 'small\n' > "$store/small/etc/hostname"
head -c 3000000 /dev/urandom > "$store/small/usr/bin/blob"

# A hostile layer: symlinks that lead out of the layer, a FIFO, and
# regular files we will swap for a symlink and a FIFO after the layout.
secret=$tmpdir/host-secret
secret_text="HOST-SECRET-$$-$(date +%s%N)"
printf '%s\n' "$secret_text" > "$secret"
h=$store/hostile
mkdir -p "$h/sub"
ln -s / "$h/etc"
ln -s "../../../../../../../../../../../$secret" "$h/x"
ln -s "$secret" "$h/abs"
ln -s "$secret" "$h/sub/secret-link"
mkfifo "$h/fifo"
printf 'victim one\n' > "$h/victim1"
printf 'victim two\n' > "$h/victim2"
printf 'changes\n' > "$h/changes"

limg_mount "$store" "$mnt"

# ------------------------------------------------------------- listing
for l in edge small hostile; do
	"$LIMG" render -q "$store/$l" -o "$ref/$l.iso" || fail "render $l failed"
done
listing=$(ls "$mnt")
[ "$listing" = "edge.iso
hostile.iso
small.iso" ] || fail "unexpected listing: $listing"
[ -f "$mnt/.stats" ] || fail ".stats missing"
for l in edge small hostile; do
	mode=$(stat -c %a "$mnt/$l.iso")
	[ "$mode" = 400 ] || fail "$l.iso has mode $mode, want 400 (test-access.sh tests the rest)"
	size=$(stat -c %s "$mnt/$l.iso")
	want=$(stat -c %s "$ref/$l.iso")
	[ "$size" = "$want" ] || fail "$l.iso size $size, render gives $want"
	ino1=$(stat -c %i "$mnt/$l.iso")
	ino2=$(stat -c %i "$mnt/$l.iso")
	[ "$ino1" = "$ino2" ] || fail "$l.iso inode number not stable"
done

# ------------------------------------------------------------- bytes
for l in edge small hostile; do
	cmp "$mnt/$l.iso" "$ref/$l.iso" || fail "served $l.iso differs from render"
done
for reader in libisofs libarchive; do
	"$LIMG" check --quiet --reader=$reader "$mnt/edge.iso" "$store/edge" ||
		fail "check --reader=$reader of the served edge image found differences"
done
echo "served images equal render output; libisofs and libarchive read the tree back"

# A loop device over the served file: how a runtime hands it to a VM.
if command -v losetup >/dev/null && [ -e /dev/loop-control ]; then
	loopdev=$(losetup -f --show -r "$mnt/small.iso" 2>/dev/null) || loopdev=
	if [ -n "$loopdev" ]; then
		cleanup_fn losetup -d "$loopdev"
		cmp "$loopdev" "$ref/small.iso" || fail "loop device over small.iso reads other bytes"
		echo "loop device $loopdev reads the same bytes"
	else
		echo "SKIP: loop device part: losetup could not attach (no loop devices)"
	fi
else
	echo "SKIP: loop device part: no losetup or /dev/loop-control"
fi

# 16 concurrent readers doing random reads across several images.
python3 "$top_srcdir/tests/tools/randread.py" --threads 16 --reads 200 \
	"$mnt/edge.iso" "$ref/edge.iso" "$mnt/small.iso" "$ref/small.iso" \
	"$mnt/hostile.iso" "$ref/hostile.iso" || fail "concurrent random reads returned wrong bytes"
python3 "$top_srcdir/tests/tools/randread.py" --threads 16 --reads 100 --seed 7 \
	"$mnt/edge.iso" "$ref/edge.iso" || fail "concurrent random reads (2) returned wrong bytes"

# ------------------------------------------------------------- read-only
python3 - "$mnt/small.iso" "$ref/small.iso" <<'PY' || fail "read-write open semantics wrong"
import errno, os, sys
img, ref = sys.argv[1], sys.argv[2]
fd = os.open(img, os.O_RDWR)          # solo5's tender opens disks O_RDWR
size = os.lseek(fd, 0, os.SEEK_END)
assert size == os.path.getsize(ref), (size, os.path.getsize(ref))
try:
    os.pwrite(fd, b"x", 0)
    sys.exit("write succeeded")
except OSError as e:
    assert e.errno == errno.EROFS, e
try:
    os.ftruncate(fd, 0)
    sys.exit("ftruncate succeeded")
except OSError as e:
    assert e.errno == errno.EROFS, e
os.close(fd)
for f in (lambda: os.chmod(img, 0o777), lambda: os.unlink(img),
          lambda: os.mkdir(os.path.join(os.path.dirname(img), "d")),
          lambda: open(os.path.join(os.path.dirname(img), "new"), "w"),
          lambda: os.rename(img, img + ".x"),
          lambda: os.symlink("x", os.path.join(os.path.dirname(img), "l"))):
    try:
        f()
        sys.exit("a change succeeded")
    except OSError as e:
        assert e.errno == errno.EROFS, e
print("O_RDWR open succeeds with the exact size; every change fails with EROFS")
PY
cmp "$mnt/small.iso" "$ref/small.iso" || fail "small.iso changed after write attempts"

# ------------------------------------------------------------- hostile layer
for l in edge small hostile; do
	if grep -a -q -F "$secret_text" "$mnt/$l.iso"; then
		fail "$l.iso contains the host secret"
	fi
done
"$LIMG" check --quiet "$mnt/hostile.iso" "$store/hostile" ||
	fail "hostile layer's symlinks/fifo not recorded as they are"
echo "hostile symlinks recorded as symlinks, never followed; FIFO never opened"

# Swap a regular file for a symlink to the secret, another for a FIFO,
# between layout and read: reads fail (EIO), never follow, never hang.
rm "$h/victim1" && ln -s "$secret" "$h/victim1"
rm "$h/victim2" && mkfifo "$h/victim2"
out=$tmpdir/hostile.read
rc=0
timeout 20 dd if="$mnt/hostile.iso" of="$out" bs=64k iflag=direct 2>"$tmpdir/dd.err" || rc=$?
[ $rc = 124 ] && fail "reading an image whose file became a FIFO hung"
[ $rc != 0 ] || fail "read of a swapped file succeeded"
grep -q "Input/output error" "$tmpdir/dd.err" || { cat "$tmpdir/dd.err"; fail "swapped file: expected EIO"; }
if grep -a -q -F "$secret_text" "$out"; then
	fail "the secret leaked through a swapped file"
fi
grep -q '^source_changes [1-9]' "$mnt/.stats" || fail ".stats does not count the source change"
echo "files swapped for a symlink / FIFO after the layout: EIO, no leak, no hang"

# The image is laid out again: the next open serves the new tree.
sleep 1.2   # attribute timeout of the mount
"$LIMG" render -q "$store/hostile" -o "$ref/hostile2.iso"
cmp "$mnt/hostile.iso" "$ref/hostile2.iso" || fail "hostile.iso was not laid out again"
grep -q '^layouts_built [4-9]' "$mnt/.stats" || fail ".stats: expected a fourth layout"

# A file changed in place: EIO on an uncached read, then a new generation.
printf 'changed content, longer than before\n' > "$h/changes"
rc=0
dd if="$mnt/hostile.iso" of=/dev/null bs=64k iflag=direct 2>/dev/null || rc=$?
[ $rc != 0 ] || fail "read of an image with a changed source file succeeded"
sleep 1.2
"$LIMG" render -q "$store/hostile" -o "$ref/hostile3.iso"
dd if="$mnt/hostile.iso" bs=64k iflag=direct 2>/dev/null | cmp - "$ref/hostile3.iso" ||
	fail "after a change, the image is not the new render"
echo "a changed source file fails the read with EIO and the image is laid out again"

# ------------------------------------------------------------- layer removed
python3 - "$mnt/small.iso" "$store/small" "$mnt" <<'PY' || fail "removed layer handling wrong"
import errno, os, shutil, sys, time
img, layer, mnt = sys.argv[1:4]
fd = os.open(img, os.O_RDONLY | os.O_DIRECT)
shutil.rmtree(layer)
time.sleep(1.2)
assert "small.iso" not in os.listdir(mnt), os.listdir(mnt)
import mmap
buf = mmap.mmap(-1, 65536)
try:
    os.preadv(fd, [buf], 0)
    sys.exit("read of a removed layer's image succeeded")
except OSError as e:
    assert e.errno == errno.EIO, e
os.close(fd)
try:
    os.stat(img)
    sys.exit("removed layer's image still found")
except FileNotFoundError:
    pass
print("a removed layer disappears; an open image of it fails reads with EIO")
PY

# ------------------------------------------------------------- unmounting
pid=$(pgrep -f "fuse-layerimg .*$store $mnt" | head -1)
[ -n "$pid" ] || fail "daemon process not found"
kill -TERM "$pid"
for i in 1 2 3 4 5 6 7 8 9 10; do
	mountpoint -q "$mnt" || break
	sleep 0.3
done
mountpoint -q "$mnt" && fail "SIGTERM did not unmount"
limg_mount "$store" "$mnt"
cmp "$mnt/edge.iso" "$ref/edge.iso" || fail "remount after SIGTERM serves other bytes"
pid=$(pgrep -f "fuse-layerimg .*$store $mnt" | head -1)
kill -KILL "$pid"
sleep 0.3
fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
limg_mount "$store" "$mnt"
cmp "$mnt/edge.iso" "$ref/edge.iso" || fail "remount after SIGKILL serves other bytes"
limg_umount "$mnt"
echo "SIGTERM unmounts; a killed daemon leaves nothing that breaks the next mount"

# ------------------------------------------------------------- overlay2 store
ov=$tmpdir/overlay2
mkdir -p "$ov/l" "$ov/aaaa/diff/etc" "$ov/bbbb/diff" "$ov/bbbb/work" "$ov/cccc-init/diff"
printf 'x\n' > "$ov/aaaa/diff/etc/x"
printf 'AAAA\n' > "$ov/aaaa/link"
ln -s ../aaaa/diff "$ov/l/AAAA"
printf 'l/AAAA\n' > "$ov/bbbb/lower"
mknod "$ov/bbbb/diff/etc" c 0 0
mkdir -p "$ov/notalayer"
limg_mount "$ov" "$mnt"
listing=$(ls "$mnt")
[ "$listing" = "aaaa.iso
bbbb.iso
cccc-init.iso" ] || fail "overlay2 store listing: $listing"
"$LIMG" render -q "$ov/aaaa/diff" | cmp - "$mnt/aaaa.iso" || fail "overlay2 layer not served from diff/"
limg_umount "$mnt"
echo "overlay2 store: only <id>/diff directories are layers"

# -o layer=NAME:PATH, and mounting through mount.fuse3 as from /etc/fstab.
limg_mount "$store" "$mnt" -o "layer=extra:$store/edge"
cmp "$mnt/extra.iso" "$ref/edge.iso" || fail "-o layer= image differs"
limg_umount "$mnt"
if command -v mount.fuse3 >/dev/null; then
	PATH=$top_builddir:$PATH mount.fuse3 "fuse-layerimg#$store" "$mnt" -o allow_other ||
		fail "mount.fuse3 (fstab form) failed"
	cleanup_fn limg_umount_quiet "$mnt"
	cmp "$mnt/edge.iso" "$ref/edge.iso" || fail "fstab-mounted edge.iso differs"
	limg_umount "$mnt"
	echo "mounts through mount.fuse3 (fstab syntax)"
fi
echo "PASS: mount"
