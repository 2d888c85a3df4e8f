/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The one packet parser and in-kernel filter shared by every netblame BPF program.
 * Every header read goes through nb_hdr(): tracing programs see skbs by pointer and read
 * with bpf_probe_read_kernel; tc programs read the packet directly (no helper call, which is
 * most of the cost on a traced device's every packet) and fall back to bpf_skb_load_bytes
 * for headers outside the linear area.
 */
#ifndef NB_PARSE_BPF_H
#define NB_PARSE_BPF_H

/*
 * No kernel-internal type is used here, so no CO-RE relocation: an object built on this
 * header alone (the tcx stage tracer) loads without reading the kernel's BTF, megabytes of
 * memory at every start. Include vmlinux.h or <linux/bpf.h> first; nb_skb.bpf.h adds the
 * helpers that read struct sk_buff.
 */
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "nb_event.h"

#define NB_ETH_P_IP	0x0800
#define NB_ETH_P_IPV6	0x86DD
#define NB_ETH_P_ARP	0x0806
#define NB_ETH_P_8021Q	0x8100
#define NB_ETH_P_8021AD 0x88A8
#define NB_ARPHRD_ETHER 1
#define NB_IPPROTO_ICMP	  1
#define NB_IPPROTO_TCP	  6
#define NB_IPPROTO_UDP	  17
#define NB_IPPROTO_ICMPV6 58
#define NB_IPPROTO_HOPOPTS  0
#define NB_IPPROTO_ROUTING  43
#define NB_IPPROTO_FRAGMENT 44
#define NB_IPPROTO_DSTOPTS  60
/*
 * IPv6 extension headers walked before the transport: hop-by-hop, routing, fragment and
 * destination options once each.
 */
#define NB_IP6_MAX_EXT 4

/* Wire headers as sent: fixed layouts, so they need no relocation against kernel BTF. */
struct nb_ip4h {
	__u8 ver_ihl;
	__u8 tos;
	__u16 tot_len;
	__u16 id;
	__u16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u32 saddr;
	__u32 daddr;
};

struct nb_ip6h {
	__u32 ver_tc_flow;
	__u16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct nb_tcph {
	__u16 source;
	__u16 dest;
	__u32 seq;
	__u32 ack_seq;
	__u8 doff_res;
	__u8 flags;
	__u16 window;
	__u16 check;
	__u16 urg_ptr;
};

struct nb_udph {
	__u16 source;
	__u16 dest;
	__u16 len;
	__u16 check;
};
#define NB_IP_MF	0x2000
#define NB_IP_OFFMASK	0x1fff
#define NB_IP6_MF	0x0001
#define NB_IP6_OFFMASK	0xfff8

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

static __always_inline bool nb_addr_eq(const volatile __u8 *a, const __u8 *b, __u8 family)
{
	if (family == 4)
		return *(const volatile __u32 *)a == *(const __u32 *)b;
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/*
 * The filter's addresses against the packet's, either way if bidir: what the IP header alone
 * can decide once family and protocol matched (callers check those first).
 */
static __always_inline bool nb_addr_match(const volatile struct nb_filter *f,
					  const struct nb_pkt *p)
{
	if ((!f->has_saddr || nb_addr_eq(f->saddr, p->saddr, p->family)) &&
	    (!f->has_daddr || nb_addr_eq(f->daddr, p->daddr, p->family)))
		return true;
	return f->bidir && (!f->has_saddr || nb_addr_eq(f->saddr, p->daddr, p->family)) &&
	       (!f->has_daddr || nb_addr_eq(f->daddr, p->saddr, p->family));
}

/* An IPv6 extension header walked to find the transport (others end the walk). */
static __always_inline bool nb_ip6_ext(__u8 nh)
{
	return nh == NB_IPPROTO_HOPOPTS || nh == NB_IPPROTO_ROUTING ||
	       nh == NB_IPPROTO_FRAGMENT || nh == NB_IPPROTO_DSTOPTS;
}

/* How headers are read: ctx NULL for tracing programs (probe reads), else a tc skb. */
struct nb_rd {
	struct __sk_buff *ctx;
	unsigned char *data; /* tc: packet start (ctx->data) */
	unsigned char *end;  /* tc: ctx->data_end */
};

#define NB_RD_PROBE ((struct nb_rd){})

/*
 * The n bytes at src, as skb_header_pointer() does it: in tc programs the packet itself when
 * they are in the linear area (no copy, no helper call), else a copy in buf; NULL when they
 * cannot be read. n is a compile-time constant at every call, as direct packet access needs.
 */
static __always_inline const void *nb_hdr(const struct nb_rd *rd, void *buf, __u32 n,
					  const unsigned char *src)
{
	if (rd->ctx) {
		if (src + n <= rd->end)
			return src;
		return bpf_skb_load_bytes(rd->ctx, src - rd->data, buf, n) ? NULL : buf;
	}
	return bpf_probe_read_kernel(buf, n, src) ? NULL : buf;
}

/*
 * Out of line: only packets whose IP header matched get here. Keeping it out of the common
 * path keeps the code every traced packet runs short (a few cache lines, not pages).
 */
static __noinline int nb_parse_l4(const struct nb_rd *rd, unsigned char *l4, struct nb_pkt *p,
				  __u32 l4_room)
{
	switch (p->proto) {
	case NB_IPPROTO_ICMP:
	case NB_IPPROTO_ICMPV6: {
		__u8 hb[8];
		const __u8 *h = nb_hdr(rd, hb, sizeof(hb), l4);

		if (!h)
			return -1;
		p->icmp_type = h[0];
		p->icmp_code = h[1];
		p->icmp_id = ((__u16)h[4] << 8) | h[5];
		p->icmp_seq = ((__u16)h[6] << 8) | h[7];
		p->l4_len = l4_room > 8 ? l4_room - 8 : 0;
		break;
	}
	case NB_IPPROTO_TCP: {
		struct nb_tcph tb;
		const struct nb_tcph *th = nb_hdr(rd, &tb, sizeof(tb), l4);
		__u32 doff;

		if (!th)
			return -1;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->tcp_seq = bpf_ntohl(th->seq);
		p->tcp_ack = bpf_ntohl(th->ack_seq);
		p->tcp_flags = th->flags;
		doff = (th->doff_res >> 4) * 4;
		p->l4_len = l4_room > doff ? l4_room - doff : 0;
		break;
	}
	case NB_IPPROTO_UDP: {
		struct nb_udph ub;
		const struct nb_udph *uh = nb_hdr(rd, &ub, sizeof(ub), l4);

		if (!uh)
			return -1;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		p->l4_len = l4_room > 8 ? l4_room - 8 : 0;
		break;
	}
	}
	return 0;
}

/*
 * Parse from the L3 header. Returns 0 for IPv4/IPv6 with p filled (zeroed first), 1 for other
 * frames with p untouched, -1 on read failure, 2 when f (may be NULL) already rejects the IP
 * header: the transport header is not read, and p holds nothing to use.
 */
static __always_inline int nb_parse_l3(const struct nb_rd *rd, unsigned char *l3,
				       __u16 ethertype, struct nb_pkt *p,
				       const volatile struct nb_filter *f)
{
	if (ethertype == NB_ETH_P_IP) {
		struct nb_ip4h ipb;
		const struct nb_ip4h *ip = nb_hdr(rd, &ipb, sizeof(ipb), l3);
		__u16 frag;
		__u32 ihl, tot;

		if (!ip)
			return -1;
		if ((ip->ver_ihl >> 4) != 4)
			return 1;
		/* Most packets on a traced device fail here, before anything is copied. */
		if (f && ((f->family && f->family != 4) || (f->proto && f->proto != ip->protocol)))
			return 2;
		__builtin_memset(p, 0, sizeof(*p));
		p->family = 4;
		p->proto = ip->protocol;
		__builtin_memcpy(p->saddr, &ip->saddr, 4);
		__builtin_memcpy(p->daddr, &ip->daddr, 4);
		if (f && !nb_addr_match(f, p))
			return 2;
		p->ip_id = bpf_ntohs(ip->id);
		frag = bpf_ntohs(ip->frag_off);
		p->frag_off = (frag & NB_IP_OFFMASK) * 8;
		p->more_frags = !!(frag & NB_IP_MF);
		tot = bpf_ntohs(ip->tot_len);
		p->ip_len = tot;
		ihl = (ip->ver_ihl & 0xf) * 4;
		/* Ports live only in the first fragment; later ones are matched by user space. */
		if (p->frag_off || ihl < 20)
			return 0;
		nb_parse_l4(rd, l3 + (ihl & 0x3c), p, tot > ihl ? tot - ihl : 0);
		return 0;
	}
	if (ethertype == NB_ETH_P_IPV6) {
		struct nb_ip6h ip6b;
		const struct nb_ip6h *ip6 = nb_hdr(rd, &ip6b, sizeof(ip6b), l3);
		__u32 off = 40, plen;
		__u8 nh;

		if (!ip6)
			return -1;
		nh = ip6->nexthdr;
		/* As for IPv4, most packets fail here, before anything is copied. */
		if (f && ((f->family && f->family != 6) ||
			  (f->proto && f->proto != nh && !nb_ip6_ext(nh))))
			return 2;
		plen = bpf_ntohs(ip6->payload_len);
		__builtin_memset(p, 0, sizeof(*p));
		p->family = 6;
		__builtin_memcpy(p->saddr, ip6->saddr, 16);
		__builtin_memcpy(p->daddr, ip6->daddr, 16);
		p->ip_len = plen + 40;
		/*
		 * The transport comes after the extension headers; a fragment header gives the
		 * datagram's identification and the fragment's place (UDP over IPv6 is joined by
		 * it). A later fragment holds no transport header: stop there.
		 */
#pragma unroll
		for (int i = 0; i < NB_IP6_MAX_EXT; i++) {
			__u8 eb[8];
			const __u8 *e;

			if (!nb_ip6_ext(nh))
				break;
			e = nb_hdr(rd, eb, sizeof(eb), l3 + (off & 0x3fff));
			if (!e)
				return -1;
			if (nh == NB_IPPROTO_FRAGMENT) {
				__u16 fo = ((__u16)e[2] << 8) | e[3];

				p->frag_off = fo & NB_IP6_OFFMASK;
				p->more_frags = fo & NB_IP6_MF;
				p->ip_id = ((__u32)e[4] << 24) | ((__u32)e[5] << 16) |
					   ((__u32)e[6] << 8) | e[7];
				off += 8;
			} else {
				off += ((__u32)e[1] + 1) * 8;
			}
			nh = e[0];
			if (p->frag_off)
				break;
		}
		p->proto = nh;
		if (f && f->proto && f->proto != nh)
			return 2;
		if (f && !nb_addr_match(f, p))
			return 2;
		if (p->frag_off)
			return 0;
		nb_parse_l4(rd, l3 + (off & 0x3fff), p, plen + 40 > off ? plen + 40 - off : 0);
		return 0;
	}
	return 1;
}

/*
 * Parse a frame from data: an Ethernet header (and VLAN tags) first when eth, else L3 with
 * the ethertype proto (the netif_receive_skb tracepoint, where data already points at L3,
 * and devices without a link header). The Ethernet header is parsed rather than
 * network_header trusted, which is not always set for bridged frames.
 */
static __always_inline int nb_parse_frame(const struct nb_rd *rd, unsigned char *data,
					  __u16 proto, bool eth, __u16 *ethertype,
					  struct nb_pkt *p, const volatile struct nb_filter *f)
{
	if (eth) {
		__u16 hb;
		const __u16 *h_proto = nb_hdr(rd, &hb, 2, data + 12);

		if (!h_proto)
			return -1;
		proto = bpf_ntohs(*h_proto);
		data += 14;
		if (proto == NB_ETH_P_8021Q || proto == NB_ETH_P_8021AD) {
			h_proto = nb_hdr(rd, &hb, 2, data + 2);
			if (!h_proto)
				return -1;
			proto = bpf_ntohs(*h_proto);
			data += 4;
		}
	}
	*ethertype = proto;
	return nb_parse_l3(rd, data, proto, p, f);
}

/*
 * ARP for IPv4 over Ethernet: the sender and target protocol addresses go to saddr/daddr, the
 * opcode to icmp_type, and family stays 0 (not IP), so IP filters never take ARP for IPv4.
 * Returns 0, 1 for other ARP flavours, -1 on read failure.
 */
static __always_inline int nb_parse_arp(unsigned char *l3, struct nb_pkt *p)
{
	__u8 hb[28];
	const __u8 *h = nb_hdr(&NB_RD_PROBE, hb, sizeof(hb), l3);

	if (!h)
		return -1;
	/* hrd 1 (Ethernet), pro 0x0800, hln 6, pln 4 */
	if (h[0] != 0 || h[1] != 1 || h[2] != 0x08 || h[3] != 0 || h[4] != 6 || h[5] != 4)
		return 1;
	p->icmp_type = h[7];
	__builtin_memcpy(p->saddr, &h[14], 4);
	__builtin_memcpy(p->daddr, &h[24], 4);
	return 0;
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
	if (frag_tail)
		return nb_addr_match(f, p);
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

/*
 * Every record of every netblame ring buffer is one struct nb_event, filled here: the
 * timestamp taken last, as close to the submit as it can be. The caller reserved e.
 */
static __always_inline void nb_event_fill(struct nb_event *e, __u8 type, __u8 hook,
					  __u32 ifindex, __u32 netns, __u16 ethertype,
					  const struct nb_pkt *p)
{
	e->ifindex = ifindex;
	e->netns = netns;
	e->type = type;
	e->hook = hook;
	e->ethertype = ethertype;
	e->reason = 0;
	e->location = 0;
	e->stack_id = -1;
	e->cpu = bpf_get_smp_processor_id();
	e->pkt = *p;
	e->ts_ns = bpf_ktime_get_ns();
}

#endif /* NB_PARSE_BPF_H */
