// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The single-host path tracers: events from the stage tracer go through the shared join
 * engine (one node, four stages) and each packet is printed when its status is final.
 */
#include "agent.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nb_blame.h"
#include "nb_join.h"
#include "nb_time.h"

/* Events may be reserved on another CPU before we poll and submitted after: allow for it. */
#define S_WATERMARK_SLACK_NS 2000000ull
#define S_POLL_MS	     50

struct s_run {
	struct nb_opts o;
	const char *title;
	const char *proto_name;
	struct nb_flow_spec spec;
	char rx_names[NB_MAX_IFS][16];
	char tx_names[NB_MAX_IFS][16];
	int n_rx, n_tx;
	struct nb_join *join;
	struct nb_tracer *tr;
	int64_t wall_off;
	uint64_t counts[NB_ST__COUNT];
	uint64_t finals;
	uint64_t events;
	uint64_t unmatched;
	bool done;
};

static const char *s_ifname(const struct s_run *r, uint32_t ifindex)
{
	for (int i = 0; i < r->n_rx; i++)
		if (r->spec.rx_if[i] == ifindex)
			return r->rx_names[i];
	for (int i = 0; i < r->n_tx; i++)
		if (r->spec.tx_if[i] == ifindex)
			return r->tx_names[i];
	return "?";
}

static void s_status_detail(const struct s_run *r, const struct nb_joined *p, enum nb_status st,
			    char *buf, size_t len)
{
	buf[0] = 0;
	if (st == NB_ST_COMPLETE)
		return;
	if (st != NB_ST_INCONCLUSIVE) {
		snprintf(buf, len, "missing %s after %ldms", nb_stage_name_local(p->next_due),
			 r->o.timeout_ms);
		return;
	}
	switch (p->why) {
	case NB_FINAL_EVICTED:
		snprintf(buf, len, "too many packets in flight; raise --timeout-ms or filter more");
		break;
	case NB_FINAL_REUSED:
		snprintf(buf, len, "its id/seq came back before %s was seen",
			 nb_stage_name_local(p->next_due));
		break;
	case NB_FINAL_FLUSH:
		snprintf(buf, len, "run ended before %s was due", nb_stage_name_local(p->next_due));
		break;
	default:
		snprintf(buf, len, "events lost or tracer not attached while %s was due",
			 nb_stage_name_local(p->next_due));
	}
}

static void s_print_text(struct s_run *r, const struct nb_joined *p, enum nb_status st)
{
	char wall[32], d[32], detail[160];
	uint64_t prev = 0, first = 0, last = 0;
	bool any = false;

	for (int i = 0; i < p->nstages; i++) {
		if (!p->st[i].seen)
			continue;
		if (!any)
			first = p->st[i].ts;
		last = p->st[i].ts;
		any = true;
	}
	printf("[%s] %s id=%u seq=%u\n",
	       nb_fmt_wall(first + (uint64_t)r->wall_off, 6, wall, sizeof(wall)), "ICMP",
	       p->key.k1, (unsigned)p->key.k2);
	for (int i = 0; i < p->nstages; i++) {
		const struct nb_stage_obs *s = &p->st[i];

		if (!s->seen)
			continue;
		printf("  [%d] %-7s %-8s ktime=%llu", i, nb_stage_name_local(i),
		       s_ifname(r, s->ifindex), (unsigned long long)s->ts);
		if (prev)
			printf("  delta=%s", nb_fmt_dur(s->ts > prev ? s->ts - prev : 0, d, sizeof(d)));
		printf("\n");
		prev = s->ts;
	}
	s_status_detail(r, p, st, detail, sizeof(detail));
	if (st == NB_ST_COMPLETE)
		printf("  STATUS: COMPLETE  TOTAL_TIME=%s\n\n",
		       nb_fmt_dur(last - first, d, sizeof(d)));
	else
		printf("  STATUS: %s (%s)\n\n", nb_status_name(st), detail);
}

