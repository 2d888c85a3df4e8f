// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * nb_latpkt: an echo request and its reply joined into one echo whatever their direction, the
 * stage deltas, TOTAL_RTT, the estimated wire time, HIGH LATENCY and BOTTLENECK, a missing
 * stage shown as missing (never 0), events lost, and the details tools' per-direction packets
 * with their identity; the manual's text layouts byte for byte.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "nb_latpkt.h"

#define US 1000ull
#define MS 1000000ull

static const uint8_t t_a[4] = {10, 0, 0, 1}, t_b[4] = {10, 0, 0, 2}, t_c[4] = {10, 0, 0, 3};

static struct {
	struct nb_latpkt_res r[8];
	int n;
} t_rec;

static struct nb_lat_stage t_st[NB_MAX_STAGES];
static struct nb_latpkt_cfg t_cfg;

static void t_cb(const struct nb_latpkt_res *r, void *ctx)
{
	(void)ctx;
	assert_true(t_rec.n < 8);
	t_rec.r[t_rec.n++] = *r;
}

/* t_cfg for a chain, without an instance. */
static void t_cfg_of(enum nb_lat_family fam, enum nb_lat_dir dir, bool rtt, uint8_t proto,
		     uint64_t latency_ns)
{
	memset(&t_rec, 0, sizeof(t_rec));
	memset(&t_cfg, 0, sizeof(t_cfg));
	t_cfg.nstages = nb_lat_chain(fam, dir, rtt, proto, t_st);
	assert_true(t_cfg.nstages > 0);
	t_cfg.stages = t_st;
	t_cfg.rtt = rtt;
	t_cfg.wire = rtt && dir == NB_LAT_TX;
	t_cfg.family = 4;
	memcpy(t_cfg.src, t_a, 4);
	memcpy(t_cfg.dst, t_b, 4);
	t_cfg.timeout_ns = 500 * MS;
	t_cfg.latency_ns = latency_ns;
}

static struct nb_latpkt *t_new(enum nb_lat_family fam, enum nb_lat_dir dir, bool rtt, uint8_t proto,
			       uint64_t latency_ns)
{
	struct nb_latpkt *l;

	t_cfg_of(fam, dir, rtt, proto, latency_ns);
	l = nb_latpkt_new(&t_cfg, t_cb, NULL);
	assert_non_null(l);
	return l;
}

/* An ICMP event at a chain stage: type 8 request, 0 reply, from s to d. */
static void t_icmp(struct nb_latpkt *l, int stage, uint64_t ts, uint8_t type, uint16_t seq,
		   const uint8_t *s, const uint8_t *d)
{
	struct nb_event e = {0};

	e.type = NB_EV_PKT;
	e.hook = (uint8_t)(NB_HOOK_LAT0 + stage);
	e.ts_ns = ts;
	e.ifindex = 5;
	e.ethertype = 0x0800;
	e.pkt.family = 4;
	e.pkt.proto = IPPROTO_ICMP;
	e.pkt.icmp_type = type;
	e.pkt.icmp_id = 77;
	e.pkt.icmp_seq = seq;
	memcpy(e.pkt.saddr, s, 4);
	memcpy(e.pkt.daddr, d, 4);
	assert_int_equal(0, nb_latpkt_add(l, &e));
}

static void t_req(struct nb_latpkt *l, int stage, uint64_t ts, uint16_t seq)
{
	t_icmp(l, stage, ts, 8, seq, t_a, t_b);
}

static void t_rep(struct nb_latpkt *l, int stage, uint64_t ts, uint16_t seq)
{
	t_icmp(l, stage, ts, 0, seq, t_b, t_a);
}

