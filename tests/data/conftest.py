"""Tiny fake datasets in each dataset's real on-disk format, for loading through the real torchvision/tonic classes.

* MNIST / Fashion-MNIST: uncompressed idx-ubyte files in ``ROOT/<Class>/raw`` (big-endian magic and dims).
* CIFAR-10: latin1 pickles ``data_batch_1..5``, ``test_batch`` (``data`` uint8 [n, 3072] as R, G, B planes,
  ``labels``) and ``batches.meta`` in ``ROOT/cifar-10-batches-py``.
* N-MNIST: 40-bit ATIS events (x, y, p|t[22:16], t[15:8], t[7:0]) in ``ROOT/NMNIST/{Train,Test}/<digit>/*.bin``.
* DVS Gesture: ``[N, 4]`` int64 arrays ``x, y, p, t_ms`` in ``ROOT/DVSGesture/ibmGesture*/user<NN>_<light>/<c>.npy``.
* CIFAR10-DVS: AEDAT 4 files (magic line, size-prefixed flatbuffer IOHeader with the XML stream description, then
  packets ``stream id, size, size-prefixed EVTS flatbuffer``) in ``ROOT/CIFAR10DVS/<class>/*.aedat4``.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from snnbench.data.registry import DatasetRequest

EVENT_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_request(root, split="train", T=4, *, download=False, event_transform=None, **options) -> DatasetRequest:
    opts = {"binning": "time", "cache": True, "cache_dir": None, "test_fraction": 0.2, **options}
    return DatasetRequest(
        split=split, root=Path(root), download=download, T=T, options=opts, event_transform=event_transform
    )


def make_events(x, y, t, p) -> np.ndarray:
    events = np.zeros(len(t), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t, p
    return events


def random_events(rng: np.random.Generator, n: int, size: int, duration_us: int) -> np.ndarray:
    t = np.sort(rng.integers(0, duration_us, n))
    return make_events(rng.integers(0, size, n), rng.integers(0, size, n), t, rng.integers(0, 2, n))


# ---------------------------------------------------------------- MNIST / Fashion-MNIST (idx-ubyte)


def write_idx(path: Path, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = (0x08 << 8) | array.ndim  # type 0x08 = unsigned byte
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def make_mnist_like(root: Path, cls_name: str, n_train=20, n_test=10, seed=0) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    raw = root / cls_name / "raw"
    raw.mkdir(parents=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        out[split] = (images, labels)
    return out


# ---------------------------------------------------------------- CIFAR-10 (python pickles)


def make_cifar10(root: Path, per_batch=4, n_test=6, seed=0) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    out = {"train": ([], []), "test": None}

    def dump(name, data, labels):
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels}, f)

    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        dump(f"data_batch_{i}", data, labels)
        out["train"][0].append(data)
        out["train"][1].extend(labels)
    out["train"] = (np.concatenate(out["train"][0]), out["train"][1])
    data = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n_test)]
    dump("test_batch", data, labels)
    out["test"] = (data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_CLASSES, "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return out


# ---------------------------------------------------------------- N-MNIST (40-bit ATIS .bin)


def encode_atis(events: np.ndarray) -> bytes:
    t = events["t"].astype(np.int64)
    assert t.max() < 2**23, "plain ATIS events hold 23-bit timestamps"
    raw = np.zeros((len(events), 5), dtype=np.uint8)
    raw[:, 0] = events["x"]
    raw[:, 1] = events["y"]
    raw[:, 2] = (events["p"].astype(np.int64) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    return raw.tobytes()


def make_nmnist(root: Path, per_class=(2, 1), seed=0) -> dict[str, list]:
    """``per_class`` = (train, test) samples per digit; returns split -> [(path, events, label)] sorted by path."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, folder, n in (("train", "Train", per_class[0]), ("test", "Test", per_class[1])):
        samples = []
        for digit in range(10):
            d = root / "NMNIST" / folder / str(digit)
            d.mkdir(parents=True)
            for k in range(n):
                events = random_events(rng, int(rng.integers(20, 60)), 34, 300_000)
                path = d / f"{digit * 100 + k:05d}.bin"
                path.write_bytes(encode_atis(events))
                samples.append((str(path), events, digit))
        out[split] = sorted(samples, key=lambda s: s[0])
    return out


# ---------------------------------------------------------------- DVS Gesture (tonic's preprocessed .npy)


def make_dvs_gesture(root: Path, users=(("user01", "fluorescent"), ("user02", "led")), seed=0) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, folder in (("train", "ibmGestureTrain"), ("test", "ibmGestureTest")):
        samples = []
        for user, light in users if split == "train" else users[:1]:
            d = root / "DVSGesture" / folder / f"{user}_{light}"
            d.mkdir(parents=True)
            for label in (0, 3, 10):
                n = int(rng.integers(30, 80))
                t_ms = np.sort(rng.integers(0, 2000, n))
                x, y, p = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
                np.save(d / f"{label}.npy", np.stack([x, y, p, t_ms], axis=1).astype(np.int64))
                samples.append((str(d / f"{label}.npy"), make_events(x, y, t_ms * 1000, p), label))
        out[split] = sorted(samples, key=lambda s: s[0])
    return out


