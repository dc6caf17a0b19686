/*
 * tree-check.c - assertions about built trees (tree.h) for the suites of
 * the tree builder and the sources: the tree invariant, a lookup by path,
 * and a dump of every field for comparing two trees; see testlib.h.
 */
#include <config.h>

#include "lib/testlib.h"

static int
name_cmp(const LimgTree *t, const LimgNode *a, const LimgNode *b)
{
	size_t n = MIN(a->name_len, b->name_len);
	int r = memcmp(limg_tree_name(t, a), limg_tree_name(t, b), n);

	return r ? r : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

void
th_expect_tree_invariant(const LimgTree *t)
{
	g_autofree uint32_t *owner = NULL;

	cr_assert_not_null(t);
	cr_assert_gt(t->n_nodes, 0);
	owner = g_new0(uint32_t, t->n_nodes);
	cr_expect(S_ISDIR(t->nodes[0].mode), "the root is a directory");
	for (uint32_t d = 0; d < t->n_nodes; d++) {
		const LimgNode *dn = &t->nodes[d];

		if (!S_ISDIR(dn->mode)) {
			cr_expect_eq(dn->nchildren, 0);
			continue;
		}
		cr_assert_leq((uint64_t)dn->first_child + dn->nchildren, t->n_nodes);
		for (uint32_t c = dn->first_child; c < dn->first_child + dn->nchildren; c++) {
			const LimgNode *cn = &t->nodes[c];

			cr_expect_gt(c, 0);
			cr_expect_eq(cn->parent, d);
			cr_expect_eq(owner[c], 0, "node %u listed twice", c);
			owner[c] = d + 1;
			if (c > dn->first_child) {
				const LimgNode *pn = &t->nodes[c - 1];

				cr_expect_lt(name_cmp(t, pn, cn), 0, "%s before %s",
				             limg_tree_name(t, pn), limg_tree_name(t, cn));
			}
		}
	}
	for (uint32_t i = 1; i < t->n_nodes; i++)
		cr_expect_neq(owner[i], 0, "node %u is nobody's child", i);
}

uint32_t
th_tree_find(const LimgTree *t, const char *path)
{
	uint32_t cur = 0;
	const char *p = path;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		const LimgNode *d = &t->nodes[cur];
		uint32_t next = LIMG_NONE;

		if (!S_ISDIR(d->mode))
			return LIMG_NONE;
		for (uint32_t c = d->first_child; c < d->first_child + d->nchildren; c++) {
			const LimgNode *cn = &t->nodes[c];

			if (cn->name_len == len && memcmp(limg_tree_name(t, cn), p, len) == 0) {
				next = c;
				break;
			}
		}
		if (next == LIMG_NONE)
			return LIMG_NONE;
		cur = next;
		p += len;
		if (*p == '/')
			p++;
	}
	return cur;
}

const LimgNode *
th_tree_node(const LimgTree *t, const char *path)
{
	uint32_t i = th_tree_find(t, path);

	cr_assert_neq(i, LIMG_NONE, "no node '%s'", path);
	return &t->nodes[i];
}

static void
put_bytes(GString *s, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		if (b[i] > ' ' && b[i] < 0x7f && b[i] != '\\' && b[i] != '=' && b[i] != ',')
			g_string_append_c(s, (char)b[i]);
		else
			g_string_append_printf(s, "\\x%02x", b[i]);
	}
}

char *
th_tree_xattrs(const LimgTree *t, const LimgNode *n)
{
	GString *s = g_string_new(NULL);
	size_t cursor = 0, nl;
	const char *name;
	const uint8_t *value;
	uint32_t vl;

	while (limg_tree_xattr_next(t, n, &cursor, &name, &nl, &value, &vl)) {
		if (s->len)
			g_string_append_c(s, ',');
		put_bytes(s, name, nl);
		g_string_append_c(s, '=');
		put_bytes(s, value, vl);
	}
	return g_string_free(s, FALSE);
}

void
th_expect_xattrs(const LimgTree *t, const char *path, const char *want)
{
	g_autofree char *got = th_tree_xattrs(t, th_tree_node(t, path));

	cr_expect_str_eq(got, want, "xattrs of '%s': '%s', not '%s'", path, got, want);
}

void
th_expect_absent(const LimgTree *t, const char *path)
{
	cr_expect_eq(th_tree_find(t, path), LIMG_NONE, "'%s' is in the tree", path);
}

char *
th_tree_dump(const LimgTree *t, ThDumpFlags flags)
{
	GString *s = g_string_new(NULL);

	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];
		const char *target = limg_tree_target(t, n);
		g_autofree char *x = th_tree_xattrs(t, n);

		g_string_append_printf(s, "%u p=%u fc=%u nc=%u ", i, n->parent, n->first_child,
		                       n->nchildren);
		put_bytes(s, limg_tree_name(t, n), n->name_len);
		g_string_append_printf(s, " mode=%o uid=%u gid=%u nlink=%u rdev=%u:%u size=%"
		                       PRIu64 " mtime=%" PRId64 ".%09u", n->mode, n->uid, n->gid,
		                       n->nlink, n->rdev_major, n->rdev_minor, n->size,
		                       n->mtime.sec, n->mtime.nsec);
		if (flags & TH_DUMP_IDS)
			g_string_append_printf(s, " ino=%" PRIu64 " dev=%" PRIu64 " ctime=%" PRId64
			                       ".%09u", n->ino, n->dev, n->ctime.sec,
			                       n->ctime.nsec);
		if (target) {
			g_string_append(s, " -> ");
			put_bytes(s, target, strlen(target));
		}
		if (*x)
			g_string_append_printf(s, " [%s]", x);
		g_string_append_c(s, '\n');
	}
	return g_string_free(s, FALSE);
}
