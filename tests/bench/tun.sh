#!/bin/bash
# tun_ring_monitor's cost on a tap flood (issue 13; target: at least 97 % of the baseline
# throughput, same run). In the lab with the tap VM (`tests/lab up --vmb tap`): a UDP flood
# vmA -> the tap VM (198.18.0.1 -> 198.18.0.2:9000), which nb_vm reads at full speed and
# ignores. Throughput is what went through the tap's ring to the reader: vnet0's TX packets
# per second (the tap counts a packet sent once it is in the ring; the overflow is its TX
# dropped). One flood for all the rounds, measured in slices (lib.sh `btn_slices`); three
# conditions, each round in one of the orders of a Williams design (lib.sh `orders`): the
# baseline, tun_ring_monitor attached to vnet0 (all three of its programs run on every packet
# of the flood), and the floor: the tool's programs replaced by empty ones
# (NB_TEST_NOOP_PROGRAMS=1), what the hooks cost by themselves. Then four more floods with
# kernel.bpf_stats_enabled give each program's run time, per run and per flood packet.
# With NB_BENCH_TUN_OTHER=1, what the tool costs another VM's tap on the same host (section
# tun_other): a second tap VM (nb_vm on vnet1, 198.18.0.3, on hvB's bridge) takes the flood,
# while the tool watches the idle vnet0; its reader's frees run the dequeue program too, which
# returns at the task compare.
#   tests/bench/tun.sh   (NB_BENCH_ROUNDS, NB_BENCH_SECONDS: rounds, seconds per slice;
#                         NB_BENCH_SETTLE: seconds from the attach to the slice, 0.2;
#                         NB_BENCH_TUN_OTHER=1: the flood into another tap)
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
OTHER=${NB_BENCH_TUN_OTHER:-0}
if [ "$OTHER" = 1 ]; then
	bench_init tun_other
	DEV=vnet1 DST=198.18.0.3
else
	bench_init tun
	DEV=vnet0 DST=$IP_B
fi
bench_need "$AGENT" "$TRAFFIC"

ROUNDS=${NB_BENCH_ROUNDS:-24}
SLICE=${NB_BENCH_SECONDS:-0.5}
# The separate floods that weigh the programs (bpf_stats).
DUR=2
SIZE=64
PORT=9000
TARGET=97
cd "$REPO" || exit 1
TOOL_PID=

# bpf_stats: "NAME RUN_TIME_NS RUN_CNT" of each nb_tun_* program loaded now.
bpf_cost() {
	bpftool prog show --json | jq -r '.[] | select((.name | startswith("nb_tun_")) and .name != "nb_tun_snap" and (.run_cnt // 0) > 0) | .name |= sub("_nop$"; "") |
		"\(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"'
}

tap_stats() { ip -n nbhvB -s -j link show $DEV | jq -r '.[0].stats64.tx | "\(.packets) \(.dropped)"'; }

# flood ROUND TAG: appends "ROUND TAG ring_pps dropped_pps sender_pps" to $TMP/rounds.
flood() {
	local round=$1 tag=$2 p0 d0 p1 d1 s0 s1 tx pps dps
	read -r p0 d0 < <(tap_stats)
	s0=$EPOCHREALTIME
	"$LAB" exec vmA taskset -c 0 "$TRAFFIC" udp-send --dst "$DST" --port $PORT --size $SIZE \
		--duration "$DUR" >"$TMP/send.out" 2>"$TMP/send.err" || fail "udp-send: $(cat "$TMP/send.err")"
	# The reader drains what is left in the ring (at most its size) before the count.
	sleep 0.2
	s1=$EPOCHREALTIME
	read -r p1 d1 < <(tap_stats)
	lab_intact || fail "the lab was rebuilt by another run during the measurement"
	tx=$(cat "$TMP/send.out")
	pps=$(awk -v a="$p0" -v b="$p1" -v s="$(kv seconds "$tx")" 'BEGIN { printf "%.0f", (b - a) / s }')
	dps=$(awk -v a="$d0" -v b="$d1" -v s="$(kv seconds "$tx")" 'BEGIN { printf "%.0f", (b - a) / s }')
	[ "$pps" -gt 0 ] || fail "nothing went through $DEV's ring (sender: $tx)"
	echo "$round $tag $pps $dps $(kv pps "$tx")" >>"$TMP/rounds"
	# The programs' own cost over this flood (statistics on only then): per run, and per
	# packet the flood put through or over the ring.
	if [ "$tag" = cost ] || [ "$tag" = floorcost ]; then
		bpf_cost | awk -v r="$tag" -v n="$(awk -v a="$p0" -v b="$p1" -v c="$d0" -v d="$d1" \
			'BEGIN { print b - a + d - c }')" -v m=$((p1 - p0)) '{ printf "%s %s %s %s %.0f %.0f %.0f\n",
			r, $1, $2, $3, $3 ? $2 / $3 : 0, n ? $2 / n : 0, m ? $2 / m : 0 }' >>"$TMP/cost"
	fi
	printf '  %-5s %-5s ring %8s pps, overflow %8s pps, sent %8s pps\n' "$round" "$tag" "$pps" \
		"$dps" "$(kv pps "$tx")"
	: "$s0" "$s1"
}

