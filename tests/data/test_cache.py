import threading
import warnings

import numpy as np
import pytest
import torch

from snnbench.data import DATASETS
from snnbench.data import events as events_mod
from snnbench.data.cache import CACHE_DIR_NAME, EventFrames, FrameCache, cache_key

from .conftest import make_request


@pytest.fixture
def count_binning(monkeypatch):
    calls = []
    real = events_mod.bin_events

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(events_mod, "bin_events", counting)
    return calls


def epoch(ds):
    return [ds[i] for i in range(len(ds))]


def test_second_epoch_hits_cache(nmnist_root, count_binning):
    root, _ = nmnist_root
    ds = DATASETS.get("nmnist")(make_request(root, "train", T=4))
    first = epoch(ds)
    assert len(count_binning) == len(ds) == 20 and ds.cache.misses == 20 and ds.cache.hits == 0
    second = epoch(ds)
    assert len(count_binning) == 20 and ds.cache.hits == 20  # no binning on the second epoch
    for (a, ya), (b, yb) in zip(first, second, strict=True):
        assert torch.equal(a, b) and ya == yb and b.dtype == torch.float32
    assert ds.cache.dir.parent == root / CACHE_DIR_NAME
    again = DATASETS.get("nmnist")(make_request(root, "train", T=4))  # a new run finds the same entries
    epoch(again)
    assert len(count_binning) == 20 and again.cache.hits == 20
    assert not list(ds.cache.dir.glob("*.tmp")) and (ds.cache.dir / "meta.json").is_file()


def test_key_covers_what_changes_frames(nmnist_root, tmp_path):
    root, _ = nmnist_root
    load = DATASETS.get("nmnist")
    base = load(make_request(root, "train", T=4, cache_dir=str(tmp_path / "c")))
    assert base.cache.dir.parent == tmp_path / "c"
    same = load(make_request(root, "train", T=4, cache_dir=str(tmp_path / "c")))
    assert same.cache.key == base.cache.key
    for changed in (
        load(make_request(root, "train", T=5, cache_dir=str(tmp_path / "c"))),
        load(make_request(root, "train", T=4, binning="count", cache_dir=str(tmp_path / "c"))),
        load(make_request(root, "test", T=4, cache_dir=str(tmp_path / "c"))),
    ):
        assert changed.cache.key != base.cache.key
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_corrupt_entry_is_rebuilt_with_warning(nmnist_root, count_binning):
    root, _ = nmnist_root
    ds = DATASETS.get("nmnist")(make_request(root, "test", T=4))
    clean = ds[3][0]
    path = ds.cache.path(int(ds.indices[3]))
    path.write_bytes(path.read_bytes()[:-7])  # truncated
    with pytest.warns(RuntimeWarning, match="corrupt entry"):
        rebuilt = ds[3][0]
    assert torch.equal(rebuilt, clean) and ds.cache.rebuilt == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(ds[3][0], clean)  # the rewritten entry is valid again
    path.write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert torch.equal(ds[3][0], clean)


def test_event_transform_bypasses_cache(nmnist_root, count_binning):
    root, _ = nmnist_root
    clean = DATASETS.get("nmnist")(make_request(root, "test", T=4))
    epoch(clean)
    n_files = len(list(clean.cache.dir.glob("*.npy")))

    def drop_off(events):
        return events[events["p"] > 0]

    noisy = DATASETS.get("nmnist")(make_request(root, "test", T=4, event_transform=drop_off))
    assert noisy.cache is None
    frames = epoch(noisy)
    assert all(f[:, 0].sum() == 0 and f[:, 1].sum() > 0 for f, _ in frames)  # transform applied, not cached frames
    assert len(list(clean.cache.dir.glob("*.npy"))) == n_files
    epoch(noisy)
    assert len(count_binning) == 10 + 20  # noisy samples binned on every epoch


def test_cache_off_writes_nothing(nmnist_root):
    root, _ = nmnist_root
    ds = DATASETS.get("nmnist")(make_request(root, "test", T=4, cache=False))
    epoch(ds)
    assert ds.cache is None and not (root / CACHE_DIR_NAME).exists()


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch):
    cache = FrameCache(tmp_path, {"dataset": "x"})
    cache.store(0, np.ones((2, 2, 1, 1), np.float32))  # creates the directory

    def crash(f, *args, **kwargs):
        f.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", crash)
    with pytest.warns(RuntimeWarning, match="cannot write"):
        cache.store(1, np.ones((2, 2, 1, 1), np.float32))
    assert not cache.path(1).exists() and not list(cache.dir.glob("*.tmp"))
    assert not cache.writable


def test_concurrent_writers_of_one_entry(tmp_path):
    frames = np.arange(2 * 2 * 3 * 3, dtype=np.float32).reshape(2, 2, 3, 3)
    caches = [FrameCache(tmp_path, {"dataset": "x"}) for _ in range(4)]
    threads = [threading.Thread(target=lambda c=c: [c.store(0, frames) for _ in range(20)]) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(caches[0].load(0, frames.shape), frames)
    assert np.load(caches[0].path(0)).dtype == np.uint8  # stored compactly, loaded as float32


def test_unwritable_cache_dir_warns_and_keeps_working(nmnist_root):
    root, _ = nmnist_root
    blocker = root / "not-a-dir"
    blocker.write_text("x")
    ds = DATASETS.get("nmnist")(make_request(root, "test", T=4, cache_dir=str(blocker)))
    with pytest.warns(RuntimeWarning, match="cannot write"):
        frames = epoch(ds)
    assert len(frames) == 10 and not ds.cache.writable


def test_large_counts_round_trip(tmp_path):
    cache = FrameCache(tmp_path, {"dataset": "x"})
    frames = np.zeros((1, 2, 2, 2), np.float32)
    frames[0, 0, 0, 0] = 70_000
    cache.store(5, frames)
    np.testing.assert_array_equal(cache.load(5, frames.shape), frames)
    with pytest.warns(RuntimeWarning, match="shape"):
        assert cache.load(5, (2, 2, 2, 2)) is None  # a wrong shape counts as corrupt


def test_event_frames_rejects_unknown_binning():
    with pytest.raises(ValueError, match="binning"):
        EventFrames(lambda j: None, [0], [0], T=2, sensor_size=(2, 2), binning="space")
