/*
 * rrip.c - SUSP and Rock Ridge entries; see rrip.h.
 *
 * Layouts follow SUSP 1.12 (IEEE P1281) section 5 and RRIP 1.12 (IEEE
 * P1282) section 4: every entry starts with a 2-byte signature, a length
 * (711) and a version (711, always 1 here).
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "iso/ecma119.h"
#include "iso/rrip.h"

/* RRIP 1.12 section 5.4: the ER entry that announces Rock Ridge 1.12. */
static const char er_id[] = "RRIP_1991A";
static const char er_desc[] =
	"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
static const char er_src[] =
	"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER "
	"IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";

#define NM_CONTINUE 0x01
#define SL_CONTINUE 0x01
#define SLC_CONTINUE 0x01
#define SLC_CURRENT 0x02
#define SLC_PARENT  0x04
#define SLC_ROOT    0x08
#define TF_MODIFY   0x02
#define TF_ACCESS   0x04
#define TF_ATTRIBUTES 0x08
#define SL_AREA     (SUSP_ENTRY_MAX - 5)

void
limg_susp_init(LimgSusp *s)
{
	memset(s, 0, sizeof(*s));
}

void
limg_susp_init_measure(LimgSusp *s)
{
	limg_susp_init(s);
	s->measure = true;
}

void
limg_susp_release(LimgSusp *s)
{
	bool measure = s->measure;

	free(s->buf);
	free(s->ends);
	memset(s, 0, sizeof(*s));
	s->measure = measure;
}

/* Reserve @len bytes for a new entry; returns its start or NULL. */
static uint8_t *
entry_begin(LimgSusp *s, size_t len, const char sig[2])
{
	uint8_t *p;

	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint8_t *nb;

		while (cap < s->len + len)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (!nb)
			return NULL;
		s->buf = nb;
		s->cap = cap;
	}
	if (s->n == s->ncap) {
		uint32_t ncap = s->ncap ? s->ncap * 2 : 32;
		uint32_t *ne = realloc(s->ends, ncap * sizeof(*ne));

		if (!ne)
			return NULL;
		s->ends = ne;
		s->ncap = ncap;
	}
	p = s->buf + s->len;
	p[0] = (uint8_t)sig[0];
	p[1] = (uint8_t)sig[1];
	p[2] = (uint8_t)len;
	p[3] = 1;
	s->len += len;
	s->ends[s->n++] = (uint32_t)s->len;
	return p;
}

/*
 * A fixed-size entry of a measuring buffer: counted, not written (the
 * layout measures every record, and these are most of its entries).
 * true when done here; false: the caller writes it.
 */
static bool
entry_measured(LimgSusp *s, size_t len, int *ret)
{
	if (!s->measure)
		return false;
	*ret = entry_begin(s, len, "  ") ? 0 : -ENOMEM;
	return true;
}

int
limg_susp_sp(LimgSusp *s)
{
	uint8_t *p;
	int ret;

	if (entry_measured(s, SUSP_SP_LEN, &ret))
		return ret;
	p = entry_begin(s, SUSP_SP_LEN, "SP");
	if (!p)
		return -ENOMEM;
	p[4] = 0xBE;   /* check bytes, SUSP 5.3 */
	p[5] = 0xEF;
	p[6] = 0;      /* LEN_SKP */
	return 0;
}

/* SUSP 5.5: an ER entry announcing one extension. */
static int
put_er(LimgSusp *s, const char *id, const char *desc, const char *src)
{
	size_t li = strlen(id), ld = strlen(desc), ls = strlen(src);
	uint8_t *p = entry_begin(s, 8 + li + ld + ls, "ER");

	if (!p)
		return -ENOMEM;
	p[4] = (uint8_t)li;
	p[5] = (uint8_t)ld;
	p[6] = (uint8_t)ls;
	p[7] = 1;      /* extension version */
	memcpy(p + 8, id, li);
	memcpy(p + 8 + li, desc, ld);
	memcpy(p + 8 + li + ld, src, ls);
	return 0;
}

int
limg_susp_er(LimgSusp *s)
{
	return put_er(s, er_id, er_desc, er_src);
}

int
limg_rrip_px(LimgSusp *s, uint32_t mode, uint32_t nlink, uint32_t uid,
             uint32_t gid, uint32_t serial)
{
	uint8_t *p;
	int ret;

	if (entry_measured(s, RRIP_PX_LEN, &ret))
		return ret;
	p = entry_begin(s, RRIP_PX_LEN, "PX");
	if (!p)
		return -ENOMEM;
	put_733(p + 4, mode);
	put_733(p + 12, nlink);
	put_733(p + 20, uid);
	put_733(p + 28, gid);
	put_733(p + 36, serial);
	return 0;
}

int
limg_rrip_pn(LimgSusp *s, uint32_t high, uint32_t low)
{
	uint8_t *p;
	int ret;

	if (entry_measured(s, RRIP_PN_LEN, &ret))
		return ret;
	p = entry_begin(s, RRIP_PN_LEN, "PN");
	if (!p)
		return -ENOMEM;
	put_733(p + 4, high);
	put_733(p + 12, low);
	return 0;
}

