"""Suite loading, strict validation with file:line errors, includes, matrix expansion and cell ids."""

import pytest

from snnbench.errors import SuiteError
from snnbench.suite import cell_id_of, load_suite

BASE = """
name: t
data:
  dataset: mnist_digits
  T: 4
train:
  epochs: 2
matrix:
  variant: [stl, sl, tl]
  depth: [1, 2]
  seed: [0, 1]
"""


def test_matrix_expands_in_order_with_last_axis_fastest(write_suite):
    suite = load_suite(write_suite(BASE))
    assert len(suite.cells) == 12
    combos = [(c.spec.train.variant, c.spec.model.depth, c.spec.seed) for c in suite.cells]
    assert combos[:4] == [("stl", 1, 0), ("stl", 1, 1), ("stl", 2, 0), ("stl", 2, 1)]
    assert combos[-1] == ("tl", 2, 1)
    assert len({c.cell_id for c in suite.cells}) == 12
    assert suite.cells[0].axes == {"train.variant": "stl", "model.depth": 1, "seed": 0}


def test_cell_id_is_stable_and_depends_only_on_training_config(write_suite):
    a = load_suite(write_suite(BASE))
    b = load_suite(write_suite(BASE.replace("name: t", "name: other\ndescription: renamed"), "b.yaml"))
    assert [c.cell_id for c in a.cells] == [c.cell_id for c in b.cells]
    # frozen value: a change in hashing would silently orphan every stored result
    assert cell_id_of(a.cells[0].spec) == a.cells[0].cell_id and len(a.cells[0].cell_id) == 12
    c = load_suite(write_suite(BASE.replace("epochs: 2", "epochs: 3"), "c.yaml"))
    assert not {x.cell_id for x in a.cells} & {x.cell_id for x in c.cells}


def test_cell_id_frozen_value():
    from snnbench.suite import CellSpec

    assert cell_id_of(CellSpec()) == cell_id_of(CellSpec())
    assert cell_id_of(CellSpec()) == "b91a67e87a07", (
        "the default spec hashes differently: stored results of every suite will retrain; if intended, update this"
    )


def test_overrides_replace_axes_and_set_keys(write_suite):
    suite = load_suite(write_suite(BASE), ["seed=0", "train.epochs=1", "depth=[3]"])
    assert len(suite.cells) == 3  # 3 variants; seed axis removed by a scalar; depth axis set to one value
    assert {c.spec.train.epochs for c in suite.cells} == {1}
    assert {c.spec.model.depth for c in suite.cells} == {3}


def test_includes_merge_and_own_keys_win(write_suite):
    write_suite("data:\n  dataset: sklearn_digits\n  T: 6\ntrain:\n  epochs: 5\n", "base.yaml")
    suite = load_suite(write_suite("include: base.yaml\nname: inc\ntrain:\n  epochs: 1\n"))
    spec = suite.cells[0].spec
    assert (spec.data.dataset, spec.data.T, spec.train.epochs) == ("sklearn_digits", 6, 1)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("name: t\ntrain:\n  epoch: 2\n", r"suite.yaml:3: unknown key 'train.epoch' \(hint: did you mean 'epochs'\?"),
        ("name: t\ntrain:\n  epochs: -1\n", r"suite.yaml:3: 'train.epochs' is -1, must be >= 1"),
        ("name: t\ndata:\n  T: 0\n", r"suite.yaml:3: 'data.T' is 0, must be >= 1"),
        ("name: t\ntrain:\n  epochs: two\n", r"suite.yaml:3: 'train.epochs' must be integer"),
        ("name: t\ntrain:\n  variant: stll\n", r"suite.yaml:3: 'train.variant' is 'stll'.*did you mean 'stl'"),
        ("name: t\ndata:\n  dataset: mnits\n", r"'data.dataset' is 'mnits'.*valid:"),
        ("name: t\nmodel:\n  neuron:\n    surogate: arctan\n", r"suite.yaml:4: unknown key 'model.neuron.surogate'"),
        ("name: t\nmatrix:\n  depth: []\n", r"suite.yaml:3: matrix axis 'depth' must be a non-empty list"),
        ("name: t\nmatrix:\n  variant: [stl, xl]\n", r"suite.yaml:3: 'train.variant' is 'xl'"),
        ("name: t\nmatrix:\n  colour: [1]\n", r"matrix axis 'colour' is not a cell key"),
        ("name: t\ntrain: [1, 2]\n", r"suite.yaml:2: 'train' must be a mapping"),
        ("name: t\ntrain:\n  epochs: 1\n  epochs: 2\n", r"suite.yaml:4: duplicate key 'epochs'"),
        ("name: t\ntrain:\n  epochs: [1\n", r"suite.yaml:\d+: malformed YAML"),
        ("train:\n  epochs: 1\n", r"missing required key 'name'"),
        ("name: a b\n", r"'name' is 'a b'"),
        ("- 1\n- 2\n", r"a suite must be a YAML mapping"),
        ("name: t\ninclude: nothere.yaml\n", r"suite.yaml:2: included file 'nothere.yaml' not found"),
        ("name: t\nmodel:\n  neuron:\n    tau: 1.5\n", r"suite.yaml:4: 'model.neuron.tau' is 1.5, must be <= 1.0"),
        ("name: t\ntrain:\n  deterministic: 1\n", r"'train.deterministic' must be true/false"),
    ],
)
def test_malformed_suites_give_one_line_errors(write_suite, text, pattern):
    with pytest.raises(SuiteError, match=pattern) as info:
        load_suite(write_suite(text))
    assert "\n" not in str(info.value)


