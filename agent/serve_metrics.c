// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * --metrics-listen: /metrics in the Prometheus text format, served by libmicrohttpd.
 *
 * The daemon has no thread of its own: it runs in epoll mode and the main loop polls its epoll
 * fd with the ROUTER, so the counters are read on the thread that writes them (no locks, no
 * torn values). Connections are bounded (S_MAX_CONN, S_TIMEOUT_S) and only GET /metrics is
 * answered.
 */
#include "agent.h"
#include "serve.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "nb_lat.h"
#include "nb_log.h"
#include "nb_opts.h"
#include "nb_time.h"
#include "nb_tool.h"

#define S_MAX_CONN  16
#define S_TIMEOUT_S 10
#define S_BODY_MAX  (256u << 10) /* 64 sessions' series and the histograms */

struct nb_metrics {
	struct MHD_Daemon *d;
	int epfd;
	double start_time; /* wall clock, seconds */
	uint64_t scrapes;
	uint64_t summary_errors;
};

struct s_buf {
	char data[S_BODY_MAX];
	size_t len;
};

static void s_put(struct s_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_put(struct s_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->len >= sizeof(b->data))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, sizeof(b->data) - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
	if (b->len > sizeof(b->data))
		b->len = sizeof(b->data);
}

static void s_head(struct s_buf *b, const char *name, const char *type, const char *help)
{
	s_put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void s_one(struct s_buf *b, const char *name, const char *type, const char *help,
		  unsigned long long v)
{
	s_head(b, name, type, help);
	s_put(b, "%s %llu\n", name, v);
}

/* A label value: the text format escapes backslash, double quote and line feed. */
static const char *s_lv(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 3 < size; in++) {
		if (*in == '\\' || *in == '"')
			out[o++] = '\\';
		if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
			continue;
		}
		out[o++] = *in;
	}
	out[o] = 0;
	return out;
}

/*
 * Per session, labelled with its id, its coordinator (the client the limits count: "key
 * SHA256:..." or "address IP") and what it traces. A series ends with its session.
 */
static void s_sessions(struct s_buf *b, const struct nb_srv *srv)
{
	static const struct {
		const char *name, *type, *help;
	} series[] = {
	    {"netblame_agent_session_events_sent_total", "counter", "Events sent, this session."},
	    {"netblame_agent_session_events_lost_total", "counter",
	     "Events lost, this session: ring or queue, as netblame_agent_events_lost_total."},
	    {"netblame_agent_session_cpu_seconds_total", "counter",
	     "Agent CPU time spent on this session: attach, ring drain, encoding, sending."},
	    {"netblame_agent_session_memory_bytes", "gauge",
	     "Agent memory held by this session: its open batch and queued batches (user space), "
	     "its BPF ring buffer (kernel)."},
	};

	for (size_t k = 0; k < sizeof(series) / sizeof(series[0]); k++) {
		s_head(b, series[k].name, series[k].type, series[k].help);
		for (uint32_t i = 0; i < srv->max_sessions; i++) {
			const struct nb_sess *s = &srv->sess[i];
			char lab[NB_SRV_CLIENT_ID * 2 + 96], cl[NB_SRV_CLIENT_ID * 2];

			if (!s->used)
				continue;
			snprintf(lab, sizeof(lab), "session=\"%llu\",coordinator=\"%s\",kind=\"%s\"",
				 (unsigned long long)s->id, s_lv(s->client, cl, sizeof(cl)),
				 nb_sess_kind(s));
			switch (k) {
			case 0:
				s_put(b, "%s{%s} %llu\n", series[k].name, lab,
				      (unsigned long long)s->events_sent);
				break;
			case 1:
				s_put(b, "%s{%s,where=\"ring\"} %llu\n", series[k].name, lab,
				      (unsigned long long)(s->tr ? nb_tracer_lost(s->tr) : 0));
				s_put(b, "%s{%s,where=\"queue\"} %llu\n", series[k].name, lab,
				      (unsigned long long)s->lost_queue);
				break;
			case 2:
				s_put(b, "%s{%s} %.6f\n", series[k].name, lab, (double)s->cpu_ns / 1e9);
				break;
			default:
				s_put(b, "%s{%s} %llu\n", series[k].name, lab,
				      (unsigned long long)(s->sq.bytes + s->buf.cap +
							   (s->tr ? nb_tracer_ring_bytes(s->tr) : 0)));
				break;
			}
		}
	}
}

