#!/bin/sh
# test-restart.sh - a mount outlives its worker: readers holding images
# open (O_DIRECT and buffered, requests in flight) read on across kill -9
# of the worker and an upgrade (`fuse-layerimg upgrade`), with zero read
# errors and bytes equal to `render`; open directories and text files
# carry over; a worker that keeps failing is given up and the mount then
# answers EIO (never zeros) until an upgrade brings a working binary;
# SIGTERM to the keeper and fusermount3 -u end it, also right after the
# mount command returns; -o nokeeper is one process that `upgrade` refuses.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires_mount
requires python3
mktmpdir

store=$tmpdir/store
mnt=$tmpdir/mnt
ref=$tmpdir/ref
mkdir -p "$store" "$ref" "$mnt"

# ------------------------------------------------------------- layers
rc=0
sh "$top_srcdir/tests/lib/mktree.sh" "$store/edge" --no-big >/dev/null || rc=$?
[ $rc = 0 ] || fail "mktree.sh failed ($rc)"
mkdir -p "$store/big/data"
for i in 1 2 3 4 5 6; do
	head -c $((3000000 + i * 1000)) /dev/urandom > "$store/big/data/f$i"
done
for l in edge big; do
	"$LIMG" render -q "$store/$l" -o "$ref/$l.iso" || fail "render $l failed"
done

stat_of() {
	awk -v k="$1" '$1 == k { print $2 }' "$mnt/.stats"
}

# Wait until .stats shows worker start number $1 or later (up to 20 s).
wait_start() {
	_i=0
	while :; do
		_s=$(stat_of worker_start 2>/dev/null || true)
		[ -n "$_s" ] && [ "$_s" -ge "$1" ] && return 0
		[ $_i -lt 400 ] || fail "no worker start $1 within 20 s (now: ${_s:-none})"
		_i=$((_i + 1))
		sleep 0.05
	done
}

