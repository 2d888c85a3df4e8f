// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Per-packet latency over the join engine (see nb_latpkt.h). The engine keeps stage times
 * only; the identity a line shows (addresses, ports, sequence numbers) is kept here, per held
 * packet, from its first event, in a table as large as the engines' bound on packets held.
 */
#include "nb_latpkt.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb_pktfmt.h"

#define S_DEF_INFLIGHT 4096
#define S_MAX_GROUPS   2
#define S_NIL	       UINT32_MAX

/* The identity of a packet held by the engine. */
struct s_ident {
	struct nb_key key;
	struct nb_pkt pkt;
	uint16_t ethertype;
	uint32_t next; /* chain in its bucket, or the free list */
};

struct nb_latpkt;

/* One join: all stages (rtt) or one direction's (details). */
struct s_group {
	struct nb_latpkt *l;
	struct nb_join *j;
	int first, n;
	uint8_t path;
};

struct nb_latpkt {
	struct nb_latpkt_cfg cfg;
	struct nb_lat_stage st[NB_MAX_STAGES];
	struct s_group g[S_MAX_GROUPS];
	int ng;
	nb_latpkt_cb cb;
	void *ctx;
	struct s_ident *idents;
	uint32_t *bucket;
	uint32_t nbuckets, cap, free;
	struct nb_latpkt_stats stats;
	/* the event being added, for a packet the engine finalises inside that call */
	const struct nb_event *cur;
	struct nb_key cur_key;
	int cur_stage;
	bool cur_final;
};

static bool s_key_eq(const struct nb_key *a, const struct nb_key *b)
{
	return a->proto == b->proto && a->k1 == b->k1 && a->k2 == b->k2;
}

static uint32_t s_hash(const struct nb_key *k, uint32_t n)
{
	uint64_t h = k->proto * 0x9e3779b97f4a7c15ull;

	h ^= k->k1 * 0xc2b2ae3d27d4eb4full;
	h ^= k->k2 * 0x165667b19e3779f9ull;
	h ^= h >> 29;
	return (uint32_t)(h % n);
}

/* 16 bits of the address pair: packets of other pairs never share a key. */
static uint32_t s_pair_hash(const struct nb_pkt *p)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < NB_ADDR_LEN; i++)
		h = (h ^ p->saddr[i]) * 16777619u;
	for (int i = 0; i < NB_ADDR_LEN; i++)
		h = (h ^ p->daddr[i]) * 16777619u;
	return (h ^ (h >> 16)) & 0xffff;
}

static uint32_t *s_find(struct nb_latpkt *l, const struct nb_key *k)
{
	uint32_t *at = &l->bucket[s_hash(k, l->nbuckets)];

	while (*at != S_NIL && !s_key_eq(&l->idents[*at].key, k))
		at = &l->idents[*at].next;
	return at;
}

static void s_ident_put(struct nb_latpkt *l, const struct nb_key *k, const struct nb_event *e)
{
	uint32_t *at = s_find(l, k), i;

	if (*at != S_NIL || l->free == S_NIL)
		return; /* held already; the table is as large as the engines' bound */
	i = l->free;
	l->free = l->idents[i].next;
	l->idents[i].key = *k;
	l->idents[i].pkt = e->pkt;
	l->idents[i].ethertype = e->ethertype;
	l->idents[i].next = S_NIL;
	*at = i;
}

/* Takes a packet's identity out of the table into r; false when it had none. */
static bool s_ident_take(struct nb_latpkt *l, const struct nb_key *k, struct nb_latpkt_res *r)
{
	uint32_t *at = s_find(l, k), i = *at;

	if (i == S_NIL)
		return false;
	r->pkt = l->idents[i].pkt;
	r->ethertype = l->idents[i].ethertype;
	*at = l->idents[i].next;
	l->idents[i].next = l->free;
	l->free = i;
	return true;
}

static bool s_is_echo(uint8_t proto, uint8_t type, bool *reply)
{
	if (proto == IPPROTO_ICMP && (type == 8 || type == 0)) {
		*reply = type == 0;
		return true;
	}
	if (proto == IPPROTO_ICMPV6 && (type == 128 || type == 129)) {
		*reply = type == 129;
		return true;
	}
	return false;
}

