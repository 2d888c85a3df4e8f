/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef NB_AGENT_H
#define NB_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_event.h"
#include "nb_flow.h"
#include "nb_lat.h"
#include "nb_mon.h"
#include "nb_opts.h"

/* Exit codes of the single-host tools. */
#define NB_EXIT_OK    0
#define NB_EXIT_ERR   1 /* runtime error: not root, kernel lacks a hook, ... */
#define NB_EXIT_USAGE 2 /* bad flags, bad address, unknown interface */


/* ---- namespaces (nb_netns.c) ---- */
struct nb_netns {
	int fd;		/* -1: the agent's own namespace */
	uint32_t inum;	/* namespace inode, the in-kernel filter key */
	char name[128]; /* as given, for messages */
};
/* Open NAME (under /run/netns) or PATH; NULL means our own namespace. -errno with err set. */
int nb_netns_open(struct nb_netns *ns, const char *name_or_path, char *err, size_t errlen);
void nb_netns_close(struct nb_netns *ns);
/* Resolve interface names inside the namespace. -ENODEV with err naming the interface. */
int nb_netns_ifindex(const struct nb_netns *ns, char names[][16], int n, uint32_t *out,
		     char *err, size_t errlen);
/* Name of an interface in the namespace into buf (16 bytes); -ENODEV when it is gone. */
int nb_netns_ifname(const struct nb_netns *ns, uint32_t ifindex, char *buf);
/* The driver of an interface in the namespace ("tun", "veth", ...), by ethtool: -errno. */
int nb_netns_driver(const struct nb_netns *ns, const char *ifname, char *buf, size_t len);
/* The transmit queues the device was created with (IFLA_NUM_TX_QUEUES), by rtnetlink: -errno. */
int nb_netns_txqueues(const struct nb_netns *ns, uint32_t ifindex, uint32_t *n);
/*
 * Switch this thread into ns (no-op for the own namespace); *self keeps the way back.
 * nb_netns_leave returns rc, or -EIO (err set) if the way back failed and rc was 0.
 */
int nb_netns_enter(const struct nb_netns *ns, int *self, char *err, size_t errlen);
int nb_netns_leave(int self, int rc, char *err, size_t errlen);

/* ---- finding a session's interfaces (nb_disc.c; the decision is common/nb_discover.c) ---- */
struct nb_disc_query;
struct nb_disc_side;
struct nb_disc_job;
/*
 * Reads the tables of ns and decides: 0, or a negative errno with err, as nb_disc_decide()
 * does. When the tables do not tell, the answer must be learned from traffic: -EINPROGRESS and
 * *job, whose packet socket (nb_disc_job_fd) the caller polls while its loop goes on, calling
 * nb_disc_job_step when it is readable or at the time it asked for; once that says the
 * learning is over (after at most learn_ms), nb_disc_job_end decides. A job given up on is
 * freed with nb_disc_job_free.
 */
int nb_disc_begin(const struct nb_netns *ns, const struct nb_disc_query *q, uint32_t learn_ms,
		  struct nb_disc_job **job, struct nb_disc_side *vm, struct nb_disc_side *uplink,
		  char *err, size_t errlen);
int nb_disc_job_fd(const struct nb_disc_job *j);
/*
 * Reads what arrived and sends the probes that are due, never waiting. True when the learning
 * is over; else *next is when the job wants its next step (nb_mono_ns()), readable or not.
 */
bool nb_disc_job_step(struct nb_disc_job *j, uint64_t now, uint64_t *next);
/* Decides with what was learned and frees the job: as nb_disc_decide() (never -EAGAIN). */
int nb_disc_job_end(struct nb_disc_job *j, struct nb_disc_side *vm, struct nb_disc_side *uplink,
		    char *err, size_t errlen);
void nb_disc_job_free(struct nb_disc_job *j);
/*
 * True when an ovs-vswitchd with a control socket runs in network namespace inum: its packets
 * there are switched by Open vSwitch, whose slow path the trace's blame can name.
 */
bool nb_disc_has_ovs(uint32_t inum);

/* ---- the packet-stage tracer (nb_tracer.c) ---- */
/*
 * NB_TEST_HIDE_HOOKS=tcx,tp_btf/net_dev_start_xmit makes those hooks look absent (to tests of the
 * fallbacks and of "kernel lacks a hook" on a kernel that has them all).
 */
bool nb_hook_hidden(const char *hook);
struct nb_tracer;
typedef int (*nb_event_fn)(const struct nb_event *e, void *ctx);

