// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame trace: one session on each of two agents, their events joined packet by packet
 * (A0 A1 B0 B1 B2 B3 A2 A3), each packet's status printed when final, then the report. The
 * packets are ICMP echoes, TCP segments (data A0 A1 B0 B1, their ACKs B2 B3 A2 A3) or UDP
 * datagrams (each direction its own half of the chain), all through nb_path.
 *
 * Clocks: every agent timestamp is converted to the coordinator's monotonic clock with the
 * agent's estimated offset (lowest-RTT PING/PONG samples). Decisions need only watermarks
 * on that clock; the network round trip (A2-A1)-(B3-B0) needs no conversion at all.
 */
#include "coord.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio_ext.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zmq.h>

#include "nb_blame.h"
#include "nb_evidence.h"
#include "nb_client.h"
#include "nb_inventory.h"
#include "nb_flow.h"
#include "nb_hist.h"
#include "nb_join.h"
#include "nb_keys.h"
#include "nb_opts.h"
#include "nb_time.h"
#include "nb_wire.h"
#include "nb_path.h"
#include "nodes.h"
#include "progress.h"
#include "report_html.h"
#include "trace_drops.h"
#include "trace_tcpudp.h"

#define S_HELLO_TIMEOUT_NS  5000000000ull
#define S_PING_EVERY_NS	    200000000ull
#define S_SILENT_NS	    3000000000ull /* agents send at least every 100 ms */
#define S_CREDIT_INITIAL    256
#define S_CREDIT_STEP	    16
#define S_MAX_BATCH	    1024
#define S_MAX_JSON_PACKETS  100000
#define S_TCP_SLACK_NS	    5000000ull
#define S_REJOIN_EVERY_NS   1000000000ull /* a HELLO to a node that is away */
#define S_BOTH_AWAY_NS	    5000000000ull /* both away this long, none back: the trace ends */
#define S_STOP_WAIT_NS	    1000000000ull /* for the agents to confirm our STOPs */
#define S_MAX_GAPS	    16
#define S_UDP_HOLD_NS	    50000000ull /* see nb_udp_cfg.hold_ns */
#define S_GAP_KEYS	    8 /* packets named per gap in the report */

enum s_node_state { S_NEW, S_HELLO, S_STARTING, S_RUNNING, S_GONE };

/*
 * A time a node was away: from its last complete point to the attach of the session that
 * re-attached it; while it is away, to_ref is how far its taint has rolled. Reference clock.
 */
struct s_gap {
	uint64_t from_ref, to_ref;
	bool back;
	uint64_t session; /* the one that re-attached it */
	uint64_t packets; /* made INCONCLUSIVE by it */
	char keys[S_GAP_KEYS][24];
	char why[160];
};

struct s_node {
	int role; /* 0 = A (sender side), 1 = B */
	char name[NB_INV_NAME_MAX + 1];
	char endpoint[NB_INV_EP_MAX + 1];
	char server_key[NB_INV_PATH_MAX + 1];
	struct nb_client *cl; /* the connection, its clock offset */
	enum s_node_state state;
	struct nb_flow_spec spec;
	char rx_names[NB_MAX_IFS][16];
	char tx_names[NB_MAX_IFS][16];
	int n_rx, n_tx; /* given; 0: the agent finds them */
	/* What the agent traces (given or found), and how it found them ("" = given). */
	char got_names[2][NB_MAX_IFS][16];
	uint32_t n_got[2];
	char got_why[2][NB_WIRE_STR_MAX + 1];
	char agent_version[64];
	uint64_t session; /* the session open (or being opened) on it; 0 = none */
	unsigned sessions; /* started on it, re-attaches included */
	uint64_t hello_sent, start_sent; /* coordinator clock */
	/* Away: gone, or being re-attached; the last gap is open. */
	bool away, refused, stop_wait;
	struct s_gap gaps[S_MAX_GAPS];
	unsigned n_gaps;
	uint64_t away_packets;
	uint64_t wm_ref;
	uint64_t lost_ring, lost_queue;	  /* over all its sessions */
	uint64_t sess_ring, sess_queue;	  /* the current session's counters */
	uint64_t drop_lost, drop_lost_prev; /* lost drop events: this session, earlier ones */
	uint64_t events, batches, unmatched;
	uint64_t events_rx; /* every event received, also those after our STOP (not joined) */
	uint32_t credit_owed;
	uint64_t next_seq;
	uint64_t batch_gaps;
	/* The VM port's monitor: the last MONITOR of its session (counts since that attach). */
	struct nb_msg_monitor mon;
	bool mon_got;
	uint64_t ring_drops; /* traced packets it dropped with reason FULL_RING */
	bool ovs;		   /* its agent said Open vSwitch switches the namespace */
	struct nb_upcall_acc upcall; /* the echoes' time inside it (s_upcall_see) */
};

enum s_seg {
	SEG_A_REQ,
	SEG_NET_REQ,
	SEG_B_REQ,
	SEG_DEST,
	SEG_B_REP,
	SEG_NET_REP,
	SEG_A_REP,
	SEG_NET_RTT,
	SEG_TOTAL,
	SEG__COUNT,
};

/*
 * Why a packet with a final status is not in a latency row: it is not COMPLETE, a stage of the
 * row was not seen (a UDP datagram goes one way), it was retransmitted (its stages are times of
 * different copies), or the row came out negative: across the nodes, within the clock offset's
 * uncertainty; on one node, its stages out of order.
 */
enum s_left {
	LEFT_NOT_COMPLETE,
	LEFT_MISSING_STAGE,
	LEFT_RETRANSMITTED,
	LEFT_CLOCK,
	LEFT_ORDER,
	LEFT__COUNT,
};

static const char *const s_left_name[LEFT__COUNT] = {
	[LEFT_NOT_COMPLETE] = "not_complete",	[LEFT_MISSING_STAGE] = "missing_stage",
	[LEFT_RETRANSMITTED] = "retransmitted", [LEFT_CLOCK] = "clock_uncertainty",
	[LEFT_ORDER] = "out_of_order",
};

static const char *const s_seg_name[SEG__COUNT] = {
	[SEG_A_REQ] = "a_internal_req",	  [SEG_NET_REQ] = "network_req_oneway",
	[SEG_B_REQ] = "b_internal_req",	  [SEG_DEST] = "destination_response",
	[SEG_B_REP] = "b_internal_rep",	  [SEG_NET_REP] = "network_rep_oneway",
	[SEG_A_REP] = "a_internal_rep",	  [SEG_NET_RTT] = "network_round_trip",
	[SEG_TOTAL] = "total_round_trip",
};

#define S_MAX_FINDINGS 8

struct s_trace {
	struct nb_finding find[S_MAX_FINDINGS]; /* what the monitors explain (s_findings) */
	int find_node[S_MAX_FINDINGS];
	int n_find;
	bool no_monitors; /* --no-monitors: START asks for none */
	struct nb_blind blind; /* hooks that missed delivered packets */
	int blind_stage;       /* the suspect stage the verdict rests on, or -1 */
	const char *proto_name;
	uint8_t proto;
	const char *src_ip, *dst_ip;
	/* The addresses as printed: canonical, and bracketed for IPv6 before a ":port". */
	char src[64], dst[64], src_ep[64], dst_ep[64];
	uint8_t family;
	long sport, dport;
	long count, duration, timeout_ms;
	const char *json_path;
	const char *html_path;
	bool quiet;
	const char *key_path;
	const char *inventory_path, *from, *to;
	bool insecure;
	bool help;
	struct nb_strlist node_specs;
	struct nb_inventory *inv; /* read for --from/--to, or when --inventory is given */
	int n_nodes;
	struct s_node node[2];
	void *zctx;
	struct nb_coord_keys keys;
	uint64_t session;
	struct nb_path *path; /* the join engine under ICMP echoes, TCP segments or UDP datagrams */
	uint64_t counts[NB_ST__COUNT];
	uint64_t finals;
	struct nb_path_totals tu; /* TCP copies, UDP fragments lost */
	bool done;
	bool stopping; /* STOPs sent: only their answers matter now */
	bool limited;  /* an agent's limit ended a session: report, then NB_CEXIT_LIMIT */
	/* Its loop: when --duration ends, when the final drain ends (0: not yet), over. */
	uint64_t t_end, t_drain;
	bool over;
	int failed; /* -errno: a fatal error ended it (several pairs: the others go on) */
	int index;  /* its pair, from 1, with several pairs */
	bool many;  /* --from/--to name several pairs: one line each, and the totals */
	char *from_list, *to_list; /* the pairs' names, copies of --from and --to */
	uint64_t both_away; /* coordinator clock since both nodes are away; 0 = not */
	uint64_t end_ref;
	uint64_t stop_ref; /* packets first seen after this are not counted (--duration end) */
	struct nb_hist seg[SEG__COUNT];
	uint64_t left[SEG__COUNT][LEFT__COUNT]; /* packets each row left out, by why */
	json_t *jpackets;
	uint64_t json_truncated;
	int64_t wall_off;
	struct nb_msg *rx; /* the message being handled: 11 KiB, so not on the stack */
	struct nb_tdrops *drops; /* each node's drops by packet, and their names */
	uint64_t window_ns;	 /* a packet's stages are due within this of its first */
	bool text; /* per-packet lines and the report on stdout */
	/* The per-packet lines' wall clock "HH:MM:SS", and the second it shows. */
	char line_hms[16];
	uint64_t line_sec;
};

static volatile int s_stop;

static void s_on_signal(int sig)
{
	(void)sig;
	s_stop = 1;
}

static const int s_chain_of[2][NB_LOCAL_STAGES] = {{0, 1, 6, 7}, {2, 3, 4, 5}};

/* "ens4f0+ens4f1": the node's traced interfaces of one side (0 rx, 1 tx). */
static void s_iface_list(const struct s_node *n, int d, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (uint32_t i = 0; i < n->n_got[d] && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "+" : "",
					n->got_names[d][i]);
}

/* ---------------------------------------------------------------- arguments */

/* Node A or B from a --node spec or an inventory node; an interface list not given is found. */
static int s_add_node(struct s_trace *t, const struct nb_inv_node *d)
{
	struct s_node *n;

	if (t->n_nodes >= 2) {
		nb_cerr("exactly two --node are needed (first = sender side A, second = B)");
		return -EINVAL;
	}
	n = &t->node[t->n_nodes];
	n->role = t->n_nodes;
	snprintf(n->name, sizeof(n->name), "%s", d->name);
	snprintf(n->endpoint, sizeof(n->endpoint), "%s", d->endpoint);
	snprintf(n->server_key, sizeof(n->server_key), "%s", d->server_key);
	n->n_rx = d->n_rx;
	n->n_tx = d->n_tx;
	memcpy(n->rx_names, d->rx, sizeof(n->rx_names));
	memcpy(n->tx_names, d->tx, sizeof(n->tx_names));
	t->n_nodes++;
	return 0;
}

static int s_parse_node(struct s_trace *t, const char *arg)
{
	struct nb_inv_node d;
	char err[512];

	if (nb_node_spec_parse(arg, &d, err, sizeof(err))) {
		nb_cerr("%s", err);
		return -EINVAL;
	}
	return s_add_node(t, &d);
}

/* --from and --to: the inventory's nodes, with their default interfaces. */
static int s_inventory_nodes(struct s_trace *t)
{
	const char *names[2] = {t->from, t->to};
	struct nb_inv_node d;

	for (int i = 0; i < 2; i++) {
		if (nb_coord_node(t->inv, names[i], i ? "--to" : "--from", &d))
			return -EINVAL;
		if (s_add_node(t, &d))
			return -EINVAL;
	}
	return 0;
}

#define S_T(f) offsetof(struct s_trace, f)

static const struct nb_optdef s_trace_opts[] = {
	{"src-ip", NB_OPTK_STR, S_T(src_ip), 0, 0, "ADDR", "sender VM address", true},
	{"dst-ip", NB_OPTK_STR, S_T(dst_ip), 0, 0, "ADDR", "destination VM address", true},
	{"src-port", NB_OPTK_LONG, S_T(sport), 1, 65535, "PORT", "source port (tcp, udp)", false},
	{"dst-port", NB_OPTK_LONG, S_T(dport), 1, 65535, "PORT", "destination port (tcp, udp)",
	 false},
	{"node", NB_OPTK_LIST, S_T(node_specs), 0, 2, "SPEC",
	 "name=N,endpoint=E[,rx-iface=IF[+IF]][,tx-iface=IF[+IF]][,server-key=FILE]; first A, then "
	 "B; interfaces left out are found by the agent",
	 false},
	{"from", NB_OPTK_STR, S_T(from), 0, 0, "NAME[,NAME..]",
	 "sender side A: a node of the inventory (a list: several pairs, with --to's)", false},
	{"to", NB_OPTK_STR, S_T(to), 0, 0, "NAME[,NAME..]",
	 "receiver side B: a node of the inventory (a list: several pairs)", false},
	{"inventory", NB_OPTK_STR, S_T(inventory_path), 0, 0, "FILE",
	 "the inventory (default ~/.netblame/inventory.yaml)", false},
	{"count", NB_OPTK_LONG, S_T(count), 1, 1L << 40, "N",
	 "end after N packets have a final status", false},
	{"duration", NB_OPTK_LONG, S_T(duration), 1, 31L * 86400, "S", "end after S seconds", false},
	{"timeout-ms", NB_OPTK_LONG, S_T(timeout_ms), 1, 3600000, "MS",
	 "a missing stage is a drop after MS (default 1000)", false},
	{"json", NB_OPTK_STR, S_T(json_path), 0, 0, "FILE|-", "write the JSON report", false},
	{"html", NB_OPTK_STR, S_T(html_path), 0, 0, "FILE",
	 "write the report as one self-contained HTML page", false},
	{"quiet", NB_OPTK_FLAG, S_T(quiet), 0, 0, NULL,
	 "no progress line on stderr (shown only on a terminal)", false},
	{"no-monitors", NB_OPTK_FLAG, S_T(no_monitors), 0, 0, NULL,
	 "do not watch the VM ports' tun rings (the agents attach only the tracers)", false},
	{"insecure", NB_OPTK_FLAG, S_T(insecure), 0, 0, NULL, "no CURVE (labs only)", false},
	{"key", NB_OPTK_STR, S_T(key_path), 0, 0, "FILE", "the coordinator's secret key", false},
	{"help", NB_OPTK_FLAG, S_T(help), 0, 0, NULL, "show this help", false},
};
#define S_NTRACE_OPTS (sizeof(s_trace_opts) / sizeof(s_trace_opts[0]))

