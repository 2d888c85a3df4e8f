// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The HTML report, from the JSON report only (see report_html.h). The page reads what the
 * report holds and nothing else: a field the report lacks is left out of the page, and node
 * fields this file does not know are shown as they are, so the page follows the report as it
 * grows.
 */
#include "report_html.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nb_blame.h"
#include "nb_time.h"

#define S_DROP_KEYS 10 /* packets named per drop group */
#define S_GAP_KEYS  8

/* The chain's segments in order, then the two that span it. */
static const struct {
	const char *name, *from, *to, *place;
} s_segs[] = {
    {"a_internal_req", "A0", "A1", "a"}, {"network_req_oneway", "A1", "B0", "net"},
    {"b_internal_req", "B0", "B1", "b"}, {"destination_response", "B1", "B2", "dest"},
    {"b_internal_rep", "B2", "B3", "b"}, {"network_rep_oneway", "B3", "A2", "net"},
    {"a_internal_rep", "A2", "A3", "a"},
};
#define S_NSEGS (sizeof(s_segs) / sizeof(s_segs[0]))

/* ---------------------------------------------------------------- small helpers */

/* Text and attribute values alike: & < > " ' escaped, control characters shown as '?'. */
static void s_esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(c < 0x20 && c != '\n' && c != '\t' ? '?' : c, f);
		}
	}
}

/* Like printf, with every %s taken as text to escape: the only way report strings go out. */
static void s_out(FILE *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			fputc(*p, f);
			continue;
		}
		switch (*++p) {
		case 's':
			s_esc(f, va_arg(ap, const char *));
			break;
		case 'd':
			fprintf(f, "%d", va_arg(ap, int));
			break;
		case 'u':
			fprintf(f, "%" PRIu64, va_arg(ap, uint64_t));
			break;
		case 'R': /* raw: markup this file made */
			fputs(va_arg(ap, const char *), f);
			break;
		case '%':
			fputc('%', f);
			break;
		default:
			abort();
		}
	}
	va_end(ap);
}

static const char *s_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool s_int(const json_t *o, const char *key, int64_t *v)
{
	const json_t *j = json_object_get(o, key);

	if (!json_is_integer(j))
		return false;
	*v = json_integer_value(j);
	return true;
}

static uint64_t s_u(const json_t *o, const char *key)
{
	int64_t v = 0;

	return s_int(o, key, &v) && v > 0 ? (uint64_t)v : 0;
}

static const char *s_dur(uint64_t ns, char *buf, size_t len)
{
	return nb_fmt_dur(ns, buf, len);
}

/* "+5.0s", "-210us", "0" */
static const char *s_sdur(int64_t ns, char *buf, size_t len)
{
	char d[32];

	if (!ns)
		snprintf(buf, len, "0");
	else
		snprintf(buf, len, "%c%s", ns < 0 ? '-' : '+',
			 nb_fmt_dur(ns < 0 ? (uint64_t)-ns : (uint64_t)ns, d, sizeof(d)));
	return buf;
}

/* A node's name by role ("A", "B"), from the report's nodes. */
static const char *s_node_name(const json_t *r, const char *role)
{
	size_t i;
	json_t *n;

	json_array_foreach(json_object_get(r, "nodes"), i,
			   n) if (s_str(n, "role") && role &&
				  !strcmp(s_str(n, "role"), role)) return s_str(n, "name");
	return NULL;
}

/* How the page names a packet: "id 4343 seq 2", "seq 1000 len 1448", "id 77 forward". */
static void s_pkt_label(const json_t *pk, char *buf, size_t len, int64_t *num)
{
	const json_t *k = json_object_get(pk, "key");
	const char *proto = s_str(k, "proto");
	int64_t a = 0, b = 0;

	*num = 0;
	if (proto && !strcmp(proto, "tcp")) {
		s_int(k, "seq", &a);
		s_int(k, "len", &b);
		snprintf(buf, len, "seq %" PRId64 " len %" PRId64, a, b);
		*num = a;
	} else if (proto && !strcmp(proto, "udp")) {
		s_int(k, "ip_id", &a);
		snprintf(buf, len, "id %" PRId64 " %s", a,
			 s_str(k, "direction") ? s_str(k, "direction") : "");
		*num = a;
	} else {
		s_int(k, "id", &a);
		s_int(k, "seq", &b);
		snprintf(buf, len, "id %" PRId64 " seq %" PRId64, a, b);
		*num = b;
	}
}

/* ---------------------------------------------------------------- the page */

