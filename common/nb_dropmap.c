// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_dropmap.h"

#include <stdlib.h>
#include <string.h>

int nb_drop_classify(const struct nb_flow_spec *s, const struct nb_event *e, struct nb_key *key)
{
	struct nb_event pe;

	if (e->type != NB_EV_DROP || !s->n_rx)
		return -1;
	/*
	 * The key rules are nb_flow_stage()'s: ask it as if the packet had been seen entering
	 * on the rx interface (a request) or leaving through it (a reply), so the two can
	 * never disagree about which packet an event is.
	 */
	pe = *e;
	pe.type = NB_EV_PKT;
	pe.ifindex = s->rx_if[0];
	pe.hook = NB_HOOK_RX;
	if (nb_flow_stage(s, &pe, key) == NB_REQ_RX)
		return NB_DROP_REQ;
	pe.hook = NB_HOOK_TX;
	if (nb_flow_stage(s, &pe, key) == NB_REP_TX)
		return NB_DROP_REP;
	return -1;
}

bool nb_drop_site(enum nb_status st, int *node, int *dir)
{
	switch (st) {
	case NB_ST_A_INTERNAL_DROP_REQ:
		*node = 0;
		*dir = NB_DROP_REQ;
		return true;
	case NB_ST_B_INTERNAL_DROP_REQ:
		*node = 1;
		*dir = NB_DROP_REQ;
		return true;
	case NB_ST_B_INTERNAL_DROP_REP:
		*node = 1;
		*dir = NB_DROP_REP;
		return true;
	case NB_ST_A_INTERNAL_DROP_REP:
		*node = 0;
		*dir = NB_DROP_REP;
		return true;
	default:
		return false;
	}
}

/*
 * Statuses a drop after a transmit stage turns into a node's: its last stage, and the new one
 * (stage indexes in A0 A1 B0 B1 B2 B3 A2 A3, or on one host REQ_RX REQ_TX REP_RX REP_TX).
 * A packet COMPLETE at a node's transmit stage (a UDP datagram at B1, or A3 for the reply
 * direction and echoes) can still die in that node after it: in the VM port's tap ring.
 */
static const struct {
	enum nb_status from, to;
	int node, dir, last_stage;
	int highest; /* the packet's highest stage must be this; -1: any */
} s_refine[] = {
	{NB_ST_NETWORK_DROP_REQ, NB_ST_A_INTERNAL_DROP_REQ, 0, NB_DROP_REQ, 1, -1},
	{NB_ST_DEST_NO_REPLY, NB_ST_B_INTERNAL_DROP_REQ, 1, NB_DROP_REQ, 3, -1},
	{NB_ST_NETWORK_DROP_REP, NB_ST_B_INTERNAL_DROP_REP, 1, NB_DROP_REP, 5, -1},
	{NB_ST_COMPLETE, NB_ST_B_INTERNAL_DROP_REQ, 1, NB_DROP_REQ, 3, 3},
	{NB_ST_COMPLETE, NB_ST_A_INTERNAL_DROP_REP, 0, NB_DROP_REP, 7, 7},
	/* One host: REQ_RX REQ_TX REP_RX REP_TX. */
	{NB_ST_EXTERNAL_DROP, NB_ST_INTERNAL_DROP_REQ, 0, NB_DROP_REQ, 1, -1},
};

/* The row of s_refine that applies to st and p, or -1. */
static int s_refine_row(enum nb_status st, const struct nb_joined *p)
{
	for (size_t i = 0; i < sizeof(s_refine) / sizeof(s_refine[0]); i++)
		if (s_refine[i].from == st &&
		    (s_refine[i].highest < 0 ||
		     (p->nstages == 8 && p->highest == s_refine[i].highest)))
			return (int)i;
	return -1;
}

struct s_ent {
	struct nb_key key;
	struct nb_drop_obs d;
	int32_t next; /* bucket chain, -1 ends */
	uint8_t node, dir, used;
};

struct nb_dropmap {
	uint32_t cap;  /* power of two: entries and buckets */
	uint32_t head; /* oldest entry when full, next slot to fill */
	uint32_t n;
	uint64_t evicted;
	int32_t *bucket;
	struct s_ent *e;
};

static uint32_t s_hash(const struct nb_dropmap *m, int node, int dir, const struct nb_key *k)
{
	uint64_t h = k->k2 * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)k->k1 << 16 | (uint64_t)k->proto << 2 | (uint64_t)node << 1 |
	      (uint64_t)dir) *
	     0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	return (uint32_t)h & (m->cap - 1);
}

