// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Interface discovery decided on recorded tables: the lab's hypervisors (same names on both,
 * the VM found by ARP, the uplink by the route and the answer of the peer), a bonded uplink
 * expanded to its slaves (by FDB and by learning), a routed host, the fallback to the only
 * other port of an L2-only bridge, and every refusal with its exact line: candidates listed on
 * ambiguity, nothing found, the host's own address, too many interfaces. Open vSwitch's
 * userspace datapath read from `ovs-appctl dpif/show`: its tap bridge a switch, its ports
 * ports, kernel-datapath bridges and unknown names left alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nb_discover.h"

static const uint8_t MAC_A[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t MAC_B[6] = {2, 0, 0, 0, 0, 2};

static void s_link(struct nb_disc_tables *t, uint32_t idx, const char *name, const char *kind,
		   uint32_t master)
{
	struct nb_disc_link *l = &t->links[t->n_links++];

	l->ifindex = idx;
	strcpy(l->name, name);
	strcpy(l->kind, kind);
	l->master = master;
}

static void s_ip4(uint8_t *a, uint8_t last)
{
	memset(a, 0, NB_ADDR_LEN);
	a[0] = 198;
	a[1] = 18;
	a[2] = 0;
	a[3] = last;
}

static void s_seen(struct nb_disc_tables *t, uint32_t idx, uint8_t last, bool probe)
{
	struct nb_disc_seen *s = &t->seen[t->n_seen++];

	s->ifindex = idx;
	s->family = 4;
	s_ip4(s->addr, last);
	s->probe = probe;
}

static void s_neigh(struct nb_disc_tables *t, uint32_t idx, uint8_t last, const uint8_t *mac)
{
	struct nb_disc_neigh *n = &t->neigh[t->n_neigh++];

	n->ifindex = idx;
	n->family = 4;
	s_ip4(n->addr, last);
	memcpy(n->mac, mac, 6);
}

static void s_fdb(struct nb_disc_tables *t, uint32_t port, uint32_t br, const uint8_t *mac)
{
	struct nb_disc_fdb *f = &t->fdb[t->n_fdb++];

	f->port = port;
	f->bridge = br;
	memcpy(f->mac, mac, 6);
}

/* hvA of the lab: lo, br0 (198.18.0.11/24), vnet0 and ens4f0 its ports. */
static struct nb_disc_tables *s_hv(void)
{
	struct nb_disc_tables *t = calloc(1, sizeof(*t));

	s_link(t, 1, "lo", "", 0);
	s_link(t, 2, "br0", "bridge", 0);
	s_link(t, 3, "vnet0", "veth", 2);
	s_link(t, 4, "ens4f0", "veth", 2);
	t->addrs[0].ifindex = 2;
	t->addrs[0].family = 4;
	s_ip4(t->addrs[0].addr, 11);
	t->n_addrs = 1;
	t->route_oif = 2;
	return t;
}

static struct nb_disc_query s_q(uint8_t local, uint8_t peer)
{
	struct nb_disc_query q = {.family = 4, .want_vm = true, .want_uplink = true, .max_ifs = 8};

	s_ip4(q.local, local);
	s_ip4(q.peer, peer);
	return q;
}

static void s_side(const struct nb_disc_side *s, const char *names, const char *why)
{
	char buf[160];

	nb_disc_names(s, buf, sizeof(buf));
	assert_string_equal(buf, names);
	assert_string_equal(s->why, why);
}

static void test_lab_learned(void **state)
{
	struct nb_disc_tables *t = s_hv();
	struct nb_disc_query q = s_q(1, 2);
	struct nb_disc_side vm, up;
	char err[256];

	(void)state;
	/* Nothing in the tables: learn first. */
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -EAGAIN);
	t->learned = true;
	t->learn_ms = 1000;
	/* The answers, as the packet socket sees them: on the port, then on br0 itself. */
	s_seen(t, 3, 1, true);
	s_seen(t, 2, 1, true);
	s_seen(t, 4, 2, true);
	s_seen(t, 2, 2, true);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), 0);
	s_side(&vm, "vnet0",
	       "198.18.0.1 answered ARP on vnet0 (no neighbour entry: learned from traffic)");
	s_side(&up, "ens4f0",
	       "the route to 198.18.0.2 goes out br0; 198.18.0.2 answered ARP on ens4f0 (no "
	       "neighbour entry: learned from traffic)");
	assert_int_equal(vm.ifindex[0], 3);
	assert_int_equal(up.ifindex[0], 4);
	free(t);
}

