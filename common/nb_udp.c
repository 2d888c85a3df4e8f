// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * UDP fragment groups. An engine per direction holds the fragments (key: a group generation and
 * the IP ID's low 16 bits in k1, the fragment offset in k2). Groups are found by direction and
 * IP ID in a directly indexed table of 2 x 65536 slots; a slot remembers its last group after it
 * was reported, so a late copy of one of its fragments is not taken for a new datagram. The
 * generation in the key keeps a reused IP ID's fragments apart from the previous datagram's in
 * the engine. IPv6 IDs (32 bits) share the slot of their low 16 bits, which also remembers the
 * rest: another ID there ends the group before it, as a reused one does.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "nb_udp.h"

#define S_DEF_GROUPS 4096u
#define S_NONE	     UINT32_MAX

enum { S_SLOT_NONE = 0, S_SLOT_OPEN = 1, S_SLOT_DONE = 2 };

/* 16 bytes: the table is 2 x 65536 of them. */
struct s_slot {
	uint64_t first_ref;
	uint32_t gidx : 30;
	uint32_t state : 2;
	uint16_t gen;
	uint16_t id_hi; /* the upper half of its group's 32-bit (IPv6) ID */
};
_Static_assert(sizeof(struct s_slot) == 16, "s_slot grew");

struct s_frag {
	uint32_t off, len;
	uint16_t seen; /* direction stages seen, once final */
	uint8_t mf;
	uint8_t final;
	uint8_t inc; /* not complete and its evidence not whole */
};

struct s_group {
	uint8_t dir;
	uint32_t id;
	uint16_t gen;
	bool have_first, evicted;
	uint16_t sport, dport;
	uint64_t first_ref;
	uint32_t nfr, nfinal;
	struct s_frag fr[NB_UDP_MAX_FRAGS];
	/* per direction stage: earliest fragment and how many fragments */
	struct nb_stage_obs st[NB_MAX_STAGES / 2];
	uint16_t cnt[NB_MAX_STAGES / 2];
};

struct s_dirctx {
	struct nb_udp *u;
	int dir;
};

struct nb_udp {
	struct nb_udp_cfg cfg;
	int ndir; /* stages per direction */
	nb_udp_cb cb;
	void *ctx;
	int in_cb;
	struct nb_join *join[2];
	struct s_dirctx dctx[2];
	struct s_slot *slots; /* [dir * 65536 + id] */
	struct s_group **pool;
	uint32_t *free_stack;
	uint32_t nfree;
	uint64_t wm[NB_MAX_NODES];
	bool flushing;
	struct nb_udp_stats st;
};

static uint64_t s_add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t s_wm_min(const struct nb_udp *u)
{
	uint64_t w = NB_TS_INF;

	for (int n = 0; n < u->cfg.nnodes; n++)
		if (u->wm[n] < w)
			w = u->wm[n];
	return w;
}

static struct s_slot *s_slot(struct nb_udp *u, int dir, uint32_t id)
{
	return &u->slots[(size_t)dir * 65536 + (uint16_t)id];
}

/*
 * IP payload of a fragment. Options (IPv6: extension headers other than the fragment header)
 * are assumed absent where the header cannot tell.
 */
static uint32_t s_frag_len(const struct nb_pkt *p)
{
	uint32_t ihl = p->family == 6 ? 40 + 8 : 20;

	if (p->frag_off == 0 && p->l4_len && p->ip_len >= p->l4_len + 8)
		return p->l4_len + 8; /* the first fragment tells its header length exactly */
	return p->ip_len > ihl ? p->ip_len - ihl : 0;
}

/* ---- status ---- */

static enum nb_status s_drop_status(const struct nb_udp *u, int dir, int hi)
{
	static const enum nb_status chain[2][3] = {
	    {NB_ST_A_INTERNAL_DROP_REQ, NB_ST_NETWORK_DROP_REQ, NB_ST_B_INTERNAL_DROP_REQ},
	    {NB_ST_B_INTERNAL_DROP_REP, NB_ST_NETWORK_DROP_REP, NB_ST_A_INTERNAL_DROP_REP},
	};

	if (u->ndir == 2)
		return NB_ST_INTERNAL_DROP;
	return chain[dir][hi];
}

