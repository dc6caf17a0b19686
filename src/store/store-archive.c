/*
 * store-archive.c - SOURCE is a tar file: a docker-archive (`docker save`,
 * `skopeo copy ... docker-archive:FILE`) or an oci-archive (`skopeo copy
 * ... oci-archive:FILE`: an OCI layout in a tar), read in place, never
 * unpacked; see store.h and store-blobs-internal.h (the walk).
 *
 * The archive is indexed by its headers only (libarchive's tar reader, no
 * decompression filter, data skipped): each member's name, type and where
 * its data starts in the file, archive_filter_bytes(a, -1) right after
 * its header (the bytes consumed so far: headers, PAX and GNU long-name
 * records included). A layer is then its member's byte range of SOURCE
 * (rel "", offset, length = the member's size), and small JSON members
 * are read with pread. The index is made again whenever SOURCE changes
 * (its stat), and a layer names the file it was indexed from (file_dev,
 * file_ino): offsets never apply to another file.
 *
 * Members are taken as extraction would leave them:
 *   - a name loses a leading "/" and "./", "//" and "/./" collapse; a
 *     name with a ".." component is ignored (logged);
 *   - a name met twice is the later member (logged);
 *   - a hard link, or a symlink (old `docker save` links a layer.tar it
 *     wrote before), is followed within the archive: at most 8 links,
 *     relative symlink targets only, never above the archive's root;
 *   - directories are ignored; other members that are not regular files,
 *     and sparse ones (their data is not the file's bytes), cannot be
 *     blobs: naming one leaves the image out;
 *   - a member whose data would run past the end of the file means a
 *     truncated archive: it and every member after it are ignored
 *     (logged), the members before are served.
 * A compressed archive (gzip, zstd, xz, bzip2) is refused with a log
 * line: it cannot be read in place.
 *
 * docker-archive: manifest.json [{"Config", "RepoTags", "Layers"}]; the
 * config member is "<id>.json" (or "blobs/sha256/<id>", Docker 25), whose
 * sha256 is the image id; layers are "<v1-id>/layer.tar", "<diff-id>.tar"
 * or "blobs/sha256/<hex>" members, uncompressed, or gzip or zstd (told by
 * their first bytes). A plain layer's digest is its diff id (the tar
 * source checks it); a compressed one's is known only from a
 * "blobs/sha256/<hex>" name; otherwise the layer is named by its diff id
 * and its bytes cannot be checked before they are served (the archive is
 * a file the operator chose). RepoTags are the tags.
 * oci-archive (no manifest.json): the OCI layout walk over the members
 * oci-layout, index.json and blobs/sha256/<hex>. An archive with both
 * (Docker 25 writes both) is read as a docker-archive.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "store/store-blobs-internal.h"
#include "util/fdio.h"

#define MAX_MEMBERS (1u << 20)    /* bounds the index's memory */
#define MAX_LINKS 8               /* links followed to reach a member */
#define FEED_SIZE (64u << 10)

typedef enum {
	MEMBER_FILE,
	MEMBER_LINK,                  /* a hard link or a symlink: @target */
	MEMBER_DIR,
	MEMBER_OTHER,                 /* not a blob: devices, FIFOs, sparse files */
} MemberType;

typedef struct {
	MemberType type;
	uint64_t offset;              /* of its data in the file */
	uint64_t size;
	char *target;                 /* MEMBER_LINK: the member it names */
} Member;

typedef struct {
	const char *source;
	int fd;                       /* SOURCE, opened for this read */
	struct stat st;
	GHashTable *members;          /* normalised name -> Member * */
	LimgBlobReader r;
} Archive;

static void
member_free(gpointer p)
{
	Member *mb = p;

	g_free(mb->target);
	g_free(mb);
}

/*
 * @path with "" and "." components dropped; ".." pops one (with
 * @dotdot; without, or above the root: NULL). NULL for an empty result.
 */
static char *
normalize(const char *path, bool dotdot)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	g_autoptr(GPtrArray) keep = g_ptr_array_new();

	for (guint i = 0; parts[i]; i++) {
		if (!parts[i][0] || strcmp(parts[i], ".") == 0)
			continue;
		if (strcmp(parts[i], "..") == 0) {
			if (!dotdot || keep->len == 0)
				return NULL;
			g_ptr_array_set_size(keep, keep->len - 1);
			continue;
		}
		g_ptr_array_add(keep, parts[i]);
	}
	if (keep->len == 0)
		return NULL;
	g_ptr_array_add(keep, NULL);
	return g_strjoinv("/", (char **)keep->pdata);
}

