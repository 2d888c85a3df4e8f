// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Join engine benchmark: synthetic two-node ICMP traffic through the 8-stage chain.
 *
 *   gcc -O2 -Icommon tests/bench/bench_join.c common/nb_join.c common/nb_blame.c \
 *       common/nb_hist.c -o build/bench_join
 *   build/bench_join [EVENTS] [--silent-b] [--unique-keys]
 *
 * One packet per microsecond of reference time, ICMP seq wrapping at 65536. Node A's events
 * (A0 A1, then A2 A3 of the batch before) and node B's (B0..B3 of the batch before) arrive in
 * batches of 256 packets, so the join sees the cross-node reordering a coordinator sees. 1 %
 * of the packets are dropped at a random point of the chain and leave by timeout. After each
 * batch both watermarks advance to the oldest event not yet delivered and the engine is
 * polled. With --silent-b, host B goes down after 1M events: no B events, no replies, no B
 * watermark and no taint (the worst case), so every packet waits at A1 for a B0 that never
 * comes; what bounds memory then is the key coming back after reuse_ns (REUSED) or, with
 * --unique-keys (a 64-bit packet number as the key, like a TCP byte offset), max_inflight
 * (EVICTED).
 *
 * Reported at 1M, 5M and 10M events (or the EVENTS given): events/s over the whole run so far
 * (generation included, one thread), peak RSS from getrusage, peak and current in-flight.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nb_blame.h"
#include "nb_hist.h"
#include "nb_join.h"

#define BATCH	     256
#define INTERVAL_NS  1000ull
#define TIMEOUT_NS   10000000ull  /* 10 ms: well under the 65 ms it takes ICMP seq to wrap */
#define B_OFFSET_NS  123456789ull /* node B's clock runs ahead of the reference */
#define DROP_PER_10K 100

/* offsets of A0 A1 B0 B1 B2 B3 A2 A3 from the packet's start */
static const uint64_t stage_off[8] = {0, 5000, 30000, 35000, 60000, 65000, 90000, 95000};
static const int stage_node[8] = {0, 0, 1, 1, 1, 1, 0, 0};

struct pkt {
	uint64_t t0;
	uint16_t seq;
	int8_t hi; /* last stage that will be emitted */
	uint8_t jit[8];
};

static struct {
	uint64_t counts[NB_ST__COUNT];
	struct nb_hist rtt;
} res;

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t s_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

