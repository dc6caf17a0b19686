#!/bin/sh
# test-tune.sh - what the mount asks of the kernel (src/fuse/tune.c), as
# the kernel and libfuse's debug log show it: READs of max_read bytes, the
# largest that splice through the pipes this process can have, every one
# spliced; file data copied, never moved out of the layer's page cache; 64
# background requests with a congestion threshold of 48; the mount's
# readahead never below one request.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires_mount
requires fincore
requires python3
mktmpdir

store=$tmpdir/store
mnt=$tmpdir/mnt
log=$tmpdir/debug.log
mkdir -p "$store/big" "$mnt"
# Files of 1 MiB + 2 KiB: their extents start on and off a page boundary
# by turns, so half of them are whole pages the kernel could steal.
for i in 1 2 3 4 5 6 7 8; do
	head -c $((1048576 + 2048)) /dev/urandom > "$store/big/f$i"
done
# Written back: only clean pages can be stolen.
sync "$store"/big/f*

# What max_read must be: the largest request (256 pages, fewer if
# max_pages_limit says so) when a pipe can grow to twice it, else half of
# what a pipe can reach (at least 128 KiB).
want=$(python3 - <<'EOF'
import fcntl, os
page = os.sysconf("SC_PAGE_SIZE")
def num(path, default):
    try:
        return int(open(path).read()) or default
    except (OSError, ValueError):
        return default
request = min(num("/proc/sys/fs/fuse/max_pages_limit", 256), 256) * page
pipe = num("/proc/sys/fs/pipe-max-size", 1 << 20)
if pipe < 2 * request:
    r, w = os.pipe()
    try:
        if fcntl.fcntl(r, 1031, 2 * request) >= 2 * request:   # F_SETPIPE_SZ
            pipe = 2 * request
    except OSError:
        pass
want = min(request, pipe // 2)
print(max(want - want % 4096, 128 * 1024))
EOF
) || fail "cannot work out the expected max_read"

# -d: libfuse logs INIT and every reply; the daemon stays in the
# foreground. readahead_kb=4 is less than any request.
"$LIMG" -d -o "cache_dir=$tmpdir/cache" -o readahead_kb=4 "$store" "$mnt" >"$log" 2>&1 &
i=0
while ! mountpoint -q "$mnt"; do
	i=$((i + 1))
	[ $i -le 200 ] || { tail -5 "$log" >&2; fail "no mount after 20 s"; }
	sleep 0.1
done
cleanup_fn limg_umount_quiet "$mnt"

max_read=$(awk -v m="$(readlink -f "$mnt")" '$5 == m' /proc/self/mountinfo |
	tr ' ,' '\n\n' | sed -n 's/^max_read=//p' | head -n 1)
[ "$max_read" = "$want" ] || fail "max_read=$max_read, want $want"

image=$mnt/big.iso
"$LIMG" render -q "$store/big" -o "$tmpdir/ref.iso" || fail "render failed"
resident() {
	fincore -b -n -o RES "$store"/big/f* | awk '{ s += $1 } END { print s + 0 }'
}
# In the page cache as single pages (no readahead, so no large folios):
# what the kernel can steal when it is asked to move.
python3 - "$store"/big/f* <<'EOF'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    while os.read(fd, 4096):
        pass
    os.close(fd)
EOF
before=$(resident)
[ "$before" -gt 0 ] || fail "fincore sees none of the layer in the page cache"
cmp "$image" "$tmpdir/ref.iso" || fail "the image differs from render"
after=$(resident)
[ "$after" -ge "$before" ] ||
	fail "reading the image took $((before - after)) bytes of the layer out of its page cache (SPLICE_MOVE?)"

ra=$(cat "/sys/class/bdi/$(mountpoint -d "$mnt")/read_ahead_kb") || fail "no bdi readahead"
[ "$ra" = $((max_read / 1024)) ] || fail "readahead ${ra} KiB, want one request, $((max_read / 1024)) KiB"

# The INIT reply and the READ replies, from the debug log.
grep -q '^ *max_background=64$' "$log" || fail "INIT reply without max_background=64"
grep -q '^ *congestion_threshold=48$' "$log" || fail "INIT reply without congestion_threshold=48"
reads=$(awk -v full="$max_read" '
	/opcode: READ/ { for (i = 1; i <= NF; i++) if ($i == "unique:") { u = $(i + 1); sub(",", "", u); rd[u] = 1 } }
	/outsize:/ {
		for (i = 1; i <= NF; i++) if ($i == "unique:") { u = $(i + 1); sub(",", "", u) }
		if (!(u in rd)) next
		for (i = 1; i <= NF; i++) if ($i == "outsize:") sz = $(i + 1) - 16
		if (sz == full) { if ($NF == "(splice)") s++; else c++ }
		if (sz > full) big++
		delete rd[u]
	}
	END { printf "%d %d %d\n", s, c, big }' "$log")
set -- $reads
[ "$1" -ge 4 ] || fail "only $1 spliced READ replies of max_read ($max_read) bytes"
[ "$2" = 0 ] || fail "$2 READ replies of max_read bytes were copied, not spliced"
[ "$3" = 0 ] || fail "$3 READ replies larger than max_read"

limg_umount "$mnt"
wait
echo "PASS: tune: max_read $max_read spliced ($1 replies), layer page cache kept," \
	"background 64/48, readahead $ra KiB"
