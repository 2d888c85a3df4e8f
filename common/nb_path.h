/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A traced flow's packets whatever the protocol: ICMP echoes (id, seq), UDP datagrams (nb_udp)
 * and TCP segments (nb_tcp), all over the one join engine and handed back in one shape, so the
 * single-host tools and the coordinator feed, judge and describe them the same way.
 *
 * Stages are chain indices: 4 on one host (REQ_RX REQ_TX REP_RX REP_TX), 8 across two
 * (A0 A1 B0 B1 B2 B3 A2 A3). For TCP the request stages carry data and the reply stages its
 * ACKs; for UDP they carry the datagrams of each direction.
 */
#ifndef NB_PATH_H
#define NB_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_blame.h"
#include "nb_event.h"
#include "nb_join.h"
#include "nb_tcp.h"
#include "nb_udp.h"

struct nb_path_cfg {
	uint8_t proto; /* IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP or IPPROTO_UDP */
	int nstages;   /* 4 or 8 */
	int nnodes;
	uint8_t stage_node[NB_MAX_STAGES];
	uint64_t timeout_ns;
	uint64_t slack_ns; /* TCP: clock uncertainty between nodes (see nb_tcp.h) */
	bool ports;	   /* UDP: the flow names a port (see nb_udp.h) */
	uint64_t hold_ns;  /* UDP: see nb_udp_cfg.hold_ns */
};

/* One unit with a final status. Valid only during the callback. */
struct nb_path_res {
	const struct nb_joined *p; /* its stages, in chain order */
	enum nb_status status;
	uint8_t proto;
	bool reverse; /* travels dst -> src (UDP reverse flow) */
	uint16_t icmp_id, icmp_seq;
	const struct nb_tcp_seg *tcp;	/* TCP only */
	const struct nb_udp_dgram *udp; /* UDP only */
};

typedef void (*nb_path_cb)(const struct nb_path_res *r, void *ctx);

struct nb_path_stats {
	uint64_t inflight;     /* units not final yet */
	uint64_t dups;	       /* ICMP: repeated observations of a stage */
	uint64_t late;	       /* observations of units already reported */
	uint64_t untracked;    /* TCP: events of connections beyond the limit */
	uint64_t overflow;     /* TCP: byte ranges beyond the limit (made INCONCLUSIVE) */
	uint64_t early;	       /* TCP: segments reported before their copies were final */
	uint64_t unattributed; /* UDP: fragment groups of other flows */
	uint64_t unidentified; /* UDP: IPv6 datagrams without an ID, not traced (nb_udp.h) */
};

struct nb_path;

/* Returns NULL with errno set. The callback must not call back into this nb_path. */
struct nb_path *nb_path_new(const struct nb_path_cfg *cfg, nb_path_cb cb, void *ctx);
void nb_path_destroy(struct nb_path **pp);

/*
 * An event at a chain stage; key is what nb_flow_stage gave for it, ts_ref its time on the
 * reference clock. Returns 0, -EINVAL or -EBUSY.
 */
int nb_path_add(struct nb_path *pp, const struct nb_event *e, const struct nb_key *key, int stage,
		uint64_t ts_ref);
/* As nb_join_watermark, nb_join_taint, nb_join_poll and nb_join_flush. */
int nb_path_watermark(struct nb_path *pp, int node, uint64_t ts_ref);
int nb_path_taint(struct nb_path *pp, int node, uint64_t from_ref, uint64_t to_ref);
int nb_path_poll(struct nb_path *pp);
int nb_path_flush(struct nb_path *pp);
void nb_path_get_stats(const struct nb_path *pp, struct nb_path_stats *out);

/*
 * A run's losses below the unit: TCP copies by place, UDP fragments. One implementation for the
 * single-host tools and the coordinator.
 */
struct nb_path_totals {
	uint64_t retransmitted;			   /* TCP segments seen more than once at stage 0 */
	uint64_t retransmitted_copies;		   /* TCP copies beyond the first at stage 0 */
	uint64_t lost_copies[NB_TCP_MAX_DATA - 1]; /* TCP, between data stage i and i + 1 */
	uint64_t unjudged_copies; /* TCP: missing where the next node was not attached or away */
	uint64_t spurious;			   /* TCP copies sent though one got through */
	uint64_t spurious_at[NB_TCP_MAX_DATA];	   /* by where their ACK was lost (nb_tcp.h) */
	/* Of COMPLETE segments: lost copies recovered, as the verdict counts them (below). */
	struct nb_recovered recovered;
	uint64_t lost_fragments; /* UDP, of datagrams with a verdict */
	uint64_t partial;	 /* UDP datagrams that lost some fragments, not all */
	uint64_t unidentified;	 /* UDP: IPv6 datagrams without an ID (set from nb_path_stats) */
};

/*
 * Adds one unit with a final status. The copies a COMPLETE segment lost were recovered: per
 * place, inside A (NODE_A), in the network, inside B (NODE_B) on two hosts, inside this host
 * (LOCAL) on one; in the data direction where a copy was lost, in the ACK direction where a
 * spurious copy's ACK was. On one host a copy sent again with no ACK back yet may have been lost
 * beyond it or be spurious: it counts as EXTERNAL.
 */
void nb_path_totals_add(struct nb_path_totals *tt, const struct nb_path_res *r);

/* Stage name for a chain of n stages: "REQ_RX".. for 4, "A0".. for 8. */
const char *nb_path_stage_name(int nstages, int stage);

/*
 * Why a unit is not COMPLETE, in a few words: "missing REQ_TX after 1000ms", "1 of 3 fragments
 * lost: 3 at REQ_RX, 2 at REQ_TX", "events lost or tracer not attached while B0 was due", ...;
 * "" when complete. Returns the length needed (snprintf semantics).
 */
int nb_path_detail(const struct nb_path_res *r, uint64_t timeout_ms, char *buf, size_t len);

#endif /* NB_PATH_H */
