import time

import numpy as np
import tonic
import torch

from snnbench.data import DATASETS, dataset_info, load_data
from snnbench.data.builtin import load_mnist_digits as _digits
from snnbench.data.dvs_emulation import EMULATION, EVENT_DTYPE, emulate_dvs
from snnbench.suite.schema import DataSpec

from .conftest import make_request

DURATION_US = 3 * EMULATION["saccade_us"]


def test_events_are_tonic_format_sorted_and_in_range():
    images, _ = _digits()
    events = emulate_dvs(images[0])
    assert events.dtype == EVENT_DTYPE == tonic.datasets.NMNIST.dtype
    assert 1_000 < len(events) < 20_000
    assert np.all(np.diff(events["t"]) >= 0) and events["t"].min() >= 0 and events["t"].max() <= DURATION_US
    assert events["x"].min() >= 0 and events["x"].max() < 34 and events["y"].min() >= 0 and events["y"].max() < 34
    assert set(np.unique(events["p"]).tolist()) == {0, 1}  # both polarities
    # the moving digit brightens some pixels and darkens others by similar amounts overall
    assert 0.3 < events["p"].mean() < 0.7


def test_emulation_is_deterministic():
    images, _ = _digits()
    a, b = emulate_dvs(images[42]), emulate_dvs(images[42].copy())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(emulate_dvs(images[43]), a)


def test_emulation_follows_the_scene():
    assert len(emulate_dvs(np.zeros((28, 28), np.float32))) == 0  # a blank scene makes no events
    dot = np.zeros((28, 28), np.float32)
    dot[10, 10] = 1.0
    events = emulate_dvs(dot)
    assert len(events) > 0 and {0, 1} <= set(events["p"].tolist())
    first = {}
    for x, y, _, p in events.tolist():
        first.setdefault((x, y), p)
    assert first.pop((10, 10)) == 0  # the dot leaves its starting pixel: OFF first
    assert set(first.values()) == {1}  # every other pixel sees it arrive: ON first
    # the dot moves within the saccade triangle: x in 10..16, y in 10..16 (+1 for bilinear spread)
    assert events["x"].min() >= 10 and events["x"].max() <= 17 and events["y"].max() <= 17


def test_generation_is_fast():
    images, _ = _digits()
    start = time.perf_counter()
    for i in range(200):
        emulate_dvs(images[i])
    assert (time.perf_counter() - start) / 200 < 0.01  # ~1 ms a digit on one core


def test_dataset_split_matches_mnist_digits(tmp_path):
    req = make_request(tmp_path, "test", T=8, cache=False)
    dvs = DATASETS.get("dvs_digits")(req)
    digits = DATASETS.get("mnist_digits")(req)
    assert len(dvs) == len(digits) == 1000
    assert dvs.targets == digits.tensors[1].tolist()
    assert len(DATASETS.get("dvs_digits")(make_request(tmp_path, "train", cache=False))) == 4000
    info = dataset_info("dvs_digits")
    assert info.kind == "event" and info.shape == (2, 34, 34) and info.builtin and info.default_T == 8
    frames, label = dvs[0]
    assert frames.shape == (8, 2, 34, 34) and frames.dtype == torch.float32 and label == digits[0][1].item()
    assert (frames.sum(dim=(1, 2, 3)) > 0).all()  # time bins span the whole recording: none empty
    assert frames[:, 0].sum() > 0 and frames[:, 1].sum() > 0


def test_load_data_bundle_and_cache(tmp_path):
    spec = DataSpec(dataset="dvs_digits", root=str(tmp_path), train_subset=6, test_subset=4, binning="count")
    bundle = load_data(spec, seed=0)
    assert bundle.T == 8 and bundle.spiking_input
    x, y = next(iter(bundle.loader("train", batch_size=3, shuffle=True, seed=1)))
    assert x.shape == (3, 8, 2, 34, 34) and y.shape == (3,)
    assert bundle.to_input(x).shape == (8, 3, 2, 34, 34)
    counts = x.sum(dim=(2, 3, 4))
    assert (counts.max(dim=1).values - counts.min(dim=1).values <= 1).all()  # count binning: equal-size bins
    first = [bundle.test[i][0] for i in range(4)]
    cache_dir = bundle.test.dataset.cache.dir
    assert cache_dir.parent == tmp_path / ".snnbench-cache" and len(list(cache_dir.glob("*.npy"))) >= 4 + 3
    again = load_data(spec, seed=0)
    assert all(torch.equal(a, again.test[i][0]) for i, a in enumerate(first))
    assert again.test.dataset.cache.hits == 4
