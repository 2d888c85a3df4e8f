// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Loader of the packet-stage tracer. The hook points are a table: adding a stage is adding a
 * row (and its glue SEC in bpf/), not another loader. Two objects share one handler
 * (bpf/nb_stage.bpf.h): nb_tcx (tcx links; no CO-RE, so loading it reads no kernel BTF)
 * and nb_stage (device tracepoints), the fallback.
 */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "nb_stage.skel.h"
#include "nb_tcx.skel.h"
#include "nb_log.h"
#include "nb_time.h"

/* tcx attach types (uapi enum bpf_attach_type, kernel >= 6.6); libbpf 1.1 predates them. */
#define S_TCX_INGRESS 46
#define S_TCX_EGRESS  47

enum s_set { S_TCX, S_TP };

/*
 * How a row attaches. A new kind (a BPF netfilter hook, kprobe/fentry where the kernel has
 * them) is a new case in s_attach_row() and rows of it, with a program shared by its rows.
 */
enum s_kind {
	S_DEV_INGRESS, /* tcx ingress link on each traced device, inside their namespace */
	S_DEV_EGRESS,  /* tcx egress link on each traced device */
	S_TRACEPOINT,  /* a BTF tracepoint: global, every namespace's packets run it */
};

/* One stage hook: a row. */
struct s_probe {
	enum s_set set;	  /* the rows of one set are attached together, or none of them */
	enum s_kind kind; /* how */
	const char *where; /* the hook point: messages, caps, and what NB_TEST_HIDE_HOOKS matches */
	const char *prog; /* the BPF program; its events carry stage as their hook */
	uint8_t stage;	  /* NB_HOOK_RX (REQ_RX, REP_RX) or NB_HOOK_TX (REQ_TX, REP_TX) */
};

static const struct s_probe s_probes[] = {
	{S_TCX, S_DEV_INGRESS, "tcx/ingress", "nb_tcx_rx", NB_HOOK_RX},
	{S_TCX, S_DEV_EGRESS, "tcx/egress", "nb_tcx_tx", NB_HOOK_TX},
	{S_TP, S_TRACEPOINT, "tp_btf/netif_receive_skb", "nb_rx", NB_HOOK_RX},
	{S_TP, S_TRACEPOINT, "tp_btf/net_dev_start_xmit", "nb_tx", NB_HOOK_TX},
};
#define S_NPROBES (sizeof(s_probes) / sizeof(s_probes[0]))

/* User space reads both objects' counters alike: the shared handler defines them. */
_Static_assert(offsetof(struct nb_stage_bpf__bss, nb_lost) ==
		       offsetof(struct nb_tcx_bpf__bss, nb_lost) &&
	       offsetof(struct nb_stage_bpf__bss, nb_matched) ==
		       offsetof(struct nb_tcx_bpf__bss, nb_matched),
	       "the stage objects' counters differ");

struct nb_tracer {
	struct nb_stage_bpf *tp;
	struct nb_tcx_bpf *tcx;
	struct bpf_object *obj;		  /* the one loaded */
	struct bpf_map *events;
	struct nb_stage_bpf__bss *bss; /* counters, same layout in both */
	struct bpf_link *links[S_NPROBES];
	int tcx_fds[2 * NB_MAX_IFS]; /* tcx link fds: closing one detaches it */
	int n_tcx;
	enum s_set set;
	struct ring_buffer *rb;
	nb_event_fn fn;
	void *ctx;
	uint64_t attach_ts;
	/* A second program's ring read by the same poll (nb_tracer_add_ring). */
	nb_event_fn extra_fn;
	void *extra_ctx;
};

int nb_hooks_parse(const char *s, enum nb_hooks *out)
{
	if (!strcmp(s, "auto"))
		*out = NB_HOOKS_AUTO;
	else if (!strcmp(s, "tcx"))
		*out = NB_HOOKS_TCX;
	else if (!strcmp(s, "tracepoint"))
		*out = NB_HOOKS_TP;
	else
		return -EINVAL;
	return 0;
}

