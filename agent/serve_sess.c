// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * One remote session: its own stage tracer (one BPF object and ring buffer per session, so
 * sessions never see each other's events or loss), events encoded straight into the open
 * EVENTS batch as the ring is drained, credit-based sending with a bounded queue behind it,
 * STATS once a second, and the final STATS + STOP when it ends.
 */
#include "agent.h"
#include "serve.h"

#include <errno.h>
#include <linux/nsfs.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "nb_discover.h"
#include "nb_time.h"

/* How long a session's start may listen for the addresses when the tables do not tell. */
#define S_LEARN_MS 1000

/*
 * A START between its checks and its attach: its copy, whom it came from, its namespace, and
 * the interfaces given or found (with why).
 */
struct s_start {
	struct nb_msg_start st;
	struct nb_peer peer;
	char peer_desc[NB_SRV_PEER_DESC];
	char client[NB_SRV_CLIENT_ID];
	struct nb_netns ns;
	char rx[NB_MAX_IFS][16], tx[NB_MAX_IFS][16];
	uint32_t n_rx, n_tx;
	char rx_why[NB_WIRE_STR_MAX + 1], tx_why[NB_WIRE_STR_MAX + 1];
	struct nb_disc_query q;
};

/*
 * A START whose interfaces are being learned from traffic: the agent's loop polls the job's
 * socket and steps it (nb_sess_learn_tick), serving everything else meanwhile, and attaches
 * the session, or answers the error, when the learning ends (at most S_LEARN_MS).
 */
struct nb_learn {
	bool used;
	struct s_start s;
	struct nb_disc_job *job;
	uint64_t next_ns;
};

static struct nb_sess *s_find(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id)
{
	for (uint32_t i = 0; i < srv->max_sessions; i++) {
		struct nb_sess *s = &srv->sess[i];

		if (s->used && s->id == id && s->peer.len == peer->len &&
		    !memcmp(s->peer.id, peer->id, peer->len))
			return s;
	}
	return NULL;
}

static struct nb_learn *s_learn_find(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id)
{
	for (uint32_t i = 0; srv->learn && i < srv->max_sessions; i++) {
		struct nb_learn *l = &srv->learn[i];

		if (l->used && l->s.st.session == id && l->s.peer.len == peer->len &&
		    !memcmp(l->s.peer.id, peer->id, peer->len))
			return l;
	}
	return NULL;
}

/* ---- batches ---- */

int nb_sendq_init(struct nb_sendq *q)
{
	memset(q, 0, sizeof(*q));
	q->q = calloc(NB_SRV_QUEUE_MAX, sizeof(*q->q));
	return q->q ? 0 : -ENOMEM;
}

bool nb_sendq_full(const struct nb_sendq *q, size_t more)
{
	return q->len >= NB_SRV_QUEUE_MAX || q->bytes + more + 128 > NB_SRV_QUEUE_BYTES;
}

void nb_sendq_push(struct nb_sendq *q, void *data, size_t len, uint32_t n)
{
	struct nb_qbatch *qb = &q->q[(q->head + q->len) % NB_SRV_QUEUE_MAX];

	qb->data = data;
	qb->len = len;
	qb->n_ev = n;
	q->bytes += len;
	q->len++;
}

static void s_pop(struct nb_sendq *q)
{
	struct nb_qbatch *b = &q->q[q->head];

	free(b->data);
	q->bytes -= b->len;
	memset(b, 0, sizeof(*b));
	q->head = (q->head + 1) % NB_SRV_QUEUE_MAX;
	q->len--;
}

void nb_sendq_flush(struct nb_sendq *q, struct nb_srv *srv, const struct nb_peer *peer,
		    uint64_t *credit, uint64_t *msgs, uint64_t *items, uint64_t *lost)
{
	while (q->len && *credit) {
		struct nb_qbatch *b = &q->q[q->head];
		int rc = nb_srv_send(srv, peer, b->data, b->len);

		if (rc == -EAGAIN)
			return;
		if (rc == 0) {
			(*credit)--;
			(*msgs)++;
			*items += b->n_ev;
		} else {
			*lost += b->n_ev; /* peer gone: its lease ends the session */
		}
		s_pop(q);
	}
}

void nb_sendq_free(struct nb_sendq *q, uint64_t *lost)
{
	while (q->q && q->len) {
		*lost += q->q[q->head].n_ev;
		s_pop(q);
	}
	free(q->q);
	memset(q, 0, sizeof(*q));
}

static bool s_queue_full(const struct nb_sess *s)
{
	return nb_sendq_full(&s->sq, s->buf.len);
}

static void s_sent(struct nb_sess *s, uint32_t n_ev, uint64_t now)
{
	s->credit--;
	s->batches_sent++;
	s->events_sent += n_ev;
	s->last_batch_ns = now;
}

/* Sends queued batches while credit lasts and the socket takes them. */
static void s_flush(struct nb_sess *s, uint64_t now)
{
	uint64_t before = s->batches_sent;

	nb_sendq_flush(&s->sq, s->srv, &s->peer, &s->credit, &s->batches_sent, &s->events_sent,
		       &s->lost_queue);
	if (s->batches_sent != before)
		s->last_batch_ns = now;
}

static void s_abandon(struct nb_sess *s)
{
	s->lost_queue += s->open ? s->bt.n : 0;
	s->open = false;
}