static bool
has_dotdot(const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);

	for (guint i = 0; parts[i]; i++) {
		if (strcmp(parts[i], "..") == 0)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------ reading the file */

/*
 * libarchive's input: pread from a position of our own, so the store's
 * descriptor and its offset are never shared.
 */
typedef struct {
	int fd;
	uint64_t pos;
	uint64_t size;
	uint8_t *buf;
} Feed;

static la_ssize_t
feed_read(struct archive *a, void *ctx, const void **out)
{
	Feed *f = ctx;
	ssize_t n;

	do
		n = pread(f->fd, f->buf, FEED_SIZE, (off_t)f->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", g_strerror(errno));
		return -1;
	}
	f->pos += (uint64_t)n;
	*out = f->buf;
	return n;
}

/* Never past the end: libarchive then finds no more data, a truncation. */
static la_int64_t
feed_skip(struct archive *a, void *ctx, la_int64_t request)
{
	Feed *f = ctx;
	uint64_t left = f->pos < f->size ? f->size - f->pos : 0;
	uint64_t n = request > 0 ? MIN((uint64_t)request, left) : 0;

	f->pos += n;
	return (la_int64_t)n;
}

/* ------------------------------------------------------------ the index */

/* The type of member @e, and the member it links to (normalised). */
static MemberType
member_type(const char *source, struct archive_entry *e, const char *name, char **target)
{
	const char *hard = archive_entry_hardlink(e);

	*target = NULL;
	if (hard) {
		*target = normalize(hard, false);
		return *target ? MEMBER_LINK : MEMBER_OTHER;
	}
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return archive_entry_sparse_count(e) > 0 ? MEMBER_OTHER : MEMBER_FILE;
	case AE_IFDIR:
		return MEMBER_DIR;
	case AE_IFLNK: {
		const char *to = archive_entry_symlink(e);
		g_autofree char *dir = g_path_get_dirname(name);
		g_autofree char *joined = to ? g_build_filename(dir, to, NULL) : NULL;

		if (to && to[0] != '/')
			*target = normalize(joined, true);
		if (!*target)
			limg_store_log_once("%s: member %s: a symlink to %s, outside the archive's "
			                    "members; not followed", source, name, to ? to : "nothing");
		return *target ? MEMBER_LINK : MEMBER_OTHER;
	}
	default:
		return MEMBER_OTHER;
	}
}

/*
 * Record member @e, whose data starts at @offset: false when its data
 * runs past the end of the file (a truncated archive; logged).
 */
static bool
add_member(Archive *ar, struct archive_entry *e, uint64_t offset)
{
	const char *raw = archive_entry_pathname(e);
	g_autofree char *name = raw ? normalize(raw, false) : NULL;
	Member *mb;

	if (!name) {
		if (raw && has_dotdot(raw))
			limg_store_log_once("%s: member %s: a \"..\" in its name; ignored", ar->source,
			                    raw);
		return true;   /* the root ("./"), or nothing to name */
	}
	mb = g_new0(Member, 1);
	mb->type = member_type(ar->source, e, name, &mb->target);
	mb->offset = offset;
	mb->size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0 ?
	           (uint64_t)archive_entry_size(e) : 0;
	if (mb->type == MEMBER_FILE && (offset > (uint64_t)ar->st.st_size ||
	                                mb->size > (uint64_t)ar->st.st_size - offset)) {
		limg_store_log_once("%s: member %s: its %" G_GUINT64_FORMAT " bytes at offset %"
		                    G_GUINT64_FORMAT " run past the end of the file (%" G_GUINT64_FORMAT
		                    " bytes): a truncated archive; this member and what follows "
		                    "are ignored", ar->source, name, mb->size, offset,
		                    (uint64_t)ar->st.st_size);
		member_free(mb);
		return false;
	}
	if (g_hash_table_contains(ar->members, name) && mb->type != MEMBER_DIR)
		limg_store_log_once("%s: member %s is in the archive more than once; the last one "
		                    "is used, as extraction does", ar->source, name);
	g_hash_table_replace(ar->members, g_steal_pointer(&name), mb);
	return true;
}

