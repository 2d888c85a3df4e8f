// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The drop tools: eth_drop prints every drop that passes the filter with its reason, location
 * and stack; kernel_drop_stack_stats_summary_all prints counts the kernel aggregated by stack,
 * reason and device. Both filter in the kernel before a stack is taken (bpf/nb_drop.bpf.c).
 */
#include "nb_tool.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nb_log.h"
#include "nb_pktfmt.h"
#include "nb_reason.h"
#include "nb_time.h"

#define S_POLL_MS    100
#define S_IFCACHE    64
#define S_STACK_NONE "(no stack: the stack map was full or the slot taken)"

struct s_ifname {
	uint32_t ifindex;
	char name[16];
};

struct s_cnt {
	struct nb_drop_key k;
	uint64_t total; /* since attach */
	uint64_t delta; /* since the previous report */
};

struct s_snap {
	struct s_cnt *c;
	size_t n, cap;
	int err;
};

/* What both tools share: options, namespace, filter, names. */
struct s_drop {
	const struct nb_opts *o;
	const char *tool;
	const struct nb_netns *ns;
	struct nb_drops_cfg cfg;
	struct nb_drops *d;
	struct nb_sym *sym;
	int64_t wall_off;
	struct s_ifname ifc[S_IFCACHE];
	unsigned nifc, ifc_next;
	uint64_t shown;
	/* kernel_drop_stack_stats_summary_all */
	struct s_snap *prev;
};

static const char *s_ifname(struct s_drop *r, uint32_t ifindex, char *buf)
{
	if (!ifindex)
		return "-";
	for (unsigned i = 0; i < r->nifc; i++)
		if (r->ifc[i].ifindex == ifindex)
			return r->ifc[i].name;
	/* A miss costs two setns(); devices come and go rarely, so a small cache suffices. */
	if (nb_netns_ifname(r->ns, ifindex, buf)) {
		snprintf(buf, 16, "if%u", ifindex);
		return buf;
	}
	struct s_ifname *c = &r->ifc[r->nifc < S_IFCACHE ? r->nifc++ : r->ifc_next++ % S_IFCACHE];
	c->ifindex = ifindex;
	memcpy(c->name, buf, 16);
	return c->name;
}

/* --src-port/--dst-port filter only TCP or UDP. */
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

