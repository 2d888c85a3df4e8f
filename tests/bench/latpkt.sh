#!/bin/bash
# The per-packet latency tools (issue 12, targets: start under 0.3 s, peak RSS under 20 MiB):
# system_network_icmp_rtt and kernel_icmp_rtt on hvA's own pings to hvB, the two details tools
# on hvA with an ICMP filter the traffic matches. Each tool: NB_BENCH_LAT_RUNS (default 5)
# starts, from just before the fork to its first output line (the header, printed once every
# stage is attached), then one run of 3 s under GNU time with ping -i 0.005 from hvA matching
# its filter (every echo joined and printed), for the peak RSS.
#   tests/bench/latpkt.sh
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
bench_init latpkt
bench_need "$AGENT"
[ -x /usr/bin/time ] || fail "/usr/bin/time is missing (run: make deps)"

RUNS=${NB_BENCH_LAT_RUNS:-5}
SECS=3
START_TARGET=0.3
RSS_TARGET=20
HVA=198.18.0.11
HVB=198.18.0.12
cd "$REPO" || exit 1

declare -A ARGS=(
	[system_network_icmp_rtt]="--src-ip $HVA --dst-ip $HVB --phy-interface ens4f0 --direction tx"
	[kernel_icmp_rtt]="--src-ip $HVA --dst-ip $HVB --interface ens4f0 --direction tx"
	[system_network_latency_details]="--phy-interface ens4f0 --src-ip $HVA --dst-ip $HVB --protocol icmp --direction tx"
	[vm_network_latency_details]="--vm-interface vnet0 --phy-interface ens4f0 --src-ip $HVA --dst-ip $HVB --protocol icmp --direction tx"
)
TOOLS=(system_network_icmp_rtt kernel_icmp_rtt system_network_latency_details
	vm_network_latency_details)

# start TOOL: seconds from fork to the first line, appended to $TMP/start.TOOL.
start() {
	local t=$1 fifo=$TMP/fifo pid fd line t0 t1
	rm -f "$fifo"
	mkfifo "$fifo" || fail "mkfifo"
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2086
	"$AGENT" "$t" --netns nbhvA ${ARGS[$t]} --duration 30 >"$fifo" 2>"$TMP/err" &
	pid=$!
	on_exit "kill $pid 2>/dev/null"
	exec {fd}<"$fifo"
	read -r -t 5 -u "$fd" line || fail "$t: no output within 5 s: $(cat "$TMP/err")"
	t1=$EPOCHREALTIME
	[[ $line == "=== "* ]] || fail "$t: first line was: $line"
	kill -INT "$pid"
	cat <&"$fd" >/dev/null
	wait "$pid" || fail "$t: exited $? after SIGINT: $(cat "$TMP/err")"
	exec {fd}<&-
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >>"$TMP/start.$t"
}

# rss TOOL: "peak_kib records" of a run with matching pings.
rss() {
	local t=$1 ppid
	"$LAB" exec hvA ping -q -i 0.005 -w $((SECS + 2)) "$HVB" >/dev/null 2>&1 &
	ppid=$!
	on_exit "kill $ppid 2>/dev/null"
	sleep 0.2
	# shellcheck disable=SC2086
	/usr/bin/time -v -o "$TMP/time.$t" "$AGENT" "$t" --netns nbhvA ${ARGS[$t]} \
		--duration "$SECS" >"$TMP/out.$t" 2>"$TMP/err.$t" || fail "$t: $(cat "$TMP/err.$t")"
	wait "$ppid"
	echo "$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$TMP/time.$t")" \
		"$(grep -c '^\[' "$TMP/out.$t")"
}

bench_lab_up --vmb veth
start system_network_icmp_rtt # warm-up: the binary and libraries into the page cache
ROWS=
WORST_START=0
WORST_RSS=0
for t in "${TOOLS[@]}"; do
	rm -f "$TMP/start.$t"
	for ((i = 0; i < RUNS; i++)); do
		start "$t"
	done
	med=$(median <"$TMP/start.$t" | xargs printf '%.3f')
	max=$(sort -g "$TMP/start.$t" | tail -n1 | xargs printf '%.3f')
	read -r kib recs <<<"$(rss "$t")"
	[ "$recs" -gt 0 ] || fail "$t: printed no echo or packet under matching pings"
	mib=$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')
	echo "  $t: start median $med s (max $max), peak RSS $mib MiB, $recs records in ${SECS}s"
	WORST_START=$(awk -v a="$WORST_START" -v b="$med" 'BEGIN { print (b > a) ? b : a }')
	WORST_RSS=$(awk -v a="$WORST_RSS" -v b="$mib" 'BEGIN { print (b > a) ? b : a }')
	ROWS+="| \`$t\` | $med s | $max s | $mib MiB ($kib KiB) | $recs |"$'\n'
done
result "start, slowest tool's median" "$WORST_START s" "< $START_TARGET s" \
	"$(target_status "$WORST_START" "<" $START_TARGET)"
result "peak RSS, largest" "$WORST_RSS MiB" "< $RSS_TARGET MiB" \
	"$(target_status "$WORST_RSS" "<" $RSS_TARGET)"

cat >"$BENCH_OUT/latpkt.md" <<EOF
## Per-packet latency tools: start and peak RSS (issue 12)

Targets: under $START_TARGET s from starting the tool to its header (printed once every stage is
attached), and under $RSS_TARGET MiB resident at the peak.

| condition | value |
|---|---|
| commands | \`netblame-agent TOOL --netns nbhvA ...\` on hvA's ens4f0 (vm details: vnet0 too), filter hvA $HVA -> hvB $HVB, ICMP; lab \`--vmb veth\` |
| start | bash \`\$EPOCHREALTIME\` before the fork to the first line read from a FIFO; $RUNS runs per tool after one warm-up; no traffic |
| RSS | GNU time "Maximum resident set size", one ${SECS}-s run per tool with \`ping -i 0.005\` hvA -> hvB matching the filter (every echo or packet joined and printed, text to a file) |

| tool | start median | start max | peak RSS | records printed |
|---|---|---|---|---|
$ROWS
The peak is about 9 MiB above \`icmp_path_tracer\`'s: the chain's netfilter and kprobe programs
read kernel structures with CO-RE, so loading them reads the kernel's BTF, which the path
tracers' tcx-only object skips. The details tools' overhead on traffic their filter does not
match: \`latover\` (tests/bench/latover.sh).
EOF
exit 0
