#!/bin/bash
# netblame agents across many agents (issue 14, target: 200 agents in under 2 s): N agents
# (NB_BENCH_AGENTS, default 200) serve on loopback in the root namespace, listed in one
# inventory; `netblame agents` asks them all and must find every one reachable. The clock
# starts before the coordinator is forked and stops when it has exited (connect, HELLO, up to
# 5 clock samples per agent, output). NB_BENCH_AGENTS_RUNS runs (default 5), after one warm-up.
#   tests/bench/agents.sh
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
bench_init agents
bench_need "$AGENT" "$COORD"

N=${NB_BENCH_AGENTS:-200}
RUNS=${NB_BENCH_AGENTS_RUNS:-5}
TARGET=2
cd "$REPO" || exit 1

# The agents start in parallel batches: each probes the kernel (a trial attach) once at start.
echo "agents: starting $N agents"
t0=$EPOCHREALTIME
for ((i = 0; i < N; i++)); do
	"$AGENT" serve --listen 'tcp://127.0.0.1:*' --name "a$i" --insecure \
		>"$TMP/a$i.out" 2>"$TMP/a$i.err" &
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
t1=$EPOCHREALTIME
{
	echo "coordinator: {insecure: true}"
	echo "nodes:"
	for ((k = 0; k < N; k++)); do
		echo "  a$k: {endpoint: '$(sed -n 's/^listening on //p' "$TMP/a$k.out" | head -n1)'}"
	done
} >"$TMP/inv.yaml"
echo "  started in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"

once() {
	local a b rc
	a=$EPOCHREALTIME
	"$COORD" agents --inventory "$TMP/inv.yaml" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	b=$EPOCHREALTIME
	[ "$rc" = 0 ] || fail "agents exited $rc: $(tail -n 3 "$TMP/out") $(cat "$TMP/err")"
	grep -qx "$N agents: $N reachable, 0 unreachable" "$TMP/out" ||
		fail "not all reachable: $(tail -n 1 "$TMP/out")"
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", b - a }'
}
once >/dev/null # warm-up: binaries and libraries into the page cache
for ((r = 0; r < RUNS; r++)); do once; done >"$TMP/times"
MED=$(median <"$TMP/times")
MIN=$(sort -g "$TMP/times" | head -n1)
MAX=$(sort -g "$TMP/times" | tail -n1)
echo "  runs: $(paste -sd' ' "$TMP/times")"
result "netblame agents, $N agents (median)" "$MED s" "< $TARGET s" \
	"$(target_status "$MED" "<" $TARGET)"

cat >"$BENCH_OUT/agents.md" <<EOF2
## netblame agents across $N agents (issue 14)

Target: under $TARGET s for \`netblame agents\` to ask $N agents and report every one.

| condition | value |
|---|---|
| agents | $N \`netblame-agent serve --insecure\` on \`tcp://127.0.0.1:*\`, idle, in the root namespace |
| command | \`netblame agents --inventory INV\` (all $N nodes of one inventory), text output |
| per agent | connect, HELLO, then up to 4 PING/PONG clock samples, all agents at once in one poll loop |
| clock | bash \`\$EPOCHREALTIME\` from before the fork to the exit |
| runs | $RUNS, after one uncounted warm-up run |

| agents | median | min | max |
|---|---|---|---|
| $N | **$MED s** | $MIN s | $MAX s |
EOF2
exit 0
