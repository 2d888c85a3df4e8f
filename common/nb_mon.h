/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Kernel/user ABI of the virtualization monitors (tun_ring_monitor; bpf/nb_tun.bpf.c), and the
 * arithmetic both sides share. Fixed-width types only, no pointers.
 */
#ifndef NB_MON_H
#define NB_MON_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "nb_event.h"

#define NB_TUN_MAXQ  256 /* MAX_TAP_QUEUES */
/*
 * The ring is read (the HWM's occupancy, the dequeue count's ring watch) 1 in this many enqueues
 * per CPU at most (a power of 2), fewer for a ring under 4 times that: a quarter of its size, so
 * the watch looks well within half a ring. Each read is two lines the reader writes, a miss each:
 * 1 in 8 cost the enqueue 20 ns per packet more than 1 in 32 (docs/BENCHMARKS.md).
 */
#define NB_TUN_OCC_EVERY 32
/* A sojourn sample not seen leaving after this long is given up (a path the programs miss). */
#define NB_TUN_SAMP_STALE_NS 10000000000ULL
#define NB_MON_SLOTS 32	 /* log2 microsecond slots: [0,1], [2,3], [4,7] ... (nb_hist_log2_range) */

/* One queue of the tap, counted per CPU by the BPF programs; user space adds the CPUs up. */
struct nb_tun_qstat {
	__u64 enq;	     /* packets handed to the tap's transmit on this queue */
	__u64 matched;	     /* of them, those that passed the packet filter */
	__u64 full;	     /* packets that found the ring full (the producer's slot taken): dropped */
	__u64 drop_full;     /* kfree_skb FULL_RING on this queue */
	__u64 drop_other;    /* other drops in tun_net_xmit (no reader, filter, ...) */
	__u64 deq;	     /* user space: packets taken from the ring (nb_hot.samp[q].deq) */
	__u64 samp_stale;    /* sojourn samples given up (never seen leaving) */
	__u64 hwm_epoch;     /* the interval hwm belongs to (nb_epoch when it was written) */
	__u32 hwm;	     /* highest occupancy seen after an enqueue in that interval (sampled) */
	__u32 ev_epoch;	     /* BPF only: nb_epoch + 1 of this CPU's last FULL event (0: none) */
	__u64 samp_j;	     /* BPF only: the jiffy of this CPU's last sampling attempt */
	__u32 dev_set;	     /* BPF only: this CPU has published the device (nb_hot.dev) */
	__u32 full_epoch;    /* BPF only: nb_epoch + 1 of this CPU's last full-ring read */
	__u32 occ_mask;	     /* BPF only: the ring is read when enq & occ_mask == 1 & occ_mask */
	__u32 pad;
	/* enqueue to dequeue of sampled matched packets, log2 us (one in the ring at a time) */
	__u64 sojourn[NB_MON_SLOTS];
};

/* The last state of one queue's ring seen by a program (an enqueue or a dequeue). */
struct nb_tun_ring {
	__u64 ts_ns; /* 0: never seen */
	__s32 producer;
	__s32 consumer_head;
	__s32 consumer_tail;
	__s32 size;
	__u32 occupancy; /* packets waiting for the reader */
	__u32 numqueues;
	__u32 full;    /* the producer's slot was taken: the next enqueue is dropped */
	__u32 episode; /* a FULL event of this full spell was reported already */
};

/*
 * What the dequeue touches, in as few pages as possible: the reader's CPU comes back from a
 * system call for every packet, and on a kernel that flushes the TLB there (PTI without PCID)
 * every page a program touches costs a page walk. One line per queue (so queues do not share)
 * holds the queue's sample for the sojourn, the one packet followed from enqueue to dequeue
 * (skb 0: none; kernel addresses used as identities only), and the dequeue count.
 *
 * The count is the advance of the ring's consumer position, not a count of the tap's packets
 * freed by the reader: telling the tap's packets from other taps' at the free means reading
 * skb->dev, on the skb's first line, which the sender's CPU wrote last, a miss that cost two
 * thirds of the dequeue. The position is on a line the reader itself writes. The enqueue
 * publishes the ring (ring, size, head: the position then), again when the reader's file or
 * the ring's size changes; the task that frees the sampled packet is the queue's reader
 * (reader); at each of its frees it adds what the position moved since its last look (head)
 * to deq, and other tasks return at the compare. The enqueue touches the line at most once a
 * jiffy per CPU and 1 in NB_TUN_OCC_EVERY packets at most (reads), the reader for every packet.
 * docs/ARCHITECTURE.md, "Virtualization monitors", has the whole argument. The one value of
 * the array map nb_hot.
 */
