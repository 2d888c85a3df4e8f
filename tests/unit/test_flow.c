// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Packet identity and stage classification, the option parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>

#include "nb_flow.h"
#include "nb_opts.h"

#define RX1 3
#define RX2 4
#define TX1 15

static void s_spec(struct nb_flow_spec *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(nb_addr_parse("10.0.0.1", s->src, &s->family), 0);
	assert_int_equal(nb_addr_parse("10.0.0.2", s->dst, &s->family), 0);
	s->proto = IPPROTO_ICMP;
	s->rx_if[0] = RX1;
	s->rx_if[1] = RX2;
	s->n_rx = 2;
	s->tx_if[0] = TX1;
	s->n_tx = 1;
}

static void s_icmp(struct nb_event *e, const char *src, const char *dst, uint8_t type,
		   uint16_t id, uint16_t seq, uint8_t hook, uint32_t ifindex)
{
	uint8_t fam;

	memset(e, 0, sizeof(*e));
	e->type = NB_EV_PKT;
	e->hook = hook;
	e->ifindex = ifindex;
	assert_int_equal(nb_addr_parse(src, e->pkt.saddr, &fam), 0);
	assert_int_equal(nb_addr_parse(dst, e->pkt.daddr, &fam), 0);
	e->pkt.family = 4;
	e->pkt.proto = IPPROTO_ICMP;
	e->pkt.icmp_type = type;
	e->pkt.icmp_id = id;
	e->pkt.icmp_seq = seq;
}

static void test_four_stages(void **state)
{
	struct nb_flow_spec s;
	struct nb_event e;
	struct nb_key k;

	(void)state;
	s_spec(&s);
	s_icmp(&e, "10.0.0.1", "10.0.0.2", 8, 1234, 7, NB_HOOK_RX, RX1);
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REQ_RX);
	assert_int_equal(k.k1, 1234);
	assert_int_equal(k.k2, 7);
	assert_int_equal(k.proto, IPPROTO_ICMP);
	s_icmp(&e, "10.0.0.1", "10.0.0.2", 8, 1234, 7, NB_HOOK_TX, TX1);
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REQ_TX);
	s_icmp(&e, "10.0.0.2", "10.0.0.1", 0, 1234, 7, NB_HOOK_RX, TX1);
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REP_RX);
	assert_int_equal(k.k2, 7);
	s_icmp(&e, "10.0.0.2", "10.0.0.1", 0, 1234, 7, NB_HOOK_TX, RX2);
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REP_TX);
}

static void test_not_stages(void **state)
{
	struct nb_flow_spec s;
	struct nb_event e;
	struct nb_key k;

	(void)state;
	s_spec(&s);
	/* request seen leaving on the rx side: not a stage of this path */
	s_icmp(&e, "10.0.0.1", "10.0.0.2", 8, 1, 1, NB_HOOK_TX, RX1);
	assert_int_equal(nb_flow_stage(&s, &e, &k), -1);
	/* an echo request from the destination is another flow's request */
	s_icmp(&e, "10.0.0.2", "10.0.0.1", 8, 1, 1, NB_HOOK_RX, TX1);
	assert_int_equal(nb_flow_stage(&s, &e, &k), -1);
	/* other address */
	s_icmp(&e, "10.0.0.3", "10.0.0.2", 8, 1, 1, NB_HOOK_RX, RX1);
	assert_int_equal(nb_flow_stage(&s, &e, &k), -1);
	/* other interface */
	s_icmp(&e, "10.0.0.1", "10.0.0.2", 8, 1, 1, NB_HOOK_RX, 99);
	assert_int_equal(nb_flow_stage(&s, &e, &k), -1);
	/* a drop event is never a stage */
	s_icmp(&e, "10.0.0.1", "10.0.0.2", 8, 1, 1, NB_HOOK_RX, RX1);
	e.type = NB_EV_DROP;
	assert_int_equal(nb_flow_stage(&s, &e, &k), -1);
	/* non-first fragment of an ICMP packet has no ICMP header */
	s_icmp(&e, "10.0.0.1", "10.0.0.2", 8, 1, 1, NB_HOOK_RX, RX1);
	e.pkt.frag_off = 1480;
	assert_int_equal(nb_flow_stage(&s, &e, &k), -1);
}

