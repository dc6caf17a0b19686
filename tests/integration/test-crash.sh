#!/bin/sh
# test-crash.sh - the daemon killed with SIGKILL at random points while it
# lays layers out and writes them to the disk cache, then started again on
# the same cache directory: no damaged cache file is ever found or served,
# every image equals `render`, and what a crash leaves behind breaks no
# later start. Damaged cache files made on purpose are rejected, said so
# (.stats and the log) and rebuilt. A cache directory that fills up, or
# is remounted read-only, while the daemon writes to it degrades to
# memory only with a warning, and images stay right.
#
# What a crash leaves: temporaries (<hash>.tree.tmp.XXXXXX) of the writes
# it interrupted. They are ignored (never loaded, never counted against
# the disk budget) while younger than an hour, and removed by the first
# start after that (budget.h); this test checks both.
#
# Bounds: 32 kills (12 under the sanitizers), each after a random delay
# or as soon as a cache file is being written; about 40 s in all (plain
# build, 2 cores; about as long under the sanitizers). Set
# LIMG_CRASH_SEED to replay one run's delays.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires_mount
requires python3
requires timeout
gen=$top_builddir/tests/tools/mktree-gen
[ -x "$gen" ] || fail "tests/tools/mktree-gen is not built"
mktmpdir

# The layers live on a tmpfs when one can be mounted: 65,000 files are
# made and deleted in a moment there, and take tens of seconds on a busy
# disk. The cache directory is on the disk (its writes and fsyncs take
# the time the kills aim at).
work=$tmpdir/work
mkdir -p "$work"
if mount -t tmpfs -o size=1g tmpfs "$work" 2>/dev/null; then
	cleanup_fn umount -l "$work"
fi
store=$work/store
ref=$work/ref
mnt=$tmpdir/mnt
cache=$tmpdir/cache
mkdir -p "$store" "$ref" "$mnt" "$cache"

if [ "${LIMG_SANITIZERS:-no}" = yes ]; then
	kills=12
else
	kills=32
fi
seed=${LIMG_CRASH_SEED:-$(date +%s)}
echo "seed $seed (LIMG_CRASH_SEED=$seed replays these delays)"
t0=$(date +%s)
elapsed() {
	echo "$(($(date +%s) - t0)) s"
}

# One process, when this build has a keeper (keeper.h): this test kills
# the process that serves, and the keeper's restart is another test's.
keeper_opt=
if "$LIMG" mount --help 2>&1 | grep -q nokeeper; then
	keeper_opt="-o nokeeper"
fi

# ------------------------------------------------ the store
# Three layers of 20,000 entries (their cache files take ~3 MB and a
# visible time to write and fsync) and 24 small ones.
python3 - "$store" <<'PY' || fail "cannot make the large layers"
import os, sys
for L in range(3):
    root = os.path.join(sys.argv[1], "big%d" % L)
    for i in range(20000):
        d = os.path.join(root, "d%02d" % (i % 40), "s%d" % (i % 7))
        if i < 280:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "entry-with-a-realistic-name-%06d.so.%d" % (i, L)), "wb") as f:
            f.write(b"y" * (i % 50))
    for dp, dn, fn in os.walk(root, topdown=False):
        for x in fn + dn:
            os.utime(os.path.join(dp, x), (1600000000, 1600000000), follow_symlinks=False)
    os.utime(root, (1600000000, 1600000000))
PY
i=0
while [ $i -lt 24 ]; do
	"$gen" "$store/$(printf 's%02d' $i)" $((20 + (i * 53) % 180)) $((i + 2000)) >/dev/null ||
		fail "mktree-gen failed"
	i=$((i + 1))
