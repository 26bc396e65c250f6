import numpy as np
import pytest

from snnbench.data.events import bin_events, count_bins, frame_shape, time_bins

from .conftest import make_events


def test_time_binning_matches_hand_count():
    # t0 = 0, D = 100 µs, T = 4 -> bin = t * 4 // 100: 0, 0, 0, 1, 1, 3
    events = make_events(x=[0, 1, 2, 3, 3, 4], y=[0, 0, 1, 1, 1, 2], t=[0, 10, 20, 30, 40, 99], p=[1, 0, 1, 1, 1, 0])
    frames = bin_events(events, T=4, sensor_size=(5, 3))
    assert frames.shape == (4, 2, 3, 5) and frames.dtype == np.float32
    assert frames.sum() == 6
    assert frames.sum(axis=(1, 2, 3)).tolist() == [3, 2, 0, 1]
    assert frames[0, 1, 0, 0] == 1 and frames[0, 0, 0, 1] == 1 and frames[0, 1, 1, 2] == 1
    assert frames[1, 1, 1, 3] == 2  # two ON events at the same pixel in bin 1: counts, not clipped
    assert frames[3, 0, 2, 4] == 1
    assert frames[2].sum() == 0


def test_time_bins_are_per_sample_and_shift_invariant():
    t = np.array([1_000, 1_010, 1_050, 1_099])
    assert time_bins(t, 4).tolist() == [0, 0, 2, 3]
    assert time_bins(t + 123_456, 4).tolist() == [0, 0, 2, 3]


def test_count_binning_splits_events_evenly_in_time_order():
    t = np.array([50, 10, 30, 20, 40, 60, 70])  # unsorted on purpose
    bins = count_bins(t, 3)
    # time order 10,20,30,40,50,60,70 -> i*3//7 = 0,0,0,1,1,2,2
    assert bins.tolist() == [1, 0, 0, 0, 1, 2, 2]
    events = make_events(x=[0] * 7, y=[0] * 7, t=t, p=[1] * 7)
    frames = bin_events(events, T=3, sensor_size=(1, 1), binning="count")
    assert frames[:, 1, 0, 0].tolist() == [3, 2, 2]


def test_count_binning_ties_keep_file_order():
    t = np.array([5, 5, 5, 5])
    assert count_bins(t, 2).tolist() == [0, 0, 1, 1]


def test_polarity_channels_accept_bool_and_signed():
    for p in ([True, False], [1, 0], [1, -1]):
        events = np.zeros(2, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<u8"), ("p", type(p[0]))])
        events["p"] = p
        events["t"] = [0, 5]
        frames = bin_events(events, T=1, sensor_size=(1, 1))
        assert frames[0, 1, 0, 0] == 1 and frames[0, 0, 0, 0] == 1  # channel 1 = ON, 0 = OFF


def test_downsample_sums_blocks():
    events = make_events(x=[0, 3, 4, 127], y=[0, 3, 0, 127], t=[0, 1, 2, 3], p=[1, 1, 1, 0])
    frames = bin_events(events, T=1, sensor_size=(128, 128), downsample=4)
    assert frames.shape == (1, 2, 32, 32) == (1, *frame_shape((128, 128), 4))
    assert frames[0, 1, 0, 0] == 2 and frames[0, 1, 0, 1] == 1 and frames[0, 0, 31, 31] == 1


def test_out_of_sensor_events_dropped_and_empty_sample_is_zero():
    events = make_events(x=[0, 5, -1], y=[0, 0, 0], t=[0, 1, 2], p=[1, 1, 1])
    frames = bin_events(events, T=2, sensor_size=(5, 1))
    assert frames.sum() == 1
    empty = bin_events(events[:0], T=3, sensor_size=(5, 1))
    assert empty.shape == (3, 2, 1, 5) and empty.sum() == 0


def test_sensor_size_is_width_then_height():
    events = make_events(x=[9], y=[2], t=[0], p=[1])
    frames = bin_events(events, T=1, sensor_size=(10, 3))
    assert frames.shape == (1, 2, 3, 10) and frames[0, 1, 2, 9] == 1


def test_bad_arguments():
    events = make_events([0], [0], [0], [1])
    with pytest.raises(ValueError, match="binning"):
        bin_events(events, 2, (1, 1), binning="space")
    with pytest.raises(ValueError):
        bin_events(events, 0, (1, 1))
