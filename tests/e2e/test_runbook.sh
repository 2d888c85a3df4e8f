#!/bin/bash
# netblame runbook: every shipped runbook (deploy/runbooks) run in the lab against the two
# agents, with a fault that makes it take a known branch. Each case asserts the exact steps
# that ran and were skipped, the final verdict, the exit code, and what the tool steps found:
#   ping-loss      fabric drops every echo request -> trace NETWORK (10), no drop tool runs
#   ping-loss      hvB's bridge drops every request -> trace NODE_B (12), eth_drop and the drop
#                  stacks on hvB: NETFILTER_DROP with a stack through the bridge
#   vm-latency     hvB holds requests 40 ms in FORWARD -> the summary on both, details on hvB
#                  only, verdict NODE_B (12)
#   tcp-retrans    hvB drops every 25th data segment -> copies lost inside B, the drop tools on
#                  hvB: NETFILTER_DROP of the flow; NODE_B (12)
#   udp-fragments  hvB drops the second fragment of each datagram -> PARTIAL fragments, the
#                  drop tools on hvB see those fragments dropped; NODE_B (12)
# and a step stopped at its timeout, and runbooks refused before anything starts.
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
TRAFFIC=$REPO/build/tests/tools/nb_traffic
OUT=$(mktemp -d /tmp/nb-runbook.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"

lab_up --vmb veth
tests/lab offload off >/dev/null
start_agent hvA --netns nbhvA --insecure
start_agent hvB --netns nbhvB --insecure
cat >"$OUT/inv.yaml" <<EOF
coordinator: {insecure: true}
nodes:
  hvA: {endpoint: "$EP_hvA", rx-iface: vnet0, tx-iface: ens4f0}
  hvB: {endpoint: "$EP_hvB", rx-iface: ens4f0, tx-iface: vnet0}
EOF
VARS=(--var SRC=$VMA --var DST=$VMB --var NODE_A=hvA --var NODE_B=hvB)

# rb NAME FILE [flags...]: runs the runbook (its report in $OUT/NAME.json); sets RC.
rb() {
	local name=$1 file=$2
	shift 2
	"$COORD" runbook "$file" --inventory "$OUT/inv.yaml" --json "$OUT/$name.json" "$@" \
		>"$OUT/$name.out" 2>"$OUT/$name.err"
	RC=$?
	cat "$OUT/$name.out"
}
# steps NAME: "step:status" of every step, in order.
steps() { jq -r '[.steps[] | "\(.name):\(.status)"] | join(" ")' "$OUT/$1.json"; }
j() { jq -r "$2" "$OUT/$1.json"; }

# rb_start NAME FILE [flags...]: the runbook in the background, once its first step (a trace)
# has attached to both agents; rb_wait NAME: waits for it, sets RC. The TCP and UDP flows start
# in between: a trace counts a segment that hvA saw before hvB's session attached as lost in
# the network, so these flows must not begin before it (a limit of netblame trace tcp).
rb_start() {
	local name=$1 file=$2
	shift 2
	"$COORD" runbook "$file" --inventory "$OUT/inv.yaml" --json "$OUT/$name.json" "$@" \
		>"$OUT/$name.out" 2>"$OUT/$name.err" &
	RBPID=$!
	on_exit "kill $RBPID 2>/dev/null"
	wait_for 10 grep -q '^  \[trace\] Tracing' "$OUT/$name.err" ||
		fail "$name: the trace did not start: $(cat "$OUT/$name.err")"
}
rb_wait() {
	local i
	for ((i = 0; i < 600; i++)); do
		kill -0 "$RBPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$RBPID" 2>/dev/null && fail "$1: the runbook did not finish"
	wait "$RBPID"
	RC=$?
	cat "$OUT/$1.out"
}

# Background traffic that lasts through a runbook: started before, stopped after.
bg() {
	"$@" >/dev/null 2>&1 &
	BG=$!
	on_exit "kill $BG 2>/dev/null"
}
bg_stop() { kill "$BG" 2>/dev/null && wait "$BG" 2>/dev/null; }

pinging() { bg ip netns exec nbvmA ping -q -i 0.1 -W 1 $VMB; }

# --- ping-loss, the network loses every request: the trace blames it, no drop tool runs.
# The pings start once the trace has attached to both agents: an echo hvA saw before hvB's
# session attached is INCONCLUSIVE, not a loss, and would take one of the ten.
tests/lab drop --at fab --dir req --percent 100 >/dev/null
rb_start p_net deploy/runbooks/ping-loss.yaml "${VARS[@]}" --var TIMEOUT_MS=500
pinging
rb_wait p_net
tests/lab clear >/dev/null
assert_eq "trace:ok drops_a:skipped stacks_a:skipped drops_b:skipped stacks_b:skipped" \
	"$(steps p_net)" "p_net: steps"
assert_eq NETWORK "$(j p_net .verdict)" "p_net: verdict"
assert_eq 10 "$RC" "p_net: exit code"
assert_eq 10 "$(j p_net '.steps[0].result.counts.NETWORK_DROP_REQ')" "p_net: requests lost"
assert_eq "skipped: trace.verdict == NODE_B is false (trace.verdict = NETWORK)" \
	"$(j p_net '.steps[3].why')" "p_net: why drops_b was skipped"
grep -qx 'Verdict: NETWORK (from step trace); exit 10' "$OUT/p_net.out" || fail "p_net: verdict line"

# The same with the nodes given as --node specs instead of the inventory: the trace step gets
# them as its --node A and --node B.
tests/lab drop --at fab --dir req --percent 100 >/dev/null
"$COORD" runbook deploy/runbooks/ping-loss.yaml "${VARS[@]}" --var TIMEOUT_MS=500 --insecure \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0" \
	--json "$OUT/p_spec.json" >"$OUT/p_spec.out" 2>"$OUT/p_spec.err"
RC=$?
tests/lab clear >/dev/null
assert_eq 10 "$RC" "p_spec: exit code"
assert_eq NETWORK "$(j p_spec .verdict)" "p_spec: verdict"
assert_eq "--node name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	"$(j p_spec '.steps[0].command | index("--node") as $i | .[$i:$i+2] | join(" ")')" \
	"p_spec: the trace's first --node"

# --- ping-loss, hvB's bridge drops every request: the drop tools run on hvB.
tests/lab drop --at hvB --dir req --percent 100 >/dev/null
rb p_hvb deploy/runbooks/ping-loss.yaml "${VARS[@]}" --var TIMEOUT_MS=500 --var DROP_SECONDS=3
tests/lab clear >/dev/null
bg_stop
assert_eq "trace:ok drops_a:skipped stacks_a:skipped drops_b:ok stacks_b:ok" \
	"$(steps p_hvb)" "p_hvb: steps"
assert_eq NODE_B "$(j p_hvb .verdict)" "p_hvb: verdict"
assert_eq 12 "$RC" "p_hvb: exit code"
assert_eq '["hvB"]' "$(j p_hvb '.steps[3].result.nodes | keys | tojson')" "p_hvb: eth_drop ran on hvB only"
assert_eq '["NETFILTER_DROP"]' "$(j p_hvb '.steps[3].result.reasons | keys | tojson')" \
	"p_hvb: eth_drop: the reasons"
[ "$(j p_hvb '.steps[3].result.drops')" -ge 10 ] || fail "p_hvb: eth_drop saw too few drops"
assert_eq 0 "$(j p_hvb '.steps[3].result.nodes.hvB.exit_code')" "p_hvb: eth_drop's exit code on hvB"
assert_eq true "$(j p_hvb '.steps[3].result.nodes.hvB.stack | any(startswith("__br_forward+0x"))')" \
	"p_hvb: eth_drop's stack goes through the bridge"
assert_eq '["NETFILTER_DROP"]' "$(j p_hvb '.steps[4].result.reasons | keys | tojson')" \
	"p_hvb: the drop stacks summary: the reasons"
[ "$(j p_hvb '.steps[4].result.drops')" -ge 10 ] || fail "p_hvb: the summary counted too few drops"
grep -qx '        stack of NETFILTER_DROP at nft_do_chain on vnet0:' "$OUT/p_hvb.out" ||
	fail "p_hvb: no stack in the text report"

# --- vm-latency: hvB holds every request 40 ms in its FORWARD chain.
pinging
tests/lab delay --at hvB --dir req --ms 40 >/dev/null || fail "delay at hvB"
rb lat deploy/runbooks/vm-latency.yaml "${VARS[@]}" --var SECONDS=3
tests/lab delay --at hvB --dir req --off >/dev/null
bg_stop
assert_eq "lat_a:ok lat_b:ok details_a:skipped details_b:ok slow_a:skipped slow_b:ok fast:skipped" \
	"$(steps lat)" "lat: steps"
assert_eq NODE_B "$(j lat .verdict)" "lat: verdict"
assert_eq 12 "$RC" "lat: exit code"
assert_eq 65535 "$(j lat '.steps[1].result.max_us')" "lat: hvB's slowest bucket holds 40 ms"
[ "$(j lat '.steps[0].result.max_us')" -le 10000 ] || fail "lat: hvA's slowest bucket over 10 ms"
[ "$(j lat '.steps[3].result.packets')" -ge 10 ] || fail "lat: the details saw too few packets"
[ "$(j lat '.steps[3].result.max_total_ns')" -ge 40000000 ] || fail "lat: details: no packet held 40 ms"

# --- tcp-retrans: hvB drops every 25th data segment of the flow to port 9400.
PORT=9400
tests/lab drop --at hvB --dir req --match "tcp dport $PORT ip length > 100 numgen inc mod 25 == 0" >/dev/null
rb_start tcp deploy/runbooks/tcp-retrans.yaml "${VARS[@]}" --var PORT=$PORT --var SECONDS=4 \
	--var TIMEOUT_MS=500 --var DROP_SECONDS=3
bg bash -c "while :; do
	ip netns exec nbvmB $TRAFFIC tcp-recv --port $PORT --timeout 5 &
	sleep 0.2
	ip netns exec nbvmA $TRAFFIC tcp-send --dst $VMB --port $PORT --bytes 300000 --timeout 5
	wait; sleep 0.2
done"
rb_wait tcp
bg_stop
tests/lab clear >/dev/null
assert_eq "trace:ok drops_a:skipped stacks_a:skipped drops_b:ok stacks_b:ok" "$(steps tcp)" "tcp: steps"
assert_eq NODE_B "$(j tcp .verdict)" "tcp: verdict"
assert_eq 12 "$RC" "tcp: exit code"
[ "$(j tcp '.steps[0].result.lost_copies.b_internal')" -gt 0 ] || fail "tcp: no copies lost inside B"
assert_eq 0 "$(j tcp '.steps[0].result.lost_copies.network + .steps[0].result.lost_copies.a_internal')" \
	"tcp: copies lost elsewhere"
assert_eq '["NETFILTER_DROP"]' "$(j tcp '.steps[3].result.reasons | keys | tojson')" "tcp: eth_drop: the reasons"
assert_eq "[$PORT]" "$(j tcp "[.steps[3].result.lines[] | select(.type==\"drop\") | .dport] | unique | tojson")" \
	"tcp: eth_drop: the flow's drops only"

# --- udp-fragments: hvB drops the second fragment (offset 1480) of every datagram.
tests/lab drop --at hvB --dir req --match 'ip frag-off & 0x1fff == 185' >/dev/null
rb_start udp deploy/runbooks/udp-fragments.yaml "${VARS[@]}" --var SECONDS=4 --var TIMEOUT_MS=500 \
	--var DROP_SECONDS=3
bg bash -c "for i in \$(seq 100 100 9000); do
	ip netns exec nbvmA $TRAFFIC udp-ids --dst $VMB --port 9000 --ip-id \$i --count 2 --size 3000
	sleep 0.3
done"
rb_wait udp
bg_stop
tests/lab clear >/dev/null
assert_eq "trace:ok frags_a:skipped frags_b:ok stacks_b:ok" "$(steps udp)" "udp: steps"
assert_eq NODE_B "$(j udp .verdict)" "udp: verdict"
assert_eq 12 "$RC" "udp: exit code"
assert_eq '["B_INTERNAL_DROP_REQ"]' "$(j udp '[.steps[0].result.packets[].status] | unique | tojson')" \
	"udp: every datagram lost inside B"
assert_eq "$(j udp '.steps[0].result.packets | length')" "$(j udp '.steps[0].result.partial_datagrams')" \
	"udp: every datagram lost only some fragments"
assert_eq '["NETFILTER_DROP"]' "$(j udp '.steps[2].result.reasons | keys | tojson')" "udp: eth_drop: the reasons"
[ "$(j udp '.steps[2].result.drops')" -ge 3 ] || fail "udp: eth_drop saw too few fragments dropped"

# --- A step stopped at its timeout: no traffic, and the trace would wait for 100000 echoes;
# after 2 s it gets SIGINT, writes its report (nothing seen: HEALTHY, 0), and the runbook goes on
# with a condition on that report.
cat >"$OUT/slow.yaml" <<'EOF'
vars: {SRC: ~, DST: ~, NODE_A: ~, NODE_B: ~}
steps:
  - name: long
    trace: {proto: icmp, src-ip: "${SRC}", dst-ip: "${DST}", from: "${NODE_A}", to: "${NODE_B}",
            count: 100000, timeout-ms: 500}
    timeout: 2
  - {name: after, wait: 0, when: "long.exit_code == 0 and long.counts.COMPLETE == 0"}
EOF
rb slow "$OUT/slow.yaml" "${VARS[@]}"
assert_eq "long:timeout after:ok" "$(steps slow)" "slow: steps"
assert_eq true "$(j slow '.steps[0].timed_out')" "slow: the trace was stopped at its timeout"
assert_eq HEALTHY "$(j slow .verdict)" "slow: verdict of what it saw (nothing)"
assert_eq 0 "$RC" "slow: exit code"

# --- Refused before anything starts: one line with the file and line, exit 2, no report.
bad() { # NAME PATTERN FILE ARGS...
	local name=$1 pat=$2
	shift 2
	rb "$name" "$@"
	assert_eq 2 "$RC" "$name: exit code"
	assert_eq 1 "$(wc -l <"$OUT/$name.err")" "$name: one line on stderr"
	grep -q -- "$pat" "$OUT/$name.err" || fail "$name: expected '$pat' in: $(cat "$OUT/$name.err")"
	[ ! -e "$OUT/$name.json" ] || fail "$name: a report was written"
}
bad b_node "ping-loss.yaml:20: steps.trace.trace.to: no node 'hvX'" deploy/runbooks/ping-loss.yaml \
	--var SRC=$VMA --var DST=$VMB --var NODE_A=hvA --var NODE_B=hvX
bad b_var "ping-loss.yaml:12: vars.DST: required: give --var DST=VALUE" \
	deploy/runbooks/ping-loss.yaml --var SRC=$VMA --var NODE_A=hvA --var NODE_B=hvB
sed 's/tool: eth_drop, on: "${NODE_B}"/tool: eth_dorp, on: "${NODE_B}"/' \
	deploy/runbooks/ping-loss.yaml >"$OUT/typo.yaml"
bad b_tool "typo.yaml:34: steps.drops_b.run.tool: no tool 'eth_dorp'" "$OUT/typo.yaml" "${VARS[@]}"
echo PASS