/*
 * Closes the open batch (or makes an empty one) and sends it, or queues it when there is no
 * credit or the socket is full. An empty batch only carries a watermark: without credit it is
 * not made at all, since the next batch that does go carries a newer one. A batch the full
 * queue cannot take is dropped whole, counted in lost_queue, and takes no sequence number, so
 * a gap in seq can only mean the transport lost a message.
 */
static void s_close(struct nb_sess *s, uint64_t now)
{
	uint32_t n = s->open ? s->bt.n : 0;
	bool direct = s->credit && !s->sq.len;
	struct nb_msg_events h = {0};
	void *data;
	size_t len;
	int rc;

	if (!n && !direct) {
		s->open = false;
		return;
	}
	if (!direct && s_queue_full(s)) {
		s_abandon(s);
		return;
	}
	if (!s->open && nb_wire_batch_begin(&s->bt, &s->buf))
		return;
	h.session = s->id;
	h.seq = s->seq;
	h.watermark_ns = nb_srv_clock(s->srv, s->wm_ns);
	if (h.watermark_ns < s->wm_sent)
		h.watermark_ns = s->wm_sent;
	h.lost_ring = s->tr ? nb_tracer_lost(s->tr) : 0;
	h.lost_queue = s->lost_queue;
	if (nb_wire_batch_end(&s->bt, &h)) {
		s_abandon(s);
		return;
	}
	s->open = false;
	s->seq++;
	s->wm_sent = h.watermark_ns;
	if (direct) {
		/* Copied into the socket: the buffer is reused, the hot path allocates nothing. */
		rc = nb_srv_send(s->srv, &s->peer, s->buf.data, s->buf.len);
		if (rc == 0) {
			s_sent(s, n, now);
			return;
		}
		if (rc == -EHOSTUNREACH) {
			s->lost_queue += n;
			return;
		}
	}
	data = nb_wbuf_release(&s->buf, &len);
	nb_sendq_push(&s->sq, data, len, n);
}

static int s_on_event(const struct nb_event *e, void *ctx)
{
	struct nb_sess *s = ctx;
	struct nb_event ev = *e;

	s->events_read++;
	/* Its names go out before the batch that carries it. */
	if (e->type == NB_EV_DROP)
		nb_sdrop_event(s, e);
	if (!s->open) {
		if (nb_wire_batch_begin(&s->bt, &s->buf)) {
			s->lost_queue++;
			return 0;
		}
		s->open = true;
		s->first_ev_ns = nb_mono_ns();
	}
	ev.ts_ns = nb_srv_clock(s->srv, ev.ts_ns);
	if (nb_wire_batch_add(&s->bt, &ev)) {
		s->lost_queue++;
		s_abandon(s);
		return 0;
	}
	/* Mid-drain the watermark is still the previous full drain's, which is what holds. */
	if (s->bt.n >= s->max_batch)
		s_close(s, nb_mono_ns());
	return 0;
}

int nb_sess_on_event(const struct nb_event *e, void *ctx)
{
	return s_on_event(e, ctx);
}

/*
 * Reads everything the ring holds. An event reserved on another CPU just before t0 may be
 * submitted just after the drain, so the watermark trails t0 by a small slack: every event
 * older than wm_ns has been read.
 */
static void s_drain(struct nb_sess *s)
{
	uint64_t t0 = nb_mono_ns();
	int rc = s->syn.pps ? nb_synth_run(&s->syn, t0, s_on_event, s) : nb_tracer_poll(s->tr, 0);

	if (rc < 0) {
		/* The watermark stays put, so the coordinator waits rather than misjudges. */
		if (nb_rl_take(&s->srv->log_rl, t0))
			nb_srv_log(s->srv, "session %llu: ring buffer poll failed: %s",
				   (unsigned long long)s->id, strerror(-rc));
		return;
	}
	/*
	 * A synthetic source that fell behind has yet to make the packets due since its next one:
	 * the other agent has made them, and the coordinator must wait for this one's copies.
	 */
	if (s->syn.pps && nb_synth_next(&s->syn) < t0)
		t0 = nb_synth_next(&s->syn);
	if (t0 > NB_SRV_WM_SLACK_NS && t0 - NB_SRV_WM_SLACK_NS > s->wm_ns)
		s->wm_ns = t0 - NB_SRV_WM_SLACK_NS;
}

/* ---- stats ---- */

static void s_counter(struct nb_msg_stats *st, const char *name, uint64_t v)
{
	struct nb_wire_counter *c = &st->counters[st->n_counters++];

	snprintf(c->name, sizeof(c->name), "%s", name);
	c->value = v;
}

static void s_stats(struct nb_sess *s)
{
	struct nb_srv *srv = s->srv;
	struct nb_msg_stats *st;

	/* The monitor's counts go first: the final STATS is then the last word before STOP. */
	nb_stun_report(s);
	memset(srv->tx, 0, sizeof(*srv->tx));
	srv->tx->type = NB_MSG_STATS;
	st = &srv->tx->stats;
	st->session = s->id;
	s_counter(st, "events_sent", s->events_sent);
	s_counter(st, "batches_sent", s->batches_sent);
	s_counter(st, "lost_ring", s->tr ? nb_tracer_lost(s->tr) : 0);
	s_counter(st, "lost_queue", s->lost_queue);
	s_counter(st, "queued_batches", s->sq.len);
	s_counter(st, "malformed_rx", srv->malformed_rx);
	s_counter(st, "zap_refused", nb_srv_zap_refused(srv));
	s_counter(st, "conn_refused", srv->refused);
	s_counter(st, "events_read", s->events_read);
	s_counter(st, "credit", s->credit);
	s_counter(st, "tx_dropped", srv->tx_dropped);
	{
		uint64_t seen, lost, sent, copies;

		nb_sdrop_counters(s, &seen, &lost, &sent, &copies);
		s_counter(st, "drops_seen", seen);
		s_counter(st, "drop_copies_skipped", copies);
		s_counter(st, "lost_drop_events", lost);
		s_counter(st, "dropinfo_sent", sent);
	}
	nb_srv_send_msg(srv, &s->peer);
}

