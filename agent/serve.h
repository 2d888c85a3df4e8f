/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Private to agent/serve*.c: the remote-session server of `netblame-agent serve`.
 *
 * serve.c       options, sockets, the poll loop, message dispatch
 * serve_sess.c  one session: its tracer, event batches, credit, bounded queue, stats, lease
 * serve_zap.c   CURVE keys and the ZAP handler that admits only authorised coordinators
 * serve_mon.c   the ROUTER's socket monitor: every refused connection logged, rate-limited
 * serve_caps.c  what the kernel can attach (tcx, netfilter, kprobe, fentry, tun, vhost, ovs)
 * serve_synth.c TESTING ONLY: synthetic events in place of the ring (--test-synthetic-pps)
 *
 * Only serve_zap.c sees the key API, and it does not need agent.h: it touches no BPF.
 */
#ifndef NB_SERVE_H
#define NB_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_wire.h"

#define NB_SRV_ID_MAX	     255	    /* bytes of a ZeroMQ routing id (libzmq's own bound) */
#define NB_SRV_PEER_DESC     96		    /* "address user" for log lines */
#define NB_SRV_QUEUE_MAX     256	    /* batches waiting for credit, per session */
#define NB_SRV_QUEUE_BYTES   (32u << 20)    /* ... and their bytes, per session */
#define NB_SRV_CREDIT_MAX    UINT32_MAX	    /* credit saturates here: PONG carries 32 bits */
#define NB_SRV_BATCH_AGE_NS  20000000ull    /* a batch goes 20 ms after its first event */
#define NB_SRV_EMPTY_IVL_NS  100000000ull   /* an EVENTS message at least every 100 ms */
#define NB_SRV_STATS_IVL_NS  1000000000ull  /* STATS once a second per session */
#define NB_SRV_WM_SLACK_NS   2000000ull	    /* see s_drain() in serve_sess.c */
#define NB_SRV_DRAIN_NS	     2000000ull	    /* ring drain period while a batch is open */
#define NB_SRV_CLIENT_ID     80		    /* "key SHA256:<64 hex>" or "address <IP>" */
#define NB_SRV_CLIENTS	     64		    /* clients whose recent STARTs are remembered */
#define NB_SRV_REFUSE_LOGS   10		    /* refused-connection lines per window ... */
#define NB_SRV_REFUSE_WIN_NS 10000000000ull /* ... of 10 s; the rest are summarised */
#define NB_SRV_START_WIN_NS  10000000000ull /* --max-starts-per-client counts in 10 s */
#define NB_SRV_HANDSHAKE_MS  5000	    /* a connection's ZMTP and CURVE handshake */
#define NB_RUN_GRACE_NS	     5000000000ull  /* a run's tool gets SIGKILL this long after SIGINT */
#define NB_SRV_MAX_RUNS	     16		    /* --max-runs at most */

struct nb_tracer;
struct nb_zap;
struct nb_mon;
struct nb_sdrop;
struct nb_stun;
struct nb_netns;
struct nb_flow_spec;
struct nb_rt;

/*
 * At most `max` events in any window of window_ns (0: one second): exact, unlike a bucket
 * with a burst.
 */
#define NB_RL_MAX 64
struct nb_rl {
	uint32_t max; /* <= NB_RL_MAX */
	uint32_t next;
	uint64_t window_ns;
	uint64_t ts[NB_RL_MAX]; /* the last `max` times allowed, a ring */
	uint64_t suppressed;	/* refused since the last allowed one */
};

static inline bool nb_rl_take(struct nb_rl *r, uint64_t now_ns)
{
	uint64_t oldest = r->ts[r->next];

	if (oldest && now_ns - oldest < (r->window_ns ? r->window_ns : 1000000000ull)) {
		r->suppressed++;
		return false;
	}
	r->ts[r->next] = now_ns ? now_ns : 1;
	r->next = (r->next + 1) % r->max;
	return true;
}

struct nb_peer {
	uint32_t len;
	uint8_t id[NB_SRV_ID_MAX];
};

/* An encoded EVENTS message waiting for credit (or for room in the socket's send queue). */
struct nb_qbatch {
	void *data;
	size_t len;
	uint32_t n_ev;
};

struct nb_srv;

/*
 * Encoded messages waiting for credit (or for room in the socket's send queue), in order: a
 * ring of NB_SRV_QUEUE_MAX and NB_SRV_QUEUE_BYTES. Each message counts n items (events, lines)
 * for the loss counters. Trace sessions queue EVENTS in one, runs OUTPUT.
 */
struct nb_sendq {
	struct nb_qbatch *q;
	uint32_t head, len;
	size_t bytes;
};

