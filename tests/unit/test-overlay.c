/*
 * test-overlay.c - layer trees as overlayfs shows them (overlay.h): the
 * merge of a stack of layers and the per-layer rule, case by case.
 *
 * The rules are those of Linux Documentation/filesystems/overlayfs.rst for
 * a read-only mount of several lowerdirs ("lowerdir=L2:L1:L0": L0, the
 * lowest, is the first element of the layer array here) and, for the
 * ".wh." form, the OCI image-spec layer format (layer.md, "Whiteouts").
 * Every expected tree is worked out by hand from those rules and written
 * as a listing, one line per entry in depth-first name order (dump()):
 *
 *     path type perm uid:gid mtime size target origin-layer
 *
 * Every merged tree is also checked against what holds for any merge
 * (check_merged()): the tree invariant of tree.h, the numbering of the
 * directory source, origins naming a node of the same path whose
 * attributes are the ones shown, no whiteout, no .wh. marker, no
 * trusted.overlay.* xattr, and a hard-link identity (dev, ino) shared
 * exactly by the names of one inode of one layer.
 */
#include <config.h>

#include <stdarg.h>

#include "lib/testlib.h"
#include "tree/overlay.h"

#define MAX_LAYERS 8
/* TB_DEFAULT_MTIME as it is listed. */
#define T "1000000000"

static TreeBuilder *tbs[MAX_LAYERS];
static LimgTree *ins[MAX_LAYERS];
static bool fo[MAX_LAYERS];
static size_t n_layers;
static LimgTree *out;
static LimgOrigin *origins;
static GPtrArray *garbage;

/* @s, freed at the end of the test. */
static char *
tmp(char *s)
{
	if (!garbage)
		garbage = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(garbage, s);
	return s;
}

static void
teardown(void)
{
	if (garbage)
		g_ptr_array_free(garbage, TRUE);
	limg_tree_free(out);
	g_free(origins);
	for (size_t k = 0; k < MAX_LAYERS; k++) {
		limg_tree_free(ins[k]);
		tb_free(tbs[k]);
	}
}

TestSuite(overlay, .fini = teardown);

/* ------------------------------------------------------------ building */

/* The builder of layer @k (0 = lowest); every layer up to @k exists after. */
static TreeBuilder *
layer(size_t k)
{
	cr_assert_lt(k, MAX_LAYERS);
	while (n_layers <= k)
		tbs[n_layers++] = tb_new();
	return tbs[k];
}

static TbEntry *
attrs(TbEntry *e, uint32_t perm, uint32_t uid, uint32_t gid, int64_t mtime)
{
	e->node.mode = (e->node.mode & S_IFMT) | perm;
	e->node.uid = uid;
	e->node.gid = gid;
	e->node.mtime.sec = mtime;
	e->node.mtime.nsec = 0;
	return e;
}

static TbEntry *
mtime(TbEntry *e, int64_t sec, uint32_t nsec)
{
	e->node.mtime.sec = sec;
	e->node.mtime.nsec = nsec;
	return e;
}

/* An overlay whiteout: a character device 0:0. */
static TbEntry *
whiteout(TreeBuilder *tb, const char *path)
{
	return tb_dev(tb, path, S_IFCHR, 0, 0);
}

/* Turn every builder into its tree (once). */
static void
build(void)
{
	for (size_t k = 0; k < n_layers; k++) {
		if (!ins[k])
			ins[k] = tb_build(tbs[k]);
	}
}

/* Node of @path in layer @k (built). */
static uint32_t
idx_of(size_t k, const char *path)
{
	build();
	return tb_get(tbs[k], path)->idx;
}

/* Give @path of layer @k the xattrs (name, string value)..., NULL. */
static void
xattrs(size_t k, const char *path, ...)
{
	const char *names[16];
	const void *values[16];
	uint32_t lens[16];
	size_t n = 0;
	va_list ap;

	build();
	va_start(ap, path);
	while ((names[n] = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);

		values[n] = v;
		lens[n] = (uint32_t)strlen(v);
		n++;
		cr_assert_lt(n, 16);
	}
	va_end(ap);
	cr_assert_eq(limg_tree_set_xattrs(ins[k], idx_of(k, path), n, names, values, lens), 0);
}

static int
try_merge(void)
{
	LimgOverlayLayer ls[MAX_LAYERS];

	build();
	for (size_t k = 0; k < n_layers; k++)
		ls[k] = (LimgOverlayLayer){ ins[k], fo[k] };
	return limg_overlay_merge(ls, n_layers, &out, &origins);
}

static void check_merged(void);

static void
merge(void)
{
	int ret = try_merge();

	cr_assert_eq(ret, 0, "limg_overlay_merge: %d", ret);
	cr_assert_not_null(out);
	cr_assert_not_null(origins);
	check_merged();
}

/* ------------------------------------------------------------ reading */

static int
name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int r = memcmp(a, b, al < bl ? al : bl);

	return r ? r : (al < bl ? -1 : al > bl);
}

/* Node of @path in @t by walking the children (LIMG_NONE if none). */
static uint32_t
lookup(const LimgTree *t, const char *path)
{
	g_auto(GStrv) parts = NULL;
	uint32_t cur = 0;

	if (!*path)
		return 0;
	parts = g_strsplit(path, "/", -1);
	for (size_t i = 0; parts[i]; i++) {
		const LimgNode *d = &t->nodes[cur];
		size_t len = strlen(parts[i]);
		uint32_t found = LIMG_NONE;

		if (!S_ISDIR(d->mode))
			return LIMG_NONE;
		for (uint32_t c = d->first_child; c < d->first_child + d->nchildren; c++) {
			const LimgNode *n = &t->nodes[c];

			if (n->name_len == len && memcmp(limg_tree_name(t, n), parts[i], len) == 0) {
				found = c;
				break;
			}
		}
		if (found == LIMG_NONE)
			return LIMG_NONE;
		cur = found;
	}
	return cur;
}

/* Node of @path in the merged tree (asserts it is there). */
static uint32_t
must(const char *path)
{
	uint32_t i = lookup(out, path);

	cr_assert_neq(i, LIMG_NONE, "no /%s in the merged tree", path);
	return i;
}

static const LimgNode *
onode(const char *path)
{
	return &out->nodes[must(path)];
}

static void
put_escaped(GString *s, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= 0x20 || c >= 0x7f || c == '\\')
			g_string_append_printf(s, "\\x%02x", c);
		else
			g_string_append_c(s, (char)c);
	}
}

static char
type_of(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return 'd';
	case S_IFREG: return 'f';
	case S_IFLNK: return 'l';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	}
	return '?';
}

static bool
is_overlay_xattr_name(const char *name, size_t len)
{
	return len >= 16 && memcmp(name, "trusted.overlay.", 16) == 0;
}

/*
 * "name=value name=value" of node @i of @t in order ("" for none), bytes
 * escaped; with @drop_overlay, without trusted.overlay.*. Caller frees.
 */
static char *
xattr_str(const LimgTree *t, uint32_t i, bool drop_overlay)
{
	GString *s = g_string_new(NULL);
	const char *name;
	const uint8_t *value;
	size_t cursor = 0, nlen;
	uint32_t vlen;

	while (limg_tree_xattr_next(t, &t->nodes[i], &cursor, &name, &nlen, &value, &vlen)) {
		if (drop_overlay && is_overlay_xattr_name(name, nlen))
			continue;
		if (s->len)
			g_string_append_c(s, ' ');
		put_escaped(s, name, nlen);
		g_string_append_c(s, '=');
		put_escaped(s, (const char *)value, vlen);
	}
	return g_string_free(s, FALSE);
}

static char *
oxattrs(const char *path)
{
	return xattr_str(out, must(path), false);
}

static void
dump_line(GString *s, const LimgTree *t, const LimgOrigin *o, uint32_t i, const char *path)
{
	const LimgNode *n = &t->nodes[i];
	const char *target = limg_tree_target(t, n);

	g_string_append_printf(s, "%s %c %04o %u:%u %" PRId64, *path ? path : "/", type_of(n->mode),
	                       n->mode & 07777, n->uid, n->gid, n->mtime.sec);
	if (n->mtime.nsec)
		g_string_append_printf(s, ".%09u", n->mtime.nsec);
	if (S_ISCHR(n->mode) || S_ISBLK(n->mode))
		g_string_append_printf(s, " %u:%u ", n->rdev_major, n->rdev_minor);
	else
		g_string_append_printf(s, " %" PRIu64 " ", n->size);
	if (target) {
		g_string_append(s, "->");
		put_escaped(s, target, strlen(target));
	} else {
		g_string_append_c(s, '-');
	}
	g_string_append_printf(s, " L%u\n", o[i].layer);
}

static void
dump_dir(GString *s, const LimgTree *t, const LimgOrigin *o, uint32_t d, const char *path)
{
	const LimgNode *dn = &t->nodes[d];

	for (uint32_t c = dn->first_child; c < dn->first_child + dn->nchildren; c++) {
		const LimgNode *n = &t->nodes[c];
		GString *p = g_string_new(path);

		g_string_append_c(p, '/');
		put_escaped(p, limg_tree_name(t, n), n->name_len);
		dump_line(s, t, o, c, p->str);
		if (S_ISDIR(n->mode))
			dump_dir(s, t, o, c, p->str);
		g_string_free(p, TRUE);
	}
}

/* The listing of a merged tree, depth first in name order. Caller frees. */
static char *
dump(const LimgTree *t, const LimgOrigin *o)
{
	GString *s = g_string_new(NULL);

	dump_line(s, t, o, 0, "");
	dump_dir(s, t, o, 0, "");
	return g_string_free(s, FALSE);
}

