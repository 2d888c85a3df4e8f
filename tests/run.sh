#!/bin/bash
# Runs the unit tests (cmocka binaries) and the end-to-end tests (tests/e2e/*.sh), each on its own,
# and ends with "N passed, N failed". Exit 1 when anything failed.
#   tests/run.sh [unit|e2e] [NAME-FILTER]
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
