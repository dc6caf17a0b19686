#!/bin/sh
# test-layer-replace.sh - layer directories deleted or replaced while
# their images are open and read (as a guest reads its disk): each open
# file reads its own generation's bytes or fails with EIO, never another
# layer's bytes or a mix; a fresh open serves the new layer; every other
# image reads right all along.
#
#   v1     rm -rf, then a different tree moved to the same path
#   v2     rm -rf, then another layer of the store (donor) moved there
#   v3     moved out of the store (it still exists), a different tree in
#
# An image open before the change: v1 and v2 fail with EIO (their files
# are gone); v3 and donor may keep reading their old bytes (their
# directories still exist, elsewhere) or fail with EIO. A read that stops
# short must be an error after part of the transfer (the rest fails),
# never an end of file too soon. tests/tools/soak-read holds those files
# open (O_DIRECT and buffered) and reads them, and reads ten bystander
# images, while this script replaces the layers and then opens the
# replaced images afresh, buffered and O_DIRECT, while the old files are
# still being read. Every check is made and the failed ones are listed
# together. About 20 s (plain build, 2 cores).

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires_mount
requires timeout
gen=$top_builddir/tests/tools/mktree-gen
reader=$top_builddir/tests/tools/soak-read
[ -x "$gen" ] && [ -x "$reader" ] || fail "tests/tools/mktree-gen or soak-read is not built"
mktmpdir

store=$tmpdir/store
pool=$tmpdir/pool
outside=$tmpdir/outside
ref=$tmpdir/ref
mnt=$tmpdir/mnt
mkdir -p "$store" "$pool" "$outside" "$ref" "$mnt"

# Different entry counts, so that no two images have one size.
seed=3000
mk() {  # mk DIR ENTRIES
	seed=$((seed + 1))
	"$gen" "$1" "$2" $seed >/dev/null || fail "mktree-gen $1 failed"
	"$LIMG" render -q "$1" -o "$ref/$(basename "$1").iso" || fail "render $1 failed"
}
i=0
while [ $i -lt 10 ]; do
	mk "$store/b$i" $((40 + i * 23))
	i=$((i + 1))
done
mk "$store/v1" 300
mk "$pool/v1new" 211
mk "$store/v2" 260
mk "$store/donor" 190
mk "$store/v3" 280
mk "$pool/v3new" 233
sizes=$(ls -l "$ref" | awk 'NR > 1 {print $5}' | sort | uniq -d)
[ -z "$sizes" ] || fail "two references have one size ($sizes): pick other entry counts"

# One process, when this build has a keeper: what is tested is how images
# are served, the same with a keeper.
keeper_opt=
if "$LIMG" mount --help 2>&1 | grep -q nokeeper; then
	keeper_opt="-o nokeeper"
fi
log=$tmpdir/daemon.log
daemon=
stop_daemon() {
	if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null
		limg_wait_exit "$daemon" 20 || kill -KILL "$daemon" 2>/dev/null
	fi
	limg_umount_quiet "$mnt"
}
cleanup_fn stop_daemon
# shellcheck disable=SC2086
"$LIMG" -f $keeper_opt -o "cache_dir=$tmpdir/cache,workers=2,settle=200" "$store" "$mnt" 2>"$log" &
daemon=$!
n=0
until mountpoint -q "$mnt"; do
	kill -0 "$daemon" 2>/dev/null || { cat "$log" >&2; fail "the daemon exited before mounting"; }
	n=$((n + 1)); [ $n -gt 200 ] && fail "no mount after 20 s"
	sleep 0.1
done
stat_of() {
	sed -n "s/^$1 //p" "$mnt/.stats"
}
wait_idle() {
	_n=0
	while [ "$(stat_of images_pending)" != 0 ] || [ "$(stat_of queue_length)" != 0 ] ||
	      [ "$(stat_of queue_settling)" != 0 ]; do
		_n=$((_n + 1)); [ $_n -gt 300 ] && fail "precompute did not settle"
		sleep 0.1
	done
}
wait_idle

manifest=$tmpdir/manifest
{
	i=0
	while [ $i -lt 10 ]; do
		echo "stable $mnt/b$i.iso $ref/b$i.iso"
		i=$((i + 1))
	done
	for l in v1 v2 donor v3; do
		echo "hold-direct $mnt/$l.iso $ref/$l.iso"
		echo "hold-buffered $mnt/$l.iso $ref/$l.iso"
	done
} > "$manifest"

ready=$tmpdir/ready
timeout 60 "$reader" --threads 16 --seconds 14 --hang-ms 20000 --ready "$ready" "$manifest" \
	> "$tmpdir/reader.out" 2> "$tmpdir/reader.err" &
reader_pid=$!
quiet_kill() {
	kill "$@" 2>/dev/null
}
cleanup_fn quiet_kill "$reader_pid"
n=0
until [ -e "$ready" ]; do
	kill -0 "$reader_pid" 2>/dev/null || { cat "$tmpdir/reader.err" >&2; fail "soak-read exited before it was ready"; }
	n=$((n + 1)); [ $n -gt 200 ] && fail "soak-read not ready after 20 s"
	sleep 0.1
