#!/usr/bin/env python3
"""Fixtures for memo-swift's restricted pickle readers (PyTorchFile, the python CIFAR layout).

Run from the repository root (needs torch and numpy; the Swift tests never do):

    python3 scripts/make_pickle_fixtures.py

It writes Tests/MEMOModelTests/Fixtures/pickle/ (about 200 KB):

* state_dict.pt + state_dict.json: torch.save(net.state_dict()) of a small conv/BN/linear net
  whose buffers add a float16, a bfloat16 and an int64 tensor, a view with a storage offset, a
  transposed (non-contiguous) view and a weight tied to another (one storage for two keys). The
  JSON holds every tensor's dtype (safetensors names), shape and values in row-major order.
* parameters.pt: torch.save(dict(net.named_parameters())), whose tensors are _rebuild_parameter.
* checkpoint.pt: {"tasks": 1, "model_state_dict": ..., "optimizer": SGD state}, PyCIL's layout.
* refused/: pickles that would run code or need classes: os.system (GLOBAL + REDUCE),
  posix.system and __builtin__.eval (written by torch.save of objects whose __reduce__ names them),
  builtins.eval (GLOBAL + REDUCE), os.system by STACK_GLOBAL (protocol 4), a pickled nn.Module subclass and an nn.Sequential.
  The commands would create MARKER; no reader may create it.
* bad/: complex64 tensor, storage entry shorter than its declared size, a byteorder of 'big', a storage declaring
  2**40 elements, a view reaching past its storage, stride-0 views beyond the size limits, a zip
  entry declaring a 2 GB size, the pre-1.6 (non-zip) torch.save format; views/: an empty view
  far outside its storage and a transposed one, which read.
* cifar/: tiny CIFAR-10 and CIFAR-100 in the python layout (pickles as Python 2's cPickle wrote
  the published files: protocol 2, str keys as BINSTRING, numpy.core.multiarray._reconstruct of
  uint8 data) and the same images in the binary layout; plus one CIFAR-10 batch pickled by
  Python 3 with protocol 2 (bytes via _codecs.encode) and with protocol 4 (BINBYTES, FRAME,
  MEMOIZE, STACK_GLOBAL).

Every pickle is checked here with Python's own reader (torch.load(weights_only=True);
pickle.load(encoding="latin1") as torchvision reads CIFAR) before it is written.
"""
import io
import json
import os
import pickle
import pickletools
import struct
import sys
import zipfile

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "MEMOModelTests", "Fixtures", "pickle")
MARKER = "/tmp/memo-swift-pickle-fixture-was-executed"
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def write(rel, data):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def saved(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


class Net(nn.Module):
    """Conv + BN + linear; the buffers add the dtypes and views a state_dict can hold."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)
        self.head = nn.Linear(4, 3, bias=False)
        self.head.weight = self.fc.weight  # tied: one storage, two keys
        base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.25 - 1
        self.register_buffer("view_offset", base[1:3, 2:5])  # storage offset 8, strides (6, 1)
        self.register_buffer("view_transposed", base.t())  # strides (1, 6)
        self.register_buffer("scale_half", torch.linspace(-2, 2, 5).to(torch.float16))
        self.register_buffer("scale_bf16", torch.linspace(-3, 3, 7).to(torch.bfloat16))

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


def expected_json(sd):
    out = {}
    for k, t in sd.items():
        c = t.contiguous()
        values = c.flatten().tolist() if t.dtype == torch.int64 else c.float().flatten().tolist()
        out[k] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "values": values}
    return json.dumps(out, indent=1, sort_keys=True).encode()


def torch_zip(pickle_bytes, storages=(), name="archive"):
    """A zip laid out as torch.save lays it out (stored entries), around a hand-written pickle."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        entries = [("data.pkl", pickle_bytes), ("byteorder", b"little")]
        entries += [(f"data/{key}", data) for key, data in storages] + [("version", b"3\n")]
        for entry, data in entries:  # fixed timestamps: the same bytes on every run
            z.writestr(zipfile.ZipInfo(f"{name}/{entry}", date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def globals_in(data):
    names = []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            names.append(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            names.append("STACK_GLOBAL")
    return names


def data_pkl(pt_bytes):
    with zipfile.ZipFile(io.BytesIO(pt_bytes)) as z:
        return z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])


class Reduces:
    """An object whose pickle calls `fn(*args)` when loaded."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def make_torch():
    torch.manual_seed(2023)
    net = Net()
    net.train()
    for _ in range(3):
        net(torch.randn(2, 3, 6, 6))  # running stats and num_batches_tracked = 3
    sd = net.state_dict()
    assert sd["view_offset"].storage_offset() == 8 and not sd["view_transposed"].is_contiguous()
    pt = saved(sd)
    back = torch.load(io.BytesIO(pt), weights_only=True)
    assert all(torch.equal(back[k], sd[k]) for k in sd)
    write("state_dict.pt", pt)
    write("state_dict.json", expected_json(sd))

    params = dict(net.named_parameters())
    pt = saved(params)
    assert "torch._utils._rebuild_parameter" in globals_in(data_pkl(pt))
    write("parameters.pt", pt)

    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(2, 3, 6, 6)).sum().backward()
    opt.step()
    checkpoint = {"tasks": 1, "model_state_dict": net.state_dict(), "optimizer": opt.state_dict()}
    pt = saved(checkpoint)
    torch.load(io.BytesIO(pt), weights_only=True)
    write("checkpoint.pt", pt)
    write("checkpoint.json", expected_json(checkpoint["model_state_dict"]))

    # Refused: code execution and pickled classes.
    cmd = f"touch {MARKER}"
    evil = b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(cmd)) + cmd.encode() + b"\x85R."
    write("refused/os_system.pt", torch_zip(evil))
    write("refused/posix_system.pt", saved(Reduces(os.system, cmd)))
    code = f"open('{MARKER}', 'w')"
    write("refused/eval.pt", saved(Reduces(eval, code)))  # protocol 2 names it __builtin__.eval
    write("refused/builtins_eval.pt", torch_zip(b"\x80\x02cbuiltins\neval\nX" + struct.pack("<I", len(code))
                                                + code.encode() + b"\x85R."))
    stack = (b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c" + bytes([len(cmd)]) + cmd.encode()
             + b"\x94\x85\x94R\x94.")
    write("refused/stack_global.pt", torch_zip(stack))
    write("refused/whole_model.pt", saved(net))
    write("refused/sequential.pt", saved(nn.Sequential(nn.Linear(2, 2))))
    expected = {"os_system": "os.system", "posix_system": "posix.system", "builtins_eval": "builtins.eval", "eval": "__builtin__.eval",
                "stack_global": "STACK_GLOBAL", "whole_model": "__main__.Net",
                "sequential": "torch.nn.modules.container.Sequential"}
    for name, global_name in expected.items():
        with open(os.path.join(ROOT, "refused", name + ".pt"), "rb") as f:
            assert global_name in globals_in(data_pkl(f.read())), name

    # Bad data.
    write("bad/complex.pt", saved({"w": torch.zeros(2, dtype=torch.complex64)}))
    w = torch.arange(6, dtype=torch.float32)
    good = saved({"w": w})
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for n, d in entries.items():
            z.writestr(zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0)), d[:16] if n.endswith("/data/0") else d)
    write("bad/short_storage.pt", buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for n, d in entries.items():
            z.writestr(zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0)), b"big" if n.endswith("/byteorder") else d)
    write("bad/big_endian.pt", buf.getvalue())

    def tensors(numel, views, data):
        """A state_dict pickle of views (key, offset, size, stride) of one float storage of numel."""
        def long(v):
            return b"\x8a\x08" + struct.pack("<q", v)
        p = b"\x80\x02}q\x00("
        for i, (key, offset, size, stride) in enumerate(views):
            p += (b"X" + struct.pack("<I", len(key)) + key.encode() + b"ctorch._utils\n_rebuild_tensor_v2\n("
                  + b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
                  + long(numel) + b"tQ" + long(offset) + b"(" + b"".join(long(s) for s in size) + b"t"
                  + b"(" + b"".join(long(s) for s in stride) + b"t" + b"\x89ccollections\nOrderedDict\n)RtR")
        return torch_zip(p + b"u.", [("0", data)])

    def one_tensor(numel, offset, size, stride, data):
        return tensors(numel, [("w", offset, size, stride)], data)

    six = w.numpy().tobytes()
    ok = one_tensor(6, 0, [2, 3], [3, 1], six)
    assert torch.equal(torch.load(io.BytesIO(ok), weights_only=True)["w"], w.reshape(2, 3))
    write("bad/huge_numel.pt", one_tensor(1 << 40, 0, [1 << 20, 1 << 20], [1 << 20, 1], six))
    write("bad/past_storage.pt", one_tensor(6, 4, [2, 3], [3, 1], six))
    # Views larger than their storage: an empty one far outside it reads (as torch reads it),
    # a stride-0 expand of 256 MiB is beyond the view limit, 100 of 16 MiB beyond the file's budget.
    empty = tensors(6, [("empty", 1000, [0, 1 << 40, 1 << 40], [1, 1, 1]), ("w", 0, [3, 2], [1, 3])], six)
    back = torch.load(io.BytesIO(empty), weights_only=True)
    assert back["empty"].shape == (0, 1 << 40, 1 << 40) and torch.equal(back["w"], w.reshape(2, 3).t())
    write("views/empty_and_transposed.pt", empty)
    write("bad/expand_256mib.pt", one_tensor(6, 0, [1 << 13, 1 << 13], [0, 0], six))
    write("bad/expand_many.pt", tensors(6, [(f"w{i}", 0, [1 << 22], [0]) for i in range(100)], six))
    # A zip entry whose headers declare 0x7FFFFFF0 bytes (stored): larger than the file.
    data = bytearray(good)
    name = [n for n in entries if n.endswith("/data/0")][0].encode()
    for sig, size_at in ((b"PK\x03\x04", 18), (b"PK\x01\x02", 20)):
        i = data.find(sig)
        while i >= 0:
            name_len = struct.unpack_from("<H", data, i + (26 if sig == b"PK\x03\x04" else 28))[0]
            start = i + (30 if sig == b"PK\x03\x04" else 46)
            if bytes(data[start:start + name_len]) == name:
                struct.pack_into("<II", data, i + size_at, 0x7FFFFFF0, 0x7FFFFFF0)
            i = data.find(sig, i + 4)
    write("bad/huge_entry.pt", bytes(data))
    write("bad/legacy.pt", saved({"w": w}, _use_new_zipfile_serialization=False))


# MARK: CIFAR

class Py2Pickler:
    """Writes pickles as Python 2's cPickle did with protocol 2 (the published CIFAR files):
    str as SHORT_BINSTRING/BINSTRING, memo from 1, numpy arrays by numpy.core.multiarray._reconstruct."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo = 1

    def put(self):
        self.out += b"q" + bytes([self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo)
        self.memo += 1

    def int(self, v):
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        elif 0 <= v < 65536:
            self.out += b"M" + struct.pack("<H", v)
        else:
            self.out += b"J" + struct.pack("<i", v)

    def str(self, b):
        self.out += (b"U" + bytes([len(b)])) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)))
        self.out += b
        self.put()

    def save(self, v):
        if isinstance(v, dict):
            self.out += b"}"
            self.put()
            self.out += b"("
            for k, x in v.items():
                self.save(k)
                self.save(x)
            self.out += b"u"
        elif isinstance(v, list):
            self.out += b"]"
            self.put()
            for i in range(0, len(v), 1000):
                self.out += b"("
                for x in v[i:i + 1000]:
                    self.save(x)
                self.out += b"e"
        elif isinstance(v, bytes):
            self.str(v)
        elif isinstance(v, int):
            self.int(v)
        elif isinstance(v, np.ndarray):
            assert v.dtype == np.uint8 and v.ndim == 2
            self.out += b"cnumpy.core.multiarray\n_reconstruct\n"
            self.put()
            self.out += b"cnumpy\nndarray\n"
            self.put()
            self.out += b"K\x00\x85"
            self.put()
            self.str(b"b")
            self.out += b"\x87"
            self.put()
            self.out += b"R"
            self.put()
            self.out += b"(K\x01"
            self.int(v.shape[0])
            self.int(v.shape[1])
            self.out += b"\x86"
            self.put()
            self.out += b"cnumpy\ndtype\n"
            self.put()
            self.str(b"u1")
            self.out += b"K\x00K\x01\x87"
            self.put()
            self.out += b"R"
            self.put()
            self.out += b"(K\x03"
            self.str(b"|")
            self.out += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"
            self.put()
            self.out += b"b\x89"
            self.str(v.tobytes())
            self.out += b"t"
            self.put()
            self.out += b"b"
        else:
            raise TypeError(type(v))

    @staticmethod
    def dumps(v):
        p = Py2Pickler()
        p.save(v)
        return bytes(p.out + b".")


