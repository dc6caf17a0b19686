/*
 * store-containerd.c - a containerd root (/var/lib/containerd), read as a
 * blob store; see store.h, store-blobs-internal.h (the walk) and bolt.h
 * (the database reader).
 *
 * What is read, never written (nor locked):
 *
 *   io.containerd.metadata.v1.bolt/meta.db
 *       the bolt database: v1/<namespace>/images/<name>/target/{digest,
 *       mediatype, size} is an image record: its name and the index or
 *       manifest it stands for;
 *   io.containerd.content.v1.content/blobs/sha256/<hex>
 *       the content store: indexes, manifests, configs, layer tars (the
 *       layers as pulled or imported: compressed, or not).
 *
 * Tags: the images of namespace "default" (ctr's) are tagged by their
 * names as they are (docker.io/library/x:1); those of any other namespace
 * by "<namespace>/<name>" (k8s.io/docker.io/library/x:1, CRI's), so one
 * name in two namespaces is two tags. Names that are digest references
 * (x@sha256:...) or image ids (CRI's "sha256:<hex>" names) are not tags;
 * their images are still images.
 *
 * The database is the only source of names: without it nothing is served
 * (said once in the log, with why), and it is read again when it changes.
 * Asking `ctr` instead was left out on purpose: it needs containerd
 * running and its socket (root), a subprocess in the daemon's request
 * path, and parsing output meant for people; and a bolt database that
 * cannot be read is one being rewritten (read again at its next change)
 * or damaged, which `ctr` would not read either. The content store alone
 * has no names and no namespaces.
 *
 * A layer is only what the content store holds: images whose layers were
 * discarded after unpacking (CRI's discard_unpacked_layers) are left out,
 * logged; their snapshots are not read here.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "store/bolt.h"
#include "store/store-blobs-internal.h"

#define CONTENT "io.containerd.content.v1.content"
#define BLOBS CONTENT "/blobs/sha256/"
#define META_DIR "io.containerd.metadata.v1.bolt"
#define META_DB META_DIR "/meta.db"
#define DEFAULT_NS "default"

/* Opens that met a commit in progress, each already retried by bolt.c. */
#define OPEN_TRIES 3
#define OPEN_PAUSE_US (20 * 1000)

