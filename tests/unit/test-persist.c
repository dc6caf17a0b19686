/*
 * test-persist.c - the disk cache of laid-out layers (cache/persist.h):
 * a saved tree loads back byte for byte, and every file that is missing,
 * for another identity, truncated, corrupt, of another format or not a
 * valid tree is refused with the documented error (and removed).
 *
 * Damaged files whose checksum is still right are made with the test's
 * own encoder (lib/cachefile.h, written from the format's description),
 * never with persist's code. The should-fail corpus in
 * tests/data/should-fail/cache/ (tests/tools/mk-cache-corpus) is loaded
 * file by file against its EXPECTED list.
 */
#include <config.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cache/persist.h"
#include "lib/cachefile.h"
#include "lib/testlib.h"

#include <criterion/parameterized.h>

#define KEY "/var/lib/layers/abc/diff"

static char *dir;           /* the cache directory */
static char *file;          /* where persist keeps KEY's tree */
static LimgSourceId id;
static TreeBuilder *tb;
static LimgTree *tree;
static TbEntry *e_etc, *e_hello, *e_link, *e_deep;

static void
setup(void)
{
	dir = th_tmpdir();
	file = th_cache_file(dir, KEY);
	id.key = g_strdup(KEY);
	id.fingerprint = g_bytes_new_static("fingerprint-1", 13);
	tb = tb_new();
	e_etc = tb_dir(tb, "etc");
	tb_file(tb, "etc/hostname", 5);
	e_hello = tb_file(tb, "hello", 6);
	e_link = tb_symlink(tb, "link", "hello");
	tb_dev(tb, "dev/null", S_IFCHR, 1, 3);
	tb_link(tb, "hello2", e_hello);
	e_deep = tb_file(tb, "a/b/c/d/e", 12345);
	tree = tb_build(tb);
	{
		const char *names[] = { "user.one", "trusted.overlay.opaque" };
		const void *values[] = { "1", "y" };
		const uint32_t lens[] = { 1, 1 };

		cr_assert_eq(limg_tree_set_xattrs(tree, e_etc->idx, 2, names, values, lens), 0);
	}
}

static void
teardown(void)
{
	limg_tree_free(tree);
	tb_free(tb);
	limg_source_id_clear(&id);
	th_rmtree(dir);
	g_free(dir);
	g_free(file);
}

TestSuite(persist, .init = setup, .fini = teardown, .timeout = 60);

static void
expect_same_tree(const LimgTree *got, const LimgTree *want)
{
	cr_assert_not_null(got);
	cr_assert_eq(got->n_nodes, want->n_nodes);
	cr_expect(memcmp(got->nodes, want->nodes, (size_t)want->n_nodes * sizeof(LimgNode)) == 0,
	          "the node array differs");
	cr_assert_eq(got->strings.len, want->strings.len);
	cr_expect(memcmp(got->strings.buf, want->strings.buf, want->strings.len) == 0,
	          "the strings differ");
}

static void
save(const LimgTree *t)
{
	int ret = limg_persist_save(dir, &id, t, NULL);

	cr_assert_eq(ret, 0, "save: %d", ret);
}

/* Load for the fixture's identity; a tree that loaded is freed. */
static int
load(void)
{
	LimgTree *t = (LimgTree *)0x1;
	int ret = limg_persist_load(dir, &id, &t);

	if (ret == 0)
		cr_expect_not_null(t);
	else
		cr_expect_null(t, "a failed load gives no tree");
	limg_tree_free(ret == 0 ? t : NULL);
	return ret;
}

static void
put_file(const GByteArray *f)
{
	th_write(dir, strrchr(file, '/') + 1, f->data, f->len);
}

/* Only the cache file (or nothing) is in the directory: no temp files. */
static void
expect_dir_holds(const char *only)
{
	g_auto(GStrv) names = th_list_dir(dir, NULL);

	if (!only) {
		cr_expect_null(names[0], "left in the cache directory: %s", names[0]);
		return;
	}
	cr_expect_str_eq(names[0] ? names[0] : "(nothing)", only);
	if (names[0])
		cr_expect_null(names[1], "also left: %s", names[1]);
}

static const char *
file_name(void)
{
	return strrchr(file, '/') + 1;
}

/* Write @f, load it: @want, and a rejected file is gone. */
static void
expect_load(GByteArray *f, int want, const char *what)
{
	int ret;

	put_file(f);
	ret = load();
	cr_expect_eq(ret, want, "%s: load gave %d (%s), want %d", what, ret, g_strerror(-ret), want);
	if (want == -ESTALE || want == -EBADMSG)
		cr_expect_not(th_exists(file), "%s: a rejected file is removed", what);
	else if (want == 0)
		cr_expect(th_exists(file), "%s: a good file stays", what);
}

static GByteArray *
encode(const LimgTree *t)
{
	gsize plen;
	const void *print = g_bytes_get_data(id.fingerprint, &plen);

	return cf_encode_tree(KEY, print, plen, t);
}

/* ------------------------------------------------------------ round trip */

