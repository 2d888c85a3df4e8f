/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The one packet parser and in-kernel filter shared by every netblame BPF program.
 * Reads go through bpf_probe_read_kernel because tracing programs see skbs by pointer.
 */
#ifndef NB_PARSE_BPF_H
#define NB_PARSE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "nb_event.h"

#define NB_ETH_P_IP	0x0800
#define NB_ETH_P_IPV6	0x86DD
#define NB_ETH_P_ARP	0x0806
#define NB_ETH_P_8021Q	0x8100
#define NB_ETH_P_8021AD 0x88A8
#define NB_ARPHRD_ETHER 1
#define NB_IPPROTO_ICMPV6 58
#define NB_IP_MF	0x2000
#define NB_IP_OFFMASK	0x1fff

/* Namespace of the packet: its device's, else its socket's (transmit before a device is set). */
static __always_inline __u32 nb_netns_of(struct sk_buff *skb, struct net_device *dev)
{
	if (!dev)
		dev = BPF_CORE_READ(skb, dev);
	if (dev)
		return BPF_CORE_READ(dev, nd_net.net, ns.inum);
	struct sock *sk = BPF_CORE_READ(skb, sk);
	if (sk)
		return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return 0;
}

static __always_inline bool nb_ifindex_ok(const volatile struct nb_filter *f, __u32 ifindex)
{
	__u32 n = f->n_ifindex;

	if (n == 0)
		return true;
#pragma unroll
	for (int i = 0; i < NB_MAX_IFS; i++) {
		if (i < n && f->ifindex[i] == ifindex)
			return true;
	}
	return false;
}

static __always_inline int nb_parse_l4(unsigned char *l4, struct nb_pkt *p, __u32 l4_room)
{
	switch (p->proto) {
	case IPPROTO_ICMP:
	case NB_IPPROTO_ICMPV6: {
		__u8 h[8];

		if (bpf_probe_read_kernel(h, sizeof(h), l4))
			return -1;
		p->icmp_type = h[0];
		p->icmp_code = h[1];
		p->icmp_id = ((__u16)h[4] << 8) | h[5];
		p->icmp_seq = ((__u16)h[6] << 8) | h[7];
		p->l4_len = l4_room > 8 ? l4_room - 8 : 0;
		break;
	}
	case IPPROTO_TCP: {
		struct tcphdr th;
		__u32 doff;

		if (bpf_probe_read_kernel(&th, sizeof(th), l4))
			return -1;
		p->sport = bpf_ntohs(th.source);
		p->dport = bpf_ntohs(th.dest);
		p->tcp_seq = bpf_ntohl(th.seq);
		p->tcp_ack = bpf_ntohl(th.ack_seq);
		p->tcp_flags = ((__u8 *)&th)[13];
		doff = th.doff * 4;
		p->l4_len = l4_room > doff ? l4_room - doff : 0;
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr uh;

		if (bpf_probe_read_kernel(&uh, sizeof(uh), l4))
			return -1;
		p->sport = bpf_ntohs(uh.source);
		p->dport = bpf_ntohs(uh.dest);
		p->l4_len = l4_room > 8 ? l4_room - 8 : 0;
		break;
	}
	}
	return 0;
}

/* Parse from the L3 header. Returns 0 for IPv4/IPv6, 1 for other frames, -1 on read failure. */
static __always_inline int nb_parse_l3(unsigned char *l3, __u16 ethertype, struct nb_pkt *p)
{
	if (ethertype == NB_ETH_P_IP) {
		struct iphdr ip;
		__u16 frag;
		__u32 ihl, tot;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), l3))
			return -1;
		if (ip.version != 4)
			return 1;
		p->family = 4;
		p->proto = ip.protocol;
		__builtin_memcpy(p->saddr, &ip.saddr, 4);
		__builtin_memcpy(p->daddr, &ip.daddr, 4);
		p->ip_id = bpf_ntohs(ip.id);
		frag = bpf_ntohs(ip.frag_off);
		p->frag_off = (frag & NB_IP_OFFMASK) * 8;
		p->more_frags = !!(frag & NB_IP_MF);
		tot = bpf_ntohs(ip.tot_len);
		p->ip_len = tot;
		ihl = ip.ihl * 4;
		/* Ports live only in the first fragment; later ones are matched by user space. */
		if (p->frag_off || ihl < 20)
			return 0;
		nb_parse_l4(l3 + ihl, p, tot > ihl ? tot - ihl : 0);
		return 0;
	}
	if (ethertype == NB_ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), l3))
			return -1;
		p->family = 6;
		p->proto = ip6.nexthdr;
		__builtin_memcpy(p->saddr, &ip6.saddr, 16);
		__builtin_memcpy(p->daddr, &ip6.daddr, 16);
		p->ip_len = bpf_ntohs(ip6.payload_len) + 40;
		nb_parse_l4(l3 + 40, p, bpf_ntohs(ip6.payload_len));
		return 0;
	}
	return 1;
}