enum nb_hooks {
	NB_HOOKS_AUTO = 0, /* tcx links on the traced devices if the kernel has them, else tp */
	NB_HOOKS_TCX,	   /* tcx links only: fail where the kernel lacks them */
	NB_HOOKS_TP,	   /* device tracepoints: every packet of every namespace pays */
	/* Not a user's choice: the openvswitch module's upcall hooks, feature-probed by the tool */
	NB_HOOKS_OVS_TP, /* tracepoint ovs_dp_upcall -> kprobe ovs_flow_key_extract_userspace */
	NB_HOOKS_OVS_KP, /* kprobe ovs_dp_upcall -> kprobe ovs_flow_key_extract_userspace */
};

struct nb_tracer_cfg {
	struct nb_filter filter;
	uint32_t ringbuf_bytes;	 /* power of two; 0 = default */
	enum nb_hooks hooks;
	const struct nb_netns *ns; /* where filter.ifindex lives (tcx links); NULL: our own */
	/*
	 * OVS upcall mode (bpf/nb_stage.bpf.h) when up_idle_ns is set: events only for a flow's
	 * packet entering after up_idle_ns without one, and its copies leaving another port
	 * within up_timeout_ns; the fast path is counted (nb_tracer_up_counts), one packet per
	 * up_sample_ns per CPU followed for its latency.
	 */
	uint64_t up_idle_ns, up_timeout_ns, up_sample_ns;
};
/* The kernel can attach kprobes (PMU or tracefs); false when NB_TEST_HIDE_HOOKS hides them. */
bool nb_have_kprobes(void);
/* "auto", "tcx", "tracepoint" into *out; -EINVAL otherwise. */
int nb_hooks_parse(const char *s, enum nb_hooks *out);

/* Load, configure and attach; on any failure nothing stays attached. -errno with err set. */
int nb_tracer_open(struct nb_tracer **out, const struct nb_tracer_cfg *cfg, nb_event_fn fn,
		   void *ctx, char *err, size_t errlen);
/* Consume ready events (waiting up to timeout_ms). Returns the count or -errno. */
int nb_tracer_poll(struct nb_tracer *t, int timeout_ms);
/* Events the kernel could not deliver because the ring buffer was full. */
uint64_t nb_tracer_lost(const struct nb_tracer *t);
/* The size of its event ring buffer (kernel memory), bytes. */
uint64_t nb_tracer_ring_bytes(const struct nb_tracer *t);
uint64_t nb_tracer_matched(const struct nb_tracer *t);
/* Monotonic time at which the last probe was attached. */
uint64_t nb_tracer_attach_ts(const struct nb_tracer *t);
/* The hooks in use: "tcx" or "tracepoint". */
const char *nb_tracer_hooks(const struct nb_tracer *t);
/* The attached hook points ("tcx/ingress", "tp_btf/netif_receive_skb", ...) into out. */
size_t nb_tracer_caps(const struct nb_tracer *t, const char **out, size_t max);
int nb_tracer_fd(const struct nb_tracer *t);
/*
 * Read another BPF ring buffer (e.g. the drop tracer's, nb_drops_ring_fd()) in the same poll
 * and through the same fd, so its events are drained together with the stages'. One at most.
 */
int nb_tracer_add_ring(struct nb_tracer *t, int map_fd, nb_event_fn fn, void *ctx);
void nb_tracer_destroy(struct nb_tracer **pt);
struct nb_up_counts;
/* Upcall mode: the kernel's counters, added up over the CPUs (last_sample_ns 0). -errno. */
int nb_tracer_up_counts(const struct nb_tracer *t, struct nb_up_counts *out);

/*
 * A latency chain (common/nb_lat.h) on the same tracer: each stage is hooked where the kernel
 * allows, its kernel function by kprobe, else its stable hook (a BPF netfilter hook in the
 * tool's namespace, tcx or the device tracepoints on the role's interfaces). Every matching
 * packet at stage i is an event with hook NB_HOOK_LAT0 + i, or (hist) a count in the
 * kernel's histograms. A stage the kernel lacks is left out (nb_tracer_stage_ok false, its
 * source says why); none at all is -EOPNOTSUPP.
 */
struct nb_lat_cfg {
	const struct nb_lat_stage *stages; /* from nb_lat_chain() */
	int nstages;
	uint32_t ifindex[3][NB_MAX_IFS]; /* by enum nb_lat_ifrole (NB_LAT_IF_NONE unused) */
	int n_if[3];
	/* addresses, family, proto, ports, bidir, netns; its interface list is the loader's */
	struct nb_filter filter;
	bool hist;
	uint32_t ringbuf_bytes; /* power of two; 0 = default; unused with hist */
	enum nb_hooks hooks;	/* device stages: tcx if the kernel has it, or tracepoints */
	const struct nb_netns *ns;
};

struct nb_lat_stats {
	uint64_t matched;   /* stage passages that matched the filter */
	uint64_t lost;	    /* events the ring had no room for */
	uint64_t parse_err; /* unreadable headers */
	uint64_t no_prev;   /* hist: a later stage without an earlier one on record */
	uint64_t last_full; /* hist: records the LRU map refused */
};

