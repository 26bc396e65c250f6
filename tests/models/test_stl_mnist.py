"""``stl_mnist`` is the reference code's latest MNIST network, step for step.

The proof: a plain re-typed transliteration of the reference forward pass (batch-first ``[B, T, ...]`` tensors,
a Python loop over time in every per-step layer, plain torch only) starts from snnbench's initial weights and
thresholds, sees the same input spikes and the same dropout masks, and must give the same outputs, the same loss,
the same BatchNorm running statistics and the same parameters after three Adam steps (lr 1e-3, weight decay 1e-6
on every parameter, thresholds included).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from snnbench.data import dataset_info
from snnbench.models import SeqDropout, StepBatchNorm2d, TimeFold, create_model
from snnbench.models.layers import _fusable
from snnbench.neurons import LIF
from snnbench.suite import ModelSpec, NeuronSpec, TrainSpec
from snnbench.train import apply_variant, build_optimizer
from snnbench.train.loss import loss_fn

B, T, P, CLASSES = 3, 4, 10, 10
TAU, ALPHA, DROP = 0.5, 2.0, 0.5


# -- the transliteration (batch-first, as in the reference code) ----------------------------------------------------
class ArctanSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return (ALPHA / 2) / (1 + ((ALPHA * math.pi / 2) * x).square()) * grad


def ref_lif(x, theta):
    mem, out = 0, []
    for t in range(x.shape[1]):
        mem = mem * TAU + x[:, t]
        spike = ArctanSpike.apply(mem - theta)
        mem = (1 - spike) * mem
        out.append(spike)
    return torch.stack(out, dim=1)


def ref_conv(x, weight):
    b, t = x.shape[:2]
    y = F.conv2d(x.flatten(0, 1), weight, None, 1, weight.shape[-1] // 2)
    return y.view(b, t, *y.shape[1:])


def ref_bn(x, p, name):
    """One BatchNorm called on each step's tensor: running statistics updated once per step, momentum 0.1."""
    steps = [
        F.batch_norm(x[:, t], p[f"{name}.mean"], p[f"{name}.var"], p[f"{name}.weight"], p[f"{name}.bias"], True, 0.1)
        for t in range(x.shape[1])
    ]
    return torch.stack(steps, dim=1)


def ref_pool(x, size):
    b, t = x.shape[:2]
    y = F.adaptive_max_pool2d(x.flatten(0, 1), size)
    return y.view(b, t, *y.shape[1:])


def ref_dropout(x, masks):
    """``masks``: ``[T, B, N]`` keep masks, one fresh mask per step."""
    return torch.stack([x[:, t] * masks[t].to(x.dtype) / (1 - DROP) for t in range(x.shape[1])], dim=1)


def ref_linear(x, weight):
    b, t = x.shape[:2]
    return F.linear(x.flatten(0, 1), weight).view(b, t, -1)


def ref_forward(p, spikes, masks):
    x = ref_pool(ref_lif(ref_bn(ref_conv(spikes, p["conv1"]), p, "bn1"), p["theta1"]), 14)
    x = ref_pool(ref_lif(ref_bn(ref_conv(x, p["conv2"]), p, "bn2"), p["theta2"]), 7)
    x = x.reshape(x.shape[0], x.shape[1], -1)
    x = ref_lif(ref_linear(ref_dropout(x, masks[0]), p["fc1"]), p["theta3"])
    x = ref_lif(ref_linear(ref_dropout(x, masks[1]), p["fc2"]), p["theta4"])
    return F.avg_pool1d(x, P, P).mean(1)


# -- snnbench's side ----------------------------------------------------------------------------------------------
def build(dtype=torch.float64, theta_init=2.0):
    torch.manual_seed(0)
    neuron = NeuronSpec(theta_init=theta_init, theta_jitter=1e-4)
    spec = ModelSpec(name="stl_mnist", dropout=DROP, population=P, neuron=neuron)
    return create_model(spec, dataset_info("mnist_digits")).to(dtype)


