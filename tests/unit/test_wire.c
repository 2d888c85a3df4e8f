// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Wire protocol codec: round trips of every message with every field, the strict decoder
 * (types, bounds, required fields, version), and hostile input: truncation at every byte,
 * random garbage, mutated frames, allocation failures. No leaks anywhere.
 *
 * Allocations are counted by wrapping malloc/calloc/realloc/free at link time
 * (-Wl,--wrap=malloc,... in the Makefile): the calls from this file and from libnbcommon, which
 * is linked statically, go to the __wrap_ functions below, which count and inject failures and
 * then call the real allocator, or the one valgrind or ASan put in its place. A malloc defined
 * in this binary would replace the process's allocator, which those tools must own (under
 * valgrind the counts came out wrong and four tests failed); cmocka's test_malloc only sees
 * code built with its macros.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "nb_wire.h"

/* ---------------------------------------------------------------------------------------- */
/* Allocation accounting and failure injection */

static long s_allocs, s_frees;
static long s_fail_after = -1; /* allocations to let through before failing one; -1 never */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static bool s_inject(void)
{
	if (s_fail_after < 0)
		return false;
	return s_fail_after-- == 0;
}

void *__wrap_malloc(size_t n)
{
	void *p = s_inject() ? NULL : __real_malloc(n);

	if (p)
		s_allocs++;
	return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
	void *p = s_inject() ? NULL : __real_calloc(n, m);

	if (p)
		s_allocs++;
	return p;
}

void *__wrap_realloc(void *o, size_t n)
{
	void *p = s_inject() ? NULL : __real_realloc(o, n);

	if (p && !o)
		s_allocs++;
	return p;
}

void __wrap_free(void *p)
{
	if (p)
		s_frees++;
	__real_free(p);
}

#define LIVE() (s_allocs - s_frees)

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static uint64_t s_rand(void)
{
	/* xorshift64*: fixed seed, so every run checks the same inputs */
	s_rng ^= s_rng >> 12;
	s_rng ^= s_rng << 25;
	s_rng ^= s_rng >> 27;
	return s_rng * 0x2545f4914f6cdd1dull;
}

static const enum nb_msg_type s_types[] = {
    NB_MSG_HELLO, NB_MSG_START, NB_MSG_STARTED, NB_MSG_EVENTS, NB_MSG_STATS,
    NB_MSG_PING,  NB_MSG_PONG,	NB_MSG_CREDIT,	NB_MSG_STOP,   NB_MSG_ERROR,
    NB_MSG_DROPINFO, NB_MSG_RUN, NB_MSG_OUTPUT, NB_MSG_MONITOR,
};
#define S_NTYPES (sizeof(s_types) / sizeof(s_types[0]))

static struct nb_event s_sample_ev[3];

static void s_fill_events(void)
{
	struct nb_event *e = s_sample_ev;
	static const uint8_t v6a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	memset(s_sample_ev, 0, sizeof(s_sample_ev));
	e[0].ts_ns = 1000000001;
	e[0].ifindex = 7;
	e[0].netns = 4026531840u;
	e[0].type = NB_EV_PKT;
	e[0].hook = NB_HOOK_RX;
	e[0].ethertype = 0x0800;
	e[0].stack_id = -1;
	e[0].cpu = 1;
	memcpy(e[0].pkt.saddr, "\x0a\x00\x00\x01", 4);
	memcpy(e[0].pkt.daddr, "\x0a\x00\x00\x02", 4);
	e[0].pkt.family = 4;
	e[0].pkt.proto = IPPROTO_ICMP;
	e[0].pkt.icmp_type = 8;
	e[0].pkt.icmp_id = 0x1234;
	e[0].pkt.icmp_seq = 1;
	e[0].pkt.ip_id = 0xdeadbeef; /* an IPv6 fragment header's 32 bits */
	e[0].pkt.ip_len = 84;
	e[0].pkt.l4_len = 56;

	e[1] = e[0];
	e[1].ts_ns = UINT64_MAX;
	e[1].type = NB_EV_DROP;
	e[1].hook = NB_HOOK_DROP;
	e[1].reason = 77;
	e[1].location = 0xffffffff81234567ull;
	e[1].stack_id = INT32_MAX;
	e[1].cpu = UINT32_MAX;

	e[2].ts_ns = 3;
	e[2].ifindex = UINT32_MAX;
	e[2].ethertype = 0x86dd;
	e[2].stack_id = INT32_MIN;
	memcpy(e[2].pkt.saddr, v6a, 16);
	memset(e[2].pkt.daddr, 0xff, 16);
	e[2].pkt.family = 6;
	e[2].pkt.proto = IPPROTO_TCP;
	e[2].pkt.sport = 65535;
	e[2].pkt.dport = 443;
	e[2].pkt.frag_off = 1480;
	e[2].pkt.more_frags = 1;
	e[2].pkt.tcp_flags = 0x18;
	e[2].pkt.tcp_seq = UINT32_MAX;
	e[2].pkt.tcp_ack = 1;
	e[2].pkt.l4_len = UINT32_MAX;
	e[2].pkt.icmp_code = 255;
}

static void s_strfill(char *dst, size_t n, char c)
{
	memset(dst, c, n);
	dst[n] = '\0';
}

/*
 * A message of type t with every field set, optional ones included. big: strings at their
 * exact length limit and lists full, to pin the bounds from the accepting side.
 */
