// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define S_ICMP_ECHO	   8
#define S_ICMP_ECHOREPLY   0
#define S_ICMP6_ECHO	   128
#define S_ICMP6_ECHOREPLY  129

static bool s_in(const uint32_t *set, uint32_t n, uint32_t ifindex)
{
	for (uint32_t i = 0; i < n; i++)
		if (set[i] == ifindex)
			return true;
	return false;
}

static bool s_addr_eq(const uint8_t *a, const uint8_t *b, uint8_t family)
{
	return memcmp(a, b, family == 4 ? 4 : 16) == 0;
}

/*
 * 1: request direction (src -> dst), 0: reply direction, -1: neither. A UDP fragment after the
 * first carries no ports: it goes by its addresses, and nb_udp keeps its group only when the
 * first fragment matched the ports.
 */
static int s_direction(const struct nb_flow_spec *s, const struct nb_pkt *p)
{
	bool portless = p->proto == IPPROTO_UDP && p->frag_off;

	if (s_addr_eq(p->saddr, s->src, s->family) && s_addr_eq(p->daddr, s->dst, s->family)) {
		if (portless ||
		    ((!s->sport || p->sport == s->sport) && (!s->dport || p->dport == s->dport)))
			return 1;
	}
	if (s_addr_eq(p->saddr, s->dst, s->family) && s_addr_eq(p->daddr, s->src, s->family)) {
		if (portless ||
		    ((!s->sport || p->dport == s->sport) && (!s->dport || p->sport == s->dport)))
			return 0;
	}
	return -1;
}

int nb_flow_stage(const struct nb_flow_spec *s, const struct nb_event *e, struct nb_key *key)
{
	const struct nb_pkt *p = &e->pkt;
	int dir;

	if (e->type != NB_EV_PKT || p->family != s->family || p->proto != s->proto)
		return -1;
	dir = s_direction(s, p);
	if (dir < 0)
		return -1;

	memset(key, 0, sizeof(*key));
	key->proto = p->proto;
	switch (p->proto) {
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		uint8_t want = dir ? (s->family == 4 ? S_ICMP_ECHO : S_ICMP6_ECHO)
				   : (s->family == 4 ? S_ICMP_ECHOREPLY : S_ICMP6_ECHOREPLY);

		if (p->frag_off || p->icmp_type != want)
			return -1;
		key->k1 = p->icmp_id;
		key->k2 = p->icmp_seq;
		break;
	}
	case IPPROTO_TCP:
		/* segments are byte ranges (nb_tcp): the key only names the connection */
		if (p->frag_off)
			return -1;
		key->k1 = dir ? (uint32_t)p->sport << 16 | p->dport
			      : (uint32_t)p->dport << 16 | p->sport;
		break;
	case IPPROTO_UDP:
		/* a fragment: the datagram is its IP ID, the fragment its offset (nb_udp) */
		key->k1 = p->ip_id;
		key->k2 = p->frag_off;
		break;
	default:
		return -1;
	}

	if (e->hook == NB_HOOK_RX) {
		if (dir && s_in(s->rx_if, s->n_rx, e->ifindex))
			return NB_REQ_RX;
		if (!dir && s_in(s->tx_if, s->n_tx, e->ifindex))
			return NB_REP_RX;
	} else if (e->hook == NB_HOOK_TX) {
		if (dir && s_in(s->tx_if, s->n_tx, e->ifindex))
			return NB_REQ_TX;
		if (!dir && s_in(s->rx_if, s->n_rx, e->ifindex))
			return NB_REP_TX;
	}
	return -1;
}

void nb_flow_filter(const struct nb_flow_spec *s, uint32_t netns, struct nb_filter *f)
{
	uint32_t n = 0;

	memset(f, 0, sizeof(*f));
	f->netns = netns;
	for (uint32_t i = 0; i < s->n_rx && n < NB_MAX_IFS; i++)
		f->ifindex[n++] = s->rx_if[i];
	for (uint32_t i = 0; i < s->n_tx && n < NB_MAX_IFS; i++)
		if (!s_in(f->ifindex, n, s->tx_if[i]))
			f->ifindex[n++] = s->tx_if[i];
	f->n_ifindex = n;
	f->family = s->family;
	f->proto = s->proto;
	f->bidir = 1;
	f->has_saddr = 1;
	f->has_daddr = 1;
	memcpy(f->saddr, s->src, NB_ADDR_LEN);
	memcpy(f->daddr, s->dst, NB_ADDR_LEN);
	f->sport = s->sport;
	f->dport = s->dport;
}

int nb_addr_parse(const char *str, uint8_t out[NB_ADDR_LEN], uint8_t *family)
{
	memset(out, 0, NB_ADDR_LEN);
	if (inet_pton(AF_INET, str, out) == 1) {
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, str, out) == 1) {
		*family = 6;
		return 0;
	}
	return -EINVAL;
}

const char *nb_addr_fmt(const uint8_t a[NB_ADDR_LEN], uint8_t family, char *buf, size_t len)
{
	/*
	 * IPv4 by hand, as inet_ntop writes it: the path tracers print two addresses per packet
	 * line, and inet_ntop's sprintf was a tenth of their time at a TCP transfer's rate.
	 */
	if (family != 6 && len >= INET_ADDRSTRLEN) {
		char *p = buf;

		for (int i = 0; i < 4; i++) {
			if (a[i] >= 100)
				*p++ = (char)('0' + a[i] / 100);
			if (a[i] >= 10)
				*p++ = (char)('0' + a[i] / 10 % 10);
			*p++ = (char)('0' + a[i] % 10);
			*p++ = i < 3 ? '.' : '\0';
		}
		return buf;
	}
	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

int nb_iflist_split(const char *list, char names[][16], int max)
{
	int n = 0;
	const char *p = list;

	while (1) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (l == 0 || l >= 16)
			return -EINVAL;
		if (n >= max)
			return -E2BIG;
		memcpy(names[n], p, l);
		names[n][l] = 0;
		n++;
		if (!c)
			break;
		p = c + 1;
	}
	return n;
}
