// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nb_blame.h"

static const char *const s_local_names[4] = {"REQ_RX", "REQ_TX", "REP_RX", "REP_TX"};
static const char *const s_chain_names[8] = {"A0", "A1", "B0", "B1", "B2", "B3", "A2", "A3"};

/* Status by the highest stage seen: the drop is between it and the next one. */
static const enum nb_status s_local_st[4] = {
    NB_ST_INTERNAL_DROP_REQ,
    NB_ST_EXTERNAL_DROP,
    NB_ST_INTERNAL_DROP_REP,
    NB_ST_COMPLETE,
};
static const enum nb_status s_chain_st[8] = {
    NB_ST_A_INTERNAL_DROP_REQ, NB_ST_NETWORK_DROP_REQ,
    NB_ST_B_INTERNAL_DROP_REQ, NB_ST_DEST_NO_REPLY,
    NB_ST_B_INTERNAL_DROP_REP, NB_ST_NETWORK_DROP_REP,
    NB_ST_A_INTERNAL_DROP_REP, NB_ST_COMPLETE,
};

static const char *const s_status_names[NB_ST__COUNT] = {
    [NB_ST_COMPLETE] = "COMPLETE",
    [NB_ST_INTERNAL_DROP_REQ] = "INTERNAL_DROP_REQ",
    [NB_ST_EXTERNAL_DROP] = "EXTERNAL_DROP",
    [NB_ST_INTERNAL_DROP_REP] = "INTERNAL_DROP_REP",
    [NB_ST_A_INTERNAL_DROP_REQ] = "A_INTERNAL_DROP_REQ",
    [NB_ST_NETWORK_DROP_REQ] = "NETWORK_DROP_REQ",
    [NB_ST_B_INTERNAL_DROP_REQ] = "B_INTERNAL_DROP_REQ",
    [NB_ST_DEST_NO_REPLY] = "DEST_NO_REPLY",
    [NB_ST_B_INTERNAL_DROP_REP] = "B_INTERNAL_DROP_REP",
    [NB_ST_NETWORK_DROP_REP] = "NETWORK_DROP_REP",
    [NB_ST_A_INTERNAL_DROP_REP] = "A_INTERNAL_DROP_REP",
    [NB_ST_INCONCLUSIVE] = "INCONCLUSIVE",
    [NB_ST_INTERNAL_DROP] = "INTERNAL_DROP",
    [NB_ST_PARTIAL_FRAGMENT_DROP] = "PARTIAL_FRAGMENT_DROP",
};

const char *nb_stage_name_local(int stage)
{
	return stage >= 0 && stage < 4 ? s_local_names[stage] : NULL;
}

const char *nb_stage_name_chain(int stage)
{
	return stage >= 0 && stage < 8 ? s_chain_names[stage] : NULL;
}

static enum nb_status s_status(const struct nb_joined *p, const enum nb_status *table, int n)
{
	if (!p || p->nstages != n || p->highest < 0 || p->highest >= n)
		return NB_ST_INCONCLUSIVE;
	if (p->highest == n - 1)
		return NB_ST_COMPLETE;
	/*
	 * A missing stage is a drop only when its node's evidence is whole and every node that
	 * could still report it had reported past the deadline; EVICTED, FLUSH and REUSED mean
	 * the packet was let go before that.
	 */
	if (p->incomplete_node >= 0 || p->why == NB_FINAL_EVICTED || p->why == NB_FINAL_FLUSH ||
	    p->why == NB_FINAL_REUSED)
		return NB_ST_INCONCLUSIVE;
	return table[p->highest];
}

enum nb_status nb_status_local(const struct nb_joined *p)
{
	return s_status(p, s_local_st, 4);
}

enum nb_status nb_status_chain(const struct nb_joined *p)
{
	return s_status(p, s_chain_st, 8);
}

const char *nb_status_name(enum nb_status s)
{
	return (unsigned int)s < NB_ST__COUNT ? s_status_names[s] : NULL;
}

int nb_status_from_name(const char *name)
{
	int i;

	if (!name)
		return -1;
	for (i = 0; i < NB_ST__COUNT; i++)
		if (!strcmp(name, s_status_names[i]))
			return i;
	return -1;
}

enum nb_blame nb_status_blame(enum nb_status s)
{
	switch (s) {
	case NB_ST_INTERNAL_DROP_REQ:
	case NB_ST_INTERNAL_DROP_REP:
	case NB_ST_INTERNAL_DROP:
	case NB_ST_PARTIAL_FRAGMENT_DROP:
		return NB_BLAME_LOCAL;
	case NB_ST_EXTERNAL_DROP:
		return NB_BLAME_EXTERNAL;
	case NB_ST_A_INTERNAL_DROP_REQ:
	case NB_ST_A_INTERNAL_DROP_REP:
		return NB_BLAME_NODE_A;
	case NB_ST_NETWORK_DROP_REQ:
	case NB_ST_NETWORK_DROP_REP:
		return NB_BLAME_NETWORK;
	case NB_ST_B_INTERNAL_DROP_REQ:
	case NB_ST_B_INTERNAL_DROP_REP:
		return NB_BLAME_NODE_B;
	case NB_ST_DEST_NO_REPLY:
		return NB_BLAME_DEST;
	case NB_ST_INCONCLUSIVE:
		return NB_BLAME_INCONCLUSIVE;
	default:
		return NB_BLAME_NONE;
	}
}

