#!/usr/bin/env python3
"""PyTorch reference values for memo-swift's engine (the parity fixture).

Run from the repository root:

    /work/venv/bin/python scripts/make_fixtures.py               # writes the fixture (~20 s)
    /work/venv/bin/python scripts/make_fixtures.py --check       # self-check only, writes nothing
    /work/venv/bin/python scripts/make_fixtures.py --search-key  # picks the input key K (~70 s)

It writes ``Tests/MEMOModelTests/Fixtures/parity_memo_resnet14.json``. The network is defined
here from scratch (no code of the reference repository is imported or copied); it behaves like
MEMO's ``AdaptiveNet`` with ``memo_resnet14_cifar`` (wangkiw/ICLR23-MEMO, convs/memo_cifar_resnet.py
and utils/inc_net.py), as docs/memo.md states it.

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
    input x [4,3,32,32]:    1.5 * Float(sin(0.618 * Double((i*i) % 10007) + 1.234 * Double(K)))
                            K = 888 (INPUT_KEY, JSON input.patternKey; see "ReLU margin")
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

Per case: SGD(lr 0.01, momentum 0.9, weight_decay 5e-4, dampening 0, nesterov False) over the
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
                "knownClasses": 3, "patternKey": 888, "scale": 1.5,
                "sample": {"indices": [...], "values": [...], "norm": x, "sum": y},
                "reluMargin": {"noiseKey": 7, "required": [8.0, 3.0],
                               "step1" | "step2": {"minAbs": x, "minAbsAt": where,
                                                   "minRatio": r, "minRatioAt": where},
                               "float32MaxDeviation": x, "float32Flips": [where...]}},
      "sgd": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005, "dampening": 0.0,
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

Measured (torch 2.15 CPU, K = 888, lr 0.01):

    case   float32 vs float64                        perturbed 1e-7 vs float64
    train  logits 8.3e-7  features 6.0e-7            logits 1.1e-6  features 6.0e-7
           grads 1.0e-5   afterStep2 4.2e-7          grads 1.1e-5   afterStep2 8.0e-7
    eval   logits 1.3e-7  features 2.4e-7            logits 1.2e-7  features 2.4e-7
           grads 9.4e-7   afterStep2 4.7e-8          grads 1.4e-6   afterStep2 1.7e-7
    memo   logits 8.3e-7  features 5.2e-7            logits 1.1e-6  features 4.9e-7
           grads 8.6e-6   afterStep2 4.6e-7          grads 1.1e-5   afterStep2 6.8e-7

So the float32 noise floor is ~1e-6 relative for logits, features and values after step 2 and
~1e-5 for step-1 gradients (the shallow gradients of the batch-statistics cases are sums of
large, cancelling terms), in every case, because no ReLU input sits near its kink (below).

ReLU margin (why K = 888 and lr = 0.01)
---------------------------------------
Every ReLU is a kink: if float32 rounding puts a ReLU input on the other side of zero than the
reference did, the result jumps. In the batch-statistics cases ("train", "memo") one such flip
moves every shallower step-1 gradient by ~1 % (the BN backward couples all elements), far above
the 1e-3 tolerance; in the step-2 forward it moves the step-2 gradients by ~1 %, i.e. values
after step 2 by ~1 % * lr * |g2| / |w|: 1-2e-3 with lr 0.1, 1-2e-4 with lr 0.01.

How far rounding moves a ReLU input depends on the layer: the "noise" of a ReLU (case, step,
layer) is the RMS over that layer of (float32 torch - float64 torch) input, measured with the
input of key 7 (RELU_NOISE_KEY; a property of the network, cases and SGD settings, not of the
input). It is 1e-7 (generalized.bn) to 5e-6 (last joins) in the step-1 forward of "train" and
"memo", up to 1e-5 in their step-2 forward (the step-1 update carries the float32 gradient
error), and 3e-8 to 1e-7 in "eval". A ReLU input's margin is |x| (float64) / noise; single
elements deviate by up to ~7 noise (heavy tails), and a second engine (oneDNN) deviates from
torch by about as much again. With K = 7 the smallest step-1 margin was 2.2 (specialized.1.
stage3.0.bnA, a value 2.1e-6 from zero), and oneDNN flipped it.

The ReLUs are the ones after generalized.bn and after every bnA, and every residual join
relu(bnB(...) + shortcut); every image, both forward passes, all three cases (about 3.5
million ReLU inputs). An absolute margin (e.g. |x| >= 2e-6) is the wrong measure: the "eval"
inputs are 5-10x smaller and 100x less noisy, the step-2 "train" inputs 5x noisier; with K = 7
eleven inputs were below 2e-6, so a key with none is an e^-11 chance.

``--search-key`` therefore takes, for K = 7, 8, 9, ..., the float64 ReLU inputs of both forward
passes of the three cases and picks the first K whose every margin is >= RELU_RATIO =
(8 in the step-1 forward, 3 in the step-2 forward); it stops a key at its first failing ReLU,
so the scan of K = 7..888 takes about a minute. K = 888 is the first such key (and no K up to
4000 reaches (8, 4)); its margins are 10.1 (step 1; smallest at "eval" generalized.stage1.1.join,
|x| = 7.7e-7) and 3.66 (step 2; "train" specialized.0.stage3.0.bnA, |x| = 1.9e-5). The smallest
absolute |x| is 6.9e-7 ("eval" step 2, generalized.bn, whose noise is ~5e-8). float32 torch
flips none of the ReLU inputs, nor do the four perturbed runs (their gradients stay at 1e-5).

Step 2 cannot be protected as well as step 1 (no K up to 4000 has step-2 margin 4 together
with step-1 margin 8), so the learning rate is 0.01 instead of MEMO's 0.1: with 0.1 even K = 888
has step-2 ReLU inputs within ~1 noise of zero (each of torch's four perturbed runs flips one
or two, in generalized.stage1.0.bnA or specialized.1.stage3.0.join, and values after step 2
move by up to 6e-4; oneDNN's differ from torch's by 9.5e-4); with 0.01 no run flips any, and a
step-2 flip could move them by ~1e-4 at most. SGD momentum is still exercised (the update of step 2 includes 0.9 * the
step-1 buffer); the test reads lr from the JSON. Everything is recorded in input.reluMargin.
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
INPUT_KEY = 888             # the input's K, chosen by --search-key (see "ReLU margin" above)
RELU_NOISE_KEY = 7          # the input whose float32 deviations define the ReLU noise table
RELU_RATIO = (8.0, 3.0)     # required min |ReLU input| / noise in the step-1 / step-2 forward
SAMPLE_MAX = 64
PERTURB = 1e-7
PERTURB_SEEDS = (1, 2, 3, 4)
SGD_ARGS = dict(lr=0.01, momentum=0.9, weight_decay=5e-4, dampening=0.0, nesterov=False)


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


def input_batch(input_key=None):
    """1.5 * Float(sin(0.618 * ((i * i) % 10007) + 1.234 * K)), K = input_key (default INPUT_KEY):
    the squared index scrambles the phase so the four images differ (a plain sine of i made them
    near-copies of each other, whose features nearly cancel in the gradients and flip ReLUs on
    float32 rounding). K is chosen by --search-key so that no ReLU input is near zero."""
    kk = 1.234 * float(INPUT_KEY if input_key is None else input_key)
    n = BATCH * 3 * 32 * 32
    p = np.array([math.sin(0.618 * float((i * i) % 10007) + kk) for i in range(n)], dtype=np.float64).astype(np.float32)
    return (f32(1.5) * p).reshape(BATCH, 3, 32, 32)


def aux_labels(labels, known):
    return [y - known + 1 if y >= known else 0 for y in labels]


# ----------------------------------------------------------------------------- ReLU probe

class BelowMargin(Exception):
    """Raised by a ReluProbe with `required` when a ReLU input is too close to zero (args[0] is
    the probe; the key search only needs to know that a key fails)."""


class ReluProbe:
    """Watches every ReLU input of the network while installed (``with probe:``).

    Per step (index 0 = the step-1 forward, 1 = the step-2 forward) it tracks the smallest
    |ReLU input| and, given ``noise`` ({(case, step, relu tag): float32 noise}), the smallest
    ratio |ReLU input| / noise, each with its location. keep=True keeps a float64 copy of every
    ReLU input, keyed (step, tag). ``required`` = (ratio for step 1, ratio for step 2) makes it
    raise BelowMargin as soon as a ratio falls below that."""

    active = None

    def __init__(self, noise=None, required=None, keep=False):
        self.noise = noise
        self.required = required
        self.keep = keep
        self.step = 0
        self.case = ""
        self.minimum = [math.inf, math.inf]
        self.minimum_at = [None, None]
        self.ratio = [math.inf, math.inf]
        self.ratio_at = [None, None]
        self.inputs = {}

    def __enter__(self):
        ReluProbe.active = self
        return self

    def __exit__(self, *exc):
        ReluProbe.active = None
        return False

    def _where(self, tag, x, flat):
        idx = np.unravel_index(flat, tuple(x.shape))
        return {"case": self.case, "step": self.step + 1, "relu": tag, "image": int(idx[0]),
                "channel": int(idx[1]), "position": [int(idx[2]), int(idx[3])],
                "value": float(x.detach().reshape(-1)[flat])}

    def observe(self, tag, x):
        a = x.detach().abs()
        flat = int(a.argmin())
        m = float(a.reshape(-1)[flat])
        st = self.step
        if m < self.minimum[st]:
            self.minimum[st], self.minimum_at[st] = m, self._where(tag, x, flat)
        if self.noise is not None:
            r = m / self.noise[(self.case, st, tag)]
            if r < self.ratio[st]:
                self.ratio[st], self.ratio_at[st] = r, self._where(tag, x, flat)
            if self.required is not None and r < self.required[st]:
                raise BelowMargin(self)
        if self.keep:
            self.inputs[(st, tag)] = x.detach().double().numpy().copy()


def relu(x, tag):
    """F.relu, reported to the active ReluProbe (tag = the ReLU's name, e.g. '...0.bnA')."""
    if ReluProbe.active is not None:
        ReluProbe.active.observe(tag, x)
    return F.relu(x)


def tag_modules(model):
    """Give every module its dotted name (relu_tag) so that relu() can say where it is."""
    for name, m in model.named_modules():
        m.relu_tag = name


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
        y = relu(self.bnA(self.convA(x)), self.relu_tag + ".bnA")
        y = self.bnB(self.convB(y))
        r = self.down(x) if self.down is not None else x
        return relu(r + y, self.relu_tag + ".join")


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
        return self.stage2(self.stage1(relu(self.bn(self.conv(x)), self.relu_tag + ".bn")))


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


_INITIAL = {}


def build_model(dtype):
    torch.manual_seed(0)  # irrelevant (every value is overwritten) but keeps construction quiet
    model = MEMONet(BLOCKS_PER_STAGE, SPECIALIZED, CLASSES, AUX_CLASSES)
    tag_modules(model)
    with torch.no_grad():
        for name, t in named_tensors(model):
            if name not in _INITIAL:  # computed once per run (the key search builds many models)
                _INITIAL[name] = initial_value(name, tuple(t.shape), kind_of(name, tuple(t.shape)))
            t.copy_(torch.from_numpy(_INITIAL[name]))
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


def run_case(case, dtype, perturb=0.0, seed=0, input_key=None, probe=None, full=True):
    """Two SGD steps; returns a dict of numpy arrays (float64 copies of the results).

    perturb > 0 multiplies every parameter by (1 + perturb * N(0, 1)) (generator seed) before the
    first step, to measure how far a result moves when the arithmetic differs slightly.
    input_key: the input's K (default INPUT_KEY). probe: a ReluProbe that watches the ReLU inputs
    of both forward passes. full=False stops after the step-2 forward (all the probe needs) and
    returns None."""
    model = build_model(dtype)
    if perturb > 0:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + perturb * torch.randn(p.shape, generator=gen, dtype=dtype))
    configure(model, case)
    x = torch.from_numpy(input_batch(input_key)).to(dtype)
    y = torch.tensor(LABELS)
    ya = torch.tensor(aux_labels(LABELS, KNOWN))
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trainable, **SGD_ARGS)
    res = {"loss": [], "lossClf": [], "lossAux": []}
    for step in range(2):
        opt.zero_grad(set_to_none=True)
        if probe is not None:
            probe.case, probe.step = case, step
            with probe:
                logits, aux, feats = model(x)
        else:
            logits, aux, feats = model(x)
        if step == 1 and not full:
            return None
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


