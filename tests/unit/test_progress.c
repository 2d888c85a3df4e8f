// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The progress line: when it is shown, and its exact text at every width. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "nb_progress.h"

static const char *t_line(unsigned width, uint64_t el, uint64_t finals, const uint64_t *counts,
			  uint64_t lost)
{
	static char buf[256];
	size_t n = nb_progress_fmt(buf, sizeof(buf), width, el, 0, finals, counts, lost);

	assert_int_equal(n, strlen(buf));
	assert_true(n <= (width ? width - 1 : 0));
	return buf;
}

static void test_elapsed(void **state)
{
	char b[32];
	(void)state;
	assert_string_equal(nb_progress_elapsed(0, b, sizeof(b)), "0.0s");
	assert_string_equal(nb_progress_elapsed(12345000000ull, b, sizeof(b)), "12.3s");
	assert_string_equal(nb_progress_elapsed(59999999999ull, b, sizeof(b)), "59.9s");
	assert_string_equal(nb_progress_elapsed(65000000000ull, b, sizeof(b)), "1m05s");
	assert_string_equal(nb_progress_elapsed(7390000000000ull, b, sizeof(b)), "2h03m10s");
}

static void test_line(void **state)
{
	uint64_t c[NB_ST__COUNT] = {0};
	(void)state;

	assert_string_equal(t_line(80, 0, 0, c, 0), "0.0s  0 packets final  lost events 0");
	c[NB_ST_COMPLETE] = 55;
	c[NB_ST_NETWORK_DROP_REQ] = 2;
	assert_string_equal(
	    t_line(200, 12345000000ull, 57, c, 3),
	    "12.3s  57 packets final: COMPLETE 55, NETWORK_DROP_REQ 2  lost events 3");
}

/* Statuses that do not fit are counted, never cut in the middle; the frame stays whole. */
static void test_narrow(void **state)
{
	uint64_t c[NB_ST__COUNT] = {0};
	const char *full = "1.0s  60 packets final: COMPLETE 50, NETWORK_DROP_REQ 4, "
			   "B_INTERNAL_DROP_REP 6  lost events 0";
	(void)state;

	c[NB_ST_COMPLETE] = 50;
	c[NB_ST_NETWORK_DROP_REQ] = 4;
	c[NB_ST_B_INTERNAL_DROP_REP] = 6;
	assert_string_equal(t_line((unsigned)strlen(full) + 1, 1000000000ull, 60, c, 0), full);
	assert_string_equal(t_line((unsigned)strlen(full), 1000000000ull, 60, c, 0),
			    "1.0s  60 packets final: COMPLETE 50, NETWORK_DROP_REQ 4, +1 more"
			    "  lost events 0");
	assert_string_equal(t_line(70, 1000000000ull, 60, c, 0),
			    "1.0s  60 packets final: COMPLETE 50, +2 more  lost events 0");
	assert_string_equal(t_line(50, 1000000000ull, 60, c, 0),
			    "1.0s  60 packets final: +3 more  lost events 0");
	assert_string_equal(t_line(40, 1000000000ull, 60, c, 0),
			    "1.0s  60 packets final  lost events 0");
	assert_string_equal(t_line(20, 1000000000ull, 60, c, 0), "1.0s  60 packets fi");
	assert_string_equal(t_line(1, 1000000000ull, 60, c, 0), "");
	assert_string_equal(t_line(0, 1000000000ull, 60, c, 0), "");
}

/* The buffer bounds the line as well as the width does. */
static void test_small_buffer(void **state)
{
	uint64_t c[NB_ST__COUNT] = {0};
	char b[16];
	(void)state;

	c[NB_ST_COMPLETE] = 1;
	assert_int_equal(nb_progress_fmt(b, sizeof(b), 200, 0, 0, 1, c, 0), 15);
	assert_string_equal(b, "0.0s  1 packets");
}

/* Several pairs: their count after the time; the statuses still give way first. */
static void test_pairs(void **state)
{
	uint64_t c[NB_ST__COUNT] = {0};
	char b[256];
	(void)state;

	c[NB_ST_COMPLETE] = 55;
	c[NB_ST_NETWORK_DROP_REQ] = 2;
	assert_int_equal(nb_progress_fmt(b, sizeof(b), 200, 12345000000ull, 3, 57, c, 1), 80);
	assert_string_equal(
	    b, "12.3s  3 pairs  57 packets final: COMPLETE 55, NETWORK_DROP_REQ 2  lost events 1");
	nb_progress_fmt(b, sizeof(b), 60, 12345000000ull, 3, 57, c, 1);
	assert_string_equal(b, "12.3s  3 pairs  57 packets final: +2 more  lost events 1");
	nb_progress_fmt(b, sizeof(b), 30, 12345000000ull, 3, 57, c, 1);
	assert_string_equal(b, "12.3s  3 pairs  57 packets fi");
}

static void test_run(void **state)
{
	char b[256];
	(void)state;

	assert_int_equal(nb_progress_fmt_run(b, sizeof(b), 80, 0, 2, 0, 0, 0), 54);
	assert_string_equal(b, "0.0s  nodes 2: starting 2, running 0, ended 0  lines 0");
	nb_progress_fmt_run(b, sizeof(b), 80, 65000000000ull, 0, 2, 1, 37);
	assert_string_equal(b, "1m05s  nodes 3: starting 0, running 2, ended 1  lines 37");
	nb_progress_fmt_run(b, sizeof(b), 21, 4200000000ull, 0, 2, 1, 37);
	assert_string_equal(b, "4.2s  nodes 3: start");
	assert_int_equal(nb_progress_fmt_run(b, 8, 80, 4200000000ull, 0, 2, 1, 37), 7);
	assert_string_equal(b, "4.2s  n");
	assert_int_equal(nb_progress_fmt_run(b, sizeof(b), 0, 0, 1, 0, 0, 0), 0);
	assert_string_equal(b, "");
}

static void test_runbook(void **state)
{
	char b[256];
	(void)state;

	assert_int_equal(nb_progress_fmt_runbook(b, sizeof(b), 80, 65000000000ull, 2, 5, "drops_a",
						 "run", 3100000000ull, 1, 0),
			 53);
	assert_string_equal(b, "1m05s  step 2/5 drops_a (run) 3.1s  done 1, skipped 0");
	nb_progress_fmt_runbook(b, sizeof(b), 200, 0, 10, 12,
				"a_very_long_step_name_that_goes_on_and_on_and_on", "trace", 0, 7,
				2);
	assert_string_equal(b, "0.0s  step 10/12 a_very_long_step_name_that_goes_on_and_~ "
			       "(trace) 0.0s  done 7, skipped 2");
	nb_progress_fmt_runbook(b, sizeof(b), 30, 0, 1, 4, "trace", "trace", 0, 0, 0);
	assert_string_equal(b, "0.0s  step 1/4 trace (trace) ");
}

static void test_wanted(void **state)
{
	int p[2], m, s;
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_false(nb_progress_wanted(p[1], false));
	close(p[0]);
	close(p[1]);
	assert_false(nb_progress_wanted(-1, false));
	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m)) {
		if (m >= 0)
			close(m);
		skip();
	}
	s = open(ptsname(m), O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	assert_true(nb_progress_wanted(s, false));
	assert_false(nb_progress_wanted(s, true));
	close(s);
	close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_elapsed), cmocka_unit_test(test_line),
	    cmocka_unit_test(test_narrow),  cmocka_unit_test(test_small_buffer),
	    cmocka_unit_test(test_pairs),   cmocka_unit_test(test_run),
	    cmocka_unit_test(test_runbook), cmocka_unit_test(test_wanted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
