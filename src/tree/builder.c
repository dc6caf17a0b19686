/*
 * builder.c - a tree made from entries given by path; see builder.h.
 *
 * Entries live in a GHashTable per directory (name -> entry) while the
 * builder collects them; build() sorts each directory once and emits the
 * nodes with an explicit stack, so neither the depth of a path nor the
 * number of entries puts the C stack at risk.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tree/builder.h"

typedef struct {
	char *name;
	void *value;
	uint32_t len;
} BXattr;

struct LimgBuilderEntry {
	LimgNode node;          /* metadata; structural fields unused */
	char *name;             /* NULL for the root */
	uint16_t name_len;
	char *target;           /* symlinks */
	size_t target_len;
	GHashTable *children;   /* directories: name -> LimgBuilderEntry * */
	GArray *xattrs;         /* BXattr, or NULL */
};

struct LimgTreeBuilder {
	LimgBuilderEntry *root;
	LimgNode parent_proto;
};

static void
bxattr_clear(gpointer p)
{
	BXattr *x = p;

	g_free(x->name);
	g_free(x->value);
}

static void entry_free(gpointer p);

static GHashTable *
children_new(void)
{
	/* keys are the entries' own names: freed with the entry */
	return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, entry_free);
}

static void
entry_clear_content(LimgBuilderEntry *e)
{
	g_clear_pointer(&e->target, g_free);
	e->target_len = 0;
	g_clear_pointer(&e->xattrs, g_array_unref);
}

static void
entry_free(gpointer p)
{
	LimgBuilderEntry *e = p;

	if (!e)
		return;
	entry_clear_content(e);
	if (e->children)
		g_hash_table_unref(e->children);
	g_free(e->name);
	g_free(e);
}

static LimgBuilderEntry *
entry_new(const LimgNode *proto, const char *name, size_t len)
{
	LimgBuilderEntry *e = g_new0(LimgBuilderEntry, 1);

	e->node = *proto;
	if (name) {
		e->name = g_strndup(name, len);
		e->name_len = (uint16_t)len;
	}
	if (S_ISDIR(e->node.mode))
		e->children = children_new();
	return e;
}

LimgTreeBuilder *
limg_tree_builder_new(const LimgNode *root, const LimgNode *parent)
{
	LimgTreeBuilder *b = g_new0(LimgTreeBuilder, 1);
	LimgNode r = *root;

	r.mode = (r.mode & ~(uint32_t)S_IFMT) | S_IFDIR;
	b->root = entry_new(&r, NULL, 0);
	b->parent_proto = *parent;
	b->parent_proto.mode = (b->parent_proto.mode & ~(uint32_t)S_IFMT) | S_IFDIR;
	b->parent_proto.size = 0;
	return b;
}

void
limg_tree_builder_free(LimgTreeBuilder *b)
{
	if (!b)
		return;
	entry_free(b->root);
	g_free(b);
}

/* The next component of @path[*pos..len): its start in *c and length in *clen. */
static bool
next_component(const char *path, size_t len, size_t *pos, const char **c, size_t *clen)
{
	size_t i = *pos, j;

	if (i >= len)
		return false;
	j = i;
	while (j < len && path[j] != '/')
		j++;
	*c = path + i;
	*clen = j - i;
	*pos = j < len ? j + 1 : j;
	return true;
}

static bool
component_ok(const char *c, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
		return false;
	return memchr(c, '\0', len) == NULL;
}

static bool
path_ok(const char *path, size_t len)
{
	size_t pos = 0, clen;
	const char *c;

	if (len == 0)
		return true;
	if (path[len - 1] == '/')
		return false;
	while (next_component(path, len, &pos, &c, &clen))
		if (!component_ok(c, clen))
			return false;
	return true;
}

static LimgBuilderEntry *
child_lookup(LimgBuilderEntry *dir, const char *name, size_t len)
{
	char buf[256];

	memcpy(buf, name, len);
	buf[len] = '\0';
	return g_hash_table_lookup(dir->children, buf);
}

static void
child_insert(LimgBuilderEntry *dir, LimgBuilderEntry *e)
{
	g_hash_table_replace(dir->children, e->name, e);
}

/*
 * Walk @path[0..len) down from the root. @make: make missing directories.
 * Returns the entry, or NULL with *err: -ENOENT (missing, !make) or
 * -ENOTDIR (a component on the way is not a directory).
 */
static LimgBuilderEntry *
walk(LimgTreeBuilder *b, const char *path, size_t len, bool make, bool last_any, int *err)
{
	LimgBuilderEntry *cur = b->root, *next;
	size_t pos = 0, clen;
	const char *c;

	while (next_component(path, len, &pos, &c, &clen)) {
		if (!cur->children) {
			*err = -ENOTDIR;
			return NULL;
		}
		next = child_lookup(cur, c, clen);
		if (!next) {
			if (!make) {
				*err = -ENOENT;
				return NULL;
			}
			next = entry_new(&b->parent_proto, c, clen);
			child_insert(cur, next);
		}
		cur = next;
	}
	if (!last_any && !cur->children) {
		*err = -ENOTDIR;
		return NULL;
	}
	return cur;
}

