/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Flow specification and stage classification: which of a node's four local stages an event
 * is (REQ_RX, REQ_TX, REP_RX, REP_TX), and its packet key. Pure logic, shared by the local
 * tools, the agent's remote sessions and the coordinator.
 */
#ifndef NB_FLOW_H
#define NB_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_event.h"
#include "nb_join.h"

enum nb_local_stage {
	NB_REQ_RX = 0,
	NB_REQ_TX = 1,
	NB_REP_RX = 2,
	NB_REP_TX = 3,
	NB_LOCAL_STAGES = 4,
};

struct nb_flow_spec {
	uint8_t family; /* 4 or 6 */
	uint8_t proto;	/* IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP */
	uint8_t src[NB_ADDR_LEN];
	uint8_t dst[NB_ADDR_LEN];
	uint16_t sport; /* 0 = any */
	uint16_t dport;
	uint32_t rx_if[NB_MAX_IFS];
	uint32_t n_rx;
	uint32_t tx_if[NB_MAX_IFS];
	uint32_t n_tx;
};

/*
 * Local stage of an event, and the packet key it belongs to. Returns the stage (0..3), or -1
 * when the event is not a stage of this flow (other protocol or direction, wrong interface).
 */
int nb_flow_stage(const struct nb_flow_spec *s, const struct nb_event *e, struct nb_key *key);

/* The in-kernel filter for a flow spec: its interfaces, protocol and address pair both ways. */
void nb_flow_filter(const struct nb_flow_spec *s, uint32_t netns, struct nb_filter *f);

/* Parse an IPv4 or IPv6 address. Returns 0 or -EINVAL. */
int nb_addr_parse(const char *str, uint8_t out[NB_ADDR_LEN], uint8_t *family);
/* Format an address into buf (at least 46 bytes); returns buf. */
const char *nb_addr_fmt(const uint8_t a[NB_ADDR_LEN], uint8_t family, char *buf, size_t len);

/*
 * Split a comma list of interface names into at most max entries, copying into names
 * (each IFNAMSIZ bytes). Returns the count, or -EINVAL (empty item, too long) / -E2BIG.
 */
int nb_iflist_split(const char *list, char names[][16], int max);

#endif /* NB_FLOW_H */
