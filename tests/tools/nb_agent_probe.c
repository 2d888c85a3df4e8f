// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * nb_agent_probe: a small coordinator stand-in for testing `netblame-agent serve`.
 *
 *   nb_agent_probe ENDPOINT [--insecure | --server-key PUBFILE --key SECRETFILE]
 *                  [--source IP] CMD [ARGS]
 *   nb_agent_probe keygen DIR
 *
 * CMD:
 *   hello              prints the agent's HELLO; exit 0 when it answers within 2 s
 *   garbage N          N malformed messages (random bytes, truncated and padded valid ones,
 *                      wrong version, types an agent never receives, several frames, lying
 *                      container counts), then a HELLO; exit 0 only if that is answered
 *   start-and-vanish FLOW
 *                      HELLO + START, waits for STARTED, exits without STOP (lease test)
 *   start-many N FLOW  HELLO, then N STARTs at once (sessions ID .. ID+N-1), then one line per
 *                      session, "session=ID started" or "session=ID error code=C message=M";
 *                      exits without STOP; 0 once every START was answered (limit tests)
 *   learn-while FLOW [--stop]
 *                      client a: START leaving the interfaces to the agent (local = src; FLOW
 *                      without --rx-iface/--tx-iface, or with one of them); then a second
 *                      client b (from 127.0.0.2) sends HELLO and PING. Once b has both answers
 *                      a sends PING for its session, or with --stop STOP. One line per answer,
 *                      in the order they arrive: "b: HELLO", "b: PONG", "a: PONG",
 *                      "a: STARTED rx=IFS tx=IFS", "a: ERROR code=C message=M", "a: STOP";
 *                      exits once a's START (or STOP) is answered: 0, or 1 after 10 s
 *                      without (--insecure only)
 *   stream FLOW [--duration-ms MS] [--credit N] [--no-grant] [--max-batch N]
 *                      a session for MS, PINGing every 200 ms and granting credit for what
 *                      arrived (unless --no-grant), then STOP; checks sequence numbers and
 *                      watermarks and prints one summary line of key=value
 * FLOW: --src-ip A --dst-ip B --rx-iface IF[,IF..] --tx-iface IF[,IF..] [--netns NAME]
 *       [--proto icmp|tcp|udp] [--sport P] [--dport P] [--session ID]
 *
 * --source IP connects from that local address (a second client on loopback). The probe
 * never reconnects: one run is one connection, so each refused run is one refusal.
 *
 * Exit: 0 as above, 1 when the agent did not do what was expected, 2 for usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "nb_keys.h"
#include "nb_time.h"
#include "nb_wire.h"

#define P_REPLY_MS 2000
#define P_START_MS 10000 /* START loads BPF on the agent */
#define P_PING_NS  200000000ull
#define P_MAX_IFS  8

static const char *p_prog = "nb_agent_probe";

struct p_flow {
	const char *src, *dst, *rx, *tx, *netns, *proto;
	long sport, dport;
	uint64_t session;
	long duration_ms, credit, max_batch;
	bool no_grant;
	bool local; /* learn-while: the interfaces are left to the agent to find (local = src) */
};

static void p_usage(void)
{
	fprintf(
	    stderr,
	    "usage: %s ENDPOINT [--insecure | --server-key PUBFILE --key SECRETFILE] [--source IP]\n"
	    "       CMD [ARGS]\n"
	    "       %s keygen DIR\n"
	    "CMD: hello | garbage N | start-and-vanish FLOW | start-many N FLOW\n"
	    "     | learn-while FLOW [--stop] | stream FLOW [--duration-ms MS]\n"
	    "     [--credit N] [--no-grant] [--max-batch N]\n"
	    "FLOW: --src-ip A --dst-ip B --rx-iface IFS --tx-iface IFS [--netns NAME]\n"
	    "      [--proto icmp|tcp|udp] [--sport P] [--dport P] [--session ID]\n",
	    p_prog, p_prog);
}

static void p_err(const char *what)
{
	fprintf(stderr, "%s: %s\n", p_prog, what);
}

/* ---- socket ---- */

static void *p_connect(void *ctx, const char *ep, bool insecure, const char *server_key,
		       const char *key, const char *source)
{
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int zero = 0, never = -1;
	char src_ep[300];

	if (!s)
		return NULL;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &never, sizeof(never));
	if (source) {
		/* libzmq's "tcp://SOURCE:0;DESTINATION" form binds the local end first. */
		if (strncmp(ep, "tcp://", 6) || snprintf(src_ep, sizeof(src_ep), "tcp://%s:0;%s",
							 source, ep + 6) >= (int)sizeof(src_ep)) {
			fprintf(stderr, "%s: --source needs a tcp:// endpoint\n", p_prog);
			zmq_close(s);
			return NULL;
		}
		ep = src_ep;
	}
	if (!insecure) {
		struct nb_ckey spub, sec, pub;
		int err;

		err = nb_keys_read_public(server_key, &spub);
		if (!err)
			err = nb_keys_read_secret(key, &sec);
		if (!err)
			err = nb_keys_public_of(&sec, &pub);
		if (err) {
			fprintf(stderr, "%s: cannot read keys: %s\n", p_prog, strerror(-err));
			zmq_close(s);
			return NULL;
		}
		zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, spub.raw, NB_KEY_RAW_LEN);
		zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub.raw, NB_KEY_RAW_LEN);
		zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec.raw, NB_KEY_RAW_LEN);
		explicit_bzero(&sec, sizeof(sec));
	}
	if (zmq_connect(s, ep)) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n", p_prog, ep, zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	return s;
}

