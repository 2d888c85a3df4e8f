/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The live progress line on stderr (trace, run, runbook): shown only when
 * stderr is a terminal and --quiet was not given (nb_progress_wanted), redrawn in place with
 * '\r', its text renewed at most 4 times a second, and cleared at the end. nb_cerr and
 * nb_cwarn clear it before their line, and the next update draws it again below.
 */
#ifndef NB_COORD_PROGRESS_H
#define NB_COORD_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "nb_progress.h"

/* Starts the line (elapsed counts from now) when stderr is a terminal and !quiet. */
void nb_progress_begin(bool quiet);
bool nb_progress_active(void);
/*
 * New numbers; the text is renewed when 250 ms have passed, drawn when renewed or hidden. Each
 * command has its own (common/nb_progress.h has the lines): a trace (pairs 0 for one pair, else
 * the totals over that many) ...
 */
void nb_progress_update(unsigned pairs, uint64_t finals, const uint64_t counts[NB_ST__COUNT],
			uint64_t lost_events);
/* ... netblame run (its nodes by state, the output lines received) ... */
void nb_progress_update_run(unsigned starting, unsigned running, unsigned ended, uint64_t lines);
/* ... and a runbook (the step running, numbered from 1, since step_t0 on nb_mono_ns()). */
void nb_progress_update_runbook(unsigned step, unsigned n_steps, const char *name, const char *kind,
				uint64_t step_t0, unsigned done, unsigned skipped);
/* The next update renews the text however recent it is (a new runbook step). */
void nb_progress_changed(void);
/* Clears the line, if drawn, so that other output can go to the terminal. */
void nb_progress_hide(void);
/* Clears the line and stops drawing it. */
void nb_progress_end(void);

#endif /* NB_COORD_PROGRESS_H */
