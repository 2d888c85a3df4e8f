// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * nb_lat_probe: drives the stage tracer's latency chain (agent/nb_tracer.c) directly, so tests
 * can check what it attaches and what it reports without a tool on top.
 *
 *   nb_lat_probe --family system|kernel|vm --dir tx|rx|both [--rtt] [--proto icmp|tcp|udp]
 *                [--phy IF[,IF]] [--vm IF[,IF]] [--netns NAME] [--src IP] [--dst IP]
 *                [--hooks auto|tcx|tracepoint] [--hist] --seconds S
 *
 * Prints "source I NAME: SOURCE" per stage, "ready" once attached, then (events) one line per
 * event "ev stage=I proto=P id=ID seq=SEQ ts=NS", and at the end "count stage=I n=N" per stage,
 * "hist PREV CUR BUCKET N" per non-empty histogram slot (--hist) and "stats matched=.. lost=..
 * parse_err=.. no_prev=.. last_full=..". Exit 0; 1 when the chain cannot be opened (the error
 * on stderr); 2 for usage errors.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../agent/agent.h"
#include "../../agent/nb_log.h"
#include "nb_time.h"

static uint64_t s_count[NB_LAT_MAX_STAGES];

static int s_on_event(const struct nb_event *e, void *ctx)
{
	unsigned int i = (unsigned int)e->hook - NB_HOOK_LAT0;

	(void)ctx;
	if (i < NB_LAT_MAX_STAGES)
		s_count[i]++;
	printf("ev stage=%u proto=%u id=%u seq=%u tcp_seq=%u ip_id=%u ifindex=%u ts=%llu\n", i,
	       e->pkt.proto, e->pkt.icmp_id, e->pkt.icmp_seq, e->pkt.tcp_seq, e->pkt.ip_id,
	       e->ifindex, (unsigned long long)e->ts_ns);
	return 0;
}

