# bench.sh - the machinery the benchmarks in scripts/ share (bash). Source
# it near the top of a bench script, after `set -euo pipefail`:
#
#	bench_name=bench-foo
#	. "$(dirname "$0")/lib/bench.sh"
#
# Messages and arguments
#	die MSG...		"$bench_name: MSG" on stderr, exit 2 (usage)
#	fail MSG...		"$bench_name: MSG" on stderr, exit 1 (a step failed)
#	log MSG...		"[HH:MM:SS] MSG" on stderr
#	need_arg "$@"		in an option loop: die unless option $1 has a value
#	is_uint V		V is a decimal number (no sign)
#	bench_require_root WHY	die unless running as root
#	bench_require CMD...	die unless every CMD is installed
#	bench_install CMD[:PKG]...
#				install the Debian package PKG (default: CMD)
#				of every CMD that is missing: apt-get update,
#				then apt-get install -y, as root only (else die
#				naming the packages)
#
# Work directory, cleanup
#	bench_mktemp PARENT	make $bench_tmp under PARENT; removed at exit
#				unless bench_keep=yes
#	bench_at_exit CMD [ARGS...]
#				run CMD ARGS at exit (newest first), before the
#				mounts are taken down and $bench_tmp removed
#
# Build and tools
#	bench_builddir		the build tree: --build-dir / $LIMG_BUILD_DIR,
#				else the source tree if it is configured in
#				place, else /var/tmp/limg-bench-build
#	bench_build		configure (once, no sanitizers) and make the
#				program and tests/tools in $bench_builddir
#	bench_setup_binaries [BIN]
#				copy BIN (default: the build's fuse-layerimg)
#				and the tools into $bench_tmp/bin, so that a
#				rebuild during the run cannot change what is
#				measured; sets $bench_bin and $bench_bin_src
#	bench_tool NAME		the path of the private copy of tests/tools/NAME
#
# Mounts (fuse-layerimg forks only once the mount is up: no readiness
# polling; the daemon is found by tests/lib/mount.sh's limg_daemon_pid)
#	bench_mount SOURCE MNT [OPTS...]
#				mount with $bench_bin (SOURCE "" for -o layer=
#				only); the daemon runs with bench_daemon_env
#				(VAR=VALUE words); sets $bench_daemon_pid
#	bench_mount_foreground SOURCE MNT LOG [OPTS...]
#				the same with -f or -d in OPTS: the daemon's
#				stderr goes to LOG; returns once it logs that
#				it is serving MNT
#	bench_umount MNT	unmount, wait for the daemon to exit; fails if
#				the daemon died before (a crash)
#	bench_stat MNT KEY	one value of MNT/.stats
#	bench_wait_stats MNT SECS COND
#				wait until the awk condition COND holds over
#				MNT/.stats (v["key"] is a value), e.g.
#				'v["queue_length"] == 0'
#
# Numbers, caches, timing
#	median [N...]		median of the numbers given (or on stdin, one
#				per line or blank-separated); nan if none
#	fsub A B, fdiv A B	A - B, A / B (floating point)
#	bench_drop_caches	sync and drop the page, dentry and inode caches
#	bench_warm PATH...	read every file under PATH (page cache warm)
#	bench_now		seconds since the epoch, microseconds
#	bench_ms_since T0	milliseconds since T0 (a bench_now value)

bench_name=${bench_name:-bench}
bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench_keep=${bench_keep:-no}
bench_tmp=""
bench_bin=""
bench_bin_src=""
bench_daemon_pid=""
bench_daemon_env=()
bench_tools=(walk-floor mktree-gen rand-iops spawn-probe floor-fuse)
declare -A bench_pids=()         # mount point -> daemon pid
declare -A _bench_pending=()      # mount point -> 1 while mounting
_bench_exit_cmds=()

# shellcheck source=../../tests/lib/mount.sh
. "$bench_top/tests/lib/mount.sh"

# ---------------------------------------------------------------- messages

