#!/bin/sh
# mktree.sh - build the edge-case layer tree the image tests read back.
#
# Usage: mktree.sh DIR [--no-big] [--outside-link=PATH]
#
# Creates DIR (which must not exist, or be empty) holding what real layers
# hold and what ISO 9660 + Rock Ridge writers get wrong: long, non-UTF-8
# and colliding names, deep and wide directories, long and odd symlink
# targets, hard links of every type, devices (with whiteouts and wide
# majors/minors), fifos, a socket, special mode bits, wide owners, times
# outside 1970..2038, assorted file sizes, a sparse file over 4 GiB
# (unless --no-big) and xattrs. The result is deterministic: same names,
# contents, modes, owners and times on every run (ctimes aside).
#
# Needs root (devices, owners, trusted.* xattrs): exits 77 (SKIP) if not.
# Prints "NOTE: ..." for parts it had to leave out (no python3 for the
# socket, no way to set xattrs).
# --outside-link=PATH also makes PATH (outside DIR, same filesystem) a
# hard link of hard/outside-linked, so that file has st_nlink 2 with one
# link in the tree (as in kernel-written layers); the caller removes PATH.

set -eu

usage() {
	echo "usage: mktree.sh DIR [--no-big] [--outside-link=PATH]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
DIR=$1
BIG=yes
OUTSIDE=
shift
for arg; do
	case $arg in
	--no-big) BIG=no ;;
	--outside-link=?*) OUTSIDE=${arg#--outside-link=} ;;
	*) usage ;;
	esac
done

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: mktree.sh needs root (devices, owners, trusted xattrs)"
	echo "SKIP: mktree.sh needs root (devices, owners, trusted xattrs)" >&2
	exit 77
fi

umask 022
export LC_ALL=C
DEFAULT_TIME=1600000000

mkdir -p "$DIR"
if [ -n "$(ls -A "$DIR")" ]; then
	echo "mktree.sh: $DIR is not empty" >&2
	exit 1
fi
DIR=$(cd "$DIR" && pwd)
cd "$DIR"

# Paths given an explicit time, set after the default pass: "TIME PATH".
TIMES=$(mktemp "${TMPDIR:-/tmp}/mktree-times.XXXXXX")
trap 'rm -f "$TIMES"' EXIT

# rep CHAR N: print CHAR N times (ASCII CHAR only).
rep() {
	head -c "$2" /dev/zero | tr '\0' "$1"
}

