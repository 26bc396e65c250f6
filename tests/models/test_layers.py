"""Time-first layers."""

from __future__ import annotations

import pytest
import torch

from snnbench.data.registry import DatasetInfo
from snnbench.models import create_model
from snnbench.models.layers import SeqDropout, TimeFold
from snnbench.neurons import LIF
from snnbench.neurons.backends import dispatch, fused
from snnbench.suite import ModelSpec, NeuronSpec


def test_seq_dropout_keeps_one_mask_for_all_steps():
    """Every time step of a sample sees the same dropped units; kept units are scaled by 1 / (1 - p)."""
    torch.manual_seed(0)
    drop = SeqDropout(0.5).train()
    y = drop(torch.ones(4, 64, 100))
    assert torch.equal(y, y[:1].expand_as(y))
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert 0.4 < (y[0] == 0).float().mean().item() < 0.6
    assert torch.equal(drop.eval()(y), y)


@pytest.fixture
def compiled():
    before = dispatch.policy()
    fused.set_compile(True)
    yield
    dispatch.set_policy(before)


def conv_net_with_pool():
    torch.manual_seed(0)
    spec = ModelSpec(name="conv", depth=2, width=4, fc_width=8, population=2, neuron=NeuronSpec(theta_init=0.5))
    model = create_model(spec, DatasetInfo("toy", "static", (1, 8, 8), 3))
    assert any(isinstance(m, TimeFold) and isinstance(m.module, torch.nn.MaxPool2d) for m in model.features)
    return model


def test_spiking_sequential_fuses_lif_and_pool_with_the_same_values(compiled, monkeypatch):
    """With compiled kernels, a LIF layer and its 2x2 max-pool run as one fused op: same outputs, same gradients as
    running the layers one by one."""
    monkeypatch.setattr(fused, "_compiled", {})
    model = conv_net_with_pool()
    x = (torch.rand(4, 3, 1, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    results = []
    for layer_by_layer in (True, False):
        model.zero_grad()
        h = x
        if layer_by_layer:
            for layer in model.features:
                h = layer(h)
            out = model.readout(h)
        else:
            out = model(x)
        out.square().sum().backward()
        results.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    assert any(key[0] == "pool_z" for key in fused._compiled), "the fused LIF + max-pool kernel did not run"
    assert torch.equal(results[0][0], results[1][0])
    assert 0 < results[0][0].sum() < results[0][0].numel()
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, msg=name)


def test_spiking_sequential_keeps_layers_apart_when_a_hook_watches(compiled):
    """A forward hook on the LIF layer (as the energy probes register) sees its full-resolution spikes."""
    model = conv_net_with_pool()
    lif_index = next(i for i, m in enumerate(model.features) if isinstance(m, LIF))
    seen = []
    model.features[lif_index].register_forward_hook(lambda mod, args, out: seen.append(tuple(out.shape)))
    model(torch.rand(4, 3, 1, 8, 8))
    assert seen == [(4, 3, 4, 8, 8)]


def test_conv_family_runs_channels_last():
    """Conv models keep their convolution weights channels-last, so the activations after the first convolution are
    channels-last too."""
    model = conv_net_with_pool()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    first_block = model.features[0]
    out = first_block(torch.rand(4, 3, 1, 8, 8))
    assert out.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)


def test_bf16_precision_runs_conv_and_linear_in_bf16_and_keeps_cell_ids():
    """model.precision: bf16 autocasts the synaptic layers; fp32 (the default) leaves existing cell ids unchanged."""
    from snnbench.suite.expand import cell_id_of
    from snnbench.suite.schema import CellSpec

    torch.manual_seed(0)
    info = DatasetInfo("toy", "static", (1, 8, 8), 3)
    model = create_model(ModelSpec(name="conv", depth=2, width=4, fc_width=8, population=2, precision="bf16"), info)
    dtypes = []
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.register_forward_hook(lambda mod, args, out: dtypes.append(out.dtype))
    rates = model(torch.rand(4, 3, 1, 8, 8))
    assert rates.dtype == torch.float32 and dtypes and set(dtypes) == {torch.bfloat16}
    rates.sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters() if p.requires_grad)

    default, explicit = CellSpec(), CellSpec(model=ModelSpec(precision="fp32"))
    bf16 = CellSpec(model=ModelSpec(precision="bf16"))
    assert cell_id_of(default) == cell_id_of(explicit) != cell_id_of(bf16)


def test_probe_counts_stay_exact_under_bf16_autocast():
    """Counting hooks run with autocast off: column sums above 256 (not exact in bf16) come out exact."""
    from snnbench.measure.probes import attach_probes

    torch.manual_seed(0)
    info = DatasetInfo("toy", "static", (1, 6, 6), 3)
    model = create_model(ModelSpec(name="mlp", depth=1, width=4, population=1, precision="bf16"), info)
    lif = next(m for m in model.modules() if isinstance(m, LIF))
    with torch.no_grad():
        lif.theta.fill_(-1.0)  # every neuron fires at every step: the spike count is known exactly
    T, B = 3, 87  # 261 spikes per neuron: bf16 rounds 261 to 260
    with torch.no_grad(), attach_probes(model.eval(), spiking_input=False) as probes:
        model(torch.rand(T, B, 1, 6, 6))
    counter = next(c for c in probes.lif if c.site.module is lif)
    assert counter.per_neuron.tolist() == [261.0] * 4
    assert torch.tensor(261.0).bfloat16().item() == 260.0  # what an autocast count would have given


def test_fused_lif_pool_path_adds_the_input_bias(monkeypatch):
    """SpikingSequential's LIF + max-pool branch feeds the LIF's input bias to the fused op: the same values as the
    layers one by one, and the bias gets the same gradient."""
    import snnbench.models.layers as layers

    torch.manual_seed(0)
    neuron = NeuronSpec(theta_init=0.5, input_bias=True)
    spec = ModelSpec(name="conv", depth=2, width=4, fc_width=8, population=2, neuron=neuron)
    model = create_model(spec, DatasetInfo("toy", "static", (1, 8, 8), 3))
    lifs = [m for m in model.modules() if isinstance(m, LIF)]
    with torch.no_grad():
        for lif in lifs:
            lif.input_bias.uniform_(-0.3, 0.3)
    calls = []
    real = layers.lif_maxpool2d
    monkeypatch.setattr(layers, "lif_maxpool2d", lambda *a: calls.append(1) or real(*a))
    x = (torch.rand(4, 3, 1, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    results = []
    for fuse in (False, True):
        monkeypatch.setattr(layers, "compile_enabled", lambda device_type, fuse=fuse: fuse)
        model.zero_grad()
        out = model(x)
        out.square().sum().backward()
        results.append((out.detach(), [lif.input_bias.grad.clone() for lif in lifs]))
    assert calls == [1]  # the second conv block's LIF + pool ran fused, once
    assert torch.equal(results[0][0], results[1][0]) and results[0][0].sum() > 0
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b)
    assert any(g.abs().sum() > 0 for g in results[0][1])
