// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_ksym.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct s_sym {
	uint64_t addr;
	uint32_t name; /* offset into names */
};

struct nb_ksym_tab {
	struct s_sym *syms;
	size_t n;
	char *names;
};

static int s_hex(const char *p, const char *end, uint64_t *v, const char **next)
{
	uint64_t x = 0;
	int digits = 0;

	for (; p < end && digits < 17; p++, digits++) {
		char c = *p;
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			break;
		x = x << 4 | d;
	}
	if (!digits || digits > 16)
		return -EINVAL;
	*v = x;
	*next = p;
	return 0;
}

static int s_cmp(const void *a, const void *b)
{
	const struct s_sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Aliases at one address: the first one listed wins, as in the file. */
	return x->name < y->name ? -1 : x->name > y->name;
}

/* One line "ADDR TYPE NAME[\t[module]]": 1 when kept, 0 when not code, -EINVAL malformed. */
static int s_line(const char *p, const char *end, uint64_t *addr, const char **name, size_t *nlen)
{
	const char *q;
	char type;

	if (s_hex(p, end, addr, &p) || p >= end || *p != ' ')
		return -EINVAL;
	p++;
	if (p >= end)
		return -EINVAL;
	type = *p++;
	if (p >= end || *p != ' ')
		return -EINVAL;
	p++;
	q = p;
	while (q < end && *q != '\t' && *q != ' ')
		q++;
	if (q == p)
		return -EINVAL;
	if (type != 't' && type != 'T' && type != 'w' && type != 'W')
		return 0;
	*name = p;
	*nlen = (size_t)(q - p);
	return 1;
}

int nb_ksym_parse(const char *buf, size_t len, struct nb_ksym_tab **out, size_t *skipped)
{
	const char *p = buf, *end = buf + len;
	struct nb_ksym_tab *t;
	size_t cap = 0, ncap = 0, nused = 0, bad = 0;
	int rc = -ENOMEM;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *name;
		uint64_t addr;
		size_t nlen;
		int k;

		if (!eol)
			eol = end;
		k = s_line(p, eol, &addr, &name, &nlen);
		p = eol + 1;
		if (k < 0) {
			bad++;
			continue;
		}
		if (k == 0 || addr == 0)
			continue;
		if (t->n == cap) {
			size_t nc = cap ? cap * 2 : 4096;
			struct s_sym *s = realloc(t->syms, nc * sizeof(*s));

			if (!s)
				goto fail;
			t->syms = s;
			cap = nc;
		}
		if (nused + nlen + 1 > ncap) {
			size_t nc = ncap ? ncap * 2 : 65536;
			char *s;

			while (nc < nused + nlen + 1)
				nc *= 2;
			if (nc > UINT32_MAX)
				goto fail;
			s = realloc(t->names, nc);
			if (!s)
				goto fail;
			t->names = s;
			ncap = nc;
		}
		memcpy(t->names + nused, name, nlen);
		t->names[nused + nlen] = 0;
		t->syms[t->n].addr = addr;
		t->syms[t->n].name = (uint32_t)nused;
		t->n++;
		nused += nlen + 1;
	}
	if (skipped)
		*skipped = bad;
	if (!t->n) {
		rc = -ENOENT;
		goto fail;
	}
	qsort(t->syms, t->n, sizeof(*t->syms), s_cmp);
	*out = t;
	return 0;
fail:
	nb_ksym_free(&t);
	return rc;
}

size_t nb_ksym_count(const struct nb_ksym_tab *t)
{
	return t ? t->n : 0;
}

const char *nb_ksym_find(const struct nb_ksym_tab *t, uint64_t addr, uint64_t *off)
{
	size_t lo = 0, hi;

	if (!t || !t->n || addr < t->syms[0].addr)
		return NULL;
	/* Invariant: syms[lo].addr <= addr, and every index >= hi is above addr. */
	hi = t->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->syms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	/* Of several symbols at one address, report the first. */
	while (lo > 0 && t->syms[lo - 1].addr == t->syms[lo].addr)
		lo--;
	if (off)
		*off = addr - t->syms[lo].addr;
	return t->names + t->syms[lo].name;
}

const char *nb_ksym_fmt(const struct nb_ksym_tab *t, uint64_t addr, int with_off, char *buf,
			size_t len)
{
	uint64_t off = 0;
	const char *name = nb_ksym_find(t, addr, &off);

	if (!len)
		return buf;
	if (!name)
		snprintf(buf, len, "0x%" PRIx64, addr);
	else if (with_off)
		snprintf(buf, len, "%s+0x%" PRIx64, name, off);
	else
		snprintf(buf, len, "%s", name);
	return buf;
}

int nb_ksym_range(const struct nb_ksym_tab *t, const char *name, uint64_t *lo, uint64_t *hi)
{
	for (size_t i = 0; t && i < t->n; i++) {
		size_t j = i + 1;

		if (strcmp(t->names + t->syms[i].name, name))
			continue;
		/* Aliases at the same address are not the end of the function. */
		while (j < t->n && t->syms[j].addr == t->syms[i].addr)
			j++;
		if (j == t->n)
			return -ERANGE;
		*lo = t->syms[i].addr;
		*hi = t->syms[j].addr;
		return 0;
	}
	return -ENOENT;
}

void nb_ksym_free(struct nb_ksym_tab **pt)
{
	struct nb_ksym_tab *t = pt ? *pt : NULL;

	if (!t)
		return;
	free(t->syms);
	free(t->names);
	free(t);
	*pt = NULL;
}
