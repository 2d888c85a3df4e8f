# Sourced by the benchmark scripts (tests/bench/*.sh, run by tests/bench/run.sh).
#
# A benchmark measures and reports; it never fails because a number missed its target. Each
# script NAME.sh writes into $BENCH_OUT (default build/bench/results):
#   NAME.md    its section of docs/BENCHMARKS.md: a "## " heading, conditions, tables, notes
#   NAME.sum   one line per headline number: METRIC|VALUE|TARGET|OK or MISSED (or -)
# and exits 0 when it measured (targets met or not), 3 when it could not run here (skipped,
# e.g. the lab is in use by another run), 4 when it measured but the machine was too busy for
# the numbers to stand (they stay out of docs/BENCHMARKS.md), anything else on an error.
# shellcheck shell=bash

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$BENCH_DIR/../e2e/lib.sh" # on_exit, wait_for, lab_up (lab down at exit), need_root
TRAFFIC=$REPO/build/tests/tools/nb_traffic
BENCH_OUT=${NB_BENCH_OUT:-$REPO/build/bench/results}
LAB_STATE=/run/netblame-lab
IP_A=198.18.0.1
IP_B=198.18.0.2
export TRAFFIC BENCH_OUT IP_A IP_B

# bench_init NAME: starts a benchmark's output files and its scratch folder $TMP.
bench_init() {
	BENCH_NAME=$1
	mkdir -p "$BENCH_OUT" || exit 1
	: >"$BENCH_OUT/$BENCH_NAME.sum"
	rm -f "$BENCH_OUT/$BENCH_NAME.md"
	TMP=$(mktemp -d "/tmp/nb-bench-$BENCH_NAME.XXXXXX") || exit 1
	on_exit "rm -rf '$TMP'"
}

# bench_need FILE...: every program the benchmark runs must have been built.
bench_need() {
	local f
	for f in "$@"; do
		[ -x "$f" ] || fail "${f#"$REPO"/} is missing (run: make bench)"
	done
}

# The rounds of a benchmark that compares conditions: $TMP/rounds, a line per measurement,
# "ROUND TAG VALUE...", the rounds in ROUND_SKIP (space-separated) left out, and "stats" lines
# never a round.
# rounds_col TAG [COLUMN]: that column (3 by default) of TAG's measurements, a line each.
rounds_col() {
	awk -v t="$1" -v c="${2:-3}" -v skip=" ${ROUND_SKIP:-} " \
		'$2 == t && $1 != "stats" && !index(skip, " " $1 " ") { print $c }' "$TMP/rounds"
}

# round_median TAG [COLUMN]: the median of rounds_col, rounded to an integer.
round_median() { rounds_col "$@" | median | xargs printf '%.0f'; }

# round_ratio A B [COLUMN]: the median over the rounds of each round's A / B in %, one decimal:
# a round's measurements are next to each other in time, so their ratio is the fair one.
round_ratio() { round_ratios "$@" | median | xargs printf '%.1f'; }

# round_ratios A B [COLUMN]: each round's A / B in %, a line each.
round_ratios() {
	awk -v a="$1" -v b="$2" -v c="${3:-3}" -v skip=" ${ROUND_SKIP:-} " '
		$1 != "stats" && !index(skip, " " $1 " ") { v[$1, $2] = $c; r[$1] = 1 }
		END { for (p in r) if (v[p, b] && ((p, a) in v)) printf "%.2f\n", 100 * v[p, a] / v[p, b] }' \
		"$TMP/rounds"
}

# round_ratio_ci A B [COLUMN]: "LOW-HIGH", a 95 % confidence interval of round_ratio's median,
# from the order statistics (the ranks n/2 -+ 0.98 sqrt(n), a sign test's, which assumes
# nothing of the ratios' distribution): whether a median near a target is above it or only
# this run's luck. Fewer than 6 rounds: "-".
round_ratio_ci() {
	round_ratios "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR < 6) { print "-"; exit }
		      k = int(NR / 2 - 0.98 * sqrt(NR)); if (k < 1) k = 1
		      printf "%.1f-%.1f\n", v[k], v[NR - k + 1] }'
}

