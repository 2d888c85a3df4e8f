// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The wire decoder against arbitrary frames (it faces hostile peers). Besides the sanitizers,
 * every frame it accepts must hold up:
 *   - the encoder takes the decoded message back (it applies the decoder's limits, so whatever
 *     the decoder lets through it can carry), and the re-encoded frame decodes again;
 *   - encoding is then a fixed point: the second encoding is byte for byte the first, so no
 *     field is lost or altered on the way through;
 *   - for EVENTS the three encoders (whole message, nb_wire_encode_events, the streaming
 *     batch) produce the same bytes.
 * A rejected frame must be rejected with one of the documented errors.
 *
 * Seeds: every message type encoded by nb_wire's own encoder, with required fields only and
 * with every field set, IPv4 and IPv6, and EVENTS batches from each encoder.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "nb_wire.h"

static bool s_documented(int rc)
{
	return rc == -EPROTO || rc == -EBADMSG || rc == -EMSGSIZE || rc == -EPROTONOSUPPORT;
}

static void s_check_events_paths(const struct nb_msg_events *e, const struct nb_wbuf *want)
{
	struct nb_wbuf b = NB_WBUF_INIT;
	struct nb_wire_batch bt;

	NB_FUZZ_CHECK(nb_wire_encode_events(e, e->ev, e->n_ev, &b) == 0);
	NB_FUZZ_CHECK(b.len == want->len && !memcmp(b.data, want->data, b.len));

	NB_FUZZ_CHECK(nb_wire_batch_begin(&bt, &b) == 0);
	for (uint32_t i = 0; i < e->n_ev; i++)
		NB_FUZZ_CHECK(nb_wire_batch_add(&bt, &e->ev[i]) == 0);
	NB_FUZZ_CHECK(nb_wire_batch_end(&bt, e) == 0);
	NB_FUZZ_CHECK(b.len == want->len && !memcmp(b.data, want->data, b.len));
	nb_wbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* About 12 KiB each: static, as the header asks, and libFuzzer runs one input at a time. */
	static struct nb_msg m, m2;
	struct nb_wbuf b1 = NB_WBUF_INIT, b2 = NB_WBUF_INIT;
	int rc;

	rc = nb_wire_decode(data, size, &m);
	if (rc) {
		NB_FUZZ_CHECK(s_documented(rc));
		NB_FUZZ_CHECK(!m.alloc);
		return 0;
	}
	NB_FUZZ_CHECK(strcmp(nb_msg_type_name(m.type), "?"));
	NB_FUZZ_CHECK(nb_wire_encode_buf(&m, &b1) == 0);
	NB_FUZZ_CHECK(b1.len <= size); /* canonical formats are the shortest */
	NB_FUZZ_CHECK(nb_wire_decode(b1.data, b1.len, &m2) == 0);
	NB_FUZZ_CHECK(m2.type == m.type);
	NB_FUZZ_CHECK(nb_wire_encode_buf(&m2, &b2) == 0);
	NB_FUZZ_CHECK(b2.len == b1.len && !memcmp(b2.data, b1.data, b1.len));
	if (m.type == NB_MSG_EVENTS) {
		NB_FUZZ_CHECK(m2.events.n_ev == m.events.n_ev);
		NB_FUZZ_CHECK(!m.events.n_ev || !memcmp(m.events.ev, m2.events.ev,
							m.events.n_ev * sizeof(struct nb_event)));
		s_check_events_paths(&m.events, &b1);
	}
	nb_msg_clear(&m2);
	nb_msg_clear(&m);
	nb_wbuf_free(&b1);
	nb_wbuf_free(&b2);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Seeds */
#ifdef NB_FUZZ_SEEDS

static const uint8_t s_v4a[4] = {10, 0, 0, 1}, s_v4b[4] = {10, 0, 0, 2};
static const uint8_t s_v6a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x10};
static const uint8_t s_v6b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x20};

static int s_write(const char *name, const struct nb_msg *m)
{
	struct nb_wbuf b = NB_WBUF_INIT;
	int rc = nb_wire_encode_buf(m, &b);

	if (!rc)
		rc = nb_fuzz_seed(name, b.data, b.len);
	nb_wbuf_free(&b);
	return rc;
}