static void s_cb(const struct nb_joined *p, void *ctx)
{
	enum nb_status st = nb_status_chain(p);

	(void)ctx;
	res.counts[st]++;
	if (st == NB_ST_COMPLETE)
		nb_hist_add(&res.rtt, p->st[7].ts_ref - p->st[0].ts_ref);
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

static uint64_t events;
static int silent_b, unique_keys;

static void s_emit(struct nb_join *j, const struct pkt *p, int stage)
{
	struct nb_key k = {.proto = 1, .k1 = 0x4242, .k2 = p->seq};
	uint64_t ref, ts;

	if (stage > p->hi || (silent_b && stage >= 2 && events >= 1000000))
		return;
	if (unique_keys)
		k.k2 = (p->t0 - 1000000000ull) / INTERVAL_NS;
	ref = p->t0 + stage_off[stage] + p->jit[stage];
	ts = stage_node[stage] ? ref + B_OFFSET_NS : ref;
	nb_join_add(j, &k, stage, ts, ref, stage_node[stage] ? 20 : 10, 0);
	events++;
}

static void s_gen_batch(struct pkt *b, uint64_t first_pkt)
{
	int i, s;

	for (i = 0; i < BATCH; i++) {
		uint64_t n = first_pkt + (uint64_t)i;

		b[i].t0 = 1000000000ull + n * INTERVAL_NS;
		b[i].seq = (uint16_t)n;
		b[i].hi = 7;
		if (s_rand() % 10000 < DROP_PER_10K)
			b[i].hi = (int8_t)(s_rand() % 7);
		/* under 2 us of jitter: each node's stream stays nearly time ordered */
		for (s = 0; s < 8; s++)
			b[i].jit[s] = (uint8_t)(s_rand() % 200);
	}
}

int main(int argc, char **argv)
{
	struct nb_join_cfg cfg = {
	    .nstages = 8,
	    .nnodes = 2,
	    .stage_node = {0, 0, 1, 1, 1, 1, 0, 0},
	    .timeout_ns = TIMEOUT_NS,
	    /* half the seq wrap period at this rate, as a coordinator would set it */
	    .reuse_ns = 32768 * INTERVAL_NS,
	};
	static struct pkt cur[BATCH], prev[BATCH];
	uint64_t target = 10000000, marks[3] = {1000000, 5000000, 10000000}, npkt = 0;
	struct nb_join_stats st;
	struct nb_join *j;
	int m = 0, i, s;
	double t0, t;
	char detail[512];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--silent-b"))
			silent_b = 1;
		else if (!strcmp(argv[i], "--unique-keys"))
			unique_keys = 1;
		else
			target = strtoull(argv[i], NULL, 10);
	}
	if (target != 10000000) {
		marks[0] = target / 10;
		marks[1] = target / 2;
		marks[2] = target;
	}
	nb_hist_init(&res.rtt);
	j = nb_join_new(&cfg, s_cb, NULL);
	if (!j) {
		perror("nb_join_new");
		return 1;
	}
	printf("events: %llu, 2 nodes, 8 stages, 1 pkt/us, %d%% dropped, timeout %llu ms, "
	       "reuse %llu ms, max_inflight default, B %s, keys %s\n",
	       (unsigned long long)target, DROP_PER_10K / 100,
	       (unsigned long long)(TIMEOUT_NS / 1000000),
	       (unsigned long long)(cfg.reuse_ns / 1000000), silent_b ? "down after 1M" : "live",
	       unique_keys ? "unique" : "ICMP seq (wraps at 65536)");
	printf("%10s %10s %12s %10s %14s %10s\n", "events", "seconds", "events/s", "rss_kb",
	       "peak_inflight", "inflight");
	t0 = s_now();
	s_gen_batch(prev, npkt);
	npkt += BATCH;
	for (i = 0; i < BATCH; i++)
		for (s = 0; s < 2; s++)
			s_emit(j, &prev[i], s);
	while (events < target) {
		uint64_t base;

		s_gen_batch(cur, npkt);
		npkt += BATCH;
		for (i = 0; i < BATCH; i++)
			for (s = 0; s < 2; s++)
				s_emit(j, &cur[i], s);
		for (i = 0; i < BATCH; i++)
			for (s = 2; s < 6; s++)
				s_emit(j, &prev[i], s);
		for (i = 0; i < BATCH; i++)
			for (s = 6; s < 8; s++)
				s_emit(j, &prev[i], s);
		/* the oldest undelivered event of each node: A2 / B0 of the current batch */
		base = cur[0].t0;
		nb_join_watermark(j, 0, base + stage_off[6]);
		if (!silent_b || events < 1000000)
			nb_join_watermark(j, 1, base + stage_off[2]);
		nb_join_poll(j);
		memcpy(prev, cur, sizeof(cur));
		while (m < 3 && events >= marks[m]) {
			t = s_now() - t0;
			nb_join_get_stats(j, &st);
			printf("%10llu %10.3f %12.0f %10ld %14llu %10llu\n",
			       (unsigned long long)events, t, (double)events / t, s_rss_kb(),
			       (unsigned long long)st.peak_inflight,
			       (unsigned long long)st.inflight);
			m++;
		}
	}
	nb_join_flush(j);
	nb_join_get_stats(j, &st);
	nb_verdict_detail(res.counts, NULL, detail, sizeof(detail));
	printf("packets %llu finals %llu evicted %llu late %llu dups %llu\n",
	       (unsigned long long)st.packets, (unsigned long long)st.finals,
	       (unsigned long long)st.evicted, (unsigned long long)st.late,
	       (unsigned long long)st.dups);
	printf("peak RSS %ld kB\n", s_rss_kb());
	printf("complete %llu, verdict %s, %s\n", (unsigned long long)res.counts[NB_ST_COMPLETE],
	       nb_verdict_name(nb_verdict_of(res.counts, NULL)), detail);
	printf("rtt p50 %llu ns p99 %llu ns\n", (unsigned long long)nb_hist_quantile(&res.rtt, 0.5),
	       (unsigned long long)nb_hist_quantile(&res.rtt, 0.99));
	nb_join_destroy(&j);
	return 0;
}
