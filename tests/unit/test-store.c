/*
 * test-store.c - layer stores (store/store.h): which directories are
 * layers (plain and overlay2 stores, store=auto and its re-detection,
 * explicit -o layer= layers), what their records say, and that nothing a
 * store holds can make it serve a directory outside itself.
 *
 * The corpus tests/data/should-fail/stores/ (*.layout files) describes bad and
 * easily misread stores in a small text format (its README); each file is
 * built in a scratch directory and checked against its expectations.
 */
#include <config.h>

#include <fcntl.h>
#include <unistd.h>

#include "store/store.h"
#include "lib/testlib.h"

#include <criterion/parameterized.h>

static char *base;          /* scratch: holds src/ and outside/ */
static char *source;        /* SOURCE */
static char *outside;       /* directories outside SOURCE */

static void
setup(void)
{
	base = th_tmpdir();
	source = g_build_filename(base, "src", NULL);
	outside = g_build_filename(base, "outside", NULL);
	th_mkdir(base, "src");
	th_mkdir(base, "outside");
}

static void
teardown(void)
{
	th_rmtree(base);
	g_free(base);
	g_free(source);
	g_free(outside);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 30);

static LimgStore *
open_store(const char *kind)
{
	return th_store_open(source, kind);
}


static void
symlink_at(const char *dir, const char *rel, const char *target)
{
	g_autofree char *p = g_build_filename(dir, rel, NULL);
	g_autofree char *parent = g_path_get_dirname(p);

	cr_assert_eq(g_mkdir_with_parents(parent, 0755), 0);
	cr_assert_eq(symlink(target, p), 0, "symlink %s: %s", p, strerror(errno));
}

/* The record says what the directory root/rel is, and it is a real one. */
static void
expect_record_matches_disk(const LimgLayerInfo *li)
{
	g_autofree char *path = g_build_filename(li->root, li->rel, NULL);
	g_autofree char *lpath = limg_layer_info_path(li);
	struct stat st;

	cr_expect_eq(li->kind, LIMG_LAYER_DIR, "%s: kind", li->id);
	cr_assert_not_null(li->rel, "%s: rel", li->id);
	cr_assert_eq(lstat(path, &st), 0, "%s: %s: %s", li->id, path, strerror(errno));
	cr_expect(S_ISDIR(st.st_mode), "%s: %s is a real directory, never a symlink", li->id,
	          path);
	cr_expect_eq(li->dev, (uint64_t)st.st_dev, "%s: dev", li->id);
	cr_expect_eq(li->ino, (uint64_t)st.st_ino, "%s: ino", li->id);
	cr_expect_eq(li->mtime, (int64_t)st.st_mtim.tv_sec, "%s: mtime", li->id);
	{
		g_autofree char *want = g_canonicalize_filename(path, NULL);
		g_autofree char *got = g_canonicalize_filename(lpath, NULL);

		cr_expect_str_eq(got, want, "%s: limg_layer_info_path", li->id);
	}
}

/* Two records of one layer agree. */
static void
expect_same_record(const LimgLayerInfo *a, const LimgLayerInfo *b)
{
	cr_expect_str_eq(a->id, b->id);
	cr_expect_str_eq(a->root, b->root, "%s: root", a->id);
	cr_expect_str_eq(a->rel, b->rel, "%s: rel", a->id);
	cr_expect_eq(a->dev, b->dev, "%s: dev", a->id);
	cr_expect_eq(a->ino, b->ino, "%s: ino", a->id);
	cr_expect_eq(a->complete, b->complete, "%s: complete", a->id);
	cr_expect_eq(a->settle, b->settle, "%s: settle", a->id);
}

/* ------------------------------------------------------------ the corpus */

#define STORES "tests/data/should-fail/stores"
#define STORES_MAX 128

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.layout files, sorted; no Criterion calls (runs to make parameters). */
static char **
layout_files(void)
{
	g_autofree char *dir = th_data_path(STORES);
	GPtrArray *names = g_ptr_array_new();
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d)) != NULL) {
		if (g_str_has_suffix(name, ".layout"))
			g_ptr_array_add(names, g_strdup(name));
	}
	if (d)
		g_dir_close(d);
	g_ptr_array_sort(names, cmp_str);
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}

/* Replace a leading "@outside" by the outside directory. */
static char *
resolve_target(const char *t)
{
	if (g_str_has_prefix(t, "@outside"))
		return g_strconcat(outside, t + strlen("@outside"), NULL);
	return g_strdup(t);
}

