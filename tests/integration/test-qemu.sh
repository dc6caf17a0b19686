#!/bin/sh
# test-qemu.sh - the real consumer: a Linux guest (qemu-system-x86_64; KVM
# only when a short probe boot proves that KVM works here, else TCG: see
# tests/lib/qemu.sh) gets two images served by a fuse-layerimg mount
# as read-only virtio disks, mounts them as iso9660 with the kernel's own
# isofs, and prints a manifest of every entry to its serial console; the
# host compares it with the same manifest of the layer directories.
#
# Layers: a Debian 12 minbase root file system (debootstrap, cached under
# $LIMG_TEST_CACHE, default /var/tmp/limg-test-cache, built once per
# machine: about 2-4 minutes from deb.debian.org) and a small synthetic
# layer with the cases isofs must get right (whiteout, devices, fifo, long
# and absolute symlinks, suid/sgid/sticky, wide owners, hard links, a deep
# directory, a 200-byte name, an empty and a 3 MiB file).
#
# Compared per entry: type, mode (with suid/sgid/sticky), uid, gid, size and
# sha256 (regular files), symlink target, major:minor (devices), nlink (as
# the number of links inside the layer for non-directories) and mtime
# seconds; every path must be present and nothing extra. Known Linux isofs
# limits (READERS.md) are not compared: inode numbers, names of 254 bytes
# or more (such entries are left out), mtimes outside 32 bits, devices
# with a major or minor of 256 or more.
#
# Environment:
#	LIMG_TEST_CACHE		cache directory (/var/tmp/limg-test-cache)
#	LIMG_QEMU_KERNEL	vmlinuz to boot (default: the newest
#				/boot/vmlinuz-* with isofs, virtio_blk and
#				virtio_pci built in or as modules)
#	LIMG_QEMU_KROOT		look for the kernel in KROOT/boot and its
#				modules in KROOT/lib/modules instead of /
#				(e.g. a kernel package unpacked with
#				dpkg-deb -x, no installation needed)
#	LIMG_QEMU_TIMEOUT	seconds for the whole guest run (300)
#	LIMG_QEMU_ACCEL		kvm or tcg: skip the KVM probe, use this
#	LIMG_QEMU_PROBE_TIMEOUT	seconds the KVM probe boot may take (25)
#	LIMG_DEBIAN_MIRROR	(http://deb.debian.org/debian)
#	LIMG_QEMU_NO_ROOTFS=1	skip the debootstrap layer (synthetic only)
#
# Packages (scripts/install-deps.sh): qemu-system-x86, linux-image-cloud-amd64,
# busybox-static, cpio, debootstrap (kmod comes with the kernel).

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"
. "$top_srcdir/tests/lib/qemu.sh"

requires_mount
requires qemu-system-x86_64
requires cpio
requires gzip
requires modprobe
requires sha256sum
requires timeout

