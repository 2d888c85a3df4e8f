// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Runbooks: a good file read back step by step with its variables substituted; each kind of
 * bad file refused with the exact one-line error (file, line, field); conditions evaluated
 * over step results, with the values they looked at.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nb_runbook.h"

static bool s_node(void *ctx, const char *name)
{
	(void)ctx;
	return !strcmp(name, "hvA") || !strcmp(name, "hvB");
}

static bool s_tool(void *ctx, const char *name)
{
	(void)ctx;
	return !strcmp(name, "eth_drop") || !strcmp(name, "vm_network_latency_summary");
}

static const struct nb_rb_check s_chk = {.node = s_node, .tool = s_tool};

static const char *s_good =
    "name: loss\n"						     /* 1 */
    "vars:\n"							     /* 2 */
    "  SRC: {help: sender}\n"					     /* 3 */
    "  NODE: hvB\n"						     /* 4 */
    "  N: {default: 5}\n"					     /* 5 */
    "steps:\n"							     /* 6 */
    "  - name: trace\n"						     /* 7 */
    "    trace: {proto: icmp, src-ip: '${SRC}', dst-ip: 10.0.0.2,\n" /* 8 */
    "            from: hvA, to: '${NODE}', count: '${N}'}\n"	     /* 9 */
    "    timeout: 60\n"						     /* 10 */
    "  - name: drops\n"						     /* 11 */
    "    when: trace.verdict == NODE_B and trace.counts.X >= ${N}\n" /* 12 */
    "    run:\n"						     /* 13 */
    "      tool: eth_drop\n"					     /* 14 */
    "      on: [hvA, '${NODE}']\n"				     /* 15 */
    "      duration: 3\n"					     /* 16 */
    "      flags: {src-ip: '${SRC}', verbose: true, all: false, x: 'a$$b'}\n"
    "  - {name: pause, wait: 1}\n" /* 18 */
    "  - {name: end, verdict: NODE_B, when: 'not drops.exit_code'}\n";

static int s_parse(const char *text, const char *const *vars, int n, struct nb_runbook **rb,
		   char *err)
{
	err[0] = 0;
	return nb_runbook_parse(text, strlen(text), "/rb/loss.yaml", vars, n, &s_chk, rb, err, 512);
}

static void test_good(void **state)
{
	const char *vars[] = {"SRC=10.0.0.1"};
	struct nb_runbook *rb;
	const struct nb_rb_step *t, *d;
	char err[512];

	(void)state;
	assert_int_equal(s_parse(s_good, vars, 1, &rb, err), 0);
	assert_string_equal(rb->name, "loss");
	assert_int_equal(rb->n_vars, 3);
	assert_string_equal(rb->vars[0].value, "10.0.0.1");
	assert_true(rb->vars[0].given);
	assert_string_equal(rb->vars[1].value, "hvB");
	assert_int_equal(rb->n_steps, 4);
	t = &rb->steps[0];
	assert_int_equal(t->kind, NB_RB_TRACE);
	assert_int_equal(t->line, 7);
	assert_string_equal(t->proto, "icmp");
	assert_string_equal(t->on[0], "hvA");
	assert_string_equal(t->on[1], "hvB");
	assert_int_equal(t->n_flags, 3);
	assert_string_equal(t->flags[0].name, "src-ip");
	assert_string_equal(t->flags[0].value, "10.0.0.1");
	assert_string_equal(t->flags[2].name, "count");
	assert_string_equal(t->flags[2].value, "5");
	assert_int_equal(nb_rb_step_timeout(t), 60);
	d = &rb->steps[1];
	assert_int_equal(d->kind, NB_RB_RUN);
	assert_string_equal(d->tool, "eth_drop");
	assert_int_equal(d->n_on, 2);
	assert_string_equal(d->on[1], "hvB");
	assert_int_equal(d->duration_s, 3);
	assert_int_equal(nb_rb_step_timeout(d), 33);
	assert_string_equal(d->when_text, "trace.verdict == NODE_B and trace.counts.X >= 5");
	/* true includes a bare flag, false leaves it out, $$ is a '$' */
	assert_int_equal(d->n_flags, 3);
	assert_string_equal(d->flags[1].name, "verbose");
	assert_null(d->flags[1].value);
	assert_string_equal(d->flags[2].value, "a$b");
	assert_int_equal(rb->steps[2].kind, NB_RB_WAIT);
	assert_int_equal(rb->steps[2].wait_s, 1);
	assert_int_equal(rb->steps[3].kind, NB_RB_VERDICT);
	assert_string_equal(rb->steps[3].verdict, "NODE_B");
	nb_runbook_free(&rb);
	assert_null(rb);
}

