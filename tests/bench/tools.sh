#!/bin/bash
# Start and peak RSS of every single-host tool of issues 12 and 13 (targets: under 0.3 s from
# start to attached, under 20 MiB resident at the peak): the six latency tools on hvA,
# tun_ring_monitor on hvB's tap (which the tap VM reads), ovs_upcall_latency_summary on hvA's
# two ports named with --interface (the lab's switch is a Linux bridge; the tool loads and
# attaches the same way on OVS ports) and vhost_queue_correlation_simple, which exits 1 on a
# kernel without kprobes or vhost-net, as here: then the time to that exit is what is timed.
#
# Each tool NB_BENCH_TOOL_RUNS times (default 5), in turns (tool 1, 2, ... 9, then again), so a
# burst of load on the shared machine hits all alike: the clock runs from just before the fork
# to the tool's first line, which it prints once everything is attached; then 1 s of pings
# (ping -i 0.005) matching its filter; then SIGINT. Its peak RSS is GNU time's "Maximum
# resident set size" over the whole run. The floor, in the same turns: `netblame-agent TOOL
# --help` (the binary and its libraries, nothing loaded) and icmp_path_tracer (tcx programs
# only, whose object needs no kernel BTF).
#   tests/bench/tools.sh
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
bench_init tools
bench_need "$AGENT"
[ -x /usr/bin/time ] || fail "/usr/bin/time is missing (run: make deps)"

RUNS=${NB_BENCH_TOOL_RUNS:-5}
START_TARGET=0.3
RSS_TARGET=20
HVA=198.18.0.11
HVB=198.18.0.12
cd "$REPO" || exit 1

# TOOL -> "node traffic args": where it runs, which pings match its filter (host: hvA -> hvB,
# vm: vmA -> vmB through hvA's vnet0 and ens4f0 and hvB's tap), its flags.
declare -A RUN=(
	[system_network_icmp_rtt]="nbhvA host --src-ip $HVA --dst-ip $HVB --phy-interface ens4f0 --direction tx"
	[kernel_icmp_rtt]="nbhvA host --src-ip $HVA --dst-ip $HVB --interface ens4f0 --direction tx"
	[system_network_latency_summary]="nbhvA host --phy-interface ens4f0 --direction both"
	[vm_network_latency_summary]="nbhvA vm --vm-interface vnet0 --phy-interface ens4f0 --direction tx"
	[system_network_latency_details]="nbhvA host --phy-interface ens4f0 --src-ip $HVA --dst-ip $HVB --protocol icmp --direction tx"
	[vm_network_latency_details]="nbhvA vm --vm-interface vnet0 --phy-interface ens4f0 --src-ip $IP_A --dst-ip $IP_B --protocol icmp --direction tx"
	[tun_ring_monitor]="nbhvB vm --interface vnet0"
	[ovs_upcall_latency_summary]="nbhvA vm --interface vnet0,ens4f0 --protocol icmp"
	[vhost_queue_correlation_simple]="nbhvB vm --vm-interface vnet0"
	[icmp_path_tracer]="nbhvA vm --src-ip $IP_A --dst-ip $IP_B --rx-iface vnet0 --tx-iface ens4f0"
)
TOOLS=(system_network_icmp_rtt kernel_icmp_rtt system_network_latency_summary
	vm_network_latency_summary system_network_latency_details vm_network_latency_details
	tun_ring_monitor ovs_upcall_latency_summary vhost_queue_correlation_simple)
FLOORS=(help icmp_path_tracer)

traffic() {
	case $1 in
	host) "$LAB" exec hvA ping -q -c 200 -i 0.005 -W 1 "$HVB" >/dev/null 2>&1 ;;
	vm) "$LAB" exec vmA ping -q -c 200 -i 0.005 -W 1 "$IP_B" >/dev/null 2>&1 ;;
	esac
}