static int p_send(void *s, const struct nb_msg *m)
{
	void *buf;
	size_t len;
	int rc = nb_wire_encode(m, &buf, &len);

	if (rc) {
		fprintf(stderr, "%s: cannot encode %s: %s\n", p_prog, nb_msg_type_name(m->type),
			strerror(-rc));
		return rc;
	}
	rc = zmq_send(s, buf, len, 0) < 0 ? -errno : 0;
	free(buf);
	return rc;
}

/* Next message within timeout_ms: 1, 0 on timeout, or -errno (a decoding failure included). */
static int p_recv(void *s, struct nb_msg *m, long timeout_ms)
{
	zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
	zmq_msg_t f;
	int rc;

	if (zmq_poll(&it, 1, timeout_ms) <= 0)
		return 0;
	zmq_msg_init(&f);
	if (zmq_msg_recv(&f, s, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&f);
		return 0;
	}
	rc = nb_wire_decode(zmq_msg_data(&f), zmq_msg_size(&f), m);
	zmq_msg_close(&f);
	if (rc) {
		fprintf(stderr, "%s: agent sent an undecodable message: %s\n", p_prog,
			strerror(-rc));
		return rc;
	}
	return 1;
}

static long p_left_ms(uint64_t deadline)
{
	uint64_t now = nb_mono_ns();

	return now >= deadline ? 0 : (long)((deadline - now) / 1000000) + 1;
}

/* Waits for a message of type want, printing any ERROR on the way; 1, 0 (timeout), <0. */
static int p_wait(void *s, struct nb_msg *m, enum nb_msg_type want, long timeout_ms,
		  unsigned *errors, bool print_errors)
{
	uint64_t deadline = nb_mono_ns() + (uint64_t)timeout_ms * 1000000;
	long left;

	while ((left = p_left_ms(deadline)) > 0) {
		int rc = p_recv(s, m, left);

		if (rc <= 0)
			return rc;
		if (m->type == want)
			return 1;
		if (m->type == NB_MSG_ERROR) {
			if (errors)
				(*errors)++;
			if (print_errors)
				printf("error code=%d session=%llu message=%s\n", m->error.code,
				       (unsigned long long)m->error.session, m->error.message);
			if (want == NB_MSG_STARTED && m->error.session) {
				nb_msg_clear(m);
				return -m->error.code;
			}
		}
		nb_msg_clear(m);
	}
	return 0;
}

static void p_hello_msg(struct nb_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = NB_MSG_HELLO;
	snprintf(m->hello.name, sizeof(m->hello.name), "nb_agent_probe");
	snprintf(m->hello.version, sizeof(m->hello.version), "0.1");
	m->hello.proto = NB_WIRE_VERSION;
	m->hello.clock_ns = nb_mono_ns();
}

/* ---- hello ---- */

static int p_hello(void *s, struct nb_msg *m, bool quiet)
{
	uint64_t t0, t1;
	int rc;

	p_hello_msg(m);
	t0 = nb_mono_ns();
	if (p_send(s, m))
		return 1;
	rc = p_wait(s, m, NB_MSG_HELLO, P_REPLY_MS, NULL, !quiet);
	t1 = nb_mono_ns();
	if (rc <= 0) {
		p_err("no HELLO from the agent within 2 s");
		return 1;
	}
	if (!quiet) {
		printf("name=%s version=%s proto=%u caps=", m->hello.name, m->hello.version,
		       m->hello.proto);
		for (uint32_t i = 0; i < m->hello.n_caps; i++)
			printf("%s%s", i ? "," : "", m->hello.caps[i]);
		/* The agent read its clock between t0 and t1: the midpoint estimates the offset. */
		printf(" clock_ns=%llu offset_ms=%lld rtt_us=%llu\n",
		       (unsigned long long)m->hello.clock_ns,
		       (long long)((int64_t)(m->hello.clock_ns - (t0 + (t1 - t0) / 2)) / 1000000),
		       (unsigned long long)((t1 - t0) / 1000));
	}
	nb_msg_clear(m);
	return 0;
}

/* ---- garbage ---- */

