/*
 * cmd-render.c - `fuse-layerimg render DIR [-o OUT]`.
 *
 * The image service builds the layer's generation and the read planner
 * hands its bytes over piece by piece, exactly as the mount serves them,
 * so the bytes are the mount's bytes. File data is copied with
 * copy_file_range() into a regular output file, holes in sources and
 * padding stay holes; a pipe gets plain writes. The output file is
 * written under a temporary name beside OUT and renamed into place only
 * when complete: a failed render never leaves a truncated image behind.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "cache/gen-read.h"
#include "cache/images.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "store/store.h"
#include "util/fdio.h"
#include "util/log.h"

#define BUF_SIZE (128 * 1024)

static const LimgCliSpec spec = {
	.cmd = "render",
	.params = "[OPTION...] LAYER [UPPER-LAYER...] | OCI-LAYOUT:REF",
	.summary =
		"Write the ISO 9660 + Rock Ridge image of LAYER, a layer directory or a\n"
		"layer tar blob (plain, gzip or zstd; read in place, never extracted):\n"
		"exactly the bytes the mount serves as <layer>.iso. The image is\n"
		"deterministic: the same tree gives the same bytes wherever it lies and\n"
		"whatever LAYER is called; a tar blob and the directory it extracts to\n"
		"give the same image (OCI whiteouts become overlay whiteouts).\n"
		"\n"
		"OCI-LAYOUT:REF writes the flattened root file system of image REF of an\n"
		"OCI image layout directory (REF: a tag as the layout's\n"
		"org.opencontainers.image.ref.name gives it, or an image id).\n"
		"\n"
		"The image shows the layer, not the tool that extracted it: with T the\n"
		"newest mtime of any entry other than the root and whiteouts (0 if none),\n"
		"the root directory is written with mode 0755, owner 0:0, time T and no\n"
		"xattrs; every whiteout (char 0:0) with mode 0000, owner 0:0, time T, as\n"
		"its own entry (never a hard link); no trusted.overlay.* xattr but\n"
		"trusted.overlay.opaque. So the same layer gives the same image in every\n"
		"store and on every host.\n"
		"\n"
		"With several directories (lowest first, as overlayfs lowerdirs read\n"
		"bottom-up), write one image of the stack flattened exactly as a read-only\n"
		"overlay mount of them shows it: whiteouts and opaque directories applied\n"
		"(also the .wh. forms of OCI tars), file data still read from each layer.",
	.description =
		"The compatibility report (on standard error) names what some target\n"
		"reader (Linux isofs, NetBSD cd9660, libarchive, libisofs) will not see,\n"
		"e.g. files of 4 GiB or more for NetBSD, names of 254+ bytes for Linux.\n"
		"\n"
		"A compressed blob is decompressed once into a temporary file in $TMPDIR\n"
		"(removed at exit); --tar-max bounds its size.\n"
		"\n"
		"Exit status: 0 written, 1 the layer could not be read or written, 2 usage.",
};

typedef struct {
	int out_fd;
	bool out_regular;      /* seekable: holes by lseek, data by copy_file_range */
	uint64_t pos;          /* output position */
	uint8_t *buf;          /* BUF_SIZE: metadata waiting to be written, or a copy */
	size_t pending;        /* metadata bytes in @buf */
} Writer;

typedef struct {
	const char *target;    /* the image asked for (parts of a stack build too) */
	bool keep_going;
	bool quiet;
	uint64_t skipped;
	bool failed;           /* the build reported errors */
} Findings;

static int
flush_meta(Writer *w)
{
	int ret = 0;

	if (w->pending) {
		ret = limg_write_all(w->out_fd, w->buf, w->pending);
		w->pos += w->pending;
		w->pending = 0;
	}
	return ret;
}

static int
sink_meta(void *ctx, GBytes *block, size_t off, size_t len)
{
	Writer *w = ctx;
	int ret = 0;

	if (w->pending + len > BUF_SIZE)
		ret = flush_meta(w);
	if (ret == 0) {
		memcpy(w->buf + w->pending, (const uint8_t *)g_bytes_get_data(block, NULL) + off, len);
		w->pending += len;
	}
	g_bytes_unref(block);
	return ret;
}

