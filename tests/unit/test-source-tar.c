/*
 * test-source-tar.c - the tar source (source.h, source-tar.c): archives
 * made here with libarchive's writer (pax, GNU, ustar; plain, gzip,
 * zstd), with GNU tar where the writer cannot (sparse members), or with
 * raw 512-byte headers (hostile and damaged archives), read back through
 * scan, open and pread.
 *
 * Each test runs in a directory of its own process, <tmp>/limg-test-tar-
 * <pid>: w/ holds the blobs, spool/ the spool directory, tmp/ is $TMPDIR
 * (set before glib reads it, so the scans' temporary spools land there
 * and a test can see that nothing visible is left in it).
 */
#include <config.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "source/source.h"
#include "lib/testlib.h"

static char *top;            /* <tmp>/limg-test-tar-<pid> */
static char *work;           /* top/w: blobs */
static char *spool;          /* top/spool */
static char *tmpdir;         /* top/tmp = $TMPDIR */
static char *blob;           /* work/layer.tar */
static LimgSource *src;
static LimgTree *tree;
static LimgReport report;
static uint64_t skipped;

static void
setup(void)
{
	static char *base;

	/* the first test of the process reads the real $TMPDIR; the later ones set it */
	if (!base)
		base = g_strdup(getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	top = g_strdup_printf("%s/limg-test-tar-%d", base, (int)getpid());
	th_rmtree(top);
	work = g_build_filename(top, "w", NULL);
	spool = g_build_filename(top, "spool", NULL);
	tmpdir = g_build_filename(top, "tmp", NULL);
	blob = g_build_filename(work, "layer.tar", NULL);
	cr_assert_eq(g_mkdir_with_parents(work, 0755), 0);
	cr_assert_eq(g_mkdir_with_parents(spool, 0755), 0);
	cr_assert_eq(g_mkdir_with_parents(tmpdir, 0755), 0);
	/* same name in every test of a process: glib keeps the first it reads */
	setenv("TMPDIR", tmpdir, 1);
	limg_report_init(&report);
	src = NULL;
	tree = NULL;
	skipped = 0;
}

static void
teardown(void)
{
	limg_source_free(src);
	src = NULL;
	limg_tree_free(tree);
	tree = NULL;
	limg_report_release(&report);
	th_rmtree(top);
	g_clear_pointer(&top, g_free);
	g_clear_pointer(&work, g_free);
	g_clear_pointer(&spool, g_free);
	g_clear_pointer(&tmpdir, g_free);
	g_clear_pointer(&blob, g_free);
}

TestSuite(tar, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ writing archives */

enum { FMT_PAX, FMT_GNU, FMT_USTAR };
enum { Z_NONE, Z_GZIP, Z_ZSTD };

static struct archive *
tw_open_path(const char *path, int fmt, int z)
{
	struct archive *w = archive_write_new();
	int r;

	cr_assert_not_null(w);
	r = fmt == FMT_PAX ? archive_write_set_format_pax(w) :
	    fmt == FMT_GNU ? archive_write_set_format_gnutar(w) :
	    archive_write_set_format_ustar(w);
	cr_assert_eq(r, ARCHIVE_OK);
	if (z == Z_GZIP)
		cr_assert_eq(archive_write_add_filter_gzip(w), ARCHIVE_OK);
	else if (z == Z_ZSTD)
		cr_assert_eq(archive_write_add_filter_zstd(w), ARCHIVE_OK, "%s",
		             archive_error_string(w));
	/* no padding to 10 KiB: the blob ends with the two zero blocks */
	archive_write_set_bytes_in_last_block(w, 1);
	cr_assert_eq(archive_write_open_filename(w, path), ARCHIVE_OK, "%s",
	             archive_error_string(w));
	return w;
}

/* A writer of the test's blob. */
static struct archive *
tw_open(int fmt, int z)
{
	return tw_open_path(blob, fmt, z);
}

static void
tw_close(struct archive *w)
{
	cr_assert_eq(archive_write_close(w), ARCHIVE_OK, "%s", archive_error_string(w));
	archive_write_free(w);
}

/* An entry @path of type and mode @mode, owner 0:0, the default mtime. */
static struct archive_entry *
ent(const char *path, mode_t mode)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_copy_pathname(e, path);
	archive_entry_set_mode(e, mode);
	archive_entry_set_mtime(e, TB_DEFAULT_MTIME, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	return e;
}

/* Write @e (freed) and, for a regular file, its @len bytes of @data. */
static void
tw_add(struct archive *w, struct archive_entry *e, const void *data, size_t len)
{
	int r;

	if (S_ISREG(archive_entry_mode(e)) && !archive_entry_hardlink(e))
		archive_entry_set_size(e, (la_int64_t)len);
	r = archive_write_header(w, e);
	cr_assert(r == ARCHIVE_OK || r == ARCHIVE_WARN, "header '%s': %s",
	          archive_entry_pathname(e), archive_error_string(w));
	if (len)
		cr_assert_eq(archive_write_data(w, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void
tw_data(struct archive *w, const char *path, const void *data, size_t len)
{
	tw_add(w, ent(path, S_IFREG | 0644), data, len);
}

static void
tw_file(struct archive *w, const char *path, const char *text)
{
	tw_data(w, path, text, strlen(text));
}

static void
tw_dir(struct archive *w, const char *path)
{
	tw_add(w, ent(path, S_IFDIR | 0755), NULL, 0);
}

static void
tw_symlink(struct archive *w, const char *path, const char *target)
{
	struct archive_entry *e = ent(path, S_IFLNK | 0777);

	archive_entry_copy_symlink(e, target);
	tw_add(w, e, NULL, 0);
}

static void
tw_hardlink(struct archive *w, const char *path, const char *target)
{
	struct archive_entry *e = ent(path, S_IFREG | 0644);

	archive_entry_copy_hardlink(e, target);
	archive_entry_set_size(e, 0);
	tw_add(w, e, NULL, 0);
}

static void
tw_dev(struct archive *w, const char *path, mode_t mode, unsigned major, unsigned minor)
{
	struct archive_entry *e = ent(path, mode);

	archive_entry_set_rdevmajor(e, major);
	archive_entry_set_rdevminor(e, minor);
	tw_add(w, e, NULL, 0);
}

/* @len bytes of a pattern that depends on @seed. Caller frees. */
static uint8_t *
pattern(uint32_t seed, size_t len)
{
	uint8_t *p = g_malloc(len ? len : 1);

	for (size_t i = 0; i < len; i++)
		p[i] = synth_byte(seed, i);
	return p;
}

/* ------------------------------------------------------------ raw archives */

static void
put_octal(uint8_t *field, size_t width, uint64_t v)
{
	g_snprintf((char *)field, width, "%0*" PRIo64, (int)width - 1, v);
}

/* A ustar header of @type for @name (at most 100 bytes; copied raw). */
static void
raw_header(GByteArray *o, const char *name, char type, uint32_t mode, uint64_t size,
           const char *link)
{
	uint8_t h[512] = { 0 };
	unsigned sum = 0;

	memcpy(h, name, MIN(strlen(name), 100));
	put_octal(h + 100, 8, mode);
	put_octal(h + 108, 8, 0);
	put_octal(h + 116, 8, 0);
	put_octal(h + 124, 12, size);
	put_octal(h + 136, 12, TB_DEFAULT_MTIME);
	h[156] = (uint8_t)type;
	if (link)
		memcpy(h + 157, link, MIN(strlen(link), 100));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	g_snprintf((char *)h + 148, 8, "%06o", sum);
	g_byte_array_append(o, h, 512);
}

/* @len bytes of member data, padded to a block. */
static void
raw_data(GByteArray *o, const void *data, size_t len)
{
	static const uint8_t zero[512];

	g_byte_array_append(o, data, (guint)len);
	if (len % 512)
		g_byte_array_append(o, zero, (guint)(512 - len % 512));
}

static void
raw_file(GByteArray *o, const char *name, const char *text)
{
	raw_header(o, name, '0', 0644, strlen(text), NULL);
	raw_data(o, text, strlen(text));
}

/* A PAX record "<len> <key>=<value>\n" ( @vlen bytes of value, binary allowed). */
static void
pax_record(GString *s, const char *key, const void *value, size_t vlen)
{
	size_t body = 1 + strlen(key) + 1 + vlen + 1, len = body + 1;

	/* the length counts its own digits */
	while (len != body + (size_t)snprintf(NULL, 0, "%zu", len))
		len = body + (size_t)snprintf(NULL, 0, "%zu", len);
	g_string_append_printf(s, "%zu %s=", len, key);
	g_string_append_len(s, value, (gssize)vlen);
	g_string_append_c(s, '\n');
}

/* A PAX extended header ('x') for the next member. */
static void
raw_pax(GByteArray *o, const GString *records)
{
	raw_header(o, "PaxHeaders/x", 'x', 0644, records->len, NULL);
	raw_data(o, records->str, records->len);
}

static void
raw_end(GByteArray *o)
{
	static const uint8_t zero[1024];

	g_byte_array_append(o, zero, sizeof(zero));
}

static void
save(const char *path, const void *data, size_t len)
{
	g_autoptr(GError) error = NULL;

	cr_assert(g_file_set_contents(path, data, (gssize)len, &error), "%s",
	          error ? error->message : "");
}

static void
raw_save(GByteArray *o)
{
	save(blob, o->data, o->len);
}

/* ------------------------------------------------------------ GNU tar */

/* Run GNU tar with @argv (NULL-terminated, without "tar"); skip the test without it. */
static void
run_tar(const char *const *argv)
{
	g_autofree char *tar = g_find_program_in_path("tar");
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autofree char *out = NULL, *err = NULL;
	g_autoptr(GError) error = NULL;
	int status = -1;

	if (!tar)
		cr_skip_test("no tar here");
	g_ptr_array_add(args, tar);
	for (size_t i = 0; argv[i]; i++)
		g_ptr_array_add(args, (char *)argv[i]);
	g_ptr_array_add(args, NULL);
	cr_assert(g_spawn_sync(NULL, (char **)args->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
	                       &out, &err, &status, &error), "%s", error ? error->message : "");
	if (!g_spawn_check_wait_status(status, NULL))
		cr_skip_test("tar failed (not GNU tar?): %s", err);
}

/* ------------------------------------------------------------ scanning */

/* A new source for @path with @o; the global one is replaced. */
static void
new_source(const char *path, const LimgTarOptions *o)
{
	int ret;

	limg_source_free(src);
	src = NULL;
	ret = limg_tar_source_new(path, false, o, &src);
	cr_assert_eq(ret, 0, "limg_tar_source_new(%s): %d", path, ret);
}

/* The messages of @m, one a line, for failure messages. Caller frees. */
static char *
joined(GPtrArray *m)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < m->len; i++)
		g_string_append_printf(s, "\n  %s", (const char *)m->pdata[i]);
	return g_string_free(s, FALSE);
}

/* Scan the blob with @o and @so; the scan's return. */
static int
try_scan_with(const LimgTarOptions *o, const LimgScanOptions *so)
{
	limg_tree_free(tree);
	tree = NULL;
	new_source(blob, o);
	return limg_source_scan(src, so, &report, &tree, &skipped);
}

static int
try_scan(const LimgTarOptions *o)
{
	return try_scan_with(o, NULL);
}

/* Scan, asserting success and the tree invariant. */
static void
scan(const LimgTarOptions *o)
{
	int ret = try_scan(o);
	g_autofree char *errs = joined(report.errors);

	cr_assert_eq(ret, 0, "scan: %d (%s)%s", ret, g_strerror(-ret), errs);
	th_expect_tree_invariant(tree);
}

/* Finish writing the blob and scan it. */
static void
close_and_scan(struct archive *w)
{
	tw_close(w);
	scan(NULL);
}

/* Scan expecting failure @want, and no tree. */
static void
scan_fails(const LimgTarOptions *o, int want)
{
	int ret = try_scan(o);

	cr_expect_eq(ret, want, "scan: %d (%s), not %d", ret, g_strerror(-ret), want);
	cr_expect_null(tree);
	cr_expect_gt(report.errors->len, 0, "a failed scan says why");
}

static const LimgNode *
node(const char *path)
{
	return th_tree_node(tree, path);
}

/* Is there a message in @m holding @a and (when not NULL) @b? */
static bool
has_msg(GPtrArray *m, const char *a, const char *b)
{
	for (guint i = 0; i < m->len; i++) {
		const char *s = m->pdata[i];

		if (strstr(s, a) && (!b || strstr(s, b)))
			return true;
	}
	return false;
}

static void
expect_msg(GPtrArray *m, const char *kind, const char *a, const char *b)
{
	g_autofree char *all = joined(m);

	cr_expect(has_msg(m, a, b), "no %s with '%s' and '%s'; there are:%s", kind, a,
	          b ? b : "", all);
}

static void
expect_warning(const char *a, const char *b)
{
	expect_msg(report.warnings, "warning", a, b);
}

static void
expect_error(const char *a, const char *b)
{
	expect_msg(report.errors, "error", a, b);
}

/* @path is not in the tree, and a warning names it (and @why, when not NULL). */
static void
expect_left_out(const char *path, const char *why)
{
	g_autofree char *quoted = g_strdup_printf("'%s", path);

	th_expect_absent(tree, path);
	expect_warning(quoted, why);
}

static void
expect_no_warnings(void)
{
	g_autofree char *all = joined(report.warnings);

	cr_expect_eq(report.warnings->len, 0, "warnings:%s", all);
}

/* The bytes of node @idx of @t through source @s: *c is what open() gave. Caller frees. */
static uint8_t *
read_node_of(LimgSource *s, const LimgTree *t, uint32_t idx, LimgContent *c)
{
	const LimgNode *n = &t->nodes[idx];
	uint8_t *buf = g_malloc(n->size ? n->size : 1);
	uint64_t done = 0;
	int ret;

	*c = (LimgContent){ .fd = -1 };
	ret = limg_source_open(s, t, idx, c);
	cr_assert_eq(ret, 0, "open node %u: %d", idx, ret);
	while (done < n->size) {
		ssize_t r = pread(c->fd, buf + done, n->size - done, (off_t)(c->base + done));

		cr_assert_gt(r, 0, "pread at %" PRIu64 ": %zd (%s)", c->base + done, r,
		             strerror(errno));
		done += (uint64_t)r;
	}
	return buf;
}

static void
expect_content_of(LimgSource *s, const LimgTree *t, const char *path, const void *want,
                  size_t len)
{
	uint32_t idx = th_tree_find(t, path);
	g_autofree uint8_t *got = NULL;
	LimgContent c;

	cr_assert_neq(idx, LIMG_NONE, "no node '%s'", path);
	cr_assert(S_ISREG(t->nodes[idx].mode), "'%s' is not a regular file", path);
	cr_assert_eq(t->nodes[idx].size, len, "'%s': %" PRIu64 " bytes, not %zu", path,
	             t->nodes[idx].size, len);
	got = read_node_of(s, t, idx, &c);
	cr_expect(memcmp(got, want, len) == 0, "'%s': other bytes", path);
	limg_content_release(&c);
}

static void
expect_content(const char *path, const void *want, size_t len)
{
	expect_content_of(src, tree, path, want, len);
}

static void
expect_text(const char *path, const char *text)
{
	expect_content(path, text, strlen(text));
}

/* What open() gives for @path. */
static LimgContent
content_of(const char *path)
{
	LimgContent c = { .fd = -1 };
	int ret = limg_source_open(src, tree, th_tree_find(tree, path), &c);

	cr_assert_eq(ret, 0, "open '%s': %d", path, ret);
	return c;
}

/* Is @fd the file at @path? */
static bool
is_file(int fd, const char *path)
{
	struct stat a, b;

	cr_assert_eq(fstat(fd, &a), 0);
	return stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void
expect_dir_empty(const char *dir)
{
	g_auto(GStrv) names = th_list_dir(dir, NULL);
	g_autofree char *all = g_strjoinv(" ", names);

	cr_expect_null(names[0], "%s holds: %s", dir, all);
}

static uint64_t
file_size(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	return (uint64_t)st.st_size;
}

/* Cut the blob to @len bytes. */
static void
cut_blob(uint64_t len)
{
	cr_assert_eq(truncate(blob, (off_t)len), 0);
}

/* Flip the bits of the blob's byte @at. */
static void
flip_byte(const char *path, uint64_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &c, 1, (off_t)at), 1);
	c ^= 0xff;
	cr_assert_eq(pwrite(fd, &c, 1, (off_t)at), 1);
	close(fd);
}

static const char *
hex_digest_of(const char *path)
{
	static char digest[80];
	size_t len;
	g_autofree uint8_t *data = th_read(path, &len);
	g_autofree char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);

	g_snprintf(digest, sizeof(digest), "sha256:%s", hex);
	return digest;
}

/* The blob must hold @what: it is the kind of archive the test means. */
static void
expect_blob_has(const char *what, const char *why)
{
	size_t len;
	g_autofree uint8_t *d = th_read(blob, &len);

	cr_assert_not_null(memmem(d, len, what, strlen(what)), "no '%s' in the blob: not %s", what,
	                   why);
}

/* ------------------------------------------------------------ names */

/* @n copies of @c, then @tail. Caller frees. */
static char *
rep(char c, size_t n, const char *tail)
{
	g_autofree char *s = g_strnfill(n, c);

	return g_strconcat(s, tail, NULL);
}

static void
long_names(int fmt)
{
	g_autofree char *c100 = rep('c', 100, "");
	g_autofree char *one = rep('a', 150, "");                      /* > 100 */
	g_autofree char *deep = g_strdup_printf("%s/%s/%s/f", c100, c100, c100); /* > 255 */
	g_autofree char *target = rep('t', 300, "/end");
	g_autofree char *lnk = rep('l', 120, "");
	struct archive *w = tw_open(fmt, Z_NONE);

	tw_file(w, one, "one");
	tw_file(w, deep, "deep");
	tw_symlink(w, "sym", target);
	tw_hardlink(w, lnk, deep);
	tw_close(w);
	if (fmt == FMT_GNU)
		expect_blob_has("././@LongLink", "old GNU long names ('L', 'K' members)");
	else
		expect_blob_has(" path=", "PAX path records");
	scan(NULL);
	expect_text(one, "one");
	expect_text(deep, "deep");
	expect_text(lnk, "deep");
	cr_expect_str_eq(limg_tree_target(tree, node("sym")), target);
	cr_expect_eq(node("sym")->size, strlen(target));
	expect_no_warnings();
}

Test(tar, long_names_pax)
{
	long_names(FMT_PAX);
}

Test(tar, long_names_old_gnu)
{
	long_names(FMT_GNU);
}

Test(tar, long_names_ustar_prefix)
{
	g_autofree char *dir = rep('d', 150, "");
	g_autofree char *path = g_strdup_printf("%s/%s", dir, "file-in-the-name-field");
	struct archive *w = tw_open(FMT_USTAR, Z_NONE);

	tw_file(w, path, "split");
	close_and_scan(w);
	expect_text(path, "split");
	cr_expect(S_ISDIR(node(dir)->mode));
}

/* An archive with UTF-8 names as Go and GNU tar write them: PAX path records. */
static void
write_utf8_archive(void)
{
	struct archive *w;
	g_autofree char *old = g_strdup(setlocale(LC_CTYPE, NULL));

	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		cr_skip_test("no C.UTF-8 locale");
	w = tw_open(FMT_PAX, Z_NONE);
	tw_file(w, "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", "utf8");
	tw_symlink(w, "l\xc3\xbcnk", "\xc3\xbc" "ber");
	tw_close(w);
	setlocale(LC_CTYPE, old);
}

Test(tar, utf8_names_are_kept)
{
	write_utf8_archive();
	scan(NULL);
	expect_text("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", "utf8");
	cr_expect_str_eq(limg_tree_target(tree, node("l\xc3\xbcnk")), "\xc3\xbc" "ber");
}

Test(tar, utf8_names_give_no_warnings)
{
	write_utf8_archive();
	scan(NULL);
	/* the names were kept (above): a warning that says otherwise is noise */
	expect_no_warnings();
}

Test(tar, raw_bytes_in_ustar_names_are_kept)
{
	struct archive *w = tw_open(FMT_USTAR, Z_NONE);

	tw_file(w, "raw\xff\xfe.bin", "raw");
	tw_file(w, "d\x80/x\x01y", "ctl");
	close_and_scan(w);
	expect_text("raw\xff\xfe.bin", "raw");
	expect_text("d\x80/x\x01y", "ctl");
}

/* ------------------------------------------------------------ metadata */

Test(tar, modes_keep_setuid_setgid_and_sticky)
{
	static const mode_t modes[] = {
		S_IFREG | 04755, S_IFREG | 02711, S_IFREG | 06000, S_IFREG | 0, S_IFDIR | 01777,
		S_IFDIR | 03750, S_IFREG | 07777,
	};
	struct archive *w = tw_open(FMT_USTAR, Z_NONE);
	char name[16];

	for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_snprintf(name, sizeof(name), "m%zu", i);
		tw_add(w, ent(name, modes[i]), "x", S_ISREG(modes[i]) ? 1 : 0);
	}
	close_and_scan(w);
	for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_snprintf(name, sizeof(name), "m%zu", i);
		cr_expect_eq(node(name)->mode, modes[i], "%s: 0%o, not 0%o", name, node(name)->mode,
		             modes[i]);
	}
}

