#include <config.h>
/*
 * mktree-gen - generate a large deterministic tree that looks like a
 * container layer (a Debian /usr with some python and node thrown in), the
 * input of scripts/bench-layout.
 *
 * Usage: mktree-gen ROOT ENTRIES SEED
 *
 * Creates ROOT (or fills it if it exists) with about ENTRIES entries: 1 in
 * 27 a directory (a random tree, at most 24 levels deep), the rest mostly
 * regular files of realistic names and sizes (0 to 8 MiB, most under 64
 * KiB, from a pseudo-random data pool), 4% symlinks (sibling names,
 * absolute and relative paths to files of the tree), 1.5% hard links, a
 * few whiteouts (char 0:0; left out without CAP_MKNOD) and a
 * "user.limg.bench" xattr on 0.2% of the files. Mtimes are fixed, some
 * with nanoseconds; directories get theirs last.
 *
 * Same arguments, same tree: names, types, sizes, contents, modes,
 * mtimes, link targets, xattrs. Every pseudo-random draw below happens in
 * one fixed order; scripts/bench-layout keys its tree directory (and
 * recorded image checksums) on that, so a change of any draw, or of the
 * order of two draws, is a new tree version.
 *
 * Prints "dirs: N" and "entries: N" (the root included). Exit status 0,
 * 1 on an error (message on stderr), 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <sys/xattr.h>

/* ------------------------------------------------------------ randomness */

/* splitmix64: the whole tree follows from this one state. */
static uint64_t rng;

static uint64_t
next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* [0, n), 0 for n == 0 (modulo bias is part of the tree: keep it) */
static uint64_t
below(uint64_t n)
{
	return n ? next() % n : 0;
}

/* [lo, hi] */
static uint64_t
range(uint64_t lo, uint64_t hi)
{
	return lo + below(hi - lo + 1);
}

static int
chance(unsigned per10000)
{
	return below(10000) < per10000;
}

/* log-uniform in [lo, hi] */
static uint64_t
logu(uint64_t lo, uint64_t hi)
{
	double r = (double)(next() >> 11) / 9007199254740992.0;
	double v = (double)lo * pow((double)hi / (double)lo, r);

	return (uint64_t)v;
}

/* ------------------------------------------------------------ names */

static const char *const stems[] = {
	"lib", "core", "util", "utils", "config", "data", "test", "tests", "module",
	"plugin", "common", "base", "types", "io", "net", "http", "client", "server",
	"parser", "format", "string", "list", "hash", "map", "tree", "index", "cache",
	"stream", "buffer", "codec", "crypto", "ssl", "ssh", "gtk", "glib", "gio",
	"xml", "json", "yaml", "toml", "sql", "db", "auth", "log", "logging", "error",
	"errors", "message", "event", "signal", "thread", "process", "socket", "file",
	"path", "os", "sys", "time", "date", "locale", "unicode", "charset", "font",
	"icon", "image", "png", "svg", "audio", "video", "render", "widget", "window",
	"dialog", "menu", "button", "theme", "style", "color", "python3", "perl",
	"ruby", "node", "java", "rust", "go", "gcc", "clang", "llvm", "systemd",
	"dbus", "udev", "kernel", "driver", "firmware", "intel", "amd", "nvidia",
	"x86_64", "aarch64", "linux", "gnu", "debian", "ubuntu", "apt", "dpkg",
	"compat", "legacy", "version", "schema", "template", "handler", "manager",
	"factory", "provider", "service", "helper", "wrapper", "adapter", "backend",
	"frontend", "storage", "memory", "pool", "queue", "worker", "task", "job",
	"request", "response", "session", "context", "runtime", "compile", "build",
};
#define NSTEMS (sizeof(stems) / sizeof(stems[0]))

