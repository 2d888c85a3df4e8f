// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The reporting period of the tools' --interval (nb_period, common/nb_time.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nb_time.h"

#define S 1000000000ull

static void test_period_grid(void **state)
{
	struct nb_period p;
	bool partial = true;
	(void)state;

	nb_period_init(&p, 100 * S, 2 * S);
	assert_false(nb_period_due(&p, 101 * S));
	assert_true(nb_period_due(&p, 102 * S));
	/* reported 300 ms late: 2.3 s long, and the next one is still due at 104 s */
	assert_int_equal(nb_period_close(&p, 102 * S + 300000000ull, &partial), 2);
	assert_false(partial);
	assert_int_equal(p.due, 104 * S);
	assert_false(nb_period_due(&p, 103 * S));
	/* a loop that stalled past two grid points skips them: due at the next one after now */
	assert_int_equal(nb_period_close(&p, 109 * S, &partial), 7);
	assert_false(partial);
	assert_int_equal(p.due, 110 * S);
	/* the last report of a run, before it was due */
	assert_int_equal(nb_period_close(&p, 109 * S + 400000000ull, &partial), 0);
	assert_true(partial);
	assert_int_equal(p.due, 110 * S);
}

static void test_period_zero(void **state)
{
	struct nb_period p;
	bool partial = true;
	(void)state;

	nb_period_init(&p, 5 * S, 0);
	assert_true(nb_period_due(&p, 5 * S));
	assert_int_equal(nb_period_close(&p, 7 * S + 500000000ull, &partial), 3);
	assert_false(partial);
	assert_true(nb_period_due(&p, 7 * S + 500000000ull));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_period_grid),
	    cmocka_unit_test(test_period_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