static const char s_css[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;"
    "color:#1d2329;background:#fff}\n"
    "h1{font-size:22px;margin:8px 0 12px}h2{font-size:18px;margin:28px 0 8px;"
    "border-bottom:1px solid #d6dbe0;padding-bottom:4px}h3{font-size:16px;margin:20px 0 6px}\n"
    "table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 10px;text-align:left;"
    "border-bottom:1px solid #e6e9ec;vertical-align:top}th{background:#f3f5f7;font-weight:600}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".verdict{padding:12px 16px;border-radius:6px;margin:10px 0;border-left:8px solid #888;"
    "background:#f5f5f5}.verdict .vname{font-size:24px;font-weight:700;margin-right:12px}\n"
    ".v-HEALTHY{border-color:#2e9d4b;background:#eaf7ee}.v-INCONCLUSIVE{border-color:#b0a030;"
    "background:#fbf8e6}.v-NETWORK,.v-NODE_A,.v-NODE_B,.v-DEST{border-color:#c93a3a;"
    "background:#fcecec}\n"
    ".bar{display:inline-block;height:10px;background:#c93a3a;vertical-align:middle}\n"
    "pre{background:#f6f8fa;padding:8px 10px;overflow-x:auto;font-size:12.5px;margin:4px 0}\n"
    ".drop{border:1px solid #e0e4e8;border-radius:6px;padding:6px 12px;margin:8px 0}\n"
    ".muted{color:#66707a}.filters{margin:8px 0}.filters label{margin-right:14px}\n"
    ".filters input{width:90px}td.st{color:#b02a2a;font-weight:600}.st-COMPLETE td.st{"
    "color:#2e7d3e;font-weight:400}.st-INCONCLUSIVE td.st{color:#8a7a10}\n"
    "svg text{font:12px system-ui,sans-serif;fill:#1d2329}svg .ax{fill:#66707a}\n"
    ".p-a{fill:#3a78c9}.p-net{fill:#e08a1e}.p-b{fill:#2e9d6b}.p-dest{fill:#8a55c9}"
    ".p-total{fill:#5a6570}\n";

static void s_page_begin(FILE *f, const char *title)
{
	s_out(f,
	      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      /* The page is whole: the browser is told to fetch nothing, whatever it holds. */
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>%s</title>\n<style>\n%R</style></head>\n<body>\n",
	      title, s_css);
}

/*
 * The packet filters: each list (class "pkts") on its own, from its controls or from the
 * address (#status=NAME&seq=LO-HI), counting the rows shown. Without the script every row
 * shows, and the count written into the page says so.
 */
static const char s_script[] =
    "(function(){\n"
    "function apply(box){\n"
    " var st=box.querySelector('[data-f=status]').value;\n"
    " var lo=box.querySelector('[data-f=from]').value,hi=box.querySelector('[data-f=to]').value;\n"
    " var rows=box.querySelectorAll('tbody tr'),n=0;\n"
    " for(var i=0;i<rows.length;i++){var r=rows[i],s=Number(r.getAttribute('data-seq'));\n"
    "  var ok=(!st||r.getAttribute('data-status')===st)&&(lo===''||s>=Number(lo))&&\n"
    "   (hi===''||s<=Number(hi));r.hidden=!ok;if(ok)n++;}\n"
    " box.querySelector('.shown').textContent=n+' of '+rows.length+' packets shown';\n"
    "}\n"
    "var h={};location.hash.replace(/^#/,'').split('&').forEach(function(kv){\n"
    " var i=kv.indexOf('=');if(i>0)h[kv.slice(0,i)]=decodeURIComponent(kv.slice(i+1));});\n"
    "document.querySelectorAll('.pkts').forEach(function(box){\n"
    " var sel=box.querySelector('[data-f=status]');\n"
    " if(h.status!==undefined)sel.value=h.status;\n"
    " if(h.seq!==undefined){var m=/^(\\d*)-?(\\d*)$/.exec(h.seq);if(m){\n"
    "  box.querySelector('[data-f=from]').value=m[1];\n"
    "  box.querySelector('[data-f=to]').value=h.seq.indexOf('-')<0?m[1]:m[2];}}\n"
    " box.querySelectorAll('[data-f]').forEach(function(e){\n"
    "  e.addEventListener('input',function(){apply(box);});});\n"
    " apply(box);\n"
    "});\n"
    "})();\n";

static void s_page_end(FILE *f)
{
	char when[64];
	time_t now = time(NULL);
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
	s_out(f,
	      "<p class=\"muted\">Made by netblame at %s.</p>\n<script>\n%R</script>\n"
	      "</body></html>\n",
	      when, s_script);
}

/* ---------------------------------------------------------------- sections of a trace */

static const char *s_verdict_says(const char *v)
{
	if (!v)
		return "";
	if (!strcmp(v, "HEALTHY"))
		return "nothing was lost";
	if (!strcmp(v, "NETWORK"))
		return "most losses were between the two nodes";
	if (!strcmp(v, "NODE_A"))
		return "most losses were inside node A";
	if (!strcmp(v, "NODE_B"))
		return "most losses were inside node B";
	if (!strcmp(v, "DEST"))
		return "the destination did not answer";
	if (!strcmp(v, "INCONCLUSIVE"))
		return "evidence was incomplete for as many packets as the worst place lost";
	return "";
}

static void s_verdict(FILE *f, const char *v, const char *detail)
{
	s_out(f,
	      "<div class=\"verdict v-%s\"><span class=\"vname\">Verdict: %s</span> "
	      "<span class=\"vsays\">%s</span>",
	      v ? v : "", v ? v : "none", s_verdict_says(v));
	if (detail)
		s_out(f, "<div class=\"vdetail\">%s</div>", detail);
	s_out(f, "</div>\n");
}

static const char *const s_node_known[] = {
    "role",
    "name",
    "endpoint",
    "clock_offset_ns",
    "clock_uncertainty_ns",
    "lost_events",
    "lost_ring",
    "lost_queue",
    "gone",
    "sessions",
    "away_ns",
    "away_packets",
    "away",
    "monitors",
};

static bool s_is_known(const char *k)
{
	for (size_t i = 0; i < sizeof(s_node_known) / sizeof(s_node_known[0]); i++)
		if (!strcmp(k, s_node_known[i]))
			return true;
	return false;
}

/* A field the page does not lay out itself: its value as compact JSON, escaped. */
static void s_other(FILE *f, const char *k, const json_t *v)
{
	char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	s_out(f, "<div><span class=\"muted\">%s:</span> %s</div>", k,
	      json_is_string(v) ? json_string_value(v)
	      : s		? s
				: "?");
	free(s);
}

static void s_nodes(FILE *f, const json_t *r, int h)
{
	const json_t *nodes = json_object_get(r, "nodes");
	char d[32], u[32];
	bool other = false;
	const char *k;
	json_t *n, *v;
	size_t i, j;

	s_out(f, "<h%d>Nodes and their clocks</h%d>\n", h, h);
	json_array_foreach(nodes, i, n) json_object_foreach(n, k, v) other =
	    other || !s_is_known(k);
	s_out(f,
	      "<table class=\"nodes\"><thead><tr><th>Node</th><th>Name</th><th>Endpoint</th>"
	      "<th>Clock offset (to A)</th><th>Uncertainty</th><th>Lost events</th>"
	      "<th>Sessions</th><th>Away</th>%R</tr></thead><tbody>\n",
	      other ? "<th>Also</th>" : "");
	json_array_foreach(nodes, i, n)
	{
		int64_t off = 0;
		const char *role = s_str(n, "role");

		s_int(n, "clock_offset_ns", &off);
		s_out(f, "<tr><td>%s</td><td>%s</td><td>%s</td>", role, s_str(n, "name"),
		      s_str(n, "endpoint"));
		if (role && !strcmp(role, "A"))
			s_out(f, "<td class=\"n\">reference</td><td class=\"n\">-</td>");
		else
			s_out(f, "<td class=\"n\">%s</td><td class=\"n\">&plusmn;%s</td>",
			      s_sdur(off, d, sizeof(d)),
			      s_dur(s_u(n, "clock_uncertainty_ns"), u, sizeof(u)));
		s_out(f, "<td class=\"n\">%u</td><td class=\"n\">%u</td>", s_u(n, "lost_events"),
		      s_u(n, "sessions"));
		if (s_u(n, "away_ns") || json_is_true(json_object_get(n, "gone")))
			s_out(f, "<td>%s, %u packets INCONCLUSIVE%s</td>",
			      s_dur(s_u(n, "away_ns"), d, sizeof(d)), s_u(n, "away_packets"),
			      json_is_true(json_object_get(n, "gone")) ? "; away at the end" : "");
		else
			s_out(f, "<td>no</td>");
		if (other) {
			s_out(f, "<td>");
			json_object_foreach(n, k, v) if (!s_is_known(k)) s_other(f, k, v);
			s_out(f, "</td>");
		}
		s_out(f, "</tr>\n");
	}
	s_out(f, "</tbody></table>\n");
	/* Each time a node was away: when, why, and what it made INCONCLUSIVE. */
	json_array_foreach(nodes, i, n)
	{
		json_t *g;

		json_array_foreach(json_object_get(n, "away"), j, g)
		{
			char a[32], b[32];
			json_t *p;
			size_t x;

			s_out(f,
			      "<p>Node %s (%s) away from %s to %s (%s): %s; %s; %u packets "
			      "INCONCLUSIVE",
			      s_str(n, "role"), s_str(n, "name"),
			      nb_fmt_wall(s_u(g, "from_ns"), 3, a, sizeof(a)),
			      nb_fmt_wall(s_u(g, "to_ns"), 3, b, sizeof(b)),
			      s_dur(s_u(g, "duration_ns"), d, sizeof(d)), s_str(g, "why"),
			      json_is_true(json_object_get(g, "back")) ? "back"
								       : "not back by the end",
			      s_u(g, "packets_inconclusive"));
			json_array_foreach(json_object_get(g, "packets"), x, p) if (x < S_GAP_KEYS)
			    s_out(f, "%R%s", x ? ", " : ": ", json_string_value(p));
			s_out(f, "</p>\n");
		}
	}
}

/* What the nodes' monitors explain, under the verdict: one line each. */
static void s_findings(FILE *f, const json_t *r)
{
	const json_t *a = json_object_get(r, "findings");
	json_t *x;
	size_t i;

	if (!json_array_size(a))
		return;
	s_out(f, "<ul class=\"findings\">");
	json_array_foreach(a, i, x) s_out(f, "<li>%s</li>", s_str(x, "text") ? s_str(x, "text") : "?");
	s_out(f, "</ul>\n");
}

/* The monitors of each node's VM port (the tun ring), measured in the trace's sessions. */
static void s_monitors(FILE *f, const json_t *r, int h)
{
	const json_t *nodes = json_object_get(r, "nodes");
	bool any = false;
	json_t *n, *m;
	size_t i, j;

	json_array_foreach(nodes, i, n) any = any || json_array_size(json_object_get(n, "monitors"));
	if (!any)
		return;
	s_out(f, "<h%d>Monitors of the VM ports</h%d>\n", h, h);
	s_out(f, "<table class=\"monitors\"><thead><tr><th>Node</th><th>Monitor</th>"
		 "<th>Interface</th><th>Ring</th><th>High-water</th><th>Full</th>"
		 "<th>FULL_RING drops</th><th>Other drops</th><th>Enqueued (traced)</th>"
		 "<th>Dequeued</th><th>Traced packets' wait</th></tr></thead><tbody>\n");
	json_array_foreach(nodes, i, n) json_array_foreach(json_object_get(n, "monitors"), j, m)
	{
		const json_t *t = json_object_get(m, "total");
		const json_t *soj = json_object_get(m, "sojourn_us");
		uint64_t tot = 0, acc = 0;
		json_t *b;
		size_t k;

		s_out(f, "<tr><td>%s (%s)</td><td>%s</td><td>%s</td>", s_str(n, "role"),
		      s_str(n, "name"), s_str(m, "monitor"),
		      s_str(m, "interface") ? s_str(m, "interface") : "-");
		if (!json_is_true(json_object_get(m, "attached")) || !t) {
			s_out(f, "<td colspan=\"8\">not attached: %s</td></tr>\n",
			      s_str(m, "why") ? s_str(m, "why") : "?");
			continue;
		}
		s_out(f,
		      "<td class=\"n\">%u</td><td class=\"n\">%u</td><td class=\"n\">%u</td>"
		      "<td class=\"n\">%u</td><td class=\"n\">%u</td><td class=\"n\">%u (%u)</td>"
		      "<td class=\"n\">%u</td><td>",
		      s_u(t, "ring_size"), s_u(t, "high_water"), s_u(t, "full_events"),
		      s_u(t, "drops_full_ring"), s_u(t, "drops_other"), s_u(t, "enqueued"),
		      s_u(t, "traced"), s_u(t, "dequeued"));
		/* The median's log2 bucket, as the histogram has it. */
		json_array_foreach(soj, k, b) tot += s_u(b, "count");
		json_array_foreach(soj, k, b)
		{
			char lo[32], hi[32];

			acc += s_u(b, "count");
			if (2 * acc < tot)
				continue;
			s_out(f, "p50 %s-%s", s_dur(s_u(b, "lo") * 1000, lo, sizeof(lo)),
			      s_dur(s_u(b, "hi") * 1000, hi, sizeof(hi)));
			break;
		}
		if (!tot)
			s_out(f, "-");
		s_out(f, "</td></tr>\n");
	}
	s_out(f, "</tbody></table>\n");
}

/* The totals TCP and UDP add to the report, when it has them. */
static void s_totals(FILE *f, const json_t *r)
{
	static const char *const keys[] = {
	    "retransmitted_segments", "retransmitted_copies",
	    "spurious_copies",	      "lost_copies",
	    "spurious_by_ack_lost",   "lost_fragments",
	    "partial_datagrams",      "unidentified_datagrams",
	};
	bool any = false;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const json_t *v = json_object_get(r, keys[i]);

		if (!v)
			continue;
		if (!any)
			s_out(f, "<div class=\"totals\">");
		any = true;
		s_other(f, keys[i], v);
	}
	if (any)
		s_out(f, "</div>\n");
}

static void s_counts(FILE *f, const json_t *r, int h)
{
	const json_t *counts = json_object_get(r, "counts");
	uint64_t total = 0, max = 0;
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)counts, k, v)
	{
		uint64_t n = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;

		total += n;
		max = n > max ? n : max;
	}
	s_out(f, "<h%d>Packets with a final status: %u</h%d>\n", h, total, h);
	if (!total) {
		s_out(f, "<p>No packet of the flow reached a final status.</p>\n");
		s_totals(f, r);
		return;
	}
	s_out(f, "<table class=\"counts\"><thead><tr><th>Status</th><th>Packets</th><th></th>"
		 "</tr></thead><tbody>\n");
	/* In status order, which is the chain's order, not the object's. */
	for (int s = 0; s < NB_ST__COUNT; s++) {
		v = json_object_get(counts, nb_status_name(s));
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			continue;
		s_out(f,
		      "<tr><td>%s</td><td class=\"n\">%u</td><td><span class=\"bar\" "
		      "style=\"width:%dpx%R\"></span></td></tr>\n",
		      nb_status_name(s), (uint64_t)json_integer_value(v),
		      (int)(1 + 200 * (uint64_t)json_integer_value(v) / max),
		      s == NB_ST_COMPLETE ? ";background:#2e9d4b" : "");
	}
	s_out(f, "</tbody></table>\n");
	s_totals(f, r);
}

