// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_opts.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum nb_opt_kind { S_STR, S_LONG, S_FLAG };

struct s_optdef {
	const char *name;
	enum nb_opt_kind kind;
	size_t off;
	long min, max; /* S_LONG bounds: every number a user gives is range checked */
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
	[NB_O_CLOCK_OFFSET_MS] = {"test-clock-offset-ms", S_LONG, S_O(clock_offset_ms),
				  -86400000L, 86400000L, "MS",
				  "testing only: add MS to every reported timestamp"},
	[NB_O_JSON] = {"json", S_FLAG, S_O(json), 0, 0, NULL, "one JSON object per line"},
	[NB_O_VERBOSE] = {"verbose", S_FLAG, S_O(verbose), 0, 0, NULL, "libbpf debug output"},
	[NB_O_HELP] = {"help", S_FLAG, S_O(help), 0, 0, NULL, "show this help"},
};

static void s_defaults(struct nb_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 1000;
	o->interval = 5;
	o->top = 10;
	o->ringbuf_kb = 1024;
}

static int s_parse_long(const struct s_optdef *d, const char *arg, long *out, char *err,
			size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < d->min || v > d->max) {
		snprintf(err, errlen, "invalid --%s '%s' (expected an integer %ld..%ld)", d->name,
			 arg, d->min, d->max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int nb_opts_parse(const struct nb_opt_use *use, size_t n_use, int argc, char **argv,
		  struct nb_opts *o, char *err, size_t errlen)
{
	struct option lo[NB_O__COUNT + 1];
	bool seen[NB_O__COUNT] = {};
	size_t i;
	int c, idx;

	s_defaults(o);
	if (n_use > NB_O__COUNT)
		return -EINVAL;
	for (i = 0; i < n_use; i++) {
		const struct s_optdef *d = &s_defs[use[i].id];

		lo[i] = (struct option){d->name, d->kind == S_FLAG ? no_argument : required_argument,
					NULL, (int)i};
	}
	lo[n_use] = (struct option){NULL, 0, NULL, 0};

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, &idx)) != -1) {
		const struct s_optdef *d;
		char *field;

		if (c == 'h') {
			o->help = true;
			continue;
		}
		if (c == '?') {
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
		if (c == ':') {
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		}
		d = &s_defs[use[c].id];
		field = (char *)o + d->off;
		seen[use[c].id] = true;
		switch (d->kind) {
		case S_STR:
			if (!*optarg) {
				snprintf(err, errlen, "--%s needs a non-empty value", d->name);
				return -EINVAL;
			}
			*(const char **)field = optarg;
			break;
		case S_LONG:
			if (s_parse_long(d, optarg, (long *)field, err, errlen))
				return -EINVAL;
			break;
		case S_FLAG:
			*(bool *)field = true;
			break;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (o->help)
		return 0;
	for (i = 0; i < n_use; i++) {
		if (use[i].required && !seen[use[i].id]) {
			snprintf(err, errlen, "missing required option --%s", s_defs[use[i].id].name);
			return -EINVAL;
		}
	}
	return 0;
}

void nb_opts_help(FILE *f, const struct nb_opt_use *use, size_t n_use)
{
	for (size_t i = 0; i < n_use; i++) {
		const struct s_optdef *d = &s_defs[use[i].id];
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", d->name, d->metavar ? " " : "",
			 d->metavar ? d->metavar : "");
		fprintf(f, "  %-28s %s%s\n", left, use[i].help ? use[i].help : d->help,
			use[i].required ? " (required)" : "");
	}
}