static bool
ctd_detect(int dir_fd)
{
	struct stat st;

	return fstatat(dir_fd, CONTENT, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* meta.db, or -errno (logged once). */
static int
open_db(const char *source, int dir_fd, LimgBolt **db)
{
	int ret = -EAGAIN;

	/* containerd commits often (leases, containers): a busy file is read again. */
	for (int i = 0; i < OPEN_TRIES && ret == -EAGAIN; i++) {
		if (i)
			g_usleep(OPEN_PAUSE_US);
		ret = limg_bolt_openat(dir_fd, META_DB, db);
	}
	if (ret < 0)
		limg_store_log_once("%s/%s: %s; containerd names its images only there, so no image "
		                    "or layer is served until it can be read", source, META_DB,
		                    ret == -EBADMSG ? "not a bolt database this reader knows "
		                    "(damaged, or another format version)" :
		                    ret == -EAGAIN ? "kept changing while read" :
		                    ret == -ENOENT ? "missing" : g_strerror(-ret));
	return ret;
}

/* The tag of image @name of namespace @ns, or NULL: not a tag. Caller frees. */
static char *
image_tag(const char *ns, const char *name)
{
	if (strchr(name, '@') || g_str_has_prefix(name, "sha256:"))
		return NULL;
	return strcmp(ns, DEFAULT_NS) == 0 ? g_strdup(name) : g_strconcat(ns, "/", name, NULL);
}

/* One image record: v1/@ns/images/@name/target. */
static void
read_image(LimgBlobWalk *w, const LimgBolt *db, const char *label, const char *ns,
           const char *name)
{
	const char *const target[] = { "v1", ns, "images", name, "target", NULL };
	g_autofree char *referrer = g_strdup_printf("%s: image %s (namespace %s)", label, name, ns);
	g_autofree char *digest = NULL, *type = NULL, *tag = image_tag(ns, name);
	g_autoptr(GBytes) size_bytes = NULL;
	int64_t size = -1;
	int ret = limg_bolt_get_string(db, target, "digest", &digest);

	if (ret < 0) {
		limg_store_log_once("%s: no target digest (%s); left out", referrer,
		                    g_strerror(-ret));
		return;
	}
	/* Both are optional to the walk: the blob says what it is, and its size. */
	if (limg_bolt_get_string(db, target, "mediatype", &type) < 0)
		type = NULL;
	if (limg_bolt_get(db, target, "size", &size_bytes) == 0 &&
	    limg_bolt_varint(size_bytes, &size) < 0)
		size = -1;
	limg_blob_walk_target(w, digest, type, size, tag, referrer);
}

static void
read_namespace(LimgBlobWalk *w, const LimgBolt *db, const char *label, const char *ns)
{
	const char *const images[] = { "v1", ns, "images", NULL };
	g_autoptr(GPtrArray) items = NULL;
	int ret = limg_bolt_list(db, images, &items);

	if (ret == -ENOENT)
		return;   /* a namespace without images */
	if (ret < 0) {
		limg_store_log_once("%s: bucket v1/%s/images: %s; its images left out", label, ns,
		                    g_strerror(-ret));
		return;
	}
	for (guint i = 0; i < items->len; i++) {
		const LimgBoltItem *it = items->pdata[i];

		/* A key holding a NUL cannot be looked up by name, nor be a tag. */
		if (it->is_bucket && strlen(it->key) == it->key_len)
			read_image(w, db, label, ns, it->key);
	}
}

/* The namespaces (sub-buckets of v1), "default" first, then in key order. */
static GPtrArray *
namespaces(const LimgBolt *db, const char *label)
{
	const char *const v1[] = { "v1", NULL };
	g_autoptr(GPtrArray) items = NULL;
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	int ret = limg_bolt_list(db, v1, &items);

	if (ret < 0) {
		limg_store_log_once("%s: bucket v1: %s; not a containerd 1.x metadata database, "
		                    "nothing served", label, g_strerror(-ret));
		return out;
	}
	for (guint i = 0; i < items->len; i++) {
		const LimgBoltItem *it = items->pdata[i];

		if (!it->is_bucket || strlen(it->key) != it->key_len)
			continue;
		if (strcmp(it->key, DEFAULT_NS) == 0)
			g_ptr_array_insert(out, 0, g_strdup(it->key));
		else
			g_ptr_array_add(out, g_strdup(it->key));
	}
	return out;
}

static LimgStoreMeta *
ctd_read_meta(const char *source, int dir_fd)
{
	LimgStoreMeta *m = limg_store_meta_new();
	g_autofree char *label = g_strdup_printf("%s/%s", source, META_DB);
	g_autoptr(LimgBolt) db = NULL;
	g_autoptr(LimgBlobWalk) w = NULL;
	g_autoptr(GPtrArray) ns = NULL;
	LimgBlobDirReader reader;

	if (open_db(source, dir_fd, &db) < 0) {
		limg_meta_finish(m);
		return m;
	}
	limg_blob_dir_reader_init(&reader, source, dir_fd, BLOBS);
	w = limg_blob_walk_new(source, &reader.r, m);
	ns = namespaces(db, label);
	for (guint i = 0; i < ns->len; i++)
		read_namespace(w, db, label, ns->pdata[i]);
	limg_meta_finish(m);
	return m;
}

static char **
ctd_meta_paths(const char *source, int dir_fd)
{
	/* bbolt commits in place: the file's mtime and size say it changed. */
	return g_strdupv((char *[]){ META_DB, CONTENT "/blobs/sha256", NULL });
}

const LimgStoreBackend limg_store_containerd = {
	.name = "containerd",
	.detect = ctd_detect,
	.read_meta = ctd_read_meta,
	.meta_paths = ctd_meta_paths,
};
