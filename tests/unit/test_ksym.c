// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Kernel symbol table: kallsyms parsing, lookup by address, formatting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nb_ksym.h"

/* Unsorted on purpose, with data symbols, an alias, a module symbol and junk lines. */
static const char T_KALLSYMS[] = "ffffffff81002000 T tcp_v4_rcv\n"
				 "ffffffff81000000 T _stext\n"
				 "ffffffff81000000 T _text\n"
				 "ffffffff81001000 t ip_rcv_finish\n"
				 "ffffffff81001800 D some_data\n"
				 "ffffffff81001900 b some_bss\n"
				 "ffffffff81003000 W weak_func\n"
				 "not a line\n"
				 "ffffffffzz000000 T bad_hex\n"
				 "\n"
				 "ffffffffc0100000 t ovs_vport_receive\t[openvswitch]\n"
				 "ffffffff81004000 T kfree_skb_reason"; /* no final newline */

static struct nb_ksym_tab *t_parse(void)
{
	struct nb_ksym_tab *t = NULL;
	size_t bad = 0;

	assert_int_equal(nb_ksym_parse(T_KALLSYMS, strlen(T_KALLSYMS), &t, &bad), 0);
	assert_non_null(t);
	assert_int_equal(bad, 3);
	return t;
}

static void test_parse_keeps_code_only(void **state)
{
	struct nb_ksym_tab *t = t_parse();

	/* _stext _text ip_rcv_finish tcp_v4_rcv weak_func kfree_skb_reason ovs_vport_receive */
	assert_int_equal(nb_ksym_count(t), 7);
	nb_ksym_free(&t);
	assert_null(t);
	nb_ksym_free(&t); /* NULL is fine */
}

static void test_find(void **state)
{
	struct nb_ksym_tab *t = t_parse();
	uint64_t off = 99;

	assert_null(nb_ksym_find(t, 0xffffffff80ffffffull, &off));
	/* An exact address, and the first listed of two aliases. */
	assert_string_equal(nb_ksym_find(t, 0xffffffff81000000ull, &off), "_stext");
	assert_int_equal(off, 0);
	assert_string_equal(nb_ksym_find(t, 0xffffffff81000fffull, &off), "_stext");
	/* Data symbols do not split functions. */
	assert_string_equal(nb_ksym_find(t, 0xffffffff81001a00ull, &off), "ip_rcv_finish");
	assert_int_equal(off, 0xa00);
	assert_string_equal(nb_ksym_find(t, 0xffffffff810021a3ull, &off), "tcp_v4_rcv");
	assert_int_equal(off, 0x1a3);
	assert_string_equal(nb_ksym_find(t, 0xffffffff81003001ull, NULL), "weak_func");
	assert_string_equal(nb_ksym_find(t, 0xffffffff81004010ull, &off), "kfree_skb_reason");
	assert_string_equal(nb_ksym_find(t, 0xffffffffc0100044ull, &off), "ovs_vport_receive");
	assert_int_equal(off, 0x44);
	nb_ksym_free(&t);
}

static void test_fmt(void **state)
{
	struct nb_ksym_tab *t = t_parse();
	char b[64];

	assert_string_equal(nb_ksym_fmt(t, 0xffffffff810021a3ull, 1, b, sizeof(b)),
			    "tcp_v4_rcv+0x1a3");
	assert_string_equal(nb_ksym_fmt(t, 0xffffffff810021a3ull, 0, b, sizeof(b)), "tcp_v4_rcv");
	assert_string_equal(nb_ksym_fmt(t, 0x1234, 1, b, sizeof(b)), "0x1234");
	assert_string_equal(nb_ksym_fmt(NULL, 0x1234, 1, b, sizeof(b)), "0x1234");
	/* Cut, but terminated. */
	assert_string_equal(nb_ksym_fmt(t, 0xffffffff810021a3ull, 1, b, 5), "tcp_");
	nb_ksym_free(&t);
}

static void test_hidden_addresses(void **state)
{
	/* What an unprivileged reader sees with kptr_restrict: every address zero. */
	static const char z[] = "0000000000000000 T _stext\n0000000000000000 t ip_rcv\n";
	struct nb_ksym_tab *t = (void *)1;

	assert_int_equal(nb_ksym_parse(z, strlen(z), &t, NULL), -ENOENT);
	assert_null(t);
	assert_int_equal(nb_ksym_parse("", 0, &t, NULL), -ENOENT);
}

static void test_many_symbols(void **state)
{
	/* Beyond the first allocation of both arrays, in reverse order. */
	size_t n = 20000, len = 0, cap = n * 48;
	char *buf = malloc(cap);
	struct nb_ksym_tab *t = NULL;
	uint64_t off;
	char name[32];

	assert_non_null(buf);
	for (size_t i = n; i > 0; i--)
		len += (size_t)snprintf(buf + len, cap - len, "%016llx T fn_%zu\n",
					0xffffffff81000000ull + i * 0x100, i);
	assert_int_equal(nb_ksym_parse(buf, len, &t, NULL), 0);
	assert_int_equal(nb_ksym_count(t), n);
	for (size_t i = 1; i <= n; i += 997) {
		snprintf(name, sizeof(name), "fn_%zu", i);
		assert_string_equal(nb_ksym_find(t, 0xffffffff81000000ull + i * 0x100 + 0x42, &off),
				    name);
		assert_int_equal(off, 0x42);
	}
	nb_ksym_free(&t);
	free(buf);
}

/* A function's code ends where the next symbol (not an alias, not data) begins. */
static void test_range(void **state)
{
	struct nb_ksym_tab *t = t_parse();
	uint64_t lo = 0, hi = 0;

	(void)state;
	assert_int_equal(nb_ksym_range(t, "ip_rcv_finish", &lo, &hi), 0);
	assert_int_equal(lo, 0xffffffff81001000ull);
	assert_int_equal(hi, 0xffffffff81002000ull);
	assert_int_equal(nb_ksym_range(t, "_stext", &lo, &hi), 0);
	assert_int_equal(hi, 0xffffffff81001000ull);
	assert_int_equal(nb_ksym_range(t, "some_data", &lo, &hi), -ENOENT);
	assert_int_equal(nb_ksym_range(t, "nope", &lo, &hi), -ENOENT);
	assert_int_equal(nb_ksym_range(t, "ovs_vport_receive", &lo, &hi), -ERANGE);
	nb_ksym_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_keeps_code_only),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_fmt),
	    cmocka_unit_test(test_hidden_addresses),
	    cmocka_unit_test(test_many_symbols),
	    cmocka_unit_test(test_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
