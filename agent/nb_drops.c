// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Loader of the drop tracer (bpf/nb_drop.bpf.c). The hook is a table row like the stage
 * tracer's; the row used depends on whether this kernel passes a drop reason, which its BTF
 * says (enum skb_drop_reason), never its version number.
 */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "nb_drop.skel.h"
#include "nb_time.h"

#define S_STACK_DEPTH 64 /* NB_STACK_DEPTH of the BPF program */

struct s_probe {
	const char *prog;
	const char *tp;
	bool reasons; /* the kernel's tracepoint passes a drop reason */
	const char *meaning;
};

static const struct s_probe s_probes[] = {
    {"nb_drop_rsn", "kfree_skb", true, "drops with their reason"},
    {"nb_drop_legacy", "kfree_skb", false, "drops (this kernel gives no reasons)"},
};
#define S_NPROBES (sizeof(s_probes) / sizeof(s_probes[0]))

struct nb_drops {
	struct nb_drop_bpf *skel;
	struct bpf_link *link;
	const struct s_probe *probe;
	struct ring_buffer *rb;
	nb_event_fn fn;
	void *ctx;
	uint64_t attach_ts;
	int prog_fd;
	int ncpu;
	uint32_t nstacks;	 /* stack map buckets: stack ids are below this */
	struct nb_stack **cache; /* symbolized stacks by id, filled on first use */
};

/* Does the running kernel's kfree_skb carry a reason? */
static bool s_kernel_has_reasons(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool yes;

	if (!btf)
		return true; /* no BTF: CO-RE fails at load anyway, with a clearer message */
	yes = btf__find_by_name_kind(btf, "skb_drop_reason", BTF_KIND_ENUM) > 0;
	btf__free(btf);
	return yes;
}

static int s_on_event(void *ctx, void *data, size_t size)
{
	struct nb_drops *d = ctx;

	if (size < sizeof(struct nb_event))
		return 0;
	return d->fn(data, d->ctx);
}

int nb_drops_open(struct nb_drops **out, const struct nb_drops_cfg *cfg, nb_event_fn fn, void *ctx,
		  char *err, size_t errlen)
{
	bool reasons = s_kernel_has_reasons();
	struct nb_drops *d;
	int rc;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->fn = fn;
	d->ctx = ctx;
	d->ncpu = libbpf_num_possible_cpus();
	if (d->ncpu <= 0) {
		rc = d->ncpu ? d->ncpu : -EINVAL;
		snprintf(err, errlen, "cannot count CPUs: %s", strerror(-rc));
		goto fail;
	}
	d->skel = nb_drop_bpf__open();
	if (!d->skel) {
		rc = -errno;
		snprintf(err, errlen, "cannot open the BPF drop tracer: %s", strerror(errno));
		goto fail;
	}
	d->skel->rodata->nb_cfg = cfg->filter;
	d->skel->rodata->nb_aggregate = cfg->aggregate;
	d->skel->rodata->nb_skip_copies = cfg->skip_copies;
	if (cfg->aggregate) {
		/* Counts only: the ring buffer stays unused, keep it at its minimum. */
		bpf_map__set_max_entries(d->skel->maps.nb_events, 4096);
	} else {
		bpf_map__set_max_entries(d->skel->maps.nb_drop_counts, 1);
		if (cfg->ringbuf_bytes)
			bpf_map__set_max_entries(d->skel->maps.nb_events, cfg->ringbuf_bytes);
	}
	if (cfg->stack_entries)
		bpf_map__set_max_entries(d->skel->maps.nb_stacks, cfg->stack_entries);
	for (size_t i = 0; i < S_NPROBES; i++) {
		struct bpf_program *p =
		    bpf_object__find_program_by_name(d->skel->obj, s_probes[i].prog);

		if (!p)
			continue;
		bpf_program__set_autoload(p, s_probes[i].reasons == reasons && !d->probe);
		if (s_probes[i].reasons == reasons && !d->probe)
			d->probe = &s_probes[i];
	}
	if (!d->probe) {
		rc = -ENOENT;
		snprintf(err, errlen, "no drop probe for this kernel");
		goto fail;
	}
	rc = nb_drop_bpf__load(d->skel);
	if (rc) {
		snprintf(err, errlen, "cannot load the BPF drop tracer: %s%s", strerror(-rc),
			 rc == -EPERM ? " (run as root)" : "");
		goto fail;
	}
	/* Rounded up to a power of two by the kernel, and ids index its buckets. */
	d->nstacks = 1;
	while (d->nstacks < bpf_map__max_entries(d->skel->maps.nb_stacks))
		d->nstacks <<= 1;
	d->cache = calloc(d->nstacks, sizeof(*d->cache));
	if (!d->cache) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!cfg->aggregate && fn) {
		d->rb = ring_buffer__new(bpf_map__fd(d->skel->maps.nb_events), s_on_event, d, NULL);
		if (!d->rb) {
			rc = -errno;
			snprintf(err, errlen, "cannot open the ring buffer: %s", strerror(errno));
			goto fail;
		}
	}
	{
		struct bpf_program *p =
		    bpf_object__find_program_by_name(d->skel->obj, d->probe->prog);

		d->prog_fd = bpf_program__fd(p);
		d->link = bpf_program__attach_raw_tracepoint(p, d->probe->tp);
		if (!d->link) {
			rc = -errno;
			snprintf(err, errlen, "kernel lacks hook raw_tp/%s needed for %s: %s",
				 d->probe->tp, d->probe->meaning, strerror(-rc));
			goto fail;
		}
	}
	d->attach_ts = nb_mono_ns();
	*out = d;
	return 0;
