// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Join engine tests with synthetic events: order, duplicates, late events, watermarks, taint,
 * completion after the last stage, eviction, flush, key reuse, re-entrancy and allocation
 * failure.
 *
 * The engine source is compiled into this test with its allocator routed to cmocka's, so every
 * test also checks that nb_join_destroy frees everything and that a failed nb_join_new leaks
 * nothing; the library's copy of nb_join.o is then not linked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int t_alloc_left = -1; /* allocations that succeed before one fails; -1: never fail */

static int t_alloc_ok(void)
{
	if (t_alloc_left == 0)
		return 0;
	if (t_alloc_left > 0)
		t_alloc_left--;
	return 1;
}

static void *t_malloc(size_t n, const char *file, int line)
{
	return t_alloc_ok() ? _test_malloc(n, file, line) : NULL;
}

static void *t_calloc(size_t n, size_t m, const char *file, int line)
{
	return t_alloc_ok() ? _test_calloc(n, m, file, line) : NULL;
}

#define malloc(n)    t_malloc((n), __FILE__, __LINE__)
#define calloc(n, m) t_calloc((n), (m), __FILE__, __LINE__)
#define free(p)	     _test_free((p), __FILE__, __LINE__)
#include "../../common/nb_join.c"
#undef malloc
#undef calloc
#undef free

#include "nb_blame.h"

#define T_MAXREC 256

static struct {
	struct nb_joined p[T_MAXREC];
	int n;
	struct nb_join *j; /* for the re-entrancy test */
	int reenter_rc[3];
} t_rec;

static void t_cb(const struct nb_joined *p, void *ctx)
{
	(void)ctx;
	assert_true(t_rec.n < T_MAXREC);
	t_rec.p[t_rec.n++] = *p;
}

static struct nb_key t_key(uint64_t seq)
{
	struct nb_key k = {.proto = 1, .k1 = 0x1234, .k2 = seq};

	return k;
}

static struct nb_join_cfg t_local_cfg(uint64_t timeout)
{
	struct nb_join_cfg c = {.nstages = 4, .nnodes = 1, .timeout_ns = timeout};

	return c;
}

/* A0 A1 B0 B1 B2 B3 A2 A3 */
static struct nb_join_cfg t_chain_cfg(uint64_t timeout)
{
	struct nb_join_cfg c = {
	    .nstages = 8,
	    .nnodes = 2,
	    .stage_node = {0, 0, 1, 1, 1, 1, 0, 0},
	    .timeout_ns = timeout,
	};

	return c;
}

static struct nb_join *t_new(const struct nb_join_cfg *c)
{
	struct nb_join *j;

	memset(&t_rec, 0, sizeof(t_rec));
	j = nb_join_new(c, t_cb, NULL);
	assert_non_null(j);
	return j;
}

static void t_add(struct nb_join *j, uint64_t seq, int stage, uint64_t ts_ref)
{
	struct nb_key k = t_key(seq);

	/* node clock differs from the reference clock, to see which one is kept */
	assert_int_equal(nb_join_add(j, &k, stage, ts_ref + 1000000, ts_ref, 10 + stage, seq), 0);
}

/* Stages 0..highest of one packet, 10 ns apart. */
static void t_add_upto(struct nb_join *j, uint64_t seq, int highest, uint64_t t0)
{
	int s;

	for (s = 0; s <= highest; s++)
		t_add(j, seq, s, t0 + 10 * (uint64_t)s);
}

static void t_wm_all(struct nb_join *j, int nnodes, uint64_t ts)
{
	int n;

	for (n = 0; n < nnodes; n++)
		assert_int_equal(nb_join_watermark(j, n, ts), 0);
}

static struct nb_join_stats t_stats(struct nb_join *j)
{
	struct nb_join_stats s;

	nb_join_get_stats(j, &s);
	return s;
}

/* ---- configuration and allocation ---- */

static void test_bad_cfg(void **state)
{
	struct nb_join_cfg c;
	(void)state;

	errno = 0;
	assert_null(nb_join_new(NULL, t_cb, NULL));
	assert_int_equal(errno, EINVAL);
	c = t_local_cfg(1);
	c.nstages = 0;
	assert_null(nb_join_new(&c, t_cb, NULL));
	assert_int_equal(errno, EINVAL);
	c.nstages = NB_MAX_STAGES + 1;
	assert_null(nb_join_new(&c, t_cb, NULL));
	c = t_local_cfg(1);
	c.nnodes = 0;
	assert_null(nb_join_new(&c, t_cb, NULL));
	c.nnodes = NB_MAX_NODES + 1;
	assert_null(nb_join_new(&c, t_cb, NULL));
	c = t_chain_cfg(1);
	c.nnodes = 1; /* B stages owned by a node that does not exist */
	errno = 0;
	assert_null(nb_join_new(&c, t_cb, NULL));
	assert_int_equal(errno, EINVAL);
	c = t_local_cfg(1);
	c.max_inflight = UINT32_MAX;
	assert_null(nb_join_new(&c, t_cb, NULL));
	nb_join_destroy(NULL);
}

static void test_alloc_failure(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(100);
	struct nb_join *j;
	int k, failed = 0;
	(void)state;

	c.max_inflight = 16;
	c.recent = 8;
	for (k = 0; k < 32; k++) {
		t_alloc_left = k;
		errno = 0;
		j = nb_join_new(&c, t_cb, NULL);
		t_alloc_left = -1;
		if (j) {
			/* every later allocation succeeded: the count of allocations is k */
			nb_join_destroy(&j);
			assert_null(j);
			break;
		}
		assert_int_equal(errno, ENOMEM);
		failed++;
	}
	/* struct, pool, meta, free stack, index, ring, ring index, two class heaps, completion */
	assert_int_equal(failed, 10);
}

