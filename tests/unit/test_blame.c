// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Status, blame and verdict tests: pure functions over hand-built joined packets and counts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "nb_blame.h"

static struct nb_joined t_pkt(int nstages, int highest, enum nb_final_why why, int incomplete)
{
	struct nb_joined p;
	int s;

	memset(&p, 0, sizeof(p));
	p.nstages = nstages;
	p.highest = highest;
	p.next_due = highest == nstages - 1 ? -1 : highest + 1;
	p.incomplete_node = incomplete;
	p.why = why;
	for (s = 0; s <= highest; s++)
		p.st[s].seen = 1;
	return p;
}

static void test_stage_names(void **state)
{
	(void)state;
	assert_string_equal(nb_stage_name_local(0), "REQ_RX");
	assert_string_equal(nb_stage_name_local(1), "REQ_TX");
	assert_string_equal(nb_stage_name_local(2), "REP_RX");
	assert_string_equal(nb_stage_name_local(3), "REP_TX");
	assert_null(nb_stage_name_local(4));
	assert_null(nb_stage_name_local(-1));
	assert_string_equal(nb_stage_name_chain(0), "A0");
	assert_string_equal(nb_stage_name_chain(1), "A1");
	assert_string_equal(nb_stage_name_chain(2), "B0");
	assert_string_equal(nb_stage_name_chain(5), "B3");
	assert_string_equal(nb_stage_name_chain(6), "A2");
	assert_string_equal(nb_stage_name_chain(7), "A3");
	assert_null(nb_stage_name_chain(8));
	assert_null(nb_stage_name_chain(-1));
}

static void test_status_local(void **state)
{
	static const enum nb_status want[4] = {NB_ST_INTERNAL_DROP_REQ, NB_ST_EXTERNAL_DROP,
					       NB_ST_INTERNAL_DROP_REP, NB_ST_COMPLETE};
	struct nb_joined p;
	int h;
	(void)state;

	for (h = 0; h < 4; h++) {
		p = t_pkt(4, h, h == 3 ? NB_FINAL_LAST_STAGE : NB_FINAL_TIMEOUT, -1);
		assert_int_equal(nb_status_local(&p), want[h]);
	}
	/* not enough evidence */
	for (h = 0; h < 3; h++) {
		p = t_pkt(4, h, NB_FINAL_TIMEOUT, 0);
		assert_int_equal(nb_status_local(&p), NB_ST_INCONCLUSIVE);
		p = t_pkt(4, h, NB_FINAL_EVICTED, -1);
		assert_int_equal(nb_status_local(&p), NB_ST_INCONCLUSIVE);
		p = t_pkt(4, h, NB_FINAL_FLUSH, -1);
		assert_int_equal(nb_status_local(&p), NB_ST_INCONCLUSIVE);
		p = t_pkt(4, h, NB_FINAL_REUSED, -1);
		assert_int_equal(nb_status_local(&p), NB_ST_INCONCLUSIVE);
	}
	/* a chain packet is not a local one */
	p = t_pkt(8, 1, NB_FINAL_TIMEOUT, -1);
	assert_int_equal(nb_status_local(&p), NB_ST_INCONCLUSIVE);
	p = t_pkt(4, -1, NB_FINAL_TIMEOUT, -1);
	assert_int_equal(nb_status_local(&p), NB_ST_INCONCLUSIVE);
	assert_int_equal(nb_status_local(NULL), NB_ST_INCONCLUSIVE);
}

