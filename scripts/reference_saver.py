#!/usr/bin/env python3
"""Run the MEMO reference's own training and save every stage in the layout `memo-infer import --run` reads.

    python3 scripts/reference_saver.py --reference-dir ICLR23-MEMO --out SAVED [--threads 1]
        [--train-per-class N] [--test-per-class N] [--workers 0] [--torch-seed S]
        -- <the reference's own main_memo.py flags, e.g. -model memo -init 2 -incre 2 ...>

The reference (GitHub wangkiw/ICLR23-MEMO, a checkout given by --reference-dir) is imported as it is
and runs its own `trainer._train` with its own argument parser and exps/memo.json; nothing in the
checkout is edited. At run time, in memory only, this script:
  - adds the dataset `fashion-mnist` (Debian's dataset-fashion-mnist IDX files, --data-dir), prepared
    as memo-swift prepares it (docs/memo.md): 28x28 zero-padded to 32x32, gray repeated to 3 channels,
    mean 0.2860 std 0.3530, training crop (padding 4) and horizontal flip; --train-per-class /
    --test-per-class keep the first N images of each class in file order, as memo-train's flags do;
  - runs on the CPU (the reference's device code only knows CUDA) with --threads torch threads;
  - sets the evaluation's top-k to min(5, classes seen), as memo-swift stores it (the reference's
    fixed 5 fails while fewer than 5 classes are seen; its log then names that top-k "top5");
  - after each task's evaluation writes, into --out:
      stage-XX.pt    torch.save of model._network.state_dict() (a plain dict of tensors);
      stage-XX.json  the sidecar: task sizes, class order, the exemplar memory as indices into the
                     training set (the reference keeps exemplar images, not indices: each is matched
                     byte for byte to an unused training image of its class; identical images are
                     interchangeable), the accuracies the reference computed (CNN and NME top-1,
                     top-k, grouped) and its curves so far, and the run's settings.
Other datasets (cifar10, cifar100) go through the reference's own loaders (torchvision downloads into
SAVED/reference-logs/data); their exemplar indices refer to the full training set.
Needs torch, torchvision, scipy, tqdm, numpy, Pillow (pip).
"""
import argparse
import collections
import gzip
import json
import os
import struct
import sys

import numpy as np

FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
SIDECAR_FORMAT = "memo-reference-saver/1"


def read_idx(path, dims):
    """An IDX file (gzip'd or plain) of unsigned bytes with `dims` dimensions as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic != 0x800 + dims:
        sys.exit(f"{path}: not an IDX file of unsigned bytes with {dims} dimension(s) (magic {magic:#x})")
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def locate(directory, name):
    for candidate in (name + ".gz", name):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    sys.exit(f"{directory}: no {name}(.gz) (Debian's dataset-fashion-mnist installs /usr/share/datasets/fashion-mnist)")


def first_per_class(labels, n):
    """Positions of the first n images of each class, in file order (memo-swift's --*-per-class)."""
    if n is None:
        return np.arange(len(labels))
    seen = collections.Counter()
    keep = []
    for i, y in enumerate(labels.tolist()):
        if seen[y] < n:
            seen[y] += 1
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def fashion_part(directory, prefix, per_class):
    images = read_idx(locate(directory, f"{prefix}-images-idx3-ubyte"), 3)
    labels = read_idx(locate(directory, f"{prefix}-labels-idx1-ubyte"), 1).astype(np.int64)
    keep = first_per_class(labels, per_class)
    padded = np.zeros((len(keep), 32, 32, 3), dtype=np.uint8)
    padded[:, 2:30, 2:30, :] = images[keep][..., None]
    return padded, labels[keep]


def fashion_idata(data_dir, train_per_class, test_per_class):
    """An iData class (the reference's dataset interface) for Fashion-MNIST, prepared as memo-swift does."""
    from torchvision import transforms
    from utils.data import iData

    class iFashionMNIST(iData):
        use_path = False
        train_trsf = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(p=0.5)]
        test_trsf = []
        common_trsf = [transforms.ToTensor(), transforms.Normalize(mean=(FASHION_MEAN,) * 3, std=(FASHION_STD,) * 3)]
        class_order = np.arange(10).tolist()

        def download_data(self):
            self.train_data, self.train_targets = fashion_part(data_dir, "train", train_per_class)
            self.test_data, self.test_targets = fashion_part(data_dir, "t10k", test_per_class)

    return iFashionMNIST()


