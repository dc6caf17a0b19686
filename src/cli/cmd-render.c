/*
 * cmd-render.c - `fuse-layerimg render DIR [-o OUT]`.
 *
 * Writes the image through the same layout, segment map and renderer the
 * mount serves, so the bytes are the mount's bytes. File data is copied
 * with copy_file_range() into a regular output file, holes in sources and
 * padding stay holes; a pipe gets plain writes. The output file is written
 * under a temporary name beside OUT and renamed into place only when
 * complete: a failed render never leaves a truncated image behind.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "cli/cli.h"
#include "iso/layout.h"
#include "iso/render.h"
#include "source/source.h"
#include "util/fdio.h"

#define PROG "fuse-layerimg render"
#define BATCH_BLOCKS 64

static const char render_usage[] =
	"Usage: fuse-layerimg render [OPTIONS] DIR\n"
	"\n"
	"Write the ISO 9660 + Rock Ridge image of the layer directory DIR: exactly\n"
	"the bytes the mount serves as <layer>.iso. The image is deterministic: the\n"
	"same tree gives the same bytes wherever it lies and whatever DIR is called.\n"
	"\n"
	"Options:\n"
	"  -o, --output=FILE     write to FILE (default: standard output, which must\n"
	"                        not be a terminal). FILE is written under a temporary\n"
	"                        name and renamed when complete.\n"
	"  -V, --volume-id=ID    volume identifier (default LAYER)\n"
	"      --no-xattrs       do not record extended attributes\n"
	"  -j, --threads=N       stat entries on N threads (default: the number of\n"
	"                        cores, at most 4); the image is the same for any N\n"
	"  -k, --keep-going      write the image even if some entries cannot be read\n"
	"                        (they are left out and listed); default: fail\n"
	"  -n, --layout-only     lay out only: print size and statistics, write nothing\n"
	"  -q, --quiet           do not print the compatibility report\n"
	"  -h, --help            show this help\n"
	"\n"
	"The compatibility report (on standard error) names what some target\n"
	"reader (Linux isofs, NetBSD cd9660, libarchive, libisofs) will not see,\n"
	"e.g. files of 4 GiB or more for NetBSD, names of 254+ bytes for Linux.\n"
	"\n"
	"Exit status: 0 written, 1 the layer could not be read or written, 2 usage.\n";

typedef struct {
	int root_fd;
	const LimgLayout *layout;
	int out_fd;
	bool out_regular;
	uint64_t pos;          /* output position when writing sequentially */
	int src_fd;            /* cached fd of the node being copied */
	uint32_t src_node;
	uint8_t *buf;
	size_t buf_size;
} Writer;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
emit_zeros(Writer *w, uint64_t len)
{
	if (w->out_regular) {
		w->pos += len;
		return lseek(w->out_fd, (off_t)w->pos, SEEK_SET) < 0 ? -errno : 0;
	}
	memset(w->buf, 0, w->buf_size);
	while (len) {
		size_t n = len < w->buf_size ? (size_t)len : w->buf_size;
		int ret = limg_write_all(w->out_fd, w->buf, n);

		if (ret < 0)
			return ret;
		len -= n;
		w->pos += n;
	}
	return 0;
}

static int
emit_meta(Writer *w, uint64_t off, uint64_t len)
{
	while (len) {
		uint32_t lba = (uint32_t)(off / ISO_BLOCK_SIZE), nb = 0;
		size_t n;
		int ret;

		while (nb < BATCH_BLOCKS && (uint64_t)nb * ISO_BLOCK_SIZE < len) {
			ret = limg_render_block(w->layout, lba + nb, w->buf + (size_t)nb * ISO_BLOCK_SIZE);
			if (ret < 0)
				return ret;
			nb++;
		}
		n = (size_t)nb * ISO_BLOCK_SIZE;
		if (n > len)
			n = (size_t)len;
		if ((ret = limg_write_all(w->out_fd, w->buf, n)) < 0)
			return ret;
		off += n;
		len -= n;
		w->pos += n;
	}
	return 0;
}

