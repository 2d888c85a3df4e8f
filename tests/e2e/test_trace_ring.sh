#!/bin/bash
# netblame trace with the VM ports' tun ring monitor (START monitors, MONITOR), on the lab's
# tap VM B (vnet0 in hvB, read by nb_vm) and veth VM A (vnet0 in hvA is a veth):
#   fast reader, 20 echoes                  -> HEALTHY, no finding; B's ring watched: 20 traced
#                                              enqueues, 0 FULL, 0 FULL_RING; A: not attached,
#                                              "'vnet0' is not a tun/tap device (driver veth)"
#   slow reader (ring of 16), 100-ping burst -> NODE_B, every loss B_INTERNAL_DROP_REQ with
#                                              FULL_RING; the verdict line says "hvB: lost in
#                                              the tap ring of vnet0 (queue 0 full N times, N
#                                              FULL_RING drops)" with N = the tap's TX dropped
#                                              delta = the traced losses; ring 16, high-water 16
#   slow reader, UDP burst                  -> the same for 100 datagrams (nb_traffic)
#   slow reader, 5 echoes behind 10 datagrams -> HEALTHY, no loss (15 of 16 slots); a
#                                              ring_delay finding: the echoes' wait in the ring
#                                              is most of destination_response
#   --no-monitors                           -> no monitor asked, none reported
# in text, JSON and HTML.
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
OUT=$(mktemp -d /tmp/nb-ring.XXXXXX)
[ -n "${NB_KEEP:-}" ] || on_exit "rm -rf $OUT"
TRAFFIC=$REPO/build/tests/tools/nb_traffic
cd "$REPO"

# trace NAME PROTO [coordinator flags...]: starts the trace, waits for its "Tracing" line.
trace() {
	local name=$1 proto=$2
	shift 2
	lab_nodes
	trace_bg "$name" "$proto" --src-ip $VMA --dst-ip $VMB "${LAB_NODES[@]}" \
		--json "$OUT/$name.json" --html "$OUT/$name.html" --insecure "$@"
}

j() { jq -r "$2" "$OUT/$1.json"; }
tx_dropped() { ip -n nbhvB -s -j link show vnet0 | jq '.[0].stats64.tx.dropped'; }
# mon NAME ROLE FIELD: a field of that node's tun ring monitor.
mon() { j "$1" ".nodes[] | select(.role==\"$2\") | .monitors[0] | .$3"; }

lab_up --vmb tap
start_agent hvA --netns nbhvA --insecure
start_agent hvB --netns nbhvB --insecure

# --- A fast reader: the ring is watched, nothing to say.
trace fast icmp --count 20
tests/lab ping -c 20 -i 0.05 -W 1 >/dev/null || fail "fast: ping"
trace_end fast
assert_eq 0 "$RC" "fast: exit code"
assert_eq HEALTHY "$(j fast .verdict)" "fast: verdict"
assert_eq 0 "$(j fast '.findings | length')" "fast: findings: $(j fast '[.findings[].text]')"
assert_eq true "$(mon fast B attached)" "fast: B's monitor attached"
assert_eq vnet0 "$(mon fast B interface)" "fast: B's monitored port"
assert_eq 20 "$(mon fast B total.traced)" "fast: B's ring saw the 20 echo requests"
assert_eq 0 "$(mon fast B total.full_events)" "fast: FULL events"
assert_eq 0 "$(mon fast B total.drops_full_ring)" "fast: FULL_RING drops"
assert_eq 20 "$(j fast '.nodes[1].monitors[0].sojourn_us | map(.count) | add')" "fast: the echoes' waits"
qlen=$(ip -n nbhvB -o link show vnet0 | grep -o 'qlen [0-9]*' | cut -d' ' -f2)
assert_eq "$qlen" "$(mon fast B total.ring_size)" "fast: ring size = txqueuelen"
assert_eq false "$(mon fast A attached)" "fast: A's port is no tap"
assert_eq "'vnet0' is not a tun/tap device (driver veth): no tun ring to watch" \
	"$(mon fast A why)" "fast: why A's is not watched"
grep -q "^Monitor A (hvA) tun ring of vnet0: not attached: 'vnet0' is not a tun/tap device (driver veth): no tun ring to watch$" \
	"$OUT/fast.out" || fail "fast: text: A's monitor line: $(grep '^Monitor' "$OUT/fast.out")"
grep -Eq "^Monitor B \(hvB\) tun ring of vnet0: 1 queue, ring $qlen, high-water [0-9]+, full 0 times, 0 FULL_RING drops, 0 other; enqueued [0-9]+ \(traced 20\), dequeued [0-9]+; traced packets' wait p50 " \
	"$OUT/fast.out" || fail "fast: text: B's monitor line: $(grep '^Monitor' "$OUT/fast.out")"
grep -q '^Evidence:' "$OUT/fast.out" && fail "fast: text: an Evidence line: $(grep '^Evidence' "$OUT/fast.out")"
grep -q 'Monitors of the VM ports' "$OUT/fast.html" || fail "fast: html: no monitors section"

# --- A slow reader behind a 16-slot ring, a burst of echoes: the ring overflows. Every lost
# echo is B's (B1 seen, then FULL_RING), and the ring's counts are the tap's own.
tests/lab vm-ring-slow on
on_exit "tests/lab vm-ring-slow off >/dev/null 2>&1"
before=$(tx_dropped)
trace slow icmp --count 100 --timeout-ms 3000
tests/lab ping -c 100 -i 0.002 -W 1 >/dev/null 2>&1 || true
trace_end slow
after=$(tx_dropped)
dropped=$((after - before))
lost=$(j slow '[.packets[] | select(.status=="B_INTERNAL_DROP_REQ")] | length')
[ "$lost" -gt 0 ] || fail "slow: the burst lost nothing"
assert_eq 12 "$RC" "slow: exit code"
assert_eq NODE_B "$(j slow .verdict)" "slow: verdict"
assert_eq '["B_INTERNAL_DROP_REQ","COMPLETE"]' "$(j slow '[.packets[].status] | unique | tostring')" \
	"slow: statuses"
