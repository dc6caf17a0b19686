/*
 * fixtures.c - scratch directories and files for the unit tests, and
 * the helpers of the upper modules' suites; see testlib.h.
 */
#include <config.h>

#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/testlib.h"

char *
th_tmpdir(void)
{
	g_autoptr(GError) error = NULL;
	char *dir = g_dir_make_tmp("limg-unit-XXXXXX", &error);

	cr_assert(dir != NULL, "cannot make a scratch directory: %s", error ? error->message : "");
	return dir;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void
th_rmtree(const char *dir)
{
	if (dir)
		nftw(dir, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

void
th_mkdir(const char *dir, const char *rel)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);

	cr_assert_eq(g_mkdir_with_parents(path, 0755), 0, "mkdir %s: %s", path, g_strerror(errno));
}

void
th_write(const char *dir, const char *rel, const void *data, size_t len)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	g_autofree char *parent = g_path_get_dirname(path);
	g_autoptr(GError) error = NULL;

	cr_assert_eq(g_mkdir_with_parents(parent, 0755), 0, "mkdir %s", parent);
	cr_assert(g_file_set_contents(path, data, (gssize)len, &error), "write %s: %s", path,
	          error ? error->message : "");
}

void
th_write_text(const char *dir, const char *rel, const char *text)
{
	th_write(dir, rel, text, strlen(text));
}

void
th_touch(const char *dir, const char *rel, int64_t mtime)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	struct timespec ts[2] = { { (time_t)mtime, 0 }, { (time_t)mtime, 0 } };

	cr_assert_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0, "touch %s", path);
}

/* ------------------------------------------------------------ upper modules */

const char *
th_srcdir(void)
{
	static char *dir;
	const char *env = getenv("top_srcdir");

	if (env && *env)
		return env;
	if (!dir) {
		/* __FILE__ is <srcdir>/tests/unit/lib/fixtures.c as the build named it. */
		static const char tail[] = "tests/unit/lib/fixtures.c";
		size_t n = strlen(__FILE__);

		cr_assert(n >= sizeof(tail) - 1 &&
		          strcmp(__FILE__ + n - (sizeof(tail) - 1), tail) == 0,
		          "cannot tell the source tree from %s: set top_srcdir", __FILE__);
		dir = g_strndup(__FILE__, n - (sizeof(tail) - 1));
		if (!g_path_is_absolute(dir)) {
			/*
			 * Relative to the build directory the compiler ran in: the
			 * suites are <builddir>/tests/unit/test-*.
			 */
			g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
			g_autofree char *exe_dir = exe ? g_path_get_dirname(exe) : g_get_current_dir();
			char *abs = g_build_filename(exe_dir, "..", "..", dir, NULL);

			g_free(dir);
			dir = abs;
		}
	}
	return dir;
}

char *
th_data_path(const char *rel)
{
	return g_build_filename(th_srcdir(), rel, NULL);
}

uint8_t *
th_read(const char *path, size_t *len)
{
	g_autoptr(GError) error = NULL;
	char *data = NULL;
	gsize n = 0;

	cr_assert(g_file_get_contents(path, &data, &n, &error), "read %s: %s", path,
	          error ? error->message : "");
	if (len)
		*len = n;
	return (uint8_t *)data;
}

bool
th_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static gint
cmp_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
th_list_dir(const char *dir, const char *suffix)
{
	GPtrArray *names = g_ptr_array_new();
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	cr_assert(d != NULL, "cannot list %s", dir);
	while ((name = g_dir_read_name(d)) != NULL) {
		if (!suffix || g_str_has_suffix(name, suffix))
			g_ptr_array_add(names, g_strdup(name));
	}
	g_dir_close(d);
	g_ptr_array_sort(names, cmp_names);
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}

char *
th_sha256_hex(const char *s)
{
	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, s, -1);
}

char *
th_cache_file(const char *dir, const char *key)
{
	g_autofree char *hex = th_sha256_hex(key);

	return g_strdup_printf("%s/%s.tree", dir, hex);
}

bool
th_wait_for(bool (*pred)(void *ctx), void *ctx, unsigned timeout_ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		if (pred(ctx))
			return true;
		if (g_get_monotonic_time() >= end)
			return pred(ctx);
		g_usleep(10 * 1000);
	}
}

static struct __user_cap_data_struct saved_caps[_LINUX_CAPABILITY_U32S_3];
static bool caps_saved;

void
th_dac_drop(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	cr_assert_eq(syscall(SYS_capget, &hdr, saved_caps), 0, "capget: %s", strerror(errno));
	caps_saved = true;
	memcpy(data, saved_caps, sizeof(data));
	data[CAP_TO_INDEX(CAP_DAC_OVERRIDE)].effective &= ~CAP_TO_MASK(CAP_DAC_OVERRIDE);
	data[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].effective &= ~CAP_TO_MASK(CAP_DAC_READ_SEARCH);
	cr_assert_eq(syscall(SYS_capset, &hdr, data), 0, "capset: %s", strerror(errno));
}

void
th_dac_restore(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };

	if (caps_saved)
		cr_assert_eq(syscall(SYS_capset, &hdr, saved_caps), 0, "capset: %s", strerror(errno));
	caps_saved = false;
}

LimgImages *
th_images_new(const char *store_dir, const char *kind, const LimgImagesOptions *opts)
{
	static const LimgImagesOptions defaults;
	g_autoptr(GError) error = NULL;
	LimgStore *store = limg_store_new(store_dir, kind ? kind : "plain", &error);
	LimgImages *im;

	cr_assert(store != NULL, "store %s: %s", store_dir, error ? error->message : "");
	im = limg_images_new(store, opts ? opts : &defaults);
	cr_assert(im != NULL);
	return im;
}

LimgStore *
th_store_open(const char *dir, const char *kind)
{
	g_autoptr(GError) error = NULL;
	LimgStore *s = limg_store_new(dir, kind, &error);

	cr_assert_not_null(s, "store %s (%s): %s", dir, kind ? kind : "auto",
	                   error ? error->message : "");
	return s;
}

char *
th_store_ids(LimgStore *s)
{
	g_autoptr(GPtrArray) layers = limg_store_list(s);
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < layers->len; i++)
		g_string_append_printf(out, "%s%s", i ? " " : "",
		                       ((const LimgLayerInfo *)layers->pdata[i])->id);
	return g_string_free(out, FALSE);
}
