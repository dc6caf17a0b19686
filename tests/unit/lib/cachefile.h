/*
 * cachefile.h - an encoder of disk cache files (src/cache/persist.c's
 * format), written from that format's description for the tests: it
 * never calls persist's code, so the tests can build files persist must
 * accept and damaged ones whose checksum is still right.
 *
 * File (host byte order; persist.c's header comment):
 *
 *   0   magic "LIMGTREE"           8 bytes
 *   8   version                    u32   (LIMG_PERSIST_VERSION)
 *   12  node size                  u32   (sizeof(LimgNode))
 *   16  key length                 u32
 *   20  fingerprint length         u32
 *   24  node count                 u32
 *   28  layout_len                 u32   (0: no layout hints)
 *   32  strings length             u64
 *   40  checksum                   16 bytes: XXH3-128 of the whole file
 *                                  with these 16 bytes zeroed, canonical
 *                                  (big-endian)
 *   56  head length (stored)       u32   (0: no head)
 *   60  head length (raw)          u32
 *   64  head checksum              u64   XXH3-64 of key, fingerprint, the
 *                                  raw length (u32) and the stored head;
 *                                  without a head: 1 (a writer that keeps
 *                                  heads kept none) or 0 (an older one)
 *   72  key, fingerprint, head (stored: LZ4 block), nodes (count * node
 *       size), strings, layout hints
 *
 * Header-only (static inline), so both the unit tests and the corpus
 * generator (tests/tools/mk-cache-corpus.c) use it; needs glib and
 * libxxhash.
 */
#ifndef LIMG_TEST_CACHEFILE_H
#define LIMG_TEST_CACHEFILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>
#include <xxhash.h>

#include "cache/persist.h"
#include "tree/tree.h"

#define CF_MAGIC "LIMGTREE"
#define CF_OFF_VERSION 8
#define CF_OFF_NODE_SIZE 12
#define CF_OFF_KEY_LEN 16
#define CF_OFF_PRINT_LEN 20
#define CF_OFF_N_NODES 24
#define CF_OFF_RESERVED 28
#define CF_OFF_STRINGS_LEN 32
#define CF_OFF_SUM 40
#define CF_OFF_HEAD_LEN 56
#define CF_OFF_HEAD_RAW 60
#define CF_OFF_HEAD_SUM 64
#define CF_HEADER_SIZE 72

/*
 * The identity the should-fail corpus (tests/data/should-fail/cache/) is
 * written for: its files are loaded as the cache of this key and
 * fingerprint.
 */
#define CF_CORPUS_KEY "/srv/layers/corpus-layer"
#define CF_CORPUS_PRINT "corpus fingerprint: dev 0x801 ino 131077 t 1e9"
#define CF_CORPUS_PRINT_LEN (sizeof(CF_CORPUS_PRINT) - 1)

static inline void
cf_put32(GByteArray *f, size_t off, uint32_t v)
{
	memcpy(f->data + off, &v, 4);
}

static inline uint32_t
cf_get32(const GByteArray *f, size_t off)
{
	uint32_t v;

	memcpy(&v, f->data + off, 4);
	return v;
}

static inline void
cf_put64(GByteArray *f, size_t off, uint64_t v)
{
	memcpy(f->data + off, &v, 8);
}

/* Offsets of the parts of a file whose header is consistent. */
static inline size_t
cf_head_offset(const GByteArray *f)
{
	return CF_HEADER_SIZE + (size_t)cf_get32(f, CF_OFF_KEY_LEN) + cf_get32(f, CF_OFF_PRINT_LEN);
}

static inline size_t
cf_nodes_offset(const GByteArray *f)
{
	return cf_head_offset(f) + cf_get32(f, CF_OFF_HEAD_LEN);
}

static inline size_t
cf_strings_offset(const GByteArray *f)
{
	return cf_nodes_offset(f) + (size_t)cf_get32(f, CF_OFF_N_NODES) * sizeof(LimgNode);
}