static int
sink_zero(void *ctx, uint64_t len)
{
	Writer *w = ctx;
	int ret = flush_meta(w);

	if (ret < 0)
		return ret;
	if (w->out_regular) {
		w->pos += len;
		return lseek(w->out_fd, (off_t)w->pos, SEEK_SET) < 0 ? -errno : 0;
	}
	memset(w->buf, 0, BUF_SIZE);
	while (len) {
		size_t n = len < BUF_SIZE ? (size_t)len : BUF_SIZE;

		if ((ret = limg_write_all(w->out_fd, w->buf, n)) < 0)
			return ret;
		len -= n;
		w->pos += n;
	}
	return 0;
}

/* Copy @len bytes of @src_fd at @soff; holes stay holes in a regular file. */
/*
 * Can @fd have holes? Asking the file system where they are costs little
 * on most, but on tmpfs each SEEK_DATA / SEEK_HOLE walks the page cache
 * (0.5 ms for a 200 MB file, a spool in $TMPDIR): ask only files that
 * take fewer blocks than their size.
 */
static bool
may_have_holes(int fd)
{
	struct stat st;

	return fstat(fd, &st) < 0 || (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size;
}

static int
copy_range(Writer *w, int src_fd, uint64_t soff, uint64_t len)
{
	bool holes = w->out_regular && may_have_holes(src_fd);

	while (len) {
		if (w->out_regular) {
			off_t data = holes ? lseek(src_fd, (off_t)soff, SEEK_DATA) : (off_t)soff, hole;
			uint64_t n = len;
			off_t in = (off_t)soff, out = (off_t)w->pos;
			ssize_t c;

			if (data < 0 && errno == ENXIO)
				data = (off_t)(soff + len);   /* the rest is a hole */
			if (data >= 0 && (uint64_t)data > soff) {
				uint64_t skip = MIN((uint64_t)data - soff, len);
				int ret = sink_zero(w, skip);

				if (ret < 0)
					return ret;
				soff += skip;
				len -= skip;
				continue;
			}
			hole = holes ? lseek(src_fd, (off_t)soff, SEEK_HOLE) : -1;
			if (hole > 0 && (uint64_t)hole > soff && (uint64_t)hole - soff < n)
				n = (uint64_t)hole - soff;
			c = copy_file_range(src_fd, &in, w->out_fd, &out, (size_t)n, 0);
			if (c < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			              errno == EOPNOTSUPP))
				goto plain;
			if (c < 0)
				return -errno;
			if (c == 0)
				return -ESTALE;   /* the file got shorter */
			soff += (uint64_t)c;
			len -= (uint64_t)c;
			w->pos += (uint64_t)c;
			if (lseek(w->out_fd, (off_t)w->pos, SEEK_SET) < 0)
				return -errno;
			continue;
		}
plain:
		{
			size_t n = len < BUF_SIZE ? (size_t)len : BUF_SIZE;
			ssize_t r = pread(src_fd, w->buf, n, (off_t)soff);
			int ret;

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				return -ESTALE;
			if ((ret = limg_write_all(w->out_fd, w->buf, (size_t)r)) < 0)
				return ret;
			soff += (uint64_t)r;
			len -= (uint64_t)r;
			w->pos += (uint64_t)r;
		}
	}
	return 0;
}

static int
sink_data(void *ctx, LimgHandle *handle, uint64_t pos, uint64_t len)
{
	Writer *w = ctx;
	int ret = flush_meta(w);

	if (ret == 0)
		ret = copy_range(w, limg_handle_content(handle)->fd, pos, len);
	limg_handle_unref(handle);
	return ret;
}

static const LimgReadSink writer_sink = { sink_meta, sink_data, sink_zero };

