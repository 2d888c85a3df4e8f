// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The option parser called more than once in one process, as the fuzzer and any program that
 * parses a second vector do: no state of an earlier parse may leak into the next. And the
 * error message names the option at fault.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nb_opts.h"

struct s_out {
	const char *src;
	long port;
	bool json;
	struct nb_strlist nodes;
};

static const struct nb_optdef s_defs[] = {
    {"src-ip", NB_OPTK_STR, offsetof(struct s_out, src), 0, 0, "ADDR", "source", true},
    {"port", NB_OPTK_LONG, offsetof(struct s_out, port), 1, 65535, "PORT", "port", false},
    {"json", NB_OPTK_FLAG, offsetof(struct s_out, json), 0, 0, NULL, "json", false},
    {"node", NB_OPTK_LIST, offsetof(struct s_out, nodes), 0, 2, "SPEC", "node", false},
};
#define S_NDEFS (sizeof(s_defs) / sizeof(s_defs[0]))

static int s_parse(int argc, char **argv, int first, struct s_out *o, bool *help, char *err)
{
	memset(o, 0, sizeof(*o));
	err[0] = '\0';
	return nb_opts_parse_table(s_defs, S_NDEFS, argc, argv, first, o, help, err, 256);
}

/*
 * "-xh" fails at 'x' with getopt in the middle of the cluster. The next parse, of another
 * vector, used to resume there: it read "h" out of the first vector (gone, in a real program:
 * the fuzzer saw a use after free) and took it for --help in the second.
 */
static void test_reparse_after_error_in_cluster(void **state)
{
	char a0[] = "prog", a1[] = "-xh";
	char b0[] = "prog", b1[] = "--src-ip", b2[] = "10.0.0.1";
	char *first[] = {a0, a1, NULL};
	char *second[] = {b0, b1, b2, NULL};
	struct s_out o;
	char err[256];
	bool help;

	(void)state;
	assert_int_equal(s_parse(2, first, 1, &o, &help, err), -EINVAL);
	assert_string_equal(err, "unknown option '-x'");
	assert_int_equal(s_parse(3, second, 1, &o, &help, err), 0);
	assert_false(help);
	assert_non_null(o.src);
	assert_string_equal(o.src, "10.0.0.1");
}

/* A parse that stopped while permuting non-options must not permute the next vector. */
static void test_reparse_after_permuting(void **state)
{
	char a0[] = "prog", a1[] = "stray", a2[] = "more", a3[] = "--bogus", a4[] = "--json";
	char b0[] = "netblame", b1[] = "icmp", b2[] = "--node", b3[] = "a=tcp://h:1",
	     b4[] = "--src-ip", b5[] = "10.0.0.1", b6[] = "--node", b7[] = "b=tcp://h:2";
	char *first[] = {a0, a1, a2, a3, a4, NULL};
	char *second[] = {b0, b1, b2, b3, b4, b5, b6, b7, NULL};
	struct s_out o;
	char err[256];
	bool help;

	(void)state;
	assert_int_equal(s_parse(5, first, 1, &o, &help, err), -EINVAL);
	assert_string_equal(err, "unknown option '--bogus'");
	assert_int_equal(s_parse(8, second, 2, &o, &help, err), 0);
	assert_false(help);
	assert_string_equal(o.src, "10.0.0.1");
	assert_int_equal(o.nodes.n, 2);
	assert_string_equal(o.nodes.v[0], "a=tcp://h:1");
	assert_string_equal(o.nodes.v[1], "b=tcp://h:2");
	assert_string_equal(second[1], "icmp"); /* before first: not part of the parse */
}

/* The same vector parsed twice gives the same result. */
static void test_same_vector_twice(void **state)
{
	char a0[] = "prog", a1[] = "--port", a2[] = "443", a3[] = "--src-ip=::1", a4[] = "-h";
	char *argv[] = {a0, a1, a2, a3, a4, NULL};
	struct s_out o;
	char err[256];
	bool help;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(s_parse(5, argv, 1, &o, &help, err), 0);
		assert_true(help);
		assert_int_equal(o.port, 443);
		assert_string_equal(o.src, "::1");
	}
}