static void
expect_tree_lines(const char *const *lines)
{
	g_autoptr(GString) want = g_string_new(NULL);
	g_autofree char *got = dump(out, origins);

	for (; *lines; lines++) {
		g_string_append(want, *lines);
		g_string_append_c(want, '\n');
	}
	cr_expect_str_eq(got, want->str, "merged tree:\n%s\nexpected:\n%s", got, want->str);
}

#define EXPECT_TREE(...) expect_tree_lines((const char *const[]){ __VA_ARGS__, NULL })

/* ------------------------------------------------------------ invariants */

static void
check_dir(const LimgTree *t, uint32_t d, uint32_t *next)
{
	const LimgNode *dn = &t->nodes[d];
	uint32_t first = dn->first_child;

	if (dn->nchildren)
		cr_assert_eq(first, *next, "children of node %u start at %u, not at %u "
		             "(directories numbered depth first in name order)", d, first, *next);
	cr_assert_leq(dn->nchildren, t->n_nodes - *next, "node %u: children past the end", d);
	*next += dn->nchildren;
	for (uint32_t i = 0; i < dn->nchildren; i++) {
		const LimgNode *c = &t->nodes[first + i];
		const char *name = limg_tree_name(t, c);

		cr_assert_eq(c->parent, d, "node %u: parent %u, not %u", first + i, c->parent, d);
		cr_assert(c->name_len >= 1 && c->name_len <= 255, "node %u: name of %u bytes",
		          first + i, c->name_len);
		cr_expect_eq(strlen(name), c->name_len, "node %u: name length", first + i);
		cr_expect_null(memchr(name, '/', c->name_len), "node %u: '/' in a name", first + i);
		cr_expect(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
		if (i > 0) {
			const LimgNode *p = &t->nodes[first + i - 1];

			cr_assert_lt(name_cmp(limg_tree_name(t, p), p->name_len, name, c->name_len), 0,
			             "children of node %u not in byte order at %u", d, first + i);
		}
		if (!S_ISDIR(c->mode))
			cr_expect(c->nchildren == 0 && c->first_child == 0,
			          "node %u: a non-directory with children", first + i);
		if (S_ISLNK(c->mode)) {
			cr_assert_neq(c->target, LIMG_NONE, "symlink %u without a target", first + i);
			cr_expect_eq(strlen(limg_tree_target(t, c)), c->size);
		} else {
			cr_expect_eq(c->target, LIMG_NONE, "node %u: a target on a non-symlink", first + i);
		}
	}
	for (uint32_t i = 0; i < dn->nchildren; i++) {
		if (S_ISDIR(t->nodes[first + i].mode))
			check_dir(t, first + i, next);
	}
}

/*
 * The tree invariant (tree.h) and the directory source's numbering: the
 * children of each directory contiguous, sorted bytewise (shorter first on
 * a common prefix), appended when their directory is reached in a depth
 * first walk in name order; every node reached exactly once.
 */
static void
check_shape(const LimgTree *t)
{
	const LimgNode *root;
	uint32_t next = 1;

	cr_assert_geq(t->n_nodes, 1);
	root = &t->nodes[0];
	cr_assert(S_ISDIR(root->mode), "root is not a directory");
	cr_expect_eq(root->parent, 0);
	cr_expect_eq(root->name_len, 0);
	cr_expect_str_eq(limg_tree_name(t, root), "");
	check_dir(t, 0, &next);
	cr_expect_eq(next, t->n_nodes, "%u of %u nodes reachable", next, t->n_nodes);
}

static void
check_merged(void)
{
	check_shape(out);
	for (uint32_t i = 0; i < out->n_nodes; i++) {
		const LimgNode *n = &out->nodes[i];
		LimgOrigin o = origins[i];
		const LimgTree *st;
		const LimgNode *s;
		g_autofree char *path = limg_tree_path(out, i);
		g_autofree char *spath = NULL;
		g_autofree char *xa = NULL, *sxa = NULL;
		const char *name;
		const uint8_t *value;
		size_t cursor = 0, nlen;
		uint32_t vlen;

		cr_assert_lt(o.layer, n_layers, "/%s: origin layer %u", path, o.layer);
		st = ins[o.layer];
		cr_assert_lt(o.node, st->n_nodes, "/%s: origin node %u", path, o.node);
		s = &st->nodes[o.node];
		spath = limg_tree_path(st, o.node);
		cr_expect_str_eq(path, spath, "/%s: origin L%u:%u is /%s", path, o.layer, o.node, spath);
		/* Not shown: whiteouts, .wh. markers, overlay's xattrs. */
		cr_expect(!(S_ISCHR(n->mode) && n->rdev_major == 0 && n->rdev_minor == 0),
		          "/%s: a whiteout is shown", path);
		cr_expect(n->name_len < 4 || memcmp(limg_tree_name(out, n), ".wh.", 4) != 0,
		          "/%s: a .wh. marker is shown", path);
		while (limg_tree_xattr_next(out, n, &cursor, &name, &nlen, &value, &vlen))
			cr_expect(!is_overlay_xattr_name(name, nlen), "/%s: %.*s shown", path,
			          (int)nlen, name);
		/* What is shown is the origin's. */
		cr_expect_eq(n->mode, s->mode, "/%s: mode", path);
		cr_expect_eq(n->uid, s->uid, "/%s: uid", path);
		cr_expect_eq(n->gid, s->gid, "/%s: gid", path);
		cr_expect_eq(n->nlink, s->nlink, "/%s: nlink", path);
		cr_expect_eq(n->size, s->size, "/%s: size", path);
		cr_expect_eq(n->ino, s->ino, "/%s: ino", path);
		cr_expect_eq(n->rdev_major, s->rdev_major, "/%s: rdev", path);
		cr_expect_eq(n->rdev_minor, s->rdev_minor, "/%s: rdev", path);
		cr_expect(n->mtime.sec == s->mtime.sec && n->mtime.nsec == s->mtime.nsec,
		          "/%s: mtime", path);
		cr_expect(n->ctime.sec == s->ctime.sec && n->ctime.nsec == s->ctime.nsec,
		          "/%s: ctime", path);
		if (S_ISLNK(n->mode) && s->target != LIMG_NONE)
			cr_expect_str_eq(limg_tree_target(out, n), limg_tree_target(st, s),
			                 "/%s: target", path);
		xa = xattr_str(out, i, false);
		sxa = xattr_str(st, o.node, true);
		cr_expect_str_eq(xa, sxa, "/%s: xattrs %s, origin's %s", path, xa, sxa);
	}
	/* Hard links: one identity exactly for the names of one inode of one layer. */
	cr_assert_leq(out->n_nodes, 4096);
	for (uint32_t i = 0; i < out->n_nodes; i++) {
		const LimgNode *a = &out->nodes[i];
		const LimgNode *sa = &ins[origins[i].layer]->nodes[origins[i].node];

		for (uint32_t j = i + 1; j < out->n_nodes; j++) {
			const LimgNode *b = &out->nodes[j];
			const LimgNode *sb = &ins[origins[j].layer]->nodes[origins[j].node];
			bool same_out = a->dev == b->dev && a->ino == b->ino;
			bool same_in = origins[i].layer == origins[j].layer && sa->dev == sb->dev &&
			               sa->ino == sb->ino;

			if (same_out != same_in) {
				g_autofree char *pa = limg_tree_path(out, i);
				g_autofree char *pb = limg_tree_path(out, j);

				cr_expect_eq(same_out, same_in, "/%s and /%s: %s", pa, pb,
				             same_out ? "linked but not one inode of one layer"
				                      : "one inode of one layer but not linked");
			}
		}
	}
}

/* ------------------------------------------------------------ upper over lower */

Test(overlay, upper_file_hides_lower_file)
{
	attrs(tb_file(layer(0), "f", 10), 0600, 1, 1, 100);
	attrs(tb_file(layer(0), "g", 11), 0644, 0, 0, 101);
	attrs(tb_file(layer(1), "f", 20), 0640, 2, 3, 200);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/f f 0640 2:3 200 20 - L1",
	            "/g f 0644 0:0 101 11 - L0");
}

Test(overlay, upper_dir_merges_with_lower_dir)
{
	TreeBuilder *l0 = layer(0), *l1 = layer(1);

	attrs(tb_dir(l0, "d"), 0700, 5, 5, 100);
	tb_file(l0, "d/a", 1);
	tb_file(l0, "d/c", 3);
	attrs(tb_dir(l0, "d/sub"), 0700, 5, 5, 101);
	tb_file(l0, "d/sub/x", 4);
	attrs(tb_dir(l1, "d"), 0750, 6, 7, 200);
	tb_file(l1, "d/b", 2);
	attrs(tb_dir(l1, "d/sub"), 0751, 6, 7, 201);
	tb_file(l1, "d/sub/y", 5);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/d d 0750 6:7 200 0 - L1",
	            "/d/a f 0644 0:0 " T " 1 - L0",
	            "/d/b f 0644 0:0 " T " 2 - L1",
	            "/d/c f 0644 0:0 " T " 3 - L0",
	            "/d/sub d 0751 6:7 201 0 - L1",
	            "/d/sub/x f 0644 0:0 " T " 4 - L0",
	            "/d/sub/y f 0644 0:0 " T " 5 - L1");
}

Test(overlay, file_over_dir_replaces_the_subtree)
{
	tb_file(layer(0), "x/a", 1);
	tb_file(layer(0), "x/b/c", 2);
	tb_file(layer(0), "y", 3);
	attrs(tb_file(layer(1), "x", 9), 0644, 0, 0, 300);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/x f 0644 0:0 300 9 - L1",
	            "/y f 0644 0:0 " T " 3 - L0");
}

