// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The latency tools' stage chain (common/nb_lat.h): the stage tracer's device programs (tcx,
 * or the device tracepoints as their fallback) report the chain's device stages by interface
 * slot, and two more kinds of program report the stack's stages: a BPF netfilter program
 * (one program, one link per hook and family; the hook tells the stage) and kprobes on the
 * chain's kernel functions where the kernel has them (the link's cookie tells the stage).
 * Events, or with nb_hist the in-kernel histograms of nb_stage.bpf.h.
 */
#define NB_STAGE_LAT 1
#include "nb_skb.bpf.h"
#include "nb_stage.bpf.h"
#include <bpf/bpf_tracing.h>

#define NB_NF_ACCEPT 1
#define NB_NF_HOOKS  5 /* PRE_ROUTING .. POST_ROUTING */
#define NB_NFPROTO_IPV4 2
#define NB_NFPROTO_IPV6 10

/* The stage (NB_HOOK_LAT0 + i) of each netfilter hook; 0: the chain has none there. */
const volatile __u8 nb_nf_hook[NB_NF_HOOKS] = {};

/* A packet inside the stack at a stage: the namespace is checked, the device is only told. */
static __always_inline int nb_lat_skb(struct sk_buff *skb, __u32 netns, __u8 hook)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct net_device *dev;
	struct nb_pkt p;
	__u16 ethertype = 0;
	__u32 ifindex = 0;
	int rc;

	if (!skb || !hook || (f->netns && f->netns != netns))
		return 0;
	rc = nb_parse_skb_ip(skb, &ethertype, &p);
	if (rc) {
		if (rc < 0)
			__sync_fetch_and_add(&nb_parse_err, 1);
		return 0;
	}
	if (!nb_pkt_match(f, &p))
		return 0;
	dev = BPF_CORE_READ(skb, dev);
	if (dev)
		ifindex = BPF_CORE_READ(dev, ifindex);
	return nb_stage_submit(&p, ethertype, ifindex, netns, hook);
}

/*
 * Loaded as a netfilter program (user space sets the type: libbpf 1.1 has no such section);
 * the link binds it to one namespace, family, hook and priority. Its context gives trusted
 * pointers: the hook state and the skb are read with plain loads, not helper calls, and the
 * family comes from the hook (pf), not from a read of the IP version. Only the packet's
 * bytes need probe reads, and the filter rejects on the IP header before the transport's.
 */
SEC("tc")
int nb_lat_nf(struct bpf_nf_ctx *ctx)
{
	const volatile struct nb_filter *f = &nb_cfg;
	const struct nf_hook_state *st = ctx->state;
	struct sk_buff *skb = ctx->skb;
	struct net_device *dev;
	struct nb_pkt p;
	__u16 ethertype, nh;
	__u8 h = st->hook, hook;
	__u32 netns;
	int rc;

	if (nb_noop || h >= NB_NF_HOOKS)
		return NB_NF_ACCEPT;
	hook = nb_nf_hook[h];
	netns = st->net->ns.inum;
	if (!hook || (f->netns && f->netns != netns))
		return NB_NF_ACCEPT;
	ethertype = st->pf == NB_NFPROTO_IPV4 ? NB_ETH_P_IP :
		    st->pf == NB_NFPROTO_IPV6 ? NB_ETH_P_IPV6 : 0;
	nh = skb->network_header;
	if (!ethertype || nh == (__u16)~0U)
		return NB_NF_ACCEPT;
	rc = nb_parse_l3(&NB_RD_PROBE, skb->head + nh, ethertype, &p, f);
	if (rc) {
		if (rc < 0)
			__sync_fetch_and_add(&nb_parse_err, 1);
		return NB_NF_ACCEPT;
	}
	if (!nb_pkt_match(f, &p))
		return NB_NF_ACCEPT;
	dev = skb->dev;
	nb_stage_submit(&p, ethertype, dev ? dev->ifindex : 0, netns, hook);
	return NB_NF_ACCEPT;
}

/* Kprobes: the skb is the first or the third argument; the cookie is the stage's hook. */
SEC("kprobe")
int BPF_KPROBE(nb_lat_kp1, struct sk_buff *skb)
{
	return nb_lat_skb(skb, nb_netns_of(skb, NULL), (__u8)bpf_get_attach_cookie(ctx));
}

SEC("kprobe")
int BPF_KPROBE(nb_lat_kp3, void *net, void *sk, struct sk_buff *skb)
{
	return nb_lat_skb(skb, nb_netns_of(skb, NULL), (__u8)bpf_get_attach_cookie(ctx));
}

SEC("tc")
int nb_lat_tcx_rx(struct __sk_buff *ctx)
{
	return nb_tcx_stage(ctx, 0);
}

SEC("tc")
int nb_lat_tcx_tx(struct __sk_buff *ctx)
{
	return nb_tcx_stage(ctx, 1);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(nb_lat_rx, struct sk_buff *skb)
{
	return nb_tp_stage(skb, skb->dev, 0, false);
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(nb_lat_tx, struct sk_buff *skb, struct net_device *dev)
{
	return nb_tp_stage(skb, dev, 1, true);
}