CACHE=${LIMG_TEST_CACHE:-/var/tmp/limg-test-cache}
TIMEOUT=${LIMG_QEMU_TIMEOUT:-300}
MIRROR=${LIMG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
START=$(date +%s)

# busybox for the guest must be static (busybox-static).
BUSYBOX=$(limg_qemu_busybox) || skip "no static busybox (install busybox-static)"

# ------------------------------------------------------------- kernel
limg_qemu_kernel isofs virtio_blk virtio_pci || skip "$limg_qemu_why"

# ------------------------------------------------------------- layers
mktmpdir
store=$tmpdir/store
mnt=$tmpdir/mnt
mkdir -p "$store"

ROOTFS=
if [ "${LIMG_QEMU_NO_ROOTFS:-0}" != 1 ]; then
	requires debootstrap
	ROOTFS=$CACHE/bookworm-minbase
	if [ ! -d "$ROOTFS" ]; then
		mkdir -p "$CACHE"
		rm -rf "$ROOTFS.tmp"
		echo "$testname: building $ROOTFS with debootstrap (once per machine)"
		t0=$(date +%s)
		if ! debootstrap --variant=minbase bookworm "$ROOTFS.tmp" "$MIRROR" \
			> "$tmpdir/debootstrap.log" 2>&1; then
			tail -20 "$tmpdir/debootstrap.log" >&2
			rm -rf "$ROOTFS.tmp"
			skip "debootstrap of bookworm from $MIRROR failed (network?)"
		fi
		mv "$ROOTFS.tmp" "$ROOTFS"
		echo "$testname: debootstrap took $(($(date +%s) - t0)) s"
	fi
	# Serve the cached tree read-only through a bind mount, so the store
	# holds both layers and the cache cannot be changed by the test.
	mkdir "$store/rootfs"
	if mount --bind "$ROOTFS" "$store/rootfs" 2>/dev/null; then
		cleanup_fn umount -l "$store/rootfs"
		mount -o remount,bind,ro "$store/rootfs" 2>/dev/null || true
	else
		rmdir "$store/rootfs"
		cp -a "$ROOTFS" "$store/rootfs" || fail "cannot copy $ROOTFS"
	fi
fi

# The synthetic layer.
e=$store/edge
mkdir "$e"
chmod 755 "$e"
(
	set -e
	cd "$e"
	umask 022
	mkdir -p dev etc modes owners links hard empty
	mknod dev/.wh.deleted c 0 0		# overlay whiteout
	mknod dev/null c 1 3
	mknod dev/sda1 b 8 1
	mknod dev/ttyS255 c 4 255		# minor 255: largest that isofs reads
	mkfifo dev/fifo
	ln -s ../etc/target links/relative
	ln -s /etc/passwd links/absolute
	t=
	i=0
	while [ ${#t} -lt 600 ]; do
		t="${t}component-$i/"
		i=$((i + 1))
	done
	ln -s "$(printf %s "$t" | head -c 600)" links/long600
	ln -s does/not/exist links/dangling
	echo target > etc/target
	printf 'suid\n' > modes/suid; chmod 4755 modes/suid
	printf 'sgid\n' > modes/sgid; chmod 2755 modes/sgid
	printf 'all\n' > modes/all; chmod 7777 modes/all
	printf 'none\n' > modes/none; chmod 000 modes/none
	mkdir modes/sticky; chmod 1777 modes/sticky
	mkdir modes/sgid-dir; chmod 2775 modes/sgid-dir
	printf 'wide\n' > owners/wide; chown 100000:200000 owners/wide
	printf 'max\n' > owners/max; chown 4294967294:4294967294 owners/max
	mkdir owners/dir; chown 65536:65537 owners/dir
	ln -s wide owners/link; chown -h 70000:70001 owners/link
	printf 'hard link data\n' > hard/a
	ln hard/a hard/b
	: > empty/file
	seq 1 500000 | head -c 3145728 > big3m
	p=deep
	i=1
	while [ $i -le 40 ]; do
		p="$p/d$i"
		i=$((i + 1))
	done
	mkdir -p "$p"
	echo bottom > "$p/file"
	n=$(printf '%0200d' 0 | tr 0 n)
	echo name200 > "$n"
	# Names of 254+ bytes: isofs cuts them (left out of the comparison,
	# but the rest of the directory must still read right).
	mkdir long
	echo name255 > "long/$(printf '%0255d' 0 | tr 0 l)"
	mkdir "long/$(printf '%0254d' 0 | tr 0 k)"
	echo under-long > "long/$(printf '%0254d' 0 | tr 0 k)/f"
	echo name253 > "long/$(printf '%0253d' 0 | tr 0 j)"
	echo after > long/zz-after
	mkdir "dir-$(printf '%0195d' 0 | tr 0 m)"
	echo inside > "dir-$(printf '%0195d' 0 | tr 0 m)/f"
	# Fixed times, inside 32 bits; symlinks too (-h).
	find . -depth -exec touch -h -d @1600000000 {} +
	touch -h -d @86400 etc/target
	touch -h -d @2147483647 big3m
	touch -h -d @1234567890 links/absolute
) || fail "cannot build the synthetic layer"

# ------------------------------------------------------------- serve
limg_mount "$store" "$mnt"
disks="edge"
[ -n "$ROOTFS" ] && disks="rootfs edge"
for l in $disks; do
	[ -f "$mnt/$l.iso" ] || fail "$mnt/$l.iso is not served"
done

# ------------------------------------------------------------- initramfs
ird=$tmpdir/initramfs
mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/mnt" "$ird/lib/modules"
cp "$BUSYBOX" "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"

# Modules in load order (dependencies first), unless built in.
limg_qemu_modules "$ird" virtio_pci virtio_blk isofs || fail "cannot copy the guest's modules"
loadlist=$limg_loadlist

# The guest prints, per disk, busybox stat lines and sha256sum lines
# between markers; the host makes the same raw lists of the layers with
# the same busybox, and one awk program turns both into manifests.
STATFMT='%f|%u|%g|%s|%h|%Y|%t|%T|%i|%n|%N'
cat > "$ird/init" <<EOF
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
dmesg -n 1
for m in $loadlist; do
	insmod /lib/modules/\$m || echo "@@LIMG-ERROR insmod \$m@@"
done
i=0
while [ ! -b /dev/vd$(echo "$disks" | wc -w | tr 1234 abcd) ] && [ \$i -lt 100 ]; do
	sleep 0.1
	i=\$((i + 1))
done
n=0
for l in $disks; do
	d=/dev/vd\$(echo abcd | cut -c\$((n + 1)))
	n=\$((n + 1))
	mkdir -p /mnt/\$l
	if ! mount -t iso9660 -o ro \$d /mnt/\$l; then
		echo "@@LIMG-ERROR mount \$d (\$l)@@"
		dmesg | tail -20
		continue
	fi
	echo "@@LIMG-BEGIN \$l@@"
	cd /mnt/\$l
	find . -exec stat -c '$STATFMT' {} +
	echo "@@LIMG-SHA \$l@@"
	find . -type f -exec sha256sum {} +
	echo "@@LIMG-END \$l rc=\$?@@"
	cd /
done
echo "@@LIMG-DONE@@"
sync
poweroff -f
EOF
chmod 755 "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$tmpdir/initrd.gz" ||
	fail "cannot build the initramfs"

# ------------------------------------------------------------- host lists
# hostlist LAYERDIR OUT: the raw lists the guest prints, for the layer.
hostlist() {
	(
		cd "$1"
		echo "@@LIMG-BEGIN host@@"
		find . -exec "$BUSYBOX" stat -c "$STATFMT" {} +
		echo "@@LIMG-SHA host@@"
		find . -type f -exec sha256sum {} +
		echo "@@LIMG-END host rc=0@@"
	) > "$2"
}
t0=$(date +%s)
for l in $disks; do
	hostlist "$store/$l" "$tmpdir/host-$l.raw" || fail "cannot list layer $l"
done
t_host=$(($(date +%s) - t0))

# ------------------------------------------------------------- boot
# KVM only if a probe boot of this kernel finishes under it: /dev/kvm
# can exist while nested KVM hangs every guest (and kvm:tcg then hangs
# instead of falling back).
limg_qemu_accel "$KERNEL" "$BUSYBOX" "$tmpdir" || fail "cannot choose a QEMU accelerator"
accel=$limg_accel
drives=
for l in $disks; do
	drives="$drives -drive file=$mnt/$l.iso,if=virtio,format=raw,readonly=on,cache=none"
done
serial=$tmpdir/serial.log
# While the guest reads its disks, the mount's worker is killed (kill -9)
# twice: the keeper restarts it, the kernel resends what it had read, and
# the guest must notice nothing (any I/O error shows in the manifests).
(
	i=0
	while ! grep -q '@@LIMG-BEGIN' "$serial" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt $((TIMEOUT * 10)) ] || exit 0
		sleep 0.1
	done
	for n in 1 2; do
		grep -q '@@LIMG-DONE@@' "$serial" 2>/dev/null && break
		w=$(awk '$1 == "worker_pid" { print $2 }' "$mnt/.stats" 2>/dev/null)
		[ -n "$w" ] && kill -KILL "$w" 2>/dev/null && echo "killed worker $w" >> "$tmpdir/kills.log"
		sleep 2
	done
) &
killer=$!
t0=$(date +%s)
rc=0
# shellcheck disable=SC2086
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -nodefaults -machine "accel=$accel" \
	-m 512 -smp 1 -display none -monitor none -no-reboot \
	-serial "file:$serial" \
	-kernel "$KERNEL" -initrd "$tmpdir/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init" \
	$drives > "$tmpdir/qemu.log" 2>&1 || rc=$?
t_qemu=$(($(date +%s) - t0))
kill "$killer" 2>/dev/null || true
wait "$killer" 2>/dev/null || true
kills=$(grep -c killed "$tmpdir/kills.log" 2>/dev/null || true)
echo "worker killed ${kills:-0} time(s) (kill -9) while the guest read its disks"
[ -z "$ROOTFS" ] || [ "${kills:-0}" -ge 1 ] ||
	fail "the guest read its disks too fast to kill the worker under it"
if [ $rc = 124 ] || [ $rc = 137 ]; then
	echo "--- last lines of the guest console:" >&2
	tail -20 "$serial" | tr -d '\r' >&2
	fail "the guest did not finish within $TIMEOUT s (LIMG_QEMU_TIMEOUT; accel=$accel)"
fi
if [ $rc != 0 ]; then
	cat "$tmpdir/qemu.log" >&2
	fail "qemu-system-x86_64 failed ($rc)"
fi
tr -d '\r' < "$serial" > "$tmpdir/guest.raw"
if grep -q '@@LIMG-ERROR' "$tmpdir/guest.raw"; then
	grep -A20 '@@LIMG-ERROR' "$tmpdir/guest.raw" | head -40 >&2
	fail "the guest could not load a module or mount an image"
fi
grep -q '@@LIMG-DONE@@' "$tmpdir/guest.raw" || {
	tail -30 "$tmpdir/guest.raw" >&2
	fail "the guest stopped before the end of its output"
}

# ------------------------------------------------------------- compare
# manifest SECTION RAW SIDE: cut SECTION out of RAW and print one line per
# entry, sorted by path: path, then the fields to compare. For SIDE=host
# the nlink of a non-directory is the number of its links in the layer.
manifest() {
	awk -v sec="$1" -v side="$3" '
	function hex(s,   i, n, c) {
		n = 0
		for (i = 1; i <= length(s); i++) {
			c = index("0123456789abcdef", tolower(substr(s, i, 1)))
			n = n * 16 + c - 1
		}
		return n
	}
	function oct(n,   s) {
		s = ""
		do { s = (n % 8) s; n = int(n / 8) } while (n > 0)
		return s
	}
	$0 == "@@LIMG-BEGIN " sec "@@" { part = 1; next }
	$0 == "@@LIMG-SHA " sec "@@" { part = 2; next }
	index($0, "@@LIMG-END " sec " ") == 1 { part = 0; next }
	part == 1 {
		# %f|%u|%g|%s|%h|%Y|%t|%T|%i|%n|%N (no "|" in names)
		nf = split($0, f, "|")
		if (nf != 11) { bad++; print "unparsable: " $0 > "/dev/stderr"; next }
		p = f[10]
		mode = hex(f[1])
		t = int(mode / 4096)
		ty = (t == 8) ? "f" : (t == 4) ? "d" : (t == 10) ? "l" : (t == 2) ? "c" : \
		     (t == 6) ? "b" : (t == 1) ? "p" : (t == 12) ? "s" : "?" t
		perm = mode % 4096
		n = ++cnt
		path[n] = p; type[p] = ty
		pm[p] = perm; us[p] = f[2]; gs[p] = f[3]
		size[p] = (ty == "f") ? f[4] : "-"
		nl[p] = f[5]; ino[p] = f[9]
		if (ty != "d") links[f[9]]++
		mt[p] = f[6]
		dev[p] = (ty == "c" || ty == "b") ? hex(f[7]) ":" hex(f[8]) : "-"
		tg[p] = "-"
		if (ty == "l") {
			# %N is '"'"'NAME'"'"' -> '"'"'TARGET'"'"'
			s = f[11]
			tg[p] = substr(s, length(p) + 8, length(s) - length(p) - 8)
		}
		next
	}
	part == 2 {
		sha[substr($0, 67)] = substr($0, 1, 64)
		next
	}
	END {
		if (bad) exit 1
		# The host side is a layer: the image shows it by the layer rule
		# (README, "Image format"): the root 0755 0:0 at T, whiteouts
		# 0000 0:0 at T and never hard links, T the newest other mtime.
		if (side == "host") {
			T = 0; any = 0
			for (i = 1; i <= cnt; i++) {
				p = path[i]
				if (p == "." || (type[p] == "c" && dev[p] == "0:0")) continue
				if (!any || mt[p] + 0 > T + 0) T = mt[p]
				any = 1
			}
			for (i = 1; i <= cnt; i++) {
				p = path[i]
				if (p != "." && !(type[p] == "c" && dev[p] == "0:0")) continue
				pm[p] = p == "." ? 493 : 0; us[p] = 0; gs[p] = 0; mt[p] = T
				if (p != ".") { links[ino[p]] = 1; nl[p] = 1 }
			}
		}
		for (i = 1; i <= cnt; i++) {
			p = path[i]
			line[p] = "type=" type[p] " mode=" oct(pm[p]) " uid=" us[p] " gid=" gs[p]
			n = nl[p]
			if (side == "host" && type[p] != "d")
				n = (type[p] == "c" && dev[p] == "0:0") ? 1 : links[ino[p]]
			m = mt[p]
			if (m < -2147483648 || m > 2147483647) m = "(64-bit)"
			d = dev[p]
			if (d != "-") {
				split(d, mm, ":")
				if (mm[1] > 255 || mm[2] > 255) d = "(wide)"
			}
			s = (type[p] == "f") ? ((p in sha) ? sha[p] : "(no sha)") : "-"
			printf "%s\t%s size=%s sha256=%s target=%s dev=%s nlink=%s mtime=%s\n", \
				p, line[p], size[p], s, tg[p], d, n, m
		}
	}' "$2" | sort
}

# compare NAME HOSTMANIFEST GUESTMANIFEST: print differences, return 1 on
# any. Entries with a name component of 254 bytes or more are left out on
# the host side, and guest entries whose names are cut forms of them too.
compare() {
	awk -F '\t' -v name="$1" '
	function longpath(p,   n, c, i) {
		n = split(p, c, "/")
		for (i = 1; i <= n; i++) if (length(c[i]) >= 254) return 1
		return 0
	}
	# g is a cut form of a left-out host path h: same depth, every
	# component equal or a prefix of a component of 254+ bytes.
	function cutform(g,   h, a, b, n, i, ok) {
		for (h in longs) {
			n = split(g, a, "/")
			if (n != split(h, b, "/")) continue
			ok = 1
			for (i = 1; i <= n && ok; i++)
				if (a[i] != b[i] && !(length(b[i]) >= 254 && index(b[i], a[i]) == 1)) ok = 0
			if (ok) return 1
		}
		return 0
	}
	FNR == NR {
		if (longpath($1)) { longs[$1] = 1; skipped++; next }
		host[$1] = $2; order[++n] = $1; next
	}
	{
		if (!($1 in host)) {
			if (cutform($1)) next
			if (++diffs <= 20) printf "  %s: %s: only in the guest: %s\n", name, $1, $2
			next
		}
		seen[$1] = 1
		if (host[$1] != $2) {
			if (++diffs <= 20) {
				split(host[$1], hf, " "); split($2, gf, " ")
				for (i = 1; i in hf; i++)
					if (hf[i] != gf[i]) printf "  %s: %s: host %s, guest %s\n", name, $1, hf[i], gf[i]
			}
		}
		compared++
	}
	END {
		for (i = 1; i <= n; i++)
			if (!(order[i] in seen) && ++diffs <= 20)
				printf "  %s: %s: missing in the guest (%s)\n", name, order[i], host[order[i]]
		printf "%s: %d entries compared, %d left out (names of 254+ bytes), %d differences\n", \
			name, compared, skipped, diffs > "/dev/stderr"
		exit diffs > 0
	}' "$2" "$3"
}

failed=0
for l in $disks; do
	manifest host "$tmpdir/host-$l.raw" host > "$tmpdir/host-$l.manifest" ||
		fail "cannot parse the host list of $l"
	manifest "$l" "$tmpdir/guest.raw" guest > "$tmpdir/guest-$l.manifest" ||
		fail "cannot parse the guest list of $l"
	[ -s "$tmpdir/guest-$l.manifest" ] || fail "the guest printed nothing for $l"
	compare "$l" "$tmpdir/host-$l.manifest" "$tmpdir/guest-$l.manifest" \
		> "$tmpdir/diff-$l" 2> "$tmpdir/summary-$l" || failed=1
	cat "$tmpdir/summary-$l"
done

echo "$testname: kernel $KVER, accel $accel; host lists ${t_host} s, guest run ${t_qemu} s, whole test $(($(date +%s) - START)) s"
if [ $failed = 1 ]; then
	for l in $disks; do
		cat "$tmpdir/diff-$l" >&2
	done
	fail "the guest's isofs view differs from the layers (first differences above)"
fi
exit 0