/* ---- lifecycle ---- */

static bool s_ns_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (!len || len > 64 || n[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
		      (n[i] >= '0' && n[i] <= '9') || n[i] == '_' || n[i] == '-' || n[i] == '.'))
			return false;
	return true;
}

/*
 * A namespace named by a remote peer may only be one `ip netns` made or a process's own:
 * opening an arbitrary path on its say-so could block on a FIFO or probe the filesystem.
 */
bool nb_srv_netns_ok(const char *n)
{
	static const char *const dirs[] = {"/run/netns/", "/var/run/netns/"};
	const char *p;

	if (!strchr(n, '/'))
		return s_ns_name_ok(n);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (!strncmp(n, dirs[i], strlen(dirs[i])))
			return s_ns_name_ok(n + strlen(dirs[i]));
	if (strncmp(n, "/proc/", 6))
		return false;
	p = n + 6;
	if (*p < '1' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return !strcmp(p, "/ns/net") && p - n <= 6 + 10;
}

static void s_iflist(char *out, size_t size, const char (*names)[NB_WIRE_IFNAME_MAX + 1],
		     const uint32_t *idx, uint32_t n)
{
	size_t off = 0;

	out[0] = 0;
	for (uint32_t i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(out + off, size - off, "%s%s(%u)", i ? "," : "", names[i],
					idx[i]);
}

static const char *s_proto_name(uint8_t p)
{
	return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : "icmp";
}

/*
 * The client holding slot k: sessions are slots 0 .. max_sessions - 1, STARTs learning their
 * interfaces the next max_sessions (both count against the limits). NULL: a free slot.
 */
static const char *s_slot_client(const struct nb_srv *srv, uint32_t k)
{
	if (k < srv->max_sessions)
		return srv->sess[k].used ? srv->sess[k].client : NULL;
	k -= srv->max_sessions;
	return srv->learn && srv->learn[k].used ? srv->learn[k].s.client : NULL;
}

static uint32_t s_client_sessions(const struct nb_srv *srv, const char *client)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < 2 * srv->max_sessions; k++) {
		const char *c = s_slot_client(srv, k);

		n += c && !strcmp(c, client);
	}
	return n;
}

/*
 * The client's START history. A new client takes a free entry, else the one that started
 * least recently: once more than NB_SRV_CLIENTS clients start within one window, the oldest
 * history is forgotten, which is counted and logged (its limit restarts, nothing else).
 */
struct nb_client *nb_srv_client(struct nb_srv *srv, const char *id, uint64_t now)
{
	struct nb_client *c, *pick = NULL;

	for (uint32_t i = 0; i < NB_SRV_CLIENTS; i++) {
		c = &srv->clients[i];
		if (c->id[0] && !strcmp(c->id, id))
			return c;
		if (!pick || (pick->id[0] && (!c->id[0] || c->last_start_ns < pick->last_start_ns)))
			pick = c;
	}
	if (pick->id[0] && now - pick->last_start_ns < NB_SRV_START_WIN_NS) {
		srv->clients_forgotten++;
		if (nb_rl_take(&srv->log_rl, now))
			nb_srv_log(srv,
				   "more than %d clients started sessions within 10 s: the START "
				   "history of %s is forgotten (clients_forgotten=%llu)",
				   NB_SRV_CLIENTS, pick->id,
				   (unsigned long long)srv->clients_forgotten);
	}
	memset(pick, 0, sizeof(*pick));
	snprintf(pick->id, sizeof(pick->id), "%s", id);
	pick->starts.max = srv->max_starts_client;
	pick->starts.window_ns = NB_SRV_START_WIN_NS;
	return pick;
}

static const char *const s_limit_names[NB_LIM__COUNT] = {
	[NB_LIM_SESSIONS] = "max-sessions",
	[NB_LIM_SESS_CLIENT] = "max-sessions-per-client",
	[NB_LIM_STARTS_CLIENT] = "max-starts-per-client",
	[NB_LIM_CLIENTS] = "max-clients",
	[NB_LIM_INFLIGHT] = "max-inflight-events",
	[NB_LIM_DURATION] = "max-duration",
};

const char *nb_limit_name(enum nb_limit l)
{
	return l < NB_LIM__COUNT ? s_limit_names[l] : "?";
}

/*
 * A START over a limit: the client is told which and its value ("limit max-sessions 4
 * reached: ..."), the operator's log says who, /metrics counts it.
 */
static void s_over_limit(struct nb_srv *srv, const struct nb_peer *peer, const char *peer_desc,
			 const char *client, uint64_t sid, enum nb_limit l, uint64_t value,
			 uint64_t now, const char *fmt, ...) __attribute__((format(printf, 9, 10)));
