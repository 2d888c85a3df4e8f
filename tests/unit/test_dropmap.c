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

/* Put one drop of key k at (node, dir) with node-clock time ts into a fresh map. */
static struct nb_dropmap *s_one_drop(int node, int dir, const struct nb_key *k, uint64_t ts)
{
	struct nb_dropmap *m = nb_dropmap_new(16);
	struct nb_drop_obs d = {.ts = ts, .reason = 77};

	assert_non_null(m);
	nb_dropmap_put(m, node, dir, k, &d);
	return m;
}

/* st with p and one drop at (node, dir, ts); checks *drop agrees with the answer. */
static enum nb_status s_refine(enum nb_status st, const struct nb_joined *p, int node, int dir,
			       uint64_t ts)
{
	struct nb_dropmap *m = s_one_drop(node, dir, &p->key, ts);
	const struct nb_drop_obs *d = (const void *)1;
	enum nb_status to = nb_dropmap_refine(m, p, st, &d);

	if (to == st)
		assert_null(d);
	else
		assert_int_equal(d->reason, 77);
	nb_dropmap_free(&m);
	return to;
}

/* A drop after a node's last transmit stage makes the loss that node's; before it, not. */
static void test_refine(void **state)
{
	struct nb_joined p = {.key = {.proto = IPPROTO_ICMP, .k1 = 7, .k2 = 2}};
	struct nb_dropmap *empty = nb_dropmap_new(16);

	(void)state;
	p.st[0] = (struct nb_stage_obs){.ts = 1000, .seen = 1};
	p.st[1] = (struct nb_stage_obs){.ts = 2000, .seen = 1};
	/* A1 seen, A freed it after: A's. Before A1 (an older packet, same id/seq), at the
	 * other node, in the other direction, or none seen: unchanged. */
	assert_int_equal(s_refine(NB_ST_NETWORK_DROP_REQ, &p, 0, NB_DROP_REQ, 2500),
			 NB_ST_A_INTERNAL_DROP_REQ);
	assert_int_equal(s_refine(NB_ST_NETWORK_DROP_REQ, &p, 0, NB_DROP_REQ, 1500),
			 NB_ST_NETWORK_DROP_REQ);
	assert_int_equal(s_refine(NB_ST_NETWORK_DROP_REQ, &p, 1, NB_DROP_REQ, 2500),
			 NB_ST_NETWORK_DROP_REQ);
	assert_int_equal(s_refine(NB_ST_NETWORK_DROP_REQ, &p, 0, NB_DROP_REP, 2500),
			 NB_ST_NETWORK_DROP_REQ);
	assert_int_equal(nb_dropmap_refine(empty, &p, NB_ST_NETWORK_DROP_REQ, NULL),
			 NB_ST_NETWORK_DROP_REQ);

	/* Left B towards the VM (B1), then B freed it (a full tun ring): B's, not the VM's. */
	p.st[2] = (struct nb_stage_obs){.ts = 50000, .seen = 1};
	p.st[3] = (struct nb_stage_obs){.ts = 51000, .seen = 1};
	assert_int_equal(s_refine(NB_ST_DEST_NO_REPLY, &p, 1, NB_DROP_REQ, 51001),
			 NB_ST_B_INTERNAL_DROP_REQ);

	/* The reply left B (B3) and never reached A: B's if B freed it after B3. */
	p.st[4] = (struct nb_stage_obs){.ts = 60000, .seen = 1};
	p.st[5] = (struct nb_stage_obs){.ts = 61000, .seen = 1};
	assert_int_equal(s_refine(NB_ST_NETWORK_DROP_REP, &p, 1, NB_DROP_REP, 61500),
			 NB_ST_B_INTERNAL_DROP_REP);
	assert_int_equal(s_refine(NB_ST_NETWORK_DROP_REP, &p, 1, NB_DROP_REQ, 61500),
			 NB_ST_NETWORK_DROP_REP);

	/* One host: REQ_TX (stage 1) seen, then freed here: INTERNAL_DROP_REQ, not EXTERNAL. */
	assert_int_equal(s_refine(NB_ST_EXTERNAL_DROP, &p, 0, NB_DROP_REQ, 2001),
			 NB_ST_INTERNAL_DROP_REQ);
	assert_int_equal(s_refine(NB_ST_EXTERNAL_DROP, &p, 0, NB_DROP_REQ, 1999),
			 NB_ST_EXTERNAL_DROP);

	/*
	 * COMPLETE at a node's transmit stage, then freed by that node (its tap ring full): a UDP
	 * datagram complete at B1 is B's loss, an echo or reverse datagram complete at A3 A's.
	 * Only with that stage the highest: an echo that went on past B1 is not B1's.
	 */
	{
		struct nb_joined u = {.key = p.key, .nstages = 8, .highest = 3};

		u.st[3] = (struct nb_stage_obs){.ts = 51000, .seen = 1};
		assert_int_equal(s_refine(NB_ST_COMPLETE, &u, 1, NB_DROP_REQ, 51001),
				 NB_ST_B_INTERNAL_DROP_REQ);
		assert_int_equal(s_refine(NB_ST_COMPLETE, &u, 1, NB_DROP_REQ, 50999),
				 NB_ST_COMPLETE);
		assert_int_equal(s_refine(NB_ST_COMPLETE, &u, 0, NB_DROP_REP, 51001),
				 NB_ST_COMPLETE);
		u.highest = 7;
		u.st[7] = (struct nb_stage_obs){.ts = 90000, .seen = 1};
		assert_int_equal(s_refine(NB_ST_COMPLETE, &u, 0, NB_DROP_REP, 90001),
				 NB_ST_A_INTERNAL_DROP_REP);
		assert_int_equal(s_refine(NB_ST_COMPLETE, &u, 1, NB_DROP_REQ, 90001),
				 NB_ST_COMPLETE);
		u.nstages = 4;
		assert_int_equal(s_refine(NB_ST_COMPLETE, &u, 0, NB_DROP_REP, 90001),
				 NB_ST_COMPLETE);
	}

	/* Statuses that already name a node, or no loss, never change. */
	assert_int_equal(s_refine(NB_ST_A_INTERNAL_DROP_REQ, &p, 0, NB_DROP_REQ, 2500),
			 NB_ST_A_INTERNAL_DROP_REQ);
	assert_int_equal(s_refine(NB_ST_COMPLETE, &p, 0, NB_DROP_REQ, 2500), NB_ST_COMPLETE);
	assert_int_equal(s_refine(NB_ST_INCONCLUSIVE, &p, 1, NB_DROP_REQ, 51001),
			 NB_ST_INCONCLUSIVE);
	nb_dropmap_free(&empty);
}

