#!/bin/bash
# The latency summary's per-packet BPF cost, from the kernel's own accounting
# (kernel.bpf_stats_enabled: run_time_ns / run_cnt per program), on a 64-byte UDP flood
# vmA -> vmB through hvA (vnet0 tcx ingress -> FORWARD -> ens4f0 tcx egress). Unlike a
# throughput ratio this is little moved by other load on the machine. Two runs: the floor,
# the same programs with a filter the flood does not match (they parse and return), and the
# tool on matching traffic. The difference is what aggregating a packet costs. A third run,
# noop (NB_TEST_NOOP_PROGRAMS=1: the programs return at once), measures what the accounting
# itself adds to each run (two clock reads), which the kernel pays only while it is on.
#   tests/bench/latcost.sh   (NB_BENCH_SECONDS changes the flood's length)
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
bench_init latcost
bench_need "$AGENT" "$TRAFFIC"
DUR=${NB_BENCH_SECONDS:-3}
cd "$REPO" || exit 1
bench_lab_up --vmb veth
prev=$(sysctl -n kernel.bpf_stats_enabled) || skip "no kernel.bpf_stats_enabled"
on_exit "sysctl -qw kernel.bpf_stats_enabled=$prev"
sysctl -qw kernel.bpf_stats_enabled=1

# run TAG SRC: the tool filtered on SRC -> IP_B during a flood; "ns_per_datagram runs" out.
run() {
	local pid rpid noop=0
	[ "$1" = noop ] && noop=1
	NB_TEST_NOOP_PROGRAMS=$noop "$AGENT" vm_network_latency_summary --netns nbhvA --vm-interface vnet0 \
		--phy-interface ens4f0 --direction tx --protocol udp --src-ip "$2" \
		--dst-ip "$IP_B" --interval 60 --duration 600 --json >"$TMP/$1.json" \
		2>"$TMP/$1.err" &
	pid=$!
	on_exit "kill $pid 2>/dev/null"
	wait_for 10 grep -q '"type":"start"' "$TMP/$1.json" ||
		fail "$1: the tool did not attach: $(cat "$TMP/$1.err")"
	ip netns exec nbvmB "$TRAFFIC" udp-recv --port 9000 --duration "$DUR" --wait 5 \
		>"$TMP/$1.recv" 2>&1 &
	rpid=$!
	sleep 0.3
	ip netns exec nbvmA "$TRAFFIC" udp-send --dst "$IP_B" --port 9000 --size 64 \
		--duration "$(awk -v d="$DUR" 'BEGIN { print d + 0.5 }')" >/dev/null 2>&1 ||
		fail "$1: udp-send failed"
	wait "$rpid"
	bpftool prog show -j | jq -r '[.[] | select(.name | startswith("nb_lat_")) |
		select(.run_cnt > 0)] | "\(map(.run_time_ns / .run_cnt) | add | floor) \(map(.run_cnt) | min)"' \
		>"$TMP/$1.cost"
	bpftool prog show -j | jq -r '.[] | select(.name | startswith("nb_lat_")) |
		select(.run_cnt > 0) | "  \(.name): \(.run_time_ns / .run_cnt | floor) ns/run"'
	kill -INT "$pid"
	wait "$pid" || fail "$1: the tool exited $?: $(cat "$TMP/$1.err")"
	printf '  %s: %s ns per datagram over its programs, %s datagrams\n' "$1" \
		$(cat "$TMP/$1.cost")
}

echo "latcost: vm_network_latency_summary's BPF cost per datagram, ${DUR}s UDP floods"
run noop "$IP_A"
run floor 198.18.0.77
run tool "$IP_A"
read -r NOOP _ <"$TMP/noop.cost"
read -r FLOOR _ <"$TMP/floor.cost"
read -r TOOL N <"$TMP/tool.cost"
[ "${N:-0}" -gt 0 ] || fail "no datagram reached the programs"
result "BPF ns per datagram, noop (accounting)" "$NOOP ns" "-" "-"
result "BPF ns per datagram, floor (no match)" "$FLOOR ns" "-" "-"
result "BPF ns per datagram, tool (matching)" "$TOOL ns" "-" "-"
result "aggregation cost per datagram" "$((TOOL - FLOOR)) ns" "-" "-"
