/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * TCP segments joined by byte ranges, over the join engine.
 *
 * TSO, GSO and GRO split and merge a stream differently at every stage, so skbs cannot be
 * matched one to one. Instead, per connection and data stage, the bytes seen are kept as ranges
 * with copy counts in a 64-bit sequence space unwrapped from the first sequence number seen, and
 * per reply stage the ACKs seen. The unit reported is the segment as first seen at the first data
 * stage (only the bytes never seen there before: a retransmission is another copy, not another
 * segment). A segment passes a data stage when all its bytes have been seen there, and a reply
 * stage when an ACK covering its end has. Those passes go to the join engine as the segment's
 * stage observations, so watermarks, taint, timeouts and statuses are the engine's.
 *
 * Stages are chain indices: with 4 stages (one host) 0 REQ_RX and 1 REQ_TX carry data, 2 REP_RX
 * and 3 REP_TX carry its ACKs; with 8 (two hosts) A0 A1 B0 B1 carry data and B2 B3 A2 A3 ACKs.
 *
 * ACKs are cumulative, so one ACK passes every segment it covers and a lost ACK is no loss while
 * a later one covers the same bytes. Behind a hole (a segment that has not reached the receiver)
 * the receiver's ACK stays at the hole, and SACK options are not parsed:
 *  - with dup_acks (two hosts, where the last data stage is the receiver's own port), a segment
 *    behind a hole that passed every data stage passes a reply stage on a duplicate ACK there
 *    (the third ACK with the same value and no payload, as TCP's own fast retransmit counts)
 *    seen after it passed the stage before: the receiver answered after it had the segment;
 *  - otherwise (one host: between its last data stage and the receiver the segment may still be
 *    lost, and the duplicates may answer other segments) a segment whose first reply stage never
 *    saw an ACK covering it while the ACK there stayed below its first byte is reported with
 *    ack_held: its fate is hidden behind an earlier loss, so it is never blamed (INCONCLUSIVE).
 * Either way the earliest unacknowledged segment, the hole itself, gets the drop.
 *
 * Copies: a range seen twice at a stage and once at the next means one copy was lost between
 * them. A copy the sender sent although an earlier one got through is spurious: the copies at
 * the first stage beyond the first, less those lost. A spurious copy is placed where the ACK
 * that would have stopped it was lost: between two reply stages where an ACK covering it passed
 * the first well before the last copy, and the second only after it (or a later ACK was the
 * first to pass the second).
 *
 * A segment is reported only when its counts are final, whatever order the nodes' events come
 * in and however early its stages passed (a segment behind a hole passes on duplicate ACKs
 * before its own ACK is even sent): the sender retransmits a segment until an ACK covering it
 * reaches it, so no more copies come once the watermarks have passed, by the timeout, both the
 * last reply stage's first ACK covering the segment and its last copy at the first stage. A
 * segment never so acknowledged is given up 2 timeouts (at least a second) after its last copy.
 *
 * Pure logic: no BPF, no sockets, no printing, no clocks of its own.
 */
#ifndef NB_TCP_H
#define NB_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include "nb_event.h"
#include "nb_join.h"

#define NB_TCP_MAX_DATA (NB_MAX_STAGES / 2)

struct nb_tcp_cfg {
	int nstages; /* 4 (one host) or 8 (two hosts); the first half carry data */
	int nnodes;
	uint8_t stage_node[NB_MAX_STAGES];
	uint64_t timeout_ns;
	/*
	 * How far apart two nodes' clocks may be: a duplicate ACK this much before a segment
	 * passed the stage before still counts as after it. 0 on one host.
	 */
	uint64_t slack_ns;
	bool dup_acks;	       /* duplicate ACKs behind a hole pass reply stages (above) */
	uint32_t max_conns;    /* connections tracked at once; 0 = 1024 */
	uint32_t max_inflight; /* segments held by the engine; 0 = its default */
	uint32_t max_ranges;   /* byte ranges per connection and stage; 0 = 262144 */
};

/* One segment with a final status. Valid only during the callback. */
struct nb_tcp_seg {
	/* Stages as joined: aux of a reply stage is the 32-bit ACK that passed it. */
	const struct nb_joined *p;
	uint16_t sport, dport; /* of the data direction */
	uint32_t seq;	       /* sequence number of its first byte, as on the wire */
	uint32_t len;
	uint64_t offset; /* its first byte from the first sequence number seen on the connection */
	int ndata;	 /* data stages: 2 or 4 */
	uint32_t copies[NB_TCP_MAX_DATA];   /* most copies of any of its bytes at each data stage */
	uint32_t lost[NB_TCP_MAX_DATA - 1]; /* copies lost between data stage i and i + 1 */
	/*
	 * Copies missing at stage i + 1 while its node was tainted (not attached yet, away):
	 * no evidence of a loss, so not in lost[i]; counted here instead.
	 */
	uint32_t unjudged[NB_TCP_MAX_DATA - 1];
	uint32_t spurious; /* copies sent although an earlier one got through */
	/*
	 * The spurious copies by where the ACK that would have stopped them was lost: [r] between
	 * reply stages r - 1 and r (chain indices ndata + r - 1 and ndata + r); [0] no such loss
	 * was seen (the sender's own timer, or, on one host, a loss beyond it).
	 */
	uint32_t spurious_at[NB_TCP_MAX_DATA];
	uint8_t dup_acked; /* bit per chain stage passed on a duplicate ACK behind a hole */
	/* no ACK covering it reached the first reply stage and the ACK there stayed below it */
	bool ack_held;
};

typedef void (*nb_tcp_cb)(const struct nb_tcp_seg *s, void *ctx);

struct nb_tcp_stats {
	uint64_t segments;   /* segments created */
	uint64_t reported;   /* segments handed to the callback */
	uint64_t inflight;   /* segments not yet reported */
	uint64_t conns;	     /* connections tracked now */
	uint64_t late;	     /* data events only about bytes already reported */
	uint64_t untracked;  /* events of connections beyond max_conns */
	uint64_t overflow;   /* data events beyond max_ranges (their node is tainted) */
	uint64_t dup_passes; /* reply stages passed on a duplicate ACK */
	uint64_t given_up;   /* held segments reported without an ACK covering them (above) */
	uint64_t early;	     /* reported before their copies were final: max_inflight held */
};

struct nb_tcp;

/*
 * Returns NULL with errno set (EINVAL for a bad cfg, ENOMEM). The callback runs inside
 * nb_tcp_add, nb_tcp_poll and nb_tcp_flush and must not call back into this nb_tcp.
 */
struct nb_tcp *nb_tcp_new(const struct nb_tcp_cfg *cfg, nb_tcp_cb cb, void *ctx);
/* Accepts NULL; nulls the caller's pointer. Reports nothing. */
void nb_tcp_destroy(struct nb_tcp **pt);

/*
 * One packet of the connection at a chain stage. Data stages use seq and l4_len (pure ACKs and
 * SYNs are no segments); reply stages use the ACK of pure and data packets alike. A SYN with a
 * new initial sequence number starts the connection afresh. Returns 0 or -EINVAL.
 */
int nb_tcp_add(struct nb_tcp *t, const struct nb_pkt *p, int stage, uint64_t ts, uint64_t ts_ref,
	       uint32_t ifindex);

/* As nb_join_watermark, nb_join_taint, nb_join_poll and nb_join_flush. */
int nb_tcp_watermark(struct nb_tcp *t, int node, uint64_t ts_ref);
int nb_tcp_taint(struct nb_tcp *t, int node, uint64_t from_ref, uint64_t to_ref);
int nb_tcp_poll(struct nb_tcp *t);
int nb_tcp_flush(struct nb_tcp *t);

void nb_tcp_get_stats(const struct nb_tcp *t, struct nb_tcp_stats *out);

#endif /* NB_TCP_H */