static void
add_owned(struct archive *w, const char *path, int64_t uid, int64_t gid)
{
	struct archive_entry *e = ent(path, S_IFREG | 0644);

	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	tw_add(w, e, "o", 1);
}

Test(tar, owners_small_and_large)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	add_owned(w, "small", 1000, 2000);
	add_owned(w, "octal-max", 2097151, 2097151);     /* 7 octal digits */
	add_owned(w, "large", 3000000000LL, 4000000000LL); /* only in PAX records */
	add_owned(w, "nobody", 4294967294LL, 65534);
	close_and_scan(w);
	cr_expect_eq(node("small")->uid, 1000);
	cr_expect_eq(node("small")->gid, 2000);
	cr_expect_eq(node("octal-max")->uid, 2097151);
	cr_expect_eq(node("large")->uid, 3000000000u);
	cr_expect_eq(node("large")->gid, 4000000000u);
	cr_expect_eq(node("nobody")->uid, 4294967294u);
	cr_expect_eq(node("nobody")->gid, 65534);
}

Test(tar, large_ids_in_old_gnu_base256)
{
	struct archive *w = tw_open(FMT_GNU, Z_NONE);

	add_owned(w, "big", 3000000000LL, 2097152);
	close_and_scan(w);
	cr_expect_eq(node("big")->uid, 3000000000u);
	cr_expect_eq(node("big")->gid, 2097152);
}

