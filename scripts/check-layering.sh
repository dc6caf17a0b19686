#!/bin/sh
# check-layering.sh [SRC] - the seams are enforced, not hoped for.
#
# 1. Include direction. Every #include "DIR/..." of src/MODULE/ must name a
#    module MODULE may depend on:
#       cli   -> everything
#       fuse  -> cache, store, util        (the glue sees the image service only)
#       cache -> store, source, iso, tree, util
#       store -> util
#       source -> tree, util
#       iso   -> tree, util
#       tree  -> util
#       util  -> (nothing)
#       check -> util                      (the independent readers never see the writer)
# 2. The format engine (src/iso, src/tree and src/util's arena, report,
#    escape and search) includes no FUSE, libarchive or thread headers,
#    starts no threads and does no I/O of its own.
# 3. <fuse_lowlevel.h> is included only under src/fuse; libarchive and
#    libisofs only under src/check and src/source, and libarchive's tar
#    header reader in src/store/store-archive.c (it indexes an archive's
#    members; the layers themselves are read by src/source).
#
# Exit 1 naming each offending line.
set -eu
src="${1:-$(dirname "$0")/../src}"
status=0

allowed() {
	case $1 in
	cli) echo "cli fuse cache store source iso tree util check" ;;
	fuse) echo "fuse cache store util" ;;
	cache) echo "cache store source iso tree util" ;;
	store) echo "store util" ;;
	source) echo "source tree util" ;;
	iso) echo "iso tree util" ;;
	tree) echo "tree util" ;;
	util) echo "util" ;;
	check) echo "check util" ;;
	*) echo "" ;;
	esac
}

for dir in "$src"/*/; do
	mod=$(basename "$dir")
	ok=$(allowed "$mod")
	if [ -z "$ok" ]; then
		echo "layering: src/$mod is not a known module (add it to scripts/check-layering.sh)"
		status=1
		continue
	fi
	for f in "$dir"*.[ch]; do
		[ -e "$f" ] || continue
		bad=$(grep -n '^#include "[a-z]*/' "$f" | while IFS= read -r line; do
			dep=$(printf '%s\n' "$line" | sed 's/^[0-9]*:#include "\([a-z]*\)\/.*/\1/')
			case " $ok " in
			*" $dep "*) ;;
			*) echo "layering: src/$mod/$(basename "$f"):${line%%:*}: includes $dep/ (src/$mod may use: $ok)" ;;
			esac
		done)
		if [ -n "$bad" ]; then
			echo "$bad"
			status=1
		fi
	done
done

engine="$src/iso/*.[ch] $src/tree/*.[ch] $src/util/arena.[ch] $src/util/report.[ch] $src/util/escape.[ch] $src/util/search.h"
# shellcheck disable=SC2086
bad=$(grep -nE '#include <(fuse|fuse3/|fuse_lowlevel|archive|libisofs|pthread)|g_thread_new|g_thread_pool_new|pthread_create|\b(open|openat|read|pread|write|pwrite|close)\s*\(' \
	$engine 2>/dev/null | grep -v '^[^:]*:[0-9]*:\s*\*' || true)
if [ -n "$bad" ]; then
	echo "layering: the format engine must stay free of FUSE, libarchive, threads and I/O:"
	echo "$bad"
	status=1
fi

bad=$(grep -rnE '#include <fuse_lowlevel.h>|#include <fuse3?/' "$src" --include=*.[ch] | grep -v "^$src/fuse/" || true)
if [ -n "$bad" ]; then
	echo "layering: only src/fuse includes the FUSE headers:"
	echo "$bad"
	status=1
fi
bad=$(grep -rnE '#include <(archive|archive_entry|libisofs/libisofs).h>' "$src" --include=*.[ch] |
	grep -v -e "^$src/check/" -e "^$src/source/" \
		-e "^$src/store/store-archive.c:[0-9]*:#include <archive" || true)
if [ -n "$bad" ]; then
	echo "layering: libarchive and libisofs belong to src/check and src/source (and"
	echo "src/store/store-archive.c's index of an archive's members):"
	echo "$bad"
	status=1
fi

[ $status = 0 ] && echo "layering ok"
exit $status
