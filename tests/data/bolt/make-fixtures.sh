#!/bin/sh
# make-fixtures.sh [OUTDIR] - regenerate the bolt fixtures of
# tests/unit/test-bolt.c (README here): two small bbolt databases written
# by Debian 12's containerd 1.6, and what ctr printed about them.
#
# A private containerd (tests/lib/engines.sh, sandboxed, under a
# temporary directory) imports a docker-archive built here with tar:
#
#   localhost/limg-bolt:1     two layers ("base" and "top")
#   localhost/limg-bolt-base:1   the "base" layer alone
#
# then tags one image again, creates an empty namespace and a lease with
# $LIMG_BOLT_LABELS (70) labels, and stops. The labels make one bucket
# larger than a page, so that the file has a real branch page; with more
# of them (or more commits) the file outgrows 128 KiB. The layer tars are
# reproducible (fixed mtimes and owners, sorted names), so every digest,
# size and chain id is the same at every run; only the createdat,
# updatedat and gc.expire stamps and the page layout change.
#
# Writes to OUTDIR (default: this script's directory):
#   meta.db       root/io.containerd.metadata.v1.bolt/meta.db
#   snapshots.db  root/io.containerd.snapshotter.v1.overlayfs/metadata.db
#   expected/*.txt  ctr's view of them: images ls, content ls, snapshots
#                   ls, leases ls, namespaces ls; the snapshot directory
#                   numbers (snapshot-dirs.txt); the layer digests
# Needs root, containerd and ctr; exit 77 (skip) without them.
set -e
umask 022     # the layer tars hold the modes: the digests depend on them

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
top_srcdir=${top_srcdir:-$(cd "$here/../../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# functions.sh insists on the built program; nothing here runs it.
LIMG=${LIMG:-/bin/true}
export top_srcdir top_builddir LIMG
. "$top_srcdir/tests/lib/functions.sh"
. "$top_srcdir/tests/lib/engines.sh"

mktmpdir
limg_engines_requires containerd

# ---------------------------------------------------------------- archive

a=$tmpdir/archive
mkdir -p "$a/base/etc" "$a/top/etc/limg"
printf 'hello from the base layer\n' > "$a/base/etc/hello"
printf 'limg-bolt\n' > "$a/base/etc/hostname"
printf 'top layer\n' > "$a/top/etc/limg/top.txt"

mktar() {
	# mtime 2001-09-09T01:46:40Z, 0:0, no root entry: as buildah writes layers.
	(cd "$1" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort |
		tar --no-recursion --format=ustar --mtime=@1000000000 --owner=0 --group=0 \
			--numeric-owner --mode=u+rw,go+r -cf "$2" -T -)
}

mktar "$a/base" "$a/base.tar"
mktar "$a/top" "$a/top.tar"
base=$(sha256sum < "$a/base.tar" | cut -d' ' -f1)
top=$(sha256sum < "$a/top.tar" | cut -d' ' -f1)

config() {
	# $1 = diff_ids JSON list
	printf '{"architecture":"amd64","os":"linux","created":"2001-09-09T01:46:40Z",'
	printf '"config":{"Env":["PATH=/usr/bin:/bin"],"Cmd":["/bin/sh"]},'
	printf '"rootfs":{"type":"layers","diff_ids":%s},' "$1"
	printf '"history":[{"created":"2001-09-09T01:46:40Z","created_by":"limg: make-fixtures.sh"}]}'
}

d=$tmpdir/docker-archive
mkdir -p "$d"
cp "$a/base.tar" "$d/$base.tar"
cp "$a/top.tar" "$d/$top.tar"
config "[\"sha256:$base\",\"sha256:$top\"]" > "$d/full.json"
config "[\"sha256:$base\"]" > "$d/base.json"
full_id=$(sha256sum < "$d/full.json" | cut -d' ' -f1)
base_id=$(sha256sum < "$d/base.json" | cut -d' ' -f1)
mv "$d/full.json" "$d/$full_id.json"
mv "$d/base.json" "$d/$base_id.json"
cat > "$d/manifest.json" <<EOF
[{"Config":"$full_id.json","RepoTags":["localhost/limg-bolt:1"],"Layers":["$base.tar","$top.tar"]},
 {"Config":"$base_id.json","RepoTags":["localhost/limg-bolt-base:1"],"Layers":["$base.tar"]}]
EOF
(cd "$d" && tar --format=ustar --mtime=@1000000000 --owner=0 --group=0 --numeric-owner \
	-cf "$tmpdir/limg-bolt.docker.tar" manifest.json "$full_id.json" "$base_id.json" \
	"$base.tar" "$top.tar")

# ---------------------------------------------------------------- containerd

# A lease with enough labels, made in one commit, for its labels bucket to
# outgrow a page: a branch page over two leaves, as real as it gets in a
# small file (every commit leaves pages behind).
labels=$(i=0; while [ $i -lt ${LIMG_BOLT_LABELS:-70} ]; do
	printf 'limg.test/label-%03d=value-%03d-0123456789abcdef ' $i $i
	i=$((i + 1))
done)

# run_containerd DIR EXPECTED: make the databases in DIR/root, ctr's view
# of them in EXPECTED/.
run_containerd() {
	c=$1
	e=$2
	mkdir -p "$e"
	limg_containerd_start "$c"
	limg_ctr images import "$tmpdir/limg-bolt.docker.tar" > "$c/import.log"
	limg_ctr images tag localhost/limg-bolt:1 localhost/limg-bolt:alias > /dev/null
	limg_ctr namespaces create limg-empty
	limg_ctr leases create --id limg-lease $labels > /dev/null

	# As ctr prints them: sizes in human units, ages relative to now.
	limg_ctr images ls > "$e/images-ls.txt"
	limg_ctr content ls > "$e/content-ls.txt"
	limg_ctr snapshots ls > "$e/snapshots-ls.txt"
	limg_ctr leases ls > "$e/leases-ls.txt"
	limg_ctr namespaces ls > "$e/namespaces-ls.txt"
	# The exact sizes: the blobs themselves.
	blobs=$c/root/io.containerd.content.v1.content/blobs/sha256
	for f in $(ls "$blobs" | LC_ALL=C sort); do
		printf 'sha256:%s %s\n' "$f" "$(stat -c %s "$blobs/$f")"
	done > "$e/blobs.txt"
	printf 'base %s\ntop %s\nfull-config %s\nbase-config %s\n' \
		"sha256:$base" "sha256:$top" "sha256:$full_id" "sha256:$base_id" > "$e/digests.txt"
	limg_containerd_stop "$c"

	# The snapshot directories, by number, and the files each one holds.
	sn=$c/root/io.containerd.snapshotter.v1.overlayfs/snapshots
	for n in $(ls "$sn" | sort -n); do
		printf '%s %s\n' "$n" "$(cd "$sn/$n/fs" && find . -type f | LC_ALL=C sort | tr '\n' ' ')"
	done > "$e/snapshot-dirs.txt"
}

# How many pages containerd leaves behind varies from run to run (by a
# page or two, with the timing of its commits); bbolt grows the file by
# doubling, so the same content is a 128 KiB or a 256 KiB file. Keep the
# first small one.
run=1
while :; do
	run_containerd "$tmpdir/c$run" "$tmpdir/expected$run"
	db=$tmpdir/c$run/root/io.containerd.metadata.v1.bolt/meta.db
	[ "$(stat -c %s "$db")" -gt 131072 ] || break
	[ $run -lt 8 ] || fail "meta.db is larger than 128 KiB in $run runs"
	echo "make-fixtures: run $run: meta.db is $(stat -c %s "$db") bytes, again" >&2
	run=$((run + 1))
done

# Nothing of this host in them: no path (containerd keeps none here).
for f in "$db" "$tmpdir/c$run/root/io.containerd.snapshotter.v1.overlayfs/metadata.db"; do
	if grep -a -q -e "$tmpdir" -e /tmp/ -e /var/ -e /root "$f"; then
		fail "$f holds a path of this host"
	fi
done

mkdir -p "$out"
rm -rf "$out/expected"
cp -r "$tmpdir/expected$run" "$out/expected"
cp "$db" "$out/meta.db"
cp "$tmpdir/c$run/root/io.containerd.snapshotter.v1.overlayfs/metadata.db" "$out/snapshots.db"
chmod 0644 "$out/meta.db" "$out/snapshots.db" "$out"/expected/*
ls -l "$out/meta.db" "$out/snapshots.db" >&2