/* hvB with bond0 (ens4f0 + ens4f1) as its br0 port; the tables know both VMs. */
static void test_bond_fdb(void **state)
{
	struct nb_disc_tables *t = s_hv();
	struct nb_disc_query q = s_q(2, 1);
	struct nb_disc_side vm, up;
	char err[256];

	(void)state;
	t->links[3].master = 5; /* ens4f0 */
	s_link(t, 5, "bond0", "bond", 2);
	s_link(t, 6, "ens4f1", "veth", 5);
	s_neigh(t, 2, 1, MAC_A);
	s_neigh(t, 2, 2, MAC_B);
	s_fdb(t, 5, 2, MAC_A);
	s_fdb(t, 3, 2, MAC_B);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), 0);
	s_side(&vm, "vnet0",
	       "198.18.0.2 is 02:00:00:00:00:02 (neighbour table) behind vnet0 (FDB of br0)");
	s_side(&up, "ens4f0+ens4f1",
	       "the route to 198.18.0.1 goes out br0; 198.18.0.1 is 02:00:00:00:00:01 (neighbour "
	       "table) behind bond0 (FDB of br0); bond bond0: slaves ens4f0+ens4f1");
	assert_int_equal(up.ifindex[0], 4);
	assert_int_equal(up.ifindex[1], 6);
	free(t);
}

/* An L2-only hypervisor (no route, no address): the answer arrives on a slave, then the bond. */
static void test_bond_learned_l2(void **state)
{
	struct nb_disc_tables *t = s_hv();
	struct nb_disc_query q = s_q(2, 1);
	struct nb_disc_side vm, up;
	char err[256];

	(void)state;
	t->n_addrs = 0;
	t->route_oif = 0;
	t->links[3].master = 5;
	s_link(t, 5, "bond0", "bond", 2);
	s_link(t, 6, "ens4f1", "veth", 5);
	t->learned = true;
	t->learn_ms = 1000;
	s_seen(t, 3, 2, true);
	s_seen(t, 6, 1, false); /* a packet from vmA that came in on the second slave */
	s_seen(t, 4, 1, true);
	s_seen(t, 5, 1, true);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), 0);
	s_side(&up, "ens4f0+ens4f1",
	       "198.18.0.1 answered ARP on bond0 (no neighbour entry: learned from traffic); "
	       "bond bond0: slaves ens4f0+ens4f1");
	/* Only the rx side wanted (tx given): the VM's port is still looked for, not returned. */
	q.want_vm = false;
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), 0);
	assert_int_equal(vm.n, 0);
	assert_int_equal(up.n, 2);
	/* Two interfaces to trace and only one place left. */
	q.max_ifs = 1;
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -E2BIG);
	assert_string_equal(err, "2 interfaces found, at most 1 can be traced");
	free(t);
}

/* No answer from the peer: the only port of the bridge that is not the VM's or a tap. */
static void test_fallback_and_ambiguity(void **state)
{
	struct nb_disc_tables *t = s_hv();
	struct nb_disc_query q = s_q(1, 99);
	struct nb_disc_side vm, up;
	char err[256];

	(void)state;
	t->learned = true;
	t->learn_ms = 1000;
	s_seen(t, 3, 1, true);
	s_link(t, 7, "vnet1", "tun", 2); /* another VM's tap: never an uplink */
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), 0);
	s_side(&up, "ens4f0",
	       "the route to 198.18.0.99 goes out br0; the only port of br0 but vnet0 that is not "
	       "a tap (198.18.0.99: no neighbour entry, no answer or packet within 1000 ms)");
	s_link(t, 8, "ens5", "veth", 2);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -ENOTUNIQ);
	assert_string_equal(err, "cannot tell the uplink to 198.18.0.99: no neighbour entry, no "
				 "answer or packet within 1000 ms; candidates (ports of br0): "
				 "ens4f0, ens5");
	/* The VM's address answering on two ports. */
	s_seen(t, 4, 1, false);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -ENOTUNIQ);
	assert_string_equal(err,
			    "cannot tell the VM port of 198.18.0.1: it was seen on several: vnet0, "
			    "ens4f0");
	free(t);
}

