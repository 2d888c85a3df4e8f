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

SEC("tc")
int nb_tcx_rx(struct __sk_buff *ctx)
{
	return nb_tcx_stage(ctx, 0);
}

SEC("tc")
int nb_tcx_tx(struct __sk_buff *ctx)
{
	return nb_tcx_stage(ctx, 1);
}
