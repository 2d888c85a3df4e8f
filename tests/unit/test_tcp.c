// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * TCP byte-range joins with synthetic packets: in order, out of order, overlap, resegmenting
 * (TSO/GSO and GRO), sequence wrap, retransmitted copies and where one was lost, cumulative
 * ACKs, duplicate ACKs behind a hole (SACK), a new connection on the same ports, events of the
 * far node first, taint, and allocation failure.
 *
 * A segment is reported only once its copy counts are final (nb_tcp.h): the watermarks must pass,
 * by the timeout, both the first ACK covering it at the last reply stage and its last copy at the
 * first stage, or 2 timeouts (at least 1 s) past its last copy when no ACK covers it. The tests
 * check both sides of that instant (T_SETTLE). The recovery shapes real stacks produce (fast
 * retransmit with and without SACK, RTO, resegmented and re-lost retransmissions, reordering,
 * spurious retransmissions) are checked copy by copy (T_COUNTS).
 *
 * The module is compiled in with its allocator routed to cmocka's, so every test also checks
 * that nb_tcp_destroy frees everything.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int t_alloc_left = -1;

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

static void *t_realloc(void *p, size_t n, const char *file, int line)
{
	return t_alloc_ok() ? _test_realloc(p, n, file, line) : NULL;
}

#define malloc(n)     t_malloc((n), __FILE__, __LINE__)
#define calloc(n, m)  t_calloc((n), (m), __FILE__, __LINE__)
#define realloc(p, n) t_realloc((p), (n), __FILE__, __LINE__)
#define free(p)	      _test_free((p), __FILE__, __LINE__)
#include "../../common/nb_tcp.c"
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "nb_blame.h"

#define T_MAX  64
#define MS     1000000ull
#define T_ACK  0x10
#define T_SYN  0x02
#define T_PORT 5201
#define T_DPRT 3260

struct t_seg {
	struct nb_joined p;
	struct nb_tcp_seg s;
	enum nb_status st;
};

static struct {
	struct t_seg r[T_MAX];
	int n;
	int nstages;
} t_rec;

static void t_cb(const struct nb_tcp_seg *s, void *ctx)
{
	struct t_seg *r;

	(void)ctx;
	assert_true(t_rec.n < T_MAX);
	r = &t_rec.r[t_rec.n++];
	r->p = *s->p;
	r->s = *s;
	r->s.p = &r->p;
	r->st = t_rec.nstages == 4 ? nb_status_local(s->p) : nb_status_chain(s->p);
}

static struct nb_tcp *t_new_dup(int nstages, uint64_t timeout_ms, bool dup)
{
	struct nb_tcp_cfg c = {0};
	struct nb_tcp *t;

	memset(&t_rec, 0, sizeof(t_rec));
	t_rec.nstages = nstages;
	c.nstages = nstages;
	c.nnodes = nstages == 4 ? 1 : 2;
	for (int i = 0; i < nstages; i++)
		c.stage_node[i] = nstages == 8 && i >= 2 && i <= 5;
	c.timeout_ns = timeout_ms * MS;
	c.slack_ns = nstages == 8 ? 1 * MS : 0;
	c.dup_acks = dup;
	t = nb_tcp_new(&c, t_cb, NULL);
	assert_non_null(t);
	return t;
}

static struct nb_tcp *t_new(int nstages, uint64_t timeout_ms)
{
	return t_new_dup(nstages, timeout_ms, nstages == 8);
}

/* A data packet src -> dst. */
static void t_data(struct nb_tcp *t, int stage, uint32_t seq, uint32_t len, uint64_t ms)
{
	struct nb_pkt p = {0};

	p.proto = 6;
	p.sport = T_PORT;
	p.dport = T_DPRT;
	p.tcp_seq = seq;
	p.tcp_ack = 77;
	p.tcp_flags = T_ACK;
	p.l4_len = len;
	assert_int_equal(nb_tcp_add(t, &p, stage, ms * MS, ms * MS, 10 + (uint32_t)stage), 0);
}

/* A pure ACK dst -> src. */
static void t_ack(struct nb_tcp *t, int stage, uint32_t ack, uint64_t ms)
{
	struct nb_pkt p = {0};

	p.proto = 6;
	p.sport = T_DPRT;
	p.dport = T_PORT;
	p.tcp_seq = 77;
	p.tcp_ack = ack;
	p.tcp_flags = T_ACK;
	assert_int_equal(nb_tcp_add(t, &p, stage, ms * MS, ms * MS, 20 + (uint32_t)stage), 0);
}

static void t_wm(struct nb_tcp *t, uint64_t ms)
{
	for (int n = 0; n < (t_rec.nstages == 4 ? 1 : 2); n++)
		assert_int_equal(nb_tcp_watermark(t, n, ms * MS), 0);
	assert_true(nb_tcp_poll(t) >= 0);
}

static const struct t_seg *t_find(uint32_t seq)
{
	for (int i = 0; i < t_rec.n; i++)
		if (t_rec.r[i].s.seq == seq)
			return &t_rec.r[i];
	fail_msg("segment seq=%u not reported", seq);
	return NULL;
}

/*
 * Reports due when the watermarks reach ms: none of them a millisecond before (before segments
 * reported in all), all of them at ms (after).
 */
static void t_settle(struct nb_tcp *t, uint64_t ms, int before, int after, const char *file,
		     int line)
{
	t_wm(t, ms - 1);
	_assert_int_equal(t_rec.n, before, file, line);
	t_wm(t, ms);
	_assert_int_equal(t_rec.n, after, file, line);
}

#define T_SETTLE(t, ms, before, after) t_settle((t), (ms), (before), (after), __FILE__, __LINE__)

/* Copy counts of a reported segment; what is not named must be 0. */
struct t_want {
	uint32_t copies[NB_TCP_MAX_DATA];
	uint32_t lost[NB_TCP_MAX_DATA - 1];
	uint32_t spurious;
	uint32_t at[NB_TCP_MAX_DATA]; /* spurious_at */
};

static void t_counts(const struct t_seg *r, const struct t_want *w, const char *file, int line)
{
	for (int d = 0; d < NB_TCP_MAX_DATA; d++) {
		_assert_int_equal(r->s.copies[d], w->copies[d], file, line);
		_assert_int_equal(r->s.spurious_at[d], w->at[d], file, line);
	}
	for (int d = 0; d + 1 < NB_TCP_MAX_DATA; d++)
		_assert_int_equal(r->s.lost[d], w->lost[d], file, line);
	_assert_int_equal(r->s.spurious, w->spurious, file, line);
}

#define T_COUNTS(r, ...) t_counts((r), &(const struct t_want){__VA_ARGS__}, __FILE__, __LINE__)

static void t_stats(struct nb_tcp *t, uint64_t segments, uint64_t given_up, uint64_t late,
		    const char *file, int line)
{
	struct nb_tcp_stats st;

	nb_tcp_get_stats(t, &st);
	_assert_int_equal(st.segments, segments, file, line);
	_assert_int_equal(st.given_up, given_up, file, line);
	_assert_int_equal(st.late, late, file, line);
}

/* Segments created, reported without an ACK covering them, and late data events. */
#define T_STATS(t, segments, given_up, late)                                                       \
	t_stats((t), (segments), (given_up), (late), __FILE__, __LINE__)