static void s_usage(FILE *f)
{
	fprintf(f,
		"usage: netblame trace icmp|tcp|udp --src-ip A --dst-ip B [--src-port P]\n"
		"         [--dst-port P]\n"
		"         (--from NAME[,NAME..] --to NAME[,NAME..] [--inventory FILE] |\n"
		"          --node name=N,endpoint=E[,rx-iface=IF[+IF]][,tx-iface=IF[+IF]][,server-key=FILE] (A)\n"
		"          --node name=N,endpoint=E[,rx-iface=IF[+IF]][,tx-iface=IF[+IF]][,server-key=FILE] (B))\n"
		"         [--count N | --duration S] [--timeout-ms MS] [--json FILE|-]\n"
		"         [--html FILE] [--quiet] [--no-monitors]\n"
		"         [--insecure | --key SECRET-KEY-FILE]\n"
		"exit: 0 HEALTHY, 10 NETWORK, 11 NODE_A, 12 NODE_B, 13 DEST, 15 INCONCLUSIVE,\n"
		"      1 runtime error, 2 usage error, 3 an agent's limit\n"
		"comma lists in --from and --to: one trace per pair, in order, in one process\n\n"
		"flags:\n");
	nb_opts_help_table(f, s_trace_opts, S_NTRACE_OPTS);
}

static int s_parse_args(struct s_trace *t, int argc, char **argv)
{
	char err[256];

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			s_usage(stdout);
			return 1;
		}
		nb_cerr("trace needs a protocol: icmp, tcp or udp");
		return -EINVAL;
	}
	t->proto_name = argv[1];
	if (!strcmp(argv[1], "icmp"))
		t->proto = IPPROTO_ICMP;
	else if (!strcmp(argv[1], "tcp"))
		t->proto = IPPROTO_TCP;
	else if (!strcmp(argv[1], "udp"))
		t->proto = IPPROTO_UDP;
	else {
		nb_cerr("unknown protocol '%s' (icmp, tcp or udp)", argv[1]);
		return -EINVAL;
	}
	t->timeout_ms = 1000;
	if (nb_opts_parse_table(s_trace_opts, S_NTRACE_OPTS, argc, argv, 2, t, &t->help, err,
				sizeof(err))) {
		nb_cerr("%s (see 'netblame trace --help')", err);
		return -EINVAL;
	}
	if (t->help) {
		s_usage(stdout);
		return 1;
	}
	if (!t->src_ip || !t->dst_ip) {
		nb_cerr("missing required option --%s", t->src_ip ? "dst-ip" : "src-ip");
		return -EINVAL;
	}
	if ((t->from || t->to) && t->node_specs.n) {
		nb_cerr("give --from and --to, or two --node, not both");
		return -EINVAL;
	}
	if (!!t->from != !!t->to) {
		nb_cerr("--from and --to go together");
		return -EINVAL;
	}
	if (t->from && !strcmp(t->from, t->to)) {
		nb_cerr("--from and --to name the same node (%s)", t->from);
		return -EINVAL;
	}
	/* Comma lists: several pairs (s_many). */
	if (t->from && (strchr(t->from, ',') || strchr(t->to, ','))) {
		if (t->json_path || t->html_path) {
			nb_cerr("--%s takes one pair: not with comma lists in --from and --to",
				t->json_path ? "json" : "html");
			return -EINVAL;
		}
		t->many = true;
		t->from_list = strdup(t->from);
		t->to_list = strdup(t->to);
		if (!t->from_list || !t->to_list) {
			nb_cerr("out of memory");
			return -ENOMEM;
		}
	}
	/* The inventory: for --from/--to, and for the coordinator's key when it is named. */
	if ((t->from || t->inventory_path) &&
	    nb_coord_inventory(t->inventory_path, true, &t->inv))
		return -EINVAL;
	if (t->many) {
		/* Each pair's nodes are looked up by s_pair. */
	} else if (t->from) {
		if (s_inventory_nodes(t))
			return -EINVAL;
	} else {
		for (int i = 0; i < t->node_specs.n; i++)
			if (s_parse_node(t, t->node_specs.v[i]))
				return -EINVAL;
		if (t->n_nodes != 2) {
			nb_cerr("exactly two --node are needed (first = sender side A, second = B), "
				"or --from and --to");
			return -EINVAL;
		}
	}
	if (t->count && t->duration) {
		nb_cerr("give --count or --duration, not both");
		return -EINVAL;
	}
	if (t->insecure && t->key_path) {
		nb_cerr("give --insecure or --key, not both");
		return -EINVAL;
	}
	/* A report that cannot be written fails now, not after the trace. */
	for (int i = 0; i < 2; i++) {
		const char *path = i ? t->html_path : t->json_path;

		if (path && (i || strcmp(path, "-")) && nb_report_path_check(path, err, sizeof(err))) {
			nb_cerr("--%s: %s", i ? "html" : "json", err);
			return -EINVAL;
		}
	}
	/* An inventory's coordinator settings count when the command line gives none. */
	if (!t->insecure && !t->key_path && t->inv) {
		t->insecure = t->inv->insecure;
		if (!t->insecure && t->inv->key[0])
			t->key_path = t->inv->key;
	}
	if (!t->insecure) {
		if (!t->key_path) {
			nb_cerr("CURVE needs --key FILE (the coordinator's secret key; see "
				"'netblame keygen'), or give --insecure explicitly");
			return -EINVAL;
		}
		for (int i = 0; i < 2 && !t->many; i++)
			if (!t->node[i].server_key[0]) {
				nb_cerr("--node %s needs server-key=FILE (the agent's public key) "
					"unless --insecure",
					t->node[i].name);
				return -EINVAL;
			}
	}
	return 0;
}

/*
 * --src-ip and --dst-ip: one family, kept in canonical form. An ICMP trace of IPv6 addresses
 * follows ICMPv6 echoes.
 */
static int s_parse_addrs(struct s_trace *t)
{
	uint8_t a[NB_ADDR_LEN], fam_src, fam_dst;

	if (nb_addr_parse(t->src_ip, a, &fam_src)) {
		nb_cerr("--src-ip '%s' is not an IPv4 or IPv6 address", t->src_ip);
		return -EINVAL;
	}
	nb_addr_fmt(a, fam_src, t->src, sizeof(t->src));
	if (nb_addr_parse(t->dst_ip, a, &fam_dst)) {
		nb_cerr("--dst-ip '%s' is not an IPv4 or IPv6 address", t->dst_ip);
		return -EINVAL;
	}
	nb_addr_fmt(a, fam_dst, t->dst, sizeof(t->dst));
	if (fam_src != fam_dst) {
		nb_cerr("--src-ip %s and --dst-ip %s are not the same address family", t->src,
			t->dst);
		return -EINVAL;
	}
	t->family = fam_src;
	snprintf(t->src_ep, sizeof(t->src_ep), t->family == 6 ? "[%s]" : "%s", t->src);
	snprintf(t->dst_ep, sizeof(t->dst_ep), t->family == 6 ? "[%s]" : "%s", t->dst);
	if (t->proto == IPPROTO_ICMP && t->family == 6)
		t->proto = IPPROTO_ICMPV6;
	return 0;
}

/* ---------------------------------------------------------------- messages */

static int s_send_start(struct s_trace *t, struct s_node *n);
static int s_send_hello(struct s_trace *t, struct s_node *n);
static int s_send_stop(struct s_trace *t, struct s_node *n, const char *reason);

static void s_send_ping(struct s_node *n, uint64_t now)
{
	bool run = n->state == S_RUNNING;

	if (nb_client_ping(n->cl, now, run ? n->session : 0, run ? n->credit_owed : 0) == 0 && run)
		n->credit_owed = 0;
}

/* The node's clock offset (agent - coordinator) and its uncertainty; 0 before it answered. */
static int64_t s_off(const struct s_node *n)
{
	return n->cl ? nb_client_offset(n->cl) : 0;
}

static uint64_t s_unc(const struct s_node *n)
{
	return n->cl ? nb_client_uncert(n->cl) : 0;
}

static uint64_t s_to_ref(const struct s_node *n, uint64_t agent_ts)
{
	return nb_client_to_ref(n->cl, agent_ts);
}

static const char *s_role(const struct s_node *n)
{
	return n->role ? "B" : "A";
}

/* A session id for a re-attach: never 0, never the trace's first one. */
static uint64_t s_new_session(const struct s_trace *t)
{
	uint64_t id = 0;

	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = nb_mono_ns();
	return id && id != t->session ? id : id + 2;
}

/*
 * While a node is away nothing it saw can be evidence: its gap is tainted up to now, and its
 * watermark follows, so packets that wait for it are judged (INCONCLUSIVE) as time passes,
 * not held until it comes back.
 */
static void s_gap_roll(struct s_trace *t, struct s_node *n, uint64_t now)
{
	struct s_gap *g = &n->gaps[n->n_gaps - 1];
	uint64_t to = now > g->from_ref ? now : g->from_ref;

	nb_path_taint(t->path, n->role, g->from_ref, to);
	nb_path_watermark(t->path, n->role, to);
	g->to_ref = to;
}

/*
 * The node's session ended without our STOP (agent stopped, restarted, silent): its evidence
 * is incomplete from its last complete point on, and it is re-attached as soon as its agent
 * answers. stop: the agent may still hold the session (silent, not gone): end it there.
 */
static void s_node_gone(struct s_trace *t, struct s_node *n, const char *why, bool stop,
			uint64_t now)
{
	struct s_gap *g;
	char w[32];

	if (n->away)
		return;
	if (stop)
		s_send_stop(t, n, "went silent");
	if (n->n_gaps < S_MAX_GAPS) {
		g = &n->gaps[n->n_gaps++];
		memset(g, 0, sizeof(*g));
		g->from_ref = n->wm_ref > s_unc(n) ? n->wm_ref - s_unc(n) : 0;
		snprintf(g->why, sizeof(g->why), "%s", why);
	} else {
		/* A node that keeps coming and going: its last gap runs on, only wider. */
		g = &n->gaps[S_MAX_GAPS - 1];
		g->back = false;
	}
	n->state = S_GONE;
	n->away = true;
	n->refused = false;
	n->session = 0;
	n->hello_sent = 0;
	n->drop_lost_prev += n->drop_lost;
	n->drop_lost = 0;
	s_gap_roll(t, n, now);
	nb_cwarn("node %s (%s) %s; its evidence is incomplete from %s on; re-attaching", s_role(n),
		 n->name, why, nb_fmt_wall(g->from_ref + (uint64_t)t->wall_off, 3, w, sizeof(w)));
}

/* A new session on a node that was away: its gap ends where the new probes were attached. */
static void s_node_back(struct s_trace *t, struct s_node *n, uint64_t attach_ref)
{
	struct s_gap *g = &n->gaps[n->n_gaps - 1];
	uint64_t to = attach_ref + s_unc(n);
	char a[32], b[32];

	/* what was tainted while it was away stays so */
	if (to < g->to_ref)
		to = g->to_ref;
	g->to_ref = to;
	g->back = true;
	g->session = n->session;
	nb_path_taint(t->path, n->role, g->from_ref, to);
	n->away = false;
	n->refused = false;
	nb_cwarn("node %s (%s) is back (session %llu); its evidence was incomplete from %s to %s",
		 s_role(n), n->name, (unsigned long long)n->session,
		 nb_fmt_wall(g->from_ref + (uint64_t)t->wall_off, 3, a, sizeof(a)),
		 nb_fmt_wall(to + (uint64_t)t->wall_off, 3, b, sizeof(b)));
}