int
limg_tree_builder_put(LimgTreeBuilder *b, const char *path, size_t len,
                      const LimgNode *proto, const char *target, size_t tlen,
                      LimgBuilderEntry **out)
{
	LimgBuilderEntry *dir, *e;
	size_t split = len;
	const char *name;
	size_t nlen;
	int err = 0;

	if (out)
		*out = NULL;
	if (!path_ok(path, len))
		return -EINVAL;
	if (len == 0) {
		if (!S_ISDIR(proto->mode))
			return -EINVAL;
		entry_clear_content(b->root);
		b->root->node = *proto;
		if (out)
			*out = b->root;
		return 0;
	}
	while (split > 0 && path[split - 1] != '/')
		split--;
	name = path + split;
	nlen = len - split;
	dir = split ? walk(b, path, split - 1, true, false, &err) : b->root;
	if (!dir)
		return err;

	e = child_lookup(dir, name, nlen);
	if (e && S_ISDIR(e->node.mode) && S_ISDIR(proto->mode)) {
		/* a directory over a directory keeps what is in it */
		entry_clear_content(e);
		e->node = *proto;
	} else {
		e = entry_new(proto, name, nlen);
		child_insert(dir, e);   /* frees an entry (and subtree) it replaces */
	}
	if (S_ISLNK(proto->mode) && target) {
		e->target = g_strndup(target, tlen);
		e->target_len = tlen;
	}
	if (out)
		*out = e;
	return 0;
}

int
limg_tree_builder_link(LimgTreeBuilder *b, const char *path, size_t len,
                       const char *tpath, size_t tlen, LimgBuilderEntry **out)
{
	LimgBuilderEntry *te = limg_tree_builder_find(b, tpath, tlen), *e;
	g_autoptr(GArray) xattrs = NULL;
	g_autofree char *target = NULL;
	size_t target_len;
	LimgNode node;
	int ret;

	if (out)
		*out = NULL;
	if (!te)
		return -ENOENT;
	if (te->children)
		return -EISDIR;
	if (len == tlen && memcmp(path, tpath, len) == 0) {
		if (out)
			*out = te;
		return 0;
	}
	/* The put may free @te (it can sit below @path): keep what it is. */
	node = te->node;
	target = te->target ? g_strndup(te->target, te->target_len) : NULL;
	target_len = te->target_len;
	if (te->xattrs) {
		xattrs = g_array_new(FALSE, FALSE, sizeof(BXattr));
		g_array_set_clear_func(xattrs, bxattr_clear);
		for (guint i = 0; i < te->xattrs->len; i++) {
			const BXattr *x = &g_array_index(te->xattrs, BXattr, i);
			BXattr c = { g_strdup(x->name), g_memdup2(x->value, x->len), x->len };

			g_array_append_val(xattrs, c);
		}
	}
	ret = limg_tree_builder_put(b, path, len, &node, target, target_len, &e);
	if (ret < 0)
		return ret;
	e->xattrs = g_steal_pointer(&xattrs);
	if (out)
		*out = e;
	return 0;
}

LimgBuilderEntry *
limg_tree_builder_find(LimgTreeBuilder *b, const char *path, size_t len)
{
	int err;

	if (!path_ok(path, len))
		return NULL;
	return walk(b, path, len, false, true, &err);
}

LimgBuilderEntry *
limg_tree_builder_dir(LimgTreeBuilder *b, const char *path, size_t len)
{
	int err;

	if (!path_ok(path, len))
		return NULL;
	return walk(b, path, len, true, false, &err);
}

LimgNode *
limg_builder_entry_node(LimgBuilderEntry *e)
{
	return &e->node;
}

void
limg_builder_entry_set_xattr(LimgBuilderEntry *e, const char *name, const void *value,
                             uint32_t len)
{
	BXattr x;

	if (!e->xattrs) {
		e->xattrs = g_array_new(FALSE, FALSE, sizeof(BXattr));
		g_array_set_clear_func(e->xattrs, bxattr_clear);
	}
	for (guint i = 0; i < e->xattrs->len; i++) {
		BXattr *o = &g_array_index(e->xattrs, BXattr, i);

		if (strcmp(o->name, name) == 0) {
			g_free(o->value);
			o->value = g_memdup2(value, len);
			o->len = len;
			return;
		}
	}
	x.name = g_strdup(name);
	x.value = g_memdup2(value, len);
	x.len = len;
	g_array_append_val(e->xattrs, x);
}

static int
cmp_entry_name(const void *a, const void *b)
{
	const LimgBuilderEntry *x = *(LimgBuilderEntry *const *)a;
	const LimgBuilderEntry *y = *(LimgBuilderEntry *const *)b;
	size_t n = MIN(x->name_len, y->name_len);
	int c = memcmp(x->name, y->name, n);

	if (c)
		return c;
	return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static int
cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const BXattr *)a)->name, ((const BXattr *)b)->name);
}

