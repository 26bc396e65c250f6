"""Real static image datasets through torchvision: ``mnist``, ``fashion_mnist``, ``cifar10``.

Each yields ``(image float32 [C, H, W] in [0, 1], int label)`` (torchvision's ``ToTensor``) from the official
train/test split. Files are looked for under the data root in torchvision's own layout; when they are missing and
``data.download`` is false, or the download fails (offline), a one-line :class:`~snnbench.errors.DataError` names
the path and the files expected there. Presence is checked *before* a torchvision class is built, so an offline
run never waits on the network unless asked to download.

CIFAR-10: torchvision verifies the MD5 of every batch file each time the dataset is built. snnbench uses a minimal
subclass whose file lists carry no MD5 (presence only, as torchvision itself does for MNIST's raw files): the
check costs a full read of 180 MB per build, and a damaged pickle still fails loudly when it is read.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from snnbench.data.registry import DatasetInfo, DatasetRequest, register_dataset
from snnbench.errors import DataError

DOWNLOAD_TIMEOUT_S = 30.0


def missing_data_error(name: str, path: Path, expected: str, how: str) -> DataError:
    """The one-line error for absent dataset files: dataset, path searched, files expected, how to get them."""
    return DataError(
        f"dataset files not found in {path} (expected {expected})",
        where=f"dataset '{name}'",
        hint=f"set data.download: true on a machine with internet, or {how}",
    )


def unreadable(err: BaseException) -> str:
    """What went wrong reading a file, in words: the error's text, or its type when it has none (a bare assert)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return text or f"{type(err).__name__}: unexpected contents"


@contextlib.contextmanager
def download_guard(name: str, path: Path) -> Iterator[None]:
    """Bound network waits and turn any download failure into a DataError."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        yield
    except Exception as err:  # urllib, HTTP, md5 and archive errors alike
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(
            f"download to {path} failed: {reason[:300]}",
            where=f"dataset '{name}'",
            hint="check the network, or download the files elsewhere and place them under the data root",
        ) from err
    finally:
        socket.setdefaulttimeout(previous)


def _mnist_files(split: str) -> list[str]:
    prefix = "train" if split == "train" else "t10k"
    return [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]


def _torchvision_mnist(request: DatasetRequest, name: str, cls_name: str, url: str) -> Dataset:
    import torchvision
    from torchvision.transforms import ToTensor

    cls = getattr(torchvision.datasets, cls_name)
    raw = Path(request.root) / cls_name / "raw"
    files = _mnist_files("train") + _mnist_files("test")
    missing = [f for f in files if not (raw / f).is_file()]
    if missing:
        if not request.download:
            raise missing_data_error(
                name, raw, ", ".join(files), f"place the four files (gunzipped, from {url}) under {raw}"
            )
        with download_guard(name, raw):
            cls(str(request.root), train=True, download=True)
    try:
        return cls(str(request.root), train=request.split == "train", transform=ToTensor())
    except Exception as err:  # a truncated or foreign idx file
        raise DataError(
            f"the {cls_name} files in {raw} are not readable idx files ({unreadable(err)})",
            where=f"dataset '{name}'",
            hint=f"replace them with the original {', '.join(_mnist_files(request.split))} (or delete them and set "
            "data.download: true)",
        ) from err


_CIFAR_CLASS: dict[str, type] = {}


def _cifar10_class() -> type:
    """torchvision's CIFAR10 with presence-only file checks (see module docstring); built once, lazily."""
    if "cls" not in _CIFAR_CLASS:
        from torchvision.datasets import CIFAR10

        class PresentCIFAR10(CIFAR10):
            train_list = [[name, None] for name, _ in CIFAR10.train_list]
            test_list = [[name, None] for name, _ in CIFAR10.test_list]
            meta = {**CIFAR10.meta, "md5": None}

        PresentCIFAR10.__module__ = __name__
        PresentCIFAR10.__qualname__ = "_PresentCIFAR10"
        _CIFAR_CLASS["cls"] = PresentCIFAR10
    return _CIFAR_CLASS["cls"]


def __getattr__(name: str) -> Any:  # lets pickle (spawned DataLoader workers) find the lazily built class
    if name == "_PresentCIFAR10":
        return _cifar10_class()
    raise AttributeError(name)


CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


def _cifar10(request: DatasetRequest) -> Dataset:
    from torchvision.datasets import CIFAR10
    from torchvision.transforms import ToTensor

    folder = Path(request.root) / "cifar-10-batches-py"
    if any(not (folder / f).is_file() for f in CIFAR10_FILES):
        if not request.download:
            raise missing_data_error(
                "cifar10",
                folder,
                ", ".join(CIFAR10_FILES),
                f"extract cifar-10-python.tar.gz ({CIFAR10.url}) under {request.root}",
            )
        with download_guard("cifar10", Path(request.root)):
            CIFAR10(str(request.root), train=True, download=True)
    try:
        return _cifar10_class()(str(request.root), train=request.split == "train", transform=ToTensor())
    except Exception as err:  # a truncated or foreign pickle
        raise DataError(
            f"the CIFAR-10 files in {folder} are not readable ({unreadable(err)})",
            where="dataset 'cifar10'",
            hint="replace them with the original cifar-10-batches-py files, or delete them and set data.download: true",
        ) from err


def _static_info(
    name: str, shape, T: int, description: str, expected: str, hflip_ok: bool = False, sizes=None
) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        kind="static",
        shape=shape,
        num_classes=10,
        default_T=T,
        description=description,
        expected_files=expected,
        hflip_ok=hflip_ok,
        split_sizes=sizes,
    )


@register_dataset(
    _static_info(
        "mnist",
        (1, 28, 28),
        4,
        "MNIST handwritten digits, 28x28 grey (60,000 train / 10,000 test, torchvision)",
        "ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (download: true fetches them)",
        sizes=(60_000, 10_000),
    )
)
def mnist(request: DatasetRequest) -> Dataset:
    return _torchvision_mnist(request, "mnist", "MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/")


@register_dataset(
    _static_info(
        "fashion_mnist",
        (1, 28, 28),
        4,
        "Fashion-MNIST clothing images, 28x28 grey (60,000 train / 10,000 test, torchvision)",
        "ROOT/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (download: true fetches them)",
        hflip_ok=True,
        sizes=(60_000, 10_000),
    )
)
def fashion_mnist(request: DatasetRequest) -> Dataset:
    return _torchvision_mnist(
        request, "fashion_mnist", "FashionMNIST", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    )


@register_dataset(
    _static_info(
        "cifar10",
        (3, 32, 32),
        8,
        "CIFAR-10 colour images, 32x32 RGB (50,000 train / 10,000 test, torchvision)",
        "ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} (download: true fetches them)",
        hflip_ok=True,
        sizes=(50_000, 10_000),
    )
)
def cifar10(request: DatasetRequest) -> Dataset:
    return _cifar10(request)
