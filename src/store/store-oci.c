/*
 * store-oci.c - an OCI image layout directory (`skopeo copy ... oci:DIR`,
 * `buildah push ... oci:DIR`, `docker buildx build --output
 * type=oci,tar=false`), read as a blob store; see store.h and
 * store-blobs-internal.h (the walk).
 *
 * What is read, never written:
 *
 *   oci-layout           {"imageLayoutVersion": "1.0.0"}
 *   index.json           the top index: its manifests (or nested indexes)
 *                        are the images, tagged by their annotations;
 *   blobs/sha256/<hex>   indexes, manifests, configs and layer tars.
 *
 * blobs/ and blobs/sha256/ must be real directories and every blob a
 * regular file: a symlink on the way is refused (logged), so a layout
 * cannot make the store serve a file outside it. A layer is its blob,
 * whole: LIMG_LAYER_TAR of SOURCE/blobs/sha256/<hex>, id <hex>.
 *
 * skopeo writes blobs first and index.json last (by rename), so a change
 * of index.json or of the blobs directory is a new snapshot.
 */
#include <config.h>

#include <fcntl.h>
#include <sys/stat.h>

#include "store/store-blobs-internal.h"

#define BLOBS "blobs/sha256/"

static bool
is_file(int dir_fd, const char *path)
{
	struct stat st;

	return fstatat(dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static bool
oci_detect(int dir_fd)
{
	return is_file(dir_fd, "oci-layout") && is_file(dir_fd, "index.json");
}

static LimgStoreMeta *
oci_read_meta(const char *source, int dir_fd)
{
	LimgStoreMeta *m = limg_store_meta_new();
	LimgBlobDirReader reader;
	g_autoptr(LimgBlobWalk) w = NULL;

	limg_blob_dir_reader_init(&reader, source, dir_fd, BLOBS);
	w = limg_blob_walk_new(source, &reader.r, m);
	limg_blob_walk_layout(w);
	limg_meta_finish(m);
	return m;
}

static char **
oci_meta_paths(const char *source, int dir_fd)
{
	return g_strdupv((char *[]){ "index.json", "blobs/sha256", NULL });
}

const LimgStoreBackend limg_store_oci = {
	.name = "oci",
	.detect = oci_detect,
	.read_meta = oci_read_meta,
	.meta_paths = oci_meta_paths,
};
