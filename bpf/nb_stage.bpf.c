// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Packet-stage tracer: one generic handler serves every device stage. Each SEC() below is
 * only the glue for one hook point; the user-space probe table decides which are attached:
 * tcx links on the traced devices where the kernel has them (only those devices pay), else
 * the device tracepoints (every packet of every namespace runs the early checks).
 */
#include "nb_parse.bpf.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile struct nb_filter nb_cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} nb_events SEC(".maps");

/* Counters read by user space: a missing event must never look like a missing packet. */
__u64 nb_lost = 0;    /* ring buffer full: event not delivered */
__u64 nb_matched = 0; /* events that passed the filter */
__u64 nb_parse_err = 0;

/* tcx (kernel >= 6.6) implies this kfunc (>= 6.3): it gives the tc program the typed skb. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

#define NB_TCX_NEXT -1 /* let the next tcx program and the legacy tc chain run */

static __always_inline int nb_stage(const struct nb_rd *rd, unsigned char *data,
				    struct sk_buff *skb, struct net_device *dev, __u8 hook,
				    bool at_l2)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct nb_event *e;
	struct nb_pkt p = {};
	__u16 ethertype = 0;
	__u32 ifindex, netns;
	int rc;

	if (!skb || !dev)
		return 0;
	ifindex = dev->ifindex;
	if (rd->ctx && f->netns) {
		/* A tcx link sits on one traced device of the filter's namespace: no check. */
		netns = f->netns;
	} else {
		/*
		 * At a tracepoint every packet of every namespace passes here, so the checks
		 * that reject most of them come first and are plain BTF loads, not helper calls.
		 */
		if (!nb_ifindex_ok(f, ifindex))
			return 0;
		netns = dev->nd_net.net->ns.inum;
		if (f->netns && f->netns != netns)
			return 0;
	}
	rc = nb_parse_skb(rd, data, skb, dev, at_l2, &ethertype, &p, f);
	if (rc < 0) {
		__sync_fetch_and_add(&nb_parse_err, 1);
		return 0;
	}
	if (rc == 2)
		return 0;
	if (!nb_pkt_match(f, &p))
		return 0;

	__sync_fetch_and_add(&nb_matched, 1);
	e = bpf_ringbuf_reserve(&nb_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&nb_lost, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->ifindex = ifindex;
	e->netns = netns;
	e->type = NB_EV_PKT;
	e->hook = hook;
	e->ethertype = ethertype;
	e->reason = 0;
	e->location = 0;
	e->stack_id = -1;
	e->cpu = bpf_get_smp_processor_id();
	e->pkt = p;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(nb_rx, struct sk_buff *skb)
{
	return nb_stage(&NB_RD_PROBE, skb->data, skb, skb->dev, NB_HOOK_RX, false);
}

/* Contents at start_xmit: at net_dev_xmit the driver already ran and veth handed the skb on. */
SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(nb_tx, struct sk_buff *skb, struct net_device *dev)
{
	return nb_stage(&NB_RD_PROBE, skb->data, skb, dev, NB_HOOK_TX, true);
}

/*
 * tcx ingress runs in __netif_receive_skb_core just after the netif_receive_skb tracepoint,
 * with data pushed back to the link header. tcx egress runs in __dev_queue_xmit before the
 * qdisc, so a packet the qdisc drops was still seen leaving: the drop tracer reports those
 * (QDISC_DROP on this device).
 */
static __always_inline int nb_tcx(struct __sk_buff *ctx, __u8 hook)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);
	struct nb_rd rd = {
		.ctx = ctx,
		.data = (unsigned char *)(long)ctx->data,
		.end = (unsigned char *)(long)ctx->data_end,
	};

	nb_stage(&rd, rd.data, skb, skb->dev, hook, true);
	return NB_TCX_NEXT;
}

SEC("tc")
int nb_tcx_rx(struct __sk_buff *ctx)
{
	return nb_tcx(ctx, NB_HOOK_RX);
}

SEC("tc")
int nb_tcx_tx(struct __sk_buff *ctx)
{
	return nb_tcx(ctx, NB_HOOK_TX);
}
