#!/bin/sh
# build.sh - build the libFuzzer harnesses (tests/fuzz/fuzz-*.c) with clang.
#
#	tests/fuzz/build.sh BUILDDIR [OUTDIR]
#
# BUILDDIR is a configured build tree (its config.h is used; the program
# itself is built with gcc there, untouched). The harnesses go to OUTDIR
# (default BUILDDIR/fuzz), one program per parser family:
#
#	fuzz-persist      the disk-cache file loader (src/cache/persist.c)
#	fuzz-bolt         the BoltDB reader and the containerd store
#	fuzz-store-meta   the Docker and containers-storage metadata readers
#	fuzz-store-blobs  OCI layouts, docker-archive and oci-archive tars
#	fuzz-tar          the tar indexer (src/source/source-tar.c)
#	fuzz-check        the image readers of `check` (libisofs, libarchive)
#	fuzz-layout-hints the layout's hints as the disk cache gives them back
#	                  (src/iso/layout-hints.c)
#
# The sources they need (src/ but the FUSE glue, the CLI, the image
# service but for persist.c, and the daemon's log) are compiled once with -fsanitize=fuzzer-no-link,address,undefined
# (UBSan aborts: -fno-sanitize-recover) into OUTDIR/obj, through a
# Makefile written into OUTDIR, so a second run rebuilds only what
# changed. Libraries and their flags come from pkg-config, the modules
# configure.ac asks for. CC (default clang) must be clang with its
# libFuzzer runtime (Debian 12: clang, libclang-rt-14-dev; see
# scripts/install-deps.sh); without them this prints "SKIP: ..." and
# exits 77. JOBS (default 2) is make's -j.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILDDIR [OUTDIR]" >&2; exit 2; }
builddir=$(cd "$1" && pwd)
out=${2:-$builddir/fuzz}
CC=${CC:-clang}
JOBS=${JOBS:-2}

[ -f "$builddir/config.h" ] || { echo "$0: $builddir/config.h: not a configured build tree" >&2; exit 2; }
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "SKIP: fuzz: $CC is not installed (apt-get install clang libclang-rt-14-dev)"
	exit 77
fi
mkdir -p "$out"
probe=$out/.probe
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' > "$probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" >/dev/null 2>&1; then
	rm -f "$probe" "$probe.c"
	echo "SKIP: fuzz: $CC cannot link -fsanitize=fuzzer (the libFuzzer runtime, libclang-rt-14-dev, is missing)"
	exit 77
fi
rm -f "$probe" "$probe.c"

MODULES="glib-2.0 json-glib-1.0 libarchive libisofs-1 libcrypto libxxhash liblz4"
pkg_cflags=$(pkg-config --cflags $MODULES)
pkg_libs=$(pkg-config --libs $MODULES)

# The library sources, as Makefile.am lists them (so a file added to a
# module is built here too): every module the parsers live in, and of
# the image service only the disk cache's loader; never the daemon's log.
am_sources() {	# am_sources VAR: the .c files Makefile.am gives VAR
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$srcdir/Makefile.am" |
		sed -n "s/^$1 *= *//p" | tr ' \t' '\n\n' | grep '\.c$' || true
}
lib_srcs=$(for lib in libutil libtree libiso libsource libstore libcheck; do
	am_sources "${lib}_a_SOURCES"
done | grep -v '^src/util/log\.c$' | tr '\n' ' ')
lib_srcs="$lib_srcs src/cache/persist.c"
common="tests/fuzz/fuzz-common.c"
tree="tests/fuzz/fuzz-tree.c"
store="tests/fuzz/fuzz-store.c"

obj() {	# obj SRC...: the object files
	for _s; do
		printf ' obj/%s' "${_s%.c}.o"
	done
}

mk=$out/Makefile.new
{
	echo "# Written by tests/fuzz/build.sh: do not edit."
	echo "CC = $CC"
	echo "SRC = $srcdir"
	echo "CFLAGS = -std=gnu11 -O1 -gline-tables-only -fno-omit-frame-pointer \\"
	echo "	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \\"
	echo "	-Wall -Wextra -Wshadow -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral \\"
	echo "	-I\$(SRC)/src -I$builddir -I\$(SRC)/tests/fuzz $pkg_cflags"
	echo "LDFLAGS = -fsanitize=fuzzer,address,undefined"
	echo "LIBS = $pkg_libs -lpthread"
	echo "LIB_OBJS =$(obj $lib_srcs)"
	echo "ALL_OBJS = \$(LIB_OBJS)$(obj $common $tree $store tests/fuzz/fuzz-persist.c \
		tests/fuzz/fuzz-bolt.c tests/fuzz/fuzz-store-meta.c tests/fuzz/fuzz-store-blobs.c \
		tests/fuzz/fuzz-tar.c tests/fuzz/fuzz-check.c tests/fuzz/fuzz-layout-hints.c)"
	echo "HARNESSES = fuzz-persist fuzz-bolt fuzz-store-meta fuzz-store-blobs fuzz-tar fuzz-check \\"
	echo "	fuzz-layout-hints"
	echo "all: \$(HARNESSES)"
	echo "obj/%.o: \$(SRC)/%.c Makefile"
	echo "	@mkdir -p \$(@D)"
	echo "	\$(CC) \$(CFLAGS) -MMD -MP -c \$< -o \$@"
	echo "libfuzzsrc.a: \$(LIB_OBJS)"
	echo "	rm -f \$@ && ar cr \$@ \$(LIB_OBJS)"
	for h in persist:tree tar:tree check: bolt:store store-meta:store store-blobs:store \
		layout-hints:; do
		name=${h%%:*}
		extra=${h#*:}
		case $extra in
		tree) extra_src=$tree ;;
		store) extra_src=$store ;;
		*) extra_src= ;;
		esac
		echo "fuzz-$name:$(obj tests/fuzz/fuzz-$name.c $extra_src $common) libfuzzsrc.a"
		echo "	\$(CC) \$(LDFLAGS) -o \$@$(obj tests/fuzz/fuzz-$name.c $extra_src $common) libfuzzsrc.a \$(LIBS)"
	done
	echo "-include \$(ALL_OBJS:.o=.d)"
} > "$mk"
if cmp -s "$mk" "$out/Makefile"; then
	rm -f "$mk"
else
	mv "$mk" "$out/Makefile"
fi
exec make -s -C "$out" -j"$JOBS"