static uint64_t t_dup_passes(struct nb_tcp *t)
{
	struct nb_tcp_stats st;

	nb_tcp_get_stats(t, &st);
	return st.dup_passes;
}

/*
 * One host: data at 0 and 1, its ACK back at 2 and 3. Reported once the watermark is a timeout
 * past that ACK toward the sender: no copy can come after it.
 */
static void test_basic(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);
	const struct t_seg *r;

	(void)state;
	t_data(t, 0, 1000, 100, 1);
	t_data(t, 1, 1000, 100, 2);
	t_ack(t, 2, 1100, 3);
	t_ack(t, 3, 1100, 4);
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 1004, 0, 1);
	r = t_find(1000);
	assert_int_equal(r->st, NB_ST_COMPLETE);
	assert_int_equal(r->s.len, 100);
	assert_int_equal(r->s.sport, T_PORT);
	assert_int_equal(r->s.dport, T_DPRT);
	assert_int_equal(r->p.st[2].aux, 1100);
	assert_int_equal(r->p.st[3].aux, 1100);
	assert_int_equal(r->p.st[1].ts, 2 * MS);
	assert_int_equal(r->p.st[1].ifindex, 11);
	T_COUNTS(r, .copies = {1, 1});
	assert_int_equal(r->s.offset, 0);
	T_STATS(t, 1, 0, 0);
	nb_tcp_destroy(&t);
	assert_null(t);
}

/* One ACK covers three segments; ACKs below a segment's end do not pass it. */
static void test_cumulative(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);
	struct nb_tcp_stats st;

	(void)state;
	for (uint32_t k = 0; k < 3; k++) {
		t_data(t, 0, 5000 + k * 1000, 1000, 1 + k);
		t_data(t, 1, 5000 + k * 1000, 1000, 2 + k);
	}
	t_ack(t, 2, 5500, 10); /* half of the first: passes nothing */
	t_ack(t, 3, 5500, 11);
	t_ack(t, 2, 8000, 12);
	t_ack(t, 3, 8000, 13);
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 1013, 0, 3);
	for (uint32_t k = 0; k < 3; k++) {
		const struct t_seg *r = t_find(5000 + k * 1000);

		assert_int_equal(r->st, NB_ST_COMPLETE);
		assert_int_equal(r->p.st[2].ts, 12 * MS);
		assert_int_equal(r->p.st[3].aux, 8000);
		T_COUNTS(r, .copies = {1, 1});
	}
	/* late copies of reported bytes */
	t_data(t, 1, 5000, 1000, 1020);
	t_wm(t, 5000);
	assert_int_equal(t_rec.n, 3);
	nb_tcp_get_stats(t, &st);
	assert_int_equal(st.segments, 3);
	assert_int_equal(st.inflight, 0);
	nb_tcp_destroy(&t);
}

/* Out of order at the second stage, and an overlapping copy at the first. */
static void test_out_of_order_overlap(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);
	struct nb_tcp_stats st;

	(void)state;
	t_data(t, 0, 100, 1000, 1);
	t_data(t, 0, 600, 1000, 2); /* bytes 600..1099 again, 1100..1599 new */
	t_data(t, 0, 1600, 400, 3);
	t_data(t, 1, 1600, 400, 4);
	t_data(t, 1, 1100, 500, 5);
	t_data(t, 1, 100, 1000, 6);
	t_ack(t, 2, 2000, 7);
	t_ack(t, 3, 2000, 8);
	T_SETTLE(t, 1008, 0, 3);
	assert_int_equal(t_find(100)->s.len, 1000);
	assert_int_equal(t_find(100)->p.st[1].ts, 6 * MS);
	/* the overlap is a second copy of 600..1099, which reached stage 1 once: one lost */
	T_COUNTS(t_find(100), .copies = {2, 1}, .lost = {1});
	assert_int_equal(t_find(1100)->s.len, 500);
	T_COUNTS(t_find(1100), .copies = {1, 1});
	assert_int_equal(t_find(1600)->s.len, 400);
	assert_int_equal(t_find(1600)->p.st[1].ts, 4 * MS);
	for (int i = 0; i < 3; i++)
		assert_int_equal(t_rec.r[i].st, NB_ST_COMPLETE);
	nb_tcp_get_stats(t, &st);
	assert_int_equal(st.segments, 3);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.given_up, 0);
	nb_tcp_destroy(&t);
}

/* TSO/GSO: one 3000-byte skb first, three pieces later; GRO: the reverse. */
static void test_resegment(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);

	(void)state;
	t_data(t, 0, 0, 3000, 1);
	t_data(t, 1, 0, 1000, 2);
	t_data(t, 1, 2000, 1000, 3);
	t_ack(t, 2, 1000, 4); /* covers only part of it */
	t_ack(t, 3, 1000, 4);
	t_data(t, 1, 1000, 1000, 5);
	t_ack(t, 2, 3000, 6);
	t_ack(t, 3, 3000, 7);

	t_data(t, 0, 3000, 1000, 10);
	t_data(t, 0, 4000, 1000, 11);
	t_data(t, 0, 5000, 1000, 12);
	t_data(t, 1, 3000, 3000, 13);
	t_ack(t, 2, 6000, 14);
	t_ack(t, 3, 6000, 15);
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 1007, 0, 1);
	assert_int_equal(t_rec.r[0].s.len, 3000);
	assert_int_equal(t_rec.r[0].p.st[1].ts, 5 * MS);
	assert_int_equal(t_rec.r[0].st, NB_ST_COMPLETE);
	T_COUNTS(&t_rec.r[0], .copies = {1, 1});
	T_SETTLE(t, 1015, 1, 4);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(t_rec.r[i].s.len, 1000);
		assert_int_equal(t_rec.r[i].p.st[1].ts, 13 * MS);
		assert_int_equal(t_rec.r[i].st, NB_ST_COMPLETE);
		T_COUNTS(&t_rec.r[i], .copies = {1, 1});
	}
	T_STATS(t, 4, 0, 0);
	nb_tcp_destroy(&t);
}

/* Sequence numbers wrap at 2^32 inside a segment and between segments. */
static void test_wrap(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);

	(void)state;
	t_data(t, 0, 0xFFFFFF00u, 0x200, 1); /* ends at 0x100 */
	t_data(t, 0, 0x100, 0x100, 2);
	t_data(t, 1, 0x100, 0x100, 3);
	t_data(t, 1, 0xFFFFFF00u, 0x200, 4);
	t_ack(t, 2, 0x100, 5);
	t_ack(t, 3, 0x100, 6);
	t_ack(t, 2, 0x200, 7);
	t_ack(t, 3, 0x200, 8);
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 1006, 0, 1);
	assert_int_equal(t_find(0xFFFFFF00u)->s.len, 0x200);
	T_SETTLE(t, 1008, 1, 2);
	assert_int_equal(t_find(0x100)->s.offset, 0x200);
	assert_int_equal(t_find(0x100)->p.st[3].aux, 0x200);
	nb_tcp_destroy(&t);
}

/*
 * Two hosts: the first copy dies between A1 and B0, the retransmission gets through. The segment
 * is complete with one copy lost in the network, reported once the retransmission had its timeout.
 */
