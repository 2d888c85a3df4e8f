// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "nb_discover.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "nb_flow.h"

/* Candidates of one question, deduplicated, in the order found. */
struct s_cands {
	uint32_t n;
	uint32_t ifindex[NB_DISC_MAX_SEEN];
	bool probe[NB_DISC_MAX_SEEN];
};

static const struct nb_disc_link *s_link(const struct nb_disc_tables *t, uint32_t ifindex)
{
	for (uint32_t i = 0; i < t->n_links; i++)
		if (t->links[i].ifindex == ifindex)
			return &t->links[i];
	return NULL;
}

static const char *s_name(const struct nb_disc_tables *t, uint32_t ifindex)
{
	const struct nb_disc_link *l = s_link(t, ifindex);

	return l ? l->name : "?";
}

static bool s_kind(const struct nb_disc_link *l, const char *kind)
{
	return l && !strcmp(l->kind, kind);
}

/* A switch: its own device sees what is delivered to the host, never a port's traffic. */
static bool s_switch(const struct nb_disc_link *l)
{
	return s_kind(l, "bridge") || s_kind(l, "openvswitch");
}

static bool s_aggregate(const struct nb_disc_link *l)
{
	return s_kind(l, "bond") || s_kind(l, "team");
}

/*
 * The device a packet seen on ifindex belongs to, as a traced interface: a bond slave is its
 * bond, a VLAN device the device under it (a trunk is traced below its tags); a switch's own
 * device and loopback are nothing (0).
 */
static uint32_t s_port_of(const struct nb_disc_tables *t, uint32_t ifindex)
{
	const struct nb_disc_link *l = s_link(t, ifindex);

	for (int depth = 0; l && depth < 4; depth++) {
		const struct nb_disc_link *m = l->master ? s_link(t, l->master) : NULL;

		if (s_switch(l) || !strcmp(l->name, "lo"))
			return 0;
		if (s_aggregate(m)) {
			l = m;
			continue;
		}
		if ((s_kind(l, "vlan") || s_kind(l, "macvlan")) && l->lower) {
			l = s_link(t, l->lower);
			continue;
		}
		return l->ifindex;
	}
	return 0;
}

static void s_cand_add(struct s_cands *c, uint32_t ifindex, bool probe)
{
	if (!ifindex)
		return;
	for (uint32_t i = 0; i < c->n; i++)
		if (c->ifindex[i] == ifindex) {
			c->probe[i] |= probe;
			return;
		}
	if (c->n < NB_DISC_MAX_SEEN) {
		c->probe[c->n] = probe;
		c->ifindex[c->n++] = ifindex;
	}
}

static void s_cand_list(const struct nb_disc_tables *t, const struct s_cands *c, char *buf,
			size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (uint32_t i = 0; i < c->n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					s_name(t, c->ifindex[i]));
}

static bool s_addr_eq(const uint8_t *a, const uint8_t *b, uint8_t family)
{
	return !memcmp(a, b, family == 4 ? 4 : NB_ADDR_LEN);
}

