"""data.augment: exact crops and flips, training split only, reproducible from the seed; recorded splits."""

import pytest
import torch
from torch import nn

from snnbench.data import load_data
from snnbench.data.augment import augment_batch, crop_at, crop_padding_px, flip_where
from snnbench.errors import SuiteError
from snnbench.measure.accuracy import evaluate
from snnbench.runner.cell import split_info
from snnbench.seeds import make_generator
from snnbench.suite.schema import DataSpec, TrainSpec
from snnbench.train.loop import train_epoch

from .conftest import make_cifar10, make_cifar10_dvs

IMAGE = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)  # rows 1-4, 5-8, 9-12, 13-16


def test_padding_by_frame_size():
    assert [crop_padding_px(s, s) for s in (32, 28, 34, 128, 8)] == [4, 3, 4, 16, 1]


def test_crop_shifts_exactly_with_zero_fill():
    # offset (0, 0) with p = 1: the image moves one pixel down and one right
    down_right = crop_at(IMAGE, torch.tensor([[0, 0]]), 1)[0, 0]
    assert down_right.tolist() == [[0, 0, 0, 0], [0, 1, 2, 3], [0, 5, 6, 7], [0, 9, 10, 11]]
    # offset (2, 1): one pixel up, no horizontal shift
    up = crop_at(IMAGE, torch.tensor([[2, 1]]), 1)[0, 0]
    assert up.tolist() == [[5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [0, 0, 0, 0]]
    # offset (p, p) is the identity
    assert torch.equal(crop_at(IMAGE, torch.tensor([[1, 1]]), 1), IMAGE)


def test_flip_mirrors_only_flagged_samples():
    batch = torch.cat([IMAGE, IMAGE])
    out = flip_where(batch, torch.tensor([True, False]))
    assert out[0, 0, 0].tolist() == [4, 3, 2, 1] and out[0, 0, 3].tolist() == [16, 15, 14, 13]
    assert torch.equal(out[1], IMAGE[0])


def test_event_frames_shift_together_over_time_and_polarity():
    frames = torch.rand(3, 5, 2, 34, 34)  # [B, T, 2, H, W]
    out = augment_batch(frames, "crop", torch.Generator().manual_seed(3))
    offsets = torch.randint(0, 9, (3, 2), generator=torch.Generator().manual_seed(3))
    for b in range(3):
        expected = crop_at(frames[b : b + 1].reshape(1, 10, 34, 34), offsets[b : b + 1], 4).reshape(1, 5, 2, 34, 34)
        assert torch.equal(out[b : b + 1], expected)


def test_draws_come_from_the_generator_in_the_documented_order():
    x = torch.rand(6, 3, 32, 32)
    out = augment_batch(x, "crop_flip", torch.Generator().manual_seed(7))
    replay = torch.Generator().manual_seed(7)
    offsets = torch.randint(0, 9, (6, 2), generator=replay)
    flips = torch.rand(6, generator=replay) < 0.5
    assert torch.equal(out, flip_where(crop_at(x, offsets, 4), flips))
    assert torch.equal(out, augment_batch(x, "crop_flip", torch.Generator().manual_seed(7)))  # same seed, same batch
    assert not torch.equal(out, augment_batch(x, "crop_flip", torch.Generator().manual_seed(8)))


def test_none_is_identity_and_draws_nothing():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert augment_batch(IMAGE, "none", g) is IMAGE
    assert torch.equal(g.get_state(), state)


def test_crop_flip_refused_where_a_mirror_changes_the_class():
    with pytest.raises(SuiteError, match="crop_flip") as err:
        load_data(DataSpec(dataset="mnist_digits", augment="crop_flip"))
    assert "data.augment: crop" in str(err.value)


def test_crop_flip_allowed_on_cifar10(tmp_path):
    make_cifar10(tmp_path)
    bundle = load_data(DataSpec(dataset="cifar10", root=str(tmp_path), augment="crop_flip"))
    assert bundle.augment == "crop_flip"


class Spy(nn.Module):
    """Records every input; class rates from one trainable scalar, so training steps run."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.zeros(x.shape[1], 10) + self.w


def spy_inputs(augment, split):
    data = DataSpec(dataset="mnist_digits", encoding="direct", T=1, train_subset=8, test_subset=8, augment=augment)
    bundle = load_data(data)
    model = Spy()
    if split == "test":
        evaluate(model, bundle, torch.device("cpu"), seed=0, batch_size=8)
    else:
        spec = TrainSpec(batch_size=8)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        train_epoch(model, bundle, opt, spec, torch.device("cpu"), seed=0, epoch=1, generator=make_generator(0, 1))
    return bundle, model.seen


def test_training_batches_augmented_test_batches_never():
    _, test_plain = spy_inputs("none", "test")
    _, test_aug = spy_inputs("crop", "test")
    assert torch.equal(test_plain[0], test_aug[0])
    bundle, train_plain = spy_inputs("none", "train")
    _, train_aug = spy_inputs("crop", "train")
    # direct coding draws nothing, so the first batch is exactly the crop drawn from the cell's training stream
    expected = augment_batch(train_plain[0][0], "crop", make_generator(0, 1))
    assert torch.equal(train_aug[0][0], expected) and not torch.equal(train_aug[0], train_plain[0])
    _, again = spy_inputs("crop", "train")
    assert torch.equal(again[0], train_aug[0])


def test_split_fractions_recorded():
    digits = split_info(load_data(DataSpec(dataset="mnist_digits")))
    assert digits["test"] == {
        "method": "stratified_fixed",
        "seed": 0,
        "test_fraction": 0.2,
        "n_train": 4000,
        "n_test": 1000,
    }


def test_cifar10_dvs_test_fraction_reaches_provenance(tmp_path):
    pytest.importorskip("aedat")
    make_cifar10_dvs(tmp_path, per_class=10)
    info = split_info(load_data(DataSpec(dataset="cifar10_dvs", root=str(tmp_path), test_fraction=0.1, T=2)))
    assert info["train"]["test_fraction"] == info["test"]["test_fraction"] == 0.1
    assert (info["test"]["n_total"], info["test"]["n_train"], info["test"]["n_test"]) == (100, 90, 10)
