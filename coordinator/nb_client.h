/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The agent client: one authenticated ZeroMQ connection to one agent, the coordinator side of
 * the wire protocol (HELLO, START, PING/PONG, CREDIT, STOP), and the agent's clock offset.
 * Used by every command that talks to agents (trace, agents, run). What a session means (its
 * events, leases renewed by PING, re-attaching) stays with the command; this module holds what
 * every command needs of a connection.
 *
 * Clocks: the offset (agent clock - coordinator clock) is taken from the lowest-RTT exchange of
 * the last NB_CLIENT_SAMPLES (HELLO and PONG answers): queueing only ever adds delay; the
 * uncertainty is half that RTT plus 1 us.
 *
 * The connection's state comes from a ZeroMQ socket monitor: whether TCP connected, was refused,
 * and whether the CURVE handshake failed (a server key that is not the agent's, or a
 * coordinator key the agent does not accept). Without a monitor (cfg.monitor false) the state
 * stays NB_CONN_UNKNOWN until a message arrives.
 */
#ifndef NB_CLIENT_H
#define NB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_keys.h"
#include "nb_wire.h"

#define NB_CLIENT_SAMPLES 32

enum nb_conn_state {
	NB_CONN_UNKNOWN,   /* nothing known yet: connecting, or no monitor */
	NB_CONN_REFUSED,   /* TCP connection refused (nothing listens there) */
	NB_CONN_CONNECTED, /* TCP up; with CURVE, the handshake not finished yet */
	NB_CONN_READY,	   /* handshake done */
	NB_CONN_AUTH,	   /* CURVE handshake refused: wrong server key or key not authorised */
	NB_CONN_CLOSED,	   /* connected once, then closed by the peer before any message */
};

struct nb_client_cfg {
	const char *name;     /* for messages only */
	const char *endpoint; /* tcp://host:port */
	/* NULL: no CURVE (--insecure). Otherwise the agent's public key file, and our keys. */
	const char *server_key;
	const struct nb_ckey *pub, *sec;
	bool monitor; /* follow the connection's state (refused, wrong key) */
};

struct nb_client;

/*
 * The socket is connected (ZeroMQ connects in the background). err gets a one-line reason:
 * -EINVAL a bad endpoint, or the server key file's error; -EIO no socket.
 */
int nb_client_new(struct nb_client **out, void *zctx, const struct nb_client_cfg *cfg, char *err,
		  size_t errlen);
void nb_client_destroy(struct nb_client **pc);

/* For zmq_poll: the message socket, and the monitor's (NULL without one). */
void *nb_client_sock(const struct nb_client *c);
void *nb_client_mon_sock(const struct nb_client *c);
/* Reads what the monitor has to say; the new state. Cheap when there is nothing. */
enum nb_conn_state nb_client_mon_read(struct nb_client *c);
enum nb_conn_state nb_client_conn(const struct nb_client *c);
const char *nb_conn_state_name(enum nb_conn_state s);

int nb_client_send(struct nb_client *c, const struct nb_msg *m);
/* HELLO; reset_clock: the answer may come from a restarted agent, with another clock. */
int nb_client_hello(struct nb_client *c, bool reset_clock);
/* A heartbeat and clock sample; session 0 = none, with credit for that session. */
int nb_client_ping(struct nb_client *c, uint64_t now, uint64_t session, uint32_t credit);
int nb_client_credit(struct nb_client *c, uint64_t session, uint32_t credit);
int nb_client_stop(struct nb_client *c, uint64_t session, const char *reason);

/*
 * One message, decoded into m (which the caller clears with nb_msg_clear()): 1, 0 when none is
 * waiting, a negative errno for a malformed one (-EPROTO ...: the caller warns and goes on).
 * An answer to our last HELLO or PING is a clock sample; a HELLO's fields are kept.
 */
int nb_client_recv(struct nb_client *c, struct nb_msg *m, uint64_t now);

/* The agent's last HELLO, once one came (else NULL). */
const struct nb_msg_hello *nb_client_hello_info(const struct nb_client *c);
/* The number of clock samples taken; offset and uncertainty are meaningful once it is > 0. */
unsigned nb_client_samples(const struct nb_client *c);
int64_t nb_client_offset(const struct nb_client *c);
uint64_t nb_client_uncert(const struct nb_client *c);
/* An agent timestamp on the coordinator's clock. */
uint64_t nb_client_to_ref(const struct nb_client *c, uint64_t agent_ts);
uint64_t nb_client_last_msg(const struct nb_client *c);
uint64_t nb_client_last_ping(const struct nb_client *c);
uint64_t nb_client_hello_sent(const struct nb_client *c);
uint64_t nb_client_ping_seq(const struct nb_client *c);

/*
 * The coordinator's keypair from --key FILE (the secret key; the public one is derived).
 * err gets "cannot read --key FILE: why".
 */
int nb_client_read_keys(const char *key_path, struct nb_ckey *pub, struct nb_ckey *sec,
			char *err, size_t errlen);

#endif /* NB_CLIENT_H */
