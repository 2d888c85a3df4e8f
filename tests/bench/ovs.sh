#!/bin/bash
# ovs_upcall_latency_summary's cost on an established flow (issue 13; target: at least 97 % of
# the baseline, same run). Open vSwitch's userspace datapath between two VM namespaces
# (tests/e2e/ovs.sh): a UDP flood nbova -> nbovb:9000, one flow, so after its first packet
# everything takes the fast path. Measured at the receiver, in rounds that alternate baseline
# and "the tool attached to the two OVS ports" in ABBA order. The tool sees every packet twice
# (in, out) through the stage tracer's ring buffer and joins them in user space.
#   tests/bench/ovs.sh   (NB_BENCH_ROUNDS, NB_BENCH_SECONDS change the run)
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/ovs.sh
. "$BENCH_DIR/../e2e/ovs.sh"
need_root
bench_init ovs
bench_need "$AGENT" "$TRAFFIC"

ROUNDS=${NB_BENCH_ROUNDS:-4}
DUR=${NB_BENCH_SECONDS:-2}
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
	ip netns exec nbova "$TRAFFIC" udp-send --dst "$OVS_B" --port $PORT --size $SIZE \
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

tool_start() {
	"$AGENT" ovs_upcall_latency_summary --netns nbovs --interface p1,p2 --protocol udp \
		--interval 60 --duration 600 --json >"$TMP/tool.json" 2>"$TMP/tool.err" &
	TOOL_PID=$!
	on_exit "kill $TOOL_PID 2>/dev/null"
	wait_for 10 grep -q '"type":"start"' "$TMP/tool.json" || fail "the tool did not attach: $(cat "$TMP/tool.err")"
	sleep 1
}

tool_stop() {
	local rc
	kill -INT "$TOOL_PID"
	wait "$TOOL_PID"
	rc=$?
	TOOL_PID=
	[ "$rc" = 0 ] || fail "ovs_upcall_latency_summary exited $rc: $(cat "$TMP/tool.err")"
}

ovs_up "$TMP/ovs"
echo "ovs: UDP ${SIZE}-byte flood through OVS (userspace datapath), ${DUR}s per measurement, $ROUNDS ABBA rounds"
: >"$TMP/rounds"
flood 0 warm
: >"$TMP/rounds"
for ((p = 1; p <= ROUNDS; p++)); do
	if ((p % 2)); then
		flood "$p" base
		tool_start
		flood "$p" tool
		tool_stop
	else
		tool_start
		flood "$p" tool
		tool_stop
		flood "$p" base
	fi
done
SUMMARY=$(jq -c 'select(.type=="summary") | {upcalls, fast_path, fast_path_lost, lost_events, not_followed}' "$TMP/tool.json")
BASE=$(awk '$2 == "base" { print $3 }' "$TMP/rounds" | median | xargs printf '%.0f')
TOOL=$(awk '$2 == "tool" { print $3 }' "$TMP/rounds" | median | xargs printf '%.0f')
RATIO=$(awk -v b="$BASE" -v t="$TOOL" 'BEGIN { printf "%.1f", 100 * t / b }')
PAIR_RATIO=$(awk '{ v[$1, $2] = $3; r[$1] = 1 }
	END { for (p in r) printf "%.2f\n", 100 * v[p, "tool"] / v[p, "base"] }' "$TMP/rounds" |
	median | xargs printf '%.1f')
ST=$(target_status "$RATIO" ">=" $TARGET)
result "baseline median (received)" "$BASE pps" "-" "-"
result "tool attached median" "$TOOL pps" "-" "-"
result "tool / baseline" "$RATIO %" ">= $TARGET %" "$ST"
result "tool / baseline, median of rounds" "$PAIR_RATIO %" "-" "-"
{
	echo "## ovs_upcall_latency_summary on an established flow (issue 13)"
	echo
	echo "Open vSwitch's userspace datapath (Debian's ovs-vswitchd, \`datapath_type=netdev\`) in a"
	echo "namespace between two VM namespaces (\`tests/e2e/ovs.sh\`); a UDP flood of ${SIZE}-byte"
	echo "datagrams on one flow (the fast path after its first packet), ${DUR} s per measurement,"
	echo "$ROUNDS rounds in ABBA order: baseline, and the tool attached to ports p1 and p2. Received"
	echo "packets per second at the destination."
	echo
	echo "| round | condition | received (pps) | sent (pps) |"
	echo "|---|---|---|---|"
	awk '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$TMP/rounds"
	echo
	echo "| metric | value | target | status |"
	echo "|---|---|---|---|"
	echo "| tool / baseline (ratio of medians) | $RATIO % | >= $TARGET % | $ST |"
	echo "| tool / baseline (median of round ratios) | $PAIR_RATIO % | - | - |"
	echo
	echo "The last attached run's own counts: \`$SUMMARY\`."
} >"$BENCH_OUT/ovs.md"
exit 0
