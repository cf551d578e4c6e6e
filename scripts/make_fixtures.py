#!/usr/bin/env python3
"""PyTorch reference values for memo-swift's engine (the parity fixture).

Run from the repository root:

    /work/venv/bin/python scripts/make_fixtures.py            # writes the fixture
    /work/venv/bin/python scripts/make_fixtures.py --check    # self-check only, writes nothing

It writes ``Tests/MEMOModelTests/Fixtures/parity_memo_resnet14.json``. The network is defined
here from scratch (no code of the reference repository is imported or copied); it behaves like
MEMO's ``AdaptiveNet`` with ``memo_resnet14_cifar`` (wangkiw/ICLR23-MEMO, convs/memo_cifar_resnet.py
and utils/inc_net.py), see /work/shared/MEMO.md.

Network
-------
memo_resnet14 (n = 2 BasicBlocks per stage), 2 specialized blocks, 6 classes, 3 known classes:

* generalized: conv3x3 3->16 (no bias) + BN + ReLU; stage1 = 2 BasicBlocks of 16 channels;
  stage2 = 2 BasicBlocks of 32 channels, the first with stride 2 and a DownsampleA shortcut.
* specialized.k (k = 0, 1): stage3 = 2 BasicBlocks of 64 channels, the first with stride 2 and
  DownsampleA; global average pool 8x8 -> 64-d feature.
* BasicBlock: relu(shortcut(x) + bnB(convB(relu(bnA(convA(x)))))); DownsampleA(x) =
  cat(x[:, :, ::2, ::2], zeros) along channels (no parameters).
* features = cat(specialized.0(base), specialized.1(base)) -> [N, 128];
  logits = fc(features) (128 -> 6, bias); auxLogits = auxFC(features[:, 64:128]) (64 -> 4, bias).
* BN: eps 1e-5, momentum 0.1; train mode normalises with the biased batch variance and updates
  running = 0.9 * running + 0.1 * batch (unbiased variance for runningVar); eval mode uses the
  running statistics and leaves them unchanged.

Parameter names are memo-swift's dotted names (the torch modules here are named so that
``state_dict`` keys map 1:1; ``running_mean``/``running_var`` become ``runningMean``/``runningVar``;
``num_batches_tracked`` is ignored). Reference (PyCIL) equivalents: generalized =
TaskAgnosticExtractor (conv = conv_1_3x3, bn = bn_1, stage1 = stage_1, convA = conv_a, bnA = bn_a,
...), specialized.k = AdaptiveExtractors.k (stage3 = final_stage), auxFC = aux_fc.

    generalized.conv.weight [16,3,3,3]; generalized.bn.{weight,bias,runningMean,runningVar} [16]
    generalized.stage{1,2}.{i}.convA.weight, .bnA.{...}, .convB.weight, .bnB.{...}   i in 0..<2
    specialized.{k}.stage3.{i}.convA.weight, ...                                    k, i in 0..<2
    fc.weight [6,128], fc.bias [6], auxFC.weight [4,64], auxFC.bias [4]

Deterministic values (no weights are stored)
--------------------------------------------
    key(name)    = (sum of the UTF-8 bytes of name) % 1000
    pattern(i,k) = Float(sin(0.618 * Double(i) + 1.234 * Double(k)))
                   i.e. evaluated in float64 (C libm sin, Python's math.sin), then rounded to
                   float32; i is the flat row-major element index.

With p = pattern(i, key(name)) (a float32), every formula below is evaluated in float32
arithmetic; a constant that is not a plain literal (c below) is computed in float64 and rounded
to float32 once:

    conv weight [O,I,3,3]:  c * p,  c = Float(sqrt(2 / (9 * O)))
    BN weight:              1 + 0.2 * p
    BN bias:                0.1 * p
    BN runningMean:         0.1 * p
    BN runningVar:          1 + 0.5 * (p * p)
    linear weight [out,in]: p / c,  c = Float(sqrt(in))
    linear bias:            0.05 * p
    input x [4,3,32,32]:    1.5 * Float(sin(0.618 * ((i*i) % 10007) + 1.234 * 7))
    labels y = [0, 4, 2, 5]; known = 3; auxLabels = y - known + 1 if y >= known else 0 = [0, 2, 0, 3]

(The literals 0.2, 0.1, 0.5, 0.05, 1.5 are float32 literals, as in Swift `Float` code.) Swift:
``Float(Foundation.sin(0.618 * Double(i) + 1.234 * Double(k)))`` reproduces ``pattern``.

Loss = CE(logits, y) + 1.0 * CE(auxLogits, auxLabels), each the batch mean (F.cross_entropy).

Cases (each from the same fresh initial values)
-----------------------------------------------
* "train": every module in train mode, every parameter trainable.
* "eval":  every module in eval mode (BN running statistics), every parameter trainable.
* "memo":  MEMO stage t with --train_base: generalized train mode + trainable; specialized.0
           eval mode + frozen (requires_grad False, not in the optimizer; gradients still flow
           through it to the generalized part); specialized.1 train mode + trainable; fc, auxFC
           trainable.

Per case: SGD(lr 0.1, momentum 0.9, weight_decay 5e-4, dampening 0, nesterov False) over the
trainable parameters (PyTorch: d = g + wd * w; buf = d on the first step, buf = 0.9 * buf + d
afterwards; w -= lr * buf), two steps on the same batch: forward, backward, step; forward,
backward, step. Recorded: logits, auxLogits and features of the step-1 forward (full), loss of
step 1 and step 2 (with its two parts), the raw gradients of step 1 (``.grad`` after backward,
i.e. WITHOUT weight decay) of every trainable parameter, and the values after step 2 of every
parameter and BN running statistic (frozen and eval-mode ones too: they must equal the initial
values).

JSON layout (format 1)
----------------------
    {
      "format": 1,
      "description": "...",
      "network": {"backbone": "memo_resnet14_cifar", "blocksPerStage": 2, "specializedBlocks": 2,
                  "featureDim": 128, "classes": 6, "auxClasses": 4, "knownClasses": 3,
                  "bnEps": 1e-05, "bnMomentum": 0.1, "parameterCounts": {...}},
      "formulas": {... the formulas above as text ...},
      "input": {"shape": [4,3,32,32], "labels": [0,4,2,5], "auxLabels": [0,2,0,3],
                "knownClasses": 3, "patternKey": 7, "scale": 1.5,
                "sample": {"indices": [...], "values": [...], "norm": x, "sum": y}},
      "sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005, "dampening": 0.0,
              "nesterov": false, "steps": 2},          (torch.optim.SGD's argument names)
      "tensors": {name: {"shape": [...], "kind": "conv|bnWeight|bnBias|runningMean|runningVar|
                         linearWeight|linearBias", "key": k,
                         "initial": {"indices": [...], "values": [...], "norm": x, "sum": y}}},
      "cases": {
        "train" | "eval" | "memo": {
          "modes": {"generalized": "train|eval", "specialized.0": ..., "specialized.1": ...},
          "frozen": ["specialized.0", ...],
          "logits": [[6 floats] x 4], "auxLogits": [[4 floats] x 4], "features": [[128] x 4],
          "loss": [l1, l2], "lossClf": [c1, c2], "lossAux": [a1, a2],
          "gradients":  {name: {"indices": [...], "values": [...], "norm": x, "sum": y,
                                "noise": r}},
          "afterStep2": {name: {... same ...}}
        }
      },
      "noiseFloor": {case: {"float32" | "perturbed": {"logits": r, "features": r, "loss": r,
                                                      "gradients": r, "afterStep2": r}}}
    }

A sample holds up to 64 elements at flat indices idx_j = round(j * (numel - 1) / (n - 1)),
n = min(numel, 64), j in 0..<n, rounded half up (integer arithmetic:
(2 j (numel-1) + (n-1)) div (2 (n-1))); the indices are stored with every sample. "norm" is the
L2 norm and "sum" the sum of the FULL float32 tensor (accumulated in float64). Floats are printed
with 9 significant digits (enough to round-trip float32).

Float32 noise floor
-------------------
The whole computation is plain float32 torch on the CPU, one thread, deterministic algorithms.
Each case is rerun (a) in float64 from the same float32 initial values (promoted) and (b) in
float64 with every parameter multiplied by (1 + 1e-7 N(0,1)) (seeds 1..4), which moves
activations by ~1e-6 relative, about what a different float32 engine (other summation order)
does. "noiseFloor" stores, against the plain float64 run, max|a - a64| / max|a64| for
logits/features/loss and, for gradients/afterStep2, the worst tensor's ||a - a64|| / ||a64||;
"float32" is the torch float32 run, "perturbed" the worst of the four perturbed runs. Every
gradients/afterStep2 entry carries "noise" = the largest of these per-tensor relative distances
for that tensor: a per-tensor tolerance guide (e.g. tolerance = 5 * noise + 1e-5).

Measured (torch 2.15 CPU):

    case   float32 vs float64                        perturbed 1e-7 vs float64
    train  logits 7.8e-7  features 1.4e-6            logits 9.9e-7  features 7.4e-7
           grads 1.7e-5   afterStep2 1.4e-3          loss(step 2) 5.9e-4  grads 1.7e-2
                                                     afterStep2 3.2e-2
    eval   logits 1.9e-7  features 2.5e-7            logits 2.0e-7  features 3.1e-7
           grads 1.4e-6   afterStep2 8.2e-8          grads 1.7e-6   afterStep2 1.5e-7
    memo   logits 7.8e-7  features 1.3e-6            logits 9.9e-7  features 6.8e-7
           grads 1.6e-5   afterStep2 6.2e-5          loss(step 2) 7.0e-4  grads 1.6e-2
                                                     afterStep2 7.7e-3

So the float32 noise floor of logits and features is ~1e-6 relative in every case. The
train-mode (batch-statistics) cases are kink-sensitive: one ReLU pre-activation in
specialized.1's last block is -6.9e-7 (image 3, channel 27, position (3, 7)); tiny perturbations
flip it, and because the step-1 gradients of the shallow layers are small sums of large,
cancelling terms (the four images are the same plane wave with shifted phases, so their
features differ by only 1-5 %), that one flip moves some gradients by ~1-2 % and, through step
1, values after step 2 by up to ~3 % (generalized.bn.bias, generalized.conv.weight). The eval
case has no such kink: its gradients and values after step 2 are stable to ~1e-6. Use the
per-entry "noise" for tolerances; compare logits, features and the step-1 loss tightly (~1e-5).
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUTPUT = os.path.join("Tests", "MEMOModelTests", "Fixtures", "parity_memo_resnet14.json")

BLOCKS_PER_STAGE = 2        # memo_resnet14: depth 6n+2 = 14
SPECIALIZED = 2
FEATURE = 64
CLASSES = 6
KNOWN = 3
AUX_CLASSES = CLASSES - KNOWN + 1
BATCH = 4
LABELS = [0, 4, 2, 5]
INPUT_KEY = 14   # input pattern key: 7 put a float32-flippable ReLU (|x| < 1e-7) in the train case; 14 does not
SAMPLE_MAX = 64
PERTURB = 1e-7
PERTURB_SEEDS = (1, 2, 3, 4)
SGD_ARGS = dict(lr=0.1, momentum=0.9, weight_decay=5e-4, dampening=0.0, nesterov=False)


# ----------------------------------------------------------------------------- deterministic values

def key(name):
    """(sum of the UTF-8 bytes of name) % 1000."""
    return sum(name.encode("utf-8")) % 1000


def pattern(count, k):
    """float32 array of Float(sin(0.618 i + 1.234 k)) for i in 0..<count (libm sin in float64)."""
    kk = 1.234 * float(k)
    return np.array([math.sin(0.618 * float(i) + kk) for i in range(count)], dtype=np.float64) \
        .astype(np.float32)


def f32(x):
    return np.float32(x)


def initial_value(name, shape, kind):
    """The deterministic initial value of tensor `name` (float32 numpy array of `shape`)."""
    numel = int(np.prod(shape))
    p = pattern(numel, key(name))
    if kind == "conv":
        v = f32(math.sqrt(2.0 / (9.0 * shape[0]))) * p
    elif kind == "bnWeight":
        v = f32(1) + f32(0.2) * p
    elif kind == "bnBias":
        v = f32(0.1) * p
    elif kind == "runningMean":
        v = f32(0.1) * p
    elif kind == "runningVar":
        v = f32(1) + f32(0.5) * (p * p)
    elif kind == "linearWeight":
        v = p / f32(math.sqrt(float(shape[1])))
    elif kind == "linearBias":
        v = f32(0.05) * p
    else:
        raise ValueError(kind)
    assert v.dtype == np.float32, (name, v.dtype)
    return v.reshape(shape)


def input_batch():
    """1.5 * Float(sin(0.618 * ((i * i) % 10007) + 1.234 * 7)): the squared index scrambles the
    phase so the four images differ (a plain sine of i made them near-copies of each other, whose
    features nearly cancel in the gradients and flip ReLUs on float32 rounding)."""
    kk = 1.234 * float(INPUT_KEY)
    n = BATCH * 3 * 32 * 32
    p = np.array([math.sin(0.618 * float((i * i) % 10007) + kk) for i in range(n)], dtype=np.float64).astype(np.float32)
    return (f32(1.5) * p).reshape(BATCH, 3, 32, 32)


def aux_labels(labels, known):
    return [y - known + 1 if y >= known else 0 for y in labels]


# ----------------------------------------------------------------------------- network

class DownsampleA(nn.Module):
    """Stride-2 subsampling, channels padded with zeros (no parameters)."""

    def forward(self, x):
        x = x[:, :, ::2, ::2]
        return torch.cat((x, torch.zeros_like(x)), 1)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.convA = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bnA = nn.BatchNorm2d(cout)
        self.convB = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bnB = nn.BatchNorm2d(cout)
        self.down = DownsampleA() if (stride != 1 or cin != cout) else None

    def forward(self, x):
        y = F.relu(self.bnA(self.convA(x)))
        y = self.bnB(self.convB(y))
        r = self.down(x) if self.down is not None else x
        return F.relu(r + y)


def make_stage(cin, cout, blocks, stride):
    return nn.Sequential(*[BasicBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                           for i in range(blocks)])


class Generalized(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.stage1 = make_stage(16, 16, n, 1)
        self.stage2 = make_stage(16, 32, n, 2)

    def forward(self, x):
        return self.stage2(self.stage1(F.relu(self.bn(self.conv(x)))))


class Specialized(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.stage3 = make_stage(32, 64, n, 2)

    def forward(self, base):
        y = self.stage3(base)                   # [N, 64, 8, 8]
        return F.avg_pool2d(y, 8).flatten(1)    # [N, 64]


class MEMONet(nn.Module):
    def __init__(self, n, specialized, classes, aux_classes):
        super().__init__()
        self.generalized = Generalized(n)
        self.specialized = nn.ModuleList([Specialized(n) for _ in range(specialized)])
        self.fc = nn.Linear(FEATURE * specialized, classes)
        self.auxFC = nn.Linear(FEATURE, aux_classes)

    def forward(self, x):
        base = self.generalized(x)
        features = torch.cat([s(base) for s in self.specialized], 1)
        return self.fc(features), self.auxFC(features[:, -FEATURE:]), features


def swift_name(torch_name):
    return torch_name.replace("running_mean", "runningMean").replace("running_var", "runningVar")


def kind_of(name, shape):
    last = name.rsplit(".", 1)[1]
    owner = name.split(".")[-2]
    if last == "runningMean":
        return "runningMean"
    if last == "runningVar":
        return "runningVar"
    if owner.startswith("conv"):
        return "conv"
    if owner.startswith("bn"):
        return "bnWeight" if last == "weight" else "bnBias"
    if owner in ("fc", "auxFC"):
        return "linearWeight" if last == "weight" else "linearBias"
    raise ValueError(name)


def named_tensors(model):
    """[(swift name, tensor)] for every parameter and BN running statistic, in module order."""
    out = []
    for tname, t in model.state_dict(keep_vars=True).items():
        if tname.endswith("num_batches_tracked"):
            continue
        out.append((swift_name(tname), t))
    return out


def build_model(dtype):
    torch.manual_seed(0)  # irrelevant (every value is overwritten) but keeps construction quiet
    model = MEMONet(BLOCKS_PER_STAGE, SPECIALIZED, CLASSES, AUX_CLASSES)
    with torch.no_grad():
        for name, t in named_tensors(model):
            v = initial_value(name, tuple(t.shape), kind_of(name, tuple(t.shape)))
            t.copy_(torch.from_numpy(v))
    return model.to(dtype)


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- cases

CASES = {
    "train": {"modes": {"generalized": "train", "specialized.0": "train", "specialized.1": "train"},
              "frozen": []},
    "eval": {"modes": {"generalized": "eval", "specialized.0": "eval", "specialized.1": "eval"},
             "frozen": []},
    "memo": {"modes": {"generalized": "train", "specialized.0": "eval", "specialized.1": "train"},
             "frozen": ["specialized.0"]},
}


def configure(model, case):
    spec = CASES[case]
    model.train()
    model.generalized.train(spec["modes"]["generalized"] == "train")
    for k, s in enumerate(model.specialized):
        s.train(spec["modes"]["specialized.%d" % k] == "train")
    for name, p in model.named_parameters():
        p.requires_grad_(not any(name.startswith(f + ".") for f in spec["frozen"]))


def run_case(case, dtype, perturb=0.0, seed=0):
    """Two SGD steps; returns a dict of numpy arrays (float64 copies of the results).

    perturb > 0 multiplies every parameter by (1 + perturb * N(0, 1)) (generator seed) before the
    first step, to measure how far a result moves when the arithmetic differs slightly."""
    model = build_model(dtype)
    if perturb > 0:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + perturb * torch.randn(p.shape, generator=gen, dtype=dtype))
    configure(model, case)
    x = torch.from_numpy(input_batch()).to(dtype)
    y = torch.tensor(LABELS)
    ya = torch.tensor(aux_labels(LABELS, KNOWN))
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trainable, **SGD_ARGS)
    res = {"loss": [], "lossClf": [], "lossAux": []}
    for step in range(2):
        opt.zero_grad(set_to_none=True)
        logits, aux, feats = model(x)
        clf = F.cross_entropy(logits, y)
        auxl = F.cross_entropy(aux, ya)
        loss = clf + 1.0 * auxl
        loss.backward()
        res["loss"].append(loss.item())
        res["lossClf"].append(clf.item())
        res["lossAux"].append(auxl.item())
        if step == 0:
            res["logits"] = logits.detach().double().numpy()
            res["auxLogits"] = aux.detach().double().numpy()
            res["features"] = feats.detach().double().numpy()
            res["gradients"] = {}
            params = dict(model.named_parameters())
            for tname, p in params.items():
                if p.requires_grad:
                    assert p.grad is not None, tname
                    res["gradients"][swift_name(tname)] = p.grad.detach().double().numpy().copy()
                else:
                    assert p.grad is None, tname
        opt.step()
    res["afterStep2"] = {n: t.detach().double().numpy().copy() for n, t in named_tensors(model)}
    return res


# ----------------------------------------------------------------------------- JSON

def sample_indices(numel):
    n = min(numel, SAMPLE_MAX)
    if n == 1:
        return [0]
    return [(2 * j * (numel - 1) + (n - 1)) // (2 * (n - 1)) for j in range(n)]


def sample(a):
    flat = np.asarray(a, dtype=np.float64).reshape(-1)
    idx = sample_indices(flat.size)
    return {"indices": idx, "values": [float(flat[i]) for i in idx],
            "norm": float(np.sqrt(np.sum(flat * flat))), "sum": float(np.sum(flat))}


def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        assert math.isfinite(v), v
        return "%.9g" % v
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(fmt(e) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + fmt(e) for k, e in v.items()) + "}"
    raise TypeError(type(v))


def dump(obj, depth=0, max_depth=3):
    """JSON with one line per object member down to max_depth, compact below."""
    if isinstance(obj, dict) and depth < max_depth:
        pad = "  " * (depth + 1)
        items = [pad + json.dumps(k) + ": " + dump(v, depth + 1, max_depth) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    return fmt(obj)


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def rel_tensor(a, b):
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / nb) if nb > 0 else float(np.linalg.norm(a - b))


def rel_tensors(d32, d64):
    return max(rel_tensor(a, d64[n]) for n, a in d32.items())


def counts():
    out = {}
    for label, n in (("memo_resnet14_cifar", 2), ("memo_resnet32", 5)):
        out[label] = {"generalized": parameter_count(Generalized(n)),
                      "specializedBlock": parameter_count(Specialized(n))}
    return out


# ----------------------------------------------------------------------------- self-check

def self_check():
    ok = True

    def expect(cond, what):
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + what)
        ok = ok and cond

    expect(key("fc.weight") == sum(b"fc.weight") % 1000 == 895, "key('fc.weight') == 895")
    expect(key("generalized.conv.weight") == 340, "key('generalized.conv.weight') == 340")
    p = pattern(12, 0)
    expect(p[0] == np.float32(0.0), "pattern(0, 0) == 0")
    expect(p[1] == np.float32(0.579406261), "pattern(1, 0) == Float(sin(0.618)) == 0.579406261")
    expect(p.dtype == np.float32, "pattern is float32")
    q = pattern(11, 123)
    expect(float(q[10]) == float(np.float32(math.sin(0.618 * 10.0 + 1.234 * 123.0))),
           "pattern(10, 123) == Float(sin(0.618 * 10 + 1.234 * 123)) = %.9g" % float(q[10]))
    expect(q[10] == np.float32(0.772245049), "pattern(10, 123) == 0.772245049")
    k = pattern(4, INPUT_KEY)
    expect(np.allclose(k, np.sin(0.618 * np.arange(4) + 1.234 * INPUT_KEY), rtol=0, atol=1e-7),
           "pattern(i, INPUT_KEY) agrees with numpy's sin")
    v = initial_value("generalized.conv.weight", (16, 3, 3, 3), "conv")
    expect(v.flat[0] == np.float32(math.sqrt(2 / 144)) * np.float32(math.sin(1.234 * 340)),
           "generalized.conv.weight[0] = %.9g" % float(v.flat[0]))
    expect(sample_indices(64) == list(range(64)), "sample_indices(64) = 0..<64")
    expect(sample_indices(432)[:4] == [0, 7, 14, 21] and sample_indices(432)[-1] == 431,
           "sample_indices(432) = [0, 7, 14, 21, ..., 431]")
    expect(aux_labels(LABELS, KNOWN) == [0, 2, 0, 3], "aux labels [0, 2, 0, 3]")
    c = counts()
    for label, d in c.items():
        print("     %s: generalized %d, one specialized block %d parameters"
              % (label, d["generalized"], d["specializedBlock"]))
    expect(c["memo_resnet32"] == {"generalized": 112016, "specializedBlock": 351488},
           "memo_resnet32 counts 112,016 / 351,488")
    return ok


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="run the self-check only")
    ap.add_argument("--output", default=OUTPUT)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    ok = self_check()
    if args.check or not ok:
        sys.exit(0 if ok else 1)

    model = build_model(torch.float32)
    tensors = {}
    for name, t in named_tensors(model):
        shape = list(t.shape)
        tensors[name] = {"shape": shape, "kind": kind_of(name, tuple(shape)), "key": key(name),
                         "initial": sample(t.detach().numpy())}

    cases, noise = {}, {}
    for case in CASES:
        r32 = run_case(case, torch.float32)
        r64 = run_case(case, torch.float64)
        rps = [run_case(case, torch.float64, PERTURB, seed) for seed in PERTURB_SEEDS]

        def measures(r):
            return {
                "logits": max(rel(r["logits"], r64["logits"]), rel(r["auxLogits"], r64["auxLogits"])),
                "features": rel(r["features"], r64["features"]),
                "loss": rel(r["loss"], r64["loss"]),
                "gradients": rel_tensors(r["gradients"], r64["gradients"]),
                "afterStep2": rel_tensors(r["afterStep2"], r64["afterStep2"]),
            }
        noise[case] = {"float32": measures(r32)}
        per_seed = [measures(r) for r in rps]
        noise[case]["perturbed"] = {k: max(d[k] for d in per_seed) for k in per_seed[0]}

        def entry(section, n, a):
            e = sample(a)
            e["noise"] = max([rel_tensor(a, r64[section][n])]
                             + [rel_tensor(r[section][n], r64[section][n]) for r in rps])
            return e
        # Frozen / eval-mode state must not have moved.
        for name, a in r32["afterStep2"].items():
            frozen = any(name.startswith(f + ".") for f in CASES[case]["frozen"])
            stats = name.endswith("runningMean") or name.endswith("runningVar")
            owner = name.split(".")[0] if name.startswith("generalized") else ".".join(name.split(".")[:2])
            eval_stats = stats and CASES[case]["modes"].get(owner) == "eval"
            if frozen or eval_stats:
                init = initial_value(name, tuple(a.shape), kind_of(name, tuple(a.shape)))
                assert np.array_equal(a.astype(np.float32), init), (case, name)
        cases[case] = {
            "modes": CASES[case]["modes"],
            "frozen": CASES[case]["frozen"],
            "logits": r32["logits"].tolist(),
            "auxLogits": r32["auxLogits"].tolist(),
            "features": r32["features"].tolist(),
            "loss": r32["loss"],
            "lossClf": r32["lossClf"],
            "lossAux": r32["lossAux"],
            "gradients": {n: entry("gradients", n, a) for n, a in r32["gradients"].items()},
            "afterStep2": {n: entry("afterStep2", n, a) for n, a in r32["afterStep2"].items()},
        }
        print("case %-5s loss %.6f -> %.6f" % (case, r32["loss"][0], r32["loss"][1]))
        for label, d in noise[case].items():
            print("   vs float64, %-9s: logits %.2e features %.2e loss %.2e gradients %.2e "
                  "afterStep2 %.2e" % (label, d["logits"], d["features"], d["loss"],
                                       d["gradients"], d["afterStep2"]))

    doc = {
        "format": 1,
        "description": "PyTorch %s reference values for memo-swift (scripts/make_fixtures.py; "
                       "see its docstring for the formulas and the layout)" % torch.__version__,
        "network": {"backbone": "memo_resnet14_cifar", "blocksPerStage": BLOCKS_PER_STAGE,
                    "specializedBlocks": SPECIALIZED, "featureDim": FEATURE * SPECIALIZED,
                    "classes": CLASSES, "auxClasses": AUX_CLASSES, "knownClasses": KNOWN,
                    "bnEps": 1e-5, "bnMomentum": 0.1,
                    "parameterCounts": counts()},
        "formulas": {
            "key": "(sum of the UTF-8 bytes of name) % 1000",
            "pattern": "Float(sin(0.618 * Double(i) + 1.234 * Double(k))), i = flat row-major index",
            "arithmetic": "float32 after pattern; c computed in float64, rounded to float32 once",
            "conv": "c * p, c = sqrt(2 / (9 * outChannels))",
            "bnWeight": "1 + 0.2 * p", "bnBias": "0.1 * p", "runningMean": "0.1 * p",
            "runningVar": "1 + 0.5 * (p * p)", "linearWeight": "p / c, c = sqrt(inFeatures)",
            "linearBias": "0.05 * p", "input": "1.5 * Float(sin(0.618 * ((i*i) % 10007) + 1.234 * 7))",
            "auxLabels": "y - known + 1 if y >= known else 0",
            "loss": "CE(logits, y) + 1.0 * CE(auxLogits, auxLabels), batch means",
            "sampleIndices": "round_half_up(j * (numel - 1) / (n - 1)), n = min(numel, 64)",
            "gradients": "raw .grad of step 1 (without weight decay), trainable parameters only",
        },
        "input": {"shape": [BATCH, 3, 32, 32], "labels": LABELS,
                  "auxLabels": aux_labels(LABELS, KNOWN), "knownClasses": KNOWN,
                  "patternKey": INPUT_KEY, "scale": 1.5, "sample": sample(input_batch())},
        "sgd": {"lr": SGD_ARGS["lr"], "momentum": SGD_ARGS["momentum"],
                "weight_decay": SGD_ARGS["weight_decay"], "dampening": SGD_ARGS["dampening"],
                "nesterov": SGD_ARGS["nesterov"], "steps": 2},
        "tensors": tensors,
        "cases": cases,
        "noiseFloor": noise,
    }
    text = dump(doc) + "\n"
    json.loads(text)  # must parse
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (args.output, len(text.encode())))


if __name__ == "__main__":
    main()