/* serve_sess.c */
int nb_sendq_init(struct nb_sendq *q); /* -ENOMEM */
/* Whether a message of `more` bytes would not fit. */
bool nb_sendq_full(const struct nb_sendq *q, size_t more);
/* Takes data (malloc()ed); the caller checked nb_sendq_full. */
void nb_sendq_push(struct nb_sendq *q, void *data, size_t len, uint32_t n);
/*
 * Sends from the head while *credit lasts and the socket takes them, one credit each. Adds the
 * messages and items sent to *msgs and *items, and the items of a vanished peer to *lost.
 */
void nb_sendq_flush(struct nb_sendq *q, struct nb_srv *srv, const struct nb_peer *peer,
		    uint64_t *credit, uint64_t *msgs, uint64_t *items, uint64_t *lost);
/* Drops what is queued, its items counted in *lost; frees the ring. */
void nb_sendq_free(struct nb_sendq *q, uint64_t *lost);

/* --test-synthetic-pps: ICMP echoes made up at a fixed rate instead of read from the ring. */
struct nb_synth {
	uint64_t pps;	       /* 0: off, the session reads its ring buffer */
	uint64_t first, made;  /* packet k is due at k / pps on the raw clock; seq = k % 65536 */
	uint64_t max_lag_ns;   /* the longest a due packet waited to be made */
	uint64_t lag_from;     /* packets due before this (the session's start) count no lag */
	uint64_t live;	       /* the first packet due after it: those before are stamped when due */
	struct nb_event ev[4]; /* one per local stage, NB_REQ_RX .. NB_REP_TX */
};

/*
 * Who a limit applies to: routing ids are the peer's choice (a coordinator picks a random one
 * per run), so a client is what it cannot choose: its CURVE key, or with --insecure its IP
 * address. Only the START history lives here; sessions are counted where they are.
 */
struct nb_client {
	char id[NB_SRV_CLIENT_ID];
	uint64_t last_start_ns;
	struct nb_rl starts; /* --max-starts-per-client in NB_SRV_START_WIN_NS */
};

struct nb_refusal {
	char ip[48];
	char why[128];
};

struct nb_sess {
	bool used;
	uint64_t id;
	struct nb_srv *srv;
	struct nb_peer peer;
	char peer_desc[NB_SRV_PEER_DESC];
	char client[NB_SRV_CLIENT_ID];
	struct nb_tracer *tr;
	uint32_t max_batch;
	uint64_t credit;
	uint64_t last_rx_ns; /* lease: the last message from the peer */

	/* The open batch, encoded as events arrive. */
	struct nb_wbuf buf;
	struct nb_wire_batch bt;
	bool open;
	uint64_t first_ev_ns;	/* when the open batch got its first event (agent clock) */
	uint64_t wm_ns;		/* every event before this was read from the ring (raw clock) */
	uint64_t wm_sent;	/* highest watermark put in a batch (reported clock) */
	uint64_t seq;		/* of the next batch that is sent or queued */
	uint64_t last_batch_ns; /* when the last EVENTS message was sent */
	uint64_t next_stats_ns;

	struct nb_sendq sq; /* batches waiting for credit */

	uint64_t events_read, events_sent, batches_sent, lost_queue;
	uint64_t start_ns, end_ns; /* attached; ended by --max-duration at end_ns */
	uint64_t attach_ns;	   /* the tracer's attach time (raw clock) */
	uint64_t cpu_ns;	   /* this thread's CPU spent on the session (attach, ticks) */
	uint8_t proto;		   /* IPPROTO_*, for /metrics */
	struct nb_sdrop *drop; /* drop attribution; NULL when it could not attach */
	struct nb_stun *tun;   /* the VM port's tun ring monitor (serve_tun.c); NULL: not asked */
	struct nb_synth syn;
};

/* What sessions that ended did, for the counters of /metrics. */
struct nb_srv_totals {
	uint64_t events_sent, lost_ring, lost_queue;
	uint64_t cpu_ns;
};

struct nb_metrics;
struct nb_run;
struct nb_learn;

/*
 * The limits a coordinator can run into: each refusal (or session ended by one) is an ERROR
 * NB_WIRE_ELIMIT naming it, a log line, and a count in /metrics (refused_total{limit=...}).
 */
enum nb_limit {
	NB_LIM_SESSIONS,	/* --max-sessions */
	NB_LIM_SESS_CLIENT,	/* --max-sessions-per-client */
	NB_LIM_STARTS_CLIENT,	/* --max-starts-per-client */
	NB_LIM_CLIENTS,		/* --max-clients */
	NB_LIM_INFLIGHT,	/* --max-inflight-events */
	NB_LIM_DURATION,	/* --max-duration */
	NB_LIM__COUNT,
};
/* The option's name without "--", which the error message and the metric label carry. */
const char *nb_limit_name(enum nb_limit l);

