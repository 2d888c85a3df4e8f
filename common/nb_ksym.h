/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Kernel symbols from the text of /proc/kallsyms: a table sorted by address, looked up by
 * binary search, so a stack address becomes "func+0xoff". Only code symbols are kept (types
 * t/T, and W/w for weak code); data symbols would otherwise shadow the functions they sit
 * between. A module symbol keeps its name without the "[module]" suffix.
 *
 * Pure: the caller reads the file and hands over the bytes. Errors are negative errno.
 */
#ifndef NB_KSYM_H
#define NB_KSYM_H

#include <stddef.h>
#include <stdint.h>

struct nb_ksym_tab;

/*
 * Parse kallsyms text (need not be NUL-terminated). Malformed lines are skipped and counted
 * in *skipped when it is not NULL. -ENOENT when no code symbol has a non-zero address (as
 * when kptr_restrict hides them from an unprivileged reader), -ENOMEM.
 */
int nb_ksym_parse(const char *buf, size_t len, struct nb_ksym_tab **out, size_t *skipped);

size_t nb_ksym_count(const struct nb_ksym_tab *t);

/*
 * The symbol containing addr: the one with the largest address <= addr. NULL when addr lies
 * below the first symbol; *off (if not NULL) gets addr minus the symbol's address.
 */
const char *nb_ksym_find(const struct nb_ksym_tab *t, uint64_t addr, uint64_t *off);

/*
 * "func+0xoff", or "0xaddr" when no symbol contains it. with_off false gives "func" alone.
 * Returns buf; it is always NUL-terminated (cut when len is too small).
 */
const char *nb_ksym_fmt(const struct nb_ksym_tab *t, uint64_t addr, int with_off, char *buf,
			size_t len);

/*
 * The code of the function called name: [*lo, *hi), hi being the next symbol's address (the
 * last symbol's end is unknown: -ERANGE). -ENOENT when there is no such symbol.
 */
int nb_ksym_range(const struct nb_ksym_tab *t, const char *name, uint64_t *lo, uint64_t *hi);

void nb_ksym_free(struct nb_ksym_tab **pt);

#endif /* NB_KSYM_H */