int
limg_rrip_tf(LimgSusp *s, const uint8_t date7[7])
{
	uint8_t *p;
	int ret;

	if (entry_measured(s, RRIP_TF_LEN, &ret))
		return ret;
	p = entry_begin(s, RRIP_TF_LEN, "TF");
	if (!p)
		return -ENOMEM;
	/*
	 * Only the modification time is recorded in a layer's identity; access
	 * and attribute-change times repeat it so that the image does not
	 * change when a file is read or copied.
	 */
	p[4] = TF_MODIFY | TF_ACCESS | TF_ATTRIBUTES;
	memcpy(p + 5, date7, 7);
	memcpy(p + 12, date7, 7);
	memcpy(p + 19, date7, 7);
	return 0;
}

int
limg_rrip_nm(LimgSusp *s, const char *name, size_t len)
{
	do {
		size_t n = len > SUSP_ENTRY_MAX - 5 ? SUSP_ENTRY_MAX - 5 : len;
		uint8_t *p = entry_begin(s, 5 + n, "NM");

		if (!p)
			return -ENOMEM;
		p[4] = n < len ? NM_CONTINUE : 0;
		memcpy(p + 5, name, n);
		name += n;
		len -= n;
	} while (len);
	return 0;
}

/* One path component of a symlink target. */
typedef struct {
	uint8_t flags;
	const char *text;
	size_t len;
} SlComp;

/*
 * Writer of component-record entries (SL, and AL which has the same
 * layout): the entry being filled.
 */
typedef struct {
	LimgSusp *s;
	const char *sig;
	uint8_t area[SL_AREA];
	size_t used;
	size_t cap;          /* usable bytes of area */
	uint8_t last_flags;  /* flags of the last component record put */
	bool open;
	bool mark;           /* SL: end non-final entries inside a component */
} SlState;

static int
sl_flush(SlState *st, bool more)
{
	uint8_t *p;

	if (!st->open)
		return 0;
	/*
	 * libarchive restarts its '/' separator at every SL entry, and Linux
	 * adds one after a ROOT component ending an entry: end each non-final
	 * entry inside a component. When the last record is complete, an
	 * empty record with CONTINUE starts the next component here (RRIP
	 * 4.1.3.1: it continues in the next entry's first record); every
	 * reader then concatenates correctly. Two bytes are kept for it.
	 */
	if (more && st->mark && !(st->last_flags & SLC_CONTINUE)) {
		st->area[st->used++] = SLC_CONTINUE;
		st->area[st->used++] = 0;
	}
	p = entry_begin(st->s, 5 + st->used, st->sig);
	if (!p)
		return -ENOMEM;
	p[4] = more ? SL_CONTINUE : 0;
	memcpy(p + 5, st->area, st->used);
	st->used = 0;
	st->open = false;
	return 0;
}

static void
sl_put(SlState *st, uint8_t flags, const char *text, size_t len)
{
	st->area[st->used] = flags;
	st->area[st->used + 1] = (uint8_t)len;
	if (len)
		memcpy(st->area + st->used + 2, text, len);
	st->used += 2 + len;
	st->last_flags = flags;
	st->open = true;
}

/*
 * RRIP 1.12 4.1.3. Long targets are spread over several SL entries; a
 * text component that does not fit is split with the CONTINUE flag, and
 * sl_flush() marks entries that end between components.
 */
int
limg_rrip_sl(LimgSusp *s, const char *target, size_t len)
{
	g_autofree SlComp *comps = NULL;
	size_t nc = 0, i = 0;
	SlState st = { .s = s, .sig = "SL", .cap = SL_AREA - 2, .mark = true };
	int ret;

	comps = g_new(SlComp, len + 2);
	if (len && target[0] == '/') {
		comps[nc++] = (SlComp){ SLC_ROOT, NULL, 0 };
		i = 1;
	}
	if (i < len || nc == 0) {
		for (;;) {
			size_t j = i;

			while (j < len && target[j] != '/')
				j++;
			if (j - i == 1 && target[i] == '.')
				comps[nc++] = (SlComp){ SLC_CURRENT, NULL, 0 };
			else if (j - i == 2 && target[i] == '.' && target[i + 1] == '.')
				comps[nc++] = (SlComp){ SLC_PARENT, NULL, 0 };
			else
				comps[nc++] = (SlComp){ 0, target + i, j - i };
			if (j >= len)
				break;
			i = j + 1;
		}
	}

	for (size_t k = 0; k < nc; k++) {
		SlComp c = comps[k];

		for (;;) {
			size_t room = st.cap - st.used;

			if (2 + c.len <= room) {
				sl_put(&st, c.flags, c.text, c.len);
				break;
			}
			/* A split piece ends with CONTINUE: no marker needed. */
			room = SL_AREA - st.used;
			if (c.flags == 0 && c.len >= 2 && room >= 3) {
				size_t n = MIN(room - 2, c.len - 1);

				sl_put(&st, SLC_CONTINUE, c.text, n);
				c.text += n;
				c.len -= n;
			}
			if ((ret = sl_flush(&st, true)) < 0)
				return ret;
		}
	}
	return sl_flush(&st, false);
}

