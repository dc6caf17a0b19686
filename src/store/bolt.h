/*
 * bolt.h - a read-only reader of BoltDB files (go.etcd.io/bbolt, file
 * format version 2), enough to read containerd's metadata databases:
 * root/io.containerd.metadata.v1.bolt/meta.db (images, content, leases,
 * snapshot names) and the overlayfs snapshotter's
 * root/io.containerd.snapshotter.v1.overlayfs/metadata.db (snapshot name
 * -> directory number). Written from the file format; nothing is ever
 * written to the file, and it is never locked.
 *
 * Model: a database is a tree of buckets. A bucket holds keys in byte
 * order (bytes.Compare: memcmp, then the shorter first); each key maps
 * either to a plain value or to a sub-bucket. A bucket is named here by
 * its path of keys from the root bucket, NULL-terminated:
 * {"v1", "default", "images", NULL}; NULL or {NULL} is the root bucket.
 * Keys given by name are C strings, so a key that holds a NUL byte can be
 * listed but not looked up.
 *
 * The file, as bbolt writes it (little-endian: the files of x86-64 and
 * other little-endian hosts):
 *
 *   page N      at N * page_size, spanning 1 + overflow pages:
 *               header {id u64, flags u16, count u16, overflow u32},
 *               then count element headers of 16 bytes, then data;
 *   pages 0, 1  meta pages (flags 0x04): {magic 0xED0CDAED u32,
 *               version 2 u32, page_size u32, flags u32, root bucket
 *               {root pgid u64, sequence u64}, freelist pgid u64,
 *               high-water pgid u64, txid u64, checksum u64}, the
 *               checksum being FNV-1a 64 of the fields before it. The
 *               valid meta with the highest txid is the database; the
 *               other is the previous commit, whose pages the last one
 *               did not overwrite (so a torn or damaged meta falls back
 *               to the previous snapshot, as bbolt does);
 *   branch page (0x01): elements {pos u32, ksize u32, pgid u64}: the
 *               first key of each child page, in order;
 *   leaf page   (0x02): elements {flags u32 (0x01: a bucket), pos u32,
 *               ksize u32, vsize u32}; the key is at the element
 *               header's own address + pos, the value right after it;
 *   bucket value  {root pgid u64, sequence u64}; root 0 is an inline
 *               bucket: its leaf page follows, inside the value;
 *   freelist    (0x10): not read.
 *
 * Hostile input: the file may be damaged, truncated or crafted. Every
 * page id is checked against the high-water mark (which must lie inside
 * the file), every page's header (its own id, its type, its count of
 * elements within its span), every key and value against the page (or
 * inline value) that holds it; keys must be non-empty and strictly
 * ascending within a page and across a listed bucket; a page holds only
 * the keys its parent branch sends a lookup to it for (so a lookup finds
 * whatever a listing shows); a descent is at most LIMG_BOLT_MAX_DEPTH
 * pages deep and never meets a page twice; a listing visits each page at
 * most once. Any violation is -EBADMSG, never a crash, an overrun or
 * unbounded work. Pages are checked when a call needs them: a damaged
 * page that no call reaches goes unnoticed, and one bucket can be
 * damaged while the others read fine. Each call is bounded, but a
 * crafted file can make a bucket its own sub-bucket: a caller that walks
 * sub-buckets recursively must bound its depth.
 *
 * A live database: containerd keeps its databases open and commits into
 * them while we read (it holds bbolt's flock, which we never take).
 * bbolt writes a commit's pages into pages no reader of the previous
 * commit needs, then the meta page; so a copy of the file is consistent
 * if the meta pages did not change while it was made. limg_bolt_open()
 * reads the file in one pass, then reads the meta pages again, and
 * starts over (a few times, then -EAGAIN) if they changed.
 *
 * Should a database ever be unreadable (a future format version, a
 * big-endian file), the fallback is to ask containerd itself, `ctr -n NS
 * images ls` / `content ls` / `snapshots ls` on its socket: not done
 * here.
 *
 * Ownership: an open database owns a private copy of the file; values
 * and keys handed out are copies, valid after limg_bolt_close().
 *
 * Thread model: an open database is immutable; every call is reentrant
 * and may be made from any number of threads at once.
 */
