import time
import urllib.error

import numpy as np
import pytest
import tonic
import torch

from snnbench.data import DATASETS, dataset_info
from snnbench.data.events import bin_events
from snnbench.errors import DataError

from .conftest import CIFAR_CLASSES, encode_atis, make_cifar10_dvs, make_events, make_request


def check_against_truth(ds, samples, sensor, T):
    assert len(ds) == len(samples)
    for i in (0, len(ds) // 2, len(ds) - 1):
        path, events, label = samples[i]
        frames, y = ds[i]
        assert frames.dtype == torch.float32 and frames.shape == (T, 2, sensor[1], sensor[0])
        assert y == label and isinstance(y, int)
        assert frames.sum() == len(events)
        np.testing.assert_array_equal(frames.numpy(), bin_events(events, T, sensor))


def test_nmnist_loads_through_tonic(nmnist_root):
    root, truth = nmnist_root
    for split in ("train", "test"):
        ds = DATASETS.get("nmnist")(make_request(root, split, T=5, cache=False))
        assert isinstance(ds.read.dataset, tonic.datasets.NMNIST)
        assert [str(p) for p in ds.read.dataset.data] == [s[0] for s in truth[split]]
        check_against_truth(ds, truth[split], (34, 34), 5)
        assert ds.split_info == {"method": "official", "split": split, "n": len(truth[split])}
    assert dataset_info("nmnist").shape == (2, 34, 34)


def test_nmnist_hand_counted_bins(nmnist_root):
    root, _ = nmnist_root
    # 6 events over 0..999 µs, T = 4 -> bins (t * 4 // 1000): 0, 0, 1, 2, 3, 3
    events = make_events(
        x=[1, 1, 2, 33, 0, 0], y=[0, 0, 5, 33, 0, 0], t=[0, 100, 300, 600, 800, 999], p=[1, 1, 0, 1, 0, 0]
    )
    path = root / "NMNIST" / "Test" / "7" / "99999.bin"
    path.write_bytes(encode_atis(events))
    ds = DATASETS.get("nmnist")(make_request(root, "test", T=4, cache=False))
    frames, label = ds[[str(p) for p in ds.read.dataset.data].index(str(path))]
    assert label == 7
    assert frames[0, 1, 0, 1] == 2 and frames[1, 0, 5, 2] == 1 and frames[2, 1, 33, 33] == 1
    assert frames[3, 0, 0, 0] == 2 and frames.sum() == 6


def test_dvs_gesture_loads_through_tonic(dvs_gesture_root):
    root, truth = dvs_gesture_root
    for split in ("train", "test"):
        ds = DATASETS.get("dvs_gesture")(make_request(root, split, T=6, cache=False))
        assert isinstance(ds.read.dataset, tonic.datasets.DVSGesture)
        check_against_truth(ds, truth[split], (128, 128), 6)  # ms on disk, µs after tonic
    assert ds.read.dataset.users == [1, 1, 1]
    assert dataset_info("dvs_gesture").shape == (2, 128, 128) and dataset_info("dvs_gesture").num_classes == 11


def test_cifar10_dvs_loads_through_tonic_aedat4(cifar10_dvs_root):
    pytest.importorskip("aedat")
    root, samples = cifar10_dvs_root
    train = DATASETS.get("cifar10_dvs")(make_request(root, "train", T=3, cache=False))
    test = DATASETS.get("cifar10_dvs")(make_request(root, "test", T=3, cache=False))
    assert isinstance(train.read.dataset, tonic.datasets.CIFAR10DVS)
    assert len(train) == 40 and len(test) == 10
    for ds in (train, test):
        for i in (0, len(ds) - 1):
            j = int(ds.indices[i])
            path, events, label = samples[j]
            frames, y = ds[i]
            assert y == label and frames.shape == (3, 2, 128, 128)
            np.testing.assert_array_equal(frames.numpy(), bin_events(events, 3, (128, 128)))


def test_cifar10_dvs_split_deterministic_stratified(tmp_path):
    make_cifar10_dvs(tmp_path, per_class=5)
    load = DATASETS.get("cifar10_dvs")
    pytest.importorskip("aedat")
    a_train, a_test = (load(make_request(tmp_path, s, test_fraction=0.4)) for s in ("train", "test"))
    b_test = load(make_request(tmp_path, "test", test_fraction=0.4))
    assert a_test.indices.tolist() == b_test.indices.tolist()
    assert set(a_train.indices).isdisjoint(a_test.indices) and len(a_train) + len(a_test) == 50
    assert np.bincount(a_test.labels[a_test.indices], minlength=10).tolist() == [2] * 10
    info = a_test.split_info
    assert info["method"] == "stratified" and info["seed"] == 0 and info["test_fraction"] == 0.4
    assert (info["n_total"], info["n_train"], info["n_test"]) == (50, 30, 20)
    assert info == a_train.split_info
    other = load(make_request(tmp_path, "test", test_fraction=0.2))
    assert len(other) == 10 and other.split_info["test_indices_sha256"] != info["test_indices_sha256"]


@pytest.mark.parametrize(
    ("name", "where"),
    [("nmnist", "NMNIST/Train"), ("dvs_gesture", "DVSGesture/ibmGestureTrain"), ("cifar10_dvs", "CIFAR10DVS")],
)
def test_missing_event_files_one_line_error(tmp_path, name, where):
    with pytest.raises(DataError) as err:
        DATASETS.get(name)(make_request(tmp_path, "train"))
    text = str(err.value)
    assert "\n" not in text and name in text and str(tmp_path / where) in text
    assert dataset_info(name).expected_files.split("/")[1] in text  # tonic's folder name
    assert "data.download: true" in text


def test_failed_tonic_download_is_quick_data_error(tmp_path, monkeypatch):
    def offline(self):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tonic.dataset.Dataset, "download", offline)
    start = time.perf_counter()
    with pytest.raises(DataError, match="download to .* failed.*name resolution"):
        DATASETS.get("nmnist")(make_request(tmp_path, "train", download=True))
    assert time.perf_counter() - start < 5


def test_event_infos():
    for name in ("nmnist", "dvs_gesture", "cifar10_dvs"):
        info = dataset_info(name)
        assert info.kind == "event" and info.shape[0] == 2 and 8 <= info.default_T <= 16
    assert list(tonic.datasets.CIFAR10DVS.classes) == CIFAR_CLASSES


def test_datasets_pickle_for_worker_processes(nmnist_root, cifar10_root):
    import pickle

    from snnbench.data import neuromorphic, static

    root, _ = nmnist_root
    ds = DATASETS.get("nmnist")(make_request(root, "test", T=3, cache=False))
    clone = pickle.loads(pickle.dumps(ds))
    assert type(clone.read.dataset) is neuromorphic.present_class("NMNIST")
    assert torch.equal(clone[2][0], ds[2][0]) and clone[2][1] == ds[2][1]
    croot, _ = cifar10_root
    cifar = DATASETS.get("cifar10")(make_request(croot, "test"))
    assert type(pickle.loads(pickle.dumps(cifar))) is static._cifar10_class()
