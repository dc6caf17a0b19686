/*
 * test-source.c - the directory source (source.h): scanning a layer
 * directory built by the test under /tmp, and opening a node's content
 * safely after the layer changed under us.
 *
 * Every test has a timeout: a source that opened a FIFO would hang.
 */
#include <config.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "source/source.h"
#include "tree/overlay.h"
#include "lib/testlib.h"

static char base[64];        /* mkdtemp directory, holds layer/ and outside/ */
static char layer[128];
static char outside[128];
static LimgSource *src;
static LimgTree *tree;
static LimgReport report;

static void
setup(void)
{
	strcpy(base, "/tmp/limg-test-source-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	snprintf(layer, sizeof(layer), "%s/layer", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	cr_assert_eq(mkdir(layer, 0755), 0);
	cr_assert_eq(mkdir(outside, 0755), 0);
	cr_assert_eq(limg_dir_source_new(layer, NULL, &src), 0);
	tree = NULL;
	limg_report_init(&report);
}

static void
teardown(void)
{
	g_autofree char *cmd = NULL;

	limg_source_free(src);
	src = NULL;
	limg_tree_free(tree);
	limg_report_release(&report);
	cmd = g_strdup_printf("rm -rf '%s'", base);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", base);
}

TestSuite(source, .init = setup, .fini = teardown, .timeout = 30);

/* Create @rel under the layer with @content (NULL: empty). */
static void
put_file(const char *rel, const char *content)
{
	g_autofree char *p = g_strdup_printf("%s/%s", layer, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0, "create %s: %s", p, strerror(errno));
	if (content)
		cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void
put_dir(const char *rel)
{
	g_autofree char *p = g_strdup_printf("%s/%s", layer, rel);

	cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
}

static void
put_symlink(const char *rel, const char *target)
{
	g_autofree char *p = g_strdup_printf("%s/%s", layer, rel);

	cr_assert_eq(symlink(target, p), 0, "symlink %s: %s", p, strerror(errno));
}

static void
put_fifo(const char *rel)
{
	g_autofree char *p = g_strdup_printf("%s/%s", layer, rel);

	cr_assert_eq(mkfifo(p, 0644), 0, "mkfifo %s: %s", p, strerror(errno));
}

static char *
lpath(const char *rel)
{
	return g_strdup_printf("%s/%s", layer, rel);
}

static void
scan(void)
{
	uint64_t skipped = 99;

	limg_tree_free(tree);
	tree = NULL;
	cr_assert_eq(limg_source_scan(src, NULL, &report, &tree, &skipped), 0);
	cr_assert_not_null(tree);
	cr_expect_eq(skipped, 0);
}

/* The node at relative path @rel, or LIMG_NONE. */
static uint32_t
find(const char *rel)
{
	for (uint32_t i = 0; i < tree->n_nodes; i++) {
		g_autofree char *p = limg_tree_path(tree, i);

		if (strcmp(p, rel) == 0)
			return i;
	}
	return LIMG_NONE;
}

static uint32_t
must_find(const char *rel)
{
	uint32_t i = find(rel);

	cr_assert_neq(i, LIMG_NONE, "no node %s", rel);
	return i;
}

/* Open node @node through the source: an fd (caller closes) or -errno. */
static int
open_node(uint32_t node)
{
	LimgContent c = { .fd = -1 };
	int ret = limg_source_open(src, tree, node, &c);

	if (ret < 0)
		return ret;
	cr_expect(c.owned, "a directory source hands out its own fds");
	cr_expect_eq(c.base, 0);
	return c.fd;
}

/* tree.h: children contiguous, sorted bytewise, parents right, all reachable. */
static void
expect_tree_invariant(void)
{
	th_expect_tree_invariant(tree);
}

/* ------------------------------------------------------------ scan */

Test(source, scan_sorts_children_bytewise)
{
	static const char *const want[] = { "B", "Z", "_", "a", "b", "\xc3\xa9" };
	const LimgNode *r;

	put_file("b", NULL);
	put_file("\xc3\xa9", NULL);
	put_file("a", NULL);
	put_file("Z", NULL);
	put_dir("B");
	put_file("_", NULL);
	put_file("B/y", "1");
	put_file("B/x", "22");
	scan();
	expect_tree_invariant();
	r = &tree->nodes[0];
	cr_assert_eq(r->nchildren, 6);
	for (uint32_t i = 0; i < 6; i++)
		cr_expect_str_eq(limg_tree_name(tree, &tree->nodes[r->first_child + i]), want[i]);
	cr_expect_eq(tree->n_nodes, 9);
	cr_expect_eq(tree->nodes[must_find("B/x")].size, 2);
	cr_expect(S_ISDIR(tree->nodes[must_find("B")].mode));
}

Test(source, scan_records_metadata)
{
	g_autofree char *p = lpath("f");
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1000000000, 123456789 } };
	struct stat st;
	const LimgNode *n;

	put_file("f", "hello");
	cr_assert_eq(chown(p, 1234, 5678), 0);
	cr_assert_eq(chmod(p, 04751), 0);
	cr_assert_eq(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
	cr_assert_eq(lstat(p, &st), 0);
	scan();
	n = &tree->nodes[must_find("f")];
	cr_expect_eq(n->mode, S_IFREG | 04751);
	cr_expect_eq(n->uid, 1234);
	cr_expect_eq(n->gid, 5678);
	cr_expect_eq(n->size, 5);
	cr_expect_eq(n->mtime.sec, 1000000000);
	cr_expect_eq(n->mtime.nsec, 123456789);
	cr_expect_eq(n->ino, st.st_ino);
	cr_expect_eq(n->dev, st.st_dev);
	cr_expect_eq(n->nlink, 1);
}

Test(source, symlinks_are_recorded_and_never_followed)
{
	g_autofree char *secret = g_strdup_printf("%s/secret", outside);
	int fd;
	uint32_t i;

	fd = open(secret, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	put_dir("d");
	put_symlink("escape", outside);          /* to a directory outside the layer */
	put_symlink("d/up", "..");               /* to a directory inside */
	put_symlink("dangling", "no/such/target/");
	put_symlink("etcpw", "/etc/passwd");
	scan();
	expect_tree_invariant();
	i = must_find("escape");
	cr_expect(S_ISLNK(tree->nodes[i].mode));
	cr_expect_str_eq(limg_tree_target(tree, &tree->nodes[i]), outside);
	cr_expect_eq(tree->nodes[i].size, strlen(outside));
	cr_expect_eq(tree->nodes[i].nchildren, 0);
	cr_expect_str_eq(limg_tree_target(tree, &tree->nodes[must_find("d/up")]), "..");
	cr_expect_str_eq(limg_tree_target(tree, &tree->nodes[must_find("dangling")]),
	                 "no/such/target/");
	cr_expect_str_eq(limg_tree_target(tree, &tree->nodes[must_find("etcpw")]), "/etc/passwd");
	cr_expect_eq(find("escape/secret"), LIMG_NONE, "walked through a symlink");
	for (uint32_t k = 0; k < tree->n_nodes; k++)
		cr_expect_str_neq(limg_tree_name(tree, &tree->nodes[k]), "secret");
	cr_expect_eq(tree->n_nodes, 6);
}

Test(source, fifo_is_a_node_and_never_opened)
{
	const LimgNode *n;

	put_fifo("pipe");
	put_dir("d");
	put_fifo("d/pipe2");
	put_file("z", "data");
	scan();
	expect_tree_invariant();
	n = &tree->nodes[must_find("pipe")];
	cr_expect(S_ISFIFO(n->mode));
	cr_expect_eq(n->size, 0);
	cr_expect(S_ISFIFO(tree->nodes[must_find("d/pipe2")].mode));
	cr_expect_eq(open_node(must_find("pipe")), -EINVAL,
	             "only regular files are opened");
}

Test(source, socket_is_a_node)
{
	g_autofree char *p = lpath("sock");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	cr_assert_geq(s, 0);
	cr_assert_lt(strlen(p), sizeof(sa.sun_path));
	strcpy(sa.sun_path, p);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	scan();
	cr_expect(S_ISSOCK(tree->nodes[must_find("sock")].mode));
}

Test(source, devices_keep_major_and_minor)
{
	g_autofree char *p1 = lpath("wh"), *p2 = lpath("wide");
	const LimgNode *n;

	if (mknod(p1, S_IFCHR | 0600, makedev(0, 0)) != 0 ||
	    mknod(p2, S_IFBLK | 0600, makedev(259, 65536)) != 0)
		cr_skip_test("mknod not permitted here: %s", strerror(errno));
	scan();
	n = &tree->nodes[must_find("wh")];
	cr_expect(S_ISCHR(n->mode));
	cr_expect_eq(n->rdev_major, 0);
	cr_expect_eq(n->rdev_minor, 0);
	n = &tree->nodes[must_find("wide")];
	cr_expect(S_ISBLK(n->mode));
	cr_expect_eq(n->rdev_major, 259);
	cr_expect_eq(n->rdev_minor, 65536);
	cr_expect_eq(n->size, 0);
}

Test(source, hard_links_share_an_inode)
{
	g_autofree char *a = lpath("a"), *b = lpath("d/b");
	const LimgNode *x, *y;

	put_dir("d");
	put_file("a", "shared");
	cr_assert_eq(link(a, b), 0);
	scan();
	x = &tree->nodes[must_find("a")];
	y = &tree->nodes[must_find("d/b")];
	cr_expect_eq(x->ino, y->ino);
	cr_expect_eq(x->dev, y->dev);
	cr_expect_eq(x->nlink, 2);
	cr_expect_eq(y->nlink, 2);
}

Test(source, xattrs_are_recorded)
{
	g_autofree char *p = lpath("f");
	size_t cursor = 0, nl;
	const char *name;
	const uint8_t *value;
	uint32_t vl;
	bool found = false;

	put_file("f", NULL);
	if (lsetxattr(p, "user.limg", "v\0x", 3, 0) != 0)
		cr_skip_test("user xattrs not supported here: %s", strerror(errno));
	scan();
	while (limg_tree_xattr_next(tree, &tree->nodes[must_find("f")], &cursor, &name, &nl,
	                            &value, &vl)) {
		if (nl == 9 && memcmp(name, "user.limg", 9) == 0) {
			found = true;
			cr_expect_eq(vl, 3);
			cr_expect_arr_eq(value, "v\0x", 3);
		}
	}
	cr_expect(found);
}

Test(source, depth_limit_leaves_deep_contents_out_with_a_warning)
{
	LimgScanOptions o = { .xattrs = false, .max_depth = 2 };
	uint64_t skipped = 0;

	put_dir("a");
	put_dir("a/b");
	put_dir("a/b/c");
	put_dir("a/b/c/d");
	put_file("a/b/c/d/deep", "x");
	cr_assert_eq(limg_source_scan(src, &o, &report, &tree, &skipped), 0);
	expect_tree_invariant();
	cr_expect_neq(find("a"), LIMG_NONE);
	cr_expect_eq(find("a/b/c/d/deep"), LIMG_NONE);
	cr_expect_gt(skipped, 0);
	cr_expect_gt(report.warnings->len, 0);
}

Test(source, a_file_is_not_a_directory_source)
{
	g_autofree char *p = lpath("f");
	LimgSource *s = NULL;

	put_file("f", "x");
	cr_expect_eq(limg_dir_source_new(p, NULL, &s), -ENOTDIR);
	cr_expect_null(s);
}

/* ------------------------------------------------------------ open_node */

static void
expect_reads(int fd, const char *content)
{
	char buf[256];
	ssize_t n;

	cr_assert_geq(fd, 0, "open_node: %d", fd);
	n = pread(fd, buf, sizeof(buf), 0);
	cr_expect_eq(n, (ssize_t)strlen(content));
	cr_expect_arr_eq(buf, content, strlen(content));
	close(fd);
}

Test(source, open_node_gives_a_working_fd)
{
	put_dir("d");
	put_dir("d/e");
	put_file("d/e/f", "hello, layer");
	put_file("top", "top");
	scan();
	expect_reads(open_node(must_find("d/e/f")), "hello, layer");
	expect_reads(open_node(must_find("top")), "top");
}

Test(source, open_node_refuses_non_regular_nodes)
{
	put_dir("d");
	put_symlink("l", "d");
	scan();
	cr_expect_eq(open_node(must_find("d")), -EINVAL);
	cr_expect_eq(open_node(must_find("l")), -EINVAL);
	cr_expect_eq(open_node(0), -EINVAL);
}

Test(source, open_node_estale_after_replacement_by_symlink)
{
	g_autofree char *p = lpath("f"), *tmp = lpath("f.new");
	int fd;

	put_file("f", "content");
	scan();
	cr_assert_eq(symlink("/etc/passwd", tmp), 0);
	cr_assert_eq(rename(tmp, p), 0);
	fd = open_node(must_find("f"));
	cr_expect_eq(fd, -ESTALE);
	if (fd >= 0)
		close(fd);
}

Test(source, open_node_estale_after_replacement_by_fifo)
{
	g_autofree char *p = lpath("f"), *tmp = lpath("f.new");
	int fd;

	put_file("f", "content");
	scan();
	cr_assert_eq(mkfifo(tmp, 0644), 0);
	cr_assert_eq(rename(tmp, p), 0);
	fd = open_node(must_find("f"));   /* must not hang */
	cr_expect_eq(fd, -ESTALE);
	if (fd >= 0)
		close(fd);
}

Test(source, open_node_estale_after_replacement_by_another_file)
{
	g_autofree char *p = lpath("f"), *tmp = lpath("f.new");
	struct stat st;
	struct timespec ts[2];
	int fd;

	put_file("f", "content");
	scan();
	cr_assert_eq(stat(p, &st), 0);
	/* Same size and mtime, different inode. */
	put_file("f.new", "CONTENT");
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	cr_assert_eq(utimensat(AT_FDCWD, tmp, ts, 0), 0);
	cr_assert_eq(rename(tmp, p), 0);
	fd = open_node(must_find("f"));
	cr_expect_eq(fd, -ESTALE);
	if (fd >= 0)
		close(fd);
}

Test(source, open_node_estale_after_size_change)
{
	g_autofree char *p = lpath("f");
	int fd;

	put_file("f", "content");
	scan();
	fd = open(p, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "more", 4), 4);
	close(fd);
	fd = open_node(must_find("f"));
	cr_expect_eq(fd, -ESTALE);
	if (fd >= 0)
		close(fd);
}

Test(source, open_node_estale_after_mtime_change)
{
	g_autofree char *p = lpath("f");
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1234567890, 0 } };
	int fd;

	put_file("f", "content");
	scan();
	cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	fd = open_node(must_find("f"));
	cr_expect_eq(fd, -ESTALE);
	if (fd >= 0)
		close(fd);
}

