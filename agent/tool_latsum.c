// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * system_network_latency_summary and vm_network_latency_summary: the stage chain of
 * common/nb_lat.h in the stage tracer's histogram mode. The kernel counts the delta of every
 * packet between adjacent stages in per-CPU log2 buckets; every interval this reads the
 * totals and prints what was added since the previous report, per stage pair, in the
 * manual's `usecs : count distribution` layout. No event per packet.
 */
#include "nb_tool.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nb_log.h"
#include "nb_time.h"

#define S_POLL_MS 200
#define S_MAX_PAIRS (NB_LAT_MAX_STAGES * NB_LAT_MAX_STAGES)
#define S_ANOMALY "  <<<< ANOMALY"

struct s_pair {
	uint8_t a, b;
	bool adjacent; /* adjacent hooked stages of a path: always shown */
};

struct s_sum {
	const struct nb_latsum_tool *d;
	const struct nb_opts *o;
	struct nb_tracer *t;
	struct nb_lat_stage st[NB_MAX_STAGES];
	int n;
	enum nb_lat_dir dir;
	uint8_t proto;
	struct s_pair adj[S_MAX_PAIRS];
	int n_adj;
	uint64_t *prev, *cur; /* NB_LAT_HIST_SLOTS: the last report's totals, this one's */
	struct nb_lat_stats stats_prev;
	uint64_t t_start; /* for the summary's length */
	int64_t wall_off;
	unsigned int reports;
};

static const char *s_dir_name(enum nb_lat_dir d)
{
	return d == NB_LAT_TX ? "TX" : d == NB_LAT_RX ? "RX" : "BOTH";
}

static const char *s_proto_name(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return "ICMP";
	default:
		return "ALL";
	}
}

/* The path's direction, for a chain of both directions: tx first, then rx (nb_lat_chain). */
static const char *s_path_name(const struct s_sum *s, uint8_t path)
{
	if (s->dir == NB_LAT_BOTH)
		return path ? "RX" : "TX";
	return s_dir_name(s->dir);
}

static int s_check(struct nb_rt *rt, void *st)
{
	struct s_sum *s = st;
	bool vm = ((const struct nb_latsum_tool *)rt->tool->arg)->fam == NB_LAT_VM;

	if (nb_lat_dir_parse(rt->o.direction, !vm, &s->dir)) {
		nb_err("invalid --direction '%s' (%s)", rt->o.direction ? rt->o.direction : "",
		       vm ? "rx or tx" : "rx, tx or both");
		return NB_EXIT_USAGE;
	}
	return 0;
}

