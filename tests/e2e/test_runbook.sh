#!/bin/bash
# netblame runbook: every shipped runbook (deploy/runbooks) run in the lab against the two
# agents, with a fault that makes it take a known branch. Each case asserts the exact steps
# that ran and were skipped, the final verdict and the exit code:
#   ping-loss      fabric drops every echo request -> trace NETWORK (10), no drop tool runs
# and a step stopped at its timeout, and runbooks refused before anything starts. The cases
# whose branch runs tools on the agents (netblame run) come with netblame run.
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

# Background traffic that lasts through a runbook: started before, stopped after.
bg() {
	"$@" >/dev/null 2>&1 &
	BG=$!
	on_exit "kill $BG 2>/dev/null"
}
bg_stop() { kill "$BG" 2>/dev/null && wait "$BG" 2>/dev/null; }

pinging() { bg ip netns exec nbvmA ping -q -i 0.1 -W 1 $VMB; }

# --- ping-loss, the network loses every request: the trace blames it, no drop tool runs.
pinging
tests/lab drop --at fab --dir req --percent 100 >/dev/null
rb p_net deploy/runbooks/ping-loss.yaml "${VARS[@]}" --var TIMEOUT_MS=500
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

bg_stop

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