static void s_print_json(struct s_run *r, const struct nb_joined *p, enum nb_status st)
{
	char a[64], b[64], wall[32], detail[160];
	json_t *o = json_object(), *stages = json_array();
	uint64_t prev = 0, first = 0, last = 0;
	char *txt;

	for (int i = 0; i < p->nstages; i++) {
		const struct nb_stage_obs *s = &p->st[i];
		json_t *so;

		if (!s->seen)
			continue;
		if (!prev)
			first = s->ts;
		last = s->ts;
		so = json_pack("{s:s, s:s, s:I, s:I}", "stage", nb_stage_name_local(i), "iface",
			       s_ifname(r, s->ifindex), "ktime_ns", (json_int_t)s->ts, "delta_ns",
			       (json_int_t)(prev && s->ts > prev ? s->ts - prev : 0));
		json_array_append_new(stages, so);
		prev = s->ts;
	}
	s_status_detail(r, p, st, detail, sizeof(detail));
	json_object_set_new(o, "type", json_string("packet"));
	json_object_set_new(o, "proto", json_string(r->proto_name));
	json_object_set_new(o, "time",
			    json_string(nb_fmt_wall(first + (uint64_t)r->wall_off, 6, wall,
						    sizeof(wall))));
	json_object_set_new(o, "src", json_string(nb_addr_fmt(r->spec.src, r->spec.family, a,
							      sizeof(a))));
	json_object_set_new(o, "dst", json_string(nb_addr_fmt(r->spec.dst, r->spec.family, b,
							      sizeof(b))));
	json_object_set_new(o, "id", json_integer(p->key.k1));
	json_object_set_new(o, "seq", json_integer((json_int_t)p->key.k2));
	json_object_set_new(o, "status", json_string(nb_status_name(st)));
	if (detail[0])
		json_object_set_new(o, "detail", json_string(detail));
	json_object_set_new(o, "stages", stages);
	json_object_set_new(o, "total_ns", json_integer((json_int_t)(last - first)));
	txt = json_dumps(o, JSON_COMPACT);
	if (txt)
		puts(txt);
	free(txt);
	json_decref(o);
}

static void s_on_final(const struct nb_joined *p, void *ctx)
{
	struct s_run *r = ctx;
	enum nb_status st = nb_status_local(p);

	if (r->done)
		return;
	r->counts[st]++;
	r->finals++;
	if (r->o.json)
		s_print_json(r, p, st);
	else
		s_print_text(r, p, st);
	if (r->o.count && r->finals >= (uint64_t)r->o.count)
		r->done = true;
}

static int s_on_event(const struct nb_event *e, void *ctx)
{
	struct s_run *r = ctx;
	struct nb_key key;
	int stage;

	r->events++;
	stage = nb_flow_stage(&r->spec, e, &key);
	if (stage < 0) {
		r->unmatched++;
		return 0;
	}
	nb_join_add(r->join, &key, stage, e->ts_ns, e->ts_ns, e->ifindex, 0);
	return 0;
}

static void s_print_header(const struct s_run *r, const struct nb_netns *ns)
{
	char a[64], b[64];

	printf("=== %s ===\n", r->title);
	printf("RX interfaces:");
	for (int i = 0; i < r->n_rx; i++)
		printf("%s %s (ifindex=%u)", i ? "," : "", r->rx_names[i], r->spec.rx_if[i]);
	printf("\nTX interfaces:");
	for (int i = 0; i < r->n_tx; i++)
		printf("%s %s (ifindex=%u)", i ? "," : "", r->tx_names[i], r->spec.tx_if[i]);
	printf("\nFilter: %s <-> %s\n", nb_addr_fmt(r->spec.src, r->spec.family, a, sizeof(a)),
	       nb_addr_fmt(r->spec.dst, r->spec.family, b, sizeof(b)));
	if (ns->fd >= 0)
		printf("Network namespace: %s (inode=%u)\n", ns->name, ns->inum);
	printf("Timeout: %ldms\n\n", r->o.timeout_ms);
}

