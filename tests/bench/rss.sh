#!/bin/bash
# Peak RSS of icmp_path_tracer (issue 2, target: under 20 MB) over a 5 s run (--duration 5)
# with ICMP echo flowing vmA -> vmB through hvA, where it is attached: once at a steady
# 500 packets/s (ping -i 0.002) and once with ping -f (as fast as replies come back). Every
# echo matches the filter, so events, the join engine and the per-packet output all work.
# Peak RSS is GNU time's "Maximum resident set size" (the kernel's maxrss of the process).
#   tests/bench/rss.sh
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
bench_init rss
bench_need "$AGENT"
[ -x /usr/bin/time ] || fail "/usr/bin/time is missing (run: make deps)"

TARGET_MB=20
SECS=5
cd "$REPO" || exit 1

# run NAME PING-ARGS...: the tool for $SECS s while ping runs; appends
# "NAME rss_kb packets complete ping_sent rss_kb_near_end hwm_kb_once_attached" to $TMP/runs.
run() {
	local name=$1 ppid tpid apid rss hwm now pkts complete sent
	shift
	# ping starts first and outlasts the tool, so traffic flows during the whole run.
	"$LAB" exec vmA ping -q -w $((SECS + 2)) "$@" "$IP_B" >"$TMP/ping.$name" 2>&1 &
	ppid=$!
	on_exit "kill $ppid 2>/dev/null"
	sleep 0.2
	/usr/bin/time -v -o "$TMP/time.$name" "$AGENT" icmp_path_tracer --netns nbhvA \
		--src-ip "$IP_A" --dst-ip "$IP_B" --rx-iface vnet0 --tx-iface ens4f0 \
		--duration "$SECS" >"$TMP/out.$name" 2>"$TMP/err.$name" &
	tpid=$!
	on_exit "kill $tpid 2>/dev/null"
	# The peak so far once attached (VmHWM), and the resident size a second before the end:
	# where the peak comes from, and what stays.
	wait_for 5 grep -q '^=== ICMP Path Tracer' "$TMP/out.$name" ||
		fail "$name: the tool did not attach: $(cat "$TMP/err.$name")"
	apid=$(pgrep -P "$tpid" | head -n1)
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$apid/status" 2>/dev/null)
	sleep $((SECS - 1))
	now=$(awk '/^VmRSS/ { print $2 }' "/proc/$apid/status" 2>/dev/null)
	wait "$tpid" || fail "$name: the tool failed: $(tail -n 3 "$TMP/err.$name")"
	wait "$ppid"
	rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$TMP/time.$name")
	pkts=$(grep -c 'STATUS:' "$TMP/out.$name")
	complete=$(grep -c 'STATUS: COMPLETE' "$TMP/out.$name")
	sent=$(awk '/packets transmitted/ { print $1 }' "$TMP/ping.$name")
	[ -n "$rss" ] || fail "$name: no maxrss in $(cat "$TMP/time.$name")"
	[ "$pkts" -gt 0 ] || fail "$name: the tool saw no echo: $(cat "$TMP/ping.$name")"
	echo "$name $rss $pkts $complete ${sent:-?} ${now:-0} ${hwm:-0}" >>"$TMP/runs"
	printf '  %-7s peak RSS %s KiB (%s once attached, %s near the end), %s packets traced' \
		"$name" "$rss" "${hwm:-?}" "${now:-?}" "$pkts"
	printf ' (%s COMPLETE), ping sent %s\n' "$complete" "${sent:-?}"
}

bench_lab_up --vmb veth
echo "rss: icmp_path_tracer --duration $SECS with ICMP echo flowing"
: >"$TMP/runs"
run steady -i 0.002
run flood -f
PEAK=$(awk '$2 > m { m = $2 } END { print m }' "$TMP/runs")
# ru_maxrss is in KiB; the target is read as MiB. The SI value is given next to it.
PEAK_MIB=$(awk -v k="$PEAK" 'BEGIN { printf "%.1f", k / 1024 }')
PEAK_MB=$(awk -v k="$PEAK" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }')
result "peak RSS, icmp_path_tracer" "$PEAK_MIB MiB" "< $TARGET_MB MiB" \
	"$(target_status "$PEAK_MIB" "<" $TARGET_MB)"

ROWS=$(awk -v s="$SECS" '{
	printf "| %s | %s | %.1f MiB (%d KiB) | %.1f MiB | %.1f MiB | %d | %d | %.0f |\n",
		($1 == "steady") ? "ping -i 0.002 (500/s)" : "ping -f (flood)", $5, $2 / 1024, $2,
		$7 / 1024, $6 / 1024, $3, $4, $3 / s }' "$TMP/runs")
cat >"$BENCH_OUT/rss.md" <<EOF
## Peak RSS of the tool (issue 2)

Target: under $TARGET_MB MB resident at its peak, read as MiB (2^20 bytes), the unit the kernel
reports in.

| condition | value |
|---|---|
| command | \`/usr/bin/time -v netblame-agent icmp_path_tracer --netns nbhvA --src-ip $IP_A --dst-ip $IP_B --rx-iface vnet0 --tx-iface ens4f0 --duration $SECS\` |
| traffic | ICMP echo vmA -> vmB (\`ping -q\` in vmA, started 0.2 s before the tool, runs $((SECS + 2)) s); every echo matches the filter |
| output | text mode, to a file (one block per packet) |
| measure | GNU time "Maximum resident set size" (ru_maxrss of the tool), 1 run per load; VmHWM (peak so far) read as soon as the header is out, VmRSS 1 s before the end |

| load | pings sent | peak RSS | peak once attached | RSS 1 s before the end | packets traced | of them COMPLETE | traced/s |
|---|---|---|---|---|---|---|---|
$ROWS

Headline: **$PEAK_MIB MiB** ($PEAK KiB, $PEAK_MB MB in units of 10^6 bytes), the larger of the two.
When the peak is already reached by the time the tool is attached (peak once attached = peak),
it comes from loading the BPF objects, not from tracing packets; the resident size near the end
is what tracing keeps.
EOF
exit 0
