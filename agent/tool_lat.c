// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The per-packet latency tools: system_network_icmp_rtt, kernel_icmp_rtt (an echo and its
 * reply through the stages of one host, the manual's RTT layout) and
 * system_network_latency_details, vm_network_latency_details (one line per packet). One set of
 * callbacks; the descriptor's struct nb_lat_tool says which. The stage tracer attaches the chain
 * (nb_tracer_open_chain), common/nb_latpkt joins and reads each packet's stages.
 */
#include "nb_tool.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "nb_latpkt.h"
#include "nb_log.h"
#include "nb_pktfmt.h"
#include "nb_time.h"

/* Events may be reserved on another CPU before we poll and submitted after: allow for it. */
#define S_WATERMARK_SLACK_NS 2000000ull
#define S_POLL_MS	     50
/* A stage not seen a second after the packet's first is missing (an echo's RTT included). */
#define S_TIMEOUT_NS 1000000000ull

struct s_lat {
	struct nb_rt *rt;
	const struct nb_lat_tool *lt;
	enum nb_lat_dir dir;
	struct nb_lat_stage st[NB_MAX_STAGES];
	struct nb_latpkt_cfg pc;
	struct nb_latpkt *lp;
	struct nb_tracer *tr;
	uint64_t finals, hidden; /* final packets; RTT: under --latency-ms, not shown */
	uint64_t t0, last_lost, last_check;
};

static const char *s_dir_text(const struct s_lat *l)
{
	if (l->lt->rtt)
		return l->dir == NB_LAT_TX ? "TX (local ping remote)" : "RX (remote ping local)";
	if (l->lt->family == NB_LAT_VM)
		return l->dir == NB_LAT_TX ? "TX (from the VM)" : "RX (to the VM)";
	return l->dir == NB_LAT_TX   ? "TX (sent by this host)"
	       : l->dir == NB_LAT_RX ? "RX (received by this host)"
				     : "both (sent and received by this host)";
}

/* The wall clock of a packet: "HH:MM:SS.mmm". */
static const char *s_hms(const struct s_lat *l, uint64_t ts, char *buf, size_t len)
{
	return nb_fmt_wall(ts + (uint64_t)l->rt->wall_off, 3, buf, len);
}

static json_t *s_ns_or_null(bool known, uint64_t ns)
{
	return known ? json_integer((json_int_t)ns) : json_null();
}

static void s_print_json(const struct s_lat *l, const struct nb_latpkt_res *r)
{
	json_t *o = json_object(), *d = json_array(), *m = json_array(), *st = json_array();
	const struct nb_pkt *p = &r->pkt;
	char hms[32], a[64], b[64], proto[16];

	json_object_set_new(o, "type", json_string(l->lt->rtt ? "echo" : "packet"));
	json_object_set_new(o, "time", json_string(s_hms(l, r->first_ts, hms, sizeof(hms))));
	if (l->lt->rtt) {
		json_object_set_new(o, "id", json_integer(p->icmp_id));
		json_object_set_new(o, "seq", json_integer(p->icmp_seq));
	} else {
		json_object_set_new(o, "direction",
				    json_string(nb_latpkt_path_name(&l->pc, r->path)));
		json_object_set_new(
		    o, "proto", json_string(nb_pkt_proto(p, r->ethertype, proto, sizeof(proto))));
		json_object_set_new(
		    o, "src", json_string(nb_pkt_endpoint(p, r->ethertype, true, a, sizeof(a))));
		json_object_set_new(
		    o, "dst", json_string(nb_pkt_endpoint(p, r->ethertype, false, b, sizeof(b))));
		if (p->proto == IPPROTO_TCP) {
			json_object_set_new(o, "tcp_seq", json_integer(p->tcp_seq));
			json_object_set_new(o, "tcp_ack", json_integer(p->tcp_ack));
		} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
			json_object_set_new(o, "icmp_type", json_integer(p->icmp_type));
			json_object_set_new(o, "id", json_integer(p->icmp_id));
			json_object_set_new(o, "seq", json_integer(p->icmp_seq));
		} else {
			json_object_set_new(o, "ip_id", json_integer(p->ip_id));
		}
		json_object_set_new(o, "len", json_integer(p->l4_len));
	}
	for (int i = r->first; i < r->first + r->n; i++) {
		json_array_append_new(st,
				      json_pack("{s:s,s:s,s:o}", "stage", l->st[i].name, "path",
						nb_latpkt_path_name(&l->pc, l->st[i].path),
						"ktime_ns", s_ns_or_null(r->seen[i], r->ts[i])));
		if (!r->seen[i])
			json_array_append_new(m, json_string(l->st[i].name));
	}
	for (int i = 0; i < r->nrows; i++) {
		const struct nb_latpkt_row *w = &r->rows[i];

		json_array_append_new(
		    d, json_pack("{s:s,s:s,s:s,s:o}", "from", l->st[w->from].name, "to",
				 l->st[w->to].name, "path",
				 w->wire ? "WIRE" : nb_latpkt_path_name(&l->pc, l->st[w->to].path),
				 "ns", s_ns_or_null(w->known, w->ns)));
		if (w->wire)
			json_object_set_new(o, "wire_time_ns", s_ns_or_null(w->known, w->ns));
	}
	json_object_set_new(o, "complete", json_boolean(r->complete));
	json_object_set_new(o, "missing", m);
	json_object_set_new(o, "events_lost", json_boolean(r->events_lost));
	json_object_set_new(o, l->lt->rtt ? "total_rtt_ns" : "total_ns",
			    s_ns_or_null(r->has_total, r->total_ns));
	if (l->lt->rtt)
		json_object_set_new(o, "high_latency", json_boolean(r->high));
	if (r->bottleneck >= 0) {
		const struct nb_latpkt_row *w = &r->rows[r->bottleneck];
		char bn[80];

		snprintf(bn, sizeof(bn), "%s -> %s", l->st[w->from].name, l->st[w->to].name);
		json_object_set_new(o, "bottleneck", json_string(w->wire ? "WIRE_TIME" : bn));
	} else {
		json_object_set_new(o, "bottleneck", json_null());
	}
	json_object_set_new(o, "stages", st);
	json_object_set_new(o, "deltas", d);
	nb_out_json(o);
}

