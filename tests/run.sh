#!/bin/sh
# run.sh [lint|unit|fuzz|integration|bench|deploy|all]: runs the test tiers
# (all: every one, in that order) and prints one closing
# line "N passed, N failed, N skipped" summed over every suite. Each suite
# prints its own line; this script only adds them up. Exit status 0 only if
# nothing failed.
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
# The build directory make was given (make BUILD=... test): its unit tests,
# fuzzers and binary, not those of ./build.
build=${BUILD:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
export TRYON_BINARY="${TRYON_BINARY:-$build/tryon-worker}"
total_p=0 total_f=0 total_s=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() {
	# $1 = suite name; reads the suite's output from $log
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "suite $1: no closing line (crashed?)"
		total_f=$((total_f + 1))
		return
	fi
	p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
	s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
	total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + ${s:-0}))
}

if [ "$what" = lint ] || [ "$what" = all ]; then
	echo "== lint: layers, cycles, file sizes"
	/usr/bin/python3 tests/lint/check_layers.py >"$log" 2>&1
	cat "$log"
	count lint
fi
if [ "$what" = unit ] || [ "$what" = all ]; then
	for t in "$build"/unit/test_*; do
		[ -x "$t" ] || continue
		echo "== unit: $(basename "$t")"
		"$t" >"$log" 2>&1
		rc=$?
		tail -n 30 "$log" | grep -v '^$' | tail -n 8
		count "$(basename "$t")"
		[ $rc -ne 0 ] && [ "$f" = 0 ] && total_f=$((total_f + 1))
	done
fi
if [ "$what" = fuzz ] || [ "$what" = all ]; then
	# A bounded smoke run of every fuzzer (make fuzz runs them longer).
	echo "== fuzz (${TRYON_FUZZ_SECONDS:-10}s each)"
	FUZZ_JOBS=$(nproc) tests/run-fuzz.sh "${TRYON_FUZZ_SECONDS:-10}" "$build"/fuzz/fuzz_* >"$log" 2>&1
	cat "$log"
	count fuzz
fi
if [ "$what" = integration ] || [ "$what" = all ]; then
	# The test tools' own checks: the model API stand-in, the RESP proxy.
	for t in tests/lib/test_standin_selfcheck.py tests/lib/test_resp_proxy.py; do
		echo "== $(basename "$t" .py)"
		/usr/bin/python3 "$t" >"$log" 2>&1
		tail -n 3 "$log"
		count "$(basename "$t")"
	done
	echo "== integration"
	/usr/bin/python3 tests/integration/runner.py 2>&1 | tee "$log"
	count integration
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
	echo "== bench-smoke"
	/usr/bin/python3 tests/bench/bench.py --smoke >"$log" 2>&1
	tail -n 15 "$log"
	count bench-smoke
	echo "== bench-day-short"
	/usr/bin/python3 tests/bench/bench_day.py --short >"$log" 2>&1
	tail -n 20 "$log"
	count bench-day-short
fi
if [ "$what" = deploy ] || [ "$what" = all ]; then
	echo "== deploy-check"
	tests/deploy/deploy-check.sh "$build" 2>&1 | tee "$log"
	count deploy-check
fi
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" = 0 ]