static const LimgLayerInfo *
find_layer(GPtrArray *layers, const char *id)
{
	for (guint i = 0; i < layers->len; i++) {
		const LimgLayerInfo *li = layers->pdata[i];

		if (strcmp(li->id, id) == 0)
			return li;
	}
	return NULL;
}

static void
run_layout(const char *file)
{
	g_autofree char *path = g_build_filename(th_srcdir(), STORES, file, NULL);
	g_autofree char *text = (char *)th_read(path, NULL);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	g_autofree char *kind = NULL;
	g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(GPtrArray) layers = NULL;
	bool have_ids = false;

	/* Build. */
	for (guint i = 0; lines[i]; i++) {
		const char *l = lines[i];

		if (!*l || *l == '#' || g_str_has_prefix(l, "expect-"))
			continue;
		if (g_str_has_prefix(l, "store ")) {
			g_free(kind);
			kind = g_strdup(l + 6);
		} else if (g_str_has_prefix(l, "dir ")) {
			th_mkdir(source, l + 4);
		} else if (g_str_has_prefix(l, "file ")) {
			th_write(source, l + 5, "", 0);
		} else if (g_str_has_prefix(l, "outside ")) {
			th_mkdir(outside, l + 8);
		} else if (g_str_has_prefix(l, "symlink ")) {
			g_auto(GStrv) f = g_strsplit(l + 8, " -> ", 2);
			g_autofree char *target = NULL;

			cr_assert(f[0] && f[1], "%s: bad line: %s", file, l);
			target = resolve_target(f[1]);
			symlink_at(source, f[0], target);
		} else if (g_str_has_prefix(l, "layer ")) {
			const char *colon = strchr(l + 6, ':');

			cr_assert_not_null(colon, "%s: bad line: %s", file, l);
			g_ptr_array_add(specs, g_strdup_printf("%.*s:%s/%s", (int)(colon - (l + 6)),
			                                       l + 6, outside, colon + 1));
		} else {
			cr_assert_fail("%s: unknown line: %s", file, l);
		}
	}
	s = open_store(kind);
	for (guint i = 0; i < specs->len; i++) {
		g_autoptr(GError) error = NULL;

		cr_assert(limg_store_add_spec(s, specs->pdata[i], &error), "%s: layer=%s: %s", file,
		          (char *)specs->pdata[i], error ? error->message : "");
	}
	layers = limg_store_list(s);

	/* Check. */
	for (guint i = 0; lines[i]; i++) {
		const char *l = lines[i];
		g_auto(GStrv) f = NULL;
		guint n;

		if (!g_str_has_prefix(l, "expect-"))
			continue;
		f = g_strsplit(l, " ", -1);
		n = g_strv_length(f);
		if (strcmp(f[0], "expect-kind") == 0) {
			cr_assert_eq(n, 2, "%s: %s", file, l);
			cr_expect_str_eq(limg_store_kind(s), f[1], "%s: kind", file);
		} else if (strcmp(f[0], "expect-ids") == 0) {
			g_autofree char *got = th_store_ids(s);
			g_autofree char *want = g_strjoinv(" ", f + 1);

			have_ids = true;
			cr_expect_str_eq(got, want, "%s: listed [%s], want [%s]", file, got, want);
			for (guint k = 1; k < n; k++) {
				g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, f[k]);
				const LimgLayerInfo *listed = find_layer(layers, f[k]);

				cr_expect_not_null(li, "%s: lookup %s", file, f[k]);
				if (li && listed)
					expect_same_record(li, listed);
			}
			for (guint k = 0; k < layers->len; k++)
				expect_record_matches_disk(layers->pdata[k]);
		} else if (strcmp(f[0], "expect-missing") == 0) {
			for (guint k = 1; k < n; k++) {
				g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, f[k]);

				cr_expect_null(li, "%s: %s must not be a layer (it is %s/%s)", file, f[k],
				               li ? li->root : "", li ? li->rel : "");
				cr_expect_null(find_layer(layers, f[k]), "%s: %s must not be listed",
				               file, f[k]);
			}
		} else if (strcmp(f[0], "expect-complete") == 0) {
			g_autoptr(LimgLayerInfo) li = NULL;

			cr_assert_eq(n, 3, "%s: %s", file, l);
			li = limg_store_lookup(s, f[1]);
			cr_assert_not_null(li, "%s: lookup %s", file, f[1]);
			cr_expect_eq(li->complete, strcmp(f[2], "yes") == 0, "%s: %s complete", file,
			             f[1]);
		} else if (strcmp(f[0], "expect-rel") == 0) {
			g_autoptr(LimgLayerInfo) li = NULL;
			g_autofree char *want_root = g_canonicalize_filename(source, NULL);

			cr_assert_eq(n, 3, "%s: %s", file, l);
			li = limg_store_lookup(s, f[1]);
			cr_assert_not_null(li, "%s: lookup %s", file, f[1]);
			cr_expect_str_eq(li->root, want_root, "%s: %s root", file, f[1]);
			cr_expect_str_eq(li->rel, f[2], "%s: %s rel", file, f[1]);
		} else if (strcmp(f[0], "expect-root") == 0) {
			g_autoptr(LimgLayerInfo) li = NULL;
			g_autofree char *out_root = g_canonicalize_filename(outside, NULL);

			cr_assert_eq(n, 3, "%s: %s", file, l);
			cr_assert_str_eq(f[2], "outside", "%s: %s", file, l);
			li = limg_store_lookup(s, f[1]);
			cr_assert_not_null(li, "%s: lookup %s", file, f[1]);
			cr_expect(g_str_has_prefix(li->root, out_root) &&
			          li->root[strlen(out_root)] == '/',
			          "%s: %s is served from %s/%s, not from outside/", file, f[1], li->root,
			          li->rel);
		} else {
			cr_assert_fail("%s: unknown expectation: %s", file, l);
		}
	}
	cr_expect(have_ids, "%s: no expect-ids line", file);
}

