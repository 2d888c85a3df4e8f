// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* vhost queue correlation: see nb_vhost.h. */
#include "nb_vhost.h"

#include <stdlib.h>
#include <string.h>

#define S_PROBE 8 /* slots tried for an in-flight packet before one is pushed out */

struct s_worker {
	uint32_t tid;
	uint64_t vq[2]; /* the virtqueue it last announced, by direction */
};

struct s_inflight {
	uint64_t skb; /* 0: free */
	uint64_t ts_ns;
	uint16_t queue;
};

struct nb_vhost {
	struct nb_vhost_queue q[NB_VHOST_MAXQ];
	struct s_worker w[NB_VHOST_WORKERS];
	unsigned nw;
	struct s_inflight *fl;
	struct nb_vhost_stats st;
};

struct nb_vhost *nb_vhost_new(void)
{
	struct nb_vhost *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->fl = calloc(NB_VHOST_INFLIGHT, sizeof(*v->fl));
	if (!v->fl) {
		free(v);
		return NULL;
	}
	for (unsigned i = 0; i < NB_VHOST_MAXQ; i++)
		v->q[i].queue = (uint16_t)i;
	return v;
}

void nb_vhost_free(struct nb_vhost **pv)
{
	if (!pv || !*pv)
		return;
	free((*pv)->fl);
	free(*pv);
	*pv = NULL;
}

static uint32_t s_hash(uint64_t skb)
{
	skb ^= skb >> 33;
	skb *= 0xff51afd7ed558ccdull;
	skb ^= skb >> 33;
	return (uint32_t)skb & (NB_VHOST_INFLIGHT - 1);
}

static void s_fl_put(struct nb_vhost *v, uint64_t skb, uint64_t ts, uint16_t queue)
{
	uint32_t h = s_hash(skb), oldest = h;

	for (uint32_t i = 0; i < S_PROBE; i++) {
		struct s_inflight *f = &v->fl[(h + i) & (NB_VHOST_INFLIGHT - 1)];

		/* The same address again: the earlier skb was freed unseen and reused. */
		if (!f->skb || f->skb == skb) {
			*f = (struct s_inflight){skb, ts, queue};
			return;
		}
		if (f->ts_ns < v->fl[oldest].ts_ns)
			oldest = (h + i) & (NB_VHOST_INFLIGHT - 1);
	}
	v->st.evicted++;
	v->fl[oldest] = (struct s_inflight){skb, ts, queue};
}

static struct s_inflight *s_fl_take(struct nb_vhost *v, uint64_t skb)
{
	uint32_t h = s_hash(skb);

	for (uint32_t i = 0; i < S_PROBE; i++) {
		struct s_inflight *f = &v->fl[(h + i) & (NB_VHOST_INFLIGHT - 1)];

		if (f->skb == skb)
			return f;
	}
	return NULL;
}

static struct s_worker *s_worker(struct nb_vhost *v, uint32_t tid, bool create)
{
	for (unsigned i = 0; i < v->nw; i++)
		if (v->w[i].tid == tid)
			return &v->w[i];
	if (!create)
		return NULL;
	if (v->nw == NB_VHOST_WORKERS) {
		v->st.workers_full++;
		return NULL;
	}
	v->w[v->nw] = (struct s_worker){.tid = tid};
	return &v->w[v->nw++];
}

/* The queue bound to virtqueue vq, and whether vq is its TX one. */
static struct nb_vhost_queue *s_by_vq(struct nb_vhost *v, uint64_t vq, bool *tx)
{
	for (unsigned i = 0; vq && i < NB_VHOST_MAXQ; i++) {
		struct nb_vhost_queue *q = &v->q[i];

		if (!q->bound)
			continue;
		if (q->rx_vq == vq || q->tx_vq == vq) {
			*tx = q->tx_vq == vq;
			return q;
		}
	}
	return NULL;
}

#define S_BOTH(q, field) ((q)->iv.field++, (q)->total.field++)

