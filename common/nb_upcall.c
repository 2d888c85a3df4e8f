// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* OVS upcalls seen from outside: see nb_upcall.h. */
#include "nb_upcall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FPROBE 16 /* flow slots tried before the least recently seen one is reused */
#define S_PPROBE 16 /* in-flight slots tried for a packet */

struct s_pending {
	bool used;
	bool upcall;
	uint32_t rx_ifindex;
	uint64_t rx_ns;
	struct nb_pkt id; /* the flow key plus what tells its packets apart */
};

#define S_SNAPS 64 /* fast-path entry counts kept to know in(now - timeout) */

struct s_snap {
	uint64_t ts, in;
};

struct nb_upcall {
	uint64_t idle_ns, timeout_ns;
	/* The kernel's counts as last taken, and the entries counted at earlier times. */
	struct nb_up_counts k;
	uint64_t k_lost;
	struct s_snap snap[S_SNAPS];
	unsigned nsnap, snap_head; /* snap_head: the oldest */
	uint64_t last_expire_ns;
	struct nb_upcall_flow *flows; /* open addressing by key hash; last_ns 0: free */
	struct s_pending pend[NB_UPCALL_PENDING];
	unsigned npend;
	struct nb_upcall_counts iv, total;
	struct nb_upcall_stats st;
};

struct nb_upcall *nb_upcall_new(uint64_t idle_ns, uint64_t timeout_ns)
{
	struct nb_upcall *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->flows = calloc(NB_UPCALL_FLOWS, sizeof(*u->flows));
	if (!u->flows) {
		free(u);
		return NULL;
	}
	u->idle_ns = idle_ns;
	u->timeout_ns = timeout_ns;
	return u;
}

void nb_upcall_free(struct nb_upcall **pu)
{
	if (!pu || !*pu)
		return;
	free((*pu)->flows);
	free(*pu);
	*pu = NULL;
}

/* The flow of a packet: addresses, protocol, ports; ICMP echo: the id; the rest zero. */
static void s_flow_key(const struct nb_pkt *p, struct nb_pkt *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->saddr, p->saddr, sizeof(k->saddr));
	memcpy(k->daddr, p->daddr, sizeof(k->daddr));
	k->family = p->family;
	k->proto = p->proto;
	if (p->proto == 1 || p->proto == 58) {
		k->sport = p->icmp_id;
		k->icmp_type = p->icmp_type;
	} else {
		k->sport = p->sport;
		k->dport = p->dport;
	}
}

/* The packet's identity: its flow, and IP ID, TCP sequence, ICMP sequence, payload length. */
static void s_pkt_id(const struct nb_pkt *p, struct nb_pkt *id)
{
	s_flow_key(p, id);
	id->ip_id = p->ip_id;
	id->tcp_seq = p->tcp_seq;
	id->icmp_seq = p->icmp_seq;
	id->frag_off = p->frag_off;
	id->l4_len = p->l4_len;
}

/* Word by word: a byte-wise hash of the 64-byte key cost more than the rest of a packet. */
static uint32_t s_hash(const struct nb_pkt *k)
{
	uint64_t w[sizeof(*k) / 8], h = 0x9e3779b97f4a7c15ull;

	_Static_assert(sizeof(*k) % 8 == 0, "struct nb_pkt is a whole number of words");
	memcpy(w, k, sizeof(w));
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return (uint32_t)h;
}

/* The flow of key: found, or a slot for it (the least recently seen of its probe window). */
static struct nb_upcall_flow *s_flow(struct nb_upcall *u, const struct nb_pkt *k, bool *found)
{
	uint32_t h = s_hash(k);
	struct nb_upcall_flow *victim = NULL;

	*found = false;
	for (uint32_t i = 0; i < S_FPROBE; i++) {
		struct nb_upcall_flow *f = &u->flows[(h + i) & (NB_UPCALL_FLOWS - 1)];

		if (f->last_ns && !memcmp(&f->key, k, sizeof(*k))) {
			*found = true;
			return f;
		}
		if (!victim || f->last_ns < victim->last_ns)
			victim = f;
	}
	if (victim->last_ns)
		u->st.flows_forgotten++;
	memset(victim, 0, sizeof(*victim));
	victim->key = *k;
	return victim;
}

static void s_lat(uint64_t *slots, uint64_t ns)
{
	slots[nb_mon_slot(ns / 1000)]++;
}

#define S_BOTH(field) (u->iv.field++, u->total.field++)

