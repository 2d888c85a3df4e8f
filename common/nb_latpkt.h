/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Per-packet latency of the latency tools (system_network_icmp_rtt, kernel_icmp_rtt and the
 * *_latency_details tools): which packet an event of a stage chain (nb_lat.h) belongs to, the
 * joining of its stages (the one join engine, nb_join, one node), and what the stages say: the
 * delta of each adjacent pair, the total, the estimated wire time, HIGH LATENCY and the
 * BOTTLENECK pair. Pure logic: no printing (the text layouts are formatted into buffers).
 *
 * RTT tools: an echo request (path 0 of the chain) and its reply (path 1) are one packet, keyed
 * by ICMP id and seq whatever the direction. Details: each direction of the chain is its own
 * join (one per path), and a packet is one direction's: ICMP id/seq/type, TCP seq/ack and
 * ports, UDP IP ID, ports and fragment offset, other protocols IP ID; with a hash of the
 * address pair, since a details tool may filter on one address only.
 */
#ifndef NB_LATPKT_H
#define NB_LATPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_event.h"
#include "nb_join.h"
#include "nb_lat.h"

#define NB_LATPKT_MAX_ROWS (NB_MAX_STAGES + 1) /* adjacent pairs, and the wire */

struct nb_latpkt_cfg {
	const struct nb_lat_stage *stages; /* nb_lat_chain(); copied */
	int nstages;
	bool rtt;  /* echo request and reply are one packet (the RTT tools) */
	bool wire; /* rtt: estimate the wire time (this host sent the request: --direction tx) */
	/* rtt: the request goes src -> dst (the reply back), both addresses given */
	uint8_t family;
	uint8_t src[NB_ADDR_LEN], dst[NB_ADDR_LEN];
	uint64_t timeout_ns;   /* a stage not seen this long after the first is missing */
	uint64_t latency_ns;   /* HIGH LATENCY over it; 0: none */
	uint32_t max_inflight; /* packets held per direction; 0 = 4096 */
};

/* An adjacent pair of stages of one path, or the wire between the paths. */
struct nb_latpkt_row {
	int from, to; /* chain stage indexes */
	bool wire;   /* WIRE_TIME (estimated): from the request's last stage to the reply's first */
	bool known;  /* both ends seen */
	uint64_t ns; /* to - from, never below 0 */
};

/* One final packet (or echo). Valid only during the callback. */
struct nb_latpkt_res {
	struct nb_pkt pkt; /* its identity, as first seen */
	uint16_t ethertype;
	uint8_t path;		  /* details: the direction (its stages' path); rtt: 0 */
	int first, n;		  /* its stages: chain indexes first .. first + n - 1 */
	bool seen[NB_MAX_STAGES]; /* by chain index */
	uint64_t ts[NB_MAX_STAGES];
	uint32_t ifindex[NB_MAX_STAGES];
	uint64_t first_ts; /* the earliest seen stage */
	int nrows;
	struct nb_latpkt_row rows[NB_LATPKT_MAX_ROWS]; /* chain order, the wire after path 0 */
	bool complete;				       /* every stage seen */
	bool events_lost;  /* a missing stage was due while events were lost: not a verdict */
	int first_missing; /* chain index of the first stage not seen; -1 when complete */
	bool has_total;
	uint64_t total_ns; /* last stage - first stage (TOTAL_RTT for the RTT tools) */
	bool high;	   /* total over cfg.latency_ns */
	int bottleneck;	   /* row holding most of the total (complete packets); -1 none */
	enum nb_final_why why;
};

typedef void (*nb_latpkt_cb)(const struct nb_latpkt_res *r, void *ctx);

struct nb_latpkt_stats {
	uint64_t events;   /* chain events handed in */
	uint64_t ignored;  /* not a packet this tool follows (another type, direction, stage) */
	uint64_t packets;  /* final packets (echoes) */
	uint64_t complete; /* ... with every stage */
	uint64_t events_lost_pkts;	 /* ... incomplete while events were lost */
	uint64_t missing[NB_MAX_STAGES]; /* ... incomplete, by first missing stage (others) */
	uint64_t high;			 /* ... over latency_ns */
	uint64_t dups;	   /* a stage seen twice for a packet (the first time counts) */
	uint64_t late;	   /* events of a packet already final */
	uint64_t evicted;  /* packets finalised early: max_inflight held */
	uint64_t inflight; /* held now */
};

struct nb_latpkt;

/* NULL with errno set (EINVAL: a bad chain or cfg; ENOMEM). cb must not call back into it. */
struct nb_latpkt *nb_latpkt_new(const struct nb_latpkt_cfg *cfg, nb_latpkt_cb cb, void *ctx);
void nb_latpkt_destroy(struct nb_latpkt **pp);

/*
 * The chain stage of an event and its packet's key: -1 when it is no stage of the chain, or no
 * packet this tool follows (rtt: not an echo, a reply at a request stage, the wrong way).
 */
int nb_latpkt_key(const struct nb_latpkt_cfg *cfg, const struct nb_event *e, struct nb_key *key);

/* One chain event (hook NB_HOOK_LAT0 + stage). Returns 0 (counted as ignored or added). */
int nb_latpkt_add(struct nb_latpkt *l, const struct nb_event *e);
/* Every event before ts is in: packets whose timeout passed are final. */
int nb_latpkt_watermark(struct nb_latpkt *l, uint64_t ts);
/* Events may have been lost in [from, to]: a stage missing then is not a verdict. */
int nb_latpkt_taint(struct nb_latpkt *l, uint64_t from, uint64_t to);
/* At the end: everything held is final. */
int nb_latpkt_flush(struct nb_latpkt *l);
void nb_latpkt_get_stats(const struct nb_latpkt *l, struct nb_latpkt_stats *out);

/* "TX" or "RX": the direction of a path of the chain (its first stage's side). */
const char *nb_latpkt_path_name(const struct nb_latpkt_cfg *cfg, uint8_t path);

/*
 * The RTT tools' block for one echo, the manual's layout, lines ending in '\n':
 *   [14:40:15.123] seq=1 TOTAL_RTT=245us  <<<< HIGH LATENCY
 *     TX Path:
 *       ip_local_out           ->  ip_finish_output:    45us
 *     ...
 *     WIRE_TIME (estimated): 125us
 * hms: the wall time of the echo's first stage, as the caller formats it. Returns the length
 * snprintf would have written.
 */
int nb_latpkt_fmt_echo(const struct nb_latpkt_cfg *cfg, const struct nb_latpkt_res *r,
		       const char *hms, char *buf, size_t len);

/*
 * The details tools' line for one packet, ending in '\n':
 *   [14:40:15.123] RX TCP 10.0.0.1:5201 -> 10.0.0.2:40000 seq=1 ack=2 len=100:
 *   netif_receive_skb->ip_rcv=12us ip_rcv->tcp_v4_rcv=30us total=42us
 * (one line), a missing pair "=missing" and " INCOMPLETE (tcp_v4_rcv not seen)" at the end.
 */
int nb_latpkt_fmt_line(const struct nb_latpkt_cfg *cfg, const struct nb_latpkt_res *r,
		       const char *hms, char *buf, size_t len);

/* "ip_rcv not seen", "events lost", or "" when complete: why a packet is incomplete. */
const char *nb_latpkt_why_incomplete(const struct nb_latpkt_cfg *cfg, const struct nb_latpkt_res *r,
				     char *buf, size_t len);

#endif /* NB_LATPKT_H */
