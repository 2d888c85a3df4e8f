// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tun_ring_monitor: the ring between a tap's transmit and the reader (QEMU, vhost-net) of one
 * device, without kprobes. The enqueue is net_dev_start_xmit on the tap (tun_net_xmit runs
 * next and puts the skb into tfile->tx_ring, or drops it FULL_RING); the dequeue is
 * consume_skb called from the tun read path (tun_do_read, for read() and vhost-net alike);
 * drops are kfree_skb, and a FULL is the FULL_RING drop. The ring is read through BTF from the
 * device's private data.
 *
 * The cost is what the tool is judged by (docs/ARCHITECTURE.md, "Virtualization monitors"): per
 * packet the programs write only per-CPU counters and their own side's line, never a cache line
 * the other side of the ring writes; the ring itself is read 1 in NB_TUN_OCC_EVERY enqueues at most
 * (the high-water mark) and at the first FULL of an interval. The sojourn follows one sampled
 * packet per queue at a time, and the state "now" is read on demand by user space (nb_tun_snap).
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
/* tun_net_xmit's code: a drop there with another reason than FULL_RING is the ring's too. */
const volatile __u64 nb_xmit_lo[2] = {};
const volatile __u64 nb_xmit_hi[2] = {};
/* No packet filter and no --all: packets are parsed only for a FULL event. */
const volatile bool nb_parse_all = true;
/* Counters only, no events (a serve session): nothing reads the ring buffer. */
const volatile bool nb_no_events = false;

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

/*
 * The dequeue's memory (common/nb_mon.h): the device, the samples and the dequeue counts. A
 * plain array map, not a global: globals live in mappable maps, whose values are vmalloc'd
 * 4 KiB pages, where the small value of an array map is kmalloc'd in the kernel's direct map,
 * which large pages cover; after every read() system call the reader's TLB is empty here.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct nb_hot);
	__uint(max_entries, 1);
} nb_hot SEC(".maps");

static __always_inline struct nb_hot *nb_hotp(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&nb_hot, &zero);
}
__u64 nb_epoch = 0;		 /* written by user space at every interval: the HWM's interval */
__u64 nb_lost = 0;		 /* ring buffer full: event not delivered */
__u64 nb_parse_err = 0;		 /* headers unreadable: the packet compared as not IP */
__u64 nb_noring = 0;		 /* ring reads that found the queue without a reader (no tfile) */
struct nb_tun_ring nb_snap = {}; /* nb_tun_snap's answer */
__u64 nb_snap_deq = 0;		 /* and the queue's dequeue count then */
__s32 nb_snap_rc = 0;

static __always_inline void *nb_netdev_priv(struct net_device *dev)
{
	if (bpf_core_field_exists(dev->priv))
		return (void *)dev + bpf_core_field_offset(struct net_device, priv);
	/* Before the flexible array: the private area follows the aligned struct (NETDEV_ALIGN). */
	return (void *)dev + ((bpf_core_type_size(struct net_device) + 31) & ~31);
}

/* The tx_ring of queue q of the tap, NULL when the queue has no reader attached. */
static __always_inline void *nb_ring_of(struct net_device *dev, __u32 q)
{
	struct tun_struct___nb *tun = nb_netdev_priv(dev);
	struct tun_file___nb *tf = NULL;

	bpf_probe_read_kernel(&tf, sizeof(tf),
			      (void *)tun + bpf_core_field_offset(struct tun_struct___nb, tfiles) +
				  q * sizeof(void *));
	if (!tf)
		return NULL;
	return (void *)tf + bpf_core_field_offset(struct tun_file___nb, tx_ring);
}

#define NB_RING_BUF 256 /* struct ptr_ring is 192 bytes here (cache-line padded) */

/*
 * The whole state of a ring, for a FULL event and the state on demand: the header in one
 * copy (a helper call per field cost more than the rest of the program). 0, or -1 when the
 * queue has no reader attached.
 */
