// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame run TOOL: one of the single-host tools on one or more agents at once, through the
 * agents' sessions (RUN, OUTPUT, STOP: common/nb_wire.h), each node's output streamed back
 * prefixed with its name, or as JSON lines tagged with it (common/nb_runout.h).
 *
 * Phases, all agents at once in one poll loop:
 *   1. connect and HELLO; then RUN with check set: each agent checks the tool and its flags
 *      with the tool's own code and answers STOP (good) or ERROR. A usage error from any agent
 *      ends the command with exit 2 before any tool starts anywhere.
 *   2. RUN on every agent that passed: STARTED, OUTPUT (credit returned as it is consumed,
 *      PING every S_PING_NS renews the lease), STATS, and STOP with the tool's exit code.
 * An agent that does not answer in phase 1 is unreachable; one silent for S_LOST_NS in phase 2
 * is lost: both are reported and the others go on. Ctrl-C (SIGINT, SIGTERM) sends STOP to
 * every agent (its tool gets SIGINT, prints its summary and detaches) and waits for the ends,
 * at most S_STOP_WAIT_NS; a second Ctrl-C exits at once.
 */
#include "coord.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zmq.h>

#include "nb_client.h"
#include "nb_inventory.h"
#include "nb_opts.h"
#include "nb_runout.h"
#include "nb_time.h"
#include "nodes.h"
#include "progress.h"

#define S_CONNECT_NS   5000000000ull /* HELLO and the check answered by then */
#define S_PING_NS      500000000ull  /* heartbeat (lease) and credit */
#define S_LOST_NS      3000000000ull /* silent this long while running: agent lost */
#define S_STOP_WAIT_NS 8000000000ull /* the agent's grace (5 s) and some */
#define S_CREDIT       64	     /* OUTPUT messages in flight per agent */
#define S_CREDIT_EVERY 16

enum s_state {
	S_HELLO,    /* waiting for the agent's HELLO */
	S_CHECKING, /* RUN check sent */
	S_CHECKED,
	S_STARTING, /* RUN sent */
	S_RUNNING,
	S_DONE,
};

struct s_node {
	struct nb_inv_node node;
	struct nb_client *cl;
	enum s_state st;
	uint64_t session;
	int exit_code; /* NB_RUNOUT_NO_EXIT until the agent says */
	char reason[512];
	char usage[NB_WIRE_STR_MAX + 1]; /* the agent's usage error, "" = none */
	uint32_t consumed;		 /* OUTPUT messages not yet given back as credit */
	uint64_t lines_lost, lines_cut;
	bool stop_sent;
};

struct s_args {
	struct nb_strlist node_specs;
	const char *inventory;
	const char *on;
	const char *key_path;
	bool insecure;
	bool quiet;
	bool help;
};

#define S_A(f) offsetof(struct s_args, f)

static const struct nb_optdef s_opts[] = {
    {"node", NB_OPTK_LIST, S_A(node_specs), 0, 0, "SPEC",
     "name=N,endpoint=E[,server-key=FILE] (repeat; instead of the inventory)", false},
    {"inventory", NB_OPTK_STR, S_A(inventory), 0, 0, "FILE",
     "the inventory (default ~/.netblame/inventory.yaml)", false},
    {"on", NB_OPTK_STR, S_A(on), 0, 0, "NAME|LABEL=VALUE[,...]",
     "only these inventory nodes, by name or label (default: all of them)", false},
    {"insecure", NB_OPTK_FLAG, S_A(insecure), 0, 0, NULL, "no CURVE (labs only)", false},
    {"key", NB_OPTK_STR, S_A(key_path), 0, 0, "FILE", "the coordinator's secret key", false},
    {"quiet", NB_OPTK_FLAG, S_A(quiet), 0, 0, NULL,
     "no progress line on stderr (shown only on a terminal)", false},
    {"help", NB_OPTK_FLAG, S_A(help), 0, 0, NULL, "show this help", false},
};
#define S_NOPTS (sizeof(s_opts) / sizeof(s_opts[0]))

static volatile sig_atomic_t s_sigs;

static void s_on_signal(int sig)
{
	(void)sig;
	s_sigs++;
}

