// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Refused connections of `serve`. The ZAP handler sees only the CURVE clients that got as far
 * as presenting a key; a plaintext client, a wrong server key, a port scanner or a half-open
 * connection fails inside libzmq's handshake and would leave no trace. The ROUTER's socket
 * monitor reports those, on an inproc PAIR polled by the main loop.
 *
 * libzmq 4.3.4 has only the version 1 monitor, whose events name the listening endpoint, not
 * the peer. The peer is found through the connection's fd: ACCEPTED carries it (read with
 * getpeername while the connection is still open), and a failed handshake is always followed,
 * from the same I/O thread, by the DISCONNECTED of its fd. A connection that was gone before
 * its ACCEPTED was read is logged with address "?" rather than guessed: its fd number may
 * already belong to someone else.
 *
 * libzmq drops a peer that is not ZMTP 3 (an HTTP request, ZMTP 1.0 to a CURVE agent) with no
 * handshake event at all. Such a connection is one that ends with neither a failure nor a
 * message: the ROUTER is read before the DISCONNECTED is judged, and a message marks its fd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <zmq.h>

#include "nb_time.h"
#include "serve.h"

#define S_MON_ENDPOINT "inproc://netblame.router.monitor"
#define S_MON_EVENTS                                                                               \
	(ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_ACCEPT_FAILED | ZMQ_EVENT_DISCONNECTED |                   \
	 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |              \
	 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
#define S_MON_BATCH 256	 /* events read per call, so the loop stays responsive */
#define S_MON_FDS   4096 /* connections whose address is tracked, by fd number */
/*
 * libzmq's I/O thread blocks on a full monitor pipe (its send does not drop): room for a few
 * thousand refused connections while the loop loads BPF for a session.
 */
#define S_MON_RCVHWM 10000

struct s_conn {
	bool open;	/* ACCEPTED seen, DISCONNECTED not yet */
	bool known;	/* the address below */
	bool spoke;	/* a message came from it */
	uint8_t family; /* AF_INET or AF_INET6 */
	uint16_t port;
	uint8_t addr[16];
};

struct nb_mon {
	void *pair;
	struct s_conn *conn; /* S_MON_FDS, indexed by fd */
	/* A handshake failure waits for the DISCONNECTED that names its fd. */
	bool pending;
	bool pending_logged; /* the ZAP handler said it already */
	char pending_why[128];
};

struct s_event {
	uint16_t ev;
	uint32_t value;
};

int nb_mon_setup(struct nb_srv *srv)
{
	struct nb_mon *m = calloc(1, sizeof(*m));
	int hwm = S_MON_RCVHWM, zero = 0;

	if (!m || !(m->conn = calloc(S_MON_FDS, sizeof(*m->conn)))) {
		free(m);
		nb_srv_log(srv, "out of memory");
		return -ENOMEM;
	}
	srv->mon = m;
	if (zmq_socket_monitor(srv->router, S_MON_ENDPOINT, S_MON_EVENTS)) {
		nb_srv_log(srv, "cannot monitor the ROUTER socket: %s", zmq_strerror(errno));
		return -EIO;
	}
	m->pair = zmq_socket(srv->zctx, ZMQ_PAIR);
	if (!m->pair || zmq_setsockopt(m->pair, ZMQ_RCVHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(m->pair, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_connect(m->pair, S_MON_ENDPOINT)) {
		nb_srv_log(srv, "cannot read the ROUTER's monitor: %s", zmq_strerror(errno));
		return -EIO;
	}
	return 0;
}

void *nb_mon_socket(const struct nb_srv *srv)
{
	return srv->mon ? srv->mon->pair : NULL;
}

/*
 * A client retrying with the wrong settings is refused every 100 ms or so: its first refusal
 * in a window is logged, its repeats are only counted, so that it cannot use up the window's
 * lines and hide another client's.
 */
void nb_srv_refused(struct nb_srv *srv, uint64_t now, const char *ip, unsigned port,
		    const char *why)
{
	struct nb_refusal *r;
	char at[INET6_ADDRSTRLEN + 8];

	srv->refused++;
	if (now - srv->refuse_win_ns >= NB_SRV_REFUSE_WIN_NS) {
		nb_mon_tick(srv, now, true);
		srv->refuse_win_ns = now;
		srv->refuse_logged = 0;
	}
	for (uint32_t i = 0; i < srv->refuse_logged; i++) {
		r = &srv->refusals[i];
		if (!strcmp(r->ip, ip) && !strcmp(r->why, why)) {
			srv->refuse_suppressed++;
			return;
		}
	}
	if (srv->refuse_logged >= NB_SRV_REFUSE_LOGS) {
		srv->refuse_suppressed++;
		return;
	}
	r = &srv->refusals[srv->refuse_logged++];
	snprintf(r->ip, sizeof(r->ip), "%s", ip);
	snprintf(r->why, sizeof(r->why), "%s", why);
	if (port)
		snprintf(at, sizeof(at), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
	else
		snprintf(at, sizeof(at), "%s", ip);
	nb_srv_log(srv, "refused connection from %s: %s (refused=%llu)", at, why,
		   (unsigned long long)srv->refused);
}

uint64_t nb_mon_tick(struct nb_srv *srv, uint64_t now, bool final)
{
	uint64_t end = srv->refuse_win_ns + NB_SRV_REFUSE_WIN_NS;

	if (!srv->refuse_suppressed)
		return UINT64_MAX;
	if (now < end && !final)
		return end;
	nb_srv_log(srv,
		   "%llu more refused connections suppressed in 10 s (repeats or over %d "
		   "lines; refused=%llu)",
		   (unsigned long long)srv->refuse_suppressed, NB_SRV_REFUSE_LOGS,
		   (unsigned long long)srv->refused);
	srv->refuse_suppressed = 0;
	return UINT64_MAX;
}

static const char *s_protocol_error(uint32_t code)
{
	switch (code) {
	case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
		return "security mechanism mismatch (CURVE on one side only)";
	case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
		return "CURVE handshake did not decrypt (a wrong server key?)";
	case ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND:
		return "ZMTP protocol error: unexpected command";
	case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE:
		return "ZMTP protocol error: invalid sequence";
	case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
		return "ZMTP protocol error: key exchange";
	case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA:
		return "ZMTP protocol error: invalid metadata";
	default:
		if (code >= ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED &&
		    code <= ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME)
			return "ZMTP protocol error: malformed command";
		if ((code & 0xf0000000u) == ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED)
			return "the ZAP handler's reply was refused by libzmq";
		return "ZMTP protocol error";
	}
}

/* The peer of fd as an IP address ("?" when unknown) and its port (0 then). */
static unsigned s_addr(const struct nb_mon *m, uint32_t fd, char *ip, size_t size)
{
	const struct s_conn *c = fd < S_MON_FDS ? &m->conn[fd] : NULL;

	if (!c || !c->known || !inet_ntop(c->family, c->addr, ip, (socklen_t)size)) {
		snprintf(ip, size, "?");
		return 0;
	}
	return c->port;
}

static void s_accepted(struct nb_mon *m, uint32_t fd, bool gone)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct s_conn *c;

	if (fd >= S_MON_FDS)
		return;
	c = &m->conn[fd];
	memset(c, 0, sizeof(*c));
	c->open = true;
	if (gone || getpeername((int)fd, (struct sockaddr *)&ss, &len))
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

		memcpy(c->addr, &s4->sin_addr, 4);
		c->port = ntohs(s4->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

		memcpy(c->addr, &s6->sin6_addr, 16);
		c->port = ntohs(s6->sin6_port);
	} else {
		return; /* ipc: no address to give */
	}
	c->family = (uint8_t)ss.ss_family;
	c->known = true;
}

/* The failure waiting for its fd is logged without one (several I/O threads interleave). */
static void s_flush_pending(struct nb_srv *srv, uint64_t now)
{
	struct nb_mon *m = srv->mon;

	if (m->pending && !m->pending_logged)
		nb_srv_refused(srv, now, "?", 0, m->pending_why);
	m->pending = false;
}

static void s_failed(struct nb_srv *srv, uint64_t now, const char *why, bool logged)
{
	struct nb_mon *m = srv->mon;

	s_flush_pending(srv, now);
	m->pending = true;
	m->pending_logged = logged;
	snprintf(m->pending_why, sizeof(m->pending_why), "%s", why);
}

static void s_event(struct nb_srv *srv, const struct s_event *e, bool gone, uint64_t now)
{
	struct nb_mon *m = srv->mon;
	char why[128], ip[INET6_ADDRSTRLEN];
	unsigned port;

	switch (e->ev) {
	case ZMQ_EVENT_ACCEPTED:
		s_accepted(m, e->value, gone);
		break;
	case ZMQ_EVENT_ACCEPT_FAILED:
		snprintf(why, sizeof(why), "cannot accept: %s", strerror((int)e->value));
		nb_srv_refused(srv, now, "?", 0, why);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		/*
		 * A read or write error (EOF reads as EPIPE), or the handshake timer, whose
		 * errno is whatever the I/O thread saw last: only errors of the connection
		 * itself are named.
		 */
		if (e->value == EPIPE || e->value == ECONNRESET)
			snprintf(why, sizeof(why), "closed by the peer during the handshake");
		else if (e->value == ETIMEDOUT || e->value == EHOSTUNREACH ||
			 e->value == ENETUNREACH)
			snprintf(why, sizeof(why), "handshake failed: %s", strerror((int)e->value));
		else
			snprintf(why, sizeof(why), "no handshake within %d s",
				 NB_SRV_HANDSHAKE_MS / 1000);
		s_failed(srv, now, why, false);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		s_failed(srv, now, s_protocol_error(e->value), false);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
		/* Refused by our ZAP handler, which logged it with the key. */
		s_failed(srv, now, "refused by the ZAP handler", srv->zap != NULL);
		break;
	case ZMQ_EVENT_DISCONNECTED:
		if (m->pending) {
			if (!m->pending_logged) {
				port = s_addr(m, e->value, ip, sizeof(ip));
				nb_srv_refused(srv, now, ip, port, m->pending_why);
			}
			m->pending = false;
		} else if (e->value < S_MON_FDS && m->conn[e->value].open &&
			   !m->conn[e->value].spoke) {
			port = s_addr(m, e->value, ip, sizeof(ip));
			nb_srv_refused(srv, now, ip, port,
				       "dropped by libzmq before any message (not a ZMTP 3 peer?)");
		}
		if (e->value < S_MON_FDS)
			memset(&m->conn[e->value], 0, sizeof(m->conn[0]));
		break;
	default:
		break;
	}
}

/* One event (two frames); false when none is waiting. */
static bool s_recv_event(void *pair, struct s_event *e)
{
	zmq_msg_t f;
	bool ok = false, more;

	zmq_msg_init(&f);
	if (zmq_msg_recv(&f, pair, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&f);
		return false;
	}
	if (zmq_msg_size(&f) == 6) {
		memcpy(&e->ev, zmq_msg_data(&f), 2);
		memcpy(&e->value, (uint8_t *)zmq_msg_data(&f) + 2, 4);
		ok = true;
	}
	more = zmq_msg_more(&f);
	zmq_msg_close(&f);
	while (more) { /* the endpoint, which is ours: the listening one */
		zmq_msg_init(&f);
		if (zmq_msg_recv(&f, pair, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&f);
			break;
		}
		more = zmq_msg_more(&f);
		zmq_msg_close(&f);
	}
	if (!ok)
		e->ev = 0;
	return true;
}

void nb_mon_handle(struct nb_srv *srv)
{
	struct s_event ev[S_MON_BATCH];
	uint64_t now;
	int n = 0;

	bool closed = false;

	while (n < S_MON_BATCH && s_recv_event(srv->mon->pair, &ev[n]))
		closed |= ev[n++].ev == ZMQ_EVENT_DISCONNECTED;
	/* Whatever a closing peer sent is queued before its DISCONNECTED: read it first. */
	if (closed)
		nb_srv_recv_all(srv);
	now = nb_mono_ns();
	for (int i = 0; i < n; i++) {
		bool gone = false;

		/*
		 * An ACCEPTED whose DISCONNECTED was read with it: the fd may be closed and
		 * reused by now, so its address is not asked.
		 */
		if (ev[i].ev == ZMQ_EVENT_ACCEPTED)
			for (int j = i + 1; j < n && !gone; j++)
				gone = ev[j].ev == ZMQ_EVENT_DISCONNECTED &&
				       ev[j].value == ev[i].value;
		s_event(srv, &ev[i], gone, now);
	}
}

void nb_mon_spoke(struct nb_srv *srv, int fd)
{
	if (srv->mon && fd >= 0 && fd < S_MON_FDS)
		srv->mon->conn[fd].spoke = true;
}

void nb_mon_destroy(struct nb_srv *srv)
{
	struct nb_mon *m = srv->mon;

	if (!m)
		return;
	/* Stopped before the ROUTER closes, so its I/O thread never waits on this pipe. */
	if (srv->router)
		zmq_socket_monitor(srv->router, NULL, 0);
	if (m->pair)
		zmq_close(m->pair);
	free(m->conn);
	free(m);
	srv->mon = NULL;
}
