// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * TESTING ONLY (--test-synthetic-pps): a session's stand-in for its ring buffer, so the
 * transport can be measured at rates no lab ping reaches. Each synthetic ICMP echo is the four
 * local stage events a real one makes at this node (request RX on the rx interface, request TX
 * on the tx interface, reply RX on the tx interface, reply TX on the rx interface), handed to
 * the session's own ring buffer callback: batching, credit, the queue and loss counting are
 * exactly those of real events. Packets are paced in time; a turn that comes late makes up
 * for the packets it missed, at most S_MAX_PKTS_PER_RUN of them, so that one turn never holds
 * up the loop (and the PINGs that renew the lease) for long.
 *
 * Packet k is due at k / pps on CLOCK_MONOTONIC itself, not counted from the session's start:
 * two agents on one host then give the same seq to the same instant, as the two ends of one
 * real ping would, whenever each of their sessions started. Otherwise a seq would reach the
 * coordinator from the later agent after the other's copy had been judged.
 */
#include "agent.h"
#include "serve.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#define S_MAX_PKTS_PER_RUN 16384
#define S_IP_LEN	   84 /* a default ping: 20 + 8 + 56 bytes */

/* Stage offsets from the packet's time: a few microseconds apart, in the stages' order. */
static const uint64_t s_delta_ns[NB_LOCAL_STAGES] = {0, 2000, 30000, 32000};

/* Packets due by now: k = 0 .. s_due() - 1. */
static uint64_t s_due(const struct nb_synth *y, uint64_t now)
{
	return (uint64_t)((unsigned __int128)now * y->pps / 1000000000ull) + 1;
}

/* When packet k is due, rounded up so that s_due() at that time includes it. */
static uint64_t s_at(const struct nb_synth *y, uint64_t k)
{
	return (uint64_t)(((unsigned __int128)k * 1000000000ull + y->pps - 1) / y->pps);
}

int nb_synth_init(struct nb_synth *y, const struct nb_flow_spec *spec, uint32_t netns,
		  uint64_t session, uint64_t pps, uint64_t from, uint64_t now)
{
	bool v4 = spec->family == 4;

	memset(y, 0, sizeof(*y));
	if (spec->proto != IPPROTO_ICMP && spec->proto != IPPROTO_ICMPV6)
		return -EPROTONOSUPPORT;
	y->pps = pps;
	for (int st = 0; st < NB_LOCAL_STAGES; st++) {
		struct nb_event *e = &y->ev[st];
		bool req = st == NB_REQ_RX || st == NB_REQ_TX;
		bool rx_if = st == NB_REQ_RX || st == NB_REP_TX;

		e->ifindex = rx_if ? spec->rx_if[0] : spec->tx_if[0];
		e->netns = netns;
		e->type = NB_EV_PKT;
		e->hook = st == NB_REQ_RX || st == NB_REP_RX ? NB_HOOK_RX : NB_HOOK_TX;
		e->ethertype = v4 ? 0x0800 : 0x86dd;
		e->stack_id = -1;
		memcpy(e->pkt.saddr, req ? spec->src : spec->dst, NB_ADDR_LEN);
		memcpy(e->pkt.daddr, req ? spec->dst : spec->src, NB_ADDR_LEN);
		e->pkt.family = spec->family;
		e->pkt.proto = spec->proto;
		e->pkt.icmp_type = v4 ? (req ? 8 : 0) : (req ? 128 : 129);
		/* Both agents of a trace get the same session id, so they agree on it. */
		e->pkt.icmp_id = (uint16_t)session;
		e->pkt.ip_len = S_IP_LEN;
		e->pkt.l4_len = S_IP_LEN - 28;
	}
	/*
	 * The session's packets start with the first due after from, the attach: a real ring
	 * holds every packet from then on, and the coordinator counts from the attach, so a later
	 * start would show the other agent's first packets as lost here. Those made up late are
	 * no lag of the source's: lag counts from now.
	 */
	y->made = s_due(y, from);
	y->first = y->made;
	y->lag_from = now;
	y->live = s_due(y, now);
	return 0;
}

int nb_synth_run(struct nb_synth *y, uint64_t now, nb_event_fn fn, void *ctx)
{
	uint64_t due = s_due(y, now), n = 0, at;

	if (y->made >= due)
		return 0;
	/* How long the oldest packet waited: a real one would have sat in the ring that long. */
	at = s_at(y, y->made);
	if (at < y->lag_from)
		at = y->lag_from;
	if (now > at && now - at > y->max_lag_ns)
		y->max_lag_ns = now - at;
	if (due > y->made + S_MAX_PKTS_PER_RUN)
		due = y->made + S_MAX_PKTS_PER_RUN;
	for (; y->made < due; y->made++, n++) {
		uint16_t seq = (uint16_t)y->made; /* ICMP seq wraps at 65536, as ping's does */
		/*
		 * Those due between the attach and the session's start are stamped when due, as a
		 * real packet is when it passes the hook: the other agent of the pair made them
		 * then, and the coordinator must see them at that time, not this agent's later
		 * one. The rest, as ever, when made.
		 */
		uint64_t ts = y->made < y->live ? s_at(y, y->made) : now;

		for (int st = 0; st < NB_LOCAL_STAGES; st++) {
			struct nb_event *e = &y->ev[st];

			e->ts_ns = ts + s_delta_ns[st];
			e->pkt.icmp_seq = seq;
			e->pkt.ip_id = (uint16_t)(seq + (st >= NB_REP_RX ? 1 : 0));
			fn(e, ctx);
		}
	}
	return (int)(n * NB_LOCAL_STAGES);
}

uint64_t nb_synth_next(const struct nb_synth *y)
{
	return s_at(y, y->made);
}