Test(persist, round_trip_gives_an_identical_tree)
{
	LimgTree *back = NULL;
	uint64_t written = 0;
	struct stat st;

	cr_assert_eq(limg_persist_save(dir, &id, tree, &written), 0);
	cr_assert_eq(stat(file, &st), 0, "the file is <dir>/sha256(key).tree");
	cr_expect_eq(written, (uint64_t)st.st_size, "bytes_written is the file's size");
	expect_dir_holds(file_name());
	cr_assert_eq(limg_persist_load(dir, &id, &back), 0);
	expect_same_tree(back, tree);
	{
		/* Usable as a tree: names, targets and xattrs read back. */
		const char *n;
		size_t cursor = 0, nl;
		const uint8_t *v;
		uint32_t vl;

		cr_expect_str_eq(limg_tree_name(back, &back->nodes[e_hello->idx]), "hello");
		cr_expect_str_eq(limg_tree_target(back, &back->nodes[e_link->idx]), "hello");
		g_autofree char *p = limg_tree_path(back, e_deep->idx);

		cr_expect(limg_tree_xattr_next(back, &back->nodes[e_etc->idx], &cursor, &n, &nl, &v,
		                               &vl));
		cr_expect_str_eq(p, "a/b/c/d/e");
	}
	cr_expect(th_exists(file), "a good file stays after loading");
	limg_tree_free(back);
	cr_expect_eq(limg_persist_dir_bytes(dir), written);
}

Test(persist, saved_file_is_the_documented_format)
{
	g_autoptr(GByteArray) want = encode(tree);
	size_t len;
	g_autofree uint8_t *got = NULL;

	/* Without a head, this writer records that it kept none (1, not 0). */
	cf_put64(want, CF_OFF_HEAD_SUM, 1);
	cf_seal(want);
	save(tree);
	got = th_read(file, &len);
	cr_assert_eq(len, want->len, "file of %zu bytes, the format says %u", len, want->len);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(got[i], want->data[i], "byte %zu differs from the format", i);
}

Test(persist, a_file_written_by_the_format_loads)
{
	g_autoptr(GByteArray) f = encode(tree);
	LimgTree *back = NULL;

	put_file(f);
	cr_assert_eq(limg_persist_load(dir, &id, &back), 0);
	expect_same_tree(back, tree);
	limg_tree_free(back);
}

Test(persist, a_second_save_replaces_the_first)
{
	TreeBuilder *tb2 = tb_new();
	LimgTree *other, *back = NULL;

	tb_file(tb2, "only", 1);
	other = tb_build(tb2);
	save(tree);
	save(other);
	expect_dir_holds(file_name());
	cr_assert_eq(limg_persist_load(dir, &id, &back), 0);
	expect_same_tree(back, other);
	limg_tree_free(back);
	limg_tree_free(other);
	tb_free(tb2);
}

typedef struct {
	const LimgTree *t;
	int errors;
} SaveJob;

static gpointer
save_many(gpointer data)
{
	SaveJob *j = data;

	for (int i = 0; i < 20; i++) {
		if (limg_persist_save(dir, &id, j->t, NULL) != 0)
			j->errors++;
	}
	return NULL;
}

Test(persist, concurrent_saves_of_one_layer_leave_one_good_file)
{
	SaveJob jobs[4];
	GThread *t[4];
	LimgTree *back = NULL;

	for (int i = 0; i < 4; i++) {
		jobs[i] = (SaveJob){ .t = tree };
		t[i] = g_thread_new("save", save_many, &jobs[i]);
	}
	for (int i = 0; i < 4; i++) {
		g_thread_join(t[i]);
		cr_expect_eq(jobs[i].errors, 0);
	}
	expect_dir_holds(file_name());
	cr_assert_eq(limg_persist_load(dir, &id, &back), 0);
	expect_same_tree(back, tree);
	limg_tree_free(back);
}

/* ------------------------------------------------------------ identity */

Test(persist, missing_file_is_enoent)
{
	g_autofree char *nodir = g_build_filename(dir, "no", "such", NULL);
	LimgTree *t = NULL;

	cr_expect_eq(load(), -ENOENT);
	expect_dir_holds(NULL);
	cr_expect_eq(limg_persist_load(nodir, &id, &t), -ENOENT, "nor a directory");
	cr_expect_null(t);
}

Test(persist, load_below_a_regular_file_is_enoent)
{
	g_autofree char *plain = g_build_filename(dir, "plain", NULL);
	LimgTree *t = NULL;

	/* persist.h: -ENOENT "when there is no file"; here there can be none. */
	th_write_text(dir, "plain", "not a directory");
	cr_expect_eq(limg_persist_load(plain, &id, &t), -ENOENT);
	cr_expect_null(t);
}

Test(persist, other_fingerprint_is_estale_and_removed)
{
	save(tree);
	g_bytes_unref(id.fingerprint);
	id.fingerprint = g_bytes_new_static("fingerprint-2", 13);
	cr_expect_eq(load(), -ESTALE);
	cr_expect_not(th_exists(file));
	cr_expect_eq(load(), -ENOENT, "and it is gone for good");
}

Test(persist, longer_fingerprint_is_estale)
{
	save(tree);
	g_bytes_unref(id.fingerprint);
	id.fingerprint = g_bytes_new_static("fingerprint-1+", 14);
	cr_expect_eq(load(), -ESTALE);
	cr_expect_not(th_exists(file));
}

Test(persist, other_key_is_estale_and_removed)
{
	g_autofree char *other = th_cache_file(dir, "/another/layer");

	save(tree);
	/* KEY's file, found under another key's name (a hash collision, a copy). */
	cr_assert_eq(rename(file, other), 0);
	g_free(id.key);
	id.key = g_strdup("/another/layer");
	cr_expect_eq(load(), -ESTALE);
	cr_expect_not(th_exists(other));
}