static void test_status_chain(void **state)
{
	static const enum nb_status want[8] = {
	    NB_ST_A_INTERNAL_DROP_REQ, NB_ST_NETWORK_DROP_REQ,
	    NB_ST_B_INTERNAL_DROP_REQ, NB_ST_DEST_NO_REPLY,
	    NB_ST_B_INTERNAL_DROP_REP, NB_ST_NETWORK_DROP_REP,
	    NB_ST_A_INTERNAL_DROP_REP, NB_ST_COMPLETE,
	};
	struct nb_joined p;
	int h;
	(void)state;

	for (h = 0; h < 8; h++) {
		p = t_pkt(8, h, h == 7 ? NB_FINAL_LAST_STAGE : NB_FINAL_TIMEOUT, -1);
		assert_int_equal(nb_status_chain(&p), want[h]);
	}
	for (h = 0; h < 7; h++) {
		p = t_pkt(8, h, NB_FINAL_TIMEOUT, h >= 1 && h <= 4 ? 1 : 0);
		assert_int_equal(nb_status_chain(&p), NB_ST_INCONCLUSIVE);
		p = t_pkt(8, h, NB_FINAL_EVICTED, -1);
		assert_int_equal(nb_status_chain(&p), NB_ST_INCONCLUSIVE);
		p = t_pkt(8, h, NB_FINAL_FLUSH, -1);
		assert_int_equal(nb_status_chain(&p), NB_ST_INCONCLUSIVE);
		p = t_pkt(8, h, NB_FINAL_REUSED, -1);
		assert_int_equal(nb_status_chain(&p), NB_ST_INCONCLUSIVE);
	}
	/* every stage was seen: complete, whatever happened to the nodes meanwhile */
	p = t_pkt(8, 7, NB_FINAL_LAST_STAGE, 1);
	assert_int_equal(nb_status_chain(&p), NB_ST_COMPLETE);
	p = t_pkt(4, 3, NB_FINAL_LAST_STAGE, -1);
	assert_int_equal(nb_status_chain(&p), NB_ST_INCONCLUSIVE);
}

static void test_status_names(void **state)
{
	int s;
	(void)state;

	for (s = 0; s < NB_ST__COUNT; s++) {
		assert_non_null(nb_status_name((enum nb_status)s));
		assert_int_equal(nb_status_from_name(nb_status_name((enum nb_status)s)), s);
	}
	assert_string_equal(nb_status_name(NB_ST_COMPLETE), "COMPLETE");
	assert_string_equal(nb_status_name(NB_ST_EXTERNAL_DROP), "EXTERNAL_DROP");
	assert_string_equal(nb_status_name(NB_ST_DEST_NO_REPLY), "DEST_NO_REPLY");
	assert_string_equal(nb_status_name(NB_ST_NETWORK_DROP_REP), "NETWORK_DROP_REP");
	assert_string_equal(nb_status_name(NB_ST_INCONCLUSIVE), "INCONCLUSIVE");
	assert_string_equal(nb_status_name(NB_ST_PARTIAL_FRAGMENT_DROP), "PARTIAL_FRAGMENT_DROP");
	assert_int_equal(nb_status_from_name("INTERNAL_DROP"), NB_ST_INTERNAL_DROP);
	assert_null(nb_status_name(NB_ST__COUNT));
	assert_int_equal(nb_status_from_name("network_drop_req"), -1);
	assert_int_equal(nb_status_from_name("NOPE"), -1);
	assert_int_equal(nb_status_from_name(""), -1);
	assert_int_equal(nb_status_from_name(NULL), -1);
}

static void test_blame_and_direction(void **state)
{
	static const struct {
		enum nb_status st;
		enum nb_blame blame;
		const char *dir;
	} want[] = {
	    {NB_ST_COMPLETE, NB_BLAME_NONE, NULL},
	    {NB_ST_INTERNAL_DROP_REQ, NB_BLAME_LOCAL, "request"},
	    {NB_ST_EXTERNAL_DROP, NB_BLAME_EXTERNAL, NULL},
	    {NB_ST_INTERNAL_DROP_REP, NB_BLAME_LOCAL, "reply"},
	    {NB_ST_A_INTERNAL_DROP_REQ, NB_BLAME_NODE_A, "request"},
	    {NB_ST_NETWORK_DROP_REQ, NB_BLAME_NETWORK, "request"},
	    {NB_ST_B_INTERNAL_DROP_REQ, NB_BLAME_NODE_B, "request"},
	    {NB_ST_DEST_NO_REPLY, NB_BLAME_DEST, NULL},
	    {NB_ST_B_INTERNAL_DROP_REP, NB_BLAME_NODE_B, "reply"},
	    {NB_ST_NETWORK_DROP_REP, NB_BLAME_NETWORK, "reply"},
	    {NB_ST_A_INTERNAL_DROP_REP, NB_BLAME_NODE_A, "reply"},
	    {NB_ST_INCONCLUSIVE, NB_BLAME_INCONCLUSIVE, NULL},
	    {NB_ST_INTERNAL_DROP, NB_BLAME_LOCAL, NULL},
	    {NB_ST_PARTIAL_FRAGMENT_DROP, NB_BLAME_LOCAL, NULL},
	};
	size_t i;
	(void)state;

	assert_int_equal(sizeof(want) / sizeof(want[0]), NB_ST__COUNT);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(nb_status_blame(want[i].st), want[i].blame);
		if (want[i].dir)
			assert_string_equal(nb_status_direction(want[i].st), want[i].dir);
		else
			assert_null(nb_status_direction(want[i].st));
	}
	assert_int_equal(nb_status_blame(NB_ST__COUNT), NB_BLAME_NONE);
}