static void
add_timed(struct archive *w, const char *path, int64_t sec, long nsec)
{
	struct archive_entry *e = ent(path, S_IFREG | 0644);

	archive_entry_set_mtime(e, sec, nsec);
	tw_add(w, e, "t", 1);
}

Test(tar, mtimes_keep_nanoseconds_in_pax)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	add_timed(w, "ns", 1234567890, 123456789);
	add_timed(w, "whole", 1234567890, 0);
	add_timed(w, "far", 10000000000LL, 5);            /* past the 11-digit octal field */
	close_and_scan(w);
	cr_expect_eq(node("ns")->mtime.sec, 1234567890);
	cr_expect_eq(node("ns")->mtime.nsec, 123456789);
	cr_expect_eq(node("whole")->mtime.nsec, 0);
	cr_expect_eq(node("far")->mtime.sec, 10000000000LL);
	cr_expect_eq(node("far")->mtime.nsec, 5);
}

Test(tar, mtimes_of_ustar_are_whole_seconds)
{
	struct archive *w = tw_open(FMT_USTAR, Z_NONE);

	add_timed(w, "f", 1500000000, 999999999);
	close_and_scan(w);
	cr_expect_eq(node("f")->mtime.sec, 1500000000);
	cr_expect_eq(node("f")->mtime.nsec, 0);
}

Test(tar, symlinks_keep_target_and_size)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_symlink(w, "rel", "../x/y");
	tw_symlink(w, "abs", "/etc/passwd");
	tw_symlink(w, "d/dot", ".");
	close_and_scan(w);
	cr_expect_eq(node("rel")->mode, S_IFLNK | 0777);
	cr_expect_str_eq(limg_tree_target(tree, node("rel")), "../x/y");
	cr_expect_eq(node("rel")->size, 6);
	cr_expect_str_eq(limg_tree_target(tree, node("abs")), "/etc/passwd");
	cr_expect_str_eq(limg_tree_target(tree, node("d/dot")), ".");
	cr_expect_eq(th_tree_find(tree, "etc"), LIMG_NONE, "a symlink is never followed");
}

static void
hard_links(int z)
{
	const LimgNode *a, *b, *c, *o;
	struct archive *w = tw_open(FMT_PAX, z);

	tw_file(w, "a", "shared bytes");
	tw_file(w, "other", "other bytes!");
	tw_hardlink(w, "d/b", "a");
	tw_hardlink(w, "c", "./a");
	close_and_scan(w);
	a = node("a");
	b = node("d/b");
	c = node("c");
	o = node("other");
	cr_expect(a->dev == b->dev && a->ino == b->ino, "d/b shares a's inode");
	cr_expect(a->dev == c->dev && a->ino == c->ino, "c shares a's inode");
	cr_expect(a->dev != o->dev || a->ino != o->ino, "other is another inode");
	cr_expect_eq(a->nlink, 3, "nlink %u", a->nlink);
	cr_expect_eq(b->nlink, 3);
	cr_expect_eq(c->nlink, 3);
	cr_expect_eq(o->nlink, 1);
	expect_text("d/b", "shared bytes");
	expect_text("c", "shared bytes");
	expect_no_warnings();
}

Test(tar, hard_links_share_an_inode_plain)
{
	hard_links(Z_NONE);
}

Test(tar, hard_links_share_an_inode_gzip)
{
	hard_links(Z_GZIP);
}

Test(tar, hard_link_to_a_symlink_copies_its_target)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_symlink(w, "sym", "the/target");
	tw_hardlink(w, "sym2", "sym");
	close_and_scan(w);
	cr_expect(S_ISLNK(node("sym2")->mode));
	cr_expect_str_eq(limg_tree_target(tree, node("sym2")), "the/target");
	cr_expect_eq(node("sym2")->ino, node("sym")->ino);
	cr_expect_eq(node("sym2")->nlink, 2);
}

/* Empty files and the file after them are distinct inodes, each with one name. */
static void
empty_files_are_distinct(int z)
{
	static const char *const names[] = { "e1", "e2", "f", "e3" };
	struct archive *w = tw_open(FMT_PAX, z);

	tw_file(w, "e1", "");
	tw_file(w, "e2", "");
	tw_file(w, "f", "full");
	tw_file(w, "e3", "");
	close_and_scan(w);
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		const LimgNode *x = node(names[i]);

		cr_expect_eq(x->nlink, 1, "%s: nlink %u", names[i], x->nlink);
		for (size_t j = 0; j < i; j++) {
			const LimgNode *y = node(names[j]);

			cr_expect(x->dev != y->dev || x->ino != y->ino,
			          "%s and %s share (dev %" PRIu64 ", ino %" PRIu64 ")", names[i],
			          names[j], x->dev, x->ino);
		}
	}
	expect_text("e1", "");
	expect_text("f", "full");
}

Test(tar, empty_files_are_distinct_inodes_plain)
{
	empty_files_are_distinct(Z_NONE);
}

Test(tar, empty_files_are_distinct_inodes_gzip)
{
	empty_files_are_distinct(Z_GZIP);
}

Test(tar, devices_and_fifos)
{
	const LimgNode *n;
	struct archive *w = tw_open(FMT_USTAR, Z_NONE);

	tw_dev(w, "null", S_IFCHR | 0666, 1, 3);
	tw_dev(w, "sda1", S_IFBLK | 0660, 8, 1);
	tw_dev(w, "wide", S_IFBLK | 0600, 300, 70000);
	tw_add(w, ent("pipe", S_IFIFO | 0640), NULL, 0);
	close_and_scan(w);
	n = node("null");
	cr_expect_eq(n->mode, S_IFCHR | 0666);
	cr_expect_eq(n->rdev_major, 1);
	cr_expect_eq(n->rdev_minor, 3);
	cr_expect_eq(n->size, 0);
	n = node("sda1");
	cr_expect_eq(n->mode, S_IFBLK | 0660);
	cr_expect_eq(n->rdev_major, 8);
	cr_expect_eq(n->rdev_minor, 1);
	cr_expect_eq(node("wide")->rdev_major, 300);
	cr_expect_eq(node("wide")->rdev_minor, 70000);
	cr_expect_eq(node("pipe")->mode, S_IFIFO | 0640);
	cr_expect_eq(node("pipe")->rdev_major, 0);
	cr_expect_eq(limg_source_open(src, tree, th_tree_find(tree, "pipe"),
	                              &(LimgContent){ 0 }), -EINVAL, "a FIFO is never opened");
}