static uint64_t p_rng;

static uint32_t p_rand(void)
{
	/* xorshift64*: reproducible from the printed seed. */
	p_rng ^= p_rng >> 12;
	p_rng ^= p_rng << 25;
	p_rng ^= p_rng >> 27;
	return (uint32_t)((p_rng * 2685821657736338717ull) >> 32);
}

static void p_valid(struct nb_msg *m, int which)
{
	memset(m, 0, sizeof(*m));
	switch (which % 5) {
	case 0:
		p_hello_msg(m);
		break;
	case 1:
		m->type = NB_MSG_START;
		m->start.session = 7;
		m->start.proto = 1;
		m->start.family = 4;
		m->start.src[0] = 10;
		m->start.dst[0] = 10;
		m->start.n_rx = m->start.n_tx = 1;
		snprintf(m->start.rx_ifs[0], sizeof(m->start.rx_ifs[0]), "lo");
		snprintf(m->start.tx_ifs[0], sizeof(m->start.tx_ifs[0]), "lo");
		m->start.credit = 4;
		m->start.max_batch = 64;
		m->start.timeout_ms = 1000;
		break;
	case 2:
		m->type = NB_MSG_PING;
		m->ping.seq = p_rand();
		m->ping.t_coord = nb_mono_ns();
		m->ping.credit = 3;
		m->ping.session = 9;
		break;
	case 3:
		m->type = NB_MSG_CREDIT;
		m->credit.session = 9;
		m->credit.credit = 5;
		break;
	default:
		m->type = NB_MSG_STOP;
		m->stop.session = 9;
		snprintf(m->stop.reason, sizeof(m->stop.reason), "done");
		break;
	}
}

/* A message type the agent must refuse because it only ever sends it. */
static void p_agent_only(struct nb_msg *m, struct nb_event *ev, int which)
{
	memset(m, 0, sizeof(*m));
	switch (which % 4) {
	case 0:
		m->type = NB_MSG_EVENTS;
		m->events.session = 9;
		m->events.n_ev = 1;
		memset(ev, 0, sizeof(*ev));
		ev->ts_ns = 1;
		m->events.ev = ev;
		break;
	case 1:
		m->type = NB_MSG_PONG;
		m->pong.seq = 1;
		m->pong.t_coord = 2;
		m->pong.t_agent = 3;
		break;
	case 2:
		m->type = NB_MSG_STARTED;
		m->started.session = 9;
		break;
	default:
		m->type = NB_MSG_STATS;
		m->stats.session = 9;
		m->stats.n_counters = 1;
		snprintf(m->stats.counters[0].name, sizeof(m->stats.counters[0].name), "x");
		break;
	}
}

/* Builds the i-th garbage message into buf; returns its length, and *frames (1 or 2). */
static size_t p_garbage(int i, uint8_t *buf, size_t cap, int *frames)
{
	struct nb_msg m;
	struct nb_event ev;
	void *enc = NULL;
	size_t len = 0, n;

	*frames = 1;
	switch (i % 8) {
	case 0: /* random bytes of a random size, now and then a big one */
		n = p_rand() % 16 ? p_rand() % 512 : 1 + p_rand() % (cap - 1);
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)p_rand();
		/* A map holding "v" and "t" by chance would be wildly lucky, but rule it out. */
		if (n && (buf[0] & 0xf0) == 0x80)
			buf[0] = 0xc1;
		return n;
	case 1: /* a valid message cut short */
	case 2:
		p_valid(&m, (int)p_rand());
		if (nb_wire_encode(&m, &enc, &len) || len < 2)
			break;
		n = p_rand() % len;
		memcpy(buf, enc, n);
		free(enc);
		return n;
	case 3: /* a valid message with a byte after it */
		p_valid(&m, (int)p_rand());
		if (nb_wire_encode(&m, &enc, &len) || len + 1 > cap)
			break;
		memcpy(buf, enc, len);
		buf[len] = (uint8_t)p_rand();
		free(enc);
		return len + 1;
	case 4: /* a type only agents send */
		p_agent_only(&m, &ev, (int)p_rand());
		if (nb_wire_encode(&m, &enc, &len) || len > cap)
			break;
		memcpy(buf, enc, len);
		free(enc);
		return len;
	case 5: { /* another protocol version: "v" is the first key the encoder writes */
		static const uint8_t v1[] = {0xa1, 'v', 0x01};

		p_valid(&m, (int)p_rand());
		if (nb_wire_encode(&m, &enc, &len) || len > cap)
			break;
		memcpy(buf, enc, len);
		free(enc);
		for (size_t k = 0; k + 3 <= len; k++)
			if (!memcmp(buf + k, v1, 3)) {
				buf[k + 2] = 0x02;
				return len;
			}
		buf[0] = 0xc1;
		return len;
	}
	case 6: /* containers claiming far more than the frame holds, or nested too deep */
		switch (p_rand() % 3) {
		case 0:
			memcpy(buf, "\xdf\xff\xff\xff\xff", 5);
			return 5;
		case 1:
			memcpy(buf, "\x81\xa1v\xdd\x7f\xff\xff\xff", 8);
			return 8;
		default:
			n = 200;
			memset(buf, 0x91, n); /* 200 nested one-element arrays */
			buf[n] = 0x01;
			return n + 1;
		}
	default: /* a valid message in two frames */
		p_valid(&m, 0);
		if (nb_wire_encode(&m, &enc, &len) || len > cap)
			break;
		memcpy(buf, enc, len);
		free(enc);
		*frames = 2;
		return len;
	}
	free(enc);
	buf[0] = 0xc1; /* msgpack's "never used" byte */
	return 1;
}

