#!/usr/bin/env python3
"""mk-seeds.py - seed inputs of the fuzz harnesses (tests/fuzz/), written
into tests/data/fuzz/ by tests/fuzz/mk-seeds.sh.

Usage:
  mk-seeds.py tars OUTDIR                  layer tars for fuzz-tar
  mk-seeds.py docker ROOT OUT.layout       a Docker data root's metadata
  mk-seeds.py cstorage ROOT OUT.layout     a containers-storage graph root's
  mk-seeds.py oci LAYOUT OUT.layout [--archive]
                                           an OCI layout (as a directory, or
                                           packed as an oci-archive)
  mk-seeds.py docker-archive TAR OUT.layout [RAW.tar]
  mk-seeds.py hand OUTDIR                  small hand-made stores (bad ones too)

The store seeds are layouts (tests/fuzz/fuzz-common.h: "=== f PATH"
records). The engines' own metadata is copied as it is, but for what
would make a seed large or name this host: layer blobs and layer tars
become tiny tars of the same compression (so descriptors name them by
"{{sha:N}}" and "{{size:N}}", and an uncompressed layer's diff id is its
digest again), layer directories are empty, the temporary directory the
engines ran in is renamed /var/lib/docker or /var/lib/containers/storage.
"""

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mktar  # noqa: E402

MTIME = 1600000000


class Layout:
    """Records of a layout input, in order; tokens as fuzz-common.c has them."""

    def __init__(self, archive=False):
        self.records = []     # (type, path, to, content bytes)
        self.archive = archive

    def file(self, path, data):
        if isinstance(data, str):
            data = data.encode()
        assert b"\n=== " not in data and not data.startswith(b"=== ")
        self.records.append(("f", path, None, data))
        return len(self.records) - 1

    def dir(self, path):
        self.records.append(("d", path, None, b""))
        return len(self.records) - 1

    def symlink(self, path, to):
        self.records.append(("l", path, to, b""))

    def hardlink(self, path, to):
        self.records.append(("h", path, to, b""))

    def text(self):
        out = io.BytesIO()
        if self.archive:
            out.write(b"=== archive\n")
        for i, (kind, path, to, data) in enumerate(self.records):
            head = "=== %s %s%s\n" % (kind, path, " -> " + to if to else "")
            out.write(head.encode())
            if kind == "f":
                out.write(data)
                out.write(b"\n")
        return out.getvalue()

    def resolved(self):
        """The records with the tokens and "@" replaced, as the harness does."""
        done = []
        for kind, path, to, data in self.records:
            for n in range(len(done)):
                data = data.replace(b"{{sha:%d}}" % n, done[n][4].encode())
                data = data.replace(b"{{size:%d}}" % n, b"%d" % len(done[n][3]))
            hexd = hashlib.sha256(data).hexdigest()
            done.append((kind, path.replace("@", hexd), to, data, hexd))
        return done

    def write(self, out):
        with open(out, "wb") as f:
            f.write(self.text())

    def write_tar(self, out):
        """The packed archive (raw tar), for the harness's raw-input path."""
        buf = io.BytesIO()
        t = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
        for kind, path, to, data, _ in self.resolved():
            ti = tarfile.TarInfo(path)
            ti.mtime = MTIME
            ti.type = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE,
                       "h": tarfile.LNKTYPE}[kind]
            ti.mode = 0o755 if kind == "d" else 0o644
            ti.linkname = to or ""
            ti.size = len(data) if kind == "f" else 0
            t.addfile(ti, io.BytesIO(data) if kind == "f" else None)
        t.close()
        with open(out, "wb") as f:
            f.write(buf.getvalue())