/* system_network_icmp_rtt --direction tx: TX path, the wire, RX path; one echo. */
static void test_rtt_tx(void **state)
{
	struct nb_latpkt *l = t_new(NB_LAT_SYSTEM, NB_LAT_TX, true, 0, 0);
	const struct nb_latpkt_res *r;
	struct nb_latpkt_stats s;
	char buf[1024];

	(void)state;
	assert_int_equal(6, t_cfg.nstages);
	t_req(l, 0, 1000 * US, 1);
	t_req(l, 1, 1045 * US, 1);
	t_req(l, 2, 1057 * US, 1);
	/* the reply: the other way, same id and seq */
	t_rep(l, 3, 1182 * US, 1);
	t_rep(l, 4, 1194 * US, 1);
	assert_int_equal(0, t_rec.n);
	t_rep(l, 5, 1245 * US, 1);
	assert_int_equal(1, t_rec.n);
	r = &t_rec.r[0];
	assert_true(r->complete);
	assert_int_equal(-1, r->first_missing);
	assert_true(r->has_total);
	assert_int_equal(245 * US, r->total_ns);
	assert_int_equal(5, r->nrows);
	assert_true(r->rows[2].wire);
	assert_int_equal(2, r->rows[2].from);
	assert_int_equal(3, r->rows[2].to);
	assert_int_equal(125 * US, r->rows[2].ns);
	assert_int_equal(45 * US, r->rows[0].ns);
	assert_int_equal(2, r->bottleneck); /* the wire holds most of it */
	assert_false(r->high);
	assert_int_equal(1, r->pkt.icmp_seq);
	assert_string_equal("TX", nb_latpkt_path_name(&t_cfg, 0));
	assert_string_equal("RX", nb_latpkt_path_name(&t_cfg, 1));
	nb_latpkt_fmt_echo(&t_cfg, r, "14:40:15.123", buf, sizeof(buf));
	assert_string_equal("[14:40:15.123] seq=1 TOTAL_RTT=245us\n"
			    "  TX Path:\n"
			    "    ip_local_out           ->  ip_finish_output:    45us\n"
			    "    ip_finish_output       ->  net_dev_xmit:        12us\n"
			    "  RX Path:\n"
			    "    netif_receive_skb      ->  ip_rcv:              12us\n"
			    "    ip_rcv                 ->  icmp_rcv:            51us\n"
			    "  WIRE_TIME (estimated): 125us\n",
			    buf);
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(1, s.packets);
	assert_int_equal(1, s.complete);
	assert_int_equal(0, s.inflight);
	nb_latpkt_destroy(&l);
	assert_null(l);
}

/* Over --latency-ms: HIGH LATENCY, and BOTTLENECK on the pair holding the delay. */
static void test_rtt_high_bottleneck(void **state)
{
	struct nb_latpkt *l = t_new(NB_LAT_SYSTEM, NB_LAT_TX, true, 0, 1 * MS);
	const struct nb_latpkt_res *r;
	char buf[1024];

	(void)state;
	t_req(l, 0, 0, 2);
	t_req(l, 1, 1105 * US, 2); /* held in OUTPUT */
	t_req(l, 2, 1136 * US, 2);
	t_rep(l, 3, 1300 * US, 2);
	t_rep(l, 4, 1310 * US, 2);
	t_rep(l, 5, 1523 * US, 2);
	assert_int_equal(1, t_rec.n);
	r = &t_rec.r[0];
	assert_true(r->high);
	assert_int_equal(0, r->bottleneck);
	assert_int_equal(1105 * US, r->rows[0].ns);
	nb_latpkt_fmt_echo(&t_cfg, r, "14:40:16.125", buf, sizeof(buf));
	assert_string_equal(
	    "[14:40:16.125] seq=2 TOTAL_RTT=1523us  <<<< HIGH LATENCY\n"
	    "  TX Path:\n"
	    "    ip_local_out           ->  ip_finish_output:  1105us  <<<< BOTTLENECK\n"
	    "    ip_finish_output       ->  net_dev_xmit:        31us\n"
	    "  RX Path:\n"
	    "    netif_receive_skb      ->  ip_rcv:              10us\n"
	    "    ip_rcv                 ->  icmp_rcv:           213us\n"
	    "  WIRE_TIME (estimated): 164us\n",
	    buf);
	nb_latpkt_destroy(&l);
}