static void s_on_events(struct s_trace *t, struct s_node *n, const struct nb_msg_events *ev)
{
	uint64_t wm_ref;

	if (ev->session != n->session)
		return;
	if (ev->seq != n->next_seq)
		n->batch_gaps++;
	n->next_seq = ev->seq + 1;
	n->batches++;
	n->credit_owed++;
	n->events_rx += ev->n_ev;
	for (uint32_t i = 0; i < ev->n_ev; i++) {
		const struct nb_event *e = &ev->ev[i];
		struct nb_key key;
		int st = nb_flow_stage(&n->spec, e, &key);

		n->events++;
		if (e->type == NB_EV_DROP) {
			nb_tdrops_event(t->drops, n->role, &n->spec, e, s_to_ref(n, e->ts_ns));
			continue;
		}
		if (st < 0) {
			n->unmatched++;
			continue;
		}
		nb_path_add(t->path, e, &key, s_chain_of[n->role][st], s_to_ref(n, e->ts_ns));
	}
	wm_ref = s_to_ref(n, ev->watermark_ns);
	wm_ref = wm_ref > s_unc(n) ? wm_ref - s_unc(n) : 0;
	/* The counters are the session's; a re-attached node's totals carry the earlier ones. */
	if (ev->lost_ring != n->sess_ring || ev->lost_queue != n->sess_queue) {
		nb_path_taint(t->path, n->role, n->wm_ref > s_unc(n) ? n->wm_ref - s_unc(n) : 0,
			      wm_ref + 2 * s_unc(n));
		if (ev->lost_ring > n->sess_ring)
			n->lost_ring += ev->lost_ring - n->sess_ring;
		if (ev->lost_queue > n->sess_queue)
			n->lost_queue += ev->lost_queue - n->sess_queue;
		n->sess_ring = ev->lost_ring;
		n->sess_queue = ev->lost_queue;
	}
	if (wm_ref > n->wm_ref) {
		n->wm_ref = wm_ref;
		nb_path_watermark(t->path, n->role, wm_ref);
	}
}

/* The interfaces the session traces, and a line saying so when the agent found any. */
static void s_node_ifaces(struct s_node *n, const struct nb_msg_started *sd)
{
	const uint32_t cnt[2] = {sd->n_rx, sd->n_tx};
	const char *why[2] = {sd->rx_why, sd->tx_why};
	bool found = false;

	for (int d = 0; d < 2; d++) {
		const char(*names)[NB_WIRE_IFNAME_MAX + 1] = d ? sd->tx_ifs : sd->rx_ifs;
		int given = d ? n->n_tx : n->n_rx;

		n->n_got[d] = cnt[d];
		for (uint32_t i = 0; i < cnt[d]; i++)
			snprintf(n->got_names[d][i], sizeof(n->got_names[d][i]), "%s",
				 given ? (d ? n->tx_names[i] : n->rx_names[i]) : names[i]);
		snprintf(n->got_why[d], sizeof(n->got_why[d]), "%s", given ? "" : why[d]);
		found |= !given;
	}
	if (!found || n->sessions)
		return;
	for (int d = 0; d < 2; d++) {
		char list[NB_MAX_IFS * 16 + 1];

		s_iface_list(n, d, list, sizeof(list));
		fprintf(stderr, "Node %s (%s) %s-iface %s: %s\n", n->role ? "B" : "A", n->name,
			d ? "tx" : "rx", list, n->got_why[d][0] ? n->got_why[d] : "given");
	}
}

static int s_on_started(struct s_trace *t, struct s_node *n, const struct nb_msg_started *sd)
{
	uint64_t attach_ref;

	if ((n->n_rx && sd->n_rx != (uint32_t)n->n_rx) ||
	    (n->n_tx && sd->n_tx != (uint32_t)n->n_tx) || !sd->n_rx || !sd->n_tx ||
	    ((!n->n_rx || !n->n_tx) && !sd->names)) {
		if (!n->away) {
			nb_cerr("node %s answered START with the wrong interface count", n->name);
			return -EPROTO;
		}
		if (!n->refused)
			nb_cwarn("node %s answered START with the wrong interface count; trying "
				 "again",
				 n->name);
		n->refused = true;
		s_send_stop(t, n, "wrong interface count");
		n->state = S_GONE;
		n->session = 0;
		return 0;
	}
	n->ovs = !strcmp(sd->switch_kind, "ovs");
	memcpy(n->spec.rx_if, sd->rx_ifindex, sizeof(n->spec.rx_if));
	memcpy(n->spec.tx_if, sd->tx_ifindex, sizeof(n->spec.tx_if));
	n->spec.n_rx = sd->n_rx;
	n->spec.n_tx = sd->n_tx;
	s_node_ifaces(n, sd);
	attach_ref = s_to_ref(n, sd->attach_ns);
	/* Nothing before the probes were attached can be evidence of a drop. */
	if (n->away)
		s_node_back(t, n, attach_ref);
	else
		nb_path_taint(t->path, n->role, 0, attach_ref + s_unc(n));
	n->wm_ref = attach_ref;
	n->next_seq = 0;
	n->credit_owed = 0;
	n->sess_ring = n->sess_queue = 0;
	n->sessions++;
	for (uint32_t i = 0; i < sd->n_unattached; i++) {
		nb_cwarn("node %s could not attach %s: %s", n->name, sd->unattached[i].hook,
			 sd->unattached[i].reason);
		if (!strcmp(sd->unattached[i].hook, "raw_tp/kfree_skb"))
			nb_tdrops_unattached(t->drops, n->role, sd->unattached[i].reason);
	}
	n->state = S_RUNNING;
	return 0;
}

static int s_on_error(struct s_trace *t, struct s_node *n, const struct nb_msg_error *e,
		      uint64_t now)
{
	char why[NB_WIRE_STR_MAX + 32];

	/* About a session given up already (a PING or STOP that crossed its end): old news. */
	if (e->session && e->session != n->session)
		return 0;
	if (!n->away && n->state != S_RUNNING) {
		/* Interfaces it could not find (or not tell apart): the command line's to give. */
		if ((!n->n_rx || !n->n_tx) && (e->code == ENOTUNIQ || e->code == ENXIO ||
					       e->code == EADDRINUSE || e->code == E2BIG)) {
			nb_cerr("node %s (%s): cannot find its interfaces: %s", n->name,
				n->endpoint, e->message);
			return -EDESTADDRREQ;
		}
		nb_cerr("node %s (%s) refused: %s", n->name, n->endpoint, e->message);
		return e->code == NB_WIRE_ELIMIT ? -EDQUOT : -ECONNREFUSED;
	}
	/* Trying again would only run into it again: the trace ends, with what it has. */
	if (e->code == NB_WIRE_ELIMIT) {
		nb_cerr("node %s (%s) ended the trace: %s", n->name, n->endpoint, e->message);
		t->limited = true;
		return 0;
	}
	if (n->away) {
		if (!n->refused)
			nb_cwarn("node %s (%s) refused to re-attach: %s; trying again every %llus",
				 n->name, n->endpoint, e->message,
				 (unsigned long long)(S_REJOIN_EVERY_NS / 1000000000ull));
		n->refused = true;
		if (n->state == S_STARTING) {
			n->state = S_GONE;
			n->session = 0;
		}
		return 0;
	}
	if (e->session != n->session) {
		nb_cwarn("node %s: %s", n->name, e->message);
		return 0;
	}
	/* "no session": the agent restarted, or ended it; anything else: it may still hold it. */
	snprintf(why, sizeof(why), "lost its session: %s", e->message);
	s_node_gone(t, n, why, e->code != ENOENT, now);
	return 0;
}

/*
 * A MONITOR of the node's session: the counts since its attach replace the earlier ones (a
 * re-attached node's monitor restarts with its session, and the report says so).
 */
static void s_on_monitor(struct s_node *n, const struct nb_msg_monitor *m)
{
	if (strcmp(m->monitor, "tun_ring"))
		return; /* a monitor this coordinator does not know yet */
	n->mon = *m;
	n->mon_got = true;
}

/* One message the node's client decoded (and took its clock sample from). */
static int s_handle(struct s_trace *t, struct s_node *n, const struct nb_msg *m, uint64_t now)
{
	char why[NB_WIRE_STR_MAX + 32];
	int rc = 0;

	if (t->stopping) {
		/*
		 * Only whether each agent ended its session matters now; what it still sends is
		 * counted, not joined, so that events sent and received can be compared.
		 */
		if (m->type == NB_MSG_EVENTS && m->events.session == n->session &&
		    n->state == S_RUNNING) {
			if (m->events.seq != n->next_seq)
				n->batch_gaps++;
			n->next_seq = m->events.seq + 1;
			n->events_rx += m->events.n_ev;
		}
		if ((m->type == NB_MSG_STOP && m->stop.session == n->session) ||
		    (m->type == NB_MSG_ERROR && m->error.session == n->session))
			n->stop_wait = false;
		/* The session's last counts come with its final STATS, after our STOP. */
		if (m->type == NB_MSG_MONITOR && m->monitor.session == n->session && n->session)
			s_on_monitor(n, &m->monitor);
		return 0;
	}
	switch (m->type) {
	case NB_MSG_HELLO:
		if (n->state != S_HELLO)
			break;
		snprintf(n->agent_version, sizeof(n->agent_version), "%s", m->hello.version);
		n->session = n->away ? s_new_session(t) : t->session;
		n->state = S_STARTING;
		n->start_sent = now;
		rc = s_send_start(t, n);
		if (rc && n->away) {
			/* asked again with the next HELLO */
			n->state = S_GONE;
			n->session = 0;
			rc = 0;
		} else if (rc) {
			nb_cerr("node %s: cannot send START: %s", n->name, strerror(-rc));
		}
		break;
	case NB_MSG_STARTED:
		if (n->state == S_STARTING && m->started.session == n->session)
			rc = s_on_started(t, n, &m->started);
		break;
	case NB_MSG_EVENTS:
		if (n->state == S_RUNNING)
			s_on_events(t, n, &m->events);
		break;
	case NB_MSG_STATS:
		if (m->stats.session != n->session)
			break;
		for (uint32_t i = 0; i < m->stats.n_counters; i++)
			if (!strcmp(m->stats.counters[i].name, "lost_drop_events")) {
				n->drop_lost = m->stats.counters[i].value;
				nb_tdrops_lost(t->drops, n->role, n->drop_lost_prev + n->drop_lost);
			}
		break;
	case NB_MSG_DROPINFO:
		if (m->dropinfo.session == n->session)
			nb_tdrops_info(t->drops, n->role, &m->dropinfo);
		break;
	case NB_MSG_MONITOR:
		if (m->monitor.session == n->session)
			s_on_monitor(n, &m->monitor);
		break;
	case NB_MSG_STOP:
		if (m->stop.session == n->session && n->state == S_RUNNING) {
			snprintf(why, sizeof(why), "ended the session (%s)",
				 m->stop.reason[0] ? m->stop.reason : "no reason");
			s_node_gone(t, n, why, false, now);
		}
		break;
	case NB_MSG_ERROR:
		rc = s_on_error(t, n, &m->error, now);
		break;
	default:
		break;
	}
	return rc;
}

/* ---------------------------------------------------------------- results */

/* Segment [from, to] of one packet, on one node's clock or across them (ab_off for B). */
static void s_seg_add(struct s_trace *t, const struct nb_joined *p, enum s_seg seg, int from,
		      int to)
{
	/* B's stages (2..5) move to A's clock when a segment crosses nodes. */
	int64_t ab_off = s_off(&t->node[1]) - s_off(&t->node[0]);
	bool from_b = from >= 2 && from <= 5, to_b = to >= 2 && to <= 5;
	int64_t a, b;

	if (!p->st[from].seen || !p->st[to].seen) {
		t->left[seg][LEFT_MISSING_STAGE]++;
		return;
	}
	a = (int64_t)p->st[from].ts - (from_b && !to_b ? ab_off : 0);
	b = (int64_t)p->st[to].ts - (to_b && !from_b ? ab_off : 0);
	if (b >= a)
		nb_hist_add(&t->seg[seg], (uint64_t)(b - a));
	else
		t->left[seg][from_b != to_b ? LEFT_CLOCK : LEFT_ORDER]++;
}

/* Every packet with a final status counts in every row: in its histogram, or as left out. */
static void s_latency(struct s_trace *t, const struct nb_path_res *r)
{
	const struct nb_joined *p = r->p;
	const struct nb_stage_obs *s = p->st;
	int why = -1;

	if (r->status != NB_ST_COMPLETE)
		why = LEFT_NOT_COMPLETE;
	else if (r->tcp && r->tcp->copies[0] > 1)
		why = LEFT_RETRANSMITTED;
	if (why >= 0) {
		for (int k = 0; k < SEG__COUNT; k++)
			t->left[k][why]++;
		return;
	}
	s_seg_add(t, p, SEG_A_REQ, 0, 1);
	s_seg_add(t, p, SEG_NET_REQ, 1, 2);
	s_seg_add(t, p, SEG_B_REQ, 2, 3);
	s_seg_add(t, p, SEG_DEST, 3, 4);
	s_seg_add(t, p, SEG_B_REP, 4, 5);
	s_seg_add(t, p, SEG_NET_REP, 5, 6);
	s_seg_add(t, p, SEG_A_REP, 6, 7);
	s_seg_add(t, p, SEG_TOTAL, 0, 7);
	/* The round trip outside the two hosts needs no clock offset at all. */
	if (s[1].seen && s[6].seen && s[2].seen && s[5].seen) {
		int64_t v = ((int64_t)s[6].ts - (int64_t)s[1].ts) -
			    ((int64_t)s[5].ts - (int64_t)s[2].ts);

		if (v >= 0)
			nb_hist_add(&t->seg[SEG_NET_RTT], (uint64_t)v);
		else
			t->left[SEG_NET_RTT][LEFT_ORDER]++;
	} else {
		t->left[SEG_NET_RTT][LEFT_MISSING_STAGE]++;
	}
}

/*
 * A packet's time inside each node, for the upcall evidence: an echo's A0->A1 plus A2->A3 and
 * B0->B1 plus B2->B3 (chain stages 0-1 + 6-7 and 2-3 + 4-5), a datagram's A0->A1 and B0->B1
 * (forward datagrams only: the reverse ones are another flow through the switch); unknown
 * unless all were seen in order. The trace is one flow per direction (for UDP: its datagrams
 * of all ports, so a later port's first datagram only raises the median the candidates are
 * weighed against, which errs on the side of saying nothing), so their order is the flow's.
 */
