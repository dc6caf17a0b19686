#!/bin/sh
# test-oci.sh - layers that are tar blobs, served without extraction: OCI
# image layouts with gzip, uncompressed and zstd layers, an oci-archive,
# a docker-archive and a containerd content store, all made offline from
# one image built by buildah (tests/lib/engines.sh: a debootstrap minbase,
# then two layers with whiteouts, an opaque and a renamed directory, hard
# links, xattrs, a FIFO, a suid file) with skopeo and ctr
# (tests/lib/oci.sh).
#
# Each form is mounted as SOURCE and checked:
#  - names: one <blob-hex>.iso per layer blob and nothing else,
#    by-diff-id/, images/<config-hex>/{layers,rootfs.iso} and tags/, as
#    the layout's own JSON says (digests computed here with jq and
#    sha256sum);
#  - contents: every layer image, read back by libisofs and by libarchive
#    (fuse-layerimg check), equals what `bsdtar -x` extracts from the same
#    blob with the OCI whiteouts in overlay form (.wh.X -> char 0:0 X,
#    .wh..wh..opq -> trusted.overlay.opaque=y);
#  - the same bytes whoever unpacked the layer: every layer image and the
#    flattened rootfs.iso are byte-identical (cmp) to the images of the
#    same diff-id that a mount of a Docker data root (docker load of the
#    docker-archive) and of the containers-storage graph root serve;
#  - `fuse-layerimg render` of each blob (plain, gzip, zstd) writes the
#    mount's image of it, and `render LAYOUT:REF` the flattened rootfs;
#  - nothing under any SOURCE is written (stat with ctime of every file,
#    sha256 of the metadata files, before and after).
#
# The readers compare the two small layers of every form and the base
# layer (6768 entries) of the plain layout, and of any form whose base
# layer is not byte-identical to Docker's (to show what differs); the
# identical ones are held to those bytes by cmp, which reads all of them
# through the mount. The containerd part is skipped, visibly, without
# containerd and ctr. Needs root, overlayfs and the Debian 12 packages of
# scripts/install-deps.sh (zstd for one check of the zstd blobs); the
# minbase is cached by limg_minbase. About 50 s (2 cores) once the
# minbase exists.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"
. "$top_srcdir/tests/lib/engines.sh"
. "$top_srcdir/tests/lib/oci.sh"
set -u

requires_mount
requires jq
requires bsdtar
requires gzip
requires setfattr
requires cmp
mktmpdir
limg_engines_requires docker buildah skopeo
LIMG_TIMES=$tmpdir/times
export LIMG_TIMES
START=$(_limg_ms)

errors=0
check() {	# check DESCRIPTION COMMAND...: count a failure, go on
	_chk=$1
	shift
	if ! "$@"; then
		echo "FAIL: $testname: $_chk" >&2
		errors=$((errors + 1))
	fi
	return 0
}
eq() { [ "$1" = "$2" ] || { echo "  expected '$2'" >&2; echo "  got      '$1'" >&2; return 1; }; }
same_list() {	# same_list EXPECTED-FILE ACTUAL-FILE
	cmp -s "$1" "$2" || { diff -u "$1" "$2" | head -30 | sed 's/^/  /' >&2; return 1; }
}
nth() { _n=$1; shift; eval "echo \"\${$((_n + 1))}\""; }   # nth N WORDS...: word N, from 0
hex() { echo "${1#sha256:}"; }

# Everything big lives on a private tmpfs (about 2.5 GB at most: the
# containers-storage and Docker roots, blobs, layouts, reference trees,
# caches and spools): on these disks (ext4 with discard) removing that
# many bytes at the end took longer than the test itself (the engines
# work on tmpfs: overlayfs takes it as an upper layer).
R=$tmpdir/ram
mkdir -p "$R"
mount -t tmpfs -o size=6g,mode=0755 limg-test-oci "$R" || fail "cannot mount a tmpfs on $R"
cleanup_fn sh -c "umount '$R' 2>/dev/null || umount -l '$R'"
# render's spool of a compressed blob (an unlinked file in $TMPDIR) stays
# on disk: it is freed before it is ever written back, and render reads it
# with SEEK_DATA / SEEK_HOLE, which tmpfs answers slowly.
mkdir -p "$tmpdir/tmp"
# The reference trees need user.* xattrs (tmpfs has them since Linux 6.6).
REFS=$R/ref
if ! { : > "$R/x" && setfattr -n user.limg -v 1 "$R/x"; } 2>/dev/null; then
	REFS=$tmpdir/ref
