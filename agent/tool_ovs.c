// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ovs_upcall_latency_summary: how long the first packet of a new flow takes through Open
 * vSwitch (the upcall: datapath miss, slow path decision, packet sent on). Where the kernel
 * datapath's hooks exist (the openvswitch module, its ovs_dp_upcall tracepoint or function,
 * kprobes on ovs_flow_key_extract_userspace), from the upcall to the re-injection; else from
 * outside the switch with the stage tracer on its ports: the packet entering one port and
 * leaving another, which serves the userspace (netdev) datapath too. There later packets of
 * the flow take the fast path and are the baseline, counted in the kernel (common/nb_upcall.c,
 * bpf/nb_stage.bpf.h). nb_ovs_choose() decides, the header says which and why.
 */
#include "nb_tool.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "nb_log.h"
#include "nb_pktfmt.h"
#include "nb_time.h"
#include "nb_upcall.h"

#define S_POLL_MS 100
#define S_IDLE_NS (10000ull * 1000000ull) /* OVS's default datapath flow max-idle */
#define S_SAMPLE_NS 1000000ull		    /* fast-path latency: one packet per ms per CPU */

struct s_ovs {
	struct nb_tracer *tr;
	struct nb_upcall *u;
	struct nb_iflist *ports;
	bool discovered;
	enum nb_ovs_method method;
	char why[192]; /* the hooks used, or why not the kernel datapath's */
};

static int s_check(struct nb_rt *rt, void *st)
{
	(void)st;
	if ((rt->o.src_port || rt->o.dst_port) && rt->proto && rt->proto != IPPROTO_TCP &&
	    rt->proto != IPPROTO_UDP) {
		nb_err("--src-port/--dst-port need --protocol tcp or udp");
		return NB_EXIT_USAGE;
	}
	return 0;
}