static void test_bad_args(void **state)
{
	struct nb_join_cfg c = t_local_cfg(100);
	struct nb_join *j = t_new(&c);
	struct nb_key k = t_key(1);
	(void)state;

	assert_int_equal(nb_join_add(j, &k, -1, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(nb_join_add(j, &k, 4, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(nb_join_add(j, NULL, 0, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(nb_join_add(NULL, &k, 0, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(nb_join_watermark(j, 1, 5), -EINVAL);
	assert_int_equal(nb_join_watermark(j, -1, 5), -EINVAL);
	assert_int_equal(nb_join_taint(j, 1, 0, 5), -EINVAL);
	assert_int_equal(nb_join_taint(j, 0, 6, 5), -EINVAL);
	assert_int_equal(nb_join_poll(NULL), -EINVAL);
	assert_int_equal(nb_join_flush(NULL), -EINVAL);
	assert_int_equal(t_stats(j).events, 0);
	assert_int_equal(t_stats(j).packets, 0);
	nb_join_destroy(&j);
	assert_null(j);
}

/* ---- statuses through the engine ---- */

static void test_local_complete(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j = t_new(&c);
	struct nb_join_stats s;
	(void)state;

	t_add_upto(j, 1, 3, 5000);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_rec.p[0].highest, 3);
	assert_int_equal(t_rec.p[0].next_due, -1);
	assert_int_equal(t_rec.p[0].incomplete_node, -1);
	assert_int_equal(t_rec.p[0].nstages, 4);
	assert_int_equal(t_rec.p[0].first_ts_ref, 5000);
	assert_int_equal(t_rec.p[0].st[2].ts_ref, 5020);
	assert_int_equal(t_rec.p[0].st[2].ts, 1005020);
	assert_int_equal(t_rec.p[0].st[2].ifindex, 12);
	assert_int_equal(t_rec.p[0].st[2].aux, 1);
	assert_int_equal(t_rec.p[0].key.k2, 1);
	assert_int_equal(nb_status_local(&t_rec.p[0]), NB_ST_COMPLETE);
	s = t_stats(j);
	assert_int_equal(s.events, 4);
	assert_int_equal(s.packets, 1);
	assert_int_equal(s.finals, 1);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(s.peak_inflight, 1);
	nb_join_destroy(&j);
}

static void test_local_statuses(void **state)
{
	static const enum nb_status want[3] = {NB_ST_INTERNAL_DROP_REQ, NB_ST_EXTERNAL_DROP,
					       NB_ST_INTERNAL_DROP_REP};
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j = t_new(&c);
	int h;
	(void)state;

	for (h = 0; h < 3; h++)
		t_add_upto(j, (uint64_t)h, h, 100 * (uint64_t)h);
	assert_int_equal(nb_join_poll(j), 0);
	t_wm_all(j, 1, 1000000);
	assert_int_equal(nb_join_poll(j), 3);
	assert_int_equal(t_rec.n, 3);
	for (h = 0; h < 3; h++) {
		assert_int_equal(t_rec.p[h].why, NB_FINAL_TIMEOUT);
		assert_int_equal(t_rec.p[h].highest, h);
		assert_int_equal(t_rec.p[h].next_due, h + 1);
		assert_int_equal(t_rec.p[h].incomplete_node, -1);
		assert_int_equal(nb_status_local(&t_rec.p[h]), want[h]);
	}
	nb_join_destroy(&j);
}

static void test_chain_statuses(void **state)
{
	static const enum nb_status want[8] = {
	    NB_ST_A_INTERNAL_DROP_REQ, NB_ST_NETWORK_DROP_REQ,
	    NB_ST_B_INTERNAL_DROP_REQ, NB_ST_DEST_NO_REPLY,
	    NB_ST_B_INTERNAL_DROP_REP, NB_ST_NETWORK_DROP_REP,
	    NB_ST_A_INTERNAL_DROP_REP, NB_ST_COMPLETE,
	};
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	int h;
	(void)state;

	t_add_upto(j, 7, 7, 700);
	assert_int_equal(t_rec.n, 1);
	for (h = 0; h < 7; h++)
		t_add_upto(j, (uint64_t)h, h, 100 * (uint64_t)h);
	t_wm_all(j, 2, 1000000);
	assert_int_equal(nb_join_poll(j), 7);
	assert_int_equal(t_rec.n, 8);
	assert_int_equal(t_rec.p[0].key.k2, 7);
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_COMPLETE);
	for (h = 0; h < 7; h++) {
		/* age order: packet h started at 100 * h */
		assert_int_equal(t_rec.p[h + 1].key.k2, h);
		assert_int_equal(t_rec.p[h + 1].highest, h);
		assert_int_equal(nb_status_chain(&t_rec.p[h + 1]), want[h]);
	}
	nb_join_destroy(&j);
}

/* ---- order, duplicates, late events ---- */

static void test_out_of_order(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	int s;
	(void)state;

	/* B's events (and a late A0 from another CPU) arrive before A1 */
	t_add(j, 1, 3, 1300);
	t_add(j, 1, 2, 1200);
	t_add(j, 1, 1, 1100);
	t_add(j, 1, 0, 1000);
	t_add(j, 1, 5, 1500);
	t_add(j, 1, 4, 1400);
	t_add(j, 1, 6, 1600);
	assert_int_equal(t_rec.n, 0);
	t_add(j, 1, 7, 1700);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.p[0].first_ts_ref, 1000);
	assert_int_equal(t_rec.p[0].highest, 7);
	assert_int_equal(t_rec.p[0].dups, 0);
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_COMPLETE);

	/* the last stage first: the packet takes a slot and the others join it in any order */
	t_add(j, 2, 7, 2700);
	t_add(j, 2, 0, 2000);
	t_add(j, 2, 6, 2600);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_stats(j).late, 0);
	assert_int_equal(t_stats(j).packets, 2);
	assert_int_equal(t_stats(j).inflight, 1);
	for (s = 5; s >= 1; s--) {
		assert_int_equal(t_rec.n, 1);
		t_add(j, 2, s, 2000 + 100 * (uint64_t)s);
	}
	/* the last missing one makes it final at once */
	assert_int_equal(t_rec.n, 2);
	assert_int_equal(t_rec.p[1].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_rec.p[1].highest, 7);
	assert_int_equal(t_rec.p[1].first_ts_ref, 2000);
	for (s = 0; s < 8; s++) {
		assert_true(t_rec.p[1].st[s].seen);
		assert_int_equal(t_rec.p[1].st[s].ts_ref, 2000 + 100 * (uint64_t)s);
	}
	assert_int_equal(nb_status_chain(&t_rec.p[1]), NB_ST_COMPLETE);
	/* after that its stragglers are late and make no packet */
	t_add(j, 2, 3, 2301);
	assert_int_equal(t_stats(j).late, 1);
	assert_int_equal(t_stats(j).packets, 2);
	assert_int_equal(t_stats(j).inflight, 0);

	/* a later stage seen before an earlier one still counts as highest */
	t_add(j, 3, 3, 3300);
	t_add(j, 3, 0, 3000);
	t_wm_all(j, 2, 1000000);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.p[2].highest, 3);
	assert_int_equal(t_rec.p[2].first_ts_ref, 3000);
	assert_int_equal(nb_status_chain(&t_rec.p[2]), NB_ST_DEST_NO_REPLY);
	nb_join_destroy(&j);
}

static void test_duplicates(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j = t_new(&c);
	struct nb_key k = t_key(1);
	(void)state;

	assert_int_equal(nb_join_add(j, &k, 0, 50, 5000, 3, 0), 0);
	/* a later repeat keeps the first */
	assert_int_equal(nb_join_add(j, &k, 0, 60, 5100, 4, 0), 0);
	assert_int_equal(nb_join_add(j, &k, 1, 70, 5200, 5, 0), 0);
	/* an earlier repeat replaces it and moves the packet's start back */
	assert_int_equal(nb_join_add(j, &k, 1, 20, 4900, 6, 0), 0);
	assert_int_equal(nb_join_add(j, &k, 1, 80, 5300, 7, 0), 0);
	assert_int_equal(t_stats(j).dups, 3);
	assert_int_equal(t_stats(j).events, 5);
	/* the deadline follows the lowered start: 4900 + 1000 */
	t_wm_all(j, 1, 5899);
	assert_int_equal(nb_join_poll(j), 0);
	t_wm_all(j, 1, 5900);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.p[0].dups, 3);
	assert_int_equal(t_rec.p[0].first_ts_ref, 4900);
	assert_int_equal(t_rec.p[0].st[0].ts_ref, 5000);
	assert_int_equal(t_rec.p[0].st[0].ts, 50);
	assert_int_equal(t_rec.p[0].st[0].ifindex, 3);
	assert_int_equal(t_rec.p[0].st[1].ts_ref, 4900);
	assert_int_equal(t_rec.p[0].st[1].ts, 20);
	assert_int_equal(t_rec.p[0].st[1].ifindex, 6);
	assert_int_equal(nb_status_local(&t_rec.p[0]), NB_ST_EXTERNAL_DROP);
	nb_join_destroy(&j);
}

static void test_late_after_final(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j = t_new(&c);
	struct nb_join_stats s;
	(void)state;

	t_add_upto(j, 1, 3, 1000);
	/* a duplicate REP_TX and a stray REQ_RX after the packet was final */
	t_add(j, 1, 3, 1040);
	t_add(j, 1, 0, 1001);
	/* late after a timeout too */
	t_add(j, 2, 0, 2000);
	t_wm_all(j, 1, 3000);
	assert_int_equal(nb_join_poll(j), 1);
	t_add(j, 2, 1, 2010);
	s = t_stats(j);
	assert_int_equal(s.late, 3);
	assert_int_equal(s.packets, 2);
	assert_int_equal(s.events, 5);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(nb_join_flush(j), 0);
	assert_int_equal(t_rec.n, 2);
	nb_join_destroy(&j);
}

/* ---- watermarks ---- */

static void test_timeout_edge(void **state)
{
	struct nb_join_cfg c = t_local_cfg(500);
	struct nb_join *j = t_new(&c);
	(void)state;

	t_add(j, 1, 0, 1000);
	t_wm_all(j, 1, 1499);
	assert_int_equal(nb_join_poll(j), 0);
	assert_int_equal(t_stats(j).inflight, 1);
	t_wm_all(j, 1, 1500);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_TIMEOUT);
	/* a watermark never goes back */
	t_add(j, 2, 0, 1000);
	t_wm_all(j, 1, 100);
	assert_int_equal(nb_join_poll(j), 1);
	nb_join_destroy(&j);
}

