#!/bin/bash
# TCP bulk transfer through the lab with tcp_path_tracer following that very flow, against no
# tracer, in the same run (issue 4, target: throughput with the tracer at least 0.90 of the
# baseline; events lost: 0; the agent's CPU reported).
#
# A stream of known size vmA -> vmB (198.18.0.1 -> 198.18.0.2, its own port per transfer)
# crosses the whole lab: four veth pairs and three bridges. Its rate is the sender's: from
# connect to the receiver closing after the last byte (nb_traffic tcp-send). A round is four
# transfers: the baseline, "tracer on hvA", and the two peers, what an operator runs instead
# (issue 11): tcpdump -n -w /dev/null with the tracer's filter on the two interfaces it traces,
# and a bpftrace program on the device tracepoints filtered as the tracer filters
# (tests/bench/peer_tcp.bt). The rounds take the orders of a Williams design in turn (each
# condition at every position, and after every other one, equally often), so slow drift of the
# machine hits all alike. The tracer matches every packet of the flow in the kernel (data at
# vnet0 and ens4f0, ACKs back at both), and joins the segments by byte range in user space:
# that work, not the filter, is what this measures; the peers match the same packets and write
# them out (tcpdump, whole packets) or print a line each (bpftrace). The size of a transfer is
# set from a warm-up one, for about NB_BENCH_SECONDS (default 1.5) s each.
#
# With 2 CPUs: the sender is pinned to CPU 0 (veth runs the whole path in its softirq, so CPU 0
# is what limits the rate, and the tracer's BPF programs run there), the receiver to CPU 1, and
# the tracer is left to the scheduler: this machine has no CPU to spare for it (pinned beside
# the receiver it slowed the receiver down). Its CPU time is read from /proc. One more traced
# transfer with kernel.bpf_stats_enabled=1 (not in the medians) gives the BPF programs' own
# run time, on CPU 0, per packet of the flow. This
# VM's own speed swings by tens of percent between transfers, so the headline is the median of
# each round's own ratio (its two transfers are seconds apart); the ratio of the medians is
# shown too. A round during which another run's nb_ programs were loaded is not counted.
#   tests/bench/tcp.sh   (NB_BENCH_ROUNDS, NB_BENCH_SECONDS change the run)
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_root
bench_init tcp
MODEL=$REPO/build/bench/bench_tcp
bench_need "$AGENT" "$TRAFFIC" "$MODEL"
peer_init

ROUNDS=${NB_BENCH_ROUNDS:-8}
DUR=${NB_BENCH_SECONDS:-1.5}
TARGET=0.90
TMO=200 # the tracer's --timeout-ms: segments are final soon after the transfer
MAX_SECS=${NB_BENCH_TCP_SECS:-110} # no new round after this (a loaded machine is slow)
[ "$ROUNDS" -ge 2 ] || fail "NB_BENCH_ROUNDS must be at least 2"
cd "$REPO" || exit 1
HZ=$(getconf CLK_TCK)
PORT=7100
TOOL_PID=
MY_IDS=

foreign_progs() {
	bpftool -j prog show 2>/dev/null |
		jq -r '.[] | select(.name | startswith("nb_")) | .id' |
		grep -cvxF -f <(printf '%s\n' "${MY_IDS:-none}")
}

# ticks PID: user + system clock ticks of a process so far.
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

tool_start() {
	# Emptied here: the child's own redirection may come after the check below has found the
	# previous run's start line there.
	: >"$TMP/tool.json"
	"$AGENT" tcp_path_tracer --netns nbhvA --src-ip "$IP_A" --dst-ip "$IP_B" --rx-iface vnet0 \
		--tx-iface ens4f0 --dst-port "$PORT" --timeout-ms $TMO --json >"$TMP/tool.json" \
		2>"$TMP/tool.err" &
	TOOL_PID=$!
	on_exit "kill $TOOL_PID 2>/dev/null"
	wait_for 5 grep -q '"type":"start"' "$TMP/tool.json" ||
		fail "tcp_path_tracer did not attach: $(cat "$TMP/tool.err")"
	MY_IDS=$(held_ids prog "$TOOL_PID")
}