static int p_garbage_cmd(void *s, struct nb_msg *m, long count)
{
	size_t cap = NB_WIRE_MAX_CTRL_FRAME - 16;
	uint8_t *buf = malloc(cap + 1);
	unsigned errors = 0;
	int rc;

	if (!buf) {
		p_err("out of memory");
		return 1;
	}
	p_rng = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	if (!p_rng)
		p_rng = 1;
	printf("seed=%llu\n", (unsigned long long)p_rng);
	for (long i = 0; i < count; i++) {
		int frames;
		size_t len = p_garbage((int)i, buf, cap, &frames);

		if (frames == 2 && zmq_send(s, "x", 1, ZMQ_SNDMORE) < 0)
			break;
		if (zmq_send(s, buf, len, 0) < 0) {
			fprintf(stderr, "%s: send failed: %s\n", p_prog, zmq_strerror(errno));
			free(buf);
			return 1;
		}
	}
	free(buf);
	p_hello_msg(m);
	if (p_send(s, m))
		return 1;
	/* Replies come in order: every ERROR for the garbage arrives before the HELLO. */
	rc = p_wait(s, m, NB_MSG_HELLO, 5000, &errors, false);
	printf("sent=%ld errors=%u hello=%s\n", count, errors, rc > 0 ? "yes" : "no");
	nb_msg_clear(m);
	return rc > 0 ? 0 : 1;
}

/* ---- sessions ---- */

static int p_iflist(const char *list, char (*out)[NB_WIRE_IFNAME_MAX + 1], uint32_t *n)
{
	const char *p = list;

	*n = 0;
	while (p && *p) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (!l || l > NB_WIRE_IFNAME_MAX || *n >= P_MAX_IFS)
			return -1;
		memcpy(out[*n], p, l);
		out[*n][l] = 0;
		(*n)++;
		p = c ? c + 1 : NULL;
	}
	return *n ? 0 : -1;
}

static int p_addr(const char *s, uint8_t *out, uint8_t *family)
{
	memset(out, 0, NB_ADDR_LEN);
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = 6;
		return 0;
	}
	return -1;
}

static int p_start_msg(const struct p_flow *f, struct nb_msg *m)
{
	struct nb_msg_start *st = &m->start;
	uint8_t f2;

	memset(m, 0, sizeof(*m));
	m->type = NB_MSG_START;
	st->session = f->session;
	if (!f->proto || !strcmp(f->proto, "icmp"))
		st->proto = 1;
	else if (!strcmp(f->proto, "tcp"))
		st->proto = 6;
	else if (!strcmp(f->proto, "udp"))
		st->proto = 17;
	else
		return -1;
	if (!f->src || !f->dst || p_addr(f->src, st->src, &st->family) ||
	    p_addr(f->dst, st->dst, &f2) || f2 != st->family)
		return -1;
	if (f->local) {
		st->local = NB_START_LOCAL_SRC;
		if ((f->rx && p_iflist(f->rx, st->rx_ifs, &st->n_rx)) ||
		    (f->tx && p_iflist(f->tx, st->tx_ifs, &st->n_tx)))
			return -1;
	} else if (!f->rx || !f->tx || p_iflist(f->rx, st->rx_ifs, &st->n_rx) ||
		   p_iflist(f->tx, st->tx_ifs, &st->n_tx)) {
		return -1;
	}
	if (f->netns)
		snprintf(st->netns, sizeof(st->netns), "%s", f->netns);
	st->sport = (uint16_t)f->sport;
	st->dport = (uint16_t)f->dport;
	st->timeout_ms = 1000;
	st->credit = (uint32_t)f->credit;
	st->max_batch = (uint32_t)f->max_batch;
	return 0;
}

