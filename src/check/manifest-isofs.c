/*
 * manifest-isofs.c - what libisofs (the library under xorriso) sees in an
 * ISO 9660 + Rock Ridge image.
 *
 * The image is imported with iso_image_import() (Rock Ridge on, Joliet
 * not preferred, AAIP on when xattrs are asked for, PX serial numbers
 * kept), then the IsoDir tree is walked. Every regular file's content is
 * streamed through the image's own extents (iso_stream_read) into the
 * digest, so a wrong extent location, size or multi-extent chain shows up
 * as a content difference.
 *
 * Names: libisofs converts Rock Ridge names from an "input charset" to the
 * "local charset" when the two differ. We set the input charset to the
 * local one, so names and symlink targets come through as raw bytes.
 *
 * Hard links: libisofs keeps PX serial numbers on import and calls two
 * nodes hard links when iso_node_cmp_ino() says they match: same serial
 * number *and* same type, mode, owner, atime, mtime, ctime and AAIP
 * string. We sort the non-directories with that comparator and give each
 * run of equal nodes one link key. So a writer must give all links of an
 * inode identical PX, TF and AAIP data, or libisofs splits them.
 *
 * libisofs messages of severity WARNING and above that come up during
 * import and reading are recorded as manifest notes: an image of ours is
 * expected to produce none.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <glib.h>
#include <libisofs/libisofs.h>

#include "check/manifest.h"
#include "util/sha256.h"
#include "util/escape.h"

#define READ_CHUNK (64 * 1024)
#define DROP_PREFIX "Error when adding file "

typedef struct {
	LimgManifest *m;
	LimgManifestFlags flags;
	GPtrArray *linkable;	/* IsoNode* of non-directories, parallel to */
	GPtrArray *linkable_e;	/* their LimgManifestEntry* */
	guchar *buf;
} IsoWalk;

static gsize isofs_initialised;

static gboolean isofs_init(GError **error)
{
	if (g_once_init_enter(&isofs_initialised)) {
		int ret = iso_init_with_flag(1);

		if (ret < 0) {
			g_set_error(error, LIMG_MANIFEST_ERROR,
				    LIMG_MANIFEST_ERROR_READER,
				    "libisofs: iso_init: %s",
				    iso_error_to_msg(ret));
			return FALSE;
		}
		/* Queue warnings for us; never print to stderr ourselves. */
		iso_set_msgs_severities("WARNING", "NEVER", "libisofs");
		g_once_init_leave(&isofs_initialised, 1);
	}
	return TRUE;
}

void limg_manifest_readers_finish(void)
{
	if (isofs_initialised) {
		iso_finish();
		isofs_initialised = 0;
	}
}

/* Move queued libisofs messages into the manifest (or drop them). */
static void drain_messages(LimgManifest *m, GString *errors)
{
	char text[ISO_MSGS_MESSAGE_LEN];
	char severity[80];
	int code, imgid;

	while (iso_obtain_msgs("ALL", &code, &imgid, text, severity) == 1) {
		/*
		 * A node libisofs would not build (e.g. a symlink target of
		 * 1024 bytes or more) is left out with this message; keep
		 * the raw path so the comparison can judge it.
		 */
		if (m && g_str_has_prefix(text, DROP_PREFIX)) {
			limg_manifest_add_dropped(m, text + strlen(DROP_PREFIX));
			continue;
		}
		if (m)
			limg_manifest_add_note(m, "libisofs %s: %s", severity,
					       text);
		if (errors) {
			g_string_append_printf(errors, "; libisofs %s: ",
					       severity);
			for (const char *p = text; *p; p++) {
				unsigned char c = (unsigned char)*p;

				if (c < 0x20 || c >= 0x7f)
					g_string_append_printf(errors, "\\x%02x", c);
				else
					g_string_append_c(errors, (char)c);
			}
		}
	}
}

