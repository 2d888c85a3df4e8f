// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The single-host path tracers (icmp_path_tracer, tcp_path_tracer, udp_path_tracer): events
 * from the stage tracer go through nb_path (one node, four stages: the one join engine under
 * ICMP echoes, TCP segments by byte range and UDP datagrams by fragment group), and each unit is
 * printed when its status is final, by one print path for the three protocols.
 */
#include "nb_tool.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nb_blame.h"
#include "nb_dropmap.h"
#include "nb_log.h"
#include "nb_path.h"
#include "nb_time.h"

/* Events may be reserved on another CPU before we poll and submitted after: allow for it. */
#define S_WATERMARK_SLACK_NS 2000000ull
#define S_POLL_MS	     50
/*
 * After a small batch, wait this long before reading the ring again: at a TCP transfer's rate a
 * wakeup per event cost more than the events' processing. The default ring holds some 8700
 * events, over 80 ms at 100k events/s; after a batch of S_BATCH_BIG or more there is no wait.
 */
#define S_BATCH_NS  4000000
#define S_BATCH_BIG 256

struct s_run {
	struct nb_rt *rt;
	const struct nb_opts *o;
	const char *title;
	const char *proto_name;
	struct nb_flow_spec spec;
	const struct nb_iflist *rx, *tx;
	struct nb_path *path;
	struct nb_tracer *tr;
	enum nb_hooks hooks;
	/* --drops: this host's drops of the flow, to tell a drop after REQ_TX from a lost one */
	struct nb_drops *drops;
	struct nb_dropmap *dmap;
	struct nb_sym *sym;
	const struct nb_drop_obs *drop; /* the packet being printed died here after REQ_TX */
	int64_t wall_off;
	uint64_t counts[NB_ST__COUNT];
	uint64_t finals;
	uint64_t events;
	uint64_t unmatched;
	struct nb_path_totals tt; /* TCP copies, UDP fragments lost */
	int got;		 /* events of the last poll turn */
	uint64_t t0;		 /* when it started */
	uint64_t last_lost, last_check;
	char hms[16]; /* the wall clock second of the last packet line, and which it is */
	uint64_t hms_sec;
};

static const char *s_ifname(const struct s_run *r, uint32_t ifindex)
{
	for (int i = 0; i < r->rx->n; i++)
		if (r->rx->ifindex[i] == ifindex)
			return r->rx->names[i];
	for (int i = 0; i < r->tx->n; i++)
		if (r->tx->ifindex[i] == ifindex)
			return r->tx->names[i];
	return "?";
}

/* "dropped on ens4f0 after REQ_TX: TC_EGRESS" for a packet that died here after leaving. */
static int s_drop_detail(const struct s_run *r, char *buf, size_t len)
{
	char reason[64];

	if (!r->drop)
		return 0;
	return snprintf(buf, len, "dropped on %s after REQ_TX: %s", s_ifname(r, r->drop->ifindex),
			nb_sym_reason(r->sym, r->drop->reason, reason, sizeof(reason)));
}

/* "10.0.0.1:5201", or "10.0.0.1:?" for a port not known (a UDP group without its head). */
static const char *s_endpoint(const struct s_run *r, const uint8_t *a, bool have_port,
			      uint16_t port, char *buf, size_t len)
{
	char ip[64];

	nb_addr_fmt(a, r->spec.family, ip, sizeof(ip));
	if (have_port)
		snprintf(buf, len, r->spec.family == 6 ? "[%s]:%u" : "%s:%u", ip, port);
	else
		snprintf(buf, len, r->spec.family == 6 ? "[%s]:?" : "%s:?", ip);
	return buf;
}

/* The unit's own source and destination: the reverse UDP flow goes dst -> src. */
static void s_addrs(const struct s_run *r, const struct nb_path_res *x, const uint8_t **src,
		    const uint8_t **dst)
{
	*src = x->reverse ? r->spec.dst : r->spec.src;
	*dst = x->reverse ? r->spec.src : r->spec.dst;
}