static void s_sample(struct nb_msg *m, enum nb_msg_type t, bool big)
{
	memset(m, 0, sizeof(*m));
	m->type = t;
	switch (t) {
	case NB_MSG_HELLO: {
		struct nb_msg_hello *h = &m->hello;

		strcpy(h->name, "hv-a.example");
		strcpy(h->version, "0.1.0");
		h->proto = 1;
		h->n_caps = 3;
		strcpy(h->caps[0], "tp:netif_receive_skb");
		strcpy(h->caps[1], "tp:net_dev_start_xmit");
		strcpy(h->caps[2], "kprobe:ip_rcv");
		h->clock_ns = 123456789012345ull;
		h->sessions = 3;
		if (big) {
			s_strfill(h->name, NB_WIRE_STR_MAX, 'n');
			s_strfill(h->version, NB_WIRE_NAME_MAX, 'v');
			h->n_caps = NB_WIRE_MAX_CAPS;
			for (int i = 0; i < NB_WIRE_MAX_CAPS; i++) {
				s_strfill(h->caps[i], NB_WIRE_NAME_MAX, 'c');
				h->caps[i][0] = (char)('0' + i % 10);
				h->caps[i][1] = (char)('A' + i / 10);
			}
			h->proto = UINT32_MAX;
			h->clock_ns = UINT64_MAX;
			h->sessions = UINT32_MAX;
		}
		break;
	}
	case NB_MSG_START: {
		struct nb_msg_start *s = &m->start;

		s->session = 0x1122334455667788ull;
		s->proto = IPPROTO_ICMP;
		s->family = 4;
		memcpy(s->src, "\x0a\x00\x00\x01", 4);
		memcpy(s->dst, "\x0a\x00\x00\x02", 4);
		s->sport = 1234;
		s->dport = 80;
		s->n_rx = 2;
		strcpy(s->rx_ifs[0], "vnet0");
		strcpy(s->rx_ifs[1], "eth1");
		s->n_tx = 1;
		strcpy(s->tx_ifs[0], "eth0");
		strcpy(s->netns, "/var/run/netns/nbhvA");
		s->timeout_ms = 2000;
		s->credit = 64;
		s->max_batch = 512;
		s->duration_s = 60;
		s->local = NB_START_LOCAL_DST;
		s->monitors = NB_MON_TUN_RING;
		if (big) {
			s->proto = IPPROTO_UDP;
			s->family = 6;
			memset(s->src, 0xfe, 16);
			memset(s->dst, 0x01, 16);
			s->sport = 65535;
			s->dport = 65535;
			s->n_rx = s->n_tx = NB_MAX_IFS;
			for (int i = 0; i < NB_MAX_IFS; i++) {
				s_strfill(s->rx_ifs[i], NB_WIRE_IFNAME_MAX, 'r');
				s_strfill(s->tx_ifs[i], NB_WIRE_IFNAME_MAX, 't');
				s->rx_ifs[i][0] = s->tx_ifs[i][0] = (char)('0' + i);
			}
			s_strfill(s->netns, NB_WIRE_STR_MAX, 'p');
			s->timeout_ms = s->credit = s->duration_s = s->monitors = UINT32_MAX;
			s->max_batch = NB_WIRE_MAX_EVENTS;
		}
		break;
	}
	case NB_MSG_STARTED: {
		struct nb_msg_started *s = &m->started;

		s->session = 42;
		s->attach_ns = 987654321;
		s->n_rx = 2;
		s->rx_ifindex[0] = 7;
		s->rx_ifindex[1] = 9;
		s->n_tx = 1;
		s->tx_ifindex[0] = 3;
		s->n_unattached = 2;
		strcpy(s->unattached[0].hook, "kprobe:ovs_dp_upcall");
		strcpy(s->unattached[0].reason, "no such kernel function");
		strcpy(s->unattached[1].hook, "fentry:tun_net_xmit");
		strcpy(s->unattached[1].reason, "BTF for module tun not found");
		s->names = true;
		strcpy(s->rx_ifs[0], "ens4f0");
		strcpy(s->rx_ifs[1], "ens4f1");
		strcpy(s->tx_ifs[0], "vnet0");
		strcpy(s->rx_why, "198.18.0.1 answered ARP on bond0; bond bond0: slaves ens4f0+ens4f1");
		strcpy(s->tx_why, "198.18.0.2 answered ARP on vnet0");
		strcpy(s->switch_kind, "ovs");
		if (big) {
			s->session = UINT64_MAX;
			s->n_rx = s->n_tx = NB_MAX_IFS;
			for (int i = 0; i < NB_MAX_IFS; i++) {
				s->rx_ifindex[i] = UINT32_MAX - i;
				s->tx_ifindex[i] = i;
				s_strfill(s->rx_ifs[i], NB_WIRE_IFNAME_MAX, 'r');
				s_strfill(s->tx_ifs[i], NB_WIRE_IFNAME_MAX, 't');
			}
			s->n_unattached = NB_WIRE_MAX_UNATTACHED;
			for (int i = 0; i < NB_WIRE_MAX_UNATTACHED; i++) {
				s_strfill(s->unattached[i].hook, NB_WIRE_NAME_MAX, 'h');
				s_strfill(s->unattached[i].reason, NB_WIRE_STR_MAX, '~');
			}
		}
		break;
	}
	case NB_MSG_EVENTS: {
		struct nb_msg_events *e = &m->events;

		s_fill_events();
		e->session = 42;
		e->seq = 17;
		e->watermark_ns = 1000000000;
		e->lost_ring = 5;
		e->lost_queue = UINT64_MAX;
		e->n_ev = 3;
		e->ev = s_sample_ev;
		break;
	}
	case NB_MSG_STATS: {
		struct nb_msg_stats *s = &m->stats;

		s->session = 42;
		s->n_counters = 3;
		strcpy(s->counters[0].name, "events");
		s->counters[0].value = 100;
		strcpy(s->counters[1].name, "lost_ring");
		s->counters[1].value = UINT64_MAX;
		strcpy(s->counters[2].name, "batches");
		s->counters[2].value = 0;
		if (big) {
			s->n_counters = NB_WIRE_MAX_COUNTERS;
			for (int i = 0; i < NB_WIRE_MAX_COUNTERS; i++) {
				s_strfill(s->counters[i].name, NB_WIRE_NAME_MAX, 'k');
				snprintf(s->counters[i].name, 8, "c%02u", (unsigned)i % 100);
				s->counters[i].name[3] = 'k';
				s->counters[i].value = (uint64_t)i << 40;
			}
		}
		break;
	}
	case NB_MSG_PING:
		m->ping.seq = 5;
		m->ping.t_coord = 111222333444ull;
		m->ping.session = 42;
		m->ping.credit = 16;
		break;
	case NB_MSG_PONG:
		m->pong.seq = 5;
		m->pong.t_coord = 111222333444ull;
		m->pong.t_agent = UINT64_MAX - 1;
		m->pong.session = 42;
		m->pong.credit = UINT32_MAX;
		break;
	case NB_MSG_CREDIT:
		m->credit.session = 42;
		m->credit.credit = 32;
		break;
	case NB_MSG_STOP:
		m->stop.session = 42;
		strcpy(m->stop.reason, "coordinator done");
		m->stop.exit_code = 2;
		if (big) {
			s_strfill(m->stop.reason, NB_WIRE_STR_MAX, 's');
			m->stop.exit_code = INT32_MIN;
		}
		break;
	case NB_MSG_RUN: {
		struct nb_msg_run *r = &m->run;

		r->session = 77;
		strcpy(r->tool, "icmp_path_tracer");
		r->n_args = 3;
		strcpy(r->args[0], "--src-ip");
		strcpy(r->args[1], "10.0.0.1");
		strcpy(r->args[2], "--json");
		r->credit = 64;
		r->check = 1;
		if (big) {
			r->session = UINT64_MAX;
			s_strfill(r->tool, NB_WIRE_NAME_MAX, 't');
			r->n_args = NB_WIRE_MAX_ARGS;
			for (int i = 0; i < NB_WIRE_MAX_ARGS; i++)
				s_strfill(r->args[i], NB_WIRE_STR_MAX, (char)('a' + i % 26));
			r->credit = UINT32_MAX;
		}
		break;
	}
	case NB_MSG_OUTPUT: {
		static const char *const lines[] = {"ICMP Path Tracer", "\tseq 1 COMPLETE", ""};
		static char *many[NB_WIRE_MAX_LINES], longest[NB_WIRE_LINE_MAX + 1];

		m->output.session = 77;
		m->output.seq = 9;
		m->output.stream = NB_OUT_STDOUT;
		m->output.n_lines = 3;
		m->output.lines = lines;
		if (big) {
			/* Every line short but one at the limit: the frame stays small to cut. */
			for (int i = 0; i < NB_WIRE_MAX_LINES; i++)
				many[i] = (char *)(i % 2 ? "x\ty" : "");
			s_strfill(longest, 200, 'L');
			many[5] = longest;
			m->output.seq = UINT64_MAX;
			m->output.stream = NB_OUT_STDERR;
			m->output.n_lines = NB_WIRE_MAX_LINES;
			m->output.lines = (const char *const *)many;
		}
		break;
	}
	case NB_MSG_ERROR:
		m->error.code = EACCES;
		m->error.session = 42;
		strcpy(m->error.message, "key not authorised");
		if (big) {
			m->error.code = INT32_MIN;
			s_strfill(m->error.message, NB_WIRE_STR_MAX, 'e');
		}
		break;
	case NB_MSG_DROPINFO: {
		struct nb_msg_dropinfo *d = &m->dropinfo;

		d->session = 42;
		d->stack_id = 6213;
		d->reason = 12;
		d->ifindex = 4;
		d->location = 0xffffffff81a2b3c4ull;
		strcpy(d->reason_name, "NETFILTER_DROP");
		strcpy(d->location_sym, "nft_do_chain+0x46f");
		strcpy(d->ifname, "vnet0");
		d->n_frames = 3;
		strcpy(d->frames[0], "sk_skb_reason_drop+0x90");
		strcpy(d->frames[1], "nft_do_chain+0x46f");
		strcpy(d->frames[2], "__br_forward+0xe6");
		if (big) {
			d->session = UINT64_MAX;
			d->stack_id = INT32_MIN;
			d->reason = UINT32_MAX;
			d->ifindex = UINT32_MAX;
			d->location = UINT64_MAX;
			s_strfill(d->reason_name, NB_WIRE_NAME_MAX, 'r');
			s_strfill(d->location_sym, NB_WIRE_FRAME_MAX, 'l');
			s_strfill(d->ifname, NB_WIRE_IFNAME_MAX, 'i');
			d->n_frames = NB_WIRE_MAX_FRAMES;
			for (int i = 0; i < NB_WIRE_MAX_FRAMES; i++)
				s_strfill(d->frames[i], NB_WIRE_FRAME_MAX, (char)('a' + i % 26));
		}
		break;
	}
	case NB_MSG_MONITOR: {
		struct nb_msg_monitor *r = &m->monitor;

		r->session = 42;
		strcpy(r->monitor, "tun_ring");
		strcpy(r->ifname, "vnet0");
		r->attached = 1;
		strcpy(r->why, "queue 3 has no reader");
		r->queues_seen = 2;
		r->has_total = true;
		r->total = (struct nb_wire_monq){0, 256, 16, 3, 1000, 100, 980, 12, 12, 1};
		r->n_queues = 2;
		r->queues[0] = (struct nb_wire_monq){0, 256, 16, 3, 900, 90, 880, 12, 12, 1};
		r->queues[1] = (struct nb_wire_monq){3, 128, 2, 0, 100, 10, 100, 0, 0, 0};
		r->n_sojourn = 18;
		r->sojourn_us[2] = 5;
		r->sojourn_us[17] = UINT64_MAX;
		if (big) {
			r->session = UINT64_MAX;
			s_strfill(r->monitor, NB_WIRE_NAME_MAX, 'm');
			s_strfill(r->ifname, NB_WIRE_IFNAME_MAX, 'i');
			s_strfill(r->why, NB_WIRE_STR_MAX, 'w');
			r->queues_seen = UINT32_MAX;
			r->total.queue = r->total.size = r->total.hwm = UINT32_MAX;
			r->total.drops_other = UINT64_MAX;
			r->n_queues = NB_WIRE_MAX_MONQ;
			for (int i = 0; i < NB_WIRE_MAX_MONQ; i++)
				r->queues[i] = (struct nb_wire_monq){(uint32_t)i, UINT32_MAX, 1, 2,
								     UINT64_MAX, 3, 4, 5, 6, 7};
			r->n_sojourn = NB_WIRE_MON_SLOTS;
			for (int i = 0; i < NB_WIRE_MON_SLOTS; i++)
				r->sojourn_us[i] = (uint64_t)i << 50;
		}
		break;
	}
	}
}

static void s_assert_equal(const struct nb_msg *a, const struct nb_msg *b)
{
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case NB_MSG_HELLO:
		assert_memory_equal(&a->hello, &b->hello, sizeof(a->hello));
		break;
	case NB_MSG_START:
		assert_memory_equal(&a->start, &b->start, sizeof(a->start));
		break;
	case NB_MSG_STARTED:
		assert_memory_equal(&a->started, &b->started, sizeof(a->started));
		break;
	case NB_MSG_EVENTS:
		assert_true(a->events.session == b->events.session);
		assert_true(a->events.seq == b->events.seq);
		assert_true(a->events.watermark_ns == b->events.watermark_ns);
		assert_true(a->events.lost_ring == b->events.lost_ring);
		assert_true(a->events.lost_queue == b->events.lost_queue);
		assert_int_equal(a->events.n_ev, b->events.n_ev);
		if (a->events.n_ev)
			assert_memory_equal(a->events.ev, b->events.ev,
					    a->events.n_ev * sizeof(struct nb_event));
		break;
	case NB_MSG_STATS:
		assert_memory_equal(&a->stats, &b->stats, sizeof(a->stats));
		break;
	case NB_MSG_PING:
		assert_memory_equal(&a->ping, &b->ping, sizeof(a->ping));
		break;
	case NB_MSG_PONG:
		assert_memory_equal(&a->pong, &b->pong, sizeof(a->pong));
		break;
	case NB_MSG_CREDIT:
		assert_memory_equal(&a->credit, &b->credit, sizeof(a->credit));
		break;
	case NB_MSG_STOP:
		assert_memory_equal(&a->stop, &b->stop, sizeof(a->stop));
		break;
	case NB_MSG_ERROR:
		assert_memory_equal(&a->error, &b->error, sizeof(a->error));
		break;
	case NB_MSG_DROPINFO:
		assert_memory_equal(&a->dropinfo, &b->dropinfo, sizeof(a->dropinfo));
		break;
	case NB_MSG_RUN:
		assert_memory_equal(&a->run, &b->run, sizeof(a->run));
		break;
	case NB_MSG_MONITOR:
		assert_memory_equal(&a->monitor, &b->monitor, sizeof(a->monitor));
		break;
	case NB_MSG_OUTPUT:
		assert_true(a->output.session == b->output.session);
		assert_true(a->output.seq == b->output.seq);
		assert_int_equal(a->output.stream, b->output.stream);
		assert_int_equal(a->output.n_lines, b->output.n_lines);
		for (uint32_t i = 0; i < a->output.n_lines; i++)
			assert_string_equal(a->output.lines[i], b->output.lines[i]);
		break;
	default:
		fail_msg("unexpected type %d", a->type);
	}
}

/* Decodes from an exactly sized heap copy so that any read past the end is a real overrun. */
static int s_decode_exact(const void *buf, size_t len, struct nb_msg *out)
{
	void *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	rc = nb_wire_decode(copy, len, out);
	free(copy);
	return rc;
}

static bool s_is_reject(int rc)
{
	return rc == -EPROTO || rc == -EBADMSG || rc == -EMSGSIZE || rc == -EPROTONOSUPPORT;
}

static struct nb_msg *s_msg(void)
{
	struct nb_msg *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	return m;
}

/* ---------------------------------------------------------------------------------------- */
/* Frame surgery: re-pack a valid frame's top-level map with one change. */

enum s_op { S_DROP, S_REPLACE, S_ADD, S_DUP };

typedef void (*s_val_fn)(msgpack_packer *pk, const msgpack_object *orig, const void *arg);

