#!/bin/sh
# test-engines-fixture.sh - the real-engine fixtures of tests/lib/engines.sh
# keep working: build a test image with buildah into a private
# containers-storage, copy it into a private dockerd (docker-archive, docker
# load), create and run containers (docker, podman), copy it to OCI
# layouts (gzip, zstd, uncompressed) and an oci-archive, then check the
# on-disk metadata that docs/STORES.md describes, and that nothing was left
# running, mounted, or written outside the test's directory.
#
# Needs root, overlayfs, and the Debian 12 packages docker.io buildah
# podman skopeo runc jq attr (scripts/install-deps.sh); the minbase root
# file system is built once with debootstrap (network, about 1-4 minutes)
# and cached in $LIMG_TEST_CACHE (default /var/tmp/limg-test-cache).
# About 45 s once the cache exists (2 cores).

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/engines.sh"

requires_root
mktmpdir
limg_engines_requires docker buildah skopeo podman
LIMG_TIMES=$tmpdir/times
export LIMG_TIMES
START=$(_limg_ms)

errors=0
check() {	# check DESCRIPTION COMMAND...: count a failure, go on
	_d=$1
	shift
	if ! "$@"; then
		echo "FAIL: $testname: $_d" >&2
		errors=$((errors + 1))
	fi
}
eq() { [ "$1" = "$2" ] || { echo "  expected '$2', got '$1'" >&2; return 1; }; }
is_whiteout() {	# char 0:0
	[ -c "$1" ] && [ "$(stat -c '%t:%T' "$1")" = 0:0 ]
}
xattr() {	# xattr FILE NAME: print the value
	getfattr --absolute-names --only-values -h -n "$2" "$1" 2>/dev/null
}
# tree_list DIR: path, type+mode, owner, size (not of directories), nlink,
# symlink target, mtime in whole seconds (the layer tars cut the rest).
tree_list() {
	(cd "$1" && find . -mindepth 1 -printf '%p %M %U:%G %s %n %T@ %l\n') |
		awk '{ if (substr($2, 1, 1) == "d") $4 = "-"; $6 = sprintf("%d", $6); print }' | sort
}
same_tree() {	# same_tree A B: no differences but the root directory
	tree_list "$1" > "$tmpdir/tree.a"
	tree_list "$2" > "$tmpdir/tree.b"
	if ! cmp -s "$tmpdir/tree.a" "$tmpdir/tree.b"; then
		diff "$tmpdir/tree.a" "$tmpdir/tree.b" | head -10 >&2
		return 1
	fi
}

# Host paths the engines would write by default: none may appear.
host_paths="/etc/docker/key.json /var/lib/docker /var/lib/containers
	/var/cache/containers /run/docker /run/containers /opt/containerd
	/run/containerd"
host_before=
for p in $host_paths; do
	[ -e "$p" ] && host_before="$host_before $p"
done
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)

REF=localhost/limg-test:1

# ------------------------------------------------------------- buildah
limg_cstorage_env "$tmpdir/cs/root" "$tmpdir/cs/run"
img=$(limg_step "build image (total)" limg_build_test_image "$REF")
CS=$LIMG_CS_ROOT

cs_image() {	# cs_image NAME: the image record
	jq -c --arg n "$1" '.[] | select(.names // [] | index($n))' "$CS/overlay-images/images.json"
}
rec=$(cs_image "$REF")
check "images.json: $REF has the id buildah printed" eq "$(echo "$rec" | jq -r .id)" "$img"
for n in "$REF-base" "$REF-edits"; do
	check "images.json: $n exists" test -n "$(cs_image "$n")"
done
# The layer order: parent links from the image's top layer.
top=$(echo "$rec" | jq -r .layer)
cs_layers=
l=$top
while [ -n "$l" ] && [ "$l" != null ]; do
	cs_layers="$l $cs_layers"
	l=$(jq -r --arg id "$l" '.[] | select(.id == $id) | .parent // empty' "$CS/overlay-layers/layers.json")
