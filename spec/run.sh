#!/bin/sh
# Run every test and print one closing line: "N passed, N failed, N skipped".
#   spec/run.sh [busted args...]     (NETOPS_BUILD names the build directory)
# Busted specs run under Lua 5.4 with TAP output; each C test under
# $NETOPS_BUILD/ctest prints TAP too.  Skipped tests carry their reason.
# A runner that exits non-zero without reporting a failed test (a spec file
# that does not load, a C test that crashes) counts as one failure.
# `make check` adds two stages:
#   NETOPS_SANITIZE_BUILD=DIR  the specs and C tests again with the C core
#                              built under ASan+UBSan in DIR
#   NETOPS_VALGRIND=1          each C test under valgrind (errors, leaks)
cd "$(dirname "$0")/.." || exit 2
build=${NETOPS_BUILD:-build}
tap=$build/test-output.tap
mkdir -p "$build"
: > "$tap"

{ lua5.4 /usr/bin/busted -o TAP "$@" 2>&1; echo "# runner busted exit $?"; } | tee -a "$tap"
if [ $# -eq 0 ]; then
  { echo "# packaging"; sh .ci/package-test.sh 2>&1; echo "# runner package-test exit $?"; } | tee -a "$tap"
  for t in "$build"/ctest/*; do
    [ -x "$t" ] || continue
    { echo "# C test $t"; "$t" 2>&1; echo "# runner $t exit $?"; } | tee -a "$tap"
  done
fi

asan=${NETOPS_SANITIZE_BUILD:-}
if [ -n "$asan" ] && [ $# -eq 0 ]; then
  echo "# stage: ASan+UBSan build in $asan" | tee -a "$tap"
  rt=$(${CC:-cc} -print-file-name=libasan.so)
  { NETOPS_BUILD=$asan LD_PRELOAD=$rt ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      lua5.4 /usr/bin/busted -o TAP 2>&1; echo "# runner busted-asan exit $?"; } | tee -a "$tap"
  for t in "$asan"/ctest/*; do
    [ -x "$t" ] || continue
    { echo "# C test $t"; "$t" 2>&1; echo "# runner $t exit $?"; } | tee -a "$tap"
  done
fi

if [ "${NETOPS_VALGRIND:-}" = 1 ] && [ $# -eq 0 ]; then
  echo "# stage: valgrind" | tee -a "$tap"
  n=0
  for t in "$build"/ctest/*; do
    [ -x "$t" ] || continue
    n=$((n + 1))
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
         "$t" > "$build/valgrind.out" 2>&1; then
      echo "ok $n - valgrind clean: $t"
    else
      echo "not ok $n - valgrind: $t"; grep -v '^ok ' "$build/valgrind.out" | head -30 | sed 's/^/#   /'
    fi | tee -a "$tap"
  done
fi

awk '
  /^ok [0-9]+.*# SKIP/          { skipped++; next }
  /^ok [0-9]+/                  { passed++; next }
  /^not ok [0-9]+/              { failed++; runfail = 1; next }
  /^# runner .* exit [1-9]/     { if (!runfail) failed++ }
  /^# runner /                  { runfail = 0 }
  END {
    printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped
    exit failed > 0
  }' "$tap"
