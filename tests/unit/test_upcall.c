// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * OVS upcalls from outside: first packets of new flows are upcalls, later ones the fast path;
 * an upcall whose packet never leaves is lost; a flow idle past max-idle upcalls again; the
 * flows with most upcalls; bounded tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nb_upcall.h"

#define MS    1000000ull
#define IN    3 /* ifindex of the port packets enter */
#define OUT   4
#define IDLE  (10000 * MS)
#define TMOUT (1000 * MS)

static struct nb_pkt udp(uint16_t sport, uint16_t dport, uint16_t ip_id)
{
	struct nb_pkt p = {
	    .family = 4, .proto = 17, .sport = sport, .dport = dport, .ip_id = ip_id, .l4_len = 10};

	p.saddr[0] = 198, p.saddr[1] = 18, p.saddr[2] = 1, p.saddr[3] = 1;
	p.daddr[0] = 198, p.daddr[1] = 18, p.daddr[2] = 1, p.daddr[3] = 2;
	return p;
}

/* 5 new flows, two packets each: 5 upcalls (slow, ~500 us) and 5 fast ones (~20 us). */
static void test_new_flows(void **state)
{
	struct nb_upcall *u = nb_upcall_new(IDLE, TMOUT);
	const struct nb_upcall_counts *c;
	struct nb_upcall_stats st;
	uint64_t t = 1000 * MS;
	uint16_t id = 1;

	(void)state;
	for (int f = 0; f < 5; f++) {
		struct nb_pkt a = udp(40000, 10001 + f, id++), b = udp(40000, 10001 + f, id++);

		nb_upcall_add(u, t, false, IN, &a);
		nb_upcall_add(u, t + 500000, true, OUT, &a); /* 500 us: slot 8 [256, 511] */
		nb_upcall_add(u, t + 1 * MS, false, IN, &b);
		nb_upcall_add(u, t + 1 * MS + 20000, true, OUT, &b); /* 20 us: slot 4 */
		t += 2 * MS;
	}
	c = nb_upcall_total(u);
	assert_int_equal(c->upcalls, 5);
	assert_int_equal(c->completed, 5);
	assert_int_equal(c->lost, 0);
	assert_int_equal(c->fast, 5);
	assert_int_equal(c->up_lat[8], 5);
	assert_int_equal(c->fast_lat[4], 5);
	assert_int_equal(nb_upcall_iv(u)->upcalls, 5);
	nb_upcall_interval(u);
	assert_int_equal(nb_upcall_iv(u)->upcalls, 0);
	assert_int_equal(nb_upcall_total(u)->upcalls, 5);
	nb_upcall_stats(u, &st);
	assert_int_equal(st.tx_unmatched + st.pending_full + st.flows_forgotten, 0);
	assert_int_equal(nb_upcall_pending(u), 0);
	nb_upcall_free(&u);
	assert_null(u);
}

/*
 * The slow path drops the first packet (an OpenFlow drop rule): lost after the timeout. A packet
 * leaving by the port it entered is not a forwarding; one leaving unseen is counted apart.
 */
static void test_lost_and_unmatched(void **state)
{
	struct nb_upcall *u = nb_upcall_new(IDLE, TMOUT);
	struct nb_pkt d = udp(40000, 9, 7), e = udp(40000, 11000, 8), x = udp(1, 2, 3);
	struct nb_upcall_stats st;

	(void)state;
	nb_upcall_add(u, 10 * MS, false, IN, &d);
	nb_upcall_add(u, 11 * MS, false, IN, &e);
	nb_upcall_add(u, 12 * MS, true, IN, &e); /* hairpin: not it */
	nb_upcall_add(u, 13 * MS, true, OUT, &x);
	nb_upcall_expire(u, 500 * MS);
	assert_int_equal(nb_upcall_total(u)->lost, 0);
	nb_upcall_add(u, 14 * MS + 100000, true, OUT, &e);
	nb_upcall_expire(u, 10 * MS + TMOUT);
	assert_int_equal(nb_upcall_total(u)->upcalls, 2);
	assert_int_equal(nb_upcall_total(u)->completed, 1);
	assert_int_equal(nb_upcall_total(u)->lost, 1);
	nb_upcall_stats(u, &st);
	assert_int_equal(st.tx_unmatched, 2);
	assert_int_equal(nb_upcall_pending(u), 0);
	nb_upcall_free(&u);
}

