// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Latency chain tests: the stages of every tool family and direction (names, hooks, roles,
 * priorities, paths, the kernel function's skb argument), the log2 buckets and their bounds,
 * and the rule that marks buckets far above the bulk.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nb_lat.h"

static void test_dir_parse(void **state)
{
	enum nb_lat_dir d;

	(void)state;
	assert_int_equal(nb_lat_dir_parse("tx", false, &d), 0);
	assert_int_equal(d, NB_LAT_TX);
	assert_int_equal(nb_lat_dir_parse("rx", false, &d), 0);
	assert_int_equal(d, NB_LAT_RX);
	assert_int_equal(nb_lat_dir_parse("both", true, &d), 0);
	assert_int_equal(d, NB_LAT_BOTH);
	assert_int_equal(nb_lat_dir_parse("both", false, &d), -EINVAL);
	assert_int_equal(nb_lat_dir_parse("TX", true, &d), -EINVAL);
	assert_int_equal(nb_lat_dir_parse("", true, &d), -EINVAL);
	assert_int_equal(nb_lat_dir_parse(NULL, true, &d), -EINVAL);
}

static void test_system_rx_tcp(void **state)
{
	struct nb_lat_stage s[NB_MAX_STAGES];

	(void)state;
	assert_int_equal(nb_lat_chain(NB_LAT_SYSTEM, NB_LAT_RX, false, IPPROTO_TCP, s), 3);
	assert_string_equal(s[0].name, "netif_receive_skb");
	assert_int_equal(s[0].hook, NB_LAT_DEV_RX);
	assert_int_equal(s[0].ifrole, NB_LAT_IF_PHY);
	assert_int_equal(s[0].karg, 0);
	assert_string_equal(s[1].name, "ip_rcv");
	assert_string_equal(s[1].kfunc, "ip_rcv");
	assert_int_equal(s[1].hook, NB_LAT_NF_PRE_ROUTING);
	assert_int_equal(s[1].prio, NB_LAT_PRIO_FIRST);
	assert_int_equal(s[1].karg, 1);
	assert_string_equal(s[2].name, "tcp_v4_rcv");
	assert_int_equal(s[2].hook, NB_LAT_NF_LOCAL_IN);
	assert_int_equal(s[2].prio, NB_LAT_PRIO_LAST);
	assert_int_equal(s[2].karg, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(s[i].path, 0);
}

static void test_system_both(void **state)
{
	struct nb_lat_stage s[NB_MAX_STAGES];
	static const char *const names[] = {"ip_local_out",	 "ip_finish_output",
					    "net_dev_xmit",	 "netif_receive_skb",
					    "ip_rcv",		 "ip_local_deliver_finish"};
	static const uint8_t karg[] = {3, 3, 0, 0, 1, 3};

	(void)state;
	assert_int_equal(nb_lat_chain(NB_LAT_SYSTEM, NB_LAT_BOTH, false, 0, s), 6);
	for (int i = 0; i < 6; i++) {
		assert_string_equal(s[i].name, names[i]);
		assert_int_equal(s[i].path, i >= 3);
		assert_int_equal(s[i].karg, karg[i]);
	}
	assert_int_equal(s[2].hook, NB_LAT_DEV_TX);
	/* One stage per netfilter hook at most: the BPF program tells stages by hook. */
	for (int i = 0; i < 6; i++)
		for (int j = i + 1; j < 6; j++)
			if (s[i].hook <= NB_LAT_NF_POST_ROUTING)
				assert_int_not_equal(s[i].hook, s[j].hook);
}

static void test_vm(void **state)
{
	struct nb_lat_stage s[NB_MAX_STAGES];

	(void)state;
	assert_int_equal(nb_lat_chain(NB_LAT_VM, NB_LAT_TX, false, IPPROTO_UDP, s), 3);
	assert_int_equal(s[0].hook, NB_LAT_DEV_RX);
	assert_int_equal(s[0].ifrole, NB_LAT_IF_VM);
	assert_string_equal(s[1].name, "forward");
	assert_int_equal(s[1].hook, NB_LAT_NF_FORWARD);
	assert_null(s[1].kfunc);
	assert_int_equal(s[1].karg, 0);
	assert_int_equal(s[2].hook, NB_LAT_DEV_TX);
	assert_int_equal(s[2].ifrole, NB_LAT_IF_PHY);
	assert_int_equal(nb_lat_chain(NB_LAT_VM, NB_LAT_RX, false, 0, s), 3);
	assert_int_equal(s[0].ifrole, NB_LAT_IF_PHY);
	assert_int_equal(s[2].ifrole, NB_LAT_IF_VM);
	/* No RTT chain for a VM. */
	assert_int_equal(nb_lat_chain(NB_LAT_VM, NB_LAT_TX, true, 0, s), -EINVAL);
}

static void test_rtt(void **state)
{
	struct nb_lat_stage s[NB_MAX_STAGES];

	(void)state;
	/* tx: this host pings; the request leaves, the reply comes back through icmp_rcv. */
	assert_int_equal(nb_lat_chain(NB_LAT_SYSTEM, NB_LAT_TX, true, IPPROTO_TCP, s), 6);
	assert_string_equal(s[0].name, "ip_local_out");
	assert_string_equal(s[5].name, "icmp_rcv");
	assert_int_equal(s[5].path, 1);
	assert_int_equal(nb_lat_chain(NB_LAT_SYSTEM, NB_LAT_BOTH, true, 0, s), -EINVAL);
}

static void test_buckets(void **state)
{
	(void)state;
	assert_int_equal(nb_lat_bucket(0), 0);
	assert_int_equal(nb_lat_bucket(1999), 0);  /* 1 us */
	assert_int_equal(nb_lat_bucket(2000), 1);  /* 2 us */
	assert_int_equal(nb_lat_bucket(3999), 1);
	assert_int_equal(nb_lat_bucket(4000), 2);
	assert_int_equal(nb_lat_bucket(40000000), 15); /* 40 ms: 32768..65535 us */
	assert_int_equal(nb_lat_bucket(UINT64_MAX), NB_LAT_BUCKETS - 1);
	assert_int_equal(nb_lat_bucket_low(0), 0);
	assert_int_equal(nb_lat_bucket_high(0), 1);
	assert_int_equal(nb_lat_bucket_low(1), 2);
	assert_int_equal(nb_lat_bucket_high(1), 3);
	assert_int_equal(nb_lat_bucket_low(15), 32768);
	assert_int_equal(nb_lat_bucket_high(15), 65535);
	for (unsigned int b = 1; b < NB_LAT_BUCKETS; b++) {
		assert_int_equal(nb_lat_bucket(nb_lat_bucket_low(b) * 1000), b);
		assert_int_equal(nb_lat_bucket(nb_lat_bucket_high(b) * 1000 + 999), b);
	}
}

static void test_far(void **state)
{
	/* The manual's example: bulk at 4 -> 7, marks on 64 -> 127 and 128 -> 255 only. */
	uint64_t h[NB_LAT_BUCKETS] = {1523, 4521, 6234, 2341, 523, 45, 12, 3};
	uint64_t e[NB_LAT_BUCKETS] = {0};
	uint64_t one[NB_LAT_BUCKETS] = {0};
	uint64_t two[NB_LAT_BUCKETS] = {0};

	(void)state;
	assert_int_equal(nb_lat_far_from(h), 6);
	assert_int_equal(nb_lat_far_from(e), NB_LAT_BUCKETS);
	/* All packets in one bucket: nothing far from it is counted. */
	one[15] = 6;
	assert_int_equal(nb_lat_far_from(one), 19);
	/* Half the packets slow: the median is the fast bucket (rounded down). */
	two[0] = 5;
	two[15] = 5;
	assert_int_equal(nb_lat_far_from(two), 4);
	/* The bulk near the top: no bucket can be far above it. */
	memset(two, 0, sizeof(two));
	two[NB_LAT_BUCKETS - 2] = 1;
	assert_int_equal(nb_lat_far_from(two), NB_LAT_BUCKETS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dir_parse), cmocka_unit_test(test_system_rx_tcp),
	    cmocka_unit_test(test_system_both), cmocka_unit_test(test_vm),
	    cmocka_unit_test(test_rtt),	     cmocka_unit_test(test_buckets),
	    cmocka_unit_test(test_far),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
