// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame-agent serve: a ZeroMQ ROUTER that runs tracing sessions for coordinators.
 *
 * One thread, one zmq_poll loop over the ROUTER, the ZAP handler and every session's ring
 * buffer. Everything a peer controls is bounded: message size (ZMQ_MAXMSGSIZE), queued
 * messages (HWMs), sessions (--max-sessions, and per client --max-sessions-per-client),
 * coordinators holding sessions (--max-clients), STARTs (--max-starts-per-client), events in
 * flight (--max-inflight-events), a session's life (--max-duration) and its life without
 * news (--lease-ms), queued batches (NB_SRV_QUEUE_*), ERROR replies to garbage (10/s), and
 * log lines about refused connections (NB_SRV_REFUSE_LOGS). A limit's refusal is an ERROR
 * NB_WIRE_ELIMIT naming it, counted for /metrics.
 */
#include "agent.h"
#include "serve.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "nb_log.h"
#include "nb_tool.h"
#include "nb_time.h"

#define S_VERSION	     "0.1"
#define S_MAX_SESSIONS	     64
#define S_SESS_PER_CLIENT    2  /* default, or --max-sessions when lower */
#define S_STARTS_PER_CLIENT  10 /* default, in NB_SRV_START_WIN_NS */
#define S_CLIENTS	     4	/* default, or --max-sessions when lower */
#define S_INFLIGHT	     262144 /* default: what `netblame trace` asks (256 x 1024) */
#define S_INFLIGHT_MAX	     (1L << 30)
#define S_DURATION_S	     86400 /* default: a day */
#define S_DURATION_MAX_S     (30L * 86400)
#define S_RX_BATCH	     256 /* messages per loop turn, so the rings get their turn too */
#define S_SNDHWM	     64	 /* per peer; an EVENTS message is up to ~0.5 MiB */
#define S_RCVHWM	     256 /* per peer; each at most NB_WIRE_MAX_CTRL_FRAME */
#define S_SHUTDOWN_LINGER_MS 200
#define S_EPROTO_PER_S	     10
#define S_LOGS_PER_S	     10
#define S_IDLE_WAKE_NS	     1000000000ull

struct s_opts {
	const char *config, *listen, *name, *netns, *secret, *auth, *metrics, *summary;
	bool insecure, verbose, help, no_probes;
	long max_sessions, max_sess_client, max_starts_client, lease_ms, offset_ms, synth_pps;
	long max_clients, max_inflight, max_duration;
	long max_runs;
};

#define S_O(f) offsetof(struct s_opts, f)

static const struct nb_optdef s_optdefs[] = {
	{"config", NB_OPTK_STR, S_O(config), 0, 0, "FILE",
	 "read options from FILE, one 'KEY VALUE' a line, KEY a long option name below (flags "
	 "alone); the command line overrides it",
	 false},
	/* Required, but possibly by the file: checked in s_parse. */
	{"listen", NB_OPTK_STR, S_O(listen), 0, 0, "ENDPOINT",
	 "ZeroMQ endpoint to bind, e.g. tcp://0.0.0.0:7070 (tcp://127.0.0.1:* picks a free port; "
	 "printed as 'listening on ENDPOINT') (required)",
	 false},
	{"name", NB_OPTK_STR, S_O(name), 0, 0, "NODE",
	 "this node's name in replies and logs (required)", false},
	{"netns", NB_OPTK_STR, S_O(netns), 0, 0, "NAME|PATH",
	 "namespace traced when a session names none", false},
	{"secret-key", NB_OPTK_STR, S_O(secret), 0, 0, "FILE",
	 "this agent's CURVE secret key (netblame keygen)", false},
	{"authorized-keys", NB_OPTK_STR, S_O(auth), 0, 0, "FILE",
	 "coordinator public keys allowed to connect; re-read on SIGHUP", false},
	{"metrics-listen", NB_OPTK_STR, S_O(metrics), 0, 0, "HOST:PORT",
	 "serve Prometheus metrics on http://HOST:PORT/metrics (port 0 picks one)", false},
	{"summary", NB_OPTK_STR, S_O(summary), 0, 0, "'TOOL FLAGS'",
	 "run a latency summary tool (system_network_latency_summary or "
	 "vm_network_latency_summary, with its flags but --interval, --duration and --json) for "
	 "as long as the agent runs, its histograms in /metrics (needs --metrics-listen)",
	 false},
	{"insecure", NB_OPTK_FLAG, S_O(insecure), 0, 0, NULL,
	 "no encryption or authentication (labs only)", false},
	{"max-sessions", NB_OPTK_LONG, S_O(max_sessions), 1, S_MAX_SESSIONS, "N",
	 "concurrent sessions (default 4)", false},
	{"max-sessions-per-client", NB_OPTK_LONG, S_O(max_sess_client), 1, S_MAX_SESSIONS, "N",
	 "concurrent sessions of one client: its CURVE key, or with --insecure its IP address "
	 "(default 2, or --max-sessions if lower)",
	 false},
	{"max-starts-per-client", NB_OPTK_LONG, S_O(max_starts_client), 1, NB_RL_MAX, "N",
	 "STARTs one client may send in any 10 s; more are refused (default 10)", false},
	{"max-clients", NB_OPTK_LONG, S_O(max_clients), 1, S_MAX_SESSIONS, "N",
	 "coordinators (clients, as above) holding sessions at once (default 4, or "
	 "--max-sessions if lower)",
	 false},
	{"max-inflight-events", NB_OPTK_LONG, S_O(max_inflight), 1, S_INFLIGHT_MAX, "N",
	 "events a session may have sent unacknowledged: a START asking for more credit x batch "
	 "is refused (default 262144, what netblame trace asks)",
	 false},
	{"max-duration", NB_OPTK_LONG, S_O(max_duration), 1, S_DURATION_MAX_S, "S",
	 "longest a session runs, seconds: a START asking for longer is refused, every session "
	 "is ended this long after its start (default 86400)",
	 false},
	{"lease-ms", NB_OPTK_LONG, S_O(lease_ms), 100, 60000, "MS",
	 "end a session MS after its coordinator fell silent (default 3000)", false},
	{"max-runs", NB_OPTK_LONG, S_O(max_runs), 0, NB_SRV_MAX_RUNS, "N",
	 "single-host tools run at once for coordinators (netblame run; default 4, 0: none)",
	 false},
	{"test-clock-offset-ms", NB_OPTK_LONG, S_O(offset_ms), -86400000L, 86400000L, "MS",
	 "TESTING ONLY: add MS to every reported timestamp", false},
	{"test-synthetic-pps", NB_OPTK_LONG, S_O(synth_pps), 1, 10000000L, "N",
	 "TESTING ONLY: sessions make up N ICMP echoes a second (4 stage events each) in place "
	 "of traced ones; the probes stay attached, their events unread",
	 false},
	{"test-no-probes", NB_OPTK_FLAG, S_O(no_probes), 0, 0, NULL,
	 "TESTING ONLY: with --test-synthetic-pps, sessions attach no probe at all (many agents "
	 "on one kernel would otherwise each run their programs on all the others' traffic)",
	 false},
	{"verbose", NB_OPTK_FLAG, S_O(verbose), 0, 0, NULL, "libbpf debug output", false},
	{"help", NB_OPTK_FLAG, S_O(help), 0, 0, NULL, "this text", false},
};
#define S_NOPTDEFS (sizeof(s_optdefs) / sizeof(s_optdefs[0]))

