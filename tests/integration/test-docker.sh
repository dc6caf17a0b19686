#!/bin/sh
# test-docker.sh - a real Docker data root and a real containers-storage
# graph root, served by fuse-layerimg (tests/lib/engines.sh builds them
# offline: buildah from a debootstrap minbase, 3 layers with whiteouts,
# an opaque and a renamed directory, hard links; skopeo to a
# docker-archive; docker load; docker create and docker run; podman
# create).
#
# Checks:
#  - names: tags/, by-diff-id/, by-chain-id/, images/<id>/layers and its
#    NN-<chain>.iso links, in the order `docker image inspect` and
#    `podman image inspect` give; the writable layer of a container is
#    never served;
#  - every rootfs.iso, read back by libisofs and libarchive, equals what a
#    read-only kernel overlay mount of the same layers shows; a
#    container's rootfs.iso also equals `docker export` of it but for
#    what Docker's export adds, and holds the container's hosts,
#    hostname and resolv.conf;
#  - the same layer (the same diff-id) extracted by dockerd and by
#    buildah is the same image, byte for byte, and so is the flattened
#    root of the same image in both stores;
#  - live metadata: a tag, an image and a container that appear or go
#    while mounted show up or vanish without a remount, and a new image's
#    rootfs.iso is laid out before anyone opens it;
#  - nothing under either data root is written by the mount;
#  - `fuse-layerimg stack` for tags, ids, prefixes and containers.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/mount.sh"
. "$top_srcdir/tests/lib/engines.sh"

requires_mount
requires jq
requires bsdtar
mktmpdir
limg_engines_requires docker buildah skopeo podman

