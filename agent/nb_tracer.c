// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Loader of the packet-stage tracer. The hook points are a table: adding a stage is adding a
 * row (and its glue SEC in bpf/nb_stage.bpf.c), not another loader.
 */
#include "agent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "nb_stage.skel.h"
#include "nb_time.h"

struct s_probe {
	const char *prog;     /* BPF program name */
	const char *tp;	      /* raw tracepoint */
	bool required;	      /* the tool cannot work without it */
	const char *meaning;  /* for messages */
};

static const struct s_probe s_probes[] = {
	{"nb_rx", "netif_receive_skb", true, "receive stages (REQ_RX, REP_RX)"},
	{"nb_tx", "net_dev_start_xmit", true, "transmit stages (REQ_TX, REP_TX)"},
};
#define S_NPROBES (sizeof(s_probes) / sizeof(s_probes[0]))

struct nb_tracer {
	struct nb_stage_bpf *skel;
	struct bpf_link *links[S_NPROBES];
	struct ring_buffer *rb;
	nb_event_fn fn;
	void *ctx;
	uint64_t attach_ts;
	/* A second program's ring read by the same poll (nb_tracer_add_ring). */
	nb_event_fn extra_fn;
	void *extra_ctx;
};

static bool s_verbose;

static int s_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !s_verbose)
		return 0;
	/* libbpf warnings are noise for an operator unless asked for; errors are reported by us. */
	if (level == LIBBPF_WARN && !s_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void nb_bpf_setup(bool verbose)
{
	s_verbose = verbose;
	libbpf_set_print(s_libbpf_print);
}

static int s_on_event(void *ctx, void *data, size_t size)
{
	struct nb_tracer *t = ctx;

	if (size < sizeof(struct nb_event))
		return 0;
	return t->fn(data, t->ctx);
}

static int s_on_extra(void *ctx, void *data, size_t size)
{
	struct nb_tracer *t = ctx;

	if (size < sizeof(struct nb_event))
		return 0;
	return t->extra_fn(data, t->extra_ctx);
}

int nb_tracer_add_ring(struct nb_tracer *t, int map_fd, nb_event_fn fn, void *ctx)
{
	if (t->extra_fn)
		return -EBUSY;
	t->extra_fn = fn;
	t->extra_ctx = ctx;
	if (ring_buffer__add(t->rb, map_fd, s_on_extra, t)) {
		int rc = -errno;

		t->extra_fn = NULL;
		return rc ? rc : -EINVAL;
	}
	return 0;
}

int nb_tracer_open(struct nb_tracer **out, const struct nb_tracer_cfg *cfg, nb_event_fn fn,
		   void *ctx, char *err, size_t errlen)
{
	struct nb_tracer *t;
	int rc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->fn = fn;
	t->ctx = ctx;
	t->skel = nb_stage_bpf__open();
	if (!t->skel) {
		rc = -errno;
		snprintf(err, errlen, "cannot open the BPF tracer: %s", strerror(errno));
		goto fail;
	}
	t->skel->rodata->nb_cfg = cfg->filter;
	if (cfg->ringbuf_bytes)
		bpf_map__set_max_entries(t->skel->maps.nb_events, cfg->ringbuf_bytes);
	rc = nb_stage_bpf__load(t->skel);
	if (rc) {
		snprintf(err, errlen, "cannot load the BPF tracer: %s%s", strerror(-rc),
			 rc == -EPERM ? " (run as root)" : "");
		goto fail;
	}
	for (size_t i = 0; i < S_NPROBES; i++) {
		struct bpf_program *p =
			bpf_object__find_program_by_name(t->skel->obj, s_probes[i].prog);

		t->links[i] = p ? bpf_program__attach(p) : NULL;
		if (!t->links[i]) {
			rc = p ? -errno : -ENOENT;
			if (!s_probes[i].required)
				continue;
			snprintf(err, errlen,
				 "kernel lacks hook tp_btf/%s needed for %s: %s", s_probes[i].tp,
				 s_probes[i].meaning, strerror(-rc));
			goto fail;
		}
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.nb_events), s_on_event, t, NULL);
	if (!t->rb) {
		rc = -errno;
		snprintf(err, errlen, "cannot open the ring buffer: %s", strerror(errno));
		goto fail;
	}
	t->attach_ts = nb_mono_ns();
	*out = t;
	return 0;
fail:
	nb_tracer_destroy(&t);
	return rc ? rc : -EINVAL;
}

int nb_tracer_poll(struct nb_tracer *t, int timeout_ms)
{
	int n = ring_buffer__poll(t->rb, timeout_ms);

	return n == -EINTR ? 0 : n;
}

uint64_t nb_tracer_lost(const struct nb_tracer *t)
{
	return __atomic_load_n(&t->skel->bss->nb_lost, __ATOMIC_RELAXED);
}

uint64_t nb_tracer_matched(const struct nb_tracer *t)
{
	return __atomic_load_n(&t->skel->bss->nb_matched, __ATOMIC_RELAXED);
}

uint64_t nb_tracer_attach_ts(const struct nb_tracer *t)
{
	return t->attach_ts;
}

int nb_tracer_fd(const struct nb_tracer *t)
{
	return ring_buffer__epoll_fd(t->rb);
}

void nb_tracer_destroy(struct nb_tracer **pt)
{
	struct nb_tracer *t = pt ? *pt : NULL;

	if (!t)
		return;
	ring_buffer__free(t->rb);
	for (size_t i = 0; i < S_NPROBES; i++)
		bpf_link__destroy(t->links[i]);
	nb_stage_bpf__destroy(t->skel);
	free(t);
	*pt = NULL;
}
