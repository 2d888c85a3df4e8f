// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame agents: asks every agent, all at once, who it is (HELLO: name, versions, what its
 * kernel can attach, sessions held) and takes a few clock samples (PING/PONG). An agent that
 * does not answer is named with the reason the connection gives: refused, wrong key, closed
 * during the handshake, or timeout. Exit 0 when every agent answered, 1 otherwise.
 *
 * All connections are made at once and served by one poll loop, so the run takes about one
 * round trip plus the slowest agent, not the sum: hundreds of agents in well under a second
 * when they answer, --timeout-ms when some do not.
 */
#include "coord.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "nb_client.h"
#include "nb_inventory.h"
#include "nb_opts.h"
#include "nb_time.h"
#include "nodes.h"

#define S_PINGS		 4 /* clock samples after the HELLO's */
#define S_DEFAULT_TMO_MS 3000

enum s_state { S_WAIT, S_OK, S_FAIL };

struct s_agent {
	struct nb_inv_node node;
	struct nb_client *cl;
	enum s_state st;
	char why[640];
	int pongs;
};

struct s_args {
	struct nb_strlist node_specs;
	const char *inventory;
	const char *on;
	const char *key_path;
	long timeout_ms;
	bool insecure;
	bool json;
	bool help;
};

#define S_A(f) offsetof(struct s_args, f)

static const struct nb_optdef s_opts[] = {
	{"node", NB_OPTK_LIST, S_A(node_specs), 0, 0, "SPEC",
	 "name=N,endpoint=E[,server-key=FILE] (repeat; instead of the inventory)", false},
	{"inventory", NB_OPTK_STR, S_A(inventory), 0, 0, "FILE",
	 "the inventory (default ~/.netblame/inventory.yaml)", false},
	{"on", NB_OPTK_STR, S_A(on), 0, 0, "NAME|LABEL=VALUE[,...]",
	 "only these inventory nodes, by name or label", false},
	{"timeout-ms", NB_OPTK_LONG, S_A(timeout_ms), 100, 600000, "MS",
	 "an agent that has not answered by then is unreachable (default 3000)", false},
	{"json", NB_OPTK_FLAG, S_A(json), 0, 0, NULL, "one JSON document on stdout", false},
	{"insecure", NB_OPTK_FLAG, S_A(insecure), 0, 0, NULL, "no CURVE (labs only)", false},
	{"key", NB_OPTK_STR, S_A(key_path), 0, 0, "FILE", "the coordinator's secret key", false},
	{"help", NB_OPTK_FLAG, S_A(help), 0, 0, NULL, "show this help", false},
};
#define S_NOPTS (sizeof(s_opts) / sizeof(s_opts[0]))

static void s_usage(FILE *f)
{
	fprintf(f, "usage: netblame agents [--node SPEC]... [--inventory FILE]\n"
		   "         [--on NAME|LABEL=VALUE[,...]] [--timeout-ms MS] [--json]\n"
		   "         [--insecure | --key SECRET-KEY-FILE]\n"
		   "One line per agent: reachable or why not, versions, what its kernel can attach,\n"
		   "clock offset, sessions. exit: 0 every agent answered, 1 some did not, 2 usage\n\n"
		   "flags:\n");
	nb_opts_help_table(f, s_opts, S_NOPTS);
}

