// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Join engine. Memory is allocated once in nb_join_new and bounded by max_inflight and recent:
 *
 *  - pool: max_inflight packet slots (struct nb_joined, handed to the callback as is), free
 *    ones on a stack, and beside it a compact array of what the index and heaps touch on
 *    every event (hash, heap position), so they do not miss the cache on 300-byte slots;
 *  - index: open addressing with linear probing, at most half full, each entry the key's hash
 *    and the pool index in one word, with backward-shift deletion so lookups never walk
 *    tombstones;
 *  - age order: one binary min-heap on first_ts_ref per "class". A class is the set of nodes
 *    that own a stage after a packet's highest stage; those are the only nodes whose watermark
 *    can hold the packet. Suffix sets are nested, so there are at most NB_MAX_NODES classes,
 *    plus one completion heap keyed by the last stage's ts_ref for packets that have it.
 *    Within a class a packet is due exactly when the heap top is due; across classes poll
 *    merges the due heap tops, so callbacks come in key order (first_ts_ref, or that ts_ref)
 *    among the packets one call finalises. A heap rather than a FIFO by creation because
 *    events arrive out of order across CPUs and nodes, and an earlier observation can lower
 *    first_ts_ref after creation;
 *  - recent: a ring of finalised keys and their first_ts_ref (for reuse_ns) with its own
 *    index, to recognise late events;
 *  - taint: per node, a short sorted list of intervals.
 *
 * The callback runs inside nb_join_add, nb_join_poll and nb_join_flush with the engine in the
 * middle of an update, so it must not call back into the engine: nb_join_add, nb_join_poll and
 * nb_join_flush return -EBUSY if it does; nb_join_destroy from the callback is undefined.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nb_join.h"

#define S_DEF_INFLIGHT 65536u
#define S_DEF_RECENT   4096u
/* keeps index sizes (2x, rounded up to a power of two) inside uint32_t */
#define S_MAX_ENTRIES (1u << 26)
#define S_MAX_TAINT   16
#define S_NONE	      UINT32_MAX
#define S_EMPTY	      UINT64_MAX /* free index entry */

struct s_meta {
	uint32_t hash;
	uint32_t hpos; /* position in its class heap */
	uint32_t seq;  /* creation order: ties on first_ts_ref */
	uint32_t cls;
};

struct s_hent {
	uint64_t t; /* copy of the key (s_heap_t): the heap is walked without touching the pool */
	uint32_t idx;
	uint32_t seq;
};

struct s_heap {
	struct s_hent *e;
	uint32_t n;
	uint32_t node_mask;
};

struct s_recent {
	struct nb_key key;
	uint64_t first_ts_ref;
	uint32_t hash;
};

struct s_iv {
	uint64_t from;
	uint64_t to;
};

struct s_taint {
	int n;
	struct s_iv iv[S_MAX_TAINT];
};

struct nb_join {
	struct nb_join_cfg cfg;
	nb_join_cb cb;
	void *ctx;
	int in_cb;

	struct nb_joined *pool;
	struct s_meta *meta;
	uint32_t *free_stack;
	uint32_t nfree;
	uint64_t *index; /* hash << 32 | pool index, or S_EMPTY */
	uint32_t index_mask;
	uint32_t seq;

	int ncls;
	int8_t cls_of[NB_MAX_STAGES]; /* class of a packet by its highest stage */
	/*
	 * Packets whose last stage was seen while earlier ones were not: the status is COMPLETE,
	 * but another node's events for the earlier stages may still be on their way (agents
	 * send in batches), and the latency split needs them. They wait, keyed by the last
	 * stage's time, until every node's watermark has passed it.
	 */
	int cmp_cls;
	struct s_heap heap[NB_MAX_STAGES];
	uint32_t all_mask; /* nodes that own any stage */

	uint64_t reuse_ns; /* cfg.reuse_ns, or UINT64_MAX when off */
	struct s_recent *ring;
	uint32_t ring_head; /* next slot to write */
	uint32_t ring_n;
	uint64_t *rindex; /* hash << 32 | ring slot, or S_EMPTY */
	uint32_t rindex_mask;

