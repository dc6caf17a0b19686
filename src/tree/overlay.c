/*
 * overlay.c - the per-layer rule and the overlay merge; see overlay.h.
 *
 * The merge builds the output tree directory by directory, in the order
 * the directory source walks (all children of a directory appended at
 * once, directories visited depth first in name order), so the merged
 * tree's numbering is a function of the inputs only. Each output
 * directory is made from a "stack": the directories of the same path in
 * the layers that contribute to it, topmost first, cut below the first
 * opaque one. Its children are the union of the stack's children in
 * byte order; for each name the topmost layer that has it decides.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "tree/overlay.h"

#define WH_PREFIX ".wh."
#define WH_PREFIX_LEN 4
#define WH_OPAQUE ".wh..wh..opq"
#define OVERLAY_XATTR_PREFIX "trusted.overlay."
#define OVERLAY_XATTR_PREFIX_LEN 16

bool
limg_overlay_is_whiteout(const LimgNode *n)
{
	return S_ISCHR(n->mode) && n->rdev_major == 0 && n->rdev_minor == 0;
}

/* Does @name (not NUL-terminated) start with trusted.overlay.? */
static bool
is_overlay_xattr(const char *name, size_t len)
{
	return len >= OVERLAY_XATTR_PREFIX_LEN &&
	       memcmp(name, OVERLAY_XATTR_PREFIX, OVERLAY_XATTR_PREFIX_LEN) == 0;
}

static bool
is_opaque_xattr(const char *name, size_t len)
{
	return len == strlen(LIMG_OPAQUE_XATTR) && memcmp(name, LIMG_OPAQUE_XATTR, len) == 0;
}

/*
 * Give node @dst of @out the xattrs of node @src of @in, without
 * trusted.overlay.* (but trusted.overlay.opaque if @keep_opaque).
 */
static int
copy_xattrs(LimgTree *out, uint32_t dst, const LimgTree *in, const LimgNode *src,
            bool keep_opaque)
{
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GPtrArray) values = NULL;
	g_autoptr(GArray) lens = NULL;
	const char *name;
	const uint8_t *value;
	size_t cursor = 0, nlen;
	uint32_t vlen;

	if (src->xattrs == LIMG_NONE) {
		out->nodes[dst].xattrs = LIMG_NONE;
		return 0;
	}
	names = g_ptr_array_new_with_free_func(g_free);
	values = g_ptr_array_new();
	lens = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	/*
	 * Read the whole blob before appending: appending to @in may move its
	 * strings when @in is @out (normalize).
	 */
	while (limg_tree_xattr_next(in, src, &cursor, &name, &nlen, &value, &vlen)) {
		if (is_overlay_xattr(name, nlen) && !(keep_opaque && is_opaque_xattr(name, nlen)))
			continue;
		g_ptr_array_add(names, g_strndup(name, nlen));
		g_ptr_array_add(values, g_memdup2(value, vlen ? vlen : 1));
		g_array_append_val(lens, vlen);
	}
	g_ptr_array_set_free_func(values, g_free);
	return limg_tree_set_xattrs(out, dst, names->len, (const char *const *)names->pdata,
	                            (const void *const *)values->pdata,
	                            (const uint32_t *)(void *)lens->data);
}

/* Does node @n carry a trusted.overlay.* xattr other than the opaque marker? */
static bool
has_foreign_overlay_xattr(const LimgTree *t, const LimgNode *n)
{
	const char *name;
	const uint8_t *value;
	size_t cursor = 0, nlen;
	uint32_t vlen;

	while (limg_tree_xattr_next(t, n, &cursor, &name, &nlen, &value, &vlen)) {
		if (is_overlay_xattr(name, nlen) && !is_opaque_xattr(name, nlen))
			return true;
	}
	return false;
}

/* Does @n carry trusted.overlay.opaque = "y" (exactly: the kernel reads one byte)? */
static bool
has_opaque_xattr(const LimgTree *t, const LimgNode *n)
{
	const char *name;
	const uint8_t *value;
	size_t cursor = 0, nlen;
	uint32_t vlen;

	while (limg_tree_xattr_next(t, n, &cursor, &name, &nlen, &value, &vlen)) {
		if (is_opaque_xattr(name, nlen))
			return vlen == 1 && value[0] == 'y';
	}
	return false;
}