Test(overlay, dir_over_file_replaces_the_file)
{
	attrs(tb_file(layer(0), "x", 9), 0600, 1, 1, 100);
	attrs(tb_dir(layer(1), "x"), 0711, 2, 2, 300);
	tb_file(layer(1), "x/a", 1);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/x d 0711 2:2 300 0 - L1",
	            "/x/a f 0644 0:0 " T " 1 - L1");
}

Test(overlay, file_in_a_middle_layer_stops_the_merge_of_dirs)
{
	tb_file(layer(0), "x/old", 1);
	tb_file(layer(1), "x", 2);
	tb_file(layer(2), "x/new", 3);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/x d 0755 0:0 " T " 0 - L2",
	            "/x/new f 0644 0:0 " T " 3 - L2");
}

Test(overlay, symlink_over_dir_replaces_the_subtree)
{
	tb_file(layer(0), "d/a", 1);
	tb_symlink(layer(1), "d", "elsewhere");
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/d l 0777 0:0 " T " 9 ->elsewhere L1");
}

Test(overlay, devices_other_than_char_0_0_are_not_whiteouts)
{
	tb_file(layer(0), "a", 1);
	tb_file(layer(0), "b", 2);
	tb_file(layer(0), "c", 3);
	tb_dev(layer(1), "a", S_IFCHR, 0, 1);
	tb_dev(layer(1), "b", S_IFCHR, 1, 0);
	tb_dev(layer(1), "c", S_IFBLK, 0, 0);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/a c 0600 0:0 " T " 0:1 - L1",
	            "/b c 0600 0:0 " T " 1:0 - L1",
	            "/c b 0600 0:0 " T " 0:0 - L1");
}

Test(overlay, is_whiteout_means_char_device_0_0)
{
	LimgNode n = { .mode = S_IFCHR };

	cr_expect(limg_overlay_is_whiteout(&n));
	n.mode = S_IFCHR | 0644;
	cr_expect(limg_overlay_is_whiteout(&n));
	n.rdev_minor = 1;
	cr_expect_not(limg_overlay_is_whiteout(&n));
	n.rdev_minor = 0;
	n.rdev_major = 1;
	cr_expect_not(limg_overlay_is_whiteout(&n));
	n.rdev_major = 0;
	n.mode = S_IFBLK;
	cr_expect_not(limg_overlay_is_whiteout(&n));
	n.mode = S_IFREG;
	cr_expect_not(limg_overlay_is_whiteout(&n));
}

/* ------------------------------------------------------------ whiteouts */

Test(overlay, whiteout_deletes_a_lower_file_and_is_not_shown)
{
	tb_file(layer(0), "a", 1);
	tb_file(layer(0), "b", 2);
	whiteout(layer(1), "a");
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/b f 0644 0:0 " T " 2 - L0");
}

Test(overlay, whiteout_deletes_a_lower_dir_with_its_subtree)
{
	tb_file(layer(0), "d/x/y", 1);
	tb_file(layer(0), "d/z", 2);
	tb_file(layer(0), "e", 3);
	whiteout(layer(1), "d");
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/e f 0644 0:0 " T " 3 - L0");
}

Test(overlay, whiteout_with_no_lower_entry_shows_nothing)
{
	tb_file(layer(0), "a", 1);
	whiteout(layer(0), "lowghost");
	whiteout(layer(1), "ghost");
	whiteout(layer(1), "sub/ghost");
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/a f 0644 0:0 " T " 1 - L0",
	            "/sub d 0755 0:0 " T " 0 - L1");
}

Test(overlay, whiteout_in_a_subdirectory_deletes_only_that_entry)
{
	tb_file(layer(0), "d/a", 1);
	tb_file(layer(0), "d/b", 2);
	attrs(tb_dir(layer(1), "d"), 0755, 0, 0, 200);
	whiteout(layer(1), "d/a");
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/d d 0755 0:0 200 0 - L1",
	            "/d/b f 0644 0:0 " T " 2 - L0");
}

Test(overlay, whiteout_deletes_in_every_layer_below)
{
	tb_file(layer(0), "a", 0);
	tb_file(layer(0), "d/x", 1);
	tb_file(layer(1), "a", 1);
	tb_file(layer(1), "d/y", 2);
	whiteout(layer(2), "a");
	whiteout(layer(2), "d");
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2");
}

Test(overlay, dir_whiteout_then_file_of_the_same_name_above)
{
	/* In overlay form one layer cannot hold both: whiteout in L1, file in L2. */
	tb_file(layer(0), "d/x", 1);
	tb_file(layer(0), "d/y/z", 2);
	whiteout(layer(1), "d");
	attrs(tb_file(layer(2), "d", 7), 0644, 0, 0, 300);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/d f 0644 0:0 300 7 - L2");
}

Test(overlay, dir_whiteout_then_new_dir_above_does_not_merge_below)
{
	tb_file(layer(0), "d/x", 1);
	whiteout(layer(1), "d");
	tb_file(layer(2), "d/y", 2);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/d d 0755 0:0 " T " 0 - L2",
	            "/d/y f 0644 0:0 " T " 2 - L2");
}

Test(overlay, rename_across_layers)
{
	/* mv old new on a mounted overlay: whiteout of old, a copy as new. */
	tb_file(layer(0), "old/f", 5);
	tb_file(layer(0), "old/g/h", 6);
	tb_file(layer(0), "keep", 1);
	whiteout(layer(1), "old");
	tb_file(layer(1), "new/f", 5);
	tb_file(layer(1), "new/g/h", 6);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/keep f 0644 0:0 " T " 1 - L0",
	            "/new d 0755 0:0 " T " 0 - L1",
	            "/new/f f 0644 0:0 " T " 5 - L1",
	            "/new/g d 0755 0:0 " T " 0 - L1",
	            "/new/g/h f 0644 0:0 " T " 6 - L1");
}

Test(overlay, rename_across_layers_in_oci_form)
{
	tb_file(layer(0), "old/f", 5);
	tb_file(layer(0), "old/g/h", 6);
	tb_file(layer(0), "keep", 1);
	tb_file(layer(1), ".wh.old", 0);
	tb_file(layer(1), "new/f", 5);
	tb_file(layer(1), "new/g/h", 6);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/keep f 0644 0:0 " T " 1 - L0",
	            "/new d 0755 0:0 " T " 0 - L1",
	            "/new/f f 0644 0:0 " T " 5 - L1",
	            "/new/g d 0755 0:0 " T " 0 - L1",
	            "/new/g/h f 0644 0:0 " T " 6 - L1");
}

/* ------------------------------------------------------------ OCI whiteouts */

Test(overlay, oci_whiteout_deletes_the_lower_name_and_is_not_shown)
{
	tb_file(layer(0), "a", 1);
	tb_file(layer(0), "b", 2);
	tb_file(layer(0), "d/x", 3);
	tb_file(layer(0), "d/y", 4);
	tb_file(layer(0), "dd/sub/z", 5);
	tb_file(layer(1), ".wh.a", 0);
	tb_file(layer(1), "d/.wh.x", 0);
	tb_file(layer(1), ".wh.dd", 0);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/b f 0644 0:0 " T " 2 - L0",
	            "/d d 0755 0:0 " T " 0 - L1",
	            "/d/y f 0644 0:0 " T " 4 - L0");
}

Test(overlay, oci_opaque_marker_makes_its_dir_opaque_and_is_not_shown)
{
	tb_file(layer(0), "d/a", 1);
	tb_file(layer(0), "d/b/c", 2);
	tb_file(layer(0), "e/k", 3);
	tb_file(layer(1), "d/.wh..wh..opq", 0);
	tb_file(layer(1), "d/n", 4);
	tb_file(layer(1), "e/m", 5);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/d d 0755 0:0 " T " 0 - L1",
	            "/d/n f 0644 0:0 " T " 4 - L1",
	            "/e d 0755 0:0 " T " 0 - L1",
	            "/e/k f 0644 0:0 " T " 3 - L0",
	            "/e/m f 0644 0:0 " T " 5 - L1");
}

Test(overlay, oci_whiteout_and_new_file_in_the_same_layer_show_the_new_file)
{
	/* layer.md: whiteouts apply only to lower layers, never their own. */
	attrs(tb_file(layer(0), "x", 1), 0644, 1, 1, 100);
	tb_file(layer(1), ".wh.x", 0);
	attrs(tb_file(layer(1), "x", 2), 0600, 2, 2, 200);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/x f 0600 2:2 200 2 - L1");
}

Test(overlay, oci_whiteout_and_new_dir_in_the_same_layer_hide_the_lower_dir)
{
	tb_file(layer(0), "x/old", 1);
	tb_file(layer(1), ".wh.x", 0);
	tb_file(layer(1), "x/new", 2);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/x d 0755 0:0 " T " 0 - L1",
	            "/x/new f 0644 0:0 " T " 2 - L1");
}

Test(overlay, oci_whiteout_with_its_own_dir_in_a_middle_layer_stops_the_merge_below_it)
{
	tb_file(layer(0), "x/low", 1);
	tb_file(layer(1), ".wh.x", 0);
	tb_file(layer(1), "x/mid", 2);
	tb_file(layer(2), "x/top", 3);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/x d 0755 0:0 " T " 0 - L2",
	            "/x/mid f 0644 0:0 " T " 2 - L1",
	            "/x/top f 0644 0:0 " T " 3 - L2");
}

Test(overlay, oci_whiteout_applies_below_not_above)
{
	tb_file(layer(0), "x", 1);
	tb_file(layer(1), ".wh.x", 0);
	tb_file(layer(2), "x", 2);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/x f 0644 0:0 " T " 2 - L2");
}