/* ---- verdicts ---- */

static void test_verdict_single_class(void **state)
{
	uint64_t c[NB_ST__COUNT];
	(void)state;

	memset(c, 0, sizeof(c));
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_HEALTHY);
	c[NB_ST_COMPLETE] = 1000;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_HEALTHY);
	/* single-host statuses do not make a two-host verdict */
	c[NB_ST_EXTERNAL_DROP] = 5;
	c[NB_ST_INTERNAL_DROP_REQ] = 5;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_HEALTHY);
	c[NB_ST_NETWORK_DROP_REP] = 1;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NETWORK);

	memset(c, 0, sizeof(c));
	c[NB_ST_A_INTERNAL_DROP_REP] = 2;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NODE_A);
	memset(c, 0, sizeof(c));
	c[NB_ST_B_INTERNAL_DROP_REQ] = 1;
	c[NB_ST_B_INTERNAL_DROP_REP] = 1;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NODE_B);
	memset(c, 0, sizeof(c));
	c[NB_ST_DEST_NO_REPLY] = 7;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_DEST);
	/* the class sums both directions: 2 + 2 network beats 3 in node B */
	memset(c, 0, sizeof(c));
	c[NB_ST_NETWORK_DROP_REQ] = 2;
	c[NB_ST_NETWORK_DROP_REP] = 2;
	c[NB_ST_B_INTERNAL_DROP_REQ] = 3;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NETWORK);
	c[NB_ST_B_INTERNAL_DROP_REP] = 2;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NODE_B);
}

static void test_verdict_ties(void **state)
{
	uint64_t c[NB_ST__COUNT];
	(void)state;

	/* NETWORK, NODE_A, NODE_B, DEST */
	memset(c, 0, sizeof(c));
	c[NB_ST_DEST_NO_REPLY] = 3;
	c[NB_ST_B_INTERNAL_DROP_REQ] = 3;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NODE_B);
	c[NB_ST_A_INTERNAL_DROP_REQ] = 3;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NODE_A);
	c[NB_ST_NETWORK_DROP_REP] = 3;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NETWORK);
	/* a strict majority still wins over the order */
	c[NB_ST_DEST_NO_REPLY] = 4;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_DEST);
}

static void test_verdict_inconclusive(void **state)
{
	uint64_t c[NB_ST__COUNT];
	(void)state;

	memset(c, 0, sizeof(c));
	c[NB_ST_COMPLETE] = 100;
	c[NB_ST_INCONCLUSIVE] = 1;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_INCONCLUSIVE);
	c[NB_ST_NETWORK_DROP_REQ] = 1;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_INCONCLUSIVE);
	c[NB_ST_NETWORK_DROP_REQ] = 2;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NETWORK);
	/* compared with the largest class, not the sum of classes */
	c[NB_ST_NETWORK_DROP_REQ] = 3;
	c[NB_ST_INCONCLUSIVE] = 3;
	c[NB_ST_A_INTERNAL_DROP_REQ] = 2;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_INCONCLUSIVE);
	c[NB_ST_INCONCLUSIVE] = 2;
	assert_int_equal(nb_verdict_of(c, NULL), NB_VERDICT_NETWORK);
}

