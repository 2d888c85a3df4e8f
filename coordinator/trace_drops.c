// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "trace_drops.h"

#include <stdlib.h>
#include <string.h>

#include "nb_reason.h"

#define S_MAP_CAP  65536 /* drops kept per trace, the newest */
#define S_MAX_INFO 1024	 /* DROPINFO per node; the agent sends at most 256 per session */
#define S_STALE_NS 1000000000ull
/* A flow rule of a switch in user space (OVS's userspace datapath) drops without the kernel. */
#define S_NOT_SEEN                                                                                 \
	"no drop event seen: the NIC dropped it, or it died outside the kernel's traced hooks "    \
	"(e.g. by a flow rule of a switch in user space)"

struct s_info {
	int32_t stack_id;
	uint32_t reason;
	uint32_t ifindex;
	uint64_t location;
	char reason_name[NB_WIRE_NAME_MAX + 1];
	char location_sym[NB_WIRE_FRAME_MAX + 1];
	char ifname[NB_WIRE_IFNAME_MAX + 1];
	uint32_t n_frames;
	char (*frames)[NB_WIRE_FRAME_MAX + 1];
};

struct s_node {
	struct s_info *info;
	uint32_t n_info;
	uint64_t seen;
	uint64_t lost;
	char unattached[NB_WIRE_STR_MAX + 1];
};

struct nb_tdrops {
	struct nb_dropmap *map;
	struct s_node node[2];
};

struct nb_tdrops *nb_tdrops_new(void)
{
	struct nb_tdrops *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->map = nb_dropmap_new(S_MAP_CAP);
	if (!t->map) {
		free(t);
		return NULL;
	}
	return t;
}

void nb_tdrops_event(struct nb_tdrops *t, int node, const struct nb_flow_spec *spec,
		     const struct nb_event *e, uint64_t ts_ref)
{
	if (nb_dropmap_put_event(t->map, node, spec, e, ts_ref) >= 0)
		t->node[node].seen++;
}

static struct s_info *s_find(const struct s_node *n, const struct nb_drop_obs *d)
{
	for (uint32_t i = 0; i < n->n_info; i++) {
		struct s_info *in = &n->info[i];

		if (in->stack_id == d->stack_id && in->reason == d->reason &&
		    in->ifindex == d->ifindex && in->location == d->location)
			return in;
	}
	return NULL;
}

void nb_tdrops_info(struct nb_tdrops *t, int node, const struct nb_msg_dropinfo *di)
{
	struct s_node *n = &t->node[node];
	struct nb_drop_obs k = {.stack_id = di->stack_id,
				.reason = di->reason,
				.ifindex = di->ifindex,
				.location = di->location};
	struct s_info *in;

	if (s_find(n, &k))
		return;
	if (n->n_info >= S_MAX_INFO)
		return;
	if (!n->info) {
		n->info = calloc(S_MAX_INFO, sizeof(*n->info));
		if (!n->info)
			return;
	}
	in = &n->info[n->n_info];
	memset(in, 0, sizeof(*in));
	if (di->n_frames) {
		in->frames = malloc(di->n_frames * sizeof(in->frames[0]));
		if (!in->frames)
			return;
		memcpy(in->frames, di->frames, di->n_frames * sizeof(in->frames[0]));
		in->n_frames = di->n_frames;
	}
	in->stack_id = di->stack_id;
	in->reason = di->reason;
	in->ifindex = di->ifindex;
	in->location = di->location;
	memcpy(in->reason_name, di->reason_name, sizeof(in->reason_name));
	memcpy(in->location_sym, di->location_sym, sizeof(in->location_sym));
	memcpy(in->ifname, di->ifname, sizeof(in->ifname));
	n->n_info++;
}

void nb_tdrops_unattached(struct nb_tdrops *t, int node, const char *why)
{
	snprintf(t->node[node].unattached, sizeof(t->node[node].unattached), "%s", why);
}

void nb_tdrops_lost(struct nb_tdrops *t, int node, uint64_t lost)
{
	t->node[node].lost = lost;
}

uint64_t nb_tdrops_seen(const struct nb_tdrops *t, int node)
{
	return t->node[node].seen;
}

/* The drop of the packet at its site, if one was seen there while the packet lived. */
static const struct nb_drop_obs *s_drop_of(const struct nb_tdrops *t, const struct nb_joined *p,
					   enum nb_status st, int *node)
{
	const struct nb_drop_obs *d;
	int dir;

	if (!nb_drop_site(st, node, &dir))
		return NULL;
	d = nb_dropmap_get(t->map, *node, dir, &p->key);
	/* An id/seq seen again later names another packet: this drop is not that one's. */
	if (d && d->ts_ref + S_STALE_NS < p->first_ts_ref)
		return NULL;
	return d;
}

enum nb_status nb_tdrops_refine(const struct nb_tdrops *t, const struct nb_joined *p,
				enum nb_status st)
{
	return nb_dropmap_refine(t->map, p, st, NULL);
}

