#!/bin/bash
# The live progress line of the commands that run a while, under a pseudo-terminal (script):
# drawn on stderr with '\r' and erased with ESC[K, cleared before anything else is written;
# never written when stderr is not a terminal or with --quiet. (A single-pair trace's line is
# tested with the lab in test_html.sh.) Four agents with real probes trace two veth pairs of a
# namespace of this test where no packet flows, so every number is known:
#   (T stands for an elapsed time: when a line is drawn depends on the machine's load)
#   pairs    trace --from a0,a2 --to a1,a3 for 2 s: the first line is exactly
#            "T  2 pairs  0 packets final  lost events 0", every line is that with its time;
#            stderr into a file: no '\r' nor ESC at all, the same exit code; --quiet on a
#            terminal: no line
#   run      run eth_drop on a0 and a1 for 2 s: first "T  nodes 2: starting 2, running 0,
#            ended 0  lines 0", then lines whose states add up to 2, one of them with both
#            running; the output without the line's sequences is what a file gets (but the
#            order of the nodes' lines); --quiet: no line
#   runbook  wait 1 s, a skipped step, wait 1 s, a verdict: the lines of step 1 ("T  step
#            1/4 first (wait) T  done 0, skipped 0" first), of step 3 ("T  step 3/4 second
#            (wait) T  done 1, skipped 1" first), none for the verdict step; the output
#            without them is exactly what a file gets; --quiet: no line
# In every case no text is written onto a drawn line (the line is erased first).
set -u
. "$(dirname "$0")/lib.sh"
need_root
command -v script >/dev/null || fail "script (util-linux) is not installed"

OUT=$(mktemp -d /tmp/nb-progress.XXXXXX)
on_exit "rm -rf $OUT"
NS=nbprog$$
on_exit "ip netns del $NS 2>/dev/null"
ip netns add $NS || fail "ip netns add $NS"
for j in 0 1; do
	ip -n $NS link add p${j}a type veth peer name p${j}b || fail "veth $j"
	ip -n $NS link set p${j}a up
	ip -n $NS link set p${j}b up
done
for k in 0 1 2 3; do
	start_agent "a$k" --insecure --netns $NS
done
{
	echo "coordinator: {insecure: true}"
	echo "nodes:"
	for k in 0 1 2 3; do
		echo "  a$k: {endpoint: '$(eval echo "\$EP_a$k")', rx-iface: p$((k / 2))a, tx-iface: p$((k / 2))b}"
	done
} >"$OUT/inv.yaml"
cd "$REPO"

# onpty NAME CMD...: CMD on a pseudo-terminal, all it wrote in $OUT/NAME.tty; its exit code in RC.
onpty() {
	local name=$1
	shift
	script -qfec "$(printf '%q ' "$@")" "$OUT/$name.tty" >/dev/null </dev/null
	RC=$(sed -n 's/.*COMMAND_EXIT_CODE="\([0-9]*\)".*/\1/p' "$OUT/$name.tty")
	# script's own first and last lines are not the command's
	sed -i '1d;/^Script done on/d' "$OUT/$name.tty"
}

# lines NAME: the progress lines drawn, one a line (each is '\r' TEXT ESC[K).
lines() {
	python3 - "$OUT/$1.tty" <<'EOF'
import re, sys
d = open(sys.argv[1], "rb").read().decode()
for m in re.finditer(r"\r([^\r\n\x1b]+)\x1b\[K", d):
    print(m.group(1))
EOF
}

# times: each elapsed time (4.2s, 1m05s) as T. A loaded machine may draw the first line late,
# so the tests check what a line says, not when it was drawn.
times() { sed -E 's/(^| )([0-9]+m[0-9]{2}s|[0-9]+\.[0-9]s)/\1T/g'; }

# plain NAME: what the terminal got without the progress line's sequences, '\r\n' as '\n'.
plain() {
	python3 - "$OUT/$1.tty" <<'EOF'
import re, sys
d = open(sys.argv[1], "rb").read().decode()
d = re.sub(r"\r[^\r\n\x1b]*\x1b\[K", "", d).replace("\r\n", "\n")
sys.stdout.write(d)
EOF
}

# clean NAME: no text was written onto a drawn line: whatever follows one is another '\r'
# (the next line, or the erase before other text).
clean() {
	python3 - "$OUT/$1.tty" <<'EOF'
import re, sys
d = open(sys.argv[1], "rb").read()
bad = [m.group(1) for m in re.finditer(rb"\r([^\r\n\x1b]+)\x1b\[K", d) if d[m.end():m.end() + 1] != b"\r"]
sys.exit(1 if bad else 0)
EOF
}

# ---- several pairs: the totals over them
TRACE=("$COORD" trace icmp --src-ip 10.199.20.1 --dst-ip 10.199.20.2 --inventory "$OUT/inv.yaml"
	--from a0,a2 --to a1,a3 --duration 2)
