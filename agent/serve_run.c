// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Remote runs of the single-host tools (netblame run): RUN starts one of the tools in a child
 * process, its stdout and stderr come back as OUTPUT lines under the same credit and lease as a
 * trace session's events, and its exit status ends the run in a STOP.
 *
 * The tool runs as its own process (this binary again, /proc/self/exe, with the tool's name as
 * argv[0]), not in the serve loop: a tool blocks in its own poll loop, keeps global state and
 * handles its own signals, and a crash or a hang of one must not take the agent or the other
 * sessions with it. Before that, RUN's flags are checked here with the tool's own parser and
 * checks (nb_tool_check): a bad flag, address, namespace or interface is a usage ERROR with the
 * tool's own one-line message, and nothing is started. A RUN with check set stops there, so a
 * coordinator can check every node before it starts any.
 *
 * Flow control is the pipe's: a run whose queue of OUTPUT messages is full is not read, so the
 * tool blocks on its stdout (and counts its own ring buffer's losses) instead of lines being
 * dropped here. Only a run whose coordinator is gone (the lease lapsed) discards its lines,
 * counted. Ending: STOP or a lapsed lease sends SIGINT (the tool prints its summary and
 * detaches), SIGKILL follows after NB_RUN_GRACE_NS; the child is reaped, its last lines are
 * sent, then STATS and STOP with its exit code. The child gets SIGTERM if the agent dies
 * (PR_SET_PDEATHSIG), so no tool outlives its agent.
 */
#include "agent.h"
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nb_log.h"
#include "nb_time.h"
#include "nb_tool.h"

#define S_PEND_BYTES  (256u << 10) /* text of one OUTPUT message */
#define S_READ_TURN   (256u << 10) /* bytes read from one run per loop turn */
#define S_REAP_IVL_NS 200000000ull /* a running child is looked at this often */

struct s_stream {
	int fd;	    /* read end of the child's pipe, -1 once closed */
	char *part; /* the line being read, NB_WIRE_LINE_MAX + 1 bytes */
	size_t part_len;
	char *pend; /* complete lines, NUL-terminated, for the next OUTPUT */
	size_t pend_len;
	uint32_t n_pend;
	uint32_t off[NB_WIRE_MAX_LINES];
};

struct nb_run {
	bool used;
	uint64_t id;
	struct nb_srv *srv;
	struct nb_peer peer;
	char peer_desc[NB_SRV_PEER_DESC];
	char client[NB_SRV_CLIENT_ID];
	char tool[NB_WIRE_NAME_MAX + 1];
	pid_t pid;
	bool reaped;
	int status;
	struct s_stream st[2]; /* stdout, stderr */
	uint64_t credit, seq;
	struct nb_sendq sq;
	struct nb_wbuf buf;
	uint64_t last_rx_ns, next_reap_ns;
	uint64_t sigint_ns; /* when SIGINT went, 0 = not yet */
	bool killed;	    /* SIGKILL after the grace period */
	bool orphan;	    /* the lease lapsed: nobody to send to */
	const char *why;    /* why it was asked to stop: coordinator, lease, agent */
	uint64_t lines_sent, lines_cut, lines_lost, msgs_sent, bytes_read;
};

/* ---- the table ---- */

int nb_run_init(struct nb_srv *srv, uint32_t max)
{
	srv->max_runs = max;
	srv->runs = calloc(max ? max : 1, sizeof(*srv->runs));
	return srv->runs ? 0 : -ENOMEM;
}

static struct nb_run *s_find(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id)
{
	for (uint32_t i = 0; i < srv->max_runs; i++) {
		struct nb_run *r = &srv->runs[i];

		if (r->used && r->id == id && r->peer.len == peer->len &&
		    !memcmp(r->peer.id, peer->id, peer->len))
			return r;
	}
	return NULL;
}

struct nb_run *nb_run_find(struct nb_srv *srv, const struct nb_peer *peer, uint64_t id)
{
	return s_find(srv, peer, id);
}

void nb_run_renew(struct nb_srv *srv, const struct nb_peer *peer, uint64_t now)
{
	for (uint32_t i = 0; i < srv->max_runs; i++) {
		struct nb_run *r = &srv->runs[i];

		if (r->used && r->peer.len == peer->len && !memcmp(r->peer.id, peer->id, peer->len))
			r->last_rx_ns = now;
	}
}

/* ---- output ---- */

static void s_send_batch(struct nb_run *r, struct s_stream *s, uint32_t stream)
{
	const char *lines[NB_WIRE_MAX_LINES];
	struct nb_msg *m = r->srv->tx;
	void *data;
	size_t len;
	int rc;

	if (!s->n_pend)
		return;
	if (r->orphan) {
		r->lines_lost += s->n_pend;
		goto out;
	}
	for (uint32_t i = 0; i < s->n_pend; i++)
		lines[i] = s->pend + s->off[i];
	memset(m, 0, sizeof(*m));
	m->type = NB_MSG_OUTPUT;
	m->output.session = r->id;
	m->output.seq = r->seq;
	m->output.stream = stream;
	m->output.n_lines = s->n_pend;
	m->output.lines = lines;
	rc = nb_wire_encode_buf(m, &r->buf);
	if (rc) {
		r->lines_lost += s->n_pend;
		if (nb_rl_take(&r->srv->log_rl, nb_mono_ns()))
			nb_srv_log(r->srv, "run %llu: cannot encode OUTPUT: %s",
				   (unsigned long long)r->id, strerror(-rc));
		goto out;
	}
	r->seq++;
	if (r->credit && !r->sq.len) {
		rc = nb_srv_send(r->srv, &r->peer, r->buf.data, r->buf.len);
		if (rc == 0) {
			r->credit--;
			r->msgs_sent++;
			r->lines_sent += s->n_pend;
			goto out;
		}
		if (rc == -EHOSTUNREACH) {
			r->lines_lost += s->n_pend;
			goto out;
		}
	}
	/* Reading stops before the queue is full (s_readable); this only guards the bound. */
	if (nb_sendq_full(&r->sq, r->buf.len)) {
		r->lines_lost += s->n_pend;
		goto out;
	}
	data = nb_wbuf_release(&r->buf, &len);
	nb_sendq_push(&r->sq, data, len, s->n_pend);
out:
	s->n_pend = 0;
	s->pend_len = 0;
}

/* A complete line (the part buffer) into the pending batch; control bytes are shown as '?'. */
static void s_line(struct nb_run *r, struct s_stream *s, uint32_t stream)
{
	char *w;

	if (s->n_pend == NB_WIRE_MAX_LINES || s->pend_len + s->part_len + 1 > S_PEND_BYTES)
		s_send_batch(r, s, stream);
	w = s->pend + s->pend_len;
	for (size_t i = 0; i < s->part_len; i++) {
		unsigned char c = (unsigned char)s->part[i];

		w[i] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
	}
	w[s->part_len] = 0;
	s->off[s->n_pend++] = (uint32_t)s->pend_len;
	s->pend_len += s->part_len + 1;
	s->part_len = 0;
}

static void s_close_stream(struct s_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/*
 * Reads what the pipe holds (at most S_READ_TURN bytes) and sends it as lines. At the end of
 * the stream, a last line without its newline goes too. Returns the bytes read.
 */
static size_t s_read(struct nb_run *r, int k)
{
	static char chunk[64 << 10];
	struct s_stream *s = &r->st[k];
	uint32_t stream = k ? NB_OUT_STDERR : NB_OUT_STDOUT;
	size_t total = 0;

	while (s->fd >= 0 && total < S_READ_TURN) {
		ssize_t n = read(s->fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			if (s->part_len)
				s_line(r, s, stream);
			s_close_stream(s);
			break;
		}
		total += (size_t)n;
		r->bytes_read += (uint64_t)n;
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n') {
				s_line(r, s, stream);
				continue;
			}
			/* A line longer than the wire carries is cut, and the cut counted. */
			if (s->part_len == NB_WIRE_LINE_MAX) {
				r->lines_cut++;
				s_line(r, s, stream);
			}
			s->part[s->part_len++] = chunk[i];
		}
	}
	s_send_batch(r, s, stream);
	return total;
}

