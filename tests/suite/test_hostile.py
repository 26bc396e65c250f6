"""Hostile and mistaken suites: each gets one SuiteError line naming the file:line (or the -o) and how to fix it."""

import os
import re
import time

import pytest

from snnbench.errors import SuiteError
from snnbench.models.families import CONV_ONLY_KEYS
from snnbench.suite import load_suite
from snnbench.suite.load import MAX_SUITE_FILES
from snnbench.suite.safe_yaml import MAX_DEPTH, MAX_EXPANDED_NODES, MAX_SUITE_BYTES

BASE = "name: t\ndata:\n  dataset: mnist_digits\nmatrix:\n  variant: [stl, sl]\n  depth: [1, 2]\n"


def error_of(path, overrides=()) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(path, list(overrides))
    text = str(info.value)
    assert "\n" not in text
    return text


def billion_laughs(levels: int) -> str:
    text, previous = "name: t\na: &a [x,x,x,x,x,x,x,x,x,x]\n", "a"
    for i in range(1, levels):
        name = chr(ord("a") + i)
        text += f"{name}: &{name} [{','.join([f'*{previous}'] * 10)}]\n"
        previous = name
    return text


# -- the file itself ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"name: t\nx: \xff\xfe\n", r"suite\.yaml:2: not UTF-8 text \(byte 0xff\) \(hint: save the suite as UTF-8"),
        (b"name: t\n\n\x89PNG\r\n\x1a\n\x00\x00", r"suite\.yaml:3: not UTF-8 text \(byte 0x89\)"),
        (b"name: t\nx: a\x00b\n", r"suite\.yaml:2: malformed YAML: unacceptable character #x0000"),
        (b"name: t\ndata: &x {root: *x}\n", r"suite\.yaml:2: recursive alias: an anchored value contains an alias"),
        (b"name: t\nm: &m [1, [2, *m]]\n", r"suite\.yaml:2: recursive alias"),
        (b"name: t\nx: " + b"[" * 5000 + b"]" * 5000 + b"\n", rf"suite\.yaml:2: values nest more than {MAX_DEPTH}"),
        (b"name: t\nx: " + b"{a: " * 5000 + b"1" + b"}" * 5000, rf"suite\.yaml:2: values nest more than {MAX_DEPTH}"),
        (b"name: t\nseed: " + b"9" * 5000 + b"\n", r"suite\.yaml:2: malformed YAML: unreadable value \(Exceeds"),
        (
            b"name: t\nseed: 2026-13-45\n",
            r"suite\.yaml:2: malformed YAML: unreadable value \(month must be in 1..12\)",
        ),
        (b"name: t\ntrain: {epochs: 1\n", r"suite\.yaml:3: malformed YAML: .*\(hint: check the indentation"),
        (b"name: t\n---\nname: u\n", r"suite\.yaml:2: malformed YAML: but found another document"),
    ],
    ids=[
        "utf8",
        "png",
        "nul",
        "recursive-alias",
        "recursive-in-list",
        "deep-list",
        "deep-map",
        "int-5000-digits",
        "bad-date",
        "unclosed",
        "two-documents",
    ],  # fmt: skip
)
def test_malformed_file_is_one_line_with_file_and_line(tmp_path, content, pattern):
    path = tmp_path / "suite.yaml"
    path.write_bytes(content)
    assert re.search(pattern, error_of(path)), error_of(path)