static void test_retransmit_network(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);
	const struct t_seg *r;

	(void)state;
	t_data(t, 0, 100, 1448, 1);
	t_data(t, 1, 100, 1448, 2);
	t_wm(t, 200);
	t_data(t, 0, 100, 1448, 201);
	t_data(t, 1, 100, 1448, 202);
	t_data(t, 2, 100, 1448, 203);
	t_data(t, 3, 100, 1448, 204);
	for (int s = 4; s < 8; s++)
		t_ack(t, s, 1548, 205 + (uint64_t)s);
	/* final for the engine, held for the copies until a timeout past its ACK at A3 */
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 1212, 0, 1);
	r = t_find(100);
	assert_int_equal(r->st, NB_ST_COMPLETE);
	T_COUNTS(r, .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	/* the first sighting times the stage */
	assert_int_equal(r->p.st[0].ts, 1 * MS);
	T_STATS(t, 1, 0, 0);
	nb_tcp_destroy(&t);
}

/*
 * Traffic already flowing when the trace started: node B attached at 100 ms, after the first
 * copy passed A1. That copy is no evidence of a loss in the network: unjudged, not lost.
 */
static void test_copy_before_attach(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);
	const struct t_seg *r;

	(void)state;
	assert_int_equal(nb_tcp_taint(t, 1, 0, 100 * MS), 0);
	t_data(t, 0, 100, 1448, 1);
	t_data(t, 1, 100, 1448, 2);
	t_wm(t, 200);
	t_data(t, 0, 100, 1448, 201);
	t_data(t, 1, 100, 1448, 202);
	t_data(t, 2, 100, 1448, 203);
	t_data(t, 3, 100, 1448, 204);
	for (int s = 4; s < 8; s++)
		t_ack(t, s, 1548, 205 + (uint64_t)s);
	T_SETTLE(t, 1212, 0, 1);
	r = t_find(100);
	assert_int_equal(r->st, NB_ST_COMPLETE);
	T_COUNTS(r, .copies = {2, 2, 1, 1}, .lost = {0, 0, 0});
	assert_int_equal(r->s.unjudged[0], 0);
	assert_int_equal(r->s.unjudged[1], 1);
	assert_int_equal(r->s.unjudged[2], 0);
	nb_tcp_destroy(&t);

	/* the same after B attached: the copy lost in the network is counted */
	t_rec.n = 0;
	t = t_new(8, 1000);
	assert_int_equal(nb_tcp_taint(t, 1, 0, 0), 0);
	t_data(t, 0, 100, 1448, 1);
	t_data(t, 1, 100, 1448, 2);
	t_wm(t, 200);
	t_data(t, 0, 100, 1448, 201);
	t_data(t, 1, 100, 1448, 202);
	t_data(t, 2, 100, 1448, 203);
	t_data(t, 3, 100, 1448, 204);
	for (int s = 4; s < 8; s++)
		t_ack(t, s, 1548, 205 + (uint64_t)s);
	T_SETTLE(t, 1212, 0, 1);
	r = t_find(100);
	T_COUNTS(r, .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	assert_int_equal(r->s.unjudged[1], 0);
	nb_tcp_destroy(&t);
}

/*
 * Every copy lost inside node A: A_INTERNAL_DROP_REQ, copies counted. No ACK ever covers it, so
 * it is given up 2 timeouts after its last copy.
 */
static void test_drop_all_copies(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);
	const struct t_seg *r;

	(void)state;
	t_data(t, 0, 100, 1448, 1);
	t_data(t, 0, 100, 1448, 300);
	t_wm(t, 1301); /* past the engine's own timeout */
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 2300, 0, 1);
	r = t_find(100);
	assert_int_equal(r->st, NB_ST_A_INTERNAL_DROP_REQ);
	T_COUNTS(r, .copies = {2}, .lost = {2});
	T_STATS(t, 1, 1, 0);
	nb_tcp_destroy(&t);
}

/*
 * A hole: X never reaches the receiver, S1 and S2 behind it do, and the receiver's ACK stays at
 * X with duplicates. X is the drop; S1 and S2 are complete on the duplicates (SACK is no loss).
 * The hole never fills, so no ACK covers any of them: each is given up 2 timeouts after its last
 * copy.
 */
static void test_hole_dupacks(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_data(t, 0, 0, 1000, 1); /* X */
	t_data(t, 1, 0, 1000, 2);
	t_data(t, 0, 1000, 1000, 3); /* S1 */
	t_data(t, 1, 1000, 1000, 4);
	t_data(t, 2, 1000, 1000, 5);
	t_data(t, 3, 1000, 1000, 6);
	t_data(t, 0, 2000, 1000, 7); /* S2 */
	t_data(t, 1, 2000, 1000, 8);
	t_data(t, 2, 2000, 1000, 9);
	t_data(t, 3, 2000, 1000, 10);
	/* the ACK before X (sent long before), then the duplicates S1 and S2 caused */
	for (int s = 4; s < 8; s++)
		t_ack(t, s, 0, 0);
	for (int s = 4; s < 8; s++)
		t_ack(t, s, 0, 6 + (uint64_t)s);
	assert_int_equal(t_dup_passes(t), 0); /* two ACKs at the value: not yet a duplicate run */
	for (int s = 4; s < 8; s++)
		t_ack(t, s, 0, 10 + (uint64_t)s);
	assert_int_equal(t_dup_passes(t), 8);
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 2001, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_NETWORK_DROP_REQ);
	T_COUNTS(t_find(0), .copies = {1, 1}, .lost = {0, 1});
	T_SETTLE(t, 2003, 1, 2);
	assert_int_equal(t_find(1000)->st, NB_ST_COMPLETE);
	assert_int_equal(t_find(1000)->s.dup_acked, 0xF0);
	T_SETTLE(t, 2007, 2, 3);
	assert_int_equal(t_find(2000)->st, NB_ST_COMPLETE);
	assert_int_equal(t_find(2000)->s.dup_acked, 0xF0);
	assert_int_equal(t_find(2000)->p.st[7].ts, 17 * MS);
	T_COUNTS(t_find(2000), .copies = {1, 1, 1, 1});
	T_STATS(t, 3, 3, 0);
	nb_tcp_destroy(&t);
}

/*
 * A duplicate ACK seen before a segment passed the stage before does not pass it, nor does one
 * for a segment that has not reached the receiver (lost behind the first hole).
 */
static void test_dupack_order(void **state)
{
	struct nb_tcp *t = t_new_dup(4, 1000, true);

	(void)state;
	t_data(t, 0, 0, 1000, 1);
	t_data(t, 1, 0, 1000, 2);
	for (int k = 0; k < 3; k++) {
		t_ack(t, 2, 0, 3 + (uint64_t)k);
		t_ack(t, 3, 0, 3 + (uint64_t)k);
	}
	t_data(t, 0, 1000, 1000, 10);
	t_data(t, 1, 1000, 1000, 11); /* after every duplicate so far */
	t_data(t, 0, 2000, 1000, 12); /* never leaves */
	assert_int_equal(t_dup_passes(t), 0);
	t_ack(t, 2, 0, 13);
	t_ack(t, 3, 0, 14);
	assert_int_equal(t_dup_passes(t), 2);
	/* no ACK ever covers any of them: each given up 2 timeouts after its last copy */
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 2001, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_EXTERNAL_DROP);
	T_SETTLE(t, 2010, 1, 2);
	assert_int_equal(t_find(1000)->st, NB_ST_COMPLETE);
	assert_int_equal(t_find(1000)->s.dup_acked, 0x0C);
	assert_int_equal(t_find(1000)->p.st[2].ts, 13 * MS);
	assert_int_equal(t_find(1000)->p.st[3].ts, 14 * MS);
	T_SETTLE(t, 2012, 2, 3);
	assert_int_equal(t_find(2000)->st, NB_ST_INTERNAL_DROP_REQ);
	T_COUNTS(t_find(2000), .copies = {1, 0}, .lost = {1});
	T_STATS(t, 3, 3, 0);
	nb_tcp_destroy(&t);
}