def copy_init(model) -> dict[str, torch.Tensor]:
    """snnbench's initial parameters and BatchNorm buffers under the transliteration's names."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    bns = [m for m in model.modules() if isinstance(m, StepBatchNorm2d)]
    lifs = [m for m in model.modules() if isinstance(m, LIF)]
    p = {"conv1": convs[0].weight, "conv2": convs[1].weight, "fc1": fcs[0].weight, "fc2": fcs[1].weight}
    for i, bn in enumerate(bns, 1):
        p |= {f"bn{i}.weight": bn.weight, f"bn{i}.bias": bn.bias, f"bn{i}.mean": bn.running_mean}
        p[f"bn{i}.var"] = bn.running_var
    p |= {f"theta{i}": lif.theta for i, lif in enumerate(lifs, 1)}
    return {k: v.detach().clone().contiguous().requires_grad_(v.requires_grad) for k, v in p.items()}


def inject_masks(model, masks_per_step):
    """Make the two dropout layers return the given keep masks (``[T, B, N]``), one pair per training step."""
    drops = [m for m in model.modules() if isinstance(m, SeqDropout)]
    assert len(drops) == 2
    queue = iter(masks_per_step)
    current: list = []

    def mask_for(index):
        def keep_mask(x_seq):
            if index == 0:
                current[:] = next(queue)
            return current[index].reshape(x_seq.shape)  # [T, B, 6272] -> [T, B, 128, 7, 7] before the flatten

        return keep_mask

    for i, drop in enumerate(drops):
        drop.keep_mask = mask_for(i)


def test_stl_mnist_builds_the_reference_layers():
    """Two 5x5 bias-free convs (padding 2) each followed by a per-step BatchNorm, LIF and 2x2 max-pool; a
    per-step dropout on the spikes entering each of the two bias-free fc layers (none after the first block);
    per-neuron thresholds of the reference shapes."""
    model = build(torch.float32)
    kinds = []
    for m in model.features:
        inner = m.module if isinstance(m, TimeFold) else m
        inner = inner[0] if isinstance(inner, torch.nn.Sequential) else inner
        kinds.append(type(inner).__name__)
    assert kinds == [
        "Conv2d", "StepBatchNorm2d", "LIF", "MaxPool2d", "Identity",
        "Conv2d", "StepBatchNorm2d", "LIF", "MaxPool2d", "SeqDropout",
        "Flatten", "Linear", "LIF", "SeqDropout", "Linear", "LIF",
    ]  # fmt: skip
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(c.weight.shape) for c in convs] == [(128, 1, 5, 5), (128, 128, 5, 5)]
    assert all(c.padding == (2, 2) and c.bias is None for c in convs)
    assert [tuple(f.weight.shape) for f in fcs] == [(2048, 6272), (100, 2048)] and all(f.bias is None for f in fcs)
    drops = [m for m in model.modules() if isinstance(m, SeqDropout)]
    assert [(d.p, d.mask) for d in drops] == [(0.5, "per_step")] * 2
    thetas = [tuple(m.theta.shape) for m in model.modules() if isinstance(m, LIF)]
    assert thetas == [(128, 28, 28), (128, 14, 14), (2048,), (100,)]
    f = model.features  # each conv block's LIF and max-pool stay adjacent: the fused LIF + pool kernels apply
    assert [i for i in range(len(f) - 1) if _fusable(f[i], f[i + 1])] == [2, 7]


def test_stl_mnist_earlier_version_has_3x3_kernels_and_no_batchnorm():
    torch.manual_seed(0)
    spec = ModelSpec(name="stl_mnist", kernel_size=3, batch_norm=False)
    model = create_model(spec, dataset_info("mnist_digits"))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.padding, c.bias) for c in convs] == [((3, 3), (1, 1), None)] * 2
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert not any(isinstance(m, SeqDropout) for m in model.modules())  # model.dropout defaults to 0


# float64: the two computations agree to rounding (1e-9) through three Adam steps, both at the reference's threshold
# (2.0, where the fc layers are still silent at init and learn through the surrogate alone) and at 0.5 (every layer
# spikes). float32 at 0.5: spike for spike the same outputs, and parameters within a tenth of three Adam steps
# (3 lr), except a handful of weights (at most 1 in 10,000; which ones depends on the thread count's summation
# order) whose Adam update flipped sign on a rounding-sized gradient: those stay within the three steps (3 lr).
# At 2.0 fp32 is not compared after Adam: the conv weights' gradients are then rounding-sized sums of cancelling
# terms, and Adam's update (about +-lr whatever the gradient's size) turns their rounding into whole steps.
CASES = [(torch.float64, 2.0, 1e-9), (torch.float64, 0.5, 1e-9), (torch.float32, 0.5, 3e-4)]


@pytest.mark.slow
@pytest.mark.parametrize(("dtype", "theta_init", "param_atol"), CASES, ids=["fp64-theta2", "fp64-theta0.5", "fp32"])
def test_stl_mnist_matches_a_transliteration_of_the_reference_for_three_adam_steps(dtype, theta_init, param_atol):
    model = build(dtype, theta_init)
    ref = copy_init(model)
    init = {k: v.detach().clone() for k, v in ref.items()}
    g = torch.Generator().manual_seed(1)
    images = torch.rand(3, B, 1, 28, 28, generator=g, dtype=dtype)  # one batch of pixel intensities per step
    labels = torch.randint(0, CLASSES, (3, B), generator=g)
    spikes = (images.unsqueeze(2) >= torch.rand(3, B, T, 1, 28, 28, generator=g, dtype=dtype)).to(dtype)  # Bernoulli
    masks = [[torch.rand(T, B, n, generator=g) >= DROP for n in (6272, 2048)] for _ in range(3)]
    inject_masks(model, masks)

    optimizer = build_optimizer(apply_variant(model, "stl"), TrainSpec())
    assert [(grp["lr"], grp["weight_decay"]) for grp in optimizer.param_groups] == [(1e-3, 1e-6)] * 3
    ref_params = [v for v in ref.values() if v.requires_grad]
    assert len(ref_params) == len(list(model.parameters())) == 12
    ref_opt = torch.optim.Adam(ref_params, lr=1e-3, weight_decay=1e-6, betas=(0.9, 0.999), eps=1e-8)

    model.train()
    spiking_outputs = 0.0
    for step in range(3):
        rates = model(spikes[step].transpose(0, 1))  # snnbench is time-first
        loss = loss_fn(rates, labels[step], "mse")
        ref_rates = ref_forward(ref, spikes[step], masks[step])
        ref_loss = F.mse_loss(ref_rates, F.one_hot(labels[step], CLASSES).to(dtype))
        # a rate is a spike count / (T P): one spike more or less moves it by 1/40, far beyond this tolerance
        torch.testing.assert_close(rates, ref_rates, rtol=0, atol=1e-6)
        torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-9)
        spiking_outputs += float(rates.detach().sum())
        for opt, value in ((optimizer, loss), (ref_opt, ref_loss)):
            opt.zero_grad()
            value.backward()
            opt.step()
    assert (spiking_outputs > 0) == (theta_init < 1)  # at 2.0 the output layer stays silent for three steps

    after = copy_init(model)
    for name, value in ref.items():
        diff = (after[name].detach() - value.detach()).abs()
        if dtype == torch.float64:
            torch.testing.assert_close(after[name], value.detach(), rtol=0, atol=param_atol, msg=name)
        else:
            assert float(diff.max()) <= 3 * 1e-3 * 1.01, f"{name}: {float(diff.max())} beyond three Adam steps"
            assert int((diff > param_atol).sum()) <= max(1, diff.numel() // 10_000), (
                f"{name}: {diff.gt(param_atol).sum()}"
            )
        assert not torch.equal(after[name], init[name]), f"{name} did not move"
    # BatchNorm running statistics moved T = 4 times per step: var <- 0.9 var + 0.1 s2, twelve times from 1
    assert after["bn1.var"].sub(1).abs().max() > 0.1
