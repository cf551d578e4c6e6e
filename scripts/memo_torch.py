#!/usr/bin/env python3
"""memo-swift <-> PyTorch: load a `memo-infer export` file into a PyTorch AdaptiveNet.

Needs torch and safetensors (PyPI). Usage, from anywhere:

    python3 scripts/memo_torch.py predict stage-04.safetensors --exemplars 4
    python3 scripts/memo_torch.py predict stage-04.safetensors --input batch.npy --format json
    python3 scripts/memo_torch.py predict stage-04.safetensors --exemplars 4 --reference-dir ~/ICLR23-MEMO
    python3 scripts/memo_torch.py convert model.pt model.safetensors

As a module:

    from memo_torch import load_export
    model, metadata, extras = load_export("stage-04.safetensors")
    logits = model(preprocess(images_uint8, metadata))["logits"]

The network here is this file's own definition of MEMO's AdaptiveNet for every backbone
memo-swift trains: the CIFAR ResNets (memo_resnet14_cifar / 20 / 26 / memo_resnet32), memo_conv2
and memo_resnet18. Its modules carry the names of the reference's (wangkiw/ICLR23-MEMO,
utils/inc_net.py AdaptiveNet with convs/memo_cifar_resnet.py, convs/conv_cifar.py and
convs/memo_resnet.py), so its state_dict has the reference's keys and shapes and
`load_state_dict(strict=True)` takes an export or a reference checkpoint. With --reference-dir (a
checkout of ICLR23-MEMO) the reference's own AdaptiveNet is built instead, grown with `update_fc`
stage by stage.

Forward (eval mode): features = concatenation of the K specialized blocks' pooled features (64-d,
512-d for memo_resnet18) in block order; logits = fc(features); aux_logits = aux_fc(the newest
block's feature).

Input pipeline (as memo-swift's test pipeline): uint8 HWC images; smaller than 32x32 are centred
and zero-padded; (v / 255 - mean) / std per channel; one channel repeated to three. Every network
runs at 32x32, as memo-swift runs it (ResNet-18's layer4 map is then 1x1).
"""
import argparse
import json
import math
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F

EXTRA_PREFIX = "memo_swift."
BLOCKS_PER_STAGE = {"memo_resnet14_cifar": 2, "memo_resnet20_cifar": 3, "memo_resnet26_cifar": 4, "memo_resnet32": 5}
CONVNET_TYPES = list(BLOCKS_PER_STAGE) + ["memo_conv2", "memo_resnet18"]


def feature_width(convnet_type):
    """Width of one specialized block's feature."""
    return 512 if convnet_type == "memo_resnet18" else 64


class Block(nn.Module):
    """CIFAR ResNet basic block; the shortcut of a shape change is DownsampleA (stride-2
    subsampling, zero channels appended), which has no parameters."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv_a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn_a = nn.BatchNorm2d(cout)
        self.conv_b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn_b = nn.BatchNorm2d(cout)
        self.pad = cout - cin if (stride != 1 or cin != cout) else None
        self.stride = stride

    def forward(self, x):
        y = F.relu(self.bn_a(self.conv_a(x)))
        y = self.bn_b(self.conv_b(y))
        if self.pad is None:
            shortcut = x
        else:
            s = x[:, :, ::self.stride, ::self.stride]
            shortcut = torch.cat([s, torch.zeros_like(s)[:, :self.pad]], 1)
        return F.relu(shortcut + y)


def stage(cin, cout, stride, n):
    return nn.Sequential(*[Block(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)])


class Generalized(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.conv_1_3x3 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn_1 = nn.BatchNorm2d(16)
        self.stage_1 = stage(16, 16, 1, n)
        self.stage_2 = stage(16, 32, 2, n)

    def forward(self, x):
        return self.stage_2(self.stage_1(F.relu(self.bn_1(self.conv_1_3x3(x)))))


class Specialized(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.final_stage = stage(32, 64, 2, n)

    def forward(self, x):
        return self.final_stage(x).mean(dim=(2, 3))


def conv_block(cin, cout):
    """ConvNet2's conv_block, a Sequential (keys .0 and .1): conv3x3 with bias, BN, ReLU,
    MaxPool2d(2)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))


