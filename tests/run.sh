#!/bin/sh
# Runs each Check suite program given as an argument, then prints one closing line with the totals.
# Exits non-zero when any suite fails or crashes.
# Timeouts guard against hangs, not slowness: a loaded machine gets five times Check's defaults.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-5}
passed=0; failed=0; status=0
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' | sed "s|^|$(basename "$t"): |"
    [ $rc -eq 0 ] || { printf '%s\n' "$out" | tail -n 30; status=1; }
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' | tail -n 1)
    n=$(printf '%s' "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p')
    if [ -z "$n" ]; then failed=$((failed + 1)); continue; fi
    nf=$(echo "$f" | awk '{print $1 + $2}')
    passed=$((passed + n - nf)); failed=$((failed + nf))
done
echo "tests: $passed passed, $failed failed"
[ $status -eq 0 ] && [ $failed -eq 0 ]
