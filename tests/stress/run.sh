#!/bin/sh
# make stress: the long fault runs, each a Check suite of tests/ run with its long settings,
# then one line of figures per run. Exits non-zero when any run fails.
#
#   tests/stress/run.sh BUILD [ROUNDS]
#
#   kill9        check_daemon_faults: ROUNDS (default 50) kill -9 rounds in a row, train jobs,
#                sensitivity searches and qmodel exports (a third of the kills aimed at a
#                running export); exports must end with the uninterrupted export's artifacts
#   sigterm, diskfull (tmpfs), crashloop, crashloop2
#                check_daemon_faults: the other fault tests, once each
#   diskfull     again with the disk full simulated by the LD_PRELOAD shim (libqdfault.so), the
#                fallback where a tmpfs cannot be mounted
#   alloc        check_store_faults: every N of both allocation-failure sweeps
#   hostile      check_daemon_hostile
#
# QD_STRESS_SEED fixes the kill -9 rounds' random moments (the seed is printed).
BUILD=${1:?usage: tests/stress/run.sh BUILD [ROUNDS]}
ROUNDS=${2:-50}
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-5}
LOG=$BUILD/stress
mkdir -p "$LOG"
status=0
figures=

# run NAME ENV... -- SUITE: the suite with the environment; its figures kept, its log in $LOG
run() {
    name=$1; shift
    envs=
    while [ "$1" != "--" ]; do envs="$envs $1"; shift; done
    shift
    start=$(date +%s)
    if env $envs "$BUILD/tests/$1" > "$LOG/$name.log" 2>&1; then res=ok; else res=FAILED; status=1; fi
    echo "stress: $name: $res in $(( $(date +%s) - start )) s (log: $LOG/$name.log)"
    [ $res = ok ] || grep -E ':[FE]:' "$LOG/$name.log" | head -5
    figures="$figures
$(grep -E '^(kill9|sigterm|diskfull|crashloop|store alloc|hostile|auth)' "$LOG/$name.log")"
}

run kill9 CK_RUN_CASE=kill9 QD_STRESS_ROUNDS="$ROUNDS" QD_STRESS_SEARCH=1 -- check_daemon_faults
for c in sigterm diskfull crashloop crashloop2; do
    run "$c" CK_RUN_CASE=$c -- check_daemon_faults
done
run diskfull-preload CK_RUN_CASE=diskfull QD_FAULT_FORCE_PRELOAD=1 -- check_daemon_faults
run alloc QD_STORE_SWEEP=full -- check_store_faults
run hostile -- check_daemon_hostile
echo "---- figures ----$figures"
[ $status -eq 0 ] && echo "stress: all runs passed" || echo "stress: some runs FAILED"
exit $status