static void s_usage(FILE *f)
{
	fprintf(
	    f, "usage: netblame run TOOL [--node SPEC]... [--inventory FILE]\n"
	       "         [--on NAME|LABEL=VALUE[,...]] [--insecure | --key SECRET-KEY-FILE]\n"
	       "         [--quiet] [TOOL FLAGS...]\n"
	       "Runs one of the single-host tools on every node given, at once, and streams each\n"
	       "node's output prefixed with its name; with the tool's --json, JSON lines with a\n"
	       "\"node\" field and an end object per node. Every other flag is the tool's\n"
	       "(netblame-agent TOOL --help lists them), checked on each agent before any starts.\n"
	       "exit: 0 every node's tool exited 0, 1 otherwise (an agent unreachable or lost\n"
	       "included), 2 usage error\n\nflags:\n");
	nb_opts_help_table(f, s_opts, S_NOPTS);
}

static uint64_t s_session_id(void)
{
	uint64_t id = 0;

	while (!id)
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			id = nb_mono_ns();
	return id;
}

struct s_run {
	struct s_node *nd;
	size_t n;
	const char *tool;
	char **args;
	int n_args;
	bool json;
	void *zctx;
	struct nb_msg *m;
	uint64_t lines; /* output lines received, for the progress line */
};

static void s_end(struct s_run *r, struct s_node *n, int code, const char *fmt, const char *arg)
{
	if (n->st == S_DONE)
		return;
	/* A run given up on is stopped: its lease would, but later. */
	if ((n->st == S_STARTING || n->st == S_RUNNING) && !n->stop_sent &&
	    code == NB_RUNOUT_NO_EXIT)
		nb_client_stop(n->cl, n->session, "coordinator gave up on it");
	n->st = S_DONE;
	n->exit_code = code;
	snprintf(n->reason, sizeof(n->reason), fmt, arg);
	(void)r;
}

static void s_print_json_end(const struct s_run *r, const struct s_node *n)
{
	char *line;

	if (!r->json)
		return;
	nb_progress_hide();
	line = nb_runout_end(n->node.name, n->exit_code, n->reason);
	if (line)
		puts(line);
	else
		nb_cerr("%s: out of memory for the end object", n->node.name);
	free(line);
	fflush(stdout);
}

static void s_print_end(const struct s_run *r, const struct s_node *n)
{
	s_print_json_end(r, n);
	nb_progress_hide();
	if (n->exit_code == NB_RUNOUT_NO_EXIT)
		fprintf(stderr, "netblame: %s: %s\n", n->node.name, n->reason);
	else if (n->exit_code)
		fprintf(stderr, "netblame: %s: %s exited with code %d (%s)\n", n->node.name,
			r->tool, n->exit_code, n->reason);
	if (n->lines_lost || n->lines_cut)
		fprintf(stderr, "netblame: %s: %llu output lines lost, %llu cut at %u bytes\n",
			n->node.name, (unsigned long long)n->lines_lost,
			(unsigned long long)n->lines_cut, NB_WIRE_LINE_MAX);
}

static int s_send_run(struct s_run *r, struct s_node *n, bool check)
{
	struct nb_msg *m = r->m;

	memset(m, 0, sizeof(*m));
	m->type = NB_MSG_RUN;
	n->session = s_session_id();
	m->run.session = n->session;
	snprintf(m->run.tool, sizeof(m->run.tool), "%s", r->tool);
	for (int i = 0; i < r->n_args; i++)
		snprintf(m->run.args[i], sizeof(m->run.args[i]), "%s", r->args[i]);
	m->run.n_args = (uint32_t)r->n_args;
	m->run.credit = S_CREDIT;
	m->run.check = check;
	return nb_client_send(n->cl, m);
}