static void s_rx(struct nb_upcall *u, uint64_t ts, uint32_t ifindex, const struct nb_pkt *p)
{
	struct nb_upcall_flow *f;
	struct s_pending *pe = NULL;
	struct nb_pkt k;
	bool found, upcall;
	uint32_t h;

	s_flow_key(p, &k);
	f = s_flow(u, &k, &found);
	upcall = !found || !f->last_ns || ts - f->last_ns >= u->idle_ns;
	f->last_ns = ts ? ts : 1;
	if (upcall) {
		f->upcalls++;
		S_BOTH(upcalls);
	}
	s_pkt_id(p, &k);
	h = s_hash(&k);
	for (unsigned i = 0; i < S_PPROBE; i++) {
		struct s_pending *c = &u->pend[(h + i) & (NB_UPCALL_PENDING - 1)];

		if (!c->used) {
			pe = c;
			break;
		}
	}
	if (!pe) {
		/* Not followed: counted, and an upcall counts as neither completed nor lost. */
		u->st.pending_full++;
		return;
	}
	pe->used = true;
	pe->upcall = upcall;
	pe->rx_ifindex = ifindex;
	pe->rx_ns = ts;
	pe->id = k;
	u->npend++;
}

static void s_tx(struct nb_upcall *u, uint64_t ts, uint32_t ifindex, const struct nb_pkt *p)
{
	struct nb_pkt id;
	uint32_t h;

	s_pkt_id(p, &id);
	h = s_hash(&id);
	for (unsigned i = 0; u->npend && i < S_PPROBE; i++) {
		struct s_pending *pe = &u->pend[(h + i) & (NB_UPCALL_PENDING - 1)];

		/* A packet leaving by the port it came in is not the switch's forwarding of it. */
		if (!pe->used || pe->rx_ifindex == ifindex || memcmp(&pe->id, &id, sizeof(id)))
			continue;
		if (pe->upcall) {
			S_BOTH(completed);
			s_lat(u->iv.up_lat, ts - pe->rx_ns);
			s_lat(u->total.up_lat, ts - pe->rx_ns);
		} else {
			S_BOTH(fast);
			s_lat(u->iv.fast_lat, ts - pe->rx_ns);
			s_lat(u->total.fast_lat, ts - pe->rx_ns);
		}
		pe->used = false;
		u->npend--;
		return;
	}
	u->st.tx_unmatched++;
}

void nb_upcall_add(struct nb_upcall *u, uint64_t ts_ns, bool tx, uint32_t ifindex,
		   const struct nb_pkt *p)
{
	/* A scan of the in-flight table every few ms, not at every packet. */
	if (ts_ns - u->last_expire_ns >= 10000000ull) {
		nb_upcall_expire(u, ts_ns);
		u->last_expire_ns = ts_ns;
	}
	if (tx)
		s_tx(u, ts_ns, ifindex, p);
	else
		s_rx(u, ts_ns, ifindex, p);
}

/* A cumulative count's growth since prev, into the interval and the total. */
static void s_delta(uint64_t *iv, uint64_t *tot, uint64_t now, __u64 *prev)
{
	uint64_t d = now > *prev ? now - *prev : 0;

	*iv += d;
	*tot += d;
	*prev = now > *prev ? now : *prev;
}

void nb_upcall_kernel(struct nb_upcall *u, uint64_t now_ns, const struct nb_up_counts *k)
{
	uint64_t in_old = 0, lost;
	unsigned i;

	s_delta(&u->iv.fast, &u->total.fast, k->fast_out, &u->k.fast_out);
	s_delta(&u->iv.fast_followed, &u->total.fast_followed, k->sampled, &u->k.sampled);
	s_delta(&u->iv.fast_sampled, &u->total.fast_sampled, k->sample_out, &u->k.sample_out);
	for (i = 0; i < NB_MON_SLOTS; i++)
		s_delta(&u->iv.fast_lat[i], &u->total.fast_lat[i], k->fast_lat[i],
			&u->k.fast_lat[i]);
	u->st.tx_unmatched +=
	    k->out_unknown > u->k.out_unknown ? k->out_unknown - u->k.out_unknown : 0;
	u->k.out_unknown = k->out_unknown;
	u->st.kernel_full = k->map_full;
	/*
	 * Entries at spaced times, the newest last; full, the oldest goes. The newest one at
	 * least the timeout old bounds the entered packets that can no longer be in flight.
	 */
	if (!u->nsnap ||
	    now_ns - u->snap[(u->snap_head + u->nsnap - 1) % S_SNAPS].ts >= u->timeout_ns / 32) {
		if (u->nsnap == S_SNAPS) {
			u->snap_head = (u->snap_head + 1) % S_SNAPS;
			u->nsnap--;
		}
		u->snap[(u->snap_head + u->nsnap++) % S_SNAPS] =
		    (struct s_snap){now_ns, k->fast_in};
	}
	for (i = 0; i < u->nsnap; i++) {
		const struct s_snap *sn = &u->snap[(u->snap_head + i) % S_SNAPS];

		if (now_ns < sn->ts || now_ns - sn->ts < u->timeout_ns)
			break;
		in_old = sn->in;
	}
	lost = in_old > k->fast_out ? in_old - k->fast_out : 0;
	if (lost > u->k_lost) {
		u->iv.fast_lost += lost - u->k_lost;
		u->total.fast_lost += lost - u->k_lost;
		u->k_lost = lost;
	}
	u->k.fast_in = k->fast_in;
}

