// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_opts.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_STR  NB_OPTK_STR
#define S_LONG NB_OPTK_LONG
#define S_FLAG NB_OPTK_FLAG

/* The shared table of the fourteen tools' flags: name, kind, field, range, metavar, help. */
struct s_optdef {
	const char *name;
	enum nb_optkind kind;
	size_t off;
	long min, max;
	const char *metavar;
	const char *help;
};

#define S_O(f) offsetof(struct nb_opts, f)

static const struct s_optdef s_defs[NB_O__COUNT] = {
	[NB_O_SRC_IP] = {"src-ip", S_STR, S_O(src_ip), 0, 0, "ADDR", "source IP address"},
	[NB_O_DST_IP] = {"dst-ip", S_STR, S_O(dst_ip), 0, 0, "ADDR", "destination IP address"},
	[NB_O_RX_IFACE] = {"rx-iface", S_STR, S_O(rx_iface), 0, 0, "IF[,IF..]",
			   "interface(s) where the request enters (comma list: bond slaves)"},
	[NB_O_TX_IFACE] = {"tx-iface", S_STR, S_O(tx_iface), 0, 0, "IF[,IF..]",
			   "interface(s) where the request leaves"},
	[NB_O_INTERFACE] = {"interface", S_STR, S_O(interface), 0, 0, "IF[,IF..]", "interface"},
	[NB_O_PHY_INTERFACE] = {"phy-interface", S_STR, S_O(phy_interface), 0, 0, "IF",
				"physical interface"},
	[NB_O_VM_INTERFACE] = {"vm-interface", S_STR, S_O(vm_interface), 0, 0, "IF",
			       "VM interface (vnet/tap)"},
	[NB_O_DEVICE] = {"device", S_STR, S_O(device), 0, 0, "IF",
			 "the device, by the name operators know (same as the tool's interface flag)"},
	[NB_O_PROTOCOL] = {"protocol", S_STR, S_O(protocol), 0, 0, "PROTO",
			   "protocol filter: tcp, udp, icmp or all"},
	[NB_O_DIRECTION] = {"direction", S_STR, S_O(direction), 0, 0, "DIR", "direction"},
	[NB_O_NETNS] = {"netns", S_STR, S_O(netns), 0, 0, "NAME|PATH",
			"trace inside this network namespace (ip netns name or /proc/PID/ns/net)"},
	[NB_O_SRC_PORT] = {"src-port", S_LONG, S_O(src_port), 1, 65535, "PORT", "source port"},
	[NB_O_DST_PORT] = {"dst-port", S_LONG, S_O(dst_port), 1, 65535, "PORT",
			   "destination port"},
	[NB_O_TIMEOUT_MS] = {"timeout-ms", S_LONG, S_O(timeout_ms), 1, 3600000, "MS",
			     "time after which a missing stage counts as a drop (default 1000)"},
	[NB_O_COUNT] = {"count", S_LONG, S_O(count), 1, LONG_MAX, "N",
			"exit after N packets have a final status"},
	[NB_O_DURATION] = {"duration", S_LONG, S_O(duration), 1, 31 * 86400, "S",
			   "exit after S seconds"},
	[NB_O_INTERVAL] = {"interval", S_LONG, S_O(interval), 1, 86400, "S",
			   "output interval in seconds (default 5)"},
	[NB_O_LATENCY_MS] = {"latency-ms", S_LONG, S_O(latency_ms), 0, 3600000, "MS",
			     "only show packets slower than this"},
	[NB_O_TOP] = {"top", S_LONG, S_O(top), 1, 100000, "N", "show the N largest entries"},
	[NB_O_RINGBUF_KB] = {"ringbuf-size", S_LONG, S_O(ringbuf_kb), 64, 1 << 20, "KB",
			     "BPF ring buffer size in KiB, a power of two (default 1024)"},
	[NB_O_QUEUE] = {"queue", S_LONG, S_O(queue), 0, 255, "N",
			"only this queue of the device (default: every queue)"},
	[NB_O_HOOKS] = {"hooks", S_STR, S_O(hooks), 0, 0, "auto|tcx|tracepoint",
			"stage hooks: tcx on the traced interfaces (Linux >= 6.6), the device "
			"tracepoints, or auto: tcx where available (default)"},
	[NB_O_CLOCK_OFFSET_MS] = {"test-clock-offset-ms", S_LONG, S_O(clock_offset_ms),
				  -86400000L, 86400000L, "MS",
				  "testing only: add MS to every reported timestamp"},
	[NB_O_JSON] = {"json", S_FLAG, S_O(json), 0, 0, NULL, "one JSON object per line"},
	[NB_O_DROPS] = {"drops", S_FLAG, S_O(drops), 0, 0, NULL,
			"watch drops on the traced interfaces: one after REQ_TX (qdisc, tc) is "
			"INTERNAL_DROP_REQ with its reason (about 10 MB more memory)"},
	[NB_O_VERBOSE] = {"verbose", S_FLAG, S_O(verbose), 0, 0, NULL, "libbpf debug output"},
	[NB_O_ALL] = {"all", S_FLAG, S_O(all), 0, 0, NULL, "print every packet, not only summaries"},
	[NB_O_HELP] = {"help", S_FLAG, S_O(help), 0, 0, NULL, "show this help"},
};

