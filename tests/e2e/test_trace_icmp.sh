#!/bin/bash
# netblame trace icmp across the lab's two hypervisors: two agents in the root namespace
# tracing nbhvA and nbhvB with --netns, the coordinator joining their events.
# Every case states its fault and asserts the exact status of the exact seq, the verdict and
# the exit code. Then: a +5 s clock offset on agent B, agent B killed mid-trace, the
# coordinator killed mid-trace (agents detach), and CURVE keys.
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
TMO=500
OUT=$(mktemp -d /tmp/nb-trace.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"

# trace NAME COUNT [coordinator flags...]: starts the trace, waits for its "Tracing" line.
trace() {
	local name=$1 count=$2
	shift 2
	trace_bg "$name" icmp --src-ip $VMA --dst-ip $VMB \
		--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0${SKA:-}" \
		--node "name=hvB,endpoint=$EP_hvB,rx-iface=${BRX:-ens4f0},tx-iface=vnet0${SKB:-}" \
		--count "$count" --timeout-ms $TMO --json "$OUT/$name.json" "${@:---insecure}"
}

# finish NAME: waits for the coordinator; sets RC.
finish() {
	trace_end "$1"
	cat "$OUT/$1.out"
}

status() { jq -r ".packets[] | select(.key.seq==$2) | .status" "$OUT/$1.json"; }
verdict() { jq -r '.verdict' "$OUT/$1.json"; }

# one NAME EXPECTED-STATUS-OF-SEQ-2 VERDICT EXIT [coordinator flags]: 3 pings, the fault (already set) hits seq 2.
one() {
	local name=$1 st=$2 v=$3 code=$4
	shift 4
	trace "$name" 3 "$@"
	tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || true
	finish "$name"
	tests/lab clear
	assert_eq COMPLETE "$(status "$name" 1)" "$name seq 1"
	assert_eq "$st" "$(status "$name" 2)" "$name seq 2"
	assert_eq COMPLETE "$(status "$name" 3)" "$name seq 3"
	assert_eq "$v" "$(verdict "$name")" "$name verdict"
	assert_eq "$code" "$RC" "$name exit code"
}

lab_up --vmb tap
start_agent hvA --netns nbhvA --insecure
start_agent hvB --netns nbhvB --insecure

# Healthy.
trace healthy 3
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null
finish healthy
for s in 1 2 3; do assert_eq COMPLETE "$(status healthy $s)" "healthy seq $s"; done
assert_eq HEALTHY "$(verdict healthy)" "healthy verdict"
assert_eq 0 "$RC" "healthy exit code"
assert_eq 3 "$(jq -r '.latency.network_round_trip.count' "$OUT/healthy.json")" "rtt samples"
assert_eq "8 8 8" "$(jq -r '[.packets[].stages | length] | map(tostring) | join(" ")' "$OUT/healthy.json")" \
	"stages seen per complete packet (both agents' events joined)"
grep -q '^Verdict: HEALTHY' "$OUT/healthy.out" || fail "text report has no verdict line"

# One status per case, the fault on seq 2.
tests/lab drop --at hvA --dir req --seq 2
one a_req A_INTERNAL_DROP_REQ NODE_A 11
tests/lab drop --at fab --dir req --seq 2
one n_req NETWORK_DROP_REQ NETWORK 10
tests/lab drop --at hvB --dir req --seq 2
one b_req B_INTERNAL_DROP_REQ NODE_B 12
# hvB traced on an uplink the packets do not cross (an unused veth): B0 and B3 unseen on the delivered seq 1
# and 3, so the request lost in the fabric cannot be told from one lost inside hvB.
ip -n nbhvB link add nbdum0 type veth peer name nbdum1 && ip -n nbhvB link set nbdum0 up ||
	fail "cannot add an unused interface to nbhvB"
on_exit "ip -n nbhvB link del nbdum0 2>/dev/null"
tests/lab drop --at fab --dir req --seq 2
BRX=nbdum0 one blind NETWORK_DROP_REQ INCONCLUSIVE 15
assert_eq '{"node":"hvB","unseen":2,"of_delivered":2,"drops_resting":1,"suspect":true}' \
	"$(jq -c '.unseen_stages.B0' "$OUT/blind.json")" "blind: B0 unseen"
assert_eq 'NETWORK: 1 (request 1); B0 (hvB) missed 2 of 2 delivered packets: the 1 drops placed before it may be that blind spot' \
	"$(jq -r '.verdict_detail' "$OUT/blind.json")" "blind: detail"
assert_eq '{}' "$(jq -c '.unseen_stages' "$OUT/b_req.json")" "b_req: no stage unseen"
# hvB's drop event for that very packet: nft in hvB's bridge as it was forwarded to vnet0.
drop_of() { jq -c ".packets[] | select(.key.seq==$2) | .drop${3:-}" "$OUT/$1.json"; }
assert_eq '{"node":"B","seen":true,"reason":"NETFILTER_DROP","interface":"vnet0","location":"nft_do_chain"}' \
	"$(drop_of b_req 2 ' | {node, seen, reason, interface, location}')" "b_req seq 2 drop"
assert_eq true "$(drop_of b_req 2 '.stack | any(startswith("__br_forward+0x"))')" "b_req seq 2 drop stack"
assert_eq null "$(drop_of b_req 1)" "b_req seq 1 (complete) has no drop"
grep -Eq '^    drop on B \(hvB\): NETFILTER_DROP at nft_do_chain\+0x[0-9a-f]+ on vnet0$' "$OUT/b_req.out" ||
	fail "b_req: no drop line under seq 2 in the text output"
grep -A2 'drop on B' "$OUT/b_req.out" | grep -q '^      Stack:$' || fail "b_req: no stack in the text output"
tests/lab drop --at hvB --dir rep --seq 2
one b_rep B_INTERNAL_DROP_REP NODE_B 12
tests/lab drop --at fab --dir rep --seq 2
one n_rep NETWORK_DROP_REP NETWORK 10
tests/lab drop --at hvA --dir rep --seq 2
one a_rep A_INTERNAL_DROP_REP NODE_A 11
assert_eq '{"node":"A","seen":true,"reason":"NETFILTER_DROP","interface":"vnet0"}' \
	"$(drop_of a_rep 2 ' | {node, seen, reason, interface}')" "a_rep seq 2 drop"

# Seen leaving, then dropped by its own node: a tc filter on hvA's uplink egress runs after
# the tcx stage program, so A1 is seen and the request dies in hvA after it. hvA's drop
# event for that packet puts the loss in A, not in the network.
tc_shot_echo hvA ens4f0 egress 2
one a_txq A_INTERNAL_DROP_REQ NODE_A 11
tc_clear hvA ens4f0
assert_eq '{"node":"A","seen":true,"reason":"TC_EGRESS","interface":"ens4f0"}' \
	"$(drop_of a_txq 2 ' | {node, seen, reason, interface}')" "a_txq seq 2 drop"
assert_eq A0,A1 "$(jq -r '.packets[] | select(.key.seq==2) | .stages | keys | join(",")' \
	"$OUT/a_txq.json")" "a_txq seq 2: stages seen"

# The destination ignores echo.
tests/lab ignore-echo on
trace dest 2
tests/lab ping -c 2 -i 0.2 -W 1 >/dev/null || true
finish dest
tests/lab ignore-echo off
assert_eq DEST_NO_REPLY "$(status dest 1)" "dest seq 1"
assert_eq DEST_NO_REPLY "$(status dest 2)" "dest seq 2"
assert_eq DEST "$(verdict dest)" "dest verdict"
assert_eq 13 "$RC" "dest exit code"

# The tap VM drains its ring too slowly (one frame per 100 ms, 16 slots) and a burst
# overflows it: those requests left B towards the VM (B1), then B's tun ring had no room.
# B freed them itself, so they are B's losses with the ring's drop, not the destination's.
# The queued ones are answered within 1.6 s: a 3 s timeout lets them complete.
tests/lab vm-ring-slow on
trace ring 100 --timeout-ms 3000 --insecure
tests/lab ping -c 100 -i 0.002 -W 1 >/dev/null 2>&1 || true
finish ring >/dev/null
tests/lab vm-ring-slow off
assert_eq '["B_INTERNAL_DROP_REQ","COMPLETE"]' \
	"$(jq -c '[.packets[].status] | unique' "$OUT/ring.json")" "ring: the statuses"
assert_eq '[{"node":"B","seen":true,"reason":"FULL_RING","location":"tun_net_xmit","interface":"vnet0"}]' \
	"$(jq -c '[.packets[] | select(.status=="B_INTERNAL_DROP_REQ") | .drop
		| {node, seen, reason, location, interface}] | unique' "$OUT/ring.json")" \
	"ring: every loss is a full tun ring on vnet0"