Test(source, open_node_estale_after_removal)
{
	g_autofree char *p = lpath("d/f"), *d = lpath("d");
	int fd;

	put_dir("d");
	put_file("d/f", "content");
	scan();
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(rmdir(d), 0);
	fd = open_node(must_find("d/f"));
	cr_expect_eq(fd, -ESTALE);
	if (fd >= 0)
		close(fd);
}

Test(source, open_node_does_not_escape_through_a_swapped_parent)
{
	/*
	 * The same inode is reachable outside the layer (a hard link made
	 * before the scan, so ctime matches): if open followed the symlink
	 * that replaces d/, every identity check would pass. It must refuse.
	 */
	g_autofree char *f = lpath("d/f"), *d = lpath("d"), *moved = lpath("d.old");
	g_autofree char *out = g_strdup_printf("%s/f", outside);
	int fd;

	put_dir("d");
	put_file("d/f", "inside");
	cr_assert_eq(link(f, out), 0);
	scan();
	cr_assert_eq(rename(d, moved), 0);
	cr_assert_eq(symlink(outside, d), 0);
	fd = open_node(must_find("d/f"));
	cr_expect_eq(fd, -ESTALE, "opened the file through a symlinked parent (fd %d)", fd);
	if (fd >= 0)
		close(fd);
}

