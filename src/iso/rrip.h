/*
 * rrip.h - System Use Sharing Protocol (SUSP 1.12) and Rock Ridge (RRIP
 * 1.12) entries.
 *
 * A LimgSusp collects the entries of one directory record in the order
 * they are appended; each entry is atomic (at most 255 bytes). The layout
 * then splits the sequence into the part stored in the record itself and
 * continuation areas (CE), using limg_susp_take(); render replays exactly
 * the same steps, so measure and emit can never disagree.
 *
 * Entry sizes (bytes): SP 7, ER 237, CE 28, PX 44 (RRIP 1.12, with file
 * serial number), PN 20, TF 26 (7-byte form, MODIFY|ACCESS|ATTRIBUTES),
 * NM 5+n per 250-byte piece, SL 5+components per entry.
 *
 * Thread model: a LimgSusp is scratch space of one thread.
 */
#ifndef LIMG_RRIP_H
#define LIMG_RRIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUSP_CE_LEN   28
#define SUSP_SP_LEN   7
#define RRIP_PX_LEN   44
#define RRIP_PN_LEN   20
#define RRIP_TF_LEN   26
#define SUSP_ER_LEN   237
#define SUSP_ENTRY_MAX 255

/* Largest continuation area: one block, never crossing a block (Linux). */
#define SUSP_AREA_MAX 2048

typedef struct {
	uint8_t *buf;        /* entries, back to back */
	size_t len;
	size_t cap;
	uint32_t *ends;      /* ends[i]: offset just past entry i */
	uint32_t n;
	uint32_t ncap;
	bool measure;        /* only the lengths count: the fixed-size entries
	                      * (SP, PX, PN, TF) leave their bytes unwritten */
} LimgSusp;

void limg_susp_init(LimgSusp *s);
/* A buffer that measures (the layout): ends[] right, buf undefined. */
void limg_susp_init_measure(LimgSusp *s);
void limg_susp_release(LimgSusp *s);
static inline void limg_susp_reset(LimgSusp *s) { s->len = 0; s->n = 0; }

/* Each appender returns 0 or -ENOMEM. */
int limg_susp_sp(LimgSusp *s);
int limg_susp_er(LimgSusp *s);
int limg_rrip_px(LimgSusp *s, uint32_t mode, uint32_t nlink, uint32_t uid,
                 uint32_t gid, uint32_t serial);
int limg_rrip_pn(LimgSusp *s, uint32_t high, uint32_t low);
int limg_rrip_tf(LimgSusp *s, const uint8_t date7[7]);
int limg_rrip_nm(LimgSusp *s, const char *name, size_t len);
int limg_rrip_sl(LimgSusp *s, const char *target, size_t len);

/* AAIP 2.0 ER entry (160 bytes); present when any AL entry is. */
int limg_susp_er_aaip(LimgSusp *s);

/*
 * AAIP 2.0 AL entries for @n extended attributes (name/value pairs, raw
 * bytes). Same component-record layout as SL.
 */
int limg_aaip_al(LimgSusp *s, size_t n, const char *const *names, const size_t *name_lens,
                 const uint8_t *const *values, const uint32_t *value_lens);

/* Write a CE entry pointing at @len bytes at block @lba, offset @off. */
void limg_susp_put_ce(uint8_t *p, uint32_t lba, uint32_t off, uint32_t len);

/*
 * One stored part of a record's entries: entries [first, end), and whether
 * a CE entry follows them. @bytes counts the CE entry too.
 */
typedef struct {
	uint32_t first;
	uint32_t end;
	uint32_t bytes;
	bool ce;
} LimgSuspPiece;

/*
 * Take as many entries from @first as fit in @cap bytes. If the rest does
 * not fit entirely, 28 bytes are kept for a CE entry and the piece stops
 * before the first entry that would not fit with it.
 */
void limg_susp_take(const LimgSusp *s, uint32_t first, uint32_t cap, LimgSuspPiece *p);

/*
 * Encode a time as the 7-byte form of ECMA-119 9.1.5 (years 1900..2155,
 * GMT). Sets *clamped when the time lies outside that range.
 */
void limg_iso_date7(uint8_t out[7], int64_t sec, bool *clamped);

/* The range of the 7-byte form: 1900-01-01T00:00:00Z .. 2155-12-31T23:59:59Z. */
#define LIMG_ISO_DATE7_MIN (-2208988800LL)
#define LIMG_ISO_DATE7_MAX 5869583999LL

/* Would limg_iso_date7() clamp @sec? (without encoding it) */
static inline bool
limg_iso_date7_clamps(int64_t sec)
{
	return sec < LIMG_ISO_DATE7_MIN || sec > LIMG_ISO_DATE7_MAX;
}

/*
 * Encode a time as the 17-byte form of ECMA-119 8.4.26.1, GMT; a time
 * outside years 1..9999 (e.g. INT64_MIN) gives "not specified".
 */
void limg_iso_date17(uint8_t out[17], int64_t sec);

#endif /* LIMG_RRIP_H */
