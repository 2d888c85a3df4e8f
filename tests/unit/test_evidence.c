// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * A monitor's evidence in the blame (common/nb_evidence.c): the tun ring monitor's sums, the
 * MONITOR report made from its queues, and which finding a report supports for a node: a
 * loss in the tap ring (the verdict line's words), an overflow that lost none of the traced
 * packets, a wait that is most of a latency segment, and nothing for a fast reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <cmocka.h>

#include "nb_evidence.h"

/* A MONITOR of a tap whose queue 0 (ring of size) overflowed full times, drops dropped. */
static void s_mon(struct nb_msg_monitor *m, uint32_t size, uint64_t full, uint64_t drops)
{
	struct nb_wire_monq q = {0, size, size, 0, 100, 100, 100 - drops, full, drops, 0};

	memset(m, 0, sizeof(*m));
	m->session = 7;
	strcpy(m->monitor, "tun_ring");
	strcpy(m->ifname, "vnet0");
	m->attached = 1;
	nb_monitor_fill(m, &q, 1, NULL);
}

static void test_sums(void **state)
{
	struct nb_tun_qstat pcpu[3], tot, d;

	(void)state;
	memset(pcpu, 0, sizeof(pcpu));
	pcpu[0].enq = 10;
	pcpu[0].full = 2;
	pcpu[0].hwm = 9;
	pcpu[0].hwm_epoch = 4;
	pcpu[1].enq = 5;
	pcpu[1].drop_full = 2;
	pcpu[1].sojourn[3] = 4;
	pcpu[1].hwm = 12;
	pcpu[1].hwm_epoch = 3; /* an earlier interval's mark: not this one's */
	pcpu[2].deq = 13;
	pcpu[2].hwm = 7;
	pcpu[2].hwm_epoch = 4;
	assert_int_equal(nb_tun_qstat_sum(&tot, pcpu, 3, 4), 9);
	assert_int_equal(tot.enq, 15);
	assert_int_equal(tot.full, 2);
	assert_int_equal(tot.drop_full, 2);
	assert_int_equal(tot.deq, 13);
	assert_int_equal(tot.sojourn[3], 4);
	assert_int_equal(nb_tun_qstat_sum(&tot, pcpu, 3, 3), 12);
	nb_tun_qstat_sub(&d, &tot, &pcpu[0]);
	assert_int_equal(d.enq, 5);
	assert_int_equal(d.full, 0);
	assert_int_equal(d.deq, 13);
}

static void test_fill(void **state)
{
	struct nb_wire_monq q[20];
	static uint64_t soj[20][NB_MON_SLOTS];
	struct nb_msg_monitor m;
	struct nb_tun_qstat c = {0};
	struct nb_tun_ring r = {.size = 256, .occupancy = 3};

	(void)state;
	memset(&m, 0, sizeof(m));
	memset(soj, 0, sizeof(soj));
	for (uint32_t i = 0; i < 20; i++) {
		c.enq = 100 + i;
		c.matched = i;
		c.full = i == 17 ? 4 : 0;
		c.drop_full = i == 17 ? 3 : i == 2 ? 1 : 0;
		nb_monq_from(&q[i], i, &c, &r, i);
		soj[i][1] = 1;
	}
	soj[5][20] = 2;
	nb_monitor_fill(&m, q, 20, (const uint64_t(*)[NB_MON_SLOTS])soj);
	assert_true(m.has_total);
	assert_int_equal(m.queues_seen, 20);
	assert_int_equal(m.n_queues, NB_WIRE_MAX_MONQ);
	/* Most drops first, then by traffic: 17, 2, then 19, 18, 16 ... */
	assert_int_equal(m.queues[0].queue, 17);
	assert_int_equal(m.queues[1].queue, 2);
	assert_int_equal(m.queues[2].queue, 19);
	assert_int_equal(m.queues[3].queue, 18);
	assert_int_equal(m.queues[4].queue, 16);
	assert_int_equal(m.total.full, 4);
	assert_int_equal(m.total.drops_full_ring, 4);
	assert_int_equal(m.total.size, 256);
	assert_int_equal(m.total.hwm, 19);
	assert_int_equal(m.total.occupancy, 60);
	assert_int_equal(m.total.enqueued, 20 * 100 + 190);
	assert_int_equal(m.sojourn_us[1], 20);
	assert_int_equal(m.sojourn_us[20], 2);
	assert_int_equal(m.n_sojourn, 21);
}

static void test_quantile(void **state)
{
	uint64_t slots[NB_MON_SLOTS] = {0}, lo, hi;

	(void)state;
	assert_false(nb_log2_quantile(slots, NB_MON_SLOTS, 0.5, &lo, &hi));
	slots[2] = 50;
	slots[16] = 50;
	assert_true(nb_log2_quantile(slots, NB_MON_SLOTS, 0.5, &lo, &hi));
	assert_int_equal(lo, 4);
	assert_int_equal(hi, 7);
	assert_true(nb_log2_quantile(slots, NB_MON_SLOTS, 0.51, &lo, &hi));
	assert_int_equal(lo, 65536);
	assert_int_equal(hi, 131071);
	assert_true(nb_log2_quantile(slots, NB_MON_SLOTS, 0.99, &lo, &hi));
	assert_int_equal(lo, 65536);
	slots[0] = 1;
	assert_true(nb_log2_quantile(slots, NB_MON_SLOTS, 0.0, &lo, &hi));
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 1);
}