static __always_inline int nb_ring_read(struct net_device *dev, __u32 q, struct nb_tun_ring *r)
{
	unsigned char buf[NB_RING_BUF];
	void **queue = NULL, *slot = NULL, *ring;
	__u32 rsz = bpf_core_type_size(struct ptr_ring___nb);

	if (q >= NB_TUN_MAXQ)
		return -1;
	ring = nb_ring_of(dev, q);
	if (!ring)
		return -1;
	if (rsz > NB_RING_BUF)
		rsz = NB_RING_BUF;
	if (bpf_probe_read_kernel(buf, rsz, ring))
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

/* A field of the ring in its own read: the enqueue touches only the lines it needs. */
#define NB_RING_FIELD(ring, field, dst)                                                            \
	bpf_probe_read_kernel(&(dst), sizeof(dst),                                                 \
			      (ring) + bpf_core_field_offset(struct ptr_ring___nb, field))

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
	struct nb_tun_ev *e;

	if (nb_no_events)
		return;
	e = bpf_ringbuf_reserve(&nb_events, sizeof(*e), 0);
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

static __always_inline void nb_hwm(struct nb_tun_qstat *st, __u32 occ)
{
	__u64 epoch = nb_epoch;

	if (st->hwm_epoch != epoch) {
		st->hwm_epoch = epoch;
		st->hwm = occ;
	} else if (occ > st->hwm) {
		st->hwm = occ;
	}
}

/*
 * The enqueue's look at queue q's ring for the dequeue count (struct nb_samp), on its 1 in
 * NB_TUN_OCC_EVERY read of the ring. It publishes the ring when it is new, or its reader's file
 * or its size changed: the count stops while the values go in (ring 0), so no dequeue adds a
 * position of one ring to a count of another; a dequeue that read the ring just before can
 * still add one stale step, once per change (a reader reattached, the ring resized). And it
 * forgets a known reader that no longer brings the count along (another task took the queue
 * over, and counts only the packets it frees from now on), so that the dequeue learns the new
 * one: half a ring behind is far more than a reader's batch and far from a whole turn, which
 * the count could no longer tell apart.
 */
static __always_inline void nb_ring_watch(__u32 q, void *ring, int size, int head)
{
	struct nb_hot *h = nb_hotp();
	struct nb_samp *sl;

	if (!h)
		return;
	sl = &h->samp[q & (NB_TUN_MAXQ - 1)];
	if (sl->ring != (__u64)ring || sl->size != (__u32)size) {
		sl->ring = 0;
		asm volatile("" ::: "memory");
		sl->size = (__u32)size;
		sl->head = (__u32)head;
		sl->reader = 0;
		asm volatile("" ::: "memory");
		sl->ring = (__u64)ring;
	} else if (sl->reader &&
		   nb_ring_advance((__u32)sl->head, (__u32)head, (__u32)size) > (__u32)size / 2) {
		sl->reader = 0;
	}
}

/*
 * Bring queue sl's dequeue count up to date: add what the consumer position moved since the
 * last look. Only the queue's reader calls it (the task that takes its packets, so one CPU
 * at a time: plain stores, an atomic pair cost a third of the program), on a ring position it
 * wrote itself, a hit. Another task that took packets in between leaves its steps to the next
 * look (the position is the ring's own), as long as they are less than half a ring
 * (nb_ring_watch). The position first, then the count: nb_tun_snap reads them the other way
 * round, and never counts a step twice.
 */
static __always_inline void nb_deq_count(struct nb_samp *sl)
{
	__u64 ring = sl->ring;
	int head = -1;
	__u32 d;

	if (!ring || NB_RING_FIELD((void *)ring, consumer_head, head))
		return;
	d = nb_ring_advance((__u32)sl->head, (__u32)head, sl->size);
	if (!d)
		return;
	sl->head = (__u32)head;
	asm volatile("" ::: "memory");
	sl->deq += d;
}

/*
 * Sample the packet for the sojourn: when no sample of the queue is in the ring, at most once
 * per jiffy per CPU (so every packet at low rates, a few hundred a second in a flood). A sample
 * that was never seen leaving (a path this program does not see) is given up after
 * NB_TUN_SAMP_STALE_NS, counted.
 */
static __always_inline void nb_sample(struct nb_tun_qstat *st, __u32 q, struct sk_buff *skb)
{
	struct nb_samp *sl;
	struct nb_hot *h;
	__u64 j = bpf_jiffies64(), now;

	if (st->samp_j == j)
		return;
	st->samp_j = j;
	h = nb_hotp();
	if (!h)
		return;
	sl = &h->samp[q & (NB_TUN_MAXQ - 1)];
	now = bpf_ktime_get_ns();
	if (sl->skb) {
		if (now - sl->ts_ns < NB_TUN_SAMP_STALE_NS)
			return;
		st->samp_stale++;
	}
	sl->ts_ns = now;
	sl->skb = (__u64)skb;
}

/* The packet into *p (zeroed when unreadable, counted) and whether it passes the filter. */
static __always_inline bool nb_match(struct sk_buff *skb, struct net_device *dev, struct nb_pkt *p,
				     __u16 *ethertype)
{
	int rc = nb_parse_frame(&NB_RD_PROBE, skb->data, bpf_ntohs(skb->protocol),
				dev->type == NB_ARPHRD_ETHER, ethertype, p, NULL);

	if (rc < 0)
		__sync_fetch_and_add(&nb_parse_err, 1);
	if (rc)
		__builtin_memset(p, 0, sizeof(*p));
	return nb_pkt_match(&nb_cfg, p);
}

/*
 * An enqueue: skb about to be handed to tun_net_xmit on queue q of our tap (dev). Two hooks
 * call it (docs/ARCHITECTURE.md, "Virtualization monitors"): a tcx egress program on the tap
 * when it has a single queue (the ring is then queue 0, known before the kernel picks it), which
 * runs for the tap's packets only, and net_dev_start_xmit otherwise, which runs for every
 * transmit of the machine.
 */
static __always_inline void nb_enq(struct sk_buff *skb, struct net_device *dev, __u32 q)
{
	struct nb_tun_qstat *st;
	struct nb_pkt p = {};
	__u16 ethertype = 0;
	void *ring, **queue = NULL, *slot = NULL;
	int producer = 0, size = 0, head;
	__u32 occ;
	bool matched = true;

	st = bpf_map_lookup_elem(&nb_tun_q, &q);
	if (!st)
		return;
	st->enq++;
	/* Published once per CPU: nb_hot is not touched for every packet. */
	if (!st->dev_set) {
		struct nb_hot *h = nb_hotp();

		if (h)
			h->dev = (__u64)dev;
		st->dev_set = 1;
	}
	if (nb_parse_all)
		matched = nb_match(skb, dev, &p, &ethertype);
	/*
	 * Whether the ring is full is not asked here: the packet that finds it full is dropped
	 * FULL_RING in tun_net_xmit, and the drop program counts it and carries the FULL event.
	 * Asking here cost four reads of the ring per packet on the sender's CPU, and raced with
	 * a reader freeing the slot before the produce. A sample that is dropped is given up there.
	 */
	if (matched) {
		st->matched++;
		nb_sample(st, q, skb);
	}
	/*
	 * The occupancy this packet leaves behind, for the HWM: the consumer's head is on the line
	 * the reader writes for every packet, so it is read 1 in occ_mask + 1 enqueues (the first
	 * one, then nb_occ_mask's period).
	 */
	if (!nb_all && (st->enq & st->occ_mask) != (1 & st->occ_mask))
		return;
	/* Until the size is known (a queue without a reader has none): the longest period. */
	if (!st->occ_mask)
		st->occ_mask = NB_TUN_OCC_EVERY - 1;
	ring = nb_ring_of(dev, q);
	if (!ring) {
		__sync_fetch_and_add(&nb_noring, 1);
		return;
	}
	NB_RING_FIELD(ring, producer, producer);
	if (bpf_core_field_offset(struct ptr_ring___nb, queue) ==
	    bpf_core_field_offset(struct ptr_ring___nb, size) + 8) {
		/* size, batch, queue: one read (constants after relocation: the verifier prunes) */
		__u64 sq[2] = {};

		NB_RING_FIELD(ring, size, sq);
		size = (int)(__u32)sq[0];
		queue = (void **)sq[1];
	} else {
		NB_RING_FIELD(ring, size, size);
		NB_RING_FIELD(ring, queue, queue);
	}
	if (size <= 0 || producer < 0 || producer >= size)
		return;
	st->occ_mask = nb_occ_mask(size);
	head = 0;
	NB_RING_FIELD(ring, consumer_head, head);
	if (head < 0 || head >= size)
		return;
	nb_ring_watch(q, ring, size, head);
	/* Full (the slot taken): this packet is about to be dropped, the drop program says so. */
	bpf_probe_read_kernel(&slot, sizeof(slot), queue + producer);
	if (slot) {
		nb_hwm(st, nb_ring_occupancy(producer, head, size, producer == head));
		return;
	}
	occ = nb_ring_occupancy(producer, head, size, 0) + 1;
	nb_hwm(st, occ);
	if (nb_all && matched) {
		struct nb_tun_ring r = {};

		r.producer = producer + 1 < size ? producer + 1 : 0;
		r.consumer_head = head;
		NB_RING_FIELD(ring, consumer_tail, r.consumer_tail);
		r.size = size;
		r.occupancy = occ;
		r.ts_ns = bpf_ktime_get_ns();
		nb_emit(NB_TUN_EV_ENQ, q, skb, &r, &p, ethertype);
	}
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(nb_tun_enq, struct sk_buff *skb, struct net_device *dev)
{
	const volatile struct nb_filter *f = &nb_cfg;
	__u32 q;

	if (dev->ifindex != f->ifindex[0] || dev->nd_net.net->ns.inum != f->netns)
		return 0;
	q = skb->queue_mapping;
	if (q < NB_TUN_MAXQ)
		nb_enq(skb, dev, q);
	return 0;
}

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

#define NB_TCX_NEXT -1 /* let the next tcx program and the legacy tc chain run */

/* Attached to the tap alone, and only to a tap of one queue (agent/nb_tunmon.c). */
SEC("?tc")
int nb_tun_tcx(struct __sk_buff *ctx)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);

	nb_enq(skb, skb->dev, 0);
	return NB_TCX_NEXT;
}

