// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tun_ring_monitor: the ring of a tun/tap device between the host's transmit and the reader
 * (QEMU or vhost-net), per queue: its size, occupancy and high-water mark, positions, FULL
 * events and FULL_RING drops, and how long packets wait in it (bpf/nb_tun.bpf.c).
 */
#include "nb_tool.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb_evidence.h"
#include "nb_log.h"
#include "nb_mon.h"
#include "nb_pktfmt.h"
#include "nb_time.h"

#define S_POLL_MS 100

struct s_q {
	struct nb_tunq cur;	  /* since attach; the ring now; the interval's high-water mark */
	struct nb_tun_qstat prev; /* at the previous report */
};

struct s_tun {
	struct nb_tunmon *mon;
	const char *ifname;
	struct s_q q[NB_TUN_MAXQ];
	struct nb_tunq read[NB_TUN_MAXQ];
	uint64_t full_blocks, enq_lines;
	bool deq_by_addr; /* the readers' code is known: the dequeue skips every other free */
};

static int s_check(struct nb_rt *rt, void *st)
{
	int rc = nb_tool_device_alias(rt, NB_RT_IF_ANY);

	(void)st;
	if (rc)
		return rc;
	if (rt->ifs[NB_RT_IF_ANY].n != 1) {
		nb_err("one tap at a time: --interface takes one device");
		return NB_EXIT_USAGE;
	}
	if ((rt->o.src_port || rt->o.dst_port) && rt->proto && rt->proto != IPPROTO_TCP &&
	    rt->proto != IPPROTO_UDP) {
		nb_err("--src-port/--dst-port need --protocol tcp or udp");
		return NB_EXIT_USAGE;
	}
	return 0;
}

static int s_on_ev(void *ctx, void *data, size_t size);

static int s_setup(struct nb_rt *rt, void *st)
{
	struct s_tun *t = st;
	const struct nb_iflist *ifs = &rt->ifs[NB_RT_IF_ANY];
	struct nb_tunmon_cfg cfg = {0};
	struct nb_filter *f = &cfg.filter;
	char err[320], warn[256];
	int rc;

	t->ifname = ifs->names[0];
	rc = nb_tunmon_is_tap(&rt->ns, t->ifname, err, sizeof(err));
	if (rc) {
		nb_err("%s", err);
		return NB_EXIT_USAGE;
	}
	nb_tool_filter(rt, f);
	f->ifindex[0] = ifs->ifindex[0];
	f->n_ifindex = 1;
	cfg.all = rt->o.all;
	cfg.parse_all = rt->o.all || rt->family || rt->proto || rt->o.src_port || rt->o.dst_port;
	cfg.ringbuf_bytes = (uint32_t)rt->o.ringbuf_kb * 1024;
	cfg.ns = &rt->ns;
	rc = nb_tunmon_open(&t->mon, &cfg, s_on_ev, rt, err, sizeof(err), warn, sizeof(warn));
	if (warn[0])
		nb_warn("%s", warn);
	if (rc) {
		nb_err("%s", err);
		return NB_EXIT_ERR;
	}
	t->deq_by_addr = nb_tunmon_deq_by_addr(t->mon);
	return 0;
}

static void s_teardown(struct nb_rt *rt, void *st)
{
	struct s_tun *t = st;

	(void)rt;
	nb_tunmon_destroy(&t->mon);
}

static void s_start(struct nb_rt *rt, void *st, json_t *start)
{
	struct s_tun *t = st;

	if (start) {
		json_object_set_new(start, "interface", json_string(t->ifname));
		json_object_set_new(start, "ifindex",
				    json_integer(rt->ifs[NB_RT_IF_ANY].ifindex[0]));
		json_object_set_new(start, "interval_s", json_integer(rt->o.interval));
		json_object_set_new(start, "dequeue_by_address", json_boolean(t->deq_by_addr));
		/* The most enqueues per CPU between two reads (fewer for a ring under 128). */
		json_object_set_new(start, "hwm_sampled_every", json_integer(NB_TUN_OCC_EVERY));
		json_object_set_new(start, "enqueue_hook", json_string(nb_tunmon_enq_hook(t->mon)));
		return;
	}
	printf("Tun ring monitor on %s%s%s: the ring of each queue every %ld s%s. Ctrl-C to end.\n",
	       t->ifname, rt->ns.fd >= 0 ? " in " : "", rt->ns.fd >= 0 ? rt->ns.name : "",
	       rt->o.interval, rt->o.all ? ", every enqueue" : "");
}

