// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tun_ring_monitor: the ring between a tap's transmit and the reader (QEMU, vhost-net) of one
 * device, without kprobes. The enqueue is net_dev_start_xmit on the tap (tun_net_xmit runs
 * next and puts the skb into tfile->tx_ring, or drops it FULL_RING); the dequeue is
 * consume_skb called from the tun read path (tun_do_read, for read() and vhost-net alike);
 * drops are kfree_skb. The ring is read through BTF from the device's private data.
 *
 * The counters live in a per-CPU array by queue; packets are followed from enqueue to dequeue
 * by skb address in an LRU hash, for the sojourn histogram.
 */
#include "nb_skb.bpf.h"
#include "nb_mon.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The tun types, declared for relocation only: the driver may be a module whose types are not
 * in the build machine's vmlinux.h. libbpf finds them in the running kernel's (or module's) BTF.
 */
struct ptr_ring___nb {
	int producer;
	int consumer_head;
	int consumer_tail;
	int size;
	void **queue;
} __attribute__((preserve_access_index));

struct tun_file___nb {
	struct ptr_ring___nb tx_ring;
} __attribute__((preserve_access_index));

struct tun_struct___nb {
	struct tun_file___nb *tfiles[256];
	unsigned int numqueues;
} __attribute__((preserve_access_index));

/* The one tap (ifindex[0], netns) and the packet filter of the options. */
const volatile struct nb_filter nb_cfg = {};
const volatile bool nb_all = false;
/* The reader's code: consume_skb called from [lo, hi) is a dequeue. Two ranges (hot, .cold). */
const volatile __u64 nb_deq_lo[2] = {};
const volatile __u64 nb_deq_hi[2] = {};
/* tun_net_xmit's code: a drop there with another reason than FULL_RING is the ring's too. */
const volatile __u64 nb_xmit_lo[2] = {};
const volatile __u64 nb_xmit_hi[2] = {};
/* No packet filter and no --all: packets are parsed only for a FULL event. */
const volatile bool nb_parse_all = true;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} nb_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct nb_tun_qstat);
	__uint(max_entries, NB_TUN_MAXQ);
} nb_tun_q SEC(".maps");

/* Per CPU, so that the producer's and the reader's CPUs do not fight over one cache line. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct nb_tun_ring);
	__uint(max_entries, NB_TUN_MAXQ);
} nb_tun_rings SEC(".maps");

/*
 * Packets in the rings, for the sojourn: the ring is FIFO, so the enqueue time is kept in the
 * slot the packet is produced into (NB_TUN_SLOTS per queue, for the first NB_TUN_SOJ_QUEUES
 * queues), and the reader's dequeues walk the slots in order behind a cursor. A hash map keyed
 * by skb did the same at twice the cost per packet. A slot whose skb is not the one dequeued
 * (overwritten by a concurrent enqueue, a ring larger than NB_TUN_SLOTS) is a dequeue without
 * sojourn, counted.
 */
struct nb_slot {
	__u64 skb;
	__u64 ts_ns;
	__u32 matched;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct nb_slot);
	__uint(max_entries, NB_TUN_SOJ_QUEUES *NB_TUN_SLOTS);
} nb_slots SEC(".maps");

/* Per queue: the slot the reader's next dequeue should find. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, NB_TUN_SOJ_QUEUES);
} nb_cursor SEC(".maps");

__u64 nb_epoch = 0;	/* written by user space at every interval: the HWM's interval */
__u64 nb_lost = 0;	/* ring buffer full: event not delivered */
__u64 nb_parse_err = 0; /* headers unreadable: the packet compared as not IP */
__u64 nb_noring = 0;	/* enqueue on a queue with no reader attached (no tfile) */

static __always_inline void *nb_netdev_priv(struct net_device *dev)
{
	if (bpf_core_field_exists(dev->priv))
		return (void *)dev + bpf_core_field_offset(struct net_device, priv);
	/* Before the flexible array: the private area follows the aligned struct (NETDEV_ALIGN). */
	return (void *)dev + ((bpf_core_type_size(struct net_device) + 31) & ~31);
}

#define NB_RING_BUF 256 /* struct ptr_ring is 192 bytes here (cache-line padded) */

/*
 * The ring of queue q of the tap: 0, or -1 when the queue has no reader attached. The ring's
 * header is read in one copy (a helper call per field cost more than the rest of the program).
 */
