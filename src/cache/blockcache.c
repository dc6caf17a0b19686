/*
 * blockcache.c - rendered blocks under one memory budget; see
 * blockcache.h.
 *
 * A hash table finds (owner, lba); an intrusive doubly linked list keeps
 * recency (head = most recent). Two threads missing the same block both
 * render it; the second insert finds the first and drops its own copy,
 * which is cheaper than making readers wait on each other.
 */
#include <config.h>

#include <string.h>

#include "cache/blockcache.h"
#include "iso/ecma119.h"

typedef struct Entry Entry;
struct Entry {
	gconstpointer owner;
	uint32_t lba;
	GBytes *data;
	Entry *prev;            /* towards the head (more recent) */
	Entry *next;
};

struct LimgBlockCache {
	GMutex lock;
	/* protected by lock */
	GHashTable *map;        /* Entry * -> Entry * (key is the entry) */
	Entry *head;
	Entry *tail;
	LimgBlockCacheStats st;
};

static guint
entry_hash(gconstpointer p)
{
	const Entry *e = p;

	return g_direct_hash(e->owner) ^ (e->lba * 2654435761u);
}

static gboolean
entry_equal(gconstpointer a, gconstpointer b)
{
	const Entry *x = a, *y = b;

	return x->owner == y->owner && x->lba == y->lba;
}

static void
unlink_entry(LimgBlockCache *c, Entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
push_head(LimgBlockCache *c, Entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void
remove_entry(LimgBlockCache *c, Entry *e)
{
	unlink_entry(c, e);
	g_hash_table_remove(c->map, e);
	c->st.bytes -= ISO_BLOCK_SIZE;
	c->st.blocks--;
	g_bytes_unref(e->data);
	g_free(e);
}

LimgBlockCache *
limg_block_cache_new(size_t budget)
{
	LimgBlockCache *c = g_new0(LimgBlockCache, 1);

	g_mutex_init(&c->lock);
	c->map = g_hash_table_new(entry_hash, entry_equal);
	c->st.budget = budget < ISO_BLOCK_SIZE ? ISO_BLOCK_SIZE : budget;
	return c;
}

void
limg_block_cache_free(LimgBlockCache *c)
{
	if (!c)
		return;
	while (c->head)
		remove_entry(c, c->head);
	g_hash_table_destroy(c->map);
	g_mutex_clear(&c->lock);
	g_free(c);
}

GBytes *
limg_block_cache_get(LimgBlockCache *c, gconstpointer owner, uint32_t lba, LimgRenderFn render)
{
	Entry key = { .owner = owner, .lba = lba }, *e;
	uint8_t *buf;
	GBytes *data;

	g_mutex_lock(&c->lock);
	e = g_hash_table_lookup(c->map, &key);
	if (e) {
		unlink_entry(c, e);
		push_head(c, e);
		c->st.hits++;
		data = g_bytes_ref(e->data);
		g_mutex_unlock(&c->lock);
		return data;
	}
	c->st.misses++;
	g_mutex_unlock(&c->lock);

	buf = g_malloc(ISO_BLOCK_SIZE);
	if (render(owner, lba, buf) < 0) {
		g_free(buf);
		return NULL;
	}
	data = g_bytes_new_take(buf, ISO_BLOCK_SIZE);

	g_mutex_lock(&c->lock);
	e = g_hash_table_lookup(c->map, &key);
	if (e) {
		/* Rendered twice concurrently: keep the first. */
		g_bytes_unref(data);
		data = g_bytes_ref(e->data);
		g_mutex_unlock(&c->lock);
		return data;
	}
	e = g_new0(Entry, 1);
	e->owner = owner;
	e->lba = lba;
	e->data = g_bytes_ref(data);
	g_hash_table_add(c->map, e);
	push_head(c, e);
	c->st.bytes += ISO_BLOCK_SIZE;
	c->st.blocks++;
	while (c->st.bytes > c->st.budget && c->tail && c->tail != e) {
		remove_entry(c, c->tail);
		c->st.evictions++;
	}
	g_mutex_unlock(&c->lock);
	return data;
}

void
limg_block_cache_drop_owner(LimgBlockCache *c, gconstpointer owner)
{
	g_mutex_lock(&c->lock);
	for (Entry *e = c->head, *next; e; e = next) {
		next = e->next;
		if (e->owner == owner)
			remove_entry(c, e);
	}
	g_mutex_unlock(&c->lock);
}

void
limg_block_cache_stats(LimgBlockCache *c, LimgBlockCacheStats *out)
{
	g_mutex_lock(&c->lock);
	*out = c->st;
	g_mutex_unlock(&c->lock);
}