static void s_output(struct s_run *r, struct s_node *n, const struct nb_msg_output *o)
{
	/* The lines take the progress line's place; it is drawn again below them. */
	if (o->n_lines)
		nb_progress_hide();
	r->lines += o->n_lines;
	for (uint32_t i = 0; i < o->n_lines; i++) {
		if (o->stream == NB_OUT_STDERR) {
			fprintf(stderr, "%s: %s\n", n->node.name, o->lines[i]);
		} else if (r->json) {
			char *line = nb_runout_json(o->lines[i], n->node.name);

			if (line)
				puts(line);
			else
				nb_cerr("%s: out of memory for a JSON line", n->node.name);
			free(line);
		} else {
			printf("%s: %s\n", n->node.name, o->lines[i]);
		}
	}
	if (++n->consumed >= S_CREDIT_EVERY && !nb_client_credit(n->cl, n->session, n->consumed))
		n->consumed = 0;
}

static void s_stats(struct s_node *n, const struct nb_msg_stats *st)
{
	for (uint32_t i = 0; i < st->n_counters; i++) {
		if (!strcmp(st->counters[i].name, "lines_lost"))
			n->lines_lost = st->counters[i].value;
		else if (!strcmp(st->counters[i].name, "lines_cut"))
			n->lines_cut = st->counters[i].value;
	}
}

static void s_on_msg(struct s_run *r, struct s_node *n, const struct nb_msg *m)
{
	switch (m->type) {
	case NB_MSG_HELLO:
		if (n->st != S_HELLO)
			break;
		if (s_send_run(r, n, true))
			s_end(r, n, NB_RUNOUT_NO_EXIT, "%s", "cannot send RUN");
		else
			n->st = S_CHECKING;
		break;
	case NB_MSG_STOP:
		if (m->stop.session != n->session)
			break;
		if (n->st == S_CHECKING) {
			n->st = S_CHECKED;
		} else if (n->st == S_STARTING || n->st == S_RUNNING) {
			s_end(r, n, m->stop.exit_code, "%s", m->stop.reason);
			s_print_end(r, n);
		}
		break;
	case NB_MSG_ERROR:
		/* Session 0: about no session of ours, e.g. an agent too old to know RUN. */
		if (m->error.session && m->error.session != n->session)
			break;
		if (n->st == S_CHECKING && m->error.code == EINVAL) {
			snprintf(n->usage, sizeof(n->usage), "%s", m->error.message);
			s_end(r, n, 2, "usage: %s", m->error.message);
		} else if (n->st == S_CHECKING) {
			/* Reported with the others that cannot run, at the end of the check. */
			s_end(r, n, NB_RUNOUT_NO_EXIT, "refused: %s", m->error.message);
		} else if (n->st == S_STARTING) {
			s_end(r, n, NB_RUNOUT_NO_EXIT, "refused: %s", m->error.message);
			s_print_end(r, n);
		} else if (n->st == S_RUNNING) {
			s_end(r, n, NB_RUNOUT_NO_EXIT, "agent lost (%s)", m->error.message);
			s_print_end(r, n);
		}
		break;
	case NB_MSG_STARTED:
		if (m->started.session == n->session && n->st == S_STARTING)
			n->st = S_RUNNING;
		break;
	case NB_MSG_OUTPUT:
		if (m->output.session == n->session && (n->st == S_RUNNING || n->st == S_STARTING))
			s_output(r, n, &m->output);
		break;
	case NB_MSG_STATS:
		if (m->stats.session == n->session)
			s_stats(n, &m->stats);
		break;
	default:
		break;
	}
}

/* Why an agent that never answered did not: the connection's state. */
static void s_unreachable(struct s_run *r, struct s_node *n)
{
	const char *why;

	switch (n->cl ? nb_client_mon_read(n->cl) : NB_CONN_UNKNOWN) {
	case NB_CONN_REFUSED:
		why = "refused";
		break;
	case NB_CONN_AUTH:
		why = "wrong key (the server-key is not the agent's, or the agent does not accept "
		      "ours)";
		break;
	case NB_CONN_CLOSED:
		why = "closed during the handshake (CURVE on one side only?)";
		break;
	case NB_CONN_CONNECTED:
	case NB_CONN_READY:
		why = n->st == S_CHECKING ? "timeout: no answer to the check"
					  : "timeout: connected, no answer";
		break;
	default:
		why = "timeout: no connection";
		break;
	}
	s_end(r, n, NB_RUNOUT_NO_EXIT, "unreachable: %s", why);
}