static void s_bind(struct nb_vhost *v, struct nb_vhost_queue *q, const struct nb_vh_ev *e)
{
	struct s_worker *w = s_worker(v, e->tid, false);
	uint64_t vq = w ? w->vq[e->dir == NB_VH_TX] : 0;
	uint64_t *slot = e->dir == NB_VH_TX ? &q->tx_vq : &q->rx_vq;

	if (q->bound && (q->worker_tid != e->tid || (vq && *slot && *slot != vq)))
		q->rebinds++;
	q->bound = true;
	q->sock = e->sock;
	q->worker_tid = e->tid;
	q->worker_pid = e->pid;
	memcpy(q->worker, e->comm, sizeof(q->worker));
	q->worker[sizeof(q->worker) - 1] = '\0';
	if (vq)
		*slot = vq;
}

void nb_vhost_add(struct nb_vhost *v, const struct nb_vh_ev *e)
{
	struct nb_vhost_queue *q = NULL;
	struct s_inflight *f;
	struct s_worker *w;
	bool tx = false;

	v->st.events++;
	switch (e->type) {
	case NB_VH_EV_RX_WORK:
	case NB_VH_EV_TX_WORK:
		w = s_worker(v, e->tid, true);
		if (w)
			w->vq[e->type == NB_VH_EV_TX_WORK] = e->vq;
		return;
	case NB_VH_EV_KICK:
	case NB_VH_EV_SIGNAL:
		/* A kick is handled by the worker of its virtqueue: that announces it too. */
		if (e->type == NB_VH_EV_KICK && e->tid && (w = s_worker(v, e->tid, true)))
			w->vq[e->dir == NB_VH_TX] = e->vq;
		q = s_by_vq(v, e->vq, &tx);
		if (!q) {
			if (e->type == NB_VH_EV_KICK)
				v->st.unattributed_kicks++;
			else
				v->st.unattributed_signals++;
			return;
		}
		if (e->type == NB_VH_EV_KICK) {
			if (tx)
				S_BOTH(q, kicks_tx);
			else
				S_BOTH(q, kicks_rx);
		} else if (e->suppress == NB_VH_SENT) {
			S_BOTH(q, signals_sent);
		} else if (e->suppress < 4) {
			S_BOTH(q, suppressed[e->suppress]);
		} else {
			v->st.bad++;
		}
		return;
	case NB_VH_EV_ENQ:
	case NB_VH_EV_DEQ:
	case NB_VH_EV_RECV:
	case NB_VH_EV_SEND:
		break;
	default:
		v->st.bad++;
		return;
	}
	if (e->type == NB_VH_EV_DEQ && (f = s_fl_take(v, e->skb))) {
		/* The queue the packet was enqueued on: the dequeue's own may be stale. */
		q = &v->q[f->queue];
		q->seen = true;
		S_BOTH(q, moved_rx);
		if (e->ts_ns >= f->ts_ns) {
			uint32_t s = nb_mon_slot((e->ts_ns - f->ts_ns) / 1000);

			q->iv.lat[s]++;
			q->total.lat[s]++;
		}
		f->skb = 0;
		return;
	}
	if (e->queue >= NB_VHOST_MAXQ) {
		v->st.bad++;
		return;
	}
	q = &v->q[e->queue];
	q->seen = true;
	switch (e->type) {
	case NB_VH_EV_ENQ:
		s_fl_put(v, e->skb, e->ts_ns, e->queue);
		break;
	case NB_VH_EV_DEQ:
		S_BOTH(q, moved_rx);
		S_BOTH(q, deq_unmatched);
		break;
	case NB_VH_EV_RECV:
		s_bind(v, q, e);
		break;
	case NB_VH_EV_SEND:
		s_bind(v, q, e);
		S_BOTH(q, moved_tx);
		break;
	}
}

const struct nb_vhost_queue *nb_vhost_queue(const struct nb_vhost *v, unsigned q)
{
	return q < NB_VHOST_MAXQ && v->q[q].seen ? &v->q[q] : NULL;
}

void nb_vhost_interval(struct nb_vhost *v)
{
	for (unsigned i = 0; i < NB_VHOST_MAXQ; i++)
		memset(&v->q[i].iv, 0, sizeof(v->q[i].iv));
}

void nb_vhost_stats(const struct nb_vhost *v, struct nb_vhost_stats *out)
{
	*out = v->st;
}

uint64_t nb_vhost_suppressed(const struct nb_vhost_qstat *s)
{
	return s->suppressed[1] + s->suppressed[2] + s->suppressed[3];
}
