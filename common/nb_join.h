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
	NB_FINAL_TIMEOUT = 2,	 /* watermarks passed the deadline (see nb_join_poll) */
	NB_FINAL_FLUSH = 3,	 /* nb_join_flush() at the end of a run */
	NB_FINAL_EVICTED = 4,	 /* max_inflight reached; the oldest packet was pushed out */
	/*
	 * Its key came back more than cfg.reuse_ns after first_ts_ref while it was still held
	 * (a silent node kept it and ICMP seq wrapped): that is another packet, which starts
	 * afresh; this one had not been cleared by the watermarks.
	 */
	NB_FINAL_REUSED = 5,
};

struct nb_joined {
	struct nb_key key;
	int nstages;
	struct nb_stage_obs st[NB_MAX_STAGES];
	int highest;	     /* highest stage index seen */
	int next_due;	     /* highest + 1, or -1 when the last stage was seen */
	int incomplete_node; /* owner of next_due if its evidence has a gap in the window; or -1 */
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
	/*
	 * Keys recur: ICMP seq wraps every 65536 packets. An observation more than reuse_ns
	 * after the first_ts_ref of the packet holding or last holding its key is a new packet;
	 * one more than reuse_ns before it is a straggler of an older one (late). Set it to at
	 * least the timeout (EINVAL otherwise) and below the wrap period (e.g. half of 65536
	 * send intervals). 0 = off: keys are told apart only by leaving the recent ring.
	 */
	uint64_t reuse_ns;
};

struct nb_join_stats {
	uint64_t events;   /* observations accepted (dups included, late ones not) */
	uint64_t packets;  /* packets created */
	uint64_t finals;   /* packets finalised */
	uint64_t dups;	   /* duplicate stage observations */
	uint64_t late;	   /* observations for an already finalised packet */
	uint64_t evicted;  /* packets finalised early because max_inflight was reached */
	uint64_t inflight; /* packets held now */
	uint64_t peak_inflight;
};

/*
 * Called once per final packet. p is valid only during the call (copy what you keep).
 * Runs inside nb_join_add, nb_join_poll and nb_join_flush while the engine is mid-update, so it
 * must not call back into the engine: those three return -EBUSY if it does, and
 * nb_join_destroy from the callback is undefined.
 */
typedef void (*nb_join_cb)(const struct nb_joined *p, void *ctx);

struct nb_join;

/* Returns NULL with errno set (EINVAL for a bad cfg, ENOMEM). */
struct nb_join *nb_join_new(const struct nb_join_cfg *cfg, nb_join_cb cb, void *ctx);
/* Accepts NULL; nulls the caller's pointer. Does not emit what is in flight. */
void nb_join_destroy(struct nb_join **pj);

/*
 * One observation. May call the callback (last stage seen, or eviction).
 * A repeat of a seen stage is a dup: the earlier ts_ref of the two is kept. Every finalised
 * key (whatever the why) is remembered in a ring of cfg.recent keys; observations of it are
 * counted as late and dropped until it leaves the ring (or, with cfg.reuse_ns, until they come
 * later than that after its first_ts_ref), after which the key is a new packet (ICMP seq wrap).
 * With cfg.reuse_ns, an observation that far after a held packet's first_ts_ref finalises it
 * (TIMEOUT if its deadline had passed, else REUSED) and starts a new packet. When max_inflight
 * packets are held, packets already due are finalised as TIMEOUT first, and only if none was due
 * the oldest is EVICTED. Returns 0, -EINVAL for a stage out of range, -EBUSY from inside the
 * callback.
 */
int nb_join_add(struct nb_join *j, const struct nb_key *key, int stage, uint64_t ts,
		uint64_t ts_ref, uint32_t ifindex, uint64_t aux);

/*
 * Node's evidence is complete up to ts_ref: every event before it has been added. Monotonic:
 * a lower value is ignored. Returns 0, or -EINVAL for a node out of range.
 */
int nb_join_watermark(struct nb_join *j, int node, uint64_t ts_ref);

/*
 * Node's evidence is incomplete in [from_ref, to_ref]: events lost, agent gone
 * (to_ref = NB_TS_INF, which also lifts its watermark to infinity), or not yet attached.
 * Kept in a short list per node; when it is full the two oldest intervals merge into one,
 * which can only widen a taint. Returns 0, or -EINVAL for a bad node or from_ref > to_ref.
 */
int nb_join_taint(struct nb_join *j, int node, uint64_t from_ref, uint64_t to_ref);

/*
 * Finalise packets whose time is up; call after watermarks advance. Callbacks come in
 * first_ts_ref order among the packets of one call (a complete packet that waited for another
 * node's earlier stages goes by its last stage's time). Returns how many, or -EBUSY.
 */
int nb_join_poll(struct nb_join *j);

/*
 * Finalise everything in flight in first_ts_ref order (why = FLUSH unless the timeout had
 * also passed). Returns how many, or -EBUSY.
 */
int nb_join_flush(struct nb_join *j);

void nb_join_get_stats(const struct nb_join *j, struct nb_join_stats *out);

#endif /* NB_JOIN_H */
