/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Kernel/user ABI shared by the BPF programs and user space.
 * Fixed-width types only and no pointers: the same bytes are read by a BPF
 * program, the agent, and (after msgpack encoding) the coordinator.
 */
#ifndef NB_EVENT_H
#define NB_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NB_MAX_IFS  8
#define NB_ADDR_LEN 16

/* Record type tag: every ring buffer record starts with struct nb_event. */
enum nb_ev_type {
	NB_EV_PKT = 1,	/* a packet passed a device stage */
	NB_EV_DROP = 2, /* the kernel freed a packet with a drop reason */
};

/* Where in the kernel the event was taken. */
enum nb_hook {
	NB_HOOK_RX = 1,	  /* netif_receive_skb: the device received it */
	NB_HOOK_TX = 2,	  /* net_dev_start_xmit: handed to the device to send */
	NB_HOOK_DROP = 3, /* kfree_skb with reason */
};

/* Parsed packet identity; addresses are in network byte order, the rest host order. */
struct nb_pkt {
	__u8 saddr[NB_ADDR_LEN]; /* IPv4 uses the first 4 bytes */
	__u8 daddr[NB_ADDR_LEN];
	__u8 family; /* 4 or 6; 0 when not IP (e.g. ARP) */
	__u8 proto;  /* IPPROTO_* of the transport */
	__u8 icmp_type; /* ARP frames (family 0): the ARP opcode */
	__u8 icmp_code;
	__u16 sport; /* TCP/UDP ports */
	__u16 dport;
	__u16 icmp_id;
	__u16 icmp_seq;
	__u16 frag_off; /* fragment offset in bytes */
	__u8 more_frags;
	__u8 tcp_flags;
	__u16 ip_len; /* total length from the IP header */
	__u16 pad;    /* zero, as pad2: no hidden padding, events compare byte for byte */
	/*
	 * The datagram's fragment identification: the IPv4 header's 16-bit ID, or the 32-bit
	 * one of an IPv6 fragment header (0 for an IPv6 packet without one).
	 */
	__u32 ip_id;
	__u32 tcp_seq;
	__u32 tcp_ack;
	__u32 l4_len; /* transport payload bytes */
	__u32 pad2;
};

struct nb_event {
	__u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;
	__u32 netns; /* network namespace inode */
	__u8 type;   /* enum nb_ev_type */
	__u8 hook;   /* enum nb_hook */
	__u16 ethertype;
	__u32 reason; /* skb_drop_reason for drops */
	__u64 location;
	__s32 stack_id; /* -1 when none */
	__u32 cpu;
	struct nb_pkt pkt;
};

/* In-kernel filter, set as a const volatile global before load. Zero means "any". */
struct nb_filter {
	__u32 netns;
	__u32 n_ifindex;
	__u32 ifindex[NB_MAX_IFS];
	__u8 family;
	__u8 proto;
	__u8 bidir; /* accept the address/port pair in both directions */
	__u8 has_saddr;
	__u8 has_daddr;
	__u8 pad[3];
	__u8 saddr[NB_ADDR_LEN];
	__u8 daddr[NB_ADDR_LEN];
	__u16 sport;
	__u16 dport;
};

/*
 * Latency chains (common/nb_lat.h): an event of stage i carries hook NB_HOOK_LAT0 + i. The
 * histogram mode counts deltas between stages in log2 microsecond buckets, per CPU, at
 * index ((prev * NB_LAT_MAX_STAGES) + cur) * NB_LAT_BUCKETS + bucket.
 */
#define NB_HOOK_LAT0	  16
#define NB_LAT_MAX_STAGES 8 /* = NB_MAX_STAGES (nb_join.h) */
#define NB_LAT_BUCKETS	  32 /* [0,1], [2,3], [4,7] ... microseconds */
#define NB_LAT_HIST_SLOTS (NB_LAT_MAX_STAGES * NB_LAT_MAX_STAGES * NB_LAT_BUCKETS)

/*
 * A packet's identity between two stages of one direction: what stays the same from the
 * device to the socket (addresses, transport, ports) and tells one packet from the next of
 * the flow (IP ID, TCP seq/ack, ICMP id/seq/type).
 */
struct nb_lat_key {
	__u8 saddr[NB_ADDR_LEN];
	__u8 daddr[NB_ADDR_LEN];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 proto;
	__u16 pad;
	__u32 ip_id;
	__u32 id1; /* TCP seq; ICMP id << 16 | seq */
	__u32 id2; /* TCP ack; ICMP type */
};

/* The last stage a packet was seen at, and when. */
struct nb_lat_last {
	__u64 ts_ns;
	__u32 stage;
	__u32 pad;
};

/* In-kernel drop counts (kernel_drop_stack_stats_summary_all): one per stack, reason, device. */
struct nb_drop_key {
	__s32 stack_id; /* -1 when the stack could not be taken */
	__u32 reason;
	__u32 ifindex; /* 0: the skb had no device */
};

#endif /* NB_EVENT_H */