static void s_rebuild(const void *buf, size_t len, enum s_op op, const char *key, s_val_fn fn,
		      const void *arg, msgpack_sbuffer *sb)
{
	msgpack_unpacked up;
	msgpack_packer pk;
	const msgpack_object_map *map;
	size_t n, klen = key ? strlen(key) : 0;
	bool found = false;

	msgpack_unpacked_init(&up);
	assert_int_equal(msgpack_unpack_next(&up, buf, len, NULL), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(up.data.type, MSGPACK_OBJECT_MAP);
	map = &up.data.via.map;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	n = map->size + (op == S_DROP ? -1 : op == S_REPLACE ? 0 : 1);
	if (op == S_DROP) {
		/* only if present */
		bool present = false;

		for (size_t i = 0; i < map->size; i++)
			if (map->ptr[i].key.via.str.size == klen &&
			    !memcmp(map->ptr[i].key.via.str.ptr, key, klen))
				present = true;
		assert_true(present);
	}
	msgpack_pack_map(&pk, n);
	for (size_t i = 0; i < map->size; i++) {
		const msgpack_object_kv *kv = &map->ptr[i];
		bool match =
		    kv->key.via.str.size == klen && !memcmp(kv->key.via.str.ptr, key, klen);

		if (match)
			found = true;
		if (match && op == S_DROP)
			continue;
		msgpack_pack_object(&pk, kv->key);
		if (match && op == S_REPLACE)
			fn(&pk, &kv->val, arg);
		else
			msgpack_pack_object(&pk, kv->val);
		if (match && op == S_DUP) {
			msgpack_pack_object(&pk, kv->key);
			msgpack_pack_object(&pk, kv->val);
		}
	}
	if (op == S_ADD) {
		msgpack_pack_str(&pk, klen);
		msgpack_pack_str_body(&pk, key, klen);
		fn(&pk, NULL, arg);
	} else {
		assert_true(found);
	}
	msgpack_unpacked_destroy(&up);
}

/* Encodes the sample of type t, applies one change, decodes; returns the decoder's verdict. */
static int s_try(enum nb_msg_type t, bool big, enum s_op op, const char *key, s_val_fn fn,
		 const void *arg, struct nb_msg *out)
{
	struct nb_msg *m = s_msg();
	msgpack_sbuffer sb;
	size_t len;
	void *buf;
	int rc;

	s_sample(m, t, big);
	assert_int_equal(nb_wire_encode(m, &buf, &len), 0);
	s_rebuild(buf, len, op, key, fn, arg, &sb);
	rc = s_decode_exact(sb.data, sb.size, out);
	msgpack_sbuffer_destroy(&sb);
	free(buf);
	free(m);
	return rc;
}

static void s_pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void s_val_uint(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	(void)o;
	msgpack_pack_uint64(pk, *(const uint64_t *)arg);
}

static void s_val_int(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	(void)o;
	msgpack_pack_int64(pk, *(const int64_t *)arg);
}

static void s_val_cstr(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	(void)o;
	s_pack_str(pk, arg, strlen(arg));
}

struct s_bytes {
	const void *p;
	size_t n;
};

static void s_val_strn(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	const struct s_bytes *b = arg;

	(void)o;
	s_pack_str(pk, b->p, b->n);
}

static void s_val_bin(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	const struct s_bytes *b = arg;

	(void)o;
	msgpack_pack_bin(pk, b->n);
	msgpack_pack_bin_body(pk, b->p, b->n);
}

/* A value nested deeply, the kind of thing a newer peer might send in a field we ignore. */
static void s_val_future(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	(void)o;
	(void)arg;
	msgpack_pack_map(pk, 2);
	s_pack_str(pk, "a", 1);
	msgpack_pack_array(pk, 3);
	msgpack_pack_double(pk, 2.5);
	msgpack_pack_nil(pk);
	msgpack_pack_bin(pk, 2);
	msgpack_pack_bin_body(pk, "\x00\xff", 2);
	s_pack_str(pk, "b", 1);
	msgpack_pack_ext(pk, 3, 7);
	msgpack_pack_ext_body(pk, "abc", 3);
}

enum s_wrong { W_NIL, W_BOOL, W_FLOAT, W_OTHER, W_NEG, W_COUNT };

static void s_val_wrong(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	switch (*(const enum s_wrong *)arg) {
	case W_NIL:
		msgpack_pack_nil(pk);
		break;
	case W_BOOL:
		msgpack_pack_true(pk);
		break;
	case W_FLOAT:
		msgpack_pack_double(pk, 1.0);
		break;
	case W_OTHER:
		/* a value of another kind than the right one */
		if (o->type == MSGPACK_OBJECT_STR)
			msgpack_pack_uint8(pk, 7);
		else
			s_pack_str(pk, "7", 1);
		break;
	case W_NEG:
		msgpack_pack_int8(pk, -1);
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Round trips */

static void s_roundtrip(enum nb_msg_type t, bool big)
{
	struct nb_msg *m = s_msg(), *d = s_msg();
	long live = LIVE();
	size_t len;
	void *buf;

	s_sample(m, t, big);
	assert_int_equal(nb_wire_encode(m, &buf, &len), 0);
	assert_true(len > 0 && len <= NB_WIRE_MAX_FRAME);
	assert_int_equal(s_decode_exact(buf, len, d), 0);
	s_assert_equal(m, d);
	nb_msg_clear(d);
	free(buf);
	assert_int_equal(LIVE(), live);
	free(m);
	free(d);
}

static void test_roundtrip_every_type(void **state)
{
	(void)state;
	for (size_t i = 0; i < S_NTYPES; i++) {
		s_roundtrip(s_types[i], false);
		s_roundtrip(s_types[i], true);
	}
}

/* Optional fields left at zero are omitted by the encoder and read back as zero. */
static void test_roundtrip_minimal(void **state)
{
	struct nb_msg *m = s_msg(), *d = s_msg();
	size_t len;
	void *buf;

	(void)state;
	for (size_t i = 0; i < S_NTYPES; i++) {
		s_sample(m, s_types[i], false);
		switch (m->type) {
		case NB_MSG_HELLO:
			m->hello.n_caps = 0;
			memset(m->hello.caps, 0, sizeof(m->hello.caps));
			m->hello.clock_ns = 0;
			m->hello.sessions = 0;
			break;
		case NB_MSG_START:
			memset(m->start.netns, 0, sizeof(m->start.netns));
			m->start.n_rx = m->start.n_tx = 0;
			memset(m->start.rx_ifs, 0, sizeof(m->start.rx_ifs));
			memset(m->start.tx_ifs, 0, sizeof(m->start.tx_ifs));
			m->start.sport = m->start.dport = 0;
			m->start.timeout_ms = m->start.credit = 0;
			break;
		case NB_MSG_STARTED:
			m->started.n_unattached = 0;
			memset(m->started.unattached, 0, sizeof(m->started.unattached));
			memset(m->started.switch_kind, 0, sizeof(m->started.switch_kind));
			break;
		case NB_MSG_EVENTS:
			m->events.n_ev = 0;
			m->events.ev = NULL;
			break;
		case NB_MSG_STATS:
			m->stats.n_counters = 0;
			memset(m->stats.counters, 0, sizeof(m->stats.counters));
			break;
		case NB_MSG_PING:
			m->ping.session = 0;
			m->ping.credit = 0;
			break;
		case NB_MSG_PONG:
			m->pong.session = 0;
			m->pong.credit = 0;
			break;
		case NB_MSG_STOP:
			memset(m->stop.reason, 0, sizeof(m->stop.reason));
			m->stop.exit_code = 0;
			break;
		case NB_MSG_RUN:
			m->run.n_args = 0;
			memset(m->run.args, 0, sizeof(m->run.args));
			m->run.credit = 0;
			m->run.check = 0;
			break;
		case NB_MSG_OUTPUT:
			m->output.n_lines = 0;
			m->output.lines = NULL;
			break;
		case NB_MSG_ERROR:
			m->error.session = 0;
			memset(m->error.message, 0, sizeof(m->error.message));
			m->error.code = -EIO;
			break;
		case NB_MSG_DROPINFO:
			memset(m->dropinfo.location_sym, 0, sizeof(m->dropinfo.location_sym));
			memset(m->dropinfo.ifname, 0, sizeof(m->dropinfo.ifname));
			memset(m->dropinfo.frames, 0, sizeof(m->dropinfo.frames));
			m->dropinfo.n_frames = 0;
			m->dropinfo.stack_id = -1;
			break;
		case NB_MSG_MONITOR:
			memset(m->monitor.why, 0, sizeof(m->monitor.why));
			m->monitor.queues_seen = 0;
			m->monitor.has_total = false;
			memset(&m->monitor.total, 0, sizeof(m->monitor.total));
			m->monitor.n_queues = 0;
			memset(m->monitor.queues, 0, sizeof(m->monitor.queues));
			m->monitor.n_sojourn = 0;
			memset(m->monitor.sojourn_us, 0, sizeof(m->monitor.sojourn_us));
			m->monitor.attached = 0;
			break;
		default:
			break;
		}
		assert_int_equal(nb_wire_encode(m, &buf, &len), 0);
		assert_int_equal(s_decode_exact(buf, len, d), 0);
		s_assert_equal(m, d);
		assert_null(d->alloc);
		nb_msg_clear(d);
		free(buf);
	}
	free(m);
	free(d);
}

/* The exact bytes of one small message, so the format cannot drift unnoticed. */
static void test_golden_credit(void **state)
{
	static const uint8_t want[] = {
	    0x84,							 /* map of 4 */
	    0xa1, 'v', 0x01,						 /* v: 1 */
	    0xa1, 't', 0xa6, 'C', 'R', 'E', 'D', 'I',  'T',		 /* t: "CREDIT" */
	    0xa7, 's', 'e',  's', 's', 'i', 'o', 'n',  0xcd, 0x01, 0x2c, /* session: 300 */
	    0xa6, 'c', 'r',  'e', 'd', 'i', 't', 0x20,			 /* credit: 32 */
	};
	struct nb_msg m = {.type = NB_MSG_CREDIT, .credit = {.session = 300, .credit = 32}};
	size_t len;
	void *buf;

	(void)state;
	assert_int_equal(nb_wire_encode(&m, &buf, &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	free(buf);
}

static void s_random_events(struct nb_event *ev, size_t n, bool ipv4)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = (uint8_t *)&ev[i];

		for (size_t j = 0; j < sizeof(ev[i]); j++)
			p[j] = (uint8_t)s_rand();
		/* not on the wire: always zero */
		ev[i].pkt.pad = 0;
		ev[i].pkt.pad2 = 0;
		if (ipv4 && i % 2) {
			memset(ev[i].pkt.saddr + 4, 0, 12);
			memset(ev[i].pkt.daddr + 4, 0, 12);
		}
	}
}

static void test_events_full_batch_bit_exact(void **state)
{
	struct nb_event *ev = calloc(NB_WIRE_MAX_EVENTS, sizeof(*ev));
	struct nb_msg_events hdr = {.session = 9,
				    .seq = 123456,
				    .watermark_ns = 1ull << 62,
				    .lost_ring = 1,
				    .lost_queue = 2};
	struct nb_wbuf b = NB_WBUF_INIT;
	struct nb_msg *d = s_msg();
	long live;

	(void)state;
	assert_non_null(ev);
	s_random_events(ev, NB_WIRE_MAX_EVENTS, true);
	live = LIVE();
	assert_int_equal(nb_wire_encode_events(&hdr, ev, NB_WIRE_MAX_EVENTS, &b), 0);
	assert_int_equal(s_decode_exact(b.data, b.len, d), 0);
	assert_int_equal(d->type, NB_MSG_EVENTS);
	assert_int_equal(d->events.n_ev, NB_WIRE_MAX_EVENTS);
	assert_true(d->events.session == 9 && d->events.seq == 123456);
	assert_true(d->events.watermark_ns == 1ull << 62);
	assert_true(d->events.lost_ring == 1 && d->events.lost_queue == 2);
	assert_memory_equal(d->events.ev, ev, NB_WIRE_MAX_EVENTS * sizeof(*ev));
	nb_msg_clear(d);

	/* The worst case (every field at its widest) still fits one frame. */
	memset(ev, 0xff, NB_WIRE_MAX_EVENTS * sizeof(*ev));
	for (size_t i = 0; i < NB_WIRE_MAX_EVENTS; i++)
		ev[i].pkt.pad = ev[i].pkt.pad2 = 0;
	assert_int_equal(nb_wire_encode_events(&hdr, ev, NB_WIRE_MAX_EVENTS, &b), 0);
	assert_true(b.len < NB_WIRE_MAX_FRAME / 2);
	assert_int_equal(s_decode_exact(b.data, b.len, d), 0);
	assert_memory_equal(d->events.ev, ev, NB_WIRE_MAX_EVENTS * sizeof(*ev));
	nb_msg_clear(d);
	nb_wbuf_free(&b);
	assert_int_equal(LIVE(), live);
	free(ev);
	free(d);
}

/*
 * Other encoders may pick wider formats than msgpack-c does (map16, str8, uint64 for small
 * numbers, signed formats for non-negative ones): the value is what counts, not its format.
 */
static void test_noncanonical_formats(void **state)
{
	static const uint8_t credit[] = {
	    0xde, 0x00, 0x04,							/* map16 of 4 */
	    0xd9, 0x01, 'v',  0xd0, 0x01,					/* v: int8 1 */
	    0xda, 0x00, 0x01, 't',  0xd9, 0x06, 'C', 'R',  'E',	 'D', 'I', 'T', /* str16, str8 */
	    0xa7, 's',	'e',  's',  's',  'i',	'o', 'n',			/* session: */
	    0xd3, 0,	0,    0,    0,	  0,	0,   0x01, 0x2c,		/* int64 300 */
	    0xa6, 'c',	'r',  'e',  'd',  'i',	't',				/* credit: */
	    0xcf, 0,	0,    0,    0,	  0,	0,   0,	   0x20,		/* uint64 32 */
	};
	static const uint8_t error[] = {
	    0x85,					 /* map of 5 */
	    0xa1, 'v',	0xcc, 0x01,			 /* v: uint8 1 */
	    0xa1, 't',	0xa5, 'E',  'R',  'R', 'O', 'R', /* t: "ERROR" */
	    0xa4, 'c',	'o',  'd',  'e',		 /* code: */
	    0xd1, 0xff, 0xfe,				 /* int16 -2 */
	    0xa7, 'm',	'e',  's',  's',  'a', 'g', 'e', /* message: */
	    0xdb, 0,	0,    0,    0x01, 'x',		 /* str32 "x" */
	    0xa7, 's',	'e',  's',  's',  'i', 'o', 'n', /* session: */
	    0xd2, 0,	0,    0,    0x07,		 /* int32 7 */
	};
	struct nb_msg *d = s_msg();
	uint8_t f[sizeof(error)];

	(void)state;
	assert_int_equal(s_decode_exact(credit, sizeof(credit), d), 0);
	assert_int_equal(d->type, NB_MSG_CREDIT);
	assert_true(d->credit.session == 300);
	assert_int_equal(d->credit.credit, 32);
	assert_int_equal(s_decode_exact(error, sizeof(error), d), 0);
	assert_int_equal(d->type, NB_MSG_ERROR);
	assert_int_equal(d->error.code, -2);
	assert_string_equal(d->error.message, "x");
	assert_true(d->error.session == 7);
	/* A negative number where an unsigned one belongs is still refused: session int32 -7. */
	memcpy(f, error, sizeof(f));
	f[sizeof(f) - 4] = 0xff;
	f[sizeof(f) - 3] = 0xff;
	f[sizeof(f) - 2] = 0xff;
	f[sizeof(f) - 1] = 0xf9;
	assert_int_equal(s_decode_exact(f, sizeof(f), d), -EBADMSG);
	free(d);
}

/* The streaming encoder, the array form and the message form all give the same bytes. */
static void test_events_three_paths_agree(void **state)
{
	struct nb_event ev[50];
	struct nb_msg_events hdr = {.session = 1, .seq = 2, .watermark_ns = 3};
	struct nb_wbuf a = NB_WBUF_INIT, b = NB_WBUF_INIT;
	struct nb_wire_batch bt;
	struct nb_msg m = {.type = NB_MSG_EVENTS};
	size_t len;
	void *buf;

	(void)state;
	s_random_events(ev, 50, true);
	assert_int_equal(nb_wire_encode_events(&hdr, ev, 50, &a), 0);
	assert_int_equal(nb_wire_batch_begin(&bt, &b), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(nb_wire_batch_add(&bt, &ev[i]), 0);
	assert_int_equal(nb_wire_batch_end(&bt, &hdr), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	m.events = hdr;
	m.events.ev = ev;
	m.events.n_ev = 50;
	assert_int_equal(nb_wire_encode(&m, &buf, &len), 0);
	assert_int_equal(len, a.len);
	assert_memory_equal(buf, a.data, len);
	free(buf);

	/* A reused buffer holds only the latest message. */
	m.type = NB_MSG_CREDIT;
	m.credit.session = 5;
	m.credit.credit = 1;
	assert_int_equal(nb_wire_encode_buf(&m, &a), 0);
	assert_true(a.len < 40);
	buf = nb_wbuf_release(&a, &len);
	assert_null(a.data);
	assert_int_equal(a.len, 0);
	{
		struct nb_msg d;

		assert_int_equal(nb_wire_decode(buf, len, &d), 0);
		assert_int_equal(d.type, NB_MSG_CREDIT);
		assert_true(d.credit.session == 5);
	}
	free(buf);
	nb_wbuf_free(&a);
	nb_wbuf_free(&b);
}

static void test_batch_limit(void **state)
{
	struct nb_wbuf b = NB_WBUF_INIT;
	struct nb_wire_batch bt;
	struct nb_event ev = {0};
	struct nb_msg_events hdr = {.session = 1};
	struct nb_msg d;

	(void)state;
	assert_int_equal(nb_wire_batch_begin(&bt, &b), 0);
	for (int i = 0; i < NB_WIRE_MAX_EVENTS; i++)
		assert_int_equal(nb_wire_batch_add(&bt, &ev), 0);
	assert_int_equal(nb_wire_batch_add(&bt, &ev), -EMSGSIZE);
	assert_int_equal(nb_wire_batch_end(&bt, &hdr), 0);
	assert_int_equal(nb_wire_decode(b.data, b.len, &d), 0);
	assert_int_equal(d.events.n_ev, NB_WIRE_MAX_EVENTS);
	nb_msg_clear(&d);
	assert_int_equal(nb_wire_encode_events(&hdr, &ev, NB_WIRE_MAX_EVENTS + 1, &b), -EMSGSIZE);
	nb_wbuf_free(&b);
}

static void test_type_names(void **state)
{
	static const char *const want[] = {"HELLO", "START",  "STARTED", "EVENTS",
					   "STATS", "PING",   "PONG",	 "CREDIT",
					   "STOP",  "ERROR", "DROPINFO", "RUN",
					   "OUTPUT", "MONITOR"};

	(void)state;
	for (size_t i = 0; i < S_NTYPES; i++)
		assert_string_equal(nb_msg_type_name(s_types[i]), want[i]);
	assert_string_equal(nb_msg_type_name(0), "?");
	assert_string_equal(nb_msg_type_name(99), "?");
	assert_string_equal(nb_msg_type_name((enum nb_msg_type) - 1), "?");
}

/* ---------------------------------------------------------------------------------------- */
/* Encoder refuses what the decoder would refuse */

static void test_encode_rejects(void **state)
{
	struct nb_msg *m = s_msg();
	struct nb_event ev[1] = {0};
	size_t len = 99;
	void *buf = (void *)1;

	(void)state;
#define EXPECT(rc)                                                                                 \
	do {                                                                                       \
		assert_int_equal(nb_wire_encode(m, &buf, &len), (rc));                             \
		assert_null(buf);                                                                  \
		assert_int_equal(len, 0);                                                          \
	} while (0)
	s_sample(m, NB_MSG_CREDIT, false);
	m->credit.session = 0;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_HELLO, false);
	m->hello.n_caps = NB_WIRE_MAX_CAPS + 1;
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_HELLO, false);
	memset(m->hello.name, 'a', sizeof(m->hello.name)); /* no terminator: too long */
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_HELLO, false);
	m->hello.proto = 0;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_STOP, false);
	strcpy(m->stop.reason, "two\nlines");
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_START, false);
	m->start.src[15] = 1; /* IPv4 with bytes the wire cannot carry */
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_START, false);
	m->start.proto = IPPROTO_SCTP;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_START, false);
	m->start.family = 5;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_START, false);
	m->start.max_batch = 0;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_START, false);
	m->start.max_batch = NB_WIRE_MAX_EVENTS + 1;
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_START, false);
	m->start.n_rx = NB_MAX_IFS + 1;
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_START, false);
	memset(m->start.tx_ifs[0], 'x', sizeof(m->start.tx_ifs[0])); /* 16 > IFNAMSIZ - 1 */
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_STARTED, false);
	m->started.n_unattached = NB_WIRE_MAX_UNATTACHED + 1;
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_STATS, false);
	strcpy(m->stats.counters[2].name, "events");
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_STATS, false);
	m->stats.n_counters = NB_WIRE_MAX_COUNTERS + 1;
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_EVENTS, false);
	m->events.n_ev = NB_WIRE_MAX_EVENTS + 1;
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_EVENTS, false);
	m->events.session = 0;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_EVENTS, false);
	m->events.ev = NULL;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_DROPINFO, false);
	m->dropinfo.session = 0;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_DROPINFO, false);
	m->dropinfo.n_frames = NB_WIRE_MAX_FRAMES + 1;
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_DROPINFO, false);
	memset(m->dropinfo.frames[1], 'f', sizeof(m->dropinfo.frames[1])); /* unterminated */
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_DROPINFO, false);
	strcpy(m->dropinfo.frames[2], "tab\there");
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_RUN, false);
	m->run.check = 2;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_RUN, false);
	m->run.tool[0] = 0;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_RUN, false);
	m->run.session = 0;
	EXPECT(-EINVAL);
	s_sample(m, NB_MSG_RUN, false);
	m->run.n_args = NB_WIRE_MAX_ARGS + 1;
	EXPECT(-EMSGSIZE);
	s_sample(m, NB_MSG_RUN, false);
	strcpy(m->run.args[1], "a\tb"); /* a tab only in output lines */
	EXPECT(-EINVAL);
	{
		static char huge[NB_WIRE_LINE_MAX + 2];
		const char *one[1] = {huge};

		s_sample(m, NB_MSG_OUTPUT, false);
		m->output.stream = 3;
		EXPECT(-EINVAL);
		s_sample(m, NB_MSG_OUTPUT, false);
		m->output.lines = NULL;
		EXPECT(-EINVAL);
		s_sample(m, NB_MSG_OUTPUT, false);
		m->output.n_lines = NB_WIRE_MAX_LINES + 1;
		EXPECT(-EMSGSIZE);
		s_sample(m, NB_MSG_OUTPUT, false);
		s_strfill(huge, NB_WIRE_LINE_MAX + 1, 'h');
		m->output.n_lines = 1;
		m->output.lines = one;
		EXPECT(-EMSGSIZE);
		huge[NB_WIRE_LINE_MAX] = 0; /* at the limit: fine */
		assert_int_equal(nb_wire_encode(m, &buf, &len), 0);
		free(buf);
		huge[7] = '\r';
		EXPECT(-EINVAL);
	}
	memset(m, 0, sizeof(*m));
	EXPECT(-EINVAL); /* type 0 */
	m->type = 99;
	EXPECT(-EINVAL);
