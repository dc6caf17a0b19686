/*
 * testlib.h - the unit tests' helper library (libtestlib.a).
 *
 *  - tree-builder.c: a tiny tree builder: add directories, files,
 *    symlinks, devices, fifos and sockets by path with explicit metadata,
 *    in any order; tb_build() turns them into a LimgTree with the tree
 *    invariant (the children of a directory contiguous and sorted by name
 *    in byte order, appended all at once, directories visited depth first
 *    in name order, as the directory source does);
 *  - image.c: layout and rendering into memory through the read planner
 *    (limg_plan_read), with file contents synthesized from (node, offset)
 *    and a check that the planner only asks for bytes that exist;
 *  - iso-parse.c: small ECMA-119 / SUSP parsers written from the
 *    standards, for assertions. They never call the engine's encoders;
 *  - tree-check.c: the tree invariant, lookups by path and dumps of
 *    built trees, for the suites of the tree builder and the sources;
 *  - fixtures.c: scratch directories and files for the tests of the
 *    upper modules (sources, stores, the image service);
 *  - bolt-writer.c: small bbolt databases (containerd's meta.db).
 *
 * Every helper asserts with Criterion: a failure ends the test.
 */
#ifndef LIMG_TESTLIB_H
#define LIMG_TESTLIB_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <criterion/criterion.h>
#include <glib.h>

#include "cache/images.h"
#include "iso/layout.h"
#include "iso/render.h"
#include "store/store.h"
#include "tree/tree.h"
#include "util/report.h"

/* A fixed, ordinary time: 2001-09-09T01:46:40Z. */
#define TB_DEFAULT_MTIME 1000000000LL

/* ------------------------------------------------------------ builder */

typedef struct {
	char *path;            /* relative, no leading '/'; "" is the root */
	LimgNode node;         /* metadata; parent/first_child/nchildren are set by tb_build */
	char *target;          /* symlinks */
	size_t target_len;
	uint32_t idx;          /* node index, after tb_build */
} TbEntry;

typedef struct {
	GPtrArray *ents;       /* TbEntry * */
	GHashTable *by_path;   /* path -> TbEntry * (borrowed keys) */
	uint64_t next_ino;
} TreeBuilder;

/* A builder holding only the root directory (mode 0755, owner 0:0). */
TreeBuilder *tb_new(void);
void tb_free(TreeBuilder *tb);
TbEntry *tb_root(TreeBuilder *tb);
/* The entry at @path (asserts it exists). */
TbEntry *tb_get(TreeBuilder *tb, const char *path);
/* Add entries; missing parent directories are made (0755). */
TbEntry *tb_dir(TreeBuilder *tb, const char *path);
TbEntry *tb_file(TreeBuilder *tb, const char *path, uint64_t size);
TbEntry *tb_symlink_len(TreeBuilder *tb, const char *path, const char *target, size_t len);
TbEntry *tb_symlink(TreeBuilder *tb, const char *path, const char *target);
/* @type is S_IFCHR or S_IFBLK. */
TbEntry *tb_dev(TreeBuilder *tb, const char *path, uint32_t type, uint32_t major,
                uint32_t minor);
TbEntry *tb_fifo(TreeBuilder *tb, const char *path);
TbEntry *tb_sock(TreeBuilder *tb, const char *path);
/*
 * Add @path as a hard link of @existing: same inode, device, metadata;
 * nlink of every member becomes the group size.
 */
TbEntry *tb_link(TreeBuilder *tb, const char *path, TbEntry *existing);
/*
 * Build the tree. The builder stays valid (each entry's ->idx is its node)
 * and must still be freed. Caller owns the tree.
 */
LimgTree *tb_build(TreeBuilder *tb);

/* ------------------------------------------------------------ checks */

/*
 * tree-check.c: assertions about a built tree. The invariant of tree.h:
 * the root a directory, the children of each directory contiguous, named
 * in byte order, each listed once, every node but the root some
 * directory's child.
 */
void th_expect_tree_invariant(const LimgTree *t);
/* The node at relative path @path ("" the root), or LIMG_NONE. */
uint32_t th_tree_find(const LimgTree *t, const char *path);
/* The same, asserting it exists. */
const LimgNode *th_tree_node(const LimgTree *t, const char *path);
/* A node's xattrs as "name=value,..." in tree order, bytes escaped. Caller frees. */
char *th_tree_xattrs(const LimgTree *t, const LimgNode *n);
/* The xattrs of the node at @path must be @want (as th_tree_xattrs() gives them). */
void th_expect_xattrs(const LimgTree *t, const char *path, const char *want);
/* There must be no node at @path. */
void th_expect_absent(const LimgTree *t, const char *path);

