#!/bin/bash
# Runs every benchmark (`make bench` runs this after building), prints the results and
# regenerates docs/BENCHMARKS.md: the numbers, the conditions they were measured in and the
# method.
#
#   tests/bench/run.sh [NAME...]      NAME: one of BENCHES below (default: all)
#
# Each benchmark is tests/bench/NAME.sh (the output contract is at the top of lib.sh) and runs
# under a time limit; the whole run stays within NB_BENCH_BUDGET seconds (default 2700, which
# the sum of the limits stays under, so a plain `make bench` measures everything).
# NB_BENCH_NOTE, when set, goes into the report's conditions as it is (say there what the
# machine was doing that the numbers cannot show, e.g. other people's builds).
# Benchmarks measure and report, they do not judge: a missed target prints MISSED and the exit
# code is still 0. Exit 1 means the run is incomplete (a benchmark failed, timed out or could
# not get the lab, or measured on a machine too busy for its numbers to stand); docs/BENCHMARKS.md
# is then left alone, and so it is when only some benchmarks were asked for. On a machine that
# is never quiet, NB_BENCH_KEEP_UNRELIABLE=1 writes it all the same: such a section keeps its
# UNRELIABLE banner, and the summary says NOISY. The newest report is always in
# build/bench/results/.
set -u
cd "$(dirname "$0")/../.." || exit 1
REPO=$PWD
OUT=$REPO/build/bench/results
DOC=docs/BENCHMARKS.md
BUDGET=${NB_BENCH_BUDGET:-2700}
LAB_STATE=/run/netblame-lab

# In the order of the report. Each has a time limit in seconds and a title.
BENCHES=(overhead start rss join transport)
LAB_BENCHES=" overhead start rss transport "
declare -A LIMIT=([overhead]=240 [start]=45 [rss]=40 [join]=60 [transport]=90)
declare -A TITLE=(
	[overhead]="Overhead on traffic that does not match the filter (issues 2 and 11)"
	[start]="Start to attached (issue 2)"
	[rss]="Peak RSS of the tool (issue 2)"
	[join]="Join engine alone (issue 3)"
	[transport]="Agent to coordinator transport (issue 3)"
)
BENCHES+=(drop) LAB_BENCHES+="drop " LIMIT[drop]=80 TITLE[drop]="eth_drop: overhead and drops at a high rate (issue 5)"
BENCHES+=(latover) LAB_BENCHES+="latover " LIMIT[latover]=240 TITLE[latover]="vm_network_latency_details: overhead on traffic that does not match the filter (issue 12)"
BENCHES+=(tcp) LAB_BENCHES+="tcp " LIMIT[tcp]=170 TITLE[tcp]="TCP bulk transfer traced by tcp_path_tracer (issues 4 and 11)"
BENCHES+=(latsum) LAB_BENCHES+="latsum " LIMIT[latsum]=300 TITLE[latsum]="Latency summary tools on matching traffic (issue 12)"
BENCHES+=(latcost) LAB_BENCHES+="latcost " LIMIT[latcost]=60 TITLE[latcost]="Latency summary: BPF cost per datagram, kernel accounting (issue 12)"
# Its own lab (the tap VM), after the shared one is down.
BENCHES+=(tun) LIMIT[tun]=150 TITLE[tun]="tun_ring_monitor on a tap flood (issue 13)"
BENCHES+=(tun_other) LIMIT[tun_other]=150 TITLE[tun_other]="tun_ring_monitor's cost to another VM's tap (issue 13)"
BENCHES+=(tools) LIMIT[tools]=180 TITLE[tools]="New tools: start and peak RSS (issue 12)"
BENCHES+=(ovs) LIMIT[ovs]=180 TITLE[ovs]="ovs_upcall_latency_summary on an established flow (issue 13)"
BENCHES+=(agents) LIMIT[agents]=120 TITLE[agents]="netblame agents across 200 agents (issue 14)"
BENCHES+=(coord200) LIMIT[coord200]=240 TITLE[coord200]="One coordinator, 200 agents (issue 15)"
BENCHES+=(runbook) LIMIT[runbook]=60 TITLE[runbook]="netblame runbook: start to first step (issue 14)"

