# oci.sh - tar-blob stores as test fixtures: OCI image layouts (gzip,
# uncompressed, zstd layers), an oci-archive, a docker-archive and a
# containerd content store, all made offline from one image that
# tests/lib/engines.sh built with buildah; and helpers that read them
# with jq and sha256sum, independently of the program under test.
# Source it after functions.sh and engines.sh.
#
# Fixtures (each step timed with limg_step; everything under $tmpdir):
#
#	limg_blob_stores REF DIR	from the containers-storage image REF
#				(limg_build_test_image) make, with skopeo:
#				DIR/oci-gzip, DIR/oci-plain, DIR/oci-zstd (OCI
#				layouts, tag "1"), DIR/image.oci.tar
#				(oci-archive, tag "1", the gzip blobs) and
#				DIR/image.docker.tar (docker-archive,
#				REF without localhost/). Compresses each layer
#				once per format: oci-archive reuses the gzip
#				blobs, zstd is made from the plain layout.
#	limg_containerd_import DIR ARCHIVE BASE-NAME
#				start a private containerd in DIR
#				(limg_containerd_start), `ctr -n limg images
#				import` ARCHIVE (an oci-archive: its refs become
#				BASE-NAME:TAG), then stop it so that its root
#				DIR/root is at rest (--no-unpack: no
#				snapshots, blobs and metadata only); sets
#				LIMG_CTR_ROOT and LIMG_CTR_IMAGES (the names
#				`ctr images ls -q` gives, one a line)
#
# Reading a layout (LAYOUT: an OCI layout directory):
#
#	limg_oci_manifest LAYOUT REF	digest of the manifest whose
#				org.opencontainers.image.ref.name is REF
#	limg_oci_ref_names INDEX-JSON	the ref.name annotations of an
#				index.json (a file, or - for stdin), one a line
#	limg_oci_blob LAYOUT DIGEST	the path of the blob
#	limg_oci_json LAYOUT DIGEST JQ	jq -r JQ over the blob
#	limg_oci_layers LAYOUT MANIFEST	the layer digests, lowest first
#	limg_oci_config LAYOUT MANIFEST	the config digest (= the image id)
#	limg_oci_diff_ids LAYOUT MANIFEST
#				the config's rootfs.diff_ids, lowest first
#	limg_chain_ids DIFF-ID...	the chain ids, lowest first
#	limg_sha256 FILE		sha256:HEX of FILE
#
# Making a layout by hand (the bad-input tests):
#
#	limg_oci_layout_new DIR	an empty OCI layout (oci-layout, index.json
#				with no manifests, blobs/sha256/)
#	limg_oci_put DIR FILE		copy FILE in as a blob; prints its digest
#	limg_oci_image DIR REF LAYER...	an image of the tar blobs LAYER...
#				(lowest first; plain, gzip or zstd, media type
#				by magic number): the blobs, a config whose
#				diff_ids are the sha256 of each decompressed
#				blob, a manifest, and an index.json entry with
#				ref.name REF; sets oci_config and oci_manifest
#				(digests) and oci_layers (the layer digests)
#	limg_oci_index_add DIR DIGEST MEDIA-TYPE SIZE REF
#				add a descriptor to DIR/index.json
#
# Blobs:
#
#	limg_blob_kind FILE		gzip, zstd or tar, by magic number
#	limg_blob_cat FILE		FILE decompressed to stdout
#	limg_blob_tree BLOB DIR	what a container runtime makes of the layer
#				blob: bsdtar -x (owners, modes, xattrs,
#				hard links, devices, FIFOs, times), then OCI
#				whiteouts in overlay form (.wh.X -> char
#				device 0:0 X; .wh..wh..opq -> the xattr
#				trusted.overlay.opaque=y on its directory),
#				directory mtimes kept as the tar set them
#
# POSIX sh. Needs jq, sha256sum, bsdtar, gzip; zstd for zstd blobs.

# ------------------------------------------------------------- layouts

limg_sha256() {
	echo "sha256:$(sha256sum < "$1" | cut -c1-64)"
}

limg_oci_blob() {
	_ob_alg=${2%%:*}
	echo "$1/blobs/$_ob_alg/${2#*:}"
}

limg_oci_json() {
	jq -r "$3" "$(limg_oci_blob "$1" "$2")"
}