Test(overlay, oci_whiteout_with_no_lower_entry_shows_nothing)
{
	tb_file(layer(0), "a", 1);
	tb_file(layer(0), ".wh.lowghost", 0);
	tb_file(layer(1), ".wh.ghost", 0);
	tb_file(layer(1), "sub/.wh.ghost", 0);
	tb_file(layer(1), "sub/.wh..wh..opq", 0);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/a f 0644 0:0 " T " 1 - L0",
	            "/sub d 0755 0:0 " T " 0 - L1");
}

Test(overlay, oci_opaque_marker_at_a_layer_root_hides_lower_root_entries)
{
	/* layer.md: the opaque marker hides every lower sibling, at the root too. */
	tb_file(layer(0), "a", 1);
	tb_file(layer(0), "d/x", 2);
	tb_file(layer(1), ".wh..wh..opq", 0);
	tb_file(layer(1), "b", 3);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/b f 0644 0:0 " T " 3 - L1");
}

/* ------------------------------------------------------------ opaque dirs */

Test(overlay, opaque_dir_hides_lower_entries_and_keeps_its_own)
{
	tb_file(layer(0), "d/a", 1);
	tb_file(layer(0), "d/b", 0);
	tb_file(layer(0), "d/s/t", 2);
	tb_file(layer(0), "e/k", 3);
	tb_file(layer(1), "d/b", 4);
	tb_file(layer(1), "d/c", 5);
	tb_dir(layer(1), "e");
	xattrs(1, "d", LIMG_OPAQUE_XATTR, "y", NULL);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/d d 0755 0:0 " T " 0 - L1",
	            "/d/b f 0644 0:0 " T " 4 - L1",
	            "/d/c f 0644 0:0 " T " 5 - L1",
	            "/e d 0755 0:0 " T " 0 - L1",
	            "/e/k f 0644 0:0 " T " 3 - L0");
	cr_expect_str_eq(tmp(oxattrs("d")), "");
}

Test(overlay, opaque_dir_replaces_a_lower_symlink)
{
	tb_file(layer(0), "d/deep", 1);
	tb_symlink(layer(1), "d", "/target");
	tb_file(layer(2), "d/x", 2);
	attrs(tb_dir(layer(2), "d"), 0700, 0, 0, 300);
	xattrs(2, "d", LIMG_OPAQUE_XATTR, "y", NULL);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/d d 0700 0:0 300 0 - L2",
	            "/d/x f 0644 0:0 " T " 2 - L2");
}

Test(overlay, dir_over_a_lower_symlink_replaces_it_without_being_opaque)
{
	tb_file(layer(0), "d/deep", 1);
	tb_symlink(layer(1), "d", "/target");
	tb_file(layer(2), "d/x", 2);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/d d 0755 0:0 " T " 0 - L2",
	            "/d/x f 0644 0:0 " T " 2 - L2");
}

Test(overlay, opaque_at_several_depths)
{
	TreeBuilder *l0 = layer(0), *l1 = layer(1), *l2 = layer(2);

	tb_file(l0, "a/x", 1);
	tb_file(l0, "a/b/y", 2);
	tb_file(l0, "a/b/c/z", 3);
	tb_file(l0, "m/n/o/f0", 4);
	tb_file(l0, "m/n/g0", 5);
	tb_file(l1, "a/p", 6);
	tb_file(l1, "a/b/w", 7);
	tb_file(l1, "a/b/c/v", 8);
	tb_file(l1, "m/n/o/f1", 9);
	tb_file(l2, "a/b/q", 10);
	tb_file(l2, "m/h2", 11);
	xattrs(1, "a", LIMG_OPAQUE_XATTR, "y", NULL);
	xattrs(1, "a/b/c", LIMG_OPAQUE_XATTR, "y", NULL);
	xattrs(1, "m/n/o", LIMG_OPAQUE_XATTR, "y", NULL);
	xattrs(2, "a/b", LIMG_OPAQUE_XATTR, "y", NULL);
	merge();
	/*
	 * a: L2's a merges with L1's a, which is opaque: nothing of L0's a.
	 * a/b: L2's is opaque: only q. m/n/o: L1's is opaque: only f1.
	 */
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/a d 0755 0:0 " T " 0 - L2",
	            "/a/b d 0755 0:0 " T " 0 - L2",
	            "/a/b/q f 0644 0:0 " T " 10 - L2",
	            "/a/p f 0644 0:0 " T " 6 - L1",
	            "/m d 0755 0:0 " T " 0 - L2",
	            "/m/h2 f 0644 0:0 " T " 11 - L2",
	            "/m/n d 0755 0:0 " T " 0 - L1",
	            "/m/n/g0 f 0644 0:0 " T " 5 - L0",
	            "/m/n/o d 0755 0:0 " T " 0 - L1",
	            "/m/n/o/f1 f 0644 0:0 " T " 9 - L1");
}

Test(overlay, opaque_in_a_middle_layer_hides_only_what_is_below_it)
{
	tb_file(layer(0), "d/a", 1);
	tb_file(layer(1), "d/b", 2);
	tb_file(layer(2), "d/c", 3);
	xattrs(1, "d", LIMG_OPAQUE_XATTR, "y", NULL);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/d d 0755 0:0 " T " 0 - L2",
	            "/d/b f 0644 0:0 " T " 2 - L1",
	            "/d/c f 0644 0:0 " T " 3 - L2");
}

Test(overlay, opaque_value_other_than_y_is_not_opaque)
{
	static const char *const dirs[] = { "d", "e", "f", "g", "h", "i" };

	for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
		g_autofree char *p = g_strdup_printf("%s/a", dirs[i]);

		tb_file(layer(0), p, i + 1);
		tb_dir(layer(1), dirs[i]);
	}
	/* The kernel reads one byte and wants exactly "y" ("x": xwhiteouts). */
	xattrs(1, "d", LIMG_OPAQUE_XATTR, "n", NULL);
	xattrs(1, "e", LIMG_OPAQUE_XATTR, "yes", NULL);
	xattrs(1, "f", LIMG_OPAQUE_XATTR, "", NULL);
	xattrs(1, "g", LIMG_OPAQUE_XATTR, "Y", NULL);
	xattrs(1, "h", LIMG_OPAQUE_XATTR, "x", NULL);
	xattrs(1, "i", LIMG_OPAQUE_XATTR, "y", NULL);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/d d 0755 0:0 " T " 0 - L1",
	            "/d/a f 0644 0:0 " T " 1 - L0",
	            "/e d 0755 0:0 " T " 0 - L1",
	            "/e/a f 0644 0:0 " T " 2 - L0",
	            "/f d 0755 0:0 " T " 0 - L1",
	            "/f/a f 0644 0:0 " T " 3 - L0",
	            "/g d 0755 0:0 " T " 0 - L1",
	            "/g/a f 0644 0:0 " T " 4 - L0",
	            "/h d 0755 0:0 " T " 0 - L1",
	            "/h/a f 0644 0:0 " T " 5 - L0",
	            "/i d 0755 0:0 " T " 0 - L1");
}

Test(overlay, opaque_xattr_on_a_layer_root_is_ignored)
{
	/* fs/overlayfs/super.c, ovl_get_root(): "Root is always merge". */
	tb_file(layer(0), "a", 1);
	tb_file(layer(1), "b", 2);
	tb_file(layer(2), "c", 3);
	xattrs(1, "", LIMG_OPAQUE_XATTR, "y", NULL);
	xattrs(2, "", LIMG_OPAQUE_XATTR, "y", "user.r", "2", NULL);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/a f 0644 0:0 " T " 1 - L0",
	            "/b f 0644 0:0 " T " 2 - L1",
	            "/c f 0644 0:0 " T " 3 - L2");
	cr_expect_str_eq(tmp(oxattrs("")), "user.r=2");
}

/* ------------------------------------------------------------ hard links */

static LimgLayout *
layout_of_out(void)
{
	LimgTree *copy = limg_tree_new();

	/* The layout takes its tree: hand it a copy, built node by node. */
	for (uint32_t i = 0; i < out->n_nodes; i++) {
		const LimgNode *n = &out->nodes[i];
		uint32_t idx;

		cr_assert_eq(limg_tree_add(copy, n, limg_tree_name(out, n), n->name_len, &idx), 0);
		if (n->target != LIMG_NONE)
			cr_assert_eq(limg_tree_set_target(copy, idx, limg_tree_target(out, n), n->size), 0);
	}
	return build_layout(copy, NULL);
}

Test(overlay, hard_links_in_one_layer_stay_one_group)
{
	TbEntry *a = tb_file(layer(0), "a", 5);
	const LimgNode *na, *nb, *nc;
	LimgLayout *l;

	tb_link(layer(0), "dir/b", a);
	tb_file(layer(0), "c", 5);
	tb_file(layer(1), "other", 3);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/a f 0644 0:0 " T " 5 - L0",
	            "/c f 0644 0:0 " T " 5 - L0",
	            "/dir d 0755 0:0 " T " 0 - L0",
	            "/dir/b f 0644 0:0 " T " 5 - L0",
	            "/other f 0644 0:0 " T " 3 - L1");
	na = onode("a");
	nb = onode("dir/b");
	nc = onode("c");
	cr_expect_eq(na->dev, nb->dev);
	cr_expect_eq(na->ino, nb->ino);
	cr_expect_eq(na->nlink, 2);
	cr_expect_eq(nb->nlink, 2);
	cr_expect(na->dev != nc->dev || na->ino != nc->ino);
	/* And the image shows one file: one extent for both names. */
	l = layout_of_out();
	cr_expect_eq(limg_layout_node_lba(l, must("a")), limg_layout_node_lba(l, must("dir/b")));
	cr_expect_neq(limg_layout_node_lba(l, must("a")), limg_layout_node_lba(l, must("c")));
	cr_expect_eq(limg_layout_tree(l)->data_bytes, 5 + 5 + 3);
	limg_layout_unref(l);
}