# ----------------------------------------------------------------------------- ReLU margin

def relu_probes(input_key, dtype=torch.float64, noise=None, required=None, keep=False):
    """{case: ReluProbe} over both forward passes of every case (see ReluProbe; with `required`
    this raises BelowMargin at the first ReLU input that is too close to zero)."""
    probes = {}
    for case in CASES:
        probes[case] = ReluProbe(noise, required, keep)
        run_case(case, dtype, input_key=input_key, probe=probes[case], full=False)
    return probes


def float32_deviation(p32, p64):
    """{(case, step, tag): RMS of (float32 - float64) ReLU input}, the largest |float32 - float64|
    and the ReLU inputs whose sign differs (list of locations), from two keep=True probe sets."""
    rms, largest, flips = {}, 0.0, []
    for case in CASES:
        for (st, tag), a64 in p64[case].inputs.items():
            a32 = p32[case].inputs[(st, tag)]
            d = a32 - a64
            rms[(case, st, tag)] = float(np.sqrt(np.mean(d * d)))
            largest = max(largest, float(np.max(np.abs(d))))
            for idx in np.argwhere((a32 > 0) != (a64 > 0)):
                i = tuple(idx)
                flips.append({"case": case, "step": st + 1, "relu": tag, "image": int(idx[0]),
                              "channel": int(idx[1]), "position": [int(idx[2]), int(idx[3])],
                              "value": float(a64[i]), "float32": float(a32[i])})
    return rms, largest, flips