static __always_inline int nb_ring_read(struct net_device *dev, __u32 q, struct nb_tun_ring *r)
{
	struct tun_struct___nb *tun = nb_netdev_priv(dev);
	struct tun_file___nb *tf = NULL;
	unsigned char buf[NB_RING_BUF];
	void **queue = NULL, *slot = NULL;
	__u32 rsz = bpf_core_type_size(struct ptr_ring___nb);

	if (q >= NB_TUN_MAXQ)
		return -1;
	bpf_probe_read_kernel(&tf, sizeof(tf),
			      (void *)tun + bpf_core_field_offset(struct tun_struct___nb, tfiles) +
				  q * sizeof(void *));
	if (!tf)
		return -1;
	if (rsz > NB_RING_BUF)
		rsz = NB_RING_BUF;
	if (bpf_probe_read_kernel(
		buf, rsz, (void *)tf + bpf_core_field_offset(struct tun_file___nb, tx_ring)))
		return -1;
#define NB_RF(field, type)                                                                         \
	(*(type *)(buf + (bpf_core_field_offset(struct ptr_ring___nb, field) & (NB_RING_BUF - 8))))
	r->producer = NB_RF(producer, int);
	r->consumer_head = NB_RF(consumer_head, int);
	r->consumer_tail = NB_RF(consumer_tail, int);
	r->size = NB_RF(size, int);
	queue = NB_RF(queue, void **);
#undef NB_RF
	r->numqueues = 0;
	if (r->size <= 0 || r->producer < 0 || r->producer >= r->size || r->consumer_head < 0 ||
	    r->consumer_head >= r->size)
		return -1;
	bpf_probe_read_kernel(&slot, sizeof(slot), queue + r->producer);
	r->full = slot != NULL;
	if (r->producer != r->consumer_head)
		slot = NULL;
	r->occupancy = nb_ring_occupancy(r->producer, r->consumer_head, r->size, slot != NULL);
	return 0;
}

static __always_inline bool nb_our_dev(struct net_device *dev)
{
	const volatile struct nb_filter *f = &nb_cfg;

	return dev && BPF_CORE_READ(dev, ifindex) == f->ifindex[0] &&
	       BPF_CORE_READ(dev, nd_net.net, ns.inum) == f->netns;
}

static __always_inline void nb_emit(__u8 type, __u32 q, struct sk_buff *skb,
				    const struct nb_tun_ring *r, const struct nb_pkt *p,
				    __u16 ethertype)
{
	struct nb_tun_ev *e = bpf_ringbuf_reserve(&nb_events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&nb_lost, 1);
		return;
	}
	e->type = type;
	e->pad = 0;
	e->queue = (__u16)q;
	e->ethertype = ethertype;
	e->pad2 = 0;
	e->len = BPF_CORE_READ(skb, len);
	e->cpu = bpf_get_smp_processor_id();
	e->ring = *r;
	e->pkt = *p;
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(nb_tun_enq, struct sk_buff *skb, struct net_device *dev)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct nb_tun_ring r = {}, *last;
	struct nb_tun_qstat *st;
	struct nb_pkt p = {};
	__u16 ethertype = 0;
	__u32 q;
	bool matched;
	int rc;

	if (dev->ifindex != f->ifindex[0] || dev->nd_net.net->ns.inum != f->netns)
		return 0;
	q = skb->queue_mapping;
	if (q >= NB_TUN_MAXQ)
		return 0;
	st = bpf_map_lookup_elem(&nb_tun_q, &q);
	last = bpf_map_lookup_elem(&nb_tun_rings, &q);
	if (!st || !last)
		return 0;
	st->enq++;
	if (nb_ring_read(dev, q, &r)) {
		__sync_fetch_and_add(&nb_noring, 1);
		return 0;
	}
	matched = true;
	if (nb_parse_all || r.full) {
		rc = nb_parse_frame(&NB_RD_PROBE, skb->data, bpf_ntohs(skb->protocol),
				    dev->type == NB_ARPHRD_ETHER, &ethertype, &p, NULL);
		if (rc < 0)
			__sync_fetch_and_add(&nb_parse_err, 1);
		if (rc)
			__builtin_memset(&p, 0, sizeof(p));
		matched = nb_pkt_match(f, &p);
	}
	if (matched)
		st->matched++;
	r.ts_ns = bpf_ktime_get_ns();
	if (r.full) {
		st->full++;
		/* One event per full spell: a flood into a full ring would fill our ring too. */
		r.episode = last->episode;
		if (matched && !last->episode) {
			nb_emit(NB_TUN_EV_FULL, q, skb, &r, &p, ethertype);
			r.episode = 1;
		}
		*last = r;
		return 0;
	}
	if (q < NB_TUN_SOJ_QUEUES) {
		__u32 k = q * NB_TUN_SLOTS + ((__u32)r.producer & (NB_TUN_SLOTS - 1));
		struct nb_slot *sl = bpf_map_lookup_elem(&nb_slots, &k);

		if (sl) {
			sl->skb = (__u64)skb;
			sl->ts_ns = r.ts_ns;
			sl->matched = matched;
		}
	}
	/* The state this packet leaves behind once tun_net_xmit has produced it. */
	r.occupancy += 1;
	r.producer = r.producer + 1 < r.size ? r.producer + 1 : 0;
	r.full = 0;
	r.episode = 0;
	*last = r;
	if (st->hwm_epoch != nb_epoch) {
		st->hwm_epoch = nb_epoch;
		st->hwm = r.occupancy;
	} else if (r.occupancy > st->hwm) {
		st->hwm = r.occupancy;
	}
	if (nb_all && matched)
		nb_emit(NB_TUN_EV_ENQ, q, skb, &r, &p, ethertype);
	return 0;
}