static void s_over_limit(struct nb_srv *srv, const struct nb_peer *peer, const char *peer_desc,
			 const char *client, uint64_t sid, enum nb_limit l, uint64_t value,
			 uint64_t now, const char *fmt, ...)
{
	char what[NB_WIRE_STR_MAX + 1];
	va_list ap;
	int n;

	n = snprintf(what, sizeof(what), "limit %s %llu%s: ", nb_limit_name(l),
		     (unsigned long long)value, l == NB_LIM_DURATION ? " s" : "");
	va_start(ap, fmt);
	vsnprintf(what + n, sizeof(what) - (size_t)n, fmt, ap);
	va_end(ap);
	srv->limit_hits[l]++;
	nb_srv_error(srv, peer, NB_WIRE_ELIMIT, sid, "%s", what);
	if (nb_rl_take(&srv->log_rl, now))
		nb_srv_log(srv, "START of session %llu refused for %s (%s): %s",
			   (unsigned long long)sid, peer_desc, client, what);
}

/* Clients other than this one that hold sessions now (or learning STARTs). */
static uint32_t s_other_clients(const struct nb_srv *srv, const char *client)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < 2 * srv->max_sessions; k++) {
		const char *c = s_slot_client(srv, k), *o;
		bool seen = false;

		if (!c || !strcmp(c, client))
			continue;
		for (uint32_t j = 0; j < k && !seen; j++)
			seen = (o = s_slot_client(srv, j)) && !strcmp(o, c);
		n += !seen;
	}
	return n;
}

static void s_side_out(const struct nb_disc_side *d, char (*names)[16], uint32_t *n, char *why)
{
	for (uint32_t i = 0; i < d->n; i++)
		snprintf(names[i], 16, "%s", d->name[i]);
	*n = d->n;
	snprintf(why, NB_WIRE_STR_MAX + 1, "%s", d->why);
}

/* The sides found (vm, uplink) into the START's empty ones: on A rx is the VM's port. */
static void s_sides(struct s_start *ss, const struct nb_disc_side *vm,
		    const struct nb_disc_side *up)
{
	bool a = ss->st.local == NB_START_LOCAL_SRC;

	if (ss->q.want_vm)
		s_side_out(vm, a ? ss->rx : ss->tx, a ? &ss->n_rx : &ss->n_tx,
			   a ? ss->rx_why : ss->tx_why);
	if (ss->q.want_uplink)
		s_side_out(up, a ? ss->tx : ss->rx, a ? &ss->n_tx : &ss->n_rx,
			   a ? ss->tx_why : ss->rx_why);
}

/*
 * The sides START left empty, found from the addresses: on A (local = src) rx is the VM's
 * port and tx the uplink, on B (local = dst) the reverse. -EINPROGRESS with *job when they
 * must be learned from traffic.
 */
static int s_discover(struct s_start *ss, struct nb_disc_job **job, char *err, size_t errlen)
{
	const struct nb_msg_start *st = &ss->st;
	bool a = st->local == NB_START_LOCAL_SRC;
	struct nb_disc_side vm, up;
	int rc;

	memset(&ss->q, 0, sizeof(ss->q));
	ss->q.family = st->family;
	memcpy(ss->q.local, a ? st->src : st->dst, NB_ADDR_LEN);
	memcpy(ss->q.peer, a ? st->dst : st->src, NB_ADDR_LEN);
	ss->q.want_vm = a ? !ss->n_rx : !ss->n_tx;
	ss->q.want_uplink = a ? !ss->n_tx : !ss->n_rx;
	ss->q.max_ifs = NB_MAX_IFS - ss->n_rx - ss->n_tx;
	rc = nb_disc_begin(&ss->ns, &ss->q, S_LEARN_MS, job, &vm, &up, err, errlen);
	if (!rc)
		s_sides(ss, &vm, &up);
	return rc;
}

static void s_discover_failed(struct nb_srv *srv, const struct s_start *ss, int rc, const char *err)
{
	nb_srv_error(srv, &ss->peer, -rc, ss->st.session, "%s", err);
	if (nb_rl_take(&srv->log_rl, nb_mono_ns()))
		nb_srv_log(srv, "session %llu for %s: %s", (unsigned long long)ss->st.session,
			   ss->peer_desc, err);
}

