/*
 * fuzz-store-meta.c - the metadata readers of the Docker and
 * containers-storage stores (src/store/store-docker.c, store-cstorage.c,
 * with what they share in store-meta.c and store.c): layerdb entries,
 * image configs, repositories.json, config.v2.json; layers.json,
 * images.json, containers.json, all through json-glib.
 *
 * The input is a directory layout (fuzz-common.h: "=== f PATH" records
 * and their contents), made into a store's SOURCE and read with
 * store=auto, so which backend reads it is the input's too; "@" in a
 * path is the file's own digest, so a mutated image config is still
 * where its digest says. The store is then asked everything the mount
 * asks (fuzz-store.c checks the answers).
 */
#include <config.h>

#include <glib.h>

#include "fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	limg_fuzz_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *root = limg_fuzz_fresh("store");
	bool is_archive;

	if (!limg_fuzz_layout(root, data, size, &is_archive))
		return -1;
	limg_fuzz_store(root, NULL);
	/*
	 * A Docker data root is also read through its overlay2/ directory,
	 * a graph root through its overlay/ (metadata then in ../).
	 */
	for (guint i = 0; !is_archive && i < 2; i++) {
		g_autofree char *sub = g_build_filename(root, i ? "overlay" : "overlay2", NULL);

		if (g_file_test(sub, G_FILE_TEST_IS_DIR))
			limg_fuzz_store(sub, NULL);
	}
	return 0;
}
