// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Drop tracer: the kernel frees a packet with a reason (skb:kfree_skb). Every check that can
 * reject a packet runs before the stack is taken, because a stack walk on every freed skb is
 * what made earlier drop tools halve throughput. Two outputs, chosen before load: one ring
 * buffer event per drop (eth_drop, trace sessions), or counts aggregated in the kernel by
 * stack, reason and device (kernel_drop_stack_stats_summary_all).
 */
#include "nb_skb.bpf.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NB_STACK_DEPTH 64

const volatile struct nb_filter nb_cfg = {};
const volatile bool nb_aggregate = false;
/* Frames of the tracer itself at the top of a raw_tp stack: the program, bpf_trace_run*. */
const volatile __u32 nb_stack_skip = 2;
/*
 * Leave out OTHERHOST frees (counted in nb_copies): the host's IP layer discarding its copy of
 * a frame addressed to another host, which it only gets on a promiscuous device with no switch
 * attached, i.e. while a packet socket reads the device (a capture, or a switch in user space
 * such as Open vSwitch's userspace datapath, which forwards its own copy). Never the packet's
 * loss on its way; a path trace through such a switch would otherwise blame every packet's
 * copy, at a stack walk each.
 */
const volatile bool nb_skip_copies = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} nb_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, NB_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 8192);
} nb_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct nb_drop_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} nb_drop_counts SEC(".maps");

/* Counters read by user space: a missing event must never look like a missing drop. */
__u64 nb_lost = 0;	 /* ring buffer full: event not delivered */
__u64 nb_matched = 0;	 /* drops that passed the filter */
__u64 nb_parse_err = 0;	 /* headers unreadable: compared as "not IP" */
__u64 nb_stack_err = 0;	 /* no stack id (bucket taken by another stack, map full) */
__u64 nb_count_full = 0; /* aggregation map full: drop counted nowhere else */
__u64 nb_copies = 0;	 /* OTHERHOST copies left out (nb_skip_copies) */

static __always_inline void nb_count(__s32 stack_id, __u32 reason, __u32 ifindex)
{
	struct nb_drop_key k = {.stack_id = stack_id, .reason = reason, .ifindex = ifindex};
	__u64 one = 1, *v;

	/* Per-CPU values: this CPU's slot is ours, a plain add is enough. */
	v = bpf_map_lookup_elem(&nb_drop_counts, &k);
	if (v) {
		*v += 1;
		return;
	}
	if (!bpf_map_update_elem(&nb_drop_counts, &k, &one, BPF_NOEXIST))
		return;
	/* Another CPU created the key between our lookup and update. */
	v = bpf_map_lookup_elem(&nb_drop_counts, &k);
	if (v)
		*v += 1;
	else
		__sync_fetch_and_add(&nb_count_full, 1);
}

static __always_inline int nb_drop(void *ctx, struct sk_buff *skb, void *location, __u32 reason)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct net_device *dev;
	struct nb_event *e;
	struct nb_pkt p = {};
	__u16 ethertype = 0;
	__u32 ifindex = 0, netns;
	__s32 stack_id;
	bool match;
	int rc;

	if (!skb)
		return 0;
	/* Kernels that pass consumed skbs through kfree_skb say so with SKB_CONSUMED. */
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return 0;
	dev = BPF_CORE_READ(skb, dev);
	if (dev)
		ifindex = BPF_CORE_READ(dev, ifindex);
	if (!nb_ifindex_ok(f, ifindex))
		return 0;
	netns = nb_netns_of(skb, dev);
	if (f->netns && f->netns != netns)
		return 0;
	rc = nb_parse_skb_nh(skb, &ethertype, &p);
	if (rc < 0) {
		__sync_fetch_and_add(&nb_parse_err, 1);
		__builtin_memset(&p, 0, sizeof(p));
	}
	if (ethertype == NB_ETH_P_ARP && rc == 0)
		match = nb_arp_match(f, &p);
	else
		match = nb_pkt_match(f, &p);
	if (!match)
		return 0;
	if (nb_skip_copies &&
	    bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_OTHERHOST) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_OTHERHOST)) {
		__sync_fetch_and_add(&nb_copies, 1);
		return 0;
	}

	__sync_fetch_and_add(&nb_matched, 1);
	stack_id = bpf_get_stackid(ctx, &nb_stacks, nb_stack_skip & BPF_F_SKIP_FIELD_MASK);
	if (stack_id < 0) {
		__sync_fetch_and_add(&nb_stack_err, 1);
		stack_id = -1;
	}
	if (nb_aggregate) {
		nb_count(stack_id, reason, ifindex);
		return 0;
	}
	e = bpf_ringbuf_reserve(&nb_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&nb_lost, 1);
		return 0;
	}
	nb_event_fill(e, NB_EV_DROP, NB_HOOK_DROP, ifindex, netns, ethertype, &p);
	e->reason = reason;
	e->location = (__u64)location;
	e->stack_id = stack_id;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(nb_drop_rsn, struct sk_buff *skb, void *location, int reason)
{
	return nb_drop(ctx, skb, location, (__u32)reason);
}

/* Kernels before drop reasons (5.17) pass only skb and location: every free is reported. */
SEC("raw_tp/kfree_skb")
int BPF_PROG(nb_drop_legacy, struct sk_buff *skb, void *location)
{
	return nb_drop(ctx, skb, location, 0);
}
