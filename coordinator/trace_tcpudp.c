// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "trace_tcpudp.h"

#include <netinet/in.h>
#include <string.h>

#include "nb_blame.h"
#include "nb_time.h"

/* Between data stage i and i + 1 of the chain A0 A1 B0 B1. */
static const char *const s_hop[NB_TCP_MAX_DATA - 1] = {"a_internal", "network", "b_internal"};

static bool s_copied(const struct nb_tcp_seg *s)
{
	for (int d = 0; d < s->ndata; d++)
		if (s->copies[d] > 1)
			return true;
	return false;
}

void nb_ttu_print(FILE *f, const struct nb_path_res *r, const char *src, const char *dst,
		  int64_t wall_off, uint64_t timeout_ms)
{
	const struct nb_joined *p = r->p;
	char wall[32], d[32], detail[200];
	int n = 0, first = -1, last = -1;

	for (int i = 0; i < p->nstages; i++) {
		if (!p->st[i].seen)
			continue;
		if (first < 0)
			first = i;
		last = i;
	}
	nb_fmt_wall(p->first_ts_ref + (uint64_t)wall_off, 3, wall, sizeof(wall));
	if (r->tcp) {
		fprintf(f, "[%s] TCP %s:%u -> %s:%u seq=%u len=%u", wall, src, r->tcp->sport, dst,
			r->tcp->dport, r->tcp->seq, r->tcp->len);
	} else {
		const struct nb_udp_dgram *u = r->udp;

		fprintf(f, "[%s] UDP %s:", wall, r->reverse ? dst : src);
		if (u->have_ports)
			fprintf(f, "%u -> %s:%u", u->sport, r->reverse ? src : dst, u->dport);
		else
			fprintf(f, "? -> %s:?", r->reverse ? src : dst);
		fprintf(f, " id=%u", u->ip_id);
		if (u->frags > 1)
			fprintf(f, " frags=%u", u->frags);
	}
	fprintf(f, "  %-20s stages=", nb_status_name(r->status));
	for (int i = 0; i < p->nstages; i++)
		if (p->st[i].seen)
			fprintf(f, "%s%s", n++ ? "," : "", nb_stage_name_chain(i));
	/* the same clock at both ends only for a path that starts and ends on A (TCP) */
	if (r->status == NB_ST_COMPLETE && r->tcp && p->st[last].ts >= p->st[first].ts)
		fprintf(f, "  rtt=%s", nb_fmt_dur(p->st[last].ts - p->st[first].ts, d, sizeof(d)));
	if (r->tcp && (s_copied(r->tcp) || r->tcp->lost[0] + r->tcp->lost[1] + r->tcp->lost[2])) {
		fprintf(f, "  copies=%u,%u,%u,%u", r->tcp->copies[0], r->tcp->copies[1],
			r->tcp->copies[2], r->tcp->copies[3]);
		for (int h = 0; h + 1 < r->tcp->ndata; h++)
			if (r->tcp->lost[h])
				fprintf(f, " lost_%s=%u", s_hop[h], r->tcp->lost[h]);
		if (r->tcp->spurious)
			fprintf(f, " spurious=%u", r->tcp->spurious);
	}
	nb_path_detail(r, timeout_ms, detail, sizeof(detail));
	if (detail[0])
		fprintf(f, "  (%s)", detail);
	fputc('\n', f);
}

json_t *nb_ttu_json(const struct nb_path_res *r, uint64_t timeout_ms, json_t *drop)
{
	const struct nb_joined *p = r->p;
	json_t *o, *key, *stages = json_object();
	char detail[200];

	for (int i = 0; i < p->nstages; i++)
		if (p->st[i].seen)
			json_object_set_new(stages, nb_stage_name_chain(i),
					    json_integer((json_int_t)p->st[i].ts));
	if (r->tcp) {
		const struct nb_tcp_seg *s = r->tcp;
		json_t *copies = json_object(), *lost = json_object(), *acks = json_object();

		key = json_pack("{s:s, s:i, s:i, s:I, s:I, s:I}", "proto", "tcp", "sport", s->sport,
				"dport", s->dport, "seq", (json_int_t)s->seq, "len",
				(json_int_t)s->len, "offset", (json_int_t)s->offset);
		for (int d = 0; d < s->ndata; d++)
			json_object_set_new(copies, nb_stage_name_chain(d),
					    json_integer(s->copies[d]));
		for (int h = 0; h + 1 < s->ndata; h++)
			json_object_set_new(lost, s_hop[h], json_integer(s->lost[h]));
		for (int i = s->ndata; i < p->nstages; i++)
			if (p->st[i].seen)
				json_object_set_new(acks, nb_stage_name_chain(i),
						    json_integer((json_int_t)p->st[i].aux));
		o = json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:i}", "key", key, "status",
			      nb_status_name(r->status), "stages", stages, "acks", acks, "copies",
			      copies, "lost_copies", lost, "spurious_copies", s->spurious);
	} else {
		const struct nb_udp_dgram *u = r->udp;
		json_t *at = json_object();

		key = json_pack("{s:s, s:I, s:s}", "proto", "udp", "ip_id", (json_int_t)u->ip_id,
				"direction", u->reverse ? "reverse" : "forward");
		if (u->have_ports) {
			json_object_set_new(key, "sport", json_integer(u->sport));
			json_object_set_new(key, "dport", json_integer(u->dport));
		}
		for (int i = 0; i < p->nstages; i++)
			if (p->st[i].seen)
				json_object_set_new(at, nb_stage_name_chain(i),
						    json_integer(u->frags_at[i]));
		o = json_pack("{s:o, s:s, s:o, s:i, s:o, s:i, s:b}", "key", key, "status",
			      nb_status_name(r->status), "stages", stages, "fragments", u->frags,
			      "fragments_at", at, "lost_fragments", u->lost, "partial", u->partial);
		if (u->bytes >= 8)
			json_object_set_new(o, "len", json_integer(u->bytes - 8));
	}
	nb_path_detail(r, timeout_ms, detail, sizeof(detail));
	if (detail[0])
		json_object_set_new(o, "detail", json_string(detail));
	json_object_set_new(o, "drop", drop ? drop : json_null());
	return o;
}

