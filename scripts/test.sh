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
failed_logs=
# run_suite NAME [CONFIGURE ARGS]: build in build-NAME and run make check.
run_suite() {
	name=$1
	shift
	dir="$top/build-$name"
	rm -rf "$dir"
	mkdir -p "$dir"
	if ! (cd "$dir" && "$top/configure" -q "$@" && make -j"$(nproc)" >/dev/null); then
		echo "=== $name: build failed" >&2
		fail=$((fail + 1))
		return 0
	fi
	status=0
	(cd "$dir" && make -j"$(nproc)" check) || status=$?
	log="$dir/test-suite.log"
	p=0 f=0 x=0 s=0
	if [ -f "$log" ]; then
		p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
		f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
		x=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
		s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
		# Every SKIP, visibly, with its reason.
		grep -h '^SKIP:' "$dir"/tests/*/*.log 2>/dev/null | sort -u | sed "s/^/[$name] /" || true
		# Where the time went: the slowest scripts.
		echo "[$name] the slowest tests:"
		grep -h '^duration: ' "$dir"/tests/*/*.log 2>/dev/null |
			sort -t' ' -k3,3nr | head -8 | sed "s/^duration: /[$name]   /" || true
		for trs in "$dir"/tests/*/*.trs; do
			[ -f "$trs" ] || continue
			if grep -q -E '^:test-result: (FAIL|ERROR)' "$trs"; then
				failed_logs="$failed_logs ${trs%.trs}.log"
			fi
		done
	fi
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0} + ${x:-0}))
	skip=$((skip + ${s:-0}))
	if [ "$status" != 0 ]; then
		echo "=== $name: make check failed" >&2
		[ -f "$log" ] && cat "$log" >&2
		if [ "${f:-0}" = 0 ] && [ "${x:-0}" = 0 ]; then
			fail=$((fail + 1))
		fi
	fi
	return 0
}

if [ -f config.status ]; then
	# An in-tree configuration would break the out-of-tree builds below.
	make distclean >/dev/null 2>&1 || true
fi

run_suite plain
if [ "$sanitizers" = yes ]; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_suite sanitizers --enable-sanitizers
fi

# The end of each failed test's log last, where a truncated CI log
# still shows it.
for l in $failed_logs; do
	echo "=== the end of $l" >&2
	tail -40 "$l" >&2
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
