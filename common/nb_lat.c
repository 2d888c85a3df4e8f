// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The latency tools' stage chains (see nb_lat.h). The stable hooks are chosen so that each
 * stands where the kernel function it replaces runs: PRE_ROUTING at its first priority is
 * ip_rcv's netfilter call, LOCAL_IN at its last is just before the protocol's receive
 * function, LOCAL_OUT at its first is ip_local_out, POST_ROUTING at its last is
 * ip_finish_output. A delay that a netfilter rule adds between two of them (an NFQUEUE
 * verdict, a slow ruleset) falls between those two stages, where it belongs.
 */
#include "nb_lat.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

int nb_lat_dir_parse(const char *s, bool allow_both, enum nb_lat_dir *out)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "tx"))
		*out = NB_LAT_TX;
	else if (!strcmp(s, "rx"))
		*out = NB_LAT_RX;
	else if (allow_both && !strcmp(s, "both"))
		*out = NB_LAT_BOTH;
	else
		return -EINVAL;
	return 0;
}

static const char *s_deliver(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp_v4_rcv";
	case IPPROTO_UDP:
		return "udp_rcv";
	case IPPROTO_ICMP:
		return "icmp_rcv";
	default:
		return "ip_local_deliver_finish";
	}
}

/* Appends the stages of one direction of the host's own traffic. */
static int s_host(enum nb_lat_dir dir, uint8_t proto, uint8_t path, struct nb_lat_stage *o)
{
	if (dir == NB_LAT_TX) {
		o[0] = (struct nb_lat_stage){"ip_local_out", "ip_local_out", NB_LAT_NF_LOCAL_OUT,
					     NB_LAT_IF_NONE, NB_LAT_PRIO_FIRST, path, 0};
		o[1] = (struct nb_lat_stage){"ip_finish_output", "ip_finish_output",
					     NB_LAT_NF_POST_ROUTING, NB_LAT_IF_NONE,
					     NB_LAT_PRIO_LAST, path, 0};
		o[2] = (struct nb_lat_stage){"net_dev_xmit", NULL, NB_LAT_DEV_TX, NB_LAT_IF_PHY, 0,
					     path, 0};
		return 3;
	}
	o[0] = (struct nb_lat_stage){"netif_receive_skb", NULL, NB_LAT_DEV_RX, NB_LAT_IF_PHY, 0,
				     path, 0};
	o[1] = (struct nb_lat_stage){"ip_rcv", "ip_rcv", NB_LAT_NF_PRE_ROUTING, NB_LAT_IF_NONE,
				     NB_LAT_PRIO_FIRST, path, 0};
	o[2] = (struct nb_lat_stage){s_deliver(proto), s_deliver(proto), NB_LAT_NF_LOCAL_IN,
				     NB_LAT_IF_NONE, NB_LAT_PRIO_LAST, path, 0};
	return 3;
}

/*
 * Appends the stages of one direction of a VM's traffic through the hypervisor. FORWARD is
 * where a bridge with bridge-netfilter (or a routed setup) hands the packet on; an OVS
 * datapath has no netfilter stage, and the tools then show the two device stages only.
 */
static int s_vm(enum nb_lat_dir dir, uint8_t path, struct nb_lat_stage *o)
{
	enum nb_lat_ifrole in = dir == NB_LAT_TX ? NB_LAT_IF_VM : NB_LAT_IF_PHY;
	enum nb_lat_ifrole out = dir == NB_LAT_TX ? NB_LAT_IF_PHY : NB_LAT_IF_VM;

	o[0] = (struct nb_lat_stage){"netif_receive_skb", NULL, NB_LAT_DEV_RX, in, 0, path, 0};
	o[1] = (struct nb_lat_stage){"forward", NULL, NB_LAT_NF_FORWARD, NB_LAT_IF_NONE,
				     NB_LAT_PRIO_FIRST, path, 0};
	o[2] = (struct nb_lat_stage){"net_dev_xmit", NULL, NB_LAT_DEV_TX, out, 0, path, 0};
	return 3;
}

/* Where each probed kernel function takes its skb (x86-64 and arm64 calling conventions). */
static uint8_t s_karg(const char *kfunc)
{
	static const char *const third[] = {"ip_local_out", "ip_finish_output",
					    "ip_local_deliver_finish"};

	if (!kfunc)
		return 0;
	for (size_t i = 0; i < sizeof(third) / sizeof(third[0]); i++)
		if (!strcmp(kfunc, third[i]))
			return 3;
	return 1; /* ip_rcv, icmp_rcv, tcp_v4_rcv, udp_rcv */
}

static int s_chain(enum nb_lat_family fam, enum nb_lat_dir dir, bool rtt, uint8_t proto,
		 struct nb_lat_stage out[NB_MAX_STAGES])
{
	enum nb_lat_dir first = dir == NB_LAT_RX ? NB_LAT_RX : NB_LAT_TX;
	enum nb_lat_dir second = first == NB_LAT_TX ? NB_LAT_RX : NB_LAT_TX;
	int n;

	if (rtt && dir == NB_LAT_BOTH)
		return -EINVAL;
	if (fam == NB_LAT_VM) {
		if (rtt)
			return -EINVAL;
		n = s_vm(first, 0, out);
		if (dir == NB_LAT_BOTH)
			n += s_vm(second, 1, out + n);
		return n;
	}
	if (rtt) /* the echo request, then its reply, both of ICMP */
		proto = IPPROTO_ICMP;
	n = s_host(first, proto, 0, out);
	if (rtt || dir == NB_LAT_BOTH)
		n += s_host(second, proto, 1, out + n);
	return n;
}

int nb_lat_chain(enum nb_lat_family fam, enum nb_lat_dir dir, bool rtt, uint8_t proto,
		 struct nb_lat_stage out[NB_MAX_STAGES])
{
	int n = s_chain(fam, dir, rtt, proto, out);

	for (int i = 0; i < n; i++)
		out[i].karg = s_karg(out[i].kfunc);
	return n;
}

unsigned int nb_lat_far_from(const uint64_t h[NB_LAT_BUCKETS])
{
	uint64_t total = 0, seen = 0;
	unsigned int b;

	for (b = 0; b < NB_LAT_BUCKETS; b++)
		total += h[b];
	if (!total)
		return NB_LAT_BUCKETS;
	/* The median's bucket: where half of the packets (rounded up) have been counted. */
	for (b = 0; b < NB_LAT_BUCKETS; b++) {
		seen += h[b];
		if (2 * seen >= total)
			break;
	}
	return b + NB_LAT_FAR_SHIFT < NB_LAT_BUCKETS ? b + NB_LAT_FAR_SHIFT : NB_LAT_BUCKETS;
}
