/*
 * handles.c - the fd cache; see handles.h.
 *
 * A hash table finds (owner, node); an intrusive list keeps recency
 * (head = most recent). Two threads missing the same node both open it;
 * the second insert finds the first and gives its own fd back, which is
 * cheaper than making readers wait for each other's opens.
 */
#include <config.h>

#include "cache/handles.h"

struct LimgHandle {
	gint refs;
	gconstpointer owner;
	uint32_t node;
	LimgContent content;
	LimgHandle *prev;       /* towards the head (more recent) */
	LimgHandle *next;
};

struct LimgHandles {
	GMutex lock;
	/* protected by lock */
	GHashTable *map;        /* LimgHandle * (its own key) */
	LimgHandle *head;
	LimgHandle *tail;
	unsigned count;
	unsigned capacity;
};

static guint
handle_hash(gconstpointer p)
{
	const LimgHandle *e = p;

	return g_direct_hash(e->owner) ^ (e->node * 2654435761u);
}

static gboolean
handle_equal(gconstpointer a, gconstpointer b)
{
	const LimgHandle *x = a, *y = b;

	return x->owner == y->owner && x->node == y->node;
}

static void
unlink_handle(LimgHandles *h, LimgHandle *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		h->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		h->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
push_head(LimgHandles *h, LimgHandle *e)
{
	e->prev = NULL;
	e->next = h->head;
	if (h->head)
		h->head->prev = e;
	h->head = e;
	if (!h->tail)
		h->tail = e;
}

/* Take @e out of the cache; the caller drops the cache's reference. */
static void
evict(LimgHandles *h, LimgHandle *e)
{
	unlink_handle(h, e);
	g_hash_table_remove(h->map, e);
	h->count--;
}

void
limg_handle_unref(LimgHandle *e)
{
	if (e && g_atomic_int_dec_and_test(&e->refs)) {
		limg_content_release(&e->content);
		g_free(e);
	}
}

LimgHandles *
limg_handles_new(unsigned capacity)
{
	LimgHandles *h = g_new0(LimgHandles, 1);

	g_mutex_init(&h->lock);
	h->map = g_hash_table_new(handle_hash, handle_equal);
	h->capacity = capacity ? capacity : 1;
	return h;
}

void
limg_handles_free(LimgHandles *h)
{
	if (!h)
		return;
	while (h->head) {
		LimgHandle *e = h->head;

		evict(h, e);
		limg_handle_unref(e);
	}
	g_hash_table_destroy(h->map);
	g_mutex_clear(&h->lock);
	g_free(h);
}

const LimgContent *
limg_handle_content(const LimgHandle *e)
{
	return &e->content;
}

int
limg_handles_get(LimgHandles *h, gconstpointer owner, uint32_t node, LimgHandleOpenFn open,
                 void *ctx, LimgHandle **out, bool *fresh)
{
	LimgHandle key = { .owner = owner, .node = node }, *e, *victim = NULL;
	LimgContent c = { .fd = -1 };
	int ret;

	if (fresh)
		*fresh = false;
	g_mutex_lock(&h->lock);
	e = g_hash_table_lookup(h->map, &key);
	if (e) {
		unlink_handle(h, e);
		push_head(h, e);
		g_atomic_int_inc(&e->refs);
		g_mutex_unlock(&h->lock);
		*out = e;
		return 0;
	}
	g_mutex_unlock(&h->lock);

	ret = open(ctx, node, &c);
	if (ret < 0)
		return ret;
	e = g_new0(LimgHandle, 1);
	e->refs = 2;            /* the cache's and the caller's */
	e->owner = owner;
	e->node = node;
	e->content = c;

	g_mutex_lock(&h->lock);
	{
		LimgHandle *other = g_hash_table_lookup(h->map, &key);

		if (other) {
			/* Opened twice concurrently: keep the first. */
			g_atomic_int_inc(&other->refs);
			g_mutex_unlock(&h->lock);
			e->refs = 1;
			limg_handle_unref(e);
			*out = other;
			return 0;
		}
	}
	g_hash_table_add(h->map, e);
	push_head(h, e);
	h->count++;
	if (h->count > h->capacity) {
		victim = h->tail;
		evict(h, victim);
	}
	g_mutex_unlock(&h->lock);
	limg_handle_unref(victim);   /* closes outside the lock */
	if (fresh)
		*fresh = true;
	*out = e;
	return 0;
}

void
limg_handles_forget(LimgHandles *h, gconstpointer owner, uint32_t node)
{
	LimgHandle key = { .owner = owner, .node = node }, *e;

	g_mutex_lock(&h->lock);
	e = g_hash_table_lookup(h->map, &key);
	if (e)
		evict(h, e);
	g_mutex_unlock(&h->lock);
	limg_handle_unref(e);
}

void
limg_handles_drop_owner(LimgHandles *h, gconstpointer owner)
{
	GPtrArray *gone = g_ptr_array_new_with_free_func((GDestroyNotify)limg_handle_unref);

	g_mutex_lock(&h->lock);
	for (LimgHandle *e = h->head, *next; e; e = next) {
		next = e->next;
		if (e->owner == owner) {
			evict(h, e);
			g_ptr_array_add(gone, e);
		}
	}
	g_mutex_unlock(&h->lock);
	g_ptr_array_free(gone, TRUE);
}

unsigned
limg_handles_count(LimgHandles *h)
{
	unsigned n;

	g_mutex_lock(&h->lock);
	n = h->count;
	g_mutex_unlock(&h->lock);
	return n;
}