/*
 * --direction rx: the peer pings (request src -> dst received, reply sent back); no wire time.
 * Events of no echo this tool follows are ignored: a reply at a request stage, an echo of other
 * addresses, not an echo.
 */
static void test_rtt_rx_and_ignored(void **state)
{
	struct nb_latpkt *l = t_new(NB_LAT_SYSTEM, NB_LAT_RX, true, 0, 0);
	struct nb_latpkt_stats s;
	const struct nb_latpkt_res *r;

	(void)state;
	assert_string_equal("RX", nb_latpkt_path_name(&t_cfg, 0));
	t_rep(l, 0, 10 * US, 3);	       /* a reply where requests come in */
	t_icmp(l, 0, 10 * US, 8, 3, t_c, t_b); /* another pinger */
	t_icmp(l, 1, 10 * US, 3, 3, t_a, t_b); /* unreachable, not an echo */
	t_icmp(l, 9, 10 * US, 8, 3, t_a, t_b); /* not a stage of the chain */
	for (int i = 0; i < 3; i++)
		t_req(l, i, (uint64_t)(100 + i * 10) * US, 3);
	for (int i = 3; i < 6; i++)
		t_rep(l, i, (uint64_t)(200 + i * 10) * US, 3);
	assert_int_equal(1, t_rec.n);
	r = &t_rec.r[0];
	assert_int_equal(4, r->nrows); /* no wire row */
	for (int i = 0; i < r->nrows; i++)
		assert_false(r->rows[i].wire);
	assert_int_equal(150 * US, r->total_ns);
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(10, s.events);
	assert_int_equal(4, s.ignored);
	nb_latpkt_destroy(&l);
}

/* A stage never seen: missing after the timeout (never 0), counted by that stage. */
static void test_rtt_missing(void **state)
{
	struct nb_latpkt *l = t_new(NB_LAT_SYSTEM, NB_LAT_TX, true, 0, 0);
	struct nb_latpkt_stats s;
	const struct nb_latpkt_res *r;
	char buf[1024];

	(void)state;
	t_req(l, 0, 0, 4);
	t_req(l, 1, 10 * US, 4);
	t_req(l, 2, 20 * US, 4);
	t_rep(l, 3, 100 * US, 4);
	t_rep(l, 4, 110 * US, 4);
	/* icmp_rcv never comes */
	assert_int_equal(0, nb_latpkt_watermark(l, 400 * MS));
	assert_int_equal(0, t_rec.n);
	assert_int_equal(1, nb_latpkt_watermark(l, 600 * MS));
	r = &t_rec.r[0];
	assert_false(r->complete);
	assert_false(r->events_lost);
	assert_int_equal(5, r->first_missing);
	assert_false(r->has_total);
	assert_false(r->rows[4].known);
	assert_int_equal(-1, r->bottleneck);
	nb_latpkt_fmt_echo(&t_cfg, r, "10:00:00.000", buf, sizeof(buf));
	assert_string_equal(
	    "[10:00:00.000] seq=4 TOTAL_RTT=missing  INCOMPLETE (icmp_rcv not seen)\n"
	    "  TX Path:\n"
	    "    ip_local_out           ->  ip_finish_output:    10us\n"
	    "    ip_finish_output       ->  net_dev_xmit:        10us\n"
	    "  RX Path:\n"
	    "    netif_receive_skb      ->  ip_rcv:              10us\n"
	    "    ip_rcv                 ->  icmp_rcv:       missing\n"
	    "  WIRE_TIME (estimated): 80us\n",
	    buf);
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(1, s.packets);
	assert_int_equal(0, s.complete);
	assert_int_equal(1, s.missing[5]);
	nb_latpkt_destroy(&l);
}