# long_target N: a relative path of exactly N bytes with many components.
long_target() {
	_t=
	_i=0
	while [ ${#_t} -lt "$1" ]; do
		_t="${_t}component$_i/"
		_i=$((_i + 1))
	done
	printf %s "$_t" | head -c "$1"
}

settime() {			# settime TIME PATH
	printf '%s %s\n' "$1" "$2" >> "$TIMES"
}

# ------------------------------------------------------------- names
mkdir names
echo long255 > "names/$(rep a 255)"
mkdir "names/$(rep b 200)"
echo nested-long > "names/$(rep b 200)/$(rep c 255)"
# 127 two-byte UTF-8 characters + 1 byte = 255 bytes.
echo utf8-255 > "names/$(i=0; while [ $i -lt 127 ]; do printf '\303\251'; i=$((i + 1)); done)x"
echo utf8 > "names/$(printf 'caf\303\251-\342\202\254')"
echo ff-fe > "names/$(printf '\377\376')"
mkdir "names/$(printf 'bad\200dir')"
echo latin1 > "names/$(printf 'bad\200dir')/$(printf 'na\357ve')"
echo tab > "names/$(printf 'tab\tname')"
echo newline > "names/$(printf 'new\nline')"
echo backslash > 'names/back\slash'
echo version > 'names/x;1'
echo trailing-dot > 'names/trailing.'
echo dots > 'names/...'
echo hidden > 'names/.hidden'
echo space > 'names/ leading space'
echo colon > 'names/a:b*c?d"e<f>g|h'

# Names that all mangle to one ISO 9660 name.
mkdir mangle
for n in a.b A.B a+b 'a b' A_B a_b a-b 'a.b.' a..b a.b.c A.B.C UPPER.TXT \
	upper.txt file.tar.gz FILE.TAR.GZ noext NOEXT; do
	printf '%s\n' "$n" > "mangle/$n"
done
mkdir mangle/foo
echo foo-dir > mangle/foo/inside
echo FOO-file > mangle/FOO
i=0
while [ $i -lt 40 ]; do
	n=$(printf 'a_very_long_common_prefix_over_30_chars_%02d.txt' $i)
	echo $i > "mangle/$n"
	i=$((i + 1))
done
mkdir rr_moved
echo not-relocated > rr_moved/file

# ------------------------------------------------------------- deep
p=deep
i=1
while [ $i -le 45 ]; do
	p="$p/$(printf 'd%02d' $i)"
	i=$((i + 1))
done
mkdir -p "$p"
echo bottom > "$p/file"
# A path longer than PATH_MAX: 24 levels of 200-byte names (4800+ bytes).
mkdir deeplong
(
	cd deeplong
	i=0
	while [ $i -lt 24 ]; do
		n="$(printf '%02d' $i)$(rep L 198)"
		mkdir "$n"
		cd -P "$n"
		i=$((i + 1))
	done
	echo beyond-path-max > file
	ln -s ../target-beyond link
)

# ------------------------------------------------------------- wide
mkdir wide
(cd wide && seq -f 'f%05g' 0 19999 | xargs touch)
echo data > wide/f10000

# ------------------------------------------------------------- symlinks
mkdir links
ln -s /etc/passwd links/absolute
ln -s ../x links/relative
ln -s does-not-exist links/dangling
ln -s "$(long_target 300)" links/long300
ln -s "$(long_target 1000)" links/long1000
ln -s "$(long_target 4000)" links/long4000
ln -s "$(rep t 255)" links/component255
ln -s "$(rep u 255)/$(rep v 255)/w" links/components255x2
ln -s dir/ links/trailing-slash
ln -s a//b links/double-slash
ln -s ./a/../b/./. links/dots
ln -s ../../../../../../etc/shadow links/outside
ln -s . links/self-dir
ln -s .. links/parent
ln -s / links/root
ln -s "$(printf '\377bad')" links/non-utf8
ln -s 'with space' links/space
settime 100000000 links/absolute

# ------------------------------------------------------------- hard links
mkdir -p hard/sub
yes 'hard link data' | head -c 10000 > hard/data1
ln hard/data1 hard/data2
ln hard/data1 hard/sub/data3
: > hard/empty1
ln hard/empty1 hard/empty2
ln -s target hard/sym1
ln -P hard/sym1 hard/sym2
mkfifo hard/fifo1
ln hard/fifo1 hard/fifo2
mknod hard/wh1 c 0 0
ln hard/wh1 hard/wh2
ln hard/wh1 hard/sub/wh3
mknod hard/null1 c 1 3
ln hard/null1 hard/null2
echo outside > hard/outside-linked
if [ -n "$OUTSIDE" ]; then
	ln hard/outside-linked "$OUTSIDE"
fi
chmod 0640 hard/data1

# ------------------------------------------------------------- devices
mkdir dev
mknod dev/whiteout c 0 0
mknod dev/null c 1 3
mknod dev/tty64 c 4 64
mknod dev/sda1 b 8 1
# Major/minor of 256 and more: Linux isofs misdecodes these (PN high 0,
# low > 0xff is read as an old 16-bit dev_t); libisofs and libarchive
# read PN as one 64-bit dev_t and get them right.
mknod dev/nvme c 259 65536
mknod dev/maxdev b 4095 1048575
mknod dev/maj256 c 256 0

# ------------------------------------------------------------- fifo, socket
mkdir special
mkfifo special/fifo
mkfifo -m 0600 special/fifo600
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])' special/socket
else
	echo "NOTE: no python3: tree has no socket"
fi

# ------------------------------------------------------------- modes
mkdir modes
for m in 4755 2755 6755 7777 0000 0777 0400 1755 4000; do
	echo "$m" > "modes/f$m"
	chmod "$m" "modes/f$m"
done
mkdir modes/sticky modes/d0000 modes/d0700 modes/d2775
echo inside-0000 > modes/d0000/file
chmod 1777 modes/sticky
chmod 0700 modes/d0700
chmod 2775 modes/d2775
chmod 0000 modes/d0000
mkfifo modes/fifo-4777
chmod 4777 modes/fifo-4777

# ------------------------------------------------------------- owners
mkdir owners
for o in 100000:200000 4000000000:4000000000 65535:65534 65536:65536 \
	1000:1000 4294967294:4294967294; do
	echo "$o" > "owners/f-$o"
	chown "$o" "owners/f-$o"