/*
 * On the receiver's host: the first copy of the third segment was lost before the first stage.
 * The one behind it passes on duplicate ACKs but is held until an ACK covers it; the
 * retransmission, seen later, is that segment's first sighting here, not an old copy.
 */
static void test_hole_at_first_stage(void **state)
{
	struct nb_tcp *t = t_new_dup(4, 1000, true);

	(void)state;
	for (uint32_t k = 0; k < 4; k++) {
		if (k == 2)
			continue;
		t_data(t, 0, k * 1000, 1000, 1 + k);
		t_data(t, 1, k * 1000, 1000, 2 + k);
	}
	for (int d = 0; d < 3; d++) {
		t_ack(t, 2, 2000, 10 + (uint64_t)d);
		t_ack(t, 3, 2000, 11 + (uint64_t)d);
	}
	assert_int_equal(t_dup_passes(t), 2);
	t_wm(t, 300);
	assert_int_equal(t_rec.n, 0);
	t_data(t, 0, 2000, 1000, 300);
	t_data(t, 1, 2000, 1000, 301);
	t_ack(t, 2, 4000, 302);
	t_ack(t, 3, 4000, 303);
	T_SETTLE(t, 1011, 0, 2);
	T_SETTLE(t, 1303, 2, 4);
	assert_int_equal(t_find(2000)->st, NB_ST_COMPLETE);
	T_COUNTS(t_find(2000), .copies = {1, 1});
	assert_int_equal(t_find(3000)->st, NB_ST_COMPLETE);
	assert_int_equal(t_find(3000)->s.dup_acked, 0x0C);
	assert_int_equal(t_find(3000)->p.st[3].ts, 13 * MS);
	T_STATS(t, 4, 0, 0);
	/*
	 * Another hole, 4000..4999, and the receiver's ACK stays at it: the segment behind it
	 * is given up 2 timeouts after its copy, and so is the hole (the floor passes it), so its
	 * retransmission coming after that is late, not a segment.
	 */
	t_data(t, 0, 5000, 1000, 1400);
	t_data(t, 1, 5000, 1000, 1401);
	for (int d = 0; d < 2; d++) {
		t_ack(t, 2, 4000, 1402 + (uint64_t)d);
		t_ack(t, 3, 4000, 1402 + (uint64_t)d);
	}
	assert_int_equal(t_dup_passes(t), 4);
	T_SETTLE(t, 3400, 4, 5);
	assert_int_equal(t_find(5000)->st, NB_ST_COMPLETE);
	assert_int_equal(t_find(5000)->s.dup_acked, 0x0C);
	T_STATS(t, 5, 1, 0);
	t_data(t, 0, 4000, 1000, 3401);
	t_data(t, 1, 4000, 1000, 3402);
	t_wm(t, 6000);
	assert_int_equal(t_rec.n, 5);
	T_STATS(t, 5, 1, 2);
	nb_tcp_destroy(&t);
}

/*
 * One host, no duplicate-ACK passes: behind a hole that never fills, a segment whose ACK stays
 * below it is held, not dropped; the hole itself is the drop. A segment with no ACK at all
 * after it is not held.
 */
static void test_ack_held(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);

	(void)state;
	t_ack(t, 2, 0, 0);
	t_ack(t, 3, 0, 0);
	for (uint32_t k = 0; k < 3; k++) {
		t_data(t, 0, k * 1000, 1000, 1 + k);
		t_data(t, 1, k * 1000, 1000, 2 + k);
	}
	t_ack(t, 2, 1000, 10);
	t_ack(t, 3, 1000, 11);
	for (int d = 0; d < 4; d++) {
		t_ack(t, 2, 1000, 12 + (uint64_t)d);
		t_ack(t, 3, 1000, 12 + (uint64_t)d);
	}
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 1011, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_COMPLETE);
	/* no ACK covers the other two: given up 2 timeouts after their copies */
	T_SETTLE(t, 2002, 1, 2);
	T_SETTLE(t, 2003, 2, 3);
	assert_int_equal(t_find(1000)->st, NB_ST_EXTERNAL_DROP);
	assert_false(t_find(1000)->s.ack_held);
	assert_int_equal(t_find(2000)->st, NB_ST_EXTERNAL_DROP);
	assert_true(t_find(2000)->s.ack_held);
	assert_int_equal(t_find(2000)->s.dup_acked, 0);
	T_STATS(t, 3, 2, 0);
	nb_tcp_destroy(&t);
}

/*
 * Bytes first seen at the first stage after the ACK toward the sender covered them (their first
 * copy was not seen there) are a copy, not a segment: no segment whose ACK came before it.
 */
static void test_acked_before_seen(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);
	struct nb_tcp_stats st;

	(void)state;
	t_data(t, 0, 0, 1000, 1);
	t_data(t, 1, 0, 1000, 2);
	t_ack(t, 2, 2000, 3);
	t_ack(t, 3, 2000, 4);
	t_data(t, 0, 1000, 1500, 5); /* 1000..1999 acked already: only 2000..2499 is new */
	t_data(t, 1, 1000, 1500, 6);
	t_ack(t, 2, 2500, 7);
	t_ack(t, 3, 2500, 8);
	t_data(t, 0, 1000, 500, 9);
	T_SETTLE(t, 1004, 0, 1);
	T_SETTLE(t, 1008, 1, 2);
	assert_int_equal(t_find(2000)->s.len, 500);
	assert_true(t_find(2000)->p.st[3].ts >= t_find(2000)->p.st[0].ts);
	nb_tcp_get_stats(t, &st);
	assert_int_equal(st.segments, 2);
	assert_int_equal(st.late, 1);
	nb_tcp_destroy(&t);
}

/*
 * Two hosts: a duplicate ACK is compared with the other node's stage within the clock slack,
 * but with this node's own stages exactly, so a segment never passes A2 before it left A1.
 */
static void test_dupack_clock(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_data(t, 0, 0, 1000, 1); /* X: never reaches B */
	t_data(t, 1, 0, 1000, 1);
	for (int s = 4; s < 8; s++)
		t_ack(t, s, 0, 1);
	for (int d = 0; d < 2; d++)
		for (int s = 4; s < 8; s++)
			t_ack(t, s, 0, 2 + (uint64_t)d); /* the run of duplicates, at 3 ms */
	t_data(t, 0, 1000, 1000, 4); /* S: leaves A at 4 ms, after those duplicates */
	t_data(t, 1, 1000, 1000, 4);
	t_data(t, 2, 1000, 1000, 4);
	t_data(t, 3, 1000, 1000, 4);
	/* B2 and B3 (node B) pass on no duplicate older than B1; A2 none older than A1 */
	assert_int_equal(t_dup_passes(t), 0);
	for (int s = 4; s < 8; s++)
		t_ack(t, s, 0, 5);
	assert_int_equal(t_dup_passes(t), 4);
	/* the hole never fills: both given up 2 timeouts after their copies */
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 2001, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_NETWORK_DROP_REQ);
	T_SETTLE(t, 2004, 1, 2);
	assert_int_equal(t_find(1000)->st, NB_ST_COMPLETE);
	assert_int_equal(t_find(1000)->p.st[6].ts, 5 * MS);
	assert_true(t_find(1000)->p.st[6].ts >= t_find(1000)->p.st[1].ts);
	assert_true(t_find(1000)->p.st[7].ts >= t_find(1000)->p.st[0].ts);
	nb_tcp_destroy(&t);
}