static void test_refusals(void **state)
{
	struct nb_disc_tables *t = s_hv();
	struct nb_disc_query q = s_q(11, 2);
	struct nb_disc_side vm, up;
	char err[256];

	(void)state;
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -EADDRINUSE);
	assert_string_equal(err,
			    "198.18.0.11 is this host's own address (on br0): host traffic has "
			    "no VM port to start the stage chain on; give rx-iface and "
			    "tx-iface");
	q = s_q(77, 2);
	t->learned = true;
	t->learn_ms = 1000;
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -ENXIO);
	assert_string_equal(err, "cannot find 198.18.0.77 on this host: no neighbour entry, and no "
				 "answer or packet from it within 1000 ms");
	/* Both VMs behind one port: no uplink between them. */
	q = s_q(1, 2);
	s_seen(t, 3, 1, true);
	s_seen(t, 3, 2, true);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -ENXIO);
	assert_string_equal(err, "198.18.0.1 and 198.18.0.2 are both behind vnet0: no uplink "
				 "between them");
	/* The MAC behind two ports of the FDB. */
	t->n_seen = 0;
	t->learned = false;
	s_neigh(t, 2, 1, MAC_A);
	s_fdb(t, 3, 2, MAC_A);
	s_fdb(t, 4, 2, MAC_A);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -ENOTUNIQ);
	assert_string_equal(err, "cannot tell the VM port of 198.18.0.1: its MAC 02:00:00:00:00:01 "
				 "is behind several ports: vnet0, ens4f0");
	/* A bond without slaves is nothing to trace. */
	t->n_fdb = 1;
	t->links[2].master = 0;
	strcpy(t->links[2].kind, "bond");
	t->links[2].master = 2;
	s_neigh(t, 2, 2, MAC_B);
	s_fdb(t, 4, 2, MAC_B);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -ENXIO);
	assert_string_equal(err, "bond vnet0 has no slaves to trace");
	free(t);
}

/* A routed hypervisor: the VM behind its tap by the neighbour table, the uplink by the route. */
/*
 * hvB of the lab with --switch ovs: br0 is OVS's tap, ens4f0 and the VM's tap vnet0 have no
 * master. Without asking OVS the route's device br0 is "the uplink"; with dpif/show it is
 * the switch, and the answers decide as with a Linux bridge.
 */
static void test_ovs_netdev(void **state)
{
	struct nb_disc_tables *t = calloc(1, sizeof(*t));
	struct nb_disc_query q = s_q(2, 1);
	struct nb_disc_side vm, up;
	uint32_t local[4];
	char err[256];
	char dpif[] = "netdev@ovs-netdev: hit:12 missed:7\n"
		      "  br0:\n"
		      "    br0 65534/1: (tap)\n"
		      "    ens4f0 1/2: (system)\n"
		      "    vnet0 2/3: (system)\n"
		      "    gone0 3/4: (system)\n"
		      "system@ovs-system: hit:0 missed:0\n"
		      "  kbr:\n"
		      "    kbr 65534/0: (internal)\n"
		      "    ens5 1/5: (system)\n";

	(void)state;
	s_link(t, 1, "lo", "", 0);
	s_link(t, 2, "ovs-netdev", "tun", 0);
	s_link(t, 3, "br0", "tun", 0);
	s_link(t, 4, "ens4f0", "veth", 0);
	s_link(t, 5, "vnet0", "tun", 0);
	s_link(t, 6, "kbr", "openvswitch", 7);
	s_link(t, 7, "ovs-system", "openvswitch", 0);
	s_link(t, 8, "ens5", "veth", 7);
	t->addrs[0].ifindex = 3;
	t->addrs[0].family = 4;
	s_ip4(t->addrs[0].addr, 12);
	t->n_addrs = 1;
	t->route_oif = 3;
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -EAGAIN);
	t->learned = true;
	t->learn_ms = 1000;
	/* The answers, on the port and then on OVS's own device. */
	s_seen(t, 5, 2, true);
	s_seen(t, 3, 2, true);
	s_seen(t, 4, 1, true);
	s_seen(t, 3, 1, true);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -ENOTUNIQ);
	assert_string_equal(err, "cannot tell the VM port of 198.18.0.2: it was seen on several: "
				 "vnet0, br0");

	assert_int_equal(nb_disc_ovs_dpif(t, dpif, local, 4), 1);
	assert_int_equal(local[0], 2);
	assert_string_equal(t->links[2].kind, "openvswitch");
	assert_int_equal(t->links[3].master, 3);
	assert_int_equal(t->links[4].master, 3);
	/* The kernel datapath's bridge is as rtnetlink showed it. */
	assert_int_equal(t->links[7].master, 7);
	assert_int_equal(t->links[5].master, 7);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), 0);
	s_side(&vm, "vnet0",
	       "198.18.0.2 answered ARP on vnet0 (no neighbour entry: learned from traffic)");
	s_side(&up, "ens4f0",
	       "the route to 198.18.0.1 goes out br0; 198.18.0.1 answered ARP on ens4f0 (no "
	       "neighbour entry: learned from traffic)");
	free(t);
}

