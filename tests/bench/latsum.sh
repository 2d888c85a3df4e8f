#!/bin/bash
# The latency summary tools (issue 12, section 4): vm_network_latency_summary's cost on
# matching traffic through the traced path (vmA -> vmB through hvA: vnet0 -> FORWARD ->
# ens4f0), a UDP flood and a TCP stream, each in rounds alternating baseline and tool attached
# (ABBA), target: at least 95 % of the baseline. Every packet is aggregated in the kernel (no
# event per packet). A third condition in every round, the floor, is the same tool filtered on
# an address the traffic does not have: its programs run on every packet and return, so what
# the hooks and the parse cost by themselves shows apart from the aggregation. Their start and
# peak RSS are measured with every other new tool's: tests/bench/tools.sh.
#   tests/bench/latsum.sh   (NB_BENCH_ROUNDS, NB_BENCH_SECONDS change the run)
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
bench_init latsum
bench_need "$AGENT" "$TRAFFIC"

ROUNDS=${NB_BENCH_ROUNDS:-6}
DUR=${NB_BENCH_SECONDS:-2}
TCP_BYTES=${NB_BENCH_TCP_BYTES:-2000000000}
PORT=9000
TARGET=95
IP_NONE=198.18.0.77 # the floor's filter: no packet of the benchmark has it
cd "$REPO" || exit 1
TOOL_PID=
lab_up --vmb veth

# udp ROUND TAG / tcp ROUND TAG: one measurement; appends "PROTO ROUND TAG VALUE" to $TMP/rounds.
udp() {
	local rpid rx
	rm -f "$TMP/recv.pid"
	ip netns exec nbvmB "$TRAFFIC" udp-recv --port $PORT --duration "$DUR" --wait 5 \
		--pidfile "$TMP/recv.pid" >"$TMP/recv.out" 2>"$TMP/recv.err" &
	rpid=$!
	on_exit "kill $rpid 2>/dev/null"
	wait_for 5 test -s "$TMP/recv.pid" || fail "udp-recv did not start: $(cat "$TMP/recv.err")"
	ip netns exec nbvmA "$TRAFFIC" udp-send --dst "$IP_B" --port $PORT --size 64 \
		--duration "$(awk -v d="$DUR" 'BEGIN { print d + 0.5 }')" >/dev/null \
		2>"$TMP/send.err" || fail "udp-send: $(cat "$TMP/send.err")"
	wait "$rpid" || fail "udp-recv: $(cat "$TMP/recv.err")"
	rx=$(cat "$TMP/recv.out")
	echo "udp $1 $2 $(kv pps "$rx")" >>"$TMP/rounds"
	printf '  udp %-3s %-5s %9s pps\n' "$1" "$2" "$(kv pps "$rx")"
}

tcp() {
	local rpid tx
	rm -f "$TMP/recv.pid"
	ip netns exec nbvmB "$TRAFFIC" tcp-recv --port $((PORT + 1)) --pidfile "$TMP/recv.pid" \
		>"$TMP/recv.out" 2>"$TMP/recv.err" &
	rpid=$!
	on_exit "kill $rpid 2>/dev/null"
	wait_for 5 test -s "$TMP/recv.pid" || fail "tcp-recv did not start: $(cat "$TMP/recv.err")"
	tx=$(ip netns exec nbvmA "$TRAFFIC" tcp-send --dst "$IP_B" --port $((PORT + 1)) \
		--bytes "$TCP_BYTES" 2>"$TMP/send.err") || fail "tcp-send: $(cat "$TMP/send.err")"
	wait "$rpid" || fail "tcp-recv: $(cat "$TMP/recv.err")"
	echo "tcp $1 $2 $(kv mbps "$tx")" >>"$TMP/rounds"
	printf '  tcp %-3s %-5s %9s Mbit/s\n' "$1" "$2" "$(kv mbps "$tx")"
}

# tool_start PROTO [SRC]: the tool attached, filtered on SRC (default IP_A) -> IP_B.
tool_start() {
	"$AGENT" vm_network_latency_summary --netns nbhvA --vm-interface vnet0 \
		--phy-interface ens4f0 --direction tx --protocol "$1" --src-ip "${2:-$IP_A}" \
		--dst-ip "$IP_B" --interval 60 --duration 600 --json >"$TMP/tool.json" \
		2>"$TMP/tool.err" &
	TOOL_PID=$!
	on_exit "kill $TOOL_PID 2>/dev/null"
	wait_for 10 grep -q '"type":"start"' "$TMP/tool.json" ||
		fail "the tool did not attach: $(cat "$TMP/tool.err")"
}

tool_stop() {
	local rc
	kill -INT "$TOOL_PID"
	wait "$TOOL_PID"
	rc=$?
	TOOL_PID=
	[ "$rc" = 0 ] || fail "vm_network_latency_summary exited $rc: $(cat "$TMP/tool.err")"
}

# measure PROTO ROUND TAG: one measurement in condition TAG (base, floor or tool).
measure() {
	case $3 in
	base) $1 "$2" base ;;
	floor)
		tool_start "$1" "$IP_NONE"
		$1 "$2" floor
		tool_stop
		;;
	tool)
		tool_start "$1"
		$1 "$2" tool
		tool_stop
		jq -c 'select(.type=="summary") | [.pairs[] | {from, to, count}]' "$TMP/tool.json" \
			>"$TMP/counts.$1"
		;;
	esac
}

