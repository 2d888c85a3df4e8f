/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * UDP datagrams joined by IP ID, over the join engine.
 *
 * Every fragment is a packet of its own for the engine (key: IP ID and fragment offset), so
 * watermarks, taint and timeouts are the engine's, per fragment. A datagram is the group of the
 * fragments with one IP ID; it is reported when all of them are final and either they cover it
 * whole (the first and the last fragment, no gap) or the timeout has passed since its first
 * fragment was seen. Ports live only in the first fragment: the later ones reach this module on
 * their addresses, and a group whose first fragment never matched the flow's ports is not
 * reported (it belongs to another flow between the same hosts).
 *
 * A UDP reply cannot be tied to its request from headers (DNS ids live in the payload, many
 * protocols never reply), so the reverse flow's datagrams are packets of their own, traced
 * through the reply stages: with 4 stages (one host) datagrams src -> dst pass REQ_RX REQ_TX and
 * those dst -> src REP_RX REP_TX; with 8 (two hosts) A0 A1 B0 B1 and B2 B3 A2 A3. Hence no
 * EXTERNAL_DROP for UDP: each direction is judged on its own stages.
 *
 * Status of a datagram: COMPLETE when every fragment passed every stage of its direction. When
 * some fragment stopped after stage L (and its evidence is whole), the drop status of L (one
 * host: INTERNAL_DROP; two hosts: the chain's, e.g. NETWORK_DROP_REQ), except that on one host
 * a datagram of which only some fragments were lost is PARTIAL_FRAGMENT_DROP. Fragments never
 * seen at all (lost before the first stage) make it PARTIAL_FRAGMENT_DROP on one host and
 * INCONCLUSIVE across two (nothing traced lost them). Otherwise INCONCLUSIVE.
 *
 * IPv6: only fragments carry an ID (the fragment header's 32-bit identification), so only
 * fragmented datagrams are traced; an unfragmented one has nothing to tell it from the next and
 * is counted in unidentified (once, at its direction's first stage), never reported.
 *
 * Limits: IP IDs must not repeat within the timeout (65536 datagrams per timeout and
 * direction; IPv6 IDs whose low 16 bits agree count as one there); IPv4 datagrams sent with
 * ID 0 cannot be told apart.
 */
#ifndef NB_UDP_H
#define NB_UDP_H

#include <stdbool.h>
#include <stdint.h>

#include "nb_blame.h"
#include "nb_event.h"
#include "nb_join.h"

#define NB_UDP_MAX_FRAGS 128

/* What every UDP trace of IPv6 addresses says when it starts. */
#define NB_UDP_IPV6_NOTE                                                                           \
	"UDP over IPv6: only fragmented datagrams carry an ID (the fragment header's); "           \
	"unfragmented ones cannot be told apart, so they are counted, not traced"

struct nb_udp_cfg {
	int nstages; /* 4 or 8 */
	int nnodes;
	uint8_t stage_node[NB_MAX_STAGES];
	uint64_t timeout_ns;
	bool ports; /* the flow names a port: report only groups whose first fragment matched it */
	uint32_t max_groups; /* datagrams open at once; 0 = 4096, at most 2^30 */
	/*
	 * A whole datagram is reported once every node's watermark is this far past its last
	 * stage (0: at once), so that a drop of it after that stage (its last node's transmit:
	 * a full tap ring) has arrived when the status is refined.
	 */
	uint64_t hold_ns;
};

/* One datagram with a final status. Valid only during the callback. */
struct nb_udp_dgram {
	/*
	 * Its direction's stages: seen when any fragment was, at the earliest fragment's time; aux
	 * is the number of fragments seen there. next_due is the first stage after the drop. The
	 * key is its first fragment's (IP ID, offset 0), as nb_flow_stage gives it.
	 */
	const struct nb_joined *p;
	enum nb_status status;
	bool reverse; /* dst -> src */
	uint32_t ip_id;
	bool have_ports; /* its first fragment was seen */
	uint16_t sport, dport;
	uint32_t
	    bytes; /* IP payload of the whole datagram; 0 when its last fragment was not seen */
	uint16_t frags; /* fragments it had: those seen, plus an estimate of those never seen */
	uint16_t frags_at[NB_MAX_STAGES]; /* fragments seen at each chain stage */
	uint16_t lost;			  /* fragments that did not reach its last stage */
	int8_t lost_from;		  /* first chain stage that lacked some; -1 none */
	bool partial;			  /* some fragments went further than others */
};

typedef void (*nb_udp_cb)(const struct nb_udp_dgram *d, void *ctx);

struct nb_udp_stats {
	uint64_t datagrams;    /* reported */
	uint64_t open;	       /* groups not reported yet */
	uint64_t fragments;    /* distinct fragments seen */
	uint64_t late;	       /* observations of a datagram already reported */
	uint64_t unattributed; /* groups whose first fragment never matched the ports */
	uint64_t evicted;      /* groups reported early because max_groups were open */
	uint64_t too_many;     /* fragments beyond NB_UDP_MAX_FRAGS in one group */
	uint64_t unidentified; /* IPv6 datagrams without a fragment header (no ID), not traced */
};

struct nb_udp;

/* Returns NULL with errno set. The callback must not call back into this nb_udp. */
struct nb_udp *nb_udp_new(const struct nb_udp_cfg *cfg, nb_udp_cb cb, void *ctx);
void nb_udp_destroy(struct nb_udp **pu);

/* One fragment (or whole datagram) at a chain stage. Returns 0 or -EINVAL / -EBUSY. */
int nb_udp_add(struct nb_udp *u, const struct nb_pkt *p, int stage, uint64_t ts, uint64_t ts_ref,
	       uint32_t ifindex);
int nb_udp_watermark(struct nb_udp *u, int node, uint64_t ts_ref);
int nb_udp_taint(struct nb_udp *u, int node, uint64_t from_ref, uint64_t to_ref);
int nb_udp_poll(struct nb_udp *u);
int nb_udp_flush(struct nb_udp *u);
void nb_udp_get_stats(const struct nb_udp *u, struct nb_udp_stats *out);

#endif /* NB_UDP_H */
