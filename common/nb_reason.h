/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Drop reason names. The numbers change between kernels, so the table is filled at run time
 * from the running kernel's BTF (enum skb_drop_reason, enum skb_drop_reason_subsys, and the
 * subsystems' own enums in module BTF); this module only stores and looks up.
 *
 * A reason's upper 16 bits name a subsystem (0 = the core list). A subsystem reason that no
 * enum named prints as "SUBSYS:0xNNNN" (e.g. "OPENVSWITCH:0x0003"), an unknown core reason as
 * "UNKNOWN_N", so an unknown number is never shown as some other reason's name.
 *
 * Pure: no I/O, no printing. Errors are negative errno.
 */
#ifndef NB_REASON_H
#define NB_REASON_H

#include <stddef.h>
#include <stdint.h>

#define NB_REASON_SUBSYS_SHIFT 16

struct nb_reasons;

struct nb_reasons *nb_reasons_new(void);

/*
 * Add one enumerator of enum skb_drop_reason (or a subsystem's enum) by its C name. The
 * prefix SKB_DROP_REASON_ (or SKB_) is stripped; markers that are not reasons
 * (SKB_DROP_REASON_MAX, SKB_DROP_REASON_SUBSYS_MASK) are ignored. A value added twice keeps
 * its first name. 0 or -ENOMEM / -EINVAL.
 */
int nb_reasons_add(struct nb_reasons *r, uint32_t value, const char *cname);

/* Add one enumerator of enum skb_drop_reason_subsys (prefix SKB_DROP_REASON_SUBSYS_ stripped). */
int nb_reasons_add_subsys(struct nb_reasons *r, uint32_t subsys, const char *cname);

size_t nb_reasons_count(const struct nb_reasons *r);

/* The name of a reason, written to buf (always terminated) and returned. */
const char *nb_reasons_name(const struct nb_reasons *r, uint32_t value, char *buf, size_t len);

/* The value of a name as printed (e.g. "NETFILTER_DROP"); -ENOENT when unknown. */
int nb_reasons_value(const struct nb_reasons *r, const char *name, uint32_t *value);

void nb_reasons_free(struct nb_reasons **pr);

/*
 * What a drop reason, by its printed name, says about the hypervisor, and which monitor shows
 * more: FULL_RING is a tap ring the VM did not read in time (tun_ring_monitor), an
 * openvswitch reason a decision of the switch (ovs_upcall_latency_summary for its slow path).
 * NULL when there is nothing to add.
 */
const char *nb_reason_explain(const char *name);

#endif /* NB_REASON_H */