/* HELLO then START; 0 once STARTED arrived (printed), 1 otherwise. */
static int p_start(void *s, struct nb_msg *m, const struct p_flow *f)
{
	uint64_t t0;
	int rc;

	if (p_hello(s, m, true))
		return 1;
	if (p_start_msg(f, m)) {
		p_err("bad flow: need --src-ip, --dst-ip (one family), --rx-iface, --tx-iface");
		return 2;
	}
	t0 = nb_mono_ns();
	if (p_send(s, m))
		return 1;
	rc = p_wait(s, m, NB_MSG_STARTED, P_START_MS, NULL, true);
	if (rc <= 0) {
		if (!rc)
			p_err("no STARTED within 10 s");
		return 1;
	}
	printf("started session=%llu attach_ns=%llu rx_ifindex=", (unsigned long long)f->session,
	       (unsigned long long)m->started.attach_ns);
	for (uint32_t i = 0; i < m->started.n_rx; i++)
		printf("%s%u", i ? "," : "", m->started.rx_ifindex[i]);
	printf(" tx_ifindex=");
	for (uint32_t i = 0; i < m->started.n_tx; i++)
		printf("%s%u", i ? "," : "", m->started.tx_ifindex[i]);
	printf(" start_ms=%llu\n", (unsigned long long)((nb_mono_ns() - t0) / 1000000));
	fflush(stdout);
	nb_msg_clear(m);
	return 0;
}

/* HELLO, n STARTs at once, then each answer; 0 once all were answered, 1 otherwise. */
static int p_start_many(void *s, struct nb_msg *m, const struct p_flow *f, long n)
{
	uint64_t deadline;
	long answered = 0;
	int rc;

	if (p_hello(s, m, true))
		return 1;
	for (long i = 0; i < n; i++) {
		struct p_flow fi = *f;

		fi.session = f->session + (uint64_t)i;
		if (p_start_msg(&fi, m)) {
			p_err("bad flow: need --src-ip, --dst-ip (one family), --rx-iface, --tx-iface");
			return 2;
		}
		if (p_send(s, m))
			return 1;
	}
	/* Each START loads BPF on the agent, one after the other. */
	deadline = nb_mono_ns() + (uint64_t)n * P_START_MS * 1000000;
	while (answered < n && p_left_ms(deadline) > 0) {
		rc = p_recv(s, m, p_left_ms(deadline));
		if (rc < 0)
			return 1;
		if (!rc)
			break;
		if (m->type == NB_MSG_STARTED) {
			printf("session=%llu started\n", (unsigned long long)m->started.session);
			answered++;
		} else if (m->type == NB_MSG_ERROR && m->error.session) {
			printf("session=%llu error code=%d message=%s\n",
			       (unsigned long long)m->error.session, m->error.code,
			       m->error.message);
			answered++;
		}
		nb_msg_clear(m);
	}
	if (answered < n) {
		fprintf(stderr, "%s: %ld of %ld STARTs answered\n", p_prog, answered, n);
		return 1;
	}
	return 0;
}

struct p_stream {
	uint64_t batches, events, empty, seq_next, seq_gaps, wm_back, late_events, wm;
	uint64_t lost_ring, lost_queue, last_batch_ns, max_gap_ns, pongs, errors, stats;
	uint64_t st_events_read, st_events_sent, st_lost_queue, st_lost_ring, st_malformed;
	bool stopped;
	char stop_reason[NB_WIRE_STR_MAX + 1];
};

static void p_on_stats(struct p_stream *ps, const struct nb_msg_stats *st)
{
	ps->stats++;
	for (uint32_t i = 0; i < st->n_counters; i++) {
		const struct nb_wire_counter *c = &st->counters[i];

		if (!strcmp(c->name, "events_read"))
			ps->st_events_read = c->value;
		else if (!strcmp(c->name, "events_sent"))
			ps->st_events_sent = c->value;
		else if (!strcmp(c->name, "lost_queue"))
			ps->st_lost_queue = c->value;
		else if (!strcmp(c->name, "lost_ring"))
			ps->st_lost_ring = c->value;
		else if (!strcmp(c->name, "malformed_rx"))
			ps->st_malformed = c->value;
	}
}

/*
 * Checks what the contract promises: contiguous seq, a watermark that never goes back and
 * that no later event undercuts, and an EVENTS message at least every 100 ms.
 */
static void p_on_events(struct p_stream *ps, const struct nb_msg_events *e, uint64_t now)
{
	if (ps->batches && e->seq != ps->seq_next)
		ps->seq_gaps++;
	ps->seq_next = e->seq + 1;
	for (uint32_t i = 0; i < e->n_ev; i++)
		if (e->ev[i].ts_ns < ps->wm)
			ps->late_events++;
	if (e->watermark_ns < ps->wm)
		ps->wm_back++;
	else
		ps->wm = e->watermark_ns;
	if (ps->batches && now - ps->last_batch_ns > ps->max_gap_ns)
		ps->max_gap_ns = now - ps->last_batch_ns;
	ps->last_batch_ns = now;
	ps->batches++;
	ps->events += e->n_ev;
	ps->empty += !e->n_ev;
	ps->lost_ring = e->lost_ring;
	ps->lost_queue = e->lost_queue;
}