/* ---------------------------------------------------------------- the waterfall */

struct s_row {
	bool have;
	uint64_t p50, p99, count;
};

static struct s_row s_lat_row(const json_t *lat, const char *name)
{
	const json_t *o = json_object_get(lat, name);
	struct s_row w = {0};

	w.count = s_u(o, "count");
	w.have = w.count && json_object_get(o, "p50_ns") && json_object_get(o, "p99_ns");
	w.p50 = s_u(o, "p50_ns");
	w.p99 = s_u(o, "p99_ns");
	return w;
}

/* "12 not_complete, 1 clock_uncertainty" */
static void s_left_out(FILE *f, const json_t *lat, const char *name)
{
	const json_t *left = json_object_get(json_object_get(lat, name), "left_out");
	const char *k;
	json_t *v;
	int n = 0;

	json_object_foreach((json_t *)left, k, v)
	    s_out(f, "%R%u %s", n++ ? ", " : "", (uint64_t)json_integer_value(v), k);
	if (!n)
		s_out(f, "-");
}

#define S_W	960
#define S_LABEL 250 /* the bars start here */
#define S_BARS	520
#define S_ROW	26
#define S_TOP	30

static int s_x(uint64_t ns, uint64_t scale)
{
	return S_LABEL + (int)((double)ns * S_BARS / (double)scale);
}

