#!/usr/bin/env bash
# Projects the wall time of the seed's experiment 1 on this machine: CIFAR-100 B0 Inc10 with
# memo_resnet32, -ms 3312, --train_base, -p fair, 71 epochs at stage 0 and 51 at each of stages
# 1-9, evaluation every 5 epochs (docs/memo.md, "The seed's reproduction runs").
#
# It writes a CIFAR-100-shaped data set in the standard binary layout (cifar-100-binary/train.bin
# and test.bin, records of <coarse><fine><3072 CHW bytes>, fine_label_names.txt; synthetic
# pixels: the time per image does not depend on them), runs the real memo-train on it for ten
# stages of one epoch each, stamps every log line with the wall clock and computes the projection
# from the stamps. Classes arrive in file order (--class-order none; which classes come when does
# not change the cost). To reach the 10-block stage cheaply, only the classes of stages 0 and 9
# have CIFAR's 500 training and 100 test images; those of stages 1-8 have 36 training images (all
# kept as exemplars, what the memory keeps per class at stage 9: floor(3312 / 90) = 36) and 10 test
# images. So the timed epochs are the real ones: stage 0 trains on 5,000 images at K = 1, stage 9
# on 5,000 + 90 x 36 = 8,240 at K = 10, as in the full run; stages 1-8 train fewer images and give
# the images/s at K = 2..9.
#
# Projection for each stage k (K = k + 1 blocks), with times per image from the run:
#   epochs:      E_k x N_k / r_k        E_0 = 71, E_k = 51; N_k = 5,000 + exemplars of the run
#                                       (10k x floor(3312 / 10k) for k > 0); r_k = images/s
#   test passes: ceil(E_k / 5) x T_k x t_test(K)   T_k = 1,000 (k + 1) test images
#   herding:     as measured at stage k, plus the images the full run has beyond the run's
#                (5,000 new + old exemplars 10k x floor(3312 / (10(k+1))), at the run's own
#                count at stages 0 and 9) at t_test(K): it herds the same classes
#   evaluation:  T_k x t_eval(K), and the checkpoint write as measured
# t_test and t_eval (seconds per image) are measured at every stage from the stamps and their
# image counts.
#
# usage: scripts/project-cifar100.sh [WORK_DIR]   (default /tmp/memo-cifar100-projection)
# env:   THREADS (default 2), MEMO_TRAIN (default .build/release/memo-train; build it with
#        `swift build -c release` first), PROJECT_ONLY=1 (recompute the projection from the
#        WORK_DIR/timed.log of an earlier run). The run took 20 minutes on 2 cores shared with
#        other jobs (load 2-5).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/memo-cifar100-projection}
threads=${THREADS:-2}
train=${MEMO_TRAIN:-.build/release/memo-train}
[ -x "$train" ] || { echo "project-cifar100: $train not found; build it with: swift build -c release" >&2; exit 1; }
command -v python3 >/dev/null || { echo "project-cifar100: python3 is needed (Debian: python3)" >&2; exit 1; }
mkdir -p "$work"

if [ "${PROJECT_ONLY:-0}" != 1 ]; then
# 1. The data set.
python3 - "$work/data/cifar-100-binary" <<'EOF'
import os, random, sys
folder = sys.argv[1]
os.makedirs(folder, exist_ok=True)
if os.path.exists(os.path.join(folder, "test.bin")):
    sys.exit(0)
