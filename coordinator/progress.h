/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The live progress line on stderr (trace; any long command may use it): shown only when
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
/* New numbers; the text is renewed when 250 ms have passed, drawn when renewed or hidden. */
void nb_progress_update(uint64_t finals, const uint64_t counts[NB_ST__COUNT], uint64_t lost_events);
/* Clears the line, if drawn, so that other output can go to the terminal. */
void nb_progress_hide(void);
/* Clears the line and stops drawing it. */
void nb_progress_end(void);

#endif /* NB_COORD_PROGRESS_H */
