#!/usr/bin/env bash
# The long form of the fuzz tests (Tests/MEMOModelTests/FuzzTests.swift): N mutated PNGs, N
# mutated checkpoints, N checkpoints with bits flipped anywhere, N mutated torch.save files, N
# mutated state_dict pickles and N mutated CIFAR pickles (default 10,000 each), seeded by
# MEMO_FUZZ_SEED (default 2023). Every input must load or throw a one-line typed error naming the
# file, within the per-input time limit, and a checkpoint that loads must hold the original's data
# (no silent damage); the outcome counts are printed. About 20 minutes for 10,000 in a debug build
# (estimated: checkpoint reads dominate, 200 bit-flipped copies take 13 s). The full test output goes to
# .build/fuzz.log.
# Usage: scripts/fuzz.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
export MEMO_FUZZ_ITERATIONS=${1:-10000}
mkdir -p .build
status=0
OMP_NUM_THREADS=1 swift test --filter FuzzTests >.build/fuzz.log 2>&1 || status=$?
grep -E "fuzz \(seed|anywhere \(seed|edits:|✘|Fatal|runtime failure" .build/fuzz.log || true
grep -E "Test run with" .build/fuzz.log || echo "the test process did not finish (status $status): see .build/fuzz.log"
exit "$status"
