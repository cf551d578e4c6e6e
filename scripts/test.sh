#!/usr/bin/env bash
# The test command: installs what the tests need, runs the whole suite, then the short kill test
# (a release build of memo-train, 3 runs killed with SIGKILL and resumed; scripts/kill-test.sh).
# MEMO_SKIP_KILL_TEST=1 skips the kill test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# One oneDNN thread in tests: Swift Testing runs suites in parallel, and OpenMP barriers collapse
# when their threads compete for the cores with other work.
OMP_NUM_THREADS=1 swift test
if [ "${MEMO_SKIP_KILL_TEST:-0}" != 1 ]; then
    scripts/kill-test.sh --short
fi