/* ------------------------------------------------------------ damage */

Test(persist, truncated_at_any_length_is_ebadmsg_and_removed)
{
	g_autoptr(GByteArray) good = encode(tree);

	for (guint len = 0; len < good->len; len++) {
		g_autoptr(GByteArray) f = g_byte_array_sized_new(len);
		g_autofree char *what = g_strdup_printf("cut to %u of %u bytes", len, good->len);

		g_byte_array_append(f, good->data, len);
		expect_load(f, -EBADMSG, what);
	}
}

Test(persist, trailing_bytes_are_ebadmsg)
{
	g_autoptr(GByteArray) f = encode(tree);
	uint8_t extra[3] = { 0 };

	g_byte_array_append(f, extra, 1);
	expect_load(f, -EBADMSG, "one byte more");
	g_byte_array_append(f, extra, 2);
	cf_seal(f);
	expect_load(f, -EBADMSG, "three bytes more, checksum over all");
}

Test(persist, a_flipped_byte_anywhere_is_ebadmsg_and_removed)
{
	g_autoptr(GByteArray) good = encode(tree);

	for (guint i = 0; i < good->len; i++) {
		g_autoptr(GByteArray) f = g_byte_array_sized_new(good->len);
		g_autofree char *what = g_strdup_printf("byte %u of %u flipped", i, good->len);

		g_byte_array_append(f, good->data, good->len);
		f->data[i] ^= 0x01;
		expect_load(f, -EBADMSG, what);
	}
}

/* Write @f sealed after setting u32 header field @off to @v. */
static void
expect_header_refused(size_t off, uint32_t v, const char *what)
{
	g_autoptr(GByteArray) f = encode(tree);

	cf_put32(f, off, v);
	cf_seal(f);
	expect_load(f, -EBADMSG, what);
}

Test(persist, bad_magic_is_ebadmsg)
{
	g_autoptr(GByteArray) f = encode(tree);

	memcpy(f->data, "LIMGTRE\0", 8);
	cf_seal(f);
	expect_load(f, -EBADMSG, "magic LIMGTRE\\0");
}

Test(persist, other_version_is_ebadmsg)
{
	expect_header_refused(CF_OFF_VERSION, LIMG_PERSIST_VERSION - 1, "older version");
	expect_header_refused(CF_OFF_VERSION, LIMG_PERSIST_VERSION + 1, "newer version");
	expect_header_refused(CF_OFF_VERSION, 0, "version 0");
}

Test(persist, other_node_size_is_ebadmsg)
{
	expect_header_refused(CF_OFF_NODE_SIZE, sizeof(LimgNode) - 8, "smaller nodes");
	expect_header_refused(CF_OFF_NODE_SIZE, sizeof(LimgNode) + 8, "larger nodes");
}

Test(persist, length_mismatch_is_ebadmsg)
{
	g_autoptr(GByteArray) f = encode(tree);
	uint32_t n = cf_get32(f, CF_OFF_N_NODES);

	expect_header_refused(CF_OFF_N_NODES, n + 1, "one node more");
	expect_header_refused(CF_OFF_N_NODES, n - 1, "one node less");
	expect_header_refused(CF_OFF_KEY_LEN, (uint32_t)strlen(KEY) + 1, "key one byte longer");
	expect_header_refused(CF_OFF_PRINT_LEN, 12, "fingerprint one byte shorter");
	{
		g_autoptr(GByteArray) g = encode(tree);

		cf_put64(g, CF_OFF_STRINGS_LEN, tree->strings.len + 1);
		cf_seal(g);
		expect_load(g, -EBADMSG, "strings one byte longer");
	}
}

Test(persist, key_and_fingerprint_lengths_past_the_limits_are_ebadmsg)
{
	g_autofree char *key = g_malloc(65537 + 1);
	g_autofree char *print = g_malloc(4097);

	memset(key, 'k', 65537);
	key[65537] = 0;
	memset(print, 'p', 4097);
	{
		/* The limits themselves are fine. */
		g_autoptr(GByteArray) f = cf_encode_tree(key + 1, "fingerprint-1", 13, tree);

		g_free(file);
		g_free(id.key);
		id.key = g_strdup(key + 1);
		file = th_cache_file(dir, id.key);
		expect_load(f, 0, "a 65536-byte key");
	}
	{
		g_autoptr(GByteArray) f = cf_encode_tree(key, "fingerprint-1", 13, tree);

		g_free(file);
		g_free(id.key);
		id.key = g_strdup(key);
		file = th_cache_file(dir, id.key);
		expect_load(f, -EBADMSG, "a 65537-byte key");
	}
	g_free(file);
	g_free(id.key);
	id.key = g_strdup(KEY);
	file = th_cache_file(dir, KEY);
	g_bytes_unref(id.fingerprint);
	id.fingerprint = g_bytes_new(print + 1, 4096);
	{
		g_autoptr(GByteArray) f = cf_encode_tree(KEY, print + 1, 4096, tree);

		expect_load(f, 0, "a 4096-byte fingerprint");
	}
	g_bytes_unref(id.fingerprint);
	id.fingerprint = g_bytes_new(print, 4097);
	{
		g_autoptr(GByteArray) f = cf_encode_tree(KEY, print, 4097, tree);

		expect_load(f, -EBADMSG, "a 4097-byte fingerprint");
	}
	expect_header_refused(CF_OFF_KEY_LEN, UINT32_MAX, "key length 2^32-1");
	expect_header_refused(CF_OFF_PRINT_LEN, UINT32_MAX, "fingerprint length 2^32-1");
}