/* Every member's header, in order, until the end or the first damage (logged). */
static void
index_members(Archive *ar, struct archive *a)
{
	g_autofree char *last = NULL;

	for (guint n = 0;; n++) {
		struct archive_entry *e;
		int ret = archive_read_next_header(a, &e);

		if (ret == ARCHIVE_EOF)
			return;
		if (ret < ARCHIVE_WARN) {
			if (!last)
				limg_store_log_once("%s: not a tar archive (%s); nothing read", ar->source,
				                    archive_error_string(a));
			else
				limg_store_log_once("%s: damaged after member %s (%s); the members after it "
				                    "are ignored", ar->source, last, archive_error_string(a));
			return;
		}
		if (n >= MAX_MEMBERS) {
			limg_store_log_once("%s: more than %u members; the rest ignored", ar->source,
			                    MAX_MEMBERS);
			return;
		}
		if (!add_member(ar, e, (uint64_t)archive_filter_bytes(a, -1)))
			return;
		g_free(last);
		last = g_strdup(archive_entry_pathname(e));
	}
}

static void
index_archive(Archive *ar)
{
	struct archive *a = archive_read_new();
	Feed feed = { .fd = ar->fd, .size = (uint64_t)ar->st.st_size };

	feed.buf = g_malloc(FEED_SIZE);
	archive_read_support_format_tar(a);
	archive_read_set_callback_data(a, &feed);
	archive_read_set_read_callback(a, feed_read);
	archive_read_set_skip_callback(a, feed_skip);
	if (archive_read_open1(a) == ARCHIVE_OK)
		index_members(ar, a);
	else
		limg_store_log_once("%s: not a tar archive (%s); nothing read", ar->source,
		                    archive_error_string(a));
	archive_read_free(a);
	g_free(feed.buf);
}

/* A compressed file cannot be read in place: say so, by name. */
static bool
refuse_compressed(const Archive *ar)
{
	static const char *const names[] = {
		[LIMG_BLOB_GZIP] = "gzip", [LIMG_BLOB_ZSTD] = "zstd", [LIMG_BLOB_OTHER] = "xz or bzip2",
	};
	uint8_t head[6] = { 0 };
	size_t n = (size_t)MIN((uint64_t)ar->st.st_size, sizeof(head));
	LimgBlobCompression c;

	if (limg_pread_full(ar->fd, head, n, 0) < 0)
		return false;   /* the tar reader says what is wrong */
	c = limg_blob_compression(head, n);
	if (c == LIMG_BLOB_PLAIN)
		return false;
	limg_store_log_once("%s: a %s-compressed file; an archive is read in place, so it must be "
	                    "an uncompressed tar (decompress it first); nothing read", ar->source,
	                    names[c]);
	return true;
}

/* ------------------------------------------------------------ members as blobs */

/* Member @path with links followed: a regular file's, or NULL and *@err. */
static const Member *
resolve(const Archive *ar, const char *path, int *err)
{
	g_autofree char *name = normalize(path, false);
	const char *at = name;

	for (int links = 0; at && links <= MAX_LINKS; links++) {
		const Member *mb = g_hash_table_lookup(ar->members, at);

		if (!mb || mb->type == MEMBER_DIR) {
			*err = mb ? -EINVAL : -ENOENT;
			return NULL;
		}
		if (mb->type == MEMBER_FILE)
			return mb;
		if (mb->type != MEMBER_LINK) {
			*err = -EINVAL;
			return NULL;
		}
		at = mb->target;
	}
	*err = at ? -EMLINK : -ENOENT;
	return NULL;
}

static int
ar_read(void *ctx, const char *path, size_t max, char **out, size_t *len)
{
	const Archive *ar = ctx;
	g_autofree char *buf = NULL;
	const Member *mb;
	int ret = 0;

	*out = NULL;
	mb = resolve(ar, path, &ret);
	if (!mb)
		return ret;
	if (mb->size > max)
		return -EFBIG;
	buf = g_malloc((size_t)mb->size + 1);
	/* -ENODATA: shorter than when it was indexed, changed under us. */
	ret = limg_pread_full(ar->fd, buf, (size_t)mb->size, (off_t)mb->offset);
	if (ret < 0)
		return ret;
	buf[mb->size] = 0;
	*len = (size_t)mb->size;
	*out = g_steal_pointer(&buf);
	return 0;
}

static int
ar_locate(void *ctx, const char *path, LimgBlobLoc *loc)
{
	const Archive *ar = ctx;
	const Member *mb;
	int ret = 0;

	memset(loc, 0, sizeof(*loc));
	mb = resolve(ar, path, &ret);
	if (!mb)
		return ret;
	loc->rel = g_strdup("");
	loc->offset = mb->offset;
	loc->length = mb->size;
	loc->file_dev = (uint64_t)ar->st.st_dev;
	loc->file_ino = (uint64_t)ar->st.st_ino;
	return 0;
}

