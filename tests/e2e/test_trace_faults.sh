#!/bin/bash
# netblame trace icmp when its agents fail under it. Two agents in the root namespace trace the
# lab's nbhvA and nbhvB with a 60 s lease, so a session the coordinator left behind would still
# be attached when the test looks. Each case states its fault and asserts the exact statuses,
# the verdict, the exit code, and that no nb_ program is left:
#   restart   agent B killed (-9) mid-trace and restarted on its port: B is re-attached; the
#             echoes lost while it was away are INCONCLUSIVE (not B's drops), those before and
#             after COMPLETE with all 8 stages; INCONCLUSIVE, 15
#   bgone     agent B stopped for good after a loss in the fabric: a full report, the proven
#             fault kept: NETWORK, 10
#   bothgone  both agents stopped mid-trace after healthy echoes: never HEALTHY: INCONCLUSIVE, 15
#   refused   agent B (--max-sessions 1) already busy: the coordinator exits 3 with the reason
#             and has STOPped the session it opened on agent A
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
OUT=$(mktemp -d /tmp/nb-faults.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"
AFLAGS=(--insecure --lease-ms 60000)

# trace NAME [coordinator flags...]: a trace in the background; waits for its "Tracing" line.
trace() {
	local name=$1
	shift
	lab_nodes
	trace_bg "$name" icmp --src-ip $VMA --dst-ip $VMB "${LAB_NODES[@]}" \
		--timeout-ms 500 --insecure --json "$OUT/$name.json" "$@"
}

# finish NAME: waits for the coordinator, sets RC, shows what it wrote.
finish() {
	trace_end "$1"
	cat "$OUT/$1.out" "$OUT/$1.err"
}

# judged NAME SEQ: the coordinator printed the final status of seq SEQ (of any ping run).
judged() { grep -q " seq=$2 " "$OUT/$1.out"; }
runs() { ping_runs "$OUT/$1.json"; }
jqr() { jq -r "$2" "$OUT/$1.json"; }

lab_up --vmb tap
start_agent hvA --netns nbhvA "${AFLAGS[@]}"
start_agent hvB --netns nbhvB "${AFLAGS[@]}"

# restart: three echoes, then agent B dies and hvB drops the next three requests, then agent B
# is back on the same port and three more echoes go through.
trace restart --count 9
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || fail "restart: the first echoes failed"
wait_for 5 judged restart 3 || fail "restart: seq 3 never judged"
kill -9 "$PID_hvB"
wait "$PID_hvB" 2>/dev/null
tests/lab drop --at hvB --dir req --percent 100
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null
tests/lab clear
AGENT_LISTEN=$EP_hvB start_agent hvB --netns nbhvB "${AFLAGS[@]}"
wait_for 15 grep -q 'node B (hvB) is back' "$OUT/restart.err" ||
	fail "restart: B not re-attached: $(cat "$OUT/restart.err")"
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || fail "restart: the last echoes failed"
finish restart
assert_eq '[["COMPLETE","COMPLETE","COMPLETE"],["INCONCLUSIVE","INCONCLUSIVE","INCONCLUSIVE"],["COMPLETE","COMPLETE","COMPLETE"]]' \
	"$(runs restart)" "restart: statuses before, while and after B was away"
assert_eq '[8,8,8]' "$(jq -c '[.packets | group_by(.key.id) | sort_by(.[0].stages.A0)[2][].stages | length]' \
	"$OUT/restart.json")" "restart: stages of the echoes after B came back (its new session joined)"
assert_eq '["node B (hvB) was away while B0 was due"]' \
	"$(jq -c '[.packets[] | select(.status=="INCONCLUSIVE") | .detail] | unique' "$OUT/restart.json")" \
	"restart: why they are INCONCLUSIVE"
assert_eq '1 2 false' "$(jqr restart '[.nodes[0].sessions, .nodes[1].sessions, .nodes[1].gone] | join(" ")')" \
	"restart: sessions on A and B, B gone at the end"
assert_eq '0 1 true 3 seq 1,seq 2,seq 3' \
	"$(jqr restart '[(.nodes[0].away | length), (.nodes[1].away | length), .nodes[1].away[0].back,
		.nodes[1].away[0].packets_inconclusive, (.nodes[1].away[0].packets | join(","))] | join(" ")')" \
	"restart: B's time away in the JSON report"
assert_eq 'INCONCLUSIVE true' "$(jqr restart '[.verdict, .node_away] | join(" ")')" "restart: verdict"
assert_eq 15 "$RC" "restart: exit code"
grep -Eq '^Node B \(hvB\) away from [0-9:.]+ to [0-9:.]+ \([0-9.]+m?s\): (lost its session: no session [0-9]+|went silent); back in session [0-9]+; 3 packets INCONCLUSIVE: seq 1, seq 2, seq 3$' \
	"$OUT/restart.out" || fail "restart: the report does not say when B was away"
grep -Eq '^Lost events: A=0 B=0; B away [0-9.]+m?s, 3 packets INCONCLUSIVE$' "$OUT/restart.out" ||
	fail "restart: the Lost events line does not count B's time away"
grep -q '^Verdict: INCONCLUSIVE$' "$OUT/restart.out" || fail "restart: text verdict"
no_progs restart

