// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_pktfmt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

bool nb_pkt_has_ports(const struct nb_pkt *p)
{
	return (p->family == 4 || p->family == 6) &&
	       (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) && p->frag_off == 0;
}

const char *nb_pkt_proto(const struct nb_pkt *p, uint16_t ethertype, char *buf, size_t len)
{
	if (p->family == 4 || p->family == 6) {
		switch (p->proto) {
		case IPPROTO_TCP:
			snprintf(buf, len, "TCP");
			break;
		case IPPROTO_UDP:
			snprintf(buf, len, "UDP");
			break;
		case IPPROTO_ICMP:
			snprintf(buf, len, "ICMP");
			break;
		case IPPROTO_ICMPV6:
			snprintf(buf, len, "ICMPv6");
			break;
		default:
			snprintf(buf, len, "IP:%u", p->proto);
		}
	} else if (ethertype == NB_ETHERTYPE_ARP) {
		snprintf(buf, len, "ARP");
	} else {
		snprintf(buf, len, "0x%04x", ethertype);
	}
	return buf;
}

const char *nb_pkt_endpoint(const struct nb_pkt *p, uint16_t ethertype, bool src, char *buf,
			    size_t len)
{
	const uint8_t *a = src ? p->saddr : p->daddr;
	char ip[INET6_ADDRSTRLEN];

	if (p->family == 4 || (p->family == 0 && ethertype == NB_ETHERTYPE_ARP)) {
		inet_ntop(AF_INET, a, ip, sizeof(ip));
		if (p->family == 4 && nb_pkt_has_ports(p))
			snprintf(buf, len, "%s:%u", ip, src ? p->sport : p->dport);
		else
			snprintf(buf, len, "%s", ip);
	} else if (p->family == 6) {
		inet_ntop(AF_INET6, a, ip, sizeof(ip));
		if (nb_pkt_has_ports(p))
			snprintf(buf, len, "[%s]:%u", ip, src ? p->sport : p->dport);
		else
			snprintf(buf, len, "%s", ip);
	} else {
		snprintf(buf, len, "-");
	}
	return buf;
}