static char *
ar_label(void *ctx, const char *path)
{
	const Archive *ar = ctx;

	return g_strdup_printf("%s, member %s", ar->source, path);
}

/* SOURCE opened and indexed now; false if it cannot be (logged). */
static bool
archive_open(Archive *ar, const char *source)
{
	memset(ar, 0, sizeof(*ar));
	ar->source = source;
	ar->members = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, member_free);
	ar->r = (LimgBlobReader){ .read = ar_read, .locate = ar_locate, .label = ar_label,
	                          .blobs = "blobs/sha256/", .ctx = ar };
	/* By its path: the store's descriptor may hold a file replaced since. */
	ar->fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (ar->fd < 0 || fstat(ar->fd, &ar->st) < 0) {
		limg_store_log_once("%s: %s; nothing read", source, g_strerror(errno));
		return false;
	}
	if (!S_ISREG(ar->st.st_mode)) {
		limg_store_log_once("%s: no longer a regular file; nothing read", source);
		return false;
	}
	if (refuse_compressed(ar))
		return false;
	index_archive(ar);
	return true;
}

static void
archive_close(Archive *ar)
{
	if (ar->fd >= 0)
		close(ar->fd);
	g_hash_table_destroy(ar->members);
}

/* ------------------------------------------------------------ docker-archive */

/* "<hex>" of a content-addressed member name ("blobs/sha256/<hex>"), or NULL. */
static const char *
blob_name_hex(const char *name)
{
	const char *hex = g_str_has_prefix(name, "blobs/sha256/") ? name + strlen("blobs/sha256/") :
	                  NULL;

	return hex && limg_store_valid_hex(hex) ? hex : NULL;
}

/* The image id a config member's name claims ("<hex>.json", blobs/sha256/<hex>), or NULL. */
static char *
config_name_hex(const char *name)
{
	const char *hex = blob_name_hex(name);

	if (hex)
		return g_strdup(hex);
	if (g_str_has_suffix(name, ".json") && strlen(name) == 64 + strlen(".json")) {
		g_autofree char *h = g_strndup(name, 64);

		if (limg_store_valid_hex(h))
			return g_steal_pointer(&h);
	}
	return NULL;
}

/* Layer member @name as an image layer, or false (logged, naming @label). */
static bool
docker_layer(Archive *ar, const char *name, guint i, const char *label, LimgBlobLayer *l,
             char **digest)
{
	uint8_t head[6] = { 0 };
	g_autofree char *norm = normalize(name, false);
	const char *hex = norm ? blob_name_hex(norm) : NULL;
	int ret = ar->r.locate(ar, name, &l->loc);
	size_t n = 0;

	if (ret == 0) {
		n = (size_t)MIN(l->loc.length, sizeof(head));
		ret = limg_pread_full(ar->fd, head, n, (off_t)l->loc.offset);
	}
	if (ret < 0) {
		limg_store_log_once("%s: Layers[%u] %s: %s; image left out", label, i, name,
		                    ret == -ENOENT ? "no such member" : ret == -EINVAL ?
		                    "not a regular file (or a sparse one)" : g_strerror(-ret));
		return false;
	}
	l->comp = limg_blob_compression(head, n);
	*digest = hex ? g_strconcat("sha256:", hex, NULL) : NULL;
	l->digest = *digest;
	return true;
}

/* The strings of @a (NULL-terminated, borrowed), or NULL. */
static const char **
string_list(JsonArray *a)
{
	GPtrArray *out;

	if (!a)
		return NULL;
	out = g_ptr_array_new();
	for (guint i = 0; i < json_array_get_length(a); i++) {
		const char *s = limg_json_node_string(json_array_get_element(a, i));

		if (s)
			g_ptr_array_add(out, (gpointer)s);
	}
	g_ptr_array_add(out, NULL);
	return (const char **)g_ptr_array_free(out, FALSE);
}

/* The config member @name, checked against the id its name claims; NULL (logged). */
static char *
docker_config(Archive *ar, const char *name, const char *label, size_t *len)
{
	g_autofree char *text = NULL, *norm = normalize(name, false);
	g_autofree char *claim = norm ? config_name_hex(norm) : NULL, *sum = NULL;
	int ret = ar->r.read(ar, name, LIMG_BLOBS_MAX_CONFIG, &text, len);

	if (ret < 0) {
		limg_store_log_once("%s: Config %s: %s; image left out", label, name,
		                    ret == -ENOENT ? "no such member" : ret == -EFBIG ?
		                    "too large for an image config" : g_strerror(-ret));
		return NULL;
	}
	sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)text, *len);
	if (claim && strcmp(claim, sum) != 0) {
		limg_store_log_once("%s: Config %s: content does not match the digest in its name; "
		                    "image left out", label, name);
		return NULL;
	}
	return g_steal_pointer(&text);
}

