// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The tool runtime: see nb_tool.h. */
#include "nb_tool.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nb_hist.h"
#include "nb_log.h"
#include "nb_time.h"

volatile int nb_stop;

static void s_on_signal(int sig)
{
	(void)sig;
	nb_stop = 1;
}

void nb_install_signals(void)
{
	struct sigaction sa = {.sa_handler = s_on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void nb_out_raw(const char *line, size_t len)
{
	fwrite(line, 1, len, stdout);
}

void nb_out_json(json_t *o)
{
	char *txt = json_dumps(o, JSON_COMPACT);

	if (txt)
		puts(txt);
	else
		nb_err("cannot format a JSON line: out of memory");
	free(txt);
	json_decref(o);
}

void nb_out_log2_text(const char *unit, const uint64_t *slots, int n, int indent)
{
	uint64_t max = 0;
	int first = -1, last = -1;

	for (int i = 0; i < n; i++) {
		if (!slots[i])
			continue;
		if (first < 0)
			first = i;
		last = i;
		if (slots[i] > max)
			max = slots[i];
	}
	if (first < 0) {
		printf("%*s(no samples)\n", indent, "");
		return;
	}
	printf("%*s%20s : %-10s distribution\n", indent, "", unit, "count");
	for (int i = first; i <= last; i++) {
		uint64_t lo, hi;
		char bar[41];
		int w = (int)(slots[i] * 40 / max);

		nb_hist_log2_range(i, &lo, &hi);
		memset(bar, '*', (size_t)w);
		bar[w] = '\0';
		printf("%*s%9llu -> %-8llu : %-10llu |%-40s|\n", indent, "", (unsigned long long)lo,
		       (unsigned long long)hi, (unsigned long long)slots[i], bar);
	}
}

json_t *nb_out_log2_json(const uint64_t *slots, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++) {
		uint64_t lo, hi;
		json_t *o;

		if (!slots[i])
			continue;
		nb_hist_log2_range(i, &lo, &hi);
		o = json_object();
		json_object_set_new(o, "lo", json_integer((json_int_t)lo));
		json_object_set_new(o, "hi", json_integer((json_int_t)hi));
		json_object_set_new(o, "count", json_integer((json_int_t)slots[i]));
		json_array_append_new(a, o);
	}
	return a;
}

void nb_tool_filter(const struct nb_rt *rt, struct nb_filter *f)
{
	/* Tracepoints are global: only what happens in the tool's namespace counts. */
	f->netns = rt->ns.inum;
	f->family = rt->family;
	f->proto = rt->proto;
	f->has_saddr = rt->has_src;
	f->has_daddr = rt->has_dst;
	memcpy(f->saddr, rt->src, sizeof(f->saddr));
	memcpy(f->daddr, rt->dst, sizeof(f->daddr));
	f->sport = (uint16_t)rt->o.src_port;
	f->dport = (uint16_t)rt->o.dst_port;
}

int nb_tool_on_event(const struct nb_event *e, void *ctx)
{
	struct nb_rt *rt = ctx;

	return rt->tool->ops->on_event(rt, rt->st, e);
}

static const struct {
	const char *flag;
	size_t off;
} s_ifopt[NB_RT_IF__COUNT] = {
    [NB_RT_IF_RX] = {"--rx-iface", offsetof(struct nb_opts, rx_iface)},
    [NB_RT_IF_TX] = {"--tx-iface", offsetof(struct nb_opts, tx_iface)},
    [NB_RT_IF_ANY] = {"--interface", offsetof(struct nb_opts, interface)},
    [NB_RT_IF_PHY] = {"--phy-interface", offsetof(struct nb_opts, phy_interface)},
    [NB_RT_IF_VM] = {"--vm-interface", offsetof(struct nb_opts, vm_interface)},
};

static const char *s_ifval(const struct nb_rt *rt, int i)
{
	return *(const char *const *)((const char *)&rt->o + s_ifopt[i].off);
}

/* What the options say, checked before anything needs root. */
static int s_parse(struct nb_rt *rt)
{
	const struct nb_opts *o = &rt->o;
	int total = 0;
	uint8_t fam;

	if (o->src_ip) {
		if (nb_addr_parse(o->src_ip, rt->src, &rt->family)) {
			nb_err("invalid --src-ip '%s'", o->src_ip);
			return NB_EXIT_USAGE;
		}
		rt->has_src = true;
	}
	if (o->dst_ip) {
		if (nb_addr_parse(o->dst_ip, rt->dst, &fam)) {
			nb_err("invalid --dst-ip '%s'", o->dst_ip);
			return NB_EXIT_USAGE;
		}
		if (rt->family && fam != rt->family) {
			nb_err("--src-ip and --dst-ip must be the same address family");
			return NB_EXIT_USAGE;
		}
		rt->family = fam;
		rt->has_dst = true;
	}
	if (o->protocol) {
		const char *p = o->protocol;

		if (!strcmp(p, "tcp"))
			rt->proto = IPPROTO_TCP;
		else if (!strcmp(p, "udp"))
			rt->proto = IPPROTO_UDP;
		else if (!strcmp(p, "icmp"))
			/* One protocol number per filter: ICMPv6 when the addresses are IPv6. */
			rt->proto = rt->family == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
		else if (strcmp(p, "all")) {
			nb_err("invalid --protocol '%s' (tcp, udp, icmp or all)", p);
			return NB_EXIT_USAGE;
		}
	}
	for (int i = 0; i < NB_RT_IF__COUNT; i++) {
		const char *v = s_ifval(rt, i);
		int n;

		if (!v)
			continue;
		n = nb_iflist_split(v, rt->ifs[i].names, NB_MAX_IFS);
		if (n < 0) {
			nb_err("invalid %s '%s' (comma list of at most %d names)", s_ifopt[i].flag,
			       v, NB_MAX_IFS);
			return NB_EXIT_USAGE;
		}
		rt->ifs[i].n = n;
		total += n;
	}
	/* The in-kernel filter has NB_MAX_IFS device slots for all the lists together. */
	if (total > NB_MAX_IFS) {
		nb_err("at most %d interfaces in all", NB_MAX_IFS);
		return NB_EXIT_USAGE;
	}
	if (o->ringbuf_kb & (o->ringbuf_kb - 1)) {
		nb_err("--ringbuf-size must be a power of two");
		return NB_EXIT_USAGE;
	}
	return 0;
}

int nb_tool_device_alias(struct nb_rt *rt, enum nb_rt_if which)
{
	struct nb_iflist *l = &rt->ifs[which];
	int n;

	if (rt->o.device && l->n) {
		nb_err("--device and %s name the same device: give one of them", s_ifopt[which].flag);
		return NB_EXIT_USAGE;
	}
	if (!rt->o.device) {
		if (!l->n) {
			nb_err("missing required option %s (or --device)", s_ifopt[which].flag);
			return NB_EXIT_USAGE;
		}
		return 0;
	}
	n = nb_iflist_split(rt->o.device, l->names, NB_MAX_IFS);
	if (n < 0) {
		nb_err("invalid --device '%s' (comma list of at most %d names)", rt->o.device,
		       NB_MAX_IFS);
		return NB_EXIT_USAGE;
	}
	l->n = n;
	return 0;
}

/* Root, the namespace, the interfaces in it. */
static int s_resolve(struct nb_rt *rt)
{
	char err[256];

	/* Checked before touching namespaces, whose files only root may open. */
	if (geteuid() != 0) {
		nb_err("must run as root (it loads BPF programs)");
		return NB_EXIT_ERR;
	}
	if (nb_netns_open(&rt->ns, rt->o.netns, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_USAGE;
	}
	for (int i = 0; i < NB_RT_IF__COUNT; i++) {
		struct nb_iflist *l = &rt->ifs[i];

		if (l->n &&
		    nb_netns_ifindex(&rt->ns, l->names, l->n, l->ifindex, err, sizeof(err))) {
			nb_err("%s", err);
			return NB_EXIT_USAGE;
		}
	}
	return 0;
}

int nb_tool_check(const struct nb_tool *t, int argc, char **argv, bool (*netns_ok)(const char *),
		  struct nb_opts *o)
{
	const struct nb_tool_ops *ops = t->ops;
	struct nb_rt *rt;
	char err[256];
	int rc;

	if (!ops) {
		nb_err("this tool is not built yet");
		return NB_EXIT_ERR;
	}
	if (nb_opts_parse(t->opts, t->n_opts, argc, argv, o, err, sizeof(err))) {
		nb_err("%s (see --help)", err);
		return NB_EXIT_USAGE;
	}
	if (o->help)
		return 0;
	/* A tool's state can be large (join tables): on the heap, as nb_tool_run has it. */
	rt = calloc(1, sizeof(*rt));
	if (rt)
		rt->st = calloc(1, ops->state_size ? ops->state_size : 1);
	if (!rt || !rt->st) {
		if (rt)
			free(rt);
		nb_err("out of memory");
		return NB_EXIT_ERR;
	}
	rt->tool = t;
	rt->o = *o;
	rt->ns.fd = -1;
	rc = s_parse(rt);
	if (!rc && ops->check)
		rc = ops->check(rt, rt->st);
	if (!rc && o->netns && netns_ok && !netns_ok(o->netns)) {
		nb_err("--netns must be a name under /run/netns or /proc/PID/ns/net");
		rc = NB_EXIT_USAGE;
	}
	if (!rc && nb_netns_open(&rt->ns, o->netns, err, sizeof(err))) {
		nb_err("%s", err);
		rc = NB_EXIT_USAGE;
	}
	for (int i = 0; !rc && i < NB_RT_IF__COUNT; i++) {
		struct nb_iflist *l = &rt->ifs[i];

		if (l->n &&
		    nb_netns_ifindex(&rt->ns, l->names, l->n, l->ifindex, err, sizeof(err))) {
			nb_err("%s", err);
			rc = NB_EXIT_USAGE;
		}
	}
	nb_netns_close(&rt->ns);
	free(rt->st);
	free(rt);
	return rc;
}

static void s_start(struct nb_rt *rt, void *st)
{
	const struct nb_tool_ops *ops = rt->tool->ops;
	json_t *o;

	if (!rt->o.json) {
		if (ops->start)
			ops->start(rt, st, NULL);
		return;
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("start"));
	json_object_set_new(o, "tool", json_string(rt->tool->name));
	if (ops->start)
		ops->start(rt, st, o);
	nb_out_json(o);
}

static int s_loop(struct nb_rt *rt, void *st)
{
	const struct nb_tool_ops *ops = rt->tool->ops;
	uint64_t t_end = 0;
	int got, rc;

	if (rt->o.duration)
		t_end = nb_mono_ns() + (uint64_t)rt->o.duration * 1000000000ull;
	while (!nb_stop && !rt->done) {
		uint64_t now;
		bool last;

		got = ops->poll(rt, st, ops->poll_ms);
		if (got < 0) {
			fflush(stdout);
			nb_err("ring buffer poll failed: %s", strerror(-got));
			return NB_EXIT_ERR;
		}
		now = nb_mono_ns();
		last = nb_stop || rt->done || (t_end && now >= t_end);
		if (ops->tick) {
			rc = ops->tick(rt, st, now, last);
			if (rc) {
				fflush(stdout);
				return rc;
			}
		}
		fflush(stdout);
		if (last)
			break;
	}
	rc = ops->summary(rt, st);
	fflush(stdout);
	return rc;
}

/* Everything before the loop; rt->st is the tool's state. */
static int s_open(struct nb_rt *rt, const struct nb_tool *t, const struct nb_opts *o)
{
	const struct nb_tool_ops *ops = t->ops;
	int rc;

	rt->tool = t;
	rt->o = *o;
	rt->ns.fd = -1;
	rt->st = calloc(1, ops->state_size ? ops->state_size : 1);
	if (!rt->st) {
		nb_err("out of memory");
		return NB_EXIT_ERR;
	}
	rc = s_parse(rt);
	if (!rc && ops->check)
		rc = ops->check(rt, rt->st);
	if (!rc)
		rc = s_resolve(rt);
	if (!rc && ops->setup)
		rc = ops->setup(rt, rt->st);
	if (rc)
		return rc;
	rt->wall_off = nb_wall_offset_ns();
	nb_period_init(&rt->period, nb_mono_ns(),
		       rt->o.interval > 0 ? (uint64_t)rt->o.interval * 1000000000ull : 0);
	return 0;
}

static void s_close(struct nb_rt *rt)
{
	if (rt->st && rt->tool->ops->teardown)
		rt->tool->ops->teardown(rt, rt->st);
	nb_netns_close(&rt->ns);
	free(rt->st);
	rt->st = NULL;
}

int nb_tool_run(const struct nb_tool *t, const struct nb_opts *o)
{
	struct nb_rt rt = {0};
	int rc;

	/*
	 * To a terminal line by line; elsewhere in blocks flushed every poll turn: a write() per
	 * line cost more than handling the packet at a TCP transfer's rate.
	 */
	if (isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOLBF, 0);
	else
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	nb_bpf_setup(o->verbose);
	nb_install_signals();
	rc = s_open(&rt, t, o);
	if (!rc) {
		s_start(&rt, rt.st);
		fflush(stdout);
		rc = s_loop(&rt, rt.st);
	}
	s_close(&rt);
	return rc;
}

int nb_tool_open(struct nb_rt **out, const struct nb_tool *t, const struct nb_opts *o)
{
	struct nb_rt *rt = calloc(1, sizeof(*rt));
	int rc;

	*out = NULL;
	if (!rt) {
		nb_err("out of memory");
		return NB_EXIT_ERR;
	}
	rc = s_open(rt, t, o);
	if (rc) {
		s_close(rt);
		free(rt);
		return rc;
	}
	*out = rt;
	return 0;
}

void nb_tool_close(struct nb_rt **prt)
{
	if (!*prt)
		return;
	s_close(*prt);
	free(*prt);
	*prt = NULL;
}
