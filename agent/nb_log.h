/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The agent's one logger: error and warning lines on stderr, prefixed with the program name,
 * and the one libbpf print callback. It depends on nothing else in agent/, so every module can
 * use it without calling back into main.c.
 */
#ifndef NB_LOG_H
#define NB_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* The prefix of every line: the tool's name, "netblame-agent serve", ... */
extern const char *nb_prog;
void nb_log_set_prog(const char *prog);

/* One error line on stderr, prefixed with the program name. */
void nb_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void nb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * While buf is set, error and warning lines go there instead of stderr (the first one only,
 * without the program name): serve checks a remote tool's flags with the tool's own code and
 * hands its message to the coordinator. NULL ends the capture.
 */
void nb_log_capture(char *buf, size_t len);

/* libbpf output goes through one callback; verbose shows its debug and warning lines. */
void nb_bpf_setup(bool verbose);

#endif /* NB_LOG_H */