assert_eq "$lost" "$dropped" "slow: the tap's TX dropped delta = the traced losses"
assert_eq "$dropped" "$(mon slow B total.drops_full_ring)" "slow: FULL_RING drops = the tap's TX dropped delta"
assert_eq "$dropped" "$(mon slow B total.full_events)" "slow: FULL events = the tap's TX dropped delta"
assert_eq 16 "$(mon slow B total.ring_size)" "slow: ring size"
assert_eq 16 "$(mon slow B total.high_water)" "slow: high-water mark"
assert_eq 0 "$(mon slow B total.drops_other)" "slow: other drops"
want="hvB: lost in the tap ring of vnet0 (queue 0 full $dropped times, $dropped FULL_RING drops): the VM did not read fast enough"
assert_eq "ring_loss hvB B vnet0 $dropped $dropped $lost 16 16" \
	"$(j slow '.findings[] | select(.kind=="ring_loss") | "\(.kind) \(.node) \(.role) \(.interface) \(.full_events) \(.drops_full_ring) \(.traced_drops_full_ring) \(.ring_size) \(.high_water)"')" \
	"slow: the ring_loss finding"
assert_eq "$want" "$(j slow '.findings[] | select(.kind=="ring_loss") | .text')" "slow: the finding's words"
assert_eq "NODE_B: $lost (request $lost); $want" "$(j slow .verdict_detail)" "slow: the verdict line"
grep -qF "Detail: NODE_B: $lost (request $lost); $want" "$OUT/slow.out" || fail "slow: text: $(grep '^Detail' "$OUT/slow.out")"
grep -qF "Evidence: $want" "$OUT/slow.out" || fail "slow: text: no Evidence line: $(grep '^Evidence' "$OUT/slow.out")"
grep -qF "<li>$want</li>" "$OUT/slow.html" || fail "slow: html: the finding"

# --- The same with a UDP burst: 100 datagrams to port 9000.
before=$(tx_dropped)
trace udp udp --dst-port 9000 --duration 6 --timeout-ms 3000
tests/lab exec vmA "$TRAFFIC" udp-ids --dst $VMB --port 9000 --ip-id 3000 --count 100 --size 64 \
	>/dev/null || fail "udp: nb_traffic"
trace_end udp
after=$(tx_dropped)
dropped=$((after - before))
lost=$(j udp '[.packets[] | select(.status=="B_INTERNAL_DROP_REQ")] | length')
[ "$dropped" -gt 0 ] || fail "udp: the burst lost nothing"
assert_eq 12 "$RC" "udp: exit code"
assert_eq NODE_B "$(j udp .verdict)" "udp: verdict"
assert_eq "$lost" "$dropped" "udp: the tap's TX dropped delta = the traced losses"
assert_eq "$dropped" "$(mon udp B total.drops_full_ring)" "udp: FULL_RING drops = the tap's TX dropped delta"
assert_eq 100 "$(mon udp B total.traced)" "udp: the datagrams enqueued"
assert_eq "hvB: lost in the tap ring of vnet0 (queue 0 full $dropped times, $dropped FULL_RING drops): the VM did not read fast enough" \
	"$(j udp '.findings[] | select(.kind=="ring_loss") | .text')" "udp: the finding"

# --- A slow reader that keeps up: 10 datagrams of another flow fill 10 of the 16 slots, then
# 5 echoes wait behind them, about a second each, without a loss: that wait is most of
# destination_response. (The ring drains the burst before first. The monitor samples the
# traced packets' sojourn one at a time: the first echo is the sample, behind the backlog.)
sleep 2
trace wait icmp --count 5 --timeout-ms 4000
tests/lab exec vmA "$TRAFFIC" udp-ids --dst $VMB --port 9999 --ip-id 7000 --count 10 --size 64 \
	>/dev/null || fail "wait: nb_traffic"
tests/lab ping -c 5 -i 0.01 -W 4 >/dev/null || fail "wait: ping"
trace_end wait
tests/lab vm-ring-slow off
assert_eq 0 "$RC" "wait: exit code"
assert_eq HEALTHY "$(j wait .verdict)" "wait: verdict"
assert_eq 0 "$(mon wait B total.drops_full_ring)" "wait: FULL_RING drops"
assert_eq ring_delay "$(j wait '[.findings[].kind] | join(",")')" "wait: the findings: $(j wait '[.nodes[1].monitors, .latency.destination_response] | tostring')"
j wait '.findings[0].text' | grep -Eq '^hvB: the traced packets waited in the tap ring of vnet0 for the VM to read them \(p50 [0-9.]+(us|ms)-[0-9.]+(us|ms), p99 [0-9.]+(us|ms)-[0-9.]+(us|ms)\): most of destination_response \(p50 [0-9.]+(us|ms)\)$' ||
	fail "wait: the finding's words: $(j wait '.findings[0].text')"

# --- --no-monitors: nothing asked, nothing reported.
NOMON=1 trace none icmp --count 3 --no-monitors
tests/lab ping -c 3 -i 0.1 -W 1 >/dev/null || fail "none: ping"
trace_end none
assert_eq 0 "$RC" "none: exit code"
assert_eq "0 0 0" "$(j none '"\(.nodes[0].monitors | length) \(.nodes[1].monitors | length) \(.findings | length)"')" \
	"none: monitors and findings"
grep -q '^Monitor' "$OUT/none.out" && fail "none: text: a Monitor line"
echo "all trace ring monitor cases passed"