Test(persist, save_refuses_a_key_past_the_limit)
{
	g_autofree char *key = g_malloc(65537 + 1);

	memset(key, 'k', 65537);
	key[65537] = 0;
	g_free(id.key);
	id.key = g_steal_pointer(&key);
	cr_expect_lt(limg_persist_save(dir, &id, tree, NULL), 0);
	expect_dir_holds(NULL);
}

/* ------------------------------------------------------------ heads */

/*
 * A head persist keeps: @len bytes, mostly zeros with a few marks, so it
 * compresses to a few dozen bytes (a kept head takes at most an eighth
 * of the rest of the file, and the fixture's tree is small).
 */
static GBytes *
small_head(size_t len)
{
	uint8_t *b = g_malloc0(len);

	for (size_t i = 0; i + 16 <= len; i += len / 4)
		memcpy(b + i, "head-bytes-mark!", 16);
	return g_bytes_new_take(b, len);
}

static void
save_with_head(GBytes *hints, GBytes *head, uint64_t *written)
{
	int ret = limg_persist_save_layout(dir, &id, tree, hints, head, written);

	cr_assert_eq(ret, 0, "save: %d", ret);
}

/* Open for the fixture's identity: the result, the head in *head (or NULL). */
static int
open_file(LimgPersistFile **pf, GBytes **head)
{
	*pf = (LimgPersistFile *)0x1;
	int ret = limg_persist_open(dir, &id, pf, head);

	if (ret < 0)
		cr_expect_null(*pf, "a failed open gives no file");
	return ret;
}

Test(persist, a_head_and_hints_come_back_with_the_tree)
{
	g_autoptr(GBytes) head = small_head(4096), hints = g_bytes_new_static("hints!", 6);
	g_autoptr(GBytes) got_head = NULL, got_hints = NULL;
	LimgPersistFile *pf;
	LimgTree *back = NULL;
	uint64_t written = 0;
	struct stat st;

	save_with_head(hints, head, &written);
	cr_assert_eq(stat(file, &st), 0);
	cr_expect_eq(written, (uint64_t)st.st_size, "bytes_written is the file's size");
	cr_assert_eq(open_file(&pf, &got_head), 0);
	cr_assert_not_null(got_head, "the head was kept");
	cr_expect(g_bytes_equal(got_head, head), "the head comes back byte for byte");
	cr_expect_not(limg_persist_headless_writer(pf));
	cr_assert_eq(limg_persist_read_tree(pf, &back, &got_hints), 0);
	expect_same_tree(back, tree);
	cr_assert_not_null(got_hints);
	cr_expect(g_bytes_equal(got_hints, hints), "the hints come back");
	cr_expect_eq(limg_persist_read_tree(pf, &back, NULL), -EINVAL, "a file is read once");
	limg_tree_free(back);
	limg_persist_close(pf);
	cr_expect(th_exists(file), "a good file stays");
	/* The one-step load reads the same file, head and all. */
	cr_assert_eq(limg_persist_load(dir, &id, &back), 0);
	expect_same_tree(back, tree);
	limg_tree_free(back);
}

Test(persist, a_file_without_a_head_says_whether_its_writer_kept_heads)
{
	g_autoptr(GByteArray) old = encode(tree);
	GBytes *head = (GBytes *)0x1;
	LimgPersistFile *pf;

	save(tree);
	cr_assert_eq(open_file(&pf, &head), 0);
	cr_expect_null(head, "no head saved, none given");
	cr_expect_not(limg_persist_headless_writer(pf), "this writer records that it kept none");
	limg_persist_close(pf);
	/* The format's encoder writes files as writers before heads did. */
	put_file(old);
	cr_assert_eq(open_file(&pf, &head), 0);
	cr_expect_null(head);
	cr_expect(limg_persist_headless_writer(pf), "a file of an older writer");
	limg_persist_close(pf);
}

Test(persist, a_head_that_does_not_pay_for_itself_is_left_out)
{
	g_autoptr(GBytes) big = NULL;
	GRand *r = g_rand_new_with_seed(7);
	uint8_t *b = g_malloc(65536);
	GBytes *head = (GBytes *)0x1;
	LimgPersistFile *pf;
	LimgTree *back = NULL;

	/* Random bytes do not compress; text does, but far past an eighth of this file. */
	for (size_t i = 0; i < 65536; i++)
		b[i] = (uint8_t)g_rand_int(r);
	g_rand_free(r);
	big = g_bytes_new_take(b, 65536);
	save_with_head(NULL, big, NULL);
	cr_assert_eq(open_file(&pf, &head), 0);
	cr_expect_null(head, "an incompressible head is not kept");
	cr_assert_eq(limg_persist_read_tree(pf, &back, NULL), 0, "the tree is");
	expect_same_tree(back, tree);
	limg_tree_free(back);
	limg_persist_close(pf);
	{
		GString *text = g_string_new(NULL);
		g_autoptr(GBytes) th = NULL;

		for (int i = 0; text->len < 65536; i++)
			g_string_append_printf(text, "entry %d of a directory %x; ", i, i * 7919);
		th = g_string_free_to_bytes(text);
		save_with_head(NULL, th, NULL);
		cr_assert_eq(open_file(&pf, &head), 0);
		cr_expect_null(head, "a head larger than an eighth of the file is not kept");
		limg_persist_close(pf);
	}
}