static void s_svg_row(FILE *f, int y, const char *label, const char *place, uint64_t start,
		      const struct s_row *w, uint64_t scale)
{
	char a[32], b[32];

	s_out(f, "<g><title>%s: median %s, p99 %s, on %u packets</title>", label,
	      s_dur(w->p50, a, sizeof(a)), s_dur(w->p99, b, sizeof(b)), w->count);
	s_out(f, "<text x=\"4\" y=\"%d\">%s</text>", y + 15, label);
	if (!w->have) {
		s_out(f, "<text class=\"ax\" x=\"%d\" y=\"%d\">no samples</text></g>\n", S_LABEL,
		      y + 15);
		return;
	}
	/* p99: a thin line from the segment's start; the median: the bar on top of it. */
	s_out(f,
	      "<rect class=\"p-%s\" opacity=\"0.45\" x=\"%d\" y=\"%d\" width=\"%d\" "
	      "height=\"4\"/>",
	      place, s_x(start, scale), y + 9, s_x(start + w->p99, scale) - s_x(start, scale) + 1);
	s_out(f, "<rect class=\"p-%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"14\"/>", place,
	      s_x(start, scale), y + 4, s_x(start + w->p50, scale) - s_x(start, scale) + 1);
	s_out(f, "<text x=\"%d\" y=\"%d\">%s / %s</text></g>\n", S_LABEL + S_BARS + 24, y + 15,
	      s_dur(w->p50, a, sizeof(a)), s_dur(w->p99, b, sizeof(b)));
}