# once TOOL: one run; appends "start_s rss_kib lines load1" to $TMP/runs.TOOL. A tool that
# exits 1 before its first line (vhost here) appends "exit_s rss_kib exit1 load1" instead.
once() {
	local t=$1 fifo=$TMP/fifo pid fd t0 t1 child rc node tr args
	read -r node tr args <<<"${RUN[$t]:-nbhvA none}"
	rm -f "$fifo" "$TMP/maxrss"
	mkfifo "$fifo" || fail "mkfifo"
	if [ "$t" = help ]; then
		t0=$EPOCHREALTIME
		/usr/bin/time -f %M -o "$TMP/maxrss" "$AGENT" vm_network_latency_summary --help \
			>"$fifo" 2>"$TMP/err" &
		pid=$!
		exec {fd}<"$fifo"
		read -r -t 5 -u "$fd" _ || fail "--help: no output: $(cat "$TMP/err")"
		t1=$EPOCHREALTIME
		cat <&"$fd" >/dev/null
		wait "$pid" || fail "--help exited non-zero"
		exec {fd}<&-
		echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" \
			"$(tail -n1 "$TMP/maxrss") 0 $(cut -d' ' -f1 /proc/loadavg)" >>"$TMP/runs.$t"
		return
	fi
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2086
	/usr/bin/time -f %M -o "$TMP/maxrss" "$AGENT" "$t" --netns "$node" $args --duration 30 \
		>"$fifo" 2>"$TMP/err.$t" &
	pid=$!
	CUR=$pid
	exec {fd}<"$fifo"
	if ! read -r -t 5 -u "$fd" _; then
		t1=$EPOCHREALTIME
		exec {fd}<&-
		wait "$pid"
		rc=$?
		CUR=
		[ "$rc" = 1 ] || fail "$t: no output within 5 s, exit $rc: $(cat "$TMP/err.$t")"
		echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" \
			"$(tail -n1 "$TMP/maxrss") exit1 $(cut -d' ' -f1 /proc/loadavg)" >>"$TMP/runs.$t"
		return
	fi
	t1=$EPOCHREALTIME
	traffic "$tr"
	child=$(pgrep -P "$pid")
	[ -n "$child" ] && kill -INT "$child"
	cat <&"$fd" >"$TMP/out.$t"
	wait "$pid" || fail "$t: exited non-zero after SIGINT: $(cat "$TMP/err.$t")"
	CUR=
	exec {fd}<&-
	echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" \
		"$(tail -n1 "$TMP/maxrss") $(($(wc -l <"$TMP/out.$t") + 1))" \
		"$(cut -d' ' -f1 /proc/loadavg)" >>"$TMP/runs.$t"
}

# col TOOL N: column N of the tool's runs, one a line.
col() { cut -d' ' -f"$2" "$TMP/runs.$1"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# The tool running now (its GNU time's pid): stopped if the benchmark ends under it.
# shellcheck disable=SC2034 # read by the on_exit handler
CUR=
# shellcheck disable=SC2016 # expanded when the benchmark exits
on_exit '[ -n "$CUR" ] && pkill -INT -P "$CUR" 2>/dev/null'
bench_lab_up --vmb tap
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "tools: $RUNS runs of each, in turns; load average $LOAD0"
once icmp_path_tracer # warm-up: the binary and libraries into the page cache
rm -f "$TMP"/runs.*
for ((i = 0; i < RUNS; i++)); do
	for t in "${FLOORS[@]}" "${TOOLS[@]}"; do
		once "$t"
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

ROWS=
WORST_START=0
WORST_RSS=0
for t in "${FLOORS[@]}" "${TOOLS[@]}"; do
	med=$(col "$t" 1 | median | xargs printf '%.3f')
	lo=$(col "$t" 1 | sort -g | head -n1 | xargs printf '%.3f')
	hi=$(col "$t" 1 | sort -g | tail -n1 | xargs printf '%.3f')
	kmax=$(col "$t" 2 | sort -n | tail -n1)
	kmed=$(col "$t" 2 | median | xargs printf '%.0f')
	load=$(col "$t" 4 | median)
	lines=$(col "$t" 3 | paste -sd' ')
	what=start
	case $t in
	help) name="floor: \`netblame-agent vm_network_latency_summary --help\`" what="to its first line" ;;
	icmp_path_tracer) name="floor: \`icmp_path_tracer\` (tcx only)" ;;
	*) name="\`$t\`" ;;
	esac
	if [[ $lines == *exit1* ]]; then
		what="to its exit 1: $(tr -d '|`' <"$TMP/err.$t" | head -c 200)"
	elif [ "$t" != help ]; then
		what="lines printed: $lines"
		# Only the tools count for the targets; the floors are what they are measured against.
		if [[ $t != icmp_path_tracer ]]; then
			WORST_START=$(awk -v a="$WORST_START" -v b="$med" 'BEGIN { print (b > a) ? b : a }')
			WORST_RSS=$(awk -v a="$WORST_RSS" -v b="$(mib "$kmax")" 'BEGIN { print (b > a) ? b : a }')
		fi
	fi
	printf '  %-34s start median %s s (%s-%s), peak RSS max %s MiB (median %s), load %s\n' \
		"$t" "$med" "$lo" "$hi" "$(mib "$kmax")" "$(mib "$kmed")" "$load"
	ROWS+="| $name | **$med s** | $lo-$hi s | **$(mib "$kmax") MiB** | $(mib "$kmed") MiB | $load | $what |"$'\n'
	case $t in
	help) result "floor: --help, start (median)" "$med s" "-" "-"
		result "floor: --help, peak RSS (max)" "$(mib "$kmax") MiB" "-" "-" ;;
	esac