/* The build's findings, on stderr as they come (the service's report hook). */
static void
print_findings(void *ctx, const char *name, const LimgReport *report, uint64_t skipped)
{
	Findings *f = ctx;

	for (guint i = 0; i < report->warnings->len; i++)
		limg_cli_error(&spec, "%s%s", f->keep_going ? "warning: " : "",
		               (char *)report->warnings->pdata[i]);
	for (guint i = 0; i < report->errors->len; i++)
		limg_cli_error(&spec, "%s", (char *)report->errors->pdata[i]);
	f->skipped += skipped;
	if (report->errors->len > 0 || (skipped && !f->keep_going))
		f->failed = true;
	if (strcmp(name, f->target) != 0)
		return;   /* a part of a stack: the report is the stack's */
	if (!f->quiet && !f->failed) {
		g_autoptr(GString) compat = g_string_new(NULL);

		limg_report_format_compat(report, compat);
		fputs(compat->str, stderr);
	}
}

/* Write all of @g to @w. 0 or -errno (described on stderr). */
static int
write_image(Writer *w, LimgGen *g, const char *dir)
{
	uint64_t size = limg_gen_size(g);
	int ret = limg_gen_read(g, 0, size, &writer_sink, w);

	if (ret == 0)
		ret = flush_meta(w);
	if (ret == 0 && w->out_regular && ftruncate(w->out_fd, (off_t)size) < 0)
		ret = -errno;
	if (ret < 0)
		limg_cli_error(&spec, "%s: %s; no image written", dir,
		               ret == -ESTALE ? "a file changed or was replaced during the render "
		                                "(not written as mixed bytes)" :
		               g_strerror(-ret));
	return ret;
}

/* The image name of layer @i of @n (messages only): DIR's base name if usable. */
static char *
layer_name(const char *dir, int i, int n)
{
	g_autofree char *base = g_path_get_basename(dir);

	if (!limg_store_valid_name(base) || strlen(base) > 200) {
		g_free(base);
		base = g_strdup("layer");
	}
	return n == 1 ? g_steal_pointer(&base) : g_strdup_printf("%02d-%s", i, base);
}

/*
 * "LAYOUT:REF" where LAYOUT is an OCI image layout directory (it has an
 * oci-layout file) and @arg itself is not a path: split it.
 */
static bool
oci_ref(const char *arg, char **layout, char **ref)
{
	struct stat st;

	if (stat(arg, &st) == 0)
		return false;
	for (const char *c = strchr(arg, ':'); c; c = strchr(c + 1, ':')) {
		g_autofree char *dir = g_strndup(arg, (gsize)(c - arg));
		g_autofree char *marker = g_build_filename(dir, "oci-layout", NULL);

		if (c[1] && stat(marker, &st) == 0 && S_ISREG(st.st_mode)) {
			*layout = g_steal_pointer(&dir);
			*ref = g_strdup(c + 1);
			return true;
		}
	}
	return false;
}

/* The store name of image @ref's flattened root: a tag, else an image id. */
static char *
image_for_ref(LimgStore *store, const char *layout, const char *ref, GError **error)
{
	g_autoptr(LimgStoreMeta) m = limg_store_meta(store);
	LimgMetaImage *image = NULL;
	const char *id = g_str_has_prefix(ref, "sha256:") ? ref + 7 : ref;
	g_autoptr(GString) known = g_string_new(NULL);

	if (m) {
		image = g_hash_table_lookup(m->tags, ref);
		if (!image)
			image = limg_store_meta_image(m, id);
	}
	if (image)
		return g_strdup_printf("images/%s/rootfs", image->id);
	if (m) {
		GHashTableIter it;
		gpointer k;

		g_hash_table_iter_init(&it, m->tags);
		while (g_hash_table_iter_next(&it, &k, NULL))
			g_string_append_printf(known, "%s%s", known->len ? ", " : "", (char *)k);
	}
	g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
	            "%s: no image '%s' in this OCI layout (tags: %s)", layout, ref,
	            known->len ? known->str : "none");
	return NULL;
}

