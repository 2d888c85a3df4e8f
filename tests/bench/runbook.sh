#!/bin/bash
# netblame runbook: its own overhead, from the start to its first step (issue 14, target: under
# 0.2 s). Two measures, NB_BENCH_RUNBOOK_RUNS runs each (default 10) after one warm-up:
#   - `--check` of each shipped runbook (deploy/runbooks): everything the runbook does before
#     its first step (read the inventory, list the tools from netblame-agent, load and check
#     the file) and then exits; the clock runs from before the fork to the exit;
#   - a runbook whose first step is `wait: 0`, the ping-loss steps after it skipped: from
#     before the fork to the first step's start, which the runbook's JSON report records
#     (first_step_ns, CLOCK_REALTIME).
# No agent is needed: nothing connects before the first step.
#   tests/bench/runbook.sh
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init runbook
bench_need "$AGENT" "$COORD"

RUNS=${NB_BENCH_RUNBOOK_RUNS:-10}
TARGET=0.2
cd "$REPO" || exit 1
cat >"$TMP/inv.yaml" <<'EOI'
coordinator: {insecure: true}
nodes:
  hvA: {endpoint: "tcp://127.0.0.1:1", rx-iface: vnet0, tx-iface: ens4f0}
  hvB: {endpoint: "tcp://127.0.0.1:2", rx-iface: ens4f0, tx-iface: vnet0}
EOI
VARS=(--var SRC=10.0.0.1 --var DST=10.0.0.2 --var NODE_A=hvA --var NODE_B=hvB)

# check FILE [VARS...]: seconds of one `--check` run.
check() {
	local f=$1 a b
	shift
	a=$EPOCHREALTIME
	"$COORD" runbook "$f" --inventory "$TMP/inv.yaml" "${VARS[@]}" "$@" --check \
		>"$TMP/out" 2>"$TMP/err" || fail "$f --check: $(cat "$TMP/err")"
	b=$EPOCHREALTIME
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f\n", b - a }'
}

ROWS=""
WORST=0
for f in deploy/runbooks/*.yaml; do
	extra=()
	case $f in *tcp-retrans*) extra=(--var PORT=5201) ;; esac
	check "$f" "${extra[@]}" >/dev/null
	for ((r = 0; r < RUNS; r++)); do check "$f" "${extra[@]}"; done >"$TMP/t"
	med=$(median <"$TMP/t")
	echo "  $f --check: median $med s ($(paste -sd' ' "$TMP/t"))"
	ROWS+="| \`$(basename "$f")\` | $med s | $(sort -g "$TMP/t" | head -n1) s | $(sort -g "$TMP/t" | tail -n1) s |"$'\n'
	WORST=$(awk -v a="$WORST" -v b="$med" 'BEGIN { print (b > a) ? b : a }')
done

# The ping-loss steps behind a first `wait: 0` step, all skipped.
{
	sed -n '/^vars:/,/^steps:/p' deploy/runbooks/ping-loss.yaml
	echo "  - {name: first, wait: 0}"
	sed -n '/^steps:/,$p' deploy/runbooks/ping-loss.yaml | tail -n +2 |
		sed 's/^    when: trace.verdict == \(.*\)$/    when: trace.verdict == \1 and first.never/;
		     s/^  - name: trace$/  - name: trace\n    when: first.never/'
} >"$TMP/first.yaml"
first() {
	local a
	a=$EPOCHREALTIME
	"$COORD" runbook "$TMP/first.yaml" --inventory "$TMP/inv.yaml" "${VARS[@]}" \
		--json "$TMP/first.json" >"$TMP/out" 2>"$TMP/err" || fail "first: $(cat "$TMP/err")"
	[ "$(jq -r '[.steps[] | .status] | join(" ")' "$TMP/first.json")" = \
		"ok skipped skipped skipped skipped skipped" ] || fail "first: steps: $(cat "$TMP/out")"
	jq -r --arg a "$a" '(.first_step_ns / 1e9) - ($a | tonumber) | . * 10000 | round / 10000' \
		"$TMP/first.json"
}
first >/dev/null
for ((r = 0; r < RUNS; r++)); do first; done >"$TMP/f"
FMED=$(median <"$TMP/f")
echo "  start to first step: median $FMED s ($(paste -sd' ' "$TMP/f"))"

result "start to first step (median)" "$FMED s" "< $TARGET s" "$(target_status "$FMED" "<" $TARGET)"
result "--check, slowest shipped runbook (median)" "$WORST s" "< $TARGET s" \
	"$(target_status "$WORST" "<" $TARGET)"

cat >"$BENCH_OUT/runbook.md" <<EOF2
## netblame runbook: start to first step (issue 14)

Target: under $TARGET s from starting \`netblame runbook\` to its first step.

| condition | value |
|---|---|
| inventory | 2 nodes, insecure; no agent runs (nothing connects before the first step) |
| before the first step | read the inventory, \`netblame-agent --list-tools\` (one fork and exec), load and check the runbook: variables, nodes, tools, conditions |
| first step | the ping-loss steps after a first \`wait: 0\` step (the others skipped): from before the fork (bash \`\$EPOCHREALTIME\`) to the first step's start (\`first_step_ns\` in the report, CLOCK_REALTIME) |
| --check | each shipped runbook checked and exited, from before the fork to the exit |
| runs | $RUNS each, after one uncounted warm-up run |

| measure | median | min | max |
|---|---|---|---|
| start to first step | **$FMED s** | $(sort -g "$TMP/f" | head -n1) s | $(sort -g "$TMP/f" | tail -n1) s |
$(printf '%s' "$ROWS" | sed 's/^| `\([^`]*\)`/| `--check` of `\1`/')
EOF2
exit 0
