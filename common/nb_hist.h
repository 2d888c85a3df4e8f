/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Latency histogram with bounded memory: p50/p99 of any number of samples in a fixed 15 KiB.
 *
 * Log-linear buckets over the whole uint64_t range: values below 64 are kept exactly; above,
 * each power of two [2^k, 2^(k+1)) is split into 32 equal sub-buckets. A quantile is reported
 * as the middle of its bucket (clamped to the exact min and max), so its relative error is at
 * most 1/64 (1.6 %). The unit is the caller's: nanoseconds for latency breakdowns, or
 * microseconds when the log2 view is printed as "usecs : count distribution".
 *
 * The log2 view uses the slots of the classic BPF histograms (libbpf-tools): slot 0 holds 0
 * and 1, slot i >= 1 holds [2^i, 2^(i+1) - 1]. It is exact: every log-linear bucket lies
 * inside one log2 slot.
 *
 * Pure: no allocation, no printing. Not thread-safe; merge per-thread histograms instead.
 */
#ifndef NB_HIST_H
#define NB_HIST_H

#include <stdint.h>

#define NB_HIST_SUB_BITS 5
#define NB_HIST_SUB	 (1 << NB_HIST_SUB_BITS)
/* values < 2 * NB_HIST_SUB are exact; then NB_HIST_SUB buckets for each of the 58 upper octaves */
#define NB_HIST_NBUCKETS   ((64 - NB_HIST_SUB_BITS + 1) * NB_HIST_SUB)
#define NB_HIST_LOG2_SLOTS 64

struct nb_hist {
	uint64_t count;
	uint64_t sum; /* wraps after 2^64; only for a mean of sane values */
	uint64_t min; /* UINT64_MAX when empty */
	uint64_t max;
	uint64_t b[NB_HIST_NBUCKETS];
};

void nb_hist_init(struct nb_hist *h);
void nb_hist_reset(struct nb_hist *h);
void nb_hist_add(struct nb_hist *h, uint64_t v);
/* Adds n samples of value v (e.g. from an in-kernel histogram). */
void nb_hist_add_n(struct nb_hist *h, uint64_t v, uint64_t n);
/* dst += src. */
void nb_hist_merge(struct nb_hist *dst, const struct nb_hist *src);

uint64_t nb_hist_count(const struct nb_hist *h);
/* Exact min and max; 0 when empty. */
uint64_t nb_hist_min(const struct nb_hist *h);
uint64_t nb_hist_max(const struct nb_hist *h);
/* Integer mean (sum / count); 0 when empty. */
uint64_t nb_hist_mean(const struct nb_hist *h);
/*
 * Value at quantile q in [0, 1] (0.5 = p50, 0.99 = p99): the smallest sample whose rank is
 * >= ceil(q * count), within the bucket error. q <= 0 gives the min, q >= 1 the max; 0 when
 * empty.
 */
uint64_t nb_hist_quantile(const struct nb_hist *h, double q);

/* Log-linear bucket of v, and the inclusive range of values it holds. */
int nb_hist_bucket(uint64_t v);
void nb_hist_bucket_range(int bucket, uint64_t *lo, uint64_t *hi);

/* Log2 slot of v: 0 for 0 and 1, else floor(log2(v)). */
int nb_hist_log2_bucket(uint64_t v);
/* Inclusive range of a log2 slot: [0, 1], [2, 3], [4, 7], ... */
void nb_hist_log2_range(int slot, uint64_t *lo, uint64_t *hi);
/*
 * Counts per log2 slot into out[NB_HIST_LOG2_SLOTS]. Returns the number of slots to print
 * (highest non-empty slot + 1), 0 when empty.
 */
int nb_hist_log2_view(const struct nb_hist *h, uint64_t out[NB_HIST_LOG2_SLOTS]);

#endif /* NB_HIST_H */
