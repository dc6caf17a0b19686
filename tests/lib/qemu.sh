# qemu.sh - QEMU helpers shared by the tests and the benchmarks; source it
# (POSIX sh; needs nothing from functions.sh, prints its own messages):
#
#	. "$top_srcdir/tests/lib/qemu.sh"
#
#	limg_qemu_busybox	print the path of a static busybox (a guest
#				initramfs needs one), or return 1
#	limg_qemu_kernel MODULE...
#				find a guest kernel that has MODULE... built
#				in or as modules: sets KERNEL, KVER and KROOT
#				(LIMG_QEMU_KERNEL, LIMG_QEMU_KROOT, else the
#				cloud kernel scripts/install-deps.sh unpacks
#				into /var/tmp/limg-test-cache/kroot, else
#				/boot); returns 1 with a reason in
#				$limg_qemu_why when there is none
#	limg_qemu_modules DIR MODULE...
#				copy MODULE... and their dependencies (those
#				not built in) into DIR/lib/modules,
#				decompressed; sets $limg_loadlist to their
#				file names in load order
#	limg_qemu_accel KERNEL BUSYBOX [WORKDIR]
#				decide the accelerator for guests booting
#				KERNEL: sets $limg_accel to "kvm" or "tcg" and
#				$limg_accel_why to the reason, and prints
#				"accel: kvm|tcg (why)" on stderr. Returns 2 on
#				a bad LIMG_QEMU_ACCEL, else 0.
#
# Why a probe: /dev/kvm may exist and open fine while KVM inside this
# machine (nested virtualisation) never runs a guest to the end. QEMU's
# "accel=kvm:tcg" falls back to TCG only when KVM cannot be *initialised*;
# a KVM that initialises and then hangs hangs the guest for good. So KVM is
# used only when a short probe proves that it boots: KERNEL with a tiny
# initramfs (BUSYBOX as /init's shell, which prints a marker on the serial
# console and powers off) under "-machine accel=kvm", killed after
# LIMG_QEMU_PROBE_TIMEOUT seconds (25). Anything else (no writable
# /dev/kvm, QEMU refusing KVM, the probe timing out or not printing the
# marker) chooses TCG. The decision is made once per process (later calls
# return it) and once per boot of the machine: it is kept in
# $LIMG_TEST_CACHE/qemu-accel-<boot id> (/var/tmp/limg-test-cache).
#
# Environment:
#	LIMG_QEMU_ACCEL		"kvm" or "tcg": no probe, use this
#	LIMG_QEMU_PROBE_TIMEOUT	seconds the probe may take (25)
#
# Needs: qemu-system-x86_64, timeout, cpio, gzip.

limg_accel=
limg_accel_why=
limg_qemu_why=
limg_loadlist=

# _limg_mod_ok VER MOD: MOD is built into kernel VER or exists as a module.
_limg_mod_ok() {
	grep -q "/$2\.ko" "$KROOT/lib/modules/$1/modules.builtin" 2>/dev/null && return 0
	modprobe -d "$KROOT/" -S "$1" --show-depends "$2" >/dev/null 2>&1
}

# _limg_kernel_ok VER MODULE...
_limg_kernel_ok() {
	_kv=$1
	shift
	# An unpacked (not installed) kernel package has no modules.dep yet.
	if [ -n "$KROOT" ] && [ -d "$KROOT/lib/modules/$_kv" ] &&
	   [ ! -f "$KROOT/lib/modules/$_kv/modules.dep" ]; then
		depmod -b "$KROOT" "$_kv" 2>/dev/null || return 1
	fi
	for _m; do
		_limg_mod_ok "$_kv" "$_m" || return 1
	done
}

