/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Finding a node's traced interfaces from the flow's addresses: which port of this host the
 * local VM sits behind (the VM side) and which device the traffic to the peer leaves by (the
 * uplink, all slaves of a bond). Pure logic over tables the agent gathers in the session's
 * network namespace (rtnetlink: links, addresses, neighbours, the bridges' FDBs, the route to
 * the peer; and what it learned from traffic when the tables did not say), so it is tested on
 * recorded tables. Every choice comes with the reason it was made; a question with more than
 * one answer is an error that lists the candidates, never a guess.
 */
#ifndef NB_DISCOVER_H
#define NB_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nb_event.h"

#define NB_DISC_MAX_LINKS 512
#define NB_DISC_MAX_ADDRS 512
#define NB_DISC_MAX_NEIGH 1024
#define NB_DISC_MAX_FDB	  2048
#define NB_DISC_MAX_SEEN  64
#define NB_DISC_WHY_MAX	  255
#define NB_DISC_NAME_MAX  15

struct nb_disc_link {
	uint32_t ifindex;
	char name[NB_DISC_NAME_MAX + 1];
	char kind[16];	 /* IFLA_INFO_KIND: "bridge", "bond", "tun", "veth", "openvswitch", "" */
	uint32_t master; /* IFLA_MASTER; 0 = none */
	uint32_t lower;	 /* IFLA_LINK of a vlan/macvlan; 0 = none */
	bool up;	 /* IFF_UP */
	bool has_mac;
	uint8_t mac[6]; /* IFLA_ADDRESS when it is an Ethernet address */
};

struct nb_disc_addr {
	uint32_t ifindex;
	uint8_t family; /* 4 or 6 */
	uint8_t addr[NB_ADDR_LEN];
};

/* A neighbour (ARP/ND) entry that holds a link-layer address. */
struct nb_disc_neigh {
	uint32_t ifindex;
	uint8_t family;
	uint8_t addr[NB_ADDR_LEN];
	uint8_t mac[6];
};

/* A bridge FDB entry learned or configured on a port (the ports' own addresses left out). */
struct nb_disc_fdb {
	uint32_t port;
	uint32_t bridge;
	uint8_t mac[6];
};

/* A packet of the address arriving on ifindex: an ARP/ND answer to our probe, or any packet. */
struct nb_disc_seen {
	uint32_t ifindex;
	uint8_t family;
	uint8_t addr[NB_ADDR_LEN];
	bool probe; /* an answer to our ARP request / neighbour solicitation */
};

struct nb_disc_tables {
	uint32_t n_links, n_addrs, n_neigh, n_fdb, n_seen;
	struct nb_disc_link links[NB_DISC_MAX_LINKS];
	struct nb_disc_addr addrs[NB_DISC_MAX_ADDRS];
	struct nb_disc_neigh neigh[NB_DISC_MAX_NEIGH];
	struct nb_disc_fdb fdb[NB_DISC_MAX_FDB];
	struct nb_disc_seen seen[NB_DISC_MAX_SEEN];
	/* The route to the peer: its output device (0 = no route) and gateway (if any). */
	uint32_t route_oif;
	bool route_gw;
	uint8_t gw[NB_ADDR_LEN];
	/* Learning from traffic ran, for this long; what it saw is in seen[]. */
	bool learned;
	uint32_t learn_ms;
};

/* One side's choice: the interfaces (slaves of a bond expanded) and why. */
struct nb_disc_side {
	uint32_t n;
	uint32_t ifindex[NB_MAX_IFS];
	char name[NB_MAX_IFS][NB_DISC_NAME_MAX + 1];
	char why[NB_DISC_WHY_MAX + 1];
};

/* The question: the address of this node's VM, the peer's, and which sides are wanted. */
struct nb_disc_query {
	uint8_t family;
	uint8_t local[NB_ADDR_LEN];
	uint8_t peer[NB_ADDR_LEN];
	bool want_vm, want_uplink;
	uint32_t max_ifs; /* at most this many interfaces over both sides */
};

/*
 * Decides. 0: vm and/or uplink filled in (those wanted). -EAGAIN: the tables do not tell and
 * learning from traffic has not run yet (t->learned false): learn and ask again. Else a
 * negative errno and one line in err: -ENOTUNIQ when several candidates fit (they are
 * listed), -ENXIO when none does, -EADDRINUSE when the local address is this host's own
 * (host traffic has no VM port: the stage chain starts on one), -E2BIG over max_ifs.
 */
int nb_disc_decide(const struct nb_disc_tables *t, const struct nb_disc_query *q,
		   struct nb_disc_side *vm, struct nb_disc_side *uplink, char *err, size_t errlen);

/*
 * Open vSwitch's userspace datapath, which rtnetlink does not show as a switch (its bridge's
 * device is a tap, its ports have no master), from `ovs-appctl dpif/show` (text, cut into
 * lines in place): on each "netdev@" datapath, the link of a bridge's LOCAL port (OpenFlow
 * port 65534) becomes kind "openvswitch", and the bridge's other ports in t->links get it as
 * master. Kernel-datapath ("system@") bridges are left as rtnetlink shows them. Returns how
 * many bridge devices were marked; their indexes in t->links go to local[] (at most max).
 */
int nb_disc_ovs_dpif(struct nb_disc_tables *t, char *text, uint32_t *local, int max);

/*
 * The rtnetlink answers (as recv() returns them) to the requests the agent makes in the
 * session's namespace, into t: RTM_NEWLINK (name, kind from IFLA_LINKINFO, IFLA_MASTER, so a
 * bond's slaves name it, IFLA_LINK, IFF_UP, the Ethernet address), RTM_NEWADDR, RTM_NEWNEIGH of
 * the flow's family (entries with a link-layer address that is not INCOMPLETE/FAILED) and of
 * AF_BRIDGE (FDB entries on a port of a master, not the permanent ones: those are the ports'
 * own), RTM_NEWROUTE (a unicast route's output device and gateway). Messages whose sequence
 * number is not seq are skipped; family (4 or 6) sizes the addresses of a route. Returns 0 when
 * more is to come, 1 when the answer is complete (NLMSG_DONE, or the one message of a request
 * that is not a dump), or the negative errno of an NLMSG_ERROR. What does not fit in t is
 * left out.
 */
int nb_disc_nl_feed(struct nb_disc_tables *t, const void *buf, size_t len, uint32_t seq, bool dump,
		    uint8_t family);

/* "vnet0+ens4f0" style join of a side's names. */
void nb_disc_names(const struct nb_disc_side *s, char *buf, size_t len);

#endif
