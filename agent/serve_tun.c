// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * A session's tun ring monitor: when the coordinator asks (START monitors) and the session's
 * VM port is a tun/tap, the tun ring monitor (agent/nb_tunmon.c, the tool's own loader) watches
 * that port's ring for the session's life, filtered to the session's flow for the matched
 * counts and the sojourn. Its counts since the attach go to the coordinator in MONITOR
 * messages: once after STARTED (attached, or why not), then with every STATS, the last one
 * before the final STATS. Only counters are read, no events: the program's ring buffer is
 * off.
 */
#include "agent.h"
#include "serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb_evidence.h"

struct nb_stun {
	struct nb_tunmon *mon; /* NULL: not attached, why says so */
	char ifname[NB_WIRE_IFNAME_MAX + 1];
	char why[NB_WIRE_STR_MAX + 1];
	struct nb_tunq q[NB_TUN_MAXQ];
	struct nb_wire_monq w[NB_TUN_MAXQ];
	uint64_t soj[NB_TUN_MAXQ][NB_MON_SLOTS];
	uint64_t read_errors;
};

/* The VM's side: rx on A (the VM is the source), tx on B (the destination). */
static bool s_vm_side(uint8_t local, const struct nb_flow_spec *spec, char (*rx)[16],
		      char (*tx)[16], const char **name, uint32_t *ifindex)
{
	if (local == NB_START_LOCAL_SRC && spec->n_rx) {
		*name = rx[0];
		*ifindex = spec->rx_if[0];
		return true;
	}
	if (local == NB_START_LOCAL_DST && spec->n_tx) {
		*name = tx[0];
		*ifindex = spec->tx_if[0];
		return true;
	}
	return false;
}

void nb_stun_start(struct nb_sess *s, uint32_t monitors, uint8_t local,
		   const struct nb_flow_spec *spec, const struct nb_netns *ns, char (*rx)[16],
		   char (*tx)[16])
{
	struct nb_tunmon_cfg cfg = {0};
	struct nb_stun *t;
	const char *name = NULL;
	uint32_t ifindex = 0;
	char err[NB_WIRE_STR_MAX + 1], warn[256];
	int rc;

	if (!(monitors & NB_MON_TUN_RING))
		return;
	t = calloc(1, sizeof(*t));
	if (!t) {
		nb_srv_log(s->srv, "session %llu: no memory for the tun ring monitor",
			   (unsigned long long)s->id);
		return;
	}
	s->tun = t;
	if (!s_vm_side(local, spec, rx, tx, &name, &ifindex)) {
		snprintf(t->why, sizeof(t->why),
			 "the START did not say which side is the VM's (no local address)");
		return;
	}
	snprintf(t->ifname, sizeof(t->ifname), "%s", name);
	if (s->srv->no_probes) {
		snprintf(t->why, sizeof(t->why), "--test-no-probes: nothing attached");
		return;
	}
	rc = nb_tunmon_is_tap(ns, name, err, sizeof(err));
	if (rc) {
		/* A veth or bridge port: there is no tun ring to watch, which is no error. */
		snprintf(t->why, sizeof(t->why), "%.200s: no tun ring to watch", err);
		return;
	}
	nb_flow_filter(spec, ns->inum, &cfg.filter);
	cfg.filter.ifindex[0] = ifindex;
	cfg.filter.n_ifindex = 1;
	cfg.parse_all = true; /* the flow's share (matched) and its sojourn */
	cfg.no_events = true;
	cfg.ns = ns;
	rc = nb_tunmon_open(&t->mon, &cfg, NULL, NULL, err, sizeof(err), warn, sizeof(warn));
	if (rc) {
		snprintf(t->why, sizeof(t->why), "%s", err);
		nb_srv_log(s->srv, "session %llu: tun ring monitor on %s not attached: %s",
			   (unsigned long long)s->id, name, err);
		return;
	}
	if (warn[0])
		nb_srv_log(s->srv, "session %llu: tun ring monitor on %s: %s",
			   (unsigned long long)s->id, name, warn);
	nb_srv_log(s->srv, "session %llu: tun ring monitor on %s attached",
		   (unsigned long long)s->id, name);
}

void nb_stun_report(struct nb_sess *s)
{
	struct nb_stun *t = s->tun;
	struct nb_msg_monitor *m;
	uint32_t nq = 0;

	if (!t)
		return;
	memset(s->srv->tx, 0, sizeof(*s->srv->tx));
	s->srv->tx->type = NB_MSG_MONITOR;
	m = &s->srv->tx->monitor;
	m->session = s->id;
	snprintf(m->monitor, sizeof(m->monitor), "tun_ring");
	snprintf(m->ifname, sizeof(m->ifname), "%s", t->ifname);
	m->attached = t->mon != NULL;
	if (t->mon) {
		/* The epoch never moves: each queue's high-water mark is since the attach. */
		int rc = nb_tunmon_read(t->mon, -1, t->q, false);

		if (rc) {
			t->read_errors++;
			snprintf(m->why, sizeof(m->why), "cannot read the ring counters: %s",
				 strerror(-rc));
		}
		for (uint32_t i = 0; !rc && i < NB_TUN_MAXQ; i++) {
			if (!t->q[i].seen)
				continue;
			nb_monq_from(&t->w[nq], i, &t->q[i].tot, &t->q[i].ring, t->q[i].hwm);
			memcpy(t->soj[nq], t->q[i].tot.sojourn, sizeof(t->soj[0]));
			nq++;
		}
		nb_monitor_fill(m, t->w, nq, (const uint64_t(*)[NB_MON_SLOTS])t->soj);
	} else {
		snprintf(m->why, sizeof(m->why), "%s", t->why);
	}
	nb_srv_send_msg(s->srv, &s->peer);
}

void nb_stun_stop(struct nb_sess *s)
{
	if (!s->tun)
		return;
	nb_tunmon_destroy(&s->tun->mon);
	free(s->tun);
	s->tun = NULL;
}