/* A flow idle past max-idle lost its datapath flow: its next packet upcalls again. Top flows. */
static void test_idle_and_top(void **state)
{
	struct nb_upcall *u = nb_upcall_new(IDLE, TMOUT);
	struct nb_upcall_flow top[3];
	struct nb_pkt p;
	uint64_t t = 1 * MS;
	uint16_t id = 1;

	(void)state;
	for (int i = 0; i < 3; i++) { /* flow 7777 upcalls 3 times, 9 s apart packets in between */
		p = udp(5000, 7777, id++);
		nb_upcall_add(u, t, false, IN, &p);
		nb_upcall_add(u, t + MS, true, OUT, &p);
		p = udp(5000, 7777, id++);
		nb_upcall_add(u, t + 9000 * MS, false, IN, &p); /* within max-idle: fast */
		nb_upcall_add(u, t + 9000 * MS + 10000, true, OUT, &p);
		t += 9000 * MS + IDLE;
	}
	p = udp(5000, 8888, id++);
	nb_upcall_add(u, t, false, IN, &p);
	nb_upcall_add(u, t + MS, true, OUT, &p);
	assert_int_equal(nb_upcall_total(u)->upcalls, 4);
	assert_int_equal(nb_upcall_total(u)->fast, 3);
	assert_int_equal(nb_upcall_top(u, top, 3), 2);
	assert_int_equal(top[0].key.dport, 7777);
	assert_int_equal(top[0].upcalls, 3);
	assert_int_equal(top[1].key.dport, 8888);
	assert_int_equal(top[1].upcalls, 1);
	assert_int_equal(nb_upcall_top(u, top, 1), 1);
	assert_int_equal(top[0].key.dport, 7777);
	nb_upcall_free(&u);
}

/* More packets in flight than the table holds: the rest are counted, not followed. */
static void test_pending_full(void **state)
{
	struct nb_upcall *u = nb_upcall_new(IDLE, TMOUT);
	struct nb_upcall_stats st;
	unsigned n = NB_UPCALL_PENDING * 2;

	(void)state;
	for (unsigned i = 0; i < n; i++) {
		struct nb_pkt p = udp(1, (uint16_t)(i % 60000 + 1), (uint16_t)i);

		nb_upcall_add(u, 1 + i, false, IN, &p);
	}
	nb_upcall_stats(u, &st);
	assert_true(st.pending_full >= NB_UPCALL_PENDING);
	assert_int_equal(nb_upcall_pending(u) + st.pending_full, n);
	nb_upcall_expire(u, 1 + n + TMOUT);
	assert_int_equal(nb_upcall_pending(u), 0);
	assert_int_equal(nb_upcall_total(u)->lost, n - st.pending_full);
	nb_upcall_free(&u);
}

/*
 * The kernel decided (idle 0): every entering packet that reaches user space is an upcall,
 * even of a flow seen a moment ago (its kernel record was evicted, or it was idle there).
 */
static void test_kernel_decides(void **state)
{
	struct nb_upcall *u = nb_upcall_new(0, TMOUT);
	struct nb_pkt a = udp(40000, 10001, 1), b = udp(40000, 10001, 2);

	(void)state;
	nb_upcall_add(u, 1 * MS, false, IN, &a);
	nb_upcall_add(u, 2 * MS, true, OUT, &a);
	nb_upcall_add(u, 3 * MS, false, IN, &b);
	nb_upcall_add(u, 4 * MS, true, OUT, &b);
	assert_int_equal(nb_upcall_total(u)->upcalls, 2);
	assert_int_equal(nb_upcall_total(u)->completed, 2);
	assert_int_equal(nb_upcall_total(u)->fast, 0);
	nb_upcall_free(&u);
}

/*
 * The fast path as the kernel's cumulative counts: packets out and sampled latencies go to the
 * interval and the total; a deficit is a loss only once everything entered before it is older
 * than the timeout (the rest may still be in flight), and then exactly.
 */