/* Spurious copies by the reply hop whose ACK was lost: [h] is between reply stages h - 1, h. */
static const char *const s_ack_hop[NB_TCP_MAX_DATA] = {NULL, "b_internal", "network",
							"a_internal"};

void nb_ttu_report_text(FILE *f, const struct nb_path_totals *tt, uint8_t proto)
{
	if (proto == IPPROTO_TCP) {
		fprintf(f,
			"Retransmitted segments: %llu (%llu copies); copies lost: inside A %llu, "
			"network %llu, inside B %llu; spurious copies: %llu",
			(unsigned long long)tt->retransmitted,
			(unsigned long long)tt->retransmitted_copies,
			(unsigned long long)tt->lost_copies[0], (unsigned long long)tt->lost_copies[1],
			(unsigned long long)tt->lost_copies[2], (unsigned long long)tt->spurious);
		if (tt->spurious > tt->spurious_at[0])
			fprintf(f, " (their ACK lost: inside B %llu, network %llu, inside A %llu)",
				(unsigned long long)tt->spurious_at[1],
				(unsigned long long)tt->spurious_at[2],
				(unsigned long long)tt->spurious_at[3]);
		if (tt->unjudged_copies)
			fprintf(f, "; not judged (next node not attached or away): %llu",
				(unsigned long long)tt->unjudged_copies);
		fputc('\n', f);
	} else if (proto == IPPROTO_UDP) {
		fprintf(f, "Fragments lost: %llu (datagrams that lost only some: %llu)\n",
			(unsigned long long)tt->lost_fragments, (unsigned long long)tt->partial);
		if (tt->unidentified)
			fprintf(f, "Unfragmented IPv6 datagrams (no ID, not traced): %llu\n",
				(unsigned long long)tt->unidentified);
	}
}

void nb_ttu_report_json(json_t *o, const struct nb_path_totals *tt, uint8_t proto)
{
	if (proto == IPPROTO_TCP) {
		json_t *lost = json_object(), *ack = json_object();

		for (int h = 0; h < NB_TCP_MAX_DATA - 1; h++)
			json_object_set_new(lost, s_hop[h],
					    json_integer((json_int_t)tt->lost_copies[h]));
		for (int h = 1; h < NB_TCP_MAX_DATA; h++)
			json_object_set_new(ack, s_ack_hop[h],
					    json_integer((json_int_t)tt->spurious_at[h]));
		json_object_set_new(o, "lost_copies", lost);
		json_object_set_new(o, "unjudged_copies",
				    json_integer((json_int_t)tt->unjudged_copies));
		json_object_set_new(o, "retransmitted_segments",
				    json_integer((json_int_t)tt->retransmitted));
		json_object_set_new(o, "retransmitted_copies",
				    json_integer((json_int_t)tt->retransmitted_copies));
		json_object_set_new(o, "spurious_copies", json_integer((json_int_t)tt->spurious));
		json_object_set_new(o, "spurious_by_ack_lost", ack);
	} else if (proto == IPPROTO_UDP) {
		json_object_set_new(o, "lost_fragments",
				    json_integer((json_int_t)tt->lost_fragments));
		json_object_set_new(o, "partial_datagrams", json_integer((json_int_t)tt->partial));
		json_object_set_new(o, "unidentified_datagrams",
				    json_integer((json_int_t)tt->unidentified));
	}
}
