#!/bin/bash
# vm_network_latency_details on traffic its filter does not match (issue 12): the path tracers'
# overhead benchmark (baseline, floor, tool, tcpdump and bpftrace rounds), with this tool.
#   tests/bench/latover.sh
NB_BENCH_TOOL=vm_network_latency_details NB_BENCH_NAME=latover \
	exec bash "$(dirname "$0")/overhead.sh"
