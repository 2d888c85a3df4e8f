// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame runbook FILE [--var NAME=VALUE]...: loads and checks the whole runbook first
 * (common/nb_runbook.c: variables, the nodes against the inventory or --node, the tools against
 * netblame-agent --list-tools), then runs its steps in order. A trace or run step is a child of
 * this same binary (netblame trace ... --json FILE, netblame run ... --json), so the steps share
 * no state and a step that hangs is stopped at its timeout (SIGINT, then SIGKILL 5 s later)
 * without hanging the runbook. Each step's JSON result feeds the later steps' conditions.
 */
#include "coord.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nb_blame.h"
#include "nb_inventory.h"
#include "nb_opts.h"
#include "nb_runbook.h"
#include "nb_time.h"
#include "nodes.h"
#include "progress.h"
#include "report_html.h"

#define S_GRACE_NS	   5000000000ull /* after the SIGINT of a timeout, before SIGKILL */
#define S_MAX_LINES	   2000		 /* JSON lines of a run step kept in the report */
#define S_MAX_LINE	   (1u << 20)
#define S_EXIT_INTERRUPTED 130

struct s_args {
	const char *inventory_path;
	const char *key_path;
	const char *json_path;
	const char *html_path;
	const char *logs_dir;
	struct nb_strlist vars;
	struct nb_strlist node_specs;
	bool insecure;
	bool check;
	bool quiet;
	bool help;
};

struct s_rb {
	struct s_args a;
	const char *file;
	struct nb_runbook *rb;
	struct nb_inventory *inv;
	struct nb_inv_node nodes[NB_OPTS_LIST_MAX]; /* from --node */
	int n_nodes;
	char **tools; /* netblame-agent --list-tools */
	int n_tools;
	char self[PATH_MAX];
	char dir[PATH_MAX]; /* the steps' files */
	bool own_dir;	    /* a temporary one, removed at the end */
	json_t *results[NB_RB_MAX_STEPS];
	json_t *jsteps;
	const char *verdict;
	const char *verdict_step;
	uint64_t first_step_ns; /* CLOCK_REALTIME when the first step started */
	/* The progress line: the step running (an index), since when, and the steps before it. */
	int cur;
	uint64_t step_t0;
	unsigned done, skipped;
};

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
	(void)sig;
	s_stop = 1;
}

#define S_A(f) offsetof(struct s_args, f)

static const struct nb_optdef s_opts[] = {
    {"var", NB_OPTK_LIST, S_A(vars), 0, 0, "NAME=VALUE", "set a variable of the runbook", false},
    {"inventory", NB_OPTK_STR, S_A(inventory_path), 0, 0, "FILE",
     "the inventory (default ~/.netblame/inventory.yaml)", false},
    {"node", NB_OPTK_LIST, S_A(node_specs), 0, 0, "SPEC",
     "name=N,endpoint=E[,rx-iface=IF,tx-iface=IF,server-key=FILE]: the nodes, instead of the "
     "inventory",
     false},
    {"json", NB_OPTK_STR, S_A(json_path), 0, 0, "FILE|-", "write the combined JSON report", false},
    {"html", NB_OPTK_STR, S_A(html_path), 0, 0, "FILE", "write the combined report as HTML", false},
    {"logs", NB_OPTK_STR, S_A(logs_dir), 0, 0, "DIR",
     "keep each step's output and report in DIR (default: a temporary folder, removed)", false},
    {"check", NB_OPTK_FLAG, S_A(check), 0, 0, NULL,
     "check the runbook, variables, nodes and tools; print the steps; run nothing", false},
    {"insecure", NB_OPTK_FLAG, S_A(insecure), 0, 0, NULL, "no CURVE (labs only)", false},
    {"key", NB_OPTK_STR, S_A(key_path), 0, 0, "FILE", "the coordinator's secret key", false},
    {"quiet", NB_OPTK_FLAG, S_A(quiet), 0, 0, NULL,
     "no progress line on stderr (shown only on a terminal)", false},
    {"help", NB_OPTK_FLAG, S_A(help), 0, 0, NULL, "show this help", false},
};
#define S_NOPTS (sizeof(s_opts) / sizeof(s_opts[0]))

static void s_usage(FILE *f)
{
	fprintf(f, "usage: netblame runbook FILE [--var NAME=VALUE]... [--inventory FILE | --node "
		   "SPEC...]\n"
		   "         [--json FILE|-] [--html FILE] [--logs DIR] [--check] [--quiet]\n"
		   "         [--insecure | --key SECRET-KEY-FILE]\n"
		   "Runs the steps of a runbook (YAML: vars, steps of trace, run, wait, verdict, "
		   "each with\nan optional 'when' condition on earlier results); see "
		   "deploy/runbooks/.\n"
		   "exit: the final verdict's code (0 HEALTHY, 10 NETWORK, 11 NODE_A, 12 NODE_B, "
		   "13 DEST,\n      15 INCONCLUSIVE; 0 when no step gave one), 1 a step failed, "
		   "2 usage error\n      (bad runbook, variable, node or tool), 130 interrupted\n\n"
		   "flags:\n");
	nb_opts_help_table(f, s_opts, S_NOPTS);
}

static uint64_t s_now(void)
{
	return nb_mono_ns();
}

static uint64_t s_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- what exists */

static bool s_node_ok(void *ctx, const char *name)
{
	const struct s_rb *r = ctx;

	if (r->n_nodes) {
		for (int i = 0; i < r->n_nodes; i++)
			if (!strcmp(r->nodes[i].name, name))
				return true;
		return false;
	}
	return nb_inventory_find(r->inv, name) != NULL;
}

static bool s_tool_ok(void *ctx, const char *name)
{
	const struct s_rb *r = ctx;

	for (int i = 0; i < r->n_tools; i++)
		if (!strcmp(r->tools[i], name))
			return true;
	return false;
}