def trim(tar):
    """@tar without the padding to tarfile's 10 KiB records: its end is two zero blocks."""
    end = len(tar.rstrip(b"\0"))
    return tar[:(end + 511) // 512 * 512 + 1024]


def tiny_tar(tag):
    t = mktar.Tar()
    t.dir("fuzz/")
    t.file("fuzz/%s" % tag, ("layer %s\n" % tag).encode())
    return trim(t.bytes())


def compress(data, kind):
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if kind == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    return data


def json_text(obj, sizes):
    """JSON of @obj, where the strings in @sizes become bare {{size:N}} tokens."""
    text = json.dumps(obj, separators=(",", ":"))
    for placeholder, token in sizes.items():
        text = text.replace('"%s"' % placeholder, token)
    return text


def rename_host(text, tmp, to):
    # dockerd's exec root (tests/lib/engines.sh: /tmp/limg-dd.XXXXXX) too
    return re.sub(r"/tmp/limg-[a-z]+\.[A-Za-z0-9]+", "/run/docker", text.replace(tmp, to))


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ------------------------------------------------------------ Docker

def docker(root, out):
    L = Layout()
    img = os.path.join(root, "image", "overlay2")

    def small(rel, data):
        L.file(rel, rename_host(data.decode("utf-8", "surrogateescape"), root,
                                "/var/lib/docker").encode("utf-8", "surrogateescape"))

    for top, dirs, files in sorted(os.walk(img)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root)
            if name == "tar-split.json.gz" or "/imagedb/metadata/" in path:
                continue          # not read by the store
            if "/imagedb/content/sha256/" in path:
                rel = os.path.join(os.path.dirname(rel), "@")
            small(rel, read(path))
    for cid in sorted(os.listdir(os.path.join(root, "containers"))):
        for name in ("config.v2.json", "hostname", "hosts", "resolv.conf"):
            path = os.path.join(root, "containers", cid, name)
            if os.path.exists(path):
                small(os.path.relpath(path, root), read(path))
    o2 = os.path.join(root, "overlay2")
    for lid in sorted(os.listdir(o2)):
        if lid == "l":
            continue
        L.dir("overlay2/%s/diff" % lid)
        link = os.path.join(o2, lid, "link")
        if os.path.exists(link):
            short = read(link).decode().strip()
            L.file("overlay2/%s/link" % lid, short)
            L.symlink("overlay2/l/%s" % short, "../%s/diff" % lid)
    L.write(out)


# ------------------------------------------------------------ containers-storage

def cstorage(root, out):
    L = Layout()
    for rel in ("overlay-layers/layers.json", "overlay-images/images.json",
                "overlay-containers/containers.json"):
        path = os.path.join(root, rel)
        if os.path.exists(path):
            L.file(rel, rename_host(read(path).decode(), root, "/var/lib/containers/storage"))
    for lid in sorted(os.listdir(os.path.join(root, "overlay"))):
        if lid != "l":
            L.dir("overlay/%s/diff" % lid)
    L.write(out)


# ------------------------------------------------------------ OCI

LAYER_KIND = {
    "application/vnd.oci.image.layer.v1.tar": "tar",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
}


class OciConvert:
    def __init__(self, layout_dir, L):
        self.dir = layout_dir
        self.L = L
        self.done = {}        # real digest -> record index
        self.layers = {}      # (kind, index in its manifest) -> record index

    def blob(self, digest):
        return read(os.path.join(self.dir, "blobs", "sha256", digest.split(":", 1)[1]))

    def fake_layer(self, kind, i):
        key = (kind, i)
        if key not in self.layers:
            data = compress(tiny_tar("%s-%d" % (kind, i)), kind)
            self.layers[key] = self.L.file("blobs/sha256/@", data)
        return self.layers[key]

    def desc(self, d, n, sizes):
        d = dict(d)
        d["digest"] = "sha256:{{sha:%d}}" % n
        ph = "__SIZE_%d__" % len(sizes)
        sizes[ph] = "{{size:%d}}" % n
        d["size"] = ph
        return d

    def manifest(self, digest):
        if digest in self.done:
            return self.done[digest]
        m = json.loads(self.blob(digest))
        if "manifests" in m:
            return self.index(digest, m)
        sizes = {}
        layers = []
        plain = {}
        for i, ld in enumerate(m.get("layers", [])):
            kind = LAYER_KIND.get(ld.get("mediaType"), "tar")
            n = self.fake_layer(kind, i)
            if kind == "tar":
                plain[i] = n
            layers.append(self.desc(ld, n, sizes))
        conf = json.loads(self.blob(m["config"]["digest"]))
        diffs = conf.get("rootfs", {}).get("diff_ids", [])
        for i, n in plain.items():
            if i < len(diffs):
                diffs[i] = "sha256:{{sha:%d}}" % n
        c = self.L.file("blobs/sha256/@", json.dumps(conf, separators=(",", ":")))
        m["config"] = self.desc(m["config"], c, sizes)
        m["layers"] = layers
        n = self.L.file("blobs/sha256/@", json_text(m, sizes))
        self.done[digest] = n
        return n

    def index(self, digest, idx):
        sizes = {}
        idx["manifests"] = [self.desc(d, self.manifest(d["digest"]), sizes)
                            for d in idx["manifests"]]
        text = json_text(idx, sizes)
        if digest is None:
            return text
        n = self.L.file("blobs/sha256/@", text)
        self.done[digest] = n
        return n


def oci(layout_dir, out, archive=False):
    L = Layout(archive)
    if archive:
        L.dir("blobs/sha256")
    L.file("oci-layout", read(os.path.join(layout_dir, "oci-layout")))
    conv = OciConvert(layout_dir, L)
    top = json.loads(read(os.path.join(layout_dir, "index.json")))
    L.file("index.json", conv.index(None, top))
    L.write(out)


def oci_from_archive(tar_path, out):
    """An oci-archive: unpack its small members to convert them as a layout."""
    import tempfile
    with tempfile.TemporaryDirectory() as d, tarfile.open(tar_path) as t:
        for m in t.getmembers():
            if m.isfile() and m.size < (1 << 20):
                t.extract(m, d)
            elif m.isdir():
                os.makedirs(os.path.join(d, m.name), exist_ok=True)
        oci(d, out, archive=True)


# ------------------------------------------------------------ docker-archive

def docker_archive(tar_path, out, raw=None):
    L = Layout(True)
    t = tarfile.open(tar_path)
    mf = json.loads(t.extractfile("manifest.json").read())
    members = {m.name: m for m in t.getmembers()}
    fakes = {}
    for entry in mf:
        conf_name = entry["Config"]
        conf = json.loads(t.extractfile(conf_name).read())
        diffs = conf["rootfs"]["diff_ids"]
        names = []
        for i, name in enumerate(entry["Layers"]):
            if name not in fakes:
                fakes[name] = L.file(name if not name.startswith("blobs/sha256/")
                                     else "blobs/sha256/@", tiny_tar("archive-%d" % i))
            n = fakes[name]
            diffs[i] = "sha256:{{sha:%d}}" % n
            names.append(name if not name.startswith("blobs/sha256/")
                         else "blobs/sha256/{{sha:%d}}" % n)
        c = L.file("@.json", json.dumps(conf, separators=(",", ":")))
        entry["Config"] = "{{sha:%d}}.json" % c
        entry["Layers"] = names
    # The old layout's <v1-id>/ directories: small files and layer.tar links.
    for name, m in sorted(members.items()):
        if m.issym() and name.endswith("/layer.tar"):
            L.symlink(name, m.linkname)
        elif m.isfile() and (name.endswith(("/VERSION", "/json")) or name == "repositories"):
            L.file(name, t.extractfile(m).read())
    L.file("manifest.json", json.dumps(mf, separators=(",", ":")))
    L.write(out)
    if raw:
        L.write_tar(raw)


# ------------------------------------------------------------ hand-made

def hand(outdir):
    """Small stores for cases the engines do not make (see README there)."""
    def cfg(diffs):
        return json.dumps({"architecture": "amd64", "os": "linux",
                           "rootfs": {"type": "layers", "diff_ids": diffs}})

    # A multi-platform OCI image: a nested index, two platforms, a bare tag.
    L = Layout()
    L.file("oci-layout", '{"imageLayoutVersion": "1.0.0"}')
    a = L.file("blobs/sha256/@", tiny_tar("amd64"))
    b = L.file("blobs/sha256/@", compress(tiny_tar("arm64"), "gzip"))
    ca = L.file("blobs/sha256/@", cfg(["sha256:{{sha:%d}}" % a]))
    cb = L.file("blobs/sha256/@", cfg(["sha256:" + "1" * 64]))
    ma = L.file("blobs/sha256/@", json_text({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:{{sha:%d}}" % ca, "size": "S1"},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": "sha256:{{sha:%d}}" % a, "size": "S2"}]},
        {"S1": "{{size:%d}}" % ca, "S2": "{{size:%d}}" % a}))
    mb = L.file("blobs/sha256/@", json_text({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:{{sha:%d}}" % cb, "size": "S1"},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:{{sha:%d}}" % b, "size": "S2"}]},
        {"S1": "{{size:%d}}" % cb, "S2": "{{size:%d}}" % b}))
    ix = L.file("blobs/sha256/@", json_text({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": "sha256:{{sha:%d}}" % ma, "size": "S1",
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": "sha256:{{sha:%d}}" % mb, "size": "S2",
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]},
        {"S1": "{{size:%d}}" % ma, "S2": "{{size:%d}}" % mb}))
    L.file("index.json", json_text({
        "schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json",
             "digest": "sha256:{{sha:%d}}" % ix, "size": "S1",
             "annotations": {"org.opencontainers.image.ref.name": "latest",
                             "io.containerd.image.name": "docker.io/library/multi:1"}},
            {"digest": "sha256:{{sha:%d}}" % ma, "size": "S2",
             "annotations": {"org.opencontainers.image.ref.name": "../escape"}}]},
        {"S1": "{{size:%d}}" % ix, "S2": "{{size:%d}}" % ma}))
    L.write(os.path.join(outdir, "store-blobs", "hand-multi-platform.layout"))

    # Docker: a chain whose layer directory is gone, a layer two entries claim,
    # a bad diff, tag tricks; containers-storage: a parent cycle, a layer twice.
    d1 = "sha256:" + hashlib.sha256(b"one").hexdigest()
    d2 = "sha256:" + hashlib.sha256(b"two").hexdigest()
    c2 = "sha256:" + hashlib.sha256(("%s %s" % (d1, d2)).encode()).hexdigest()
    L = Layout()
    for chain, diff, parent, cache in ((d1, d1, None, "aaa"), (c2, d2, d1, "bbb"),
                                       ("sha256:" + "2" * 64, "sha256:" + "3" * 64, None, "aaa"),
                                       ("sha256:" + "4" * 64, "not-hex", None, "ccc")):
        base = "image/overlay2/layerdb/sha256/%s/" % chain.split(":")[1]
        L.file(base + "diff", diff)
        L.file(base + "cache-id", cache)
        if parent:
            L.file(base + "parent", parent)
    L.dir("overlay2/aaa/diff")
    L.file("image/overlay2/imagedb/content/sha256/@", cfg([d1, d2]))
    L.file("image/overlay2/imagedb/content/sha256/@", cfg([d1]))
    img = hashlib.sha256(cfg([d1]).encode()).hexdigest()
    L.file("image/overlay2/repositories.json", json.dumps({"Repositories": {"x": {
        "x:1": "sha256:" + img, "x:1/y:2": "sha256:" + img, "../up:1": "sha256:" + img,
        "x@sha256:" + img: "sha256:" + img, "a/./b:1": "sha256:" + img}}}))
    cid = "5" * 64
    L.file("image/overlay2/layerdb/mounts/%s/init-id" % cid, "aaa-init")
    L.file("image/overlay2/layerdb/mounts/%s/mount-id" % cid, "aaa-rw")
    L.dir("overlay2/aaa-init/diff")
    L.file("containers/%s/config.v2.json" % cid, json.dumps({"ID": cid, "Image": "sha256:" + img}))
    L.write(os.path.join(outdir, "store-meta", "hand-docker-bad.layout"))

    L = Layout()
    L.file("overlay-layers/layers.json", json.dumps([
        {"id": "l1", "diff-digest": d1},
        {"id": "l2", "parent": "l3", "diff-digest": d2},
        {"id": "l3", "parent": "l2", "diff-digest": d2},
        {"id": "l1", "diff-digest": d2},
        {"id": "l4", "parent": "l1", "diff-digest": d2, "flags": {"incomplete": True}},
        {"id": "l5", "parent": "l1", "diff-digest": d2}]))
    L.file("overlay-images/images.json", json.dumps([
        {"id": "6" * 64, "layer": "l5", "names": ["localhost/a:1", "localhost/a:1/b:2", "b@x"]},
        {"id": "7" * 64, "layer": "l3", "names": ["cycle:1"]}]))
    L.file("overlay-containers/containers.json", json.dumps([
        {"id": "8" * 64, "image": "6" * 64, "layer": "rw1"}]))
    for lid in ("l1", "l2", "l3", "l5", "rw1"):
        L.dir("overlay/%s/diff" % lid)
    L.write(os.path.join(outdir, "store-meta", "hand-cstorage-bad.layout"))