static void test_verdict_names_and_codes(void **state)
{
	(void)state;
	assert_string_equal(nb_verdict_name(NB_VERDICT_HEALTHY), "HEALTHY");
	assert_string_equal(nb_verdict_name(NB_VERDICT_NETWORK), "NETWORK");
	assert_string_equal(nb_verdict_name(NB_VERDICT_NODE_A), "NODE_A");
	assert_string_equal(nb_verdict_name(NB_VERDICT_NODE_B), "NODE_B");
	assert_string_equal(nb_verdict_name(NB_VERDICT_DEST), "DEST");
	assert_string_equal(nb_verdict_name(NB_VERDICT_INCONCLUSIVE), "INCONCLUSIVE");
	assert_null(nb_verdict_name((enum nb_verdict)42));
	assert_int_equal(nb_verdict_exit_code(NB_VERDICT_HEALTHY), 0);
	assert_int_equal(nb_verdict_exit_code(NB_VERDICT_NETWORK), 10);
	assert_int_equal(nb_verdict_exit_code(NB_VERDICT_NODE_A), 11);
	assert_int_equal(nb_verdict_exit_code(NB_VERDICT_NODE_B), 12);
	assert_int_equal(nb_verdict_exit_code(NB_VERDICT_DEST), 13);
	assert_int_equal(nb_verdict_exit_code(NB_VERDICT_INCONCLUSIVE), 15);
	assert_int_equal(nb_verdict_exit_code((enum nb_verdict)42), 1);
}