static void s_help(FILE *f)
{
	fprintf(f, "usage: netblame-agent serve [--config FILE] --listen ENDPOINT --name NODE\n"
		   "         [--netns NAME|PATH]\n"
		   "         (--insecure | --secret-key FILE --authorized-keys FILE)\n"
		   "         [--max-sessions N] [--max-sessions-per-client N]\n"
		   "         [--max-starts-per-client N] [--max-clients N]\n"
		   "         [--max-inflight-events N] [--max-duration S] [--max-runs N]\n"
		   "         [--lease-ms MS]\n"
		   "Runs tracing sessions for netblame coordinators over ZeroMQ.\n\n");
	nb_opts_help_table(f, s_optdefs, S_NOPTDEFS);
}


/* Printable, no spaces: it prefixes every log line and goes to coordinators' terminals. */
static bool s_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (!len || len > NB_WIRE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (n[i] <= 0x20 || n[i] >= 0x7f)
			return false;
	return true;
}

/*
 * 0 to run, -1 after --help, else an exit code after a one-line error. The strings in o may
 * point into *keep (the --config file's text): free it after o.
 */
static int s_parse(int argc, char **argv, struct s_opts *o, char **keep)
{
	struct s_opts cmd = {0};
	char err[320];

	*keep = NULL;
	memset(o, 0, sizeof(*o));
	o->max_sessions = 4;
	o->max_runs = 4;
	o->lease_ms = 3000;
	/* The command line once to find --config, and again over the file so that it wins. */
	if (nb_opts_parse_table(s_optdefs, S_NOPTDEFS, argc, argv, 1, &cmd, &cmd.help, err,
				sizeof(err))) {
		nb_err("%s (see --help)", err);
		return NB_EXIT_USAGE;
	}
	if (cmd.help) {
		s_help(stdout);
		return -1;
	}
	if (cmd.config &&
	    nb_opts_parse_file(s_optdefs, S_NOPTDEFS, cmd.config, o, keep, err, sizeof(err))) {
		nb_err("%s", err);
		return NB_EXIT_USAGE;
	}
	if (nb_opts_parse_table(s_optdefs, S_NOPTDEFS, argc, argv, 1, o, &o->help, err,
				sizeof(err))) {
		nb_err("%s (see --help)", err);
		return NB_EXIT_USAGE;
	}
	if (!o->listen || !o->listen[0]) {
		nb_err("--listen ENDPOINT is required (see --help)");
		return NB_EXIT_USAGE;
	}
	if (!o->name) {
		nb_err("--name NODE is required (see --help)");
		return NB_EXIT_USAGE;
	}
	if (!s_name_ok(o->name)) {
		nb_err("invalid --name '%s' (1 to %d printable characters, no spaces)", o->name,
		       NB_WIRE_NAME_MAX);
		return NB_EXIT_USAGE;
	}
	if (o->insecure && (o->secret || o->auth)) {
		nb_err("--insecure excludes --secret-key and --authorized-keys");
		return NB_EXIT_USAGE;
	}
	if (!o->insecure && (!o->secret || !o->auth)) {
		nb_err("need --secret-key FILE and --authorized-keys FILE, or --insecure");
		return NB_EXIT_USAGE;
	}
	if (o->max_sess_client > o->max_sessions) {
		nb_err("--max-sessions-per-client %ld is more than --max-sessions %ld",
		       o->max_sess_client, o->max_sessions);
		return NB_EXIT_USAGE;
	}
	if (!o->max_sess_client)
		o->max_sess_client =
		    o->max_sessions < S_SESS_PER_CLIENT ? o->max_sessions : S_SESS_PER_CLIENT;
	if (!o->max_starts_client)
		o->max_starts_client = S_STARTS_PER_CLIENT;
	if (o->no_probes && !o->synth_pps) {
		nb_err("--test-no-probes needs --test-synthetic-pps");
		return NB_EXIT_USAGE;
	}
	if (o->summary && !o->metrics) {
		nb_err("--summary needs --metrics-listen: its histograms are read there");
		return NB_EXIT_USAGE;
	}
	if (o->max_clients > o->max_sessions) {
		nb_err("--max-clients %ld is more than --max-sessions %ld", o->max_clients,
		       o->max_sessions);
		return NB_EXIT_USAGE;
	}
	if (!o->max_clients)
		o->max_clients = o->max_sessions < S_CLIENTS ? o->max_sessions : S_CLIENTS;
	if (!o->max_inflight)
		o->max_inflight = S_INFLIGHT;
	if (!o->max_duration)
		o->max_duration = S_DURATION_S;
	return 0;
}