if [ $# -gt 0 ]; then
	for n in "$@"; do
		if [ -z "${LIMIT[$n]:-}" ]; then
			echo "bench: unknown benchmark '$n' (${BENCHES[*]})" >&2
			exit 2
		fi
	done
	SELECTED=" $* "
else
	SELECTED=" ${BENCHES[*]} "
fi
[ "$(id -u)" = 0 ] || { echo "bench: must run as root (the lab and BPF need it)" >&2; exit 1; }

# End-to-end tests, benchmarks and the demo take turns on one machine-wide lock (see
# need_root in tests/e2e/lib.sh): held for the whole run, so no test's lab, BPF programs or
# CPU load lands between two measurements. Children inherit it; NB_E2E_LOCKED tells the
# benchmark scripts it is already held. The time budget starts once it is taken.
LOCK_WAIT=${NB_BENCH_LOCK_WAIT:-300}
exec 9>/run/lock/netblame-e2e.lock || exit 1
if ! flock -n 9; then
	echo "bench: waiting up to ${LOCK_WAIT}s for a netblame test or benchmark to finish"
	if ! flock -w "$LOCK_WAIT" 9; then
		echo "bench: the machine-wide test lock stayed taken for ${LOCK_WAIT}s" >&2
		exit 1
	fi
fi
export NB_E2E_LOCKED=1

rm -rf "$OUT"
mkdir -p "$OUT" || exit 1
export NB_BENCH_OUT=$OUT
T_START=$SECONDS
declare -A STATUS

# --- Conditions, taken before anything runs.
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
tpc=$(lscpu 2>/dev/null | awk -F': *' '/^Thread\(s\) per core/ { print $2 }')
clang_v=$(clang --version 2>/dev/null | awk '/version/ { print $NF; exit }')
hyper=$(lscpu 2>/dev/null | awk -F': *' '/^Hypervisor vendor/ { print $2 }')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] &&
	commit="$commit (plus uncommitted changes in the working tree)"
COND=(
	"date|$(date -u '+%Y-%m-%d %H:%M UTC')"
	"kernel|$(uname -r) ($(uname -m))"
	"distribution|$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
	"CPU|$cpu_model${hyper:+, virtual machine ($hyper)}"
	"cores|$(nproc) online (${tpc:-?} thread(s) per core)"
	"memory|$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	"compiler|$(gcc --version | head -n1), clang ${clang_v:-?}"
	"libbpf|$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || echo "?")"
	"commit|$commit"
	"load average at start|$(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
)
[ -n "${NB_BENCH_NOTE:-}" ] && COND+=("note|$NB_BENCH_NOTE")

