#!/bin/bash
# tun_ring_monitor's cost to another VM's tap on the same hypervisor: tun.sh with the flood into
# a second tap VM while the tool watches the first (see NB_BENCH_TUN_OTHER there).
NB_BENCH_TUN_OTHER=1 exec bash "$(dirname "$0")/tun.sh" "$@"
