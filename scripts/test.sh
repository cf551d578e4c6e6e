#!/usr/bin/env bash
# The test command: installs what the tests need, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# One oneDNN thread in tests: Swift Testing runs suites in parallel, and OpenMP barriers collapse
# when their threads compete for the cores with other work.
OMP_NUM_THREADS=1 swift test
