// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * UDP fragment groups with synthetic packets: whole datagrams, fragments out of order, some or
 * all fragments lost at a stage, fragments never seen, the reverse flow, two hosts, port
 * attribution of later fragments, late copies, IP ID reuse, taint, allocation failure, and
 * IPv6: 32-bit IDs sharing a slot, and datagrams without an ID.
 *
 * The module is compiled in with its allocator routed to cmocka's to catch leaks.
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

#define malloc(n)    t_malloc((n), __FILE__, __LINE__)
#define calloc(n, m) t_calloc((n), (m), __FILE__, __LINE__)
#define free(p)	     _test_free((p), __FILE__, __LINE__)
#include "../../common/nb_udp.c"
#undef malloc
#undef calloc
#undef free

#define T_MAX 32
#define MS    1000000ull
#define FRAG  1480 /* IP payload of a full fragment at MTU 1500 */

struct t_dg {
	struct nb_joined p;
	struct nb_udp_dgram d;
};

static struct {
	struct t_dg r[T_MAX];
	int n;
	int nnodes;
} t_rec;

static void t_cb(const struct nb_udp_dgram *d, void *ctx)
{
	struct t_dg *r;

	(void)ctx;
	assert_true(t_rec.n < T_MAX);
	r = &t_rec.r[t_rec.n++];
	r->p = *d->p;
	r->d = *d;
	r->d.p = &r->p;
}

static struct nb_udp *t_new(int nstages, bool ports)
{
	struct nb_udp_cfg c = {0};
	struct nb_udp *u;

	memset(&t_rec, 0, sizeof(t_rec));
	c.nstages = nstages;
	c.nnodes = t_rec.nnodes = nstages == 4 ? 1 : 2;
	for (int i = 0; i < nstages; i++)
		c.stage_node[i] = nstages == 8 && i >= 2 && i <= 5;
	c.timeout_ns = 1000 * MS;
	c.ports = ports;
	u = nb_udp_new(&c, t_cb, NULL);
	assert_non_null(u);
	return u;
}

/*
 * Fragment k of a datagram of nfrag fragments (its last one `last` payload bytes), as the parser
 * reports it: ports and l4_len only in the first; IPv6 ones after a fragment header.
 */
static void t_frag_af(struct nb_udp *u, uint8_t family, int stage, uint32_t id, int k, int nfrag,
		      uint32_t last, uint64_t ms)
{
	struct nb_pkt p = {0};
	uint32_t len = k == nfrag - 1 ? last : FRAG;

	p.family = family;
	p.proto = 17;
	p.ip_id = id;
	p.frag_off = (uint16_t)(k * FRAG);
	p.more_frags = k < nfrag - 1;
	p.ip_len = (uint16_t)((family == 6 ? 40 + 8 : 20) + len);
	if (k == 0) {
		p.sport = 4000;
		p.dport = 53;
		p.l4_len = len - 8;
	}
	assert_int_equal(nb_udp_add(u, &p, stage, ms * MS, ms * MS, 1), 0);
}

static void t_frag(struct nb_udp *u, int stage, uint16_t id, int k, int nfrag, uint32_t last,
		   uint64_t ms)
{
	t_frag_af(u, 4, stage, id, k, nfrag, last, ms);
}

static void t_wm(struct nb_udp *u, uint64_t ms)
{
	for (int n = 0; n < t_rec.nnodes; n++)
		assert_int_equal(nb_udp_watermark(u, n, ms * MS), 0);
	assert_true(nb_udp_poll(u) >= 0);
}

static const struct t_dg *t_find(uint32_t id)
{
	for (int i = 0; i < t_rec.n; i++)
		if (t_rec.r[i].d.ip_id == id)
			return &t_rec.r[i];
	fail_msg("datagram id=%u not reported", id);
	return NULL;
}