def test_billion_laughs_is_refused_at_once_and_the_limit_is_exact(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(billion_laughs(9))  # 10^9 values from ~380 bytes
    assert len(path.read_bytes()) < 400
    start = time.perf_counter()
    text = error_of(path)
    assert time.perf_counter() - start < 1.0
    assert re.search(rf"suite\.yaml:6: aliases expand the suite to more than {MAX_EXPANDED_NODES} values", text)
    # 4 levels expand to 11 + 111 + 1111 + 11111 values (plus keys): under the limit, so it loads (and fails later)
    path.write_text(billion_laughs(4) + "matrix: {seed: [0]}\n")
    with pytest.raises(SuiteError, match="unknown key 'a'"):  # past the loader, into validation
        load_suite(path)


def test_aliases_within_bounds_still_work(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("name: t\ndata: &d {dataset: mnist_digits, T: 3}\nmatrix:\n  data: [*d, *d]\n")
    suite = load_suite(path)
    assert [c.spec.data.T for c in suite.cells] == [3]  # two equal axis values are one cell


def test_merge_keys_override_without_a_duplicate_key_error(tmp_path):
    path = tmp_path / "suite.yaml"
    merged = "matrix:\n  train:\n    - {<<: *t, lr: 0.2}\n    - {<<: *t, epochs: 2}\n"
    path.write_text("name: t\ntrain: &t {epochs: 1, lr: 0.1}\n" + merged)
    assert [(c.spec.train.epochs, c.spec.train.lr) for c in load_suite(path).cells] == [(1, 0.2), (2, 0.1)]
    path.write_text("name: t\ntrain:\n  epochs: 1\n  lr: 0.1\n  epochs: 2\n")
    assert re.search(r"suite\.yaml:5: duplicate key 'epochs'", error_of(path))


def test_oversized_file_is_refused_before_reading_it_all(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_bytes(b"name: t\n" + b"# padding\n" * (MAX_SUITE_BYTES // 10))
    assert re.search(rf"suite\.yaml: suite file is larger than {MAX_SUITE_BYTES} bytes", error_of(path))


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_special_files_are_refused_without_blocking(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "suite.yaml"
        os.mkfifo(path)  # no writer: a plain open() would block forever
        expected = "not a regular file (a FIFO, socket or device)"
    elif kind == "dev-zero":
        path, expected = "/dev/zero", "not a regular file (a FIFO, socket or device)"
    else:
        path, expected = tmp_path, "not a regular file (a directory)"
    start = time.perf_counter()
    assert f"{path}: {expected} (hint: give the path of a YAML suite file)" == error_of(path)
    assert time.perf_counter() - start < 1.0


def test_including_dev_zero_names_the_included_file(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("include: /dev/zero\nname: t\n")
    assert error_of(path).startswith("/dev/zero: not a regular file")


def test_diamond_includes_are_bounded(tmp_path):
    # each level includes the next twice: 2^20 reads without a bound
    for i in range(20):
        (tmp_path / f"l{i}.yaml").write_text(f"include: [l{i + 1}.yaml, l{i + 1}.yaml]\n" if i < 19 else "seed: 1\n")
    path = tmp_path / "suite.yaml"
    path.write_text("include: l0.yaml\nname: t\n")
    assert re.search(rf"reads more than {MAX_SUITE_FILES} files through its includes", error_of(path))


# -- numbers -----------------------------------------------------------------------------------------------------


def test_exponent_without_dot_is_a_number(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("name: t\ntrain:\n  lr: 1e-3\n  weight_decay: 5E-6\n")
    spec = load_suite(path).cells[0].spec
    assert (spec.train.lr, spec.train.weight_decay) == (0.001, 5e-6)
    assert load_suite(path, ["train.lr=2e-2"]).cells[0].spec.train.lr == 0.02


@pytest.mark.parametrize(
    "line, pattern",
    [
        ("  lr: .inf", r"suite\.yaml:3: 'train\.lr' is inf, must be a finite number \(hint: write a finite number"),
        ("  lr: -.inf", r"suite\.yaml:3: 'train\.lr' is -inf, must be a finite number"),
        ("  lr: .nan", r"suite\.yaml:3: 'train\.lr' is nan, must be a finite number"),
        ("  lr: 1" + "0" * 400, r"suite\.yaml:3: 'train\.lr' is 10{400}, must be a finite number"),
        ("  lr: '1e-3'", r"suite\.yaml:3: 'train\.lr' must be number, got '1e-3' \(hint: write the number without"),
        ("  epochs: '3'", r"suite\.yaml:3: 'train\.epochs' must be integer, got '3' \(hint: write the number without"),
        ("  epochs: 'three'", r"'train\.epochs' must be integer, got 'three'$"),
    ],
)
def test_number_fields_take_finite_unquoted_numbers(tmp_path, line, pattern):
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: t\ntrain:\n{line}\n")
    assert re.search(pattern, error_of(path)), error_of(path)


def test_noise_levels_must_be_finite(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("name: t\nnoise:\n  sweeps:\n    - kind: gaussian\n      levels: [0.1, .nan]\n")
    assert re.search(r"suite\.yaml:5: 'noise\.sweeps\.0\.levels\.1' is nan, must be a finite number", error_of(path))


@pytest.mark.parametrize("seed, ok", [(0, True), (2**32 - 1, True), (2**32, False), (2**63, False), (2**64, False)])
def test_seed_is_bounded_to_numpy_and_torch(tmp_path, seed, ok):
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: t\nseed: {seed}\n")
    if ok:
        assert load_suite(path).cells[0].spec.seed == seed
    else:
        assert error_of(path) == (
            f"{path}:2: 'seed' is {seed}, must be <= 4294967295 (hint: numpy and torch take seeds in [0, 2**32 - 1])"
        )


# -- -o overrides ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, message",
    [
        ("nosuch.key=1", "-o nosuch.key=1: unknown key 'nosuch'"),
        ("model.nosuch=1", "-o model.nosuch=1: unknown key 'model.nosuch'"),
        ("train=5", "-o train=5: cannot set 'train.variant': 'train' is 5, not a mapping"),
        ("train.lr=.inf", "-o train.lr=.inf: 'train.lr' is inf, must be a finite number"),
        ("data=&x {root: *x}", "-o data=&x {root: *x}: recursive alias"),
        ("energy.preset=[a, b]", "-o energy.preset=[a, b]: matrix axis 'energy.preset' is not a cell key"),
    ],
)
def test_override_errors_name_the_override(write_suite, override, message):
    assert error_of(write_suite(BASE), [override]).startswith(message)


def test_list_override_of_a_one_value_key_sweeps_it_like_a_matrix_axis(write_suite):
    path = write_suite(BASE)
    suite = load_suite(path, ["seed=[0, 1]"])  # not an axis in the file: a new, fastest axis
    assert [(c.spec.train.variant, c.spec.model.depth, c.spec.seed) for c in suite.cells][:3] == [
        ("stl", 1, 0),
        ("stl", 1, 1),
        ("stl", 2, 0),
    ]
    assert len(suite.cells) == 8
    assert load_suite(path, ["depth=[3]"]).matrix["depth"] == [3]  # an axis in the file: replaced, as before
    same = load_suite(path, ["matrix.seed=[0, 1]"])
    assert [c.cell_id for c in same.cells] == [c.cell_id for c in suite.cells]
    # a key that takes a list keeps its list value
    conv = load_suite(path, ["model.name=conv", "depth=[2]", "model.channels=[4, 8]"])
    assert [c.spec.model.channels for c in conv.cells] == [(4, 8), (4, 8)]


def test_list_override_leaves_a_malformed_matrix_to_its_error(write_suite):
    path = write_suite("name: t\nmatrix: 5\n")
    assert error_of(path, ["seed=[0, 1]"]) == f"{path}:2: 'matrix' must map keys to lists of values"


def test_empty_list_override_names_the_override(write_suite):
    assert error_of(write_suite(BASE), ["seed=[]"]).startswith("-o seed=[]: matrix axis 'seed' must be a non-empty")


# -- checks across fields ----------------------------------------------------------------------------------------

CONV_VALUES = {"channels": "[8]", "pool_every": "1", "fc_width": "16", "kernel_size": "5", "conv_bias": "true",
               "bn_mode": "per_step"}  # fmt: skip


@pytest.mark.parametrize("key", CONV_ONLY_KEYS)
def test_conv_only_keys_on_an_mlp_are_refused(write_suite, key):
    path = write_suite(f"name: t\nmodel:\n  name: mlp\n  depth: 1\n  {key}: {CONV_VALUES[key]}\n")
    text = error_of(path)
    assert re.match(rf".*suite\.yaml:5: 'model\.{key}' is .* but model 'mlp' has no use for it", text), text
    assert text.endswith(f"(hint: remove model.{key}, or choose a model that reads it: conv, paper_mnist, stl_mnist)")
    assert error_of(write_suite(BASE), [f"model.{key}={CONV_VALUES[key]}"]).startswith(f"-o model.{key}=")


def test_conv_only_keys_at_their_default_or_on_a_conv_model_are_fine(write_suite):
    assert load_suite(write_suite("name: t\nmodel:\n  channels: null\n  bn_mode: null\n")).cells
    text = "name: t\nmodel:\n  name: conv\n  depth: 1\n" + "".join(f"  {k}: {v}\n" for k, v in CONV_VALUES.items())
    assert load_suite(write_suite(text)).cells[0].spec.model.channels == (8,)


def test_channels_need_one_entry_per_conv_layer(write_suite):
    path = write_suite("name: t\nmodel:\n  name: conv\n  channels: [8, 16]\nmatrix:\n  depth: [2, 3]\n")
    assert error_of(path) == (
        f"{path}:4: 'model.channels' has 2 entries but model.depth is 3 "
        "(hint: give one channel count per conv layer, or set model.width instead)"
    )


def test_lif_backend_is_checked_against_the_registry(write_suite):
    path = write_suite("name: t\nmodel:\n  neuron:\n    backend: bogus\n")
    pattern = r".*suite\.yaml:4: 'model\.neuron\.backend' is 'bogus', not one of .*valid: auto, .*reference"
    assert re.match(pattern, error_of(path))
    assert load_suite(write_suite("name: t\nmodel:\n  neuron:\n    backend: reference\n")).cells


# -- the command line: exit code 2, one line, no traceback -------------------------------------------------------


@pytest.mark.parametrize(
    "content, args, expected",
    [
        (b"name: t\nx: \xff\n", (), ":2: not UTF-8 text (byte 0xff)"),
        (billion_laughs(9).encode(), (), ":6: aliases expand the suite to more than"),
        (BASE.encode(), ("-o", "nosuch.key=1"), "error: -o nosuch.key=1: unknown key 'nosuch'"),
    ],
    ids=["binary", "billion-laughs", "override"],
)
def test_cli_prints_one_line_and_exits_2(cli, tmp_path, content, args, expected):
    path = tmp_path / "suite.yaml"
    path.write_bytes(content)
    result = cli("validate", str(path), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