/* The far node's events arrive first: the segment made later still finds them. */
static void test_far_node_first(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_data(t, 2, 500, 1000, 3);
	t_data(t, 3, 500, 1000, 4);
	t_ack(t, 4, 1500, 5);
	t_ack(t, 5, 1500, 6);
	t_data(t, 0, 500, 1000, 1);
	t_data(t, 1, 500, 1000, 2);
	assert_int_equal(t_rec.n, 0);
	t_ack(t, 6, 1500, 7);
	t_ack(t, 7, 1500, 8);
	T_SETTLE(t, 1008, 0, 1);
	assert_int_equal(t_rec.r[0].st, NB_ST_COMPLETE);
	assert_int_equal(t_rec.r[0].p.st[2].ts, 3 * MS);
	assert_int_equal(t_rec.r[0].p.st[5].ts, 6 * MS);
	nb_tcp_destroy(&t);
}

/* Pure ACKs and SYNs in the data direction are no segments; a new SYN is a new connection. */
static void test_syn_and_pure(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);
	struct nb_pkt p = {0};
	struct nb_tcp_stats st;

	(void)state;
	p.proto = 6;
	p.sport = T_PORT;
	p.dport = T_DPRT;
	p.tcp_seq = 999;
	p.tcp_flags = T_SYN;
	assert_int_equal(nb_tcp_add(t, &p, 0, MS, MS, 1), 0);
	t_data(t, 0, 1000, 0, 2); /* pure ACK */
	t_data(t, 0, 1000, 10, 3);
	nb_tcp_get_stats(t, &st);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.conns, 1);
	/* same ports, new initial sequence: the old segment still finishes */
	p.tcp_seq = 424242;
	assert_int_equal(nb_tcp_add(t, &p, 0, 4 * MS, 4 * MS, 1), 0);
	t_data(t, 0, 424243, 10, 5);
	nb_tcp_get_stats(t, &st);
	assert_int_equal(st.segments, 2);
	assert_int_equal(st.conns, 2);
	/* no ACKs: each given up 2 timeouts after its copy */
	T_SETTLE(t, 2003, 0, 1);
	T_SETTLE(t, 2005, 1, 2);
	assert_int_equal(t_find(1000)->s.offset, 0);
	assert_int_equal(t_find(424243)->s.offset, 0);
	assert_int_equal(t_find(424243)->st, NB_ST_INTERNAL_DROP_REQ);
	nb_tcp_get_stats(t, &st);
	assert_int_equal(st.conns, 1);
	nb_tcp_destroy(&t);
}

/* Lost events at node B in the window: INCONCLUSIVE, never a drop; flush reports the rest. */
static void test_taint_flush(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_data(t, 0, 0, 100, 1);
	t_data(t, 1, 0, 100, 2);
	assert_int_equal(nb_tcp_taint(t, 1, 1 * MS, 5 * MS), 0);
	t_data(t, 0, 100, 100, 3000);
	T_SETTLE(t, 2001, 0, 1);
	assert_int_equal(t_rec.r[0].st, NB_ST_INCONCLUSIVE);
	assert_int_equal(nb_tcp_flush(t), 1);
	assert_int_equal(t_find(100)->st, NB_ST_INCONCLUSIVE);
	assert_int_equal(t_find(100)->p.why, NB_FINAL_FLUSH);
	/* both reported without an ACK covering them, the second by the flush */
	T_STATS(t, 2, 2, 0);
	nb_tcp_destroy(&t);
}

/* Every segment [k * 1000, k * 1000 + 1000) for k in [k0, k1) at a data stage. */
static void t_data_run(struct nb_tcp *t, int stage, uint32_t k0, uint32_t k1, uint64_t ms)
{
	for (uint32_t k = k0; k < k1; k++)
		t_data(t, stage, k * 1000, 1000, ms + k - k0);
}

/* An ACK at the reply stages [s0, s1). */
static void t_ack_run(struct nb_tcp *t, int s0, int s1, uint32_t ack, uint64_t ms)
{
	for (int s = s0; s < s1; s++)
		t_ack(t, s, ack, ms);
}

/*
 * The bug of a 2 % loss run: X is lost in the network, and so is S, the segment behind it. S's
 * retransmission reaches B while the receiver still waits for X (X's retransmission came second),
 * so S passes every reply stage on duplicate ACKs, and node B's events and A's duplicates are
 * fed before node A's own retransmission of S. S must still count its two copies at A: it was
 * reported 1,1,1,1 when it was reported on its last stage.
 */