Test(persist, a_flipped_byte_anywhere_in_a_file_with_a_head_is_ebadmsg_and_removed)
{
	g_autoptr(GBytes) head = small_head(4096);
	g_autofree uint8_t *good = NULL;
	size_t len, head_end;

	save_with_head(g_bytes_new_static("hints!", 6), head, NULL);
	good = th_read(file, &len);
	{
		g_autoptr(GByteArray) f = g_byte_array_new();

		g_byte_array_append(f, good, (guint)len);
		cr_assert_gt(cf_get32(f, CF_OFF_HEAD_LEN), 0, "the head was kept");
		head_end = cf_nodes_offset(f);
	}
	for (size_t i = 0; i < len; i++) {
		g_autoptr(GBytes) got = NULL;
		LimgPersistFile *pf;
		LimgTree *back = NULL;
		int ret;

		good[i] ^= 0x01;
		th_write(dir, file_name(), good, len);
		good[i] ^= 0x01;
		ret = open_file(&pf, &got);
		if (i < head_end && (i < CF_OFF_SUM || i >= CF_OFF_SUM + 16)) {
			/* The header, the identity and the head are checked before use. */
			cr_expect_eq(ret, -EBADMSG, "byte %zu of %zu (head ends at %zu): open gave %d",
			             i, len, head_end, ret);
		} else {
			/* The rest, and the whole file's checksum, when the tree is read. */
			cr_assert_eq(ret, 0, "byte %zu of %zu: open gave %d", i, len, ret);
			cr_expect(g_bytes_equal(got, head), "byte %zu: the head is intact", i);
			ret = limg_persist_read_tree(pf, &back, NULL);
			cr_expect_eq(ret, -EBADMSG, "byte %zu of %zu: read_tree gave %d", i, len, ret);
			cr_expect_null(back);
			limg_persist_close(pf);
		}
		cr_expect_not(th_exists(file), "byte %zu: a rejected file is removed", i);
	}
}

Test(persist, a_head_whose_sealed_lengths_lie_is_ebadmsg)
{
	g_autoptr(GBytes) head = small_head(4096);
	g_autofree uint8_t *good = NULL;
	g_autoptr(GBytes) got = NULL;
	LimgPersistFile *pf;
	LimgTree *back = NULL;
	size_t len;

	save_with_head(NULL, head, NULL);
	good = th_read(file, &len);
	{
		/* Both checksums right: a raw length the stored head does not give. */
		g_autoptr(GByteArray) f = g_byte_array_new();

		g_byte_array_append(f, good, (guint)len);
		cf_put32(f, CF_OFF_HEAD_RAW, cf_get32(f, CF_OFF_HEAD_RAW) + 1);
		cf_seal(f);
		put_file(f);
		cr_expect_eq(open_file(&pf, &got), -EBADMSG);
		cr_expect_not(th_exists(file), "removed");
		/* A caller that does not ask for the head still gets the tree. */
		put_file(f);
		cr_expect_eq(limg_persist_load(dir, &id, &back), 0);
		limg_tree_free(back);
	}
	{
		/* A stored length without a raw one. */
		g_autoptr(GByteArray) f = g_byte_array_new();

		g_byte_array_append(f, good, (guint)len);
		cf_put32(f, CF_OFF_HEAD_RAW, 0);
		cf_seal(f);
		put_file(f);
		cr_expect_eq(open_file(&pf, &got), -EBADMSG);
	}
	{
		/* No head, and a head checksum that is neither 0 nor "none kept". */
		g_autoptr(GByteArray) f = encode(tree);

		cf_put64(f, CF_OFF_HEAD_SUM, 2);
		cf_seal(f);
		put_file(f);
		cr_expect_eq(open_file(&pf, &got), -EBADMSG);
	}
}

Test(persist, a_file_replaced_after_its_open_still_gives_the_tree_it_opened)
{
	g_autoptr(GBytes) head = small_head(4096);
	TreeBuilder *tb2 = tb_new();
	LimgTree *other, *back = NULL;
	LimgPersistFile *pf;

	save_with_head(NULL, head, NULL);
	cr_assert_eq(open_file(&pf, NULL), 0);
	/* Evicted and written again for another tree meanwhile. */
	tb_file(tb2, "other", 1);
	other = tb_build(tb2);
	cr_assert_eq(unlink(file), 0);
	cr_assert_eq(limg_persist_save(dir, &id, other, NULL), 0);
	cr_assert_eq(limg_persist_read_tree(pf, &back, NULL), 0);
	expect_same_tree(back, tree);
	limg_tree_free(back);
	limg_persist_close(pf);
	limg_tree_free(other);
	tb_free(tb2);
}

Test(persist, a_bad_tree_found_after_a_replacement_leaves_the_new_file)
{
	g_autoptr(GBytes) head = small_head(4096);
	g_autofree uint8_t *good = NULL;
	LimgPersistFile *pf;
	LimgTree *back = NULL;
	size_t len;

	save_with_head(NULL, head, NULL);
	good = th_read(file, &len);
	good[len - 2] ^= 0x40;          /* in the strings */
	th_write(dir, file_name(), good, len);
	cr_assert_eq(open_file(&pf, NULL), 0);
	save_with_head(NULL, head, NULL);       /* a good file renamed into place */
	cr_expect_eq(limg_persist_read_tree(pf, &back, NULL), -EBADMSG);
	limg_persist_close(pf);
	cr_expect(th_exists(file), "the new file is not removed for the old one's damage");
	cr_expect_eq(load(), 0, "and it loads");
}

