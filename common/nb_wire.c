// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Wire protocol codec (see nb_wire.h for the message catalogue).
 *
 * Encoding packs with msgpack-c straight into a reusable struct nb_wbuf.
 *
 * Decoding reads the frame in place, in two passes, and allocates only the event array.
 * s_scan() first walks the raw bytes and checks the structure against the frame itself: every
 * length and count must fit in the bytes left, nesting and the number of objects are bounded,
 * nothing trails the map. The second pass then reads fields with a type check on each, and can
 * trust every position it reaches to hold a whole object.
 *
 * msgpack-c's own unpacker is not used for decoding, for two reasons. It allocates
 * count * sizeof(msgpack_object) for an array header before it has seen one element, so a
 * 5-byte frame claiming 2^32 elements asks for ~100 GB. And building its object tree (29
 * objects per event) made decoding a full batch run at about 1M events/s, half a core of the
 * coordinator's budget at the target rate; reading in place runs an order of magnitude faster.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "nb_wire.h"

/*
 * Bound on msgpack objects in one frame, which bounds the decoder's work on any frame. A full
 * EVENTS batch is 4096 * (1 + 28) + ~20 = 118,804; twice that leaves room for fields a newer
 * agent appends to each event.
 */
#define NB_WIRE_MAX_OBJECTS (256u << 10)
/* Deepest legitimate nesting is 3 (map > ev array > event array); a little slack for new fields. */
#define S_MAX_DEPTH 8
/* Children of the top-level map whose positions the pre-pass records: its keys and values. */
#define S_MARKS (2 * NB_WIRE_MAX_KEYS)

static const char *const s_type_names[] = {
    [NB_MSG_HELLO] = "HELLO",	[NB_MSG_START] = "START",   [NB_MSG_STARTED] = "STARTED",
    [NB_MSG_EVENTS] = "EVENTS", [NB_MSG_STATS] = "STATS",   [NB_MSG_PING] = "PING",
    [NB_MSG_PONG] = "PONG",	[NB_MSG_CREDIT] = "CREDIT", [NB_MSG_STOP] = "STOP",
    [NB_MSG_ERROR] = "ERROR",	[NB_MSG_DROPINFO] = "DROPINFO", [NB_MSG_RUN] = "RUN",
    [NB_MSG_OUTPUT] = "OUTPUT", [NB_MSG_MONITOR] = "MONITOR",
};

#define S_NTYPES (sizeof(s_type_names) / sizeof(s_type_names[0]))

const char *nb_msg_type_name(enum nb_msg_type t)
{
	if ((unsigned)t >= S_NTYPES || !s_type_names[t])
		return "?";
	return s_type_names[t];
}

static const struct {
	const char *name;
	uint8_t proto;
} s_protos[] = {
    {"icmp", IPPROTO_ICMP},
    {"tcp", IPPROTO_TCP},
    {"udp", IPPROTO_UDP},
};

#define S_NPROTOS (sizeof(s_protos) / sizeof(s_protos[0]))

/* ---------------------------------------------------------------------------------------- */
/* Output buffer */

void nb_wbuf_free(struct nb_wbuf *b)
{
	if (!b)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void *nb_wbuf_release(struct nb_wbuf *b, size_t *len)
{
	void *p = b->data;

	if (len)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}

static void s_fail(struct nb_wbuf *b, int err)
{
	if (!b->err)
		b->err = err;
}

/* msgpack-c write callback. Errors stick in b->err so encoders check once at the end. */
static int s_write(void *data, const char *buf, size_t len)
{
	struct nb_wbuf *b = data;

	if (b->err)
		return -1;
	if (len > NB_WIRE_MAX_FRAME - b->len) {
		s_fail(b, -EMSGSIZE);
		return -1;
	}
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + len)
			cap *= 2;
		if (cap > NB_WIRE_MAX_FRAME)
			cap = NB_WIRE_MAX_FRAME;
		p = realloc(b->data, cap);
		if (!p) {
			s_fail(b, -ENOMEM);
			return -1;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding */

struct s_enc {
	msgpack_packer pk;
	struct nb_wbuf *b;
};

static void s_enc_init(struct s_enc *e, struct nb_wbuf *b)
{
	b->len = 0;
	b->err = 0;
	e->b = b;
	msgpack_packer_init(&e->pk, b, s_write);
}

static void s_key(struct s_enc *e, const char *k)
{
	size_t n = strlen(k);

	msgpack_pack_str(&e->pk, n);
	msgpack_pack_str_body(&e->pk, k, n);
}

static void s_put_u64(struct s_enc *e, const char *k, uint64_t v)
{
	s_key(e, k);
	msgpack_pack_uint64(&e->pk, v);
}

/* A required session id: 0 is reserved for "none". */
static void s_put_session(struct s_enc *e, uint64_t v)
{
	if (!v)
		s_fail(e->b, -EINVAL);
	s_put_u64(e, "session", v);
}

/* Checks a struct string the way the decoder will: terminated within cap, no control bytes. */
static size_t s_str_check(struct s_enc *e, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap) {
		s_fail(e->b, -EMSGSIZE);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c == 0x7f) {
			s_fail(e->b, -EINVAL);
			return 0;
		}
	}
	return n;
}

static void s_put_strval(struct s_enc *e, const char *s, size_t cap)
{
	size_t n = s_str_check(e, s, cap);

	msgpack_pack_str(&e->pk, n);
	msgpack_pack_str_body(&e->pk, s, n);
}

static void s_put_str(struct s_enc *e, const char *k, const char *s, size_t cap)
{
	s_key(e, k);
	s_put_strval(e, s, cap);
}

static void s_head(struct s_enc *e, enum nb_msg_type t, size_t nfields)
{
	msgpack_pack_map(&e->pk, nfields + 2);
	s_put_u64(e, "v", NB_WIRE_VERSION);
	s_key(e, "t");
	s_put_strval(e, nb_msg_type_name(t), NB_WIRE_NAME_MAX + 1);
}

static void s_put_count(struct s_enc *e, uint32_t n, uint32_t max)
{
	if (n > max)
		s_fail(e->b, -EMSGSIZE);
}

static void s_enc_hello(struct s_enc *e, const struct nb_msg_hello *h)
{
	s_put_count(e, h->n_caps, NB_WIRE_MAX_CAPS);
	if (e->b->err)
		return;
	s_head(e, NB_MSG_HELLO, 3 + !!h->n_caps + !!h->clock_ns + !!h->sessions);
	s_put_str(e, "name", h->name, sizeof(h->name));
	s_put_str(e, "version", h->version, sizeof(h->version));
	if (!h->proto)
		s_fail(e->b, -EINVAL);
	s_put_u64(e, "proto", h->proto);
	if (h->n_caps) {
		s_key(e, "caps");
		msgpack_pack_array(&e->pk, h->n_caps);
		for (uint32_t i = 0; i < h->n_caps; i++)
			s_put_strval(e, h->caps[i], sizeof(h->caps[i]));
	}
	if (h->clock_ns)
		s_put_u64(e, "clock_ns", h->clock_ns);
	if (h->sessions)
		s_put_u64(e, "sessions", h->sessions);
}

static void s_put_ifs(struct s_enc *e, const char *k, const char (*ifs)[NB_WIRE_IFNAME_MAX + 1],
		      uint32_t n)
{
	s_key(e, k);
	msgpack_pack_array(&e->pk, n);
	for (uint32_t i = 0; i < n; i++)
		s_put_strval(e, ifs[i], sizeof(ifs[i]));
}

static void s_put_addr(struct s_enc *e, const char *k, uint8_t family, const uint8_t *a)
{
	static const uint8_t zero[NB_ADDR_LEN];
	size_t n = family == 4 ? 4 : NB_ADDR_LEN;

	/* Bytes the wire form cannot carry would silently change the in-kernel filter. */
	if (memcmp(a + n, zero, NB_ADDR_LEN - n))
		s_fail(e->b, -EINVAL);
	s_key(e, k);
	msgpack_pack_bin(&e->pk, n);
	msgpack_pack_bin_body(&e->pk, a, n);
}