typedef enum {
	TH_DUMP_IDS = 1 << 0,      /* also ino, dev and ctime */
} ThDumpFlags;

/*
 * Every node in index order, one line each, every field (names, targets
 * and xattrs by value, not by arena offset), for comparing trees. Caller
 * frees.
 */
char *th_tree_dump(const LimgTree *t, ThDumpFlags flags);

/* ------------------------------------------------------------ images */

/* Deterministic content of byte @off of node @node. */
static inline uint8_t
synth_byte(uint32_t node, uint64_t off)
{
	uint64_t x = off * 0x9E3779B97F4A7C15ull + (uint64_t)node * 0xBF58476D1CE4E5B9ull;

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17) ^ node);
}

/* Read @len bytes of node @node at @off into @buf; 0 or -errno. */
typedef int (*SynthReadFn)(void *ctx, uint32_t node, uint64_t off, void *buf, size_t len);

typedef struct {
	const LimgTree *tree;
	uint64_t calls;
	uint64_t bad;          /* requests for bytes that are not there */
} SynthCtx;

/* A SynthReadFn over SynthCtx: synth_byte() for bytes that exist, else -EIO. */
int synth_read(void *ctx, uint32_t node, uint64_t off, void *buf, size_t len);

/* Lay out @tree (ownership passes), asserting success. */
LimgLayout *build_layout(LimgTree *tree, LimgReport *report);

/*
 * Image bytes [@off, @off + @len) of @l into @buf through the read planner,
 * file data from @read_data(@ctx, ...). Bytes copied, or -errno.
 */
ssize_t th_pread(const LimgLayout *l, void *buf, size_t len, uint64_t off,
                 SynthReadFn read_data, void *ctx);

/* The whole image, with synth_read() contents. Caller g_free()s. */
uint8_t *render_image(const LimgLayout *l, size_t *size);

/* ------------------------------------------------------------ ECMA-119 */