/* The lab's slow tap: every FULL_RING drop is a traced echo the trace lost on hvB. */
static void test_ring_loss(void **state)
{
	struct nb_msg_monitor m;
	struct nb_ring_facts f = {.node = "hvB", .traced_ring_drops = 12};
	struct nb_finding out[4];

	(void)state;
	s_mon(&m, 16, 12, 12);
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 1);
	assert_int_equal(out[0].kind, NB_FIND_RING_LOSS);
	assert_string_equal(out[0].text, "hvB: lost in the tap ring of vnet0 (queue 0 full 12 "
					 "times, 12 FULL_RING drops): the VM did not read fast "
					 "enough");
	assert_string_equal(nb_finding_kind_name(out[0].kind), "ring_loss");
	/* Other traffic shared the ring: how many of its drops were the trace's. */
	f.traced_ring_drops = 5;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 1);
	assert_string_equal(out[0].text, "hvB: lost in the tap ring of vnet0 (queue 0 full 12 "
					 "times, 12 FULL_RING drops, 5 of the traced packets): the "
					 "VM did not read fast enough");
	/* One FULL event, one drop: singular. */
	s_mon(&m, 16, 1, 1);
	f.traced_ring_drops = 1;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 1);
	assert_string_equal(out[0].text, "hvB: lost in the tap ring of vnet0 (queue 0 full 1 time, "
					 "1 FULL_RING drop): the VM did not read fast enough");
}

static void test_ring_other(void **state)
{
	struct nb_msg_monitor m;
	struct nb_ring_facts f = {.node = "hvB"};
	struct nb_finding out[4];

	(void)state;
	s_mon(&m, 256, 3, 3);
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 1);
	assert_int_equal(out[0].kind, NB_FIND_RING_OTHER);
	assert_string_equal(out[0].text, "hvB: the tap ring of vnet0 overflowed (queue 0 full 3 "
					 "times, 3 FULL_RING drops), but none of the traced packets "
					 "was lost there");
	f.node = "hvA";
	f.past_last_stage = true;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 1);
	assert_int_equal(out[0].kind, NB_FIND_RING_OTHER);
	assert_string_equal(out[0].text,
			    "hvA: the tap ring of vnet0 overflowed (queue 0 full 3 times, 3 "
			    "FULL_RING drops): what it dropped was past the node's last traced "
			    "stage, so the trace counts it delivered");
}

