// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The arithmetic the monitors' BPF programs and user space share (common/nb_mon.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nb_hist.h"
#include "nb_mon.h"

/* The in-kernel slot is the user-space log2 slot, capped: histograms print with its ranges. */
static void test_slot_matches_hist(void **state)
{
	static const uint64_t v[] = {
	    0, 1, 2, 3, 4, 7, 8, 1000, 65535, 65536, 100000, 1ull << 30, (1ull << 31) - 1};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(nb_mon_slot(v[i]), nb_hist_log2_bucket(v[i]));
	assert_int_equal(nb_mon_slot(1ull << 40), NB_MON_SLOTS - 1);
	assert_int_equal(nb_mon_slot(UINT64_MAX), NB_MON_SLOTS - 1);
}

static void test_ring_occupancy(void **state)
{
	(void)state;
	/* empty: positions equal, head slot free */
	assert_int_equal(nb_ring_occupancy(5, 5, 16, 0), 0);
	/* full of waiting packets: positions equal, head slot taken */
	assert_int_equal(nb_ring_occupancy(5, 5, 16, 1), 16);
	assert_int_equal(nb_ring_occupancy(9, 5, 16, 0), 4);
	/* wrapped */
	assert_int_equal(nb_ring_occupancy(2, 14, 16, 0), 4);
	assert_int_equal(nb_ring_occupancy(0, 15, 16, 0), 1);
	/* a ring that was never set up */
	assert_int_equal(nb_ring_occupancy(0, 0, 0, 1), 0);
}

static void test_ring_advance(void **state)
{
	(void)state;
	/* no move */
	assert_int_equal(nb_ring_advance(7, 7, 16), 0);
	/* forward, and across the wrap */
	assert_int_equal(nb_ring_advance(3, 4, 16), 1);
	assert_int_equal(nb_ring_advance(14, 2, 16), 4);
	assert_int_equal(nb_ring_advance(15, 0, 16), 1);
	/* a batch of 64 (vhost-net takes its packets so) on a ring of 1000 */
	assert_int_equal(nb_ring_advance(980, 44, 1000), 64);
	/* a position outside the ring (resized since it was published): nothing */
	assert_int_equal(nb_ring_advance(3, 16, 16), 0);
	assert_int_equal(nb_ring_advance(20, 3, 16), 0);
	assert_int_equal(nb_ring_advance(0, 0, 0), 0);
}

static void test_occ_mask(void **state)
{
	(void)state;
	/* a tap's usual rings: the longest period */
	assert_int_equal(nb_occ_mask(1000), NB_TUN_OCC_EVERY - 1);
	assert_int_equal(nb_occ_mask(128), 31);
	/* smaller: a quarter of the ring, a power of 2 */
	assert_int_equal(nb_occ_mask(127), 15);
	assert_int_equal(nb_occ_mask(16), 3);
	assert_int_equal(nb_occ_mask(7), 0);
	assert_int_equal(nb_occ_mask(1), 0);
	assert_int_equal(nb_occ_mask(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slot_matches_hist),
	    cmocka_unit_test(test_ring_occupancy),
	    cmocka_unit_test(test_ring_advance),
	    cmocka_unit_test(test_occ_mask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
