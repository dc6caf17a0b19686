# engines.sh - real container engines as test fixtures, offline and private.
# Source it after functions.sh:
#
#	. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/functions.sh"
#	. "$top_srcdir/tests/lib/engines.sh"
#
# Everything lives under the caller's $tmpdir (mktmpdir first); every
# daemon is started with private paths, stopped by its PID at exit, and
# whatever it left mounted is unmounted. Needs root. Debian 12 packages:
# docker.io (with containerd, runc, tini) buildah podman skopeo jq attr
# debootstrap util-linux procps; fuse-overlayfs and uidmap are not needed
# as root. docs/STORES.md has the versions and what each engine writes.
#
# Engine commands run in a sandbox (below): containers/image 5.23 writes
# /var/lib/containers/cache/blob-info-cache-v1.boltdb as root whatever it
# is told, netavark /run/containers/networks, containerd /opt/containerd,
# dockerd 20.10 /run/docker/plugins and containerd shims /run/containerd/s;
# in the sandbox those land under $tmpdir/sandbox instead.
#
#	limg_engines_requires [docker] [buildah] [skopeo] [podman] [containerd]
#				skip unless root, overlayfs, the sandbox and
#				the named engines work here
#	limg_minbase		print the cached Debian 12 minbase root file
#				system, building it once with debootstrap
#				($LIMG_TEST_CACHE/bookworm-minbase); skips if
#				that is impossible (offline, no cache)
#	limg_sandbox CMD ARGS	run CMD in a private mount namespace where
#				$LIMG_SANDBOX_DIRS (/etc /var/lib /var/cache
#				/run /opt) are overlays of themselves with
#				upper layers in $tmpdir/sandbox/CMD.XXXXXX:
#				what CMD writes there never reaches the
#				host, and its mounts vanish with it
#				(LIMG_NO_SANDBOX=1: run CMD as it is)
#	limg_sandbox_exec CMD ARGS	the same, exec'ing (keeps the PID)
#	limg_sandbox_writes	list what sandboxed commands wrote (would
#				have written on the host), one path a line
#	limg_step LABEL CMD ARGS	run CMD (in this shell), print and record
#				its wall time (appended to $LIMG_TIMES if
#				set: LABEL, then the milliseconds as the
#				last field)
#
# Docker (dockerd from docker.io, its own private containerd):
#
#	limg_dockerd_start DIR	start dockerd: data root DIR/root, exec root
#				DIR/run, socket DIR/docker.sock, config
#				DIR/daemon.json, pid file DIR/dockerd.pid,
#				log DIR/dockerd.log; exports DOCKER_HOST and
#				DOCKER_CONFIG and sets LIMG_DOCKER_ROOT; waits
#				for `docker info` ($LIMG_DOCKERD_TIMEOUT s,
#				default 60); stopped at exit
#	limg_dockerd_stop DIR	stop it now (SIGTERM, then SIGKILL after 30 s,
#				its containerd too; unmount leftovers)
#	limg_docker ARGS	the docker CLI matching the daemon
#				($LIMG_DOCKER, default /usr/bin/docker)
#	limg_export_to_docker REF [FILE]
#				containers-storage REF -> docker-archive FILE
#				(default $tmpdir/REF.docker.tar) -> docker
#				load; prints the docker image id
#	limg_docker_create REF [NAME]	docker create (network none); prints
#				the container id
#	limg_docker_run REF NAME SCRIPT	docker run (network none) sh -c SCRIPT
#				to its end (runc); prints the container id
#
# containers-storage (buildah, podman, skopeo):
#
#	limg_cstorage_env ROOT RUNROOT	private graph root and run root
#				(driver overlay), private storage.conf,
#				registries.conf, containers.conf and
#				policy.json (insecureAcceptAnything) in
#				ROOT/../containers-conf; exports
#				CONTAINERS_STORAGE_CONF, CONTAINERS_CONF,
#				CONTAINERS_REGISTRIES_CONF and sets
#				LIMG_CS_ROOT, LIMG_CS_RUNROOT, LIMG_CS_POLICY
#				(podman 4.3 refuses run roots longer than 50
#				bytes: LIMG_CS_RUNROOT is then a symlink
#				/tmp/limg-cs-HASH/run to RUNROOT)
#	limg_buildah ARGS / limg_podman ARGS / limg_skopeo ARGS
#				the tools on that storage, sandboxed
#				(podman: --runtime runc --network none)
#	limg_build_test_image REF	build REF (e.g. localhost/limg-test:1)
#				with buildah: layer 1 the minbase (copied
#				into the mounted container), layer 2
#				whiteouts / opaque dir / renamed dir / hard
#				links / symlinks / user xattr, layer 3 more
#				of them (see _limg_layer_edits); the base
#				and middle images are REF-base, REF-edits
#	limg_podman_create REF [NAME]	podman create; prints the id
#	limg_oci_copy REF oci|oci-plain|oci-zstd|oci-archive DEST [TAG]
#				skopeo copy REF to an OCI layout DEST:TAG
#				(gzip, uncompressed, zstd layers) or an
#				oci-archive file DEST
#
# containerd (its own private daemon, for ctr):
#
#	limg_containerd_start DIR	root DIR/root, state DIR/state, socket
#				DIR/containerd.sock; sets LIMG_CTR_SOCK;
#				stopped at exit
#	limg_ctr ARGS		ctr -a $LIMG_CTR_SOCK ARGS
#
# POSIX sh. Every failure ends the test with FAIL and the tail of the
# engine's log.

