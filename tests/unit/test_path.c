// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * nb_path: the three protocols behind one interface. ICMP by id and seq, UDP by IP ID, TCP by
 * byte range; one host and two; the status a TCP segment held behind another's loss gets, and
 * the one-line details the tools print.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "nb_path.h"

#define MS 1000000ull

static struct {
	enum nb_status st[16];
	char detail[16][160];
	uint8_t proto[16];
	int n;
} t_rec;

static void t_cb(const struct nb_path_res *r, void *ctx)
{
	(void)ctx;
	assert_true(t_rec.n < 16);
	t_rec.st[t_rec.n] = r->status;
	t_rec.proto[t_rec.n] = r->proto;
	nb_path_detail(r, 500, t_rec.detail[t_rec.n], sizeof(t_rec.detail[0]));
	t_rec.n++;
}

static struct nb_path *t_new(uint8_t proto, int nstages)
{
	struct nb_path_cfg c = {0};
	struct nb_path *pp;

	memset(&t_rec, 0, sizeof(t_rec));
	c.proto = proto;
	c.nstages = nstages;
	c.nnodes = nstages == 4 ? 1 : 2;
	for (int i = 0; i < nstages; i++)
		c.stage_node[i] = nstages == 8 && i >= 2 && i <= 5;
	c.timeout_ns = 500 * MS;
	pp = nb_path_new(&c, t_cb, NULL);
	assert_non_null(pp);
	return pp;
}

static void t_add(struct nb_path *pp, const struct nb_pkt *p, const struct nb_key *k, int stage,
		  uint64_t ms)
{
	struct nb_event e = {0};

	e.ts_ns = ms * MS;
	e.ifindex = 1;
	e.type = NB_EV_PKT;
	e.pkt = *p;
	assert_int_equal(nb_path_add(pp, &e, k, stage, ms * MS), 0);
}

static void t_wm(struct nb_path *pp, int nnodes, uint64_t ms)
{
	for (int n = 0; n < nnodes; n++)
		assert_int_equal(nb_path_watermark(pp, n, ms * MS), 0);
	assert_true(nb_path_poll(pp) >= 0);
}

static void test_icmp(void **state)
{
	struct nb_path *pp = t_new(IPPROTO_ICMP, 4);
	struct nb_pkt p = {.proto = IPPROTO_ICMP};
	struct nb_key k = {.proto = IPPROTO_ICMP, .k1 = 7, .k2 = 1};

	(void)state;
	t_add(pp, &p, &k, 0, 1);
	t_add(pp, &p, &k, 1, 2);
	t_wm(pp, 1, 600);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.st[0], NB_ST_EXTERNAL_DROP);
	assert_string_equal(t_rec.detail[0], "missing REP_RX after 500ms");
	/* a key is needed for ICMP */
	assert_int_equal(nb_path_add(pp, &(struct nb_event){0}, NULL, 0, 0), -EINVAL);
	nb_path_destroy(&pp);
	assert_null(pp);
}

static void test_udp_detail(void **state)
{
	struct nb_path *pp = t_new(IPPROTO_UDP, 8);
	struct nb_pkt p = {.family = 4, .proto = IPPROTO_UDP, .ip_id = 9};

	(void)state;
	/* two fragments; the second lost between A1 and B0 */
	p.more_frags = 1;
	p.ip_len = 1500;
	p.l4_len = 1472;
	for (int s = 0; s < 4; s++)
		t_add(pp, &p, NULL, s, 1 + (uint64_t)s);
	p.frag_off = 1480;
	p.more_frags = 0;
	p.ip_len = 120;
	p.l4_len = 0;
	t_add(pp, &p, NULL, 0, 1);
	t_add(pp, &p, NULL, 1, 2);
	t_wm(pp, 2, 600);
	assert_int_equal(t_rec.n, 1);
	assert_int_equal(t_rec.st[0], NB_ST_NETWORK_DROP_REQ);
	assert_string_equal(t_rec.detail[0],
			    "1 of 2 fragments lost: 2 at A0, 2 at A1, 1 at B0, 1 at B1");
	nb_path_destroy(&pp);
}

static void t_seg(struct nb_path *pp, int stage, uint32_t seq, uint32_t ack, uint32_t len,
		  uint64_t ms)
{
	struct nb_pkt p = {.family = 4, .proto = IPPROTO_TCP, .tcp_flags = 0x10};

	p.sport = stage < 2 ? 1000 : 80;
	p.dport = stage < 2 ? 80 : 1000;
	p.tcp_seq = seq;
	p.tcp_ack = ack;
	p.l4_len = len;
	t_add(pp, &p, NULL, stage, ms);
}

/* One host: behind a hole that never fills, a segment is INCONCLUSIVE, with why. */
static void test_tcp_held(void **state)
{
	struct nb_path *pp = t_new(IPPROTO_TCP, 4);

	(void)state;
	t_seg(pp, 2, 0, 100, 0, 0);
	for (uint32_t k = 0; k < 2; k++) {
		t_seg(pp, 0, 100 + k * 10, 0, 10, 1);
		t_seg(pp, 1, 100 + k * 10, 0, 10, 2);
	}
	for (int d = 0; d < 3; d++)
		t_seg(pp, 2, 0, 100, 0, 3 + (uint64_t)d);
	/* no ACK covers them: given up 1 s (2 timeouts at least a second) after their copy */
	t_wm(pp, 1, 1000);
	assert_int_equal(t_rec.n, 0);
	t_wm(pp, 1, 1001);
	assert_int_equal(t_rec.n, 2);
	assert_int_equal(t_rec.proto[0], IPPROTO_TCP);
	assert_int_equal(t_rec.st[0], NB_ST_EXTERNAL_DROP);
	assert_int_equal(t_rec.st[1], NB_ST_INCONCLUSIVE);
	assert_string_equal(t_rec.detail[1], "its ACK was held by an earlier segment's loss");
	nb_path_destroy(&pp);
}

static void test_bad(void **state)
{
	struct nb_path_cfg c = {.proto = IPPROTO_SCTP, .nstages = 4, .nnodes = 1};

	(void)state;
	assert_null(nb_path_new(&c, t_cb, NULL));
	assert_int_equal(errno, EPROTONOSUPPORT);
	c.proto = IPPROTO_UDP;
	c.nstages = 6;
	assert_null(nb_path_new(&c, t_cb, NULL));
	assert_int_equal(errno, EINVAL);
	assert_string_equal(nb_path_stage_name(8, 4), "B2");
	assert_string_equal(nb_path_stage_name(4, 3), "REP_TX");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_icmp),
	    cmocka_unit_test(test_udp_detail),
	    cmocka_unit_test(test_tcp_held),
	    cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
