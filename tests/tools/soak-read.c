#include <config.h>
/*
 * soak-read - many concurrent readers of served images, every byte
 * compared with a reference, for tests/integration/test-soak.sh and
 * test-layer-replace.sh.
 *
 * Usage: soak-read [--threads N] [--seconds S] [--seed N] [--hang-ms MS]
 *                  [--ready FILE] MANIFEST
 *
 * MANIFEST has one image a line: "KIND IMAGE REF [REF...]", REF a regular
 * file holding bytes the image may have (render's output). KIND is
 *
 *   stable   always there: any error is unexpected;
 *   churn    its layer comes and goes: an open that fails with ENOENT or
 *            EIO, a read that fails with EIO, ENOENT or ESTALE, and a
 *            read that stops short (an error after part of the transfer)
 *            are expected ("gone"); bytes that are read must be right;
 *   hold-direct, hold-buffered
 *            opened once, before anything else, by a thread of its own
 *            that reads it (O_DIRECT or buffered) until the end: every
 *            read gives REF's bytes (the first REF only), fails with EIO,
 *            ENOENT or ESTALE, or stops short with only REF's bytes; the
 *            layer is replaced meanwhile.
 *
 * With several REFs, every read must equal the same range of one of them,
 * and every read of one open file the same one (the set of REFs that all
 * reads of the file so far match must never become empty): bytes of two
 * generations in one read, or in one open file, are wrong.
 *
 * N threads (default 64) pick random stable or churn images, open them
 * (odd threads with O_DIRECT, 4 KiB-aligned offsets and sizes, from
 * 4 KiB-aligned buffers; even threads buffered, any offset and size from
 * 1 byte to 1 MiB, some at or past the end), do 1 to 16 random reads,
 * close, and start over, until S seconds (default 30) have passed. A
 * watchdog stops everything (exit 3) when one request takes longer than
 * MS milliseconds (default 30000): a hang. With --ready, FILE is created
 * once every hold image was opened and read once (the caller replaces
 * layers after that).
 *
 * Prints "key value" lines: reads, bytes, opens, wrong_reads,
 * wrong_bytes (bytes that differ from the closest REF, plus missing or
 * extra bytes), unexpected_errors, expected_errors, max_latency_ms,
 * hold_ok, hold_errors; then one line per hold image, "hold IMAGE
 * direct|buffered ok N errors N wrong N errno E" (reads with REF's
 * bytes; reads that failed, or stopped short, as allowed; reads with
 * other bytes; the errno name of the first failed read, "-" if none);
 * and the first failures on stderr. Exit status 0 when nothing was wrong
 * or unexpected, 1 otherwise (or on an error), 2 on a usage error, 3 on
 * a hang. The random draws are a fixed function of the seed and the
 * thread; what they meet is not.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_REFS 8
#define MAX_LEN (1u << 20)
#define ALIGN 4096
#define MAX_REPORTS 40

typedef struct {
	const char *path;
	const uint8_t *data;    /* mapped, or NULL for an empty file */
	uint64_t size;
} Ref;

typedef enum { KIND_STABLE, KIND_CHURN, KIND_HOLD_DIRECT, KIND_HOLD_BUFFERED } Kind;

typedef struct {
	Kind kind;
	char *image;
	unsigned nrefs;
	Ref *refs[MAX_REFS];
	uint64_t max_size;
} Entry;

typedef struct {
	unsigned id;
	int direct;
	Entry *hold;            /* a hold thread, or NULL */
	uint64_t rng;
	uint8_t *buf;
	_Atomic int64_t inflight_ns;    /* start of the request in flight, 0: none */
	/* what is in flight: for the watchdog's message, read only on a hang */
	const char *inflight_what;
	uint64_t inflight_off, inflight_len;
	/* counters, read once the thread has finished */
	uint64_t reads, bytes, opens, wrong_reads, wrong_bytes, unexpected, expected;
	uint64_t hold_ok, hold_errors;
	int64_t max_lat_ns;
	unsigned reports;
	int first_errno;        /* of the thread's first failed read */
} Reader;

