/*
 * test-images.c - the image service (cache/images.h) over a plain store
 * in a scratch directory: generations built once and kept until the
 * layer is replaced or removed, one build for concurrent requests, the
 * disk cache (trusted only when the layer is provably unchanged), the
 * degraded modes, strict mode and the report hook, and the background
 * precompute (settling, prerendering, the store watcher).
 *
 * No root and no mount: the service is used as the FUSE side uses it.
 * Where root would read what a user cannot, the test drops
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH for itself (th_dac_drop), so
 * every test runs the same as root and as a user.
 */
#include <config.h>

#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <unistd.h>

#include "cache/gen-read.h"
#include "cache/images.h"
#include "cache/persist.h"
#include "source/source.h"
#include "lib/cachefile.h"
#include "lib/testlib.h"

static char *base;          /* scratch: store/, cache/, and room beside them */
static char *store;
static char *cache;
static LimgImages *im;

/* ------------------------------------------------------------ recorders */

typedef struct {
	GMutex lock;
	GPtrArray *events;      /* "name:CHANGED" / "name:REMOVED" */
} Notes;

static Notes notes;

static void
on_notify(void *ctx, const char *name, LimgImageEvent ev)
{
	Notes *n = ctx;

	g_mutex_lock(&n->lock);
	g_ptr_array_add(n->events, g_strdup_printf("%s:%s", name, ev == LIMG_IMAGE_CHANGED ?
	                                           "CHANGED" : ev == LIMG_IMAGE_REMOVED ?
	                                           "REMOVED" : "?"));
	g_mutex_unlock(&n->lock);
}

/* The events so far, joined by spaces. */
static char *
events(void)
{
	GString *s = g_string_new(NULL);

	g_mutex_lock(&notes.lock);
	for (guint i = 0; i < notes.events->len; i++)
		g_string_append_printf(s, "%s%s", i ? " " : "", (char *)notes.events->pdata[i]);
	g_mutex_unlock(&notes.lock);
	return g_string_free(s, FALSE);
}

typedef struct {
	GMutex lock;
	unsigned calls;
	char *name;             /* of the last call */
	GString *warnings;      /* all warnings, one per line */
	unsigned n_warnings, n_errors;
	uint64_t skipped;
	uint64_t compat[LIMG_COMPAT_N];
} Reports;

static Reports reports;

static void
on_report(void *ctx, const char *name, const LimgReport *r, uint64_t skipped)
{
	Reports *x = ctx;

	g_mutex_lock(&x->lock);
	x->calls++;
	g_free(x->name);
	x->name = g_strdup(name);
	for (guint i = 0; i < r->warnings->len; i++)
		g_string_append_printf(x->warnings, "%s\n", (char *)r->warnings->pdata[i]);
	x->n_warnings += r->warnings->len;
	x->n_errors += r->errors->len;
	x->skipped += skipped;
	for (int k = 0; k < LIMG_COMPAT_N; k++)
		x->compat[k] += r->compat_count[k];
	g_mutex_unlock(&x->lock);
}

/* ------------------------------------------------------------ fixture */

static void
make_layer(const char *name)
{
	g_autofree char *big = g_malloc(5000);
	g_autofree char *p_hello = g_build_filename(name, "hello", NULL);
	g_autofree char *p_big = g_build_filename(name, "sub", "data", NULL);
	g_autofree char *p_x = g_build_filename(name, "sub", "deeper", "x", NULL);
	g_autofree char *p_empty = g_build_filename(name, "empty", NULL);
	g_autofree char *p_link = g_build_filename(store, name, "link", NULL);

	for (int i = 0; i < 5000; i++)
		big[i] = (char)(i * 7 + 3);
	th_write_text(store, p_hello, "hello world\n");
	th_write(store, p_big, big, 5000);
	th_write_text(store, p_x, "x");
	th_write(store, p_empty, "", 0);
	cr_assert_eq(symlink("hello", p_link), 0);
}

static void
setup(void)
{
	base = th_tmpdir();
	store = g_build_filename(base, "store", NULL);
	cache = g_build_filename(base, "cache", NULL);
	th_mkdir(base, "store");
	th_mkdir(base, "cache");
	make_layer("a");
	g_mutex_init(&notes.lock);
	notes.events = g_ptr_array_new_with_free_func(g_free);
	g_mutex_init(&reports.lock);
	reports.warnings = g_string_new(NULL);
	im = NULL;
}

static void
teardown(void)
{
	limg_images_free(im);
	th_dac_restore();
	th_rmtree(base);
	g_free(base);
	g_free(store);
	g_free(cache);
	g_ptr_array_free(notes.events, TRUE);
	g_mutex_clear(&notes.lock);
	g_string_free(reports.warnings, TRUE);
	g_free(reports.name);
	g_mutex_clear(&reports.lock);
	memset(&reports, 0, sizeof(reports));
}

TestSuite(images, .init = setup, .fini = teardown, .timeout = 60);

/* A service over the store (replacing the fixture's), listening. */
static LimgImages *
service(const LimgImagesOptions *opts)
{
	LimgImages *s = th_images_new(store, "plain", opts);

	limg_images_set_notify(s, on_notify, &notes);
	return s;
}

static LimgImagesOptions
with_cache(void)
{
	return (LimgImagesOptions){ .cache_dir = cache };
}

static LimgImagesStats
stats(LimgImages *s)
{
	LimgImagesStats st;

	limg_images_stats(s, &st);
	return st;
}

static LimgGen *
get(LimgImages *s, const char *name)
{
	LimgGen *g = NULL;
	int ret = limg_images_get(s, name, &g);

	cr_assert_eq(ret, 0, "get %s: %d (%s)", name, ret, g_strerror(-ret));
	cr_assert_not_null(g);
	return g;
}

/* The whole image of @g. Caller frees. */
static uint8_t *
whole(LimgGen *g, size_t *size)
{
	uint64_t sz = limg_gen_size(g);
	uint8_t *buf;
	ssize_t n;

	cr_assert_lt(sz, (uint64_t)64 << 20);
	buf = g_malloc(sz);
	n = limg_gen_pread(g, buf, sz, 0);
	cr_assert_eq(n, (ssize_t)sz, "pread of the whole image: %zd", n);
	*size = sz;
	return buf;
}

/* The disk-cache key of layer @name: its directory's path. */
static char *
key_of(const char *name)
{
	g_autofree char *canon = g_canonicalize_filename(store, NULL);

	return g_build_filename(canon, name, NULL);
}

static char *
cache_file_of(const char *name)
{
	g_autofree char *key = key_of(name);

	return th_cache_file(cache, key);
}

static int entry_count;

static int
count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		entry_count++;
	return 0;
}

/* Entries below layer @name (its own directory not counted). */
static uint32_t
entries_of(const char *name)
{
	g_autofree char *dir = g_build_filename(store, name, NULL);

	entry_count = 0;
	cr_assert_eq(nftw(dir, count_one, 16, FTW_PHYS), 0);
	return (uint32_t)entry_count;
}

/* ------------------------------------------------------------ generations */