/* ------------------------------------------------------------ invalid trees */

typedef void (*EditFn)(GByteArray *f);

/*
 * A file whose checksum is right but whose tree, edited by @edit, is not
 * a valid tree: -EBADMSG, removed. The unedited file loads (so the edit
 * is what makes it fail).
 */
static void
expect_invalid_tree(EditFn edit, const char *what)
{
	g_autoptr(GByteArray) good = encode(tree);
	g_autoptr(GByteArray) f = encode(tree);

	expect_load(good, 0, "the unedited file");
	cr_assert(th_exists(file));
	edit(f);
	cf_seal(f);
	expect_load(f, -EBADMSG, what);
}

static uint64_t
strings_len(GByteArray *f)
{
	uint64_t v;

	memcpy(&v, f->data + CF_OFF_STRINGS_LEN, 8);
	return v;
}

/* Edit node @i of file @f through a copy (nodes are unaligned in a file). */
#define EDIT_NODE(f, i, n, stmt)                                                             \
	do {                                                                                 \
		LimgNode n = cf_node_get((f), (i));                                          \
		stmt;                                                                        \
		cf_node_put((f), (i), &n);                                                   \
	} while (0)

static void
ed_parent_out_of_range(GByteArray *f)
{
	EDIT_NODE(f, e_hello->idx, n, n.parent = cf_get32(f, CF_OFF_N_NODES));
}

static void
ed_name_past_strings(GByteArray *f)
{
	EDIT_NODE(f, e_hello->idx, n, n.name = (uint32_t)strings_len(f));
}

static void
ed_name_end_past_strings(GByteArray *f)
{
	EDIT_NODE(f, e_hello->idx, n, n.name_len = (uint16_t)(strings_len(f) - n.name + 5));
}

static void
ed_children_past_end(GByteArray *f)
{
	EDIT_NODE(f, e_etc->idx, n, n.nchildren = cf_get32(f, CF_OFF_N_NODES) - n.first_child + 1);
}

static void
ed_first_child_past_end(GByteArray *f)
{
	EDIT_NODE(f, e_etc->idx, n, n.first_child = cf_get32(f, CF_OFF_N_NODES));
}

static void
ed_root_not_a_directory(GByteArray *f)
{
	EDIT_NODE(f, 0, n, n.mode = S_IFREG | 0644);
}

static void
ed_target_past_strings(GByteArray *f)
{
	EDIT_NODE(f, e_link->idx, n, n.target = (uint32_t)strings_len(f) + 1);
}

static void
ed_target_length_past_strings(GByteArray *f)
{
	EDIT_NODE(f, e_link->idx, n, n.size = strings_len(f));
}

static void
ed_xattrs_past_strings(GByteArray *f)
{
	EDIT_NODE(f, e_etc->idx, n, n.xattrs = (uint32_t)strings_len(f));
}

static void
ed_strings_unterminated(GByteArray *f)
{
	f->data[f->len - 1] = 'x';
}

static void
ed_parent_cycle(GByteArray *f)
{
	/* "a/b" is its own parent: its path has no end. */
	TbEntry *b = tb_get(tb, "a/b");

	EDIT_NODE(f, b->idx, n, n.parent = b->idx);
}

static void
ed_root_is_its_own_child(GByteArray *f)
{
	EDIT_NODE(f, 0, n, {
		n.nchildren += n.first_child;
		n.first_child = 0;
	});
}

static void
ed_xattr_value_past_strings(GByteArray *f)
{
	/*
	 * The blob's first value length (after u32 count, u16 name length):
	 * 300 bytes, past the end of the strings (and small enough for the
	 * layout to copy it into an AL entry).
	 */
	size_t blob = cf_strings_offset(f) + cf_node_get(f, e_etc->idx).xattrs;
	uint32_t past = 300;

	memcpy(f->data + blob + 6, &past, 4);
}

Test(persist, invalid_tree_parent_out_of_range_is_ebadmsg)
{
	expect_invalid_tree(ed_parent_out_of_range, "a parent past the last node");
}

Test(persist, invalid_tree_name_offset_past_the_strings_is_ebadmsg)
{
	expect_invalid_tree(ed_name_past_strings, "a name offset at the end of the strings");
}

Test(persist, invalid_tree_name_running_past_the_strings_is_ebadmsg)
{
	expect_invalid_tree(ed_name_end_past_strings, "a name length past the strings");
}

Test(persist, invalid_tree_children_past_the_end_are_ebadmsg)
{
	expect_invalid_tree(ed_children_past_end, "first_child + nchildren past the end");
	expect_invalid_tree(ed_first_child_past_end, "first_child past the end");
}

Test(persist, invalid_tree_root_not_a_directory_is_ebadmsg)
{
	expect_invalid_tree(ed_root_not_a_directory, "node 0 a regular file");
}

Test(persist, invalid_tree_symlink_target_past_the_strings_is_ebadmsg)
{
	expect_invalid_tree(ed_target_past_strings, "a target offset past the strings");
	expect_invalid_tree(ed_target_length_past_strings, "a target length past the strings");
}

Test(persist, invalid_tree_xattrs_past_the_strings_are_ebadmsg)
{
	expect_invalid_tree(ed_xattrs_past_strings, "an xattr offset at the end of the strings");
}