#undef EXPECT
	assert_int_equal(nb_wire_encode(NULL, &buf, &len), -EINVAL);
	assert_int_equal(nb_wire_encode(m, NULL, &len), -EINVAL);
	(void)ev;
	free(m);
}

/* ---------------------------------------------------------------------------------------- */
/* Strict decoding */

static const char *const s_required[][16] = {
    [NB_MSG_HELLO] = {"v", "t", "name", "version", "proto"},
    [NB_MSG_START] = {"v", "t", "session", "proto", "family", "src", "dst", "sport", "dport",
		      "rx_ifs", "tx_ifs", "timeout_ms", "credit", "max_batch"},
    [NB_MSG_STARTED] = {"v", "t", "session", "attach_ns", "rx_ifindex", "tx_ifindex"},
    [NB_MSG_EVENTS] = {"v", "t", "session", "seq", "watermark_ns", "lost_ring", "lost_queue", "ev"},
    [NB_MSG_STATS] = {"v", "t", "session", "counters"},
    [NB_MSG_PING] = {"v", "t", "seq", "t_coord"},
    [NB_MSG_PONG] = {"v", "t", "seq", "t_coord", "t_agent"},
    [NB_MSG_CREDIT] = {"v", "t", "session", "credit"},
    [NB_MSG_STOP] = {"v", "t", "session", "reason"},
    [NB_MSG_ERROR] = {"v", "t", "code", "message"},
    [NB_MSG_DROPINFO] = {"v", "t", "session", "stack_id", "reason", "ifindex", "location",
			 "reason_name"},
    [NB_MSG_RUN] = {"v", "t", "session", "tool", "args", "credit"},
    [NB_MSG_OUTPUT] = {"v", "t", "session", "seq", "stream", "lines"},
    [NB_MSG_MONITOR] = {"v", "t", "session", "monitor", "ifname", "attached"},
};