def test_include_cycle_is_detected(write_suite):
    write_suite("include: b.yaml\nname: a\n", "a.yaml")
    write_suite("include: a.yaml\n", "b.yaml")
    with pytest.raises(SuiteError, match="include cycle"):
        load_suite(write_suite("include: a.yaml\nname: c\n", "c.yaml"))


def test_bad_override_names_the_option(write_suite):
    with pytest.raises(SuiteError, match=r"unknown key 'train.epoch'.*did you mean 'epochs'"):
        load_suite(write_suite(BASE), ["train.epoch=1"])
    with pytest.raises(SuiteError, match=r"-o train.epochs=0: 'train.epochs' is 0"):
        load_suite(write_suite(BASE), ["train.epochs=0"])
    with pytest.raises(SuiteError, match="is not key=value"):
        load_suite(write_suite(BASE), ["epochs"])


def test_slurm_section_is_validated_and_outside_the_cell_id(write_suite):
    base = load_suite(write_suite(BASE))
    text = (
        BASE + "slurm:\n  partition: gpu\n  time_min: 240\n  sbatch: {account: proj}\n  setup: ['module load cuda']\n"
    )
    suite = load_suite(write_suite(text, "slurm.yaml"))
    slurm = suite.cells[0].spec.slurm
    assert (slurm.partition, slurm.time_min, slurm.gpus_per_job, slurm.sbatch, slurm.setup) == (
        "gpu",
        240,
        1,
        {"account": "proj"},
        ("module load cuda",),
    )
    assert [c.cell_id for c in suite.cells] == [c.cell_id for c in base.cells]
    with pytest.raises(SuiteError, match=r"unknown key 'slurm.partiton'.*did you mean 'partition'"):
        load_suite(write_suite(BASE + "slurm:\n  partiton: gpu\n", "bad.yaml"))


GROUPS = """
name: g
data: {dataset: mnist_digits, T: 4}
model: {name: conv}
matrix:
  setup:
    - {dataset: mnist_digits, data.T: 2, model.channels: [8, 16], model.depth: 2}
    - {dataset: dvs_digits, data.T: 6}
  variant: [stl, sl]
"""


def test_group_axis_sets_its_keys_together(write_suite):
    suite = load_suite(write_suite(GROUPS))
    got = [(c.spec.data.dataset, c.spec.data.T, c.spec.model.channels, c.spec.train.variant) for c in suite.cells]
    assert got == [
        ("mnist_digits", 2, (8, 16), "stl"),
        ("mnist_digits", 2, (8, 16), "sl"),
        ("dvs_digits", 6, None, "stl"),
        ("dvs_digits", 6, None, "sl"),
    ]
    assert suite.cells[0].axes == {
        "data.dataset": "mnist_digits",
        "data.T": 2,
        "model.channels": [8, 16],
        "model.depth": 2,
        "train.variant": "stl",
    }
    # a key some group sets is recorded in every cell, resolved where the cell's group leaves it out
    assert (suite.cells[2].axes["model.channels"], suite.cells[2].axes["model.depth"]) == (None, 2)


def test_override_of_a_grouped_key_wins_in_every_cell(write_suite):
    suite = load_suite(write_suite(GROUPS), ["T=3", "variant=stl"])
    assert [(c.spec.data.dataset, c.spec.data.T) for c in suite.cells] == [("mnist_digits", 3), ("dvs_digits", 3)]
    one = load_suite(write_suite(GROUPS), ["matrix.setup=[{dataset: dvs_digits}]"])
    assert {(c.spec.data.dataset, c.spec.data.T) for c in one.cells} == {("dvs_digits", 4)}


@pytest.mark.parametrize(
    ("matrix", "pattern"),
    [
        ("  setup: [1, 2]", r"matrix axis 'setup' is not a cell key .*group axis"),
        ("  setup: [{bogus.key: 1}]", r"group axis 'setup' sets 'bogus.key', which is not a cell key"),
        ("  setup: [{data.T: 0}]", r"'data.T' is 0, must be >= 1"),
    ],
)
def test_bad_group_axes_are_one_line_errors(write_suite, matrix, pattern):
    with pytest.raises(SuiteError, match=pattern):
        load_suite(write_suite(f"name: b\nmatrix:\n{matrix}\n"))
