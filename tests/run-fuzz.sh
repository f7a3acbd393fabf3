#!/bin/sh
# run-fuzz.sh SECONDS FUZZER...: runs each libFuzzer target on its own
# corpus directory (corpus-NAME beside the fuzzer, not committed) until it
# has made FUZZ_RUNS runs (0: no count goal) or SECONDS have passed,
# FUZZ_JOBS targets at a time, inputs of at most FUZZ_MAXLEN bytes (0:
# libFuzzer's own default). Prints each target's runs and rate, marks a
# target that stopped on time short of FUZZ_RUNS, and ends with
# "N passed, N failed": a target passes when it found nothing (a count
# short of the goal is reported, not failed: it depends on the machine).
set -u
secs=$1; shift
runs_goal=${FUZZ_RUNS:-0}
jobs=${FUZZ_JOBS:-1}
maxlen=${FUZZ_MAXLEN:-0}
pass=0 fail=0 short=0

one() {  # one target; writes its verdict line to $dir/$name.verdict
	f=$1
	name=$(basename "$f")
	dir=$(dirname "$f")     # corpora and logs beside the fuzzer (its BUILD)
	corpus=$dir/corpus-$name
	mkdir -p "$corpus"
	# crash, leak, timeout and slow-unit files beside the log, not in the cwd
	set -- -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$dir/$name-"
	[ "$runs_goal" -gt 0 ] && set -- "$@" -runs="$runs_goal"
	[ "$maxlen" -gt 0 ] && set -- "$@" -max_len="$maxlen"
	start=$(date +%s)
	if "$f" "$@" "$corpus" >"$dir/$name.log" 2>&1; then
		took=$(( $(date +%s) - start ))
		[ "$took" -gt 0 ] || took=1
		runs=$(LC_ALL=C sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$name.log" | tail -n 1)
		runs=${runs:-0}
		note=""
		[ "$runs_goal" -gt 0 ] && [ "$runs" -lt "$runs_goal" ] && note=" (short of $runs_goal)"
		echo "ok   $name: $runs runs in ${took}s, $((runs / took))/s$note" >"$dir/$name.verdict"
	else
		{ echo "FAIL $name (log: $dir/$name.log)"; tail -n 30 "$dir/$name.log"; } >"$dir/$name.verdict"
	fi
}

# FUZZ_JOBS lanes, each running its share of the targets one after the
# other (target k goes to lane k mod FUZZ_JOBS); verdicts in target order.
targets=""
for f in "$@"; do
	[ -x "$f" ] && [ -f "$f" ] && targets="$targets $f"
done
lane=0
while [ "$lane" -lt "$jobs" ]; do
	(
		k=0
		for f in $targets; do
			[ $((k % jobs)) -eq "$lane" ] && one "$f"
			k=$((k + 1))
		done
	) &
	lane=$((lane + 1))
done
wait
for f in $targets; do
	v=$(dirname "$f")/$(basename "$f").verdict
	cat "$v"
	case $(head -c 4 "$v") in
	"ok  ") pass=$((pass + 1)); grep -q "short of" "$v" && short=$((short + 1)) ;;
	*) fail=$((fail + 1)) ;;
	esac
	rm -f "$v"
done
[ "$runs_goal" -gt 0 ] && echo "($short of $((pass + fail)) short of $runs_goal runs)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