static void s_pkt_json(json_t *o, const struct nb_tun_ev *e)
{
	char proto[16], a[64];

	json_object_set_new(o, "proto",
			    json_string(nb_pkt_proto(&e->pkt, e->ethertype, proto, sizeof(proto))));
	if (e->pkt.family || e->ethertype == NB_ETHERTYPE_ARP) {
		json_object_set_new(
		    o, "src",
		    json_string(nb_pkt_endpoint(&e->pkt, e->ethertype, true, a, sizeof(a))));
		json_object_set_new(
		    o, "dst",
		    json_string(nb_pkt_endpoint(&e->pkt, e->ethertype, false, a, sizeof(a))));
	}
	if (e->pkt.family && (e->pkt.proto == IPPROTO_ICMP || e->pkt.proto == IPPROTO_ICMPV6)) {
		json_object_set_new(o, "icmp_type", json_integer(e->pkt.icmp_type));
		json_object_set_new(o, "icmp_id", json_integer(e->pkt.icmp_id));
		json_object_set_new(o, "icmp_seq", json_integer(e->pkt.icmp_seq));
	}
	json_object_set_new(o, "len", json_integer(e->len));
}

static void s_ring_json(json_t *o, const struct nb_tun_ring *r)
{
	json_object_set_new(o, "size", json_integer(r->size));
	json_object_set_new(o, "occupancy", json_integer(r->occupancy));
	json_object_set_new(o, "producer", json_integer(r->producer));
	json_object_set_new(o, "consumer_head", json_integer(r->consumer_head));
	json_object_set_new(o, "consumer_tail", json_integer(r->consumer_tail));
}

static const char *s_pkt_text(const struct nb_tun_ev *e, char *buf, size_t len)
{
	char proto[16], src[64], dst[64];
	int n;

	n = snprintf(buf, len, "%s %s -> %s",
		     nb_pkt_proto(&e->pkt, e->ethertype, proto, sizeof(proto)),
		     nb_pkt_endpoint(&e->pkt, e->ethertype, true, src, sizeof(src)),
		     nb_pkt_endpoint(&e->pkt, e->ethertype, false, dst, sizeof(dst)));
	if (n > 0 && (size_t)n < len && e->pkt.family &&
	    (e->pkt.proto == IPPROTO_ICMP || e->pkt.proto == IPPROTO_ICMPV6))
		snprintf(buf + n, len - (size_t)n, " (icmp type %u id %u seq %u)", e->pkt.icmp_type,
			 e->pkt.icmp_id, e->pkt.icmp_seq);
	return buf;
}

static int s_on_ev(void *ctx, void *data, size_t size)
{
	struct nb_rt *rt = ctx;
	struct s_tun *t = rt->st;
	const struct nb_tun_ev *e = data;
	char wall[32], pkt[200];

	if (size < sizeof(*e))
		return 0;
	if (rt->o.queue >= 0 && e->queue != rt->o.queue)
		return 0;
	nb_fmt_wall(e->ts_ns + (uint64_t)rt->wall_off, 6, wall, sizeof(wall));
	if (e->type == NB_TUN_EV_FULL)
		t->full_blocks++;
	else
		t->enq_lines++;
	if (rt->o.json) {
		json_t *o = json_object();

		json_object_set_new(o, "type",
				    json_string(e->type == NB_TUN_EV_FULL ? "full" : "enqueue"));
		json_object_set_new(o, "time", json_string(wall));
		json_object_set_new(o, "ktime_ns", json_integer((json_int_t)e->ts_ns));
		json_object_set_new(o, "interface", json_string(t->ifname));
		json_object_set_new(o, "queue", json_integer(e->queue));
		json_object_set_new(o, "cpu", json_integer(e->cpu));
		s_ring_json(o, &e->ring);
		s_pkt_json(o, e);
		nb_out_json(o);
		return 0;
	}
	s_pkt_text(e, pkt, sizeof(pkt));
	if (e->type == NB_TUN_EV_FULL) {
		printf("=== TUN RING FULL ===\n");
		printf("Time: %s  Interface: %s  Queue: %u  CPU: %u\n", wall, t->ifname, e->queue,
		       e->cpu);
		printf("Ring: size %d  producer %d  consumer_head %d  consumer_tail %d  "
		       "occupancy %u (the producer's slot is taken)\n",
		       e->ring.size, e->ring.producer, e->ring.consumer_head, e->ring.consumer_tail,
		       e->ring.occupancy);
		printf("Packet: %s  len %u (dropped: FULL_RING)\n\n", pkt, e->len);
		return 0;
	}
	printf("%s %s q%u ENQ %s len %u occupancy %u/%d\n", wall, t->ifname, e->queue, pkt, e->len,
	       e->ring.occupancy, e->ring.size);
	return 0;
}

