"""The --noise option of snnbench eval: KIND=L1,L2[:param=value] into a validated sweep."""

from __future__ import annotations

import pytest
import torch

from snnbench.cli.eval import parse_noise_option, parse_noise_options
from snnbench.errors import SuiteError
from snnbench.models import create_model
from snnbench.suite.schema import ModelSpec, NeuronSpec

CPU = torch.device("cpu")


def test_parse_noise_option():
    s = parse_noise_option("gaussian=0,0.1,0.25:clip=false")
    assert (s.kind, s.levels, s.params) == ("gaussian", (0.0, 0.1, 0.25), {"clip": False})
    spec = parse_noise_options(["event_drop=0,0.5", "event_background=0,100"])
    assert [w.kind for w in spec.sweeps] == ["event_drop", "event_background"]
    with pytest.raises(SuiteError, match="did you mean 'gaussian'"):
        parse_noise_option("gausian=0.1")
    with pytest.raises(SuiteError, match=">= 0"):
        parse_noise_option("gaussian=0,-0.1")
    with pytest.raises(SuiteError, match="KIND=L1,L2"):
        parse_noise_option("gaussian")
    with pytest.raises(SuiteError, match="did you mean 'clip'"):
        parse_noise_option("gaussian=0.1:clp=false")
    with pytest.raises(SuiteError, match="<= 1"):
        parse_noise_option("event_drop=2")


# ---------------------------------------------------------------- evaluate_noise


def _model(info, width=16):
    torch.manual_seed(0)
    return create_model(ModelSpec(width=width, depth=1, neuron=NeuronSpec(backend="reference", theta_init=0.2)), info)
