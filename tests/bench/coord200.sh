#!/bin/bash
# One coordinator holding sessions with 200 agents (issue 15): N agents (NB_BENCH_COORD_AGENTS,
# default 200) serve on loopback with the synthetic event source (--test-synthetic-pps
# NB_BENCH_COORD_PPS, default 50 ICMP echoes a second, 4 stage events each) and attach no
# probe (--test-no-probes: on one kernel, 200 agents' programs would each run on all the
# others' loopback traffic, which a fleet of one agent per host never does); each pair of
# them names a veth pair of its own in a namespace of this benchmark. One
# `netblame trace icmp --from a0,a2,... --to a1,a3,...` pairs them up: N/2 pairs, each its own
# sessions and join, all in one process and one poll loop, for NB_BENCH_COORD_DURATION s
# (default 20). Measured: the coordinator's CPU (steady state, between 3 s after its
# "Tracing" line and 3 s before its end) and peak RSS, the events joined per second, and by
# count that nothing was lost: the events the agents say they sent (their "stopped" lines)
# equal the events the coordinator says it received, and no ring, queue or sequence loss.
#   tests/bench/coord200.sh
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
bench_init coord200
bench_need "$AGENT" "$COORD"
[ -x /usr/bin/time ] || fail "/usr/bin/time is missing (run: make deps)"

N=${NB_BENCH_COORD_AGENTS:-200}
PPS=${NB_BENCH_COORD_PPS:-50}
DUR=${NB_BENCH_COORD_DURATION:-20}
HZ=$(getconf CLK_TCK)
NS=nbc200$$
[ $((N % 2)) = 0 ] && [ "$DUR" -ge 8 ] || fail "need an even number of agents and at least 8 s"
cd "$REPO" || exit 1

# A veth pair per pair of agents: tcx takes at most 64 programs per hook of a device, and
# each session attaches its own (on separate hosts, as in a fleet, there is no such sharing).
on_exit "ip netns del $NS 2>/dev/null"
ip netns add $NS || fail "ip netns add $NS"
for ((j = 0; j < N / 2; j++)); do
	echo "link add p${j}a type veth peer name p${j}b"
	echo "link set p${j}a up"
	echo "link set p${j}b up"
done | ip -n $NS -batch - || fail "veth pairs in $NS"

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

echo "coord200: starting $N agents ($PPS synthetic echoes/s each)"
t0=$EPOCHREALTIME
for ((i = 0; i < N; i++)); do
	"$AGENT" serve --listen 'tcp://127.0.0.1:*' --name "a$i" --insecure --netns $NS \
		--test-synthetic-pps "$PPS" --test-no-probes >"$TMP/a$i.out" 2>"$TMP/a$i.err" &
	echo $! >>"$TMP/pids"
	on_exit "kill $! 2>/dev/null"
	if ((i % 20 == 19)); then
		for ((k = i - 19; k <= i; k++)); do
			wait_for 30 grep -q '^listening on ' "$TMP/a$k.out" ||
				fail "agent a$k did not start: $(cat "$TMP/a$k.err")"
		done
	fi
done
for ((k = 0; k < N; k++)); do
	wait_for 30 grep -q '^listening on ' "$TMP/a$k.out" || fail "agent a$k did not start"
done
echo "  started in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
{
	echo "coordinator: {insecure: true}"
	echo "nodes:"
	for ((k = 0; k < N; k++)); do
		echo "  a$k: {endpoint: '$(sed -n 's/^listening on //p' "$TMP/a$k.out" | head -n1)', rx-iface: p$((k / 2))a, tx-iface: p$((k / 2))b}"
	done
} >"$TMP/inv.yaml"
FROM=$(seq -s, -f 'a%g' 0 2 $((N - 2)))
TO=$(seq -s, -f 'a%g' 1 2 $((N - 1)))

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
ts=$EPOCHREALTIME
/usr/bin/time -f '%e %U %S %M' -o "$TMP/time" "$COORD" trace icmp --src-ip 10.199.9.1 \
	--dst-ip 10.199.9.2 --inventory "$TMP/inv.yaml" --from "$FROM" --to "$TO" \
	--duration "$DUR" >"$TMP/trace.out" 2>"$TMP/trace.err" &
tpid=$!
on_exit "kill $tpid 2>/dev/null"
[ -n "${NB_BENCH_KEEP:-}" ] && on_exit "mkdir -p '$NB_BENCH_KEEP' && cp '$TMP'/*.err '$TMP'/*.out '$NB_BENCH_KEEP/'"
wait_for 150 grep -qs '^Tracing' "$TMP/trace.err" ||
	fail "no Tracing line: $(tail -n 5 "$TMP/trace.err")"
tt=$EPOCHREALTIME
cpid=$(pgrep -P "$tpid" | head -n1)
sleep 3
c0=$(cpu "$cpid") w0=$EPOCHREALTIME
sleep $((DUR - 6))
c1=$(cpu "$cpid") w1=$EPOCHREALTIME
rss_now=$(awk '/^VmRSS/ { print $2 }' "/proc/$cpid/status" 2>/dev/null)
wait "$tpid"
rc=$?
te=$EPOCHREALTIME
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
read -r el cu cs maxrss <<<"$(tail -n 1 "$TMP/time")"
tail -n 1 "$TMP/trace.out"
[ "$rc" = 0 ] || [ "$rc" = 15 ] ||
	fail "the coordinator exited $rc: $(grep -v "^pair" "$TMP/trace.out" | tail -n 3) $(head -n 5 "$TMP/trace.err")"
