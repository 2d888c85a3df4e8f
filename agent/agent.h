/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef NB_AGENT_H
#define NB_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_event.h"
#include "nb_flow.h"
#include "nb_opts.h"

/* Exit codes of the single-host tools. */
#define NB_EXIT_OK    0
#define NB_EXIT_ERR   1 /* runtime error: not root, kernel lacks a hook, ... */
#define NB_EXIT_USAGE 2 /* bad flags, bad address, unknown interface */

/* One error line on stderr, prefixed with the program name. */
void nb_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void nb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern const char *nb_prog;

/* ---- namespaces (nb_netns.c) ---- */
struct nb_netns {
	int fd;		/* -1: the agent's own namespace */
	uint32_t inum;	/* namespace inode, the in-kernel filter key */
	char name[128]; /* as given, for messages */
};
/* Open NAME (under /run/netns) or PATH; NULL means our own namespace. -errno with err set. */
int nb_netns_open(struct nb_netns *ns, const char *name_or_path, char *err, size_t errlen);
void nb_netns_close(struct nb_netns *ns);
/* Resolve interface names inside the namespace. -ENODEV with err naming the interface. */
int nb_netns_ifindex(const struct nb_netns *ns, char names[][16], int n, uint32_t *out,
		     char *err, size_t errlen);

/* ---- the packet-stage tracer (nb_tracer.c) ---- */
struct nb_tracer;
typedef int (*nb_event_fn)(const struct nb_event *e, void *ctx);

struct nb_tracer_cfg {
	struct nb_filter filter;
	uint32_t ringbuf_bytes; /* power of two; 0 = default */
};

/* Load, configure and attach; on any failure nothing stays attached. -errno with err set. */
int nb_tracer_open(struct nb_tracer **out, const struct nb_tracer_cfg *cfg, nb_event_fn fn,
		   void *ctx, char *err, size_t errlen);
/* Consume ready events (waiting up to timeout_ms). Returns the count or -errno. */
int nb_tracer_poll(struct nb_tracer *t, int timeout_ms);
/* Events the kernel could not deliver because the ring buffer was full. */
uint64_t nb_tracer_lost(const struct nb_tracer *t);
uint64_t nb_tracer_matched(const struct nb_tracer *t);
/* Monotonic time at which the last probe was attached. */
uint64_t nb_tracer_attach_ts(const struct nb_tracer *t);
int nb_tracer_fd(const struct nb_tracer *t);
void nb_tracer_destroy(struct nb_tracer **pt);

/* libbpf output goes through one callback; verbose shows debug lines. */
void nb_bpf_setup(bool verbose);

/* ---- tools ---- */
/* Parse argv with the tool's option table; 0, or an exit code after printing the error. */
int nb_tool_opts(const char *tool, int argc, char **argv, struct nb_opts *o);
int nb_tool_path_tracer(const char *tool, int argc, char **argv);
int nb_serve(int argc, char **argv);

/* Stop requested by SIGINT/SIGTERM. */
extern volatile int nb_stop;
void nb_install_signals(void);

#endif /* NB_AGENT_H */
