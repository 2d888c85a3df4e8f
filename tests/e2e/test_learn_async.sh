#!/bin/bash
# A START whose interfaces must be learned from traffic (no rx/tx given, a bridge without an
# address, so no neighbour entry tells) does not hold the agent: its loop serves everyone else
# while the START listens, and answers the START when the learning ends. nb_agent_probe's
# learn-while prints the answers in the order they arrive: client a STARTs, client b (another
# address) sends HELLO and PING, and once b has both answers a PINGs its own session (or STOPs
# it). A single-threaded agent that sent b's answers and a's PONG before a's START answer
# served them while the START was pending; a's PONG and a's START answer share one
# connection, so their order is the agent's.
#   waits    10.199.30.1 is nobody's: "b: HELLO", "b: PONG", "a: PONG" (the learning session
#            is known: no "no session" error), then the START's ERROR ENXIO naming the 1000 ms
#   stop     the same START, STOPped while it learns: "b: HELLO", "b: PONG", "a: STOP" and
#            the agent's log says so; no session starts, the agent still answers
#   learned  10.199.30.1 is a "VM" behind v0 (tx given): STARTED with rx=v0, learned from its
#            answer to the ARP probe, as the agent's log says
set -u
. "$(dirname "$0")/lib.sh"
need_root

PROBE=$REPO/build/tests/tools/nb_agent_probe
OUT=$(mktemp -d /tmp/nb-learn.XXXXXX)
on_exit "rm -rf $OUT"
NS=nblearn$$
VM=nblearnvm$$
on_exit "ip netns del $NS 2>/dev/null; ip netns del $VM 2>/dev/null"
ip netns add $NS || fail "ip netns add $NS"
ip netns add $VM || fail "ip netns add $VM"
ip -n $NS link add br0 type bridge || fail "bridge"
ip -n $NS link add v0 type veth peer name v1 || fail "veth"
ip -n $NS link set v0 master br0 up
ip -n $NS link set br0 up
start_agent hv --insecure --netns $NS

FLOW=(--src-ip 10.199.30.1 --dst-ip 10.199.30.2)

"$PROBE" "$EP_hv" --insecure learn-while "${FLOW[@]}" >"$OUT/waits.out" 2>"$OUT/waits.err" ||
	fail "waits: probe: $(cat "$OUT/waits.err")"
assert_eq "b: HELLO|b: PONG|a: PONG|a: ERROR code=6 message=cannot find 10.199.30.1 on this host: no neighbour entry, and no answer or packet from it within 1000 ms" \
	"$(paste -sd'|' "$OUT/waits.out")" "waits: the answers in order"

"$PROBE" "$EP_hv" --insecure learn-while "${FLOW[@]}" --session 77 --stop >"$OUT/stop.out" \
	2>"$OUT/stop.err" || fail "stop: probe: $(cat "$OUT/stop.err")"
assert_eq "b: HELLO|b: PONG|a: STOP" "$(paste -sd'|' "$OUT/stop.out")" "stop: the answers in order"
wait_for 5 grep -q 'session 77 stopped (stopped by the coordinator: probe) for .* while learning its interfaces' \
	"$OUT/agent_hv.err" || fail "stop: agent log: $(tail -n 5 "$OUT/agent_hv.err")"
"$PROBE" "$EP_hv" --insecure hello >/dev/null || fail "stop: the agent no longer answers"
assert_eq 0 "$(grep -c 'session 77 started' "$OUT/agent_hv.err")" "stop: session 77 started"

# v1 in a namespace of its own with the address: it answers the agent's ARP probe on v0.
ip -n $NS link set v1 netns $VM || fail "v1 into $VM"
ip -n $VM addr add 10.199.30.1/24 dev v1
ip -n $VM link set v1 up
"$PROBE" "$EP_hv" --insecure learn-while "${FLOW[@]}" --tx-iface v0 --session 78 \
	>"$OUT/learned.out" 2>"$OUT/learned.err" || fail "learned: probe: $(cat "$OUT/learned.err")"
assert_eq "a: STARTED rx=v0 tx=v0" "$(grep '^a: STARTED' "$OUT/learned.out")" "learned: STARTED"
assert_eq 2 "$(grep -c '^b: ' "$OUT/learned.out")" "learned: b's answers"
grep -q 'session 78: rx v0([0-9]*): 10.199.30.1 answered ARP on v0 (no neighbour entry: learned from traffic)' \
	"$OUT/agent_hv.err" || fail "learned: agent log: $(grep 'session 78' "$OUT/agent_hv.err")"
echo "all learning cases passed"
