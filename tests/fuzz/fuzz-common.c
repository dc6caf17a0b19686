/*
 * fuzz-common.c - what the harnesses share; see fuzz-common.h.
 *
 * Also the harnesses' log (src/util/log.h), linked instead of
 * src/util/log.c: every message is still formatted, so a format that
 * does not match its arguments is caught by the sanitizers, but nothing
 * is printed unless LIMG_FUZZ_VERBOSE is set (a million inputs would
 * otherwise spend their time writing to stderr, and libFuzzer's own
 * report would drown).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "fuzz-common.h"
#include "util/log.h"

#define MAX_RECORDS 256
#define MAX_PATH_LEN 255
#define MAX_COMPONENTS 16
#define TAR_BLOCK 512
#define TAR_MTIME 1600000000

/* ------------------------------------------------------------ log */

static bool verbose;

void
limg_log_set_program(const char *name)
{
}

void
limg_log_use_syslog(bool on)
{
}

void
limg_log_set_debug(bool on)
{
}

void
limg_log(LimgLogLevel level, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (verbose)
		fprintf(stderr, "fuzz: log %d: %s\n", (int)level, msg);
}

/*
 * GLib's own fatal path ends in a breakpoint (SIGTRAP), which libFuzzer
 * does not take for a crash: it would exit without saving the input.
 * abort() it is.
 */
static void
fatal_log(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
		fprintf(stderr, "fuzz: %s%s%s\n", domain ? domain : "", domain ? ": " : "", message);
		abort();
	}
	if (verbose)
		g_log_default_handler(domain, level, message, data);
}

void
limg_fuzz_init(void)
{
	verbose = getenv("LIMG_FUZZ_VERBOSE") != NULL;
	g_log_set_default_handler(fatal_log, NULL);
}

/* ------------------------------------------------------------ files */

static char *scratch;

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void
limg_fuzz_rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	/* FTW_PHYS: a symlink in the tree is removed, never followed. */
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
remove_scratch(void)
{
	if (scratch)
		limg_fuzz_rm_rf(scratch);
}

const char *
limg_fuzz_dir(void)
{
	if (!scratch) {
		char *t = g_build_filename(g_get_tmp_dir(), "limg-fuzz.XXXXXX", NULL);

		if (!mkdtemp(t)) {
			fprintf(stderr, "fuzz: %s: %s\n", t, g_strerror(errno));
			abort();
		}
		scratch = t;
		atexit(remove_scratch);
	}
	return scratch;
}

char *
limg_fuzz_fresh(const char *name)
{
	char *path = g_build_filename(limg_fuzz_dir(), name, NULL);

	limg_fuzz_rm_rf(path);
	return path;
}

void
limg_fuzz_write(const char *path, const void *data, size_t len)
{
	g_autoptr(GError) error = NULL;

	if (!g_file_set_contents(path, data, (gssize)len, &error)) {
		fprintf(stderr, "fuzz: %s\n", error->message);
		abort();
	}
}

/* ------------------------------------------------------------ layouts */

typedef struct {
	char type;            /* 'f', 'd', 'l', 'h' */
	char *path;
	char *to;             /* 'l', 'h' */
	GByteArray *data;     /* 'f': the content, substituted */
	char hex[65];         /* of @data */
} Record;

static void
record_free(gpointer p)
{
	Record *r = p;

	g_free(r->path);
	g_free(r->to);
	if (r->data)
		g_byte_array_unref(r->data);
	g_free(r);
}

/* Relative, no empty, "." or ".." component, not too long or deep. */
static bool
path_ok(const char *path)
{
	g_auto(GStrv) parts = NULL;
	guint n;

	if (!path[0] || strlen(path) > MAX_PATH_LEN || path[0] == '/')
		return false;
	parts = g_strsplit(path, "/", -1);
	n = g_strv_length(parts);
	if (n > MAX_COMPONENTS)
		return false;
	for (guint i = 0; i < n; i++) {
		if (!parts[i][0] || strcmp(parts[i], ".") == 0 || strcmp(parts[i], "..") == 0)
			return false;
	}
	return true;
}

