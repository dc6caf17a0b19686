/*
 * tree.c - the neutral node tree; see tree.h.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tree/tree.h"

LimgTree *
limg_tree_new(void)
{
	return g_new0(LimgTree, 1);
}

void
limg_tree_free(LimgTree *tree)
{
	if (!tree)
		return;
	free(tree->nodes);
	limg_arena_release(&tree->strings);
	g_free(tree);
}

int
limg_tree_add(LimgTree *tree, const LimgNode *proto, const char *name,
              size_t name_len, uint32_t *idx)
{
	LimgNode *n;
	uint32_t off;
	int ret;

	if (name_len > UINT16_MAX)
		return -ENAMETOOLONG;
	if (tree->n_nodes >= LIMG_NONE - 1)
		return -E2BIG;
	if (tree->n_nodes == tree->cap) {
		uint32_t cap = tree->cap ? tree->cap : 256;
		LimgNode *nn;

		cap = cap > (LIMG_NONE - 1) / 2 ? LIMG_NONE - 1 : cap * 2;
		nn = realloc(tree->nodes, (size_t)cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		tree->nodes = nn;
		tree->cap = cap;
	}
	ret = limg_arena_append(&tree->strings, name, name_len, &off);
	if (ret < 0)
		return ret;
	n = &tree->nodes[tree->n_nodes];
	*n = *proto;
	n->name = off;
	n->name_len = (uint16_t)name_len;
	n->target = LIMG_NONE;
	n->xattrs = LIMG_NONE;
	*idx = tree->n_nodes++;
	return 0;
}

int
limg_tree_set_target(LimgTree *tree, uint32_t idx, const char *target, size_t len)
{
	uint32_t off;
	int ret;

	g_return_val_if_fail(idx < tree->n_nodes, -EINVAL);
	ret = limg_arena_append(&tree->strings, target, len, &off);
	if (ret < 0)
		return ret;
	tree->nodes[idx].target = off;
	tree->nodes[idx].size = len;
	return 0;
}

/*
 * Blob layout: u32 count, then per attribute u16 name length, u32 value
 * length, name bytes, value bytes. Little-endian host order is fine: the
 * blob never leaves the process.
 */
int
limg_tree_set_xattrs(LimgTree *tree, uint32_t idx, size_t n,
                     const char *const *names, const void *const *values,
                     const uint32_t *value_lens)
{
	size_t total = 4;
	uint8_t *blob, *p;
	uint32_t off, cnt = (uint32_t)n;
	int ret;

	g_return_val_if_fail(idx < tree->n_nodes, -EINVAL);
	if (n == 0) {
		tree->nodes[idx].xattrs = LIMG_NONE;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);

		if (nl > UINT16_MAX)
			return -ENAMETOOLONG;
		total += 6 + nl + value_lens[i];
	}
	blob = malloc(total);
	if (!blob)
		return -ENOMEM;
	p = blob;
	memcpy(p, &cnt, 4);
	p += 4;
	for (size_t i = 0; i < n; i++) {
		uint16_t nl = (uint16_t)strlen(names[i]);

		memcpy(p, &nl, 2);
		memcpy(p + 2, &value_lens[i], 4);
		p += 6;
		memcpy(p, names[i], nl);
		p += nl;
		if (value_lens[i])
			memcpy(p, values[i], value_lens[i]);
		p += value_lens[i];
	}
	ret = limg_arena_append(&tree->strings, blob, total, &off);
	free(blob);
	if (ret < 0)
		return ret;
	tree->nodes[idx].xattrs = off;
	return 0;
}

/*
 * *cursor holds the index of the next attribute in its high 32 bits and
 * its byte offset in the blob in the low 32 bits (0 before the first).
 */
G_STATIC_ASSERT(sizeof(size_t) >= 8);
bool
limg_tree_xattr_next(const LimgTree *tree, const LimgNode *node, size_t *cursor,
                     const char **name, size_t *name_len,
                     const uint8_t **value, uint32_t *value_len)
{
	const uint8_t *base, *p;
	uint64_t c = *cursor;
	uint32_t cnt, index = (uint32_t)(c >> 32), off = (uint32_t)c;
	uint16_t nl;

	if (node->xattrs == LIMG_NONE)
		return false;
	base = (const uint8_t *)limg_arena_at(&tree->strings, node->xattrs);
	memcpy(&cnt, base, 4);
	if (index >= cnt)
		return false;
	p = base + (off ? off : 4);
	memcpy(&nl, p, 2);
	memcpy(value_len, p + 2, 4);
	*name = (const char *)p + 6;
	*name_len = nl;
	*value = p + 6 + nl;
	off = (uint32_t)(p + 6 + nl + *value_len - base);
	*cursor = (size_t)(((uint64_t)(index + 1) << 32) | off);
	return true;
}

char *
limg_tree_path(const LimgTree *tree, uint32_t idx)
{
	GPtrArray *parts = g_ptr_array_new();
	GString *s = g_string_new(NULL);

	while (idx != 0) {
		g_ptr_array_add(parts, (gpointer)limg_tree_name(tree, &tree->nodes[idx]));
		idx = tree->nodes[idx].parent;
	}
	for (guint i = parts->len; i > 0; i--) {
		if (s->len)
			g_string_append_c(s, '/');
		g_string_append(s, parts->pdata[i - 1]);
	}
	g_ptr_array_free(parts, TRUE);
	return g_string_free(s, FALSE);
}

void
limg_tree_seal(LimgTree *tree)
{
	if (tree->n_nodes && tree->n_nodes < tree->cap) {
		LimgNode *nn = realloc(tree->nodes, (size_t)tree->n_nodes * sizeof(*nn));

		if (nn) {
			tree->nodes = nn;
			tree->cap = tree->n_nodes;
		}
	}
	limg_arena_trim(&tree->strings);
}

size_t
limg_tree_mem_bytes(const LimgTree *tree)
{
	return (size_t)tree->cap * sizeof(LimgNode) + tree->strings.cap;
}