LIMG_ENGINES_SH=${LIMG_ENGINES_SH:-${top_srcdir:-.}/tests/lib/engines.sh}
LIMG_DOCKER=${LIMG_DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || command -v docker || echo docker)}
LIMG_DOCKERD=${LIMG_DOCKERD:-$(command -v dockerd || echo /usr/sbin/dockerd)}
LIMG_SANDBOX_DIRS=${LIMG_SANDBOX_DIRS:-/etc /var/lib /var/cache /run /opt}
export LIMG_ENGINES_SH LIMG_SANDBOX_DIRS

# Sourced inside a sandbox without functions.sh: minimal stand-ins.
command -v fail >/dev/null 2>&1 || fail() { echo "FAIL: $*" >&2; exit 1; }
command -v skip >/dev/null 2>&1 || skip() { echo "SKIP: $*" >&2; exit 77; }
command -v cleanup_fn >/dev/null 2>&1 || cleanup_fn() { :; }

_limg_need_tmpdir() {
	[ -n "${tmpdir:-}" ] && [ -d "$tmpdir" ] || fail "engines.sh: call mktmpdir first"
}

# ------------------------------------------------------------- timing

_limg_ms() {
	echo $(($(date +%s%N) / 1000000))
}

limg_step() {
	_ls_label=$1
	shift
	_ls_t0=$(_limg_ms)
	"$@"
	_ls_ms=$(($(_limg_ms) - _ls_t0))
	printf 'engines: %-28s %4d.%02d s\n' "$_ls_label" $((_ls_ms / 1000)) $((_ls_ms % 1000 / 10)) >&2
	[ -z "${LIMG_TIMES:-}" ] || echo "$_ls_label $_ls_ms" >> "$LIMG_TIMES"
}

# _limg_run LOG WHAT CMD ARGS: run CMD, its stdout and stderr appended to
# LOG; on failure print the tail of LOG (and of $_limg_extra_log) and fail.
_limg_run() {
	_lr_log=$1
	_lr_what=$2
	shift 2
	echo "+ $*" >> "$_lr_log"
	if ! "$@" >> "$_lr_log" 2>&1; then
		_limg_show_log "$_lr_log"
		fail "$_lr_what failed: $* (log: $_lr_log)"
	fi
}

# _limg_out LOG WHAT CMD ARGS: like _limg_run, but print CMD's stdout.
_limg_out() {
	_lo_log=$1
	_lo_what=$2
	shift 2
	echo "+ $*" >> "$_lo_log"
	if ! "$@" 2>> "$_lo_log" > "$_lo_log.out"; then
		cat "$_lo_log.out" >> "$_lo_log"
		_limg_show_log "$_lo_log"
		fail "$_lo_what failed: $* (log: $_lo_log)"
	fi
	cat "$_lo_log.out" >> "$_lo_log"
	cat "$_lo_log.out"
}

_limg_show_log() {
	echo "--- last lines of $1:" >&2
	tail -n "${LIMG_LOG_LINES:-25}" "$1" | sed 's/^/  | /' >&2
	if [ -n "${_limg_extra_log:-}" ] && [ -f "$_limg_extra_log" ] && [ "$_limg_extra_log" != "$1" ]; then
		echo "--- last lines of $_limg_extra_log:" >&2
		tail -n 10 "$_limg_extra_log" | sed 's/^/  | /' >&2
	fi
}

# ------------------------------------------------------------- sandbox