const char *nb_tdrops_reason(const struct nb_tdrops *t, const struct nb_joined *p,
			     enum nb_status st, int *node)
{
	const struct nb_drop_obs *d = s_drop_of(t, p, st, node);
	const struct s_info *in = d ? s_find(&t->node[*node], d) : NULL;

	return in && in->reason_name[0] ? in->reason_name : NULL;
}

static void s_why_unseen(const struct s_node *n, char *buf, size_t len)
{
	if (n->unattached[0])
		snprintf(buf, len, "no drop events: the node's drop tracer could not attach (%s)",
			 n->unattached);
	else if (n->lost)
		snprintf(buf, len, "%s (%llu drop events were lost on this node)", S_NOT_SEEN,
			 (unsigned long long)n->lost);
	else
		snprintf(buf, len, "%s", S_NOT_SEEN);
}

/* "nft_do_chain" from "nft_do_chain+0x46f". */
static void s_func(const char *sym, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", (int)strcspn(sym, "+"), sym);
}

static void s_ifname(const struct s_info *in, const struct nb_drop_obs *d, char *buf, size_t len)
{
	if (in && in->ifname[0])
		snprintf(buf, len, "%s", in->ifname);
	else if (d->ifindex)
		snprintf(buf, len, "ifindex %u", d->ifindex);
	else
		snprintf(buf, len, "-");
}

json_t *nb_tdrops_json(const struct nb_tdrops *t, const struct nb_joined *p, enum nb_status st)
{
	const struct nb_drop_obs *d;
	const struct s_info *in;
	char buf[NB_WIRE_STR_MAX + 160], ifn[32];
	json_t *o, *frames;
	int node, dir;

	if (!nb_drop_site(st, &node, &dir))
		return json_null();
	o = json_object();
	json_object_set_new(o, "node", json_string(node ? "B" : "A"));
	d = s_drop_of(t, p, st, &node);
	json_object_set_new(o, "seen", json_boolean(d != NULL));
	if (!d) {
		s_why_unseen(&t->node[node], buf, sizeof(buf));
		json_object_set_new(o, "detail", json_string(buf));
		return o;
	}
	in = s_find(&t->node[node], d);
	s_ifname(in, d, ifn, sizeof(ifn));
	if (in) {
		json_object_set_new(o, "reason", json_string(in->reason_name));
		s_func(in->location_sym, buf, sizeof(buf));
		json_object_set_new(o, "location", json_string(buf));
		json_object_set_new(o, "location_ip", json_string(in->location_sym));
		if (nb_reason_explain(in->reason_name))
			json_object_set_new(o, "explain",
					    json_string(nb_reason_explain(in->reason_name)));
	} else {
		/* The node's names never came (lost, or over its bound): numbers only. */
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)d->location);
		json_object_set_new(o, "reason", json_null());
		json_object_set_new(o, "location", json_string(buf));
	}
	json_object_set_new(o, "reason_code", json_integer(d->reason));
	json_object_set_new(o, "interface", json_string(ifn));
	json_object_set_new(o, "ifindex", json_integer(d->ifindex));
	json_object_set_new(o, "ktime_ns", json_integer((json_int_t)d->ts));
	frames = json_array();
	for (uint32_t i = 0; in && i < in->n_frames; i++)
		json_array_append_new(frames, json_string(in->frames[i]));
	json_object_set_new(o, "stack", frames);
	return o;
}

void nb_tdrops_print(const struct nb_tdrops *t, FILE *f, const struct nb_joined *p,
		     enum nb_status st, const char *const node_names[2])
{
	const struct nb_drop_obs *d;
	const struct s_info *in;
	char buf[NB_WIRE_STR_MAX + 160], ifn[32];
	int node, dir;

	if (!nb_drop_site(st, &node, &dir))
		return;
	d = s_drop_of(t, p, st, &node);
	fprintf(f, "    drop on %s (%s): ", node ? "B" : "A", node_names[node]);
	if (!d) {
		s_why_unseen(&t->node[node], buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
		return;
	}
	in = s_find(&t->node[node], d);
	s_ifname(in, d, ifn, sizeof(ifn));
	if (in && nb_reason_explain(in->reason_name))
		fprintf(f, "%s at %s on %s (%s)\n", in->reason_name, in->location_sym, ifn,
			nb_reason_explain(in->reason_name));
	else if (in)
		fprintf(f, "%s at %s on %s\n", in->reason_name, in->location_sym, ifn);
	else
		fprintf(f, "reason %u at 0x%llx on %s (the node's names for it never came)\n",
			d->reason, (unsigned long long)d->location, ifn);
	if (in && in->n_frames) {
		fprintf(f, "      Stack:\n");
		for (uint32_t i = 0; i < in->n_frames; i++)
			fprintf(f, "        %s\n", in->frames[i]);
	}
}

void nb_tdrops_free(struct nb_tdrops **pt)
{
	struct nb_tdrops *t = pt ? *pt : NULL;

	if (!t)
		return;
	for (int n = 0; n < 2; n++) {
		for (uint32_t i = 0; i < t->node[n].n_info; i++)
			free(t->node[n].info[i].frames);
		free(t->node[n].info);
	}
	nb_dropmap_free(&t->map);
	free(t);
	*pt = NULL;
}
