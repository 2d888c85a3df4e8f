// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * vhost_queue_correlation_simple: per queue of a VM's vnet/tap, the vhost-net worker serving it,
 * its virtqueues, packets moved, guest signals sent and suppressed, kicks, and the time from
 * the tap's enqueue to the worker's dequeue (bpf/nb_vhost.bpf.c, common/nb_vhost.c).
 *
 * It needs kprobes and the vhost/vhost_net modules' BTF: both are checked before anything is
 * loaded, and a kernel without them gets one line naming what is missing (exit 1).
 */
#include "nb_tool.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "nb_log.h"
#include "nb_time.h"
#include "nb_vhost.h"
#include "nb_vhost.skel.h"

#define S_POLL_MS 100

struct s_vh {
	struct nb_vhost_bpf *skel;
	struct ring_buffer *rb;
	struct nb_vhost *v;
	const char *ifname;
};

static int s_check(struct nb_rt *rt, void *st)
{
	int rc = nb_tool_device_alias(rt, NB_RT_IF_VM);

	(void)st;
	if (rc)
		return rc;
	if (rt->ifs[NB_RT_IF_VM].n != 1) {
		nb_err("one VM interface at a time: --vm-interface takes one device");
		return NB_EXIT_USAGE;
	}
	return 0;
}

/* Is struct name in the kernel's BTF or in the module's (/sys/kernel/btf/MODULE)? */
static bool s_btf_has(const char *module, const char *name)
{
	struct btf *vml = btf__load_vmlinux_btf(), *mod = NULL;
	char path[128];
	bool yes = false;

	if (!vml)
		return false;
	if (btf__find_by_name_kind(vml, name, BTF_KIND_STRUCT) > 0) {
		yes = true;
	} else {
		snprintf(path, sizeof(path), "/sys/kernel/btf/%s", module);
		mod = btf__parse_split(path, vml);
		yes = mod && btf__find_by_name_kind(mod, name, BTF_KIND_STRUCT) > 0;
	}
	btf__free(mod);
	btf__free(vml);
	return yes;
}

/*
 * What the kernel must have, all of it named in one line when something is missing: kprobes,
 * vhost_net's types, the functions probed. Test knob: NB_TEST_HIDE_HOOKS=kprobe makes kprobes
 * look absent. The kernel symbols (*sym) are read only once vhost_net's BTF was found and
 * freed again, so the two are never resident together (docs/ARCHITECTURE.md, "Start and memory
 * of the single-host tools").
 */
