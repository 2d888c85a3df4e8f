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

struct nb_finding {
	enum nb_finding_kind kind;
	char text[400]; /* "hvB: lost in the tap ring of vnet0 (queue 0 full 12 times, ...): ..." */
};

/* "ring_loss", "ring_other", "ring_delay" ("none"). */
const char *nb_finding_kind_name(enum nb_finding_kind k);

/*
 * The findings a tun ring MONITOR report supports for the node, at most max into out; returns
 * how many. None when the monitor was not attached, is not "tun_ring", or saw nothing amiss
 * (no FULL event, no FULL_RING drop, no long wait).
 */
int nb_ring_findings(const struct nb_msg_monitor *m, const struct nb_ring_facts *f,
		     struct nb_finding *out, int max);

#endif /* NB_EVIDENCE_H */
