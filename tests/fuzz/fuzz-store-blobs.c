/*
 * fuzz-store-blobs.c - the blob stores' readers: OCI image layouts,
 * indexes, manifests and configs (src/store/store-blobs.c, store-oci.c)
 * and docker-archive / oci-archive tar files read in place
 * (store-archive.c: libarchive's tar headers, manifest.json, members
 * followed through links).
 *
 * The input is either a directory layout (fuzz-common.h), read as SOURCE
 * with store=auto (an OCI layout when it has oci-layout and index.json),
 * or, with a first "=== archive" record, the same records packed into a
 * tar file; or, when it is not a layout at all, the archive file itself
 * (raw tar bytes, headers and all). "{{sha:N}}" and "{{size:N}}" keep a
 * descriptor naming a mutated blob right, "@" names a blob by its
 * digest. The store is then asked everything the mount asks
 * (fuzz-store.c checks the answers).
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
	g_autofree char *source = limg_fuzz_fresh("blobs");
	bool is_archive;

	if (!limg_fuzz_layout(source, data, size, &is_archive))
		limg_fuzz_write(source, data, size);
	limg_fuzz_store(source, NULL);
	return 0;
}
