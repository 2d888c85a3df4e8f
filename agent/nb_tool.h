/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The tool runtime: a single-host tool is a descriptor (name, options, and the callbacks of
 * struct nb_tool_ops), and nb_tool_run() does for every tool what each once did for itself:
 * addresses, --protocol and interface lists from the options, the root check, the namespace,
 * interface lookup in it, signals, the start line, the poll loop with its tick, --duration,
 * the summary and teardown. A tool only loads its probes and handles their events.
 *
 * Output goes through two sinks: JSON lines (jansson, nb_out_json) and text (stdout, printf),
 * both buffered one way and flushed after every poll turn by the runtime.
 */
#ifndef NB_TOOL_H
#define NB_TOOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "nb_time.h"

/* An interface option (--rx-iface, --interface, ...): names as given, indexes in the netns. */
struct nb_iflist {
	char names[NB_MAX_IFS][16];
	uint32_t ifindex[NB_MAX_IFS];
	int n;
};

enum nb_rt_if {
	NB_RT_IF_RX,  /* --rx-iface */
	NB_RT_IF_TX,  /* --tx-iface */
	NB_RT_IF_ANY, /* --interface */
	NB_RT_IF_PHY, /* --phy-interface */
	NB_RT_IF_VM,  /* --vm-interface */
	NB_RT_IF__COUNT,
};

struct nb_tool;

/* A latency histogram a tool exports (serve --summary): log2 buckets of microseconds. */
struct nb_tool_hist {
	const char *from, *to; /* the pair's stage names */
	const char *path;      /* its direction: "TX", "RX" */
	const uint64_t *buckets; /* NB_LAT_BUCKETS counts: nb_lat_bucket_low/high (nb_lat.h) */
	uint64_t count, sum_ns;
};
typedef void (*nb_tool_hist_fn)(const struct nb_tool_hist *h, void *ctx);

/* What the runtime resolved for the tool, read-only to it except where said. */
struct nb_rt {
	const struct nb_tool *tool;
	struct nb_opts o;
	struct nb_netns ns;
	/* --src-ip / --dst-ip; family 0 when neither was given */
	uint8_t src[NB_ADDR_LEN], dst[NB_ADDR_LEN];
	uint8_t family;
	bool has_src, has_dst;
	uint8_t proto; /* --protocol: IPPROTO_*, ICMPv6 for icmp on IPv6; 0 = all or not given */
	struct nb_iflist ifs[NB_RT_IF__COUNT];
	int64_t wall_off; /* wall clock minus monotonic clock, taken after setup */
	bool done;	  /* set by the tool: --count reached, stop after this poll turn */
	/* The --interval clock, started at the end of setup; tools close it as they report. */
	struct nb_period period;
	void *st;	  /* the tool's state */
};

/*
 * Every callback but poll and summary may be NULL. Exit codes are NB_EXIT_*; a callback that
 * returns one has printed its one-line error.
 */
struct nb_tool_ops {
	size_t state_size; /* the tool's state, zeroed, passed as st */
	/* The tool's own options, before the root check and before any namespace is touched. */
	int (*check)(struct nb_rt *rt, void *st);
	/* Load and attach; on failure nothing stays attached (teardown still runs). */
	int (*setup)(struct nb_rt *rt, void *st);
	/*
	 * One event of the tool's probes: the tool opens its tracer with nb_tool_on_event and
	 * the runtime as its context, and the runtime hands each event here.
	 */
	int (*on_event)(struct nb_rt *rt, void *st, const struct nb_event *e);
	/* The header: text (start NULL) or fields added to the JSON start line. */
	void (*start)(struct nb_rt *rt, void *st, json_t *start);
	/* Wait up to timeout_ms for events and handle them: the count, or -errno. */
	int (*poll)(struct nb_rt *rt, void *st, int timeout_ms);
	/*
	 * After every poll turn: timeouts, interval reports. last: the loop ends after this one
	 * (signal, --duration, --count) and summary comes next.
	 */
	int (*tick)(struct nb_rt *rt, void *st, uint64_t now_ns, bool last);
	/* At the end (signal, --duration, --count): the last report. */
	int (*summary)(struct nb_rt *rt, void *st);
	void (*teardown)(struct nb_rt *rt, void *st);
	/*
	 * serve --summary: the histograms since setup, fn called once for each; -errno when they
	 * cannot be read. NULL: the tool keeps none.
	 */
	int (*hists)(struct nb_rt *rt, void *st, nb_tool_hist_fn fn, void *ctx);
	int poll_ms;
};