_NOISE = {}


def relu_noise():
    """The float32 noise of every ReLU input: {(case, step, tag): RMS over the layer of
    (float32 - float64)}, measured once with the input of RELU_NOISE_KEY. It is a property of
    the network, the cases and the SGD settings (how far float32 rounding moves that layer's
    inputs), hardly of the input, so the key search uses this one table for every K."""
    if not _NOISE:
        p64 = relu_probes(RELU_NOISE_KEY, torch.float64, keep=True)
        p32 = relu_probes(RELU_NOISE_KEY, torch.float32, keep=True)
        _NOISE.update(float32_deviation(p32, p64)[0])
    return _NOISE


def search_key(first, last, required):
    """The first K in first..last whose float64 ReLU inputs all keep |x| >= required[s] * noise
    (s = step; every case, every ReLU, every image), or None."""
    noise = relu_noise()
    for k in range(first, last + 1):
        try:
            probes = relu_probes(k, noise=noise, required=required)
        except BelowMargin as e:
            p = e.args[0]
            st = p.step
            print("K %4d: fails, step %d ratio %.2f at %s" % (k, st + 1, p.ratio[st], p.ratio_at[st]),
                  flush=True)
            continue
        r = [min(p.ratio[st] for p in probes.values()) for st in (0, 1)]
        print("K %4d: passes, ratios %.2f (step 1), %.2f (step 2)" % (k, r[0], r[1]), flush=True)
        return k
    return None


