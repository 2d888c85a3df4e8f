/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The HTML report: one self-contained page (inline CSS, inline SVG, a small inline script, a
 * Content-Security-Policy that forbids every fetch) made from the very JSON report that
 * `--json` writes, so the two cannot disagree. Every string taken from a report (node names,
 * interfaces, reasons, symbols, details) is escaped for HTML.
 *
 * The page of one trace: the verdict, the nodes and their clocks, the statuses, a waterfall of
 * the eight-stage chain (median and p99 of each segment, SVG), loss by location and direction,
 * the drops inside the nodes with their reasons and stacks, and the packets with filters (by
 * status, by seq or IP ID range; also from the address: page.html#status=COMPLETE&seq=2-5).
 *
 * Files are written atomically: a temporary file in the same folder, renamed over the path.
 */
#ifndef NB_REPORT_HTML_H
#define NB_REPORT_HTML_H

#include <jansson.h>
#include <stddef.h>

/*
 * Whether path can be written: its folder exists and takes a new file, and path is not a
 * folder. Call it before the work whose report it will hold, so a typo fails at once.
 * Returns 0, or a negative errno with a one-line message in err.
 */
int nb_report_path_check(const char *path, char *err, size_t errlen);

/*
 * The page of one trace report (the object `netblame trace --json` writes) into path.
 * Returns 0, or a negative errno with a one-line message in err; path is then untouched.
 */
int nb_report_html(const json_t *report, const char *path, char *err, size_t errlen);

/* One step of a runbook, as its combined report shows it. Any field may be NULL. */
struct nb_html_step {
	const char *name;     /* the step's name */
	const char *kind;     /* what it did: "trace", "run", "wait", ... shown as given */
	const char *outcome;  /* one line: what it found, or why the next step was chosen */
	const json_t *report; /* a trace step's report, as nb_report_html takes it */
	const char *output;   /* a tool step's output, shown as preformatted text */
};

/*
 * Several steps on one page (netblame runbook): a title, the final verdict and its detail,
 * then each step in order, a trace step's report laid out as nb_report_html lays it out (the
 * packet filters work on each step's list on its own). Same return and atomicity.
 */
int nb_report_html_steps(const char *title, const char *verdict, const char *detail,
			 const struct nb_html_step *steps, size_t n, const char *path, char *err,
			 size_t errlen);

/*
 * The page of `netblame runbook --json`'s combined report ({"runbook", "description", "steps":
 * [{"name", "kind", "what", "status", "why", "why_failed", "command", "duration_ms",
 * "result"}], "verdict", "verdict_step", "exit_code", ...}): each step's choice and outcome, a
 * trace step's result laid out as a trace's page, a run step's digest and tool records as
 * text. Through nb_report_html_steps; same return and atomicity.
 */
int nb_html_runbook(const json_t *report, const char *path, char *err, size_t errlen);

#endif /* NB_REPORT_HTML_H */