/* One line of output of an ovs-vsctl command per name, into names; -errno or the count. */
static int s_vsctl(const char *args, char names[][16], int max, int *n, char *err, size_t errlen)
{
	char cmd[256], line[256], last[256] = "failed";
	FILE *f;
	int rc;

	snprintf(cmd, sizeof(cmd), "ovs-vsctl --timeout=5 %s 2>&1", args);
	f = popen(cmd, "r");
	if (!f) {
		snprintf(err, errlen, "cannot run ovs-vsctl: %s", strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(last, sizeof(last), "%s", line);
		if (*n >= max) {
			pclose(f);
			snprintf(err, errlen,
				 "more than %d OVS ports: name the ones to watch with --interface",
				 max);
			return -E2BIG;
		}
		snprintf(names[(*n)++], 16, "%.15s", line);
	}
	rc = pclose(f);
	if (rc) {
		snprintf(err, errlen, "no Open vSwitch to ask for its ports (ovs-vsctl %s: %s)",
			 args, last);
		return -ENOENT;
	}
	return 0;
}

/* Without --interface: every port of every bridge that is a device of the namespace. */
static int s_discover(struct nb_rt *rt, struct s_ovs *o)
{
	struct nb_iflist *l = &rt->ifs[NB_RT_IF_ANY];
	char brs[NB_MAX_IFS][16], names[NB_MAX_IFS][16], err[256];
	int nbr = 0, n = 0;

	if (s_vsctl("list-br", brs, NB_MAX_IFS, &nbr, err, sizeof(err)))
		goto fail;
	for (int i = 0; i < nbr; i++) {
		char args[160];

		snprintf(args, sizeof(args), "list-ports %.15s", brs[i]);
		if (s_vsctl(args, names, NB_MAX_IFS, &n, err, sizeof(err)))
			goto fail;
	}
	l->n = 0;
	for (int i = 0; i < n; i++) {
		/* Patch and tunnel ports are no devices here: the packet is seen on the others. */
		if (nb_netns_ifindex(&rt->ns, &names[i], 1, &l->ifindex[l->n], err, sizeof(err)))
			continue;
		memcpy(l->names[l->n++], names[i], 16);
	}
	if (!l->n) {
		snprintf(err, sizeof(err), "no OVS port is a device of this namespace%s%s",
			 rt->ns.fd >= 0 ? ": " : "", rt->ns.fd >= 0 ? rt->ns.name : "");
		goto fail;
	}
	o->discovered = true;
	return 0;
fail:
	nb_err("%s", err);
	return NB_EXIT_ERR;
}

/* Is the typedef name in the openvswitch module's BTF? (a tracepoint's btf_trace_NAME) */
static bool s_ovs_btf_has(const char *name)
{
	struct btf *vml = btf__load_vmlinux_btf(), *mod;
	bool yes;

	if (!vml)
		return false;
	mod = btf__parse_split("/sys/kernel/btf/openvswitch", vml);
	yes = mod && btf__find_by_name_kind(mod, name, BTF_KIND_TYPEDEF) > 0;
	btf__free(mod);
	btf__free(vml);
	return yes;
}

/*
 * What this kernel has of the datapath's hooks, for nb_ovs_choose(). Test knob (as for the
 * other monitors): NB_TEST_HIDE_HOOKS=kprobe makes kprobes look absent.
 */
static void s_ovs_env(struct nb_ovs_env *e)
{
	char names[NB_MAX_IFS * 4][16], err[256];
	struct nb_sym *sym = NULL;
	uint64_t lo, hi;
	int n = 0;

	memset(e, 0, sizeof(*e));
	e->module = access("/sys/kernel/btf/openvswitch", F_OK) == 0;
	if (!e->module)
		return;
	e->kprobes = nb_have_kprobes();
	e->tracepoint =
	    access("/sys/kernel/tracing/events/openvswitch/ovs_dp_upcall", F_OK) == 0 ||
	    access("/sys/kernel/debug/tracing/events/openvswitch/ovs_dp_upcall", F_OK) == 0 ||
	    s_ovs_btf_has("btf_trace_ovs_dp_upcall");
	if (!nb_sym_open(&sym, err, sizeof(err))) {
		e->sym_upcall = nb_sym_range(sym, "ovs_dp_upcall", &lo, &hi) != -ENOENT;
		e->sym_extract =
		    nb_sym_range(sym, "ovs_flow_key_extract_userspace", &lo, &hi) != -ENOENT;
		nb_sym_destroy(&sym);
	}
	/* Bridges of the userspace datapath upcall in ovs-vswitchd, never through the module. */
	if (!s_vsctl("--bare --columns=datapath_type list bridge", names, NB_MAX_IFS * 4, &n, err,
		     sizeof(err)))
		for (int i = 0; i < n; i++)
			e->userspace_dp |= !strcmp(names[i], "netdev");
}

/* The ports' filter of the tracer (addresses, ports, protocol of the options). */
static void s_filter(struct nb_rt *rt, struct s_ovs *o, struct nb_tracer_cfg *tc)
{
	struct nb_filter *f = &tc->filter;

	nb_tool_filter(rt, f);
	f->n_ifindex = (uint32_t)o->ports->n;
	memcpy(f->ifindex, o->ports->ifindex, sizeof(f->ifindex[0]) * (size_t)o->ports->n);
	f->bidir = 1; /* each direction is a flow of its own, and upcalls of its own */
	tc->ringbuf_bytes = (uint32_t)rt->o.ringbuf_kb * 1024;
	tc->ns = &rt->ns;
}

/*
 * The kernel datapath's hooks where nb_ovs_choose() says they exist. Any failure leaves
 * nothing attached (nb_tracer_open) and the ports take over, the reason in the header.
 */
static void s_open_kernel(struct nb_rt *rt, struct s_ovs *o)
{
	struct nb_tracer_cfg tc = {0};
	struct nb_ovs_env env;
	char err[256];

	s_ovs_env(&env);
	o->method = nb_ovs_choose(&env, o->why, sizeof(o->why));
	if (o->method == NB_OVS_PORTS)
		return;
	s_filter(rt, o, &tc);
	tc.hooks = o->method == NB_OVS_TP_KPROBE ? NB_HOOKS_OVS_TP : NB_HOOKS_OVS_KP;
	if (!nb_tracer_open(&o->tr, &tc, nb_tool_on_event, rt, err, sizeof(err)))
		return;
	snprintf(o->why, sizeof(o->why), "kernel datapath hooks failed: %.160s", err);
	o->method = NB_OVS_PORTS;
}

static int s_setup(struct nb_rt *rt, void *st)
{
	struct s_ovs *o = st;
	struct nb_tracer_cfg tc = {0};
	char err[256];
	int rc;

	if (!rt->ifs[NB_RT_IF_ANY].n) {
		rc = s_discover(rt, o);
		if (rc)
			return rc;
	}
	o->ports = &rt->ifs[NB_RT_IF_ANY];
	if (o->ports->n < 2) {
		nb_err("an upcall goes in one OVS port and out of another: watch at least two");
		return NB_EXIT_USAGE;
	}
	/*
	 * Every packet reaching user space is an upcall (idle 0): the kernel datapath's hooks see
	 * only those, and on the ports the kernel decides (nb_stage.bpf.h).
	 */
	o->u = nb_upcall_new(0, (uint64_t)rt->o.timeout_ms * 1000000ull);
	if (!o->u) {
		nb_err("out of memory");
		return NB_EXIT_ERR;
	}
	s_open_kernel(rt, o);
	if (o->method != NB_OVS_PORTS)
		return 0;
	s_filter(rt, o, &tc);
	tc.hooks = NB_HOOKS_AUTO;
	tc.up_idle_ns = S_IDLE_NS;
	tc.up_timeout_ns = (uint64_t)rt->o.timeout_ms * 1000000ull;
	tc.up_sample_ns = S_SAMPLE_NS;
	if (nb_tracer_open(&o->tr, &tc, nb_tool_on_event, rt, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_ERR;
	}
	return 0;
}

static void s_teardown(struct nb_rt *rt, void *st)
{
	struct s_ovs *o = st;

	(void)rt;
	nb_tracer_destroy(&o->tr);
	nb_upcall_free(&o->u);
}

static void s_start(struct nb_rt *rt, void *st, json_t *start)
{
	struct s_ovs *o = st;
	char list[NB_MAX_IFS * 17] = "";

	for (int i = 0; i < o->ports->n; i++) {
		strcat(list, i ? "," : "");
		strcat(list, o->ports->names[i]);
	}
	if (start) {
		json_object_set_new(start, "ports", json_string(list));
		json_object_set_new(start, "method",
				    json_string(o->method == NB_OVS_PORTS ? "ports" : "kernel"));
		json_object_set_new(start, "method_why", json_string(o->why));
		json_object_set_new(start, "hooks", json_string(nb_tracer_hooks(o->tr)));
		json_object_set_new(start, "interval_s", json_integer(rt->o.interval));
		return;
	}
	if (o->method != NB_OVS_PORTS)
		printf("OVS upcall latency on ports %s%s (kernel datapath: %s): every %ld s. "
		       "Ctrl-C to end.\n",
		       list, o->discovered ? " (from ovs-vsctl)" : "", o->why, rt->o.interval);
	else
		printf("OVS upcall latency on ports %s%s (first packet of a flow in -> out, %s "
		       "hooks; %s): every %ld s. Ctrl-C to end.\n",
		       list, o->discovered ? " (from ovs-vsctl)" : "", nb_tracer_hooks(o->tr),
		       o->why, rt->o.interval);
}

static int s_on_event(struct nb_rt *rt, void *st, const struct nb_event *e)
{
	struct s_ovs *o = st;

	(void)rt;
	if (e->type != NB_EV_PKT || !e->pkt.family)
		return 0;
	nb_upcall_add(o->u, e->ts_ns, e->hook == NB_HOOK_TX, e->ifindex, &e->pkt);
	return 0;
}

static int s_poll(struct nb_rt *rt, void *st, int timeout_ms)
{
	struct s_ovs *o = st;

	(void)rt;
	return nb_tracer_poll(o->tr, timeout_ms);
}

static const char *s_flow_str(const struct nb_pkt *k, char *buf, size_t len)
{
	char proto[16], s[64], d[64];
	struct nb_pkt p = *k;

	if (p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6) {
		snprintf(buf, len, "%s %s -> %s id %u", nb_pkt_proto(&p, 0, proto, sizeof(proto)),
			 nb_pkt_endpoint(&p, 0, true, s, sizeof(s)),
			 nb_pkt_endpoint(&p, 0, false, d, sizeof(d)), k->sport);
		return buf;
	}
	snprintf(buf, len, "%s %s -> %s", nb_pkt_proto(&p, 0, proto, sizeof(proto)),
		 nb_pkt_endpoint(&p, 0, true, s, sizeof(s)),
		 nb_pkt_endpoint(&p, 0, false, d, sizeof(d)));
	return buf;
}

static double s_rate(const struct nb_upcall_counts *c)
{
	uint64_t done = c->completed + c->lost;

	return done ? 100.0 * (double)c->completed / (double)done : 100.0;
}

static void s_report(struct nb_rt *rt, struct s_ovs *o, uint64_t now, bool total)
{
	const struct nb_upcall_counts *c = total ? nb_upcall_total(o->u) : nb_upcall_iv(o->u);
	struct nb_upcall_flow top[64];
	int ntop = nb_upcall_top(o->u, top, rt->o.top < 64 ? (int)rt->o.top : 64);
	char wall[32], fl[200];

	nb_fmt_wall(now + (uint64_t)rt->wall_off, 0, wall, sizeof(wall));
	if (rt->o.json) {
		json_t *j = json_object(), *a = json_array();

		json_object_set_new(j, "type", json_string(total ? "summary" : "interval"));
		json_object_set_new(j, "time", json_string(wall));
		json_object_set_new(j, "upcalls", json_integer((json_int_t)c->upcalls));
		json_object_set_new(j, "completed", json_integer((json_int_t)c->completed));
		json_object_set_new(j, "lost", json_integer((json_int_t)c->lost));
		json_object_set_new(j, "completion_rate", json_real(s_rate(c)));
		json_object_set_new(j, "in_flight", json_integer(nb_upcall_pending(o->u)));
		json_object_set_new(j, "fast_path", json_integer((json_int_t)c->fast));
		json_object_set_new(j, "fast_path_lost", json_integer((json_int_t)c->fast_lost));
		json_object_set_new(j, "upcall_us",
				    nb_out_log2_json((const uint64_t *)c->up_lat, NB_MON_SLOTS));
		json_object_set_new(j, "fast_path_followed",
				    json_integer((json_int_t)c->fast_followed));
		json_object_set_new(j, "fast_path_sampled",
				    json_integer((json_int_t)c->fast_sampled));
		json_object_set_new(j, "fast_path_us",
				    nb_out_log2_json((const uint64_t *)c->fast_lat, NB_MON_SLOTS));
		for (int i = 0; total && i < ntop; i++) {
			json_t *x = json_object();

			json_object_set_new(x, "flow",
					    json_string(s_flow_str(&top[i].key, fl, sizeof(fl))));
			json_object_set_new(x, "proto", json_integer(top[i].key.proto));
			json_object_set_new(x, "sport", json_integer(top[i].key.sport));
			json_object_set_new(x, "dport", json_integer(top[i].key.dport));
			json_object_set_new(x, "upcalls", json_integer((json_int_t)top[i].upcalls));
			json_array_append_new(a, x);
		}
		if (total) {
			struct nb_upcall_stats s;

			nb_upcall_stats(o->u, &s);
			json_object_set_new(j, "top_flows", a);
			json_object_set_new(j, "lost_events",
					    json_integer((json_int_t)nb_tracer_lost(o->tr)));
			json_object_set_new(j, "not_followed",
					    json_integer((json_int_t)s.pending_full));
			json_object_set_new(j, "flows_forgotten",
					    json_integer((json_int_t)s.flows_forgotten));
			json_object_set_new(j, "out_unmatched",
					    json_integer((json_int_t)s.tx_unmatched));
			json_object_set_new(j, "kernel_map_full",
					    json_integer((json_int_t)s.kernel_full));
		} else {
			json_decref(a);
		}
		nb_out_json(j);
		return;
	}
	printf(total ? "=== Summary ===\n" : "%s\n", wall);
	printf("Upcalls: %llu  completed %llu  lost or timed out %llu  completion %.1f%%  "
	       "in flight %u\n",
	       (unsigned long long)c->upcalls, (unsigned long long)c->completed,
	       (unsigned long long)c->lost, s_rate(c), nb_upcall_pending(o->u));
	printf("Upcall latency (first packet in -> out):\n");
	nb_out_log2_text("usecs", (const uint64_t *)c->up_lat, NB_MON_SLOTS, 2);
	if (o->method != NB_OVS_PORTS) {
		printf("Fast path: not seen by the kernel datapath's upcall hooks\n");
	} else {
		printf("Fast path (later packets): %llu, lost %llu\n", (unsigned long long)c->fast,
		       (unsigned long long)c->fast_lost);
		printf("Fast path latency, %llu of them (at most one per ms per CPU):\n",
		       (unsigned long long)c->fast_sampled);
		nb_out_log2_text("usecs", (const uint64_t *)c->fast_lat, NB_MON_SLOTS, 2);
	}
	if (total) {
		struct nb_upcall_stats s;

		printf("Flows with most upcalls:\n");
		for (int i = 0; i < ntop; i++)
			printf("  %6llu  %s\n", (unsigned long long)top[i].upcalls,
			       s_flow_str(&top[i].key, fl, sizeof(fl)));
		nb_upcall_stats(o->u, &s);
		printf("Lost events: %llu  not followed: %llu\n",
		       (unsigned long long)nb_tracer_lost(o->tr),
		       (unsigned long long)s.pending_full);
	}
	printf("\n");
}

static int s_tick(struct nb_rt *rt, void *st, uint64_t now, bool last)
{
	struct s_ovs *o = st;

	struct nb_up_counts k;

	if (o->method == NB_OVS_PORTS && !nb_tracer_up_counts(o->tr, &k))
		nb_upcall_kernel(o->u, now, &k);
	nb_upcall_expire(o->u, now);
	if (!nb_period_due(&rt->period, now) && !last)
		return 0;
	s_report(rt, o, now, false);
	nb_upcall_interval(o->u);
	nb_period_close(&rt->period, now, NULL);
	return 0;
}

static int s_summary(struct nb_rt *rt, void *st)
{
	s_report(rt, st, nb_mono_ns(), true);
	return NB_EXIT_OK;
}

const struct nb_tool_ops nb_ovs_upcall_ops = {
	.state_size = sizeof(struct s_ovs),
	.check = s_check,
	.setup = s_setup,
	.start = s_start,
	.on_event = s_on_event,
	.poll = s_poll,
	.tick = s_tick,
	.summary = s_summary,
	.teardown = s_teardown,
	.poll_ms = S_POLL_MS,
};