static void test_timeout_saturates(void **state)
{
	struct nb_join_cfg c = t_local_cfg(UINT64_MAX);
	struct nb_join *j = t_new(&c);
	(void)state;

	t_add(j, 1, 0, 1000);
	t_wm_all(j, 1, UINT64_MAX - 1);
	assert_int_equal(nb_join_poll(j), 0);
	t_wm_all(j, 1, UINT64_MAX);
	assert_int_equal(nb_join_poll(j), 1);
	nb_join_destroy(&j);
}

static void test_wm_min_over_nodes(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	(void)state;

	/* packet 1 waits for B0: B's watermark decides */
	t_add_upto(j, 1, 1, 1000);
	assert_int_equal(nb_join_watermark(j, 0, 1000000), 0);
	assert_int_equal(nb_join_poll(j), 0);
	assert_int_equal(nb_join_watermark(j, 1, 1999), 0);
	assert_int_equal(nb_join_poll(j), 0);
	assert_int_equal(nb_join_watermark(j, 1, 2000), 0);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_NETWORK_DROP_REQ);

	/* packet 2 waits for A2: only A owns what is missing, B silent does not hold it */
	t_add_upto(j, 2, 5, 5000);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.p[1].key.k2, 2);
	assert_int_equal(nb_status_chain(&t_rec.p[1]), NB_ST_NETWORK_DROP_REP);

	/* packet 3 waits for B0 while A is far ahead: silent B holds it */
	t_add_upto(j, 3, 1, 10000);
	assert_int_equal(nb_join_poll(j), 0);
	assert_int_equal(t_stats(j).inflight, 1);
	nb_join_destroy(&j);
}

static void test_dead_node_releases(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	(void)state;

	/* B died long after packet 1's window, during packet 2's */
	t_add_upto(j, 1, 1, 1000);
	t_add_upto(j, 2, 1, 50000);
	assert_int_equal(nb_join_watermark(j, 0, 1000000), 0);
	assert_int_equal(nb_join_watermark(j, 1, 1500), 0);
	assert_int_equal(nb_join_poll(j), 0);
	assert_int_equal(nb_join_taint(j, 1, 50500, NB_TS_INF), 0);
	assert_int_equal(nb_join_poll(j), 2);
	assert_int_equal(t_rec.p[0].key.k2, 1);
	assert_int_equal(t_rec.p[0].incomplete_node, -1);
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_NETWORK_DROP_REQ);
	assert_int_equal(t_rec.p[1].key.k2, 2);
	assert_int_equal(t_rec.p[1].incomplete_node, 1);
	assert_int_equal(nb_status_chain(&t_rec.p[1]), NB_ST_INCONCLUSIVE);
	nb_join_destroy(&j);
}

/* ---- completion: the last stage seen before earlier ones ---- */

/* A's batch of one packet, A0 A1 A2 A3 (stages 0, 1, 6, 7), at t0 + 10 * stage. */
static void t_add_a(struct nb_join *j, uint64_t seq, uint64_t t0)
{
	static const int a[4] = {0, 1, 6, 7};
	int i;

	for (i = 0; i < 4; i++)
		t_add(j, seq, a[i], t0 + 10 * (uint64_t)a[i]);
}

static void t_assert_a_only(const struct nb_joined *p)
{
	int s;

	assert_int_equal(p->why, NB_FINAL_LAST_STAGE);
	assert_int_equal(p->highest, 7);
	assert_int_equal(p->next_due, -1);
	assert_int_equal(p->incomplete_node, -1);
	assert_int_equal(p->first_ts_ref, 1000);
	for (s = 0; s < 8; s++)
		assert_int_equal(p->st[s].seen, s < 2 || s > 5);
	assert_int_equal(p->st[7].ts_ref, 1070);
	assert_int_equal(nb_status_chain(p), NB_ST_COMPLETE);
}

static void test_cross_host_batches(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	int s;
	(void)state;

	/* agent A's batch first: A3 is seen, B's stages are still on their way */
	t_add_a(j, 1, 1000);
	assert_int_equal(t_rec.n, 0);
	assert_int_equal(t_stats(j).inflight, 1);
	for (s = 2; s <= 5; s++) {
		assert_int_equal(t_rec.n, 0);
		t_add(j, 1, s, 1000 + 10 * (uint64_t)s);
	}
	/* B3 completes it at once, with no watermark at all */
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_rec.p[0].highest, 7);
	assert_int_equal(t_rec.p[0].next_due, -1);
	assert_int_equal(t_rec.p[0].first_ts_ref, 1000);
	for (s = 0; s < 8; s++) {
		assert_true(t_rec.p[0].st[s].seen);
		assert_int_equal(t_rec.p[0].st[s].ts_ref, 1000 + 10 * (uint64_t)s);
		assert_int_equal(t_rec.p[0].st[s].ifindex, 10 + (uint32_t)s);
	}
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_COMPLETE);
	assert_int_equal(t_stats(j).inflight, 0);
	assert_int_equal(t_stats(j).packets, 1);
	assert_int_equal(nb_join_flush(j), 0);
	nb_join_destroy(&j);
}