static __always_inline bool nb_in_reader(const struct nb_hot *h, __u64 loc)
{
	return (loc >= h->deq_lo[0] && loc < h->deq_hi[0]) ||
	       (loc >= h->deq_lo[1] && loc < h->deq_hi[1]);
}

SEC("tp_btf/consume_skb")
int BPF_PROG(nb_tun_deq, struct sk_buff *skb, void *location)
{
	struct nb_tun_qstat *st;
	struct nb_samp *sl;
	struct nb_hot *h;
	__u64 now, task;
	__u32 q;

	/*
	 * The caller first, for every other consume_skb of the machine: its address against the
	 * readers' ranges, on nb_hot's first line. Per packet of the tap this touches that line,
	 * the queue's line in nb_hot, the ring's consumer line and the skb's queue_mapping, all
	 * written or read by the reader just before; not skb->dev (see struct nb_samp), and
	 * nothing on a vmalloc'd page (no global, not even a read-only one: the verifier drops a
	 * branch on it, not the load). Without the readers' ranges every free looks.
	 */
	h = nb_hotp();
	if (!h || (h->deq_lo[0] && !nb_in_reader(h, (__u64)location)))
		return 0;
	q = skb->queue_mapping;
	if (q >= NB_TUN_MAXQ)
		return 0;
	sl = &h->samp[q & (NB_TUN_MAXQ - 1)];
	task = bpf_get_current_task();
	if (task != sl->reader) {
		/*
		 * Not the queue's known reader: another tap's, as a rule, which must not touch this
		 * queue's lines. The sampled packet is known by its address (while it is in the
		 * ring no other packet has it): its reader is the queue's. Without a known reader
		 * (a new ring, a reader that stopped counting) the tap's device tells, read until
		 * the reader is known.
		 */
		if (sl->skb != (__u64)skb && (sl->reader || !sl->ring || (__u64)skb->dev != h->dev))
			return 0;
		/*
		 * The reader it replaces may be counting on another CPU right now, from the same
		 * last position: this task's first count waits for its next free, when that one
		 * is long done. Nothing is lost meanwhile: the steps stay in the ring's position.
		 */
		sl->reader = task;
	} else {
		nb_deq_count(sl);
	}
	if (sl->skb != (__u64)skb)
		return 0;
	now = bpf_ktime_get_ns();
	st = bpf_map_lookup_elem(&nb_tun_q, &q);
	if (st)
		st->sojourn[nb_mon_slot((now - sl->ts_ns) / 1000) & (NB_MON_SLOTS - 1)]++;
	sl->skb = 0;
	return 0;
}

