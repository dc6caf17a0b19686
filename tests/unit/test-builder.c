/*
 * test-builder.c - the tree builder (tree/builder.h): entries put by
 * path in any order give the tree invariant and a numbering that depends
 * on the set of entries only; a later entry wins; hard links copy their
 * target; bad paths are refused; limg_tree_clean_path() cleans archive
 * paths as runtimes extract them.
 */
#include <config.h>

#include <time.h>

#include "iso/layout.h"
#include "tree/builder.h"
#include "lib/testlib.h"

/* The builder's prototypes: the root, and directories made for missing parents. */
#define ROOT_MTIME 1111
#define PARENT_MODE 0711
#define PARENT_UID 7
#define PARENT_GID 8
#define PARENT_MTIME 4242

static LimgTreeBuilder *b;
static LimgTree *tree;

static void
setup(void)
{
	LimgNode root = { .mode = S_IFDIR | 0755, .nlink = 2, .mtime = { ROOT_MTIME, 5 } };
	/* a file's type and a size: the builder must make a directory of it anyway */
	LimgNode parent = { .mode = S_IFREG | PARENT_MODE, .uid = PARENT_UID, .gid = PARENT_GID,
	                    .nlink = 2, .size = 4096, .mtime = { PARENT_MTIME, 7 } };

	b = limg_tree_builder_new(&root, &parent);
	cr_assert_not_null(b);
	tree = NULL;
}

static void
teardown(void)
{
	limg_tree_builder_free(b);
	b = NULL;
	limg_tree_free(tree);
	tree = NULL;
}

