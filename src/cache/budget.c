/*
 * budget.c - the disk cache's size budget and LRU eviction; see budget.h.
 *
 * An enforcement is one readdir of the directory with an fstatat per
 * cache name, a sort by mtime, and unlinkat()s until under the low-water
 * mark. Every name is looked at with AT_SYMLINK_NOFOLLOW and removed
 * with unlinkat(dirfd, name, 0), which removes a symlink itself and
 * refuses a directory, so nothing outside the directory is ever reached.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache/budget.h"
#include "util/log.h"

/* ------------------------------------------------------------ names */

typedef enum { NAME_OTHER, NAME_CACHE, NAME_TEMP } NameKind;

/*
 * <hex>.tree, <hex>.spool: cache files (<hex> not empty);
 * [<hex>].tree.tmp*, [<hex>].spool.tmp*: temporaries (persist.c writes
 * <hex>.tree.tmp.XXXXXX, the tar source .spool.tmp.XXXXXX).
 */
static NameKind
name_kind(const char *name)
{
	static const char *const suffixes[] = { ".tree", ".spool" };
	size_t hex = strspn(name, "0123456789abcdefABCDEF");
	const char *rest = name + hex;

	for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		size_t n = strlen(suffixes[i]);

		if (strncmp(rest, suffixes[i], n) != 0)
			continue;
		if (rest[n] == 0)
			return hex ? NAME_CACHE : NAME_OTHER;
		if (g_str_has_prefix(rest + n, ".tmp"))
			return NAME_TEMP;
	}
	return NAME_OTHER;
}

/* ------------------------------------------------------------ scan */

typedef struct {
	char *name;
	struct stat st;         /* at the scan */
	uint64_t bytes;         /* disk use */
} Entry;

static void
entry_clear(void *p)
{
	g_free(((Entry *)p)->name);
}

/* Least recently used first; names break ties, so the order is the same every time. */
static gint
entry_cmp(gconstpointer pa, gconstpointer pb)
{
	const Entry *a = pa, *b = pb;

	if (a->st.st_mtim.tv_sec != b->st.st_mtim.tv_sec)
		return a->st.st_mtim.tv_sec < b->st.st_mtim.tv_sec ? -1 : 1;
	if (a->st.st_mtim.tv_nsec != b->st.st_mtim.tv_nsec)
		return a->st.st_mtim.tv_nsec < b->st.st_mtim.tv_nsec ? -1 : 1;
	return strcmp(a->name, b->name);
}

typedef struct {
	GArray *entries;        /* Entry: the cache files; NULL: count only */
	bool reap;              /* remove stale temporaries */
	uint64_t bytes;         /* disk use of the cache files */
	uint64_t files;
	uint64_t temps;         /* stale temporaries removed */
	uint64_t failed;        /* files that could not be removed */
	int first_err;          /* -errno of the first of them */
} Scan;

/*
 * Remove @name of @dfd if it is still the file @was (same inode, same
 * mtime): 0, -ENOENT (gone meanwhile), -EAGAIN (used or replaced since:
 * kept), or the unlink's -errno. Between the check and the unlink the
 * name may still be replaced by a rename; then a fresh cache file is
 * lost, which costs its rebuild and nothing else. unlinkat() never
 * follows a symlink and refuses a directory.
 */
static int
remove_if_same(int dfd, const char *name, const struct stat *was)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (st.st_ino != was->st_ino || st.st_dev != was->st_dev ||
	    st.st_mtim.tv_sec != was->st_mtim.tv_sec || st.st_mtim.tv_nsec != was->st_mtim.tv_nsec)
		return -EAGAIN;
	return unlinkat(dfd, name, 0) < 0 ? -errno : 0;
}

static void
note_failure(Scan *s, int err)
{
	if (s->failed++ == 0)
		s->first_err = err;
}