# median: of the numbers on stdin, one per line.
median() {
	sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "nan"
		      else if (NR % 2) print v[(NR + 1) / 2]
		      else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# kv KEY LINE: the value of KEY in a `key=value ...` line.
kv() {
	local w
	for w in $2; do
		[ "${w%%=*}" = "$1" ] && echo "${w#*=}" && return 0
	done
	echo "?"
}

# target_status VALUE OP TARGET: OK or MISSED, OP being >= or <.
target_status() {
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 < t + 0)
		print (v ~ /^[0-9.]+$/ && ok) ? "OK" : "MISSED" }'
}

# The project's rule for a tool's own cost (docs/BENCHMARKS.md, Method): within 2 % of the
# floor, the same hooks with empty programs.
# shellcheck disable=SC2034 # read by the benchmarks that source this file
FLOOR_TARGET=98

# btn_slices ROUNDS SECONDS: a monitor against its floor (tun.sh, ovs.sh), on one long load the
# caller keeps running: ROUNDS rounds of B (baseline), T (the tool), N (the floor: the tool with
# its programs emptied), each round in the next order of a Williams design (sets ORDERS), each
# condition measured over a slice of SECONDS of that load, after one warm-up slice. Short slices
# next to each other see the same machine: this one's speed drifts by a quarter within minutes
# (docs/BENCHMARKS.md), more than a tool costs, and a round of separate floods, each with its
# own sender start, spanned ten seconds of that drift. The caller defines `count`, which sets
# COUNT to the load's cumulative counters with shell built-ins only (no process started in the
# slice), tool_start [noop] and tool_stop; a slice appends "ROUND TAG RATE..." to $TMP/rounds,
# a rate per counter, per second.
btn_slices() {
	local p c
	mapfile -t ORDERS < <(orders B T N)
	: >"$TMP/rounds"
	slice 0 warm "$2"
	: >"$TMP/rounds"
	for ((p = 1; p <= $1; p++)); do
		for c in ${ORDERS[(p - 1) % ${#ORDERS[@]}]}; do
			case $c in
			B) slice "$p" base "$2" ;;
			T) tool_start && slice "$p" tool "$2" && tool_stop ;;
			N) tool_start noop && slice "$p" noop "$2" && tool_stop ;;
			esac
		done
	done
}

