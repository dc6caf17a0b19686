/*
 * bolt.c - a read-only BoltDB reader; see bolt.h for the format and the
 * checks.
 *
 * The whole file is one buffer; a page is looked at through a PageView
 * that has been checked once (header, element table, every key and
 * value inside the page, keys ascending), so the code after that never
 * tests a bound again. Offsets are computed in 64 bits from 32-bit
 * fields and compared with the page's length before any pointer is
 * formed.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/bolt.h"

#define BOLT_MAGIC 0xED0CDAEDu
#define BOLT_VERSION 2u

#define PAGE_HEADER 16u           /* id u64, flags u16, count u16, overflow u32 */
#define ELEM_SIZE 16u             /* branch and leaf element headers alike */
#define META_SIZE 64u             /* the meta fields, checksum included */
#define META_SUMMED 56u           /* the fields the checksum covers */
#define BUCKET_HEADER 16u         /* root pgid u64, sequence u64 */

#define PAGE_BRANCH 0x01u
#define PAGE_LEAF 0x02u
#define PAGE_META 0x04u
#define LEAF_BUCKET 0x01u

#define NO_FREELIST UINT64_MAX    /* bbolt's NoFreelistSync: no freelist page */

#define MIN_PAGE_SIZE 512u
#define MAX_PAGE_SIZE (1u << 20)
#define OPEN_ATTEMPTS 4

struct LimgBolt {
	GBytes *bytes;
	const uint8_t *data;
	size_t size;
	uint32_t page_size;
	uint64_t npages;          /* high-water mark: pages [0, npages) exist */
	uint64_t root;            /* the root bucket's page */
	uint64_t root_sequence;
	uint64_t txid;
};

typedef struct {
	uint32_t page_size;
	uint64_t root;
	uint64_t root_sequence;
	uint64_t freelist;
	uint64_t npages;
	uint64_t txid;
} Meta;

/* A checked page: a real one (pgid >= 2) or an inline bucket's (pgid 0). */
typedef struct {
	uint64_t pgid;
	const uint8_t *base;      /* the page header */
	size_t len;               /* bytes from base that belong to the page */
	uint16_t flags;
	uint16_t count;
} PageView;

/* One element of a checked page. */
typedef struct {
	const uint8_t *key;
	size_t klen;
	uint32_t flags;           /* leaf elements */
	const uint8_t *value;     /* leaf elements */
	size_t vlen;
	uint64_t child;           /* branch elements */
} Elem;

/* A bucket found by path: where its keys are. */
typedef struct {
	uint64_t root;            /* 0: inline, in @inline_page */
	uint64_t sequence;
	PageView inline_page;
} Bucket;

/* ------------------------------------------------------------ decoding */

static inline uint16_t
get_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return GUINT16_FROM_LE(v);
}

static inline uint32_t
get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return GUINT32_FROM_LE(v);
}

static inline uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return GUINT64_FROM_LE(v);
}

static uint64_t
fnv1a64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* bytes.Compare. */
static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, MIN(alen, blen));

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* ------------------------------------------------------------ meta */

/*
 * The meta page at byte @off, which must be page @index: true and *@m if
 * its header, magic, version, checksum and page size are right. Its page
 * ids are checked later, against the file, for the one in use only.
 */
static bool
meta_read(const uint8_t *data, size_t size, size_t off, uint64_t index, Meta *m)
{
	const uint8_t *p, *f;

	if (off > size || size - off < PAGE_HEADER + META_SIZE)
		return false;
	p = data + off;
	f = p + PAGE_HEADER;
	if (get_u64(p) != index || get_u16(p + 8) != PAGE_META)
		return false;
	if (get_u32(f) != BOLT_MAGIC || get_u32(f + 4) != BOLT_VERSION)
		return false;
	if (get_u64(f + 56) != fnv1a64(f, META_SUMMED))
		return false;
	m->page_size = get_u32(f + 8);
	m->root = get_u64(f + 16);
	m->root_sequence = get_u64(f + 24);
	m->freelist = get_u64(f + 32);
	m->npages = get_u64(f + 40);
	m->txid = get_u64(f + 48);
	if (m->page_size < MIN_PAGE_SIZE || m->page_size > MAX_PAGE_SIZE)
		return false;
	/* bbolt writes the meta of txid T into page T % 2. */
	return m->txid % 2 == index;
}

