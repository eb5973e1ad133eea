#!/bin/sh
# Run every test and print one closing line: "N passed, N failed, N skipped".
#   spec/run.sh [busted args...]     (NETOPS_BUILD names the build directory)
# Busted specs run under Lua 5.4 with TAP output; each C test under
# $NETOPS_BUILD/ctest prints TAP too.  Skipped tests carry their reason.
# A runner that exits non-zero without reporting a failed test (a spec file
# that does not load, a C test that crashes) counts as one failure.
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
