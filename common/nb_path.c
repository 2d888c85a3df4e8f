// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_path.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ICMP seq wraps after 65536 packets: at 1000/s a key comes back after 65 s. */
#define S_ICMP_REUSE_MIN_NS 10000000000ull

struct nb_path {
	struct nb_path_cfg cfg;
	nb_path_cb cb;
	void *ctx;
	struct nb_join *join; /* ICMP */
	struct nb_tcp *tcp;
	struct nb_udp *udp;
};

static bool s_icmp(uint8_t proto)
{
	return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

static void s_on_icmp(const struct nb_joined *p, void *ctx)
{
	struct nb_path *pp = ctx;
	struct nb_path_res r = {0};

	r.p = p;
	r.proto = pp->cfg.proto;
	r.status = p->nstages == 4 ? nb_status_local(p) : nb_status_chain(p);
	r.icmp_id = (uint16_t)p->key.k1;
	r.icmp_seq = (uint16_t)p->key.k2;
	pp->cb(&r, pp->ctx);
}

static void s_on_tcp(const struct nb_tcp_seg *s, void *ctx)
{
	struct nb_path *pp = ctx;
	struct nb_path_res r = {0};

	r.p = s->p;
	r.proto = IPPROTO_TCP;
	r.status = s->p->nstages == 4 ? nb_status_local(s->p) : nb_status_chain(s->p);
	/* its fate is hidden behind an earlier segment's loss: never a drop of its own */
	if (s->ack_held && r.status != NB_ST_COMPLETE)
		r.status = NB_ST_INCONCLUSIVE;
	r.tcp = s;
	pp->cb(&r, pp->ctx);
}

static void s_on_udp(const struct nb_udp_dgram *d, void *ctx)
{
	struct nb_path *pp = ctx;
	struct nb_path_res r = {0};

	r.p = d->p;
	r.proto = IPPROTO_UDP;
	r.status = d->status;
	r.reverse = d->reverse;
	r.udp = d;
	pp->cb(&r, pp->ctx);
}

/* Where a copy lost between two data stages, or the ACK between two reply stages, was lost. */
static const enum nb_blame s_hop_chain[NB_TCP_MAX_DATA - 1] = {NB_BLAME_NODE_A, NB_BLAME_NETWORK,
								NB_BLAME_NODE_B};

void nb_path_totals_add(struct nb_path_totals *tt, const struct nb_path_res *r)
{
	const struct nb_tcp_seg *s = r->tcp;
	bool local;

	if (r->udp && r->status != NB_ST_INCONCLUSIVE) {
		tt->lost_fragments += r->udp->lost;
		tt->partial += r->udp->partial && r->udp->lost;
	}
	if (!s)
		return;
	local = s->ndata == 2;
	tt->retransmitted += s->copies[0] > 1;
	tt->retransmitted_copies += s->copies[0] > 1 ? s->copies[0] - 1 : 0;
	tt->spurious += s->spurious;
	for (int h = 0; h + 1 < s->ndata; h++) {
		tt->lost_copies[h] += s->lost[h];
		tt->unjudged_copies += s->unjudged[h];
	}
	for (int h = 0; h < s->ndata; h++)
		tt->spurious_at[h] += s->spurious_at[h];
	if (r->status != NB_ST_COMPLETE)
		return;
	for (int h = 0; h + 1 < s->ndata; h++)
		tt->recovered.copies[local ? NB_BLAME_LOCAL : s_hop_chain[h]][0] += s->lost[h];
	/* the ACK was lost between reply stages h - 1 and h: B2-B3, B3-A2, A2-A3 */
	for (int h = 1; h < s->ndata; h++)
		tt->recovered.copies[local ? NB_BLAME_LOCAL : s_hop_chain[s->ndata - 1 - h]][1] +=
		    s->spurious_at[h];
	if (local)
		tt->recovered.copies[NB_BLAME_EXTERNAL][0] += s->spurious_at[0];
}

struct nb_path *nb_path_new(const struct nb_path_cfg *cfg, nb_path_cb cb, void *ctx)
{
	struct nb_path *pp;

	if (!cfg || !cb || (cfg->nstages != 4 && cfg->nstages != 8)) {
		errno = EINVAL;
		return NULL;
	}
	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return NULL;
	pp->cfg = *cfg;
	pp->cb = cb;
	pp->ctx = ctx;
	if (s_icmp(cfg->proto)) {
		struct nb_join_cfg jc = {0};

		jc.nstages = cfg->nstages;
		jc.nnodes = cfg->nnodes;
		memcpy(jc.stage_node, cfg->stage_node, sizeof(jc.stage_node));
		jc.timeout_ns = cfg->timeout_ns;
		jc.reuse_ns = jc.timeout_ns * 4 > S_ICMP_REUSE_MIN_NS ? jc.timeout_ns * 4
								      : S_ICMP_REUSE_MIN_NS;
		pp->join = nb_join_new(&jc, s_on_icmp, pp);
	} else if (cfg->proto == IPPROTO_TCP) {
		struct nb_tcp_cfg tc = {0};

		tc.nstages = cfg->nstages;
		tc.nnodes = cfg->nnodes;
		memcpy(tc.stage_node, cfg->stage_node, sizeof(tc.stage_node));
		tc.timeout_ns = cfg->timeout_ns;
		tc.slack_ns = cfg->slack_ns;
		/* only across two hosts is the last data stage the receiver's own port */
		tc.dup_acks = cfg->nstages == 8;
		pp->tcp = nb_tcp_new(&tc, s_on_tcp, pp);
	} else if (cfg->proto == IPPROTO_UDP) {
		struct nb_udp_cfg uc = {0};

		uc.nstages = cfg->nstages;
		uc.nnodes = cfg->nnodes;
		memcpy(uc.stage_node, cfg->stage_node, sizeof(uc.stage_node));
		uc.timeout_ns = cfg->timeout_ns;
		uc.ports = cfg->ports;
		uc.hold_ns = cfg->hold_ns;
		pp->udp = nb_udp_new(&uc, s_on_udp, pp);
	} else {
		free(pp);
		errno = EPROTONOSUPPORT;
		return NULL;
	}
	if (!pp->join && !pp->tcp && !pp->udp) {
		int e = errno;

		free(pp);
		errno = e;
		return NULL;
	}
	return pp;
}

void nb_path_destroy(struct nb_path **ppp)
{
	struct nb_path *pp;

	if (!ppp || !*ppp)
		return;
	pp = *ppp;
	nb_join_destroy(&pp->join);
	nb_tcp_destroy(&pp->tcp);
	nb_udp_destroy(&pp->udp);
	free(pp);
	*ppp = NULL;
}

int nb_path_add(struct nb_path *pp, const struct nb_event *e, const struct nb_key *key, int stage,
		uint64_t ts_ref)
{
	if (!pp || !e)
		return -EINVAL;
	if (pp->join)
		return key ? nb_join_add(pp->join, key, stage, e->ts_ns, ts_ref, e->ifindex, 0)
			   : -EINVAL;
	if (pp->tcp)
		return nb_tcp_add(pp->tcp, &e->pkt, stage, e->ts_ns, ts_ref, e->ifindex);
	return nb_udp_add(pp->udp, &e->pkt, stage, e->ts_ns, ts_ref, e->ifindex);
}

int nb_path_watermark(struct nb_path *pp, int node, uint64_t ts_ref)
{
	if (!pp)
		return -EINVAL;
	if (pp->join)
		return nb_join_watermark(pp->join, node, ts_ref);
	if (pp->tcp)
		return nb_tcp_watermark(pp->tcp, node, ts_ref);
	return nb_udp_watermark(pp->udp, node, ts_ref);
}

int nb_path_taint(struct nb_path *pp, int node, uint64_t from_ref, uint64_t to_ref)
{
	if (!pp)
		return -EINVAL;
	if (pp->join)
		return nb_join_taint(pp->join, node, from_ref, to_ref);
	if (pp->tcp)
		return nb_tcp_taint(pp->tcp, node, from_ref, to_ref);
	return nb_udp_taint(pp->udp, node, from_ref, to_ref);
}

int nb_path_poll(struct nb_path *pp)
{
	if (!pp)
		return -EINVAL;
	if (pp->join)
		return nb_join_poll(pp->join);
	if (pp->tcp)
		return nb_tcp_poll(pp->tcp);
	return nb_udp_poll(pp->udp);
}

int nb_path_flush(struct nb_path *pp)
{
	if (!pp)
		return -EINVAL;
	if (pp->join)
		return nb_join_flush(pp->join);
	if (pp->tcp)
		return nb_tcp_flush(pp->tcp);
	return nb_udp_flush(pp->udp);
}

void nb_path_get_stats(const struct nb_path *pp, struct nb_path_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!pp)
		return;
	if (pp->join) {
		struct nb_join_stats js;

		nb_join_get_stats(pp->join, &js);
		out->inflight = js.inflight;
		out->dups = js.dups;
		out->late = js.late;
	} else if (pp->tcp) {
		struct nb_tcp_stats ts;

		nb_tcp_get_stats(pp->tcp, &ts);
		out->inflight = ts.inflight;
		out->late = ts.late;
		out->untracked = ts.untracked;
		out->overflow = ts.overflow;
		out->early = ts.early;
	} else {
		struct nb_udp_stats us;

		nb_udp_get_stats(pp->udp, &us);
		out->inflight = us.open;
		out->late = us.late;
		out->unattributed = us.unattributed;
		out->unidentified = us.unidentified;
	}
}