done
mkdir owners/dir-big
chown 3000000000:3000000001 owners/dir-big
ln -s x owners/link-big
chown -h 2000000000:2000000001 owners/link-big
mknod owners/chr-big c 1 5
chown 123456:654321 owners/chr-big

# ------------------------------------------------------------- times
mkdir times
for t in 1960 1969 epoch minus1 2038 2040 2100 2155; do
	echo "$t" > "times/f$t"
done
settime -315619200 times/f1960		# 1960-01-01
settime -86400 times/f1969		# 1969-12-31
settime 0 times/fepoch
settime -1 times/fminus1
settime 2147483648 times/f2038		# one past 32-bit time_t
settime 2222121600 times/f2040		# 2040-06-01
settime 4102444800 times/f2100
settime 5869497600 times/f2155		# 2155-12-31, last 7-byte ISO date
mkdir times/dir1960
settime -315619200 times/dir1960
ln -s target times/link1960
settime -315619200 times/link1960

# ------------------------------------------------------------- sizes
mkdir sizes
: > sizes/0
printf x > sizes/1
for n in 2047 2048 2049 4096 65535; do
	yes 'sizes 0123456789abcdef' | head -c $n > "sizes/$n"
done
yes 'fuse-layerimg 0123456789abcdef' | head -c 1048576 > sizes/1MiB
# Not a multiple of anything, with no zero bytes.
yes 'odd' | head -c 1000003 > sizes/1000003
# A small sparse file: hole in the middle.
truncate -s 1000000 sizes/sparse-small
printf 'start' | dd of=sizes/sparse-small conv=notrunc status=none
printf 'end' | dd of=sizes/sparse-small bs=1 seek=999997 conv=notrunc status=none
if [ "$BIG" = yes ]; then
	# 4 GiB + 4096: needs two extents (an extent holds < 4 GiB).
	truncate -s 4294971392 sizes/big-sparse
	printf 'START' | dd of=sizes/big-sparse conv=notrunc status=none
	printf 'AROUND4G' | dd of=sizes/big-sparse bs=1 seek=4294967292 \
		conv=notrunc status=none
	printf 'TAIL\n' | dd of=sizes/big-sparse bs=1 seek=4294971387 \
		conv=notrunc status=none
fi

# ------------------------------------------------------------- empty
mkdir -p empty/nested-empty

# ------------------------------------------------------------- xattrs
mkdir xattrs
echo xattrs > xattrs/file
mkdir xattrs/opaque
mkdir xattrs/origin
echo cap > xattrs/cap
ln -s target xattrs/link
if command -v setfattr >/dev/null 2>&1; then
	setfattr -n user.test -v value xattrs/file
	setfattr -n user.empty xattrs/file
	setfattr -n user.binary -v 0x00ff0001 xattrs/file
	setfattr -n trusted.overlay.opaque -v y xattrs/opaque
	setfattr -n trusted.overlay.origin -v 0x00fb1e000102030405060708090a0b0c0d0e0f xattrs/origin
	setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 xattrs/cap
	setfattr -h -n trusted.link -v on-a-symlink xattrs/link
elif command -v python3 >/dev/null 2>&1; then
	python3 - <<'EOF'
import os
os.setxattr('xattrs/file', 'user.test', b'value')
os.setxattr('xattrs/file', 'user.empty', b'')
os.setxattr('xattrs/file', 'user.binary', b'\x00\xff\x00\x01')
os.setxattr('xattrs/opaque', 'trusted.overlay.opaque', b'y')
os.setxattr('xattrs/origin', 'trusted.overlay.origin',
            bytes.fromhex('00fb1e000102030405060708090a0b0c0d0e0f'))
os.setxattr('xattrs/cap', 'security.capability',
            bytes.fromhex('0100000200200000000000000000000000000000'))
os.setxattr('xattrs/link', 'trusted.link', b'on-a-symlink',
            follow_symlinks=False)
EOF
else
	echo "NOTE: neither setfattr nor python3: tree has no xattrs"
fi

# ------------------------------------------------------------- times, last
chmod 0755 "$DIR"
# Default time on everything, deepest first so directory times stick
# (-execdir keeps paths short; -h never follows or opens anything).
find "$DIR" -depth -execdir touch -h -d "@$DEFAULT_TIME" {} +
# Explicit times; setting a time never changes the parent's mtime.
while read -r t p; do
	touch -h -d "@$t" "$p"
done < "$TIMES"
exit 0