static int s_cmp_off(const void *a, const void *b)
{
	const struct s_frag *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * Fragments the datagram had but that were never seen: from the gaps in the offsets seen, in
 * units of the largest fragment. bytes gets the datagram's size when its last fragment was seen.
 */
static uint32_t s_missing(struct s_group *g, uint32_t *bytes)
{
	struct s_frag fr[NB_UDP_MAX_FRAGS];
	uint32_t unit = 8, cur = 0, gap = 0, holes = 0, end = 0;
	bool last = false;

	memcpy(fr, g->fr, sizeof(fr[0]) * g->nfr);
	qsort(fr, g->nfr, sizeof(fr[0]), s_cmp_off);
	for (uint32_t i = 0; i < g->nfr; i++) {
		if (fr[i].len > unit)
			unit = fr[i].len;
		if (!fr[i].mf) {
			last = true;
			end = fr[i].off + fr[i].len;
		}
	}
	for (uint32_t i = 0; i < g->nfr; i++) {
		if (fr[i].off > cur) {
			gap += fr[i].off - cur;
			holes++;
		}
		if (fr[i].off + fr[i].len > cur)
			cur = fr[i].off + fr[i].len;
	}
	*bytes = last ? end : 0;
	if (!last)
		holes++; /* at least the last fragment, whatever else */
	if (!gap)
		return holes;
	/* each hole is at least one fragment */
	return (gap + unit - 1) / unit > holes ? (gap + unit - 1) / unit : holes;
}

static void s_report(struct nb_udp *u, struct s_group *g)
{
	struct nb_udp_dgram d = {0};
	struct nb_joined p = {0};
	int n = u->ndir, base = g->dir ? n : 0, lo = n, hi_seen = -1;
	uint32_t missing = s_missing(g, &d.bytes), total;
	bool inc = false, drop = false, mixed = false;

	for (uint32_t i = 0; i < g->nfr; i++) {
		const struct s_frag *f = &g->fr[i];
		int hi = -1;

		for (int s = 0; s < n; s++)
			if (f->seen & (1u << s))
				hi = s;
		if (hi > hi_seen)
			hi_seen = hi;
		if (!f->final || (hi < n - 1 && f->inc)) {
			inc = true;
			continue;
		}
		if (hi < n - 1) {
			if (drop && hi != lo)
				mixed = true;
			drop = true;
			if (hi < lo)
				lo = hi;
		}
	}
	total = g->nfr + missing;
	d.reverse = g->dir;
	d.ip_id = g->id;
	d.have_ports = g->have_first;
	d.sport = g->sport;
	d.dport = g->dport;
	d.frags = (uint16_t)total;
	d.lost_from = -1;
	for (int s = 0; s < n; s++) {
		d.frags_at[base + s] = g->cnt[s];
		if (d.lost_from < 0 && g->cnt[s] < total)
			d.lost_from = (int8_t)(base + s);
		if (g->cnt[s]) {
			p.st[base + s] = g->st[s];
			p.st[base + s].aux = g->cnt[s];
		}
	}
	d.lost = (uint16_t)(total - g->cnt[n - 1]);
	if (drop) {
		/* the earliest loss decides; other fragments may have gone further */
		d.partial = mixed || missing || inc;
		for (uint32_t i = 0; i < g->nfr && !d.partial; i++)
			if (g->fr[i].seen & (1u << (n - 1)))
				d.partial = true;
		d.status = d.partial && n == 2 ? NB_ST_PARTIAL_FRAGMENT_DROP
					       : s_drop_status(u, g->dir, lo);
		p.next_due = base + lo + 1;
	} else if (inc || g->evicted) {
		d.status = NB_ST_INCONCLUSIVE;
		p.next_due = hi_seen < n - 1 ? base + hi_seen + 1 : -1;
	} else if (missing) {
		/* lost before the first stage: on one host that is news, across two nobody's */
		d.partial = true;
		d.status = n == 2 ? NB_ST_PARTIAL_FRAGMENT_DROP : NB_ST_INCONCLUSIVE;
		p.next_due = base;
	} else {
		d.status = NB_ST_COMPLETE;
		p.next_due = -1;
	}
	/* the first fragment's key (nb_flow_stage's): drops are looked up by it */
	p.key.proto = IPPROTO_UDP;
	p.key.k1 = g->id;
	p.key.k2 = 0;
	p.nstages = u->cfg.nstages;
	p.highest = hi_seen >= 0 ? base + hi_seen : -1;
	p.incomplete_node = -1;
	p.first_ts_ref = g->first_ref;
	p.why = g->evicted ? NB_FINAL_EVICTED : u->flushing ? NB_FINAL_FLUSH : NB_FINAL_TIMEOUT;
	d.p = &p;
	if (u->cb) {
		u->in_cb = 1;
		u->cb(&d, u->ctx);
		u->in_cb = 0;
	}
	u->st.datagrams++;
}

/* ---- groups ---- */

static void s_close(struct nb_udp *u, uint32_t gidx)
{
	struct s_group *g = u->pool[gidx];
	struct s_slot *sl = s_slot(u, g->dir, g->id);

	if (u->cfg.ports && !g->have_first)
		u->st.unattributed++;
	else if (g->nfr)
		s_report(u, g);
	sl->state = S_SLOT_DONE;
	sl->first_ref = g->first_ref;
	sl->id_hi = (uint16_t)(g->id >> 16);
	free(g);
	u->pool[gidx] = NULL;
	u->free_stack[u->nfree++] = gidx;
	u->st.open--;
}

/* Whether the fragments seen make the whole datagram: the first, the last, no gap. */
static bool s_whole(const struct s_group *g)
{
	struct s_frag fr[NB_UDP_MAX_FRAGS];
	uint32_t cur = 0;

	memcpy(fr, g->fr, sizeof(fr[0]) * g->nfr);
	qsort(fr, g->nfr, sizeof(fr[0]), s_cmp_off);
	for (uint32_t i = 0; i < g->nfr; i++) {
		if (fr[i].off > cur)
			return false;
		if (fr[i].off + fr[i].len > cur)
			cur = fr[i].off + fr[i].len;
		if (!fr[i].mf)
			return true;
	}
	return false;
}

static bool s_closable(const struct nb_udp *u, const struct s_group *g)
{
	int last = u->ndir - 1;

	if (g->nfinal < g->nfr)
		return false;
	if (s_whole(g))
		return !u->cfg.hold_ns || !g->cnt[last] ||
		       s_wm_min(u) >= s_add_sat(g->st[last].ts_ref, u->cfg.hold_ns);
	return s_wm_min(u) >= s_add_sat(g->first_ref, u->cfg.timeout_ns);
}

static void s_on_final(const struct nb_joined *p, void *ctx)
{
	struct s_dirctx *dc = ctx;
	struct nb_udp *u = dc->u;
	uint16_t id = (uint16_t)p->key.k1, gen = (uint16_t)(p->key.k1 >> 16);
	struct s_slot *sl = s_slot(u, dc->dir, id);
	struct s_group *g;
	struct s_frag *f = NULL;
	bool complete;

	if (sl->state != S_SLOT_OPEN || sl->gen != gen)
		return;
	g = u->pool[sl->gidx];
	for (uint32_t i = 0; i < g->nfr; i++)
		if (g->fr[i].off == p->key.k2)
			f = &g->fr[i];
	if (!f || f->final)
		return;
	f->final = 1;
	for (int s = 0; s < u->ndir; s++) {
		const struct nb_stage_obs *o = &p->st[s];

		if (!o->seen)
			continue;
		f->seen |= (uint16_t)(1u << s);
		if (!g->cnt[s] || o->ts_ref < g->st[s].ts_ref)
			g->st[s] = *o;
		g->cnt[s]++;
	}
	complete = p->st[u->ndir - 1].seen;
	f->inc = !complete && (p->incomplete_node >= 0 || p->why == NB_FINAL_EVICTED ||
			       p->why == NB_FINAL_FLUSH || p->why == NB_FINAL_REUSED);
	g->nfinal++;
	/* the engine is mid-update here: closing only reports and frees our own group */
	if (!u->flushing && s_closable(u, g))
		s_close(u, sl->gidx);
}

static uint32_t s_oldest(const struct nb_udp *u)
{
	uint32_t best = S_NONE;

	for (uint32_t i = 0; i < u->cfg.max_groups; i++)
		if (u->pool[i] &&
		    (best == S_NONE || u->pool[i]->first_ref < u->pool[best]->first_ref))
			best = i;
	return best;
}

static struct s_group *s_open(struct nb_udp *u, int dir, uint32_t id, uint64_t ref)
{
	struct s_slot *sl = s_slot(u, dir, id);
	struct s_group *g;
	uint32_t gidx;

	if (!u->nfree) {
		gidx = s_oldest(u);
		u->pool[gidx]->evicted = true;
		u->st.evicted++;
		s_close(u, gidx);
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	gidx = u->free_stack[--u->nfree];
	u->pool[gidx] = g;
	g->dir = (uint8_t)dir;
	g->id = id;
	g->gen = ++sl->gen;
	g->first_ref = ref;
	sl->id_hi = (uint16_t)(id >> 16);
	sl->state = S_SLOT_OPEN;
	sl->gidx = gidx;
	u->st.open++;
	return g;
}

/* ---- public ---- */

struct nb_udp *nb_udp_new(const struct nb_udp_cfg *cfg, nb_udp_cb cb, void *ctx)
{
	struct nb_udp *u;

	if (!cfg || (cfg->nstages != 4 && cfg->nstages != 8) || cfg->nnodes < 1 ||
	    cfg->nnodes > NB_MAX_NODES || cfg->max_groups > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		goto nomem;
	u->cfg = *cfg;
	if (!u->cfg.max_groups)
		u->cfg.max_groups = S_DEF_GROUPS;
	u->ndir = cfg->nstages / 2;
	u->cb = cb;
	u->ctx = ctx;
	for (int d = 0; d < 2; d++) {
		struct nb_join_cfg jc = {0};

		jc.nstages = u->ndir;
		jc.nnodes = cfg->nnodes;
		for (int s = 0; s < u->ndir; s++)
			jc.stage_node[s] = cfg->stage_node[d * u->ndir + s];
		jc.timeout_ns = cfg->timeout_ns;
		u->dctx[d] = (struct s_dirctx){u, d};
		u->join[d] = nb_join_new(&jc, s_on_final, &u->dctx[d]);
		if (!u->join[d]) {
			if (errno == EINVAL) {
				nb_udp_destroy(&u);
				errno = EINVAL;
				return NULL;
			}
			goto nomem;
		}
	}
	u->slots = calloc(2 * 65536, sizeof(*u->slots));
	u->pool = calloc(u->cfg.max_groups, sizeof(*u->pool));
	u->free_stack = malloc(sizeof(*u->free_stack) * u->cfg.max_groups);
	if (!u->slots || !u->pool || !u->free_stack)
		goto nomem;
	for (u->nfree = 0; u->nfree < u->cfg.max_groups; u->nfree++)
		u->free_stack[u->nfree] = u->cfg.max_groups - 1 - u->nfree;
	return u;
nomem:
	nb_udp_destroy(&u);
	errno = ENOMEM;
	return NULL;
}

void nb_udp_destroy(struct nb_udp **pu)
{
	struct nb_udp *u;

	if (!pu || !*pu)
		return;
	u = *pu;
	for (int d = 0; d < 2; d++)
		nb_join_destroy(&u->join[d]);
	for (uint32_t i = 0; u->pool && i < u->cfg.max_groups; i++)
		free(u->pool[i]);
	free(u->pool);
	free(u->free_stack);
	free(u->slots);
	free(u);
	*pu = NULL;
}

int nb_udp_add(struct nb_udp *u, const struct nb_pkt *p, int stage, uint64_t ts, uint64_t ts_ref,
	       uint32_t ifindex)
{
	int dir, s;
	struct s_slot *sl;
	struct s_group *g = NULL;
	struct s_frag *f = NULL;
	struct nb_key key;

	if (!u || !p || stage < 0 || stage >= u->cfg.nstages)
		return -EINVAL;
	if (u->in_cb)
		return -EBUSY;
	dir = stage >= u->ndir;
	s = stage - dir * u->ndir;
	/* Without a fragment header an IPv6 datagram has no ID: it cannot be told apart. */
	if (p->family == 6 && !p->frag_off && !p->more_frags) {
		if (s == 0)
			u->st.unidentified++;
		return 0;
	}
	sl = s_slot(u, dir, p->ip_id);
	if (sl->state == S_SLOT_OPEN) {
		g = u->pool[sl->gidx];
		/*
		 * The ID came back for another datagram while this one still waited, or another
		 * IPv6 ID with the same low half came.
		 */
		if (g->id != p->ip_id || ts_ref > s_add_sat(g->first_ref, 2 * u->cfg.timeout_ns)) {
			s_close(u, sl->gidx);
			g = NULL;
		}
	} else if (sl->state == S_SLOT_DONE && sl->id_hi == (uint16_t)(p->ip_id >> 16) &&
		   ts_ref <= s_add_sat(sl->first_ref, u->cfg.timeout_ns)) {
		u->st.late++;
		return 0;
	}
	if (!g) {
		g = s_open(u, dir, p->ip_id, ts_ref);
		if (!g)
			return 0;
	}
	if (ts_ref < g->first_ref)
		g->first_ref = ts_ref;
	for (uint32_t i = 0; i < g->nfr; i++)
		if (g->fr[i].off == p->frag_off)
			f = &g->fr[i];
	if (!f) {
		if (g->nfr == NB_UDP_MAX_FRAGS) {
			u->st.too_many++;
			return 0;
		}
		f = &g->fr[g->nfr++];
		f->off = p->frag_off;
		f->len = s_frag_len(p);
		f->mf = p->more_frags;
		u->st.fragments++;
	}
	if (p->frag_off == 0 && !g->have_first) {
		g->have_first = true;
		g->sport = p->sport;
		g->dport = p->dport;
	}
	key.proto = IPPROTO_UDP;
	key.k1 = (uint32_t)g->gen << 16 | (uint16_t)p->ip_id;
	key.k2 = p->frag_off;
	/* may report the datagram and free g */
	return nb_join_add(u->join[dir], &key, s, ts, ts_ref, ifindex, 0);
}

int nb_udp_watermark(struct nb_udp *u, int node, uint64_t ts_ref)
{
	if (!u || node < 0 || node >= u->cfg.nnodes)
		return -EINVAL;
	if (ts_ref > u->wm[node])
		u->wm[node] = ts_ref;
	for (int d = 0; d < 2; d++)
		nb_join_watermark(u->join[d], node, ts_ref);
	return 0;
}

int nb_udp_taint(struct nb_udp *u, int node, uint64_t from_ref, uint64_t to_ref)
{
	if (!u || node < 0 || node >= u->cfg.nnodes || from_ref > to_ref)
		return -EINVAL;
	for (int d = 0; d < 2; d++)
		nb_join_taint(u->join[d], node, from_ref, to_ref);
	if (to_ref == NB_TS_INF)
		u->wm[node] = NB_TS_INF;
	return 0;
}

/* Both directions' joins, then the groups that waited for fragments never seen. */
static void s_poll_all(struct nb_udp *u)
{
	for (int d = 0; d < 2; d++)
		nb_join_poll(u->join[d]);
	for (uint32_t i = 0; u->st.open && i < u->cfg.max_groups; i++)
		if (u->pool[i] && s_closable(u, u->pool[i]))
			s_close(u, i);
}

int nb_udp_poll(struct nb_udp *u)
{
	uint64_t before;

	if (!u)
		return -EINVAL;
	if (u->in_cb)
		return -EBUSY;
	before = u->st.datagrams;
	s_poll_all(u);
	return (int)(u->st.datagrams - before);
}

int nb_udp_flush(struct nb_udp *u)
{
	uint64_t before;

	if (!u)
		return -EINVAL;
	if (u->in_cb)
		return -EBUSY;
	before = u->st.datagrams;
	s_poll_all(u);
	u->flushing = true;
	for (int d = 0; d < 2; d++)
		nb_join_flush(u->join[d]);
	for (uint32_t i = 0; u->st.open && i < u->cfg.max_groups; i++)
		if (u->pool[i])
			s_close(u, i);
	u->flushing = false;
	return (int)(u->st.datagrams - before);
}

void nb_udp_get_stats(const struct nb_udp *u, struct nb_udp_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (u)
		*out = u->st;
}
