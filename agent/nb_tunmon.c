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
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "nb_evidence.h"
#include "nb_tun.skel.h"

struct nb_tunmon {
	struct nb_tun_bpf *skel;
	struct ring_buffer *rb;
	int ncpu;
	struct nb_tun_qstat *pcpu;
	bool deq_by_addr;   /* the readers' code is known: the dequeue skips every other free */
	struct nb_hot hot0; /* nb_hot's value at the attach: the readers' code ranges */
	struct nb_hot hot;  /* nb_hot at the last nb_tunmon_read (16 KiB: not on the stack) */
	int tcx_fd;	    /* the enqueue's tcx link on the tap, or -1 */
	struct bpf_link *enq_link; /* or its tracepoint */
	const char *enq_hook;	   /* which of the two */
};

#define S_TCX_EGRESS 47 /* uapi enum bpf_attach_type (Linux >= 6.6); libbpf 1.1 predates it */

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

/*
 * Which programs load: the tool's, or the benchmark's floor (the empty programs on the same
 * hooks, tests/bench/tun.sh); the enqueue's tcx program only for a tap of one queue. The
 * enqueue is attached by hand (s_attach_enq), its tracepoint only where no tcx link is made.
 */
static void s_pick(struct nb_tun_bpf *skel, bool floor, bool tcx)
{
	struct bpf_program *tool[] = {skel->progs.nb_tun_enq, skel->progs.nb_tun_tcx,
				      skel->progs.nb_tun_deq, skel->progs.nb_tun_drop};
	struct bpf_program *nop[] = {skel->progs.nb_tun_enq_nop, skel->progs.nb_tun_tcx_nop,
				     skel->progs.nb_tun_deq_nop, skel->progs.nb_tun_drop_nop};

	for (size_t i = 0; i < 4; i++) {
		bool on = tool[i] != skel->progs.nb_tun_tcx || tcx;

		bpf_program__set_autoload(tool[i], on && !floor);
		bpf_program__set_autoload(nop[i], on && floor);
	}
	bpf_program__set_autoattach(tool[0], false);
	bpf_program__set_autoattach(nop[0], false);
}

/*
 * The enqueue: a tcx egress link on the tap (made in its namespace) when tcx is wanted and the
 * kernel has it, which runs for the tap's packets only; else net_dev_start_xmit, which runs for
 * every transmit of the machine. 0, or -errno with err.
 */
static int s_attach_enq(struct nb_tunmon *m, const struct nb_tunmon_cfg *cfg, bool floor, bool tcx,
			char *err, size_t errlen)
{
	struct nb_netns own = {.fd = -1};
	struct bpf_program *p;
	int self, rc;

	if (tcx) {
		p = floor ? m->skel->progs.nb_tun_tcx_nop : m->skel->progs.nb_tun_tcx;
		rc = nb_netns_enter(cfg->ns ? cfg->ns : &own, &self, err, errlen);
		if (rc)
			return rc;
		/* A hidden tcx (a test) is refused as a kernel without it refuses it. */
		errno = EINVAL;
		m->tcx_fd = nb_hook_hidden("tcx")
				? -1
				: bpf_link_create(bpf_program__fd(p), (int)cfg->filter.ifindex[0],
						  (enum bpf_attach_type)S_TCX_EGRESS, NULL);
		rc = m->tcx_fd < 0 ? -errno : 0;
		rc = nb_netns_leave(self, rc, err, errlen);
		if (!rc) {
			m->enq_hook = "tcx/egress";
			return 0;
		}
		if (m->tcx_fd >= 0)
			close(m->tcx_fd);
		m->tcx_fd = -1;
		/* A kernel without tcx refuses the attach type: the tracepoint does it. */
		if (rc != -EINVAL && rc != -EOPNOTSUPP && rc != -ENOTSUP) {
			snprintf(err, errlen, "cannot attach the tun ring monitor to the tap: %s",
				 strerror(-rc));
			return rc;
		}
	}
	p = floor ? m->skel->progs.nb_tun_enq_nop : m->skel->progs.nb_tun_enq;
	m->enq_link = bpf_program__attach(p);
	if (!m->enq_link) {
		rc = -errno;
		m->enq_link = NULL;
		snprintf(err, errlen,
			 "kernel lacks a hook the tun ring monitor needs "
			 "(tp_btf/net_dev_start_xmit): %s",
			 strerror(-rc));
		return rc;
	}
	m->enq_hook = "tp_btf/net_dev_start_xmit";
	return 0;
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
		snprintf(warn, warnlen,
			 "%.160s: the dequeue program runs for every free of the machine", err);
		return;
	}
	/* A test hides the read path to run the dequeue without it. */
	for (size_t i = 0; i < 2 && !m->deq_by_addr && !nb_hook_hidden("tun_do_read"); i++) {
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
			 "the tun read path (tun_do_read) is not in kallsyms: the dequeue program "
			 "runs for every free of the machine");
	nb_sym_destroy(&sym);
}