assert_eq 1 "$(jq '[.packets[] | select(.status=="B_INTERNAL_DROP_REQ")] | length > 50 | if . then 1 else 0 end' \
	"$OUT/ring.json")" "ring: most of the burst overflowed"
assert_eq NODE_B "$(verdict ring)" "ring verdict"
assert_eq 12 "$RC" "ring exit code"

# Mixed: network loses seq 3 (request) and 7 (reply), hvB loses the request of seq 5.
tests/lab drop --at fab --dir req --seq 3
tests/lab drop --at fab --dir rep --seq 7
tests/lab drop --at hvB --dir req --seq 5
trace mixed 8
tests/lab ping -c 8 -i 0.2 -W 1 >/dev/null || true
finish mixed
tests/lab clear
for s in 1 2 4 6 8; do assert_eq COMPLETE "$(status mixed $s)" "mixed seq $s"; done
assert_eq NETWORK_DROP_REQ "$(status mixed 3)" "mixed seq 3"
assert_eq B_INTERNAL_DROP_REQ "$(status mixed 5)" "mixed seq 5"
assert_eq NETWORK_DROP_REP "$(status mixed 7)" "mixed seq 7"
assert_eq NETWORK "$(verdict mixed)" "mixed verdict"
assert_eq "NETWORK: 2 (request 1, reply 1); NODE_B: 1 (request 1)" \
	"$(jq -r .verdict_detail "$OUT/mixed.json")" "mixed verdict detail"