static void s_enc_start(struct s_enc *e, const struct nb_msg_start *s)
{
	const char *proto = NULL;

	for (size_t i = 0; i < S_NPROTOS; i++)
		if (s_protos[i].proto == s->proto)
			proto = s_protos[i].name;
	if (!proto || (s->family != 4 && s->family != 6) || !s->max_batch)
		s_fail(e->b, -EINVAL);
	s_put_count(e, s->n_rx, NB_MAX_IFS);
	s_put_count(e, s->n_tx, NB_MAX_IFS);
	s_put_count(e, s->max_batch, NB_WIRE_MAX_EVENTS);
	if (e->b->err)
		return;
	if (s->local > NB_START_LOCAL_DST)
		s_fail(e->b, -EINVAL);
	s_head(e, NB_MSG_START,
	       12 + !!s->netns[0] + !!s->duration_s + !!s->local + !!s->monitors);
	s_put_session(e, s->session);
	s_put_str(e, "proto", proto, NB_WIRE_NAME_MAX + 1);
	s_put_u64(e, "family", s->family);
	s_put_addr(e, "src", s->family, s->src);
	s_put_addr(e, "dst", s->family, s->dst);
	s_put_u64(e, "sport", s->sport);
	s_put_u64(e, "dport", s->dport);
	s_put_ifs(e, "rx_ifs", s->rx_ifs, s->n_rx);
	s_put_ifs(e, "tx_ifs", s->tx_ifs, s->n_tx);
	if (s->netns[0])
		s_put_str(e, "netns", s->netns, sizeof(s->netns));
	s_put_u64(e, "timeout_ms", s->timeout_ms);
	s_put_u64(e, "credit", s->credit);
	s_put_u64(e, "max_batch", s->max_batch);
	if (s->duration_s)
		s_put_u64(e, "duration_s", s->duration_s);
	if (s->local)
		s_put_str(e, "local", s->local == NB_START_LOCAL_SRC ? "src" : "dst", 4);
	if (s->monitors)
		s_put_u64(e, "monitors", s->monitors);
}

static void s_put_u32s(struct s_enc *e, const char *k, const uint32_t *v, uint32_t n)
{
	s_key(e, k);
	msgpack_pack_array(&e->pk, n);
	for (uint32_t i = 0; i < n; i++)
		msgpack_pack_uint32(&e->pk, v[i]);
}

static void s_enc_started(struct s_enc *e, const struct nb_msg_started *s)
{
	s_put_count(e, s->n_rx, NB_MAX_IFS);
	s_put_count(e, s->n_tx, NB_MAX_IFS);
	s_put_count(e, s->n_unattached, NB_WIRE_MAX_UNATTACHED);
	if (e->b->err)
		return;
	s_head(e, NB_MSG_STARTED,
	       4 + !!s->n_unattached + 2 * s->names + !!s->rx_why[0] + !!s->tx_why[0] +
		   !!s->switch_kind[0]);
	s_put_session(e, s->session);
	s_put_u64(e, "attach_ns", s->attach_ns);
	s_put_u32s(e, "rx_ifindex", s->rx_ifindex, s->n_rx);
	s_put_u32s(e, "tx_ifindex", s->tx_ifindex, s->n_tx);
	if (s->names) {
		s_put_ifs(e, "rx_ifs", s->rx_ifs, s->n_rx);
		s_put_ifs(e, "tx_ifs", s->tx_ifs, s->n_tx);
	}
	if (s->rx_why[0])
		s_put_str(e, "rx_why", s->rx_why, sizeof(s->rx_why));
	if (s->tx_why[0])
		s_put_str(e, "tx_why", s->tx_why, sizeof(s->tx_why));
	if (s->switch_kind[0])
		s_put_str(e, "switch", s->switch_kind, sizeof(s->switch_kind));
	if (s->n_unattached) {
		s_key(e, "unattached");
		msgpack_pack_array(&e->pk, s->n_unattached);
		for (uint32_t i = 0; i < s->n_unattached; i++) {
			const struct nb_wire_unattached *u = &s->unattached[i];

			msgpack_pack_map(&e->pk, 2);
			s_put_str(e, "hook", u->hook, sizeof(u->hook));
			s_put_str(e, "reason", u->reason, sizeof(u->reason));
		}
	}
}

static void s_enc_stats(struct s_enc *e, const struct nb_msg_stats *s)
{
	s_put_count(e, s->n_counters, NB_WIRE_MAX_COUNTERS);
	if (e->b->err)
		return;
	s_head(e, NB_MSG_STATS, 2);
	s_put_session(e, s->session);
	s_key(e, "counters");
	msgpack_pack_map(&e->pk, s->n_counters);
	for (uint32_t i = 0; i < s->n_counters; i++) {
		s_put_strval(e, s->counters[i].name, sizeof(s->counters[i].name));
		msgpack_pack_uint64(&e->pk, s->counters[i].value);
		/* The decoder refuses duplicate names; refuse them here first. */
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(s->counters[i].name, s->counters[j].name))
				s_fail(e->b, -EINVAL);
	}
}

static void s_enc_ping(struct s_enc *e, const struct nb_msg_ping *p)
{
	s_head(e, NB_MSG_PING, 2 + !!p->session + !!p->credit);
	s_put_u64(e, "seq", p->seq);
	s_put_u64(e, "t_coord", p->t_coord);
	if (p->session)
		s_put_u64(e, "session", p->session);
	if (p->credit)
		s_put_u64(e, "credit", p->credit);
}

static void s_enc_pong(struct s_enc *e, const struct nb_msg_pong *p)
{
	s_head(e, NB_MSG_PONG, 3 + !!p->session + !!p->credit);
	s_put_u64(e, "seq", p->seq);
	s_put_u64(e, "t_coord", p->t_coord);
	s_put_u64(e, "t_agent", p->t_agent);
	if (p->session)
		s_put_u64(e, "session", p->session);
	if (p->credit)
		s_put_u64(e, "credit", p->credit);
}

static void s_enc_credit(struct s_enc *e, const struct nb_msg_credit *c)
{
	s_head(e, NB_MSG_CREDIT, 2);
	s_put_session(e, c->session);
	s_put_u64(e, "credit", c->credit);
}

static void s_enc_stop(struct s_enc *e, const struct nb_msg_stop *s)
{
	s_head(e, NB_MSG_STOP, 2 + !!s->exit_code);
	s_put_session(e, s->session);
	s_put_str(e, "reason", s->reason, sizeof(s->reason));
	if (s->exit_code) {
		s_key(e, "exit_code");
		msgpack_pack_int32(&e->pk, s->exit_code);
	}
}

static void s_enc_run(struct s_enc *e, const struct nb_msg_run *r)
{
	s_put_count(e, r->n_args, NB_WIRE_MAX_ARGS);
	if (r->check > 1 || !r->tool[0])
		s_fail(e->b, -EINVAL);
	if (e->b->err)
		return;
	s_head(e, NB_MSG_RUN, 4 + !!r->check);
	s_put_session(e, r->session);
	s_put_str(e, "tool", r->tool, sizeof(r->tool));
	s_key(e, "args");
	msgpack_pack_array(&e->pk, r->n_args);
	for (uint32_t i = 0; i < r->n_args; i++)
		s_put_strval(e, r->args[i], sizeof(r->args[i]));
	s_put_u64(e, "credit", r->credit);
	if (r->check)
		s_put_u64(e, "check", r->check);
}

/* A line of a tool's output: a tab is allowed (tools align with it), no other control byte. */
static void s_put_line(struct s_enc *e, const char *s)
{
	size_t n = strnlen(s, NB_WIRE_LINE_MAX + 1);

	if (n > NB_WIRE_LINE_MAX) {
		s_fail(e->b, -EMSGSIZE);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			s_fail(e->b, -EINVAL);
			return;
		}
	}
	msgpack_pack_str(&e->pk, n);
	msgpack_pack_str_body(&e->pk, s, n);
}

static void s_enc_output(struct s_enc *e, const struct nb_msg_output *o)
{
	s_put_count(e, o->n_lines, NB_WIRE_MAX_LINES);
	if ((o->stream != NB_OUT_STDOUT && o->stream != NB_OUT_STDERR) || (o->n_lines && !o->lines))
		s_fail(e->b, -EINVAL);
	if (e->b->err)
		return;
	s_head(e, NB_MSG_OUTPUT, 4);
	s_put_session(e, o->session);
	s_put_u64(e, "seq", o->seq);
	s_put_u64(e, "stream", o->stream);
	s_key(e, "lines");
	msgpack_pack_array(&e->pk, o->n_lines);
	for (uint32_t i = 0; i < o->n_lines && !e->b->err; i++)
		s_put_line(e, o->lines[i]);
}