/* ".mo" twice and four empty extensions: weights, not mistakes. */
static const char *const exts[] = {
	".py", ".pyc", ".h", ".c", ".txt", ".gz", ".png", ".svg", ".json", ".mo",
	".conf", ".pm", ".pl", ".js", ".ts", ".html", ".css", ".md", ".xml",
	".so", ".a", ".la", ".pc", ".cmake", ".rb", ".go", ".rs", ".map", ".d.ts",
	".mjs", ".cjs", ".yml", ".ini", ".desktop", ".service", ".rules", ".sh",
	".tmpl", ".def", ".ko", ".bin", ".ucode", ".mo", ".qm", ".ttf", ".otf", "",
	"", "", "",
};
#define NEXTS (sizeof(exts) / sizeof(exts[0]))

static const char *const dirnames[] = {
	"bin", "sbin", "lib", "lib64", "share", "include", "doc", "man", "man1",
	"man3", "man5", "man8", "locale", "LC_MESSAGES", "icons", "hicolor",
	"scalable", "48x48", "apps", "mimetypes", "x86_64-linux-gnu", "python3",
	"python3.11", "dist-packages", "site-packages", "__pycache__", "perl5",
	"node_modules", "dist", "src", "test", "tests", "examples", "fonts",
	"truetype", "zoneinfo", "America", "Europe", "Asia", "terminfo", "firmware",
	"modules", "kernel", "drivers", "net", "sound", "gpu", "systemd", "system",
	"udev", "rules.d", "dbus-1", "services", "pkgconfig", "cmake", "gcc",
	"12", "plugins", "data", "templates", "schemas", "mime", "packages",
	"applications", "metainfo", "bash-completion", "completions", "vim",
	"vim90", "syntax", "ftplugin", "autoload", "en_US", "de", "fr", "ja",
	"zh_CN", "pt_BR", "es", "ru", "it", "ko", "common", "utils", "internal",
};
#define NDIRNAMES (sizeof(dirnames) / sizeof(dirnames[0]))

static const char *const caps[] = {
	"README", "Makefile", "LICENSE", "COPYING", "ChangeLog", "NEWS", "AUTHORS",
	"Kconfig",
};
#define NCAPS (sizeof(caps) / sizeof(caps[0]))

/* Names are at most 200 + 9 bytes (long names) plus a "~N" retry suffix. */
#define NAME_MAX_GEN 512

static size_t
put(char *out, size_t n, const char *s)
{
	size_t l = strlen(s);

	memcpy(out + n, s, l);
	return n + l;
}

static void
file_name(char *out)
{
	unsigned k = (unsigned)below(100);
	size_t n = 0;

	if (k < 50) {                       /* stem[-stem][_stem] + ext */
		n = put(out, n, stems[below(NSTEMS)]);
		if (chance(6000)) {
			out[n++] = "-_"[below(2)];
			n = put(out, n, stems[below(NSTEMS)]);
		}
		if (chance(2500)) {
			out[n++] = "-_"[below(2)];
			n = put(out, n, stems[below(NSTEMS)]);
		}
		n = put(out, n, exts[below(NEXTS)]);
	} else if (k < 63) {                /* libfoo-bar.so.1.2.3 */
		n = put(out, n, "lib");
		n = put(out, n, stems[below(NSTEMS)]);
		if (chance(4000)) {
			out[n++] = '-';
			n = put(out, n, stems[below(NSTEMS)]);
		}
		n = put(out, n, ".so");
		for (unsigned v = (unsigned)below(4); v; v--)
			n += (size_t)sprintf(out + n, ".%u", (unsigned)below(v == 1 ? 40 : 12));
	} else if (k < 75) {                /* test_12.py */
		n = put(out, n, stems[below(NSTEMS)]);
		n += (size_t)sprintf(out + n, "_%u", (unsigned)below(1000));
		n = put(out, n, exts[below(NEXTS)]);
	} else if (k < 83) {                /* hashes: .build-id, caches */
		unsigned len = (unsigned)range(14, 40);

		for (unsigned i = 0; i < len; i++)
			out[n++] = "0123456789abcdef"[below(16)];
		if (chance(5000))
			n = put(out, n, chance(5000) ? ".debug" : ".pack");
	} else if (k < 92) {                /* CamelCase.java, README, Makefile */
		if (chance(3000)) {
			n = put(out, n, caps[below(NCAPS)]);
			if (chance(3000))
				n = put(out, n, chance(5000) ? ".md" : ".gz");
		} else {
			for (unsigned w = (unsigned)range(2, 4); w; w--) {
				size_t s = n;

				n = put(out, n, stems[below(NSTEMS)]);
				if (out[s] >= 'a' && out[s] <= 'z')
					out[s] = (char)(out[s] - 'a' + 'A');
			}
			n = put(out, n, chance(5000) ? ".java" : ".class");
		}
	} else {                            /* long names: 50-150 bytes */
		unsigned target = (unsigned)range(50, 150);

		n = put(out, n, stems[below(NSTEMS)]);
		while (n < target) {
			out[n++] = "-_."[below(3)];
			n = put(out, n, stems[below(NSTEMS)]);
		}
		if (n > 200)
			n = 200;
		n = put(out, n, exts[below(NEXTS)]);
	}
	out[n] = 0;
}