Test(images, get_builds_once_and_returns_the_same_generation)
{
	LimgGen *g1, *g2;
	LimgImagesStats st;

	im = service(NULL);
	g1 = get(im, "a");
	g2 = get(im, "a");
	cr_expect_eq(g1, g2, "the same generation while the layer is unchanged");
	st = stats(im);
	cr_expect_eq(st.layouts, 1);
	cr_expect_eq(st.walks, 1);
	cr_expect_eq(st.ready, 1);
	cr_expect_eq(st.known, 1);
	limg_gen_unref(g1);
	limg_gen_unref(g2);
	g1 = get(im, "a");
	cr_expect_eq(g1, g2, "the service keeps it when nobody holds it");
	cr_expect_eq(stats(im).layouts, 1);
	limg_gen_unref(g1);
	cr_expect(limg_images_exists(im, "a"));
	cr_expect_not_null(limg_images_store(im));
}

Test(images, generation_describes_its_layer)
{
	g_autofree char *dir = g_build_filename(store, "a", NULL);
	struct stat st;
	LimgGen *g;

	im = service(NULL);
	g = get(im, "a");
	cr_assert_eq(stat(dir, &st), 0);
	cr_expect_str_eq(limg_gen_name(g), "a");
	cr_expect_eq(limg_gen_number(g), 1);
	cr_expect_eq(limg_gen_block_size(g), 2048);
	cr_expect_eq(limg_images_block_size(im), 2048);
	cr_expect_gt(limg_gen_size(g), 0);
	cr_expect_eq(limg_gen_size(g) % 2048, 0);
	cr_expect_gt(limg_gen_meta_blocks(g), 17, "system area, PVD, terminator and more");
	cr_expect_lt((uint64_t)limg_gen_meta_blocks(g) * 2048, limg_gen_size(g));
	cr_expect_eq(limg_gen_mtime(g), (int64_t)st.st_mtim.tv_sec);
	cr_expect_eq(limg_gen_entries(g), entries_of("a") + 1, "every entry and the root");
	cr_expect_eq(limg_gen_data_bytes(g), strlen("hello world\n") + 5000 + 1);
	cr_expect_gt(limg_gen_mem_bytes(g), 0);
	cr_expect_eq(limg_gen_present(g), 0);
	{
		/* The data follows the metadata: files are at least this big. */
		uint64_t data_blocks = (12 + 2047) / 2048 + (5000 + 2047) / 2048 + 1;

		cr_expect_geq(limg_gen_size(g), ((uint64_t)limg_gen_meta_blocks(g) + data_blocks) * 2048);
	}
	limg_gen_unref(g);
}

Test(images, volume_id_option_names_the_volume)
{
	LimgImagesOptions o = { .volume_id = "MYVOL_1" };
	uint8_t pvd[2048];
	LimgGen *g;

	im = service(&o);
	g = get(im, "a");
	cr_assert_eq(limg_gen_pread(g, pvd, sizeof(pvd), 16 * 2048), 2048);
	cr_expect_eq(pvd[0], 1, "a primary volume descriptor");
	cr_expect_arr_eq(pvd + 1, "CD001", 5);
	/* ECMA-119 8.4.6: volume identifier, bytes 41..72, padded with spaces. */
	cr_expect_arr_eq(pvd + 40, "MYVOL_1                         ", 32);
	limg_gen_unref(g);
}

typedef struct {
	LimgImages *im;
	gint *go;
	LimgGen *got;
	int ret;
} Getter;

static gpointer
getter(gpointer data)
{
	Getter *x = data;

	while (!g_atomic_int_get(x->go))
		g_thread_yield();
	x->ret = limg_images_get(x->im, "big", &x->got);
	return NULL;
}

Test(images, concurrent_gets_of_one_image_build_once)
{
	enum { N = 8 };
	GThread *t[N];
	Getter g[N];
	gint go = 0;
	LimgImagesStats st;

	for (int i = 0; i < 400; i++) {
		g_autofree char *rel = g_strdup_printf("big/d%02d/file%03d", i % 20, i);

		th_write_text(store, rel, rel);
	}
	im = service(NULL);
	for (int i = 0; i < N; i++) {
		g[i] = (Getter){ .im = im, .go = &go };
		t[i] = g_thread_new("get", getter, &g[i]);
	}
	g_atomic_int_set(&go, 1);
	for (int i = 0; i < N; i++)
		g_thread_join(t[i]);
	for (int i = 0; i < N; i++) {
		cr_expect_eq(g[i].ret, 0);
		cr_expect_eq(g[i].got, g[0].got, "thread %d got another generation", i);
	}
	st = stats(im);
	cr_expect_eq(st.layouts, 1, "one build for all the requests");
	cr_expect_eq(st.walks, 1);
	cr_expect_eq(st.building, 0);
	cr_expect_eq(limg_gen_entries(g[0].got), entries_of("big") + 1);
	for (int i = 0; i < N; i++)
		limg_gen_unref(g[i].got);
}

Test(images, missing_layer_is_enoent)
{
	LimgGen *g = (LimgGen *)0x1;

	im = service(NULL);
	cr_expect_eq(limg_images_get(im, "nope", &g), -ENOENT);
	cr_expect_null(g);
	cr_expect_eq(limg_images_get(im, ".a", &g), -ENOENT);
	cr_expect_eq(limg_images_get(im, "", &g), -ENOENT);
	cr_expect_not(limg_images_exists(im, "nope"));
	cr_expect_eq(stats(im).layouts, 0);
	cr_expect_eq(stats(im).known, 0, "a missing layer leaves no image behind");
	{
		g_autofree char *ev = events();

		cr_expect_str_eq(ev, "", "nothing was removed");
	}
}

Test(images, removed_layer_is_forgotten_with_its_cache_file)
{
	LimgImagesOptions o = with_cache();
	g_autofree char *file = cache_file_of("a");
	g_autofree char *dir = g_build_filename(store, "a", NULL);
	LimgGen *g, *held;

	im = service(&o);
	held = get(im, "a");
	cr_assert(th_exists(file), "the cache file is sha256(%s).tree", dir);
	th_rmtree(dir);
	g = (LimgGen *)0x1;
	cr_expect_eq(limg_images_get(im, "a", &g), -ENOENT);
	cr_expect_null(g);
	{
		g_autofree char *ev = events();

		cr_expect_str_eq(ev, "a:REMOVED");
	}
	cr_expect_not(th_exists(file), "its cache file is removed");
	cr_expect_eq(stats(im).known, 0);
	cr_expect_eq(stats(im).ready, 0);
	cr_expect_not(limg_images_exists(im, "a"));
	cr_expect_eq(limg_gen_present(held), -ENOENT, "a held generation sees it is gone");
	cr_expect_eq(limg_images_get(im, "a", &g), -ENOENT);
	{
		g_autofree char *ev = events();

		cr_expect_str_eq(ev, "a:REMOVED", "told once");
	}
	limg_gen_unref(held);
}