static void test_error_messages(void **state)
{
	char a0[] = "prog", flagval[] = "--json=yes", noval[] = "--port", bad[] = "--port=0";
	char *v1[] = {a0, flagval, NULL};
	char *v2[] = {a0, noval, NULL};
	char *v3[] = {a0, bad, NULL};
	char *v4[] = {a0, NULL};
	struct s_out o;
	char err[256];
	bool help;

	(void)state;
	assert_int_equal(s_parse(2, v1, 1, &o, &help, err), -EINVAL);
	assert_string_equal(err, "option '--json' takes no value");
	assert_int_equal(s_parse(2, v2, 1, &o, &help, err), -EINVAL);
	assert_string_equal(err, "option '--port' needs a value");
	assert_int_equal(s_parse(2, v3, 1, &o, &help, err), -EINVAL);
	assert_string_equal(err, "invalid --port '0' (expected an integer 1..65535)");
	assert_int_equal(s_parse(1, v4, 1, &o, &help, err), -EINVAL);
	assert_string_equal(err, "missing required option --src-ip");
	/* a subcommand's options start past the end of a vector holding only the program */
	assert_int_equal(s_parse(1, v4, 2, &o, &help, err), -EINVAL);
	assert_string_equal(err, "invalid option table or argument vector");
}

