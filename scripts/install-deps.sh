#!/bin/sh
# Install what fuse-layerimg needs to build and to run its whole test
# suite on Debian 12 (root, or sudo). Skips apt when everything is there.
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
      libglib2.0-dev libfuse3-dev fuse3 libarchive-dev libisofs-dev
      libcriterion-dev libjson-glib-dev libssl-dev libxxhash-dev liblz4-dev xorriso genisoimage libarchive-tools attr zstd
      python3 valgrind mandoc util-linux util-linux-extra procps clang libclang-rt-14-dev
      qemu-system-x86 busybox-static cpio kmod debootstrap
      docker.io containerd runc buildah podman skopeo jq apparmor"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
fetch_kernel() {
	# The QEMU test boots Debian's cloud kernel (isofs, virtio_blk as
	# modules). Installing it runs update-initramfs twice for minutes;
	# the test needs only the files, so unpack the package into a cache.
	kroot=/var/tmp/limg-test-cache/kroot
	[ -d "$kroot/boot" ] && return 0
	[ "$(id -u)" = 0 ] || return 0
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
	[ -n "$pkg" ] || { echo "install-deps: no cloud kernel package found" >&2; return 0; }
	tmp=$(mktemp -d)
	if (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1); then
		mkdir -p "$kroot.tmp"
		dpkg-deb -x "$tmp"/*.deb "$kroot.tmp" && mv "$kroot.tmp" "$kroot"
	else
		echo "install-deps: could not download $pkg; the QEMU test will skip" >&2
	fi
	rm -rf "$tmp" "$kroot.tmp"
}

if [ -z "$missing" ]; then
	fetch_kernel
	exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
fetch_kernel