const char *nb_status_direction(enum nb_status s)
{
	switch (s) {
	case NB_ST_INTERNAL_DROP_REQ:
	case NB_ST_A_INTERNAL_DROP_REQ:
	case NB_ST_NETWORK_DROP_REQ:
	case NB_ST_B_INTERNAL_DROP_REQ:
		return "request";
	case NB_ST_INTERNAL_DROP_REP:
	case NB_ST_B_INTERNAL_DROP_REP:
	case NB_ST_NETWORK_DROP_REP:
	case NB_ST_A_INTERNAL_DROP_REP:
		return "reply";
	default:
		/* EXTERNAL_DROP may be either way; DEST_NO_REPLY lost nothing on the wire */
		return NULL;
	}
}

/*
 * Tie order of the blame classes, also the order of verdict_detail. On equal evidence the
 * network comes first because it is the one component both nodes depend on and the most
 * common place of loss; then the sender's hypervisor, the receiver's, and last the
 * destination, which is outside what the tool is meant to clear.
 */
static const struct {
	enum nb_blame blame;
	enum nb_verdict verdict;
	const char *name;
} s_classes[] = {
    {NB_BLAME_NETWORK, NB_VERDICT_NETWORK, "NETWORK"},
    {NB_BLAME_NODE_A, NB_VERDICT_NODE_A, "NODE_A"},
    {NB_BLAME_NODE_B, NB_VERDICT_NODE_B, "NODE_B"},
    {NB_BLAME_DEST, NB_VERDICT_DEST, "DEST"},
    /* single host only: shown in the detail, not part of the two-host verdict */
    {NB_BLAME_LOCAL, NB_VERDICT_HEALTHY, "LOCAL"},
    {NB_BLAME_EXTERNAL, NB_VERDICT_HEALTHY, "EXTERNAL"},
};
#define S_NCLASSES   ((int)(sizeof(s_classes) / sizeof(s_classes[0])))
#define S_NCHAIN_CLS 4

static uint64_t s_class_count(const uint64_t counts[NB_ST__COUNT], enum nb_blame b, const char *dir)
{
	uint64_t n = 0;
	int s;

	for (s = 0; s < NB_ST__COUNT; s++) {
		const char *d = nb_status_direction((enum nb_status)s);

		if (nb_status_blame((enum nb_status)s) != b)
			continue;
		if (dir && (!d || strcmp(d, dir)))
			continue;
		n += counts[s];
	}
	return n;
}

static uint64_t s_rec(const struct nb_recovered *rec, enum nb_blame b, int dir)
{
	if (!rec)
		return 0;
	return dir < 0 ? rec->copies[b][0] + rec->copies[b][1] : rec->copies[b][dir];
}

enum nb_verdict nb_verdict_of(const uint64_t counts[NB_ST__COUNT], const struct nb_recovered *rec)
{
	enum nb_verdict v = NB_VERDICT_HEALTHY;
	uint64_t best = 0, n, inc = counts[NB_ST_INCONCLUSIVE];
	int i;

	for (i = 0; i < S_NCHAIN_CLS; i++) {
		n = s_class_count(counts, s_classes[i].blame, NULL) +
		    s_rec(rec, s_classes[i].blame, -1);
		if (n > best) {
			best = n;
			v = s_classes[i].verdict;
		}
	}
	if (inc > 0 && inc >= best)
		return NB_VERDICT_INCONCLUSIVE;
	return v;
}

enum nb_verdict nb_verdict_evidence(enum nb_verdict v, bool evidence_lost)
{
	return evidence_lost && v == NB_VERDICT_HEALTHY ? NB_VERDICT_INCONCLUSIVE : v;
}

static const enum nb_status *s_table(int nstages)
{
	return nstages == 4 ? s_local_st : nstages == 8 ? s_chain_st : NULL;
}

void nb_blind_add(struct nb_blind *b, const struct nb_joined *p, enum nb_status st)
{
	const enum nb_status *tab = p ? s_table(p->nstages) : NULL;

	if (!tab || p->highest < 0 || p->highest >= p->nstages ||
	    (b->nstages && b->nstages != p->nstages))
		return;
	b->nstages = p->nstages;
	if (st == NB_ST_COMPLETE) {
		b->delivered++;
		for (int s = 0; s < p->highest; s++)
			if (!p->st[s].seen)
				b->unseen[s]++;
	} else if (p->highest + 1 < p->nstages && st == tab[p->highest]) {
		b->resting[p->highest + 1]++;
	}
}