fail:
	nb_drops_destroy(&d);
	return rc ? rc : -EINVAL;
}

bool nb_drops_have_reasons(const struct nb_drops *d)
{
	return d->probe->reasons;
}

int nb_drops_poll(struct nb_drops *d, int timeout_ms)
{
	int n;

	if (!d->rb)
		return 0;
	n = ring_buffer__poll(d->rb, timeout_ms);
	return n == -EINTR ? 0 : n;
}

int nb_drops_consume(struct nb_drops *d)
{
	int n;

	if (!d->rb)
		return 0;
	n = ring_buffer__consume(d->rb);
	return n == -EINTR ? 0 : n;
}

int nb_drops_fd(const struct nb_drops *d)
{
	return d->rb ? ring_buffer__epoll_fd(d->rb) : -1;
}

int nb_drops_ring_fd(const struct nb_drops *d)
{
	return bpf_map__fd(d->skel->maps.nb_events);
}

uint64_t nb_drops_attach_ts(const struct nb_drops *d)
{
	return d->attach_ts;
}

#define S_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void nb_drops_get_stats(const struct nb_drops *d, struct nb_drops_stats *st)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	memset(st, 0, sizeof(*st));
	st->lost = S_LOAD(d->skel->bss->nb_lost);
	st->matched = S_LOAD(d->skel->bss->nb_matched);
	st->parse_err = S_LOAD(d->skel->bss->nb_parse_err);
	st->stack_err = S_LOAD(d->skel->bss->nb_stack_err);
	st->count_full = S_LOAD(d->skel->bss->nb_count_full);
	st->copies = S_LOAD(d->skel->bss->nb_copies);
	/* Runs the kernel skipped because the program was already running on that CPU. */
	if (!bpf_obj_get_info_by_fd(d->prog_fd, &info, &len))
		st->missed = info.recursion_misses;
}

static void s_stack_free(struct nb_stack *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++)
		free(s->frames[i]);
	free(s);
}

/*
 * Tracing glue above the drop site. How much there is depends on how many programs share the
 * tracepoint (one is called directly, several through __traceiter_*), so a fixed skip count
 * cannot remove it all.
 */
static bool s_glue(const char *frame)
{
	static const char *const glue[] = {"__traceiter_", "__bpf_trace_", "bpf_trace_run",
					   "bpf_prog_"};

	for (size_t i = 0; i < sizeof(glue) / sizeof(glue[0]); i++)
		if (!strncmp(frame, glue[i], strlen(glue[i])))
			return true;
	return false;
}

static bool s_same_frames(const struct nb_stack *a, const struct nb_stack *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->frames[i], b->frames[i]))
			return false;
	return true;
}

const struct nb_stack *nb_drops_stack(struct nb_drops *d, const struct nb_sym *sym,
				      int32_t stack_id)
{
	uint64_t ips[S_STACK_DEPTH] = {0};
	struct nb_stack *s;
	char buf[256];
	int n = 0, skip = 0;

	if (stack_id < 0 || (uint32_t)stack_id >= d->nstacks)
		return NULL;
	if (d->cache[stack_id])
		return d->cache[stack_id];
	/* Ids are never deleted, so one id always names the same stack and can be cached. */
	if (bpf_map_lookup_elem(bpf_map__fd(d->skel->maps.nb_stacks), &stack_id, ips))
		return NULL;
	while (n < S_STACK_DEPTH && ips[n])
		n++;
	s = calloc(1, sizeof(*s) + (size_t)n * sizeof(s->frames[0]));
	if (!s)
		return NULL;
	s->id = stack_id;
	s->canon = stack_id;
	for (int i = 0; i < n; i++) {
		nb_sym_addr(sym, ips[i], true, buf, sizeof(buf));
		if (s->n == 0 && skip == i && s_glue(buf)) {
			skip++;
			continue;
		}
		s->frames[s->n] = strdup(buf);
		if (!s->frames[s->n]) {
			s_stack_free(s);
			return NULL;
		}
		s->n++;
	}
	/* The same drop site seen with more or less glue: report it under one id. */
	for (uint32_t i = 0; i < d->nstacks; i++) {
		if (d->cache[i] && d->cache[i]->canon == (int32_t)i &&
		    s_same_frames(d->cache[i], s)) {
			s->canon = (int32_t)i;
			break;
		}
	}
	d->cache[stack_id] = s;
	return s;
}

int nb_drops_counts(const struct nb_drops *d, nb_drop_count_fn fn, void *ctx)
{
	int fd = bpf_map__fd(d->skel->maps.nb_drop_counts);
	struct nb_drop_key k, next;
	uint64_t *vals;
	bool first = true;
	int rc = 0;

	vals = calloc((size_t)d->ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (;;) {
		uint64_t sum = 0;

		if (bpf_map_get_next_key(fd, first ? NULL : &k, &next)) {
			if (errno != ENOENT)
				rc = -errno;
			break;
		}
		first = false;
		k = next;
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue; /* keys are never deleted; tolerate it anyway */
		for (int c = 0; c < d->ncpu; c++)
			sum += vals[c];
		fn(&k, sum, ctx);
	}
	free(vals);
	return rc;
}

void nb_drops_destroy(struct nb_drops **pd)
{
	struct nb_drops *d = pd ? *pd : NULL;

	if (!d)
		return;
	/* Detach first, so nothing is produced into what is freed next. */
	bpf_link__destroy(d->link);
	ring_buffer__free(d->rb);
	if (d->cache)
		for (uint32_t i = 0; i < d->nstacks; i++)
			s_stack_free(d->cache[i]);
	free(d->cache);
	nb_drop_bpf__destroy(d->skel);
	free(d);
	*pd = NULL;
}
