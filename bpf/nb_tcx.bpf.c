// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Packet-stage tracer on tcx links (Linux >= 6.6), one per traced device and direction: only
 * the traced devices pay, one run per packet. Built on UAPI types only, with no CO-RE
 * relocation and no kfunc, so loading it does not read the kernel's BTF.
 *
 * tcx ingress runs in __netif_receive_skb_core just after the netif_receive_skb tracepoint;
 * tcx egress runs in __dev_queue_xmit before the qdisc and the legacy tc filters, so a
 * packet they then drop was seen leaving: the drop tracer's event for it, after the
 * transmit stage, makes it that host's loss (nb_dropmap_refine). In both, data points at
 * the link header.
 */
#include <linux/bpf.h>
#include "nb_stage.bpf.h"

#define NB_TCX_NEXT -1 /* let the next tcx program and the legacy tc chain run */

/* Bit i: the device of nb_cfg.ifindex[i] has no link header (tun, ipip, wireguard). */
const volatile __u32 nb_l3_mask = 0;

/*
 * Benchmark floor only (NB_TEST_NOOP_PROGRAMS=1): return at once, so a run can measure what
 * the hooks cost by themselves, apart from this program's work. Read-only data: when false,
 * one load and one branch.
 */
const volatile bool nb_noop = false;

static __always_inline int nb_tcx(struct __sk_buff *ctx, __u8 hook)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct nb_rd rd = {
		.ctx = ctx,
		.data = (unsigned char *)(long)ctx->data,
		.end = (unsigned char *)(long)ctx->data_end,
	};
	__u32 ifindex = ctx->ifindex;
	bool eth = true;

	if (nb_noop)
		return NB_TCX_NEXT;
	/* Read-only data: with no such device the verifier drops this loop altogether. */
	if (nb_l3_mask) {
#pragma unroll
		for (int i = 0; i < NB_MAX_IFS; i++)
			if (f->ifindex[i] == ifindex && (nb_l3_mask & (1u << i)))
				eth = false;
	}
	/* The link sits on a device of the filter's namespace: no check, its inode is known. */
	nb_stage_emit(&rd, rd.data, bpf_ntohs(ctx->protocol), eth, ifindex, f->netns, hook);
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