static int s_connect(struct s_run *r, const struct nb_coord_keys *keys)
{
	char err[400];

	for (size_t i = 0; i < r->n; i++) {
		struct s_node *n = &r->nd[i];
		struct nb_client_cfg cfg = {
		    .name = n->node.name,
		    .endpoint = n->node.endpoint,
		    .server_key = keys->insecure ? NULL : n->node.server_key,
		    .pub = &keys->pub,
		    .sec = &keys->sec,
		    .monitor = true,
		};

		n->exit_code = NB_RUNOUT_NO_EXIT;
		if (!keys->insecure && !n->node.server_key[0]) {
			s_end(r, n, NB_RUNOUT_NO_EXIT, "%s",
			      "unreachable: no server-key for it (the agent's public key)");
			continue;
		}
		if (nb_client_new(&n->cl, r->zctx, &cfg, err, sizeof(err))) {
			s_end(r, n, NB_RUNOUT_NO_EXIT, "unreachable: %s", err);
			continue;
		}
		if (nb_client_hello(n->cl, false))
			s_end(r, n, NB_RUNOUT_NO_EXIT, "%s", "unreachable: cannot send HELLO");
	}
	return 0;
}

/* Every node whose state is in [lo, hi]. */
static size_t s_count(const struct s_run *r, enum s_state lo, enum s_state hi)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++)
		k += r->nd[i].st >= lo && r->nd[i].st <= hi;
	return k;
}

/* One poll turn over the nodes not done: messages, connection events. */
static int s_turn(struct s_run *r, long timeout_ms)
{
	zmq_pollitem_t items[2 * r->n];
	struct s_node *of[2 * r->n];
	int k = 0;

	for (size_t i = 0; i < r->n; i++) {
		if (r->nd[i].st == S_DONE || !r->nd[i].cl)
			continue;
		of[k] = &r->nd[i];
		items[k++] = (zmq_pollitem_t){nb_client_sock(r->nd[i].cl), 0, ZMQ_POLLIN, 0};
		of[k] = &r->nd[i];
		items[k++] = (zmq_pollitem_t){nb_client_mon_sock(r->nd[i].cl), 0, ZMQ_POLLIN, 0};
	}
	if (!k)
		return 0;
	if (zmq_poll(items, k, timeout_ms) < 0) {
		if (errno == EINTR)
			return 0;
		nb_cerr("polling the agents failed: %s", zmq_strerror(errno));
		return -EIO;
	}
	for (int i = 0; i < k; i += 2) {
		struct s_node *n = of[i];

		if (items[i + 1].revents & ZMQ_POLLIN)
			nb_client_mon_read(n->cl);
		for (int j = 0; j < 256 && n->st != S_DONE && (items[i].revents & ZMQ_POLLIN);
		     j++) {
			int rc = nb_client_recv(n->cl, r->m, nb_mono_ns());

			if (rc == 0)
				break;
			if (rc < 0) {
				nb_cwarn("%s: malformed message: %s", n->node.name, strerror(-rc));
				continue;
			}
			s_on_msg(r, n, r->m);
			nb_msg_clear(r->m);
		}
	}
	fflush(stdout);
	nb_progress_update_run((unsigned)s_count(r, S_HELLO, S_STARTING),
			       (unsigned)s_count(r, S_RUNNING, S_RUNNING),
			       (unsigned)s_count(r, S_DONE, S_DONE), r->lines);
	return 0;
}

