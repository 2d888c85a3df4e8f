// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * vhost queue correlation on recorded event streams, as bpf/nb_vhost.bpf.c emits them: a
 * 2-queue tap served by two vhost workers, queue -> socket -> virtqueue learned from the
 * workers' calls, signals sent and suppressed, a guest that suppresses interrupts, kicks before
 * and after a binding, a queue moved to another worker, and packets dequeued unseen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nb_vhost.h"

#define VQ_RX0 0xffff888010000000ull
#define VQ_TX0 0xffff888010000400ull
#define VQ_RX1 0xffff888020000000ull
#define VQ_TX1 0xffff888020000400ull
#define SOCK0  0xffff888030000000ull
#define SOCK1  0xffff888030001000ull
#define US     1000ull

static struct nb_vh_ev ev(uint64_t ts, uint8_t type, uint32_t tid, uint64_t vq, uint64_t sock,
			  uint16_t queue, uint64_t skb)
{
	struct nb_vh_ev e = {.ts_ns = ts,
			     .type = type,
			     .tid = tid,
			     .pid = 4242,
			     .vq = vq,
			     .sock = sock,
			     .queue = queue,
			     .skb = skb};

	if (type == NB_VH_EV_TX_WORK || type == NB_VH_EV_SEND)
		e.dir = NB_VH_TX;
	strcpy(e.comm, "vhost-4242");
	return e;
}

static struct nb_vh_ev kick(uint64_t ts, uint64_t vq, uint8_t dir)
{
	struct nb_vh_ev e = ev(ts, NB_VH_EV_KICK, 0, vq, 0, 0, 0);

	e.dir = dir;
	return e;
}

static struct nb_vh_ev sig(uint64_t ts, uint32_t tid, uint64_t vq, uint8_t suppress)
{
	struct nb_vh_ev e = ev(ts, NB_VH_EV_SIGNAL, tid, vq, 0, 0, 0);

	e.suppress = suppress;
	return e;
}

static void feed(struct nb_vhost *v, const struct nb_vh_ev *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		nb_vhost_add(v, &e[i]);
}

/* Two queues, two workers: each queue gets its own socket, worker and both virtqueues. */
static void test_queue_socket_virtqueue(void **state)
{
	const struct nb_vh_ev s[] = {
	    /* guest kicks RX before any worker touched a socket: nobody to count it for */
	    kick(1 * US, VQ_RX0, 0),
	    ev(2 * US, NB_VH_EV_ENQ, 0, 0, 0, 0, 0xa1),
	    ev(3 * US, NB_VH_EV_ENQ, 0, 0, 0, 1, 0xb1),
	    ev(10 * US, NB_VH_EV_RX_WORK, 501, VQ_RX0, 0, 0, 0),
	    ev(11 * US, NB_VH_EV_RECV, 501, 0, SOCK0, 0, 0),
	    ev(12 * US, NB_VH_EV_DEQ, 501, 0, 0, 0, 0xa1),
	    sig(13 * US, 501, VQ_RX0, NB_VH_SENT),
	    ev(20 * US, NB_VH_EV_RX_WORK, 502, VQ_RX1, 0, 0, 0),
	    ev(21 * US, NB_VH_EV_RECV, 502, 0, SOCK1, 1, 0),
	    ev(1003 * US, NB_VH_EV_DEQ, 502, 0, 0, 1, 0xb1),
	    sig(1004 * US, 502, VQ_RX1, NB_VH_SENT),
	    ev(1100 * US, NB_VH_EV_TX_WORK, 501, VQ_TX0, 0, 0, 0),
	    ev(1101 * US, NB_VH_EV_SEND, 501, 0, SOCK0, 0, 0),
	    ev(1102 * US, NB_VH_EV_SEND, 501, 0, SOCK0, 0, 0),
	    kick(1103 * US, VQ_TX0, NB_VH_TX),
	    kick(1104 * US, VQ_RX0, 0),
	};
	struct nb_vhost *v = nb_vhost_new();
	const struct nb_vhost_queue *q0, *q1;
	struct nb_vhost_stats st;

	(void)state;
	assert_non_null(v);
	feed(v, s, sizeof(s) / sizeof(s[0]));
	q0 = nb_vhost_queue(v, 0);
	q1 = nb_vhost_queue(v, 1);
	assert_non_null(q0);
	assert_non_null(q1);
	assert_null(nb_vhost_queue(v, 2));
	assert_true(q0->bound);
	assert_int_equal(q0->sock, SOCK0);
	assert_int_equal(q0->rx_vq, VQ_RX0);
	assert_int_equal(q0->tx_vq, VQ_TX0);
	assert_int_equal(q0->worker_tid, 501);
	assert_string_equal(q0->worker, "vhost-4242");
	assert_int_equal(q1->sock, SOCK1);
	assert_int_equal(q1->rx_vq, VQ_RX1);
	assert_int_equal(q1->tx_vq, 0);
	assert_int_equal(q1->worker_tid, 502);
	assert_int_equal(q0->total.moved_rx, 1);
	assert_int_equal(q0->total.moved_tx, 2);
	assert_int_equal(q0->total.signals_sent, 1);
	assert_int_equal(q0->total.kicks_tx, 1);
	assert_int_equal(q0->total.kicks_rx, 1);
	assert_int_equal(q1->total.moved_rx, 1);
	assert_int_equal(q1->total.signals_sent, 1);
	/* 10 us from enqueue to dequeue: slot 3 ([8, 15]); 1000 us: slot 9 ([512, 1023]) */
	assert_int_equal(q0->total.lat[3], 1);
	assert_int_equal(q1->total.lat[9], 1);
	assert_int_equal(q0->rebinds + q1->rebinds, 0);
	nb_vhost_stats(v, &st);
	assert_int_equal(st.unattributed_kicks, 1);
	assert_int_equal(st.unattributed_signals, 0);
	assert_int_equal(st.bad, 0);
	nb_vhost_free(&v);
	assert_null(v);
}