/* The rest of a START, once its interfaces are known: the tracer, STARTED, the log. */
static void s_attach(struct nb_srv *srv, struct s_start *ss)
{
	const struct nb_msg_start *st = &ss->st;
	const struct nb_peer *peer = &ss->peer;
	char err[256], a[64], b[64], rxs[160], txs[160];
	struct nb_tracer_cfg cfg = {0};
	struct nb_flow_spec spec = {0};
	struct nb_msg_started *sd;
	struct nb_sess *s = NULL;
	uint64_t sid = st->session, now;
	int rc;

	rc = nb_netns_ifindex(&ss->ns, ss->rx, (int)ss->n_rx, spec.rx_if, err, sizeof(err));
	if (!rc)
		rc = nb_netns_ifindex(&ss->ns, ss->tx, (int)ss->n_tx, spec.tx_if, err, sizeof(err));
	if (rc) {
		nb_srv_error(srv, peer, -rc, sid, "%s", err);
		return;
	}
	spec.family = st->family;
	spec.proto = st->proto;
	/* The wire says "icmp" for both families; the packet says ICMPv6 for IPv6. */
	if (st->proto == IPPROTO_ICMP && st->family == 6)
		spec.proto = IPPROTO_ICMPV6;
	memcpy(spec.src, st->src, NB_ADDR_LEN);
	memcpy(spec.dst, st->dst, NB_ADDR_LEN);
	spec.sport = st->sport;
	spec.dport = st->dport;
	spec.n_rx = ss->n_rx;
	spec.n_tx = ss->n_tx;
	nb_flow_filter(&spec, ss->ns.inum, &cfg.filter);
	if (srv->synth_pps && spec.proto != IPPROTO_ICMP && spec.proto != IPPROTO_ICMPV6) {
		nb_srv_error(srv, peer, EPROTONOSUPPORT, sid,
			     "--test-synthetic-pps makes ICMP sessions only");
		return;
	}

	/* Free: STARTs are refused while sessions and learning ones fill the slots. */
	for (uint32_t i = 0; i < srv->max_sessions && !s; i++)
		if (!srv->sess[i].used)
			s = &srv->sess[i];
	memset(s, 0, sizeof(*s));
	if (nb_sendq_init(&s->sq)) {
		nb_srv_error(srv, peer, ENOMEM, sid, "out of memory");
		return;
	}
	now = nb_mono_ns();
	s->srv = srv;
	s->id = sid;
	s->peer = *peer;
	snprintf(s->peer_desc, sizeof(s->peer_desc), "%s", ss->peer_desc);
	snprintf(s->client, sizeof(s->client), "%s", ss->client);
	s->max_batch = st->max_batch;
	s->credit = st->credit;
	s->proto = st->proto;
	s->last_rx_ns = now;
	s->cpu_ns = nb_thread_cpu_ns();
	/* Opening loads and verifies BPF: tens of ms during which the loop does nothing else. */
	cfg.ns = &ss->ns;
	/* --test-no-probes: a synthetic session with nothing attached at all. */
	rc = srv->no_probes ? 0 : nb_tracer_open(&s->tr, &cfg, s_on_event, s, err, sizeof(err));
	if (rc) {
		srv->attach_failures++;
		nb_srv_error(srv, peer, -rc, sid, "%s", err);
		nb_sendq_free(&s->sq, &s->lost_queue);
		memset(s, 0, sizeof(*s));
		return;
	}
	s->used = true;
	srv->n_sess++;
	srv->started++;
	/* The lease runs from the attach: loading BPF takes time that is not the peer's fault. */
	now = nb_mono_ns();
	s->last_rx_ns = now;
	s->attach_ns = s->tr ? nb_tracer_attach_ts(s->tr) : now;
	s->wm_ns = s->attach_ns;
	s->last_batch_ns = now;
	s->next_stats_ns = now + NB_SRV_STATS_IVL_NS;
	s->start_ns = now;
	s->cpu_ns = nb_thread_cpu_ns() - s->cpu_ns; /* the attach */
	/*
	 * --max-duration from the attach, whatever the START asked: a trace's own --duration
	 * starts only once all its sessions run, which can take a while with many agents.
	 */
	s->end_ns = now + (uint64_t)srv->max_duration_s * 1000000000ull;

	memset(srv->tx, 0, sizeof(*srv->tx));
	srv->tx->type = NB_MSG_STARTED;
	sd = &srv->tx->started;
	sd->session = sid;
	sd->attach_ns = nb_srv_clock(srv, s->attach_ns);
	sd->n_rx = spec.n_rx;
	sd->n_tx = spec.n_tx;
	memcpy(sd->rx_ifindex, spec.rx_if, sizeof(sd->rx_ifindex));
	memcpy(sd->tx_ifindex, spec.tx_if, sizeof(sd->tx_ifindex));
	sd->names = true;
	memcpy(sd->rx_ifs, ss->rx, sizeof(sd->rx_ifs));
	memcpy(sd->tx_ifs, ss->tx, sizeof(sd->tx_ifs));
	snprintf(sd->rx_why, sizeof(sd->rx_why), "%s", ss->rx_why);
	snprintf(sd->tx_why, sizeof(sd->tx_why), "%s", ss->tx_why);
	/* Once per session: a walk of /proc, as discovery does anyway. */
	if (nb_disc_has_ovs(ss->ns.inum))
		snprintf(sd->switch_kind, sizeof(sd->switch_kind), "ovs");
	/* Optional: without it the session still traces, and the report says drops are unnamed. */
	if (!srv->no_probes && nb_sdrop_start(s, &spec, &ss->ns, err, sizeof(err))) {
		sd->n_unattached = 1;
		snprintf(sd->unattached[0].hook, sizeof(sd->unattached[0].hook),
			 "raw_tp/kfree_skb");
		snprintf(sd->unattached[0].reason, sizeof(sd->unattached[0].reason), "%s", err);
	}
	/*
	 * Before STARTED, like the drop tracer: once the coordinator says it traces, the ring is
	 * watched too. srv->tx holds STARTED meanwhile: the monitor's start sends nothing.
	 */
	nb_stun_start(s, st->monitors, st->local, &spec, &ss->ns, ss->rx, ss->tx);
	nb_srv_send_msg(srv, peer);
	nb_stun_report(s);
	/* The probes stay attached as in any session, only their rings are left unread. */
	if (srv->synth_pps)
		nb_synth_init(&s->syn, &spec, cfg.filter.netns, sid, srv->synth_pps, s->attach_ns,
			      nb_mono_ns());

	s_iflist(rxs, sizeof(rxs), ss->rx, spec.rx_if, spec.n_rx);
	s_iflist(txs, sizeof(txs), ss->tx, spec.tx_if, spec.n_tx);
	if (ss->rx_why[0])
		nb_srv_log(srv, "session %llu: rx %s: %s", (unsigned long long)sid, rxs,
			   ss->rx_why);
	if (ss->tx_why[0])
		nb_srv_log(srv, "session %llu: tx %s: %s", (unsigned long long)sid, txs,
			   ss->tx_why);
	nb_srv_log(srv,
		   "session %llu started for %s: %s %s <-> %s netns %s rx %s tx %s credit %u "
		   "max_batch %u (%u/%u sessions)",
		   (unsigned long long)sid, s->peer_desc, s_proto_name(st->proto),
		   nb_addr_fmt(spec.src, spec.family, a, sizeof(a)),
		   nb_addr_fmt(spec.dst, spec.family, b, sizeof(b)), ss->ns.name, rxs, txs,
		   st->credit, st->max_batch, srv->n_sess, srv->max_sessions);
}