/* A middle stage missing: the total is known, the two pairs around it are not. */
static void test_rtt_middle_missing(void **state)
{
	struct nb_latpkt *l = t_new(NB_LAT_SYSTEM, NB_LAT_TX, true, 0, 0);
	const struct nb_latpkt_res *r;

	(void)state;
	t_req(l, 0, 0, 5);
	t_req(l, 2, 20 * US, 5);
	t_rep(l, 3, 100 * US, 5);
	t_rep(l, 4, 110 * US, 5);
	t_rep(l, 5, 130 * US, 5);
	/* final when the missing stage's time is up, not at the last stage */
	assert_int_equal(0, t_rec.n);
	nb_latpkt_watermark(l, 600 * MS);
	assert_int_equal(1, t_rec.n);
	r = &t_rec.r[0];
	assert_false(r->complete);
	assert_int_equal(1, r->first_missing);
	assert_true(r->has_total);
	assert_int_equal(130 * US, r->total_ns);
	assert_false(r->rows[0].known);
	assert_false(r->rows[1].known);
	assert_true(r->rows[2].known);
	nb_latpkt_destroy(&l);
}

/* Events lost while a stage was due: the echo says so instead of naming a missing stage. */
static void test_rtt_events_lost(void **state)
{
	struct nb_latpkt *l = t_new(NB_LAT_SYSTEM, NB_LAT_TX, true, 0, 0);
	struct nb_latpkt_stats s;
	char why[64];

	(void)state;
	t_req(l, 0, 0, 6);
	t_req(l, 1, 10 * US, 6);
	assert_int_equal(0, nb_latpkt_taint(l, 5 * MS, 10 * MS));
	nb_latpkt_watermark(l, 600 * MS);
	assert_int_equal(1, t_rec.n);
	assert_true(t_rec.r[0].events_lost);
	assert_string_equal("events lost",
			    nb_latpkt_why_incomplete(&t_cfg, &t_rec.r[0], why, sizeof(why)));
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(1, s.events_lost_pkts);
	assert_int_equal(0, s.missing[2]);
	nb_latpkt_destroy(&l);
}

/* Echoes interleaved and a duplicate stage (a bridge calls PRE_ROUTING twice): the first counts. */
static void test_rtt_interleaved_dup(void **state)
{
	struct nb_latpkt *l = t_new(NB_LAT_SYSTEM, NB_LAT_TX, true, 0, 0);
	struct nb_latpkt_stats s;

	(void)state;
	for (int i = 0; i < 3; i++) {
		t_req(l, i, (uint64_t)i * US, 7);
		t_req(l, i, (uint64_t)(500 + i) * US, 8);
	}
	t_rep(l, 3, 100 * US, 7);
	t_rep(l, 4, 110 * US, 7);
	t_rep(l, 4, 115 * US, 7); /* the dup */
	t_rep(l, 3, 600 * US, 8);
	t_rep(l, 4, 610 * US, 8);
	t_rep(l, 5, 620 * US, 8);
	t_rep(l, 5, 130 * US, 7);
	assert_int_equal(2, t_rec.n);
	assert_int_equal(8, t_rec.r[0].pkt.icmp_seq);
	assert_int_equal(120 * US, t_rec.r[0].total_ns);
	assert_int_equal(7, t_rec.r[1].pkt.icmp_seq);
	assert_int_equal(10 * US, t_rec.r[1].rows[3].ns);
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(1, s.dups);
	assert_int_equal(0, s.inflight);
	/* a straggler of a final echo is late, not a new one */
	t_rep(l, 3, 700 * US, 8);
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(1, s.late);
	assert_int_equal(0, s.inflight);
	nb_latpkt_destroy(&l);
}