static void
dir_name(char *out)
{
	size_t n = 0;

	if (chance(6000))
		n = put(out, n, dirnames[below(NDIRNAMES)]);
	else
		n = put(out, n, stems[below(NSTEMS)]);
	if (chance(2000)) {
		out[n++] = "-_."[below(3)];
		n = put(out, n, chance(5000) ? stems[below(NSTEMS)] : "1");
	}
	if (chance(800)) {
		/*
		 * "-MAJOR.MINOR". The first generator passed both draws as
		 * arguments of one sprintf() and GCC evaluated them right to
		 * left: the minor is drawn first. Kept, explicitly, so that
		 * the tree no longer depends on the compiler.
		 */
		unsigned minor = (unsigned)below(30);
		unsigned major = (unsigned)below(10);

		n += (size_t)sprintf(out + n, "-%u.%u", major, minor);
	}
	out[n] = 0;
}

/* ------------------------------------------------------------ sizes */

static uint64_t
file_size(void)
{
	unsigned k = (unsigned)below(10000);

	if (k < 800)
		return 0;
	if (k < 3000)
		return range(1, 1024);
	if (k < 8000)
		return logu(1024, 8192);
	if (k < 9800)
		return logu(8192, 65536);
	if (k < 9990)
		return logu(65536, 524288);
	return logu(524288, 8 << 20);
}

static unsigned
files_in_dir(void)
{
	unsigned k = (unsigned)below(1000);

	if (k < 400)
		return (unsigned)range(0, 4);
	if (k < 750)
		return (unsigned)range(5, 20);
	if (k < 950)
		return (unsigned)range(21, 80);
	if (k < 995)
		return (unsigned)range(81, 300);
	return (unsigned)range(301, 1000);
}

/* ------------------------------------------------------------ the tree */

typedef struct {
	char *path;       /* relative to ROOT, "" for the root */
	unsigned depth;
	unsigned nfiles;
} Dir;

/* File contents are slices of one pseudo-random pool. */
#define DATA_SIZE (8u << 20)
static unsigned char *data;

static int root = -1;             /* ROOT, every path is relative to it */
static char **regs;               /* regular files made so far, for links */
static unsigned long nregs, regcap;

static const time_t base_time = 1700000000;

static void
fatal(const char *what)
{
	fprintf(stderr, "mktree-gen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		fatal("malloc");
	return p;
}

static char *
join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		fatal("asprintf");
	return p;
}

/*
 * The skeleton: NDIRS directories, parents before children; the first few
 * hang off the root. Directories never get an xattr: see below.
 */
