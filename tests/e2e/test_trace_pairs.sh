#!/bin/bash
# netblame trace with comma lists in --from and --to: several pairs in one coordinator.
# Six agents make up ICMP echoes (--test-synthetic-pps 200, --test-no-probes) for three pairs,
# each pair naming its own veth pair in a namespace of this test; a fourth pair's A agent has
# --max-sessions 1 and a session held by another client, so it refuses.
# Cases and what each expects:
#   pairs    3 pairs run 3 s: one line per pair in order, each with 0 lost and 0 batch gaps,
#            and every agent's events_sent (its "stopped" log line) equal to the events the
#            coordinator says it received from it; the totals line says 3 pairs, 6 agents,
#            failed 0; exit 0 or 15 (a pair's first packets may be INCONCLUSIVE: its second
#            agent was not attached yet)
#   refused  the same with the fourth pair: "pair 4 r0 -> r1: failed: refused by a limit",
#            the agent's line on stderr, the other pairs still run (failed 1), exit 3
#   usage    lists of different lengths: exit 2, one line
set -u
. "$(dirname "$0")/lib.sh"
need_root

PROBE=$REPO/build/tests/tools/nb_agent_probe
OUT=$(mktemp -d /tmp/nb-pairs.XXXXXX)
on_exit "rm -rf $OUT"
NS=nbpair$$
on_exit "ip netns del $NS 2>/dev/null"
ip netns add $NS || fail "ip netns add $NS"
for j in 0 1 2 3; do
	ip -n $NS link add p${j}a type veth peer name p${j}b || fail "veth $j"
	ip -n $NS link set p${j}a up
	ip -n $NS link set p${j}b up
done
SYN=(--insecure --netns $NS --test-synthetic-pps 200 --test-no-probes)
for k in 0 1 2 3 4 5; do
	start_agent "a$k" "${SYN[@]}"
done
start_agent r0 "${SYN[@]}" --max-sessions 1 --lease-ms 60000
start_agent r1 "${SYN[@]}"
"$PROBE" "$EP_r0" --insecure --source 127.0.0.2 start-and-vanish --src-ip 10.199.10.1 \
	--dst-ip 10.199.10.2 --rx-iface p3a --tx-iface p3b --netns $NS --session 5 \
	>"$OUT/hold.out" || fail "hold: $(cat "$OUT/hold.out")"
{
	echo "coordinator: {insecure: true}"
	echo "nodes:"
	for k in 0 1 2 3 4 5; do
		echo "  a$k: {endpoint: '$(eval echo "\$EP_a$k")', rx-iface: p$((k / 2))a, tx-iface: p$((k / 2))b}"
	done
	echo "  r0: {endpoint: '$EP_r0', rx-iface: p3a, tx-iface: p3b}"
	echo "  r1: {endpoint: '$EP_r1', rx-iface: p3a, tx-iface: p3b}"
} >"$OUT/inv.yaml"

# pairs NAME FROM TO: the trace into $OUT/NAME.out (.err); exit code in RC.
pairs() {
	"$COORD" trace icmp --src-ip 10.199.10.1 --dst-ip 10.199.10.2 --inventory "$OUT/inv.yaml" \
		--from "$2" --to "$3" --duration 3 >"$OUT/$1.out" 2>"$OUT/$1.err"
	RC=$?
}

# sent_by NAME: the events agent NAME says it sent in its last session.
sent_by() { grep ' stopped (' "$OUT/agent_$1.err" | tail -n 1 | sed -n 's/.*events_sent=\([0-9]*\).*/\1/p'; }

# stops NAME N: agent NAME has logged the end of N sessions.
stops() { [ "$(grep -c ' stopped (' "$OUT/agent_$1.err")" = "$2" ]; }

# check_pair N A B: pair N's line says 0 lost and 0 gaps, and each agent's events_sent in its
# $RUNS-th session equals the events received from it.
check_pair() {
	local line sa sb
	line=$(grep "^pair $1 $2 -> $3: " "$OUT/$CASE.out") || fail "$CASE: no line for pair $1"
	wait_for 5 stops "$2" "$RUNS" || fail "$CASE: $2 did not stop"
	wait_for 5 stops "$3" "$RUNS" || fail "$CASE: $3 did not stop"
	sa=$(sent_by "$2")
	sb=$(sent_by "$3")
	[ "${sa:-0}" -gt 0 ] || fail "$CASE: $2 sent nothing"
	[[ $line == *"events received $2=$sa $3=$sb, lost $2=0 $3=0, batch gaps 0" ]] ||
		fail "$CASE: pair $1: '$line', agents sent $2=$sa $3=$sb"
	echo "ok: $CASE: pair $1 $2 -> $3: received what the agents sent ($sa, $sb), none lost"
}

CASE=pairs RUNS=1
pairs pairs a0,a2,a4 a1,a3,a5
[ "$RC" = 0 ] || [ "$RC" = 15 ] || fail "pairs: exit $RC: $(cat "$OUT/pairs.err")"
assert_eq 4 "$(wc -l <"$OUT/pairs.out")" "pairs: lines (3 pairs, the totals)"
check_pair 1 a0 a1
check_pair 2 a2 a3
check_pair 3 a4 a5
tail -n 1 "$OUT/pairs.out" | grep -q '^3 pairs, 6 agents: [0-9]* packets, [0-9]* COMPLETE; events received [0-9]*, lost 0, batch gaps 0; failed 0, ' ||
	fail "pairs: totals: $(tail -n 1 "$OUT/pairs.out")"

CASE=refused RUNS=2
pairs refused a0,a2,a4,r0 a1,a3,a5,r1
assert_eq 3 "$RC" "refused: exit code"
grep -qx "pair 4 r0 -> r1: failed: refused by a limit" "$OUT/refused.out" ||
	fail "refused: $(cat "$OUT/refused.out")"
grep -qxF "netblame: node r0 ($EP_r0) refused: limit max-sessions 1: 1 sessions running already" \
	"$OUT/refused.err" || fail "refused: stderr: $(cat "$OUT/refused.err")"
check_pair 1 a0 a1
check_pair 3 a4 a5
tail -n 1 "$OUT/refused.out" | grep -q '^4 pairs, 8 agents: .*; failed 1, ' ||
	fail "refused: totals: $(tail -n 1 "$OUT/refused.out")"
echo "ok: refused: the refused pair failed alone, exit 3"

"$COORD" trace icmp --src-ip 10.199.10.1 --dst-ip 10.199.10.2 --inventory "$OUT/inv.yaml" \
	--from a0,a2 --to a1 --duration 3 >/dev/null 2>"$OUT/usage.err"
assert_eq 2 "$?" "usage: exit code"
assert_eq "netblame: --from and --to: two comma lists of as many node names (at most 512)" \
	"$(grep -v warning "$OUT/usage.err")" "usage: the line"