void nb_upcall_expire(struct nb_upcall *u, uint64_t now_ns)
{
	for (unsigned i = 0; u->npend && i < NB_UPCALL_PENDING; i++) {
		struct s_pending *pe = &u->pend[i];

		if (!pe->used || now_ns - pe->rx_ns < u->timeout_ns || now_ns < pe->rx_ns)
			continue;
		if (pe->upcall)
			S_BOTH(lost);
		else
			S_BOTH(fast_lost);
		pe->used = false;
		u->npend--;
	}
}

const struct nb_upcall_counts *nb_upcall_iv(const struct nb_upcall *u)
{
	return &u->iv;
}

const struct nb_upcall_counts *nb_upcall_total(const struct nb_upcall *u)
{
	return &u->total;
}

void nb_upcall_interval(struct nb_upcall *u)
{
	memset(&u->iv, 0, sizeof(u->iv));
}

void nb_upcall_stats(const struct nb_upcall *u, struct nb_upcall_stats *out)
{
	*out = u->st;
}

unsigned nb_upcall_pending(const struct nb_upcall *u)
{
	return u->npend;
}

static int s_top_cmp(const void *a, const void *b)
{
	const struct nb_upcall_flow *x = a, *y = b;

	if (x->upcalls != y->upcalls)
		return x->upcalls > y->upcalls ? -1 : 1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

int nb_upcall_top(const struct nb_upcall *u, struct nb_upcall_flow *out, int n)
{
	int k = 0;

	if (n <= 0)
		return 0;
	/* Keep the n best in out, sorted; one pass over the table. */
	for (unsigned i = 0; i < NB_UPCALL_FLOWS; i++) {
		const struct nb_upcall_flow *f = &u->flows[i];
		int j;

		if (!f->last_ns || !f->upcalls)
			continue;
		if (k == n && s_top_cmp(f, &out[n - 1]) >= 0)
			continue;
		j = k < n ? k++ : n - 1;
		while (j > 0 && s_top_cmp(f, &out[j - 1]) < 0) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = *f;
	}
	return k;
}

enum nb_ovs_method nb_ovs_choose(const struct nb_ovs_env *env, char *why, size_t len)
{
	const char *miss = NULL;

	/* In order: the first thing missing is the one to fix. */
	if (!env->module)
		miss = "no openvswitch kernel module";
	else if (env->userspace_dp)
		miss = "the bridges use the userspace datapath";
	else if (!env->kprobes)
		miss = "no kprobes for ovs_flow_key_extract_userspace";
	else if (!env->sym_extract)
		miss = "ovs_flow_key_extract_userspace is not a kernel symbol";
	else if (!env->tracepoint && !env->sym_upcall)
		miss = "neither the ovs_dp_upcall tracepoint nor the function";
	if (miss) {
		snprintf(why, len, "kernel datapath hooks not used: %s", miss);
		return NB_OVS_PORTS;
	}
	if (env->tracepoint) {
		snprintf(why, len,
			 "tracepoint openvswitch:ovs_dp_upcall -> kprobe "
			 "ovs_flow_key_extract_userspace");
		return NB_OVS_TP_KPROBE;
	}
	snprintf(why, len,
		 "kprobe ovs_dp_upcall (no tracepoint) -> kprobe "
		 "ovs_flow_key_extract_userspace");
	return NB_OVS_KPROBES;
}