limg_oci_manifest() {
	jq -r --arg r "$2" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
		"$1/index.json"
}

limg_oci_ref_names() {
	jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"] // empty' "$1"
}

limg_oci_layers() {
	limg_oci_json "$1" "$2" '.layers[].digest'
}

limg_oci_config() {
	limg_oci_json "$1" "$2" '.config.digest'
}

limg_oci_diff_ids() {
	limg_oci_json "$1" "$(limg_oci_config "$1" "$2")" '.rootfs.diff_ids[]'
}

limg_chain_ids() {
	_ci=
	for _cd; do
		if [ -z "$_ci" ]; then
			_ci=$_cd
		else
			_ci=sha256:$(printf '%s %s' "$_ci" "$_cd" | sha256sum | cut -c1-64)
		fi
		echo "$_ci"
	done
}

# ------------------------------------------------------------- by hand

limg_oci_layout_new() {
	mkdir -p "$1/blobs/sha256"
	printf '{"imageLayoutVersion":"1.0.0"}' > "$1/oci-layout"
	printf '{"schemaVersion":2,"manifests":[]}' > "$1/index.json"
}

limg_oci_put() {
	_op=$(limg_sha256 "$2")
	cp "$2" "$1/blobs/sha256/${_op#sha256:}"
	echo "$_op"
}

limg_oci_index_add() {
	jq -c --arg d "$2" --arg t "$3" --argjson s "$4" --arg r "$5" \
		'.manifests += [{mediaType: $t, digest: $d, size: $s,
			annotations: {"org.opencontainers.image.ref.name": $r}}]' \
		"$1/index.json" > "$1/index.json.new" && mv "$1/index.json.new" "$1/index.json"
}

limg_oci_image() {
	_oi=$1
	_oi_ref=$2
	shift 2
	_oi_descs=
	_oi_diffs=
	oci_layers=
	for _oi_l; do
		_oi_d=$(limg_oci_put "$_oi" "$_oi_l")
		case $(limg_blob_kind "$_oi_l") in
		gzip) _oi_t=application/vnd.oci.image.layer.v1.tar+gzip ;;
		zstd) _oi_t=application/vnd.oci.image.layer.v1.tar+zstd ;;
		*) _oi_t=application/vnd.oci.image.layer.v1.tar ;;
		esac
		_oi_descs="$_oi_descs$(jq -nc --arg t "$_oi_t" --arg d "$_oi_d" \
			--argjson s "$(wc -c < "$_oi_l")" '{mediaType: $t, digest: $d, size: $s}')
"
		# (of what decompresses: a broken blob gets a digest too)
		_oi_diffs="$_oi_diffs sha256:$(limg_blob_cat "$_oi_l" 2>/dev/null | sha256sum | cut -c1-64)"
		oci_layers="$oci_layers $_oi_d"
	done
	oci_layers=${oci_layers# }
	_oi_tmp=$(mktemp "${tmpdir:-/tmp}/oci-json.XXXXXX")
	# shellcheck disable=SC2086
	jq -nc --arg ref "$_oi_ref" '{architecture: "amd64", os: "linux",
		config: {Labels: {"org.example.limg": $ref}},
		rootfs: {type: "layers", diff_ids: $ARGS.positional}}' \
		--args $_oi_diffs > "$_oi_tmp"
	oci_config=$(limg_oci_put "$_oi" "$_oi_tmp")
	printf '%s' "$_oi_descs" | jq -sc --arg c "$oci_config" --argjson cs "$(wc -c < "$_oi_tmp")" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		  layers: .}' > "$_oi_tmp"
	oci_manifest=$(limg_oci_put "$_oi" "$_oi_tmp")
	limg_oci_index_add "$_oi" "$oci_manifest" application/vnd.oci.image.manifest.v1+json \
		"$(wc -c < "$_oi_tmp")" "$_oi_ref"
	rm -f "$_oi_tmp"
}

# ------------------------------------------------------------- blobs

limg_blob_kind() {
	case $(od -An -tx1 -N4 "$1" | tr -d ' \n') in
	1f8b*) echo gzip ;;
	28b52ffd) echo zstd ;;
	*) echo tar ;;
	esac
}

limg_blob_cat() {
	case $(limg_blob_kind "$1") in
	gzip) gzip -dc < "$1" ;;
	zstd) zstd -qdc < "$1" ;;
	tar) cat "$1" ;;
	esac
}