ParameterizedTestParameters(store, layout_corpus_file_holds_its_expectations)
{
	static int idx[STORES_MAX];
	char **files = layout_files();
	size_t n = g_strv_length(files);

	g_strfreev(files);
	n = n ? MIN(n, STORES_MAX) : 1;   /* none: one test that reports it */
	for (size_t i = 0; i < n; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, n);
}

ParameterizedTest(int *i, store, layout_corpus_file_holds_its_expectations)
{
	g_auto(GStrv) files = layout_files();

	cr_assert_lt((guint)*i, g_strv_length(files), "no layout file %d in %s", *i, STORES);
	cr_log_info("%s", files[*i]);
	run_layout(files[*i]);
}

Test(store, layout_corpus_is_there)
{
	g_auto(GStrv) files = layout_files();

	cr_expect_geq(g_strv_length(files), 10, "the store corpus in %s/%s is missing",
	              th_srcdir(), STORES);
}

/* ------------------------------------------------------------ names */

Test(store, valid_names)
{
	char n250[251], n251[252];

	memset(n250, 'x', 250);
	n250[250] = 0;
	memset(n251, 'x', 251);
	n251[251] = 0;
	cr_expect(limg_store_valid_name("a"));
	cr_expect(limg_store_valid_name("a.b"));
	cr_expect(limg_store_valid_name("a."));
	cr_expect(limg_store_valid_name("0123456789abcdef"));
	cr_expect(limg_store_valid_name(n250));
	cr_expect_not(limg_store_valid_name(n251));
	cr_expect_not(limg_store_valid_name(""));
	cr_expect_not(limg_store_valid_name("."));
	cr_expect_not(limg_store_valid_name(".."));
	cr_expect_not(limg_store_valid_name(".x"));
	cr_expect_not(limg_store_valid_name("a/b"));
	cr_expect_not(limg_store_valid_name("/a"));
	cr_expect_not(limg_store_valid_name("a/"));
}

Test(store, list_is_sorted_bytewise_over_source_and_explicit_layers)
{
	static const char *const dirs[] = { "b", "a", "B", "_", "aa", "\xc3\xa9", "a-b", "a0" };
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *spec = g_strdup_printf("ab:%s", outside);
	g_autofree char *got = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++)
		th_mkdir(source, dirs[i]);
	s = open_store("plain");
	cr_assert(limg_store_add_spec(s, spec, &error));
	got = th_store_ids(s);
	cr_expect_str_eq(got, "B _ a a-b a0 aa ab b \xc3\xa9");
}