# slice ROUND TAG SECONDS: the rates of the caller's counters over the next SECONDS.
slice() {
	local a t0 t1 i line=("$1" "$2")
	count
	a=("${COUNT[@]}")
	t0=$EPOCHREALTIME
	sleep "$3"
	count
	t1=$EPOCHREALTIME
	for ((i = 0; i < ${#a[@]}; i++)); do
		line+=("$(awk -v a="${a[i]}" -v b="${COUNT[i]}" -v s="$t0" -v e="$t1" \
			'BEGIN { printf "%.0f", (b - a) / (e - s) }')")
	done
	echo "${line[*]}" >>"$TMP/rounds"
	printf '  %-5s %-5s %s\n' "$1" "$2" "${line[*]:2}"
}

# flood_start NS DST: the long UDP flood btn_slices measures, from namespace NS to DST:PORT,
# SIZE-byte datagrams, the sender pinned to CPU 0 (sets SEND_PID; stopped at exit, or by
# the caller, who also reads its counters, /proc/SEND_PID/net/dev being NS's).
flood_start() {
	ip netns exec "$1" taskset -c 0 "$TRAFFIC" udp-send --dst "$2" --port "$PORT" --size "$SIZE" \
		--duration 86400 >"$TMP/load.out" 2>"$TMP/load.err" &
	SEND_PID=$!
	on_exit "kill $SEND_PID 2>/dev/null"
	sleep 0.5
}

# netdev_count PID DEV: sets COUNT to DEV's "rx_packets tx_packets tx_dropped" as the network
# namespace of process PID sees them (/proc/PID/net/dev, read with built-ins).
netdev_count() {
	local l f
	while read -r l; do
		[ "${l%%:*}" = "$2" ] || continue
		read -ra f <<<"${l#*:}"
		COUNT=("${f[1]}" "${f[9]}" "${f[11]}")
		return 0
	done <"/proc/$1/net/dev"
	fail "no $2 in /proc/$1/net/dev"
}

# floor_bound_status RATIO FLOOR_RATIO TARGET: a tool / baseline ratio's status. When the floor
# (the same hooks with empty programs) is itself below the target, no program on those hooks can
# reach it: MISSED says so, and the tool is judged against the floor instead.
floor_bound_status() {
	if [ "$(target_status "$1" ">=" "$3")" = OK ]; then
		echo OK
	elif [ "$(target_status "$2" ">=" "$3")" = MISSED ]; then
		echo "MISSED (floor $2 %)"
	else
		echo MISSED
	fi
}

# result METRIC VALUE TARGET STATUS: one headline number, printed and kept for the summary.
result() {
	echo "$1|$2|$3|$4" >>"$BENCH_OUT/$BENCH_NAME.sum"
	if [ "$4" = MISSED ]; then
		printf 'RESULT %-34s %-14s target %-10s *** MISSED ***\n' "$1" "$2" "$3"
	else
		printf 'RESULT %-34s %-14s target %-10s %s\n' "$1" "$2" "$3" "$4"
	fi
}

# skip REASON: this benchmark cannot run now; says why in its section and exits 3.
skip() {
	echo "SKIPPED: $*"
	echo "-|not measured: $*|-|SKIPPED" >"$BENCH_OUT/$BENCH_NAME.sum"
	exit 3
}

# bench_lab_up ARGS: the lab namespaces are global, and the end-to-end tests of other
# checkouts use them too. Waits up to NB_BENCH_LAB_WAIT seconds (default 60) for a lab that
# someone else brought up to go away, rather than rebuilding it under their feet; then brings
# it up with ARGS, and down again when the benchmark exits. Under tests/bench/run.sh, which
# brings the lab up once for all lab benchmarks (NB_BENCH_LAB_SHARED=1), the lab it built is
# used as it is and left up.
bench_lab_up() {
	local wait=${NB_BENCH_LAB_WAIT:-60} i
	LAB_ARGS="$*"
	if [ "${NB_BENCH_LAB_SHARED:-0}" = 1 ] && lab_intact; then
		return 0
	fi
	for ((i = 0; i < wait * 2; i++)); do
		[ -e "$LAB_STATE/config" ] || break
		[ "$i" = 0 ] && echo "waiting up to ${wait}s for the lab, in use by another run..."
		sleep 0.5
	done
	[ -e "$LAB_STATE/config" ] && skip "the lab was in use by another run for ${wait} s"
	lab_up "$@" >/dev/null
}

# lab_intact: true while the lab is still the one this benchmark built (another run's
# `tests/lab up` with other options rebuilds it, which would void a measurement).
lab_intact() {
	local want=tap
	[[ " $LAB_ARGS " == *" veth "* ]] && want=veth
	grep -qx "VMB=$want" "$LAB_STATE/config" 2>/dev/null && [ -e "$LAB_STATE/up" ]
}

# offload_state: tso/gso/gro of vmA's veth, e.g. "tso on, gso on, gro off" (every lab veth
# is created the same way; `tests/lab offload` changes them all together).
offload_state() {
	ip netns exec nbvmA ethtool -k eth0 2>/dev/null | awk -F': ' '
		/^tcp-segmentation-offload:/ { t = $2 }
		/^generic-segmentation-offload:/ { g = $2 }
		/^generic-receive-offload:/ { r = $2 }
		END { printf "tso %s, gso %s, gro %s", t, g, r }' | sed 's/ \[fixed\]//g'
}

# --- Peers (issue 11): what an operator runs instead of the tool, measured in the same rounds
# as the tool and the empty-program floor: tcpdump on each interface the tool traces, and a
# bpftrace program (tests/bench/peer_*.bt) on the device tracepoints the tool's tracepoint
# fallback uses (bpftrace has no tcx attach).

# orders LETTER...: a Williams design over these conditions, one order per line: each comes
# at every position, and right after every other one, equally often (N orders for N conditions
# when N is even, 2N when it is odd), so a drift of the machine, or what one condition leaves
# behind for the next, weighs on all alike; a fixed set, not all N! permutations.
orders() {
	local n=$# c=("$@") first=(0) i j row
	for ((j = 1; j < n; j++)); do
		if ((j % 2)); then first+=($(((j + 1) / 2))); else first+=($((n - j / 2))); fi
	done
	for ((i = 0; i < n; i++)); do
		row=()
		for ((j = 0; j < n; j++)); do row+=("${c[(first[j] + i) % n]}"); done
		echo "${row[*]}"
	done
	((n % 2)) || return 0
	for ((i = 0; i < n; i++)); do
		row=()
		for ((j = n - 1; j >= 0; j--)); do row+=("${c[(first[j] + i) % n]}"); done
		echo "${row[*]}"
	done
}

# peer_init: both peers installed (deploy/install-deps.sh), and tracefs mounted for bpftrace's
# tracepoints (this machine may not mount it; unmounted again at exit when mounted here).
peer_init() {
	local t
	for t in tcpdump bpftrace; do
		command -v $t >/dev/null || fail "$t is missing (run: make deps)"
	done
	if [ ! -e /sys/kernel/tracing/events ]; then
		mount -t tracefs nodev /sys/kernel/tracing || fail "cannot mount tracefs for bpftrace"
		on_exit "umount /sys/kernel/tracing"
	fi
}

# be32 IPV4 / be16 PORT: the number the kernel reads from that field in network order on this
# (little-endian) machine, to compare with in a bpftrace program.
be32() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	echo $((a | b << 8 | c << 16 | d << 24))
}
be16() { echo $((($1 >> 8) | ($1 & 255) << 8)); }

# peer_ids NODE IFACE...: the bpftrace programs' first arguments: NODE's namespace inode and
# the interfaces' ifindexes in it.
peer_ids() {
	local ns=nb$1 i
	shift
	stat -L -c %i "/run/netns/$ns" || fail "no namespace $ns"
	for i in "$@"; do
		ip -n "$ns" -o link show "$i" | cut -d: -f1 | grep . || fail "no $i in $ns"
	done
}

PEER_PIDS= # the running peer's processes
PEER_KIND=

# tcpdump_start NODE FILTER IFACE...: `tcpdump -n -w /dev/null FILTER` on each IFACE in the
# lab node's namespace (one process each, as `tcpdump -i` takes one), unpinned like the tool;
# returns once each has said "listening on".
tcpdump_start() {
	local node=$1 filter=$2 i pid
	shift 2
	PEER_KIND=tcpdump PEER_PIDS='' PEER_IFS="$*"
	for i in "$@"; do
		# Emptied here: the child's own redirection may come after the check below has
		# found the previous run's line there.
		: >"$TMP/tcpdump.$i.err"
		"$LAB" exec "$node" tcpdump -n -i "$i" -w /dev/null "$filter" >/dev/null \
			2>"$TMP/tcpdump.$i.err" &
		pid=$!
		on_exit "kill $pid 2>/dev/null"
		PEER_PIDS+="$pid "
	done
	for i in "$@"; do
		wait_for 10 grep -q '^tcpdump: listening on' "$TMP/tcpdump.$i.err" ||
			fail "tcpdump -i $i did not start: $(cat "$TMP/tcpdump.$i.err")"
	done
}

# bpftrace_start PROGRAM ARG...: bpftrace runs PROGRAM in the root namespace (the tracepoints
# see every namespace), its output to /dev/null; returns once the kernel lists both of its
# tracepoints as attached (its "Attaching" line goes to the same output as its events).
bpftrace_start() {
	local pid
	PEER_KIND=bpftrace
	bpftrace "$@" >/dev/null 2>"$TMP/bpftrace.err" &
	pid=$!
	PEER_PIDS="$pid "
	on_exit "kill $pid 2>/dev/null"
	wait_for 30 bpftrace_attached "$pid" ||
		fail "bpftrace did not attach: $(grep -v RLIMIT_MEMLOCK "$TMP/bpftrace.err")"
}

bpftrace_attached() {
	kill -0 "$1" 2>/dev/null || return 1
	[ "$(bpftool -j perf 2>/dev/null | jq --argjson p "$1" '[.[] | select(.pid == $p and
		(.tracepoint == "netif_receive_skb" or .tracepoint == "net_dev_start_xmit"))]
		| length')" = 2 ]
}

# held_ids prog|map PID: the ids of the BPF programs or maps PID holds a descriptor of, one a
# line. Through cat: awk gives up at the first descriptor closed since the glob was expanded.
held_ids() {
	cat /proc/"$2"/fdinfo/* 2>/dev/null | awk -v k="$1_id:" '$1 == k { print $2 }' | sort -u
}

# bpftrace_count PID: its @n, a per-CPU count, read from the kernel (its output is /dev/null).
bpftrace_count() {
	local id
	id=$(held_ids map "$1" | while read -r m; do
			bpftool -j map show id "$m" | jq -r 'select(.name == "AT_n") | .id'
		done)
	[ -n "$id" ] || fail "bpftrace holds no map @n"
	bpftool -j map dump id "$id" | jq '
		def hex: ltrimstr("0x") | explode | reduce .[] as $c (0; . * 16 +
			(if $c >= 97 then $c - 87 elif $c >= 65 then $c - 55 else $c - 48 end));
		[.[].values[].value | reverse | reduce .[] as $b (0; . * 256 + ($b | hex))] | add // 0'
}

# peer_stop: ends the running peer; PEER_SEEN: the packets it matched, PEER_DROPS: those it
# matched but lost (tcpdump: "dropped by kernel"; bpftrace: -, it does not count them).
peer_stop() {
	local pid i rc
	PEER_DROPS=-
	if [ "$PEER_KIND" = bpftrace ]; then
		pid=${PEER_PIDS%% *}
		PEER_SEEN=$(bpftrace_count "$pid")
		kill -INT "$pid"
		wait "$pid"
		rc=$?
		[ "$rc" = 0 ] || fail "bpftrace exited $rc: $(grep -v RLIMIT_MEMLOCK "$TMP/bpftrace.err")"
	else
		for pid in $PEER_PIDS; do kill -INT "$pid"; done
		for pid in $PEER_PIDS; do
			wait "$pid" || fail "tcpdump exited $?: $(cat "$TMP"/tcpdump.*.err)"
		done
		PEER_SEEN=0 PEER_DROPS=0
		for i in $PEER_IFS; do
			# Those its filter passed, whether or not tcpdump read them before it was
			# stopped ("captured").
			PEER_SEEN=$((PEER_SEEN + $(awk '/packets received by filter$/ { print $1 }' \
				"$TMP/tcpdump.$i.err")))
			PEER_DROPS=$((PEER_DROPS + $(awk '/packets dropped by kernel$/ { print $1 }' \
				"$TMP/tcpdump.$i.err")))
		done
	fi
	PEER_PIDS='' PEER_KIND=''
}