# tool_start [noop]: the tool attached (with its programs emptied: the floor).
tool_start() {
	: >"$TMP/tool.json"
	NB_TEST_NOOP_PROGRAMS=$([ "${1:-}" = noop ] && echo 1 || echo 0) "$AGENT" tun_ring_monitor --netns nbhvB --interface vnet0 --interval 60 --duration 600 \
		--json >"$TMP/tool.json" 2>"$TMP/tool.err" &
	TOOL_PID=$!
	on_exit "kill $TOOL_PID 2>/dev/null"
	wait_for 10 grep -q '"type":"start"' "$TMP/tool.json" || fail "tun_ring_monitor did not attach: $(cat "$TMP/tool.err")"
	# Attached: what the attach stirred up settles first.
	sleep "${NB_BENCH_SETTLE:-0.2}"
}

tool_stop() {
	local rc
	kill -INT "$TOOL_PID"
	wait "$TOOL_PID"
	rc=$?
	TOOL_PID=
	[ "$rc" = 0 ] || fail "tun_ring_monitor exited $rc: $(cat "$TMP/tool.err")"
}

# count: the flooded tap's "TX packets, TX dropped" (hvB), and the packets the sender's eth0 sent.
count() {
	[ -d "/proc/$SEND_PID" ] || fail "the flood's sender is gone: $(cat "$TMP/load.err")"
	netdev_count "$SEND_PID" eth0
	local sent=${COUNT[1]}
	netdev_count "$HV_PID" $DEV
	COUNT=("${COUNT[1]}" "${COUNT[2]}" "$sent")
}

bench_lab_up --vmb tap
if [ "$OTHER" = 1 ]; then
	# The second VM: its own tap on hvB's bridge, read at full speed by its own nb_vm.
	ip netns exec nbhvB "$REPO/build/tests/tools/nb_vm" --ifname vnet1 --ip $DST \
		--mac 02:00:00:00:00:03 --pidfile "$TMP/vm1.pid" >"$TMP/vm1.log" 2>&1 &
	VM1_PID=$!
	on_exit "kill $VM1_PID 2>/dev/null; wait $VM1_PID 2>/dev/null"
	wait_for 5 test -s "$TMP/vm1.pid" || fail "nb_vm on vnet1 did not start: $(cat "$TMP/vm1.log")"
	ip -n nbhvB link set vnet1 master br0 up || fail "vnet1 on br0"
	wait_for 10 "$LAB" exec vmA ping -c 1 -W 1 -q $DST >/dev/null ||
		fail "no ping to the second tap VM: $(cat "$TMP/vm1.log")"
fi
: >"$TMP/cost"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "tun: UDP ${SIZE}-byte flood into the tap VM on $DEV (the tool on vnet0), $ROUNDS rounds" \
	"of ${SLICE}s slices (baseline B, tool T, floor N)"