#ifndef LIMG_BOLT_H
#define LIMG_BOLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

/* An open database: an immutable snapshot of one commit. */
typedef struct LimgBolt LimgBolt;

/* Deepest chain of pages from a bucket's root to a leaf. */
#define LIMG_BOLT_MAX_DEPTH 64
/* Largest file limg_bolt_open() reads (-EFBIG). */
#define LIMG_BOLT_MAX_SIZE ((size_t)1 << 30)

/*
 * Open database @path (relative to @dir_fd, or AT_FDCWD; the last
 * component is not followed if it is a symlink): read the whole file and
 * check its meta pages. 0 and *@out (free with limg_bolt_close()), or
 * -errno: -EBADMSG not a valid bolt database (no valid meta page, a meta
 * whose root, freelist or high-water mark lies outside the file, an
 * unknown version); -EFBIG larger than LIMG_BOLT_MAX_SIZE; -EAGAIN it
 * kept changing while read; -ELOOP a symlink; -EINVAL not a regular
 * file; the errno of open or read.
 */
int limg_bolt_openat(int dir_fd, const char *path, LimgBolt **out);
int limg_bolt_open(const char *path, LimgBolt **out);

/*
 * The same for a database already in memory (tests, or bytes read by
 * other means). Takes a reference to @data; no live-file check.
 */
int limg_bolt_open_bytes(GBytes *data, LimgBolt **out);

/* NULL is fine. */
void limg_bolt_close(LimgBolt *db);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgBolt, limg_bolt_close)

/* The commit this snapshot is (the txid of the meta page in use). */
uint64_t limg_bolt_txid(const LimgBolt *db);
uint32_t limg_bolt_page_size(const LimgBolt *db);

/*
 * Does bucket @bucket exist? 0 (and its sequence, bbolt's NextSequence
 * counter, in *@sequence if not NULL), or -ENOENT (a key of the path is
 * missing), -ENOTDIR (a key of the path is a plain value), -EBADMSG.
 */
int limg_bolt_bucket(const LimgBolt *db, const char *const *bucket, uint64_t *sequence);

/*
 * The value of plain key @key in bucket @bucket: 0 and *@value (caller
 * unrefs; may be empty), or -ENOENT, -ENOTDIR (as above), -EISDIR (@key
 * is a sub-bucket), -EBADMSG.
 */
int limg_bolt_get(const LimgBolt *db, const char *const *bucket, const char *key,
                  GBytes **value);

/*
 * The same, as a NUL-terminated string (caller frees); -EILSEQ if the
 * value holds a NUL byte. containerd stores digests, media types, names
 * and labels this way.
 */
int limg_bolt_get_string(const LimgBolt *db, const char *const *bucket, const char *key,
                         char **value);

/* One key of a bucket. */
typedef struct {
	char *key;            /* the key's bytes, NUL-terminated (a copy) */
	size_t key_len;       /* without the NUL; the key may hold NULs */
	bool is_bucket;
	GBytes *value;        /* a plain key's value; NULL for a sub-bucket */
	uint64_t sequence;    /* a sub-bucket's sequence; 0 for a value */
} LimgBoltItem;

void limg_bolt_item_free(LimgBoltItem *item);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgBoltItem, limg_bolt_item_free)

/*
 * Every key of bucket @bucket, in key order: 0 and *@items, a GPtrArray
 * of LimgBoltItem that frees them (caller unrefs), or -ENOENT, -ENOTDIR,
 * -EBADMSG (nothing is returned then).
 */
int limg_bolt_list(const LimgBolt *db, const char *const *bucket, GPtrArray **items);

/*
 * Go's encoding/binary varints, as containerd stores numbers: a signed
 * zigzag varint (binary.PutVarint: content and image sizes) and an
 * unsigned one (binary.PutUvarint: the overlayfs snapshotter's ids).
 * The value must be exactly one varint: 0 and *@out, or -EBADMSG.
 */
int limg_bolt_varint(GBytes *value, int64_t *out);
int limg_bolt_uvarint(GBytes *value, uint64_t *out);

#endif /* LIMG_BOLT_H */
