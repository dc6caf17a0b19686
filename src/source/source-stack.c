/*
 * source-stack.c - a stack of layers as one source: the merged tree of
 * its parts (tree/overlay.h), content read through each node's origin,
 * from the part that holds it. See source.h.
 *
 * The parts are other sources with their trees (an image's layers, or an
 * image's flattened root plus a container's layers); the stack borrows
 * them and keeps them alive through the caller's hold. Nothing is read
 * twice and no data is copied: opening node N of the stack opens node
 * origin(N) of its part.
 *
 * A stack has no identity of its own for the disk cache: its tree is a
 * pure function of its parts' trees, which are cached on their own.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "source/source-internal.h"
#include "tree/overlay.h"

typedef struct {
	LimgSource base;
	LimgStackPart *parts;
	size_t n;
	GDestroyNotify release;
	gpointer hold;
	GMutex lock;
	/* protected by lock; set once by the (one) scan */
	LimgOrigin *origins;
	uint32_t n_origins;
} StackSource;

#define STACK(s) ((StackSource *)(s))

static int
stack_scan(LimgSource *src, const LimgScanOptions *opts, LimgReport *report, LimgTree **out,
           uint64_t *skipped)
{
	StackSource *s = STACK(src);
	g_autofree LimgOverlayLayer *layers = g_new0(LimgOverlayLayer, s->n);
	LimgOrigin *origins = NULL;
	int ret;

	for (size_t i = 0; i < s->n; i++) {
		layers[i].tree = s->parts[i].tree;
		layers[i].files_only = s->parts[i].files_only;
	}
	ret = limg_overlay_merge(layers, s->n, out, &origins);
	if (ret < 0)
		return ret;
	g_mutex_lock(&s->lock);
	g_free(s->origins);
	s->origins = origins;
	s->n_origins = (*out)->n_nodes;
	g_mutex_unlock(&s->lock);
	if (skipped)
		*skipped = 0;
	return 0;
}

static int
stack_identity(LimgSource *src, LimgSourceId *id)
{
	id->key = NULL;   /* never cached on its own */
	id->fingerprint = g_bytes_new(NULL, 0);
	return 0;
}

static int
stack_verify(LimgSource *src, const LimgTree *tree)
{
	return -ESTALE;
}

/* The part and part node that node @node of the merged tree came from. */
static int
origin_of(StackSource *s, uint32_t node, const LimgStackPart **part, uint32_t *pnode)
{
	LimgOrigin o;

	g_mutex_lock(&s->lock);
	if (!s->origins || node >= s->n_origins) {
		g_mutex_unlock(&s->lock);
		return -EINVAL;
	}
	o = s->origins[node];
	g_mutex_unlock(&s->lock);
	*part = &s->parts[o.layer];
	*pnode = o.node;
	return 0;
}

static int
stack_open(LimgSource *src, const LimgTree *tree, uint32_t node, LimgContent *out)
{
	const LimgStackPart *p;
	uint32_t pn;
	int ret = origin_of(STACK(src), node, &p, &pn);

	return ret < 0 ? ret : limg_source_open(p->source, p->tree, pn, out);
}

static int
stack_check(LimgSource *src, const LimgTree *tree, uint32_t node, const LimgContent *c)
{
	const LimgStackPart *p;
	uint32_t pn;
	int ret = origin_of(STACK(src), node, &p, &pn);

	return ret < 0 ? ret : limg_source_check(p->source, p->tree, pn, c);
}

static int
stack_present(LimgSource *src)
{
	StackSource *s = STACK(src);

	for (size_t i = 0; i < s->n; i++) {
		int ret = limg_source_present(s->parts[i].source);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static void
stack_free(LimgSource *src)
{
	StackSource *s = STACK(src);

	if (s->release)
		s->release(s->hold);
	g_free(s->parts);
	g_free(s->origins);
	g_mutex_clear(&s->lock);
	g_free(s);
}

static const LimgSourceOps stack_ops = {
	.kind = "stack",
	.scan = stack_scan,
	.identity = stack_identity,
	.verify = stack_verify,
	.open = stack_open,
	.check = stack_check,
	.present = stack_present,
	.free = stack_free,
};

int
limg_stack_source_new(const LimgStackPart *parts, size_t n, GDestroyNotify release,
                      gpointer hold, LimgSource **out)
{
	StackSource *s;

	*out = NULL;
	if (n == 0)
		return -EINVAL;
	s = g_new0(StackSource, 1);
	s->base.ops = &stack_ops;
	s->parts = g_memdup2(parts, n * sizeof(*parts));
	s->n = n;
	s->release = release;
	s->hold = hold;
	g_mutex_init(&s->lock);
	*out = &s->base;
	return 0;
}

int
limg_stack_source_origin(LimgSource *src, uint32_t node, size_t *part, uint32_t *part_node)
{
	const LimgStackPart *p;
	uint32_t pn;
	int ret;

	if (src->ops != &stack_ops)
		return -EINVAL;
	ret = origin_of(STACK(src), node, &p, &pn);
	if (ret == 0) {
		*part = (size_t)(p - STACK(src)->parts);
		*part_node = pn;
	}
	return ret;
}