/* Opens, configures and loads the object into m->skel (NULL when the open failed). -errno. */
static int s_load(struct nb_tunmon *m, const struct nb_tunmon_cfg *cfg, bool floor, bool tcx,
		  char *wbuf, size_t wlen)
{
	m->skel = nb_tun_bpf__open();
	if (!m->skel)
		return -ENOMEM;
	memcpy((void *)&m->skel->rodata->nb_cfg, &cfg->filter, sizeof(cfg->filter));
	m->skel->rodata->nb_all = cfg->all;
	m->skel->rodata->nb_parse_all = cfg->parse_all;
	m->skel->rodata->nb_no_events = cfg->no_events;
	/* A session reads no events: the smallest ring the kernel takes (one page). */
	if (cfg->no_events)
		bpf_map__set_max_entries(m->skel->maps.nb_events, 4096);
	else if (cfg->ringbuf_bytes)
		bpf_map__set_max_entries(m->skel->maps.nb_events, cfg->ringbuf_bytes);
	s_reader_ranges(m, wbuf, wlen);
	if (floor)
		snprintf(
		    wbuf, wlen,
		    "NB_TEST_NOOP_PROGRAMS=1: empty programs on the hooks, nothing is counted");
	s_pick(m->skel, floor, tcx);
	/* Run on demand by s_snap, never attached. */
	bpf_program__set_autoattach(m->skel->progs.nb_tun_snap, false);
	return nb_tun_bpf__load(m->skel);
}

