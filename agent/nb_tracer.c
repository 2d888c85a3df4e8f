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

#include <sys/syscall.h>

#include "nb_lat.skel.h"
#include "nb_stage.skel.h"
#include "nb_tcx.skel.h"
#include "nb_lat.h"
#include "nb_log.h"
#include "nb_mon.h"
#include "nb_time.h"

/* tcx attach types (uapi enum bpf_attach_type, kernel >= 6.6); libbpf 1.1 predates them. */
#define S_TCX_INGRESS 46
#define S_TCX_EGRESS  47

/*
 * S_TCX and S_TP: the path tracers' stages (nb_tcx, nb_stage objects). S_LAT and S_LAT_TP: a
 * latency chain's (nb_lat object), whose stages are chosen per chain (s_chain_attach).
 * S_OVS_TP and S_OVS_KP: the kernel datapath's upcall start and end (nb_stage object), for
 * ovs_upcall_latency_summary, which feature-probes them first (nb_ovs_choose).
 */
enum s_set { S_TCX, S_TP, S_LAT, S_LAT_TP, S_OVS_TP, S_OVS_KP };

/*
 * How a row attaches. A new kind (fentry where the kernel has it) is a new case in
 * s_attach_row() or s_chain_attach() and rows of it, with a program shared by its rows.
 */
enum s_kind {
	S_DEV_INGRESS, /* tcx ingress link on each traced device, inside their namespace */
	S_DEV_EGRESS,  /* tcx egress link on each traced device */
	S_TRACEPOINT,  /* a BTF tracepoint: global, every namespace's packets run it */
	S_NETFILTER,   /* a BPF netfilter link per hook and family, bound to the namespace */
	S_KPROBE,      /* a kprobe on a kernel function (feature-probed), stage in the cookie */
	S_BY_SEC,      /* where its section says (raw_tp, kprobe): one link, caller probed it */
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
	/* A chain's rows: the stage each reports is set per chain (nb_lat.bpf.c). */
	{S_LAT, S_DEV_INGRESS, "tcx/ingress", "nb_lat_tcx_rx", 0},
	{S_LAT, S_DEV_EGRESS, "tcx/egress", "nb_lat_tcx_tx", 0},
	{S_LAT_TP, S_TRACEPOINT, "tp_btf/netif_receive_skb", "nb_lat_rx", 0},
	{S_LAT_TP, S_TRACEPOINT, "tp_btf/net_dev_start_xmit", "nb_lat_tx", 0},
	{S_LAT, S_NETFILTER, "netfilter", "nb_lat_nf", 0},
	{S_LAT, S_KPROBE, "kprobe", "nb_lat_kp1", 1}, /* stage = the skb argument */
	{S_LAT, S_KPROBE, "kprobe", "nb_lat_kp3", 3},
	/* The openvswitch module's: a missed packet sent up, and re-injected (its key taken). */
	{S_OVS_TP, S_BY_SEC, "raw_tp/ovs_dp_upcall", "nb_ovs_up_tp", NB_HOOK_RX},
	{S_OVS_TP, S_BY_SEC, "kprobe/ovs_flow_key_extract_userspace", "nb_ovs_exec_kp", NB_HOOK_TX},
	{S_OVS_KP, S_BY_SEC, "kprobe/ovs_dp_upcall", "nb_ovs_up_kp", NB_HOOK_RX},
	{S_OVS_KP, S_BY_SEC, "kprobe/ovs_flow_key_extract_userspace", "nb_ovs_exec_kp", NB_HOOK_TX},
};
#define S_NPROBES (sizeof(s_probes) / sizeof(s_probes[0]))

/* User space reads both objects' counters alike: the shared handler defines them. */
_Static_assert(offsetof(struct nb_stage_bpf__bss, nb_lost) ==
		       offsetof(struct nb_tcx_bpf__bss, nb_lost) &&
	       offsetof(struct nb_stage_bpf__bss, nb_matched) ==
		       offsetof(struct nb_tcx_bpf__bss, nb_matched),
	       "the stage objects' counters differ");
_Static_assert(offsetof(struct nb_stage_bpf__bss, nb_lost) ==
		       offsetof(struct nb_lat_bpf__bss, nb_lost) &&
	       offsetof(struct nb_stage_bpf__bss, nb_matched) ==
		       offsetof(struct nb_lat_bpf__bss, nb_matched),
	       "the stage objects' counters differ");

/* A chain's attachments beyond the table's one link per row. */
struct s_chain {
	int n;
	struct nb_lat_stage st[NB_LAT_MAX_STAGES];
	char src[NB_LAT_MAX_STAGES][256]; /* where each stage came from, or why it is missing */
	bool ok[NB_LAT_MAX_STAGES];
	struct bpf_link *kp[NB_LAT_MAX_STAGES];
	int nf_fds[2 * NB_LAT_MAX_STAGES];
	int n_nf;
	bool dev_tp; /* device stages on the tracepoints (no tcx) */
	int load_rc; /* how the object failed to load with every kind, 0 if it did */
	int want;    /* S_WANT_* the loaded object was loaded with */
};