/* Copy @len bytes of the source at @soff; holes stay holes in a file. */
static int
copy_range(Writer *w, uint64_t soff, uint64_t len)
{
	while (len) {
		if (w->out_regular) {
			off_t data = lseek(w->src_fd, (off_t)soff, SEEK_DATA), hole;
			ssize_t c;

			if (data < 0 && errno == ENXIO)
				data = (off_t)(soff + len);   /* the rest is a hole */
			if (data >= 0 && (uint64_t)data > soff) {
				uint64_t skip = (uint64_t)data - soff < len ? (uint64_t)data - soff : len;
				int ret = emit_zeros(w, skip);

				if (ret < 0)
					return ret;
				soff += skip;
				len -= skip;
				continue;
			}
			hole = lseek(w->src_fd, (off_t)soff, SEEK_HOLE);
			{
				uint64_t n = len;
				off_t in = (off_t)soff, out = (off_t)w->pos;

				if (hole > 0 && (uint64_t)hole > soff && (uint64_t)hole - soff < n)
					n = (uint64_t)hole - soff;
				c = copy_file_range(w->src_fd, &in, w->out_fd, &out, (size_t)n, 0);
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
		}
plain:
		{
			size_t n = len < w->buf_size ? (size_t)len : w->buf_size;
			ssize_t r = pread(w->src_fd, w->buf, n, (off_t)soff);
			int ret;

			if (r < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
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
emit_data(Writer *w, const LimgSegment *seg, GError **error)
{
	const LimgTree *tree = limg_layout_tree(w->layout);
	int ret;

	if (w->src_fd < 0 || w->src_node != seg->node) {
		if (w->src_fd >= 0)
			close(w->src_fd);
		w->src_fd = limg_source_open_node(w->root_fd, tree, seg->node);
		w->src_node = seg->node;
		if (w->src_fd < 0) {
			g_autofree char *p = limg_tree_path(tree, seg->node);
			g_autofree char *e = limg_escape(p, strlen(p));

			ret = w->src_fd;
			w->src_fd = -1;
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret),
			            "/%s: %s", e, ret == -ESTALE ?
			            "changed or replaced since the layout; not served as mixed bytes" :
			            g_strerror(-ret));
			return ret;
		}
	}
	ret = copy_range(w, seg->file_offset, seg->length);
	if (ret < 0) {
		g_autofree char *p = limg_tree_path(tree, seg->node);
		g_autofree char *e = limg_escape(p, strlen(p));

		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret), "/%s: %s", e,
		            ret == -ESTALE ? "file got shorter while rendering" : g_strerror(-ret));
	}
	return ret;
}

static gboolean
write_image(Writer *w, GError **error)
{
	uint64_t size = limg_layout_size(w->layout), off = 0;

	while (off < size) {
		LimgSegment seg;
		int ret = limg_layout_segment(w->layout, off, &seg);

		if (ret == 0) {
			switch (seg.kind) {
			case LIMG_SEG_ZERO:
				ret = emit_zeros(w, seg.length);
				break;
			case LIMG_SEG_META:
				ret = emit_meta(w, off, seg.length);
				break;
			case LIMG_SEG_DATA:
				ret = emit_data(w, &seg, error);
				if (ret < 0)
					return FALSE;
				break;
			}
		}
		if (ret < 0) {
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret),
			            "writing the image: %s", g_strerror(-ret));
			return FALSE;
		}
		off += seg.length;
	}
	if (w->out_regular && ftruncate(w->out_fd, (off_t)size) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
		            "writing the image: %s", g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

int
limg_cmd_render(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "volume-id", required_argument, NULL, 'V' },
		{ "no-xattrs", no_argument, NULL, 'X' },
		{ "threads", required_argument, NULL, 'j' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "layout-only", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out_path = NULL, *dir;
	LimgLayoutOptions lopts = { 0 };
	LimgScanOptions sopts = { .xattrs = true,
	                          .threads = MIN(4u, g_get_num_processors()) };
	bool keep_going = false, layout_only = false, quiet = false;
	g_autoptr(LimgLayout) layout = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *tmp_path = NULL;
	g_autoptr(GString) compat = g_string_new(NULL);
	LimgTree *tree = NULL;
	LimgReport report;
	uint64_t skipped = 0;
	Writer w = { .src_fd = -1 };
	double t0, t1, t2;
	int c, ret, status = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:V:j:knqh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out_path = optarg; break;
		case 'V': lopts.volume_id = optarg; break;
		case 'X': sopts.xattrs = false; break;
		case 'j': sopts.threads = (unsigned)MAX(1, atoi(optarg)); break;
		case 'k': keep_going = true; break;
		case 'n': layout_only = true; break;
		case 'q': quiet = true; break;
		case 'h': fputs(render_usage, stdout); return 0;
		default: fputs(render_usage, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, PROG ": expected exactly one layer directory\n\n%s", render_usage);
		return 2;
	}
	dir = argv[optind];
	if (!out_path && !layout_only && isatty(STDOUT_FILENO)) {
		fprintf(stderr, PROG ": refusing to write an image to a terminal; use -o FILE\n");
		return 2;
	}

	w.root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.root_fd < 0) {
		fprintf(stderr, PROG ": %s: %s\n", dir,
		        errno == ENOTDIR ? "not a directory" : g_strerror(errno));
		return 1;
	}
	limg_report_init(&report);
	t0 = now_s();
	ret = limg_source_dir_scan(w.root_fd, &sopts, &report, &tree, &skipped);
	t1 = now_s();
	for (guint i = 0; i < report.warnings->len; i++)
		fprintf(stderr, PROG ": %s%s\n", keep_going ? "warning: " : "",
		        (char *)report.warnings->pdata[i]);
	if (ret < 0) {
		fprintf(stderr, PROG ": %s: %s\n", dir, g_strerror(-ret));
		goto out_report;
	}
	if (skipped && !keep_going) {
		fprintf(stderr, PROG ": %s: %" G_GUINT64_FORMAT " entr%s could not be read; "
		        "no image written (use --keep-going to leave them out)\n", dir, skipped,
		        skipped == 1 ? "y" : "ies");
		limg_tree_free(tree);
		goto out_report;
	}
	ret = limg_layout_build(tree, &lopts, &report, &layout);
	t2 = now_s();
	if (ret < 0) {
		for (guint i = 0; i < report.errors->len; i++)
			fprintf(stderr, PROG ": %s: %s\n", dir, (char *)report.errors->pdata[i]);
		if (report.errors->len == 0)
			fprintf(stderr, PROG ": %s: layout failed: %s\n", dir, g_strerror(-ret));
		goto out_report;
	}
	if (!quiet) {
		limg_report_format_compat(&report, compat);
		fputs(compat->str, stderr);
	}
	if (layout_only) {
		const LimgTree *t = limg_layout_tree(layout);

		printf("entries: %u\nimage_bytes: %" G_GUINT64_FORMAT "\nmeta_blocks: %u\n"
		       "data_bytes: %" G_GUINT64_FORMAT "\nwalk_seconds: %.6f\nlayout_seconds: %.6f\n"
		       "memory_bytes: %zu\nbytes_per_entry: %.1f\n",
		       t->n_nodes, limg_layout_size(layout), limg_layout_meta_blocks(layout),
		       t->data_bytes, t1 - t0, t2 - t1, limg_layout_mem_bytes(layout),
		       (double)limg_layout_mem_bytes(layout) / t->n_nodes);
		status = 0;
		goto out_report;
	}

	w.layout = layout;
	w.buf_size = BATCH_BLOCKS * ISO_BLOCK_SIZE;
	w.buf = g_malloc(w.buf_size);
	if (out_path) {
		g_autofree char *dname = g_path_get_dirname(out_path);
		g_autofree char *bname = g_path_get_basename(out_path);

		tmp_path = g_strdup_printf("%s/.%s.XXXXXX", dname, bname);
		w.out_fd = g_mkstemp_full(tmp_path, O_RDWR | O_CLOEXEC, 0644);
		if (w.out_fd < 0) {
			fprintf(stderr, PROG ": %s: %s\n", out_path, g_strerror(errno));
			g_clear_pointer(&tmp_path, g_free);
			goto out_free;
		}
	} else {
		struct stat st;

		w.out_fd = STDOUT_FILENO;
		if (fstat(w.out_fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    lseek(w.out_fd, 0, SEEK_CUR) == 0)
			w.out_regular = true;
	}
	if (out_path)
		w.out_regular = true;
	if (!write_image(&w, &error)) {
		fprintf(stderr, PROG ": %s: %s; no image written\n", dir, error->message);
		goto out_free;
	}
	if (out_path) {
		if (fsync(w.out_fd) < 0 || close(w.out_fd) < 0) {
			fprintf(stderr, PROG ": %s: %s\n", out_path, g_strerror(errno));
			w.out_fd = -1;
			goto out_free;
		}
		w.out_fd = -1;
		if (rename(tmp_path, out_path) < 0) {
			fprintf(stderr, PROG ": %s: %s\n", out_path, g_strerror(errno));
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
	if (w.src_fd >= 0)
		close(w.src_fd);
	g_free(w.buf);
out_report:
	limg_report_release(&report);
	close(w.root_fd);
	return status;
}
