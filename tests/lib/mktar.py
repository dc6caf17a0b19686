#!/usr/bin/env python3
"""mktar.py - small hand-made layer tars, good and bad, for the tar-blob
tests (tests/integration/test-oci-bad.sh).

Usage: mktar.py CASE OUT

Writes the tar (plain, or gzip where the case says so) of CASE to OUT.
Every tar is deterministic: fixed names, contents, modes, owners, times.

Cases:
  good         good/, good/hello ("hello\\n"), good/link -> hello,
               good/sub/data (40 KiB)
  good2        the same tree with other contents (a second good layer)
  paths        names with "..", absolute names, "./" and "a/../b" forms
  dup          the same file twice (later wins), a directory twice with
               other modes (later wins)
  hardlinks    a hard link to a name that is nowhere in the archive, one
               to a name that comes later, one that is fine
  corrupt      a valid tar whose second header's checksum is wrong
  oversize     a member whose header says 1 GiB, in an archive of 10 KiB
  bomb         gzip: one file of 64 MiB of zeros (about 64 KiB compressed)
  truncated    gzip: a tar of 256 KiB of random-looking data, cut in half
  changed      the "good" tar with one data byte changed (same length,
               still a valid tar: only its digest tells)
  empties      empty files beside and between files with data (no hard
               links among them)
"""

import gzip
import hashlib
import io
import sys
import tarfile

MTIME = 1600000000


def info(name, kind=tarfile.REGTYPE, size=0, mode=0o644, link=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.size = size
    ti.mode = mode
    ti.mtime = MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.linkname = link
    return ti


class Tar:
    def __init__(self, fmt=tarfile.GNU_FORMAT):
        self.buf = io.BytesIO()
        self.t = tarfile.open(fileobj=self.buf, mode="w", format=fmt)

    def dir(self, name, mode=0o755):
        self.t.addfile(info(name, tarfile.DIRTYPE, mode=mode))

    def file(self, name, data, mode=0o644):
        self.t.addfile(info(name, size=len(data), mode=mode), io.BytesIO(data))

    def symlink(self, name, target):
        self.t.addfile(info(name, tarfile.SYMTYPE, mode=0o777, link=target))

    def hardlink(self, name, target):
        self.t.addfile(info(name, tarfile.LNKTYPE, link=target))

    def bytes(self):
        self.t.close()
        return self.buf.getvalue()


def pseudo(n, seed):
    """n bytes that do not compress."""
    out = bytearray()
    h = seed.encode()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h
    return bytes(out[:n])


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


def good(tag="good"):
    t = Tar()
    t.dir("good/")
    t.file("good/hello", ("hello from %s\n" % tag).encode())
    t.symlink("good/link", "hello")
    t.dir("good/sub/")
    t.file("good/sub/data", pseudo(40 << 10, tag))
    return t.bytes()


def case(name):
    if name == "good":
        return good()
    if name == "good2":
        return good("good2")
    if name == "paths":
        t = Tar()
        t.file("../../escape-dotdot", b"dotdot\n")
        t.file("/abs/escape-abs", b"absolute\n")
        t.file("a/../b/cleaned", b"cleaned\n")
        t.file("./c/./d", b"dot\n")
        t.file("e/../../../escape-deep", b"deep\n")
        return t.bytes()
    if name == "dup":
        t = Tar()
        t.dir("dup/", 0o700)
        t.file("dup/file", b"first\n")
        t.file("dup/file", b"second, the later one\n", 0o600)
        t.dir("dup/", 0o750)
        return t.bytes()
    if name == "hardlinks":
        t = Tar()
        t.dir("hl/")
        t.hardlink("hl/to-missing", "hl/nowhere")
        t.hardlink("hl/to-later", "hl/later")
        t.file("hl/later", b"later\n")
        t.hardlink("hl/fine", "hl/later")
        return t.bytes()
    if name == "corrupt":
        t = Tar()
        t.file("c/first", b"x" * 100)
        t.file("c/second", b"y" * 100)
        t.file("c/third", b"z" * 100)
        b = bytearray(t.bytes())
        # Second header at 1024 (512 header + 100 bytes padded to 512).
        assert b[1024:1032] == b"c/second"
        b[1024 + 148:1024 + 156] = b"0000000\0"   # chksum field
        return bytes(b)
    if name == "oversize":
        t = Tar()
        t.file("o/small", b"small\n")
        head = t.bytes()[:1024]     # its header and data, no end blocks
        ti = info("o/huge", size=1 << 30)
        return head + ti.tobuf(tarfile.GNU_FORMAT) + pseudo(10 << 10, "o")
    if name == "bomb":
        t = Tar()
        t.dir("bomb/")
        t.file("bomb/zeros", bytes(64 << 20))
        return gz(t.bytes())
    if name == "truncated":
        t = Tar()
        t.file("t/data", pseudo(256 << 10, "t"))
        t.file("t/after", b"after\n")
        z = gz(t.bytes())
        return z[: len(z) // 2]
    if name == "changed":
        b = bytearray(good())
        i = b.index(b"hello from good")
        b[i] = ord("J")
        return bytes(b)
    if name == "empties":
        t = Tar()
        t.dir("e/")
        t.file("e/a", b"")
        t.file("e/b", b"")
        t.file("e/c", b"data\n")
        t.file("e/d", b"")
        t.dir("e/sub/")
        t.file("e/sub/z", b"")
        t.file("e/sub/y", pseudo(3000, "e"))
        return t.bytes()
    raise SystemExit("mktar.py: unknown case %s" % name)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    data = case(sys.argv[1])
    with open(sys.argv[2], "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
