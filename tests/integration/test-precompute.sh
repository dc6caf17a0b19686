#!/bin/sh
# test-precompute.sh - off the spawn path: layouts are precomputed in the
# background, new layers are picked up once settled, concurrent cold
# requests share one layout, the metadata cache keeps its memory budget,
# and a restart serves every image from the persistent cache without a
# walk (the first read of each from its cache file's head), rejecting
# damaged cache files, and the disk cache keeps its budget.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires_mount
requires python3
mktmpdir

store=$tmpdir/store
mnt=$tmpdir/mnt
ref=$tmpdir/ref
cache=$tmpdir/cache
mkdir -p "$store" "$ref"

# stat NAME: a counter from .stats
stat_of() {
	sed -n "s/^$1 //p" "$mnt/.stats"
}

# wait_for NAME VALUE [SECONDS]: until the counter reaches VALUE.
wait_for() {
	_n=0
	while [ "$(stat_of "$1")" != "$2" ]; do
		_n=$((_n + 1))
		[ $_n -gt $((${3:-30} * 10)) ] && fail "$1 stayed $(stat_of "$1"), want $2"
		sleep 0.1
	done
}

# A layer of N files spread over directories, with some metadata variety.
make_layer() {
	python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root, exist_ok=True)
for i in range(n):
    d = os.path.join(root, "dir%03d" % (i % 50), "sub%d" % (i % 3))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "file-with-a-longish-name-%06d.txt" % i), "wb") as f:
        f.write(b"x" * (i % 3000))
    if i % 97 == 0:
        os.symlink("../../dir000/sub0", os.path.join(d, "link%06d" % i))
for dp, dn, fn in os.walk(root, topdown=False):
    for x in fn + dn:
        os.utime(os.path.join(dp, x), (1600000000, 1600000000), follow_symlinks=False)
os.utime(root, (1600000000, 1600000000))
PY
}

for l in l1 l2 l3; do
	make_layer "$store/$l" 2000
done

# ------------------------------------------------ precomputed at mount time
limg_mount "$store" "$mnt" -o "cache_dir=$cache,workers=2,settle=1000"
wait_for images_ready 3
[ "$(stat_of queue_length)" = 0 ] || fail "queue not empty after all images are ready"
echo "3 layers laid out in the background right after mounting, no read needed"

# ------------------------------------------------ a layer added later
make_layer "$store/l4" 500
wait_for images_ready 4
"$LIMG" render -q "$store/l4" -o "$ref/l4.iso"
cmp "$mnt/l4.iso" "$ref/l4.iso" || fail "l4.iso differs from render"
echo "a layer added while mounted became ready without any read"

# ------------------------------------------------ a layer still being written
before=$(stat_of layouts_built)
mkdir "$store/slow"
for i in 1 2 3 4 5 6 7 8; do
	printf 'part %s\n' "$i" > "$store/slow/part$i"
	sleep 0.4
	now=$(stat_of layouts_built)
	[ "$now" = "$before" ] || fail "a layout was built while the layer was still being written"
done
wait_for images_ready 5
[ "$(stat_of layouts_built)" = $((before + 1)) ] || fail "the settled layer took more than one layout"
"$LIMG" render -q "$store/slow" -o "$ref/slow.iso"
cmp "$mnt/slow.iso" "$ref/slow.iso" || fail "slow.iso is not the complete layer"
echo "a layer being extracted over 3 s was laid out once, after it settled, complete"

# ------------------------------------------------ a removed layer
n_files=$(ls "$cache" | grep -c '\.tree$')
rm -rf "$store/slow"
i=0
while [ "$(ls "$cache" | grep -c '\.tree$')" = "$n_files" ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "the removed layer's cache file stayed"
	sleep 0.1
done
ls "$mnt" | grep -q '^slow\.iso$' && fail "removed layer still listed"
echo "a removed layer left the mount and the disk cache"
limg_umount "$mnt"

# ------------------------------------------------ restart: no walk
for l in l1 l2 l3 l4; do
	"$LIMG" render -q "$store/$l" -o "$ref/$l.iso"
done
limg_mount "$store" "$mnt" -o "cache_dir=$cache,workers=2"
wait_for images_ready 4
for l in l1 l2 l3 l4; do
	cmp "$mnt/$l.iso" "$ref/$l.iso" || fail "$l.iso after restart differs from render"
done
[ "$(stat_of walks)" = 0 ] || fail "restart walked $(stat_of walks) layers; the cache should serve them"
[ "$(stat_of cache_disk_hits)" = 4 ] || fail "cache_disk_hits $(stat_of cache_disk_hits), want 4"
[ "$(stat_of cache_disk_budget)" -gt 0 ] || fail "no default disk budget"
echo "after a restart every image is served from the disk cache, byte-identical, no walk"
limg_umount "$mnt"

# ------------------------------------------------ restart: the first read from the head
# A cache file keeps the image's first blocks (its head): a restarted
# mount answers the first read of an image from it and reads the tree
# after that reply. A tree damaged behind a good head is walked instead,
# and the reader sees the same bytes; never an error, never other bytes.
python3 - "$cache" "$store/l2" <<'PY' || fail "cannot damage l2's cache file"
import hashlib, os, struct, sys
cache, layer = sys.argv[1:3]
path = os.path.join(cache, hashlib.sha256(os.path.realpath(layer).encode()).hexdigest() + ".tree")
with open(path, "r+b") as f:
    h = f.read(72)
    magic, ver, node_size, klen, plen, nnodes, laylen, slen, s, hlen, hraw, hsum = \
        struct.unpack("<8sIIIIIIQ16sIIQ", h)
    assert magic == b"LIMGTREE" and hlen > 0, "no head in %s" % path
    nodes = 72 + klen + plen + hlen
    f.seek(nodes + node_size + 4); b = f.read(1); f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x21]))        # the second node, the head intact
