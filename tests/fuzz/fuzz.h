/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What every fuzz target (tests/fuzz/fuzz_NAME.c) provides. The Makefile links each one twice:
 * with libFuzzer as build/fuzz/fuzz_NAME, and with seed_main.c as build/fuzz/seed_NAME, which
 * writes the target's seeds into build/fuzz/corpus/NAME at build time. The seed writer is
 * compiled with NB_FUZZ_SEEDS defined; the seed code goes under #ifdef NB_FUZZ_SEEDS.
 *
 * A target checks properties, not only crashes: when one does not hold it calls
 * NB_FUZZ_CHECK's abort(), which libFuzzer reports like a sanitizer finding, with the input.
 */
#ifndef NB_FUZZ_H
#define NB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes the target's seeds with nb_fuzz_seed(); at least one. 0 or a negative errno. */
int nb_fuzz_seeds(void);

/* One seed input named name (a file name) in the corpus directory. 0 or a negative errno. */
int nb_fuzz_seed(const char *name, const void *data, size_t size);

#define NB_FUZZ_CHECK(cond)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif /* NB_FUZZ_H */