struct nb_tool {
	const char *name;
	const char *what;
	const struct nb_opt_use *opts;
	size_t n_opts;
	const struct nb_tool_ops *ops; /* NULL: not built yet */
	const void *arg;	       /* the tool's own constant, for ops shared by tools */
};

/* The built tools' callbacks (tool_path.c, tool_drop.c). */
extern const struct nb_tool_ops nb_path_tracer_ops;
extern const struct nb_tool_ops nb_eth_drop_ops;
extern const struct nb_tool_ops nb_drop_stats_ops;
extern const struct nb_tool_ops nb_lat_summary_ops; /* tool_latsum.c */
extern const struct nb_tool_ops nb_lat_pkt_ops;
extern const struct nb_tool_ops nb_tun_ring_ops;
extern const struct nb_tool_ops nb_vhost_ops;
extern const struct nb_tool_ops nb_ovs_upcall_ops;

/* The nb_event_fn a tool gives its tracer, with its struct nb_rt as ctx: calls ops->on_event. */
int nb_tool_on_event(const struct nb_event *e, void *rt);

/*
 * The part of a probe filter every tool takes from the runtime: namespace, family, addresses,
 * protocol, ports. Interfaces, direction and bidir stay the tool's own.
 */
void nb_tool_filter(const struct nb_rt *rt, struct nb_filter *f);

/*
 * --device/-d, the name operators know for the tool's interface flag `which`: call it from
 * check. Exactly one of the two must be given; the device goes to rt->ifs[which], resolved
 * with the others. 0, or NB_EXIT_USAGE after its one-line error.
 */
int nb_tool_device_alias(struct nb_rt *rt, enum nb_rt_if which);

/*
 * What a tool checks before it needs root or attaches anything, for serve's remote runs: its
 * flags (argv[0] is the tool's name), addresses, --protocol, interface lists, the tool's own
 * check, then the namespace (which netns_ok must accept, when given) and the interfaces in it.
 * o gets the parsed flags, pointing into argv. 0, or NB_EXIT_USAGE / NB_EXIT_ERR after one
 * nb_err line. Nothing is attached and nothing stays open.
 */
int nb_tool_check(const struct nb_tool *t, int argc, char **argv, bool (*netns_ok)(const char *),
		  struct nb_opts *o);

/* Runs a built tool with the options main() parsed for it; returns the exit code. */
int nb_tool_run(const struct nb_tool *t, const struct nb_opts *o);
/*
 * A tool set up without its loop, for serve --summary: options, root, namespace, interfaces,
 * setup. 0, or an exit code after the tool's one-line error (nothing left attached). Its
 * output sinks are not used: the caller reads it through ops->hists.
 */
int nb_tool_open(struct nb_rt **out, const struct nb_tool *t, const struct nb_opts *o);
void nb_tool_close(struct nb_rt **prt);
/* The tool of this name (main.c's table), or NULL. */
const struct nb_tool *nb_tool_find(const char *name);

/* The JSON sink: one compact object per line; takes the reference to o. */
void nb_out_json(json_t *o);
/* A JSON line built elsewhere (ending in '\n'), for the per-packet fast paths. */
void nb_out_raw(const char *line, size_t len);

/*
 * A log2 histogram (slot 0: [0, 1], slot i: [2^i, 2^(i+1) - 1], nb_hist_log2_range) as the
 * classic BPF tools print it: "     usecs : count  distribution" with a bar per slot, from the
 * first to the last non-empty slot; "(no samples)" when empty. indent: spaces before each line.
 */
void nb_out_log2_text(const char *unit, const uint64_t *slots, int n, int indent);
/* The same as JSON: [{"lo","hi","count"}] of the non-empty slots. */
json_t *nb_out_log2_json(const uint64_t *slots, int n);

/* Stop requested by SIGINT/SIGTERM/SIGHUP; the runtime and serve install the handler. */
extern volatile int nb_stop;
void nb_install_signals(void);

#endif /* NB_TOOL_H */