static void test_complete_waits_for_all_wm(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(100000);
	struct nb_join *j = t_new(&c);
	(void)state;

	/* B never reports: the packet waits for both watermarks to pass A3 (1070) */
	t_add_a(j, 1, 1000);
	t_wm_all(j, 2, 1069);
	assert_int_equal(nb_join_poll(j), 0);
	assert_int_equal(nb_join_watermark(j, 0, 1000000), 0);
	assert_int_equal(nb_join_poll(j), 0);
	assert_int_equal(t_stats(j).inflight, 1);
	/* not the timeout: 1070 is long before 1000 + 100000 */
	assert_int_equal(nb_join_watermark(j, 1, 1070), 0);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.n, 1);
	t_assert_a_only(&t_rec.p[0]);
	/* B's events after that are late */
	t_add(j, 1, 2, 1020);
	assert_int_equal(t_stats(j).late, 1);
	assert_int_equal(t_stats(j).inflight, 0);

	/* the same with A the one behind */
	nb_join_destroy(&j);
	j = t_new(&c);
	t_add_a(j, 2, 2000);
	assert_int_equal(nb_join_watermark(j, 0, 2069), 0);
	assert_int_equal(nb_join_watermark(j, 1, 1000000), 0);
	assert_int_equal(nb_join_poll(j), 0);
	assert_int_equal(nb_join_watermark(j, 0, 2070), 0);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.p[0].key.k2, 2);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_rec.p[0].st[7].ts_ref, 2070);
	nb_join_destroy(&j);
}

static void test_complete_dead_node(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	(void)state;

	t_add_a(j, 1, 1000);
	assert_int_equal(nb_join_watermark(j, 0, 1069), 0);
	assert_int_equal(nb_join_poll(j), 0);
	/* B dies: its watermark goes to infinity, and A's alone decides */
	assert_int_equal(nb_join_taint(j, 1, 500, NB_TS_INF), 0);
	assert_int_equal(nb_join_poll(j), 0);
	assert_int_equal(nb_join_watermark(j, 0, 1070), 0);
	assert_int_equal(nb_join_poll(j), 1);
	/* B's taint does not touch it: complete is complete */
	t_assert_a_only(&t_rec.p[0]);
	nb_join_destroy(&j);
}

static void test_local_last_waits(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j = t_new(&c);
	(void)state;

	/* REP_TX seen, REQ_RX not (yet): the node's watermark decides */
	t_add(j, 1, 1, 1010);
	t_add(j, 1, 2, 1020);
	t_add(j, 1, 3, 1030);
	assert_int_equal(t_rec.n, 0);
	t_wm_all(j, 1, 1029);
	assert_int_equal(nb_join_poll(j), 0);
	t_wm_all(j, 1, 1030);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_rec.p[0].highest, 3);
	assert_int_equal(t_rec.p[0].next_due, -1);
	assert_int_equal(t_rec.p[0].first_ts_ref, 1010);
	assert_false(t_rec.p[0].st[0].seen);
	assert_true(t_rec.p[0].st[3].seen);
	assert_int_equal(nb_status_local(&t_rec.p[0]), NB_ST_COMPLETE);

	/* REP_TX as the first observation takes a slot; the rest complete it at once */
	t_add(j, 2, 3, 2030);
	assert_int_equal(t_stats(j).inflight, 1);
	t_add(j, 2, 0, 2000);
	t_add(j, 2, 2, 2020);
	assert_int_equal(t_rec.n, 1);
	t_add(j, 2, 1, 2010);
	assert_int_equal(t_rec.n, 2);
	assert_int_equal(t_rec.p[1].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_rec.p[1].first_ts_ref, 2000);
	assert_true(t_rec.p[1].st[0].seen);
	assert_int_equal(t_stats(j).inflight, 0);
	assert_int_equal(t_stats(j).packets, 2);

	/* the 1-stage config keeps the old path: final at once, no slot */
	c.nstages = 1;
	nb_join_destroy(&j);
	j = t_new(&c);
	t_add(j, 3, 0, 3000);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_stats(j).peak_inflight, 0);
	nb_join_destroy(&j);
}

static void test_complete_dup_last(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j = t_new(&c);
	(void)state;

	/* an earlier copy of REP_TX (another CPU) is kept, and the wait follows it */
	t_add(j, 1, 1, 1010);
	t_add(j, 1, 3, 1030);
	t_add(j, 1, 3, 1025);
	t_add(j, 1, 3, 1028);
	assert_int_equal(t_stats(j).dups, 2);
	t_wm_all(j, 1, 1024);
	assert_int_equal(nb_join_poll(j), 0);
	t_wm_all(j, 1, 1025);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.p[0].st[3].ts_ref, 1025);
	assert_int_equal(t_rec.p[0].dups, 2);
	/* one before the packet's start lowers first_ts_ref too */
	t_add(j, 2, 2, 2020);
	t_add(j, 2, 3, 2030);
	t_add(j, 2, 3, 2005);
	t_wm_all(j, 1, 2005);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.p[1].first_ts_ref, 2005);
	assert_int_equal(t_rec.p[1].st[3].ts_ref, 2005);
	nb_join_destroy(&j);
}

static void test_complete_leaves_early(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j;
	struct nb_join_stats s;
	(void)state;

	/* evicted, flushed or superseded with REP_TX seen: still LAST_STAGE, still COMPLETE */
	c.max_inflight = 2;
	c.reuse_ns = 5000;
	j = t_new(&c);
	t_add(j, 1, 0, 2000);
	t_add(j, 2, 0, 1000);
	t_add(j, 2, 3, 1500); /* older by start, but waits keyed by REP_TX */
	t_add(j, 3, 0, 3000);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.p[0].key.k2, 2);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(nb_status_local(&t_rec.p[0]), NB_ST_COMPLETE);
	/* it was pushed out all the same */
	s = t_stats(j);
	assert_int_equal(s.evicted, 1);
	assert_int_equal(s.inflight, 2);
	/* an ordinary packet evicted stays EVICTED */
	t_add(j, 4, 0, 4000);
	assert_int_equal(t_rec.p[1].key.k2, 1);
	assert_int_equal(t_rec.p[1].why, NB_FINAL_EVICTED);
	assert_int_equal(t_stats(j).evicted, 2);

	/* key 3 comes back past reuse_ns while it waits for REQ_TX..REP_RX */
	t_add(j, 3, 3, 3030);
	t_add(j, 3, 0, 9000);
	assert_int_equal(t_rec.n, 3);
	assert_int_equal(t_rec.p[2].key.k2, 3);
	assert_int_equal(t_rec.p[2].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_rec.p[2].first_ts_ref, 3000);
	assert_int_equal(t_stats(j).packets, 5);

	/* flush */
	t_add(j, 4, 3, 4030);
	assert_int_equal(nb_join_flush(j), 2);
	assert_int_equal(t_rec.n, 5);
	assert_int_equal(t_rec.p[3].key.k2, 4);
	assert_int_equal(t_rec.p[3].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(nb_status_local(&t_rec.p[3]), NB_ST_COMPLETE);
	assert_int_equal(t_rec.p[4].key.k2, 3);
	assert_int_equal(t_rec.p[4].why, NB_FINAL_FLUSH);
	assert_int_equal(nb_status_local(&t_rec.p[4]), NB_ST_INCONCLUSIVE);
	s = t_stats(j);
	assert_int_equal(s.evicted, 2);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(s.finals, s.packets);
	nb_join_destroy(&j);
}

/* ---- taint ---- */

/* One packet with highest = A1 (next due B0, owner B) at [1000, 2000], with a taint. */
static int t_taint_case(int node, uint64_t from, uint64_t to)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	int rc;

	t_add_upto(j, 1, 1, 1000);
	assert_int_equal(nb_join_taint(j, node, from, to), 0);
	t_wm_all(j, 2, 100000);
	assert_int_equal(nb_join_poll(j), 1);
	rc = t_rec.p[0].incomplete_node;
	if (rc >= 0)
		assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_INCONCLUSIVE);
	else
		assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_NETWORK_DROP_REQ);
	nb_join_destroy(&j);
	return rc;
}