Test(source, open_node_does_not_escape_through_a_relative_symlinked_parent)
{
	g_autofree char *f = lpath("d/f"), *d = lpath("d"), *moved = lpath("d.old");
	g_autofree char *out = g_strdup_printf("%s/f", outside);
	int fd;

	put_dir("d");
	put_file("d/f", "inside");
	cr_assert_eq(link(f, out), 0);
	scan();
	cr_assert_eq(rename(d, moved), 0);
	cr_assert_eq(symlink("../outside", d), 0);
	fd = open_node(must_find("d/f"));
	cr_expect_eq(fd, -ESTALE, "opened the file through a symlinked parent (fd %d)", fd);
	if (fd >= 0)
		close(fd);
}

/* ------------------------------------------------------------ the interface */

Test(source, identity_names_the_layer_and_changes_with_it)
{
	g_auto(LimgSourceId) a = { 0 };
	g_auto(LimgSourceId) b = { 0 };
	g_auto(LimgSourceId) c = { 0 };

	cr_assert_eq(limg_source_identity(src, &a), 0);
	cr_expect_str_eq(a.key, layer);
	cr_assert_eq(limg_source_identity(src, &b), 0);
	cr_expect(g_bytes_equal(a.fingerprint, b.fingerprint), "same layer, same fingerprint");
	put_file("new", "x");   /* changes the layer directory's mtime and ctime */
	cr_assert_eq(limg_source_identity(src, &c), 0);
	cr_expect_str_eq(c.key, layer);
	cr_expect_not(g_bytes_equal(a.fingerprint, c.fingerprint), "the fingerprint must change");
}