	uint64_t wm[NB_MAX_NODES];
	struct s_taint taint[NB_MAX_NODES];

	struct nb_joined scratch; /* a packet of a 1-stage chain: final at once, needs no slot */
	struct nb_join_stats st;
};

static uint32_t s_hash(const struct nb_key *k)
{
	uint64_t h = k->k2 ^ ((uint64_t)k->k1 << 32 | k->proto) * 0x9e3779b97f4a7c15ull;

	/* murmur3 finalizer: ICMP seq and UDP ip_id differ only in low bits */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

static int s_key_eq(const struct nb_key *a, const struct nb_key *b)
{
	return a->proto == b->proto && a->k1 == b->k1 && a->k2 == b->k2;
}

static uint64_t s_add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint32_t s_pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* ---- hash tables: linear probing, entries hash << 32 | value ---- */

static void s_table_put(uint64_t *t, uint32_t mask, uint32_t h, uint32_t val)
{
	uint32_t i = h & mask;

	while (t[i] != S_EMPTY)
		i = (i + 1) & mask;
	t[i] = (uint64_t)h << 32 | val;
}

/* Backward-shift deletion: later entries of the cluster move up unless already at home. */
static void s_table_del(uint64_t *t, uint32_t mask, uint32_t h, uint32_t val)
{
	uint64_t want = (uint64_t)h << 32 | val;
	uint32_t i = h & mask, d, home;

	while (t[i] != want)
		i = (i + 1) & mask;
	for (d = (i + 1) & mask; t[d] != S_EMPTY; d = (d + 1) & mask) {
		home = (uint32_t)(t[d] >> 32) & mask;
		/* movable when its home is not cyclically inside (i, d] */
		if (((d - home) & mask) >= ((d - i) & mask)) {
			t[i] = t[d];
			i = d;
		}
	}
	t[i] = S_EMPTY;
}

static uint32_t s_find(const struct nb_join *j, const struct nb_key *k, uint32_t h)
{
	uint32_t i = h & j->index_mask;
	uint64_t e;

	while ((e = j->index[i]) != S_EMPTY) {
		if ((uint32_t)(e >> 32) == h && s_key_eq(&j->pool[(uint32_t)e].key, k))
			return (uint32_t)e;
		i = (i + 1) & j->index_mask;
	}
	return S_NONE;
}

/* ---- recently finalised keys ---- */

/*
 * Whether an observation at ts_ref belongs to a finalised packet. A key can be in the ring
 * more than once (finalised, reused, finalised again): any copy recent enough claims it.
 */
static int s_recent_late(const struct nb_join *j, const struct nb_key *k, uint32_t h,
			 uint64_t ts_ref)
{
	uint32_t i = h & j->rindex_mask;
	const struct s_recent *r;
	uint64_t e;

	while ((e = j->rindex[i]) != S_EMPTY) {
		r = &j->ring[(uint32_t)e];
		if ((uint32_t)(e >> 32) == h && s_key_eq(&r->key, k) &&
		    ts_ref <= s_add_sat(r->first_ts_ref, j->reuse_ns))
			return 1;
		i = (i + 1) & j->rindex_mask;
	}
	return 0;
}

static void s_recent_put(struct nb_join *j, const struct nb_key *k, uint32_t h,
			 uint64_t first_ts_ref)
{
	uint32_t slot = j->ring_head;

	/* the oldest key leaves: a later packet with it (seq wrap) is new again */
	if (j->ring_n == j->cfg.recent)
		s_table_del(j->rindex, j->rindex_mask, j->ring[slot].hash, slot);
	else
		j->ring_n++;
	j->ring[slot].key = *k;
	j->ring[slot].hash = h;
	j->ring[slot].first_ts_ref = first_ts_ref;
	s_table_put(j->rindex, j->rindex_mask, h, slot);
	j->ring_head = (slot + 1) % j->cfg.recent;
}

/* ---- age heaps ---- */

static int s_hless(const struct s_hent *a, const struct s_hent *b)
{
	if (a->t != b->t)
		return a->t < b->t;
	return (int32_t)(a->seq - b->seq) < 0;
}

static void s_hset(struct nb_join *j, struct s_heap *hp, uint32_t pos, const struct s_hent *e)
{
	hp->e[pos] = *e;
	j->meta[e->idx].hpos = pos;
}

static void s_hup(struct nb_join *j, struct s_heap *hp, uint32_t pos)
{
	struct s_hent e = hp->e[pos];

	while (pos > 0) {
		uint32_t par = (pos - 1) / 2;

		if (!s_hless(&e, &hp->e[par]))
			break;
		s_hset(j, hp, pos, &hp->e[par]);
		pos = par;
	}
	s_hset(j, hp, pos, &e);
}

static void s_hdown(struct nb_join *j, struct s_heap *hp, uint32_t pos)
{
	struct s_hent e = hp->e[pos];

	for (;;) {
		uint32_t c = 2 * pos + 1;

		if (c >= hp->n)
			break;
		if (c + 1 < hp->n && s_hless(&hp->e[c + 1], &hp->e[c]))
			c++;
		if (!s_hless(&hp->e[c], &e))
			break;
		s_hset(j, hp, pos, &hp->e[c]);
		pos = c;
	}
	s_hset(j, hp, pos, &e);
}

static uint64_t s_heap_t(const struct nb_join *j, int cls, uint32_t idx)
{
	const struct nb_joined *p = &j->pool[idx];

	return cls == j->cmp_cls ? p->st[j->cfg.nstages - 1].ts_ref : p->first_ts_ref;
}

static int s_all_seen(const struct nb_joined *p)
{
	for (int i = 0; i < p->nstages; i++)
		if (!p->st[i].seen)
			return 0;
	return 1;
}

static void s_hpush(struct nb_join *j, int cls, uint32_t idx)
{
	struct s_heap *hp = &j->heap[cls];

	j->meta[idx].cls = (uint32_t)cls;
	hp->e[hp->n].t = s_heap_t(j, cls, idx);
	hp->e[hp->n].idx = idx;
	hp->e[hp->n].seq = j->meta[idx].seq;
	hp->n++;
	s_hup(j, hp, hp->n - 1);
}

static void s_hremove(struct nb_join *j, uint32_t idx)
{
	struct s_heap *hp = &j->heap[j->meta[idx].cls];
	uint32_t pos = j->meta[idx].hpos;

	hp->n--;
	if (pos == hp->n)
		return;
	s_hset(j, hp, pos, &hp->e[hp->n]);
	if (pos > 0 && s_hless(&hp->e[pos], &hp->e[(pos - 1) / 2]))
		s_hup(j, hp, pos);
	else
		s_hdown(j, hp, pos);
}

/* ---- watermarks and taint ---- */

static uint64_t s_wm_min(const struct nb_join *j, uint32_t mask)
{
	uint64_t w = NB_TS_INF;
	int n;

	for (n = 0; n < j->cfg.nnodes; n++)
		if ((mask & (1u << n)) && j->wm[n] < w)
			w = j->wm[n];
	return w;
}

static int s_tainted(const struct nb_join *j, int node, uint64_t from, uint64_t to)
{
	const struct s_taint *t = &j->taint[node];
	int i;

	for (i = 0; i < t->n; i++)
		if (t->iv[i].from <= to && t->iv[i].to >= from)
			return 1;
	return 0;
}

static uint64_t s_oldest_ts(const struct nb_join *j)
{
	uint64_t t = NB_TS_INF;
	int c;

	for (c = 0; c < j->ncls; c++)
		if (j->heap[c].n && j->heap[c].e[0].t < t)
			t = j->heap[c].e[0].t;
	return t;
}

/*
 * An interval that ends before every in-flight packet's window and before every node's
 * watermark can overlap no window ever again: new packets start at or after the lowest
 * watermark, since a watermark promises all earlier events were added.
 */
static void s_taint_prune(struct nb_join *j, struct s_taint *t)
{
	uint64_t lim = s_oldest_ts(j), w = s_wm_min(j, j->all_mask);
	int i, k = 0;

	if (w < lim)
		lim = w;
	for (i = 0; i < t->n; i++)
		if (t->iv[i].to >= lim)
			t->iv[k++] = t->iv[i];
	t->n = k;
}

static void s_taint_add(struct nb_join *j, struct s_taint *t, uint64_t from, uint64_t to)
{
	int i, k;

	/* absorb every interval that overlaps or touches [from, to] */
	for (i = 0, k = 0; i < t->n; i++) {
		struct s_iv *v = &t->iv[i];

		if (v->from <= s_add_sat(to, 1) && s_add_sat(v->to, 1) >= from) {
			if (v->from < from)
				from = v->from;
			if (v->to > to)
				to = v->to;
		} else {
			t->iv[k++] = *v;
		}
	}
	t->n = k;
	if (t->n == S_MAX_TAINT)
		s_taint_prune(j, t);
	if (t->n == S_MAX_TAINT) {
		/* widening the two oldest into one only makes more packets INCONCLUSIVE: safe */
		if (t->iv[1].to > t->iv[0].to)
			t->iv[0].to = t->iv[1].to;
		memmove(&t->iv[1], &t->iv[2], sizeof(t->iv[0]) * (size_t)(t->n - 2));
		t->n--;
		if (from <= s_add_sat(t->iv[0].to, 1) && from >= t->iv[0].from) {
			if (to > t->iv[0].to)
				t->iv[0].to = to;
			return;
		}
	}
	for (i = t->n; i > 0 && t->iv[i - 1].from > from; i--)
		t->iv[i] = t->iv[i - 1];
	t->iv[i].from = from;
	t->iv[i].to = to;
	t->n++;
}

/* ---- finalisation ---- */

static void s_emit(struct nb_join *j, struct nb_joined *p, enum nb_final_why why)
{
	int last = j->cfg.nstages - 1;

	/* pushed out early even if complete: the count tells max_inflight is too small */
	if (why == NB_FINAL_EVICTED)
		j->st.evicted++;
	/* A packet whose last stage was seen is complete however it left the engine. */
	if (p->highest >= last)
		why = NB_FINAL_LAST_STAGE;
	p->why = why;
	p->next_due = p->highest >= last ? -1 : p->highest + 1;
	p->incomplete_node = -1;
	if (p->next_due >= 0) {
		int node = j->cfg.stage_node[p->next_due];

		if (s_tainted(j, node, p->first_ts_ref,
			      s_add_sat(p->first_ts_ref, j->cfg.timeout_ns)))
			p->incomplete_node = node;
	}
	j->st.finals++;
	if (j->cb) {
		j->in_cb = 1;
		j->cb(p, j->ctx);
		j->in_cb = 0;
	}
}

/* The packet must already be out of its heap. */
static void s_finalise(struct nb_join *j, uint32_t idx, enum nb_final_why why)
{
	struct nb_joined *p = &j->pool[idx];
	uint32_t h = j->meta[idx].hash;

	s_table_del(j->index, j->index_mask, h, idx);
	s_emit(j, p, why);
	s_recent_put(j, &p->key, h, p->first_ts_ref);
	j->free_stack[j->nfree++] = idx;
	j->st.inflight--;
}

static int s_due(const struct nb_join *j, int cls, const struct s_hent *e, uint64_t w)
{
	if (cls == j->cmp_cls)
		return e->t <= w;
	return s_add_sat(e->t, j->cfg.timeout_ns) <= w;
}

/* Class holding the oldest packet; when due_only, only among heaps whose top is due. */
static int s_pick(const struct nb_join *j, const uint64_t *w, int due_only)
{
	const struct s_hent *best = NULL;
	int c, bc = -1;

	for (c = 0; c < j->ncls; c++) {
		const struct s_hent *e = &j->heap[c].e[0];

		if (!j->heap[c].n || (due_only && !s_due(j, c, e, w[c])))
			continue;
		if (!best || s_hless(e, best)) {
			best = e;
			bc = c;
		}
	}
	return bc;
}

static uint32_t s_pop(struct nb_join *j, int c)
{
	uint32_t idx = j->heap[c].e[0].idx;

	s_hremove(j, idx);
	return idx;
}

static void s_class_wm(const struct nb_join *j, uint64_t *w)
{
	int c;

	for (c = 0; c < j->ncls; c++)
		w[c] = s_wm_min(j, j->heap[c].node_mask);
}

static int s_poll(struct nb_join *j)
{
	uint64_t w[NB_MAX_STAGES];
	int c, n = 0;

	s_class_wm(j, w);
	while ((c = s_pick(j, w, 1)) >= 0) {
		s_finalise(j, s_pop(j, c), NB_FINAL_TIMEOUT);
		n++;
	}
	return n;
}

/* ---- public ---- */

struct nb_join *nb_join_new(const struct nb_join_cfg *cfg, nb_join_cb cb, void *ctx)
{
	struct nb_join *j;
	uint32_t mask, prev = 0;
	int s, n, c;

	if (!cfg || cfg->nstages < 1 || cfg->nstages > NB_MAX_STAGES || cfg->nnodes < 1 ||
	    cfg->nnodes > NB_MAX_NODES || cfg->max_inflight > S_MAX_ENTRIES ||
	    cfg->recent > S_MAX_ENTRIES || (cfg->reuse_ns && cfg->reuse_ns < cfg->timeout_ns)) {
		errno = EINVAL;
		return NULL;
	}
	for (s = 0; s < cfg->nstages; s++) {
		if (cfg->stage_node[s] >= cfg->nnodes) {
			errno = EINVAL;
			return NULL;
		}
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		goto nomem;
	j->cfg = *cfg;
	if (!j->cfg.max_inflight)
		j->cfg.max_inflight = S_DEF_INFLIGHT;
	if (!j->cfg.recent)
		j->cfg.recent = S_DEF_RECENT;
	j->cb = cb;
	j->ctx = ctx;
	j->reuse_ns = cfg->reuse_ns ? cfg->reuse_ns : UINT64_MAX;

	/* classes: distinct sets of nodes owning a stage after the highest one, from the end */
	j->ncls = 0;
	for (s = cfg->nstages - 2; s >= 0; s--) {
		mask = 0;
		for (n = s + 1; n < cfg->nstages; n++)
			mask |= 1u << cfg->stage_node[n];
		if (mask != prev) {
			j->heap[j->ncls++].node_mask = mask;
			prev = mask;
		}
		j->cls_of[s] = (int8_t)(j->ncls - 1);
	}
	for (s = 0; s < cfg->nstages; s++)
		j->all_mask |= 1u << cfg->stage_node[s];
	j->cmp_cls = j->ncls;
	j->heap[j->ncls++].node_mask = j->all_mask;
	j->cls_of[cfg->nstages - 1] = (int8_t)j->cmp_cls;

	j->pool = calloc(j->cfg.max_inflight, sizeof(*j->pool));
	j->meta = calloc(j->cfg.max_inflight, sizeof(*j->meta));
	j->free_stack = malloc(sizeof(*j->free_stack) * j->cfg.max_inflight);
	j->index_mask = s_pow2_at_least(2 * j->cfg.max_inflight) - 1;
	j->index = malloc(sizeof(*j->index) * ((size_t)j->index_mask + 1));
	j->ring = calloc(j->cfg.recent, sizeof(*j->ring));
	j->rindex_mask = s_pow2_at_least(2 * j->cfg.recent) - 1;
	j->rindex = malloc(sizeof(*j->rindex) * ((size_t)j->rindex_mask + 1));
	if (!j->pool || !j->meta || !j->free_stack || !j->index || !j->ring || !j->rindex)
		goto nomem;
	for (c = 0; c < j->ncls; c++) {
		j->heap[c].e = malloc(sizeof(*j->heap[c].e) * j->cfg.max_inflight);
		if (!j->heap[c].e)
			goto nomem;
	}
	memset(j->index, 0xff, sizeof(*j->index) * ((size_t)j->index_mask + 1));
	memset(j->rindex, 0xff, sizeof(*j->rindex) * ((size_t)j->rindex_mask + 1));
	/* lowest indices on top so a small run touches few pages */
	for (j->nfree = 0; j->nfree < j->cfg.max_inflight; j->nfree++)
		j->free_stack[j->nfree] = j->cfg.max_inflight - 1 - j->nfree;
	return j;

nomem:
	nb_join_destroy(&j);
	errno = ENOMEM;
	return NULL;
}

void nb_join_destroy(struct nb_join **pj)
{
	struct nb_join *j;
	int c;

	if (!pj || !*pj)
		return;
	j = *pj;
	for (c = 0; c < NB_MAX_STAGES; c++)
		free(j->heap[c].e);
	free(j->rindex);
	free(j->ring);
	free(j->index);
	free(j->free_stack);
	free(j->meta);
	free(j->pool);
	free(j);
	*pj = NULL;
}

/* The held packet's key came back as a new packet: let the old one go first. */
static void s_supersede(struct nb_join *j, uint32_t idx)
{
	int cls = (int)j->meta[idx].cls;
	uint64_t w = s_wm_min(j, j->heap[cls].node_mask);
	struct s_hent e = {.t = s_heap_t(j, cls, idx)};

	s_hremove(j, idx);
	s_finalise(j, idx, s_due(j, cls, &e, w) ? NB_FINAL_TIMEOUT : NB_FINAL_REUSED);
}

static void s_fill(struct nb_stage_obs *o, uint64_t ts, uint64_t ts_ref, uint32_t ifindex,
		   uint64_t aux)
{
	o->ts = ts;
	o->ts_ref = ts_ref;
	o->aux = aux;
	o->ifindex = ifindex;
	o->seen = 1;
}

static void s_init_joined(struct nb_join *j, struct nb_joined *p, const struct nb_key *key,
			  int stage, uint64_t ts, uint64_t ts_ref, uint32_t ifindex, uint64_t aux)
{
	memset(p, 0, sizeof(*p));
	p->key = *key;
	p->nstages = j->cfg.nstages;
	p->highest = stage;
	p->next_due = -1;
	p->incomplete_node = -1;
	p->first_ts_ref = ts_ref;
	s_fill(&p->st[stage], ts, ts_ref, ifindex, aux);
}

static void s_update(struct nb_join *j, uint32_t idx, int stage, uint64_t ts, uint64_t ts_ref,
		     uint32_t ifindex, uint64_t aux)
{
	struct s_meta *m = &j->meta[idx];
	struct nb_joined *p = &j->pool[idx];
	int last = j->cfg.nstages - 1;

	if (p->st[stage].seen) {
		p->dups++;
		j->st.dups++;
		/* the earliest sighting is the one that bounds the stage's latency */
		if (ts_ref >= p->st[stage].ts_ref)
			return;
	}
	s_fill(&p->st[stage], ts, ts_ref, ifindex, aux);
	if (s_all_seen(p)) {
		if (ts_ref < p->first_ts_ref)
			p->first_ts_ref = ts_ref;
		p->highest = last;
		s_hremove(j, idx);
		s_finalise(j, idx, NB_FINAL_LAST_STAGE);
		return;
	}
	if (ts_ref < p->first_ts_ref)
		p->first_ts_ref = ts_ref;
	/* the key (first_ts_ref, or in the completion heap the last stage's) can only go down */
	if (s_heap_t(j, (int)m->cls, idx) < j->heap[m->cls].e[m->hpos].t) {
		struct s_heap *hp = &j->heap[m->cls];

		hp->e[m->hpos].t = s_heap_t(j, (int)m->cls, idx);
		s_hup(j, hp, m->hpos);
	}
	if (stage > p->highest) {
		p->highest = stage;
		if ((uint32_t)j->cls_of[stage] != m->cls) {
			s_hremove(j, idx);
			s_hpush(j, j->cls_of[stage], idx);
		}
	}
}

int nb_join_add(struct nb_join *j, const struct nb_key *key, int stage, uint64_t ts,
		uint64_t ts_ref, uint32_t ifindex, uint64_t aux)
{
	uint32_t h, idx;

	if (!j || !key || stage < 0 || stage >= j->cfg.nstages)
		return -EINVAL;
	if (j->in_cb)
		return -EBUSY;
	h = s_hash(key);
	idx = s_find(j, key, h);
	if (idx != S_NONE) {
		uint64_t first = j->pool[idx].first_ts_ref;

		if (s_add_sat(ts_ref, j->reuse_ns) < first) {
			j->st.late++;
			return 0;
		}
		if (ts_ref <= s_add_sat(first, j->reuse_ns)) {
			j->st.events++;
			s_update(j, idx, stage, ts, ts_ref, ifindex, aux);
			return 0;
		}
		s_supersede(j, idx);
	} else if (s_recent_late(j, key, h, ts_ref)) {
		j->st.late++;
		return 0;
	}
	j->st.events++;
	j->st.packets++;
	if (j->cfg.nstages == 1) {
		/* final at once: no slot needed, so nothing is evicted for it */
		s_init_joined(j, &j->scratch, key, stage, ts, ts_ref, ifindex, aux);
		s_emit(j, &j->scratch, NB_FINAL_LAST_STAGE);
		s_recent_put(j, key, h, ts_ref);
		return 0;
	}
	if (!j->nfree) {
		/* packets already due leave as TIMEOUT, not as evictions, if no one polled */
		s_poll(j);
		if (!j->nfree) {
			uint64_t w[NB_MAX_STAGES];

			s_class_wm(j, w);
			s_finalise(j, s_pop(j, s_pick(j, w, 0)), NB_FINAL_EVICTED);
		}
	}
	idx = j->free_stack[--j->nfree];
	s_init_joined(j, &j->pool[idx], key, stage, ts, ts_ref, ifindex, aux);
	j->meta[idx].hash = h;
	j->meta[idx].seq = j->seq++;
	s_table_put(j->index, j->index_mask, h, idx);
	s_hpush(j, j->cls_of[stage], idx);
	if (++j->st.inflight > j->st.peak_inflight)
		j->st.peak_inflight = j->st.inflight;
	return 0;
}

int nb_join_watermark(struct nb_join *j, int node, uint64_t ts_ref)
{
	if (!j || node < 0 || node >= j->cfg.nnodes)
		return -EINVAL;
	if (ts_ref > j->wm[node])
		j->wm[node] = ts_ref;
	return 0;
}

int nb_join_taint(struct nb_join *j, int node, uint64_t from_ref, uint64_t to_ref)
{
	if (!j || node < 0 || node >= j->cfg.nnodes || from_ref > to_ref)
		return -EINVAL;
	s_taint_add(j, &j->taint[node], from_ref, to_ref);
	if (to_ref == NB_TS_INF)
		j->wm[node] = NB_TS_INF;
	return 0;
}

int nb_join_poll(struct nb_join *j)
{
	if (!j)
		return -EINVAL;
	if (j->in_cb)
		return -EBUSY;
	return s_poll(j);
}

int nb_join_flush(struct nb_join *j)
{
	uint64_t w[NB_MAX_STAGES];
	int c, n = 0;

	if (!j)
		return -EINVAL;
	if (j->in_cb)
		return -EBUSY;
	s_class_wm(j, w);
	while ((c = s_pick(j, w, 0)) >= 0) {
		enum nb_final_why why =
		    s_due(j, c, &j->heap[c].e[0], w[c]) ? NB_FINAL_TIMEOUT : NB_FINAL_FLUSH;

		s_finalise(j, s_pop(j, c), why);
		n++;
	}
	return n;
}

void nb_join_get_stats(const struct nb_join *j, struct nb_join_stats *out)
{
	if (!out)
		return;
	if (!j) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = j->st;
}
