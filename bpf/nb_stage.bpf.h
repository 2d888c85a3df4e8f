/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The stage tracer's one handler, shared by its two objects: nb_stage.bpf.c (device
 * tracepoints) and nb_tcx.bpf.c (tcx links). Each object gets its own ring buffer, filter
 * and counters, with the same names and layout, so user space drives either alike.
 */
#ifndef NB_STAGE_BPF_H
#define NB_STAGE_BPF_H

#include "nb_parse.bpf.h"

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

/* Out of line for the same reason as nb_parse_l4: most packets never get this far. */
static __noinline int nb_stage_submit(const struct nb_pkt *p, __u16 ethertype, __u32 ifindex,
				      __u32 netns, __u8 hook)
{
	struct nb_event *e;

	__sync_fetch_and_add(&nb_matched, 1);
	e = bpf_ringbuf_reserve(&nb_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&nb_lost, 1);
		return 0;
	}
	nb_event_fill(e, NB_EV_PKT, hook, ifindex, netns, ethertype, p);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* A packet at a device stage, already known to be on a traced device of the namespace. */
static __always_inline int nb_stage_emit(const struct nb_rd *rd, unsigned char *data,
					 __u16 proto, bool eth, __u32 ifindex, __u32 netns,
					 __u8 hook)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct nb_pkt p; /* the parser zeroes it once the packet is past the cheap rejections */
	__u16 ethertype = 0;
	int rc;

	rc = nb_parse_frame(rd, data, proto, eth, &ethertype, &p, f);
	if (rc < 0) {
		__sync_fetch_and_add(&nb_parse_err, 1);
		return 0;
	}
	if (rc == 2)
		return 0;
	if (rc == 1)
		__builtin_memset(&p, 0, sizeof(p));
	if (!nb_pkt_match(f, &p))
		return 0;
	return nb_stage_submit(&p, ethertype, ifindex, netns, hook);
}

#endif /* NB_STAGE_BPF_H */