Test(store, lookup_of_missing_and_invalid_names_finds_nothing)
{
	g_autoptr(LimgStore) s = NULL;
	char n251[252], n250[251];

	memset(n251, 'n', 251);
	n251[251] = 0;
	memset(n250, 'n', 250);
	n250[250] = 0;
	th_mkdir(source, "a/b");
	th_mkdir(source, ".x");
	th_mkdir(source, n251);
	th_mkdir(source, n250);
	s = open_store("plain");
	cr_expect_null(limg_store_lookup(s, "missing"));
	cr_expect_null(limg_store_lookup(s, ""));
	cr_expect_null(limg_store_lookup(s, ".x"), "a directory named .x is no layer");
	cr_expect_null(limg_store_lookup(s, "a/b"), "a path is no name, though a/b exists");
	cr_expect_null(limg_store_lookup(s, "."));
	cr_expect_null(limg_store_lookup(s, ".."));
	cr_expect_null(limg_store_lookup(s, n251), "251 bytes: too long, though it exists");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, n250);
		g_autoptr(LimgLayerInfo) a = limg_store_lookup(s, "a");

		cr_expect_not_null(li, "250 bytes is fine");
		cr_expect_not_null(a);
	}
	{
		g_autofree char *ids = th_store_ids(s);
		g_autofree char *want = g_strdup_printf("a %s", n250);

		cr_expect_str_eq(ids, want);
	}
}

Test(store, layers_appear_and_vanish_at_once)
{
	g_autoptr(LimgStore) s = open_store("plain");
	g_autofree char *a = g_build_filename(source, "a", NULL);

	cr_expect_null(limg_store_lookup(s, "a"));
	th_mkdir(source, "a");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "a");

		cr_expect_not_null(li, "no caching of lookups");
	}
	cr_assert_eq(rmdir(a), 0);
	cr_expect_null(limg_store_lookup(s, "a"));
	{
		g_autofree char *ids = th_store_ids(s);

		cr_expect_str_eq(ids, "");
	}
}

/* ------------------------------------------------------------ records */

Test(store, plain_layer_record)
{
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgLayerInfo) li = NULL;
	g_autofree char *canon = g_canonicalize_filename(source, NULL);

	th_mkdir(source, "layer1/usr");
	s = open_store("plain");
	li = limg_store_lookup(s, "layer1");
	cr_assert_not_null(li);
	cr_expect_eq(li->kind, LIMG_LAYER_DIR);
	cr_expect_str_eq(li->id, "layer1");
	cr_expect_str_eq(li->root, canon);
	cr_expect_str_eq(li->rel, "layer1");
	cr_expect(li->complete);
	cr_expect(li->settle, "a plain layer's completeness is a guess");
	cr_expect_null(li->parent);
	expect_record_matches_disk(li);
}

Test(store, overlay2_layer_record)
{
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgLayerInfo) li = NULL;
	g_autofree char *canon = g_canonicalize_filename(source, NULL);
	struct stat top, diff;
	g_autofree char *top_path = g_build_filename(source, "abc", NULL);
	g_autofree char *diff_path = g_build_filename(source, "abc", "diff", NULL);

	th_mkdir(source, "l");
	th_mkdir(source, "abc/diff/etc");
	th_mkdir(source, "abc/work");
	th_write_text(source, "abc/link", "ABCDEF");
	s = open_store(NULL);
	cr_assert_str_eq(limg_store_kind(s), "overlay2");
	li = limg_store_lookup(s, "abc");
	cr_assert_not_null(li);
	cr_expect_eq(li->kind, LIMG_LAYER_DIR);
	cr_expect_str_eq(li->id, "abc");
	cr_expect_str_eq(li->root, canon);
	cr_expect_str_eq(li->rel, "abc/diff");
	cr_expect(li->complete);
	cr_expect(li->settle);
	cr_assert_eq(lstat(top_path, &top), 0);
	cr_assert_eq(lstat(diff_path, &diff), 0);
	cr_expect_eq(li->ino, (uint64_t)diff.st_ino, "the identity is diff/'s");
	cr_expect_neq(li->ino, (uint64_t)top.st_ino);
	expect_record_matches_disk(li);
}

Test(store, a_replaced_layer_directory_is_a_new_identity)
{
	g_autoptr(LimgStore) s = NULL;
	g_autofree char *a = g_build_filename(source, "a", NULL);
	g_autofree char *old = g_build_filename(base, "old-a", NULL);
	uint64_t ino1;

	th_mkdir(source, "a");
	th_mkdir(base, "held");   /* keeps the old inode number from being reused at once */
	s = open_store("plain");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "a");

		cr_assert_not_null(li);
		ino1 = li->ino;
	}
	cr_assert_eq(rename(a, old), 0);
	th_mkdir(source, "a");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "a");

		cr_assert_not_null(li);
		cr_expect_neq(li->ino, ino1);
		expect_record_matches_disk(li);
	}
}

