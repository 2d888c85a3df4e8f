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