done
result "start, slowest tool's median" "$WORST_START s" "< $START_TARGET s" \
	"$(target_status "$WORST_START" "<" $START_TARGET)"
result "peak RSS, largest tool's max" "$WORST_RSS MiB" "< $RSS_TARGET MiB" \
	"$(target_status "$WORST_RSS" "<" $RSS_TARGET)"

cat >"$BENCH_OUT/tools.md" <<EOF
## New tools: start and peak RSS (issue 12)

Targets: under $START_TARGET s from starting the tool to its first line (printed once everything is
attached), and under $RSS_TARGET MiB resident at the peak, for every tool of issues 12 and 13.

| condition | value |
|---|---|
| lab | \`tests/lab up --vmb tap\` (hvB's vnet0 a tap the tap VM reads) |
| commands | \`netblame-agent TOOL --netns NODE FLAGS --duration 30\`; the latency tools on hvA's ens4f0 (vm tools: and vnet0; the system summary with \`--direction both\`, its six stages), filter hvA $HVA -> hvB $HVB (vm details: vmA $IP_A -> vmB $IP_B); tun_ring_monitor and vhost_queue_correlation_simple on hvB's tap vnet0; ovs_upcall_latency_summary on hvA's vnet0 and ens4f0, ICMP |
| runs | $RUNS per tool and floor, in turns (every tool once, then again), after one uncounted warm-up run |
| start | bash \`\$EPOCHREALTIME\` before the fork (of GNU time, which runs the tool) to the first line read from a FIFO |
| traffic | then 1 s of pings matching the filter (\`ping -c 200 -i 0.005\`, hvA -> hvB or vmA -> vmB), then SIGINT |
| RSS | GNU time "Maximum resident set size" of the whole run (load, attach, traffic, summary) |
| load average | $LOAD0 before, $LOAD1 after (1, 5, 15 min; 2 CPUs shared with other work); the table's load is the 1-min value after each tool's runs, median |

| tool | start median | start min-max | peak RSS, max | peak RSS, median | load | note |
|---|---|---|---|---|---|---|
$ROWS
The floors tell what no tool can go below: \`--help\` is the process, its libraries and the
option table; \`icmp_path_tracer\` loads tcx programs only, built without CO-RE, so its object
needs no kernel BTF. Every other tool reads the kernel's BTF (5.5 MB here) for CO-RE, which
libbpf 1.1 holds twice while it parses it (file buffer and copy): most of the difference.
What the loaders avoid to stay under the targets: docs/ARCHITECTURE.md, "Start and memory of
the single-host tools".
EOF
exit 0