static Entry *entries;
static Reader *rd;                      /* global: reachable at exit */
static unsigned n_entries, n_pick;      /* n_pick: stable and churn, first */
static Entry **pick;
static Ref **refs;
static unsigned n_refs;
static atomic_int stop;
static atomic_int finished;
static atomic_int holds_ready;
static atomic_int reports;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* splitmix64 */
static uint64_t
next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t
below(uint64_t *s, uint64_t n)
{
	return n ? next(s) % n : 0;
}

static void
report(Reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first failures on stderr: a few per thread, MAX_REPORTS in all. */
static void
report(Reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->reports++ >= 4 || atomic_fetch_add(&reports, 1) >= MAX_REPORTS)
		return;
	pthread_mutex_lock(&report_lock);
	va_start(ap, fmt);
	fputs("soak-read: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	pthread_mutex_unlock(&report_lock);
}

static Ref *
ref_get(const char *path)
{
	struct stat st;
	Ref *r;
	int fd;

	for (unsigned i = 0; i < n_refs; i++) {
		if (strcmp(refs[i]->path, path) == 0)
			return refs[i];
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "soak-read: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	r = calloc(1, sizeof(*r));
	refs = realloc(refs, (n_refs + 1) * sizeof(*refs));
	if (!r || !refs) {
		fprintf(stderr, "soak-read: out of memory\n");
		exit(1);
	}
	r->path = strdup(path);
	r->size = (uint64_t)st.st_size;
	if (r->size) {
		void *p = mmap(NULL, (size_t)r->size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			fprintf(stderr, "soak-read: mmap %s: %s\n", path, strerror(errno));
			exit(1);
		}
		r->data = p;
	}
	close(fd);
	refs[n_refs++] = r;
	return r;
}

/* Bytes @ref holds at [@off, @off + @len): what a read there returns. */
static uint64_t
ref_avail(const Ref *ref, uint64_t off, uint64_t len)
{
	return off >= ref->size ? 0 : ref->size - off < len ? ref->size - off : len;
}

/* Bytes of @got (@n of them, read at @off for @len) that differ from @ref. */
static uint64_t
diff_bytes(const Ref *ref, const uint8_t *got, uint64_t n, uint64_t off, uint64_t len)
{
	uint64_t want = ref_avail(ref, off, len), d = 0, common = n < want ? n : want;

	for (uint64_t i = 0; i < common; i++)
		d += got[i] != ref->data[off + i];
	return d + (n > want ? n - want : want - n);
}

/* "want W bytes, D of the common part differ" against the first REF of @e. */
static void
describe(const Entry *e, const uint8_t *got, uint64_t n, uint64_t off, uint64_t len, char *out,
         size_t size)
{
	const Ref *ref = e->refs[0];
	uint64_t want = ref_avail(ref, off, len), common = n < want ? n : want, d = 0;

	for (uint64_t i = 0; i < common; i++)
		d += got[i] != ref->data[off + i];
	snprintf(out, size, "want %" PRIu64 " bytes (%s), %" PRIu64 " of the %" PRIu64
	         " in common differ", want, ref->path, d, common);
}

/*
 * Check a read of @len at @off that gave @n bytes against the REFs of @e
 * still possible for this open file (*cand, a bit set): 0 if one of them
 * matches (*cand narrowed to those that do), else the bytes that differ
 * from the closest. With @partial_ok, a read that gave fewer bytes than
 * the file has there, all of them right, is an error after a part of the
 * transfer (read(2) returns what it got): *partial is set and 0 returned.
 */
static uint64_t
check_read(const Entry *e, unsigned *cand, const uint8_t *got, uint64_t n, uint64_t off,
           uint64_t len, bool partial_ok, bool *partial)
{
	unsigned match = 0, prefix = 0;
	uint64_t best = UINT64_MAX;

	*partial = false;
	for (unsigned k = 0; k < e->nrefs; k++) {
		const Ref *ref = e->refs[k];
		uint64_t want = ref_avail(ref, off, len);

		if (!(*cand & (1u << k)))
			continue;
		if (n > want || (n && memcmp(got, ref->data + off, n) != 0))
			continue;
		if (n == want)
			match |= 1u << k;
		else if (n > 0)
			prefix |= 1u << k;   /* 0 bytes where there are more: an end too soon */
	}
	if (match) {
		*cand = match;
		return 0;
	}
	if (prefix && partial_ok) {
		*cand = prefix;
		*partial = true;
		return 0;
	}
	for (unsigned k = 0; k < e->nrefs; k++) {
		uint64_t d = diff_bytes(e->refs[k], got, n, off, len);

		if (d < best)
			best = d;
	}
	return best ? best : 1;
}

/* One timed pread; the watchdog sees it while it runs. */
static ssize_t
timed_pread(Reader *r, int fd, const char *what, uint64_t off, uint64_t len)
{
	int64_t t0 = now_ns(), dt;
	ssize_t got;

	r->inflight_what = what;
	r->inflight_off = off;
	r->inflight_len = len;
	atomic_store(&r->inflight_ns, t0);
	got = pread(fd, r->buf, (size_t)len, (off_t)off);
	atomic_store(&r->inflight_ns, 0);
	dt = now_ns() - t0;
	if (dt > r->max_lat_ns)
		r->max_lat_ns = dt;
	return got;
}

static void
pick_range(Reader *r, uint64_t size, uint64_t *off, uint64_t *len)
{
	uint64_t u = below(&r->rng, 100);

	if (r->direct) {
		uint64_t blocks = size / ALIGN + 1;

		*off = below(&r->rng, blocks) * ALIGN;
		*len = (1 + below(&r->rng, u < 70 ? 16 : MAX_LEN / ALIGN)) * ALIGN;
		return;
	}
	if (u < 5)
		*off = size - below(&r->rng, 4096 < size ? 4096 : size + 1);     /* the end */
	else if (u < 50)
		*off = below(&r->rng, size / 2048 + 1) * 2048;
	else
		*off = below(&r->rng, size + 1);
	u = below(&r->rng, 100);
	*len = u < 30 ? 1 + below(&r->rng, 4096) : u < 80 ? 1 + below(&r->rng, 65536) :
	       1 + below(&r->rng, MAX_LEN);
}

static bool
gone_errno(int err)
{
	return err == EIO || err == ENOENT || err == ESTALE;
}

typedef enum { READ_OK, READ_GONE, READ_WRONG, READ_FAILED } Outcome;

/*
 * One read of @len at @off of open image @e, checked (*cand: see
 * check_read()). With @gone_ok, an error of gone_errno() is READ_GONE, and
 * so is a read that stops short with right bytes and whose remainder, read
 * again (at most twice), fails: an error after part of the transfer. A
 * remainder that reads as 0 bytes is an end of file too soon: READ_WRONG,
 * as are bytes of no REF. Errors not allowed are READ_FAILED.
 */
static Outcome
checked_read(Reader *r, const Entry *e, int fd, unsigned *cand, uint64_t off, uint64_t len,
             bool gone_ok)
{
	const char *mode = r->direct ? "O_DIRECT" : "buffered";

	for (int attempt = 0;; attempt++) {
		ssize_t got = timed_pread(r, fd, e->image, off, len);
		bool partial;
		uint64_t d, next;

		if (got < 0) {
			int err = errno;

			if (!r->first_errno)
				r->first_errno = err;
			if (gone_ok && gone_errno(err))
				return READ_GONE;
			report(r, "%s: pread %" PRIu64 " bytes at %" PRIu64 " (%s): %s", e->image, len,
			       off, mode, strerror(err));
			return READ_FAILED;
		}
		r->reads++;
		r->bytes += (uint64_t)got;
		d = check_read(e, cand, r->buf, (uint64_t)got, off, len, gone_ok, &partial);
		if (d) {
			char what[512];

			r->wrong_reads++;
			r->wrong_bytes += d;
			describe(e, r->buf, (uint64_t)got, off, len, what, sizeof(what));
			report(r, "%s: pread %" PRIu64 " bytes at %" PRIu64 " (%s%s) gave %zd bytes, "
			       "%" PRIu64 " wrong; %s", e->image, len, off, mode,
			       attempt ? ", the rest of a short read" : "", got, d, what);
			return READ_WRONG;
		}
		if (!partial)
			return READ_OK;
		if (attempt == 2)
			return READ_GONE;
		/* The rest, from an aligned offset for O_DIRECT. */
		next = off + (uint64_t)got;
		if (r->direct)
			next -= next % ALIGN;
		len = off + len - next;
		if (r->direct && len % ALIGN)
			len += ALIGN - len % ALIGN;
		off = next;
	}
}

/* One open, a few reads, one close, of a random stable or churn image. */
static void
session(Reader *r)
{
	Entry *e = pick[below(&r->rng, n_pick)];
	unsigned cand = (1u << e->nrefs) - 1, nreads = 1 + (unsigned)below(&r->rng, 16);
	bool churn = e->kind == KIND_CHURN;
	int fd;

	fd = open(e->image, O_RDONLY | O_CLOEXEC | (r->direct ? O_DIRECT : 0));
	r->opens++;
	if (fd < 0) {
		if (churn && (errno == ENOENT || errno == EIO)) {
			r->expected++;
		} else {
			r->unexpected++;
			report(r, "open %s: %s", e->image, strerror(errno));
		}
		return;
	}
	for (unsigned i = 0; i < nreads && !atomic_load(&stop); i++) {
		uint64_t off, len;
		Outcome o;

		pick_range(r, e->max_size, &off, &len);
		o = checked_read(r, e, fd, &cand, off, len, churn);
		if (o == READ_GONE)
			r->expected++;
		else if (o == READ_FAILED)
			r->unexpected++;
		if (o != READ_OK)
			break;
	}
	close(fd);
}

/* A hold thread: one open file of the first REF's generation. */
static void
hold_loop(Reader *r)
{
	Entry *e = r->hold;
	bool first = true;
	int fd;

	fd = open(e->image, O_RDONLY | O_CLOEXEC | (r->direct ? O_DIRECT : 0));
	if (fd < 0) {
		r->unexpected++;
		report(r, "hold: open %s: %s", e->image, strerror(errno));
		atomic_fetch_add(&holds_ready, 1);
		return;
	}
	while (!atomic_load(&stop)) {
		unsigned cand = 1;
		uint64_t off, len;
		Outcome o;

		pick_range(r, e->refs[0]->size, &off, &len);
		/* The first read must succeed: the layer is replaced only after it. */
		o = checked_read(r, e, fd, &cand, off, len, !first);
		if (o == READ_OK)
			r->hold_ok++;
		else if (o == READ_GONE)
			r->hold_errors++;
		else if (o == READ_FAILED)
			r->unexpected++;
		if (first) {
			atomic_fetch_add(&holds_ready, 1);
			if (o != READ_OK)
				break;
			first = false;
		}
		if (o == READ_GONE || o == READ_FAILED)
			usleep(2000);
	}
	close(fd);
}

static void *
reader_main(void *arg)
{
	Reader *r = arg;

	if (r->hold)
		hold_loop(r);
	else
		while (!atomic_load(&stop))
			session(r);
	atomic_fetch_add(&finished, 1);
	return NULL;
}

static void
load_manifest(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[8192];

	if (!f) {
		fprintf(stderr, "soak-read: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *kind = strtok_r(line, " \t\n", &save), *tok;
		Entry *e;

		if (!kind || kind[0] == '#')
			continue;
		entries = realloc(entries, (n_entries + 1) * sizeof(*entries));
		if (!entries) {
			fprintf(stderr, "soak-read: out of memory\n");
			exit(1);
		}
		e = &entries[n_entries];
		memset(e, 0, sizeof(*e));
		if (strcmp(kind, "stable") == 0)
			e->kind = KIND_STABLE;
		else if (strcmp(kind, "churn") == 0)
			e->kind = KIND_CHURN;
		else if (strcmp(kind, "hold-direct") == 0)
			e->kind = KIND_HOLD_DIRECT;
		else if (strcmp(kind, "hold-buffered") == 0)
			e->kind = KIND_HOLD_BUFFERED;
		else {
			fprintf(stderr, "soak-read: %s: unknown kind %s\n", path, kind);
			exit(2);
		}
		tok = strtok_r(NULL, " \t\n", &save);
		if (!tok) {
			fprintf(stderr, "soak-read: %s: a line without an image\n", path);
			exit(2);
		}
		e->image = strdup(tok);
		while ((tok = strtok_r(NULL, " \t\n", &save)) != NULL) {
			if (e->nrefs == MAX_REFS) {
				fprintf(stderr, "soak-read: %s: more than %d references\n", e->image,
				        MAX_REFS);
				exit(2);
			}
			e->refs[e->nrefs] = ref_get(tok);
			if (e->refs[e->nrefs]->size > e->max_size)
				e->max_size = e->refs[e->nrefs]->size;
			e->nrefs++;
		}
		if (!e->nrefs) {
			fprintf(stderr, "soak-read: %s: no reference\n", e->image);
			exit(2);
		}
		n_entries++;
	}
	fclose(f);
}

static int
usage(void)
{
	fprintf(stderr, "usage: soak-read [--threads N] [--seconds S] [--seed N] [--hang-ms MS] "
	        "[--ready FILE] MANIFEST\n");
	return 2;
}

int
main(int argc, char **argv)
{
	unsigned threads = 64, n_hold = 0, n_readers;
	double seconds = 30;
	uint64_t seed = 1;
	int64_t hang_ns = 30000ll * 1000000, deadline, lat = 0;
	const char *ready = NULL;
	uint64_t tot[9] = { 0 };
	int i, ready_done = 0;

	for (i = 1; i < argc - 1; i += 2) {
		char *end;

		if (strcmp(argv[i], "--threads") == 0)
			threads = (unsigned)strtoul(argv[i + 1], &end, 10);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = strtod(argv[i + 1], &end);
		else if (strcmp(argv[i], "--seed") == 0)
			seed = strtoull(argv[i + 1], &end, 10);
		else if (strcmp(argv[i], "--hang-ms") == 0)
			hang_ns = strtoll(argv[i + 1], &end, 10) * 1000000;
		else if (strcmp(argv[i], "--ready") == 0) {
			ready = argv[i + 1];
			continue;
		} else
			return usage();
		if (end == argv[i + 1] || *end)
			return usage();
	}
	if (i != argc - 1 || !(seconds > 0) || hang_ns <= 0)
		return usage();
	load_manifest(argv[argc - 1]);
	/* Stable and churn entries first: the random pick is over those. */
	pick = calloc(n_entries + 1, sizeof(*pick));
	for (unsigned k = 0; k < n_entries; k++) {
		if (entries[k].kind == KIND_STABLE || entries[k].kind == KIND_CHURN)
			pick[n_pick++] = &entries[k];
		else
			n_hold++;
	}
	n_readers = n_pick ? threads : 0;
	if (n_readers + n_hold == 0) {
		fprintf(stderr, "soak-read: nothing to read\n");
		return 2;
	}
	rd = calloc(n_readers + n_hold, sizeof(*rd));
	if (!rd) {
		fprintf(stderr, "soak-read: out of memory\n");
		return 1;
	}
	for (unsigned k = 0, h = 0; k < n_readers + n_hold; k++) {
		Reader *r = &rd[k];

		r->id = k;
		r->rng = seed * 1000003u + k;
		if (k >= n_readers) {
			while (entries[h].kind == KIND_STABLE || entries[h].kind == KIND_CHURN)
				h++;
			r->hold = &entries[h++];
			r->direct = r->hold->kind == KIND_HOLD_DIRECT;
		} else {
			r->direct = k % 2;
		}
		if (posix_memalign((void **)&r->buf, ALIGN, MAX_LEN) != 0) {
			fprintf(stderr, "soak-read: out of memory\n");
			return 1;
		}
	}
	deadline = now_ns() + (int64_t)(seconds * 1e9);
	/* Hold threads first: they open before anything is replaced. */
	for (unsigned k = n_readers; k < n_readers + n_hold; k++) {
		pthread_t t;

		if (pthread_create(&t, NULL, reader_main, &rd[k]) != 0 || pthread_detach(t) != 0) {
			fprintf(stderr, "soak-read: pthread_create failed\n");
			return 1;
		}
	}
	for (unsigned k = 0; k < n_readers; k++) {
		pthread_t t;

		if (pthread_create(&t, NULL, reader_main, &rd[k]) != 0 || pthread_detach(t) != 0) {
			fprintf(stderr, "soak-read: pthread_create failed\n");
			return 1;
		}
	}
	/*
	 * The watchdog: threads are detached and never joined, so that a
	 * request that never returns is reported instead of waited for.
	 */
	while (atomic_load(&finished) < (int)(n_readers + n_hold)) {
		int64_t t = now_ns();

		if (t >= deadline)
			atomic_store(&stop, 1);
		if (ready && !ready_done && atomic_load(&holds_ready) == (int)n_hold) {
			int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

			if (fd >= 0)
				close(fd);
			ready_done = 1;
		}
		for (unsigned k = 0; k < n_readers + n_hold; k++) {
			int64_t s = atomic_load(&rd[k].inflight_ns);

			if (s && t - s > hang_ns) {
				fprintf(stderr, "soak-read: HANG: %s pread of %" PRIu64 " bytes at %"
				        PRIu64 " (%s) in flight for %.1f s\n", rd[k].inflight_what,
				        rd[k].inflight_len, rd[k].inflight_off,
				        rd[k].direct ? "O_DIRECT" : "buffered", (t - s) / 1e9);
				fflush(stderr);
				_exit(3);
			}
		}
		usleep(20000);
	}
	for (unsigned k = 0; k < n_readers + n_hold; k++) {
		Reader *r = &rd[k];
		uint64_t v[9] = { r->reads, r->bytes, r->opens, r->wrong_reads, r->wrong_bytes,
		                  r->unexpected, r->expected, r->hold_ok, r->hold_errors };

		for (int j = 0; j < 9; j++)
			tot[j] += v[j];
		if (r->max_lat_ns > lat)
			lat = r->max_lat_ns;
	}
	printf("reads %" PRIu64 "\nbytes %" PRIu64 "\nopens %" PRIu64 "\nwrong_reads %" PRIu64
	       "\nwrong_bytes %" PRIu64 "\nunexpected_errors %" PRIu64 "\nexpected_errors %"
	       PRIu64 "\nhold_ok %" PRIu64 "\nhold_errors %" PRIu64 "\nmax_latency_ms %.1f\n",
	       tot[0], tot[1], tot[2], tot[3], tot[4], tot[5], tot[6], tot[7], tot[8], lat / 1e6);
	for (unsigned k = n_readers; k < n_readers + n_hold; k++)
		printf("hold %s %s ok %" PRIu64 " errors %" PRIu64 " wrong %" PRIu64 " errno %s\n",
		       rd[k].hold->image, rd[k].direct ? "direct" : "buffered", rd[k].hold_ok,
		       rd[k].hold_errors, rd[k].wrong_reads,
		       rd[k].first_errno ? strerrorname_np(rd[k].first_errno) : "-");
	return tot[3] || tot[5] ? 1 : 0;
}