/* Several queues: three named, the rest summed; queues over the message's list count too. */
static void test_queues_named(void **state)
{
	struct nb_wire_monq q[5];
	struct nb_msg_monitor m;
	struct nb_ring_facts f = {.node = "hvB", .traced_ring_drops = 15};
	struct nb_finding out[1];

	(void)state;
	memset(&m, 0, sizeof(m));
	strcpy(m.monitor, "tun_ring");
	strcpy(m.ifname, "tap7");
	m.attached = 1;
	for (uint32_t i = 0; i < 5; i++)
		q[i] = (struct nb_wire_monq){i, 64, 64, 0, 100, 10, 90, 5 - i, 5 - i, 0};
	nb_monitor_fill(&m, q, 5, NULL);
	assert_int_equal(nb_ring_findings(&m, &f, out, 1), 1);
	assert_string_equal(out[0].text,
			    "hvB: lost in the tap ring of tap7 (queue 0 full 5 times, queue 1 full 4 "
			    "times, queue 2 full 3 times, full 3 more times on other queues, 15 "
			    "FULL_RING drops): the VM did not read fast enough");
	/* A queue the message could not list still counts in the total. */
	m.n_queues = 1;
	assert_int_equal(nb_ring_findings(&m, &f, out, 1), 1);
	assert_string_equal(out[0].text,
			    "hvB: lost in the tap ring of tap7 (queue 0 full 5 times, full 10 more "
			    "times on other queues, 15 FULL_RING drops): the VM did not read fast "
			    "enough");
}

/* A fast reader: packets wait microseconds of a millisecond echo; nothing to say. */
static void test_fast_reader(void **state)
{
	struct nb_msg_monitor m;
	struct nb_ring_facts f = {.node = "hvB",
				  .seg_name = "destination_response",
				  .seg_p50_ns = 800000};
	struct nb_finding out[4];

	(void)state;
	s_mon(&m, 500, 0, 0);
	m.sojourn_us[3] = 20; /* 8-15 us */
	m.n_sojourn = 4;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 0);
	/* Measured in the lab: 64-127 us of a 111 us response is most of it, but no delay. */
	memset(m.sojourn_us, 0, sizeof(m.sojourn_us));
	m.sojourn_us[6] = 20;
	m.n_sojourn = 7;
	f.seg_p50_ns = 111000;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 0);
	/* Without a segment to weigh the wait against, nothing either. */
	f.seg_p50_ns = 0;
	m.sojourn_us[16] = 100;
	m.n_sojourn = 17;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 0);
}

/* A slow reader that keeps up: no loss, but the wait is most of the destination's response. */
static void test_ring_delay(void **state)
{
	struct nb_msg_monitor m;
	struct nb_ring_facts f = {.node = "hvB",
				  .seg_name = "destination_response",
				  .seg_p50_ns = 100000000};
	struct nb_finding out[4];

	(void)state;
	s_mon(&m, 16, 0, 0);
	m.sojourn_us[16] = 90; /* 65-131 ms */
	m.sojourn_us[17] = 10; /* 131-262 ms */
	m.n_sojourn = 18;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 1);
	assert_int_equal(out[0].kind, NB_FIND_RING_DELAY);
	assert_string_equal(out[0].text,
			    "hvB: the traced packets waited in the tap ring of vnet0 for the VM to "
			    "read them (p50 66ms-131ms, p99 131ms-262ms): most of "
			    "destination_response (p50 100ms)");
	/* A wait (its slot's middle: 98 ms) under half the segment's median explains little. */
	f.seg_p50_ns = 200000000;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 0);
	f.seg_p50_ns = 196000000;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 1);
	f.seg_p50_ns = 197000000;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 0);
	/* Loss and delay together: both, loss first; max bounds them. */
	s_mon(&m, 16, 2, 2);
	m.sojourn_us[16] = 90;
	m.n_sojourn = 17;
	f.seg_p50_ns = 100000000;
	f.traced_ring_drops = 2;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 2);
	assert_int_equal(out[0].kind, NB_FIND_RING_LOSS);
	assert_int_equal(out[1].kind, NB_FIND_RING_DELAY);
	assert_int_equal(nb_ring_findings(&m, &f, out, 1), 1);
	assert_int_equal(out[0].kind, NB_FIND_RING_LOSS);
}

