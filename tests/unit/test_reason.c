// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Drop reason names: prefixes, markers, subsystems, unknown values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nb_reason.h"

static void test_reasons(void **state)
{
	struct nb_reasons *r = nb_reasons_new();
	uint32_t v = 0;
	char b[64];

	assert_non_null(r);
	assert_int_equal(nb_reasons_add(r, 0, "SKB_NOT_DROPPED_YET"), 0);
	assert_int_equal(nb_reasons_add(r, 1, "SKB_CONSUMED"), 0);
	assert_int_equal(nb_reasons_add(r, 2, "SKB_DROP_REASON_NOT_SPECIFIED"), 0);
	assert_int_equal(nb_reasons_add(r, 29, "SKB_DROP_REASON_NETFILTER_DROP"), 0);
	assert_int_equal(nb_reasons_add(r, 128, "SKB_DROP_REASON_MAX"), 0);
	assert_int_equal(nb_reasons_add(r, 0xffff0000u, "SKB_DROP_REASON_SUBSYS_MASK"), 0);
	/* A second name for a value keeps the first. */
	assert_int_equal(nb_reasons_add(r, 29, "SKB_DROP_REASON_OTHER"), 0);
	assert_int_equal(nb_reasons_count(r), 4);
	assert_int_equal(nb_reasons_add_subsys(r, 0, "SKB_DROP_REASON_SUBSYS_CORE"), 0);
	assert_int_equal(nb_reasons_add_subsys(r, 2, "SKB_DROP_REASON_SUBSYS_OPENVSWITCH"), 0);
	assert_int_equal(nb_reasons_add_subsys(r, 3, "SKB_DROP_REASON_SUBSYS_NUM"), 0);
	/* A subsystem's own enum, from module BTF, keeps its full name. */
	assert_int_equal(nb_reasons_add(r, (2u << 16) | 1, "OVS_DROP_LAST_ACTION"), 0);

	assert_string_equal(nb_reasons_name(r, 29, b, sizeof(b)), "NETFILTER_DROP");
	assert_string_equal(nb_reasons_name(r, 2, b, sizeof(b)), "NOT_SPECIFIED");
	assert_string_equal(nb_reasons_name(r, 1, b, sizeof(b)), "CONSUMED");
	assert_string_equal(nb_reasons_name(r, 128, b, sizeof(b)), "UNKNOWN_128");
	assert_string_equal(nb_reasons_name(r, 77, b, sizeof(b)), "UNKNOWN_77");
	assert_string_equal(nb_reasons_name(r, (2u << 16) | 1, b, sizeof(b)),
			    "OVS_DROP_LAST_ACTION");
	assert_string_equal(nb_reasons_name(r, (2u << 16) | 3, b, sizeof(b)), "OPENVSWITCH:0x0003");
	assert_string_equal(nb_reasons_name(r, (9u << 16) | 0x12, b, sizeof(b)), "SUBSYS_9:0x0012");
	assert_string_equal(nb_reasons_name(NULL, 5, b, sizeof(b)), "UNKNOWN_5");
	assert_string_equal(nb_reasons_name(r, 29, b, 4), "NET");

	assert_int_equal(nb_reasons_value(r, "NETFILTER_DROP", &v), 0);
	assert_int_equal(v, 29);
	assert_int_equal(nb_reasons_value(r, "NO_SUCH", &v), -ENOENT);
	assert_int_equal(nb_reasons_add(r, 3, ""), -EINVAL);
	nb_reasons_free(&r);
	assert_null(r);
	nb_reasons_free(&r);
}

/* The reasons a monitor explains say which one. */
static void test_explain(void **state)
{
	(void)state;
	assert_non_null(strstr(nb_reason_explain("FULL_RING"), "tun_ring_monitor"));
	assert_non_null(strstr(nb_reason_explain("OPENVSWITCH:0x0003"), "ovs_upcall"));
	assert_non_null(strstr(nb_reason_explain("OVS_DROP_LAST_ACTION"), "ovs_upcall"));
	assert_null(nb_reason_explain("NETFILTER_DROP"));
	assert_null(nb_reason_explain("FULL_RINGS"));
	assert_null(nb_reason_explain(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reasons),
	    cmocka_unit_test(test_explain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