/*
 * NB_TEST_HIDE_HOOKS=tcx,tp_btf/net_dev_start_xmit makes those hooks look absent, so the
 * fallback and the "kernel lacks a hook" paths can be run on a kernel that has every hook.
 * A hidden tcx object is not even loaded.
 */
static bool s_hidden(const char *hook)
{
	const char *h = getenv("NB_TEST_HIDE_HOOKS");
	size_t n;

	while (h && *h) {
		n = strcspn(h, ",");
		if (n && !strncmp(hook, h, n))
			return true;
		h += n + (h[n] == ',');
	}
	return false;
}

/*
 * NB_TEST_NOOP_PROGRAMS=1 loads the tcx programs so that they return at once: the overhead
 * benchmark's floor, what the two hooks cost with no work in them. Said on stderr, since a
 * tracer in that state sees nothing.
 */
static bool s_noop(void)
{
	const char *v = getenv("NB_TEST_NOOP_PROGRAMS");

	if (!v || strcmp(v, "1"))
		return false;
	nb_warn("NB_TEST_NOOP_PROGRAMS=1: the stage programs return at once, nothing is traced");
	return true;
}

static void s_detach(struct nb_tracer *t)
{
	for (size_t i = 0; i < S_NPROBES; i++) {
		bpf_link__destroy(t->links[i]);
		t->links[i] = NULL;
	}
	for (int i = 0; i < t->n_tcx; i++)
		close(t->tcx_fds[i]);
	t->n_tcx = 0;
}

static const char *s_stage_meaning(uint8_t stage)
{
	return stage == NB_HOOK_RX ? "receive stages (REQ_RX, REP_RX)"
				   : "transmit stages (REQ_TX, REP_TX)";
}

/*
 * One tcx link per traced device, created inside the devices' namespace (the kernel resolves
 * the ifindex there). -EOPNOTSUPP when the kernel has no tcx.
 */
static int s_attach_dev(struct nb_tracer *t, const struct s_probe *sp, struct bpf_program *p,
			const struct nb_filter *f, char *err, size_t errlen)
{
	int type = sp->kind == S_DEV_INGRESS ? S_TCX_INGRESS : S_TCX_EGRESS;

	for (uint32_t j = 0; j < f->n_ifindex; j++) {
		int fd = bpf_link_create(bpf_program__fd(p), (int)f->ifindex[j],
					 (enum bpf_attach_type)type, NULL);
		int rc;

		if (fd < 0) {
			rc = -errno;
			/* An older kernel refuses the unknown attach type with EINVAL. */
			if (rc == -EINVAL || rc == -ENOTSUP || rc == -EOPNOTSUPP)
				return -EOPNOTSUPP;
			snprintf(err, errlen, "cannot attach %s on ifindex %u: %s", sp->where,
				 f->ifindex[j], strerror(-rc));
			return rc;
		}
		t->tcx_fds[t->n_tcx++] = fd;
	}
	return 0;
}

/*
 * One row. -EOPNOTSUPP with err naming the hook when the kernel lacks it (or it is hidden);
 * the caller falls back to another set or reports err.
 */
static int s_attach_row(struct nb_tracer *t, size_t i, const struct nb_filter *f, char *err,
			size_t errlen)
{
	const struct s_probe *sp = &s_probes[i];
	struct bpf_program *p = bpf_object__find_program_by_name(t->obj, sp->prog);
	int rc = -EOPNOTSUPP;

	if (p && bpf_program__fd(p) >= 0 && !s_hidden(sp->where)) {
		switch (sp->kind) {
		case S_DEV_INGRESS:
		case S_DEV_EGRESS:
			rc = s_attach_dev(t, sp, p, f, err, errlen);
			/* A device that refused the link for another reason: err says which. */
			if (rc != -EOPNOTSUPP)
				return rc;
			break;
		case S_TRACEPOINT:
			t->links[i] = bpf_program__attach(p);
			rc = t->links[i] ? 0 : errno ? -errno : -EINVAL;
			break;
		}
	}
	if (rc)
		snprintf(err, errlen, "kernel lacks hook %s needed for %s: %s", sp->where,
			 s_stage_meaning(sp->stage), strerror(-rc));
	return rc;
}

