#!/bin/sh
# Runs the libFuzzer targets of tests/fuzz, each for a set time, and prints per target the inputs
# executed and the crashes found, then one closing line: "fuzz: N passed, M failed" (targets).
#
#   sh tests/fuzz/run.sh [--check] DIR SECONDS TARGET...
#
# DIR holds the binaries (DIR/fuzz_TARGET, built by `make fuzz-build`); each target grows its
# working corpus in DIR/corpus/TARGET from the committed seeds in tests/fuzz/corpus/TARGET (which
# include every input that once crashed, as regressions) and writes crashing inputs to
# DIR/artifacts/TARGET/. Logs go to DIR/logs/TARGET.log.
# Without --check (make fuzz) a target that crashes is restarted until its time is used, so the
# count is of distinct crashes. With --check (make check) the first crash ends the target; the
# seed corpus is always replayed first, so a regression fails at once.
# The fuzzers run at nice 10 (FUZZ_NICE): the machine's other work comes first.
check=0
[ "$1" = "--check" ] && { check=1; shift; }
dir=$1; secs=$2; shift 2
nice=${FUZZ_NICE:-10}
passed=0; failed=0
mkdir -p "$dir/logs"

# per-target flags: the largest input worth trying, and a per-input time limit
flags_for() {
    case $1 in
    checkpoint) echo "-max_len=65536 -timeout=20" ;;
    qmodel) echo "-max_len=65536 -timeout=20" ;;
    http) echo "-max_len=8192 -timeout=20" ;;
    *) echo "-max_len=8192 -timeout=20" ;;
    esac
}

for t in "$@"; do
    bin=$dir/fuzz_$t
    seeds=tests/fuzz/corpus/$t
    work=$dir/corpus/$t
    arts=$dir/artifacts/$t
    log=$dir/logs/$t.log
    mkdir -p "$work" "$arts" "$seeds"
    dict=; [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    before=$(ls "$arts" | wc -l)
    : > "$log"
    runs=0; left=$secs; start=$(date +%s); rc=0
    while :; do
        # shellcheck disable=SC2046
        nice -n "$nice" "$bin" "$work" "$seeds" $dict $(flags_for "$t") -max_total_time="$left" \
            -print_final_stats=1 -artifact_prefix="$arts/" -rss_limit_mb=4096 \
            >> "$log" 2>&1
        rc=$?
        n=$(grep 'stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}')
        runs=$((runs + ${n:-0}))
        # each run prints its own final stats line; drop it so a restart counts afresh
        sed -i 's/^stat::number_of_executed_units/counted::number_of_executed_units/' "$log"
        [ $rc -eq 0 ] && break
        [ $check -eq 1 ] && break
        left=$((secs - ($(date +%s) - start)))
        [ $left -gt 0 ] || break
    done
    crashes=$(( $(ls "$arts" | wc -l) - before ))
    [ $rc -ne 0 ] && [ $crashes -eq 0 ] && crashes=1   # a failure that wrote no artifact
    echo "fuzz_$t: $runs executions, $crashes crashes, $(( $(date +%s) - start )) s ($log)"
    if [ $crashes -eq 0 ] && [ $rc -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        grep -E -A 12 '^==[0-9]+==ERROR|invariant failed|^SUMMARY|Test unit written' "$log" | tail -n 40
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