done
sleep 1

# ------------------------------------------------ the changes, while read
rm -rf "$store/v1"
mv "$pool/v1new" "$store/v1"
rm -rf "$store/v2"
mv "$store/donor" "$store/v2"
mv "$store/v3" "$outside/v3"
mv "$pool/v3new" "$store/v3"
echo "replaced v1 (rm -rf + new tree), v2 (rm -rf + donor moved in), v3 (moved out + new tree) while 8 open files read them"

# ------------------------------------------------ fresh opens see the new layers
# Every check below is made, and all that failed are listed at the end.
problems=$tmpdir/problems
: > "$problems"
problem() {
	echo "FAIL: $testname: $*" >&2
	echo "$*" >> "$problems"
}
sleep 1.5   # the mount's entry and attribute timeouts
wait_idle
round=0
while [ $round -lt 5 ]; do
	for p in v1:v1new v2:donor v3:v3new; do
		img=$mnt/${p%%:*}.iso want=$ref/${p#*:}.iso
		dd if="$img" bs=1M iflag=direct status=none | cmp - "$want" >/dev/null 2>&1 ||
			problem "round $round: ${p%%:*}.iso, opened afresh (O_DIRECT), is not ${p#*:}'s tree"
		cmp "$img" "$want" >/dev/null 2>&1 ||
			problem "round $round: ${p%%:*}.iso, opened afresh (buffered), is not ${p#*:}'s tree: $(cmp "$img" "$want" 2>&1 | head -1)"
	done
	[ -e "$mnt/donor.iso" ] && problem "donor.iso is still there after its layer moved away"
	round=$((round + 1))
	sleep 0.5
done
[ -s "$problems" ] ||
	echo "fresh opens (buffered and O_DIRECT, 5 rounds, while the old files were read) serve the new layers; donor.iso is gone"

# ------------------------------------------------ what the open files saw
rc=0
wait "$reader_pid" || rc=$?
cat "$tmpdir/reader.out"
[ -s "$tmpdir/reader.err" ] && head -20 "$tmpdir/reader.err" >&2
[ $rc = 3 ] && fail "a request hung"
res() {
	sed -n "s/^$1 //p" "$tmpdir/reader.out"
}
hold() {  # hold IMAGE MODE FIELD
	awk -v i="$mnt/$1.iso" -v m="$2" -v f="$3" \
		'$1 == "hold" && $2 == i && $3 == m { for (k = 4; k < NF; k += 2) if ($k == f) print $(k + 1) }' \
		"$tmpdir/reader.out"
}
for l in v1 v2 v3 donor; do
	for m in direct buffered; do
		[ "$(hold $l $m wrong)" = 0 ] ||
			problem "$l.iso ($m), open since before the change: $(hold $l $m wrong) reads with bytes of another generation or an end of file too soon"
	done
done
for l in v1 v2; do
	for m in direct buffered; do
		[ "$(hold $l $m errors)" -gt 0 ] || [ "$(hold $l $m wrong)" != 0 ] ||
			echo "NOTE: $l.iso ($m) kept its old bytes (the page cache) and never failed"
	done
	[ "$(hold $l direct errors)" -gt 0 ] ||
		problem "$l.iso (O_DIRECT), open while its layer was deleted, never failed"
done
for l in v3 donor; do
	for m in direct buffered; do
		[ "$(hold $l $m errors)" = 0 ] ||
			echo "NOTE: $l.iso ($m): $(hold $l $m errors) reads failed ($(hold $l $m errno)) although its layer still exists (allowed: EIO)"
		[ "$(hold $l $m ok)" -gt 10 ] || problem "$l.iso ($m) hardly read"
	done
done
[ "$(res unexpected_errors)" = 0 ] ||
	problem "$(res unexpected_errors) unexpected errors (bystander images, or the first read of an open file)"
[ "$(res wrong_reads)" = 0 ] || problem "$(res wrong_reads) reads with wrong bytes in all"
[ -s "$problems" ] && fail "$(wc -l < "$problems") checks failed (listed above)"
[ $rc = 0 ] || fail "soak-read failed (exit $rc)"
echo "open files: v1, v2 fail with EIO; v3, donor read their old bytes or fail with EIO; bystanders right; no wrong byte"

fusermount3 -u "$mnt" || fail "unmount failed"
st=0
wait "$daemon" || st=$?
daemon=
[ $st = 0 ] || { tail -20 "$log" >&2; fail "the daemon exited with $st"; }
if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error:' -e 'ERROR: LeakSanitizer' "$log"; then
	grep -A20 -e 'ERROR: AddressSanitizer' -e 'runtime error:' -e 'ERROR: LeakSanitizer' "$log" >&2
	fail "sanitizer report in the daemon's log"
fi
echo "PASS: layer-replace"
