/*
 * openfiles.c - what the kernel's file handles mean, the same in every
 * worker of a keeper (keeper.h): no pointers in fi->fh.
 *
 *   image      a digest of the generation's layout (its name, size, block
 *              and entry counts, data bytes, mtime and its volume
 *              descriptor block): equal digests, equal bytes. Two opens
 *              of one generation share a handle.
 *   text       a digest of the text (.stats, `layers`)
 *   directory  a random id; its listing is kept until RELEASEDIR
 *
 * Each handle this worker gave out, or met and found again, is in the
 * table with a count of the opens behind it. A handle met for the first
 * time (a previous worker gave it out) is looked up again: the image's
 * current generation, if its digest is the handle (else EIO: the image
 * changed across the restart, and its old bytes are gone); the text now,
 * if it still is the same (.stats: the text now, whatever it is); a
 * directory's listing now.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "fuse/fs-internal.h"
#include "util/fnv.h"
#include "util/log.h"

#define KIND_BIT (1ull << 63)   /* text and directories; images: clear */

typedef struct {
	uint64_t fh;
	fuse_ino_t ino;
	LimgOpenFile of;
	GPtrArray *dir;         /* LimgDirEntry *; directories only */
	uint64_t opens;
} Handle;

struct LimgOpenFiles {
	GRWLock lock;          /* reads take it shared: every READ looks up */
	GHashTable *by_fh;      /* &fh -> Handle * (owns); protected by lock */
};

void
limg_open_file_clear(LimgOpenFile *of)
{
	g_clear_pointer(&of->gen, limg_gen_unref);
	g_clear_pointer(&of->text, g_bytes_unref);
}

static void
handle_free(gpointer p)
{
	Handle *h = p;

	limg_open_file_clear(&h->of);
	if (h->dir)
		g_ptr_array_unref(h->dir);
	g_free(h);
}

LimgOpenFiles *
limg_open_files_new(void)
{
	LimgOpenFiles *t = g_new0(LimgOpenFiles, 1);

	g_rw_lock_init(&t->lock);
	t->by_fh = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, handle_free);
	return t;
}

void
limg_open_files_free(LimgOpenFiles *t)
{
	if (!t)
		return;
	g_hash_table_destroy(t->by_fh);
	g_rw_lock_clear(&t->lock);
	g_free(t);
}

/* An image's handle is its generation's digest, whose top bit is clear (images.h). */
G_STATIC_ASSERT(KIND_BIT == 1ull << 63);

static uint64_t
text_tag(fuse_ino_t ino, GBytes *text)
{
	uint64_t h = LIMG_FNV_INIT;
	gsize len;
	const void *p = g_bytes_get_data(text, &len);

	LIMG_FNV_MIX(h, ino);
	h = limg_fnv_mix(h, p, len);
	return h | KIND_BIT;
}

static void
copy_of(LimgOpenFile *dst, const LimgOpenFile *src)
{
	dst->gen = src->gen ? limg_gen_ref(src->gen) : NULL;
	dst->text = src->text ? g_bytes_ref(src->text) : NULL;
}

/* Put @of (taken) under @fh, or count one more open of what is there. */
static void
put(LimgFs *fs, uint64_t fh, fuse_ino_t ino, LimgOpenFile *of)
{
	LimgOpenFiles *t = fs->files;
	Handle *h;

	g_rw_lock_writer_lock(&t->lock);
	h = g_hash_table_lookup(t->by_fh, &fh);
	if (h) {
		/* Equal digest, equal bytes: the newer generation serves both. */
		limg_open_file_clear(&h->of);
		h->of = *of;
		h->opens++;
	} else {
		h = g_new0(Handle, 1);
		h->fh = fh;
		h->ino = ino;
		h->of = *of;
		h->opens = 1;
		g_hash_table_insert(t->by_fh, &h->fh, h);
	}
	memset(of, 0, sizeof(*of));
	g_rw_lock_writer_unlock(&t->lock);
}

uint64_t
limg_open_files_add(LimgFs *fs, fuse_ino_t ino, LimgOpenFile *of)
{
	uint64_t fh = of->gen ? limg_gen_digest(of->gen) : text_tag(ino, of->text);

	put(fs, fh, ino, of);
	return fh;
}