# The program run by unshare: $1 the sandbox directory, $2 a directory
# that must stay the real one (the test's tmpdir), then the command.
# Each of $LIMG_SANDBOX_DIRS becomes an overlay of itself with an upper
# layer in the sandbox directory; mounts below it are bound back on top.
_limg_sandbox_prog='
set -e
d=$1 keep=$2
shift 2
for p in $LIMG_SANDBOX_DIRS; do
	[ -d "$p" ] && [ ! -L "$p" ] || continue
	case "$keep/" in
	"$p"/*) echo "limg-sandbox: $p holds $keep, left as it is" >&2; continue ;;
	esac
	n=$(printf %s "$p" | tr / _)
	subs=$(awk -v p="$p" '"'"'$5 != p && index($5, p "/") == 1 { print $5 }'"'"' /proc/self/mountinfo | sort -u)
	if [ -n "$subs" ]; then
		mkdir -p "$d/$n.orig"
		mount --rbind "$p" "$d/$n.orig"
	fi
	mkdir -p "$d/$n.upper" "$d/$n.work"
	mount -t overlay limg-sandbox -o "lowerdir=$p,upperdir=$d/$n.upper,workdir=$d/$n.work" "$p"
	done_subs=
	for s in $subs; do
		for t in $done_subs; do
			case "$s/" in "$t"/*) continue 2 ;; esac
		done
		mount --rbind "$d/$n.orig${s#"$p"}" "$s" 2>/dev/null ||
			echo "limg-sandbox: cannot bind $s back" >&2
		done_subs="$done_subs $s"
	done
done
exec "$@"
'

# _limg_sandbox_dir CMD ARGS: make "$_sb_dir", the sandbox of this command.
_limg_sandbox_dir() {
	_limg_need_tmpdir
	mkdir -p "$tmpdir/sandbox"
	_sb_label=
	for _sb_w; do
		case $_sb_w in
		env | *=*) ;;
		*) _sb_label=$(basename "$_sb_w"); break ;;
		esac
	done
	_sb_dir=$(mktemp -d "$tmpdir/sandbox/${_sb_label:-cmd}.XXXXXX")
	_sb_keep=$(cd "$tmpdir" && pwd -P)
}

limg_sandbox() {
	_limg_sandbox_dir "$@"
	if [ "${LIMG_NO_SANDBOX:-0}" = 1 ]; then
		"$@"
		return
	fi
	unshare --mount --propagation private -- sh -c "$_limg_sandbox_prog" limg-sandbox \
		"$_sb_dir" "$_sb_keep" "$@"
}

# limg_sandbox_exec CMD ARGS: the same, replacing this (sub)shell, so that
# CMD keeps its PID (for a daemon started with &).
limg_sandbox_exec() {
	_limg_sandbox_dir "$@"
	if [ "${LIMG_NO_SANDBOX:-0}" = 1 ]; then
		exec "$@"
	fi
	exec unshare --mount --propagation private -- sh -c "$_limg_sandbox_prog" limg-sandbox \
		"$_sb_dir" "$_sb_keep" "$@"
}

limg_sandbox_writes() {
	_limg_need_tmpdir
	[ -d "$tmpdir/sandbox" ] || return 0
	for _sw in "$tmpdir"/sandbox/*/*.upper; do
		[ -d "$_sw" ] || continue
		_sw_root=$(basename "$_sw" .upper | tr _ /)
		(cd "$_sw" && find . -mindepth 1 \( ! -type d -o -empty \)) |
			sed "s|^\.|$_sw_root|"
	done | sort -u
}

# ------------------------------------------------------------- requirements

_limg_overlay_ok() {
	_oo=$tmpdir/overlay-check
	mkdir -p "$_oo/l" "$_oo/u" "$_oo/w" "$_oo/m"
	unshare --mount --propagation private -- \
		mount -t overlay x -o "lowerdir=$_oo/l,upperdir=$_oo/u,workdir=$_oo/w" "$_oo/m" 2>/dev/null
	_oo_rc=$?
	rm -rf "$_oo"
	return $_oo_rc
}

limg_engines_requires() {
	requires_root
	_limg_need_tmpdir
	requires unshare
	requires mount
	requires jq
	requires sha256sum
	_limg_overlay_ok || skip "overlayfs does not work on $tmpdir"
	limg_sandbox true || skip "no private mount namespace with overlays here (LIMG_NO_SANDBOX=1 runs without one)"
	for _rq; do
		case $_rq in
		docker) requires "$LIMG_DOCKERD"; requires "$LIMG_DOCKER" ;;
		buildah) requires buildah; requires setfattr ;;
		skopeo) requires skopeo ;;
		podman) requires podman; requires runc ;;
		containerd) requires containerd; requires ctr ;;
		*) fail "limg_engines_requires: unknown engine $_rq" ;;
		esac
	done
}

# ------------------------------------------------------------- minbase