# tool_stop: ends the tracer once its segments are final; sets SEGS, TBYTES, LOST, EVENTS,
# NONCOMPLETE from its output.
tool_stop() {
	local sum
	sleep 0.5
	kill -INT "$TOOL_PID"
	wait "$TOOL_PID" || fail "tcp_path_tracer exited $?: $(cat "$TMP/tool.err")"
	TOOL_PID=
	MY_IDS=
	sum=$(grep '"type":"summary"' "$TMP/tool.json")
	[ -n "$sum" ] || fail "tcp_path_tracer printed no summary"
	LOST=$(jq -r '.lost_events' <<<"$sum")
	INFLIGHT=$(jq -r '.in_flight_at_exit' <<<"$sum")
	EVENTS=$(jq -r '.events' <<<"$sum")
	SEGS=$(jq -s '[.[] | select(.type=="packet")] | length' "$TMP/tool.json")
	TBYTES=$(jq -s '[.[] | select(.type=="packet") | .len] | add // 0' "$TMP/tool.json")
	NONCOMPLETE=$(jq -s '[.[] | select(.type=="packet" and .status!="COMPLETE")] | length' \
		"$TMP/tool.json")
}

# peer_start tcpdump|bpftrace: that peer on the flow of $PORT, as the tracer filters it.
peer_start() {
	case $1 in
	tcpdump)
		tcpdump_start hvA "tcp and ((src host $IP_A and dst host $IP_B and dst port $PORT) or
			(src host $IP_B and dst host $IP_A and src port $PORT))" vnet0 ens4f0
		;;
	bpftrace) bpftrace_start "${BT_ARGS[@]}" "$(be16 "$PORT")" ;;
	esac
}

# transfer ROUND TAG BYTES: one stream (TAG base, tool, tcpdump or bpftrace); appends "ROUND
# TAG mbps foreign cpu% events lost segs bytes_traced noncomplete in_flight" to $TMP/rounds
# (a peer's events: the packets it matched; lost: tcpdump's "dropped by kernel").
transfer() {
	local round=$1 tag=$2 bytes=$3 rpid spid out f0 f1 c0=0 c1=0 t0 t1 cpu=- rest="- - - - - -"
	local pids p
	PORT=$((PORT + 1))
	[ "$tag" = tool ] && [ -z "${TOOL_STARTED:-}" ] && tool_start
	[ "$tag" = tcpdump ] || [ "$tag" = bpftrace ] && peer_start "$tag"
	pids="$TOOL_PID $PEER_PIDS"
	rm -f "$TMP/recv.pid"
	"$LAB" exec vmB taskset -c 1 "$TRAFFIC" tcp-recv --port "$PORT" --timeout 10 \
		--pidfile "$TMP/recv.pid" >"$TMP/recv.out" 2>"$TMP/recv.err" &
	rpid=$!
	on_exit "kill $rpid 2>/dev/null"
	wait_for 5 test -s "$TMP/recv.pid" || fail "tcp-recv did not start: $(cat "$TMP/recv.err")"
	f0=$(foreign_progs)
	for p in $pids; do c0=$((c0 + $(ticks "$p"))); done
	t0=$EPOCHREALTIME
	"$LAB" exec vmA taskset -c 0 "$TRAFFIC" tcp-send --dst "$IP_B" --port "$PORT" \
		--bytes "$bytes" --timeout 10 >"$TMP/send.out" 2>"$TMP/send.err" &
	spid=$!
	wait "$spid" || fail "tcp-send: $(cat "$TMP/send.err")"
	t1=$EPOCHREALTIME
	for p in $pids; do c1=$((c1 + $(ticks "$p"))); done
	wait "$rpid" || fail "tcp-recv: $(cat "$TMP/recv.err")"
	f1=$(foreign_progs)
	lab_intact || fail "the lab was rebuilt by another run during the measurement"
	out=$(cat "$TMP/send.out")
	[ "$(kv bytes "$(cat "$TMP/recv.out")")" = "$bytes" ] || fail "vmB did not get every byte"
	[ "$tag" = base ] || cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v t0="$t0" -v t1="$t1" \
		'BEGIN { printf "%.1f", 100 * (b - a) / hz / (t1 - t0) }')
	case $tag in
	tool)
		# the programs' run time must be read while they are loaded
		[ -n "${STATS_IDS:-}" ] && RT1=$(bpf_run "$STATS_IDS")
		tool_stop
		rest="$EVENTS $LOST $SEGS $TBYTES $NONCOMPLETE $INFLIGHT"
		;;
	tcpdump | bpftrace)
		peer_stop
		# A peer that matched nothing of the flow would look cheap for nothing.
		[ "$PEER_SEEN" -gt 0 ] || fail "$tag matched no packet of the transfer"
		rest="$PEER_SEEN $PEER_DROPS - - - -"
		;;
	esac
	echo "$round $tag $(kv mbps "$out") $((f0 > f1 ? f0 : f1)) $cpu $rest" >>"$TMP/rounds"
	printf '  %-5s %-8s %8s Mbit/s in %s s' "$round" "$tag" "$(kv mbps "$out")" \
		"$(kv seconds "$out")"
	case $tag in
	tool) printf ', tracer CPU %s %%, %s events, lost %s, %s segments (%s bytes)' \
		"$cpu" "$EVENTS" "$LOST" "$SEGS" "$TBYTES" ;;
	tcpdump | bpftrace) printf ', %s CPU %s %%, %s packets matched, lost %s' "$tag" "$cpu" \
		"$PEER_SEEN" "$PEER_DROPS" ;;
	esac
	echo
}

