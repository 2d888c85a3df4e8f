/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * netblame (the coordinator CLI): one function per subcommand, each in its own file. A command
 * gets argv with its own name as argv[0] and returns the process exit code.
 */
#ifndef NB_COORD_H
#define NB_COORD_H

/* Exit codes shared by every command (docs/ARCHITECTURE.md); trace adds its verdict codes. */
#define NB_CEXIT_OK    0
#define NB_CEXIT_ERR   1 /* runtime error */
#define NB_CEXIT_USAGE 2 /* bad command line */
#define NB_CEXIT_LIMIT 3 /* an agent's limit refused the session or ended it */

/* One line on stderr: "netblame: ..." and "netblame: warning: ...". */
void nb_cerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void nb_cwarn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* How many nb_cerr lines were written: a command that fails without one says why anyway. */
unsigned nb_cerr_count(void);

/*
 * The subcommands. main.c refers to all but keygen weakly, so a command whose file is not in
 * the build yet reports "not built yet" instead of breaking the link.
 */
int nb_cmd_trace(int argc, char **argv);
int nb_cmd_run(int argc, char **argv);
int nb_cmd_agents(int argc, char **argv);
int nb_cmd_runbook(int argc, char **argv);
int nb_cmd_keygen(int argc, char **argv);

#endif /* NB_COORD_H */