/* The agent binary next to this one (both are installed together), else from PATH. */
static void s_agent_path(const struct s_rb *r, char *buf, size_t len)
{
	const char *slash = strrchr(r->self, '/');

	if (slash) {
		snprintf(buf, len, "%.*s/netblame-agent", (int)(slash - r->self), r->self);
		if (access(buf, X_OK) == 0)
			return;
	}
	snprintf(buf, len, "netblame-agent");
}

/* The tool names, from the agent's own table: the runbook keeps no copy of the list. */
static int s_load_tools(struct s_rb *r)
{
	char agent[PATH_MAX + 32], line[128];
	int fds[2], status;
	pid_t pid;
	FILE *f;

	s_agent_path(r, agent, sizeof(agent));
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(fds[1], 1);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 2);
		}
		execlp(agent, "netblame-agent", "--list-tools", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		char **nt;

		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		nt = realloc(r->tools, sizeof(*nt) * (size_t)(r->n_tools + 1));
		if (!nt)
			break;
		r->tools = nt;
		r->tools[r->n_tools] = strdup(line);
		if (r->tools[r->n_tools])
			r->n_tools++;
	}
	if (f)
		fclose(f);
	else
		close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !r->n_tools) {
		nb_cerr("cannot list the tools to check the runbook's: '%s --list-tools' failed",
			agent);
		return -ENOENT;
	}
	return 0;
}

/* ---------------------------------------------------------------- arguments */

static int s_setup(struct s_rb *r, int argc, char **argv)
{
	struct nb_rb_check chk = {.node = s_node_ok, .tool = s_tool_ok, .ctx = r};
	char err[1024];
	ssize_t n;
	int rc;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			s_usage(stdout);
			return 1;
		}
		nb_cerr("runbook needs a FILE (see 'netblame runbook --help')");
		return -EINVAL;
	}
	r->file = argv[1];
	if (nb_opts_parse_table(s_opts, S_NOPTS, argc, argv, 2, &r->a, &r->a.help, err,
				sizeof(err))) {
		nb_cerr("%s (see 'netblame runbook --help')", err);
		return -EINVAL;
	}
	if (r->a.help) {
		s_usage(stdout);
		return 1;
	}
	if (r->a.insecure && r->a.key_path) {
		nb_cerr("give --insecure or --key, not both");
		return -EINVAL;
	}
	if (r->a.node_specs.n && r->a.inventory_path) {
		nb_cerr("give --node or --inventory, not both");
		return -EINVAL;
	}
	if (r->a.html_path && nb_report_path_check(r->a.html_path, err, sizeof(err))) {
		nb_cerr("--html: %s", err);
		return -EINVAL;
	}
	n = readlink("/proc/self/exe", r->self, sizeof(r->self) - 1);
	if (n <= 0) {
		nb_cerr("cannot find this program (/proc/self/exe): %s", strerror(errno));
		return -ENOENT;
	}
	r->self[n] = 0;
	for (int i = 0; i < r->a.node_specs.n; i++) {
		if (nb_node_spec_parse(r->a.node_specs.v[i], &r->nodes[i], err, sizeof(err))) {
			nb_cerr("%s", err);
			return -EINVAL;
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(r->nodes[j].name, r->nodes[i].name)) {
				nb_cerr("--node %s given twice", r->nodes[i].name);
				return -EINVAL;
			}
		r->n_nodes++;
	}
	if (!r->n_nodes && nb_coord_inventory(r->a.inventory_path, true, &r->inv))
		return -EINVAL;
	if (s_load_tools(r))
		return -ENOENT;
	rc = nb_runbook_load(r->file, r->a.vars.v, r->a.vars.n, &chk, &r->rb, err, sizeof(err));
	if (rc) {
		nb_cerr("%s", err[0] ? err : strerror(-rc));
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------- children */

struct s_argv {
	char *v[128];
	int n;
	char keep[16][1200]; /* strings made here */
	int nkeep;
};

static void s_push(struct s_argv *a, const char *s)
{
	if (a->n < (int)(sizeof(a->v) / sizeof(a->v[0])) - 1)
		a->v[a->n++] = (char *)s;
	a->v[a->n] = NULL;
}

static const char *s_keepf(struct s_argv *a, const char *fmt, const char *x, const char *y)
{
	char *k;

	if (a->nkeep >= 16)
		return "";
	k = a->keep[a->nkeep++];
	snprintf(k, sizeof(a->keep[0]), fmt, x, y);
	return k;
}

/* The options every child takes the same way: where nodes and keys come from. */
static void s_push_common(const struct s_rb *r, struct s_argv *a)
{
	if (r->a.inventory_path) {
		s_push(a, "--inventory");
		s_push(a, r->a.inventory_path);
	}
	if (r->a.insecure)
		s_push(a, "--insecure");
	if (r->a.key_path) {
		s_push(a, "--key");
		s_push(a, r->a.key_path);
	}
}

static const char *s_spec_of(const struct s_rb *r, const char *name)
{
	for (int i = 0; i < r->n_nodes; i++)
		if (!strcmp(r->nodes[i].name, name))
			return r->a.node_specs.v[i];
	return NULL;
}

static void s_push_flags(struct s_argv *a, const struct nb_rb_step *s)
{
	for (int i = 0; i < s->n_flags; i++) {
		s_push(a, s_keepf(a, "--%s%s", s->flags[i].name, ""));
		if (s->flags[i].value)
			s_push(a, s->flags[i].value);
	}
}

static void s_trace_argv(const struct s_rb *r, const struct nb_rb_step *s, const char *json,
			 struct s_argv *a)
{
	s_push(a, r->self);
	s_push(a, "trace");
	s_push(a, s->proto);
	s_push_flags(a, s);
	if (r->n_nodes) {
		for (int i = 0; i < 2; i++) {
			s_push(a, "--node");
			s_push(a, s_spec_of(r, s->on[i]));
		}
	} else {
		s_push(a, "--from");
		s_push(a, s->on[0]);
		s_push(a, "--to");
		s_push(a, s->on[1]);
	}
	s_push_common(r, a);
	s_push(a, "--json");
	s_push(a, json);
}

static void s_run_argv(const struct s_rb *r, const struct nb_rb_step *s, struct s_argv *a)
{
	char on[NB_RB_MAX_ON * (NB_INV_NAME_MAX + 1) + 1] = "";
	char dur[16];

	s_push(a, r->self);
	s_push(a, "run");
	s_push(a, s->tool);
	if (r->n_nodes) {
		for (int i = 0; i < s->n_on; i++) {
			s_push(a, "--node");
			s_push(a, s_spec_of(r, s->on[i]));
		}
	} else {
		for (int i = 0; i < s->n_on; i++)
			snprintf(on + strlen(on), sizeof(on) - strlen(on), "%s%s", i ? "," : "",
				 s->on[i]);
		s_push(a, "--on");
		s_push(a, s_keepf(a, "%s%s", on, ""));
	}
	s_push_common(r, a);
	snprintf(dur, sizeof(dur), "%u", s->duration_s);
	s_push(a, "--json");
	s_push(a, "--duration");
	s_push(a, s_keepf(a, "%s%s", dur, ""));
	s_push_flags(a, s);
}

static json_t *s_argv_json(const struct s_argv *a)
{
	json_t *arr = json_array();

	/* argv[0] is this program's path: "netblame" reads better and says the same. */
	json_array_append_new(arr, json_string("netblame"));
	for (int i = 1; i < a->n; i++)
		json_array_append_new(arr, json_string(a->v[i]));
	return arr;
}

/* A child's stderr, forwarded a line at a time under the step's name. */
struct s_lines {
	char buf[4096];
	size_t n;
	char last[512]; /* the last line, for a failure's reason */
};

static void s_lines_emit(struct s_lines *l, const char *step, const char *line, size_t len)
{
	nb_progress_hide(); /* drawn again below the line */
	fprintf(stderr, "  [%s] %.*s\n", step, (int)len, line);
	if (len) {
		snprintf(l->last, sizeof(l->last), "%.*s", (int)len, line);
	}
}

static void s_lines_feed(struct s_lines *l, const char *step, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' || l->n == sizeof(l->buf) - 1) {
			s_lines_emit(l, step, l->buf, l->n);
			l->n = 0;
			if (data[i] == '\n')
				continue;
		}
		l->buf[l->n++] = data[i];
	}
}

