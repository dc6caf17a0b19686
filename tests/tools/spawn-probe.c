#include <config.h>
/*
 * spawn-probe - the measuring helper of scripts/bench-spawn: times taken
 * inside one process, so that process start and the shell stay out of
 * the figures.
 *
 * Usage:
 *   spawn-probe openread FILE
 *       open() FILE and read() its first 64 KiB; prints ns (open to the
 *       65536th byte), open_ns (open() alone), bytes, hash
 *   spawn-probe randread FILE FRACTION SEED direct|buffered
 *       pread() FRACTION (0..1] of FILE's 2048-byte blocks, each block
 *       once, in a random order fixed by SEED (O_DIRECT for "direct");
 *       prints ns (the preads' time), reads, blocks, hash
 *   spawn-probe walk DIR...
 *       lstat walk: openat + readdir + fstatat(AT_SYMLINK_NOFOLLOW);
 *       prints ns, entries, files, bytes, errors
 *   spawn-probe walkx DIR...
 *       the same plus listxattrat (Linux 6.13+; else llistxattr through
 *       /proc/self/fd) per entry, as the daemon reads xattrs
 *   spawn-probe warm PATH...
 *       walk directories and read every regular file; read a regular file
 *       PATH whole (brings inputs back into the page cache)
 *   spawn-probe time CMD [ARG...]
 *       wall ns of fork + exec + wait of CMD (its stdout to /dev/null);
 *       prints ns, status
 *
 * Output: one line of KEY=VALUE pairs; hash is FNV-1a 64 of the bytes
 * read, in hex. Exit status 0; 1 on an error (message on stderr), a short
 * read (openread), an entry that could not be read (walk, warm) or a CMD
 * that failed (time); 2 on a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif

enum { BUFSZ = 1 << 20, OPENREAD_BYTES = 65536, RAND_BLOCK = 2048 };

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static char *buf;                  /* BUFSZ, aligned for O_DIRECT */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "spawn-probe: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t
fnv(uint64_t h, const unsigned char *p, size_t n)
{
	while (n--) {
		h ^= *p++;
		h *= FNV_PRIME;
	}
	return h;
}

/* ------------------------------------------------------------ openread */

static int
cmd_openread(const char *file)
{
	size_t got = 0;
	uint64_t t0, t_open, t1;
	int fd;

	t0 = now_ns();
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(file);
	t_open = now_ns();
	while (got < OPENREAD_BYTES) {
		ssize_t r = read(fd, buf + got, OPENREAD_BYTES - got);

		if (r < 0)
			die("read");
		if (r == 0)
			break;
		got += (size_t)r;
	}
	t1 = now_ns();
	close(fd);
	printf("ns=%llu open_ns=%llu bytes=%zu hash=%016llx\n",
	       (unsigned long long)(t1 - t0), (unsigned long long)(t_open - t0), got,
	       (unsigned long long)fnv(FNV_OFFSET, (const unsigned char *)buf, got));
	return got == OPENREAD_BYTES ? 0 : 1;
}

/* ------------------------------------------------------------ randread */

/* xorshift64*: the block order of randread */
static uint64_t rng;