Test(images, replaced_layer_directory_gives_a_new_generation)
{
	g_autofree char *dir = g_build_filename(store, "a", NULL);
	g_autofree char *old = g_build_filename(base, "old-a", NULL);
	g_autofree char *fresh = g_build_filename(base, "new-a", NULL);
	g_autofree uint8_t *img1 = NULL, *again = NULL;
	size_t size1, size_again;
	LimgGen *g1, *g2, *g3;

	im = service(NULL);
	g1 = get(im, "a");
	img1 = whole(g1, &size1);
	th_write_text(base, "new-a/hello", "a new layer\n");
	th_write_text(base, "new-a/more", "more\n");
	cr_assert_eq(rename(dir, old), 0);
	cr_assert_eq(rename(fresh, dir), 0);
	g2 = get(im, "a");
	cr_expect_neq(g2, g1);
	cr_expect_eq(limg_gen_number(g2), 2);
	cr_expect_eq(limg_gen_entries(g2), 3);
	{
		g_autofree char *ev = events();

		cr_expect_str_eq(ev, "a:CHANGED");
	}
	cr_expect_eq(stats(im).layouts, 2);
	g3 = get(im, "a");
	cr_expect_eq(g3, g2, "and that one stays");
	/* The old generation still serves the old layer, byte for byte. */
	again = whole(g1, &size_again);
	cr_expect_eq(size_again, size1);
	cr_expect(memcmp(again, img1, size1) == 0);
	limg_gen_unref(g1);
	limg_gen_unref(g2);
	limg_gen_unref(g3);
}

Test(images, a_layer_asked_for_before_it_was_complete_is_served_complete)
{
	/*
	 * store.h: an overlay2 layer is complete (LimgLayerInfo.complete:
	 * "may be laid out") once <id>/link exists; before that Docker is
	 * still extracting into diff/. Whatever a request meanwhile gets, the
	 * image served once the layer is complete must be all of it.
	 */
	g_autoptr(GError) error = NULL;
	LimgStore *s;
	LimgGen *g = NULL;
	int ret;

	th_mkdir(store, "l");
	th_write_text(store, "x/diff/first", "1");
	s = limg_store_new(store, "overlay2", &error);
	cr_assert_not_null(s);
	im = limg_images_new(s, &(LimgImagesOptions){ 0 });
	ret = limg_images_get(im, "x", &g);
	if (ret == 0)
		limg_gen_unref(g);
	th_write_text(store, "x/diff/dir/second", "2");   /* the extraction goes on */
	th_write_text(store, "x/link", "SHORTID");         /* and ends */
	g = get(im, "x");
	cr_expect_eq(limg_gen_entries(g), 4, "root, first, dir, dir/second: got %u entries%s",
	             limg_gen_entries(g), ret == 0 ? " (the image laid out while incomplete)" : "");
	limg_gen_unref(g);
}

/* ------------------------------------------------------------ disk cache */

/* Build "a" with a first service on the cache dir; its image. */
static uint8_t *
first_service_image(size_t *size, LimgImagesStats *st)
{
	LimgImagesOptions o = with_cache();
	LimgImages *s1 = service(&o);
	LimgGen *g = get(s1, "a");
	uint8_t *img = whole(g, size);

	*st = stats(s1);
	limg_gen_unref(g);
	limg_images_free(s1);
	return img;
}

Test(images, disk_cache_lets_a_second_service_skip_the_walk)
{
	LimgImagesOptions o = with_cache();
	LimgImagesStats st1, st2;
	g_autofree uint8_t *img1 = NULL, *img2 = NULL;
	g_autofree char *file = cache_file_of("a");
	size_t n1, n2;
	struct stat fst;
	LimgGen *g;

	img1 = first_service_image(&n1, &st1);
	cr_expect_eq(st1.walks, 1);
	cr_expect_eq(st1.disk_misses, 1);
	cr_expect_eq(st1.disk_hits, 0);
	cr_expect_eq(st1.disk_writes, 1);
	cr_assert_eq(stat(file, &fst), 0, "the cache file is sha256(key).tree");
	cr_expect_eq(st1.disk_bytes, (uint64_t)fst.st_blocks * 512, "disk use, not size");
	cr_expect(st1.disk_enabled);

	im = service(&o);
	g = get(im, "a");
	st2 = stats(im);
	cr_expect_eq(st2.walks, 0, "no walk: the tree came from the disk");
	cr_expect_eq(st2.disk_hits, 1);
	cr_expect_eq(st2.disk_misses, 0);
	cr_expect_eq(st2.disk_rejected, 0);
	cr_expect_eq(st2.disk_writes, 0, "nothing new to save");
	cr_expect_eq(st2.layouts, 1);
	cr_expect_eq(st2.disk_layouts, 1, "laid out from the hints kept with the tree");
	img2 = whole(g, &n2);
	cr_assert_eq(n2, n1);
	cr_expect(memcmp(img1, img2, n1) == 0, "the same image, byte for byte");
	limg_gen_unref(g);
}

/*
 * A cache file that holds a tree but no layout hints (format 3 wrote
 * none; a build with another LIMG_LAYOUT_HINTS_VERSION writes others):
 * used, laid out afresh, and written again once with this build's hints.
 */
Test(images, cache_file_without_hints_is_used_and_rewritten_once)
{
	LimgImagesOptions o = with_cache();
	LimgImagesStats st1, st2;
	g_autofree uint8_t *img1 = NULL, *img2 = NULL;
	g_autofree char *file = cache_file_of("a");
	g_autofree char *key = key_of("a");
	g_autoptr(GBytes) hints = NULL;
	g_auto(LimgSourceId) id = { 0 };
	LimgTree *t = NULL;
	struct stat before, after;
	size_t n1, n2;
	LimgGen *g;

	img1 = first_service_image(&n1, &st1);
	/* The same tree, saved again without its hints. */
	id.key = g_strdup(key);
	{
		LimgSource *src = NULL;
		g_auto(LimgSourceId) real = { 0 };

		cr_assert_eq(limg_dir_source_new(store, "a", &src), 0);
		cr_assert_eq(limg_source_identity(src, &real), 0);
		id.fingerprint = g_bytes_ref(real.fingerprint);
		limg_source_free(src);
	}
	cr_assert_eq(limg_persist_load_layout(cache, &id, &t, &hints), 0);
	cr_assert_not_null(hints, "the first service kept hints");
	cr_assert_eq(limg_persist_save(cache, &id, t, NULL), 0);
	limg_tree_free(t);
	cr_assert_eq(stat(file, &before), 0);

	im = service(&o);
	g = get(im, "a");
	st2 = stats(im);
	cr_expect_eq(st2.walks, 0);
	cr_expect_eq(st2.disk_hits, 1);
	cr_expect_eq(st2.disk_layouts, 0, "no hints to lay out from");
	cr_expect_eq(st2.disk_writes, 1, "written again, with hints");
	cr_assert_eq(stat(file, &after), 0);
	cr_expect_gt(after.st_size, before.st_size, "the hints were added");
	img2 = whole(g, &n2);
	cr_assert_eq(n2, n1);
	cr_expect(memcmp(img1, img2, n1) == 0, "the same image, byte for byte");
	limg_gen_unref(g);
	limg_images_free(im);

	im = service(&o);
	g = get(im, "a");
	st2 = stats(im);
	cr_expect_eq(st2.disk_layouts, 1, "the rewritten file has them");
	cr_expect_eq(st2.disk_writes, 0, "and is not written again");
	limg_gen_unref(g);
}