/* A run step's stdout: JSON lines, kept whole until the child ends. */
struct s_out {
	char *buf;
	size_t n, cap;
	bool over;
};

static void s_out_feed(struct s_out *o, const char *data, size_t len)
{
	if (o->over)
		return;
	if (o->n + len + 1 > o->cap) {
		size_t cap = (o->n + len + 1) * 2;
		char *nb;

		if (cap > 64u * S_MAX_LINE) {
			o->over = true;
			return;
		}
		nb = realloc(o->buf, cap);
		if (!nb) {
			o->over = true;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->n, data, len);
	o->n += len;
	o->buf[o->n] = 0;
}

struct s_child {
	int exit_code; /* -1: killed by a signal */
	int term_sig;
	bool timed_out;
	bool killed;
	uint64_t ns;
	char reason[512]; /* the last line on its stderr */
};

/* The progress line of the step running (r->cur). */
static void s_progress(const struct s_rb *r)
{
	const struct nb_rb_step *s = &r->rb->steps[r->cur];

	nb_progress_update_runbook((unsigned)r->cur + 1, (unsigned)r->rb->n_steps, s->name,
				   nb_rb_kind_name(s->kind), r->step_t0, r->done, r->skipped);
}

/*
 * Runs argv with stdout to out_path (or, with out, into out) and stderr forwarded; stops it
 * at the step's timeout: SIGINT (a trace then writes its report), SIGKILL S_GRACE_NS later.
 */
static int s_spawn(struct s_rb *r, const struct nb_rb_step *s, struct s_argv *a,
		   const char *out_path, struct s_out *out, struct s_child *ch)
{
	int errp[2], outp[2] = {-1, -1}, status = 0;
	uint64_t t0 = s_now(), deadline = t0 + (uint64_t)nb_rb_step_timeout(s) * 1000000000ull;
	struct s_lines lines = {.n = 0};
	bool sent_int = false, open_err = true, open_out = out != NULL;
	pid_t pid;

	memset(ch, 0, sizeof(*ch));
	if (pipe2(errp, O_CLOEXEC))
		return -errno;
	if (out && pipe2(outp, O_CLOEXEC)) {
		close(errp[0]);
		close(errp[1]);
		return -errno;
	}
	if (!r->first_step_ns)
		r->first_step_ns = s_wall();
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(errp[0]);
		close(errp[1]);
		if (out) {
			close(outp[0]);
			close(outp[1]);
		}
		return -e;
	}
	if (pid == 0) {
		int fd = out ? outp[1] : open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int devnull = open("/dev/null", O_RDONLY);

		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(errp[1], 2);
		if (devnull >= 0)
			dup2(devnull, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execv(a->v[0], a->v);
		dprintf(2, "cannot run %s: %s\n", a->v[0], strerror(errno));
		_exit(127);
	}
	close(errp[1]);
	if (out)
		close(outp[1]);
	s_progress(r); /* drawn at once, the step at 0.0s */
	for (;;) {
		struct pollfd pf[2];
		int np = 0, ierr = -1, iout = -1;
		uint64_t now = s_now();
		long ms;

		if ((s_stop || now >= deadline) && !sent_int) {
			ch->timed_out = !s_stop;
			kill(pid, SIGINT);
			sent_int = true;
			deadline = now + S_GRACE_NS;
		} else if (sent_int && now >= deadline && !ch->killed) {
			kill(pid, SIGKILL);
			ch->killed = true;
		}
		if (!open_err && !open_out)
			break;
		if (open_err) {
			pf[np] = (struct pollfd){.fd = errp[0], .events = POLLIN};
			ierr = np++;
		}
		if (open_out) {
			pf[np] = (struct pollfd){.fd = outp[0], .events = POLLIN};
			iout = np++;
		}
		ms = deadline > now ? (long)((deadline - now) / 1000000ull) + 1 : 0;
		if (ms > 200)
			ms = 200;
		if (poll(pf, (nfds_t)np, (int)ms) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < np; i++) {
			char buf[8192];
			ssize_t n;

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(pf[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (i == ierr)
					open_err = false;
				else
					open_out = false;
				continue;
			}
			if (i == ierr)
				s_lines_feed(&lines, s->name, buf, (size_t)n);
			else if (i == iout)
				s_out_feed(out, buf, (size_t)n);
		}
		s_progress(r);
	}
	nb_progress_hide();
	/* Both pipes closed: the child is gone or closing; bound the wait all the same. */
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		if (s_now() >= deadline && !ch->killed) {
			if (!sent_int) {
				kill(pid, SIGINT);
				sent_int = true;
				ch->timed_out = !s_stop;
				deadline = s_now() + S_GRACE_NS;
			} else {
				kill(pid, SIGKILL);
				ch->killed = true;
			}
		}
		usleep(20000);
	}
	close(errp[0]);
	if (out)
		close(outp[0]);
	if (lines.n)
		s_lines_emit(&lines, s->name, lines.buf, lines.n);
	snprintf(ch->reason, sizeof(ch->reason), "%s", lines.last);
	ch->ns = s_now() - t0;
	if (WIFEXITED(status)) {
		ch->exit_code = WEXITSTATUS(status);
	} else {
		ch->exit_code = -1;
		ch->term_sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
	return 0;
}

/* ---------------------------------------------------------------- results */

static bool s_is_verdict_code(int code)
{
	for (int v = NB_VERDICT_HEALTHY; v <= NB_VERDICT_INCONCLUSIVE; v++)
		if (nb_verdict_exit_code(v) == code)
			return true;
	return false;
}

static int s_verdict_code(const char *name)
{
	for (int v = NB_VERDICT_HEALTHY; v <= NB_VERDICT_INCONCLUSIVE; v++)
		if (!strcmp(nb_verdict_name(v), name))
			return nb_verdict_exit_code(v);
	return NB_CEXIT_ERR;
}

static void s_add_count(json_t *obj, const char *key, json_int_t n)
{
	json_t *v = json_object_get(obj, key);

	json_object_set_new(obj, key, json_integer((v ? json_integer_value(v) : 0) + n));
}

static json_t *s_node_result(json_t *nodes, const char *name)
{
	json_t *n = json_object_get(nodes, name);

	if (n)
		return n;
	n = json_pack("{s:n, s:s, s:i, s:i, s:{}, s:i, s:[], s:i, s:i, s:i, s:n}", "exit_code",
		      "reason", "", "records", 0, "drops", 0, "reasons", "anomalies", 0,
		      "anomaly_pairs", "max_us", 0, "packets", 0, "max_total_ns", 0, "stack");
	json_object_set_new(nodes, name, n);
	return n;
}

static void s_set_int(json_t *o, const char *k, json_int_t v)
{
	json_object_set_new(o, k, json_integer(v));
}

static json_int_t s_int(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* A stack to show with the drops: the first drop's, or the summary's biggest. */
static void s_take_stack(json_t *n, const json_t *rec, json_int_t weight)
{
	json_t *stack = json_object_get(rec, "stack");

	if (!json_is_array(stack) || !json_array_size(stack))
		return;
	if (!json_is_null(json_object_get(n, "stack")) && weight <= s_int(n, "stack_count"))
		return;
	json_object_set_new(n, "stack", json_deep_copy(stack));
	json_object_set(n, "stack_reason", json_object_get(rec, "reason"));
	json_object_set(n, "stack_location", json_object_get(rec, "location"));
	json_object_set(n, "stack_interface", json_object_get(rec, "interface"));
	s_set_int(n, "stack_count", weight);
}

/*
 * One JSON line of a run step into its node's facts: drops and their reasons (eth_drop's drop
 * records, the summary tool's intervals), histogram facts (the latency summaries' final
 * summary: the highest non-empty bucket, the buckets marked anomalous) and packets (the
 * details tools).
 */
static void s_digest(json_t *nodes, const json_t *rec)
{
	const char *node = json_string_value(json_object_get(rec, "node"));
	const char *type = json_string_value(json_object_get(rec, "type"));
	json_t *n, *arr, *e;
	size_t i;

	if (!node)
		node = "?";
	n = s_node_result(nodes, node);
	s_set_int(n, "records", s_int(n, "records") + 1);
	if (!type)
		return;
	if (!strcmp(type, "end")) {
		json_object_set(n, "exit_code", json_object_get(rec, "exit_code"));
		json_object_set(n, "reason", json_object_get(rec, "reason"));
	} else if (!strcmp(type, "drop")) {
		const char *reason = json_string_value(json_object_get(rec, "reason"));

		s_set_int(n, "drops", s_int(n, "drops") + 1);
		s_add_count(json_object_get(n, "reasons"), reason ? reason : "?", 1);
		s_take_stack(n, rec, 1);
	} else if (!strcmp(type, "interval") && json_is_integer(json_object_get(rec, "total"))) {
		s_set_int(n, "drops", s_int(n, "drops") + s_int(rec, "total"));
		arr = json_object_get(rec, "stacks");
		json_array_foreach(arr, i, e)
		{
			const char *reason = json_string_value(json_object_get(e, "reason"));

			s_add_count(json_object_get(n, "reasons"), reason ? reason : "?",
				    s_int(e, "count"));
			s_take_stack(n, e, s_int(e, "count"));
		}
	} else if (!strcmp(type, "summary") && json_is_array(json_object_get(rec, "pairs"))) {
		json_t *pair;

		json_array_foreach(json_object_get(rec, "pairs"), i, pair)
		{
			size_t j;
			json_t *b;
			bool anomalous = false;

			json_array_foreach(json_object_get(pair, "buckets"), j, b)
			{
				if (s_int(b, "count") <= 0)
					continue;
				if (s_int(b, "high_us") > s_int(n, "max_us"))
					s_set_int(n, "max_us", s_int(b, "high_us"));
				if (json_is_true(json_object_get(b, "anomaly"))) {
					s_set_int(n, "anomalies", s_int(n, "anomalies") + 1);
					anomalous = true;
				}
			}
			if (anomalous) {
				char p[160];

				snprintf(p, sizeof(p), "%s -> %s",
					 json_string_value(json_object_get(pair, "from")) ?: "?",
					 json_string_value(json_object_get(pair, "to")) ?: "?");
				json_array_append_new(json_object_get(n, "anomaly_pairs"),
						      json_string(p));
			}
		}
	} else if (!strcmp(type, "packet") || !strcmp(type, "echo")) {
		json_int_t t = s_int(rec, "total_ns") ?: s_int(rec, "total_rtt_ns");

		s_set_int(n, "packets", s_int(n, "packets") + 1);
		if (t > s_int(n, "max_total_ns"))
			s_set_int(n, "max_total_ns", t);
	}
}

/* The run step's result: per node, and the same facts over all its nodes at the top. */
static json_t *s_run_result(const struct nb_rb_step *s, const struct s_out *out, int exit_code)
{
	json_t *res = json_object(), *nodes = json_object(), *lines = json_array(), *reasons;
	const char *k;
	json_t *n;
	json_int_t unparsed = 0, kept = 0, total = 0;

	for (int i = 0; i < s->n_on; i++)
		s_node_result(nodes, s->on[i]);
	for (char *p = out->buf, *e; p && *p; p = e) {
		json_t *rec;

		e = strchr(p, '\n');
		if (e)
			*e++ = 0;
		else
			e = p + strlen(p);
		if (!*p)
			continue;
		rec = json_loads(p, 0, NULL);
		if (!json_is_object(rec)) {
			unparsed++;
			json_decref(rec);
			continue;
		}
		s_digest(nodes, rec);
		total++;
		if (kept < S_MAX_LINES) {
			json_array_append_new(lines, rec);
			kept++;
		} else {
			json_decref(rec);
		}
	}
	reasons = json_object();
	json_object_set_new(res, "exit_code", json_integer(exit_code));
	s_set_int(res, "drops", 0);
	s_set_int(res, "anomalies", 0);
	s_set_int(res, "max_us", 0);
	s_set_int(res, "packets", 0);
	s_set_int(res, "max_total_ns", 0);
	json_object_foreach(nodes, k, n)
	{
		const char *rk;
		json_t *rv;

		s_set_int(res, "drops", s_int(res, "drops") + s_int(n, "drops"));
		s_set_int(res, "anomalies", s_int(res, "anomalies") + s_int(n, "anomalies"));
		s_set_int(res, "packets", s_int(res, "packets") + s_int(n, "packets"));
		if (s_int(n, "max_us") > s_int(res, "max_us"))
			s_set_int(res, "max_us", s_int(n, "max_us"));
		if (s_int(n, "max_total_ns") > s_int(res, "max_total_ns"))
			s_set_int(res, "max_total_ns", s_int(n, "max_total_ns"));
		json_object_foreach(json_object_get(n, "reasons"), rk, rv)
		    s_add_count(reasons, rk, json_integer_value(rv));
	}
	json_object_set_new(res, "reasons", reasons);
	json_object_set_new(res, "nodes", nodes);
	json_object_set_new(res, "lines", lines);
	s_set_int(res, "records", total);
	if (total > kept)
		s_set_int(res, "lines_left_out", total - kept);
	if (unparsed)
		s_set_int(res, "unparsed_lines", unparsed);
	if (out->over)
		json_object_set_new(res, "output_truncated", json_true());
	return res;
}

/* Every status in counts, 0 when the trace saw none, so "counts.X < 5" means what it says. */
static void s_fill_counts(json_t *res)
{
	json_t *counts = json_object_get(res, "counts");

	if (!json_is_object(counts))
		return;
	for (int st = 0; st < NB_ST__COUNT; st++)
		if (!json_object_get(counts, nb_status_name(st)))
			json_object_set_new(counts, nb_status_name(st), json_integer(0));
}

/* ---------------------------------------------------------------- text */

static void s_describe(const struct nb_rb_step *s, char *buf, size_t len)
{
	const char *src = "", *dst = "";
	size_t o;

	switch (s->kind) {
	case NB_RB_TRACE:
		for (int i = 0; i < s->n_flags; i++) {
			if (!strcmp(s->flags[i].name, "src-ip"))
				src = s->flags[i].value;
			if (!strcmp(s->flags[i].name, "dst-ip"))
				dst = s->flags[i].value;
		}
		snprintf(buf, len, "trace %s %s -> %s, %s -> %s", s->proto, src, dst, s->on[0],
			 s->on[1]);
		break;
	case NB_RB_RUN:
		snprintf(buf, len, "run %s on ", s->tool);
		for (int i = 0; i < s->n_on; i++) {
			o = strlen(buf);
			snprintf(buf + o, len - o, "%s%s", i ? "," : "", s->on[i]);
		}
		o = strlen(buf);
		snprintf(buf + o, len - o, " for %us", s->duration_s);
		break;
	case NB_RB_WAIT:
		snprintf(buf, len, "wait %us", s->wait_s);
		break;
	case NB_RB_VERDICT:
		snprintf(buf, len, "verdict %s", s->verdict);
		break;
	}
}

static void s_print_stack(const json_t *n)
{
	const json_t *stack = json_object_get(n, "stack");
	json_t *f;
	size_t i;

	if (!json_is_array(stack))
		return;
	printf("        stack of %s", json_string_value(json_object_get(n, "stack_reason")) ?: "?");
	if (json_is_string(json_object_get(n, "stack_location")))
		printf(" at %s", json_string_value(json_object_get(n, "stack_location")));
	printf(" on %s:\n", json_string_value(json_object_get(n, "stack_interface")) ?: "?");
	json_array_foreach(stack, i, f)
	{
		if (i >= 12) {
			printf("          ... (%zu frames)\n", json_array_size(stack));
			break;
		}
		printf("          %s\n", json_string_value(f) ?: "?");
	}
}

static void s_print_run(const json_t *res)
{
	const char *name;
	json_t *n;

	json_object_foreach(json_object_get(res, "nodes"), name, n)
	{
		const char *rk;
		json_t *rv, *p;
		size_t i;
		int k = 0;

		if (json_is_integer(json_object_get(n, "exit_code")))
			printf("      %s: exit %lld", name, (long long)s_int(n, "exit_code"));
		else
			printf("      %s: no end record", name);
		if (json_string_length(json_object_get(n, "reason")))
			printf(" (%s)", json_string_value(json_object_get(n, "reason")));
		if (s_int(n, "drops") || json_object_size(json_object_get(n, "reasons"))) {
			printf("; %lld drops:", (long long)s_int(n, "drops"));
			json_object_foreach(json_object_get(n, "reasons"), rk, rv) printf(
			    "%s %s %lld", k++ ? "," : "", rk, (long long)json_integer_value(rv));
		}
		if (s_int(n, "max_us"))
			printf("; slowest bucket up to %lld us", (long long)s_int(n, "max_us"));
		if (s_int(n, "anomalies")) {
			printf("; ANOMALY in");
			json_array_foreach(json_object_get(n, "anomaly_pairs"), i, p)
			    printf("%s %s", i ? "," : "", json_string_value(p));
		}
		if (s_int(n, "packets"))
			printf("; %lld packets, slowest %.3f ms", (long long)s_int(n, "packets"),
			       (double)s_int(n, "max_total_ns") / 1e6);
		printf("\n");
		s_print_stack(n);
	}
}

static void s_print_trace(const json_t *res)
{
	const json_t *rtt = json_object_get(json_object_get(res, "latency"), "network_round_trip");
	const char *k;
	json_t *v, *p;
	size_t i;
	int n = 0;

	printf("      verdict %s: %s\n      counts:",
	       json_string_value(json_object_get(res, "verdict")) ?: "?",
	       json_string_value(json_object_get(res, "verdict_detail")) ?: "");
	json_object_foreach(json_object_get(res, "counts"), k, v) if (json_integer_value(v))
	    printf("%s %s %lld", n++ ? "," : "", k, (long long)json_integer_value(v));
	if (!n)
		printf(" none");
	printf("\n");
	/* The trace's own evidence: the first packet a node was seen to drop, with its stack. */
	json_array_foreach(json_object_get(res, "packets"), i, p)
	{
		const json_t *d = json_object_get(p, "drop");

		if (!json_is_true(json_object_get(d, "seen")))
			continue;
		printf("      drop seen on %s: %s at %s on %s (%s)\n",
		       json_string_value(json_object_get(d, "node")) ?: "?",
		       json_string_value(json_object_get(d, "reason")) ?: "?",
		       json_string_value(json_object_get(d, "location")) ?: "?",
		       json_string_value(json_object_get(d, "interface")) ?: "?",
		       json_string_value(json_object_get(p, "status")) ?: "?");
		break;
	}
	if (json_is_integer(json_object_get(rtt, "p50_ns")))
		printf("      network round trip: p50 %.3f ms, p99 %.3f ms\n",
		       (double)s_int(rtt, "p50_ns") / 1e6, (double)s_int(rtt, "p99_ns") / 1e6);
}

/* ---------------------------------------------------------------- the steps */

static const char *s_status_text(int code)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "exit %d", code);
	return buf;
}

/* Runs step i; returns false when the runbook must stop (the step failed). */
static bool s_exec(struct s_rb *r, int i, json_t *js)
{
	const struct nb_rb_step *s = &r->rb->steps[i];
	struct s_argv a = {.n = 0};
	struct s_child ch = {0};
	char path[PATH_MAX + 64], out_path[PATH_MAX + 64];
	json_t *res = NULL;
	const char *status = "ok";
	char why[640] = "";
	int rc;

	switch (s->kind) {
	case NB_RB_WAIT: {
		uint64_t end = s_now() + (uint64_t)s->wait_s * 1000000000ull, t0 = s_now();

		if (!r->first_step_ns)
			r->first_step_ns = s_wall();
		while (!s_stop && s_now() < end) {
			uint64_t left = end - s_now();

			s_progress(r);
			usleep(left > 100000000ull ? 100000 : (useconds_t)(left / 1000));
		}
		nb_progress_hide();
		json_object_set_new(js, "duration_ms",
				    json_integer((json_int_t)((s_now() - t0) / 1000000ull)));
		if (s_stop)
			status = "interrupted";
		json_object_set_new(js, "status", json_string(status));
		printf("      -> %s\n", status);
		return !s_stop;
	}
	case NB_RB_VERDICT:
		if (!r->first_step_ns)
			r->first_step_ns = s_wall();
		r->verdict = s->verdict;
		r->verdict_step = s->name;
		res = json_pack("{s:s}", "verdict", s->verdict);
		r->results[i] = res;
		json_object_set(js, "result", res);
		json_object_set_new(js, "status", json_string("ok"));
		printf("      -> verdict %s\n", s->verdict);
		return true;
	case NB_RB_TRACE:
		snprintf(path, sizeof(path), "%s/%02d-%s.json", r->dir, i + 1, s->name);
		snprintf(out_path, sizeof(out_path), "%s/%02d-%s.out", r->dir, i + 1, s->name);
		unlink(path);
		s_trace_argv(r, s, path, &a);
		json_object_set_new(js, "command", s_argv_json(&a));
		rc = s_spawn(r, s, &a, out_path, NULL, &ch);
		break;
	case NB_RB_RUN: {
		struct s_out out = {0};
		FILE *f;

		snprintf(out_path, sizeof(out_path), "%s/%02d-%s.jsonl", r->dir, i + 1, s->name);
		s_run_argv(r, s, &a);
		json_object_set_new(js, "command", s_argv_json(&a));
		rc = s_spawn(r, s, &a, NULL, &out, &ch);
		f = fopen(out_path, "w");
		if (f) {
			if (out.buf)
				fputs(out.buf, f);
			fclose(f);
		}
		if (!rc)
			res = s_run_result(s, &out, ch.exit_code);
		free(out.buf);
		break;
	}
	default:
		return false;
	}
	if (rc) {
		printf("      -> failed: cannot start it: %s\n", strerror(-rc));
		json_object_set_new(js, "status", json_string("failed"));
		json_object_set_new(js, "why_failed", json_string(strerror(-rc)));
		return false;
	}
	json_object_set_new(js, "duration_ms", json_integer((json_int_t)(ch.ns / 1000000ull)));
	json_object_set_new(js, "exit_code",
			    ch.exit_code >= 0 ? json_integer(ch.exit_code) : json_null());
	json_object_set_new(js, "timed_out", json_boolean(ch.timed_out));
	if (s->kind == NB_RB_TRACE) {
		bool verdict_exit = ch.exit_code >= 0 && s_is_verdict_code(ch.exit_code);
		json_error_t jerr;

		res = verdict_exit ? json_load_file(path, 0, &jerr) : NULL;
		if (json_is_object(res) && json_is_string(json_object_get(res, "verdict"))) {
			s_fill_counts(res);
			json_object_set_new(res, "exit_code", json_integer(ch.exit_code));
		} else {
			json_decref(res);
			res = NULL;
		}
	}
	if (ch.exit_code < 0)
		snprintf(why, sizeof(why), "killed by signal %d%s", ch.term_sig,
			 ch.timed_out ? " after its timeout" : "");
	else if (s->kind == NB_RB_TRACE && !res)
		snprintf(why, sizeof(why), "%s, no report%s%s", s_status_text(ch.exit_code),
			 ch.reason[0] ? ": " : "", ch.reason);
	else if (s->kind == NB_RB_RUN && ch.exit_code != 0)
		snprintf(why, sizeof(why), "%s%s%s", s_status_text(ch.exit_code),
			 ch.reason[0] ? ": " : "", ch.reason);
	if (why[0])
		status = "failed";
	else if (ch.timed_out)
		status = "timeout";
	else if (s_stop)
		status = "interrupted";
	json_object_set_new(js, "status", json_string(status));
	if (why[0])
		json_object_set_new(js, "why_failed", json_string(why));
	if (res) {
		r->results[i] = res;
		json_object_set(js, "result", res);
	}
	printf("      -> %s in %.1fs", status, (double)ch.ns / 1e9);
	if (ch.timed_out)
		printf(" (stopped at its timeout, %us)", nb_rb_step_timeout(s));
	if (why[0])
		printf(": %s", why);
	printf("\n");
	if (res && s->kind == NB_RB_TRACE) {
		s_print_trace(res);
		r->verdict = json_string_value(json_object_get(res, "verdict"));
		r->verdict_step = s->name;
	} else if (res) {
		s_print_run(res);
	}
	return !why[0] && !s_stop;
}

static void s_print_check(const struct s_rb *r)
{
	printf("runbook %s: %s: %d steps, OK\n", r->rb->name, r->file, r->rb->n_steps);
	for (int i = 0; i < r->rb->n_vars; i++)
		printf("  var %s = %s%s\n", r->rb->vars[i].name, r->rb->vars[i].value,
		       r->rb->vars[i].given ? "" : " (default)");
	for (int i = 0; i < r->rb->n_steps; i++) {
		const struct nb_rb_step *s = &r->rb->steps[i];
		char desc[512];

		s_describe(s, desc, sizeof(desc));
		printf("  [%d] %s (line %d): %s%s%s\n", i + 1, s->name, s->line, desc,
		       s->when ? ", when " : "", s->when ? s->when_text : "");
	}
}

static json_t *s_vars_json(const struct nb_runbook *rb)
{
	json_t *o = json_object();

	for (int i = 0; i < rb->n_vars; i++)
		json_object_set_new(o, rb->vars[i].name, json_string(rb->vars[i].value));
	return o;
}

static int s_execute(struct s_rb *r, json_t *report)
{
	const struct nb_runbook *rb = r->rb;
	bool go = true, failed = false;
	int code;

	printf("runbook %s: %s, %d steps\n", rb->name, r->file, rb->n_steps);
	nb_progress_begin(r->a.quiet);
	for (int i = 0; i < rb->n_steps; i++) {
		const struct nb_rb_step *s = &rb->steps[i];
		json_t *js = json_pack("{s:s, s:s, s:i}", "name", s->name, "kind",
				       nb_rb_kind_name(s->kind), "line", s->line);
		char desc[512], why[640] = "";
		bool run;

		json_array_append_new(r->jsteps, js);
		s_describe(s, desc, sizeof(desc));
		json_object_set_new(js, "what", json_string(desc));
		if (!go) {
			json_object_set_new(js, "status", json_string("not run"));
			json_object_set_new(
			    js, "why",
			    json_string(failed ? "an earlier step failed" : "interrupted"));
			printf("[%d/%d] %s (%s): not run\n", i + 1, rb->n_steps, s->name, desc);
			continue;
		}
		run = nb_rb_cond_eval(s->when, r->results, why, sizeof(why));
		if (!s->when) {
			json_object_set_new(js, "why", json_string("always"));
			printf("[%d/%d] %s (%s)\n", i + 1, rb->n_steps, s->name, desc);
		} else {
			char line[1400];

			snprintf(line, sizeof(line), "%s: %s is %s (%s)",
				 run ? "chosen" : "skipped", s->when_text, run ? "true" : "false",
				 why);
			json_object_set_new(js, "why", json_string(line));
			printf("[%d/%d] %s (%s): %s\n", i + 1, rb->n_steps, s->name, desc, line);
		}
		if (!run) {
			json_object_set_new(js, "status", json_string("skipped"));
			r->skipped++;
			continue;
		}
		fflush(stdout);
		r->cur = i;
		r->step_t0 = s_now();
		nb_progress_changed(); /* the new step's line at once, not the old one's */
		if (!s_exec(r, i, js)) {
			go = false;
			failed = !s_stop;
		}
		r->done++;
		fflush(stdout);
	}
	nb_progress_end();
	if (failed)
		code = NB_CEXIT_ERR;
	else if (s_stop)
		code = S_EXIT_INTERRUPTED;
	else
		code = r->verdict ? s_verdict_code(r->verdict) : NB_CEXIT_OK;
	if (r->verdict)
		printf("Verdict: %s (from step %s)", r->verdict, r->verdict_step);
	else
		printf("Verdict: none (no step gave one)");
	printf("; exit %d%s\n", code, failed ? " (a step failed)" : s_stop ? " (interrupted)" : "");
	json_object_set_new(report, "runbook", json_string(rb->name));
	json_object_set_new(report, "file", json_string(r->file));
	if (rb->description)
		json_object_set_new(report, "description", json_string(rb->description));
	json_object_set_new(report, "vars", s_vars_json(rb));
	json_object_set(report, "steps", r->jsteps);
	json_object_set_new(report, "verdict", r->verdict ? json_string(r->verdict) : json_null());
	json_object_set_new(report, "verdict_step",
			    r->verdict_step ? json_string(r->verdict_step) : json_null());
	json_object_set_new(report, "failed", json_boolean(failed));
	json_object_set_new(report, "interrupted", json_boolean(s_stop));
	json_object_set_new(report, "exit_code", json_integer(code));
	json_object_set_new(report, "first_step_ns", json_integer((json_int_t)r->first_step_ns));
	if (r->a.logs_dir)
		json_object_set_new(report, "logs", json_string(r->dir));
	return code;
}

static int s_write_reports(struct s_rb *r, json_t *report)
{
	char err[512];

	if (r->a.json_path) {
		int rc =
		    !strcmp(r->a.json_path, "-")
			? json_dumpf(report, stdout, JSON_INDENT(1) | JSON_SORT_KEYS)
			: json_dump_file(report, r->a.json_path, JSON_INDENT(1) | JSON_SORT_KEYS);

		if (!strcmp(r->a.json_path, "-"))
			fputc('\n', stdout);
		if (rc) {
			nb_cerr("cannot write %s", r->a.json_path);
			return -EIO;
		}
	}
	if (r->a.html_path &&
	    nb_html_runbook(report, r->a.html_path, err, sizeof(err))) {
		nb_cerr("%s", err);
		return -EIO;
	}
	return 0;
}

/* The temporary folder: the step files this run made in it, then itself. */
static void s_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
}