static void s_upcall_see(struct s_trace *t, const struct nb_path_res *r)
{
	static const int pairs[2][2][2] = {{{0, 1}, {6, 7}}, {{2, 3}, {4, 5}}};
	const struct nb_joined *p = r->p;
	int legs = r->udp ? 1 : 2;

	if (r->tcp || (r->udp && r->reverse))
		return;
	for (int i = 0; i < 2; i++) {
		uint64_t lat = 0;

		for (int k = 0; k < legs && lat != NB_UPCALL_LAT_UNKNOWN; k++) {
			const struct nb_stage_obs *a = &p->st[pairs[i][k][0]], *b = &p->st[pairs[i][k][1]];

			if (pairs[i][k][1] >= p->nstages || !a->seen || !b->seen || b->ts < a->ts)
				lat = NB_UPCALL_LAT_UNKNOWN;
			else
				lat += b->ts - a->ts;
		}
		nb_upcall_see(&t->node[i].upcall, p->first_ts_ref, r->udp ? r->udp->ip_id : r->icmp_seq,
			      lat);
	}
}

static json_t *s_packet_json(const struct s_trace *t, const struct nb_joined *p,
			     enum nb_status st)
{
	json_t *stages = json_object();

	for (int i = 0; i < p->nstages; i++)
		if (p->st[i].seen)
			json_object_set_new(stages, nb_stage_name_chain(i),
					    json_integer((json_int_t)p->st[i].ts));
	return json_pack("{s:{s:s, s:i, s:i}, s:s, s:o, s:o}", "key", "proto", "icmp", "id",
			 (int)p->key.k1, "seq", (int)p->key.k2, "status", nb_status_name(st),
			 "stages", stages, "drop", nb_tdrops_json(t->drops, p, st));
}

static size_t s_put(char *b, size_t o, const char *s)
{
	size_t n = strlen(s);

	memcpy(b + o, s, n);
	return o + n;
}

/* v in decimal, zero-padded to at least `digits`. */
static size_t s_put_u(char *b, size_t o, uint64_t v, int digits)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v || n < digits);
	while (n)
		b[o++] = tmp[--n];
	return o;
}

/*
 * "[HH:MM:SS.mmm] ICMP id=ID seq=SEQ  STATUS stages=A0,A1,...  rtt=D", built by hand: at 100k
 * packets/s, printf and the time conversion cost more than decoding the packet's 8 events.
 * The wall clock part changes once a second, so it is converted once a second. At most
 * ~200 bytes: a fixed text, bounded numbers, and names from fixed tables.
 */
static void s_print_line(struct s_trace *t, const struct nb_joined *p, enum nb_status st)
{
	uint64_t wall = p->first_ts_ref + (uint64_t)t->wall_off, sec = wall / 1000000000ull;
	const char *stn = nb_status_name(st);
	char line[256], d[32];
	size_t o, n = 0;

	if (sec != t->line_sec || !t->line_hms[0]) {
		nb_fmt_wall(sec * 1000000000ull, 0, t->line_hms, sizeof(t->line_hms));
		t->line_sec = sec;
	}
	o = s_put(line, 0, "[");
	o = s_put(line, o, t->line_hms);
	o = s_put(line, o, ".");
	o = s_put_u(line, o, wall % 1000000000ull / 1000000, 3);
	o = s_put(line, o, "] ICMP id=");
	o = s_put_u(line, o, p->key.k1, 1);
	o = s_put(line, o, " seq=");
	o = s_put_u(line, o, (unsigned)p->key.k2, 1);
	o = s_put(line, o, "  ");
	o = s_put(line, o, stn);
	for (size_t w = strlen(stn); w < 20; w++)
		line[o++] = ' ';
	o = s_put(line, o, " stages=");
	for (int i = 0; i < p->nstages; i++) {
		if (!p->st[i].seen)
			continue;
		if (n++)
			line[o++] = ',';
		o = s_put(line, o, nb_stage_name_chain(i));
	}
	if (st == NB_ST_COMPLETE) {
		o = s_put(line, o, "  rtt=");
		o = s_put(line, o, nb_fmt_dur(p->st[7].ts - p->st[0].ts, d, sizeof(d)));
	} else if (st == NB_ST_INCONCLUSIVE && p->incomplete_node >= 0) {
		o = s_put(line, o,
			  p->incomplete_node ? "  (node B evidence incomplete)"
					     : "  (node A evidence incomplete)");
	}
	line[o++] = '\n';
	fwrite(line, 1, o, stdout);
}

/* The gap of the node whose evidence an INCONCLUSIVE packet lacks, when it was away then. */
/* The gap of node i overlapping packet p's window, or NULL. */
static struct s_gap *s_gap_at(struct s_trace *t, int i, const struct nb_joined *p)
{
	uint64_t from = p->first_ts_ref, to = from + t->window_ns;
	struct s_node *n = &t->node[i];

	for (unsigned k = n->n_gaps; k-- > 0;) {
		struct s_gap *g = &n->gaps[k];

		if (g->from_ref <= to && (!g->back || g->to_ref >= from))
			return g;
	}
	return NULL;
}

static struct s_gap *s_gap_of(struct s_trace *t, const struct nb_joined *p)
{
	if (p->incomplete_node < 0 || p->incomplete_node > 1)
		return NULL;
	return s_gap_at(t, p->incomplete_node, p);
}

/* "node B (hvB) was away while B0 was due" */
static void s_gap_reason(const struct s_trace *t, const struct nb_joined *p, char *buf,
			 size_t len)
{
	const struct s_node *n = &t->node[p->incomplete_node];

	snprintf(buf, len, "node %s (%s) was away while %s was due", s_role(n), n->name,
		 p->next_due >= 0 ? nb_stage_name_chain(p->next_due) : "?");
}

/* How the report names a packet: "seq 5" (ICMP, TCP), "id 4343" (UDP). */
static void s_unit_label(const struct nb_path_res *r, char *buf, size_t len)
{
	if (r->tcp)
		snprintf(buf, len, "seq %u", r->tcp->seq);
	else if (r->udp)
		snprintf(buf, len, "id %u%s", r->udp->ip_id, r->reverse ? " (reverse)" : "");
	else
		snprintf(buf, len, "seq %u", (unsigned)r->p->key.k2);
}

static void s_on_final(const struct nb_path_res *res, void *ctx)
{
	const struct nb_joined *p = res->p;
	struct s_trace *t = ctx;
	struct nb_path_res rr = *res, *r = &rr;
	struct s_gap *g;
	char reason[160];
	enum nb_status st;

	if (t->done || (t->stop_ref && p->first_ts_ref > t->stop_ref))
		return;
	/* Seen leaving a node, then freed by it: that node's drop, not the next hop's. */
	st = rr.status = nb_tdrops_refine(t->drops, p, res->status);
	t->counts[st]++;
	{
		int dn = 0;
		const char *rsn = nb_tdrops_reason(t->drops, p, st, &dn);

		if (rsn && !strcmp(rsn, "FULL_RING"))
			t->node[dn].ring_drops++;
	}
	/* A stage unseen while its node was away is the gap's, not a blind hook's. */
	if (!s_gap_at(t, 0, p) && !s_gap_at(t, 1, p))
		nb_blind_add(&t->blind, p, st);
	nb_path_totals_add(&t->tu, r);
	t->finals++;
	s_latency(t, r);
	s_upcall_see(t, r);
	/* INCONCLUSIVE because a node was away: counted against that gap, and said so. */
	g = st == NB_ST_INCONCLUSIVE ? s_gap_of(t, p) : NULL;
	if (g) {
		if (g->packets < S_GAP_KEYS)
			s_unit_label(r, g->keys[g->packets], sizeof(g->keys[0]));
		g->packets++;
		t->node[p->incomplete_node].away_packets++;
		s_gap_reason(t, p, reason, sizeof(reason));
	}
	if (t->jpackets) {
		if (json_array_size(t->jpackets) < S_MAX_JSON_PACKETS) {
			json_t *o = r->tcp || r->udp
					    ? nb_ttu_json(r, (uint64_t)t->timeout_ms,
							  nb_tdrops_json(t->drops, p, st))
					    : s_packet_json(t, p, st);

			if (g)
				json_object_set_new(o, "detail", json_string(reason));
			json_array_append_new(t->jpackets, o);
		} else {
			t->json_truncated++;
		}
	}
	if (t->text) {
		if (r->tcp || r->udp)
			nb_ttu_print(stdout, r, t->src_ep, t->dst_ep, t->wall_off,
				     (uint64_t)t->timeout_ms);
		else
			s_print_line(t, p, st);
		nb_tdrops_print(t->drops, stdout, p, st,
				(const char *const[]){t->node[0].name, t->node[1].name});
		if (g) {
			char a[32], b[32];

			nb_fmt_wall(g->from_ref + (uint64_t)t->wall_off, 3, a, sizeof(a));
			if (g->back)
				printf("    %s (away from %s to %s)\n", reason, a,
				       nb_fmt_wall(g->to_ref + (uint64_t)t->wall_off, 3, b,
						   sizeof(b)));
			else
				printf("    %s (away since %s)\n", reason, a);
		}
	}
	if (t->count && t->finals >= (uint64_t)t->count)
		t->done = true;
}

static void s_fmt_p(const struct nb_hist *h, double q, char *buf, size_t len)
{
	if (!nb_hist_count(h))
		snprintf(buf, len, "-");
	else
		nb_fmt_dur(nb_hist_quantile(h, q), buf, len);
}

static uint64_t s_gap_end(const struct s_trace *t, const struct s_gap *g)
{
	return g->back ? g->to_ref : t->end_ref;
}

static uint64_t s_gap_ns(const struct s_trace *t, const struct s_gap *g)
{
	uint64_t end = s_gap_end(t, g);

	return end > g->from_ref ? end - g->from_ref : 0;
}

static uint64_t s_away_ns(const struct s_trace *t, const struct s_node *n)
{
	uint64_t ns = 0;

	for (unsigned k = 0; k < n->n_gaps; k++)
		ns += s_gap_ns(t, &n->gaps[k]);
	return ns;
}

/*
 * A node was away for part of the trace: what it would have seen then is missing, and packets
 * no node saw are in no count. (Lost events taint their window instead: the packets they
 * could hide are INCONCLUSIVE already.)
 */
static bool s_any_away(const struct s_trace *t)
{
	return t->node[0].n_gaps || t->node[1].n_gaps;
}

/* The verdict's detail, then each node away: "...; node B (hvB) away 2439ms (3 packets ...)". */
static void s_detail(const struct s_trace *t, char *buf, size_t len)
{
	size_t off = (size_t)nb_verdict_detail(t->counts, &t->tu.recovered, buf, len);
	int bs = t->blind_stage;
	char d[32];

	if (bs >= 0)
		nb_appendf(buf, len, &off,
			   "; %s (%s) missed %llu of %llu delivered packets: the %llu drops placed "
			   "before it may be that blind spot",
			   nb_stage_name_chain(bs), t->node[bs >= 2 && bs <= 5].name,
			   (unsigned long long)t->blind.unseen[bs],
			   (unsigned long long)t->blind.delivered,
			   (unsigned long long)t->blind.resting[bs]);
	if (!s_any_away(t))
		return;
	if (!strcmp(buf, "none")) {
		buf[0] = 0;
		off = 0;
	}
	for (int i = 0; i < 2; i++) {
		const struct s_node *n = &t->node[i];

		if (n->n_gaps)
			nb_appendf(buf, len, &off, "%snode %s (%s) away %s (%llu packets INCONCLUSIVE)",
				   off ? "; " : "", s_role(n), n->name,
				   nb_fmt_dur(s_away_ns(t, n), d, sizeof(d)),
				   (unsigned long long)n->away_packets);
	}
}

/* "Node B (hvB) away from 10:00:04.100 to 10:00:05.321 (1.2s): lost its session: ...; back in
 * session N; 3 packets INCONCLUSIVE: seq 5, seq 6, seq 7" */
static void s_report_gap(const struct s_trace *t, const struct s_node *n, const struct s_gap *g)
{
	char a[32], b[32], d[32];

	printf("Node %s (%s) away from %s to %s (%s): %s; ", s_role(n), n->name,
	       nb_fmt_wall(g->from_ref + (uint64_t)t->wall_off, 3, a, sizeof(a)),
	       nb_fmt_wall(s_gap_end(t, g) + (uint64_t)t->wall_off, 3, b, sizeof(b)),
	       nb_fmt_dur(s_gap_ns(t, g), d, sizeof(d)), g->why);
	if (g->back)
		printf("back in session %llu; ", (unsigned long long)g->session);
	else
		printf("not back by the end; ");
	printf("%llu packets INCONCLUSIVE", (unsigned long long)g->packets);
	for (uint64_t k = 0; k < g->packets && k < S_GAP_KEYS; k++)
		printf("%s%s", k ? ", " : ": ", g->keys[k]);
	printf("%s\n", g->packets > S_GAP_KEYS ? ", ..." : "");
}