/* Whether the loop should read this run's pipes now: not while its queue is near full. */
static bool s_readable(const struct nb_run *r)
{
	return r->orphan || r->sq.len + 4 < NB_SRV_QUEUE_MAX;
}

int nb_run_poll_fds(const struct nb_run *r, int fds[2])
{
	int n = 0;

	if (!r->used || !s_readable(r))
		return 0;
	for (int k = 0; k < 2; k++)
		if (r->st[k].fd >= 0)
			fds[n++] = r->st[k].fd;
	return n;
}

static void s_flush(struct nb_run *r)
{
	nb_sendq_flush(&r->sq, r->srv, &r->peer, &r->credit, &r->msgs_sent, &r->lines_sent,
		       &r->lines_lost);
}

void nb_run_add_credit(struct nb_run *r, uint32_t credit)
{
	r->credit = r->credit + credit > NB_SRV_CREDIT_MAX ? NB_SRV_CREDIT_MAX : r->credit + credit;
	s_flush(r);
}

/* ---- the end ---- */

static void s_counter(struct nb_msg_stats *st, const char *name, uint64_t v)
{
	struct nb_wire_counter *c = &st->counters[st->n_counters++];

	snprintf(c->name, sizeof(c->name), "%s", name);
	c->value = v;
}

/* The exit status as a shell shows it, and why, for STOP and the log. */
static int32_t s_exit(const struct nb_run *r, char *why, size_t len)
{
	if (WIFEXITED(r->status)) {
		snprintf(why, len, "%s", r->why ? r->why : "exited");
		return WEXITSTATUS(r->status);
	}
	if (WIFSIGNALED(r->status)) {
		int sig = WTERMSIG(r->status);

		if (r->killed)
			snprintf(why, len, "killed: no exit %llu s after SIGINT (%s)",
				 (unsigned long long)(NB_RUN_GRACE_NS / 1000000000ull),
				 r->why ? r->why : "stopped");
		else
			snprintf(why, len, "killed by signal %d (%s)", sig, strsignal(sig));
		return 128 + sig;
	}
	snprintf(why, len, "unknown exit status");
	return -1;
}