Test(images, verify_walk_ignores_the_disk_cache)
{
	LimgImagesOptions o = with_cache();
	LimgImagesStats st1, st2;
	g_autofree uint8_t *img1 = NULL, *img2 = NULL;
	size_t n1, n2;
	LimgGen *g;

	img1 = first_service_image(&n1, &st1);
	o.verify_walk = true;
	im = service(&o);
	g = get(im, "a");
	st2 = stats(im);
	cr_expect_eq(st2.walks, 1);
	cr_expect_eq(st2.disk_hits, 0);
	cr_expect_eq(st2.disk_rejected, 0);
	img2 = whole(g, &n2);
	cr_assert_eq(n2, n1);
	cr_expect(memcmp(img1, img2, n1) == 0);
	limg_gen_unref(g);
}

/* A second service on the cache after @change: rejected, walked, right. */
static void
expect_rejected_after(void (*change)(void), uint32_t more_entries)
{
	LimgImagesOptions o = with_cache();
	LimgImagesStats st1, st2;
	g_autofree uint8_t *img1 = NULL;
	size_t n1;
	LimgGen *g;
	uint32_t entries_before = entries_of("a") + 1;

	img1 = first_service_image(&n1, &st1);
	change();
	im = service(&o);
	g = get(im, "a");
	st2 = stats(im);
	cr_expect_eq(st2.disk_rejected, 1);
	cr_expect_eq(st2.disk_hits, 0);
	cr_expect_eq(st2.walks, 1, "walked again");
	cr_expect_eq(limg_gen_entries(g), entries_before + more_entries, "the image is the new layer");
	cr_expect_eq(st2.disk_writes, 1, "and its tree saved again");
	limg_gen_unref(g);
	limg_images_free(im);

	/* The new file is good. */
	im = service(&o);
	g = get(im, "a");
	st2 = stats(im);
	cr_expect_eq(st2.disk_hits, 1);
	cr_expect_eq(st2.walks, 0);
	limg_gen_unref(g);
}

static void
add_in_subdirectory(void)
{
	g_autofree char *a = g_build_filename(store, "a", NULL);
	struct stat before, after;

	cr_assert_eq(stat(a, &before), 0);
	th_write_text(store, "a/sub/deeper/new", "new");
	cr_assert_eq(stat(a, &after), 0);
	cr_assert(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
	          before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
	          before.st_ctim.tv_sec == after.st_ctim.tv_sec &&
	          before.st_ctim.tv_nsec == after.st_ctim.tv_nsec,
	          "the layer directory itself is unchanged (its fingerprint holds)");
}

static void
add_at_the_top(void)
{
	th_write_text(store, "a/new", "new");
}

static void
corrupt_the_file(void)
{
	g_autofree char *file = cache_file_of("a");
	size_t len;
	g_autofree uint8_t *data = th_read(file, &len);
	g_autofree char *name = g_path_get_basename(file);

	data[len / 2] ^= 0x10;
	th_write(cache, name, data, len);
}

Test(images, cache_file_of_an_edited_subdirectory_is_rejected)
{
	expect_rejected_after(add_in_subdirectory, 1);
}

Test(images, cache_file_of_a_changed_layer_directory_is_rejected)
{
	expect_rejected_after(add_at_the_top, 1);
}

Test(images, corrupt_cache_file_is_rejected)
{
	expect_rejected_after(corrupt_the_file, 0);
}

/*
 * A started service (a mount) serves a tree from the disk cache before
 * its directories are checked, and goes stale when the check, on the
 * verifier's thread, finds one changed (images.h, "Verified later").
 */
Test(images, a_started_service_serves_the_disk_cache_first_and_verifies_it_after)
{
	LimgImagesOptions o = with_cache();
	LimgImagesStats st1, st;
	g_autofree uint8_t *img1 = NULL, *img2 = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *ev = NULL;
	size_t n1, n2;
	LimgGen *g, *g2;
	int waited_ms = 0;

	img1 = first_service_image(&n1, &st1);
	add_in_subdirectory();
	o.workers = 0;
	im = service(&o);
	cr_assert(limg_images_start(im, &error), "%s", error ? error->message : "");
	g = get(im, "a");
	st = stats(im);
	cr_expect_eq(st.walks, 0, "served from the disk cache, before the directories are checked");
	cr_expect_eq(st.disk_hits, 1);
	img2 = whole(g, &n2);
	cr_assert_eq(n2, n1);
	cr_expect(memcmp(img1, img2, n1) == 0, "the image the cache file recorded, consistent");
	while (stats(im).disk_stale_later == 0 && waited_ms < 10000) {
		g_usleep(10000);
		waited_ms += 10;
	}
	cr_assert_eq(stats(im).disk_stale_later, 1, "the verifier found the new entry below the top");
	ev = events();
	cr_expect_str_eq(ev, "a:CHANGED", "the kernel's caches of it are to be dropped");
	g2 = get(im, "a");
	st = stats(im);
	cr_expect_neq(g2, g, "a new generation");
	cr_expect_eq(st.walks, 1, "laid out again from a walk");
	cr_expect_eq(limg_gen_entries(g2), limg_gen_entries(g) + 1, "the image is the new layer");
	limg_gen_unref(g2);
	limg_gen_unref(g);
}

Test(images, a_started_service_keeps_serving_an_unchanged_layer_from_the_disk_cache)
{
	LimgImagesOptions o = with_cache();
	LimgImagesStats st1;
	g_autofree uint8_t *img1 = NULL;
	g_autoptr(GError) error = NULL;
	size_t n1;
	LimgGen *g, *g2;

	img1 = first_service_image(&n1, &st1);
	o.workers = 0;
	im = service(&o);
	cr_assert(limg_images_start(im, &error), "%s", error ? error->message : "");
	g = get(im, "a");
	/* The verifier has one thread: a job queued after this one runs after it. */
	g_usleep(200000);
	g2 = get(im, "a");
	cr_expect_eq(g2, g, "the same generation");
	cr_expect_eq(stats(im).disk_stale_later, 0);
	cr_expect_eq(stats(im).walks, 0);
	limg_gen_unref(g2);
	limg_gen_unref(g);
}

/* ------------------------------------------------------------ heads */

/*
 * Layer "big": 600 files with long names in 12 directories, so that its
 * metadata runs past the head's 64 blocks and its tree is large enough
 * for a head to be kept with it (persist.h).
 */
static void
make_big_layer(void)
{
	for (int i = 0; i < 600; i++) {
		g_autofree char *p = g_strdup_printf("big/dir%02d/a-rather-long-file-name-%04d.txt",
		                                     i % 12, i);
		g_autofree char *text = g_strdup_printf("file %d\n", i);

		th_write_text(store, p, text);
	}
}