PY
limg_mount "$store" "$mnt" -o "cache_dir=$cache,workers=0"
cmp -n 65536 "$mnt/l1.iso" "$ref/l1.iso" || fail "the first 64 KiB of l1.iso after a restart differ"
[ "$(stat_of cache_disk_heads)" = 1 ] || fail "cache_disk_heads $(stat_of cache_disk_heads), want 1"
[ "$(stat_of walks)" = 0 ] || fail "the first read walked"
wait_for layouts_built 1 10
for l in l1 l2 l3 l4; do
	cmp "$mnt/$l.iso" "$ref/$l.iso" || fail "$l.iso served from its head differs from render"
done
[ "$(stat_of cache_disk_heads)" = 4 ] || fail "cache_disk_heads $(stat_of cache_disk_heads), want 4"
[ "$(stat_of cache_disk_rejected)" = 1 ] || fail "cache_disk_rejected $(stat_of cache_disk_rejected), want 1 (l2's tree)"
[ "$(stat_of walks)" = 1 ] || fail "walks $(stat_of walks), want 1 (l2, behind its head)"
[ "$(stat_of read_errors)" = 0 ] || fail "read_errors $(stat_of read_errors)"
echo "a restart served each image's first read from its head; a tree damaged behind one was walked, same bytes"
limg_umount "$mnt"

