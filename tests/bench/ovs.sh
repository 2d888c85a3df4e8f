#!/bin/bash
# ovs_upcall_latency_summary's cost on an established flow (issue 13; target: at least 97 % of
# the baseline, same run). Open vSwitch's userspace datapath between two VM namespaces
# (tests/e2e/ovs.sh): a UDP flood nbova -> nbovb:9000, one flow, so after its first packet
# everything takes the fast path. One flood for all the rounds, measured at the receiver in
# slices (lib.sh `btn_slices`); three conditions, each round in one of the orders of a Williams
# design (lib.sh `orders`): the baseline, the tool attached to the
# two OVS ports, and the floor: the tool with its programs returning at once
# (NB_TEST_NOOP_PROGRAMS=1), what the two tcx hooks and a running tool cost by themselves. The
# kernel sends user space only the flow's first packet (the upcall) and counts the rest (the
# stage tracer's upcall mode).
# One more tool flood with kernel.bpf_stats_enabled=1 (not in the medians) weighs the programs:
# run time per run and runs per packet sent.
#   tests/bench/ovs.sh   (NB_BENCH_ROUNDS, NB_BENCH_SECONDS: rounds, seconds per slice;
#                         NB_BENCH_SETTLE: seconds from the attach to the slice, 1.5)
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/ovs.sh
. "$BENCH_DIR/../e2e/ovs.sh"
need_root
bench_init ovs
bench_need "$AGENT" "$TRAFFIC"

ROUNDS=${NB_BENCH_ROUNDS:-18}
SLICE=${NB_BENCH_SECONDS:-0.5}
# The separate floods that weigh the programs (bpf_stats).
DUR=2
SIZE=64
PORT=9000
TARGET=97
cd "$REPO" || exit 1
TOOL_PID=

# flood ROUND TAG: appends "ROUND TAG rx_pps tx_pps" to $TMP/rounds.
flood() {
	local round=$1 tag=$2 rpid rx tx
	rm -f "$TMP/recv.pid"
	ip netns exec nbovb "$TRAFFIC" udp-recv --port $PORT --duration "$DUR" --wait 5 \
		--pidfile "$TMP/recv.pid" >"$TMP/recv.out" 2>"$TMP/recv.err" &
	rpid=$!
	on_exit "kill $rpid 2>/dev/null"
	wait_for 5 test -s "$TMP/recv.pid" || fail "udp-recv did not start: $(cat "$TMP/recv.err")"
	ip netns exec nbova taskset -c 0 "$TRAFFIC" udp-send --dst "$OVS_B" --port $PORT --size $SIZE \
		--duration "$(awk -v d="$DUR" 'BEGIN { print d + 0.5 }')" >"$TMP/send.out" \
		2>"$TMP/send.err" || fail "udp-send: $(cat "$TMP/send.err")"
	wait "$rpid" || fail "udp-recv: $(cat "$TMP/recv.err")"
	rx=$(cat "$TMP/recv.out")
	tx=$(cat "$TMP/send.out")
	[ "$(kv packets "$rx")" != 0 ] || fail "no UDP packet reached nbovb (sender: $tx)"
	echo "$round $tag $(kv pps "$rx") $(kv pps "$tx")" >>"$TMP/rounds"
	printf '  %-5s %-5s rx %7s pps, tx %7s pps\n' "$round" "$tag" "$(kv pps "$rx")" \
		"$(kv pps "$tx")"
}

# tool_start [noop]: the tool attached; noop: its programs emptied (NB_TEST_NOOP_PROGRAMS=1),
# what the two tcx hooks cost by themselves.
tool_start() {
	local noop=0
	[ "${1:-}" = noop ] && noop=1
	NB_TEST_NOOP_PROGRAMS=$noop "$AGENT" ovs_upcall_latency_summary --netns nbovs --interface p1,p2 --protocol udp \
		--interval 60 --duration 600 --json >"$TMP/tool.json" 2>"$TMP/tool.err" &
	TOOL_PID=$!
	on_exit "kill $TOOL_PID 2>/dev/null"
	wait_for 10 grep -q '"type":"start"' "$TMP/tool.json" || fail "the tool did not attach: $(cat "$TMP/tool.err")"
	# Attached: the flood's flow is new to the tool, so its first packet is an upcall
	# candidate whose copies out are looked for (a clock read and a lookup per packet of the
	# flow) until it is seen leaving, or for the timeout (1 s) when the switch dropped it, as it
	# drops half of this flood: the target is the overhead on an established flow, after that.
	sleep "${NB_BENCH_SETTLE:-1.5}"
}

