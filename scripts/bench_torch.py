#!/usr/bin/env python3
"""PyTorch yardstick for `memo-train bench`: the same MEMO network (scripts/memo_torch.py's
AdaptiveNet, any backbone, any input size) in the same stage-K state -- old specialized blocks
frozen and in eval mode, generalized blocks and the newest block training -- timed the same way:
training steps (forward, CE + auxiliary CE, backward, SGD) and inference batches, medians of
repeats. fp32 eager on the CPU.

    python3 scripts/bench_torch.py --net memo_resnet18 --ks 1 --batch 32 --inference-batch 32 --threads 2
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import memo_torch  # noqa: E402


def run(net_name, k, batch, inference_batch, side, steps, repeats, classes=10):
    torch.manual_seed(1)
    net = memo_torch.AdaptiveNet(net_name, [classes] * k)
    net.train()
    for e in net.AdaptiveExtractors[:-1]:
        e.eval()
        for p in e.parameters():
            p.requires_grad_(False)
    params = [p for p in net.parameters() if p.requires_grad]
    sgd = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=2e-4)
    x = torch.randn(max(batch, inference_batch), 3, side, side)
    labels = torch.arange(batch) % (classes * k)
    known = classes * (k - 1)
    aux_labels = torch.where(labels >= known, labels - known + 1, torch.zeros_like(labels))

    def train_step():
        out = net(x[:batch])
        loss = F.cross_entropy(out["logits"], labels)
        if k > 1:
            loss = loss + F.cross_entropy(out["aux_logits"], aux_labels)
        sgd.zero_grad(set_to_none=True)
        loss.backward()
        sgd.step()

    def infer_step():
        net.eval()
        with torch.no_grad():
            net(x[:inference_batch])
        net.train()
        for e in net.AdaptiveExtractors[:-1]:
            e.eval()

    def rates(step, images):
        """Images/s of `repeats` timings of `steps` calls, after one warm-up call."""
        step()
        out = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            out.append(steps * images / (time.perf_counter() - t0))
        return out

    return rates(train_step, batch), rates(infer_step, inference_batch)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", default="memo_resnet32", choices=memo_torch.CONVNET_TYPES)
    ap.add_argument("--ks", default="1,5,10")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--inference-batch", type=int, default=256)
    ap.add_argument("--input-size", type=int, default=None, help="default 224 for memo_resnet18, 32 otherwise")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    side = a.input_size or (224 if a.net == "memo_resnet18" else 32)
    print(f"torch {torch.__version__}, {a.threads} thread(s), fp32 eager")
    print(f"| {a.net} at {side}x{side} (PyTorch) | train img/s (batch {a.batch}) | inference img/s (batch {a.inference_batch}) |")
    print("|---|---|---|")
    for k in (int(v) for v in a.ks.split(",")):
        train, infer = run(a.net, k, a.batch, a.inference_batch, side, a.steps, a.repeats)
        fmt = lambda v: ", ".join(f"{x:.0f}" for x in v)  # noqa: E731
        print(f"| K={k} | {statistics.median(train):.1f} (runs: {fmt(train)}) | "
              f"{statistics.median(infer):.1f} (runs: {fmt(infer)}) |", flush=True)


if __name__ == "__main__":
    main()