/*
 * Locate L3. On receive (netif_receive_skb) data already points at L3 and the ethertype is
 * skb->protocol. On transmit data points at the link header: parse Ethernet (and VLAN tags)
 * ourselves rather than trust network_header, which is not always set for bridged frames.
 */
static __always_inline int nb_parse_skb(struct sk_buff *skb, struct net_device *dev, bool at_l2,
					__u16 *ethertype, struct nb_pkt *p)
{
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));

	if (at_l2 && dev && BPF_CORE_READ(dev, type) == NB_ARPHRD_ETHER) {
		__u16 h_proto;

		if (bpf_probe_read_kernel(&h_proto, 2, data + 12))
			return -1;
		proto = bpf_ntohs(h_proto);
		data += 14;
		if (proto == NB_ETH_P_8021Q || proto == NB_ETH_P_8021AD) {
			if (bpf_probe_read_kernel(&h_proto, 2, data + 2))
				return -1;
			proto = bpf_ntohs(h_proto);
			data += 4;
		}
	}
	*ethertype = proto;
	return nb_parse_l3(data, proto, p);
}

/*
 * ARP for IPv4 over Ethernet: the sender and target protocol addresses go to saddr/daddr, the
 * opcode to icmp_type, and family stays 0 (not IP), so IP filters never take ARP for IPv4.
 * Returns 0, 1 for other ARP flavours, -1 on read failure.
 */
static __always_inline int nb_parse_arp(unsigned char *l3, struct nb_pkt *p)
{
	__u8 h[28];

	if (bpf_probe_read_kernel(h, sizeof(h), l3))
		return -1;
	/* hrd 1 (Ethernet), pro 0x0800, hln 6, pln 4 */
	if (h[0] != 0 || h[1] != 1 || h[2] != 0x08 || h[3] != 0 || h[4] != 6 || h[5] != 4)
		return 1;
	p->icmp_type = h[7];
	__builtin_memcpy(p->saddr, &h[14], 4);
	__builtin_memcpy(p->daddr, &h[24], 4);
	return 0;
}

/*
 * Parse from network_header: valid when the packet is freed (data may point past L4 then).
 * ARP is parsed too. Returns 1 (nothing parsed) when the header was never set.
 */
static __always_inline int nb_parse_skb_nh(struct sk_buff *skb, __u16 *ethertype, struct nb_pkt *p)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));

	*ethertype = proto;
	if (nh == (__u16)~0U)
		return 1;
	if (proto == NB_ETH_P_ARP)
		return nb_parse_arp(head + nh, p);
	return nb_parse_l3(head + nh, proto, p);
}

static __always_inline bool nb_addr_eq(const volatile __u8 *a, const __u8 *b, __u8 family)
{
	if (family == 4)
		return *(const volatile __u32 *)a == *(const __u32 *)b;
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* Does the packet match one direction of the filter (saddr/daddr/sport/dport as given)? */
static __always_inline bool nb_dir_match(const volatile struct nb_filter *f, const __u8 *s,
					 const __u8 *d, __u16 sp, __u16 dp, __u8 family)
{
	if (f->has_saddr && !nb_addr_eq(f->saddr, s, family))
		return false;
	if (f->has_daddr && !nb_addr_eq(f->daddr, d, family))
		return false;
	if (f->sport && f->sport != sp)
		return false;
	if (f->dport && f->dport != dp)
		return false;
	return true;
}

static __always_inline bool nb_pkt_match(const volatile struct nb_filter *f, const struct nb_pkt *p)
{
	bool frag_tail = p->frag_off != 0;

	if (f->family && f->family != p->family)
		return false;
	if (f->proto && f->proto != p->proto)
		return false;
	if (!f->has_saddr && !f->has_daddr && !f->sport && !f->dport)
		return true;
	if (!p->family)
		return false;
	/* Non-first fragments carry no ports: match on addresses, user space groups by IP ID. */
	if (frag_tail) {
		if ((!f->has_saddr || nb_addr_eq(f->saddr, p->saddr, p->family)) &&
		    (!f->has_daddr || nb_addr_eq(f->daddr, p->daddr, p->family)))
			return true;
		return f->bidir && (!f->has_saddr || nb_addr_eq(f->saddr, p->daddr, p->family)) &&
		       (!f->has_daddr || nb_addr_eq(f->daddr, p->saddr, p->family));
	}
	if (nb_dir_match(f, p->saddr, p->daddr, p->sport, p->dport, p->family))
		return true;
	return f->bidir && nb_dir_match(f, p->daddr, p->saddr, p->dport, p->sport, p->family);
}

/*
 * ARP against the filter: only address criteria apply (an ARP frame has no transport, so a
 * protocol or port filter excludes it), compared with the sender/target IPv4 addresses.
 */
static __always_inline bool nb_arp_match(const volatile struct nb_filter *f, const struct nb_pkt *p)
{
	if (f->family == 6 || f->proto || f->sport || f->dport)
		return false;
	if (nb_dir_match(f, p->saddr, p->daddr, 0, 0, 4))
		return true;
	return f->bidir && nb_dir_match(f, p->daddr, p->saddr, 0, 0, 4);
}

#endif /* NB_PARSE_BPF_H */