limg_qemu_kernel() {
	KROOT=${LIMG_QEMU_KROOT:-}
	if [ -z "$KROOT" ] && [ -z "${LIMG_QEMU_KERNEL:-}" ] &&
	   [ -d /var/tmp/limg-test-cache/kroot/boot ]; then
		KROOT=/var/tmp/limg-test-cache/kroot
	fi
	KERNEL=${LIMG_QEMU_KERNEL:-}
	KVER=
	if [ -n "$KERNEL" ]; then
		if [ ! -r "$KERNEL" ]; then
			limg_qemu_why="LIMG_QEMU_KERNEL=$KERNEL is not readable"
			return 1
		fi
		KVER=$(basename "$KERNEL" | sed -n 's/^vmlinuz-//p')
		return 0
	fi
	for _k in $(ls "$KROOT"/boot/vmlinuz-* 2>/dev/null | sort -V -r); do
		_v=${_k##*/vmlinuz-}
		if [ -r "$_k" ] && _limg_kernel_ok "$_v" "$@"; then
			KERNEL=$_k
			KVER=$_v
			return 0
		fi
	done
	limg_qemu_why="no guest kernel with $* in $KROOT/boot (install linux-image-cloud-amd64)"
	return 1
}

limg_qemu_modules() {
	_md=$1
	shift
	mkdir -p "$_md/lib/modules"
	_ml=$(mktemp)
	for _m; do
		if ! grep -q "/$_m\.ko" "$KROOT/lib/modules/$KVER/modules.builtin" 2>/dev/null; then
			modprobe -d "$KROOT/" -S "$KVER" --show-depends "$_m" 2>/dev/null |
				awk '$1 == "insmod" { print $2 }' >> "$_ml"
		fi
	done
	limg_loadlist=
	for _p in $(awk '!seen[$0]++' "$_ml"); do
		_n=$(basename "$_p")
		case $_n in
		*.ko) cp "$_p" "$_md/lib/modules/$_n" ;;
		*.ko.xz) xz -dc "$_p" > "$_md/lib/modules/${_n%.xz}"; _n=${_n%.xz} ;;
		*.ko.zst) zstd -qdc "$_p" > "$_md/lib/modules/${_n%.zst}"; _n=${_n%.zst} ;;
		*.ko.gz) gzip -dc "$_p" > "$_md/lib/modules/${_n%.gz}"; _n=${_n%.gz} ;;
		*) echo "qemu.sh: unknown module file $_p" >&2; rm -f "$_ml"; return 1 ;;
		esac || { echo "qemu.sh: cannot copy module $_p" >&2; rm -f "$_ml"; return 1; }
		limg_loadlist="$limg_loadlist $_n"
	done
	rm -f "$_ml"
}

limg_qemu_busybox() {
	for _b in /bin/busybox /usr/bin/busybox; do
		if [ -x "$_b" ] && ldd "$_b" 2>&1 | grep -q 'not a dynamic'; then
			echo "$_b"
			return 0
		fi
	done
	return 1
}

# _limg_qemu_probe KERNEL BUSYBOX DIR: one KVM boot; sets limg_accel and
# limg_accel_why.
_limg_qemu_probe() {
	_pk=$1 _pb=$2 _pd=$3
	_pt=${LIMG_QEMU_PROBE_TIMEOUT:-25}
	case $_pt in
	'' | *[!0-9]*) _pt=25 ;;
	esac
	limg_accel=tcg
	if [ ! -c /dev/kvm ]; then
		limg_accel_why="no /dev/kvm"
		return 0
	fi
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		limg_accel_why="/dev/kvm is not readable and writable"
		return 0
	fi
	mkdir -p "$_pd/root/bin" "$_pd/root/dev" || {
		limg_accel_why="cannot create the probe's initramfs in $_pd"
		return 0
	}
	cp "$_pb" "$_pd/root/bin/busybox" || {
		limg_accel_why="cannot copy $_pb into the probe's initramfs"
		return 0
	}
	# The marker is computed by the guest, so that nothing but a running
	# /init can print it (the kernel echoes its command line, not this).
	cat > "$_pd/root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox echo "LIMG-KVM-PROBE-$((6 * 7))"