/* ------------------------------------------------------------ explicit layers */

static void
expect_spec_error(LimgStore *s, const char *spec, GQuark domain, int code)
{
	g_autoptr(GError) error = NULL;

	cr_expect_not(limg_store_add_spec(s, spec, &error), "layer=%s must fail", spec);
	cr_assert_not_null(error, "layer=%s: no error set", spec);
	cr_expect(error->domain == domain && error->code == code,
	          "layer=%s: error %s %d (%s)", spec, g_quark_to_string(error->domain),
	          error->code, error->message);
	cr_expect(strstr(error->message, spec) != NULL, "layer=%s: the message names it: %s", spec,
	          error->message);
}

Test(store, add_spec_errors)
{
	g_autoptr(LimgStore) s = open_store("plain");
	g_autofree char *missing = g_build_filename(base, "missing", NULL);
	g_autofree char *ok = g_strdup_printf("x:%s", outside);
	g_autofree char *fifo = g_build_filename(base, "fifo", NULL);
	g_autofree char *s_fifo = g_strdup_printf("f:%s", fifo);
	g_autofree char *s_missing = g_strdup_printf("m:%s", missing);
	g_autofree char *s_dot = g_strdup_printf(".x:%s", outside);
	g_autofree char *s_slash = g_strdup_printf("a/b:%s", outside);
	g_autofree char *s_empty = g_strdup_printf(":%s", outside);
	g_autofree char *s_long = NULL;
	char n251[252];

	memset(n251, 'n', 251);
	n251[251] = 0;
	s_long = g_strdup_printf("%s:%s", n251, outside);
	cr_assert_eq(mkfifo(fifo, 0644), 0, "mkfifo: %s", g_strerror(errno));

	expect_spec_error(s, "nocolon", G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
	expect_spec_error(s, s_empty, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
	expect_spec_error(s, "name:", G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
	expect_spec_error(s, s_dot, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
	expect_spec_error(s, s_slash, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
	expect_spec_error(s, s_long, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
	expect_spec_error(s, s_fifo, G_FILE_ERROR, G_FILE_ERROR_NOTDIR);
	expect_spec_error(s, s_missing, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	{
		g_autofree char *ids = th_store_ids(s);

		cr_expect_str_eq(ids, "", "failed specs add nothing");
	}
	{
		g_autoptr(GError) error = NULL;

		cr_expect(limg_store_add_spec(s, ok, &error), "%s", error ? error->message : "");
	}
	{
		/* A regular file is a tar blob layer. */
		g_autofree char *blob = g_build_filename(base, "blob.tar", NULL);
		g_autofree char *spec = g_strdup_printf("t:%s", blob);
		g_autoptr(GError) error = NULL;
		g_autoptr(LimgLayerInfo) li = NULL;

		th_write_text(base, "blob.tar", "tar bytes are checked when it is read");
		cr_expect(limg_store_add_spec(s, spec, &error), "%s", error ? error->message : "");
		li = limg_store_lookup(s, "t");
		cr_assert(li, "the blob layer is listed");
		cr_expect_eq(li->kind, LIMG_LAYER_TAR);
		cr_expect(!li->settle, "a blob needs no settling");
	}
	expect_spec_error(s, ok, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
	{
		g_autofree char *other = g_strdup_printf("x:%s", base);

		expect_spec_error(s, other, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
	}
	{
		g_autofree char *ids = th_store_ids(s);
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "x");
		g_autofree char *canon = g_canonicalize_filename(outside, NULL);

		cr_expect_str_eq(ids, "t x", "given twice: the first stays");
		cr_assert_not_null(li);
		cr_expect_str_eq(li->root, canon);
	}
}

Test(store, add_spec_splits_at_the_first_colon)
{
	g_autoptr(LimgStore) s = open_store("plain");
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_build_filename(base, "with:colon", NULL);
	g_autofree char *spec = g_strdup_printf("n:%s", dir);
	g_autoptr(LimgLayerInfo) li = NULL;
	g_autofree char *canon = g_canonicalize_filename(dir, NULL);

	th_mkdir(base, "with:colon");
	cr_assert(limg_store_add_spec(s, spec, &error), "%s", error ? error->message : "");
	li = limg_store_lookup(s, "n");
	cr_assert_not_null(li);
	cr_expect_str_eq(li->root, canon);
}

Test(store, explicit_layer_record)
{
	g_autoptr(LimgStore) s = open_store("plain");
	g_autoptr(GError) error = NULL;
	g_autoptr(LimgLayerInfo) li = NULL;
	g_autofree char *dir = g_build_filename(outside, "l1", NULL);
	g_autofree char *messy = g_build_filename(outside, ".", "l1", "", NULL);
	g_autofree char *canon = g_canonicalize_filename(dir, NULL);

	th_mkdir(outside, "l1");
	cr_assert(limg_store_add_dir(s, "mine", messy, &error), "%s", error ? error->message : "");
	li = limg_store_lookup(s, "mine");
	cr_assert_not_null(li);
	cr_expect_eq(li->kind, LIMG_LAYER_DIR);
	cr_expect_str_eq(li->id, "mine");
	cr_expect_str_eq(li->root, canon, "the given path, canonical");
	cr_expect_str_eq(li->rel, "");
	cr_expect(li->complete);
	cr_expect(li->settle);
	expect_record_matches_disk(li);
}

Test(store, explicit_layer_follows_its_directory)
{
	g_autoptr(LimgStore) s = open_store("plain");
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_build_filename(outside, "l1", NULL);
	g_autofree char *spec = g_strdup_printf("e:%s", dir);

	th_mkdir(outside, "l1");
	cr_assert(limg_store_add_spec(s, spec, &error));
	cr_assert_eq(rmdir(dir), 0);
	cr_expect_null(limg_store_lookup(s, "e"), "its directory is gone");
	{
		g_autofree char *ids = th_store_ids(s);

		cr_expect_str_eq(ids, "");
	}
	th_mkdir(outside, "l1");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "e");

		cr_expect_not_null(li, "and back");
	}
}

Test(store, store_without_source_has_explicit_layers_only)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(LimgStore) s = limg_store_new(NULL, NULL, &error);
	g_autofree char *spec = g_strdup_printf("only:%s", outside);

	cr_assert_not_null(s, "%s", error ? error->message : "");
	cr_expect_null(limg_store_source(s));
	cr_expect_null(limg_store_watch_dir(s));
	{
		g_autofree char *ids = th_store_ids(s);

		cr_expect_str_eq(ids, "");
	}
	cr_assert(limg_store_add_spec(s, spec, &error));
	{
		g_autofree char *ids = th_store_ids(s);
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "only");

		cr_expect_str_eq(ids, "only");
		cr_expect_not_null(li);
		cr_expect_null(limg_store_lookup(s, "other"));
	}
}

/* ------------------------------------------------------------ kinds */

Test(store, kinds_and_an_unknown_kind)
{
	g_autoptr(GError) error = NULL;
	LimgStore *s;

	th_mkdir(source, "a/diff");
	s = open_store("plain");
	cr_expect_str_eq(limg_store_kind(s), "plain");
	limg_store_free(s);
	s = open_store("overlay2");
	cr_expect_str_eq(limg_store_kind(s), "overlay2");
	limg_store_free(s);
	s = open_store("auto");
	cr_expect_str_eq(limg_store_kind(s), "overlay2");
	limg_store_free(s);
	s = open_store(NULL);
	cr_expect_str_eq(limg_store_kind(s), "overlay2");
	limg_store_free(s);

	s = limg_store_new(source, "squashfs", &error);
	cr_expect_null(s);
	cr_assert_not_null(error);
	cr_expect(error->domain == G_OPTION_ERROR && error->code == G_OPTION_ERROR_BAD_VALUE);
	cr_expect(strstr(error->message, "squashfs") != NULL, "names the kind: %s", error->message);
	g_clear_error(&error);
	s = limg_store_new(source, "", &error);
	cr_expect_null(s, "an empty kind is unknown");
	g_clear_error(&error);
	s = limg_store_new(source, "Plain", &error);
	cr_expect_null(s, "kinds are case-sensitive");
}

Test(store, source_must_be_a_readable_directory)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *missing = g_build_filename(base, "missing", NULL);
	g_autofree char *file = g_build_filename(base, "file", NULL);

	th_write_text(base, "file", "x");
	cr_expect_null(limg_store_new(missing, NULL, &error));
	cr_assert_not_null(error);
	cr_expect(error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_NOENT, "%s",
	          error->message);
	g_clear_error(&error);
	cr_expect_null(limg_store_new(file, "plain", &error));
	cr_assert_not_null(error);
	cr_expect(error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_NOTDIR, "%s",
	          error->message);
}

Test(store, source_is_canonical_and_is_the_watched_directory)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *messy = g_strdup_printf("%s/./src/", base);
	g_autofree char *canon = g_canonicalize_filename(source, NULL);
	g_autoptr(LimgStore) s = limg_store_new(messy, "plain", &error);

	cr_assert_not_null(s);
	cr_expect_str_eq(limg_store_source(s), canon);
	cr_expect_str_eq(limg_store_watch_dir(s), canon);
	th_mkdir(source, "x");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "x");

		cr_assert_not_null(li);
		cr_expect_str_eq(li->root, canon);
	}
}