static void s_print_summary(struct s_run *r, uint64_t lost)
{
	struct nb_join_stats js;

	nb_join_get_stats(r->join, &js);
	if (r->o.json) {
		json_t *o = json_object(), *c = json_object();
		char *txt;

		for (int s = 0; s < NB_ST__COUNT; s++)
			if (r->counts[s])
				json_object_set_new(c, nb_status_name(s),
						    json_integer((json_int_t)r->counts[s]));
		json_object_set_new(o, "type", json_string("summary"));
		json_object_set_new(o, "counts", c);
		json_object_set_new(o, "lost_events", json_integer((json_int_t)lost));
		json_object_set_new(o, "in_flight_at_exit", json_integer((json_int_t)js.inflight));
		json_object_set_new(o, "duplicate_events", json_integer((json_int_t)js.dups));
		json_object_set_new(o, "late_events", json_integer((json_int_t)js.late));
		txt = json_dumps(o, JSON_COMPACT);
		if (txt)
			puts(txt);
		free(txt);
		json_decref(o);
		return;
	}
	printf("=== Summary ===\n");
	for (int s = 0; s < NB_ST__COUNT; s++)
		if (r->counts[s])
			printf("%s: %llu\n", nb_status_name(s), (unsigned long long)r->counts[s]);
	printf("Lost events: %llu%s\n", (unsigned long long)lost,
	       lost ? " (ring buffer full: raise --ringbuf-size; affected packets are INCONCLUSIVE)"
		    : "");
	printf("In flight at exit (not classified): %llu\n", (unsigned long long)js.inflight);
}

