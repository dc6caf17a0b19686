#!/bin/sh
# Install what fuse-layerimg needs to build and to run its whole test
# suite on Debian 12 (root, or sudo). Skips apt when everything is there.
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
      libglib2.0-dev libfuse3-dev fuse3 libarchive-dev libisofs-dev
      libcriterion-dev xorriso genisoimage libarchive-tools attr
      python3 valgrind mandoc"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
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