def py3(obj):
    """What torchvision hands back: str keys and values, as pickle.load(encoding='latin1') gives."""
    if isinstance(obj, dict):
        return {py3(k): py3(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [py3(x) for x in obj]
    if isinstance(obj, bytes):
        return obj.decode("latin1")
    return obj


def check_py2(data, obj):
    back = pickle.loads(data, encoding="latin1")
    want = py3(obj)
    assert back.keys() == want.keys()
    for k in want:
        if isinstance(want[k], np.ndarray):
            assert back[k].dtype == np.uint8 and np.array_equal(back[k], want[k])
        else:
            assert back[k] == want[k], k


def binary_records(images, labels, coarse=None):
    out = bytearray()
    for i, (img, label) in enumerate(zip(images, labels)):
        if coarse is not None:
            out.append(coarse[i])
        out.append(label)
        out += img.tobytes()
    return bytes(out)


def make_cifar():
    rng = np.random.default_rng(2023)
    # CIFAR-100: classes 3, 42, 99, three training images each; three test images.
    names100 = [f"fine_{i:02d}" for i in range(100)]
    train_labels = [3, 42, 99, 42, 3, 99, 99, 42, 3]
    test_labels = [42, 3, 99]
    train = rng.integers(0, 256, (len(train_labels), 3072), dtype=np.uint8)
    test = rng.integers(0, 256, (len(test_labels), 3072), dtype=np.uint8)
    coarse_train = [label // 5 for label in train_labels]
    coarse_test = [label // 5 for label in test_labels]
    files = {
        "train": {b"filenames": [b"img_%d.png" % i for i in range(len(train_labels))], b"batch_label": b"training batch 1 of 1",
                  b"fine_labels": train_labels, b"coarse_labels": coarse_train, b"data": train},
        "test": {b"filenames": [b"test_%d.png" % i for i in range(len(test_labels))], b"batch_label": b"testing batch 1 of 1",
                 b"fine_labels": test_labels, b"coarse_labels": coarse_test, b"data": test},
        "meta": {b"fine_label_names": [n.encode() for n in names100],
                 b"coarse_label_names": [b"coarse_%02d" % i for i in range(20)]},
    }
    for name, obj in files.items():
        data = Py2Pickler.dumps(obj)
        check_py2(data, obj)
        write(f"cifar/cifar-100-python/{name}", data)
    write("cifar/cifar-100-binary/train.bin", binary_records(train, train_labels, coarse_train))
    write("cifar/cifar-100-binary/test.bin", binary_records(test, test_labels, coarse_test))
    write("cifar/cifar-100-binary/fine_label_names.txt", ("\n".join(names100) + "\n").encode())

    # CIFAR-10: two images per training batch, three test images.
    names10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for b in range(1, 6):
        labels = [b, 9 - b]
        images = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
        obj = {b"batch_label": b"training batch %d of 5" % b, b"labels": labels, b"data": images,
               b"filenames": [b"a_%d.png" % b, b"b_%d.png" % b]}
        data = Py2Pickler.dumps(obj)
        check_py2(data, obj)
        write(f"cifar/cifar-10-batches-py/data_batch_{b}", data)
        write(f"cifar/cifar-10-batches-bin/data_batch_{b}.bin", binary_records(images, labels))
    labels = [3, 3, 1]
    images = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    obj = {b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": images,
           b"filenames": [b"t_%d.png" % i for i in range(3)]}
    data = Py2Pickler.dumps(obj)
    check_py2(data, obj)
    write("cifar/cifar-10-batches-py/test_batch", data)
    write("cifar/cifar-10-batches-bin/test_batch.bin", binary_records(images, labels))
    meta = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in names10], b"num_vis": 3072}
    data = Py2Pickler.dumps(meta)
    check_py2(data, meta)
    write("cifar/cifar-10-batches-py/batches.meta", data)
    write("cifar/cifar-10-batches-bin/batches.meta.txt", ("\n".join(names10) + "\n\n").encode())

    # The same test batch pickled by Python 3 (str keys, as a user re-saving it would have them).
    obj3 = {"batch_label": "testing batch 1 of 1", "labels": labels, "data": images}
    for protocol in (2, 4):
        data = pickle.dumps(obj3, protocol=protocol)
        back = pickle.loads(data)
        assert np.array_equal(back["data"], images) and back["labels"] == labels
        write(f"cifar/test_batch_py3_protocol{protocol}", data)
    # A batch whose pickle would run a command.
    cmd = f"touch {MARKER}".encode()
    write("cifar/evil_batch", b"\x80\x02cposix\nsystem\nU" + bytes([len(cmd)]) + cmd + b"\x85R.")


if __name__ == "__main__":
    make_torch()
    make_cifar()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f"wrote {ROOT} ({total} bytes)")
    sys.exit(0)
