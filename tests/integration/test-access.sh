#!/bin/sh
# test-access.sh - images are their owner's only unless the operator
# grants more, and the kernel enforces it (default_permissions), while
# the listing and .stats stay readable wherever the mount is visible.
#
# As root, an OCI layout (two layers: <hex>.iso, by-diff-id/, images/<id>/
# with NN-*.iso links, layers and rootfs.iso) plus a layer directory with
# a shadow file, mounted with allow_other:
#  - defaults: every image (through every name) is 0400 root:root,
#    directories 0555, .stats and the layers files 0444, links 0777;
#    another user (nobody) lists the mount and reads .stats and layers,
#    but gets EACCES reading any image; root still reads them;
#  - image_gid=GROUP,image_mode=0440: a user in GROUP reads every image,
#    bytes equal to `render`; a user outside it still gets EACCES;
#  - image_uid=USER: that user reads, nobody does not;
#  - the fstab form through mount.fuse3 (numeric gid), and an explicit
#    -o default_permissions, change nothing;
#  - bad values (image_mode=0644, abc, 4440, 10000; image_uid and
#    image_gid naming no one) exit 2 naming the option and mount nothing.
# A group and two users are created for the test and removed at exit.
# A few seconds.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"
. "$top_srcdir/tests/lib/oci.sh"

requires_mount
requires setpriv
requires useradd
requires userdel
requires groupadd
requires groupdel
requires python3
requires jq
requires gzip
requires sha256sum
id nobody >/dev/null 2>&1 || skip "no user nobody"
mktmpdir

# ------------------------------------------------------------- users
ngroup=$(id -gn nobody)
grp=limgacc$$
u_in=limgin$$          # in $grp
u_out=limgout$$        # not in $grp
groupadd "$grp" || fail "groupadd $grp failed"
cleanup_fn groupdel "$grp"
useradd -M -N -g "$ngroup" -G "$grp" -d /nonexistent -s /usr/sbin/nologin "$u_in" ||
	fail "useradd $u_in failed"
cleanup_fn userdel "$u_in"
useradd -M -N -g "$ngroup" -d /nonexistent -s /usr/sbin/nologin "$u_out" ||
	fail "useradd $u_out failed"
cleanup_fn userdel "$u_out"
gid=$(getent group "$grp" | cut -d: -f3)
uid_out=$(id -u "$u_out")

# as USER CMD...: run CMD as USER with USER's groups; as nobody: no groups.
as() {
	_as=$1
	shift
	if [ "$_as" = nobody ]; then
		setpriv --reuid=nobody --regid="$ngroup" --clear-groups "$@"
	else
		setpriv --reuid="$_as" --regid="$(id -g "$_as")" --init-groups "$@"
	fi
}

# ------------------------------------------------------------- store
T=$tmpdir/tars
L=$tmpdir/layout
mkdir -p "$T"
for c in good good2; do
	python3 "$top_srcdir/tests/lib/mktar.py" $c "$T/$c.tar" || fail "mktar.py $c failed"
done
gzip -n -c "$T/good.tar" > "$T/good.tar.gz"
limg_oci_layout_new "$L"
limg_oci_image "$L" 1 "$T/good.tar.gz" "$T/good2.tar"
secret=$tmpdir/secret-layer
mkdir -p "$secret/etc"
printf 'root:$6$LIMG-ACCESS-SECRET:19000:0:99999:7:::\n' > "$secret/etc/shadow"
chmod 0640 "$secret/etc/shadow"
"$LIMG" render -q "$secret" -o "$tmpdir/secret.iso" || fail "render of the secret layer failed"

# The mount point must be reachable by the other users: not under $tmpdir
# (0700). Emptied by the unmounts registered after this.
pub=$(mktemp -d "${TMPDIR:-/tmp}/limg-access.XXXXXX")
chmod 0755 "$pub"
cleanup_fn rmdir "$pub/mnt" "$pub"
M=$pub/mnt
mkdir "$M"
as nobody test -x "$M" || skip "$M is not reachable by nobody"

