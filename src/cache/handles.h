/*
 * handles.h - open source contents, kept for reuse: a bounded cache of
 * file descriptors keyed by (owner, node), least recently used evicted.
 *
 * The read path opens a layer file once and reads it many times (a file
 * spans many requests; siblings are read in order). A handle is a
 * refcounted LimgContent: the cache holds one reference while the handle
 * is cached, each user one while it reads; the fd is closed when the last
 * reference goes, so an evicted handle stays valid for a reply still
 * being built. Owners are image generations.
 *
 * Thread model: thread-safe; one internal mutex, a leaf lock, never held
 * while a file is opened or closed.
 */
#ifndef LIMG_HANDLES_H
#define LIMG_HANDLES_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "source/source.h"

typedef struct LimgHandles LimgHandles;
typedef struct LimgHandle LimgHandle;

/* Open the content of @node for the cache. 0 or -errno (as source open). */
typedef int (*LimgHandleOpenFn)(void *ctx, uint32_t node, LimgContent *out);

/* @capacity: handles kept at most (>= 1). */
LimgHandles *limg_handles_new(unsigned capacity);
void limg_handles_free(LimgHandles *h);

/*
 * A reference to the handle of (@owner, @node): cached, or opened with
 * @open(@ctx, ...) and cached. *fresh (may be NULL) says it was just
 * opened (and so just checked against the layout by the source).
 * 0 or the -errno of @open.
 */
int limg_handles_get(LimgHandles *h, gconstpointer owner, uint32_t node, LimgHandleOpenFn open,
                     void *ctx, LimgHandle **out, bool *fresh);

/* The handle's content. Borrowed; valid while the reference is held. */
const LimgContent *limg_handle_content(const LimgHandle *handle);

/* Drop a reference from limg_handles_get(). */
void limg_handle_unref(LimgHandle *handle);

/* Forget (@owner, @node): its content changed; later gets open it again. */
void limg_handles_forget(LimgHandles *h, gconstpointer owner, uint32_t node);

/* Forget every handle of @owner (its generation is going away). */
void limg_handles_drop_owner(LimgHandles *h, gconstpointer owner);

/* Handles cached now. */
unsigned limg_handles_count(LimgHandles *h);

#endif /* LIMG_HANDLES_H */