/* @s of @len bytes with {{sha:N}} and {{size:N}} of earlier records replaced. */
static GByteArray *
substitute(const uint8_t *s, size_t len, GPtrArray *records)
{
	GByteArray *out = g_byte_array_sized_new((guint)len);
	size_t i = 0;

	while (i < len) {
		const uint8_t *open = memmem(s + i, len - i, "{{", 2);
		const uint8_t *close;
		char token[32];
		size_t tlen;
		unsigned n = 0;
		char kind[8];
		char tail;

		if (!open) {
			g_byte_array_append(out, s + i, (guint)(len - i));
			break;
		}
		g_byte_array_append(out, s + i, (guint)(open - (s + i)));
		i = (size_t)(open - s);
		close = memmem(open, len - i, "}}", 2);
		tlen = close ? (size_t)(close - open) + 2 : 0;
		if (close && tlen < sizeof(token)) {
			memcpy(token, open, tlen);
			token[tlen] = 0;
			if (sscanf(token, "{{%7[a-z]:%u}%c", kind, &n, &tail) == 3 && tail == '}' &&
			    n < records->len) {
				const Record *r = records->pdata[n];
				g_autofree char *text = NULL;

				if (strcmp(kind, "sha") == 0)
					text = g_strdup(r->hex);
				else if (strcmp(kind, "size") == 0)
					text = g_strdup_printf("%u", r->data ? r->data->len : 0);
				if (text) {
					g_byte_array_append(out, (const guint8 *)text, (guint)strlen(text));
					i += tlen;
					continue;
				}
			}
		}
		/* Not a token: the "{{" as it is. */
		g_byte_array_append(out, open, 2);
		i += 2;
	}
	return out;
}

/* The records of @data, or NULL when it is not a layout. */
static GPtrArray *
parse_layout(const uint8_t *data, size_t len, bool *is_archive)
{
	g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func(record_free);
	size_t at = 0;

	*is_archive = false;
	if (len < 4 || memcmp(data, "=== ", 4) != 0)
		return NULL;
	while (at < len) {
		const uint8_t *nl, *next;
		size_t hend, cstart, cend;
		g_autofree char *header = NULL;
		g_autofree char *rawpath = NULL;
		Record *r;
		char *arrow;

		if (records->len >= MAX_RECORDS || len - at < 4 || memcmp(data + at, "=== ", 4) != 0)
			return NULL;
		nl = memchr(data + at, '\n', len - at);
		hend = nl ? (size_t)(nl - data) : len;
		header = g_strndup((const char *)data + at + 4, hend - at - 4);
		if (strlen(header) != hend - at - 4)
			return NULL;   /* a NUL in the header */
		cstart = nl ? hend + 1 : len;
		if (cstart + 4 <= len && memcmp(data + cstart, "=== ", 4) == 0) {
			cend = cstart;
			at = cstart;
		} else {
			next = cstart < len ? memmem(data + cstart, len - cstart, "\n=== ", 5) : NULL;
			cend = next ? (size_t)(next - data) : len;
			at = next ? cend + 1 : len;
		}
		if (records->len == 0 && strcmp(header, "archive") == 0) {
			*is_archive = true;
			continue;
		}
		if (strlen(header) < 3 || header[1] != ' ' || !strchr("fdlh", header[0]))
			return NULL;
		rawpath = g_strdup(header + 2);
		arrow = strstr(rawpath, " -> ");
		if ((header[0] == 'l' || header[0] == 'h') && (!arrow || !arrow[4]))
			return NULL;
		r = g_new0(Record, 1);
		r->type = header[0];
		if (r->type == 'l' || r->type == 'h') {
			*arrow = 0;
			r->to = g_strdup(arrow + 4);
		}
		/* Before @r is added: it may name earlier records only. */
		r->data = r->type == 'f' ? substitute(data + cstart, cend - cstart, records) :
		          g_byte_array_new();
		g_ptr_array_add(records, r);
		{
			g_autofree char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
			                                                   r->data->data, r->data->len);
			g_auto(GStrv) parts = g_strsplit(rawpath, "@", -1);

			memcpy(r->hex, hex, 65);
			r->path = g_strjoinv(hex, parts);
		}
		/* An archive may name anything (its reader's names are the test). */
		if (*is_archive ? !r->path[0] || strlen(r->path) > MAX_PATH_LEN : !path_ok(r->path))
			return NULL;
		if (r->type == 'h' && !*is_archive && !path_ok(r->to))
			return NULL;
	}
	return g_steal_pointer(&records);
}

/*
 * The directory @path's parent below @root_fd, made as needed, never
 * through a symlink: an fd, and the last component in *@leaf. -1 if a
 * component is not a directory.
 */