/*
 * Drops of the tap's packets. The one that counts is tun_net_xmit's FULL_RING: the packet found
 * the producer's slot taken, so this is where a FULL is counted and its event built, with that
 * packet (the enqueue does not ask, see there). On kernels without drop reasons a drop in
 * tun_net_xmit's code is FULL when the ring says so (its slot read here).
 */
SEC("tp_btf/kfree_skb")
int BPF_PROG(nb_tun_drop, struct sk_buff *skb, void *location, int reason)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct nb_tun_qstat *st;
	struct nb_tun_ring r = {};
	struct nb_pkt p = {};
	struct net_device *dev;
	struct nb_samp *sl;
	struct nb_hot *h;
	__u64 loc = (__u64)location;
	__u16 ethertype = 0;
	bool reasons, full_ring, in_xmit, full, ev, have = false;
	__u32 q, epoch1;

	/* Every drop of the machine comes here: the device the enqueue saw is one word. */
	h = nb_hotp();
	if (!h || !skb)
		return 0;
	dev = skb->dev;
	if (h->dev) {
		if ((__u64)dev != h->dev)
			return 0;
	} else if (!dev || dev->ifindex != f->ifindex[0] || dev->nd_net.net->ns.inum != f->netns) {
		return 0;
	}
	q = skb->queue_mapping;
	if (q >= NB_TUN_MAXQ)
		return 0;
	/* A sampled packet freed on a path the dequeue does not see: the sample is over. */
	sl = &h->samp[q & (NB_TUN_MAXQ - 1)];
	if (sl->skb == (__u64)skb)
		sl->skb = 0;
	reasons = bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_FULL_RING);
	full_ring = reasons &&
		    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_FULL_RING);
	in_xmit = (loc >= nb_xmit_lo[0] && loc < nb_xmit_hi[0]) ||
		  (loc >= nb_xmit_lo[1] && loc < nb_xmit_hi[1]);
	if (!full_ring && !in_xmit)
		return 0;
	st = bpf_map_lookup_elem(&nb_tun_q, &q);
	if (!st)
		return 0;
	if (full_ring)
		st->drop_full++;
	else
		st->drop_other++;
	full = full_ring;
	if (!reasons) {
		have = !nb_ring_read(dev, q, &r);
		full = have && r.full;
	}
	if (!full)
		return 0;
	st->full++;
	/*
	 * A reader that frees its slots in batches lets a flood fill the ring thousands of times
	 * a second: a FULL event (and the whole ring state it carries) each time cost more than
	 * the rest of the tool, and named the same overflow thousands of times. So the event is
	 * the first matched full of the interval on this CPU (the counts stay exact), and the
	 * state for the HWM is read at the first full of the interval on this CPU (the HWM is a
	 * sample anyway: the enqueue reads it too, 1 in NB_TUN_OCC_EVERY packets at most).
	 */
	epoch1 = (__u32)nb_epoch + 1;
	ev = !nb_no_events && st->ev_epoch != epoch1;
	if (ev)
		ev = nb_match(skb, dev, &p, &ethertype);
	if (!ev && st->full_epoch == epoch1)
		return 0;
	st->full_epoch = epoch1;
	if (!have && nb_ring_read(dev, q, &r))
		return 0;
	r.ts_ns = bpf_ktime_get_ns();
	nb_hwm(st, r.occupancy);
	if (ev) {
		r.episode = 1;
		nb_emit(NB_TUN_EV_FULL, q, skb, &r, &p, ethertype);
		st->ev_epoch = epoch1;
	}
	return 0;
}

