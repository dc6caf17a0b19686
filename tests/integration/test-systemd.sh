#!/bin/sh
# test-systemd.sh - the shipped systemd units and fstab line are valid:
# `systemd-analyze verify` of contrib/systemd/fuse-layerimg.service and of
# an instance of fuse-layerimg@.service (with the built program in place
# of the installed one), and systemd-fstab-generator turns
# contrib/systemd/fstab.example into a mount unit that verifies too and
# mounts the Docker store at /run/layerimg after docker.service; all three
# grant the images to root and group kvm only, which a mount.fuse3 mount
# with the fstab line's options shows (0440).

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"

requires systemd-analyze
gen=
for g in /usr/lib/systemd/system-generators/systemd-fstab-generator \
	 /lib/systemd/system-generators/systemd-fstab-generator; do
	[ -x "$g" ] && gen=$g && break
done
mktmpdir
units=$top_srcdir/contrib/systemd
cp "$units/fuse-layerimg.service" "$units/fuse-layerimg@.service" "$tmpdir/"
sed -i "s|/usr/local/bin/fuse-layerimg|$LIMG|" "$tmpdir"/*.service
grep -q "$LIMG" "$tmpdir/fuse-layerimg.service" || fail "no ExecStart to point at the built program"
out=$(systemd-analyze verify --man=no "$tmpdir/fuse-layerimg.service" \
	"$tmpdir/fuse-layerimg@var-lib-containers-storage.service" 2>&1) ||
	{ echo "$out"; fail "systemd-analyze verify failed"; }
[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify has remarks"; }
echo "units verify: fuse-layerimg.service, fuse-layerimg@var-lib-containers-storage.service"
grep -q '^After=docker.service' "$units/fuse-layerimg.service" ||
	fail "fuse-layerimg.service does not start after docker.service"
[ "$(systemd-escape --path /var/lib/containers/storage)" = var-lib-containers-storage ] ||
	fail "systemd-escape --path is not what the unit's comment says"

if [ -z "$gen" ]; then
	echo "SKIP: $testname: fstab part (no systemd-fstab-generator)"
else
	mkdir "$tmpdir/gen"
	SYSTEMD_FSTAB=$units/fstab.example "$gen" "$tmpdir/gen" "$tmpdir/gen" "$tmpdir/gen" ||
		fail "systemd-fstab-generator refused fstab.example"
	m=$tmpdir/gen/run-layerimg.mount
	[ -f "$m" ] || fail "no run-layerimg.mount generated"
	grep -q '^What=fuse-layerimg#/var/lib/docker$' "$m" || fail "mount unit: What="
	grep -q '^Type=fuse$' "$m" || fail "mount unit: Type="
	grep -q '^After=docker.service$' "$m" || fail "mount unit: not after docker.service"
	out=$(systemd-analyze verify --man=no "$m" 2>&1) || { echo "$out"; fail "the mount unit does not verify"; }
	echo "fstab.example -> run-layerimg.mount, verified"
fi
# The shipped examples keep the images private: root and group kvm only.
for f in fstab.example fuse-layerimg.service fuse-layerimg@.service; do
	grep -q 'allow_other,image_gid=kvm,image_mode=0440' "$units/$f" ||
		fail "$f does not use the safe form (allow_other,image_gid=kvm,image_mode=0440)"
done
# mount.fuse3 hands fstab's options to the program, x-systemd.* included.
if [ "$(id -u)" = 0 ] && command -v mount.fuse3 >/dev/null 2>&1 && command -v fusermount3 >/dev/null 2>&1; then
	mkdir -p "$tmpdir/store/layer" "$tmpdir/mnt" "$tmpdir/bin"
	echo data > "$tmpdir/store/layer/file"
	ln -s "$LIMG" "$tmpdir/bin/fuse-layerimg"
	opts=$(awk '$1 !~ /^#/ && NF >= 4 { print $4 }' "$units/fstab.example" | sed 's/store=docker/store=plain/')
	# A host without KVM has no group kvm: any existing group shows the same.
	getent group kvm >/dev/null 2>&1 || opts=$(echo "$opts" | sed 's/image_gid=kvm/image_gid=root/')
	want_gid=$(getent group "$(echo "$opts" | sed 's/.*image_gid=\([^,]*\).*/\1/')" | cut -d: -f3)
	PATH=$tmpdir/bin:$PATH mount.fuse3 "fuse-layerimg#$tmpdir/store" "$tmpdir/mnt" \
		-o "$opts,cache_dir=$tmpdir/cache" || fail "mount.fuse3 with the fstab options ($opts) failed"
	cleanup_fn sh -c "fusermount3 -u '$tmpdir/mnt' 2>/dev/null || true"
	[ -f "$tmpdir/mnt/layer.iso" ] || fail "the fstab-style mount serves nothing"
	[ "$(stat -c '%a %g' "$tmpdir/mnt/layer.iso")" = "440 $want_gid" ] ||
		fail "the fstab-style mount's image is $(stat -c '%a %g' "$tmpdir/mnt/layer.iso"), want 440 $want_gid"
	fusermount3 -u "$tmpdir/mnt"
	echo "mount.fuse3 with the fstab line's options ($opts): mounted"
else
	echo "SKIP: $testname: mount.fuse3 part (needs root, mount.fuse3, fusermount3)"
fi
echo "PASS: $testname"
