// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The tun ring monitor's loader and counters (bpf/nb_tun.bpf.c), shared by tun_ring_monitor
 * and by a serve session that watches the VM port of its trace (serve_tun.c): one
 * implementation of the ring's reading for both.
 */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "nb_evidence.h"
#include "nb_tun.skel.h"

struct nb_tunmon {
	struct nb_tun_bpf *skel;
	struct ring_buffer *rb;
	int ncpu;
	struct nb_tun_qstat *pcpu;
	bool deq_by_addr;	   /* the reader's code is known: dequeues of unfollowed packets count */
	struct nb_hot hot0;	   /* nb_hot's value at the attach: the reader's code ranges */
};

int nb_tunmon_is_tap(const struct nb_netns *ns, const char *ifname, char *err, size_t errlen)
{
	char drv[40];
	int rc = nb_netns_driver(ns, ifname, drv, sizeof(drv));

	if (rc || strcmp(drv, "tun")) {
		snprintf(err, errlen, "'%s' is not a tun/tap device (driver %s)", ifname,
			 rc ? strerror(-rc) : drv);
		return rc ? rc : -ENOTTY;
	}
	return 0;
}

/* The benchmark's floor: the empty programs on the same hooks instead of the tool's. */
static void s_floor(struct nb_tun_bpf *skel)
{
	bpf_program__set_autoload(skel->progs.nb_tun_enq, false);
	bpf_program__set_autoload(skel->progs.nb_tun_deq, false);
	bpf_program__set_autoload(skel->progs.nb_tun_drop, false);
	bpf_program__set_autoload(skel->progs.nb_tun_enq_nop, true);
	bpf_program__set_autoload(skel->progs.nb_tun_deq_nop, true);
	bpf_program__set_autoload(skel->progs.nb_tun_drop_nop, true);
}

/* consume_skb's caller in the reader: tun_do_read, or what it was inlined into. */
static void s_reader_ranges(struct nb_tunmon *m, char *warn, size_t warnlen)
{
	static const char *const names[][2] = {{"tun_do_read", "tun_do_read.cold"},
					       {"tun_recvmsg", "tun_chr_read_iter"}};
	struct nb_sym *sym = NULL;
	char err[256];
	uint64_t lo, hi;

	if (nb_sym_open_ksyms(&sym, err, sizeof(err))) {
		snprintf(warn, warnlen, "%.180s: only dequeues of sojourn samples are counted", err);
		return;
	}
	for (size_t i = 0; i < 2 && !m->deq_by_addr; i++) {
		if (nb_sym_range(sym, names[i][0], &lo, &hi))
			continue;
		m->hot0.deq_lo[0] = lo;
		m->hot0.deq_hi[0] = hi;
		if (!nb_sym_range(sym, names[i][1], &lo, &hi)) {
			m->hot0.deq_lo[1] = lo;
			m->hot0.deq_hi[1] = hi;
		}
		m->deq_by_addr = true;
	}
	if (!nb_sym_range(sym, "tun_net_xmit", &lo, &hi)) {
		m->skel->rodata->nb_xmit_lo[0] = lo;
		m->skel->rodata->nb_xmit_hi[0] = hi;
	}
	if (!nb_sym_range(sym, "tun_net_xmit.cold", &lo, &hi)) {
		m->skel->rodata->nb_xmit_lo[1] = lo;
		m->skel->rodata->nb_xmit_hi[1] = hi;
	}
	if (!m->deq_by_addr)
		snprintf(warn, warnlen,
			 "the tun read path (tun_do_read) is not in kallsyms: only dequeues of "
			 "sojourn samples are counted");
	nb_sym_destroy(&sym);
}

