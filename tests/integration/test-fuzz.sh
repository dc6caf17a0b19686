#!/bin/sh
# test-fuzz.sh - every libFuzzer harness (tests/fuzz/fuzz-*.c, one per
# parser of outside bytes) runs on its seeds (tests/data/fuzz/<name>/,
# regression inputs of every bug found included) plus a fixed number of
# mutations (limg_fuzz_runs in tests/fuzz/harnesses.sh, about 5 s each)
# from a fixed random seed, LIMG_FUZZ_SEED (default 1): the inputs a
# run tries are (nearly) the same on every machine, so a failure in CI
# is one the developer can reproduce, not a roll of the dice. Finding
# new bugs is the job of the long runs (scripts/fuzz-long, random
# seeds). LIMG_FUZZ_SECONDS (default 30) caps each harness on a slow
# machine; LIMG_FUZZ_RUNS overrides the count for all.
# Any crash, sanitizer report (ASan, UBSan: both abort), leak (LSan,
# checked after every input), timeout (10 s for one input) or
# out-of-memory fails the test and prints the input that did it, kept in
# $top_builddir/fuzz-artifacts/. A harness that ran no mutation at all
# fails too.
#
# The harnesses are built with clang by tests/fuzz/build.sh into
# $top_builddir/fuzz (about 20 s of CPU the first time, nothing after);
# without clang and its libFuzzer runtime (clang, libclang-rt-14-dev:
# scripts/install-deps.sh) the test skips. They are the same clang
# ASan + UBSan build whatever the suite's configuration, so the
# sanitizer suite skips them (visibly) rather than repeat the plain
# suite's run. About 40 s in all.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
. "$top_srcdir/tests/fuzz/harnesses.sh"

[ "${LIMG_SANITIZERS:-no}" = yes ] &&
	skip "sanitizer build: the harnesses are one clang ASan + UBSan build, run by the plain suite"

mktmpdir
seconds=${LIMG_FUZZ_SECONDS:-30}
fseed=${LIMG_FUZZ_SEED:-1}

status=0
sh "$top_srcdir/tests/fuzz/build.sh" "$top_builddir" "$top_builddir/fuzz" \
	> "$tmpdir/build.log" 2>&1 || status=$?
if [ "$status" = 77 ]; then
	skip "$(grep '^SKIP:' "$tmpdir/build.log" | sed 's/^SKIP: fuzz: //')"
fi
if [ "$status" != 0 ]; then
	cat "$tmpdir/build.log" >&2
	fail "the harnesses do not build"
fi

keep=$top_builddir/fuzz-artifacts
failed=0
for h in $LIMG_FUZZ_HARNESSES; do
	seeds=$top_srcdir/tests/data/fuzz/$h
	corpus=$tmpdir/corpus/$h
	log=$tmpdir/$h.log
	mkdir -p "$corpus" "$tmpdir/artifacts" "$tmpdir/scratch"
	nseeds=$(ls "$seeds" | wc -l)
	[ "$nseeds" -gt 0 ] || fail "$h: no seeds in $seeds"
	rc=0
	# shellcheck disable=SC2046
	runs=${LIMG_FUZZ_RUNS:-$(limg_fuzz_runs "$h")}
	TMPDIR=$tmpdir/scratch "$top_builddir/fuzz/fuzz-$h" -max_total_time="$seconds" \
		-seed="$fseed" -runs="$runs" \
		-timeout=10 -rss_limit_mb=2048 -error_exitcode=66 -timeout_exitcode=67 \
		-print_final_stats=1 -artifact_prefix="$tmpdir/artifacts/$h-" \
		$(limg_fuzz_flags "$h") "$corpus" "$seeds" > "$log" 2>&1 || rc=$?
	set -- $(limg_fuzz_stats "$log")
	# Inputs run before "INITED" are the seeds; none after: nothing mutated.
	inited=$(sed -n 's/^#\([0-9]*\)[[:space:]]*INITED.*/\1/p' "$log")
	echo "$testname: fuzz-$h: $1 inputs (seed $fseed, at most $runs in ${seconds}s), coverage $2 of $5 edges ($3 features), corpus $4 (from $nseeds seeds), exit $rc"
	# Debian 12's libarchive 3.6.2 can loop forever on a damaged ISO
	# without calling back into our code (README "Fuzzing"; likely the bug
	# libarchive#3021 fixed): a timeout whose innermost frame is in
	# libarchive is that, shown and kept, not a failure of ours.
	if [ "$rc" = 67 ] && grep -A40 'libFuzzer: timeout' "$log" | grep '^ *#[0-9]' |
		grep -v -e '__sanitizer' -e 'fuzzer::' -e 'libc\.so' | head -1 | grep -q 'libarchive\.so'; then
		mkdir -p "$keep"
		cp "$tmpdir"/artifacts/"$h"-* "$keep/" 2>/dev/null || true
		echo "NOTE: $testname: fuzz-$h: libarchive looped on an input (a known libarchive 3.6.2 bug, not ours); kept in $keep"
		rc=0
	fi
	if [ "$rc" != 0 ]; then
		failed=$((failed + 1))
		grep -E 'ERROR|SUMMARY|^fuzz:|#[0-9]+ in ' "$log" | head -30 >&2
		mkdir -p "$keep"
		for a in "$tmpdir"/artifacts/"$h"-*; do
			[ -f "$a" ] || continue
			cp "$a" "$keep/"
			echo "FAIL: $testname: fuzz-$h: the input is $keep/$(basename "$a")" >&2
			echo "  reproduce: $top_builddir/fuzz/fuzz-$h $keep/$(basename "$a")" >&2
		done
	elif [ "$1" -le "${inited:-$1}" ]; then
		failed=$((failed + 1))
		echo "FAIL: $testname: fuzz-$h ran $1 inputs: no mutation was tried" >&2
		tail -20 "$log" >&2
	fi
done
[ "$failed" = 0 ] || fail "$failed harness(es) failed"
