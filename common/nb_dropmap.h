/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Drops in a trace, by packet. An agent's drop events (NB_EV_DROP) are classified to the
 * packet they killed with the same rules as its stage events, and kept in a bounded map from
 * (node, direction, packet key) to the drop, so a packet whose status is a drop inside a node
 * can carry that node's drop: reason, location, device and stack id.
 *
 * Pure: no I/O, no printing. Errors are negative errno.
 */
#ifndef NB_DROPMAP_H
#define NB_DROPMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_blame.h"
#include "nb_event.h"
#include "nb_flow.h"
#include "nb_join.h"

#define NB_DROP_REQ 1 /* the request direction (src -> dst) */
#define NB_DROP_REP 0

/* One drop as the agent reported it. */
struct nb_drop_obs {
	uint64_t ts;	 /* node clock */
	uint64_t ts_ref; /* reference clock */
	uint64_t location;
	uint32_t reason;
	uint32_t ifindex;
	int32_t stack_id;
};

/*
 * The packet key and direction of a drop event under a flow spec: NB_DROP_REQ, NB_DROP_REP,
 * or -1 when the event is not a drop of this flow's packets.
 */
int nb_drop_classify(const struct nb_flow_spec *s, const struct nb_event *e, struct nb_key *key);

/*
 * Where a status says the packet died inside a node: its node (0 = A, 1 = B) and direction.
 * false for every other status (complete, network, destination, inconclusive).
 */
bool nb_drop_site(enum nb_status st, int *node, int *dir);

struct nb_dropmap;

/* A map holding the newest cap drops (cap >= 1; rounded up to a power of two). */
struct nb_dropmap *nb_dropmap_new(uint32_t cap);

/*
 * Record a drop. A later drop for the same (node, dir, key) replaces the earlier (an ICMP
 * id/seq comes back after 65536 packets); when the map is full the oldest drop goes.
 */
void nb_dropmap_put(struct nb_dropmap *m, int node, int dir, const struct nb_key *key,
		    const struct nb_drop_obs *d);

/* The drop recorded for the packet, or NULL. */
const struct nb_drop_obs *nb_dropmap_get(const struct nb_dropmap *m, int node, int dir,
					 const struct nb_key *key);

/*
 * Classify a drop event to the packet it killed and record it under (node, its direction):
 * the direction, or -1 when the event is not of the traced flow. ts_ref: its time on the
 * reference clock.
 */
int nb_dropmap_put_event(struct nb_dropmap *m, int node, const struct nb_flow_spec *s,
			 const struct nb_event *e, uint64_t ts_ref);

/*
 * A packet last seen leaving a node (its transmit stage) and lost after it: if that node
 * freed the packet after that stage, the loss is the node's, not the network's or the
 * destination's. It happens where the transmit stage is taken before the device got the
 * packet: a qdisc or tc egress drop after a tcx egress hook, a full tun ring after
 * net_dev_start_xmit. Returns the status to report: st itself, or the node's internal drop,
 * with *drop (if drop is not NULL) the drop that decided it, else NULL.
 */
enum nb_status nb_dropmap_refine(const struct nb_dropmap *m, const struct nb_joined *p,
				 enum nb_status st, const struct nb_drop_obs **drop);

uint32_t nb_dropmap_count(const struct nb_dropmap *m);
/* Drops pushed out by newer ones because the map was full. */
uint64_t nb_dropmap_evicted(const struct nb_dropmap *m);

void nb_dropmap_free(struct nb_dropmap **pm);

#endif /* NB_DROPMAP_H */
