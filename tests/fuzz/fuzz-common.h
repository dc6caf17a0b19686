/*
 * fuzz-common.h - what the libFuzzer harnesses (tests/fuzz/fuzz-*.c)
 * share: a private scratch directory, inputs written as files, small
 * directory layouts described by the input, and a quiet log.
 *
 * Most parsers of outside bytes take a path, not a buffer, so a harness
 * writes its input into a file (or a directory tree) under one scratch
 * directory made once per process, always at the same paths: the
 * messages the parsers log once (store-meta.c) then name the same files
 * from input to input.
 *
 * A layout input (the store harnesses) is a sequence of records, each
 * starting with a line "=== TYPE PATH":
 *
 *   === f PATH          a regular file; its content is every byte after
 *                       this line up to the newline that ends the last
 *                       line before the next "=== " line (or the end);
 *   === d PATH          a directory;
 *   === l PATH -> TO    a symlink (TO taken as it is);
 *   === h PATH -> TO    a hard link to the earlier record TO (a tar
 *                       hard-link member when packed, below).
 *
 * Parents are made as needed. PATH is relative, its components are
 * neither empty, "." nor ".."; anything else makes the input unusable
 * (the harness returns -1 and libFuzzer drops it). Two substitutions
 * let a mutated JSON still be what the digests name:
 *
 *   "@" in a PATH       the SHA-256 hex of that file's content;
 *   "{{sha:N}}"         in a content: the SHA-256 hex of record N's
 *                       content (N < this record's index);
 *   "{{size:N}}"        its size in decimal.
 *
 * A first record "=== archive" packs the other records into a ustar
 * file instead of a directory (the archive store reads a tar in place).
 *
 * Thread model: one thread (libFuzzer runs inputs one at a time).
 */
#ifndef LIMG_FUZZ_COMMON_H
#define LIMG_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "tree/tree.h"

/*
 * The process's scratch directory (made at the first call, removed at
 * exit): $TMPDIR or /tmp, "limg-fuzz.XXXXXX". Aborts if it cannot be made.
 */
const char *limg_fuzz_dir(void);

/* "<scratch>/<name>", removed first if it exists (any type). Caller frees. */
char *limg_fuzz_fresh(const char *name);

/* Remove @path and everything below it, never following a symlink. */
void limg_fuzz_rm_rf(const char *path);

/* Write @len bytes to the new file @path; aborts on failure (disk full). */
void limg_fuzz_write(const char *path, const void *data, size_t len);

/*
 * Make the layout @data describes: a directory at @path (or, with a
 * first "=== archive" record, a tar file there; *@is_archive says
 * which). false when @data is not a usable layout.
 */
bool limg_fuzz_layout(const char *path, const uint8_t *data, size_t len, bool *is_archive);

/*
 * Abort on a GLib critical or warning (and print it): with hostile
 * input, a g_return_if_fail() that fires is a bug of ours (an API called
 * with what the input made), not a message. Called by the harnesses'
 * LLVMFuzzerInitialize.
 */
void limg_fuzz_init(void);

/* ------------------------------------------------------------ fuzz-tree.c */

/*
 * Use @tree (taken) as the mount would: lay it out, render every
 * metadata block, walk the segment map to the end. A tree that came out
 * of a parser must survive all of it; a layout that refuses it (too
 * large) is fine, anything else aborts.
 */
void limg_fuzz_lay_out(LimgTree *tree);

/*
 * Save @tree to the disk cache and load it again: the loader checks the
 * whole tree invariant (persist.c), so a parser's tree that fails it, or
 * comes back different, aborts.
 */
void limg_fuzz_roundtrip(const LimgTree *tree);

/* ------------------------------------------------------------ fuzz-store.c */

/*
 * Open the store at @source with backend @kind (NULL: auto) and ask it
 * everything the mount does (layers, lookups, the metadata snapshot,
 * stacks, watched paths), aborting when an answer breaks what store.h
 * promises (a layer outside SOURCE, an image without layers, a tag that
 * cannot be a path, a lookup that disagrees with the listing, ...).
 */
void limg_fuzz_store(const char *source, const char *kind);

#endif /* LIMG_FUZZ_COMMON_H */