/* ------------------------------------------------------------ xattrs */

static const uint8_t cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
#define CAP_ESCAPED "\\x01\\x00\\x00\\x02\\x00\\x20\\x00\\x00\\x00\\x00\\x00\\x00\\x00" \
                    "\\x00\\x00\\x00\\x00\\x00\\x00\\x00"

/* libarchive's PAX writer: LIBARCHIVE.xattr.* and SCHILY.xattr.* records both. */
static void
write_xattr_archive(void)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);
	struct archive_entry *e = ent("f", S_IFREG | 0755);

	archive_entry_xattr_add_entry(e, "user.bin", "\0\x01\xff\n=", 5);
	archive_entry_xattr_add_entry(e, "security.capability", cap, sizeof(cap));
	archive_entry_xattr_add_entry(e, "user.empty", "", 0);
	tw_add(w, e, "x", 1);
	e = ent("d", S_IFDIR | 0755);
	archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
	tw_add(w, e, NULL, 0);
	tw_close(w);
}

Test(tar, xattrs_from_pax_records_with_binary_values)
{
	write_xattr_archive();
	scan(NULL);
	th_expect_xattrs(tree, "f", "security.capability=" CAP_ESCAPED ","
	                 "user.bin=\\x00\\x01\\xff\\x0a\\x3d,user.empty=");
	th_expect_xattrs(tree, "d", "trusted.overlay.opaque=y");
}

Test(tar, xattrs_only_when_asked)
{
	LimgScanOptions so = { .xattrs = false };
	int ret;

	write_xattr_archive();
	ret = try_scan_with(NULL, &so);
	cr_assert_eq(ret, 0);
	th_expect_xattrs(tree, "f", "");
	th_expect_xattrs(tree, "d", "");
}

Test(tar, xattrs_from_schily_records_alone)
{
	g_autoptr(GByteArray) o = g_byte_array_new();
	g_autoptr(GString) r = g_string_new(NULL);

	pax_record(r, "SCHILY.xattr.user.raw", "a\0b\nc", 5);
	pax_record(r, "SCHILY.xattr.security.capability", cap, sizeof(cap));
	raw_pax(o, r);
	raw_file(o, "f", "data");
	raw_end(o);
	raw_save(o);
	scan(NULL);
	th_expect_xattrs(tree, "f", "security.capability=" CAP_ESCAPED ",user.raw=a\\x00b\\x0ac");
	expect_text("f", "data");
}

/* ------------------------------------------------------------ content */

/*
 * The offset of the header of the first member of type @type named @name
 * (NULL: any name) in the plain blob at @path, walking its headers (one
 * block each, as ustar, PAX and old GNU members with a short sparse map
 * have); UINT64_MAX when there is none.
 */
static uint64_t
find_member(const char *path, char type, const char *name)
{
	size_t len;
	g_autofree uint8_t *d = th_read(path, &len);

	for (uint64_t at = 0; at + 512 <= len;) {
		const uint8_t *h = d + at;
		uint64_t size = g_ascii_strtoull((const char *)h + 124, NULL, 8);

		if (!h[0])
			break;
		if (h[156] == type && (!name || strncmp((const char *)h, name, 100) == 0))
			return at;
		at += 512 + (size + 511) / 512 * 512;
	}
	return UINT64_MAX;
}

/* The offset of regular member @name's data in the plain blob at @path. */
static uint64_t
data_offset(const char *path, const char *name)
{
	uint64_t at = find_member(path, '0', name);

	cr_assert_neq(at, UINT64_MAX, "no member '%s' in %s", name, path);
	return at + 512;
}

Test(tar, plain_content_is_served_from_the_blob)
{
	g_autofree uint8_t *big = pattern(1, 1000);
	struct archive *w = tw_open(FMT_USTAR, Z_NONE);
	LimgContent c;

	tw_file(w, "a", "hello");
	tw_data(w, "b", big, 1000);
	tw_file(w, "c", "");
	tw_file(w, "d/e", "e");
	close_and_scan(w);
	expect_text("a", "hello");
	expect_content("b", big, 1000);
	expect_text("c", "");
	expect_text("d/e", "e");
	c = content_of("a");
	cr_expect(!c.owned, "the blob's own fd");
	cr_expect(is_file(c.fd, blob), "served from the blob");
	cr_expect_eq(c.base, 512);
	cr_expect_eq(content_of("b").base, 1536);
	cr_expect_eq(content_of("b").base, data_offset(blob, "b"));
	cr_expect_eq(content_of("d/e").base, data_offset(blob, "d/e"));
	expect_dir_empty(tmpdir);
}

static void
compressed_content(int z)
{
	static const size_t sizes[] = { 0, 1, 511, 512, 513, 4096, 100000 };
	struct archive *w = tw_open(FMT_PAX, z);
	char name[16];
	LimgContent c;

	for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autofree uint8_t *p = pattern((uint32_t)i, sizes[i]);

		g_snprintf(name, sizeof(name), "f%zu", sizes[i]);
		tw_data(w, name, p, sizes[i]);
	}
	close_and_scan(w);
	for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autofree uint8_t *p = pattern((uint32_t)i, sizes[i]);

		g_snprintf(name, sizeof(name), "f%zu", sizes[i]);
		expect_content(name, p, sizes[i]);
	}
	c = content_of("f100000");
	cr_expect(!c.owned);
	cr_expect(!is_file(c.fd, blob), "a compressed blob is served from a spool");
}

Test(tar, gzip_content_is_served_from_a_spool)
{
	compressed_content(Z_GZIP);
}

Test(tar, zstd_content_is_served_from_a_spool)
{
	compressed_content(Z_ZSTD);
}

Test(tar, five_mib_file_in_each_kind)
{
	const size_t len = 5u << 20;
	g_autofree uint8_t *p = pattern(5, len);

	for (int z = Z_NONE; z <= Z_ZSTD; z++) {
		struct archive *w = tw_open(FMT_PAX, z);

		tw_data(w, "big", p, len);
		tw_file(w, "after", "after");
		tw_close(w);
		scan(NULL);
		expect_content("big", p, len);
		expect_text("after", "after");
	}
}

Test(tar, many_small_files)
{
	const unsigned n = 3000;
	struct archive *w = tw_open(FMT_PAX, Z_GZIP);
	char name[32];

	for (unsigned i = 0; i < n; i++) {
		g_autofree uint8_t *p = pattern(i, i % 700);

		g_snprintf(name, sizeof(name), "d%u/f%u", i % 30, i);
		tw_data(w, name, p, i % 700);
	}
	close_and_scan(w);
	cr_expect_eq(tree->n_nodes, 1 + 30 + n);
	for (unsigned i = 0; i < n; i++) {
		g_autofree uint8_t *p = pattern(i, i % 700);

		g_snprintf(name, sizeof(name), "d%u/f%u", i % 30, i);
		expect_content(name, p, i % 700);
	}
}

/* ------------------------------------------------------------ sparse members */

#define SPARSE_SIZE ((3u << 20) + 123)

/* A sparse file "s" in work/sp: data at 0, at 1 MiB + 5 and at the end; holes between. */
static uint8_t *
make_sparse_file(char **dir_out)
{
	g_autofree char *dir = g_build_filename(work, "sp", NULL);
	g_autofree char *path = g_build_filename(dir, "s", NULL);
	uint8_t *want = g_malloc0(SPARSE_SIZE);
	g_autofree uint8_t *mid = pattern(9, 8192);
	int fd;

	cr_assert_eq(g_mkdir_with_parents(dir, 0755), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, SPARSE_SIZE), 0);
	cr_assert_eq(pwrite(fd, "head", 4, 0), 4);
	cr_assert_eq(pwrite(fd, mid, 8192, (1 << 20) + 5), 8192);
	cr_assert_eq(pwrite(fd, "tail", 4, SPARSE_SIZE - 4), 4);
	close(fd);
	memcpy(want, "head", 4);
	memcpy(want + (1 << 20) + 5, mid, 8192);
	memcpy(want + SPARSE_SIZE - 4, "tail", 4);
	th_write_text(dir, "plain", "a plain file after the sparse one");
	*dir_out = g_steal_pointer(&dir);
	return want;
}

/* GNU tar -S with @fmt_args (NULL-terminated), then gzip'ed when @gz; check what reads back. */
static void
sparse_member(const char *const *fmt_args, const char *marker, bool gz)
{
	g_autofree char *dir = NULL;
	g_autofree uint8_t *want = make_sparse_file(&dir);
	const char *argv[16];
	size_t n = 0;
	LimgContent c;
	struct stat st;

	argv[n++] = "-S";
	for (size_t i = 0; fmt_args[i]; i++)
		argv[n++] = fmt_args[i];
	argv[n++] = gz ? "-czf" : "-cf";
	argv[n++] = blob;
	argv[n++] = "-C";
	argv[n++] = dir;
	argv[n++] = "s";
	argv[n++] = "plain";
	argv[n] = NULL;
	run_tar(argv);
	cr_assert_lt(file_size(blob), SPARSE_SIZE / 4, "tar stored the holes");
	if (marker)
		expect_blob_has(marker, fmt_args[0]);
	else if (!gz)
		cr_assert_neq(find_member(blob, 'S', "s"), UINT64_MAX, "no old GNU sparse member");
	scan(NULL);
	expect_content("s", want, SPARSE_SIZE);
	expect_text("plain", "a plain file after the sparse one");
	c = content_of("s");
	cr_expect(!is_file(c.fd, blob), "a sparse member is served from the spool");
	cr_assert_eq(fstat(c.fd, &st), 0);
	cr_expect_lt((uint64_t)st.st_blocks * 512, (uint64_t)SPARSE_SIZE / 2,
	             "the spool keeps the holes: %" PRIu64 " bytes allocated",
	             (uint64_t)st.st_blocks * 512);
	expect_no_warnings();
}