static void test_lost_behind_hole(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_ack_run(t, 4, 8, 0, 0); /* the ACK before X */
	/* node A: X, S, T1 T2 T3 */
	t_data_run(t, 0, 0, 5, 1);
	t_data_run(t, 1, 0, 5, 1);
	/* node B: T1..T3 arrive at 4, 5 and 6, each answered by a duplicate of ACK 0 */
	for (uint32_t k = 2; k < 5; k++) {
		t_data(t, 2, k * 1000, 1000, 2 + k);
		t_data(t, 3, k * 1000, 1000, 2 + k);
		t_ack_run(t, 4, 6, 0, 2 + k);
	}
	/* ...then S's retransmission, and one more duplicate */
	t_data(t, 2, 1000, 1000, 10);
	t_data(t, 3, 1000, 1000, 10);
	t_ack_run(t, 4, 6, 0, 10);
	/* node A: the duplicates */
	for (uint64_t ms = 5; ms < 8; ms++)
		t_ack_run(t, 6, 8, 0, ms);
	t_ack_run(t, 6, 8, 0, 11);
	/* S has passed every stage, T1..T3 too: 4 passes each on duplicates */
	assert_int_equal(t_dup_passes(t), 16);
	/* node A's retransmissions of X and S, at 8 and 9 */
	t_data(t, 0, 0, 1000, 8);
	t_data(t, 1, 0, 1000, 8);
	t_data(t, 0, 1000, 1000, 9);
	t_data(t, 1, 1000, 1000, 9);
	/* X reaches B: the ACK covers everything */
	t_data(t, 2, 0, 1000, 11);
	t_data(t, 3, 0, 1000, 11);
	t_ack_run(t, 4, 6, 5000, 11);
	t_ack_run(t, 6, 8, 5000, 12);
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 1012, 0, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(t_rec.r[i].st, NB_ST_COMPLETE);
	T_COUNTS(t_find(0), .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	assert_int_equal(t_find(0)->s.dup_acked, 0);
	T_COUNTS(t_find(1000), .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	assert_int_equal(t_find(1000)->s.dup_acked, 0xF0);
	assert_int_equal(t_find(1000)->p.st[6].ts, 11 * MS);
	for (uint32_t k = 2; k < 5; k++) {
		T_COUNTS(t_find(k * 1000), .copies = {1, 1, 1, 1});
		assert_int_equal(t_find(k * 1000)->s.dup_acked, 0xF0);
	}
	T_STATS(t, 5, 0, 0);
	nb_tcp_destroy(&t);
}

/*
 * Fast retransmit: X is lost in the network, T1..T3 behind it (10 ms apart) draw duplicate ACKs,
 * X is sent again after the third and the ACK jumps past all four. With SACK (dup_acks) T1..T3
 * pass the reply stages on the duplicates (the third ACK at the value is the first to count);
 * without, on that last ACK. Either way the counts are the same.
 */
static void t_fast_retransmit(bool sack)
{
	struct nb_tcp *t = t_new_dup(8, 1000, sack);
	const uint64_t a3_sack[4] = {0, 22, 22, 32};

	t_ack_run(t, 4, 8, 0, 0);
	t_data(t, 0, 0, 1000, 1); /* X */
	t_data(t, 1, 0, 1000, 1);
	for (uint32_t k = 1; k < 4; k++) {
		t_data(t, 0, k * 1000, 1000, 10 * k);
		t_data(t, 1, k * 1000, 1000, 10 * k);
		t_data(t, 2, k * 1000, 1000, 10 * k + 1);
		t_data(t, 3, k * 1000, 1000, 10 * k + 1);
		t_ack_run(t, 4, 6, 0, 10 * k + 1);
		t_ack_run(t, 6, 8, 0, 10 * k + 2);
	}
	t_data(t, 0, 0, 1000, 33);
	t_data(t, 1, 0, 1000, 33);
	t_data(t, 2, 0, 1000, 34);
	t_data(t, 3, 0, 1000, 34);
	t_ack_run(t, 4, 6, 4000, 34);
	t_ack_run(t, 6, 8, 4000, 35);
	assert_int_equal(t_dup_passes(t), sack ? 12 : 0);
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 1035, 0, 4);
	assert_int_equal(t_find(0)->st, NB_ST_COMPLETE);
	T_COUNTS(t_find(0), .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	assert_int_equal(t_find(0)->s.dup_acked, 0);
	for (uint32_t k = 1; k < 4; k++) {
		const struct t_seg *r = t_find(k * 1000);

		assert_int_equal(r->st, NB_ST_COMPLETE);
		T_COUNTS(r, .copies = {1, 1, 1, 1});
		assert_int_equal(r->s.dup_acked, sack ? 0xF0 : 0);
		assert_int_equal(r->p.st[7].ts, (sack ? a3_sack[k] : 35) * MS);
	}
	T_STATS(t, 4, 0, 0);
	nb_tcp_destroy(&t);
}

static void test_fast_retransmit_sack(void **state)
{
	(void)state;
	t_fast_retransmit(true);
}

static void test_fast_retransmit_nosack(void **state)
{
	(void)state;
	t_fast_retransmit(false);
}

/* RTO: the tail segment is lost in the network, no duplicate ACK follows, it goes again later. */
static void test_rto_tail(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_data_run(t, 0, 0, 2, 1);
	t_data_run(t, 1, 0, 2, 1);
	t_data(t, 2, 0, 1000, 2);
	t_data(t, 3, 0, 1000, 2);
	t_ack_run(t, 4, 6, 1000, 2);
	t_ack_run(t, 6, 8, 1000, 3);
	t_wm(t, 200);
	assert_int_equal(t_rec.n, 0);
	t_data(t, 0, 1000, 1000, 202);
	t_data(t, 1, 1000, 1000, 202);
	t_data(t, 2, 1000, 1000, 203);
	t_data(t, 3, 1000, 1000, 203);
	t_ack_run(t, 4, 6, 2000, 203);
	t_ack_run(t, 6, 8, 2000, 204);
	T_SETTLE(t, 1003, 0, 1);
	T_COUNTS(t_find(0), .copies = {1, 1, 1, 1});
	T_SETTLE(t, 1204, 1, 2);
	assert_int_equal(t_find(1000)->st, NB_ST_COMPLETE);
	T_COUNTS(t_find(1000), .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	assert_int_equal(t_find(1000)->s.dup_acked, 0);
	assert_int_equal(t_find(1000)->p.st[0].ts, 2 * MS);
	T_STATS(t, 2, 0, 0);
	nb_tcp_destroy(&t);
}

/* Two segments lost in the network, retransmitted as one: each counts its two copies. */
static void test_retransmit_collapsed(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_data_run(t, 0, 0, 3, 1);
	t_data_run(t, 1, 0, 3, 1);
	t_data(t, 2, 0, 1000, 2);
	t_data(t, 3, 0, 1000, 2);
	t_ack_run(t, 4, 6, 1000, 2);
	t_ack_run(t, 6, 8, 1000, 3);
	t_data(t, 0, 1000, 2000, 203);
	t_data(t, 1, 1000, 2000, 203);
	t_data(t, 2, 1000, 2000, 204);
	t_data(t, 3, 1000, 2000, 204);
	t_ack_run(t, 4, 6, 3000, 204);
	t_ack_run(t, 6, 8, 3000, 205);
	T_SETTLE(t, 1003, 0, 1);
	T_SETTLE(t, 1205, 1, 3);
	for (uint32_t k = 1; k < 3; k++) {
		assert_int_equal(t_find(k * 1000)->st, NB_ST_COMPLETE);
		assert_int_equal(t_find(k * 1000)->s.len, 1000);
		T_COUNTS(t_find(k * 1000), .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	}
	T_STATS(t, 3, 0, 0);
	nb_tcp_destroy(&t);
}

/*
 * TSO: one 3000-byte skb at A is lost in the network and retransmitted as two halves: one
 * segment, two copies of every byte at A, one at B.
 */
static void test_retransmit_split(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);
	const struct t_seg *r;

	(void)state;
	t_data(t, 0, 0, 3000, 1);
	t_data(t, 1, 0, 3000, 1);
	t_data(t, 0, 0, 1500, 201);
	t_data(t, 1, 0, 1500, 201);
	t_data(t, 0, 1500, 1500, 202);
	t_data(t, 1, 1500, 1500, 202);
	t_data(t, 2, 0, 1500, 202);
	t_data(t, 3, 0, 1500, 202);
	t_ack_run(t, 4, 6, 1500, 202);
	t_data(t, 2, 1500, 1500, 203);
	t_data(t, 3, 1500, 1500, 203);
	t_ack_run(t, 4, 6, 3000, 203);
	t_ack_run(t, 6, 8, 1500, 203);
	t_ack_run(t, 6, 8, 3000, 204);
	T_SETTLE(t, 1204, 0, 1);
	r = t_find(0);
	assert_int_equal(r->st, NB_ST_COMPLETE);
	assert_int_equal(r->s.len, 3000);
	T_COUNTS(r, .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	assert_int_equal(r->p.st[2].ts, 203 * MS);
	assert_int_equal(r->p.st[7].aux, 3000);
	T_STATS(t, 1, 0, 0);
	nb_tcp_destroy(&t);
}

/*
 * GRO: S is lost in the network; B sees its retransmission merged with N, the next new segment.
 * S counts two copies at A, N one; both pass B when the merged skb does.
 */
static void test_retransmit_merged(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_data_run(t, 0, 0, 2, 1);
	t_data_run(t, 1, 0, 2, 1);
	t_data(t, 2, 0, 1000, 2);
	t_data(t, 3, 0, 1000, 2);
	t_ack_run(t, 4, 6, 1000, 2);
	t_ack_run(t, 6, 8, 1000, 3);
	t_data(t, 0, 1000, 1000, 201); /* S again */
	t_data(t, 1, 1000, 1000, 201);
	t_data(t, 0, 2000, 1000, 202); /* N */
	t_data(t, 1, 2000, 1000, 202);
	t_data(t, 2, 1000, 2000, 203);
	t_data(t, 3, 1000, 2000, 203);
	t_ack_run(t, 4, 6, 3000, 203);
	t_ack_run(t, 6, 8, 3000, 204);
	T_SETTLE(t, 1003, 0, 1);
	T_SETTLE(t, 1204, 1, 3);
	assert_int_equal(t_find(1000)->st, NB_ST_COMPLETE);
	T_COUNTS(t_find(1000), .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	assert_int_equal(t_find(2000)->st, NB_ST_COMPLETE);
	T_COUNTS(t_find(2000), .copies = {1, 1, 1, 1});
	assert_int_equal(t_find(2000)->p.st[2].ts, 203 * MS);
	assert_int_equal(t_find(2000)->p.st[0].ts, 202 * MS);
	T_STATS(t, 3, 0, 0);
	nb_tcp_destroy(&t);
}

/* A retransmission lost again in the network: three copies at A, one at B, two lost. */
static void test_retransmit_lost_again(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_data(t, 0, 0, 1000, 1);
	t_data(t, 1, 0, 1000, 1);
	t_wm(t, 200);
	t_data(t, 0, 0, 1000, 201);
	t_data(t, 1, 0, 1000, 201);
	t_wm(t, 600);
	assert_int_equal(t_rec.n, 0);
	t_data(t, 0, 0, 1000, 601);
	t_data(t, 1, 0, 1000, 601);
	t_data(t, 2, 0, 1000, 602);
	t_data(t, 3, 0, 1000, 602);
	t_ack_run(t, 4, 6, 1000, 602);
	t_ack_run(t, 6, 8, 1000, 603);
	T_SETTLE(t, 1603, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_COMPLETE);
	T_COUNTS(t_find(0), .copies = {3, 3, 1, 1}, .lost = {0, 2, 0});
	T_STATS(t, 1, 0, 0);
	nb_tcp_destroy(&t);
}

/* B sees S2 before S1 (one duplicate ACK, no retransmission): no loss, nothing spurious. */
static void test_reorder(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_ack_run(t, 4, 8, 0, 0);
	t_data_run(t, 0, 0, 3, 1);
	t_data_run(t, 1, 0, 3, 1);
	t_data(t, 2, 1000, 1000, 3);
	t_data(t, 3, 1000, 1000, 3);
	t_ack_run(t, 4, 6, 0, 3);
	t_data(t, 2, 0, 1000, 4);
	t_data(t, 3, 0, 1000, 4);
	t_ack_run(t, 4, 6, 2000, 4);
	t_data(t, 2, 2000, 1000, 5);
	t_data(t, 3, 2000, 1000, 5);
	t_ack_run(t, 4, 6, 3000, 5);
	t_ack_run(t, 6, 8, 0, 4);
	t_ack_run(t, 6, 8, 2000, 5);
	t_ack_run(t, 6, 8, 3000, 6);
	T_SETTLE(t, 1005, 0, 2);
	T_SETTLE(t, 1006, 2, 3);
	for (uint32_t k = 0; k < 3; k++) {
		const struct t_seg *r = t_find(k * 1000);

		assert_int_equal(r->st, NB_ST_COMPLETE);
		T_COUNTS(r, .copies = {1, 1, 1, 1});
		assert_int_equal(r->s.dup_acked, 0);
	}
	assert_int_equal(t_find(1000)->p.st[2].ts, 3 * MS);
	assert_int_equal(t_find(0)->p.st[2].ts, 4 * MS);
	assert_int_equal(t_dup_passes(t), 0);
	T_STATS(t, 3, 0, 0);
	nb_tcp_destroy(&t);
}

/*
 * A spurious retransmission: S got through, its ACK passed B2 and B3 and was lost before A2, the
 * sender's timer sent S again, and the receiver's answer to that copy covers it. Nothing was lost;
 * the second copy is spurious, placed where the ACK was lost (reply stage 2, between B3 and A2).
 */
static void test_spurious_ack_lost(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);
	const struct t_seg *r;

	(void)state;
	t_data(t, 0, 0, 1000, 1);
	t_data(t, 1, 0, 1000, 1);
	t_data(t, 2, 0, 1000, 2);
	t_data(t, 3, 0, 1000, 2);
	t_ack_run(t, 4, 6, 1000, 2);
	t_wm(t, 200);
	t_data(t, 0, 0, 1000, 201);
	t_data(t, 1, 0, 1000, 201);
	t_data(t, 2, 0, 1000, 202);
	t_data(t, 3, 0, 1000, 202);
	t_ack_run(t, 4, 6, 1000, 202);
	t_ack_run(t, 6, 8, 1000, 203);
	T_SETTLE(t, 1203, 0, 1);
	r = t_find(0);
	assert_int_equal(r->st, NB_ST_COMPLETE);
	T_COUNTS(r, .copies = {2, 2, 2, 2}, .spurious = 1, .at = {0, 0, 1, 0});
	assert_int_equal(r->p.st[4].ts, 2 * MS);
	assert_int_equal(r->p.st[6].ts, 203 * MS);
	T_STATS(t, 1, 0, 0);
	nb_tcp_destroy(&t);
}

/* One host: a copy lost inside it (two at REQ_RX, one at REQ_TX). */
static void test_local_copy_lost(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);

	(void)state;
	t_data(t, 0, 0, 1000, 1);
	t_wm(t, 200);
	t_data(t, 0, 0, 1000, 201);
	t_data(t, 1, 0, 1000, 202);
	t_ack(t, 2, 1000, 203);
	t_ack(t, 3, 1000, 204);
	T_SETTLE(t, 1204, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_COMPLETE);
	T_COUNTS(t_find(0), .copies = {2, 1}, .lost = {1});
	T_STATS(t, 1, 0, 0);
	nb_tcp_destroy(&t);
}

/*
 * One host: the ACK was lost beyond it, so no ACK covering the segment had reached its first
 * reply stage when the sender sent it again: the spurious copy goes to [0].
 */
static void test_local_spurious(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);

	(void)state;
	t_data(t, 0, 0, 1000, 1);
	t_data(t, 1, 0, 1000, 2);
	t_wm(t, 200);
	t_data(t, 0, 0, 1000, 201);
	t_data(t, 1, 0, 1000, 202);
	t_ack(t, 2, 1000, 203);
	t_ack(t, 3, 1000, 204);
	T_SETTLE(t, 1204, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_COMPLETE);
	T_COUNTS(t_find(0), .copies = {2, 2}, .spurious = 1, .at = {1});
	T_STATS(t, 1, 0, 0);
	nb_tcp_destroy(&t);
}

/*
 * One host: the sender's timer sent the segment again just before its ACK, already past both
 * reply stages, reached it. The segment is held until a timeout past that last copy; the copy is
 * spurious, with no traced stage to blame for the ACK's delay ([0]).
 */
static void test_copy_after_ack(void **state)
{
	struct nb_tcp *t = t_new(4, 1000);
	struct nb_tcp_stats st;

	(void)state;
	t_data(t, 0, 0, 1000, 1);
	t_data(t, 1, 0, 1000, 2);
	t_ack(t, 2, 1000, 3);
	t_ack(t, 3, 1000, 4);
	t_data(t, 0, 0, 1000, 5);
	t_data(t, 1, 0, 1000, 6);
	T_SETTLE(t, 1005, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_COMPLETE);
	T_COUNTS(t_find(0), .copies = {2, 2}, .spurious = 1, .at = {1});
	nb_tcp_get_stats(t, &st);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.reported, 1);
	assert_int_equal(st.given_up, 0);
	nb_tcp_destroy(&t);
}

/*
 * Never acknowledged: the receiver's answer never comes. The segment is given up 2 timeouts after
 * its last copy; with a short timeout, no sooner than a second after it.
 */
/*
 * A retransmission that gets through only after the engine's timeout (three copies lost in the
 * network, 200, 400 ms apart): the segment was held for its copies, and the copy that got
 * through makes it COMPLETE, with its three lost copies recovered, not NETWORK_DROP_REQ.
 */
static void test_delivered_after_timeout(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);
	const struct t_seg *r;

	(void)state;
	t_data(t, 0, 0, 1000, 1);
	t_data(t, 1, 0, 1000, 1);
	t_wm(t, 200);
	t_data(t, 0, 0, 1000, 201);
	t_data(t, 1, 0, 1000, 201);
	t_wm(t, 600);
	t_data(t, 0, 0, 1000, 601);
	t_data(t, 1, 0, 1000, 601);
	t_wm(t, 1300); /* the engine's timeout passed: held, not reported */
	assert_int_equal(t_rec.n, 0);
	t_data(t, 0, 0, 1000, 1401);
	t_data(t, 1, 0, 1000, 1401);
	t_data(t, 2, 0, 1000, 1401);
	t_data(t, 3, 0, 1000, 1401);
	t_ack_run(t, 4, 6, 1000, 1402);
	t_ack_run(t, 6, 8, 1000, 1403);
	T_SETTLE(t, 2403, 0, 1);
	r = t_find(0);
	assert_int_equal(r->st, NB_ST_COMPLETE);
	T_COUNTS(r, .copies = {4, 4, 1, 1}, .lost = {0, 3, 0});
	assert_int_equal(r->p.st[2].ts, 1401 * MS);
	assert_int_equal(r->p.st[7].aux, 1000);
	T_STATS(t, 1, 0, 0);
	nb_tcp_destroy(&t);
}

