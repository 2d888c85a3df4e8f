// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Drop attribution for a remote session: the drop tracer watches the session's flow in the
 * session's namespace (on any device: a packet can die anywhere in the node), its ring is read
 * by the stage tracer's poll so drop events travel in the same EVENTS batches, and the names
 * only this host can give (reason, location, device, stack) go once per key in a DROPINFO
 * sent before the batch with the first drop of that key.
 */
#include "agent.h"
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_MAX_KEYS	256  /* DROPINFO keys per session; later keys go without names */
#define S_STACK_ENTRIES 1024 /* per session: a flow's drops come from few places */
#define S_RINGBUF_BYTES (256u << 10)

struct s_key {
	int32_t stack_id;
	uint32_t reason;
	uint32_t ifindex;
	uint64_t location;
};

struct nb_sdrop {
	struct nb_drops *d;
	struct nb_sym *sym;
	struct nb_netns ns; /* a copy of the session's, for interface names */
	struct s_key keys[S_MAX_KEYS];
	uint32_t n_keys;
	uint64_t info_sent, info_unsent;
};

static void s_free(struct nb_sdrop *sd)
{
	if (!sd)
		return;
	nb_drops_destroy(&sd->d);
	nb_sym_destroy(&sd->sym);
	nb_netns_close(&sd->ns);
	free(sd);
}

int nb_sdrop_start(struct nb_sess *s, const struct nb_flow_spec *spec, const struct nb_netns *ns,
		   char *err, size_t errlen)
{
	struct nb_drops_cfg cfg = {0};
	struct nb_sdrop *sd;
	int rc;

	sd = calloc(1, sizeof(*sd));
	if (!sd) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	sd->ns = *ns;
	sd->ns.fd = ns->fd >= 0 ? fcntl(ns->fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (ns->fd >= 0 && sd->ns.fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot keep the namespace open: %s", strerror(errno));
		goto fail;
	}
	/* The flow both ways in the namespace; no device filter: drops happen anywhere. */
	nb_flow_filter(spec, ns->inum, &cfg.filter);
	cfg.filter.n_ifindex = 0;
	cfg.ringbuf_bytes = S_RINGBUF_BYTES;
	cfg.stack_entries = S_STACK_ENTRIES;
	/* A packet's loss, not the host stack's copy of a frame a user-space switch forwarded. */
	cfg.skip_copies = true;
	rc = nb_sym_open(&sd->sym, err, errlen);
	if (rc)
		goto fail;
	rc = nb_drops_open(&sd->d, &cfg, NULL, NULL, err, errlen);
	if (rc)
		goto fail;
	rc = nb_tracer_add_ring(s->tr, nb_drops_ring_fd(sd->d), nb_sess_on_event, s);
	if (rc) {
		snprintf(err, errlen, "cannot read the drop ring with the stages': %s",
			 strerror(-rc));
		goto fail;
	}
	s->drop = sd;
	return 0;
fail:
	s_free(sd);
	return rc;
}

static struct s_key *s_find(struct nb_sdrop *sd, const struct s_key *k)
{
	for (uint32_t i = 0; i < sd->n_keys; i++)
		if (!memcmp(&sd->keys[i], k, sizeof(*k)))
			return &sd->keys[i];
	return NULL;
}

void nb_sdrop_event(struct nb_sess *s, const struct nb_event *e)
{
	struct nb_sdrop *sd = s->drop;
	struct s_key k = {0};
	struct nb_msg_dropinfo *di;
	const struct nb_stack *st;
	char ifn[16];

	if (!sd || e->type != NB_EV_DROP)
		return;
	k.stack_id = e->stack_id;
	k.reason = e->reason;
	k.ifindex = e->ifindex;
	k.location = e->location;
	if (s_find(sd, &k))
		return;
	if (sd->n_keys >= S_MAX_KEYS) {
		sd->info_unsent++;
		return;
	}
	memset(s->srv->tx, 0, sizeof(*s->srv->tx));
	s->srv->tx->type = NB_MSG_DROPINFO;
	di = &s->srv->tx->dropinfo;
	di->session = s->id;
	di->stack_id = k.stack_id;
	di->reason = k.reason;
	di->ifindex = k.ifindex;
	di->location = k.location;
	if (nb_drops_have_reasons(sd->d))
		nb_sym_reason(sd->sym, k.reason, di->reason_name, sizeof(di->reason_name));
	else
		snprintf(di->reason_name, sizeof(di->reason_name), "-");
	nb_sym_addr(sd->sym, k.location, true, di->location_sym, sizeof(di->location_sym));
	if (k.ifindex && !nb_netns_ifname(&sd->ns, k.ifindex, ifn))
		snprintf(di->ifname, sizeof(di->ifname), "%s", ifn);
	st = nb_drops_stack(sd->d, sd->sym, k.stack_id);
	for (int i = 0; st && i < st->n && i < NB_WIRE_MAX_FRAMES; i++)
		snprintf(di->frames[di->n_frames++], sizeof(di->frames[0]), "%s", st->frames[i]);
	/* Not sent (a full socket): the next drop with this key tries again. */
	if (nb_srv_send_msg(s->srv, &s->peer)) {
		sd->info_unsent++;
		return;
	}
	sd->keys[sd->n_keys++] = k;
	sd->info_sent++;
}

void nb_sdrop_counters(const struct nb_sess *s, uint64_t *seen, uint64_t *lost, uint64_t *sent,
		       uint64_t *copies)
{
	struct nb_drops_stats st;

	*seen = *lost = *sent = *copies = 0;
	if (!s->drop)
		return;
	nb_drops_get_stats(s->drop->d, &st);
	*seen = st.matched;
	*copies = st.copies;
	*lost = st.lost + st.missed;
	*sent = s->drop->info_sent;
}

void nb_sdrop_stop(struct nb_sess *s)
{
	s_free(s->drop);
	s->drop = NULL;
}
