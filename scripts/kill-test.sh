#!/usr/bin/env bash
# Kill test: nothing lost, nothing crashes.
#
# Trains a tiny MEMO run (Fashion-MNIST, 30 training and 10 test images per class, 5 stages of 2
# classes, memo_resnet14_cifar, one epoch per stage) over and over, kills memo-train with SIGKILL
# at a random moment, and checks after every kill that
#   - every stage-XX.h5 in the run folder loads (memo-train check-run, which reads the folder the
#     way --resume does) and no file that is not a finished checkpoint is named like one
#     (interrupted writes leave only .stage-XX.h5.<random>.tmp files),
#   - every checkpoint the log reported as written is still there,
# then resumes (--resume DIR, or a fresh start if no stage had finished) until the run is
# complete, and checks that every stage's checkpoint (weights, memory, class means, evaluation and
# predictions, via check-run's digests) is identical to an uninterrupted reference run.
#
# Kill moments rotate between a uniform delay across the reference run's duration, the herding
# after a random stage's training, and the checkpoint write after a random stage's evaluation;
# each kill reports the phase it hit (from the last log line) and whether a write was cut short.
#
# Usage: scripts/kill-test.sh [--short] [--iterations N] [--binary PATH] [--seed S] [--keep]
#   --short        3 iterations (the CI form, run by scripts/test.sh)
#   --iterations N N iterations (default 20)
#   --binary PATH  use this memo-train instead of building .build/release/memo-train
#   --seed S       seed of the kill moments (default 1)
#   --keep         keep the work folder
set -euo pipefail
cd "$(dirname "$0")/.."

iterations=20 binary="" seed=1 keep=0
while (($#)); do
    case "$1" in
        --short) iterations=3 ;;
        --iterations) iterations=$2; shift ;;
        --binary) binary=$2; shift ;;
        --seed) seed=$2; shift ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "kill-test: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$binary" ]; then
    echo "building memo-train (release)"
    swift build -c release --product memo-train 2>&1 | tail -1
    binary=.build/release/memo-train
fi
[ -x "$binary" ] || { echo "kill-test: $binary is not an executable" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/memo-kill-test.XXXXXX")
if [ "$keep" = 1 ]; then echo "work folder: $work"; else trap 'rm -rf "$work"' EXIT; fi
# One oneDNN thread: the same arithmetic in every process (and no OpenMP spinning on a busy machine).
export OMP_NUM_THREADS=1
RANDOM=$seed
args=(-model memo -init 2 -incre 2 -ms 40 -net memo_resnet14_cifar --init_epoch 1 --epochs 1
      --batch_size 16 --train-per-class 30 --test-per-class 10 --dataset fashion-mnist --eval-every 0)
stages=5

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# A uniform random number in [0, $1), 3 decimals.
uniform() { awk -v r=$((RANDOM * 32768 + RANDOM)) -v t="$1" 'BEGIN { printf "%.3f", r / 1073741824 * t }'; }
stage_count() { find "$1" -maxdepth 1 -name 'stage-[0-9][0-9].h5' | wc -l; }
temp_count() { find "$1" -maxdepth 1 -name '.stage-*.tmp' | wc -l; }
temp_names() { find "$1" -maxdepth 1 -name '.stage-*.tmp' | sort; }
# check-run's per-stage lines without the folder, for comparison with the reference.
digests() { "$binary" check-run "$1" | grep ': OK stage' | sed 's|^.*/stage-|stage-|'; }

# The phase a kill hit, from the last line the killed process logged to train.log ($1) after
# its first $2 lines (those are from earlier processes).
phase_of() {
    local last
    last=$(tail -n +"$(($2 + 1))" "$1" 2>/dev/null | grep -v '^$' | tail -1 || true)
    case "$last" in
        "") echo "start-up (data loading)" ;;
        "resuming "*|"note: "*|"engine: "*) echo "start-up (data loading)" ;;
        "run folder "*) echo "training" ;;
        "stage "*" of 0-"*) echo "training" ;;
        "  stage "*" epoch "*|"  weight align"*) echo "herding" ;;
        "  memory: "*) echo "evaluation" ;;
        "  stage "*": CNN top-1"*) echo "checkpoint writing" ;;
        *) echo "between stages" ;;
    esac
}

failures=0 passed=0
declare -A phases=()
fail() { echo "    FAIL: $*"; failed=1; }

