// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Fuzz target: the runbook parser (libyaml document, schema walk, ${NAME} substitution, the
 * condition parser) and the evaluation of every condition it accepts over a fixed set of step
 * results. Properties: a parse either succeeds with every step within its bounds and every
 * condition evaluable, or fails with a one-line message.
 */
#include "fuzz.h"

#include <errno.h>
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
	return !strcmp(name, "eth_drop");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *res[NB_RB_MAX_STEPS];
	static const char *const vars[] = {"SRC=10.0.0.1", "NODE=hv.b"};
	const struct nb_rb_check chk = {.node = s_node, .tool = s_tool};
	struct nb_runbook *rb = NULL;
	char err[1024], why[512];
	int rc;

	if (!res[0])
		for (int i = 0; i < NB_RB_MAX_STEPS; i += 2)
			res[i] = json_loads("{\"verdict\":\"NODE_B\",\"counts\":{\"COMPLETE\":3},"
					    "\"nodes\":{\"hv.b\":{\"drops\":2}},\"l\":[1,\"a\"],"
					    "\"t\":true,\"n\":null,\"x\":2.5}",
					    0, NULL);
	err[0] = 0;
	rc = nb_runbook_parse((const char *)data, size, "/fuzz/rb.yaml", vars, 2, &chk, &rb, err,
			      sizeof(err));
	NB_FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	NB_FUZZ_CHECK(!rc == !!rb);
	NB_FUZZ_CHECK(rc == 0 || (err[0] && !strchr(err, '\n')));
	for (int i = 0; rb && i < rb->n_steps; i++) {
		const struct nb_rb_step *s = &rb->steps[i];

		NB_FUZZ_CHECK(s->name[0] && strlen(s->name) <= NB_RB_NAME_MAX);
		NB_FUZZ_CHECK(s->n_on >= 0 && s->n_on <= NB_RB_MAX_ON);
		NB_FUZZ_CHECK(s->n_flags >= 0 && s->n_flags <= NB_RB_MAX_FLAGS);
		NB_FUZZ_CHECK(s->kind != NB_RB_TRACE || s->n_on == 2);
		NB_FUZZ_CHECK(s->kind != NB_RB_RUN || (s->tool && s->n_on >= 1));
		NB_FUZZ_CHECK(nb_rb_step_timeout(s) >= 1);
		why[0] = 0;
		(void)nb_rb_cond_eval(s->when, res, why, sizeof(why));
		NB_FUZZ_CHECK(strlen(why) < sizeof(why));
	}
	nb_runbook_free(&rb);
	return 0;
}

#ifdef NB_FUZZ_SEEDS
int nb_fuzz_seeds(void)
{
	static const char *const seeds[] = {
	    "vars: {SRC: {help: s}, NODE: x, N: {default: 5}}\nsteps:\n  - name: t\n"
	    "    trace: {proto: icmp, src-ip: '${SRC}', dst-ip: b, from: hvA, to: hvB, count: 3}\n"
	    "  - name: d\n    when: t.verdict == NODE_B and (t.counts.COMPLETE >= ${N} or not "
	    "t.x)\n"
	    "    run: {tool: eth_drop, on: [hvA, hvB], duration: 2, flags: {a: 1, b: true}}\n"
	    "  - {name: w, wait: 1, when: 't.nodes.${NODE}.drops > 1 or t.l has a'}\n"
	    "  - {name: v, verdict: NODE_B}\n",
	    "steps:\n  - {name: a, wait: 0}\n  - {name: b, wait: 0, when: '((a.x < 1e3))'}\n",
	    "steps: [{name: a, verdict: HEALTHY, when: \"a.b == 'x'\"}]\n",
	};
	char name[32];
	int rc = 0;

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]) && !rc; i++) {
		snprintf(name, sizeof(name), "seed-%zu", i);
		rc = nb_fuzz_seed(name, seeds[i], strlen(seeds[i]));
	}
	return rc;
}
#endif