rng = random.Random(1993)
def images(label, count):
    # a class-dependent colour plus noise, CHW planes
    base = bytes([(label * 37 + c * 85) % 256 for c in range(3)])
    out = bytearray()
    for _ in range(count):
        noise = rng.randbytes(3072)
        out += bytes([label // 5, label])
        out += bytes((base[p // 1024] + (noise[p] >> 2)) % 256 for p in range(3072))
    return out
full = set(range(10)) | set(range(90, 100))  # the classes of stages 0 and 9
for name, big, small in (("train.bin", 500, 36), ("test.bin", 100, 10)):
    records = [images(c, big if c in full else small) for c in range(100)]
    with open(os.path.join(folder, name), "wb") as f:
        f.write(b"".join(records))
with open(os.path.join(folder, "fine_label_names.txt"), "w") as f:
    f.write("".join(f"class_{c:02d}\n" for c in range(100)))
EOF

# 2. The timed run: every line of memo-train's output with the wall clock in front.
rm -rf "$work/run"
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$work/timed.log"
"$train" -model memo -init 10 -incre 10 -ms 3312 -net memo_resnet32 -p fair --train_base \
    --init_epoch 1 --epochs 1 --dataset cifar100 --data-dir "$work/data" --class-order none \
    --threads "$threads" --out "$work/run" 2>&1 |
    while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done | tee -a "$work/timed.log"
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$work/timed.log"
fi

# 3. The projection.
python3 - "$work/timed.log" <<'EOF'
import math, re, sys
lines = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1]) if re.match(r"^\d+\.\d+ ", l)]
ms, full = 3312, set(range(10)) | set(range(90, 100))
train_n = [500 if c in full else 36 for c in range(100)]
test_n = [100 if c in full else 10 for c in range(100)]
cpu = next((t for _, t in lines if t.startswith("engine:")), "?")
stages = {}
for stamp, text in lines:
    t = float(stamp)
    m = re.match(r"stage (\d+) of", text)
    if m:
        k = int(m.group(1)); stages[k] = {"start": t}; continue
    m = re.match(r"\s+stage (\d+) epoch 1/1 .* (\d+) img/s", text)
    if m:
        stages[int(m.group(1))].update(epoch_end=t, rate=float(m.group(2))); continue
    for key, pattern in (("memory", r"\s+memory: (\d+) exemplars"), ("evaluated", r"\s+stage (\d+): CNN top-1"),
                         ("written", r"\s+checkpoint ")):
        m = re.match(pattern, text)
        if m and stages:
            last = stages[max(stages)]
            last.setdefault(key, t)
            if key == "memory": last["exemplars"] = int(m.group(1))
def per_class(k): return ms // (10 * k)  # exemplars per class when 10k classes have been seen
rows, total = [], 0.0
for k in range(10):
    s = stages[k]
    classes = range(10 * k, 10 * k + 10)
    memory_before = 0 if k == 0 else stages[k - 1]["exemplars"]
    n_run = sum(train_n[c] for c in classes) + memory_before     # images of the timed epoch
    test_run = sum(test_n[c] for c in range(10 * k + 10))
    herd_run = sum(train_n[c] for c in classes) + sum(min(train_n[c], per_class(k + 1)) for c in range(10 * k))
    epoch_train = n_run / s["rate"]
    t_test = (s["epoch_end"] - s["start"] - epoch_train) / test_run   # the epoch's test pass (epoch 0 % 5 == 0)
    t_eval = (s["evaluated"] - s["memory"]) / test_run
    write = s["written"] - s["evaluated"]
    # the full run
    epochs = 71 if k == 0 else 51
    n_full = 5000 + (0 if k == 0 else 10 * k * per_class(k))
    test_full = 1000 * (k + 1)
    herd_full = 5000 + 10 * k * per_class(k + 1)
    train_s = epochs * n_full / s["rate"]
    passes_s = math.ceil(epochs / 5) * test_full * t_test
    # the run herds the same classes as the full run, with fewer images of the classes of stages
    # 1-8: the difference in images is added at the test pass's time per image of this K
    herd_s = (s["memory"] - s["epoch_end"]) + (herd_full - herd_run) * t_test
    eval_s = test_full * t_eval + write
    stage_s = train_s + passes_s + herd_s + eval_s
    total += stage_s
    rows.append((k, k + 1, n_run, s["rate"], epochs, n_full, train_s, passes_s, herd_s, eval_s, stage_s))
print(cpu)
print("stage  K  timed-epoch images  img/s  | full run: epochs x images  training s  test passes s  herding s  evaluation s  stage s")
for r in rows:
    print("%5d %2d %19d %6.0f  | %16d x %-6d %10.0f %14.0f %10.0f %13.1f %8.0f" % r)
print("projected wall time of the full run: %.0f s = %.1f h" % (total, total / 3600))
EOF