die() { echo "$bench_name: $*" >&2; exit 2; }
fail() { echo "$bench_name: $*" >&2; exit 1; }
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
need_arg() { [ $# -ge 2 ] || die "$1 needs an argument (see --help)"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

bench_require_root() {
	[ "$(id -u)" = 0 ] || die "needs root ($*)"
}

bench_require() {
	local c
	for c; do
		command -v "$c" >/dev/null 2>&1 || die "$c is not installed"
	done
}

bench_install() {
	local w cmd pkg pkgs=()
	for w; do
		cmd=${w%%:*}
		pkg=${w#*:}
		if [[ $cmd == /* ]]; then
			[ -x "$cmd" ] && continue
		else
			command -v "$cmd" >/dev/null 2>&1 && continue
		fi
		pkgs+=("$pkg")
	done
	[ ${#pkgs[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing: ${pkgs[*]}; install them (apt-get install ${pkgs[*]}) or run as root"
	log "installing: ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || fail "apt-get update failed"
	apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null ||
		fail "apt-get install ${pkgs[*]} failed"
}

# ---------------------------------------------------------------- cleanup

bench_at_exit() {
	local q="" w
	for w; do
		q+=" $(printf '%q' "$w")"
	done
	_bench_exit_cmds+=("$q")
}

_bench_cleanup() {
	local rc=$? i m pid
	set +e
	trap - EXIT INT TERM HUP
	for ((i = ${#_bench_exit_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_bench_exit_cmds[i]}"
	done
	# A mount interrupted half-way: find its daemon now.
	for m in "${!_bench_pending[@]}"; do
		pid=$(limg_daemon_pid "$m" 2>/dev/null) && bench_pids[$m]=$pid
		mountpoint -q "$m" 2>/dev/null &&
			{ fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null; }
	done
	for m in "${!bench_pids[@]}"; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
		fi
		# Our own daemon, by its pid, if unmounting did not end it.
		if ! limg_wait_exit "${bench_pids[$m]}" 5; then
			kill "${bench_pids[$m]}" 2>/dev/null
			limg_wait_exit "${bench_pids[$m]}" 5
		fi
	done
	if [ -n "$bench_tmp" ] && [ -d "$bench_tmp" ]; then
		# Anything still mounted below the work directory (a script's
		# own mounts left behind): lazily unmount, never delete into it.
		awk -v t="$bench_tmp/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo |
			sort -r | while IFS= read -r m; do
				fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
			done
		if [ "$bench_keep" = yes ]; then
			echo "$bench_name: work files kept in $bench_tmp" >&2
		else
			rm -rf --one-file-system "$bench_tmp"
		fi
	fi
	exit $rc
}
trap _bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

bench_mktemp() {
	mkdir -p "$1" || die "cannot create $1"
	bench_tmp=$(mktemp -d "$1/$bench_name.XXXXXX") || die "cannot create a work directory in $1"
}

# ---------------------------------------------------------------- build

if [ -n "${LIMG_BUILD_DIR:-}" ]; then
	bench_builddir=$LIMG_BUILD_DIR
elif [ -f "$bench_top/config.status" ]; then
	bench_builddir=$bench_top      # configured in place: an out-of-tree
else                                 # configure would refuse to run
	bench_builddir=/var/tmp/limg-bench-build
fi

bench_build() {
	local out t
	[ -n "$bench_tmp" ] || fail "bench_build: call bench_mktemp first"
	out=$bench_tmp/make.log
	local targets=(fuse-layerimg)
	for t in "${bench_tools[@]}"; do
		targets+=("tests/tools/$t")
	done
	mkdir -p "$bench_builddir" || die "cannot create the build directory $bench_builddir"
	bench_builddir=$(cd "$bench_builddir" && pwd)
	if [ ! -f "$bench_builddir/Makefile" ]; then
		if [ ! -x "$bench_top/configure" ]; then
			log "running autogen.sh"
			"$bench_top/autogen.sh" >"$out" 2>&1 || { tail -20 "$out" >&2; fail "autogen.sh failed"; }
		fi
		log "configuring in $bench_builddir"
		(cd "$bench_builddir" && "$bench_top/configure" -q) >"$out" 2>&1 ||
			{ tail -20 "$out" >&2; fail "configure failed in $bench_builddir (see $bench_builddir/config.log)"; }
	fi
	log "building in $bench_builddir"
	make -C "$bench_builddir" -j"$(nproc)" "${targets[@]}" >"$out" 2>&1 ||
		{ tail -20 "$out" >&2; fail "build failed in $bench_builddir"; }
}

bench_setup_binaries() {
	local src=${1:-$bench_builddir/fuse-layerimg} t
	[ -n "$bench_tmp" ] || fail "bench_setup_binaries: call bench_mktemp first"
	[ -x "$src" ] || die "$src: not an executable (build first, or give --bin)"
	mkdir -p "$bench_tmp/bin"
	bench_bin_src=$src
	bench_bin=$bench_tmp/bin/fuse-layerimg
	cp "$src" "$bench_bin" || fail "cannot copy $src"
	for t in "${bench_tools[@]}"; do
		[ -x "$bench_builddir/tests/tools/$t" ] ||
			die "$bench_builddir/tests/tools/$t is not built (run without --no-build, or make in $bench_builddir)"
		cp "$bench_builddir/tests/tools/$t" "$bench_tmp/bin/$t" || fail "cannot copy $t"
	done
	LIMG=$bench_bin
}

bench_tool() {
	[ -x "$bench_tmp/bin/$1" ] || fail "bench_tool $1: not set up (bench_setup_binaries)"
	echo "$bench_tmp/bin/$1"
}

# ---------------------------------------------------------------- mounts

_bench_mounted() {
	local mnt=$1 pid
	mountpoint -q "$mnt" || fail "$mnt is not a mount point after mounting"
	pid=$(limg_daemon_pid "$mnt") || fail "no fuse-layerimg daemon found serving $mnt"
	bench_pids[$mnt]=$pid
	bench_daemon_pid=$pid
	unset "_bench_pending[$mnt]"
}

bench_mount() {
	local src=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	[ -z "${bench_pids[$mnt]:-}" ] || fail "bench_mount: $mnt is mounted already"
	_bench_pending[$mnt]=1
	env ${bench_daemon_env[@]+"${bench_daemon_env[@]}"} \
		"$bench_bin" "$@" ${src:+"$src"} "$mnt" >>"$bench_tmp/daemon.log" 2>&1 ||
		{ tail -5 "$bench_tmp/daemon.log" >&2; fail "mounting ${src:-the -o layer= layers} on $mnt failed (fuse-layerimg $*)"; }
	_bench_mounted "$mnt"
}

bench_mount_foreground() {
	local src=$1 mnt=$2 log=$3 fifo=$bench_tmp/ready.fifo line=""
	shift 3
	mkdir -p "$mnt"
	[ -z "${bench_pids[$mnt]:-}" ] || fail "bench_mount_foreground: $mnt is mounted already"
	rm -f "$fifo"
	mkfifo "$fifo"
	_bench_pending[$mnt]=1
	# The reader copies the daemon's output into LOG line by line (read:
	# no input buffering) until the line the daemon logs once the mount
	# is up, reports it on fd 3 (the FIFO), then copies the rest with cat.
	# The group holds the FIFO open for writing: if the daemon ends before
	# that line, the read below sees end of file instead of blocking.
	{
		env ${bench_daemon_env[@]+"${bench_daemon_env[@]}"} \
			"$bench_bin" "$@" ${src:+"$src"} "$mnt" 2>&1 </dev/null | {
			while IFS= read -r l; do
				printf '%s\n' "$l"
				case $l in
				*"info: serving "*" at $mnt") echo up >&3; break ;;
				esac
			done
			cat
		} >"$log"
	} 3>"$fifo" &
	read -r line <"$fifo" || true
	rm -f "$fifo"
	[ "$line" = up ] || { tail -5 "$log" >&2; fail "fuse-layerimg $* did not mount $mnt"; }
	_bench_mounted "$mnt"
}

bench_umount() {
	local mnt=$1 pid=${bench_pids[$1]:-}
	[ -n "$pid" ] || fail "bench_umount: $mnt was not mounted by bench_mount"
	kill -0 "$pid" 2>/dev/null ||
		fail "the fuse-layerimg daemon serving $mnt (pid $pid) died before the unmount (a crash? see syslog)"
	fusermount3 -u "$mnt" || { sleep 0.2; fusermount3 -u "$mnt"; } ||
		fail "cannot unmount $mnt"
	limg_wait_exit "$pid" 30 || fail "the fuse-layerimg daemon (pid $pid) did not exit 30 s after the unmount"
	unset "bench_pids[$mnt]"
	bench_daemon_pid=""
}

bench_stat() {
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }' "$1/.stats" ||
		fail "no $2 in $1/.stats"
}

bench_wait_stats() {
	local mnt=$1 secs=$2 cond=$3 end s
	end=$(($(date +%s) + secs))
	while :; do
		s=$(cat "$mnt/.stats") || fail "cannot read $mnt/.stats"
		awk "{ v[\$1] = \$2 } END { exit !($cond) }" <<<"$s" && return 0
		[ "$(date +%s)" -lt "$end" ] || break
		sleep 0.02
	done
	echo "$s" >&2
	fail "$mnt/.stats: not ($cond) after $secs s"
}

# ---------------------------------------------------------------- numbers

median() {
	{ if [ $# -gt 0 ]; then printf '%s\n' "$@"; else tr ' \t' '\n\n'; fi; } |
		sort -g | awk '
			NF { v[++n] = $1 }
			END {
				if (n == 0) print "nan"
				else if (n % 2) print v[(n + 1) / 2]
				else print (v[n / 2] + v[n / 2 + 1]) / 2
			}'
}
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a / b }'; }

# ---------------------------------------------------------------- caches, time

bench_drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches || fail "cannot drop caches (root?)"
}

bench_warm() {
	"$(bench_tool spawn-probe)" warm "$@" >/dev/null || fail "cannot read $* (warming)"
}

bench_now() { echo "$EPOCHREALTIME"; }
bench_ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