/* The first and the last stage's times; last is never before first (so durations are >= 0). */
static void s_first_last(const struct nb_joined *p, uint64_t *first, uint64_t *last)
{
	bool any = false;

	*first = *last = 0;
	for (int i = 0; i < p->nstages; i++) {
		if (!p->st[i].seen)
			continue;
		if (!any)
			*first = p->st[i].ts;
		*last = p->st[i].ts;
		any = true;
	}
	if (*last < *first)
		*last = *first;
}

/* "HH:MM:SS" of a wall-clock second, converted once per second: localtime is not cheap. */
static const char *s_hms(struct s_run *r, uint64_t wall_ns)
{
	uint64_t sec = wall_ns / 1000000000ull;

	if (sec != r->hms_sec || !r->hms[0]) {
		nb_fmt_wall(sec * 1000000000ull, 0, r->hms, sizeof(r->hms));
		r->hms_sec = sec;
	}
	return r->hms;
}

/* "HH:MM:SS.mmm" (frac 3) or "HH:MM:SS.uuuuuu" (frac 6) into buf. */
static const char *s_wall(struct s_run *r, uint64_t wall_ns, int frac, char *buf, size_t len)
{
	uint64_t ns = wall_ns % 1000000000ull;

	snprintf(buf, len, "%s.%0*llu", s_hms(r, wall_ns), frac,
		 (unsigned long long)(frac == 3 ? ns / 1000000 : ns / 1000));
	return buf;
}

static void s_print_text(struct s_run *r, const struct nb_path_res *x)
{
	const struct nb_joined *p = x->p;
	char wall[32], d[32], detail[200], a[80], b[80];
	uint64_t prev = 0, first, last;
	const uint8_t *src, *dst;

	s_first_last(p, &first, &last);
	s_addrs(r, x, &src, &dst);
	if (x->tcp) {
		printf("[%s] TCP %s -> %s seq=%u len=%u\n",
		       s_wall(r, first + (uint64_t)r->wall_off, 3, wall, sizeof(wall)),
		       s_endpoint(r, src, true, x->tcp->sport, a, sizeof(a)),
		       s_endpoint(r, dst, true, x->tcp->dport, b, sizeof(b)), x->tcp->seq,
		       x->tcp->len);
	} else if (x->udp) {
		const struct nb_udp_dgram *u = x->udp;

		printf("[%s] UDP %s -> %s id=%u",
		       s_wall(r, first + (uint64_t)r->wall_off, 3, wall, sizeof(wall)),
		       s_endpoint(r, src, u->have_ports, u->sport, a, sizeof(a)),
		       s_endpoint(r, dst, u->have_ports, u->dport, b, sizeof(b)), u->ip_id);
		if (u->bytes >= 8)
			printf(" len=%u", u->bytes - 8);
		if (u->frags > 1)
			printf(" frags=%u", u->frags);
		printf("\n");
	} else {
		printf("[%s] ICMP id=%u seq=%u\n",
		       s_wall(r, first + (uint64_t)r->wall_off, 6, wall, sizeof(wall)), x->icmp_id,
		       x->icmp_seq);
	}
	for (int i = 0; i < p->nstages; i++) {
		const struct nb_stage_obs *s = &p->st[i];

		if (!s->seen)
			continue;
		printf("  [%d] %-7s %-8s ktime=%llu", i, nb_stage_name_local(i),
		       s_ifname(r, s->ifindex), (unsigned long long)s->ts);
		if (prev)
			printf("  delta=%s",
			       nb_fmt_dur(s->ts > prev ? s->ts - prev : 0, d, sizeof(d)));
		if (x->tcp && i >= NB_REP_RX)
			printf("  (ACK=%llu%s)", (unsigned long long)s->aux,
			       x->tcp->dup_acked & (1u << i) ? " dup" : "");
		if (x->udp && x->udp->frags > 1)
			printf("  frags=%llu", (unsigned long long)s->aux);
		printf("\n");
		prev = s->ts;
	}
	if (x->tcp && (x->tcp->copies[0] > 1 || x->tcp->copies[1] > 1 || x->tcp->lost[0]))
		printf("  COPIES: REQ_RX=%u REQ_TX=%u  LOST: %u\n", x->tcp->copies[0],
		       x->tcp->copies[1], x->tcp->lost[0]);
	if (!s_drop_detail(r, detail, sizeof(detail)))
		nb_path_detail(x, (uint64_t)r->o->timeout_ms, detail, sizeof(detail));
	if (x->status != NB_ST_COMPLETE)
		printf("  STATUS: %s (%s)\n\n", nb_status_name(x->status), detail);
	else if (x->tcp)
		printf("  STATUS: COMPLETE\n\n");
	else
		printf("  STATUS: COMPLETE  TOTAL_TIME=%s\n\n",
		       nb_fmt_dur(last - first, d, sizeof(d)));
}