# bgone: the fabric loses the request of seq 2, then agent B stops for good; two more echoes
# (seen complete at A) end the trace. The loss was proven before B left: NETWORK.
tests/lab drop --at fab --dir req --seq 2
trace bgone --count 5
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null
# seq 3 completes at once; seq 2's loss is proven only once its timeout passed, often after.
wait_for 5 judged bgone 3 || fail "bgone: seq 3 never judged"
wait_for 5 judged bgone 2 || fail "bgone: seq 2 never judged"
tests/lab clear
kill "$PID_hvB"
wait "$PID_hvB" 2>/dev/null
wait_for 5 grep -q 'node B (hvB) ended the session (agent shutting down)' "$OUT/bgone.err" ||
	fail "bgone: B's end not seen: $(cat "$OUT/bgone.err")"
tests/lab ping -c 2 -i 0.2 -W 1 >/dev/null || fail "bgone: the last echoes failed"
finish bgone
assert_eq '[["COMPLETE","NETWORK_DROP_REQ","COMPLETE"],["COMPLETE","COMPLETE"]]' "$(runs bgone)" \
	"bgone: statuses"
assert_eq 'false true false 1' \
	"$(jqr bgone '[.nodes[].gone, .nodes[1].away[0].back, (.nodes[1].away | length)] | join(" ")')" \
	"bgone: A stayed, B gone and never back"
assert_eq 'NETWORK true' "$(jqr bgone '[.verdict, .node_away] | join(" ")')" "bgone: verdict"
assert_eq 10 "$RC" "bgone: exit code"
grep -Eq '^Node B \(hvB\) away from [0-9:.]+ to [0-9:.]+ \([0-9.]+m?s\): ended the session \(agent shutting down\); not back by the end; 0 packets INCONCLUSIVE$' \
	"$OUT/bgone.out" || fail "bgone: the report does not say B was gone"
grep -Eq '^Detail: NETWORK: 1 \(request 1\); node B \(hvB\) away [0-9.]+m?s \(0 packets INCONCLUSIVE\)$' \
	"$OUT/bgone.out" || fail "bgone: the detail does not name B's time away"
no_progs bgone
start_agent hvB --netns nbhvB "${AFLAGS[@]}"

# bothgone: three healthy echoes, then both agents stop: no node can report, the trace ends
# with a full report that must not say HEALTHY.
trace bothgone --count 100
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || fail "bothgone: the echoes failed"
wait_for 5 judged bothgone 3 || fail "bothgone: seq 3 never judged"
kill "$PID_hvA" "$PID_hvB"
wait "$PID_hvA" "$PID_hvB" 2>/dev/null
finish bothgone
assert_eq '[["COMPLETE","COMPLETE","COMPLETE"]]' "$(runs bothgone)" "bothgone: statuses"
assert_eq 'true true' "$(jqr bothgone '[.nodes[].gone] | join(" ")')" "bothgone: both gone"
assert_eq 'INCONCLUSIVE true' "$(jqr bothgone '[.verdict, .node_away] | join(" ")')" \
	"bothgone: verdict"
assert_eq 15 "$RC" "bothgone: exit code"
assert_eq 2 "$(grep -Ec '^Node [AB] \(hv[AB]\) away from [0-9:.]+ to [0-9:.]+ \([0-9.]+m?s\): ended the session \(agent shutting down\); not back by the end; 0 packets INCONCLUSIVE$' \
	"$OUT/bothgone.out")" "bothgone: the report names both nodes away"
grep -q '^Verdict: INCONCLUSIVE$' "$OUT/bothgone.out" || fail "bothgone: text verdict"
no_progs bothgone

# refused: a first trace holds agent B's only session slot; a second one is refused by B after
# A started its session. It says why, exits 3 (a limit) and leaves A with the first trace's
# session only.
start_agent hvA --netns nbhvA "${AFLAGS[@]}"
start_agent hvB --netns nbhvB "${AFLAGS[@]}" --max-sessions 1
trace holder
HOLDER=$TPID
wait_for 5 progs_are 2 nb_tcx_rx || fail "holder: sessions not attached"
"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0" \
	--count 1 --insecure >"$OUT/refused.out" 2>"$OUT/refused.err"
assert_eq 3 "$?" "refused: exit code"
cat "$OUT/refused.err"
assert_eq "netblame: node hvB ($EP_hvB) refused: limit max-sessions 1: 1 sessions running already" \
	"$(grep -v 'warning: --insecure' "$OUT/refused.err")" "refused: the one line that says why"
# The STARTs go to both agents at once: when B's refusal comes first, the coordinator may stop
# before A has its START, and A never starts the session. When A started it, the coordinator
# stopped it: it exits right after sending STOP, and agent A logs it when it has read it.
RID=$(sed -n 's/.*START of session \([0-9]*\) refused.*/\1/p' "$OUT/agent_hvB.err")
[ -n "$RID" ] || fail "refused: agent B did not log the refused session: $(cat "$OUT/agent_hvB.err")"
if grep -q "session $RID started" "$OUT/agent_hvA.err"; then
	wait_for 15 grep -q "session $RID stopped (stopped by the coordinator: coordinator error)" \
		"$OUT/agent_hvA.err"
	assert_eq 1 "$(grep -c "session $RID stopped (stopped by the coordinator: coordinator error)" \
		"$OUT/agent_hvA.err")" "refused: agent A's session stopped by the refused coordinator"
else
	assert_eq 0 "$(grep -c "session $RID" "$OUT/agent_hvA.err")" \
		"refused: agent A never started the refused session"
fi
wait_for 3 progs_are 2 nb_tcx_rx || fail "refused: A still holds the refused trace's session"
echo "ok: refused: only the first trace's two sessions are attached"
TPID=$HOLDER
kill -INT "$TPID"
finish holder
assert_eq 0 "$RC" "holder: exit code (no echo, nothing lost)"
no_progs holder
echo "all trace fault cases passed"