/*
 * Every row of the set, or none: on failure what was attached is detached again. Device hooks
 * are attached from inside the devices' namespace.
 */
static int s_attach_set(struct nb_tracer *t, const struct nb_tracer_cfg *cfg, enum s_set set,
			char *err, size_t errlen)
{
	struct nb_netns own = {.fd = -1};
	int self, rc;

	rc = nb_netns_enter(cfg->ns ? cfg->ns : &own, &self, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < S_NPROBES && !rc; i++)
		if (s_probes[i].set == set)
			rc = s_attach_row(t, i, &cfg->filter, err, errlen);
	rc = nb_netns_leave(self, rc, err, errlen);
	if (rc)
		s_detach(t);
	return rc;
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

/* The kernel rejected the load with rc: say so. */
static int s_load_err(int rc, char *err, size_t errlen)
{
	snprintf(err, errlen, "cannot load the BPF tracer: %s%s", strerror(-rc),
		 rc == -EPERM ? " (run as root)" : "");
	return rc;
}

/*
 * Which traced devices have no link header (tun, ipip, wireguard): a tc program sees their
 * packets from L3. Asked of the kernel inside the devices' namespace.
 */
static int s_l3_mask(const struct nb_tracer_cfg *cfg, uint32_t *mask, char *err, size_t errlen)
{
	struct nb_netns own = {.fd = -1};
	int self, sock, rc;

	*mask = 0;
	rc = nb_netns_enter(cfg->ns ? cfg->ns : &own, &self, err, errlen);
	if (rc)
		return rc;
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open a socket: %s", strerror(errno));
	}
	for (uint32_t i = 0; !rc && i < cfg->filter.n_ifindex; i++) {
		struct ifreq ifr = {.ifr_ifindex = (int)cfg->filter.ifindex[i]};

		if (ioctl(sock, SIOCGIFNAME, &ifr) < 0 || ioctl(sock, SIOCGIFHWADDR, &ifr) < 0) {
			rc = -errno;
			snprintf(err, errlen, "interface %u: %s", cfg->filter.ifindex[i],
				 strerror(errno));
			break;
		}
		if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER &&
		    ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK)
			*mask |= 1u << i;
	}
	if (sock >= 0)
		close(sock);
	return nb_netns_leave(self, rc, err, errlen);
}

static int s_load_tcx(struct nb_tracer *t, const struct nb_tracer_cfg *cfg, char *err,
		      size_t errlen)
{
	uint32_t mask;
	int rc;

	rc = s_l3_mask(cfg, &mask, err, errlen);
	if (rc)
		return rc;
	t->tcx = nb_tcx_bpf__open();
	if (!t->tcx) {
		rc = -errno;
		snprintf(err, errlen, "cannot open the BPF tracer: %s", strerror(errno));
		return rc ? rc : -EINVAL;
	}
	t->tcx->rodata->nb_cfg = cfg->filter;
	t->tcx->rodata->nb_l3_mask = mask;
	t->tcx->rodata->nb_noop = s_noop();
	if (cfg->ringbuf_bytes)
		bpf_map__set_max_entries(t->tcx->maps.nb_events, cfg->ringbuf_bytes);
	rc = nb_tcx_bpf__load(t->tcx);
	if (rc)
		return s_load_err(rc, err, errlen);
	t->obj = t->tcx->obj;
	t->events = t->tcx->maps.nb_events;
	t->bss = (struct nb_stage_bpf__bss *)t->tcx->bss;
	return 0;
}

