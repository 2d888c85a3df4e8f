/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A monitor's evidence in the blame: the tun ring monitor's counters (summed over CPUs and
 * queues, for the tool and for a serve session), and what a trace's report says about a node
 * whose VM port's ring the session watched (docs/ARCHITECTURE.md, "Monitors in the blame").
 *
 * Pure: no I/O, no printing.
 */
#ifndef NB_EVIDENCE_H
#define NB_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_hist.h"
#include "nb_mon.h"
#include "nb_wire.h"

/*
 * Sums the per-CPU counts of one queue into *tot (overwritten); returns the queue's high-water
 * mark: the highest of the CPUs whose mark belongs to epoch.
 */
uint32_t nb_tun_qstat_sum(struct nb_tun_qstat *tot, const struct nb_tun_qstat *pcpu, int ncpu,
			  uint64_t epoch);
/* acc += v */
void nb_tun_qstat_add(struct nb_tun_qstat *acc, const struct nb_tun_qstat *v);
/* d = a - b */
void nb_tun_qstat_sub(struct nb_tun_qstat *d, const struct nb_tun_qstat *a,
		      const struct nb_tun_qstat *b);

/* One queue as the wire carries it (struct nb_wire_monq) from the monitor's counts. */
void nb_monq_from(struct nb_wire_monq *w, uint32_t queue, const struct nb_tun_qstat *c,
		  const struct nb_tun_ring *r, uint32_t hwm);
/*
 * Fills m's total, queues_seen, queues (those that overflowed first, most FULL_RING drops
 * and FULL events first, then by enqueues; at most NB_WIRE_MAX_MONQ) and the flow's sojourn
 * summed over all queues, from nq queue records (wire form) and their sojourn slots (nq rows
 * of NB_MON_SLOTS; NULL: none).
 */
void nb_monitor_fill(struct nb_msg_monitor *m, const struct nb_wire_monq *q, uint32_t nq,
		     const uint64_t (*sojourn)[NB_MON_SLOTS]);

/*
 * A log2 microsecond histogram's quantile q (0..1) as the slot's range [*lo, *hi] us; false
 * when it is empty.
 */
bool nb_log2_quantile(const uint64_t *slots, uint32_t n, double q, uint64_t *lo, uint64_t *hi);

/* A ring wait shorter than this (its median) is never a delay finding. */
#define NB_RING_DELAY_MIN_NS 1000000ull

enum nb_finding_kind {
	NB_FIND_NONE = 0,
	NB_FIND_RING_LOSS,  /* the node lost traced packets in its tap's ring */
	NB_FIND_RING_OTHER, /* the ring overflowed, but no traced packet was lost there */
	NB_FIND_RING_DELAY, /* the traced packets' wait in the ring: half a latency segment or more */
	NB_FIND_UPCALL,	    /* a flow's first packet took Open vSwitch's slow path in the node */
};

/* What the trace itself knows about a node, to weigh the monitor's counts against. */
struct nb_ring_facts {
	const char *node;	  /* its name, "hvB" */
	uint64_t traced_ring_drops; /* traced packets it dropped with reason FULL_RING */
	/*
	 * The latency segment the ring's wait falls in (the echo's destination_response on the
	 * receiving node), its name and median; NULL / 0 when none does.
	 */
	const char *seg_name;
	uint64_t seg_p50_ns;
	/*
	 * The ring is past the node's last stage (A's VM port: A3): the trace counts what it
	 * drops as delivered, so its drops are not weighed against the traced losses.
	 */
	bool past_last_stage;
};

#define NB_UPCALL_MAX_CAND 4 /* packets an upcall finding weighs (the first, then after idle) */

struct nb_finding {
	enum nb_finding_kind kind;
	char text[400]; /* "hvB: lost in the tap ring of vnet0 (queue 0 full 12 times, ...): ..." */
	/* NB_FIND_UPCALL: the packets it names (echo seqs, datagram IP-IDs), their time in the
	 * node, the later packets' median */
	uint32_t n_seqs;
	uint32_t seqs[NB_UPCALL_MAX_CAND];
	uint64_t lat_ns[NB_UPCALL_MAX_CAND];
	uint64_t later_p50_ns;
};

/* "ring_loss", "ring_other", "ring_delay", "upcall" ("none"). */
const char *nb_finding_kind_name(enum nb_finding_kind k);

/*
 * The findings a tun ring MONITOR report supports for the node, at most max into out; returns
 * how many. None when the monitor was not attached, is not "tun_ring", or saw nothing amiss
 * (no FULL event, no FULL_RING drop, no long wait).
 */
int nb_ring_findings(const struct nb_msg_monitor *m, const struct nb_ring_facts *f,
		     struct nb_finding *out, int max);

/*
 * Open vSwitch's slow path in a trace (docs/ARCHITECTURE.md, "Monitors in the blame"): a flow's
 * first packet, and its first after the datapath flow's max-idle (10 s), misses the datapath's
 * flow table and waits for ovs-vswitchd to decide (an upcall); later packets take the fast
 * path. The trace feeds each packet of one flow with its time inside the node; a candidate
 * (first, or first after idle) far above the median of the later packets is the upcall's.
 */
#define NB_UPCALL_IDLE_NS	 10000000000ull
#define NB_UPCALL_FACTOR	 4	/* "far above": this many times the later packets' median */
#define NB_UPCALL_MIN_EXCESS_NS 100000ull /* and at least this much above it */
#define NB_UPCALL_MIN_LATER	 2	/* later packets needed for a median */
#define NB_UPCALL_LAT_UNKNOWN	 UINT64_MAX /* its stages in the node were not both seen */

struct nb_upcall_cand {
	uint32_t seq;
	uint64_t ts;	 /* its first stage, reference clock */
	uint64_t lat_ns; /* inside the node, or NB_UPCALL_LAT_UNKNOWN */
	bool first;	 /* the flow's first packet in the trace (else: first after idle) */
};

struct nb_upcall_acc {
	bool any;
	uint64_t first_ts, last_ts;
	uint32_t n_cand;
	struct nb_upcall_cand cand[NB_UPCALL_MAX_CAND]; /* cand[0] is the first when n_cand */
	uint64_t cand_dropped; /* candidates past NB_UPCALL_MAX_CAND: not weighed */
	struct nb_hist later;  /* the other packets' time in the node */
};

void nb_upcall_acc_init(struct nb_upcall_acc *a);
/*
 * A packet of the flow with a final status, in any order: ts its first stage's time, lat_ns
 * its time inside the node (NB_UPCALL_LAT_UNKNOWN: not known; it still marks the flow busy).
 */
void nb_upcall_see(struct nb_upcall_acc *a, uint64_t ts, uint32_t seq, uint64_t lat_ns);
/*
 * The finding for node (0 or 1 into out, max >= 1): none unless ovs (the node switches with
 * Open vSwitch), there are NB_UPCALL_MIN_LATER later packets, and a candidate is far above
 * their median. what names the unit ("echo", "datagram"), id_name its number ("seq", "IP-ID").
 */
int nb_upcall_findings(const struct nb_upcall_acc *a, const char *node, bool ovs, const char *what,
		       const char *id_name, struct nb_finding *out, int max);

#endif /* NB_EVIDENCE_H */