static void s_enc_error(struct s_enc *e, const struct nb_msg_error *r)
{
	s_head(e, NB_MSG_ERROR, 2 + !!r->session);
	s_key(e, "code");
	msgpack_pack_int32(&e->pk, r->code);
	s_put_str(e, "message", r->message, sizeof(r->message));
	if (r->session)
		s_put_u64(e, "session", r->session);
}

static void s_enc_dropinfo(struct s_enc *e, const struct nb_msg_dropinfo *d)
{
	s_put_count(e, d->n_frames, NB_WIRE_MAX_FRAMES);
	if (e->b->err)
		return;
	s_head(e, NB_MSG_DROPINFO, 6 + !!d->location_sym[0] + !!d->ifname[0] + !!d->n_frames);
	s_put_session(e, d->session);
	s_key(e, "stack_id");
	msgpack_pack_int32(&e->pk, d->stack_id);
	s_put_u64(e, "reason", d->reason);
	s_put_u64(e, "ifindex", d->ifindex);
	s_put_u64(e, "location", d->location);
	s_put_str(e, "reason_name", d->reason_name, sizeof(d->reason_name));
	if (d->location_sym[0])
		s_put_str(e, "location_sym", d->location_sym, sizeof(d->location_sym));
	if (d->ifname[0])
		s_put_str(e, "ifname", d->ifname, sizeof(d->ifname));
	if (d->n_frames) {
		s_key(e, "frames");
		msgpack_pack_array(&e->pk, d->n_frames);
		for (uint32_t i = 0; i < d->n_frames; i++)
			s_put_strval(e, d->frames[i], sizeof(d->frames[i]));
	}
}

static void s_put_monq(struct s_enc *e, const struct nb_wire_monq *q)
{
	msgpack_pack_array(&e->pk, NB_WIRE_MONQ_FIELDS);
	msgpack_pack_uint32(&e->pk, q->queue);
	msgpack_pack_uint32(&e->pk, q->size);
	msgpack_pack_uint32(&e->pk, q->hwm);
	msgpack_pack_uint32(&e->pk, q->occupancy);
	msgpack_pack_uint64(&e->pk, q->enqueued);
	msgpack_pack_uint64(&e->pk, q->matched);
	msgpack_pack_uint64(&e->pk, q->dequeued);
	msgpack_pack_uint64(&e->pk, q->full);
	msgpack_pack_uint64(&e->pk, q->drops_full_ring);
	msgpack_pack_uint64(&e->pk, q->drops_other);
}

static void s_enc_monitor(struct s_enc *e, const struct nb_msg_monitor *m)
{
	s_put_count(e, m->n_queues, NB_WIRE_MAX_MONQ);
	s_put_count(e, m->n_sojourn, NB_WIRE_MON_SLOTS);
	if (m->attached > 1 || !m->monitor[0])
		s_fail(e->b, -EINVAL);
	if (e->b->err)
		return;
	s_head(e, NB_MSG_MONITOR,
	       4 + !!m->why[0] + !!m->queues_seen + m->has_total + !!m->n_queues +
		   !!m->n_sojourn);
	s_put_session(e, m->session);
	s_put_str(e, "monitor", m->monitor, sizeof(m->monitor));
	s_put_str(e, "ifname", m->ifname, sizeof(m->ifname));
	s_put_u64(e, "attached", m->attached);
	if (m->why[0])
		s_put_str(e, "why", m->why, sizeof(m->why));
	if (m->queues_seen)
		s_put_u64(e, "queues_seen", m->queues_seen);
	if (m->has_total) {
		s_key(e, "total");
		s_put_monq(e, &m->total);
	}
	if (m->n_queues) {
		s_key(e, "queues");
		msgpack_pack_array(&e->pk, m->n_queues);
		for (uint32_t i = 0; i < m->n_queues; i++)
			s_put_monq(e, &m->queues[i]);
	}
	if (m->n_sojourn) {
		s_key(e, "sojourn_us");
		msgpack_pack_array(&e->pk, m->n_sojourn);
		for (uint32_t i = 0; i < m->n_sojourn; i++)
			msgpack_pack_uint64(&e->pk, m->sojourn_us[i]);
	}
}

static void s_pack_addr(msgpack_packer *pk, const uint8_t *a)
{
	static const uint8_t zero[NB_ADDR_LEN - 4];
	/* IPv4 (and "no address") in 4 bytes: most events of a trace are IPv4 and this is the
	 * biggest part of an encoded event. Any non-zero tail goes in full, so it stays exact. */
	size_t n = memcmp(a + 4, zero, sizeof(zero)) ? NB_ADDR_LEN : 4;

	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, a, n);
}

static void s_pack_event(msgpack_packer *pk, const struct nb_event *ev)
{
	const struct nb_pkt *p = &ev->pkt;

	msgpack_pack_array(pk, NB_WIRE_EV_FIELDS);
	msgpack_pack_uint64(pk, ev->ts_ns);
	msgpack_pack_uint32(pk, ev->ifindex);
	msgpack_pack_uint32(pk, ev->netns);
	msgpack_pack_uint8(pk, ev->type);
	msgpack_pack_uint8(pk, ev->hook);
	msgpack_pack_uint16(pk, ev->ethertype);
	msgpack_pack_uint32(pk, ev->reason);
	msgpack_pack_uint64(pk, ev->location);
	msgpack_pack_int32(pk, ev->stack_id);
	msgpack_pack_uint32(pk, ev->cpu);
	s_pack_addr(pk, p->saddr);
	s_pack_addr(pk, p->daddr);
	msgpack_pack_uint8(pk, p->family);
	msgpack_pack_uint8(pk, p->proto);
	msgpack_pack_uint8(pk, p->icmp_type);
	msgpack_pack_uint8(pk, p->icmp_code);
	msgpack_pack_uint16(pk, p->sport);
	msgpack_pack_uint16(pk, p->dport);
	msgpack_pack_uint16(pk, p->icmp_id);
	msgpack_pack_uint16(pk, p->icmp_seq);
	msgpack_pack_uint32(pk, p->ip_id);
	msgpack_pack_uint16(pk, p->frag_off);
	msgpack_pack_uint8(pk, p->more_frags);
	msgpack_pack_uint8(pk, p->tcp_flags);
	msgpack_pack_uint16(pk, p->ip_len);
	msgpack_pack_uint32(pk, p->tcp_seq);
	msgpack_pack_uint32(pk, p->tcp_ack);
	msgpack_pack_uint32(pk, p->l4_len);
}

/*
 * An EVENTS map is written as: v, t, ev (array32 with a placeholder count), then the header
 * fields, which the producer only knows once the batch is closed. array32 is valid msgpack
 * for any count; it costs 4 bytes over the shortest form and saves a second pass.
 */
#define S_EVENTS_KEYS 8

int nb_wire_batch_begin(struct nb_wire_batch *bt, struct nb_wbuf *b)
{
	static const char count0[5] = {(char)0xdd, 0, 0, 0, 0};
	struct s_enc e;

	s_enc_init(&e, b);
	bt->buf = b;
	bt->n = 0;
	msgpack_pack_map(&e.pk, S_EVENTS_KEYS);
	s_put_u64(&e, "v", NB_WIRE_VERSION);
	s_key(&e, "t");
	s_put_strval(&e, nb_msg_type_name(NB_MSG_EVENTS), NB_WIRE_NAME_MAX + 1);
	s_key(&e, "ev");
	bt->count_at = b->len + 1;
	s_write(b, count0, sizeof(count0));
	return b->err;
}

int nb_wire_batch_add(struct nb_wire_batch *bt, const struct nb_event *ev)
{
	msgpack_packer pk;

	if (bt->buf->err)
		return bt->buf->err;
	if (bt->n >= NB_WIRE_MAX_EVENTS)
		return -EMSGSIZE;
	msgpack_packer_init(&pk, bt->buf, s_write);
	s_pack_event(&pk, ev);
	if (bt->buf->err)
		return bt->buf->err;
	bt->n++;
	return 0;
}

int nb_wire_batch_end(struct nb_wire_batch *bt, const struct nb_msg_events *hdr)
{
	struct nb_wbuf *b = bt->buf;
	struct s_enc e = {.b = b};
	unsigned char *c;

	if (b->err)
		return b->err;
	msgpack_packer_init(&e.pk, b, s_write);
	s_put_session(&e, hdr->session);
	s_put_u64(&e, "seq", hdr->seq);
	s_put_u64(&e, "watermark_ns", hdr->watermark_ns);
	s_put_u64(&e, "lost_ring", hdr->lost_ring);
	s_put_u64(&e, "lost_queue", hdr->lost_queue);
	if (b->err)
		return b->err;
	c = (unsigned char *)b->data + bt->count_at;
	c[0] = bt->n >> 24;
	c[1] = bt->n >> 16;
	c[2] = bt->n >> 8;
	c[3] = bt->n;
	return 0;
}

