// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * vhost_queue_correlation_simple: what the vhost-net worker does for one tap. Kernel functions
 * (kprobes, where the kernel has them) for the worker: handle_rx_net/handle_tx_net (it is about
 * to serve a virtqueue), handle_rx_kick/handle_tx_kick (the guest kicked), tun_recvmsg and
 * tun_sendmsg (it moves a packet through the tap queue's socket), vhost_signal and the eventfd
 * it signals (an interrupt for the guest, or none: suppressed). Stable hooks for the tap's
 * ring, as tun_ring_monitor: net_dev_start_xmit (enqueue) and consume_skb from the tun read
 * path (dequeue). Events only; user space correlates them (common/nb_vhost.c).
 *
 * The vhost types are declared here for relocation: vhost and vhost_net are modules, absent
 * from the build machine's vmlinux.h, and libbpf relocates against their BTF at load.
 */
#include "nb_skb.bpf.h"
#include "nb_mon.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NB_VIRTIO_RING_F_EVENT_IDX 29

struct vhost_work___nb {
	unsigned long flags;
} __attribute__((preserve_access_index));

struct vhost_poll___nb {
	struct vhost_work___nb work;
} __attribute__((preserve_access_index));

struct vhost_vring_call___nb {
	void *ctx;
} __attribute__((preserve_access_index));

struct vhost_virtqueue___nb {
	struct vhost_poll___nb poll;
	struct vhost_vring_call___nb call_ctx;
	__u64 acked_features;
} __attribute__((preserve_access_index));

struct vhost_net_virtqueue___nb {
	struct vhost_virtqueue___nb vq;
} __attribute__((preserve_access_index));

struct vhost_net___nb {
	struct vhost_net_virtqueue___nb vqs[2];
	struct vhost_poll___nb poll[2];
} __attribute__((preserve_access_index));

struct tun_struct___nbv {
	struct net_device *dev;
} __attribute__((preserve_access_index));

struct tun_file___nbv {
	struct socket socket;
	struct tun_struct___nbv *tun;
	__u16 queue_index;
} __attribute__((preserve_access_index));

const volatile struct nb_filter nb_cfg = {};
const volatile __u64 nb_deq_lo[2] = {};
const volatile __u64 nb_deq_hi[2] = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} nb_events SEC(".maps");

/* Worker thread -> the virtqueues it last announced ([0] RX, [1] TX). */
struct nb_vh_worker {
	__u64 vq[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct nb_vh_worker);
	__uint(max_entries, 1024);
} nb_vh_workers SEC(".maps");

/* Virtqueues bound to a queue of our tap: kicks and signals of others are not ours. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64);
	__type(value, __u8);
	__uint(max_entries, 1024);
} nb_vh_ours SEC(".maps");

/* A vhost_signal in progress on a thread: its virtqueue and whether the eventfd was signalled. */
struct nb_vh_sig {
	__u64 vq;
	__u8 sent;
	__u8 suppress;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct nb_vh_sig);
	__uint(max_entries, 1024);
} nb_vh_sigs SEC(".maps");

__u64 nb_lost = 0;

static __always_inline void nb_vh_emit(__u8 type, __u8 dir, __u64 vq, __u64 sock, __u64 skb,
				       __u16 queue, __u8 suppress)
{
	struct nb_vh_ev *e = bpf_ringbuf_reserve(&nb_events, sizeof(*e), 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!e) {
		__sync_fetch_and_add(&nb_lost, 1);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->dir = dir;
	e->vq = vq;
	e->sock = sock;
	e->skb = skb;
	e->queue = queue;
	e->suppress = suppress;
	e->tid = (__u32)id;
	e->pid = id >> 32;
	e->ifindex = nb_cfg.ifindex[0];
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
}

static __always_inline bool nb_our_dev(struct net_device *dev)
{
	return dev && BPF_CORE_READ(dev, ifindex) == nb_cfg.ifindex[0] &&
	       BPF_CORE_READ(dev, nd_net.net, ns.inum) == nb_cfg.netns;
}

static __always_inline void nb_vh_worker_vq(int dir, __u64 vq)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct nb_vh_worker *w = bpf_map_lookup_elem(&nb_vh_workers, &tid), nw = {};

	if (w) {
		w->vq[dir & 1] = vq;
		return;
	}
	nw.vq[dir & 1] = vq;
	bpf_map_update_elem(&nb_vh_workers, &tid, &nw, BPF_ANY);
}

/* container_of(work, struct vhost_virtqueue, poll.work) */
static __always_inline __u64 nb_vq_of_work(void *work)
{
	return (__u64)work - bpf_core_field_offset(struct vhost_virtqueue___nb, poll) -
	       bpf_core_field_offset(struct vhost_poll___nb, work);
}

/* The virtqueue dir of the vhost_net whose poll[dir].work this is. */
static __always_inline __u64 nb_net_vq(void *work, int dir)
{
	__u64 net = (__u64)work - bpf_core_field_offset(struct vhost_net___nb, poll) -
		    dir * bpf_core_type_size(struct vhost_poll___nb) -
		    bpf_core_field_offset(struct vhost_poll___nb, work);

	return net + bpf_core_field_offset(struct vhost_net___nb, vqs) +
	       dir * bpf_core_type_size(struct vhost_net_virtqueue___nb) +
	       bpf_core_field_offset(struct vhost_net_virtqueue___nb, vq);
}

SEC("kprobe/handle_rx_net")
int BPF_KPROBE(nb_vh_rx_net, void *work)
{
	nb_vh_worker_vq(0, nb_net_vq(work, 0));
	return 0;
}

