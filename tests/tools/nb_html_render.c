// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Testing only: the HTML report of a saved JSON report, through the coordinator's renderer.
 *   nb_html_render REPORT.json OUT.html       the page of one trace (as trace --html)
 *   nb_html_render --steps STEPS.json OUT.html a runbook's page: {"title", "verdict", "detail",
 *       "steps": [{"name", "kind", "outcome", "report": {...}, "output"}]}
 *   nb_html_render --runbook REPORT.json OUT.html  `netblame runbook --json`'s report
 *   nb_html_render --check PATH               nb_report_path_check
 * Lets the tests feed the renderer hostile strings and odd reports without a lab.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../coordinator/report_html.h"

static const char *s_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

int main(int argc, char **argv)
{
	struct nb_html_step *steps = NULL;
	json_error_t jerr;
	char err[4200];
	json_t *in, *st;
	size_t i, n;
	int rc;

	if (argc == 3 && !strcmp(argv[1], "--check")) {
		if (nb_report_path_check(argv[2], err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "--runbook")) {
		in = json_load_file(argv[2], 0, &jerr);
		if (!in) {
			fprintf(stderr, "%s:%d: %s\n", argv[2], jerr.line, jerr.text);
			return 2;
		}
		rc = nb_html_runbook(in, argv[3], err, sizeof(err));
		json_decref(in);
		if (rc)
			fprintf(stderr, "%s\n", err);
		return rc ? 1 : 0;
	}
	if (argc != 3 && !(argc == 4 && !strcmp(argv[1], "--steps"))) {
		fprintf(stderr,
			"usage: nb_html_render [--steps] IN.json OUT.html | --check PATH\n");
		return 2;
	}
	in = json_load_file(argv[argc - 2], 0, &jerr);
	if (!in) {
		fprintf(stderr, "%s:%d: %s\n", argv[argc - 2], jerr.line, jerr.text);
		return 2;
	}
	if (argc == 3) {
		rc = nb_report_html(in, argv[2], err, sizeof(err));
	} else {
		n = json_array_size(json_object_get(in, "steps"));
		steps = calloc(n + 1, sizeof(*steps));
		if (!steps)
			return 1;
		json_array_foreach(json_object_get(in, "steps"), i, st)
		{
			steps[i].name = s_str(st, "name");
			steps[i].kind = s_str(st, "kind");
			steps[i].outcome = s_str(st, "outcome");
			steps[i].report = json_object_get(st, "report");
			steps[i].output = s_str(st, "output");
		}
		rc = nb_report_html_steps(s_str(in, "title"), s_str(in, "verdict"),
					  s_str(in, "detail"), steps, n, argv[3], err, sizeof(err));
		free(steps);
	}
	json_decref(in);
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}