# denied USER FILE: reading FILE as USER fails with EACCES.
denied() {
	_rc=0
	as "$1" dd if="$2" of=/dev/null bs=64k count=1 2>"$tmpdir/dd.err" || _rc=$?
	[ $_rc != 0 ] || fail "$1 read $2"
	grep -q "Permission denied" "$tmpdir/dd.err" ||
		{ cat "$tmpdir/dd.err" >&2; fail "$1 reading $2: expected EACCES"; }
}

# readable USER FILE REF: USER reads FILE, and gets the bytes of REF.
readable() {
	as "$1" cat "$2" > "$tmpdir/as-user.iso" || fail "$1 cannot read $2"
	cmp "$tmpdir/as-user.iso" "$3" || fail "$1 reads other bytes from $2 than render gives"
}

# images: every image of the mount, one path a line (regular files, and
# the links to them), found by root.
images() {
	find "$M" -name '*.iso' | sort
}

limg_mount "$L" "$M" -o allow_other,workers=0 -o "layer=secret:$secret"

# ------------------------------------------------------------- defaults
grep " $M fuse" /proc/mounts | grep -q default_permissions ||
	fail "the mount has no default_permissions: $(grep " $M fuse" /proc/mounts)"
n_files=$(find "$M" -type f -name '*.iso' | wc -l)
n_links=$(find "$M" -type l -name '*.iso' | wc -l)
[ "$n_files" -ge 4 ] || fail "expected 2 layers, the secret layer and rootfs.iso, found $n_files images"
[ "$n_links" -ge 2 ] || fail "expected by-diff-id/ and NN-*.iso links, found $n_links"
for f in $(images); do
	got=$(stat -L -c '%a %u:%g' "$f")
	[ "$got" = "400 0:0" ] || fail "$f is $got, want 400 0:0"
done
[ "$(stat -c %a "$M")" = 555 ] || fail "the mount's root is $(stat -c %a "$M"), want 555"
[ "$(stat -c %a "$M/.stats")" = 444 ] || fail ".stats is $(stat -c %a "$M/.stats"), want 444"
for d in $(find "$M" -mindepth 1 -type d); do
	[ "$(stat -c %a "$d")" = 555 ] || fail "$d is $(stat -c %a "$d"), want 555"
done
for l in $(find "$M" -type l); do
	[ "$(stat -c %a "$l")" = 777 ] || fail "link $l is $(stat -c %a "$l"), want 777"
done
layers=$(find "$M/images" -name layers -type f | head -1)
[ -n "$layers" ] || fail "no images/<id>/layers file"
[ "$(stat -c %a "$layers")" = 444 ] || fail "$layers is $(stat -c %a "$layers"), want 444"
echo "defaults: $n_files images and $n_links links to them all 0400 root:root; dirs 0555, .stats and layers 0444"

# Another user sees the mount, and nothing of the layers.
as nobody ls -R "$M" > "$tmpdir/ls.nobody" || fail "nobody cannot list the mount"
ls -R "$M" | cmp - "$tmpdir/ls.nobody" || fail "nobody lists another tree than root"
as nobody cat "$M/.stats" | grep -q '^images_known [1-9]' || fail "nobody cannot read .stats"
as nobody cat "$layers" | grep -q '\.iso$' || fail "nobody cannot read $layers"
for f in $(images); do
	denied nobody "$f"
done
denied "$u_in" "$M/secret.iso"
if as nobody cat "$M/secret.iso" 2>/dev/null | grep -a -q LIMG-ACCESS-SECRET; then
	fail "nobody read the shadow file through the mount"
fi
cmp "$M/secret.iso" "$tmpdir/secret.iso" || fail "root reads other bytes than render gives"
rootfs=$(find "$M/images" -name rootfs.iso | head -1)
"$LIMG" render -q "$L:1" -o "$tmpdir/rootfs.iso" || fail "render of the OCI image failed"
cmp "$rootfs" "$tmpdir/rootfs.iso" || fail "root reads another rootfs.iso than render gives"
echo "nobody lists the mount and reads .stats and layers; every image: EACCES; root reads"
limg_umount "$M"

