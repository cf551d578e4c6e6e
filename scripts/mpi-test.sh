#!/usr/bin/env bash
# MPI fault test: a rank that dies ends the whole job, and nothing finished is lost.
#
# Trains a tiny two-stage run (Fashion-MNIST, 60 training and 10 test images per class, 2 stages
# of 5 classes, memo_resnet14_cifar, batches of 16, 40 epochs at stage 1 so that the kill
# finds it running) with `mpirun -np 2`, kills rank 1 with
# SIGKILL during stage 1, and checks that
#   - mpirun exits non-zero within 30 s of the kill (no rank left waiting in a collective),
#   - stage-00.h5 is intact (memo-train check-run loads it) and no stage-01.h5 was written,
# then resumes the run twice from copies of the folder: with `mpirun -np 2` (the same rank count)
# and with one process (another rank count, which the resume reports), and checks that both
# complete stage 1 and that the resumed stage-00.h5 is byte-identical to the one before.
# The bit-for-bit comparison of a 2-rank run with its single-process oracle is a Swift test
# (DataParallelTests); this script tests what only whole processes show.
#
# Usage: scripts/mpi-test.sh [--binary PATH]   (default: builds .build/release/memo-train)
# Skips, saying so, where mpirun is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
while (($#)); do
    case "$1" in
        --binary) binary=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "mpi-test: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if ! command -v mpirun >/dev/null; then
    echo "mpi-test: skipped (mpirun is not installed; Debian: openmpi-bin)"
    exit 0
fi
if [ -z "$binary" ]; then
    echo "building memo-train (release)"
    swift build -c release --product memo-train 2>&1 | tail -1
    binary=.build/release/memo-train
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/memo-mpi-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
# mpirun refuses root unless told; CI runs as root. One oneDNN thread per rank.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpi=(mpirun --oversubscribe -np 2)
args=(-init 5 -incre 5 -ms 40 -net memo_resnet14_cifar --init_epoch 1 --epochs 40 --batch_size 16
      --train-per-class 60 --test-per-class 10 --dataset fashion-mnist --eval-every 0 --threads 1)
passed=0 failed=0
check() { if "$@"; then passed=$((passed + 1)); else echo "    FAIL: $*"; failed=$((failed + 1)); fi; }

# The pid of rank $1 of the job: the memo-train process whose environment names that rank.
rank_pid() {
    local p
    for p in $(pgrep -f "$binary" || true); do
        if tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then echo "$p"; return; fi
    done
}

dir=$work/run
"${mpi[@]}" "$binary" "${args[@]}" --out "$dir" >"$work/first.out" 2>&1 &
job=$!
deadline=$((SECONDS + 300))
until grep -q '^stage 1 of' "$dir/train.log" 2>/dev/null; do
    kill -0 "$job" 2>/dev/null || { echo "mpi-test: the job ended before stage 1"; cat "$work/first.out"; exit 1; }
    ((SECONDS < deadline)) || { echo "mpi-test: stage 1 did not start within 300 s"; exit 1; }
    sleep 0.1
done
sleep 0.5
victim=$(rank_pid 1)
[ -n "$victim" ] || { echo "mpi-test: rank 1 not found"; exit 1; }
kill -9 "$victim"
killed=$(date +%s.%N)
status=0
timeout 60 tail --pid="$job" -f /dev/null || true
wait "$job" || status=$?
took=$(awk -v a="$killed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "kill of rank 1 (pid $victim) in stage 1: mpirun exited with status $status after $took s"
check test "$status" -ne 0
check awk -v t="$took" 'BEGIN { exit !(t < 30) }'
check test ! -e "$dir/stage-01.h5"
check "$binary" check-run "$dir"
cp "$dir/stage-00.h5" "$work/stage-00.before"

for how in "two ranks" "one process"; do
    copy=$work/resume-${how// /-}
    cp -r "$dir" "$copy"
    if [ "$how" = "two ranks" ]; then
        "${mpi[@]}" "$binary" --resume "$copy" >"$copy.out" 2>&1 || { echo "    resume with $how failed:"; tail -5 "$copy.out"; }
    else
        "$binary" --resume "$copy" >"$copy.out" 2>&1 || { echo "    resume with $how failed:"; tail -5 "$copy.out"; }
        check grep -q "1 rank(s) replace the run's 2" "$copy.out"
    fi
    check test -e "$copy/stage-01.h5"
    check "$binary" check-run "$copy"
    check cmp -s "$copy/stage-00.h5" "$work/stage-00.before"
    echo "resume with $how: $(grep -c . "$copy/train.log") log lines, $(ls "$copy" | grep -c '^stage-') stages"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