/* Nothing from a monitor that was not attached, or that this code does not know. */
static void test_no_evidence(void **state)
{
	struct nb_msg_monitor m;
	struct nb_ring_facts f = {.node = "hvA", .traced_ring_drops = 3};
	struct nb_finding out[4];

	(void)state;
	s_mon(&m, 16, 3, 3);
	m.attached = 0;
	strcpy(m.why, "'vnet0' is not a tun/tap device (driver veth): no tun ring to watch");
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 0);
	s_mon(&m, 16, 3, 3);
	strcpy(m.monitor, "vhost");
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 0);
	s_mon(&m, 16, 3, 3);
	m.has_total = false;
	assert_int_equal(nb_ring_findings(&m, &f, out, 4), 0);
	assert_int_equal(nb_ring_findings(NULL, &f, out, 4), 0);
	s_mon(&m, 16, 3, 3);
	assert_int_equal(nb_ring_findings(&m, &f, out, 0), 0);
}

/* ---- Open vSwitch's slow path ---- */

#define MS 1000000ull
#define US 1000ull

/* seq 1 at 3.1 ms, seqs 2..6 at 50 us, 200 ms apart: seq 1 is the upcall's. */
static void test_upcall_first(void **state)
{
	struct nb_upcall_acc *a = malloc(sizeof(*a));
	struct nb_finding out[2];

	(void)state;
	nb_upcall_acc_init(a);
	nb_upcall_see(a, 1000 * MS, 1, 3100 * US);
	for (uint32_t s = 2; s <= 6; s++)
		nb_upcall_see(a, 1000 * MS + (s - 1) * 200 * MS, s, 50 * US);
	assert_int_equal(nb_upcall_findings(a, "hvB", true, "echo", "seq", out, 2), 1);
	assert_int_equal(out[0].kind, NB_FIND_UPCALL);
	assert_string_equal(out[0].text, "hvB: echo seq 1 took 3.1ms inside hvB: first packet of the "
					 "flow through Open vSwitch (upcall; later packets 50us)");
	assert_int_equal(out[0].n_seqs, 1);
	assert_int_equal(out[0].seqs[0], 1);
	assert_int_equal(out[0].lat_ns[0], 3100 * US);
	assert_string_equal(nb_finding_kind_name(out[0].kind), "upcall");
	/* Not Open vSwitch: the same times explain nothing. */
	assert_int_equal(nb_upcall_findings(a, "hvB", false, "echo", "seq", out, 2), 0);
	assert_int_equal(nb_upcall_findings(a, "hvB", true, "echo", "seq", out, 0), 0);
	free(a);
}

/* A UDP trace's datagrams, named by IP-ID and finalised out of order: the first is the upcall's. */
static void test_upcall_udp(void **state)
{
	struct nb_upcall_acc *a = malloc(sizeof(*a));
	struct nb_finding out[1];

	(void)state;
	nb_upcall_acc_init(a);
	nb_upcall_see(a, 1000 * MS + 3 * MS, 4663, 40 * US);
	nb_upcall_see(a, 1000 * MS + 1 * MS, 4661, 45 * US);
	nb_upcall_see(a, 1000 * MS, 4660, 2500 * US);
	nb_upcall_see(a, 1000 * MS + 2 * MS, 4662, 35 * US);
	assert_int_equal(nb_upcall_findings(a, "hvA", true, "datagram", "IP-ID", out, 1), 1);
	assert_string_equal(out[0].text, "hvA: datagram IP-ID 4660 took 2.5ms inside hvA: first "
					 "packet of the flow through Open vSwitch (upcall; later "
					 "packets 40us)");
	assert_int_equal(out[0].n_seqs, 1);
	assert_int_equal(out[0].seqs[0], 4660);
	free(a);
}

/* A slow packet that is neither first nor after idle is not the upcall's. */
static void test_upcall_not_first(void **state)
{
	struct nb_upcall_acc *a = malloc(sizeof(*a));
	struct nb_finding out[1];

	(void)state;
	nb_upcall_acc_init(a);
	nb_upcall_see(a, 1000 * MS, 1, 50 * US);
	nb_upcall_see(a, 1200 * MS, 2, 50 * US);
	nb_upcall_see(a, 1400 * MS, 3, 5 * MS);
	nb_upcall_see(a, 1600 * MS, 4, 60 * US);
	assert_int_equal(nb_upcall_findings(a, "hvA", true, "echo", "seq", out, 1), 0);
	free(a);
}

