// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * TCP path model benchmark: a synthetic bulk stream through nb_path on one host (REQ_RX REQ_TX
 * data, REP_RX REP_TX ACKs), shaped like the TCP benchmark's (tests/bench/tcp.sh: GSO
 * super-packets on veth, about 14 Gbit/s, --timeout-ms 200), without the kernel, so the user
 * space cost of the model can be measured on a noisy machine.
 *
 *   build/bench/bench_tcp [BYTES] [--seg BYTES] [--loss N] [--conns N] [--timeout-ms MS]
 *                         [--runs N]
 *
 * Every segment of --seg bytes (default 65160, 45 segments of 1448) passes REQ_RX and REQ_TX
 * 5 us apart; its ACK comes back through REP_RX and REP_TX 50 us later; one segment every
 * 37 us (about 14 Gbit/s at the default size). With --loss N every Nth segment's first copy is
 * lost between REQ_RX and REQ_TX and sent again 200 us later; until then the receiver's ACKs
 * stay at it (duplicate ACKs). --conns N spreads the segments over N connections in turn.
 * Events come in time order, as the tracer reads its ring; after every 4 ms of them the
 * watermark moves to 2 ms before the last one read and the model is polled, as tool_path.c
 * does, and 100 more polls follow the stream before the flush.
 *
 * The stream is generated first; then --runs (default 5) runs of the model over it are timed,
 * each from its first event to its flush (a new nb_path each time). Printed: events, segments reported by status,
 * copies and lost copies, the model's counters, a checksum of every field reported (to compare
 * two builds' results: every run must give the same), and ns per event of the runs (min,
 * median, max).
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nb_path.h"

#define SEG_GAP_NS   37000ull
#define TX_DELAY_NS  5000ull
#define ACK_DELAY_NS 50000ull
#define RTX_DELAY_NS 200000ull
#define POLL_NS	     4000000ull
#define WM_SLACK_NS  2000000ull
#define T0_NS	     1000000000ull
#define ISN	     0xfff00000u /* wraps within the first few MB */

/* A pending event, generated ahead of its time and delivered in time order. */
struct ev {
	uint64_t ts;
	uint32_t seq, ack, len;
	uint16_t conn;
	uint8_t stage, flags;
};

static struct {
	struct ev *v;
	size_t n, cap;
} heap;

static struct {
	uint64_t status[NB_ST__COUNT];
	uint64_t segs, bytes, copies, lost, spurious, sum;
} res;

static void s_push(struct ev e)
{
	size_t i;

	if (heap.n == heap.cap) {
		heap.cap = heap.cap ? heap.cap * 2 : 1024;
		heap.v = realloc(heap.v, heap.cap * sizeof(*heap.v));
		if (!heap.v) {
			perror("realloc");
			exit(1);
		}
	}
	i = heap.n++;
	while (i && heap.v[(i - 1) / 2].ts > e.ts) {
		heap.v[i] = heap.v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap.v[i] = e;
}

static struct ev s_pop(void)
{
	struct ev top = heap.v[0], last = heap.v[--heap.n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= heap.n)
			break;
		if (c + 1 < heap.n && heap.v[c + 1].ts < heap.v[c].ts)
			c++;
		if (heap.v[c].ts >= last.ts)
			break;
		heap.v[i] = heap.v[c];
		i = c;
	}
	if (heap.n)
		heap.v[i] = last;
	return top;
}

static uint64_t s_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h;
}

static void s_cb(const struct nb_path_res *r, void *ctx)
{
	const struct nb_tcp_seg *s = r->tcp;
	uint64_t h = res.sum;

	(void)ctx;
	res.status[r->status]++;
	res.segs++;
	res.bytes += s->len;
	res.copies += s->copies[0];
	res.lost += s->lost[0];
	res.spurious += s->spurious;
	h = s_mix(h, ((uint64_t)s->sport << 48) | s->seq);
	h = s_mix(h, ((uint64_t)s->len << 32) | r->status);
	h = s_mix(h, ((uint64_t)s->copies[0] << 32) | s->copies[1]);
	h = s_mix(h, ((uint64_t)s->lost[0] << 32) | s->spurious);
	h = s_mix(h, ((uint64_t)s->dup_acked << 8) | s->ack_held);
	for (int i = 0; i < r->p->nstages; i++)
		h = s_mix(h, r->p->st[i].seen ? r->p->st[i].ts ^ (r->p->st[i].aux << 1) : 7);
	res.sum = h;
}

