#!/bin/bash
# Runs the unit tests (cmocka binaries), the same unit tests built with ASan and UBSan, a bounded
# pass of every fuzz target (FUZZ_SECONDS each, default 10) and the end-to-end tests
# (tests/e2e/*.sh), each on its own, and ends with "N passed, N failed". Exit 1 when anything
# failed. The sanitizer and fuzz binaries come from `make sanitize`.
#   tests/run.sh [unit|asan|fuzz|e2e] [NAME-FILTER]
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
filter=${2:-}
pass=0
fail=0
failed=()
logdir=build/test-logs
mkdir -p "$logdir"

run_one() {
	local name=$1
	shift
	local log="$logdir/$name.log"
	mkdir -p "$(dirname "$log")"
	local t0=$SECONDS
	if "$@" >"$log" 2>&1; then
		pass=$((pass + 1))
		printf 'PASS %-40s %3ss\n' "$name" $((SECONDS - t0))
	else
		fail=$((fail + 1))
		failed+=("$name")
		printf 'FAIL %-40s %3ss (log: %s)\n' "$name" $((SECONDS - t0)) "$log"
		tail -n 30 "$log" | sed 's/^/    | /'
	fi
}

if [ "$what" = all ] || [ "$what" = unit ]; then
	for t in build/tests/test_*; do
		[ -x "$t" ] || continue
		n=$(basename "$t")
		[ -n "$filter" ] && [[ "$n" != *"$filter"* ]] && continue
		run_one "unit/$n" "$t"
	done
fi
# Any sanitizer report fails the binary: UBSan stops at the first, LeakSanitizer runs at exit.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0

# A selected kind whose binaries are missing fails: a skipped sanitizer pass must not look passed.
need_built() {
	local kind=$1
	shift
	[ -n "$filter" ] && return 0
	for f in "$@"; do
		[ -x "$f" ] && return 0
	done
	fail=$((fail + 1))
	failed+=("$kind")
	printf 'FAIL %-40s (not built: make sanitize)\n' "$kind"
}

# One bounded libFuzzer run: new inputs go to build/fuzz/work/NAME (kept between runs, so the
# corpus grows), the seeds in build/fuzz/corpus/NAME are read only, a crashing input is written
# to build/fuzz/crash/. Passes only if libFuzzer ran to its time limit and found nothing.
fuzz_one() {
	local bin=$1 name=$2 secs=$3
	local work=build/fuzz/work/$name log
	mkdir -p "$work" build/fuzz/crash
	timeout $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="build/fuzz/crash/$name-" \
		"$work" "build/fuzz/corpus/$name" || return 1
}

if [ "$what" = all ] || [ "$what" = asan ]; then
	need_built asan build/asan/tests/test_*
	for t in build/asan/tests/test_*; do
		[ -x "$t" ] || continue
		n=$(basename "$t")
		[ -n "$filter" ] && [[ "$n" != *"$filter"* ]] && continue
		run_one "asan/$n" "$t"
	done
	# test_wire wraps the allocator to count and fail allocations; valgrind must still see
	# every allocation through it.
	if [ -z "$filter" ] || [[ test_wire == *"$filter"* ]]; then
		run_one valgrind/test_wire valgrind -q --error-exitcode=1 --leak-check=full \
			build/tests/test_wire
	fi
fi
if [ "$what" = all ] || [ "$what" = fuzz ]; then
	need_built fuzz build/fuzz/fuzz_*
	for f in build/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		n=${f##*/fuzz_}
		[ -n "$filter" ] && [[ "$n" != *"$filter"* ]] && continue
		run_one "fuzz/$n" fuzz_one "$f" "$n" "${FUZZ_SECONDS:-10}"
		grep -h '^stat::number_of_executed_units' "$logdir/fuzz/$n.log" | sed 's/^stat::/    /'
	done
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "e2e tests need root" >&2
		fail=$((fail + 1))
	else
		for t in tests/e2e/test_*.sh; do
			[ -f "$t" ] || continue
			n=$(basename "$t" .sh)
			[ -n "$filter" ] && [[ "$n" != *"$filter"* ]] && continue
			run_one "e2e/$n" timeout 600 bash "$t"
		done
	fi
fi
echo
[ ${#failed[@]} -gt 0 ] && printf 'failed: %s\n' "${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