const char *nb_path_stage_name(int nstages, int stage)
{
	return nstages == 8 ? nb_stage_name_chain(stage) : nb_stage_name_local(stage);
}


int nb_path_detail(const struct nb_path_res *r, uint64_t timeout_ms, char *buf, size_t len)
{
	const struct nb_joined *p = r->p;
	const char *due = p->next_due >= 0 ? nb_path_stage_name(p->nstages, p->next_due) : NULL;
	size_t off = 0;

	if (!buf)
		len = 0;
	if (len)
		buf[0] = 0;
	if (r->status == NB_ST_COMPLETE)
		return 0;
	if (r->udp && r->udp->partial && r->udp->lost) {
		const struct nb_udp_dgram *d = r->udp;
		int base = d->reverse ? p->nstages / 2 : 0;

		nb_appendf(buf, len, &off, "%u of %u fragments lost:", d->lost, d->frags);
		for (int s = base; s < base + p->nstages / 2; s++)
			nb_appendf(buf, len, &off, "%s %u at %s", s == base ? "" : ",",
				 d->frags_at[s], nb_path_stage_name(p->nstages, s));
		return (int)off;
	}
	if (r->tcp && r->tcp->ack_held && r->status == NB_ST_INCONCLUSIVE) {
		nb_appendf(buf, len, &off, "its ACK was held by an earlier segment's loss");
		return (int)off;
	}
	if (r->status != NB_ST_INCONCLUSIVE) {
		nb_appendf(buf, len, &off, "missing %s after %llums", due ? due : "?",
			 (unsigned long long)timeout_ms);
		return (int)off;
	}
	switch (p->why) {
	case NB_FINAL_EVICTED:
		nb_appendf(buf, len, &off,
			 "too many packets in flight; raise --timeout-ms or filter more");
		break;
	case NB_FINAL_REUSED:
		nb_appendf(buf, len, &off, "its id/seq came back before %s was seen",
			 due ? due : "?");
		break;
	case NB_FINAL_FLUSH:
		nb_appendf(buf, len, &off, "run ended before %s was due", due ? due : "?");
		break;
	default:
		nb_appendf(buf, len, &off, "events lost or tracer not attached while %s was due",
			 due ? due : "?");
	}
	return (int)off;
}
