// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The agent client (nb_client.h): one DEALER per agent, its monitor, and the clock samples.
 */
#include "nb_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zmq.h>

#include "nb_time.h"

#define S_RCVHWM 1000

struct s_sample {
	int64_t offset;
	uint64_t rtt;
};

struct nb_client {
	void *sock;
	void *mon;
	bool curve;
	enum nb_conn_state conn;
	struct nb_wbuf wb;
	uint64_t last_msg, last_ping, hello_sent;
	bool hello_pending, reset_on_hello;
	uint64_t ping_seq;
	bool have_hello;
	struct nb_msg_hello hello;
	struct s_sample samples[NB_CLIENT_SAMPLES];
	unsigned n_samples, next_sample;
	int64_t offset;
	uint64_t uncert;
};

const char *nb_conn_state_name(enum nb_conn_state s)
{
	switch (s) {
	case NB_CONN_UNKNOWN:
		return "unknown";
	case NB_CONN_REFUSED:
		return "refused";
	case NB_CONN_CONNECTED:
		return "connected";
	case NB_CONN_READY:
		return "ready";
	case NB_CONN_AUTH:
		return "wrong key";
	case NB_CONN_CLOSED:
		return "closed";
	}
	return "?";
}

int nb_client_read_keys(const char *key_path, struct nb_ckey *pub, struct nb_ckey *sec,
			char *err, size_t errlen)
{
	int rc = nb_keys_read_secret(key_path, sec);

	if (!rc)
		rc = nb_keys_public_of(sec, pub);
	if (rc)
		snprintf(err, errlen, "cannot read --key %s: %s", key_path, strerror(-rc));
	return rc;
}

static int s_monitor(struct nb_client *c, void *zctx, char *err, size_t errlen)
{
	char ep[64];

	snprintf(ep, sizeof(ep), "inproc://nb-client-mon-%p", (void *)c);
	if (zmq_socket_monitor(c->sock, ep,
			       ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED |
				       ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
				       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
				       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) < 0)
		goto fail;
	c->mon = zmq_socket(zctx, ZMQ_PAIR);
	if (!c->mon)
		goto fail;
	zmq_setsockopt(c->mon, ZMQ_LINGER, &(int){0}, sizeof(int));
	if (zmq_connect(c->mon, ep) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot monitor the connection: %s", zmq_strerror(errno));
	return -EIO;
}

int nb_client_new(struct nb_client **out, void *zctx, const struct nb_client_cfg *cfg, char *err,
		  size_t errlen)
{
	struct nb_client *c = calloc(1, sizeof(*c));
	int hwm = S_RCVHWM;
	int64_t max = NB_WIRE_MAX_FRAME;
	unsigned char rid[16];
	struct nb_ckey spub;
	int rc = -EIO;

	*out = NULL;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->sock = zmq_socket(zctx, ZMQ_DEALER);
	if (!c->sock) {
		snprintf(err, errlen, "cannot make a socket: %s", zmq_strerror(errno));
		goto fail;
	}
	zmq_setsockopt(c->sock, ZMQ_LINGER, &(int){0}, sizeof(int));
	zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	/*
	 * An agent's sessions belong to the routing id its peer presents. A fixed, random one
	 * survives ZeroMQ's reconnect after a TCP reset, so the agent (ROUTER_HANDOVER) keeps the
	 * session instead of a new anonymous peer arriving with none. A leading zero byte is
	 * reserved by ZeroMQ for the ids it makes up.
	 */
	if (getrandom(rid, sizeof(rid), 0) != (ssize_t)sizeof(rid)) {
		snprintf(err, errlen, "no random routing id: %s", strerror(errno));
		goto fail;
	}
	rid[0] |= 0x80;
	zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, rid, sizeof(rid));
	zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	if (cfg->server_key) {
		rc = nb_keys_read_public(cfg->server_key, &spub);
		if (rc) {
			snprintf(err, errlen, "cannot read server-key %s: %s", cfg->server_key,
				 strerror(-rc));
			goto fail;
		}
		c->curve = true;
		zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, spub.z85, NB_KEY_Z85_LEN + 1);
		zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, cfg->pub->z85, NB_KEY_Z85_LEN + 1);
		zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, cfg->sec->z85, NB_KEY_Z85_LEN + 1);
	}
	/* Before connecting, so that no event of the connection is missed. */
	if (cfg->monitor) {
		rc = s_monitor(c, zctx, err, errlen);
		if (rc)
			goto fail;
	}
	if (zmq_connect(c->sock, cfg->endpoint) < 0) {
		snprintf(err, errlen, "bad endpoint '%s': %s", cfg->endpoint, zmq_strerror(errno));
		rc = -EINVAL;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	nb_client_destroy(&c);
	return rc;
}