static int s_probe_kernel(struct s_vh *t, struct nb_sym **sym)
{
	static const char *const funcs[] = {"handle_rx_net",  "handle_tx_net", "handle_rx_kick",
					    "handle_tx_kick", "tun_recvmsg",   "tun_sendmsg",
					    "vhost_signal"};
	char missing[512] = "", err[256];
	size_t n = 0;
	uint64_t lo, hi;
	bool mask;

#define S_MISSING(...)                                                                             \
	n += (size_t)snprintf(missing + n, n < sizeof(missing) ? sizeof(missing) - n : 0,          \
			      __VA_ARGS__)
	if (!nb_have_kprobes())
		S_MISSING("%skprobes (CONFIG_KPROBES)", n ? ", " : "");
	if (!s_btf_has("vhost_net", "vhost_net"))
		S_MISSING(
		    "%sthe vhost_net module (no BTF for struct vhost_net: modprobe vhost_net)",
		    n ? ", " : "");
	else if (nb_sym_open_ksyms(sym, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_ERR;
	} else
		for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
			if (nb_sym_range(*sym, funcs[i], &lo, &hi) == -ENOENT)
				S_MISSING("%sfunction %s", n ? ", " : "", funcs[i]);
#undef S_MISSING
	if (n) {
		nb_err("kernel lacks what vhost_queue_correlation_simple needs: %s", missing);
		return NB_EXIT_ERR;
	}
	/* Linux >= 6.8 signals through eventfd_signal_mask (eventfd_signal is inline). */
	mask = nb_sym_range(*sym, "eventfd_signal_mask", &lo, &hi) != -ENOENT;
	bpf_program__set_autoload(t->skel->progs.nb_vh_efd_mask, mask);
	bpf_program__set_autoload(t->skel->progs.nb_vh_efd, !mask);
	return 0;
}

static int s_on_ev(void *ctx, void *data, size_t size)
{
	struct nb_rt *rt = ctx;
	struct s_vh *t = rt->st;
	const struct nb_vh_ev *e = data;

	if (size < sizeof(*e))
		return 0;
	nb_vhost_add(t->v, e);
	if (rt->o.verbose && (rt->o.queue < 0 || e->queue == rt->o.queue)) {
		char wall[32];

		nb_fmt_wall(e->ts_ns + (uint64_t)rt->wall_off, 6, wall, sizeof(wall));
		printf("%s type %u queue %u vq 0x%llx sock 0x%llx tid %u (%s) suppress %u\n", wall,
		       e->type, e->queue, (unsigned long long)e->vq, (unsigned long long)e->sock,
		       e->tid, e->comm, e->suppress);
	}
	return 0;
}

static int s_setup(struct nb_rt *rt, void *st)
{
	struct s_vh *t = st;
	const struct nb_iflist *ifs = &rt->ifs[NB_RT_IF_VM];
	struct nb_sym *sym = NULL;
	struct nb_filter *f;
	char drv[40];
	uint64_t lo, hi;
	int rc;

	t->ifname = ifs->names[0];
	rc = nb_netns_driver(&rt->ns, t->ifname, drv, sizeof(drv));
	if (rc || strcmp(drv, "tun")) {
		nb_err("'%s' is not a vnet/tap device (driver %s)", t->ifname,
		       rc ? strerror(-rc) : drv);
		return NB_EXIT_USAGE;
	}
	t->skel = nb_vhost_bpf__open();
	t->v = nb_vhost_new();
	if (!t->skel || !t->v) {
		nb_err("cannot open the BPF vhost monitor: %s", strerror(errno ? errno : ENOMEM));
		rc = NB_EXIT_ERR;
		goto out;
	}
	rc = s_probe_kernel(t, &sym);
	if (rc)
		goto out;
	f = (struct nb_filter *)&t->skel->rodata->nb_cfg;
	f->netns = rt->ns.inum;
	f->ifindex[0] = ifs->ifindex[0];
	f->n_ifindex = 1;
	if (!nb_sym_range(sym, "tun_do_read", &lo, &hi)) {
		t->skel->rodata->nb_deq_lo[0] = lo;
		t->skel->rodata->nb_deq_hi[0] = hi;
		if (!nb_sym_range(sym, "tun_do_read.cold", &lo, &hi)) {
			t->skel->rodata->nb_deq_lo[1] = lo;
			t->skel->rodata->nb_deq_hi[1] = hi;
		}
	} else if (!nb_sym_range(sym, "tun_recvmsg", &lo, &hi)) {
		t->skel->rodata->nb_deq_lo[0] = lo;
		t->skel->rodata->nb_deq_hi[0] = hi;
	}
	bpf_map__set_max_entries(t->skel->maps.nb_events, (uint32_t)rt->o.ringbuf_kb * 1024);
	/* The symbols are in the object's data: freed before the load reads the kernel's BTF. */
	nb_sym_destroy(&sym);
	rc = nb_vhost_bpf__load(t->skel);
	if (rc) {
		nb_err("cannot load the BPF vhost monitor: %s", strerror(-rc));
		rc = NB_EXIT_ERR;
		goto out;
	}
	rc = nb_vhost_bpf__attach(t->skel);
	if (rc) {
		nb_err("cannot attach the vhost probes: %s", strerror(-rc));
		rc = NB_EXIT_ERR;
		goto out;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.nb_events), s_on_ev, rt, NULL);
	if (!t->rb) {
		nb_err("cannot open the ring buffer: %s", strerror(errno));
		rc = NB_EXIT_ERR;
		goto out;
	}
	rc = 0;
out:
	nb_sym_destroy(&sym);
	return rc;
}