int nb_tracer_open_chain(struct nb_tracer **out, const struct nb_lat_cfg *cfg, nb_event_fn fn,
			 void *ctx, char *err, size_t errlen);
/*
 * Where stage i came from, for the header: "ip_rcv: netfilter PRE_ROUTING, first (no
 * kprobe)", "net_dev_xmit: tcx egress ens4f0", "ip_rcv: missing (...)".
 */
const char *nb_tracer_stage_source(const struct nb_tracer *t, int i);
bool nb_tracer_stage_ok(const struct nb_tracer *t, int i);
void nb_tracer_lat_stats(const struct nb_tracer *t, struct nb_lat_stats *st);
/* hist: the counts since attach, summed over CPUs, NB_LAT_HIST_SLOTS of them (nb_event.h). */
int nb_tracer_hist(const struct nb_tracer *t, uint64_t *out);
/* The deltas' sums, ns, per pair (a * NB_LAT_MAX_STAGES + b): NB_LAT_MAX_STAGES^2 values. */
int nb_tracer_hist_sum(const struct nb_tracer *t, uint64_t *out);

/* ---- kernel symbols and drop reason names (nb_sym.c) ---- */
struct nb_sym;
/* Reads /proc/kallsyms and the kernel's BTF drop reasons. -errno with err set. */
int nb_sym_open(struct nb_sym **out, char *err, size_t errlen);
/*
 * The kernel symbols alone, for a caller that names no drop reason (they print as numbers):
 * reading the kernel's BTF and every module's for the reasons doubles the peak memory.
 */
int nb_sym_open_ksyms(struct nb_sym **out, char *err, size_t errlen);
/* "NETFILTER_DROP", "OPENVSWITCH:0x0003", "UNKNOWN_200": into buf, returned. */
const char *nb_sym_reason(const struct nb_sym *s, uint32_t reason, char *buf, size_t len);
/* "func+0xoff" (or "func" without with_off), "0xaddr" when unknown: into buf, returned. */
const char *nb_sym_addr(const struct nb_sym *s, uint64_t addr, bool with_off, char *buf,
			size_t len);
/* [*lo, *hi) of the kernel function name: 0, -ENOENT, -ERANGE. */
int nb_sym_range(const struct nb_sym *s, const char *name, uint64_t *lo, uint64_t *hi);
void nb_sym_destroy(struct nb_sym **ps);

/* ---- the drop tracer (nb_drops.c) ---- */
struct nb_drops;

struct nb_drops_cfg {
	struct nb_filter filter;
	bool aggregate;		/* count by {stack, reason, device} in the kernel, no events */
	uint32_t ringbuf_bytes; /* power of two; 0 = default */
	uint32_t stack_entries; /* stack map size; 0 = default */
	bool skip_copies;	/* leave out OTHERHOST frees (bpf/nb_drop.bpf.c: nb_skip_copies) */
};

struct nb_drops_stats {
	uint64_t matched;    /* drops that passed the filter */
	uint64_t lost;	     /* events the ring buffer had no room for */
	uint64_t parse_err;  /* unreadable headers */
	uint64_t stack_err;  /* drops without a stack id */
	uint64_t count_full; /* drops the full aggregation map could not count */
	uint64_t missed;     /* program runs the kernel skipped (recursion on a CPU) */
	uint64_t copies;     /* OTHERHOST copies left out (skip_copies) */
};

/*
 * A symbolized stack, innermost frame first ("func+0xoff"), without the tracing glue above the
 * drop site. canon: the first id seen with the same frames (glue varies with how many programs
 * share the tracepoint, so one site can have several ids).
 */
struct nb_stack {
	int32_t id;
	int32_t canon;
	int n;
	char *frames[];
};

typedef void (*nb_drop_count_fn)(const struct nb_drop_key *k, uint64_t count, void *ctx);

/*
 * Load, configure and attach; on any failure nothing stays attached. -errno with err set.
 * fn NULL: the events are read by someone else from nb_drops_ring_fd().
 */
int nb_drops_open(struct nb_drops **out, const struct nb_drops_cfg *cfg, nb_event_fn fn,
		  void *ctx, char *err, size_t errlen);
/* Deliver ready events, waiting up to timeout_ms (poll) or not at all (consume). */
int nb_drops_poll(struct nb_drops *d, int timeout_ms);
int nb_drops_consume(struct nb_drops *d);
/* The ring buffer's epoll fd; -1 in aggregate mode or when opened without fn. */
int nb_drops_fd(const struct nb_drops *d);
/* The ring buffer map, for a reader elsewhere (fn NULL at open): nb_tracer_add_ring(). */
int nb_drops_ring_fd(const struct nb_drops *d);
uint64_t nb_drops_attach_ts(const struct nb_drops *d);
bool nb_drops_have_reasons(const struct nb_drops *d);
void nb_drops_get_stats(const struct nb_drops *d, struct nb_drops_stats *st);
/* The stack of an id, symbolized once and cached; NULL when the id has none. */
const struct nb_stack *nb_drops_stack(struct nb_drops *d, const struct nb_sym *sym,
				      int32_t stack_id);