static Dir *
make_dirs(unsigned long ndirs)
{
	Dir *dirs = calloc(ndirs, sizeof(*dirs));

	if (!dirs)
		fatal("calloc");
	dirs[0].path = join("", "");
	for (unsigned long i = 1; i < ndirs; i++) {
		unsigned long p = i < 8 ? 0 : i < 40 ? below(8) : below(i);
		char name[NAME_MAX_GEN], *path;

		if (dirs[p].depth >= 24)
			p = below(40);
		for (int tries = 0;; tries++) {
			dir_name(name);
			if (tries > 20)
				sprintf(name + strlen(name), "-%lu", i);
			path = join(dirs[p].path, name);
			if (mkdirat(root, path, 0755) == 0)
				break;
			if (errno != EEXIST)
				fatal(path);
			free(path);
		}
		dirs[i].path = path;
		dirs[i].depth = dirs[p].depth + 1;
		/*
		 * 1% of the directories were meant to be opaque
		 * (trusted.overlay.opaque), but the first generator set that
		 * xattr on PATH relative to the *current directory*, not to
		 * ROOT: it never reached the tree (only, at times, a directory
		 * of the caller's). The draw stays, so that the rest of the
		 * tree is the same; opaque directories would be a new tree.
		 */
		(void)chance(100);
	}
	return dirs;
}

static void
remember_reg(const char *dir, const char *name)
{
	if (nregs == regcap) {
		char **n;

		regcap = regcap ? regcap * 2 : 4096;
		n = realloc(regs, regcap * sizeof(*regs));
		if (!n)
			fatal("realloc");
		regs = n;
	}
	regs[nregs++] = join(dir, name);
}

/* A regular file NAME in DFD: 0, or -1 with errno (EEXIST: try another). */
static int
make_reg(const Dir *d, int dfd, const char *name, int exec_dir,
	 const struct timespec ts[2])
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL,
			exec_dir || chance(300) ? 0755 : 0644);
	uint64_t sz = file_size();     /* drawn even if the name is taken */

	if (fd < 0)
		return -1;
	while (sz) {
		size_t c = sz > DATA_SIZE / 2 ? DATA_SIZE / 2 : (size_t)sz;
		ssize_t w = write(fd, data + below(DATA_SIZE / 2), c);

		if (w <= 0)
			fatal(name);
		sz -= (uint64_t)w;
	}
	if (chance(20)) {
		char v[64];
		int vl = snprintf(v, sizeof(v), "bench-%lu",
				  (unsigned long)below(1u << 30));

		if (fsetxattr(fd, "user.limg.bench", v, (size_t)vl, 0) < 0 &&
		    errno != ENOTSUP)
			fatal(name);
	}
	if (futimens(fd, ts) < 0)
		fatal(name);
	if (close(fd) < 0)
		fatal(name);
	remember_reg(d->path, name);
	return 0;
}

/* A symlink: to a sibling name, or absolute or relative to a file made. */
static int
make_symlink(const Dir *d, int dfd, const char *name, const struct timespec ts[2])
{
	char tgt[1024];
	unsigned t = (unsigned)below(10);

	if (t < 5 || nregs == 0) {
		char sib[NAME_MAX_GEN];

		file_name(sib);
		snprintf(tgt, sizeof(tgt), "%s", sib);
	} else if (t < 8) {
		snprintf(tgt, sizeof(tgt), "/%s", regs[below(nregs)]);
	} else {
		const char *r = regs[below(nregs)];
		size_t up = d->depth;

		tgt[0] = 0;
		while (up--)
			strcat(tgt, "../");
		strncat(tgt, r, sizeof(tgt) - strlen(tgt) - 1);
	}
	if (symlinkat(tgt, dfd, name) < 0)
		return -1;
	if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		fatal(name);
	return 0;
}