static void s_free(struct nb_run *r)
{
	uint64_t lost = 0; /* counted by s_finish already */

	for (int k = 0; k < 2; k++) {
		s_close_stream(&r->st[k]);
		free(r->st[k].part);
		free(r->st[k].pend);
	}
	nb_sendq_free(&r->sq, &lost);
	nb_wbuf_free(&r->buf);
	memset(r, 0, sizeof(*r));
}

/* The child is gone and its output sent (or the lease lapsed): STATS, STOP, and the slot. */
static void s_finish(struct nb_run *r)
{
	struct nb_srv *srv = r->srv;
	struct nb_msg_stats *st;
	char why[NB_WIRE_STR_MAX + 1];
	int32_t code = s_exit(r, why, sizeof(why));

	if (!r->orphan) {
		s_flush(r);
		/* What credit did not let go by now is lost, and said so in the STATS. */
		for (uint32_t i = 0; i < r->sq.len; i++)
			r->lines_lost += r->sq.q[(r->sq.head + i) % NB_SRV_QUEUE_MAX].n_ev;
		memset(srv->tx, 0, sizeof(*srv->tx));
		srv->tx->type = NB_MSG_STATS;
		st = &srv->tx->stats;
		st->session = r->id;
		s_counter(st, "lines_sent", r->lines_sent);
		s_counter(st, "lines_lost", r->lines_lost);
		s_counter(st, "lines_cut", r->lines_cut);
		s_counter(st, "output_sent", r->msgs_sent);
		s_counter(st, "bytes_read", r->bytes_read);
		nb_srv_send_msg(srv, &r->peer);
		memset(srv->tx, 0, sizeof(*srv->tx));
		srv->tx->type = NB_MSG_STOP;
		srv->tx->stop.session = r->id;
		srv->tx->stop.exit_code = code;
		snprintf(srv->tx->stop.reason, sizeof(srv->tx->stop.reason), "%s", why);
		nb_srv_send_msg(srv, &r->peer);
	}
	nb_srv_log(srv,
		   "run %llu (%s, pid %d) for %s ended: exit %d, %s; lines_sent=%llu "
		   "lines_lost=%llu lines_cut=%llu",
		   (unsigned long long)r->id, r->tool, (int)r->pid, r->peer_desc, code, why,
		   (unsigned long long)r->lines_sent, (unsigned long long)r->lines_lost,
		   (unsigned long long)r->lines_cut);
	srv->n_runs--;
	s_free(r);
}

void nb_run_stop(struct nb_run *r, const char *why)
{
	if (!r->used || r->sigint_ns || r->reaped)
		return;
	r->why = why;
	r->sigint_ns = nb_mono_ns();
	kill(r->pid, SIGINT);
}

