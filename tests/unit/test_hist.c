// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Histogram tests: bucket layout, quantiles on known distributions, merge, log2 view. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nb_hist.h"

/* Documented bound: 1/64 of the value (bucket half-width over its lower edge). */
#define T_REL_ERR (1.0 / 64)

static struct nb_hist *t_hist(void)
{
	struct nb_hist *h = test_malloc(sizeof(*h));

	assert_non_null(h);
	nb_hist_init(h);
	return h;
}

static void t_assert_close(uint64_t got, uint64_t want)
{
	double err = fabs((double)got - (double)want) / (double)want;

	if (err > T_REL_ERR)
		fail_msg("got %llu want %llu (error %.4f)", (unsigned long long)got,
			 (unsigned long long)want, err);
}

static uint64_t t_rng = 0x9e3779b97f4a7c15ull;

static uint64_t t_rand(void)
{
	t_rng ^= t_rng << 13;
	t_rng ^= t_rng >> 7;
	t_rng ^= t_rng << 17;
	return t_rng;
}

static int t_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Exact quantile with the same rank rule: the ceil(q * n)-th smallest. */
static uint64_t t_exact(const uint64_t *sorted, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);

	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

static void test_empty(void **state)
{
	struct nb_hist *h = t_hist();
	uint64_t out[NB_HIST_LOG2_SLOTS];
	(void)state;

	assert_int_equal(nb_hist_count(h), 0);
	assert_int_equal(nb_hist_min(h), 0);
	assert_int_equal(nb_hist_max(h), 0);
	assert_int_equal(nb_hist_mean(h), 0);
	assert_int_equal(nb_hist_quantile(h, 0.5), 0);
	assert_int_equal(nb_hist_quantile(h, 0.99), 0);
	assert_int_equal(nb_hist_log2_view(h, out), 0);
	test_free(h);
}

static void test_bucket_layout(void **state)
{
	uint64_t lo, hi, prev_hi = 0, v;
	int b, shift;
	(void)state;

	/* buckets tile the whole range with no gap or overlap */
	for (b = 0; b < NB_HIST_NBUCKETS; b++) {
		nb_hist_bucket_range(b, &lo, &hi);
		if (b)
			assert_int_equal(lo, prev_hi + 1);
		else
			assert_int_equal(lo, 0);
		assert_true(hi >= lo);
		assert_int_equal(nb_hist_bucket(lo), b);
		assert_int_equal(nb_hist_bucket(hi), b);
		/* width bounded by 1/32 of the lower edge above the exact range */
		if (lo >= 64)
			assert_true((hi - lo + 1) * 32 <= lo);
		prev_hi = hi;
	}
	assert_int_equal(prev_hi, UINT64_MAX);
	assert_int_equal(nb_hist_bucket(UINT64_MAX), NB_HIST_NBUCKETS - 1);
	/* small values are exact */
	for (v = 0; v < 64; v++) {
		nb_hist_bucket_range(nb_hist_bucket(v), &lo, &hi);
		assert_int_equal(lo, v);
		assert_int_equal(hi, v);
	}
	for (shift = 0; shift < 64; shift++) {
		v = 1ull << shift;
		nb_hist_bucket_range(nb_hist_bucket(v), &lo, &hi);
		assert_int_equal(lo, v);
	}
}

static void test_exact_small(void **state)
{
	struct nb_hist *h = t_hist();
	uint64_t v;
	(void)state;

	for (v = 1; v <= 50; v++)
		nb_hist_add(h, v);
	assert_int_equal(nb_hist_count(h), 50);
	assert_int_equal(nb_hist_min(h), 1);
	assert_int_equal(nb_hist_max(h), 50);
	assert_int_equal(nb_hist_mean(h), 25);
	assert_int_equal(nb_hist_quantile(h, 0.5), 25);
	assert_int_equal(nb_hist_quantile(h, 0.99), 50);
	assert_int_equal(nb_hist_quantile(h, 0.02), 1);
	assert_int_equal(nb_hist_quantile(h, 0.0), 1);
	assert_int_equal(nb_hist_quantile(h, 1.0), 50);
	assert_int_equal(nb_hist_quantile(h, -3), 1);
	assert_int_equal(nb_hist_quantile(h, 7), 50);
	test_free(h);
}

static void test_single_value(void **state)
{
	struct nb_hist *h = t_hist();
	(void)state;

	nb_hist_add_n(h, 123456789, 1000);
	nb_hist_add_n(h, 5, 0);
	assert_int_equal(nb_hist_count(h), 1000);
	/* clamped to the exact min and max, not the bucket middle */
	assert_int_equal(nb_hist_quantile(h, 0.5), 123456789);
	assert_int_equal(nb_hist_quantile(h, 0.99), 123456789);
	assert_int_equal(nb_hist_mean(h), 123456789);
	test_free(h);
}