static void test_taint_overlap(void **state)
{
	(void)state;
	/* on the owner of B0 and inside the window */
	assert_int_equal(t_taint_case(1, 1500, 1600), 1);
	/* touching the window at either edge */
	assert_int_equal(t_taint_case(1, 500, 1000), 1);
	assert_int_equal(t_taint_case(1, 2000, 3000), 1);
	/* covering it */
	assert_int_equal(t_taint_case(1, 0, 100000), 1);
	/* just outside */
	assert_int_equal(t_taint_case(1, 500, 999), -1);
	assert_int_equal(t_taint_case(1, 2001, 3000), -1);
	/* on node A, which saw everything it had to: still a real drop */
	assert_int_equal(t_taint_case(0, 1500, 1600), -1);
}

static void test_taint_not_attached(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	(void)state;

	/* B attached at 10000: before that it could not see anything */
	assert_int_equal(nb_join_taint(j, 1, 0, 10000), 0);
	t_add_upto(j, 1, 1, 5000);
	t_add_upto(j, 2, 1, 9500);
	t_add_upto(j, 3, 1, 20000);
	/* a drop inside B (B0 seen) is blamed whatever A's taint */
	t_add_upto(j, 4, 2, 30000);
	assert_int_equal(nb_join_taint(j, 0, 29000, 31000), 0);
	t_wm_all(j, 2, 100000);
	assert_int_equal(nb_join_poll(j), 4);
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_INCONCLUSIVE);
	assert_int_equal(t_rec.p[0].incomplete_node, 1);
	/* window [9500, 10500] reaches back into the unattached time */
	assert_int_equal(nb_status_chain(&t_rec.p[1]), NB_ST_INCONCLUSIVE);
	assert_int_equal(nb_status_chain(&t_rec.p[2]), NB_ST_NETWORK_DROP_REQ);
	assert_int_equal(nb_status_chain(&t_rec.p[3]), NB_ST_B_INTERNAL_DROP_REQ);
	nb_join_destroy(&j);
}

static void test_taint_bounded(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(10);
	struct nb_join *j = t_new(&c);
	int i;
	(void)state;

	/*
	 * Packets wait in the gaps between 40 disjoint taints on B; nothing can be pruned while
	 * they are in flight, so the oldest intervals merge and the early gaps become tainted,
	 * never the reverse.
	 */
	for (i = 0; i < 40; i++) {
		t_add_upto(j, (uint64_t)i, 1, 1000 * (uint64_t)i + 500);
		assert_int_equal(nb_join_taint(j, 1, 1000 * (uint64_t)i, 1000 * (uint64_t)i + 100),
				 0);
	}
	assert_int_equal(j->taint[1].n, S_MAX_TAINT);
	t_wm_all(j, 2, 1000000);
	assert_int_equal(nb_join_poll(j), 40);
	/* 40 - S_MAX_TAINT merges: the oldest interval now spans the first gaps */
	for (i = 0; i < 40; i++)
		assert_int_equal(t_rec.p[i].incomplete_node, i < 40 - S_MAX_TAINT ? 1 : -1);

	/* with nothing in flight and watermarks past them, old taints are dropped, not merged */
	for (i = 0; i < 40; i++)
		assert_int_equal(nb_join_taint(j, 1, 2000000 + 1000 * (uint64_t)i,
					       2000000 + 1000 * (uint64_t)i + 100),
				 0);
	t_wm_all(j, 2, 3000000);
	for (i = 0; i < S_MAX_TAINT; i++)
		assert_int_equal(nb_join_taint(j, 1, 4000000 + 1000 * (uint64_t)i,
					       4000000 + 1000 * (uint64_t)i + 100),
				 0);
	t_add_upto(j, 100, 1, 4000500);
	t_add_upto(j, 101, 1, 4015500);
	t_wm_all(j, 2, 5000000);
	assert_int_equal(nb_join_poll(j), 2);
	assert_int_equal(t_rec.p[40].incomplete_node, -1);
	assert_int_equal(t_rec.p[41].incomplete_node, -1);
	nb_join_destroy(&j);
}

/* ---- bounds ---- */

static void test_eviction(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j;
	struct nb_join_stats s;
	int i;
	(void)state;

	c.max_inflight = 4;
	j = t_new(&c);
	/* created out of age order: packet 2 is the oldest */
	t_add(j, 1, 0, 2000);
	t_add(j, 2, 0, 1000);
	t_add(j, 3, 0, 3000);
	t_add(j, 4, 0, 4000);
	assert_int_equal(t_rec.n, 0);
	t_add(j, 1, 1, 2010); /* an existing key takes no slot */
	assert_int_equal(t_rec.n, 0);
	t_add(j, 5, 0, 5000);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.p[0].key.k2, 2);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_EVICTED);
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_INCONCLUSIVE);
	s = t_stats(j);
	assert_int_equal(s.evicted, 1);
	assert_int_equal(s.inflight, 4);
	assert_int_equal(s.peak_inflight, 4);
	/* the evicted key is remembered: its straggler is late, not a packet */
	t_add(j, 2, 1, 1010);
	assert_int_equal(t_stats(j).late, 1);

	/* when a packet is already due it leaves as a timeout instead of evicting one */
	assert_int_equal(nb_join_watermark(j, 0, 4500), 0);
	assert_int_equal(nb_join_watermark(j, 1, 4500), 0);
	t_add(j, 6, 0, 6000);
	assert_int_equal(t_rec.n, 3);
	assert_int_equal(t_rec.p[1].key.k2, 1);
	assert_int_equal(t_rec.p[1].why, NB_FINAL_TIMEOUT);
	assert_int_equal(nb_status_chain(&t_rec.p[1]), NB_ST_NETWORK_DROP_REQ);
	assert_int_equal(t_rec.p[2].key.k2, 3);
	assert_int_equal(t_rec.p[2].why, NB_FINAL_TIMEOUT);
	assert_int_equal(t_stats(j).evicted, 1);
	assert_int_equal(t_stats(j).inflight, 3);

	/* one free slot, then 99 evictions of the oldest */
	for (i = 0; i < 100; i++)
		t_add(j, 100 + (uint64_t)i, 0, 10000 + (uint64_t)i);
	s = t_stats(j);
	assert_int_equal(s.inflight, 4);
	assert_int_equal(s.peak_inflight, 4);
	assert_int_equal(s.evicted, 100);
	assert_int_equal(t_rec.p[3].key.k2, 4);
	assert_int_equal(t_rec.p[4].key.k2, 5);
	assert_int_equal(t_rec.p[5].key.k2, 6);
	assert_int_equal(t_rec.p[6].key.k2, 100);
	assert_int_equal(s.packets, s.finals + s.inflight);
	nb_join_destroy(&j);
}

