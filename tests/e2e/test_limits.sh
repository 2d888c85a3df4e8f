#!/bin/bash
# The agent's limits, each exceeded by a real coordinator (`netblame trace`) against a real
# agent: the coordinator prints the agent's one-line reason and exits 3, and the agent's
# /metrics counts it in netblame_agent_refused_total{limit="NAME"}. Agent X has the limit under
# test and is node A; agent Y has generous limits and is node B. Both make up ICMP echoes
# (--test-synthetic-pps) and trace a veth pair in a namespace of this test; sessions held by
# another "coordinator" are made with nb_agent_probe (start-and-vanish, a long lease).
# Cases and what each expects (exact line, exit 3, the counter 1):
#   per-session              the held session's series in /metrics, labelled session="11",
#                            coordinator="address 127.0.0.2", kind="icmp"
#   max-sessions             1 session held: "limit max-sessions 1: 1 sessions running already"
#   max-clients              a session of 127.0.0.2 held, the trace from 127.0.0.1:
#                            "limit max-clients 1: sessions of 1 other coordinators running"
#   max-sessions-per-client  a session of 127.0.0.1 held: "... 1: this client runs 1 sessions
#                            already"
#   max-starts-per-client    one START of 127.0.0.1 made: "... 1: 1 STARTs from this client in
#                            the last 10 s"
#   max-inflight-events      1000: "limit max-inflight-events 1000: this START asks for 262144
#                            (credit 256 x max_batch 1024)"
#   max-duration (asked)     2 s, trace --duration 5: "limit max-duration 2 s: this trace asks
#                            for 5 s"
#   max-duration (reached)   2 s, a trace without an end: ended with "node X (EP) ended the
#                            trace: limit max-duration 2 s reached: session ended", the report
#                            still printed, exit 3, Y's session stopped by the coordinator
#   config                   the limits from --config, as agent.conf.example names them
set -u
. "$(dirname "$0")/lib.sh"
need_root

PROBE=$REPO/build/tests/tools/nb_agent_probe
[ -x "$AGENT" ] && [ -x "$COORD" ] && [ -x "$PROBE" ] ||
	fail "build first: make all build/tests/tools/nb_agent_probe"
OUT=$(mktemp -d /tmp/nb-limits.XXXXXX)
on_exit "rm -rf $OUT"
NS=nblim$$
on_exit "ip netns del $NS 2>/dev/null"
ip netns add $NS || fail "ip netns add $NS"
ip -n $NS link add d0 type veth peer name d1 || fail "veth in $NS"
ip -n $NS link set d0 up
ip -n $NS link set d1 up
SYN=(--insecure --netns $NS --test-synthetic-pps 100)
FLOW=(--src-ip 10.199.8.1 --dst-ip 10.199.8.2 --rx-iface d0 --tx-iface d1 --netns $NS)

start_agent Y "${SYN[@]}" --max-sessions 64 --max-sessions-per-client 64 \
	--max-starts-per-client 64 --max-clients 64

# agent_x NAME FLAGS...: agent X (as NAME) with its metrics on a free port.
agent_x() {
	local name=$1
	shift
	start_agent "$name" "${SYN[@]}" --metrics-listen 127.0.0.1:0 --lease-ms 60000 "$@"
	wait_for 5 grep -q '^metrics on ' "$OUT/agent_$name.out" || fail "$name: no metrics line"
}

# trace_x NAME TRACE-FLAGS...: a trace with NAME as node A and Y as node B; exit code in RC.
trace_x() {
	local name=$1 ep
	shift
	ep=$(eval echo "\$EP_$name")
	"$COORD" trace icmp --src-ip 10.199.8.1 --dst-ip 10.199.8.2 \
		--node "name=$name,endpoint=$ep,rx-iface=d0,tx-iface=d1" \
		--node "name=Y,endpoint=$EP_Y,rx-iface=d0,tx-iface=d1" \
		--insecure "$@" >"$OUT/$name.trace.out" 2>"$OUT/$name.trace.err"
	RC=$?
}

# counter NAME LIMIT: netblame_agent_refused_total{limit="LIMIT"} of agent NAME.
counter() {
	curl -sf "$(sed -n 's/^metrics on //p' "$OUT/agent_$1.out")" |
		sed -n "s/^netblame_agent_refused_total{limit=\"$2\"} //p"
}

# refused CASE NAME LIMIT LINE: the trace exited 3 with exactly this line (after the
# --insecure warning), and agent NAME counted one refusal for LIMIT.
refused() {
	local what=$1 name=$2 limit=$3 ep
	ep=$(eval echo "\$EP_$name")
	assert_eq 3 "$RC" "$what: exit code"
	assert_eq "netblame: node $name ($ep) $4" \
		"$(grep -v 'warning: --insecure' "$OUT/$name.trace.err")" "$what: the line"
	assert_eq 1 "$(counter "$name" "$limit")" "$what: refused_total{limit=\"$limit\"}"
	echo "ok: $what: $4"
}