/*
 * A guest that turned interrupts off (a busy-polling driver: NO_INTERRUPT), then one using
 * EVENT_IDX that asks for one interrupt per 4 used buffers: suppressed signals by reason.
 */
static void test_guest_suppresses_interrupts(void **state)
{
	struct nb_vhost *v = nb_vhost_new();
	const struct nb_vhost_queue *q;
	struct nb_vh_ev e;
	uint64_t t = 0;

	(void)state;
	e = ev(t++, NB_VH_EV_RX_WORK, 700, VQ_RX0, 0, 0, 0);
	nb_vhost_add(v, &e);
	e = ev(t++, NB_VH_EV_RECV, 700, 0, SOCK0, 0, 0);
	nb_vhost_add(v, &e);
	for (int i = 0; i < 10; i++) {
		e = ev(t++, NB_VH_EV_ENQ, 0, 0, 0, 0, 0x100 + i);
		nb_vhost_add(v, &e);
		e = ev(t++, NB_VH_EV_DEQ, 700, 0, 0, 0, 0x100 + i);
		nb_vhost_add(v, &e);
		e = sig(t++, 700, VQ_RX0, NB_VH_SUPP_NO_INTERRUPT);
		nb_vhost_add(v, &e);
	}
	q = nb_vhost_queue(v, 0);
	assert_int_equal(q->iv.moved_rx, 10);
	assert_int_equal(q->iv.signals_sent, 0);
	assert_int_equal(q->iv.suppressed[NB_VH_SUPP_NO_INTERRUPT], 10);
	assert_int_equal(nb_vhost_suppressed(&q->iv), 10);
	/* the next interval: EVENT_IDX, one interrupt in four */
	nb_vhost_interval(v);
	assert_int_equal(q->iv.moved_rx, 0);
	for (int i = 0; i < 8; i++) {
		e = sig(t++, 700, VQ_RX0, i % 4 == 3 ? NB_VH_SENT : NB_VH_SUPP_EVENT_IDX);
		nb_vhost_add(v, &e);
	}
	assert_int_equal(q->iv.signals_sent, 2);
	assert_int_equal(q->iv.suppressed[NB_VH_SUPP_EVENT_IDX], 6);
	assert_int_equal(q->iv.suppressed[NB_VH_SUPP_NO_INTERRUPT], 0);
	assert_int_equal(q->total.signals_sent, 2);
	assert_int_equal(q->total.suppressed[NB_VH_SUPP_NO_INTERRUPT], 10);
	assert_int_equal(q->total.moved_rx, 10);
	/* all ten packets took one timestamp tick: slot 0 */
	assert_int_equal(q->total.lat[0], 10);
	nb_vhost_free(&v);
}