static json_t *s_gaps_json(const struct s_trace *t, const struct s_node *n)
{
	json_t *a = json_array();

	for (unsigned k = 0; k < n->n_gaps; k++) {
		const struct s_gap *g = &n->gaps[k];
		json_t *keys = json_array();

		for (uint64_t i = 0; i < g->packets && i < S_GAP_KEYS; i++)
			json_array_append_new(keys, json_string(g->keys[i]));
		json_array_append_new(
			a, json_pack("{s:I, s:I, s:I, s:s, s:b, s:I, s:o}", "from_ns",
				     (json_int_t)(g->from_ref + (uint64_t)t->wall_off), "to_ns",
				     (json_int_t)(s_gap_end(t, g) + (uint64_t)t->wall_off),
				     "duration_ns", (json_int_t)s_gap_ns(t, g), "why", g->why, "back",
				     g->back, "packets_inconclusive", (json_int_t)g->packets,
				     "packets", keys));
	}
	return a;
}

/*
 * "Monitor B (hvB) tun ring of vnet0: 1 queue, ring 16, high-water 16, full 12 times,
 * 12 FULL_RING drops, 0 other; enqueued 100 (traced 100), dequeued 88; traced packets' wait
 * p50 65.5ms-131ms, p99 ..." or "... not attached: WHY".
 */
static void s_monitor_text(const struct s_trace *t, const struct s_node *n)
{
	const struct nb_msg_monitor *m = &n->mon;
	const struct nb_wire_monq *q = &m->total;
	uint64_t lo, hi, lo9, hi9;
	char a[32], b[32], c[32], d[32];

	if (t->no_monitors)
		return;
	printf("Monitor %s (%s) tun ring", s_role(n), n->name);
	if (!n->mon_got) {
		printf(": no report from the agent (an agent without monitors, or its session "
		       "ended before one came)\n");
		return;
	}
	printf(" of %s: ", m->ifname[0] ? m->ifname : "?");
	if (!m->attached) {
		printf("not attached: %s\n", m->why);
		return;
	}
	if (!m->queues_seen) {
		printf("attached, no traffic through the ring\n");
		return;
	}
	printf("%u queue%s, ring %u, high-water %u, full %llu times, %llu FULL_RING drops, "
	       "%llu other; enqueued %llu (traced %llu), dequeued %llu",
	       m->queues_seen, m->queues_seen == 1 ? "" : "s", q->size, q->hwm,
	       (unsigned long long)q->full, (unsigned long long)q->drops_full_ring,
	       (unsigned long long)q->drops_other, (unsigned long long)q->enqueued,
	       (unsigned long long)q->matched, (unsigned long long)q->dequeued);
	if (nb_log2_quantile(m->sojourn_us, m->n_sojourn, 0.5, &lo, &hi) &&
	    nb_log2_quantile(m->sojourn_us, m->n_sojourn, 0.99, &lo9, &hi9))
		printf("; traced packets' wait p50 %s-%s, p99 %s-%s",
		       nb_fmt_dur(lo * 1000, a, sizeof(a)), nb_fmt_dur(hi * 1000, b, sizeof(b)),
		       nb_fmt_dur(lo9 * 1000, c, sizeof(c)), nb_fmt_dur(hi9 * 1000, d, sizeof(d)));
	if (m->why[0])
		printf(" (%s)", m->why);
	if (n->sessions > 1)
		printf(" (since the node's last attach)");
	putchar('\n');
}

static void s_report_text(struct s_trace *t, enum nb_verdict v, const char *detail)
{
	const struct s_node *a = &t->node[0], *b = &t->node[1];
	char p50[32], p99[32];

	printf("\n=== netblame trace %s %s -> %s ===\n", t->proto_name, t->src, t->dst);
	printf("Node A: %s (%s)   Node B: %s (%s)\n", a->name, a->endpoint, b->name, b->endpoint);
	for (int i = 0; i < 2; i++)
		for (int d = 0; d < 2; d++) {
			char list[NB_MAX_IFS * 16 + 1];

			s_iface_list(&t->node[i], d, list, sizeof(list));
			printf("  %s %s-iface %s: %s\n", i ? "B" : "A", d ? "tx" : "rx", list,
			       t->node[i].got_why[d][0] ? t->node[i].got_why[d] : "given");
		}
	printf("Packets with a final status: %llu\n", (unsigned long long)t->finals);
	for (int s = 0; s < NB_ST__COUNT; s++)
		if (t->counts[s])
			printf("  %-22s %llu\n", nb_status_name(s),
			       (unsigned long long)t->counts[s]);
	nb_ttu_report_text(stdout, &t->tu, t->proto);
	printf("Verdict: %s\n", nb_verdict_name(v));
	printf("Detail: %s\n", detail);
	for (int i = 0; i < t->n_find; i++)
		printf("Evidence: %s\n", t->find[i].text);
	printf("Latency (p50 / p99, on how many of the %llu packets):\n",
	       (unsigned long long)t->finals);
	for (int s = 0; s < SEG__COUNT; s++) {
		const char *sep = "; left out: ";

		s_fmt_p(&t->seg[s], 0.5, p50, sizeof(p50));
		s_fmt_p(&t->seg[s], 0.99, p99, sizeof(p99));
		printf("  %-22s %10s / %-10s on %llu", s_seg_name[s], p50, p99,
		       (unsigned long long)nb_hist_count(&t->seg[s]));
		for (int k = 0; k < LEFT__COUNT; k++) {
			if (!t->left[s][k])
				continue;
			printf("%s%llu %s", sep, (unsigned long long)t->left[s][k], s_left_name[k]);
			sep = ", ";
		}
		putchar('\n');
	}
	printf("Clock offset of B relative to A: %+.3fms +/- %.3fms\n",
	       ((double)s_off(b) - (double)s_off(a)) / 1e6,
	       ((double)s_unc(a) + (double)s_unc(b)) / 1e6);
	printf("Lost events: A=%llu B=%llu", (unsigned long long)(a->lost_ring + a->lost_queue),
	       (unsigned long long)(b->lost_ring + b->lost_queue));
	for (int i = 0; i < 2; i++) {
		const struct s_node *n = &t->node[i];
		char d[32];

		if (n->n_gaps)
			printf("; %s away %s, %llu packets INCONCLUSIVE", s_role(n),
			       nb_fmt_dur(s_away_ns(t, n), d, sizeof(d)),
			       (unsigned long long)n->away_packets);
	}
	putchar('\n');
	for (int k = 0; k < t->blind.nstages; k++)
		if (t->blind.unseen[k])
			printf("Unseen on delivered packets: %s (%s) %llu of %llu%s\n",
			       nb_stage_name_chain(k), t->node[k >= 2 && k <= 5].name,
			       (unsigned long long)t->blind.unseen[k],
			       (unsigned long long)t->blind.delivered,
			       nb_blind_suspect(&t->blind, k) ? " (drops placed before it doubtful)"
							       : "");
	for (int i = 0; i < 2; i++)
		for (unsigned k = 0; k < t->node[i].n_gaps; k++)
			s_report_gap(t, &t->node[i], &t->node[i].gaps[k]);
	for (int i = 0; i < 2; i++)
		s_monitor_text(t, &t->node[i]);
}

/* {"B0": {"node": "hvB", "unseen": 500, "of_delivered": 1000, "drops_resting": 20, ...}} */
static json_t *s_blind_json(const struct s_trace *t)
{
	json_t *o = json_object();

	for (int k = 0; k < t->blind.nstages; k++)
		if (t->blind.unseen[k])
			json_object_set_new(
			    o, nb_stage_name_chain(k),
			    json_pack("{s:s,s:I,s:I,s:I,s:b}", "node",
				      t->node[k >= 2 && k <= 5].name, "unseen",
				      (json_int_t)t->blind.unseen[k], "of_delivered",
				      (json_int_t)t->blind.delivered, "drops_resting",
				      (json_int_t)t->blind.resting[k], "suspect",
				      nb_blind_suspect(&t->blind, k)));
	return o;
}

/* {"rx": {"names": [...], "chosen_by": "given" | how the agent found them}, "tx": ...} */
static json_t *s_ifaces_json(const struct s_node *n)
{
	json_t *o = json_object();

	for (int d = 0; d < 2; d++) {
		json_t *names = json_array();

		for (uint32_t i = 0; i < n->n_got[d]; i++)
			json_array_append_new(names, json_string(n->got_names[d][i]));
		json_object_set_new(o, d ? "tx" : "rx",
				    json_pack("{s:o, s:s}", "names", names, "chosen_by",
					      n->got_why[d][0] ? n->got_why[d] : "given"));
	}
	return o;
}

static json_t *s_monq_json(const struct nb_wire_monq *q, bool with_queue)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ring_size",
			      (json_int_t)q->size, "high_water", (json_int_t)q->hwm, "occupancy",
			      (json_int_t)q->occupancy, "enqueued", (json_int_t)q->enqueued,
			      "traced", (json_int_t)q->matched, "dequeued", (json_int_t)q->dequeued,
			      "full_events", (json_int_t)q->full, "drops_full_ring",
			      (json_int_t)q->drops_full_ring, "drops_other",
			      (json_int_t)q->drops_other);

	if (with_queue)
		json_object_set_new(o, "queue", json_integer(q->queue));
	return o;
}

/*
 * [{"monitor": "tun_ring", "interface", "attached", "why", "queues_seen", "total": {...},
 *   "queues": [{...}], "sojourn_us": [{"lo", "hi", "count"}], "since_last_attach"}]
 */
static json_t *s_monitors_json(const struct s_trace *t, const struct s_node *n)
{
	const struct nb_msg_monitor *m = &n->mon;
	json_t *a = json_array(), *o, *qs, *soj;

	if (t->no_monitors)
		return a;
	o = json_pack("{s:s}", "monitor", "tun_ring");
	json_array_append_new(a, o);
	if (!n->mon_got) {
		json_object_set_new(o, "attached", json_false());
		json_object_set_new(o, "why", json_string("no report from the agent (an agent "
							  "without monitors, or its session ended "
							  "before one came)"));
		return a;
	}
	json_object_set_new(o, "interface", json_string(m->ifname));
	json_object_set_new(o, "attached", json_boolean(m->attached));
	if (m->why[0])
		json_object_set_new(o, "why", json_string(m->why));
	if (!m->attached)
		return a;
	json_object_set_new(o, "queues_seen", json_integer(m->queues_seen));
	json_object_set_new(o, "total", s_monq_json(&m->total, false));
	qs = json_array();
	for (uint32_t i = 0; i < m->n_queues; i++)
		json_array_append_new(qs, s_monq_json(&m->queues[i], true));
	json_object_set_new(o, "queues", qs);
	soj = json_array();
	for (uint32_t i = 0; i < m->n_sojourn; i++) {
		uint64_t lo, hi;

		if (!m->sojourn_us[i])
			continue;
		nb_hist_log2_range((int)i, &lo, &hi);
		json_array_append_new(soj, json_pack("{s:I, s:I, s:I}", "lo", (json_int_t)lo, "hi",
						     (json_int_t)hi, "count",
						     (json_int_t)m->sojourn_us[i]));
	}
	json_object_set_new(o, "sojourn_us", soj);
	json_object_set_new(o, "since_last_attach", json_boolean(n->sessions > 1));
	return a;
}

/* [{"node", "role", "monitor", "kind", "interface", "text", ...the counts it rests on}] */
static json_t *s_findings_json(const struct s_trace *t)
{
	json_t *a = json_array();

	for (int i = 0; i < t->n_find; i++) {
		const struct s_node *n = &t->node[t->find_node[i]];
		const struct nb_finding *f = &t->find[i];

		if (f->kind == NB_FIND_UPCALL) {
			json_t *seqs = json_array(), *lat = json_array();

			for (uint32_t k = 0; k < f->n_seqs; k++) {
				json_array_append_new(seqs, json_integer(f->seqs[k]));
				json_array_append_new(lat, json_integer((json_int_t)f->lat_ns[k]));
			}
			json_array_append_new(
			    a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I}", "node", n->name,
					 "role", s_role(n), "monitor", "ovs", "kind",
					 nb_finding_kind_name(f->kind), "text", f->text,
					 t->proto == IPPROTO_UDP ? "ip_ids" : "seqs", seqs,
					 "inside_ns", lat, "later_p50_ns",
					 (json_int_t)f->later_p50_ns));
			continue;
		}
		json_array_append_new(
		    a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "node",
				 n->name, "role", s_role(n), "monitor", "tun_ring", "kind",
				 nb_finding_kind_name(t->find[i].kind), "interface", n->mon.ifname,
				 "text", t->find[i].text, "full_events", (json_int_t)n->mon.total.full,
				 "drops_full_ring", (json_int_t)n->mon.total.drops_full_ring,
				 "traced_drops_full_ring", (json_int_t)n->ring_drops, "ring_size",
				 (json_int_t)n->mon.total.size, "high_water",
				 (json_int_t)n->mon.total.hwm));
	}
	return a;
}

