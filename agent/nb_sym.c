// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Names for what the drop tracer reports: kernel addresses from /proc/kallsyms and drop
 * reasons from the running kernel's BTF. The parsing and lookups are common/nb_ksym and
 * common/nb_reason; this file only reads the files.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "nb_ksym.h"
#include "nb_reason.h"

#define S_KALLSYMS_MAX (256u << 20) /* far above any real kallsyms; bounds what we read */

struct nb_sym {
	struct nb_ksym_tab *ksyms;
	struct nb_reasons *reasons;
};

static int s_read_all(const char *path, char **out, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	int fd, rc = 0;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *nb;

			if (cap >= S_KALLSYMS_MAX) {
				rc = -EFBIG;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Every enumerator of enum NAME in btf, through add(). */
static int s_enum(const struct btf *btf, const char *name,
		  int (*add)(struct nb_reasons *, uint32_t, const char *), struct nb_reasons *r)
{
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_ENUM);
	const struct btf_type *t;
	const struct btf_enum *e;
	int rc;

	if (id <= 0)
		return -ENOENT;
	t = btf__type_by_id(btf, (__u32)id);
	e = btf_enum(t);
	for (int i = 0; i < btf_vlen(t); i++) {
		rc = add(r, (uint32_t)e[i].val, btf__name_by_offset(btf, e[i].name_off));
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Subsystem reasons are declared by their modules (e.g. enum ovs_drop_reason in
 * openvswitch): take every enum of a loaded module whose values carry a subsystem number.
 */
static void s_module_reasons(struct btf *vmlinux, struct nb_reasons *r)
{
	DIR *dir = opendir("/sys/kernel/btf");
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		struct btf *btf;
		__u32 n;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, "vmlinux"))
			continue;
		/* Only the subsystems' modules declare such enums; skip the rest cheaply. */
		if (strcmp(de->d_name, "openvswitch") && strcmp(de->d_name, "mac80211"))
			continue;
		btf = btf__load_module_btf(de->d_name, vmlinux);
		if (!btf)
			continue;
		n = btf__type_cnt(btf);
		for (__u32 id = btf__type_cnt(vmlinux); id < n; id++) {
			const struct btf_type *t = btf__type_by_id(btf, id);
			const struct btf_enum *e;

			if (!t || !btf_is_enum(t))
				continue;
			e = btf_enum(t);
			for (int i = 0; i < btf_vlen(t); i++)
				if ((uint32_t)e[i].val >> 16)
					nb_reasons_add(r, (uint32_t)e[i].val,
						       btf__name_by_offset(btf, e[i].name_off));
		}
		btf__free(btf);
	}
	closedir(dir);
}

static int s_add_subsys(struct nb_reasons *r, uint32_t v, const char *name)
{
	return nb_reasons_add_subsys(r, v, name);
}

static int s_open(struct nb_sym **out, bool reasons, char *err, size_t errlen)
{
	struct nb_sym *s;
	struct btf *btf;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->reasons = nb_reasons_new())) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = s_read_all("/proc/kallsyms", &buf, &len);
	if (!rc)
		rc = nb_ksym_parse(buf, len, &s->ksyms, NULL);
	free(buf);
	if (rc) {
		snprintf(err, errlen, "cannot read kernel symbols from /proc/kallsyms: %s",
			 rc == -ENOENT ? "addresses are hidden (kptr_restrict; run as root)"
				       : strerror(-rc));
		goto fail;
	}
	btf = reasons ? btf__load_vmlinux_btf() : NULL;
	if (btf) {
		/* A kernel without drop reasons has no such enum: reasons print as numbers. */
		rc = s_enum(btf, "skb_drop_reason", nb_reasons_add, s->reasons);
		if (rc == 0)
			rc = s_enum(btf, "skb_drop_reason_subsys", s_add_subsys, s->reasons);
		if (rc == 0 || rc == -ENOENT)
			s_module_reasons(btf, s->reasons);
		btf__free(btf);
		if (rc && rc != -ENOENT) {
			snprintf(err, errlen, "cannot read drop reasons from kernel BTF: %s",
				 strerror(-rc));
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	nb_sym_destroy(&s);
	return rc;
}

int nb_sym_open(struct nb_sym **out, char *err, size_t errlen)
{
	return s_open(out, true, err, errlen);
}

int nb_sym_open_ksyms(struct nb_sym **out, char *err, size_t errlen)
{
	return s_open(out, false, err, errlen);
}

const char *nb_sym_reason(const struct nb_sym *s, uint32_t reason, char *buf, size_t len)
{
	return nb_reasons_name(s->reasons, reason, buf, len);
}

const char *nb_sym_addr(const struct nb_sym *s, uint64_t addr, bool with_off, char *buf, size_t len)
{
	return nb_ksym_fmt(s->ksyms, addr, with_off, buf, len);
}

int nb_sym_range(const struct nb_sym *s, const char *name, uint64_t *lo, uint64_t *hi)
{
	return nb_ksym_range(s->ksyms, name, lo, hi);
}

void nb_sym_destroy(struct nb_sym **ps)
{
	struct nb_sym *s = ps ? *ps : NULL;

	if (!s)
		return;
	nb_ksym_free(&s->ksyms);
	nb_reasons_free(&s->reasons);
	free(s);
	*ps = NULL;
}