/* The tools' table: -d and -q are --device and --queue; --queue defaults to every queue. */
static void test_tool_short_names(void **state)
{
	static const struct nb_opt_use use[] = {
	    {NB_O_DEVICE, false, NULL}, {NB_O_QUEUE, false, NULL}, {NB_O_ALL, false, NULL}};
	char a0[] = "tun_ring_monitor", a1[] = "-d", a2[] = "vnet0", a3[] = "-q3", a4[] = "--all";
	char b1[] = "-q", b2[] = "256", c1[] = "-x", d1[] = "-d";
	char *v1[] = {a0, a1, a2, a3, a4, NULL};
	char *v2[] = {a0, b1, b2, NULL};
	char *v3[] = {a0, c1, NULL};
	char *v4[] = {a0, d1, NULL};
	char *v5[] = {a0, NULL};
	struct nb_opts o;
	char err[256];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(nb_opts_parse(use, 3, 5, v1, &o, err, sizeof(err)), 0);
	assert_string_equal(o.device, "vnet0");
	assert_int_equal(o.queue, 3);
	assert_true(o.all);
	assert_int_equal(nb_opts_parse(use, 3, 1, v5, &o, err, sizeof(err)), 0);
	assert_int_equal(o.queue, -1);
	assert_null(o.device);
	assert_int_equal(nb_opts_parse(use, 3, 3, v2, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid --queue '256' (expected an integer 0..255)");
	assert_int_equal(nb_opts_parse(use, 3, 2, v3, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown option '-x'");
	assert_int_equal(nb_opts_parse(use, 3, 2, v4, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option '-d' needs a value");
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	nb_opts_help(f, use, 1);
	fclose(f);
	assert_non_null(strstr(buf, "  -d, --device IF "));
	free(buf);
}

/* Writes text to a temporary file; its path into path (the caller unlinks it). */
static void s_file(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/nb-test-opts.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A file goes through the same table: values, flags, lists, and the command line wins. */
static void test_file(void **state)
{
	char path[64], err[256], *keep = NULL;
	char a0[] = "prog", a1[] = "--port", a2[] = "8080", a3[] = "--src-ip=10.0.0.9";
	char *argv[] = {a0, a1, a2, a3, NULL};
	struct s_out o;
	bool help;

	(void)state;
	s_file(path, "# a comment\n\n  src-ip = 10.0.0.1  \nport 443\r\njson\nnode a\nnode=b c\n");
	memset(&o, 0, sizeof(o));
	assert_int_equal(nb_opts_parse_file(s_defs, S_NDEFS, path, &o, &keep, err, sizeof(err)),
			 0);
	assert_string_equal(o.src, "10.0.0.1");
	assert_int_equal(o.port, 443);
	assert_true(o.json);
	assert_int_equal(o.nodes.n, 2);
	assert_string_equal(o.nodes.v[0], "a");
	assert_string_equal(o.nodes.v[1], "b c");
	/* then the command line, into the same struct */
	assert_int_equal(nb_opts_parse_table(s_defs, S_NDEFS, 4, argv, 1, &o, &help, err, 256), 0);
	assert_int_equal(o.port, 8080);
	assert_string_equal(o.src, "10.0.0.9");
	assert_true(o.json);
	free(keep);
	unlink(path);
}

/* Every bad line is refused with FILE:LINE and the parser's own reason. */
static void test_file_errors(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
	    {"port 1\nprot 2\n", ":2: unknown key 'prot'"},
	    {"po 2\n", ":1: unknown key 'po'"}, /* no abbreviations, unlike getopt */
	    {"help\n", ":1: unknown key 'help'"},
	    {"\n\nport 0\n", ":3: invalid --port '0' (expected an integer 1..65535)"},
	    {"json = yes\n", ":1: option '--json' takes no value"},
	    {"port\n", ":1: option '--port' needs a value"},
	    {"src-ip =\n", ":1: --src-ip needs a non-empty value"},
	    {"node a\nnode b\nnode c\n", ":3: too many --node"},
	};
	char path[64], err[256], want[320], *keep;
	struct s_out o;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s_file(path, cases[i].text);
		memset(&o, 0, sizeof(o));
		keep = (char *)1;
		assert_int_equal(nb_opts_parse_file(s_defs, S_NDEFS, path, &o, &keep, err,
						    sizeof(err)),
				 -EINVAL);
		assert_null(keep);
		snprintf(want, sizeof(want), "%s%s", path, cases[i].err);
		assert_string_equal(err, want);
		unlink(path);
	}
	assert_int_equal(nb_opts_parse_file(s_defs, S_NDEFS, "/nonexistent/x.conf", &o, &keep,
					    err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "/nonexistent/x.conf: No such file or directory");
}


/* netblame run: the command's own options out, the tool's flags through in order. */
struct s_runargs {
	struct nb_strlist node;
	const char *on;
	bool insecure, help;
};

static const struct nb_optdef s_rundefs[] = {
	{"node", NB_OPTK_LIST, offsetof(struct s_runargs, node), 0, 0, "SPEC", "", false},
	{"on", NB_OPTK_STR, offsetof(struct s_runargs, on), 0, 0, "N", "", false},
	{"insecure", NB_OPTK_FLAG, offsetof(struct s_runargs, insecure), 0, 0, NULL, "", false},
	{"help", NB_OPTK_FLAG, offsetof(struct s_runargs, help), 0, 0, NULL, "", false},
};

static void s_split(int argc, char **argv, const char *want_own, const char *want_tool,
		    const char *want_rest)
{
	char *own[32], *rest[32], got[512], err[128];
	const char *tool;
	int n_own, n_rest;
	size_t off = 0;

	assert_int_equal(nb_opts_split(s_rundefs, 4, argc, argv, 1, own, &n_own, &tool, rest,
				       &n_rest, err, sizeof(err)),
			 0);
	got[0] = 0;
	for (int i = 0; i < n_own; i++)
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s", i ? " " : "", own[i]);
	assert_string_equal(got, want_own);
	if (want_tool)
		assert_string_equal(tool, want_tool);
	else
		assert_null(tool);
	off = 0;
	got[0] = 0;
	for (int i = 0; i < n_rest; i++)
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s", i ? " " : "", rest[i]);
	assert_string_equal(got, want_rest);
}

static void test_split(void **state)
{
	(void)state;
	{
		char *v[] = {"run", "eth_drop", "--node", "name=a,endpoint=e", "--interface",
			     "--node", "--json", "--duration=5", "--on=x", "-d", "vnet0", "--insecure",
			     "--all", "--count", "3"};

		/* "--interface --node": --interface takes a value, whatever it looks like. */
		s_split(15, v, "run --node name=a,endpoint=e --on=x --insecure", "eth_drop",
			"--interface --node --json --duration=5 -d vnet0 --all --count 3");
	}
	{
		char *v[] = {"run", "--on", "hvA", "icmp_path_tracer", "--src-ip", "10.0.0.1", "extra",
			     "--bogus", "value", "--", "--node", "x"};

		/* unknown options go alone; a second positional and everything after -- are the tool's */
		s_split(12, v, "run --on hvA", "icmp_path_tracer",
			"--src-ip 10.0.0.1 extra --bogus value --node x");
	}
	{
		char *v[] = {"run", "--help"};

		s_split(2, v, "run --help", NULL, "");
	}
	{
		char *v[] = {"run", "eth_drop", "--on"};
		char *own[4], *rest[4], err[128];
		const char *tool;
		int a, b;

		assert_int_equal(nb_opts_split(s_rundefs, 4, 3, v, 1, own, &a, &tool, rest, &b, err,
					       sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, "option '--on' needs a value");
	}
	{
		/* the split's own part parses with the command's table */
		char *v[] = {"run", "tcp_path_tracer", "--node", "n1", "--node", "n2", "-q", "1"};
		char *own[8], *rest[8], err[128];
		struct s_runargs ra = {0};
		const char *tool;
		int a, b;

		assert_int_equal(nb_opts_split(s_rundefs, 4, 8, v, 1, own, &a, &tool, rest, &b, err,
					       sizeof(err)),
				 0);
		assert_int_equal(nb_opts_parse_table(s_rundefs, 4, a, own, 1, &ra, &ra.help, err,
						     sizeof(err)),
				 0);
		assert_int_equal(ra.node.n, 2);
		assert_string_equal(ra.node.v[1], "n2");
		assert_int_equal(b, 2);
		assert_string_equal(rest[0], "-q");
		assert_string_equal(rest[1], "1");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reparse_after_error_in_cluster),
	    cmocka_unit_test(test_reparse_after_permuting),
	    cmocka_unit_test(test_same_vector_twice),
	    cmocka_unit_test(test_error_messages),
	    cmocka_unit_test(test_tool_short_names),
	    cmocka_unit_test(test_file),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