static void test_routed(void **state)
{
	struct nb_disc_tables *t = calloc(1, sizeof(*t));
	struct nb_disc_query q = s_q(1, 2);
	struct nb_disc_side vm, up;
	char err[256];

	(void)state;
	s_link(t, 1, "lo", "", 0);
	s_link(t, 2, "tap0", "tun", 0);
	s_link(t, 3, "eth0", "", 0);
	s_neigh(t, 2, 1, MAC_A);
	t->route_oif = 3;
	t->route_gw = true;
	s_ip4(t->gw, 254);
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), 0);
	s_side(&vm, "tap0", "198.18.0.1 is 02:00:00:00:00:01 (neighbour table) on tap0");
	s_side(&up, "eth0", "the route to 198.18.0.2 goes out eth0");
	free(t);
}

/*
 * rtnetlink answers, as the kernel lays them out, into the tables: a bonded hvB. This test
 * machine's kernel has no bonding driver (CONFIG_BONDING unset), so no dump of a real bond can
 * be recorded here; the messages are built to the layout of the kernel's rtnl_fill_ifinfo()
 * and bond_netlink.c: a bond is IFLA_LINKINFO { IFLA_INFO_KIND "bond", IFLA_INFO_DATA {
 * IFLA_BOND_MODE, IFLA_BOND_MIIMON, ... } }, each slave carries IFLA_MASTER (the bond's index)
 * and IFLA_LINKINFO { [IFLA_INFO_KIND of its own type: none for a NIC], IFLA_INFO_SLAVE_KIND
 * "bond", IFLA_INFO_SLAVE_DATA { IFLA_BOND_SLAVE_STATE, ... } }.
 */
struct s_nl {
	uint8_t b[8192];
	size_t n, msg, nest[4];
	int depth;
};

static void s_nl_put(struct s_nl *w, const void *d, size_t l)
{
	assert_true(w->n + NLMSG_ALIGN(l) <= sizeof(w->b));
	memcpy(w->b + w->n, d, l);
	memset(w->b + w->n + l, 0, NLMSG_ALIGN(l) - l);
	w->n += NLMSG_ALIGN(l);
}

static void s_nl_msg(struct s_nl *w, uint16_t type, uint32_t seq, const void *hdr, size_t hlen)
{
	struct nlmsghdr h = {.nlmsg_type = type, .nlmsg_flags = NLM_F_MULTI, .nlmsg_seq = seq};

	w->msg = w->n;
	s_nl_put(w, &h, sizeof(h));
	if (hlen)
		s_nl_put(w, hdr, hlen);
}

static void s_nl_end(struct s_nl *w)
{
	((struct nlmsghdr *)(w->b + w->msg))->nlmsg_len = (uint32_t)(w->n - w->msg);
}