static void s_mac_fmt(const uint8_t *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/*
 * The neighbour entry of addr (on dev, when dev is not 0): 1 found, 0 none, -ENOTUNIQ when
 * entries on different devices disagree on the MAC (the address is in two places).
 */
static int s_neigh(const struct nb_disc_tables *t, uint8_t family, const uint8_t *addr,
		   uint32_t dev, uint8_t mac[6], uint32_t *on)
{
	bool found = false;

	for (uint32_t i = 0; i < t->n_neigh; i++) {
		const struct nb_disc_neigh *n = &t->neigh[i];

		if (n->family != family || !s_addr_eq(n->addr, addr, family) ||
		    (dev && n->ifindex != dev))
			continue;
		if (found && memcmp(mac, n->mac, 6))
			return -ENOTUNIQ;
		memcpy(mac, n->mac, 6);
		*on = n->ifindex;
		found = true;
	}
	return found;
}

/* The ports the FDB holds mac behind (on bridge, when it is not 0), as traced devices. */
static void s_fdb(const struct nb_disc_tables *t, const uint8_t mac[6], uint32_t bridge,
		  struct s_cands *c, uint32_t *br_of_first)
{
	for (uint32_t i = 0; i < t->n_fdb; i++) {
		const struct nb_disc_fdb *f = &t->fdb[i];

		if (memcmp(f->mac, mac, 6) || (bridge && f->bridge != bridge))
			continue;
		if (!c->n)
			*br_of_first = f->bridge;
		s_cand_add(c, s_port_of(t, f->port), false);
	}
}

static void s_seen(const struct nb_disc_tables *t, uint8_t family, const uint8_t *addr,
		   struct s_cands *c)
{
	for (uint32_t i = 0; i < t->n_seen; i++) {
		const struct nb_disc_seen *s = &t->seen[i];

		if (s->family == family && s_addr_eq(s->addr, addr, family))
			s_cand_add(c, s_port_of(t, s->ifindex), s->probe);
	}
}

static const char *s_probe_name(uint8_t family)
{
	return family == 4 ? "ARP" : "neighbour solicitation";
}

/* "answered ARP on vnet0" or "sent a packet that arrived on vnet0". */
static void s_seen_why(const struct nb_disc_tables *t, const struct s_cands *c, uint8_t family,
		       const char *who, char *buf, size_t len)
{
	if (c->probe[0])
		snprintf(buf, len,
			 "%s answered %s on %s (no neighbour entry: learned from traffic)", who,
			 s_probe_name(family), s_name(t, c->ifindex[0]));
	else
		snprintf(
		    buf, len,
		    "a packet from %s arrived on %s (no neighbour entry: learned from traffic)",
		    who, s_name(t, c->ifindex[0]));
}

/* The traced interfaces of a device: a bond's (or team's) slaves, else the device itself. */
static int s_expand(const struct nb_disc_tables *t, uint32_t dev, struct nb_disc_side *s, char *err,
		    size_t errlen)
{
	const struct nb_disc_link *l = s_link(t, dev);
	size_t off;

	s->n = 0;
	if (!l) {
		snprintf(err, errlen, "interface %u vanished while it was being looked at", dev);
		return -ENODEV;
	}
	if (!s_aggregate(l)) {
		s->ifindex[0] = dev;
		snprintf(s->name[0], sizeof(s->name[0]), "%s", l->name);
		s->n = 1;
		return 0;
	}
	for (uint32_t i = 0; i < t->n_links; i++) {
		if (t->links[i].master != dev)
			continue;
		if (s->n >= NB_MAX_IFS) {
			snprintf(err, errlen, "%s %s has more than %d slaves to trace", l->kind,
				 l->name, NB_MAX_IFS);
			return -E2BIG;
		}
		s->ifindex[s->n] = t->links[i].ifindex;
		snprintf(s->name[s->n], sizeof(s->name[0]), "%s", t->links[i].name);
		s->n++;
	}
	if (!s->n) {
		snprintf(err, errlen, "%s %s has no slaves to trace", l->kind, l->name);
		return -ENXIO;
	}
	off = strlen(s->why);
	if (off < sizeof(s->why)) {
		char names[NB_MAX_IFS * (NB_DISC_NAME_MAX + 1) + 1];

		nb_disc_names(s, names, sizeof(names));
		snprintf(s->why + off, sizeof(s->why) - off, "; %s %s: slaves %s", l->kind, l->name,
			 names);
	}
	return 0;
}

static int s_vm_port(const struct nb_disc_tables *t, const struct nb_disc_query *q, uint32_t *port,
		     char *why, size_t whylen, char *err, size_t errlen)
{
	char a[64], mac_s[24], list[256];
	struct s_cands c = {0};
	uint32_t br = 0, on = 0;
	uint8_t mac[6];
	int rc;

	nb_addr_fmt(q->local, q->family, a, sizeof(a));
	for (uint32_t i = 0; i < t->n_addrs; i++)
		if (t->addrs[i].family == q->family &&
		    s_addr_eq(t->addrs[i].addr, q->local, q->family)) {
			snprintf(err, errlen,
				 "%s is this host's own address (on %s): host traffic has no VM "
				 "port to start the stage chain on; give rx-iface and tx-iface",
				 a, s_name(t, t->addrs[i].ifindex));
			return -EADDRINUSE;
		}
	rc = s_neigh(t, q->family, q->local, 0, mac, &on);
	if (rc < 0) {
		snprintf(err, errlen, "%s has different MACs in the neighbour table", a);
		return rc;
	}
	if (rc) {
		s_mac_fmt(mac, mac_s, sizeof(mac_s));
		s_fdb(t, mac, 0, &c, &br);
		if (c.n > 1) {
			s_cand_list(t, &c, list, sizeof(list));
			snprintf(err, errlen,
				 "cannot tell the VM port of %s: its MAC %s is behind several "
				 "ports: %s",
				 a, mac_s, list);
			return -ENOTUNIQ;
		}
		if (c.n == 1) {
			*port = c.ifindex[0];
			snprintf(why, whylen, "%s is %s (neighbour table) behind %s (FDB of %s)", a,
				 mac_s, s_name(t, *port), s_name(t, br));
			return 0;
		}
		/* Routed to the VM (no switch between): the entry's device is its port. */
		if (!s_switch(s_link(t, on)) && s_port_of(t, on)) {
			*port = s_port_of(t, on);
			snprintf(why, whylen, "%s is %s (neighbour table) on %s", a, mac_s,
				 s_name(t, on));
			return 0;
		}
	}
	if (!t->learned)
		return -EAGAIN;
	s_seen(t, q->family, q->local, &c);
	if (c.n > 1) {
		s_cand_list(t, &c, list, sizeof(list));
		snprintf(err, errlen, "cannot tell the VM port of %s: it was seen on several: %s",
			 a, list);
		return -ENOTUNIQ;
	}
	if (!c.n) {
		snprintf(err, errlen,
			 "cannot find %s on this host: no neighbour entry, and no answer or "
			 "packet from it within %u ms",
			 a, t->learn_ms);
		return -ENXIO;
	}
	*port = c.ifindex[0];
	s_seen_why(t, &c, q->family, a, why, whylen);
	return 0;
}

/* The ports of the VM port's switch that could lead out: not the VM's, not another tap. */
static void s_other_ports(const struct nb_disc_tables *t, uint32_t vm, struct s_cands *c,
			  uint32_t *sw)
{
	const struct nb_disc_link *l = s_link(t, vm);

	*sw = l ? l->master : 0;
	if (!*sw)
		return;
	for (uint32_t i = 0; i < t->n_links; i++) {
		const struct nb_disc_link *p = &t->links[i];
		uint32_t port;

		if (p->master != *sw || s_kind(p, "tun") || s_kind(p, "tap"))
			continue;
		port = s_port_of(t, p->ifindex);
		if (port != vm)
			s_cand_add(c, port, false);
	}
}

static int s_uplink(const struct nb_disc_tables *t, const struct nb_disc_query *q, uint32_t vm,
		    uint32_t *port, char *why, size_t whylen, char *err, size_t errlen)
{
	const struct nb_disc_link *oif = t->route_oif ? s_link(t, t->route_oif) : NULL;
	const uint8_t *target = q->peer;
	char p[64], g[64], mac_s[24], list[256], how[256];
	struct s_cands c = {0};
	uint32_t br = 0, sw, on = 0;
	uint8_t mac[6];
	int rc;

	nb_addr_fmt(q->peer, q->family, p, sizeof(p));
	if (oif && !s_switch(oif)) {
		*port = s_port_of(t, oif->ifindex);
		if (*port) {
			snprintf(why, whylen, "the route to %s goes out %s", p, oif->name);
			return 0;
		}
	}
	/* A switch (or no route): the port behind which the next hop is. */
	how[0] = 0;
	if (oif && t->route_gw) {
		target = t->gw;
		nb_addr_fmt(t->gw, q->family, g, sizeof(g));
		snprintf(how, sizeof(how), "the route to %s goes out %s via %s; ", p, oif->name, g);
	} else {
		snprintf(g, sizeof(g), "%s", p);
		if (oif)
			snprintf(how, sizeof(how), "the route to %s goes out %s; ", p, oif->name);
	}
	rc = s_neigh(t, q->family, target, oif ? oif->ifindex : 0, mac, &on);
	if (rc > 0) {
		s_mac_fmt(mac, mac_s, sizeof(mac_s));
		s_fdb(t, mac, oif ? oif->ifindex : 0, &c, &br);
		if (c.n > 1) {
			s_cand_list(t, &c, list, sizeof(list));
			snprintf(err, errlen,
				 "cannot tell the uplink to %s: %s's MAC %s is behind several "
				 "ports: %s",
				 p, g, mac_s, list);
			return -ENOTUNIQ;
		}
		if (c.n == 1) {
			*port = c.ifindex[0];
			snprintf(why, whylen, "%s%s is %s (neighbour table) behind %s (FDB of %s)",
				 how, g, mac_s, s_name(t, *port), s_name(t, br));
			return 0;
		}
	}
	if (!t->learned)
		return -EAGAIN;
	s_seen(t, q->family, target, &c);
	if (c.n > 1) {
		s_cand_list(t, &c, list, sizeof(list));
		snprintf(err, errlen, "cannot tell the uplink to %s: %s was seen on several: %s", p,
			 g, list);
		return -ENOTUNIQ;
	}
	if (c.n == 1) {
		size_t off;

		*port = c.ifindex[0];
		snprintf(why, whylen, "%s", how);
		off = strlen(why);
		s_seen_why(t, &c, q->family, g, why + off, whylen - off);
		return 0;
	}
	s_other_ports(t, vm, &c, &sw);
	if (c.n == 1) {
		*port = c.ifindex[0];
		snprintf(why, whylen,
			 "%sthe only port of %s but %s that is not a tap (%s: no neighbour entry, "
			 "no answer or packet within %u ms)",
			 how, s_name(t, sw), s_name(t, vm), g, t->learn_ms);
		return 0;
	}
	s_cand_list(t, &c, list, sizeof(list));
	if (c.n)
		snprintf(err, errlen,
			 "cannot tell the uplink to %s: no neighbour entry, no answer or packet "
			 "within %u ms; candidates (ports of %s): %s",
			 p, t->learn_ms, s_name(t, sw), list);
	else
		snprintf(err, errlen,
			 "cannot find the uplink to %s: no route, no neighbour entry, no answer "
			 "or packet within %u ms, and %s has no other port",
			 p, t->learn_ms, s_name(t, vm));
	return c.n ? -ENOTUNIQ : -ENXIO;
}

int nb_disc_decide(const struct nb_disc_tables *t, const struct nb_disc_query *q,
		   struct nb_disc_side *vm, struct nb_disc_side *uplink, char *err, size_t errlen)
{
	uint32_t vm_port = 0, up_port = 0;
	int rc;

	memset(vm, 0, sizeof(*vm));
	memset(uplink, 0, sizeof(*uplink));
	err[0] = 0;
	/* The uplink may need the VM's port (its switch's other ports): always look for it. */
	rc = s_vm_port(t, q, &vm_port, vm->why, sizeof(vm->why), err, errlen);
	if (rc)
		return rc;
	if (q->want_uplink) {
		rc = s_uplink(t, q, vm_port, &up_port, uplink->why, sizeof(uplink->why), err,
			      errlen);
		if (rc)
			return rc;
		if (up_port == vm_port) {
			char a[64], p[64];

			snprintf(err, errlen,
				 "%s and %s are both behind %s: no uplink between them",
				 nb_addr_fmt(q->local, q->family, a, sizeof(a)),
				 nb_addr_fmt(q->peer, q->family, p, sizeof(p)), s_name(t, vm_port));
			return -ENXIO;
		}
		rc = s_expand(t, up_port, uplink, err, errlen);
		if (rc)
			return rc;
	}
	if (q->want_vm) {
		rc = s_expand(t, vm_port, vm, err, errlen);
		if (rc)
			return rc;
	} else {
		vm->why[0] = 0;
	}
	if (vm->n + uplink->n > q->max_ifs) {
		snprintf(err, errlen, "%u interfaces found, at most %u can be traced",
			 vm->n + uplink->n, q->max_ifs);
		return -E2BIG;
	}
	return 0;
}

static int s_link_idx(const struct nb_disc_tables *t, const char *name)
{
	for (uint32_t i = 0; i < t->n_links; i++)
		if (!strcmp(t->links[i].name, name))
			return (int)i;
	return -1;
}

/*
 *   netdev@ovs-netdev: hit:9 missed:4
 *     br0:
 *       br0 65534/1: (tap)
 *       vnet0 2/3: (system)
 */
int nb_disc_ovs_dpif(struct nb_disc_tables *t, char *text, uint32_t *local, int max)
{
	int netdev = 0, br = -1, n_local = 0, ports[NB_DISC_MAX_LINKS], n_ports = 0;
	char *line, *save = NULL;

	/* One more turn than there are lines, to close the last bridge. */
	for (line = strtok_r(text, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
		bool port = line && !strncmp(line, "    ", 4);
		char name[NB_DISC_NAME_MAX + 2];
		unsigned int ofport;
		int i;

		if (!port) {
			/* The end of a bridge: its ports are ports of its own device. */
			for (int k = 0; k < n_ports && br >= 0; k++)
				t->links[ports[k]].master = t->links[br].ifindex;
			br = -1;
			n_ports = 0;
		}
		if (!line)
			break;
		if (line[0] != ' ')
			netdev = !strncmp(line, "netdev@", 7);
		if (!port || !netdev || sscanf(line, "%16s %u/", name, &ofport) != 2 ||
		    strlen(name) > NB_DISC_NAME_MAX)
			continue;
		i = s_link_idx(t, name);
		if (i < 0)
			continue;
		if (ofport != 65534) {
			if (n_ports < NB_DISC_MAX_LINKS)
				ports[n_ports++] = i;
			continue;
		}
		br = i;
		snprintf(t->links[i].kind, sizeof(t->links[i].kind), "openvswitch");
		if (n_local < max)
			local[n_local++] = (uint32_t)i;
	}
	return n_local;
}

void nb_disc_names(const struct nb_disc_side *s, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (uint32_t i = 0; i < s->n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "+" : "", s->name[i]);
}

/* ---- rtnetlink answers into the tables ---- */

/*
 * The attributes of a message, by type. Every length is checked against what is left of the
 * buffer (RTA_OK): a truncated or lying attribute ends the walk, never reads past it.
 */
static void s_attrs(const struct rtattr *rta, int len, const struct rtattr **tb, int max)
{
	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type <= max)
			tb[rta->rta_type] = rta;
}

static uint32_t s_u32(const struct rtattr *a)
{
	uint32_t v = 0;

	if (a && RTA_PAYLOAD(a) >= sizeof(v))
		memcpy(&v, RTA_DATA(a), sizeof(v));
	return v;
}

static void s_addr_copy(uint8_t *dst, const struct rtattr *a, uint8_t family)
{
	size_t n = family == 4 ? 4 : NB_ADDR_LEN;

	memset(dst, 0, NB_ADDR_LEN);
	if (RTA_PAYLOAD(a) >= n)
		memcpy(dst, RTA_DATA(a), n);
}

/* A string attribute, not necessarily NUL-terminated within its payload. */
static void s_str(char *dst, size_t size, const struct rtattr *a)
{
	size_t n = RTA_PAYLOAD(a);

	if (n && ((const char *)RTA_DATA(a))[n - 1] == 0)
		n--;
	snprintf(dst, size, "%.*s", (int)n, (const char *)RTA_DATA(a));
}

static void s_on_link(struct nb_disc_tables *t, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const struct rtattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
	struct nb_disc_link *l;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)) || t->n_links >= NB_DISC_MAX_LINKS)
		return;
	s_attrs(IFLA_RTA(ifi), (int)IFLA_PAYLOAD(h), tb, IFLA_MAX);
	if (!tb[IFLA_IFNAME])
		return;
	l = &t->links[t->n_links++];
	memset(l, 0, sizeof(*l));
	l->ifindex = (uint32_t)ifi->ifi_index;
	s_str(l->name, sizeof(l->name), tb[IFLA_IFNAME]);
	/* A bond's (or team's, or bridge's) ports name it here: that is how slaves are found. */
	l->master = s_u32(tb[IFLA_MASTER]);
	l->lower = s_u32(tb[IFLA_LINK]);
	l->up = ifi->ifi_flags & IFF_UP;
	/*
	 * The device's own kind (IFLA_INFO_KIND); a slave's IFLA_INFO_SLAVE_KIND ("bond") says
	 * what it is enslaved to, which IFLA_MASTER's device says already.
	 */
	if (tb[IFLA_LINKINFO]) {
		s_attrs(RTA_DATA(tb[IFLA_LINKINFO]), (int)RTA_PAYLOAD(tb[IFLA_LINKINFO]), li,
			IFLA_INFO_MAX);
		if (li[IFLA_INFO_KIND])
			s_str(l->kind, sizeof(l->kind), li[IFLA_INFO_KIND]);
	}
	if (tb[IFLA_ADDRESS] && RTA_PAYLOAD(tb[IFLA_ADDRESS]) == 6) {
		memcpy(l->mac, RTA_DATA(tb[IFLA_ADDRESS]), 6);
		l->has_mac = true;
	}
}