static int
cmp_name(const char *a, size_t al, const char *b, size_t bl)
{
	int r = memcmp(a, b, al < bl ? al : bl);

	return r ? r : (al < bl ? -1 : al > bl);
}

/* The child of directory @dir named @name, or LIMG_NONE (children are sorted). */
static uint32_t
find_child(const LimgTree *t, uint32_t dir, const char *name, size_t len)
{
	const LimgNode *d = &t->nodes[dir];
	uint32_t lo = 0, hi = d->nchildren;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const LimgNode *c = &t->nodes[d->first_child + mid];
		int r = cmp_name(limg_tree_name(t, c), c->name_len, name, len);

		if (r == 0)
			return d->first_child + mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return LIMG_NONE;
}

static bool
has_wh_entry(const LimgTree *t, uint32_t dir, const char *name, size_t len)
{
	char buf[WH_PREFIX_LEN + 256];

	if (len > 255)
		return false;   /* ".wh." + a 252+ byte name cannot exist */
	memcpy(buf, WH_PREFIX, WH_PREFIX_LEN);
	memcpy(buf + WH_PREFIX_LEN, name, len);
	return find_child(t, dir, buf, WH_PREFIX_LEN + len) != LIMG_NONE;
}

/* Does directory @dir hold an OCI opaque marker, .wh..wh..opq? */
static bool
has_opaque_marker(const LimgTree *t, uint32_t dir)
{
	return find_child(t, dir, WH_OPAQUE, strlen(WH_OPAQUE)) != LIMG_NONE;
}

/* Is directory @dir of @t opaque (xattr, or a .wh..wh..opq entry)? */
static bool
dir_is_opaque(const LimgTree *t, uint32_t dir)
{
	return has_opaque_xattr(t, &t->nodes[dir]) || has_opaque_marker(t, dir);
}

/* ------------------------------------------------------------ per layer */

