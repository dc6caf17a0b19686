/*
 * tree-builder.c - build LimgTrees by path for the unit tests; see
 * testlib.h.
 */
#include <config.h>

#include "lib/testlib.h"

static void
tb_entry_free(gpointer p)
{
	TbEntry *e = p;

	g_free(e->path);
	g_free(e->target);
	g_free(e);
}


static TbEntry *
tb_add_raw(TreeBuilder *tb, const char *path, uint32_t mode)
{
	TbEntry *e = g_new0(TbEntry, 1);

	cr_assert(g_hash_table_lookup(tb->by_path, path) == NULL, "duplicate path %s", path);
	e->path = g_strdup(path);
	e->node.mode = mode;
	e->node.nlink = S_ISDIR(mode) ? 2 : 1;
	e->node.ino = tb->next_ino++;
	e->node.dev = 42;
	e->node.mtime.sec = TB_DEFAULT_MTIME;
	e->node.ctime.sec = TB_DEFAULT_MTIME;
	e->idx = LIMG_NONE;
	g_ptr_array_add(tb->ents, e);
	g_hash_table_insert(tb->by_path, e->path, e);
	return e;
}

/* Make sure every ancestor directory of @path exists. */
static void
tb_parents(TreeBuilder *tb, const char *path)
{
	g_autofree char *dir = g_strdup(path);
	char *slash = strrchr(dir, '/');

	if (!slash)
		return;
	*slash = 0;
	if (g_hash_table_lookup(tb->by_path, dir))
		return;
	tb_parents(tb, dir);
	tb_add_raw(tb, dir, S_IFDIR | 0755);
}

/* A builder holding only the root directory (mode 0755, owner 0:0). */
TreeBuilder *
tb_new(void)
{
	TreeBuilder *tb = g_new0(TreeBuilder, 1);

	tb->ents = g_ptr_array_new_with_free_func(tb_entry_free);
	tb->by_path = g_hash_table_new(g_str_hash, g_str_equal);
	tb->next_ino = 100;
	tb_add_raw(tb, "", S_IFDIR | 0755);
	return tb;
}

void
tb_free(TreeBuilder *tb)
{
	if (!tb)
		return;
	g_hash_table_destroy(tb->by_path);
	g_ptr_array_free(tb->ents, TRUE);
	g_free(tb);
}

TbEntry *
tb_root(TreeBuilder *tb)
{
	return g_hash_table_lookup(tb->by_path, "");
}

TbEntry *
tb_get(TreeBuilder *tb, const char *path)
{
	TbEntry *e = g_hash_table_lookup(tb->by_path, path);

	cr_assert(e != NULL, "no entry %s", path);
	return e;
}

TbEntry *
tb_dir(TreeBuilder *tb, const char *path)
{
	TbEntry *e = g_hash_table_lookup(tb->by_path, path);

	if (e)
		return e;
	tb_parents(tb, path);
	return tb_add_raw(tb, path, S_IFDIR | 0755);
}

TbEntry *
tb_file(TreeBuilder *tb, const char *path, uint64_t size)
{
	TbEntry *e;

	tb_parents(tb, path);
	e = tb_add_raw(tb, path, S_IFREG | 0644);
	e->node.size = size;
	return e;
}

TbEntry *
tb_symlink_len(TreeBuilder *tb, const char *path, const char *target, size_t len)
{
	TbEntry *e;

	tb_parents(tb, path);
	e = tb_add_raw(tb, path, S_IFLNK | 0777);
	e->target = g_malloc(len + 1);
	memcpy(e->target, target, len);
	e->target[len] = 0;
	e->target_len = len;
	e->node.size = len;
	return e;
}

TbEntry *
tb_symlink(TreeBuilder *tb, const char *path, const char *target)
{
	return tb_symlink_len(tb, path, target, strlen(target));
}

/* @type is S_IFCHR or S_IFBLK. */
TbEntry *
tb_dev(TreeBuilder *tb, const char *path, uint32_t type, uint32_t major, uint32_t minor)
{
	TbEntry *e;

	tb_parents(tb, path);
	e = tb_add_raw(tb, path, type | 0600);
	e->node.rdev_major = major;
	e->node.rdev_minor = minor;
	return e;
}