static void s_on_addr(struct nb_disc_tables *t, const struct nlmsghdr *h)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	const struct rtattr *tb[IFA_MAX + 1], *a;
	struct nb_disc_addr *d;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) || t->n_addrs >= NB_DISC_MAX_ADDRS ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return;
	s_attrs(IFA_RTA(ifa), (int)IFA_PAYLOAD(h), tb, IFA_MAX);
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!a)
		return;
	d = &t->addrs[t->n_addrs++];
	d->ifindex = ifa->ifa_index;
	d->family = ifa->ifa_family == AF_INET ? 4 : 6;
	s_addr_copy(d->addr, a, d->family);
}

static void s_on_neigh(struct nb_disc_tables *t, const struct nlmsghdr *h)
{
	const struct ndmsg *nd = NLMSG_DATA(h);
	const struct rtattr *tb[NDA_MAX + 1];

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*nd)))
		return;
	s_attrs((const struct rtattr *)((const char *)nd + NLMSG_ALIGN(sizeof(*nd))),
		(int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*nd))), tb, NDA_MAX);
	if (!tb[NDA_LLADDR] || RTA_PAYLOAD(tb[NDA_LLADDR]) != 6)
		return;
	if (nd->ndm_family == AF_BRIDGE) {
		/* The ports' own addresses and a device's own list are not where a host is. */
		if ((nd->ndm_state & NUD_PERMANENT) || !tb[NDA_MASTER] ||
		    t->n_fdb >= NB_DISC_MAX_FDB)
			return;
		t->fdb[t->n_fdb].port = (uint32_t)nd->ndm_ifindex;
		t->fdb[t->n_fdb].bridge = s_u32(tb[NDA_MASTER]);
		memcpy(t->fdb[t->n_fdb].mac, RTA_DATA(tb[NDA_LLADDR]), 6);
		t->n_fdb++;
		return;
	}
	if ((nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6) || !tb[NDA_DST] ||
	    (nd->ndm_state & (NUD_INCOMPLETE | NUD_FAILED | NUD_NONE)) || !nd->ndm_state ||
	    t->n_neigh >= NB_DISC_MAX_NEIGH)
		return;
	t->neigh[t->n_neigh].ifindex = (uint32_t)nd->ndm_ifindex;
	t->neigh[t->n_neigh].family = nd->ndm_family == AF_INET ? 4 : 6;
	s_addr_copy(t->neigh[t->n_neigh].addr, tb[NDA_DST], t->neigh[t->n_neigh].family);
	memcpy(t->neigh[t->n_neigh].mac, RTA_DATA(tb[NDA_LLADDR]), 6);
	t->n_neigh++;
}

