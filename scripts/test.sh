#!/bin/sh
# The whole test suite from a clean checkout on Debian 12:
# install dependencies, build from scratch, run `make check`, then build
# again with AddressSanitizer + UndefinedBehaviorSanitizer and run the
# suite once more. Prints one closing line "N passed, N failed, N skipped".
#
# Usage: scripts/test.sh [--no-sanitizers]
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
sanitizers=yes
[ "${1:-}" = "--no-sanitizers" ] && sanitizers=no

scripts/install-deps.sh
./autogen.sh >/dev/null 2>&1 || ./autogen.sh

pass=0 fail=0 skip=0
run_suite() {
	name=$1; shift
	dir="$top/build-$name"
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -j"$(nproc)" >/dev/null)
	status=0
	(cd "$dir" && make -j"$(nproc)" check) || status=$?
	log="$dir/test-suite.log"
	if [ -f "$log" ]; then
		p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
		f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
		x=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
		s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
		pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0} + ${x:-0})); skip=$((skip + ${s:-0}))
		grep -h '^SKIP:' "$dir"/tests/*/*.log 2>/dev/null | sed "s/^/[$name] /" || true
	fi
	if [ "$status" != 0 ]; then
		echo "=== $name: failures ===" >&2
		cat "$log" >&2 || true
		fail=$((fail + 0))
		[ "${f:-0}${x:-0}" = "00" ] && fail=$((fail + 1))
	fi
}

run_suite plain
if [ "$sanitizers" = yes ]; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_suite sanitizers --enable-sanitizers
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