/* A drop event of the flow goes into the map under its direction; another flow's does not. */
static void test_put_event(void **state)
{
	struct nb_flow_spec spec;
	struct nb_dropmap *m = nb_dropmap_new(16);
	struct nb_event e;
	struct nb_key key;
	const struct nb_drop_obs *d;

	(void)state;
	s_spec(&spec);
	s_drop(&e, "10.0.0.1", "10.0.0.2", 8, 5);
	e.ts_ns = 1234;
	e.reason = 9;
	assert_int_equal(nb_dropmap_put_event(m, 1, &spec, &e, 99), NB_DROP_REQ);
	assert_int_equal(nb_drop_classify(&spec, &e, &key), NB_DROP_REQ);
	d = nb_dropmap_get(m, 1, NB_DROP_REQ, &key);
	assert_non_null(d);
	assert_int_equal(d->ts, 1234);
	assert_int_equal(d->ts_ref, 99);
	assert_int_equal(d->reason, 9);
	s_drop(&e, "10.9.9.9", "10.0.0.2", 8, 5);
	assert_int_equal(nb_dropmap_put_event(m, 1, &spec, &e, 99), -1);
	assert_int_equal(nb_dropmap_count(m), 1);
	nb_dropmap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_sites),
	    cmocka_unit_test(test_map),
	    cmocka_unit_test(test_refine),
	    cmocka_unit_test(test_put_event),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