# ---------------------------------------------------------------- CIFAR10-DVS (AEDAT 4)

AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"
AEDAT4_DESCRIPTION = (
    '<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/"><node name="0" path="/0/">'
    '<attr key="compression" type="string">NONE</attr><attr key="originalModuleName" type="string">capture</attr>'
    '<attr key="originalOutputName" type="string">events</attr>'
    '<attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>'
    '<attr key="typeIdentifier" type="string">EVTS</attr><node name="info" path="/0/info/">'
    '<attr key="sizeX" type="int">128</attr><attr key="sizeY" type="int">128</attr>'
    "</node></node></node></dv>"
)


def _pad(buf: bytearray, align: int) -> None:
    buf.extend(b"\0" * (-len(buf) % align))


def _size_prefixed(buf: bytearray) -> bytes:
    _pad(buf, 8)
    struct.pack_into("<I", buf, 0, len(buf) - 4)
    return bytes(buf)


def aedat4_ioheader() -> bytes:
    """Size-prefixed flatbuffer ``Ioheader {compression = None, file_data_position = -1, description}``."""
    buf = bytearray(4)  # size prefix, filled last
    buf += struct.pack("<I", 24 - 4) + b"IOHE"  # root table at 24, offset relative to byte 4
    buf += struct.pack("<5H", 10, 8, 0, 0, 4) + b"\0\0"  # vtable @12: 3 fields, only #2 (description) stored
    buf += struct.pack("<i", 24 - 12)  # table @24: soffset back to the vtable
    buf += struct.pack("<I", 32 - 28)  # field 2 @28: offset to the string @32
    text = AEDAT4_DESCRIPTION.encode()
    buf += struct.pack("<I", len(text)) + text + b"\0"
    return _size_prefixed(buf)


def aedat4_events_packet(events: np.ndarray, stream_id: int = 0) -> bytes:
    """One packet: stream id, payload size, size-prefixed flatbuffer ``EventPacket {elements: [Event]}``."""
    buf = bytearray(4)
    buf += struct.pack("<I", 20 - 4) + b"EVTS"  # root table at 20
    buf += struct.pack("<3H", 6, 8, 4) + b"\0\0"  # vtable @12: 1 field, at table offset 4
    buf += struct.pack("<i", 20 - 12)  # table @20
    buf += struct.pack("<I", 28 - 24)  # field @24 -> vector @28
    buf += struct.pack("<I", len(events))  # vector length @28, elements @32 (8-aligned)
    structs = np.zeros(
        len(events), dtype=np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("pad", "V3")])
    )
    structs["t"], structs["x"], structs["y"], structs["on"] = events["t"], events["x"], events["y"], events["p"]
    buf += structs.tobytes()
    payload = _size_prefixed(buf)
    return struct.pack("<II", stream_id, len(payload)) + payload


def write_aedat4(path: Path, events: np.ndarray, packets: int = 2) -> None:
    chunks = np.array_split(events, packets)
    path.write_bytes(AEDAT4_MAGIC + aedat4_ioheader() + b"".join(aedat4_events_packet(c) for c in chunks))


def make_cifar10_dvs(root: Path, per_class=5, seed=0) -> list:
    """Returns [(path, events, label)] sorted by path."""
    rng = np.random.default_rng(seed)
    samples = []
    for label, name in enumerate(CIFAR_CLASSES):
        d = root / "CIFAR10DVS" / name
        d.mkdir(parents=True)
        for k in range(per_class):
            events = random_events(rng, int(rng.integers(20, 50)), 128, 1_000_000)
            path = d / f"cifar10_{name}_{k}.aedat4"
            write_aedat4(path, events)
            samples.append((str(path), events, label))
    return sorted(samples, key=lambda s: s[0])


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def mnist_root(tmp_path):
    return tmp_path, make_mnist_like(tmp_path, "MNIST")


@pytest.fixture
def fashion_root(tmp_path):
    return tmp_path, make_mnist_like(tmp_path, "FashionMNIST", seed=1)


@pytest.fixture
def cifar10_root(tmp_path):
    return tmp_path, make_cifar10(tmp_path)


@pytest.fixture
def nmnist_root(tmp_path):
    return tmp_path, make_nmnist(tmp_path)


@pytest.fixture
def dvs_gesture_root(tmp_path):
    return tmp_path, make_dvs_gesture(tmp_path)


@pytest.fixture
def cifar10_dvs_root(tmp_path):
    return tmp_path, make_cifar10_dvs(tmp_path)