static bool s_reap(struct nb_run *r)
{
	pid_t p;

	if (r->reaped)
		return true;
	do
		p = waitpid(r->pid, &r->status, WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p == r->pid || (p < 0 && errno == ECHILD)) {
		r->reaped = true;
		/*
		 * What the child wrote before it died is in the pipes. A process it started may
		 * still hold them open: what that writes later is not the tool's.
		 */
		for (int k = 0; k < 2; k++) {
			while (r->st[k].fd >= 0 && s_read(r, k) >= S_READ_TURN)
				;
			if (r->st[k].part_len)
				s_line(r, &r->st[k], k ? NB_OUT_STDERR : NB_OUT_STDOUT);
			s_send_batch(r, &r->st[k], k ? NB_OUT_STDERR : NB_OUT_STDOUT);
			s_close_stream(&r->st[k]);
		}
	}
	return r->reaped;
}

uint64_t nb_run_tick(struct nb_run *r, uint64_t now)
{
	struct nb_srv *srv = r->srv;
	uint64_t next = now + S_REAP_IVL_NS;

	if (!r->orphan && now - r->last_rx_ns >= srv->lease_ns) {
		r->orphan = true;
		nb_srv_log(srv,
			   "run %llu (%s): lease expired: nothing from the coordinator for "
			   "%llu ms; stopping it",
			   (unsigned long long)r->id, r->tool,
			   (unsigned long long)((now - r->last_rx_ns) / 1000000));
		nb_run_stop(r, "lease expired");
	}
	if (!r->orphan)
		s_flush(r);
	for (int k = 0; k < 2 && s_readable(r); k++)
		if (r->st[k].fd >= 0)
			s_read(r, k);
	if (!s_reap(r)) {
		if (r->sigint_ns && !r->killed && now >= r->sigint_ns + NB_RUN_GRACE_NS) {
			nb_srv_log(srv, "run %llu (%s): no exit %llu s after SIGINT: SIGKILL",
				   (unsigned long long)r->id, r->tool,
				   (unsigned long long)(NB_RUN_GRACE_NS / 1000000000ull));
			kill(r->pid, SIGKILL);
			r->killed = true;
			next = now + 10000000ull;
		} else if (r->sigint_ns && !r->killed && r->sigint_ns + NB_RUN_GRACE_NS < next) {
			next = r->sigint_ns + NB_RUN_GRACE_NS;
		}
		if (r->sigint_ns && next > now + 20000000ull)
			next = now + 20000000ull; /* a stopping tool exits soon: look often */
		return next;
	}
	/* Ended: the last lines go as credit allows; a lapsed lease sends nothing more. */
	if (r->orphan || !r->sq.len) {
		s_finish(r);
		return now + S_REAP_IVL_NS;
	}
	return r->credit ? now + 5000000ull : next;
}

/* ---- the start ---- */

static bool s_netns_ok(const char *n)
{
	return nb_srv_netns_ok(n);
}

/*
 * argv for the tool: its name, RUN's args, and serve's --netns when the run names none. The
 * strings stay in srv->rx (RUN's), argv[] in out (NB_WIRE_MAX_ARGS + 4). Checked with the
 * tool's own code; 0, or a positive errno after the one-line ERROR went.
 */
static int s_argv(struct nb_srv *srv, const struct nb_peer *peer, const struct nb_msg_run *run,
		  char **argv, int *argc, const struct nb_tool **tool)
{
	char msg[NB_WIRE_STR_MAX + 1];
	struct nb_opts o;
	bool add_ns = false;
	int n = 0, rc;

	*tool = nb_tool_find(run->tool);
	if (!*tool) {
		nb_srv_error(srv, peer, EINVAL, run->session,
			     "unknown tool '%s' (netblame-agent --help lists them)", run->tool);
		return EINVAL;
	}
	argv[n++] = (char *)(*tool)->name;
	for (uint32_t i = 0; i < run->n_args; i++)
		argv[n++] = (char *)run->args[i];
	argv[n] = NULL;
	/* Parsed once to see whether the run names a namespace: if not, it gets serve's. */
	if (!nb_opts_parse((*tool)->opts, (*tool)->n_opts, n, argv, &o, msg, sizeof(msg)) &&
	    !o.netns && !o.help && srv->def_netns)
		add_ns = true;
	/* nb_opts_parse permutes argv: RUN's order again, then the check with the tool's code. */
	n = 1;
	for (uint32_t i = 0; i < run->n_args; i++)
		argv[n++] = (char *)run->args[i];
	if (add_ns) {
		argv[n++] = "--netns";
		argv[n++] = (char *)srv->def_netns;
	}
	argv[n] = NULL;
	/* The tool's errors go to msg, not to the agent's log. */
	nb_log_capture(msg, sizeof(msg));
	rc = nb_tool_check(*tool, n, argv, s_netns_ok, &o);
	nb_log_capture(NULL, 0);
	if (rc) {
		nb_srv_error(srv, peer, rc == NB_EXIT_USAGE ? EINVAL : ENOTSUP, run->session,
			     "%s: %s", (*tool)->name, msg[0] ? msg : "refused");
		return rc == NB_EXIT_USAGE ? EINVAL : ENOTSUP;
	}
	/* The check permuted argv once more: the child gets it as given. */
	n = 1;
	for (uint32_t i = 0; i < run->n_args; i++)
		argv[n++] = (char *)run->args[i];
	if (add_ns) {
		argv[n++] = "--netns";
		argv[n++] = (char *)srv->def_netns;
	}
	argv[n] = NULL;
	*argc = n;
	return 0;
}