/* A copy of node @i of file @f (nodes are not aligned in the file). */
static inline LimgNode
cf_node_get(const GByteArray *f, uint32_t i)
{
	LimgNode n;

	memcpy(&n, f->data + cf_nodes_offset(f) + (size_t)i * sizeof(LimgNode), sizeof(n));
	return n;
}

/* Store @n as node @i of file @f. */
static inline void
cf_node_put(GByteArray *f, uint32_t i, const LimgNode *n)
{
	memcpy(f->data + cf_nodes_offset(f) + (size_t)i * sizeof(LimgNode), n, sizeof(*n));
}

/*
 * Recompute the checksums: the head's (when the file has a head that
 * lies inside it), then XXH3-128 of the file with its checksum field
 * zeroed, stored canonical in that field.
 */
static inline void
cf_seal(GByteArray *f)
{
	XXH128_canonical_t c;
	uint32_t hl, raw;
	uint64_t k, p;

	g_assert(f->len >= CF_HEADER_SIZE);
	hl = cf_get32(f, CF_OFF_HEAD_LEN);
	raw = cf_get32(f, CF_OFF_HEAD_RAW);
	k = cf_get32(f, CF_OFF_KEY_LEN);
	p = cf_get32(f, CF_OFF_PRINT_LEN);
	if (hl && CF_HEADER_SIZE + k + p + hl <= f->len) {
		XXH3_state_t *s = XXH3_createState();

		XXH3_64bits_reset(s);
		XXH3_64bits_update(s, f->data + CF_HEADER_SIZE, (size_t)(k + p));
		XXH3_64bits_update(s, &raw, sizeof(raw));
		XXH3_64bits_update(s, f->data + CF_HEADER_SIZE + k + p, hl);
		cf_put64(f, CF_OFF_HEAD_SUM, XXH3_64bits_digest(s));
		XXH3_freeState(s);
	}
	memset(f->data + CF_OFF_SUM, 0, 16);
	XXH128_canonicalFromHash(&c, XXH3_128bits(f->data, f->len));
	memcpy(f->data + CF_OFF_SUM, &c, sizeof(c));
}

/*
 * A sealed file for key @key (@key_len bytes), fingerprint @print and the
 * tree @nodes (@n_nodes) + @strings (@strings_len bytes). Caller frees
 * (g_byte_array_unref).
 */
static inline GByteArray *
cf_encode(const void *key, size_t key_len, const void *print, size_t print_len,
          const LimgNode *nodes, uint32_t n_nodes, const void *strings, size_t strings_len)
{
	GByteArray *f = g_byte_array_new();
	uint8_t zero[CF_HEADER_SIZE] = { 0 };

	g_byte_array_append(f, zero, sizeof(zero));
	memcpy(f->data, CF_MAGIC, 8);
	cf_put32(f, CF_OFF_VERSION, LIMG_PERSIST_VERSION);
	cf_put32(f, CF_OFF_NODE_SIZE, (uint32_t)sizeof(LimgNode));
	cf_put32(f, CF_OFF_KEY_LEN, (uint32_t)key_len);
	cf_put32(f, CF_OFF_PRINT_LEN, (uint32_t)print_len);
	cf_put32(f, CF_OFF_N_NODES, n_nodes);
	cf_put32(f, CF_OFF_RESERVED, 0);
	cf_put64(f, CF_OFF_STRINGS_LEN, strings_len);
	if (key_len)
		g_byte_array_append(f, key, (guint)key_len);
	if (print_len)
		g_byte_array_append(f, print, (guint)print_len);
	if (n_nodes)
		g_byte_array_append(f, (const guint8 *)nodes, (guint)(n_nodes * sizeof(LimgNode)));
	if (strings_len)
		g_byte_array_append(f, strings, (guint)strings_len);
	cf_seal(f);
	return f;
}

/* The same for @tree. */
static inline GByteArray *
cf_encode_tree(const char *key, const void *print, size_t print_len, const LimgTree *tree)
{
	return cf_encode(key, strlen(key), print, print_len, tree->nodes, tree->n_nodes,
	                 tree->strings.buf, tree->strings.len);
}

#endif /* LIMG_TEST_CACHEFILE_H */