/* Entry @i of manifest.json (@label). */
static void
docker_image(Archive *ar, LimgBlobWalk *w, JsonObject *o, guint i, const char *label)
{
	g_autofree char *entry = g_strdup_printf("%s [%u]", label, i);
	g_autofree char *config = NULL, *cname = NULL;
	g_autofree const char **tags = string_list(limg_json_array(o, "RepoTags"));
	g_autoptr(GPtrArray) digests = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) layers = g_array_new(FALSE, TRUE, sizeof(LimgBlobLayer));
	JsonArray *names = limg_json_array(o, "Layers");
	const char *cfg = limg_json_string(o, "Config");
	bool ok = cfg && names;
	size_t len = 0;

	if (!ok)
		limg_store_log_once("%s: no Config or no Layers; image left out", entry);
	for (guint k = 0; ok && k < json_array_get_length(names); k++) {
		const char *name = limg_json_node_string(json_array_get_element(names, k));
		LimgBlobLayer l = { 0 };
		char *digest = NULL;

		ok = name && docker_layer(ar, name, k, entry, &l, &digest);
		if (!name)
			limg_store_log_once("%s: Layers[%u] is not a name; image left out", entry, k);
		g_ptr_array_add(digests, digest);
		l.name = name;
		g_array_append_val(layers, l);
	}
	if (ok && (config = docker_config(ar, cfg, entry, &len))) {
		cname = ar_label(ar, cfg);
		limg_blob_walk_add_image(w, config, len, cname,
		                         (const LimgBlobLayer *)(void *)layers->data, layers->len,
		                         tags);
	}
	for (guint k = 0; k < layers->len; k++)
		limg_blob_loc_clear(&g_array_index(layers, LimgBlobLayer, k).loc);
}

static void
docker_archive(Archive *ar, LimgBlobWalk *w)
{
	g_autofree char *label = ar_label(ar, "manifest.json");
	g_autofree char *text = NULL;
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error = NULL;
	JsonNode *root;
	JsonArray *a;
	size_t len = 0;
	int ret = ar->r.read(ar, "manifest.json", LIMG_BLOBS_MAX_MANIFEST, &text, &len);

	if (ret < 0) {
		limg_store_log_once("%s: %s; nothing read", label, g_strerror(-ret));
		return;
	}
	if (!json_parser_load_from_data(parser, text, (gssize)len, &error)) {
		limg_store_log_once("%s: not JSON (%s); nothing read", label, error->message);
		return;
	}
	root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_ARRAY(root)) {
		limg_store_log_once("%s: not a JSON array; nothing read", label);
		return;
	}
	a = json_node_get_array(root);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *n = json_array_get_element(a, i);

		if (JSON_NODE_HOLDS_OBJECT(n))
			docker_image(ar, w, json_node_get_object(n), i, label);
		else
			limg_store_log_once("%s [%u]: not an object; left out", label, i);
	}
}

/* ------------------------------------------------------------ the backend */

static bool
archive_detect(int dir_fd)
{
	struct stat st;

	return fstat(dir_fd, &st) == 0 && S_ISREG(st.st_mode);
}

static LimgStoreMeta *
archive_read_meta(const char *source, int dir_fd)
{
	LimgStoreMeta *m = limg_store_meta_new();
	Archive ar;

	if (archive_open(&ar, source)) {
		g_autoptr(LimgBlobWalk) w = limg_blob_walk_new(source, &ar.r, m);

		if (g_hash_table_contains(ar.members, "manifest.json"))
			docker_archive(&ar, w);
		else if (g_hash_table_contains(ar.members, "oci-layout"))
			limg_blob_walk_layout(w);
		else if (g_hash_table_size(ar.members))
			limg_store_log_once("%s: neither manifest.json (a docker-archive) nor oci-layout "
			                    "(an oci-archive) in it; nothing read", source);
	}
	archive_close(&ar);
	limg_meta_finish(m);
	return m;
}

static char **
archive_meta_paths(const char *source, int dir_fd)
{
	return g_strdupv((char *[]){ "", NULL });   /* SOURCE itself */
}

const LimgStoreBackend limg_store_archive = {
	.name = "archive",
	.detect = archive_detect,
	.read_meta = archive_read_meta,
	.meta_paths = archive_meta_paths,
};