static uint64_t
next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static int
cmd_randread(const char *file, const char *fraction, const char *seed, const char *mode)
{
	uint64_t nblk, n, h = FNV_OFFSET, t = 0, *blk;
	unsigned char *seen;
	struct stat st;
	double frac;
	char *end;
	int direct, fd;

	if (strcmp(mode, "direct") == 0) {
		direct = 1;
	} else if (strcmp(mode, "buffered") == 0) {
		direct = 0;
	} else {
		fprintf(stderr, "spawn-probe: want direct or buffered, not %s\n", mode);
		return 2;
	}
	frac = strtod(fraction, &end);
	if (end == fraction || *end || !(frac > 0 && frac <= 1)) {
		fprintf(stderr, "spawn-probe: FRACTION: not in (0, 1]: %s\n", fraction);
		return 2;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (fd < 0)
		die(file);
	if (fstat(fd, &st) < 0)
		die("fstat");
	nblk = (uint64_t)st.st_size / RAND_BLOCK;
	if (nblk == 0) {
		fprintf(stderr, "spawn-probe: %s: smaller than one block\n", file);
		return 1;
	}
	n = (uint64_t)((double)nblk * frac + 0.5);
	if (n < 1)
		n = 1;
	if (n > nblk)
		n = nblk;
	rng = strtoull(seed, NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
	seen = calloc(nblk / 8 + 1, 1);
	blk = malloc(n * sizeof(*blk));
	if (!seen || !blk)
		die("malloc");
	/* n distinct blocks, in the order drawn */
	for (uint64_t i = 0; i < n;) {
		uint64_t b = next() % nblk;

		if (seen[b / 8] & (1u << (b % 8)))
			continue;
		seen[b / 8] |= (unsigned char)(1u << (b % 8));
		blk[i++] = b;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		ssize_t r = pread(fd, buf, RAND_BLOCK, (off_t)(blk[i] * RAND_BLOCK));

		t += now_ns() - t0;
		if (r != RAND_BLOCK) {
			fprintf(stderr, "spawn-probe: pread block %llu: %s\n",
				(unsigned long long)blk[i], r < 0 ? strerror(errno) : "short read");
			return 1;
		}
		h = fnv(h, (const unsigned char *)buf, RAND_BLOCK);
	}
	printf("ns=%llu reads=%llu blocks=%llu hash=%016llx\n", (unsigned long long)t,
	       (unsigned long long)n, (unsigned long long)nblk, (unsigned long long)h);
	free(seen);
	free(blk);
	close(fd);
	return 0;
}

/* ------------------------------------------------------------ walks */

static unsigned long entries, errors, files;
static unsigned long long bytes;
static int xattrs, have_listxattrat = 1;
static char xlist[65536];

static void
list_xattrs(int dfd, const char *n)
{
	char p[64 + 256];

	if (have_listxattrat) {
		if (syscall(SYS_listxattrat, dfd, n, AT_SYMLINK_NOFOLLOW, xlist,
			    sizeof(xlist)) >= 0 || errno != ENOSYS)
			return;
		have_listxattrat = 0;
	}
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, n);
	(void)llistxattr(p, xlist, sizeof(xlist));
}

static void
read_all(int fd)
{
	ssize_t r;

	while ((r = read(fd, buf, BUFSZ)) > 0)
		bytes += (unsigned long long)r;
	if (r < 0)
		errors++;
}

/* Walk the directory open as DFD (closed here); READFILES: read files. */
static void
walk(int dfd, int readfiles)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		errors++;
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		struct stat st;

		if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
			continue;
		entries++;
		if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			errors++;
			continue;
		}
		if (xattrs)
			list_xattrs(dfd, n);
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0) {
				errors++;
				continue;
			}
			walk(fd, readfiles);
		} else if (readfiles && S_ISREG(st.st_mode)) {
			/* O_NOATIME needs ownership; without it, plainly */
			int fd = openat(dfd, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);

			if (fd < 0)
				fd = openat(dfd, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				errors++;
				continue;
			}
			files++;
			read_all(fd);
			close(fd);
		}
	}
	closedir(d);
}

static int
cmd_walk(const char *cmd, int npaths, char **paths)
{
	int readfiles = strcmp(cmd, "warm") == 0;
	uint64_t t0, t1;

	xattrs = strcmp(cmd, "walkx") == 0;
	t0 = now_ns();
	for (int i = 0; i < npaths; i++) {
		int fd = open(paths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0) {
			/* not a directory: a regular file, read it whole */
			fd = open(paths[i], O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				die(paths[i]);
			read_all(fd);
			close(fd);
			continue;
		}
		walk(fd, readfiles);
	}
	t1 = now_ns();
	printf("ns=%llu entries=%lu files=%lu bytes=%llu errors=%lu\n",
	       (unsigned long long)(t1 - t0), entries, files, bytes, errors);
	return errors ? 1 : 0;
}

/* ------------------------------------------------------------ time */

static int
cmd_time(char **argv)
{
	uint64_t t0, t1;
	int st;
	pid_t p;

	t0 = now_ns();
	p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		int nul = open("/dev/null", O_WRONLY);

		if (nul >= 0)
			dup2(nul, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "spawn-probe: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(p, &st, 0) < 0)
		die("waitpid");
	t1 = now_ns();
	printf("ns=%llu status=%d\n", (unsigned long long)(t1 - t0),
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ main */

static int
usage(FILE *f)
{
	fputs("usage: spawn-probe openread FILE\n"
	      "       spawn-probe randread FILE FRACTION SEED direct|buffered\n"
	      "       spawn-probe walk|walkx DIR...\n"
	      "       spawn-probe warm PATH...\n"
	      "       spawn-probe time CMD [ARG...]\n", f);
	return f == stdout ? 0 : 2;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		return usage(stdout);
	if (argc < 3)
		return usage(stderr);
	if (posix_memalign((void **)&buf, 4096, BUFSZ) != 0) {
		fprintf(stderr, "spawn-probe: out of memory\n");
		return 1;
	}
	cmd = argv[1];
	if (strcmp(cmd, "openread") == 0 && argc == 3)
		return cmd_openread(argv[2]);
	if (strcmp(cmd, "randread") == 0 && argc == 6)
		return cmd_randread(argv[2], argv[3], argv[4], argv[5]);
	if (strcmp(cmd, "walk") == 0 || strcmp(cmd, "walkx") == 0 || strcmp(cmd, "warm") == 0)
		return cmd_walk(cmd, argc - 2, argv + 2);
	if (strcmp(cmd, "time") == 0)
		return cmd_time(argv + 2);
	return usage(stderr);
}
