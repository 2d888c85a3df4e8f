/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * vhost_queue_correlation_simple's correlation: from the events of bpf/nb_vhost.bpf.c (struct
 * nb_vh_ev, in the order of their timestamps) to a table per queue of the tap: the socket of
 * the queue, the vhost worker thread serving it, the virtqueues (RX into the guest, TX out of
 * it) it maps to, and per interval the packets moved, the guest signals sent and suppressed (by
 * reason), the guest's kicks and the enqueue-to-dequeue time of the packets.
 *
 * The queue -> socket -> virtqueue chain is learned, not read: a worker thread announces the
 * virtqueue it is about to serve (RX_WORK, TX_WORK), then calls the tap's recvmsg/sendmsg on
 * the socket of one queue (RECV, SEND), which binds that queue to that virtqueue and worker.
 * Kicks and signals name only a virtqueue: they count for the queue bound to it, or as
 * unattributed until one is.
 *
 * Pure: no BPF, no printing. Bounded: NB_VHOST_MAXQ queues, NB_VHOST_WORKERS worker threads,
 * NB_VHOST_INFLIGHT packets between enqueue and dequeue (an older one is pushed out, counted).
 */
#ifndef NB_VHOST_H
#define NB_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "nb_mon.h"

#define NB_VHOST_MAXQ	  NB_TUN_MAXQ
#define NB_VHOST_WORKERS  64
#define NB_VHOST_INFLIGHT 65536

struct nb_vhost_qstat {
	uint64_t moved_rx; /* packets into the guest: dequeued from the tap's ring */
	uint64_t moved_tx; /* packets from the guest: the worker's sendmsg on the queue */
	uint64_t signals_sent;
	uint64_t suppressed[4]; /* by enum nb_vh_suppress (index 0 unused) */
	uint64_t kicks_rx, kicks_tx;
	uint64_t lat[NB_MON_SLOTS]; /* enqueue to dequeue, log2 microseconds */
	uint64_t deq_unmatched;	    /* dequeues whose enqueue was not seen: no latency */
};

struct nb_vhost_queue {
	bool seen;  /* any event named this queue */
	bool bound; /* a worker was seen on its socket */
	uint16_t queue;
	uint64_t sock;
	uint64_t rx_vq, tx_vq; /* 0: not known yet */
	uint32_t worker_tid, worker_pid;
	char worker[16];	     /* the worker's comm: "vhost-PID" where PID is QEMU's */
	uint32_t rebinds;	     /* times the queue's worker or virtqueue changed */
	struct nb_vhost_qstat iv;    /* since nb_vhost_interval() */
	struct nb_vhost_qstat total; /* since the start */
};

struct nb_vhost_stats {
	uint64_t events;
	uint64_t unattributed_kicks;   /* on a virtqueue no queue is bound to */
	uint64_t unattributed_signals; /* same */
	uint64_t evicted;	       /* in-flight packets pushed out by newer ones */
	uint64_t workers_full;	       /* worker announcements beyond NB_VHOST_WORKERS */
	uint64_t bad;		       /* events with a queue out of range or an unknown type */
};

struct nb_vhost;

struct nb_vhost *nb_vhost_new(void);
void nb_vhost_free(struct nb_vhost **pv);
void nb_vhost_add(struct nb_vhost *v, const struct nb_vh_ev *e);
/* Queue q, or NULL when no event named it. */
const struct nb_vhost_queue *nb_vhost_queue(const struct nb_vhost *v, unsigned q);
/* Ends an interval: every queue's iv restarts at zero. */
void nb_vhost_interval(struct nb_vhost *v);
void nb_vhost_stats(const struct nb_vhost *v, struct nb_vhost_stats *out);
/* Signals suppressed, all reasons. */
uint64_t nb_vhost_suppressed(const struct nb_vhost_qstat *s);

#endif /* NB_VHOST_H */