static void s_waterfall(FILE *f, const json_t *r, int h)
{
	const json_t *lat = json_object_get(r, "latency");
	struct s_row w[S_NSEGS], total = s_lat_row(lat, "total_round_trip");
	uint64_t start[S_NSEGS], at = 0, scale = 0;
	char lb[64], d[32];
	int y, height;

	s_out(f, "<h%d>Latency along the chain A0 A1 B0 B1 B2 B3 A2 A3</h%d>\n", h, h);
	for (size_t i = 0; i < S_NSEGS; i++) {
		w[i] = s_lat_row(lat, s_segs[i].name);
		start[i] = at;
		if (w[i].have) {
			at += w[i].p50;
			scale = start[i] + w[i].p99 > scale ? start[i] + w[i].p99 : scale;
		}
	}
	scale = at > scale ? at : scale;
	if (total.have)
		scale = total.p99 > scale ? total.p99 : scale;
	if (!scale) {
		s_out(f, "<p>No latency samples: no packet passed both stages of any segment "
			 "(see the rows below for why each was left out).</p>\n");
	} else {
		height = S_TOP + (int)(S_NSEGS + 1) * S_ROW + 10;
		s_out(f,
		      "<svg class=\"waterfall\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		      "role=\"img\">\n",
		      S_W, height, S_W, height);
		/* the time axis: 0, a quarter, ... the scale */
		for (int q = 0; q <= 4; q++) {
			int x = S_LABEL + S_BARS * q / 4;

			s_out(f,
			      "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#e0e4e8\"/>"
			      "<text class=\"ax\" x=\"%d\" y=\"16\" text-anchor=\"%R\">%s"
			      "</text>\n",
			      x, S_TOP - 6, x, height - 6, x,
			      q == 0   ? "start"
			      : q == 4 ? "end"
				       : "middle",
			      s_dur(scale * (uint64_t)q / 4, d, sizeof(d)));
		}
		s_out(f, "<text class=\"ax\" x=\"%d\" y=\"16\">median / p99</text>\n",
		      S_LABEL + S_BARS + 24);
		y = S_TOP;
		for (size_t i = 0; i < S_NSEGS; i++, y += S_ROW) {
			snprintf(lb, sizeof(lb), "%s-%s %s", s_segs[i].from, s_segs[i].to,
				 s_segs[i].name);
			s_svg_row(f, y, lb, s_segs[i].place, start[i], &w[i], scale);
		}
		s_svg_row(f, y, "A0-A3 total_round_trip", "total", 0, &total, scale);
		s_out(
		    f,
		    "</svg>\n<p class=\"muted\">Each bar is the segment's median, placed end to "
		    "end along the chain; the thin line is its p99 from the same start. "
		    "Segments across the two nodes (A1-B0, B3-A2) rest on the clock offset.</p>\n");
	}
	s_out(f, "<table class=\"latency\"><thead><tr><th>Segment</th><th>Stages</th>"
		 "<th>Median</th><th>p99</th><th>On packets</th><th>Left out</th></tr></thead>"
		 "<tbody>\n");
	for (size_t i = 0; i <= S_NSEGS + 1; i++) {
		const char *name = i < S_NSEGS	  ? s_segs[i].name
				   : i == S_NSEGS ? "total_round_trip"
						  : "network_round_trip";
		struct s_row x = s_lat_row(lat, name);
		char a[32], b[32];

		if (!json_object_get(lat, name))
			continue;
		if (i < S_NSEGS)
			snprintf(lb, sizeof(lb), "%s-%s", s_segs[i].from, s_segs[i].to);
		else
			snprintf(lb, sizeof(lb), "%s", i == S_NSEGS ? "A0-A3" : "(A2-A1)-(B3-B0)");
		s_out(f,
		      "<tr><td>%s</td><td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
		      "<td class=\"n\">%u</td><td>",
		      name, lb, x.have ? s_dur(x.p50, a, sizeof(a)) : "-",
		      x.have ? s_dur(x.p99, b, sizeof(b)) : "-", x.count);
		s_left_out(f, lat, name);
		s_out(f, "</td></tr>\n");
	}
	s_out(f, "</tbody></table>\n");
}

/* ---------------------------------------------------------------- loss */

static void s_loss(FILE *f, const json_t *r, int h)
{
	static const struct {
		enum nb_blame b;
		const char *what;
		const char *role, *copies;
	} rows[] = {
	    {NB_BLAME_NODE_A, "inside node A", "A", "a_internal"},
	    {NB_BLAME_NETWORK, "network, between the nodes", NULL, "network"},
	    {NB_BLAME_NODE_B, "inside node B", "B", "b_internal"},
	    {NB_BLAME_DEST, "destination (no reply)", NULL, NULL},
	    {NB_BLAME_INCONCLUSIVE, "evidence incomplete (not blamed)", NULL, NULL},
	};
	const json_t *counts = json_object_get(r, "counts");
	const json_t *lost = json_object_get(r, "lost_copies");
	const json_t *spur = json_object_get(r, "spurious_by_ack_lost");
	const char *proto = s_str(r, "proto");
	const char *dreq = "request", *drep = "reply";
	uint64_t n[5][3] = {{0}}, max = 0;
	bool tcp = proto && !strcmp(proto, "tcp");

	if (tcp) {
		dreq = "data";
		drep = "ACK";
	} else if (proto && !strcmp(proto, "udp")) {
		dreq = "A to B";
		drep = "B to A";
	}
	for (int s = 0; s < NB_ST__COUNT; s++) {
		const char *dir = nb_status_direction(s);
		uint64_t c = s_u(counts, nb_status_name(s));

		for (size_t i = 0; i < 5 && c; i++) {
			if (nb_status_blame(s) != rows[i].b)
				continue;
			n[i][!dir ? 2 : !strcmp(dir, "request") ? 0 : 1] += c;
		}
	}
	for (size_t i = 0; i < 5; i++) {
		uint64_t t = n[i][0] + n[i][1] + n[i][2];

		max = t > max ? t : max;
	}
	s_out(f, "<h%d>Loss by location and direction</h%d>\n", h, h);
	s_out(f,
	      "<table class=\"loss\"><thead><tr><th>Where</th><th>%s</th><th>%s</th>"
	      "<th>Total</th><th></th>%R</tr></thead><tbody>\n",
	      dreq, drep, tcp && lost ? "<th>Copies lost, recovered by retransmission</th>" : "");
	for (size_t i = 0; i < 5; i++) {
		uint64_t t = n[i][0] + n[i][1] + n[i][2];
		const char *name = rows[i].role ? s_node_name(r, rows[i].role) : NULL;

		s_out(f, "<tr><td>%s%R%s%R</td>", rows[i].what, name ? " (" : "", name ? name : "",
		      name ? ")" : "");
		if (rows[i].b == NB_BLAME_DEST || rows[i].b == NB_BLAME_INCONCLUSIVE)
			s_out(f, "<td class=\"n\">-</td><td class=\"n\">-</td>");
		else
			s_out(f, "<td class=\"n\">%u</td><td class=\"n\">%u</td>", n[i][0],
			      n[i][1]);
		s_out(f, "<td class=\"n\">%u</td><td>", t);
		if (t && rows[i].b != NB_BLAME_INCONCLUSIVE)
			s_out(f, "<span class=\"bar\" style=\"width:%dpx\"></span>",
			      (int)(1 + 200 * t / max));
		s_out(f, "</td>");
		if (tcp && lost) {
			if (rows[i].copies)
				s_out(f, "<td class=\"n\">%s %u, %s %u</td>", dreq,
				      s_u(lost, rows[i].copies), drep, s_u(spur, rows[i].copies));
			else
				s_out(f, "<td class=\"n\">-</td>");
		}
		s_out(f, "</tr>\n");
	}
	s_out(f, "</tbody></table>\n");
}