assert_eq 10 "$RC" "mixed exit code"

# Agent B's clock 5 s ahead: statuses and the round trip stay right, the offset is measured.
kill "$PID_hvB"
wait "$PID_hvB" 2>/dev/null
start_agent hvB --netns nbhvB --insecure --test-clock-offset-ms 5000
tests/lab drop --at fab --dir rep --seq 2
one clock NETWORK_DROP_REP NETWORK 10
off=$(jq -r '.nodes[1].clock_offset_ns' "$OUT/clock.json")
[ "$off" -gt 4950000000 ] && [ "$off" -lt 5050000000 ] || fail "clock offset of B: $off"
echo "ok: clock offset of B relative to A = $off ns"
rtt=$(jq -r '.latency.network_round_trip.p50_ns' "$OUT/clock.json")
[ "$rtt" -lt 50000000 ] || fail "network round trip with +5 s offset: $rtt ns"
echo "ok: network round trip $rtt ns"
kill "$PID_hvB"
wait "$PID_hvB" 2>/dev/null
start_agent hvB --netns nbhvB --insecure

# Agent B killed during the trace, then hvB drops every request: the later packets are
# INCONCLUSIVE, nothing is blamed on B, and the trace still ends on time. The echoes sent
# before and after the kill are separate ping runs: one run across it could send an echo
# between the kill and the drop, which completes (A saw its reply).
trace killb 8
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || fail "killb: the first echoes failed"
wait_for 5 grep -q 'seq=3 ' "$OUT/killb.out" || fail "killb: seq 3 never completed"
kill -9 "$PID_hvB"
wait "$PID_hvB" 2>/dev/null
# From now on hvB really loses the requests: with B's agent gone that must not be blamed on B.
tests/lab drop --at hvB --dir req --percent 100
tests/lab ping -c 5 -i 0.2 -W 1 >/dev/null
finish killb
tests/lab clear
assert_eq '[["COMPLETE","COMPLETE","COMPLETE"],["INCONCLUSIVE","INCONCLUSIVE","INCONCLUSIVE","INCONCLUSIVE","INCONCLUSIVE"]]' \
	"$(ping_runs "$OUT/killb.json")" "killb: statuses before and after B was killed"