/* TCP and UDP: ports both ways; a later UDP fragment has none and goes by its addresses. */
static void test_tcp_udp_stages(void **state)
{
	struct nb_flow_spec s;
	struct nb_event e;
	struct nb_key k;

	(void)state;
	s_spec(&s);
	s.proto = IPPROTO_UDP;
	s.dport = 53;
	s_icmp(&e, "10.0.0.1", "10.0.0.2", 0, 0, 0, NB_HOOK_RX, RX1);
	e.pkt.proto = IPPROTO_UDP;
	e.pkt.sport = 4000;
	e.pkt.dport = 53;
	e.pkt.ip_id = 4242;
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REQ_RX);
	assert_int_equal(k.proto, IPPROTO_UDP);
	assert_int_equal(k.k1, 4242);
	assert_int_equal(k.k2, 0);
	e.pkt.dport = 54;
	assert_int_equal(nb_flow_stage(&s, &e, &k), -1);
	/* a later fragment: no ports parsed, accepted on its addresses */
	e.pkt.sport = e.pkt.dport = 0;
	e.pkt.frag_off = 1480;
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REQ_RX);
	assert_int_equal(k.k2, 1480);
	/* the reply direction, leaving on the rx side */
	s_icmp(&e, "10.0.0.2", "10.0.0.1", 0, 0, 0, NB_HOOK_TX, RX2);
	e.pkt.proto = IPPROTO_UDP;
	e.pkt.sport = 53;
	e.pkt.dport = 4000;
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REP_TX);

	s.proto = IPPROTO_TCP;
	s.dport = 3260;
	s_icmp(&e, "10.0.0.2", "10.0.0.1", 0, 0, 0, NB_HOOK_RX, TX1);
	e.pkt.proto = IPPROTO_TCP;
	e.pkt.sport = 3260;
	e.pkt.dport = 5201;
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REP_RX);
	assert_int_equal(k.k1, 5201u << 16 | 3260);
	e.pkt.frag_off = 8;
	assert_int_equal(nb_flow_stage(&s, &e, &k), -1);
}

/* IPv6: ICMPv6 echo types, and a UDP fragment keyed by its fragment header's 32-bit ID. */
static void test_ipv6_stages(void **state)
{
	struct nb_flow_spec s;
	struct nb_event e;
	struct nb_key k;

	(void)state;
	s_spec(&s);
	assert_int_equal(nb_addr_parse("2001:db8::1", s.src, &s.family), 0);
	assert_int_equal(nb_addr_parse("2001:db8::2", s.dst, &s.family), 0);
	assert_int_equal(s.family, 6);
	s.proto = IPPROTO_ICMPV6;
	s_icmp(&e, "2001:db8::1", "2001:db8::2", 128, 77, 3, NB_HOOK_RX, RX1);
	e.pkt.family = 6;
	e.pkt.proto = IPPROTO_ICMPV6;
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REQ_RX);
	assert_int_equal(k.k1, 77);
	assert_int_equal(k.k2, 3);
	e.pkt.icmp_type = 8; /* ICMPv4's echo request number means nothing here */
	assert_int_equal(nb_flow_stage(&s, &e, &k), -1);
	s_icmp(&e, "2001:db8::2", "2001:db8::1", 129, 77, 3, NB_HOOK_RX, TX1);
	e.pkt.family = 6;
	e.pkt.proto = IPPROTO_ICMPV6;
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REP_RX);

	s.proto = IPPROTO_UDP;
	s_icmp(&e, "2001:db8::1", "2001:db8::2", 0, 0, 0, NB_HOOK_TX, TX1);
	e.pkt.family = 6;
	e.pkt.proto = IPPROTO_UDP;
	e.pkt.ip_id = 0x89abcdef;
	e.pkt.frag_off = 1448;
	assert_int_equal(nb_flow_stage(&s, &e, &k), NB_REQ_TX);
	assert_int_equal(k.k1, 0x89abcdef);
	assert_int_equal(k.k2, 1448);
}