static void p_dispatch(struct p_stream *ps, struct nb_msg *m, uint64_t now)
{
	switch (m->type) {
	case NB_MSG_EVENTS:
		p_on_events(ps, &m->events, now);
		break;
	case NB_MSG_STATS:
		p_on_stats(ps, &m->stats);
		break;
	case NB_MSG_PONG:
		ps->pongs++;
		break;
	case NB_MSG_STOP:
		ps->stopped = true;
		snprintf(ps->stop_reason, sizeof(ps->stop_reason), "%s", m->stop.reason);
		break;
	case NB_MSG_ERROR:
		ps->errors++;
		printf("error code=%d session=%llu message=%s\n", m->error.code,
		       (unsigned long long)m->error.session, m->error.message);
		break;
	default:
		break;
	}
}

static int p_stream_cmd(void *s, struct nb_msg *m, const struct p_flow *f)
{
	uint64_t t_end, next_ping, granted_at = 0, seq = 0, deadline;
	struct p_stream ps = {0};
	int rc = p_start(s, m, f);

	if (rc)
		return rc;
	t_end = nb_mono_ns() + (uint64_t)f->duration_ms * 1000000;
	next_ping = nb_mono_ns();
	for (;;) {
		uint64_t now = nb_mono_ns();

		if (now >= t_end)
			break;
		if (now >= next_ping) {
			memset(m, 0, sizeof(*m));
			m->type = NB_MSG_PING;
			m->ping.seq = ++seq;
			m->ping.t_coord = now;
			m->ping.session = f->session;
			/* Grant back what was consumed since the last grant, like a coordinator. */
			if (!f->no_grant) {
				m->ping.credit = (uint32_t)(ps.batches - granted_at);
				granted_at = ps.batches;
			}
			p_send(s, m);
			next_ping = now + P_PING_NS;
		}
		rc = p_recv(s, m, (long)((next_ping > now ? next_ping - now : 0) / 1000000) + 1);
		if (rc < 0)
			return 1;
		if (rc) {
			p_dispatch(&ps, m, nb_mono_ns());
			nb_msg_clear(m);
		}
		if (ps.stopped)
			break;
	}
	if (!ps.stopped) {
		memset(m, 0, sizeof(*m));
		m->type = NB_MSG_STOP;
		m->stop.session = f->session;
		snprintf(m->stop.reason, sizeof(m->stop.reason), "probe done");
		p_send(s, m);
		deadline = nb_mono_ns() + 3000000000ull;
		while (!ps.stopped && p_left_ms(deadline) > 0) {
			rc = p_recv(s, m, p_left_ms(deadline));
			if (rc <= 0)
				break;
			p_dispatch(&ps, m, nb_mono_ns());
			nb_msg_clear(m);
		}
	}
	printf("batches=%llu events=%llu empty=%llu seq_gaps=%llu wm_back=%llu late_events=%llu "
	       "max_gap_ms=%llu lost_ring=%llu lost_queue=%llu pongs=%llu stats=%llu errors=%llu "
	       "st_events_read=%llu st_events_sent=%llu st_lost_queue=%llu st_lost_ring=%llu "
	       "st_malformed_rx=%llu stop=%s\n",
	       (unsigned long long)ps.batches, (unsigned long long)ps.events,
	       (unsigned long long)ps.empty, (unsigned long long)ps.seq_gaps,
	       (unsigned long long)ps.wm_back, (unsigned long long)ps.late_events,
	       (unsigned long long)(ps.max_gap_ns / 1000000), (unsigned long long)ps.lost_ring,
	       (unsigned long long)ps.lost_queue, (unsigned long long)ps.pongs,
	       (unsigned long long)ps.stats, (unsigned long long)ps.errors,
	       (unsigned long long)ps.st_events_read, (unsigned long long)ps.st_events_sent,
	       (unsigned long long)ps.st_lost_queue, (unsigned long long)ps.st_lost_ring,
	       (unsigned long long)ps.st_malformed,
	       ps.stopped ? (ps.stop_reason[0] ? ps.stop_reason : "?") : "none");
	return ps.stopped ? 0 : 1;
}

/* ---- learn-while ---- */

static void p_learn_names(const char (*n)[NB_WIRE_IFNAME_MAX + 1], uint32_t k)
{
	for (uint32_t i = 0; i < k; i++)
		printf("%s%s", i ? "," : "", n[i]);
}

/*
 * Whether the agent serves others while a START learns its interfaces: the answers are
 * printed in the order they arrive. On one connection (a) that order is the agent's; across
 * the two (b, then a) it is too, the agent being one thread that sends b's answers before the
 * START's whenever it answers them while the START is pending.
 */