static double s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long s_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void s_deliver(struct nb_path *pp, const struct ev *e)
{
	struct nb_event ev = {0};
	struct nb_key key = {0};
	bool data = e->stage < 2;

	ev.ts_ns = e->ts;
	ev.ifindex = e->stage == 0 || e->stage == 3 ? 10 : 20;
	ev.type = NB_EV_PKT;
	ev.pkt.family = 4;
	ev.pkt.proto = IPPROTO_TCP;
	ev.pkt.sport = data ? (uint16_t)(40000 + e->conn) : 9998;
	ev.pkt.dport = data ? 9998 : (uint16_t)(40000 + e->conn);
	ev.pkt.tcp_seq = e->seq;
	ev.pkt.tcp_ack = e->ack;
	ev.pkt.l4_len = e->len;
	ev.pkt.tcp_flags = e->flags;
	nb_path_add(pp, &ev, &key, e->stage, e->ts);
}

/* The stream, in delivery order; a poll is an entry with stage S_POLL and the watermark as ts. */
#define S_POLL 0xff

static struct {
	struct ev *v;
	size_t n, cap;
} script;

static void s_script(struct ev e)
{
	if (script.n == script.cap) {
		script.cap = script.cap ? script.cap * 2 : 65536;
		script.v = realloc(script.v, script.cap * sizeof(*script.v));
		if (!script.v) {
			perror("realloc");
			exit(1);
		}
	}
	script.v[script.n++] = e;
}

static void s_generate(uint64_t bytes, uint64_t seg, uint64_t loss, uint64_t conns)
{
	uint64_t nseg = (bytes + seg - 1) / seg, next_poll = T0_NS + POLL_NS, last_ts = 0;
	uint32_t *acked = calloc(conns, sizeof(*acked)), *hole = calloc(conns, sizeof(*hole));
	uint64_t *hole_end = calloc(conns, sizeof(*hole_end));

	if (!acked || !hole || !hole_end) {
		perror("calloc");
		exit(1);
	}
	/* the SYN of each connection, so the stream starts at a known sequence number */
	for (uint64_t c = 0; c < conns; c++) {
		s_push((struct ev){T0_NS - 1000, ISN, 0, 0, (uint16_t)c, 0, 0x02});
		s_push((struct ev){T0_NS - 900, ISN, 0, 0, (uint16_t)c, 1, 0x02});
		acked[c] = ISN + 1;
	}
	for (uint64_t i = 0; i < nseg || heap.n;) {
		/* generate up to the next poll, then deliver what is due */
		while (i < nseg) {
			uint64_t t = T0_NS + i * SEG_GAP_NS, c = i % conns, k = i / conns;
			uint32_t len = (uint32_t)(i + 1 == nseg ? bytes - i * seg : seg);
			uint32_t seq = ISN + 1 + (uint32_t)(k * seg), end = seq + len;
			bool lost = loss && i % loss == loss - 1 && !hole[c];

			if (t >= next_poll)
				break;
			s_push((struct ev){t, seq, ISN, len, (uint16_t)c, 0, 0x18});
			if (lost) {
				/* retransmitted once the duplicate ACKs have come back */
				hole[c] = seq;
				hole_end[c] = t + RTX_DELAY_NS + TX_DELAY_NS;
				s_push((struct ev){t + RTX_DELAY_NS, seq, ISN, len, (uint16_t)c, 0,
						   0x18});
				s_push((struct ev){hole_end[c], seq, ISN, len, (uint16_t)c, 1, 0x18});
			} else {
				s_push((struct ev){t + TX_DELAY_NS, seq, ISN, len, (uint16_t)c, 1,
						   0x18});
			}
			/* the receiver's ACK is cumulative: it stays at a hole until it is filled */
			if (hole[c] && t + ACK_DELAY_NS > hole_end[c])
				hole[c] = 0;
			acked[c] = hole[c] ? hole[c] : end;
			/* an ACK's seq is the receiver's */
			s_push((struct ev){t + ACK_DELAY_NS, 1, acked[c], 0, (uint16_t)c, 2, 0x10});
			s_push((struct ev){t + ACK_DELAY_NS + TX_DELAY_NS, 1, acked[c], 0,
					   (uint16_t)c, 3, 0x10});
			i++;
		}
		while (heap.n && (heap.v[0].ts < next_poll || i >= nseg)) {
			struct ev e = s_pop();

			s_script(e);
			last_ts = e.ts;
		}
		s_script((struct ev){.ts = last_ts > WM_SLACK_NS ? last_ts - WM_SLACK_NS : 0,
				     .stage = S_POLL});
		next_poll += POLL_NS;
	}
	/* the tracer's last polls after the transfer, then its exit */
	for (int k = 0; k < 100; k++) {
		last_ts += POLL_NS;
		s_script((struct ev){.ts = last_ts - WM_SLACK_NS, .stage = S_POLL});
	}
	free(acked);
	free(hole);
	free(hole_end);
	free(heap.v);
}