void nb_client_destroy(struct nb_client **pc)
{
	struct nb_client *c = pc ? *pc : NULL;

	if (!c)
		return;
	if (c->mon) {
		zmq_socket_monitor(c->sock, NULL, 0);
		zmq_close(c->mon);
	}
	if (c->sock)
		zmq_close(c->sock);
	nb_wbuf_free(&c->wb);
	free(c);
	*pc = NULL;
}

void *nb_client_sock(const struct nb_client *c)
{
	return c->sock;
}

void *nb_client_mon_sock(const struct nb_client *c)
{
	return c->mon;
}

enum nb_conn_state nb_client_conn(const struct nb_client *c)
{
	return c->conn;
}

static void s_mon_event(struct nb_client *c, uint16_t ev)
{
	switch (ev) {
	case ZMQ_EVENT_CONNECTED:
		if (c->conn != NB_CONN_READY && c->conn != NB_CONN_AUTH)
			c->conn = NB_CONN_CONNECTED;
		break;
	case ZMQ_EVENT_CONNECT_RETRIED:
		/* A retry without having connected: the connection was refused. */
		if (c->conn == NB_CONN_UNKNOWN)
			c->conn = NB_CONN_REFUSED;
		break;
	case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
		c->conn = NB_CONN_READY;
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		c->conn = c->curve ? NB_CONN_AUTH : NB_CONN_CLOSED;
		break;
	case ZMQ_EVENT_DISCONNECTED:
		/*
		 * Closed during the handshake: a CURVE server that cannot open our HELLO (we
		 * hold another server key than its own) just hangs up.
		 */
		if (c->conn == NB_CONN_CONNECTED)
			c->conn = c->curve ? NB_CONN_AUTH : NB_CONN_CLOSED;
		else if (c->conn == NB_CONN_READY && !c->last_msg)
			c->conn = NB_CONN_CLOSED;
		break;
	default:
		break;
	}
}

enum nb_conn_state nb_client_mon_read(struct nb_client *c)
{
	if (!c->mon)
		return c->conn;
	for (int k = 0; k < 64; k++) {
		zmq_msg_t m;
		uint16_t ev = 0;
		int more = 0;
		size_t ml = sizeof(more);

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			break;
		}
		if (zmq_msg_size(&m) >= 6)
			memcpy(&ev, zmq_msg_data(&m), sizeof(ev));
		zmq_msg_close(&m);
		/* The second frame is the endpoint: not needed. */
		zmq_getsockopt(c->mon, ZMQ_RCVMORE, &more, &ml);
		while (more) {
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0)
				more = 0;
			else
				zmq_getsockopt(c->mon, ZMQ_RCVMORE, &more, &ml);
			zmq_msg_close(&m);
		}
		s_mon_event(c, ev);
	}
	return c->conn;
}

int nb_client_send(struct nb_client *c, const struct nb_msg *m)
{
	int rc = nb_wire_encode_buf(m, &c->wb);

	if (rc)
		return rc;
	if (zmq_send(c->sock, c->wb.data, c->wb.len, ZMQ_DONTWAIT) < 0)
		return -errno;
	return 0;
}

int nb_client_hello(struct nb_client *c, bool reset_clock)
{
	struct nb_msg *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->type = NB_MSG_HELLO;
	snprintf(m->hello.name, sizeof(m->hello.name), "netblame");
	snprintf(m->hello.version, sizeof(m->hello.version), "0.1");
	m->hello.proto = NB_WIRE_VERSION;
	c->hello_sent = nb_mono_ns();
	m->hello.clock_ns = c->hello_sent;
	c->hello_pending = true;
	c->reset_on_hello = reset_clock;
	rc = nb_client_send(c, m);
	free(m);
	return rc;
}

