/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Clocks and time formatting shared by the tools and the coordinator. */
#ifndef NB_TIME_H
#define NB_TIME_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads. */
uint64_t nb_mono_ns(void);
/* CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns, taken now: converts ktime to wall time. */
int64_t nb_wall_offset_ns(void);
/* "HH:MM:SS.uuuuuu" (frac_digits 6) or "HH:MM:SS.mmm" (3) or "HH:MM:SS" (0), local time. */
const char *nb_fmt_wall(uint64_t wall_ns, int frac_digits, char *buf, size_t len);
/* A duration as operators read it: "333us", "1.2ms", "210ms", "3.4s". */
const char *nb_fmt_dur(uint64_t ns, char *buf, size_t len);

#endif /* NB_TIME_H */
