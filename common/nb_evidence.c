// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_evidence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb_blame.h"
#include "nb_hist.h"
#include "nb_time.h"

#define S_NAMED_QUEUES 3 /* queues a finding names; the rest are counted */

uint32_t nb_tun_qstat_sum(struct nb_tun_qstat *tot, const struct nb_tun_qstat *pcpu, int ncpu,
			  uint64_t epoch)
{
	uint32_t hwm = 0;

	memset(tot, 0, sizeof(*tot));
	for (int c = 0; c < ncpu; c++) {
		nb_tun_qstat_add(tot, &pcpu[c]);
		if (pcpu[c].hwm_epoch == epoch && pcpu[c].hwm > hwm)
			hwm = pcpu[c].hwm;
	}
	return hwm;
}

void nb_tun_qstat_add(struct nb_tun_qstat *acc, const struct nb_tun_qstat *v)
{
	acc->enq += v->enq;
	acc->matched += v->matched;
	acc->full += v->full;
	acc->drop_full += v->drop_full;
	acc->drop_other += v->drop_other;
	acc->deq += v->deq;
	acc->samp_stale += v->samp_stale;
	for (int i = 0; i < NB_MON_SLOTS; i++)
		acc->sojourn[i] += v->sojourn[i];
}

void nb_tun_qstat_sub(struct nb_tun_qstat *d, const struct nb_tun_qstat *a,
		      const struct nb_tun_qstat *b)
{
	d->enq = a->enq - b->enq;
	d->matched = a->matched - b->matched;
	d->full = a->full - b->full;
	d->drop_full = a->drop_full - b->drop_full;
	d->drop_other = a->drop_other - b->drop_other;
	d->deq = a->deq - b->deq;
	d->samp_stale = a->samp_stale - b->samp_stale;
	for (int i = 0; i < NB_MON_SLOTS; i++)
		d->sojourn[i] = a->sojourn[i] - b->sojourn[i];
}

void nb_monq_from(struct nb_wire_monq *w, uint32_t queue, const struct nb_tun_qstat *c,
		  const struct nb_tun_ring *r, uint32_t hwm)
{
	memset(w, 0, sizeof(*w));
	w->queue = queue;
	w->size = r->size > 0 ? (uint32_t)r->size : 0;
	w->hwm = hwm;
	w->occupancy = r->occupancy;
	w->enqueued = c->enq;
	w->matched = c->matched;
	w->dequeued = c->deq;
	w->full = c->full;
	w->drops_full_ring = c->drop_full;
	w->drops_other = c->drop_other;
}

/* Overflowed queues first (most drops, then most FULL events), then by traffic, then by number. */
static int s_qcmp(const void *pa, const void *pb)
{
	const struct nb_wire_monq *a = pa, *b = pb;

	if (a->drops_full_ring != b->drops_full_ring)
		return a->drops_full_ring > b->drops_full_ring ? -1 : 1;
	if (a->full != b->full)
		return a->full > b->full ? -1 : 1;
	if (a->enqueued != b->enqueued)
		return a->enqueued > b->enqueued ? -1 : 1;
	return a->queue < b->queue ? -1 : a->queue > b->queue;
}

void nb_monitor_fill(struct nb_msg_monitor *m, const struct nb_wire_monq *q, uint32_t nq,
		     const uint64_t (*sojourn)[NB_MON_SLOTS])
{
	struct nb_wire_monq *t = &m->total, *sorted;

	memset(t, 0, sizeof(*t));
	m->has_total = true;
	m->queues_seen = nq;
	m->n_queues = 0;
	m->n_sojourn = 0;
	memset(m->sojourn_us, 0, sizeof(m->sojourn_us));
	for (uint32_t i = 0; i < nq; i++) {
		/* The total's size is the largest ring, its hwm the highest mark: per queue. */
		if (q[i].size > t->size)
			t->size = q[i].size;
		if (q[i].hwm > t->hwm)
			t->hwm = q[i].hwm;
		t->occupancy += q[i].occupancy;
		t->enqueued += q[i].enqueued;
		t->matched += q[i].matched;
		t->dequeued += q[i].dequeued;
		t->full += q[i].full;
		t->drops_full_ring += q[i].drops_full_ring;
		t->drops_other += q[i].drops_other;
		for (int s = 0; sojourn && s < NB_MON_SLOTS && s < NB_WIRE_MON_SLOTS; s++) {
			m->sojourn_us[s] += sojourn[i][s];
			if (m->sojourn_us[s] && (uint32_t)s + 1 > m->n_sojourn)
				m->n_sojourn = (uint32_t)s + 1;
		}
	}
	if (!nq)
		return;
	sorted = malloc(nq * sizeof(*sorted));
	if (sorted) {
		memcpy(sorted, q, nq * sizeof(*sorted));
		qsort(sorted, nq, sizeof(*sorted), s_qcmp);
	}
	for (uint32_t i = 0; i < nq && i < NB_WIRE_MAX_MONQ; i++)
		m->queues[m->n_queues++] = sorted ? sorted[i] : q[i];
	free(sorted);
}

