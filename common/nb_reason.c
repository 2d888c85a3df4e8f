// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_reason.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Far above any kernel's list: a bound on what BTF can make us hold. */
#define S_MAX_ENTRIES 65536

struct s_entry {
	uint32_t value;
	char *name;
};

struct nb_reasons {
	struct s_entry *e; /* reasons */
	size_t n, cap;
	struct s_entry *sub; /* subsystems */
	size_t nsub, capsub;
};

struct nb_reasons *nb_reasons_new(void)
{
	return calloc(1, sizeof(struct nb_reasons));
}

static const char *s_strip(const char *cname, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(cname, prefix, n) == 0 && cname[n] ? cname + n : cname;
}

static struct s_entry *s_find(struct s_entry *e, size_t n, uint32_t value)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].value == value)
			return &e[i];
	return NULL;
}

static int s_add(struct s_entry **e, size_t *n, size_t *cap, uint32_t value, const char *name)
{
	char *copy;

	if (!*name)
		return -EINVAL;
	if (s_find(*e, *n, value))
		return 0;
	if (*n >= S_MAX_ENTRIES)
		return -E2BIG;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 128;
		struct s_entry *ne = realloc(*e, nc * sizeof(**e));

		if (!ne)
			return -ENOMEM;
		*e = ne;
		*cap = nc;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	(*e)[*n].value = value;
	(*e)[*n].name = copy;
	(*n)++;
	return 0;
}

int nb_reasons_add(struct nb_reasons *r, uint32_t value, const char *cname)
{
	const char *name;

	if (!r || !cname)
		return -EINVAL;
	if (!strcmp(cname, "SKB_DROP_REASON_MAX") || !strcmp(cname, "SKB_DROP_REASON_SUBSYS_MASK"))
		return 0;
	name = s_strip(cname, "SKB_DROP_REASON_");
	if (name == cname)
		name = s_strip(cname, "SKB_");
	return s_add(&r->e, &r->n, &r->cap, value, name);
}

int nb_reasons_add_subsys(struct nb_reasons *r, uint32_t subsys, const char *cname)
{
	if (!r || !cname)
		return -EINVAL;
	if (!strcmp(cname, "SKB_DROP_REASON_SUBSYS_NUM"))
		return 0;
	return s_add(&r->sub, &r->nsub, &r->capsub, subsys,
		     s_strip(cname, "SKB_DROP_REASON_SUBSYS_"));
}

size_t nb_reasons_count(const struct nb_reasons *r)
{
	return r ? r->n : 0;
}

const char *nb_reasons_name(const struct nb_reasons *r, uint32_t value, char *buf, size_t len)
{
	uint32_t subsys = value >> NB_REASON_SUBSYS_SHIFT;
	const struct s_entry *e;

	if (!len)
		return buf;
	e = r ? s_find(r->e, r->n, value) : NULL;
	if (e) {
		snprintf(buf, len, "%s", e->name);
		return buf;
	}
	if (!subsys) {
		snprintf(buf, len, "UNKNOWN_%u", value);
		return buf;
	}
	e = r ? s_find(r->sub, r->nsub, subsys) : NULL;
	if (e)
		snprintf(buf, len, "%s:0x%04x", e->name, value & 0xffffu);
	else
		snprintf(buf, len, "SUBSYS_%u:0x%04x", subsys, value & 0xffffu);
	return buf;
}

int nb_reasons_value(const struct nb_reasons *r, const char *name, uint32_t *value)
{
	if (!r || !name)
		return -EINVAL;
	for (size_t i = 0; i < r->n; i++) {
		if (!strcmp(r->e[i].name, name)) {
			*value = r->e[i].value;
			return 0;
		}
	}
	return -ENOENT;
}

void nb_reasons_free(struct nb_reasons **pr)
{
	struct nb_reasons *r = pr ? *pr : NULL;

	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->e[i].name);
	for (size_t i = 0; i < r->nsub; i++)
		free(r->sub[i].name);
	free(r->e);
	free(r->sub);
	free(r);
	*pr = NULL;
}

const char *nb_reason_explain(const char *name)
{
	if (!name)
		return NULL;
	if (!strcmp(name, "FULL_RING"))
		return "the tap's ring was full: the VM (or its vhost-net worker) did not read in "
		       "time; tun_ring_monitor shows the ring";
	if (!strncmp(name, "OPENVSWITCH", 11) || !strncmp(name, "OVS_", 4))
		return "Open vSwitch dropped it (a flow's action, or its slow path); "
		       "ovs_upcall_latency_summary shows the upcalls";
	return NULL;
}