done
layers=$(ls "$store" | wc -l)
for d in "$store"/*; do
	"$LIMG" render -q "$d" -o "$ref/$(basename "$d").iso" || fail "render $d failed"
done
echo "$layers layers, $(find "$store" | wc -l) entries, rendered ($(elapsed))"

# ------------------------------------------------ helpers
daemon=
# start_daemon LOG OPTIONS: serve $store at $mnt in the foreground.
start_daemon() {
	_log=$1
	shift
	# shellcheck disable=SC2086
	"$LIMG" -f $keeper_opt -o "$1" "$store" "$mnt" 2>>"$_log" &
	daemon=$! daemon_log=$_log
	_n=0
	until mountpoint -q "$mnt"; do
		kill -0 "$daemon" 2>/dev/null || { tail "$_log" >&2; fail "the daemon exited before mounting"; }
		_n=$((_n + 1)); [ $_n -gt 300 ] && fail "no mount after 30 s"
		sleep 0.05
	done
}
# stop_daemon: unmount, and the daemon exits 0.
stop_daemon() {
	fusermount3 -u "$mnt" || fail "unmount failed"
	_st=0
	wait "$daemon" || _st=$?
	daemon=
	[ $_st = 0 ] || { tail -20 "$daemon_log" >&2; fail "the daemon exited with $_st"; }
}
# kill_daemon: SIGKILL, then clear the dead mount it leaves.
kill_daemon() {
	kill -KILL "$daemon" 2>/dev/null || true
	wait "$daemon" 2>/dev/null || true
	daemon=
	fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	mountpoint -q "$mnt" && fail "the dead mount is still there"
	return 0
}
cleanup_daemon() {
	[ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null
	limg_umount_quiet "$mnt"
}
cleanup_fn cleanup_daemon

stat_of() {
	sed -n "s/^$1 //p" "$mnt/.stats"
}
# wait_ready N [SECONDS]: until N images are ready.
wait_ready() {
	_n=0
	while [ "$(stat_of images_ready)" != "$1" ]; do
		_n=$((_n + 1))
		[ $_n -gt $((${2:-60} * 10)) ] && fail "images_ready $(stat_of images_ready), want $1"
		sleep 0.1
	done
}
# rand N K: a number in [0, N) from the seed and K.
rand() {
	awk -v s="$seed" -v k="$2" -v n="$1" 'BEGIN { srand(s * 1000 + k); print int(rand() * n) }'
}
temps() {
	ls "$cache" | grep -c '\.tmp\.' || true
}
trees() {
	ls "$cache" | grep -c '\.tree$' || true
}
all_equal() {
	for f in "$ref"/*.iso; do
		cmp "$mnt/$(basename "$f")" "$f" || fail "$(basename "$f") differs from render ($1)"
	done
}
# check_start WHAT [QUICK]: start on the cache as it is; nothing rejected,
# every cache file there loaded, every image as render (not compared if
# QUICK is given and not 0), a clean exit.
check_start() {
	_have=$(trees)
	start_daemon "$tmpdir/check.log" "cache_dir=$cache,workers=2,settle=200"
	wait_ready "$layers"
	[ "$(stat_of cache_disk_rejected)" = 0 ] ||
		{ grep 'cached layout' "$tmpdir/check.log" >&2; fail "$1: $(stat_of cache_disk_rejected) cache files rejected: a crash left a damaged file in place"; }
	[ "$(stat_of cache_disk_hits)" = "$_have" ] ||
		fail "$1: $(stat_of cache_disk_hits) disk-cache hits, want $_have (the files there)"
	[ "$(stat_of walks)" = $((layers - _have)) ] ||
		fail "$1: $(stat_of walks) walks, want $((layers - _have))"
	[ "${2:-0}" != 0 ] || all_equal "$1"
	stop_daemon
}

# ------------------------------------------------ kill -9, many times
# Each round: a start with verify=walk (it walks and writes every layer
# again) is killed, on odd rounds as soon as a cache file is being
# written (a new temporary is there), at once or 0-30 ms later, on even
# rounds after a random time within what such a start takes to finish
# (walks, layouts, writes); then a start
# with verify=open loads what the kill left: nothing may be rejected, and
# every image equals render (compared every fourth round). Every fourth
# round that start is killed too, 0-400 ms in (loading and verifying
# cached trees), and another one checks. Temporaries the kills leave stay
# for the starts after them.
start_daemon "$tmpdir/crash.log" "cache_dir=$cache,workers=2,settle=200"
wait_ready "$layers"
stop_daemon
# How long a verify=walk start takes to lay out and save everything: the
# random kills fall within it.
start_daemon "$tmpdir/crash.log" "cache_dir=$cache,workers=2,settle=200,verify=walk"
ms0=$(($(date +%s%N) / 1000000))
while [ "$(stat_of images_ready)" != "$layers" ]; do
	sleep 0.005
done
span=$(($(date +%s%N) / 1000000 - ms0))
[ "$span" -gt 20 ] || span=20
stop_daemon
echo "a start with verify=walk lays out and saves all $layers layers in $span ms"
during_write=0 left=0
k=1
while [ $k -le $kills ]; do
	before=$(temps)
	start_daemon "$tmpdir/crash.log" "cache_dir=$cache,workers=2,settle=200,verify=walk"
	if [ $((k % 2)) = 1 ]; then
		n=0
		while [ "$(temps)" -le "$before" ] && [ $n -lt 500 ]; do
			n=$((n + 1))
			sleep 0.002
		done
		[ "$(temps)" -gt "$before" ] && during_write=$((during_write + 1))
		[ $((k % 4)) = 3 ] && sleep "0.$(printf '%03d' "$(rand 30 $k)")"
	else
		ms=$(rand "$span" $k)
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	fi
	kill_daemon
	left=$((left + $(temps) - before))
	if [ $((k % 4)) = 2 ]; then
		start_daemon "$tmpdir/crash.log" "cache_dir=$cache,workers=2,settle=200"
		sleep "0.$(printf '%03d' "$(rand 400 $((k + 1000)))")"
		kill_daemon
	fi
	check_start "after kill $k" $((k % 4))
	k=$((k + 1))
done
if grep -q 'cached layout' "$tmpdir/crash.log"; then
	grep 'cached layout' "$tmpdir/crash.log" >&2
	fail "a start found a damaged cache file in place"
fi
[ $during_write -ge $((kills / 8)) ] ||
	fail "only $during_write of the kills met a cache file being written"
echo "$kills kills ($during_write during a cache write, $((kills / 4)) more while loading), each followed by a start that loaded every cache file left: none rejected, every image equal to render; $left temporaries left behind ($(elapsed))"

# ------------------------------------------------ what a crash leaves
# Make sure there are leftovers, then: ignored while young, removed once old.
if [ "$(temps)" = 0 ]; then
	start_daemon "$tmpdir/crash.log" "cache_dir=$cache,workers=2,settle=200,verify=walk"
	n=0
	while [ "$(temps)" = 0 ] && [ $n -lt 1000 ]; do n=$((n + 1)); sleep 0.01; done
	kill_daemon
fi
young=$(temps)
[ "$young" -gt 0 ] || fail "no temporary file left by a kill during a write"
check_start "with $young young temporaries"
[ "$(temps)" = "$young" ] || fail "a young temporary was removed (a writer may still be at it)"
start_daemon "$tmpdir/check.log" "cache_dir=$cache,workers=0"
tree_bytes=$(find "$cache" -name '*.tree' -exec du -B1 {} + | awk '{s += $1} END {print s + 0}')
[ "$(stat_of cache_disk_bytes)" = "$tree_bytes" ] ||
	fail "cache_disk_bytes $(stat_of cache_disk_bytes), the trees take $tree_bytes: temporaries counted"
stop_daemon
for f in "$cache"/*.tmp.*; do
	touch -d "@$(($(date +%s) - 7200))" "$f"
done
check_start "with old temporaries"
[ "$(temps)" = 0 ] || fail "temporaries older than an hour were not removed"
grep -q "removed $young temporary files left by a crash" "$tmpdir/check.log" ||
	fail "no log line about the removed temporaries"
echo "temporaries of killed writes: ignored while young ($young), removed once an hour old, logged"

# ------------------------------------------------ damaged on purpose
set -- "$cache"/*.tree
[ $# = "$layers" ] || fail "expected $layers cache files, found $#"
python3 - "$1" "$2" "$3" <<'PY'
import os, sys
flip, trunc, empty = sys.argv[1:4]
with open(flip, "r+b") as f:            # one bit flipped in the middle
    f.seek(os.path.getsize(flip) // 2); b = f.read(1); f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x01]))
with open(trunc, "r+b") as f:           # cut in half, as a crash without rename would
    f.truncate(os.path.getsize(trunc) // 2)
open(empty, "wb").close()               # empty
PY
: > "$tmpdir/damaged.log"
start_daemon "$tmpdir/damaged.log" "cache_dir=$cache,workers=2,settle=200"
wait_ready "$layers"
[ "$(stat_of cache_disk_rejected)" = 3 ] ||
	fail "cache_disk_rejected $(stat_of cache_disk_rejected), want 3"
[ "$(stat_of walks)" = 3 ] || fail "walks $(stat_of walks), want 3 (the rebuilt ones)"
[ "$(grep -c 'cached layout is truncated, corrupt or of an older format; walking the layer again' "$tmpdir/damaged.log")" = 3 ] ||
	fail "the log does not name the 3 damaged cache files"
all_equal "damaged cache files"
stop_daemon
check_start "after the rebuild"
echo "a flipped bit, a truncated and an empty cache file: rejected (.stats, log), rebuilt, rewritten"

# ------------------------------------------------ full and read-only during writes
# A store of the small layers; then a large one arrives whose cache file
# does not fit (ENOSPC), or after the directory went read-only (EROFS).
# No disk budget here (cache_size=0): the default, 10% of a tiny file
# system, would evict what this checks is still there.
store2=$work/store2
pool=$work/pool
mkdir -p "$store2" "$pool"
for d in "$store"/s0* "$store"/s1[0-1]; do
	cp -a "$d" "$store2/"
done
cp -a "$store/big0" "$pool/big0"
cp -a "$store/s23" "$pool/s23"
small=$(ls "$store2" | wc -l)
tiny=$tmpdir/tiny
mkdir -p "$tiny"
if ! mount -t tmpfs -o size=1m tmpfs "$tiny" 2>/dev/null; then
	echo "SKIP: full and read-only cache directories: cannot mount a tmpfs here"
	echo "PASS: crash (without the full/read-only part)"
	exit 0
fi
cleanup_fn umount -l "$tiny"
store=$store2
cache=$tiny
: > "$tmpdir/full.log"
start_daemon "$tmpdir/full.log" "cache_dir=$tiny,cache_size=0,workers=2,settle=200"
wait_ready "$small"
[ "$(stat_of cache_disk_writes)" = "$small" ] || fail "the $small small trees were not all written"
mv "$pool/big0" "$store2/big0"
wait_ready $((small + 1))
grep -q "cache directory $tiny: cannot save a layout: No space left on device; continuing with the memory cache only" "$tmpdir/full.log" ||
	{ cat "$tmpdir/full.log" >&2; fail "no warning about the full cache directory"; }
[ "$(stat_of cache_disk_enabled)" = 0 ] || fail "a full cache directory is still reported enabled"
mv "$pool/s23" "$store2/s23"
wait_ready $((small + 2))
[ "$(stat_of cache_disk_writes)" = "$small" ] || fail "writes went on after the directory was full"
cmp "$mnt/big0.iso" "$ref/big0.iso" || fail "big0.iso differs with a full cache directory"
cmp "$mnt/s23.iso" "$ref/s23.iso" || fail "s23.iso differs with a full cache directory"
stop_daemon
[ "$(temps)" = 0 ] || fail "a failed write left its temporary in the full directory"
mv "$store2/big0" "$store2/s23" "$pool/"
: > "$tmpdir/full2.log"
start_daemon "$tmpdir/full2.log" "cache_dir=$tiny,cache_size=0,workers=2,settle=200"
wait_ready "$small"
[ "$(stat_of cache_disk_hits)" = "$small" ] && [ "$(stat_of cache_disk_rejected)" = 0 ] ||
	fail "the trees written before the directory filled up do not load"
stop_daemon
echo "a cache directory that fills up during writes: warning, memory only, images right, earlier files intact"

umount "$tiny"
mount -t tmpfs -o size=64m tmpfs "$tiny"
: > "$tmpdir/ro.log"
start_daemon "$tmpdir/ro.log" "cache_dir=$tiny,cache_size=0,workers=2,settle=200"
wait_ready "$small"
mount -o remount,ro "$tiny" || fail "cannot remount the cache directory read-only"
mv "$pool/big0" "$store2/big0"
wait_ready $((small + 1))
grep -q "cache directory $tiny: cannot save a layout: Read-only file system; continuing with the memory cache only" "$tmpdir/ro.log" ||
	{ cat "$tmpdir/ro.log" >&2; fail "no warning about the read-only cache directory"; }
[ "$(stat_of cache_disk_enabled)" = 0 ] || fail "a read-only cache directory is still reported enabled"
cmp "$mnt/big0.iso" "$ref/big0.iso" || fail "big0.iso differs with a read-only cache directory"
for d in "$store2"/s*; do
	cmp "$mnt/$(basename "$d").iso" "$ref/$(basename "$d").iso" ||
		fail "$(basename "$d").iso differs after the remount"
done
stop_daemon
mount -o remount,rw "$tiny"
rm -rf "$store2/big0"
start_daemon "$tmpdir/ro.log" "cache_dir=$tiny,cache_size=0,workers=2,settle=200"
wait_ready "$small"
[ "$(stat_of cache_disk_hits)" = "$small" ] && [ "$(stat_of cache_disk_rejected)" = 0 ] ||
	fail "the trees written before the remount do not load"
stop_daemon
echo "a cache directory remounted read-only during writes: warning, memory only, images right"

if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error:' -e 'ERROR: LeakSanitizer' "$tmpdir"/*.log; then
	grep -h -A20 -e 'ERROR: AddressSanitizer' -e 'runtime error:' -e 'ERROR: LeakSanitizer' "$tmpdir"/*.log >&2
	fail "sanitizer report in a daemon's log"
fi
echo "PASS: crash ($(elapsed))"