/* One run of the model over the stream; returns its seconds. */
static double s_run(uint64_t tmo_ms, uint64_t *events, struct nb_path_stats *ps)
{
	struct nb_path_cfg pc = {0};
	struct nb_path *pp;
	double t0, secs;

	pc.proto = IPPROTO_TCP;
	pc.nstages = 4;
	pc.nnodes = 1;
	pc.timeout_ns = tmo_ms * 1000000ull;
	memset(&res, 0, sizeof(res));
	*events = 0;
	pp = nb_path_new(&pc, s_cb, NULL);
	if (!pp) {
		perror("nb_path_new");
		exit(1);
	}
	/* not its setup (a tracer's once): the tables it clears cost more than a 3 GB stream */
	t0 = s_now();
	for (size_t i = 0; i < script.n; i++) {
		const struct ev *e = &script.v[i];

		if (e->stage == S_POLL) {
			nb_path_watermark(pp, 0, e->ts);
			nb_path_poll(pp);
			continue;
		}
		s_deliver(pp, e);
		(*events)++;
	}
	nb_path_flush(pp);
	secs = s_now() - t0;
	nb_path_get_stats(pp, ps);
	nb_path_destroy(&pp);
	return secs;
}

static int s_cmp_d(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	uint64_t bytes = 3000000000ull, seg = 65160, loss = 0, conns = 1, tmo_ms = 200, runs = 5;
	uint64_t events = 0, sum = 0;
	struct nb_path_stats ps;
	double secs[64];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seg") && i + 1 < argc)
			seg = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--loss") && i + 1 < argc)
			loss = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
			conns = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			tmo_ms = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = strtoull(argv[++i], NULL, 10);
		else if (argv[i][0] != '-')
			bytes = strtoull(argv[i], NULL, 10);
		else {
			fprintf(stderr,
				"usage: %s [BYTES] [--seg BYTES] [--loss N] [--conns N] "
				"[--timeout-ms MS] [--runs N]\n",
				argv[0]);
			return 2;
		}
	}
	if (!seg || !bytes || !conns || conns > 1000 || !runs || runs > 64) {
		fprintf(stderr, "BYTES and --seg must be > 0, --conns 1..1000, --runs 1..64\n");
		return 2;
	}
	printf("bytes %llu, %llu segments of %llu, %llu connection(s), loss %s%llu, timeout %llu "
	       "ms, %llu runs\n",
	       (unsigned long long)bytes, (unsigned long long)((bytes + seg - 1) / seg),
	       (unsigned long long)seg, (unsigned long long)conns, loss ? "1 in " : "",
	       (unsigned long long)loss, (unsigned long long)tmo_ms, (unsigned long long)runs);
	s_generate(bytes, seg, loss, conns);
	for (uint64_t r = 0; r < runs; r++) {
		secs[r] = s_run(tmo_ms, &events, &ps);
		if (r && res.sum != sum) {
			fprintf(stderr, "run %llu reported other results\n", (unsigned long long)r);
			return 1;
		}
		sum = res.sum;
	}
	printf("events %llu, reported %llu (%llu bytes): COMPLETE %llu INCONCLUSIVE %llu other "
	       "%llu\n",
	       (unsigned long long)events, (unsigned long long)res.segs,
	       (unsigned long long)res.bytes, (unsigned long long)res.status[NB_ST_COMPLETE],
	       (unsigned long long)res.status[NB_ST_INCONCLUSIVE],
	       (unsigned long long)(res.segs - res.status[NB_ST_COMPLETE] -
				    res.status[NB_ST_INCONCLUSIVE]));
	printf("copies %llu lost %llu spurious %llu early %llu late %llu overflow %llu, "
	       "checksum %016llx\n",
	       (unsigned long long)res.copies, (unsigned long long)res.lost,
	       (unsigned long long)res.spurious, (unsigned long long)ps.early,
	       (unsigned long long)ps.late, (unsigned long long)ps.overflow,
	       (unsigned long long)res.sum);
	qsort(secs, runs, sizeof(*secs), s_cmp_d);
	printf("ns per event: min %.0f median %.0f max %.0f; peak RSS %ld kB\n",
	       secs[0] * 1e9 / (double)events, secs[runs / 2] * 1e9 / (double)events,
	       secs[runs - 1] * 1e9 / (double)events, s_rss_kb());
	free(script.v);
	return 0;
}