class ConvNet2Generalized(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(conv_block(3, 64))

    def forward(self, x):
        return self.encoder(x)


class ConvNet2Specialized(nn.Module):
    """conv_block(64, 64) then AvgPool2d(8): [N, 64, 16, 16] -> 64-d feature (at 32x32 inputs)."""

    def __init__(self):
        super().__init__()
        self.AdaptiveBlock = conv_block(64, 64)

    def forward(self, x):
        return F.avg_pool2d(self.AdaptiveBlock(x), 8).flatten(1)


class ImageNetBlock(nn.Module):
    """torchvision's BasicBlock (conv1, bn1, conv2, bn2), with a conv1x1 + BN projection
    `downsample` (.0, .1) where the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def layer(cin, cout, stride):
    return nn.Sequential(ImageNetBlock(cin, cout, stride), ImageNetBlock(cout, cout, 1))


class ResNet18Generalized(nn.Module):
    """conv1 7x7 stride 2, bn1, ReLU, MaxPool2d(3, 2, 1), layer1..3."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = layer(64, 64, 1)
        self.layer2 = layer(64, 128, 2)
        self.layer3 = layer(128, 256, 2)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.layer3(self.layer2(self.layer1(h)))


class ResNet18Specialized(nn.Module):
    """layer4 then global average pooling: 512-d feature."""

    def __init__(self):
        super().__init__()
        self.layer4 = layer(256, 512, 2)

    def forward(self, x):
        return F.adaptive_avg_pool2d(self.layer4(x), 1).flatten(1)


def blocks(convnet_type):
    """(generalized blocks, a function making one specialized block) of a backbone."""
    if convnet_type == "memo_conv2":
        return ConvNet2Generalized(), ConvNet2Specialized
    if convnet_type == "memo_resnet18":
        return ResNet18Generalized(), ResNet18Specialized
    n = BLOCKS_PER_STAGE[convnet_type]
    return Generalized(n), lambda: Specialized(n)


class AdaptiveNet(nn.Module):
    """MEMO's expandable network after stages of `task_sizes` classes."""

    def __init__(self, convnet_type, task_sizes):
        super().__init__()
        if convnet_type not in CONVNET_TYPES:
            raise ValueError(f"unknown convnet_type {convnet_type!r} (known: {', '.join(CONVNET_TYPES)})")
        self.width = feature_width(convnet_type)
        self.task_sizes = list(task_sizes)
        self.TaskAgnosticExtractor, specialized = blocks(convnet_type)
        self.AdaptiveExtractors = nn.ModuleList(specialized() for _ in task_sizes)
        self.fc = nn.Linear(self.width * len(task_sizes), sum(task_sizes))
        self.aux_fc = nn.Linear(self.width, task_sizes[-1] + 1)

    def forward(self, x):
        base = self.TaskAgnosticExtractor(x)
        features = torch.cat([e(base) for e in self.AdaptiveExtractors], 1)
        return {"logits": self.fc(features), "aux_logits": self.aux_fc(features[:, -self.width:]), "features": features}


def reference_network(reference_dir, convnet_type, task_sizes):
    """The reference's own AdaptiveNet from a checkout of ICLR23-MEMO, grown stage by stage."""
    sys.path.insert(0, os.path.abspath(reference_dir))
    from utils.inc_net import AdaptiveNet as ReferenceAdaptiveNet  # noqa: E402 (the checkout given)
    net = ReferenceAdaptiveNet(convnet_type, False)
    total = 0
    for size in task_sizes:
        total += size
        net.update_fc(total)
    return net


def build(convnet_type, task_sizes, reference_dir=None):
    if reference_dir:
        return reference_network(reference_dir, convnet_type, task_sizes)
    return AdaptiveNet(convnet_type, task_sizes)


def load_export(path, reference_dir=None):
    """Loads a `memo-infer export` file: returns (model in eval mode, metadata with each value
    decoded from JSON, extras = the memo_swift.* tensors). The AdaptiveNet keys are loaded with
    strict=True."""
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        metadata = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if metadata.get("format") != "memo-swift-adaptivenet":
        raise ValueError(f"{path}: not a memo-swift export (metadata format {metadata.get('format')!r})")
    extras = {k: v for k, v in tensors.items() if k.startswith(EXTRA_PREFIX)}
    state = {k: v for k, v in tensors.items() if not k.startswith(EXTRA_PREFIX)}
    model = build(metadata["convnet_type"], metadata["task_sizes"], reference_dir)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, metadata, extras


def preprocess(images, mean, std):
    """uint8 [N, H, W, C] (C = 1 or 3, H, W <= 32) -> float32 [N, 3, 32, 32], memo-swift's test
    pipeline."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[3] not in (1, 3):
        raise ValueError(f"images must be uint8 [N, H, W, 1 or 3], got {images.dtype} {list(images.shape)}")
    n, h, w, c = images.shape
    x = torch.zeros(n, c, 32, 32, dtype=torch.float32)
    top, left = (32 - h) // 2, (32 - w) // 2
    x[:, :, top:top + h, left:left + w] = images.permute(0, 3, 1, 2).float() / 255
    if c == 1:
        x = x.repeat(1, 3, 1, 1)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def read_inputs(path, metadata):
    """A .npy or .safetensors file (first tensor, or the one named 'input'): float [N, 3, 32, 32]
    taken as the normalised input, or uint8 [N, H, W, C] images preprocessed."""
    if path.endswith(".npy"):
        import numpy as np
        t = torch.from_numpy(np.load(path, allow_pickle=False))
    else:
        from safetensors.torch import load_file
        d = load_file(path)
        t = d.get("input", next(iter(d.values())))
    if t.dtype == torch.uint8:
        return preprocess(t, metadata["normalization_mean"], metadata["normalization_std"])
    if t.dim() != 4 or list(t.shape[1:]) != [3, 32, 32]:
        raise ValueError(f"{path}: expected float [N, 3, 32, 32] or uint8 [N, H, W, C], got {list(t.shape)}")
    return t.float()


def predict(args):
    model, metadata, extras = load_export(args.export, args.reference_dir)
    if args.input:
        x = read_inputs(args.input, metadata)
        names = [f"{args.input}[{i}]" for i in range(x.shape[0])]
    else:
        images = extras[EXTRA_PREFIX + "exemplar_images"][:args.exemplars]
        x = preprocess(images, metadata["normalization_mean"], metadata["normalization_std"])
        labels = extras[EXTRA_PREFIX + "exemplar_labels"][:args.exemplars].tolist()
        names = [f"exemplar {i} (label {y})" for i, y in enumerate(labels)]
    with torch.no_grad():
        out = model(x)
    logits = out["logits"] if isinstance(out, dict) else out
    probs = torch.softmax(logits, 1)
    order, class_names = metadata["class_order"], metadata["class_names"]
    rows = []
    for i, name in enumerate(names):
        top = torch.argsort(probs[i], descending=True)[:args.top].tolist()
        rows.append({"input": name, "logits": [round(v, 6) for v in logits[i].tolist()],
                     "top": [{"label": j, "class": class_names[order[j]], "probability": round(probs[i, j].item(), 6)} for j in top]})
    if args.format == "json":
        print(json.dumps({"convnet_type": metadata["convnet_type"], "task_sizes": metadata["task_sizes"], "rows": rows}, indent=2))
        return
    print(f"# {metadata['convnet_type']}, task sizes {metadata['task_sizes']}, "
          f"{'reference network from ' + args.reference_dir if args.reference_dir else 'memo_torch.AdaptiveNet'}")
    for r in rows:
        print(f"{r['input']}: logits " + " ".join(f"{v:.4f}" for v in r["logits"]))
        for rank, t in enumerate(r["top"], 1):
            print(f"    {rank}. label {t['label']} {t['class']}: {t['probability']:.6f}")


def convert(args):
    """A torch.save file's state_dict to safetensors (loaded with weights_only=True: tensors and
    plain containers only, nothing executed)."""
    from safetensors.torch import save_file
    obj = torch.load(args.source, map_location="cpu", weights_only=True)
    state = obj
    for key in ("state_dict", "model_state_dict", "model", "network"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SystemExit(f"{args.source}: no state_dict of tensors found")
    save_file({k: v.contiguous() for k, v in state.items()}, args.output)
    print(f"wrote {args.output}: {len(state)} tensors", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("predict", help="logits and probabilities of an export on given inputs")
    q.add_argument("export")
    q.add_argument("--input", help=".npy or .safetensors: float [N,3,32,32] normalised, or uint8 [N,H,W,C] images")
    q.add_argument("--exemplars", type=int, default=4, help="without --input: the first N exemplar images of the export")
    q.add_argument("--top", type=int, default=3)
    q.add_argument("--format", choices=["table", "json"], default="table")
    q.add_argument("--reference-dir", help="an ICLR23-MEMO checkout: use its AdaptiveNet")
    q.set_defaults(run=predict)
    c = sub.add_parser("convert", help="a torch.save state_dict (.pt/.pth) to safetensors")
    c.add_argument("source")
    c.add_argument("output")
    c.set_defaults(run=convert)
    args = p.parse_args()
    try:
        args.run(args)
    except BrokenPipeError:
        sys.stderr.close()  # the reader stopped early (| head): not an error
    except (ValueError, OSError, KeyError, RuntimeError) as e:
        # load_state_dict's RuntimeError lists every missing/unexpected key on its own lines.
        raise SystemExit(f"memo_torch: error: {e}")


if __name__ == "__main__":
    main()