/* The report as --json writes it; the HTML page is made from it too. */
static json_t *s_report_obj(struct s_trace *t, enum nb_verdict v, const char *detail)
{
	json_t *o = json_object(), *nodes = json_array(), *counts = json_object();
	json_t *lat = json_object();

	for (int i = 0; i < 2; i++) {
		const struct s_node *n = &t->node[i];

		json_array_append_new(
			nodes,
			json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "role",
				  i ? "B" : "A", "name", n->name, "endpoint", n->endpoint,
				  "clock_offset_ns", (json_int_t)(s_off(n) - s_off(&t->node[0])),
				  "clock_uncertainty_ns",
				  (json_int_t)(s_unc(n) + (i ? s_unc(&t->node[0]) : 0)),
				  "lost_events", (json_int_t)(n->lost_ring + n->lost_queue),
				  "lost_ring", (json_int_t)n->lost_ring, "lost_queue",
				  (json_int_t)n->lost_queue, "gone", n->away));
		json_object_set_new(json_array_get(nodes, (size_t)i), "sessions",
				    json_integer(n->sessions));
		json_object_set_new(json_array_get(nodes, (size_t)i), "away_ns",
				    json_integer((json_int_t)s_away_ns(t, n)));
		json_object_set_new(json_array_get(nodes, (size_t)i), "away_packets",
				    json_integer((json_int_t)n->away_packets));
		json_object_set_new(json_array_get(nodes, (size_t)i), "away", s_gaps_json(t, n));
		json_object_set_new(json_array_get(nodes, (size_t)i), "interfaces", s_ifaces_json(n));
		json_object_set_new(json_array_get(nodes, (size_t)i), "monitors",
				    s_monitors_json(t, n));
		/* What its agent said switches the traced namespace (null: nothing it knows). */
		json_object_set_new(json_array_get(nodes, (size_t)i), "switch",
				    n->ovs ? json_string("ovs") : json_null());
	}
	for (int s = 0; s < NB_ST__COUNT; s++)
		if (t->counts[s])
			json_object_set_new(counts, nb_status_name(s),
					    json_integer((json_int_t)t->counts[s]));
	for (int s = 0; s < SEG__COUNT; s++) {
		json_t *row = json_pack("{s:I}", "count", (json_int_t)nb_hist_count(&t->seg[s]));
		json_t *left = json_object();

		if (nb_hist_count(&t->seg[s])) {
			json_object_set_new(row, "p50_ns",
					    json_integer((json_int_t)nb_hist_quantile(&t->seg[s], 0.5)));
			json_object_set_new(
			    row, "p99_ns", json_integer((json_int_t)nb_hist_quantile(&t->seg[s], 0.99)));
		}
		for (int k = 0; k < LEFT__COUNT; k++)
			if (t->left[s][k])
				json_object_set_new(left, s_left_name[k],
						    json_integer((json_int_t)t->left[s][k]));
		json_object_set_new(row, "left_out", left);
		json_object_set_new(lat, s_seg_name[s], row);
	}
	json_object_set_new(o, "proto", json_string(t->proto_name));
	json_object_set_new(o, "src", json_string(t->src));
	json_object_set_new(o, "dst", json_string(t->dst));
	json_object_set_new(o, "nodes", nodes);
	json_object_set_new(o, "packets", t->jpackets);
	t->jpackets = NULL;
	if (t->json_truncated)
		json_object_set_new(o, "packets_truncated",
				    json_integer((json_int_t)t->json_truncated));
	json_object_set_new(o, "counts", counts);
	nb_ttu_report_json(o, &t->tu, t->proto);
	json_object_set_new(o, "verdict", json_string(nb_verdict_name(v)));
	json_object_set_new(o, "verdict_detail", json_string(detail));
	json_object_set_new(o, "findings", s_findings_json(t));
	json_object_set_new(o, "node_away", json_boolean(s_any_away(t)));
	json_object_set_new(o, "unseen_stages", s_blind_json(t));
	json_object_set_new(o, "latency", lat);
	return o;
}

static int s_report_files(struct s_trace *t, enum nb_verdict v, const char *detail)
{
	json_t *o = s_report_obj(t, v, detail);
	char err[4200];
	int rc = 0;

	if (t->json_path && !strcmp(t->json_path, "-")) {
		if (json_dumpf(o, stdout, JSON_COMPACT) < 0)
			rc = -EIO;
		fputc('\n', stdout);
	} else if (t->json_path && json_dump_file(o, t->json_path, JSON_INDENT(1)) < 0) {
		nb_cerr("cannot write %s", t->json_path);
		rc = -EIO;
	}
	if (t->html_path && nb_report_html(o, t->html_path, err, sizeof(err))) {
		nb_cerr("%s", err);
		rc = -EIO;
	}
	json_decref(o);
	return rc;
}

/* ---------------------------------------------------------------- sessions */

static int s_connect(struct s_trace *t, struct s_node *n)
{
	struct nb_client_cfg cfg = {
		.name = n->name,
		.endpoint = n->endpoint,
		.server_key = t->keys.insecure ? NULL : n->server_key,
		.pub = &t->keys.pub,
		.sec = &t->keys.sec,
		.monitor = true, /* why an agent does not answer: refused, wrong key */
	};
	char err[512];
	int rc = nb_client_new(&n->cl, t->zctx, &cfg, err, sizeof(err));

	if (rc)
		nb_cerr("node %s: %s", n->name, err);
	return rc;
}

/* A HELLO; when the node was away, its answer may come from a restarted agent's clock. */
static int s_send_hello(struct s_trace *t, struct s_node *n)
{
	(void)t;
	n->hello_sent = nb_mono_ns();
	n->state = S_HELLO;
	return nb_client_hello(n->cl, n->away);
}

static int s_send_start(struct s_trace *t, struct s_node *n)
{
	struct nb_msg *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->type = NB_MSG_START;
	m->start.session = n->session;
	/* The wire names the echo "icmp" whatever the family; the agent takes ICMPv6 for 6. */
	m->start.proto = t->proto == IPPROTO_ICMPV6 ? IPPROTO_ICMP : t->proto;
	m->start.family = n->spec.family;
	memcpy(m->start.src, n->spec.src, NB_ADDR_LEN);
	memcpy(m->start.dst, n->spec.dst, NB_ADDR_LEN);
	m->start.sport = (uint16_t)t->sport;
	m->start.dport = (uint16_t)t->dport;
	m->start.n_rx = (uint32_t)n->n_rx;
	m->start.n_tx = (uint32_t)n->n_tx;
	m->start.local = n->role ? NB_START_LOCAL_DST : NB_START_LOCAL_SRC;
	for (int i = 0; i < n->n_rx; i++)
		snprintf(m->start.rx_ifs[i], sizeof(m->start.rx_ifs[i]), "%s", n->rx_names[i]);
	for (int i = 0; i < n->n_tx; i++)
		snprintf(m->start.tx_ifs[i], sizeof(m->start.tx_ifs[i]), "%s", n->tx_names[i]);
	m->start.timeout_ms = (uint32_t)t->timeout_ms;
	m->start.credit = S_CREDIT_INITIAL;
	m->start.max_batch = S_MAX_BATCH;
	m->start.duration_s = (uint32_t)t->duration;
	m->start.monitors = t->no_monitors ? 0 : NB_MON_ALL;
	rc = nb_client_send(n->cl, m);
	free(m);
	return rc;
}

/* STOP of the session open, or being opened, on the node; -ENOENT when there is none. */
static int s_send_stop(struct s_trace *t, struct s_node *n, const char *reason)
{
	(void)t;
	if (!n->cl || !n->session || (n->state != S_RUNNING && n->state != S_STARTING))
		return -ENOENT;
	return nb_client_stop(n->cl, n->session, reason);
}

static int s_pump(struct s_trace *t, long timeout_ms);

/*
 * However the trace ends: STOP every session it opened and wait, bounded, for the agents to
 * confirm. A session left behind holds a slot and its programs until its lease ends.
 */
static void s_stop_sessions(struct s_trace *t, const char *reason)
{
	uint64_t t0 = nb_mono_ns();
	bool wait = false;

	if (t->stopping || !t->zctx)
		return;
	t->stopping = true;
	for (int i = 0; i < 2; i++) {
		struct s_node *n = &t->node[i];

		n->stop_wait = s_send_stop(t, n, reason) == 0;
		wait = wait || n->stop_wait;
	}
	while (wait && nb_mono_ns() - t0 < S_STOP_WAIT_NS) {
		if (s_pump(t, 20))
			break;
		wait = t->node[0].stop_wait || t->node[1].stop_wait;
	}
	for (int i = 0; i < 2; i++)
		if (t->node[i].stop_wait)
			nb_cwarn("node %s (%s) did not confirm the end of session %llu; its lease "
				 "will end it",
				 t->node[i].name, t->node[i].endpoint,
				 (unsigned long long)t->node[i].session);
}

/*
 * One pass of the loop over the traces in tv (one, or every pair of a --from/--to list):
 * receive whatever is ready on their sockets. A trace's fatal error is returned when it is
 * the only one; with several it ends that trace alone (over, failed) and the others go on.
 */
static int s_pump_set(struct s_trace **tv, int nt, long timeout_ms)
{
	zmq_pollitem_t fixed[2], *items = fixed;
	struct s_node *nfixed[2], **of = nfixed;
	struct s_trace *tfixed[2], **tof = tfixed;
	int rc, k = 0, ret = 0;

	if (nt > 1) {
		items = calloc((size_t)nt * 2, sizeof(*items));
		of = calloc((size_t)nt * 2, sizeof(*of));
		tof = calloc((size_t)nt * 2, sizeof(*tof));
		if (!items || !of || !tof) {
			ret = -ENOMEM;
			goto out;
		}
	}
	/* A socket not made (a failed start) must not be polled: a NULL socket means fd 0. */
	for (int j = 0; j < nt; j++)
		for (int i = 0; i < 2; i++)
			if (tv[j]->node[i].cl && !tv[j]->failed) {
				of[k] = &tv[j]->node[i];
				tof[k] = tv[j];
				items[k++] = (zmq_pollitem_t){nb_client_sock(tv[j]->node[i].cl), 0,
							      ZMQ_POLLIN, 0};
			}
	rc = zmq_poll(items, k, timeout_ms);
	if (rc < 0) {
		if (errno != EINTR) {
			nb_cerr("polling the agents failed: %s", zmq_strerror(errno));
			ret = -EIO;
		}
		goto out;
	}
	for (int i = 0; i < k; i++) {
		struct s_node *n = of[i];
		struct s_trace *t = tof[i];

		if (!(items[i].revents & ZMQ_POLLIN) || t->failed)
			continue;
		/* Bounded per pass so one busy agent cannot starve the other's heartbeats. */
		for (int m = 0; m < 256; m++) {
			uint64_t now = nb_mono_ns();

			rc = nb_client_recv(n->cl, t->rx, now);
			if (rc == 0)
				break;
			if (rc < 0) {
				nb_cwarn("node %s sent a malformed message (%s); ignored", n->name,
					 strerror(-rc));
				continue;
			}
			rc = s_handle(t, n, t->rx, now);
			nb_msg_clear(t->rx);
			if (rc && nt == 1) {
				ret = rc;
				goto out;
			}
			if (rc) {
				t->failed = rc;
				t->over = true;
				break;
			}
		}
	}
out:
	if (items != fixed) {
		free(items);
		free(of);
		free(tof);
	}
	return ret;
}

static int s_pump(struct s_trace *t, long timeout_ms)
{
	return s_pump_set(&t, 1, timeout_ms);
}

static void s_housekeeping(struct s_trace *t, uint64_t now)
{
	for (int i = 0; i < 2; i++) {
		struct s_node *n = &t->node[i];

		/* Its connection events, read so that a long trace's reconnects do not pile up. */
		nb_client_mon_read(n->cl);

		if (n->away) {
			s_gap_roll(t, n, now);
			if (n->state == S_STARTING && now - n->start_sent >= S_HELLO_TIMEOUT_NS) {
				/* START or its answer lost (the agent died again?): a new one */
				s_send_stop(t, n, "no answer to START");
				n->state = S_GONE;
				n->session = 0;
			}
			if ((n->state == S_GONE || n->state == S_HELLO) &&
			    now - n->hello_sent >= S_REJOIN_EVERY_NS)
				s_send_hello(t, n);
		}
		if (n->state == S_GONE)
			continue;
		if (n->state == S_RUNNING && now - nb_client_last_msg(n->cl) > S_SILENT_NS) {
			s_node_gone(t, n, "went silent", true, now);
			continue;
		}
		if (now - nb_client_last_ping(n->cl) >= S_PING_EVERY_NS)
			s_send_ping(n, now);
		else if (n->state == S_RUNNING && n->credit_owed >= S_CREDIT_STEP) {
			if (nb_client_credit(n->cl, n->session, n->credit_owed) == 0)
				n->credit_owed = 0;
		}
	}
}

/* What the connection says about an agent that has not answered our HELLO. */
static const char *s_why_silent(struct s_node *n)
{
	switch (nb_client_mon_read(n->cl)) {
	case NB_CONN_REFUSED:
		return "connection refused: the agent is not running there";
	case NB_CONN_AUTH:
		return "wrong key: the server-key is not the agent's, or the agent does not accept "
		       "ours";
	case NB_CONN_CLOSED:
		return "closed during the handshake: CURVE on one side only?";
	case NB_CONN_CONNECTED:
	case NB_CONN_READY:
		return "connected, no answer";
	default:
		return "no connection: unreachable or filtered";
	}
}

static int s_setup_sessions(struct s_trace *t)
{
	uint64_t t0 = nb_mono_ns();
	int rc;

	for (int i = 0; i < 2; i++) {
		rc = s_connect(t, &t->node[i]);
		if (rc)
			return rc;
		rc = s_send_hello(t, &t->node[i]);
		if (rc) {
			nb_cerr("node %s: cannot send HELLO: %s", t->node[i].name, strerror(-rc));
			return rc;
		}
	}
	while (!s_stop) {
		uint64_t now = nb_mono_ns();
		bool all = true;

		for (int i = 0; i < 2; i++)
			if (t->node[i].state != S_RUNNING)
				all = false;
		if (all)
			return 0;
		if (now - t0 > S_HELLO_TIMEOUT_NS) {
			for (int i = 0; i < 2; i++) {
				struct s_node *n = &t->node[i];

				if (n->state == S_HELLO)
					nb_cerr("agent %s at %s did not answer within 5s (%s)",
						n->name, n->endpoint, s_why_silent(n));
				else if (n->state != S_RUNNING)
					nb_cerr("agent %s at %s did not start the session within 5s",
						n->name, n->endpoint);
			}
			return -ETIMEDOUT;
		}
		rc = s_pump(t, 20);
		if (rc)
			return rc;
	}
	nb_cerr("interrupted before the sessions started");
	return -EINTR;
}