/* Find what handle @fh of @ino names, from nothing but the two (a restart). */
static int
adopt(LimgFs *fs, fuse_ino_t ino, uint64_t fh, LimgOpenFile *of)
{
	g_auto(LimgNsEntry) e = { 0 };
	g_auto(LimgOpenFile) found = { 0 };
	int ret = limg_root_entry(fs, ino, &e);

	if (ret < 0)
		return -EIO;
	if (e.kind == LIMG_NODE_IMAGE && !(fh & KIND_BIT)) {
		if (limg_images_get(fs->images, e.image, &found.gen) < 0)
			return -EIO;
		if (limg_gen_digest(found.gen) != fh) {
			limg_log(LIMG_LOG_WARN, "%s.iso changed while its file was open across a "
			         "worker restart: its reads fail with EIO", e.image);
			return -EIO;
		}
	} else if (e.kind == LIMG_NODE_STATS && (fh & KIND_BIT)) {
		char *text = limg_stats_text(fs);

		found.text = g_bytes_new_take(text, strlen(text));
	} else if (e.kind == LIMG_NODE_TEXT && (fh & KIND_BIT)) {
		found.text = g_bytes_new(e.text, strlen(e.text));
		if (text_tag(ino, found.text) != fh)
			return -EIO;
	} else {
		return -EIO;
	}
	copy_of(of, &found);
	put(fs, fh, ino, &found);
	return 0;
}

int
limg_open_files_get(LimgFs *fs, fuse_ino_t ino, uint64_t fh, LimgOpenFile *of)
{
	LimgOpenFiles *t = fs->files;
	Handle *h;

	memset(of, 0, sizeof(*of));
	g_rw_lock_reader_lock(&t->lock);
	h = g_hash_table_lookup(t->by_fh, &fh);
	if (h && h->ino == ino && !h->dir)
		copy_of(of, &h->of);
	g_rw_lock_reader_unlock(&t->lock);
	if (of->gen || of->text)
		return 0;
	return adopt(fs, ino, fh, of);
}

void
limg_open_files_release(LimgFs *fs, uint64_t fh)
{
	LimgOpenFiles *t = fs->files;
	Handle *h;

	g_rw_lock_writer_lock(&t->lock);
	h = g_hash_table_lookup(t->by_fh, &fh);
	if (h && --h->opens == 0)
		g_hash_table_remove(t->by_fh, &fh);
	g_rw_lock_writer_unlock(&t->lock);
}

static uint64_t
put_dir(LimgFs *fs, uint64_t fh, fuse_ino_t ino, GPtrArray *entries)
{
	LimgOpenFiles *t = fs->files;
	Handle *h = g_new0(Handle, 1);

	h->ino = ino;
	h->dir = entries;
	h->opens = 1;
	g_rw_lock_writer_lock(&t->lock);
	/* Random ids: another worker's live ones are not met again. */
	while (!fh || g_hash_table_contains(t->by_fh, &fh))
		fh = ((uint64_t)g_random_int() << 32 | g_random_int()) | KIND_BIT;
	h->fh = fh;
	g_hash_table_insert(t->by_fh, &h->fh, h);
	g_rw_lock_writer_unlock(&t->lock);
	return fh;
}

uint64_t
limg_open_files_add_dir(LimgFs *fs, fuse_ino_t ino, GPtrArray *entries)
{
	return put_dir(fs, 0, ino, entries);
}

int
limg_open_files_get_dir(LimgFs *fs, fuse_ino_t ino, uint64_t fh, GPtrArray **out)
{
	LimgOpenFiles *t = fs->files;
	GPtrArray *entries = NULL;
	Handle *h;
	int ret;

	g_rw_lock_reader_lock(&t->lock);
	h = g_hash_table_lookup(t->by_fh, &fh);
	if (h && h->ino == ino && h->dir)
		entries = g_ptr_array_ref(h->dir);
	g_rw_lock_reader_unlock(&t->lock);
	if (!entries) {
		/* Opened by a previous worker: list it again, kept until RELEASEDIR. */
		if ((ret = limg_root_list(fs, ino, &entries)) < 0)
			return ret;
		g_rw_lock_writer_lock(&t->lock);
		if (!g_hash_table_contains(t->by_fh, &fh)) {
			Handle *n = g_new0(Handle, 1);

			n->fh = fh;
			n->ino = ino;
			n->dir = g_ptr_array_ref(entries);
			n->opens = 1;
			g_hash_table_insert(t->by_fh, &n->fh, n);
		}
		g_rw_lock_writer_unlock(&t->lock);
	}
	*out = entries;
	return 0;
}