# ------------------------------------------------------------ layer tars

def tars(outdir):
    def put(name, data):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)

    for case in ("paths", "dup", "hardlinks", "corrupt", "oversize", "empties"):
        data = mktar.case(case)
        put("mktar-%s.tar" % case, trim(data) if case != "oversize" else data)
    t = mktar.Tar()
    t.dir("good/")
    t.file("good/hello", b"hello\n")
    t.symlink("good/link", "hello")
    t.dir("good/sub/")
    t.file("good/sub/data", mktar.pseudo(3000, "small"))
    small = trim(t.bytes())
    put("small.tar", small)
    put("small.tar.gz", compress(small, "gzip"))
    put("small.tar.zst", compress(small, "zstd"))
    # PAX: long names and targets, xattrs, nanoseconds, wide ids, raw bytes.
    buf = io.BytesIO()
    p = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
    ti = tarfile.TarInfo("pax/" + "n" * 120 + "/" + "m" * 140)
    ti.size = 4
    ti.mtime = 1600000000.123456789
    ti.uid, ti.gid = 100000, 200000
    ti.pax_headers = {"SCHILY.xattr.user.fuzz": "yes", "SCHILY.xattr.security.capability": "\x01",
                      "LIBARCHIVE.xattr.user.b64": "eWVz"}
    p.addfile(ti, io.BytesIO(b"pax\n"))
    ti = tarfile.TarInfo("pax/longlink")
    ti.type = tarfile.SYMTYPE
    ti.linkname = "t" * 300
    p.addfile(ti)
    ti = tarfile.TarInfo("pax/caf\udce9")
    ti.size = 0
    p.addfile(ti)
    p.close()
    put("pax.tar", trim(buf.getvalue()))
    # Whiteouts, opaque directories, aufs's files, devices, FIFOs.
    t = mktar.Tar()
    t.dir("w/")
    t.file("w/.wh.gone", b"")
    t.file("w/.wh..wh..opq", b"")
    t.file(".wh..wh.plnk/123.4", b"")
    t.file("w/sub/.wh..wh..opq", b"")
    t.file("w/.wh.", b"")
    for name, kind, major in (("w/null", tarfile.CHRTYPE, 1), ("w/sda", tarfile.BLKTYPE, 8),
                              ("w/fifo", tarfile.FIFOTYPE, 0)):
        ti = mktar.info(name, kind)
        ti.devmajor, ti.devminor = major, 3
        t.t.addfile(ti)
    t.hardlink("w/null-again", "w/null")
    put("whiteouts.tar", trim(t.bytes()))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "tars" and len(sys.argv) == 3:
        tars(sys.argv[2])
    elif cmd == "docker" and len(sys.argv) == 4:
        docker(sys.argv[2], sys.argv[3])
    elif cmd == "cstorage" and len(sys.argv) == 4:
        cstorage(sys.argv[2], sys.argv[3])
    elif cmd == "oci" and len(sys.argv) in (4, 5):
        if len(sys.argv) == 5:
            oci_from_archive(sys.argv[2], sys.argv[3])
        else:
            oci(sys.argv[2], sys.argv[3])
    elif cmd == "docker-archive" and len(sys.argv) in (4, 5):
        docker_archive(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else None)
    elif cmd == "hand" and len(sys.argv) == 3:
        hand(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