total=$(tail -n 1 "$TMP/trace.out")
[[ $total == "$((N / 2)) pairs, $N agents: "* ]] || fail "no totals line: $total"
# The agents' own account, once each has logged the end of its session.
for ((k = 0; k < N; k++)); do
	wait_for 5 grep -q ' stopped (' "$TMP/a$k.err" || fail "agent a$k did not stop its session"
done
read -r sent aring aqueue <<<"$(cat "$TMP"/a*.err | awk '/ stopped \(/ {
	for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] += kv[2] } n++ }
	END { print v["events_sent"] + 0, v["lost_ring"] + 0, v["lost_queue"] + 0 }')"
sessions=$(cat "$TMP"/a*.err | grep -c ' stopped (stopped by the coordinator: trace finished)')
got=$(sed -n 's/.*events received \([0-9]*\),.*/\1/p' <<<"$total")
lost=$(sed -n 's/.* lost \([0-9]*\),.*/\1/p' <<<"$total")
gaps=$(sed -n 's/.*batch gaps \([0-9]*\);.*/\1/p' <<<"$total")
failed=$(sed -n 's/.*; failed \([0-9]*\).*/\1/p' <<<"$total")
packets=$(sed -n 's/.*agents: \([0-9]*\) packets.*/\1/p' <<<"$total")
complete=$(sed -n 's/.* packets, \([0-9]*\) COMPLETE.*/\1/p' <<<"$total")
verdicts=$(sed -n 's/.*; failed [0-9]*, //p' <<<"$total")
assert_eq "$N" "$sessions" "sessions ended by the coordinator"
assert_eq 0 "$failed" "pairs failed"
assert_eq "$sent" "$got" "events the agents sent = events the coordinator received"
assert_eq "0 0 0 0" "$lost $aring $aqueue $gaps" "lost (coordinator, agents' ring and queue, batch gaps)"

read -r cpu_pct us_ev evs <<<"$(awk -v c0="$c0" -v c1="$c1" -v w0="$w0" -v w1="$w1" -v hz="$HZ" \
	-v n="$N" -v p="$PPS" 'BEGIN {
		w = w1 - w0; c = (c1 - c0) / hz; e = n * p * 4
		printf "%.1f %.2f %d\n", 100 * c / w, 1e6 * c / (e * w), e }')"
span=$(awk -v a="$tt" -v b="$te" 'BEGIN { printf "%.1f", b - a }')
setup=$(awk -v a="$ts" -v b="$tt" 'BEGIN { printf "%.1f", b - a }')
echo "  setup ${setup}s, Tracing to exit ${span}s; coordinator ${cpu_pct}% of a CPU" \
	"(${us_ev} us per event), RSS ${rss_now} KiB in the run, peak ${maxrss} KiB"
result "events joined per second ($N agents)" "$evs" "-" "-"
result "events sent = received, lost" "$sent = $got, 0 lost" "nothing lost" "OK"
result "coordinator CPU, steady state" "${cpu_pct}%" "-" "-"
result "coordinator peak RSS" "$((maxrss / 1024)) MiB" "-" "-"

cat >"$BENCH_OUT/coord200.md" <<EOF2
## One coordinator, $N agents (issue 15)

One \`netblame trace\` process holds a session on each of $N agents at once and joins all their
events. \`trace\` joins two nodes (a sender side A and a receiver side B), so the many agents
are many pairs: \`--from a0,a2,... --to a1,a3,...\` pairs them up in order, and each of the
$((N / 2)) pairs gets its own sessions, join engine and verdict, all driven by one poll loop
over the $N connections (one line per pair, then the totals). The agents make up their events
(\`--test-synthetic-pps\`) and attach no BPF at all (\`--test-no-probes\`: on one kernel, each
agent's programs would run on all the other agents' loopback traffic, a cost that grows with
the square of the agents and that a fleet, one agent per host, never pays), so the rate is known
and the same for every run; the two agents of a pair make the same packets, which the
coordinator joins end to end as it would real ones.

| condition | value |
|---|---|
| agents | $N \`netblame-agent serve --insecure --test-synthetic-pps $PPS --test-no-probes\` on \`tcp://127.0.0.1:*\`, each pair of them tracing its own veth pair in one namespace |
| offered | $PPS echoes/s per agent, 4 stage events each: $evs events/s into the coordinator |
| command | \`netblame trace icmp --inventory INV --from a0,a2,...,a$((N - 2)) --to a1,a3,...,a$((N - 1)) --duration $DUR\` |
| CPUs | $(nproc), shared by the $N agents and the coordinator, not pinned |
| CPU window | from 3 s after the "Tracing" line to 3 s before the end: $(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.1f", b - a }') s (\`/proc/PID/stat\` utime + stime) |
| load average | $LOAD0 before, $LOAD1 after |

| measure | value |
|---|---|
| setup (all $N sessions attached, from the coordinator's start) | $setup s |
| events joined per second | $evs |
| packets joined | $packets, $complete COMPLETE; verdicts: $verdicts |
| events sent by the agents / received by the coordinator | $sent / $got |
| lost: coordinator's count, agents' ring, agents' queue, batch sequence gaps | $lost, $aring, $aqueue, $gaps |
| coordinator CPU, steady state | **${cpu_pct}%** of one CPU, ${us_ev} us per event |
| coordinator CPU, whole run (setup, $DUR s, drain, STOPs) | ${cu} s user + ${cs} s system over ${el} s |
| coordinator RSS | ${rss_now} KiB during the run, peak ${maxrss} KiB |

Packets that are not COMPLETE are the pairs' first ones: those the agent that attached first
made before its partner attached are INCONCLUSIVE (the partner's probes were not there yet),
which is also what makes such a pair's verdict INCONCLUSIVE rather than HEALTHY.
EOF2
exit 0