# ------------------------------------------------ damaged cache files
set -- "$cache"/*.tree
[ $# = 4 ] || fail "expected 4 cache files, found $#"
python3 - "$1" "$2" "$3" <<'PY'
import os, sys
flip, trunc, old = sys.argv[1:4]
with open(flip, "r+b") as f:            # one byte flipped in the middle
    f.seek(os.path.getsize(flip) // 2); b = f.read(1); f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x40]))
with open(trunc, "r+b") as f:           # truncated
    f.truncate(os.path.getsize(trunc) - 100)
with open(old, "r+b") as f:             # an older format version
    f.seek(8); f.write((0).to_bytes(4, "little"))
PY
limg_mount "$store" "$mnt" -o "cache_dir=$cache,workers=2"
wait_for images_ready 4
for l in l1 l2 l3 l4; do
	cmp "$mnt/$l.iso" "$ref/$l.iso" || fail "$l.iso after cache damage differs from render"
done
[ "$(stat_of cache_disk_rejected)" = 3 ] || fail "cache_disk_rejected $(stat_of cache_disk_rejected), want 3"
[ "$(stat_of walks)" = 3 ] || fail "walks $(stat_of walks), want 3 (the rebuilt ones)"
echo "flipped, truncated and old-format cache files were rejected and rebuilt"
limg_umount "$mnt"
set -- "$cache"/*.tree
[ $# = 4 ] || fail "rebuilt cache files were not written back ($# files)"

# ------------------------------------------------ the disk budget
limg_mount "$store" "$mnt" -o "cache_dir=$cache,workers=2,cache_size=1"
wait_for images_ready 4
cmp "$mnt/l1.iso" "$ref/l1.iso" || fail "l1.iso differs under a 1-byte disk budget"
[ "$(stat_of cache_disk_budget)" = 1 ] || fail "cache_disk_budget $(stat_of cache_disk_budget), want 1"
[ "$(stat_of cache_disk_evictions)" -ge 4 ] ||
	fail "cache_disk_evictions $(stat_of cache_disk_evictions): the 4 trees should go at mount time"
[ "$(stat_of cache_disk_bytes)" = 0 ] || fail "cache_disk_bytes $(stat_of cache_disk_bytes) over the budget"
echo "a budget smaller than the cache evicts at mount time and after every save"
limg_umount "$mnt"

# ------------------------------------------------ one layout for many readers
limg_mount "$store" "$mnt" -o "nocache_dir,workers=0"
[ "$(stat_of layouts_built)" = 0 ] || fail "workers=0 still laid out in the background"
python3 - "$mnt/l1.iso" <<'PY' || fail "concurrent cold readers failed"
import os, sys, threading
path = sys.argv[1]
barrier = threading.Barrier(16)
def reader():
    barrier.wait()
    fd = os.open(path, os.O_RDONLY)
    while os.read(fd, 1 << 20):
        pass
    os.close(fd)
ts = [threading.Thread(target=reader) for _ in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
[ "$(stat_of layouts_built)" = 1 ] || fail "16 cold readers caused $(stat_of layouts_built) layouts, want 1"
echo "16 readers opening one cold image triggered exactly one layout"
limg_umount "$mnt"

# ------------------------------------------------ the memory budget
for l in m1 m2 m3 m4 m5 m6; do
	make_layer "$store/$l" 3000
done
limg_mount "$store" "$mnt" -o "nocache_dir,workers=2,cache_mem=1M"
wait_for images_ready 10 60
for f in "$mnt"/*.iso; do
	cat "$f" > /dev/null
	cat "$f" > /dev/null
done
bytes=$(stat_of cache_mem_bytes)
[ "$bytes" -le 1048576 ] || fail "cache_mem_bytes $bytes over the 1 MiB budget"
[ "$(stat_of cache_mem_evictions)" -gt 0 ] || fail "no evictions although the metadata exceeds the budget"
pid=$(limg_daemon_pid "$mnt") || fail "no worker found serving $mnt"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
entries=$((3 * 2000 + 500 + 6 * 3000))
# Documented overhead: 48 MiB fixed (threads, libraries, buffers) plus the
# laid-out trees, at most 400 bytes per entry.
limit=$((1024 + 48 * 1024 + entries * 400 / 1024))
echo "peak RSS ${hwm} kB with a 1 MiB block budget and $entries entries (limit ${limit} kB)"
if [ "${LIMG_SANITIZERS:-no}" = yes ]; then
	echo "SKIP: peak RSS bound: sanitizer build (ASan's shadow memory and quarantine); the block budget above still holds"
else
	[ "$hwm" -le "$limit" ] || fail "peak RSS ${hwm} kB over budget + documented overhead (${limit} kB)"
fi
limg_umount "$mnt"

# ------------------------------------------------ open layer files
# m1 has 3000 files, 2999 of them with data. The default keeps every one
# open after a read of the image; -o open_files=N keeps N, and the image
# reads the same either way.
"$LIMG" render -q "$store/m1" -o "$ref/m1.iso"
limg_mount "$store" "$mnt" -o "nocache_dir,workers=0"
cmp -s "$mnt/m1.iso" "$ref/m1.iso" || fail "m1.iso differs from render"
n=$(stat_of open_source_files)
[ "$n" = 2999 ] || fail "open_source_files $n after reading m1.iso, want 2999 (every file with data)"
limg_umount "$mnt"
limg_mount "$store" "$mnt" -o "nocache_dir,workers=0,open_files=64"
cmp -s "$mnt/m1.iso" "$ref/m1.iso" || fail "m1.iso differs from render with open_files=64"
n=$(stat_of open_source_files)
[ "$n" -le 64 ] && [ "$n" -gt 0 ] || fail "open_source_files $n with open_files=64"
limg_umount "$mnt"
echo "open layer files: all 2999 kept by default, at most 64 with open_files=64"

# ------------------------------------------------ an unusable cache directory
ro=$tmpdir/rocache
mkdir -p "$ro"
if mount -t tmpfs -o size=64k,ro tmpfs "$ro" 2>/dev/null; then
	cleanup_fn umount "$ro"
	limg_mount "$store" "$mnt" -o "cache_dir=$ro,workers=1" 2>"$tmpdir/ro.err"
	grep -q "memory only" "$tmpdir/ro.err" || fail "no warning about a read-only cache directory"
	wait_for images_ready 10 60
	cmp "$mnt/l1.iso" "$ref/l1.iso" || fail "l1.iso differs with a read-only cache directory"
	[ "$(stat_of cache_disk_enabled)" = 0 ] || fail "read-only cache directory reported enabled"
	limg_umount "$mnt"
	umount "$ro"
	mount -t tmpfs -o size=8k tmpfs "$ro"   # full after the first file
	limg_mount "$store" "$mnt" -o "cache_dir=$ro,workers=1" -f 2>"$tmpdir/full.err" &
	i=0
	while ! mountpoint -q "$mnt"; do i=$((i + 1)); [ $i -gt 100 ] && fail "no mount"; sleep 0.1; done
	wait_for images_ready 10 60
	"$LIMG" render -q "$store/m1" | cmp - "$mnt/m1.iso" || fail "m1.iso differs with a full cache directory"
	[ "$(stat_of cache_disk_enabled)" = 0 ] || fail "full cache directory still reported enabled"
	limg_umount "$mnt"
	wait
	grep -q "memory cache only" "$tmpdir/full.err" || fail "no warning about a full cache directory"
	echo "a read-only or full cache directory degrades to memory only, with a warning"
else
	echo "SKIP: unusable cache directory part: cannot mount a tmpfs here"
fi
echo "PASS: precompute"