struct nb_samp {
	__u64 skb;
	__u64 ts_ns;
	__u64 deq;  /* packets taken from the ring since it was first published */
	__u64 ring; /* the queue's struct ptr_ring, 0: none published yet */
	__u64 head; /* its consumer position when the count was last brought up to date */
	__u64 reader; /* the task seen taking the queue's packets (an identity), 0: not known */
	__u32 size;   /* the ring's size when published */
	__u32 pad;
} __attribute__((aligned(64)));

struct nb_hot {
	/* The tap's struct net_device: the drop's filter, the dequeue's while it learns, the snap's */
	__u64 dev;
	/* The readers' code (set before the attach): consume_skb from [lo, hi) follows a dequeue. */
	__u64 deq_lo[2];
	__u64 deq_hi[2];
	struct nb_samp samp[NB_TUN_MAXQ];
};

enum nb_tun_ev_type {
	NB_TUN_EV_ENQ = 1,  /* --all: a matched packet was enqueued */
	NB_TUN_EV_FULL = 2, /* a matched packet found the ring full (first in the interval, per CPU) */
};

struct nb_tun_ev {
	__u64 ts_ns;
	__u8 type; /* enum nb_tun_ev_type */
	__u8 pad;
	__u16 queue;
	__u16 ethertype;
	__u16 pad2;
	__u32 len; /* skb->len */
	__u32 cpu;
	struct nb_tun_ring ring; /* as the packet found it (after it, for NB_TUN_EV_ENQ) */
	struct nb_pkt pkt;
};

/*
 * vhost_queue_correlation_simple (bpf/nb_vhost.bpf.c): events of the vhost-net worker and the
 * tap, correlated in user space (common/nb_vhost.c). vq and sock are kernel addresses used as
 * identities only, never dereferenced by user space.
 */
enum nb_vh_ev_type {
	NB_VH_EV_ENQ = 1,     /* the tap's transmit took skb on queue (the ring enqueue) */
	NB_VH_EV_DEQ = 2,     /* the reader took skb out of the ring (consume_skb, tun read path) */
	NB_VH_EV_RX_WORK = 3, /* a worker (tid) starts moving packets into the guest: RX vq */
	NB_VH_EV_TX_WORK = 4, /* a worker starts moving packets out of the guest: TX vq */
	NB_VH_EV_RECV = 5,    /* tun_recvmsg by a worker: its socket is queue of the tap */
	NB_VH_EV_SEND = 6,    /* tun_sendmsg by a worker: a packet from the guest on queue */
	NB_VH_EV_KICK = 7,    /* the guest kicked vq (handle_rx_kick, handle_tx_kick) */
	NB_VH_EV_SIGNAL = 8,  /* vhost_signal on vq: sent (an interrupt) or suppressed */
};

enum nb_vh_suppress {
	NB_VH_SENT = 0,
	NB_VH_SUPP_EVENT_IDX = 1, /* VIRTIO_RING_F_EVENT_IDX: the guest's used_event not reached */
	NB_VH_SUPP_NO_INTERRUPT = 2, /* VRING_AVAIL_F_NO_INTERRUPT set by the guest */
	NB_VH_SUPP_NO_CALL = 3,	     /* no call eventfd (guest not running, or polling) */
};

#define NB_VH_TX 1 /* nb_vh_ev.dir of TX_WORK, SEND and KICK: the guest's transmit side */

struct nb_vh_ev {
	__u64 ts_ns;
	__u64 vq;   /* struct vhost_virtqueue * */
	__u64 sock; /* struct socket * of the tap queue */
	__u64 skb;
	__u32 tid; /* the worker thread (vhost-PID) */
	__u32 pid; /* its thread group */
	__u16 queue;
	__u8 type;     /* enum nb_vh_ev_type */
	__u8 dir;      /* 0 RX (into the guest), NB_VH_TX */
	__u8 suppress; /* enum nb_vh_suppress, SIGNAL only */
	__u8 pad[3];
	__u32 ifindex;
	char comm[16];
};