struct s_hctx {
	struct s_buf *b;
	const char *tool;
};

/*
 * One pair of stages as a Prometheus histogram: the log2 microsecond buckets, cumulative. A
 * delta in bucket k is under 2^(k+1) us (nb_lat_bucket_high + 1), which is its le; the last
 * bucket also holds everything longer, so it is only +Inf.
 */
static void s_hist(const struct nb_tool_hist *h, void *ctx)
{
	struct s_hctx *c = ctx;
	char lab[256], a[64], b[64];
	uint64_t cum = 0;

	snprintf(lab, sizeof(lab), "tool=\"%s\",from=\"%s\",to=\"%s\",path=\"%s\"", c->tool,
		 s_lv(h->from, a, sizeof(a)), s_lv(h->to, b, sizeof(b)), h->path);
	for (unsigned int k = 0; k + 1 < NB_LAT_BUCKETS; k++) {
		cum += h->buckets[k];
		s_put(c->b, "netblame_agent_latency_seconds_bucket{%s,le=\"%.6f\"} %llu\n", lab,
		      (double)(nb_lat_bucket_high(k) + 1) / 1e6, (unsigned long long)cum);
	}
	s_put(c->b, "netblame_agent_latency_seconds_bucket{%s,le=\"+Inf\"} %llu\n", lab,
	      (unsigned long long)h->count);
	s_put(c->b, "netblame_agent_latency_seconds_sum{%s} %.9f\n", lab, (double)h->sum_ns / 1e9);
	s_put(c->b, "netblame_agent_latency_seconds_count{%s} %llu\n", lab,
	      (unsigned long long)h->count);
}

/* --summary: its tool's histograms since the agent started. */
static void s_summary(struct s_buf *b, struct nb_srv *srv)
{
	struct s_hctx c = {.b = b, .tool = srv->summary->tool->name};
	int rc;

	s_head(b, "netblame_agent_latency_seconds", "histogram",
	       "serve --summary: a packet's time from one stage to the next, per pair of stages, "
	       "since the agent started.");
	rc = srv->summary->tool->ops->hists(srv->summary, srv->summary->st, s_hist, &c);
	if (rc) {
		srv->metrics->summary_errors++;
		if (nb_rl_take(&srv->log_rl, nb_mono_ns()))
			nb_srv_log(srv, "summary: cannot read the histograms: %s", strerror(-rc));
	}
	s_one(b, "netblame_agent_latency_read_errors_total", "counter",
	      "Scrapes that could not read the --summary histograms.", srv->metrics->summary_errors);
}

static unsigned long s_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned long n = 0;

	if (!d)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n > 3 ? n - 3 : 0; /* ".", ".." and the directory's own fd */
}

static void s_process(struct s_buf *b, const struct nb_metrics *m)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long vsz = 0, rss = 0;
	struct rusage ru;
	FILE *f;

	getrusage(RUSAGE_SELF, &ru);
	s_head(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
	s_put(b, "process_cpu_seconds_total %.6f\n",
	      (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		  ru.ru_stime.tv_usec / 1e6);
	f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%llu %llu", &vsz, &rss) != 2)
			vsz = rss = 0;
		fclose(f);
	}
	s_one(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
	      rss * (unsigned long long)page);
	s_one(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
	      vsz * (unsigned long long)page);
	s_one(b, "process_open_fds", "gauge", "Open file descriptors.", s_open_fds());
	s_head(b, "process_start_time_seconds", "gauge", "Start time since the epoch, seconds.");
	s_put(b, "process_start_time_seconds %.3f\n", m->start_time);
}