limg_minbase() {
	_mb_cache=${LIMG_TEST_CACHE:-/var/tmp/limg-test-cache}
	_mb=$_mb_cache/bookworm-minbase
	if [ ! -d "$_mb" ]; then
		requires debootstrap
		mkdir -p "$_mb_cache"
		# A directory of our own (test-qemu.sh builds the same cache
		# as $_mb.tmp, maybe at the same time), renamed into place.
		_mb_tmp=$(mktemp -d "$_mb.tmp.XXXXXX")
		echo "engines: building $_mb with debootstrap (once per machine)" >&2
		if ! debootstrap --variant=minbase bookworm "$_mb_tmp" \
			"${LIMG_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
			> "$_mb_tmp.log" 2>&1; then
			tail -20 "$_mb_tmp.log" >&2
			rm -rf "$_mb_tmp" "$_mb_tmp.log"
			skip "debootstrap of bookworm failed (network?)"
		fi
		chmod 755 "$_mb_tmp"
		mv -T "$_mb_tmp" "$_mb" 2>/dev/null || rm -rf "$_mb_tmp"
		rm -f "$_mb_tmp.log"
		[ -d "$_mb" ] || fail "cannot make $_mb"
	fi
	echo "$_mb"
}

# ------------------------------------------------------------- mounts

# _limg_umount_under DIR...: unmount (lazily, deepest first) every mount
# of this namespace at or below DIR.
_limg_umount_under() {
	for _ud; do
		[ -d "$_ud" ] || continue
		_ud=$(cd "$_ud" && pwd -P)
		awk -v p="$_ud" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo |
			sort -r | while IFS= read -r _um; do
				echo "engines: unmounting leftover $_um" >&2
				umount -l "$_um" 2>/dev/null || true
			done
	done
}

# _limg_stop_pid PID WHAT [SECONDS]: SIGTERM, wait, SIGKILL.
_limg_stop_pid() {
	_sp=$1
	_sp_t=${3:-30}
	[ -n "$_sp" ] || return 0
	kill -0 "$_sp" 2>/dev/null || return 0
	kill -TERM "$_sp" 2>/dev/null || true
	_sp_i=0
	while kill -0 "$_sp" 2>/dev/null && [ $_sp_i -lt $((_sp_t * 10)) ]; do
		# Reap it if it is our child (a zombie still answers kill -0).
		if [ "$(ps -o stat= -p "$_sp" 2>/dev/null | cut -c1)" = Z ]; then
			wait "$_sp" 2>/dev/null || true
			break
		fi
		sleep 0.1
		_sp_i=$((_sp_i + 1))
	done
	if kill -0 "$_sp" 2>/dev/null && [ "$(ps -o stat= -p "$_sp" 2>/dev/null | cut -c1)" != Z ]; then
		echo "engines: $2 (pid $_sp) did not stop in $_sp_t s, killing it" >&2
		kill -KILL "$_sp" 2>/dev/null || true
	fi
	wait "$_sp" 2>/dev/null || true
}

# ------------------------------------------------------------- docker

limg_docker() {
	"$LIMG_DOCKER" "$@"
}

limg_dockerd_start() {
	_limg_need_tmpdir
	_dd=$1
	[ -n "$_dd" ] || fail "limg_dockerd_start: no directory"
	mkdir -p "$_dd/root" "$_dd/cli"
	_dd=$(cd "$_dd" && pwd -P)
	# Unix socket paths are short (containerd: 104 bytes), build trees
	# may be deep: sockets and the exec root live in a short directory,
	# reached through DIR/run (removed at exit, after dockerd stops).
	_dd_short=$(mktemp -d /tmp/limg-dd.XXXXXX) || fail "limg_dockerd_start: mktemp failed"
	cleanup_fn rm -rf "$_dd_short"
	mkdir "$_dd_short/run"
	ln -sfn "$_dd_short/run" "$_dd/run"
	_dd_sock=$_dd_short/docker.sock
	# Options that are also flags must not be in the file (dockerd
	# refuses duplicates). deprecated-key-path: the libtrust key that
	# dockerd 20.10 otherwise creates as /etc/docker/key.json. ip-forward
	# false: otherwise it writes 1 to /proc/sys/net/ipv4/ip_forward.
	cat > "$_dd/daemon.json" <<-EOF
	{
		"deprecated-key-path": "$_dd/key.json",
		"ip-forward": false,
		"ip-masq": false,
		"userland-proxy": false,
		"log-level": "info",
		"features": { "buildkit": false }
	}
	EOF
	_dd_log=$_dd/dockerd.log
	: > "$_dd_log"
	# DOCKER_TMPDIR would default to DATA-ROOT/tmp anyway.
	( limg_sandbox_exec env DOCKER_TMPDIR="$_dd/root/tmp" "$LIMG_DOCKERD" \
		--data-root "$_dd/root" \
		--exec-root "$_dd_short/run" \
		-H "unix://$_dd_sock" \
		--pidfile "$_dd/dockerd.pid" \
		--config-file "$_dd/daemon.json" \
		--iptables=false --ip6tables=false --bridge=none \
		--storage-driver overlay2 \
		>> "$_dd_log" 2>&1 ) &
	_dd_pid=$!
	echo "$_dd_pid" > "$_dd/dockerd.shell-pid"
	cleanup_fn limg_dockerd_stop "$_dd"
	DOCKER_HOST=unix://$_dd_sock
	DOCKER_CONFIG=$_dd/cli
	LIMG_DOCKER_ROOT=$_dd/root
	export DOCKER_HOST DOCKER_CONFIG
	_dd_t=${LIMG_DOCKERD_TIMEOUT:-60}
	_dd_i=0
	while ! limg_docker info > "$_dd/info.txt" 2>&1; do
		if ! kill -0 "$_dd_pid" 2>/dev/null; then
			_limg_show_log "$_dd_log"
			fail "dockerd exited at start (log: $_dd_log)"
		fi
		if [ $_dd_i -ge $((_dd_t * 10)) ]; then
			_limg_show_log "$_dd_log"
			cat "$_dd/info.txt" >&2
			fail "dockerd did not answer within $_dd_t s (LIMG_DOCKERD_TIMEOUT; log: $_dd_log)"
		fi
		sleep 0.1
		_dd_i=$((_dd_i + 1))
	done
	grep -q 'Storage Driver: overlay2' "$_dd/info.txt" ||
		fail "dockerd does not use overlay2: $(grep 'Storage Driver' "$_dd/info.txt")"
	_limg_extra_log=$_dd_log
}

