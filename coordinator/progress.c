// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "progress.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "nb_progress.h"
#include "nb_time.h"

#define S_EVERY_NS 250000000ull
#define S_CLEAR	   "\r\033[K" /* to the start of the line, erase it */

static struct {
	bool on, drawn;
	uint64_t t0, last; /* last: when the text was renewed; 0 = never */
	char line[512];
	size_t len;
} s_p;

static void s_write(const char *b, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, b, n);

		if (w <= 0)
			return; /* a terminal gone or full: the line is a nicety, not worth a stall
				 */
		b += w;
		n -= (size_t)w;
	}
}

static unsigned s_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col)
		return ws.ws_col;
	return 80;
}

void nb_progress_begin(bool quiet)
{
	memset(&s_p, 0, sizeof(s_p));
	s_p.on = nb_progress_wanted(STDERR_FILENO, quiet);
	s_p.t0 = nb_mono_ns();
}

bool nb_progress_active(void)
{
	return s_p.on;
}

/*
 * 1: the text is due for renewal (at most every S_EVERY_NS); 0: the old text is to be drawn
 * again (it was hidden); -1: nothing to do.
 */
static int s_due(uint64_t now)
{
	if (!s_p.on)
		return -1;
	if (s_p.last && now - s_p.last < S_EVERY_NS)
		return s_p.drawn ? -1 : 0;
	s_p.last = now;
	return 1;
}

static void s_draw(void)
{
	char out[sizeof(s_p.line) + 16];

	/* One write: the line, then erase what a longer earlier one left to its right. */
	memcpy(out, "\r", 1);
	memcpy(out + 1, s_p.line, s_p.len);
	memcpy(out + 1 + s_p.len, "\033[K", 3);
	s_write(out, s_p.len + 4);
	s_p.drawn = true;
}

void nb_progress_update(unsigned pairs, uint64_t finals, const uint64_t counts[NB_ST__COUNT],
			uint64_t lost_events)
{
	uint64_t now = nb_mono_ns();
	int due = s_due(now);

	if (due < 0)
		return;
	if (due)
		s_p.len = nb_progress_fmt(s_p.line, sizeof(s_p.line), s_width(), now - s_p.t0,
					  pairs, finals, counts, lost_events);
	s_draw();
}

void nb_progress_update_run(unsigned starting, unsigned running, unsigned ended, uint64_t lines)
{
	uint64_t now = nb_mono_ns();
	int due = s_due(now);

	if (due < 0)
		return;
	if (due)
		s_p.len = nb_progress_fmt_run(s_p.line, sizeof(s_p.line), s_width(), now - s_p.t0,
					      starting, running, ended, lines);
	s_draw();
}

void nb_progress_update_runbook(unsigned step, unsigned n_steps, const char *name, const char *kind,
				uint64_t step_t0, unsigned done, unsigned skipped)
{
	uint64_t now = nb_mono_ns();
	int due = s_due(now);

	if (due < 0)
		return;
	if (due)
		s_p.len = nb_progress_fmt_runbook(s_p.line, sizeof(s_p.line), s_width(),
						  now - s_p.t0, step, n_steps, name, kind,
						  now > step_t0 ? now - step_t0 : 0, done, skipped);
	s_draw();
}

void nb_progress_changed(void)
{
	s_p.last = 0;
}

void nb_progress_hide(void)
{
	if (!s_p.on || !s_p.drawn)
		return;
	s_write(S_CLEAR, sizeof(S_CLEAR) - 1);
	s_p.drawn = false;
}

void nb_progress_end(void)
{
	nb_progress_hide();
	s_p.on = false;
}