/* Aggregate mode: fn for every key with its count since attach (summed over CPUs). */
int nb_drops_counts(const struct nb_drops *d, nb_drop_count_fn fn, void *ctx);
void nb_drops_destroy(struct nb_drops **pd);

/*
 * ---- the tun ring monitor (nb_tunmon.c, bpf/nb_tun.bpf.c) ----
 * One tap in one namespace: the loader and the counters that tun_ring_monitor reports and a
 * serve session ships to the coordinator (docs/ARCHITECTURE.md, Virtualization monitors).
 */
struct nb_tunmon;
struct nb_tunmon_cfg {
	const struct nb_netns *ns; /* the tap's namespace (a tcx link is made in it) */
	struct nb_filter filter; /* netns and ifindex[0] (the tap) set; the packet filter */
	bool all;		 /* an event for every matched enqueue (--all) */
	bool parse_all;		 /* parse every packet (a packet filter or --all) */
	bool no_events;		 /* no ring buffer events at all (a serve session reads counts) */
	uint32_t ringbuf_bytes;	 /* power of two; 0 = the object's default */
};
/* A queue of the tap as read: totals since attach, the ring now, the high-water mark. */
struct nb_tunq {
	struct nb_tun_qstat tot;
	struct nb_tun_ring ring;
	uint32_t hwm; /* of the current epoch (since attach when nb_tunmon_read never advances it) */
	bool seen;    /* the queue had traffic */
};
/* 0, or -ENOTTY with err "'IF' is not a tun/tap device (driver D)", or -errno. */
int nb_tunmon_is_tap(const struct nb_netns *ns, const char *ifname, char *err, size_t errlen);
/*
 * Loads and attaches; fn gets each struct nb_tun_ev (NULL with no_events). -errno with a
 * one-line err; *warn (may be NULL) gets a warning to show, or "" (the reader's code unknown).
 */
int nb_tunmon_open(struct nb_tunmon **out, const struct nb_tunmon_cfg *cfg,
		   int (*fn)(void *ctx, void *data, size_t size), void *ctx, char *err,
		   size_t errlen, char *warn, size_t warnlen);
bool nb_tunmon_deq_by_addr(const struct nb_tunmon *m);
/* The enqueue's hook: "tcx/egress" (a tap of one queue) or "tp_btf/net_dev_start_xmit". */
const char *nb_tunmon_enq_hook(const struct nb_tunmon *m);
int nb_tunmon_poll(struct nb_tunmon *m, int timeout_ms);
int nb_tunmon_consume(struct nb_tunmon *m);
/*
 * The kernel's counters of queue `queue` (-1: every queue) into q[NB_TUN_MAXQ]; with
 * next_epoch the high-water marks restart for the next read. -errno.
 */
int nb_tunmon_read(struct nb_tunmon *m, int queue, struct nb_tunq *q, bool next_epoch);
/* Events lost (ring buffer full), packets unparsed, enqueues on a queue without a reader. */
void nb_tunmon_counters(const struct nb_tunmon *m, uint64_t *lost, uint64_t *unparsed,
			uint64_t *noring);
void nb_tunmon_destroy(struct nb_tunmon **pm);


/* ---- commands other than the tools (nb_tool.h) ---- */
int nb_serve(int argc, char **argv);

/*
 * Open serve's libraries (libzmq, libmicrohttpd, libcrypto), which the binary does not link so
 * that the single-host tools never load them (agent/serve_libs.c). 0, or -1 with why in err.
 */
int nb_serve_libs_open(char *err, size_t errlen);

/* The three path tracers' descriptor constant (tool_path.c reads it, main.c declares it). */
struct nb_path_tool {
	const char *title;	/* "ICMP Path Tracer" */
	const char *proto_name; /* "icmp" */
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP; 0: ICMP of the addresses' family */
};

/* The two latency summary tools' descriptor constant (tool_latsum.c). */
struct nb_latsum_tool {
	const char *title; /* "System Network Latency Summary" */
	enum nb_lat_family fam;
};

/* The per-packet latency tools' descriptor constant (tool_lat.c reads it, main.c declares it). */
struct nb_lat_tool {
	const char *title; /* "System Network ICMP RTT Tracer" */
	enum nb_lat_family family;
	bool rtt; /* an echo and its reply (the RTT tools); else one line per packet (details) */
};

#endif /* NB_AGENT_H */