static void s_nl_attr(struct s_nl *w, uint16_t type, const void *d, size_t l)
{
	struct rtattr a = {.rta_len = (unsigned short)RTA_LENGTH(l), .rta_type = type};

	s_nl_put(w, &a, sizeof(a));
	w->n -= NLMSG_ALIGN(sizeof(a)) - sizeof(a);
	s_nl_put(w, d, l);
}

static void s_nl_str(struct s_nl *w, uint16_t type, const char *str)
{
	s_nl_attr(w, type, str, strlen(str) + 1);
}

static void s_nl_u32(struct s_nl *w, uint16_t type, uint32_t v)
{
	s_nl_attr(w, type, &v, sizeof(v));
}

static void s_nl_nest(struct s_nl *w, uint16_t type)
{
	struct rtattr a = {.rta_len = 0, .rta_type = type};

	w->nest[w->depth++] = w->n;
	s_nl_put(w, &a, sizeof(a));
}

static void s_nl_unnest(struct s_nl *w)
{
	size_t at = w->nest[--w->depth];

	((struct rtattr *)(w->b + at))->rta_len = (unsigned short)(w->n - at);
}

/* RTM_NEWLINK: kind NULL for a NIC; slave_of a bond's slave; data: the kind's own nest. */
static void s_nl_link(struct s_nl *w, int idx, const char *name, const char *kind, uint32_t master,
		      const char *slave_of, bool up, uint8_t mac_last)
{
	struct ifinfomsg ifi = {
	    .ifi_family = AF_UNSPEC, .ifi_index = idx, .ifi_flags = up ? IFF_UP | IFF_RUNNING : 0};
	uint8_t mac[6] = {2, 0, 0, 0, 0x0b, mac_last};
	uint32_t mtu = 1500;

	s_nl_msg(w, RTM_NEWLINK, 1, &ifi, sizeof(ifi));
	s_nl_str(w, IFLA_IFNAME, name);
	s_nl_u32(w, IFLA_MTU, mtu);
	if (idx != 1)
		s_nl_attr(w, IFLA_ADDRESS, mac, 6);
	if (master)
		s_nl_u32(w, IFLA_MASTER, master);
	if (kind || slave_of) {
		s_nl_nest(w, IFLA_LINKINFO);
		if (kind)
			s_nl_str(w, IFLA_INFO_KIND, kind);
		if (kind && !strcmp(kind, "bond")) {
			uint8_t mode = 1; /* active-backup */

			s_nl_nest(w, IFLA_INFO_DATA);
			s_nl_attr(w, IFLA_BOND_MODE, &mode, 1);
			s_nl_u32(w, IFLA_BOND_MIIMON, 100);
			s_nl_unnest(w);
		}
		if (slave_of) {
			uint8_t state = 0; /* BOND_STATE_ACTIVE */

			s_nl_str(w, IFLA_INFO_SLAVE_KIND, slave_of);
			s_nl_nest(w, IFLA_INFO_SLAVE_DATA);
			s_nl_attr(w, IFLA_BOND_SLAVE_STATE, &state, 1);
			s_nl_attr(w, IFLA_BOND_SLAVE_PERM_HWADDR, mac, 6);
			s_nl_unnest(w);
		}
		s_nl_unnest(w);
	}
	s_nl_end(w);
}

static void s_nl_neigh(struct s_nl *w, uint32_t seq, uint8_t family, int idx, uint16_t state,
		       uint8_t last, const uint8_t *mac, uint32_t master)
{
	struct ndmsg nd = {.ndm_family = family, .ndm_ifindex = idx, .ndm_state = state};
	uint8_t a[4] = {198, 18, 0, last};

	s_nl_msg(w, RTM_NEWNEIGH, seq, &nd, sizeof(nd));
	if (family == AF_INET)
		s_nl_attr(w, NDA_DST, a, 4);
	s_nl_attr(w, NDA_LLADDR, mac, 6);
	if (master)
		s_nl_u32(w, NDA_MASTER, master);
	s_nl_end(w);
}

static void s_nl_done(struct s_nl *w, uint32_t seq)
{
	int zero = 0;

	s_nl_msg(w, NLMSG_DONE, seq, &zero, sizeof(zero));
	s_nl_end(w);
}