Test(tar, sparse_old_gnu)
{
	/* an 'S' member: the sparse map in the header */
	sparse_member((const char *const[]){ "--format=gnu", NULL }, NULL, false);
}

Test(tar, sparse_pax_0_0)
{
	sparse_member((const char *const[]){ "--format=pax", "--sparse-version=0.0", NULL },
	              "GNU.sparse.offset=", false);
}

Test(tar, sparse_pax_0_1)
{
	sparse_member((const char *const[]){ "--format=pax", "--sparse-version=0.1", NULL },
	              "GNU.sparse.map=", false);
}

Test(tar, sparse_pax_1_0)
{
	sparse_member((const char *const[]){ "--format=pax", "--sparse-version=1.0", NULL },
	              "GNU.sparse.major=1", false);
}

Test(tar, sparse_pax_1_0_gzip)
{
	sparse_member((const char *const[]){ "--format=pax", "--sparse-version=1.0", NULL }, NULL,
	              true);
}

Test(tar, sparse_member_of_a_plain_tar_is_spooled_and_verifies)
{
	g_autofree char *dir = NULL;
	g_autofree uint8_t *want = make_sparse_file(&dir);
	LimgTarOptions o = { .spool_dir = spool };
	g_autoptr(LimgSource) other = NULL;
	g_auto(GStrv) names = NULL;

	run_tar((const char *const[]){ "-S", "--format=pax", "-cf", blob, "-C", dir, "s", "plain",
	                               NULL });
	scan(&o);
	names = th_list_dir(spool, ".spool");
	cr_expect(names[0] && !names[1], "one spool for the sparse member");
	cr_assert_eq(limg_tar_source_new(blob, false, &o, &other), 0);
	cr_expect_eq(limg_source_verify(other, tree), 0);
	expect_content_of(other, tree, "s", want, SPARSE_SIZE);
	expect_content_of(other, tree, "plain", "a plain file after the sparse one", 33);
	cr_expect(is_file(content_of("plain").fd, blob), "the rest is still read in place");
}

/* ------------------------------------------------------------ whiteouts */

Test(tar, whiteouts_become_char_devices_0_0)
{
	const LimgNode *n;
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_add(w, ent(".wh.x", S_IFREG | 0644), NULL, 0);
	tw_dir(w, "d");
	tw_add(w, ent("d/.wh.y", S_IFREG | 0600), NULL, 0);
	tw_add(w, ent("d/e/.wh.z", S_IFREG | 0600), NULL, 0);
	close_and_scan(w);
	n = node("x");
	cr_expect(S_ISCHR(n->mode), "mode 0%o", n->mode);
	cr_expect_eq(n->rdev_major, 0);
	cr_expect_eq(n->rdev_minor, 0);
	cr_expect_eq(n->size, 0);
	cr_expect(S_ISCHR(node("d/y")->mode));
	cr_expect(S_ISCHR(node("d/e/z")->mode));
	th_expect_absent(tree, ".wh.x");
	th_expect_absent(tree, "d/.wh.y");
	expect_no_warnings();
}

Test(tar, opaque_marker_makes_its_directory_opaque)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_dir(w, "d");
	tw_file(w, "d/f", "kept");
	tw_add(w, ent("d/.wh..wh..opq", S_IFREG | 0644), NULL, 0);
	tw_add(w, ent("n/m/.wh..wh..opq", S_IFREG | 0644), NULL, 0);
	close_and_scan(w);
	th_expect_xattrs(tree, "d", "trusted.overlay.opaque=y");
	th_expect_xattrs(tree, "n/m", "trusted.overlay.opaque=y");
	th_expect_xattrs(tree, "n", "");
	expect_text("d/f", "kept");
	th_expect_absent(tree, "d/.wh..wh..opq");
	cr_expect_eq(node("d")->nchildren, 1);
}

Test(tar, opaque_marker_before_its_directory_entry)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	/* an order some writers use: extraction keeps the xattr on the directory */
	tw_add(w, ent("d/.wh..wh..opq", S_IFREG | 0644), NULL, 0);
	tw_dir(w, "d");
	close_and_scan(w);
	th_expect_xattrs(tree, "d", "trusted.overlay.opaque=y");
}

Test(tar, aufs_bookkeeping_is_left_out)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_dir(w, ".wh..wh.plnk");
	tw_file(w, ".wh..wh.plnk/1234.5678", "aufs hard link source");
	tw_file(w, ".wh..wh.aufs", "");
	tw_dir(w, ".wh..wh.orph");
	tw_file(w, "d/.wh..wh.orph", "");
	tw_file(w, ".wh.", "");
	tw_file(w, "keep", "k");
	close_and_scan(w);
	th_expect_absent(tree, ".wh..wh.plnk");
	th_expect_absent(tree, ".wh..wh.aufs");
	th_expect_absent(tree, ".wh..wh.orph");
	th_expect_absent(tree, "d/.wh..wh.orph");
	th_expect_absent(tree, ".wh.");
	expect_text("keep", "k");
	cr_expect_eq(node("")->nchildren, 2, "only d and keep: %u children", node("")->nchildren);
}

/* ------------------------------------------------------------ hostile entries */

Test(tar, paths_leaving_the_layer_are_cleaned_with_a_warning)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_file(w, "../../etc/passwd", "p");
	tw_file(w, "/abs/path", "a");
	tw_file(w, "a/../../b", "b");
	tw_file(w, "./ok", "ok");
	close_and_scan(w);
	expect_text("etc/passwd", "p");
	expect_text("abs/path", "a");
	expect_text("b", "b");
	expect_text("ok", "ok");
	expect_warning("../../etc/passwd", blob);
	expect_warning("/abs/path", NULL);
	expect_warning("a/../../b", NULL);
	cr_expect_eq(report.warnings->len, 3, "no warning for ./ok");
	cr_expect_eq(skipped, 0, "cleaned entries are kept");
}

Test(tar, duplicates_later_wins)
{
	struct archive *w = tw_open(FMT_USTAR, Z_NONE);

	tw_file(w, "f", "one");
	tw_file(w, "f", "two!");
	tw_dir(w, "d");
	tw_file(w, "d/child", "c");
	tw_file(w, "d", "now a file");
	tw_file(w, "x", "a file");
	tw_dir(w, "x");
	tw_file(w, "x/y", "y");
	close_and_scan(w);
	expect_text("f", "two!");
	cr_expect_eq(content_of("f").base, 512 * 3, "the second member's data");
	expect_text("d", "now a file");
	th_expect_absent(tree, "d/child");
	cr_expect(S_ISDIR(node("x")->mode));
	expect_text("x/y", "y");
}

Test(tar, hard_link_to_a_missing_target_is_left_out)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_file(w, "a", "a");
	tw_hardlink(w, "b", "nothere");
	close_and_scan(w);
	expect_left_out("b", "nothere");
	cr_expect_eq(skipped, 1);
}

Test(tar, hard_link_before_its_target_is_left_out)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_hardlink(w, "b", "a");
	tw_file(w, "a", "later");
	close_and_scan(w);
	expect_left_out("b", "'a'");
	expect_text("a", "later");
	cr_expect_eq(node("a")->nlink, 1);
	cr_expect_eq(skipped, 1);
}

Test(tar, hard_link_to_a_directory_is_left_out)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_dir(w, "d");
	tw_hardlink(w, "l", "d");
	close_and_scan(w);
	expect_left_out("l", "directory");
	cr_expect_eq(skipped, 1);
}

Test(tar, entries_under_a_regular_file_are_left_out)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_file(w, "f", "file");
	tw_file(w, "f/x", "under");
	tw_dir(w, "f/y");
	tw_hardlink(w, "f/z", "f");
	close_and_scan(w);
	expect_text("f", "file");
	cr_expect_eq(tree->n_nodes, 2);
	expect_left_out("f/x", blob);
	expect_left_out("f/y", NULL);
	expect_left_out("f/z", NULL);
	cr_expect_eq(skipped, 3);
}

/* A ustar blob of "a" (5 bytes), "b" (1000 bytes), "c" (3 bytes): headers at 0, 1024, 2560. */
static void
write_abc(void)
{
	g_autofree uint8_t *big = pattern(2, 1000);
	struct archive *w = tw_open(FMT_USTAR, Z_NONE);

	tw_file(w, "a", "aaaaa");
	tw_data(w, "b", big, 1000);
	tw_file(w, "c", "ccc");
	tw_close(w);
	cr_assert_eq(data_offset(blob, "c"), 2560 + 512);
}

Test(tar, truncated_in_a_header_is_refused)
{
	write_abc();
	cut_blob(2560 + 100);
	scan_fails(NULL, -EBADMSG);
	expect_error(blob, "b");
}

Test(tar, truncated_in_member_data_is_refused)
{
	write_abc();
	cut_blob(1024 + 512 + 300);
	scan_fails(NULL, -EBADMSG);
	expect_error(blob, "'b'");
}

Test(tar, truncated_gzip_is_refused_and_leaves_no_spool)
{
	g_autofree uint8_t *p = pattern(3, 200000);
	LimgTarOptions o = { .spool_dir = spool };
	struct archive *w = tw_open(FMT_PAX, Z_GZIP);

	tw_file(w, "first", "first");
	tw_data(w, "big", p, 200000);
	tw_file(w, "last", "last");
	tw_close(w);
	cut_blob(file_size(blob) / 2);
	scan_fails(&o, -EBADMSG);
	expect_error(blob, "big");
	expect_dir_empty(spool);
	expect_dir_empty(tmpdir);
}

