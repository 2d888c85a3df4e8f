#!/bin/bash
# Pools kept rounds of several runs of a monitor's benchmark (tun.sh, ovs.sh: B/T/N rounds of
# one flood's slices) and prints the medians of the round ratios with their 95 % intervals, as
# the benchmarks do for one run: one 36-round run's median moves by a point or two, so a
# target's margin is judged on several runs of the same programs (docs/BENCHMARKS.md).
#   tests/bench/pool.sh FILE...   (lines "ROUND TAG VALUE...", ROUND unique over the files,
#                                  TAG base, tool or noop; # comments)
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 2; }
TMP=$(mktemp -d /tmp/nb-pool.XXXXXX) || exit 1
on_exit "rm -rf '$TMP'"
grep -hv '^#' "$@" >"$TMP/rounds" || fail "no rounds in $*"
echo "rounds: $(awk '{ print $1 }' "$TMP/rounds" | sort -u | wc -l)"
for pair in "tool base" "noop base" "tool noop"; do
	# shellcheck disable=SC2086 # two words: A and B
	printf '%s / %s: %s %% (95 %% interval %s %%)\n' $pair "$(round_ratio $pair)" \
		"$(round_ratio_ci $pair)"
done
