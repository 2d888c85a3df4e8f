/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * How a packet of an event is shown to people: its protocol ("TCP", "ICMP", "ARP") and its
 * endpoints ("10.0.0.1:5201", "[2001:db8::1]:53", "10.0.0.1"). Shared by the drop tools and
 * the coordinator's report. Pure: formats into the caller's buffers.
 */
#ifndef NB_PKTFMT_H
#define NB_PKTFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_event.h"

#define NB_ETHERTYPE_ARP 0x0806

/* Does the packet carry ports (TCP/UDP, first fragment)? */
bool nb_pkt_has_ports(const struct nb_pkt *p);

/* "TCP", "UDP", "ICMP", "ICMPv6", "IP:47", "ARP", or the ethertype "0x88cc". */
const char *nb_pkt_proto(const struct nb_pkt *p, uint16_t ethertype, char *buf, size_t len);

/*
 * One endpoint: the source (src true) or destination, with its port when the packet has
 * ports. ARP shows the sender/target IPv4 address; other frames "-".
 */
const char *nb_pkt_endpoint(const struct nb_pkt *p, uint16_t ethertype, bool src, char *buf,
			    size_t len);

#endif /* NB_PKTFMT_H */
