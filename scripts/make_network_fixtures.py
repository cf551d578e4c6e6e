#!/usr/bin/env python3
"""PyTorch reference values for memo-swift's memo_conv2 and memo_resnet18 (parity fixtures).

Run from the repository root (torch on the CPU; ~30 s):

    python3 scripts/make_network_fixtures.py            # writes both fixtures
    python3 scripts/make_network_fixtures.py --check    # prints the parameter counts, writes nothing

It writes ``Tests/MEMOModelTests/Fixtures/parity_memo_conv2.json`` and
``parity_memo_resnet18.json``. The networks are defined here from scratch (no code of the reference
repository is imported or copied); they behave like MEMO's ``AdaptiveNet`` (wangkiw/ICLR23-MEMO,
utils/inc_net.py) with ``memo_conv2`` (convs/conv_cifar.py) and ``memo_resnet18``
(convs/memo_resnet.py), two specialized blocks (K = 2):

* memo_conv2: generalized = conv3x3 3->64 (bias) + BN + ReLU + MaxPool2d(2); specialized.k =
  conv3x3 64->64 (bias) + BN + ReLU + MaxPool2d(2), AvgPool2d(8) -> 64-d feature. Input 32x32.
* memo_resnet18: generalized = conv7x7 3->64 stride 2 padding 3 + BN + ReLU + MaxPool2d(3, 2, 1),
  stage1..3 (layer1..3: two BasicBlocks of 64, 128, 256 channels; a stage's first block of
  stride 2 has a conv1x1(stride 2) + BN projection shortcut); specialized.k = stage4 (layer4, 512
  channels) + adaptive average pool -> 512-d feature. Input 64x64 (small for the fixture; the
  pooled feature makes any side work; at 64 the layer4 map is 2x2).
* fc over the concatenated features (2 x width -> 6 classes), auxFC over the newest block's
  feature (width -> 4). Loss = CE(logits, y) + CE(auxLogits, auxLabels), batch means.

Parameter names are memo-swift's (the torch modules are named so ``state_dict`` keys map 1:1;
``running_mean``/``running_var`` become ``runningMean``/``runningVar``). Reference equivalents:
conv_block's Conv2d/BatchNorm2d = conv/bn (encoder.0.0 / encoder.0.1 in GeneralizedConvNet2,
AdaptiveBlock.0 / .1 in SpecializedConvNet2); ResNet-18 conv1/bn1 = conv/bn, layer<i> =
stage<i>, conv1/bn1/conv2/bn2 = convA/bnA/convB/bnB, downsample.0/.1 = shortcutConv/shortcutBN.

Deterministic values (no weights stored), the formulas of scripts/make_fixtures.py extended to
kernels of any size and to conv biases:

    key(name) = (sum of the UTF-8 bytes of name) % 1000
    p(i, k)   = Float(sin(0.618 * Double((i*i) % 10007) + 1.234 * Double(k)))   (float64 sin,
                rounded once; scrambled index, unlike scripts/make_fixtures.py: see pattern())
    conv weight [O,I,kh,kw]: c * p, c = Float(sqrt(2 / (kh * kw * O)))
    conv bias:               0.1 * p
    BN weight 1 + 0.2 p; BN bias 0.1 p; runningMean 0.1 p; runningVar 1 + 0.5 p²
    linear weight p / Float(sqrt(in)); linear bias 0.05 p
    input x [4,3,S,S]: 1.5 * Float(sin(0.618 * ((i*i) % 10007) + 1.234 * K)), K = patternKey

Cases (each from the same initial values, one forward and backward):
* "train": everything in train mode (batch statistics) and trainable.
* "eval":  everything in eval mode (running statistics), trainable.
* "memo":  MEMO stage 1 with --train_base: generalized train + trainable; specialized.0 eval +
           frozen (gradients flow through it to the generalized part); specialized.1 train.

Recorded per case: logits, auxLogits, features (full), loss, and samples (up to 64 elements at
evenly spaced flat indices, with the full tensor's L2 norm and sum) of the raw gradient of every
trainable parameter. A conv bias followed by train-mode BN has a gradient that is zero in exact
arithmetic (BN removes constant shifts): its recorded values are float32 rounding noise, and the
Swift test only checks that they stay near zero.

Kinks: a ReLU input or a max-pool winner that another float32 engine could decide differently
would make gradients jump. patternKey is the first K >= 1 for which three float64 runs with every
parameter multiplied by (1 + 1e-6 N(0,1)) (ten times float32's rounding; 1e-7 chose a key whose eval
gradients moved by 3e-3 on the AVX2 path) move no step-1 gradient by
more than 1e-4 relative (input.perturbedGradientSpread), in every case; "noiseFloor" is the
float32-vs-float64 relative error of each quantity.
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

FIXTURES = os.path.join("Tests", "MEMOModelTests", "Fixtures")
CLASSES, KNOWN, BATCH = 6, 3, 4
LABELS = [0, 4, 2, 5]
SAMPLE_MAX = 64


def key(name):
    return sum(name.encode()) % 1000


def pattern(n, k):
    # The index is scrambled ((i*i) % 10007, as for the input): with sin(0.618 i) itself every
    # output channel of a convolution gets the same filter up to a phase, the channels span two
    # dimensions, and some of ResNet-18's layer4 BN channels end up with near-zero batch variance
    # (1e-7 weight noise then moved gradients by 20-60 %).
    # numpy's float64 sin (vectorised; the Swift side uses glibc's): the two can differ in the
    # last bit of a float64, which changes the float32 value only when it sits on a rounding
    # boundary (about 2^-29 of the values), far below the tests' tolerances.
    i = np.arange(n, dtype=np.int64)
    return np.sin(0.618 * ((i * i) % 10007).astype(np.float64) + 1.234 * k).astype(np.float32)


def f32(x):
    return np.float32(x)


_INITIAL = {}


def initial_value(name, shape):
    if (name, shape) not in _INITIAL:
        _INITIAL[(name, shape)] = _initial_value(name, shape)
    return _INITIAL[(name, shape)]


def _initial_value(name, shape):
    n = int(np.prod(shape))
    p = pattern(n, key(name))
    owner = name.split(".")[-2]
    leaf = name.split(".")[-1]
    if leaf == "runningMean":
        v = f32(0.1) * p
    elif leaf == "runningVar":
        v = f32(1) + f32(0.5) * (p * p)
    elif name.startswith("fc.") or name.startswith("auxFC."):
        v = p / f32(math.sqrt(shape[1])) if leaf == "weight" else f32(0.05) * p
    elif owner.lower().startswith("bn") or owner.endswith("BN"):
        v = f32(1) + f32(0.2) * p if leaf == "weight" else f32(0.1) * p
    elif leaf == "bias":
        v = f32(0.1) * p
    else:
        c = f32(math.sqrt(2.0 / (shape[2] * shape[3] * shape[0])))
        v = c * p
    return v.astype(np.float32).reshape(shape)


def input_batch(k, side):
    n = BATCH * 3 * side * side
    i = np.arange(n, dtype=np.int64)
    v = np.sin(0.618 * ((i * i) % 10007).astype(np.float64) + 1.234 * k)
    return (f32(1.5) * v.astype(np.float32)).reshape(BATCH, 3, side, side)


def aux_labels():
    return [y - KNOWN + 1 if y >= KNOWN else 0 for y in LABELS]


# ----------------------------------------------------------------------------- networks
def relu(x):
    return F.relu(x)


def maxpool(x, k, s, p):
    return F.max_pool2d(x, k, s, p)


class ConvBlock(nn.Module):
    """ConvNet2's conv_block: conv3x3 (bias) + BN + ReLU + MaxPool2d(2)."""
    def __init__(self, i, o):
        super().__init__()
        self.conv = nn.Conv2d(i, o, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(o)

    def forward(self, x):
        return maxpool(relu(self.bn(self.conv(x))), 2, 2, 0)


class Conv2Specialized(ConvBlock):
    def __init__(self):
        super().__init__(64, 64)

    def forward(self, x):
        return F.avg_pool2d(super().forward(x), 8).flatten(1)


class Block(nn.Module):
    """ImageNet BasicBlock with a conv1x1 + BN projection where the shape changes."""
    def __init__(self, i, o, stride):
        super().__init__()
        self.convA = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bnA = nn.BatchNorm2d(o)
        self.convB = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bnB = nn.BatchNorm2d(o)
        self.project = stride != 1 or i != o
        if self.project:
            self.shortcutConv = nn.Conv2d(i, o, 1, stride, 0, bias=False)
            self.shortcutBN = nn.BatchNorm2d(o)

    def forward(self, x):
        h = self.bnB(self.convB(relu(self.bnA(self.convA(x)))))
        s = self.shortcutBN(self.shortcutConv(x)) if self.project else x
        return relu(h + s)


def stage(i, o, stride):
    return nn.Sequential(Block(i, o, stride), Block(o, o, 1))


class ResNet18Generalized(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn = nn.BatchNorm2d(64)
        self.stage1 = stage(64, 64, 1)
        self.stage2 = stage(64, 128, 2)
        self.stage3 = stage(128, 256, 2)

    def forward(self, x):
        h = maxpool(relu(self.bn(self.conv(x))), 3, 2, 1)
        return self.stage3(self.stage2(self.stage1(h)))


class ResNet18Specialized(nn.Module):
    def __init__(self):
        super().__init__()
        self.stage4 = stage(256, 512, 2)

    def forward(self, x):
        return F.adaptive_avg_pool2d(self.stage4(x), 1).flatten(1)


NETWORKS = {
    "memo_conv2": dict(generalized=lambda: ConvBlock(3, 64), specialized=Conv2Specialized, width=64, side=32),
    "memo_resnet18": dict(generalized=ResNet18Generalized, specialized=ResNet18Specialized, width=512, side=64),
}


class Net(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.generalized = spec["generalized"]()
        self.specialized = nn.ModuleList([spec["specialized"](), spec["specialized"]()])
        w = spec["width"]
        self.width = w
        self.fc = nn.Linear(2 * w, CLASSES)
        self.auxFC = nn.Linear(w, CLASSES - KNOWN + 1)

    def forward(self, x):
        base = self.generalized(x)
        f = torch.cat([s(base) for s in self.specialized], 1)
        return self.fc(f), self.auxFC(f[:, -self.width:]), f


def swift_name(name):
    return name.replace("running_mean", "runningMean").replace("running_var", "runningVar")


def named_tensors(model):
    return [(swift_name(n), t) for n, t in model.state_dict().items() if not n.endswith("num_batches_tracked")]


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())


CASES = {
    "train": {"modes": {"generalized": "train", "specialized.0": "train", "specialized.1": "train"}, "frozen": []},
    "eval": {"modes": {"generalized": "eval", "specialized.0": "eval", "specialized.1": "eval"}, "frozen": []},
    "memo": {"modes": {"generalized": "train", "specialized.0": "eval", "specialized.1": "train"},
             "frozen": ["specialized.0"]},
}


def build(net_name, dtype, perturb=0.0, seed=0):
    torch.manual_seed(0)
    model = Net(NETWORKS[net_name])
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            v = torch.from_numpy(initial_value(swift_name(name), tuple(t.shape))).to(torch.float64)
            if perturb and not (name.endswith("running_mean") or name.endswith("running_var")):
                v = v * (1 + perturb * torch.randn(v.shape, generator=gen, dtype=torch.float64))
            t.copy_(v)
    return model.to(dtype)


def run_case(net_name, case, k, dtype, perturb=0.0, seed=0):
    model = build(net_name, dtype, perturb, seed)
    cfg = CASES[case]
    model.train()
    for part, mode in cfg["modes"].items():
        m = model.generalized if part == "generalized" else model.specialized[int(part.split(".")[1])]
        m.train(mode == "train")
    for part in cfg["frozen"]:
        for p in model.specialized[int(part.split(".")[1])].parameters():
            p.requires_grad_(False)
    x = torch.from_numpy(input_batch(k, NETWORKS[net_name]["side"])).to(dtype)
    logits, aux, feats = model(x)
    loss = F.cross_entropy(logits, torch.tensor(LABELS)) + F.cross_entropy(aux, torch.tensor(aux_labels()))
    loss.backward()
    grads = {swift_name(n): p.grad.detach().numpy().astype(np.float64) for n, p in model.named_parameters()
             if p.requires_grad}
    return {"logits": logits.detach().numpy().astype(np.float64), "auxLogits": aux.detach().numpy().astype(np.float64),
            "features": feats.detach().numpy().astype(np.float64), "loss": float(loss.detach()), "gradients": grads}


PERTURB = 1e-6          # ten times float32's rounding: keeps K off kinks that an AVX2 or AVX-512 kernel decides differently
STABLE_GRADIENTS = 1e-4 # required: perturbed gradients within this of the unperturbed (relative)


def gradient_spread(a, b):
    """Largest relative change of a gradient tensor (max |a - b| / max |b|) between two runs,
    over tensors that are not zero in exact arithmetic."""
    return max(rel(g, b[n]) for n, g in a.items() if np.max(np.abs(b[n])) > 1e-9)


def stable_key(net_name, first=1, last=60):
    """The first K whose step-1 gradients stay within STABLE_GRADIENTS (relative) when every
    parameter is multiplied by (1 + PERTURB N(0,1)), three seeds, every case (float64 runs). A ReLU
    input or max-pool winner that such noise flips moves the train-mode gradients by much more
    (the BN backward couples every element of a layer), so this keeps the fixture off kinks that
    another float32 engine could decide differently."""
    for k in range(first, last + 1):
        worst = 0.0
        for case in CASES:
            ref = run_case(net_name, case, k, torch.float64)["gradients"]
            for seed in (1, 2, 3):
                other = run_case(net_name, case, k, torch.float64, PERTURB, seed)["gradients"]
                worst = max(worst, gradient_spread(other, ref))
                if worst > STABLE_GRADIENTS:
                    break
            if worst > STABLE_GRADIENTS:
                break
        print("%s: K %d, perturbed gradients move by %.1e%s" % (net_name, k, worst,
              "" if worst <= STABLE_GRADIENTS else " (too much)"), flush=True)
        if worst <= STABLE_GRADIENTS:
            return k, worst
    raise SystemExit("no stable key for %s" % net_name)


def sample(a):
    flat = np.asarray(a, dtype=np.float64).reshape(-1)
    n = min(flat.size, SAMPLE_MAX)
    idx = [0] if n == 1 else [(2 * j * (flat.size - 1) + (n - 1)) // (2 * (n - 1)) for j in range(n)]
    return {"indices": idx, "values": [float(flat[i]) for i in idx],
            "norm": float(np.sqrt(np.sum(flat * flat))), "sum": float(np.sum(flat))}


def rel(a, b, floor=1e-30):
    """max |a - b| / max |b|; `floor` bounds the divisor from below for tensors that are zero in
    exact arithmetic (a conv bias before train-mode BN: BN removes any constant shift, so its
    gradient is rounding noise, ~1e-9 in float32 and ~1e-17 in float64)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), floor))


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


def counts(net_name):
    spec = NETWORKS[net_name]
    return {"generalized": parameter_count(spec["generalized"]()),
            "specializedBlock": parameter_count(spec["specialized"]())}


def make(net_name, output):
    k, spread = stable_key(net_name)
    spec = NETWORKS[net_name]
    cases, noise = {}, {}
    for case in CASES:
        r32 = run_case(net_name, case, k, torch.float32)
        r64 = run_case(net_name, case, k, torch.float64)
        noise[case] = {"logits": rel(r32["logits"], r64["logits"]), "features": rel(r32["features"], r64["features"]),
                       "loss": rel(r32["loss"], r64["loss"]),
                       "gradients": max(rel(g, r64["gradients"][n]) for n, g in r32["gradients"].items()
                                         if np.max(np.abs(r64["gradients"][n])) > 1e-9),
                       "zeroGradients": sorted(n for n in r32["gradients"]
                                               if np.max(np.abs(r64["gradients"][n])) <= 1e-9)}
        cases[case] = {"modes": CASES[case]["modes"], "frozen": CASES[case]["frozen"],
                       "logits": r32["logits"].tolist(), "auxLogits": r32["auxLogits"].tolist(),
                       "features": r32["features"].tolist(), "loss": r32["loss"],
                       "gradients": {n: sample(g) for n, g in r32["gradients"].items()}}
        print("%s %-5s loss %.6f; float32 vs float64: logits %.1e features %.1e gradients %.1e"
              % (net_name, case, r32["loss"], noise[case]["logits"], noise[case]["features"], noise[case]["gradients"]))
    side = spec["side"]
    doc = {"format": 1,
           "description": "PyTorch %s reference values for memo-swift's %s (scripts/make_network_fixtures.py; "
                          "see its docstring for the formulas)" % (torch.__version__, net_name),
           "network": {"backbone": net_name, "specializedBlocks": 2, "featureDim": 2 * spec["width"],
                       "classes": CLASSES, "auxClasses": CLASSES - KNOWN + 1, "knownClasses": KNOWN,
                       "parameterCounts": counts(net_name)},
           "input": {"shape": [BATCH, 3, side, side], "labels": LABELS, "auxLabels": aux_labels(),
                     "knownClasses": KNOWN, "patternKey": k, "scale": 1.5,
                     "perturbedGradientSpread": spread},
           "cases": cases, "noiseFloor": noise}
    text = "{\n" + ",\n".join("  %s: %s" % (json.dumps(n), fmt(v)) for n, v in doc.items()) + "\n}\n"
    json.loads(text)
    with open(output, "w") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (output, len(text.encode())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="print the parameter counts only")
    ap.add_argument("--net", choices=sorted(NETWORKS), action="append")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in sorted(NETWORKS):
        print("%s: generalized %d, specialized block %d parameters" % (name, counts(name)["generalized"],
                                                                       counts(name)["specializedBlock"]))
    expected = {"memo_conv2": (1920, 37056), "memo_resnet18": (2782784, 8393728)}
    for name, (g, s) in expected.items():
        if (counts(name)["generalized"], counts(name)["specializedBlock"]) != (g, s):
            raise SystemExit("parameter counts of %s differ from the reference's %d / %d" % (name, g, s))
    if args.check:
        return
    for name in args.net or sorted(NETWORKS):
        make(name, os.path.join(FIXTURES, "parity_%s.json" % name))


if __name__ == "__main__":
    main()
