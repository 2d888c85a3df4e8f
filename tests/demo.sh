#!/bin/bash
# make demo: the main job on the built-in lab. Two agents trace hypervisors A and B, a loss is
# injected in the physical network (the fabric), and one `netblame trace icmp` names it.
# Everything it starts is torn down at the end, also on failure or Ctrl-C.
set -u
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
need_root

lab_up --vmb tap
echo
echo "### Fault: the fabric drops echo requests seq 3 and 6 (198.18.0.1 -> 198.18.0.2)"
tests/lab drop --at fab --dir req --seq 3
tests/lab drop --at fab --dir req --seq 6
echo
echo "### Single host: icmp_path_tracer on hypervisor A"
"$AGENT" icmp_path_tracer --netns nbhvA --src-ip 198.18.0.1 --dst-ip 198.18.0.2 \
	--rx-iface vnet0 --tx-iface ens4f0 --count 4 --timeout-ms 500 &
tracer=$!
on_exit "kill $tracer 2>/dev/null"
sleep 0.5
tests/lab ping -c 4 -i 0.2 -W 1 >/dev/null
wait $tracer
echo "### Lab torn down on exit."