static void s_render(struct nb_srv *srv, struct s_buf *b)
{
	const struct nb_metrics *m = srv->metrics;
	uint64_t sent = srv->ended.events_sent, ring = srv->ended.lost_ring;
	uint64_t queue = srv->ended.lost_queue, reloads, reload_fail;
	uint32_t keys;

	for (uint32_t i = 0; i < srv->max_sessions; i++) {
		const struct nb_sess *s = &srv->sess[i];

		if (!s->used)
			continue;
		sent += s->events_sent;
		queue += s->lost_queue;
		ring += s->tr ? nb_tracer_lost(s->tr) : 0;
	}
	nb_zap_counters(srv->zap, &reloads, &reload_fail, &keys);
	s_head(b, "netblame_agent_info", "gauge", "This agent: its node name.");
	s_put(b, "netblame_agent_info{node=\"%s\"} 1\n", srv->node);
	s_one(b, "netblame_agent_sessions", "gauge", "Sessions running now.", srv->n_sess);
	s_one(b, "netblame_agent_sessions_max", "gauge", "--max-sessions.", srv->max_sessions);
	s_one(b, "netblame_agent_sessions_started_total", "counter", "Sessions attached.",
	      srv->started);
	s_one(b, "netblame_agent_runs", "gauge", "Single-host tools running for coordinators now.",
	      srv->n_runs);
	s_one(b, "netblame_agent_runs_max", "gauge", "--max-runs.", srv->max_runs);
	s_one(b, "netblame_agent_runs_started_total", "counter", "Tools started by RUN.",
	      srv->runs_started);
	s_one(b, "netblame_agent_runs_refused_total", "counter",
	      "RUNs refused: --max-runs or the client's START rate reached, or no process.",
	      srv->runs_refused);
	s_one(b, "netblame_agent_attach_failures_total", "counter",
	      "STARTs whose probes could not be attached.", srv->attach_failures);
	s_one(b, "netblame_agent_events_sent_total", "counter",
	      "Events sent to coordinators, all sessions.", sent);
	s_head(b, "netblame_agent_events_lost_total", "counter",
	       "Events lost: ring (the BPF ring buffer was full), queue (the batch queue for a "
	       "coordinator was full).");
	s_put(b, "netblame_agent_events_lost_total{where=\"ring\"} %llu\n", (unsigned long long)ring);
	s_put(b, "netblame_agent_events_lost_total{where=\"queue\"} %llu\n",
	      (unsigned long long)queue);
	s_one(b, "netblame_agent_connections_refused_total", "counter",
	      "Connections refused: unknown key, no handshake, not ZMTP, ...", srv->refused);
	s_one(b, "netblame_agent_malformed_messages_total", "counter",
	      "Messages from coordinators that did not decode.", srv->malformed_rx);
	s_one(b, "netblame_agent_control_messages_dropped_total", "counter",
	      "Control messages a peer's full send queue had no room for.", srv->tx_dropped);
	s_one(b, "netblame_agent_authorized_keys", "gauge",
	      "Coordinator keys accepted now (0 with --insecure).", keys);
	s_head(b, "netblame_agent_key_reloads_total", "counter",
	       "SIGHUP reloads of --authorized-keys, by result.");
	s_put(b, "netblame_agent_key_reloads_total{result=\"ok\"} %llu\n",
	      (unsigned long long)reloads);
	s_put(b, "netblame_agent_key_reloads_total{result=\"failed\"} %llu\n",
	      (unsigned long long)reload_fail);
	s_head(b, "netblame_agent_refused_total", "counter",
	       "STARTs refused by a limit, and sessions ended by --max-duration, by limit (the "
	       "option's name).");
	for (int l = 0; l < NB_LIM__COUNT; l++)
		s_put(b, "netblame_agent_refused_total{limit=\"%s\"} %llu\n", nb_limit_name(l),
		      (unsigned long long)srv->limit_hits[l]);
	s_head(b, "netblame_agent_limit", "gauge", "The limits in force, by option name.");
	s_put(b, "netblame_agent_limit{limit=\"max-sessions\"} %u\n", srv->max_sessions);
	s_put(b, "netblame_agent_limit{limit=\"max-sessions-per-client\"} %u\n",
	      srv->max_sess_client);
	s_put(b, "netblame_agent_limit{limit=\"max-starts-per-client\"} %u\n",
	      srv->max_starts_client);
	s_put(b, "netblame_agent_limit{limit=\"max-clients\"} %u\n", srv->max_clients);
	s_put(b, "netblame_agent_limit{limit=\"max-inflight-events\"} %llu\n",
	      (unsigned long long)srv->max_inflight);
	s_put(b, "netblame_agent_limit{limit=\"max-duration\"} %u\n", srv->max_duration_s);
	s_sessions(b, srv);
	if (srv->summary)
		s_summary(b, srv);
	s_one(b, "netblame_agent_scrapes_total", "counter", "Requests for /metrics.", m->scrapes);
	s_process(b, m);
}