struct nb_srv {
	const char *node;
	int64_t off_ns;	    /* --test-clock-offset-ms */
	uint64_t synth_pps; /* --test-synthetic-pps, 0 = off */
	bool no_probes;	    /* --test-no-probes: synthetic sessions attach nothing */
	uint64_t lease_ns;
	uint32_t max_sessions;
	uint32_t max_sess_client;   /* --max-sessions-per-client */
	uint32_t max_starts_client; /* --max-starts-per-client, per NB_SRV_START_WIN_NS */
	uint32_t max_clients;	    /* --max-clients: clients holding sessions at once */
	uint64_t max_inflight;	    /* --max-inflight-events: credit x max_batch */
	uint32_t max_duration_s;    /* --max-duration */
	uint64_t limit_hits[NB_LIM__COUNT];
	const char *def_netns;	    /* --netns, NULL = own */
	void *zctx, *router;
	struct nb_zap *zap;
	struct nb_mon *mon;
	struct nb_client *clients;  /* NB_SRV_CLIENTS */
	uint64_t clients_forgotten; /* START histories pushed out by newer clients */
	struct nb_sess *sess;	    /* max_sessions slots */
	uint32_t n_sess;
	struct nb_learn *learn; /* max_sessions slots: STARTs learning their interfaces */
	uint32_t n_learn;
	struct nb_run *runs; /* max_runs slots (serve_run.c) */
	uint32_t max_runs, n_runs;
	uint64_t runs_started, runs_refused;
	struct nb_wbuf cbuf; /* control messages are encoded here */
	struct nb_msg *rx, *tx;
	uint32_t n_caps;
	char caps[NB_WIRE_MAX_CAPS][NB_WIRE_NAME_MAX + 1];
	uint64_t malformed_rx;
	uint64_t malformed_logged;
	uint64_t next_malformed_log_ns;
	char last_malformed[160];
	uint64_t tx_dropped; /* control messages the send queue had no room for */
	uint64_t started, attach_failures; /* sessions attached, STARTs whose attach failed */
	struct nb_srv_totals ended;
	struct nb_metrics *metrics; /* --metrics-listen, NULL = off */
	struct nb_rt *summary;	    /* --summary: a latency summary tool set up, NULL = none */
	char *summary_args;	    /* its words, which its options point into */
	struct nb_rl eproto_rl;
	struct nb_rl log_rl;

	/* Refused connections: every one counted, at most NB_SRV_REFUSE_LOGS lines a window. */
	uint64_t refused;
	uint64_t refuse_win_ns; /* start of the current log window */
	uint32_t refuse_logged; /* lines in it */
	uint64_t refuse_suppressed;
	struct nb_refusal refusals[NB_SRV_REFUSE_LOGS]; /* what those lines said */
};

