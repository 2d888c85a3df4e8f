/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Statuses and blame: what a joined packet means, and what a run's counts mean.
 * Pure functions over struct nb_joined; see docs/ARCHITECTURE.md "Stages and blame".
 */
#ifndef NB_BLAME_H
#define NB_BLAME_H

#include <stdbool.h>

#include "nb_join.h"

enum nb_status {
	NB_ST_COMPLETE = 0,
	/* single host, 4 stages: REQ_RX REQ_TX REP_RX REP_TX */
	NB_ST_INTERNAL_DROP_REQ,
	NB_ST_EXTERNAL_DROP,
	NB_ST_INTERNAL_DROP_REP,
	/* two hosts, chain A0 A1 B0 B1 B2 B3 A2 A3 */
	NB_ST_A_INTERNAL_DROP_REQ,
	NB_ST_NETWORK_DROP_REQ,
	NB_ST_B_INTERNAL_DROP_REQ,
	NB_ST_DEST_NO_REPLY,
	NB_ST_B_INTERNAL_DROP_REP,
	NB_ST_NETWORK_DROP_REP,
	NB_ST_A_INTERNAL_DROP_REP,
	/* evidence incomplete: never blamed */
	NB_ST_INCONCLUSIVE,
	/* single host, UDP (one direction per datagram): seen at RX, not at TX */
	NB_ST_INTERNAL_DROP,
	/* single host, UDP: some of a datagram's fragments were lost, not all */
	NB_ST_PARTIAL_FRAGMENT_DROP,
	NB_ST__COUNT,
};

enum nb_blame {
	NB_BLAME_NONE = 0,
	NB_BLAME_NETWORK,
	NB_BLAME_NODE_A,
	NB_BLAME_NODE_B,
	NB_BLAME_DEST,
	NB_BLAME_LOCAL,	       /* single host: this node */
	NB_BLAME_EXTERNAL,     /* single host: beyond tx-iface */
	NB_BLAME_INCONCLUSIVE, /* evidence incomplete */
	NB_BLAME__COUNT,
};

enum nb_verdict {
	NB_VERDICT_HEALTHY = 0,
	NB_VERDICT_NETWORK,
	NB_VERDICT_NODE_A,
	NB_VERDICT_NODE_B,
	NB_VERDICT_DEST,
	NB_VERDICT_INCONCLUSIVE,
};

/* Stage names: "REQ_RX".."REP_TX" for 4 stages, "A0".."A3","B0".."B3" for the chain. */
const char *nb_stage_name_local(int stage);
const char *nb_stage_name_chain(int stage);

/* Status of a final packet on one host (nstages == 4) and across two hosts (nstages == 8). */
enum nb_status nb_status_local(const struct nb_joined *p);
enum nb_status nb_status_chain(const struct nb_joined *p);

const char *nb_status_name(enum nb_status s);
/* Returns -1 for an unknown name. */
int nb_status_from_name(const char *name);
enum nb_blame nb_status_blame(enum nb_status s);
/* Direction of a drop status: "request", "reply" or NULL. */
const char *nb_status_direction(enum nb_status s);

/*
 * Copies of TCP segments that were lost and recovered by retransmission, per blame class, in
 * the data ([0], "request direction") and the ACK ([1]) direction: a segment that got through in
 * the end is COMPLETE, but its lost copies are losses all the same.
 */
struct nb_recovered {
	uint64_t copies[NB_BLAME__COUNT][2];
};

/*
 * Verdict of a two-host run from counts per status and the copies recovered (NULL: none): the
 * blame class with the most packets or copies lost; HEALTHY only when nothing was lost;
 * INCONCLUSIVE when incomplete evidence is at least as common as the largest blame class.
 */
enum nb_verdict nb_verdict_of(const uint64_t counts[NB_ST__COUNT], const struct nb_recovered *rec);
/*
 * The verdict of a run that lost part of a node's evidence (e.g. the node was away for a while):
 * packets no node saw then are in no count, so such a run is never HEALTHY. v is kept when the
 * packets judged prove a fault (or already say INCONCLUSIVE).
 */
enum nb_verdict nb_verdict_evidence(enum nb_verdict v, bool evidence_lost);
/*
 * Blind hooks. A delivered (COMPLETE) packet that lacks a stage went through a hook that did
 * not see it: events lost, or the hook is not on every packet's path (a bond slave or port not
 * traced). A drop is placed by the absence of the next stage, so where that stage's hook is
 * blind the same absence may be the blind spot, not a drop. Per stage: delivered packets
 * that lacked it, and drops placed by its absence (status from the chain table, not refined
 * by drop evidence). The stage is suspect when those drops are no more than twice what its
 * blind rate on delivered packets predicts for the packets that reached it.
 */
struct nb_blind {
	int nstages; /* 0 until the first packet */
	uint64_t delivered;
	uint64_t unseen[NB_MAX_STAGES];
	uint64_t resting[NB_MAX_STAGES];
};

void nb_blind_add(struct nb_blind *b, const struct nb_joined *p, enum nb_status st);
bool nb_blind_suspect(const struct nb_blind *b, int stage);
/*
 * v, or INCONCLUSIVE when v's class rests on the absence of a suspect stage; *stage (may be
 * NULL) gets that stage or -1.
 */
enum nb_verdict nb_verdict_blind(enum nb_verdict v, const struct nb_blind *b, int *stage);
const char *nb_verdict_name(enum nb_verdict v);
/*
 * Exit code (docs/ARCHITECTURE.md): 0 HEALTHY, 10 NETWORK, 11 NODE_A, 12 NODE_B, 13 DEST,
 * 15 INCONCLUSIVE.
 */
int nb_verdict_exit_code(enum nb_verdict v);
/*
 * "NETWORK: 3 (request 2, reply 1); NODE_B: 1 (request 1)" into buf; "none" when healthy.
 * Recovered copies follow their class's packets: "NETWORK: 28 lost copies recovered by
 * retransmission (request direction)", or "NODE_B: 1 (request 1), 5 lost copies recovered by
 * retransmission (request 3, ACK direction 2)". Returns the length that was needed (snprintf
 * semantics).
 */
int nb_verdict_detail(const uint64_t counts[NB_ST__COUNT], const struct nb_recovered *rec,
		      char *buf, size_t len);

/*
 * snprintf onto the end of what buf holds so far; *off counts what was needed, so a detail
 * string that did not fit still reports its full length (snprintf semantics).
 */
void nb_appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* NB_BLAME_H */