static __always_inline bool nb_in_reader(__u64 loc)
{
	if (!nb_deq_lo[0])
		return true; /* no symbols: the inflight map alone decides */
	return (loc >= nb_deq_lo[0] && loc < nb_deq_hi[0]) ||
	       (loc >= nb_deq_lo[1] && loc < nb_deq_hi[1]);
}

static __always_inline struct nb_slot *nb_slot_at(__u32 q, __u32 i, __u64 skb)
{
	__u32 k = q * NB_TUN_SLOTS + (i & (NB_TUN_SLOTS - 1));
	struct nb_slot *sl = bpf_map_lookup_elem(&nb_slots, &k);

	return sl && sl->skb == skb ? sl : NULL;
}

/*
 * The slot of the packet the reader took: at the cursor or a few past it (a slot lost to a
 * concurrent enqueue), else just behind the consumer's head (the read() path takes one at a
 * time: this also finds the place at the start). The cursor wraps with the ring.
 */
static __always_inline struct nb_slot *nb_slot_take(__u32 q, __u64 skb, const struct nb_tun_ring *r,
						    bool by_head)
{
	__u32 *cur = bpf_map_lookup_elem(&nb_cursor, &q), size = (__u32)r->size, i, c;
	struct nb_slot *sl = NULL;

	if (!cur || !size)
		return NULL;
	c = *cur;
	for (i = 0; i < 4 && !sl; i++) {
		c = (*cur + i) % size;
		sl = nb_slot_at(q, c, skb);
	}
	if (!sl && by_head) {
		c = r->consumer_head ? (__u32)r->consumer_head - 1 : size - 1;
		sl = nb_slot_at(q, c, skb);
	}
	if (sl) {
		*cur = (c + 1) % size;
		sl->skb = 0;
	}
	return sl;
}

SEC("raw_tp/consume_skb")
int BPF_PROG(nb_tun_deq, struct sk_buff *skb, void *location)
{
	struct net_device *dev;
	struct nb_slot *sl = NULL;
	struct nb_tun_qstat *st;
	struct nb_tun_ring r = {}, *last;
	__u64 now;
	__u32 q;

	if (!skb)
		return 0;
	dev = BPF_CORE_READ(skb, dev);
	if (!nb_our_dev(dev) || !nb_in_reader((__u64)location))
		return 0;
	now = bpf_ktime_get_ns();
	q = BPF_CORE_READ(skb, queue_mapping);
	if (q >= NB_TUN_MAXQ)
		return 0;
	st = bpf_map_lookup_elem(&nb_tun_q, &q);
	if (!st)
		return 0;
	last = bpf_map_lookup_elem(&nb_tun_rings, &q);
	if (!last)
		return 0;
	/* The common case reads no ring: the cursor finds the slot with the last known size. */
	r = *last;
	if (q < NB_TUN_SOJ_QUEUES && r.size > 0)
		sl = nb_slot_take(q, (__u64)skb, &r, false);
	if (!sl) {
		if (nb_ring_read(dev, q, &r))
			return 0;
		r.episode = r.full ? last->episode : 0;
		if (q < NB_TUN_SOJ_QUEUES)
			sl = nb_slot_take(q, (__u64)skb, &r, true);
	} else {
		/* One packet fewer waiting; the positions as the reader left them. */
		r.consumer_head = r.consumer_head + 1 < r.size ? r.consumer_head + 1 : 0;
		if (r.occupancy)
			r.occupancy--;
	}
	r.ts_ns = now;
	*last = r;
	if (!sl && !nb_deq_lo[0])
		return 0; /* without the reader's address only followed packets are known */
	st->deq++;
	if (sl) {
		if (sl->matched)
			st->sojourn[nb_mon_slot((now - sl->ts_ns) / 1000) & (NB_MON_SLOTS - 1)]++;
	} else {
		st->deq_untracked++;
	}
	return 0;
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(nb_tun_drop, struct sk_buff *skb, void *location, int reason)
{
	struct nb_tun_qstat *st;
	__u64 loc = (__u64)location;
	__u32 q;

	if (!skb || !nb_our_dev(BPF_CORE_READ(skb, dev)))
		return 0;
	q = BPF_CORE_READ(skb, queue_mapping);
	if (q >= NB_TUN_MAXQ)
		return 0;
	st = bpf_map_lookup_elem(&nb_tun_q, &q);
	if (!st)
		return 0;
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_FULL_RING) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_FULL_RING))
		st->drop_full++;
	else if ((loc >= nb_xmit_lo[0] && loc < nb_xmit_hi[0]) ||
		 (loc >= nb_xmit_lo[1] && loc < nb_xmit_hi[1]))
		st->drop_other++;
	return 0;
}