static void s_teardown(struct nb_rt *rt, void *st)
{
	struct s_vh *t = st;

	(void)rt;
	ring_buffer__free(t->rb);
	nb_vhost_bpf__destroy(t->skel);
	nb_vhost_free(&t->v);
}

static void s_start(struct nb_rt *rt, void *st, json_t *start)
{
	struct s_vh *t = st;

	if (start) {
		json_object_set_new(start, "interface", json_string(t->ifname));
		json_object_set_new(start, "interval_s", json_integer(rt->o.interval));
		return;
	}
	printf("vhost queue correlation on %s: every %ld s. Ctrl-C to end.\n", t->ifname,
	       rt->o.interval);
}

static int s_poll(struct nb_rt *rt, void *st, int timeout_ms)
{
	struct s_vh *t = st;
	int n;

	(void)rt;
	n = ring_buffer__poll(t->rb, timeout_ms);
	return n == -EINTR ? 0 : n;
}

static void s_q_json(json_t *x, const struct nb_vhost_queue *q, const struct nb_vhost_qstat *c)
{
	char vq[32];

	json_object_set_new(x, "queue", json_integer(q->queue));
	json_object_set_new(x, "worker", json_string(q->bound ? q->worker : ""));
	json_object_set_new(x, "worker_tid", json_integer(q->worker_tid));
	snprintf(vq, sizeof(vq), "0x%llx", (unsigned long long)q->rx_vq);
	json_object_set_new(x, "rx_vq", json_string(vq));
	snprintf(vq, sizeof(vq), "0x%llx", (unsigned long long)q->tx_vq);
	json_object_set_new(x, "tx_vq", json_string(vq));
	json_object_set_new(x, "rebinds", json_integer(q->rebinds));
	json_object_set_new(x, "moved_rx", json_integer((json_int_t)c->moved_rx));
	json_object_set_new(x, "moved_tx", json_integer((json_int_t)c->moved_tx));
	json_object_set_new(x, "signals_sent", json_integer((json_int_t)c->signals_sent));
	json_object_set_new(x, "suppressed_event_idx",
			    json_integer((json_int_t)c->suppressed[NB_VH_SUPP_EVENT_IDX]));
	json_object_set_new(x, "suppressed_no_interrupt",
			    json_integer((json_int_t)c->suppressed[NB_VH_SUPP_NO_INTERRUPT]));
	json_object_set_new(x, "suppressed_no_call",
			    json_integer((json_int_t)c->suppressed[NB_VH_SUPP_NO_CALL]));
	json_object_set_new(x, "kicks_rx", json_integer((json_int_t)c->kicks_rx));
	json_object_set_new(x, "kicks_tx", json_integer((json_int_t)c->kicks_tx));
	json_object_set_new(x, "dequeued_unmatched", json_integer((json_int_t)c->deq_unmatched));
	json_object_set_new(x, "enqueue_to_dequeue_us",
			    nb_out_log2_json((const uint64_t *)c->lat, NB_MON_SLOTS));
}