Test(tar, corrupt_header_checksum_is_refused)
{
	write_abc();
	flip_byte(blob, 1024 + 1);      /* b's name: its checksum no longer fits */
	scan_fails(NULL, -EBADMSG);
	expect_error(blob, NULL);
}

Test(tar, corrupt_first_header_is_refused)
{
	write_abc();
	flip_byte(blob, 148);           /* a's checksum field */
	scan_fails(NULL, -EBADMSG);
	expect_error(blob, NULL);
}

/*
 * Found by fuzz-tar: a PAX sparse member whose real size is 2^63 - 1
 * took the spool's end past what an off_t holds (ftruncate: EINVAL, a
 * bare "Invalid argument"). It is refused, naming the entry.
 */
Test(tar, sparse_member_larger_than_a_file_can_be_is_refused)
{
	g_autofree char *seed = g_build_filename(th_srcdir(), "tests/data/fuzz/tar",
	                                        "regress-sparse-2-63-spool-end.tar", NULL);
	LimgTarOptions o = { .spool_dir = spool };
	g_autoptr(GByteArray) b = g_byte_array_new();
	g_autofree uint8_t *data = NULL;
	size_t len;

	data = th_read(seed, &len);
	g_byte_array_append(b, data, (guint)len);
	raw_save(b);
	scan_fails(&o, -EFBIG);
	expect_error("'sparse/file'", "larger than a file can be");
	cr_expect_eq(report.errors->len, 1, "and nothing about tar_max");
}

Test(tar, member_reaching_past_the_end_is_refused)
{
	g_autoptr(GByteArray) o = g_byte_array_new();

	raw_file(o, "ok", "fine");
	raw_header(o, "huge", '0', 0644, 1 << 20, NULL);
	raw_data(o, "only a little", 13);
	raw_end(o);
	raw_save(o);
	scan_fails(NULL, -EBADMSG);
	expect_error("'huge'", "past the end");
}

/* @z-compressed blob of a tar with one all-zero file of @size bytes. */
static void
write_bomb(int z, size_t size)
{
	g_autofree uint8_t *zero = g_malloc0(1 << 20);
	struct archive *w = tw_open(FMT_PAX, z);
	struct archive_entry *e = ent("zeros", S_IFREG | 0644);

	archive_entry_set_size(e, (la_int64_t)size);
	cr_assert_eq(archive_write_header(w, e), ARCHIVE_OK);
	for (size_t done = 0; done < size; done += 1 << 20)
		cr_assert_eq(archive_write_data(w, zero, 1 << 20), 1 << 20);
	archive_entry_free(e);
	tw_close(w);
}

Test(tar, gzip_bomb_is_efbig)
{
	LimgTarOptions o = { .max_size = 1 << 20, .spool_dir = spool };

	write_bomb(Z_GZIP, 16u << 20);
	cr_assert_lt(file_size(blob), 1 << 20, "a tiny blob");
	scan_fails(&o, -EFBIG);
	expect_error(blob, "1048576");
	expect_dir_empty(spool);
}

Test(tar, zstd_bomb_is_efbig)
{
	LimgTarOptions o = { .max_size = 1 << 20 };

	write_bomb(Z_ZSTD, 16u << 20);
	scan_fails(&o, -EFBIG);
}

Test(tar, compressed_under_the_bound_is_fine)
{
	LimgTarOptions o = { .max_size = 8u << 20 };

	write_bomb(Z_GZIP, 2u << 20);
	scan(&o);
	cr_expect_eq(node("zeros")->size, 2u << 20);
}

Test(tar, garbage_is_not_a_tar)
{
	g_autofree uint8_t *junk = pattern(4, 8192);

	junk[0] = 'J';              /* not a gzip, zstd, xz or bzip2 magic */
	save(blob, junk, 8192);
	scan_fails(NULL, -EBADMSG);
	expect_error(blob, NULL);
}

Test(tar, empty_file_is_refused)
{
	/* as GNU tar does ("does not look like a tar archive"); the end blocks alone are fine */
	save(blob, "", 0);
	scan_fails(NULL, -EBADMSG);
	expect_error(blob, NULL);
}

Test(tar, end_blocks_only_is_an_empty_layer)
{
	g_autoptr(GByteArray) o = g_byte_array_new();

	raw_end(o);
	raw_save(o);
	scan(NULL);
	cr_expect_eq(tree->n_nodes, 1);
	cr_expect(S_ISDIR(tree->nodes[0].mode));
}

static void
refused_compression(int (*add_filter)(struct archive *), const uint8_t *magic, size_t mlen)
{
	struct archive *w = archive_write_new();
	int r;

	archive_write_set_format_pax(w);
	r = add_filter(w);
	if ((r == ARCHIVE_OK || r == ARCHIVE_WARN) &&
	    archive_write_open_filename(w, blob) == ARCHIVE_OK) {
		tw_file(w, "f", "compressed");
		tw_close(w);
	} else {
		/* no such compressor here: its magic bytes will do */
		archive_write_free(w);
		g_autofree uint8_t *junk = pattern(6, 4096);

		memcpy(junk, magic, mlen);
		save(blob, junk, 4096);
	}
	scan_fails(NULL, -EBADMSG);
	expect_error(blob, "neither gzip nor zstd");
}

Test(tar, bzip2_is_refused)
{
	refused_compression(archive_write_add_filter_bzip2, (const uint8_t *)"BZh91AY&SY", 10);
}

Test(tar, xz_is_refused)
{
	refused_compression(archive_write_add_filter_xz, (const uint8_t *)"\xfd" "7zXZ\0", 6);
}

Test(tar, kind_is_told_by_the_first_bytes)
{
	cr_expect_eq(limg_tar_kind((const uint8_t *)"\x1f\x8b\x08", 3), LIMG_TAR_GZIP);
	cr_expect_eq(limg_tar_kind((const uint8_t *)"\x28\xb5\x2f\xfd", 4), LIMG_TAR_ZSTD);
	cr_expect_eq(limg_tar_kind((const uint8_t *)"BZh9", 4), LIMG_TAR_UNKNOWN);
	cr_expect_eq(limg_tar_kind((const uint8_t *)"\xfd" "7zXZ\0", 6), LIMG_TAR_UNKNOWN);
	cr_expect_eq(limg_tar_kind((const uint8_t *)"etc/", 4), LIMG_TAR_PLAIN);
	cr_expect_eq(limg_tar_kind((const uint8_t *)"", 0), LIMG_TAR_PLAIN);
	cr_expect_eq(limg_tar_kind((const uint8_t *)"\x1f", 1), LIMG_TAR_PLAIN);
}

/* ------------------------------------------------------------ digest */

Test(tar, right_digest_is_accepted)
{
	LimgTarOptions o = { 0 };
	struct archive *w = tw_open(FMT_PAX, Z_GZIP);

	tw_file(w, "f", "digest me");
	tw_close(w);
	o.digest = hex_digest_of(blob);
	scan(&o);
	expect_text("f", "digest me");
}

Test(tar, wrong_digest_is_refused_naming_both)
{
	static const char wrong[] =
		"sha256:0000000000000000000000000000000000000000000000000000000000000000";
	LimgTarOptions o = { .digest = wrong, .spool_dir = spool };
	g_autofree char *right = NULL;
	struct archive *w = tw_open(FMT_PAX, Z_GZIP);

	tw_file(w, "f", "digest me");
	tw_close(w);
	right = g_strdup(hex_digest_of(blob));
	scan_fails(&o, -EBADMSG);
	expect_error(right, wrong);
	expect_error(blob, NULL);
	expect_dir_empty(spool);
}

Test(tar, wrong_digest_of_a_plain_tar_is_refused)
{
	LimgTarOptions o = {
		.digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	};

	write_abc();
	scan_fails(&o, -EBADMSG);
	expect_error(hex_digest_of(blob), o.digest);
}

Test(tar, malformed_digest_is_einval)
{
	static const char *const bad[] = {
		"", "sha256:", "sha256:abc",
		"sha512:0000000000000000000000000000000000000000000000000000000000000000",
		"SHA256:0000000000000000000000000000000000000000000000000000000000000000",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"sha256:000000000000000000000000000000000000000000000000000000000000000",
		"sha256:00000000000000000000000000000000000000000000000000000000000000000",
		"sha256:000000000000000000000000000000000000000000000000000000000000000g",
		"sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000",
	};
	LimgSource *s = NULL;

	write_abc();
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		LimgTarOptions o = { .digest = bad[i] };

		cr_expect_eq(limg_tar_source_new(blob, false, &o, &s), -EINVAL, "'%s'", bad[i]);
		cr_expect_null(s);
	}
}

/* ------------------------------------------------------------ windows */

/* The blob inside work/outer: @before junk bytes, the blob, @after junk bytes. */
static char *
embed_blob(size_t before, size_t after, uint64_t *len)
{
	g_autofree char *outer = g_build_filename(work, "outer", NULL);
	g_autofree uint8_t *data = th_read(blob, (size_t *)len);
	g_autofree uint8_t *junk = pattern(7, MAX(before, after) + 1);
	GByteArray *o = g_byte_array_new();

	g_byte_array_append(o, junk, (guint)before);
	g_byte_array_append(o, data, (guint)*len);
	g_byte_array_append(o, junk, (guint)after);
	save(outer, o->data, o->len);
	g_byte_array_unref(o);
	return g_steal_pointer(&outer);
}