/* Phase 1: HELLO and the check everywhere. 0, or the exit code when nothing is to run. */
static int s_check_all(struct s_run *r)
{
	uint64_t deadline = nb_mono_ns() + S_CONNECT_NS;
	bool usage = false;

	while (s_count(r, S_HELLO, S_CHECKING) && !s_sigs) {
		uint64_t now = nb_mono_ns();

		if (now >= deadline)
			break;
		/* At most 250 ms a turn: the progress line's clock keeps moving. */
		if (s_turn(r, deadline - now > 250000000ull
				  ? 250
				  : (long)((deadline - now) / 1000000ull) + 1))
			return NB_CEXIT_ERR;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct s_node *n = &r->nd[i];

		if (n->st == S_HELLO || n->st == S_CHECKING) {
			if (s_sigs)
				s_end(r, n, NB_RUNOUT_NO_EXIT, "%s",
				      "interrupted before it started");
			else
				s_unreachable(r, n);
		}
		if (n->usage[0]) {
			usage = true;
			nb_cerr("%s: %s", n->node.name, n->usage);
		}
	}
	if (usage || s_sigs || !s_count(r, S_CHECKED, S_CHECKED)) {
		/* Nothing started: every node ends here, the checked ones with the reason. */
		for (size_t i = 0; i < r->n; i++) {
			struct s_node *n = &r->nd[i];

			if (n->st == S_CHECKED)
				s_end(r, n, NB_RUNOUT_NO_EXIT, "%s",
				      usage ? "not started: a usage error on another node"
					    : "not started: interrupted");
			if (n->usage[0])
				s_print_json_end(r, n);
			else
				s_print_end(r, n);
		}
		return usage ? NB_CEXIT_USAGE : NB_CEXIT_ERR;
	}
	/* The unreachable are reported now; the others go on. */
	for (size_t i = 0; i < r->n; i++)
		if (r->nd[i].st == S_DONE)
			s_print_end(r, &r->nd[i]);
	return 0;
}

static void s_stop_all(struct s_run *r, const char *why)
{
	for (size_t i = 0; i < r->n; i++) {
		struct s_node *n = &r->nd[i];

		if ((n->st == S_STARTING || n->st == S_RUNNING) && !n->stop_sent) {
			nb_client_stop(n->cl, n->session, why);
			n->stop_sent = true;
		}
	}
}

/* Phase 2: the runs, until every node has ended. */
static int s_run_all(struct s_run *r)
{
	uint64_t stop_deadline = 0;
	sig_atomic_t sigs_seen = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct s_node *n = &r->nd[i];

		if (n->st != S_CHECKED)
			continue;
		if (s_send_run(r, n, false)) {
			s_end(r, n, NB_RUNOUT_NO_EXIT, "%s", "cannot send RUN");
			s_print_end(r, n);
		} else {
			n->st = S_STARTING;
		}
	}
	while (s_count(r, S_STARTING, S_RUNNING)) {
		uint64_t now = nb_mono_ns();

		if (s_sigs != sigs_seen) {
			if (sigs_seen) {
				nb_cerr("interrupted again: not waiting for the agents");
				break;
			}
			sigs_seen = s_sigs;
			s_stop_all(r, "interrupted (Ctrl-C)");
			stop_deadline = now + S_STOP_WAIT_NS;
		}
		if (stop_deadline && now >= stop_deadline)
			break;
		for (size_t i = 0; i < r->n; i++) {
			struct s_node *n = &r->nd[i];

			if (n->st != S_STARTING && n->st != S_RUNNING)
				continue;
			if (now - nb_client_last_msg(n->cl) >= S_LOST_NS) {
				s_end(r, n, NB_RUNOUT_NO_EXIT, "agent lost (no message for %s)",
				      "3 s");
				s_print_end(r, n);
				continue;
			}
			if (now - nb_client_last_ping(n->cl) >= S_PING_NS &&
			    !nb_client_ping(n->cl, now, n->session, n->consumed))
				n->consumed = 0;
		}
		if (s_turn(r, 100))
			return NB_CEXIT_ERR;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct s_node *n = &r->nd[i];

		if (n->st != S_STARTING && n->st != S_RUNNING)
			continue;
		if (!n->stop_sent)
			nb_client_stop(n->cl, n->session, "coordinator exits");
		s_end(r, n, NB_RUNOUT_NO_EXIT, "%s", "no end from the agent after the stop");
		s_print_end(r, n);
	}
	return 0;
}