static void
print_layout(LimgImages *im, LimgGen *g)
{
	LimgImagesStats st;
	uint32_t n = limg_gen_entries(g);

	limg_images_stats(im, &st);
	printf("entries: %u\nimage_bytes: %" G_GUINT64_FORMAT "\nmeta_blocks: %u\n"
	       "data_bytes: %" G_GUINT64_FORMAT "\nwalk_seconds: %.6f\nlayout_seconds: %.6f\n"
	       "memory_bytes: %zu\nbytes_per_entry: %.1f\n",
	       n, limg_gen_size(g), limg_gen_meta_blocks(g), limg_gen_data_bytes(g),
	       st.walk_usec / 1e6, (st.layout_usec - MIN(st.layout_usec, st.walk_usec)) / 1e6,
	       limg_gen_mem_bytes(g), (double)limg_gen_mem_bytes(g) / n);
}

int
limg_cmd_render(int argc, char **argv)
{
	g_autofree char *out_path = NULL, *volume_id = NULL, *tmp_path = NULL, *name = NULL;
	g_autofree char *tar_max = NULL;
	gboolean no_xattrs = FALSE, keep_going = FALSE, layout_only = FALSE, quiet = FALSE;
	gint threads = 0;
	const GOptionEntry entries[] = {
		{ "output", 'o', 0, G_OPTION_ARG_FILENAME, &out_path,
		  "Write to FILE (default: standard output, which must not be a terminal). "
		  "FILE is written under a temporary name and renamed when complete", "FILE" },
		{ "volume-id", 'V', 0, G_OPTION_ARG_STRING, &volume_id,
		  "Volume identifier (default LAYER)", "ID" },
		{ "no-xattrs", 0, 0, G_OPTION_ARG_NONE, &no_xattrs,
		  "Do not record extended attributes", NULL },
		{ "threads", 'j', 0, G_OPTION_ARG_INT, &threads,
		  "Stat entries on N threads (default: the number of cores, at most 4); "
		  "the image is the same for any N", "N" },
		{ "keep-going", 'k', 0, G_OPTION_ARG_NONE, &keep_going,
		  "Write the image even if some entries cannot be read (they are left out "
		  "and listed); default: fail", NULL },
		{ "layout-only", 'n', 0, G_OPTION_ARG_NONE, &layout_only,
		  "Lay out only: print size and statistics, write nothing", NULL },
		{ "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
		  "Do not print the compatibility report", NULL },
		{ "tar-max", 0, 0, G_OPTION_ARG_STRING, &tar_max,
		  "Refuse a compressed blob that decompresses to more than SIZE bytes "
		  "(K, M, G, T suffixes; default 64G)", "SIZE" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	Findings findings = { 0 };
	LimgImagesOptions iopts = { .xattrs = true, .handles = 16, .cache_mem = 4 * 1024 * 1024,
	                            .report = print_findings, .report_ctx = &findings };
	g_autoptr(GError) error = NULL;
	g_autoptr(LimgGen) g = NULL;
	LimgImages *im = NULL;
	g_autofree char *layout = NULL, *ref = NULL;
	LimgStore *store;
	Writer w = { .out_fd = -1 };
	const char *dir;
	int ret, status = 1;

	ret = limg_cli_parse(&spec, entries, &argc, &argv);
	if (ret >= 0)
		return ret;
	if (argc < 2)
		return limg_cli_usage_error(&spec, "expected a layer directory or tar blob");
	if (tar_max && !(iopts.tar_max = limg_parse_size(tar_max)))
		return limg_cli_usage_error(&spec, "--tar-max=%s: expected a size like 512M or 8G",
		                            tar_max);
	if (threads < 0)
		return limg_cli_usage_error(&spec, "--threads=%d: expected a positive number", threads);
	dir = argc == 2 ? argv[1] : "the layer stack";
	if (!out_path && !layout_only && isatty(STDOUT_FILENO)) {
		limg_cli_error(&spec, "refusing to write an image to a terminal; use -o FILE");
		return 2;
	}
	limg_log_set_program("fuse-layerimg render");
	findings.keep_going = keep_going;
	findings.quiet = quiet;
	iopts.xattrs = !no_xattrs;
	iopts.scan_threads = (unsigned)threads;
	iopts.strict = !keep_going;
	iopts.volume_id = volume_id;

	if (argc == 2 && oci_ref(argv[1], &layout, &ref)) {
		store = limg_store_new(layout, "oci", &error);
		if (store)
			name = image_for_ref(store, layout, ref, &error);
	} else if ((store = limg_store_new(NULL, NULL, &error))) {
		g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);

		for (int i = 1; i < argc && !error; i++) {
			g_ptr_array_add(parts, layer_name(argv[i], i - 1, argc - 1));
			limg_store_add_dir(store, parts->pdata[i - 1], argv[i], &error);
		}
		g_ptr_array_add(parts, NULL);
		if (!error)
			name = argc == 2 ? g_strdup(parts->pdata[0]) : g_strdup("rootfs");
		if (!error && argc > 2)
			limg_store_add_stack(store, name, (const char *const *)parts->pdata, &error);
	}
	if (!store || error) {
		limg_cli_error(&spec, "%s", error->message);
		limg_store_free(store);
		return 1;
	}
	if (!name) {
		limg_cli_error(&spec, "%s", error->message);
		limg_store_free(store);
		return 1;
	}
	findings.target = name;
	im = limg_images_new(store, &iopts);
	ret = limg_images_get(im, name, &g);
	if (ret < 0) {
		if (findings.skipped && !keep_going)
			limg_cli_error(&spec, "%s: %" G_GUINT64_FORMAT " entr%s could not be read; no "
			               "image written (use --keep-going to leave them out)", dir,
			               findings.skipped, findings.skipped == 1 ? "y" : "ies");
		else if (!findings.failed)
			limg_cli_error(&spec, "%s: %s", dir, g_strerror(-ret));
		/* else: the report hook printed why */
		goto out_images;
	}
	if (layout_only) {
		print_layout(im, g);
		status = 0;
		goto out_images;
	}

	w.buf = g_malloc(BUF_SIZE);
	if (out_path) {
		g_autofree char *dname = g_path_get_dirname(out_path);
		g_autofree char *bname = g_path_get_basename(out_path);

		tmp_path = g_strdup_printf("%s/.%s.XXXXXX", dname, bname);
		w.out_fd = g_mkstemp_full(tmp_path, O_RDWR | O_CLOEXEC, 0644);
		if (w.out_fd < 0) {
			limg_cli_error(&spec, "%s: %s", out_path, g_strerror(errno));
			g_clear_pointer(&tmp_path, g_free);
			goto out_free;
		}
		w.out_regular = true;
	} else {
		struct stat st;

		w.out_fd = STDOUT_FILENO;
		w.out_regular = fstat(w.out_fd, &st) == 0 && S_ISREG(st.st_mode) &&
		                lseek(w.out_fd, 0, SEEK_CUR) == 0;
	}
	if (write_image(&w, g, dir) < 0)
		goto out_free;
	if (out_path) {
		ret = fsync(w.out_fd) < 0 ? -errno : 0;
		if (close(w.out_fd) < 0 && ret == 0)
			ret = -errno;
		w.out_fd = -1;
		if (ret == 0 && rename(tmp_path, out_path) < 0)
			ret = -errno;
		if (ret < 0) {
			limg_cli_error(&spec, "%s: %s", out_path, g_strerror(-ret));
			goto out_free;
		}
		g_clear_pointer(&tmp_path, g_free);
	}
	status = 0;
out_free:
	if (out_path && w.out_fd >= 0)
		close(w.out_fd);
	if (tmp_path)
		unlink(tmp_path);
	g_free(w.buf);
out_images:
	g_clear_pointer(&g, limg_gen_unref);
	limg_images_free(im);
	return status;
}