static int s_poll(struct nb_rt *rt, void *st, int timeout_ms)
{
	struct s_tun *t = st;

	(void)rt;
	return nb_tunmon_poll(t->mon, timeout_ms);
}

/* The kernel's counters into t->q[].cur, the rings now, and the interval's high-water marks. */
static int s_read(struct nb_rt *rt, struct s_tun *t)
{
	int rc = nb_tunmon_read(t->mon, rt->o.queue, t->read, true);

	if (rc)
		return rc;
	for (uint32_t q = 0; q < NB_TUN_MAXQ; q++)
		t->q[q].cur = t->read[q];
	return 0;
}

static uint64_t s_sampled(const struct nb_tun_qstat *c)
{
	uint64_t n = 0;

	for (int i = 0; i < NB_MON_SLOTS; i++)
		n += c->sojourn[i];
	return n;
}

static void s_counts_json(json_t *o, const struct nb_tun_qstat *c)
{
	json_object_set_new(o, "enqueued", json_integer((json_int_t)c->enq));
	json_object_set_new(o, "matched", json_integer((json_int_t)c->matched));
	json_object_set_new(o, "dequeued", json_integer((json_int_t)c->deq));
	json_object_set_new(o, "full_events", json_integer((json_int_t)c->full));
	json_object_set_new(o, "drops_full_ring", json_integer((json_int_t)c->drop_full));
	json_object_set_new(o, "drops_other", json_integer((json_int_t)c->drop_other));
	json_object_set_new(o, "sojourn_samples", json_integer((json_int_t)s_sampled(c)));
	json_object_set_new(o, "samples_given_up", json_integer((json_int_t)c->samp_stale));
	json_object_set_new(o, "sojourn_us",
			    nb_out_log2_json((const uint64_t *)c->sojourn, NB_MON_SLOTS));
}

static void s_counts_text(const struct nb_tun_qstat *c)
{
	printf("    enqueued %llu (matched %llu)  dequeued %llu  full %llu  drops FULL_RING %llu  "
	       "other %llu\n",
	       (unsigned long long)c->enq, (unsigned long long)c->matched,
	       (unsigned long long)c->deq, (unsigned long long)c->full,
	       (unsigned long long)c->drop_full, (unsigned long long)c->drop_other);
	printf("    sojourn, enqueue to dequeue (%llu sampled matched packets):\n",
	       (unsigned long long)s_sampled(c));
	nb_out_log2_text("usecs", (const uint64_t *)c->sojourn, NB_MON_SLOTS, 4);
}

static void s_report(struct nb_rt *rt, struct s_tun *t, uint64_t now)
{
	char wall[32];
	json_t *o = NULL, *qs = NULL;

	nb_fmt_wall(now + (uint64_t)rt->wall_off, 0, wall, sizeof(wall));
	if (rt->o.json) {
		o = json_object();
		qs = json_array();
		json_object_set_new(o, "type", json_string("interval"));
		json_object_set_new(o, "time", json_string(wall));
		json_object_set_new(o, "interface", json_string(t->ifname));
	} else {
		printf("%s %s\n", wall, t->ifname);
	}
	for (uint32_t q = 0; q < NB_TUN_MAXQ; q++) {
		struct s_q *sq = &t->q[q];
		struct nb_tun_qstat d;

		if (!sq->cur.seen)
			continue;
		nb_tun_qstat_sub(&d, &sq->cur.tot, &sq->prev);
		sq->prev = sq->cur.tot;
		if (o) {
			json_t *x = json_object();

			json_object_set_new(x, "queue", json_integer(q));
			s_ring_json(x, &sq->cur.ring);
			json_object_set_new(x, "full_now", json_boolean(sq->cur.ring.full));
			json_object_set_new(x, "hwm", json_integer(sq->cur.hwm));
			s_counts_json(x, &d);
			json_array_append_new(qs, x);
			continue;
		}
		printf("  queue %u: size %d  occupancy %u  hwm %u  producer %d  consumer %d/%d "
		       "(head/tail)%s\n",
		       q, sq->cur.ring.size, sq->cur.ring.occupancy, sq->cur.hwm, sq->cur.ring.producer,
		       sq->cur.ring.consumer_head, sq->cur.ring.consumer_tail,
		       sq->cur.ring.full ? "  FULL" : "");
		s_counts_text(&d);
	}
	if (o) {
		json_object_set_new(o, "queues", qs);
		nb_out_json(o);
	} else {
		printf("\n");
	}
}