/* The newest valid meta; the page size comes from meta 0, else meta 1. */
static int
meta_pick(const uint8_t *data, size_t size, Meta *out)
{
	Meta m0, m1;
	bool ok0 = meta_read(data, size, 0, 0, &m0);
	bool ok1 = false;

	if (ok0) {
		ok1 = meta_read(data, size, m0.page_size, 1, &m1) && m1.page_size == m0.page_size;
	} else {
		/*
		 * Meta 0 is damaged, so its page size is unknown: look for a
		 * meta 1 that sits where its own page size says, most likely
		 * at 4096.
		 */
		ok1 = meta_read(data, size, 4096, 1, &m1) && m1.page_size == 4096;
		for (uint32_t ps = MIN_PAGE_SIZE; !ok1 && ps <= MAX_PAGE_SIZE; ps <<= 1)
			ok1 = ps != 4096 && meta_read(data, size, ps, 1, &m1) && m1.page_size == ps;
	}
	if (!ok0 && !ok1)
		return -EBADMSG;
	*out = ok0 && (!ok1 || m0.txid > m1.txid) ? m0 : m1;
	return 0;
}

/* The meta in use must describe pages that are all in the file. */
static int
meta_check(const Meta *m, size_t size)
{
	uint64_t in_file = size / m->page_size;

	if (m->npages < 3 || m->npages > in_file)
		return -EBADMSG;
	if (m->root < 2 || m->root >= m->npages)
		return -EBADMSG;
	if (m->freelist != NO_FREELIST && (m->freelist < 2 || m->freelist >= m->npages))
		return -EBADMSG;
	return 0;
}

/* ------------------------------------------------------------ pages */

/*
 * Check page @pv (base, len, flags and count filled in): a branch or leaf
 * page, every element header, key and value inside its @len bytes, keys
 * non-empty and strictly ascending, no unknown leaf flags.
 */
static int
page_check(PageView *pv)
{
	const uint8_t *prev = NULL;
	size_t prev_len = 0;

	if (pv->flags != PAGE_BRANCH && pv->flags != PAGE_LEAF)
		return -EBADMSG;
	if (pv->flags == PAGE_BRANCH && pv->count == 0)
		return -EBADMSG;
	if ((pv->len - PAGE_HEADER) / ELEM_SIZE < pv->count)
		return -EBADMSG;
	for (uint32_t i = 0; i < pv->count; i++) {
		uint64_t at = PAGE_HEADER + (uint64_t)i * ELEM_SIZE;
		const uint8_t *e = pv->base + at;
		uint64_t pos, klen, vlen = 0, end;

		if (pv->flags == PAGE_BRANCH) {
			pos = get_u32(e);
			klen = get_u32(e + 4);
		} else {
			uint32_t flags = get_u32(e);

			if (flags & ~LEAF_BUCKET)
				return -EBADMSG;
			pos = get_u32(e + 4);
			klen = get_u32(e + 8);
			vlen = get_u32(e + 12);
		}
		end = at + pos + klen + vlen;     /* < 2^35: cannot wrap */
		if (klen == 0 || end > pv->len)
			return -EBADMSG;
		if (prev && key_cmp(prev, prev_len, e + pos, klen) >= 0)
			return -EBADMSG;
		prev = e + pos;
		prev_len = klen;
	}
	return 0;
}

/* Element @i of checked page @pv. */
static void
page_elem(const PageView *pv, uint32_t i, Elem *el)
{
	const uint8_t *e = pv->base + PAGE_HEADER + (size_t)i * ELEM_SIZE;

	memset(el, 0, sizeof(*el));
	if (pv->flags == PAGE_BRANCH) {
		el->key = e + get_u32(e);
		el->klen = get_u32(e + 4);
		el->child = get_u64(e + 8);
	} else {
		el->flags = get_u32(e);
		el->key = e + get_u32(e + 4);
		el->klen = get_u32(e + 8);
		el->vlen = get_u32(e + 12);
		el->value = el->key + el->klen;
	}
}