static void t_check_dist(uint64_t *vals, size_t n)
{
	static const double qs[] = {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999};
	struct nb_hist *h = t_hist();
	size_t i;

	for (i = 0; i < n; i++)
		nb_hist_add(h, vals[i]);
	qsort(vals, n, sizeof(*vals), t_cmp);
	assert_int_equal(nb_hist_count(h), n);
	assert_int_equal(nb_hist_min(h), vals[0]);
	assert_int_equal(nb_hist_max(h), vals[n - 1]);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		t_assert_close(nb_hist_quantile(h, qs[i]), t_exact(vals, n, qs[i]));
	test_free(h);
}

static void test_uniform(void **state)
{
	enum { N = 100000 };
	uint64_t *v = test_malloc(sizeof(*v) * N);
	size_t i;
	(void)state;

	/* 1 us .. 1 s in ns */
	for (i = 0; i < N; i++)
		v[i] = 1000 + t_rand() % 1000000000ull;
	t_check_dist(v, N);
	/* known answers: p50 of 1..100000 is 50000, p99 is 99000 */
	for (i = 0; i < N; i++)
		v[i] = i + 1;
	t_check_dist(v, N);
	t_assert_close(t_exact(v, N, 0.5), 50000);
	test_free(v);
}

static void test_long_tail(void **state)
{
	enum { N = 200000 };
	uint64_t *v = test_malloc(sizeof(*v) * N);
	size_t i;
	(void)state;

	/* exponential around 50 us with a 1 % tail of up to 1000 s */
	for (i = 0; i < N; i++) {
		double u = (double)(t_rand() >> 11) / 9007199254740992.0;

		v[i] = (uint64_t)(-log(1.0 - u) * 50000.0) + 1;
		if (t_rand() % 100 == 0)
			v[i] = 1000000 + t_rand() % 1000000000000ull;
	}
	t_check_dist(v, N);
	test_free(v);
}

static void test_merge_reset(void **state)
{
	struct nb_hist *a = t_hist(), *b = t_hist(), *all = t_hist();
	uint64_t v;
	int i;
	(void)state;

	for (i = 0; i < 10000; i++) {
		v = 100 + t_rand() % 1000000;
		nb_hist_add(i % 3 ? a : b, v);
		nb_hist_add(all, v);
	}
	nb_hist_merge(a, b);
	assert_memory_equal(a, all, sizeof(*a));
	nb_hist_reset(b);
	nb_hist_merge(a, b); /* empty adds nothing, min stays */
	assert_memory_equal(a, all, sizeof(*a));
	nb_hist_merge(b, a);
	assert_memory_equal(b, all, sizeof(*b));
	nb_hist_reset(a);
	assert_int_equal(nb_hist_count(a), 0);
	assert_int_equal(nb_hist_quantile(a, 0.5), 0);
	test_free(a);
	test_free(b);
	test_free(all);
}

static void test_log2(void **state)
{
	static const struct {
		uint64_t v;
		int slot;
	} want[] = {
	    {0, 0}, {1, 0},  {2, 1},  {3, 1},	 {4, 2},     {7, 2},
	    {8, 3}, {63, 5}, {64, 6}, {1023, 9}, {1024, 10}, {UINT64_MAX, 63},
	};
	struct nb_hist *h = t_hist();
	uint64_t out[NB_HIST_LOG2_SLOTS], lo, hi, v;
	size_t i;
	int s;
	(void)state;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(nb_hist_log2_bucket(want[i].v), want[i].slot);
	nb_hist_log2_range(0, &lo, &hi);
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 1);
	nb_hist_log2_range(1, &lo, &hi);
	assert_int_equal(lo, 2);
	assert_int_equal(hi, 3);
	nb_hist_log2_range(10, &lo, &hi);
	assert_int_equal(lo, 1024);
	assert_int_equal(hi, 2047);
	nb_hist_log2_range(63, &lo, &hi);
	assert_int_equal(lo, 1ull << 63);
	assert_int_equal(hi, UINT64_MAX);
	for (s = 0; s < 64; s++) {
		nb_hist_log2_range(s, &lo, &hi);
		assert_int_equal(nb_hist_log2_bucket(lo), s);
		assert_int_equal(nb_hist_log2_bucket(hi), s);
	}

	/* the view from log-linear buckets is exact */
	memset(out, 0, sizeof(out));
	for (i = 0; i < 100000; i++) {
		v = t_rand() >> (t_rand() % 60);
		nb_hist_add(h, v);
		out[nb_hist_log2_bucket(v)]++;
	}
	{
		uint64_t got[NB_HIST_LOG2_SLOTS];
		int n = nb_hist_log2_view(h, got), top = 0;

		for (s = 0; s < 64; s++)
			if (out[s])
				top = s + 1;
		assert_int_equal(n, top);
		assert_memory_equal(got, out, sizeof(out));
	}
	nb_hist_reset(h);
	nb_hist_add_n(h, 300, 4); /* usecs 256 -> 511 */
	nb_hist_add(h, 1);
	assert_int_equal(nb_hist_log2_view(h, out), 9);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[8], 4);
	test_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),	cmocka_unit_test(test_bucket_layout),
	    cmocka_unit_test(test_exact_small), cmocka_unit_test(test_single_value),
	    cmocka_unit_test(test_uniform),	cmocka_unit_test(test_long_tail),
	    cmocka_unit_test(test_merge_reset), cmocka_unit_test(test_log2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