static void s_on_final(const struct nb_latpkt_res *r, void *ctx)
{
	struct s_lat *l = ctx;
	char hms[32], buf[2048];

	if (l->rt->done)
		return;
	l->finals++;
	/* --latency-ms shows the echoes over it, and those whose RTT is unknown. */
	if (l->lt->rtt && l->pc.latency_ns && r->has_total && !r->high) {
		l->hidden++;
	} else if (l->rt->o.json) {
		s_print_json(l, r);
	} else {
		s_hms(l, r->first_ts, hms, sizeof(hms));
		if (l->lt->rtt) {
			nb_latpkt_fmt_echo(&l->pc, r, hms, buf, sizeof(buf));
			printf("%s\n", buf);
		} else {
			nb_latpkt_fmt_line(&l->pc, r, hms, buf, sizeof(buf));
			fputs(buf, stdout);
		}
	}
	if (l->rt->o.count && l->finals >= (uint64_t)l->rt->o.count)
		l->rt->done = true;
}

static int s_check(struct nb_rt *rt, void *st)
{
	struct s_lat *l = st;

	l->rt = rt;
	l->lt = rt->tool->arg;
	/* Two stages at one netfilter hook cannot be told apart: a VM's both ways is FORWARD twice.
	 */
	if (nb_lat_dir_parse(rt->o.direction, !l->lt->rtt && l->lt->family != NB_LAT_VM, &l->dir)) {
		nb_err("invalid --direction '%s' (%s)", rt->o.direction,
		       !l->lt->rtt && l->lt->family != NB_LAT_VM ? "tx, rx or both" : "tx or rx");
		return NB_EXIT_USAGE;
	}
	if (!l->lt->rtt && !rt->has_src && !rt->has_dst) {
		nb_err("--src-ip or --dst-ip is required: a line for every packet is expensive "
		       "unfiltered (the *_latency_summary tools aggregate in the kernel)");
		return NB_EXIT_USAGE;
	}
	return 0;
}