fi
rm -f "$R/x"

REF=localhost/limg-test:1
B=$R/b

# ------------------------------------------------------------- fixtures
limg_cstorage_env "$R/cs/root" "$R/cs/run"
img=$(limg_step "build image (total)" limg_build_test_image "$REF")
limg_blob_stores "$REF" "$B"
limg_step "start dockerd" limg_dockerd_start "$R/d"
limg_step "docker load" _limg_run "$tmpdir/docker-cli.log" "docker load" \
	limg_docker load -i "$B/image.docker.tar"
DR=$LIMG_DOCKER_ROOT
# Stopped: nothing touches the data root while it is read.
limg_step "stop dockerd" limg_dockerd_stop "$R/d"
CS=$LIMG_CS_ROOT
have_containerd=no
if command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1; then
	have_containerd=yes
	limg_containerd_import "$R/c" "$B/image.oci.tar" localhost/limg-test
fi

# ------------------------------------------------------------- what the layout says
P=$B/oci-plain
man=$(limg_oci_manifest "$P" 1)
cfg=$(limg_oci_config "$P" "$man")
check "the OCI config is the image buildah made" eq "$(hex "$cfg")" "$img"
check "the OCI config blob hashes to its name" eq "$(limg_sha256 "$(limg_oci_blob "$P" "$cfg")")" "$cfg"
diffs=$(limg_oci_diff_ids "$P" "$man")
chains=$(limg_chain_ids $diffs)
set -- $diffs
nlayers=$#
check "3 layers" eq "$nlayers" 3
CFG=$(hex "$cfg")

# Every layout's blobs hash to their names, and decompress to the diff-ids.
for form in gzip plain zstd; do
	L=$B/oci-$form
	m=$(limg_oci_manifest "$L" 1)
	check "oci-$form: manifest blob digest" eq "$(limg_sha256 "$(limg_oci_blob "$L" "$m")")" "$m"
	check "oci-$form: same config" eq "$(limg_oci_config "$L" "$m")" "$cfg"
	i=0
	for b in $(limg_oci_layers "$L" "$m"); do
		f=$(limg_oci_blob "$L" "$b")
		check "oci-$form: layer $i blob digest" eq "$(limg_sha256 "$f")" "$b"
		k=$(limg_blob_kind "$f")
		case $form in plain) want=tar ;; *) want=$form ;; esac
		check "oci-$form: layer $i is $want ($k)" eq "$k" "$want"
		if [ $form = zstd ] && ! command -v zstd >/dev/null 2>&1; then
			[ $i -gt 0 ] || echo "SKIP: $testname: zstd blobs' diff-ids (zstd is not installed)"
		elif [ $form != plain ]; then
			check "oci-$form: layer $i decompresses to its diff-id" eq \
				"sha256:$(limg_blob_cat "$f" | sha256sum | cut -c1-64)" "$(nth $i $diffs)"
		fi
		eval "blobs_$form=\"\${blobs_$form:-} $(hex "$b")\""
		i=$((i + 1))
	done
done
check "oci-plain: layer digests = diff-ids" eq "$(echo $blobs_plain)" "$(for d in $diffs; do hex "$d"; done | tr '\n' ' ' | sed 's/ $//')"

# The reference trees: what a runtime extracts from each blob.
i=0
for d in $diffs; do
	limg_step "bsdtar -x layer $i" limg_blob_tree "$P/blobs/sha256/$(hex "$d")" "$REFS/$i" ||
		fail "cannot extract layer $i"
	i=$((i + 1))
done

