#!/bin/sh
# run-fuzz.sh SECONDS FUZZER...: runs each libFuzzer target for a bounded
# time on its own corpus directory (build/fuzz/corpus-NAME, not committed)
# and prints "N passed, N failed" (a target passes when it found nothing).
set -u
secs=$1; shift
pass=0 fail=0
for f in "$@"; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	dir=$(dirname "$f")     # corpora and logs beside the fuzzer (its BUILD)
	corpus=$dir/corpus-$name
	mkdir -p "$corpus"
	if "$f" -max_total_time="$secs" -print_final_stats=1 "$corpus" >"$dir/$name.log" 2>&1; then
		runs=$(LC_ALL=C sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$name.log" | tail -n 1)
		echo "ok   $name: ${runs:-?} runs in ${secs}s"
		pass=$((pass + 1))
	else
		echo "FAIL $name (log: $dir/$name.log)"
		tail -n 30 "$dir/$name.log"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
