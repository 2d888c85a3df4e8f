// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_time.h"

#include <stdio.h>
#include <time.h>

static uint64_t s_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t nb_mono_ns(void)
{
	return s_clock(CLOCK_MONOTONIC);
}

uint64_t nb_thread_cpu_ns(void)
{
	return s_clock(CLOCK_THREAD_CPUTIME_ID);
}

int64_t nb_wall_offset_ns(void)
{
	/* Bracket the realtime read by two monotonic reads to halve the error. */
	uint64_t m0 = s_clock(CLOCK_MONOTONIC);
	uint64_t r = s_clock(CLOCK_REALTIME);
	uint64_t m1 = s_clock(CLOCK_MONOTONIC);

	return (int64_t)r - (int64_t)(m0 + (m1 - m0) / 2);
}

const char *nb_fmt_wall(uint64_t wall_ns, int frac_digits, char *buf, size_t len)
{
	time_t sec = (time_t)(wall_ns / 1000000000ull);
	uint64_t frac = wall_ns % 1000000000ull;
	struct tm tm;
	char hms[16];

	localtime_r(&sec, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	if (frac_digits >= 6)
		snprintf(buf, len, "%s.%06llu", hms, (unsigned long long)(frac / 1000));
	else if (frac_digits >= 3)
		snprintf(buf, len, "%s.%03llu", hms, (unsigned long long)(frac / 1000000));
	else
		snprintf(buf, len, "%s", hms);
	return buf;
}

const char *nb_fmt_dur(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000000ull)
		snprintf(buf, len, "%lluus", (unsigned long long)(ns / 1000));
	else if (ns < 10000000ull)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else if (ns < 10000000000ull)
		snprintf(buf, len, "%llums", (unsigned long long)((ns + 500000) / 1000000));
	else
		snprintf(buf, len, "%.1fs", ns / 1e9);
	return buf;
}

void nb_period_init(struct nb_period *p, uint64_t now, uint64_t len_ns)
{
	p->start = now;
	p->len = len_ns;
	p->due = now + len_ns;
}

bool nb_period_due(const struct nb_period *p, uint64_t now)
{
	return now >= p->due;
}

uint64_t nb_period_close(struct nb_period *p, uint64_t now, bool *partial)
{
	uint64_t n = now > p->start ? now - p->start : 0;

	if (partial)
		*partial = now < p->due;
	p->start = now;
	if (!p->len)
		p->due = now;
	else if (p->due <= now)
		p->due += ((now - p->due) / p->len + 1) * p->len;
	return (n + 500000000ull) / 1000000000ull;
}