assert_eq 0 "$(jq -r '[.packets[] | select(.status | test("^B_"))] | length' "$OUT/killb.json")" \
	"packets blamed on node B"
assert_eq INCONCLUSIVE "$(verdict killb)" "killb verdict"
assert_eq 15 "$RC" "killb exit code"
start_agent hvB --netns nbhvB --insecure

# The coordinator's TCP connection to agent B is reset mid-trace: ZeroMQ reconnects with the
# coordinator's own routing id, and agent B hands the session over to the new connection.
trace reconn 10
tests/lab ping -c 10 -i 0.3 -W 1 >/dev/null &
PING=$!
on_exit "kill $PING 2>/dev/null"
wait_for 5 grep -q 'seq=3 ' "$OUT/reconn.out" || fail "reconn: seq 3 never completed"
ss -K dst 127.0.0.1 dport = ":${EP_hvB##*:}" | grep -q ESTAB || fail "reconn: no connection to reset"
wait "$PING"
finish reconn >/dev/null
# Without the fixed routing id the new connection was a stranger to agent B, whose old
# session then went silent: node B ended "gone".
assert_eq '[false,false]' "$(jq -c '[.nodes[].gone]' "$OUT/reconn.json")" "reconn: no node gone"
assert_eq '["COMPLETE"]' "$(jq -c '[.packets[].status] | unique' "$OUT/reconn.json")" \
	"reconn: every packet complete across the reset"
assert_eq 10 "$(jq '.packets | length' "$OUT/reconn.json")" "reconn: packets"
assert_eq 0 "$RC" "reconn exit code"
# Coordinator killed: both agents detach within 5 s (their lease ends).
trace killc 100
assert_eq 2 "$(bpftool prog show | grep -c 'name nb_tcx_rx')" "sessions attached (tcx) during the trace"
kill -9 "$TPID"
wait "$TPID" 2>/dev/null
wait_for 5 progs_are 0 || fail "nb_ programs 5 s after the coordinator died: $(bpftool prog show | grep 'name nb_')"
echo "ok: no nb_ program 5 s after the coordinator died"
kill -0 "$PID_hvA" || fail "agent A died"
kill -0 "$PID_hvB" || fail "agent B died"

# CURVE: keys for the coordinator and each agent; the agents accept only the coordinator key.
kill "$PID_hvA" "$PID_hvB"
wait "$PID_hvA" "$PID_hvB" 2>/dev/null
for k in coord hvA hvB other; do "$COORD" keygen --out "$OUT/k_$k" >/dev/null || fail "keygen $k"; done
cp "$OUT/k_coord/netblame.pub" "$OUT/authorized_keys"
start_agent hvA --netns nbhvA --secret-key "$OUT/k_hvA/netblame.key" --authorized-keys "$OUT/authorized_keys"
start_agent hvB --netns nbhvB --secret-key "$OUT/k_hvB/netblame.key" --authorized-keys "$OUT/authorized_keys"
SKA=",server-key=$OUT/k_hvA/netblame.pub"
SKB=",server-key=$OUT/k_hvB/netblame.pub"
tests/lab drop --at hvB --dir req --seq 2
one curve B_INTERNAL_DROP_REQ NODE_B 12 --key "$OUT/k_coord/netblame.key"
# An unauthorised coordinator key gets nowhere: runtime error, nothing attached.
"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0$SKA" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0$SKB" \
	--count 1 --key "$OUT/k_other/netblame.key" >/dev/null 2>"$OUT/refused.err"
assert_eq 1 "$?" "unauthorised coordinator exit code"
grep -qx "netblame: agent hvA at $EP_hvA did not answer within 5s (wrong key: the server-key is not the agent's, or the agent does not accept ours)" \
	"$OUT/refused.err" || fail "refusal message: $(cat "$OUT/refused.err")"
no_progs "after a refusal"

# Usage errors.
"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB --node "name=a,endpoint=x,rx-iface=a,tx-iface=b" \
	--insecure 2>"$OUT/usage.err"
assert_eq 2 "$?" "one --node is a usage error"
"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0" 2>"$OUT/usage.err"
assert_eq 2 "$?" "neither --insecure nor --key is a usage error"
echo "all trace icmp cases passed"