/* serve.c */
uint64_t nb_srv_clock(const struct nb_srv *srv, uint64_t mono_ns); /* plus the test offset */
/* 0, -EAGAIN (the peer's send queue is full) or -EHOSTUNREACH (no such peer any more). */
int nb_srv_send(struct nb_srv *srv, const struct nb_peer *peer, const void *data, size_t len);
/* Encodes srv->tx and sends it; a message that cannot go is counted in tx_dropped. */
int nb_srv_send_msg(struct nb_srv *srv, const struct nb_peer *peer);
/* ERROR with a positive errno code and a one-line message; session 0 = none. */
void nb_srv_error(struct nb_srv *srv, const struct nb_peer *peer, int code, uint64_t session,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void nb_srv_log(const struct nb_srv *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t nb_srv_zap_refused(const struct nb_srv *srv);
/* Reads and dispatches the messages waiting on the ROUTER (a bounded number). */
void nb_srv_recv_all(struct nb_srv *srv);

/*
 * A namespace a remote peer may name: one `ip netns` made (a name, or under /run/netns) or a
 * process's own (/proc/PID/ns/net); opening an arbitrary path on its say-so could block on a
 * FIFO or probe the filesystem.
 */
bool nb_srv_netns_ok(const char *name);
/*
 * The client's START history (for --max-starts-per-client), made when new; the oldest is
 * forgotten (counted, logged) once NB_SRV_CLIENTS are kept.
 */
struct nb_client *nb_srv_client(struct nb_srv *srv, const char *id, uint64_t now);

/* serve_run.c: remote runs of the single-host tools (netblame run). */
int nb_run_init(struct nb_srv *srv, uint32_t max);
/* srv->rx->run from peer: checks it, and unless it is a check starts it; replies itself. */
void nb_run_start(struct nb_srv *srv, const struct nb_peer *peer, const char *peer_desc,
		  const char *client, uint64_t now);
struct nb_run *nb_run_find(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id);
/* Any message from peer renews its runs' leases. */
void nb_run_renew(struct nb_srv *srv, const struct nb_peer *peer, uint64_t now);
void nb_run_add_credit(struct nb_run *r, uint32_t credit);
/* SIGINT to the tool (SIGKILL after NB_RUN_GRACE_NS); the run ends once it is reaped. */
void nb_run_stop(struct nb_run *r, const char *why);
/* The pipes to poll (0, 1 or 2 into fds): none while the run's queue is nearly full. */
int nb_run_poll_fds(const struct nb_run *r, int fds[2]);
/* Reads output, runs the lease and the grace period, reaps, ends; the next deadline. */
uint64_t nb_run_tick(struct nb_run *r, uint64_t now);
/* Agent shutdown: every tool stopped, reaped (killed after the grace period), its STOP sent. */
void nb_run_stop_all(struct nb_srv *srv, const char *why);
/* SIGHUP: stops the runs of clients allowed() no longer accepts. */
void nb_run_stop_client(struct nb_srv *srv,
			bool (*allowed)(const struct nb_srv *srv, const char *client));
bool nb_run_used(const struct nb_srv *srv, uint32_t i);
struct nb_run *nb_run_at(struct nb_srv *srv, uint32_t i);

/* serve_caps.c: the kernel's attach capabilities into srv->caps; tcx: the trial attach used it. */
void nb_srv_probe_kcaps(struct nb_srv *srv, bool tcx);

/* serve_sess.c */
/*
 * Validates and starts srv->rx->start for peer, a connection of client; replies STARTED or
 * ERROR itself. A START whose interfaces must be learned from traffic is parked meanwhile
 * (the loop polls nb_sess_learn_fd and calls nb_sess_learn_tick) and answered when that ends.
 */
void nb_sess_start(struct nb_srv *srv, const struct nb_peer *peer, const char *peer_desc,
		   const char *client, uint64_t now);
/* Slot i's (< max_sessions) learning socket to poll, or -1. */
int nb_sess_learn_fd(const struct nb_srv *srv, uint32_t i);
/* Steps the learning STARTs; those done attach or fail. Their next deadline, or UINT64_MAX. */
uint64_t nb_sess_learn_tick(struct nb_srv *srv, uint64_t now);
/* Whether peer's session id is a START still learning (so not "no session"). */
bool nb_sess_learning(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id);
/* STOP of a learning START: given up, answered with STOP. False when there is none. */
bool nb_sess_learn_stop(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id,
			const char *why);
/*
 * Gives up the learning STARTs of clients keep() refuses (every one when keep is NULL, which
 * also frees the slots), each answered ERROR code why.
 */
void nb_sess_learn_cancel(struct nb_srv *srv,
			  bool (*keep)(const struct nb_srv *srv, const char *client), int code,
			  const char *why);
struct nb_sess *nb_sess_find(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id);
/* What it traces: "icmp", "tcp" or "udp". */
const char *nb_sess_kind(const struct nb_sess *s);
/* Drains the ring and runs the session's timers; returns its next deadline (agent clock). */
uint64_t nb_sess_tick(struct nb_sess *s, uint64_t now);
void nb_sess_add_credit(struct nb_sess *s, uint32_t credit);
/* Detaches every probe, flushes what credit allows, sends STATS then STOP(reason). */
void nb_sess_stop(struct nb_sess *s, const char *reason, const char *log_why);
/* Ends a session that ran into --max-duration: ERROR NB_WIRE_ELIMIT, then nb_sess_stop. */
void nb_sess_expire(struct nb_sess *s);
/* The ring's fd to poll, or -1 while a batch is open and the ring is drained on a timer. */
int nb_sess_poll_fd(const struct nb_sess *s);

/* serve_synth.c. -EPROTONOSUPPORT for a flow that is not ICMP. */
/* Packets from the first due after from (the attach); lag is counted from now. */
int nb_synth_init(struct nb_synth *y, const struct nb_flow_spec *spec, uint32_t netns,
		  uint64_t session, uint64_t pps, uint64_t from, uint64_t now);
/* Makes the packets due by now (at most a bounded number) through fn; returns the events. */
int nb_synth_run(struct nb_synth *y, uint64_t now, int (*fn)(const struct nb_event *e, void *ctx),
		 void *ctx);
/* When the next packet is due. */
uint64_t nb_synth_next(const struct nb_synth *y);

/* serve_drop.c: drop attribution of a session (see there). */
/* Attaches the drop tracer; -errno with err set, and the session runs without it. */
int nb_sdrop_start(struct nb_sess *s, const struct nb_flow_spec *spec, const struct nb_netns *ns,
		   char *err, size_t errlen);
/* A drop event about to be batched: sends its DROPINFO first when its key is new. */
void nb_sdrop_event(struct nb_sess *s, const struct nb_event *e);
/*
 * Drops that matched in the kernel, drop events lost, DROPINFO messages sent, OTHERHOST copies
 * left out.
 */
void nb_sdrop_counters(const struct nb_sess *s, uint64_t *seen, uint64_t *lost, uint64_t *sent,
		       uint64_t *copies);
void nb_sdrop_stop(struct nb_sess *s);
/*
 * serve_tun.c: the VM port's tun ring monitor of a session. Start: when monitors asks for it,
 * on the VM's side (local) of the session's interfaces (names rx/tx, as in spec); a port that
 * is no tap, or a monitor that does not attach, is reported (MONITOR attached 0, why), never
 * an error of the session. Report: a MONITOR with the counts since the attach.
 */
void nb_stun_start(struct nb_sess *s, uint32_t monitors, uint8_t local,
		   const struct nb_flow_spec *spec, const struct nb_netns *ns, char (*rx)[16],
		   char (*tx)[16]);
void nb_stun_report(struct nb_sess *s);
void nb_stun_stop(struct nb_sess *s);
/* serve_sess.c: the session's event callback, for rings read with its tracer's. */
int nb_sess_on_event(const struct nb_event *e, void *ctx);

/* serve_mon.c */
/* Watches srv->router; call before it binds. Prints its own one-line error. */
int nb_mon_setup(struct nb_srv *srv);
void *nb_mon_socket(const struct nb_srv *srv);
/* Reads the pending events (a bounded number per call) and logs the refusals among them. */
void nb_mon_handle(struct nb_srv *srv);
/* A message came from the connection of fd (ZMQ_SRCFD): it was not refused. */
void nb_mon_spoke(struct nb_srv *srv, int fd);
/*
 * Logs "refused connection from IP[:PORT]: WHY" unless this IP was refused for WHY already or
 * NB_SRV_REFUSE_LOGS lines went out in this window; counts it in any case. ip: "?" when
 * unknown; port: 0 when unknown.
 */
void nb_srv_refused(struct nb_srv *srv, uint64_t now, const char *ip, unsigned port,
		    const char *why);
/*
 * Says how many refusals were not logged once their window is over (final: now, at exit);
 * returns when it has to look again.
 */
uint64_t nb_mon_tick(struct nb_srv *srv, uint64_t now, bool final);
void nb_mon_destroy(struct nb_srv *srv);

/* serve_metrics.c: /metrics over HTTP (libmicrohttpd), served from the main loop's thread. */
/* addr: "HOST:PORT" or "[V6]:PORT" (PORT 0 picks one). Prints its own one-line error. */
int nb_metrics_start(struct nb_srv *srv, const char *addr);
/* The fd to poll for it (-1 when off), and the longest the loop may wait for its timers. */
int nb_metrics_fd(const struct nb_srv *srv);
void nb_metrics_run(struct nb_srv *srv);
void nb_metrics_stop(struct nb_srv *srv);

/* serve_zap.c: CURVE server setup and the ZAP handler. Prints its own one-line errors. */
#define NB_ZAP_CLIENT_KEY "X-Client-Key" /* ZAP metadata: "SHA256:..." of the client's key */
int nb_zap_setup(struct nb_zap **out, struct nb_srv *srv, const char *secret_file,
		 const char *auth_file);
void *nb_zap_socket(const struct nb_zap *z);
/* Answers the pending ZAP requests (at most a bounded number per call). */
void nb_zap_handle(struct nb_zap *z, uint64_t now);
uint64_t nb_zap_refused(const struct nb_zap *z);
/*
 * Reads --authorized-keys again (SIGHUP) and logs the keys added and removed; a file that
 * does not load leaves the keys in force as they were (-errno, logged).
 */
int nb_zap_reload(struct nb_zap *z);
/* Whether a client key ("SHA256:...") is in the keys in force. */
bool nb_zap_allowed(const struct nb_zap *z, const char *fpr);
void nb_zap_counters(const struct nb_zap *z, uint64_t *reloads, uint64_t *failures,
		     uint32_t *keys);
void nb_zap_destroy(struct nb_zap **pz);

#endif /* NB_SERVE_H */
