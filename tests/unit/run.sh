#!/usr/bin/env bash
# Runs each unit test program given as an argument and sums the results into
# one closing line, "N passed, N failed". With VALGRIND=1 every program runs
# under valgrind, and a leak or memory error fails it.
set -u
cd "$(dirname "$0")/../.." || exit 2

passed=0
failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    if [ "${VALGRIND:-0}" = 1 ]; then
        cmd=(valgrind --quiet --error-exitcode=99 --leak-check=full
             --errors-for-leak-kinds=definite,indirect "$bin")
    else
        cmd=("$bin")
    fi
    out=$("${cmd[@]}" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    # cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)...".
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p')
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p')
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
        echo "$name: exited with status $rc"
        failed=$((failed + 1))
    fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