SEC("kprobe/handle_tx_net")
int BPF_KPROBE(nb_vh_tx_net, void *work)
{
	nb_vh_worker_vq(1, nb_net_vq(work, 1));
	return 0;
}

static __always_inline int nb_vh_kick(void *work, int dir)
{
	__u64 vq = nb_vq_of_work(work);

	nb_vh_worker_vq(dir, vq);
	if (bpf_map_lookup_elem(&nb_vh_ours, &vq))
		nb_vh_emit(NB_VH_EV_KICK, dir ? NB_VH_TX : 0, vq, 0, 0, 0, 0);
	return 0;
}

SEC("kprobe/handle_rx_kick")
int BPF_KPROBE(nb_vh_rx_kick, void *work)
{
	return nb_vh_kick(work, 0);
}

SEC("kprobe/handle_tx_kick")
int BPF_KPROBE(nb_vh_tx_kick, void *work)
{
	return nb_vh_kick(work, 1);
}

/* recvmsg/sendmsg of a tap queue's socket by a worker: binds the queue to its virtqueue. */
static __always_inline int nb_vh_sock(struct socket *sock, int dir)
{
	struct tun_file___nbv *tf =
	    (void *)sock - bpf_core_field_offset(struct tun_file___nbv, socket);
	struct tun_struct___nbv *tun = BPF_CORE_READ(tf, tun);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct nb_vh_worker *w;
	__u64 vq = 0;
	__u8 one = 1;

	if (!tun || !nb_our_dev(BPF_CORE_READ(tun, dev)))
		return 0;
	w = bpf_map_lookup_elem(&nb_vh_workers, &tid);
	if (w)
		vq = w->vq[dir & 1];
	if (vq)
		bpf_map_update_elem(&nb_vh_ours, &vq, &one, BPF_ANY);
	nb_vh_emit(dir ? NB_VH_EV_SEND : NB_VH_EV_RECV, dir ? NB_VH_TX : 0, vq, (__u64)sock, 0,
		   BPF_CORE_READ(tf, queue_index), 0);
	return 0;
}

SEC("kprobe/tun_recvmsg")
int BPF_KPROBE(nb_vh_recv, struct socket *sock)
{
	return nb_vh_sock(sock, 0);
}

SEC("kprobe/tun_sendmsg")
int BPF_KPROBE(nb_vh_send, struct socket *sock)
{
	return nb_vh_sock(sock, 1);
}

SEC("kprobe/vhost_signal")
int BPF_KPROBE(nb_vh_signal, void *dev, struct vhost_virtqueue___nb *vq)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 v = (__u64)vq;
	struct nb_vh_sig s = {.vq = v};

	if (!bpf_map_lookup_elem(&nb_vh_ours, &v))
		return 0;
	/* Why an interrupt would not be sent, decided now; it is sent if the eventfd fires. */
	if (!BPF_CORE_READ(vq, call_ctx.ctx))
		s.suppress = NB_VH_SUPP_NO_CALL;
	else if (BPF_CORE_READ(vq, acked_features) & (1ull << NB_VIRTIO_RING_F_EVENT_IDX))
		s.suppress = NB_VH_SUPP_EVENT_IDX;
	else
		s.suppress = NB_VH_SUPP_NO_INTERRUPT;
	bpf_map_update_elem(&nb_vh_sigs, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int nb_vh_eventfd(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct nb_vh_sig *s = bpf_map_lookup_elem(&nb_vh_sigs, &tid);

	if (s)
		s->sent = 1;
	return 0;
}

/* Linux >= 6.8: eventfd_signal() is an inline wrapper of this. */
SEC("kprobe/eventfd_signal_mask")
int BPF_KPROBE(nb_vh_efd_mask)
{
	return nb_vh_eventfd();
}

SEC("kprobe/eventfd_signal")
int BPF_KPROBE(nb_vh_efd)
{
	return nb_vh_eventfd();
}

SEC("kretprobe/vhost_signal")
int BPF_KRETPROBE(nb_vh_signal_ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct nb_vh_sig *s = bpf_map_lookup_elem(&nb_vh_sigs, &tid);

	if (!s)
		return 0;
	nb_vh_emit(NB_VH_EV_SIGNAL, 0, s->vq, 0, 0, 0, s->sent ? NB_VH_SENT : s->suppress);
	bpf_map_delete_elem(&nb_vh_sigs, &tid);
	return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(nb_vh_enq, struct sk_buff *skb, struct net_device *dev)
{
	if (dev->ifindex != nb_cfg.ifindex[0] || dev->nd_net.net->ns.inum != nb_cfg.netns)
		return 0;
	nb_vh_emit(NB_VH_EV_ENQ, 0, 0, 0, (__u64)skb, skb->queue_mapping, 0);
	return 0;
}

SEC("raw_tp/consume_skb")
int BPF_PROG(nb_vh_deq, struct sk_buff *skb, void *location)
{
	__u64 loc = (__u64)location;

	if (!skb || !nb_our_dev(BPF_CORE_READ(skb, dev)))
		return 0;
	if (!((loc >= nb_deq_lo[0] && loc < nb_deq_hi[0]) ||
	      (loc >= nb_deq_lo[1] && loc < nb_deq_hi[1])))
		return 0;
	nb_vh_emit(NB_VH_EV_DEQ, 0, 0, 0, (__u64)skb, BPF_CORE_READ(skb, queue_mapping), 0);
	return 0;
}