/* AAIP 2.0: ER entry announcing AL entries. */
static const char aaip_id[] = "AAIP_0200";
static const char aaip_desc[] =
	"AL PROVIDES VIA AAIP 2.0 SUPPORT FOR ARBITRARY FILE ATTRIBUTES IN ISO 9660 IMAGES";
static const char aaip_src[] =
	"PLEASE CONTACT THE LIBBURNIA PROJECT VIA LIBBURNIA-PROJECT.ORG";

int
limg_susp_er_aaip(LimgSusp *s)
{
	return put_er(s, aaip_id, aaip_desc, aaip_src);
}

/* One component (name or value) of an attribute list, split as needed. */
static int
al_component(SlState *st, const uint8_t *data, size_t len)
{
	int ret;

	for (;;) {
		size_t room = st->cap - st->used;

		if (2 + len <= room && len <= 255) {
			sl_put(st, 0, (const char *)data, len);
			return 0;
		}
		if (room >= 3) {
			size_t n = room - 2 < len ? room - 2 : len;

			if (n == len)
				n = len - 1;   /* keep at least one byte for the last record */
			if (n > 0) {
				sl_put(st, SLC_CONTINUE, (const char *)data, n);
				data += n;
				len -= n;
			}
		}
		if ((ret = sl_flush(st, true)) < 0)
			return ret;
	}
}

int
limg_aaip_al(LimgSusp *s, size_t n, const char *const *names, const size_t *name_lens,
             const uint8_t *const *values, const uint32_t *value_lens)
{
	SlState st = { .s = s, .sig = "AL", .cap = SL_AREA };
	int ret;

	for (size_t i = 0; i < n; i++) {
		uint8_t esc[1 + 256];
		const uint8_t *name = (const uint8_t *)names[i];
		size_t nl = name_lens[i];

		/* AAIP 2.0: names starting with 0x01..0x1f are escaped by 0x01. */
		if (nl > 0 && name[0] >= 0x01 && name[0] <= 0x1f && nl < sizeof(esc)) {
			esc[0] = 0x01;
			memcpy(esc + 1, name, nl);
			name = esc;
			nl++;
		}
		if ((ret = al_component(&st, name, nl)) < 0)
			return ret;
		if ((ret = al_component(&st, values[i], value_lens[i])) < 0)
			return ret;
	}
	return sl_flush(&st, false);
}

void
limg_susp_put_ce(uint8_t *p, uint32_t lba, uint32_t off, uint32_t len)
{
	p[0] = 'C';
	p[1] = 'E';
	p[2] = SUSP_CE_LEN;
	p[3] = 1;
	put_733(p + 4, lba);
	put_733(p + 12, off);
	put_733(p + 20, len);
}

void
limg_susp_take(const LimgSusp *s, uint32_t first, uint32_t cap, LimgSuspPiece *p)
{
	uint32_t start = first ? s->ends[first - 1] : 0;
	uint32_t end = first;

	p->first = first;
	if (s->len - start <= cap) {
		p->end = s->n;
		p->bytes = (uint32_t)(s->len - start);
		p->ce = false;
		return;
	}
	while (end < s->n && s->ends[end] - start + SUSP_CE_LEN <= cap)
		end++;
	p->end = end;
	p->bytes = (end ? s->ends[end - 1] : 0) - start + SUSP_CE_LEN;
	if (end == first)
		p->bytes = SUSP_CE_LEN;
	p->ce = true;
}

/*
 * Days since 1970-01-01 -> civil date (proleptic Gregorian), without
 * gmtime_r(): no time zone lookup, no lock, a few dozen instructions.
 * Eras of 400 years, as in the well-known days-to-civil derivation.
 */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, yy;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

void
limg_iso_date7(uint8_t out[7], int64_t sec, bool *clamped)
{
	const int64_t lo = LIMG_ISO_DATE7_MIN, hi = LIMG_ISO_DATE7_MAX;
	int64_t days, rem, y;
	unsigned m, d;

	*clamped = false;
	if (sec < lo) {
		sec = lo;
		*clamped = true;
	} else if (sec > hi) {
		sec = hi;
		*clamped = true;
	}
	days = sec / 86400;
	rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	out[0] = (uint8_t)(y - 1900);
	out[1] = (uint8_t)m;
	out[2] = (uint8_t)d;
	out[3] = (uint8_t)(rem / 3600);
	out[4] = (uint8_t)(rem / 60 % 60);
	out[5] = (uint8_t)(rem % 60);
	out[6] = 0;   /* offset from GMT in 15-minute units */
}

void
limg_iso_date17(uint8_t out[17], int64_t sec)
{
	struct tm tm;
	time_t t;
	char buf[96];

	/* Years 1..9999 (8.4.26.1); anything else is "not specified". */
	if (sec < -62135596800LL || sec > 253402300799LL) {
		memset(out, '0', 16);
		out[16] = 0;
		return;
	}
	t = (time_t)sec;
	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02d00", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	memcpy(out, buf, 16);
	out[16] = 0;
}