Test(source, key_is_root_and_rel)
{
	g_autofree char *sub = lpath("sub");
	g_autofree char *want = g_strdup_printf("%s/sub/diff", layer);
	g_auto(LimgSourceId) id = { 0 };
	LimgSource *s = NULL;

	put_dir("sub");
	put_dir("sub/diff");
	cr_assert_eq(limg_dir_source_new(layer, "sub/diff", &s), 0);
	cr_assert_eq(limg_source_identity(s, &id), 0);
	cr_expect_str_eq(id.key, want);
	limg_source_free(s);
	(void)sub;
}

Test(source, rel_through_a_symlink_is_refused)
{
	LimgSource *s = NULL;

	put_dir("real");
	put_dir("real/diff");
	put_symlink("id", "real");
	put_symlink("real/link", "/etc");
	cr_expect_eq(limg_dir_source_new(layer, "id/diff", &s), -ELOOP, "symlinked component");
	cr_expect_null(s);
	cr_expect_eq(limg_dir_source_new(layer, "real/link", &s), -ELOOP, "symlinked leaf");
	cr_expect_eq(limg_dir_source_new(layer, "real/../real", &s), -EINVAL);
	cr_expect_eq(limg_dir_source_new(layer, "real/diff", &s), 0);
	limg_source_free(s);
}