struct nb_tracer {
	struct nb_stage_bpf *tp;
	struct nb_tcx_bpf *tcx;
	struct nb_lat_bpf *lat;
	struct s_chain *chain;
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
bool nb_hook_hidden(const char *hook)
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
 * NB_TEST_NOOP_PROGRAMS=1 loads the tcx programs (and a latency chain's netfilter program) so
 * that they return at once: the overhead benchmarks' floor, what the hooks cost with no work in
 * them. Said on stderr, since a tracer in that state sees nothing.
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
	if (t->chain) {
		for (int i = 0; i < NB_LAT_MAX_STAGES; i++) {
			bpf_link__destroy(t->chain->kp[i]);
			t->chain->kp[i] = NULL;
		}
		for (int i = 0; i < t->chain->n_nf; i++)
			close(t->chain->nf_fds[i]);
		t->chain->n_nf = 0;
	}
}

static const char *s_stage_meaning(const struct s_probe *sp)
{
	if (sp->set == S_OVS_TP || sp->set == S_OVS_KP)
		return sp->stage == NB_HOOK_RX ? "the OVS upcall's start" : "the OVS upcall's end";
	return sp->stage == NB_HOOK_RX ? "receive stages (REQ_RX, REP_RX)"
				       : "transmit stages (REQ_TX, REP_TX)";
}

/*
 * One tcx link on a device, created inside the device's namespace (the kernel resolves the
 * ifindex there). -EOPNOTSUPP when the kernel has no tcx.
 */
static int s_tcx_link(struct nb_tracer *t, const struct s_probe *sp, struct bpf_program *p,
		      uint32_t ifindex, char *err, size_t errlen)
{
	int type = sp->kind == S_DEV_INGRESS ? S_TCX_INGRESS : S_TCX_EGRESS;
	int fd = bpf_link_create(bpf_program__fd(p), (int)ifindex, (enum bpf_attach_type)type,
				 NULL);
	int rc;

	if (fd < 0) {
		rc = -errno;
		/* An older kernel refuses the unknown attach type with EINVAL. */
		if (rc == -EINVAL || rc == -ENOTSUP || rc == -EOPNOTSUPP)
			return -EOPNOTSUPP;
		snprintf(err, errlen, "cannot attach %s on ifindex %u: %s", sp->where, ifindex,
			 strerror(-rc));
		return rc;
	}
	t->tcx_fds[t->n_tcx++] = fd;
	return 0;
}

static int s_attach_dev(struct nb_tracer *t, const struct s_probe *sp, struct bpf_program *p,
			const struct nb_filter *f, char *err, size_t errlen)
{
	for (uint32_t j = 0; j < f->n_ifindex; j++) {
		int rc = s_tcx_link(t, sp, p, f->ifindex[j], err, errlen);

		if (rc)
			return rc;
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

	if (p && bpf_program__fd(p) >= 0 && !nb_hook_hidden(sp->where)) {
		switch (sp->kind) {
		case S_DEV_INGRESS:
		case S_DEV_EGRESS:
			rc = s_attach_dev(t, sp, p, f, err, errlen);
			/* A device that refused the link for another reason: err says which. */
			if (rc != -EOPNOTSUPP)
				return rc;
			break;
		case S_TRACEPOINT:
		case S_BY_SEC:
			t->links[i] = bpf_program__attach(p);
			rc = t->links[i] ? 0 : errno ? -errno : -EINVAL;
			break;
		case S_NETFILTER: /* a chain's: s_chain_attach */
		case S_KPROBE:
			break;
		}
	}
	if (rc)
		snprintf(err, errlen, "kernel lacks hook %s needed for %s: %s", sp->where,
			 s_stage_meaning(sp), strerror(-rc));
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

/*
 * The upcall mode's settings, or (off) its LRU maps cut to one entry each: an LRU map
 * allocates all its entries when it is created.
 */
#define S_UP_RODATA(skel, cfg)                                                                     \
	do {                                                                                       \
		(skel)->rodata->nb_up = (cfg)->up_idle_ns != 0;                                    \
		(skel)->rodata->nb_up_idle_ns = (cfg)->up_idle_ns;                                 \
		(skel)->rodata->nb_up_timeout_ns = (cfg)->up_timeout_ns;                           \
		(skel)->rodata->nb_up_sample_ns = (cfg)->up_sample_ns;                             \
		if (!(cfg)->up_idle_ns) {                                                          \
			bpf_map__set_max_entries((skel)->maps.nb_up_flows, 1);                     \
			bpf_map__set_max_entries((skel)->maps.nb_up_pend, 1);                      \
		}                                                                                  \
	} while (0)

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
	S_UP_RODATA(t->tcx, cfg);
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

/* Is prog a program of a row of set? */
static bool s_in_set(enum s_set set, const char *prog)
{
	for (size_t i = 0; i < S_NPROBES; i++)
		if (s_probes[i].set == set && !strcmp(s_probes[i].prog, prog))
			return true;
	return false;
}

/*
 * The nb_stage object with the programs of set only: the others may need what this kernel
 * lacks (the openvswitch module's types, kprobes).
 */
static int s_load_tp(struct nb_tracer *t, const struct nb_tracer_cfg *cfg, enum s_set set,
		     char *err, size_t errlen)
{
	struct bpf_program *p;
	int rc;

	t->tp = nb_stage_bpf__open();
	if (!t->tp) {
		rc = -errno;
		snprintf(err, errlen, "cannot open the BPF tracer: %s", strerror(errno));
		return rc ? rc : -EINVAL;
	}
	bpf_object__for_each_program(p, t->tp->obj)
		bpf_program__set_autoload(p, s_in_set(set, bpf_program__name(p)));
	t->tp->rodata->nb_cfg = cfg->filter;
	S_UP_RODATA(t->tp, cfg);
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
	bool want_tcx = (cfg->hooks == NB_HOOKS_AUTO || cfg->hooks == NB_HOOKS_TCX) &&
			cfg->filter.n_ifindex > 0 && cfg->filter.netns != 0;
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
	if (want_tcx && !nb_hook_hidden("tcx")) {
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
	if (cfg->hooks == NB_HOOKS_OVS_TP || cfg->hooks == NB_HOOKS_OVS_KP) {
		t->set = cfg->hooks == NB_HOOKS_OVS_TP ? S_OVS_TP : S_OVS_KP;
		rc = s_load_tp(t, cfg, t->set, err, errlen);
		if (!rc)
			rc = s_attach_set(t, cfg, t->set, err, errlen);
	} else if (rc == -EOPNOTSUPP) {
		rc = s_load_tp(t, cfg, S_TP, err, errlen);
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

uint64_t nb_tracer_ring_bytes(const struct nb_tracer *t)
{
	return t->events ? bpf_map__max_entries(t->events) : 0;
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
	switch (t->set) {
	case S_TCX:
	case S_LAT:
		return "tcx";
	case S_OVS_TP:
		return "openvswitch tracepoint and kprobe";
	case S_OVS_KP:
		return "openvswitch kprobes";
	default:
		return "tracepoint";
	}
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

int nb_tracer_up_counts(const struct nb_tracer *t, struct nb_up_counts *out)
{
	struct bpf_map *m = t->tcx ? t->tcx->maps.nb_up_cnt : t->tp ? t->tp->maps.nb_up_cnt : NULL;
	int ncpu = libbpf_num_possible_cpus();
	struct nb_up_counts *v;
	uint32_t zero = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!m || ncpu <= 0)
		return -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(m), &zero, v)) {
		rc = -errno;
		goto out;
	}
	for (int i = 0; i < ncpu; i++) {
		out->cand += v[i].cand;
		out->fast_in += v[i].fast_in;
		out->fast_out += v[i].fast_out;
		out->out_unknown += v[i].out_unknown;
		out->sampled += v[i].sampled;
		out->sample_out += v[i].sample_out;
		out->map_full += v[i].map_full;
		for (int j = 0; j < NB_MON_SLOTS; j++)
			out->fast_lat[j] += v[i].fast_lat[j];
	}
out:
	free(v);
	return rc;
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
	nb_lat_bpf__destroy(t->lat);
	free(t->chain);
	free(t);
	*pt = NULL;
}

/* ---- latency chains (common/nb_lat.h) ---- */

#define S_NF_PROG_TYPE	 32 /* BPF_PROG_TYPE_NETFILTER (Linux >= 6.4): libbpf 1.1 predates it */
#define S_NF_ATTACH_TYPE 45 /* BPF_NETFILTER */
#define S_NFPROTO_IPV4	 2
#define S_NFPROTO_IPV6	 10
/* The kernel refuses NF_IP_PRI_FIRST and NF_IP_PRI_LAST themselves: the nearest it allows. */
#define S_NF_PRIO_FIRST (INT32_MIN + 1)
#define S_NF_PRIO_LAST	(INT32_MAX - 1)
#define S_NF_PRIO_TRIES 64 /* tools at one hook at once, each at its own priority */
/*
 * What a chain's object loads. Only the programs its stages use are loaded: each costs its
 * verification, and the tracepoint ones a search of the kernel's BTF, tens of ms of the start.
 */
#define S_WANT_KP	1
#define S_WANT_NF	2
#define S_WANT_TCX	4 /* the device stages on tcx links */
#define S_WANT_TP	8 /* the device stages on the device tracepoints (no tcx) */

static const char *const s_nf_names[] = {"PRE_ROUTING", "LOCAL_IN", "FORWARD", "LOCAL_OUT",
					 "POST_ROUTING"};

static const struct s_probe *s_row(enum s_set set, enum s_kind kind, uint8_t karg)
{
	for (size_t i = 0; i < S_NPROBES; i++)
		if (s_probes[i].set == set && s_probes[i].kind == kind &&
		    (kind != S_KPROBE || s_probes[i].stage == karg))
			return &s_probes[i];
	return NULL;
}

/* A program of the chain object that the kernel loaded (and a test did not hide). */
static struct bpf_program *s_lat_prog(const struct nb_tracer *t, const struct s_probe *sp)
{
	struct bpf_program *p = sp ? bpf_object__find_program_by_name(t->obj, sp->prog) : NULL;

	return p && bpf_program__fd(p) >= 0 ? p : NULL;
}

/*
 * BPF_LINK_CREATE for a netfilter program by syscall: libbpf 1.1 has no netfilter options.
 * The link belongs to the caller's namespace. Returns the link fd or -errno.
 */
static int s_nf_link(int prog_fd, int pf, int hook, int prio)
{
	union bpf_attr a;
	uint32_t *nf = (uint32_t *)((char *)&a + 16); /* link_create.netfilter */
	int fd;

	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)prog_fd;
	a.link_create.attach_type = S_NF_ATTACH_TYPE;
	nf[0] = (uint32_t)pf;
	nf[1] = (uint32_t)hook;
	nf[2] = (uint32_t)prio;
	fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

/* Is this an answer of a kernel that lacks the hook, rather than a real failure? */
static bool s_lacks(int rc)
{
	return rc == -EOPNOTSUPP || rc == -ENOTSUP || rc == -EINVAL || rc == -ENOENT ||
	       rc == -ENODEV || rc == -ENXIO || rc == -ESRCH || rc == -EPROTONOSUPPORT;
}

/*
 * The netfilter links of stage i for the families the filter needs (only_v6: the IPv4 part
 * is a kprobe's). Inside the tool's namespace. 0, or -errno with why in err.
 */
static int s_chain_nf(struct nb_tracer *t, const struct nb_lat_stage *st, uint8_t family,
		      bool only_v6, char *err, size_t errlen)
{
	struct s_chain *c = t->chain;
	struct bpf_program *p = s_lat_prog(t, s_row(S_LAT, S_NETFILTER, 0));
	int pfs[2], npf = 0;
	char where[48];

	snprintf(where, sizeof(where), "netfilter/%s", s_nf_names[st->hook]);
	if (!p || nb_hook_hidden(where)) {
		snprintf(err, errlen, "kernel lacks BPF netfilter hooks (Linux >= 6.4)%s%s%s",
			 !p && c->load_rc ? ": the program did not load (" : "",
			 !p && c->load_rc ? strerror(-c->load_rc) : "",
			 !p && c->load_rc ? ")" : "");
		return -EOPNOTSUPP;
	}
	if (family != 6 && !only_v6)
		pfs[npf++] = S_NFPROTO_IPV4;
	if (family != 4)
		pfs[npf++] = S_NFPROTO_IPV6;
	for (int k = 0; k < npf; k++) {
		bool last = st->prio == NB_LAT_PRIO_LAST;
		int fd = -EBUSY;

		/*
		 * The kernel takes one BPF program per hook and priority (EBUSY): another tool
		 * at the same stage moves this one to the next free priority, still at the end.
		 */
		for (int32_t d = 0; fd == -EBUSY && d < S_NF_PRIO_TRIES; d++)
			fd = s_nf_link(bpf_program__fd(p), pfs[k], (int)st->hook,
				       last ? S_NF_PRIO_LAST - d : S_NF_PRIO_FIRST + d);
		if (fd < 0) {
			snprintf(err, errlen, "cannot attach %s: %s", where, strerror(-fd));
			return fd;
		}
		c->nf_fds[c->n_nf++] = fd;
	}
	return 0;
}

/* A kprobe on the stage's kernel function, its cookie the stage's hook. */
static int s_chain_kp(struct nb_tracer *t, int i, char *err, size_t errlen)
{
	struct s_chain *c = t->chain;
	const struct nb_lat_stage *st = &c->st[i];
	struct bpf_program *p = s_lat_prog(t, s_row(S_LAT, S_KPROBE, st->karg));
	char where[64];
	int rc;

	snprintf(where, sizeof(where), "kprobe/%s", st->kfunc);
	if (!p || nb_hook_hidden(where)) {
		snprintf(err, errlen, "no kprobe");
		return -EOPNOTSUPP;
	}
	LIBBPF_OPTS(bpf_kprobe_opts, o, .bpf_cookie = (uint64_t)(NB_HOOK_LAT0 + i));
	c->kp[i] = bpf_program__attach_kprobe_opts(p, st->kfunc, &o);
	if (c->kp[i])
		return 0;
	rc = errno ? -errno : -EINVAL;
	snprintf(err, errlen, "no kprobe on %s: %s", st->kfunc, strerror(-rc));
	return rc;
}

/* "ens4f0,ens4f1": the role's interfaces by name, for the header. */
static void s_if_names(const struct nb_lat_cfg *cfg, enum nb_lat_ifrole r, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (int j = 0; j < cfg->n_if[r] && o < len; j++) {
		char name[16];

		if (nb_netns_ifname(cfg->ns, cfg->ifindex[r][j], name))
			snprintf(name, sizeof(name), "#%u", cfg->ifindex[r][j]);
		o += (size_t)snprintf(buf + o, len - o, "%s%s", j ? "," : "", name);
	}
}

/*
 * The device stages: tcx links on each role's interfaces, or (no tcx, or --hooks tracepoint)
 * the device tracepoints for all of them. A missing tracepoint leaves its stages missing.
 */
static int s_chain_dev(struct nb_tracer *t, const struct nb_lat_cfg *cfg, char *err,
		       size_t errlen)
{
	struct s_chain *c = t->chain;
	int rc = cfg->hooks == NB_HOOKS_TP || nb_hook_hidden("tcx") ? -EOPNOTSUPP : 0;

	for (int i = 0; i < c->n && !rc; i++) {
		const struct nb_lat_stage *st = &c->st[i];
		const struct s_probe *sp;
		struct bpf_program *p;

		if (st->hook != NB_LAT_DEV_RX && st->hook != NB_LAT_DEV_TX)
			continue;
		sp = s_row(S_LAT, st->hook == NB_LAT_DEV_RX ? S_DEV_INGRESS : S_DEV_EGRESS, 0);
		p = s_lat_prog(t, sp);
		if (!p) {
			rc = -EOPNOTSUPP;
			break;
		}
		/* One link per device and direction serves every stage on it. */
		for (int j = 0; j < cfg->n_if[st->ifrole] && !rc; j++) {
			bool dup = false;

			for (int k = 0; k < i; k++)
				dup |= c->st[k].hook == st->hook && c->st[k].ifrole == st->ifrole;
			for (int k = 0; !dup && k < i; k++)
				for (int m = 0; m < cfg->n_if[c->st[k].ifrole]; m++)
					dup |= c->st[k].hook == st->hook &&
					       cfg->ifindex[c->st[k].ifrole][m] ==
						       cfg->ifindex[st->ifrole][j];
			if (!dup)
				rc = s_tcx_link(t, sp, p, cfg->ifindex[st->ifrole][j], err, errlen);
		}
	}
	if (!rc) {
		for (int i = 0; i < c->n; i++) {
			const struct nb_lat_stage *st = &c->st[i];
			char names[80];

			if (st->hook != NB_LAT_DEV_RX && st->hook != NB_LAT_DEV_TX)
				continue;
			s_if_names(cfg, st->ifrole, names, sizeof(names));
			snprintf(c->src[i], sizeof(c->src[i]), "%s: tcx %s %s", st->name,
				 st->hook == NB_LAT_DEV_RX ? "ingress" : "egress", names);
			c->ok[i] = true;
		}
		return 0;
	}
	if (rc != -EOPNOTSUPP)
		return rc;
	if (cfg->hooks == NB_HOOKS_TCX) {
		snprintf(err, errlen, "kernel lacks hook tcx (Linux >= 6.6) needed for the device "
				      "stages");
		return -EOPNOTSUPP;
	}
	/* The tracepoint programs were left out for tcx: the caller loads the object again. */
	if (!(c->want & S_WANT_TP))
		return -EAGAIN;
	for (int k = 0; k < t->n_tcx; k++)
		close(t->tcx_fds[k]);
	t->n_tcx = 0;
	c->dev_tp = true;
	for (int i = 0; i < c->n; i++) {
		const struct nb_lat_stage *st = &c->st[i];
		const struct s_probe *sp;
		size_t r;
		char names[80];

		if (st->hook != NB_LAT_DEV_RX && st->hook != NB_LAT_DEV_TX)
			continue;
		for (r = 0; r < S_NPROBES; r++)
			if (s_probes[r].set == S_LAT_TP &&
			    !strcmp(s_probes[r].prog,
				    st->hook == NB_LAT_DEV_RX ? "nb_lat_rx" : "nb_lat_tx"))
				break;
		sp = &s_probes[r];
		if (!t->links[r] && s_lat_prog(t, sp) && !nb_hook_hidden(sp->where)) {
			t->links[r] = bpf_program__attach(s_lat_prog(t, sp));
			if (!t->links[r] && !s_lacks(errno ? -errno : -EINVAL)) {
				snprintf(err, errlen, "cannot attach %s: %s", sp->where,
					 strerror(errno));
				return errno ? -errno : -EINVAL;
			}
		}
		if (!t->links[r]) {
			snprintf(c->src[i], sizeof(c->src[i]), "%s: missing (kernel lacks %s)",
				 st->name, sp->where);
			continue;
		}
		s_if_names(cfg, st->ifrole, names, sizeof(names));
		snprintf(c->src[i], sizeof(c->src[i]), "%s: tracepoint %s on %s", st->name,
			 sp->where + strlen("tp_btf/"), names);
		c->ok[i] = true;
	}
	return 0;
}

/* Every stage: its kprobe, else its netfilter hook; then the device stages. */
static int s_chain_attach(struct nb_tracer *t, const struct nb_lat_cfg *cfg, char *err,
			  size_t errlen)
{
	struct s_chain *c = t->chain;
	uint8_t family = cfg->filter.family;
	struct nb_netns own = {.fd = -1};
	int self, rc;

	rc = nb_netns_enter(cfg->ns ? cfg->ns : &own, &self, err, errlen);
	if (rc)
		return rc;
	for (int i = 0; i < c->n && !rc; i++) {
		const struct nb_lat_stage *st = &c->st[i];
		const char *nf = st->hook <= NB_LAT_NF_POST_ROUTING ? s_nf_names[st->hook] : NULL;
		const char *prio = st->prio == NB_LAT_PRIO_LAST ? "last" : "first";
		char why[96] = "", nferr[96];

		if (!nf)
			continue;
		if (st->kfunc && st->karg && !s_chain_kp(t, i, why, sizeof(why))) {
			/* The kernel functions are IPv4's: IPv6 at the stable hook. */
			if (family != 4 && s_chain_nf(t, st, family, true, nferr, sizeof(nferr))) {
				snprintf(c->src[i], sizeof(c->src[i]),
					 "%s: kprobe %s (IPv4 only: %s)", st->name, st->kfunc,
					 nferr);
			} else {
				snprintf(c->src[i], sizeof(c->src[i]), "%s: kprobe %s%s%s%s%s",
					 st->name, st->kfunc, family != 4 ? "; IPv6: netfilter " : "",
					 family != 4 ? nf : "", family != 4 ? ", " : "",
					 family != 4 ? prio : "");
			}
			c->ok[i] = true;
			continue;
		}
		rc = s_chain_nf(t, st, family, false, nferr, sizeof(nferr));
		if (!rc) {
			snprintf(c->src[i], sizeof(c->src[i]), "%s: netfilter %s, %s%s", st->name,
				 nf, prio, st->kfunc ? " (no kprobe)" : "");
			c->ok[i] = true;
		} else if (s_lacks(rc)) {
			snprintf(c->src[i], sizeof(c->src[i]), "%s: missing (%s%s%s)", st->name,
				 st->kfunc ? why : "", st->kfunc ? "; " : "", nferr);
			rc = 0;
		} else {
			snprintf(err, errlen, "stage %s: %s", st->name, nferr);
		}
	}
	if (!rc)
		rc = s_chain_dev(t, cfg, err, errlen);
	rc = nb_netns_leave(self, rc, err, errlen);
	if (!rc) {
		int n_ok = 0;

		for (int i = 0; i < c->n; i++)
			n_ok += c->ok[i];
		if (!n_ok) {
			snprintf(err, errlen, "kernel lacks every stage of the chain (%s)",
				 c->src[0]);
			rc = -EOPNOTSUPP;
		}
	}
	if (rc)
		s_detach(t);
	return rc;
}

/* Open and load the chain object with the kinds in want (S_WANT_*) loaded. */
static int s_chain_load(struct nb_tracer *t, const struct nb_lat_cfg *cfg,
			const struct nb_filter *f, uint32_t l3_mask, int want)
{
	struct s_chain *c = t->chain;
	struct nb_lat_bpf *o = nb_lat_bpf__open();
	bool nf = false, kp[2] = {false, false}, dev[2] = {false, false};
	int rc;

	if (!o)
		return errno ? -errno : -EINVAL;
	for (int i = 0; i < c->n; i++) {
		const struct nb_lat_stage *st = &c->st[i];

		nf |= st->hook <= NB_LAT_NF_POST_ROUTING;
		kp[0] |= st->kfunc && st->karg == 1;
		kp[1] |= st->kfunc && st->karg == 3;
		dev[0] |= st->hook == NB_LAT_DEV_RX;
		dev[1] |= st->hook == NB_LAT_DEV_TX;
	}
	o->rodata->nb_cfg = *f;
	o->rodata->nb_l3_mask = l3_mask;
	o->rodata->nb_noop = s_noop();
	o->rodata->nb_hist = cfg->hist;
	for (int i = 0; i < c->n; i++) {
		const struct nb_lat_stage *st = &c->st[i];

		if (i + 1 == c->n || c->st[i + 1].path != st->path)
			o->rodata->nb_path_end |= 1u << i;
		o->rodata->nb_stage_path[i] = st->path;
		if (st->hook <= NB_LAT_NF_POST_ROUTING)
			o->rodata->nb_nf_hook[st->hook] = (uint8_t)(NB_HOOK_LAT0 + i);
		for (int j = 0; j < cfg->n_if[st->ifrole] &&
				(st->hook == NB_LAT_DEV_RX || st->hook == NB_LAT_DEV_TX);
		     j++)
			for (uint32_t k = 0; k < f->n_ifindex; k++)
				if (f->ifindex[k] == cfg->ifindex[st->ifrole][j])
					o->rodata->nb_dev_hook[st->hook == NB_LAT_DEV_TX][k] =
						(uint8_t)(NB_HOOK_LAT0 + i);
	}
	bpf_program__set_type(o->progs.nb_lat_nf, S_NF_PROG_TYPE);
	bpf_program__set_expected_attach_type(o->progs.nb_lat_nf, S_NF_ATTACH_TYPE);
	bpf_program__set_autoload(o->progs.nb_lat_nf, (want & S_WANT_NF) && nf);
	bpf_program__set_autoload(o->progs.nb_lat_kp1, (want & S_WANT_KP) && kp[0]);
	bpf_program__set_autoload(o->progs.nb_lat_kp3, (want & S_WANT_KP) && kp[1]);
	bpf_program__set_autoload(o->progs.nb_lat_tcx_rx, (want & S_WANT_TCX) && dev[0]);
	bpf_program__set_autoload(o->progs.nb_lat_tcx_tx, (want & S_WANT_TCX) && dev[1]);
	bpf_program__set_autoload(o->progs.nb_lat_rx, (want & S_WANT_TP) && dev[0]);
	bpf_program__set_autoload(o->progs.nb_lat_tx, (want & S_WANT_TP) && dev[1]);
	c->want = want;
	/* Histograms need no ring: the smallest one the kernel takes. */
	if (cfg->hist) {
		bpf_map__set_max_entries(o->maps.nb_events, (uint32_t)sysconf(_SC_PAGESIZE));
	} else {
		if (cfg->ringbuf_bytes)
			bpf_map__set_max_entries(o->maps.nb_events, cfg->ringbuf_bytes);
		/* Events need no per-packet records: the least an LRU map spreads over CPUs. */
		bpf_map__set_max_entries(o->maps.nb_lat_last,
					 (uint32_t)libbpf_num_possible_cpus());
	}
	o->rodata->nb_nr_cpus = (uint32_t)libbpf_num_possible_cpus();
	rc = nb_lat_bpf__load(o);
	if (rc) {
		nb_lat_bpf__destroy(o);
		return rc;
	}
	t->lat = o;
	t->obj = o->obj;
	t->events = o->maps.nb_events;
	t->bss = (struct nb_stage_bpf__bss *)o->bss;
	return 0;
}

/* Forget a loaded chain object and what its attach said, before loading it again. */
static void s_chain_unload(struct nb_tracer *t)
{
	struct s_chain *c = t->chain;

	nb_lat_bpf__destroy(t->lat);
	t->lat = NULL;
	t->obj = NULL;
	t->events = NULL;
	t->bss = NULL;
	memset(c->src, 0, sizeof(c->src));
	memset(c->ok, 0, sizeof(c->ok));
	c->dev_tp = false;
	c->load_rc = 0;
}

/*
 * Kprobes exist: the kprobe PMU (Linux >= 4.17) or the tracefs interface libbpf falls back to.
 * Without them (no CONFIG_KPROBES) the kprobe programs are not even loaded.
 * NB_TEST_HIDE_HOOKS=kprobe makes them look absent.
 */
bool nb_have_kprobes(void)
{
	if (nb_hook_hidden("kprobe"))
		return false;
	return !access("/sys/bus/event_source/devices/kprobe/type", F_OK) ||
	       !access("/sys/kernel/tracing/kprobe_events", F_OK) ||
	       !access("/sys/kernel/debug/tracing/kprobe_events", F_OK);
}

/*
 * The kernel knows tcx (Linux >= 6.6): a query of loopback's (ifindex 1 in every namespace)
 * tcx programs, which an older kernel refuses as an unknown attach type (EINVAL). Any other
 * answer leaves it to the attach.
 */
static bool s_have_tcx(void)
{
	__u32 cnt = 0;

	return !bpf_prog_query(1, (enum bpf_attach_type)S_TCX_INGRESS, 0, NULL, NULL, &cnt) ||
	       errno != EINVAL;
}

int nb_tracer_open_chain(struct nb_tracer **out, const struct nb_lat_cfg *cfg, nb_event_fn fn,
			 void *ctx, char *err, size_t errlen)
{
	/* A kernel without kprobes, or without BPF netfilter programs, still loads the rest. */
	static const int tries[] = {S_WANT_KP | S_WANT_NF, S_WANT_NF, S_WANT_KP, 0};
	struct nb_filter f = cfg->filter;
	struct nb_tracer_cfg tc = {.ns = cfg->ns};
	struct nb_tracer *t;
	uint32_t l3_mask = 0;
	bool want_kp = nb_have_kprobes();
	/* The device stages' programs: tcx where the kernel has it, else the tracepoints. */
	int dev = cfg->hooks == NB_HOOKS_TP || nb_hook_hidden("tcx") ? S_WANT_TP
		  : cfg->hooks == NB_HOOKS_TCX || s_have_tcx()	  ? S_WANT_TCX
								  : S_WANT_TP;
	int rc = 0, first_rc = 0;

	*out = NULL;
	if (cfg->nstages < 1 || cfg->nstages > NB_LAT_MAX_STAGES) {
		snprintf(err, errlen, "a chain has 1 to %d stages", NB_LAT_MAX_STAGES);
		return -EINVAL;
	}
	/* The filter's interfaces: every role's, each once; a device stage maps a slot. */
	f.n_ifindex = 0;
	for (int r = 0; r < 3; r++)
		for (int j = 0; j < cfg->n_if[r]; j++) {
			uint32_t k;

			for (k = 0; k < f.n_ifindex && f.ifindex[k] != cfg->ifindex[r][j]; k++)
				;
			if (k < f.n_ifindex)
				continue;
			if (f.n_ifindex == NB_MAX_IFS) {
				snprintf(err, errlen, "at most %d interfaces in all", NB_MAX_IFS);
				return -EINVAL;
			}
			f.ifindex[f.n_ifindex++] = cfg->ifindex[r][j];
		}
	t = calloc(1, sizeof(*t));
	if (t)
		t->chain = calloc(1, sizeof(*t->chain));
	if (!t || !t->chain) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->fn = fn;
	t->ctx = ctx;
	t->set = S_LAT;
	t->chain->n = cfg->nstages;
	for (int i = 0; i < cfg->nstages; i++) {
		t->chain->st[i] = cfg->stages[i];
		/* Two stages at one netfilter hook would be one link: the program tells by hook. */
		for (int k = 0; k < i; k++)
			if (cfg->stages[i].hook <= NB_LAT_NF_POST_ROUTING &&
			    cfg->stages[k].hook == cfg->stages[i].hook) {
				snprintf(err, errlen, "stages %s and %s share a netfilter hook",
					 cfg->stages[k].name, cfg->stages[i].name);
				rc = -EINVAL;
				goto fail;
			}
	}
	tc.filter = f;
	rc = s_l3_mask(&tc, &l3_mask, err, errlen);
	if (rc)
		goto fail;
load:
	for (size_t k = 0; k < sizeof(tries) / sizeof(tries[0]); k++) {
		if ((tries[k] & S_WANT_KP) && !want_kp)
			continue;
		rc = s_chain_load(t, cfg, &f, l3_mask, tries[k] | dev);
		if (!first_rc)
			first_rc = rc;
		t->chain->load_rc = first_rc;
		if (!rc || rc == -EPERM)
			break;
	}
	if (rc) {
		s_load_err(first_rc ? first_rc : rc, err, errlen);
		goto fail;
	}
	rc = s_chain_attach(t, cfg, err, errlen);
	if (rc == -EAGAIN && dev == S_WANT_TCX) {
		/* The kernel refused the tcx links: the object again, with the tracepoints. */
		s_chain_unload(t);
		dev = S_WANT_TP;
		first_rc = 0;
		goto load;
	}
	if (rc)
		goto fail;
	if (t->chain->dev_tp)
		t->set = S_LAT_TP;
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

const char *nb_tracer_stage_source(const struct nb_tracer *t, int i)
{
	if (!t->chain || i < 0 || i >= t->chain->n)
		return NULL;
	return t->chain->src[i];
}

bool nb_tracer_stage_ok(const struct nb_tracer *t, int i)
{
	return t->chain && i >= 0 && i < t->chain->n && t->chain->ok[i];
}

static int s_percpu_sums(struct bpf_map *map, uint32_t n, uint64_t *out);

void nb_tracer_lat_stats(const struct nb_tracer *t, struct nb_lat_stats *st)
{
	uint64_t hist_matched = 0;

	memset(st, 0, sizeof(*st));
	st->matched = nb_tracer_matched(t);
	st->lost = nb_tracer_lost(t);
	if (!t->lat)
		return;
	/* Histogram mode counts its matched packets per CPU (nb_lat_matched), events mode not. */
	if (!s_percpu_sums(t->lat->maps.nb_lat_matched, 1, &hist_matched))
		st->matched += hist_matched;
	st->parse_err = __atomic_load_n(&t->lat->bss->nb_parse_err, __ATOMIC_RELAXED);
	st->no_prev = __atomic_load_n(&t->lat->bss->nb_no_prev, __ATOMIC_RELAXED);
	st->last_full = __atomic_load_n(&t->lat->bss->nb_last_full, __ATOMIC_RELAXED);
}

/* The per-CPU array map's n values, each summed over the CPUs. */
static int s_percpu_sums(struct bpf_map *map, uint32_t n, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	int fd;
	uint64_t *v;

	if (ncpu <= 0)
		return -EINVAL;
	fd = bpf_map__fd(map);
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t k = 0; k < n; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, v)) {
			int rc = -errno;

			free(v);
			return rc;
		}
		for (int c = 0; c < ncpu; c++)
			out[k] += v[c];
	}
	free(v);
	return 0;
}

int nb_tracer_hist(const struct nb_tracer *t, uint64_t *out)
{
	if (!t->lat)
		return -EINVAL;
	return s_percpu_sums(t->lat->maps.nb_lat_hist, NB_LAT_HIST_SLOTS, out);
}

int nb_tracer_hist_sum(const struct nb_tracer *t, uint64_t *out)
{
	if (!t->lat)
		return -EINVAL;
	return s_percpu_sums(t->lat->maps.nb_lat_sum, NB_LAT_MAX_STAGES * NB_LAT_MAX_STAGES, out);
}
