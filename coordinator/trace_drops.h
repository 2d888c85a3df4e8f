/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * netblame trace's drop attribution: each node's drop events by packet (common/nb_dropmap),
 * the names the node sent for them (DROPINFO), and the "drop" of a packet whose status is a
 * drop inside a node, for the per-packet lines and the JSON report.
 */
#ifndef NB_TRACE_DROPS_H
#define NB_TRACE_DROPS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "nb_dropmap.h"
#include "nb_wire.h"

struct nb_tdrops;

struct nb_tdrops *nb_tdrops_new(void);
/* A drop event of node (0 = A, 1 = B) under that node's flow spec; ts_ref on our clock. */
void nb_tdrops_event(struct nb_tdrops *t, int node, const struct nb_flow_spec *spec,
		     const struct nb_event *e, uint64_t ts_ref);
void nb_tdrops_info(struct nb_tdrops *t, int node, const struct nb_msg_dropinfo *di);
/* The node could not attach its drop tracer: its drops have no events. */
void nb_tdrops_unattached(struct nb_tdrops *t, int node, const char *why);
/* Cumulative drop events the node lost (its STATS "lost_drop_events"). */
void nb_tdrops_lost(struct nb_tdrops *t, int node, uint64_t lost);
/* Drop events of the node that belonged to the flow. */
uint64_t nb_tdrops_seen(const struct nb_tdrops *t, int node);

/* The status to report for p: st, or a node's internal drop if it freed p after its last stage. */
enum nb_status nb_tdrops_refine(const struct nb_tdrops *t, const struct nb_joined *p,
				enum nb_status st);
/*
 * The drop reason's name ("FULL_RING") of a packet whose status is a drop inside a node, and
 * that node (0 = A, 1 = B) into *node; NULL when no drop event or no name was seen for it.
 */
const char *nb_tdrops_reason(const struct nb_tdrops *t, const struct nb_joined *p,
			     enum nb_status st, int *node);
/* The packet's "drop": an object for a drop inside a node, else JSON null. */
json_t *nb_tdrops_json(const struct nb_tdrops *t, const struct nb_joined *p, enum nb_status st);
/* Lines under the packet's line for a drop inside a node; nothing for other statuses. */
void nb_tdrops_print(const struct nb_tdrops *t, FILE *f, const struct nb_joined *p,
		     enum nb_status st, const char *const node_names[2]);

void nb_tdrops_free(struct nb_tdrops **pt);

#endif /* NB_TRACE_DROPS_H */
