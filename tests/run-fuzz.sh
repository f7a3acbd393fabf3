#!/bin/sh
# run-fuzz.sh SECONDS FUZZER...: runs each libFuzzer target for a bounded
# time on its own corpus directory (build/fuzz/corpus-NAME, not committed).
set -eu
secs=$1; shift
status=0
for f in "$@"; do
	name=$(basename "$f")
	corpus=build/fuzz/corpus-$name
	mkdir -p "$corpus"
	echo "== fuzz $name for ${secs}s"
	if ! "$f" -max_total_time="$secs" -print_final_stats=1 "$corpus" 2>build/fuzz/$name.log; then
		tail -n 40 build/fuzz/$name.log
		status=1
	else
		grep -E 'stat::number_of_executed_units|Done' build/fuzz/$name.log | tail -n 2
	fi
done
exit $status
