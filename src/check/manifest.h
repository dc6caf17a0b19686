/*
 * manifest.h - what a file tree contains, as seen by one reader.
 *
 * A manifest is a flat list of entries keyed by path, one per directory
 * entry of a tree, with the facts a layer image must carry: type,
 * permission bits, owner, size, a SHA-256 of the content, symlink target,
 * device numbers, mtime, hard-link group and xattrs. Manifests are built
 * by independent readers (a directory walk, libisofs, libarchive) and
 * compared with limg_manifest_compare(); nothing here knows the writer
 * (src/iso, src/tree, src/source), on purpose.
 *
 * Paths are raw bytes (any byte but NUL and '/' in a name), relative to
 * the tree root, without a leading slash; the root itself is ".". The
 * list is ordered by strcmp() of the paths after limg_manifest_sort().
 *
 * Hard-link groups: a reader gives each entry that may share an inode a
 * link key (an opaque string, e.g. "dev:ino" or a PX serial number) and
 * calls limg_manifest_group_links(); entries with equal keys form a
 * group when there are two or more of them, and each member's
 * link_group is set to the smallest path (strcmp) of the group. Groups
 * are thus comparable across readers without comparing inode numbers.
 *
 * Thread model: none; a manifest is owned by one thread.
 */
#ifndef LIMG_MANIFEST_H
#define LIMG_MANIFEST_H

#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

typedef enum {
	LIMG_ENTRY_REG,
	LIMG_ENTRY_DIR,
	LIMG_ENTRY_SYMLINK,
	LIMG_ENTRY_CHR,
	LIMG_ENTRY_BLK,
	LIMG_ENTRY_FIFO,
	LIMG_ENTRY_SOCK,
} LimgEntryType;

typedef struct {
	char *name;		/* NUL-terminated; never contains NUL */
	GBytes *value;		/* raw bytes, may be empty or contain NUL */
} LimgXattr;

typedef struct {
	char *path;		/* "." for the root, else "a/b/c" */
	LimgEntryType type;
	guint32 perm;		/* mode & 07777 */
	guint32 uid;
	guint32 gid;
	gint64 mtime;		/* seconds since the epoch, may be negative */
	guint64 size;		/* regular files only, else 0 */
	char *sha256;		/* lowercase hex; regular files only, else NULL */
	char *target;		/* symlinks only: raw target bytes */
	guint32 rdev_major;	/* devices only */
	guint32 rdev_minor;
	char *link_key;		/* reader-private hard-link identity, or NULL */
	char *link_group;	/* smallest path of the hard-link group, or NULL */
	GPtrArray *xattrs;	/* of LimgXattr*, sorted by name; NULL = none read */
} LimgManifestEntry;

typedef struct {
	GPtrArray *entries;	/* of LimgManifestEntry*, owned */
	gboolean has_xattrs;	/* the reader looked for xattrs */
	GPtrArray *notes;	/* of char*: reader diagnostics (e.g. warnings) */
	GPtrArray *dropped;	/* of char*: paths the reader refused to load */
	guint64 image_blocks;	/* volume space size from the PVD, or 0 */
} LimgManifest;

/*
 * Reader quirks: documented limitations of a reader (see READERS.md).
 * Each flag relaxes the comparison for exactly the case it describes;
 * every other field is still compared.
 */
typedef enum {
	LIMG_QUIRK_NONE = 0,
	/* The reader returns no xattrs: xattrs are not compared. */
	LIMG_QUIRK_NO_XATTRS = 1 << 0,
	/*
	 * Sockets come back as regular files: an expected socket matches a
	 * regular file of size 0 (permissions, owner, mtime still compared).
	 */
	LIMG_QUIRK_SOCKET_AS_REG = 1 << 1,
	/*
	 * Hard links are seen only between regular files with data: for an
	 * expected group whose members are not regular files of size > 0 the
	 * image may show no group. An unexpected group is still a difference.
	 */
	LIMG_QUIRK_LINKS_DATA_ONLY = 1 << 2,
	/*
	 * A '/' is lost where a symlink target continues in the next SL
	 * entry: a target of more than 200 bytes matches when it equals the
	 * expected one with some '/' bytes deleted.
	 */
	LIMG_QUIRK_SL_SLASH_DROPPED = 1 << 3,
	/* mtime -1 reads as 0. */
	LIMG_QUIRK_MTIME_MINUS1 = 1 << 4,
	/* The root entry may be absent from the image's manifest. */
	LIMG_QUIRK_ROOT_OPTIONAL = 1 << 5,
	/*
	 * A directory named "rr_moved" at the top of the tree is taken for
	 * the relocation directory and not listed (its contents are).
	 */
	LIMG_QUIRK_RR_MOVED_HIDDEN = 1 << 6,
	/*
	 * A run of '/' in a symlink target reads back as one '/' (libisofs
	 * joins SL components with a '/' only when the text so far does not
	 * end in one, so no SL encoding of "a//b" survives): a target
	 * matches when it equals the expected one with runs collapsed.
	 */
	LIMG_QUIRK_SL_SLASHES_COLLAPSED = 1 << 7,
	/*
	 * Symlinks with targets of 1024 bytes or more are dropped on load
	 * (libisofs: "Error when adding file"): such an expected symlink may
	 * be missing, if the reader reported dropping it.
	 */
	LIMG_QUIRK_LONG_SYMLINKS_DROPPED = 1 << 8,
} LimgReaderQuirks;