Test(overlay, hard_link_whose_other_name_is_whited_out_leaves_one_name)
{
	TbEntry *a = tb_file(layer(0), "a", 5);

	tb_link(layer(0), "b", a);
	whiteout(layer(1), "b");
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/a f 0644 0:0 " T " 5 - L0");
	/* The kernel shows the lower inode, its link count included. */
	cr_expect_eq(onode("a")->nlink, 2);
}

Test(overlay, same_inode_number_in_different_layers_is_not_grouped)
{
	TbEntry *a = tb_file(layer(0), "a", 5);
	TbEntry *b = tb_file(layer(1), "b", 5);
	TbEntry *a2, *b2;
	const LimgNode *na, *na2, *nb, *nb2;
	LimgLayout *l;

	/* Both builders number from the same start; make it certain. */
	a->node.ino = b->node.ino = 777;
	a2 = tb_link(layer(0), "a2", a);
	b2 = tb_link(layer(1), "b2", b);
	cr_assert_eq(a2->node.ino, b2->node.ino);
	cr_assert_eq(a2->node.dev, b2->node.dev);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/a f 0644 0:0 " T " 5 - L0",
	            "/a2 f 0644 0:0 " T " 5 - L0",
	            "/b f 0644 0:0 " T " 5 - L1",
	            "/b2 f 0644 0:0 " T " 5 - L1");
	na = onode("a");
	na2 = onode("a2");
	nb = onode("b");
	nb2 = onode("b2");
	cr_expect(na->dev == na2->dev && na->ino == na2->ino);
	cr_expect(nb->dev == nb2->dev && nb->ino == nb2->ino);
	cr_expect_eq(na->ino, nb->ino);
	cr_expect_neq(na->dev, nb->dev);
	l = layout_of_out();
	cr_expect_eq(limg_layout_node_lba(l, must("a")), limg_layout_node_lba(l, must("a2")));
	cr_expect_eq(limg_layout_node_lba(l, must("b")), limg_layout_node_lba(l, must("b2")));
	cr_expect_neq(limg_layout_node_lba(l, must("a")), limg_layout_node_lba(l, must("b")));
	limg_layout_unref(l);
}

Test(overlay, copied_up_name_leaves_the_lower_link_group)
{
	TbEntry *a = tb_file(layer(0), "a", 5);

	tb_link(layer(0), "b", a);
	tb_file(layer(1), "a", 5);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/a f 0644 0:0 " T " 5 - L1",
	            "/b f 0644 0:0 " T " 5 - L0");
	cr_expect(onode("a")->dev != onode("b")->dev || onode("a")->ino != onode("b")->ino);
}

Test(overlay, same_inode_number_on_two_devices_of_one_layer_is_not_grouped)
{
	/* A layer that crosses a mount point: (dev, ino) is the identity. */
	TbEntry *p = tb_file(layer(0), "m1/f", 5);
	TbEntry *q = tb_file(layer(0), "m2/f", 5);
	LimgLayout *l;

	p->node.dev = 1;
	q->node.dev = 2;
	p->node.ino = q->node.ino = 9;
	p->node.nlink = q->node.nlink = 2;   /* their other names are elsewhere */
	tb_file(layer(1), "x", 1);
	merge();
	cr_expect_neq(onode("m1/f")->dev, onode("m2/f")->dev);
	l = layout_of_out();
	cr_expect_neq(limg_layout_node_lba(l, must("m1/f")), limg_layout_node_lba(l, must("m2/f")));
	limg_layout_unref(l);
}

/* ------------------------------------------------------------ xattrs */

Test(overlay, overlay_xattrs_are_never_shown)
{
	tb_file(layer(0), "d/f", 1);
	tb_file(layer(0), "g", 2);
	tb_file(layer(1), "e/h", 3);
	tb_file(layer(1), "i", 4);
	xattrs(0, "", "trusted.overlay.origin", "o0", NULL);
	xattrs(0, "d", "trusted.overlay.origin", "o1", "trusted.overlay.impure", "y",
	       "user.a", "1", NULL);
	xattrs(0, "d/f", "trusted.overlay.origin", "o2", "security.capability", "cap", NULL);
	xattrs(0, "g", "trusted.overlay.origin", "o3", NULL);
	xattrs(1, "", "trusted.overlay.impure", "y", "trusted.overlay.uuid", "uuid", NULL);
	xattrs(1, "e", LIMG_OPAQUE_XATTR, "y", "user.e", "2", "trusted.overlay.impure", "y", NULL);
	xattrs(1, "i", "trusted.overlay.origin", "o4", "trusted.other", "3", NULL);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/d d 0755 0:0 " T " 0 - L0",
	            "/d/f f 0644 0:0 " T " 1 - L0",
	            "/e d 0755 0:0 " T " 0 - L1",
	            "/e/h f 0644 0:0 " T " 3 - L1",
	            "/g f 0644 0:0 " T " 2 - L0",
	            "/i f 0644 0:0 " T " 4 - L1");
	cr_expect_str_eq(tmp(oxattrs("")), "");
	cr_expect_str_eq(tmp(oxattrs("d")), "user.a=1");
	cr_expect_str_eq(tmp(oxattrs("d/f")), "security.capability=cap");
	cr_expect_str_eq(tmp(oxattrs("e")), "user.e=2");
	cr_expect_str_eq(tmp(oxattrs("g")), "");
	cr_expect_eq(onode("g")->xattrs, LIMG_NONE);
	cr_expect_str_eq(tmp(oxattrs("i")), "trusted.other=3");
}

Test(overlay, other_xattrs_of_the_winning_entry_are_kept)
{
	static const uint8_t cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x20 };
	const char *names[] = { "user.new", "security.capability", "user.empty" };
	const void *values[] = { "2", cap, "" };
	const uint32_t lens[] = { 1, sizeof(cap), 0 };

	tb_file(layer(0), "f", 1);
	tb_file(layer(1), "f", 2);
	xattrs(0, "f", "user.old", "1", NULL);
	build();
	cr_assert_eq(limg_tree_set_xattrs(ins[1], idx_of(1, "f"), 3, names, values, lens), 0);
	merge();
	cr_expect_str_eq(tmp(oxattrs("f")),
	                 "user.new=2 security.capability=\\x01\\x00\\x00\\x02\\x20\\x00\\x00"
	                 "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00 "
	                 "user.empty=");
}

Test(overlay, dir_xattrs_come_from_the_topmost_dir)
{
	tb_file(layer(0), "d/a", 1);
	tb_file(layer(0), "e/a", 2);
	tb_file(layer(1), "d/b", 3);
	tb_file(layer(1), "e/b", 4);
	xattrs(0, "", "user.r", "0", NULL);
	xattrs(0, "d", "user.low", "0", NULL);
	xattrs(0, "e", "user.low", "0", NULL);
	xattrs(1, "d", "user.top", "1", NULL);
	merge();
	cr_expect_str_eq(tmp(oxattrs("")), "");
	cr_expect_str_eq(tmp(oxattrs("d")), "user.top=1");
	cr_expect_str_eq(tmp(oxattrs("e")), "");
	cr_expect_eq(origins[must("e")].layer, 1);
}

/* ------------------------------------------------------------ stacks */

/* "p/p/.../p", @k components. Caller frees. */
static char *
chain(int k)
{
	GString *s = g_string_new(NULL);

	for (int i = 0; i < k; i++)
		g_string_append(s, i ? "/p" : "p");
	return g_string_free(s, FALSE);
}

static void
stamp_dirs(size_t k, int64_t sec)
{
	TreeBuilder *tb = layer(k);

	for (guint i = 0; i < tb->ents->len; i++) {
		TbEntry *e = tb->ents->pdata[i];

		if (S_ISDIR(e->node.mode))
			mtime(e, sec, 0);
	}
}

Test(overlay, deep_paths_across_five_layers)
{
	enum { D = 24 };
	g_autoptr(GString) want = g_string_new(NULL);
	g_autofree char *got = NULL;
	char *p;

	p = g_strdup_printf("%s/f0", tmp(chain(D)));
	tb_file(layer(0), p, 10);
	g_free(p);
	p = g_strdup_printf("%s/g0", tmp(chain(8)));
	tb_file(layer(0), p, 11);
	tb_symlink(layer(4), p, "../g");
	g_free(p);
	p = g_strdup_printf("%s/f1", tmp(chain(16)));
	tb_file(layer(1), p, 12);
	g_free(p);
	whiteout(layer(2), tmp(chain(20)));
	p = g_strdup_printf("%s/f3", tmp(chain(22)));
	tb_file(layer(3), p, 13);
	g_free(p);
	for (size_t k = 0; k < 5; k++)
		stamp_dirs(k, 100 + (int64_t)k);
	merge();
	/*
	 * L4 has p^1..p^8 (the parents of g0), L3 p^1..p^22: they give the
	 * attributes. L2's whiteout at p^20 deletes L0's p^20..p^24 and f0;
	 * L3's p^20..p^22 are new directories. g0 is L4's symlink.
	 */
	g_string_append(want, "/ d 0755 0:0 104 0 - L4\n");
	for (int k = 1; k <= 22; k++) {
		g_autofree char *c = chain(k);
		int l = k <= 8 ? 4 : 3;

		g_string_append_printf(want, "/%s d 0755 0:0 %d 0 - L%d\n", c, 100 + l, l);
		if (k == 8)
			g_string_append_printf(want, "/%s/g0 l 0777 0:0 " T " 4 ->../g L4\n", c);
		if (k == 16)
			g_string_append_printf(want, "/%s/f1 f 0644 0:0 " T " 12 - L1\n", c);
		if (k == 22)
			g_string_append_printf(want, "/%s/f3 f 0644 0:0 " T " 13 - L3\n", c);
	}
	got = dump(out, origins);
	cr_expect_str_eq(got, want->str, "merged tree:\n%s\nexpected:\n%s", got, want->str);
}