int nb_client_ping(struct nb_client *c, uint64_t now, uint64_t session, uint32_t credit)
{
	struct nb_msg m = {.type = NB_MSG_PING};
	int rc;

	m.ping.seq = ++c->ping_seq;
	m.ping.t_coord = now;
	m.ping.session = session;
	m.ping.credit = credit;
	rc = nb_client_send(c, &m);
	if (!rc)
		c->last_ping = now;
	return rc;
}

int nb_client_credit(struct nb_client *c, uint64_t session, uint32_t credit)
{
	struct nb_msg m = {.type = NB_MSG_CREDIT};

	m.credit.session = session;
	m.credit.credit = credit;
	return nb_client_send(c, &m);
}

int nb_client_stop(struct nb_client *c, uint64_t session, const char *reason)
{
	struct nb_msg m = {.type = NB_MSG_STOP};

	m.stop.session = session;
	snprintf(m.stop.reason, sizeof(m.stop.reason), "%s", reason);
	return nb_client_send(c, &m);
}

static void s_clock_sample(struct nb_client *c, uint64_t t_send, uint64_t t_agent,
			   uint64_t t_recv)
{
	uint64_t rtt = t_recv > t_send ? t_recv - t_send : 0;
	struct s_sample s = {(int64_t)t_agent - (int64_t)(t_send + rtt / 2), rtt};
	unsigned best = 0;

	c->samples[c->next_sample] = s;
	c->next_sample = (c->next_sample + 1) % NB_CLIENT_SAMPLES;
	if (c->n_samples < NB_CLIENT_SAMPLES)
		c->n_samples++;
	for (unsigned i = 1; i < c->n_samples; i++)
		if (c->samples[i].rtt < c->samples[best].rtt)
			best = i;
	c->offset = c->samples[best].offset;
	c->uncert = c->samples[best].rtt / 2 + 1000;
}

int nb_client_recv(struct nb_client *c, struct nb_msg *m, uint64_t now)
{
	zmq_msg_t msg;
	int rc;

	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&msg);
		return 0;
	}
	rc = nb_wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), m);
	zmq_msg_close(&msg);
	if (rc)
		return rc;
	c->last_msg = now;
	if (c->conn != NB_CONN_READY)
		c->conn = NB_CONN_READY;
	if (m->type == NB_MSG_HELLO && c->hello_pending) {
		c->hello_pending = false;
		if (c->reset_on_hello)
			c->n_samples = c->next_sample = 0;
		s_clock_sample(c, c->hello_sent, m->hello.clock_ns, now);
		c->hello = m->hello;
		c->have_hello = true;
	} else if (m->type == NB_MSG_PONG && m->pong.seq == c->ping_seq) {
		s_clock_sample(c, m->pong.t_coord, m->pong.t_agent, now);
	}
	return 1;
}

const struct nb_msg_hello *nb_client_hello_info(const struct nb_client *c)
{
	return c->have_hello ? &c->hello : NULL;
}

unsigned nb_client_samples(const struct nb_client *c)
{
	return c->n_samples;
}

int64_t nb_client_offset(const struct nb_client *c)
{
	return c->offset;
}

uint64_t nb_client_uncert(const struct nb_client *c)
{
	return c->uncert;
}

uint64_t nb_client_to_ref(const struct nb_client *c, uint64_t agent_ts)
{
	int64_t v = (int64_t)agent_ts - c->offset;

	return v > 0 ? (uint64_t)v : 0;
}

uint64_t nb_client_last_msg(const struct nb_client *c)
{
	return c->last_msg;
}

uint64_t nb_client_last_ping(const struct nb_client *c)
{
	return c->last_ping;
}

uint64_t nb_client_hello_sent(const struct nb_client *c)
{
	return c->hello_sent;
}

uint64_t nb_client_ping_seq(const struct nb_client *c)
{
	return c->ping_seq;
}
