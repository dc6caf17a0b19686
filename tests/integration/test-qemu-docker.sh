#!/bin/sh
# test-qemu-docker.sh - the README's worked example, end to end: a Docker
# store (real dockerd, offline; an image made by buildah from a Debian
# minbase, loaded with `docker load`, a container made by `docker
# create`), served by fuse-layerimg, and a Linux guest under QEMU that
# gets the container's disks read-only and runs a command of the image:
#
#   (1) rootfs.iso alone (containers/<id>/rootfs.iso) mounted as its root;
#   (2) the container's per-layer images (`fuse-layerimg stack --qemu`),
#       mounted as iso9660 and overlay-mounted in the guest as its root.
#
# The command's output must be what the same command prints in a chroot
# of the kernel's overlay of the same layers on the host, for (1) exactly.
# For (2) the one expected difference is the opaque directory: Linux
# isofs reads no xattrs, so a guest-side overlay cannot know that
# /etc/apt/apt.conf.d was replaced, and shows the lower layer's entries
# too (the README says so; rootfs.iso has no such limit).

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"
. "$top_srcdir/tests/lib/engines.sh"
. "$top_srcdir/tests/lib/qemu.sh"

requires_mount
requires qemu-system-x86_64
requires cpio
requires gzip
requires modprobe
requires timeout
TIMEOUT=${LIMG_QEMU_TIMEOUT:-300}
BUSYBOX=$(limg_qemu_busybox) || skip "no static busybox (install busybox-static)"
limg_qemu_kernel isofs virtio_blk virtio_pci overlay || skip "$limg_qemu_why"
mktmpdir
limg_engines_requires docker buildah skopeo

REF=localhost/limg-test:1
limg_cstorage_env "$tmpdir/cs/root" "$tmpdir/cs/run"
limg_step "build image" limg_build_test_image "$REF"
limg_step "start dockerd" limg_dockerd_start "$tmpdir/d"
limg_export_to_docker "$REF" > /dev/null
cid=$(limg_docker_create "$REF" limg-guest)
DR=$LIMG_DOCKER_ROOT

mnt=$tmpdir/mnt
limg_mount "$DR" "$mnt" -o workers=1
rootfs=$("$LIMG" stack -m "$mnt" --rootfs "$cid") || fail "stack --rootfs $cid"
layers=$("$LIMG" stack -m "$mnt" "$cid") || fail "stack $cid"
nl=$(echo "$layers" | wc -l)
[ "$nl" = 4 ] || fail "expected 3 image layers + the init layer, got $nl"

# The command, run in the guest's root and in the host's reference.
CMD='cat /etc/debian_version; test -e /etc/motd && echo motd: present || echo motd: deleted;
echo apt.conf.d: $(ls /etc/apt/apt.conf.d); echo hl-a: $(cat /opt/limg/hl-a);
echo cron: $(ls -d /etc/cron.daily* 2>/dev/null); echo doc-bash: $(ls /usr/share/doc/bash 2>/dev/null | wc -l);
echo dockerenv: $(test -e /.dockerenv && echo yes || echo no); ls -l /etc/hostname | cut -d" " -f1'

# ------------------------------------------------------------- reference
ovl=$tmpdir/ovl
mkdir -p "$ovl"
lowers=
for l in $layers; do
	id=$(basename "$(readlink -f "$l")" .iso)
	lowers="$DR/overlay2/$id/diff${lowers:+:$lowers}"
done
mount -t overlay overlay -o "ro,lowerdir=$lowers" "$ovl" || fail "cannot mount the reference overlay"
cleanup_fn sh -c "umount -l '$ovl' 2>/dev/null || true"
chroot "$ovl" /bin/sh -c "$CMD" > "$tmpdir/expected" 2>&1 || fail "the command fails on the host"
umount "$ovl"

# ------------------------------------------------------------- guest
ird=$tmpdir/initramfs
mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/newroot"
cp "$BUSYBOX" "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
limg_qemu_modules "$ird" virtio_pci virtio_blk isofs overlay || fail "cannot copy the guest's modules"
printf '%s\n' "$CMD" > "$ird/cmd"
# vda: rootfs.iso; vdb..vde: the layers, lowest first.
cat > "$ird/init" <<EOF
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
dmesg -n 1
for m in $limg_loadlist; do
	insmod /lib/modules/\$m || echo "@@LIMG-ERROR insmod \$m@@"