Test(source, verify_accepts_the_same_tree_and_sees_any_directory_change)
{
	put_dir("a");
	put_dir("a/b");
	put_file("a/b/f", "x");
	scan();
	cr_expect_eq(limg_source_verify(src, tree), 0);
	put_file("a/b/g", "new entry deep down");
	cr_expect_eq(limg_source_verify(src, tree), -ESTALE);
}

Test(source, verify_leaves_the_top_directory_to_the_fingerprint)
{
	g_auto(LimgSourceId) before = { 0 }, after = { 0 };

	put_dir("a");
	put_file("a/f", "x");
	scan();
	cr_assert(limg_source_verify_later(src), "a directory's verify may run while it is served");
	cr_assert_eq(limg_source_identity(src, &before), 0);
	/* The tree as laid out: the top directory's mtime is the newest entry's. */
	cr_assert_eq(limg_overlay_normalize_layer(tree), 0);
	cr_expect_eq(limg_source_verify(src, tree), 0, "the laid-out tree is still the layer's");
	put_file("top", "a new entry at the top");
	cr_assert_eq(limg_source_identity(src, &after), 0);
	cr_expect_not(g_bytes_equal(before.fingerprint, after.fingerprint),
	              "an entry added at the top changes the fingerprint the disk cache compares");
	put_file("a/g", "and one below");
	cr_expect_eq(limg_source_verify(src, tree), -ESTALE);
}

Test(source, check_sees_a_change_of_an_open_file)
{
	LimgContent c = { .fd = -1 };
	g_autofree char *p = lpath("f");
	uint32_t f;
	int fd;

	put_file("f", "content");
	scan();
	f = must_find("f");
	cr_assert_eq(limg_source_open(src, tree, f, &c), 0);
	cr_expect_eq(limg_source_check(src, tree, f, &c), 0);
	fd = open(p, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "more", 4), 4);
	close(fd);
	cr_expect_eq(limg_source_check(src, tree, f, &c), -ESTALE);
	limg_content_release(&c);
	cr_expect_eq(c.fd, -1);
}

Test(source, siblings_open_through_one_parent_and_each_is_its_own_file)
{
	char buf[8];

	put_dir("d");
	put_file("d/a", "AAAA");
	put_file("d/b", "BB");
	put_dir("e");
	put_file("e/c", "C");
	scan();
	/* In node order, and back: the parent memo must never mix them up. */
	{
		const char *paths[] = { "d/a", "d/b", "e/c", "d/b", "d/a" };
		const char *want[] = { "AAAA", "BB", "C", "BB", "AAAA" };

		for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
			int fd = open_node(must_find(paths[i]));
			ssize_t n;

			cr_assert_geq(fd, 0, "%s: %d", paths[i], fd);
			n = pread(fd, buf, sizeof(buf), 0);
			cr_expect_eq(n, (ssize_t)strlen(want[i]));
			cr_expect_arr_eq(buf, want[i], strlen(want[i]), "%s", paths[i]);
			close(fd);
		}
	}
}

Test(source, present_until_the_layer_directory_is_removed)
{
	g_autofree char *gone = g_strdup_printf("%s/gone", base);
	LimgSource *s = NULL;

	cr_assert_eq(mkdir(gone, 0755), 0);
	cr_assert_eq(limg_dir_source_new(gone, NULL, &s), 0);
	cr_expect_eq(limg_source_present(s), 0);
	cr_assert_eq(rmdir(gone), 0);
	cr_expect_eq(limg_source_present(s), -ENOENT);
	limg_source_free(s);
}
