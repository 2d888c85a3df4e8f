// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <string.h>

#include "nb_hist.h"

void nb_hist_reset(struct nb_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void nb_hist_init(struct nb_hist *h)
{
	nb_hist_reset(h);
}

static int s_msb(uint64_t v)
{
	return 63 - __builtin_clzll(v);
}

int nb_hist_bucket(uint64_t v)
{
	int shift;

	if (v < 2 * (uint64_t)NB_HIST_SUB)
		return (int)v;
	/* v >> shift lands in [SUB, 2 * SUB), so buckets of consecutive octaves abut */
	shift = s_msb(v) - NB_HIST_SUB_BITS;
	return shift * NB_HIST_SUB + (int)(v >> shift);
}

void nb_hist_bucket_range(int bucket, uint64_t *lo, uint64_t *hi)
{
	uint64_t l, w;
	int shift;

	if (bucket < 0)
		bucket = 0;
	if (bucket >= NB_HIST_NBUCKETS)
		bucket = NB_HIST_NBUCKETS - 1;
	if (bucket < 2 * NB_HIST_SUB) {
		l = (uint64_t)bucket;
		w = 1;
	} else {
		shift = bucket / NB_HIST_SUB - 1;
		l = (uint64_t)(bucket - shift * NB_HIST_SUB) << shift;
		w = 1ull << shift;
	}
	if (lo)
		*lo = l;
	if (hi)
		*hi = l + (w - 1);
}

void nb_hist_add_n(struct nb_hist *h, uint64_t v, uint64_t n)
{
	if (!n)
		return;
	h->b[nb_hist_bucket(v)] += n;
	h->count += n;
	h->sum += v * n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void nb_hist_add(struct nb_hist *h, uint64_t v)
{
	nb_hist_add_n(h, v, 1);
}

void nb_hist_merge(struct nb_hist *dst, const struct nb_hist *src)
{
	int i;

	if (!src->count)
		return;
	for (i = 0; i < NB_HIST_NBUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t nb_hist_count(const struct nb_hist *h)
{
	return h->count;
}

uint64_t nb_hist_min(const struct nb_hist *h)
{
	return h->count ? h->min : 0;
}

uint64_t nb_hist_max(const struct nb_hist *h)
{
	return h->count ? h->max : 0;
}

uint64_t nb_hist_mean(const struct nb_hist *h)
{
	return h->count ? h->sum / h->count : 0;
}

uint64_t nb_hist_quantile(const struct nb_hist *h, double q)
{
	uint64_t rank, seen = 0, lo, hi, v;
	double r;
	int i;

	if (!h->count)
		return 0;
	if (q <= 0.0)
		return h->min;
	if (q >= 1.0)
		return h->max;
	r = q * (double)h->count;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < NB_HIST_NBUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	if (i == NB_HIST_NBUCKETS)
		return h->max;
	nb_hist_bucket_range(i, &lo, &hi);
	/* the middle halves the worst-case error of reporting either edge */
	v = lo + (hi - lo + 1) / 2;
	if (v > hi)
		v = hi;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

int nb_hist_log2_bucket(uint64_t v)
{
	return v <= 1 ? 0 : s_msb(v);
}

void nb_hist_log2_range(int slot, uint64_t *lo, uint64_t *hi)
{
	uint64_t l, u;

	if (slot <= 0) {
		l = 0;
		u = 1;
	} else if (slot >= 63) {
		l = 1ull << 63;
		u = UINT64_MAX;
	} else {
		l = 1ull << slot;
		u = (1ull << (slot + 1)) - 1;
	}
	if (lo)
		*lo = l;
	if (hi)
		*hi = u;
}

int nb_hist_log2_view(const struct nb_hist *h, uint64_t out[NB_HIST_LOG2_SLOTS])
{
	uint64_t lo;
	int i, n = 0, s;

	memset(out, 0, sizeof(uint64_t) * NB_HIST_LOG2_SLOTS);
	for (i = 0; i < NB_HIST_NBUCKETS; i++) {
		if (!h->b[i])
			continue;
		nb_hist_bucket_range(i, &lo, NULL);
		s = nb_hist_log2_bucket(lo);
		out[s] += h->b[i];
		if (s + 1 > n)
			n = s + 1;
	}
	return n;
}