static void t_tcp(struct nb_latpkt *l, int stage, uint64_t ts, const uint8_t *s, const uint8_t *d,
		  uint16_t sp, uint16_t dp, uint32_t seq)
{
	struct nb_event e = {0};

	e.type = NB_EV_PKT;
	e.hook = (uint8_t)(NB_HOOK_LAT0 + stage);
	e.ts_ns = ts;
	e.ethertype = 0x0800;
	e.pkt.family = 4;
	e.pkt.proto = IPPROTO_TCP;
	e.pkt.sport = sp;
	e.pkt.dport = dp;
	e.pkt.tcp_seq = seq;
	e.pkt.tcp_ack = 9;
	e.pkt.l4_len = 100;
	memcpy(e.pkt.saddr, s, 4);
	memcpy(e.pkt.daddr, d, 4);
	assert_int_equal(0, nb_latpkt_add(l, &e));
}

/*
 * Details, --direction both: a segment out and one in with the same seq and ports are two
 * packets, each final at its own direction's last stage, each with its identity.
 */
static void test_details_both(void **state)
{
	struct nb_latpkt *l = t_new(NB_LAT_SYSTEM, NB_LAT_BOTH, false, IPPROTO_TCP, 0);
	struct nb_latpkt_stats s;
	char buf[512];

	(void)state;
	assert_int_equal(6, t_cfg.nstages);
	t_tcp(l, 0, 0, t_a, t_b, 5201, 40000, 1);
	t_tcp(l, 3, 5 * US, t_b, t_a, 40000, 5201, 1);
	t_tcp(l, 1, 10 * US, t_a, t_b, 5201, 40000, 1);
	t_tcp(l, 4, 17 * US, t_b, t_a, 40000, 5201, 1);
	t_tcp(l, 2, 30 * US, t_a, t_b, 5201, 40000, 1);
	assert_int_equal(1, t_rec.n);
	t_tcp(l, 5, 47 * US, t_b, t_a, 40000, 5201, 1);
	assert_int_equal(2, t_rec.n);
	assert_int_equal(0, t_rec.r[0].path);
	assert_int_equal(2, t_rec.r[0].nrows);
	assert_int_equal(30 * US, t_rec.r[0].total_ns);
	assert_int_equal(1, t_rec.r[1].path);
	assert_int_equal(3, t_rec.r[1].first);
	nb_latpkt_fmt_line(&t_cfg, &t_rec.r[0], "10:00:00.001", buf, sizeof(buf));
	assert_string_equal("[10:00:00.001] TX TCP 10.0.0.1:5201 -> 10.0.0.2:40000 seq=1 ack=9 "
			    "len=100: ip_local_out->ip_finish_output=10us "
			    "ip_finish_output->net_dev_xmit=20us total=30us\n",
			    buf);
	nb_latpkt_fmt_line(&t_cfg, &t_rec.r[1], "10:00:00.001", buf, sizeof(buf));
	assert_string_equal("[10:00:00.001] RX TCP 10.0.0.2:40000 -> 10.0.0.1:5201 seq=1 ack=9 "
			    "len=100: netif_receive_skb->ip_rcv=12us ip_rcv->tcp_v4_rcv=30us "
			    "total=42us\n",
			    buf);
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(2, s.complete);
	assert_int_equal(0, s.inflight);
	nb_latpkt_destroy(&l);
}