int
limg_overlay_normalize_layer(LimgTree *tree)
{
	LimgTime newest = { 0, 0 };
	bool any = false;

	if (tree->n_nodes == 0)
		return 0;
	for (uint32_t i = 1; i < tree->n_nodes; i++) {
		const LimgNode *n = &tree->nodes[i];

		if (limg_overlay_is_whiteout(n))
			continue;
		if (!any || n->mtime.sec > newest.sec ||
		    (n->mtime.sec == newest.sec && n->mtime.nsec > newest.nsec))
			newest = n->mtime;
		any = true;
	}
	for (uint32_t i = 0; i < tree->n_nodes; i++) {
		LimgNode *n = &tree->nodes[i];
		int ret;

		if (i == 0) {
			n->mode = S_IFDIR | 0755;
			n->uid = n->gid = 0;
			n->mtime = newest;
			n->xattrs = LIMG_NONE;
			continue;
		}
		if (limg_overlay_is_whiteout(n)) {
			n->mode = S_IFCHR;
			n->uid = n->gid = 0;
			n->mtime = newest;
			n->nlink = 1;
			n->xattrs = LIMG_NONE;
			continue;
		}
		if (n->xattrs != LIMG_NONE && has_foreign_overlay_xattr(tree, n)) {
			/* Keep only what overlay shows, plus the opaque marker. */
			LimgNode copy = *n;

			if ((ret = copy_xattrs(tree, i, tree, &copy, true)) < 0)
				return ret;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ merge */

/* One contributing directory: layer and node. */
typedef struct {
	uint32_t layer;
	uint32_t node;
} Part;

/* A directory of the output still to fill, and the stack it is made of. */
typedef struct {
	uint32_t out;           /* node in the output tree */
	GArray *stack;          /* Part, topmost first */
} Pending;

/* A child chosen for the output. */
typedef struct {
	const char *name;       /* borrowed from its layer's tree */
	size_t len;
	Part winner;            /* the entry shown */
	Part attrs;             /* whose attributes (files-only dirs defer) */
	GArray *stack;          /* directories: the stack below it, or NULL */
} Child;

typedef struct {
	const LimgOverlayLayer *layers;
	size_t n;
	LimgTree *out;
	GArray *origins;        /* LimgOrigin per output node */
	GHashTable *devs;       /* DevKey -> output device number */
} Merge;

/*
 * An input device of one layer. Output nodes get one device number per
 * (layer, device), 1, 2, ... in the order the merge first meets them, so
 * (dev, ino) names one inode of one layer: names of the same inode number
 * in two layers, or on two devices of one layer, are never linked.
 */
typedef struct {
	uint64_t dev;
	uint32_t layer;
} DevKey;

static guint
devkey_hash(gconstpointer p)
{
	const DevKey *k = p;

	return g_int64_hash(&k->dev) ^ (k->layer * 0x9E3779B1u);
}

static gboolean
devkey_equal(gconstpointer a, gconstpointer b)
{
	const DevKey *x = a, *y = b;

	return x->dev == y->dev && x->layer == y->layer;
}

static uint64_t
out_dev(Merge *m, uint32_t layer, uint64_t dev)
{
	DevKey key = { dev, layer };
	gpointer v;
	DevKey *k;

	if (g_hash_table_lookup_extended(m->devs, &key, NULL, &v))
		return GPOINTER_TO_UINT(v);
	k = g_new(DevKey, 1);
	*k = key;
	v = GUINT_TO_POINTER(g_hash_table_size(m->devs) + 1);
	g_hash_table_insert(m->devs, k, v);
	return GPOINTER_TO_UINT(v);
}

static const LimgNode *
part_node(const Merge *m, Part p)
{
	return &m->layers[p.layer].tree->nodes[p.node];
}

static const LimgTree *
part_tree(const Merge *m, Part p)
{
	return m->layers[p.layer].tree;
}

/*
 * Decide the entry @name of the directory made of @stack: NULL-winner
 * (returns false) when it is deleted or only a whiteout marker; else
 * fills @c (and, for a directory, the stack below it).
 */
static bool
decide(const Merge *m, const GArray *stack, const char *name, size_t len, Child *c)
{
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->len = len;
	for (guint k = 0; k < stack->len; k++) {
		Part d = g_array_index(stack, Part, k);
		const LimgTree *t = part_tree(m, d);
		uint32_t idx = find_child(t, d.node, name, len);
		const LimgNode *n;

		if (idx == LIMG_NONE) {
			/* An OCI whiteout here deletes it in the layers below. */
			if (!m->layers[d.layer].files_only && has_wh_entry(t, d.node, name, len))
				return false;
			continue;
		}
		n = &t->nodes[idx];
		if (limg_overlay_is_whiteout(n))
			return false;
		c->winner = (Part){ d.layer, idx };
		c->attrs = c->winner;
		if (!S_ISDIR(n->mode))
			return true;
		/*
		 * A directory: it and the directories of its path below it. A
		 * .wh.<name> beside it deletes <name> in the layers below only
		 * (OCI layer.md), so it ends the stack like an opaque directory.
		 */
		c->stack = g_array_new(FALSE, FALSE, sizeof(Part));
		g_array_append_val(c->stack, c->winner);
		if (!m->layers[d.layer].files_only &&
		    (dir_is_opaque(t, idx) || has_wh_entry(t, d.node, name, len)))
			return true;
		for (guint j = k + 1; j < stack->len; j++) {
			Part below = g_array_index(stack, Part, j);
			const LimgTree *bt = part_tree(m, below);
			uint32_t bidx = find_child(bt, below.node, name, len);
			Part p;

			if (bidx == LIMG_NONE) {
				if (!m->layers[below.layer].files_only &&
				    has_wh_entry(bt, below.node, name, len))
					break;
				continue;
			}
			if (!S_ISDIR(bt->nodes[bidx].mode))
				break;   /* a file or whiteout below: nothing more shows */
			p = (Part){ below.layer, bidx };
			g_array_append_val(c->stack, p);
			/* A files-only directory takes the attributes of the real one. */
			if (m->layers[c->attrs.layer].files_only && !m->layers[below.layer].files_only)
				c->attrs = p;
			if (!m->layers[below.layer].files_only &&
			    (dir_is_opaque(bt, bidx) || has_wh_entry(bt, below.node, name, len)))
				break;
		}
		return true;
	}
	return false;
}

/* Is @name a whiteout marker entry (.wh.*), never shown? */
static bool
is_wh_name(const char *name, size_t len)
{
	return len >= WH_PREFIX_LEN && memcmp(name, WH_PREFIX, WH_PREFIX_LEN) == 0;
}

/*
 * Append node @c to the output as a child of @parent. A directory is the
 * node whose attributes it shows (for a files-only one, the directory
 * below): that is its origin too, so its identity (ino, ctime) can still
 * be checked against the layer it names.
 */
static int
emit(Merge *m, uint32_t parent, const Child *c, uint32_t *idx)
{
	const LimgNode *src = part_node(m, c->winner);
	Part from = S_ISDIR(src->mode) ? c->attrs : c->winner;
	const LimgNode *attrs = part_node(m, from);
	const LimgTree *at = part_tree(m, from);
	LimgOrigin o = { from.layer, from.node };
	LimgNode proto = *attrs;
	int ret;

	proto.parent = parent;
	proto.first_child = 0;
	proto.nchildren = 0;
	/* Hard links group by (dev, ino): keep groups within one layer. */
	proto.dev = out_dev(m, from.layer, attrs->dev);
	if ((ret = limg_tree_add(m->out, &proto, c->name, c->len, idx)) < 0)
		return ret;
	if (S_ISLNK(src->mode)) {
		const char *target = limg_tree_target(part_tree(m, c->winner), src);

		if (target && (ret = limg_tree_set_target(m->out, *idx, target, src->size)) < 0)
			return ret;
	}
	if ((ret = copy_xattrs(m->out, *idx, at, attrs, false)) < 0)
		return ret;
	g_array_append_val(m->origins, o);
	return 0;
}

static void
free_children(GArray *kids)
{
	for (guint i = 0; i < kids->len; i++) {
		Child *c = &g_array_index(kids, Child, i);

		if (c->stack)
			g_array_free(c->stack, TRUE);
	}
	g_array_free(kids, TRUE);
}

/* Fill output directory @p: append all its children; queue its subdirectories. */
static int
fill_dir(Merge *m, const Pending *p, GArray *todo)
{
	guint depth = p->stack->len;
	g_autofree uint32_t *cursor = g_new0(uint32_t, depth);
	GArray *kids = g_array_new(FALSE, FALSE, sizeof(Child));
	uint32_t first = LIMG_NONE, count = 0;
	int ret = 0;

	/* Union of the stack's children in byte order (each list is sorted). */
	for (;;) {
		const char *best = NULL;
		size_t best_len = 0;
		Child c;

		for (guint k = 0; k < depth; k++) {
			Part d = g_array_index(p->stack, Part, k);
			const LimgTree *t = part_tree(m, d);
			const LimgNode *dn = &t->nodes[d.node];
			const LimgNode *cn;

			if (cursor[k] >= dn->nchildren)
				continue;
			cn = &t->nodes[dn->first_child + cursor[k]];
			if (!best || cmp_name(limg_tree_name(t, cn), cn->name_len, best, best_len) < 0) {
				best = limg_tree_name(t, cn);
				best_len = cn->name_len;
			}
		}
		if (!best)
			break;
		/* Step every cursor past @best. */
		{
			g_autofree char *name = g_strndup(best, best_len);

			for (guint k = 0; k < depth; k++) {
				Part d = g_array_index(p->stack, Part, k);
				const LimgTree *t = part_tree(m, d);
				const LimgNode *dn = &t->nodes[d.node];

				if (cursor[k] < dn->nchildren) {
					const LimgNode *cn = &t->nodes[dn->first_child + cursor[k]];

					if (cmp_name(limg_tree_name(t, cn), cn->name_len, name, best_len) == 0)
						cursor[k]++;
				}
			}
			if (is_wh_name(best, best_len) || !decide(m, p->stack, best, best_len, &c))
				continue;
			g_array_append_val(kids, c);
		}
	}
	for (guint i = 0; i < kids->len && ret == 0; i++) {
		uint32_t idx;

		ret = emit(m, p->out, &g_array_index(kids, Child, i), &idx);
		if (ret == 0 && first == LIMG_NONE)
			first = idx;
		count++;
	}
	if (ret == 0) {
		m->out->nodes[p->out].first_child = first == LIMG_NONE ? 0 : first;
		m->out->nodes[p->out].nchildren = count;
		/* Subdirectories, first one on top: depth first in name order. */
		for (guint i = kids->len; i-- > 0;) {
			Child *c = &g_array_index(kids, Child, i);

			if (c->stack) {
				Pending np = { first + i, c->stack };

				c->stack = NULL;   /* owned by the queue now */
				g_array_append_val(todo, np);
			}
		}
	}
	free_children(kids);
	return ret;
}

int
limg_overlay_merge(const LimgOverlayLayer *layers, size_t n, LimgTree **out,
                   LimgOrigin **origins)
{
	g_autoptr(LimgTree) tree = NULL;
	GArray *todo;
	Merge m = { .layers = layers, .n = n };
	Pending root = { 0 };
	LimgNode proto;
	uint32_t idx, top = LIMG_NONE;
	int ret = 0;

	*out = NULL;
	*origins = NULL;
	for (size_t i = n; i-- > 0;) {
		if (!layers[i].files_only && layers[i].tree->n_nodes &&
		    S_ISDIR(layers[i].tree->nodes[0].mode)) {
			top = (uint32_t)i;
			break;
		}
	}
	if (top == LIMG_NONE)
		return -EINVAL;
	tree = limg_tree_new();
	m.out = tree;
	m.origins = g_array_new(FALSE, FALSE, sizeof(LimgOrigin));
	m.devs = g_hash_table_new_full(devkey_hash, devkey_equal, g_free, NULL);
	todo = g_array_new(FALSE, FALSE, sizeof(Pending));

	proto = layers[top].tree->nodes[0];
	proto.parent = 0;
	proto.first_child = proto.nchildren = 0;
	proto.dev = out_dev(&m, top, proto.dev);
	ret = limg_tree_add(tree, &proto, "", 0, &idx);
	if (ret == 0)
		ret = copy_xattrs(tree, idx, layers[top].tree, &layers[top].tree->nodes[0], false);
	if (ret == 0) {
		LimgOrigin o = { top, 0 };

		g_array_append_val(m.origins, o);
		root.out = idx;
		root.stack = g_array_new(FALSE, FALSE, sizeof(Part));
		/*
		 * Every layer's root, topmost first (files-only ones included).
		 * The kernel never reads the opaque xattr of a root ("Root is
		 * always merge", ovl_get_root()); an OCI opaque marker there
		 * still hides the entries of the roots below.
		 */
		for (size_t i = n; i-- > 0;) {
			Part p = { (uint32_t)i, 0 };

			if (layers[i].tree->n_nodes == 0 || !S_ISDIR(layers[i].tree->nodes[0].mode))
				continue;
			g_array_append_val(root.stack, p);
			if (i <= top && !layers[i].files_only && has_opaque_marker(layers[i].tree, 0))
				break;
		}
		g_array_append_val(todo, root);
	}
	while (ret == 0 && todo->len) {
		Pending p = g_array_index(todo, Pending, todo->len - 1);

		g_array_set_size(todo, todo->len - 1);
		ret = fill_dir(&m, &p, todo);
		g_array_free(p.stack, TRUE);
	}
	for (guint i = 0; i < todo->len; i++)
		g_array_free(g_array_index(todo, Pending, i).stack, TRUE);
	g_array_free(todo, TRUE);
	g_hash_table_destroy(m.devs);
	if (ret < 0) {
		g_array_free(m.origins, TRUE);
		return ret;
	}
	limg_tree_seal(tree);
	*origins = (LimgOrigin *)(void *)g_array_free(m.origins, FALSE);
	*out = g_steal_pointer(&tree);
	return 0;
}