int nb_wire_encode_events(const struct nb_msg_events *hdr, const struct nb_event *ev, size_t n,
			  struct nb_wbuf *b)
{
	struct nb_wire_batch bt;
	int err;

	if (n > NB_WIRE_MAX_EVENTS) {
		b->len = 0;
		return -EMSGSIZE;
	}
	if (n && !ev)
		return -EINVAL;
	err = nb_wire_batch_begin(&bt, b);
	for (size_t i = 0; !err && i < n; i++)
		err = nb_wire_batch_add(&bt, &ev[i]);
	if (!err)
		err = nb_wire_batch_end(&bt, hdr);
	if (err)
		b->len = 0;
	return err;
}

int nb_wire_encode_buf(const struct nb_msg *m, struct nb_wbuf *b)
{
	struct s_enc e;

	if (!m || !b)
		return -EINVAL;
	if (m->type == NB_MSG_EVENTS)
		return nb_wire_encode_events(&m->events, m->events.ev, m->events.n_ev, b);
	s_enc_init(&e, b);
	switch (m->type) {
	case NB_MSG_HELLO:
		s_enc_hello(&e, &m->hello);
		break;
	case NB_MSG_START:
		s_enc_start(&e, &m->start);
		break;
	case NB_MSG_STARTED:
		s_enc_started(&e, &m->started);
		break;
	case NB_MSG_STATS:
		s_enc_stats(&e, &m->stats);
		break;
	case NB_MSG_PING:
		s_enc_ping(&e, &m->ping);
		break;
	case NB_MSG_PONG:
		s_enc_pong(&e, &m->pong);
		break;
	case NB_MSG_CREDIT:
		s_enc_credit(&e, &m->credit);
		break;
	case NB_MSG_STOP:
		s_enc_stop(&e, &m->stop);
		break;
	case NB_MSG_ERROR:
		s_enc_error(&e, &m->error);
		break;
	case NB_MSG_DROPINFO:
		s_enc_dropinfo(&e, &m->dropinfo);
		break;
	case NB_MSG_RUN:
		s_enc_run(&e, &m->run);
		break;
	case NB_MSG_OUTPUT:
		s_enc_output(&e, &m->output);
		break;
	case NB_MSG_MONITOR:
		s_enc_monitor(&e, &m->monitor);
		break;
	default:
		s_fail(b, -EINVAL);
		break;
	}
	if (b->err) {
		b->len = 0;
		return b->err;
	}
	return 0;
}