static int s_setup(struct nb_rt *rt, void *st)
{
	struct s_lat *l = st;
	struct nb_lat_cfg lc = {0};
	struct nb_filter *f = &lc.filter;
	const struct nb_iflist *phy =
	    &rt->ifs[l->lt->family == NB_LAT_KERNEL ? NB_RT_IF_ANY : NB_RT_IF_PHY];
	const struct nb_iflist *vm = &rt->ifs[NB_RT_IF_VM];
	uint8_t proto = rt->proto;
	char err[256];
	int n, ok = 0;

	if (l->lt->rtt)
		proto = rt->family == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	n = nb_lat_chain(l->lt->family, l->dir, l->lt->rtt, proto, l->st);
	if (n < 0) {
		nb_err("no stage chain for this direction");
		return NB_EXIT_USAGE;
	}
	l->pc.stages = l->st;
	l->pc.nstages = n;
	l->pc.rtt = l->lt->rtt;
	l->pc.wire = l->lt->rtt && l->dir == NB_LAT_TX;
	l->pc.family = rt->family;
	memcpy(l->pc.src, rt->src, NB_ADDR_LEN);
	memcpy(l->pc.dst, rt->dst, NB_ADDR_LEN);
	l->pc.timeout_ns = S_TIMEOUT_NS;
	l->pc.latency_ns = (uint64_t)rt->o.latency_ms * 1000000ull;
	l->lp = nb_latpkt_new(&l->pc, s_on_final, l);
	if (!l->lp) {
		nb_err("cannot create the join engine: %s", strerror(errno));
		return NB_EXIT_ERR;
	}

	lc.stages = l->st;
	lc.nstages = n;
	memcpy(lc.ifindex[NB_LAT_IF_PHY], phy->ifindex, sizeof(phy->ifindex[0]) * (size_t)phy->n);
	lc.n_if[NB_LAT_IF_PHY] = phy->n;
	memcpy(lc.ifindex[NB_LAT_IF_VM], vm->ifindex, sizeof(vm->ifindex[0]) * (size_t)vm->n);
	lc.n_if[NB_LAT_IF_VM] = vm->n;
	nb_tool_filter(rt, f);
	f->proto = proto;
	/*
	 * An echo comes back the other way. Details take src -> dst as given, so a stage that
	 * both directions pass (FORWARD) reports only the one traced; both ways when asked.
	 */
	f->bidir = l->lt->rtt || l->dir == NB_LAT_BOTH;
	lc.hooks = NB_HOOKS_AUTO;
	lc.ns = &rt->ns;
	if (nb_tracer_open_chain(&l->tr, &lc, nb_tool_on_event, rt, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_ERR;
	}
	for (int i = 0; i < n; i++) {
		if (nb_tracer_stage_ok(l->tr, i))
			ok++;
		else
			nb_warn("stage %s", nb_tracer_stage_source(l->tr, i));
	}
	if (!ok) {
		nb_err("no stage of the chain could be attached");
		return NB_EXIT_ERR;
	}
	/* Before the probes were attached nothing could be seen: never a missing stage. */
	nb_latpkt_taint(l->lp, 0, nb_tracer_attach_ts(l->tr));
	l->last_check = nb_mono_ns();
	return 0;
}

static void s_iflist(const char *what, const struct nb_iflist *ifs)
{
	if (!ifs->n)
		return;
	printf("%s:", what);
	for (int i = 0; i < ifs->n; i++)
		printf("%s %s (ifindex=%u)", i ? "," : "", ifs->names[i], ifs->ifindex[i]);
	printf("\n");
}

static void s_start(struct nb_rt *rt, void *st, json_t *start)
{
	struct s_lat *l = st;
	char a[64], b[64];

	if (start) {
		json_t *stages = json_array();

		json_object_set_new(start, "direction", json_string(s_dir_text(l)));
		for (int i = 0; i < l->pc.nstages; i++)
			json_array_append_new(
			    stages, json_pack("{s:s,s:s,s:s,s:b}", "stage", l->st[i].name, "path",
					      nb_latpkt_path_name(&l->pc, l->st[i].path), "source",
					      nb_tracer_stage_source(l->tr, i), "attached",
					      nb_tracer_stage_ok(l->tr, i)));
		json_object_set_new(start, "stages", stages);
		if (l->pc.latency_ns)
			json_object_set_new(start, "latency_ms", json_integer(rt->o.latency_ms));
		return;
	}
	printf("=== %s ===\n", l->lt->title);
	printf("Direction: %s\n", s_dir_text(l));
	if (l->lt->family == NB_LAT_KERNEL)
		s_iflist("Interface", &rt->ifs[NB_RT_IF_ANY]);
	s_iflist("VM interface", &rt->ifs[NB_RT_IF_VM]);
	s_iflist("Physical interface", &rt->ifs[NB_RT_IF_PHY]);
	if (rt->has_src && rt->has_dst)
		printf("Filter: %s %s %s", nb_addr_fmt(rt->src, rt->family, a, sizeof(a)),
		       l->pc.rtt || l->dir == NB_LAT_BOTH ? "<->" : "->",
		       nb_addr_fmt(rt->dst, rt->family, b, sizeof(b)));
	else if (rt->has_src)
		printf("Filter: from %s", nb_addr_fmt(rt->src, rt->family, a, sizeof(a)));
	else
		printf("Filter: to %s", nb_addr_fmt(rt->dst, rt->family, b, sizeof(b)));
	if (!l->pc.rtt && rt->proto)
		printf(" (%s)", rt->o.protocol);
	printf("\n");
	if (rt->ns.fd >= 0)
		printf("Network namespace: %s (inode=%u)\n", rt->ns.name, rt->ns.inum);
	printf("Stages:\n");
	for (int i = 0; i < l->pc.nstages; i++)
		printf("  %s %s\n", nb_latpkt_path_name(&l->pc, l->st[i].path),
		       nb_tracer_stage_source(l->tr, i));
	if (l->pc.latency_ns)
		printf("Showing echoes over %ldms, and those with a stage missing\n",
		       rt->o.latency_ms);
	printf("\n");
}

static int s_on_event(struct nb_rt *rt, void *st, const struct nb_event *e)
{
	struct s_lat *l = st;

	(void)rt;
	return nb_latpkt_add(l->lp, e);
}

static int s_poll(struct nb_rt *rt, void *st, int timeout_ms)
{
	struct s_lat *l = st;

	(void)rt;
	l->t0 = nb_mono_ns();
	return nb_tracer_poll(l->tr, timeout_ms);
}

static uint64_t s_lost(const struct s_lat *l)
{
	struct nb_lat_stats ls;

	nb_tracer_lat_stats(l->tr, &ls);
	return ls.lost;
}

static int s_tick(struct nb_rt *rt, void *st, uint64_t now, bool last)
{
	struct s_lat *l = st;
	uint64_t lost = s_lost(l);

	(void)rt;
	(void)last;
	/* A loss counted since the last read happened between the two reads. */
	if (lost != l->last_lost) {
		nb_latpkt_taint(l->lp, l->last_check, now);
		l->last_lost = lost;
	}
	l->last_check = now;
	nb_latpkt_watermark(l->lp, l->t0 > S_WATERMARK_SLACK_NS ? l->t0 - S_WATERMARK_SLACK_NS : 0);
	return 0;
}

static int s_summary(struct nb_rt *rt, void *st)
{
	struct s_lat *l = st;
	struct nb_latpkt_stats s;
	uint64_t lost = s_lost(l), incomplete;
	const char *what = l->lt->rtt ? "Echoes" : "Packets";

	nb_latpkt_get_stats(l->lp, &s);
	incomplete = s.packets - s.complete;
	if (rt->o.json) {
		json_t *o = json_object(), *m = json_object();

		for (int i = 0; i < l->pc.nstages; i++)
			if (s.missing[i])
				json_object_set_new(m, l->st[i].name,
						    json_integer((json_int_t)s.missing[i]));
		json_object_set_new(o, "type", json_string("summary"));
		json_object_set_new(o, l->lt->rtt ? "echoes" : "packets",
				    json_integer((json_int_t)s.packets));
		json_object_set_new(o, "complete", json_integer((json_int_t)s.complete));
		json_object_set_new(o, "incomplete", json_integer((json_int_t)incomplete));
		json_object_set_new(o, "missing", m);
		json_object_set_new(o, "incomplete_events_lost",
				    json_integer((json_int_t)s.events_lost_pkts));
		if (l->lt->rtt)
			json_object_set_new(o, "high_latency", json_integer((json_int_t)s.high));
		if (l->pc.latency_ns)
			json_object_set_new(o, "not_shown", json_integer((json_int_t)l->hidden));
		json_object_set_new(o, "lost_events", json_integer((json_int_t)lost));
		json_object_set_new(o, "in_flight_at_exit", json_integer((json_int_t)s.inflight));
		nb_out_json(o);
		return NB_EXIT_OK;
	}
	printf("=== Summary ===\n");
	printf("%s: %llu (complete %llu, incomplete %llu)\n", what, (unsigned long long)s.packets,
	       (unsigned long long)s.complete, (unsigned long long)incomplete);
	for (int i = 0; i < l->pc.nstages; i++)
		if (s.missing[i])
			printf("Incomplete, first missing stage %s %s: %llu\n",
			       nb_latpkt_path_name(&l->pc, l->st[i].path), l->st[i].name,
			       (unsigned long long)s.missing[i]);
	if (s.events_lost_pkts)
		printf("Incomplete while events were lost: %llu\n",
		       (unsigned long long)s.events_lost_pkts);
	if (l->lt->rtt && l->pc.latency_ns)
		printf("HIGH LATENCY (over %ldms): %llu; under it, not shown: %llu\n",
		       rt->o.latency_ms, (unsigned long long)s.high, (unsigned long long)l->hidden);
	printf("Lost events: %llu%s\n", (unsigned long long)lost,
	       lost ? " (packets the ring buffer could not hold; their stages are not verdicts)"
		    : "");
	printf("In flight at exit (not reported): %llu\n", (unsigned long long)s.inflight);
	return NB_EXIT_OK;
}

static void s_teardown(struct nb_rt *rt, void *st)
{
	struct s_lat *l = st;

	(void)rt;
	nb_tracer_destroy(&l->tr);
	nb_latpkt_destroy(&l->lp);
}

const struct nb_tool_ops nb_lat_pkt_ops = {
    .state_size = sizeof(struct s_lat),
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
