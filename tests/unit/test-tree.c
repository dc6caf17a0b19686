/*
 * test-tree.c - the neutral node tree (tree.h): adding nodes, names,
 * symlink targets, xattr blobs and paths.
 */
#include <config.h>

#include "lib/testlib.h"

static LimgTree *t;

static void
setup(void)
{
	t = limg_tree_new();
	cr_assert_not_null(t);
}

static void
teardown(void)
{
	limg_tree_free(t);
}

TestSuite(tree, .init = setup, .fini = teardown);

static uint32_t
add(uint32_t parent, uint32_t mode, const char *name)
{
	LimgNode n = { .parent = parent, .mode = mode, .nlink = 1 };
	uint32_t idx = LIMG_NONE;

	cr_assert_eq(limg_tree_add(t, &n, name, strlen(name), &idx), 0);
	return idx;
}

Test(tree, new_tree_is_empty)
{
	cr_expect_eq(t->n_nodes, 0);
	cr_expect_eq(t->data_bytes, 0);
}

Test(tree, free_null_is_a_no_op)
{
	limg_tree_free(NULL);
}

Test(tree, add_copies_the_prototype_and_numbers_nodes)
{
	LimgNode n = {
		.parent = 0, .first_child = 0, .nchildren = 0, .mode = S_IFREG | 0640,
		.uid = 1000, .gid = 2000, .nlink = 3, .rdev_major = 7, .rdev_minor = 9,
		.size = 12345678901ull, .ino = 77, .dev = 88,
		.mtime = { -5, 999999999 }, .ctime = { 42, 1 },
		.name = 1234, .target = 5678, .xattrs = 91011, .name_len = 99,
	};
	const LimgNode *p;
	uint32_t i0, i1;

	cr_assert_eq(limg_tree_add(t, &n, "", 0, &i0), 0);
	cr_assert_eq(limg_tree_add(t, &n, "file", 4, &i1), 0);
	cr_expect_eq(i0, 0);
	cr_expect_eq(i1, 1);
	cr_expect_eq(t->n_nodes, 2);
	p = &t->nodes[i1];
	cr_expect_eq(p->mode, S_IFREG | 0640);
	cr_expect_eq(p->uid, 1000);
	cr_expect_eq(p->gid, 2000);
	cr_expect_eq(p->nlink, 3);
	cr_expect_eq(p->rdev_major, 7);
	cr_expect_eq(p->rdev_minor, 9);
	cr_expect_eq(p->size, 12345678901ull);
	cr_expect_eq(p->ino, 77);
	cr_expect_eq(p->dev, 88);
	cr_expect_eq(p->mtime.sec, -5);
	cr_expect_eq(p->mtime.nsec, 999999999);
	cr_expect_eq(p->ctime.sec, 42);
	/* name, target and xattrs are the tree's, not the prototype's. */
	cr_expect_eq(p->name_len, 4);
	cr_expect_eq(p->target, LIMG_NONE);
	cr_expect_eq(p->xattrs, LIMG_NONE);
	cr_expect_str_eq(limg_tree_name(t, p), "file");
	cr_expect_str_eq(limg_tree_name(t, &t->nodes[i0]), "");
	cr_expect_eq(t->nodes[i0].name_len, 0);
}

Test(tree, name_is_copied)
{
	char buf[] = "original";
	LimgNode n = { .mode = S_IFREG | 0644 };
	uint32_t idx;

	cr_assert_eq(limg_tree_add(t, &n, buf, 8, &idx), 0);
	memset(buf, 'X', 8);
	cr_expect_str_eq(limg_tree_name(t, &t->nodes[idx]), "original");
}

Test(tree, names_keep_raw_bytes)
{
	static const char raw[] = "\xff\x01 \xc3\xa9\x7f";
	LimgNode n = { .mode = S_IFREG | 0644 };
	uint32_t idx;

	cr_assert_eq(limg_tree_add(t, &n, raw, sizeof(raw) - 1, &idx), 0);
	cr_expect_eq(t->nodes[idx].name_len, sizeof(raw) - 1);
	cr_expect_arr_eq(limg_tree_name(t, &t->nodes[idx]), raw, sizeof(raw));
}

Test(tree, name_of_64_kib_is_refused)
{
	g_autofree char *big = g_malloc0(65536);
	LimgNode n = { .mode = S_IFREG | 0644 };
	uint32_t idx;

	memset(big, 'a', 65536);
	cr_expect_eq(limg_tree_add(t, &n, big, 65536, &idx), -ENAMETOOLONG);
	cr_expect_eq(t->n_nodes, 0);
}

Test(tree, many_nodes_keep_their_names)
{
	char name[32];

	for (uint32_t i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		cr_assert_eq(add(0, S_IFREG | 0644, name), i);
	}
	limg_tree_seal(t);
	for (uint32_t i = 0; i < 10000; i += 997) {
		snprintf(name, sizeof(name), "n%u", i);
		cr_expect_str_eq(limg_tree_name(t, &t->nodes[i]), name);
	}
	cr_expect_geq(limg_tree_mem_bytes(t), 10000 * sizeof(LimgNode));
}