done
set -- $cs_layers
check "containers-storage: 3 layers under the image" eq "$#" 3
cs_diffids=
for l in $cs_layers; do
	check "layers.json: layer $l complete" eq \
		"$(jq -r --arg id "$l" '.[] | select(.id == $id) | .flags.incomplete // false' "$CS/overlay-layers/layers.json")" false
	cs_diffids="$cs_diffids $(jq -r --arg id "$l" '.[] | select(.id == $id) | ."diff-digest"' "$CS/overlay-layers/layers.json")"
	d=$CS/overlay/$l
	check "overlay/$l/diff" test -d "$d/diff"
	check "overlay/$l/diff is 0555" eq "$(stat -c %a "$d/diff")" 555
	link=$(cat "$d/link")
	check "overlay/l/$link -> ../$l/diff" eq "$(readlink "$CS/overlay/l/$link")" "../$l/diff"
done
cs_diffids=${cs_diffids# }
# The config is a big-data item named by the image id.
key=$(printf 'sha256:%s' "$img" | base64 -w0)
cfg=$CS/overlay-images/$img/=$key
check "overlay-images/ID/=base64(sha256:ID) is the config" test -f "$cfg"
check "the image id is the config's sha256" eq "$(sha256sum < "$cfg" | cut -c1-64)" "$img"
check "config diff_ids = layers' diff-digest" eq \
	"$(jq -r '.rootfs.diff_ids | join(" ")' "$cfg")" "$cs_diffids"
# Layer ids: the first is its diff digest, then sha256(parent "+" diff).
set -- $cs_layers
check "first layer id = its diff-digest" eq "sha256:$1" "$(echo "$cs_diffids" | cut -d' ' -f1)"
check "second layer id = sha256(parent+diff)" eq "$2" \
	"$(printf '%s+%s' "$1" "$(echo "$cs_diffids" | cut -d' ' -f2 | cut -c8-)" | sha256sum | cut -c1-64)"
check "lower of the top layer" eq "$(cat "$CS/overlay/$3/lower")" \
	"l/$(cat "$CS/overlay/$2/link"):l/$(cat "$CS/overlay/$1/link")"
# Layer contents as buildah's extraction left them.
ROOTFS=$(limg_minbase)
check "containers-storage base layer = the minbase tree" same_tree "$ROOTFS" "$CS/overlay/$1/diff"
L2=$CS/overlay/$2/diff
L3=$CS/overlay/$3/diff
check_layer2() {	# DIR ENGINE
	check "$2: file whiteout etc/motd" is_whiteout "$1/etc/motd"
	check "$2: directory whiteout usr/share/doc/bash" is_whiteout "$1/usr/share/doc/bash"
	check "$2: renamed directory: whiteout of the old name" is_whiteout "$1/etc/cron.daily"
	check "$2: renamed directory: copy under the new name" test -f "$1/etc/cron.daily.renamed/dpkg"
	check "$2: opaque directory" eq "$(xattr "$1/etc/apt/apt.conf.d" trusted.overlay.opaque)" y
	check "$2: opaque directory holds only the new file" eq "$(ls "$1/etc/apt/apt.conf.d")" 99limg
	check "$2: hard link" eq "$(stat -c %i "$1/opt/limg/hl-a")" "$(stat -c %i "$1/opt/limg/hl-b")"
	check "$2: hard link to a copied-up base file" eq \
		"$(stat -c %i "$1/usr/bin/gzip")" "$(stat -c %i "$1/opt/limg/gzip-hardlink")"
	check "$2: symlink" eq "$(readlink "$1/opt/limg/symlink-abs")" /etc/os-release
	check "$2: user xattr" eq "$(xattr "$1/opt/limg/xattr" user.limg.test)" hello
	check "$2: whiteouts are separate inodes" eq "$(stat -c %h "$1/etc/motd")" 1
}
check_layer3() {
	check "$2: whiteout of a layer-2 file" is_whiteout "$1/opt/limg/hl-b"
	check "$2: fifo" test -p "$1/opt/limg/l3/fifo"
	check "$2: suid" eq "$(stat -c %a "$1/opt/limg/l3/suid")" 4755
	check "$2: owner 1000" eq "$(stat -c %u:%g "$1/opt/limg/l3/file")" 1000:1000
}
check_layer2 "$L2" buildah
check_layer3 "$L3" buildah

# ------------------------------------------------------------- docker
limg_step "start dockerd" limg_dockerd_start "$tmpdir/d"
D=$LIMG_DOCKER_ROOT/image/overlay2
did=$(limg_export_to_docker "$REF")
check "docker image id = config digest" eq "$did" "sha256:$img"
limg_step "docker tag" limg_docker tag limg-test:1 limg-test:alias
check "repositories.json: limg-test:1" eq \
	"$(jq -r '.Repositories["limg-test"]["limg-test:1"]' "$D/repositories.json")" "$did"
check "repositories.json: limg-test:alias" eq \
	"$(jq -r '.Repositories["limg-test"]["limg-test:alias"]' "$D/repositories.json")" "$did"
dcfg=$D/imagedb/content/sha256/${did#sha256:}
check "imagedb/content/sha256/ID" test -f "$dcfg"
check "docker: the image id is the config's sha256" eq "sha256:$(sha256sum < "$dcfg" | cut -c1-64)" "$did"
diffids=$(jq -r '.rootfs.diff_ids | join(" ")' "$dcfg")
check "docker diff_ids = containers-storage diff-digests" eq "$diffids" "$cs_diffids"
# chain_id(1) = diff_id(1); chain_id(n) = sha256(chain_id(n-1) + " " + diff_id(n))
chain=
n=0
for d in $diffids; do
	n=$((n + 1))
	if [ -z "$chain" ]; then
		chain=$d
	else
		parent=$chain
		chain=sha256:$(printf '%s %s' "$chain" "$d" | sha256sum | cut -c1-64)
	fi
	ld=$D/layerdb/sha256/${chain#sha256:}
	check "layerdb/sha256/${chain#sha256:} (computed chain id)" test -d "$ld"
	[ -d "$ld" ] || continue
	check "layerdb: diff" eq "$(cat "$ld/diff")" "$d"
	if [ "$chain" = "$d" ]; then
		check "layerdb: no parent in the first layer" test ! -e "$ld/parent"
	else
		check "layerdb: parent" eq "$(cat "$ld/parent")" "$parent"
	fi
	check "layerdb: tar-split.json.gz" test -s "$ld/tar-split.json.gz"
	cache=$(cat "$ld/cache-id")
	o=$LIMG_DOCKER_ROOT/overlay2/$cache
	check "overlay2/CACHE-ID/diff" test -d "$o/diff"
	check "overlay2/CACHE-ID/diff is 0755" eq "$(stat -c %a "$o/diff")" 755
	check "overlay2/l/LINK -> ../CACHE-ID/diff" eq "$(readlink "$LIMG_DOCKER_ROOT/overlay2/l/$(cat "$o/link")")" "../$cache/diff"
	eval "dl_$n=\$o/diff"
done
topchain=$chain
check "docker base layer = the minbase tree" same_tree "$ROOTFS" "$dl_1"
check_layer2 "$dl_2" dockerd
check_layer3 "$dl_3" dockerd

cid=$(limg_step "docker create" limg_docker_create "$REF" limg-ctr)
m=$D/layerdb/mounts/$cid
check "layerdb/mounts/ID/mount-id" test -s "$m/mount-id"
mid=$(cat "$m/mount-id")
check "layerdb/mounts/ID/init-id = mount-id-init" eq "$(cat "$m/init-id")" "$mid-init"
check "layerdb/mounts/ID/parent = top chain id" eq "$(cat "$m/parent")" "$topchain"
init=$LIMG_DOCKER_ROOT/overlay2/$mid-init/diff
for f in etc/hosts etc/hostname etc/resolv.conf .dockerenv dev/console; do
	check "init layer: empty $f" test -f "$init/$f" -a ! -s "$init/$f"
done
check "init layer: etc/mtab -> /proc/mounts" eq "$(readlink "$init/etc/mtab")" /proc/mounts
check "init layer: lower lists the image layers" eq \
	"$(awk -F: '{ print NF }' "$LIMG_DOCKER_ROOT/overlay2/$mid-init/lower")" 3
check "rw layer: lower = init + image layers" eq \
	"$(awk -F: '{ print NF }' "$LIMG_DOCKER_ROOT/overlay2/$mid/lower")" 4
c=$LIMG_DOCKER_ROOT/containers/$cid
check "containers/ID/config.v2.json: Image" eq "$(jq -r .Image "$c/config.v2.json")" "$did"
check "containers/ID/config.v2.json: Driver" eq "$(jq -r .Driver "$c/config.v2.json")" overlay2
check "containers/ID/config.v2.json: Name" eq "$(jq -r .Name "$c/config.v2.json")" /limg-ctr
check "containers/ID/hostconfig.json" test -f "$c/hostconfig.json"
created_files=
for f in hostname hosts resolv.conf; do
	[ -e "$c/$f" ] && created_files="$created_files $f"
done
echo "$testname: after docker create, containers/ID has:$(cd "$c" && ls | tr '\n' ' ')"

rid=$(limg_step "docker run" limg_docker_run "$REF" limg-run \
	'rm /etc/issue /etc/host.conf; rm -r /usr/share/doc/grep; echo new > /newfile')
rc=$LIMG_DOCKER_ROOT/containers/$rid
for f in hostname hosts resolv.conf; do
	check "after docker run: containers/ID/$f" test -s "$rc/$f"
done
check "containers/ID/hostname = short id" eq "$(cat "$rc/hostname")" "$(echo "$rid" | cut -c1-12)"
rw=$LIMG_DOCKER_ROOT/overlay2/$(cat "$D/layerdb/mounts/$rid/mount-id")/diff
check "rw layer: new file" test -f "$rw/newfile"
for f in etc/issue etc/host.conf usr/share/doc/grep; do
	check "rw layer: whiteout $f" is_whiteout "$rw/$f"
done
echo "$testname: rw-layer whiteouts (kernel overlayfs) have nlink $(stat -c %h "$rw/etc/issue") (shared inode)"

# ------------------------------------------------------------- podman
pid=$(limg_step "podman create" limg_podman_create "$REF" limg-pod)
pc=$(jq -c --arg id "$pid" '.[] | select(.id == $id)' "$CS/overlay-containers/containers.json")
check "containers.json: image" eq "$(echo "$pc" | jq -r .image)" "$img"
pl=$(echo "$pc" | jq -r .layer)
check "containers.json: rw layer's parent = image top layer" eq \
	"$(jq -r --arg id "$pl" '.[] | select(.id == $id) | .parent' "$CS/overlay-layers/layers.json")" "$top"
check "podman rw layer diff" test -d "$CS/overlay/$pl/diff"

# ------------------------------------------------------------- OCI
# zstd before plain: skopeo reuses blobs already in the layout, so
# after the plain copy a zstd copy would just point at the plain blobs.
limg_oci_copy "$REF" oci "$tmpdir/oci" gzip
limg_oci_copy "$REF" oci-zstd "$tmpdir/oci" zstd
limg_oci_copy "$REF" oci-plain "$tmpdir/oci" plain
limg_oci_copy "$REF" oci-archive "$tmpdir/image.oci.tar" 1
O=$tmpdir/oci
check "oci-layout" eq "$(jq -r .imageLayoutVersion "$O/oci-layout")" 1.0.0
for kind in gzip:tar+gzip zstd:tar+zstd plain:tar; do
	tag=${kind%%:*}
	mt=application/vnd.oci.image.layer.v1.${kind#*:}
	man=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$O/index.json")
	check "index.json: ref.name $tag" test -n "$man"
	mf=$O/blobs/sha256/${man#sha256:}
	check "oci $tag: manifest blob digest" eq "sha256:$(sha256sum < "$mf" | cut -c1-64)" "$man"
	check "oci $tag: layer media types" eq "$(jq -r '[.layers[].mediaType] | unique | join(" ")' "$mf")" "$mt"
	check "oci $tag: config = image id" eq "$(jq -r .config.digest "$mf")" "sha256:$img"
	for b in $(jq -r '.layers[].digest' "$mf"); do
		check "oci $tag: blob $b" test -f "$O/blobs/sha256/${b#sha256:}"
	done
done
check "oci plain: layer digests = diff_ids" eq "$(jq -r '[.layers[].digest] | join(" ")' \
	"$O/blobs/sha256/$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "plain") | .digest' "$O/index.json" | cut -c8-)")" "$cs_diffids"
check "oci-archive holds index.json" sh -c "tar -tf '$tmpdir/image.oci.tar' | grep -qx index.json"

# ------------------------------------------------------------- containerd
# Its own daemon (not dockerd's): ctr imports the docker-archive.
if command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1; then
	limg_step "start containerd" limg_containerd_start "$tmpdir/c"
	ctrd_pid=$(cat "$tmpdir/c/containerd.shell-pid")
	limg_step "ctr import docker-archive" _limg_run "$tmpdir/ctr.log" "ctr import" \
		limg_ctr -n limg images import "$tmpdir/localhost_limg-test_1.docker.tar"
	check "ctr images ls" eq "$(limg_ctr -n limg images ls -q)" docker.io/library/limg-test:1
	# Snapshot keys are the chain ids; directories are numbered.
	check "ctr snapshots = docker chain ids" eq \
		"$(limg_ctr -n limg snapshots ls | awk 'NR > 1 { print $1 }' | sort | tr '\n' ' ')" \
		"$(for c in $(cd "$D/layerdb/sha256" && ls); do echo "sha256:$c"; done | sort | tr '\n' ' ')"
	CR=$tmpdir/c/root
	for d in $diffids; do
		check "containerd blob $d" test -f "$CR/io.containerd.content.v1.content/blobs/sha256/${d#sha256:}"
	done
	check "containerd bolt db" test -s "$CR/io.containerd.metadata.v1.bolt/meta.db"
	check "containerd snapshots/N/fs" test -d "$CR/io.containerd.snapshotter.v1.overlayfs/snapshots/3/fs"
	limg_step "stop containerd" limg_containerd_stop "$tmpdir/c"
	check "containerd stopped" sh -c "! kill -0 $ctrd_pid 2>/dev/null"
fi

# ------------------------------------------------------------- stop, leftovers
dpid=$(cat "$tmpdir/d/dockerd.pid")
cpid=$(cat "$tmpdir/d/run/containerd/containerd.pid" 2>/dev/null || echo)
limg_step "stop dockerd" limg_dockerd_stop "$tmpdir/d"
check "dockerd stopped" sh -c "! kill -0 $dpid 2>/dev/null"
[ -z "$cpid" ] || check "dockerd's containerd stopped" sh -c "! kill -0 $cpid 2>/dev/null"
check "nothing mounted under $tmpdir" eq \
	"$(awk -v p="$(cd "$tmpdir" && pwd -P)" 'index($5, p "/") == 1' /proc/self/mountinfo)" ""
check "no process left with $tmpdir in its command line" eq \
	"$(pgrep -f "$(cd "$tmpdir" && pwd -P)" || true)" ""
for p in $host_paths; do
	case " $host_before " in *" $p "*) continue ;; esac
	check "nothing written to $p" test ! -e "$p"
done
check "ip_forward unchanged" eq "$(cat /proc/sys/net/ipv4/ip_forward)" "$ip_forward_before"
echo "$testname: writes kept in the sandbox (would have reached the host):"
limg_sandbox_writes | sed 's/^/  /'
sandbox_etc=$(limg_sandbox_writes | grep '^/etc/' || true)
check "no engine wrote to /etc (even inside the sandbox)" eq "$sandbox_etc" ""

echo "$testname: docker create left$( [ -n "$created_files" ] && echo "$created_files" || echo " no hostname/hosts/resolv.conf") in containers/ID"
echo "$testname: whole test $(( ($(_limg_ms) - START) / 1000 )) s"
[ $errors = 0 ] || fail "$errors checks failed"
exit 0
