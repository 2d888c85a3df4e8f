/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * netblame trace for TCP and UDP: the line and the JSON of a segment or datagram with a final
 * status, and the run's copies and fragments lost by place, for coordinator/trace.c. ICMP keeps
 * trace.c's own line, built by hand for speed.
 */
#ifndef NB_TRACE_TCPUDP_H
#define NB_TRACE_TCPUDP_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "nb_path.h"

/*
 * "[HH:MM:SS.mmm] TCP A:P -> B:P seq=S len=L  STATUS  stages=A0,..." and what is known about
 * copies, ACKs or fragments. src/dst are the request direction's addresses.
 */
void nb_ttu_print(FILE *f, const struct nb_path_res *r, const char *src, const char *dst,
		  int64_t wall_off, uint64_t timeout_ms);

/* The packet of the JSON report: key, status, stages and the protocol's extras; drop is taken. */
json_t *nb_ttu_json(const struct nb_path_res *r, uint64_t timeout_ms, json_t *drop);

/* The run's lost copies (TCP) or fragments (UDP), as a report line or in the report object. */
void nb_ttu_report_text(FILE *f, const struct nb_path_totals *tt, uint8_t proto);
void nb_ttu_report_json(json_t *o, const struct nb_path_totals *tt, uint8_t proto);

#endif /* NB_TRACE_TCPUDP_H */
