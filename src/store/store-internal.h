/*
 * store-internal.h - what the store backends share (store.c). Not for
 * other modules.
 */
#ifndef LIMG_STORE_INTERNAL_H
#define LIMG_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include <json-glib/json-glib.h>

#include "store/store.h"

/*
 * lstat @path (relative to SOURCE, open as @dir_fd). 0 if it is a real
 * directory; -ELOOP for a symlink (refused, logged once per path);
 * -ENOTDIR, or the stat's -errno.
 */
int limg_store_stat_dir(const char *source, int dir_fd, const char *path, struct stat *st);

/* A complete DIR layer record for @source/@rel, from its stat @st. */
LimgLayerInfo *limg_store_dir_layer(const char *source, const char *id, const char *rel,
                                    const struct stat *st);

/*
 * stat blob file @rel (relative to SOURCE, open as @dir_fd; "" is SOURCE
 * itself, the operator's own path, followed as it was at open). 0 if it
 * is a regular file; -ELOOP for a symlink, -EINVAL for anything else but
 * a regular file (both refused, logged once per path), or the stat's
 * -errno.
 */
int limg_store_stat_blob(const char *source, int dir_fd, const char *rel, struct stat *st);

/* ------------------------------------------------------------ metadata */

/* Add to a snapshot being built; NULL when the layer id is there already. */
LimgMetaLayer *limg_meta_add_layer(LimgStoreMeta *m, const char *id, const char *rel,
                                   const char *diff_id, const char *chain_id, bool init);
/*
 * A tar blob layer: bytes [@offset, @offset + @length) of file @rel below
 * SOURCE ("": SOURCE itself), hashing to @digest (or NULL: unknown).
 */
LimgMetaLayer *limg_meta_add_blob_layer(LimgStoreMeta *m, const char *id, const char *rel,
                                        uint64_t offset, uint64_t length, const char *digest,
                                        const char *diff_id, const char *chain_id);
LimgMetaImage *limg_meta_add_image(LimgStoreMeta *m, const char *id);
LimgMetaContainer *limg_meta_add_container(LimgStoreMeta *m, const char *id,
                                           LimgMetaImage *image, LimgMetaLayer *init,
                                           const char *files_dir);
/* false when @tag names another image already (the first one stays). */
bool limg_meta_add_tag(LimgStoreMeta *m, const char *tag, LimgMetaImage *image);
/*
 * Done adding: sort, name layers by diff-id and chain-id (images' own
 * chains too), and drop a tag that is also a directory of another tag
 * under tags/ ("a:1" and "a:1/b:2"; logged), so every path of tags/ is
 * one thing.
 */
void limg_meta_finish(LimgStoreMeta *m);

/* Log a warning unless this very message was logged before. */
void limg_store_log_once(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* The same at level @level (LimgLogLevel). */
void limg_store_log_once_at(int level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* 64 lower-case hex digits. */
bool limg_store_valid_hex(const char *s);
/* "sha256:" + 64 lower-case hex digits. */
bool limg_store_valid_digest(const char *s);
/* A tag usable as a path under tags/: repo[/more]:tag, no hidden or empty parts. */
bool limg_store_valid_tag(const char *tag);

/*
 * The chain id of a layer with diff id @diff_id over a stack whose chain
 * id is @parent_chain (NULL for the lowest layer: its diff id). Caller
 * frees.
 */
char *limg_store_chain_id(const char *parent_chain, const char *diff_id);

/*
 * Read regular file @path (relative to @dir_fd, no symlink followed) of at
 * most @max bytes, NUL-terminated. 0 and the bytes in *out (caller frees),
 * or -errno (-EFBIG: larger than @max; -EINVAL: not a regular file).
 */
int limg_store_read_file(int dir_fd, const char *path, size_t max, char **out, size_t *len);
/* A small file's content, whitespace trimmed, or NULL. Caller frees. */
char *limg_store_read_line(int dir_fd, const char *path);
/*
 * Parse JSON file @path (at most @max bytes). NULL when it is missing
 * (silently) or unreadable, too large or not JSON (logged once, naming
 * @label). Caller frees with json_node_unref().
 */
JsonNode *limg_store_read_json(int dir_fd, const char *path, size_t max, const char *label);

/* Members of a JSON object of the expected type, or NULL. */
const char *limg_json_string(JsonObject *o, const char *member);
/* The string node @n holds, or NULL (not a string, or @n NULL). */
const char *limg_json_node_string(JsonNode *n);
JsonObject *limg_json_object(JsonObject *o, const char *member);
JsonArray *limg_json_array(JsonObject *o, const char *member);

#endif /* LIMG_STORE_INTERNAL_H */