/* One-letter names, the few operators know from the tools this project replaces. */
static const char s_short[NB_O__COUNT] = {[NB_O_DEVICE] = 'd', [NB_O_QUEUE] = 'q'};

static void s_defaults(struct nb_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 1000;
	o->interval = 5;
	o->top = 10;
	o->ringbuf_kb = 1024;
	o->queue = -1;
}

int nb_parse_long(const char *str, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(str, &end, 10);
	if (errno || end == str || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * shorts[i]: the one-letter name of defs[i], 0 for none; shorts NULL: none at all.
 * check_required: false for one line of a file, which holds a part of the options only.
 */
static int s_parse_table(const struct nb_optdef *defs, const char *shorts_of, size_t n, int argc,
			 char **argv, int first, void *out, bool *help, bool check_required,
			 char *err, size_t errlen)
{
	struct option lo[NB_O__COUNT + 16];
	bool seen[NB_O__COUNT + 16] = {};
	char shorts[2 * (NB_O__COUNT + 16) + 4] = ":h";
	size_t i, ns = 2;
	int c;

	*help = false;
	if (n > NB_O__COUNT + 15 || first < 1 || first > argc) {
		snprintf(err, errlen, "invalid option table or argument vector");
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		lo[i] = (struct option){defs[i].name,
					defs[i].kind == NB_OPTK_FLAG ? no_argument : required_argument,
					NULL, (int)i + 256};
	lo[n] = (struct option){NULL, 0, NULL, 0};
	for (i = 0; shorts_of && i < n && ns + 3 < sizeof(shorts); i++) {
		if (!shorts_of[i])
			continue;
		shorts[ns++] = shorts_of[i];
		if (defs[i].kind != NB_OPTK_FLAG)
			shorts[ns++] = ':';
	}
	shorts[ns] = '\0';

	/*
	 * getopt keeps state between calls (the position inside a "-abc" cluster, the bounds of
	 * the arguments it is permuting), and only optind = 0 resets all of it; setting it to
	 * `first` would resume a previous parse that stopped early, in a vector that may be gone.
	 * A reset starts at index 1, so the vector is shifted to make argv[first] that index.
	 */
	argc -= first - 1;
	argv += first - 1;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct nb_optdef *d;
		char *field;

		/* A short name is its long option by another spelling. */
		for (i = 0; shorts_of && c > 0 && c < 256 && c != 'h' && c != ':' && c != '?' && i < n;
		     i++)
			if (shorts_of[i] == c)
				c = (int)i + 256;

		if (c == 'h' || (c >= 256 && !strcmp(defs[c - 256].name, "help"))) {
			*help = true;
			continue;
		}
		if (c == ':') {
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		}
		if (c < 256) {
			/*
			 * optopt: the unknown letter of a "-xyz" cluster, or the long option
			 * given a value it does not take; 0 for an unknown long option.
			 */
			if (optopt >= 256 && (size_t)optopt < n + 256)
				snprintf(err, errlen, "option '--%s' takes no value",
					 defs[optopt - 256].name);
			else if (optopt > 0 && optopt < 256)
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			else
				snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
		d = &defs[c - 256];
		field = (char *)out + d->off;
		seen[c - 256] = true;
		switch (d->kind) {
		case NB_OPTK_STR:
			if (!*optarg) {
				snprintf(err, errlen, "--%s needs a non-empty value", d->name);
				return -EINVAL;
			}
			*(const char **)field = optarg;
			break;
		case NB_OPTK_LONG:
			if (nb_parse_long(optarg, d->min, d->max, (long *)field)) {
				snprintf(err, errlen, "invalid --%s '%s' (expected an integer %ld..%ld)",
					 d->name, optarg, d->min, d->max);
				return -EINVAL;
			}
			break;
		case NB_OPTK_FLAG:
			*(bool *)field = true;
			break;
		case NB_OPTK_LIST: {
			struct nb_strlist *l = (struct nb_strlist *)field;

			if (l->n >= NB_OPTS_LIST_MAX || (d->max && l->n >= d->max)) {
				snprintf(err, errlen, "too many --%s", d->name);
				return -EINVAL;
			}
			l->v[l->n++] = optarg;
			break;
		}
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (*help || !check_required)
		return 0;
	for (i = 0; i < n; i++) {
		if (defs[i].required && !seen[i]) {
			snprintf(err, errlen, "missing required option --%s", defs[i].name);
			return -EINVAL;
		}
	}
	return 0;
}

int nb_opts_parse_table(const struct nb_optdef *defs, size_t n, int argc, char **argv, int first,
			void *out, bool *help, char *err, size_t errlen)
{
	return s_parse_table(defs, NULL, n, argc, argv, first, out, help, true, err, errlen);
}

static bool s_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The whole file, NUL-terminated, at most NB_OPTS_FILE_MAX bytes. */
static int s_read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t n;
	char *buf;
	int rc = 0;

	if (!f)
		return -errno;
	buf = malloc(NB_OPTS_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, NB_OPTS_FILE_MAX + 1, f);
	if (ferror(f))
		rc = -EIO;
	else if (n > NB_OPTS_FILE_MAX)
		rc = -EFBIG;
	fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

static const struct nb_optdef *s_find_def(const struct nb_optdef *defs, size_t n, const char *k,
					  size_t klen)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(defs[i].name) == klen && !strncmp(defs[i].name, k, klen))
			return &defs[i];
	return NULL;
}

int nb_opts_parse_file(const struct nb_optdef *defs, size_t n, const char *path, void *out,
		       char **keep, char *err, size_t errlen)
{
	char *raw = NULL, *arena, *w, *line, *next;
	size_t len = 0, lines = 1;
	unsigned lineno = 0;
	int rc;

	*keep = NULL;
	rc = s_read_file(path, &raw, &len);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path,
			 rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < len; i++)
		lines += raw[i] == '\n';
	/* Each line becomes "--KEY=VALUE\0": at most 3 bytes more than the line itself. */
	arena = malloc(len + 3 * lines + 1);
	if (!arena) {
		free(raw);
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	w = arena;
	for (line = raw; line; line = next) {
		char *k, *kend, *v, *vend, *argv[3];
		const struct nb_optdef *d;
		char msg[200];
		bool help, has_eq;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (strlen(line) != (size_t)(next ? next - 1 - line : (ptrdiff_t)(raw + len - line))) {
			snprintf(err, errlen, "%s:%u: a NUL byte in the line", path, lineno);
			rc = -EINVAL;
			goto out;
		}
		for (k = line; s_space(*k); k++)
			;
		if (!*k || *k == '#')
			continue;
		for (kend = k; *kend && !s_space(*kend) && *kend != '='; kend++)
			;
		d = s_find_def(defs, n, k, (size_t)(kend - k));
		if (!d || !strcmp(d->name, "help") || !strcmp(d->name, "config")) {
			snprintf(err, errlen, "%s:%u: unknown key '%.*s'", path, lineno,
				 (int)(kend - k > 64 ? 64 : kend - k), k);
			rc = -EINVAL;
			goto out;
		}
		for (v = kend; s_space(*v); v++)
			;
		has_eq = *v == '=';
		if (has_eq)
			for (v++; s_space(*v); v++)
				;
		for (vend = v + strlen(v); vend > v && s_space(vend[-1]); vend--)
			;
		argv[0] = (char *)path;
		argv[1] = w;
		argv[2] = NULL;
		w += sprintf(w, "--%s", d->name);
		/* A value where none belongs (or none where one does) is the parser's to refuse. */
		if (vend > v || has_eq) {
			*w++ = '=';
			memcpy(w, v, (size_t)(vend - v));
			w += vend - v;
		}
		*w++ = 0;
		if (s_parse_table(defs, NULL, n, 2, argv, 1, out, &help, false, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			rc = -EINVAL;
			goto out;
		}
	}
	*keep = arena;
	arena = NULL;
out:
	free(raw);
	free(arena);
	return rc;
}

static void s_help_table(FILE *f, const struct nb_optdef *defs, const char *shorts_of, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char left[64];
		char sh[8] = "";

		if (shorts_of && shorts_of[i])
			snprintf(sh, sizeof(sh), "-%c, ", shorts_of[i]);
		snprintf(left, sizeof(left), "%s--%s%s%s", sh, defs[i].name,
			 defs[i].metavar ? " " : "", defs[i].metavar ? defs[i].metavar : "");
		fprintf(f, "  %-28s %s%s\n", left, defs[i].help ? defs[i].help : "",
			defs[i].required ? " (required)" : "");
	}
}

void nb_opts_help_table(FILE *f, const struct nb_optdef *defs, size_t n)
{
	s_help_table(f, defs, NULL, n);
}

/* The tools' form: their subset of the shared table, as a table of its own. */
static size_t s_tool_defs(const struct nb_opt_use *use, size_t n_use, struct nb_optdef *d,
			  char *shorts)
{
	size_t i;

	for (i = 0; i < n_use && i < NB_O__COUNT; i++) {
		const struct s_optdef *s = &s_defs[use[i].id];

		d[i] = (struct nb_optdef){s->name, s->kind, s->off, s->min, s->max, s->metavar,
					  use[i].help ? use[i].help : s->help, use[i].required};
		shorts[i] = s_short[use[i].id];
	}
	return i;
}

int nb_opts_parse(const struct nb_opt_use *use, size_t n_use, int argc, char **argv,
		  struct nb_opts *o, char *err, size_t errlen)
{
	struct nb_optdef d[NB_O__COUNT];
	char shorts[NB_O__COUNT];
	size_t n = s_tool_defs(use, n_use, d, shorts);

	s_defaults(o);
	if (n_use > NB_O__COUNT)
		return -EINVAL;
	return s_parse_table(d, shorts, n, argc, argv, 1, o, &o->help, true, err, errlen);
}

void nb_opts_help(FILE *f, const struct nb_opt_use *use, size_t n_use)
{
	struct nb_optdef d[NB_O__COUNT];
	char shorts[NB_O__COUNT];
	size_t n = s_tool_defs(use, n_use, d, shorts);

	s_help_table(f, d, shorts, n);
}

/* 1: a tool option that takes a value, 0: a flag, -1: no tool option. "--x=v" is never asked. */
static int s_tool_takes_value(const char *arg)
{
	if (arg[0] == '-' && arg[1] && arg[1] != '-' && !arg[2]) {
		for (int i = 0; i < NB_O__COUNT; i++)
			if (s_short[i] == arg[1])
				return s_defs[i].kind != NB_OPTK_FLAG;
		return -1;
	}
	if (strncmp(arg, "--", 2))
		return -1;
	for (int i = 0; i < NB_O__COUNT; i++)
		if (!strcmp(s_defs[i].name, arg + 2))
			return s_defs[i].kind != NB_OPTK_FLAG;
	return -1;
}

static const struct nb_optdef *s_own(const struct nb_optdef *defs, size_t n, const char *arg,
				     bool *has_eq)
{
	const char *eq;

	*has_eq = false;
	if (!strcmp(arg, "-h"))
		return s_find_def(defs, n, "help", 4);
	if (strncmp(arg, "--", 2) || !arg[2])
		return NULL;
	arg += 2;
	eq = strchr(arg, '=');
	*has_eq = eq != NULL;
	return s_find_def(defs, n, arg, eq ? (size_t)(eq - arg) : strlen(arg));
}

int nb_opts_split(const struct nb_optdef *defs, size_t n, int argc, char **argv, int first,
		  char **own, int *n_own, const char **positional, char **rest, int *n_rest,
		  char *err, size_t errlen)
{
	int i;

	*n_own = *n_rest = 0;
	*positional = NULL;
	if (first < 1 || first > argc) {
		snprintf(err, errlen, "invalid argument vector");
		return -EINVAL;
	}
	own[(*n_own)++] = argv[0];
	for (i = first; i < argc; i++) {
		const char *a = argv[i];
		const struct nb_optdef *d;
		bool has_eq;
		int tv;

		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++)
				rest[(*n_rest)++] = argv[i];
			break;
		}
		d = s_own(defs, n, a, &has_eq);
		if (d) {
			own[(*n_own)++] = argv[i];
			if (d->kind == NB_OPTK_FLAG || has_eq)
				continue;
			if (i + 1 >= argc) {
				snprintf(err, errlen, "option '--%s' needs a value", d->name);
				return -EINVAL;
			}
			own[(*n_own)++] = argv[++i];
			continue;
		}
		if (a[0] != '-' || !a[1]) {
			if (!*positional)
				*positional = a;
			else
				rest[(*n_rest)++] = argv[i];
			continue;
		}
		rest[(*n_rest)++] = argv[i];
		tv = strchr(a, '=') ? 0 : s_tool_takes_value(a);
		if (tv == 1 && i + 1 < argc)
			rest[(*n_rest)++] = argv[++i];
	}
	return 0;
}