int nb_latpkt_key(const struct nb_latpkt_cfg *cfg, const struct nb_event *e, struct nb_key *key)
{
	const struct nb_pkt *p = &e->pkt;
	int stage = (int)e->hook - NB_HOOK_LAT0;
	size_t alen;
	uint8_t path;
	bool reply;

	if (e->type != NB_EV_PKT || stage < 0 || stage >= cfg->nstages || !p->family)
		return -1;
	path = cfg->stages[stage].path;
	if (cfg->rtt) {
		/* The request at the request's stages going src -> dst, the reply the other way. */
		if (!s_is_echo(p->proto, p->icmp_type, &reply) || reply != (path == 1))
			return -1;
		alen = p->family == 4 ? 4 : NB_ADDR_LEN;
		if (p->family != cfg->family ||
		    memcmp(p->saddr, reply ? cfg->dst : cfg->src, alen) ||
		    memcmp(p->daddr, reply ? cfg->src : cfg->dst, alen))
			return -1;
		key->proto = p->proto;
		key->k1 = (uint32_t)p->icmp_id << 16 | p->icmp_seq;
		key->k2 = 0;
		return stage;
	}
	key->proto = p->proto | (uint32_t)path << 8 | s_pair_hash(p) << 16;
	switch (p->proto) {
	case IPPROTO_TCP:
		key->k1 = (uint32_t)p->sport << 16 | p->dport;
		key->k2 = (uint64_t)p->tcp_seq << 32 | p->tcp_ack;
		break;
	case IPPROTO_UDP:
		key->k1 = p->ip_id;
		key->k2 = (uint64_t)p->sport << 48 | (uint64_t)p->dport << 32 | p->frag_off;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		key->k1 = (uint32_t)p->icmp_id << 16 | p->icmp_seq;
		key->k2 = (uint64_t)p->icmp_type << 8 | p->icmp_code;
		break;
	default:
		key->k1 = p->ip_id;
		key->k2 = p->frag_off;
		break;
	}
	return stage;
}

const char *nb_latpkt_path_name(const struct nb_latpkt_cfg *cfg, uint8_t path)
{
	for (int i = 0; i < cfg->nstages; i++) {
		const struct nb_lat_stage *s = &cfg->stages[i];

		if (s->path != path)
			continue;
		/* A direction starts at a device receiving (RX) or in the stack sending (TX). */
		return s->hook == NB_LAT_DEV_RX || s->hook == NB_LAT_NF_PRE_ROUTING ? "RX" : "TX";
	}
	return "?";
}

/* The pairs, the wire, the total and the verdicts of a final packet. */
static void s_analyse(const struct nb_latpkt *l, struct nb_latpkt_res *r)
{
	const struct nb_lat_stage *st = l->st;
	int last = r->first + r->n - 1;
	uint64_t best = 0;

	r->complete = true;
	r->first_missing = -1;
	for (int i = r->first; i <= last; i++) {
		if (!r->seen[i] && r->first_missing < 0) {
			r->first_missing = i;
			r->complete = false;
		}
	}
	for (int i = r->first + 1; i <= last; i++) {
		struct nb_latpkt_row *w = &r->rows[r->nrows];

		if (st[i].path != st[i - 1].path && !l->cfg.wire)
			continue;
		w->from = i - 1;
		w->to = i;
		w->wire = st[i].path != st[i - 1].path;
		w->known = r->seen[i - 1] && r->seen[i];
		w->ns = w->known && r->ts[i] > r->ts[i - 1] ? r->ts[i] - r->ts[i - 1] : 0;
		r->nrows++;
	}
	r->has_total = r->seen[r->first] && r->seen[last];
	if (r->has_total)
		r->total_ns = r->ts[last] > r->ts[r->first] ? r->ts[last] - r->ts[r->first] : 0;
	r->high = r->has_total && l->cfg.latency_ns && r->total_ns > l->cfg.latency_ns;
	r->bottleneck = -1;
	if (!r->complete)
		return;
	for (int i = 0; i < r->nrows; i++) {
		if (r->bottleneck < 0 || r->rows[i].ns > best) {
			best = r->rows[i].ns;
			r->bottleneck = i;
		}
	}
}