Test(tar, blob_inside_a_bigger_file)
{
	uint64_t len = 0;
	g_autofree char *outer = NULL;
	g_autofree char *key = NULL;
	LimgTarOptions o = { .offset = 1000 };
	LimgSourceId id = { 0 };
	int ret;

	write_abc();
	outer = embed_blob(1000, 3000, &len);
	o.length = len;
	new_source(outer, &o);
	ret = limg_source_scan(src, NULL, &report, &tree, &skipped);
	cr_assert_eq(ret, 0, "%d", ret);
	expect_text("a", "aaaaa");
	expect_text("c", "ccc");
	cr_expect_eq(content_of("a").base, 1000 + 512, "offsets are the file's");
	cr_expect_eq(content_of("c").base, 1000 + 2560 + 512);
	cr_expect(is_file(content_of("a").fd, outer));
	cr_assert_eq(limg_source_identity(src, &id), 0);
	key = g_strdup_printf("tar:%s@1000+%" PRIu64, outer, len);
	cr_expect_str_eq(id.key, key);
	limg_source_id_clear(&id);
}

Test(tar, gzip_blob_inside_a_bigger_file_with_a_digest)
{
	uint64_t len = 0;
	g_autofree char *outer = NULL;
	g_autofree char *digest = NULL;
	LimgTarOptions o = { .offset = 4096 };
	struct archive *w = tw_open(FMT_PAX, Z_GZIP);
	int ret;

	tw_file(w, "g", "gzip in a window");
	tw_close(w);
	digest = g_strdup(hex_digest_of(blob));
	outer = embed_blob(4096, 100, &len);
	o.length = len;
	o.digest = digest;
	new_source(outer, &o);
	ret = limg_source_scan(src, NULL, &report, &tree, &skipped);
	cr_assert_eq(ret, 0, "%d", ret);
	expect_text("g", "gzip in a window");
}

Test(tar, window_beyond_the_file_is_einval)
{
	uint64_t size;
	LimgSource *s = NULL;

	write_abc();
	size = file_size(blob);
	cr_expect_eq(limg_tar_source_new(blob, false, &(LimgTarOptions){ .offset = size + 1 }, &s),
	             -EINVAL);
	cr_expect_eq(limg_tar_source_new(blob, false,
	                                 &(LimgTarOptions){ .offset = 512, .length = size }, &s),
	             -EINVAL);
	cr_expect_eq(limg_tar_source_new(blob, false, &(LimgTarOptions){ .length = size + 1 }, &s),
	             -EINVAL);
	cr_expect_eq(limg_tar_source_new(blob, false,
	                                 &(LimgTarOptions){ .offset = UINT64_MAX, .length = 2 },
	                                 &s), -EINVAL);
	cr_expect_null(s);
	cr_expect_eq(limg_tar_source_new(blob, false, &(LimgTarOptions){ .length = size }, &s), 0);
	limg_source_free(s);
}

Test(tar, missing_or_odd_blob_is_refused)
{
	g_autofree char *missing = g_build_filename(work, "missing.tar", NULL);
	g_autofree char *link = g_build_filename(work, "link.tar", NULL);
	LimgSource *s = NULL;

	write_abc();
	cr_expect_eq(limg_tar_source_new(missing, false, NULL, &s), -ENOENT);
	cr_expect_eq(limg_tar_source_new(work, false, NULL, &s), -EINVAL, "a directory");
	cr_assert_eq(symlink(blob, link), 0);
	cr_expect_eq(limg_tar_source_new(link, false, NULL, &s), -ELOOP, "no symlink followed");
	cr_expect_null(s);
	cr_expect_eq(limg_tar_source_new(link, true, NULL, &s), 0, "unless asked");
	limg_source_free(s);
}

/* ------------------------------------------------------------ identity */

static GBytes *
fingerprint_of(const char *path)
{
	LimgSourceId id = { 0 };
	GBytes *f;

	new_source(path, NULL);
	cr_assert_eq(limg_source_identity(src, &id), 0);
	f = g_bytes_ref(id.fingerprint);
	limg_source_id_clear(&id);
	return f;
}

Test(tar, identity_key_and_fingerprint)
{
	g_autoptr(GBytes) f1 = NULL, f2 = NULL, f3 = NULL;
	g_autofree char *key = NULL;
	LimgSourceId id = { 0 };

	write_abc();
	f1 = fingerprint_of(blob);
	f2 = fingerprint_of(blob);
	cr_expect(g_bytes_equal(f1, f2), "the same blob, the same fingerprint");
	cr_assert_eq(limg_source_identity(src, &id), 0);
	key = g_strdup_printf("tar:%s@0+%" PRIu64, blob, file_size(blob));
	cr_expect_str_eq(id.key, key);
	limg_source_id_clear(&id);
	th_touch(work, "layer.tar", TB_DEFAULT_MTIME + 1);
	f3 = fingerprint_of(blob);
	cr_expect(!g_bytes_equal(f1, f3), "a touched blob, another fingerprint");
}

/* Rewrite the blob's bytes in place: same inode, same size, the same bytes even. */
static void
rewrite_in_place(void)
{
	size_t len;
	g_autofree uint8_t *data = th_read(blob, &len);
	int fd = open(blob, O_WRONLY);
	struct timespec times[2] = { { 0, UTIME_OMIT } };
	struct stat st;

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	times[1] = st.st_mtim;
	cr_assert_eq(pwrite(fd, data, len, 0), (ssize_t)len);
	/* even with the old mtime put back, the ctime tells */
	cr_assert_eq(futimens(fd, times), 0);
	close(fd);
}

Test(tar, check_is_estale_after_a_rewrite_in_place)
{
	LimgContent c;

	write_abc();
	scan(NULL);
	c = content_of("b");
	cr_expect_eq(limg_source_check(src, tree, th_tree_find(tree, "b"), &c), 0);
	rewrite_in_place();
	cr_expect_eq(limg_source_check(src, tree, th_tree_find(tree, "b"), &c), -ESTALE);
	cr_expect_eq(limg_source_present(src), 0, "still there");
}

Test(tar, present_is_enoent_once_the_blob_is_gone)
{
	g_autofree char *other = g_build_filename(work, "other.tar", NULL);

	write_abc();
	scan(NULL);
	cr_expect_eq(limg_source_present(src), 0);
	cr_assert_eq(rename(blob, other), 0);
	cr_expect_eq(limg_source_present(src), -ENOENT, "renamed away");
	cr_assert_eq(link(other, blob), 0);
	cr_expect_eq(limg_source_present(src), 0, "the same file again");
	cr_assert_eq(unlink(blob), 0);
	save(blob, "x", 1);
	cr_expect_eq(limg_source_present(src), -ENOENT, "another file at the path");
	cr_assert_eq(unlink(blob), 0);
	cr_expect_eq(limg_source_present(src), -ENOENT, "unlinked");
	expect_text("a", "aaaaa");   /* the source's fd still reads the old blob */
}

/* ------------------------------------------------------------ spool */

static char *
spool_name_of(const char *path)
{
	g_autofree char *key = g_strdup_printf("tar:%s@0+%" PRIu64, path, file_size(path));
	g_autofree char *hex = th_sha256_hex(key);

	return g_strdup_printf("%s.spool", hex);
}

static void
write_gzip_pair(void)
{
	g_autofree uint8_t *p = pattern(8, 70000);
	struct archive *w = tw_open(FMT_PAX, Z_GZIP);

	tw_file(w, "small", "small");
	tw_data(w, "d/big", p, 70000);
	tw_close(w);
}

static void
expect_gzip_pair_of(LimgSource *s, const LimgTree *t)
{
	g_autofree uint8_t *p = pattern(8, 70000);

	expect_content_of(s, t, "small", "small", 5);
	expect_content_of(s, t, "d/big", p, 70000);
}

Test(tar, spool_dir_holds_one_spool_and_no_temporaries)
{
	LimgTarOptions o = { .spool_dir = spool };
	g_autofree char *want = NULL, *path = NULL;
	g_auto(GStrv) names = NULL;

	write_gzip_pair();
	scan(&o);
	expect_gzip_pair_of(src, tree);
	want = spool_name_of(blob);
	path = g_build_filename(spool, want, NULL);
	names = th_list_dir(spool, NULL);
	cr_assert_not_null(names[0], "no spool");
	cr_expect_str_eq(names[0], want);
	cr_expect_null(names[1], "more than one file: %s", names[1]);
	cr_expect(is_file(content_of("small").fd, path), "served from the spool");
	expect_dir_empty(tmpdir);
}

Test(tar, second_source_verifies_through_the_spool)
{
	LimgTarOptions o = { .spool_dir = spool };
	g_autoptr(LimgTree) first = NULL;
	g_autoptr(LimgSource) second = NULL;

	write_gzip_pair();
	scan(&o);
	first = g_steal_pointer(&tree);
	cr_assert_eq(limg_tar_source_new(blob, false, &o, &second), 0);
	cr_expect_eq(limg_source_verify(second, first), 0);
	limg_source_free(g_steal_pointer(&src));   /* the scanning source is gone */
	expect_gzip_pair_of(second, first);
}

Test(tar, verify_is_estale_without_a_good_spool)
{
	LimgTarOptions o = { .spool_dir = spool };
	g_autofree char *name = NULL, *path = NULL;
	g_autoptr(LimgSource) other = NULL;

	write_gzip_pair();
	scan(&o);
	name = spool_name_of(blob);
	path = g_build_filename(spool, name, NULL);
	cr_assert_eq(limg_tar_source_new(blob, false, &o, &other), 0);
	flip_byte(path, 20);                /* in the header */
	cr_expect_eq(limg_source_verify(other, tree), -ESTALE, "a corrupt header");
	flip_byte(path, 20);
	cr_expect_eq(limg_source_verify(other, tree), 0, "repaired");
	cr_assert_eq(truncate(path, 4096 + 100), 0);
	cr_expect_eq(limg_source_verify(other, tree), -ESTALE, "too short");
	cr_assert_eq(unlink(path), 0);
	cr_expect_eq(limg_source_verify(other, tree), -ESTALE, "gone");
}