static int s_setup(struct nb_rt *rt, void *st)
{
	struct s_sum *s = st;
	struct nb_lat_cfg cfg = {0};
	char err[256];
	int last[2] = {-1, -1};

	s->d = rt->tool->arg;
	s->o = &rt->o;
	s->proto = rt->proto;
	s->n = nb_lat_chain(s->d->fam, s->dir, false, rt->proto, s->st);
	if (s->n < 1) {
		nb_err("no stage chain for this direction");
		return NB_EXIT_USAGE;
	}
	s->prev = calloc(NB_LAT_HIST_SLOTS, sizeof(uint64_t));
	s->cur = calloc(NB_LAT_HIST_SLOTS, sizeof(uint64_t));
	if (!s->prev || !s->cur) {
		nb_err("out of memory");
		return NB_EXIT_ERR;
	}
	cfg.stages = s->st;
	cfg.nstages = s->n;
	memcpy(cfg.ifindex[NB_LAT_IF_PHY], rt->ifs[NB_RT_IF_PHY].ifindex,
	       sizeof(cfg.ifindex[0]));
	cfg.n_if[NB_LAT_IF_PHY] = rt->ifs[NB_RT_IF_PHY].n;
	memcpy(cfg.ifindex[NB_LAT_IF_VM], rt->ifs[NB_RT_IF_VM].ifindex, sizeof(cfg.ifindex[0]));
	cfg.n_if[NB_LAT_IF_VM] = rt->ifs[NB_RT_IF_VM].n;
	nb_tool_filter(rt, &cfg.filter);
	/* Both directions: the pair of addresses either way round. */
	cfg.filter.bidir = s->dir == NB_LAT_BOTH;
	cfg.hist = true;
	cfg.ns = &rt->ns;
	if (nb_tracer_open_chain(&s->t, &cfg, NULL, NULL, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_ERR;
	}
	/* The pairs to show: each hooked stage after the previous hooked one of its path. */
	for (int i = 0; i < s->n; i++) {
		uint8_t p = s->st[i].path & 1;

		if (!nb_tracer_stage_ok(s->t, i)) {
			nb_warn("stage %s: %s; measuring the others", s->st[i].name,
				nb_tracer_stage_source(s->t, i));
			continue;
		}
		if (last[p] >= 0)
			s->adj[s->n_adj++] = (struct s_pair){(uint8_t)last[p], (uint8_t)i, true};
		last[p] = i;
	}
	if (!s->n_adj) {
		nb_err("kernel lacks the hooks for every pair of stages: nothing to measure");
		return NB_EXIT_ERR;
	}
	s->t_start = nb_mono_ns();
	return 0;
}

static void s_start(struct nb_rt *rt, void *st, json_t *start)
{
	struct s_sum *s = st;

	s->wall_off = rt->wall_off;
	if (start) {
		json_t *arr = json_array();

		for (int i = 0; i < s->n; i++)
			json_array_append_new(
			    arr, json_pack("{s:s, s:s, s:s, s:b}", "name", s->st[i].name, "path",
					   s_path_name(s, s->st[i].path), "source",
					   nb_tracer_stage_source(s->t, i), "hooked",
					   nb_tracer_stage_ok(s->t, i)));
		json_object_set_new(start, "interval_s", json_integer(rt->o.interval));
		json_object_set_new(start, "protocol", json_string(s_proto_name(s->proto)));
		json_object_set_new(start, "direction", json_string(s_dir_name(s->dir)));
		json_object_set_new(start, "stages", arr);
		return;
	}
	printf("=== %s ===\n", s->d->title);
	printf("Interval: %lds | Protocol: %s | Direction: %s\n", rt->o.interval,
	       s_proto_name(s->proto), s_dir_name(s->dir));
	printf("Stages:\n");
	for (int i = 0; i < s->n; i++)
		printf("  %s%s%s\n", s->dir == NB_LAT_BOTH ? s_path_name(s, s->st[i].path) : "",
		       s->dir == NB_LAT_BOTH ? " " : "", nb_tracer_stage_source(s->t, i));
	printf("\n");
}

/* The pair's buckets in h (NB_LAT_HIST_SLOTS totals or deltas). */
static const uint64_t *s_row(const uint64_t *h, uint8_t a, uint8_t b)
{
	return h + ((size_t)a * NB_LAT_MAX_STAGES + b) * NB_LAT_BUCKETS;
}

static uint64_t s_sum_row(const uint64_t *row)
{
	uint64_t n = 0;

	for (int k = 0; k < NB_LAT_BUCKETS; k++)
		n += row[k];
	return n;
}

/* Every pair to show: the adjacent ones, then any other that counted packets. */
static int s_pairs(const struct s_sum *s, const uint64_t *h, struct s_pair *out)
{
	int n = 0;

	for (int i = 0; i < s->n_adj; i++)
		out[n++] = s->adj[i];
	for (int a = 0; a < s->n; a++)
		for (int b = a + 1; b < s->n; b++) {
			bool adj = false;

			for (int i = 0; i < s->n_adj; i++)
				adj |= s->adj[i].a == a && s->adj[i].b == b;
			if (!adj && s_sum_row(s_row(h, (uint8_t)a, (uint8_t)b)))
				out[n++] = (struct s_pair){(uint8_t)a, (uint8_t)b, false};
		}
	return n;
}

static void s_text_hist(const uint64_t *row)
{
	unsigned int far = nb_lat_far_from(row);
	uint64_t max = 0;
	int top = -1;

	for (int k = 0; k < NB_LAT_BUCKETS; k++) {
		if (row[k])
			top = k;
		if (row[k] > max)
			max = row[k];
	}
	if (top < 0) {
		printf("     (no packets)\n\n");
		return;
	}
	printf("     usecs               : count     distribution\n");
	for (int k = 0; k <= top; k++) {
		char bar[33];
		int w = (int)(row[k] * 32 / max);

		memset(bar, '*', (size_t)w);
		memset(bar + w, ' ', (size_t)(32 - w));
		bar[32] = 0;
		printf("%10llu -> %-10llu : %-8llu |%s|%s\n",
		       (unsigned long long)nb_lat_bucket_low((unsigned int)k),
		       (unsigned long long)nb_lat_bucket_high((unsigned int)k),
		       (unsigned long long)row[k], bar,
		       row[k] && (unsigned int)k >= far ? S_ANOMALY : "");
	}
	printf("\n");
}

static json_t *s_json_pairs(const struct s_sum *s, const uint64_t *h)
{
	struct s_pair pairs[S_MAX_PAIRS];
	int np = s_pairs(s, h, pairs);
	json_t *arr = json_array();

	for (int i = 0; i < np; i++) {
		const uint64_t *row = s_row(h, pairs[i].a, pairs[i].b);
		unsigned int far = nb_lat_far_from(row);
		json_t *b = json_array();

		for (int k = 0; k < NB_LAT_BUCKETS; k++)
			if (row[k])
				json_array_append_new(
				    b, json_pack("{s:I, s:I, s:I, s:b}", "low_us",
						 (json_int_t)nb_lat_bucket_low((unsigned int)k),
						 "high_us",
						 (json_int_t)nb_lat_bucket_high((unsigned int)k),
						 "count", (json_int_t)row[k], "anomaly",
						 (unsigned int)k >= far));
		json_array_append_new(
		    arr, json_pack("{s:s, s:s, s:s, s:b, s:I, s:o}", "from", s->st[pairs[i].a].name,
				   "to", s->st[pairs[i].b].name, "path",
				   s_path_name(s, s->st[pairs[i].b].path), "adjacent",
				   pairs[i].adjacent, "count", (json_int_t)s_sum_row(row),
				   "buckets", b));
	}
	return arr;
}

/* One report of h (deltas since the previous one, or totals since the start). */
static void s_report(struct s_sum *s, const uint64_t *h, const struct nb_lat_stats *d,
		     uint64_t now, uint64_t secs, const char *type, bool final)
{
	struct s_pair pairs[S_MAX_PAIRS];
	int np = s_pairs(s, h, pairs);
	char wall[32];

	nb_fmt_wall(now + (uint64_t)s->wall_off, 0, wall, sizeof(wall));
	if (s->o->json) {
		json_t *o = json_object();

		json_object_set_new(o, "type", json_string(type));
		json_object_set_new(o, "time", json_string(wall));
		json_object_set_new(o, "seconds", json_integer((json_int_t)secs));
		json_object_set_new(o, "final", json_boolean(final));
		json_object_set_new(o, "pairs", s_json_pairs(s, h));
		json_object_set_new(o, "no_earlier_stage", json_integer((json_int_t)d->no_prev));
		json_object_set_new(o, "unrecorded", json_integer((json_int_t)d->last_full));
		json_object_set_new(o, "parse_errors", json_integer((json_int_t)d->parse_err));
		nb_out_json(o);
		return;
	}
	if (!strcmp(type, "summary"))
		printf("=== Summary: %llus since start, %u reports ===\n\n",
		       (unsigned long long)secs, s->reports);
	for (int i = 0; i < np; i++) {
		const struct s_pair *p = &pairs[i];

		printf("[%s] Stage: %s -> %s%s%s%s%s%s\n", wall, s->st[p->a].name, s->st[p->b].name,
		       s->dir == NB_LAT_BOTH ? " (" : "",
		       s->dir == NB_LAT_BOTH ? s_path_name(s, s->st[p->b].path) : "",
		       s->dir == NB_LAT_BOTH ? ")" : "",
		       p->adjacent ? "" : " (skipped the stages between)",
		       final && !strcmp(type, "interval") ? " (final, partial interval)" : "");
		s_text_hist(s_row(h, p->a, p->b));
	}
	/* What could not be measured is said, never silently left out. */
	if (d->no_prev || d->last_full || d->parse_err)
		printf("Not measured: %llu packets at a later stage with no earlier one on record "
		       "(entered before the tool, skipped the first stage, or evicted), %llu "
		       "records the map refused, %llu unreadable headers\n\n",
		       (unsigned long long)d->no_prev, (unsigned long long)d->last_full,
		       (unsigned long long)d->parse_err);
}

static int s_interval(struct nb_rt *rt, struct s_sum *s, uint64_t now, bool final)
{
	bool partial;
	uint64_t secs;
	struct nb_lat_stats now_st, d;
	int rc = nb_tracer_hist(s->t, s->cur);
	uint64_t *tmp;

	if (rc) {
		fflush(stdout);
		nb_err("cannot read the histograms: %s", strerror(-rc));
		return NB_EXIT_ERR;
	}
	nb_tracer_lat_stats(s->t, &now_st);
	d.no_prev = now_st.no_prev - s->stats_prev.no_prev;
	d.last_full = now_st.last_full - s->stats_prev.last_full;
	d.parse_err = now_st.parse_err - s->stats_prev.parse_err;
	/* Deltas in prev's place: the kernel's totals are never reset, so none falls between. */
	for (size_t k = 0; k < NB_LAT_HIST_SLOTS; k++)
		s->prev[k] = s->cur[k] - s->prev[k];
	s->reports++;
	secs = nb_period_close(&rt->period, now, &partial);
	s_report(s, s->prev, &d, now, secs, "interval", final && partial);
	tmp = s->prev;
	s->prev = s->cur;
	s->cur = tmp;
	s->stats_prev = now_st;
	return 0;
}

/* Nothing to read per packet: the kernel counts. The runtime's loop only needs a pause. */
static int s_poll(struct nb_rt *rt, void *st, int timeout_ms)
{
	(void)rt;
	(void)st;
	usleep((useconds_t)timeout_ms * 1000);
	return 0;
}

static int s_tick(struct nb_rt *rt, void *st, uint64_t now, bool last)
{
	struct s_sum *s = st;

	if (last || !nb_period_due(&rt->period, now))
		return 0;
	return s_interval(rt, s, now, false);
}

static int s_summary(struct nb_rt *rt, void *st)
{
	struct s_sum *s = st;
	struct nb_lat_stats tot;
	uint64_t now = nb_mono_ns();
	int rc;

	(void)rt;
	/* The partial interval up to the end, then the totals since the start. */
	rc = s_interval(rt, s, now, true);
	if (rc)
		return rc;
	nb_tracer_lat_stats(s->t, &tot);
	s_report(s, s->prev, &tot, now, (now - s->t_start + 500000000ull) / 1000000000ull,
		 "summary", true);
	return 0;
}

static void s_teardown(struct nb_rt *rt, void *st)
{
	struct s_sum *s = st;

	(void)rt;
	nb_tracer_destroy(&s->t);
	free(s->prev);
	free(s->cur);
}

/* serve --summary: the totals since setup, per pair shown in the summaries. */
static int s_hists(struct nb_rt *rt, void *st, nb_tool_hist_fn fn, void *ctx)
{
	struct s_sum *s = st;
	struct s_pair pairs[S_MAX_PAIRS];
	uint64_t sums[NB_LAT_MAX_STAGES * NB_LAT_MAX_STAGES];
	int np, rc;

	(void)rt;
	/* cur is free between reports, and serve makes none. */
	rc = nb_tracer_hist(s->t, s->cur);
	if (!rc)
		rc = nb_tracer_hist_sum(s->t, sums);
	if (rc)
		return rc;
	np = s_pairs(s, s->cur, pairs);
	for (int i = 0; i < np; i++) {
		const uint64_t *row = s_row(s->cur, pairs[i].a, pairs[i].b);
		struct nb_tool_hist h = {
		    .from = s->st[pairs[i].a].name,
		    .to = s->st[pairs[i].b].name,
		    .path = s_path_name(s, s->st[pairs[i].b].path),
		    .buckets = row,
		    .count = s_sum_row(row),
		    .sum_ns = sums[pairs[i].a * NB_LAT_MAX_STAGES + pairs[i].b],
		};

		fn(&h, ctx);
	}
	return 0;
}

const struct nb_tool_ops nb_lat_summary_ops = {
	.hists = s_hists,
	.state_size = sizeof(struct s_sum),
	.check = s_check,
	.setup = s_setup,
	.start = s_start,
	.poll = s_poll,
	.tick = s_tick,
	.summary = s_summary,
	.teardown = s_teardown,
	.poll_ms = S_POLL_MS,
};
