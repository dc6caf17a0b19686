# harnesses.sh - the fuzz harnesses and how each is run; sourced by
# tests/integration/test-fuzz.sh and scripts/fuzz-long.
#
#	LIMG_FUZZ_HARNESSES	the harness names: program fuzz-NAME
#				(tests/fuzz/fuzz-NAME.c), seeds in
#				tests/data/fuzz/NAME/
#	limg_fuzz_flags NAME	libFuzzer flags for NAME, beyond the common
#				ones (-timeout=10, -rss_limit_mb=2048)
#	limg_fuzz_runs NAME	inputs test-fuzz.sh runs for NAME: about 5 s
#				each on a 2-core machine (the harnesses
#				differ 20-fold in speed)
#	limg_fuzz_stats LOG	"EXECS COV FT CORPUS EDGES" from a libFuzzer
#				log (-print_final_stats=1): inputs run, the
#				last status line's coverage (edges, features)
#				and corpus, and the edges instrumented in all
#
# POSIX sh.

LIMG_FUZZ_HARNESSES="persist bolt store-meta store-blobs tar check layout-hints"

limg_fuzz_flags() {
	case $1 in
	check)
		# libarchive's iso9660 reader asks for a read-ahead buffer the
		# size of a directory extent, up to 4 GiB, before it finds the
		# image is shorter: one malloc over libFuzzer's default limit
		# (the RSS limit), though nothing of it is touched (`check`
		# --reader=libarchive on such an image: 10 MiB RSS).
		echo "-malloc_limit_mb=8192" ;;
	esac
}

limg_fuzz_runs() {
	case $1 in
	persist) echo 8000 ;;
	store-meta) echo 1000 ;;
	store-blobs) echo 2500 ;;
	check) echo 600 ;;
	layout-hints) echo 5000 ;;
	*) echo 3000 ;;
	esac
}

limg_fuzz_stats() {
	_execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -1)
	_line=$(grep -E '^#[0-9]+' "$1" | tail -1)
	_cov=$(printf '%s\n' "$_line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	_ft=$(printf '%s\n' "$_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	_corp=$(printf '%s\n' "$_line" | sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p')
	_edges=$(sed -n 's/.*(\([0-9]*\) inline 8-bit counters).*/\1/p' "$1" | head -1)
	echo "${_execs:-0} ${_cov:-0} ${_ft:-0} ${_corp:-0} ${_edges:-0}"
}
