/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The live progress line of a long command (netblame trace, run, runbook): whether to show it,
 * and its text.
 * Drawing it is the caller's (coordinator/progress.c); this part is pure and unit-tested.
 */
#ifndef NB_PROGRESS_H
#define NB_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_blame.h"

/*
 * A line redrawn with '\r' only makes sense on a terminal: into a file or a pipe it is noise.
 * True when fd is a terminal and the user did not ask for --quiet.
 */
bool nb_progress_wanted(int fd, bool quiet);

/* "4.2s", "1m05s", "2h03m10s": elapsed time as the line shows it. */
const char *nb_progress_elapsed(uint64_t ns, char *buf, size_t len);

/*
 * A trace's line, at most width - 1 columns (so the cursor never wraps onto a new line, which
 * '\r' cannot undo) and at most len - 1 bytes:
 *   "12.3s  57 packets final: COMPLETE 55, NETWORK_DROP_REQ 2  lost events 0"
 * With pairs (several pairs traced at once: --from a,b --to c,d) the totals over them, and how
 * many there are:
 *   "12.3s  2 pairs  57 packets final: COMPLETE 55, NETWORK_DROP_REQ 2  lost events 0"
 * Statuses with a count, in status order; those that do not fit become "+N more". The elapsed
 * time, the packets and the lost events are always kept when width allows. Returns the
 * length written.
 */
size_t nb_progress_fmt(char *buf, size_t len, unsigned width, uint64_t elapsed_ns, unsigned pairs,
		       uint64_t finals, const uint64_t counts[NB_ST__COUNT], uint64_t lost_events);

/*
 * netblame run's line: its nodes by state, and the output lines received from them all:
 *   "4.2s  nodes 3: starting 0, running 2, ended 1  lines 37"
 * Cut at the width like any line (the numbers come first).
 */
size_t nb_progress_fmt_run(char *buf, size_t len, unsigned width, uint64_t elapsed_ns,
			   unsigned starting, unsigned running, unsigned ended, uint64_t lines);

/*
 * netblame runbook's line: the step running (its number of all, name and kind), how long it
 * has run, and the steps before it that ran or were skipped:
 *   "1m05s  step 2/5 drops_a (run) 3.1s  done 1, skipped 0"
 * A long step name is shortened (ending in "~") so that the rest fits; then the line is cut
 * at the width.
 */
size_t nb_progress_fmt_runbook(char *buf, size_t len, unsigned width, uint64_t elapsed_ns,
			       unsigned step, unsigned n_steps, const char *name, const char *kind,
			       uint64_t step_ns, unsigned done, unsigned skipped);

#endif /* NB_PROGRESS_H */