static void test_whole(void **state)
{
	struct nb_udp *u = t_new(4, true);
	const struct t_dg *r;

	(void)state;
	t_frag(u, 0, 7, 0, 1, 100, 1);
	t_frag(u, 1, 7, 0, 1, 100, 2);
	assert_int_equal(t_rec.n, 1); /* whole and final: reported at once */
	r = t_find(7);
	assert_int_equal(r->d.status, NB_ST_COMPLETE);
	assert_int_equal(r->d.frags, 1);
	assert_int_equal(r->d.bytes, 100);
	assert_true(r->d.have_ports);
	assert_int_equal(r->d.sport, 4000);
	assert_int_equal(r->d.dport, 53);
	assert_false(r->d.reverse);
	assert_int_equal(r->p.st[1].ts, 2 * MS);
	assert_int_equal(r->p.st[1].aux, 1);
	assert_int_equal(r->d.lost, 0);
	nb_udp_destroy(&u);
	assert_null(u);
}

/* Three fragments, the last one first and the stages out of order. */
static void test_fragments_complete(void **state)
{
	struct nb_udp *u = t_new(4, true);
	const struct t_dg *r;

	(void)state;
	t_frag(u, 0, 9, 2, 3, 40, 1);
	t_frag(u, 0, 9, 0, 3, 0, 2);
	t_frag(u, 1, 9, 2, 3, 40, 3);
	t_frag(u, 0, 9, 1, 3, 0, 4);
	t_frag(u, 1, 9, 0, 3, 0, 5);
	assert_int_equal(t_rec.n, 0);
	t_frag(u, 1, 9, 1, 3, 0, 6);
	assert_int_equal(t_rec.n, 1);
	r = t_find(9);
	assert_int_equal(r->d.status, NB_ST_COMPLETE);
	assert_int_equal(r->d.frags, 3);
	assert_int_equal(r->d.bytes, 2 * FRAG + 40);
	assert_int_equal(r->d.frags_at[0], 3);
	assert_int_equal(r->d.frags_at[1], 3);
	assert_int_equal(r->p.st[0].ts, 1 * MS);
	assert_int_equal(r->p.st[1].ts, 3 * MS);
	nb_udp_destroy(&u);
}

/* The middle fragment dies inside the host: partial; all of them: a plain internal drop. */
static void test_partial_and_whole_drop(void **state)
{
	struct nb_udp *u = t_new(4, false);
	const struct t_dg *r;

	(void)state;
	for (int k = 0; k < 3; k++) {
		t_frag(u, 0, 20, k, 3, 100, 1);
		t_frag(u, 0, 21, k, 3, 100, 1);
		if (k != 1)
			t_frag(u, 1, 20, k, 3, 100, 2);
	}
	t_wm(u, 1000);
	assert_int_equal(t_rec.n, 0);
	t_wm(u, 1002);
	assert_int_equal(t_rec.n, 2);
	r = t_find(20);
	assert_int_equal(r->d.status, NB_ST_PARTIAL_FRAGMENT_DROP);
	assert_true(r->d.partial);
	assert_int_equal(r->d.frags, 3);
	assert_int_equal(r->d.lost, 1);
	assert_int_equal(r->d.lost_from, 1);
	assert_int_equal(r->d.frags_at[0], 3);
	assert_int_equal(r->d.frags_at[1], 2);
	r = t_find(21);
	assert_int_equal(r->d.status, NB_ST_INTERNAL_DROP);
	assert_false(r->d.partial);
	assert_int_equal(r->d.lost, 3);
	assert_int_equal(r->p.next_due, 1);
	nb_udp_destroy(&u);
}

/* A fragment never seen at all (lost before this host): partial here, at the first stage. */
static void test_missing_before(void **state)
{
	struct nb_udp *u = t_new(4, false);
	const struct t_dg *r;

	(void)state;
	t_frag(u, 0, 30, 0, 4, 10, 1);
	t_frag(u, 1, 30, 0, 4, 10, 2);
	t_frag(u, 0, 30, 3, 4, 10, 1);
	t_frag(u, 1, 30, 3, 4, 10, 2);
	t_wm(u, 1002);
	r = t_find(30);
	assert_int_equal(r->d.status, NB_ST_PARTIAL_FRAGMENT_DROP);
	assert_int_equal(r->d.frags, 4);
	assert_int_equal(r->d.lost, 2);
	assert_int_equal(r->d.lost_from, 0);
	nb_udp_destroy(&u);
}