echo "latsum: vm_network_latency_summary on vmA -> vmB through hvA, $ROUNDS ABBA rounds each"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$TMP/rounds"
udp 0 warm
: >"$TMP/rounds"
for proto in udp tcp; do
	for ((p = 1; p <= ROUNDS; p++)); do
		if ((p % 2)); then
			order="base floor tool"
		else
			order="tool floor base"
		fi
		for c in $order; do
			measure $proto "$p" "$c"
		done
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average: $LOAD1"

# ratio PROTO TAG: "percent base_median tag_median", TAG's median over the baseline's.
ratio() {
	local b t
	b=$(awk -v p="$1" '$1 == p && $3 == "base" { print $4 }' "$TMP/rounds" | median)
	t=$(awk -v p="$1" -v c="$2" '$1 == p && $3 == c { print $4 }' "$TMP/rounds" | median)
	awk -v b="$b" -v t="$t" 'BEGIN { printf "%.1f %.0f %.0f", 100 * t / b, b, t }'
}
# paired PROTO TAG: the median over rounds of each round's TAG / base, in percent: a paired
# figure, which the machine's drift between rounds moves less than a ratio of medians.
paired() {
	awk -v p="$1" -v c="$2" '$1 == p && $3 == "base" { b[$2] = $4 }
		$1 == p && $3 == c { t[$2] = $4 }
		END { for (r in t) print 100 * t[r] / b[r] }' "$TMP/rounds" | median |
		awk '{ printf "%.1f", $1 }'
}
# per_round PROTO TAG: each round's TAG / base, in percent, as "min-max".
per_round() {
	awk -v p="$1" -v c="$2" '$1 == p && $3 == "base" { b[$2] = $4 }
		$1 == p && $3 == c { t[$2] = $4 }
		END { lo = 1e9; hi = 0
		      for (r in t) { v = 100 * t[r] / b[r]; if (v < lo) lo = v; if (v > hi) hi = v }
		      printf "%.0f-%.0f %%", lo, hi }' "$TMP/rounds"
}
read -r UDP_R UDP_B UDP_T <<<"$(ratio udp tool)"
read -r TCP_R TCP_B TCP_T <<<"$(ratio tcp tool)"
read -r UDP_FR _ UDP_F <<<"$(ratio udp floor)"
read -r TCP_FR _ TCP_F <<<"$(ratio tcp floor)"
UDP_ST=$(target_status "$UDP_R" ">=" $TARGET)
TCP_ST=$(target_status "$TCP_R" ">=" $TARGET)
result "UDP flood: tool / baseline" "$UDP_R %" ">= $TARGET %" "$UDP_ST"
result "UDP flood: floor / baseline" "$UDP_FR %" "-" "-"
result "UDP flood: tool / baseline, paired" "$(paired udp tool) %" "-" "-"
result "UDP flood: floor / baseline, paired" "$(paired udp floor) %" "-" "-"
result "TCP stream: tool / baseline" "$TCP_R %" ">= $TARGET %" "$TCP_ST"
result "TCP stream: floor / baseline" "$TCP_FR %" "-" "-"
result "TCP stream: tool / baseline, paired" "$(paired tcp tool) %" "-" "-"

{
	echo "## Latency summary tools on matching traffic (issue 12)"
	echo
	echo "\`vm_network_latency_summary --netns nbhvA --vm-interface vnet0 --phy-interface ens4f0"
	echo "--direction tx --protocol udp|tcp --src-ip $IP_A --dst-ip $IP_B\`: every packet of the"
	echo "traffic matches and passes its three stages (tcx ingress on vnet0, the BPF netfilter"
	echo "FORWARD hook, tcx egress on ens4f0), aggregated in the kernel. Lab defaults (offloads on)."
	echo "UDP: a flood of 64-byte datagrams vmA -> vmB, ${DUR} s per measurement, received packets"
	echo "per second. TCP: one stream of $TCP_BYTES bytes, Mbit/s at the sender (to delivery)."
	echo "$ROUNDS rounds each, in ABBA order: baseline, floor (the tool filtered on $IP_NONE,"
	echo "which no packet has: its programs run on every packet and return), tool attached."
	echo "Load average $LOAD0 before, $LOAD1 after (2 CPUs, shared with other work)."
	echo
	echo "| proto | round | condition | rate |"
	echo "|---|---|---|---|"
	awk '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$TMP/rounds"
	echo
	echo "| metric | value | target | status |"
	echo "|---|---|---|---|"
	echo "| UDP flood: tool / baseline (medians $UDP_T / $UDP_B pps; rounds $(per_round udp tool)) | $UDP_R % | >= $TARGET % | $UDP_ST |"
	echo "| UDP flood: floor / baseline (median $UDP_F pps; rounds $(per_round udp floor)) | $UDP_FR % | - | - |"
	echo "| UDP flood: median of the rounds' tool / baseline (paired) | $(paired udp tool) % | - | - |"
	echo "| UDP flood: median of the rounds' floor / baseline (paired) | $(paired udp floor) % | - | - |"
	echo "| TCP stream: tool / baseline (medians $TCP_T / $TCP_B Mbit/s; rounds $(per_round tcp tool)) | $TCP_R % | >= $TARGET % | $TCP_ST |"
	echo "| TCP stream: floor / baseline (median $TCP_F Mbit/s; rounds $(per_round tcp floor)) | $TCP_FR % | - | - |"
	echo "| TCP stream: median of the rounds' tool / baseline (paired) | $(paired tcp tool) % | - | - |"
	echo "| TCP stream: median of the rounds' floor / baseline (paired) | $(paired tcp floor) % | - | - |"
	echo
	echo "The last attached runs' pair counts: UDP \`$(cat "$TMP/counts.udp")\`, TCP \`$(cat "$TMP/counts.tcp")\`."
} >"$BENCH_OUT/latsum.md"
exit 0