/* Directory D's NFILES non-directories. */
static void
fill_dir(const Dir *d)
{
	int dfd = d->path[0] ? openat(root, d->path, O_RDONLY | O_DIRECTORY)
			     : dup(root);
	const char *base_name = strrchr(d->path, '/');
	int exec_dir;

	if (dfd < 0)
		fatal(d->path[0] ? d->path : "ROOT");
	base_name = base_name ? base_name + 1 : d->path;
	exec_dir = strcmp(base_name, "bin") == 0 || strcmp(base_name, "sbin") == 0;
	for (unsigned f = 0; f < d->nfiles; f++) {
		char name[NAME_MAX_GEN];
		unsigned k = (unsigned)below(10000);
		struct timespec ts[2];

		ts[0].tv_sec = base_time + (time_t)below(30000000);
		ts[0].tv_nsec = chance(5000) ? (long)below(1000000000) : 0;
		ts[1] = ts[0];
		for (int tries = 0;; tries++) {
			int ret;

			file_name(name);
			if (tries > 20)
				sprintf(name + strlen(name), "~%u", f);
			if (k < 9450) {                 /* regular file */
				ret = make_reg(d, dfd, name, exec_dir, ts);
			} else if (k < 9850) {          /* symlink */
				ret = make_symlink(d, dfd, name, ts);
			} else if (k < 9995 && nregs) { /* hard link */
				ret = linkat(root, regs[below(nregs)], dfd, name, 0);
			} else {                        /* whiteout: char 0:0 */
				ret = mknodat(dfd, name, S_IFCHR | 0, makedev(0, 0));
				if (ret == 0) {
					if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
						fatal(name);
				} else if (errno == EPERM) {
					break;          /* no CAP_MKNOD: leave it out */
				}
			}
			if (ret == 0)
				break;
			if (errno != EEXIST)
				fatal(name);
		}
	}
	close(dfd);
}

static int
parse_ulong(const char *s, unsigned long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static void
usage(FILE *f)
{
	fputs("usage: mktree-gen ROOT ENTRIES SEED\n"
	      "Generate a deterministic layer-like tree of about ENTRIES entries\n"
	      "under ROOT (same arguments, same tree). See the source's header.\n", f);
}

int
main(int argc, char **argv)
{
	unsigned long long target, seed;
	unsigned long ndirs, total;
	Dir *dirs;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc != 4) {
		usage(stderr);
		return 2;
	}
	if (parse_ulong(argv[2], &target) < 0 || target > 100000000) {
		fprintf(stderr, "mktree-gen: ENTRIES: not a number up to 100000000: %s\n", argv[2]);
		return 2;
	}
	if (parse_ulong(argv[3], &seed) < 0) {
		fprintf(stderr, "mktree-gen: SEED: not a number: %s\n", argv[3]);
		return 2;
	}
	rng = seed * 7919 + 17;
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST)
		fatal(argv[1]);
	root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		fatal(argv[1]);

	data = xmalloc(DATA_SIZE);
	for (size_t i = 0; i < DATA_SIZE; i += 8) {
		uint64_t v = next();

		memcpy(data + i, &v, 8);
	}

	ndirs = (unsigned long)(target / 27 + 1);
	dirs = make_dirs(ndirs);
	total = ndirs;

	/* How many non-directories each directory holds, up to the target. */
	for (unsigned long i = 0; i < ndirs; i++) {
		dirs[i].nfiles = files_in_dir();
		total += dirs[i].nfiles;
	}
	while (total < target) {
		unsigned long i = (unsigned long)below(ndirs), add = files_in_dir();

		dirs[i].nfiles += (unsigned)add;
		total += add;
	}

	for (unsigned long i = 0; i < ndirs; i++)
		fill_dir(&dirs[i]);

	/* Directory times last, deepest first. */
	for (unsigned long i = ndirs; i-- > 0;) {
		struct timespec ts[2];

		ts[0].tv_sec = base_time + (time_t)below(30000000);
		ts[0].tv_nsec = 0;
		ts[1] = ts[0];
		if (utimensat(root, dirs[i].path[0] ? dirs[i].path : ".", ts,
			      AT_SYMLINK_NOFOLLOW) < 0)
			fatal(dirs[i].path[0] ? dirs[i].path : argv[1]);
	}
	printf("dirs: %lu\nentries: %lu\n", ndirs, total);
	for (unsigned long i = 0; i < ndirs; i++)
		free(dirs[i].path);
	free(dirs);
	free(data);
	close(root);
	return 0;
}