limg_dockerd_stop() {
	_ds=$1
	[ -f "$_ds/dockerd.shell-pid" ] || return 0
	# The sandbox execs dockerd: the shell's child is dockerd itself.
	_ds_pid=$(cat "$_ds/dockerd.shell-pid")
	_ds_cpid=$(cat "$_ds/run/containerd/containerd.pid" 2>/dev/null || true)
	_limg_stop_pid "$_ds_pid" dockerd 30
	# dockerd stops the containerd it started; unless it was killed.
	_limg_stop_pid "$_ds_cpid" containerd 10
	rm -f "$_ds/dockerd.shell-pid"
	_limg_umount_under "$_ds/root" "$_ds/run"
}

limg_export_to_docker() {
	_limg_need_tmpdir
	_ed_ref=$1
	_ed_file=${2:-$tmpdir/$(printf %s "$_ed_ref" | tr '/:' '__').docker.tar}
	_ed_name=${_ed_ref#localhost/}
	[ -n "${DOCKER_HOST:-}" ] || fail "limg_export_to_docker: start dockerd first"
	rm -f "$_ed_file"
	limg_step "skopeo to docker-archive" _limg_run "$tmpdir/skopeo.log" "skopeo copy to docker-archive" \
		limg_skopeo copy --quiet "$(_limg_cs_ref "$_ed_ref")" "docker-archive:$_ed_file:$_ed_name"
	limg_step "docker load" _limg_run "$tmpdir/docker-cli.log" "docker load" \
		limg_docker load -i "$_ed_file"
	_limg_out "$tmpdir/docker-cli.log" "docker image inspect" \
		limg_docker image inspect --format '{{.Id}}' "$_ed_name"
}

limg_docker_create() {
	_limg_need_tmpdir
	_dc_ref=${1#localhost/}
	_dc_name=${2:-}
	set -- --network none
	[ -z "$_dc_name" ] || set -- "$@" --name "$_dc_name"
	_limg_out "$tmpdir/docker-cli.log" "docker create" \
		limg_docker create "$@" "$_dc_ref"
}

# limg_docker_run REF NAME SCRIPT: run `sh -c SCRIPT` in a new container
# (network none) to its end; the container stays, stopped; prints its id.
limg_docker_run() {
	_limg_need_tmpdir
	_limg_run "$tmpdir/docker-cli.log" "docker run" \
		limg_docker run --network none --name "$2" "${1#localhost/}" sh -c "$3"
	_limg_out "$tmpdir/docker-cli.log" "docker inspect" \
		limg_docker inspect --format '{{.Id}}' "$2"
}

# ------------------------------------------------------------- containers-storage

limg_cstorage_env() {
	_limg_need_tmpdir
	[ $# -eq 2 ] || fail "limg_cstorage_env ROOT RUNROOT"
	mkdir -p "$1" "$2"
	LIMG_CS_ROOT=$(cd "$1" && pwd -P)
	LIMG_CS_RUNROOT=$(cd "$2" && pwd -P)
	# podman 4.3 refuses run roots of more than 50 bytes: use a short
	# symbolic link to it (the files stay in RUNROOT). Its name depends
	# only on RUNROOT: podman's database records the run root and refuses
	# another one when the store is opened again.
	if [ ${#LIMG_CS_RUNROOT} -gt 50 ]; then
		_ce_short=/tmp/limg-cs-$(printf %s "$LIMG_CS_RUNROOT" | sha256sum | cut -c1-12)
		mkdir -m 0700 "$_ce_short" 2>/dev/null ||
			{ [ -d "$_ce_short" ] && [ ! -L "$_ce_short" ] && [ -O "$_ce_short" ]; } ||
			fail "limg_cstorage_env: cannot make $_ce_short"
		cleanup_fn rm -rf "$_ce_short"
		ln -sfn "$LIMG_CS_RUNROOT" "$_ce_short/run"
		LIMG_CS_RUNROOT=$_ce_short/run
	fi
	_ce=$(dirname "$LIMG_CS_ROOT")/containers-conf
	mkdir -p "$_ce/tmp" "$_ce/networks" "$_ce/home"
	cat > "$_ce/storage.conf" <<-EOF
	[storage]
	driver = "overlay"
	graphroot = "$LIMG_CS_ROOT"
	runroot = "$LIMG_CS_RUNROOT"
	EOF
	cat > "$_ce/registries.conf" <<-EOF
	unqualified-search-registries = []
	short-name-mode = "disabled"
	EOF
	cat > "$_ce/policy.json" <<-EOF
	{ "default": [ { "type": "insecureAcceptAnything" } ] }
	EOF
	# netns none: nothing is set up for networks. cni: the netavark
	# backend of podman 4.3 writes /run/containers/networks even so.
	cat > "$_ce/containers.conf" <<-EOF
	[containers]
	netns = "none"
	[network]
	network_backend = "cni"
	network_config_dir = "$_ce/networks"
	[engine]
	runtime = "runc"
	cgroup_manager = "cgroupfs"
	events_logger = "none"
	tmp_dir = "$LIMG_CS_RUNROOT/libpod"
	static_dir = "$LIMG_CS_ROOT/libpod"
	volume_path = "$LIMG_CS_ROOT/volumes"
	EOF
	LIMG_CS_POLICY=$_ce/policy.json
	LIMG_CS_CONF=$_ce
	CONTAINERS_STORAGE_CONF=$_ce/storage.conf
	CONTAINERS_REGISTRIES_CONF=$_ce/registries.conf
	CONTAINERS_CONF=$_ce/containers.conf
	export CONTAINERS_STORAGE_CONF CONTAINERS_REGISTRIES_CONF CONTAINERS_CONF
	export LIMG_CS_ROOT LIMG_CS_RUNROOT LIMG_CS_POLICY LIMG_CS_CONF
	cleanup_fn _limg_cstorage_cleanup
}

_limg_cstorage_cleanup() {
	# Sandboxed tools mount nothing here; a LIMG_NO_SANDBOX run may.
	_limg_umount_under "$LIMG_CS_ROOT" "$LIMG_CS_RUNROOT/"
}

# containers-storage:[overlay@ROOT+RUNROOT]REF
_limg_cs_ref() {
	echo "containers-storage:[overlay@$LIMG_CS_ROOT+$LIMG_CS_RUNROOT]$1"
}

limg_buildah() {
	limg_sandbox env TMPDIR="$LIMG_CS_CONF/tmp" buildah --root "$LIMG_CS_ROOT" --runroot "$LIMG_CS_RUNROOT" \
		--storage-driver overlay "$@"
}

limg_podman() {
	limg_sandbox env TMPDIR="$LIMG_CS_CONF/tmp" podman --root "$LIMG_CS_ROOT" --runroot "$LIMG_CS_RUNROOT" \
		--storage-driver overlay --runtime runc --cgroup-manager cgroupfs \
		--events-backend none "$@"
}

limg_skopeo() {
	limg_sandbox env TMPDIR="$LIMG_CS_CONF/tmp" skopeo --policy "$LIMG_CS_POLICY" \
		--registries-conf "$CONTAINERS_REGISTRIES_CONF" "$@"
}

# The layers after the base, applied to a mounted working container.
# Layer 2: whiteouts (a file and a directory), an opaque directory
# (deleted and made again in the same layer), a renamed directory (no
# redirect_dir: a whiteout plus a copy), a modified file, a chmod-only
# directory, hard links (new, and to a file of the base layer), symlinks,
# a user xattr.
_limg_layer_edits() {
	cd "$1"
	for _le in etc/motd usr/share/doc/bash etc/apt/apt.conf.d etc/cron.daily etc/issue; do
		[ -e "$_le" ] || { echo "minbase has no /$_le" >&2; return 1; }
	done
	rm etc/motd
	rm -r usr/share/doc/bash
	rm -r etc/apt/apt.conf.d
	mkdir etc/apt/apt.conf.d
	echo 'APT::Limg "opaque";' > etc/apt/apt.conf.d/99limg
	mv etc/cron.daily etc/cron.daily.renamed
	echo 'limg edits' >> etc/issue
	chmod 0700 srv
	mkdir -p opt/limg
	echo 'hard link data' > opt/limg/hl-a
	ln opt/limg/hl-a opt/limg/hl-b
	ln usr/bin/gzip opt/limg/gzip-hardlink
	ln -s hl-a opt/limg/symlink-rel
	ln -s /etc/os-release opt/limg/symlink-abs
	echo 'has a user xattr' > opt/limg/xattr
	setfattr -n user.limg.test -v hello opt/limg/xattr
	touch -d @1600000000 opt/limg/hl-a opt/limg/xattr
	touch -h -d @1600000000 opt/limg/symlink-rel opt/limg/symlink-abs
}

# Layer 3: a whiteout of a file from layer 2, a whiteout of a base
# directory, a new directory with an empty file, a suid file, a fifo, a
# file of another owner.
_limg_layer_more() {
	cd "$1"
	rm opt/limg/hl-b
	rm -r usr/share/doc/dash
	mkdir -p opt/limg/l3
	echo three > opt/limg/l3/file
	chown 1000:1000 opt/limg/l3/file
	: > opt/limg/l3/empty
	printf 'suid\n' > opt/limg/l3/suid
	chmod 4755 opt/limg/l3/suid
	mkfifo opt/limg/l3/fifo
}

# Runs inside one sandbox: buildah mount works only where its mounts live.
_limg_build_inner() {
	_bi_ref=$1
	_bi_rootfs=$2
	_bi_log=$3
	_bi_b() {
		buildah --root "$LIMG_CS_ROOT" --runroot "$LIMG_CS_RUNROOT" --storage-driver overlay "$@"
	}
	_bi_from() {
		_limg_out "$_bi_log" "buildah from" _bi_b from --quiet --pull-never \
			--signature-policy "$LIMG_CS_POLICY" --name "limg-build-$$" "$1"
	}
	_bi_commit() {	# CONTAINER NAME CREATED-BY
		_limg_run "$_bi_log" "buildah config" _bi_b config --created-by "$3" "$1"
		_limg_out "$_bi_log" "buildah commit" _bi_b commit --quiet --rm \
			--signature-policy "$LIMG_CS_POLICY" "$1" "$2"
	}
	_bi_c=$(_limg_out "$_bi_log" "buildah from scratch" _bi_b from --quiet \
		--signature-policy "$LIMG_CS_POLICY" --name "limg-build-$$" scratch)
	# Not `buildah add`: it makes every file 0:0 (the minbase has
	# root:shadow and root:utmp files). cp -a keeps owners, modes,
	# hard links, devices and xattrs; the commit rounds mtimes to seconds.
	_bi_m=$(_limg_out "$_bi_log" "buildah mount" _bi_b mount "$_bi_c")
	limg_step "copy minbase" _limg_run "$_bi_log" "copying the minbase" \
		cp -a "$_bi_rootfs/." "$_bi_m/"
	_limg_run "$_bi_log" "buildah umount" _bi_b umount "$_bi_c"
	_limg_run "$_bi_log" "buildah config" _bi_b config --cmd /bin/sh \
		--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--label org.example.limg=fixture "$_bi_c"
	_bi_id=$(limg_step "buildah commit base" _bi_commit "$_bi_c" "$_bi_ref-base" \
		"limg: debootstrap --variant=minbase bookworm")
	for _bi_step in edits more; do
		_bi_c=$(_bi_from "$_bi_id")
		_bi_m=$(_limg_out "$_bi_log" "buildah mount" _bi_b mount "$_bi_c")
		( _limg_layer_$_bi_step "$_bi_m" ) >> "$_bi_log" 2>&1 ||
			{ _limg_show_log "$_bi_log"; fail "layer '$_bi_step' failed in $_bi_m"; }
		_limg_run "$_bi_log" "buildah umount" _bi_b umount "$_bi_c"
		_bi_name=$_bi_ref-$_bi_step
		[ $_bi_step != more ] || _bi_name=$_bi_ref
		_bi_id=$(limg_step "buildah commit $_bi_step" _bi_commit "$_bi_c" "$_bi_name" "limg: $_bi_step")
	done
	echo "$_bi_id"
}

limg_build_test_image() {
	_limg_need_tmpdir
	[ -n "${LIMG_CS_ROOT:-}" ] || fail "limg_build_test_image: call limg_cstorage_env first"
	_bt_ref=$1
	case $_bt_ref in
	*/*:*) ;;
	*) fail "limg_build_test_image: give a full reference like localhost/NAME:TAG" ;;
	esac
	_bt_rootfs=$(limg_minbase)
	_bt_log=$tmpdir/buildah.log
	limg_sandbox env TMPDIR="$LIMG_CS_CONF/tmp" \
		sh -c 'set -e; . "$LIMG_ENGINES_SH"; _limg_build_inner "$@"' \
		limg-build "$_bt_ref" "$_bt_rootfs" "$_bt_log" > "$tmpdir/buildah.id" ||
		fail "building $_bt_ref failed (log: $_bt_log)"
	cat "$tmpdir/buildah.id"
}

limg_podman_create() {
	_limg_need_tmpdir
	set -- "$1" ${2:+--name "$2"}
	_pc_ref=$1
	shift
	_limg_out "$tmpdir/podman.log" "podman create" \
		limg_podman create --pull never --network none "$@" "$_pc_ref"
}

# limg_oci_copy REF KIND DEST [TAG]
limg_oci_copy() {
	_limg_need_tmpdir
	_oc_ref=$1
	_oc_kind=$2
	_oc_dest=$3
	_oc_tag=${4:-latest}
	case $_oc_kind in
	oci) set -- "oci:$_oc_dest:$_oc_tag" ;;
	oci-plain) set -- --dest-oci-accept-uncompressed-layers "oci:$_oc_dest:$_oc_tag" ;;
	oci-zstd) set -- --dest-compress-format zstd "oci:$_oc_dest:$_oc_tag" ;;
	oci-archive) set -- "oci-archive:$_oc_dest:$_oc_tag" ;;
	*) fail "limg_oci_copy: unknown kind $_oc_kind" ;;
	esac
	limg_step "skopeo to $_oc_kind" _limg_run "$tmpdir/skopeo.log" "skopeo copy to $_oc_kind" \
		limg_skopeo copy --quiet "$(_limg_cs_ref "$_oc_ref")" "$@"
}

# ------------------------------------------------------------- containerd

limg_containerd_start() {
	_limg_need_tmpdir
	_cd=$1
	mkdir -p "$_cd/root" "$_cd/opt"
	_cd=$(cd "$_cd" && pwd -P)
	# Sockets and the state directory (shim sockets) in a short
	# directory, reached through DIR/state: see limg_dockerd_start.
	_cd_short=$(mktemp -d /tmp/limg-cd.XXXXXX) || fail "limg_containerd_start: mktemp failed"
	cleanup_fn rm -rf "$_cd_short"
	mkdir "$_cd_short/state"
	ln -sfn "$_cd_short/state" "$_cd/state"
	cat > "$_cd/config.toml" <<-EOF
	version = 2
	root = "$_cd/root"
	state = "$_cd_short/state"
	disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
		"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
		"io.containerd.snapshotter.v1.devmapper"]
	[grpc]
	  address = "$_cd_short/containerd.sock"
	[ttrpc]
	  address = "$_cd_short/containerd.sock.ttrpc"
	[debug]
	  address = ""
	[plugins."io.containerd.internal.v1.opt"]
	  path = "$_cd/opt"
	EOF
	( limg_sandbox_exec containerd --config "$_cd/config.toml" > "$_cd/containerd.log" 2>&1 ) &
	echo $! > "$_cd/containerd.shell-pid"
	cleanup_fn limg_containerd_stop "$_cd"
	LIMG_CTR_SOCK=$_cd_short/containerd.sock
	_cd_i=0
	while ! ctr -a "$LIMG_CTR_SOCK" version > /dev/null 2>&1; do
		if ! kill -0 "$(cat "$_cd/containerd.shell-pid")" 2>/dev/null || [ $_cd_i -ge 300 ]; then
			_limg_show_log "$_cd/containerd.log"
			fail "containerd did not start (log: $_cd/containerd.log)"
		fi
		sleep 0.1
		_cd_i=$((_cd_i + 1))
	done
}

limg_containerd_stop() {
	[ -f "$1/containerd.shell-pid" ] || return 0
	_limg_stop_pid "$(cat "$1/containerd.shell-pid")" containerd 20
	rm -f "$1/containerd.shell-pid"
	_limg_umount_under "$1/root" "$1/state"
}

limg_ctr() {
	ctr -a "$LIMG_CTR_SOCK" "$@"
}