/* One pass over @d: 0, or the readdir's -errno (the scan is then partial). */
static int
scan_dir(DIR *d, Scan *s)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	int dfd = dirfd(d);

	for (;;) {
		struct dirent *de;
		NameKind kind;
		struct stat st;
		Entry e;

		errno = 0;
		de = readdir(d);
		if (!de)
			return errno ? -errno : 0;
		kind = name_kind(de->d_name);
		if (kind == NAME_OTHER)
			continue;
		/* Gone since readdir (normal), or not a regular file: not ours. */
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (kind == NAME_TEMP) {
			int ret;

			/* Younger: being written. Older: its writer died. */
			if (!s->reap || now - st.st_mtim.tv_sec <= LIMG_BUDGET_TEMP_MAX_AGE)
				continue;
			ret = remove_if_same(dfd, de->d_name, &st);
			if (ret == 0)
				s->temps++;
			else if (ret != -ENOENT && ret != -EAGAIN)
				note_failure(s, ret);
			continue;
		}
		s->files++;
		s->bytes += (uint64_t)st.st_blocks * 512;
		if (!s->entries)
			continue;
		e.name = g_strdup(de->d_name);
		e.st = st;
		e.bytes = (uint64_t)st.st_blocks * 512;
		g_array_append_val(s->entries, e);
	}
}

/* Remove the least recently used of s->entries until s->bytes <= @low. */
static void
evict(int dfd, Scan *s, uint64_t low, LimgBudgetResult *r)
{
	g_array_sort(s->entries, entry_cmp);
	for (guint i = 0; i < s->entries->len && s->bytes > low; i++) {
		const Entry *e = &g_array_index(s->entries, Entry, i);
		/*
		 * Someone may have the file open (a live generation's spool):
		 * its data stays theirs until they close it.
		 */
		int ret = remove_if_same(dfd, e->name, &e->st);

		if (ret == 0 || ret == -ENOENT) {
			s->bytes -= e->bytes;
			s->files--;
			if (ret == 0) {
				r->removed++;
				r->removed_bytes += e->bytes;
			}
		} else if (ret != -EAGAIN) {
			note_failure(s, ret);
		}
	}
}

/* @dir opened and locked against other processes' enforcements (best effort). */
static DIR *
open_dir_locked(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	/* Some network file systems have no flock on directories: then threads only. */
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	d = fdopendir(fd);
	if (!d) {
		int err = errno;

		close(fd);
		errno = err;
	}
	return d;
}

static char *
size_text(uint64_t bytes)
{
	return g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS);
}

static void
log_enforcement(const char *dir, uint64_t max_bytes, uint64_t found, const Scan *s,
                const LimgBudgetResult *r)
{
	g_autoptr(GString) line = g_string_new(NULL);

	if (r->removed) {
		g_autofree char *f = size_text(found), *m = size_text(max_bytes);
		g_autofree char *gone = size_text(r->removed_bytes), *left = size_text(s->bytes);

		g_string_append_printf(line, "; %s of cache files, over the budget of %s: removed "
		                       "%" G_GUINT64_FORMAT " least recently used (%s), %s left",
		                       f, m, r->removed, gone, left);
	}
	if (r->temps)
		g_string_append_printf(line, "; removed %" G_GUINT64_FORMAT " temporary files "
		                       "left by a crash", r->temps);
	if (s->failed)
		g_string_append_printf(line, "; could not remove %" G_GUINT64_FORMAT " files: %s",
		                       s->failed, g_strerror(-s->first_err));
	/* One line per enforcement; the parts after "; ", the first after ": ". */
	if (line->len)
		limg_log(s->failed ? LIMG_LOG_WARN : LIMG_LOG_INFO, "cache directory %s: %s", dir,
		         line->str + 2);
}

/* Serializes this process's enforcements (flock does the others'). */
static GMutex enforce_lock;

int
limg_budget_enforce(const char *dir, uint64_t max_bytes, LimgBudgetResult *out)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&enforce_lock);
	g_autoptr(GArray) entries = g_array_new(FALSE, FALSE, sizeof(Entry));
	LimgBudgetResult r = { 0 };
	Scan s = { .entries = entries, .reap = true };
	uint64_t found;
	DIR *d;
	int ret;

	g_array_set_clear_func(entries, entry_clear);
	if (out)
		memset(out, 0, sizeof(*out));
	d = open_dir_locked(dir);
	if (!d)
		return -errno;
	ret = scan_dir(d, &s);
	found = s.bytes;
	/* A partial listing would undercount: remove nothing on it. */
	if (ret == 0 && max_bytes && s.bytes > max_bytes) {
		uint64_t low = max_bytes / 100 * LIMG_BUDGET_LOW_WATER +
		               max_bytes % 100 * LIMG_BUDGET_LOW_WATER / 100;

		evict(dirfd(d), &s, low, &r);
	}
	closedir(d);    /* and the flock */
	r.temps = s.temps;
	r.failed = s.failed;
	r.files = s.files;
	r.bytes = s.bytes;
	log_enforcement(dir, max_bytes, found, &s, &r);
	if (out)
		*out = r;
	return ret;
}