/* Not far enough above: 4x the median but under 100 us more; or under 4x. */
static void test_upcall_threshold(void **state)
{
	struct nb_upcall_acc *a = malloc(sizeof(*a));
	struct nb_finding out[1];

	(void)state;
	nb_upcall_acc_init(a);
	nb_upcall_see(a, 1000 * MS, 1, 80 * US);
	nb_upcall_see(a, 1200 * MS, 2, 20 * US);
	nb_upcall_see(a, 1400 * MS, 3, 20 * US);
	assert_int_equal(nb_upcall_findings(a, "hvA", true, "echo", "seq", out, 1), 0);
	nb_upcall_acc_init(a);
	nb_upcall_see(a, 1000 * MS, 1, 1500 * US);
	nb_upcall_see(a, 1200 * MS, 2, 400 * US);
	nb_upcall_see(a, 1400 * MS, 3, 400 * US);
	assert_int_equal(nb_upcall_findings(a, "hvA", true, "echo", "seq", out, 1), 0);
	/* One later packet is no median. */
	nb_upcall_acc_init(a);
	nb_upcall_see(a, 1000 * MS, 1, 3 * MS);
	nb_upcall_see(a, 1200 * MS, 2, 40 * US);
	assert_int_equal(nb_upcall_findings(a, "hvA", true, "echo", "seq", out, 1), 0);
	free(a);
}

/*
 * Finals out of order: seq 1 (unknown time inside, lost later) comes after seq 2; seq 1 is the
 * first, so seq 2's slow time is a later packet's. Then 11 s idle: seq 9 is an upcall again.
 */
static void test_upcall_order_idle(void **state)
{
	struct nb_upcall_acc *a = malloc(sizeof(*a));
	struct nb_finding out[1];

	(void)state;
	nb_upcall_acc_init(a);
	nb_upcall_see(a, 1200 * MS, 2, 40 * US);
	nb_upcall_see(a, 1000 * MS, 1, NB_UPCALL_LAT_UNKNOWN);
	for (uint32_t s = 3; s <= 8; s++)
		nb_upcall_see(a, 1000 * MS + (s - 1) * 200 * MS, s, 40 * US);
	nb_upcall_see(a, 13400 * MS, 9, 2 * MS);
	nb_upcall_see(a, 13600 * MS, 10, 40 * US);
	assert_int_equal(nb_upcall_findings(a, "hvA", true, "echo", "seq", out, 1), 1);
	assert_string_equal(out[0].text, "hvA: echo seq 9 took 2.0ms inside hvA: first packet after "
					 "10 s idle through Open vSwitch (upcall; later packets 40us)");
	assert_int_equal(out[0].n_seqs, 1);
	assert_int_equal(out[0].seqs[0], 9);
	/* And with the first one slow too: both named. */
	nb_upcall_acc_init(a);
	nb_upcall_see(a, 1000 * MS, 1, 3 * MS);
	nb_upcall_see(a, 1200 * MS, 2, 40 * US);
	nb_upcall_see(a, 1400 * MS, 3, 40 * US);
	nb_upcall_see(a, 12000 * MS, 4, 2 * MS);
	assert_int_equal(nb_upcall_findings(a, "hvB", true, "echo", "seq", out, 1), 1);
	assert_string_equal(out[0].text,
			    "hvB: echo seq 1 took 3.0ms, seq 4 took 2.0ms inside hvB: first packet of "
			    "the flow, or first after 10 s idle, through Open vSwitch (upcall; later "
			    "packets 40us)");
	assert_int_equal(out[0].n_seqs, 2);
	assert_int_equal(out[0].seqs[1], 4);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sums),	cmocka_unit_test(test_fill),
	    cmocka_unit_test(test_quantile),	cmocka_unit_test(test_ring_loss),
	    cmocka_unit_test(test_ring_other),	cmocka_unit_test(test_queues_named),
	    cmocka_unit_test(test_fast_reader), cmocka_unit_test(test_ring_delay),
	    cmocka_unit_test(test_no_evidence),	cmocka_unit_test(test_upcall_first),
	    cmocka_unit_test(test_upcall_udp),
	    cmocka_unit_test(test_upcall_not_first), cmocka_unit_test(test_upcall_threshold),
	    cmocka_unit_test(test_upcall_order_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