# bpf_stats_round [noop]: one flood with per-program run statistics of the tool's programs:
# sets STATS (a row per program: name, runs, ns per run, ns) and RUNS_PER_PKT, NS_PER_PKT.
bpf_stats_round() {
	local old ids tx
	old=$(sysctl -n kernel.bpf_stats_enabled)
	on_exit "sysctl -qw kernel.bpf_stats_enabled=$old"
	tool_start "${1:-}"
	ids=$(held_ids prog "$TOOL_PID" | paste -sd,)
	[ -n "$ids" ] || fail "the tool holds no BPF program"
	sysctl -qw kernel.bpf_stats_enabled=1
	bpftool -j prog show | jq "[.[] | select(.id | IN($ids))]" >"$TMP/st0.json"
	cp "$TMP/rounds" "$TMP/rounds.keep" # not a round of the medians
	flood stats "${1:-tool}"
	mv "$TMP/rounds.keep" "$TMP/rounds"
	bpftool -j prog show | jq "[.[] | select(.id | IN($ids))]" >"$TMP/st1.json"
	sysctl -qw "kernel.bpf_stats_enabled=$old"
	tool_stop
	tx=$(cat "$TMP/send.out")
	STATS=$(jq -rn --slurpfile a "$TMP/st0.json" --slurpfile b "$TMP/st1.json" '
		($a[0] | map({(.id | tostring): .}) | add) as $s
		| $b[0][] | . as $e | ($s[.id | tostring] // {}) as $o
		| ((.run_cnt // 0) - ($o.run_cnt // 0)) as $c
		| ((.run_time_ns // 0) - ($o.run_time_ns // 0)) as $t
		| "\(.name) \($c) \(if $c > 0 then ($t / $c * 10 | round / 10) else 0 end) \($t)"')
	read -r RUNS_PER_PKT NS_PER_PKT < <(echo "$STATS" | awk -v pk="$(kv sent "$tx")" '
		{ c += $2; t += $4 } END { printf "%.2f %.0f\n", c / pk, t / pk }')
	[ -n "${NS_PER_PKT:-}" ] || fail "could not read the BPF run statistics"
}

tool_stop() {
	local rc
	kill -INT "$TOOL_PID"
	wait "$TOOL_PID"
	rc=$?
	TOOL_PID=
	[ "$rc" = 0 ] || fail "ovs_upcall_latency_summary exited $rc: $(cat "$TMP/tool.err")"
}

# count: the packets the switch delivered to nbovb (its eth0's RX), the packets nbova's eth0
# sent, and the datagrams the receiver read (/proc/PID/net/snmp, InDatagrams). The switch's
# throughput is the first: the receiver is a process of this small machine too, sharing its
# CPUs with the sender and ovs-vswitchd, and what it reads says as much about where the
# scheduler put it.
count() {
	local l f hdr='' sent
	[ -d "/proc/$SEND_PID" ] || fail "the flood's sender is gone: $(cat "$TMP/load.err")"
	[ -d "/proc/$RECV_PID" ] || fail "the flood's receiver is gone: $(cat "$TMP/loadr.err")"
	netdev_count "$SEND_PID" eth0
	sent=${COUNT[1]}
	netdev_count "$RECV_PID" eth0
	COUNT=("${COUNT[0]}" "$sent")
	while read -r l; do
		[ "${l%% *}" = "Udp:" ] || continue
		# The first Udp: line names the fields, the second holds the values.
		[ -z "$hdr" ] && hdr=1 && continue
		read -ra f <<<"$l"
		COUNT+=("${f[1]}")
		return 0
	done <"/proc/$RECV_PID/net/snmp"
	fail "no Udp line in /proc/$RECV_PID/net/snmp"
}

ovs_up "$TMP/ovs"
echo "ovs: UDP ${SIZE}-byte flood through OVS (userspace datapath), $ROUNDS rounds of" \
	"${SLICE}s slices (baseline B, tool T, floor N)"
ip netns exec nbovb "$TRAFFIC" udp-recv --port $PORT --duration 86400 --wait 30 \
	>"$TMP/loadr.out" 2>"$TMP/loadr.err" &
RECV_PID=$!
on_exit "kill $RECV_PID 2>/dev/null"
sleep 0.2
flood_start nbova "$OVS_B"
btn_slices "$ROUNDS" "$SLICE"
kill "$SEND_PID"
wait "$SEND_PID"
kill -INT "$RECV_PID"
wait "$RECV_PID"
bpf_stats_round noop
FLOOR_STATS=$STATS FLOOR_NS=$NS_PER_PKT
bpf_stats_round
SUMMARY=$(jq -c 'select(.type=="summary") | {upcalls, fast_path, fast_path_lost, fast_path_followed, fast_path_sampled, lost_events, not_followed, kernel_map_full}' "$TMP/tool.json")
BASE=$(round_median base)
TOOL=$(round_median tool)
NOOP=$(round_median noop)
RATIO=$(awk -v b="$BASE" -v t="$TOOL" 'BEGIN { printf "%.1f", 100 * t / b }')
PAIR_RATIO=$(round_ratio tool base)
PAIR_CI=$(round_ratio_ci tool base)
FLOOR_RATIO=$(round_ratio noop base)
OWN_RATIO=$(round_ratio tool noop)
OWN_CI=$(round_ratio_ci tool noop)
# The sender shares the CPUs with the receive-side programs (they run in its softirq) and with
# ovs-vswitchd, which cannot forward the whole flood: what it drops depends on how fast the
# sender is, so the packets sent tell the cost too.
TX_BASE=$(round_median base 4)
TX_TOOL=$(round_median tool 4)
TX_RATIO=$(awk -v b="$TX_BASE" -v t="$TX_TOOL" 'BEGIN { printf "%.1f", 100 * t / b }')
READ_RATIO=$(round_ratio tool base 5)
ST=$(floor_bound_status "$PAIR_RATIO" "$FLOOR_RATIO" $TARGET)
OWN_ST=$(target_status "$OWN_RATIO" ">=" $FLOOR_TARGET)
result "baseline median (delivered by the switch)" "$BASE pps" "-" "-"
result "tool attached median" "$TOOL pps" "-" "-"
result "floor (empty programs) median" "$NOOP pps" "-" "-"
result "tool / baseline, median of rounds" "$PAIR_RATIO %" ">= $TARGET %" "$ST"
result "tool / baseline, 95 % interval of that median" "$PAIR_CI %" "-" "-"
result "tool / baseline, ratio of medians" "$RATIO %" "-" "-"
result "floor / baseline, median of rounds" "$FLOOR_RATIO %" "-" "-"
result "tool / floor, median of rounds" "$OWN_RATIO %" ">= $FLOOR_TARGET %" "$OWN_ST"
result "tool / floor, 95 % interval of that median" "$OWN_CI %" "-" "-"
result "sent: tool / baseline (ratio of medians)" "$TX_RATIO %" "-" "-"
result "read by the receiver: tool / baseline, median of rounds" "$READ_RATIO %" "-" "-"
result "BPF time per packet sent (bpf_stats)" "$NS_PER_PKT ns" "-" "-"
result "empty programs per packet sent (floor)" "$FLOOR_NS ns" "-" "-"
{
	echo "## ovs_upcall_latency_summary on an established flow (issue 13)"
	echo
	echo "Open vSwitch's userspace datapath (Debian's ovs-vswitchd, \`datapath_type=netdev\`) in a"
	echo "namespace between two VM namespaces (\`tests/e2e/ovs.sh\`); a UDP flood of ${SIZE}-byte"
	echo "datagrams on one flow (the fast path after its first packet), one flood measured in slices"
	echo "of ${SLICE} s: $ROUNDS rounds of three slices, each round in one of the orders of a Williams design"
	echo "($(IFS=,; echo "${ORDERS[*]}" | sed 's/,/, /g')): B baseline, T the tool attached to ports p1 and p2, N the"
	echo "floor (the tool with its programs returning at once, \`NB_TEST_NOOP_PROGRAMS=1\`). Throughput is"
	echo "what the switch delivered to the destination per second (nbovb's eth0 RX packets); the"
	echo "datagrams the receiving process read (its UDP InDatagrams) are shown too. The sender is pinned to CPU 0; ovs-vswitchd and the"
	echo "receiver are left to the scheduler. The tool is judged against the floor (within 2 %), as"
	echo "the path tracers are: the hooks' own cost is not the tool's to remove."
	echo
	echo "| round | condition | delivered (pps) | sent (pps) | read by the receiver (pps) |"
	echo "|---|---|---|---|---|"
	awk '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$TMP/rounds"
	echo
	echo "| metric | value | target | status |"
	echo "|---|---|---|---|"
	echo "| tool / baseline (median of round ratios) | $PAIR_RATIO % | >= $TARGET % | $ST |"
	echo "| tool / baseline, 95 % interval of that median | $PAIR_CI % | - | - |"
	echo "| tool / baseline (ratio of medians) | $RATIO % | - | - |"
	echo "| floor / baseline (median of round ratios) | $FLOOR_RATIO % | - | - |"
	echo "| tool / floor (median of round ratios) | $OWN_RATIO % | >= $FLOOR_TARGET % | $OWN_ST |"
	echo "| tool / floor, 95 % interval of that median | $OWN_CI % | - | - |"
	echo "| sent: tool / baseline (ratio of medians) | $TX_RATIO % | - | - |"
	echo "| read by the receiving process: tool / baseline (median of round ratios) | $READ_RATIO % | - | - |"
	echo "| BPF time per packet sent (bpf_stats) | $NS_PER_PKT ns | - | - |"
	echo "| empty programs per packet sent (floor, bpf_stats) | $FLOOR_NS ns | - | - |"
	echo
	echo "The programs' own cost, in two more floods with \`kernel.bpf_stats_enabled=1\` (not in"
	echo "the medians): the tool, $RUNS_PER_PKT runs and $NS_PER_PKT ns of BPF per packet sent; the"
	echo "same hooks with empty programs (\`NB_TEST_NOOP_PROGRAMS=1\`, the floor), $FLOOR_NS ns."
	echo
	echo "| program | runs | ns per run | empty: runs | empty: ns per run |"
	echo "|---|---|---|---|---|"
	join <(echo "$STATS" | sort) <(echo "$FLOOR_STATS" | sort) |
		awk '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $5, $6 }'
	echo
	echo "That run's own counts: \`$SUMMARY\`."
} >"$BENCH_OUT/ovs.md"
exit 0