# ------------------------------------------------------------- at rest, before
# snapshot DIR...: every entry with type, size, mode, mtime, ctime, inode;
# the sha256 of every file under 1 MiB (the metadata).
snapshot() {
	find "$@" -printf '%p %y %s %m %T@ %C@ %i\n' | sort
	find "$@" -type f -size -1M -exec sha256sum {} + | sort
}
rest_dirs="$B"
[ $have_containerd = no ] || rest_dirs="$rest_dirs $LIMG_CTR_ROOT"
snapshot $rest_dirs > "$tmpdir/rest-before"

# ------------------------------------------------------------- the directory stores
# wait_ready MNT [SECS]: 0 once every image is laid out; 1 after SECS
# (default 60), or at once when images are pending but for 3 s nothing
# was queued, settling, running or building (the workers are off).
wait_ready() {
	_wr=0
	_idle=0
	while [ $_wr -lt $(( ${2:-60} * 10 )) ]; do
		eval "$(awk '$1 ~ /^[a-z_]+$/ && $2 ~ /^[0-9.]+$/ { printf "_s_%s=%s\n", $1, $2 }' "$1/.stats" 2>/dev/null)"
		[ "${_s_images_pending:-x}" = 0 ] && [ "${_s_queue_length:-x}" = 0 ] && return 0
		if [ "${_s_queue_length:-0}${_s_queue_settling:-0}${_s_queue_running:-0}${_s_images_building:-0}" = 0000 ]; then
			_idle=$((_idle + 1))
			[ $_idle -lt 30 ] || break
		else
			_idle=0
		fi
		sleep 0.1
		_wr=$((_wr + 1))
	done
	sed 's/^/  /' "$1/.stats" >&2
	return 1
}
md=$tmpdir/m/docker
mc=$tmpdir/m/cs
limg_mount "$DR" "$md" -o workers=1,cache_dir="$R/cache/docker"
limg_mount "$CS" "$mc" -o workers=1,cache_dir="$R/cache/cs"
for d in $diffs; do
	[ -e "$md/by-diff-id/$(hex "$d").iso" ] || fail "the Docker mount has no by-diff-id/$(hex "$d").iso"
	[ -e "$mc/by-diff-id/$(hex "$d").iso" ] || fail "the containers-storage mount has no by-diff-id/$(hex "$d").iso"
done
[ -e "$md/images/$CFG/rootfs.iso" ] || fail "the Docker mount has no images/$CFG/rootfs.iso"

# ------------------------------------------------------------- each form
# check_readers FORM IMAGE N: IMAGE, read by libisofs and libarchive,
# equals reference tree N.
check_readers() {
	for _r in libisofs libarchive; do
		if ! "$LIMG" check -q --reader=$_r "$2" "$REFS/$3" 2>/dev/null; then
			echo "FAIL: $testname: $1: layer $3 ($2) read by $_r differs from bsdtar -x of its blob:" >&2
			"$LIMG" check --reader=$_r "$2" "$REFS/$3" 2>&1 | head -30 | sed 's/^/  /' >&2
			"$LIMG" check --print --reader=$_r "$2" > "$tmpdir/print.img" 2>/dev/null || true
			"$LIMG" check --print "$REFS/$3" > "$tmpdir/print.ref" 2>/dev/null || true
			echo "  listings (- bsdtar -x, + image):" >&2
			diff "$tmpdir/print.ref" "$tmpdir/print.img" | head -20 | sed 's/^/  /' >&2
			errors=$((errors + 1))
		fi
	done
}