bool nb_log2_quantile(const uint64_t *slots, uint32_t n, double q, uint64_t *lo, uint64_t *hi)
{
	uint64_t total = 0, need, acc = 0;

	for (uint32_t i = 0; i < n; i++)
		total += slots[i];
	if (!total)
		return false;
	need = (uint64_t)(q * (double)total + 0.999999);
	if (need < 1)
		need = 1;
	for (uint32_t i = 0; i < n; i++) {
		acc += slots[i];
		if (acc >= need) {
			nb_hist_log2_range((int)i, lo, hi);
			return true;
		}
	}
	nb_hist_log2_range((int)n - 1, lo, hi);
	return true;
}

const char *nb_finding_kind_name(enum nb_finding_kind k)
{
	switch (k) {
	case NB_FIND_RING_LOSS:
		return "ring_loss";
	case NB_FIND_RING_OTHER:
		return "ring_other";
	case NB_FIND_RING_DELAY:
		return "ring_delay";
	case NB_FIND_UPCALL:
		return "upcall";
	default:
		return "none";
	}
}

/* "queue 0 full 12 times, queue 3 full once, 2 more queues full 5 times, 14 FULL_RING drops" */
static void s_queues_text(const struct nb_msg_monitor *m, char *buf, size_t len, size_t *off)
{
	uint64_t more_q = 0, more_full = 0, listed_full = 0;
	int named = 0;

	for (uint32_t i = 0; i < m->n_queues; i++) {
		const struct nb_wire_monq *q = &m->queues[i];

		if (!q->full)
			continue;
		listed_full += q->full;
		if (named < S_NAMED_QUEUES) {
			nb_appendf(buf, len, off, "%squeue %u full %llu time%s", named ? ", " : "",
				   q->queue, (unsigned long long)q->full, q->full == 1 ? "" : "s");
			named++;
		} else {
			more_q++;
			more_full += q->full;
		}
	}
	/* Queues the message did not list (over NB_WIRE_MAX_MONQ) are in the total. */
	if (m->total.full > listed_full) {
		more_full += m->total.full - listed_full;
		more_q += !more_q;
	}
	if (more_q)
		nb_appendf(buf, len, off, "%s%s%llu more time%s on other queues", named ? ", " : "",
			   "full ", (unsigned long long)more_full, more_full == 1 ? "" : "s");
	nb_appendf(buf, len, off, "%s%llu FULL_RING drop%s", *off ? ", " : "",
		   (unsigned long long)m->total.drops_full_ring,
		   m->total.drops_full_ring == 1 ? "" : "s");
}

static void s_range(uint64_t lo_us, uint64_t hi_us, char *buf, size_t len)
{
	char a[32], b[32];

	snprintf(buf, len, "%s-%s", nb_fmt_dur(lo_us * 1000, a, sizeof(a)),
		 nb_fmt_dur(hi_us * 1000, b, sizeof(b)));
}

int nb_ring_findings(const struct nb_msg_monitor *m, const struct nb_ring_facts *f,
		     struct nb_finding *out, int max)
{
	const char *node = f && f->node ? f->node : "?";
	uint64_t lo50, hi50, lo99, hi99;
	int n = 0;

	if (!m || !m->attached || strcmp(m->monitor, "tun_ring") || !m->has_total || max <= 0)
		return 0;
	if (m->total.full || m->total.drops_full_ring) {
		struct nb_finding *x = &out[n++];
		uint64_t traced = f ? f->traced_ring_drops : 0;
		char q[256];
		size_t qo = 0;

		q[0] = 0;
		s_queues_text(m, q, sizeof(q), &qo);
		memset(x, 0, sizeof(*x));
		if (traced) {
			char tail[64] = "";

			/* Other traffic shares the ring: say how many of its drops were ours. */
			if (traced != m->total.drops_full_ring)
				snprintf(tail, sizeof(tail), ", %llu of the traced packets",
					 (unsigned long long)traced);
			x->kind = NB_FIND_RING_LOSS;
			snprintf(x->text, sizeof(x->text),
				 "%s: lost in the tap ring of %s (%s%s): the VM did not read fast "
				 "enough",
				 node, m->ifname, q, tail);
		} else if (f && f->past_last_stage) {
			x->kind = NB_FIND_RING_OTHER;
			snprintf(x->text, sizeof(x->text),
				 "%s: the tap ring of %s overflowed (%s): what it dropped was past the "
				 "node's last traced stage, so the trace counts it delivered",
				 node, m->ifname, q);
		} else {
			x->kind = NB_FIND_RING_OTHER;
			snprintf(x->text, sizeof(x->text),
				 "%s: the tap ring of %s overflowed (%s), but none of the traced "
				 "packets was lost there",
				 node, m->ifname, q);
		}
	}
	/*
	 * The wait's median, estimated as its log2 slot's middle, at least half the segment's:
	 * the ring is where most of that segment's time went. And at least NB_RING_DELAY_MIN_NS:
	 * a VM answering in 100 us spends most of it being read, which is no finding.
	 */
	if (n < max && f && f->seg_p50_ns && f->seg_name &&
	    nb_log2_quantile(m->sojourn_us, m->n_sojourn, 0.5, &lo50, &hi50) &&
	    nb_log2_quantile(m->sojourn_us, m->n_sojourn, 0.99, &lo99, &hi99) &&
	    (lo50 + hi50) * 1000 >= f->seg_p50_ns &&
	    (lo50 + hi50) * 1000 / 2 >= NB_RING_DELAY_MIN_NS) {
		struct nb_finding *x = &out[n++];
		char p50[64], p99[64], seg[32];

		memset(x, 0, sizeof(*x));
		x->kind = NB_FIND_RING_DELAY;
		s_range(lo50, hi50, p50, sizeof(p50));
		s_range(lo99, hi99, p99, sizeof(p99));
		snprintf(x->text, sizeof(x->text),
			 "%s: the traced packets waited in the tap ring of %s for the VM to read "
			 "them (p50 %s, p99 %s): most of %s (p50 %s)",
			 node, m->ifname, p50, p99, f->seg_name,
			 nb_fmt_dur(f->seg_p50_ns, seg, sizeof(seg)));
	}
	return n;
}

