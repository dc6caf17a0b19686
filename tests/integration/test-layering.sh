#!/bin/sh
# The engine keeps its seam: no FUSE, libarchive, threads or I/O in
# src/iso, src/tree, src/util.
exec sh "$top_srcdir/scripts/check-layering.sh" "$top_srcdir/src"
