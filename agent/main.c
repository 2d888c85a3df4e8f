// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame-agent: runs one of the fourteen single-host tools (chosen by argv[0], so the
 * tool-name symlinks work, or by the first argument), or serves remote sessions.
 */
#include "agent.h"
#include "nb_log.h"
#include "nb_tool.h"

#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define U(id, req)                                                                                 \
	{                                                                                          \
		NB_O_##id, req, NULL                                                               \
	}
#define COMMON U(NETNS, false), U(DURATION, false), U(JSON, false), U(VERBOSE, false), U(HELP, false)

static const struct nb_opt_use s_icmp_path[] = {
	U(SRC_IP, true), U(DST_IP, true), U(RX_IFACE, true), U(TX_IFACE, true),
	U(TIMEOUT_MS, false), U(COUNT, false), U(RINGBUF_KB, false), U(HOOKS, false),
	U(DROPS, false), COMMON};
static const struct nb_opt_use s_tcp_path[] = {
	U(SRC_IP, true),       U(DST_IP, true), U(RX_IFACE, true),   U(TX_IFACE, true),
	U(SRC_PORT, false),    U(DST_PORT, false), U(TIMEOUT_MS, false), U(COUNT, false),
	U(RINGBUF_KB, false), U(HOOKS, false), U(DROPS, false), COMMON};
static const struct nb_opt_use s_udp_path[] = {
	U(SRC_IP, true),   U(DST_IP, true),    U(RX_IFACE, true),   U(TX_IFACE, true),
	U(SRC_PORT, false), U(DST_PORT, false), U(TIMEOUT_MS, false), U(COUNT, false),
	U(RINGBUF_KB, false), U(HOOKS, false), U(DROPS, false), COMMON};
static const struct nb_opt_use s_sys_icmp_rtt[] = {
	U(SRC_IP, true), U(DST_IP, true), U(PHY_INTERFACE, true), U(DIRECTION, true),
	U(LATENCY_MS, false), U(COUNT, false), COMMON};
static const struct nb_opt_use s_kernel_icmp_rtt[] = {
	U(SRC_IP, true), U(DST_IP, true), U(INTERFACE, true), U(DIRECTION, true),
	U(LATENCY_MS, false), U(COUNT, false), COMMON};
static const struct nb_opt_use s_sys_lat_summary[] = {
	U(PHY_INTERFACE, true), U(SRC_IP, false),    U(DST_IP, false), U(PROTOCOL, false),
	U(DIRECTION, true),     U(INTERVAL, false), COMMON};
static const struct nb_opt_use s_vm_lat_summary[] = {
	U(VM_INTERFACE, true), U(PHY_INTERFACE, true), U(SRC_IP, false),   U(DST_IP, false),
	U(PROTOCOL, false),    U(DIRECTION, true),     U(INTERVAL, false), COMMON};
static const struct nb_opt_use s_sys_lat_details[] = {
	U(PHY_INTERFACE, true), U(SRC_IP, false), U(DST_IP, false), U(PROTOCOL, false),
	U(DIRECTION, true), COMMON};
static const struct nb_opt_use s_vm_lat_details[] = {
	U(VM_INTERFACE, true), U(PHY_INTERFACE, true), U(SRC_IP, false), U(DST_IP, false),
	U(PROTOCOL, false),    U(DIRECTION, true),     COMMON};
static const struct nb_opt_use s_eth_drop[] = {
	U(INTERFACE, false), U(SRC_IP, false),	 U(DST_IP, false),    U(SRC_PORT, false),
	U(DST_PORT, false),  U(PROTOCOL, false), U(RINGBUF_KB, false), COMMON};
static const struct nb_opt_use s_drop_stats[] = {
	{NB_O_INTERVAL, false,
	 "report every S seconds (default 5); each report counts the drops since the previous "
	 "one (the kernel's totals are never reset, so none falls between reports)"},
	U(INTERFACE, false), U(SRC_IP, false),	 U(DST_IP, false), U(SRC_PORT, false),
	U(DST_PORT, false),  U(PROTOCOL, false), U(TOP, false),	   COMMON};