/* Log2 slot of a duration in microseconds, as nb_hist_log2_bucket, capped to the last slot. */
static inline __u32 nb_mon_slot(__u64 us)
{
	__u32 s = 0;

	if (us >> 32) {
		us >>= 32;
		s += 32;
	}
	if (us >> 16) {
		us >>= 16;
		s += 16;
	}
	if (us >> 8) {
		us >>= 8;
		s += 8;
	}
	if (us >> 4) {
		us >>= 4;
		s += 4;
	}
	if (us >> 2) {
		us >>= 2;
		s += 2;
	}
	if (us >> 1)
		s += 1;
	return s < NB_MON_SLOTS ? s : NB_MON_SLOTS - 1;
}

/*
 * Packets waiting in a ptr_ring: from the consumer's head to the producer. Equal positions
 * mean empty, unless the head's slot holds a packet: then the ring is full of waiting ones.
 * (Full in general is the producer's slot being taken, which happens earlier: the reader
 * frees consumed slots in batches, so consumed slots between tail and head stay taken.)
 */
static inline __u32 nb_ring_occupancy(__s32 producer, __s32 consumer_head, __s32 size,
				      int head_taken)
{
	__s32 d;

	if (size <= 0)
		return 0;
	d = producer - consumer_head;
	if (d < 0)
		d += size;
	if (d == 0 && head_taken)
		return (__u32)size;
	return (__u32)d;
}

/*
 * The enqueue's period of ring reads for a ring of size slots, less one (a mask of the enqueue
 * count): NB_TUN_OCC_EVERY, halved while it is more than a quarter of the ring.
 */
static inline __u32 nb_occ_mask(__s32 size)
{
	__u32 every = NB_TUN_OCC_EVERY;

	for (int i = 0; i < 5; i++) /* log2(NB_TUN_OCC_EVERY) halvings at most */
		if (every > 1 && (__s64)every * 4 > size)
			every >>= 1;
	return every - 1;
}

/*
 * How far the consumer position moved from last to head on a ring of size slots (it only moves
 * forward, wrapping at size; less than a whole turn between two looks, see struct nb_samp).
 * 0 for a position outside the ring (the ring was resized since it was published).
 */
static inline __u32 nb_ring_advance(__u32 last, __u32 head, __u32 size)
{
	if (head >= size || last >= size)
		return 0;
	return head >= last ? head - last : head + size - last;
}

/*
 * ovs_upcall_latency_summary's port mode (bpf/nb_stage.bpf.h, docs/ARCHITECTURE.md
 * "Virtualization monitors"): the kernel decides which packets user space needs. A flow is
 * the direction's addresses, protocol and ports (ICMP: the echo id and the type); a packet is
 * its flow plus what tells the flow's packets apart.
 */
struct nb_up_fkey {
	__u8 saddr[NB_ADDR_LEN];
	__u8 daddr[NB_ADDR_LEN];
	__u16 sport; /* ICMP: the echo id */
	__u16 dport;
	__u8 family;
	__u8 proto;
	__u8 icmp_type;
	__u8 pad;
};

struct nb_up_pkey {
	struct nb_up_fkey f;
	__u32 ip_id;
	__u32 tcp_seq;
	__u32 l4_len;
	__u16 icmp_seq;
	__u16 frag_off;
};

/* Per CPU, cumulative since the load; user space adds the CPUs up and takes differences. */
struct nb_up_counts {
	__u64 cand;	      /* upcall candidates: a flow's packet entering after it was idle */
	__u64 fast_in;	      /* other packets entering a port (the fast path) */
	__u64 fast_out;	      /* packets of a known flow leaving another port, not a candidate's */
	__u64 out_unknown;    /* leaving a port, the flow never seen entering another one */
	__u64 sampled;	      /* fast-path packets followed for the latency histogram */
	__u64 sample_out;     /* of them, seen leaving (counted in fast_lat) */
	__u64 map_full;	      /* a flow or packet record the kernel's maps refused */
	__u64 last_sample_ns; /* this CPU's last sample */
	__u64 fast_lat[NB_MON_SLOTS]; /* sampled fast-path latency, log2 microseconds */
};

#endif /* NB_MON_H */