/* As many rows as s_required: a type with no optional key (OUTPUT) still has its row. */
static const char *const s_optional[sizeof(s_required) / sizeof(s_required[0])][6] = {
    [NB_MSG_HELLO] = {"caps", "clock_ns", "sessions"},
    [NB_MSG_START] = {"netns", "duration_s", "local", "monitors"},
    [NB_MSG_STARTED] = {"unattached", "rx_ifs", "tx_ifs", "rx_why", "tx_why",
			 "switch"},
    [NB_MSG_PING] = {"session", "credit"},
    [NB_MSG_PONG] = {"session", "credit"}, [NB_MSG_ERROR] = {"session"},
    [NB_MSG_DROPINFO] = {"location_sym", "ifname", "frames"},
    [NB_MSG_STOP] = {"exit_code"}, [NB_MSG_RUN] = {"check"},
    [NB_MSG_MONITOR] = {"why", "queues_seen", "total", "queues", "sojourn_us"},
};

/* The keys of type t's full sample, as the encoder wrote them. */
static size_t s_keys(enum nb_msg_type t, char keys[][32])
{
	struct nb_msg *m = s_msg();
	msgpack_unpacked up;
	size_t len, n;
	void *buf;

	s_sample(m, t, false);
	assert_int_equal(nb_wire_encode(m, &buf, &len), 0);
	msgpack_unpacked_init(&up);
	assert_int_equal(msgpack_unpack_next(&up, buf, len, NULL), MSGPACK_UNPACK_SUCCESS);
	n = up.data.via.map.size;
	for (size_t i = 0; i < n; i++) {
		const msgpack_object_str *k = &up.data.via.map.ptr[i].key.via.str;

		assert_true(k->size < 32);
		memcpy(keys[i], k->ptr, k->size);
		keys[i][k->size] = '\0';
	}
	msgpack_unpacked_destroy(&up);
	free(buf);
	free(m);
	return n;
}

static bool s_in(const char *const *list, size_t n, const char *key)
{
	for (size_t i = 0; i < n && list[i]; i++)
		if (!strcmp(list[i], key))
			return true;
	return false;
}

/* Every key the encoder writes is in the spec above, and every key in the spec is written. */
static void test_keys_match_spec(void **state)
{
	char keys[32][32];

	(void)state;
	for (size_t i = 0; i < S_NTYPES; i++) {
		enum nb_msg_type t = s_types[i];
		size_t n = s_keys(t, keys), want = 0;

		for (size_t j = 0; j < n; j++)
			if (!s_in(s_required[t], 16, keys[j]) && !s_in(s_optional[t], 6, keys[j]))
				fail_msg("%s: key %s not in the spec", nb_msg_type_name(t),
					 keys[j]);
		for (size_t j = 0; j < 16 && s_required[t][j]; j++)
			want++;
		for (size_t j = 0; j < 6 && s_optional[t][j]; j++)
			want++;
		assert_int_equal(n, want);
	}
}

static void test_missing_fields(void **state)
{
	struct nb_msg *d = s_msg();
	char keys[32][32];

	(void)state;
	for (size_t i = 0; i < S_NTYPES; i++) {
		enum nb_msg_type t = s_types[i];
		size_t n = s_keys(t, keys);

		for (size_t j = 0; j < n; j++) {
			bool req = s_in(s_required[t], 16, keys[j]);
			long live = LIVE();
			int rc = s_try(t, false, S_DROP, keys[j], NULL, NULL, d);

			if (rc != (req ? -EPROTO : 0))
				fail_msg("%s without %s: got %d", nb_msg_type_name(t), keys[j], rc);
			nb_msg_clear(d);
			assert_int_equal(LIVE(), live);
		}
	}
	free(d);
}

static void test_wrong_field_types(void **state)
{
	struct nb_msg *d = s_msg();
	char keys[32][32];

	(void)state;
	for (size_t i = 0; i < S_NTYPES; i++) {
		enum nb_msg_type t = s_types[i];
		size_t n = s_keys(t, keys);

		for (size_t j = 0; j < n; j++) {
			for (enum s_wrong w = 0; w < W_COUNT; w++) {
				int rc;

				/* A negative code or stack id is a valid int32. */
				if (w == W_NEG &&
				    (!strcmp(keys[j], "code") || !strcmp(keys[j], "stack_id") ||
				     !strcmp(keys[j], "exit_code")))
					continue;
				rc = s_try(t, false, S_REPLACE, keys[j], s_val_wrong, &w, d);
				if (rc != -EBADMSG)
					fail_msg("%s.%s as wrong kind %d: got %d",
						 nb_msg_type_name(t), keys[j], w, rc);
			}
		}
	}
	free(d);
}

static void test_unknown_fields_ignored(void **state)
{
	struct nb_msg *m = s_msg(), *d = s_msg();

	(void)state;
	for (size_t i = 0; i < S_NTYPES; i++) {
		s_sample(m, s_types[i], false);
		assert_int_equal(
		    s_try(s_types[i], false, S_ADD, "zz_future", s_val_future, NULL, d), 0);
		s_assert_equal(m, d);
		nb_msg_clear(d);
	}
	free(m);
	free(d);
}

static void test_version(void **state)
{
	struct nb_msg *d = s_msg();
	uint64_t v;
	int64_t neg = -1;
	enum s_wrong w = W_OTHER;

	(void)state;
	v = 2;
	assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "v", s_val_uint, &v, d),
			 -EPROTONOSUPPORT);
	v = 0;
	assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "v", s_val_uint, &v, d),
			 -EPROTONOSUPPORT);
	v = UINT64_MAX;
	assert_int_equal(s_try(NB_MSG_EVENTS, false, S_REPLACE, "v", s_val_uint, &v, d),
			 -EPROTONOSUPPORT);
	assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "v", s_val_int, &neg, d), -EBADMSG);
	assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "v", s_val_wrong, &w, d), -EBADMSG);
	assert_int_equal(s_try(NB_MSG_PING, false, S_DROP, "v", NULL, NULL, d), -EPROTO);

	/* A newer version is recognised as such even when the rest means nothing to us. */
	{
		static const uint8_t f[] = {0x82, 0xa1, 'v', 0x02, 0xa1, 't', 0x05};

		assert_int_equal(nb_wire_decode(f, sizeof(f), d), -EPROTONOSUPPORT);
	}
	free(d);
}

static void test_unknown_and_bad_types(void **state)
{
	struct nb_msg *d = s_msg();

	(void)state;
	assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "t", s_val_cstr, "PUNG", d), -EPROTO);
	assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "t", s_val_cstr, "ping", d), -EPROTO);
	assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "t", s_val_cstr, "", d), -EPROTO);
	assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "t", s_val_cstr, "?", d), -EPROTO);
	{
		const struct s_bytes b = {"PING\0", 5};

		assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "t", s_val_strn, &b, d),
				 -EPROTO);
	}
	/* The right type name with the wrong fields: PONG needs t_agent. */
	assert_int_equal(s_try(NB_MSG_PING, false, S_REPLACE, "t", s_val_cstr, "PONG", d), -EPROTO);
	free(d);
}

static void test_invalid_values(void **state)
{
	struct nb_msg *d = s_msg();
	uint64_t v;

	(void)state;
#define TRY(t, key, fn, arg, want)                                                                 \
	assert_int_equal(s_try((t), false, S_REPLACE, (key), (fn), (arg), d), (want))
	v = 0;
	TRY(NB_MSG_START, "session", s_val_uint, &v, -EPROTO);
	TRY(NB_MSG_EVENTS, "session", s_val_uint, &v, -EPROTO);
	TRY(NB_MSG_CREDIT, "session", s_val_uint, &v, -EPROTO);
	TRY(NB_MSG_STOP, "session", s_val_uint, &v, -EPROTO);
	TRY(NB_MSG_STATS, "session", s_val_uint, &v, -EPROTO);
	TRY(NB_MSG_STARTED, "session", s_val_uint, &v, -EPROTO);
	TRY(NB_MSG_HELLO, "proto", s_val_uint, &v, -EPROTO);
	TRY(NB_MSG_START, "max_batch", s_val_uint, &v, -EPROTO);
	v = 5;
	TRY(NB_MSG_START, "family", s_val_uint, &v, -EPROTO);
	v = NB_WIRE_MAX_EVENTS + 1;
	TRY(NB_MSG_START, "max_batch", s_val_uint, &v, -EMSGSIZE);
	TRY(NB_MSG_START, "proto", s_val_cstr, "sctp", -EPROTO);
	TRY(NB_MSG_START, "proto", s_val_cstr, "ICMP", -EPROTO);
	TRY(NB_MSG_START, "proto", s_val_cstr, "icmpx", -EPROTO);
	{
		static const uint8_t a16[16] = {10, 0, 0, 1};
		const struct s_bytes b16 = {a16, 16}, b5 = {a16, 5}, b0 = {a16, 0};

		TRY(NB_MSG_START, "src", s_val_bin, &b16, -EPROTO); /* family 4 takes 4 bytes */
		TRY(NB_MSG_START, "dst", s_val_bin, &b5, -EPROTO);
		TRY(NB_MSG_START, "dst", s_val_bin, &b0, -EPROTO);
	}
	/* Control characters (NUL included) never reach a terminal or a C string. */
	TRY(NB_MSG_HELLO, "name", s_val_cstr, "evil\x1b[2J", -EPROTO);
	TRY(NB_MSG_STOP, "reason", s_val_cstr, "a\nb", -EPROTO);
	TRY(NB_MSG_ERROR, "message", s_val_cstr, "del\x7f", -EPROTO);
	{
		const struct s_bytes b = {"abc\0def", 7};

		TRY(NB_MSG_HELLO, "name", s_val_strn, &b, -EPROTO);
	}
	/* Integers must fit their field. */
	v = 65536;
	TRY(NB_MSG_START, "sport", s_val_uint, &v, -EBADMSG);
	v = 1ull << 32;
	TRY(NB_MSG_START, "credit", s_val_uint, &v, -EBADMSG);
	TRY(NB_MSG_CREDIT, "credit", s_val_uint, &v, -EBADMSG);
	TRY(NB_MSG_PING, "credit", s_val_uint, &v, -EBADMSG);
	TRY(NB_MSG_HELLO, "proto", s_val_uint, &v, -EBADMSG);
	v = 256;
	TRY(NB_MSG_START, "family", s_val_uint, &v, -EBADMSG);
	v = (uint64_t)INT32_MAX + 1;
	TRY(NB_MSG_ERROR, "code", s_val_uint, &v, -EBADMSG);
	{
		int64_t n = (int64_t)INT32_MIN - 1;

		TRY(NB_MSG_ERROR, "code", s_val_int, &n, -EBADMSG);
		n = INT32_MIN;
		TRY(NB_MSG_ERROR, "code", s_val_int, &n, 0);
		assert_int_equal(d->error.code, INT32_MIN);
		n = -1;
		TRY(NB_MSG_STOP, "exit_code", s_val_int, &n, 0);
		assert_int_equal(d->stop.exit_code, -1);
	}
	/* RUN and OUTPUT: values outside their sets. */
	v = 2;
	TRY(NB_MSG_RUN, "check", s_val_uint, &v, -EPROTO);
	TRY(NB_MSG_RUN, "tool", s_val_cstr, "", -EPROTO);
	v = 0;
	TRY(NB_MSG_RUN, "session", s_val_uint, &v, -EPROTO);
	TRY(NB_MSG_OUTPUT, "stream", s_val_uint, &v, -EPROTO);
	v = 3;
	TRY(NB_MSG_OUTPUT, "stream", s_val_uint, &v, -EPROTO);
#undef TRY
	free(d);
}