/* Page @pgid of the file, checked. */
static int
page_get(const LimgBolt *db, uint64_t pgid, PageView *pv)
{
	const uint8_t *p;
	uint64_t overflow;

	/* Pages 0 and 1 are the metas; npages * page_size <= size. */
	if (pgid < 2 || pgid >= db->npages)
		return -EBADMSG;
	p = db->data + pgid * db->page_size;
	overflow = get_u32(p + 12);
	if (get_u64(p) != pgid || overflow >= db->npages - pgid)
		return -EBADMSG;
	pv->pgid = pgid;
	pv->base = p;
	pv->len = (size_t)((1 + overflow) * db->page_size);
	pv->flags = get_u16(p + 8);
	pv->count = get_u16(p + 10);
	return page_check(pv);
}

/* ------------------------------------------------------------ buckets */

static void
bucket_root(const LimgBolt *db, Bucket *b)
{
	memset(b, 0, sizeof(*b));
	b->root = db->root;
	b->sequence = db->root_sequence;
}

/* The bucket whose header is the value @v of @vlen bytes. */
static int
bucket_from_value(const uint8_t *v, size_t vlen, Bucket *b)
{
	memset(b, 0, sizeof(*b));
	if (vlen < BUCKET_HEADER)
		return -EBADMSG;
	b->root = get_u64(v);
	b->sequence = get_u64(v + 8);
	if (b->root != 0)
		return 0;
	/* Inline: a leaf page (bbolt inlines only buckets without sub-buckets). */
	if (vlen - BUCKET_HEADER < PAGE_HEADER)
		return -EBADMSG;
	b->inline_page.pgid = 0;
	b->inline_page.base = v + BUCKET_HEADER;
	b->inline_page.len = vlen - BUCKET_HEADER;
	b->inline_page.flags = get_u16(b->inline_page.base + 8);
	b->inline_page.count = get_u16(b->inline_page.base + 10);
	if (b->inline_page.flags != PAGE_LEAF)
		return -EBADMSG;
	return page_check(&b->inline_page);
}

/* The first page of bucket @b. */
static int
bucket_first_page(const LimgBolt *db, const Bucket *b, PageView *pv)
{
	if (b->root == 0) {
		*pv = b->inline_page;
		return 0;
	}
	return page_get(db, b->root, pv);
}

/* A key range: [lo, hi), either end open when NULL. */
typedef struct {
	const uint8_t *lo, *hi;
	size_t lo_len, hi_len;
} Range;

/*
 * Do the keys of checked page @pv lie in @r? (They are ascending, so the
 * first and the last tell.) A branch's element i leads to the keys from
 * its own key to the next one's: bbolt's lookups depend on it, so a page
 * that breaks it is damaged, and a lookup would miss keys in it.
 */
static bool
page_in_range(const PageView *pv, const Range *r)
{
	Elem first, last;

	if (pv->count == 0)
		return true;
	page_elem(pv, 0, &first);
	page_elem(pv, pv->count - 1u, &last);
	if (r->lo && key_cmp(first.key, first.klen, r->lo, r->lo_len) < 0)
		return false;
	if (r->hi && key_cmp(last.key, last.klen, r->hi, r->hi_len) >= 0)
		return false;
	return true;
}

/*
 * Find @key in bucket @b: 0 and its leaf element in *@el, -ENOENT, or
 * -EBADMSG. One descent: at most LIMG_BOLT_MAX_DEPTH pages, none twice,
 * each page's keys within the range its parent gives it.
 */