static inline uint16_t
rd_721(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint16_t
rd_722(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
rd_731(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t
rd_732(const uint8_t *p)
{
	return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

/* 7.2.3 / 7.3.3: both-byte orders; the two halves must agree (expected). */
uint16_t rd_723(const uint8_t *p);
uint32_t rd_733(const uint8_t *p);

/* A directory record (9.1), parsed. Pointers borrow the image. */
typedef struct {
	uint64_t pos;          /* image offset of the record */
	uint8_t len;
	uint32_t extent;
	uint32_t size;
	const uint8_t *date;   /* 7 bytes */
	uint8_t flags;
	const uint8_t *id;
	uint8_t id_len;
	const uint8_t *su;     /* system use area */
	uint32_t su_len;
} DirRec;

void parse_dr(const uint8_t *p, uint64_t pos, DirRec *r);
/*
 * All records of the directory whose extent is @lba, @size bytes, in
 * order (DirRec). Asserts 6.8.1.1: no record crosses a block; the rest of
 * a block after its last record is zero.
 */
GArray *read_dir(const uint8_t *img, size_t img_size, uint32_t lba, uint32_t size);

/* ------------------------------------------------------------ SUSP */

/* One SUSP entry, found in a record or continuation area. */
typedef struct {
	const uint8_t *p;      /* signature at p[0..1], length p[2], version p[3] */
	uint8_t len;
	uint64_t pos;          /* image offset */
} SuspEnt;

/* A continuation area: image offset and length. */
typedef struct {
	uint64_t pos;
	uint32_t len;
} CeArea;

/*
 * The SUSP entries (SuspEnt) of record @r, following CE entries (SUSP 5.1)
 * through the image. CE entries are checked and not returned; the areas
 * they point at are appended to @areas (CeArea) when it is not NULL.
 */
GArray *susp_entries_ex(const uint8_t *img, size_t img_size, const DirRec *r, GArray *areas);
GArray *susp_entries(const uint8_t *img, size_t img_size, const DirRec *r);
/* First entry with signature @sig, or NULL. */
const SuspEnt *susp_find(GArray *ents, const char *sig);
/* The Rock Ridge name (NM entries, RRIP 4.1.4) of a record's entries. Caller frees. */
char *susp_nm(GArray *ents, size_t *len);
/*
 * Decode the components of SL entries (RRIP 4.1.3) as Linux does. Caller
 * frees.
 */
char *sl_decode(const uint8_t *const *entries, size_t n, size_t *len);

/* ------------------------------------------------------------ fixtures */

/* A fresh scratch directory under $TMPDIR (or /tmp). Caller frees the name. */
char *th_tmpdir(void);
/* Remove @dir and everything below it (never following symlinks). */
void th_rmtree(const char *dir);
/* Write @len bytes of @data to @dir/@rel (parents made), asserting success. */
void th_write(const char *dir, const char *rel, const void *data, size_t len);
/* The same, @text's bytes. */
void th_write_text(const char *dir, const char *rel, const char *text);
/* Make directory @dir/@rel (and parents). */
void th_mkdir(const char *dir, const char *rel);
/* Set the mtime of @dir/@rel (no symlink followed). */
void th_touch(const char *dir, const char *rel, int64_t mtime);

/* ------------------------------------------------------------ upper modules */

/*
 * Helpers of the suites of the upper modules (blockcache, handles,
 * persist, precompute, store, images, gen-read): fixtures.c.
 */

/* The source tree: $top_srcdir when set, else the one this library was built from. */
const char *th_srcdir(void);
/* @rel below the source tree. Caller frees. */
char *th_data_path(const char *rel);
/* The whole contents of @path (asserting success), NUL-terminated. Caller frees. */
uint8_t *th_read(const char *path, size_t *len);
/* Does @path exist (lstat: a dangling symlink exists)? */
bool th_exists(const char *path);
/* The names in @dir ending with @suffix (NULL: all), sorted bytewise. Caller g_strfreev()s. */
char **th_list_dir(const char *dir, const char *suffix);
/* The hex SHA-256 of @s. Caller frees. */
char *th_sha256_hex(const char *s);
/* The disk cache file of source key @key in @dir: "<dir>/<sha256(key)>.tree". Caller frees. */
char *th_cache_file(const char *dir, const char *key);
/* Poll @pred(@ctx) every 10 ms until it holds or @timeout_ms passed; its last value. */
bool th_wait_for(bool (*pred)(void *ctx), void *ctx, unsigned timeout_ms);
/*
 * Make permission bits bind for the calling thread, root included: drop
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its effective set (they
 * stay permitted). Threads created afterwards inherit that, so call it
 * before any thread or thread pool exists. th_dac_restore() undoes it.
 */
void th_dac_drop(void);
void th_dac_restore(void);

/*
 * An image service over store directory @store_dir read as @kind (NULL:
 * "plain"), with @opts (NULL: the defaults: memory only, no workers).
 * Asserts success.
 */
LimgImages *th_images_new(const char *store_dir, const char *kind, const LimgImagesOptions *opts);

/* The store at @dir read as @kind (NULL: auto), asserting it opens. */
LimgStore *th_store_open(const char *dir, const char *kind);
/* The ids limg_store_list() gives now, joined by spaces. Caller frees. */
char *th_store_ids(LimgStore *s);

/* ------------------------------------------------------------ bbolt */

/*
 * bolt-writer.c: a minimal bbolt database writer, from the format (not
 * the reader's code): buckets by path, made on the way; plain values;
 * written out as one leaf page per bucket. Bucket paths are
 * NULL-terminated key lists, as in store/bolt.h.
 */
typedef struct ThBolt ThBolt;

ThBolt *th_bolt_new(void);
void th_bolt_free(ThBolt *db);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ThBolt, th_bolt_free)
void th_bolt_bucket(ThBolt *db, const char *const *path);
void th_bolt_put(ThBolt *db, const char *const *path, const char *key, const void *value,
                 size_t len);
void th_bolt_put_str(ThBolt *db, const char *const *path, const char *key, const char *value);
/* Go's binary.PutVarint, as containerd stores sizes. */
void th_bolt_put_varint(ThBolt *db, const char *const *path, const char *key, int64_t x);
/* Write the database to @dir/@rel (parents made). */
void th_bolt_save(ThBolt *db, const char *dir, const char *rel);

#endif /* LIMG_TESTLIB_H */