/* Build "big" in a first (unstarted) service on the cache; its image and digest. */
static uint8_t *
first_big_image(size_t *size, uint64_t *digest)
{
	LimgImagesOptions o = with_cache();
	LimgImages *s1 = service(&o);
	LimgGen *g = get(s1, "big");
	uint8_t *img = whole(g, size);

	cr_assert_gt(limg_gen_meta_blocks(g), 64, "the fixture's metadata runs past the head");
	*digest = limg_gen_digest(g);
	limg_gen_unref(g);
	limg_images_free(s1);
	return img;
}

/* A started service on the cache, no workers (a restarted mount). */
static LimgImages *
restarted(void)
{
	LimgImagesOptions o = with_cache();
	g_autoptr(GError) error = NULL;
	LimgImages *s;

	o.workers = 0;
	s = service(&o);
	cr_assert(limg_images_start(s, &error), "%s", error ? error->message : "");
	return s;
}

/* The cache file of "big" with one byte of its tree flipped (the head intact). */
static void
damage_big_tree(void)
{
	g_autofree char *file = cache_file_of("big");
	g_autofree char *name = g_path_get_basename(file);
	g_autoptr(GByteArray) f = g_byte_array_new();
	size_t len;
	g_autofree uint8_t *data = th_read(file, &len);

	g_byte_array_append(f, data, (guint)len);
	cr_assert_gt(cf_get32(f, CF_OFF_HEAD_LEN), 0, "the file has a head");
	f->data[cf_nodes_offset(f) + sizeof(LimgNode) + 4] ^= 0x21;
	th_write(cache, name, f->data, f->len);
}

Test(images, a_restarted_service_serves_the_head_before_it_reads_the_tree)
{
	g_autofree uint8_t *img1 = NULL, *img2 = NULL;
	uint8_t first[65536];
	uint64_t digest;
	size_t n1, n2;
	LimgImagesStats st;
	LimgGen *g;

	make_big_layer();
	img1 = first_big_image(&n1, &digest);
	im = restarted();
	g = get(im, "big");
	st = stats(im);
	cr_expect_eq(st.disk_hits, 1);
	cr_expect_eq(st.disk_heads, 1, "served from the head");
	cr_expect_eq(st.layouts, 0, "nothing laid out yet");
	cr_expect_eq(st.walks, 0);
	cr_expect_eq(limg_gen_size(g), n1, "the size is the head's");
	cr_expect_eq(limg_gen_digest(g), digest, "the same name as the image laid out");
	cr_assert_eq(limg_gen_pread(g, first, sizeof(first), 0), (ssize_t)sizeof(first));
	cr_expect(memcmp(first, img1, sizeof(first)) == 0, "the first 64 KiB are the image's");
	st = stats(im);
	cr_expect_eq(st.layouts, 0, "the head served them: still nothing laid out");
	cr_expect_eq(st.bytes_zero, 16 * 2048, "the system area as zeros");
	cr_expect_eq(st.bytes_meta, sizeof(first) - 16 * 2048);
	img2 = whole(g, &n2);
	cr_assert_eq(n2, n1);
	cr_expect(memcmp(img1, img2, n1) == 0, "then the whole image, byte for byte");
	st = stats(im);
	cr_expect_eq(st.layouts, 1, "laid out for the bytes past the head");
	cr_expect_eq(st.disk_layouts, 1, "from the hints kept");
	cr_expect_eq(st.walks, 0);
	cr_expect_eq(st.disk_rejected, 0);
	cr_expect_eq(st.disk_writes, 0, "nothing to save again");
	cr_expect_eq(limg_gen_digest(g), digest);
	limg_gen_unref(g);
}

Test(images, a_head_is_laid_out_by_prepare_and_then_verified)
{
	g_autofree uint8_t *img1 = NULL;
	uint64_t digest;
	size_t n1;
	int waited_ms = 0;
	LimgGen *g;

	make_big_layer();
	img1 = first_big_image(&n1, &digest);
	im = restarted();
	g = get(im, "big");
	limg_gen_prerender(g, 128);
	cr_expect_eq(stats(im).layouts, 0, "a lookup's prerender leaves a head alone");
	limg_gen_prepare(g);
	while (stats(im).layouts == 0 && waited_ms < 30000) {
		g_usleep(10000);
		waited_ms += 10;
	}
	cr_expect_eq(stats(im).layouts, 1, "prepare lays it out (on the completer's thread)");
	/* Changed below the top: the verifier, run after the layout, sees it. */
	th_write_text(store, "big/dir03/new", "new");
	limg_gen_unref(g);
	limg_images_free(im);
	im = restarted();
	g = get(im, "big");
	limg_gen_prepare(g);
	waited_ms = 0;
	while (stats(im).disk_stale_later == 0 && waited_ms < 30000) {
		g_usleep(10000);
		waited_ms += 10;
	}
	cr_expect_eq(stats(im).disk_stale_later, 1, "the verifier checked the tree read for the head");
	limg_gen_unref(g);
	g = get(im, "big");
	cr_expect_eq(stats(im).walks, 1, "and the next get walked the changed layer");
	limg_gen_unref(g);
}

Test(images, a_tree_damaged_behind_a_good_head_is_walked_and_serves_the_same_image)
{
	g_autofree uint8_t *img1 = NULL, *img2 = NULL;
	uint8_t first[65536];
	uint64_t digest;
	size_t n1, n2;
	LimgImagesStats st;
	LimgGen *g;

	make_big_layer();
	img1 = first_big_image(&n1, &digest);
	damage_big_tree();
	im = restarted();
	g = get(im, "big");
	cr_expect_eq(stats(im).disk_heads, 1, "the head checks out on its own");
	cr_assert_eq(limg_gen_pread(g, first, sizeof(first), 0), (ssize_t)sizeof(first));
	cr_expect(memcmp(first, img1, sizeof(first)) == 0);
	img2 = whole(g, &n2);
	cr_assert_eq(n2, n1, "no read error: the walk gave the same layout");
	cr_expect(memcmp(img1, img2, n1) == 0, "the image, byte for byte");
	st = stats(im);
	cr_expect_eq(st.disk_rejected, 1, "the tree was rejected");
	cr_expect_eq(st.walks, 1, "and the layer walked instead");
	cr_expect_eq(st.read_errors, 0);
	cr_expect_eq(st.disk_writes, 1, "a good file saved again");
	limg_gen_unref(g);
	limg_images_free(im);
	im = restarted();
	g = get(im, "big");
	img2 = (g_free(img2), whole(g, &n2));
	st = stats(im);
	cr_expect_eq(st.disk_heads, 1);
	cr_expect_eq(st.walks, 0, "the new file serves the next restart");
	cr_expect(memcmp(img1, img2, n1) == 0);
	limg_gen_unref(g);
}