static gboolean read_content(IsoWalk *w, IsoFile *file, LimgManifestEntry *e,
			     GError **error)
{
	g_auto(LimgSha256) sum = { 0 };
	IsoStream *stream = iso_file_get_stream(file);
	guint64 total = 0;
	int ret;

	limg_sha256_begin(&sum);
	e->size = (guint64)iso_file_get_size(file);
	ret = iso_stream_open(stream);
	if (ret < 0)
		goto out_error;
	for (;;) {
		ret = iso_stream_read(stream, w->buf, READ_CHUNK);
		if (ret < 0) {
			iso_stream_close(stream);
			goto out_error;
		}
		if (ret == 0)
			break;
		limg_sha256_update(&sum, w->buf, ret);
		total += (guint64)ret;
	}
	iso_stream_close(stream);
	if (total != e->size)
		limg_manifest_add_note(w->m, "%s: recorded size %" G_GUINT64_FORMAT
				       " but %" G_GUINT64_FORMAT " bytes read",
				       e->path, e->size, total);
	e->sha256 = limg_sha256_hex(&sum);
	return TRUE;

out_error:
	{
		g_autoptr(GString) p = g_string_new(NULL);

		limg_escape_append(p, e->path, strlen(e->path), LIMG_ESCAPE_SPACE);
		g_set_error(error, LIMG_MANIFEST_ERROR, LIMG_MANIFEST_ERROR_READER,
			    "libisofs: %s: reading content: %s", p->str,
			    iso_error_to_msg(ret));
	}
	return FALSE;
}

static void read_xattrs(IsoNode *node, LimgManifestEntry *e)
{
	size_t n = 0;
	char **names = NULL, **values = NULL;
	size_t *lens = NULL;

	if (iso_node_get_attrs(node, &n, &names, &lens, &values, 0) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		/* "isofs.*" are libisofs' own bookkeeping, not file xattrs. */
		if (!names[i][0] || g_str_has_prefix(names[i], "isofs."))
			continue;
		limg_manifest_entry_add_xattr(e, names[i], values[i], lens[i]);
	}
	iso_node_get_attrs(node, &n, &names, &lens, &values, 1 << 15);
}

static gboolean visit(IsoWalk *w, IsoNode *node, const char *path,
		      GError **error);

static gboolean walk_dir(IsoWalk *w, IsoDir *dir, const char *path,
			 GError **error)
{
	IsoDirIter *iter = NULL;
	IsoNode *child;
	gboolean ok = TRUE;
	int ret;

	ret = iso_dir_get_children(dir, &iter);
	if (ret < 0) {
		g_set_error(error, LIMG_MANIFEST_ERROR, LIMG_MANIFEST_ERROR_READER,
			    "libisofs: listing a directory: %s",
			    iso_error_to_msg(ret));
		return FALSE;
	}
	while (ok && iso_dir_iter_next(iter, &child) == 1) {
		const char *name = iso_node_get_name(child);
		g_autofree char *cpath = strcmp(path, ".") == 0 ?
			g_strdup(name) : g_strconcat(path, "/", name, NULL);

		ok = visit(w, child, cpath, error);
	}
	iso_dir_iter_free(iter);
	return ok;
}

static gboolean visit(IsoWalk *w, IsoNode *node, const char *path,
		      GError **error)
{
	mode_t mode = iso_node_get_mode(node);
	LimgManifestEntry *e;
	LimgEntryType type;
	dev_t dev;

	switch (iso_node_get_type(node)) {
	case LIBISO_DIR:
		type = LIMG_ENTRY_DIR;
		break;
	case LIBISO_FILE:
		type = LIMG_ENTRY_REG;
		break;
	case LIBISO_SYMLINK:
		type = LIMG_ENTRY_SYMLINK;
		break;
	case LIBISO_SPECIAL:
		if (S_ISCHR(mode))
			type = LIMG_ENTRY_CHR;
		else if (S_ISBLK(mode))
			type = LIMG_ENTRY_BLK;
		else if (S_ISFIFO(mode))
			type = LIMG_ENTRY_FIFO;
		else
			type = LIMG_ENTRY_SOCK;
		break;
	default:
		/* El Torito boot catalog: we write none; report it. */
		limg_manifest_add_note(w->m, "unexpected boot catalog node");
		return TRUE;
	}

	e = limg_manifest_add(w->m, path, type);
	e->perm = mode & 07777;
	e->uid = iso_node_get_uid(node);
	e->gid = iso_node_get_gid(node);
	e->mtime = iso_node_get_mtime(node);

	switch (type) {
	case LIMG_ENTRY_REG:
		if (!read_content(w, (IsoFile *)node, e, error))
			return FALSE;
		break;
	case LIMG_ENTRY_SYMLINK:
		e->target = g_strdup(iso_symlink_get_dest((IsoSymlink *)node));
		break;
	case LIMG_ENTRY_CHR:
	case LIMG_ENTRY_BLK:
		dev = iso_special_get_dev((IsoSpecial *)node);
		e->rdev_major = major(dev);
		e->rdev_minor = minor(dev);
		break;
	default:
		break;
	}
	if (w->flags & LIMG_MANIFEST_XATTRS)
		read_xattrs(node, e);

	if (type == LIMG_ENTRY_DIR)
		return walk_dir(w, (IsoDir *)node, path, error);
	g_ptr_array_add(w->linkable, node);
	g_ptr_array_add(w->linkable_e, e);
	return TRUE;
}