static const struct nb_opt_use s_vhost[] = {
	{NB_O_VM_INTERFACE, false, "the VM's vnet/tap device (or --device)"},
	U(DEVICE, false), U(QUEUE, false), U(INTERVAL, false), U(RINGBUF_KB, false),
	{NB_O_NETNS, false, NULL}, U(DURATION, false), U(JSON, false),
	{NB_O_VERBOSE, false, "every event as it comes, and libbpf debug output"}, U(HELP, false)};
static const struct nb_opt_use s_tun_ring[] = {
	{NB_O_INTERFACE, false, "the tun/tap device (or --device)"},
	U(DEVICE, false), U(QUEUE, false), U(SRC_IP, false), U(DST_IP, false), U(SRC_PORT, false),
	U(DST_PORT, false), U(PROTOCOL, false), U(ALL, false), U(INTERVAL, false),
	U(RINGBUF_KB, false), COMMON};
static const struct nb_opt_use s_ovs_upcall[] = {
	U(SRC_IP, false),   U(DST_IP, false), U(SRC_PORT, false), U(DST_PORT, false),
	U(PROTOCOL, false), U(INTERVAL, false),
	{NB_O_INTERFACE, false, "the OVS ports to watch (default: every port ovs-vsctl lists)"},
	{NB_O_TOP, false, "the N flows with most upcalls in the summary (default 10)"},
	{NB_O_TIMEOUT_MS, false, "a packet not out of the switch by then is lost (default 1000)"},
	U(RINGBUF_KB, false), COMMON};

#define T(name, what, ops, arr, arg) {name, what, arr, sizeof(arr) / sizeof(arr[0]), ops, arg}

static const struct nb_path_tool s_icmp = {"ICMP Path Tracer", "icmp", 0};
static const struct nb_path_tool s_tcp = {"TCP Path Tracer", "tcp", IPPROTO_TCP};
static const struct nb_path_tool s_udp = {"UDP Path Tracer", "udp", IPPROTO_UDP};

static const struct nb_latsum_tool s_sys_sum = {"System Network Latency Summary", NB_LAT_SYSTEM};
static const struct nb_latsum_tool s_vm_sum = {"VM Network Latency Summary", NB_LAT_VM};
static const struct nb_lat_tool s_sys_rtt = {"System Network ICMP RTT Tracer", NB_LAT_SYSTEM, true};
static const struct nb_lat_tool s_kernel_rtt = {"Kernel ICMP RTT Tracer", NB_LAT_KERNEL, true};
static const struct nb_lat_tool s_sys_details = {"System Network Latency Details", NB_LAT_SYSTEM,
						 false};
static const struct nb_lat_tool s_vm_details = {"VM Network Latency Details", NB_LAT_VM, false};

static const struct nb_tool s_tools[] = {
	T("icmp_path_tracer", "ICMP request/reply through rx and tx interfaces, per packet",
	  &nb_path_tracer_ops, s_icmp_path, &s_icmp),
	T("tcp_path_tracer", "TCP segments and their ACKs through two interfaces",
	  &nb_path_tracer_ops, s_tcp_path, &s_tcp),
	T("udp_path_tracer", "UDP datagrams and fragment groups through two interfaces",
	  &nb_path_tracer_ops, s_udp_path, &s_udp),
	T("system_network_icmp_rtt", "ICMP RTT of the host's own network, split by stage",
	  &nb_lat_pkt_ops, s_sys_icmp_rtt, &s_sys_rtt),
	T("kernel_icmp_rtt", "ICMP RTT inside the kernel (no OVS)", &nb_lat_pkt_ops,
	  s_kernel_icmp_rtt, &s_kernel_rtt),
	T("system_network_latency_summary", "stage latency histograms, host network",
	  &nb_lat_summary_ops, s_sys_lat_summary, &s_sys_sum),
	T("vm_network_latency_summary", "stage latency histograms, VM network",
	  &nb_lat_summary_ops, s_vm_lat_summary, &s_vm_sum),
	T("system_network_latency_details", "per-packet stage latency, host network",
	  &nb_lat_pkt_ops, s_sys_lat_details, &s_sys_details),
	T("vm_network_latency_details", "per-packet stage latency, VM network", &nb_lat_pkt_ops,
	  s_vm_lat_details, &s_vm_details),
	T("eth_drop", "packet drops with reason, location and stack", &nb_eth_drop_ops,
	  s_eth_drop, NULL),
	T("kernel_drop_stack_stats_summary_all", "drop counts by stack, reason and device",
	  &nb_drop_stats_ops, s_drop_stats, NULL),
	T("vhost_queue_correlation_simple", "vhost-net queue state of a VM interface",
	  &nb_vhost_ops, s_vhost, NULL),
	T("tun_ring_monitor", "tun/tap ring occupancy and overflows", &nb_tun_ring_ops, s_tun_ring,
	  NULL),
	T("ovs_upcall_latency_summary", "OVS upcall latency histogram", &nb_ovs_upcall_ops,
	  s_ovs_upcall, NULL),
};
#define S_NTOOLS (sizeof(s_tools) / sizeof(s_tools[0]))

