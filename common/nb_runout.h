/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What `netblame run` makes of its nodes' output, as pure functions: the JSON lines tagged with
 * the node they came from, the end object of each node, and the command's exit code.
 *
 * The JSON contract (README "netblame run"; runbooks read it):
 *   a line of the tool that is a JSON object: the same object with "node":NAME first (a "node"
 *   field of the tool's own is replaced);
 *   any other line: {"node":NAME,"type":"text","line":"..."};
 *   at a node's end: {"node":NAME,"type":"end","exit_code":N,"reason":"..."}.
 */
#ifndef NB_RUNOUT_H
#define NB_RUNOUT_H

#include <stdbool.h>
#include <stddef.h>

/* Exit codes of a node whose tool has none: the agent did not answer, or was lost. */
#define NB_RUNOUT_NO_EXIT (-1)

/* The JSON line (no newline) for one line of node's stdout; malloc()ed, NULL: out of memory. */
char *nb_runout_json(const char *line, const char *node);
/* The end object of a node (no newline); malloc()ed, NULL: out of memory. */
char *nb_runout_end(const char *node, int exit_code, const char *reason);

/*
 * The command's exit code: 2 when usage (a usage error before anything started), else 0 when
 * every node's tool exited 0, else 1.
 */
int nb_runout_exit(const int *codes, size_t n, bool usage);

#endif /* NB_RUNOUT_H */