/* ---------------------------------------------------------------- drops */

struct s_group {
	const json_t *drop;
	uint64_t count;
	json_t *keys; /* packet labels, the first S_DROP_KEYS */
};

static int s_group_cmp(const void *a, const void *b)
{
	const struct s_group *x = *(const struct s_group *const *)a;
	const struct s_group *y = *(const struct s_group *const *)b;

	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static void s_drop_group(FILE *f, const json_t *r, const struct s_group *g)
{
	const json_t *d = g->drop, *frames = json_object_get(d, "stack");
	const char *role = s_str(d, "node");
	const char *name = s_node_name(r, role);
	json_t *v;
	size_t i;

	s_out(f, "<div class=\"drop\"><h4>%u packet%R: ", g->count, g->count == 1 ? "" : "s");
	if (json_is_true(json_object_get(d, "seen"))) {
		s_out(f, "%s at %s on %s", s_str(d, "reason") ? s_str(d, "reason") : "reason ?",
		      s_str(d, "location"), s_str(d, "interface"));
	} else {
		s_out(f, "no drop event seen");
	}
	s_out(f, ", node %s (%s)</h4>\n", role, name ? name : "?");
	if (s_str(d, "explain"))
		s_out(f, "<p>%s</p>\n", s_str(d, "explain"));
	if (s_str(d, "detail"))
		s_out(f, "<p>%s</p>\n", s_str(d, "detail"));
	if (s_str(d, "location_ip"))
		s_out(f, "<p class=\"muted\">at %s</p>\n", s_str(d, "location_ip"));
	s_out(f, "<p>Packets");
	json_array_foreach(g->keys, i, v) s_out(f, "%R%s", i ? ", " : ": ", json_string_value(v));
	if (g->count > json_array_size(g->keys))
		s_out(f, ", ...");
	s_out(f, "</p>\n");
	if (json_array_size(frames)) {
		s_out(f, "<pre class=\"stack\">");
		json_array_foreach(frames, i, v) s_out(f, "%s\n", json_string_value(v));
		s_out(f, "</pre>\n");
	}
	s_out(f, "</div>\n");
}

/*
 * The drops of the packets, one group per place, reason and stack (the drop's time is its
 * own), largest first. Grouped through a hash of the drop's JSON, so a long trace with many
 * drops costs one pass.
 */
static void s_drops(FILE *f, const json_t *r, int h)
{
	json_t *by = json_object(), *pk;
	struct s_group **gs = NULL;
	size_t i, ng = 0, cap = 0;

	s_out(f, "<h%d>Drops inside the nodes</h%d>\n", h, h);
	json_array_foreach(json_object_get(r, "packets"), i, pk)
	{
		const json_t *d = json_object_get(pk, "drop");
		json_t *key = json_is_object(d) ? json_deep_copy(d) : NULL;
		struct s_group *g;
		char *ks, lb[64];
		int64_t num;
		json_t *gi;

		if (!key)
			continue;
		json_object_del(key, "ktime_ns");
		ks = json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(key);
		if (!ks)
			continue;
		gi = json_object_get(by, ks);
		if (gi) {
			g = gs[json_integer_value(gi)];
		} else {
			if (ng == cap) {
				struct s_group **n =
				    realloc(gs, (cap = cap ? 2 * cap : 16) * sizeof(*gs));

				if (!n) {
					free(ks);
					break;
				}
				gs = n;
			}
			g = calloc(1, sizeof(*g));
			if (!g) {
				free(ks);
				break;
			}
			g->drop = d;
			g->keys = json_array();
			json_object_set_new(by, ks, json_integer((json_int_t)ng));
			gs[ng++] = g;
		}
		free(ks);
		g->count++;
		if (json_array_size(g->keys) < S_DROP_KEYS) {
			s_pkt_label(pk, lb, sizeof(lb), &num);
			json_array_append_new(g->keys, json_string(lb));
		}
	}
	if (!ng)
		s_out(f, "<p>No packet in the list died inside a node.</p>\n");
	if (ng)
		qsort(gs, ng, sizeof(*gs), s_group_cmp);
	for (i = 0; i < ng; i++) {
		s_drop_group(f, r, gs[i]);
		json_decref(gs[i]->keys);
		free(gs[i]);
	}
	free(gs);
	json_decref(by);
}

/* ---------------------------------------------------------------- packets */

static void s_packet_row(FILE *f, const json_t *pk, size_t idx)
{
	const json_t *stages = json_object_get(pk, "stages"), *d = json_object_get(pk, "drop");
	const char *st = s_str(pk, "status");
	char lb[64], a[32];
	int64_t num, t0, t3;
	int n = 0;

	s_pkt_label(pk, lb, sizeof(lb), &num);
	s_out(f,
	      "<tr class=\"st-%s%R\" data-status=\"%s\" data-seq=\"%u\"><td class=\"n\">%u</td>"
	      "<td>%s</td><td class=\"st\">%s</td><td>",
	      st ? st : "", json_is_object(d) ? " drop-row" : "", st ? st : "", (uint64_t)num,
	      (uint64_t)idx + 1, lb, st ? st : "?");
	/* the stages in chain order, not the object's */
	for (int i = 0; i < 8; i++)
		if (json_object_get(stages, nb_stage_name_chain(i)))
			s_out(f, "%R%s", n++ ? " " : "", nb_stage_name_chain(i));
	s_out(f, "</td><td class=\"n\">");
	/* A0 and A3 are on one clock: their difference needs no offset */
	if (s_int(stages, "A0", &t0) && s_int(stages, "A3", &t3) && t3 >= t0)
		s_out(f, "%s", s_dur((uint64_t)(t3 - t0), a, sizeof(a)));
	else
		s_out(f, "-");
	s_out(f, "</td><td>");
	if (json_is_object(d) && json_is_true(json_object_get(d, "seen")))
		s_out(f, "%s at %s on %s (node %s)",
		      s_str(d, "reason") ? s_str(d, "reason") : "reason ?", s_str(d, "location"),
		      s_str(d, "interface"), s_str(d, "node"));
	else if (json_is_object(d))
		s_out(f, "none seen (node %s)", s_str(d, "node"));
	s_out(f, "</td><td>%s</td></tr>\n", s_str(pk, "detail"));
}

static void s_packets(FILE *f, const json_t *r, int h)
{
	const json_t *pks = json_object_get(r, "packets"), *counts = json_object_get(r, "counts");
	size_t n = json_array_size(pks), i;
	json_t *pk;

	s_out(f, "<h%d>Packets</h%d>\n<div class=\"pkts\">\n", h, h);
	if (s_u(r, "packets_truncated"))
		s_out(f,
		      "<p>The report lists the first %u packets; %u more are in the counts "
		      "only.</p>\n",
		      (uint64_t)n, s_u(r, "packets_truncated"));
	s_out(f, "<div class=\"filters\"><label>Status <select data-f=\"status\">"
		 "<option value=\"\">all</option>");
	for (int s = 0; s < NB_ST__COUNT; s++)
		if (s_u(counts, nb_status_name(s)))
			s_out(f, "<option value=\"%s\">%s (%u)</option>", nb_status_name(s),
			      nb_status_name(s), s_u(counts, nb_status_name(s)));
	s_out(f,
	      "</select></label><label>Seq (ICMP, TCP) or IP ID (UDP) from <input "
	      "data-f=\"from\" type=\"number\" min=\"0\"></label><label>to <input data-f=\"to\" "
	      "type=\"number\" min=\"0\"></label><span class=\"shown\">%u of %u packets "
	      "shown</span></div>\n",
	      (uint64_t)n, (uint64_t)n);
	s_out(f, "<table class=\"packets\"><thead><tr><th>#</th><th>Packet</th><th>Status</th>"
		 "<th>Stages seen</th><th>A0-A3</th><th>Drop</th><th>Detail</th></tr></thead>"
		 "<tbody>\n");
	json_array_foreach(pks, i, pk) s_packet_row(f, pk, i);
	s_out(f, "</tbody></table>\n</div>\n");
}

/* The whole of one trace report, its headings from level h on. */
static void s_trace_body(FILE *f, const json_t *r, int h)
{
	s_verdict(f, s_str(r, "verdict"), s_str(r, "verdict_detail"));
	s_findings(f, r);
	s_nodes(f, r, h);
	s_monitors(f, r, h);
	s_counts(f, r, h);
	s_waterfall(f, r, h);
	s_loss(f, r, h);
	s_drops(f, r, h);
	s_packets(f, r, h);
}

static void s_trace_title(const json_t *r, char *buf, size_t len)
{
	snprintf(buf, len, "netblame trace %s %s -> %s",
		 s_str(r, "proto") ? s_str(r, "proto") : "?",
		 s_str(r, "src") ? s_str(r, "src") : "?", s_str(r, "dst") ? s_str(r, "dst") : "?");
}

/* ---------------------------------------------------------------- files */

struct s_render {
	const json_t *report; /* one trace */
	const char *title, *verdict, *detail;
	const struct nb_html_step *steps;
	size_t n;
};

static void s_render(FILE *f, const struct s_render *x)
{
	char title[256];

	if (x->report) {
		s_trace_title(x->report, title, sizeof(title));
		s_page_begin(f, title);
		s_out(f, "<h1>%s</h1>\n", title);
		s_trace_body(f, x->report, 2);
		s_page_end(f);
		return;
	}
	s_page_begin(f, x->title ? x->title : "netblame runbook");
	s_out(f, "<h1>%s</h1>\n", x->title ? x->title : "netblame runbook");
	s_verdict(f, x->verdict, x->detail);
	for (size_t i = 0; i < x->n; i++) {
		const struct nb_html_step *st = &x->steps[i];

		s_out(f, "<section class=\"step\"><h2>Step %u: %s%R%s%R</h2>\n", (uint64_t)i + 1,
		      st->name ? st->name : "", st->kind ? " (" : "", st->kind ? st->kind : "",
		      st->kind ? ")" : "");
		if (st->outcome)
			s_out(f, "<p class=\"outcome\">%s</p>\n", st->outcome);
		if (st->report) {
			s_trace_title(st->report, title, sizeof(title));
			s_out(f, "<p>%s</p>\n", title);
			s_trace_body(f, st->report, 3);
		}
		if (st->output)
			s_out(f, "<pre class=\"output\">%s</pre>\n", st->output);
		s_out(f, "</section>\n");
	}
	s_page_end(f);
}

/* The folder of path, and a temporary file name in it: "DIR/.BASE.XXXXXX". */
static int s_tmp_name(const char *path, char *tmp, size_t len)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (!path[0] || (slash && !slash[1]))
		return -EISDIR;
	if (slash)
		n = snprintf(tmp, len, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
	else
		n = snprintf(tmp, len, ".%s.XXXXXX", path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int nb_report_path_check(const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	struct stat sb;
	int fd, rc;

	rc = s_tmp_name(path, tmp, sizeof(tmp));
	if (!rc && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		rc = -EISDIR;
	if (!rc) {
		fd = mkstemp(tmp);
		if (fd < 0)
			rc = -errno;
		else {
			close(fd);
			unlink(tmp);
		}
	}
	if (rc)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
	return rc;
}

static int s_write(const char *path, const struct s_render *x, char *err, size_t errlen)
{
	char tmp[4096];
	mode_t um;
	FILE *f;
	int fd, rc;

	rc = s_tmp_name(path, tmp, sizeof(tmp));
	if (rc)
		goto fail;
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* mkstemp makes it 0600; the page is as readable as any file the user makes */
	um = umask(0);
	umask(um);
	f = fdopen(fd, "w");
	if (!f || fchmod(fd, 0666 & ~um)) {
		rc = -errno;
		if (f)
			fclose(f);
		else
			close(fd);
		goto fail_tmp;
	}
	s_render(f, x);
	if (fflush(f) || ferror(f) || fsync(fd)) {
		rc = errno ? -errno : -EIO;
		fclose(f);
		goto fail_tmp;
	}
	if (fclose(f)) {
		rc = -errno;
		goto fail_tmp;
	}
	if (rename(tmp, path)) {
		rc = -errno;
		goto fail_tmp;
	}
	return 0;
fail_tmp:
	unlink(tmp);
fail:
	snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
	return rc;
}

int nb_report_html(const json_t *report, const char *path, char *err, size_t errlen)
{
	struct s_render x = {.report = report};

	if (!json_is_object(report)) {
		snprintf(err, errlen, "cannot write %s: no report", path);
		return -EINVAL;
	}
	return s_write(path, &x, err, errlen);
}

/* "ok in 3.2s; chosen: ...; exit 1: ..." */
static char *s_rb_outcome(const json_t *js)
{
	const char *keys[] = {"why", "why_failed"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int64_t ms;

	if (!f)
		return NULL;
	fprintf(f, "%s: %s", s_str(js, "what") ? s_str(js, "what") : "",
		s_str(js, "status") ? s_str(js, "status") : "?");
	if (s_int(js, "duration_ms", &ms))
		fprintf(f, " in %.1fs", (double)ms / 1e3);
	for (size_t i = 0; i < 2; i++)
		if (s_str(js, keys[i]))
			fprintf(f, "; %s", s_str(js, keys[i]));
	if (s_str(json_object_get(js, "result"), "verdict") &&
	    !json_object_get(json_object_get(js, "result"), "packets"))
		fprintf(f, "; verdict %s", s_str(json_object_get(js, "result"), "verdict"));
	fclose(f);
	return buf;
}

/* A run step: its command, the digest of its records, then the records, one a line. */
static char *s_rb_output(const json_t *js)
{
	const json_t *res = json_object_get(js, "result"), *v;
	char *buf = NULL, *s;
	size_t len = 0, i;
	FILE *f;

	if (!json_object_get(js, "command") && !res)
		return NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	json_array_foreach(json_object_get(js, "command"), i, v)
	    fprintf(f, "%s%s", i ? " " : "$ ", json_string_value(v) ? json_string_value(v) : "?");
	if (json_array_size(json_object_get(js, "command")))
		fputc('\n', f);
	if (json_is_object(res)) {
		json_t *digest = json_deep_copy(res);

		json_object_del(digest, "lines");
		s = json_dumps(digest, JSON_INDENT(1) | JSON_SORT_KEYS);
		json_decref(digest);
		if (s)
			fprintf(f, "%s\n", s);
		free(s);
		json_array_foreach(json_object_get(res, "lines"), i, v)
		{
			s = json_dumps(v, JSON_COMPACT);
			if (s)
				fprintf(f, "%s\n", s);
			free(s);
		}
	}
	fclose(f);
	return buf;
}

int nb_html_runbook(const json_t *report, const char *path, char *err, size_t errlen)
{
	const json_t *steps = json_object_get(report, "steps"), *js;
	size_t n = json_array_size(steps), i;
	struct nb_html_step *st = calloc(n + 1, sizeof(*st));
	char title[512], detail[512];
	int64_t code = 0;
	int rc;

	if (!st) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	snprintf(title, sizeof(title), "netblame runbook %s%s%s",
		 s_str(report, "runbook") ? s_str(report, "runbook") : "",
		 s_str(report, "description") ? ": " : "",
		 s_str(report, "description") ? s_str(report, "description") : "");
	s_int(report, "exit_code", &code);
	snprintf(detail, sizeof(detail), "%s%s%sexit %" PRId64 "%s%s",
		 s_str(report, "verdict_step") ? "from step " : "no step gave a verdict",
		 s_str(report, "verdict_step") ? s_str(report, "verdict_step") : "", "; ", code,
		 json_is_true(json_object_get(report, "failed")) ? "; a step failed" : "",
		 json_is_true(json_object_get(report, "interrupted")) ? "; interrupted" : "");
	json_array_foreach(steps, i, js)
	{
		const json_t *res = json_object_get(js, "result");
		const char *kind = s_str(js, "kind");

		st[i].name = s_str(js, "name");
		st[i].kind = kind;
		st[i].outcome = s_rb_outcome(js);
		if (json_is_object(res) && json_object_get(res, "packets"))
			st[i].report = res;
		else if (kind && !strcmp(kind, "run"))
			st[i].output = s_rb_output(js);
	}
	rc =
	    nb_report_html_steps(title, s_str(report, "verdict"), detail, st, n, path, err, errlen);
	for (i = 0; i < n; i++) {
		free((char *)st[i].outcome);
		free((char *)st[i].output);
	}
	free(st);
	return rc;
}

int nb_report_html_steps(const char *title, const char *verdict, const char *detail,
			 const struct nb_html_step *steps, size_t n, const char *path, char *err,
			 size_t errlen)
{
	struct s_render x = {
	    .title = title, .verdict = verdict, .detail = detail, .steps = steps, .n = n};

	return s_write(path, &x, err, errlen);
}