/* n events of a trace: IPv4 ICMP and IPv6 TCP packets at each hook, and a drop. */
static void s_events(struct nb_event *ev, uint32_t n)
{
	memset(ev, 0, n * sizeof(*ev));
	for (uint32_t i = 0; i < n; i++) {
		struct nb_event *e = &ev[i];
		bool v6 = i % 3 == 2;

		e->ts_ns = 1000000000ull + i * 1000;
		e->ifindex = 2 + i % 4;
		e->netns = 4026531840u;
		e->type = i % 5 == 4 ? NB_EV_DROP : NB_EV_PKT;
		e->hook = e->type == NB_EV_DROP ? NB_HOOK_DROP : (i % 2 ? NB_HOOK_TX : NB_HOOK_RX);
		e->stack_id = e->type == NB_EV_DROP ? (int32_t)i : -1;
		e->reason = e->type == NB_EV_DROP ? 6 : 0;
		e->location = e->type == NB_EV_DROP ? 0xffffffff81a2b3c4ull : 0;
		e->cpu = i % 2;
		e->ethertype = v6 ? 0x86dd : 0x0800;
		e->pkt.family = v6 ? 6 : 4;
		memcpy(e->pkt.saddr, v6 ? s_v6a : s_v4a, v6 ? 16 : 4);
		memcpy(e->pkt.daddr, v6 ? s_v6b : s_v4b, v6 ? 16 : 4);
		if (v6) {
			e->pkt.proto = IPPROTO_TCP;
			e->pkt.sport = 40000;
			e->pkt.dport = 443;
			e->pkt.tcp_flags = 0x18;
			e->pkt.tcp_seq = 1000 + i * 100;
			e->pkt.tcp_ack = 1;
			e->pkt.l4_len = 100;
		} else {
			e->pkt.proto = IPPROTO_ICMP;
			e->pkt.icmp_type = 8;
			e->pkt.icmp_id = 0x1234;
			e->pkt.icmp_seq = (uint16_t)i;
			e->pkt.ip_id = (uint16_t)(0xbe00 + i);
			e->pkt.ip_len = 84;
			e->pkt.l4_len = 64;
		}
	}
}

static int s_seed_events(struct nb_msg *m)
{
	static struct nb_event ev[64];
	struct nb_msg_events hdr = {
	    .session = 42, .seq = 7, .watermark_ns = 1000000000, .lost_ring = 3, .lost_queue = 1};
	struct nb_wbuf b = NB_WBUF_INIT;
	struct nb_wire_batch bt;
	int rc;

	s_events(ev, 64);
	memset(m, 0, sizeof(*m));
	m->type = NB_MSG_EVENTS;
	m->events = hdr;
	if ((rc = s_write("events-empty", m)))
		return rc;
	m->events.ev = ev;
	m->events.n_ev = 5;
	if ((rc = s_write("events-5", m)))
		return rc;
	rc = nb_wire_encode_events(&hdr, ev, 64, &b);
	if (!rc)
		rc = nb_fuzz_seed("events-64", b.data, b.len);
	if (!rc)
		rc = nb_wire_batch_begin(&bt, &b);
	for (uint32_t i = 0; !rc && i < 9; i++)
		rc = nb_wire_batch_add(&bt, &ev[i]);
	if (!rc)
		rc = nb_wire_batch_end(&bt, &hdr);
	if (!rc)
		rc = nb_fuzz_seed("events-batch-9", b.data, b.len);
	nb_wbuf_free(&b);
	return rc;
}