bool nb_blind_suspect(const struct nb_blind *b, int stage)
{
	double expect;

	if (stage <= 0 || stage >= b->nstages || !b->unseen[stage] || !b->resting[stage] ||
	    !b->delivered)
		return false;
	/* Packets that reached the stage before it: the delivered ones and those dropped here. */
	expect = (double)b->unseen[stage] / (double)b->delivered *
		 (double)(b->delivered + b->resting[stage]);
	return (double)b->resting[stage] <= 2 * expect;
}

enum nb_verdict nb_verdict_blind(enum nb_verdict v, const struct nb_blind *b, int *stage)
{
	const enum nb_status *tab = s_table(b->nstages);

	if (stage)
		*stage = -1;
	if (!tab || v == NB_VERDICT_HEALTHY || v == NB_VERDICT_INCONCLUSIVE)
		return v;
	for (int s = 1; s < b->nstages; s++) {
		enum nb_blame cls = nb_status_blame(tab[s - 1]);

		if (!nb_blind_suspect(b, s))
			continue;
		for (int i = 0; i < S_NCHAIN_CLS; i++)
			if (s_classes[i].blame == cls && s_classes[i].verdict == v) {
				if (stage)
					*stage = s;
				return NB_VERDICT_INCONCLUSIVE;
			}
	}
	return v;
}

const char *nb_verdict_name(enum nb_verdict v)
{
	switch (v) {
	case NB_VERDICT_HEALTHY:
		return "HEALTHY";
	case NB_VERDICT_NETWORK:
		return "NETWORK";
	case NB_VERDICT_NODE_A:
		return "NODE_A";
	case NB_VERDICT_NODE_B:
		return "NODE_B";
	case NB_VERDICT_DEST:
		return "DEST";
	case NB_VERDICT_INCONCLUSIVE:
		return "INCONCLUSIVE";
	}
	return NULL;
}

int nb_verdict_exit_code(enum nb_verdict v)
{
	switch (v) {
	case NB_VERDICT_HEALTHY:
		return 0;
	case NB_VERDICT_NETWORK:
		return 10;
	case NB_VERDICT_NODE_A:
		return 11;
	case NB_VERDICT_NODE_B:
		return 12;
	case NB_VERDICT_DEST:
		return 13;
	case NB_VERDICT_INCONCLUSIVE:
		return 15;
	}
	return 1;
}

void nb_appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (*off < len)
		n = vsnprintf(buf + *off, len - *off, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

int nb_verdict_detail(const uint64_t counts[NB_ST__COUNT], const struct nb_recovered *rec,
		      char *buf, size_t len)
{
	uint64_t n, req, rep, inc = counts[NB_ST_INCONCLUSIVE], rd, ra;
	size_t off = 0;
	int i;

	if (!buf)
		len = 0;
	if (len)
		buf[0] = '\0';
	for (i = 0; i < S_NCLASSES; i++) {
		n = s_class_count(counts, s_classes[i].blame, NULL);
		rd = s_rec(rec, s_classes[i].blame, 0);
		ra = s_rec(rec, s_classes[i].blame, 1);
		if (!n && !rd && !ra)
			continue;
		nb_appendf(buf, len, &off, "%s%s: ", off ? "; " : "", s_classes[i].name);
		if (n) {
			req = s_class_count(counts, s_classes[i].blame, "request");
			rep = s_class_count(counts, s_classes[i].blame, "reply");
			nb_appendf(buf, len, &off, "%llu", (unsigned long long)n);
			if (req && rep)
				nb_appendf(buf, len, &off, " (request %llu, reply %llu)",
					   (unsigned long long)req, (unsigned long long)rep);
			else if (req)
				nb_appendf(buf, len, &off, " (request %llu)",
					   (unsigned long long)req);
			else if (rep)
				nb_appendf(buf, len, &off, " (reply %llu)",
					   (unsigned long long)rep);
		}
		if (!rd && !ra)
			continue;
		if (s_classes[i].blame == NB_BLAME_EXTERNAL) {
			/* one host cannot tell a copy lost beyond it from a spurious one */
			nb_appendf(buf, len, &off,
				   "%s%llu copies sent again after leaving (lost beyond this host, or "
				   "spurious)",
				   n ? ", " : "", (unsigned long long)(rd + ra));
			continue;
		}
		nb_appendf(buf, len, &off, "%s%llu lost copies recovered by retransmission", n ? ", " : "",
			   (unsigned long long)(rd + ra));
		if (rd && ra)
			nb_appendf(buf, len, &off, " (request %llu, ACK direction %llu)",
				   (unsigned long long)rd, (unsigned long long)ra);
		else
			nb_appendf(buf, len, &off, rd ? " (request direction)" : " (ACK direction)");
	}
	if (inc)
		nb_appendf(buf, len, &off, "%sINCONCLUSIVE: %llu", off ? "; " : "",
			 (unsigned long long)inc);
	if (!off)
		nb_appendf(buf, len, &off, "none");
	return (int)off;
}
