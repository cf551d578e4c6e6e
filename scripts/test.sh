#!/usr/bin/env bash
# The test command: installs what the tests need, runs the whole suite as a contributor runs it
# (plain `swift test`: tests that need a thread count or a CPU path set it themselves), the
# numerical part once more with one default oneDNN thread and, on a CPU with AVX-512, once more on
# the AVX2 path (DNNL_MAX_CPU_ISA=AVX2: nChw8c activations instead of nChw16c), then the short
# kill test (a release build of memo-train, 3 runs killed with SIGKILL and resumed;
# scripts/kill-test.sh) and the MPI fault test (a rank of an `mpirun -np 2` run killed, the run
# resumed; scripts/mpi-test.sh). MEMO_SKIP_KILL_TEST=1 skips both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift test
numerics='GradientCheckTests|PyTorchParityTests|NetworkParityTests|NetworkFamilyTests|ThreadCountTests|EngineThreadsTests'
echo "== numerics with OMP_NUM_THREADS=1"
OMP_NUM_THREADS=1 swift test --skip-build --filter "$numerics"
if grep -qw avx512f /proc/cpuinfo; then
    echo "== numerics on the AVX2 path of this AVX-512 CPU (DNNL_MAX_CPU_ISA=AVX2)"
    DNNL_MAX_CPU_ISA=AVX2 swift test --skip-build --filter "$numerics"
fi
if [ "${MEMO_SKIP_KILL_TEST:-0}" != 1 ]; then
    scripts/kill-test.sh --short
    scripts/mpi-test.sh --binary .build/release/memo-train
fi