static void s_on_final(const struct nb_joined *p, void *ctx)
{
	struct s_group *g = ctx;
	struct nb_latpkt *l = g->l;
	struct nb_latpkt_stats *s = &l->stats;
	struct nb_latpkt_res r;
	bool cur;

	memset(&r, 0, sizeof(r));
	r.first = g->first;
	r.n = g->n;
	r.path = g->path;
	r.why = p->why;
	r.first_ts = UINT64_MAX;
	for (int i = 0; i < p->nstages; i++) {
		if (!p->st[i].seen)
			continue;
		r.seen[g->first + i] = true;
		r.ts[g->first + i] = p->st[i].ts;
		r.ifindex[g->first + i] = p->st[i].ifindex;
		if (p->st[i].ts < r.first_ts)
			r.first_ts = p->st[i].ts;
	}
	/* The packet of the event being added, finalised by it (its last stage, or alone). */
	cur = l->cur && s_key_eq(&p->key, &l->cur_key) && l->cur_stage >= g->first &&
	      l->cur_stage < g->first + g->n && p->st[l->cur_stage - g->first].seen &&
	      p->st[l->cur_stage - g->first].ts == l->cur->ts_ns;
	if (cur)
		l->cur_final = true;
	if (!s_ident_take(l, &p->key, &r) && cur) {
		r.pkt = l->cur->pkt;
		r.ethertype = l->cur->ethertype;
	}
	s_analyse(l, &r);
	r.events_lost = !r.complete && p->incomplete_node >= 0;
	s->packets++;
	if (r.complete)
		s->complete++;
	else if (r.events_lost)
		s->events_lost_pkts++;
	else
		s->missing[r.first_missing]++;
	if (r.high)
		s->high++;
	l->cb(&r, l->ctx);
}

static void s_free(struct nb_latpkt *l)
{
	for (int i = 0; i < l->ng; i++)
		nb_join_destroy(&l->g[i].j);
	free(l->idents);
	free(l->bucket);
	free(l);
}

struct nb_latpkt *nb_latpkt_new(const struct nb_latpkt_cfg *cfg, nb_latpkt_cb cb, void *ctx)
{
	struct nb_latpkt *l;
	uint32_t inflight = cfg->max_inflight ? cfg->max_inflight : S_DEF_INFLIGHT;

	if (!cb || !cfg->stages || cfg->nstages < 2 || cfg->nstages > NB_MAX_STAGES ||
	    !cfg->timeout_ns || (cfg->rtt && cfg->family != 4 && cfg->family != 6)) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->cfg = *cfg;
	memcpy(l->st, cfg->stages, sizeof(l->st[0]) * (size_t)cfg->nstages);
	l->cfg.stages = l->st;
	l->cb = cb;
	l->ctx = ctx;
	/* rtt: one join over the request and the reply; details: one per direction. */
	for (int i = 0; i < cfg->nstages; i++) {
		struct s_group *g = &l->g[l->ng ? l->ng - 1 : 0];

		if (i == 0 || (!cfg->rtt && l->st[i].path != l->st[i - 1].path)) {
			if (l->ng == S_MAX_GROUPS || (i && l->st[i].path < l->st[i - 1].path))
				goto inval;
			g = &l->g[l->ng++];
			g->l = l;
			g->first = i;
			g->path = cfg->rtt ? 0 : l->st[i].path;
		}
		g->n++;
	}
	for (int i = 0; i < l->ng; i++) {
		struct nb_join_cfg jc = {
		    .nstages = l->g[i].n,
		    .nnodes = 1,
		    .timeout_ns = cfg->timeout_ns,
		    .max_inflight = inflight,
		};

		if (jc.nstages < 2)
			goto inval;
		l->g[i].j = nb_join_new(&jc, s_on_final, &l->g[i]);
		if (!l->g[i].j)
			goto fail;
	}
	l->cap = inflight * (uint32_t)l->ng + 1;
	l->nbuckets = l->cap;
	l->idents = calloc(l->cap, sizeof(*l->idents));
	l->bucket = malloc(sizeof(*l->bucket) * l->nbuckets);
	if (!l->idents || !l->bucket)
		goto fail;
	memset(l->bucket, 0xff, sizeof(*l->bucket) * l->nbuckets);
	for (uint32_t i = 0; i < l->cap; i++)
		l->idents[i].next = i + 1 < l->cap ? i + 1 : S_NIL;
	l->free = 0;
	return l;
inval:
	errno = EINVAL;
fail:
	s_free(l);
	return NULL;
}