/*
 * The ring of queue ctx[0] now, for user space at every report (BPF_PROG_TEST_RUN; never
 * attached): occupancy and positions as they are, not as the last packet left them.
 */
SEC("raw_tp/net_dev_xmit")
int nb_tun_snap(__u64 *ctx)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct nb_hot *h = nb_hotp();
	struct net_device *dev = h ? (struct net_device *)h->dev : NULL;
	struct nb_tun_ring r = {};
	__u32 q = (__u32)ctx[0];
	struct nb_samp *sl;
	__u64 deq, head, ring;

	nb_snap_rc = -1;
	if (!h || !dev || BPF_CORE_READ(dev, ifindex) != f->ifindex[0] || q >= NB_TUN_MAXQ)
		return 0;
	/*
	 * The dequeue count up to this moment (a reader may not have freed since its last
	 * dequeue), without writing: the count, then the position it belongs to, then the ring's
	 * (see nb_deq_count). A step the reader makes meanwhile is left out, never counted twice.
	 */
	sl = &h->samp[q & (NB_TUN_MAXQ - 1)];
	deq = sl->deq;
	asm volatile("" ::: "memory");
	head = sl->head;
	ring = sl->ring;
	asm volatile("" ::: "memory");
	if (nb_ring_read(dev, q, &r))
		return 0;
	nb_snap_deq = deq;
	if (ring == (__u64)nb_ring_of(dev, q))
		nb_snap_deq += nb_ring_advance((__u32)head, (__u32)r.consumer_head, sl->size);
	r.ts_ns = bpf_ktime_get_ns();
	nb_snap = r;
	nb_snap_rc = 0;
	return 0;
}

/*
 * The benchmark's floor (NB_TEST_NOOP_PROGRAMS=1, tests/bench/tun.sh): loaded instead of the
 * programs above, on the same hooks, nothing but the return, so that a run measures what
 * the hooks cost by themselves. Not a flag the programs test: the verifier drops the branch on
 * a read-only flag but keeps its load, a vmalloc'd page the reader's CPU walks to per packet.
 */
SEC("?tp_btf/net_dev_start_xmit")
int BPF_PROG(nb_tun_enq_nop)
{
	return 0;
}

SEC("?tc")
int nb_tun_tcx_nop(struct __sk_buff *ctx)
{
	return NB_TCX_NEXT;
}

SEC("?tp_btf/consume_skb")
int BPF_PROG(nb_tun_deq_nop)
{
	return 0;
}

SEC("?tp_btf/kfree_skb")
int BPF_PROG(nb_tun_drop_nop)
{
	return 0;
}
