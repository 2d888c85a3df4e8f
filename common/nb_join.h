/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The join engine: collects stage observations of the same packet (by key) from one or more
 * nodes and decides, with watermarks, when the packet's evidence is final.
 *
 * Pure logic: no BPF, no sockets, no printing, no clocks of its own. The single-host tools
 * (4 stages, 1 node) and the coordinator (8 stages, 2 nodes) use it alike; what a final
 * packet means (its status) is decided by nb_blame.
 *
 * Times: every call carries the node's own timestamp (ts, kept for output) and the same
 * instant on the reference clock (ts_ref = ts minus the node's estimated clock offset).
 * All decisions use ts_ref.
 */
#ifndef NB_JOIN_H
#define NB_JOIN_H

#include <stdbool.h>
#include <stdint.h>

#define NB_MAX_STAGES 8
#define NB_MAX_NODES  4
#define NB_TS_INF     UINT64_MAX

/* Packet identity inside one traced flow: ICMP {id, seq}; UDP {ip_id, 0}; ... */
struct nb_key {
	uint32_t proto;
	uint32_t k1;
	uint64_t k2;
};

struct nb_stage_obs {
	uint64_t ts;	 /* node clock */
	uint64_t ts_ref; /* reference clock */
	uint64_t aux;	 /* stage-specific extra (e.g. the ACK number) */
	uint32_t ifindex;
	uint8_t seen;
};

enum nb_final_why {
	NB_FINAL_LAST_STAGE = 1, /* the last stage of the chain was seen */
	NB_FINAL_TIMEOUT = 2,	 /* every node's watermark passed first_ts_ref + timeout */
	NB_FINAL_FLUSH = 3,	 /* nb_join_flush() at the end of a run */
	NB_FINAL_EVICTED = 4,	 /* max_inflight reached; the oldest packet was pushed out */
};

struct nb_joined {
	struct nb_key key;
	int nstages;
	struct nb_stage_obs st[NB_MAX_STAGES];
	int highest;	     /* highest stage index seen */
	int next_due;	     /* highest + 1, or -1 when the last stage was seen */
	int incomplete_node; /* owner of next_due if its evidence is incomplete in the window, else -1 */
	uint32_t dups;	     /* repeated observations of a stage already seen */
	uint64_t first_ts_ref;
	enum nb_final_why why;
};

struct nb_join_cfg {
	int nstages;
	int nnodes;
	uint8_t stage_node[NB_MAX_STAGES]; /* which node observes each stage */
	uint64_t timeout_ns;
	uint32_t max_inflight; /* bound on packets held; 0 = 65536 */
	uint32_t recent;       /* finalised keys remembered to recognise late events; 0 = 4096 */
};

struct nb_join_stats {
	uint64_t events;   /* observations accepted */
	uint64_t packets;  /* packets created */
	uint64_t finals;   /* packets finalised */
	uint64_t dups;	   /* duplicate stage observations */
	uint64_t late;	   /* observations for an already finalised packet */
	uint64_t evicted;  /* packets finalised early because max_inflight was reached */
	uint64_t inflight; /* packets held now */
	uint64_t peak_inflight;
};

typedef void (*nb_join_cb)(const struct nb_joined *p, void *ctx);

struct nb_join;

/* Returns NULL with errno set (EINVAL for a bad cfg, ENOMEM). */
struct nb_join *nb_join_new(const struct nb_join_cfg *cfg, nb_join_cb cb, void *ctx);
/* Accepts NULL; nulls the caller's pointer. Does not emit what is in flight. */
void nb_join_destroy(struct nb_join **pj);

/*
 * One observation. May call the callback (last stage seen, or eviction).
 * Returns 0, or -EINVAL for a stage out of range.
 */
int nb_join_add(struct nb_join *j, const struct nb_key *key, int stage, uint64_t ts,
		uint64_t ts_ref, uint32_t ifindex, uint64_t aux);

/* Node's evidence is complete up to ts_ref: every event before it has been added. Monotonic. */
void nb_join_watermark(struct nb_join *j, int node, uint64_t ts_ref);

/*
 * Node's evidence is incomplete in [from_ref, to_ref]: events lost, agent gone
 * (to_ref = NB_TS_INF, which also lifts its watermark to infinity), or not yet attached.
 */
void nb_join_taint(struct nb_join *j, int node, uint64_t from_ref, uint64_t to_ref);

/* Finalise packets whose time is up; call after watermarks advance. Returns how many. */
int nb_join_poll(struct nb_join *j);

/* Finalise everything in flight (why = FLUSH unless the timeout had also passed). */
int nb_join_flush(struct nb_join *j);

void nb_join_get_stats(const struct nb_join *j, struct nb_join_stats *out);

#endif /* NB_JOIN_H */