/* ---- helpers shared with serve_sess.c ---- */

uint64_t nb_srv_clock(const struct nb_srv *srv, uint64_t mono_ns)
{
	if (srv->off_ns < 0 && mono_ns < (uint64_t)-srv->off_ns)
		return 0;
	return mono_ns + (uint64_t)srv->off_ns;
}

void nb_srv_log(const struct nb_srv *srv, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", srv->node);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t nb_srv_zap_refused(const struct nb_srv *srv)
{
	return nb_zap_refused(srv->zap);
}

int nb_srv_send(struct nb_srv *srv, const struct nb_peer *peer, const void *data, size_t len)
{
	/* ROUTER_MANDATORY: a full or vanished peer is an error here, not a silent drop. */
	if (zmq_send(srv->router, peer->id, peer->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return errno == EHOSTUNREACH ? -EHOSTUNREACH : -EAGAIN;
	/* The second frame of a message whose first was accepted cannot fail. */
	if (zmq_send(srv->router, data, len, ZMQ_DONTWAIT) < 0)
		return -errno;
	return 0;
}

int nb_srv_send_msg(struct nb_srv *srv, const struct nb_peer *peer)
{
	int rc = nb_wire_encode_buf(srv->tx, &srv->cbuf);

	if (rc) {
		/* Our own bug, never the peer's: say so once in a while, keep serving. */
		if (nb_rl_take(&srv->log_rl, nb_mono_ns()))
			nb_srv_log(srv, "cannot encode %s: %s", nb_msg_type_name(srv->tx->type),
				   strerror(-rc));
		return rc;
	}
	rc = nb_srv_send(srv, peer, srv->cbuf.data, srv->cbuf.len);
	if (rc)
		srv->tx_dropped++;
	return rc;
}

void nb_srv_error(struct nb_srv *srv, const struct nb_peer *peer, int code, uint64_t session,
		  const char *fmt, ...)
{
	struct nb_msg_error *e;
	va_list ap;

	memset(srv->tx, 0, sizeof(*srv->tx));
	srv->tx->type = NB_MSG_ERROR;
	e = &srv->tx->error;
	e->code = code;
	e->session = session;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	/* Texts here are clean already; the encoder would refuse the whole ERROR otherwise. */
	for (char *p = e->message; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	nb_srv_send_msg(srv, peer);
}

/* ---- messages ---- */

static void s_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* "ADDRESS" or "ADDRESS (USER)" for log lines: who the peer is, as libzmq saw it. */
static void s_peer_desc(zmq_msg_t *m, char *out, size_t size)
{
	const char *addr = zmq_msg_gets(m, "Peer-Address");
	const char *user = zmq_msg_gets(m, "User-Id");
	char a[48], u[40];

	snprintf(a, sizeof(a), "%s", addr && *addr ? addr : "?");
	s_clean(a);
	if (user && *user) {
		snprintf(u, sizeof(u), "%s", user);
		s_clean(u);
		snprintf(out, size, "%s (%s)", a, u);
	} else {
		snprintf(out, size, "%s", a);
	}
}

/*
 * Who sent body, for the per-client limits. Under CURVE the key our ZAP handler attached (its
 * metadata wins over any property the peer sends); with --insecure the IP address, which
 * libzmq takes from the socket. Over ipc:// there is none and every such client is one.
 */
static void s_client_id(const struct nb_srv *srv, zmq_msg_t *body, char *out, size_t size)
{
	const char *key = srv->zap ? zmq_msg_gets(body, NB_ZAP_CLIENT_KEY) : NULL;
	const char *addr = zmq_msg_gets(body, "Peer-Address");
	int n;

	if (key && *key)
		n = snprintf(out, size, "key ");
	else
		n = snprintf(out, size, "address ");
	snprintf(out + n, size - (size_t)n, "%s", key && *key ? key : addr && *addr ? addr : "?");
	s_clean(out + n);
}

/*
 * A connection admitted before a SIGHUP removed its key stays open (libzmq cannot close one
 * peer of a ROUTER), so what it asks is checked against the keys in force.
 */
static bool s_still_allowed(const struct nb_srv *srv, const char *client)
{
	return !srv->zap || strncmp(client, "key ", 4) || nb_zap_allowed(srv->zap, client + 4);
}

/* SIGHUP: the allowlist again; sessions of a key no longer in it end at once. */
static void s_reload(struct nb_srv *srv)
{
	if (!srv->zap) {
		nb_srv_log(srv, "SIGHUP: nothing to reload (--insecure)");
		return;
	}
	if (nb_zap_reload(srv->zap))
		return;
	nb_run_stop_client(srv, s_still_allowed);
	nb_sess_learn_cancel(srv, s_still_allowed, EACCES,
			     "this coordinator's key was removed from the authorized keys");
	for (uint32_t i = 0; i < srv->max_sessions; i++) {
		struct nb_sess *s = &srv->sess[i];

		if (s->used && !s_still_allowed(srv, s->client))
			nb_sess_stop(s, "key no longer authorized",
				     "its coordinator's key was removed from the authorized keys");
	}
}

static void s_malformed(struct nb_srv *srv, const struct nb_peer *peer, uint64_t now,
			const char *desc, const char *why)
{
	srv->malformed_rx++;
	snprintf(srv->last_malformed, sizeof(srv->last_malformed), "%s from %s", why, desc);
	if (nb_rl_take(&srv->eproto_rl, now))
		nb_srv_error(srv, peer, EPROTO, 0, "malformed message: %s", why);
}

static void s_hello(struct nb_srv *srv, const struct nb_peer *peer)
{
	struct nb_msg_hello *h;

	memset(srv->tx, 0, sizeof(*srv->tx));
	srv->tx->type = NB_MSG_HELLO;
	h = &srv->tx->hello;
	snprintf(h->name, sizeof(h->name), "%s", srv->node);
	snprintf(h->version, sizeof(h->version), "%s", S_VERSION);
	h->proto = NB_WIRE_VERSION;
	h->n_caps = srv->n_caps;
	memcpy(h->caps, srv->caps, sizeof(h->caps));
	h->clock_ns = nb_srv_clock(srv, nb_mono_ns());
	h->sessions = srv->n_sess + srv->n_learn + srv->n_runs;
	nb_srv_send_msg(srv, peer);
}

static void s_ping(struct nb_srv *srv, const struct nb_peer *peer, uint64_t now)
{
	struct nb_msg_ping ping = srv->rx->ping;
	struct nb_sess *s = ping.session ? nb_sess_find(srv, peer, ping.session) : NULL;
	struct nb_run *r = ping.session && !s ? nb_run_find(srv, peer, ping.session) : NULL;
	struct nb_msg_pong *p;

	memset(srv->tx, 0, sizeof(*srv->tx));
	srv->tx->type = NB_MSG_PONG;
	p = &srv->tx->pong;
	p->seq = ping.seq;
	p->t_coord = ping.t_coord;
	p->t_agent = nb_srv_clock(srv, now);
	p->session = ping.session;
	/* The credit left before this PING's grant, so the coordinator can reconcile. */
	p->credit = s ? (uint32_t)s->credit : 0;
	nb_srv_send_msg(srv, peer);
	/* The PONG still went: its clock sample is good whatever became of the session. */
	if (ping.session && !s && !r && !nb_sess_learning(srv, peer, ping.session))
		nb_srv_error(srv, peer, ENOENT, ping.session, "no session %llu",
			     (unsigned long long)ping.session);
	if (s && ping.credit)
		nb_sess_add_credit(s, ping.credit);
	if (r && ping.credit)
		nb_run_add_credit(r, ping.credit);
}

static void s_dispatch(struct nb_srv *srv, const struct nb_peer *peer, zmq_msg_t *body,
		       uint64_t now)
{
	struct nb_msg *m = srv->rx;
	char desc[NB_SRV_PEER_DESC], why[NB_WIRE_STR_MAX + 64], client[NB_SRV_CLIENT_ID];
	struct nb_sess *s;
	struct nb_run *r;
	int rc;

	rc = nb_wire_decode(zmq_msg_data(body), zmq_msg_size(body), m);
	if (rc) {
		s_peer_desc(body, desc, sizeof(desc));
		s_malformed(srv, peer, now, desc, strerror(-rc));
		return;
	}
	switch (m->type) {
	case NB_MSG_HELLO:
		s_hello(srv, peer);
		break;
	case NB_MSG_START:
		s_peer_desc(body, desc, sizeof(desc));
		s_client_id(srv, body, client, sizeof(client));
		if (!s_still_allowed(srv, client)) {
			nb_srv_error(srv, peer, EACCES, m->start.session,
				     "this coordinator's key was removed from the authorized keys");
			break;
		}
		nb_sess_start(srv, peer, desc, client, now);
		break;
	case NB_MSG_RUN:
		s_peer_desc(body, desc, sizeof(desc));
		s_client_id(srv, body, client, sizeof(client));
		if (!s_still_allowed(srv, client)) {
			nb_srv_error(srv, peer, EACCES, m->run.session,
				     "this coordinator's key was removed from the authorized keys");
			break;
		}
		nb_run_start(srv, peer, desc, client, now);
		break;
	case NB_MSG_PING:
		s_ping(srv, peer, now);
		break;
	case NB_MSG_CREDIT:
		s = nb_sess_find(srv, peer, m->credit.session);
		r = s ? NULL : nb_run_find(srv, peer, m->credit.session);
		if (s)
			nb_sess_add_credit(s, m->credit.credit);
		else if (r)
			nb_run_add_credit(r, m->credit.credit);
		else if (nb_sess_learning(srv, peer, m->credit.session))
			; /* no event sent yet, so none to grant credit for */
		else
			nb_srv_error(srv, peer, ENOENT, m->credit.session, "no session %llu",
				     (unsigned long long)m->credit.session);
		break;
	case NB_MSG_STOP:
		s = nb_sess_find(srv, peer, m->stop.session);
		r = s ? NULL : nb_run_find(srv, peer, m->stop.session);
		if (r) {
			nb_run_stop(r, "stopped by the coordinator");
			break;
		}
		snprintf(why, sizeof(why), "stopped by the coordinator: %s",
			 m->stop.reason[0] ? m->stop.reason : "no reason");
		if (!s && nb_sess_learn_stop(srv, peer, m->stop.session, why))
			break;
		if (!s) {
			nb_srv_error(srv, peer, ENOENT, m->stop.session, "no session %llu",
				     (unsigned long long)m->stop.session);
			break;
		}
		nb_sess_stop(s, "stopped", why);
		break;
	case NB_MSG_ERROR:
		/* Never answered: two peers must not be able to bounce ERRORs forever. */
		if (nb_rl_take(&srv->log_rl, now)) {
			s_peer_desc(body, desc, sizeof(desc));
			nb_srv_log(srv, "error from %s (session %llu): %s: %s", desc,
				   (unsigned long long)m->error.session,
				   m->error.code > 0 ? strerror(m->error.code) : "?",
				   m->error.message);
		}
		break;
	default:
		s_peer_desc(body, desc, sizeof(desc));
		snprintf(why, sizeof(why), "%s is not a message an agent receives",
			 nb_msg_type_name(m->type));
		s_malformed(srv, peer, now, desc, why);
		break;
	}
	nb_msg_clear(m);
}

static void s_renew(struct nb_srv *srv, const struct nb_peer *peer, uint64_t now)
{
	for (uint32_t i = 0; i < srv->max_sessions; i++) {
		struct nb_sess *s = &srv->sess[i];

		if (s->used && s->peer.len == peer->len && !memcmp(s->peer.id, peer->id, peer->len))
			s->last_rx_ns = now;
	}
	nb_run_renew(srv, peer, now);
}

static void s_recv_all(struct nb_srv *srv)
{
	for (int i = 0; i < S_RX_BATCH; i++) {
		zmq_msg_t id, body, extra;
		struct nb_peer peer;
		bool more;
		int parts = 0;
		uint64_t now;

		zmq_msg_init(&id);
		if (zmq_msg_recv(&id, srv->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&id);
			return;
		}
		now = nb_mono_ns();
		peer.len = zmq_msg_size(&id) < NB_SRV_ID_MAX ? zmq_msg_size(&id) : NB_SRV_ID_MAX;
		memcpy(peer.id, zmq_msg_data(&id), peer.len);
		more = zmq_msg_more(&id);
		zmq_msg_close(&id);
		if (!more) /* a ROUTER always delivers the routing id first, then the message */
			continue;
		zmq_msg_init(&body);
		if (zmq_msg_recv(&body, srv->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&body);
			return;
		}
		/* A message of ours is one frame: drain and refuse anything longer. */
		more = zmq_msg_more(&body);
		while (more) {
			zmq_msg_init(&extra);
			if (zmq_msg_recv(&extra, srv->router, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&extra);
				break;
			}
			more = zmq_msg_more(&extra);
			zmq_msg_close(&extra);
			parts++;
		}
		s_renew(srv, &peer, now);
		nb_mon_spoke(srv, zmq_msg_get(&body, ZMQ_SRCFD));
		if (parts) {
			char desc[NB_SRV_PEER_DESC];

			s_peer_desc(&body, desc, sizeof(desc));
			s_malformed(srv, &peer, now, desc, "more than one frame");
		} else {
			s_dispatch(srv, &peer, &body, now);
		}
		zmq_msg_close(&body);
	}
}

void nb_srv_recv_all(struct nb_srv *srv)
{
	s_recv_all(srv);
}

/* ---- the loop ---- */

/* Unread messages on the ROUTER: one of them may be the PING that renews a lease. */
static bool s_rx_pending(const struct nb_srv *srv)
{
	int ev = 0;
	size_t len = sizeof(ev);

	return !zmq_getsockopt(srv->router, ZMQ_EVENTS, &ev, &len) && (ev & ZMQ_POLLIN);
}

/*
 * A lease is judged only once the messages already received are read: a slow turn of the
 * loop (a session start loads BPF) must not expire a session whose PING is waiting. A peer
 * flooding the socket can postpone that by one more lease at most.
 */
static bool s_lease_over(const struct nb_srv *srv, const struct nb_sess *s, uint64_t now)
{
	if (now - s->last_rx_ns < srv->lease_ns)
		return false;
	return now - s->last_rx_ns >= 2 * srv->lease_ns || !s_rx_pending(srv);
}

static uint64_t s_timers(struct nb_srv *srv)
{
	uint64_t now = nb_mono_ns(), next = now + S_IDLE_WAKE_NS, d;

	for (uint32_t i = 0; i < srv->max_sessions; i++) {
		struct nb_sess *s = &srv->sess[i];
		uint64_t cpu0;
		char why[96];

		if (!s->used)
			continue;
		cpu0 = nb_thread_cpu_ns();
		if (now >= s->end_ns) {
			nb_sess_expire(s);
			continue;
		}
		if (s_lease_over(srv, s, now)) {
			snprintf(why, sizeof(why),
				 "lease expired: nothing from the coordinator for %llu ms",
				 (unsigned long long)((now - s->last_rx_ns) / 1000000));
			nb_sess_stop(s, "lease expired", why);
			continue;
		}
		d = nb_sess_tick(s, now);
		s->cpu_ns += nb_thread_cpu_ns() - cpu0;
		if (d < next)
			next = d;
		d = s->last_rx_ns + srv->lease_ns;
		if (d > now && d < next)
			next = d;
		if (s->end_ns < next)
			next = s->end_ns;
	}
	for (uint32_t i = 0; i < srv->max_runs; i++) {
		if (!nb_run_used(srv, i))
			continue;
		d = nb_run_tick(nb_run_at(srv, i), now);
		if (d < next)
			next = d;
	}
	/* STARTs learning their interfaces: their sockets are read here, like the rings. */
	d = nb_sess_learn_tick(srv, now);
	if (d < next)
		next = d;
	d = nb_mon_tick(srv, now, false);
	if (d < next)
		next = d;
	/* Garbage is logged as a count once a second, not a line per frame. */
	if (srv->malformed_rx != srv->malformed_logged) {
		if (now >= srv->next_malformed_log_ns) {
			nb_srv_log(srv, "%llu malformed messages (malformed_rx=%llu), last: %s",
				   (unsigned long long)(srv->malformed_rx - srv->malformed_logged),
				   (unsigned long long)srv->malformed_rx, srv->last_malformed);
			srv->malformed_logged = srv->malformed_rx;
			srv->next_malformed_log_ns = now + 1000000000ull;
		} else if (srv->next_malformed_log_ns < next) {
			next = srv->next_malformed_log_ns;
		}
	}
	return next;
}

static volatile sig_atomic_t s_hup;

static void s_on_hup(int sig)
{
	(void)sig;
	s_hup = 1;
}

static int s_loop(struct nb_srv *srv)
{
	zmq_pollitem_t items[4 + 2 * S_MAX_SESSIONS + 2 * NB_SRV_MAX_RUNS];

	while (!nb_stop) {
		if (s_hup) {
			s_hup = 0;
			s_reload(srv);
		}
		uint64_t next = s_timers(srv), now;
		int n = 0, zap_at = -1, met_at = -1, rc;
		long timeout;

		items[n++] = (zmq_pollitem_t){.socket = srv->router, .events = ZMQ_POLLIN};
		items[n++] = (zmq_pollitem_t){.socket = nb_mon_socket(srv), .events = ZMQ_POLLIN};
		if (srv->zap) {
			zap_at = n;
			items[n++] = (zmq_pollitem_t){.socket = nb_zap_socket(srv->zap),
						      .events = ZMQ_POLLIN};
		}
		if (nb_metrics_fd(srv) >= 0) {
			met_at = n;
			items[n++] = (zmq_pollitem_t){.fd = nb_metrics_fd(srv), .events = ZMQ_POLLIN};
		}
		for (uint32_t i = 0; i < srv->max_sessions; i++) {
			int fd = srv->sess[i].used ? nb_sess_poll_fd(&srv->sess[i]) : -1;

			if (fd >= 0)
				items[n++] = (zmq_pollitem_t){.fd = fd, .events = ZMQ_POLLIN};
			fd = nb_sess_learn_fd(srv, i);
			if (fd >= 0)
				items[n++] = (zmq_pollitem_t){.fd = fd, .events = ZMQ_POLLIN};
		}
		/* A tool's output is read by its run's tick, at the top of the loop. */
		for (uint32_t i = 0; i < srv->max_runs; i++) {
			int fds[2], k = nb_run_used(srv, i) ? nb_run_poll_fds(nb_run_at(srv, i), fds)
							    : 0;

			for (int j = 0; j < k; j++)
				items[n++] = (zmq_pollitem_t){.fd = fds[j], .events = ZMQ_POLLIN};
		}
		now = nb_mono_ns();
		timeout = next > now ? (long)((next - now + 999999) / 1000000) : 0;
		rc = zmq_poll(items, n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			nb_srv_log(srv, "poll failed: %s", zmq_strerror(errno));
			return NB_EXIT_ERR;
		}
		/* Admission first: a handshake waits on it inside libzmq. */
		if (zap_at >= 0 && (items[zap_at].revents & ZMQ_POLLIN))
			nb_zap_handle(srv->zap, nb_mono_ns());
		if (items[1].revents & ZMQ_POLLIN)
			nb_mon_handle(srv);
		if (items[0].revents & ZMQ_POLLIN)
			s_recv_all(srv);
		/* Also when idle: libmicrohttpd times out its connections in MHD_run. */
		if (met_at >= 0 && ((items[met_at].revents & ZMQ_POLLIN) || rc == 0))
			nb_metrics_run(srv);
		/* Ready rings are drained by the session ticks at the top of the loop. */
	}
	return NB_EXIT_OK;
}

/* ---- setup ---- */

#define S_SUMMARY_ARGS 32

/*
 * --summary 'TOOL FLAGS': the tool's own option parser and runtime, set up once and left
 * running (its kernel histograms fill by themselves); /metrics reads them through ops->hists.
 * Flags are split on blanks: none of a summary tool's values holds one.
 */
static int s_summary(struct nb_srv *srv, const char *spec)
{
	char *copy = strdup(spec), *argv[S_SUMMARY_ARGS + 1], *save = NULL, err[256];
	const struct nb_tool *t;
	struct nb_opts o;
	int argc = 0, rc = 0;

	if (!copy) {
		nb_err("out of memory");
		return NB_EXIT_ERR;
	}
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (argc == S_SUMMARY_ARGS) {
			nb_err("--summary: more than %d words", S_SUMMARY_ARGS);
			free(copy);
			return NB_EXIT_USAGE;
		}
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	t = argc ? nb_tool_find(argv[0]) : NULL;
	if (!t || !t->ops || !t->ops->hists) {
		nb_err("--summary: '%s' is not a latency summary tool (system_network_latency_summary "
		       "or vm_network_latency_summary)",
		       argc ? argv[0] : "");
		free(copy);
		return NB_EXIT_USAGE;
	}
	if (nb_opts_parse(t->opts, t->n_opts, argc, argv, &o, err, sizeof(err))) {
		nb_err("--summary: %s", err);
		rc = NB_EXIT_USAGE;
	} else if (o.json || o.duration || o.count) {
		nb_err("--summary: --json, --duration and --count do not apply: it runs as long as "
		       "the agent and reports in /metrics");
		rc = NB_EXIT_USAGE;
	} else {
		rc = nb_tool_open(&srv->summary, t, &o);
	}
	if (!rc)
		nb_srv_log(srv, "summary: %s", spec);
	/* The tool keeps pointers into its options, which point into copy. */
	if (rc)
		free(copy);
	else
		srv->summary_args = copy;
	return rc == NB_EXIT_USAGE ? NB_EXIT_USAGE : rc ? NB_EXIT_ERR : 0;
}

static int s_noop_event(const struct nb_event *e, void *ctx)
{
	(void)e;
	(void)ctx;
	return 0;
}

/*
 * A trial attach, detached at once: HELLO then tells the coordinator what this kernel offers,
 * and an agent without BPF rights says so at start rather than at the first session.
 */
static void s_probe_caps(struct nb_srv *srv)
{
	struct nb_tracer_cfg cfg = {0};
	struct nb_tracer *t = NULL;
	const char *hooks[8];
	char err[256];
	size_t n;

	cfg.filter.netns = 1; /* no namespace has inode 1: the trial sees no packet */
	/* On loopback, so that tcx is tried as a session would (lo is ifindex 1 everywhere). */
	cfg.filter.n_ifindex = 1;
	cfg.filter.ifindex[0] = 1;
	cfg.ringbuf_bytes = 64 << 10;
	if (nb_tracer_open(&t, &cfg, s_noop_event, NULL, err, sizeof(err))) {
		nb_srv_log(srv, "warning: sessions will fail until this is fixed: %s", err);
		nb_srv_probe_kcaps(srv, false);
		return;
	}
	nb_srv_probe_kcaps(srv, !strcmp(nb_tracer_hooks(t), "tcx"));
	n = nb_tracer_caps(t, hooks, 8);
	for (size_t i = 0; i < n && srv->n_caps < NB_WIRE_MAX_CAPS; i++)
		snprintf(srv->caps[srv->n_caps++], sizeof(srv->caps[0]), "%s", hooks[i]);
	nb_tracer_destroy(&t);
}

static int s_setsock(struct nb_srv *srv, int opt, const void *val, size_t len, const char *what)
{
	if (zmq_setsockopt(srv->router, opt, val, len) == 0)
		return 0;
	nb_err("cannot set %s: %s", what, zmq_strerror(errno));
	return -1;
}

static int s_open_router(struct nb_srv *srv, const struct s_opts *o)
{
	int one = 1, zero = 0, sndhwm = S_SNDHWM, rcvhwm = S_RCVHWM, hs = NB_SRV_HANDSHAKE_MS;
	int64_t maxmsg = NB_WIRE_MAX_CTRL_FRAME;
	char ep[256];
	size_t eplen = sizeof(ep);

	srv->zctx = zmq_ctx_new();
	if (!srv->zctx) {
		nb_err("cannot create a ZeroMQ context: %s", zmq_strerror(errno));
		return NB_EXIT_ERR;
	}
	srv->router = zmq_socket(srv->zctx, ZMQ_ROUTER);
	if (!srv->router) {
		nb_err("cannot create the ROUTER socket: %s", zmq_strerror(errno));
		return NB_EXIT_ERR;
	}
	/*
	 * Sessions belong to a routing id. HANDOVER lets a coordinator that sets its own
	 * ZMQ_ROUTING_ID reconnect (a TCP hiccup) and keep its sessions; any peer may only ever
	 * act on the sessions of the id it presents, and under CURVE every peer is authorised.
	 */
	if (s_setsock(srv, ZMQ_ROUTER_MANDATORY, &one, sizeof(one), "ROUTER_MANDATORY") ||
	    s_setsock(srv, ZMQ_ROUTER_HANDOVER, &one, sizeof(one), "ROUTER_HANDOVER") ||
	    s_setsock(srv, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg), "MAXMSGSIZE") ||
	    s_setsock(srv, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm), "SNDHWM") ||
	    s_setsock(srv, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm), "RCVHWM") ||
	    s_setsock(srv, ZMQ_LINGER, &zero, sizeof(zero), "LINGER") ||
	    s_setsock(srv, ZMQ_HANDSHAKE_IVL, &hs, sizeof(hs), "HANDSHAKE_IVL"))
		return NB_EXIT_ERR;
	if (!o->insecure && nb_zap_setup(&srv->zap, srv, o->secret, o->auth))
		return NB_EXIT_ERR;
	/* Before the bind, so that no connection goes unwatched. */
	if (nb_mon_setup(srv))
		return NB_EXIT_ERR;
	if (zmq_bind(srv->router, o->listen)) {
		nb_err("cannot listen on %s: %s", o->listen, zmq_strerror(errno));
		return NB_EXIT_ERR;
	}
	if (zmq_getsockopt(srv->router, ZMQ_LAST_ENDPOINT, ep, &eplen)) {
		nb_err("cannot read the bound endpoint: %s", zmq_strerror(errno));
		return NB_EXIT_ERR;
	}
	ep[sizeof(ep) - 1] = 0;
	printf("listening on %s\n", ep);
	fflush(stdout);
	nb_srv_log(srv,
		   "listening on %s (%s, at most %u sessions, %u per client, %u clients, %u "
		   "STARTs per client in 10 s, %llu events in flight, %u s a session, %u runs, "
		   "lease %llu ms)",
		   ep, o->insecure ? "INSECURE" : "CURVE", srv->max_sessions, srv->max_sess_client,
		   srv->max_clients, srv->max_starts_client, (unsigned long long)srv->max_inflight,
		   srv->max_duration_s, srv->max_runs, (unsigned long long)(srv->lease_ns / 1000000));
	return 0;
}

int nb_serve(int argc, char **argv)
{
	struct nb_srv srv = {0};
	struct nb_netns ns = {.fd = -1};
	struct sigaction hup = {.sa_handler = s_on_hup};
	char err[256], *conf = NULL;
	struct s_opts o;
	int rc;

	rc = s_parse(argc, argv, &o, &conf);
	if (rc) {
		free(conf);
		return rc < 0 ? NB_EXIT_OK : rc;
	}
	if (o.insecure)
		nb_warn("--insecure: no encryption or authentication; anyone who can reach %s "
			"can trace this host",
			o.listen);
	if (o.netns) {
		/* Checked now so a typo fails at start; each session opens it anew. */
		if (nb_netns_open(&ns, o.netns, err, sizeof(err))) {
			nb_err("%s", err);
			free(conf);
			return NB_EXIT_USAGE;
		}
		nb_netns_close(&ns);
	}
	srv.node = o.name;
	srv.off_ns = (int64_t)o.offset_ms * 1000000;
	srv.synth_pps = (uint64_t)o.synth_pps;
	srv.no_probes = o.no_probes;
	srv.lease_ns = (uint64_t)o.lease_ms * 1000000;
	srv.max_sessions = (uint32_t)o.max_sessions;
	srv.max_sess_client = (uint32_t)o.max_sess_client;
	srv.max_starts_client = (uint32_t)o.max_starts_client;
	srv.max_clients = (uint32_t)o.max_clients;
	srv.max_inflight = (uint64_t)o.max_inflight;
	srv.max_duration_s = (uint32_t)o.max_duration;
	srv.def_netns = o.netns;
	srv.eproto_rl.max = S_EPROTO_PER_S;
	srv.log_rl.max = S_LOGS_PER_S;
	srv.sess = calloc(srv.max_sessions, sizeof(*srv.sess));
	if (nb_run_init(&srv, (uint32_t)o.max_runs)) {
		nb_err("out of memory");
		rc = NB_EXIT_ERR;
		goto out;
	}
	srv.clients = calloc(NB_SRV_CLIENTS, sizeof(*srv.clients));
	srv.rx = calloc(1, sizeof(*srv.rx));
	srv.tx = calloc(1, sizeof(*srv.tx));
	if (!srv.sess || !srv.clients || !srv.rx || !srv.tx) {
		nb_err("out of memory");
		rc = NB_EXIT_ERR;
		goto out;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (o.offset_ms)
		nb_srv_log(&srv, "TESTING: every reported timestamp is offset by %ld ms",
			   o.offset_ms);
	if (o.synth_pps)
		nb_srv_log(&srv, "TESTING: sessions make up %ld ICMP echoes/s instead of tracing%s",
			   o.synth_pps, o.no_probes ? ", with no probe attached" : "");
	nb_bpf_setup(o.verbose);
	nb_install_signals();
	/* A daemon's SIGHUP is a reload, not a stop (the tools stop on it). */
	sigemptyset(&hup.sa_mask);
	sigaction(SIGHUP, &hup, NULL);
	s_probe_caps(&srv);
	if (o.summary) {
		rc = s_summary(&srv, o.summary);
		if (rc)
			goto out;
	}
	/* Before the ROUTER: a bad address must not leave an agent that said "listening". */
	if (o.metrics) {
		rc = nb_metrics_start(&srv, o.metrics);
		if (rc)
			goto out;
	}
	rc = s_open_router(&srv, &o);
	if (rc)
		goto out;
	rc = s_loop(&srv);
	nb_sess_learn_cancel(&srv, NULL, ESHUTDOWN, "agent shutting down");
	for (uint32_t i = 0; i < srv.max_sessions; i++)
		nb_sess_stop(&srv.sess[i], "agent shutting down", "agent shutting down");
	nb_run_stop_all(&srv, "agent shutting down");
	nb_mon_tick(&srv, nb_mono_ns(), true);
	nb_srv_log(&srv, "stopped");
out:
	nb_metrics_stop(&srv);
	nb_tool_close(&srv.summary);
	free(srv.summary_args);
	nb_mon_destroy(&srv);
	if (srv.router) {
		/* Long enough for the final STOPs to leave, short enough never to hang an exit. */
		int linger = S_SHUTDOWN_LINGER_MS;

		zmq_setsockopt(srv.router, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(srv.router);
	}
	nb_zap_destroy(&srv.zap);
	if (srv.zctx)
		zmq_ctx_term(srv.zctx);
	nb_wbuf_free(&srv.cbuf);
	free(srv.sess);
	free(srv.runs);
	free(srv.clients);
	free(srv.rx);
	free(srv.tx);
	free(conf);
	return rc;
}