int nb_fuzz_seeds(void)
{
	static struct nb_msg m;
	int rc;

#define S_SEED(name, t, ...)                                                                       \
	do {                                                                                       \
		memset(&m, 0, sizeof(m));                                                          \
		m.type = t;                                                                        \
		__VA_ARGS__;                                                                       \
		if ((rc = s_write(name, &m)))                                                      \
			return rc;                                                                 \
	} while (0)

	S_SEED("hello-min", NB_MSG_HELLO, strcpy(m.hello.name, "hvA"),
	       strcpy(m.hello.version, "0.1"), m.hello.proto = NB_WIRE_VERSION);
	S_SEED("hello-full", NB_MSG_HELLO, strcpy(m.hello.name, "hv-a.example"),
	       strcpy(m.hello.version, "0.1.0"), m.hello.proto = NB_WIRE_VERSION,
	       m.hello.n_caps = 3, strcpy(m.hello.caps[0], "tcx"),
	       strcpy(m.hello.caps[1], "tp:netif_receive_skb"),
	       strcpy(m.hello.caps[2], "tp:kfree_skb"), m.hello.clock_ns = 123456789012345ull);
	S_SEED("start-icmp4", NB_MSG_START, m.start.session = 42, m.start.proto = IPPROTO_ICMP,
	       m.start.family = 4, memcpy(m.start.src, s_v4a, 4), memcpy(m.start.dst, s_v4b, 4),
	       m.start.n_rx = 1, strcpy(m.start.rx_ifs[0], "vnet0"), m.start.n_tx = 1,
	       strcpy(m.start.tx_ifs[0], "eth0"), m.start.timeout_ms = 1000, m.start.credit = 64,
	       m.start.max_batch = 512);
	S_SEED("start-tcp6", NB_MSG_START, m.start.session = 0x1122334455667788ull,
	       m.start.proto = IPPROTO_TCP, m.start.family = 6, memcpy(m.start.src, s_v6a, 16),
	       memcpy(m.start.dst, s_v6b, 16), m.start.sport = 40000, m.start.dport = 443,
	       m.start.n_rx = 2, strcpy(m.start.rx_ifs[0], "eth1"),
	       strcpy(m.start.rx_ifs[1], "eth2"), m.start.n_tx = 1,
	       strcpy(m.start.tx_ifs[0], "vnet3"), strcpy(m.start.netns, "/run/netns/nbhvA"),
	       m.start.timeout_ms = 2000, m.start.credit = 8,
	       m.start.max_batch = NB_WIRE_MAX_EVENTS);
	S_SEED("started", NB_MSG_STARTED, m.started.session = 42, m.started.attach_ns = 987654321,
	       m.started.n_rx = 2, m.started.rx_ifindex[0] = 7, m.started.rx_ifindex[1] = 9,
	       m.started.n_tx = 1, m.started.tx_ifindex[0] = 3, m.started.n_unattached = 1,
	       strcpy(m.started.unattached[0].hook, "tp:kfree_skb"),
	       strcpy(m.started.unattached[0].reason, "Operation not permitted"));
	S_SEED("stats", NB_MSG_STATS, m.stats.session = 42, m.stats.n_counters = 2,
	       strcpy(m.stats.counters[0].name, "events"), m.stats.counters[0].value = 100,
	       strcpy(m.stats.counters[1].name, "lost_ring"), m.stats.counters[1].value = 1);
	S_SEED("ping-min", NB_MSG_PING, m.ping.seq = 1, m.ping.t_coord = 111222333444ull);
	S_SEED("ping-full", NB_MSG_PING, m.ping.seq = 5, m.ping.t_coord = 111222333444ull,
	       m.ping.session = 42, m.ping.credit = 16);
	S_SEED("pong", NB_MSG_PONG, m.pong.seq = 5, m.pong.t_coord = 111222333444ull,
	       m.pong.t_agent = 555666777888ull, m.pong.session = 42, m.pong.credit = 3);
	S_SEED("credit", NB_MSG_CREDIT, m.credit.session = 42, m.credit.credit = 32);
	S_SEED("stop", NB_MSG_STOP, m.stop.session = 42, strcpy(m.stop.reason, "done"));
	S_SEED("error", NB_MSG_ERROR, m.error.code = EACCES, m.error.session = 42,
	       strcpy(m.error.message, "key not authorised"));
	S_SEED("dropinfo", NB_MSG_DROPINFO, m.dropinfo.session = 42, m.dropinfo.stack_id = 6213,
	       m.dropinfo.reason = 6, m.dropinfo.ifindex = 4,
	       m.dropinfo.location = 0xffffffff81a2b3c4ull,
	       strcpy(m.dropinfo.reason_name, "NETFILTER_DROP"),
	       strcpy(m.dropinfo.location_sym, "nft_do_chain+0x46f"),
	       strcpy(m.dropinfo.ifname, "vnet0"), m.dropinfo.n_frames = 2,
	       strcpy(m.dropinfo.frames[0], "sk_skb_reason_drop+0x90"),
	       strcpy(m.dropinfo.frames[1], "nft_do_chain+0x46f"));
	S_SEED("stop-exit", NB_MSG_STOP, m.stop.session = 42, strcpy(m.stop.reason, "exited"),
	       m.stop.exit_code = 137);
	S_SEED("run-check", NB_MSG_RUN, m.run.session = 42,
	       strcpy(m.run.tool, "icmp_path_tracer"), m.run.n_args = 4,
	       strcpy(m.run.args[0], "--src-ip"), strcpy(m.run.args[1], "10.0.0.1"),
	       strcpy(m.run.args[2], "--duration"), strcpy(m.run.args[3], "5"),
	       m.run.credit = 64, m.run.check = 1);
	S_SEED("run", NB_MSG_RUN, m.run.session = 43, strcpy(m.run.tool, "eth_drop"),
	       m.run.n_args = 1, strcpy(m.run.args[0], "--json"), m.run.credit = 64);
	{
		static const char *const lines[] = {"{\"type\":\"start\",\"tool\":\"eth_drop\"}",
						    "\tcolumn", ""};

		S_SEED("output", NB_MSG_OUTPUT, m.output.session = 43, m.output.seq = 3,
		       m.output.stream = NB_OUT_STDOUT, m.output.n_lines = 3, m.output.lines = lines);
		S_SEED("output-err", NB_MSG_OUTPUT, m.output.session = 43, m.output.seq = 4,
		       m.output.stream = NB_OUT_STDERR, m.output.n_lines = 1, m.output.lines = lines);
	}
	S_SEED("monitor", NB_MSG_MONITOR, m.monitor.session = 42,
	       strcpy(m.monitor.monitor, "tun_ring"), strcpy(m.monitor.ifname, "vnet0"),
	       m.monitor.attached = 1, m.monitor.queues_seen = 1, m.monitor.has_total = true,
	       m.monitor.total = (struct nb_wire_monq){0, 16, 16, 16, 100, 100, 84, 16, 16, 0},
	       m.monitor.n_queues = 1, m.monitor.queues[0] = m.monitor.total,
	       m.monitor.n_sojourn = 18, m.monitor.sojourn_us[17] = 84);
	S_SEED("monitor-none", NB_MSG_MONITOR, m.monitor.session = 42,
	       strcpy(m.monitor.monitor, "tun_ring"), strcpy(m.monitor.ifname, "vnet0"),
	       strcpy(m.monitor.why, "'vnet0' is not a tun/tap device (driver veth)"));
#undef S_SEED
	return s_seed_events(&m);
}
#endif /* NB_FUZZ_SEEDS */