/* Each bad input, with the exact error. */
static void test_bad(void **state)
{
	static const struct {
		const char *text, *var, *err;
	} cases[] = {
	    {"steps:\n  - name: t\n    trace: {proto: icmp, src-ip: a, dst-ip: '${DST}', from: hvA,"
	     " to: hvB, count: 1}\n",
	     NULL, "/rb/loss.yaml:3: steps.t.trace.dst-ip: unknown variable 'DST'"},
	    {"vars: {DST: {help: the address}}\nsteps:\n  - {name: w, wait: 1}\n", NULL,
	     "/rb/loss.yaml:1: vars.DST: required: give --var DST=VALUE (the address)"},
	    {"steps:\n  - {name: w, wait: 1}\n", "X=1",
	     "--var X: /rb/loss.yaml has no such variable (it has none)"},
	    {"steps:\n  - name: t\n    trace: {proto: icmp, src-ip: a, dst-ip: b, from: hvA,"
	     " to: hvC, count: 1}\n",
	     NULL,
	     "/rb/loss.yaml:3: steps.t.trace.to: no node 'hvC' (not in the inventory or --node)"},
	    {"steps:\n  - name: r\n    run: {tool: eth_dorp, on: hvA, duration: 1}\n", NULL,
	     "/rb/loss.yaml:3: steps.r.run.tool: no tool 'eth_dorp' (netblame-agent --list-tools)"},
	    {"steps:\n  - {name: w, wait: 1}\n  - {name: v, verdict: NODE_B, when: x.verdict}\n",
	     NULL,
	     "/rb/loss.yaml:3: steps.v.when: 'x' is not a step before this one (no step of that "
	     "name) (in 'x.verdict')"},
	    {"steps:\n  - {name: v, verdict: NODE_B, when: w.exit_code}\n  - {name: w, wait: 1}\n",
	     NULL,
	     "/rb/loss.yaml:2: steps.v.when: 'w' is not a step before this one (in 'w.exit_code')"},
	    {"steps:\n  - {name: w, wait: 1}\n  - {name: v, verdict: NODE_B, when: 'w.a =< 1'}\n",
	     NULL,
	     "/rb/loss.yaml:3: steps.v.when: unknown operator at '=< ' (== != < <= > >= has) (in "
	     "'w.a =< 1')"},
	    {"steps:\n  - {name: w, wait: 1}\n  - {name: v, verdict: NODE_B, when: '(w.a'}\n", NULL,
	     "/rb/loss.yaml:3: steps.v.when: ')' is missing (in '(w.a')"},
	    {"steps:\n  - {name: w, wait: 1, run: {}}\n", NULL,
	     "/rb/loss.yaml:2: steps.w.run: a step does one thing: it has wait already"},
	    {"steps:\n  - {name: w, wiat: 1}\n", NULL,
	     "/rb/loss.yaml:2: steps.w.wiat: unknown key (name, when, timeout, trace, run, wait, "
	     "verdict)"},
	    {"steps:\n  - {name: w, wait: 1}\n  - {name: w, wait: 2}\n", NULL,
	     "/rb/loss.yaml:2: steps[0].name: step 'w' defined twice (line 3)"},
	    {"steps:\n  - {name: v, verdict: BROKEN}\n", NULL,
	     "/rb/loss.yaml:2: steps.v.verdict: 'BROKEN' is not a verdict (HEALTHY, NETWORK, "
	     "NODE_A, NODE_B, DEST, INCONCLUSIVE)"},
	    {"steps:\n  - name: t\n    trace: {proto: icmp, src-ip: a, dst-ip: b, from: hvA,"
	     " to: hvB}\n",
	     NULL, "/rb/loss.yaml:3: steps.t.trace: give count or duration (a trace must end)"},
	    {"steps:\n  - name: r\n    run: {tool: eth_drop, on: hvA}\n", NULL,
	     "/rb/loss.yaml:3: steps.r.run: duration is missing (seconds the tool runs)"},
	    {"steps:\n  - name: r\n    run: {tool: eth_drop, on: hvA, duration: 1, flags: {json: "
	     "true}}\n",
	     NULL,
	     "/rb/loss.yaml:3: steps.r.run.flags.json: set by the runbook (duration is the step's "
	     "own key)"},
	    {"steps: [\n", NULL,
	     "/rb/loss.yaml:2: not valid YAML: did not find expected node "
	     "content while parsing a flow node"},
	    {"steps:\n  - {name: w, wait: '1\n    2'}\n", NULL,
	     "/rb/loss.yaml:2: steps.w.wait: '1 2' is not a number of seconds (0 to 86400)"},
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nb_runbook *rb = NULL;
		const char *v[1] = {cases[i].var};

		assert_int_equal(s_parse(cases[i].text, v, cases[i].var ? 1 : 0, &rb, err),
				 -EINVAL);
		assert_null(rb);
		assert_string_equal(err, cases[i].err);
	}
}