static void s_on_route(struct nb_disc_tables *t, const struct nlmsghdr *h, uint8_t family)
{
	const struct rtmsg *rt = NLMSG_DATA(h);
	const struct rtattr *tb[RTA_MAX + 1];

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
		return;
	s_attrs(RTM_RTA(rt), (int)RTM_PAYLOAD(h), tb, RTA_MAX);
	if (rt->rtm_type != RTN_UNICAST || !tb[RTA_OIF])
		return;
	t->route_oif = s_u32(tb[RTA_OIF]);
	if (tb[RTA_GATEWAY]) {
		t->route_gw = true;
		s_addr_copy(t->gw, tb[RTA_GATEWAY], family);
	}
}

int nb_disc_nl_feed(struct nb_disc_tables *t, const void *buf, size_t len, uint32_t seq, bool dump,
		    uint8_t family)
{
	const struct nlmsghdr *h = buf;
	/* Signed: NLMSG_NEXT subtracts the aligned length, which may pass the end. */
	ssize_t n = len > (size_t)INT32_MAX ? INT32_MAX : (ssize_t)len;

	for (; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_seq != seq)
			continue;
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EPROTO;
			/* 0 is an acknowledgement; an error number is negative already. */
			return e->error ? (e->error < 0 ? e->error : -e->error) : 1;
		}
		switch (h->nlmsg_type) {
		case RTM_NEWLINK:
			s_on_link(t, h);
			break;
		case RTM_NEWADDR:
			s_on_addr(t, h);
			break;
		case RTM_NEWNEIGH:
			s_on_neigh(t, h);
			break;
		case RTM_NEWROUTE:
			s_on_route(t, h, family);
			break;
		}
		if (!dump)
			return 1;
	}
	return 0;
}
