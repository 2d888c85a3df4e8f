/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The agent <-> coordinator wire protocol, declared here and encoded/decoded only by nb_wire.c:
 * nothing else touches raw frames.
 *
 * Every message is one ZeroMQ frame holding one msgpack map. Two keys are always present:
 *   "v"  unsigned int, the protocol version (NB_WIRE_VERSION); another value is rejected with
 *        -EPROTONOSUPPORT before anything else is looked at;
 *   "t"  string, the message type name as returned by nb_msg_type_name() ("HELLO", ...).
 * The other keys per type are listed below as key:msgpack-type. Keys marked (opt) may be
 * absent; absent means 0 / "" / empty, and the encoder omits them when they hold that value.
 * Keys this version does not know are ignored, so a newer peer may add fields; a message type
 * this version does not know is rejected.
 *
 *   HELLO   both directions; the coordinator sends first, the agent replies.
 *           name:str version:str proto:uint (highest protocol version the sender speaks)
 *           caps:[str] (opt; hooks/features the agent could attach)
 *           clock_ns:uint (opt; sender's CLOCK_MONOTONIC when it sent the message)
 *           sessions:uint (opt; agent: the sessions it holds, for any coordinator)
 *           An agent's caps name first what its kernel can attach ("tcx", "netfilter",
 *           "kprobe", "fentry", "tun", "vhost", "ovs": probed once at its start), then the
 *           hooks its packet-stage tracer uses ("tcx/ingress", ...). Both lists are
 *           optional fields of version 1: an older peer ignores or omits them.
 *   START   coordinator -> agent: start a session.
 *           session:uint proto:str ("icmp"|"tcp"|"udp") family:uint (4|6)
 *           src:bin dst:bin (4 bytes for family 4, 16 for family 6; network byte order)
 *           sport:uint dport:uint (0 = any) rx_ifs:[str] tx_ifs:[str] (interface names;
 *           an empty list asks the agent to find that side's interfaces itself, from the
 *           addresses) local:str (opt; "src" or "dst": the address of this node's VM, needed
 *           to find interfaces: on the sender side A "src", on B "dst")
 *           netns:str (opt; name or path, "" = the agent's own) timeout_ms:uint
 *           credit:uint (EVENTS batches the agent may send before more credit arrives)
 *           max_batch:uint (events per EVENTS message, 1..NB_WIRE_MAX_EVENTS)
 *           duration_s:uint (opt; how long the trace means to run, 0 or absent = until STOP;
 *           an agent whose --max-duration is shorter refuses the START)
 *           monitors:uint (opt; NB_MON_* bits: the monitors the coordinator wants on the
 *           node's VM port, reported in MONITOR messages; an older agent ignores it and
 *           sends none, an older coordinator does not ask and gets none)
 *   STARTED agent -> coordinator: the session's probes are attached.
 *           session:uint attach_ns:uint (agent clock) rx_ifindex:[uint] tx_ifindex:[uint]
 *           (resolved from rx_ifs/tx_ifs, same order) rx_ifs:[str] tx_ifs:[str] (opt,
 *           both or neither; their names, as many) rx_why:str tx_why:str (opt; how the agent found a side it
 *           was not given, e.g. "198.18.0.1 answered ARP on vnet0 (...)")
 *           unattached:[{hook:str reason:str}] (opt; stages that could not be attached)
 *   EVENTS  agent -> coordinator: one batch.
 *           session:uint seq:uint (0, 1, 2, ... per session) watermark_ns:uint (agent clock;
 *           every event older than this is in this batch or an earlier one)
 *           lost_ring:uint lost_queue:uint (cumulative: events the ring buffer dropped, events
 *           the agent's bounded queue dropped) ev:[event] (at most NB_WIRE_MAX_EVENTS)
 *           Each event is an array of NB_WIRE_EV_FIELDS (or more: a newer agent may append
 *           fields, which are ignored) in this order:
 *             ts_ns ifindex netns type hook ethertype reason location stack_id(int) cpu
 *             saddr:bin daddr:bin family proto icmp_type icmp_code sport dport icmp_id
 *             icmp_seq ip_id frag_off more_frags tcp_flags ip_len tcp_seq tcp_ack l4_len
 *           all uint unless marked; saddr/daddr are 4 bytes when the last 12 are zero, else 16;
 *           ip_id is 32 bits (an IPv6 fragment header's identification), the rest as in
 *           struct nb_pkt.
 *   STATS   agent -> coordinator: session:uint counters:{str:uint} (at most
 *           NB_WIRE_MAX_COUNTERS; names are NB_WIRE_NAME_MAX bytes at most)
 *   PING    coordinator -> agent: heartbeat (renews the session lease) and clock sample.
 *           seq:uint t_coord:uint (coordinator clock) session:uint (opt)
 *           credit:uint (opt; batches added to that session's credit)
 *   PONG    agent -> coordinator: seq:uint t_coord:uint (echoed) t_agent:uint (agent clock when
 *           the PING arrived) session:uint (opt, echoed) credit:uint (opt; credit left)
 *   CREDIT  coordinator -> agent: session:uint credit:uint (batches to add). Credit is granted
 *           as batches are consumed, far more often than heartbeats, so it has its own message;
 *           PING carries it too so one lost CREDIT cannot stall a session for good.
 *   STOP    either direction: session:uint reason:str
 *           exit_code:int (opt; a run session's end: the tool's exit status, 128 + N when
 *           signal N killed it; the agent sends it on every run's final STOP)
 *   DROPINFO agent -> coordinator: the names behind drop events (type NB_EV_DROP), which only
 *           the agent can give: reason numbers, kernel addresses and interface indexes are
 *           its own kernel's. Sent once per session and key (stack_id, reason, ifindex,
 *           location) before the EVENTS batch holding the first drop event with that key.
 *           session:uint stack_id:int reason:uint ifindex:uint location:uint (the key)
 *           reason_name:str ("NETFILTER_DROP") location_sym:str (opt; "nft_do_chain+0x46f")
 *           ifname:str (opt; "" when the device is gone or there was none)
 *           frames:[str] (opt; the stack, innermost first, at most NB_WIRE_MAX_FRAMES of at
 *           most NB_WIRE_FRAME_MAX bytes: "func+0xoff")
 *   MONITOR agent -> coordinator: what a monitor of the session's VM port measured since
 *           the attach (cumulative; the last one received holds). Sent only when START asked
 *           for that monitor: once after STARTED (attached or why not), then with every STATS.
 *           session:uint monitor:str ("tun_ring") ifname:str (the VM port)
 *           attached:uint (0|1) why:str (opt; not attached: why, e.g. "'vnet0' is not a
 *           tun/tap device (driver veth)")
 *           queues_seen:uint (opt; queues whose ring a program saw, listed or not)
 *           total:[queue-record] (opt; over every queue, its queue field 0)
 *           queues:[[queue-record]] (opt; at most NB_WIRE_MAX_MONQ, those that overflowed
 *           first, then by traffic)
 *           sojourn_us:[uint] (opt; at most NB_MON_SLOTS log2 microsecond slots: enqueue to
 *           dequeue of the flow's packets, all queues)
 *           A queue-record is an array of NB_WIRE_MONQ_FIELDS uints (or more: a newer agent
 *           may append, which is ignored): queue size hwm occupancy enqueued matched dequeued
 *           full drops_full_ring drops_other (hwm: the highest occupancy since the attach;
 *           full: enqueues that found the ring full; matched: the flow's enqueues).
 *   ERROR   either direction: code:int (a positive errno value) message:str session:uint (opt)
 *           NB_WIRE_ELIMIT: one of the agent's limits refused a START or ended a session;
 *           the message names the limit and its value ("limit max-sessions 4: ...").
 *   RUN     coordinator -> agent: run one single-host tool as a session (netblame run).
 *           session:uint tool:str (a tool name, at most NB_WIRE_NAME_MAX bytes)
 *           args:[str] (the tool's flags as on its command line, at most NB_WIRE_MAX_ARGS of
 *           at most NB_WIRE_STR_MAX bytes) credit:uint (OUTPUT messages the agent may send)
 *           check:uint (opt; 1: only check the tool and its flags, start nothing)
 *           A check is answered by STOP (the flags are good) or ERROR (code EINVAL: a usage
 *           error, the tool's own one-line message; another code: the agent's refusal). A run
 *           is answered by STARTED (the tool's process started; no interfaces) or ERROR, then
 *           OUTPUT messages, then STATS and a STOP with exit_code.
 *   OUTPUT  agent -> coordinator: lines a run's tool wrote, in order per stream.
 *           session:uint seq:uint (0, 1, 2, ... per session, both streams together)
 *           stream:uint (1 stdout, 2 stderr) lines:[str] (at most NB_WIRE_MAX_LINES of at most
 *           NB_WIRE_LINE_MAX bytes, without their newline; a tab is the one control character
 *           allowed). One OUTPUT per unit of credit, like EVENTS.
 *
 * Session ids are never 0: 0 means "no session" in the optional fields, and a required
 * session field holding 0 is rejected.
 *
 * Flow control: the agent may send one EVENTS message per unit of credit (START.credit plus
 * every CREDIT/PING credit received); with none left it queues, and what its bounded queue
 * cannot hold is counted in lost_queue, never dropped silently.
 *
 * Decoding is strict because the agent faces hostile input: every field's msgpack type is
 * checked, integers must fit the field, counts and lengths are bounded, duplicate keys and
 * trailing bytes are rejected, and strings may hold no control characters (they end up on
 * terminals). What counts is the value, not the msgpack format chosen for it: a field of type
 * uint accepts any integer format holding a non-negative value that fits. Errors (negative
 * errno):
 *   -EPROTO           not one msgpack map, truncated, trailing bytes, unknown type, a required
 *                     field missing, a duplicate key, or an invalid value (family, proto,
 *                     address length, session 0, control character in a string)
 *   -EBADMSG          a field with the wrong msgpack type, or an integer that does not fit it
 *   -EMSGSIZE         frame, string, list, number of keys, nesting depth or number of msgpack
 *                     objects over its bound
 *   -EPROTONOSUPPORT  "v" is not NB_WIRE_VERSION
 *   -ENOMEM
 */
#ifndef NB_WIRE_H
#define NB_WIRE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_event.h"

#define NB_WIRE_VERSION 1

/* ERROR.code of a refusal by one of the agent's limits (see ERROR below). */
#define NB_WIRE_ELIMIT EDQUOT

#define NB_WIRE_MAX_FRAME      (4u << 20) /* bytes in one frame */
#define NB_WIRE_MAX_EVENTS     4096	  /* events in one EVENTS batch */
#define NB_WIRE_STR_MAX	       255	  /* bytes in a free-text string (names, reasons) */
#define NB_WIRE_NAME_MAX       63	  /* bytes in an identifier (capability, hook, counter) */
#define NB_WIRE_IFNAME_MAX     15	  /* bytes in an interface name (IFNAMSIZ - 1) */
#define NB_WIRE_MAX_CAPS       64
#define NB_WIRE_MAX_UNATTACHED 32
#define NB_WIRE_MAX_COUNTERS   64
#define NB_WIRE_MAX_KEYS       64 /* keys in one message map, unknown ones included */
#define NB_WIRE_EV_FIELDS      28 /* elements of one encoded event */
#define NB_WIRE_MAX_FRAMES     64  /* stack frames in one DROPINFO */
#define NB_WIRE_FRAME_MAX      127 /* bytes in one frame or symbol ("func+0xoff") */
#define NB_WIRE_MAX_ARGS       48	  /* arguments of a RUN */
#define NB_WIRE_MAX_LINES      1024	  /* lines in one OUTPUT */
#define NB_WIRE_LINE_MAX       65535	  /* bytes in one OUTPUT line */
#define NB_WIRE_MAX_MONQ       16	  /* queue records in one MONITOR */
#define NB_WIRE_MONQ_FIELDS    10	  /* elements of one queue record */
#define NB_WIRE_MON_SLOTS      32	  /* sojourn slots in one MONITOR (= NB_MON_SLOTS) */

/* START.monitors bits: the monitors a coordinator asks for on the node's VM port. */
#define NB_MON_TUN_RING 1u /* the tun/tap ring (bpf/nb_tun.bpf.c), when the port is a tap */
#define NB_MON_ALL	NB_MON_TUN_RING

/*
 * A control message is at most a few KiB; an agent should cap its socket (ZMQ_MAXMSGSIZE) at
 * this so a peer cannot make it buffer NB_WIRE_MAX_FRAME bytes before decoding even starts.
 */
#define NB_WIRE_MAX_CTRL_FRAME (64u << 10)

enum nb_msg_type {
	NB_MSG_HELLO = 1,
	NB_MSG_START,
	NB_MSG_STARTED,
	NB_MSG_EVENTS,
	NB_MSG_STATS,
	NB_MSG_PING,
	NB_MSG_PONG,
	NB_MSG_CREDIT,
	NB_MSG_STOP,
	NB_MSG_ERROR,
	NB_MSG_DROPINFO,
	NB_MSG_RUN,
	NB_MSG_OUTPUT,
	NB_MSG_MONITOR,
};

enum nb_out_stream {
	NB_OUT_STDOUT = 1,
	NB_OUT_STDERR = 2,
};

/* Strings are NUL-terminated in the structs; the wire carries them without the NUL. */
struct nb_msg_hello {
	char name[NB_WIRE_STR_MAX + 1];
	char version[NB_WIRE_NAME_MAX + 1];
	uint32_t proto;
	uint32_t n_caps;
	char caps[NB_WIRE_MAX_CAPS][NB_WIRE_NAME_MAX + 1];
	uint64_t clock_ns;
	uint32_t sessions;
};

struct nb_msg_start {
	uint64_t session;
	uint8_t proto;	/* IPPROTO_ICMP, IPPROTO_TCP or IPPROTO_UDP */
	uint8_t family; /* 4 or 6 */
	uint16_t sport;
	uint16_t dport;
	uint8_t src[NB_ADDR_LEN]; /* as in struct nb_filter: IPv4 in the first 4 bytes, rest 0 */
	uint8_t dst[NB_ADDR_LEN];
	uint32_t n_rx;
	uint32_t n_tx;
	char rx_ifs[NB_MAX_IFS][NB_WIRE_IFNAME_MAX + 1];
	char tx_ifs[NB_MAX_IFS][NB_WIRE_IFNAME_MAX + 1];
	char netns[NB_WIRE_STR_MAX + 1];
	uint32_t timeout_ms;
	uint32_t credit;
	uint32_t max_batch;
	uint32_t duration_s; /* optional: how long the trace means to run; 0 = until STOP */
	uint8_t local; /* NB_START_LOCAL_*: which address is this node's VM */
	uint32_t monitors; /* optional: NB_MON_* bits */
};

enum {
	NB_START_LOCAL_UNSAID,
	NB_START_LOCAL_SRC,
	NB_START_LOCAL_DST,
};

struct nb_wire_unattached {
	char hook[NB_WIRE_NAME_MAX + 1];
	char reason[NB_WIRE_STR_MAX + 1];
};

struct nb_msg_started {
	uint64_t session;
	uint64_t attach_ns;
	uint32_t n_rx;
	uint32_t n_tx;
	uint32_t rx_ifindex[NB_MAX_IFS];
	uint32_t tx_ifindex[NB_MAX_IFS];
	bool names; /* rx_ifs/tx_ifs given (an older agent does not) */
	char rx_ifs[NB_MAX_IFS][NB_WIRE_IFNAME_MAX + 1];
	char tx_ifs[NB_MAX_IFS][NB_WIRE_IFNAME_MAX + 1];
	char rx_why[NB_WIRE_STR_MAX + 1]; /* how the agent chose them; "" = as asked */
	char tx_why[NB_WIRE_STR_MAX + 1];
	uint32_t n_unattached;
	struct nb_wire_unattached unattached[NB_WIRE_MAX_UNATTACHED];
	/*
	 * What switches the traced namespace: "ovs" (an ovs-vswitchd runs there), "" not known
	 * (an older agent sends no "switch"; the blame then names no upcall).
	 */
	char switch_kind[NB_WIRE_NAME_MAX + 1];
};

struct nb_msg_events {
	uint64_t session;
	uint64_t seq;
	uint64_t watermark_ns;
	uint64_t lost_ring;
	uint64_t lost_queue;
	uint32_t n_ev;
	/* Encoding: the caller's array, read in place. Decoding: owned by the message. */
	const struct nb_event *ev;
};

struct nb_wire_counter {
	char name[NB_WIRE_NAME_MAX + 1];
	uint64_t value;
};

struct nb_msg_stats {
	uint64_t session;
	uint32_t n_counters;
	struct nb_wire_counter counters[NB_WIRE_MAX_COUNTERS];
};

struct nb_msg_ping {
	uint64_t seq;
	uint64_t t_coord;
	uint64_t session;
	uint32_t credit;
};

struct nb_msg_pong {
	uint64_t seq;
	uint64_t t_coord;
	uint64_t t_agent;
	uint64_t session;
	uint32_t credit;
};

struct nb_msg_credit {
	uint64_t session;
	uint32_t credit;
};

struct nb_msg_stop {
	uint64_t session;
	char reason[NB_WIRE_STR_MAX + 1];
	int32_t exit_code;
};

struct nb_msg_run {
	uint64_t session;
	char tool[NB_WIRE_NAME_MAX + 1];
	uint32_t n_args;
	char args[NB_WIRE_MAX_ARGS][NB_WIRE_STR_MAX + 1];
	uint32_t credit;
	uint32_t check; /* 0 or 1 */
};

struct nb_msg_output {
	uint64_t session;
	uint64_t seq;
	uint32_t stream; /* enum nb_out_stream */
	uint32_t n_lines;
	/* Encoding: the caller's array, read in place. Decoding: owned by the message. */
	const char *const *lines;
};

struct nb_msg_error {
	int32_t code;
	uint64_t session;
	char message[NB_WIRE_STR_MAX + 1];
};

struct nb_msg_dropinfo {
	uint64_t session;
	int32_t stack_id; /* -1: the kernel could not take the stack */
	uint32_t reason;
	uint32_t ifindex;
	uint64_t location;
	char reason_name[NB_WIRE_NAME_MAX + 1];
	char location_sym[NB_WIRE_FRAME_MAX + 1];
	char ifname[NB_WIRE_IFNAME_MAX + 1];
	uint32_t n_frames;
	char frames[NB_WIRE_MAX_FRAMES][NB_WIRE_FRAME_MAX + 1];
};

/* One queue of a monitored ring (MONITOR); the fields in their wire order. */
struct nb_wire_monq {
	uint32_t queue;
	uint32_t size;
	uint32_t hwm;
	uint32_t occupancy;
	uint64_t enqueued;
	uint64_t matched;
	uint64_t dequeued;
	uint64_t full;
	uint64_t drops_full_ring;
	uint64_t drops_other;
};

struct nb_msg_monitor {
	uint64_t session;
	char monitor[NB_WIRE_NAME_MAX + 1]; /* "tun_ring" */
	char ifname[NB_WIRE_IFNAME_MAX + 1];
	uint32_t attached; /* 0 or 1 */
	char why[NB_WIRE_STR_MAX + 1];
	uint32_t queues_seen;
	bool has_total;
	struct nb_wire_monq total;
	uint32_t n_queues;
	struct nb_wire_monq queues[NB_WIRE_MAX_MONQ];
	uint32_t n_sojourn;
	uint64_t sojourn_us[NB_WIRE_MON_SLOTS];
};

/*
 * One decoded (or to-be-encoded) message. About 12 KiB because strings and small lists are
 * held inline (so decoding allocates only the event array): keep it off small stacks in loops.
 * Zero-initialise one before filling it in for encoding.
 */
struct nb_msg {
	enum nb_msg_type type;
	void *alloc; /* memory the decoder allocated; freed by nb_msg_clear() */
	union {
		struct nb_msg_hello hello;
		struct nb_msg_start start;
		struct nb_msg_started started;
		struct nb_msg_events events;
		struct nb_msg_stats stats;
		struct nb_msg_ping ping;
		struct nb_msg_pong pong;
		struct nb_msg_credit credit;
		struct nb_msg_stop stop;
		struct nb_msg_error error;
		struct nb_msg_dropinfo dropinfo;
		struct nb_msg_run run;
		struct nb_msg_output output;
		struct nb_msg_monitor monitor;
	};
};

/*
 * A growable output buffer, reused across messages so the hot path does not allocate. Bounded
 * by NB_WIRE_MAX_FRAME. Initialise with NB_WBUF_INIT or memset 0.
 */
struct nb_wbuf {
	char *data;
	size_t len;
	size_t cap;
	int err; /* first error of the message being written; reset by each encoder */
};

#define NB_WBUF_INIT                                                                               \
	{                                                                                          \
		0                                                                                  \
	}

void nb_wbuf_free(struct nb_wbuf *b);
/* Hands the bytes to the caller (to free(); e.g. zmq_msg_init_data); b is left empty. */
void *nb_wbuf_release(struct nb_wbuf *b, size_t *len);

/* "HELLO", "START", ...; "?" for a value that is not a type. */
const char *nb_msg_type_name(enum nb_msg_type t);

/*
 * Encode m into b (replacing what b held). The encoder applies the decoder's limits, so it
 * never produces a frame the peer would reject: -EINVAL for a value the protocol cannot carry
 * (session 0 where required, unknown proto or family, an IPv4 address with non-zero tail bytes,
 * a control character in a string), -EMSGSIZE for one over a bound, -ENOMEM.
 */
int nb_wire_encode_buf(const struct nb_msg *m, struct nb_wbuf *b);

/* The same into a new malloc()ed buffer that the caller frees. */
int nb_wire_encode(const struct nb_msg *m, void **buf, size_t *len);

/*
 * The EVENTS fast path: encodes hdr (hdr->ev and hdr->n_ev are ignored) with the n events at
 * ev straight into b; nothing is copied but the encoded bytes.
 */
int nb_wire_encode_events(const struct nb_msg_events *hdr, const struct nb_event *ev, size_t n,
			  struct nb_wbuf *b);

/*
 * Streaming form of the same, for a producer that encodes each event as it arrives (e.g. from
 * a ring buffer callback) instead of queueing structs first:
 *   nb_wire_batch_begin(&bt, &buf); nb_wire_batch_add(&bt, ev) ...; nb_wire_batch_end(&bt, &hdr);
 * nb_wire_batch_add() returns -EMSGSIZE once NB_WIRE_MAX_EVENTS are in. The header fields are
 * only needed at the end, when the watermark and loss counters are known.
 */
struct nb_wire_batch {
	struct nb_wbuf *buf;
	size_t count_at; /* offset of the event array's count, patched by nb_wire_batch_end() */
	uint32_t n;
};

int nb_wire_batch_begin(struct nb_wire_batch *bt, struct nb_wbuf *b);
int nb_wire_batch_add(struct nb_wire_batch *bt, const struct nb_event *ev);
int nb_wire_batch_end(struct nb_wire_batch *bt, const struct nb_msg_events *hdr);

/*
 * Decode one frame into out (overwritten). 0 or a negative errno as listed above. On error out
 * holds nothing to free; on success call nb_msg_clear() when done.
 */
int nb_wire_decode(const void *buf, size_t len, struct nb_msg *out);

/* Frees what nb_wire_decode() allocated and zeroes m. Safe on a zeroed or caller-built msg. */
void nb_msg_clear(struct nb_msg *m);

#endif /* NB_WIRE_H */
