/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* What tracing programs add to the parser: reading a struct sk_buff by pointer (CO-RE). */
#ifndef NB_SKB_BPF_H
#define NB_SKB_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include "nb_parse.bpf.h"

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
	return nb_parse_l3(&NB_RD_PROBE, head + nh, proto, p, NULL);
}

/*
 * Parse an IP packet from network_header inside the stack (netfilter hooks, ip_local_out,
 * ip_rcv, the protocols' receive functions). The family comes from the IP version, not
 * skb->protocol, which ip_local_out has not set yet on entry. 0 with p filled; 1 not IP (or
 * no header yet); -1 unreadable.
 */
static __always_inline int nb_parse_skb_ip(struct sk_buff *skb, __u16 *ethertype,
					   struct nb_pkt *p)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u8 ver;

	if (nh == (__u16)~0U)
		return 1;
	if (bpf_probe_read_kernel(&ver, 1, head + nh))
		return -1;
	ver >>= 4;
	*ethertype = ver == 4 ? NB_ETH_P_IP : ver == 6 ? NB_ETH_P_IPV6 : 0;
	if (!*ethertype)
		return 1;
	return nb_parse_l3(&NB_RD_PROBE, head + nh, *ethertype, p, NULL);
}

#endif /* NB_SKB_BPF_H */