uint64_t
limg_budget_usage(const char *dir)
{
	Scan s = { 0 };
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	scan_dir(d, &s);
	closedir(d);
	return s.bytes;
}

uint64_t
limg_budget_default(const char *dir)
{
	struct statvfs sv;
	uint64_t share;

	if (statvfs(dir, &sv) < 0 || sv.f_blocks == 0)
		return LIMG_BUDGET_DEFAULT_CAP;
	share = (uint64_t)sv.f_blocks * sv.f_frsize / 100 * LIMG_BUDGET_DEFAULT_PERCENT;
	/* Never 0, which would mean no limit. */
	return MAX(MIN(share, LIMG_BUDGET_DEFAULT_CAP), 1);
}

/* ------------------------------------------------------------ running total */

struct LimgBudget {
	char *dir;
	uint64_t max;
	GMutex lock;
	/* protected by lock */
	bool enforcing;         /* a thread is in enforce_loop() */
	uint64_t added_during;  /* added while it scans */
	LimgBudgetStats st;
};

LimgBudget *
limg_budget_new(const char *dir, uint64_t max_bytes)
{
	LimgBudget *b = g_new0(LimgBudget, 1);

	b->dir = g_strdup(dir);
	b->max = max_bytes;
	b->st.max = max_bytes;
	g_mutex_init(&b->lock);
	return b;
}

void
limg_budget_free(LimgBudget *b)
{
	if (!b)
		return;
	g_mutex_clear(&b->lock);
	g_free(b->dir);
	g_free(b);
}

/*
 * Enforce until what was added during the last scan is under the budget
 * too. The caller set b->enforcing; it is cleared here. Returns the first
 * enforcement's result.
 */
static int
enforce_loop(LimgBudget *b)
{
	unsigned rounds = 0;
	int first = 0;
	bool again;

	do {
		LimgBudgetResult r;
		int ret;

		g_mutex_lock(&b->lock);
		b->added_during = 0;
		g_mutex_unlock(&b->lock);
		ret = limg_budget_enforce(b->dir, b->max, &r);
		if (rounds++ == 0)
			first = ret;
		g_mutex_lock(&b->lock);
		b->st.enforcements++;
		again = false;
		if (ret == 0) {
			/* Files added during the scan may or may not be in it: count them. */
			b->st.used = r.bytes + b->added_during;
			b->st.evictions += r.removed;
			b->st.evicted_bytes += r.removed_bytes;
			b->st.temps += r.temps;
			again = b->added_during && b->max && b->st.used > b->max;
		}
		if (!again)
			b->enforcing = false;
		g_mutex_unlock(&b->lock);
	} while (again);
	return first;
}

int
limg_budget_rescan(LimgBudget *b)
{
	g_mutex_lock(&b->lock);
	if (b->enforcing) {
		/* One is running: its scan is as recent as ours would be. */
		g_mutex_unlock(&b->lock);
		return 0;
	}
	b->enforcing = true;
	g_mutex_unlock(&b->lock);
	return enforce_loop(b);
}

void
limg_budget_added(LimgBudget *b, uint64_t bytes)
{
	bool run;

	if (!b)
		return;
	g_mutex_lock(&b->lock);
	b->st.used += bytes;
	if (b->enforcing)
		b->added_during += bytes;
	run = !b->enforcing && b->max && b->st.used > b->max;
	if (run)
		b->enforcing = true;
	g_mutex_unlock(&b->lock);
	if (run)
		enforce_loop(b);
}

void
limg_budget_stats(LimgBudget *b, LimgBudgetStats *out)
{
	g_mutex_lock(&b->lock);
	*out = b->st;
	g_mutex_unlock(&b->lock);
}