# The overlay form of one whiteout marker ($1: its path), keeping the
# parent directory's times (removing and making names changes them).
_limg_whiteout_to_overlay() {
	_wo_d=$(dirname "$1")
	_wo_b=$(basename "$1")
	touch -r "$_wo_d" "$_wo_stamp"
	rm -f "$1"
	case $_wo_b in
	.wh..wh..opq)
		setfattr -n trusted.overlay.opaque -v y "$_wo_d" ;;
	.wh..wh.*)
		;;	# other aufs markers (.wh..wh.plnk, ...): dropped
	*)
		mknod -m 000 "$_wo_d/${_wo_b#.wh.}" c 0 0 ;;
	esac
	touch -r "$_wo_stamp" "$_wo_d"
}

limg_blob_tree() {
	_bt_blob=$1
	_bt_dir=$2
	mkdir -p "$_bt_dir"
	# As root bsdtar keeps owners and modes (-p); --xattrs restores the
	# SCHILY.xattr / LIBARCHIVE.xattr records.
	bsdtar -x -p --numeric-owner --xattrs -f "$_bt_blob" -C "$_bt_dir" ||
		{ echo "bsdtar -x $_bt_blob failed" >&2; return 1; }
	_wo_stamp=$(mktemp "${tmpdir:-/tmp}/wh-stamp.XXXXXX")
	# Deepest first, so that a marker in a directory that is itself
	# whited out (not in OCI tars, but cheap to allow) goes first.
	find "$_bt_dir" -name '.wh.*' -print | awk '{ print length($0) "\t" $0 }' |
		sort -rn | cut -f2- > "$_wo_stamp.list"
	while IFS= read -r _wo; do
		_limg_whiteout_to_overlay "$_wo" || return 1
	done < "$_wo_stamp.list"
	rm -f "$_wo_stamp" "$_wo_stamp.list"
}

# ------------------------------------------------------------- fixtures

# _limg_skopeo_copy LABEL SRC DEST [FLAGS...]
_limg_skopeo_copy() {
	_sc_label=$1 _sc_src=$2 _sc_dst=$3
	shift 3
	limg_step "$_sc_label" _limg_run "$tmpdir/skopeo.log" "skopeo copy $_sc_src to $_sc_dst" \
		limg_skopeo copy --quiet "$@" "$_sc_src" "$_sc_dst"
}

limg_blob_stores() {
	_limg_need_tmpdir
	_bs_ref=$1
	_bs=$2
	_bs_name=${_bs_ref#localhost/}
	mkdir -p "$_bs"
	rm -rf "$_bs/oci-gzip" "$_bs/oci-plain" "$_bs/oci-zstd" "$_bs/image.oci.tar" "$_bs/image.docker.tar"
	_bs_cs=$(_limg_cs_ref "$_bs_ref")
	_limg_skopeo_copy "skopeo to oci (gzip)" "$_bs_cs" "oci:$_bs/oci-gzip:1"
	_limg_skopeo_copy "skopeo to oci (plain)" "$_bs_cs" "oci:$_bs/oci-plain:1" \
		--dest-oci-accept-uncompressed-layers
	_limg_skopeo_copy "skopeo to oci (zstd)" "oci:$_bs/oci-plain:1" "oci:$_bs/oci-zstd:1" \
		--dest-compress-format zstd
	_limg_skopeo_copy "skopeo to oci-archive" "oci:$_bs/oci-gzip:1" "oci-archive:$_bs/image.oci.tar:1"
	_limg_skopeo_copy "skopeo to docker-archive" "$_bs_cs" "docker-archive:$_bs/image.docker.tar:$_bs_name"
}

limg_containerd_import() {
	_limg_need_tmpdir
	_cimp=$1
	limg_step "start containerd" limg_containerd_start "$_cimp"
	limg_step "ctr images import" _limg_run "$tmpdir/ctr.log" "ctr images import $2" \
		limg_ctr -n limg images import --no-unpack --base-name "$3" "$2"
	LIMG_CTR_IMAGES=$(_limg_out "$tmpdir/ctr.log" "ctr images ls" limg_ctr -n limg images ls -q)
	limg_step "stop containerd" limg_containerd_stop "$_cimp"
	LIMG_CTR_ROOT=$(cd "$_cimp/root" && pwd -P)
}