# The tracer's model alone (tests/bench/bench_tcp.c: nb_path over a synthetic stream shaped
# like these transfers, 3 GB, the same --timeout-ms), pinned to CPU 1: in user space, without
# the kernel, the ring buffer or this VM's swings, a steadier measure of its cost per event.
taskset -c 1 "$MODEL" 3000000000 --timeout-ms $TMO --runs 5 >"$TMP/model" ||
	fail "bench_tcp failed"
MODEL_NS=$(awk '/^ns per event:/ { print $7 }' "$TMP/model")
[ -n "$MODEL_NS" ] || fail "bench_tcp: unexpected output"
MODEL_EV=$(awk '/^events / { sub(",", "", $2); print $2 }' "$TMP/model")
echo "  model alone (bench_tcp): $MODEL_NS ns per event (median of 5 runs over $MODEL_EV events)"

bench_lab_up --vmb veth
OFFLOAD=$(offload_state)
read -r NS_INO IF_RX IF_TX < <(peer_ids hvA vnet0 ens4f0 | paste -sd' ')
BT_ARGS=("$BENCH_DIR/peer_tcp.bt" "$NS_INO" "$IF_RX" "$IF_TX" "$(be32 "$IP_A")" "$(be32 "$IP_B")")
# round N: its transfers in the order ORDERS[(N - 1) % 4], a Williams design (see orders in
# lib.sh): over four rounds each comes at every position, and right after every other, once.
mapfile -t ORDERS < <(orders B T D P)
: >"$TMP/rounds"
# Warm-up, which also sizes the transfers to about DUR seconds each.
transfer 0 warm 200000000
RATE=$(awk '$2 == "warm" { print $3 }' "$TMP/rounds")
BYTES=$(awk -v r="$RATE" -v d="$DUR" 'BEGIN { printf "%.0f", r * 1e6 / 8 * d }')
echo "tcp: $BYTES bytes per transfer (warm-up: $RATE Mbit/s), $ROUNDS rounds"
: >"$TMP/rounds"
declare -A TAG=([B]=base [T]=tool [D]=tcpdump [P]=bpftrace)
WANTED=$ROUNDS
t_begin=$SECONDS
for ((p = 1; p <= WANTED; p++)); do
	if ((SECONDS - t_begin >= MAX_SECS && p > 2)); then
		echo "  no round after ${MAX_SECS} s: $((p - 1)) of $WANTED run"
		break
	fi
	for c in ${ORDERS[$(((p - 1) % ${#ORDERS[@]}))]}; do
		transfer "$p" "${TAG[$c]}" "$BYTES"
	done
done
ROUNDS=$((p - 1))

# The BPF programs' own run time, in one more traced transfer (not in the medians).
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
on_exit "sysctl -qw kernel.bpf_stats_enabled=$old_stats"
sysctl -qw kernel.bpf_stats_enabled=1
cp "$TMP/rounds" "$TMP/rounds.keep"
STATS_IDS=
bpf_run() { # IDS: total run_time_ns of those programs
	bpftool -j prog show | jq --argjson ids "[${1}]" \
		'[.[] | select(.id as $i | $ids | index($i)) | .run_time_ns // 0] | add // 0'
}
PORT=$((PORT + 1))
tool_start
STATS_IDS=$(echo "$MY_IDS" | paste -sd,)
rt0=$(bpf_run "$STATS_IDS")
PORT=$((PORT - 1))
TOOL_STARTED=1 transfer stats tool "$BYTES"
rt1=$RT1
STATS_IDS=
sysctl -qw "kernel.bpf_stats_enabled=$old_stats"
echo "  BPF run time over the stats transfer: $((rt1 - rt0)) ns"
STATS_LINE=$(awk '$1 == "stats"' "$TMP/rounds")
cp "$TMP/rounds.keep" "$TMP/rounds"
STATS_SECS=$(awk -v b="$BYTES" -v m="$(echo "$STATS_LINE" | cut -d' ' -f3)" 'BEGIN { print b * 8 / (m * 1e6) }')
BPF_EV=$(echo "$STATS_LINE" | cut -d' ' -f6)
BPF_NS_EV=$(awk -v a="$rt0" -v b="$rt1" -v e="$BPF_EV" 'BEGIN { printf "%.0f", (b - a) / e }')
BPF_SHARE=$(awk -v a="$rt0" -v b="$rt1" -v s="$STATS_SECS" 'BEGIN { printf "%.1f", 100 * (b - a) / (s * 1e9) }')

# Rounds with another run's nb_ programs loaded in either transfer are not counted.
awk '$4 > 0 { print $1 }' "$TMP/rounds" | sort -u >"$TMP/disturbed"
KEPT=$((ROUNDS - $(wc -l <"$TMP/disturbed")))
USE=kept
[ "$KEPT" -lt 2 ] && USE=all && : >"$TMP/disturbed"
col() { # TAG COLUMN of the rounds used
	awk -v t="$1" -v c="$2" -v skip=" $(tr '\n' ' ' <"$TMP/disturbed") " \
		'$2 == t && !index(skip, " " $1 " ") { print $c }' "$TMP/rounds"
}
BASE=$(col base 3 | median)
TOOL=$(col tool 3 | median)
RATIO_M=$(awk -v b="$BASE" -v t="$TOOL" 'BEGIN { printf "%.2f", t / b }')
# round_ratio A B: the median over the rounds used of each round's A / B rate: a round's
# transfers are seconds apart.
round_ratio() {
	awk -v a="$1" -v b="$2" -v skip=" $(tr '\n' ' ' <"$TMP/disturbed") " '
		!index(skip, " " $1 " ") { v[$1, $2] = $3; r[$1] = 1 }
		END { for (p in r) printf "%.4f\n", v[p, a] / v[p, b] }' "$TMP/rounds" |
		median | xargs printf '%.2f'
}
RATIO=$(round_ratio tool base)
DUMP_RATIO=$(round_ratio tcpdump base)
BT_RATIO=$(round_ratio bpftrace base)
# Tool / peer: above 1 the tracer leaves more of the rate than that peer, so costs less.
VS_DUMP=$(round_ratio tool tcpdump)
VS_BT=$(round_ratio tool bpftrace)
DUMP=$(col tcpdump 3 | median)
BT=$(col bpftrace 3 | median)
DUMP_CPU=$(col tcpdump 5 | median | xargs printf '%.1f')
BT_CPU=$(col bpftrace 5 | median | xargs printf '%.1f')
DUMP_SEEN=$(col tcpdump 6 | median | xargs printf '%.0f')
BT_SEEN=$(col bpftrace 6 | median | xargs printf '%.0f')
TOOL_EV=$(col tool 6 | median | xargs printf '%.0f')
DUMP_DROPS=$(col tcpdump 7 | awk '{ s += $1 } END { print s + 0 }')
DUMP_ALL=$(col tcpdump 6 | awk '{ s += $1 } END { print s + 0 }')
ST=$(target_status "$RATIO" ">=" $TARGET)
CPU=$(col tool 5 | median | xargs printf '%.1f')
EV=$(col tool 6 | awk '{ s += $1 } END { print s + 0 }')
LOSTSUM=$(col tool 7 | awk '{ s += $1 } END { print s + 0 }')
SEGSUM=$(col tool 8 | awk '{ s += $1 } END { print s + 0 }')
BAD=$(col tool 10 | awk '{ s += $1 } END { print s + 0 }')
TRACED=$(col tool 9 | awk '{ s += $1 } END { printf "%.0f", s }')
INF=$(col tool 11 | awk '{ s += $1 } END { print s + 0 }')
NTOOL=$(col tool 9 | wc -l)
# Tracer CPU per event: its CPU share over the transfers, against the events it read.
NS_EV=$(awk -v c="$CPU" -v b="$BYTES" -v m="$TOOL" -v e="$EV" -v n="$NTOOL" 'BEGIN {
	secs = b * 8 / (m * 1e6); printf "%.0f", (e > 0) ? c / 100 * secs * 1e9 * n / e : 0 }')
result "baseline median" "$(printf '%.0f' "$BASE") Mbit/s" "-" "-"
result "tracer attached median" "$(printf '%.0f' "$TOOL") Mbit/s" "-" "-"
result "tracer / baseline, median of rounds" "$RATIO" ">= $TARGET" "$ST"
result "tracer / baseline, ratio of medians" "$RATIO_M" "-" "-"
result "events lost" "$LOSTSUM of $EV" "0" "$(target_status "$LOSTSUM" "<" 1)"
result "tracer CPU during a transfer (median)" "$CPU % of a CPU" "-" "-"
result "tracer CPU per event" "$NS_EV ns" "-" "-"
result "model alone (bench_tcp), per event" "$MODEL_NS ns" "-" "-"
SENT=$((BYTES * NTOOL))
result "BPF run time per traced event" "$BPF_NS_EV ns" "-" "-"
result "BPF run time, share of CPU 0" "$BPF_SHARE %" "-" "-"
result "bytes in reported segments / sent" \
	"$(awk -v a="$TRACED" -v b="$SENT" 'BEGIN { printf "%.3f %%", 100 * a / b }')" "-" "-"
result "tcpdump / baseline" "$DUMP_RATIO" "-" "-"
result "bpftrace / baseline" "$BT_RATIO" "-" "-"
result "tracer / tcpdump, median of rounds" "$VS_DUMP" "> 1.00" \
	"$(target_status "$VS_DUMP" ">=" 1.005)"
result "tracer / bpftrace, median of rounds" "$VS_BT" "> 1.00" \
	"$(target_status "$VS_BT" ">=" 1.005)"
result "CPU (median): tracer / tcpdump / bpftrace" "$CPU / $DUMP_CPU / $BT_CPU %" "-" "-"

ROWS=$(awk -v orders="$(printf '%s,' "${ORDERS[@]}")" '
	{ v[$1, $2] = $3; c[$1, $2] = $5; e[$1, $2] = $6; l[$1, $2] = $7 }
	$2 == "tool" { s[$1] = $8; n++ }
	END { k = split(orders, ord, ",") - 1
		for (i = 1; i <= n; i++)
			printf "| %d | %s | %s | %s | %s | %s | %.2f | %.2f | %.2f " \
				"| %s / %s / %s %% | %s / %s / %s | %s / %s | %s |\n",
				i, ord[(i - 1) % k + 1], v[i, "base"], v[i, "tool"],
				v[i, "tcpdump"], v[i, "bpftrace"], v[i, "tool"] / v[i, "base"],
				v[i, "tool"] / v[i, "tcpdump"], v[i, "tool"] / v[i, "bpftrace"],
				c[i, "tool"], c[i, "tcpdump"], c[i, "bpftrace"],
				e[i, "tool"], e[i, "tcpdump"], e[i, "bpftrace"],
				l[i, "tool"], l[i, "tcpdump"], s[i] }' "$TMP/rounds")
COVER=$(awk -v a="$TRACED" -v b="$SENT" 'BEGIN { printf "%.3f", 100 * a / b }')
B_MIN=$(col base 3 | sort -g | head -n1)
B_MAX=$(col base 3 | sort -g | tail -n1)
UNRELIABLE=
[ "$USE" = all ] && UNRELIABLE=$'\n'"> **UNRELIABLE: fewer than 2 rounds were undisturbed; all are used.**"$'\n'
{
	cat <<EOF
## TCP bulk transfer traced by tcp_path_tracer (issues 4 and 11)
$UNRELIABLE
Target: TCP throughput with \`tcp_path_tracer\` following the flow on hvA at least $TARGET of
the baseline, in the same run; no event lost; the tracer's CPU reported; and (issue 11) cheaper
than what an operator runs instead, tcpdump and bpftrace, on the same interfaces and hooks in
the same rounds.

| condition | value |
|---|---|
| lab | \`tests/lab up --vmb veth\`: vmA - hvA (br0) - fabric (fbr0) - hvB (br0) - vmB, all veth |
| traffic | one TCP stream 198.18.0.1 -> 198.18.0.2 of $BYTES bytes per transfer (about $DUR s at the warm-up's $RATE Mbit/s), \`nb_traffic tcp-send\` / \`tcp-recv\`, a new port each time |
| measured | the sender's rate, from connect to the receiver closing after the last byte; the tracer's (or peer's) user + system CPU time (/proc) over the same interval; the tracer's JSON summary (events read, events lost) and segments; the packets each peer matched |
| rounds | $ROUNDS (wanted $WANTED, no new one after ${MAX_SECS} s), four transfers each: baseline, tracer, tcpdump, bpftrace, in the ${#ORDERS[@]} orders of a Williams design in turn (each at every position, and right after every other one, equally often), after one warm-up; $KEPT undisturbed ($USE used; a round during which another run's \`nb_\` programs were loaded is not counted) |
| pinning | sender \`taskset -c 0\` (veth runs the whole path in its softirq: CPU 0 limits the rate, and the tracer's BPF programs run there), receiver \`taskset -c 1\`, tracer unpinned (no CPU to spare on 2 vCPUs; beside the receiver it slowed the receiver) |
| tracer | \`tcp_path_tracer --netns nbhvA --rx-iface vnet0 --tx-iface ens4f0 --dst-port PORT --timeout-ms $TMO --json\` (output to a file): every data packet and ACK of the flow is an event, joined by byte range |
| tcpdump | $(tcpdump --version 2>&1 | head -n1), one per interface the tracer traces, in hvA: \`tcpdump -n -i vnet0 -w /dev/null 'tcp and ((src host $IP_A and dst host $IP_B and dst port PORT) or (src host $IP_B and dst host $IP_A and src port PORT))'\`, the same on ens4f0, default snapshot length (whole packets); the transfer starts once both said "listening on" |
| bpftrace | $(bpftrace --version), \`bpftrace tests/bench/peer_tcp.bt\` with hvA's namespace inode, the ifindexes of vnet0 and ens4f0, the two addresses and PORT, output to /dev/null: the tracepoints netif_receive_skb and net_dev_start_xmit (those of the tracer's tracepoint fallback; bpftrace cannot attach tcx), filtered on namespace, device, IPv4, TCP, the addresses and the port, a printf of time, hook, device, sequence and acknowledgment numbers and IP length per matching packet; the transfer starts once the kernel lists both tracepoints attached |
| offload | $OFFLOAD (lab default): segments are GSO super-packets of up to 64 KiB |

B = baseline, T = tracer attached, D = tcpdump, P = bpftrace. Packets: the tracer's events, the
packets each peer's filter passed; lost: the tracer's lost events, tcpdump's "dropped by
kernel" (its buffer was full).

| round | order | B Mbit/s | T Mbit/s | D Mbit/s | P Mbit/s | T / B | T / D | T / P | CPU T / D / P | packets T / D / P | lost T / D | segments |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
$ROWS
| **median** | | **$(printf '%.0f' "$BASE")** | **$(printf '%.0f' "$TOOL")** | **$(printf '%.0f' "$DUMP")** | **$(printf '%.0f' "$BT")** | **$RATIO** ($ST) | **$VS_DUMP** | **$VS_BT** | $CPU / $DUMP_CPU / $BT_CPU % | $TOOL_EV / $DUMP_SEEN / $BT_SEEN | $LOSTSUM / $DUMP_DROPS in all | $SEGSUM in all |

**Against the peers (issue 11): tracer / tcpdump $VS_DUMP, tracer / bpftrace $VS_BT** (medians
of the rounds' own ratios; above 1 the tracer leaves more of the rate, so costs less), with
tcpdump / baseline $DUMP_RATIO and bpftrace / baseline $BT_RATIO. In user space, per transfer,
the tracer used a median $CPU % of a CPU, tcpdump (both processes) $DUMP_CPU % and bpftrace
$BT_CPU %. tcpdump's kernel dropped $DUMP_DROPS of the $DUMP_ALL packets its filter passed
over the counted rounds; bpftrace reports its own lost events in its output, /dev/null here.

The headline ratio is the median of the rounds' own ratios; the ratio of the medians is
$RATIO_M. Baseline transfers alone ranged from $B_MIN to $B_MAX Mbit/s: this 2-vCPU virtual
machine's speed swings by that much between transfers, more than the effect measured. The
tracer used a median $CPU % of one CPU while a transfer ran, about $NS_EV ns per event read
(its own processing, the ring buffer's wakeups and its share of the kernel), and printed a
JSON line per segment. Its model alone (\`build/bench/bench_tcp\`: nb_path over a synthetic
3 GB stream of 64 KB segments at this rate with the same timeout, pinned to CPU 1, no kernel
and no output) took a median $MODEL_NS ns per event over 5 runs. With TSO and GSO off every
segment would be one MSS: some 45 times more events for the same bytes.

In one more traced transfer with \`kernel.bpf_stats_enabled=1\` (not in the medians), the
tracer's BPF programs ran $BPF_NS_EV ns per event of the flow on average (over all their runs,
the early rejections of the other packets on the traced devices included), $BPF_SHARE % of CPU 0's
time over the transfer: on this CPU-0-bound path that alone predicts a ratio near
$(awk -v s="$BPF_SHARE" 'BEGIN { printf "%.2f", 1 - s / 100 }').

The reported segments hold $COVER % of the bytes sent ($TRACED of $SENT), $BAD of them not
COMPLETE, $INF still in flight at exit. Bytes never seen at the first stage make no segment,
so they could not be reported lost: with the device tracepoints 0.03 to 0.1 % of a transfer
was never seen at any hook while every kernel-side counter stayed at 0; the tcx hooks,
which run in the receive and transmit paths themselves, see every byte.
EOF
} >"$BENCH_OUT/tcp.md"
[ "$USE" = all ] && exit 4
exit 0