def exemplar_indices(model, data_manager):
    """The reference's exemplar memory (images and mapped labels) as training-set positions."""
    by_key = collections.defaultdict(list)
    for i, (image, y) in enumerate(zip(data_manager._train_data, data_manager._train_targets)):
        by_key[(int(y), np.ascontiguousarray(image).tobytes())].append(i)
    used = set()
    indices, labels = [], []
    for image, y in zip(model._data_memory, model._targets_memory):
        candidates = by_key.get((int(y), np.ascontiguousarray(image, dtype=np.uint8).tobytes()), [])
        free = [i for i in candidates if i not in used]
        if not free:
            sys.exit(f"exemplar of class {int(y)} matches no unused training image of that class")
        used.add(free[0])
        indices.append(free[0])
        labels.append(int(y))
    return indices, labels


def plain(value):
    """numpy scalars and containers as JSON values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        usage="%(prog)s --reference-dir REF --out SAVED [options] -- REFERENCE_FLAGS (main_memo.py's)")
    parser.add_argument("--reference-dir", required=True, help="checkout of wangkiw/ICLR23-MEMO")
    parser.add_argument("--out", required=True, help="folder for stage-XX.pt and stage-XX.json")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist",
                        help="Fashion-MNIST's IDX files (default: Debian's dataset-fashion-mnist)")
    parser.add_argument("--train-per-class", type=int, default=None, help="fashion-mnist: the first N training images of each class")
    parser.add_argument("--test-per-class", type=int, default=None, help="fashion-mnist: the first N test images of each class")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers of the training and test loaders (default: the reference's 8)")
    parser.add_argument("--no-train", action="store_true",
                        help="for test fixtures: skip the reference's training step (MEMO._train); each new network keeps "
                             "torch's initialisation with every weight rounded to -s, 0 or s (s = the tensor's std, "
                             "a float16 value) so the saved files compress; herding, evaluation and saving run as usual")
    parser.add_argument("--torch-seed", type=int, default=None,
                        help="torch's seed (default: the reference's 1); the class order follows the reference's --seed")
    ours, reference_argv = parser.parse_known_args()
    if reference_argv and reference_argv[0] == "--":
        reference_argv = reference_argv[1:]
    ref = os.path.abspath(ours.reference_dir)
    if not os.path.isfile(os.path.join(ref, "trainer.py")) or not os.path.isfile(os.path.join(ref, "main_memo.py")):
        sys.exit(f"--reference-dir {ours.reference_dir}: no trainer.py and main_memo.py (a checkout of wangkiw/ICLR23-MEMO)")
    for flag, value in (("--train-per-class", ours.train_per_class), ("--test-per-class", ours.test_per_class),
                        ("--threads", ours.threads)):
        if value is not None and value < 1:
            sys.exit(f"{flag} {value}: must be 1 or more")
    out = os.path.abspath(ours.out)
    os.makedirs(out, exist_ok=True)
    if any(n.startswith("stage-") for n in os.listdir(out)):
        sys.exit(f"--out {ours.out}: already holds stages; give an empty folder")

    import torch
    if ours.threads:
        torch.set_num_threads(ours.threads)
    sys.path.insert(0, ref)
    cwd = os.getcwd()
    os.chdir(ref)  # main_memo.py reads ./exps/memo.json
    import main_memo
    import trainer
    import utils.data_manager as data_manager_module
    import models.memo as memo_module
    from models.base import BaseLearner
    os.chdir(cwd)

    args = main_memo.setup_parser().parse_args(reference_argv)
    with open(os.path.join(ref, "exps", f"{args.model_name}.json")) as f:
        param = json.load(f)
    param.update(vars(args))
    # The reference's logs/ and results/ land in a folder of their own beside the stages.
    os.makedirs(os.path.join(out, "reference-logs"), exist_ok=True)
    os.chdir(os.path.join(out, "reference-logs"))

    # Run-time patches (in memory): dataset, device, threads, seed, workers.
    original_get_idata = data_manager_module._get_idata

    def get_idata(name):
        if name.lower() == "fashion-mnist":
            return fashion_idata(ours.data_dir, ours.train_per_class, ours.test_per_class)
        if ours.train_per_class or ours.test_per_class:
            sys.exit("--train-per-class / --test-per-class: only for --dataset fashion-mnist")
        return original_get_idata(name)

    data_manager_module._get_idata = get_idata
    trainer._set_device = lambda a: a.__setitem__("device", [torch.device("cpu")])
    if ours.torch_seed is not None:
        original_set_random = trainer._set_random

        def set_random():
            original_set_random()
            torch.manual_seed(ours.torch_seed)
        trainer._set_random = set_random
    if ours.workers is not None:
        memo_module.num_workers = ours.workers
    if ours.no_train:
        def untrained(model, train_loader, test_loader):
            with torch.no_grad():
                for p in model._network.parameters():
                    if p.dim() > 1:
                        scale = p.float().std().half().float()
                        p.copy_(torch.round(p / scale).clamp(-1, 1) * scale)
                    else:
                        p.copy_(p.half().float())
        memo_module.MEMO._train = untrained

    state = {"data_manager": None, "curves": {"cnn_top1": [], "cnn_topk": [], "nme_top1": [], "nme_topk": []}}
    original_init = data_manager_module.DataManager.__init__

    def data_manager_init(self, *a, **k):
        original_init(self, *a, **k)
        state["data_manager"] = self
    data_manager_module.DataManager.__init__ = data_manager_init

    original_eval_task = BaseLearner.eval_task

    def eval_task(model, save_conf=False):
        model.topk = min(5, model._total_classes)
        cnn, nme = original_eval_task(model, save_conf=save_conf)
        save_stage(model, cnn, nme)
        for accy in (cnn, nme):  # trainer._train logs the top-k under "top5"
            if accy is not None:
                accy.setdefault("top5", accy[f"top{model.topk}"])
        return cnn, nme
    memo_module.MEMO.eval_task = eval_task

    def save_stage(model, cnn, nme):
        dm = state["data_manager"]
        stage = model._cur_task
        k = model.topk
        curves = state["curves"]
        curves["cnn_top1"].append(cnn["top1"])
        curves["cnn_topk"].append(cnn[f"top{k}"])
        if nme is not None:
            curves["nme_top1"].append(nme["top1"])
            curves["nme_topk"].append(nme[f"top{k}"])
        network = model._network.module if isinstance(model._network, torch.nn.DataParallel) else model._network
        state_dict = {key: t.detach().cpu().clone() for key, t in network.state_dict().items()}
        if ours.no_train:  # its weights are float16 values; float16 halves the fixture
            state_dict = {key: t.half() if t.is_floating_point() else t for key, t in state_dict.items()}
        indices, labels = exemplar_indices(model, dm)
        sidecar = {
            "format": SIDECAR_FORMAT,
            "stage": stage,
            "dataset": param["dataset"],
            "train_per_class": ours.train_per_class,
            "test_per_class": ours.test_per_class,
            "train_images": len(dm._train_targets),
            "test_images": len(dm._test_targets),
            "convnet_type": param["convnet_type"],
            "init_cls": param["init_cls"],
            "increment": param["increment"],
            "memory_size": param["memory_size"],
            "fixed_memory": param.get("fixed_memory", False),
            "memory_per_class": param.get("memory_per_class"),
            "train_base": param["train_base"],
            "train_adaptive": param["train_adaptive"],
            "seed": param["seed"],
            "torch_seed": ours.torch_seed if ours.torch_seed is not None else 1,
            "threads": torch.get_num_threads(),
            "task_sizes": [dm.get_task_size(t) for t in range(stage + 1)],
            "class_order": [int(c) for c in dm._class_order],
            "exemplar_indices": indices,
            "exemplar_labels": labels,
            "topk": k,
            "accuracy": {
                "cnn": {"top1": cnn["top1"], "topk": cnn[f"top{k}"], "grouped": cnn["grouped"]},
                "nme": None if nme is None else {"top1": nme["top1"], "topk": nme[f"top{k}"], "grouped": nme["grouped"]},
            },
            "curves": {name: list(values) for name, values in curves.items()},
            "reference_argv": reference_argv,
            "torch_version": torch.__version__,
            "trained": not ours.no_train,
        }
        base = os.path.join(out, f"stage-{stage:02d}")
        torch.save(state_dict, base + ".pt.part")
        os.replace(base + ".pt.part", base + ".pt")
        with open(base + ".json.part", "w") as f:
            items = [f" {json.dumps(key)}: {json.dumps(value)}" for key, value in plain(sidecar).items()]
            f.write("{\n" + ",\n".join(items) + "\n}\n")
        os.replace(base + ".json.part", base + ".json")
        shown = os.path.join(ours.out, f"stage-{stage:02d}")
        print(f"saved {shown}.pt and .json: stage {stage}, task sizes {sidecar['task_sizes']}, "
              f"CNN top-1 {cnn['top1']}, NME top-1 {None if nme is None else nme['top1']}, {len(indices)} exemplars",
              flush=True)

    seeds = param["seed"] if isinstance(param["seed"], list) else [param["seed"]]
    if len(seeds) != 1:
        sys.exit(f"exps/{args.model_name}.json lists seeds {seeds}: the saver runs one seed at a time")
    param["seed"] = seeds[0]
    trainer._train(param)


if __name__ == "__main__":
    main()
