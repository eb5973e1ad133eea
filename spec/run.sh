#!/bin/sh
# Run the tests; the last line is "N passed, N failed, N skipped", counting
# each distinct test once; the exit status is non-zero when anything failed.
#   spec/run.sh                       every spec file, the packaging steps,
#                                     every C test
#   spec/run.sh FILE...               only these (spec/NN-x_spec.lua,
#                                     spec/c/NAME.c, .ci/package-test.sh)
# Environment:
#   NETOPS_BUILD=DIR           the build to test (default build)
#   NETOPS_SANITIZE_BUILD=DIR  adds the asan pass: specs and C tests again
#                              against the ASan+UBSan build in DIR
#   NETOPS_VALGRIND=1          adds the valgrind pass: the C tests under valgrind
#   NETOPS_PASSES="..."        the passes to run, of plain, asan, valgrind
#   NETOPS_TEST_TIMEOUT=S      limit for each spec file or program (600: the longest file takes about 3 min)
# Each spec file runs in a busted process of its own; spec/runner.lua says
# how results are read and counted.  Logs: $NETOPS_BUILD/test-output/PASS/.
cd "$(dirname "$0")/.." || exit 2
exec lua5.4 spec/runner.lua "$@"
