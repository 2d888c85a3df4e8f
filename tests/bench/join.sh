#!/bin/bash
# The join and blame engine alone (issue 3, targets: at least 2M events/s on one core, memory
# bounded by the packets in flight and flat across a 10M-event run): build/bench/bench_join
# (tests/bench/bench_join.c, where the synthetic traffic is described) in its three modes,
# NB_BENCH_JOIN_RUNS runs each (default 3), pinned to CPU 1.
#   tests/bench/join.sh
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init join
BJ=$REPO/build/bench/bench_join
bench_need "$BJ"

RUNS=${NB_BENCH_JOIN_RUNS:-3}
TARGET_EPS=2000000
MODES=(live silent unique)
declare -A ARGS=([live]="" [silent]="--silent-b" [unique]="--silent-b --unique-keys")
declare -A TITLE=(
	[live]="Both nodes live"
	[silent]="Host B down after 1M events, no taint (\`--silent-b\`)"
	[unique]="Same, unique keys (\`--silent-b --unique-keys\`)"
)
declare -A NOTE=(
	[live]="1 % of the packets dropped at a random point of the chain; the rest COMPLETE, but
for those still in flight at the final flush (INCONCLUSIVE)."
	[silent]="No B events, no replies, no B watermark: every later packet waits for B0, and
leaves as REUSED when its ICMP seq comes back."
	[unique]="Keys never come back (like TCP byte offsets): what bounds memory is max_inflight,
packets beyond it are EVICTED."
)

echo "join: bench_join, $RUNS runs of each mode, pinned to CPU 1"
for m in "${MODES[@]}"; do
	for ((r = 1; r <= RUNS; r++)); do
		# shellcheck disable=SC2086
		taskset -c 1 "$BJ" ${ARGS[$m]} >"$TMP/$m.$r" || fail "bench_join ${ARGS[$m]} failed"
		# The progress table: events seconds events/s rss_kb peak_inflight inflight.
		awk 'NF == 6 && $1 ~ /^[0-9]+$/' "$TMP/$m.$r" >"$TMP/$m.$r.tab"
		[ "$(wc -l <"$TMP/$m.$r.tab")" = 3 ] || fail "bench_join: unexpected output"
		printf '  %-7s run %d: %s events/s at %s events, peak RSS %s kB\n' "$m" "$r" \
			"$(awk 'END { print $3 }' "$TMP/$m.$r.tab")" \
			"$(awk 'END { print $1 }' "$TMP/$m.$r.tab")" \
			"$(awk 'END { print $4 }' "$TMP/$m.$r.tab")"
	done
done

# col MODE ROW COLUMN: that cell of every run's table, one per line.
col() {
	local r
	for ((r = 1; r <= RUNS; r++)); do
		sed -n "$2p" "$TMP/$1.$r.tab" | awk -v c="$3" '{ print $c }'
	done
}

# Megaevents with one decimal: 14760032 -> 14.8 M.
mev() { awk '{ printf "%.1f M\n", $1 / 1e6 }'; }

section() {
	local m=$1 row ev eps runs rss pk in
	echo "### ${TITLE[$m]}"
	echo
	echo "| events | events/s median | runs | peak RSS kB (min-max) | peak_inflight" \
		"| inflight |"
	echo "|---|---|---|---|---|---|"
	for row in 1 2 3; do
		ev=$(col "$m" $row 1 | median | mev)
		eps=$(col "$m" $row 3 | median | mev)
		runs=$(col "$m" $row 3 | mev | paste -sd/ | sed 's| M/| / |g')
		rss="$(col "$m" $row 4 | sort -g | head -n1)"
		rss+="-$(col "$m" $row 4 | sort -g | tail -n1)"
		pk=$(col "$m" $row 5 | sort -g | tail -n1)
		in=$(col "$m" $row 6 | sort -g | tail -n1)
		echo "| $ev | **$eps** | $runs | $rss | $pk | $in |"
	done
	echo
	echo "${NOTE[$m]} Run 1 totals: $(grep '^packets ' "$TMP/$m.1");" \
		"$(grep '^complete ' "$TMP/$m.1" | cut -d, -f1)."
	echo
}

# Memory flat: peak RSS at 10M events over peak RSS at 5M, worst run of every mode.
GROWTH=$(for m in "${MODES[@]}"; do
	for ((r = 1; r <= RUNS; r++)); do
		awk 'NR == 2 { a = $4 } NR == 3 { printf "%.2f\n", 100 * ($4 - a) / a }' \
			"$TMP/$m.$r.tab"
	done
done | sort -g | tail -n1)
LIVE=$(col live 3 3 | median)
WORST=$(for m in silent unique; do col $m 3 3 | median; done | sort -g | head -n1)
result "both nodes live (median)" "$(echo "$LIVE" | mev)/s" ">= 2.0 M/s" \
	"$(target_status "$LIVE" ">=" $TARGET_EPS)"
result "host B down (median)" "$(echo "$WORST" | mev)/s" ">= 2.0 M/s" \
	"$(target_status "$WORST" ">=" $TARGET_EPS)"
result "peak RSS growth 5M -> 10M events" "$GROWTH %" "< 1 %" "$(target_status "$GROWTH" "<" 1)"

{
	cat <<EOF
## Join engine alone (issue 3)

Targets: at least 2M events/s on one core; memory bounded by the packets in flight, flat across a
10M-event run.

| condition | value |
|---|---|
| program | \`build/bench/bench_join\` from \`tests/bench/bench_join.c\`, built by \`make bench\` (gcc -O2), $RUNS runs per mode, \`taskset -c 1\` |
| threads | 1 (generator, engine, blame and RTT histogram on the same core) |
| chain | 8 stages A0 A1 B0 B1 B2 B3 A2 A3, 2 nodes |
| traffic | 1 packet per us of reference time, stages at +0 5 30 35 60 65 90 95 us, jitter < 0.2 us |
| delivery | batches of 256 packets; A0 A1 of batch k, then B0..B3 and A2 A3 of batch k-1 |
| drops | 1 % of packets, drop point uniform over the 7 gaps |
| keys | ICMP {id, seq}, seq wraps at 65536 (unique 64-bit keys where noted) |
| engine | timeout 10 ms, reuse_ns 32 ms, max_inflight 65536 (default), recent 4096 (default) |
| watermarks | after each batch, both nodes, to their oldest undelivered event; poll after each batch |
| events/s | total events / wall time since start, generation included |
| RSS | \`getrusage\` ru_maxrss of the whole process, at 1M, 5M and 10M events |

EOF
	for m in "${MODES[@]}"; do
		section "$m"
	done
	echo "Peak RSS growth from 5M to 10M events, worst run of any mode: **$GROWTH %** (the"
	echo "bound is reached by 5M events when host B is down, and never grows after it)."
} >"$BENCH_OUT/join.md"
exit 0