onpty pairs "${TRACE[@]}"
grep -aq '^2 pairs, 4 agents: 0 packets' "$OUT/pairs.tty" || fail "pairs: no totals: $(cat "$OUT/pairs.tty")"
assert_eq "T  2 pairs  0 packets final  lost events 0" "$(lines pairs | head -n 1 | times)" "pairs: first line"
[ "$(lines pairs | wc -l)" -ge 2 ] || fail "pairs: one line in 2 s: $(lines pairs)"
assert_eq "" "$(lines pairs | grep -Ev '^[0-9]+\.[0-9]s  2 pairs  0 packets final  lost events 0$')" \
	"pairs: lines other than the totals"
clean pairs || fail "pairs: text written onto the line"
"${TRACE[@]}" >"$OUT/pairs_file.out" 2>"$OUT/pairs_file.err"
assert_eq "$RC" "$?" "pairs: the same exit code with stderr into a file"
assert_eq 0 "$(tr -cd '\r\033' <"$OUT/pairs_file.err" | wc -c)" "pairs: control characters on stderr into a file"
onpty pairs_quiet "${TRACE[@]}" --quiet
assert_eq 0 "$(grep -ac 'packets final' "$OUT/pairs_quiet.tty")" "pairs --quiet: progress lines"
grep -aq '^2 pairs, 4 agents: 0 packets' "$OUT/pairs_quiet.tty" || fail "pairs --quiet: no totals"

# ---- netblame run: its nodes by state
RUN=("$COORD" run eth_drop --inventory "$OUT/inv.yaml" --on a0,a1 --src-ip 10.199.20.1 --duration 2)
onpty run "${RUN[@]}"
assert_eq 0 "$RC" "run: exit code"
assert_eq "T  nodes 2: starting 2, running 0, ended 0  lines 0" "$(lines run | head -n 1 | times)" "run: first line"
lines run | while read -r l; do
	[[ $l =~ ^[0-9]+\.[0-9]s\ \ nodes\ 2:\ starting\ ([0-2]),\ running\ ([0-2]),\ ended\ ([0-2])\ \ lines\ [0-9]+$ ]] ||
		fail "run: line '$l'"
	[ $((BASH_REMATCH[1] + BASH_REMATCH[2] + BASH_REMATCH[3])) = 2 ] || fail "run: states of '$l'"
done || exit 1
lines run | grep -q 'starting 0, running 2, ended 0' || fail "run: never both running: $(lines run)"
clean run || fail "run: text written onto the line"
"${RUN[@]}" >"$OUT/run_file.out" 2>"$OUT/run_file.err"
assert_eq 0 "$?" "run into files: exit code"
assert_eq 0 "$(tr -cd '\r\033' <"$OUT/run_file.err" | wc -c)" "run: control characters on stderr into a file"
# (script ends the terminal's text with an empty line of its own)
assert_eq "$(sort "$OUT/run_file.out" "$OUT/run_file.err" | sed '/^$/d;s/[0-9]\+/N/g')" \
	"$(plain run | sort | sed '/^$/d;s/[0-9]\+/N/g')" "run: the terminal's text without the line"
onpty run_quiet "${RUN[@]}" --quiet
assert_eq 0 "$(grep -ac 'nodes 2:' "$OUT/run_quiet.tty")" "run --quiet: progress lines"

# ---- a runbook: the step running
cat >"$OUT/rb.yaml" <<'YAML'
name: progress
steps:
  - {name: first, wait: 1}
  - {name: never, verdict: NODE_A, when: "first.exit_code == 1"}
  - {name: second, wait: 1}
  - {name: done, verdict: HEALTHY}
YAML
RB=("$COORD" runbook "$OUT/rb.yaml" --inventory "$OUT/inv.yaml")
onpty rb "${RB[@]}"
assert_eq 0 "$RC" "runbook: exit code"
assert_eq "T  step 1/4 first (wait) T  done 0, skipped 0" "$(lines rb | head -n 1 | times)" "runbook: first line"
assert_eq "T  step 3/4 second (wait) T  done 1, skipped 1" \
	"$(lines rb | grep -m1 'step 3/4' | times)" "runbook: step 3's first line"
assert_eq "" "$(lines rb | times | grep -Ev '^T  step (1/4 first \(wait\) T  done 0, skipped 0|3/4 second \(wait\) T  done 1, skipped 1)$')" \
	"runbook: lines other than steps 1 and 3's"
clean rb || fail "runbook: text written onto the line"
"${RB[@]}" >"$OUT/rb_file.out" 2>"$OUT/rb_file.err"
assert_eq 0 "$?" "runbook into files: exit code"
assert_eq "" "$(cat "$OUT/rb_file.err")" "runbook: stderr into a file"
assert_eq "$(cat "$OUT/rb_file.out")" "$(plain rb)" "runbook: the terminal's text without the line"
onpty rb_quiet "${RB[@]}" --quiet
assert_eq 0 "$(grep -ac 'step 1/4' "$OUT/rb_quiet.tty")" "runbook --quiet: progress lines"
echo "all progress cases passed"
