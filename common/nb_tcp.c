// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * TCP segments by byte ranges. Per connection:
 *
 *  - a map per data stage: sorted, disjoint byte ranges with their copy count and when they were
 *    first seen there (ranges are not merged, so a segment's pass time is when its last byte
 *    arrived, and copy counts stay per byte);
 *  - per reply stage, every increase of the highest ACK (so a segment created after its ACK was
 *    seen, which happens when another node's events come first, still finds it), and the run of
 *    duplicate ACKs at the highest value;
 *  - the segments not yet reported, sorted by sequence;
 *  - the held segments (final at the engine, their copies not yet) in a min-heap by when they
 *    may be settled, so a poll looks only at those due, not at every one held (at a bulk
 *    transfer's rate thousands are held through the timeout, and polls come every few ms).
 *
 * All of it is pruned below the connection's floor: the first byte of the oldest segment not yet
 * reported, or the highest byte seen at the first stage when none is left. Bytes below the floor
 * are copies of reported segments and are ignored. The live parts of the arrays are [head, n):
 * pruning advances head, and the arrays move down only when head passes half of them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "nb_tcp.h"

#define S_DEF_CONNS    1024u
#define S_DEF_RANGES   262144u
#define S_DEF_HELD     65536u
#define S_FIN	       0x01
#define S_SYN	       0x02
#define S_RST	       0x04
#define S_ACK	       0x10
#define S_DUP_ACKS     3 /* an ACK and two duplicates, as TCP's own fast retransmit counts */
#define S_IDLE_MIN_NS  10000000000ull
#define S_HOLE_MIN_NS  1000000000ull
#define S_MAX_TAINTS   8
#define S_NONE	       UINT32_MAX
#define S_STACK_PIECES 16
#define S_ACK_MARGIN_NS 1000000ull

enum s_state { S_LIVE = 0, S_HELD = 1, S_DEAD = 2 };

struct s_due {
	uint64_t due; /* the watermark from which the segment may be settled */
	uint64_t a;   /* its first byte: segments move in their array, their bytes do not */
};

struct s_iv {
	uint64_t a, b;
	uint64_t ts, ref; /* when these bytes were first seen at the stage */
	uint32_t n;	  /* copies */
	uint32_t ifindex;
};

struct s_map {
	struct s_iv *v;
	uint32_t head, n, cap;
	uint32_t fing; /* where the last report's lookup ended */
};

struct s_ack {
	uint64_t ack;
	uint64_t ts, ref;
	uint32_t ifindex;
	uint32_t raw;
};

struct s_ackh {
	struct s_ack *v; /* each increase of the highest ACK, in order */
	uint32_t head, n, cap;
	bool any;
	uint64_t max;
	uint32_t max_raw;
	uint32_t dups;		  /* pure ACKs at the value max, the first one included */
	uint64_t dup_ts, dup_ref; /* the latest of them */
	uint32_t dup_if;
	uint32_t pass;	/* every live segment below this index has passed the stage */
	uint32_t dscan; /* duplicate ACK scan resumes here */
	uint32_t fing;	/* where the last report's lookup ended */
};

struct s_seg {
	uint64_t a, b;
	uint64_t last_copy_ref; /* the latest copy at the first stage */
	uint64_t due;		/* held: the due time of its one valid heap entry */
	uint64_t pref[NB_MAX_STAGES];
	struct nb_joined *fin; /* held: the engine's final, until the copies are final too */
	uint32_t seq;
	uint16_t passed;
	uint8_t dup;
	uint8_t state;
};

struct s_conn {
	uint32_t id;
	uint16_t sport, dport;
	bool retired, dirty;
	bool have_ref, have_base, have_hi0;
	bool have_isn_d, have_isn_r;
	uint32_t isn_d, isn_r;
	uint32_t ref32;
	uint64_t ref64;
	uint64_t base;
	uint64_t floor, hi0;
	uint64_t last_ref;
	struct s_map map[NB_TCP_MAX_DATA];
	struct s_ackh ackh[NB_TCP_MAX_DATA];
	struct s_seg *segs;
	uint32_t nseg, cap, ndead, nheld;
	/*
	 * Held segments by due time. An entry is valid while its segment is held with that due
	 * time: a new copy makes the due time later and the entry is pushed again when it comes
	 * up; an ACK that first covers a held segment can make it earlier and pushes a new entry
	 * at once. rescan: an entry could not be pushed, the next release looks at every one.
	 */
	struct s_due *hq;
	uint32_t nhq, caphq;
	bool rescan;
};

struct nb_tcp {
	struct nb_tcp_cfg cfg;
	int ndata;
	nb_tcp_cb cb;
	void *ctx;
	int in_cb;
	struct nb_join *join;
	struct s_conn **conns;
	uint32_t nconns;
	uint32_t next_id;
	struct s_conn *last;
	uint64_t wm[NB_MAX_NODES];
	/* Each node's taints (nb_tcp_taint), the last widened when full. */
	struct {
		uint64_t from, to;
	} taint[NB_MAX_NODES][S_MAX_TAINTS];
	uint8_t ntaint[NB_MAX_NODES];
	uint64_t nheld;
	uint64_t *rel; /* scratch: the segments a release reports, by first byte */
	uint32_t caprel;
	struct nb_tcp_stats st;
};

/* Whether node's evidence had a taint overlapping [from, to]. */
static bool s_tainted(const struct nb_tcp *t, int node, uint64_t from, uint64_t to)
{
	for (int i = 0; i < t->ntaint[node]; i++)
		if (t->taint[node][i].from <= to && t->taint[node][i].to >= from)
			return true;
	return false;
}

static uint64_t s_add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int s_grow(void **v, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t c = *cap ? *cap : 16;
	void *nv;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	nv = realloc(*v, (size_t)c * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

/* ---- byte range maps ---- */

/*
 * The first index in [lo, hi) of a sorted array whose 64-bit key (at off in elements of size
 * size) is above x, or hi; searched outward from hint, any index in [lo, hi], with a doubling
 * step, then without a branch on the data. Through a timeout's worth of a bulk transfer the
 * arrays hold thousands of entries, and lookups are of the newest (data and ACKs arriving:
 * hint hi) or next to the last segment reported (reports go in sequence order: hint where the
 * last report's lookup ended), a few probes where a binary search costs a dozen cache misses.
 */
static inline uint32_t s_above(const void *base, size_t size, size_t off, uint32_t lo,
			       uint32_t hi, uint32_t hint, uint64_t x)
{
#define S_KEY(i) (*(const uint64_t *)((const char *)base + (size_t)(i) * size + off))
	uint32_t step = 1, n;

	if (hint < lo)
		hint = lo;
	if (hint > hi)
		hint = hi;
	if (hint < hi && S_KEY(hint) <= x) {
		for (lo = hint + 1; step <= hi - lo; step *= 2) {
			if (S_KEY(lo + step - 1) > x) {
				hi = lo + step - 1;
				break;
			}
			lo += step;
		}
	} else {
		for (hi = hint; step <= hi - lo; step *= 2) {
			if (S_KEY(hi - step) <= x) {
				lo = hi - step + 1;
				break;
			}
			hi -= step;
		}
	}
	n = hi - lo;
	if (!n)
		return lo;
	while (n > 1) {
		uint32_t half = n / 2;

		lo += S_KEY(lo + half) <= x ? half : 0;
		n -= half;
	}
	return lo + (S_KEY(lo) <= x);
#undef S_KEY
}

/* First live index whose range ends after x. */
static uint32_t s_map_find(const struct s_map *m, uint64_t x)
{
	return s_above(m->v, sizeof(*m->v), offsetof(struct s_iv, b), m->head, m->n, m->n, x);
}

/* The same next to the last segment reported. */
static uint32_t s_map_find_old(struct s_map *m, uint64_t x)
{
	m->fing = s_above(m->v, sizeof(*m->v), offsetof(struct s_iv, b), m->head, m->n, m->fing,
			  x);
	return m->fing;
}

static void s_map_compact(struct s_map *m)
{
	if (m->head < 64 || m->head * 2 < m->n)
		return;
	m->fing = m->fing > m->head ? m->fing - m->head : 0;
	memmove(m->v, m->v + m->head, (size_t)(m->n - m->head) * sizeof(*m->v));
	m->n -= m->head;
	m->head = 0;
}

/* One more copy of [a, b): split what it overlaps, count it there, fill the gaps with 1. */
static int s_map_add(struct s_map *m, uint64_t a, uint64_t b, uint64_t ts, uint64_t ref,
		     uint32_t ifindex, uint32_t max)
{
	struct s_iv stackbuf[S_STACK_PIECES], *out = stackbuf;
	uint32_t i0, j, k, nout = 0, grow;
	uint64_t cur = a;
	size_t cap_out;
	int rc = 0;

	s_map_compact(m);
	i0 = s_map_find(m, a);
	for (j = i0; j < m->n && m->v[j].a < b; j++)
		;
	/* each range overlapped gives at most a left, a middle and a right piece, plus a gap */
	cap_out = 4 * (size_t)(j - i0) + 1;
	if (cap_out > S_STACK_PIECES) {
		out = malloc(cap_out * sizeof(*out));
		if (!out)
			return -ENOMEM;
	}
	for (k = i0; k < j; k++) {
		struct s_iv iv = m->v[k], mid;

		if (iv.a < cur) {
			out[nout] = iv;
			out[nout++].b = cur;
			iv.a = cur;
		}
		if (cur < iv.a)
			out[nout++] = (struct s_iv){cur, iv.a, ts, ref, 1, ifindex};
		mid = iv;
		if (mid.b > b)
			mid.b = b;
		mid.n++;
		if (ref < mid.ref) {
			mid.ts = ts;
			mid.ref = ref;
			mid.ifindex = ifindex;
		}
		out[nout++] = mid;
		if (iv.b > b) {
			out[nout] = iv;
			out[nout++].a = b;
		}
		cur = mid.b;
	}
	if (cur < b)
		out[nout++] = (struct s_iv){cur, b, ts, ref, 1, ifindex};
	grow = nout - (j - i0);
	if (m->n - m->head + grow > max) {
		rc = -ENOSPC;
		goto out;
	}
	rc = s_grow((void **)&m->v, &m->cap, m->n + grow, sizeof(*m->v));
	if (rc)
		goto out;
	memmove(&m->v[i0 + nout], &m->v[j], (size_t)(m->n - j) * sizeof(*m->v));
	memcpy(&m->v[i0], out, (size_t)nout * sizeof(*out));
	m->n += grow;
out:
	if (out != stackbuf)
		free(out);
	return rc;
}

/* Whether every byte of [a, b) was seen; then when the last of them first was. */
static bool s_map_cover(const struct s_map *m, uint64_t a, uint64_t b, uint64_t *ts, uint64_t *ref,
			uint32_t *ifindex)
{
	uint64_t cur = a;
	bool any = false;

	for (uint32_t i = s_map_find(m, a); i < m->n && m->v[i].a < b; i++) {
		const struct s_iv *v = &m->v[i];

		if (v->a > cur)
			return false;
		if (!any || v->ref > *ref) {
			*ts = v->ts;
			*ref = v->ref;
			*ifindex = v->ifindex;
			any = true;
		}
		cur = v->b;
		if (cur >= b)
			return true;
	}
	return false;
}

static uint32_t s_map_maxn(struct s_map *m, uint64_t a, uint64_t b)
{
	uint32_t n = 0;

	for (uint32_t i = s_map_find_old(m, a); i < m->n && m->v[i].a < b; i++)
		if (m->v[i].n > n)
			n = m->v[i].n;
	return n;
}

/* Copies of [a, b) missing at the next stage: the most, over its bytes, of n1 - n2. */
static uint32_t s_map_lost(struct s_map *m1, struct s_map *m2, uint64_t a, uint64_t b)
{
	uint32_t i = s_map_find_old(m1, a), k = s_map_find_old(m2, a), best = 0;
	uint64_t pos = a;

	while (pos < b) {
		uint32_t n1 = 0, n2 = 0;
		uint64_t nx = b;

		while (i < m1->n && m1->v[i].b <= pos)
			i++;
		while (k < m2->n && m2->v[k].b <= pos)
			k++;
		if (i < m1->n) {
			if (m1->v[i].a <= pos) {
				n1 = m1->v[i].n;
				nx = m1->v[i].b < nx ? m1->v[i].b : nx;
			} else if (m1->v[i].a < nx) {
				nx = m1->v[i].a;
			}
		}
		if (k < m2->n) {
			if (m2->v[k].a <= pos) {
				n2 = m2->v[k].n;
				nx = m2->v[k].b < nx ? m2->v[k].b : nx;
			} else if (m2->v[k].a < nx) {
				nx = m2->v[k].a;
			}
		}
		if (n1 > n2 && n1 - n2 > best)
			best = n1 - n2;
		pos = nx;
	}
	return best;
}

static void s_map_prune(struct s_map *m, uint64_t floor)
{
	m->head = s_map_find(m, floor);
	s_map_compact(m);
}

/* ---- ACK history ---- */

/* The first increase of the highest ACK that covered x, or NULL. */
static const struct s_ack *s_ack_find(const struct s_ackh *h, uint64_t x, uint32_t hint)
{
	uint32_t i;

	/* covering x is being above x - 1: no segment ends at 0 */
	if (!x || h->head == h->n || h->v[h->n - 1].ack < x)
		return NULL;
	i = s_above(h->v, sizeof(*h->v), offsetof(struct s_ack, ack), h->head, h->n, hint, x - 1);
	return i < h->n ? &h->v[i] : NULL;
}

static const struct s_ack *s_ack_covering(const struct s_ackh *h, uint64_t x)
{
	return s_ack_find(h, x, h->n);
}

/* The same next to the last segment reported. */
static const struct s_ack *s_ack_covering_old(struct s_ackh *h, uint64_t x)
{
	const struct s_ack *k = s_ack_find(h, x, h->fing);

	if (k)
		h->fing = (uint32_t)(k - h->v);
	return k;
}

static void s_ack_prune(struct s_ackh *h, uint64_t floor)
{
	/* a segment ends above the floor: an ACK at or below it covers none */
	while (h->head < h->n && h->v[h->head].ack <= floor)
		h->head++;
	if (h->head >= 64 && h->head * 2 >= h->n) {
		h->fing = h->fing > h->head ? h->fing - h->head : 0;
		memmove(h->v, h->v + h->head, (size_t)(h->n - h->head) * sizeof(*h->v));
		h->n -= h->head;
		h->head = 0;
	}
}

/* ---- connections ---- */

static uint64_t s_wm_min(const struct nb_tcp *t)
{
	uint64_t w = NB_TS_INF;

	for (int n = 0; n < t->cfg.nnodes; n++)
		if (t->wm[n] < w)
			w = t->wm[n];
	return w;
}

static uint64_t s_unwrap(struct s_conn *c, uint32_t v)
{
	uint64_t u;

	if (!c->have_ref) {
		/* start high so a little below the first value stays positive */
		c->have_ref = true;
		c->ref32 = v;
		c->ref64 = 1ull << 32;
		return c->ref64;
	}
	u = c->ref64 + (uint64_t)(int64_t)(int32_t)(v - c->ref32);
	if (u > c->ref64) {
		c->ref64 = u;
		c->ref32 = v;
	}
	return u;
}

static uint32_t s_wire(const struct s_conn *c, uint64_t u)
{
	return c->ref32 + (uint32_t)(u - c->ref64);
}

static void s_conn_free(struct s_conn *c)
{
	if (!c)
		return;
	for (int s = 0; s < NB_TCP_MAX_DATA; s++) {
		free(c->map[s].v);
		free(c->ackh[s].v);
	}
	for (uint32_t i = 0; i < c->nseg; i++)
		free(c->segs[i].fin);
	free(c->segs);
	free(c->hq);
	free(c);
}

static void s_conn_remove(struct nb_tcp *t, uint32_t idx)
{
	struct s_conn *c = t->conns[idx];

	t->nheld -= c->nheld;
	if (t->last == c)
		t->last = NULL;
	s_conn_free(c);
	t->conns[idx] = t->conns[--t->nconns];
	t->st.conns = t->nconns;
}

static struct s_conn *s_conn_by_id(struct nb_tcp *t, uint32_t id)
{
	if (t->last && t->last->id == id)
		return t->last;
	for (uint32_t i = 0; i < t->nconns; i++)
		if (t->conns[i]->id == id)
			return t->conns[i];
	return NULL;
}

static struct s_conn *s_conn_find(struct nb_tcp *t, uint16_t sport, uint16_t dport)
{
	struct s_conn *c = t->last;

	if (c && !c->retired && c->sport == sport && c->dport == dport)
		return c;
	for (uint32_t i = 0; i < t->nconns; i++) {
		c = t->conns[i];
		if (!c->retired && c->sport == sport && c->dport == dport)
			return c;
	}
	return NULL;
}

static struct s_conn *s_conn_new(struct nb_tcp *t, uint16_t sport, uint16_t dport)
{
	struct s_conn *c;

	if (t->nconns >= t->cfg.max_conns)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = t->next_id++;
	c->sport = sport;
	c->dport = dport;
	t->conns[t->nconns++] = c;
	t->st.conns = t->nconns;
	return c;
}

/* A SYN with another initial sequence number on the same ports is another connection. */
static bool s_syn_restarts(struct s_conn *c, const struct nb_pkt *p, bool data)
{
	bool have = data ? c->have_isn_d : c->have_isn_r;
	uint32_t isn = data ? c->isn_d : c->isn_r;

	if (have)
		return isn != p->tcp_seq;
	/* a connection first seen mid-stream, then a new one opening on its ports */
	return !(p->tcp_flags & S_ACK) && c->have_ref;
}

static struct s_conn *s_conn_get(struct nb_tcp *t, const struct nb_pkt *p, bool data)
{
	uint16_t sport = data ? p->sport : p->dport, dport = data ? p->dport : p->sport;
	struct s_conn *c = s_conn_find(t, sport, dport);

	if (c && (p->tcp_flags & S_SYN) && s_syn_restarts(c, p, data)) {
		/* its segments still finish; events now go to the new connection */
		c->retired = true;
		c->dirty = true;
		c = NULL;
	}
	if (!c) {
		c = s_conn_new(t, sport, dport);
		if (!c) {
			t->st.untracked++;
			return NULL;
		}
	}
	if (p->tcp_flags & S_SYN) {
		if (data) {
			c->have_isn_d = true;
			c->isn_d = p->tcp_seq;
			if (!c->have_ref) {
				s_unwrap(c, p->tcp_seq);
				/* the first data byte follows the SYN */
				c->base = c->ref64 + 1;
				c->have_base = true;
			}
		} else {
			c->have_isn_r = true;
			c->isn_r = p->tcp_seq;
		}
	}
	t->last = c;
	return c;
}

/* ---- held segments ---- */

static uint64_t s_give_up_ns(const struct nb_tcp *t)
{
	uint64_t ttl = 2 * t->cfg.timeout_ns;

	return ttl < S_HOLE_MIN_NS ? S_HOLE_MIN_NS : ttl;
}

/*
 * From which watermark no copy of the segment can still come (nb_tcp.h): the timeout after
 * both the first ACK covering it at the last reply stage (toward the sender) and its last copy
 * at the first stage. Unacknowledged, it is given up later. *gave_up says which.
 */
static uint64_t s_due_k(const struct nb_tcp *t, const struct s_seg *s, const struct s_ack *k,
			bool *gave_up)
{
	uint64_t from = s->last_copy_ref;

	*gave_up = !k;
	if (!k)
		return s_add_sat(from, s_give_up_ns(t));
	if (k->ref > from)
		from = k->ref;
	return s_add_sat(from, t->cfg.timeout_ns);
}

static uint64_t s_due_at(const struct nb_tcp *t, const struct s_conn *c, const struct s_seg *s,
			 bool *gave_up)
{
	return s_due_k(t, s, s_ack_covering(&c->ackh[t->ndata - 1], s->b), gave_up);
}

/* The same for a segment next to the last one reported. */
static uint64_t s_due_old(const struct nb_tcp *t, struct s_conn *c, const struct s_seg *s,
			  bool *gave_up)
{
	return s_due_k(t, s, s_ack_covering_old(&c->ackh[t->ndata - 1], s->b), gave_up);
}

static bool s_settled(const struct nb_tcp *t, const struct s_conn *c, const struct s_seg *s,
		      uint64_t w, bool *gave_up)
{
	return w >= s_due_at(t, c, s, gave_up);
}

static int s_hq_push(struct s_conn *c, uint64_t due, uint64_t a)
{
	uint32_t i;

	if (s_grow((void **)&c->hq, &c->caphq, c->nhq + 1, sizeof(*c->hq)))
		return -ENOMEM;
	for (i = c->nhq++; i && c->hq[(i - 1) / 2].due > due; i = (i - 1) / 2)
		c->hq[i] = c->hq[(i - 1) / 2];
	c->hq[i] = (struct s_due){due, a};
	return 0;
}

static struct s_due s_hq_pop(struct s_conn *c)
{
	struct s_due top = c->hq[0], last = c->hq[--c->nhq];
	uint32_t i = 0, k;

	while ((k = 2 * i + 1) < c->nhq) {
		if (k + 1 < c->nhq && c->hq[k + 1].due < c->hq[k].due)
			k++;
		if (c->hq[k].due >= last.due)
			break;
		c->hq[i] = c->hq[k];
		i = k;
	}
	if (c->nhq)
		c->hq[i] = last;
	return top;
}

/* The segment's due time now, in the heap; if it cannot be, the next release looks at all. */
static void s_hq_key(const struct nb_tcp *t, struct s_conn *c, struct s_seg *s)
{
	bool gave_up;

	s->due = s_due_at(t, c, s, &gave_up);
	if (s_hq_push(c, s->due, s->a))
		c->rescan = true;
}

/* Only the held segments' entries: after a scan, or when stale ones pile up. */
static void s_hq_rebuild(const struct nb_tcp *t, struct s_conn *c)
{
	c->nhq = 0;
	c->rescan = false;
	for (uint32_t k = 0; k < c->nseg; k++)
		if (c->segs[k].state == S_HELD)
			s_hq_key(t, c, &c->segs[k]);
}

/* ---- segments ---- */

/* First index whose segment ends after x (dead ones included: all are disjoint). */
static uint32_t s_seg_find(const struct s_conn *c, uint64_t x)
{
	uint32_t lo = 0, hi = c->nseg;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->segs[mid].b > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static int s_seg_insert(struct nb_tcp *t, struct s_conn *c, uint64_t a, uint64_t b)
{
	uint32_t pos;
	struct s_seg *s;

	if (s_grow((void **)&c->segs, &c->cap, c->nseg + 1, sizeof(*c->segs)))
		return -ENOMEM;
	pos = s_seg_find(c, a);
	memmove(&c->segs[pos + 1], &c->segs[pos], (size_t)(c->nseg - pos) * sizeof(*c->segs));
	c->nseg++;
	s = &c->segs[pos];
	memset(s, 0, sizeof(*s));
	s->a = a;
	s->b = b;
	s->seq = s_wire(c, a);
	for (int r = 0; r < t->ndata; r++) {
		if (c->ackh[r].pass > pos)
			c->ackh[r].pass = pos;
		if (c->ackh[r].dscan > pos)
			c->ackh[r].dscan = pos;
	}
	t->st.segments++;
	return 0;
}

static uint16_t s_data_mask(const struct nb_tcp *t)
{
	return (uint16_t)((1u << t->ndata) - 1);
}

static void s_pass(struct nb_tcp *t, struct s_conn *c, uint32_t i, int stage, uint64_t ts,
		   uint64_t ref, uint32_t ifindex, uint64_t aux, bool dup);

/*
 * Behind a hole the receiver's ACK stays at the hole: its duplicates, seen after the segment
 * passed the stage before, pass it here once it has passed every data stage.
 */
static void s_try_dup(struct nb_tcp *t, struct s_conn *c, uint32_t i, int stage)
{
	const struct s_ackh *h = &c->ackh[stage - t->ndata];
	const struct s_seg *s = &c->segs[i];
	uint8_t node = t->cfg.stage_node[stage];
	uint64_t need;

	if (!t->cfg.dup_acks || s->state != S_LIVE || (s->passed & (1u << stage)) ||
	    h->dups < S_DUP_ACKS || h->max >= s->a ||
	    (s->passed & s_data_mask(t)) != s_data_mask(t) || !(s->passed & (1u << (stage - 1))))
		return;
	/*
	 * After the stage before; against another node's clock within slack_ns of it, but never
	 * before the segment's last stage on this node (same clock: exact).
	 */
	need = s->pref[stage - 1];
	if (t->cfg.stage_node[stage - 1] != node) {
		need = need > t->cfg.slack_ns ? need - t->cfg.slack_ns : 0;
		for (int k = stage - 2; k >= 0; k--) {
			if (t->cfg.stage_node[k] == node && (s->passed & (1u << k))) {
				if (s->pref[k] > need)
					need = s->pref[k];
				break;
			}
		}
	}
	if (h->dup_ref < need)
		return;
	t->st.dup_passes++;
	s_pass(t, c, i, stage, h->dup_ts, h->dup_ref, h->dup_if, h->max_raw, true);
}

static void s_pass(struct nb_tcp *t, struct s_conn *c, uint32_t i, int stage, uint64_t ts,
		   uint64_t ref, uint32_t ifindex, uint64_t aux, bool dup)
{
	struct s_seg *s = &c->segs[i];
	struct nb_key key = {.proto = IPPROTO_TCP, .k1 = c->id, .k2 = s->a};

	if (s->state == S_DEAD || (s->passed & (1u << stage)))
		return;
	s->passed |= (uint16_t)(1u << stage);
	s->pref[stage] = ref;
	if (dup)
		s->dup |= (uint8_t)(1u << stage);
	if (s->state == S_HELD) {
		/*
		 * A copy got through after the engine's timeout (a retransmission lost more
		 * than once): the segment was delivered, not dropped.
		 */
		s->fin->st[stage] = (struct nb_stage_obs){ts, ref, aux, ifindex, 1};
		if (stage > s->fin->highest) {
			s->fin->highest = stage;
			s->fin->next_due = stage + 1 < t->cfg.nstages ? stage + 1 : -1;
		}
		return;
	}
	/* may report it (the last stage it lacked), which only changes its state */
	nb_join_add(t->join, &key, stage, ts, ref, ifindex, aux);
	if (s->state != S_LIVE)
		return;
	if (stage < t->ndata) {
		if ((s->passed & s_data_mask(t)) == s_data_mask(t))
			s_try_dup(t, c, i, t->ndata);
	} else if (stage + 1 < t->cfg.nstages) {
		s_try_dup(t, c, i, stage + 1);
	}
}

/* A segment just created: other nodes' events may already have shown it further on. */
static void s_catch_up(struct nb_tcp *t, struct s_conn *c, uint32_t i)
{
	uint64_t ts, ref;
	uint32_t ifindex;

	for (int s = 1; s < t->ndata && c->segs[i].state == S_LIVE; s++)
		if (s_map_cover(&c->map[s], c->segs[i].a, c->segs[i].b, &ts, &ref, &ifindex))
			s_pass(t, c, i, s, ts, ref, ifindex, 0, false);
	for (int s = t->ndata; s < t->cfg.nstages && c->segs[i].state == S_LIVE; s++) {
		const struct s_ack *k = s_ack_covering(&c->ackh[s - t->ndata], c->segs[i].b);

		if (k)
			s_pass(t, c, i, s, k->ts, k->ref, k->ifindex, k->raw, false);
	}
}

static void s_data(struct nb_tcp *t, struct s_conn *c, const struct nb_pkt *p, int stage,
		   uint64_t ts, uint64_t ref, uint32_t ifindex)
{
	uint64_t a = s_unwrap(c, p->tcp_seq), b = a + p->l4_len, cts, cref, cur;
	uint32_t i, cif;
	int rc;

	if (!c->have_base) {
		c->base = a;
		c->have_base = true;
	}
	if (b <= c->floor) {
		t->st.late++;
		return;
	}
	if (a < c->floor)
		a = c->floor;
	if (stage == 0) {
		/* the bytes never seen here before are new segments */
		const struct s_map *m = &c->map[0];
		const struct s_ackh *h = &c->ackh[t->ndata - 1];

		cur = a;
		/*
		 * ...unless the ACK leaving toward the sender (the last reply stage, on this same
		 * node) covered them already: a copy of bytes whose first copy was not seen here
		 * (a spurious retransmission, or events missed), not a segment of its own.
		 */
		if (h->any && h->max > cur) {
			if (h->max >= b)
				t->st.late++;
			cur = h->max < b ? h->max : b;
		}
		for (i = s_map_find(m, a); i < m->n && m->v[i].a < b; i++) {
			if (m->v[i].a > cur && s_seg_insert(t, c, cur, m->v[i].a))
				break;
			if (m->v[i].b > cur)
				cur = m->v[i].b;
		}
		if (cur < b)
			s_seg_insert(t, c, cur, b);
	}
	rc = s_map_add(&c->map[stage], a, b, ts, ref, ifindex, t->cfg.max_ranges);
	if (rc) {
		/* evidence we could not keep: whatever was due here then is INCONCLUSIVE */
		t->st.overflow++;
		nb_join_taint(t->join, t->cfg.stage_node[stage], ref, ref);
		/* segments just made of these bytes never were: a later copy makes them again */
		for (i = s_seg_find(c, a); stage == 0 && i < c->nseg && c->segs[i].a < b; i++) {
			if (c->segs[i].state == S_LIVE && !c->segs[i].passed) {
				c->segs[i].state = S_DEAD;
				c->ndead++;
				c->dirty = true;
				t->st.segments--;
			}
		}
		return;
	}
	if (stage == 0 && (!c->have_hi0 || b > c->hi0)) {
		c->hi0 = b;
		c->have_hi0 = true;
	}
	for (i = s_seg_find(c, a); i < c->nseg && c->segs[i].a < b; i++) {
		struct s_seg *s = &c->segs[i];
		bool fresh = stage == 0 && !s->passed && s->state == S_LIVE;

		if (s->state == S_DEAD)
			continue;
		/* a held segment still counts its copies: that is what it is held for */
		if (stage == 0 && ref > s->last_copy_ref)
			s->last_copy_ref = ref;
		if (s->passed & (1u << stage))
			continue;
		if (!s_map_cover(&c->map[stage], s->a, s->b, &cts, &cref, &cif))
			continue;
		s_pass(t, c, i, stage, cts, cref, cif, 0, false);
		if (fresh)
			s_catch_up(t, c, i);
	}
}

static void s_dup_scan(struct nb_tcp *t, struct s_conn *c, int stage)
{
	struct s_ackh *h = &c->ackh[stage - t->ndata];
	uint32_t i = h->dscan > h->pass ? h->dscan : h->pass;
	bool prefix = true;

	for (; i < c->nseg; i++) {
		const struct s_seg *s = &c->segs[i];

		if (s->state == S_LIVE && !(s->passed & (1u << stage)) && s->a > h->max) {
			s_try_dup(t, c, i, stage);
			/* not eligible yet: tried again when it passes the stage before */
			if (s->state == S_LIVE && !(s->passed & (1u << stage)))
				prefix = false;
		}
		if (prefix)
			h->dscan = i + 1;
	}
}

/* Held segments ending in (lo, ack]: their due time, which only this ACK could make sooner. */
static void s_rekey(const struct nb_tcp *t, struct s_conn *c, uint64_t lo, uint64_t ack)
{
	bool gave_up;

	for (uint32_t i = s_seg_find(c, lo); i < c->nseg && c->segs[i].a < ack; i++) {
		struct s_seg *s = &c->segs[i];

		if (s->state != S_HELD || s->b > ack || s_due_at(t, c, s, &gave_up) == s->due)
			continue;
		s_hq_key(t, c, s);
	}
}

static void s_reply(struct nb_tcp *t, struct s_conn *c, const struct nb_pkt *p, int stage,
		    uint64_t ts, uint64_t ref, uint32_t ifindex)
{
	struct s_ackh *h = &c->ackh[stage - t->ndata];
	bool pure = p->l4_len == 0 && !(p->tcp_flags & (S_SYN | S_FIN | S_RST));
	uint64_t ack, lo;
	uint32_t i;

	if (!(p->tcp_flags & S_ACK) || (p->tcp_flags & S_RST))
		return;
	ack = s_unwrap(c, p->tcp_ack);
	if (h->any && ack < h->max)
		return;
	if (h->any && ack == h->max) {
		if (!pure)
			return;
		h->dups++;
		if (ref >= h->dup_ref) {
			h->dup_ts = ts;
			h->dup_ref = ref;
			h->dup_if = ifindex;
		}
		if (h->dups >= S_DUP_ACKS)
			s_dup_scan(t, c, stage);
		return;
	}
	lo = h->any ? h->max : 0;
	if (s_grow((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v)) == 0)
		h->v[h->n++] = (struct s_ack){ack, ts, ref, ifindex, p->tcp_ack};
	h->any = true;
	h->max = ack;
	h->max_raw = p->tcp_ack;
	h->dups = pure ? 1 : 0;
	h->dup_ts = ts;
	h->dup_ref = ref;
	h->dup_if = ifindex;
	for (i = h->pass; i < c->nseg; i++) {
		const struct s_seg *s = &c->segs[i];

		if (s->state == S_DEAD || (s->passed & (1u << stage)))
			continue;
		if (s->b > ack)
			break;
		s_pass(t, c, i, stage, ts, ref, ifindex, p->tcp_ack, false);
	}
	h->pass = i;
	h->dscan = i;
	/* held segments this ACK is the first to cover toward the sender may settle sooner */
	if (stage == t->cfg.nstages - 1 && c->nheld)
		s_rekey(t, c, lo, ack);
}

/* ---- reporting ---- */

/*
 * Copies sent although an earlier one got through, and where the ACK that would have stopped
 * them was lost: between two reply stages where an ACK covering the segment had passed the
 * first well before the last copy (by the clock slack and S_ACK_MARGIN_NS: not one still on
 * its way when the sender's timer fired) and either passed the second only after that copy, or
 * a later ACK was the first to pass it (ACKs only grow: the first one never got there). None
 * such: the sender's own timer, or on one host a loss beyond it.
 */
static void s_spurious(const struct nb_tcp *t, const struct s_seg *s, const struct nb_joined *p,
		       struct nb_tcp_seg *r)
{
	uint64_t margin = t->cfg.slack_ns + S_ACK_MARGIN_NS;
	uint32_t lost = 0;

	/* a copy missing where it could not be seen is no sign the sender sent one too many */
	for (int d = 0; d + 1 < t->ndata; d++)
		lost += r->lost[d] + r->unjudged[d];
	if (r->copies[0] <= 1 + lost)
		return;
	r->spurious = r->copies[0] - 1 - lost;
	for (int j = t->ndata + 1; j < t->cfg.nstages; j++) {
		uint16_t both = (uint16_t)(3u << (j - 1));

		if ((s->passed & both) != both || (s->dup & both) ||
		    s_add_sat(s->pref[j - 1], margin) > s->last_copy_ref)
			continue;
		if (s->pref[j] <= s->last_copy_ref &&
		    (int32_t)((uint32_t)p->st[j].aux - (uint32_t)p->st[j - 1].aux) <= 0)
			continue;
		r->spurious_at[j - t->ndata] = r->spurious;
		return;
	}
	r->spurious_at[0] = r->spurious;
}

static void s_emit(struct nb_tcp *t, struct s_conn *c, struct s_seg *s, const struct nb_joined *p)
{
	struct nb_tcp_seg r = {0};

	r.p = p;
	r.sport = c->sport;
	r.dport = c->dport;
	r.seq = s->seq;
	r.len = (uint32_t)(s->b - s->a);
	r.offset = c->have_base && s->a >= c->base ? s->a - c->base : 0;
	r.ndata = t->ndata;
	for (int d = 0; d < t->ndata; d++)
		r.copies[d] = s_map_maxn(&c->map[d], s->a, s->b);
	for (int d = 0; d + 1 < t->ndata; d++) {
		/* when the bytes were first seen at stage d (0 when never: tainted from 0) */
		uint64_t ref = p && p->st[d].seen ? p->st[d].ts_ref : 0;
		int node = t->cfg.stage_node[d + 1];

		r.lost[d] = s_map_lost(&c->map[d], &c->map[d + 1], s->a, s->b);
		/*
		 * A copy the next stage's node could not have seen (its probes not attached
		 * yet, or it was away) is no evidence of a loss: traffic already flowing when a
		 * trace starts would otherwise be lost in the network until both attached.
		 */
		if (!r.lost[d] || node >= NB_MAX_NODES)
			continue;
		if (s_tainted(t, node, ref, s_add_sat(ref, t->cfg.timeout_ns))) {
			r.unjudged[d] = r.lost[d];
			r.lost[d] = 0;
		}
	}
	s_spurious(t, s, p, &r);
	r.dup_acked = s->dup;
	r.ack_held = (s->passed & s_data_mask(t)) == s_data_mask(t) &&
		     !(s->passed & (1u << t->ndata)) && c->ackh[0].any && c->ackh[0].max < s->a;
	if (t->cb) {
		t->in_cb = 1;
		t->cb(&r, t->ctx);
		t->in_cb = 0;
	}
	t->st.reported++;
	if (s->state == S_HELD) {
		c->nheld--;
		t->nheld--;
	}
	free(s->fin);
	s->fin = NULL;
	s->state = S_DEAD;
	c->ndead++;
	c->dirty = true;
}

static uint32_t s_seg_at(const struct s_conn *c, uint64_t a)
{
	uint32_t i = s_seg_find(c, a);

	return i < c->nseg && c->segs[i].a == a ? i : S_NONE;
}

static void s_on_final(const struct nb_joined *p, void *ctx)
{
	struct nb_tcp *t = ctx;
	struct s_conn *c = s_conn_by_id(t, p->key.k1);
	struct s_seg *s;
	bool gave_up = false;
	uint32_t i;

	if (!c)
		return;
	i = s_seg_at(c, p->key.k2);
	if (i == S_NONE || c->segs[i].state != S_LIVE)
		return;
	s = &c->segs[i];
	/*
	 * Its stages are final, its copies not yet: another node's events may lag, and a segment
	 * behind a hole passes on duplicate ACKs before the sender has stopped sending it.
	 */
	/* held segments are bounded like the engine's packets: past that, reported early */
	if (t->nheld >= (t->cfg.max_inflight ? t->cfg.max_inflight : S_DEF_HELD))
		t->st.early++;
	else if (!s_settled(t, c, s, s_wm_min(t), &gave_up)) {
		s->fin = malloc(sizeof(*s->fin));
		if (s->fin) {
			*s->fin = *p;
			s->state = S_HELD;
			c->nheld++;
			t->nheld++;
			s_hq_key(t, c, s);
			return;
		}
	}
	t->st.given_up += gave_up;
	s_emit(t, c, s, p);
}

/*
 * The floor may not pass a hole at the first stage: bytes not seen there yet, whose first copy
 * was lost before this host and whose retransmission is still to come (a new segment then). A
 * hole still open 2 timeouts (at least a second) after the bytes beyond it were seen is given up:
 * its retransmission, if it ever comes, counts as late.
 */
static uint64_t s_hole0(const struct nb_tcp *t, const struct s_conn *c, uint64_t lim)
{
	const struct s_map *m = &c->map[0];
	uint64_t cur = c->floor, w = s_wm_min(t), ttl = s_give_up_ns(t);

	for (uint32_t i = s_map_find(m, cur); i < m->n && cur < lim; i++) {
		if (m->v[i].a > cur && w < s_add_sat(m->v[i].ref, ttl))
			return cur;
		if (m->v[i].b > cur)
			cur = m->v[i].b;
	}
	return cur < lim ? cur : lim;
}

/* Drop reported segments, raise the floor and prune below it. */
static void s_tidy(const struct nb_tcp *t, struct s_conn *c)
{
	uint32_t k = 0, np[NB_TCP_MAX_DATA] = {0}, nd[NB_TCP_MAX_DATA] = {0};
	uint64_t floor;

	c->dirty = false;
	/* moving the array costs its length: only once a quarter of it is gone */
	if (!c->ndead || c->ndead * 4 < c->nseg)
		return;
	for (uint32_t i = 0; i <= c->nseg; i++) {
		for (int r = 0; r < NB_TCP_MAX_DATA; r++) {
			if (c->ackh[r].pass == i)
				np[r] = k;
			if (c->ackh[r].dscan == i)
				nd[r] = k;
		}
		if (i < c->nseg && c->segs[i].state != S_DEAD)
			c->segs[k++] = c->segs[i];
	}
	for (int r = 0; r < NB_TCP_MAX_DATA; r++) {
		c->ackh[r].pass = np[r];
		c->ackh[r].dscan = nd[r];
	}
	c->nseg = k;
	c->ndead = 0;
	floor = s_hole0(t, c, k ? c->segs[0].a : c->hi0);
	if (floor <= c->floor)
		return;
	c->floor = floor;
	for (int s = 0; s < NB_TCP_MAX_DATA; s++) {
		s_map_prune(&c->map[s], floor);
		s_ack_prune(&c->ackh[s], floor);
	}
}

static void s_tidy_all(struct nb_tcp *t)
{
	for (uint32_t i = 0; i < t->nconns;) {
		struct s_conn *c = t->conns[i];

		if (c->dirty)
			s_tidy(t, c);
		/* a retired connection goes once its last segment is reported */
		if (c->retired && c->nseg == c->ndead) {
			s_conn_remove(t, i);
			continue;
		}
		i++;
	}
}

static int s_cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/*
 * Every held segment of the connection looked at, in sequence order: at the flush (all), or
 * when its heap could not be kept, which is then built again.
 */
static void s_release_scan(struct nb_tcp *t, struct s_conn *c, uint64_t w, bool all)
{
	bool gave_up;

	for (uint32_t k = 0; k < c->nseg && c->nheld; k++) {
		struct s_seg *s = &c->segs[k];

		if (s->state != S_HELD)
			continue;
		if (s_settled(t, c, s, w, &gave_up) || all) {
			t->st.given_up += gave_up;
			s_emit(t, c, s, s->fin);
		}
	}
	s_hq_rebuild(t, c);
}

/* The connection's held segments settled by w, reported in sequence order as a scan would. */
static void s_release_conn(struct nb_tcp *t, struct s_conn *c, uint64_t w)
{
	uint32_t n = 0, i;
	bool gave_up;

	/* stale entries (segments reported, or due sooner since) wait for their time: not long */
	if (c->nhq > 2 * c->nheld + 64)
		s_hq_rebuild(t, c);
	while (!c->rescan && c->nhq && c->hq[0].due <= w) {
		struct s_due e = s_hq_pop(c);
		struct s_seg *s;
		uint64_t due;

		i = s_seg_at(c, e.a);
		/* stale: reported, or pushed again since */
		if (i == S_NONE || c->segs[i].state != S_HELD || c->segs[i].due != e.due)
			continue;
		s = &c->segs[i];
		due = s_due_old(t, c, s, &gave_up);
		if (due > w) {
			/* a later copy came: up again then (no allocation: one was just popped) */
			s->due = due;
			s_hq_push(c, due, s->a);
			continue;
		}
		if (s_grow((void **)&t->rel, &t->caprel, n + 1, sizeof(*t->rel))) {
			s_hq_push(c, e.due, e.a);
			c->rescan = true;
			break;
		}
		t->rel[n++] = e.a;
	}
	if (c->rescan) {
		s_release_scan(t, c, w, false);
		return;
	}
	if (n > 1)
		qsort(t->rel, n, sizeof(*t->rel), s_cmp_u64);
	for (uint32_t k = 0; k < n; k++) {
		i = s_seg_at(c, t->rel[k]);
		if (i == S_NONE || c->segs[i].state != S_HELD)
			continue;
		s_due_old(t, c, &c->segs[i], &gave_up);
		t->st.given_up += gave_up;
		s_emit(t, c, &c->segs[i], c->segs[i].fin);
	}
}

static void s_release(struct nb_tcp *t, bool all)
{
	uint64_t w = s_wm_min(t);

	if (!t->nheld)
		return;
	for (uint32_t i = 0; i < t->nconns; i++) {
		struct s_conn *c = t->conns[i];

		if (!c->nheld)
			continue;
		if (all || c->rescan)
			s_release_scan(t, c, w, all);
		else
			s_release_conn(t, c, w);
	}
}

/* ---- public ---- */

struct nb_tcp *nb_tcp_new(const struct nb_tcp_cfg *cfg, nb_tcp_cb cb, void *ctx)
{
	struct nb_join_cfg jc = {0};
	struct nb_tcp *t;

	if (!cfg || (cfg->nstages != 4 && cfg->nstages != 8) || cfg->nnodes < 1 ||
	    cfg->nnodes > NB_MAX_NODES) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto nomem;
	t->cfg = *cfg;
	if (!t->cfg.max_conns)
		t->cfg.max_conns = S_DEF_CONNS;
	if (!t->cfg.max_ranges)
		t->cfg.max_ranges = S_DEF_RANGES;
	t->ndata = cfg->nstages / 2;
	t->cb = cb;
	t->ctx = ctx;
	t->next_id = 1;
	jc.nstages = cfg->nstages;
	jc.nnodes = cfg->nnodes;
	memcpy(jc.stage_node, cfg->stage_node, sizeof(jc.stage_node));
	jc.timeout_ns = cfg->timeout_ns;
	jc.max_inflight = cfg->max_inflight;
	t->join = nb_join_new(&jc, s_on_final, t);
	if (!t->join) {
		int e = errno;

		free(t);
		errno = e;
		return NULL;
	}
	t->conns = calloc(t->cfg.max_conns, sizeof(*t->conns));
	if (!t->conns)
		goto nomem;
	return t;
nomem:
	nb_tcp_destroy(&t);
	errno = ENOMEM;
	return NULL;
}

void nb_tcp_destroy(struct nb_tcp **pt)
{
	struct nb_tcp *t;

	if (!pt || !*pt)
		return;
	t = *pt;
	nb_join_destroy(&t->join);
	for (uint32_t i = 0; t->conns && i < t->nconns; i++)
		s_conn_free(t->conns[i]);
	free(t->conns);
	free(t->rel);
	free(t);
	*pt = NULL;
}

int nb_tcp_add(struct nb_tcp *t, const struct nb_pkt *p, int stage, uint64_t ts, uint64_t ts_ref,
	       uint32_t ifindex)
{
	bool data;
	struct s_conn *c;

	if (!t || !p || stage < 0 || stage >= t->cfg.nstages)
		return -EINVAL;
	if (t->in_cb)
		return -EBUSY;
	data = stage < t->ndata;
	c = s_conn_get(t, p, data);
	if (!c)
		return 0;
	if (ts_ref > c->last_ref)
		c->last_ref = ts_ref;
	if (data) {
		if (p->l4_len)
			s_data(t, c, p, stage, ts, ts_ref, ifindex);
	} else {
		s_reply(t, c, p, stage, ts, ts_ref, ifindex);
	}
	s_tidy_all(t);
	return 0;
}

int nb_tcp_watermark(struct nb_tcp *t, int node, uint64_t ts_ref)
{
	if (!t || node < 0 || node >= t->cfg.nnodes)
		return -EINVAL;
	if (ts_ref > t->wm[node])
		t->wm[node] = ts_ref;
	return nb_join_watermark(t->join, node, ts_ref);
}

int nb_tcp_taint(struct nb_tcp *t, int node, uint64_t from_ref, uint64_t to_ref)
{
	int rc;

	if (!t)
		return -EINVAL;
	rc = nb_join_taint(t->join, node, from_ref, to_ref);
	if (!rc) {
		int n = t->ntaint[node];

		if (n < S_MAX_TAINTS) {
			t->taint[node][n].from = from_ref;
			t->taint[node][n].to = to_ref;
			t->ntaint[node]++;
		} else {
			/* only ever wider: never a copy judged that a taint covered */
			if (from_ref < t->taint[node][n - 1].from)
				t->taint[node][n - 1].from = from_ref;
			if (to_ref > t->taint[node][n - 1].to)
				t->taint[node][n - 1].to = to_ref;
		}
	}
	if (!rc && to_ref == NB_TS_INF)
		t->wm[node] = NB_TS_INF;
	return rc;
}

int nb_tcp_poll(struct nb_tcp *t)
{
	uint64_t before, idle;
	int rc;

	if (!t)
		return -EINVAL;
	if (t->in_cb)
		return -EBUSY;
	before = t->st.reported;
	rc = nb_join_poll(t->join);
	if (rc < 0)
		return rc;
	s_release(t, false);
	/* connections with nothing pending and silent for long enough go */
	idle = t->cfg.timeout_ns * 4 > S_IDLE_MIN_NS ? t->cfg.timeout_ns * 4 : S_IDLE_MIN_NS;
	for (uint32_t i = 0; i < t->nconns; i++) {
		struct s_conn *c = t->conns[i];

		if (c->nseg == c->ndead && s_wm_min(t) >= s_add_sat(c->last_ref, idle))
			c->retired = true;
		if (c->retired)
			c->dirty = true;
	}
	s_tidy_all(t);
	return (int)(t->st.reported - before);
}

int nb_tcp_flush(struct nb_tcp *t)
{
	uint64_t before;
	int rc;

	if (!t)
		return -EINVAL;
	if (t->in_cb)
		return -EBUSY;
	before = t->st.reported;
	rc = nb_join_flush(t->join);
	if (rc < 0)
		return rc;
	s_release(t, true);
	for (uint32_t i = 0; i < t->nconns; i++)
		t->conns[i]->dirty = true;
	s_tidy_all(t);
	return (int)(t->st.reported - before);
}

void nb_tcp_get_stats(const struct nb_tcp *t, struct nb_tcp_stats *out)
{
	struct nb_join_stats js;

	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!t)
		return;
	*out = t->st;
	nb_join_get_stats(t->join, &js);
	out->inflight = js.inflight + t->nheld;
}