/* Between fork and exec only async-signal-safe calls. */
static void s_child(int out, int err, char **argv, pid_t parent)
{
	sigset_t all;
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(127);
	/* The agent's sockets, rings and maps are not the tool's. */
	close_range(3, ~0u, 0);
	/* A tool never outlives its agent: SIGTERM stops it cleanly, detaching everything. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(127);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	/* Out of the agent's process group: a terminal's Ctrl-C meant for the agent is the agent's.
	 */
	setsid();
	execv("/proc/self/exe", argv);
	_exit(127);
}

static int s_spawn(struct nb_run *r, char **argv, char *err, size_t errlen)
{
	int out[2] = {-1, -1}, er[2] = {-1, -1};
	pid_t parent = getpid(), pid;

	if (pipe2(out, O_CLOEXEC) || pipe2(er, O_CLOEXEC)) {
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		goto fail;
	}
	/* The agent's ends only: the tool writes to a blocking pipe, which is the flow control. */
	if (fcntl(out[0], F_SETFL, O_NONBLOCK) || fcntl(er[0], F_SETFL, O_NONBLOCK)) {
		snprintf(err, errlen, "cannot make the pipe non-blocking: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		s_child(out[1], er[1], argv, parent);
	close(out[1]);
	close(er[1]);
	r->pid = pid;
	r->st[0].fd = out[0];
	r->st[1].fd = er[0];
	return 0;
fail:
	for (int k = 0; k < 2; k++) {
		if (out[k] >= 0)
			close(out[k]);
		if (er[k] >= 0)
			close(er[k]);
	}
	return -EIO;
}

void nb_run_start(struct nb_srv *srv, const struct nb_peer *peer, const char *peer_desc,
		  const char *client, uint64_t now)
{
	const struct nb_msg_run *run = &srv->rx->run;
	char *argv[NB_WIRE_MAX_ARGS + 4], err[256], what[160];
	const struct nb_tool *tool;
	struct nb_run *r = NULL;
	uint64_t sid = run->session;
	struct nb_client *cl;
	int argc = 0;

	if (s_find(srv, peer, sid) || nb_sess_find(srv, peer, sid)) {
		nb_srv_error(srv, peer, EEXIST, sid, "session %llu is already running",
			     (unsigned long long)sid);
		return;
	}
	if (!srv->max_runs) {
		nb_srv_error(srv, peer, EPERM, sid, "this agent runs no tools (--max-runs 0)");
		return;
	}
	if (s_argv(srv, peer, run, argv, &argc, &tool))
		return;
	if (run->check) {
		memset(srv->tx, 0, sizeof(*srv->tx));
		srv->tx->type = NB_MSG_STOP;
		srv->tx->stop.session = sid;
		snprintf(srv->tx->stop.reason, sizeof(srv->tx->stop.reason), "flags accepted");
		nb_srv_send_msg(srv, peer);
		return;
	}
	if (srv->n_runs >= srv->max_runs) {
		srv->runs_refused++;
		snprintf(what, sizeof(what), "%u runs already running (--max-runs)", srv->n_runs);
		nb_srv_error(srv, peer, NB_WIRE_ELIMIT, sid, "%s", what);
		if (nb_rl_take(&srv->log_rl, now))
			nb_srv_log(srv, "RUN %s (session %llu) refused for %s: %s", run->tool,
				   (unsigned long long)sid, peer_desc, what);
		return;
	}
	/* A run forks a process: it counts against the client's START rate like a trace. */
	cl = nb_srv_client(srv, client, now);
	if (!nb_rl_take(&cl->starts, now)) {
		srv->runs_refused++;
		snprintf(what, sizeof(what),
			 "per-client START rate limit reached: %u STARTs and RUNs in 10 s "
			 "(--max-starts-per-client)",
			 srv->max_starts_client);
		nb_srv_error(srv, peer, NB_WIRE_ELIMIT, sid, "%s", what);
		if (nb_rl_take(&srv->log_rl, now))
			nb_srv_log(srv, "RUN %s (session %llu) refused for %s (%s): %s", run->tool,
				   (unsigned long long)sid, peer_desc, client, what);
		return;
	}
	cl->last_start_ns = now;
	for (uint32_t i = 0; i < srv->max_runs && !r; i++)
		if (!srv->runs[i].used)
			r = &srv->runs[i];
	memset(r, 0, sizeof(*r));
	r->st[0].fd = r->st[1].fd = -1;
	for (int k = 0; k < 2; k++) {
		r->st[k].part = malloc(NB_WIRE_LINE_MAX + 1);
		r->st[k].pend = malloc(S_PEND_BYTES);
	}
	if (!r->st[0].part || !r->st[1].part || !r->st[0].pend || !r->st[1].pend ||
	    nb_sendq_init(&r->sq)) {
		s_free(r);
		nb_srv_error(srv, peer, ENOMEM, sid, "out of memory");
		return;
	}
	if (s_spawn(r, argv, err, sizeof(err))) {
		s_free(r);
		srv->runs_refused++;
		nb_srv_error(srv, peer, EIO, sid, "%s", err);
		return;
	}
	r->used = true;
	r->srv = srv;
	r->id = sid;
	r->peer = *peer;
	snprintf(r->peer_desc, sizeof(r->peer_desc), "%s", peer_desc);
	snprintf(r->client, sizeof(r->client), "%s", client);
	snprintf(r->tool, sizeof(r->tool), "%s", tool->name);
	r->credit = run->credit;
	r->last_rx_ns = nb_mono_ns();
	srv->n_runs++;
	srv->runs_started++;

	memset(srv->tx, 0, sizeof(*srv->tx));
	srv->tx->type = NB_MSG_STARTED;
	srv->tx->started.session = sid;
	srv->tx->started.attach_ns = nb_srv_clock(srv, r->last_rx_ns);
	nb_srv_send_msg(srv, peer);
	{
		char line[512];
		size_t off = 0;

		for (int i = 1; i < argc && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s", argv[i]);
		nb_srv_log(srv, "run %llu started for %s: %s%s (pid %d, %u/%u runs)",
			   (unsigned long long)sid, peer_desc, tool->name, line, (int)r->pid,
			   srv->n_runs, srv->max_runs);
	}
}

/* Agent shutdown: every tool stopped and reaped, within the grace period, then killed. */
void nb_run_stop_all(struct nb_srv *srv, const char *why)
{
	uint64_t t0 = nb_mono_ns();
	bool left = true;

	for (uint32_t i = 0; i < srv->max_runs; i++) {
		struct nb_run *r = &srv->runs[i];

		if (!r->used)
			continue;
		nb_run_stop(r, why);
	}
	while (left) {
		left = false;
		for (uint32_t i = 0; i < srv->max_runs; i++) {
			struct nb_run *r = &srv->runs[i];

			if (!r->used)
				continue;
			for (int k = 0; k < 2; k++)
				if (r->st[k].fd >= 0)
					s_read(r, k);
			if (s_reap(r)) {
				s_finish(r);
				continue;
			}
			left = true;
			if (!r->killed && nb_mono_ns() - t0 >= NB_RUN_GRACE_NS) {
				kill(r->pid, SIGKILL);
				r->killed = true;
			}
		}
		if (left)
			usleep(10000);
	}
}

void nb_run_stop_client(struct nb_srv *srv, bool (*allowed)(const struct nb_srv *, const char *))
{
	for (uint32_t i = 0; i < srv->max_runs; i++) {
		struct nb_run *r = &srv->runs[i];

		if (r->used && !allowed(srv, r->client))
			nb_run_stop(r, "key no longer authorized");
	}
}

bool nb_run_used(const struct nb_srv *srv, uint32_t i)
{
	return i < srv->max_runs && srv->runs[i].used;
}

struct nb_run *nb_run_at(struct nb_srv *srv, uint32_t i)
{
	return &srv->runs[i];
}
