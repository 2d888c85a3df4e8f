// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame: the jump-host CLI. Dispatches to one subcommand. Every documented command is
 * listed; one that is not built yet says so and fails, so a script written against the
 * documented command line fails loudly instead of doing something else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "progress.h"

/*
 * Weak: each command lives in its own file and lands on its own schedule; until its file is
 * linked in, the symbol is NULL and the command reports that it is not built yet.
 */
#pragma weak nb_cmd_trace
#pragma weak nb_cmd_run
#pragma weak nb_cmd_agents
#pragma weak nb_cmd_runbook

static unsigned s_nerr;

unsigned nb_cerr_count(void)
{
	return s_nerr;
}

static void s_vmsg(const char *what, const char *fmt, va_list ap)
{
	/* A line of its own, not after a progress line's text; that line comes back below. */
	nb_progress_hide();
	fprintf(stderr, "netblame: %s", what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void nb_cerr(const char *fmt, ...)
{
	va_list ap;

	s_nerr++;
	va_start(ap, fmt);
	s_vmsg("", fmt, ap);
	va_end(ap);
}

void nb_cwarn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	s_vmsg("warning: ", fmt, ap);
	va_end(ap);
}

struct s_cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* NULL: not built yet */
	const char *summary;
};

static void s_usage(FILE *f, const struct s_cmd *cmds, size_t n)
{
	fprintf(f, "usage: netblame COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-9s %s%s\n", cmds[i].name, cmds[i].summary,
			cmds[i].run ? "" : " (not built yet)");
	fprintf(f, "\nRun 'netblame COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
	const struct s_cmd cmds[] = {
	    {"trace", nb_cmd_trace,
	     "trace one flow across two nodes and blame a node or the network"},
	    {"run", nb_cmd_run, "run a single-host tool on an agent"},
	    {"agents", nb_cmd_agents,
	     "show agents: reachability, versions, capabilities, clock offset"},
	    {"runbook", nb_cmd_runbook, "run a prepared sequence of traces and tools"},
	    {"keygen", nb_cmd_keygen, "write a CURVE keypair and print its fingerprint"},
	};
	const size_t n = sizeof(cmds) / sizeof(cmds[0]);
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		nb_cerr("no command given (see 'netblame --help')");
		return NB_CEXIT_USAGE;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		s_usage(stdout, cmds, n);
		return NB_CEXIT_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(cmd, cmds[i].name))
			continue;
		if (!cmds[i].run) {
			nb_cerr("%s is not built yet", cmd);
			return NB_CEXIT_ERR;
		}
		return cmds[i].run(argc - 1, argv + 1);
	}
	if (cmd[0] == '-')
		nb_cerr("unknown option '%s' (see 'netblame --help')", cmd);
	else
		nb_cerr("unknown command '%s' (see 'netblame --help')", cmd);
	return NB_CEXIT_USAGE;
}