# hold NAME SOURCE SESSION: a session on agent NAME from SOURCE, left to its (long) lease.
hold() {
	local ep
	ep=$(eval echo "\$EP_$1")
	"$PROBE" "$ep" --insecure --source "$2" start-and-vanish "${FLOW[@]}" --session "$3" \
		>"$OUT/hold.out" || fail "hold: START refused: $(cat "$OUT/hold.out")"
}

agent_x XS --max-sessions 1
hold XS 127.0.0.2 11
# The held session in /metrics, labelled with its id, its coordinator and what it traces.
curl -sf "$(sed -n 's/^metrics on //p' "$OUT/agent_XS.out")" >"$OUT/XS.metrics" || fail "XS: no metrics"
L='session="11",coordinator="address 127.0.0.2",kind="icmp"'
for m in "netblame_agent_session_events_sent_total{$L}" \
	"netblame_agent_session_events_lost_total{$L,where=\"ring\"}" \
	"netblame_agent_session_cpu_seconds_total{$L}" "netblame_agent_session_memory_bytes{$L}"; do
	grep -qF "$m " "$OUT/XS.metrics" || fail "per-session: no $m in: $(grep session_ "$OUT/XS.metrics")"
done
# Its BPF ring buffer (1 MiB) at least.
awk -v m="netblame_agent_session_memory_bytes{$L}" '$1 == m { exit !($2 >= 1048576) }' \
	"$OUT/XS.metrics" || fail "per-session: memory under 1 MiB"
echo "ok: per-session series of session 11"
trace_x XS --count 1
refused max-sessions XS max-sessions "refused: limit max-sessions 1: 1 sessions running already"

agent_x XC --max-clients 1
hold XC 127.0.0.2 12
trace_x XC --count 1
refused max-clients XC max-clients \
	"refused: limit max-clients 1: sessions of 1 other coordinators running"

agent_x XP --max-sessions-per-client 1
hold XP 127.0.0.1 13
trace_x XP --count 1
refused max-sessions-per-client XP max-sessions-per-client \
	"refused: limit max-sessions-per-client 1: this client runs 1 sessions already"

agent_x XR --max-starts-per-client 1
hold XR 127.0.0.1 14
trace_x XR --count 1
refused max-starts-per-client XR max-starts-per-client \
	"refused: limit max-starts-per-client 1: 1 STARTs from this client in the last 10 s"

agent_x XI --max-inflight-events 1000
trace_x XI --count 1
refused max-inflight-events XI max-inflight-events \
	"refused: limit max-inflight-events 1000: this START asks for 262144 (credit 256 x max_batch 1024)"

agent_x XD --max-duration 2
trace_x XD --duration 5
refused "max-duration (asked)" XD max-duration "refused: limit max-duration 2 s: this trace asks for 5 s"

# No end of its own: the agent ends it at 2 s, and the trace reports what it joined.
trace_x XD
assert_eq 3 "$RC" "max-duration (reached): exit code"
assert_eq "netblame: node XD ($EP_XD) ended the trace: limit max-duration 2 s reached: session ended" \
	"$(grep -v 'warning: --insecure' "$OUT/XD.trace.err" | grep -v '^Tracing')" \
	"max-duration (reached): the line"
grep -q '^Verdict: ' "$OUT/XD.trace.out" || fail "max-duration (reached): no report"
assert_eq 2 "$(counter XD max-duration)" "max-duration (reached): refused_total, both cases"
wait_for 3 grep -q 'stopped (stopped by the coordinator: trace finished)' "$OUT/agent_Y.err" ||
	fail "max-duration (reached): Y's session was not stopped: $(tail -n 3 "$OUT/agent_Y.err")"
echo "ok: max-duration (reached): trace ended and reported, exit 3"

# ---- config: the names agent.conf.example uses ----
cat >"$OUT/agent.conf" <<EOF
max-clients = 3
max-inflight-events = 5000
max-duration = 600
EOF
start_agent XF --insecure --config "$OUT/agent.conf"
grep -q 'at most 4 sessions, 2 per client, 3 clients, 10 STARTs per client in 10 s, 5000 events in flight, 600 s a session' \
	"$OUT/agent_XF.err" || fail "config: limits not applied: $(grep listening "$OUT/agent_XF.err")"
for k in max-clients max-inflight-events max-duration; do
	grep -q "^#$k = " "$REPO/deploy/agent.conf.example" || fail "config: $k not in agent.conf.example"
done
echo "ok: config: the limits from --config"