static void test_verdict_detail(void **state)
{
	uint64_t c[NB_ST__COUNT];
	char buf[256];
	const char *want;
	(void)state;

	memset(c, 0, sizeof(c));
	c[NB_ST_COMPLETE] = 50;
	assert_int_equal(nb_verdict_detail(c, NULL, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "none");

	c[NB_ST_NETWORK_DROP_REQ] = 2;
	c[NB_ST_NETWORK_DROP_REP] = 1;
	c[NB_ST_B_INTERNAL_DROP_REQ] = 1;
	want = "NETWORK: 3 (request 2, reply 1); NODE_B: 1 (request 1)";
	assert_int_equal(nb_verdict_detail(c, NULL, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);

	c[NB_ST_A_INTERNAL_DROP_REP] = 4;
	c[NB_ST_DEST_NO_REPLY] = 2;
	c[NB_ST_INCONCLUSIVE] = 5;
	want = "NETWORK: 3 (request 2, reply 1); NODE_A: 4 (reply 4); NODE_B: 1 (request 1); "
	       "DEST: 2; INCONCLUSIVE: 5";
	assert_int_equal(nb_verdict_detail(c, NULL, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);

	/* snprintf semantics: cut and terminated, the full length returned */
	assert_int_equal(nb_verdict_detail(c, NULL, buf, 10), (int)strlen(want));
	assert_string_equal(buf, "NETWORK: ");
	assert_int_equal(nb_verdict_detail(c, NULL, NULL, 0), (int)strlen(want));
	buf[0] = 'x';
	assert_int_equal(nb_verdict_detail(c, NULL, buf, 0), (int)strlen(want));
	assert_int_equal(buf[0], 'x');

	memset(c, 0, sizeof(c));
	c[NB_ST_INCONCLUSIVE] = 2;
	assert_int_equal(nb_verdict_detail(c, NULL, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "INCONCLUSIVE: 2");
}

static void test_verdict_detail_local(void **state)
{
	uint64_t c[NB_ST__COUNT];
	char buf[128];
	(void)state;

	memset(c, 0, sizeof(c));
	c[NB_ST_INTERNAL_DROP_REQ] = 1;
	c[NB_ST_INTERNAL_DROP_REP] = 2;
	c[NB_ST_EXTERNAL_DROP] = 6;
	nb_verdict_detail(c, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "LOCAL: 3 (request 1, reply 2); EXTERNAL: 6");
}

/*
 * Copies lost and recovered by retransmission are losses: a run whose every segment got
 * through is not HEALTHY when copies were lost, and the place that lost most is the verdict.
 */
static void test_verdict_recovered(void **state)
{
	uint64_t c[NB_ST__COUNT] = {0};
	struct nb_recovered rec = {0};
	char buf[256];
	(void)state;

	c[NB_ST_COMPLETE] = 1384;
	assert_int_equal(nb_verdict_of(c, &rec), NB_VERDICT_HEALTHY);
	rec.copies[NB_BLAME_NETWORK][0] = 28;
	assert_int_equal(nb_verdict_of(c, &rec), NB_VERDICT_NETWORK);
	nb_verdict_detail(c, &rec, buf, sizeof(buf));
	assert_string_equal(buf, "NETWORK: 28 lost copies recovered by retransmission "
				 "(request direction)");
	/* inside B lost more, in both directions; a drop for good counts beside its copies */
	rec.copies[NB_BLAME_NODE_B][0] = 20;
	rec.copies[NB_BLAME_NODE_B][1] = 10;
	c[NB_ST_NETWORK_DROP_REQ] = 1;
	assert_int_equal(nb_verdict_of(c, &rec), NB_VERDICT_NODE_B);
	nb_verdict_detail(c, &rec, buf, sizeof(buf));
	assert_string_equal(buf, "NETWORK: 1 (request 1), 28 lost copies recovered by "
				 "retransmission (request direction); NODE_B: 30 lost copies "
				 "recovered by retransmission (request 20, ACK direction 10)");
	/* the ACK direction alone */
	memset(&rec, 0, sizeof(rec));
	c[NB_ST_NETWORK_DROP_REQ] = 0;
	rec.copies[NB_BLAME_NODE_A][1] = 2;
	assert_int_equal(nb_verdict_of(c, &rec), NB_VERDICT_NODE_A);
	nb_verdict_detail(c, &rec, buf, sizeof(buf));
	assert_string_equal(buf, "NODE_A: 2 lost copies recovered by retransmission (ACK direction)");
	/* incomplete evidence as common as the worst place: INCONCLUSIVE */
	c[NB_ST_INCONCLUSIVE] = 2;
	assert_int_equal(nb_verdict_of(c, &rec), NB_VERDICT_INCONCLUSIVE);
	/* one host: inside this host, or beyond it; never a two-host verdict */
	memset(&rec, 0, sizeof(rec));
	memset(c, 0, sizeof(c));
	rec.copies[NB_BLAME_LOCAL][0] = 3;
	rec.copies[NB_BLAME_EXTERNAL][0] = 1;
	assert_int_equal(nb_verdict_of(c, &rec), NB_VERDICT_HEALTHY);
	nb_verdict_detail(c, &rec, buf, sizeof(buf));
	assert_string_equal(buf, "LOCAL: 3 lost copies recovered by retransmission (request "
				 "direction); EXTERNAL: 1 copies sent again after leaving (lost beyond "
				 "this host, or spurious)");
}

/* A node away: never HEALTHY, but a fault the judged packets prove stays. */
static void test_verdict_evidence_lost(void **state)
{
	uint64_t c[NB_ST__COUNT];
	(void)state;

	memset(c, 0, sizeof(c));
	c[NB_ST_COMPLETE] = 10;
	assert_int_equal(nb_verdict_evidence(nb_verdict_of(c, NULL), false), NB_VERDICT_HEALTHY);
	assert_int_equal(nb_verdict_evidence(nb_verdict_of(c, NULL), true), NB_VERDICT_INCONCLUSIVE);
	assert_int_equal(nb_verdict_exit_code(nb_verdict_evidence(nb_verdict_of(c, NULL), true)), 15);
	/* nothing judged at all */
	memset(c, 0, sizeof(c));
	assert_int_equal(nb_verdict_evidence(nb_verdict_of(c, NULL), true), NB_VERDICT_INCONCLUSIVE);
	c[NB_ST_NETWORK_DROP_REQ] = 1;
	c[NB_ST_COMPLETE] = 10;
	assert_int_equal(nb_verdict_evidence(nb_verdict_of(c, NULL), true), NB_VERDICT_NETWORK);
	c[NB_ST_NETWORK_DROP_REQ] = 0;
	c[NB_ST_DEST_NO_REPLY] = 2;
	assert_int_equal(nb_verdict_evidence(nb_verdict_of(c, NULL), true), NB_VERDICT_DEST);
	c[NB_ST_INCONCLUSIVE] = 2;
	assert_int_equal(nb_verdict_evidence(nb_verdict_of(c, NULL), true), NB_VERDICT_INCONCLUSIVE);
	assert_int_equal(nb_verdict_evidence(nb_verdict_of(c, NULL), false), NB_VERDICT_INCONCLUSIVE);
}

/* Feeds n packets of one shape: highest stage, stages left unseen, status. */
static void t_blind_feed(struct nb_blind *b, int n, int highest, int unseen_a, int unseen_b,
			 enum nb_status st)
{
	struct nb_joined p = t_pkt(8, highest, NB_FINAL_TIMEOUT, -1);

	if (unseen_a >= 0)
		p.st[unseen_a].seen = 0;
	if (unseen_b >= 0)
		p.st[unseen_b].seen = 0;
	for (int i = 0; i < n; i++)
		nb_blind_add(b, &p, st);
}

static void test_blind(void **state)
{
	struct nb_blind b;
	int stage;
	(void)state;

	/* B's uplink hook off the path: B0 and B3 never seen; 5 requests lost after A1. */
	memset(&b, 0, sizeof(b));
	t_blind_feed(&b, 95, 7, 2, 5, NB_ST_COMPLETE);
	t_blind_feed(&b, 5, 1, -1, -1, NB_ST_NETWORK_DROP_REQ);
	assert_int_equal(b.delivered, 95);
	assert_int_equal(b.unseen[2], 95);
	assert_int_equal(b.unseen[5], 95);
	assert_int_equal(b.resting[2], 5);
	assert_true(nb_blind_suspect(&b, 2));
	assert_false(nb_blind_suspect(&b, 5)); /* no drop rests on B3 */
	assert_int_equal(nb_verdict_blind(NB_VERDICT_NETWORK, &b, &stage), NB_VERDICT_INCONCLUSIVE);
	assert_int_equal(stage, 2);
	/* a verdict of another class does not rest on B0 */
	assert_int_equal(nb_verdict_blind(NB_VERDICT_NODE_A, &b, &stage), NB_VERDICT_NODE_A);
	assert_int_equal(stage, -1);
	assert_int_equal(nb_verdict_blind(NB_VERDICT_HEALTHY, &b, &stage), NB_VERDICT_HEALTHY);

	/* A few B0 events lost in a ring: 2 of 1000; 50 requests lost is far above that. */
	memset(&b, 0, sizeof(b));
	t_blind_feed(&b, 998, 7, -1, -1, NB_ST_COMPLETE);
	t_blind_feed(&b, 2, 7, 2, -1, NB_ST_COMPLETE);
	t_blind_feed(&b, 50, 1, -1, -1, NB_ST_NETWORK_DROP_REQ);
	assert_false(nb_blind_suspect(&b, 2));
	assert_int_equal(nb_verdict_blind(NB_VERDICT_NETWORK, &b, &stage), NB_VERDICT_NETWORK);
	assert_int_equal(stage, -1);

	/* A drop proven by drop evidence (status refined to B's) does not rest on an absence. */
	memset(&b, 0, sizeof(b));
	t_blind_feed(&b, 10, 7, 2, -1, NB_ST_COMPLETE);
	t_blind_feed(&b, 3, 1, -1, -1, NB_ST_A_INTERNAL_DROP_REQ);
	assert_int_equal(b.resting[2], 0);
	assert_false(nb_blind_suspect(&b, 2));

	/* Half the packets cross an untraced bond slave: 1 drop per 2 packets is that blind spot. */
	memset(&b, 0, sizeof(b));
	t_blind_feed(&b, 50, 7, -1, -1, NB_ST_COMPLETE);
	t_blind_feed(&b, 50, 7, 2, -1, NB_ST_COMPLETE);
	t_blind_feed(&b, 40, 1, -1, -1, NB_ST_NETWORK_DROP_REQ);
	assert_true(nb_blind_suspect(&b, 2));

	/* Local (4-stage) packets are not mixed into a chain's counts. */
	{
		struct nb_joined p = t_pkt(4, 3, NB_FINAL_TIMEOUT, -1);

		nb_blind_add(&b, &p, NB_ST_COMPLETE);
		assert_int_equal(b.delivered, 100);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stage_names),
	    cmocka_unit_test(test_status_local),
	    cmocka_unit_test(test_status_chain),
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_blame_and_direction),
	    cmocka_unit_test(test_verdict_single_class),
	    cmocka_unit_test(test_verdict_ties),
	    cmocka_unit_test(test_verdict_inconclusive),
	    cmocka_unit_test(test_verdict_evidence_lost),
	    cmocka_unit_test(test_verdict_names_and_codes),
	    cmocka_unit_test(test_verdict_detail),
	    cmocka_unit_test(test_verdict_detail_local),
	    cmocka_unit_test(test_verdict_recovered),
	    cmocka_unit_test(test_blind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