Test(store, a_store_looked_after_is_detected_by_look_again_only, .timeout = 30)
{
	g_autoptr(LimgStore) s = NULL;
	g_autofree char *l = g_build_filename(source, "l", NULL);

	th_mkdir(source, "x");
	s = open_store(NULL);
	cr_assert_str_eq(limg_store_kind(s), "plain");
	limg_store_look_after(s, true);
	th_mkdir(source, "l");
	g_usleep(1100 * 1000);
	cr_expect_str_eq(limg_store_kind(s), "plain", "a lookup does not look at the store itself");
	cr_expect_null(limg_store_lookup(s, "y"));
	cr_expect_str_eq(limg_store_kind(s), "plain");
	limg_store_look_again(s);
	cr_expect_str_eq(limg_store_kind(s), "overlay2", "the one who looks after it does");
	limg_store_look_after(s, false);
	cr_assert_eq(rmdir(l), 0);
	g_usleep(1100 * 1000);
	cr_expect_str_eq(limg_store_kind(s), "plain", "without: lookups look again after a second");
}

Test(store, auto_detection_switches_when_l_appears_and_goes, .timeout = 30)
{
	g_autoptr(LimgStore) s = NULL;
	g_autofree char *l = g_build_filename(source, "l", NULL);

	th_mkdir(source, "x");
	s = open_store(NULL);
	cr_assert_str_eq(limg_store_kind(s), "plain");
	{
		g_autofree char *ids = th_store_ids(s);

		cr_expect_str_eq(ids, "x");
	}
	th_mkdir(source, "l");
	cr_expect_str_eq(limg_store_kind(s), "plain", "the choice holds for up to a second");
	g_usleep(1100 * 1000);
	cr_expect_str_eq(limg_store_kind(s), "overlay2", "looked again after a second");
	{
		g_autofree char *ids = th_store_ids(s);

		cr_expect_str_eq(ids, "", "x has no diff/: not an overlay2 layer");
		cr_expect_null(limg_store_lookup(s, "x"));
	}
	cr_assert_eq(rmdir(l), 0);
	g_usleep(1100 * 1000);
	cr_expect_str_eq(limg_store_kind(s), "plain");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "x");

		cr_expect_not_null(li, "plain again");
	}
}