static void test_given_up(void **state)
{
	struct nb_tcp *t = t_new(8, 1000);

	(void)state;
	t_data(t, 0, 0, 1000, 1);
	t_data(t, 1, 0, 1000, 1);
	t_data(t, 2, 0, 1000, 2);
	t_data(t, 3, 0, 1000, 2);
	t_wm(t, 300);
	t_data(t, 0, 0, 1000, 300); /* lost in the network */
	t_data(t, 1, 0, 1000, 300);
	t_wm(t, 1301); /* past the engine's own timeout */
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 2300, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_DEST_NO_REPLY);
	T_COUNTS(t_find(0), .copies = {2, 2, 1, 1}, .lost = {0, 1, 0});
	T_STATS(t, 1, 1, 0);
	nb_tcp_destroy(&t);

	t = t_new(4, 100);
	t_data(t, 0, 0, 1000, 1);
	t_data(t, 1, 0, 1000, 2);
	t_wm(t, 300);
	assert_int_equal(t_rec.n, 0);
	T_SETTLE(t, 1001, 0, 1);
	assert_int_equal(t_find(0)->st, NB_ST_EXTERNAL_DROP);
	T_COUNTS(t_find(0), .copies = {1, 1});
	T_STATS(t, 1, 1, 0);
	nb_tcp_destroy(&t);
}

