// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Drops by packet: classification of drop events, drop sites of statuses, the bounded map. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nb_dropmap.h"

static void s_spec(struct nb_flow_spec *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(nb_addr_parse("10.0.0.1", s->src, &s->family), 0);
	assert_int_equal(nb_addr_parse("10.0.0.2", s->dst, &s->family), 0);
	s->proto = IPPROTO_ICMP;
	s->rx_if[0] = 3;
	s->n_rx = 1;
	s->tx_if[0] = 15;
	s->n_tx = 1;
}

static void s_drop(struct nb_event *e, const char *src, const char *dst, uint8_t type, uint16_t seq)
{
	uint8_t fam;

	memset(e, 0, sizeof(*e));
	e->type = NB_EV_DROP;
	e->hook = NB_HOOK_DROP;
	e->ifindex = 99; /* any device: drops happen anywhere in the node */
	e->reason = 12;
	e->stack_id = 5;
	assert_int_equal(nb_addr_parse(src, e->pkt.saddr, &fam), 0);
	assert_int_equal(nb_addr_parse(dst, e->pkt.daddr, &fam), 0);
	e->pkt.family = 4;
	e->pkt.proto = IPPROTO_ICMP;
	e->pkt.icmp_type = type;
	e->pkt.icmp_id = 77;
	e->pkt.icmp_seq = seq;
}

static void test_classify(void **state)
{
	struct nb_flow_spec s;
	struct nb_event e;
	struct nb_key k;

	s_spec(&s);
	s_drop(&e, "10.0.0.1", "10.0.0.2", 8, 2);
	assert_int_equal(nb_drop_classify(&s, &e, &k), NB_DROP_REQ);
	assert_int_equal(k.k1, 77);
	assert_int_equal(k.k2, 2);
	s_drop(&e, "10.0.0.2", "10.0.0.1", 0, 3);
	assert_int_equal(nb_drop_classify(&s, &e, &k), NB_DROP_REP);
	assert_int_equal(k.k2, 3);
	/* Not this flow: other addresses, a request type going the reply way, not a drop. */
	s_drop(&e, "10.0.0.9", "10.0.0.2", 8, 2);
	assert_int_equal(nb_drop_classify(&s, &e, &k), -1);
	s_drop(&e, "10.0.0.2", "10.0.0.1", 8, 2);
	assert_int_equal(nb_drop_classify(&s, &e, &k), -1);
	s_drop(&e, "10.0.0.1", "10.0.0.2", 8, 2);
	e.type = NB_EV_PKT;
	assert_int_equal(nb_drop_classify(&s, &e, &k), -1);
	/* The same key a stage event of that packet gets. */
	{
		struct nb_event st;
		struct nb_key ks;

		s_drop(&st, "10.0.0.1", "10.0.0.2", 8, 2);
		st.type = NB_EV_PKT;
		st.hook = NB_HOOK_RX;
		st.ifindex = 3;
		assert_int_equal(nb_flow_stage(&s, &st, &ks), NB_REQ_RX);
		s_drop(&e, "10.0.0.1", "10.0.0.2", 8, 2);
		assert_int_equal(nb_drop_classify(&s, &e, &k), NB_DROP_REQ);
		assert_memory_equal(&k, &ks, sizeof(k));
	}
}

static void test_sites(void **state)
{
	int node = -1, dir = -1;

	assert_true(nb_drop_site(NB_ST_B_INTERNAL_DROP_REQ, &node, &dir));
	assert_int_equal(node, 1);
	assert_int_equal(dir, NB_DROP_REQ);
	assert_true(nb_drop_site(NB_ST_A_INTERNAL_DROP_REQ, &node, &dir));
	assert_int_equal(node, 0);
	assert_int_equal(dir, NB_DROP_REQ);
	assert_true(nb_drop_site(NB_ST_B_INTERNAL_DROP_REP, &node, &dir));
	assert_int_equal(node, 1);
	assert_int_equal(dir, NB_DROP_REP);
	assert_true(nb_drop_site(NB_ST_A_INTERNAL_DROP_REP, &node, &dir));
	assert_int_equal(node, 0);
	assert_int_equal(dir, NB_DROP_REP);
	assert_false(nb_drop_site(NB_ST_COMPLETE, &node, &dir));
	assert_false(nb_drop_site(NB_ST_NETWORK_DROP_REQ, &node, &dir));
	assert_false(nb_drop_site(NB_ST_DEST_NO_REPLY, &node, &dir));
	assert_false(nb_drop_site(NB_ST_INCONCLUSIVE, &node, &dir));
}

