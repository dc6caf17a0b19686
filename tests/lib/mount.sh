# mount.sh - mount helpers for the integration tests; source after
# functions.sh.
#
#	limg_mount SOURCE MNT [OPTS...]	mount (the daemon forks only once the
#				mount is up: no sleeping), unmounted on exit
#	limg_umount MNT		unmount (fusermount3 -u), waiting for the
#				daemon to exit
#	requires_mount		skip unless we can mount (root, fusermount3,
#				mountpoint)

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
