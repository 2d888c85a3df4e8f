/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Clocks and time formatting shared by the tools and the coordinator. */
#ifndef NB_TIME_H
#define NB_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads. */
uint64_t nb_mono_ns(void);
/* CPU time of the calling thread, ns: what a piece of work on one thread cost. */
uint64_t nb_thread_cpu_ns(void);
/* CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns, taken now: converts ktime to wall time. */
int64_t nb_wall_offset_ns(void);
/* "HH:MM:SS.uuuuuu" (frac_digits 6) or "HH:MM:SS.mmm" (3) or "HH:MM:SS" (0), local time. */
const char *nb_fmt_wall(uint64_t wall_ns, int frac_digits, char *buf, size_t len);
/* A duration as operators read it: "333us", "1.2ms", "210ms", "3.4s". */
const char *nb_fmt_dur(uint64_t ns, char *buf, size_t len);

/*
 * A reporting period (the tools' --interval): the one being counted began at start and is due
 * at due, on a grid of whole lengths from the first start, so reports do not drift and a late
 * report does not push the next ones back. len 0: due at every check.
 */
struct nb_period {
	uint64_t start, due, len;
};

void nb_period_init(struct nb_period *p, uint64_t now, uint64_t len_ns);
bool nb_period_due(const struct nb_period *p, uint64_t now);
/*
 * Ends the period at now, for the report made of it: its length in whole seconds (rounded);
 * *partial (may be NULL) true when it ended before it was due (the last report of a run). The
 * next one starts at now and is due at the first grid point after now.
 */
uint64_t nb_period_close(struct nb_period *p, uint64_t now, bool *partial);

#endif /* NB_TIME_H */