static int
open_parent(int root_fd, const char *path, const char **leaf)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	guint n = g_strv_length(parts);
	int fd = dup(root_fd);

	for (guint i = 0; fd >= 0 && i + 1 < n; i++) {
		int sub;

		if (mkdirat(fd, parts[i], 0755) < 0 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		sub = openat(fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = sub;
	}
	*leaf = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	return fd;
}

static void
make_record(int root_fd, const Record *r)
{
	const char *leaf, *old_leaf;
	int pfd = open_parent(root_fd, r->path, &leaf);
	int fd, ofd;

	if (pfd < 0)
		return;
	switch (r->type) {
	case 'd':
		mkdirat(pfd, leaf, 0755);
		break;
	case 'l':
		symlinkat(r->to, pfd, leaf);
		break;
	case 'h':
		/* The target's parent is walked the same way: never out of the tree. */
		ofd = open_parent(root_fd, r->to, &old_leaf);
		if (ofd >= 0) {
			linkat(ofd, old_leaf, pfd, leaf, 0);
			close(ofd);
		}
		break;
	case 'f':
		fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0) {
			size_t done = 0;

			while (done < r->data->len) {
				ssize_t w = write(fd, r->data->data + done, r->data->len - done);

				if (w <= 0) {
					fprintf(stderr, "fuzz: write: %s\n", g_strerror(errno));
					abort();
				}
				done += (size_t)w;
			}
			close(fd);
		}
		break;
	}
	close(pfd);
}

static void
octal(char *field, size_t width, uint64_t v)
{
	/* width - 1 digits and a NUL, as ustar writers do */
	g_snprintf(field, width, "%0*" G_GINT64_MODIFIER "o", (int)width - 1, v);
}

/* A ustar header for @r, or false when its names do not fit one. */
static bool
tar_header(uint8_t h[TAR_BLOCK], const Record *r)
{
	size_t plen = strlen(r->path);
	const char *name = r->path;
	size_t prefix = 0;
	unsigned sum = 0;

	memset(h, 0, TAR_BLOCK);
	if (plen > 100) {
		/* ustar: prefix (155) "/" name (100), split at a '/' */
		const char *slash = r->path + plen - 101;

		slash = strchr(slash, '/');
		if (!slash || (size_t)(slash - r->path) > 155)
			return false;
		prefix = (size_t)(slash - r->path);
		name = slash + 1;
		if (!*name)
			return false;
		memcpy(h + 345, r->path, prefix);
	}
	memcpy(h, name, strlen(name));
	octal((char *)h + 100, 8, r->type == 'd' ? 0755 : r->type == 'l' ? 0777 : 0644);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	octal((char *)h + 124, 12, r->type == 'f' ? r->data->len : 0);
	octal((char *)h + 136, 12, TAR_MTIME);
	h[156] = r->type == 'f' ? '0' : r->type == 'd' ? '5' : r->type == 'l' ? '2' : '1';
	if (r->to) {
		if (strlen(r->to) > 100)
			return false;
		memcpy(h + 157, r->to, strlen(r->to));
	}
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < TAR_BLOCK; i++)
		sum += h[i];
	g_snprintf((char *)h + 148, 8, "%06o", sum);
	return true;
}

static void
pack(const char *path, GPtrArray *records)
{
	g_autoptr(GByteArray) tar = g_byte_array_new();
	uint8_t h[TAR_BLOCK];
	static const uint8_t zero[TAR_BLOCK];

	for (guint i = 0; i < records->len; i++) {
		const Record *r = records->pdata[i];

		if (!tar_header(h, r))
			continue;
		g_byte_array_append(tar, h, TAR_BLOCK);
		if (r->type == 'f' && r->data->len) {
			g_byte_array_append(tar, r->data->data, r->data->len);
			g_byte_array_append(tar, zero, (TAR_BLOCK - r->data->len % TAR_BLOCK) % TAR_BLOCK);
		}
	}
	g_byte_array_append(tar, zero, TAR_BLOCK);
	g_byte_array_append(tar, zero, TAR_BLOCK);
	limg_fuzz_write(path, tar->data, tar->len);
}

bool
limg_fuzz_layout(const char *path, const uint8_t *data, size_t len, bool *is_archive)
{
	g_autoptr(GPtrArray) records = parse_layout(data, len, is_archive);
	int root_fd;

	if (!records)
		return false;
	if (*is_archive) {
		pack(path, records);
		return true;
	}
	if (mkdir(path, 0755) < 0) {
		fprintf(stderr, "fuzz: %s: %s\n", path, g_strerror(errno));
		abort();
	}
	root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		abort();
	for (guint i = 0; i < records->len; i++)
		make_record(root_fd, records->pdata[i]);
	close(root_fd);
	return true;
}