def relu_margin(input_key):
    """The ReLU margins of input_key for the JSON: per step the smallest |x| and the smallest
    |x| / noise (float64, with locations), and how float32 torch deviates from float64."""
    noise = relu_noise()
    p64 = relu_probes(input_key, torch.float64, noise=noise, keep=True)
    p32 = relu_probes(input_key, torch.float32, keep=True)
    _, largest, flips = float32_deviation(p32, p64)
    out = {"noiseKey": RELU_NOISE_KEY, "required": list(RELU_RATIO)}
    for st in (0, 1):
        pa = min(p64.values(), key=lambda p: p.minimum[st])
        pr = min(p64.values(), key=lambda p: p.ratio[st])
        out["step%d" % (st + 1)] = {"minAbs": pa.minimum[st], "minAbsAt": pa.minimum_at[st],
                                     "minRatio": pr.ratio[st], "minRatioAt": pr.ratio_at[st]}
    out["float32MaxDeviation"] = largest
    out["float32Flips"] = flips
    return out


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
           "pattern(i, %d) agrees with numpy's sin" % INPUT_KEY)
    x = input_batch(7).reshape(-1)
    expect(x[0] == f32(1.5) * np.float32(math.sin(1.234 * 7)) and
           x[5] == f32(1.5) * np.float32(math.sin(0.618 * 25 + 1.234 * 7)),
           "input(K = 7)[0], [5] = %.9g, %.9g" % (float(x[0]), float(x[5])))
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
    ap.add_argument("--search-key", action="store_true",
                    help="find the first input key K >= --key-from whose float64 ReLU inputs all "
                         "keep |x| >= RELU_RATIO * noise (every case, both steps); writes nothing")
    ap.add_argument("--key-from", type=int, default=7)
    ap.add_argument("--key-to", type=int, default=4000)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    ok = self_check()
    if args.check or not ok:
        sys.exit(0 if ok else 1)
    if args.search_key:
        k = search_key(args.key_from, args.key_to, RELU_RATIO)
        if k is None:
            print("no K in %d..%d reaches the ratios %s" % (args.key_from, args.key_to, RELU_RATIO))
            sys.exit(1)
        print("chosen K = %d (set INPUT_KEY)" % k)
        return

    margin = relu_margin(INPUT_KEY)
    for st in (1, 2):
        m = margin["step%d" % st]
        print("ReLU inputs, step-%d forward (K = %d): min |x| %.2e at %s;\n    min |x| / noise %.2f at %s"
              % (st, INPUT_KEY, m["minAbs"], m["minAbsAt"], m["minRatio"], m["minRatioAt"]))
    print("float32 vs float64 ReLU inputs: max |x32 - x64| %.2e, sign flips: %s"
          % (margin["float32MaxDeviation"], margin["float32Flips"] or "none"))
    if any(margin["step%d" % (st + 1)]["minRatio"] < RELU_RATIO[st] for st in (0, 1)):
        print("FAIL: a ReLU input of K = %d is too close to zero (required ratios %s); run "
              "--search-key" % (INPUT_KEY, RELU_RATIO))
        sys.exit(1)

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
            "linearBias": "0.05 * p",
            "input": "1.5 * Float(sin(0.618 * ((i*i) %% 10007) + 1.234 * K)), K = input.patternKey = %d"
                     % INPUT_KEY,
            "auxLabels": "y - known + 1 if y >= known else 0",
            "loss": "CE(logits, y) + 1.0 * CE(auxLogits, auxLabels), batch means",
            "sampleIndices": "round_half_up(j * (numel - 1) / (n - 1)), n = min(numel, 64)",
            "gradients": "raw .grad of step 1 (without weight decay), trainable parameters only",
        },
        "input": {"shape": [BATCH, 3, 32, 32], "labels": LABELS,
                  "auxLabels": aux_labels(LABELS, KNOWN), "knownClasses": KNOWN,
                  "patternKey": INPUT_KEY, "scale": 1.5, "sample": sample(input_batch()),
                  "reluMargin": margin},
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