/*
 * The VM's queue moves to a new worker (QEMU restarted vhost, or the queue was re-attached):
 * counted as a rebind, and later signals count for the new virtqueue only. A dequeue whose
 * enqueue came before the start has no latency; a signal on the old virtqueue is unattributed.
 */
static void test_rebind_and_unseen(void **state)
{
	const struct nb_vh_ev s[] = {
	    ev(1, NB_VH_EV_RX_WORK, 800, VQ_RX0, 0, 0, 0),
	    ev(2, NB_VH_EV_RECV, 800, 0, SOCK0, 0, 0),
	    ev(3, NB_VH_EV_DEQ, 800, 0, 0, 0, 0xdead),
	    ev(4, NB_VH_EV_RX_WORK, 900, VQ_RX1, 0, 0, 0),
	    ev(5, NB_VH_EV_RECV, 900, 0, SOCK0, 0, 0),
	    sig(6, 900, VQ_RX1, NB_VH_SENT),
	    sig(7, 800, VQ_RX0, NB_VH_SENT),
	    sig(8, 900, VQ_RX1, NB_VH_SUPP_NO_CALL),
	};
	struct nb_vhost *v = nb_vhost_new();
	const struct nb_vhost_queue *q;
	struct nb_vhost_stats st;

	(void)state;
	feed(v, s, sizeof(s) / sizeof(s[0]));
	q = nb_vhost_queue(v, 0);
	assert_int_equal(q->worker_tid, 900);
	assert_int_equal(q->rx_vq, VQ_RX1);
	assert_int_equal(q->rebinds, 1);
	assert_int_equal(q->total.moved_rx, 1);
	assert_int_equal(q->total.deq_unmatched, 1);
	for (int i = 0; i < NB_MON_SLOTS; i++)
		assert_int_equal(q->total.lat[i], 0);
	assert_int_equal(q->total.signals_sent, 1);
	assert_int_equal(q->total.suppressed[NB_VH_SUPP_NO_CALL], 1);
	nb_vhost_stats(v, &st);
	assert_int_equal(st.unattributed_signals, 1);
	assert_int_equal(st.events, 8);
	nb_vhost_free(&v);
}

/* Malformed events are counted, never indexed; the in-flight table pushes out the oldest. */
static void test_bounds(void **state)
{
	struct nb_vhost *v = nb_vhost_new();
	struct nb_vhost_stats st;
	struct nb_vh_ev e = ev(1, NB_VH_EV_ENQ, 0, 0, 0, 300, 0x1);

	(void)state;
	nb_vhost_add(v, &e);
	e = ev(1, 99, 0, 0, 0, 0, 0);
	nb_vhost_add(v, &e);
	e = sig(1, 0, VQ_RX0, 9);
	nb_vhost_add(v, &e); /* unattributed: no queue bound, the reason is never read */
	for (uint64_t i = 0; i < NB_VHOST_INFLIGHT + 100; i++) {
		e = ev(10 + i, NB_VH_EV_ENQ, 0, 0, 0, 0, 0x10000 + i * 64);
		nb_vhost_add(v, &e);
	}
	for (unsigned t = 0; t < NB_VHOST_WORKERS + 3; t++) {
		e = ev(1, NB_VH_EV_RX_WORK, 1000 + t, VQ_RX0, 0, 0, 0);
		nb_vhost_add(v, &e);
	}
	nb_vhost_stats(v, &st);
	assert_int_equal(st.bad, 2);
	assert_true(st.evicted >= 100);
	assert_int_equal(st.workers_full, 3);
	assert_null(nb_vhost_queue(v, 300));
	nb_vhost_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_queue_socket_virtqueue),
	    cmocka_unit_test(test_guest_suppresses_interrupts),
	    cmocka_unit_test(test_rebind_and_unseen),
	    cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