/*
 * A packet's JSON line, built by hand: at the tens of thousands of segments a second a traced
 * TCP bulk transfer makes, building and freeing a jansson object per packet cost most of the
 * tracer's CPU. Numbers and the fixed names need no escaping; interface names get it.
 */
struct s_line {
	char b[2048];
	size_t n;
};

static void s_lput(struct s_line *l, const char *s)
{
	size_t k = strlen(s);

	if (k > sizeof(l->b) - l->n)
		k = sizeof(l->b) - l->n;
	memcpy(l->b + l->n, s, k);
	l->n += k;
}

static void s_lu(struct s_line *l, uint64_t v)
{
	char tmp[24];
	int k = 0;

	do {
		tmp[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (k && l->n < sizeof(l->b))
		l->b[l->n++] = tmp[--k];
}

/* ,"key":NUMBER */
static void s_lkey_u(struct s_line *l, const char *key, uint64_t v)
{
	s_lput(l, ",\"");
	s_lput(l, key);
	s_lput(l, "\":");
	s_lu(l, v);
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void s_lstr(struct s_line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	s_lput(l, "\"");
	for (; *s && l->n + 6 < sizeof(l->b); s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			l->b[l->n++] = '\\';
			l->b[l->n++] = (char)c;
		} else if (c < 0x20) {
			memcpy(l->b + l->n, "\\u00", 4);
			l->b[l->n + 4] = hex[c >> 4];
			l->b[l->n + 5] = hex[c & 15];
			l->n += 6;
		} else {
			l->b[l->n++] = (char)c;
		}
	}
	s_lput(l, "\"");
}

/* ,"key":"STRING" */
static void s_lkey_s(struct s_line *l, const char *key, const char *v)
{
	s_lput(l, ",\"");
	s_lput(l, key);
	s_lput(l, "\":");
	s_lstr(l, v);
}

static void s_print_json(struct s_run *r, const struct nb_path_res *x)
{
	const struct nb_joined *p = x->p;
	char a[64], b[64], frac[8], detail[200];
	uint64_t prev = 0, first, last, wall;
	const uint8_t *src, *dst;
	struct s_line l = {.n = 0};
	bool any = false;

	s_first_last(p, &first, &last);
	s_addrs(r, x, &src, &dst);
	wall = first + (uint64_t)r->wall_off;
	snprintf(frac, sizeof(frac), "%06llu", (unsigned long long)(wall % 1000000000ull / 1000));
	s_lput(&l, "{\"type\":\"packet\"");
	s_lkey_s(&l, "proto", r->proto_name);
	s_lput(&l, ",\"time\":\"");
	s_lput(&l, s_hms(r, wall));
	s_lput(&l, ".");
	s_lput(&l, frac);
	s_lput(&l, "\"");
	s_lkey_s(&l, "src", nb_addr_fmt(src, r->spec.family, a, sizeof(a)));
	s_lkey_s(&l, "dst", nb_addr_fmt(dst, r->spec.family, b, sizeof(b)));
	if (x->tcp) {
		const struct nb_tcp_seg *t = x->tcp;

		s_lkey_u(&l, "sport", t->sport);
		s_lkey_u(&l, "dport", t->dport);
		s_lkey_u(&l, "seq", t->seq);
		s_lkey_u(&l, "len", t->len);
		s_lkey_u(&l, "offset", t->offset);
		s_lput(&l, ",\"copies\":{\"REQ_RX\":");
		s_lu(&l, t->copies[0]);
		s_lput(&l, ",\"REQ_TX\":");
		s_lu(&l, t->copies[1]);
		s_lput(&l, "},\"lost_copies\":{\"internal\":");
		s_lu(&l, t->lost[0]);
		s_lput(&l, "}");
	} else if (x->udp) {
		const struct nb_udp_dgram *u = x->udp;

		s_lkey_s(&l, "direction", u->reverse ? "reverse" : "forward");
		if (u->have_ports) {
			s_lkey_u(&l, "sport", u->sport);
			s_lkey_u(&l, "dport", u->dport);
		}
		s_lkey_u(&l, "ip_id", u->ip_id);
		if (u->bytes >= 8)
			s_lkey_u(&l, "len", u->bytes - 8);
		s_lkey_u(&l, "fragments", u->frags);
		s_lkey_u(&l, "lost_fragments", u->lost);
		s_lput(&l, u->partial ? ",\"partial\":true" : ",\"partial\":false");
	} else {
		s_lkey_u(&l, "id", x->icmp_id);
		s_lkey_u(&l, "seq", x->icmp_seq);
	}
	s_lkey_s(&l, "status", nb_status_name(x->status));
	if (s_drop_detail(r, detail, sizeof(detail)) > 0 ||
	    nb_path_detail(x, (uint64_t)r->o->timeout_ms, detail, sizeof(detail)) > 0)
		s_lkey_s(&l, "detail", detail);
	s_lput(&l, ",\"stages\":[");
	for (int i = 0; i < p->nstages; i++) {
		const struct nb_stage_obs *st = &p->st[i];

		if (!st->seen)
			continue;
		s_lput(&l, any ? ",{\"stage\":\"" : "{\"stage\":\"");
		s_lput(&l, nb_stage_name_local(i));
		s_lput(&l, "\"");
		s_lkey_s(&l, "iface", s_ifname(r, st->ifindex));
		s_lkey_u(&l, "ktime_ns", st->ts);
		s_lkey_u(&l, "delta_ns", prev && st->ts > prev ? st->ts - prev : 0);
		if (x->tcp && i >= NB_REP_RX) {
			s_lkey_u(&l, "ack", st->aux);
			if (x->tcp->dup_acked & (1u << i))
				s_lput(&l, ",\"dup_ack\":true");
		}
		if (x->udp)
			s_lkey_u(&l, "fragments", st->aux);
		s_lput(&l, "}");
		prev = st->ts;
		any = true;
	}
	s_lput(&l, "]");
	s_lkey_u(&l, "total_ns", last - first);
	s_lput(&l, "}\n");
	nb_out_raw(l.b, l.n);
}

static void s_on_final(const struct nb_path_res *res, void *ctx)
{
	struct s_run *r = ctx;
	struct nb_path_res rr = *res, *x = &rr;

	if (r->rt->done)
		return;
	/* Seen leaving on REQ_TX, then freed on this host (qdisc, tc): lost here, not outside. */
	r->drop = NULL;
	if (r->dmap)
		rr.status = nb_dropmap_refine(r->dmap, res->p, res->status, &r->drop);
	r->counts[x->status]++;
	r->finals++;
	nb_path_totals_add(&r->tt, x);
	if (r->o->json)
		s_print_json(r, x);
	else
		s_print_text(r, x);
	if (r->o->count && r->finals >= (uint64_t)r->o->count)
		r->rt->done = true;
}

static int s_on_event(struct nb_rt *rt, void *st, const struct nb_event *e)
{
	struct s_run *r = st;
	struct nb_key key;
	int stage;

	r->events++;
	stage = nb_flow_stage(&r->spec, e, &key);
	if (stage < 0) {
		r->unmatched++;
		return 0;
	}
	(void)rt;
	nb_path_add(r->path, e, &key, stage, e->ts_ns);
	return 0;
}

/*
 * Events lost so far: the stages', and with --drops the drop tracer's too (an event lost, or
 * a run the kernel skipped, could turn a drop here into EXTERNAL_DROP).
 */
static uint64_t s_lost(const struct s_run *r)
{
	struct nb_drops_stats ds;
	uint64_t lost = nb_tracer_lost(r->tr);

	if (r->drops) {
		nb_drops_get_stats(r->drops, &ds);
		lost += ds.lost + ds.missed;
	}
	return lost;
}

static int s_on_drop(const struct nb_event *e, void *ctx)
{
	struct s_run *r = ctx;

	/* One host: its own clock is the reference. */
	nb_dropmap_put_event(r->dmap, 0, &r->spec, e, e->ts_ns);
	return 0;
}

static void s_print_header(const struct s_run *r)
{
	const struct nb_netns *ns = &r->rt->ns;
	char a[80], b[80];

	printf("=== %s ===\n", r->title);
	printf("RX interfaces:");
	for (int i = 0; i < r->rx->n; i++)
		printf("%s %s (ifindex=%u)", i ? "," : "", r->rx->names[i], r->rx->ifindex[i]);
	printf("\nTX interfaces:");
	for (int i = 0; i < r->tx->n; i++)
		printf("%s %s (ifindex=%u)", i ? "," : "", r->tx->names[i], r->tx->ifindex[i]);
	if (r->spec.proto == IPPROTO_TCP || r->spec.proto == IPPROTO_UDP) {
		char sp[8] = "*", dp[8] = "*";

		if (r->spec.sport)
			snprintf(sp, sizeof(sp), "%u", r->spec.sport);
		if (r->spec.dport)
			snprintf(dp, sizeof(dp), "%u", r->spec.dport);
		printf("\nFilter: %s port %s <-> %s port %s (%s)\n",
		       nb_addr_fmt(r->spec.src, r->spec.family, a, sizeof(a)), sp,
		       nb_addr_fmt(r->spec.dst, r->spec.family, b, sizeof(b)), dp, r->proto_name);
	} else {
		printf("\nFilter: %s <-> %s\n",
		       nb_addr_fmt(r->spec.src, r->spec.family, a, sizeof(a)),
		       nb_addr_fmt(r->spec.dst, r->spec.family, b, sizeof(b)));
	}
	if (ns->fd >= 0)
		printf("Network namespace: %s (inode=%u)\n", ns->name, ns->inum);
	printf("Timeout: %ldms\n\n", r->o->timeout_ms);
}

static void s_print_summary(struct s_run *r, uint64_t lost)
{
	char loss[512];
	struct nb_path_stats ps;
	bool tcp = r->spec.proto == IPPROTO_TCP, udp = r->spec.proto == IPPROTO_UDP;

	nb_path_get_stats(r->path, &ps);
	/* drops by place, and the copies recovered: inside this host, or beyond it */
	nb_verdict_detail(r->counts, &r->tt.recovered, loss, sizeof(loss));
	if (r->o->json) {
		json_t *o = json_object(), *c = json_object();

		for (int s = 0; s < NB_ST__COUNT; s++)
			if (r->counts[s])
				json_object_set_new(c, nb_status_name(s),
						    json_integer((json_int_t)r->counts[s]));
		json_object_set_new(o, "type", json_string("summary"));
		json_object_set_new(o, "counts", c);
		json_object_set_new(o, "lost_events", json_integer((json_int_t)lost));
		json_object_set_new(o, "events", json_integer((json_int_t)r->events));
		json_object_set_new(o, "in_flight_at_exit", json_integer((json_int_t)ps.inflight));
		json_object_set_new(o, "duplicate_events", json_integer((json_int_t)ps.dups));
		json_object_set_new(o, "late_events", json_integer((json_int_t)ps.late));
		if (tcp) {
			json_object_set_new(
			    o, "lost_copies",
			    json_pack("{s:I}", "internal", (json_int_t)r->tt.lost_copies[0]));
			json_object_set_new(o, "retransmitted_segments",
					    json_integer((json_int_t)r->tt.retransmitted));
			json_object_set_new(o, "retransmitted_copies",
					    json_integer((json_int_t)r->tt.retransmitted_copies));
			json_object_set_new(o, "spurious_copies",
					    json_integer((json_int_t)r->tt.spurious));
			json_object_set_new(o, "loss", json_string(loss));
			json_object_set_new(o, "untracked_events",
					    json_integer((json_int_t)(ps.untracked + ps.overflow)));
			json_object_set_new(o, "early_segments", json_integer((json_int_t)ps.early));
		}
		if (udp) {
			json_object_set_new(o, "lost_fragments",
					    json_integer((json_int_t)r->tt.lost_fragments));
			json_object_set_new(o, "other_flows_fragment_groups",
					    json_integer((json_int_t)ps.unattributed));
			json_object_set_new(o, "unidentified_datagrams",
					    json_integer((json_int_t)ps.unidentified));
		}
		nb_out_json(o);
		return;
	}
	printf("=== Summary ===\n");
	for (int s = 0; s < NB_ST__COUNT; s++)
		if (r->counts[s])
			printf("%s: %llu\n", nb_status_name(s), (unsigned long long)r->counts[s]);
	if (tcp) {
		printf("Retransmitted segments: %llu (%llu copies), copies lost inside this node: "
		       "%llu\n",
		       (unsigned long long)r->tt.retransmitted,
		       (unsigned long long)r->tt.retransmitted_copies,
		       (unsigned long long)r->tt.lost_copies[0]);
		printf("Loss: %s\n", loss);
	}
	if (udp)
		printf("Fragments lost: %llu\n", (unsigned long long)r->tt.lost_fragments);
	if (udp && ps.unidentified)
		printf("Unfragmented IPv6 datagrams (no ID, not traced): %llu\n",
		       (unsigned long long)ps.unidentified);
	printf("Lost events: %llu%s\n", (unsigned long long)lost,
	       lost ? " (ring buffer full: raise --ringbuf-size; affected packets are INCONCLUSIVE)"
		    : "");
	if (tcp && ps.untracked + ps.overflow)
		printf("Untracked events: %llu (connection or byte range limits)\n",
		       (unsigned long long)(ps.untracked + ps.overflow));
	if (tcp && ps.early)
		printf("Segments reported before their copies were final: %llu (65536 held)\n",
		       (unsigned long long)ps.early);
	printf("In flight at exit (not classified): %llu\n", (unsigned long long)ps.inflight);
}

static int s_check(struct nb_rt *rt, void *st)
{
	const struct nb_path_tool *pt = rt->tool->arg;
	struct s_run *r = st;

	r->rt = rt;
	r->o = &rt->o;
	r->title = pt->title;
	r->proto_name = pt->proto_name;
	if (rt->o.hooks && nb_hooks_parse(rt->o.hooks, &r->hooks)) {
		nb_err("invalid --hooks '%s' (auto, tcx or tracepoint)", rt->o.hooks);
		return NB_EXIT_USAGE;
	}
	return 0;
}

static int s_setup(struct nb_rt *rt, void *st)
{
	const struct nb_path_tool *pt = rt->tool->arg;
	struct s_run *r = st;
	struct nb_tracer_cfg tc = {0};
	struct nb_path_cfg pc = {0};
	char err[256];
	int rc;

	/* Both addresses are required flags: the runtime parsed them, same family. */
	memcpy(r->spec.src, rt->src, sizeof(r->spec.src));
	memcpy(r->spec.dst, rt->dst, sizeof(r->spec.dst));
	r->spec.family = rt->family;
	r->rx = &rt->ifs[NB_RT_IF_RX];
	r->tx = &rt->ifs[NB_RT_IF_TX];
	memcpy(r->spec.rx_if, r->rx->ifindex, sizeof(r->rx->ifindex[0]) * (size_t)r->rx->n);
	memcpy(r->spec.tx_if, r->tx->ifindex, sizeof(r->tx->ifindex[0]) * (size_t)r->tx->n);
	r->spec.n_rx = (uint32_t)r->rx->n;
	r->spec.n_tx = (uint32_t)r->tx->n;
	if (pt->proto)
		r->spec.proto = pt->proto;
	else
		r->spec.proto = r->spec.family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	r->spec.sport = (uint16_t)r->o->src_port;
	r->spec.dport = (uint16_t)r->o->dst_port;

	pc.proto = r->spec.proto;
	pc.nstages = NB_LOCAL_STAGES;
	pc.nnodes = 1;
	pc.timeout_ns = (uint64_t)r->o->timeout_ms * 1000000ull;
	pc.ports = r->spec.sport || r->spec.dport;
	r->path = nb_path_new(&pc, s_on_final, r);
	if (!r->path) {
		nb_err("cannot create the join engine: %s", strerror(errno));
		return NB_EXIT_ERR;
	}
	nb_flow_filter(&r->spec, rt->ns.inum, &tc.filter);
	tc.ringbuf_bytes = (uint32_t)r->o->ringbuf_kb * 1024;
	tc.hooks = r->hooks;
	tc.ns = &rt->ns;
	/*
	 * --drops: the drop tracer is attached before the stages, so no packet can be seen
	 * leaving before its drop could be seen too. Its events wait in its ring until the stage
	 * tracer's loop reads it.
	 */
	if (r->o->drops) {
		struct nb_drops_cfg dc = {.filter = tc.filter, .skip_copies = true};

		snprintf(err, sizeof(err), "out of memory");
		r->dmap = nb_dropmap_new(4096);
		if (!r->dmap || nb_sym_open(&r->sym, err, sizeof(err)) ||
		    nb_drops_open(&r->drops, &dc, NULL, NULL, err, sizeof(err))) {
			nb_err("--drops: %s", err);
			return NB_EXIT_ERR;
		}
	}
	if (nb_tracer_open(&r->tr, &tc, nb_tool_on_event, rt, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_ERR;
	}
	if (r->drops) {
		rc = nb_tracer_add_ring(r->tr, nb_drops_ring_fd(r->drops), s_on_drop, r);
		if (rc) {
			nb_err("--drops: cannot read the drop ring buffer: %s", strerror(-rc));
			return NB_EXIT_ERR;
		}
	}
	/* Before the probes were attached nothing could be seen: never read that as a drop. */
	nb_path_taint(r->path, 0, 0, nb_tracer_attach_ts(r->tr));
	if (r->spec.proto == IPPROTO_UDP && r->spec.family == 6)
		nb_warn("%s", NB_UDP_IPV6_NOTE);
	r->last_check = nb_mono_ns();
	return 0;
}

static void s_start(struct nb_rt *rt, void *st, json_t *start)
{
	struct s_run *r = st;

	r->wall_off = rt->wall_off;
	if (!start) {
		s_print_header(r);
		return;
	}
	json_object_set_new(start, "attach_ktime_ns",
			    json_integer((json_int_t)nb_tracer_attach_ts(r->tr)));
	json_object_set_new(start, "hooks", json_string(nb_tracer_hooks(r->tr)));
}

static int s_poll(struct nb_rt *rt, void *st, int timeout_ms)
{
	struct s_run *r = st;

	(void)rt;
	if (r->got > 0 && r->got < S_BATCH_BIG)
		nanosleep(&(struct timespec){0, S_BATCH_NS}, NULL);
	r->t0 = nb_mono_ns();
	r->got = nb_tracer_poll(r->tr, r->got > 0 ? 0 : timeout_ms);
	return r->got;
}

static int s_tick(struct nb_rt *rt, void *st, uint64_t now, bool last)
{
	struct s_run *r = st;
	uint64_t lost = s_lost(r);

	(void)rt;
	(void)last;
	/* A loss counted since the last read happened between the two reads. */
	if (lost != r->last_lost) {
		nb_path_taint(r->path, 0, r->last_check, now);
		r->last_lost = lost;
	}
	r->last_check = now;
	nb_path_watermark(r->path, 0,
			  r->t0 > S_WATERMARK_SLACK_NS ? r->t0 - S_WATERMARK_SLACK_NS : 0);
	nb_path_poll(r->path);
	return 0;
}

static int s_summary(struct nb_rt *rt, void *st)
{
	struct s_run *r = st;

	(void)rt;
	s_print_summary(r, s_lost(r));
	return NB_EXIT_OK;
}

static void s_teardown(struct nb_rt *rt, void *st)
{
	struct s_run *r = st;

	(void)rt;
	nb_tracer_destroy(&r->tr);
	nb_drops_destroy(&r->drops);
	nb_sym_destroy(&r->sym);
	nb_dropmap_free(&r->dmap);
	nb_path_destroy(&r->path);
}

const struct nb_tool_ops nb_path_tracer_ops = {
	.state_size = sizeof(struct s_run),
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