static bool s_same(const struct s_ent *e, int node, int dir, const struct nb_key *k)
{
	return e->node == node && e->dir == dir && e->key.proto == k->proto && e->key.k1 == k->k1 &&
	       e->key.k2 == k->k2;
}

struct nb_dropmap *nb_dropmap_new(uint32_t cap)
{
	struct nb_dropmap *m;
	uint32_t c = 1;

	if (!cap || cap > (1u << 24))
		return NULL;
	while (c < cap)
		c <<= 1;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->cap = c;
	m->bucket = malloc(c * sizeof(*m->bucket));
	m->e = calloc(c, sizeof(*m->e));
	if (!m->bucket || !m->e) {
		nb_dropmap_free(&m);
		return NULL;
	}
	memset(m->bucket, 0xff, c * sizeof(*m->bucket));
	return m;
}

static void s_unlink(struct nb_dropmap *m, int32_t idx)
{
	struct s_ent *e = &m->e[idx];
	int32_t *pp = &m->bucket[s_hash(m, e->node, e->dir, &e->key)];

	while (*pp != -1 && *pp != idx)
		pp = &m->e[*pp].next;
	if (*pp == idx)
		*pp = e->next;
	e->used = 0;
}

void nb_dropmap_put(struct nb_dropmap *m, int node, int dir, const struct nb_key *key,
		    const struct nb_drop_obs *d)
{
	uint32_t b = s_hash(m, node, dir, key);
	int32_t idx;
	struct s_ent *e;

	for (idx = m->bucket[b]; idx != -1; idx = m->e[idx].next) {
		if (s_same(&m->e[idx], node, dir, key)) {
			m->e[idx].d = *d;
			return;
		}
	}
	idx = (int32_t)m->head;
	e = &m->e[idx];
	if (e->used) {
		s_unlink(m, idx);
		m->evicted++;
		m->n--;
	}
	e->key = *key;
	e->d = *d;
	e->node = (uint8_t)node;
	e->dir = (uint8_t)dir;
	e->used = 1;
	e->next = m->bucket[b];
	m->bucket[b] = idx;
	m->head = (m->head + 1) & (m->cap - 1);
	m->n++;
}

const struct nb_drop_obs *nb_dropmap_get(const struct nb_dropmap *m, int node, int dir,
					 const struct nb_key *key)
{
	for (int32_t idx = m->bucket[s_hash(m, node, dir, key)]; idx != -1; idx = m->e[idx].next)
		if (s_same(&m->e[idx], node, dir, key))
			return &m->e[idx].d;
	return NULL;
}

uint32_t nb_dropmap_count(const struct nb_dropmap *m)
{
	return m->n;
}

uint64_t nb_dropmap_evicted(const struct nb_dropmap *m)
{
	return m->evicted;
}

int nb_dropmap_put_event(struct nb_dropmap *m, int node, const struct nb_flow_spec *s,
			 const struct nb_event *e, uint64_t ts_ref)
{
	struct nb_drop_obs d = {0};
	struct nb_key key;
	int dir = nb_drop_classify(s, e, &key);

	if (dir < 0)
		return -1;
	d.ts = e->ts_ns;
	d.ts_ref = ts_ref;
	d.location = e->location;
	d.reason = e->reason;
	d.ifindex = e->ifindex;
	d.stack_id = e->stack_id;
	nb_dropmap_put(m, node, dir, &key, &d);
	return dir;
}

enum nb_status nb_dropmap_refine(const struct nb_dropmap *m, const struct nb_joined *p,
				 enum nb_status st, const struct nb_drop_obs **drop)
{
	int i = s_refine_row(st, p);
	const struct nb_stage_obs *last;
	const struct nb_drop_obs *d;

	if (drop)
		*drop = NULL;
	if (i < 0)
		return st;
	d = nb_dropmap_get(m, s_refine[i].node, s_refine[i].dir, &p->key);
	last = &p->st[s_refine[i].last_stage];
	/*
	 * On the node's own clock, and after the stage: a drop of the same key before it is an
	 * older packet's (a reused ICMP seq), not this one's.
	 */
	if (!d || !last->seen || d->ts < last->ts)
		return st;
	if (drop)
		*drop = d;
	return s_refine[i].to;
}

void nb_dropmap_free(struct nb_dropmap **pm)
{
	struct nb_dropmap *m = pm ? *pm : NULL;

	if (!m)
		return;
	free(m->bucket);
	free(m->e);
	free(m);
	*pm = NULL;
}