static void test_filter(void **state)
{
	struct nb_flow_spec s;
	struct nb_filter f;

	(void)state;
	s_spec(&s);
	s.rx_if[1] = TX1; /* the same interface on both sides appears once */
	nb_flow_filter(&s, 4026531840u, &f);
	assert_int_equal(f.netns, 4026531840u);
	assert_int_equal(f.n_ifindex, 2);
	assert_int_equal(f.ifindex[0], RX1);
	assert_int_equal(f.ifindex[1], TX1);
	assert_int_equal(f.bidir, 1);
	assert_int_equal(f.proto, IPPROTO_ICMP);
	assert_memory_equal(f.saddr, s.src, 16);
}

static void test_addr_iflist(void **state)
{
	uint8_t a[16], fam;
	char names[8][16];
	char buf[64];

	(void)state;
	assert_int_equal(nb_addr_parse("fe80::1", a, &fam), 0);
	assert_int_equal(fam, 6);
	assert_int_equal(nb_addr_parse("10.0.0.300", a, &fam), -EINVAL);
	assert_int_equal(nb_addr_parse("", a, &fam), -EINVAL);
	assert_int_equal(nb_addr_parse("198.18.0.1", a, &fam), 0);
	assert_string_equal(nb_addr_fmt(a, fam, buf, sizeof(buf)), "198.18.0.1");
	assert_int_equal(nb_addr_parse("255.0.109.10", a, &fam), 0);
	assert_string_equal(nb_addr_fmt(a, fam, buf, sizeof(buf)), "255.0.109.10");
	assert_int_equal(nb_addr_parse("0.0.0.0", a, &fam), 0);
	assert_string_equal(nb_addr_fmt(a, fam, buf, sizeof(buf)), "0.0.0.0");
	assert_int_equal(nb_addr_parse("fd00::1", a, &fam), 0);
	assert_string_equal(nb_addr_fmt(a, fam, buf, sizeof(buf)), "fd00::1");
	assert_int_equal(nb_iflist_split("ens4f0,ens4f1", names, 8), 2);
	assert_string_equal(names[1], "ens4f1");
	assert_int_equal(nb_iflist_split("ens4f0,,x", names, 8), -EINVAL);
	assert_int_equal(nb_iflist_split("a,b,c", names, 2), -E2BIG);
	assert_int_equal(nb_iflist_split("abcdefghijklmnopq", names, 8), -EINVAL);
}

static const struct nb_opt_use s_use[] = {
	{NB_O_SRC_IP, true, NULL},
	{NB_O_TIMEOUT_MS, false, NULL},
	{NB_O_JSON, false, NULL},
};

static void test_opts(void **state)
{
	struct nb_opts o;
	char err[256];
	char *ok[] = {"t", "--src-ip", "10.0.0.1", "--json", NULL};
	char *miss[] = {"t", "--json", NULL};
	char *bad[] = {"t", "--src-ip", "x", "--timeout-ms", "0", NULL};
	char *unk[] = {"t", "--src-ip", "x", "--bogus", NULL};
	char *extra[] = {"t", "--src-ip", "x", "stray", NULL};

	(void)state;
	assert_int_equal(nb_opts_parse(s_use, 3, 4, ok, &o, err, sizeof(err)), 0);
	assert_string_equal(o.src_ip, "10.0.0.1");
	assert_true(o.json);
	assert_int_equal(o.timeout_ms, 1000);
	assert_int_equal(nb_opts_parse(s_use, 3, 2, miss, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "missing required option --src-ip");
	assert_int_equal(nb_opts_parse(s_use, 3, 5, bad, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--timeout-ms '0'"));
	assert_int_equal(nb_opts_parse(s_use, 3, 4, unk, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown option '--bogus'");
	assert_int_equal(nb_opts_parse(s_use, 3, 4, extra, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unexpected argument 'stray'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_four_stages), cmocka_unit_test(test_not_stages),
		cmocka_unit_test(test_tcp_udp_stages),
		cmocka_unit_test(test_ipv6_stages),
		cmocka_unit_test(test_filter),	    cmocka_unit_test(test_addr_iflist),
		cmocka_unit_test(test_opts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