/* Details keys: another seq, other ports, another address pair are other packets. */
static void test_details_keys(void **state)
{
	struct nb_latpkt *l = t_new(NB_LAT_VM, NB_LAT_RX, false, 0, 0);
	struct nb_latpkt_stats s;
	char buf[512];

	(void)state;
	t_tcp(l, 0, 0, t_a, t_b, 1, 2, 100);
	t_tcp(l, 0, 0, t_a, t_b, 1, 2, 200);
	t_tcp(l, 0, 0, t_a, t_b, 1, 3, 100);
	t_tcp(l, 0, 0, t_c, t_b, 1, 2, 100);
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(4, s.inflight);
	assert_int_equal(0, s.dups);
	/* only the last stage seen: final when its time is up, with its identity */
	t_tcp(l, 2, 9 * US, t_a, t_c, 7, 8, 5);
	assert_int_equal(0, t_rec.n);
	assert_int_equal(5, nb_latpkt_watermark(l, 600 * MS));
	assert_int_equal(5, t_rec.n);
	t_rec.r[0] = t_rec.r[4];
	assert_int_equal(7, t_rec.r[0].pkt.sport);
	nb_latpkt_fmt_line(&t_cfg, &t_rec.r[0], "10:00:00.002", buf, sizeof(buf));
	assert_string_equal("[10:00:00.002] RX TCP 10.0.0.1:7 -> 10.0.0.3:8 seq=5 ack=9 len=100: "
			    "netif_receive_skb->forward=missing forward->net_dev_xmit=missing "
			    "INCOMPLETE (netif_receive_skb, forward not seen)\n",
			    buf);
	assert_int_equal(0, nb_latpkt_flush(l));
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(5, s.packets);
	assert_int_equal(4, s.missing[1]);
	assert_int_equal(1, s.missing[0]);
	assert_int_equal(0, s.inflight);
	nb_latpkt_destroy(&l);
}

/* Many packets through a small table: every identity comes back, none leaks. */
static void test_table_reuse(void **state)
{
	struct nb_latpkt_cfg c;
	struct nb_latpkt *l;
	struct nb_latpkt_stats s;

	(void)state;
	t_cfg_of(NB_LAT_VM, NB_LAT_TX, false, 0, 0);
	c = t_cfg;
	c.max_inflight = 4;
	l = nb_latpkt_new(&c, t_cb, NULL);
	assert_non_null(l);
	for (uint32_t i = 0; i < 1000; i++) {
		t_rec.n = 0;
		t_tcp(l, 0, i * MS, t_a, t_b, 1, 2, i);
		t_tcp(l, 1, i * MS + 1, t_a, t_b, 1, 2, i);
		t_tcp(l, 2, i * MS + 2, t_a, t_b, 1, 2, i);
		assert_int_equal(1, t_rec.n);
		assert_int_equal(i, t_rec.r[0].pkt.tcp_seq);
	}
	nb_latpkt_get_stats(l, &s);
	assert_int_equal(1000, s.complete);
	nb_latpkt_destroy(&l);
}

static void test_bad(void **state)
{
	struct nb_latpkt_cfg c;
	struct nb_lat_stage st[NB_MAX_STAGES];

	(void)state;
	t_cfg_of(NB_LAT_SYSTEM, NB_LAT_TX, true, 0, 0);
	c = t_cfg;
	errno = 0;
	assert_null(nb_latpkt_new(&c, NULL, NULL));
	assert_int_equal(EINVAL, errno);
	c.timeout_ns = 0;
	assert_null(nb_latpkt_new(&c, t_cb, NULL));
	c = t_cfg;
	c.family = 0;
	assert_null(nb_latpkt_new(&c, t_cb, NULL));
	/* paths out of order */
	c = t_cfg;
	memcpy(st, t_st, sizeof(st));
	st[0].path = 1;
	c.rtt = false;
	c.stages = st;
	assert_null(nb_latpkt_new(&c, t_cb, NULL));
	assert_int_equal(EINVAL, errno);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rtt_tx),
	    cmocka_unit_test(test_rtt_high_bottleneck),
	    cmocka_unit_test(test_rtt_rx_and_ignored),
	    cmocka_unit_test(test_rtt_missing),
	    cmocka_unit_test(test_rtt_middle_missing),
	    cmocka_unit_test(test_rtt_events_lost),
	    cmocka_unit_test(test_rtt_interleaved_dup),
	    cmocka_unit_test(test_details_both),
	    cmocka_unit_test(test_details_keys),
	    cmocka_unit_test(test_table_reuse),
	    cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