/* The agents to ask: --node specs, else the inventory's nodes (all, or those --on names). */
static int s_select(const struct s_args *a, const struct nb_inventory *inv, struct s_agent **out,
		    size_t *n_out)
{
	struct nb_inv_node *nodes;
	struct s_agent *ag;
	size_t n;

	if (nb_coord_select(&a->node_specs, a->on, inv, &nodes, &n))
		return -EINVAL;
	ag = calloc(n, sizeof(*ag));
	if (!ag) {
		free(nodes);
		nb_cerr("out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ag[i].node = nodes[i];
	free(nodes);
	*out = ag;
	*n_out = n;
	return 0;
}

static void s_fail(struct s_agent *a, const char *fmt, const char *arg)
{
	a->st = S_FAIL;
	snprintf(a->why, sizeof(a->why), fmt, arg);
}

static void s_on_msg(struct s_agent *a, const struct nb_msg *m, uint64_t now)
{
	switch (m->type) {
	case NB_MSG_HELLO:
	case NB_MSG_PONG:
		if (!nb_client_hello_info(a->cl))
			break;
		if (m->type == NB_MSG_PONG)
			a->pongs++;
		if (a->pongs >= S_PINGS)
			a->st = S_OK;
		else
			nb_client_ping(a->cl, now, 0, 0);
		break;
	case NB_MSG_ERROR:
		s_fail(a, "error: %s", m->error.message);
		break;
	default:
		break;
	}
}

/* Asks every agent at once; returns when all have answered or failed, or at the deadline. */
static int s_ask(void *zctx, struct s_agent *ag, size_t n, const struct nb_coord_keys *keys,
		 long timeout_ms)
{
	zmq_pollitem_t *items = calloc(2 * n, sizeof(*items));
	struct s_agent **of = calloc(2 * n, sizeof(*of));
	struct nb_msg *m = calloc(1, sizeof(*m));
	uint64_t deadline = nb_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	char err[512];
	int rc = 0;

	if (!items || !of || !m) {
		nb_cerr("out of memory");
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct s_agent *a = &ag[i];
		struct nb_client_cfg cfg = {
			.name = a->node.name,
			.endpoint = a->node.endpoint,
			.server_key = keys->insecure ? NULL : a->node.server_key,
			.pub = &keys->pub,
			.sec = &keys->sec,
			.monitor = true,
		};

		if (!keys->insecure && !a->node.server_key[0]) {
			s_fail(a, "%s", "no server-key for it (the agent's public key)");
			continue;
		}
		if (nb_client_new(&a->cl, zctx, &cfg, err, sizeof(err))) {
			s_fail(a, "%s", err);
			continue;
		}
		if (nb_client_hello(a->cl, false))
			s_fail(a, "%s", "cannot send HELLO");
	}
	for (;;) {
		uint64_t now = nb_mono_ns();
		int k = 0;

		for (size_t i = 0; i < n; i++) {
			if (ag[i].st != S_WAIT)
				continue;
			of[k] = &ag[i];
			items[k++] = (zmq_pollitem_t){nb_client_sock(ag[i].cl), 0, ZMQ_POLLIN, 0};
			of[k] = &ag[i];
			items[k++] = (zmq_pollitem_t){nb_client_mon_sock(ag[i].cl), 0, ZMQ_POLLIN, 0};
		}
		if (!k || now >= deadline)
			break;
		if (zmq_poll(items, k, (long)((deadline - now) / 1000000ull) + 1) < 0) {
			if (errno == EINTR) {
				nb_cerr("interrupted");
				rc = -EINTR;
				goto out;
			}
			nb_cerr("polling the agents failed: %s", zmq_strerror(errno));
			rc = -EIO;
			goto out;
		}
		for (int i = 0; i < k; i += 2) {
			struct s_agent *a = of[i];
			enum nb_conn_state cs;

			while (a->st == S_WAIT && (items[i].revents & ZMQ_POLLIN)) {
				int r = nb_client_recv(a->cl, m, nb_mono_ns());

				if (r == 0)
					break;
				if (r < 0) {
					s_fail(a, "malformed answer: %s", strerror(-r));
					break;
				}
				s_on_msg(a, m, nb_mono_ns());
				nb_msg_clear(m);
			}
			if (a->st != S_WAIT || !(items[i + 1].revents & ZMQ_POLLIN))
				continue;
			cs = nb_client_mon_read(a->cl);
			if (nb_client_hello_info(a->cl))
				continue;
			if (cs == NB_CONN_REFUSED)
				s_fail(a, "%s", "refused");
			else if (cs == NB_CONN_AUTH)
				s_fail(a, "%s",
				       "wrong key (the server-key is not the agent's, or the agent "
				       "does not accept ours)");
			else if (cs == NB_CONN_CLOSED)
				s_fail(a, "%s",
				       "closed during the handshake (CURVE on one side only?)");
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct s_agent *a = &ag[i];

		if (a->st != S_WAIT)
			continue;
		/* The HELLO's clock sample is enough when a PONG is late. */
		if (nb_client_hello_info(a->cl)) {
			a->st = S_OK;
			continue;
		}
		switch (nb_client_mon_read(a->cl)) {
		case NB_CONN_CONNECTED:
		case NB_CONN_READY:
			snprintf(a->why, sizeof(a->why),
				 "timeout: connected, no answer within %ldms", timeout_ms);
			a->st = S_FAIL;
			break;
		default:
			snprintf(a->why, sizeof(a->why), "timeout: no connection within %ldms",
				 timeout_ms);
			a->st = S_FAIL;
			break;
		}
	}
out:
	free(items);
	free(of);
	free(m);
	return rc;
}

/* "tcx,netfilter,tun": what the kernel can attach (the stage hooks, "x/y", are in --json). */
static void s_caps(const struct nb_msg_hello *h, char *buf, size_t len, bool hooks)
{
	size_t off = 0;

	buf[0] = 0;
	for (uint32_t i = 0; i < h->n_caps; i++) {
		if (!!strchr(h->caps[i], '/') != hooks)
			continue;
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
					off ? "," : "", h->caps[i]);
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void s_print_text(const struct s_agent *ag, size_t n)
{
	size_t wn = 4, we = 8, ok = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(ag[i].node.name), e = strlen(ag[i].node.endpoint);

		wn = l > wn ? l : wn;
		we = e > we ? e : we;
	}
	printf("%-*s  %-*s  %-9s  %-8s  %-5s  %-8s  %-24s  %s\n", (int)wn, "NAME", (int)we,
	       "ENDPOINT", "REACHABLE", "VERSION", "PROTO", "SESSIONS", "CLOCK OFFSET",
	       "CAPABILITIES");
	for (size_t i = 0; i < n; i++) {
		const struct s_agent *a = &ag[i];
		const struct nb_msg_hello *h = a->cl ? nb_client_hello_info(a->cl) : NULL;
		char clk[64], caps[NB_WIRE_MAX_CAPS * (NB_WIRE_NAME_MAX + 1)];

		if (a->st != S_OK || !h) {
			printf("%-*s  %-*s  no: %s\n", (int)wn, a->node.name, (int)we,
			       a->node.endpoint, a->why);
			continue;
		}
		ok++;
		snprintf(clk, sizeof(clk), "%+.3fms +/- %.3fms",
			 (double)nb_client_offset(a->cl) / 1e6,
			 (double)nb_client_uncert(a->cl) / 1e6);
		s_caps(h, caps, sizeof(caps), false);
		printf("%-*s  %-*s  %-9s  %-8s  %-5u  %-8u  %-24s  %s\n", (int)wn, a->node.name,
		       (int)we, a->node.endpoint, "yes", h->version, h->proto, h->sessions, clk,
		       caps);
	}
	printf("%zu agents: %zu reachable, %zu unreachable\n", n, ok, n - ok);
}

static int s_print_json(const struct s_agent *ag, size_t n)
{
	json_t *o = json_object(), *arr = json_array();
	size_t ok = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		const struct s_agent *a = &ag[i];
		const struct nb_msg_hello *h = a->cl ? nb_client_hello_info(a->cl) : NULL;
		json_t *j = json_pack("{s:s, s:s, s:b}", "name", a->node.name, "endpoint",
				      a->node.endpoint, "reachable", a->st == S_OK && h);
		json_t *labels = json_object();

		for (int k = 0; k < a->node.n_labels; k++)
			json_object_set_new(labels, a->node.labels[k].key,
					    json_string(a->node.labels[k].value));
		json_object_set_new(j, "labels", labels);
		if (a->st == S_OK && h) {
			json_t *caps = json_array(), *hooks = json_array();

			ok++;
			for (uint32_t k = 0; k < h->n_caps; k++)
				json_array_append_new(strchr(h->caps[k], '/') ? hooks : caps,
						      json_string(h->caps[k]));
			json_object_set_new(j, "reason", json_null());
			json_object_set_new(j, "agent_name", json_string(h->name));
			json_object_set_new(j, "agent_version", json_string(h->version));
			json_object_set_new(j, "protocol", json_integer(h->proto));
			json_object_set_new(j, "capabilities", caps);
			json_object_set_new(j, "hooks", hooks);
			json_object_set_new(j, "sessions", json_integer(h->sessions));
			json_object_set_new(j, "clock_offset_ns",
					    json_integer((json_int_t)nb_client_offset(a->cl)));
			json_object_set_new(j, "clock_uncertainty_ns",
					    json_integer((json_int_t)nb_client_uncert(a->cl)));
			json_object_set_new(j, "clock_samples",
					    json_integer(nb_client_samples(a->cl)));
		} else {
			json_object_set_new(j, "reason", json_string(a->why));
		}
		json_array_append_new(arr, j);
	}
	json_object_set_new(o, "agents", arr);
	json_object_set_new(o, "reachable", json_integer((json_int_t)ok));
	json_object_set_new(o, "unreachable", json_integer((json_int_t)(n - ok)));
	if (json_dumpf(o, stdout, JSON_COMPACT) < 0)
		rc = -EIO;
	fputc('\n', stdout);
	json_decref(o);
	return rc;
}

int nb_cmd_agents(int argc, char **argv)
{
	struct s_args a = {.timeout_ms = S_DEFAULT_TMO_MS};
	struct nb_inventory *inv = NULL;
	struct nb_coord_keys keys;
	struct s_agent *ag = NULL;
	void *zctx = NULL;
	size_t n = 0, ok = 0;
	char err[256];
	int ret = NB_CEXIT_USAGE;

	if (nb_opts_parse_table(s_opts, S_NOPTS, argc, argv, 1, &a, &a.help, err, sizeof(err))) {
		nb_cerr("%s (see 'netblame agents --help')", err);
		return NB_CEXIT_USAGE;
	}
	if (a.help) {
		s_usage(stdout);
		return NB_CEXIT_OK;
	}
	if (a.node_specs.n && a.on) {
		nb_cerr("give --node or --on, not both");
		return NB_CEXIT_USAGE;
	}
	/* The inventory: for the nodes without --node, and for its coordinator key anyway. */
	if (nb_coord_inventory(a.inventory, !a.node_specs.n || a.inventory, &inv))
		goto out;
	if (s_select(&a, inv, &ag, &n))
		goto out;
	if (nb_coord_keys(a.insecure, a.key_path, inv, &keys))
		goto out;
	ret = NB_CEXIT_ERR;
	zctx = zmq_ctx_new();
	if (!zctx) {
		nb_cerr("cannot make a ZeroMQ context: %s", zmq_strerror(errno));
		goto out;
	}
	/* Three sockets an agent: ours, the monitor's two ends. */
	zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, (int)(3 * n + 64));
	if (s_ask(zctx, ag, n, &keys, a.timeout_ms))
		goto out;
	for (size_t i = 0; i < n; i++)
		ok += ag[i].st == S_OK;
	if (a.json ? s_print_json(ag, n) : (s_print_text(ag, n), 0))
		goto out;
	ret = ok == n ? NB_CEXIT_OK : NB_CEXIT_ERR;
out:
	for (size_t i = 0; i < n; i++)
		nb_client_destroy(&ag[i].cl);
	if (zctx)
		zmq_ctx_term(zctx);
	free(ag);
	nb_inventory_free(&inv);
	return ret;
}