/* The reverse flow is traced through the reply stages as datagrams of its own. */
static void test_reverse(void **state)
{
	struct nb_udp *u = t_new(4, false);
	const struct t_dg *r;

	(void)state;
	t_frag(u, 2, 7, 0, 1, 60, 1); /* same IP ID as a forward datagram: another packet */
	t_frag(u, 0, 7, 0, 1, 60, 1);
	t_frag(u, 1, 7, 0, 1, 60, 2);
	t_wm(u, 1002);
	assert_int_equal(t_rec.n, 2);
	for (int i = 0; i < 2; i++) {
		r = &t_rec.r[i];
		if (r->d.reverse) {
			assert_int_equal(r->d.status, NB_ST_INTERNAL_DROP);
			assert_int_equal(r->p.next_due, 3);
			assert_true(r->p.st[2].seen);
			assert_false(r->p.st[0].seen);
		} else {
			assert_int_equal(r->d.status, NB_ST_COMPLETE);
		}
	}
	nb_udp_destroy(&u);
}

/* Two hosts: statuses of the chain, per direction. */
static void test_two_hosts(void **state)
{
	struct nb_udp *u = t_new(8, false);
	const struct t_dg *r;

	(void)state;
	for (int k = 0; k < 2; k++) {
		/* 40: one fragment lost in the network; 41: both lost inside B */
		t_frag(u, 0, 40, k, 2, 10, 1);
		t_frag(u, 1, 40, k, 2, 10, 2);
		t_frag(u, 0, 41, k, 2, 10, 1);
		t_frag(u, 1, 41, k, 2, 10, 2);
		t_frag(u, 2, 41, k, 2, 10, 3);
	}
	t_frag(u, 2, 40, 1, 2, 10, 3);
	t_frag(u, 3, 40, 1, 2, 10, 4);
	/* 42 from B to A: lost in the network */
	t_frag(u, 4, 42, 0, 1, 10, 1);
	t_frag(u, 5, 42, 0, 1, 10, 2);
	/* 43 from B to A: complete */
	for (int s = 4; s < 8; s++)
		t_frag(u, s, 43, 0, 1, 10, (uint64_t)s);
	assert_int_equal(t_rec.n, 1);
	t_wm(u, 1002);
	assert_int_equal(t_rec.n, 4);
	r = t_find(40);
	assert_int_equal(r->d.status, NB_ST_NETWORK_DROP_REQ);
	assert_true(r->d.partial);
	assert_int_equal(r->d.lost, 1);
	assert_int_equal(r->d.lost_from, 2);
	r = t_find(41);
	assert_int_equal(r->d.status, NB_ST_B_INTERNAL_DROP_REQ);
	assert_false(r->d.partial);
	r = t_find(42);
	assert_int_equal(r->d.status, NB_ST_NETWORK_DROP_REP);
	assert_true(r->d.reverse);
	assert_int_equal(r->p.next_due, 6);
	r = t_find(43);
	assert_int_equal(r->d.status, NB_ST_COMPLETE);
	assert_int_equal(r->p.st[7].ts, 7 * MS);
	nb_udp_destroy(&u);
}

/*
 * hold_ns: a datagram complete at its last stage waits for the watermarks to pass that stage
 * by hold_ns (a drop after it, in the last node's tap ring, must have arrived); then, and at
 * a flush, it is reported. Incomplete ones wait for the timeout as before.
 */