int nb_cmd_runbook(int argc, char **argv)
{
	struct s_rb *r = calloc(1, sizeof(*r));
	struct sigaction sa = {.sa_handler = s_on_signal};
	json_t *report = NULL;
	int rc, code = NB_CEXIT_ERR;

	if (!r) {
		nb_cerr("out of memory");
		return NB_CEXIT_ERR;
	}
	rc = s_setup(r, argc, argv);
	if (rc) {
		code = rc == 1				? NB_CEXIT_OK
		       : rc == -EINVAL || rc == -ENOENT ? NB_CEXIT_USAGE
							: NB_CEXIT_ERR;
		goto out;
	}
	if (r->a.check) {
		s_print_check(r);
		code = NB_CEXIT_OK;
		goto out;
	}
	if (r->a.logs_dir) {
		if (mkdir(r->a.logs_dir, 0700) && errno != EEXIST) {
			nb_cerr("--logs %s: %s", r->a.logs_dir, strerror(errno));
			code = NB_CEXIT_USAGE;
			goto out;
		}
		snprintf(r->dir, sizeof(r->dir), "%s", r->a.logs_dir);
	} else {
		snprintf(r->dir, sizeof(r->dir), "/tmp/netblame-runbook.XXXXXX");
		if (!mkdtemp(r->dir)) {
			nb_cerr("cannot make a folder for the steps' files: %s", strerror(errno));
			goto out;
		}
		r->own_dir = true;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r->jsteps = json_array();
	report = json_object();
	code = s_execute(r, report);
	if (s_write_reports(r, report))
		code = NB_CEXIT_ERR;
out:
	if (r->own_dir)
		s_rmdir(r->dir);
	json_decref(report);
	json_decref(r->jsteps);
	for (int i = 0; i < NB_RB_MAX_STEPS; i++)
		json_decref(r->results[i]);
	for (int i = 0; i < r->n_tools; i++)
		free(r->tools[i]);
	free(r->tools);
	nb_runbook_free(&r->rb);
	nb_inventory_free(&r->inv);
	free(r);
	return code;
}
