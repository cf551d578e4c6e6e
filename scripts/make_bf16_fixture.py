#!/usr/bin/env python3
"""How far PyTorch's own bf16 autocast moves a MEMO training step from float32: the yardstick of
memo-swift's bf16 test (`BFloat16Tests.trainingStepAgreesWithPyTorchAutocast`).

Run from the repository root (torch on the path; ~5 s):

    python3 scripts/make_bf16_fixture.py

It builds the parity fixture's network and batch (scripts/make_fixtures.py: memo_resnet14, two
specialized blocks, MEMO's stage-1 state "memo", batch of 4, deterministic values), runs the
forward and backward pass once in float32 and once under `torch.autocast("cpu", bfloat16)`, and
writes Tests/MEMOModelTests/Fixtures/bf16_autocast.json: the relative L2 error
||bf16 - fp32|| / ||fp32|| of the logits, the features and every parameter's gradient.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as fx  # noqa: E402 (the parity fixture's network, input and names)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "MEMOModelTests", "Fixtures",
                   "bf16_autocast.json")
CASE = "memo"


def step(bf16):
    model = fx.build_model(torch.float32)
    fx.configure(model, CASE)
    x = torch.from_numpy(fx.input_batch()).float()
    y = torch.tensor(fx.LABELS)
    ya = torch.tensor(fx.aux_labels(fx.LABELS, fx.KNOWN))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits, aux, feats = model(x)
    loss = F.cross_entropy(logits.float(), y) + F.cross_entropy(aux.float(), ya)
    loss.backward()
    grads = {fx.swift_name(n): p.grad.double().numpy() for n, p in model.named_parameters() if p.requires_grad}
    return logits.double().detach().numpy(), feats.double().detach().numpy(), loss.item(), grads


def relative(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def main():
    torch.set_num_threads(1)
    l32, f32, loss32, g32 = step(False)
    l16, f16, loss16, g16 = step(True)
    errors = {n: relative(g16[n], g32[n]) for n in sorted(g32)}
    out = {
        "torch": torch.__version__,
        "case": CASE,
        "batch": fx.BATCH,
        "logits": relative(l16, l32),
        "features": relative(f16, f32),
        "loss": abs(loss16 - loss32) / abs(loss32),
        "gradients": errors,
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    e = np.array(list(errors.values()))
    print(f"wrote {OUT}: logits {out['logits']:.4f}, features {out['features']:.4f}, gradients: "
          f"rms {np.sqrt(np.mean(e * e)):.4f}, median {np.median(e):.4f}, max {e.max():.4f} over {len(e)} tensors")


if __name__ == "__main__":
    main()