/* Parks a START while its interfaces are learned; the first probes go out now. */
static void s_learn_park(struct nb_srv *srv, struct s_start *ss, struct nb_disc_job *job)
{
	struct nb_learn *l = NULL;

	if (!srv->learn)
		srv->learn = calloc(srv->max_sessions, sizeof(*srv->learn));
	for (uint32_t i = 0; srv->learn && i < srv->max_sessions && !l; i++)
		if (!srv->learn[i].used)
			l = &srv->learn[i];
	if (!l) {
		nb_disc_job_free(job);
		nb_srv_error(srv, &ss->peer, ENOMEM, ss->st.session, "out of memory");
		nb_netns_close(&ss->ns);
		return;
	}
	l->s = *ss;
	l->job = job;
	l->used = true;
	l->next_ns = 0;
	srv->n_learn++;
	nb_srv_log(srv, "session %llu for %s: learning its interfaces from traffic (at most %u ms)",
		   (unsigned long long)ss->st.session, ss->peer_desc, S_LEARN_MS);
	/* Its namespace is the slot's now: the caller's copy must not close it. */
	ss->ns.fd = -1;
}

static void s_learn_free(struct nb_srv *srv, struct nb_learn *l)
{
	nb_disc_job_free(l->job);
	nb_netns_close(&l->s.ns);
	memset(l, 0, sizeof(*l));
	srv->n_learn--;
}

int nb_sess_learn_fd(const struct nb_srv *srv, uint32_t i)
{
	return srv->learn && srv->learn[i].used ? nb_disc_job_fd(srv->learn[i].job) : -1;
}

uint64_t nb_sess_learn_tick(struct nb_srv *srv, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (uint32_t i = 0; srv->n_learn && i < srv->max_sessions; i++) {
		struct nb_learn *l = &srv->learn[i];
		struct nb_disc_side vm, up;
		char err[256];
		int rc;

		if (!l->used)
			continue;
		if (!nb_disc_job_step(l->job, now, &l->next_ns)) {
			if (l->next_ns < next)
				next = l->next_ns;
			continue;
		}
		rc = nb_disc_job_end(l->job, &vm, &up, err, sizeof(err));
		l->job = NULL;
		if (rc) {
			s_discover_failed(srv, &l->s, rc, err);
		} else {
			struct s_start ss = l->s;

			/* The slot is given back first: the session takes a session slot. */
			l->s.ns.fd = -1;
			s_learn_free(srv, l);
			s_sides(&ss, &vm, &up);
			s_attach(srv, &ss);
			nb_netns_close(&ss.ns);
			continue;
		}
		s_learn_free(srv, l);
	}
	return next;
}

bool nb_sess_learning(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id)
{
	return s_learn_find(srv, peer, id) != NULL;
}

bool nb_sess_learn_stop(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id,
			const char *why)
{
	struct nb_learn *l = s_learn_find(srv, peer, id);

	if (!l)
		return false;
	memset(srv->tx, 0, sizeof(*srv->tx));
	srv->tx->type = NB_MSG_STOP;
	srv->tx->stop.session = id;
	snprintf(srv->tx->stop.reason, sizeof(srv->tx->stop.reason), "stopped");
	nb_srv_send_msg(srv, peer);
	nb_srv_log(srv, "session %llu stopped (%s) for %s while learning its interfaces",
		   (unsigned long long)id, why, l->s.peer_desc);
	s_learn_free(srv, l);
	return true;
}

void nb_sess_learn_cancel(struct nb_srv *srv,
			  bool (*keep)(const struct nb_srv *srv, const char *client), int code,
			  const char *why)
{
	for (uint32_t i = 0; srv->n_learn && i < srv->max_sessions; i++) {
		struct nb_learn *l = &srv->learn[i];

		if (!l->used || (keep && keep(srv, l->s.client)))
			continue;
		nb_srv_error(srv, &l->s.peer, code, l->s.st.session, "%s", why);
		nb_srv_log(srv, "session %llu for %s: not started: %s",
			   (unsigned long long)l->s.st.session, l->s.peer_desc, why);
		s_learn_free(srv, l);
	}
	if (!keep) {
		free(srv->learn);
		srv->learn = NULL;
	}
}