void nb_latpkt_destroy(struct nb_latpkt **pp)
{
	if (!pp || !*pp)
		return;
	s_free(*pp);
	*pp = NULL;
}

static struct s_group *s_group_of(struct nb_latpkt *l, int stage)
{
	for (int i = 0; i < l->ng; i++)
		if (stage >= l->g[i].first && stage < l->g[i].first + l->g[i].n)
			return &l->g[i];
	return NULL;
}

int nb_latpkt_add(struct nb_latpkt *l, const struct nb_event *e)
{
	struct nb_join_stats before, after;
	struct nb_key key;
	struct s_group *g;
	int stage, rc;

	l->stats.events++;
	stage = nb_latpkt_key(&l->cfg, e, &key);
	g = stage < 0 ? NULL : s_group_of(l, stage);
	if (!g) {
		l->stats.ignored++;
		return 0;
	}
	nb_join_get_stats(g->j, &before);
	l->cur = e;
	l->cur_key = key;
	l->cur_stage = stage;
	l->cur_final = false;
	rc = nb_join_add(g->j, &key, stage - g->first, e->ts_ns, e->ts_ns, e->ifindex, 0);
	l->cur = NULL;
	if (rc)
		return rc;
	nb_join_get_stats(g->j, &after);
	/* Held (accepted, not final at once): its identity from this, its first event. */
	if (after.events > before.events && !l->cur_final)
		s_ident_put(l, &key, e);
	return 0;
}

int nb_latpkt_watermark(struct nb_latpkt *l, uint64_t ts)
{
	int n = 0, rc;

	for (int i = 0; i < l->ng; i++) {
		nb_join_watermark(l->g[i].j, 0, ts);
		rc = nb_join_poll(l->g[i].j);
		if (rc < 0)
			return rc;
		n += rc;
	}
	return n;
}

int nb_latpkt_taint(struct nb_latpkt *l, uint64_t from, uint64_t to)
{
	for (int i = 0; i < l->ng; i++) {
		int rc = nb_join_taint(l->g[i].j, 0, from, to);

		if (rc)
			return rc;
	}
	return 0;
}

int nb_latpkt_flush(struct nb_latpkt *l)
{
	int n = 0, rc;

	for (int i = 0; i < l->ng; i++) {
		rc = nb_join_flush(l->g[i].j);
		if (rc < 0)
			return rc;
		n += rc;
	}
	return n;
}

void nb_latpkt_get_stats(const struct nb_latpkt *l, struct nb_latpkt_stats *out)
{
	struct nb_join_stats js;

	*out = l->stats;
	out->dups = out->late = out->evicted = out->inflight = 0;
	for (int i = 0; i < l->ng; i++) {
		nb_join_get_stats(l->g[i].j, &js);
		out->dups += js.dups;
		out->late += js.late;
		out->evicted += js.evicted;
		out->inflight += js.inflight;
	}
}

const char *nb_latpkt_why_incomplete(const struct nb_latpkt_cfg *cfg, const struct nb_latpkt_res *r,
				     char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	if (r->complete)
		return buf;
	if (r->events_lost) {
		snprintf(buf, len, "events lost");
		return buf;
	}
	for (int i = r->first; i < r->first + r->n && o < len; i++) {
		if (r->seen[i])
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", cfg->stages[i].name);
	}
	if (o < len)
		snprintf(buf + o, len - o, " not seen");
	return buf;
}

/* Appends to buf at *o, never beyond len; *o counts what snprintf would have written. */
#define S_PUT(...)                                                                                 \
	do {                                                                                       \
		size_t _at = *o < len ? *o : len;                                                  \
		*o += (size_t)snprintf(buf + _at, len - _at, __VA_ARGS__);                         \
	} while (0)