static int s_load_tp(struct nb_tracer *t, const struct nb_tracer_cfg *cfg, char *err,
		     size_t errlen)
{
	int rc;

	t->tp = nb_stage_bpf__open();
	if (!t->tp) {
		rc = -errno;
		snprintf(err, errlen, "cannot open the BPF tracer: %s", strerror(errno));
		return rc ? rc : -EINVAL;
	}
	t->tp->rodata->nb_cfg = cfg->filter;
	if (cfg->ringbuf_bytes)
		bpf_map__set_max_entries(t->tp->maps.nb_events, cfg->ringbuf_bytes);
	rc = nb_stage_bpf__load(t->tp);
	if (rc)
		return s_load_err(rc, err, errlen);
	t->obj = t->tp->obj;
	t->events = t->tp->maps.nb_events;
	t->bss = t->tp->bss;
	return 0;
}

/* Drop a loaded tcx object whose links the kernel refused, before the fallback. */
static void s_unload_tcx(struct nb_tracer *t)
{
	nb_tcx_bpf__destroy(t->tcx);
	t->tcx = NULL;
	t->obj = NULL;
	t->events = NULL;
	t->bss = NULL;
}

int nb_tracer_open(struct nb_tracer **out, const struct nb_tracer_cfg *cfg, nb_event_fn fn,
		   void *ctx, char *err, size_t errlen)
{
	/*
	 * tcx needs the devices to attach to (an empty set means "every device") and their
	 * namespace, which its events carry without reading it per packet.
	 */
	bool want_tcx = cfg->hooks != NB_HOOKS_TP && cfg->filter.n_ifindex > 0 &&
			cfg->filter.netns != 0;
	struct nb_tracer *t;
	int rc;

	*out = NULL;
	if (cfg->hooks == NB_HOOKS_TCX && !want_tcx) {
		snprintf(err, errlen, "tcx hooks need the traced interfaces and their namespace");
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->fn = fn;
	t->ctx = ctx;
	rc = -EOPNOTSUPP;
	if (want_tcx && !s_hidden("tcx")) {
		rc = s_load_tcx(t, cfg, err, errlen);
		/* A kernel that cannot load a tc program is one without tcx for us. */
		if (rc && rc != -EPERM && rc != -ENODEV && rc != -ENXIO)
			rc = -EOPNOTSUPP;
		if (!rc)
			rc = s_attach_set(t, cfg, S_TCX, err, errlen);
		if (rc == -EOPNOTSUPP)
			s_unload_tcx(t);
	}
	if (rc == -EOPNOTSUPP && cfg->hooks == NB_HOOKS_TCX) {
		snprintf(err, errlen, "kernel lacks hook tcx (Linux >= 6.6) needed for %s",
			 "receive and transmit stages");
		goto fail;
	}
	if (rc == -EOPNOTSUPP) {
		rc = s_load_tp(t, cfg, err, errlen);
		if (!rc)
			rc = s_attach_set(t, cfg, S_TP, err, errlen);
		t->set = S_TP;
	} else {
		t->set = S_TCX;
	}
	if (rc)
		goto fail;
	t->rb = ring_buffer__new(bpf_map__fd(t->events), s_on_event, t, NULL);
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
	return __atomic_load_n(&t->bss->nb_lost, __ATOMIC_RELAXED);
}

uint64_t nb_tracer_matched(const struct nb_tracer *t)
{
	return __atomic_load_n(&t->bss->nb_matched, __ATOMIC_RELAXED);
}

uint64_t nb_tracer_attach_ts(const struct nb_tracer *t)
{
	return t->attach_ts;
}

const char *nb_tracer_hooks(const struct nb_tracer *t)
{
	return t->set == S_TCX ? "tcx" : "tracepoint";
}

size_t nb_tracer_caps(const struct nb_tracer *t, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < S_NPROBES && n < max; i++)
		if (s_probes[i].set == t->set)
			out[n++] = s_probes[i].where;
	return n;
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
	s_detach(t);
	nb_tcx_bpf__destroy(t->tcx);
	nb_stage_bpf__destroy(t->tp);
	free(t);
	*pt = NULL;
}