/* The trace's flow on each node, its join engine and buffers: everything before its sessions. */
static int s_init(struct s_trace *t, void *zctx)
{
	struct nb_path_cfg pc = {0};

	for (int i = 0; i < 2; i++) {
		struct s_node *n = &t->node[i];

		n->spec.family = t->family;
		nb_addr_parse(t->src, n->spec.src, &n->spec.family);
		nb_addr_parse(t->dst, n->spec.dst, &n->spec.family);
		n->spec.proto = t->proto;
		n->spec.sport = (uint16_t)t->sport;
		n->spec.dport = (uint16_t)t->dport;
	}
	for (int s = 0; s < SEG__COUNT; s++)
		nb_hist_init(&t->seg[s]);
	for (int i = 0; i < 2; i++)
		nb_upcall_acc_init(&t->node[i].upcall);
	t->text = !t->many && !(t->json_path && !strcmp(t->json_path, "-"));
	if (t->json_path || t->html_path)
		t->jpackets = json_array();
	if (getrandom(&t->session, sizeof(t->session), 0) != sizeof(t->session) || !t->session)
		t->session = nb_mono_ns() | 1;
	pc.proto = t->proto;
	pc.nstages = 8;
	pc.nnodes = 2;
	for (int i = 0; i < 8; i++)
		pc.stage_node[i] = (i >= 2 && i <= 5) ? 1 : 0;
	pc.timeout_ns = (uint64_t)t->timeout_ms * 1000000ull;
	/* a duplicate ACK at A2 and a segment at B3 compare across the two clocks */
	pc.slack_ns = S_TCP_SLACK_NS;
	pc.ports = t->sport || t->dport;
	/* A datagram complete at B1 may still die in B's tap ring: its drop event comes next. */
	pc.hold_ns = S_UDP_HOLD_NS;
	/* a retransmitted TCP segment waits a timeout after its last copy */
	t->window_ns = pc.timeout_ns * (t->proto == IPPROTO_TCP ? 2 : 1);
	t->path = nb_path_new(&pc, s_on_final, t);
	t->zctx = zctx;
	t->drops = nb_tdrops_new();
	t->rx = calloc(1, sizeof(*t->rx));
	if (!t->path || !t->zctx || !t->drops || !t->rx) {
		nb_cerr("out of memory");
		return -ENOMEM;
	}
	t->wall_off = nb_wall_offset_ns();
	return 0;
}

/* What s_init made, and the clients; not the ZeroMQ context, which may be shared. */
static void s_free(struct s_trace *t)
{
	for (int i = 0; i < 2; i++)
		nb_client_destroy(&t->node[i].cl);
	nb_path_destroy(&t->path);
	nb_tdrops_free(&t->drops);
	json_decref(t->jpackets);
	t->jpackets = NULL;
	free(t->rx);
	t->rx = NULL;
}

/* A loop turn before the sockets are read: false once the trace is over. */
static bool s_turn_pre(struct s_trace *t, uint64_t now)
{
	if (t->done || t->failed)
		return false;
	if ((s_stop || t->limited) && !t->t_drain)
		return false;
	if (t->t_end && now >= t->t_end && !t->t_drain) {
		/* Let packets seen before the end reach their deadline. */
		t->stop_ref = now;
		t->t_drain = now + t->window_ns + 2 * S_PING_EVERY_NS + 500000000ull;
	}
	if (t->t_drain && now >= t->t_drain)
		return false;
	/* Nothing can move with both away: wait a little for one to come back. */
	if (t->node[0].away && t->node[1].away) {
		if (!t->both_away)
			t->both_away = now;
		if (now - t->both_away >= S_BOTH_AWAY_NS) {
			nb_cwarn("both agents are away and neither came back within %llus",
				 (unsigned long long)(S_BOTH_AWAY_NS / 1000000000ull));
			return false;
		}
	} else {
		t->both_away = 0;
	}
	return true;
}

/* A loop turn after the sockets were read: false once the trace is over. */
static bool s_turn_post(struct s_trace *t)
{
	struct nb_path_stats ps;

	if (t->failed)
		return false;
	s_housekeeping(t, nb_mono_ns());
	nb_path_poll(t->path);
	if (t->t_drain && t->stop_ref) {
		nb_path_get_stats(t->path, &ps);
		if (!ps.inflight)
			return false;
	}
	return true;
}

/* The loop is over: what an away node missed is tainted, what is in flight reported. */
static void s_wrapup(struct s_trace *t)
{
	t->end_ref = nb_mono_ns();
	/* A node still away: nothing from its gap on can be evidence, however late. */
	for (int i = 0; i < 2; i++) {
		struct s_node *n = &t->node[i];

		if (n->away)
			nb_path_taint(t->path, n->role, n->gaps[n->n_gaps - 1].from_ref, NB_TS_INF);
	}
	/* Whatever is still in flight is reported, as INCONCLUSIVE unless its time was up. */
	if (!t->done)
		nb_path_flush(t->path);
}

/*
 * What the nodes' monitors explain (common/nb_evidence.c): a loss in the VM port's tap ring,
 * or a wait there that is most of the segment it falls in. On B the ring is past B1, inside
 * destination_response; on A past A3, the last stage, where a loss still counts as COMPLETE.
 */
static void s_findings(struct s_trace *t)
{
	t->n_find = 0;
	for (int i = 0; i < 2; i++) {
		const struct s_node *n = &t->node[i];
		struct nb_ring_facts f = {.node = n->name, .traced_ring_drops = n->ring_drops};
		int k;

		if (!n->mon_got)
			continue;
		if (i == 1 && nb_hist_count(&t->seg[SEG_DEST])) {
			f.seg_name = s_seg_name[SEG_DEST];
			f.seg_p50_ns = nb_hist_quantile(&t->seg[SEG_DEST], 0.5);
		}
		f.past_last_stage = i == 0;
		k = nb_ring_findings(&n->mon, &f, &t->find[t->n_find], S_MAX_FINDINGS - t->n_find);
		for (int j = 0; j < k; j++)
			t->find_node[t->n_find + j] = i;
		t->n_find += k;
	}
	/* A flow's first packet through Open vSwitch's slow path: said per node. */
	for (int i = 0; i < 2 && t->n_find < S_MAX_FINDINGS; i++) {
		bool udp = t->proto == IPPROTO_UDP;
		int k = nb_upcall_findings(&t->node[i].upcall, t->node[i].name, t->node[i].ovs,
					   udp ? "datagram" : "echo", udp ? "IP-ID" : "seq",
					   &t->find[t->n_find], S_MAX_FINDINGS - t->n_find);

		for (int j = 0; j < k; j++)
			t->find_node[t->n_find + j] = i;
		t->n_find += k;
	}
}

static enum nb_verdict s_verdict(struct s_trace *t, char *detail, size_t len)
{
	struct nb_path_stats ps;
	enum nb_verdict v;

	nb_path_get_stats(t->path, &ps);
	t->tu.unidentified = ps.unidentified;
	/* One rule for ICMP, TCP and UDP: a node away for a while, never HEALTHY. */
	v = nb_verdict_evidence(nb_verdict_of(t->counts, &t->tu.recovered), s_any_away(t));
	v = nb_verdict_blind(v, &t->blind, &t->blind_stage);
	s_detail(t, detail, len);
	s_findings(t);
	/* The blamed node's loss that its monitor explains: the verdict line says so. */
	for (int i = 0; i < t->n_find; i++) {
		size_t off = strlen(detail);

		if (t->find[i].kind == NB_FIND_RING_LOSS &&
		    ((v == NB_VERDICT_NODE_A && t->find_node[i] == 0) ||
		     (v == NB_VERDICT_NODE_B && t->find_node[i] == 1)))
			nb_appendf(detail, len, &off, "; %s", t->find[i].text);
	}
	return v;
}