static int s_ifs(struct nb_netns *ns, const char *list, uint32_t *out, int *n)
{
	char names[NB_MAX_IFS][16], err[256], buf[256];
	char *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", list);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok && *n < NB_MAX_IFS;
	     tok = strtok_r(NULL, ",", &save))
		snprintf(names[(*n)++], 16, "%s", tok);
	if (nb_netns_ifindex(ns, names, *n, out, err, sizeof(err))) {
		fprintf(stderr, "nb_lat_probe: %s\n", err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"family", 1, 0, 'f'}, {"dir", 1, 0, 'd'},   {"rtt", 0, 0, 'r'},
		{"proto", 1, 0, 'p'},  {"phy", 1, 0, 'P'},   {"vm", 1, 0, 'V'},
		{"netns", 1, 0, 'n'},  {"src", 1, 0, 's'},   {"dst", 1, 0, 'D'},
		{"hooks", 1, 0, 'H'},  {"hist", 0, 0, 'h'},  {"seconds", 1, 0, 'S'},
		{0, 0, 0, 0}};
	const char *phy = NULL, *vm = NULL, *netns = NULL;
	enum nb_lat_family fam = 0;
	enum nb_lat_dir dir = 0;
	struct nb_lat_stage st[NB_MAX_STAGES];
	struct nb_lat_cfg cfg = {0};
	struct nb_netns ns = {.fd = -1};
	struct nb_tracer *t = NULL;
	struct nb_lat_stats sts;
	bool rtt = false;
	uint8_t proto = 0, fam_s = 0, fam_d = 0;
	double secs = 0;
	char err[256];
	int c, n;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fam = !strcmp(optarg, "system") ? NB_LAT_SYSTEM
			      : !strcmp(optarg, "kernel") ? NB_LAT_KERNEL
			      : !strcmp(optarg, "vm")	  ? NB_LAT_VM
							  : 0;
			break;
		case 'd':
			if (nb_lat_dir_parse(optarg, true, &dir))
				return 2;
			break;
		case 'r':
			rtt = true;
			break;
		case 'p':
			proto = !strcmp(optarg, "icmp")	 ? IPPROTO_ICMP
				: !strcmp(optarg, "tcp") ? IPPROTO_TCP
				: !strcmp(optarg, "udp") ? IPPROTO_UDP
							 : 0;
			break;
		case 'P':
			phy = optarg;
			break;
		case 'V':
			vm = optarg;
			break;
		case 'n':
			netns = optarg;
			break;
		case 's':
			if (nb_addr_parse(optarg, cfg.filter.saddr, &fam_s))
				return 2;
			cfg.filter.has_saddr = 1;
			break;
		case 'D':
			if (nb_addr_parse(optarg, cfg.filter.daddr, &fam_d))
				return 2;
			cfg.filter.has_daddr = 1;
			break;
		case 'H':
			if (nb_hooks_parse(optarg, &cfg.hooks))
				return 2;
			break;
		case 'h':
			cfg.hist = true;
			break;
		case 'S':
			secs = atof(optarg);
			break;
		default:
			return 2;
		}
	}
	if (!fam || !dir || secs <= 0) {
		fprintf(stderr, "nb_lat_probe: --family, --dir and --seconds are required\n");
		return 2;
	}
	nb_bpf_setup(getenv("NB_VERBOSE") != NULL);
	n = nb_lat_chain(fam, dir, rtt, proto, st);
	if (n < 1) {
		fprintf(stderr, "nb_lat_probe: no such chain\n");
		return 2;
	}
	if (nb_netns_open(&ns, netns, err, sizeof(err))) {
		fprintf(stderr, "nb_lat_probe: %s\n", err);
		return 2;
	}
	if ((phy && s_ifs(&ns, phy, cfg.ifindex[NB_LAT_IF_PHY], &cfg.n_if[NB_LAT_IF_PHY])) ||
	    (vm && s_ifs(&ns, vm, cfg.ifindex[NB_LAT_IF_VM], &cfg.n_if[NB_LAT_IF_VM])))
		return 2;
	cfg.stages = st;
	cfg.nstages = n;
	cfg.filter.netns = ns.inum;
	cfg.filter.family = fam_s ? fam_s : fam_d;
	cfg.filter.proto = proto;
	cfg.ns = &ns;
	if (nb_tracer_open_chain(&t, &cfg, s_on_event, NULL, err, sizeof(err))) {
		fprintf(stderr, "nb_lat_probe: %s\n", err);
		return 1;
	}
	for (int i = 0; i < n; i++)
		printf("source %d %s %s\n", i, nb_tracer_stage_ok(t, i) ? "ok" : "missing",
		       nb_tracer_stage_source(t, i));
	printf("ready\n");
	fflush(stdout);
	for (uint64_t end = nb_mono_ns() + (uint64_t)(secs * 1e9); nb_mono_ns() < end;) {
		nb_tracer_poll(t, 100);
		fflush(stdout);
	}
	nb_tracer_poll(t, 0);
	for (int i = 0; i < n; i++)
		printf("count stage=%d n=%llu\n", i, (unsigned long long)s_count[i]);
	if (cfg.hist) {
		static uint64_t h[NB_LAT_HIST_SLOTS];

		if (nb_tracer_hist(t, h)) {
			fprintf(stderr, "nb_lat_probe: cannot read the histograms\n");
			return 1;
		}
		for (int k = 0; k < NB_LAT_HIST_SLOTS; k++)
			if (h[k])
				printf("hist %d %d %d %llu\n", k / NB_LAT_BUCKETS / NB_LAT_MAX_STAGES,
				       k / NB_LAT_BUCKETS % NB_LAT_MAX_STAGES, k % NB_LAT_BUCKETS,
				       (unsigned long long)h[k]);
	}
	nb_tracer_lat_stats(t, &sts);
	printf("stats matched=%llu lost=%llu parse_err=%llu no_prev=%llu last_full=%llu\n",
	       (unsigned long long)sts.matched, (unsigned long long)sts.lost,
	       (unsigned long long)sts.parse_err, (unsigned long long)sts.no_prev,
	       (unsigned long long)sts.last_full);
	nb_tracer_destroy(&t);
	nb_netns_close(&ns);
	return 0;
}