const struct nb_tool *nb_tool_find(const char *name)
{
	for (size_t i = 0; i < S_NTOOLS; i++)
		if (!strcmp(s_tools[i].name, name))
			return &s_tools[i];
	return NULL;
}

static void s_usage(FILE *f)
{
	fprintf(f, "usage: netblame-agent TOOL [FLAGS]    (or run a TOOL symlink directly)\n"
		   "       netblame-agent serve --listen ENDPOINT --name NODE [--netns NAME|PATH]\n"
		   "                            [--insecure | --secret-key FILE --authorized-keys FILE]\n"
		   "       netblame-agent TOOL --help\n"
		   "       netblame-agent --list-tools    (the tool names, one a line)\n\ntools:\n");
	for (size_t i = 0; i < S_NTOOLS; i++)
		fprintf(f, "  %-36s %s%s\n", s_tools[i].name, s_tools[i].what,
			s_tools[i].ops ? "" : " (not built yet)");
}

/* --help anywhere wins over every other flag, even a bad one. */
static bool s_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const char *base = basename(argv[0]);
	const struct nb_tool *t = nb_tool_find(base);
	struct nb_opts o;
	char err[256];

	if (!t) {
		if (argc < 2) {
			s_usage(stderr);
			return NB_EXIT_USAGE;
		}
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			s_usage(stdout);
			return NB_EXIT_OK;
		}
		/* The one list of tool names: the Makefile makes the symlinks from it. */
		if (!strcmp(argv[1], "--list-tools")) {
			for (size_t i = 0; i < S_NTOOLS; i++)
				puts(s_tools[i].name);
			return NB_EXIT_OK;
		}
		if (!strcmp(argv[1], "serve")) {
			nb_log_set_prog("netblame-agent serve");
			if (nb_serve_libs_open(err, sizeof(err))) {
				nb_err("%s", err);
				return NB_EXIT_ERR;
			}
			return nb_serve(argc - 1, argv + 1);
		}
		t = nb_tool_find(argv[1]);
		if (!t) {
			nb_err("unknown tool '%s' (netblame-agent --help lists them)", argv[1]);
			return NB_EXIT_USAGE;
		}
		argc--;
		argv++;
	}
	nb_log_set_prog(t->name);
	if (s_wants_help(argc, argv)) {
		printf("usage: %s [FLAGS]\n%s%s\n\nflags:\n", t->name, t->what,
		       t->ops ? "" : " (not built yet)");
		nb_opts_help(stdout, t->opts, t->n_opts);
		return NB_EXIT_OK;
	}
	if (!t->ops) {
		nb_err("this tool is not built yet");
		return NB_EXIT_ERR;
	}
	/* Parsed once, here; the runtime and the tool read the result. */
	if (nb_opts_parse(t->opts, t->n_opts, argc, argv, &o, err, sizeof(err))) {
		nb_err("%s (see --help)", err);
		return NB_EXIT_USAGE;
	}
	return nb_tool_run(t, &o);
}