static int
bucket_find(const LimgBolt *db, const Bucket *b, const uint8_t *key, size_t klen, Elem *el)
{
	uint64_t path[LIMG_BOLT_MAX_DEPTH];
	Range r = { NULL, NULL, 0, 0 };
	PageView pv;
	int ret = bucket_first_page(db, b, &pv);

	for (unsigned depth = 0; ret == 0; depth++) {
		uint32_t lo = 0, hi = pv.count, i;

		if (depth >= LIMG_BOLT_MAX_DEPTH || !page_in_range(&pv, &r))
			return -EBADMSG;
		for (unsigned j = 0; j < depth; j++) {
			if (path[j] == pv.pgid)
				return -EBADMSG;
		}
		path[depth] = pv.pgid;

		if (pv.flags == PAGE_LEAF) {
			while (lo < hi) {
				uint32_t mid = lo + (hi - lo) / 2;
				int c;

				page_elem(&pv, mid, el);
				c = key_cmp(el->key, el->klen, key, klen);
				if (c == 0)
					return 0;
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			return -ENOENT;
		}
		/* Branch: the last child whose first key is <= @key (or the first). */
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			page_elem(&pv, mid, el);
			if (key_cmp(el->key, el->klen, key, klen) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		i = lo ? lo - 1 : 0;
		if (i + 1u < pv.count) {
			Elem next;

			page_elem(&pv, i + 1, &next);
			r.hi = next.key;
			r.hi_len = next.klen;
		}
		page_elem(&pv, i, el);
		if (i > 0) {
			r.lo = el->key;
			r.lo_len = el->klen;
		}
		ret = page_get(db, el->child, &pv);
	}
	return ret;
}

/* The bucket at @path: 0 and *@b, -ENOENT, -ENOTDIR, -EBADMSG. */
static int
bucket_walk(const LimgBolt *db, const char *const *path, Bucket *b)
{
	bucket_root(db, b);
	for (size_t i = 0; path && path[i]; i++) {
		Elem el;
		int ret = bucket_find(db, b, (const uint8_t *)path[i], strlen(path[i]), &el);

		if (ret)
			return ret;
		if (!(el.flags & LEAF_BUCKET))
			return -ENOTDIR;
		ret = bucket_from_value(el.value, el.vlen, b);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------ listing */

typedef struct {
	const LimgBolt *db;
	GHashTable *seen;         /* pgids visited by this listing */
	GPtrArray *items;
	const uint8_t *last;      /* the last key listed */
	size_t last_len;
} Lister;

static int
list_leaf(Lister *ls, const PageView *pv)
{
	for (uint32_t i = 0; i < pv->count; i++) {
		LimgBoltItem *it;
		Elem el;

		page_elem(pv, i, &el);
		if (ls->last && key_cmp(ls->last, ls->last_len, el.key, el.klen) >= 0)
			return -EBADMSG;
		ls->last = el.key;
		ls->last_len = el.klen;

		it = g_new0(LimgBoltItem, 1);
		it->key = g_malloc(el.klen + 1);
		memcpy(it->key, el.key, el.klen);
		it->key[el.klen] = '\0';
		it->key_len = el.klen;
		g_ptr_array_add(ls->items, it);
		if (el.flags & LEAF_BUCKET) {
			/*
			 * Only the header: a sub-bucket's pages (or inline page)
			 * are checked when it is asked for.
			 */
			if (el.vlen < BUCKET_HEADER)
				return -EBADMSG;
			it->is_bucket = true;
			it->sequence = get_u64(el.value + 8);
		} else {
			it->value = g_bytes_new(el.value, el.vlen);
		}
	}
	return 0;
}

/* List page @pv, whose keys must lie in @r, and the pages below it. */
static int
list_page(Lister *ls, const PageView *pv, const Range *r, unsigned depth)
{
	if (depth >= LIMG_BOLT_MAX_DEPTH || !page_in_range(pv, r))
		return -EBADMSG;
	if (pv->pgid) {
		if (g_hash_table_contains(ls->seen, GSIZE_TO_POINTER(pv->pgid)))
			return -EBADMSG;
		g_hash_table_add(ls->seen, GSIZE_TO_POINTER(pv->pgid));
	}
	if (pv->flags == PAGE_LEAF)
		return list_leaf(ls, pv);
	for (uint32_t i = 0; i < pv->count; i++) {
		Range sub = *r;
		PageView child;
		Elem el, next;
		int ret;

		/* As a lookup would go: child i holds [key i, key i+1). */
		page_elem(pv, i, &el);
		if (i > 0) {
			sub.lo = el.key;
			sub.lo_len = el.klen;
		}
		if (i + 1u < pv->count) {
			page_elem(pv, i + 1, &next);
			sub.hi = next.key;
			sub.hi_len = next.klen;
		}
		ret = page_get(ls->db, el.child, &child);
		if (ret == 0)
			ret = list_page(ls, &child, &sub, depth + 1);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------ open */

static int
open_checked(GBytes *bytes, LimgBolt **out)
{
	gsize size;
	const uint8_t *data = g_bytes_get_data(bytes, &size);
	LimgBolt *db;
	Meta m;
	int ret;

	*out = NULL;
	if (!data)
		return -EBADMSG;
	ret = meta_pick(data, size, &m);
	if (ret == 0)
		ret = meta_check(&m, size);
	if (ret)
		return ret;
	db = g_new0(LimgBolt, 1);
	db->bytes = g_bytes_ref(bytes);
	db->data = data;
	db->size = size;
	db->page_size = m.page_size;
	db->npages = m.npages;
	db->root = m.root;
	db->root_sequence = m.root_sequence;
	db->txid = m.txid;
	*out = db;
	return 0;
}

int
limg_bolt_open_bytes(GBytes *data, LimgBolt **out)
{
	g_return_val_if_fail(data && out, -EINVAL);
	return open_checked(data, out);
}

/* Read all of @fd from offset 0: 0 and *@out, or -errno. */
static int
read_all(int fd, GBytes **out)
{
	struct stat st;
	size_t cap, len = 0;
	uint8_t *buf;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > LIMG_BOLT_MAX_SIZE)
		return -EFBIG;
	/* One more byte than the size: a read that fills it means the file grew. */
	cap = (size_t)st.st_size + 1;
	buf = g_malloc(cap);
	for (;;) {
		ssize_t n = pread(fd, buf + len, cap - len, (off_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			g_free(buf);
			return err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			if (cap > LIMG_BOLT_MAX_SIZE) {
				g_free(buf);
				return -EFBIG;
			}
			cap = MIN(cap * 2, LIMG_BOLT_MAX_SIZE + 1);
			buf = g_realloc(buf, cap);
		}
	}
	*out = g_bytes_new_take(buf, len);
	return 0;
}

/* Do the meta pages of @fd still hold what @db was read with? */
static bool
metas_unchanged(int fd, const LimgBolt *db)
{
	const size_t n = PAGE_HEADER + META_SIZE;
	uint8_t now[PAGE_HEADER + META_SIZE];

	for (size_t i = 0; i < 2; i++) {
		size_t off = i * db->page_size;

		if (pread(fd, now, n, (off_t)off) != (ssize_t)n)
			return false;
		if (memcmp(now, db->data + off, n) != 0)
			return false;
	}
	return true;
}

int
limg_bolt_openat(int dir_fd, const char *path, LimgBolt **out)
{
	int ret = -EAGAIN;
	int fd;

	g_return_val_if_fail(path && out, -EINVAL);
	*out = NULL;
	/* O_NONBLOCK: a FIFO in its place must not hang the open (regular files ignore it). */
	fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	for (int attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
		g_autoptr(GBytes) bytes = NULL;
		LimgBolt *db = NULL;

		ret = read_all(fd, &bytes);
		if (ret)
			break;
		ret = open_checked(bytes, &db);
		if (ret)
			break;
		if (metas_unchanged(fd, db)) {
			*out = db;
			break;
		}
		/* Committed to while we read it: once more from the top. */
		limg_bolt_close(db);
		ret = -EAGAIN;
	}
	close(fd);
	return ret;
}

int
limg_bolt_open(const char *path, LimgBolt **out)
{
	return limg_bolt_openat(AT_FDCWD, path, out);
}

void
limg_bolt_close(LimgBolt *db)
{
	if (!db)
		return;
	g_bytes_unref(db->bytes);
	g_free(db);
}

uint64_t
limg_bolt_txid(const LimgBolt *db)
{
	return db->txid;
}

uint32_t
limg_bolt_page_size(const LimgBolt *db)
{
	return db->page_size;
}

/* ------------------------------------------------------------ lookups */

int
limg_bolt_bucket(const LimgBolt *db, const char *const *bucket, uint64_t *sequence)
{
	Bucket b;
	PageView pv;
	int ret;

	g_return_val_if_fail(db, -EINVAL);
	ret = bucket_walk(db, bucket, &b);
	/* The bucket's first page must be readable for it to exist. */
	if (ret == 0)
		ret = bucket_first_page(db, &b, &pv);
	if (ret == 0 && sequence)
		*sequence = b.sequence;
	return ret;
}

int
limg_bolt_get(const LimgBolt *db, const char *const *bucket, const char *key, GBytes **value)
{
	Bucket b;
	Elem el;
	int ret;

	g_return_val_if_fail(db && key && value, -EINVAL);
	*value = NULL;
	ret = bucket_walk(db, bucket, &b);
	if (ret == 0)
		ret = bucket_find(db, &b, (const uint8_t *)key, strlen(key), &el);
	if (ret)
		return ret;
	if (el.flags & LEAF_BUCKET)
		return -EISDIR;
	*value = g_bytes_new(el.value, el.vlen);
	return 0;
}

int
limg_bolt_get_string(const LimgBolt *db, const char *const *bucket, const char *key,
                     char **value)
{
	g_autoptr(GBytes) bytes = NULL;
	const char *data;
	gsize len;
	int ret;

	g_return_val_if_fail(value, -EINVAL);
	*value = NULL;
	ret = limg_bolt_get(db, bucket, key, &bytes);
	if (ret)
		return ret;
	data = g_bytes_get_data(bytes, &len);
	if (len && memchr(data, '\0', len))
		return -EILSEQ;
	*value = g_strndup(len ? data : "", len);
	return 0;
}

void
limg_bolt_item_free(LimgBoltItem *item)
{
	if (!item)
		return;
	g_free(item->key);
	if (item->value)
		g_bytes_unref(item->value);
	g_free(item);
}

int
limg_bolt_list(const LimgBolt *db, const char *const *bucket, GPtrArray **items)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_autoptr(GPtrArray) list =
		g_ptr_array_new_with_free_func((GDestroyNotify)limg_bolt_item_free);
	Lister ls = { .db = db, .seen = seen, .items = list };
	const Range all = { NULL, NULL, 0, 0 };
	Bucket b;
	PageView pv;
	int ret;

	g_return_val_if_fail(db && items, -EINVAL);
	*items = NULL;
	ret = bucket_walk(db, bucket, &b);
	if (ret == 0)
		ret = bucket_first_page(db, &b, &pv);
	if (ret == 0)
		ret = list_page(&ls, &pv, &all, 0);
	if (ret)
		return ret;
	*items = g_steal_pointer(&list);
	return 0;
}

/* ------------------------------------------------------------ varints */

/* encoding/binary.Uvarint over all of @value: at most 10 bytes, no overflow. */
int
limg_bolt_uvarint(GBytes *value, uint64_t *out)
{
	gsize len;
	const uint8_t *p = value ? g_bytes_get_data(value, &len) : NULL;
	uint64_t x = 0;

	g_return_val_if_fail(out, -EINVAL);
	if (!p)
		return -EBADMSG;
	for (gsize i = 0; i < len && i < 10; i++) {
		if (p[i] < 0x80) {
			if (i == 9 && p[i] > 1)
				return -EBADMSG;
			if (i + 1 != len)
				return -EBADMSG;
			*out = x | (uint64_t)p[i] << (7 * i);
			return 0;
		}
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
	}
	return -EBADMSG;
}

int
limg_bolt_varint(GBytes *value, int64_t *out)
{
	uint64_t ux;
	int ret = limg_bolt_uvarint(value, &ux);

	g_return_val_if_fail(out, -EINVAL);
	if (ret)
		return ret;
	*out = (ux & 1) ? (int64_t)~(ux >> 1) : (int64_t)(ux >> 1);
	return 0;
}
