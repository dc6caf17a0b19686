#!/bin/sh
# The engine's unit tests run clean under valgrind: no invalid accesses,
# no uses of uninitialised memory, no definite or indirect leaks. (Not in
# a sanitizer build: valgrind and ASan do not mix.) Criterion runs every
# test in its own process, each a valgrind start of about 1.2 s: two at
# a time (-j2) halve the wall time on the 2 cores the suite runs on.
#
# Which tests: the engine's (src/iso, src/tree: names .. overlay, the
# layout hints included: their bytes go to the disk cache) and
# those of the code whose bytes leave the process or come back into it
# (persist: the disk-cache files, padding included; head: the first
# bytes a restart serves from them; blockcache and
# gen-read: the bytes readers get), about 6 minutes of CPU. The service's
# other unit tests (stores, sources, images, precompute: about 8 minutes
# more under valgrind) run under ASan + UBSan + LSan in the sanitizer
# suite, which finds their invalid accesses and leaks; what only
# valgrind sees, uninitialised memory, matters where bytes are written
# out, which the list below keeps. LIMG_VALGRIND_ALL=1 runs them all.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"

[ "${LIMG_SANITIZERS:-no}" = yes ] && skip "sanitizer build: ASan and valgrind do not mix"
requires valgrind
status=0
tests="names rrip layout layout-hints render tree builder overlay persist head blockcache gen-read"
[ "${LIMG_VALGRIND_ALL:-0}" = 1 ] &&
	tests="$tests source source-tar handles budget precompute store store-blobs bolt images"
for t in $tests; do
	bin=$top_builddir/tests/unit/test-$t
	[ -x "$bin" ] || skip "unit tests not built (no criterion)"
	log=$top_builddir/tests/tmp/valgrind-$t.log
	mkdir -p "$top_builddir/tests/tmp"
	if valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=yes \
		"$bin" -j2 >"$log" 2>&1; then
		echo "valgrind: test-$t clean"
	else
		echo "valgrind: test-$t: errors or leaks:"
		grep -E '==[0-9]+==' "$log" | head -40
		status=1
	fi
done
[ $status = 0 ] || fail "valgrind found errors in the engine tests"
echo "PASS: valgrind"