Test(store, auto_detection_switches_when_a_diff_appears, .timeout = 30)
{
	g_autoptr(LimgStore) s = NULL;

	s = open_store(NULL);
	cr_assert_str_eq(limg_store_kind(s), "plain", "an empty directory is plain");
	th_mkdir(source, "abc/diff");
	g_usleep(1100 * 1000);
	cr_expect_str_eq(limg_store_kind(s), "overlay2");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "abc");

		cr_assert_not_null(li);
		cr_expect_str_eq(li->rel, "abc/diff");
		cr_expect_not(li->complete, "no link yet");
	}
	th_write_text(source, "abc/link", "L");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "abc");

		cr_assert_not_null(li);
		cr_expect(li->complete, "completeness is looked at every time");
	}
}

Test(store, a_chosen_kind_never_switches, .timeout = 30)
{
	g_autoptr(LimgStore) s = open_store("plain");

	th_mkdir(source, "l");
	th_mkdir(source, "a/diff");
	g_usleep(1100 * 1000);
	cr_expect_str_eq(limg_store_kind(s), "plain");
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "a");

		cr_assert_not_null(li);
		cr_expect_str_eq(li->rel, "a");
	}
}

/*
 * Found by tests/fuzz/fuzz-store-meta: a containers-storage layer whose
 * flags.incomplete is not a boolean (an array here) was taken for a
 * complete one, through a json-glib getter that asserts a boolean (a
 * critical). Only "incomplete": false, or no flag, is complete.
 */