static void s_row_text(const struct nb_latpkt_cfg *cfg, const struct nb_latpkt_res *r, int i,
		       char *buf, size_t len, size_t *o)
{
	const struct nb_latpkt_row *w = &r->rows[i];
	char to[64];
	int pad;

	if (w->wire) {
		if (w->known)
			S_PUT("  WIRE_TIME (estimated): %lluus",
			      (unsigned long long)(w->ns / 1000));
		else
			S_PUT("  WIRE_TIME (estimated): missing");
	} else {
		snprintf(to, sizeof(to), "%s:", cfg->stages[w->to].name);
		/* The manual's columns: the value ends 23 characters after the second name. */
		pad = 23 - (int)strlen(to);
		if (w->known)
			S_PUT("    %-22s ->  %s%*llu", cfg->stages[w->from].name, to,
			      pad < 1 ? 1 : pad, (unsigned long long)(w->ns / 1000));
		else
			S_PUT("    %-22s ->  %s%*s", cfg->stages[w->from].name, to,
			      pad < 1 ? 1 : pad, "missing");
		if (w->known)
			S_PUT("us");
	}
	if (i == r->bottleneck && r->high)
		S_PUT("  <<<< BOTTLENECK");
	S_PUT("\n");
}

int nb_latpkt_fmt_echo(const struct nb_latpkt_cfg *cfg, const struct nb_latpkt_res *r,
		       const char *hms, char *buf, size_t len)
{
	size_t n = 0, *o = &n;
	char why[160];
	int path = -1;

	S_PUT("[%s] seq=%u", hms, r->pkt.icmp_seq);
	if (r->has_total)
		S_PUT(" TOTAL_RTT=%lluus", (unsigned long long)(r->total_ns / 1000));
	else
		S_PUT(" TOTAL_RTT=missing");
	if (r->high)
		S_PUT("  <<<< HIGH LATENCY");
	if (!r->complete)
		S_PUT("  INCOMPLETE (%s)", nb_latpkt_why_incomplete(cfg, r, why, sizeof(why)));
	S_PUT("\n");
	for (int i = 0; i < r->nrows; i++) {
		const struct nb_latpkt_row *w = &r->rows[i];

		if (!w->wire && cfg->stages[w->to].path != path) {
			path = cfg->stages[w->to].path;
			S_PUT("  %s Path:\n", nb_latpkt_path_name(cfg, (uint8_t)path));
		}
		if (!w->wire)
			s_row_text(cfg, r, i, buf, len, o);
	}
	/* The wire last, as the manual has it: after both paths. */
	for (int i = 0; i < r->nrows; i++)
		if (r->rows[i].wire)
			s_row_text(cfg, r, i, buf, len, o);
	return (int)n;
}

int nb_latpkt_fmt_line(const struct nb_latpkt_cfg *cfg, const struct nb_latpkt_res *r,
		       const char *hms, char *buf, size_t len)
{
	const struct nb_pkt *p = &r->pkt;
	size_t n = 0, *o = &n;
	char proto[16], a[64], b[64], why[160];

	S_PUT("[%s] %s %s %s -> %s", hms, nb_latpkt_path_name(cfg, r->path),
	      nb_pkt_proto(p, r->ethertype, proto, sizeof(proto)),
	      nb_pkt_endpoint(p, r->ethertype, true, a, sizeof(a)),
	      nb_pkt_endpoint(p, r->ethertype, false, b, sizeof(b)));
	switch (p->proto) {
	case IPPROTO_TCP:
		S_PUT(" seq=%u ack=%u len=%u", p->tcp_seq, p->tcp_ack, p->l4_len);
		break;
	case IPPROTO_UDP:
		S_PUT(" id=%u len=%u", p->ip_id, p->l4_len);
		if (p->frag_off || p->more_frags)
			S_PUT(" frag=%u", p->frag_off);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		S_PUT(" type=%u id=%u seq=%u", p->icmp_type, p->icmp_id, p->icmp_seq);
		break;
	default:
		S_PUT(" id=%u", p->ip_id);
		break;
	}
	S_PUT(":");
	for (int i = 0; i < r->nrows; i++) {
		const struct nb_latpkt_row *w = &r->rows[i];

		S_PUT(" %s->%s=", cfg->stages[w->from].name, cfg->stages[w->to].name);
		if (w->known)
			S_PUT("%lluus", (unsigned long long)(w->ns / 1000));
		else
			S_PUT("missing");
	}
	if (r->has_total)
		S_PUT(" total=%lluus", (unsigned long long)(r->total_ns / 1000));
	if (!r->complete)
		S_PUT(" INCOMPLETE (%s)", nb_latpkt_why_incomplete(cfg, r, why, sizeof(why)));
	S_PUT("\n");
	return (int)n;
}