Test(images, a_head_the_layer_no_longer_matches_gives_errors_never_other_bytes)
{
	g_autofree uint8_t *img1 = NULL, *img3 = NULL;
	uint8_t first[65536], *rest;
	uint64_t digest;
	size_t n1, n3;
	ssize_t r;
	LimgGen *g, *g2;

	make_big_layer();
	img1 = first_big_image(&n1, &digest);
	damage_big_tree();
	/* Below the top: the layer directory's fingerprint does not see it. */
	th_write_text(store, "big/dir05/added-while-the-daemon-was-down", "new");
	im = restarted();
	g = get(im, "big");
	cr_assert_eq(limg_gen_pread(g, first, sizeof(first), 0), (ssize_t)sizeof(first));
	cr_expect(memcmp(first, img1, sizeof(first)) == 0, "the head: the layer as recorded");
	rest = g_malloc(n1);
	r = limg_gen_pread(g, rest, n1 - sizeof(first), sizeof(first));
	cr_expect_eq(r, -EIO, "past the head: the walk finds another layer, so errors (%zd)", r);
	g_free(rest);
	cr_expect_eq(stats(im).disk_rejected, 1);
	cr_expect_geq(stats(im).read_errors, 1);
	g2 = get(im, "big");
	cr_expect_neq(g2, g, "the image went stale: a new generation");
	img3 = whole(g2, &n3);
	cr_expect_eq(limg_gen_entries(g2), limg_gen_entries(g) + 1, "of the layer as it is");
	limg_gen_unref(g2);
	limg_gen_unref(g);
}

Test(images, an_unstarted_service_never_serves_a_head)
{
	g_autofree uint8_t *img1 = NULL;
	LimgImagesOptions o = with_cache();
	uint64_t digest;
	size_t n1;
	LimgGen *g;

	make_big_layer();
	img1 = first_big_image(&n1, &digest);
	im = service(&o);
	g = get(im, "big");
	cr_expect_eq(stats(im).disk_hits, 1);
	cr_expect_eq(stats(im).disk_heads, 0, "render verifies before use: the whole tree");
	cr_expect_eq(stats(im).layouts, 1);
	limg_gen_unref(g);
}

Test(images, a_head_written_with_other_options_is_not_used)
{
	g_autofree uint8_t *img1 = NULL;
	LimgImagesOptions o = with_cache();
	g_autoptr(GError) error = NULL;
	uint8_t pvd[2048];
	uint64_t digest;
	size_t n1;
	LimgGen *g;

	make_big_layer();
	img1 = first_big_image(&n1, &digest);
	o.workers = 0;
	o.volume_id = "OTHERVOL";
	im = service(&o);
	cr_assert(limg_images_start(im, &error), "%s", error ? error->message : "");
	g = get(im, "big");
	cr_expect_eq(stats(im).disk_heads, 0, "its head has the other volume id");
	cr_expect_eq(stats(im).disk_hits, 1, "the tree is still used");
	cr_assert_eq(limg_gen_pread(g, pvd, sizeof(pvd), 16 * 2048), (ssize_t)sizeof(pvd));
	cr_expect(memcmp(pvd + 40, "OTHERVOL", 8) == 0, "the volume id asked for");
	limg_gen_unref(g);
}

static void
expect_memory_only(const char *cache_dir)
{
	LimgImagesOptions o = { .cache_dir = cache_dir };
	LimgImagesStats st;
	g_autofree uint8_t *img = NULL;
	size_t n;
	LimgGen *g;

	im = service(&o);
	cr_expect(stats(im).disk_enabled, "nothing has failed yet");
	g = get(im, "a");
	st = stats(im);
	cr_expect_not(st.disk_enabled, "%s: the disk cache is off", cache_dir);
	cr_expect_eq(st.disk_writes, 0);
	cr_expect_eq(st.disk_bytes, 0);
	cr_expect_eq(st.ready, 1, "and the image is served from memory");
	img = whole(g, &n);
	cr_expect_gt(n, 0);
	limg_gen_unref(g);
	make_layer("b");
	g = get(im, "b");
	cr_expect_eq(stats(im).disk_writes, 0);
	limg_gen_unref(g);
}

Test(images, cache_dir_that_is_a_file_degrades_to_memory)
{
	g_autofree char *file = g_build_filename(base, "file", NULL);

	th_write_text(base, "file", "not a directory");
	expect_memory_only(file);
}

Test(images, read_only_cache_dir_degrades_to_memory)
{
	cr_assert_eq(chmod(cache, 0555), 0);
	th_dac_drop();   /* before any thread: root obeys the mode bits too */
	expect_memory_only(cache);
	th_dac_restore();
	chmod(cache, 0755);
}

/* ------------------------------------------------------------ reports */

/* Layer "s" with a directory the walk cannot read (as root too, once DAC is dropped). */
static char *
make_unreadable_layer(void)
{
	char *secret = g_build_filename(store, "s", "secret", NULL);

	th_write_text(store, "s/ok", "fine");
	th_write_text(store, "s/secret/hidden", "never read");
	cr_assert_eq(chmod(secret, 0), 0);
	th_dac_drop();
	{
		int fd = open(secret, O_RDONLY | O_DIRECTORY);

		cr_assert_lt(fd, 0, "the test needs %s to be unreadable", secret);
	}
	return secret;
}

Test(images, report_hook_receives_the_warnings_of_a_scan)
{
	LimgImagesOptions o = { .report = on_report, .report_ctx = &reports };
	g_autofree char *secret = make_unreadable_layer();
	LimgGen *g;

	im = service(&o);
	g = get(im, "s");
	cr_expect_eq(reports.calls, 1, "one report per build");
	cr_expect_str_eq(reports.name ? reports.name : "", "s");
	cr_expect_eq(reports.skipped, 1, "the contents of secret/ were left out");
	cr_expect_geq(reports.n_warnings, 1);
	cr_expect(strstr(reports.warnings->str, "secret") != NULL, "the warning names it: %s",
	          reports.warnings->str);
	cr_expect_eq(reports.n_errors, 0);
	cr_expect_eq(limg_gen_entries(g), 3, "root, ok, secret (without its contents)");
	limg_gen_unref(g);
	th_dac_restore();
	chmod(secret, 0755);
}

Test(images, report_hook_receives_compatibility_findings)
{
	LimgImagesOptions o = { .report = on_report, .report_ctx = &reports };
	char name[255];
	LimgGen *g;

	memset(name, 'n', 254);
	name[254] = 0;
	th_mkdir(store, "long");
	{
		/* Written directly: g_file_set_contents' temporary name would be too long. */
		g_autofree char *path = g_build_filename(store, "long", name, NULL);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

		cr_assert_geq(fd, 0, "%s", strerror(errno));
		cr_assert_eq(write(fd, "x", 1), 1);
		close(fd);
	}
	im = service(&o);
	g = get(im, "long");
	cr_expect_eq(reports.calls, 1);
	cr_expect_eq(reports.skipped, 0);
	cr_expect_eq(reports.n_warnings, 0);
	cr_expect_eq(reports.compat[LIMG_COMPAT_LONG_NAME], 1, "a 254-byte name is noted");
	limg_gen_unref(g);
	g = get(im, "long");
	cr_expect_eq(reports.calls, 1, "no build, no report");
	limg_gen_unref(g);
}