static void test_hold(void **state)
{
	struct nb_udp *u = t_new(8, false);

	(void)state;
	u->cfg.hold_ns = 50 * MS;
	for (int s = 0; s < 4; s++)
		t_frag(u, s, 50, 0, 1, 10, 10 + (uint64_t)s);
	assert_int_equal(t_rec.n, 0);
	t_wm(u, 62);
	assert_int_equal(t_rec.n, 0);
	t_wm(u, 63);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_find(50)->d.status, NB_ST_COMPLETE);
	/* The reverse flow's last stage is A3. */
	for (int s = 4; s < 8; s++)
		t_frag(u, s, 51, 0, 1, 10, 100 + (uint64_t)s);
	t_wm(u, 156);
	assert_int_equal(t_rec.n, 1);
	t_wm(u, 157);
	assert_int_equal(t_rec.n, 2);
	/* Held at the end: the flush reports it. */
	for (int s = 0; s < 4; s++)
		t_frag(u, s, 52, 0, 1, 10, 200 + (uint64_t)s);
	assert_int_equal(nb_udp_flush(u), 1);
	assert_int_equal(t_find(52)->d.status, NB_ST_COMPLETE);
	nb_udp_destroy(&u);
}

/* With ports named, a group without its first fragment belongs to some other flow. */
static void test_ports_attribution(void **state)
{
	struct nb_udp *u = t_new(4, true);
	struct nb_udp_stats st;

	(void)state;
	t_frag(u, 0, 50, 1, 2, 10, 1);
	t_frag(u, 1, 50, 1, 2, 10, 2);
	t_wm(u, 1002);
	assert_int_equal(t_rec.n, 0);
	nb_udp_get_stats(u, &st);
	assert_int_equal(st.unattributed, 1);
	nb_udp_destroy(&u);
}

/* A late copy of a reported datagram is no new one; its IP ID after twice the timeout is. */
static void test_late_and_reuse(void **state)
{
	struct nb_udp *u = t_new(4, false);
	struct nb_udp_stats st;

	(void)state;
	t_frag(u, 0, 60, 0, 1, 10, 1);
	t_frag(u, 1, 60, 0, 1, 10, 2);
	t_frag(u, 1, 60, 0, 1, 10, 3);
	t_wm(u, 1002);
	nb_udp_get_stats(u, &st);
	assert_int_equal(st.late, 1);
	assert_int_equal(t_rec.n, 1);
	/* reused: the first datagram with it is waiting, then the ID comes back */
	t_frag(u, 0, 61, 0, 1, 10, 2000);
	t_frag(u, 0, 61, 0, 1, 10, 4500);
	assert_int_equal(t_rec.n, 2);
	assert_int_equal(t_rec.r[1].d.status, NB_ST_INCONCLUSIVE);
	t_frag(u, 1, 61, 0, 1, 10, 4501);
	assert_int_equal(t_rec.n, 3);
	assert_int_equal(t_rec.r[2].d.status, NB_ST_COMPLETE);
	nb_udp_destroy(&u);
}

/*
 * IPv6: 32-bit IDs. One whose low half is a reported datagram's is a new datagram, not a late
 * copy; one arriving while another with the same low half is open ends that one early. A
 * datagram without a fragment header has no ID: counted once per direction, never reported.
 */
static void test_ipv6(void **state)
{
	struct nb_udp *u = t_new(4, true);
	struct nb_pkt whole = {.family = 6, .proto = 17, .sport = 4000, .dport = 53};
	struct nb_udp_stats st;
	const struct t_dg *r;

	(void)state;
	for (int k = 0; k < 3; k++)
		t_frag_af(u, 6, 0, 0x12345, k, 3, 40, 1);
	for (int k = 0; k < 3; k++)
		t_frag_af(u, 6, 1, 0x12345, k, 3, 40, 2);
	assert_int_equal(t_rec.n, 1);
	r = t_find(0x12345);
	assert_int_equal(r->d.status, NB_ST_COMPLETE);
	assert_int_equal(r->d.frags, 3);
	assert_int_equal(r->d.bytes, 2 * FRAG + 40);
	assert_int_equal(r->p.key.k1, 0x12345);

	for (int s = 0; s < 2; s++)
		for (int k = 0; k < 2; k++)
			t_frag_af(u, 6, s, 0x22345, k, 2, 40, 3 + s);
	assert_int_equal(t_rec.n, 2);
	r = t_find(0x22345);
	assert_int_equal(r->d.status, NB_ST_COMPLETE);
	assert_int_equal(r->d.frags, 2);

	t_frag_af(u, 6, 0, 0x30001, 0, 2, 40, 10);
	t_frag_af(u, 6, 0, 0x40001, 0, 2, 40, 11);
	assert_int_equal(t_rec.n, 3);
	assert_int_equal(t_find(0x30001)->d.status, NB_ST_INCONCLUSIVE);
	t_frag_af(u, 6, 0, 0x40001, 1, 2, 40, 12);
	t_frag_af(u, 6, 1, 0x40001, 0, 2, 40, 13);
	t_frag_af(u, 6, 1, 0x40001, 1, 2, 40, 14);
	assert_int_equal(t_rec.n, 4);
	assert_int_equal(t_find(0x40001)->d.status, NB_ST_COMPLETE);

	whole.ip_len = 40 + 8 + 100;
	whole.l4_len = 100;
	for (int s = 0; s < 4; s++)
		assert_int_equal(nb_udp_add(u, &whole, s, 20 * MS, 20 * MS, 1), 0);
	t_wm(u, 3000);
	assert_int_equal(t_rec.n, 4);
	nb_udp_get_stats(u, &st);
	assert_int_equal(st.unidentified, 2); /* one each way */
	assert_int_equal(st.late, 0);
	assert_int_equal(st.open, 0);
	nb_udp_destroy(&u);
}