static void s_q_text(const struct nb_vhost_queue *q, const struct nb_vhost_qstat *c)
{
	printf("  queue %u: worker %s (tid %u)  rx vq 0x%llx  tx vq 0x%llx%s\n", q->queue,
	       q->bound ? q->worker : "-", q->worker_tid, (unsigned long long)q->rx_vq,
	       (unsigned long long)q->tx_vq, q->rebinds ? "  (rebound)" : "");
	printf("    moved rx %llu tx %llu  signals sent %llu suppressed %llu (EVENT_IDX %llu, "
	       "NO_INTERRUPT %llu, no call fd %llu)  kicks rx %llu tx %llu\n",
	       (unsigned long long)c->moved_rx, (unsigned long long)c->moved_tx,
	       (unsigned long long)c->signals_sent, (unsigned long long)nb_vhost_suppressed(c),
	       (unsigned long long)c->suppressed[NB_VH_SUPP_EVENT_IDX],
	       (unsigned long long)c->suppressed[NB_VH_SUPP_NO_INTERRUPT],
	       (unsigned long long)c->suppressed[NB_VH_SUPP_NO_CALL],
	       (unsigned long long)c->kicks_rx, (unsigned long long)c->kicks_tx);
	printf("    tap enqueue to vhost dequeue:\n");
	nb_out_log2_text("usecs", (const uint64_t *)c->lat, NB_MON_SLOTS, 4);
}

static void s_report(struct nb_rt *rt, struct s_vh *t, uint64_t now, bool total)
{
	json_t *o = NULL, *qs = NULL;
	char wall[32];

	nb_fmt_wall(now + (uint64_t)rt->wall_off, 0, wall, sizeof(wall));
	if (rt->o.json) {
		o = json_object();
		qs = json_array();
		json_object_set_new(o, "type", json_string(total ? "summary" : "interval"));
		json_object_set_new(o, "time", json_string(wall));
		json_object_set_new(o, "interface", json_string(t->ifname));
	} else {
		printf(total ? "=== Summary: %s ===\n" : "%s %s\n", total ? t->ifname : wall,
		       t->ifname);
	}
	for (unsigned i = 0; i < NB_VHOST_MAXQ; i++) {
		const struct nb_vhost_queue *q = nb_vhost_queue(t->v, i);

		if (!q || (rt->o.queue >= 0 && i != (unsigned)rt->o.queue))
			continue;
		if (o) {
			json_t *x = json_object();

			s_q_json(x, q, total ? &q->total : &q->iv);
			json_array_append_new(qs, x);
		} else {
			s_q_text(q, total ? &q->total : &q->iv);
		}
	}
	if (total) {
		struct nb_vhost_stats s;

		nb_vhost_stats(t->v, &s);
		if (o) {
			json_object_set_new(o, "lost_events",
					    json_integer((json_int_t)t->skel->bss->nb_lost));
			json_object_set_new(o, "unattributed_kicks",
					    json_integer((json_int_t)s.unattributed_kicks));
			json_object_set_new(o, "unattributed_signals",
					    json_integer((json_int_t)s.unattributed_signals));
			json_object_set_new(o, "evicted", json_integer((json_int_t)s.evicted));
		} else {
			printf("Lost events: %llu  unattributed kicks %llu signals %llu\n",
			       (unsigned long long)t->skel->bss->nb_lost,
			       (unsigned long long)s.unattributed_kicks,
			       (unsigned long long)s.unattributed_signals);
		}
	}
	if (o) {
		json_object_set_new(o, "queues", qs);
		nb_out_json(o);
	}
}

static int s_tick(struct nb_rt *rt, void *st, uint64_t now, bool last)
{
	struct s_vh *t = st;

	if (!nb_period_due(&rt->period, now) && !last)
		return 0;
	ring_buffer__consume(t->rb);
	s_report(rt, t, now, false);
	nb_vhost_interval(t->v);
	nb_period_close(&rt->period, now, NULL);
	return 0;
}

static int s_summary(struct nb_rt *rt, void *st)
{
	s_report(rt, st, nb_mono_ns(), true);
	return NB_EXIT_OK;
}

const struct nb_tool_ops nb_vhost_ops = {
	.state_size = sizeof(struct s_vh),
	.check = s_check,
	.setup = s_setup,
	.start = s_start,
	.poll = s_poll,
	.tick = s_tick,
	.summary = s_summary,
	.teardown = s_teardown,
	.poll_ms = S_POLL_MS,
};
