#!/usr/bin/env bash
# Writes Tests/MEMOModelTests/Fixtures/reference_saver/: a folder saved by scripts/reference_saver.py
# from the reference's own code (three stages, 4 + 3 + 3 Fashion-MNIST classes, 20 training and 10
# test images per class, 60 exemplars), with --no-train so the state_dicts stay small (~350 KB
# gzip'd); herding, evaluation and the logged accuracies are the reference's.
# Usage: scripts/make_saver_fixtures.sh ICLR23-MEMO   (a checkout of wangkiw/ICLR23-MEMO)
set -euo pipefail
ref=${1:?usage: scripts/make_saver_fixtures.sh REFERENCE_CHECKOUT}
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/Tests/MEMOModelTests/Fixtures/reference_saver
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
OMP_NUM_THREADS=1 python3 "$repo/scripts/reference_saver.py" --reference-dir "$ref" --out "$work/saved" --threads 1 --workers 0 \
    --no-train --train-per-class 20 --test-per-class 10 -- -model memo -init 4 -incre 3 -ms 60 \
    -net memo_resnet14_cifar -p fair --train_base --batch_size 32 --dataset fashion-mnist
rm -rf "$out"
mkdir -p "$out"
for f in "$work"/saved/stage-*.pt; do gzip -9 -n -c "$f" > "$out/$(basename "$f").gz"; done
cp "$work"/saved/stage-*.json "$out/"
du -sh "$out"