static int s_tick(struct nb_rt *rt, void *st, uint64_t now, bool last)
{
	struct s_tun *t = st;
	int rc;

	if (!nb_period_due(&rt->period, now) && !last)
		return 0;
	/* What the programs wrote before this point is counted in this interval. */
	nb_tunmon_consume(t->mon);
	rc = s_read(rt, t);
	if (rc) {
		nb_err("cannot read the ring counters: %s", strerror(-rc));
		return NB_EXIT_ERR;
	}
	s_report(rt, t, now);
	nb_period_close(&rt->period, now, NULL);
	return 0;
}

static int s_summary(struct nb_rt *rt, void *st)
{
	struct s_tun *t = st;
	struct nb_tun_qstat all = {0};
	uint64_t lost, unparsed, noring;
	json_t *o = NULL, *qs = NULL;

	nb_tunmon_counters(t->mon, &lost, &unparsed, &noring);

	if (rt->o.json) {
		o = json_object();
		qs = json_array();
		json_object_set_new(o, "type", json_string("summary"));
		json_object_set_new(o, "interface", json_string(t->ifname));
	} else {
		printf("=== Summary: %s ===\n", t->ifname);
	}
	for (uint32_t q = 0; q < NB_TUN_MAXQ; q++) {
		const struct s_q *sq = &t->q[q];
		struct nb_tun_qstat zero = {0};

		if (!sq->cur.seen)
			continue;
		zero = sq->cur.tot;
		nb_tun_qstat_add(&all, &zero);
		if (o) {
			json_t *x = json_object();

			json_object_set_new(x, "queue", json_integer(q));
			json_object_set_new(x, "size", json_integer(sq->cur.ring.size));
			s_counts_json(x, &zero);
			json_array_append_new(qs, x);
		} else {
			printf("  queue %u (size %d):\n", q, sq->cur.ring.size);
			s_counts_text(&zero);
		}
	}
	if (o) {
		json_object_set_new(o, "queues", qs);
		s_counts_json(o, &all);
		json_object_set_new(o, "full_blocks", json_integer((json_int_t)t->full_blocks));
		json_object_set_new(o, "enqueue_lines", json_integer((json_int_t)t->enq_lines));
		json_object_set_new(o, "lost_events", json_integer((json_int_t)lost));
		json_object_set_new(o, "unparsed", json_integer((json_int_t)unparsed));
		json_object_set_new(o, "no_reader", json_integer((json_int_t)noring));
		nb_out_json(o);
		return NB_EXIT_OK;
	}
	printf("Total: enqueued %llu  dequeued %llu  full %llu  drops FULL_RING %llu  other %llu\n",
	       (unsigned long long)all.enq, (unsigned long long)all.deq,
	       (unsigned long long)all.full, (unsigned long long)all.drop_full,
	       (unsigned long long)all.drop_other);
	if (all.samp_stale)
		printf("Sojourn samples given up (not seen leaving in %llu s): %llu\n",
		       NB_TUN_SAMP_STALE_NS / 1000000000ULL, (unsigned long long)all.samp_stale);
	if (noring)
		printf("Ring reads that found a queue without a reader: %llu (sampled)\n",
		       (unsigned long long)noring);
	printf("Lost events: %llu%s\n", (unsigned long long)lost,
	       lost ? " (ring buffer full: raise --ringbuf-size or filter more)" : "");
	return NB_EXIT_OK;
}

const struct nb_tool_ops nb_tun_ring_ops = {
	.state_size = sizeof(struct s_tun),
	.check = s_check,
	.setup = s_setup,
	.start = s_start,
	.poll = s_poll,
	.tick = s_tick,
	.summary = s_summary,
	.teardown = s_teardown,
	.poll_ms = S_POLL_MS,
};