Test(overlay, root_only_layer_on_top_gives_its_root_over_lower_entries)
{
	attrs(tb_root(layer(0)), 0700, 1, 1, 100);
	tb_file(layer(0), "a", 1);
	tb_file(layer(0), "d/b", 2);
	attrs(tb_root(layer(1)), 0711, 2, 2, 200);
	merge();
	EXPECT_TREE("/ d 0711 2:2 200 0 - L1",
	            "/a f 0644 0:0 " T " 1 - L0",
	            "/d d 0755 0:0 " T " 0 - L0",
	            "/d/b f 0644 0:0 " T " 2 - L0");
}

Test(overlay, root_only_layers_below_and_between_change_nothing)
{
	layer(0);
	tb_file(layer(1), "a", 1);
	attrs(tb_root(layer(2)), 0750, 3, 3, 300);
	tb_file(layer(3), "d/b", 2);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L3",
	            "/a f 0644 0:0 " T " 1 - L1",
	            "/d d 0755 0:0 " T " 0 - L3",
	            "/d/b f 0644 0:0 " T " 2 - L3");
}

Test(overlay, single_root_only_layer_merges_to_its_root)
{
	attrs(tb_root(layer(0)), 0700, 4, 5, 400);
	merge();
	EXPECT_TREE("/ d 0700 4:5 400 0 - L0");
	cr_expect_eq(out->n_nodes, 1);
	cr_expect_eq(origins[0].layer, 0);
	cr_expect_eq(origins[0].node, 0);
}

/* ------------------------------------------------------------ files-only layers */

Test(overlay, files_only_file_keeps_the_lower_dir_attributes)
{
	attrs(tb_dir(layer(0), "etc"), 0750, 3, 4, 111);
	tb_file(layer(0), "etc/passwd", 1);
	attrs(tb_root(layer(1)), 0777, 9, 9, 999);
	attrs(tb_dir(layer(1), "etc"), 0777, 9, 9, 999);
	tb_file(layer(1), "etc/hosts", 2);
	fo[1] = true;
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L0",
	            "/etc d 0750 3:4 111 0 - L0",
	            "/etc/hosts f 0644 0:0 " T " 2 - L1",
	            "/etc/passwd f 0644 0:0 " T " 1 - L0");
	/* Its origin is the directory whose attributes it shows. */
	cr_expect_eq(origins[must("etc")].layer, 0);
	cr_expect_eq(origins[must("etc")].node, idx_of(0, "etc"));
}

Test(overlay, files_only_layer_creates_missing_parent_dirs)
{
	tb_file(layer(0), "etc/passwd", 1);
	attrs(tb_dir(layer(1), "run"), 0711, 0, 0, 500);
	attrs(tb_dir(layer(1), "run/secrets"), 0700, 0, 0, 501);
	tb_file(layer(1), "run/secrets/token", 2);
	tb_file(layer(1), "etc/hosts", 3);
	fo[1] = true;
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L0",
	            "/etc d 0755 0:0 " T " 0 - L0",
	            "/etc/hosts f 0644 0:0 " T " 3 - L1",
	            "/etc/passwd f 0644 0:0 " T " 1 - L0",
	            "/run d 0711 0:0 500 0 - L1",
	            "/run/secrets d 0700 0:0 501 0 - L1",
	            "/run/secrets/token f 0644 0:0 " T " 2 - L1");
}

Test(overlay, root_attributes_come_from_the_topmost_non_files_only_layer)
{
	attrs(tb_root(layer(0)), 0700, 1, 1, 10);
	tb_file(layer(0), "a", 1);
	attrs(tb_root(layer(1)), 0711, 2, 2, 20);
	tb_file(layer(1), "b", 2);
	attrs(tb_root(layer(2)), 0777, 3, 3, 30);
	attrs(tb_dir(layer(2), "etc"), 0755, 0, 0, 31);
	tb_file(layer(2), "etc/hosts", 3);
	fo[2] = true;
	xattrs(1, "", "user.r", "1", NULL);
	merge();
	EXPECT_TREE("/ d 0711 2:2 20 0 - L1",
	            "/a f 0644 0:0 " T " 1 - L0",
	            "/b f 0644 0:0 " T " 2 - L1",
	            "/etc d 0755 0:0 31 0 - L2",
	            "/etc/hosts f 0644 0:0 " T " 3 - L2");
	cr_expect_eq(origins[0].node, 0);
	cr_expect_str_eq(tmp(oxattrs("")), "user.r=1");
}

Test(overlay, files_only_file_replaces_a_lower_file)
{
	tb_file(layer(0), "etc/hosts", 1);
	attrs(tb_file(layer(1), "etc/hosts", 2), 0600, 0, 0, 600);
	fo[1] = true;
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L0",
	            "/etc d 0755 0:0 " T " 0 - L0",
	            "/etc/hosts f 0600 0:0 600 2 - L1");
}

Test(overlay, several_files_only_layers_keep_the_real_dir_attributes)
{
	attrs(tb_dir(layer(0), "etc"), 0750, 3, 4, 111);
	xattrs(0, "etc", "user.e", "0", NULL);
	attrs(tb_dir(layer(1), "etc"), 0777, 9, 9, 999);
	tb_file(layer(1), "etc/hosts", 1);
	attrs(tb_dir(layer(2), "etc"), 0777, 8, 8, 888);
	tb_file(layer(2), "etc/resolv.conf", 2);
	fo[1] = fo[2] = true;
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L0",
	            "/etc d 0750 3:4 111 0 - L0",
	            "/etc/hosts f 0644 0:0 " T " 1 - L1",
	            "/etc/resolv.conf f 0644 0:0 " T " 2 - L2");
	cr_expect_str_eq(tmp(oxattrs("etc")), "user.e=0");
}

Test(overlay, files_only_layer_under_a_real_layer)
{
	attrs(tb_dir(layer(0), "etc"), 0750, 3, 4, 111);
	tb_file(layer(0), "etc/passwd", 1);
	attrs(tb_dir(layer(1), "etc"), 0777, 9, 9, 999);
	tb_file(layer(1), "etc/hosts", 2);
	attrs(tb_dir(layer(2), "etc"), 0755, 5, 5, 222);
	tb_file(layer(2), "etc/motd", 3);
	fo[1] = true;
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L2",
	            "/etc d 0755 5:5 222 0 - L2",
	            "/etc/hosts f 0644 0:0 " T " 2 - L1",
	            "/etc/motd f 0644 0:0 " T " 3 - L2",
	            "/etc/passwd f 0644 0:0 " T " 1 - L0");
}

Test(overlay, merge_of_only_files_only_layers_fails_einval)
{
	tb_file(layer(0), "etc/hosts", 1);
	tb_file(layer(1), "etc/resolv.conf", 1);
	fo[0] = fo[1] = true;
	out = (LimgTree *)&out;   /* must be cleared */
	origins = (LimgOrigin *)&origins;
	cr_expect_eq(try_merge(), -EINVAL);
	cr_expect_null(out);
	cr_expect_null(origins);
	out = NULL;
	origins = NULL;
}

Test(overlay, merge_of_no_layers_fails_einval)
{
	LimgOverlayLayer none[1] = { { NULL, false } };

	out = (LimgTree *)&out;
	origins = (LimgOrigin *)&origins;
	cr_expect_eq(limg_overlay_merge(none, 0, &out, &origins), -EINVAL);
	cr_expect_null(out);
	cr_expect_null(origins);
	out = NULL;
	origins = NULL;
}

/* ------------------------------------------------------------ origins, shape */

Test(overlay, origins_name_the_layer_and_node_each_entry_came_from)
{
	static const struct {
		const char *path;
		size_t layer;
	} want[] = {
		{ "", 2 }, { "a", 2 }, { "b", 1 }, { "d", 1 }, { "d/x", 0 }, { "d/z", 1 },
		{ "s", 0 },
	};

	tb_file(layer(0), "a", 1);
	tb_file(layer(0), "d/x", 2);
	tb_file(layer(0), "d/y", 3);
	tb_symlink(layer(0), "s", "a");
	tb_file(layer(1), "b", 4);
	tb_file(layer(1), "d/z", 5);
	whiteout(layer(1), "d/y");
	tb_file(layer(2), "a", 6);
	merge();
	cr_expect_eq(out->n_nodes, G_N_ELEMENTS(want));
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
		uint32_t n = must(want[i].path);

		cr_expect_eq(origins[n].layer, want[i].layer, "/%s: layer", want[i].path);
		cr_expect_eq(origins[n].node, idx_of(want[i].layer, want[i].path), "/%s: node",
		             want[i].path);
	}
}

Test(overlay, children_are_sorted_bytewise_across_layers)
{
	static const char *const low[] = { "b", "a-", "\xff", "A", "\xc3\xa9", "a\x01" };
	static const char *const high[] = { "a", "a\xff", "B", "\x7f", "aa", "c" };

	for (size_t i = 0; i < G_N_ELEMENTS(low); i++)
		tb_file(layer(0), low[i], i);
	for (size_t i = 0; i < G_N_ELEMENTS(high); i++)
		tb_file(layer(1), high[i], 10 + i);
	tb_file(layer(0), "ab/\xfe", 20);
	tb_file(layer(1), "ab/z", 21);
	tb_file(layer(1), "ab/\xfe\xff", 22);
	merge();
	EXPECT_TREE("/ d 0755 0:0 " T " 0 - L1",
	            "/A f 0644 0:0 " T " 3 - L0",
	            "/B f 0644 0:0 " T " 12 - L1",
	            "/a f 0644 0:0 " T " 10 - L1",
	            "/a\\x01 f 0644 0:0 " T " 5 - L0",
	            "/a- f 0644 0:0 " T " 1 - L0",
	            "/aa f 0644 0:0 " T " 14 - L1",
	            "/ab d 0755 0:0 " T " 0 - L1",
	            "/ab/z f 0644 0:0 " T " 21 - L1",
	            "/ab/\\xfe f 0644 0:0 " T " 20 - L0",
	            "/ab/\\xfe\\xff f 0644 0:0 " T " 22 - L1",
	            "/a\\xff f 0644 0:0 " T " 11 - L1",
	            "/b f 0644 0:0 " T " 0 - L0",
	            "/c f 0644 0:0 " T " 15 - L1",
	            "/\\x7f f 0644 0:0 " T " 13 - L1",
	            "/\\xc3\\xa9 f 0644 0:0 " T " 4 - L0",
	            "/\\xff f 0644 0:0 " T " 2 - L0");
}

