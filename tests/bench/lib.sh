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