int nb_tunmon_open(struct nb_tunmon **out, const struct nb_tunmon_cfg *cfg,
		   int (*fn)(void *ctx, void *data, size_t size), void *ctx, char *err,
		   size_t errlen, char *warn, size_t warnlen)
{
	struct nb_tunmon *m = calloc(1, sizeof(*m));
	char wbuf[320] = "";
	int rc;

	*out = NULL;
	if (warn && warnlen)
		warn[0] = 0;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->ncpu = libbpf_num_possible_cpus();
	if (m->ncpu <= 0) {
		snprintf(err, errlen, "cannot count CPUs");
		rc = -EINVAL;
		goto fail;
	}
	m->pcpu = calloc((size_t)m->ncpu, sizeof(*m->pcpu));
	m->skel = nb_tun_bpf__open();
	if (!m->pcpu || !m->skel) {
		rc = -(errno ? errno : ENOMEM);
		snprintf(err, errlen, "cannot open the BPF tun ring monitor: %s", strerror(-rc));
		goto fail;
	}
	memcpy((void *)&m->skel->rodata->nb_cfg, &cfg->filter, sizeof(cfg->filter));
	m->skel->rodata->nb_all = cfg->all;
	m->skel->rodata->nb_parse_all = cfg->parse_all;
	m->skel->rodata->nb_no_events = cfg->no_events;
	/* A session reads no events: the smallest ring the kernel takes (one page). */
	if (cfg->no_events)
		bpf_map__set_max_entries(m->skel->maps.nb_events, 4096);
	else if (cfg->ringbuf_bytes)
		bpf_map__set_max_entries(m->skel->maps.nb_events, cfg->ringbuf_bytes);
	s_reader_ranges(m, wbuf, sizeof(wbuf));
	/* The benchmark's floor (tests/bench/tun.sh): the same hooks, programs that return at once. */
	if (getenv("NB_TEST_NOOP_PROGRAMS") && !strcmp(getenv("NB_TEST_NOOP_PROGRAMS"), "1")) {
		snprintf(wbuf, sizeof(wbuf),
			 "NB_TEST_NOOP_PROGRAMS=1: the programs return at once, nothing is counted");
		s_floor(m->skel);
	}
	/* Run on demand by s_snap, never attached. */
	bpf_program__set_autoattach(m->skel->progs.nb_tun_snap, false);
	rc = nb_tun_bpf__load(m->skel);
	if (rc) {
		snprintf(err, errlen,
			 "cannot load the BPF tun ring monitor: %s (the kernel needs BTF of the tun "
			 "driver)",
			 strerror(-rc));
		goto fail;
	}
	/* Before the attach: no program runs yet, nothing else writes the value. */
	rc = bpf_map_update_elem(bpf_map__fd(m->skel->maps.nb_hot), &(uint32_t){0}, &m->hot0, BPF_ANY);
	if (rc) {
		rc = -errno;
		snprintf(err, errlen, "cannot set the tun ring monitor's reader: %s", strerror(errno));
		goto fail;
	}
	rc = nb_tun_bpf__attach(m->skel);
	if (rc) {
		snprintf(err, errlen,
			 "kernel lacks a hook the tun ring monitor needs (tp_btf/net_dev_start_xmit, "
			 "tp_btf/consume_skb, tp_btf/kfree_skb): %s",
			 strerror(-rc));
		goto fail;
	}
	if (fn) {
		m->rb = ring_buffer__new(bpf_map__fd(m->skel->maps.nb_events), fn, ctx, NULL);
		if (!m->rb) {
			rc = -errno;
			snprintf(err, errlen, "cannot open the ring buffer: %s", strerror(errno));
			goto fail;
		}
	}
	if (warn && warnlen)
		snprintf(warn, warnlen, "%s", wbuf);
	*out = m;
	return 0;
fail:
	nb_tunmon_destroy(&m);
	return rc < 0 ? rc : -EINVAL;
}

bool nb_tunmon_deq_by_addr(const struct nb_tunmon *m)
{
	return m->deq_by_addr;
}

int nb_tunmon_poll(struct nb_tunmon *m, int timeout_ms)
{
	int n = m->rb ? ring_buffer__poll(m->rb, timeout_ms) : 0;

	return n == -EINTR ? 0 : n;
}

int nb_tunmon_consume(struct nb_tunmon *m)
{
	return m->rb ? ring_buffer__consume(m->rb) : 0;
}

/* The ring of queue q now (nb_tun_snap, run on demand): 0, or -1 when it cannot be read. */
static int s_snap(struct nb_tunmon *m, uint32_t q, struct nb_tun_ring *r)
{
	uint64_t arg = q;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &arg, .ctx_size_in = sizeof(arg));

	if (bpf_prog_test_run_opts(bpf_program__fd(m->skel->progs.nb_tun_snap), &opts) ||
	    m->skel->bss->nb_snap_rc)
		return -1;
	*r = m->skel->bss->nb_snap;
	return 0;
}

int nb_tunmon_read(struct nb_tunmon *m, int queue, struct nb_tunq *qs, bool next_epoch)
{
	int fq = bpf_map__fd(m->skel->maps.nb_tun_q);
	uint64_t epoch = m->skel->bss->nb_epoch;
	struct nb_hot hot;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.nb_hot), &zero, &hot))
		return -errno;

	for (uint32_t q = 0; q < NB_TUN_MAXQ; q++) {
		struct nb_tunq *sq = &qs[q];
		struct nb_tun_qstat *tot = &sq->tot;

		if (queue >= 0 && q != (uint32_t)queue)
			continue;
		if (bpf_map_lookup_elem(fq, &q, m->pcpu))
			return -errno;
		sq->hwm = nb_tun_qstat_sum(tot, m->pcpu, m->ncpu, epoch);
		/* The reader's count is one per queue, in the dequeue's own line (nb_hot). */
		tot->deq = hot.samp[q].deq;
		if (tot->enq || tot->deq || tot->drop_full || tot->drop_other)
			sq->seen = true;
		if (!sq->seen)
			continue;
		/* The state now; the HWM's samples missed nothing above it. */
		if (!s_snap(m, q, &sq->ring) && sq->ring.occupancy > sq->hwm)
			sq->hwm = sq->ring.occupancy;
	}
	/* The next interval's high-water marks start afresh. */
	if (next_epoch)
		m->skel->bss->nb_epoch = epoch + 1;
	return 0;
}

void nb_tunmon_counters(const struct nb_tunmon *m, uint64_t *lost, uint64_t *unparsed,
			uint64_t *noring)
{
	*lost = m->skel->bss->nb_lost;
	*unparsed = m->skel->bss->nb_parse_err;
	*noring = m->skel->bss->nb_noring;
}

void nb_tunmon_destroy(struct nb_tunmon **pm)
{
	struct nb_tunmon *m = pm ? *pm : NULL;

	if (!m)
		return;
	ring_buffer__free(m->rb);
	nb_tun_bpf__destroy(m->skel);
	free(m->pcpu);
	free(m);
	*pm = NULL;
}