static void test_flush(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	struct nb_join_stats s;
	(void)state;

	t_add_upto(j, 1, 1, 3000);
	t_add_upto(j, 2, 5, 1000); /* waits only for A */
	t_add_upto(j, 3, 1, 2000);
	t_add_upto(j, 4, 3, 500);
	assert_int_equal(nb_join_watermark(j, 0, 2500), 0);
	assert_int_equal(nb_join_watermark(j, 1, 1500), 0);
	/* packets 4 and 2 are due: poll would take them, flush names them the same */
	assert_int_equal(nb_join_flush(j), 4);
	assert_int_equal(t_rec.n, 4);
	assert_int_equal(t_rec.p[0].key.k2, 4);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_TIMEOUT);
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_DEST_NO_REPLY);
	assert_int_equal(t_rec.p[1].key.k2, 2);
	assert_int_equal(t_rec.p[1].why, NB_FINAL_TIMEOUT);
	assert_int_equal(nb_status_chain(&t_rec.p[1]), NB_ST_NETWORK_DROP_REP);
	assert_int_equal(t_rec.p[2].key.k2, 3);
	assert_int_equal(t_rec.p[2].why, NB_FINAL_FLUSH);
	assert_int_equal(nb_status_chain(&t_rec.p[2]), NB_ST_INCONCLUSIVE);
	assert_int_equal(t_rec.p[3].key.k2, 1);
	assert_int_equal(t_rec.p[3].why, NB_FINAL_FLUSH);
	s = t_stats(j);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(s.finals, 4);
	assert_int_equal(nb_join_flush(j), 0);
	nb_join_destroy(&j);
}

static void test_poll_age_order(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(10000);
	struct nb_join *j = t_new(&c);
	static const uint64_t want[6] = {6, 4, 2, 5, 1, 3};
	int i;
	(void)state;

	t_add_upto(j, 1, 0, 5000);
	t_add_upto(j, 2, 5, 3000);
	t_add_upto(j, 3, 2, 6000);
	t_add_upto(j, 4, 6, 2000);
	t_add_upto(j, 5, 1, 4000);
	t_add_upto(j, 6, 1, 7000);
	t_add(j, 6, 0, 1500); /* an earlier A0 from another CPU makes packet 6 the oldest */
	t_wm_all(j, 2, 100000);
	assert_int_equal(nb_join_poll(j), 6);
	for (i = 0; i < 6; i++)
		assert_int_equal(t_rec.p[i].key.k2, want[i]);
	nb_join_destroy(&j);
}

static void test_seq_wrap(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j;
	struct nb_join_stats s;
	(void)state;

	c.recent = 2;
	j = t_new(&c);
	t_add_upto(j, 1, 3, 1000);
	t_add(j, 1, 0, 1005); /* still remembered */
	assert_int_equal(t_stats(j).late, 1);
	t_add_upto(j, 2, 3, 2000);
	t_add(j, 1, 0, 2500); /* still remembered: the ring holds 2 */
	assert_int_equal(t_stats(j).late, 2);
	t_add_upto(j, 3, 3, 3000);
	/* key 1 has left the ring: seq wrapped, this is a new packet */
	t_add(j, 1, 0, 70000);
	s = t_stats(j);
	assert_int_equal(s.late, 2);
	assert_int_equal(s.packets, 4);
	assert_int_equal(s.inflight, 1);
	t_add_upto(j, 1, 3, 70000);
	assert_int_equal(t_rec.n, 4);
	assert_int_equal(t_rec.p[3].key.k2, 1);
	assert_int_equal(t_rec.p[3].first_ts_ref, 70000);
	assert_int_equal(t_rec.p[3].dups, 1);
	assert_int_equal(nb_status_local(&t_rec.p[3]), NB_ST_COMPLETE);
	/* key 2 left with it: only 3 and the new 1 are remembered */
	t_add(j, 2, 0, 80000);
	t_add(j, 3, 0, 80000);
	s = t_stats(j);
	assert_int_equal(s.packets, 5);
	assert_int_equal(s.late, 3);
	nb_join_destroy(&j);
}

static void test_key_reuse_while_held(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j;
	struct nb_join_stats s;
	(void)state;

	c.reuse_ns = 1000;
	j = t_new(&c);

	/* B is silent, so packet 1 (waiting for B0) is held past its deadline */
	t_add_upto(j, 1, 1, 10000);
	/* within the timeout on either side: the same packet */
	t_add(j, 1, 6, 11000);
	t_add(j, 1, 2, 9000);
	assert_int_equal(t_stats(j).packets, 1);
	assert_int_equal(t_rec.n, 0);
	/* first_ts_ref is now 9000: 10001 is the last instant of this packet */
	t_add(j, 1, 3, 10000);
	assert_int_equal(t_stats(j).packets, 1);
	/* one ns past: seq wrapped, a new packet; the held one could not be judged */
	t_add(j, 1, 0, 10001);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_REUSED);
	assert_int_equal(t_rec.p[0].highest, 6);
	assert_int_equal(t_rec.p[0].first_ts_ref, 9000);
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_INCONCLUSIVE);
	s = t_stats(j);
	assert_int_equal(s.packets, 2);
	assert_int_equal(s.inflight, 1);
	/* a straggler of the old packet, more than the timeout before the new one, is late */
	t_add(j, 1, 4, 9000);
	assert_int_equal(t_stats(j).late, 1);
	t_add(j, 1, 1, 9001); /* exactly the timeout before: the new packet's */
	assert_int_equal(t_stats(j).late, 1);
	assert_int_equal(t_stats(j).dups, 0);

	/* when the deadline had passed by the watermarks, the old packet is a real timeout */
	t_add_upto(j, 2, 1, 20000);
	t_wm_all(j, 2, 21000);
	t_add(j, 2, 0, 30000);
	assert_int_equal(t_rec.n, 2);
	assert_int_equal(t_rec.p[1].key.k2, 2);
	assert_int_equal(t_rec.p[1].why, NB_FINAL_TIMEOUT);
	assert_int_equal(nb_status_chain(&t_rec.p[1]), NB_ST_NETWORK_DROP_REQ);
	s = t_stats(j);
	assert_int_equal(s.packets, 4);
	assert_int_equal(s.inflight, 2);
	nb_join_destroy(&j);
}

static void test_key_reuse_off(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(1000);
	struct nb_join *j = t_new(&c);
	struct nb_join_stats s;
	(void)state;

	/* without reuse_ns, time does not split a held key: one packet, a dup */
	t_add_upto(j, 1, 1, 10000);
	t_add(j, 1, 0, 900000);
	t_add(j, 1, 2, 5);
	s = t_stats(j);
	assert_int_equal(s.packets, 1);
	assert_int_equal(s.dups, 1);
	assert_int_equal(s.late, 0);
	assert_int_equal(t_rec.n, 0);
	/* the last stage with B's unseen: held until every watermark passes it */
	t_add(j, 1, 7, 10070);
	assert_int_equal(t_rec.n, 0);
	t_wm_all(j, 2, 10070);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.p[0].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_rec.p[0].first_ts_ref, 5);
	assert_int_equal(nb_status_chain(&t_rec.p[0]), NB_ST_COMPLETE);
	/* nor a remembered one: late however far */
	t_add(j, 1, 0, 9000000);
	assert_int_equal(t_stats(j).late, 1);
	assert_int_equal(t_stats(j).packets, 1);
	/* reuse shorter than the timeout would split a packet's own stages */
	c.reuse_ns = 999;
	errno = 0;
	assert_null(nb_join_new(&c, t_cb, NULL));
	assert_int_equal(errno, EINVAL);
	nb_join_destroy(&j);
}

