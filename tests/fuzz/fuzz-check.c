/*
 * fuzz-check.c - the independent image readers of `check`:
 * src/check/manifest-isofs.c (libisofs), manifest-archive.c (libarchive)
 * and manifest.c (what they saw, compared and printed).
 *
 * The input is an image from block 16 on: the harness puts the system
 * area (16 blocks of zeros, which no reader looks at) in front of it, so
 * mutations go to the volume descriptors and what follows, and an input
 * shorter than 32 KiB is not refused by the probe for block 16 at once.
 * Both readers read it, xattrs included; what they saw is compared
 * both ways and printed, as `check` does with a directory.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "check/manifest.h"
#include "fuzz-common.h"

#define SYSTEM_AREA (16 * 2048)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/*
 * Both libraries leak on some damaged images, inside their own calls,
 * with everything of ours released (the image, its options and data
 * source; the archive): libisofs 1.5.4 a buffer in iso_image_import()
 * on damaged Rock Ridge / SUSP data ("SORRY: Damaged RR/SUSP
 * information"), libarchive 3.6.2 96 bytes in archive_read_next_header()
 * on a bad SUSP "CE" entry (bsdtar -tf leaks them too, under valgrind).
 * `check` is a short-lived command. Leaks allocated inside either
 * library are not reported.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libisofs.so\nleak:libarchive.so\n";
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	limg_fuzz_init();
	return 0;
}

/* Everything manifest.c does with a manifest it did not build itself. */
static void
look(const LimgManifest *m)
{
	g_autoptr(GString) out = g_string_new(NULL);

	limg_manifest_print(m, out);
	for (guint i = 0; i < m->entries->len; i++) {
		const LimgManifestEntry *e = m->entries->pdata[i];

		if (!limg_manifest_lookup(m, e->path))
			abort();   /* sorted, so every path is found */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *image = limg_fuzz_fresh("image.iso");
	g_autofree uint8_t *bytes = g_malloc0(SYSTEM_AREA + size);
	g_autoptr(LimgManifest) iso = NULL, ar = NULL;
	g_autoptr(GError) e1 = NULL, e2 = NULL;

	memcpy(bytes + SYSTEM_AREA, data, size);
	limg_fuzz_write(image, bytes, SYSTEM_AREA + size);
	iso = limg_manifest_from_isofs(image, LIMG_MANIFEST_XATTRS, &e1);
	ar = limg_manifest_from_archive(image, 0, &e2);
	if (iso)
		look(iso);
	if (ar)
		look(ar);
	if (iso && ar) {
		g_autoptr(GString) r = g_string_new(NULL);

		limg_manifest_compare(iso, ar, LIMG_QUIRKS_LIBARCHIVE, r);
		limg_manifest_compare(ar, iso, LIMG_QUIRKS_LIBISOFS, r);
	}
	return 0;
}