/*
 * Quirks of the readers we ship, per READERS.md and our own tests.
 * libisofs 1.5.4 reads everything we write, sockets included (READERS.md's
 * "no sockets" is about xorriso extracting them, not about reading).
 */
#define LIMG_QUIRKS_LIBISOFS	(LIMG_QUIRK_SL_SLASHES_COLLAPSED | \
				 LIMG_QUIRK_LONG_SYMLINKS_DROPPED)
#define LIMG_QUIRKS_LIBARCHIVE	(LIMG_QUIRK_NO_XATTRS | \
				 LIMG_QUIRK_SOCKET_AS_REG | \
				 LIMG_QUIRK_LINKS_DATA_ONLY | \
				 LIMG_QUIRK_SL_SLASH_DROPPED | \
				 LIMG_QUIRK_MTIME_MINUS1 | \
				 LIMG_QUIRK_ROOT_OPTIONAL | \
				 LIMG_QUIRK_RR_MOVED_HIDDEN)

LimgManifest *limg_manifest_new(void);
void limg_manifest_free(LimgManifest *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgManifest, limg_manifest_free)

/*
 * Append a new entry for @path (copied) of @type with every other field
 * zero/NULL. Returns the entry, borrowed: valid until the manifest is
 * freed (sorting moves pointers, not entries).
 */
LimgManifestEntry *limg_manifest_add(LimgManifest *m, const char *path,
				     LimgEntryType type);

/* Attach an xattr to @e; copies @name and @value. */
void limg_manifest_entry_add_xattr(LimgManifestEntry *e, const char *name,
				   const void *value, gsize len);

/* Sort entries by path (and each entry's xattrs by name). */
void limg_manifest_sort(LimgManifest *m);

/* Look up an entry by path; the manifest must be sorted. Borrowed. */
LimgManifestEntry *limg_manifest_lookup(const LimgManifest *m,
					const char *path);

/*
 * Turn link keys into link groups (see the header comment), then sort.
 * Entries whose key is shared by no other entry get no group.
 */
void limg_manifest_group_links(LimgManifest *m);

/* Apply the layer rule (LIMG_MANIFEST_LAYER) to @m, before grouping links. */
void limg_manifest_apply_layer_rule(LimgManifest *m);

/* Record that the reader refused to load @path (copied). */
void limg_manifest_add_dropped(LimgManifest *m, const char *path);

/* Record a reader diagnostic (printf-style). */
void limg_manifest_add_note(LimgManifest *m, const char *fmt, ...)
	G_GNUC_PRINTF(2, 3);

/*
 * Compare @expected (usually the source directory) with @actual (what a
 * reader saw in the image) under @quirks. Appends one line per
 * difference to @report (if not NULL), each naming the escaped path and
 * the field, with expected and actual values. Both manifests must be
 * sorted. Returns the number of differences.
 */
unsigned limg_manifest_compare(const LimgManifest *expected,
			       const LimgManifest *actual,
			       LimgReaderQuirks quirks, GString *report);

/* One line per entry, in path order, every field; for debugging and diff. */
void limg_manifest_print(const LimgManifest *m, GString *out);

const char *limg_entry_type_name(LimgEntryType type);

/* ------------------------------------------------------------- readers */

typedef enum {
	LIMG_MANIFEST_XATTRS = 1 << 0,	/* read xattrs too */
	/*
	 * The directory is a layer: expect what the image format makes of
	 * a layer (README, "Image format"), not the directory as it is.
	 * With T the newest mtime of the entries other than the root and
	 * the whiteouts (char 0:0), 0 if none: the root is 0755, 0:0, mtime
	 * T, no xattrs; a whiteout is mode 0000, 0:0, mtime T and no hard
	 * link; no trusted.overlay.* xattr but trusted.overlay.opaque.
	 */
	LIMG_MANIFEST_LAYER = 1 << 1,
} LimgManifestFlags;

/* Error domain of the readers. */
#define LIMG_MANIFEST_ERROR (limg_manifest_error_quark())
GQuark limg_manifest_error_quark(void);

typedef enum {
	LIMG_MANIFEST_ERROR_NOT_ISO,	/* not an ISO 9660 image */
	LIMG_MANIFEST_ERROR_READER,	/* the reader library failed */
} LimgManifestError;

/*
 * Fail with LIMG_MANIFEST_ERROR_NOT_ISO unless @image has a volume
 * descriptor "CD001" at block 16 (G_FILE_ERROR on I/O errors).
 */
gboolean limg_manifest_probe_iso(const char *image, GError **error);

/*
 * Walk the directory @dir (never following symlinks, never opening
 * anything but regular files) into a new, sorted manifest.
 * Returns NULL and sets @error (naming the path) on failure. Caller frees.
 */
LimgManifest *limg_manifest_from_dir(const char *dir, LimgManifestFlags flags,
				     GError **error);

/*
 * Read the ISO 9660 + Rock Ridge image @image with libisofs (with AAIP
 * xattrs when LIMG_MANIFEST_XATTRS) into a new, sorted manifest.
 * libisofs warnings met on the way are recorded as notes.
 * Caller frees.
 */
LimgManifest *limg_manifest_from_isofs(const char *image,
				       LimgManifestFlags flags,
				       GError **error);

/*
 * Read @image with libarchive's iso9660 reader into a new, sorted
 * manifest. Never has xattrs. Caller frees.
 */
LimgManifest *limg_manifest_from_archive(const char *image,
					 LimgManifestFlags flags,
					 GError **error);

/* Release what the readers set up once per process (libisofs). */
void limg_manifest_readers_finish(void);

#endif /* LIMG_MANIFEST_H */