/* Lost events while a fragment was due: INCONCLUSIVE; flush reports what is open. */
static void test_taint_flush(void **state)
{
	struct nb_udp *u = t_new(4, false);

	(void)state;
	t_frag(u, 0, 70, 0, 1, 10, 1);
	assert_int_equal(nb_udp_taint(u, 0, 0, 5 * MS), 0);
	t_frag(u, 0, 71, 0, 2, 10, 3000);
	t_wm(u, 1002);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_find(70)->d.status, NB_ST_INCONCLUSIVE);
	assert_int_equal(nb_udp_flush(u), 1);
	assert_int_equal(t_find(71)->d.status, NB_ST_INCONCLUSIVE);
	nb_udp_destroy(&u);
}

static void test_alloc_failure(void **state)
{
	(void)state;
	for (int k = 0; k < 24; k++) {
		struct nb_udp_cfg c = {0};
		struct nb_udp *u;

		memset(&t_rec, 0, sizeof(t_rec));
		c.nstages = 4;
		c.nnodes = 1;
		c.timeout_ns = 1000 * MS;
		c.max_groups = 4;
		t_alloc_left = k;
		u = nb_udp_new(&c, t_cb, NULL);
		if (u) {
			for (uint16_t id = 0; id < 10; id++)
				t_frag(u, 0, id, 0, 2, 10, id);
			nb_udp_flush(u);
		}
		t_alloc_left = -1;
		nb_udp_destroy(&u);
	}
}

static void test_evict(void **state)
{
	struct nb_udp_cfg c = {0};
	struct nb_udp *u;
	struct nb_udp_stats st;

	(void)state;
	memset(&t_rec, 0, sizeof(t_rec));
	c.nstages = 4;
	c.nnodes = 1;
	c.timeout_ns = 1000 * MS;
	c.max_groups = 2;
	u = nb_udp_new(&c, t_cb, NULL);
	for (uint16_t id = 0; id < 3; id++)
		t_frag(u, 0, id, 0, 1, 10, 1 + id);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_find(0)->d.status, NB_ST_INCONCLUSIVE);
	nb_udp_get_stats(u, &st);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.open, 2);
	nb_udp_destroy(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole),
	    cmocka_unit_test(test_fragments_complete),
	    cmocka_unit_test(test_partial_and_whole_drop),
	    cmocka_unit_test(test_missing_before),
	    cmocka_unit_test(test_reverse),
	    cmocka_unit_test(test_two_hosts),
	    cmocka_unit_test(test_hold),
	    cmocka_unit_test(test_ports_attribution),
	    cmocka_unit_test(test_late_and_reuse),
	    cmocka_unit_test(test_taint_flush),
	    cmocka_unit_test(test_alloc_failure),
	    cmocka_unit_test(test_evict),
	    cmocka_unit_test(test_ipv6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
