// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The option parser against arbitrary command lines. An input is
 *   MODE REQUIRED ARG\0ARG\0...
 * MODE picks the parser: the tools' nb_opts_parse() with every option of the shared table, or
 * nb_opts_parse_table() with a table of every kind (string, ranged long, flag, repeatable
 * list) starting at argv[1] (a tool) or argv[2] (a subcommand, "trace icmp ..."). REQUIRED's
 * bits make some options required. The ARGs follow the program name (and subcommand).
 *
 * The parser keeps state between calls in getopt's globals; libFuzzer calls it again and
 * again in one process, as a program that parses twice would. Properties checked:
 *   - rejection is -EINVAL with a non-empty error message;
 *   - on success every required option was given (unless --help), every long lies in its
 *     range, every string is a non-empty argument (or the tail of one, "--x=v") from this
 *     argv, a list holds at most its bound.
 *
 * Seeds: one command line per option of the tools' table, read back from the parser's own help
 * output, and the common command lines of the tools and of "netblame trace".
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "fuzz.h"
#include "nb_opts.h"

#define S_MAX_ARGS 64

enum { S_MODE_TOOL, S_MODE_TABLE, S_MODE_SUBCMD, S_NMODES };

struct s_out {
	const char *str;
	long port;
	long signed_ms;
	bool flag;
	struct nb_strlist any;
	struct nb_strlist two;
};

#define S_F(f) offsetof(struct s_out, f)

static const struct nb_optdef s_table[] = {
    {"src-ip", NB_OPTK_STR, S_F(str), 0, 0, "ADDR", "a string", false},
    {"port", NB_OPTK_LONG, S_F(port), 1, 65535, "PORT", "a positive long", false},
    {"offset-ms", NB_OPTK_LONG, S_F(signed_ms), -86400000L, 86400000L, "MS", "a signed long",
     false},
    {"json", NB_OPTK_FLAG, S_F(flag), 0, 0, NULL, "a flag", false},
    {"agent", NB_OPTK_LIST, S_F(any), 0, 0, "SPEC", "a list, NB_OPTS_LIST_MAX at most", false},
    {"node", NB_OPTK_LIST, S_F(two), 0, 2, "SPEC", "a list of two at most", false},
    {"help", NB_OPTK_FLAG, 0, 0, 0, NULL, "help", false},
};

#define S_NTABLE (sizeof(s_table) / sizeof(s_table[0]))

/* The argument strings, each in its own allocation so ASan sees a read past one. */
static char *s_argv[S_MAX_ARGS + 3];
static int s_argc;

static bool s_in_argv(const char *p)
{
	for (int i = 0; i < s_argc; i++)
		if (p >= s_argv[i] && p <= s_argv[i] + strlen(s_argv[i]))
			return true;
	return false;
}

static void s_check_str(const char *s)
{
	if (s)
		NB_FUZZ_CHECK(*s && s_in_argv(s));
}

static void s_tool(uint8_t req)
{
	struct nb_opt_use use[NB_O__COUNT];
	struct nb_opts o;
	char err[256] = "";
	int rc;

	for (int i = 0; i < NB_O__COUNT; i++)
		use[i] = (struct nb_opt_use){i, i < 8 && (req >> i & 1), NULL};
	rc = nb_opts_parse(use, NB_O__COUNT, s_argc, s_argv, &o, err, sizeof(err));
	if (rc) {
		NB_FUZZ_CHECK(rc == -EINVAL && err[0]);
		return;
	}
	const char *strs[] = {o.src_ip,	   o.dst_ip,	    o.rx_iface,	    o.tx_iface,
			      o.interface, o.phy_interface, o.vm_interface, o.device,
			      o.protocol,  o.direction,	    o.netns,	    o.hooks};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		s_check_str(strs[i]);
	/* The first eight ids are the string options in the order of struct nb_opts. */
	for (int i = 0; i < 8 && !o.help; i++)
		if (req >> i & 1)
			NB_FUZZ_CHECK(strs[i]);
	NB_FUZZ_CHECK(o.src_port >= 0 && o.src_port <= 65535);
	NB_FUZZ_CHECK(o.dst_port >= 0 && o.dst_port <= 65535);
	NB_FUZZ_CHECK(o.timeout_ms >= 1 && o.timeout_ms <= 3600000);
	NB_FUZZ_CHECK(o.ringbuf_kb >= 64 && o.ringbuf_kb <= 1 << 20);
	NB_FUZZ_CHECK(o.count >= 0 && o.interval >= 1 && o.top >= 1 && o.duration >= 0);
	NB_FUZZ_CHECK(o.queue >= -1 && o.queue <= 255);
}

