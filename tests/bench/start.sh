#!/bin/bash
# Start to attached (issue 2, target: under 0.3 s): the time from starting icmp_path_tracer to
# its first line of output. The tool prints its header (text mode) or its {"type":"start"}
# line (--json) only once every probe is attached, so that line marks "attached".
#
# The clock starts just before the shell forks the tool, so fork and exec are included; the
# first line is read through a FIFO the moment it is written (the tool's stdout is line
# buffered). Then the tool gets SIGINT, and the time until it has exited (probes detached,
# summary printed) is reported too. NB_BENCH_START_RUNS runs (default 10) in each mode.
#   tests/bench/start.sh
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
bench_init start
bench_need "$AGENT"

RUNS=${NB_BENCH_START_RUNS:-10}
TARGET=0.3
cd "$REPO" || exit 1

TOOL_ARGS=(icmp_path_tracer --netns nbhvA --src-ip "$IP_A" --dst-ip "$IP_B" --rx-iface vnet0
	--tx-iface ens4f0)

# once MODE-ARGS...: one start and stop; appends "start_s stop_s" to $TMP/times.$MODE.
once() {
	local mode=$1 fifo=$TMP/fifo pid fd line t0 t1 t2 t3 rc
	shift
	rm -f "$fifo"
	mkfifo "$fifo" || fail "mkfifo $fifo"
	t0=$EPOCHREALTIME
	"$AGENT" "${TOOL_ARGS[@]}" "$@" --duration 30 >"$fifo" 2>"$TMP/err" &
	pid=$!
	on_exit "kill $pid 2>/dev/null"
	exec {fd}<"$fifo"
	if ! read -r -t 5 -u "$fd" line; then
		exec {fd}<&-
		fail "$mode: no output within 5 s: $(cat "$TMP/err")"
	fi
	t1=$EPOCHREALTIME
	case $mode in
	text) [ "$line" = "=== ICMP Path Tracer ===" ] || fail "text: first line was: $line" ;;
	json) [[ $line == '{"type":"start"'* ]] || fail "json: unexpected first line: $line" ;;
	esac
	t2=$EPOCHREALTIME
	kill -INT "$pid"
	cat <&"$fd" >/dev/null # the rest of its output, so it never writes into a closed pipe
	wait "$pid"
	rc=$?
	t3=$EPOCHREALTIME
	exec {fd}<&-
	[ "$rc" = 0 ] || fail "$mode: the tool exited $rc after SIGINT: $(cat "$TMP/err")"
	awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" \
		'BEGIN { printf "%.4f %.4f\n", b - a, d - c }' >>"$TMP/times.$mode"
}

# col_stat MODE COLUMN: "median min max" of a column of $TMP/times.MODE.
col_stat() {
	local f=$TMP/times.$1 c=$2
	printf '%.3f %.3f %.3f\n' "$(cut -d' ' -f"$c" "$f" | median)" \
		"$(cut -d' ' -f"$c" "$f" | sort -g | head -n1)" \
		"$(cut -d' ' -f"$c" "$f" | sort -g | tail -n1)"
}

bench_lab_up --vmb veth
echo "start: $RUNS runs each of text and --json mode"
once warmup # loads the binary and its libraries into the page cache; not counted
rm -f "$TMP/times.warmup"
for ((i = 0; i < RUNS; i++)); do
	once text
	once json --json
done
read -r T_MED T_MIN T_MAX <<<"$(col_stat text 1)"
read -r J_MED J_MIN J_MAX <<<"$(col_stat json 1)"
read -r TS_MED TS_MIN TS_MAX <<<"$(col_stat text 2)"
read -r JS_MED JS_MIN JS_MAX <<<"$(col_stat json 2)"
echo "  text: start $(cut -d' ' -f1 "$TMP/times.text" | paste -sd' ')"
echo "  json: start $(cut -d' ' -f1 "$TMP/times.json" | paste -sd' ')"
result "text mode (median)" "$T_MED s" "< $TARGET s" "$(target_status "$T_MED" "<" $TARGET)"
result "--json mode (median)" "$J_MED s" "< $TARGET s" "$(target_status "$J_MED" "<" $TARGET)"

cat >"$BENCH_OUT/start.md" <<EOF
## Start to attached (issue 2)

Target: under $TARGET s from starting the tool to its first output line, which it prints only
once every probe is attached.

| condition | value |
|---|---|
| command | \`netblame-agent ${TOOL_ARGS[*]} [--json] --duration 30\`, lab \`--vmb veth\`, no traffic |
| clock | bash \`\$EPOCHREALTIME\` before the fork, to the first line read from a FIFO (fork and exec included) |
| runs | $RUNS per mode, text and --json interleaved, after one uncounted warm-up run |
| stop | SIGINT, then until the process has exited (probes detached, summary written) |

| mode | start median | min | max | stop median | min | max |
|---|---|---|---|---|---|---|
| text (header) | **$T_MED s** | $T_MIN s | $T_MAX s | $TS_MED s | $TS_MIN s | $TS_MAX s |
| --json (start line) | **$J_MED s** | $J_MIN s | $J_MAX s | $JS_MED s | $JS_MIN s | $JS_MAX s |
EOF
exit 0
