/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Stage chains of the latency tools (system_network_icmp_rtt, kernel_icmp_rtt, the
 * *_latency_summary and *_latency_details tools): which stages a packet passes, in order, for
 * a tool family and direction, and how each stage is hooked. Pure logic: the loader
 * (agent/nb_tracer.c) attaches the rows, the tools join and print what they report.
 *
 * A stage has the name operators know from the manual (a kernel function such as ip_rcv) and
 * two ways to see it: the kernel function itself where kprobes exist (feature-probed), and
 * otherwise the nearest stable hook (a BPF netfilter hook, a device's ingress or egress),
 * which the tool's header names. See docs/ARCHITECTURE.md, "Latency tools".
 *
 * Events of a chain are struct nb_event with hook = NB_HOOK_LAT0 + the stage's index in it.
 */
#ifndef NB_LAT_H
#define NB_LAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_event.h"
#include "nb_join.h"

/* The stable hook of a stage. NB_LAT_NF_* equal the kernel's NF_INET_* hook numbers. */
enum nb_lat_hook {
	NB_LAT_NF_PRE_ROUTING = 0,
	NB_LAT_NF_LOCAL_IN = 1,
	NB_LAT_NF_FORWARD = 2,
	NB_LAT_NF_LOCAL_OUT = 3,
	NB_LAT_NF_POST_ROUTING = 4,
	NB_LAT_DEV_RX = 5, /* a device of the stage's interface role received it */
	NB_LAT_DEV_TX = 6, /* handed to a device of the role to send */
};

/* Which interface list a device stage watches. */
enum nb_lat_ifrole {
	NB_LAT_IF_NONE = 0,
	NB_LAT_IF_PHY, /* --phy-interface, or --interface for kernel_icmp_rtt */
	NB_LAT_IF_VM,  /* --vm-interface */
};

/* Netfilter priority of a netfilter stage: first in the hook (ip_rcv) or last (icmp_rcv). */
enum nb_lat_nfprio {
	NB_LAT_PRIO_FIRST = 1,
	NB_LAT_PRIO_LAST = 2,
};

struct nb_lat_stage {
	const char *name;	  /* the manual's name: "ip_local_out", "net_dev_xmit", ... */
	const char *kfunc;	  /* kernel function probed where kprobes exist; NULL: none */
	enum nb_lat_hook hook;	  /* the stable hook used otherwise */
	enum nb_lat_ifrole ifrole; /* NB_LAT_DEV_*: which interfaces */
	enum nb_lat_nfprio prio;   /* NB_LAT_NF_*: first or last in the hook */
	uint8_t path;		  /* 0: the request / first direction, 1: the reply (RTT tools) */
	uint8_t karg;		  /* kfunc's argument that is the skb, from 1 (0: no kfunc) */
};

enum nb_lat_family {
	NB_LAT_SYSTEM = 1, /* the host's own traffic through its stack and bridge/OVS */
	NB_LAT_KERNEL,	   /* the host's own traffic, stack stages only (kernel_icmp_rtt) */
	NB_LAT_VM,	   /* a VM's traffic between its vnet/tap and the physical interface */
};

enum nb_lat_dir {
	NB_LAT_TX = 1, /* this host (system) or the VM (vm) sends; RTT: this host pings */
	NB_LAT_RX = 2, /* it receives; RTT: the peer pings this host */
	NB_LAT_BOTH = 3,
};

/* NB_HOOK_LAT0, NB_LAT_BUCKETS and the histogram layout: nb_event.h (shared with BPF). */
_Static_assert(NB_LAT_MAX_STAGES == NB_MAX_STAGES, "one stage limit");

/* "tx", "rx", "both" (both only where allow_both). -EINVAL otherwise. */
int nb_lat_dir_parse(const char *s, bool allow_both, enum nb_lat_dir *out);

/*
 * The chain of a tool: rtt true gives the request path then the reply path (ICMP echo, both
 * directions of one exchange); otherwise the stages of one direction (BOTH: tx's, path 0,
 * then rx's, path 1: two chains, a packet follows one of them). proto (IPPROTO_*, 0 = all) names the local
 * delivery stage (tcp_v4_rcv, udp_rcv, icmp_rcv). Returns the stage count (<= NB_MAX_STAGES).
 */
int nb_lat_chain(enum nb_lat_family fam, enum nb_lat_dir dir, bool rtt, uint8_t proto,
		 struct nb_lat_stage out[NB_MAX_STAGES]);

/* log2 bucket of a delta in nanoseconds, as the BPF side computes it (microseconds). */
static inline unsigned int nb_lat_bucket(uint64_t delta_ns)
{
	uint64_t us = delta_ns / 1000;
	unsigned int b = 0;

	while (us > 1 && b < NB_LAT_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	return b;
}

/* The microseconds bucket b holds: [nb_lat_bucket_low(b), nb_lat_bucket_high(b)]. */
static inline uint64_t nb_lat_bucket_low(unsigned int b)
{
	return b ? 1ull << b : 0;
}

static inline uint64_t nb_lat_bucket_high(unsigned int b)
{
	return (2ull << b) - 1;
}

/*
 * Buckets "far above the bulk" (marked in the summaries): those at least NB_LAT_FAR_SHIFT
 * buckets (a factor of 16) above the bucket that holds the median. Returns the first such
 * bucket, or NB_LAT_BUCKETS when the histogram is empty.
 */
#define NB_LAT_FAR_SHIFT 4
unsigned int nb_lat_far_from(const uint64_t h[NB_LAT_BUCKETS]);

#endif /* NB_LAT_H */
