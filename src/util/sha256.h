/*
 * sha256.h - SHA-256, streamed, as lowercase hex: the blob digests of the
 * tar source and the file contents of check's manifests. OpenSSL's, which
 * uses the CPU's SHA instructions where there are some, several times as
 * fast as glib's GChecksum. Header-only; its users link libcrypto.
 *
 *	g_auto(LimgSha256) sum = { 0 };
 *	limg_sha256_begin(&sum);
 *	limg_sha256_update(&sum, buf, n);  ...
 *	e->sha256 = limg_sha256_hex(&sum);  (lowercase hex, caller frees)
 *
 * Out of memory aborts, as glib does.
 */
#ifndef LIMG_UTIL_SHA256_H
#define LIMG_UTIL_SHA256_H

#include <stddef.h>

#include <glib.h>
#include <openssl/evp.h>

typedef struct {
	EVP_MD_CTX *ctx;
} LimgSha256;

static inline void
limg_sha256_begin(LimgSha256 *s)
{
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1)
		g_error("SHA-256: cannot set up OpenSSL's digest (out of memory?)");
}

static inline void
limg_sha256_update(LimgSha256 *s, const void *buf, size_t len)
{
	if (EVP_DigestUpdate(s->ctx, buf, len) != 1)
		g_error("SHA-256: OpenSSL's digest failed");
}

static inline char *
limg_sha256_hex(LimgSha256 *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char *out;

	if (EVP_DigestFinal_ex(s->ctx, md, &len) != 1 || len != 32)
		g_error("SHA-256: OpenSSL's digest failed");
	out = g_malloc(2 * len + 1);
	for (unsigned int i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * len] = 0;
	return out;
}

static inline void
limg_sha256_clear(LimgSha256 *s)
{
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(LimgSha256, limg_sha256_clear)

#endif /* LIMG_UTIL_SHA256_H */