# A process in hvB: its /proc/PID/net/dev has the flooded tap's counters, read without a process.
ip netns exec nbhvB sleep 86400 &
HV_PID=$!
on_exit "kill $HV_PID 2>/dev/null"
flood_start nbvmA "$DST"
btn_slices "$ROUNDS" "$SLICE"
kill "$SEND_PID" "$HV_PID"
wait "$SEND_PID" "$HV_PID" 2>/dev/null
lab_intact || fail "the lab was rebuilt by another run during the measurement"
# The reader empties the ring before the next flood.
sleep 0.5
# The programs' cost per run and per packet (kernel.bpf_stats_enabled, which adds two clock
# reads to every BPF program run of the machine: so in extra rounds, outside the ratio).
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
on_exit "sysctl -qw kernel.bpf_stats_enabled=$STATS_WAS"
# The floor's programs too (empty): what a run of each hook costs by itself.
for c in floorcost cost floorcost cost; do
	tool_start "$([ $c = floorcost ] && echo noop)"
	# Counted from the flood's start: attach and the idle second are not in the numbers.
	sysctl -qw kernel.bpf_stats_enabled=1 || fail "cannot enable kernel.bpf_stats_enabled"
	flood "c" $c
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	tool_stop
done
sed -i '/ cost /d; / floorcost /d' "$TMP/rounds"
# The last tool run's own counts of the flood: every packet it saw enqueued was dequeued or
# dropped FULL_RING, as the tap counted.
SUMMARY=$(jq -c 'select(.type=="summary") | {enqueued, dequeued, drops_full_ring, lost_events}' "$TMP/tool.json")
BASE=$(round_median base)
TOOL=$(round_median tool)
NOOP=$(round_median noop)
RATIO=$(awk -v b="$BASE" -v t="$TOOL" 'BEGIN { printf "%.1f", 100 * t / b }')
PAIR_RATIO=$(round_ratio tool base)
PAIR_CI=$(round_ratio_ci tool base)
FLOOR_RATIO=$(round_ratio noop base)
OWN_RATIO=$(round_ratio tool noop)
OWN_CI=$(round_ratio_ci tool noop)
ST=$(floor_bound_status "$PAIR_RATIO" "$FLOOR_RATIO" $TARGET)
OWN_ST=$(target_status "$OWN_RATIO" ">=" $FLOOR_TARGET)
result "baseline median (through the ring)" "$BASE pps" "-" "-"
result "tun_ring_monitor attached median" "$TOOL pps" "-" "-"
result "floor (empty programs) median" "$NOOP pps" "-" "-"
result "tun_ring_monitor / baseline, median of rounds" "$PAIR_RATIO %" ">= $TARGET %" "$ST"
result "tun_ring_monitor / baseline, 95 % interval of that median" "$PAIR_CI %" "-" "-"
result "tun_ring_monitor / baseline, ratio of medians" "$RATIO %" "-" "-"
result "floor / baseline, median of rounds" "$FLOOR_RATIO %" "-" "-"
result "tun_ring_monitor / floor, median of rounds" "$OWN_RATIO %" ">= $FLOOR_TARGET %" "$OWN_ST"
result "tun_ring_monitor / floor, 95 % interval of that median" "$OWN_CI %" "-" "-"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
# Median per program over the rounds: ns per run, ns per flood packet.
COSTS=$(awk '{ print $2 }' "$TMP/cost" | sort -u | while read -r prog; do
	for c in cost floorcost; do
		run=$(awk -v p="$prog" -v c=$c '$1 == c && $2 == p { print $5 }' "$TMP/cost" | median)
		pkt=$(awk -v p="$prog" -v c=$c '$1 == c && $2 == p { print $6 }' "$TMP/cost" | median)
		printf '%.0f %.0f ' "$run" "$pkt"
	done | sed "s/^/$prog /"
	echo
done)
while read -r prog run pkt frun fpkt; do
	[ -n "$prog" ] && result "$prog ns per run / per flood packet (floor)" \
		"$run / $pkt ns ($frun / $fpkt ns)" "-" "-"