int nb_wire_encode(const struct nb_msg *m, void **buf, size_t *len)
{
	struct nb_wbuf b = NB_WBUF_INIT;
	int err;

	if (!buf || !len)
		return -EINVAL;
	*buf = NULL;
	*len = 0;
	err = nb_wire_encode_buf(m, &b);
	if (err) {
		nb_wbuf_free(&b);
		return err;
	}
	*buf = nb_wbuf_release(&b, len);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading msgpack */

enum s_kind { S_BAD, S_SCALAR, S_BYTES, S_ARRAY, S_MAP };

/*
 * Tags 0xc0..0xdf: what follows the tag. skip: fixed bytes (the value, or an ext type byte);
 * lenb: bytes of a big-endian length (S_BYTES) or element count (S_ARRAY, S_MAP).
 */
static const struct {
	uint8_t kind, skip, lenb;
} s_tags[32] = {
    [0x00] = {S_SCALAR, 0, 0},	/* nil */
    [0x01] = {S_BAD, 0, 0},	/* never used */
    [0x02] = {S_SCALAR, 0, 0},	/* false */
    [0x03] = {S_SCALAR, 0, 0},	/* true */
    [0x04] = {S_BYTES, 0, 1},	/* bin8 */
    [0x05] = {S_BYTES, 0, 2},	/* bin16 */
    [0x06] = {S_BYTES, 0, 4},	/* bin32 */
    [0x07] = {S_BYTES, 1, 1},	/* ext8: length, type byte, data */
    [0x08] = {S_BYTES, 1, 2},	/* ext16 */
    [0x09] = {S_BYTES, 1, 4},	/* ext32 */
    [0x0a] = {S_SCALAR, 4, 0},	/* float32 */
    [0x0b] = {S_SCALAR, 8, 0},	/* float64 */
    [0x0c] = {S_SCALAR, 1, 0},	/* uint8 */
    [0x0d] = {S_SCALAR, 2, 0},	/* uint16 */
    [0x0e] = {S_SCALAR, 4, 0},	/* uint32 */
    [0x0f] = {S_SCALAR, 8, 0},	/* uint64 */
    [0x10] = {S_SCALAR, 1, 0},	/* int8 */
    [0x11] = {S_SCALAR, 2, 0},	/* int16 */
    [0x12] = {S_SCALAR, 4, 0},	/* int32 */
    [0x13] = {S_SCALAR, 8, 0},	/* int64 */
    [0x14] = {S_SCALAR, 2, 0},	/* fixext1: type byte, data */
    [0x15] = {S_SCALAR, 3, 0},	/* fixext2 */
    [0x16] = {S_SCALAR, 5, 0},	/* fixext4 */
    [0x17] = {S_SCALAR, 9, 0},	/* fixext8 */
    [0x18] = {S_SCALAR, 17, 0}, /* fixext16 */
    [0x19] = {S_BYTES, 0, 1},	/* str8 */
    [0x1a] = {S_BYTES, 0, 2},	/* str16 */
    [0x1b] = {S_BYTES, 0, 4},	/* str32 */
    [0x1c] = {S_ARRAY, 0, 2},	/* array16 */
    [0x1d] = {S_ARRAY, 0, 4},	/* array32 */
    [0x1e] = {S_MAP, 0, 2},	/* map16 */
    [0x1f] = {S_MAP, 0, 4},	/* map32 */
};

static uint64_t s_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Walks one object (and everything inside it) from *pos without building anything: every
 * length and count must fit in the bytes that remain (each element takes at least one byte),
 * nesting is bounded, and *objects counts what was seen against NB_WIRE_MAX_OBJECTS.
 * marks, when given, receives the positions of the first S_MARKS children of the object, so
 * that the top-level map's keys and values are found without walking the frame again.
 */
static int s_walk(const uint8_t *p, size_t len, size_t *ppos, size_t *objects, size_t *marks)
{
	size_t nmarks = 0;
	uint64_t stack[S_MAX_DEPTH];
	uint64_t left = 1; /* objects still to read at the current level */
	size_t pos = *ppos;
	int depth = 0;

	for (;;) {
		uint64_t skip = 0, items = 0, n;
		enum s_kind kind;
		uint8_t c;

		if (!left) {
			if (!depth)
				break;
			left = stack[--depth];
			continue;
		}
		left--;
		if (++*objects > NB_WIRE_MAX_OBJECTS)
			return -EMSGSIZE;
		if (pos >= len)
			return -EPROTO;
		if (marks && depth == 1 && nmarks < S_MARKS)
			marks[nmarks++] = pos;
		c = p[pos++];
		if (c <= 0x7f || c >= 0xe0) { /* positive and negative fixint */
			kind = S_SCALAR;
		} else if (c <= 0x8f) {
			kind = S_MAP;
			items = c & 0x0f;
		} else if (c <= 0x9f) {
			kind = S_ARRAY;
			items = c & 0x0f;
		} else if (c <= 0xbf) { /* fixstr */
			kind = S_BYTES;
			skip = c & 0x1f;
		} else {
			kind = s_tags[c - 0xc0].kind;
			skip = s_tags[c - 0xc0].skip;
			n = s_tags[c - 0xc0].lenb;
			if (kind == S_BAD || n > len - pos)
				return -EPROTO;
			if (kind == S_BYTES)
				skip += s_be(p + pos, n);
			else
				items = s_be(p + pos, n);
			pos += n;
		}
		if (kind == S_MAP)
			items *= 2;
		if (skip > len - pos || items > len - pos)
			return -EPROTO;
		pos += skip;
		if (items) {
			if (depth == S_MAX_DEPTH)
				return -EMSGSIZE;
			stack[depth++] = left;
			left = items;
		}
	}
	*ppos = pos;
	return 0;
}

/* The frame is exactly one well-formed object within the limits. */
static int s_scan(const uint8_t *p, size_t len, size_t *marks)
{
	size_t pos = 0, objects = 0;
	int err = s_walk(p, len, &pos, &objects, marks);

	if (err)
		return err;
	return pos == len ? 0 : -EPROTO;
}

/* ---------------------------------------------------------------------------------------- */
/* Decoding */

/*
 * Everything below reads a frame that s_scan() accepted, so every position reached by walking
 * its structure holds a complete object inside the frame: the readers check types, not bounds.
 */
struct s_dec {
	const uint8_t *p;
	size_t len;
};

enum s_type { T_NIL, T_BOOL, T_UINT, T_NINT, T_FLOAT, T_STR, T_BIN, T_EXT, T_ARRAY, T_MAP };

/* One object's header. */
struct s_obj {
	enum s_type type;
	uint64_t u;	     /* T_UINT value; T_NINT value as int64; T_STR/T_BIN length; count */
	const uint8_t *data; /* T_STR/T_BIN bytes */
	size_t next;	     /* after a scalar, string or bin; the first element of a container */
};

static void s_peek(const struct s_dec *d, size_t pos, struct s_obj *o)
{
	const uint8_t *p = d->p + pos;
	uint8_t c = *p;
	size_t n;

	o->data = NULL;
	o->u = 0;
	if (c <= 0x7f) {
		o->type = T_UINT;
		o->u = c;
		o->next = pos + 1;
	} else if (c >= 0xe0) {
		o->type = T_NINT;
		o->u = (uint64_t)(int64_t)(int8_t)c;
		o->next = pos + 1;
	} else if (c <= 0x9f) {
		o->type = c <= 0x8f ? T_MAP : T_ARRAY;
		o->u = c & 0x0f;
		o->next = pos + 1;
	} else if (c <= 0xbf) {
		o->type = T_STR;
		o->u = c & 0x1f;
		o->data = p + 1;
		o->next = pos + 1 + o->u;
	} else {
		size_t skip = s_tags[c - 0xc0].skip;
		uint64_t field;

		n = s_tags[c - 0xc0].lenb;
		field = n ? s_be(p + 1, n) : 0;
		o->next = pos + 1 + n + skip;
		switch (c) {
		case 0xc0:
			o->type = T_NIL;
			break;
		case 0xc2:
		case 0xc3:
			o->type = T_BOOL;
			break;
		case 0xc4 ... 0xc6:
			o->type = T_BIN;
			break;
		case 0xd9 ... 0xdb:
			o->type = T_STR;
			break;
		case 0xca:
		case 0xcb:
			o->type = T_FLOAT;
			break;
		case 0xcc ... 0xcf:
			o->type = T_UINT;
			o->u = s_be(p + 1, skip);
			break;
		case 0xd0 ... 0xd3: {
			uint64_t raw = s_be(p + 1, skip);
			int64_t v;

			/* sign-extend from skip bytes */
			if (skip < 8 && (raw >> (8 * skip - 1)))
				raw |= ~0ull << (8 * skip);
			v = (int64_t)raw;
			/* a non-negative value in a signed format is just a number */
			o->type = v < 0 ? T_NINT : T_UINT;
			o->u = (uint64_t)v;
			break;
		}
		case 0xdc ... 0xdd:
			o->type = T_ARRAY;
			o->u = field;
			break;
		case 0xde ... 0xdf:
			o->type = T_MAP;
			o->u = field;
			break;
		default: /* ext: never read, only skipped */
			o->type = T_EXT;
			break;
		}
		if (s_tags[c - 0xc0].kind == S_BYTES) {
			o->u = field;
			o->data = p + 1 + n + skip;
			o->next += field;
		}
	}
}

/* Position after the object at pos, whatever it is. */
static size_t s_skip(const struct s_dec *d, size_t pos)
{
	size_t objects = 0;

	/* cannot fail: s_scan() walked the same bytes */
	s_walk(d->p, d->len, &pos, &objects, NULL);
	return pos;
}

/* A map whose keys were checked to be distinct strings; positions of keys and values. */
struct s_map {
	const struct s_dec *d;
	uint32_t n;
	size_t key[NB_WIRE_MAX_KEYS];
	size_t val[NB_WIRE_MAX_KEYS];
};

static bool s_keyeq(const struct s_map *m, uint32_t i, const uint8_t *s, size_t n)
{
	struct s_obj k;

	s_peek(m->d, m->key[i], &k);
	return k.u == n && !memcmp(k.data, s, n);
}

/* marks: the children's positions from s_walk(), or NULL to find them here. */
static int s_map_init(const struct s_dec *d, size_t pos, struct s_map *m, const size_t *marks)
{
	struct s_obj o, k;

	s_peek(d, pos, &o);
	if (o.type != T_MAP)
		return -EBADMSG;
	if (o.u > NB_WIRE_MAX_KEYS)
		return -EMSGSIZE;
	m->d = d;
	m->n = (uint32_t)o.u;
	pos = o.next;
	for (uint32_t i = 0; i < m->n; i++) {
		s_peek(d, pos, &k);
		if (k.type != T_STR)
			return -EBADMSG;
		/* Two values for one key would let two readers of a frame disagree on it. */
		for (uint32_t j = 0; j < i; j++)
			if (s_keyeq(m, j, k.data, k.u))
				return -EPROTO;
		m->key[i] = pos;
		m->val[i] = k.next;
		if (i + 1 < m->n)
			pos = marks ? marks[2 * i + 2] : s_skip(d, k.next);
	}
	return 0;
}

/* The value of key, or false when the map does not have it. */
static bool s_find(const struct s_map *m, const char *key, struct s_obj *o, size_t *pos)
{
	size_t n = strlen(key);

	for (uint32_t i = 0; i < m->n; i++) {
		if (s_keyeq(m, i, (const uint8_t *)key, n)) {
			s_peek(m->d, m->val[i], o);
			if (pos)
				*pos = m->val[i];
			return true;
		}
	}
	return false;
}

static bool s_streq(const struct s_obj *o, const char *s)
{
	size_t n = strlen(s);

	return o->type == T_STR && o->u == n && !memcmp(o->data, s, n);
}

static int s_obj_uint(const struct s_obj *o, uint64_t max, uint64_t *v)
{
	if (o->type != T_UINT || o->u > max)
		return -EBADMSG;
	*v = o->u;
	return 0;
}

static int s_obj_i32(const struct s_obj *o, int32_t *v)
{
	if (o->type == T_UINT && o->u <= INT32_MAX)
		*v = (int32_t)o->u;
	else if (o->type == T_NINT && (int64_t)o->u >= INT32_MIN)
		*v = (int32_t)(int64_t)o->u;
	else
		return -EBADMSG;
	return 0;
}

/* cap includes the NUL. */
static int s_obj_str(const struct s_obj *o, char *dst, size_t cap)
{
	if (o->type != T_STR)
		return -EBADMSG;
	if (o->u >= cap)
		return -EMSGSIZE;
	for (size_t i = 0; i < o->u; i++)
		if (o->data[i] < 0x20 || o->data[i] == 0x7f)
			return -EPROTO;
	memcpy(dst, o->data, o->u);
	dst[o->u] = '\0';
	return 0;
}

/* Looks a field up; a missing required one is -EPROTO, a missing optional one leaves *found. */
static int s_field(const struct s_map *m, const char *key, bool req, struct s_obj *o, bool *found)
{
	*found = s_find(m, key, o, NULL);
	return !*found && req ? -EPROTO : 0;
}

static int s_get_uint(const struct s_map *m, const char *key, bool req, uint64_t max, uint64_t *v)
{
	struct s_obj o;
	bool found;
	int err = s_field(m, key, req, &o, &found);

	*v = 0;
	if (err || !found)
		return err;
	return s_obj_uint(&o, max, v);
}

static int s_get_u64(const struct s_map *m, const char *key, bool req, uint64_t *v)
{
	return s_get_uint(m, key, req, UINT64_MAX, v);
}

static int s_get_u32(const struct s_map *m, const char *key, bool req, uint32_t *v)
{
	uint64_t x;
	int err = s_get_uint(m, key, req, UINT32_MAX, &x);

	*v = (uint32_t)x;
	return err;
}

static int s_get_u16(const struct s_map *m, const char *key, bool req, uint16_t *v)
{
	uint64_t x;
	int err = s_get_uint(m, key, req, UINT16_MAX, &x);

	*v = (uint16_t)x;
	return err;
}

static int s_get_session(const struct s_map *m, uint64_t *v)
{
	int err = s_get_u64(m, "session", true, v);

	return err ? err : (*v ? 0 : -EPROTO);
}

static int s_get_str(const struct s_map *m, const char *key, bool req, char *dst, size_t cap)
{
	struct s_obj o;
	bool found;
	int err = s_field(m, key, req, &o, &found);

	dst[0] = '\0';
	if (err || !found)
		return err;
	return s_obj_str(&o, dst, cap);
}

/* An array of at most max elements: *first is its first element. Missing optional: empty. */
static int s_get_list(const struct s_map *m, const char *key, bool req, uint32_t max, size_t *first,
		      uint32_t *n)
{
	struct s_obj o;
	bool found;
	int err = s_field(m, key, req, &o, &found);

	*first = 0;
	*n = 0;
	if (err || !found)
		return err;
	if (o.type != T_ARRAY)
		return -EBADMSG;
	if (o.u > max)
		return -EMSGSIZE;
	*first = o.next;
	*n = (uint32_t)o.u;
	return 0;
}

static int s_get_strs(const struct s_map *m, const char *key, bool req, uint32_t max, char *base,
		      size_t stride, uint32_t *n)
{
	struct s_obj o;
	size_t pos;
	int err = s_get_list(m, key, req, max, &pos, n);

	for (uint32_t i = 0; !err && i < *n; i++) {
		s_peek(m->d, pos, &o);
		err = s_obj_str(&o, base + i * stride, stride);
		pos = o.next;
	}
	return err;
}

static int s_get_u32s(const struct s_map *m, const char *key, bool req, uint32_t max, uint32_t *v,
		      uint32_t *n)
{
	struct s_obj o;
	uint64_t x = 0;
	size_t pos;
	int err = s_get_list(m, key, req, max, &pos, n);

	for (uint32_t i = 0; !err && i < *n; i++) {
		s_peek(m->d, pos, &o);
		err = s_obj_uint(&o, UINT32_MAX, &x);
		v[i] = (uint32_t)x;
		pos = o.next;
	}
	return err;
}

static int s_dec_hello(const struct s_map *m, struct nb_msg_hello *h)
{
	int err;

	if ((err = s_get_str(m, "name", true, h->name, sizeof(h->name))) ||
	    (err = s_get_str(m, "version", true, h->version, sizeof(h->version))) ||
	    (err = s_get_u32(m, "proto", true, &h->proto)) ||
	    (err = s_get_strs(m, "caps", false, NB_WIRE_MAX_CAPS, h->caps[0], sizeof(h->caps[0]),
			      &h->n_caps)) ||
	    (err = s_get_u64(m, "clock_ns", false, &h->clock_ns)) ||
	    (err = s_get_u32(m, "sessions", false, &h->sessions)))
		return err;
	return h->proto ? 0 : -EPROTO;
}

static int s_get_addr(const struct s_map *m, const char *key, uint8_t family, uint8_t *a)
{
	struct s_obj o;
	bool found;
	int err = s_field(m, key, true, &o, &found);

	if (err)
		return err;
	if (o.type != T_BIN)
		return -EBADMSG;
	if (o.u != (family == 4 ? 4u : NB_ADDR_LEN))
		return -EPROTO;
	memcpy(a, o.data, o.u);
	return 0;
}

static int s_dec_start(const struct s_map *m, struct nb_msg_start *s)
{
	struct s_obj o;
	uint64_t fam;
	bool found;
	int err;

	if ((err = s_get_session(m, &s->session)) || (err = s_field(m, "proto", true, &o, &found)))
		return err;
	if (o.type != T_STR)
		return -EBADMSG;
	for (size_t i = 0; i < S_NPROTOS; i++)
		if (s_streq(&o, s_protos[i].name))
			s->proto = s_protos[i].proto;
	if (!s->proto)
		return -EPROTO;
	if ((err = s_get_uint(m, "family", true, UINT8_MAX, &fam)))
		return err;
	if (fam != 4 && fam != 6)
		return -EPROTO;
	s->family = (uint8_t)fam;
	if ((err = s_get_addr(m, "src", s->family, s->src)) ||
	    (err = s_get_addr(m, "dst", s->family, s->dst)) ||
	    (err = s_get_u16(m, "sport", true, &s->sport)) ||
	    (err = s_get_u16(m, "dport", true, &s->dport)) ||
	    (err = s_get_strs(m, "rx_ifs", true, NB_MAX_IFS, s->rx_ifs[0], sizeof(s->rx_ifs[0]),
			      &s->n_rx)) ||
	    (err = s_get_strs(m, "tx_ifs", true, NB_MAX_IFS, s->tx_ifs[0], sizeof(s->tx_ifs[0]),
			      &s->n_tx)) ||
	    (err = s_get_str(m, "netns", false, s->netns, sizeof(s->netns))) ||
	    (err = s_get_u32(m, "timeout_ms", true, &s->timeout_ms)) ||
	    (err = s_get_u32(m, "credit", true, &s->credit)) ||
	    (err = s_get_u32(m, "max_batch", true, &s->max_batch)) ||
	    (err = s_get_u32(m, "duration_s", false, &s->duration_s)) ||
	    (err = s_get_u32(m, "monitors", false, &s->monitors)) ||
	    (err = s_field(m, "local", false, &o, &found)))
		return err;
	if (found) {
		if (o.type != T_STR)
			return -EBADMSG;
		if (s_streq(&o, "src"))
			s->local = NB_START_LOCAL_SRC;
		else if (s_streq(&o, "dst"))
			s->local = NB_START_LOCAL_DST;
		else
			return -EPROTO;
	}
	if (!s->max_batch)
		return -EPROTO;
	return s->max_batch > NB_WIRE_MAX_EVENTS ? -EMSGSIZE : 0;
}

static int s_dec_started(const struct s_map *m, struct nb_msg_started *s)
{
	uint32_t n_rx = 0, n_tx = 0;
	struct s_map um;
	struct s_obj o;
	bool found;
	size_t pos;
	int err;

	if ((err = s_get_session(m, &s->session)) ||
	    (err = s_get_u64(m, "attach_ns", true, &s->attach_ns)) ||
	    (err = s_get_u32s(m, "rx_ifindex", true, NB_MAX_IFS, s->rx_ifindex, &s->n_rx)) ||
	    (err = s_get_u32s(m, "tx_ifindex", true, NB_MAX_IFS, s->tx_ifindex, &s->n_tx)) ||
	    (err = s_field(m, "rx_ifs", false, &o, &found)))
		return err;
	s->names = found;
	if ((err = s_field(m, "tx_ifs", false, &o, &found)))
		return err;
	/* The names come as a pair: one list alone is ignored like an unknown key. */
	s->names = s->names && found;
	if ((s->names && ((err = s_get_strs(m, "rx_ifs", true, NB_MAX_IFS, s->rx_ifs[0],
					     sizeof(s->rx_ifs[0]), &n_rx)) ||
			  (err = s_get_strs(m, "tx_ifs", true, NB_MAX_IFS, s->tx_ifs[0],
					     sizeof(s->tx_ifs[0]), &n_tx)))) ||
	    (err = s_get_str(m, "rx_why", false, s->rx_why, sizeof(s->rx_why))) ||
	    (err = s_get_str(m, "tx_why", false, s->tx_why, sizeof(s->tx_why))) ||
	    (err = s_get_str(m, "switch", false, s->switch_kind, sizeof(s->switch_kind))) ||
	    (err = s_get_list(m, "unattached", false, NB_WIRE_MAX_UNATTACHED, &pos,
			      &s->n_unattached)))
		return err;
	for (uint32_t i = 0; i < s->n_unattached; i++) {
		struct nb_wire_unattached *u = &s->unattached[i];

		if ((err = s_map_init(m->d, pos, &um, NULL)) ||
		    (err = s_get_str(&um, "hook", true, u->hook, sizeof(u->hook))) ||
		    (err = s_get_str(&um, "reason", true, u->reason, sizeof(u->reason))))
			return err;
		pos = s_skip(m->d, pos);
	}
	/* The names stand next to the indexes: as many, or none at all. */
	if (s->names && (n_rx != s->n_rx || n_tx != s->n_tx))
		return -EPROTO;
	return 0;
}

/* The hot path: ~500k events/s reach the coordinator, so no per-field lookups here. */
static int s_dec_event(const struct s_dec *d, size_t *ppos, struct nb_event *ev)
{
	struct nb_pkt *p = &ev->pkt;
	size_t pos = *ppos, extra;
	struct s_obj o;
	uint64_t v;
	int err;

	s_peek(d, pos, &o);
	if (o.type != T_ARRAY)
		return -EBADMSG;
	/* More elements than this version knows come from a newer agent: ignored. */
	if (o.u < NB_WIRE_EV_FIELDS)
		return -EPROTO;
	extra = o.u - NB_WIRE_EV_FIELDS;
	pos = o.next;
#define S_NEXT()                                                                                   \
	do {                                                                                       \
		s_peek(d, pos, &o);                                                                \
		pos = o.next;                                                                      \
	} while (0)
#define S_U(max, dst)                                                                              \
	do {                                                                                       \
		S_NEXT();                                                                          \
		if ((err = s_obj_uint(&o, (max), &v)))                                             \
			return err;                                                                \
		(dst) = v;                                                                         \
	} while (0)
#define S_ADDR(dst)                                                                                \
	do {                                                                                       \
		S_NEXT();                                                                          \
		if (o.type != T_BIN)                                                               \
			return -EBADMSG;                                                           \
		if (o.u != 4 && o.u != NB_ADDR_LEN)                                                \
			return -EPROTO;                                                            \
		memcpy((dst), o.data, o.u);                                                        \
		memset((dst) + o.u, 0, NB_ADDR_LEN - o.u);                                         \
	} while (0)
	S_U(UINT64_MAX, ev->ts_ns);
	S_U(UINT32_MAX, ev->ifindex);
	S_U(UINT32_MAX, ev->netns);
	S_U(UINT8_MAX, ev->type);
	S_U(UINT8_MAX, ev->hook);
	S_U(UINT16_MAX, ev->ethertype);
	S_U(UINT32_MAX, ev->reason);
	S_U(UINT64_MAX, ev->location);
	S_NEXT();
	if ((err = s_obj_i32(&o, &ev->stack_id)))
		return err;
	S_U(UINT32_MAX, ev->cpu);
	S_ADDR(p->saddr);
	S_ADDR(p->daddr);
	S_U(UINT8_MAX, p->family);
	S_U(UINT8_MAX, p->proto);
	S_U(UINT8_MAX, p->icmp_type);
	S_U(UINT8_MAX, p->icmp_code);
	S_U(UINT16_MAX, p->sport);
	S_U(UINT16_MAX, p->dport);
	S_U(UINT16_MAX, p->icmp_id);
	S_U(UINT16_MAX, p->icmp_seq);
	S_U(UINT32_MAX, p->ip_id);
	S_U(UINT16_MAX, p->frag_off);
	S_U(UINT8_MAX, p->more_frags);
	S_U(UINT8_MAX, p->tcp_flags);
	S_U(UINT16_MAX, p->ip_len);
	S_U(UINT32_MAX, p->tcp_seq);
	S_U(UINT32_MAX, p->tcp_ack);
	S_U(UINT32_MAX, p->l4_len);
	p->pad = 0;
	p->pad2 = 0;
#undef S_ADDR
#undef S_U
#undef S_NEXT
	while (extra--)
		pos = s_skip(d, pos);
	*ppos = pos;
	return 0;
}

static int s_dec_events(const struct s_map *m, struct nb_msg *out)
{
	struct nb_msg_events *e = &out->events;
	struct nb_event *ev;
	size_t pos;
	uint32_t n;
	int err;

	if ((err = s_get_session(m, &e->session)) || (err = s_get_u64(m, "seq", true, &e->seq)) ||
	    (err = s_get_u64(m, "watermark_ns", true, &e->watermark_ns)) ||
	    (err = s_get_u64(m, "lost_ring", true, &e->lost_ring)) ||
	    (err = s_get_u64(m, "lost_queue", true, &e->lost_queue)) ||
	    (err = s_get_list(m, "ev", true, NB_WIRE_MAX_EVENTS, &pos, &n)))
		return err;
	if (!n) /* an empty batch still carries the watermark forward */
		return 0;
	/* every field is written below; struct nb_event has no padding to leave undefined */
	ev = malloc(n * sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	out->alloc = ev;
	e->ev = ev;
	e->n_ev = n;
	for (uint32_t i = 0; i < n; i++)
		if ((err = s_dec_event(m->d, &pos, &ev[i])))
			return err;
	return 0;
}

static int s_dec_stats(const struct s_map *m, struct nb_msg_stats *s)
{
	struct s_obj o, k, v;
	size_t pos;
	bool found;
	int err;

	if ((err = s_get_session(m, &s->session)) ||
	    (err = s_field(m, "counters", true, &o, &found)))
		return err;
	if (o.type != T_MAP)
		return -EBADMSG;
	if (o.u > NB_WIRE_MAX_COUNTERS)
		return -EMSGSIZE;
	pos = o.next;
	for (uint32_t i = 0; i < o.u; i++) {
		struct nb_wire_counter *c = &s->counters[i];

		s_peek(m->d, pos, &k);
		s_peek(m->d, k.next, &v);
		if ((err = s_obj_str(&k, c->name, sizeof(c->name))) ||
		    (err = s_obj_uint(&v, UINT64_MAX, &c->value)))
			return err;
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(s->counters[j].name, c->name))
				return -EPROTO;
		s->n_counters = i + 1;
		pos = v.next;
	}
	return 0;
}

static int s_dec_ping(const struct s_map *m, struct nb_msg_ping *p)
{
	int err;

	if ((err = s_get_u64(m, "seq", true, &p->seq)) ||
	    (err = s_get_u64(m, "t_coord", true, &p->t_coord)) ||
	    (err = s_get_u64(m, "session", false, &p->session)) ||
	    (err = s_get_u32(m, "credit", false, &p->credit)))
		return err;
	return 0;
}

static int s_dec_pong(const struct s_map *m, struct nb_msg_pong *p)
{
	int err;

	if ((err = s_get_u64(m, "seq", true, &p->seq)) ||
	    (err = s_get_u64(m, "t_coord", true, &p->t_coord)) ||
	    (err = s_get_u64(m, "t_agent", true, &p->t_agent)) ||
	    (err = s_get_u64(m, "session", false, &p->session)) ||
	    (err = s_get_u32(m, "credit", false, &p->credit)))
		return err;
	return 0;
}

static int s_dec_credit(const struct s_map *m, struct nb_msg_credit *c)
{
	int err = s_get_session(m, &c->session);

	return err ? err : s_get_u32(m, "credit", true, &c->credit);
}

static int s_dec_stop(const struct s_map *m, struct nb_msg_stop *s)
{
	struct s_obj o;
	bool found;
	int err;

	if ((err = s_get_session(m, &s->session)) ||
	    (err = s_get_str(m, "reason", true, s->reason, sizeof(s->reason))) ||
	    (err = s_field(m, "exit_code", false, &o, &found)))
		return err;
	return found ? s_obj_i32(&o, &s->exit_code) : 0;
}

static int s_dec_run(const struct s_map *m, struct nb_msg_run *r)
{
	int err;

	if ((err = s_get_session(m, &r->session)) ||
	    (err = s_get_str(m, "tool", true, r->tool, sizeof(r->tool))) ||
	    (err = s_get_strs(m, "args", true, NB_WIRE_MAX_ARGS, r->args[0], sizeof(r->args[0]),
			      &r->n_args)) ||
	    (err = s_get_u32(m, "credit", true, &r->credit)) ||
	    (err = s_get_u32(m, "check", false, &r->check)))
		return err;
	return r->check > 1 || !r->tool[0] ? -EPROTO : 0;
}

/* The lines are copied into one allocation: the pointers, then the strings. */
static int s_dec_output(const struct s_map *m, struct nb_msg *out)
{
	struct nb_msg_output *o = &out->output;
	size_t pos, first, text = 0;
	struct s_obj s;
	uint32_t n;
	char **ptr, *w;
	int err;

	if ((err = s_get_session(m, &o->session)) || (err = s_get_u64(m, "seq", true, &o->seq)) ||
	    (err = s_get_u32(m, "stream", true, &o->stream)) ||
	    (err = s_get_list(m, "lines", true, NB_WIRE_MAX_LINES, &first, &n)))
		return err;
	if (o->stream != NB_OUT_STDOUT && o->stream != NB_OUT_STDERR)
		return -EPROTO;
	pos = first;
	for (uint32_t i = 0; i < n; i++) {
		s_peek(m->d, pos, &s);
		if (s.type != T_STR)
			return -EBADMSG;
		if (s.u > NB_WIRE_LINE_MAX)
			return -EMSGSIZE;
		for (size_t k = 0; k < s.u; k++)
			if ((s.data[k] < 0x20 && s.data[k] != '\t') || s.data[k] == 0x7f)
				return -EPROTO;
		text += s.u + 1;
		pos = s.next;
	}
	if (!n)
		return 0;
	ptr = malloc(n * sizeof(*ptr) + text);
	if (!ptr)
		return -ENOMEM;
	out->alloc = ptr;
	w = (char *)(ptr + n);
	pos = first;
	for (uint32_t i = 0; i < n; i++) {
		s_peek(m->d, pos, &s);
		memcpy(w, s.data, s.u);
		w[s.u] = '\0';
		ptr[i] = w;
		w += s.u + 1;
		pos = s.next;
	}
	o->lines = (const char *const *)ptr;
	o->n_lines = n;
	return 0;
}

static int s_dec_error(const struct s_map *m, struct nb_msg_error *r)
{
	struct s_obj o;
	bool found;
	int err;

	if ((err = s_field(m, "code", true, &o, &found)) || (err = s_obj_i32(&o, &r->code)) ||
	    (err = s_get_str(m, "message", true, r->message, sizeof(r->message))) ||
	    (err = s_get_u64(m, "session", false, &r->session)))
		return err;
	return 0;
}

static int s_dec_dropinfo(const struct s_map *m, struct nb_msg_dropinfo *d)
{
	struct s_obj o;
	bool found;
	int err;

	if ((err = s_get_session(m, &d->session)) ||
	    (err = s_field(m, "stack_id", true, &o, &found)) ||
	    (err = s_obj_i32(&o, &d->stack_id)) ||
	    (err = s_get_u32(m, "reason", true, &d->reason)) ||
	    (err = s_get_u32(m, "ifindex", true, &d->ifindex)) ||
	    (err = s_get_u64(m, "location", true, &d->location)) ||
	    (err = s_get_str(m, "reason_name", true, d->reason_name, sizeof(d->reason_name))) ||
	    (err = s_get_str(m, "location_sym", false, d->location_sym,
			     sizeof(d->location_sym))) ||
	    (err = s_get_str(m, "ifname", false, d->ifname, sizeof(d->ifname))) ||
	    (err = s_get_strs(m, "frames", false, NB_WIRE_MAX_FRAMES, d->frames[0],
			      sizeof(d->frames[0]), &d->n_frames)))
		return err;
	return 0;
}

/* One queue record: at least NB_WIRE_MONQ_FIELDS uints; a newer agent's extra ones skipped. */
static int s_dec_monq(const struct s_dec *d, size_t *ppos, struct nb_wire_monq *q)
{
	uint64_t v[NB_WIRE_MONQ_FIELDS];
	size_t pos = *ppos;
	struct s_obj o;
	uint64_t extra;
	int err;

	s_peek(d, pos, &o);
	if (o.type != T_ARRAY)
		return -EBADMSG;
	if (o.u < NB_WIRE_MONQ_FIELDS)
		return -EPROTO;
	extra = o.u - NB_WIRE_MONQ_FIELDS;
	pos = o.next;
	for (int i = 0; i < NB_WIRE_MONQ_FIELDS; i++) {
		s_peek(d, pos, &o);
		if ((err = s_obj_uint(&o, i < 4 ? UINT32_MAX : UINT64_MAX, &v[i])))
			return err;
		pos = o.next;
	}
	while (extra--)
		pos = s_skip(d, pos);
	q->queue = (uint32_t)v[0];
	q->size = (uint32_t)v[1];
	q->hwm = (uint32_t)v[2];
	q->occupancy = (uint32_t)v[3];
	q->enqueued = v[4];
	q->matched = v[5];
	q->dequeued = v[6];
	q->full = v[7];
	q->drops_full_ring = v[8];
	q->drops_other = v[9];
	*ppos = pos;
	return 0;
}

static int s_dec_monitor(const struct s_map *m, struct nb_msg_monitor *r)
{
	struct s_obj o;
	uint64_t att = 0;
	size_t pos;
	int err;

	if ((err = s_get_session(m, &r->session)) ||
	    (err = s_get_str(m, "monitor", true, r->monitor, sizeof(r->monitor))) ||
	    (err = s_get_str(m, "ifname", true, r->ifname, sizeof(r->ifname))) ||
	    (err = s_get_uint(m, "attached", true, 1, &att)) ||
	    (err = s_get_str(m, "why", false, r->why, sizeof(r->why))) ||
	    (err = s_get_u32(m, "queues_seen", false, &r->queues_seen)))
		return err;
	if (!r->monitor[0])
		return -EPROTO;
	r->attached = (uint32_t)att;
	if (s_find(m, "total", &o, &pos)) {
		if ((err = s_dec_monq(m->d, &pos, &r->total)))
			return err;
		r->has_total = true;
	}
	if ((err = s_get_list(m, "queues", false, NB_WIRE_MAX_MONQ, &pos, &r->n_queues)))
		return err;
	for (uint32_t i = 0; i < r->n_queues; i++)
		if ((err = s_dec_monq(m->d, &pos, &r->queues[i])))
			return err;
	if ((err = s_get_list(m, "sojourn_us", false, NB_WIRE_MON_SLOTS, &pos, &r->n_sojourn)))
		return err;
	for (uint32_t i = 0; i < r->n_sojourn; i++) {
		s_peek(m->d, pos, &o);
		if ((err = s_obj_uint(&o, UINT64_MAX, &r->sojourn_us[i])))
			return err;
		pos = o.next;
	}
	return 0;
}

/* Version first, so a newer peer's message gets -EPROTONOSUPPORT whatever else it holds. */
static int s_dec_head(const struct s_map *m, enum nb_msg_type *type)
{
	struct s_obj o;
	uint64_t v;
	bool found;
	int err;

	if ((err = s_get_u64(m, "v", true, &v)))
		return err;
	if (v != NB_WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if ((err = s_field(m, "t", true, &o, &found)))
		return err;
	if (o.type != T_STR)
		return -EBADMSG;
	for (size_t t = 1; t < S_NTYPES; t++) {
		if (s_type_names[t] && s_streq(&o, s_type_names[t])) {
			*type = (enum nb_msg_type)t;
			return 0;
		}
	}
	return -EPROTO;
}

static int s_dec_body(const struct s_map *m, struct nb_msg *out)
{
	switch (out->type) {
	case NB_MSG_HELLO:
		return s_dec_hello(m, &out->hello);
	case NB_MSG_START:
		return s_dec_start(m, &out->start);
	case NB_MSG_STARTED:
		return s_dec_started(m, &out->started);
	case NB_MSG_EVENTS:
		return s_dec_events(m, out);
	case NB_MSG_STATS:
		return s_dec_stats(m, &out->stats);
	case NB_MSG_PING:
		return s_dec_ping(m, &out->ping);
	case NB_MSG_PONG:
		return s_dec_pong(m, &out->pong);
	case NB_MSG_CREDIT:
		return s_dec_credit(m, &out->credit);
	case NB_MSG_STOP:
		return s_dec_stop(m, &out->stop);
	case NB_MSG_ERROR:
		return s_dec_error(m, &out->error);
	case NB_MSG_DROPINFO:
		return s_dec_dropinfo(m, &out->dropinfo);
	case NB_MSG_RUN:
		return s_dec_run(m, &out->run);
	case NB_MSG_OUTPUT:
		return s_dec_output(m, out);
	case NB_MSG_MONITOR:
		return s_dec_monitor(m, &out->monitor);
	}
	return -EPROTO;
}

int nb_wire_decode(const void *buf, size_t len, struct nb_msg *out)
{
	struct s_dec d = {.p = buf, .len = len};
	size_t marks[S_MARKS];
	struct s_map m;
	struct s_obj o;
	int err;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!buf && len)
		return -EINVAL;
	if (len > NB_WIRE_MAX_FRAME)
		return -EMSGSIZE;
	err = s_scan(buf, len, marks);
	if (err)
		return err;
	s_peek(&d, 0, &o);
	if (o.type != T_MAP)
		return -EPROTO;
	err = s_map_init(&d, 0, &m, marks);
	if (!err)
		err = s_dec_head(&m, &out->type);
	if (!err)
		err = s_dec_body(&m, out);
	if (err)
		nb_msg_clear(out);
	return err;
}

void nb_msg_clear(struct nb_msg *m)
{
	if (!m)
		return;
	free(m->alloc);
	memset(m, 0, sizeof(*m));
}
