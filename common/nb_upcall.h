/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * OVS upcall latency measured from outside the switch (ovs_upcall_latency_summary where the
 * kernel has neither the openvswitch tracepoint nor kprobes, and for the userspace datapath):
 * packets entering an OVS port and leaving another, from the stage tracer's events. The first
 * packet of a flow (its 5-tuple unseen for the flow idle time, OVS's datapath flow max-idle)
 * takes the slow path: an upcall, completed when the same packet leaves a port, lost when it
 * never does within the timeout (dropped by the decision, or by the slow path). Later packets
 * of the flow take the fast path and give the baseline.
 *
 * A packet is its flow plus what tells packets of a flow apart: IP ID, TCP sequence, ICMP
 * sequence and the payload length. Pure: no BPF, no printing. Bounded: NB_UPCALL_FLOWS flows
 * (the least recently seen is forgotten, counted) and NB_UPCALL_PENDING packets in flight.
 */
#ifndef NB_UPCALL_H
#define NB_UPCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_event.h"
#include "nb_mon.h"

#define NB_UPCALL_FLOWS	  65536
#define NB_UPCALL_PENDING 4096

struct nb_upcall_counts {
	uint64_t upcalls;		 /* first packets of a flow that entered a port */
	uint64_t completed;		 /* of them, left a port */
	uint64_t lost;			 /* of them, never left within the timeout */
	uint64_t fast;			 /* later packets of a flow that left a port */
	uint64_t fast_lost;		 /* later packets that never left */
	uint64_t fast_followed;		 /* kernel counts: fast-path packets followed from their entry */
	uint64_t fast_sampled;		 /* of them, seen leaving: those in fast_lat */
	uint64_t up_lat[NB_MON_SLOTS];	 /* upcall latency, log2 microseconds */
	uint64_t fast_lat[NB_MON_SLOTS]; /* fast path latency */
};

struct nb_upcall_flow {
	struct nb_pkt key; /* addresses, protocol, ports (ICMP: the echo id in sport) */
	uint64_t upcalls;  /* since the start */
	uint64_t last_ns;
};

struct nb_upcall_stats {
	uint64_t flows_forgotten; /* pushed out of the flow table: a later packet re-counts */
	uint64_t pending_full;	  /* packets not followed: the in-flight table was full */
	uint64_t tx_unmatched;	  /* packets that left without being seen entering */
	uint64_t kernel_full;	  /* kernel counts: flow or packet records its maps refused */
};

struct nb_upcall;

/*
 * idle_ns: a flow unseen this long is new again; timeout_ns: a packet not out by then is lost.
 * idle_ns 0: the kernel decided (upcall mode of the stage tracer): every packet entering is an
 * upcall, and the fast path comes as counts (nb_upcall_kernel).
 */
struct nb_upcall *nb_upcall_new(uint64_t idle_ns, uint64_t timeout_ns);
void nb_upcall_free(struct nb_upcall **pu);
/* A packet entering (tx false) or leaving (tx true) an OVS port, in time order. */
void nb_upcall_add(struct nb_upcall *u, uint64_t ts_ns, bool tx, uint32_t ifindex,
		   const struct nb_pkt *p);
/*
 * The kernel's fast-path counts at now, cumulative (summed over CPUs): the packets out and the
 * sampled latencies since the last call go to the interval and the total. A fast-path packet
 * is lost when it entered more than the timeout ago and never left; without a record per
 * packet that is known from the counts only as a bound: at least in(now - timeout) - out(now)
 * have been lost (nothing older can still be in flight). Exact once the flow pauses for the
 * timeout; under continuous traffic it lags (never over-counts, unless copies of flooded
 * packets make out exceed in, which hides losses). Call it at least every timeout / 32.
 */
void nb_upcall_kernel(struct nb_upcall *u, uint64_t now_ns, const struct nb_up_counts *k);
/* Packets in flight longer than the timeout at now become lost. */
void nb_upcall_expire(struct nb_upcall *u, uint64_t now_ns);
/* Counts of the interval (reset by nb_upcall_interval) and since the start. */
const struct nb_upcall_counts *nb_upcall_iv(const struct nb_upcall *u);
const struct nb_upcall_counts *nb_upcall_total(const struct nb_upcall *u);
void nb_upcall_interval(struct nb_upcall *u);
void nb_upcall_stats(const struct nb_upcall *u, struct nb_upcall_stats *out);
/* The n flows with the most upcalls (ties: the earliest key first) into out; returns how many. */
int nb_upcall_top(const struct nb_upcall *u, struct nb_upcall_flow *out, int n);
/* Packets still in flight. */
unsigned nb_upcall_pending(const struct nb_upcall *u);

/*
 * Which hooks measure the upcalls (docs/ARCHITECTURE.md, "Virtualization monitors"). The
 * kernel datapath's own: its upcall start (the openvswitch tracepoint ovs_dp_upcall, else a
 * kprobe on the function) to the re-injected packet's key extraction (a kprobe on
 * ovs_flow_key_extract_userspace, which has no tracepoint). Else the OVS ports, which serve
 * both datapaths.
 */
struct nb_ovs_env {
	bool module;	   /* the openvswitch module's BTF, /sys/kernel/btf/openvswitch */
	bool tracepoint;   /* openvswitch:ovs_dp_upcall (tracefs, or its BTF typedef) */
	bool kprobes;	   /* the kprobe PMU */
	bool sym_upcall;   /* ovs_dp_upcall in kallsyms */
	bool sym_extract;  /* ovs_flow_key_extract_userspace in kallsyms */
	bool userspace_dp; /* a netdev bridge: its upcalls never reach the module */
};

enum nb_ovs_method {
	NB_OVS_PORTS,	  /* the stage tracer on the OVS ports */
	NB_OVS_TP_KPROBE, /* tracepoint ovs_dp_upcall -> kprobe ovs_flow_key_extract_userspace */
	NB_OVS_KPROBES,	  /* kprobe ovs_dp_upcall -> kprobe ovs_flow_key_extract_userspace */
};

/* The method for env, and why, for the tool's header (why: what was missing, or the hooks). */
enum nb_ovs_method nb_ovs_choose(const struct nb_ovs_env *env, char *why, size_t len);

#endif /* NB_UPCALL_H */