Test(persist, invalid_tree_strings_not_nul_terminated_are_ebadmsg)
{
	expect_invalid_tree(ed_strings_unterminated, "strings without a final NUL");
}

Test(persist, invalid_tree_without_nodes_is_ebadmsg)
{
	g_autoptr(GByteArray) f = cf_encode(KEY, strlen(KEY), "fingerprint-1", 13, NULL, 0, "", 1);

	expect_load(f, -EBADMSG, "no nodes");
}

Test(persist, invalid_tree_parent_cycle_is_ebadmsg)
{
	expect_invalid_tree(ed_parent_cycle, "a directory that is its own parent");
}

Test(persist, invalid_tree_root_among_its_own_children_is_ebadmsg)
{
	expect_invalid_tree(ed_root_is_its_own_child, "the root in its own child range");
}

Test(persist, invalid_tree_xattr_value_past_the_strings_is_ebadmsg)
{
	expect_invalid_tree(ed_xattr_value_past_strings, "an xattr value length past the strings");
}

/* ------------------------------------------------------------ save errors */

Test(persist, save_into_a_missing_directory_fails)
{
	g_autofree char *missing = g_build_filename(dir, "missing", NULL);

	cr_expect_eq(limg_persist_save(missing, &id, tree, NULL), -ENOENT);
	expect_dir_holds(NULL);
}

Test(persist, save_below_a_regular_file_fails)
{
	g_autofree char *plain = g_build_filename(dir, "plain", NULL);

	th_write_text(dir, "plain", "not a directory");
	cr_expect_eq(limg_persist_save(plain, &id, tree, NULL), -ENOTDIR);
	expect_dir_holds("plain");
}

Test(persist, save_into_a_read_only_directory_fails_and_leaves_no_temp_file)
{
	g_autofree char *ro = g_build_filename(dir, "ro", NULL);
	g_auto(GStrv) left = NULL;
	int ret;

	th_mkdir(dir, "ro");
	cr_assert_eq(chmod(ro, 0555), 0);
	th_dac_drop();          /* root too: permission bits bind */
	ret = limg_persist_save(ro, &id, tree, NULL);
	th_dac_restore();
	cr_expect_eq(ret, -EACCES);
	left = th_list_dir(ro, NULL);
	cr_expect_null(left[0], "left behind: %s", left[0]);
	chmod(ro, 0755);
}

Test(persist, save_that_cannot_write_leaves_no_temp_file)
{
	struct rlimit old, small = { 100, 100 };
	int ret;

	/* Writes past 100 bytes fail with EFBIG (SIGXFSZ ignored). */
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	ret = limg_persist_save(dir, &id, tree, NULL);
	setrlimit(RLIMIT_FSIZE, &old);
	cr_expect_eq(ret, -EFBIG);
	expect_dir_holds(NULL);
}

Test(persist, save_that_cannot_rename_leaves_no_temp_file)
{
	g_autofree char *inside = g_build_filename(file_name(), "x", NULL);

	/* A non-empty directory where the file goes: the rename fails. */
	th_write_text(dir, inside, "x");
	cr_expect_lt(limg_persist_save(dir, &id, tree, NULL), 0);
	expect_dir_holds(file_name());
	cr_expect(g_file_test(file, G_FILE_TEST_IS_DIR), "the directory is still there");
}

/* ------------------------------------------------------------ housekeeping */

Test(persist, dir_bytes_counts_only_tree_files)
{
	g_autofree char *missing = g_build_filename(dir, "missing", NULL);
	char buf[300] = { 0 };

	cr_expect_eq(limg_persist_dir_bytes(dir), 0);
	th_write(dir, "a.tree", buf, 100);
	th_write(dir, "b.tree", buf, 50);
	th_write(dir, "c.tree.tmp.AbCdEf", buf, 300);
	th_write(dir, "d.txt", buf, 200);
	th_write(dir, "tree", buf, 10);
	th_write(dir, ".tree.x", buf, 20);
	cr_expect_eq(limg_persist_dir_bytes(dir), 150);
	save(tree);
	{
		struct stat st;

		cr_assert_eq(stat(file, &st), 0);
		cr_expect_eq(limg_persist_dir_bytes(dir), 150 + (uint64_t)st.st_size);
	}
	cr_expect_eq(limg_persist_dir_bytes(missing), 0);
}

Test(persist, remove_removes_that_key_only)
{
	LimgSourceId other = { .key = (char *)"/other/key", .fingerprint = id.fingerprint };
	g_autofree char *other_file = th_cache_file(dir, other.key);

	save(tree);
	cr_assert_eq(limg_persist_save(dir, &other, tree, NULL), 0);
	limg_persist_remove(dir, KEY);
	cr_expect_not(th_exists(file));
	cr_expect(th_exists(other_file));
	limg_persist_remove(dir, KEY);   /* again: nothing to do */
	limg_persist_remove(dir, "/never/saved");
	cr_expect(th_exists(other_file));
}

/* ------------------------------------------------------------ the corpus */

#define CORPUS "tests/data/should-fail/cache"
#define CORPUS_MAX 256

typedef struct {
	char *name;
	char *err;
	char *reason;
} CorpusLine;