done <<<"$COSTS"
# What the throughput would be if the reader (the bottleneck) lost only the dequeue program's
# run time per packet it reads: 1 / (1 + deq ns per dequeued packet * baseline pps). The
# statistics' own clock reads are in that time, so this errs on the side of cost.
DEQ_NS=$(awk '$1 == "cost" && $2 == "nb_tun_deq" { print $7 }' "$TMP/cost" | median)
EST=$(awk -v d="$DEQ_NS" -v b="$BASE" 'BEGIN { printf "%.1f", 100 / (1 + d * b / 1e9) }')
result "tun_ring_monitor / baseline, from the reader's BPF run time" "$EST %" "-" "-"
echo "load average: $LOAD0 at the start, $LOAD1 at the end"

{
	if [ "$OTHER" = 1 ]; then
		echo "## tun_ring_monitor's cost to another VM's tap (issue 13)"
		echo
		echo "The flood below goes to a second tap VM on the same hypervisor (nb_vm on vnet1, on hvB's"
		echo "bridge); the tool watches the idle vnet0. Every consume_skb of the machine runs its dequeue"
		echo "program, so the other VM's reader does: it returns at the readers' range and task compares."
		echo "Throughput is vnet1's TX packets per second."
		echo
	else
		echo "## tun_ring_monitor on a tap flood (issue 13)"
		echo
	fi
	echo "A UDP flood of ${SIZE}-byte datagrams from vmA to the tap VM (\`tests/lab up --vmb tap\`;"
	echo "nb_vm reads every frame and ignores it), one flood measured in slices of ${SLICE} s: $ROUNDS rounds"
	echo "of three slices, each round in one of the orders of a Williams design over the three conditions"
	echo "($(IFS=,; echo "${ORDERS[*]}" | sed 's/,/, /g')): B baseline, T tun_ring_monitor attached to vnet0 in hvB, N the floor (the"
	echo "tool's three programs replaced by empty ones on the same hooks, \`NB_TEST_NOOP_PROGRAMS=1\`:"
	echo "what the hooks cost by themselves). Throughput is $DEV's TX packets per second: what went into the ring and"
	echo "on to the reader (the rest overflows, FULL_RING). The sender, and with it the whole path"
	echo "to the tap (the enqueue program included), is pinned to CPU 0; the target is judged on the"
	echo "median of the rounds' own ratios, against the floor (within 2 %) as the path tracers are:"
	echo "the hooks' own cost is not the tool's to remove."
	echo
	echo "| round | condition | through the ring (pps) | overflow (pps) | sent (pps) |"
	echo "|---|---|---|---|---|"
	awk '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$TMP/rounds"
	echo
	echo "| metric | value | target | status |"
	echo "|---|---|---|---|"
	echo "| tun_ring_monitor / baseline (median of round ratios) | $PAIR_RATIO % | >= $TARGET % | $ST |"
	echo "| tun_ring_monitor / baseline, 95 % interval of that median | $PAIR_CI % | - | - |"
	echo "| tun_ring_monitor / baseline (ratio of medians) | $RATIO % | - | - |"
	echo "| floor / baseline (median of round ratios) | $FLOOR_RATIO % | - | - |"
	echo "| tun_ring_monitor / floor (median of round ratios) | $OWN_RATIO % | >= $FLOOR_TARGET % | $OWN_ST |"
	echo "| tun_ring_monitor / floor, 95 % interval of that median | $OWN_CI % | - | - |"
	echo "| tun_ring_monitor / baseline, from the reader's BPF run time (1 / (1 + $DEQ_NS ns per dequeued packet x baseline pps)) | $EST % | - | - |"
	echo
	echo "BPF cost per program (kernel.bpf_stats_enabled during four more floods, two with the tool"
	echo "and two with the floor's programs, not in the ratio since the statistics add two clock"
	echo "reads to every run; medians; a run is any call of the hook on the machine, a flood packet"
	echo "one that went through or over the ring; the floor's program is empty, so its time"
	echo "is what a run of the hook costs by itself, statistics included):"
	echo
	echo "| program | ns per run | ns per flood packet | floor: ns per run | floor: ns per flood packet |"
	echo "|---|---|---|---|---|"
	awk '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' <<<"$COSTS"
	echo
	echo "Load average (1, 5, 15 min): $LOAD0 at the start, $LOAD1 at the end."
	echo
	echo "The last attached run's own counts: \`$SUMMARY\`."
} >"$BENCH_OUT/$BENCH_NAME.md"
exit 0