cat > "$tmpdir/reader.py" <<'PY'
import mmap, os, random, sys, time
img, ref, secs, mode = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
want = open(ref, 'rb').read()
fd = os.open(img, os.O_RDONLY | (os.O_DIRECT if mode == 'direct' else 0))
buf = mmap.mmap(-1, 1 << 20)
end = time.time() + secs
n = errors = wrong = 0
longest = 0.0
while time.time() < end:
    off = random.randrange(0, len(want) // 4096) * 4096
    size = min(random.choice([4096, 65536, 1 << 20]), len(want) - off)
    t = time.time()
    try:
        got = os.preadv(fd, [memoryview(buf)[:size]], off)
        if got != size or buf[:got] != want[off:off + got]:
            wrong += 1
    except OSError as e:
        errors += 1
        print("read error at", off, e, file=sys.stderr)
    longest = max(longest, time.time() - t)
    n += 1
    if mode == 'buffered':
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
print(f"{img.rsplit('/', 1)[-1]} {mode}: {n} reads, {errors} errors, {wrong} wrong, "
      f"longest {longest * 1000:.0f} ms")
sys.exit(1 if errors or wrong or n < 50 else 0)
PY

# ------------------------------------------------------------- kill -9, upgrade
limg_mount "$store" "$mnt" -o workers=1
keeper=$(limg_keeper_pid "$mnt") || fail "no keeper serving $mnt"
worker=$(limg_daemon_pid "$mnt") || fail "no worker serving $mnt"
[ "$keeper" != "$worker" ] || fail "keeper and worker are one process"
[ "$(stat_of keeper_pid)" = "$keeper" ] || fail ".stats keeper_pid $(stat_of keeper_pid), not $keeper"
[ "$(stat_of worker_pid)" = "$worker" ] || fail ".stats worker_pid $(stat_of worker_pid), not $worker"
cmp "$mnt/big.iso" "$ref/big.iso" || fail "big.iso differs from render before any restart"

# Open files and directories the next workers must understand.
python3 - "$mnt" "$tmpdir/held.ready" "$tmpdir/held.go" <<'PY' &
import os, sys, time
mnt, ready, go = sys.argv[1:4]
f = os.open(f"{mnt}/edge.iso", os.O_RDONLY)
size = os.fstat(f).st_size
head = os.pread(f, 65536, 0)
d = os.scandir(mnt)
first = next(d).name
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
assert os.fstat(f).st_size == size, "fstat of an open image changed across restarts"
assert os.pread(f, 65536, 0) == head, "an open image reads other bytes after restarts"
rest = sorted([first] + [e.name for e in d])
assert rest == sorted(os.listdir(mnt)), f"an open directory lists {rest}"
print("an open image and an open directory carry over")
PY
held=$!
i=0
while [ ! -e "$tmpdir/held.ready" ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || fail "the holder did not start"
	sleep 0.05
done

secs=9
[ "${LIMG_SANITIZERS:-no}" = yes ] && secs=14
pids=
for spec in "big direct" "big buffered" "edge direct" "edge buffered"; do
	set -- $spec
	python3 "$tmpdir/reader.py" "$mnt/$1.iso" "$ref/$1.iso" "$secs" "$2" \
		>> "$tmpdir/readers.log" 2>&1 &
	pids="$pids $!"
done
sleep 1
for n in 2 3 4; do
	w=$(stat_of worker_pid)
	kill -KILL "$w"
	wait_start $n
	sleep 1
done
out=$("$LIMG" upgrade --timeout 30 "$mnt") || fail "upgrade failed: $out"
echo "$out"
wait_start 5
status=0
for p in $pids; do
	wait "$p" || status=1
done
cat "$tmpdir/readers.log"
[ $status = 0 ] || fail "readers saw errors or wrong bytes across kill -9 and upgrade"
touch "$tmpdir/held.go"
wait "$held" || fail "open files or directories did not carry over"
[ "$(limg_keeper_pid "$mnt")" = "$keeper" ] || fail "the keeper changed"
mountpoint -q "$mnt" || fail "the mount went away"
cmp "$mnt/big.iso" "$ref/big.iso" || fail "big.iso differs after restarts"
cmp "$mnt/edge.iso" "$ref/edge.iso" || fail "edge.iso differs after restarts"
echo "3 x kill -9 and an upgrade under 4 readers: no errors, same bytes"

# ------------------------------------------------------------- SIGTERM
kill -TERM "$keeper"
limg_wait_exit "$keeper" 20 || fail "the keeper did not exit on SIGTERM"
mountpoint -q "$mnt" && fail "SIGTERM to the keeper did not unmount"
limg_daemon_pid "$mnt" >/dev/null && fail "a worker outlived its keeper's SIGTERM"
echo "SIGTERM to the keeper unmounts"

# ------------------------------------------------------------- giving up
# The keeper starts the binary on disk: run a copy, then break it.
cp "$LIMG" "$tmpdir/limg-copy"
"$tmpdir/limg-copy" -f -o "cache_dir=$tmpdir/cache2" "$store" "$mnt" > "$tmpdir/keeper.log" 2>&1 &
keeper=$!
i=0
while ! [ -e "$mnt/.stats" ]; do
	i=$((i + 1))
	[ $i -lt 400 ] || fail "the copy did not mount"
	sleep 0.05
done
cmp "$mnt/big.iso" "$ref/big.iso" || fail "big.iso from the copy differs"
mv "$tmpdir/limg-copy" "$tmpdir/limg-good"
printf '#!/bin/sh\nexit 3\n' > "$tmpdir/limg-copy"
chmod +x "$tmpdir/limg-copy"
kill -KILL "$(stat_of worker_pid)"
i=0
while ! grep -q "failed 5 times in a row" "$tmpdir/keeper.log"; do
	i=$((i + 1))
	[ $i -lt 400 ] || { cat "$tmpdir/keeper.log"; fail "the keeper did not give up within 20 s"; }
	sleep 0.05
done
python3 - "$mnt" <<'PY' || fail "a given-up mount does not fail with EIO"
import errno, os, sys
mnt = sys.argv[1]
for what in ("big.iso", ".stats"):
    try:
        with open(f"{mnt}/{what}", "rb") as f:
            data = f.read(65536)
        sys.exit(f"{what}: read {len(data)} bytes from a mount with no worker")
    except OSError as e:
        assert e.errno == errno.EIO, f"{what}: {e}"
print("no worker: EIO, never bytes")
PY
# (mountpoint(1) stats it, which fails with EIO now: ask the kernel's table.)
awk -v m="$(readlink -f "$mnt")" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo ||
	fail "the mount went away when the keeper gave up"
mv "$tmpdir/limg-good" "$tmpdir/limg-copy"
"$LIMG" upgrade --timeout 30 "$mnt" || fail "upgrade after giving up failed"
cmp "$mnt/big.iso" "$ref/big.iso" || fail "big.iso differs after the upgrade brought a worker back"
fusermount3 -u "$mnt" || fail "fusermount3 -u failed"
limg_wait_exit "$keeper" 20 || fail "the keeper did not exit after fusermount3 -u"
wait "$keeper" || fail "the keeper exited with status $? after fusermount3 -u"
echo "a failing worker is given up (EIO), an upgrade brings it back, fusermount3 -u ends the keeper"

# ------------------------------------------------------------- -o nokeeper
limg_mount "$store" "$mnt" -o nokeeper
pid=$(limg_daemon_pid "$mnt") || fail "no process serving $mnt"
[ "$(limg_keeper_pid "$mnt")" = "$pid" ] || fail "-o nokeeper: more than one process"
[ "$(stat_of keeper_pid)" = 0 ] || fail "-o nokeeper: .stats keeper_pid $(stat_of keeper_pid)"
if out=$("$LIMG" upgrade "$mnt" 2>&1); then
	fail "upgrade of a -o nokeeper mount succeeded"
fi
case $out in
*nokeeper*) ;;
*) fail "upgrade of a -o nokeeper mount: unclear message: $out" ;;
esac
cmp "$mnt/big.iso" "$ref/big.iso" || fail "-o nokeeper: big.iso differs"
limg_umount "$mnt"
echo "-o nokeeper: one process; upgrade refuses it clearly"