Test(overlay, symlink_targets_are_copied)
{
	char target[1023];
	const LimgNode *n;

	for (size_t i = 0; i < sizeof(target); i++)
		target[i] = (char)(i % 3 == 0 ? 0xff : 'a' + i % 26);
	tb_symlink_len(layer(0), "long", target, sizeof(target));
	tb_symlink(layer(1), "short", "x/../y");
	merge();
	/* The inputs go away; the merged tree keeps its own copies. */
	for (size_t k = 0; k < n_layers; k++) {
		limg_tree_free(ins[k]);
		tb_free(tbs[k]);
		ins[k] = NULL;
		tbs[k] = NULL;
	}
	n = onode("long");
	cr_assert(S_ISLNK(n->mode));
	cr_expect_eq(n->size, sizeof(target));
	cr_expect_arr_eq(limg_tree_target(out, n), target, sizeof(target));
	cr_expect_eq(limg_tree_target(out, n)[sizeof(target)], '\0');
	n = onode("short");
	cr_expect_str_eq(limg_tree_target(out, n), "x/../y");
	cr_expect_eq(n->size, 6);
}

Test(overlay, non_utf8_and_255_byte_names)
{
	char n255[256], m255[256], w251[252], wh[256];
	g_autofree char *p = NULL;
	g_autoptr(GString) want = g_string_new(NULL);
	g_autofree char *got = NULL;

	memset(n255, 'n', 255);
	n255[255] = 0;
	memset(m255, 'm', 255);
	m255[255] = 0;
	memset(w251, 'w', 251);
	w251[251] = 0;
	g_snprintf(wh, sizeof(wh), ".wh.%s", w251);
	cr_assert_eq(strlen(wh), 255);
	p = g_strdup_printf("%s/f", n255);
	tb_file(layer(0), p, 1);
	g_free(p);
	tb_file(layer(0), m255, 2);
	tb_file(layer(0), w251, 3);
	tb_file(layer(0), "caf\xe9", 4);
	tb_file(layer(0), "\xff\xfe/x", 5);
	p = g_strdup_printf("%s/g", n255);
	tb_file(layer(1), p, 6);
	tb_file(layer(1), wh, 0);
	whiteout(layer(1), "caf\xe9");
	tb_file(layer(1), "\xff\xfe/y", 7);
	merge();
	g_string_append(want, "/ d 0755 0:0 " T " 0 - L1\n");
	g_string_append_printf(want, "/%s f 0644 0:0 " T " 2 - L0\n", m255);
	g_string_append_printf(want, "/%s d 0755 0:0 " T " 0 - L1\n", n255);
	g_string_append_printf(want, "/%s/f f 0644 0:0 " T " 1 - L0\n", n255);
	g_string_append_printf(want, "/%s/g f 0644 0:0 " T " 6 - L1\n", n255);
	g_string_append(want, "/\\xff\\xfe d 0755 0:0 " T " 0 - L1\n");
	g_string_append(want, "/\\xff\\xfe/x f 0644 0:0 " T " 5 - L0\n");
	g_string_append(want, "/\\xff\\xfe/y f 0644 0:0 " T " 7 - L1\n");
	got = dump(out, origins);
	cr_expect_str_eq(got, want->str, "merged tree:\n%s\nexpected:\n%s", got, want->str);
}

/* ------------------------------------------------------------ determinism */

/* A stack with a bit of everything, in fresh builders. */
static LimgTree *
merge_rich(LimgOrigin **o)
{
	TreeBuilder *tb[3];
	LimgTree *t[3];
	LimgOverlayLayer ls[3];
	LimgTree *m = NULL;
	TbEntry *a;

	for (int k = 0; k < 3; k++)
		tb[k] = tb_new();
	a = tb_file(tb[0], "usr/bin/a", 100);
	tb_link(tb[0], "usr/bin/a-link", a);
	tb_file(tb[0], "usr/lib/x.so", 200);
	tb_symlink(tb[0], "lib", "usr/lib");
	tb_file(tb[0], "etc/passwd", 30);
	tb_file(tb[0], "var/cache/c1", 1);
	tb_file(tb[0], "opt/o/p", 2);
	tb_fifo(tb[0], "run/fifo");
	tb_file(tb[1], "usr/bin/b", 101);
	whiteout(tb[1], "usr/lib/x.so");
	tb_file(tb[1], ".wh.lib", 0);
	tb_dir(tb[1], "lib");
	tb_file(tb[1], "var/cache/.wh..wh..opq", 0);
	tb_file(tb[1], "var/cache/c2", 3);
	tb_sock(tb[1], "run/sock");
	tb_file(tb[2], "etc/hosts", 10);
	tb_file(tb[2], "opt/o/q", 4);
	for (int k = 0; k < 3; k++)
		t[k] = tb_build(tb[k]);
	{
		const char *names[] = { "user.x", "trusted.overlay.origin", LIMG_OPAQUE_XATTR };
		const void *values[] = { "1", "o", "y" };
		const uint32_t lens[] = { 1, 1, 1 };

		cr_assert_eq(limg_tree_set_xattrs(t[2], tb_get(tb[2], "opt")->idx, 3, names, values,
		                                  lens), 0);
		cr_assert_eq(limg_tree_set_xattrs(t[0], tb_get(tb[0], "usr/bin/a")->idx, 2, names,
		                                  values, lens), 0);
	}
	for (int k = 0; k < 3; k++)
		ls[k] = (LimgOverlayLayer){ t[k], k == 2 };
	cr_assert_eq(limg_overlay_merge(ls, 3, &m, o), 0);
	for (int k = 0; k < 3; k++) {
		limg_tree_free(t[k]);
		tb_free(tb[k]);
	}
	return m;
}

Test(overlay, merging_the_same_layers_twice_gives_identical_trees)
{
	LimgOrigin *o1 = NULL, *o2 = NULL;
	LimgTree *t1 = merge_rich(&o1);
	LimgTree *t2 = merge_rich(&o2);

	cr_assert_eq(t1->n_nodes, t2->n_nodes);
	cr_assert_gt(t1->n_nodes, 10);
	for (uint32_t i = 0; i < t1->n_nodes; i++) {
		const LimgNode *a = &t1->nodes[i], *b = &t2->nodes[i];

		cr_expect(a->parent == b->parent && a->first_child == b->first_child &&
		          a->nchildren == b->nchildren && a->name == b->name &&
		          a->target == b->target && a->xattrs == b->xattrs &&
		          a->name_len == b->name_len && a->mode == b->mode && a->uid == b->uid &&
		          a->gid == b->gid && a->nlink == b->nlink &&
		          a->rdev_major == b->rdev_major && a->rdev_minor == b->rdev_minor &&
		          a->size == b->size && a->ino == b->ino && a->dev == b->dev &&
		          a->mtime.sec == b->mtime.sec && a->mtime.nsec == b->mtime.nsec &&
		          a->ctime.sec == b->ctime.sec && a->ctime.nsec == b->ctime.nsec,
		          "node %u differs", i);
		cr_expect(o1[i].layer == o2[i].layer && o1[i].node == o2[i].node,
		          "origin of node %u differs", i);
	}
	cr_assert_eq(t1->strings.len, t2->strings.len);
	cr_expect_arr_eq(t1->strings.buf, t2->strings.buf, t1->strings.len);
	cr_expect_eq(t1->data_bytes, t2->data_bytes);
	limg_tree_free(t1);
	limg_tree_free(t2);
	g_free(o1);
	g_free(o2);
}

/* ------------------------------------------------------------ normalize */

/* Build layer 0 alone and normalize it. */
static LimgTree *
normalized(void)
{
	build();
	cr_assert_eq(limg_overlay_normalize_layer(ins[0]), 0);
	return ins[0];
}

static const LimgNode *
nnode(const char *path)
{
	return &ins[0]->nodes[idx_of(0, path)];
}

Test(overlay, normalize_root_gets_0755_root_owner_mtime_t_no_xattrs)
{
	TreeBuilder *tb = layer(0);
	const LimgNode *r;

	attrs(tb_root(tb), 0700, 5, 6, 9999);
	mtime(tb_file(tb, "a", 1), 100, 0);
	mtime(tb_dir(tb, "d"), 300, 0);
	mtime(tb_file(tb, "d/f", 2), 200, 0);
	xattrs(0, "", "user.r", "1", LIMG_OPAQUE_XATTR, "y", NULL);
	normalized();
	r = nnode("");
	cr_expect_eq(r->mode, S_IFDIR | 0755);
	cr_expect_eq(r->uid, 0);
	cr_expect_eq(r->gid, 0);
	cr_expect_eq(r->mtime.sec, 300);
	cr_expect_eq(r->mtime.nsec, 0);
	cr_expect_eq(r->xattrs, LIMG_NONE);
}