# ------------------------------------------------------------- a group
limg_mount "$L" "$M" -o "allow_other,workers=0,image_gid=$grp,image_mode=0440" \
	-o "layer=secret:$secret"
for f in $(images); do
	got=$(stat -L -c '%a %u:%g' "$f")
	[ "$got" = "440 0:$gid" ] || fail "$f is $got, want 440 0:$gid"
done
readable "$u_in" "$M/secret.iso" "$tmpdir/secret.iso"
readable "$u_in" "$rootfs" "$tmpdir/rootfs.iso"
for f in $(images); do
	as "$u_in" dd if="$f" of=/dev/null bs=64k 2>/dev/null || fail "$u_in (in $grp) cannot read $f"
	denied "$u_out" "$f"
	denied nobody "$f"
done
echo "image_gid=$grp,image_mode=0440: $u_in reads every image (secret.iso, rootfs.iso equal render); $u_out and nobody: EACCES"
limg_umount "$M"

# ------------------------------------------------------------- a user
limg_mount "$L" "$M" -o "allow_other,workers=0,image_uid=$u_out" -o "layer=secret:$secret"
got=$(stat -c '%a %u:%g' "$M/secret.iso")
[ "$got" = "400 $uid_out:0" ] || fail "secret.iso is $got, want 400 $uid_out:0"
readable "$u_out" "$M/secret.iso" "$tmpdir/secret.iso"
denied "$u_in" "$M/secret.iso"
denied nobody "$M/secret.iso"
echo "image_uid=$u_out: $u_out reads, $u_in and nobody: EACCES"
limg_umount "$M"

# ------------------------------------------------------------- fstab form
# The README's line, with a numeric gid, and an explicit default_permissions.
if command -v mount.fuse3 >/dev/null; then
	mkdir -p "$tmpdir/bin"
	ln -s "$LIMG" "$tmpdir/bin/fuse-layerimg"
	PATH=$tmpdir/bin:$PATH mount.fuse3 "fuse-layerimg#$L" "$M" \
		-o "allow_other,image_gid=$gid,image_mode=0440,default_permissions,cache_dir=$tmpdir/cache" ||
		fail "mount.fuse3 with allow_other,image_gid=$gid,image_mode=0440,default_permissions failed"
	cleanup_fn limg_umount_quiet "$M"
	readable "$u_in" "$rootfs" "$tmpdir/rootfs.iso"
	denied "$u_out" "$rootfs"
	limg_umount "$M"
	echo "mount.fuse3 (fstab form) with image_gid=$gid,image_mode=0440 and default_permissions: same"
else
	echo "SKIP: $testname: fstab part (no mount.fuse3)"
fi

# ------------------------------------------------------------- bad values
# bad OPTION WORDS...: mounting with -o OPTION exits 2, says OPTION and
# WORDS on stderr, and mounts nothing.
bad() {
	_opt=$1
	shift
	_rc=0
	"$LIMG" -o "nocache_dir,$_opt" "$L" "$M" 2>"$tmpdir/bad.err" || _rc=$?
	if mountpoint -q "$M"; then
		limg_umount "$M"
		fail "-o $_opt mounted"
	fi
	[ $_rc = 2 ] || { cat "$tmpdir/bad.err" >&2; fail "-o $_opt: exit $_rc, want 2"; }
	grep -q -F "$_opt:" "$tmpdir/bad.err" ||
		{ cat "$tmpdir/bad.err" >&2; fail "-o $_opt: the message does not name the option"; }
	for _w; do
		grep -q -F "$_w" "$tmpdir/bad.err" ||
			{ cat "$tmpdir/bad.err" >&2; fail "-o $_opt: the message does not say '$_w'"; }
	done
}
bad image_mode=0644 write
bad image_mode=0755 write
bad image_mode=abc octal
bad image_mode=-400 octal
bad image_mode=4440 setuid
bad image_mode=1444 sticky
bad image_mode=10000 "more than 0777"
bad image_uid=no-such-user "no such user"
bad image_gid=no-such-group "no such group"
bad image_uid=4294967295 uid
echo "bad image_mode, image_uid, image_gid values: exit 2, the option named, nothing mounted"
echo "PASS: $testname"