lab_owned=0
lab_release() {
	if [ "$lab_owned" = 1 ]; then
		tests/lab down >/dev/null || echo "bench: WARN: tests/lab down failed" >&2
		lab_owned=0
	fi
}
# A benchmark runs in the process group `timeout` makes, where ^C does not reach it: pass the
# signal on and let it clean up (its lab processes, its agents) before the lab goes down.
BENCH_PID=
# shellcheck disable=SC2317 # called from the traps
on_signal() {
	if [ -n "$BENCH_PID" ]; then
		kill -TERM "$BENCH_PID" 2>/dev/null
		wait "$BENCH_PID" 2>/dev/null
	fi
	exit "$1"
}
trap 'lab_release' EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# The lab benchmarks share one lab (NB_BENCH_LAB_SHARED): brought up before the first, down
# after the last. The namespaces are global, so a lab someone else brought up is waited for
# (up to NB_BENCH_LAB_WAIT s), never rebuilt under their feet.
lab_acquire() {
	local wait=${NB_BENCH_LAB_WAIT:-60} i
	for ((i = 0; i < wait * 2; i++)); do
		[ -e "$LAB_STATE/config" ] || break
		[ "$i" = 0 ] && echo "bench: the lab is in use by another run; waiting ${wait}s"
		sleep 0.5
	done
	[ -e "$LAB_STATE/config" ] && return 1
	lab_owned=1
	tests/lab up --vmb veth >/dev/null || return 1
	export NB_BENCH_LAB_SHARED=1
	# Read once while the lab is up: every lab veth is created alike.
	COND+=("lab veth offload|$(ip netns exec nbvmA ethtool -k eth0 | awk -F': ' '
		/^tcp-segmentation-offload:/ { t = $2 } /^generic-segmentation-offload:/ { g = $2 }
		/^generic-receive-offload:/ { r = $2 }
		END { printf "tso %s, gso %s, gro %s (lab default, not changed)", t, g, r }')")
}

lab_needed_later() {
	local b
	for b in "$@"; do
		[[ $LAB_BENCHES == *" $b "* ]] && [[ $SELECTED == *" $b "* ]] &&
			[ -f "tests/bench/$b.sh" ] && return 0
	done
	return 1
}

lab_tried=0
lab_ok=0
for ((k = 0; k < ${#BENCHES[@]}; k++)); do
	b=${BENCHES[k]}
	[[ $SELECTED == *" $b "* ]] || continue
	if [ ! -f "tests/bench/$b.sh" ]; then
		STATUS[$b]=pending
		echo "=== $b: no tests/bench/$b.sh yet (placeholder in the report)"
		continue
	fi
	if [[ $LAB_BENCHES == *" $b "* ]] && [ "$lab_tried" = 0 ]; then
		lab_tried=1
		if lab_acquire; then
			lab_ok=1
		else
			echo "bench: could not get the lab: the lab benchmarks are skipped"
			lab_release
		fi
	fi
	if [[ $LAB_BENCHES == *" $b "* ]] && [ "$lab_ok" = 0 ]; then
		STATUS[$b]=skipped
		echo "-|not measured: the lab was in use by another run|-|SKIPPED" >"$OUT/$b.sum"
		continue
	fi
	left=$((BUDGET - (SECONDS - T_START)))
	limit=${LIMIT[$b]}
	[ "$left" -lt "$limit" ] && limit=$left
	if [ "$limit" -lt 10 ]; then
		STATUS[$b]="not run (the ${BUDGET}s budget was used up)"
		echo "=== $b: not run, the ${BUDGET}s budget is used up"
		continue
	fi
	echo "=== $b (limit ${limit}s)"
	t0=$SECONDS
	timeout -k 5 "$limit" bash "tests/bench/$b.sh" > >(tee "$OUT/$b.log") 2>&1 &
	BENCH_PID=$!
	wait "$BENCH_PID"
	rc=$?
	BENCH_PID=
	case $rc in
	0) STATUS[$b]=measured ;;
	3) STATUS[$b]=skipped ;;
	4) STATUS[$b]="unreliable (the machine was busy: see build/bench/results/$b.md)" ;;
	124 | 137) STATUS[$b]="timed out after ${limit}s" ;;
	*) STATUS[$b]="failed (exit $rc)" ;;
	esac
	echo "=== $b: ${STATUS[$b]} in $((SECONDS - t0))s"
	# The lab goes down as soon as no later benchmark needs it.
	[ "$lab_owned" = 1 ] && ! lab_needed_later "${BENCHES[@]:k+1}" && lab_release
done
lab_release
COND+=("load average at end|$(cut -d' ' -f1-3 /proc/loadavg)")
COND+=("run time|$((SECONDS - T_START)) s for the whole run")

# --- The report.
placeholder_transport() {
	cat <<'EOF'
## Agent to coordinator transport (issue 3)

> **PLACEHOLDER: not measured yet.** Targets (issue 3): agent to coordinator over loopback with
> a synthetic event source, at least 500k events/s sustained with zero loss; CPU per event on
> both sides.
>
> To fill this section, add `tests/bench/transport.sh` following the contract at the top of
> `tests/bench/lib.sh` (write `transport.md`, this section, and `transport.sum`, its headline
> numbers, into `$BENCH_OUT`; exit 0 when it measured, also when a target is missed).
> `tests/bench/run.sh` already runs it here, within 90 s, and its section replaces this text.
EOF
}

