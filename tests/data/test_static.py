import time
import urllib.error

import numpy as np
import pytest
import torch
import torchvision

from snnbench.data import DATASETS, dataset_info
from snnbench.errors import DataError

from .conftest import make_request


@pytest.mark.parametrize(("name", "fixture"), [("mnist", "mnist_root"), ("fashion_mnist", "fashion_root")])
def test_mnist_like_loads_through_torchvision(name, fixture, request):
    root, truth = request.getfixturevalue(fixture)
    for split in ("train", "test"):
        ds = DATASETS.get(name)(make_request(root, split))
        assert isinstance(ds, torchvision.datasets.MNIST)  # FashionMNIST subclasses MNIST
        images, labels = truth[split]
        assert len(ds) == len(labels)
        x, y = ds[3]
        assert x.shape == dataset_info(name).shape == (1, 28, 28) and x.dtype == torch.float32
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert isinstance(y, int) and y == labels[3]
        np.testing.assert_allclose(x[0].numpy(), images[3] / 255.0, atol=1e-6)


def test_cifar10_loads_through_torchvision(cifar10_root):
    root, truth = cifar10_root
    train = DATASETS.get("cifar10")(make_request(root, "train"))
    test = DATASETS.get("cifar10")(make_request(root, "test"))
    assert isinstance(train, torchvision.datasets.CIFAR10)
    assert len(train) == 20 and len(test) == 6
    data, labels = truth["train"]
    x, y = train[5]
    assert x.shape == (3, 32, 32) == dataset_info("cifar10").shape and x.dtype == torch.float32
    assert y == labels[5]
    np.testing.assert_allclose(x.numpy(), data[5].reshape(3, 32, 32) / 255.0, atol=1e-6)  # R, G, B planes
    assert train.classes[0] == "airplane"
    assert test[0][1] == truth["test"][1][0]


@pytest.mark.parametrize(
    ("name", "path_part", "files"),
    [
        ("mnist", "MNIST/raw", "train-images-idx3-ubyte"),
        ("fashion_mnist", "FashionMNIST/raw", "t10k-labels-idx1-ubyte"),
        ("cifar10", "cifar-10-batches-py", "data_batch_1"),
    ],
)
def test_missing_files_one_line_error(tmp_path, name, path_part, files):
    with pytest.raises(DataError) as err:
        DATASETS.get(name)(make_request(tmp_path, "train"))
    text = str(err.value)
    assert "\n" not in text
    assert name in text and str(tmp_path / path_part) in text and files in text
    assert "data.download: true" in text


def test_partial_mnist_is_missing(mnist_root):
    root, _ = mnist_root
    (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        DATASETS.get("mnist")(make_request(root, "train"))


def test_failed_download_is_a_quick_data_error(tmp_path, monkeypatch):
    def offline(self, *args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -3] no network>")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    monkeypatch.setattr(
        torchvision.datasets.CIFAR10, "download", lambda self: (_ for _ in ()).throw(urllib.error.URLError("offline"))
    )
    start = time.perf_counter()
    for name in ("mnist", "cifar10"):
        with pytest.raises(DataError, match="download .* failed") as err:
            DATASETS.get(name)(make_request(tmp_path, "train", download=True))
        assert "\n" not in str(err.value)
    assert time.perf_counter() - start < 5


def test_corrupt_idx_file_is_data_error(mnist_root):
    root, _ = mnist_root
    (root / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(DataError, match=r"the MNIST files in .* are not readable idx files \(.+\).*hint: replace them"):
        DATASETS.get("mnist")(make_request(root, "train"))


def test_corrupt_cifar_pickle_is_data_error(cifar10_root):
    root, _ = cifar10_root
    (root / "cifar-10-batches-py" / "data_batch_2").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="the CIFAR-10 files in .* are not readable"):
        DATASETS.get("cifar10")(make_request(root, "train"))


def test_static_infos():
    for name, shape, T in (("mnist", (1, 28, 28), 4), ("fashion_mnist", (1, 28, 28), 4), ("cifar10", (3, 32, 32), 8)):
        info = dataset_info(name)
        assert info.kind == "static" and info.shape == shape and info.default_T == T and info.num_classes == 10
        assert info.expected_files and not info.builtin