# check_form FORM SOURCE BLOBS TAG READERS: mount SOURCE and check it;
# BLOBS: the layer blobs' hex digests, lowest first; TAG: the path under
# tags/ of the image; READERS: yes to read every layer image back.
check_form() {
	_f=$1 _src=$2 _blobs=$3 _tag=$4 _readers=$5
	_m=$tmpdir/m/$_f
	mkdir -p "$_m"
	# Not limg_mount: a form that cannot be mounted fails, the others
	# are still checked.
	if ! "$LIMG" -o workers=1,cache_dir="$R/cache/$_f" "$_src" "$_m"; then
		check "$_f: mount $_src" false
		return 0
	fi
	cleanup_fn limg_umount_quiet "$_m"
	wait_ready "$_m" || check "$_f: the background workers lay out every image" false
	# Layer images: one per layer blob, nothing else (no config, no manifest).
	for _b in $_blobs; do echo "$_b.iso"; done | sort > "$tmpdir/want.ls"
	(cd "$_m" && ls -d -- *.iso 2>/dev/null) | sort > "$tmpdir/got.ls"
	check "$_f: the layer images are the layer blobs (- expected, + served)" \
		same_list "$tmpdir/want.ls" "$tmpdir/got.ls"
	_i=0
	for _b in $_blobs; do
		_d=$(nth $_i $diffs)
		_c=$(nth $_i $chains)
		if [ ! -f "$_m/$_b.iso" ]; then
			check "$_f: layer $_i: $_b.iso is served" false
			_i=$((_i + 1))
			continue
		fi
		check "$_f: by-diff-id/$(hex "$_d").iso -> ../$_b.iso" eq \
			"$(readlink "$_m/by-diff-id/$(hex "$_d").iso")" "../$_b.iso"
		check "$_f: images/$CFG/layers line $((_i + 1))" eq \
			"$(sed -n "$((_i + 1))p" "$_m/images/$CFG/layers" 2>/dev/null)" "$_i $_d $_c $_b.iso"
		_same=yes
		cmp "$_m/$_b.iso" "$md/by-diff-id/$(hex "$_d").iso" || _same=no
		check "$_f: layer $_i ($_b.iso) = Docker's image of $_d" test $_same = yes
		check "$_f: layer $_i ($_b.iso) = containers-storage's image of $_d" \
			cmp "$_m/$_b.iso" "$mc/by-diff-id/$(hex "$_d").iso"
		# The small layers are cheap: read back in every form; the base
		# layer where asked, or to show what differs.
		if [ "$_readers" = yes ] || [ $_i -gt 0 ] || [ $_same = no ]; then
			check_readers "$_f" "$_m/$_b.iso" $_i
		fi
		_i=$((_i + 1))
	done
	if [ -d "$_m/images/$CFG" ]; then
		check "$_f: $nlayers lines in images/$CFG/layers" eq "$(wc -l < "$_m/images/$CFG/layers")" "$nlayers"
		check "$_f: images/$CFG/rootfs.iso = Docker's" cmp "$_m/images/$CFG/rootfs.iso" "$md/images/$CFG/rootfs.iso"
		check "$_f: images/$CFG/rootfs.iso = containers-storage's" \
			cmp "$_m/images/$CFG/rootfs.iso" "$mc/images/$CFG/rootfs.iso"
		check "$_f: tags/$_tag -> images/$CFG" eq \
			"$(cd "$_m/tags" 2>/dev/null && readlink -f -- "$_tag")" "$(cd "$_m/images/$CFG" && pwd -P)"
	else
		check "$_f: images/$CFG is served" false
	fi
	_spool=$(find "$R/cache/$_f" -type f -name '*.spool' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	echo "$testname: $_f: $(ls "$_m" | grep -c '\.iso$') layer images, tags: $(cd "$_m/tags" 2>/dev/null && find . -type l | sed 's|^\./||' | tr '\n' ' ')spool bytes: $_spool"
	limg_umount "$_m"
}

# Tags are what the JSON says: a layout's ref.name (skopeo writes the bare
# tag), an archive's RepoTags, containerd's image names (under tags/NS/).
tag_of() { limg_oci_ref_names "$1/index.json"; }
limg_step "oci (plain)" check_form oci-plain "$B/oci-plain" "$blobs_plain" "$(tag_of "$B/oci-plain")" yes
limg_step "oci (gzip)" check_form oci-gzip "$B/oci-gzip" "$blobs_gzip" "$(tag_of "$B/oci-gzip")" no
limg_step "oci (zstd)" check_form oci-zstd "$B/oci-zstd" "$blobs_zstd" "$(tag_of "$B/oci-zstd")" no
# oci-archive: the gzip layout's blobs, in one tar.
tar -tf "$B/image.oci.tar" | sed -n 's|^blobs/sha256/\(.\)|\1|p' | sort > "$tmpdir/oa.ls"
ls "$B/oci-gzip/blobs/sha256" | sort > "$tmpdir/og.ls"
check "oci-archive holds the gzip layout's blobs" same_list "$tmpdir/og.ls" "$tmpdir/oa.ls"
oa_tag=$(tar -xOf "$B/image.oci.tar" index.json | limg_oci_ref_names -)
limg_step "oci-archive" check_form oci-archive "$B/image.oci.tar" "$blobs_gzip" "$oa_tag" no
# docker-archive: layers are <diff-id hex>.tar, the config <id>.json.
tar -xOf "$B/image.docker.tar" manifest.json > "$tmpdir/da.json"
check "docker-archive: config" eq "$(jq -r '.[0].Config' "$tmpdir/da.json")" "$CFG.json"
check "docker-archive: layers" eq "$(jq -r '.[0].Layers | join(" ")' "$tmpdir/da.json")" \
	"$(for b in $blobs_plain; do printf '%s.tar ' "$b"; done | sed 's/ $//')"
da_tag=$(jq -r '.[0].RepoTags[0]' "$tmpdir/da.json")
limg_step "docker-archive" check_form docker-archive "$B/image.docker.tar" "$blobs_plain" "$da_tag" no
if [ $have_containerd = yes ]; then
	CB=$LIMG_CTR_ROOT/io.containerd.content.v1.content/blobs/sha256
	for b in $blobs_gzip; do
		check "containerd: blob $b imported" test -f "$CB/$b"
	done
	check "containerd: one image, named by --base-name and the ref.name" eq \
		"$LIMG_CTR_IMAGES" "localhost/limg-test:$oa_tag"
	# Namespace "limg": tags/limg/<name>.
	limg_step "containerd" check_form containerd "$LIMG_CTR_ROOT" "$blobs_gzip" "limg/$LIMG_CTR_IMAGES" no
else
	echo "SKIP: $testname: containerd part (containerd or ctr not installed)"
fi

# ------------------------------------------------------------- render
# A blob file, each compression, is the image the mounts serve.
render_blobs() {
	for _form in plain gzip zstd; do
		eval "_bl=\$blobs_$_form"
		_i=0
		for _b in $_bl; do
			_d=$(nth $_i $diffs)
			_o=$R/render-$_form-$_i.iso
			if ! TMPDIR=$tmpdir/tmp "$LIMG" render -q "$B/oci-$_form/blobs/sha256/$_b" -o "$_o" \
				2> "$tmpdir/render.err"; then
				sed 's/^/  /' "$tmpdir/render.err" >&2
				check "render of the $_form blob of layer $_i" false
			else
				check "render of the $_form blob of layer $_i = the mounts' image of $_d" \
					cmp "$_o" "$md/by-diff-id/$(hex "$_d").iso"
			fi
			rm -f "$_o"
			_i=$((_i + 1))
		done
	done
	for _form in plain; do
		_o=$R/render-$_form-rootfs.iso
		if ! TMPDIR=$tmpdir/tmp "$LIMG" render -q "$B/oci-$_form:1" -o "$_o" 2> "$tmpdir/render.err"; then
			sed 's/^/  /' "$tmpdir/render.err" >&2
			check "render oci-$_form:1 (the flattened image)" false
		else
			check "render oci-$_form:1 = images/$CFG/rootfs.iso" cmp "$_o" "$md/images/$CFG/rootfs.iso"
		fi
		rm -f "$_o"
	done
}
limg_step "render" render_blobs

# ------------------------------------------------------------- at rest, after
limg_umount "$md"
limg_umount "$mc"
snapshot $rest_dirs > "$tmpdir/rest-after"
check "nothing under the blob stores was written (- before, + after)" \
	same_list "$tmpdir/rest-before" "$tmpdir/rest-after"

echo "$testname: whole test $(( ($(_limg_ms) - START) / 1000 )) s"
[ $errors = 0 ] || fail "$errors checks failed"
echo "PASS: $testname"
