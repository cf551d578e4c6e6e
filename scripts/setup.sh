#!/usr/bin/env bash
# First command of a fresh Debian machine: install the system packages, build the release
# binaries, and run the main job: MEMO on the embedded Fashion-MNIST (Debian's
# dataset-fashion-mnist), 5 stages of 2 classes, memo_resnet14_cifar, 4,000 exemplars, a short schedule
# (cosine learning rate: 4 epochs at stage 0, 2 per later stage; the configuration of
# docs/accuracy.md), then the run's forgetting curve, confusion heatmap, memory summary and its HTML
# report (written beside the checkpoints as report.html; its path is printed last).
# Set MEMO_SKIP_RUN=1 to only install and build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release
[ "${MEMO_SKIP_RUN:-0}" = 1 ] && exit 0
out=checkpoints/fashion-mnist-main
if [ -e "$out/stage-00.h5" ]; then
    echo "$out exists: resuming it (delete it to start over)"
    .build/release/memo-train --resume "$out"
else
    .build/release/memo-train -model memo -init 2 -incre 2 -ms 4000 -net memo_resnet14_cifar -p fair --train_base \
        --scheduler cosine --init_epoch 4 --epochs 2 --t_max 2 --dataset fashion-mnist --out "$out"
fi
.build/release/memo-infer forgetting "$out" --plot docs/fashion-mnist-forgetting.png
.build/release/memo-infer confusion --checkpoint "$out/stage-04.h5" --png docs/fashion-mnist-confusion.png >/dev/null
.build/release/memo-infer memory "$out"
.build/release/memo-infer report "$out" -o "$out/report.html"
echo "run report: $(cd "$out" && pwd)/report.html"
