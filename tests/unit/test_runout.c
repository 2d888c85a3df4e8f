// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame run's output contract (nb_runout): JSON lines tagged with their node, the end
 * object, the exit code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "nb_runout.h"

static void s_json(const char *line, const char *node, const char *want)
{
	char *got = nb_runout_json(line, node);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_json_tagging(void **state)
{
	(void)state;
	/* an object: node first, the tool's fields in their order */
	s_json("{\"type\":\"packet\",\"seq\":7,\"status\":\"COMPLETE\"}", "hvA",
	       "{\"node\":\"hvA\",\"type\":\"packet\",\"seq\":7,\"status\":\"COMPLETE\"}");
	/* a node field of the tool's own is replaced by the run's */
	s_json("{\"node\":\"x\",\"a\":[1,{\"b\":null}]}", "hvB",
	       "{\"node\":\"hvB\",\"a\":[1,{\"b\":null}]}");
	/* anything else is a text line */
	s_json("=== Summary ===", "hvA",
	       "{\"node\":\"hvA\",\"type\":\"text\",\"line\":\"=== Summary ===\"}");
	s_json("[1,2]", "hvA", "{\"node\":\"hvA\",\"type\":\"text\",\"line\":\"[1,2]\"}");
	s_json("", "hvA", "{\"node\":\"hvA\",\"type\":\"text\",\"line\":\"\"}");
	s_json("{\"a\":1} trailing", "n",
	       "{\"node\":\"n\",\"type\":\"text\",\"line\":\"{\\\"a\\\":1} trailing\"}");
	s_json("{\"a\":1,\"a\":2}", "n",
	       "{\"node\":\"n\",\"type\":\"text\",\"line\":\"{\\\"a\\\":1,\\\"a\\\":2}\"}");
	s_json("tab\there", "n", "{\"node\":\"n\",\"type\":\"text\",\"line\":\"tab\\there\"}");
	/* bytes that are not UTF-8 are shown as '?', not lost */
	s_json("caf\xe9", "n", "{\"node\":\"n\",\"type\":\"text\",\"line\":\"caf?\"}");
}

static void test_end(void **state)
{
	char *e = nb_runout_end("hvA", 0, "exited");

	(void)state;
	assert_string_equal(
	    e, "{\"node\":\"hvA\",\"type\":\"end\",\"exit_code\":0,\"reason\":\"exited\"}");
	free(e);
	e = nb_runout_end("hvB", NB_RUNOUT_NO_EXIT, "agent lost (no message for 3 s)");
	assert_string_equal(e, "{\"node\":\"hvB\",\"type\":\"end\",\"exit_code\":-1,"
			       "\"reason\":\"agent lost (no message for 3 s)\"}");
	free(e);
}

static void test_exit(void **state)
{
	int ok[] = {0, 0}, one[] = {0, 1}, lost[] = {NB_RUNOUT_NO_EXIT, 0}, killed[] = {137};

	(void)state;
	assert_int_equal(nb_runout_exit(ok, 2, false), 0);
	assert_int_equal(nb_runout_exit(ok, 2, true), 2);
	assert_int_equal(nb_runout_exit(one, 2, false), 1);
	assert_int_equal(nb_runout_exit(lost, 2, false), 1);
	assert_int_equal(nb_runout_exit(killed, 1, false), 1);
	assert_int_equal(nb_runout_exit(ok, 0, false), 1); /* no node ran */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_tagging),
	    cmocka_unit_test(test_end),
	    cmocka_unit_test(test_exit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