static void s_val_repeat(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	size_t n = *(const size_t *)arg;

	/* o is a list: n copies of its first element */
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		msgpack_pack_object(pk, o->via.array.ptr[0]);
}

static void s_val_str_list(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	size_t n = *(const size_t *)arg;

	(void)o;
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		char s[24];

		snprintf(s, sizeof(s), "x%zu", i);
		s_pack_str(pk, s, strlen(s));
	}
}

static void s_val_counters(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	size_t n = *(const size_t *)arg;

	(void)o;
	msgpack_pack_map(pk, n);
	for (size_t i = 0; i < n; i++) {
		char s[24];

		snprintf(s, sizeof(s), "c%zu", i);
		s_pack_str(pk, s, strlen(s));
		msgpack_pack_uint64(pk, i);
	}
}

/* n levels of one-element arrays around a nil. */
static void s_val_nested(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	size_t n = *(const size_t *)arg;

	(void)o;
	for (size_t i = 0; i < n; i++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_nil(pk);
}

static void s_val_nils(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	size_t n = *(const size_t *)arg;

	(void)o;
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		msgpack_pack_nil(pk);
}

static void test_limits(void **state)
{
	struct nb_msg *d = s_msg();
	char big[NB_WIRE_STR_MAX + 2];
	size_t n;

	(void)state;
#define TRY(t, op, key, fn, arg, want)                                                             \
	assert_int_equal(s_try((t), false, (op), (key), (fn), (arg), d), (want));                  \
	nb_msg_clear(d)
	n = NB_WIRE_MAX_EVENTS + 1;
	TRY(NB_MSG_EVENTS, S_REPLACE, "ev", s_val_repeat, &n, -EMSGSIZE);
	n = NB_WIRE_MAX_EVENTS;
	TRY(NB_MSG_EVENTS, S_REPLACE, "ev", s_val_repeat, &n, 0);
	n = NB_WIRE_MAX_CAPS + 1;
	TRY(NB_MSG_HELLO, S_REPLACE, "caps", s_val_str_list, &n, -EMSGSIZE);
	n = NB_WIRE_MAX_CAPS;
	TRY(NB_MSG_HELLO, S_REPLACE, "caps", s_val_str_list, &n, 0);
	n = NB_MAX_IFS + 1;
	TRY(NB_MSG_START, S_REPLACE, "rx_ifs", s_val_str_list, &n, -EMSGSIZE);
	TRY(NB_MSG_START, S_REPLACE, "tx_ifs", s_val_str_list, &n, -EMSGSIZE);
	TRY(NB_MSG_STARTED, S_REPLACE, "rx_ifindex", s_val_repeat, &n, -EMSGSIZE);
	n = NB_WIRE_MAX_UNATTACHED + 1;
	TRY(NB_MSG_STARTED, S_REPLACE, "unattached", s_val_repeat, &n, -EMSGSIZE);
	n = NB_WIRE_MAX_COUNTERS + 1;
	TRY(NB_MSG_STATS, S_REPLACE, "counters", s_val_counters, &n, -EMSGSIZE);
	n = NB_WIRE_MAX_COUNTERS;
	TRY(NB_MSG_STATS, S_REPLACE, "counters", s_val_counters, &n, 0);

	/* Strings: the limit passes, one more byte does not. */
	s_strfill(big, NB_WIRE_STR_MAX, 'a');
	TRY(NB_MSG_HELLO, S_REPLACE, "name", s_val_cstr, big, 0);
	TRY(NB_MSG_STOP, S_REPLACE, "reason", s_val_cstr, big, 0);
	s_strfill(big, NB_WIRE_STR_MAX + 1, 'a');
	TRY(NB_MSG_HELLO, S_REPLACE, "name", s_val_cstr, big, -EMSGSIZE);
	TRY(NB_MSG_STOP, S_REPLACE, "reason", s_val_cstr, big, -EMSGSIZE);
	TRY(NB_MSG_ERROR, S_REPLACE, "message", s_val_cstr, big, -EMSGSIZE);
	TRY(NB_MSG_START, S_REPLACE, "netns", s_val_cstr, big, -EMSGSIZE);
	s_strfill(big, NB_WIRE_NAME_MAX + 1, 'a');
	TRY(NB_MSG_HELLO, S_REPLACE, "version", s_val_cstr, big, -EMSGSIZE);
	s_strfill(big, NB_WIRE_NAME_MAX, 'a');
	TRY(NB_MSG_HELLO, S_REPLACE, "version", s_val_cstr, big, 0);

	/* Nesting inside an ignored field: 8 levels in all is the bound. */
	n = 7;
	TRY(NB_MSG_PING, S_ADD, "zz", s_val_nested, &n, 0);
	n = 8;
	TRY(NB_MSG_PING, S_ADD, "zz", s_val_nested, &n, -EMSGSIZE);
	n = 1000;
	TRY(NB_MSG_PING, S_ADD, "zz", s_val_nested, &n, -EMSGSIZE);

	/* Objects in one frame are bounded even when each is a single byte. */
	n = 300000;
	TRY(NB_MSG_PING, S_ADD, "zz", s_val_nils, &n, -EMSGSIZE);
	n = 200000;
	TRY(NB_MSG_PING, S_ADD, "zz", s_val_nils, &n, 0);
#undef TRY

	/* Too many keys, even unknown ones. */
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;

		for (int keys = NB_WIRE_MAX_KEYS; keys <= NB_WIRE_MAX_KEYS + 1; keys++) {
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_map(&pk, keys);
			s_pack_str(&pk, "v", 1);
			msgpack_pack_uint8(&pk, 1);
			s_pack_str(&pk, "t", 1);
			s_pack_str(&pk, "CREDIT", 6);
			s_pack_str(&pk, "session", 7);
			msgpack_pack_uint8(&pk, 1);
			s_pack_str(&pk, "credit", 6);
			msgpack_pack_uint8(&pk, 1);
			for (int i = 4; i < keys; i++) {
				char k[16];

				snprintf(k, sizeof(k), "k%d", i);
				s_pack_str(&pk, k, strlen(k));
				msgpack_pack_nil(&pk);
			}
			assert_int_equal(s_decode_exact(sb.data, sb.size, d),
					 keys > NB_WIRE_MAX_KEYS ? -EMSGSIZE : 0);
			msgpack_sbuffer_destroy(&sb);
		}
	}

	/* A frame over the limit is refused before it is looked at. */
	{
		uint8_t *f = calloc(1, NB_WIRE_MAX_FRAME + 1);

		assert_non_null(f);
		assert_int_equal(nb_wire_decode(f, NB_WIRE_MAX_FRAME + 1, d), -EMSGSIZE);
		free(f);
	}
	free(d);
}

static void test_duplicates_and_shape(void **state)
{
	struct nb_msg *d = s_msg();

	(void)state;
	assert_int_equal(s_try(NB_MSG_CREDIT, false, S_DUP, "session", NULL, NULL, d), -EPROTO);
	assert_int_equal(s_try(NB_MSG_PING, false, S_DUP, "v", NULL, NULL, d), -EPROTO);
	assert_int_equal(s_try(NB_MSG_EVENTS, false, S_DUP, "ev", NULL, NULL, d), -EPROTO);
	{
		static const uint8_t dup_unknown[] = {
		    0x86, 0xa1, 'v', 0x01, 0xa1, 't',  0xa6, 'C', 'R',	'E',  'D',  'I',
		    'T',  0xa7, 's', 'e',  's',	 's',  'i',  'o', 'n',	0x01, 0xa6, 'c',
		    'r',  'e',	'd', 'i',  't',	 0x01, 0xa1, 'x', 0xc0, 0xa1, 'x',  0xc0};

		assert_int_equal(nb_wire_decode(dup_unknown, sizeof(dup_unknown), d), -EPROTO);
		/* the same frame with the second "x" renamed is fine */
		uint8_t ok[sizeof(dup_unknown)];

		memcpy(ok, dup_unknown, sizeof(ok));
		ok[sizeof(ok) - 2] = 'y';
		assert_int_equal(nb_wire_decode(ok, sizeof(ok), d), 0);
		/* a non-string key */
		ok[sizeof(ok) - 3] = 0x05;
		ok[sizeof(ok) - 2] = 0xc0;
		ok[sizeof(ok) - 1] = 0xc0;
		assert_int_equal(nb_wire_decode(ok, sizeof(ok) - 1, d), -EBADMSG);
	}
	/* Not a map at the top. */
	{
		static const uint8_t arr[] = {0x92, 0x01, 0x02};
		static const uint8_t num[] = {0x01};
		static const uint8_t nil[] = {0xc0};
		static const uint8_t str[] = {0xa1, 'v'};

		assert_int_equal(nb_wire_decode(arr, sizeof(arr), d), -EPROTO);
		assert_int_equal(nb_wire_decode(num, sizeof(num), d), -EPROTO);
		assert_int_equal(nb_wire_decode(nil, sizeof(nil), d), -EPROTO);
		assert_int_equal(nb_wire_decode(str, sizeof(str), d), -EPROTO);
		assert_int_equal(nb_wire_decode(NULL, 0, d), -EPROTO);
		assert_int_equal(nb_wire_decode(arr, 0, d), -EPROTO);
		assert_int_equal(nb_wire_decode(NULL, 5, d), -EINVAL);
		assert_int_equal(nb_wire_decode(arr, 3, NULL), -EINVAL);
	}
	/* One frame is one message: trailing bytes or a second message are refused. */
	{
		struct nb_msg m;
		uint8_t f[256];
		size_t len;
		void *buf;

		s_sample(&m, NB_MSG_PING, false);
		assert_int_equal(nb_wire_encode(&m, &buf, &len), 0);
		assert_true(2 * len <= sizeof(f));
		memcpy(f, buf, len);
		f[len] = 0xc0;
		assert_int_equal(s_decode_exact(f, len + 1, d), -EPROTO);
		memcpy(f + len, buf, len);
		assert_int_equal(s_decode_exact(f, 2 * len, d), -EPROTO);
		assert_int_equal(s_decode_exact(f, len, d), 0);
		free(buf);
	}
	free(d);
}