Test(images, strict_refuses_a_layer_with_an_unreadable_entry)
{
	LimgImagesOptions o = { .strict = true, .report = on_report, .report_ctx = &reports };
	g_autofree char *secret = make_unreadable_layer();
	LimgImagesStats st;
	LimgGen *g = (LimgGen *)0x1;
	int ret;

	im = service(&o);
	ret = limg_images_get(im, "s", &g);
	cr_expect_lt(ret, 0, "strict: refused");
	cr_expect_eq(ret, -EIO);
	cr_expect_null(g);
	cr_expect_eq(reports.calls, 1, "the report says why");
	cr_expect_eq(reports.skipped, 1);
	cr_expect(strstr(reports.warnings->str, "secret") != NULL);
	st = stats(im);
	cr_expect_eq(st.failed, 1);
	cr_expect_eq(st.ready, 0);
	cr_expect_eq(st.layouts, 0);

	/* Not strict: served without what cannot be read. */
	g = get(im, "a");
	limg_gen_unref(g);
	th_dac_restore();
	chmod(secret, 0755);
	g = get(im, "s");
	cr_expect_eq(limg_gen_entries(g), 4, "readable now: everything is in");
	st = stats(im);
	cr_expect_eq(st.failed, 0);
	cr_expect_eq(st.ready, 2);
	limg_gen_unref(g);
}

/* ------------------------------------------------------------ precompute */

typedef struct {
	LimgImages *im;
	uint64_t done;
	unsigned ready;
	const char *event;      /* wait for this notification, or NULL */
} Until;

static bool
reached(void *data)
{
	Until *u = data;
	LimgImagesStats st = stats(u->im);

	if (u->event) {
		g_autofree char *ev = events();

		if (!strstr(ev, u->event))
			return false;
	}
	return st.queue.done >= u->done && st.ready >= u->ready;
}

Test(images, settle_retries_a_just_written_layer_then_serves_it)
{
	LimgImagesOptions o = { .workers = 1, .settle_ms = 800 };
	g_autoptr(GError) error = NULL;
	LimgImagesStats st;
	int64_t t0 = g_get_real_time();
	LimgGen *g;

	th_write_text(store, "a/hello", "hello again\n");   /* written just now */
	im = service(&o);
	cr_assert(limg_images_start(im, &error), "%s", error ? error->message : "");
	cr_assert(th_wait_for(reached, &(Until){ im, 1, 1, NULL }, 15000), "never became ready");
	st = stats(im);
	/* The file's ctime is from the kernel's coarse clock: up to a tick before t0. */
	cr_expect_geq(g_get_real_time() - t0, 790 * 1000, "not before the settle time");
	cr_expect_geq(st.queue.retried, 1, "the young layer was retried");
	cr_expect_geq(st.walks, 2, "walked, refused, walked again");
	cr_expect_eq(st.layouts, 1);
	cr_expect_eq(st.queue.done, 1);
	cr_expect_eq(st.queue.failed, 0);
	g = get(im, "a");
	cr_expect_eq(stats(im).layouts, 1, "a request finds it ready");
	cr_expect_eq(limg_gen_number(g), 1, "the first generation: a refused try builds none");
	limg_gen_unref(g);
	limg_images_stop(im);
	limg_images_stop(im);
}

Test(images, a_request_does_not_wait_for_the_settle_time)
{
	LimgImagesOptions o = { .settle_ms = 5000 };
	int64_t t0 = g_get_monotonic_time();
	LimgGen *g;

	im = service(&o);
	g = get(im, "a");
	cr_expect_lt(g_get_monotonic_time() - t0, 4000 * 1000, "settling is for precompute only");
	limg_gen_unref(g);
}

Test(images, prerender_puts_the_first_blocks_in_the_cache)
{
	LimgImagesOptions o = { .workers = 1, .prerender = 18 };
	g_autoptr(GError) error = NULL;
	LimgImagesStats st;
	LimgGen *g;
	GBytes *b;

	im = service(&o);
	cr_assert(limg_images_start(im, &error));
	cr_assert(th_wait_for(reached, &(Until){ im, 1, 1, NULL }, 15000));
	st = stats(im);
	cr_expect_eq(st.blocks.blocks, 2, "blocks 16 and 17: the system area is never rendered");
	cr_expect_eq(st.meta_rendered, 2);
	g = get(im, "a");
	b = limg_gen_block(g, 16);
	cr_assert_not_null(b);
	st = stats(im);
	cr_expect_eq(st.blocks.hits, 1, "the first read finds the block ready");
	cr_expect_eq(st.meta_rendered, 2);
	g_bytes_unref(b);
	limg_gen_unref(g);
}

/* What the mount does after a lookup: only blocks not rendered before. */
Test(images, prerender_of_a_generation_renders_each_block_once)
{
	LimgImagesOptions o = { .workers = 0, .prerender = 20 };
	LimgImagesStats st;
	LimgGen *g;

	im = service(&o);
	g = get(im, "a");
	cr_assert_geq(limg_gen_meta_blocks(g), 20, "the layer has 20 blocks of metadata");
	cr_expect_eq(stats(im).meta_rendered, 0, "nothing rendered by the layout");
	limg_gen_prerender(g, 18);
	cr_expect_eq(stats(im).meta_rendered, 2, "blocks 16 and 17");
	limg_gen_prerender(g, 18);
	cr_expect_eq(stats(im).meta_rendered, 2, "not again");
	limg_gen_prerender(g, UINT32_MAX);
	st = stats(im);
	cr_expect_eq(st.meta_rendered, 4, "18 and 19: at most the options' prerender");
	cr_expect_eq(st.blocks.blocks, 4);
	limg_gen_unref(g);
}

/*
 * The digest names open files across worker restarts, so its formula is
 * a contract with every older worker: FNV-1a over these fields, in this
 * order, and the primary volume descriptor.
 */
static uint64_t
digest_by_its_definition(LimgGen *g)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint64_t size = limg_gen_size(g), data = limg_gen_data_bytes(g);
	uint32_t bs = limg_gen_block_size(g), meta = limg_gen_meta_blocks(g);
	uint32_t entries = limg_gen_entries(g);
	int64_t mtime = limg_gen_mtime(g);
	const char *name = limg_gen_name(g);
	g_autoptr(GBytes) pvd = limg_gen_block(g, 16);
	gsize len;
	const uint8_t *p = g_bytes_get_data(pvd, &len);
	const void *fields[] = { &size, &data, &bs, &meta, &entries, &mtime };
	const size_t sizes[] = { 8, 8, 4, 4, 4, 8 };

#define FNV(ptr, n) \
	for (size_t i_ = 0; i_ < (n); i_++) { \
		h ^= ((const uint8_t *)(ptr))[i_]; \
		h *= 0x100000001b3ull; \
	}
	FNV(name, strlen(name) + 1);
	for (size_t f = 0; f < G_N_ELEMENTS(fields); f++)
		FNV(fields[f], sizes[f]);
	FNV(p, len);
#undef FNV
	h &= ~(1ull << 63);
	return h ? h : 1;
}