incomplete=0
{
	cat <<EOF
# Benchmarks

Generated by \`make bench\` (\`tests/bench/run.sh\`); edit the scripts in \`tests/bench/\`, not
this file, and run it again. Every number below comes from the one run described under
Conditions.

## Summary

| benchmark | metric | value | target | status |
|---|---|---|---|---|
EOF
	for b in "${BENCHES[@]}"; do
		if [ "${STATUS[$b]:-}" = pending ]; then
			echo "| $b | - | not measured yet (placeholder below) | - | PENDING |"
			continue
		fi
		if [ -s "$OUT/$b.sum" ]; then
			while IFS='|' read -r m v t s; do
				[ "$s" = MISSED ] && s="**MISSED**"
				echo "| $b | $m | $v | $t | $s |"
			done <"$OUT/$b.sum"
		else
			echo "| $b | - | ${STATUS[$b]:-not run} | - | - |"
		fi
	done
	cat <<EOF

## Conditions

| item | value |
|---|---|
EOF
	for c in "${COND[@]}"; do
		echo "| ${c%%|*} | ${c#*|} |"
	done
	cat <<'EOF'

## Method

All benchmarks run in one go on the machine described above, each under its time limit (the whole
run within 40 minutes, `NB_BENCH_BUDGET` seconds). The run holds the machine-wide lock the end-to-end tests take, so no test
of the project runs meanwhile; the lab benchmarks share one `tests/lab up --vmb veth` lab, built
for the run and torn down after it. The machine is otherwise not isolated (see the load
averages; it is a 2-vCPU virtual machine whose speed also swings by itself), so every comparison
is made within the same run, and the overhead benchmark guards itself three ways: its baseline,
tool, floor, tcpdump and bpftrace floods take turns in the orders of a Williams design, so drift
hits all alike, and the target is judged on each round's own ratio; a round during which other processes were busy, or another
run's BPF programs were loaded, is shown but not counted; and the floor, the same hooks with
empty programs, tells what the hooks cost apart from what the tool's programs do. The overhead
and TCP benchmarks also measure, in the same rounds, what an operator runs instead of the tool
(issue 11): tcpdump with the tool's filter on the interfaces it traces, and a bpftrace program on
the device tracepoints; tool / peer is the median of the rounds' own ratios. The traffic sender, and with it the
whole veth path (which runs in the sender's softirq), is pinned to CPU 0 and the receiver to
CPU 1; the single-threaded join benchmark runs on CPU 1. Medians, not means, are the headline
numbers, and every table says how many runs it rests on. Traffic only flows between the lab's
own addresses (198.18.0.x) or over loopback. A benchmark never fails because of a number: a
missed target is reported as MISSED, and the run still succeeds.

EOF
	for b in "${BENCHES[@]}"; do
		st=${STATUS[$b]:-}
		if [ -s "$OUT/$b.md" ] && [[ $st == measured || $st == unreliable* ]]; then
			cat "$OUT/$b.md"
		elif [ "$b" = transport ] && [ "${STATUS[$b]:-}" = pending ]; then
			placeholder_transport
		elif [[ $SELECTED == *" $b "* ]] || [ "${STATUS[$b]:-}" = pending ]; then
			printf '## %s\n\nNot measured in this run: %s.\n' "${TITLE[$b]}" \
				"${STATUS[$b]:-not run}"
		else
			printf '## %s\n\nNot part of this run.\n' "${TITLE[$b]}"
		fi
		echo
	done
} >"$OUT/BENCHMARKS.md"
# No trailing blank line at the end of the document.
sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$OUT/BENCHMARKS.md"

echo
echo "=== results"
for b in "${BENCHES[@]}"; do
	[[ $SELECTED == *" $b "* ]] || continue
	case ${STATUS[$b]:-} in
	measured) ;;
	pending) printf '%-10s PENDING  (no tests/bench/%s.sh yet)\n' "$b" "$b" ;;
	unreliable*)
		printf '%-10s %s\n' "$b" "${STATUS[$b]}"
		[ "${NB_BENCH_KEEP_UNRELIABLE:-0}" = 1 ] || incomplete=1
		;;
	*)
		printf '%-10s %s\n' "$b" "${STATUS[$b]:-not run}"
		incomplete=1
		;;
	esac
	[[ ${STATUS[$b]:-} == measured || ${STATUS[$b]:-} == unreliable* ]] || continue
	while IFS='|' read -r m v t s; do
		[ "$s" = MISSED ] && s="*** MISSED ***"
		printf '%-10s %-38s %-16s target %-12s %s\n' "$b" "$m" "$v" "$t" "$s"
	done <"$OUT/$b.sum"
done
echo
if [ "$incomplete" = 1 ]; then
	echo "bench: incomplete run: $DOC not updated (report in ${OUT#"$REPO"/}/BENCHMARKS.md)"
	exit 1
fi
if [ "$SELECTED" != " ${BENCHES[*]} " ]; then
	echo "bench: partial run: $DOC not updated (report in ${OUT#"$REPO"/}/BENCHMARKS.md)"
	exit 0
fi
cp "$OUT/BENCHMARKS.md" "$DOC"
echo "bench: $DOC written"
exit 0