Test(tar, verify_is_estale_for_another_blob)
{
	LimgTarOptions o = { .spool_dir = spool };
	g_autoptr(LimgSource) other = NULL;

	write_gzip_pair();
	scan(&o);
	th_touch(work, "layer.tar", TB_DEFAULT_MTIME + 5);   /* another fingerprint */
	cr_assert_eq(limg_tar_source_new(blob, false, &o, &other), 0);
	cr_expect_eq(limg_source_verify(other, tree), -ESTALE);
}

/* @fd is a file without a name, made in @dir (O_TMPFILE, or unlinked at once). */
static void
expect_unlinked_in(int fd, const char *dir)
{
	g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", fd);
	g_autofree char *where = g_file_read_link(proc, NULL);
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_nlink, 0, "the temporary spool has a name");
	cr_assert_not_null(where);
	cr_expect(g_str_has_prefix(where, dir), "the temporary spool is %s, not in $TMPDIR %s",
	          where, dir);
}

Test(tar, no_spool_dir_writes_nothing_visible)
{
	g_autofree char *cwd = g_get_current_dir();
	g_autofree char *here = g_build_filename(work, "cwd", NULL);
	g_autoptr(LimgSource) other = NULL;

	write_gzip_pair();
	cr_assert_eq(g_mkdir_with_parents(here, 0755), 0);
	cr_assert_eq(chdir(here), 0);
	scan(NULL);
	expect_gzip_pair_of(src, tree);
	cr_assert_eq(chdir(cwd), 0);
	expect_unlinked_in(content_of("small").fd, tmpdir);
	expect_dir_empty(here);
	expect_dir_empty(tmpdir);
	expect_dir_empty(spool);
	/* a tree of a temporary spool cannot be taken up by another source */
	cr_assert_eq(limg_tar_source_new(blob, false, NULL, &other), 0);
	cr_expect_eq(limg_source_verify(other, tree), -ESTALE);
}

Test(tar, plain_tree_verifies_without_a_spool)
{
	g_autoptr(LimgSource) other = NULL;
	g_autoptr(LimgTree) big = NULL;
	g_autofree uint8_t *b = pattern(2, 1000);

	write_abc();
	scan(NULL);
	cr_assert_eq(limg_tar_source_new(blob, false, NULL, &other), 0);
	cr_expect_eq(limg_source_verify(other, tree), 0);
	expect_content_of(other, tree, "b", b, 1000);
	expect_dir_empty(tmpdir);
	expect_dir_empty(spool);
	/* a tree whose data lies beyond this blob is not this blob's */
	big = g_steal_pointer(&tree);
	cut_blob(2048);
	limg_source_free(g_steal_pointer(&other));
	cr_assert_eq(limg_tar_source_new(blob, false, NULL, &other), 0);
	cr_expect_eq(limg_source_verify(other, big), -ESTALE);
}

/* ------------------------------------------------------------ messages */

/* escape.h: what is printed of a name is printable ASCII. */
static void
expect_messages_printable(void)
{
	GPtrArray *lists[] = { report.warnings, report.errors };

	for (size_t l = 0; l < G_N_ELEMENTS(lists); l++) {
		for (guint i = 0; i < lists[l]->len; i++) {
			const char *m = lists[l]->pdata[i];
			g_autofree char *shown = g_strescape(m, NULL);

			for (const uint8_t *p = (const uint8_t *)m; *p; p++) {
				if (*p < 0x20 || *p >= 0x7f) {
					cr_expect_fail("byte 0x%02x unescaped in: %s", *p, shown);
					break;
				}
			}
		}
	}
}

Test(tar, libarchive_warnings_escape_names)
{
	write_utf8_archive();
	scan(NULL);
	expect_messages_printable();
}

Test(tar, messages_escape_names)
{
	g_autoptr(GByteArray) o = g_byte_array_new();

	raw_file(o, "f\x1b[31m", "x");
	raw_file(o, "f\x1b[31m/.wh..wh..opq", "");
	raw_header(o, "next", '0', 0644, 100, NULL);   /* cut in its data */
	raw_save(o);
	scan_fails(NULL, -EBADMSG);
	cr_expect_gt(report.warnings->len, 0, "the marker under a file is left out");
	expect_messages_printable();
}

Test(tar, open_refuses_what_is_not_a_regular_file)
{
	struct archive *w = tw_open(FMT_PAX, Z_NONE);

	tw_dir(w, "d");
	tw_symlink(w, "l", "d");
	close_and_scan(w);
	cr_expect_eq(limg_source_open(src, tree, 0, &(LimgContent){ 0 }), -EINVAL);
	cr_expect_eq(limg_source_open(src, tree, th_tree_find(tree, "d"), &(LimgContent){ 0 }),
	             -EINVAL);
	cr_expect_eq(limg_source_open(src, tree, th_tree_find(tree, "l"), &(LimgContent){ 0 }),
	             -EINVAL);
	cr_expect_eq(limg_source_open(src, tree, tree->n_nodes, &(LimgContent){ 0 }), -EINVAL);
}

/* ------------------------------------------------------------ against the directory source */

/* @dir/@rel. Caller frees. */
static char *
at(const char *dir, const char *rel)
{
	return g_build_filename(dir, rel, NULL);
}

static void
set_time(const char *dir, const char *rel, int64_t sec, long nsec)
{
	g_autofree char *p = at(dir, rel);
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };

	cr_assert_eq(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0, "%s", p);
}

/* A layer directory with a bit of everything an image holds. */
static void
make_layer_dir(const char *d)
{
	static const char *const dirs[] = { "dir/sub", "dir", "sticky", "" };
	g_autofree uint8_t *big = pattern(10, 70000);
	g_autofree char *longname = rep('L', 200, "");
	g_autofree char *suid = at(d, "suid"), *sticky = at(d, "sticky"), *a = at(d, "a.txt");
	g_autofree char *hard = at(d, "dir/hard"), *ln = at(d, "ln"), *abs = at(d, "abs");
	g_autofree char *pipe = at(d, "pipe");

	th_write_text(d, "a.txt", "hello, tar\n");
	th_write(d, "dir/b.bin", big, 70000);
	th_write(d, "dir/sub/empty", "", 0);
	th_write_text(d, longname, "long");
	th_write_text(d, "caf\xc3\xa9", "utf8");
	th_write_text(d, "suid", "s");
	th_mkdir(d, "sticky");
	cr_assert_eq(chmod(suid, 04755), 0);
	cr_assert_eq(chmod(sticky, 01777), 0);
	if (geteuid() == 0)
		cr_assert_eq(lchown(a, 1000, 2000), 0);
	cr_assert_eq(link(a, hard), 0);
	cr_assert_eq(symlink("dir/b.bin", ln), 0);
	cr_assert_eq(symlink("/etc/passwd", abs), 0);
	cr_assert_eq(mkfifo(pipe, 0640), 0);
	set_time(d, "a.txt", 1600000000, 123456789);
	set_time(d, "dir/b.bin", 1500000000, 1);
	set_time(d, "ln", 1400000000, 999999999);
	set_time(d, "pipe", 1300000000, 0);
	/* directories last: what was made in them changed their times */
	for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++)
		set_time(d, dirs[i], 1700000000 + (int64_t)i, 5000 * (long)i);
}

Test(tar, agrees_with_the_directory_source)
{
	g_autofree char *d = g_build_filename(work, "layer", NULL);
	g_autoptr(LimgSource) dsrc = NULL;
	g_autoptr(LimgTree) dtree = NULL;
	int ret;

	cr_assert_eq(g_mkdir_with_parents(d, 0755), 0);
	make_layer_dir(d);
	run_tar((const char *const[]){ "--format=pax", "-cf", blob, "-C", d, ".", NULL });
	scan(NULL);
	cr_assert_eq(limg_dir_source_new(d, NULL, &dsrc), 0);
	ret = limg_source_scan(dsrc, NULL, &report, &dtree, NULL);
	cr_assert_eq(ret, 0);
	cr_expect_eq(tree->n_nodes, dtree->n_nodes, "%u nodes from the tar, %u from the directory",
	             tree->n_nodes, dtree->n_nodes);
	for (uint32_t i = 0; i < dtree->n_nodes; i++) {
		const LimgNode *x = &dtree->nodes[i];
		g_autofree char *path = limg_tree_path(dtree, i);
		uint32_t j = th_tree_find(tree, path);
		const LimgNode *y;

		cr_expect_neq(j, LIMG_NONE, "'%s' is not in the tar's tree", path);
		if (j == LIMG_NONE)
			continue;
		y = &tree->nodes[j];
		cr_expect_eq(y->mode, x->mode, "'%s': mode 0%o, not 0%o", path, y->mode, x->mode);
		cr_expect_eq(y->uid, x->uid, "'%s': uid", path);
		cr_expect_eq(y->gid, x->gid, "'%s': gid", path);
		cr_expect_eq(y->mtime.sec, x->mtime.sec, "'%s': mtime %" PRId64 ", not %" PRId64,
		             path, y->mtime.sec, x->mtime.sec);
		cr_expect_eq(y->mtime.nsec, x->mtime.nsec, "'%s': mtime.nsec %u, not %u", path,
		             y->mtime.nsec, x->mtime.nsec);
		if (S_ISDIR(x->mode))
			continue;
		cr_expect_eq(y->nlink, x->nlink, "'%s': nlink %u, not %u", path, y->nlink,
		             x->nlink);
		cr_expect_eq(y->size, x->size, "'%s': size", path);
		if (S_ISLNK(x->mode))
			cr_expect_str_eq(limg_tree_target(tree, y), limg_tree_target(dtree, x),
			                 "'%s': target", path);
		if (S_ISREG(x->mode)) {
			LimgContent c;
			g_autofree uint8_t *want = read_node_of(dsrc, dtree, i, &c);

			limg_content_release(&c);
			expect_content(path, want, x->size);
		}
	}
}
