// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* How packets are shown: protocol names and endpoints for IPv4, IPv6, ARP and other frames. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nb_pktfmt.h"

static void t_pkt(struct nb_pkt *p, int family, const char *s, const char *d, uint8_t proto)
{
	memset(p, 0, sizeof(*p));
	p->family = (uint8_t)family;
	p->proto = proto;
	assert_int_equal(inet_pton(family == 6 ? AF_INET6 : AF_INET, s, p->saddr), 1);
	assert_int_equal(inet_pton(family == 6 ? AF_INET6 : AF_INET, d, p->daddr), 1);
}

static void test_ipv4(void **state)
{
	struct nb_pkt p;
	char b[64];

	t_pkt(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_TCP);
	p.sport = 5201;
	p.dport = 3260;
	assert_string_equal(nb_pkt_proto(&p, 0x0800, b, sizeof(b)), "TCP");
	assert_string_equal(nb_pkt_endpoint(&p, 0x0800, true, b, sizeof(b)), "10.0.0.1:5201");
	assert_string_equal(nb_pkt_endpoint(&p, 0x0800, false, b, sizeof(b)), "10.0.0.2:3260");
	/* A later fragment has no ports. */
	p.proto = IPPROTO_UDP;
	p.frag_off = 1480;
	assert_string_equal(nb_pkt_proto(&p, 0x0800, b, sizeof(b)), "UDP");
	assert_false(nb_pkt_has_ports(&p));
	assert_string_equal(nb_pkt_endpoint(&p, 0x0800, true, b, sizeof(b)), "10.0.0.1");
	t_pkt(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_ICMP);
	assert_string_equal(nb_pkt_proto(&p, 0x0800, b, sizeof(b)), "ICMP");
	assert_string_equal(nb_pkt_endpoint(&p, 0x0800, false, b, sizeof(b)), "10.0.0.2");
	p.proto = 47;
	assert_string_equal(nb_pkt_proto(&p, 0x0800, b, sizeof(b)), "IP:47");
}

static void test_ipv6(void **state)
{
	struct nb_pkt p;
	char b[64];

	t_pkt(&p, 6, "2001:2::1", "2001:2::2", IPPROTO_UDP);
	p.sport = 40000;
	p.dport = 53;
	assert_string_equal(nb_pkt_proto(&p, 0x86dd, b, sizeof(b)), "UDP");
	assert_string_equal(nb_pkt_endpoint(&p, 0x86dd, true, b, sizeof(b)), "[2001:2::1]:40000");
	assert_string_equal(nb_pkt_endpoint(&p, 0x86dd, false, b, sizeof(b)), "[2001:2::2]:53");
	p.proto = IPPROTO_ICMPV6;
	assert_string_equal(nb_pkt_proto(&p, 0x86dd, b, sizeof(b)), "ICMPv6");
	assert_string_equal(nb_pkt_endpoint(&p, 0x86dd, true, b, sizeof(b)), "2001:2::1");
}

static void test_arp_and_other(void **state)
{
	struct nb_pkt p;
	char b[64];

	/* ARP: family 0, the sender/target IPv4 addresses in saddr/daddr. */
	t_pkt(&p, 4, "198.18.0.1", "198.18.0.2", 0);
	p.family = 0;
	p.icmp_type = 1;
	assert_string_equal(nb_pkt_proto(&p, NB_ETHERTYPE_ARP, b, sizeof(b)), "ARP");
	assert_string_equal(nb_pkt_endpoint(&p, NB_ETHERTYPE_ARP, true, b, sizeof(b)),
			    "198.18.0.1");
	assert_string_equal(nb_pkt_endpoint(&p, NB_ETHERTYPE_ARP, false, b, sizeof(b)),
			    "198.18.0.2");
	memset(&p, 0, sizeof(p));
	assert_string_equal(nb_pkt_proto(&p, 0x88cc, b, sizeof(b)), "0x88cc");
	assert_string_equal(nb_pkt_endpoint(&p, 0x88cc, true, b, sizeof(b)), "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_arp_and_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
