// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool nb_progress_wanted(int fd, bool quiet)
{
	return !quiet && isatty(fd) == 1;
}

const char *nb_progress_elapsed(uint64_t ns, char *buf, size_t len)
{
	uint64_t ds = ns / 100000000ull, s = ns / 1000000000ull;

	if (s < 60)
		snprintf(buf, len, "%llu.%llus", (unsigned long long)(ds / 10),
			 (unsigned long long)(ds % 10));
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%lluh%02llum%02llus", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
	return buf;
}

/* The whole of src, or as much as max allows. */
static size_t s_cut(char *buf, size_t len, unsigned width, const char *src)
{
	size_t max, n = strlen(src);

	if (!len)
		return 0;
	max = width ? width - 1 : 0;
	if (max > len - 1)
		max = len - 1;
	n = n < max ? n : max;
	memcpy(buf, src, n);
	buf[n] = 0;
	return n;
}

size_t nb_progress_fmt(char *buf, size_t len, unsigned width, uint64_t elapsed_ns, unsigned pairs,
		       uint64_t finals, const uint64_t counts[NB_ST__COUNT], uint64_t lost_events)
{
	char head[80], tail[48], el[32], item[48], more[32], np[24] = "";
	size_t max, n, used;
	int left = 0, first = 1;

	if (!len)
		return 0;
	max = width ? width - 1 : 0;
	if (max > len - 1)
		max = len - 1;
	if (pairs)
		snprintf(np, sizeof(np), "  %u pairs", pairs);
	snprintf(head, sizeof(head), "%s%s  %llu packets final",
		 nb_progress_elapsed(elapsed_ns, el, sizeof(el)), np, (unsigned long long)finals);
	snprintf(tail, sizeof(tail), "  lost events %llu", (unsigned long long)lost_events);
	for (int s = 0; s < NB_ST__COUNT; s++)
		left += counts[s] != 0;
	/* The frame alone does not fit: as much of it as does. */
	if (strlen(head) + strlen(tail) > max) {
		char frame[sizeof(head) + sizeof(tail)];

		n = (size_t)snprintf(frame, sizeof(frame), "%s%s", head, tail);
		n = n < max ? n : max;
		memcpy(buf, frame, n);
		buf[n] = 0;
		return n;
	}
	used = (size_t)snprintf(buf, len, "%s", head);
	for (int s = 0; s < NB_ST__COUNT; s++) {
		if (!counts[s])
			continue;
		snprintf(item, sizeof(item), "%s%s %llu", first ? ": " : ", ", nb_status_name(s),
			 (unsigned long long)counts[s]);
		/* room for this one, and for "+N more" after it if others follow */
		snprintf(more, sizeof(more), ", +%d more", left - 1);
		n = strlen(item) + (left > 1 ? strlen(more) : 0);
		if (used + n + strlen(tail) > max) {
			snprintf(more, sizeof(more), "%s+%d more", first ? ": " : ", ", left);
			if (used + strlen(more) + strlen(tail) <= max)
				used += (size_t)snprintf(buf + used, len - used, "%s", more);
			break;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s", item);
		first = 0;
		left--;
	}
	used += (size_t)snprintf(buf + used, len - used, "%s", tail);
	return used;
}

size_t nb_progress_fmt_run(char *buf, size_t len, unsigned width, uint64_t elapsed_ns,
			   unsigned starting, unsigned running, unsigned ended, uint64_t lines)
{
	char line[160], el[32];

	snprintf(line, sizeof(line), "%s  nodes %u: starting %u, running %u, ended %u  lines %llu",
		 nb_progress_elapsed(elapsed_ns, el, sizeof(el)), starting + running + ended,
		 starting, running, ended, (unsigned long long)lines);
	return s_cut(buf, len, width, line);
}

#define S_NAME_MAX 40 /* a step's name longer than this is shortened on the line */

size_t nb_progress_fmt_runbook(char *buf, size_t len, unsigned width, uint64_t elapsed_ns,
			       unsigned step, unsigned n_steps, const char *name, const char *kind,
			       uint64_t step_ns, unsigned done, unsigned skipped)
{
	char line[256], el[32], sel[32], nm[S_NAME_MAX + 1];
	size_t n = strlen(name);

	if (n > S_NAME_MAX)
		snprintf(nm, sizeof(nm), "%.*s~", S_NAME_MAX - 1, name);
	else
		snprintf(nm, sizeof(nm), "%s", name);
	snprintf(line, sizeof(line), "%s  step %u/%u %s (%s) %s  done %u, skipped %u",
		 nb_progress_elapsed(elapsed_ns, el, sizeof(el)), step, n_steps, nm, kind,
		 nb_progress_elapsed(step_ns, sel, sizeof(sel)), done, skipped);
	return s_cut(buf, len, width, line);
}