static void s_signals_and_stdout(bool progress)
{
	struct sigaction sa = {.sa_handler = s_on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/*
	 * A line per packet: to a terminal line by line, elsewhere in blocks flushed once per
	 * loop turn (so at most ~20 ms late), since a write() per line cost more CPU than
	 * decoding and joining the packet's events at 100k packets/s.
	 */
	if (isatty(STDOUT_FILENO) && !progress)
		setvbuf(stdout, NULL, _IOLBF, 0);
	else
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
}

/* ---------------------------------------------------------------- several pairs */

static void s_output_set(struct s_trace **tv, int nt, unsigned pairs);

#define S_MAX_PAIRS	     512
#define S_SETUP_STALL_NS    10000000000ull /* setup ends after this without progress */
#define S_STARTING_MAX	    8		   /* agents asked to start a session at once */

/* Splits a comma list in place; the number of names, or -1 for more than max or an empty one. */
static int s_split(char *list, char **out, int max)
{
	int n = 0;

	for (char *p = list, *c; p; p = c ? c + 1 : NULL) {
		c = strchr(p, ',');
		if (c)
			*c = 0;
		if (!*p || n == max)
			return -1;
		out[n++] = p;
	}
	return n;
}

/* Pair k of the lists: a trace of its own, sharing t0's settings (not its inventory). */
static int s_pair(struct s_trace *t0, struct s_trace **out, int k, const char *a, const char *b)
{
	struct s_trace *t = malloc(sizeof(*t));
	const char *names[2] = {a, b};
	struct nb_inv_node d;

	*out = t;
	if (!t) {
		nb_cerr("out of memory");
		return -ENOMEM;
	}
	*t = *t0;
	t->inv = NULL;
	t->from_list = t->to_list = NULL;
	memset(t->node, 0, sizeof(t->node));
	t->n_nodes = 0;
	t->index = k + 1;
	for (int i = 0; i < 2; i++) {
		if (nb_coord_node(t0->inv, names[i], i ? "--to" : "--from", &d))
			return -EINVAL;
		if (s_add_node(t, &d))
			return -EINVAL;
		if (!t->insecure && !t->node[i].server_key[0]) {
			nb_cerr("node %s needs server-key (the agent's public key) unless --insecure",
				names[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/* STOP to every session of every pair at once, and a bounded wait for the answers. */
static void s_stop_all(struct s_trace **tv, int nt, const char *reason)
{
	uint64_t t0 = nb_mono_ns(), limit = S_STOP_WAIT_NS + (uint64_t)nt * 10000000ull;
	bool wait = true;

	for (int j = 0; j < nt; j++) {
		struct s_trace *t = tv[j];

		if (t->stopping)
			continue;
		t->stopping = true;
		/* A failed pair's sockets are polled again: its STOPs want an answer too. */
		t->failed = 0;
		for (int i = 0; i < 2; i++)
			t->node[i].stop_wait = s_send_stop(t, &t->node[i], reason) == 0;
	}
	while (wait && nb_mono_ns() - t0 < limit) {
		s_pump_set(tv, nt, 20);
		wait = false;
		for (int j = 0; j < nt; j++)
			wait = wait || tv[j]->node[0].stop_wait || tv[j]->node[1].stop_wait;
	}
	for (int j = 0; j < nt; j++)
		for (int i = 0; i < 2; i++)
			if (tv[j]->node[i].stop_wait)
				nb_cwarn("node %s (%s) did not confirm the end of session %llu; its "
					 "lease will end it",
					 tv[j]->node[i].name, tv[j]->node[i].endpoint,
					 (unsigned long long)tv[j]->node[i].session);
}

/*
 * HELLO, and so START, to at most S_STARTING_MAX agents at a time: each answers a START by
 * loading BPF, which takes a CPU for a while; hundreds at once on one host (this machine's
 * benchmark) starve everything else there, leases included.
 */
static int s_hello_next(struct s_trace **tv, int nt)
{
	int busy = 0, rc;

	for (int j = 0; j < nt; j++)
		for (int i = 0; i < 2; i++) {
			enum s_node_state st = tv[j]->node[i].state;

			busy += !tv[j]->failed && (st == S_HELLO || st == S_STARTING);
		}
	for (int j = 0; j < nt && busy < S_STARTING_MAX; j++)
		for (int i = 0; i < 2 && busy < S_STARTING_MAX; i++) {
			struct s_node *n = &tv[j]->node[i];

			if (tv[j]->failed || n->state != S_NEW)
				continue;
			rc = s_send_hello(tv[j], n);
			if (rc) {
				nb_cerr("node %s: cannot send HELLO: %s", n->name, strerror(-rc));
				return rc;
			}
			busy++;
		}
	return 0;
}

/*
 * Every pair's sessions started, leases kept meanwhile; the pairs that could not, failed.
 * Hundreds of agents attaching at once on a busy host take a while: the wait ends when
 * S_SETUP_STALL_NS pass without one more session running.
 */
static int s_setup_all(struct s_trace **tv, int nt)
{
	uint64_t t0 = nb_mono_ns(), limit = S_SETUP_STALL_NS;
	int rc, running = 0;

	for (int j = 0; j < nt; j++)
		for (int i = 0; i < 2; i++) {
			rc = s_connect(tv[j], &tv[j]->node[i]);
			if (rc)
				return rc;
		}
	while (!s_stop) {
		uint64_t now = nb_mono_ns();
		bool all = true;

		int now_running = 0;

		for (int j = 0; j < nt; j++) {
			if (!tv[j]->failed && (tv[j]->node[0].state != S_RUNNING ||
					       tv[j]->node[1].state != S_RUNNING))
				all = false;
			now_running += (tv[j]->node[0].state == S_RUNNING) +
				       (tv[j]->node[1].state == S_RUNNING);
		}
		if (all)
			return 0;
		if (now_running > running) {
			running = now_running;
			t0 = now;
		}
		rc = s_hello_next(tv, nt);
		if (rc)
			return rc;
		if (now - t0 > limit) {
			for (int j = 0; j < nt; j++)
				for (int i = 0; i < 2 && !tv[j]->failed; i++) {
					struct s_node *n = &tv[j]->node[i];

					if (n->state == S_HELLO)
						nb_cerr("agent %s at %s did not answer (%s); no session "
							"started for %llus",
							n->name, n->endpoint, s_why_silent(n),
							(unsigned long long)(limit / 1000000000ull));
					else if (n->state != S_RUNNING)
						nb_cerr("agent %s at %s did not start the session; no "
							"session started for %llus",
							n->name, n->endpoint,
							(unsigned long long)(limit / 1000000000ull));
					if (n->state != S_RUNNING)
						tv[j]->failed = -ETIMEDOUT;
				}
			return 0;
		}
		rc = s_pump_set(tv, nt, 20);
		if (rc)
			return rc;
		/* Sessions already running need their PINGs: the others are still attaching. */
		for (int j = 0; j < nt; j++)
			if (!tv[j]->failed)
				s_housekeeping(tv[j], nb_mono_ns());
	}
	nb_cerr("interrupted before the sessions started");
	return -EINTR;
}

/*
 * --from A1,A2,... --to B1,B2,...: pair k traces the flow between Ak (sender side) and Bk,
 * each pair its own sessions, join engine and verdict, all in one process and one poll loop.
 * One line per pair, then the totals. Exit: 1 when a pair failed (but for a limit), else 3
 * when a limit refused one, else 0 when every pair is HEALTHY, else the verdict code of the
 * first pair that is not.
 */
static int s_many(struct s_trace *t0)
{
	char *from[S_MAX_PAIRS], *to[S_MAX_PAIRS], detail[1024];
	struct s_trace **tv = NULL, **act = NULL;
	uint64_t pk = 0, complete = 0, ev = 0, lost = 0, gaps = 0, nv[NB_VERDICT_INCONCLUSIVE + 1] = {0};
	int nf, nt, na, rc = 0, ret = NB_CEXIT_OK, failed = 0;
	void *zctx = NULL;
	bool live = true, fail_limit = false, fail_other = false;

	nf = s_split(t0->from_list, from, S_MAX_PAIRS);
	nt = s_split(t0->to_list, to, S_MAX_PAIRS);
	if (nf < 0 || nt < 0 || nf != nt) {
		nb_cerr("--from and --to: two comma lists of as many node names (at most %d)",
			S_MAX_PAIRS);
		return NB_CEXIT_USAGE;
	}
	tv = calloc((size_t)nt, sizeof(*tv));
	act = calloc((size_t)nt, sizeof(*act));
	zctx = zmq_ctx_new();
	if (!tv || !act || !zctx) {
		nb_cerr("out of memory");
		ret = NB_CEXIT_ERR;
		goto out;
	}
	/*
	 * Each agent's connection is three ZeroMQ sockets (its DEALER, its monitor's two ends),
	 * past libzmq's default of 1023 a context at 171 agents, and several fds (those, the TCP
	 * connection, the signalers): the soft limit goes up towards the hard one as needed.
	 */
	zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, nt * 2 * 4 + 64);
	{
		struct rlimit rl;
		rlim_t want = (rlim_t)nt * 2 * 8 + 256;

		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < want) {
			rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
			if (setrlimit(RLIMIT_NOFILE, &rl))
				nb_cwarn("cannot raise the open files limit to %llu: %s",
					 (unsigned long long)want, strerror(errno));
		}
	}
	for (int j = 0; j < nt; j++)
		if (s_pair(t0, &tv[j], j, from[j], to[j])) {
			ret = tv[j] ? NB_CEXIT_USAGE : NB_CEXIT_ERR;
			nt = j + !!tv[j];
			goto out;
		}
	for (int j = 0; j < nt; j++)
		if (s_init(tv[j], zctx)) {
			ret = NB_CEXIT_ERR;
			goto out;
		}
	s_signals_and_stdout(nb_progress_wanted(STDERR_FILENO, t0->quiet));
	rc = s_setup_all(tv, nt);
	if (rc) {
		ret = NB_CEXIT_ERR;
		goto out;
	}
	fprintf(stderr, "Tracing %s %s -> %s on %d pairs (%d agents)%s\n", t0->proto_name, t0->src,
		t0->dst, nt, 2 * nt, t0->count || t0->duration ? "" : " (Ctrl-C to stop)");
	for (int j = 0; j < nt; j++)
		if (t0->duration)
			tv[j]->t_end = nb_mono_ns() + (uint64_t)t0->duration * 1000000000ull;
	nb_progress_begin(t0->quiet);
	s_output_set(tv, nt, (unsigned)nt); /* drawn at once, not only after the first turn */
	while (live) {
		na = 0;
		for (int j = 0; j < nt; j++)
			if (!tv[j]->over && !s_turn_pre(tv[j], nb_mono_ns()))
				tv[j]->over = true;
		for (int j = 0; j < nt; j++)
			if (!tv[j]->over)
				act[na++] = tv[j];
		if (!na)
			break;
		if (s_pump_set(act, na, 20)) {
			ret = NB_CEXIT_ERR;
			goto out;
		}
		live = false;
		for (int j = 0; j < na; j++) {
			if (!act[j]->over && !s_turn_post(act[j]))
				act[j]->over = true;
			live = live || !act[j]->over;
		}
		s_output_set(tv, nt, (unsigned)nt);
	}
	nb_progress_end();
	fflush(stdout);
	for (int j = 0; j < nt; j++)
		s_wrapup(tv[j]);
	/* Failed pairs are remembered before their STOPs reset them. */
	{
		int fail_rc[S_MAX_PAIRS];

		for (int j = 0; j < nt; j++)
			fail_rc[j] = tv[j]->failed;
		s_stop_all(tv, nt, "trace finished");
		for (int j = 0; j < nt; j++) {
			struct s_trace *t = tv[j];
			struct s_node *a = &t->node[0], *b = &t->node[1];
			enum nb_verdict v;

			ev += a->events_rx + b->events_rx;
			lost += a->lost_ring + a->lost_queue + b->lost_ring + b->lost_queue;
			gaps += a->batch_gaps + b->batch_gaps;
			if (fail_rc[j]) {
				printf("pair %d %s -> %s: failed: %s\n", t->index, a->name, b->name,
				       fail_rc[j] == -EDQUOT ? "refused by a limit"
							     : strerror(-fail_rc[j]));
				failed++;
				if (fail_rc[j] == -EDQUOT)
					fail_limit = true;
				else
					fail_other = true;
				continue;
			}
			v = s_verdict(t, detail, sizeof(detail));
			nv[v]++;
			pk += t->finals;
			complete += t->counts[NB_ST_COMPLETE];
			printf("pair %d %s -> %s: %s, %llu packets (%llu COMPLETE), events received "
			       "%s=%llu %s=%llu, lost %s=%llu %s=%llu, batch gaps %llu\n",
			       t->index, a->name, b->name, nb_verdict_name(v),
			       (unsigned long long)t->finals,
			       (unsigned long long)t->counts[NB_ST_COMPLETE], a->name,
			       (unsigned long long)a->events_rx, b->name,
			       (unsigned long long)b->events_rx, a->name,
			       (unsigned long long)(a->lost_ring + a->lost_queue), b->name,
			       (unsigned long long)(b->lost_ring + b->lost_queue),
			       (unsigned long long)(a->batch_gaps + b->batch_gaps));
			if (ret == NB_CEXIT_OK && v != NB_VERDICT_HEALTHY)
				ret = t->limited ? NB_CEXIT_LIMIT : nb_verdict_exit_code(v);
		}
	}
	/* A failed pair outweighs any verdict: a runtime error, then a limit. */
	if (fail_other)
		ret = NB_CEXIT_ERR;
	else if (fail_limit)
		ret = NB_CEXIT_LIMIT;
	printf("%d pairs, %d agents: %llu packets, %llu COMPLETE; events received %llu, lost "
	       "%llu, batch gaps %llu; failed %d",
	       nt, 2 * nt, (unsigned long long)pk, (unsigned long long)complete,
	       (unsigned long long)ev, (unsigned long long)lost, (unsigned long long)gaps, failed);
	for (int v = 0; v <= NB_VERDICT_INCONCLUSIVE; v++)
		if (nv[v])
			printf(", %s %llu", nb_verdict_name((enum nb_verdict)v),
			       (unsigned long long)nv[v]);
	printf("\n");
out:
	nb_progress_end();
	if (tv) {
		s_stop_all(tv, nt, "coordinator error");
		for (int j = 0; j < nt; j++)
			if (tv[j]) {
				s_free(tv[j]);
				free(tv[j]);
			}
	}
	if (zctx)
		zmq_ctx_term(zctx);
	free(tv);
	free(act);
	fflush(stdout);
	return ret;
}

/*
 * Once a loop turn: the packet lines out, and the progress line drawn below them. On a
 * terminal the lines wait in the buffer while the progress line is drawn, and take its place.
 * Several pairs (pairs > 0): the line has the totals over them.
 */
static void s_output_set(struct s_trace **tv, int nt, unsigned pairs)
{
	uint64_t lost = 0, finals = 0, counts[NB_ST__COUNT] = {0};

	if (!nb_progress_active()) {
		fflush(stdout);
		return;
	}
	if (__fpending(stdout)) {
		nb_progress_hide();
		fflush(stdout);
	}
	for (int j = 0; j < nt; j++) {
		for (int i = 0; i < 2; i++)
			lost += tv[j]->node[i].lost_ring + tv[j]->node[i].lost_queue;
		finals += tv[j]->finals;
		for (int s = 0; s < NB_ST__COUNT; s++)
			counts[s] += tv[j]->counts[s];
	}
	nb_progress_update(pairs, finals, counts, lost);
}

static void s_output(struct s_trace *t)
{
	s_output_set(&t, 1, 0);
}

int nb_cmd_trace(int argc, char **argv)
{
	struct s_trace *t = calloc(1, sizeof(*t));
	unsigned errs = nb_cerr_count();
	enum nb_verdict v;
	char detail[1024];
	int rc = 0, ret = NB_CEXIT_ERR;

	if (!t) {
		nb_cerr("out of memory");
		return NB_CEXIT_ERR;
	}
	t->blind_stage = -1;
	rc = s_parse_args(t, argc, argv);
	if (rc) {
		nb_inventory_free(&t->inv);
		free(t->from_list);
		free(t->to_list);
		free(t);
		return rc > 0 ? 0 : rc == -ENOSYS ? NB_CEXIT_ERR : NB_CEXIT_USAGE;
	}
	if (s_parse_addrs(t)) {
		ret = NB_CEXIT_USAGE;
		goto out;
	}
	rc = nb_coord_keys(t->insecure, t->key_path, NULL, &t->keys);
	if (rc)
		goto out;
	if (t->many) {
		ret = s_many(t);
		goto out;
	}
	rc = s_init(t, zmq_ctx_new());
	if (rc)
		goto out;
	s_signals_and_stdout(nb_progress_wanted(STDERR_FILENO, t->quiet));
	rc = s_setup_sessions(t);
	if (rc) {
		if (rc == -EDESTADDRREQ)
			ret = NB_CEXIT_USAGE;
		goto out;
	}
	fprintf(stderr, "Tracing %s %s -> %s: A=%s B=%s%s\n", t->proto_name, t->src, t->dst,
		t->node[0].name, t->node[1].name,
		t->count ? "" : t->duration ? "" : " (Ctrl-C to stop)");
	if (t->proto == IPPROTO_UDP && t->family == 6)
		nb_cwarn("%s", NB_UDP_IPV6_NOTE);
	if (t->duration)
		t->t_end = nb_mono_ns() + (uint64_t)t->duration * 1000000000ull;
	nb_progress_begin(t->quiet);
	s_output(t); /* drawn at once, not only after the first turn */

	while (s_turn_pre(t, nb_mono_ns())) {
		rc = s_pump(t, 20);
		if (rc)
			goto out;
		if (!s_turn_post(t))
			break;
		s_output(t);
	}
	nb_progress_end();
	fflush(stdout);
	s_wrapup(t);
	s_stop_sessions(t, "trace finished");
	v = s_verdict(t, detail, sizeof(detail));
	if (t->text)
		s_report_text(t, v, detail);
	if ((t->json_path || t->html_path) && s_report_files(t, v, detail))
		goto out;
	ret = t->limited ? NB_CEXIT_LIMIT : nb_verdict_exit_code(v);
out:
	nb_progress_end();
	if (!t->many)
		s_stop_sessions(t, "coordinator error");
	if (rc == -EDQUOT)
		ret = NB_CEXIT_LIMIT;
	if (ret == NB_CEXIT_ERR && nb_cerr_count() == errs)
		nb_cerr("trace failed: %s", strerror(rc < 0 ? -rc : EIO));
	s_free(t);
	if (t->zctx)
		zmq_ctx_term(t->zctx);
	nb_inventory_free(&t->inv);
	free(t->from_list);
	free(t->to_list);
	free(t);
	return ret;
}