/* Inside lists: each element is checked like a field. */
struct s_elem {
	size_t index; /* which element of the list (events: which field of event 0) */
	int kind;     /* 0: replace with a string, 1: with nil, 2: a number */
	uint64_t number;
};

static void s_pack_elem(msgpack_packer *pk, const msgpack_object *o, const struct s_elem *e)
{
	(void)o;
	if (e->kind == 0)
		s_pack_str(pk, "x", 1);
	else if (e->kind == 1)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_uint64(pk, e->number);
}

/* List value with element e->index replaced. */
static void s_val_list_elem(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	const struct s_elem *e = arg;

	msgpack_pack_array(pk, o->via.array.size);
	for (size_t i = 0; i < o->via.array.size; i++) {
		if (i == e->index)
			s_pack_elem(pk, &o->via.array.ptr[i], e);
		else
			msgpack_pack_object(pk, o->via.array.ptr[i]);
	}
}

/* Events value with field e->index of event 0 replaced; index >= 28 truncates or extends. */
static void s_val_event_field(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	const struct s_elem *e = arg;
	const msgpack_object *ev0 = &o->via.array.ptr[0];

	msgpack_pack_array(pk, o->via.array.size);
	if (e->kind == 3) { /* event 0 with only e->index fields */
		msgpack_pack_array(pk, e->index);
		for (size_t i = 0; i < e->index; i++)
			msgpack_pack_object(pk, ev0->via.array.ptr[i]);
	} else if (e->kind == 4) { /* event 0 with e->index extra fields a newer agent added */
		msgpack_pack_array(pk, ev0->via.array.size + e->index);
		for (size_t i = 0; i < ev0->via.array.size; i++)
			msgpack_pack_object(pk, ev0->via.array.ptr[i]);
		for (size_t i = 0; i < e->index; i++)
			s_pack_str(pk, "new", 3);
	} else {
		msgpack_pack_array(pk, ev0->via.array.size);
		for (size_t i = 0; i < ev0->via.array.size; i++) {
			if (i == e->index)
				s_pack_elem(pk, &ev0->via.array.ptr[i], e);
			else
				msgpack_pack_object(pk, ev0->via.array.ptr[i]);
		}
	}
	for (size_t i = 1; i < o->via.array.size; i++)
		msgpack_pack_object(pk, o->via.array.ptr[i]);
}

static void test_events_elements(void **state)
{
	/* Widest value each event field takes, in wire order. */
	static const uint64_t max[NB_WIRE_EV_FIELDS] = {
	    UINT64_MAX, UINT32_MAX, UINT32_MAX, UINT8_MAX,  UINT8_MAX,	UINT16_MAX, UINT32_MAX,
	    UINT64_MAX, INT32_MAX,  UINT32_MAX, 0,	    0,		UINT8_MAX,  UINT8_MAX,
	    UINT8_MAX,	UINT8_MAX,  UINT16_MAX, UINT16_MAX, UINT16_MAX, UINT16_MAX, UINT32_MAX,
	    UINT16_MAX, UINT8_MAX,  UINT8_MAX,	UINT16_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
	};
	struct nb_msg *d = s_msg();

	(void)state;
	for (size_t i = 0; i < NB_WIRE_EV_FIELDS; i++) {
		struct s_elem e = {.index = i, .kind = 0};
		int rc;

		rc = s_try(NB_MSG_EVENTS, false, S_REPLACE, "ev", s_val_event_field, &e, d);
		if (rc != -EBADMSG)
			fail_msg("event field %zu as string: got %d", i, rc);
		e.kind = 1;
		rc = s_try(NB_MSG_EVENTS, false, S_REPLACE, "ev", s_val_event_field, &e, d);
		if (rc != -EBADMSG)
			fail_msg("event field %zu as nil: got %d", i, rc);
		if (i == 10 || i == 11)
			continue; /* addresses */
		e.kind = 2;
		e.number = max[i];
		rc = s_try(NB_MSG_EVENTS, false, S_REPLACE, "ev", s_val_event_field, &e, d);
		if (rc != 0)
			fail_msg("event field %zu at its max: got %d", i, rc);
		nb_msg_clear(d);
		if (max[i] < UINT64_MAX) {
			e.number = max[i] + 1;
			rc = s_try(NB_MSG_EVENTS, false, S_REPLACE, "ev", s_val_event_field, &e, d);
			if (rc != -EBADMSG)
				fail_msg("event field %zu over its max: got %d", i, rc);
		}
	}
	/* Fewer fields than this version knows: refused; more: the extra ones are ignored. */
	{
		struct s_elem e = {.index = NB_WIRE_EV_FIELDS - 1, .kind = 3};
		struct nb_msg *m = s_msg();

		assert_int_equal(
		    s_try(NB_MSG_EVENTS, false, S_REPLACE, "ev", s_val_event_field, &e, d),
		    -EPROTO);
		e.index = 0;
		assert_int_equal(
		    s_try(NB_MSG_EVENTS, false, S_REPLACE, "ev", s_val_event_field, &e, d),
		    -EPROTO);
		e.kind = 4;
		e.index = 5;
		assert_int_equal(
		    s_try(NB_MSG_EVENTS, false, S_REPLACE, "ev", s_val_event_field, &e, d), 0);
		s_sample(m, NB_MSG_EVENTS, false);
		s_assert_equal(m, d);
		nb_msg_clear(d);
		free(m);
	}
	/* An event that is not an array, and addresses of a length no family has. */
	{
		struct s_elem e = {.index = 1, .kind = 2, .number = 1};

		assert_int_equal(
		    s_try(NB_MSG_EVENTS, false, S_REPLACE, "ev", s_val_list_elem, &e, d), -EBADMSG);
	}
	free(d);
}

static void s_val_bad_addr(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	const msgpack_object *ev0 = &o->via.array.ptr[0];
	size_t n = *(const size_t *)arg;

	msgpack_pack_array(pk, 1);
	msgpack_pack_array(pk, ev0->via.array.size);
	for (size_t i = 0; i < ev0->via.array.size; i++) {
		if (i == 11) {
			msgpack_pack_bin(pk, n);
			msgpack_pack_bin_body(pk, "0123456789abcdefg", n);
		} else {
			msgpack_pack_object(pk, ev0->via.array.ptr[i]);
		}
	}
}

static void test_events_addresses(void **state)
{
	struct nb_msg *d = s_msg();

	(void)state;
	for (size_t n = 0; n <= 17; n++) {
		int rc = s_try(NB_MSG_EVENTS, false, S_REPLACE, "ev", s_val_bad_addr, &n, d);

		assert_int_equal(rc, n == 4 || n == 16 ? 0 : -EPROTO);
		if (!rc) {
			assert_int_equal(d->events.n_ev, 1);
			assert_memory_equal(d->events.ev[0].pkt.daddr, "0123456789abcdef", n);
		}
		nb_msg_clear(d);
	}
	free(d);
}

static void s_val_unattached(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	int kind = *(const int *)arg;

	(void)o;
	msgpack_pack_array(pk, 1);
	switch (kind) {
	case 0: /* not a map */
		s_pack_str(pk, "hook", 4);
		break;
	case 1: /* missing reason */
		msgpack_pack_map(pk, 1);
		s_pack_str(pk, "hook", 4);
		s_pack_str(pk, "h", 1);
		break;
	case 2: /* reason of the wrong type */
		msgpack_pack_map(pk, 2);
		s_pack_str(pk, "hook", 4);
		s_pack_str(pk, "h", 1);
		s_pack_str(pk, "reason", 6);
		msgpack_pack_uint8(pk, 3);
		break;
	case 3: /* an extra key: fine */
		msgpack_pack_map(pk, 3);
		s_pack_str(pk, "hook", 4);
		s_pack_str(pk, "h", 1);
		s_pack_str(pk, "reason", 6);
		s_pack_str(pk, "r", 1);
		s_pack_str(pk, "errno", 5);
		msgpack_pack_uint8(pk, 2);
		break;
	case 4: /* a duplicate key */
		msgpack_pack_map(pk, 3);
		s_pack_str(pk, "hook", 4);
		s_pack_str(pk, "h", 1);
		s_pack_str(pk, "reason", 6);
		s_pack_str(pk, "r", 1);
		s_pack_str(pk, "hook", 4);
		s_pack_str(pk, "g", 1);
		break;
	}
}

static void s_val_counter_bad(msgpack_packer *pk, const msgpack_object *o, const void *arg)
{
	int kind = *(const int *)arg;

	(void)o;
	msgpack_pack_map(pk, 2);
	s_pack_str(pk, "a", 1);
	msgpack_pack_uint8(pk, 1);
	switch (kind) {
	case 0:
		msgpack_pack_uint8(pk, 5); /* key not a string */
		msgpack_pack_uint8(pk, 1);
		break;
	case 1:
		s_pack_str(pk, "b", 1);
		s_pack_str(pk, "1", 1); /* value not an integer */
		break;
	case 2:
		s_pack_str(pk, "a", 1); /* duplicate name */
		msgpack_pack_uint8(pk, 2);
		break;
	case 3:
		s_pack_str(pk, "b", 1);
		msgpack_pack_int8(pk, -2); /* counters are unsigned */
		break;
	}
}

static void test_nested_lists(void **state)
{
	static const int want_un[] = {-EBADMSG, -EPROTO, -EBADMSG, 0, -EPROTO};
	static const int want_ctr[] = {-EBADMSG, -EBADMSG, -EPROTO, -EBADMSG};
	struct nb_msg *d = s_msg();

	(void)state;
	for (int k = 0; k < 5; k++) {
		assert_int_equal(
		    s_try(NB_MSG_STARTED, false, S_REPLACE, "unattached", s_val_unattached, &k, d),
		    want_un[k]);
		if (k == 3) {
			assert_int_equal(d->started.n_unattached, 1);
			assert_string_equal(d->started.unattached[0].hook, "h");
			assert_string_equal(d->started.unattached[0].reason, "r");
		}
	}
	for (int k = 0; k < 4; k++)
		assert_int_equal(
		    s_try(NB_MSG_STATS, false, S_REPLACE, "counters", s_val_counter_bad, &k, d),
		    want_ctr[k]);
	{
		struct s_elem e = {.index = 1, .kind = 2, .number = 3};

		/* elements of string lists and integer lists */
		assert_int_equal(
		    s_try(NB_MSG_HELLO, false, S_REPLACE, "caps", s_val_list_elem, &e, d),
		    -EBADMSG);
		assert_int_equal(
		    s_try(NB_MSG_START, false, S_REPLACE, "rx_ifs", s_val_list_elem, &e, d),
		    -EBADMSG);
		e.kind = 0;
		assert_int_equal(
		    s_try(NB_MSG_STARTED, false, S_REPLACE, "rx_ifindex", s_val_list_elem, &e, d),
		    -EBADMSG);
		e.kind = 2;
		e.number = 1ull << 32;
		assert_int_equal(
		    s_try(NB_MSG_STARTED, false, S_REPLACE, "rx_ifindex", s_val_list_elem, &e, d),
		    -EBADMSG);
		/* an output line or a tool argument that is not a string */
		assert_int_equal(
		    s_try(NB_MSG_OUTPUT, false, S_REPLACE, "lines", s_val_list_elem, &e, d),
		    -EBADMSG);
		e.kind = 1;
		assert_int_equal(
		    s_try(NB_MSG_RUN, false, S_REPLACE, "args", s_val_list_elem, &e, d), -EBADMSG);
	}
	free(d);
}

