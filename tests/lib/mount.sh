# mount.sh - mount helpers for the integration tests; source after
# functions.sh.
#
#	limg_mount SOURCE MNT [OPTS...]	mount (the daemon forks only once the
#				mount is up: no sleeping), unmounted on exit
#	limg_umount MNT		unmount (fusermount3 -u), waiting for the
#				daemon to exit
#	requires_mount		skip unless we can mount (root, fusermount3,
#				mountpoint)
#	limg_daemon_pid MNT	print the pid of the $LIMG process serving MNT
#				(its worker; with -o nokeeper the one
#				process): the process running $LIMG whose last
#				argument is MNT; 1 if there is none
#	limg_keeper_pid MNT	the same for the mount's keeper (the process
#				that mounted; SIGTERM to it unmounts)
#	limg_wait_exit PID [SECS]	wait up to SECS (30) for process PID to
#				exit; 1 if it is still running
#
# limg_daemon_pid and limg_wait_exit need nothing from functions.sh
# (scripts/lib/bench.sh uses them too).

requires_mount() {
	requires_root
	requires fusermount3
	requires mountpoint
}

limg_mount() {
	_src=$1 _mnt=$2
	shift 2
	mkdir -p "$_mnt"
	# A private cache directory unless the test names one.
	case " $* " in
	*cache_dir=*) ;;
	*) set -- -o "cache_dir=${tmpdir:?}/cache" "$@" ;;
	esac
	"$LIMG" "$@" "$_src" "$_mnt" || fail "mount of $_src on $_mnt failed"
	mountpoint -q "$_mnt" || fail "$_mnt is not a mount point after mounting"
	cleanup_fn limg_umount_quiet "$_mnt"
}

limg_umount_quiet() {
	mountpoint -q "$1" 2>/dev/null && fusermount3 -u "$1" 2>/dev/null
	mountpoint -q "$1" 2>/dev/null && fusermount3 -u -z "$1" 2>/dev/null
	return 0
}

limg_umount() {
	fusermount3 -u "$1" || fail "fusermount3 -u $1 failed"
}

# _limg_pids MNT: "worker|keeper PID" for every $LIMG process serving MNT.
_limg_pids() {
	_exe=$(readlink -f "$LIMG") || return 1
	_mnt=$(readlink -f "$1") || return 1
	# Found by executable, then by mount point (the last argument); a
	# worker runs as argv[0] fuse-layerimg-worker. find fails on the
	# entries it may not read (/proc/1/exe in a container, processes that
	# end meanwhile): no error here, also for callers under pipefail.
	{ find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$_exe" 2>/dev/null || :; } |
		while IFS= read -r _p; do
			_p=${_p%/exe}
			_args=$(tr '\0' '\n' < "$_p/cmdline" 2>/dev/null) || continue
			_last=$(printf '%s\n' "$_args" | tail -n 1)
			if [ "$_last" = "$1" ] || [ "$(readlink -f "$_last")" = "$_mnt" ]; then
				case $(printf '%s\n' "$_args" | head -n 1) in
				fuse-layerimg-worker) echo "worker ${_p#/proc/}" ;;
				*) echo "keeper ${_p#/proc/}" ;;
				esac
			fi
		done
}

limg_daemon_pid() {
	_all=$(_limg_pids "$1") || return 1
	_pid=$(printf '%s\n' "$_all" | awk '$1 == "worker" { print $2; exit }')
	[ -n "$_pid" ] || _pid=$(printf '%s\n' "$_all" | awk '$1 == "keeper" { print $2; exit }')
	[ -n "$_pid" ] || return 1
	echo "$_pid"
}

limg_keeper_pid() {
	_pid=$(_limg_pids "$1" | awk '$1 == "keeper" { print $2; exit }')
	[ -n "$_pid" ] || return 1
	echo "$_pid"
}

limg_wait_exit() {
	# A zombie has exited too: a daemon that forked away is reaped by
	# init, which may take its time (seconds, in some containers), and
	# kill -0 still finds it until then.
	_n=$(( ${2:-30} * 100 ))
	while kill -0 "$1" 2>/dev/null; do
		_st=
		read -r _st < "/proc/$1/stat" 2>/dev/null || return 0
		_st=${_st##*) }
		case ${_st%% *} in
		Z | X) return 0 ;;
		esac
		[ "$_n" -gt 0 ] || return 1
		_n=$((_n - 1))
		sleep 0.01
	done
	return 0
}