/* ---- Open vSwitch's slow path ---- */

void nb_upcall_acc_init(struct nb_upcall_acc *a)
{
	memset(a, 0, sizeof(*a));
	nb_hist_init(&a->later);
}

static void s_later(struct nb_upcall_acc *a, uint64_t lat_ns)
{
	if (lat_ns != NB_UPCALL_LAT_UNKNOWN)
		nb_hist_add(&a->later, lat_ns);
}

void nb_upcall_see(struct nb_upcall_acc *a, uint64_t ts, uint32_t seq, uint64_t lat_ns)
{
	struct nb_upcall_cand c = {.seq = seq, .ts = ts, .lat_ns = lat_ns, .first = true};

	if (!a->any) {
		a->any = true;
		a->first_ts = a->last_ts = ts;
		a->cand[0] = c;
		a->n_cand = 1;
		return;
	}
	if (ts < a->first_ts) {
		/* Final out of order (the first was lost, its timeout came later): it is first. */
		if (a->cand[0].first) {
			s_later(a, a->cand[0].lat_ns);
			a->cand[0] = c;
		}
		a->first_ts = ts;
		return;
	}
	if (ts > a->last_ts + NB_UPCALL_IDLE_NS) {
		a->last_ts = ts;
		c.first = false;
		if (a->n_cand < NB_UPCALL_MAX_CAND)
			a->cand[a->n_cand++] = c;
		else
			a->cand_dropped++;
		return;
	}
	if (ts > a->last_ts)
		a->last_ts = ts;
	s_later(a, lat_ns);
}

int nb_upcall_findings(const struct nb_upcall_acc *a, const char *node, bool ovs, const char *what,
		       const char *id_name, struct nb_finding *out, int max)
{
	struct nb_finding *f = out;
	char d[32], m[32];
	bool first = false, idle = false;
	uint64_t p50;
	size_t off;

	if (!ovs || max < 1 || nb_hist_count(&a->later) < NB_UPCALL_MIN_LATER)
		return 0;
	p50 = nb_hist_quantile(&a->later, 0.5);
	memset(f, 0, sizeof(*f));
	f->kind = NB_FIND_UPCALL;
	f->later_p50_ns = p50;
	off = 0;
	nb_appendf(f->text, sizeof(f->text), &off, "%s: %s", node, what);
	for (uint32_t i = 0; i < a->n_cand; i++) {
		const struct nb_upcall_cand *c = &a->cand[i];

		if (c->lat_ns == NB_UPCALL_LAT_UNKNOWN || c->lat_ns < NB_UPCALL_FACTOR * p50 ||
		    c->lat_ns - p50 < NB_UPCALL_MIN_EXCESS_NS)
			continue;
		f->seqs[f->n_seqs] = c->seq;
		f->lat_ns[f->n_seqs] = c->lat_ns;
		nb_appendf(f->text, sizeof(f->text), &off, "%s %s %u took %s",
			   f->n_seqs ? "," : "", id_name, c->seq, nb_fmt_dur(c->lat_ns, d, sizeof(d)));
		f->n_seqs++;
		first = first || c->first;
		idle = idle || !c->first;
	}
	if (!f->n_seqs)
		return 0;
	nb_appendf(f->text, sizeof(f->text), &off,
		   " inside %s: %s through Open vSwitch (upcall; later packets %s)", node,
		   first && idle ? "first packet of the flow, or first after 10 s idle,"
		   : first	 ? "first packet of the flow"
				 : "first packet after 10 s idle",
		   nb_fmt_dur(p50, m, sizeof(m)));
	return 1;
}
