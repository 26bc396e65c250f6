"""The long frames of the results store and the unchanged per-cell frame."""

import pandas as pd
import pytest

from snnbench.results import CELL_COLUMNS, cells_frame, history_frame
from snnbench.results.frame import (
    KEY_COLUMNS,
    epoch_firing_frame,
    layers_frame,
    noise_frame,
    power_frame,
    thresholds_frame,
)
from tests.stores import ACC_D1, NOISE_LEVELS, write_cell


def test_cells_frame_keeps_its_columns_and_adds_metrics(store):
    cells = cells_frame(store)
    assert list(cells.columns[: len(CELL_COLUMNS)]) == CELL_COLUMNS
    assert len(cells) == 18
    assert cells["status"].value_counts().to_dict() == {"done": 16, "failed": 1, "unfinished": 1}
    assert "traceback" not in cells.columns  # multi-line, stays in metrics.json
    assert {"est_energy_uj_per_sample", "gpu_j_per_infer_sample", "power_reason"} <= set(cells.columns)
    failed = cells[cells["status"] == "failed"].iloc[0]
    assert failed["error"].startswith("RuntimeError: CUDA out of memory") and pd.isna(failed["test_acc"])
    stl = cells[(cells.dataset == "mnist_digits") & (cells.variant == "stl") & (cells.depth == 1)]
    assert sorted(stl["test_acc"]) == ACC_D1["stl"]


def test_other_matrix_axes_become_dotted_columns(tmp_path):
    write_cell(tmp_path, "s", "d", "mlp", 1, "stl", 0, test_acc=0.5, axes={"model.neuron.tau": 0.25, "data.T": 4})
    cells = cells_frame(tmp_path)
    assert cells.loc[0, "model.neuron.tau"] == 0.25
    assert "data.T" not in cells.columns and cells.loc[0, "T"] == 4  # already a column


def test_layers_noise_thresholds_power_frames(store):
    layers = layers_frame(store)
    assert list(layers.columns[: len(KEY_COLUMNS)]) == KEY_COLUMNS and layers.columns[-1] == "path"
    lif = layers[(layers.layer == "lif2") & (layers.variant == "sl")]
    assert len(lif) == 1 and lif["firing_rate"].item() == pytest.approx(0.4) and lif["kind"].item() == "lif"
    assert layers[layers.layer == "fc1"]["firing_rate"].isna().all()  # missing keys are NaN

    noise = noise_frame(store)
    assert {"noise_kind", "noise_level", "test_acc", "test_loss", "test_samples"} <= set(noise.columns)
    # 9 depth-1 cells + 2 depth-2 cells; gaussian, bitflip per_step=true and =false; 3 levels each
    assert len(noise) == 11 * 3 * len(NOISE_LEVELS)
    assert set(noise["noise_params"]) == {"{}", '{"per_step":true}', '{"per_step":false}'}

    th = thresholds_frame(store)
    one = th[th["path"] == th["path"].iloc[0]]
    assert sorted(one["epoch"].unique()) == [0, 1, 2]  # init + 2 epochs
    assert set(th.columns) >= {"epoch", "layer", "mean", "std", "min", "max", "drift"}
    assert th.loc[th["epoch"] == 0, "drift"].isna().all()  # not in thresholds_init.json

    rates = epoch_firing_frame(store)
    assert rates["firing_rate"].max() == pytest.approx(0.2)

    power = power_frame(store)
    assert power["cell_id"].nunique() == 2 and len(power) == 60
    assert {"t_s", "power_w", "gpu_util_pct"} <= set(power.columns)


def test_history_frame_unchanged(store):
    history = history_frame(store)
    assert {"suite", "cell_id", "dataset", "model", "depth", "variant", "seed", "epoch", "test_acc"} <= set(history)
    assert "thresholds" not in history.columns and "status" not in history.columns


def test_empty_root_gives_empty_frames_with_columns(tmp_path):
    assert list(cells_frame(tmp_path).columns) == CELL_COLUMNS
    for frame, column in ((layers_frame, "firing_rate"), (noise_frame, "noise_level"), (power_frame, "power_w")):
        result = frame(tmp_path)
        assert result.empty and column in result.columns


def test_corrupt_json_marks_its_cell_damaged_and_hides_no_other(tmp_path):
    path = write_cell(tmp_path, "s", "d", "mlp", 1, "stl", 0, test_acc=0.5, noise=[])
    write_cell(tmp_path, "s", "d", "mlp", 1, "sl", 0, test_acc=0.4, noise=[])
    (path / "noise.json").write_text("[{")
    assert noise_frame(tmp_path).empty
    cells = cells_frame(tmp_path).set_index("variant")
    assert cells.loc["stl", "status"] == "damaged" and cells.loc["sl", "status"] == "done"
    assert cells.loc["stl", "error"].startswith(f"{path / 'noise.json'} is damaged: not valid JSON")