REF=localhost/limg-test:1
limg_cstorage_env "$tmpdir/cs/root" "$tmpdir/cs/run"
limg_step "build image" limg_build_test_image "$REF"
limg_step "start dockerd" limg_dockerd_start "$tmpdir/d"
did=$(limg_export_to_docker "$REF")
did=${did#sha256:}
cid=$(limg_docker_create "$REF" limg-created)
rid=$(limg_docker_run "$REF" limg-run 'echo from-rw > /rw-file')
pid=$(limg_podman_create "$REF" limg-pod)
pl=$(limg_podman image inspect --format '{{json .RootFS.Layers}}' "$REF" | jq -r '.[]')
DR=$LIMG_DOCKER_ROOT
CS=$LIMG_CS_ROOT

# ------------------------------------------------------------- phase 1
# dockerd stopped: nothing else touches the data roots while we read them.
limg_step "stop dockerd" limg_dockerd_stop "$tmpdir/d"
snapshot() {	# snapshot DIR...: every metadata file with size, mtime, sum
	for _d; do
		find "$_d" -path '*/overlay*/*/diff' -prune -o -path '*/overlay*/*/work' -prune -o \
			-printf '%p %y %s %T@ %m\n' | sort
	done
	find "$@" \( -name '*.json' -o -name diff -type f -o -name cache-id -o -name parent \) \
		-type f -exec sha256sum {} + 2>/dev/null | sort
}
snapshot "$DR/image" "$DR/containers" "$CS/overlay-layers" "$CS/overlay-images" \
	"$CS/overlay-containers" > "$tmpdir/before"

md=$tmpdir/md
mc=$tmpdir/mc
limg_mount "$DR" "$md" -o workers=1
limg_mount "$CS" "$mc" -o workers=1,cache_dir="$tmpdir/cache-cs"

wait_ready() {	# wait_ready MNT: every image laid out
	_i=0
	while [ $_i -lt 600 ]; do
		_p=$(awk '$1 == "images_pending" { print $2 }' "$1/.stats")
		_q=$(awk '$1 == "queue_length" { print $2 }' "$1/.stats")
		[ "$_p" = 0 ] && [ "$_q" = 0 ] && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	cat "$1/.stats" >&2
	fail "$1: images not laid out within 60 s"
}
wait_ready "$md"
wait_ready "$mc"

# -- names, Docker
[ "$(readlink "$md/tags/limg-test:1")" = "../images/$did" ] ||
	fail "tags/limg-test:1 -> $(readlink "$md/tags/limg-test:1"), expected ../images/$did"
limg_docker_offline_inspect() {	# the image's diff ids from its config, as Docker reads them
	jq -r '.rootfs.diff_ids[]' "$DR/image/overlay2/imagedb/content/sha256/$did"
}
diffs=$(limg_docker_offline_inspect)
n=0
chain=
for d in $diffs; do
	if [ -z "$chain" ]; then chain=$d; else
		chain=sha256:$(printf '%s %s' "$chain" "$d" | sha256sum | cut -c1-64)
	fi
	nn=$(printf %02d $n)
	line=$(sed -n "$((n + 1))p" "$md/images/$did/layers")
	cache=$(cat "$DR/image/overlay2/layerdb/sha256/${chain#sha256:}/cache-id")
	[ "$line" = "$n $d $chain $cache.iso" ] ||
		fail "images/$did/layers line $((n + 1)): '$line', expected '$n $d $chain $cache.iso'"
	[ "$(readlink "$md/images/$did/$nn-${chain#sha256:}.iso")" = "../../$cache.iso" ] ||
		fail "images/$did/$nn-${chain#sha256:}.iso does not point at ../../$cache.iso"
	[ "$(readlink "$md/by-diff-id/${d#sha256:}.iso")" = "../$cache.iso" ] ||
		fail "by-diff-id/${d#sha256:}.iso does not point at ../$cache.iso"
	[ "$(readlink "$md/by-chain-id/${chain#sha256:}.iso")" = "../$cache.iso" ] ||
		fail "by-chain-id/${chain#sha256:}.iso does not point at ../$cache.iso"
	cmp -s "$md/images/$did/$nn-${chain#sha256:}.iso" "$md/$cache.iso" ||
		fail "the NN link does not read the layer's image"
	lowers="$DR/overlay2/$cache/diff${lowers:+:$lowers}"
	n=$((n + 1))
done
[ $n = 3 ] || fail "expected 3 layers, got $n"
echo "docker: tags, by-diff-id, by-chain-id and images/$did/layers in layerdb order"

rwid=$(cat "$DR/image/overlay2/layerdb/mounts/$rid/mount-id")
[ ! -e "$md/$rwid.iso" ] || fail "the writable layer $rwid of a container is served"
ls "$md" | grep -qx "$rwid.iso" && fail "the writable layer is listed"
initid=$(cat "$DR/image/overlay2/layerdb/mounts/$rid/init-id")
[ "$(readlink "$md/containers/$rid/03-init.iso")" = "../../$initid.iso" ] ||
	fail "containers/$rid/03-init.iso does not point at the init layer"
echo "docker: writable layers never served; containers/ID/03-init.iso is the init layer"

# -- rootfs.iso against kernel overlayfs
ovl=$tmpdir/ovl
mkdir -p "$ovl"
mount -t overlay overlay -o "ro,lowerdir=$lowers" "$ovl" || fail "cannot mount the reference overlay"
cleanup_fn sh -c "umount -l '$ovl' 2>/dev/null || true"
for reader in libisofs libarchive; do
	"$LIMG" check -q --reader=$reader "$md/images/$did/rootfs.iso" "$ovl" 2>/dev/null ||
		{ "$LIMG" check --reader=$reader "$md/images/$did/rootfs.iso" "$ovl" | tail -20
		  fail "images/$did/rootfs.iso differs from the kernel's overlay of its layers ($reader)"; }
done
umount "$ovl"
echo "docker: rootfs.iso equals a read-only kernel overlay of the layers (libisofs, libarchive)"

# The container: image layers + init layer + its files, as runc sees them.
clowers="$DR/overlay2/$initid/diff:$lowers"
mount -t overlay overlay -o "ro,lowerdir=$clowers" "$ovl" || fail "cannot mount the container overlay"
cp -a "$ovl" "$tmpdir/cref" || fail "cannot copy the container overlay"
umount "$ovl"
for f in hosts hostname resolv.conf; do
	[ -s "$DR/containers/$rid/$f" ] || fail "docker run made no containers/ID/$f"
	cp "$DR/containers/$rid/$f" "$tmpdir/cref/etc/$f"
	touch -r "$DR/containers/$rid/$f" "$tmpdir/cref/etc/$f"
	chmod --reference="$DR/containers/$rid/$f" "$tmpdir/cref/etc/$f"
	bsdtar -xOf "$md/containers/$rid/rootfs.iso" "etc/$f" | cmp -s - "$DR/containers/$rid/$f" ||
		fail "containers/$rid/rootfs.iso: etc/$f is not the container's"
done
"$LIMG" check -q "$md/containers/$rid/rootfs.iso" "$tmpdir/cref" 2>/dev/null ||
	{ "$LIMG" check "$md/containers/$rid/rootfs.iso" "$tmpdir/cref" | tail -20
	  fail "containers/$rid/rootfs.iso differs from image + init layer + its files"; }
[ -z "$(bsdtar -tf "$md/containers/$rid/rootfs.iso" rw-file 2>/dev/null)" ] ||
	fail "the container's writable layer leaked into its rootfs.iso"
echo "docker: containers/ID/rootfs.iso = layers + init layer + its hosts, hostname, resolv.conf"

# -- cross-store: the same layer, the same bytes
for d in $diffs; do
	cmp -s "$md/by-diff-id/${d#sha256:}.iso" "$mc/by-diff-id/${d#sha256:}.iso" ||
		fail "layer $d: dockerd's and buildah's extractions give different images"
done
cmp -s "$md/images/$did/rootfs.iso" "$mc/images/$did/rootfs.iso" ||
	fail "images/$did/rootfs.iso differs between the Docker and the containers-storage mount"
echo "docker + containers-storage: every layer and the flattened image byte-identical"

# -- names, containers-storage
[ "$(readlink "$mc/tags/localhost/limg-test:1")" = "../../images/$did" ] ||
	fail "containers-storage: tags/localhost/limg-test:1 -> $(readlink "$mc/tags/localhost/limg-test:1")"
[ "$(echo $pl)" = "$(echo $diffs)" ] || fail "podman's layer order differs from the config's"
[ "$(awk '{ print $2 }' "$mc/images/$did/layers" | tr '\n' ' ')" = "$(echo $diffs) " ] ||
	fail "containers-storage: images/$did/layers not in podman's order"
prw=$(jq -r --arg id "$pid" '.[] | select(.id == $id) | .layer' "$CS/overlay-containers/containers.json")
[ ! -e "$mc/$prw.iso" ] || fail "containers-storage: the writable layer of a container is served"
[ -e "$mc/containers/$pid/rootfs.iso" ] || fail "containers-storage: containers/$pid/rootfs.iso missing"
echo "containers-storage: tags, layer order, writable layers never served"

# -- stack
out=$("$LIMG" stack -m "$md" limg-test:1) || fail "stack limg-test:1 failed"
[ "$(echo $out)" = "$(for d in $diffs; do printf '%s ' "$md/$(readlink "$md/by-diff-id/${d#sha256:}.iso" | sed 's|^\.\./||')"; done | sed 's/ $//')" ] ||
	fail "stack limg-test:1 printed: $out"
[ "$("$LIMG" stack -m "$md" --rootfs "$(echo "$did" | cut -c1-12)")" = "$md/images/$did/rootfs.iso" ] ||
	fail "stack --rootfs ID-PREFIX"
[ "$("$LIMG" stack -m "$md" --rootfs "$rid")" = "$md/containers/$rid/rootfs.iso" ] ||
	fail "stack --rootfs CONTAINER"
"$LIMG" stack -m "$md" --qemu limg-test:1 | grep -q "^-drive file=$md/.*\.iso,format=raw,readonly=on,if=virtio,cache=none$" ||
	fail "stack --qemu"
"$LIMG" stack -m "$md" --json "$cid" | jq -e '.kind == "container" and (.layers | length) == 4' >/dev/null ||
	fail "stack --json CONTAINER"
rc=0; "$LIMG" stack -m "$md" no-such-image:9 2>/dev/null || rc=$?
[ $rc = 1 ] || fail "stack of an unknown name exited $rc, expected 1"
echo "stack: tags, id prefixes, containers, --rootfs, --qemu, --json, unknown names"

limg_umount "$md"
limg_umount "$mc"
snapshot "$DR/image" "$DR/containers" "$CS/overlay-layers" "$CS/overlay-images" \
	"$CS/overlay-containers" > "$tmpdir/after"
cmp -s "$tmpdir/before" "$tmpdir/after" ||
	{ diff "$tmpdir/before" "$tmpdir/after" | head -20; fail "the mount changed the data roots"; }
echo "nothing under either data root was written"

# ------------------------------------------------------------- phase 2
# Live: dockerd running under the mount.
limg_step "start dockerd" limg_dockerd_start "$tmpdir/d"
limg_mount "$DR" "$md" -o workers=1,cache_dir="$tmpdir/cache-live"
wait_ready "$md"
wait_for() {	# wait_for WHAT CMD...: up to 20 s
	_w=$1
	shift
	_i=0
	while ! "$@" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -lt 200 ] || fail "not seen within 20 s: $_w"
		sleep 0.1
	done
}
limg_docker tag limg-test:1 limg-test:live >/dev/null || fail "docker tag"
wait_for "a new tag" test -L "$md/tags/limg-test:live"
limg_docker rmi limg-test:live >/dev/null || fail "docker rmi"
wait_for "a removed tag" sh -c "! test -L '$md/tags/limg-test:live'"
nid=$(limg_docker create --network none limg-test:1) || fail "docker create"
wait_for "a new container" test -e "$md/containers/$nid/rootfs.iso"
limg_docker rm "$nid" >/dev/null || fail "docker rm"
wait_for "a removed container" sh -c "! test -e '$md/containers/$nid'"
# A new image: laid out (flattened) before anyone opens it.
eid=$(limg_export_to_docker "$REF-edits")
eid=${eid#sha256:}
wait_for "the new image" test -d "$md/images/$eid"
wait_ready "$md"
built=$(awk '$1 == "layouts_built" { print $2 }' "$md/.stats")
[ -e "$md/images/$eid/rootfs.iso" ] || fail "the new image has no rootfs.iso"
cat "$md/images/$eid/rootfs.iso" > /dev/null
[ "$(awk '$1 == "layouts_built" { print $2 }' "$md/.stats")" = "$built" ] ||
	fail "the new image's rootfs.iso was laid out only when opened"
echo "live: tag, rmi, create, rm, load seen without a remount; new rootfs.iso precomputed"
limg_umount "$md"
limg_step "stop dockerd" limg_dockerd_stop "$tmpdir/d"

# ------------------------------------------------------------- phase 3
# Bad metadata, on a copy of the data root (the layers bind-mounted in,
# read-only): each case is logged with the file it came from, that entry
# is left out, everything else is still served, nothing is written.
bad=$tmpdir/bad
mb=$tmpdir/mb
fresh_copy() {
	if mountpoint -q "$bad/overlay2" 2>/dev/null; then umount "$bad/overlay2"; fi
	rm -rf "$bad"
	mkdir -p "$bad/overlay2"
	cp -a "$DR/image" "$DR/containers" "$bad/" || fail "cannot copy the data root"
	mount --bind "$DR/overlay2" "$bad/overlay2" && mount -o remount,bind,ro "$bad/overlay2" ||
		fail "cannot bind the layers into the copy"
}
cleanup_fn sh -c "umount -l '$bad/overlay2' 2>/dev/null || true"
LDB=$bad/image/overlay2/layerdb/sha256
top_chain=$chain                       # of limg-test:1, computed above
low_chain=sha256:$(echo "$diffs" | head -1 | cut -c8-)
# bad_case NAME EXPECT-LOG: mount the copy, want EXPECT-LOG in the log and
# the -edits image ($eid) still served with its rootfs.iso readable.
bad_case() {
	snapshot "$bad/image" "$bad/containers" > "$tmpdir/bad-before"
	"$LIMG" -f -o workers=1,cache_dir="$tmpdir/cache-bad" "$bad" "$mb" > "$tmpdir/bad.log" 2>&1 &
	_pid=$!
	_i=0
	until mountpoint -q "$mb" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || { cat "$tmpdir/bad.log"; fail "$1: the mount did not come up"; }
		sleep 0.1
	done
	wait_ready "$mb"
	cat "$mb/.stats" > /dev/null || fail "$1: .stats unreadable"
	ls -R "$mb" > /dev/null || fail "$1: ls -R of the mount failed"
	if [ -n "${keep:-}" ]; then
		[ -e "$mb/images/$keep/rootfs.iso" ] || { ls "$mb/images"; fail "$1: image $keep no longer served"; }
		head -c 65536 "$mb/images/$keep/rootfs.iso" > /dev/null || fail "$1: image $keep unreadable"
	fi
	fusermount3 -u "$mb"
	wait $_pid || true
	grep -q -F -- "$2" "$tmpdir/bad.log" || { cat "$tmpdir/bad.log"; fail "$1: expected '$2' in the log"; }
	snapshot "$bad/image" "$bad/containers" > "$tmpdir/bad-after"
	cmp -s "$tmpdir/bad-before" "$tmpdir/bad-after" || fail "$1: the mount wrote under the data root"
	echo "bad metadata: $1: logged, left out, the rest served"
}
mkdir -p "$mb"
cleanup_fn limg_umount_quiet "$mb"
keep=$eid

fresh_copy
echo nonexistent > "$LDB/${top_chain#sha256:}/cache-id"
bad_case "cache-id of a missing directory" "overlay2/nonexistent/diff: missing; layer left out"

fresh_copy
echo sha256:not-hex > "$LDB/${top_chain#sha256:}/diff"
bad_case "diff-id not hex" "${top_chain#sha256:}/diff: not a sha256 digest"

fresh_copy
echo "$top_chain" > "$LDB/${low_chain#sha256:}/parent"
keep=   # every image stands on the base layer
bad_case "a cycle of parents" "${low_chain#sha256:}: chain id does not match its parent and diff"

fresh_copy
echo '{"Repositories": {"limg-test": {' > "$bad/image/overlay2/repositories.json"
bad_case "repositories.json not JSON" "repositories.json: not JSON"

fresh_copy
truncate -s 1G "$bad/image/overlay2/repositories.json"
bad_case "repositories.json of 1 GB" "repositories.json: larger than a metadata file can be"

fresh_copy
jq --arg id "sha256:$did" '.Repositories.evil = {"../../etc:x": $id, "a/../b:1": $id, ".hidden:1": $id, "/abs:1": $id, "ok/name:1": $id}' 	"$DR/image/overlay2/repositories.json" > "$bad/image/overlay2/repositories.json"
keep=$did
bad_case "tags with .. and / tricks" 'tag "../../etc:x" cannot be a path'
fresh_copy
jq --arg id "sha256:$did" '.Repositories.evil = {"../../etc:x": $id, "a/../b:1": $id, ".hidden:1": $id, "ok/name:1": $id}' 	"$DR/image/overlay2/repositories.json" > "$bad/image/overlay2/repositories.json"
"$LIMG" -o workers=0,cache_dir="$tmpdir/cache-bad" "$bad" "$mb" 2>/dev/null || fail "mount of the copy"
[ "$(readlink "$mb/tags/ok/name:1")" = "../../images/$did" ] || fail "a good tag beside bad ones is not served"
found=$(cd "$mb/tags" && find . -type l | sort | tr '\n' ' ')
[ "$found" = "./limg-test:1 ./limg-test:1-edits ./ok/name:1 " ] ||
	fail "tags served beside the bad ones: $found"
fusermount3 -u "$mb"

fresh_copy
# The same cache-id named by a second, consistent layerdb entry.
fake=sha256:$(printf '%064d' 7)
twice=sha256:$(printf '%s %s' "$top_chain" "$fake" | sha256sum | cut -c1-64)
mkdir "$LDB/${twice#sha256:}"
echo "$fake" > "$LDB/${twice#sha256:}/diff"
echo "$top_chain" > "$LDB/${twice#sha256:}/parent"
cp "$LDB/${top_chain#sha256:}/cache-id" "$LDB/${twice#sha256:}/cache-id"
keep=$did
bad_case "a layer listed twice" "is already the directory of another layer"

fresh_copy
# An image whose last layer is not extracted (not in layerdb).
cfg=$(jq -c --arg d "sha256:$(printf '%064d' 9)" '.rootfs.diff_ids += [$d]' 	"$DR/image/overlay2/imagedb/content/sha256/$did")
cid2=$(printf %s "$cfg" | sha256sum | cut -c1-64)
printf %s "$cfg" > "$bad/image/overlay2/imagedb/content/sha256/$cid2"
bad_case "an image whose layer is not extracted" "$cid2: layer 4 (sha256:$(printf '%064d' 9)) is not in layerdb"

fresh_copy
printf 'not the config' > "$bad/image/overlay2/imagedb/content/sha256/$did"
keep=$eid
bad_case "an image config that is not its digest" "$did: content does not match its digest"
umount "$bad/overlay2"

# containers-storage: hostile layers.json / images.json.
cbad=$tmpdir/cbad
cs_case() {	# cs_case NAME EXPECT-LOG JQ-PROGRAM FILE
	rm -rf "$cbad"
	mkdir -p "$cbad/overlay"
	cp -a "$CS/overlay-layers" "$CS/overlay-images" "$CS/overlay-containers" "$cbad/"
	mount --bind "$CS/overlay" "$cbad/overlay" || fail "cannot bind the layers"
	jq "$3" "$CS/$4" > "$cbad/$4" || fail "jq $3"
	"$LIMG" -f -o workers=0,cache_dir="$tmpdir/cache-cbad" "$cbad" "$mb" > "$tmpdir/cbad.log" 2>&1 &
	_pid=$!
	_i=0
	until mountpoint -q "$mb" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || { cat "$tmpdir/cbad.log"; fail "$1: the mount did not come up"; }
		sleep 0.1
	done
	ls -R "$mb" > /dev/null || fail "$1: ls -R failed"
	fusermount3 -u "$mb"
	wait $_pid || true
	umount "$cbad/overlay"
	grep -q -F -- "$2" "$tmpdir/cbad.log" || { cat "$tmpdir/cbad.log"; fail "$1: expected '$2' in the log"; }
	echo "bad metadata (containers-storage): $1: logged, left out"
}
cleanup_fn sh -c "umount -l '$cbad/overlay' 2>/dev/null || true"
la=$(jq -r '.[0].id' "$CS/overlay-layers/layers.json")
lb=$(jq -r '.[1].id' "$CS/overlay-layers/layers.json")
cs_case "a cycle of parents" "parent chain longer than" \
	"map(if .id == \"$la\" then .parent = \"$lb\" elif .id == \"$lb\" then .parent = \"$la\" else . end)" \
	overlay-layers/layers.json
cs_case "a layer listed twice" "listed twice; the first kept" '. + [.[0]]' overlay-layers/layers.json
cs_case "diff-digest not a digest" "diff-digest is not a sha256 digest" \
	"map(if .id == \"$la\" then .[\"diff-digest\"] = \"sha256:zz\" else . end)" overlay-layers/layers.json
cs_case "an image on a missing layer" "is not in layers.json; image left out" \
	'map(.layer = "0000000000000000000000000000000000000000000000000000000000000000")' \
	overlay-images/images.json
echo "PASS: $testname"