done
i=0
while [ ! -b /dev/vde ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
run() {	# run NAME: the command in /newroot, between markers
	echo "@@LIMG-BEGIN \$1@@"
	chroot /newroot /bin/sh -c "\$(cat /cmd)" 2>&1
	echo "@@LIMG-END \$1@@"
}
if mount -t iso9660 -o ro /dev/vda /newroot; then
	run rootfs
	umount /newroot
else
	echo "@@LIMG-ERROR mount rootfs.iso@@"
fi
lower=
for d in b c d e; do
	mkdir -p /layer-\$d
	mount -t iso9660 -o ro /dev/vd\$d /layer-\$d || echo "@@LIMG-ERROR mount vd\$d@@"
	lower=/layer-\$d\${lower:+:\$lower}
done
if mount -t overlay overlay -o ro,lowerdir=\$lower /newroot; then
	run layers
else
	echo "@@LIMG-ERROR overlay of the layers@@"
	dmesg | tail -5
fi
echo "@@LIMG-DONE@@"
poweroff -f
EOF
chmod 755 "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$tmpdir/initrd.gz" ||
	fail "cannot build the initramfs"

limg_qemu_accel "$KERNEL" "$BUSYBOX" "$tmpdir" || fail "bad LIMG_QEMU_ACCEL"
# The disks as a runtime is told to attach them.
drives="$("$LIMG" stack -m "$mnt" --qemu --rootfs "$cid") $("$LIMG" stack -m "$mnt" --qemu "$cid")"
serial=$tmpdir/serial.log
rc=0
# shellcheck disable=SC2086
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -nodefaults -machine "accel=$limg_accel" \
	-m 512 -smp 1 -display none -monitor none -no-reboot -serial "file:$serial" \
	-kernel "$KERNEL" -initrd "$tmpdir/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init" \
	$drives > "$tmpdir/qemu.log" 2>&1 || rc=$?
tr -d '\r' < "$serial" > "$tmpdir/guest.raw"
[ $rc = 0 ] || { tail -20 "$tmpdir/guest.raw" >&2; cat "$tmpdir/qemu.log" >&2; fail "qemu failed ($rc)"; }
if grep -q '@@LIMG-ERROR' "$tmpdir/guest.raw"; then
	grep -A5 '@@LIMG-ERROR' "$tmpdir/guest.raw" >&2
	fail "the guest could not load a module or mount a disk"
fi
grep -q '@@LIMG-DONE@@' "$tmpdir/guest.raw" || { tail -20 "$tmpdir/guest.raw" >&2; fail "the guest stopped early"; }
section() {
	sed -n "/^@@LIMG-BEGIN $1@@\$/,/^@@LIMG-END $1@@\$/p" "$tmpdir/guest.raw" | sed '1d;$d'
}
section rootfs > "$tmpdir/guest-rootfs"
section layers > "$tmpdir/guest-layers"

echo "--- host (kernel overlay of the layers):"
cat "$tmpdir/expected"
echo "--- guest, rootfs.iso alone:"
cat "$tmpdir/guest-rootfs"
echo "--- guest, per-layer images overlaid in the guest:"
cat "$tmpdir/guest-layers"
cmp -s "$tmpdir/expected" "$tmpdir/guest-rootfs" ||
	{ diff "$tmpdir/expected" "$tmpdir/guest-rootfs"; fail "the guest's rootfs.iso root differs from the layers"; }
# Per-layer: the same but for the opaque directory's listing.
grep -v '^apt.conf.d:' "$tmpdir/expected" > "$tmpdir/expected-but-opaque"
grep -v '^apt.conf.d:' "$tmpdir/guest-layers" > "$tmpdir/layers-but-opaque"
cmp -s "$tmpdir/expected-but-opaque" "$tmpdir/layers-but-opaque" ||
	{ diff "$tmpdir/expected" "$tmpdir/guest-layers"; fail "the guest's overlay of the layers differs"; }
want=$(grep '^apt.conf.d:' "$tmpdir/expected")
got=$(grep '^apt.conf.d:' "$tmpdir/guest-layers")
[ "$want" != "$got" ] && [ "$(echo "$got" | wc -w)" -gt "$(echo "$want" | wc -w)" ] ||
	fail "expected the guest-side overlay to lose the opaque directory (isofs has no xattrs): '$got'"
echo "$testname: accel $limg_accel; rootfs.iso: equal; per-layer: equal but the opaque directory (as documented)"
echo "PASS: $testname"