# ------------------------------------------------------------- relative mount point
# With only -o layer=, the one argument is the mount point: the keeper
# hands the worker an absolute one.
(cd "$tmpdir" && "$LIMG" -o "layer=big:$store/big,nocache_dir" mnt) ||
	fail "mount with a relative mount point failed"
[ "$(stat_of worker_start)" = 1 ] || fail "relative mount point: no worker serves"
cmp "$mnt/big.iso" "$ref/big.iso" || fail "relative mount point: big.iso differs"
limg_umount "$mnt"
# The same as one process: the mount point is never taken for a SOURCE
# (the daemon scanned its own mount and hung at INIT).
(cd "$tmpdir" && timeout 30 "$LIMG" -o "nokeeper,layer=big:$store/big,nocache_dir" mnt) ||
	fail "-o nokeeper with a relative mount point failed"
timeout 30 cmp "$mnt/big.iso" "$ref/big.iso" || fail "-o nokeeper, -o layer= only: big.iso differs or hangs"
limg_umount "$mnt"
echo "a relative mount point works"
# ------------------------------------------------------------- unmount at once
# Nothing of the daemon's own may be in flight on its mount: a mount is
# unmounted right after the command returns, while its first worker starts
# (a stat of the mount root from a worker's thread made 2 in 100 of these
# fail with EBUSY).
mkdir -p "$tmpdir/tiny/a"
echo x > "$tmpdir/tiny/a/f"
# Two at a time, the next mount while the last one's processes exit: the
# load that made the race show.
unmount_at_once() {
	mkdir -p "$tmpdir/tmnt$1"
	_i=0
	while [ $_i -lt 40 ]; do
		"$LIMG" -o nocache_dir "$tmpdir/tiny" "$tmpdir/tmnt$1" || { echo "mount $_i failed"; return 1; }
		if ! fusermount3 -u "$tmpdir/tmnt$1"; then
			echo "unmount right after mount $_i: busy"
			limg_umount_quiet "$tmpdir/tmnt$1"
			return 1
		fi
		_i=$((_i + 1))
	done
}
cleanup_fn limg_umount_quiet "$tmpdir/tmnt1"
cleanup_fn limg_umount_quiet "$tmpdir/tmnt2"
cleanup_fn kill_quiet_at_once
kill_quiet_at_once() { kill "$p1" 2>/dev/null; wait "$p1" 2>/dev/null; return 0; }
unmount_at_once 1 > "$tmpdir/at-once1" 2>&1 & p1=$!
unmount_at_once 2 > "$tmpdir/at-once2" 2>&1 || { cat "$tmpdir/at-once2"; fail "a mount could not be unmounted at once"; }
wait $p1 || { cat "$tmpdir/at-once1"; fail "a mount could not be unmounted at once"; }
for m in 1 2; do
	_j=0
	while [ -n "$(_limg_pids "$tmpdir/tmnt$m")" ]; do
		[ $_j -lt 200 ] || fail "tmnt$m: a keeper outlives its unmount"
		_j=$((_j + 1))
		sleep 0.05
	done
done
echo "2 x 40 mounts, each unmounted as soon as the command returned: never busy"
# ------------------------------------------------------------- systemd notify
# Type=notify: READY=1 (and MAINPID, the keeper) once the first worker serves.
python3 - "$LIMG" "$store" "$mnt" "$tmpdir/notify.sock" <<'PY' || fail "no READY=1 from the keeper"
import os, socket, subprocess, sys, time
limg, store, mnt, path = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(30)
env = dict(os.environ, NOTIFY_SOCKET=path)
p = subprocess.Popen([limg, "-f", "-o", "nocache_dir", store, mnt], env=env,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    msg = s.recv(4096).decode()
    fields = dict(l.split("=", 1) for l in msg.split("\n") if "=" in l)
    assert fields.get("READY") == "1", msg
    assert fields.get("MAINPID") == str(p.pid), f"MAINPID {fields.get('MAINPID')}, keeper {p.pid}"
    assert os.path.exists(f"{mnt}/big.iso"), "READY before the mount serves"
    print("systemd notify: READY=1, MAINPID = the keeper")
finally:
    subprocess.run(["fusermount3", "-u", mnt])
    p.wait(timeout=20)
PY
echo "PASS: restart"