Test(images, digest_is_computed_once_and_the_same_in_another_service)
{
	LimgImagesOptions o = { .workers = 0 };
	LimgImages *other;
	LimgGen *g, *g2;
	uint64_t d;

	im = service(&o);
	g = get(im, "a");
	d = limg_gen_digest(g);
	cr_expect_eq(d, digest_by_its_definition(g));
	cr_expect_eq(d >> 63, 0, "the top bit is the mount's, for text handles");
	cr_expect_eq(stats(im).meta_rendered, 1, "the volume descriptor, once");
	cr_expect_eq(limg_gen_digest(g), d);
	cr_expect_eq(stats(im).blocks.hits, 1, "the definition's own lookup, not the digest's");
	other = service(&o);
	g2 = get(other, "a");
	cr_expect_eq(limg_gen_digest(g2), d, "another worker names the same bytes alike");
	limg_gen_unref(g2);
	limg_images_free(other);
	limg_gen_unref(g);
}

Test(images, prerender_default_renders_all_the_metadata_of_a_small_layer)
{
	LimgImagesOptions o = { .workers = 1 };
	g_autoptr(GError) error = NULL;
	LimgImagesStats st;
	LimgGen *g;

	im = service(&o);
	cr_assert(limg_images_start(im, &error));
	cr_assert(th_wait_for(reached, &(Until){ im, 1, 1, NULL }, 15000));
	g = get(im, "a");
	st = stats(im);
	cr_expect_gt(st.blocks.blocks, 0);
	cr_expect_eq(st.blocks.blocks, limg_gen_meta_blocks(g) - 16);
	cr_expect_eq(st.blocks.bytes, st.blocks.blocks * 2048);
	limg_gen_unref(g);
}

Test(images, start_queues_every_layer_and_builds_each_once)
{
	LimgImagesOptions o = { .workers = 2 };
	g_autoptr(GError) error = NULL;
	LimgImagesStats st;

	make_layer("b");
	make_layer("c");
	im = service(&o);
	cr_assert(limg_images_start(im, &error));
	cr_assert(th_wait_for(reached, &(Until){ im, 3, 3, NULL }, 15000));
	st = stats(im);
	cr_expect_eq(st.layers, 3);
	cr_expect_eq(st.known, 3);
	cr_expect_eq(st.ready, 3);
	cr_expect_eq(st.layouts, 3);
	cr_expect_eq(st.queue.done, 3);
	cr_expect_eq(st.queue.queued + st.queue.delayed + st.queue.running, 0);
}

Test(images, watcher_builds_new_layers_and_forgets_removed_ones)
{
	LimgImagesOptions o = { .workers = 1, .settle_ms = 100, .cache_dir = cache };
	g_autoptr(GError) error = NULL;
	g_autofree char *b = g_build_filename(store, "b", NULL);
	g_autofree char *bfile = cache_file_of("b");
	LimgImagesStats st;

	im = service(&o);
	cr_assert(limg_images_start(im, &error));
	cr_assert(th_wait_for(reached, &(Until){ im, 1, 1, NULL }, 15000));
	make_layer("b");
	cr_assert(th_wait_for(reached, &(Until){ im, 2, 2, NULL }, 15000),
	          "a new layer is laid out without a request");
	st = stats(im);
	cr_expect_eq(st.layouts, 2);
	cr_expect_eq(st.known, 2);
	cr_expect(th_exists(bfile));
	th_rmtree(b);
	cr_assert(th_wait_for(reached, &(Until){ im, 0, 0, "b:REMOVED" }, 15000),
	          "the removal was never noticed");
	st = stats(im);
	cr_expect_eq(st.known, 1);
	cr_expect_eq(st.ready, 1);
	cr_expect_not(th_exists(bfile), "its cache file went with it");
	{
		g_autofree char *ev = events();

		cr_expect_str_eq(ev, "b:REMOVED");
	}
}

Test(images, the_store_watcher_runs_without_workers)
{
	/*
	 * images.h: limg_images_start() starts "the background workers (if
	 * opts.workers) and the store watcher": a removed layer is told to
	 * the listener without waiting for a request.
	 */
	LimgImagesOptions o = { .workers = 0 };
	g_autoptr(GError) error = NULL;
	g_autofree char *a = g_build_filename(store, "a", NULL);
	LimgGen *g;

	im = service(&o);
	cr_assert(limg_images_start(im, &error));
	g = get(im, "a");
	limg_gen_unref(g);
	th_rmtree(a);
	cr_expect(th_wait_for(reached, &(Until){ im, 0, 0, "a:REMOVED" }, 3000),
	          "no REMOVED without a request: the watcher is not running");
}

/* ------------------------------------------------------------ stats */

Test(images, stats_are_consistent)
{
	LimgImagesOptions o = { .cache_dir = cache, .cache_mem = 64 * 2048, .handles = 2 };
	LimgImagesStats st;
	LimgGen *ga, *gb;
	uint64_t read = 0;
	size_t n;

	make_layer("b");
	make_layer("c");
	im = service(&o);
	st = stats(im);
	cr_expect_eq(st.layers, 3);
	cr_expect_eq(st.known, 0);
	cr_expect_eq(st.blocks.budget, 64 * 2048);
	ga = get(im, "a");
	gb = get(im, "b");
	{
		g_autofree uint8_t *img = whole(ga, &n);

		read += n;
	}
	st = stats(im);
	cr_expect_eq(st.layers, 3);
	cr_expect_eq(st.known, 2);
	cr_expect_eq(st.ready, 2);
	cr_expect_eq(st.failed, 0);
	cr_expect_eq(st.building, 0);
	cr_expect_eq(st.layouts, 2);
	cr_expect_eq(st.walks, 2);
	cr_expect_leq(st.walk_usec, st.layout_usec, "the walks are part of the builds");
	cr_expect_eq(st.entries, (uint64_t)limg_gen_entries(ga) + limg_gen_entries(gb));
	cr_expect_eq(st.disk_misses, 2);
	cr_expect_eq(st.disk_writes, 2);
	{
		g_autofree char *fa = cache_file_of("a");
		g_autofree char *fb = cache_file_of("b");
		struct stat sa, sb;

		cr_assert_eq(stat(fa, &sa), 0);
		cr_assert_eq(stat(fb, &sb), 0);
		cr_expect_eq(st.disk_bytes, (uint64_t)(sa.st_blocks + sb.st_blocks) * 512);
	}
	cr_expect_eq(st.bytes_meta + st.bytes_data + st.bytes_zero, read);
	cr_expect_eq(st.bytes_meta, (uint64_t)(limg_gen_meta_blocks(ga) - 16) * 2048);
	cr_expect_eq(st.bytes_data, limg_gen_data_bytes(ga));
	cr_expect_eq(st.meta_rendered, limg_gen_meta_blocks(ga) - 16);
	cr_expect_eq(st.blocks.blocks, limg_gen_meta_blocks(ga) - 16);
	cr_expect_eq(st.blocks.misses, st.blocks.blocks);
	cr_expect_eq(st.handles, 2, "three files read, two handles kept");
	cr_expect_eq(st.read_errors, 0);
	cr_expect_eq(st.source_changes, 0);
	cr_expect_eq(st.queue.queued + st.queue.running + st.queue.done, 0, "no workers");
	limg_gen_unref(ga);
	limg_gen_unref(gb);
	st = stats(im);
	cr_expect_eq(st.ready, 2, "generations stay with their images");
}