# Starts memo-train on $1 (resuming if a stage finished); with $2 = kill mode, kills it and checks.
# Sets `outcome` to what happened.
run_once() {
    local dir=$1 mode=$2 log=$1.out pid start delay target s temps_before lines_before
    mkdir -p "$dir"
    temps_before=$(temp_names "$dir")
    lines_before=0
    [ -f "$dir/train.log" ] && lines_before=$(wc -l <"$dir/train.log")
    if [ -e "$dir/stage-00.h5" ]; then
        "$binary" --resume "$dir" >>"$log" 2>&1 &
    else
        "$binary" "${args[@]}" --out "$dir" >>"$log" 2>&1 &
    fi
    pid=$! start=$(now)
    case "$mode" in
        none) wait "$pid" || fail "memo-train exited with status $? (see $log)"; outcome="completed"
              [ "$(temp_count "$dir")" = 0 ] || fail "temporary files of interrupted writes left after a completed run"
              return ;;
        uniform)
            delay=$(uniform "$reference_seconds")
            sleep "$delay" ;;
        herding|checkpoint)
            s=$((RANDOM % stages))
            [ "$mode" = herding ] && target="  stage $s epoch " || target="  stage $s: CNN top-1"
            while kill -0 "$pid" 2>/dev/null && ! grep -qF "$target" "$dir/train.log" 2>/dev/null; do sleep 0.002; done
            [ "$mode" = herding ] && sleep "$(uniform 0.2)" || sleep "$(uniform 0.01)" ;;
    esac
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        local phase temps
        phase=$(phase_of "$dir/train.log" "$lines_before")
        temps=$(temp_count "$dir")
        # A temporary file this process started (earlier ones are removed when a run starts).
        [ -n "$(comm -13 <(echo "$temps_before") <(temp_names "$dir"))" ] && phase="$phase (write cut short)"
        phases[$phase]=$(( ${phases[$phase]:-0} + 1 ))
        outcome="killed after $(elapsed "$start") s in $phase, $(stage_count "$dir") checkpoint(s), $temps temporary file(s)"
        check_folder "$dir"
    else
        wait "$pid" || fail "memo-train exited with status $? before the kill (see $log)"
        outcome="finished before the kill"
    fi
}

# The checks after a kill: every checkpoint-like name is a finished checkpoint that loads, and
# nothing the log reported as written is missing.
check_folder() {
    local dir=$1 name written present
    for name in $(ls -A "$dir"); do
        case "$name" in
            stage-[0-9][0-9].h5|train.log|curves.csv) ;;
            .stage-[0-9][0-9].h5.*.tmp) ;;  # an interrupted write: never read as a checkpoint
            stage-*|*.h5) fail "unexpected checkpoint-like file $name" ;;
            *) ;;
        esac
    done
    if ! "$binary" check-run "$dir" >"$dir.check" 2>&1; then
        fail "check-run: $(grep -m1 error "$dir.check")"
    fi
    written=$(grep -c '^  checkpoint ' "$dir/train.log" 2>/dev/null || true)
    present=$(stage_count "$dir")
    [ "${written:-0}" -le "$present" ] || fail "the log reports $written checkpoints written, $present present"
}

echo "kill test: $iterations iterations, binary $binary, seed $seed"
echo "config: ${args[*]}"
start=$(now)
"$binary" "${args[@]}" --out "$work/reference" >"$work/reference.out" 2>&1 \
    || { echo "the reference run failed:"; tail -5 "$work/reference.out"; exit 1; }
reference_seconds=$(elapsed "$start")
reference=$(digests "$work/reference")
[ "$(echo "$reference" | wc -l)" = "$stages" ] || { echo "the reference run has no $stages stages"; exit 1; }
echo "reference run: ${reference_seconds} s; final stage: $(echo "$reference" | tail -1 | sed 's/, model.*//')"

modes=(uniform herding checkpoint)
for ((i = 1; i <= iterations; i++)); do
    failed=0
    dir="$work/run-$i"
    mode=${modes[$(((i - 1) % 3))]}
    run_once "$dir" "$mode"
    echo "  $i/$iterations ($mode): $outcome"
    # Resume until complete; every other iteration the first resume is killed too.
    attempts=0
    while [ "$failed" = 0 ] && [ "$(stage_count "$dir")" -lt "$stages" ] && [ "$attempts" -lt 4 ]; do
        attempts=$((attempts + 1))
        if [ "$attempts" = 1 ] && ((i % 2 == 0)); then
            run_once "$dir" uniform
            echo "      resume killed: $outcome"
        else
            run_once "$dir" none
        fi
    done
    if [ "$failed" = 0 ]; then
        final=$(digests "$dir")
        if [ "$final" = "$reference" ]; then
            echo "      complete after $attempts resume(s); all $stages stages identical to the reference"
        else
            fail "the resumed run differs from the reference:"
            diff <(echo "$reference") <(echo "$final") | sed 's/^/      /' || true
        fi
    fi
    if [ "$failed" = 0 ]; then passed=$((passed + 1)); else failures=$((failures + 1)); fi
done

echo "kill moments by phase:"
for phase in "${!phases[@]}"; do echo "  ${phases[$phase]}  $phase"; done | sort -k2
echo "$passed passed, $failures failed ($(elapsed "$start") s)"
[ "$failures" = 0 ]
