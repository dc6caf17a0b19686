#!/bin/sh
# The man page is well-formed mdoc (mandoc -Tlint, warnings and up).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
requires mandoc
out=$(mandoc -Tlint -Wwarning "$top_srcdir/man/fuse-layerimg.1" 2>&1 | grep -v 'mandoc.db' || true)
[ -z "$out" ] || { echo "$out"; fail "mandoc -Tlint reports problems"; }
echo "man page lints clean"