static void test_key_reuse_recent(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j;
	struct nb_join_stats s;
	(void)state;

	c.reuse_ns = 5000;
	j = t_new(&c);
	/* still in the ring, but seq wrapped sooner than the ring turned over */
	t_add_upto(j, 1, 3, 10000);
	t_add(j, 1, 0, 15000); /* reuse_ns after: still the old packet's */
	assert_int_equal(t_stats(j).late, 1);
	t_add(j, 1, 1, 15001);
	s = t_stats(j);
	assert_int_equal(s.late, 1);
	assert_int_equal(s.packets, 2);
	assert_int_equal(s.inflight, 1);
	/* REP_TX with REQ_RX and REP_RX unseen: held until the watermark passes it */
	t_add(j, 1, 3, 15031);
	assert_int_equal(t_rec.n, 1);
	t_wm_all(j, 1, 15031);
	assert_int_equal(nb_join_poll(j), 1);
	assert_int_equal(t_rec.n, 2);
	assert_int_equal(t_rec.p[1].why, NB_FINAL_LAST_STAGE);
	assert_int_equal(t_rec.p[1].first_ts_ref, 15001);
	assert_int_equal(t_rec.p[1].highest, 3);
	assert_false(t_rec.p[1].st[0].seen);
	/* both copies are in the ring now: each claims its own stragglers */
	t_add(j, 1, 2, 10020);
	t_add(j, 1, 2, 15021);
	s = t_stats(j);
	assert_int_equal(s.late, 3);
	assert_int_equal(s.packets, 2);
	/* a straggler from before both is late too */
	t_add(j, 1, 0, 1);
	assert_int_equal(t_stats(j).late, 4);
	nb_join_destroy(&j);
}

static void t_reenter_cb(const struct nb_joined *p, void *ctx)
{
	struct nb_key k = t_key(99);

	(void)p;
	(void)ctx;
	t_rec.reenter_rc[0] = nb_join_add(t_rec.j, &k, 0, 0, 0, 0, 0);
	t_rec.reenter_rc[1] = nb_join_poll(t_rec.j);
	t_rec.reenter_rc[2] = nb_join_flush(t_rec.j);
	t_rec.n++;
}

static void test_reentry_refused(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	(void)state;

	memset(&t_rec, 0, sizeof(t_rec));
	t_rec.j = nb_join_new(&c, t_reenter_cb, NULL);
	assert_non_null(t_rec.j);
	t_add_upto(t_rec.j, 1, 3, 1000);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.reenter_rc[0], -EBUSY);
	assert_int_equal(t_rec.reenter_rc[1], -EBUSY);
	assert_int_equal(t_rec.reenter_rc[2], -EBUSY);
	assert_int_equal(t_stats(t_rec.j).packets, 1);
	/* the engine works again once the callback returned */
	t_add(t_rec.j, 2, 0, 2000);
	assert_int_equal(nb_join_flush(t_rec.j), 1);
	nb_join_destroy(&t_rec.j);
}

static void test_no_callback(void **state)
{
	struct nb_join_cfg c = t_local_cfg(100);
	struct nb_join *j = nb_join_new(&c, NULL, NULL);
	(void)state;

	assert_non_null(j);
	t_add_upto(j, 1, 3, 0);
	t_add(j, 2, 1, 0);
	assert_int_equal(nb_join_flush(j), 1);
	assert_int_equal(t_stats(j).finals, 2);
	nb_join_destroy(&j);
}

/* ---- randomised: every packet comes out once, with the right highest stage ---- */

static uint64_t t_rng = 88172645463325252ull;

static uint32_t t_rand(void)
{
	t_rng ^= t_rng << 13;
	t_rng ^= t_rng >> 7;
	t_rng ^= t_rng << 17;
	return (uint32_t)(t_rng >> 16);
}

#define T_NPKT 20000

static struct {
	int8_t highest[T_NPKT];
	uint8_t seen_final[T_NPKT];
	int bad;
} t_rnd;

static void t_rnd_cb(const struct nb_joined *p, void *ctx)
{
	uint64_t i = p->key.k2;
	int s, unseen = 0;

	(void)ctx;
	for (s = 0; s < p->nstages; s++)
		unseen += !p->st[s].seen;
	/*
	 * The watermarks never pass a live packet's last stage, so a packet with it leaves only
	 * once all 8 stages are seen.
	 */
	if (i >= T_NPKT || t_rnd.seen_final[i] || p->highest != t_rnd.highest[i] ||
	    p->why == NB_FINAL_EVICTED ||
	    (p->highest == 7 && (p->why != NB_FINAL_LAST_STAGE || unseen)))
		t_rnd.bad++;
	else
		t_rnd.seen_final[i] = 1;
}

static void test_random_stream(void **state)
{
	struct nb_join_cfg c = t_chain_cfg(5000);
	struct nb_join *j;
	struct nb_join_stats s;
	/* a sliding window of packets whose stages are emitted in shuffled order */
	enum { W = 64 };
	struct {
		uint64_t id;
		int n, next, final;
		int8_t order[8];
	} win[W];
	uint64_t next_id = 0, t, adds = 0, want_late = 0, early_last = 0;
	int i, k, st, copies, live = 0;
	(void)state;

	memset(&t_rnd, 0, sizeof(t_rnd));
	c.max_inflight = 256; /* small: the index wraps and deletes shift often */
	c.recent = 512;
	j = nb_join_new(&c, t_rnd_cb, NULL);
	assert_non_null(j);
	while (next_id < T_NPKT || live) {
		while (live < W && next_id < T_NPKT) {
			int n = (t_rand() % 50) ? 8 : 1 + (int)(t_rand() % 7), a, b, x;

			win[live].id = next_id;
			win[live].n = n;
			win[live].next = 0;
			win[live].final = 0;
			for (a = 0; a < n; a++)
				win[live].order[a] = (int8_t)a;
			/* shuffle, but the last stage mostly last, as on a real path */
			for (a = n - 1; a > 0; a--) {
				b = (int)(t_rand() % (uint32_t)(a + 1));
				if (a == 7 && (t_rand() % 8))
					continue;
				x = win[live].order[a];
				win[live].order[a] = win[live].order[b];
				win[live].order[b] = (int8_t)x;
			}
			t_rnd.highest[next_id] = (int8_t)(n - 1);
			/* its last stage comes before another: it waits in the completion heap */
			early_last += n == 8 && win[live].order[7] != 7;
			next_id++;
			live++;
		}
		i = (int)(t_rand() % (uint32_t)live);
		st = win[i].order[win[i].next];
		t = win[i].id * 10 + (uint64_t)st;
		copies = (t_rand() % 4 == 0) ? 2 : 1;
		for (k = 0; k < copies; k++) {
			/* a second copy is a duplicate one ns later */
			t_add(j, win[i].id, st, t + (uint64_t)k);
			adds++;
			want_late += (uint64_t)win[i].final;
			/* the 8th distinct stage completes it, wherever the last stage came */
			if (win[i].n == 8 && win[i].next == 7)
				win[i].final = 1;
		}
		if (++win[i].next == win[i].n)
			win[i] = win[--live];
		if (adds % 32 == 0) {
			/* every event of packets before the oldest live one has been added */
			uint64_t lo = next_id;

			for (i = 0; i < live; i++)
				if (win[i].id < lo)
					lo = win[i].id;
			t_wm_all(j, 2, lo * 10);
			assert_true(nb_join_poll(j) >= 0);
		}
	}
	assert_true(nb_join_flush(j) >= 0);
	s = t_stats(j);
	assert_int_equal(t_rnd.bad, 0);
	for (i = 0; i < T_NPKT; i++)
		assert_true(t_rnd.seen_final[i]);
	assert_int_equal(s.packets, T_NPKT);
	assert_int_equal(s.finals, T_NPKT);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(s.late, want_late);
	assert_true(want_late > 0);
	assert_true(early_last > 100);
	assert_int_equal(s.evicted, 0);
	assert_int_equal(s.events + s.late, adds);
	assert_in_range(s.peak_inflight, 1, 256);
	nb_join_destroy(&j);
}

