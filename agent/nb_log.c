// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_log.h"

#include <stdarg.h>
#include <stdio.h>

#include <bpf/libbpf.h>

const char *nb_prog = "netblame-agent";
static bool s_verbose;
static char *s_cap;
static size_t s_cap_len;

void nb_log_capture(char *buf, size_t len)
{
	s_cap = len ? buf : NULL;
	s_cap_len = len;
	if (s_cap)
		s_cap[0] = 0;
}

void nb_log_set_prog(const char *prog)
{
	nb_prog = prog;
}

static void s_line(const char *kind, const char *fmt, va_list ap)
{
	if (s_cap) {
		size_t n;

		if (s_cap[0])
			return;
		n = (size_t)snprintf(s_cap, s_cap_len, "%s", kind);
		if (n < s_cap_len)
			vsnprintf(s_cap + n, s_cap_len - n, fmt, ap);
		return;
	}
	fprintf(stderr, "%s: %s", nb_prog, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void nb_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	s_line("", fmt, ap);
	va_end(ap);
}

void nb_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	s_line("warning: ", fmt, ap);
	va_end(ap);
}

static int s_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !s_verbose)
		return 0;
	/* libbpf warnings are noise for an operator unless asked for; errors are reported by us. */
	if (level == LIBBPF_WARN && !s_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void nb_bpf_setup(bool verbose)
{
	s_verbose = verbose;
	libbpf_set_print(s_libbpf_print);
}