static void test_map(void **state)
{
	struct nb_dropmap *m = nb_dropmap_new(3); /* 4 slots */
	struct nb_drop_obs d = {.ts = 1, .reason = 12};
	struct nb_key k = {.proto = IPPROTO_ICMP, .k1 = 77};
	const struct nb_drop_obs *g;

	assert_non_null(m);
	for (uint64_t seq = 0; seq < 4; seq++) {
		k.k2 = seq;
		d.ts = 100 + seq;
		nb_dropmap_put(m, 1, NB_DROP_REQ, &k, &d);
	}
	assert_int_equal(nb_dropmap_count(m), 4);
	k.k2 = 2;
	g = nb_dropmap_get(m, 1, NB_DROP_REQ, &k);
	assert_non_null(g);
	assert_int_equal(g->ts, 102);
	/* Node and direction are part of the key. */
	assert_null(nb_dropmap_get(m, 0, NB_DROP_REQ, &k));
	assert_null(nb_dropmap_get(m, 1, NB_DROP_REP, &k));
	/* The same packet again: replaced, nothing evicted. */
	d.ts = 500;
	nb_dropmap_put(m, 1, NB_DROP_REQ, &k, &d);
	assert_int_equal(nb_dropmap_get(m, 1, NB_DROP_REQ, &k)->ts, 500);
	assert_int_equal(nb_dropmap_evicted(m), 0);
	/* Full: the oldest (seq 0) goes first, then seq 1. */
	k.k2 = 10;
	nb_dropmap_put(m, 1, NB_DROP_REQ, &k, &d);
	k.k2 = 0;
	assert_null(nb_dropmap_get(m, 1, NB_DROP_REQ, &k));
	k.k2 = 1;
	assert_non_null(nb_dropmap_get(m, 1, NB_DROP_REQ, &k));
	assert_int_equal(nb_dropmap_evicted(m), 1);
	assert_int_equal(nb_dropmap_count(m), 4);
	/* Many more than fit, with colliding buckets: the newest 4 are all found. */
	for (uint64_t seq = 1000; seq < 11000; seq++) {
		k.k2 = seq;
		d.ts = seq;
		nb_dropmap_put(m, (int)(seq & 1), NB_DROP_REP, &k, &d);
	}
	for (uint64_t seq = 10996; seq < 11000; seq++) {
		k.k2 = seq;
		g = nb_dropmap_get(m, (int)(seq & 1), NB_DROP_REP, &k);
		assert_non_null(g);
		assert_int_equal(g->ts, seq);
	}
	k.k2 = 10995;
	assert_null(nb_dropmap_get(m, 1, NB_DROP_REP, &k));
	assert_int_equal(nb_dropmap_count(m), 4);
	nb_dropmap_free(&m);
	assert_null(m);
	nb_dropmap_free(&m);
	assert_null(nb_dropmap_new(0));
}

/* A drop after a node's last transmit stage makes the loss that node's; before it, not. */
static void test_refine(void **state)
{
	struct nb_joined p = {0};
	struct nb_drop_obs d = {0};
	int node, dir;

	(void)state;
	p.st[0] = (struct nb_stage_obs){.ts = 1000, .seen = 1};
	p.st[1] = (struct nb_stage_obs){.ts = 2000, .seen = 1};
	d.ts = 2500;
	assert_true(nb_drop_refine_site(NB_ST_NETWORK_DROP_REQ, &node, &dir));
	assert_int_equal(node, 0);
	assert_int_equal(dir, NB_DROP_REQ);
	assert_int_equal(nb_drop_refine(NB_ST_NETWORK_DROP_REQ, &p, &d), NB_ST_A_INTERNAL_DROP_REQ);
	/* No drop seen, or one before A1 (an older packet with the same id/seq): unchanged. */
	assert_int_equal(nb_drop_refine(NB_ST_NETWORK_DROP_REQ, &p, NULL), NB_ST_NETWORK_DROP_REQ);
	d.ts = 1500;
	assert_int_equal(nb_drop_refine(NB_ST_NETWORK_DROP_REQ, &p, &d), NB_ST_NETWORK_DROP_REQ);

	/* Left B towards the VM (B1), then B freed it (a full tun ring): B's, not the VM's. */
	p.st[2] = (struct nb_stage_obs){.ts = 50000, .seen = 1};
	p.st[3] = (struct nb_stage_obs){.ts = 51000, .seen = 1};
	d.ts = 51001;
	assert_true(nb_drop_refine_site(NB_ST_DEST_NO_REPLY, &node, &dir));
	assert_int_equal(node, 1);
	assert_int_equal(dir, NB_DROP_REQ);
	assert_int_equal(nb_drop_refine(NB_ST_DEST_NO_REPLY, &p, &d), NB_ST_B_INTERNAL_DROP_REQ);

	/* The reply left B (B3) and never reached A: B's if B freed it after B3. */
	p.st[4] = (struct nb_stage_obs){.ts = 60000, .seen = 1};
	p.st[5] = (struct nb_stage_obs){.ts = 61000, .seen = 1};
	d.ts = 61500;
	assert_true(nb_drop_refine_site(NB_ST_NETWORK_DROP_REP, &node, &dir));
	assert_int_equal(node, 1);
	assert_int_equal(dir, NB_DROP_REP);
	assert_int_equal(nb_drop_refine(NB_ST_NETWORK_DROP_REP, &p, &d), NB_ST_B_INTERNAL_DROP_REP);

	/* One host: REQ_TX (stage 1) seen, then freed here: INTERNAL_DROP_REQ, not EXTERNAL. */
	d.ts = 2001;
	assert_true(nb_drop_refine_site(NB_ST_EXTERNAL_DROP, &node, &dir));
	assert_int_equal(node, 0);
	assert_int_equal(dir, NB_DROP_REQ);
	assert_int_equal(nb_drop_refine(NB_ST_EXTERNAL_DROP, &p, &d), NB_ST_INTERNAL_DROP_REQ);
	d.ts = 1999;
	assert_int_equal(nb_drop_refine(NB_ST_EXTERNAL_DROP, &p, &d), NB_ST_EXTERNAL_DROP);

	/* Statuses that already name a node, or no loss, never change. */
	assert_false(nb_drop_refine_site(NB_ST_A_INTERNAL_DROP_REQ, &node, &dir));
	assert_int_equal(nb_drop_refine(NB_ST_COMPLETE, &p, &d), NB_ST_COMPLETE);
	assert_int_equal(nb_drop_refine(NB_ST_B_INTERNAL_DROP_REQ, &p, &d), NB_ST_B_INTERNAL_DROP_REQ);
	assert_int_equal(nb_drop_refine(NB_ST_INCONCLUSIVE, &p, &d), NB_ST_INCONCLUSIVE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_sites),
	    cmocka_unit_test(test_map),
	    cmocka_unit_test(test_refine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