static int p_learn_cmd(void *ctx, const char *ep, void *a, struct nb_msg *m, struct p_flow *f,
		       bool stop)
{
	uint64_t deadline, sid = f->session;
	void *b;
	bool b_hello = false, b_pong = false, a_sent = false, done = false;
	int rc = 1;

	f->local = true;
	if (p_hello(a, m, true))
		return 1;
	b = p_connect(ctx, ep, true, NULL, NULL, "127.0.0.2");
	if (!b)
		return 1;
	if (p_start_msg(f, m)) {
		p_err("bad flow: need --src-ip, --dst-ip (one family)");
		zmq_close(b);
		return 2;
	}
	if (p_send(a, m))
		goto out;
	p_hello_msg(m);
	if (p_send(b, m))
		goto out;
	memset(m, 0, sizeof(*m));
	m->type = NB_MSG_PING;
	m->ping.seq = 1;
	m->ping.t_coord = nb_mono_ns();
	if (p_send(b, m))
		goto out;
	deadline = nb_mono_ns() + 10000000000ull;
	while (!done && p_left_ms(deadline) > 0) {
		zmq_pollitem_t it[2] = {{.socket = a, .events = ZMQ_POLLIN},
					{.socket = b, .events = ZMQ_POLLIN}};

		if (zmq_poll(it, 2, p_left_ms(deadline)) <= 0)
			continue;
		for (int k = 0; k < 2; k++) {
			if (!(it[k].revents & ZMQ_POLLIN) || p_recv(k ? b : a, m, 0) <= 0)
				continue;
			if (k) {
				if (m->type == NB_MSG_HELLO)
					b_hello = true;
				else if (m->type == NB_MSG_PONG)
					b_pong = true;
				printf("b: %s\n", nb_msg_type_name(m->type));
			} else if (m->type == NB_MSG_STARTED) {
				printf("a: STARTED rx=");
				p_learn_names(m->started.rx_ifs, m->started.n_rx);
				printf(" tx=");
				p_learn_names(m->started.tx_ifs, m->started.n_tx);
				printf("\n");
				done = true;
			} else if (m->type == NB_MSG_ERROR) {
				printf("a: ERROR code=%d message=%s\n", m->error.code,
				       m->error.message);
				done = m->error.session == sid;
			} else {
				printf("a: %s\n", nb_msg_type_name(m->type));
				done = m->type == NB_MSG_STOP;
			}
			nb_msg_clear(m);
		}
		if (b_hello && b_pong && !a_sent && !done) {
			memset(m, 0, sizeof(*m));
			if (stop) {
				m->type = NB_MSG_STOP;
				m->stop.session = sid;
				snprintf(m->stop.reason, sizeof(m->stop.reason), "probe");
			} else {
				m->type = NB_MSG_PING;
				m->ping.seq = 2;
				m->ping.t_coord = nb_mono_ns();
				m->ping.session = sid;
			}
			if (p_send(a, m))
				goto out;
			a_sent = true;
		}
	}
	if (!done) {
		p_err("the START was not answered within 10 s");
		goto out;
	}
	rc = 0;
	/* A session that did start is not left to its lease. */
	memset(m, 0, sizeof(*m));
	m->type = NB_MSG_STOP;
	m->stop.session = sid;
	if (!stop)
		p_send(a, m);
out:
	zmq_close(b);
	return rc;
}

/* ---- keygen ---- */

static int p_keygen(const char *dir)
{
	struct nb_keypair kp;
	char fpr[NB_KEY_FPR_LEN + 1];
	int err = nb_keys_generate(&kp);

	if (!err)
		err = nb_keys_write(dir, &kp, false);
	if (err) {
		fprintf(stderr, "%s: keygen %s: %s\n", p_prog, dir, strerror(-err));
		return 1;
	}
	nb_keys_fingerprint(kp.pub.raw, fpr);
	printf("%s/%s %s\n", dir, NB_KEY_PUB_FILE, fpr);
	explicit_bzero(&kp, sizeof(kp));
	return 0;
}

/* ---- main ---- */

static int p_num(const char *arg, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(arg, &end, 0);
	if (errno || end == arg || *end || *out < min || *out > max) {
		fprintf(stderr, "%s: invalid number '%s'\n", p_prog, arg);
		return -1;
	}
	return 0;
}