Test(tree, symlink_target_round_trip)
{
	uint32_t idx;
	char target[] = "../lib/x86_64-linux-gnu/libc.so.6";

	add(0, S_IFDIR | 0755, "");
	idx = add(0, S_IFLNK | 0777, "libc");
	cr_expect_null(limg_tree_target(t, &t->nodes[idx]));
	cr_assert_eq(limg_tree_set_target(t, idx, target, strlen(target)), 0);
	target[0] = 'X';
	cr_expect_str_eq(limg_tree_target(t, &t->nodes[idx]), "../lib/x86_64-linux-gnu/libc.so.6");
	cr_expect_eq(t->nodes[idx].size, strlen(target), "a symlink's size is its target length");
	/* Adding more strings must not disturb it. */
	for (int i = 0; i < 2000; i++)
		add(0, S_IFREG | 0644, "padding-name-to-grow-the-arena");
	cr_expect_str_eq(limg_tree_target(t, &t->nodes[idx]), "../lib/x86_64-linux-gnu/libc.so.6");
	cr_expect_str_eq(limg_tree_name(t, &t->nodes[idx]), "libc");
}

Test(tree, xattrs_round_trip_binary_values)
{
	static const char *const names[] = {
		"trusted.overlay.opaque", "security.capability", "user.empty", "user.bin",
	};
	static const uint8_t cap[20] = { 1, 0, 0, 2, 0x20, 0, 0, 0 };
	static const uint8_t bin[5] = { 0, 0xff, 0, '\n', 0 };
	const void *values[] = { "y", cap, "", bin };
	const uint32_t lens[] = { 1, sizeof(cap), 0, sizeof(bin) };
	size_t cursor = 0, nl;
	const char *name;
	const uint8_t *value;
	uint32_t vl, idx;
	int k = 0;

	idx = add(0, S_IFDIR | 0755, "");
	cr_assert_eq(limg_tree_set_xattrs(t, idx, 4, names, values, lens), 0);
	cr_expect_neq(t->nodes[idx].xattrs, LIMG_NONE);
	while (limg_tree_xattr_next(t, &t->nodes[idx], &cursor, &name, &nl, &value, &vl)) {
		cr_assert_lt(k, 4);
		cr_expect_eq(nl, strlen(names[k]));
		cr_expect_arr_eq(name, names[k], nl);
		cr_expect_eq(vl, lens[k], "attribute %d: %u bytes", k, vl);
		if (lens[k])
			cr_expect_arr_eq(value, values[k], lens[k]);
		k++;
	}
	cr_expect_eq(k, 4);
	/* Done stays done. */
	cr_expect(!limg_tree_xattr_next(t, &t->nodes[idx], &cursor, &name, &nl, &value, &vl));
}

Test(tree, node_without_xattrs_iterates_nothing)
{
	size_t cursor = 0, nl;
	const char *name;
	const uint8_t *value;
	uint32_t vl, idx;

	idx = add(0, S_IFREG | 0644, "f");
	cr_expect(!limg_tree_xattr_next(t, &t->nodes[idx], &cursor, &name, &nl, &value, &vl));
	cr_assert_eq(limg_tree_set_xattrs(t, idx, 0, NULL, NULL, NULL), 0);
	cr_expect_eq(t->nodes[idx].xattrs, LIMG_NONE);
}

Test(tree, path_of_nested_nodes)
{
	uint32_t root, usr, lib, file, etc;
	g_autofree char *p0 = NULL, *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL;

	root = add(0, S_IFDIR | 0755, "");
	etc = add(root, S_IFDIR | 0755, "etc");
	usr = add(root, S_IFDIR | 0755, "usr");
	lib = add(usr, S_IFDIR | 0755, "lib");
	file = add(lib, S_IFREG | 0644, "libz.so.1");
	t->nodes[root].first_child = etc;
	t->nodes[root].nchildren = 2;
	t->nodes[usr].first_child = lib;
	t->nodes[usr].nchildren = 1;
	t->nodes[lib].first_child = file;
	t->nodes[lib].nchildren = 1;
	p0 = limg_tree_path(t, root);
	p1 = limg_tree_path(t, etc);
	p2 = limg_tree_path(t, usr);
	p3 = limg_tree_path(t, lib);
	p4 = limg_tree_path(t, file);
	cr_expect_str_eq(p0, "");
	cr_expect_str_eq(p1, "etc");
	cr_expect_str_eq(p2, "usr");
	cr_expect_str_eq(p3, "usr/lib");
	cr_expect_str_eq(p4, "usr/lib/libz.so.1");
}

Test(tree, builder_keeps_children_contiguous_and_sorted)
{
	/* The test helper itself: the invariant of tree.h. */
	TreeBuilder *tb = tb_new();
	LimgTree *bt;

	tb_file(tb, "z/b", 1);
	tb_file(tb, "a", 1);
	tb_file(tb, "z/A", 1);
	tb_file(tb, "B", 1);
	tb_dir(tb, "m/n/o");
	tb_file(tb, "\xc3\xa9", 1);
	bt = tb_build(tb);
	for (uint32_t d = 0; d < bt->n_nodes; d++) {
		const LimgNode *dn = &bt->nodes[d];

		if (!S_ISDIR(dn->mode))
			continue;
		for (uint32_t c = dn->first_child; c < dn->first_child + dn->nchildren; c++) {
			cr_expect_eq(bt->nodes[c].parent, d);
			if (c > dn->first_child)
				cr_expect_lt(strcmp(limg_tree_name(bt, &bt->nodes[c - 1]),
				                    limg_tree_name(bt, &bt->nodes[c])), 0);
		}
	}
	cr_expect_eq(bt->n_nodes, 10);
	cr_expect_str_eq(limg_tree_name(bt, &bt->nodes[1]), "B");
	cr_expect_str_eq(limg_tree_name(bt, &bt->nodes[5]), "\xc3\xa9");
	{
		g_autofree char *p = limg_tree_path(bt, tb_get(tb, "m/n/o")->idx);

		cr_expect_str_eq(p, "m/n/o");
	}
	limg_tree_free(bt);
	tb_free(tb);
}