void nb_sess_start(struct nb_srv *srv, const struct nb_peer *peer, const char *peer_desc,
		   const char *client, uint64_t now)
{
	const struct nb_msg_start *st = &srv->rx->start;
	struct s_start *ss;
	struct nb_disc_job *job = NULL;
	char err[256];
	const char *nsname = NULL;
	uint64_t sid = st->session;
	struct nb_client *cl;
	uint32_t n;
	int rc;

	if (s_find(srv, peer, sid) || s_learn_find(srv, peer, sid)) {
		nb_srv_error(srv, peer, EEXIST, sid, "session %llu is already running",
			     (unsigned long long)sid);
		return;
	}
	if (srv->n_sess + srv->n_learn >= srv->max_sessions) {
		s_over_limit(srv, peer, peer_desc, client, sid, NB_LIM_SESSIONS, srv->max_sessions,
			     now, "%u sessions running already", srv->n_sess + srv->n_learn);
		return;
	}
	n = s_client_sessions(srv, client);
	if (!n && s_other_clients(srv, client) >= srv->max_clients) {
		s_over_limit(srv, peer, peer_desc, client, sid, NB_LIM_CLIENTS, srv->max_clients,
			     now, "sessions of %u other coordinators running", s_other_clients(srv, client));
		return;
	}
	if (n >= srv->max_sess_client) {
		s_over_limit(srv, peer, peer_desc, client, sid, NB_LIM_SESS_CLIENT,
			     srv->max_sess_client, now, "this client runs %u sessions already", n);
		return;
	}
	if ((uint64_t)st->credit * st->max_batch > srv->max_inflight) {
		s_over_limit(srv, peer, peer_desc, client, sid, NB_LIM_INFLIGHT, srv->max_inflight,
			     now, "this START asks for %llu (credit %u x max_batch %u)",
			     (unsigned long long)st->credit * st->max_batch, st->credit,
			     st->max_batch);
		return;
	}
	if (st->duration_s > srv->max_duration_s) {
		s_over_limit(srv, peer, peer_desc, client, sid, NB_LIM_DURATION,
			     srv->max_duration_s, now, "this trace asks for %u s", st->duration_s);
		return;
	}
	/* Counted from here on, whatever becomes of the START: each one costs the agent work. */
	cl = nb_srv_client(srv, client, now);
	if (!nb_rl_take(&cl->starts, now)) {
		s_over_limit(srv, peer, peer_desc, client, sid, NB_LIM_STARTS_CLIENT,
			     srv->max_starts_client, now, "%u STARTs from this client in the last 10 s",
			     srv->max_starts_client);
		return;
	}
	cl->last_start_ns = now;
	if (st->n_rx + st->n_tx > NB_MAX_IFS) {
		nb_srv_error(srv, peer, EINVAL, sid,
			     "at most %d interfaces in rx_ifs and tx_ifs together", NB_MAX_IFS);
		return;
	}
	if ((!st->n_rx || !st->n_tx) && !st->local) {
		nb_srv_error(srv, peer, EINVAL, sid,
			     "no interfaces given and no local address (src or dst) to find them "
			     "from");
		return;
	}
	if (st->netns[0]) {
		if (!nb_srv_netns_ok(st->netns)) {
			nb_srv_error(srv, peer, EACCES, sid,
				     "netns must be a name under /run/netns or /proc/PID/ns/net");
			return;
		}
		nsname = st->netns;
	} else {
		nsname = srv->def_netns;
	}
	ss = calloc(1, sizeof(*ss));
	if (!ss) {
		nb_srv_error(srv, peer, ENOMEM, sid, "out of memory");
		return;
	}
	ss->ns.fd = -1;
	rc = nb_netns_open(&ss->ns, nsname, err, sizeof(err));
	if (rc) {
		nb_srv_error(srv, peer, -rc, sid, "%s", err);
		goto out;
	}
	if (st->netns[0] && ioctl(ss->ns.fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		nb_srv_error(srv, peer, EINVAL, sid, "'%s' is not a network namespace", st->netns);
		goto out;
	}
	ss->st = *st;
	ss->peer = *peer;
	snprintf(ss->peer_desc, sizeof(ss->peer_desc), "%s", peer_desc);
	snprintf(ss->client, sizeof(ss->client), "%s", client);
	memcpy(ss->rx, st->rx_ifs, sizeof(ss->rx));
	memcpy(ss->tx, st->tx_ifs, sizeof(ss->tx));
	ss->n_rx = st->n_rx;
	ss->n_tx = st->n_tx;
	if (!ss->n_rx || !ss->n_tx) {
		rc = s_discover(ss, &job, err, sizeof(err));
		if (rc == -EINPROGRESS) {
			s_learn_park(srv, ss, job);
			goto out;
		}
		if (rc) {
			s_discover_failed(srv, ss, rc, err);
			goto out;
		}
	}
	s_attach(srv, ss);
out:
	nb_netns_close(&ss->ns);
	free(ss);
}

const char *nb_sess_kind(const struct nb_sess *s)
{
	return s_proto_name(s->proto);
}

struct nb_sess *nb_sess_find(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id)
{
	return s_find(srv, peer, id);
}

void nb_sess_add_credit(struct nb_sess *s, uint32_t credit)
{
	uint64_t cap = s->srv->max_inflight / s->max_batch;

	if (cap > NB_SRV_CREDIT_MAX)
		cap = NB_SRV_CREDIT_MAX;
	s->credit += credit;
	/*
	 * A coordinator grants what it received, so it never goes over what START asked; one
	 * that does is held to the limit, counted and logged, and its session goes on.
	 */
	if (s->credit > cap) {
		s->srv->limit_hits[NB_LIM_INFLIGHT]++;
		if (nb_rl_take(&s->srv->log_rl, nb_mono_ns()))
			nb_srv_log(s->srv,
				   "session %llu: credit for %llu events held to --max-inflight-events "
				   "%llu",
				   (unsigned long long)s->id,
				   (unsigned long long)s->credit * s->max_batch,
				   (unsigned long long)s->srv->max_inflight);
		s->credit = cap;
	}
	s_flush(s, nb_mono_ns());
}

void nb_sess_expire(struct nb_sess *s)
{
	struct nb_srv *srv = s->srv;
	char why[NB_WIRE_STR_MAX + 1];

	srv->limit_hits[NB_LIM_DURATION]++;
	snprintf(why, sizeof(why), "limit max-duration %u s reached: session ended",
		 srv->max_duration_s);
	nb_srv_error(srv, &s->peer, NB_WIRE_ELIMIT, s->id, "%s", why);
	nb_sess_stop(s, "limit max-duration reached", why);
}

/*
 * Waking for every event costs a loop turn (a few syscalls) per event under load. The first
 * event of a batch wakes us; the rest wait for the batch anyway, so they are drained every
 * NB_SRV_DRAIN_NS, a few hundred at a time. A 1 MiB ring holds ~10k events: this keeps up
 * with millions of events a second.
 */
int nb_sess_poll_fd(const struct nb_sess *s)
{
	/* A synthetic session never reads its ring: its fd would stay ready for good. */
	return s->open || s->syn.pps ? -1 : nb_tracer_fd(s->tr);
}

uint64_t nb_sess_tick(struct nb_sess *s, uint64_t now)
{
	uint64_t next;

	s_drain(s);
	now = nb_mono_ns();
	s_flush(s, now);
	if (s->open && now - s->first_ev_ns >= NB_SRV_BATCH_AGE_NS)
		s_close(s, now);
	if (!s->open && s->credit && !s->sq.len && now - s->last_batch_ns >= NB_SRV_EMPTY_IVL_NS)
		s_close(s, now);
	if (now >= s->next_stats_ns) {
		s_stats(s);
		s->next_stats_ns = now + NB_SRV_STATS_IVL_NS;
	}

	next = s->next_stats_ns;
	if (s->open) {
		uint64_t d = now + NB_SRV_DRAIN_NS;

		/*
		 * A synthetic source has nothing to drain before its next packet is due: at a few
		 * packets a second, waking every 2 ms would cost hundreds of agents a CPU.
		 */
		if (s->syn.pps && nb_synth_next(&s->syn) > d)
			d = nb_synth_next(&s->syn);
		if (s->first_ev_ns + NB_SRV_BATCH_AGE_NS < d)
			d = s->first_ev_ns + NB_SRV_BATCH_AGE_NS;
		if (d < next)
			next = d;
	}
	if (!s->open && s->credit && !s->sq.len && s->last_batch_ns + NB_SRV_EMPTY_IVL_NS < next)
		next = s->last_batch_ns + NB_SRV_EMPTY_IVL_NS;
	/* No ring fd wakes a synthetic session: its next packet does. */
	if (s->syn.pps && !s->open && nb_synth_next(&s->syn) < next)
		next = nb_synth_next(&s->syn);
	/* Credit but a full socket: nothing will wake us when it drains, so look again soon. */
	if (s->sq.len && s->credit && now + 5000000ull < next)
		next = now + 5000000ull;
	return next;
}

void nb_sess_stop(struct nb_sess *s, const char *reason, const char *log_why)
{
	struct nb_srv *srv = s->srv;
	uint64_t now, lost_ring;

	if (!s->used)
		return;
	if (s->tr || s->syn.pps) {
		/* Hand over what was traced up to now, as far as credit allows. */
		s_drain(s);
		now = nb_mono_ns();
		s_close(s, now);
		s_flush(s, now);
	}
	{
		uint64_t lost = 0;

		/* What credit did not let go before the end is lost, and reported as such. */
		for (uint32_t i = 0; i < s->sq.len; i++)
			lost += s->sq.q[(s->sq.head + i) % NB_SRV_QUEUE_MAX].n_ev;
		s->lost_queue += lost;
	}
	s_stats(s);
	lost_ring = s->tr ? nb_tracer_lost(s->tr) : 0;
	nb_tracer_destroy(&s->tr);
	nb_sdrop_stop(s);
	nb_stun_stop(s);

	memset(srv->tx, 0, sizeof(*srv->tx));
	srv->tx->type = NB_MSG_STOP;
	srv->tx->stop.session = s->id;
	snprintf(srv->tx->stop.reason, sizeof(srv->tx->stop.reason), "%s", reason);
	nb_srv_send_msg(srv, &s->peer);

	nb_srv_log(srv,
		   "session %llu stopped (%s) for %s: events_sent=%llu batches_sent=%llu "
		   "lost_ring=%llu lost_queue=%llu",
		   (unsigned long long)s->id, log_why, s->peer_desc,
		   (unsigned long long)s->events_sent, (unsigned long long)s->batches_sent,
		   (unsigned long long)lost_ring, (unsigned long long)s->lost_queue);
	if (s->syn.pps)
		nb_srv_log(srv, "session %llu: synthetic: %llu packets at %llu/s, max lag %.3f ms",
			   (unsigned long long)s->id,
			   (unsigned long long)(s->syn.made - s->syn.first),
			   (unsigned long long)s->syn.pps, (double)s->syn.max_lag_ns / 1e6);
	srv->ended.events_sent += s->events_sent;
	srv->ended.lost_ring += lost_ring;
	srv->ended.lost_queue += s->lost_queue;
	srv->ended.cpu_ns += s->cpu_ns;
	nb_wbuf_free(&s->buf);
	{
		uint64_t counted = 0; /* counted in lost_queue before the final STATS */

		nb_sendq_free(&s->sq, &counted);
	}
	memset(s, 0, sizeof(*s));
	srv->n_sess--;
}