static enum MHD_Result s_reply(struct MHD_Connection *c, unsigned int code, const char *type,
			       const char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
				const char *method, const char *version, const char *upload,
				size_t *upload_size, void **con_cls)
{
	static const char nf[] = "only /metrics here\n", na[] = "only GET\n";
	struct nb_srv *srv = cls;
	struct s_buf *b;
	enum MHD_Result ret;

	(void)version;
	(void)upload;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", na, strlen(na));
	if (*upload_size)
		return MHD_NO;
	if (strcmp(url, "/metrics"))
		return s_reply(c, MHD_HTTP_NOT_FOUND, "text/plain", nf, strlen(nf));
	b = malloc(sizeof(*b));
	if (!b)
		return MHD_NO;
	b->len = 0;
	srv->metrics->scrapes++;
	s_render(srv, b);
	ret = s_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b->data, b->len);
	free(b);
	return ret;
}

int nb_metrics_start(struct nb_srv *srv, const char *addr)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	char host[64], port[8];
	const union MHD_DaemonInfo *info;
	struct addrinfo *ai = NULL;
	struct nb_metrics *m;
	const char *colon = strrchr(addr, ':');
	size_t hlen;
	long pnum;
	struct timespec now;

	if (!colon || colon == addr || strlen(colon + 1) >= sizeof(port) || !colon[1]) {
		nb_err("invalid --metrics-listen '%s' (expected HOST:PORT, e.g. 127.0.0.1:9464)",
		       addr);
		return NB_EXIT_USAGE;
	}
	hlen = (size_t)(colon - addr);
	if (addr[0] == '[' && colon[-1] == ']') {
		addr++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) {
		nb_err("invalid --metrics-listen '%s': address too long", addr);
		return NB_EXIT_USAGE;
	}
	memcpy(host, addr, hlen);
	host[hlen] = 0;
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (nb_parse_long(port, 0, 65535, &pnum) || getaddrinfo(host, port, &hints, &ai) || !ai) {
		nb_err("invalid --metrics-listen '%s' (expected a numeric address and port)", addr);
		return NB_EXIT_USAGE;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		freeaddrinfo(ai);
		nb_err("out of memory");
		return NB_EXIT_ERR;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	m->start_time = (double)now.tv_sec + now.tv_nsec / 1e9;
	srv->metrics = m;
	m->d = MHD_start_daemon(MHD_USE_EPOLL | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
				NULL, NULL, s_handle, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)S_MAX_CONN,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)S_TIMEOUT_S,
				MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!m->d) {
		nb_err("cannot serve metrics on %s: %s", addr,
		       errno ? strerror(errno) : "libmicrohttpd refused");
		return NB_EXIT_ERR;
	}
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	m->epfd = info ? info->epoll_fd : -1;
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	/* Said on stdout too, like "listening on", so a port picked by the kernel can be read. */
	printf("metrics on http://%s%s%s:%u/metrics\n", strchr(host, ':') ? "[" : "", host,
	       strchr(host, ':') ? "]" : "", info ? info->port : 0);
	fflush(stdout);
	nb_srv_log(srv, "metrics on http://%s%s%s:%u/metrics", strchr(host, ':') ? "[" : "", host,
		   strchr(host, ':') ? "]" : "", info ? info->port : 0);
	return 0;
}

int nb_metrics_fd(const struct nb_srv *srv)
{
	return srv->metrics ? srv->metrics->epfd : -1;
}

void nb_metrics_run(struct nb_srv *srv)
{
	if (srv->metrics && srv->metrics->d)
		MHD_run(srv->metrics->d);
}

void nb_metrics_stop(struct nb_srv *srv)
{
	if (!srv->metrics)
		return;
	if (srv->metrics->d)
		MHD_stop_daemon(srv->metrics->d);
	free(srv->metrics);
	srv->metrics = NULL;
}