static void test_nl_bond(void **state)
{
	struct nb_disc_tables *t = calloc(1, sizeof(*t));
	struct nb_disc_query q = s_q(2, 1);
	struct nb_disc_side vm, up;
	struct s_nl *w = calloc(1, sizeof(*w));
	uint8_t a11[4] = {198, 18, 0, 11}, self_mac[6] = {2, 0, 0, 0, 0x0b, 4};
	char err[256];

	(void)state;
	/* the links' dump, in two recv() buffers (a dump spans several) */
	s_nl_link(w, 1, "lo", NULL, 0, NULL, true, 0);
	s_nl_link(w, 2, "br0", "bridge", 0, NULL, true, 2);
	s_nl_link(w, 3, "vnet0", "tun", 2, NULL, true, 3);
	assert_int_equal(nb_disc_nl_feed(t, w->b, w->n, 1, true, 4), 0);
	w->n = 0;
	s_nl_link(w, 4, "ens4f0", NULL, 5, "bond", true, 4);
	s_nl_link(w, 5, "bond0", "bond", 2, NULL, true, 4);
	s_nl_link(w, 6, "ens4f1", "veth", 5, "bond", true, 4);
	s_nl_done(w, 1);
	assert_int_equal(nb_disc_nl_feed(t, w->b, w->n, 1, true, 4), 1);
	assert_int_equal(t->n_links, 6);
	assert_string_equal(t->links[3].name, "ens4f0");
	assert_string_equal(t->links[3].kind, ""); /* a NIC: only its slave kind is "bond" */
	assert_int_equal(t->links[3].master, 5);
	assert_string_equal(t->links[4].kind, "bond");
	assert_int_equal(t->links[4].master, 2);
	assert_string_equal(t->links[5].kind, "veth");
	assert_int_equal(t->links[5].master, 5);
	assert_true(t->links[1].up && t->links[1].has_mac);
	assert_memory_equal(t->links[3].mac, self_mac, 6);

	/* addresses: br0's */
	w->n = 0;
	{
		struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = 24, .ifa_index = 2};

		s_nl_msg(w, RTM_NEWADDR, 2, &ifa, sizeof(ifa));
		s_nl_attr(w, IFA_LOCAL, a11, 4);
		s_nl_attr(w, IFA_ADDRESS, a11, 4);
		s_nl_end(w);
	}
	s_nl_done(w, 2);
	assert_int_equal(nb_disc_nl_feed(t, w->b, w->n, 2, true, 4), 1);
	assert_int_equal(t->n_addrs, 1);

	/* neighbours: both VMs reachable, an unanswered one left out */
	w->n = 0;
	s_nl_neigh(w, 3, AF_INET, 2, NUD_REACHABLE, 1, MAC_A, 0);
	s_nl_neigh(w, 3, AF_INET, 2, NUD_STALE, 2, MAC_B, 0);
	s_nl_neigh(w, 3, AF_INET, 2, NUD_INCOMPLETE, 9, MAC_B, 0);
	s_nl_done(w, 3);
	assert_int_equal(nb_disc_nl_feed(t, w->b, w->n, 3, true, 4), 1);
	assert_int_equal(t->n_neigh, 2);

	/* the FDB: vmA behind the bond (learned on it, not on a slave), vmB behind vnet0; the
	 * ports' own permanent entries and another request's answer are not hosts */
	w->n = 0;
	s_nl_neigh(w, 4, AF_BRIDGE, 5, NUD_REACHABLE, 0, MAC_A, 2);
	s_nl_neigh(w, 4, AF_BRIDGE, 3, NUD_REACHABLE, 0, MAC_B, 2);
	s_nl_neigh(w, 4, AF_BRIDGE, 4, NUD_PERMANENT, 0, self_mac, 2);
	s_nl_neigh(w, 99, AF_BRIDGE, 4, NUD_REACHABLE, 0, MAC_B, 2);
	s_nl_done(w, 4);
	assert_int_equal(nb_disc_nl_feed(t, w->b, w->n, 4, true, 4), 1);
	assert_int_equal(t->n_fdb, 2);

	/* the route to the peer: one answer, not a dump */
	w->n = 0;
	{
		struct rtmsg rt = {.rtm_family = AF_INET,
				   .rtm_dst_len = 32,
				   .rtm_table = RT_TABLE_MAIN,
				   .rtm_type = RTN_UNICAST};
		uint8_t dst[4] = {198, 18, 0, 1};

		s_nl_msg(w, RTM_NEWROUTE, 10, &rt, sizeof(rt));
		s_nl_attr(w, RTA_DST, dst, 4);
		s_nl_u32(w, RTA_OIF, 2);
		s_nl_attr(w, RTA_PREFSRC, a11, 4);
		s_nl_end(w);
	}
	assert_int_equal(nb_disc_nl_feed(t, w->b, w->n, 10, false, 4), 1);
	assert_int_equal(t->route_oif, 2);
	assert_false(t->route_gw);

	/* the same decision as on tables written by hand (test_bond_fdb) */
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), 0);
	s_side(&vm, "vnet0",
	       "198.18.0.2 is 02:00:00:00:00:02 (neighbour table) behind vnet0 (FDB of br0)");
	s_side(&up, "ens4f0+ens4f1",
	       "the route to 198.18.0.1 goes out br0; 198.18.0.1 is 02:00:00:00:00:01 (neighbour "
	       "table) behind bond0 (FDB of br0); bond bond0: slaves ens4f0+ens4f1");
	assert_int_equal(up.ifindex[0], 4);
	assert_int_equal(up.ifindex[1], 6);

	/* A bond whose slaves are gone (removed, or not enslaved yet): nothing to trace. */
	t->links[3].master = 0;
	t->links[5].master = 0;
	assert_int_equal(nb_disc_decide(t, &q, &vm, &up, err, sizeof(err)), -ENXIO);
	assert_string_equal(err, "bond bond0 has no slaves to trace");
	free(t);
	free(w);
}