typedef struct {
	IsoNode *node;
	LimgManifestEntry *e;
} LinkItem;

static int cmp_link_item(const void *a, const void *b)
{
	const LinkItem *la = a, *lb = b;

	return iso_node_cmp_ino(la->node, lb->node, 0);
}

/* Give each run of nodes libisofs considers one inode a common key. */
static void assign_link_keys(IsoWalk *w)
{
	guint n = w->linkable->len;
	g_autofree LinkItem *items = g_new(LinkItem, n ? n : 1);
	guint group = 0;

	for (guint i = 0; i < n; i++) {
		items[i].node = w->linkable->pdata[i];
		items[i].e = w->linkable_e->pdata[i];
	}
	qsort(items, n, sizeof(*items), cmp_link_item);
	for (guint i = 0; i < n; i++) {
		if (i > 0 && iso_node_cmp_ino(items[i - 1].node,
					      items[i].node, 0) != 0)
			group++;
		items[i].e->link_key = g_strdup_printf("%u", group);
	}
}

/*
 * libisofs 1.5.4 imports the directory tree without looking for loops: a
 * directory record that leads back to a directory being read (a hostile
 * image; 16 KiB do) makes iso_image_import() recurse, reading that
 * directory again at every level, for many minutes; records that share a
 * directory make it read that subtree once per record. So the import
 * reads the image through a guard that fails a block read more than
 * MAX_BLOCK_READS times, and the image is refused: in a sound image a
 * block is read a few times (a continuation block once per record with
 * an area in it; 4 times at most for the 20,000-entry edge-case tree of
 * test-roundtrip.sh), in a loop once per level, so a loop ends within
 * 256 levels. The reads of file contents, after the import, are not
 * counted (each hard link reads the same extent).
 */
#define MAX_BLOCK_READS 256

typedef struct {
	IsoDataSource *file;	/* the image file (owned) */
	GHashTable *reads;	/* lba -> reads so far, while @counting */
	gboolean counting;
	gboolean tripped;	/* a block was read too often: */
	guint32 lba;		/* this one */
} ReadGuard;

static int guard_open(IsoDataSource *src)
{
	ReadGuard *g = src->data;

	return g->file->open(g->file);
}

static int guard_close(IsoDataSource *src)
{
	ReadGuard *g = src->data;

	return g->file->close(g->file);
}

static int guard_read_block(IsoDataSource *src, uint32_t lba, uint8_t *buffer)
{
	ReadGuard *g = src->data;

	if (g->counting) {
		guint n = GPOINTER_TO_UINT(g_hash_table_lookup(g->reads, GUINT_TO_POINTER(lba)));

		if (n >= MAX_BLOCK_READS) {
			if (!g->tripped)
				g->lba = lba;
			g->tripped = TRUE;
			return ISO_DATA_SOURCE_FAILURE;
		}
		g_hash_table_insert(g->reads, GUINT_TO_POINTER(lba), GUINT_TO_POINTER(n + 1));
	}
	return g->file->read_block(g->file, lba, buffer);
}

static void guard_free(IsoDataSource *src)
{
	ReadGuard *g = src->data;

	iso_data_source_unref(g->file);
	g_hash_table_destroy(g->reads);
	g_free(g);
}

/*
 * A data source of @image whose reads @g counts (freed with the source).
 * libisofs frees the source itself with free(): it is malloc'd.
 */