int nb_tunmon_open(struct nb_tunmon **out, const struct nb_tunmon_cfg *cfg,
		   int (*fn)(void *ctx, void *data, size_t size), void *ctx, char *err,
		   size_t errlen, char *warn, size_t warnlen)
{
	struct nb_tunmon *m = calloc(1, sizeof(*m));
	struct nb_netns own = {.fd = -1};
	char wbuf[320] = "";
	bool floor, tcx;
	uint32_t ntx = 0;
	int rc;

	*out = NULL;
	if (warn && warnlen)
		warn[0] = 0;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->tcx_fd = -1;
	m->ncpu = libbpf_num_possible_cpus();
	if (m->ncpu <= 0) {
		snprintf(err, errlen, "cannot count CPUs");
		rc = -EINVAL;
		goto fail;
	}
	m->pcpu = calloc((size_t)m->ncpu, sizeof(*m->pcpu));
	if (!m->pcpu) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	floor = getenv("NB_TEST_NOOP_PROGRAMS") && !strcmp(getenv("NB_TEST_NOOP_PROGRAMS"), "1");
	/* One queue for its life (no IFF_MULTI_QUEUE): the ring is queue 0 before the pick. */
	tcx =
	    !nb_netns_txqueues(cfg->ns ? cfg->ns : &own, cfg->filter.ifindex[0], &ntx) && ntx == 1;
	rc = s_load(m, cfg, floor, tcx, wbuf, sizeof(wbuf));
	/*
	 * A kernel before bpf_cast_to_kern_ctx (6.3) refuses the tcx program: without it. (A test
	 * hides the kfunc to run this on a kernel that has it.)
	 */
	if (!rc && tcx && nb_hook_hidden("bpf_cast_to_kern_ctx"))
		rc = -EINVAL;
	if (rc && tcx) {
		nb_tun_bpf__destroy(m->skel);
		tcx = false;
		rc = s_load(m, cfg, floor, tcx, wbuf, sizeof(wbuf));
	}
	if (rc == -ENOMEM && !m->skel) {
		snprintf(err, errlen, "cannot open the BPF tun ring monitor: %s", strerror(-rc));
		goto fail;
	}
	if (rc) {
		snprintf(
		    err, errlen,
		    "cannot load the BPF tun ring monitor: %s (the kernel needs BTF of the tun "
		    "driver)",
		    strerror(-rc));
		goto fail;
	}
	/* Before the attach: no program runs yet, nothing else writes the value. */
	rc = bpf_map_update_elem(bpf_map__fd(m->skel->maps.nb_hot), &(uint32_t){0}, &m->hot0,
				 BPF_ANY);
	if (rc) {
		rc = -errno;
		snprintf(err, errlen, "cannot set the tun ring monitor's reader: %s",
			 strerror(errno));
		goto fail;
	}
	rc = nb_tun_bpf__attach(m->skel);
	if (rc) {
		snprintf(err, errlen,
			 "kernel lacks a hook the tun ring monitor needs (tp_btf/consume_skb, "
			 "tp_btf/kfree_skb): %s",
			 strerror(-rc));
		goto fail;
	}
	rc = s_attach_enq(m, cfg, floor, tcx, err, errlen);
	if (rc)
		goto fail;
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

const char *nb_tunmon_enq_hook(const struct nb_tunmon *m)
{
	return m->enq_hook;
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

/*
 * The ring of queue q now and its dequeue count (nb_tun_snap, run on demand): 0, or -1 when it
 * cannot be read.
 */
static int s_snap(struct nb_tunmon *m, uint32_t q, struct nb_tun_ring *r, uint64_t *deq)
{
	uint64_t arg = q;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &arg, .ctx_size_in = sizeof(arg));

	if (bpf_prog_test_run_opts(bpf_program__fd(m->skel->progs.nb_tun_snap), &opts) ||
	    m->skel->bss->nb_snap_rc)
		return -1;
	*r = m->skel->bss->nb_snap;
	*deq = m->skel->bss->nb_snap_deq;
	return 0;
}

int nb_tunmon_read(struct nb_tunmon *m, int queue, struct nb_tunq *qs, bool next_epoch)
{
	int fq = bpf_map__fd(m->skel->maps.nb_tun_q);
	uint64_t epoch = m->skel->bss->nb_epoch;
	struct nb_hot *hot = &m->hot;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.nb_hot), &zero, hot))
		return -errno;
	for (uint32_t q = 0; q < NB_TUN_MAXQ; q++) {
		struct nb_tunq *sq = &qs[q];
		struct nb_tun_qstat *tot = &sq->tot;
		uint64_t deq = tot->deq, now;

		if (queue >= 0 && q != (uint32_t)queue)
			continue;
		if (bpf_map_lookup_elem(fq, &q, m->pcpu))
			return -errno;
		sq->hwm = nb_tun_qstat_sum(tot, m->pcpu, m->ncpu, epoch);
		if (tot->enq || tot->drop_full || tot->drop_other || hot->samp[q].deq)
			sq->seen = true;
		if (!sq->seen)
			continue;
		/* The state now, with the count up to now; a count never goes back. */
		now = hot->samp[q].deq;
		if (!s_snap(m, q, &sq->ring, &now) && sq->ring.occupancy > sq->hwm)
			sq->hwm = sq->ring.occupancy;
		tot->deq = now > deq ? now : deq;
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
	if (m->tcx_fd >= 0)
		close(m->tcx_fd);
	bpf_link__destroy(m->enq_link);
	nb_tun_bpf__destroy(m->skel);
	free(m->pcpu);
	free(m);
	*pm = NULL;
}
