#!/bin/sh
# test-soak.sh - 64 concurrent readers over 100 images for a bounded time,
# every byte compared with `render`, while layers come and go and the
# precompute pool runs: zero wrong bytes, zero unexpected errors, no hang,
# and the daemon's memory within the block budget plus the documented
# overhead.
#
# 80 layers stay; 20 more ("churn") are moved into the store and out of
# it again all along (atomically, with mv, as a store commits a layer;
# the removed copy is deleted afterwards, while images of it may still be
# open). A churn image may be missing or fail with EIO/ENOENT, never give
# wrong bytes; once back it is served right again (its reference is the
# same: the same tree, wherever it lies). tests/tools/soak-read is the
# reader (see its header); it stops everything when one request takes
# longer than the hang bound.
#
# Bounds: 40 s of reading with 64 readers; under the sanitizers (ASan
# makes the daemon several times slower and its memory is not comparable)
# 25 s with 32 readers, and no RSS bound. The whole test takes about 50 s
# (plain build, 2 cores), about as long under the sanitizers.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires_mount
requires timeout
gen=$top_builddir/tests/tools/mktree-gen
reader=$top_builddir/tests/tools/soak-read
[ -x "$gen" ] && [ -x "$reader" ] || fail "tests/tools/mktree-gen or soak-read is not built"
mktmpdir

# The layers and references live on a tmpfs when one can be mounted:
# made and deleted in a moment there, tens of seconds on a busy disk. The
# cache directory is on the disk.
work=$tmpdir/work
mkdir -p "$work"
if mount -t tmpfs -o size=2g tmpfs "$work" 2>/dev/null; then
	cleanup_fn umount -l "$work"
fi
store=$work/store
pool=$work/pool
staging=$work/staging
trash=$work/trash
ref=$work/ref
mnt=$tmpdir/mnt
cache=$tmpdir/cache
log=$tmpdir/daemon.log
mkdir -p "$store" "$pool" "$staging" "$trash" "$ref" "$mnt"

if [ "${LIMG_SANITIZERS:-no}" = yes ]; then
	secs=25 threads=32
	echo "sanitizer build: $threads readers for $secs s, no RSS bound"
else
	secs=40 threads=64
fi
# A block budget smaller than the metadata of all images: evictions.
cache_mem_mib=2
t0=$(date +%s)
elapsed() {
	echo "$(($(date +%s) - t0)) s"
}
n_stable=80 n_churn=20

# ------------------------------------------------ 100 layers and their references
# Mostly small layers (tens to a few hundred entries, files of 0 to 8 MiB,
# most under 64 KiB: mktree-gen's mix), every tenth a larger one.
i=0
while [ $i -lt $((n_stable + n_churn)) ]; do
	n=$((10 + (i * 37) % 150))
	[ $((i % 10)) = 3 ] && n=600
	if [ $i -lt $n_stable ]; then
		name=$(printf 'l%03d' $i) dir=$store
	else
		name=$(printf 'c%02d' $((i - n_stable))) dir=$pool
	fi
	"$gen" "$dir/$name" $n $((i + 1000)) >/dev/null || fail "mktree-gen $name failed"
	"$LIMG" render -q "$dir/$name" -o "$ref/$name.iso" || fail "render $name failed"
	i=$((i + 1))
done
# Half the churn layers start in the store.
i=0
while [ $i -lt $((n_churn / 2)) ]; do
	name=$(printf 'c%02d' $i)
	cp -a "$pool/$name" "$store/$name"
	i=$((i + 1))
done
entries=$(find "$store" "$pool" | wc -l)
echo "$((n_stable + n_churn)) layers, $entries entries, $(du -sm "$store" | cut -f1) MiB in the store, rendered ($(elapsed))"