/* Allocation failure anywhere in new or in an add: an error or fewer segments, never a leak. */
static void test_alloc_failure(void **state)
{
	(void)state;
	for (int k = 0; k < 40; k++) {
		struct nb_tcp_cfg c = {0};
		struct nb_tcp *t;

		memset(&t_rec, 0, sizeof(t_rec));
		t_rec.nstages = 4;
		c.nstages = 4;
		c.nnodes = 1;
		c.timeout_ns = 1000 * MS;
		t_alloc_left = k;
		t = nb_tcp_new(&c, t_cb, NULL);
		if (t) {
			struct nb_pkt p = {0};

			p.proto = 6;
			p.sport = 1;
			p.dport = 2;
			p.tcp_flags = T_ACK;
			for (uint32_t i = 0; i < 40; i++) {
				p.tcp_seq = i * 100;
				p.l4_len = 100;
				nb_tcp_add(t, &p, 0, i * MS, i * MS, 1);
			}
			nb_tcp_flush(t);
		}
		t_alloc_left = -1;
		nb_tcp_destroy(&t);
	}
}

static void test_bad_args(void **state)
{
	struct nb_tcp_cfg c = {0};
	struct nb_tcp *t;
	struct nb_pkt p = {0};

	(void)state;
	c.nstages = 5;
	c.nnodes = 1;
	assert_null(nb_tcp_new(&c, t_cb, NULL));
	assert_int_equal(errno, EINVAL);
	t = t_new(4, 1000);
	assert_int_equal(nb_tcp_add(t, &p, 4, 0, 0, 0), -EINVAL);
	assert_int_equal(nb_tcp_watermark(t, 1, 0), -EINVAL);
	nb_tcp_destroy(&t);
	nb_tcp_destroy(&t);
	nb_tcp_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_cumulative),
	    cmocka_unit_test(test_out_of_order_overlap),
	    cmocka_unit_test(test_resegment),
	    cmocka_unit_test(test_wrap),
	    cmocka_unit_test(test_retransmit_network),
	    cmocka_unit_test(test_copy_before_attach),
	    cmocka_unit_test(test_drop_all_copies),
	    cmocka_unit_test(test_hole_dupacks),
	    cmocka_unit_test(test_dupack_order),
	    cmocka_unit_test(test_hole_at_first_stage),
	    cmocka_unit_test(test_ack_held),
	    cmocka_unit_test(test_acked_before_seen),
	    cmocka_unit_test(test_dupack_clock),
	    cmocka_unit_test(test_far_node_first),
	    cmocka_unit_test(test_syn_and_pure),
	    cmocka_unit_test(test_taint_flush),
	    cmocka_unit_test(test_lost_behind_hole),
	    cmocka_unit_test(test_fast_retransmit_sack),
	    cmocka_unit_test(test_fast_retransmit_nosack),
	    cmocka_unit_test(test_rto_tail),
	    cmocka_unit_test(test_retransmit_collapsed),
	    cmocka_unit_test(test_retransmit_split),
	    cmocka_unit_test(test_retransmit_merged),
	    cmocka_unit_test(test_retransmit_lost_again),
	    cmocka_unit_test(test_reorder),
	    cmocka_unit_test(test_spurious_ack_lost),
	    cmocka_unit_test(test_local_copy_lost),
	    cmocka_unit_test(test_local_spurious),
	    cmocka_unit_test(test_copy_after_ack),
	    cmocka_unit_test(test_delivered_after_timeout),
	    cmocka_unit_test(test_given_up),
	    cmocka_unit_test(test_alloc_failure),
	    cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
