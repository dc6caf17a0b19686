/*
 * overlay.h - layer trees as overlayfs shows them: the per-layer rule
 * that makes a layer's tree depend only on the layer, and the merge of a
 * stack of layers into one tree (a flattened root file system).
 *
 * Whiteouts, in the two forms layers carry them:
 *   - overlay form (what Docker's and containers-storage's overlay drivers
 *     extract): a character device 0:0 named like the entry it deletes;
 *     a directory with the xattr trusted.overlay.opaque = "y" is opaque;
 *   - OCI form (a layer tar unpacked as it is): an entry ".wh.<name>"
 *     deletes <name>; an entry ".wh..wh..opq" makes its directory opaque.
 *
 * The merge (limg_overlay_merge) follows the kernel's rules for a
 * read-only overlay of those layers (lowest first in @layers, i.e. the
 * last lowerdir= of a mount):
 *   - an entry of an upper layer hides every entry of that path below;
 *   - a whiteout deletes the entry of its name in the layers below (and
 *     is itself not shown); an opaque directory hides every entry below
 *     it in lower layers. A ".wh.<name>" beside a <name> of its own layer
 *     deletes only below: <name> shows, and as a directory it does not
 *     merge with those below (OCI: whiteouts apply to lower layers
 *     only). The roots always merge: the opaque xattr of a layer's root
 *     is ignored, as the kernel does (ovl_get_root()), while an OCI
 *     ".wh..wh..opq" at a root hides the entries of the roots below;
 *   - a directory over a directory merges their entries (the upper one's
 *     attributes win); anything else over anything replaces it, subtree
 *     and all;
 *   - overlay's own xattrs (trusted.overlay.*) and whiteout entries are
 *     not shown;
 *   - hard links stay links only among names that come from the same
 *     layer and survive the merge (the kernel shows the lower inode):
 *     an output node's dev is a number per (layer, input dev), so
 *     (dev, ino) is one inode of one layer; nlink is the layer's.
 * A "files only" layer (a container's /etc/hosts, /etc/hostname,
 * /etc/resolv.conf, which a runtime mounts over the root) puts files on
 * top: its directories only make the paths, they never replace the
 * attributes of a directory below.
 *
 * Every merged node remembers where it came from (LimgOrigin), so file
 * data is read from the layer that holds it: the merge copies no data.
 * A node shows exactly its origin's attributes and xattrs (less
 * trusted.overlay.*); a directory's origin is the directory whose
 * attributes it shows (for a files-only directory over a real one, the
 * real one).
 *
 * Thread model: pure functions over immutable trees.
 */
#ifndef LIMG_OVERLAY_H
#define LIMG_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tree/tree.h"

#define LIMG_OPAQUE_XATTR "trusted.overlay.opaque"

typedef struct {
	const LimgTree *tree;   /* borrowed */
	bool files_only;        /* see above */
} LimgOverlayLayer;

/* Where a merged node came from: layer index and node in that tree. */
typedef struct {
	uint32_t layer;
	uint32_t node;
} LimgOrigin;

/* A character device 0:0: an overlay whiteout. */
bool limg_overlay_is_whiteout(const LimgNode *n);

/*
 * The per-layer rule: make a layer's tree depend only on the layer, not
 * on the tool that extracted it or the host. With T = the newest mtime of
 * any entry other than the root and whiteouts (0 if there is none):
 *   - the root directory gets mode 0755, owner 0:0, mtime T, no xattrs;
 *   - every whiteout gets mode 0000, owner 0:0, mtime T, and is its own
 *     entry (never a hard link);
 *   - no trusted.overlay.* xattr is kept but trusted.overlay.opaque.
 * Changes @tree in place (ctimes and inode numbers stay, so the tree can
 * still be checked against the layer). 0 or -ENOMEM.
 */
int limg_overlay_normalize_layer(LimgTree *tree);

/*
 * Merge @n layer trees, lowest first, as a read-only overlay mount of
 * them shows the merged tree. The root is that of the topmost layer that
 * is not files-only. Returns 0, a new tree (caller owns) in *out and, in
 * *origins, one LimgOrigin per node of it (caller g_free()s); or -EINVAL
 * (no layer, or only files-only ones), -ENOMEM, -E2BIG.
 */
int limg_overlay_merge(const LimgOverlayLayer *layers, size_t n, LimgTree **out,
                       LimgOrigin **origins);

#endif /* LIMG_OVERLAY_H */