Test(overlay, normalize_t_ignores_the_root_and_whiteouts)
{
	TreeBuilder *tb = layer(0);

	mtime(tb_root(tb), 1000, 0);
	mtime(whiteout(tb, "w"), 900, 0);
	mtime(tb_file(tb, "f", 1), 50, 0);
	mtime(tb_dir(tb, "d"), 40, 0);
	normalized();
	cr_expect_eq(nnode("")->mtime.sec, 50);
	cr_expect_eq(nnode("w")->mtime.sec, 50);
	cr_expect_eq(nnode("f")->mtime.sec, 50);
	cr_expect_eq(nnode("d")->mtime.sec, 40);
}

Test(overlay, normalize_t_is_0_for_a_root_only_tree)
{
	mtime(tb_root(layer(0)), 12345, 6);
	normalized();
	cr_expect_eq(nnode("")->mtime.sec, 0);
	cr_expect_eq(nnode("")->mtime.nsec, 0);
}

Test(overlay, normalize_t_is_0_for_a_tree_of_only_whiteouts)
{
	TreeBuilder *tb = layer(0);

	mtime(tb_root(tb), 12345, 6);
	mtime(whiteout(tb, "a"), 77, 7);
	mtime(whiteout(tb, "b"), 88, 8);
	normalized();
	cr_expect(nnode("")->mtime.sec == 0 && nnode("")->mtime.nsec == 0);
	cr_expect(nnode("a")->mtime.sec == 0 && nnode("a")->mtime.nsec == 0);
	cr_expect(nnode("b")->mtime.sec == 0 && nnode("b")->mtime.nsec == 0);
}

Test(overlay, normalize_whiteouts_become_mode_0000_root_owned_mtime_t_nlink_1_no_xattrs)
{
	TreeBuilder *tb = layer(0);
	const LimgNode *w;

	attrs(whiteout(tb, "d/w"), 0644, 7, 8, 1);
	mtime(tb_file(tb, "f", 1), 500, 0);
	mtime(tb_get(tb, "d"), 400, 0);
	xattrs(0, "d/w", "user.x", "1", "trusted.overlay.origin", "o", LIMG_OPAQUE_XATTR, "y", NULL);
	normalized();
	w = nnode("d/w");
	cr_expect_eq(w->mode, S_IFCHR);
	cr_expect_eq(w->uid, 0);
	cr_expect_eq(w->gid, 0);
	cr_expect_eq(w->mtime.sec, 500);
	cr_expect_eq(w->nlink, 1);
	cr_expect_eq(w->xattrs, LIMG_NONE);
	cr_expect(w->rdev_major == 0 && w->rdev_minor == 0);
}

Test(overlay, normalize_ungroups_hard_linked_whiteouts)
{
	TreeBuilder *tb = layer(0);
	TbEntry *a = whiteout(tb, "a");
	TbEntry *b = tb_link(tb, "d/b", a);
	uint64_t ino = a->node.ino;

	cr_assert_eq(b->node.nlink, 2);
	tb_file(tb, "f", 1);
	normalized();
	/* The layout groups only names with nlink >= 2: each is its own entry. */
	cr_expect_eq(nnode("a")->nlink, 1);
	cr_expect_eq(nnode("d/b")->nlink, 1);
	cr_expect_eq(nnode("a")->ino, ino);
	cr_expect_eq(nnode("d/b")->ino, ino);
}

Test(overlay, normalize_drops_origin_impure_uuid_keeps_opaque_and_the_rest_in_order)
{
	static const uint8_t uuid[16] = { 0xde, 0xad, 0x00, 0xbe, 0xef };
	static const uint8_t cap[4] = { 0x01, 0x00, 0x00, 0x02 };
	const char *names[] = {
		"user.a", "trusted.overlay.origin", LIMG_OPAQUE_XATTR, "security.capability",
		"trusted.overlay.impure", "trusted.overlay.uuid", "user.b", "trusted.overlayfs",
		"trusted.overlay.redirect",
	};
	const void *values[] = { "1", "\x00\xfb", "y", cap, "y", uuid, "", "k", "/r" };
	const uint32_t lens[] = { 1, 2, 1, sizeof(cap), 1, sizeof(uuid), 0, 1, 2 };
	TreeBuilder *tb = layer(0);

	tb_dir(tb, "d");
	tb_file(tb, "only", 1);
	tb_file(tb, "plain", 2);
	build();
	cr_assert_eq(limg_tree_set_xattrs(ins[0], idx_of(0, "d"), G_N_ELEMENTS(names), names,
	                                  values, lens), 0);
	xattrs(0, "only", "trusted.overlay.origin", "o", "trusted.overlay.impure", "y", NULL);
	xattrs(0, "plain", "user.p", "pp", "security.selinux", "ctx", NULL);
	normalized();
	cr_expect_str_eq(tmp(xattr_str(ins[0], idx_of(0, "d"), false)),
	                 "user.a=1 trusted.overlay.opaque=y "
	                 "security.capability=\\x01\\x00\\x00\\x02 user.b= trusted.overlayfs=k");
	cr_expect_eq(nnode("only")->xattrs, LIMG_NONE);
	cr_expect_str_eq(tmp(xattr_str(ins[0], idx_of(0, "plain"), false)),
	                 "user.p=pp security.selinux=ctx");
}

Test(overlay, normalize_keeps_ctimes_and_inode_numbers)
{
	TreeBuilder *tb = layer(0);
	static const char *const paths[] = { "", "w", "f", "d", "d/l" };
	LimgNode before[G_N_ELEMENTS(paths)];

	whiteout(tb, "w");
	tb_file(tb, "f", 1);
	tb_symlink(tb, "d/l", "../f");
	for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
		TbEntry *e = tb_get(tb, paths[i]);

		e->node.ctime.sec = 5000 + (int64_t)i;
		e->node.ctime.nsec = 10 + (uint32_t)i;
	}
	build();
	for (size_t i = 0; i < G_N_ELEMENTS(paths); i++)
		before[i] = *nnode(paths[i]);
	normalized();
	for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
		const LimgNode *n = nnode(paths[i]);

		cr_expect_eq(n->ino, before[i].ino, "/%s: ino", paths[i]);
		cr_expect_eq(n->dev, before[i].dev, "/%s: dev", paths[i]);
		cr_expect_eq(n->ctime.sec, 5000 + (int64_t)i, "/%s: ctime", paths[i]);
		cr_expect_eq(n->ctime.nsec, 10 + i, "/%s: ctime", paths[i]);
	}
}

Test(overlay, normalize_keeps_the_nanoseconds_of_t)
{
	TreeBuilder *tb = layer(0);

	mtime(tb_file(tb, "a", 1), 100, 5);
	mtime(tb_file(tb, "b", 1), 100, 999999999);
	mtime(tb_file(tb, "c", 1), 99, 999999999);
	mtime(tb_file(tb, "e", 1), 100, 7);
	whiteout(tb, "w");
	normalized();
	cr_expect_eq(nnode("")->mtime.sec, 100);
	cr_expect_eq(nnode("")->mtime.nsec, 999999999);
	cr_expect_eq(nnode("w")->mtime.sec, 100);
	cr_expect_eq(nnode("w")->mtime.nsec, 999999999);
}

Test(overlay, normalize_t_of_negative_mtimes_is_the_newest)
{
	TreeBuilder *tb = layer(0);

	mtime(tb_file(tb, "a", 1), -50, 0);
	mtime(tb_file(tb, "b", 1), -10, 3);
	mtime(tb_file(tb, "c", 1), -30, 0);
	normalized();
	cr_expect_eq(nnode("")->mtime.sec, -10);
	cr_expect_eq(nnode("")->mtime.nsec, 3);
}

Test(overlay, normalize_leaves_other_entries_alone)
{
	TreeBuilder *tb = layer(0);
	static const char *const paths[] = { "f", "d", "d/l", "c13", "b00", "c01", "p", "s" };
	LimgNode before[G_N_ELEMENTS(paths)];
	TbEntry *f = tb_file(tb, "f", 1234);

	attrs(f, 04755, 1000, 100, 77);
	tb_link(tb, "g", f);
	attrs(tb_dir(tb, "d"), 01777, 2, 3, 88);
	tb_symlink(tb, "d/l", "../f");
	attrs(tb_dev(tb, "c13", S_IFCHR, 1, 3), 0666, 4, 5, 60);
	attrs(tb_dev(tb, "b00", S_IFBLK, 0, 0), 0660, 6, 7, 61);
	attrs(tb_dev(tb, "c01", S_IFCHR, 0, 1), 0640, 8, 9, 62);
	tb_fifo(tb, "p");
	tb_sock(tb, "s");
	build();
	for (size_t i = 0; i < G_N_ELEMENTS(paths); i++)
		before[i] = *nnode(paths[i]);
	normalized();
	for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
		const LimgNode *n = nnode(paths[i]);
		const LimgNode *b = &before[i];

		cr_expect(n->mode == b->mode && n->uid == b->uid && n->gid == b->gid &&
		          n->nlink == b->nlink && n->size == b->size &&
		          n->rdev_major == b->rdev_major && n->rdev_minor == b->rdev_minor &&
		          n->mtime.sec == b->mtime.sec && n->mtime.nsec == b->mtime.nsec &&
		          n->target == b->target && n->xattrs == b->xattrs,
		          "/%s changed", paths[i]);
	}
	cr_expect_eq(nnode("g")->nlink, 2);
	cr_expect_str_eq(limg_tree_target(ins[0], nnode("d/l")), "../f");
}

Test(overlay, normalize_of_an_empty_tree_is_a_no_op)
{
	g_autoptr(LimgTree) t = limg_tree_new();

	cr_expect_eq(limg_overlay_normalize_layer(t), 0);
	cr_expect_eq(t->n_nodes, 0);
}