/* Give the tree node @idx @e's target and xattrs. */
static int
emit_extras(LimgTree *t, uint32_t idx, LimgBuilderEntry *e)
{
	int ret;

	if (S_ISLNK(e->node.mode)) {
		ret = limg_tree_set_target(t, idx, e->target ? e->target : "",
		                           e->target ? e->target_len : 0);
		if (ret < 0)
			return ret;
	}
	if (e->xattrs && e->xattrs->len) {
		guint n = e->xattrs->len;
		g_autofree const char **names = g_new(const char *, n);
		g_autofree const void **values = g_new(const void *, n);
		g_autofree uint32_t *lens = g_new(uint32_t, n);

		g_array_sort(e->xattrs, cmp_xattr);
		for (guint i = 0; i < n; i++) {
			BXattr *x = &g_array_index(e->xattrs, BXattr, i);

			names[i] = x->name;
			values[i] = x->value;
			lens[i] = x->len;
		}
		ret = limg_tree_set_xattrs(t, idx, n, names, values, lens);
		if (ret < 0)
			return ret;
	}
	return 0;
}

typedef struct {
	LimgBuilderEntry *e;
	uint32_t idx;
} Pending;

int
limg_tree_builder_build(LimgTreeBuilder *b, LimgTree **out)
{
	g_autoptr(LimgTree) t = limg_tree_new();
	g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(Pending));
	g_autoptr(GPtrArray) kids = g_ptr_array_new();
	LimgNode proto;
	uint32_t idx;
	int ret;

	*out = NULL;
	proto = b->root->node;
	proto.parent = 0;
	proto.first_child = 0;
	proto.nchildren = 0;
	ret = limg_tree_add(t, &proto, "", 0, &idx);
	if (ret < 0)
		return ret;
	ret = emit_extras(t, idx, b->root);
	if (ret < 0)
		return ret;
	g_array_append_val(stack, ((Pending){ b->root, 0 }));

	while (stack->len) {
		Pending p = g_array_index(stack, Pending, stack->len - 1);
		GHashTableIter it;
		gpointer v;
		uint32_t first = t->n_nodes;
		guint ndirs = 0;

		g_array_set_size(stack, stack->len - 1);
		g_ptr_array_set_size(kids, 0);
		g_hash_table_iter_init(&it, p.e->children);
		while (g_hash_table_iter_next(&it, NULL, &v))
			g_ptr_array_add(kids, v);
		if (kids->len > 1)   /* an empty directory: pdata may be NULL */
			qsort(kids->pdata, kids->len, sizeof(gpointer), cmp_entry_name);

		for (guint i = 0; i < kids->len; i++) {
			LimgBuilderEntry *k = kids->pdata[i];

			proto = k->node;
			proto.parent = p.idx;
			proto.first_child = 0;
			proto.nchildren = 0;
			if (!S_ISDIR(proto.mode) && !S_ISREG(proto.mode) && !S_ISLNK(proto.mode))
				proto.size = 0;
			ret = limg_tree_add(t, &proto, k->name, k->name_len, &idx);
			if (ret < 0)
				return ret;
			ret = emit_extras(t, idx, k);
			if (ret < 0)
				return ret;
			if (k->children)
				ndirs++;
		}
		t->nodes[p.idx].first_child = kids->len ? first : 0;
		t->nodes[p.idx].nchildren = kids->len;
		/* push sub-directories last-first: popped in name order */
		for (guint i = kids->len; i > 0 && ndirs; i--) {
			LimgBuilderEntry *k = kids->pdata[i - 1];

			if (k->children) {
				g_array_append_val(stack, ((Pending){ k, first + i - 1 }));
				ndirs--;
			}
		}
	}

	/* the builder is left empty */
	g_hash_table_remove_all(b->root->children);
	entry_clear_content(b->root);
	limg_tree_seal(t);
	*out = g_steal_pointer(&t);
	return 0;
}

char *
limg_tree_clean_path(const char *path, size_t len, bool *changed)
{
	g_autoptr(GArray) parts = g_array_new(FALSE, FALSE, sizeof(size_t) * 2);
	size_t pos = 0, clen;
	const char *c;
	GString *s;

	*changed = false;
	while (pos < len && path[pos] == '/') {
		*changed = true;
		pos++;
	}
	while (next_component(path, len, &pos, &c, &clen)) {
		size_t span[2] = { (size_t)(c - path), clen };

		if (clen == 0 || (clen == 1 && c[0] == '.'))
			continue;
		if (clen == 2 && c[0] == '.' && c[1] == '.') {
			if (parts->len)
				g_array_set_size(parts, parts->len - 1);
			else
				*changed = true;   /* above the root: clamped */
			continue;
		}
		if (clen > 255)
			return NULL;
		g_array_append_vals(parts, span, 1);
	}
	s = g_string_sized_new(len);
	for (guint i = 0; i < parts->len; i++) {
		size_t *span = &((size_t *)parts->data)[i * 2];

		if (i)
			g_string_append_c(s, '/');
		g_string_append_len(s, path + span[0], span[1]);
	}
	return g_string_free(s, FALSE);
}
