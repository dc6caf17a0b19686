#!/bin/sh
# The seam is enforced, not hoped for: the format engine (src/iso,
# src/tree, and src/util's arena and report) must not include FUSE or libarchive headers, start
# threads or do I/O of its own. Exit 1 naming each offending line.
set -eu
src="${1:-$(dirname "$0")/../src}"
bad=$(grep -nE '#include <(fuse|fuse3/|fuse_lowlevel|archive|pthread)|g_thread_new|pthread_create|\b(open|openat|read|pread|write)\s*\(' \
	"$src"/iso/*.[ch] "$src"/tree/*.[ch] "$src"/util/arena.[ch] "$src"/util/report.[ch] 2>/dev/null | grep -v '^\s*\*' || true)
if [ -n "$bad" ]; then
	echo "layering violation (the ISO engine must stay free of FUSE, libarchive, threads and I/O):"
	echo "$bad"
	exit 1
fi
echo "layering ok"