/* The runtime's options and namespace to the in-kernel filter; the symbols. */
static int s_setup_common(struct nb_rt *rt, struct s_drop *r)
{
	struct nb_filter *f = &r->cfg.filter;
	const struct nb_iflist *ifs = &rt->ifs[NB_RT_IF_ANY];
	char err[256];

	r->o = &rt->o;
	r->tool = rt->tool->name;
	r->ns = &rt->ns;
	nb_tool_filter(rt, f);
	memcpy(f->ifindex, ifs->ifindex, sizeof(ifs->ifindex[0]) * (size_t)ifs->n);
	f->n_ifindex = (uint32_t)ifs->n;
	r->cfg.ringbuf_bytes = (uint32_t)rt->o.ringbuf_kb * 1024;
	if (nb_sym_open(&r->sym, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_ERR;
	}
	return 0;
}

static void s_teardown(struct nb_rt *rt, void *st)
{
	struct s_drop *r = st;

	(void)rt;
	nb_drops_destroy(&r->d);
	nb_sym_destroy(&r->sym);
	if (r->prev)
		free(r->prev->c);
	free(r->prev);
}

static const char *s_reason(const struct s_drop *r, uint32_t reason, char *buf, size_t len)
{
	if (!nb_drops_have_reasons(r->d)) {
		snprintf(buf, len, "-");
		return buf;
	}
	return nb_sym_reason(r->sym, reason, buf, len);
}

/* ---- eth_drop ---- */

static void s_drop_json(struct s_drop *r, const struct nb_event *e, const struct nb_stack *st)
{
	const struct nb_pkt *p = &e->pkt;
	char wall[32], ifb[16], proto[16], a[64], reason[64], loc[128], loc_off[160];
	json_t *o = json_object(), *frames = json_array();

	nb_pkt_proto(p, e->ethertype, proto, sizeof(proto));
	json_object_set_new(o, "type", json_string("drop"));
	json_object_set_new(
	    o, "time",
	    json_string(nb_fmt_wall(e->ts_ns + (uint64_t)r->wall_off, 6, wall, sizeof(wall))));
	json_object_set_new(o, "ktime_ns", json_integer((json_int_t)e->ts_ns));
	json_object_set_new(o, "interface", json_string(s_ifname(r, e->ifindex, ifb)));
	json_object_set_new(o, "ifindex", json_integer(e->ifindex));
	json_object_set_new(o, "proto", json_string(proto));
	if (p->family || e->ethertype == NB_ETHERTYPE_ARP) {
		struct nb_pkt q = *p;

		/* Addresses without ports: the ports have their own fields. */
		q.family = p->family == 6 ? 6 : 4;
		q.proto = 0;
		json_object_set_new(
		    o, "src", json_string(nb_pkt_endpoint(&q, e->ethertype, true, a, sizeof(a))));
		json_object_set_new(
		    o, "dst", json_string(nb_pkt_endpoint(&q, e->ethertype, false, a, sizeof(a))));
	}
	if (nb_pkt_has_ports(p)) {
		json_object_set_new(o, "sport", json_integer(p->sport));
		json_object_set_new(o, "dport", json_integer(p->dport));
	}
	if (p->family && (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) && !p->frag_off) {
		json_object_set_new(o, "icmp_type", json_integer(p->icmp_type));
		json_object_set_new(o, "icmp_id", json_integer(p->icmp_id));
		json_object_set_new(o, "icmp_seq", json_integer(p->icmp_seq));
	}
	if (p->family == 4) {
		json_object_set_new(o, "ip_id", json_integer(p->ip_id));
		json_object_set_new(o, "frag_off", json_integer(p->frag_off));
	}
	if (!p->family && e->ethertype == NB_ETHERTYPE_ARP)
		json_object_set_new(o, "arp_op", json_integer(p->icmp_type));
	json_object_set_new(o, "reason",
			    json_string(s_reason(r, e->reason, reason, sizeof(reason))));
	json_object_set_new(o, "reason_code", json_integer(e->reason));
	if (nb_reason_explain(reason))
		json_object_set_new(o, "explain", json_string(nb_reason_explain(reason)));
	json_object_set_new(o, "location",
			    json_string(nb_sym_addr(r->sym, e->location, false, loc, sizeof(loc))));
	json_object_set_new(
	    o, "location_ip",
	    json_string(nb_sym_addr(r->sym, e->location, true, loc_off, sizeof(loc_off))));
	for (int i = 0; st && i < st->n; i++)
		json_array_append_new(frames, json_string(st->frames[i]));
	json_object_set_new(o, "stack", frames);
	json_object_set_new(o, "stack_id", json_integer(e->stack_id));
	json_object_set_new(o, "cpu", json_integer(e->cpu));
	nb_out_json(o);
}

static void s_drop_text(struct s_drop *r, const struct nb_event *e, const struct nb_stack *st)
{
	char wall[32], ifb[16], proto[16], src[64], dst[64], reason[64], loc[128];

	nb_fmt_wall(e->ts_ns + (uint64_t)r->wall_off, 0, wall, sizeof(wall));
	printf("%-12s%-11s%-7s%s -> %s  %s  %s\n", wall, s_ifname(r, e->ifindex, ifb),
	       nb_pkt_proto(&e->pkt, e->ethertype, proto, sizeof(proto)),
	       nb_pkt_endpoint(&e->pkt, e->ethertype, true, src, sizeof(src)),
	       nb_pkt_endpoint(&e->pkt, e->ethertype, false, dst, sizeof(dst)),
	       s_reason(r, e->reason, reason, sizeof(reason)),
	       nb_sym_addr(r->sym, e->location, false, loc, sizeof(loc)));
	if (nb_reason_explain(reason))
		printf("  Why: %s\n", nb_reason_explain(reason));
	printf("  Stack:\n");
	if (!st)
		printf("    %s\n", S_STACK_NONE);
	for (int i = 0; st && i < st->n; i++)
		printf("    %s\n", st->frames[i]);
	printf("\n");
}

static int s_on_drop(struct nb_rt *rt, void *st, const struct nb_event *e)
{
	struct s_drop *r = st;
	const struct nb_stack *stack;

	if (e->type != NB_EV_DROP)
		return 0;
	(void)rt;
	stack = nb_drops_stack(r->d, r->sym, e->stack_id);
	r->shown++;
	if (r->o->json)
		s_drop_json(r, e, stack);
	else
		s_drop_text(r, e, stack);
	return 0;
}

static void s_drop_summary(struct s_drop *r)
{
	struct nb_drops_stats st;

	nb_drops_get_stats(r->d, &st);
	if (r->o->json) {
		json_t *o = json_object();

		json_object_set_new(o, "type", json_string("summary"));
		json_object_set_new(o, "drops", json_integer((json_int_t)st.matched));
		json_object_set_new(o, "shown", json_integer((json_int_t)r->shown));
		json_object_set_new(o, "lost_events", json_integer((json_int_t)st.lost));
		json_object_set_new(o, "missed", json_integer((json_int_t)st.missed));
		json_object_set_new(o, "no_stack", json_integer((json_int_t)st.stack_err));
		json_object_set_new(o, "unparsed", json_integer((json_int_t)st.parse_err));
		nb_out_json(o);
		return;
	}
	printf("=== Summary ===\n");
	printf("Drops: %llu (shown %llu)\n", (unsigned long long)st.matched,
	       (unsigned long long)r->shown);
	printf("Lost events: %llu%s\n", (unsigned long long)st.lost,
	       st.lost ? " (ring buffer full: raise --ringbuf-size or filter more)" : "");
	if (st.missed)
		printf("Missed: %llu (the tracer was busy on that CPU: drops neither shown nor "
		       "counted)\n",
		       (unsigned long long)st.missed);
	if (st.stack_err)
		printf("Without stack: %llu\n", (unsigned long long)st.stack_err);
}

static int s_eth_setup(struct nb_rt *rt, void *st)
{
	struct s_drop *r = st;
	char err[256];
	int rc;

	rc = s_setup_common(rt, r);
	if (rc)
		return rc;
	if (nb_drops_open(&r->d, &r->cfg, nb_tool_on_event, rt, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_ERR;
	}
	return 0;
}

static void s_eth_start(struct nb_rt *rt, void *st, json_t *start)
{
	struct s_drop *r = st;

	r->wall_off = rt->wall_off;
	if (start)
		json_object_set_new(start, "attach_ktime_ns",
				    json_integer((json_int_t)nb_drops_attach_ts(r->d)));
	else
		printf("%-12s%-11s%-7s%s  %-9s  %s\n", "TIME", "INTERFACE", "PROTO",
		       "SRC_IP:PORT -> DST_IP:PORT", "REASON", "LOCATION");
}

static int s_eth_poll(struct nb_rt *rt, void *st, int timeout_ms)
{
	struct s_drop *r = st;

	(void)rt;
	return nb_drops_poll(r->d, timeout_ms);
}

static int s_eth_summary(struct nb_rt *rt, void *st)
{
	struct s_drop *r = st;

	(void)rt;
	/* What the kernel produced before we stopped is still shown. */
	nb_drops_consume(r->d);
	s_drop_summary(r);
	return NB_EXIT_OK;
}

const struct nb_tool_ops nb_eth_drop_ops = {
	.state_size = sizeof(struct s_drop),
	.check = s_check,
	.setup = s_eth_setup,
	.start = s_eth_start,
	.on_event = s_on_drop,
	.poll = s_eth_poll,
	.summary = s_eth_summary,
	.teardown = s_teardown,
	.poll_ms = S_POLL_MS,
};

/* ---- kernel_drop_stack_stats_summary_all ---- */

static int s_key_cmp(const void *a, const void *b)
{
	const struct nb_drop_key *x = a, *y = b;

	if (x->stack_id != y->stack_id)
		return x->stack_id < y->stack_id ? -1 : 1;
	if (x->reason != y->reason)
		return x->reason < y->reason ? -1 : 1;
	return x->ifindex < y->ifindex ? -1 : x->ifindex > y->ifindex;
}

static int s_delta_cmp(const void *a, const void *b)
{
	const struct s_cnt *x = a, *y = b;

	if (x->delta != y->delta)
		return x->delta > y->delta ? -1 : 1;
	return s_key_cmp(&x->k, &y->k);
}

static void s_on_count(const struct nb_drop_key *k, uint64_t count, void *ctx)
{
	struct s_snap *s = ctx;

	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 256;
		struct s_cnt *c = realloc(s->c, nc * sizeof(*c));

		if (!c) {
			s->err = -ENOMEM;
			return;
		}
		s->c = c;
		s->cap = nc;
	}
	s->c[s->n++] = (struct s_cnt){.k = *k, .total = count};
}

static void s_stats_start(struct nb_rt *rt, void *st, json_t *start)
{
	struct s_drop *r = st;

	r->wall_off = rt->wall_off;
	if (start) {
		json_object_set_new(start, "attach_ktime_ns",
				    json_integer((json_int_t)nb_drops_attach_ts(r->d)));
		json_object_set_new(start, "interval_s", json_integer(r->o->interval));
		return;
	}
	printf("=== Kernel Drop Stack Statistics ===\n");
	printf("Interval: %lds\n\n", r->o->interval);
}

/* Function names only, as the documented format shows them. */
static void s_frame_name(const char *frame, char *buf, size_t len)
{
	size_t n = strcspn(frame, "+");

	snprintf(buf, len, "%.*s", (int)n, frame);
}

static void s_stats_report(struct s_drop *r, struct s_snap *cur, uint64_t now_wall, uint64_t secs,
			   bool final)
{
	struct nb_drops_stats st;
	uint64_t total = 0;
	size_t nz = 0, shown;
	char wall[32], reason[64], ifb[16], fn[128];

	for (size_t i = 0; i < cur->n; i++) {
		const struct nb_stack *s;

		if (!cur->c[i].delta)
			continue;
		total += cur->c[i].delta;
		/* One drop site under several stack ids (tracing glue differs) is one entry. */
		s = nb_drops_stack(r->d, r->sym, cur->c[i].k.stack_id);
		cur->c[nz] = cur->c[i];
		if (s)
			cur->c[nz].k.stack_id = s->canon;
		nz++;
	}
	qsort(cur->c, nz, sizeof(*cur->c), s_key_cmp);
	{
		size_t m = 0;

		for (size_t i = 0; i < nz; i++) {
			if (m && !s_key_cmp(&cur->c[m - 1].k, &cur->c[i].k))
				cur->c[m - 1].delta += cur->c[i].delta;
			else
				cur->c[m++] = cur->c[i];
		}
		nz = m;
	}
	qsort(cur->c, nz, sizeof(*cur->c), s_delta_cmp);
	shown = nz < (size_t)r->o->top ? nz : (size_t)r->o->top;
	nb_drops_get_stats(r->d, &st);
	nb_fmt_wall(now_wall, 0, wall, sizeof(wall));
	if (r->o->json) {
		json_t *o = json_object(), *arr = json_array();

		for (size_t i = 0; i < shown; i++) {
			const struct s_cnt *c = &cur->c[i];
			const struct nb_stack *s = nb_drops_stack(r->d, r->sym, c->k.stack_id);
			json_t *frames = json_array();

			for (int j = 0; s && j < s->n; j++)
				json_array_append_new(frames, json_string(s->frames[j]));
			json_array_append_new(
			    arr, json_pack("{s:I, s:s, s:I, s:s, s:I, s:i, s:o}", "count",
					   (json_int_t)c->delta, "reason",
					   s_reason(r, c->k.reason, reason, sizeof(reason)),
					   "reason_code", (json_int_t)c->k.reason, "interface",
					   s_ifname(r, c->k.ifindex, ifb), "ifindex",
					   (json_int_t)c->k.ifindex, "stack_id", c->k.stack_id,
					   "stack", frames));
		}
		json_object_set_new(o, "type", json_string("interval"));
		json_object_set_new(o, "time", json_string(wall));
		json_object_set_new(o, "seconds", json_integer((json_int_t)secs));
		json_object_set_new(o, "final", json_boolean(final));
		json_object_set_new(o, "total", json_integer((json_int_t)total));
		json_object_set_new(o, "stacks", arr);
		json_object_set_new(o, "not_shown", json_integer((json_int_t)(nz - shown)));
		json_object_set_new(o, "no_stack", json_integer((json_int_t)st.stack_err));
		json_object_set_new(o, "uncounted", json_integer((json_int_t)st.count_full));
		json_object_set_new(o, "missed", json_integer((json_int_t)st.missed));
		nb_out_json(o);
		return;
	}
	printf("[%s] Top drop stacks%s:\n\n", wall, final ? " (final, partial interval)" : "");
	if (!nz)
		printf("  (no drops)\n\n");
	for (size_t i = 0; i < shown; i++) {
		const struct s_cnt *c = &cur->c[i];
		const struct nb_stack *s = nb_drops_stack(r->d, r->sym, c->k.stack_id);

		printf("Count: %llu  Reason: %s  Interface: %s\n", (unsigned long long)c->delta,
		       s_reason(r, c->k.reason, reason, sizeof(reason)),
		       s_ifname(r, c->k.ifindex, ifb));
		if (!s)
			printf("  %s\n", S_STACK_NONE);
		for (int j = 0; s && j < s->n; j++) {
			s_frame_name(s->frames[j], fn, sizeof(fn));
			printf("  %s\n", fn);
		}
		printf("\n");
	}
	if (nz > shown)
		printf("(%zu more stacks with %llu drops not shown; raise --top)\n\n", nz - shown,
		       (unsigned long long)total);
	/* Drops the kernel could not count are said, never silently left out of the totals. */
	if (st.count_full || st.missed)
		printf("Not counted since start: %llu (aggregation map full), %llu (tracer busy "
		       "on that CPU)\n\n",
		       (unsigned long long)st.count_full, (unsigned long long)st.missed);
}

/* Counts since the previous snapshot: the kernel's totals are never reset, so none is lost. */
static int s_stats_tick(struct s_drop *r, struct s_snap *prev, uint64_t secs, bool final)
{
	struct s_snap cur = {0};
	int rc;

	rc = nb_drops_counts(r->d, s_on_count, &cur);
	if (!rc)
		rc = cur.err;
	if (rc) {
		free(cur.c);
		return rc;
	}
	qsort(cur.c, cur.n, sizeof(*cur.c), s_key_cmp);
	for (size_t i = 0; i < cur.n; i++) {
		const struct s_cnt *p =
		    prev->n ? bsearch(&cur.c[i].k, prev->c, prev->n, sizeof(*prev->c), s_key_cmp)
			    : NULL;

		cur.c[i].delta = cur.c[i].total - (p ? p->total : 0);
	}
	/* The report reorders a copy; the snapshot stays sorted by key for the next bsearch. */
	{
		struct s_snap view = {.n = cur.n, .cap = cur.n};

		view.c = cur.n ? malloc(cur.n * sizeof(*cur.c)) : NULL;
		if (cur.n && !view.c) {
			free(cur.c);
			return -ENOMEM;
		}
		if (cur.n)
			memcpy(view.c, cur.c, cur.n * sizeof(*cur.c));
		s_stats_report(r, &view, nb_mono_ns() + (uint64_t)r->wall_off, secs, final);
		free(view.c);
	}
	free(prev->c);
	*prev = cur;
	return 0;
}

static int s_stats_setup(struct nb_rt *rt, void *st)
{
	struct s_drop *r = st;
	char err[256];
	int rc;

	rc = s_setup_common(rt, r);
	if (rc)
		return rc;
	r->cfg.aggregate = true;
	r->prev = calloc(1, sizeof(*r->prev));
	if (!r->prev) {
		nb_err("out of memory");
		return NB_EXIT_ERR;
	}
	if (nb_drops_open(&r->d, &r->cfg, NULL, NULL, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_ERR;
	}
	return 0;
}

/* Nothing to read: the kernel counts. The runtime's loop only needs a pause. */
static int s_stats_poll(struct nb_rt *rt, void *st, int timeout_ms)
{
	(void)rt;
	(void)st;
	usleep((useconds_t)timeout_ms * 1000);
	return 0;
}

static int s_stats_report_now(struct nb_rt *rt, struct s_drop *r, uint64_t now, bool final)
{
	bool partial;
	uint64_t secs = nb_period_close(&rt->period, now, &partial);
	int rc;

	/* The last report covers the partial interval up to the end. */
	rc = s_stats_tick(r, r->prev, secs, final && partial);
	if (rc) {
		fflush(stdout);
		nb_err("cannot read the drop counts: %s", strerror(-rc));
		return NB_EXIT_ERR;
	}
	return 0;
}

static int s_stats_interval(struct nb_rt *rt, void *st, uint64_t now, bool last)
{
	struct s_drop *r = st;

	/* The last report is the summary's: one report at the end, as at an interval's end. */
	if (last || !nb_period_due(&rt->period, now))
		return 0;
	return s_stats_report_now(rt, r, now, false);
}

static int s_stats_summary(struct nb_rt *rt, void *st)
{
	return s_stats_report_now(rt, st, nb_mono_ns(), true);
}

const struct nb_tool_ops nb_drop_stats_ops = {
	.state_size = sizeof(struct s_drop),
	.check = s_check,
	.setup = s_stats_setup,
	.start = s_stats_start,
	.poll = s_stats_poll,
	.tick = s_stats_interval,
	.summary = s_stats_summary,
	.teardown = s_teardown,
	.poll_ms = S_POLL_MS,
};