/* ---------------------------------------------------------------------------------------- */
/* Hostile input */

static void s_encode_all(void **bufs, size_t *lens, size_t *n)
{
	struct nb_msg *m = s_msg();

	*n = 0;
	for (size_t i = 0; i < S_NTYPES; i++) {
		for (int big = 0; big < 2; big++) {
			s_sample(m, s_types[i], big);
			assert_int_equal(nb_wire_encode(m, &bufs[*n], &lens[*n]), 0);
			(*n)++;
		}
	}
	free(m);
}

static void test_truncated_every_offset(void **state)
{
	void *bufs[2 * S_NTYPES];
	size_t lens[2 * S_NTYPES], n;
	struct nb_msg *d = s_msg();
	long live, checked = 0;

	(void)state;
	s_encode_all(bufs, lens, &n);
	live = LIVE();
	for (size_t i = 0; i < n; i++) {
		for (size_t cut = 0; cut < lens[i]; cut++) {
			int rc = s_decode_exact(bufs[i], cut, d);

			if (rc != -EPROTO)
				fail_msg("message %zu cut at %zu of %zu: got %d", i, cut, lens[i],
					 rc);
			checked++;
		}
		assert_int_equal(s_decode_exact(bufs[i], lens[i], d), 0);
		nb_msg_clear(d);
	}
	assert_int_equal(LIVE(), live);
	assert_true(checked > 10000);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	free(d);
}

/* A full batch cut at a spread of offsets (every offset of it would take minutes). */
static void test_truncated_full_batch(void **state)
{
	struct nb_event *ev = calloc(NB_WIRE_MAX_EVENTS, sizeof(*ev));
	struct nb_msg_events hdr = {.session = 3, .seq = 4};
	struct nb_wbuf b = NB_WBUF_INIT;
	struct nb_msg *d = s_msg();
	long live;

	(void)state;
	assert_non_null(ev);
	s_random_events(ev, NB_WIRE_MAX_EVENTS, true);
	assert_int_equal(nb_wire_encode_events(&hdr, ev, NB_WIRE_MAX_EVENTS, &b), 0);
	live = LIVE();
	for (size_t cut = 0; cut < b.len; cut += 1 + s_rand() % 4001)
		assert_int_equal(nb_wire_decode(b.data, cut, d), -EPROTO);
	for (size_t cut = b.len - 64; cut < b.len; cut++)
		assert_int_equal(s_decode_exact(b.data, cut, d), -EPROTO);
	assert_int_equal(LIVE(), live);
	nb_wbuf_free(&b);
	free(ev);
	free(d);
}

/* Headers that claim far more than the frame holds must not make the decoder allocate it. */
static void test_lying_headers(void **state)
{
	static const uint8_t frames[][9] = {
	    {0xdd, 0xff, 0xff, 0xff, 0xff},		     /* array32 of 4G */
	    {0xdf, 0xff, 0xff, 0xff, 0xff},		     /* map32 of 4G */
	    {0xdb, 0xff, 0xff, 0xff, 0xff},		     /* str32 of 4G bytes */
	    {0xc6, 0x7f, 0xff, 0xff, 0xff},		     /* bin32 */
	    {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01},	     /* ext32 */
	    {0x81, 0xa1, 'x', 0xdd, 0x00, 0x10, 0x00, 0x00}, /* {x: array of 1M} */
	    {0x81, 0xa1, 'x', 0xdc, 0xff, 0xff},	     /* {x: array16 of 65535} */
	    {0x81, 0xa1, 'x', 0xde, 0xff, 0xff},	     /* {x: map16 of 65535} */
	    {0xc1},					     /* never used */
	};
	static const size_t lens[] = {5, 5, 5, 5, 6, 8, 6, 6, 1};
	struct nb_msg *d = s_msg();

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		long allocs = s_allocs;

		assert_int_equal(nb_wire_decode(frames[i], lens[i], d), -EPROTO);
		assert_int_equal(s_allocs, allocs);
	}
	free(d);
}

static void test_random_garbage(void **state)
{
	uint8_t buf[512];
	struct nb_msg *d = s_msg();
	long live = LIVE();

	(void)state;
	s_rng = 0x1234567887654321ull;
	for (int it = 0; it < 200000; it++) {
		size_t len = s_rand() % sizeof(buf);
		int rc;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)s_rand();
		/* Half the time look like a map with our keys, to get past the first checks. */
		if (it % 2 && len > 8) {
			buf[0] = 0x80 | (s_rand() % 16);
			memcpy(buf + 1, "\xa1v\x01\xa1t", 5);
		}
		rc = s_decode_exact(buf, len, d);
		if (!s_is_reject(rc))
			fail_msg("iteration %d: got %d", it, rc);
	}
	assert_int_equal(LIVE(), live);
	free(d);
}

/*
 * Valid frames with a few bytes changed: the decoder either refuses them with one of its
 * errors or accepts something it can encode again and read back the same.
 */
static void test_mutated_frames(void **state)
{
	void *bufs[2 * S_NTYPES];
	size_t lens[2 * S_NTYPES], n;
	struct nb_msg *d = s_msg(), *d2 = s_msg();
	long live, accepted = 0, rejected = 0;

	(void)state;
	s_encode_all(bufs, lens, &n);
	s_rng = 42;
	live = LIVE();
	for (int it = 0; it < 100000; it++) {
		size_t i = s_rand() % n, len = lens[i];
		uint8_t *f = malloc(len + 4);
		int flips = 1 + s_rand() % 4, rc;

		assert_non_null(f);
		memcpy(f, bufs[i], len);
		for (int k = 0; k < flips; k++) {
			uint64_t r = s_rand();

			switch (r % 4) {
			case 0: /* new byte value */
				f[(r >> 8) % len] = (uint8_t)(r >> 40);
				break;
			case 1: /* one bit */
				f[(r >> 8) % len] ^= (uint8_t)(1u << ((r >> 40) % 8));
				break;
			case 2: /* a byte that is a msgpack tag */
				f[(r >> 8) % len] =
				    "\xc0\xc2\xcc\xcf\xd0\xd9\xdc\xdd\xde\xdf\x80\x90"
				    "\xa0\xc4\xca\xff"[(r >> 40) % 16];
				break;
			case 3: /* shorter */
				if (len > 1)
					len--;
				break;
			}
		}
		rc = s_decode_exact(f, len, d);
		if (!rc) {
			void *again;
			size_t alen;

			accepted++;
			assert_int_equal(nb_wire_encode(d, &again, &alen), 0);
			assert_int_equal(s_decode_exact(again, alen, d2), 0);
			s_assert_equal(d, d2);
			nb_msg_clear(d2);
			free(again);
		} else {
			rejected++;
			if (!s_is_reject(rc))
				fail_msg("iteration %d: got %d", it, rc);
		}
		nb_msg_clear(d);
		free(f);
	}
	assert_int_equal(LIVE(), live);
	assert_true(accepted > 1000 && rejected > 1000);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	free(d);
	free(d2);
}

/* Every allocation on the decode and encode paths fails once: -ENOMEM, nothing leaked. */
static void test_allocation_failures(void **state)
{
	struct nb_msg_events hdr = {.session = 1};
	struct nb_wbuf b = NB_WBUF_INIT;
	long live, k, failures = 0;
	struct nb_event *ev;
	struct nb_msg *d;
	size_t len;
	void *frame;

	(void)state;
	ev = calloc(100, sizeof(*ev));
	d = s_msg();
	assert_non_null(ev);
	s_random_events(ev, 100, true);
	assert_int_equal(nb_wire_encode_events(&hdr, ev, 100, &b), 0);
	frame = nb_wbuf_release(&b, &len);

	live = LIVE();
	for (k = 0;; k++) {
		int rc;

		s_fail_after = k;
		rc = nb_wire_decode(frame, len, d);
		if (s_fail_after >= 0) { /* fewer than k + 1 allocations: all paths covered */
			s_fail_after = -1;
			assert_int_equal(rc, 0);
			nb_msg_clear(d);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
		assert_int_equal(LIVE(), live);
		failures++;
	}
	assert_int_equal(failures, 1); /* the event array is the decoder's only allocation */

	for (k = 0;; k++) {
		struct nb_wbuf w = NB_WBUF_INIT;
		int rc;

		s_fail_after = k;
		rc = nb_wire_encode_events(&hdr, ev, 100, &w);
		nb_wbuf_free(&w);
		if (s_fail_after >= 0) {
			s_fail_after = -1;
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
		assert_int_equal(LIVE(), live);
	}
	for (k = 0;; k++) {
		struct nb_msg m;
		void *buf = NULL;
		size_t blen;
		int rc;

		s_sample(&m, NB_MSG_HELLO, true);
		s_fail_after = k;
		rc = nb_wire_encode(&m, &buf, &blen);
		if (s_fail_after >= 0) {
			s_fail_after = -1;
			assert_int_equal(rc, 0);
			free(buf);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
		assert_null(buf);
		assert_int_equal(LIVE(), live);
	}
	free(frame);
	free(ev);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_every_type),
	    cmocka_unit_test(test_roundtrip_minimal),
	    cmocka_unit_test(test_golden_credit),
	    cmocka_unit_test(test_events_full_batch_bit_exact),
	    cmocka_unit_test(test_noncanonical_formats),
	    cmocka_unit_test(test_events_three_paths_agree),
	    cmocka_unit_test(test_batch_limit),
	    cmocka_unit_test(test_type_names),
	    cmocka_unit_test(test_encode_rejects),
	    cmocka_unit_test(test_keys_match_spec),
	    cmocka_unit_test(test_missing_fields),
	    cmocka_unit_test(test_wrong_field_types),
	    cmocka_unit_test(test_unknown_fields_ignored),
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_unknown_and_bad_types),
	    cmocka_unit_test(test_invalid_values),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_duplicates_and_shape),
	    cmocka_unit_test(test_events_elements),
	    cmocka_unit_test(test_events_addresses),
	    cmocka_unit_test(test_nested_lists),
	    cmocka_unit_test(test_truncated_every_offset),
	    cmocka_unit_test(test_truncated_full_batch),
	    cmocka_unit_test(test_lying_headers),
	    cmocka_unit_test(test_random_garbage),
	    cmocka_unit_test(test_mutated_frames),
	    cmocka_unit_test(test_allocation_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