Test(store, containers_incomplete_flag_must_be_a_boolean)
{
	static const char digest[] =
		"sha256:1111111111111111111111111111111111111111111111111111111111111111";
	g_autofree char *json = g_strdup_printf(
		"[{\"id\":\"done\",\"diff-digest\":\"%s\",\"flags\":{\"incomplete\":false}},"
		"{\"id\":\"plain\",\"diff-digest\":\"%s\"},"
		"{\"id\":\"array\",\"diff-digest\":\"%s\",\"flags\":{\"incomplete\":[]}},"
		"{\"id\":\"text\",\"diff-digest\":\"%s\",\"flags\":{\"incomplete\":\"no\"}},"
		"{\"id\":\"busy\",\"diff-digest\":\"%s\",\"flags\":{\"incomplete\":true}}]",
		digest, digest, digest, digest, digest);
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(GPtrArray) layers = NULL;

	static const char *const ids[] = { "done", "plain", "array", "text", "busy" };

	th_write_text(source, "overlay-layers/layers.json", json);
	for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree char *rel = g_strdup_printf("overlay/%s/diff", ids[i]);

		th_mkdir(source, rel);
	}
	s = open_store("containers");
	layers = limg_store_list(s);
	cr_assert_eq(layers->len, 2, "only the complete layers: %u", layers->len);
	cr_expect_str_eq(((LimgLayerInfo *)layers->pdata[0])->id, "done");
	cr_expect_str_eq(((LimgLayerInfo *)layers->pdata[1])->id, "plain");
}

/* Looked after, a lookup takes the metadata snapshot as last seen. */
Test(store, a_store_looked_after_reads_its_metadata_when_told, .timeout = 30)
{
	static const char digest[] =
		"sha256:1111111111111111111111111111111111111111111111111111111111111111";
	g_autofree char *one = g_strdup_printf("[{\"id\":\"a\",\"diff-digest\":\"%s\"}]", digest);
	g_autofree char *two = g_strdup_printf("[{\"id\":\"a\",\"diff-digest\":\"%s\"},"
	                                       "{\"id\":\"b\",\"diff-digest\":\"%s\"}]",
	                                       digest, digest);
	g_autoptr(LimgStore) s = NULL;

	th_write_text(source, "overlay-layers/layers.json", one);
	th_mkdir(source, "overlay/a/diff");
	th_mkdir(source, "overlay/b/diff");
	s = open_store("containers");
	{
		g_autoptr(GPtrArray) layers = limg_store_list(s);

		cr_assert_eq(layers->len, 1);
	}
	limg_store_look_after(s, true);
	th_write_text(source, "overlay-layers/layers.json", two);
	{
		g_autoptr(GPtrArray) layers = limg_store_list(s);
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "b");

		cr_expect_eq(layers->len, 1, "a lookup does not look at the metadata itself");
		cr_expect_null(li);
	}
	limg_store_look_again(s);
	{
		g_autoptr(GPtrArray) layers = limg_store_list(s);
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, "b");

		cr_expect_eq(layers->len, 2, "the watcher's look once a second sees the change");
		cr_expect_not_null(li);
	}
	th_write_text(source, "overlay-layers/layers.json", one);
	limg_store_meta_refresh(s);
	{
		g_autoptr(GPtrArray) layers = limg_store_list(s);

		cr_expect_eq(layers->len, 1, "and so does its re-read after inotify events");
	}
	limg_store_look_after(s, false);
	th_write_text(source, "overlay-layers/layers.json", two);
	{
		g_autoptr(GPtrArray) layers = limg_store_list(s);

		cr_expect_eq(layers->len, 2, "without: every lookup looks");
	}
}

/*
 * Found by tests/fuzz/fuzz-store-meta: an image config that is an empty
 * file (named by the empty string's digest) parses to no root node, and
 * was asked whether that NULL holds an object (a json-glib critical).
 * Criticals are fatal here, as with G_DEBUG=fatal-criticals.
 */
Test(store, docker_empty_image_config_is_no_image)
{
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	g_autofree char *empty = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "", 0);
	g_autofree char *rel = g_strdup_printf("image/overlay2/imagedb/content/sha256/%s", empty);

	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	th_mkdir(source, "image/overlay2/layerdb/sha256");
	th_write_text(source, rel, "");
	s = open_store("docker");
	m = limg_store_meta(s);
	cr_assert_not_null(m);
	cr_expect_eq(m->images->len, 0);
}
