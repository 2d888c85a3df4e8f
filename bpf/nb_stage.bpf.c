// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Packet-stage tracer at the device tracepoints: the fallback where the kernel has no tcx
 * (nb_tcx.bpf.c). Every packet of every namespace runs these, so the checks that reject
 * most of them come first and are plain BTF loads, not helper calls.
 */
#include "nb_skb.bpf.h"
#include "nb_stage.bpf.h"
#include <bpf/bpf_tracing.h>

/* At netif_receive_skb data already points at L3. */
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(nb_rx, struct sk_buff *skb)
{
	return nb_tp_stage(skb, skb->dev, 0, false);
}

/* Contents at start_xmit: at net_dev_xmit the driver already ran and veth handed the skb on. */
SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(nb_tx, struct sk_buff *skb, struct net_device *dev)
{
	return nb_tp_stage(skb, dev, 1, true);
}

/*
 * The kernel datapath's upcalls (ovs_upcall_latency_summary where the openvswitch module and
 * kprobes exist; docs/ARCHITECTURE.md, "Virtualization monitors"): the packet that missed the
 * flow table as it is sent to user space (the ovs_dp_upcall tracepoint, else a kprobe on the
 * function), and the same packet re-injected by ovs-vswitchd, at the extraction of its key (a
 * kprobe on ovs_flow_key_extract_userspace). At both the skb's data is the frame from its
 * Ethernet header. The openvswitch types are the module's: declared here for relocation, so
 * this object builds and loads without it; user space loads these programs only where the
 * module and the hooks exist.
 */
struct dp_upcall_info___nb {
	__u8 cmd;
} __attribute__((preserve_access_index));

#define NB_OVS_PACKET_CMD_MISS 1 /* a flow table miss; ACTION is a userspace() action's copy */

static __always_inline int nb_ovs_stage(struct sk_buff *skb, __u32 ifindex, __u32 netns, __u8 hook)
{
	const volatile struct nb_filter *f = &nb_cfg;

	if (!skb || (f->netns && f->netns != netns))
		return 0;
	if (hook == NB_HOOK_RX && !nb_ifindex_ok(f, ifindex))
		return 0;
	return nb_stage_emit(&NB_RD_PROBE, BPF_CORE_READ(skb, data),
			     bpf_ntohs(BPF_CORE_READ(skb, protocol)), true, ifindex, netns, hook);
}

static __always_inline int nb_ovs_upcall(struct sk_buff *skb, struct dp_upcall_info___nb *info)
{
	struct net_device *dev;

	if (!info || BPF_CORE_READ(info, cmd) != NB_OVS_PACKET_CMD_MISS)
		return 0;
	dev = BPF_CORE_READ(skb, dev);
	if (!dev)
		return 0;
	return nb_ovs_stage(skb, BPF_CORE_READ(dev, ifindex),
			    BPF_CORE_READ(dev, nd_net.net, ns.inum), NB_HOOK_RX);
}

SEC("raw_tp/ovs_dp_upcall")
int BPF_PROG(nb_ovs_up_tp, void *dp, struct sk_buff *skb, void *key,
	     struct dp_upcall_info___nb *info)
{
	return nb_ovs_upcall(skb, info);
}

SEC("kprobe/ovs_dp_upcall")
int BPF_KPROBE(nb_ovs_up_kp, void *dp, struct sk_buff *skb, void *key,
	       struct dp_upcall_info___nb *info)
{
	return nb_ovs_upcall(skb, info);
}

/* The re-injected packet has no device: its namespace is the function's argument. */
SEC("kprobe/ovs_flow_key_extract_userspace")
int BPF_KPROBE(nb_ovs_exec_kp, struct net *net, void *attr, struct sk_buff *skb)
{
	return nb_ovs_stage(skb, 0, BPF_CORE_READ(net, ns.inum), NB_HOOK_TX);
}
