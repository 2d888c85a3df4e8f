// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The seed writer linked with a fuzz target instead of libFuzzer:
 *   seed_NAME DIR   writes the target's seeds into DIR and runs each through the target once,
 * so a seed that crashes the target fails the build rather than the first fuzz run.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"

static const char *s_dir;
static unsigned s_count;

int nb_fuzz_seed(const char *name, const void *data, size_t size)
{
	char path[4096];
	FILE *f;
	int rc = 0;

	if (snprintf(path, sizeof(path), "%s/%s", s_dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (size && fwrite(data, 1, size, f) != size)
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -EIO;
	if (rc)
		return rc;
	LLVMFuzzerTestOneInput(data, size);
	s_count++;
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	s_dir = argv[1];
	rc = nb_fuzz_seeds();
	if (rc) {
		fprintf(stderr, "%s: writing seeds into %s: %s\n", argv[0], s_dir, strerror(-rc));
		return 1;
	}
	if (!s_count) {
		fprintf(stderr, "%s: no seeds written\n", argv[0]);
		return 1;
	}
	printf("%s: %u seeds in %s\n", argv[0], s_count, s_dir);
	return 0;
}