static void s_generic(int first, uint8_t req)
{
	struct nb_optdef defs[S_NTABLE];
	struct s_out o = {0};
	char err[256] = "";
	bool help;
	int rc;

	memcpy(defs, s_table, sizeof(defs));
	for (size_t i = 0; i < S_NTABLE; i++)
		defs[i].required = req >> i & 1;
	/*
	 * netblame run's split (before the parse, which permutes argv): every argument lands in
	 * one place, the command's, the tool name or the tool's.
	 */
	{
		char *own[S_MAX_ARGS + 3], *rest[S_MAX_ARGS + 3];
		const char *pos;
		int n_own, n_rest;

		rc = nb_opts_split(defs, S_NTABLE, s_argc, s_argv, first, own, &n_own, &pos, rest,
				   &n_rest, err, sizeof(err));
		if (rc) {
			NB_FUZZ_CHECK(rc == -EINVAL && err[0]);
		} else {
			int placed = n_own + n_rest + !!pos, given = s_argc - first + 1;

			/* the one "--" that ends the options is the only argument dropped */
			NB_FUZZ_CHECK(placed == given || placed == given - 1);
			NB_FUZZ_CHECK(own[0] == s_argv[0]);
			for (int i = 0; i < n_own; i++)
				NB_FUZZ_CHECK(s_in_argv(own[i]));
			for (int i = 0; i < n_rest; i++)
				NB_FUZZ_CHECK(s_in_argv(rest[i]));
		}
		err[0] = 0;
	}
	rc =
	    nb_opts_parse_table(defs, S_NTABLE, s_argc, s_argv, first, &o, &help, err, sizeof(err));
	if (rc) {
		NB_FUZZ_CHECK(rc == -EINVAL && err[0]);
		return;
	}
	s_check_str(o.str);
	NB_FUZZ_CHECK(o.port == 0 || (o.port >= 1 && o.port <= 65535));
	NB_FUZZ_CHECK(o.signed_ms >= -86400000L && o.signed_ms <= 86400000L);
	NB_FUZZ_CHECK(o.any.n >= 0 && o.any.n <= NB_OPTS_LIST_MAX);
	NB_FUZZ_CHECK(o.two.n >= 0 && o.two.n <= 2);
	for (int i = 0; i < o.any.n; i++)
		NB_FUZZ_CHECK(s_in_argv(o.any.v[i]));
	for (int i = 0; i < o.two.n; i++)
		NB_FUZZ_CHECK(s_in_argv(o.two.v[i]));
	if (!help && (req & 1))
		NB_FUZZ_CHECK(o.str);
	if (!help && (req >> 4 & 1))
		NB_FUZZ_CHECK(o.any.n > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p, *end = data + size;
	uint8_t mode, req;

	if (size < 2)
		return 0;
	mode = data[0] % S_NMODES;
	req = data[1];
	s_argc = 0;
	s_argv[s_argc++] = strdup(mode == S_MODE_TOOL ? "icmp_path_tracer" : "netblame");
	if (mode == S_MODE_SUBCMD)
		s_argv[s_argc++] = strdup("icmp");
	for (p = data + 2; p < end && s_argc < S_MAX_ARGS + 2;) {
		const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
		size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);

		s_argv[s_argc] = strndup((const char *)p, n);
		NB_FUZZ_CHECK(s_argv[s_argc]);
		s_argc++;
		p += n + 1;
	}
	s_argv[s_argc] = NULL;

	if (mode == S_MODE_TOOL)
		s_tool(req);
	else
		s_generic(mode == S_MODE_SUBCMD ? 2 : 1, req);

	for (int i = 0; i < s_argc; i++)
		free(s_argv[i]);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Seeds */
#ifdef NB_FUZZ_SEEDS

static int s_seed_line(const char *name, uint8_t mode, uint8_t req, const char *const *args)
{
	char buf[1024];
	size_t n = 0;

	buf[n++] = (char)mode;
	buf[n++] = (char)req;
	for (; *args; args++) {
		size_t l = strlen(*args) + 1;

		if (n + l > sizeof(buf))
			return -EMSGSIZE;
		memcpy(buf + n, *args, l);
		n += l;
	}
	return nb_fuzz_seed(name, buf, n ? n - 1 : 0);
}

/* A plausible value for a metavar of the help output. */
static const char *s_value(const char *metavar)
{
	if (!strcmp(metavar, "ADDR"))
		return "10.0.0.1";
	if (!strcmp(metavar, "PORT") || !strcmp(metavar, "N") || !strcmp(metavar, "S"))
		return "80";
	if (!strcmp(metavar, "MS"))
		return "1000";
	if (!strcmp(metavar, "KB"))
		return "1024";
	if (!strcmp(metavar, "PROTO"))
		return "icmp";
	if (!strcmp(metavar, "auto|tcx|tracepoint"))
		return "tcx";
	if (!strcmp(metavar, "NAME|PATH"))
		return "nbhvA";
	return "eth0";
}

int nb_fuzz_seeds(void)
{
	static const char *const lines[][16] = {
	    {"--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2", "--rx-iface", "vnet0", "--tx-iface",
	     "eth0,eth1", "--json", NULL},
	    {"--src-ip=2001:db8::10", "--dst-ip=2001:db8::20", "--protocol", "tcp", "--src-port",
	     "40000", "--dst-port=443", "--drops", "--timeout-ms", "2000", NULL},
	    {"--interface", "eth0", "--duration", "10", "--interval", "1", "--top", "5", "-h",
	     NULL},
	    {"--netns", "/proc/1/ns/net", "--hooks", "auto", "--ringbuf-size", "4096", "extra",
	     NULL},
	    {"-d", "vnet0", "-q3", "--all", "-dtap0", "-q", "x", NULL},
	};
	static const char *const table_lines[][16] = {
	    {"--src-ip", "10.0.0.1", "--node", "hvA=tcp://127.0.0.1:7000", "--node",
	     "hvB=tcp://127.0.0.1:7001", "--port", "443", NULL},
	    {"--agent=a", "--agent", "b", "--offset-ms", "-5000", "--json", "--help", NULL},
	};
	struct nb_opt_use use[NB_O__COUNT];
	char *help = NULL, *line, *save = NULL;
	size_t help_len = 0;
	unsigned k = 0;
	char name[64];
	FILE *f;
	int rc = 0;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]) && !rc; i++) {
		snprintf(name, sizeof(name), "tool-%zu", i);
		rc = s_seed_line(name, S_MODE_TOOL, 0, lines[i]);
	}
	for (size_t i = 0; i < sizeof(table_lines) / sizeof(table_lines[0]) && !rc; i++) {
		snprintf(name, sizeof(name), "table-%zu", i);
		rc = s_seed_line(name, S_MODE_TABLE, 0x01, table_lines[i]);
		snprintf(name, sizeof(name), "subcmd-%zu", i);
		if (!rc)
			rc = s_seed_line(name, S_MODE_SUBCMD, 0x10, table_lines[i]);
	}
	if (rc)
		return rc;

	/* Every option the tools take, as their help lists it: "  --name METAVAR  help". */
	for (int i = 0; i < NB_O__COUNT; i++)
		use[i] = (struct nb_opt_use){i, false, NULL};
	f = open_memstream(&help, &help_len);
	if (!f)
		return -errno;
	nb_opts_help(f, use, NB_O__COUNT);
	if (fclose(f))
		return -EIO;
	for (line = strtok_r(help, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
		char opt[64], meta[64];
		const char *args[3] = {opt, NULL, NULL};
		int n = sscanf(line, " %63s %63s", opt, meta);

		/* "-d, --device IF": the one-letter name first. */
		if (n >= 1 && opt[0] == '-' && opt[1] != '-')
			n = sscanf(line, " %*s %63s %63s", opt, meta);

		if (n < 1 || strncmp(opt, "--", 2))
			continue;
		/* A flag's second word is the start of its help text, which is lower case. */
		if (n == 2 && meta[0] >= 'A' && meta[0] <= 'Z')
			args[1] = s_value(meta);
		snprintf(name, sizeof(name), "option%s", opt + 1);
		rc = s_seed_line(name, S_MODE_TOOL, 0, args);
		k++;
	}
	free(help);
	if (!rc && k != NB_O__COUNT)
		rc = -EPROTO; /* the help format changed: the seeds would miss options */
	return rc;
}
#endif /* NB_FUZZ_SEEDS */