/* The lines of EXPECTED (comments and blank lines left out). */
static GPtrArray *
corpus_lines(bool assert_ok)
{
	g_autofree char *path = th_data_path(CORPUS "/EXPECTED");
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *out = g_ptr_array_new();

	if (!g_file_get_contents(path, &text, NULL, NULL)) {
		if (assert_ok)
			cr_assert_fail("cannot read %s", path);
		return out;
	}
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i]; i++) {
		g_auto(GStrv) f = NULL;
		CorpusLine *l;

		if (!lines[i][0] || lines[i][0] == '#')
			continue;
		f = g_strsplit(lines[i], " ", 3);
		l = g_new0(CorpusLine, 1);
		l->name = g_strdup(f[0]);
		l->err = g_strdup(f[1] ? f[1] : "");
		l->reason = g_strdup(f[1] && f[2] ? f[2] : "");
		g_ptr_array_add(out, l);
	}
	return out;
}

static void
corpus_free(GPtrArray *a)
{
	for (guint i = 0; i < a->len; i++) {
		CorpusLine *l = a->pdata[i];

		g_free(l->name);
		g_free(l->err);
		g_free(l->reason);
		g_free(l);
	}
	g_ptr_array_free(a, TRUE);
}

static int
errno_named(const char *name)
{
	static const struct {
		const char *name;
		int value;
	} names[] = {
		{ "OK", 0 }, { "ENOENT", -ENOENT }, { "ESTALE", -ESTALE },
		{ "EBADMSG", -EBADMSG }, { "EIO", -EIO },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		if (strcmp(names[i].name, name) == 0)
			return names[i].value;
	}
	cr_assert_fail("EXPECTED names an unknown error: %s", name);
	return 1;
}

ParameterizedTestParameters(persist, corpus_file_gives_its_expected_error)
{
	static int idx[CORPUS_MAX];
	GPtrArray *lines = corpus_lines(false);
	size_t n = lines->len ? MIN(lines->len, CORPUS_MAX) : 1;   /* 1: report the failure */

	corpus_free(lines);
	for (size_t i = 0; i < n; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, n);
}

ParameterizedTest(int *i, persist, corpus_file_gives_its_expected_error)
{
	GPtrArray *lines = corpus_lines(true);
	CorpusLine *l;
	g_autofree char *src = NULL;
	g_autofree uint8_t *data = NULL;
	size_t len;
	LimgTree *t = NULL;
	int want, ret;

	cr_assert_lt((guint)*i, lines->len, "EXPECTED has no line %d", *i);
	l = lines->pdata[*i];
	want = errno_named(l->err);
	src = g_build_filename(th_srcdir(), CORPUS, l->name, NULL);
	data = th_read(src, &len);
	g_free(id.key);
	id.key = g_strdup(CF_CORPUS_KEY);
	g_bytes_unref(id.fingerprint);
	id.fingerprint = g_bytes_new_static(CF_CORPUS_PRINT, CF_CORPUS_PRINT_LEN);
	g_free(file);
	file = th_cache_file(dir, CF_CORPUS_KEY);
	th_write(dir, file_name(), data, len);

	ret = limg_persist_load(dir, &id, &t);
	cr_expect_eq(ret, want, "%s (%s): load gave %d (%s), want %s", l->name, l->reason, ret,
	             g_strerror(-ret), l->err);
	if (want == 0)
		cr_expect(th_exists(file), "%s: a good file stays", l->name);
	else
		cr_expect_not(th_exists(file), "%s: a rejected file is removed", l->name);
	limg_tree_free(t);
	corpus_free(lines);
}

Test(persist, corpus_lists_every_file_once_and_matches_this_build)
{
	g_autofree char *cdir = th_data_path(CORPUS);
	g_auto(GStrv) files = th_list_dir(cdir, ".tree");
	GPtrArray *lines = corpus_lines(true);
	GHashTable *listed = g_hash_table_new(g_str_hash, g_str_equal);
	bool have_control = false;

	for (guint i = 0; i < lines->len; i++) {
		CorpusLine *l = lines->pdata[i];

		cr_expect_not(g_hash_table_contains(listed, l->name), "%s listed twice", l->name);
		g_hash_table_add(listed, l->name);
		cr_expect(*l->reason, "%s: no reason given", l->name);
		errno_named(l->err);
		have_control |= strcmp(l->err, "OK") == 0;
	}
	for (guint i = 0; files[i]; i++)
		cr_expect(g_hash_table_contains(listed, files[i]), "%s is not in EXPECTED", files[i]);
	cr_expect_eq(g_strv_length(files), g_hash_table_size(listed),
	             "EXPECTED names files that are not there");
	cr_expect(have_control, "the corpus has a file that must load");
	{
		/* The corpus is written for this build's format: else regenerate it. */
		g_autofree char *p = g_build_filename(cdir, "control-valid.tree", NULL);
		size_t len;
		g_autofree uint8_t *data = th_read(p, &len);
		uint32_t version, node_size;

		cr_assert_geq(len, CF_HEADER_SIZE);
		memcpy(&version, data + CF_OFF_VERSION, 4);
		memcpy(&node_size, data + CF_OFF_NODE_SIZE, 4);
		cr_expect(version == LIMG_PERSIST_VERSION && node_size == sizeof(LimgNode),
		          "the corpus is for format %u with %u-byte nodes, this build has %u and %zu: "
		          "regenerate it with tests/tools/mk-cache-corpus " CORPUS,
		          version, node_size, LIMG_PERSIST_VERSION, sizeof(LimgNode));
	}
	g_hash_table_destroy(listed);
	corpus_free(lines);
}