manifest=$tmpdir/manifest
for f in "$ref"/*.iso; do
	name=$(basename "$f" .iso)
	case $name in
	c*) kind=churn ;;
	*) kind=stable ;;
	esac
	echo "$kind $mnt/$name.iso $f"
done > "$manifest"

# ------------------------------------------------ the daemon, in the foreground
# -f: its log is ours, and $! is the process that mounted (the daemon, or
# a keeper with its worker).
daemon=
stop_daemon() {
	if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null
		limg_wait_exit "$daemon" 20 || kill -KILL "$daemon" 2>/dev/null
	fi
	limg_umount_quiet "$mnt"
}
cleanup_fn stop_daemon
"$LIMG" -f -o "cache_dir=$cache,workers=2,cache_mem=${cache_mem_mib}M,settle=300" \
	"$store" "$mnt" 2>"$log" &
daemon=$!
i=0
until mountpoint -q "$mnt"; do
	kill -0 "$daemon" 2>/dev/null || { cat "$log" >&2; fail "the daemon exited before mounting"; }
	i=$((i + 1)); [ $i -gt 200 ] && fail "no mount after 20 s"
	sleep 0.1
done

# The process that serves (a keeper's worker, or the daemon itself): its
# memory is measured, and it must be the same one at the end (a worker
# that crashed and was restarted would hide a crash).
served_by=$(limg_daemon_pid "$mnt") || fail "no process found serving $mnt"
echo "served by process $served_by ($(tr '\0' '\n' < "/proc/$served_by/cmdline" | head -1)), mounted by $daemon"

stat_of() {
	sed -n "s/^$1 //p" "$mnt/.stats"
}

# ------------------------------------------------ churn: layers come and go
# Deterministic order: churn layer (k * 7) mod 20 at step k, moved in if it
# is out, out if it is in; a removed copy is deleted in the background.
churn_stop=$tmpdir/churn.stop
churn() {
	k=0 adds=0 removes=0
	while [ ! -e "$churn_stop" ]; do
		name=$(printf 'c%02d' $(((k * 7) % n_churn)))
		if [ -d "$store/$name" ]; then
			mv "$store/$name" "$trash/$name.$k" && removes=$((removes + 1))
			rm -rf "$trash/$name.$k" &
		else
			cp -a "$pool/$name" "$staging/$name.$k" &&
				mv "$staging/$name.$k" "$store/$name" && adds=$((adds + 1))
		fi
		k=$((k + 1))
		sleep 0.2
	done
	wait
	echo "$adds $removes" > "$tmpdir/churn.count"
}

# ------------------------------------------------ the daemon's memory, sampled
sample_rss() {
	while [ ! -e "$churn_stop" ] && kill -0 "$served_by" 2>/dev/null; do
		awk '/^VmRSS:/ {print $2}' "/proc/$served_by/status" 2>/dev/null
		sleep 0.5
	done > "$tmpdir/rss.samples"
}

# The reader can fail: another image's reference is wrong bytes.
echo "stable $mnt/l000.iso $ref/l001.iso" > "$tmpdir/wrong.manifest"
rc=0
timeout 30 "$reader" --threads 2 --seconds 0.5 "$tmpdir/wrong.manifest" \
	> "$tmpdir/wrong.out" 2>/dev/null || rc=$?
[ $rc = 1 ] && grep -q '^wrong_bytes [1-9]' "$tmpdir/wrong.out" ||
	fail "soak-read did not see wrong bytes against another image's reference (exit $rc)"

churn &
churn_pid=$!
sample_rss &
rss_pid=$!
quiet_kill() {
	kill "$@" 2>/dev/null
}
cleanup_fn quiet_kill "$churn_pid" "$rss_pid"
cleanup_fn touch "$churn_stop"

rc=0
timeout $((secs + 60)) "$reader" --threads $threads --seconds $secs --hang-ms 20000 \
	"$manifest" > "$tmpdir/soak.out" 2> "$tmpdir/soak.err" || rc=$?
touch "$churn_stop"
wait "$churn_pid" "$rss_pid" 2>/dev/null || true
cat "$tmpdir/soak.out"
[ -s "$tmpdir/soak.err" ] && head -20 "$tmpdir/soak.err" >&2
[ $rc = 124 ] && fail "soak-read did not finish within $((secs + 60)) s"
[ $rc = 3 ] && fail "a request hung (soak-read's watchdog, 20 s)"
kill -0 "$daemon" 2>/dev/null || { tail -20 "$log" >&2; fail "the daemon died during the soak"; }
[ "$(limg_daemon_pid "$mnt")" = "$served_by" ] ||
	{ tail -20 "$log" >&2; fail "another process serves the mount now: the one that did died during the soak"; }

res() {
	sed -n "s/^$1 //p" "$tmpdir/soak.out"
}
read -r adds removes < "$tmpdir/churn.count"
echo "churn: $adds layers added, $removes removed"
[ "$(res wrong_bytes)" = 0 ] || fail "$(res wrong_bytes) wrong bytes in $(res wrong_reads) reads"
[ "$(res unexpected_errors)" = 0 ] || fail "$(res unexpected_errors) unexpected errors"
[ $rc = 0 ] || fail "soak-read failed (exit $rc)"
[ "$(res reads)" -ge 2000 ] || fail "only $(res reads) reads in $secs s: the readers did not run"
[ "$adds" -ge 10 ] && [ "$removes" -ge 10 ] || fail "the churn loop hardly ran ($adds/$removes)"
echo "$(res reads) reads, $(res bytes) bytes by $threads readers in $secs s while $adds layers came and $removes went: no wrong byte, no unexpected error, longest request $(res max_latency_ms) ms ($(elapsed))"

# ------------------------------------------------ afterwards: every image right
sleep 1.5   # the mount's attribute and entry timeouts
i=0
while [ "$(stat_of images_pending)" != 0 ] || [ "$(stat_of queue_length)" != 0 ]; do
	i=$((i + 1)); [ $i -gt 600 ] && fail "precompute did not finish: $(stat_of images_pending) pending"
	sleep 0.1
done
[ "$(stat_of walks)" -gt 0 ] || fail "no walk: precompute did not run"
present=0
for f in "$ref"/*.iso; do
	name=$(basename "$f" .iso)
	case $name in
	c*)
		if [ ! -d "$store/$name" ]; then
			[ -e "$mnt/$name.iso" ] && fail "$name.iso is still there after its layer left"
			ls "$mnt" | grep -q "^$name\.iso\$" && fail "$name.iso still listed"
			continue
		fi ;;
	esac
	cmp "$mnt/$name.iso" "$f" || fail "$name.iso differs from render after the soak"
	present=$((present + 1))
done
echo "afterwards all $present images present equal render; removed ones are gone ($(elapsed))"
echo "precompute: $(stat_of layouts_built) layouts, $(stat_of walks) walks, $(stat_of cache_disk_writes) disk-cache writes, $(stat_of cache_mem_evictions) block evictions"

# ------------------------------------------------ memory
# The bound: the block budget plus the overhead the README documents
# ("Memory cache"): 80 MiB fixed under many concurrent readers, plus the
# laid-out trees, ~190 bytes an entry (counted here over every layer's
# entries). Measured on the 2-core build machine (Debian 12, Linux 6.18)
# with 64 readers, a 2 MiB budget and 24,000 entries: peaks of 9 to 65
# MiB over runs. The fixed part is mostly glibc's per-thread malloc
# arenas of the 16 FUSE threads, 1 to 5.5 MiB resident each (libfuse's
# 1 MiB request buffer, replies copied when they cannot be spliced),
# which the daemon does not trim (M_TRIM_THRESHOLD 128 MiB); a leak of a
# few bytes per request would pass it within the million reads.
max_rss=$(sort -n "$tmpdir/rss.samples" | tail -1)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$served_by/status")
echo "daemon memory now: $(awk '/^(VmRSS|RssAnon|RssFile|RssShmem|Threads):/ {printf "%s %s ", $1, $2}' "/proc/$served_by/status")"
limit=$((cache_mem_mib * 1024 + 80 * 1024 + entries * 190 / 1024))
echo "daemon RSS: sampled max ${max_rss} kB, peak (VmHWM) ${hwm} kB; budget ${cache_mem_mib} MiB + overhead = limit ${limit} kB; block cache $(stat_of cache_mem_bytes) bytes"
[ "$(stat_of cache_mem_bytes)" -le $((cache_mem_mib * 1048576)) ] ||
	fail "block cache over its budget"
if [ "${LIMG_SANITIZERS:-no}" = yes ]; then
	echo "SKIP: RSS bound: sanitizer build (ASan's shadow memory and quarantine)"
else
	[ "$hwm" -le "$limit" ] || fail "peak RSS ${hwm} kB over budget + overhead (${limit} kB)"
fi

# ------------------------------------------------ a clean exit
fusermount3 -u "$mnt" || fail "unmount failed"
st=0
wait "$daemon" || st=$?
daemon=
[ $st = 0 ] || { tail -30 "$log" >&2; fail "the daemon exited with $st"; }
if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error:' -e 'ERROR: LeakSanitizer' "$log"; then
	grep -A20 -e 'ERROR: AddressSanitizer' -e 'runtime error:' -e 'ERROR: LeakSanitizer' "$log" >&2
	fail "sanitizer report in the daemon's log"
fi
echo "PASS: soak"