TbEntry *
tb_fifo(TreeBuilder *tb, const char *path)
{
	tb_parents(tb, path);
	return tb_add_raw(tb, path, S_IFIFO | 0644);
}

TbEntry *
tb_sock(TreeBuilder *tb, const char *path)
{
	tb_parents(tb, path);
	return tb_add_raw(tb, path, S_IFSOCK | 0755);
}

/*
 * Add @path as a hard link of @existing: same inode, device, metadata;
 * nlink of every member becomes the group size.
 */
TbEntry *
tb_link(TreeBuilder *tb, const char *path, TbEntry *existing)
{
	TbEntry *e;
	uint32_t count = 0;

	tb_parents(tb, path);
	e = tb_add_raw(tb, path, existing->node.mode);
	e->node = existing->node;
	if (existing->target) {
		e->target = g_memdup2(existing->target, existing->target_len + 1);
		e->target_len = existing->target_len;
	}
	for (guint i = 0; i < tb->ents->len; i++) {
		TbEntry *x = tb->ents->pdata[i];

		if (x->node.ino == e->node.ino && x->node.dev == e->node.dev)
			count++;
	}
	for (guint i = 0; i < tb->ents->len; i++) {
		TbEntry *x = tb->ents->pdata[i];

		if (x->node.ino == e->node.ino && x->node.dev == e->node.dev)
			x->node.nlink = count;
	}
	return e;
}

static const char *
tb_basename(const TbEntry *e)
{
	const char *s = strrchr(e->path, '/');

	return s ? s + 1 : e->path;
}

static int
tb_cmp_name(const void *a, const void *b)
{
	const TbEntry *x = *(TbEntry *const *)a, *y = *(TbEntry *const *)b;

	/* strcmp compares as unsigned char: byte order for NUL-free names. */
	return strcmp(tb_basename(x), tb_basename(y));
}

static void
tb_add_children(TreeBuilder *tb, LimgTree *t, GHashTable *kids, TbEntry *dir)
{
	GPtrArray *list = g_hash_table_lookup(kids, dir->path);
	uint32_t first = 0;

	if (!list)
		return;
	qsort(list->pdata, list->len, sizeof(gpointer), tb_cmp_name);
	for (guint i = 0; i < list->len; i++) {
		TbEntry *c = list->pdata[i];
		const char *name = tb_basename(c);
		LimgNode proto = c->node;
		uint32_t idx;

		proto.parent = dir->idx;
		proto.first_child = 0;
		proto.nchildren = 0;
		cr_assert_eq(limg_tree_add(t, &proto, name, strlen(name), &idx), 0);
		if (c->target)
			cr_assert_eq(limg_tree_set_target(t, idx, c->target, c->target_len), 0);
		c->idx = idx;
		if (i == 0)
			first = idx;
	}
	t->nodes[dir->idx].first_child = first;
	t->nodes[dir->idx].nchildren = list->len;
	for (guint i = 0; i < list->len; i++) {
		TbEntry *c = list->pdata[i];

		if (S_ISDIR(c->node.mode))
			tb_add_children(tb, t, kids, c);
	}
}

/*
 * Build the tree. The builder stays valid (each entry's ->idx is its node)
 * and must still be freed. Caller owns the tree.
 */
LimgTree *
tb_build(TreeBuilder *tb)
{
	LimgTree *t = limg_tree_new();
	GHashTable *kids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                         (GDestroyNotify)g_ptr_array_unref);
	TbEntry *root = tb_root(tb);
	LimgNode proto = root->node;
	uint32_t idx;

	for (guint i = 0; i < tb->ents->len; i++) {
		TbEntry *e = tb->ents->pdata[i];
		const char *slash;
		char *parent;
		GPtrArray *list;

		if (e == root)
			continue;
		slash = strrchr(e->path, '/');
		parent = slash ? g_strndup(e->path, (gsize)(slash - e->path)) : g_strdup("");
		list = g_hash_table_lookup(kids, parent);
		if (!list) {
			list = g_ptr_array_new();
			g_hash_table_insert(kids, parent, list);
		} else {
			g_free(parent);
		}
		g_ptr_array_add(list, e);
	}
	proto.parent = 0;
	cr_assert_eq(limg_tree_add(t, &proto, "", 0, &idx), 0);
	root->idx = idx;
	tb_add_children(tb, t, kids, root);
	g_hash_table_destroy(kids);
	return t;
}