static void test_kernel_counts(void **state)
{
	struct nb_upcall *u = nb_upcall_new(0, TMOUT);
	struct nb_up_counts k = {0};
	struct nb_upcall_stats st;
	uint64_t t = 5000 * MS;

	(void)state;
	nb_upcall_kernel(u, t, &k);
	/* 100 in, 90 out at once, 3 latencies sampled: no loss can be told yet. */
	k.fast_in = 100, k.fast_out = 90, k.sample_out = 3, k.fast_lat[4] = 3, k.out_unknown = 2;
	k.sampled = 4; /* one followed packet still on its way */
	t += 100 * MS;
	nb_upcall_kernel(u, t, &k);
	assert_int_equal(nb_upcall_iv(u)->fast, 90);
	assert_int_equal(nb_upcall_iv(u)->fast_followed, 4);
	assert_int_equal(nb_upcall_iv(u)->fast_sampled, 3);
	assert_int_equal(nb_upcall_iv(u)->fast_lat[4], 3);
	assert_int_equal(nb_upcall_iv(u)->fast_lost, 0);
	nb_upcall_interval(u);
	/* Traffic goes on: 50 more in and out within the timeout. Still in flight, maybe. */
	k.fast_in = 150, k.fast_out = 140;
	for (int i = 0; i < 9; i++) {
		t += 100 * MS;
		nb_upcall_kernel(u, t, &k);
	}
	assert_int_equal(nb_upcall_iv(u)->fast, 50);
	assert_int_equal(nb_upcall_total(u)->fast_lost, 0);
	/* A pause of the timeout: the 10 missing are lost, once. */
	for (int i = 0; i < 12; i++) {
		t += 100 * MS;
		nb_upcall_kernel(u, t, &k);
	}
	assert_int_equal(nb_upcall_total(u)->fast_lost, 10);
	assert_int_equal(nb_upcall_iv(u)->fast_lost, 10);
	assert_int_equal(nb_upcall_total(u)->fast, 140);
	/* Copies of flooded packets out: more out than in never makes a negative loss. */
	k.fast_out = 200;
	t += 2000 * MS;
	nb_upcall_kernel(u, t, &k);
	assert_int_equal(nb_upcall_total(u)->fast_lost, 10);
	assert_int_equal(nb_upcall_total(u)->fast, 200);
	nb_upcall_stats(u, &st);
	assert_int_equal(st.tx_unmatched, 2);
	nb_upcall_free(&u);
}

/* The hooks chosen for what the kernel has, and the reason named in the header. */
static void test_ovs_choose(void **state)
{
	struct nb_ovs_env all = {.module = true,
				 .tracepoint = true,
				 .kprobes = true,
				 .sym_upcall = true,
				 .sym_extract = true},
			  e;
	char why[160];

	(void)state;
	assert_int_equal(nb_ovs_choose(&all, why, sizeof(why)), NB_OVS_TP_KPROBE);
	assert_string_equal(why, "tracepoint openvswitch:ovs_dp_upcall -> kprobe "
				 "ovs_flow_key_extract_userspace");
	e = all, e.tracepoint = false;
	assert_int_equal(nb_ovs_choose(&e, why, sizeof(why)), NB_OVS_KPROBES);
	assert_string_equal(why, "kprobe ovs_dp_upcall (no tracepoint) -> kprobe "
				 "ovs_flow_key_extract_userspace");
	e.sym_upcall = false;
	assert_int_equal(nb_ovs_choose(&e, why, sizeof(why)), NB_OVS_PORTS);
	assert_string_equal(why, "kernel datapath hooks not used: neither the ovs_dp_upcall "
				 "tracepoint nor the function");
	/* This machine: nothing of it. */
	e = (struct nb_ovs_env){0};
	assert_int_equal(nb_ovs_choose(&e, why, sizeof(why)), NB_OVS_PORTS);
	assert_string_equal(why, "kernel datapath hooks not used: no openvswitch kernel module");
	/* The tracepoint alone cannot see the end: no kprobes, the ports. */
	e = all, e.kprobes = false;
	assert_int_equal(nb_ovs_choose(&e, why, sizeof(why)), NB_OVS_PORTS);
	assert_string_equal(why, "kernel datapath hooks not used: no kprobes for "
				 "ovs_flow_key_extract_userspace");
	e = all, e.sym_extract = false;
	assert_int_equal(nb_ovs_choose(&e, why, sizeof(why)), NB_OVS_PORTS);
	assert_string_equal(why, "kernel datapath hooks not used: "
				 "ovs_flow_key_extract_userspace is not a kernel symbol");
	/* A netdev bridge's upcalls never reach the module, loaded or not. */
	e = all, e.userspace_dp = true;
	assert_int_equal(nb_ovs_choose(&e, why, sizeof(why)), NB_OVS_PORTS);
	assert_string_equal(why, "kernel datapath hooks not used: the bridges use the userspace "
				 "datapath");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_flows),	   cmocka_unit_test(test_lost_and_unmatched),
	    cmocka_unit_test(test_idle_and_top),   cmocka_unit_test(test_pending_full),
	    cmocka_unit_test(test_kernel_decides), cmocka_unit_test(test_kernel_counts),
	    cmocka_unit_test(test_ovs_choose),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
