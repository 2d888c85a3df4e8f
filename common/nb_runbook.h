/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Runbooks: a YAML file of variables and steps that `netblame runbook` executes in order. This
 * module is the pure part: the schema walk (libyaml document, so every error names the file,
 * the line and the field), ${NAME} substitution, and the `when:` conditions, compiled at load
 * and evaluated over earlier steps' JSON results (jansson). It runs nothing and prints nothing.
 *
 *   name: ping-loss                      # optional; the file name otherwise
 *   description: ...                     # optional
 *   vars:
 *     SRC: {help: sender VM address}     # no default: required (--var SRC=...)
 *     COUNT: 20                          # a scalar is the default
 *     IF: {default: vnet0, help: ...}
 *   steps:
 *     - name: trace                      # [A-Za-z0-9_-], unique
 *       trace: {proto: icmp, src-ip: "${SRC}", dst-ip: "${DST}", from: "${NODE_A}",
 *               to: "${NODE_B}", count: "${COUNT}"}
 *       timeout: 120                     # seconds; SIGINT, then SIGKILL
 *     - name: drops_b
 *       when: trace.verdict == NODE_B    # skipped unless it holds
 *       run: {tool: eth_drop, on: "${NODE_B}", duration: 5,
 *             flags: {src-ip: "${SRC}", dst-ip: "${DST}", protocol: icmp}}
 *     - name: settle
 *       wait: 2
 *     - name: conclude
 *       when: lat.max_us >= 10000
 *       verdict: NODE_B                  # the runbook's verdict, as a trace's
 *
 * Conditions (when:):
 *   expr := or;  or := and ("or" and)*;  and := unary ("and" unary)*
 *   unary := "not" unary | "(" expr ")" | operand [OP operand]
 *   OP := == != < <= > >= has
 *   operand := STEP.seg[.seg...] (a path into that earlier step's result; a segment is a word,
 *              a number (array index) or ${NAME}, whose value is one segment even with dots)
 *            | number | word | 'text' | "text" | ${NAME}
 * A path into a result that lacks it makes its comparison false. == and != compare numbers as
 * numbers, anything else as text; < <= > >= need two numbers; "has" is a key of an object or
 * an element of an array. An operand alone is true when it is a non-zero number, true, or a
 * non-empty string, array or object.
 *
 * Errors are negative errno: -EINVAL with "FILE:LINE: FIELD: what" (one line) in err, -ENOMEM.
 */
#ifndef NB_RUNBOOK_H
#define NB_RUNBOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define NB_RB_NAME_MAX	 63
#define NB_RB_MAX_VARS	 64
#define NB_RB_MAX_STEPS	 64
#define NB_RB_MAX_FLAGS	 32
#define NB_RB_MAX_ON	 16
#define NB_RB_VALUE_MAX	 1023
#define NB_RB_MAX_BYTES	 (1u << 20) /* a runbook file */
#define NB_RB_MAX_SECS	 86400
#define NB_RB_COND_DEPTH 32

enum nb_rb_kind { NB_RB_TRACE, NB_RB_RUN, NB_RB_WAIT, NB_RB_VERDICT };

/* A flag of a trace or a tool: "--name value", or "--name" alone when value is NULL. */
struct nb_rb_flag {
	char *name;
	char *value;
	int line;
};

struct nb_rb_cond;

struct nb_rb_step {
	char name[NB_RB_NAME_MAX + 1];
	enum nb_rb_kind kind;
	int line;
	struct nb_rb_cond *when; /* NULL: always */
	char *when_text;	 /* as written, ${NAME} substituted */
	unsigned timeout_s;	 /* 0: the kind's default (nb_rb_step_timeout) */
	int timeout_line;
	/* trace: proto and its nodes; flags are the trace's other flags (src-ip, count ...). */
	char proto[8];
	/* run: the tool and its nodes. trace: on[0] = from (A), on[1] = to (B). */
	char *tool;
	int tool_line;
	int n_on;
	char *on[NB_RB_MAX_ON];
	int on_line[NB_RB_MAX_ON];
	unsigned duration_s; /* run: the tool's --duration */
	int n_flags;
	struct nb_rb_flag flags[NB_RB_MAX_FLAGS];
	unsigned wait_s;  /* wait */
	char verdict[16]; /* verdict: HEALTHY, NETWORK ... */
};

struct nb_rb_var {
	char name[NB_RB_NAME_MAX + 1];
	char *value; /* NULL: required and not given */
	char *help;
	bool given; /* from --var */
	int line;
};

struct nb_runbook {
	char path[1024];
	char name[NB_RB_NAME_MAX + 1];
	char *description;
	int n_vars;
	struct nb_rb_var vars[NB_RB_MAX_VARS];
	int n_steps;
	struct nb_rb_step steps[NB_RB_MAX_STEPS];
};

/*
 * What exists outside the file, asked while parsing so that a missing node or tool is an error
 * with its line. Either callback may be NULL (not checked).
 */
struct nb_rb_check {
	bool (*node)(void *ctx, const char *name);
	bool (*tool)(void *ctx, const char *name);
	void *ctx;
};

/*
 * Parses a runbook. vars: "NAME=VALUE" strings (--var), n_vars of them; a name the runbook does
 * not declare is an error, and so is a required variable not given. On success *out is the
 * caller's (nb_runbook_free).
 */
int nb_runbook_parse(const char *text, size_t len, const char *path, const char *const *vars,
		     int n_vars, const struct nb_rb_check *chk, struct nb_runbook **out, char *err,
		     size_t errlen);
int nb_runbook_load(const char *path, const char *const *vars, int n_vars,
		    const struct nb_rb_check *chk, struct nb_runbook **out, char *err,
		    size_t errlen);
void nb_runbook_free(struct nb_runbook **prb);

/* Seconds a step may take before it is stopped: its timeout, else its kind's default. */
unsigned nb_rb_step_timeout(const struct nb_rb_step *s);
const char *nb_rb_kind_name(enum nb_rb_kind k);

/*
 * Evaluates a step's condition. results[i] is step i's result, NULL when it did not run (then
 * every path into it is missing). why gets the values the condition looked at, e.g.
 * "trace.verdict = NODE_B" (or "trace.verdict: missing"). Returns true when it holds.
 */
bool nb_rb_cond_eval(const struct nb_rb_cond *c, json_t *const *results, char *why, size_t whylen);

#endif /* NB_RUNBOOK_H */