/* ---- randomised against a plain model: index, recent ring and heap under churn ---- */

#define T_M 8 /* max_inflight */
#define T_R 5 /* recent */

static struct {
	struct {
		uint64_t key, first, last; /* last: REP_TX's kept ts_ref */
		uint32_t seq;
		int highest, seen; /* seen: mask of stages */
	} in[T_M];
	int n;
	uint64_t ring[T_R];
	int ring_n, ring_head;
	uint32_t seq;
	uint64_t out_key[4];
	int out_highest[4], out_why[4], nout;
	uint64_t late, evicted, complete_early, evicted_complete;
} t_m;

static void t_model_cb(const struct nb_joined *p, void *ctx)
{
	(void)ctx;
	assert_true(t_rec.n < T_MAXREC);
	t_rec.p[t_rec.n++] = *p;
}

static void t_model_final(uint64_t key, int highest, int why)
{
	t_m.out_key[t_m.nout] = key;
	t_m.out_highest[t_m.nout] = highest;
	t_m.out_why[t_m.nout++] = why;
	t_m.ring[t_m.ring_head] = key;
	t_m.ring_head = (t_m.ring_head + 1) % T_R;
	if (t_m.ring_n < T_R)
		t_m.ring_n++;
}

/* A packet's age: REP_TX's time once it was seen (it waits to complete), else its start. */
static uint64_t t_model_age(int i)
{
	return t_m.in[i].highest == 3 ? t_m.in[i].last : t_m.in[i].first;
}

static void t_model_add(uint64_t key, int stage, uint64_t ts)
{
	int i, o;

	for (i = 0; i < t_m.n; i++) {
		if (t_m.in[i].key != key)
			continue;
		if (ts < t_m.in[i].first)
			t_m.in[i].first = ts;
		if (stage == 3 && (!(t_m.in[i].seen & 8) || ts < t_m.in[i].last))
			t_m.in[i].last = ts;
		if (stage > t_m.in[i].highest)
			t_m.in[i].highest = stage;
		t_m.in[i].seen |= 1 << stage;
		if (t_m.in[i].seen == 15) {
			if (stage != 3)
				t_m.complete_early++;
			t_model_final(key, 3, NB_FINAL_LAST_STAGE);
			t_m.in[i] = t_m.in[--t_m.n];
		}
		return;
	}
	for (i = 0; i < t_m.ring_n; i++) {
		if (t_m.ring[i] == key) {
			t_m.late++;
			return;
		}
	}
	/* REP_TX first takes a slot like any other stage: no watermark ever lets it go */
	if (t_m.n == T_M) {
		for (o = 0, i = 1; i < t_m.n; i++)
			if (t_model_age(i) < t_model_age(o) ||
			    (t_model_age(i) == t_model_age(o) && t_m.in[i].seq < t_m.in[o].seq))
				o = i;
		/* an evicted packet that had REP_TX is still COMPLETE: why says so */
		t_model_final(t_m.in[o].key, t_m.in[o].highest,
			      t_m.in[o].highest == 3 ? NB_FINAL_LAST_STAGE : NB_FINAL_EVICTED);
		t_m.evicted++;
		t_m.evicted_complete += t_m.in[o].highest == 3;
		t_m.in[o] = t_m.in[--t_m.n];
	}
	t_m.in[t_m.n].key = key;
	t_m.in[t_m.n].first = ts;
	t_m.in[t_m.n].last = ts;
	t_m.in[t_m.n].highest = stage;
	t_m.in[t_m.n].seen = 1 << stage;
	t_m.in[t_m.n++].seq = t_m.seq++;
}

static void test_random_vs_model(void **state)
{
	struct nb_join_cfg c = t_local_cfg(1000);
	struct nb_join *j;
	int step, i, stage;
	uint64_t key, ts;
	(void)state;

	memset(&t_m, 0, sizeof(t_m));
	memset(&t_rec, 0, sizeof(t_rec));
	c.max_inflight = T_M;
	c.recent = T_R;
	j = nb_join_new(&c, t_model_cb, NULL);
	assert_non_null(j);
	/* no watermark ever: packets leave only with all four stages or by eviction */
	for (step = 0; step < 200000; step++) {
		key = t_rand() % 40;
		stage = (t_rand() % 8 == 0) ? 3 : (int)(t_rand() % 3);
		ts = 1 + t_rand() % 1000;
		t_m.nout = 0;
		t_rec.n = 0;
		t_model_add(key, stage, ts);
		t_add(j, key, stage, ts);
		assert_int_equal(t_rec.n, t_m.nout);
		for (i = 0; i < t_m.nout; i++) {
			assert_int_equal(t_rec.p[i].key.k2, t_m.out_key[i]);
			assert_int_equal(t_rec.p[i].highest, t_m.out_highest[i]);
			assert_int_equal(t_rec.p[i].why, t_m.out_why[i]);
		}
		assert_int_equal(t_stats(j).inflight, (uint64_t)t_m.n);
	}
	assert_int_equal(t_stats(j).late, t_m.late);
	assert_int_equal(t_stats(j).evicted, t_m.evicted);
	/* the mix really exercised every path */
	assert_true(t_m.late > 10000);
	assert_true(t_m.evicted > 10000);
	assert_true(t_m.evicted_complete > 1000);
	assert_true(t_m.complete_early > 1000);
	assert_true(t_stats(j).dups > 10000);
	nb_join_destroy(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_cfg),
	    cmocka_unit_test(test_alloc_failure),
	    cmocka_unit_test(test_bad_args),
	    cmocka_unit_test(test_local_complete),
	    cmocka_unit_test(test_local_statuses),
	    cmocka_unit_test(test_chain_statuses),
	    cmocka_unit_test(test_out_of_order),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_late_after_final),
	    cmocka_unit_test(test_timeout_edge),
	    cmocka_unit_test(test_timeout_saturates),
	    cmocka_unit_test(test_wm_min_over_nodes),
	    cmocka_unit_test(test_dead_node_releases),
	    cmocka_unit_test(test_cross_host_batches),
	    cmocka_unit_test(test_complete_waits_for_all_wm),
	    cmocka_unit_test(test_complete_dead_node),
	    cmocka_unit_test(test_local_last_waits),
	    cmocka_unit_test(test_complete_dup_last),
	    cmocka_unit_test(test_complete_leaves_early),
	    cmocka_unit_test(test_taint_overlap),
	    cmocka_unit_test(test_taint_not_attached),
	    cmocka_unit_test(test_taint_bounded),
	    cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_flush),
	    cmocka_unit_test(test_poll_age_order),
	    cmocka_unit_test(test_seq_wrap),
	    cmocka_unit_test(test_key_reuse_while_held),
	    cmocka_unit_test(test_key_reuse_off),
	    cmocka_unit_test(test_key_reuse_recent),
	    cmocka_unit_test(test_reentry_refused),
	    cmocka_unit_test(test_no_callback),
	    cmocka_unit_test(test_random_stream),
	    cmocka_unit_test(test_random_vs_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
