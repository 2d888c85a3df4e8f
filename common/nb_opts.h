/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The one option parser: every tool declares which options of one shared table it takes,
 * getopt_long does the parsing, and help is generated from the same table.
 */
#ifndef NB_OPTS_H
#define NB_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Every option any tool takes. A tool uses a subset. */
struct nb_opts {
	const char *src_ip;
	const char *dst_ip;
	const char *rx_iface;
	const char *tx_iface;
	const char *interface;
	const char *phy_interface;
	const char *vm_interface;
	const char *device; /* --device/-d: the tool's device flag by its other name (nb_tool.h) */
	const char *protocol;
	const char *direction;
	const char *netns;
	const char *hooks;
	long src_port;
	long dst_port;
	long timeout_ms;
	long count;
	long duration;
	long interval;
	long latency_ms;
	long top;
	long ringbuf_kb;
	long queue; /* --queue/-q; -1: every queue */
	long clock_offset_ms; /* test only: added to every timestamp this process reports */
	bool json;
	bool drops;
	bool verbose;
	bool all;
	bool help;
};

enum nb_opt_id {
	NB_O_SRC_IP,
	NB_O_DST_IP,
	NB_O_RX_IFACE,
	NB_O_TX_IFACE,
	NB_O_INTERFACE,
	NB_O_PHY_INTERFACE,
	NB_O_VM_INTERFACE,
	NB_O_DEVICE,
	NB_O_PROTOCOL,
	NB_O_DIRECTION,
	NB_O_NETNS,
	NB_O_SRC_PORT,
	NB_O_DST_PORT,
	NB_O_TIMEOUT_MS,
	NB_O_COUNT,
	NB_O_DURATION,
	NB_O_INTERVAL,
	NB_O_LATENCY_MS,
	NB_O_TOP,
	NB_O_RINGBUF_KB,
	NB_O_QUEUE,
	NB_O_HOOKS,
	NB_O_CLOCK_OFFSET_MS,
	NB_O_JSON,
	NB_O_DROPS,
	NB_O_VERBOSE,
	NB_O_ALL,
	NB_O_HELP,
	NB_O__COUNT,
};

/* One option a tool takes: which, whether required, and the tool's own help text if any. */
struct nb_opt_use {
	enum nb_opt_id id;
	bool required;
	const char *help; /* NULL: the table's default help */
};

/*
 * The generic form every command uses (the tools through the table above, serve, trace and
 * keygen with tables of their own): each entry names a field of the caller's options struct.
 */
enum nb_optkind {
	NB_OPTK_STR,  /* const char * */
	NB_OPTK_LONG, /* long, range checked */
	NB_OPTK_FLAG, /* bool */
	NB_OPTK_LIST, /* struct nb_strlist: the option may repeat */
};

#define NB_OPTS_LIST_MAX 8

struct nb_strlist {
	const char *v[NB_OPTS_LIST_MAX];
	int n;
};

struct nb_optdef {
	const char *name;
	enum nb_optkind kind;
	size_t off; /* offsetof the field in the caller's struct */
	long min, max;
	const char *metavar;
	const char *help;
	bool required;
};

/*
 * Parse argv[first..] into out (1 <= first <= argc; argv may be permuted, as getopt does).
 * "--help"/"-h" sets *help and skips the required checks. Every call starts afresh, so a
 * process may parse any number of vectors. Returns 0, or -EINVAL with a one-line reason in err.
 */
int nb_opts_parse_table(const struct nb_optdef *defs, size_t n, int argc, char **argv, int first,
			void *out, bool *help, char *err, size_t errlen);
void nb_opts_help_table(FILE *f, const struct nb_optdef *defs, size_t n);

/*
 * For a command that passes a tool's flags on (netblame run TOOL [own options] [tool flags]):
 * splits argv[first..argc) into the command's own options (those defs names, with their
 * values: "--node X" or "--node=X"), the first positional argument (the tool, into *positional;
 * NULL when none), and everything else, in order, into rest. Whether an unknown option takes
 * the next argument as its value is what the tools' shared table says ("--duration 5",
 * "-d vnet0"); an option in neither table goes alone. After "--" everything is the rest's.
 * own[0] is argv[0], so own can go to nb_opts_parse_table with first 1; own and rest must
 * hold argc entries. Returns 0, or -EINVAL with err when an own option lacks its value.
 */
int nb_opts_split(const struct nb_optdef *defs, size_t n, int argc, char **argv, int first,
		  char **own, int *n_own, const char **positional, char **rest, int *n_rest,
		  char *err, size_t errlen);

#define NB_OPTS_FILE_MAX (64u << 10)
/*
 * A configuration file in terms of the same table: one option a line, its long name without
 * "--", then its value after spaces or '=' ("listen tcp://0.0.0.0:7070", "max-sessions = 8"),
 * a flag alone ("insecure"). Lines starting with '#' and blank lines are skipped. Each line is
 * parsed as the command-line option "--KEY=VALUE" would be, so a key is valid exactly where the
 * flag is, with the same checks; "help" and "config" are not keys. out is not reset (parse the
 * command line afterwards to let it override) and required options are not checked here (nor
 * can the command line's parse see them set by the file: a table used with a file checks such
 * options itself).
 * Strings stored in out point into *keep: free it once out is no longer used.
 * Returns 0, or -errno with "FILE:LINE: reason" (or "FILE: reason") in err.
 */
int nb_opts_parse_file(const struct nb_optdef *defs, size_t n, const char *path, void *out,
		       char **keep, char *err, size_t errlen);
/* A whole-string decimal integer in [min, max]: 0 or -EINVAL. */
int nb_parse_long(const char *s, long min, long max, long *out);

/* Sets defaults, parses argv (argv[0] is the tool name). Returns 0 or -EINVAL with err filled. */
int nb_opts_parse(const struct nb_opt_use *use, size_t n_use, int argc, char **argv,
		  struct nb_opts *o, char *err, size_t errlen);

/* Help for the options a tool takes, one line each, written to f. */
void nb_opts_help(FILE *f, const struct nb_opt_use *use, size_t n_use);

#endif /* NB_OPTS_H */