static int guard_new(const char *image, ReadGuard **g, IsoDataSource **out)
{
	IsoDataSource *src;
	int ret;

	*out = NULL;
	src = calloc(1, sizeof(*src));
	if (!src)
		return ISO_OUT_OF_MEM;
	*g = g_new0(ReadGuard, 1);
	ret = iso_data_source_new_from_file(image, &(*g)->file);
	if (ret < 0) {
		g_free(*g);
		free(src);
		return ret;
	}
	(*g)->reads = g_hash_table_new(g_direct_hash, g_direct_equal);
	src->version = 0;
	src->refcount = 1;
	src->open = guard_open;
	src->close = guard_close;
	src->read_block = guard_read_block;
	src->free_data = guard_free;
	src->data = *g;
	*out = src;
	return ISO_SUCCESS;
}

LimgManifest *limg_manifest_from_isofs(const char *image,
				       LimgManifestFlags flags,
				       GError **error)
{
	g_autoptr(LimgManifest) m = NULL;
	g_autoptr(GString) msgs = g_string_new(NULL);
	g_autofree guchar *buf = NULL;
	IsoReadImageFeatures *features = NULL;
	IsoDataSource *src = NULL;
	IsoReadOpts *opts = NULL;
	IsoImage *img = NULL;
	ReadGuard *guard = NULL;
	IsoWalk w;
	gboolean ok;
	int ret;

	if (!limg_manifest_probe_iso(image, error))
		return NULL;
	if (!isofs_init(error))
		return NULL;
	drain_messages(NULL, NULL);

	ret = iso_image_new("limg-check", &img);
	if (ret < 0)
		goto out_lib_error;
	ret = guard_new(image, &guard, &src);
	if (ret < 0)
		goto out_lib_error;
	ret = iso_read_opts_new(&opts, 0);
	if (ret < 0)
		goto out_lib_error;
	iso_read_opts_set_no_rockridge(opts, 0);
	iso_read_opts_set_no_joliet(opts, 1);
	iso_read_opts_set_no_iso1999(opts, 1);
	iso_read_opts_set_preferjoliet(opts, 0);
	iso_read_opts_set_no_aaip(opts, (flags & LIMG_MANIFEST_XATTRS) ? 0 : 1);
	iso_read_opts_set_no_md5(opts, 1);
	iso_read_opts_set_new_inos(opts, 0);
	iso_read_opts_set_input_charset(opts, iso_get_local_charset(0));
	iso_read_opts_auto_input_charset(opts, 0);

	guard->counting = TRUE;
	ret = iso_image_import(img, src, opts, &features);
	guard->counting = FALSE;
	/* libisofs may carry on without the subtree it could not read: not we. */
	if (guard->tripped) {
		drain_messages(NULL, NULL);
		g_set_error(error, LIMG_MANIFEST_ERROR, LIMG_MANIFEST_ERROR_READER,
			    "%s: libisofs: block %u is read more than %d times "
			    "(a directory inside itself?); not read", image,
			    guard->lba, MAX_BLOCK_READS);
		goto out_free;
	}
	if (ret < 0)
		goto out_lib_error;

	m = limg_manifest_new();
	m->has_xattrs = (flags & LIMG_MANIFEST_XATTRS) != 0;
	m->image_blocks = iso_read_image_features_get_size(features);
	buf = g_malloc(READ_CHUNK);
	w.m = m;
	w.flags = flags;
	w.buf = buf;
	w.linkable = g_ptr_array_new();
	w.linkable_e = g_ptr_array_new();
	ok = visit(&w, (IsoNode *)iso_image_get_root(img), ".", error);
	if (ok)
		assign_link_keys(&w);
	g_ptr_array_unref(w.linkable);
	g_ptr_array_unref(w.linkable_e);
	drain_messages(m, NULL);

	iso_read_image_features_destroy(features);
	iso_read_opts_free(opts);
	iso_data_source_unref(src);
	iso_image_unref(img);
	if (!ok) {
		g_prefix_error(error, "%s: ", image);
		return NULL;
	}
	limg_manifest_group_links(m);
	return g_steal_pointer(&m);

out_lib_error:
	drain_messages(NULL, msgs);
	g_set_error(error, LIMG_MANIFEST_ERROR, LIMG_MANIFEST_ERROR_READER,
		    "%s: libisofs: %s%s", image, iso_error_to_msg(ret),
		    msgs->str);
out_free:
	if (features)
		iso_read_image_features_destroy(features);
	if (opts)
		iso_read_opts_free(opts);
	if (src)
		iso_data_source_unref(src);
	if (img)
		iso_image_unref(img);
	return NULL;
}