TestSuite(builder, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ helpers */

static LimgNode
nd(uint32_t mode, uint32_t uid, uint64_t size, int64_t mtime)
{
	LimgNode n = { .mode = mode, .uid = uid, .gid = uid + 100, .nlink = 1, .size = size,
	               .mtime = { mtime, 0 }, .ino = 1000 + uid, .dev = 3 };

	return n;
}

static int
try_put(const char *path, const LimgNode *n)
{
	return limg_tree_builder_put(b, path, strlen(path), n, NULL, 0, NULL);
}

static LimgBuilderEntry *
put_node(const char *path, const LimgNode *n, const char *target)
{
	LimgBuilderEntry *e = NULL;
	int ret = limg_tree_builder_put(b, path, strlen(path), n, target,
	                                target ? strlen(target) : 0, &e);

	cr_assert_eq(ret, 0, "put '%s': %d", path, ret);
	cr_assert_not_null(e);
	return e;
}

static LimgBuilderEntry *
put_file(const char *path, uint64_t size)
{
	LimgNode n = nd(S_IFREG | 0644, 1, size, 100);

	return put_node(path, &n, NULL);
}

static LimgBuilderEntry *
put_dir(const char *path)
{
	LimgNode n = nd(S_IFDIR | 0755, 2, 0, 200);

	return put_node(path, &n, NULL);
}

static LimgBuilderEntry *
put_symlink(const char *path, const char *target)
{
	LimgNode n = nd(S_IFLNK | 0777, 3, strlen(target), 300);

	return put_node(path, &n, target);
}

static int
try_link(const char *path, const char *tpath, LimgBuilderEntry **out)
{
	return limg_tree_builder_link(b, path, strlen(path), tpath, strlen(tpath), out);
}

static void
set_xattr(LimgBuilderEntry *e, const char *name, const char *value)
{
	limg_builder_entry_set_xattr(e, name, value, (uint32_t)strlen(value));
}

static LimgBuilderEntry *
must_find(const char *path)
{
	LimgBuilderEntry *e = limg_tree_builder_find(b, path, strlen(path));

	cr_assert_not_null(e, "no entry '%s' in the builder", path);
	return e;
}

/* Build into the global tree, asserting success and the tree invariant. */
static void
build(void)
{
	limg_tree_free(tree);
	tree = NULL;
	cr_assert_eq(limg_tree_builder_build(b, &tree), 0);
	th_expect_tree_invariant(tree);
}

static const LimgNode *
node(const char *path)
{
	return th_tree_node(tree, path);
}

/* The nodes' paths in index order must be @want (NULL-terminated). */
static void
expect_order(const char *const *want)
{
	uint32_t i = 0;

	for (; want[i]; i++) {
		g_autofree char *p = NULL;

		cr_assert_lt(i, tree->n_nodes, "only %u nodes", tree->n_nodes);
		p = limg_tree_path(tree, i);
		cr_expect_str_eq(p, want[i], "node %u: '%s', not '%s'", i, p, want[i]);
	}
	cr_expect_eq(tree->n_nodes, i, "%u nodes, not %u", tree->n_nodes, i);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool
under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

/* ------------------------------------------------------------ the invariant */

Test(builder, children_are_sorted_bytewise)
{
	static const char *const puts[] = {
		"b", "\xc3\xa9", "a.b", "B", "ab", "a-", "_", "a", "Z", "a\x01", "\xff", NULL,
	};
	static const char *const want[] = {
		"", "B", "Z", "_", "a", "a\x01", "a-", "a.b", "ab", "b", "\xc3\xa9", "\xff", NULL,
	};

	for (size_t i = 0; puts[i]; i++)
		put_file(puts[i], i);
	build();
	expect_order(want);
	cr_expect_eq(tree->nodes[0].first_child, 1);
	cr_expect_eq(tree->nodes[0].nchildren, 11);
}

Test(builder, numbering_is_depth_first_in_name_order)
{
	static const char *const want[] = {
		"", "a", "b", "c", "a/x", "a/y", "a/x/f", "b/g", NULL,
	};

	put_file("b/g", 1);
	put_file("c", 1);
	put_dir("a/y");
	put_file("a/x/f", 1);
	build();
	expect_order(want);
	cr_expect_eq(node("a")->first_child, 4);
	cr_expect_eq(node("a")->nchildren, 2);
	cr_expect_eq(node("a/y")->nchildren, 0);
	cr_expect_eq(node("a/y")->first_child, 0, "an empty directory has first_child 0");
	cr_expect_eq(node("b")->first_child, 7);
}

/* A set of distinct entries, every directory among them, put in the order of @perm. */
typedef struct {
	char path[64];
	LimgNode n;
	char target[16];
	int nx;                  /* xattrs: 0..3 */
} Ent;

static GArray *
entry_set(void)
{
	GArray *ents = g_array_new(FALSE, TRUE, sizeof(Ent));
	uint32_t id = 0;

	for (int d = 0; d < 6; d++) {
		for (int s = -1; s < 4; s++) {
			char dir[32];
			Ent e = { 0 };

			if (s < 0)
				g_snprintf(dir, sizeof(dir), "d%d", d);
			else
				g_snprintf(dir, sizeof(dir), "d%d/s%d", d, s);
			g_strlcpy(e.path, dir, sizeof(e.path));
			e.n = nd(S_IFDIR | 0750, id, 0, id);
			e.n.ino = ++id;
			e.nx = id % 3;
			g_array_append_val(ents, e);
			for (int f = 0; f < 8; f++) {
				Ent k = { 0 };

				g_snprintf(k.path, sizeof(k.path), "%s/%c%d", dir, "fFl_"[f % 4],
				           f);
				switch (f % 4) {
				case 2:
					k.n = nd(S_IFLNK | 0777, id, 3, id);
					g_strlcpy(k.target, "../t", sizeof(k.target));
					k.n.size = 4;
					break;
				case 3:
					k.n = nd(S_IFCHR | 0600, id, 0, id);
					k.n.rdev_major = id;
					k.n.rdev_minor = f;
					break;
				default:
					k.n = nd(S_IFREG | 0640, id, id * 10, id);
					k.n.mtime.nsec = id;
				}
				k.n.ino = ++id;
				k.nx = id % 4;
				g_array_append_val(ents, k);
			}
		}
	}
	return ents;
}

static const char *const xnames[] = { "user.zeta", "security.a", "user.alpha" };

static char *
build_shuffled(GArray *ents, guint32 seed)
{
	g_autoptr(GRand) r = g_rand_new_with_seed(seed);
	g_autofree guint *perm = g_new(guint, ents->len);

	for (guint i = 0; i < ents->len; i++)
		perm[i] = i;
	for (guint i = ents->len; i > 1; i--) {
		guint j = (guint)g_rand_int_range(r, 0, (gint32)i);
		guint t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (guint i = 0; i < ents->len; i++) {
		Ent *e = &g_array_index(ents, Ent, perm[i]);
		LimgBuilderEntry *be = put_node(e->path, &e->n, e->target[0] ? e->target : NULL);
		int first = g_rand_int_range(r, 0, 3);

		/* the xattrs, too, in an order of their own */
		for (int k = 0; k < e->nx; k++) {
			const char *name = xnames[(first + k) % e->nx];
			g_autofree char *v = g_strdup_printf("%s:%s", e->path, name);

			set_xattr(be, name, v);
		}
	}
	build();
	return th_tree_dump(tree, TH_DUMP_IDS);
}

Test(builder, shuffled_puts_give_identical_trees)
{
	g_autoptr(GArray) ents = entry_set();
	g_autofree char *first = build_shuffled(ents, 1);

	cr_assert_eq(tree->n_nodes, 1 + ents->len);
	for (guint32 seed = 2; seed <= 12; seed++) {
		g_autofree char *again = build_shuffled(ents, seed);

		cr_expect_str_eq(again, first, "seed %u", seed);
	}
	/* spot checks of what the dump holds */
	cr_expect_eq(node("d3/s1/F1")->size, node("d3/s1/F1")->uid * 10u);
	cr_expect_str_eq(limg_tree_target(tree, node("d0/l2")), "../t");
	th_expect_xattrs(tree, "d0/F1", "security.a=d0/F1:security.a,user.alpha=d0/F1:user.alpha,"
	              "user.zeta=d0/F1:user.zeta");
}

/* ------------------------------------------------------------ later wins */

Test(builder, file_over_file_replaces_it)
{
	LimgNode n = nd(S_IFREG | 0600, 9, 20, 999);
	const LimgNode *got;

	set_xattr(put_file("f", 10), "user.old", "1");
	put_node("f", &n, NULL);
	build();
	got = node("f");
	cr_expect_eq(got->mode, S_IFREG | 0600);
	cr_expect_eq(got->uid, 9);
	cr_expect_eq(got->size, 20);
	cr_expect_eq(got->mtime.sec, 999);
	th_expect_xattrs(tree, "f", "");
	cr_expect_eq(tree->n_nodes, 2);
}

Test(builder, symlink_over_file_takes_its_target)
{
	put_file("f", 10);
	put_symlink("f", "somewhere");
	build();
	cr_expect(S_ISLNK(node("f")->mode));
	cr_expect_str_eq(limg_tree_target(tree, node("f")), "somewhere");
	cr_expect_eq(node("f")->size, 9);
}

Test(builder, file_over_directory_takes_its_subtree_away)
{
	put_file("d/e/f", 1);
	put_file("d/g", 2);
	put_file("keep", 3);
	put_file("d", 4);
	cr_expect_null(limg_tree_builder_find(b, "d/e", 3));
	build();
	cr_expect(S_ISREG(node("d")->mode));
	cr_expect_eq(node("d")->size, 4);
	th_expect_absent(tree, "d/e");
	th_expect_absent(tree, "d/g");
	cr_expect_eq(tree->n_nodes, 3);
}

Test(builder, directory_over_directory_keeps_children_takes_attributes)
{
	LimgNode n = nd(S_IFDIR | 0701, 55, 0, 5555);
	const LimgNode *got;

	set_xattr(put_dir("d"), "user.old", "x");
	put_file("d/f", 1);
	put_dir("d/sub");
	put_file("d/sub/g", 1);
	put_node("d", &n, NULL);
	build();
	got = node("d");
	cr_expect_eq(got->mode, S_IFDIR | 0701);
	cr_expect_eq(got->uid, 55);
	cr_expect_eq(got->mtime.sec, 5555);
	cr_expect_eq(got->nchildren, 2);
	cr_expect_neq(th_tree_find(tree, "d/f"), LIMG_NONE);
	cr_expect_neq(th_tree_find(tree, "d/sub/g"), LIMG_NONE);
	th_expect_xattrs(tree, "d", "");
}

Test(builder, directory_over_file_replaces_it)
{
	put_file("x", 5);
	put_dir("x");
	put_file("x/y", 1);
	build();
	cr_expect(S_ISDIR(node("x")->mode));
	cr_expect_eq(node("x")->size, 0);
	cr_expect_eq(node("x")->nchildren, 1);
}

Test(builder, implicit_parent_then_explicit_directory)
{
	LimgNode n = nd(S_IFDIR | 0700, 66, 0, 6666);

	put_file("p/q/f", 1);
	put_node("p", &n, NULL);
	build();
	cr_expect_eq(node("p")->uid, 66);
	cr_expect_eq(node("p")->mode, S_IFDIR | 0700);
	cr_expect_eq(node("p/q")->uid, PARENT_UID, "the one not given keeps the prototype");
	cr_expect_neq(th_tree_find(tree, "p/q/f"), LIMG_NONE);
}

/* ------------------------------------------------------------ parents, root */

Test(builder, missing_parents_take_the_parent_prototype)
{
	const LimgNode *d;

	put_file("a/b/c", 3);
	cr_expect_not_null(limg_tree_builder_dir(b, "m/n", 3), "dir() makes what is missing");
	build();
	for (int i = 0; i < 4; i++) {
		static const char *const dirs[] = { "a", "a/b", "m", "m/n" };

		d = node(dirs[i]);
		cr_expect_eq(d->mode, S_IFDIR | PARENT_MODE, "%s: mode %o", dirs[i], d->mode);
		cr_expect_eq(d->uid, PARENT_UID);
		cr_expect_eq(d->gid, PARENT_GID);
		cr_expect_eq(d->mtime.sec, PARENT_MTIME);
		cr_expect_eq(d->mtime.nsec, 7);
		cr_expect_eq(d->size, 0, "a directory has no size");
	}
	cr_expect_eq(node("a/b/c")->size, 3);
}

Test(builder, root_takes_the_root_prototype_as_a_directory)
{
	LimgNode root = { .mode = S_IFREG | 0750, .uid = 12, .mtime = { 77, 0 } };
	LimgNode parent = { .mode = S_IFDIR | 0755 };

	limg_tree_builder_free(b);
	b = limg_tree_builder_new(&root, &parent);
	build();
	cr_expect_eq(tree->n_nodes, 1);
	cr_expect_eq(tree->nodes[0].mode, S_IFDIR | 0750);
	cr_expect_eq(tree->nodes[0].uid, 12);
	cr_expect_eq(tree->nodes[0].mtime.sec, 77);
	cr_expect_eq(tree->nodes[0].name_len, 0);
}

Test(builder, empty_path_sets_the_root)
{
	LimgNode n = nd(S_IFDIR | 0700, 31, 0, 3131);
	LimgNode f = nd(S_IFREG | 0644, 1, 1, 1);
	LimgBuilderEntry *e;

	put_file("kid", 1);
	set_xattr(must_find(""), "user.root", "r");
	e = put_node("", &n, NULL);
	cr_expect_eq(e, must_find(""));
	cr_expect_eq(limg_tree_builder_put(b, "", 0, &f, NULL, 0, &e), -EINVAL,
	             "a non-directory at the root");
	cr_expect_null(e, "*out is cleared on failure");
	build();
	cr_expect_eq(tree->nodes[0].uid, 31);
	cr_expect_eq(tree->nodes[0].mode, S_IFDIR | 0700);
	cr_expect_eq(tree->nodes[0].nchildren, 1, "the root keeps its children");
	th_expect_xattrs(tree, "", "");
}

Test(builder, entry_node_changes_reach_the_tree)
{
	LimgBuilderEntry *e = put_file("f", 1);

	limg_builder_entry_node(e)->uid = 4321;
	limg_builder_entry_node(e)->size = 77;
	build();
	cr_expect_eq(node("f")->uid, 4321);
	cr_expect_eq(node("f")->size, 77);
}

Test(builder, structural_fields_of_the_prototype_are_ignored)
{
	LimgNode n = nd(S_IFREG | 0644, 1, 1, 1);
	LimgNode dev = nd(S_IFBLK | 0600, 1, 12345, 1);

	n.parent = 99;
	n.first_child = 98;
	n.nchildren = 97;
	n.name = 96;
	n.target = 95;
	n.xattrs = 94;
	n.name_len = 93;
	put_node("f", &n, NULL);
	dev.rdev_major = 8;
	dev.rdev_minor = 1;
	put_node("sda1", &dev, NULL);
	build();
	cr_expect_eq(node("f")->parent, 0);
	cr_expect_eq(node("f")->nchildren, 0);
	cr_expect_eq(node("f")->first_child, 0);
	cr_expect_eq(node("f")->name_len, 1);
	cr_expect_null(limg_tree_target(tree, node("f")));
	th_expect_xattrs(tree, "f", "");
	cr_expect_eq(node("sda1")->size, 0, "only files and symlinks have a size");
	cr_expect_eq(node("sda1")->rdev_major, 8);
	cr_expect_eq(node("sda1")->rdev_minor, 1);
}

Test(builder, symlink_target_is_copied_by_length)
{
	LimgNode n = nd(S_IFLNK | 0777, 1, 3, 1);
	char target[] = "abcdef";

	cr_assert_eq(limg_tree_builder_put(b, "l", 1, &n, target, 3, NULL), 0);
	cr_assert_eq(limg_tree_builder_put(b, "empty", 5, &n, NULL, 0, NULL), 0);
	memset(target, 'z', 6);
	build();
	cr_expect_str_eq(limg_tree_target(tree, node("l")), "abc");
	cr_expect_str_eq(limg_tree_target(tree, node("empty")), "",
	                 "a symlink without a target still has one");
}

/* ------------------------------------------------------------ refusals */

Test(builder, entry_under_a_non_directory_is_enotdir)
{
	LimgNode n = nd(S_IFREG | 0644, 1, 1, 1);

	put_file("f", 1);
	put_symlink("l", "d");
	cr_expect_eq(try_put("f/x", &n), -ENOTDIR);
	cr_expect_eq(try_put("f/x/y", &n), -ENOTDIR);
	cr_expect_eq(try_put("l/x", &n), -ENOTDIR);
	cr_expect_null(limg_tree_builder_dir(b, "f", 1));
	cr_expect_null(limg_tree_builder_dir(b, "f/x", 3));
	cr_expect_null(limg_tree_builder_find(b, "f/x", 3));
	build();
	cr_expect_eq(tree->n_nodes, 3, "nothing was added");
	cr_expect(S_ISREG(node("f")->mode));
}

Test(builder, bad_paths_are_einval)
{
	static const struct {
		const char *p;
		size_t len;
	} bad[] = {
		{ "/a", 2 }, { "a//b", 4 }, { "a/./b", 5 }, { "a/..", 4 }, { "a/", 2 }, { "/", 1 },
		{ ".", 1 }, { "..", 2 }, { "./a", 3 }, { "../a", 4 }, { "a/b/", 4 }, { "a\0b", 3 },
		{ "\0", 1 },
	};
	LimgNode n = nd(S_IFREG | 0644, 1, 1, 1);
	char longc[300];
	LimgBuilderEntry *out = (LimgBuilderEntry *)&n;

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *shown = g_strescape(bad[i].p, NULL);

		cr_expect_eq(limg_tree_builder_put(b, bad[i].p, bad[i].len, &n, NULL, 0, &out),
		             -EINVAL, "put '%s'", shown);
		cr_expect_null(out);
		cr_expect_null(limg_tree_builder_find(b, bad[i].p, bad[i].len), "find '%s'", shown);
		cr_expect_null(limg_tree_builder_dir(b, bad[i].p, bad[i].len), "dir '%s'", shown);
	}
	memset(longc, 'x', sizeof(longc));
	longc[0] = 'd';
	longc[1] = '/';
	cr_expect_eq(limg_tree_builder_put(b, longc, 2 + 256, &n, NULL, 0, NULL), -EINVAL,
	             "a 256-byte component");
	cr_expect_eq(limg_tree_builder_put(b, longc + 2, 256, &n, NULL, 0, NULL), -EINVAL);
	put_file("ok", 1);
	cr_expect_eq(try_link("ok/", "ok", NULL), -EINVAL);
	cr_expect_eq(limg_tree_builder_put(b, longc + 2, 255, &n, NULL, 0, NULL), 0,
	             "255 bytes are fine");
	build();
	cr_expect_eq(tree->n_nodes, 3, "nothing of the bad paths was made (no 'd', no 'a')");
	cr_expect_eq(node("ok")->size, 1);
}

/* ------------------------------------------------------------ hard links */

Test(builder, link_copies_the_node_target_and_xattrs)
{
	LimgNode n = nd(S_IFREG | 04711, 5, 123, 456);
	LimgBuilderEntry *e, *l;
	const LimgNode *x, *y;

	n.ino = 777;
	n.dev = 66;
	n.nlink = 2;
	n.mtime.nsec = 9;
	n.ctime = (LimgTime){ 1, 2 };
	e = put_node("f", &n, NULL);
	set_xattr(e, "user.b", "2");
	set_xattr(e, "user.a", "1");
	cr_assert_eq(try_link("d/g", "f", &l), 0);
	cr_expect_eq(l, must_find("d/g"));
	/* the link's xattrs are its own copy */
	set_xattr(e, "user.a", "changed");
	set_xattr(e, "user.c", "new");
	put_symlink("s", "the/target");
	cr_assert_eq(try_link("s2", "s", NULL), 0);
	build();
	x = node("f");
	y = node("d/g");
	cr_expect_eq(y->mode, x->mode);
	cr_expect_eq(y->uid, x->uid);
	cr_expect_eq(y->gid, x->gid);
	cr_expect_eq(y->size, 123);
	cr_expect_eq(y->ino, 777);
	cr_expect_eq(y->dev, 66);
	cr_expect_eq(y->nlink, 2);
	cr_expect_eq(y->mtime.sec, 456);
	cr_expect_eq(y->mtime.nsec, 9);
	cr_expect_eq(y->ctime.sec, 1);
	cr_expect_eq(y->ctime.nsec, 2);
	th_expect_xattrs(tree, "d/g", "user.a=1,user.b=2");
	th_expect_xattrs(tree, "f", "user.a=changed,user.b=2,user.c=new");
	cr_expect(S_ISLNK(node("s2")->mode));
	cr_expect_str_eq(limg_tree_target(tree, node("s2")), "the/target");
	cr_expect_eq(node("s2")->size, 10);
	cr_expect_eq(node("d")->uid, PARENT_UID, "the link's parent was made");
}

Test(builder, link_data_counts_once)
{
	LimgLayout *lay;
	LimgNode n = nd(S_IFREG | 0644, 1, 100, 1);

	n.nlink = 2;            /* as the sources count it */
	put_node("f", &n, NULL);
	cr_assert_eq(try_link("g", "f", NULL), 0);
	put_file("h", 10);
	build();
	/* what `render` prints as data_bytes: the file data, hard links once */
	lay = build_layout(g_steal_pointer(&tree), NULL);
	cr_expect_eq(limg_layout_tree(lay)->data_bytes, 110, "the layout's count: %" PRIu64,
	             limg_layout_tree(lay)->data_bytes);
	limg_layout_unref(lay);
}

Test(builder, link_to_itself_changes_nothing)
{
	LimgBuilderEntry *e = put_file("f", 10), *out = NULL;

	set_xattr(e, "user.x", "1");
	cr_expect_eq(try_link("f", "f", &out), 0);
	cr_expect_eq(out, e, "the same entry");
	cr_expect_eq(must_find("f"), e);
	build();
	cr_expect_eq(node("f")->size, 10);
	th_expect_xattrs(tree, "f", "user.x=1");
}

Test(builder, link_over_a_directory_holding_its_target)
{
	LimgNode n = nd(S_IFREG | 0600, 8, 42, 1);
	LimgBuilderEntry *e;

	n.ino = 4242;
	put_dir("d");
	e = put_node("d/f", &n, NULL);
	set_xattr(e, "user.kept", "yes");
	put_file("d/other", 1);
	/* the put frees d/f with its directory: the link must have copied it first */
	cr_assert_eq(try_link("d", "d/f", &e), 0);
	cr_expect_eq(e, must_find("d"));
	build();
	cr_expect_eq(tree->n_nodes, 2);
	cr_expect_eq(node("d")->mode, S_IFREG | 0600);
	cr_expect_eq(node("d")->ino, 4242);
	cr_expect_eq(node("d")->size, 42);
	th_expect_xattrs(tree, "d", "user.kept=yes");
	th_expect_absent(tree, "d/f");
}

Test(builder, link_errors)
{
	LimgBuilderEntry *out = (LimgBuilderEntry *)&out;

	put_file("f", 1);
	put_dir("dir");
	cr_expect_eq(try_link("x", "missing", &out), -ENOENT);
	cr_expect_null(out);
	cr_expect_eq(try_link("x", "f/under", NULL), -ENOENT);
	cr_expect_eq(try_link("x", "dir", NULL), -EISDIR);
	cr_expect_eq(try_link("x", "", NULL), -EISDIR, "the root is a directory");
	cr_expect_eq(try_link("f/x", "f", NULL), -ENOTDIR);
	cr_expect_eq(try_link("x", "/f", NULL), -ENOENT, "a bad target path is no entry");
	build();
	cr_expect_eq(tree->n_nodes, 3, "nothing was added");
}

/* ------------------------------------------------------------ xattrs */

Test(builder, xattrs_are_sorted_by_name_and_replaced)
{
	LimgBuilderEntry *e = put_file("f", 1);

	set_xattr(e, "user.b", "first");
	set_xattr(e, "trusted.overlay.opaque", "y");
	limg_builder_entry_set_xattr(e, "user.bin", "\0\xff\0", 3);
	set_xattr(e, "security.capability", "cap");
	set_xattr(e, "user.a", "");
	set_xattr(e, "user.b", "second");
	build();
	th_expect_xattrs(tree, "f", "security.capability=cap,trusted.overlay.opaque=y,user.a=,"
	              "user.b=second,user.bin=\\x00\\xff\\x00");
}

Test(builder, directory_xattrs_survive_later_children)
{
	set_xattr(put_dir("d"), "user.d", "1");
	put_file("d/f", 1);
	put_file("d/g/h", 1);
	build();
	th_expect_xattrs(tree, "d", "user.d=1");
}

/* ------------------------------------------------------------ build */

Test(builder, build_leaves_the_builder_empty)
{
	LimgTree *again = NULL;

	put_file("a/b", 1);
	set_xattr(must_find(""), "user.root", "1");
	build();
	cr_expect_eq(tree->n_nodes, 3);
	th_expect_xattrs(tree, "", "user.root=1");
	cr_expect_null(limg_tree_builder_find(b, "a", 1));
	cr_assert_eq(limg_tree_builder_build(b, &again), 0);
	cr_expect_eq(again->n_nodes, 1, "only the root");
	cr_expect_eq(again->nodes[0].xattrs, LIMG_NONE);
	limg_tree_free(again);
	/* and it can be filled again */
	put_file("c", 1);
	build();
	cr_expect_eq(tree->n_nodes, 2);
	cr_expect_neq(th_tree_find(tree, "c"), LIMG_NONE);
}

/* "d/d/.../d" (@levels components) + "/f" when @file. Caller frees. */
static char *
deep_path(unsigned levels, bool file)
{
	GString *s = g_string_new(NULL);

	for (unsigned i = 0; i < levels; i++)
		g_string_append(s, i ? "/d" : "d");
	if (file)
		g_string_append(s, "/f");
	return g_string_free(s, FALSE);
}

Test(builder, deep_paths_build_without_recursion)
{
	g_autofree char *p = deep_path(3000, true);
	g_autofree char *got = NULL;

	put_file(p, 5);
	build();
	cr_expect_eq(tree->n_nodes, 3002);
	got = limg_tree_path(tree, tree->n_nodes - 1);
	cr_expect_str_eq(got, p);
	cr_expect_eq(tree->nodes[tree->n_nodes - 1].size, 5);
}

Test(builder, deep_subtrees_are_replaced_and_freed)
{
	g_autofree char *p = deep_path(3000, true);
	g_autofree char *q = deep_path(2999, false);

	put_file(p, 5);
	put_file("d", 1);       /* the whole chain goes */
	put_dir("d");
	put_file(p, 5);         /* and is made again below the new "d" */
	put_file(q, 2);         /* a file over a deep directory: one level goes */
	cr_expect_not_null(limg_tree_builder_find(b, q, strlen(q)));
	cr_expect_null(limg_tree_builder_find(b, p, strlen(p)));
	/* the builder is freed unbuilt by the fixture, with a deep tree in it */
}

Test(builder, two_hundred_thousand_entries)
{
	/* valgrind: a tenth of them, the same code paths (17 s for all under it) */
	const unsigned ndirs = under_valgrind() ? 40 : 400, nfiles = 500;
	g_autoptr(GRand) r = g_rand_new_with_seed(7);
	g_autofree guint *perm = g_new(guint, ndirs * nfiles);
	double t0 = now(), dt;

	for (guint i = 0; i < ndirs * nfiles; i++)
		perm[i] = i;
	for (guint i = ndirs * nfiles; i > 1; i--) {
		guint j = (guint)g_rand_int_range(r, 0, (gint32)i), t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (guint i = 0; i < ndirs * nfiles; i++) {
		char path[32];

		g_snprintf(path, sizeof(path), "dir%u/file%u", perm[i] / nfiles, perm[i] % nfiles);
		put_file(path, 1);
	}
	build();
	dt = now() - t0;
	cr_expect_eq(tree->n_nodes, 1 + ndirs + ndirs * nfiles);
	/* bytewise: "dir9"/"dir99" is the last directory, "file99" its last file */
	cr_expect_eq(th_tree_find(tree, ndirs == 400 ? "dir99/file99" : "dir9/file99"),
	             tree->n_nodes - 1);
	cr_log_info("%u entries: %.2f s", ndirs * nfiles, dt);
	if (!under_valgrind())
		cr_expect_lt(dt, 5.0, "200k entries took %.2f s", dt);
}

/* ------------------------------------------------------------ clean_path */

Test(builder, clean_path_cases)
{
	static const struct {
		const char *in;
		const char *out;
		bool changed;
	} cases[] = {
		{ "a/b", "a/b", false },
		{ "/etc/passwd", "etc/passwd", true },
		{ "//a", "a", true },
		{ "./a", "a", false },
		{ "././a/./", "a", false },
		{ "a/../../b", "b", true },
		{ "../../etc/passwd", "etc/passwd", true },
		{ "a/b/../c", "a/c", false },   /* never left the layer */
		{ "a/./b//c", "a/b/c", false },
		{ "a/", "a", false },
		{ "..", "", true },
		{ "/", "", true },
		{ "", "", false },
		{ ".", "", false },
		{ "./", "", false },
		{ "...", "...", false },
		{ "a/..b", "a/..b", false },
		{ ".wh..wh..opq", ".wh..wh..opq", false },
	};
	char longc[260];
	bool changed;
	char *got;

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		changed = !cases[i].changed;
		got = limg_tree_clean_path(cases[i].in, strlen(cases[i].in), &changed);
		cr_expect_not_null(got, "'%s'", cases[i].in);
		if (got)
			cr_expect_str_eq(got, cases[i].out, "'%s'", cases[i].in);
		cr_expect_eq(changed, cases[i].changed, "'%s': changed", cases[i].in);
		g_free(got);
	}
	memset(longc, 'x', sizeof(longc));
	longc[0] = 'a';
	longc[1] = '/';
	got = limg_tree_clean_path(longc, 2 + 256, &changed);
	cr_expect_null(got, "a 256-byte component");
	g_free(got);
	got = limg_tree_clean_path(longc, 2 + 255, &changed);
	cr_expect_not_null(got, "a 255-byte component is fine");
	if (got)
		cr_expect_eq(strlen(got), 2 + 255);
	g_free(got);
	/* only @len bytes are read */
	got = limg_tree_clean_path("a/bc", 3, &changed);
	cr_expect_str_eq(got, "a/b");
	g_free(got);
}