static int s_setup(struct s_run *r, struct nb_netns *ns)
{
	char err[256];
	int n;

	if (nb_addr_parse(r->o.src_ip, r->spec.src, &r->spec.family)) {
		nb_err("invalid --src-ip '%s'", r->o.src_ip);
		return NB_EXIT_USAGE;
	}
	uint8_t fam2;
	if (nb_addr_parse(r->o.dst_ip, r->spec.dst, &fam2)) {
		nb_err("invalid --dst-ip '%s'", r->o.dst_ip);
		return NB_EXIT_USAGE;
	}
	if (fam2 != r->spec.family) {
		nb_err("--src-ip and --dst-ip must be the same address family");
		return NB_EXIT_USAGE;
	}
	n = nb_iflist_split(r->o.rx_iface, r->rx_names, NB_MAX_IFS);
	if (n < 0) {
		nb_err("invalid --rx-iface '%s' (comma list of at most %d names)", r->o.rx_iface,
		       NB_MAX_IFS);
		return NB_EXIT_USAGE;
	}
	r->n_rx = n;
	n = nb_iflist_split(r->o.tx_iface, r->tx_names, NB_MAX_IFS);
	if (n < 0) {
		nb_err("invalid --tx-iface '%s' (comma list of at most %d names)", r->o.tx_iface,
		       NB_MAX_IFS);
		return NB_EXIT_USAGE;
	}
	r->n_tx = n;
	if (r->n_rx + r->n_tx > NB_MAX_IFS) {
		nb_err("at most %d interfaces in all", NB_MAX_IFS);
		return NB_EXIT_USAGE;
	}
	/* Checked before touching namespaces, whose files only root may open. */
	if (geteuid() != 0) {
		nb_err("must run as root (it loads BPF programs)");
		return NB_EXIT_ERR;
	}
	if (nb_netns_open(ns, r->o.netns, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_USAGE;
	}
	if (nb_netns_ifindex(ns, r->rx_names, r->n_rx, r->spec.rx_if, err, sizeof(err)) ||
	    nb_netns_ifindex(ns, r->tx_names, r->n_tx, r->spec.tx_if, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_USAGE;
	}
	r->spec.n_rx = (uint32_t)r->n_rx;
	r->spec.n_tx = (uint32_t)r->n_tx;
	if (r->o.ringbuf_kb & (r->o.ringbuf_kb - 1)) {
		nb_err("--ringbuf-size must be a power of two");
		return NB_EXIT_USAGE;
	}
	return 0;
}

int nb_tool_path_tracer(const char *tool, int argc, char **argv)
{
	struct s_run r = {0};
	struct nb_netns ns = {.fd = -1};
	struct nb_tracer_cfg tc = {0};
	struct nb_join_cfg jc = {0};
	uint64_t t_end = 0, last_lost = 0, last_check;
	char err[256];
	int rc;

	rc = nb_tool_opts(tool, argc, argv, &r.o);
	if (rc)
		return rc;
	setvbuf(stdout, NULL, _IOLBF, 0);
	r.title = "ICMP Path Tracer";
	r.proto_name = "icmp";
	rc = s_setup(&r, &ns);
	if (rc)
		goto out;
	r.spec.proto = r.spec.family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;

	jc.nstages = NB_LOCAL_STAGES;
	jc.nnodes = 1;
	jc.timeout_ns = (uint64_t)r.o.timeout_ms * 1000000ull;
	/* ICMP seq wraps after 65536 packets: at 1000/s a key comes back after 65 s. */
	jc.reuse_ns = jc.timeout_ns * 4 > 10000000000ull ? jc.timeout_ns * 4 : 10000000000ull;
	r.join = nb_join_new(&jc, s_on_final, &r);
	if (!r.join) {
		nb_err("cannot create the join engine: %s", strerror(errno));
		rc = NB_EXIT_ERR;
		goto out;
	}
	nb_flow_filter(&r.spec, ns.inum, &tc.filter);
	tc.ringbuf_bytes = (uint32_t)r.o.ringbuf_kb * 1024;
	nb_bpf_setup(r.o.verbose);
	nb_install_signals();
	if (nb_tracer_open(&r.tr, &tc, s_on_event, &r, err, sizeof(err))) {
		nb_err("%s", err);
		rc = NB_EXIT_ERR;
		goto out;
	}
	/* Before the probes were attached nothing could be seen: never read that as a drop. */
	nb_join_taint(r.join, 0, 0, nb_tracer_attach_ts(r.tr));
	r.wall_off = nb_wall_offset_ns();
	if (r.o.json)
		printf("{\"type\":\"start\",\"tool\":\"%s\",\"attach_ktime_ns\":%llu}\n", tool,
		       (unsigned long long)nb_tracer_attach_ts(r.tr));
	else
		s_print_header(&r, &ns);
	last_check = nb_mono_ns();
	if (r.o.duration)
		t_end = last_check + (uint64_t)r.o.duration * 1000000000ull;

	while (!nb_stop && !r.done) {
		uint64_t t0 = nb_mono_ns(), now, lost;

		rc = nb_tracer_poll(r.tr, S_POLL_MS);
		if (rc < 0) {
			nb_err("ring buffer poll failed: %s", strerror(-rc));
			rc = NB_EXIT_ERR;
			goto out;
		}
		/* A loss counted since the last read happened between the two reads. */
		now = nb_mono_ns();
		lost = nb_tracer_lost(r.tr);
		if (lost != last_lost) {
			nb_join_taint(r.join, 0, last_check, now);
			last_lost = lost;
		}
		last_check = now;
		nb_join_watermark(r.join, 0, t0 > S_WATERMARK_SLACK_NS ? t0 - S_WATERMARK_SLACK_NS : 0);
		nb_join_poll(r.join);
		if (t_end && nb_mono_ns() >= t_end)
			break;
	}
	rc = NB_EXIT_OK;
	s_print_summary(&r, nb_tracer_lost(r.tr));
out:
	nb_tracer_destroy(&r.tr);
	nb_join_destroy(&r.join);
	nb_netns_close(&ns);
	return rc;
}