int nb_cmd_run(int argc, char **argv)
{
	char **own = calloc((size_t)argc + 1, sizeof(*own));
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	struct s_args a = {0};
	struct nb_inventory *inv = NULL;
	struct nb_inv_node *nodes = NULL;
	struct nb_coord_keys keys;
	struct s_run r = {0};
	struct sigaction sa = {.sa_handler = s_on_signal};
	const char *tool = NULL;
	int n_own = 0, n_rest = 0, ret = NB_CEXIT_USAGE, *codes = NULL;
	char err[256];

	if (!own || !rest) {
		nb_cerr("out of memory");
		ret = NB_CEXIT_ERR;
		goto out;
	}
	if (nb_opts_split(s_opts, S_NOPTS, argc, argv, 1, own, &n_own, &tool, rest, &n_rest, err,
			  sizeof(err)) ||
	    nb_opts_parse_table(s_opts, S_NOPTS, n_own, own, 1, &a, &a.help, err, sizeof(err))) {
		nb_cerr("%s (see 'netblame run --help')", err);
		goto out;
	}
	if (a.help) {
		s_usage(stdout);
		ret = NB_CEXIT_OK;
		goto out;
	}
	if (!tool) {
		nb_cerr("which tool? 'netblame run TOOL [flags]' (see 'netblame run --help')");
		goto out;
	}
	if (strlen(tool) > NB_WIRE_NAME_MAX) {
		nb_cerr("unknown tool '%.64s...'", tool);
		goto out;
	}
	if (n_rest > NB_WIRE_MAX_ARGS) {
		nb_cerr("too many tool arguments: %d (at most %d)", n_rest, NB_WIRE_MAX_ARGS);
		goto out;
	}
	for (int i = 0; i < n_rest; i++) {
		size_t l = strlen(rest[i]);

		if (l > NB_WIRE_STR_MAX) {
			nb_cerr("tool argument longer than %d bytes: '%.32s...'", NB_WIRE_STR_MAX,
				rest[i]);
			goto out;
		}
		for (size_t k = 0; k < l; k++)
			if ((unsigned char)rest[i][k] < 0x20 || rest[i][k] == 0x7f) {
				nb_cerr("tool argument %d holds a control character", i + 1);
				goto out;
			}
		if (!strcmp(rest[i], "--json"))
			r.json = true;
	}
	if (a.node_specs.n && a.on) {
		nb_cerr("give --node or --on, not both");
		goto out;
	}
	if (nb_coord_inventory(a.inventory, !a.node_specs.n || a.inventory, &inv))
		goto out;
	if (nb_coord_select(&a.node_specs, a.on, inv, &nodes, &r.n))
		goto out;
	if (nb_coord_keys(a.insecure, a.key_path, inv, &keys))
		goto out;
	ret = NB_CEXIT_ERR;
	r.nd = calloc(r.n, sizeof(*r.nd));
	r.m = calloc(1, sizeof(*r.m));
	codes = calloc(r.n, sizeof(*codes));
	if (!r.nd || !r.m || !codes) {
		nb_cerr("out of memory");
		goto out;
	}
	for (size_t i = 0; i < r.n; i++)
		r.nd[i].node = nodes[i];
	r.tool = tool;
	r.args = rest;
	r.n_args = n_rest;
	r.zctx = zmq_ctx_new();
	if (!r.zctx) {
		nb_cerr("cannot make a ZeroMQ context: %s", zmq_strerror(errno));
		goto out;
	}
	zmq_ctx_set(r.zctx, ZMQ_MAX_SOCKETS, (int)(3 * r.n + 64));
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	s_connect(&r, &keys);
	nb_progress_begin(a.quiet);
	nb_progress_update_run((unsigned)r.n, 0, 0, 0); /* drawn at once */
	ret = s_check_all(&r);
	if (!ret)
		ret = s_run_all(&r);
	nb_progress_end();
	if (!ret) {
		for (size_t i = 0; i < r.n; i++)
			codes[i] = r.nd[i].exit_code;
		ret = nb_runout_exit(codes, r.n, false);
	}
out:
	nb_progress_end();
	fflush(stdout);
	for (size_t i = 0; r.nd && i < r.n; i++)
		nb_client_destroy(&r.nd[i].cl);
	if (r.zctx)
		zmq_ctx_term(r.zctx);
	free(r.nd);
	free(r.m);
	free(codes);
	free(nodes);
	nb_inventory_free(&inv);
	free(own);
	free(rest);
	return ret;
}