/* Answers that are errors, and messages cut short or lying about their length. */
static void test_nl_errors(void **state)
{
	struct nb_disc_tables *t = calloc(1, sizeof(*t));
	struct s_nl *w = calloc(1, sizeof(*w));
	struct nlmsgerr e = {.error = -ENETUNREACH};
	size_t full;

	(void)state;
	s_nl_msg(w, NLMSG_ERROR, 10, &e, sizeof(e));
	s_nl_end(w);
	assert_int_equal(nb_disc_nl_feed(t, w->b, w->n, 10, false, 4), -ENETUNREACH);
	/* an acknowledgement ends the answer */
	w->n = 0;
	e.error = 0;
	s_nl_msg(w, NLMSG_ERROR, 10, &e, sizeof(e));
	s_nl_end(w);
	assert_int_equal(nb_disc_nl_feed(t, w->b, w->n, 10, false, 4), 1);
	/*
	 * Cut anywhere, or its length saying less than it holds (the rest then read as more
	 * messages): the parser never reads past the buffer.
	 */
	w->n = 0;
	s_nl_link(w, 5, "bond0", "bond", 2, NULL, true, 4);
	full = w->n;
	for (size_t cut = 0; cut < full; cut++) {
		/* copies of the exact size, so that a read past them is caught (make sanitize) */
		uint8_t *c = malloc(full);

		memset(t, 0, sizeof(*t));
		((struct nlmsghdr *)w->b)->nlmsg_len = (uint32_t)full;
		memcpy(c, w->b, cut);
		assert_int_equal(nb_disc_nl_feed(t, c, cut, 1, true, 4), 0);
		/* NLMSG_OK refuses a message longer than the cut */
		assert_int_equal(t->n_links, 0);
		((struct nlmsghdr *)w->b)->nlmsg_len = (uint32_t)cut;
		memcpy(c, w->b, full);
		assert_true(nb_disc_nl_feed(t, c, full, 1, true, 4) >= 0);
		free(c);
	}
	free(t);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lab_learned),	    cmocka_unit_test(test_bond_fdb),
	    cmocka_unit_test(test_bond_learned_l2), cmocka_unit_test(test_fallback_and_ambiguity),
	    cmocka_unit_test(test_refusals),	    cmocka_unit_test(test_routed),
	    cmocka_unit_test(test_ovs_netdev),
	    cmocka_unit_test(test_nl_bond),	    cmocka_unit_test(test_nl_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