static int p_flow_opts(int argc, char **argv, struct p_flow *f)
{
	enum {
		F_SRC = 256,
		F_DST,
		F_RX,
		F_TX,
		F_NETNS,
		F_PROTO,
		F_SPORT,
		F_DPORT,
		F_SESSION,
		F_DUR,
		F_CREDIT,
		F_NOGRANT,
		F_MAXB
	};
	static const struct option lo[] = {
	    {"src-ip", required_argument, NULL, F_SRC},
	    {"dst-ip", required_argument, NULL, F_DST},
	    {"rx-iface", required_argument, NULL, F_RX},
	    {"tx-iface", required_argument, NULL, F_TX},
	    {"netns", required_argument, NULL, F_NETNS},
	    {"proto", required_argument, NULL, F_PROTO},
	    {"sport", required_argument, NULL, F_SPORT},
	    {"dport", required_argument, NULL, F_DPORT},
	    {"session", required_argument, NULL, F_SESSION},
	    {"duration-ms", required_argument, NULL, F_DUR},
	    {"credit", required_argument, NULL, F_CREDIT},
	    {"no-grant", no_argument, NULL, F_NOGRANT},
	    {"max-batch", required_argument, NULL, F_MAXB},
	    {0},
	};
	long v;
	int c;

	f->session = 1 + (uint64_t)(nb_mono_ns() % 1000000);
	f->duration_ms = 2000;
	f->credit = 16;
	f->max_batch = 256;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case F_SRC:
			f->src = optarg;
			break;
		case F_DST:
			f->dst = optarg;
			break;
		case F_RX:
			f->rx = optarg;
			break;
		case F_TX:
			f->tx = optarg;
			break;
		case F_NETNS:
			f->netns = optarg;
			break;
		case F_PROTO:
			f->proto = optarg;
			break;
		case F_SPORT:
			if (p_num(optarg, 0, 65535, &f->sport))
				return -1;
			break;
		case F_DPORT:
			if (p_num(optarg, 0, 65535, &f->dport))
				return -1;
			break;
		case F_SESSION:
			if (p_num(optarg, 1, LONG_MAX, &v))
				return -1;
			f->session = (uint64_t)v;
			break;
		case F_DUR:
			if (p_num(optarg, 1, 3600000, &f->duration_ms))
				return -1;
			break;
		case F_CREDIT:
			if (p_num(optarg, 0, UINT32_MAX, &f->credit))
				return -1;
			break;
		case F_NOGRANT:
			f->no_grant = true;
			break;
		case F_MAXB:
			if (p_num(optarg, 1, NB_WIRE_MAX_EVENTS, &f->max_batch))
				return -1;
			break;
		default:
			fprintf(stderr, "%s: unknown or incomplete option '%s'\n", p_prog,
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", p_prog, argv[optind]);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"insecure", no_argument, NULL, 'i'},
	    {"server-key", required_argument, NULL, 's'},
	    {"key", required_argument, NULL, 'k'},
	    {"source", required_argument, NULL, 'S'},
	    {0},
	};
	const char *ep, *server_key = NULL, *key = NULL, *cmd, *source = NULL;
	struct p_flow flow = {0};
	bool insecure = false;
	struct nb_msg *m;
	void *ctx, *s;
	int c, rc = 1;
	long n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "keygen"))
		return p_keygen(argv[2]);
	if (argc < 3) {
		p_usage();
		return 2;
	}
	ep = argv[1];
	/* Options of the probe itself end at the command word ("+"). */
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			insecure = true;
			break;
		case 's':
			server_key = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'S':
			source = optarg;
			break;
		default:
			p_usage();
			return 2;
		}
	}
	if (optind + 1 >= argc || (!insecure && (!server_key || !key))) {
		p_usage();
		return 2;
	}
	cmd = argv[optind + 1];
	argc -= optind + 1;
	argv += optind + 1;

	m = calloc(1, sizeof(*m));
	ctx = zmq_ctx_new();
	if (!m || !ctx) {
		p_err("out of memory");
		return 1;
	}
	s = p_connect(ctx, ep, insecure, server_key, key, source);
	if (!s)
		goto out;
	if (!strcmp(cmd, "hello") && argc == 1) {
		rc = p_hello(s, m, false);
	} else if (!strcmp(cmd, "garbage") && argc == 2) {
		rc = p_num(argv[1], 0, 1000000, &n) ? 2 : p_garbage_cmd(s, m, n);
	} else if (!strcmp(cmd, "start-and-vanish")) {
		rc = p_flow_opts(argc, argv, &flow) ? 2 : p_start(s, m, &flow);
	} else if (!strcmp(cmd, "start-many") && argc >= 2) {
		rc = p_num(argv[1], 1, 64, &n) || p_flow_opts(argc - 1, argv + 1, &flow)
			 ? 2
			 : p_start_many(s, m, &flow, n);
	} else if (!strcmp(cmd, "learn-while") && insecure) {
		bool stop = argc > 1 && !strcmp(argv[argc - 1], "--stop");

		rc = p_flow_opts(argc - stop, argv, &flow)
			 ? 2
			 : p_learn_cmd(ctx, ep, s, m, &flow, stop);
	} else if (!strcmp(cmd, "stream")) {
		rc = p_flow_opts(argc, argv, &flow) ? 2 : p_stream_cmd(s, m, &flow);
	} else {
		p_usage();
		rc = 2;
	}
	zmq_close(s);
out:
	zmq_ctx_term(ctx);
	free(m);
	return rc;
}