/bin/busybox poweroff -f
EOF
	chmod 755 "$_pd/root/init"
	if ! (cd "$_pd/root" && find . | cpio -o -H newc --quiet | gzip -1) \
		> "$_pd/initrd.gz"; then
		limg_accel_why="cannot build the probe's initramfs (cpio, gzip)"
		return 0
	fi
	: > "$_pd/serial.log"
	_t0=$(date +%s)
	_rc=0
	timeout -k 5 "$_pt" qemu-system-x86_64 -nodefaults \
		-machine accel=kvm -m 256 -smp 1 -display none -monitor none \
		-no-reboot -serial "file:$_pd/serial.log" \
		-kernel "$_pk" -initrd "$_pd/initrd.gz" \
		-append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init" \
		> "$_pd/qemu.log" 2>&1 < /dev/null || _rc=$?
	_secs=$(($(date +%s) - _t0))
	if grep -q 'LIMG-KVM-PROBE-42' "$_pd/serial.log"; then
		limg_accel=kvm
		limg_accel_why="kvm probe booted in $_secs s"
	elif [ "$_rc" = 124 ] || [ "$_rc" = 137 ]; then
		limg_accel_why="kvm probe did not finish in $_pt s"
	elif [ "$_rc" != 0 ]; then
		_msg=$(grep -v '^$' "$_pd/qemu.log" | head -1)
		limg_accel_why="kvm probe failed: qemu exit $_rc${_msg:+: $_msg}"
	else
		limg_accel_why="kvm probe ended after $_secs s without printing its marker"
	fi
	return 0
}

limg_qemu_accel() {
	if [ $# -lt 2 ]; then
		echo "limg_qemu_accel: usage: limg_qemu_accel KERNEL BUSYBOX [WORKDIR]" >&2
		return 2
	fi
	if [ -n "$limg_accel" ]; then
		case $limg_accel_why in
		*"(decided earlier)") ;;
		*) limg_accel_why="$limg_accel_why (decided earlier)" ;;
		esac
	else
		case ${LIMG_QEMU_ACCEL:-} in
		kvm | tcg)
			limg_accel=$LIMG_QEMU_ACCEL
			limg_accel_why="forced by LIMG_QEMU_ACCEL"
			;;
		'')
			# One probe per boot of this machine: a KVM that hangs
			# keeps hanging until the host changes.
			_bid=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo none)
			_cf=${LIMG_TEST_CACHE:-/var/tmp/limg-test-cache}/qemu-accel-$_bid
			if [ -r "$_cf" ] && read -r limg_accel limg_accel_why < "$_cf" &&
			   { [ "$limg_accel" = kvm ] || [ "$limg_accel" = tcg ]; }; then
				limg_accel_why="$limg_accel_why (probed earlier this boot)"
			elif [ -n "${3:-}" ]; then
				_limg_qemu_probe "$1" "$2" "$3/kvm-probe"
				rm -rf "$3/kvm-probe"
			else
				_pdir=$(mktemp -d "${TMPDIR:-/tmp}/limg-kvm-probe.XXXXXX") || {
					echo "limg_qemu_accel: cannot create a temporary directory" >&2
					return 2
				}
				_limg_qemu_probe "$1" "$2" "$_pdir"
				rm -rf "$_pdir"
			fi
			case $limg_accel_why in
			*"earlier this boot)") ;;
			*) mkdir -p "${_cf%/*}" 2>/dev/null &&
			   echo "$limg_accel $limg_accel_why" > "$_cf.$$" 2>/dev/null &&
			   mv "$_cf.$$" "$_cf" 2>/dev/null || rm -f "$_cf.$$" ;;
			esac
			;;
		*)
			echo "limg_qemu_accel: LIMG_QEMU_ACCEL=$LIMG_QEMU_ACCEL: want kvm or tcg" >&2
			return 2
			;;
		esac
	fi
	echo "accel: $limg_accel ($limg_accel_why)" >&2
	return 0
}