static struct nb_runbook *s_cond_rb(const char *cond)
{
	char text[1024], err[512];
	struct nb_runbook *rb;

	snprintf(text, sizeof(text),
		 "vars: {NODE: hv.b, V: NODE_B}\nsteps:\n  - {name: t, wait: 0}\n"
		 "  - {name: s, wait: 0}\n  - name: c\n    when: \"%s\"\n    wait: 0\n",
		 cond);
	assert_int_equal(s_parse(text, NULL, 0, &rb, err), 0);
	return rb;
}

static void s_expect(json_t *const *res, const char *cond, bool want, const char *why_want)
{
	struct nb_runbook *rb = s_cond_rb(cond);
	char why[512] = "";

	assert_int_equal(nb_rb_cond_eval(rb->steps[2].when, res, why, sizeof(why)), want);
	if (why_want)
		assert_string_equal(why, why_want);
	nb_runbook_free(&rb);
}

static void test_cond(void **state)
{
	json_t *t = json_loads("{\"verdict\":\"NODE_B\",\"counts\":{\"COMPLETE\":3,"
			       "\"B_INTERNAL_DROP_REQ\":0},\"latency\":{\"rtt\":{\"p99_ns\":"
			       "2500000}},\"nodes\":{\"hv.b\":{\"anomalies\":2}},"
			       "\"reasons\":{\"NETFILTER_DROP\":4},\"list\":[\"a\",\"b\"],"
			       "\"ok\":true,\"none\":null}",
			       0, NULL);
	json_t *res[3] = {t, NULL, NULL};

	(void)state;
	assert_non_null(t);
	s_expect(res, "t.verdict == NODE_B", true, "t.verdict = NODE_B");
	s_expect(res, "t.verdict == ${V}", true, NULL);
	s_expect(res, "t.verdict != NODE_B", false, NULL);
	s_expect(res, "t.verdict == 'NODE_A' or t.counts.COMPLETE >= 3", true,
		 "t.verdict = NODE_B, t.counts.COMPLETE = 3");
	s_expect(res, "t.counts.COMPLETE > 3", false, NULL);
	s_expect(res, "t.counts.B_INTERNAL_DROP_REQ", false, NULL);
	s_expect(res, "not t.counts.B_INTERNAL_DROP_REQ and t.ok", true, NULL);
	s_expect(res, "t.latency.rtt.p99_ns > 2.4e6", true, NULL);
	s_expect(res, "t.latency.rtt.p99_ns > 2500000.5", false, NULL);
	/* a variable's value is one path segment, dots and all */
	s_expect(res, "t.nodes.${NODE}.anomalies == 2", true, "t.nodes.${NODE}.anomalies = 2");
	s_expect(res, "t.reasons has NETFILTER_DROP", true, NULL);
	s_expect(res, "t.reasons has TC_EGRESS", false, NULL);
	s_expect(res, "t.list has b and t.list.0 == a", true, NULL);
	/* missing: every comparison is false, != included; its not is true */
	s_expect(res, "t.latency.net.p99_ns > 0", false, "t.latency.net.p99_ns: missing");
	s_expect(res, "t.nope != 1", false, NULL);
	s_expect(res, "not (t.nope == 1)", true, NULL);
	s_expect(res, "t.none", false, "t.none: missing");
	/* a step that did not run */
	s_expect(res, "s.exit_code == 0", false, "s.exit_code: did not run");
	s_expect(res, "t.verdict < 3", false, NULL);
	json_decref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_cond),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
