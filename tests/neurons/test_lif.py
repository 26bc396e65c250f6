"""LIF dynamics against spike trains and membrane traces computed by hand."""

import math

import pytest
import torch

from snnbench.neurons import LIF, LIFParameters, create_surrogate, lif_multistep_reference, lif_step, threshold_shape


def run(x, theta, tau=0.5, detach_reset=False):
    p = LIFParameters(tau=tau, surrogate=create_surrogate("arctan", 2.0), detach_reset=detach_reset)
    return lif_multistep_reference(torch.tensor(x).unsqueeze(1), torch.tensor(theta), p, record_membrane=True)


def test_spike_train_and_membrane_by_hand():
    # tau = 0.5, theta = 1, constant input 0.6:
    # u0 = 0.6 ; u1 = 0.3 + 0.6 = 0.9 ; u2 = 0.45 + 0.6 = 1.05 >= 1 -> spike, reset to 0 ; u3 = 0.6 ; u4 = 0.9
    spikes, membrane = run([[0.6], [0.6], [0.6], [0.6], [0.6]], 1.0)
    assert spikes.flatten().tolist() == [0, 0, 1, 0, 0]
    torch.testing.assert_close(membrane.flatten(), torch.tensor([0.6, 0.9, 1.05, 0.6, 0.9]))


def test_spike_exactly_at_threshold_and_hard_reset():
    # inputs 1.0, 0.5, 0.75, 0 with theta = 1:
    # u0 = 1.0 -> spike (H(0) = 1), reset 0 ; u1 = 0 + 0.5 = 0.5 ; u2 = 0.25 + 0.75 = 1.0 -> spike, reset ; u3 = 0
    spikes, membrane = run([[1.0], [0.5], [0.75], [0.0]], 1.0)
    assert spikes.flatten().tolist() == [1, 0, 1, 0]
    torch.testing.assert_close(membrane.flatten(), torch.tensor([1.0, 0.5, 1.0, 0.0]))


def test_per_neuron_thresholds():
    # three neurons, same input 1.0 each step, thresholds 0.5, 1.5, 3.0 (tau 0.5)
    # n0: u=1 spike every step. n1: u0=1, u1=1.5 spike, u2=1, u3=1.5 spike. n2: u -> 1, 1.5, 1.75, 1.875: never.
    x = [[1.0, 1.0, 1.0]] * 4
    spikes, membrane = run(x, [0.5, 1.5, 3.0])
    assert spikes[:, 0].tolist() == [[1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 0]]
    torch.testing.assert_close(membrane[:, 0, 2], torch.tensor([1.0, 1.5, 1.75, 1.875]))


def test_threshold_gradient_equals_surrogate_formula():
    # one step: s = H(x - theta); dL/dtheta for L = s is -g(x - theta), g = (alpha/2) / (1 + (pi/2 alpha (x-theta))^2)
    alpha, x, theta0 = 2.0, 1.3, 2.0
    theta = torch.tensor(theta0, requires_grad=True)
    p = LIFParameters(tau=0.5, surrogate=create_surrogate("arctan", alpha))
    s, _, _ = lif_step(torch.tensor(x), torch.tensor(0.0), theta, p)
    s.backward()
    d = x - theta0
    expected = -(alpha / 2) / (1 + (math.pi / 2 * alpha * d) ** 2)
    assert theta.grad.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("detach_reset", [True, False])
def test_threshold_gradient_through_two_steps(detach_reset):
    # no spikes: u0 = x0, r0 = u0 (1 - s0), u1 = tau r0 + x1, L = s0 + s1, g = surrogate derivative.
    # dL/dtheta = -g0 + g1 (du1/dtheta - 1) with du1/dtheta = tau u0 g0 through the reset (0 if detached).
    alpha, tau, th = 2.0, 0.5, 2.0
    theta = torch.tensor(th, requires_grad=True)
    x0, x1 = 0.4, 0.8
    p = LIFParameters(tau=tau, surrogate=create_surrogate("arctan", alpha), detach_reset=detach_reset)
    spikes, _ = lif_multistep_reference(torch.tensor([[x0], [x1]]), theta, p)
    spikes.sum().backward()
    g = lambda d: (alpha / 2) / (1 + (math.pi / 2 * alpha * d) ** 2)  # noqa: E731
    g0, g1 = g(x0 - th), g(tau * x0 + x1 - th)
    du1 = 0.0 if detach_reset else tau * x0 * g0
    assert theta.grad.item() == pytest.approx(-g0 + g1 * (du1 - 1), rel=1e-6)


@pytest.mark.parametrize("name", ["arctan", "sigmoid", "rectangular", "triangle"])
def test_surrogates_integrate_to_one_and_step_forward(name):
    sur = create_surrogate(name)
    x = torch.linspace(-50, 50, 400_001, dtype=torch.float64)
    area = torch.trapezoid(sur.grad(x), x).item()
    assert area == pytest.approx(1.0, abs=2e-2 if name == "arctan" else 1e-3)  # arctan's tails are heavy
    assert sur.spike(torch.tensor([-0.1, 0.0, 0.1])).tolist() == [0.0, 1.0, 1.0]


def test_threshold_granularity_shapes():
    assert threshold_shape((8, 5, 5), "neuron") == (8, 5, 5)
    assert threshold_shape((8, 5, 5), "channel") == (8, 1, 1)
    assert threshold_shape((8, 5, 5), "layer") == ()
    layer = LIF((8, 5, 5), granularity="channel", theta_init=2.0)
    assert layer.theta.shape == (8, 1, 1) and torch.all(layer.theta == 2.0)
    out = layer(torch.zeros(3, 2, 8, 5, 5))
    assert out.shape == (3, 2, 8, 5, 5)


def test_theta_jitter_heterogeneity_is_seeded():
    torch.manual_seed(0)
    a = LIF((100,), theta_init=2.0, theta_jitter=0.1).theta.detach()
    torch.manual_seed(0)
    b = LIF((100,), theta_init=2.0, theta_jitter=0.1).theta.detach()
    assert torch.equal(a, b) and 0.05 < a.std() < 0.15 and abs(a.mean() - 2.0) < 0.05


def test_unknown_surrogate_has_did_you_mean():
    from snnbench.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean 'arctan'"):
        create_surrogate("arctn")


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_input_bias_adds_to_the_current_every_step(backend):
    # tau = 0.5, theta = 1, no input, b = 0.6 for neuron 0 and 0 for neuron 1:
    # u0 = 0.6 ; u1 = 0.3 + 0.6 = 0.9 ; u2 = 0.45 + 0.6 = 1.05 -> spike, reset ; u3 = 0.6
    lif = LIF((2,), theta_init=1.0, input_bias=True, backend=backend)
    assert tuple(lif.input_bias.shape) == tuple(lif.theta.shape) == (2,)
    assert torch.equal(lif.input_bias, torch.zeros(2))  # starts at zero: the same network as without it
    with torch.no_grad():
        lif.input_bias.copy_(torch.tensor([0.6, 0.0]))
    spikes = lif(torch.zeros(4, 1, 2))
    assert spikes[:, 0].tolist() == [[0, 0], [0, 0], [1, 0], [0, 0]]
    spikes.sum().backward()
    assert lif.input_bias.grad is not None and lif.input_bias.grad[0] != 0


def test_input_bias_has_the_thresholds_shape_and_is_absent_by_default():
    assert tuple(LIF((3, 4, 4), granularity="channel", input_bias=True).input_bias.shape) == (3, 1, 1)
    assert tuple(LIF((3, 4, 4), granularity="layer", input_bias=True).input_bias.shape) == ()
    assert set(dict(LIF((3,)).named_parameters())) == {"theta"}


def test_theta_jitter_is_the_std_in_threshold_units():
    """theta_jitter = 1e-4 (the reference's hete 0.01, which adds 0.01 * N(0, 1) / 100) gives thresholds of std
    1e-4 around theta_init."""
    torch.manual_seed(0)
    theta = LIF((128, 28, 28), theta_init=2.0, theta_jitter=1e-4).theta.detach().double()
    assert theta.numel() == 100352
    assert abs(theta.std().item() - 1e-4) < 2e-6  # 100k samples: the std's standard error is ~2.2e-7
    assert abs(theta.mean().item() - 2.0) < 2e-6
    assert torch.equal(LIF((5,), theta_init=2.0).theta, torch.full((5,), 2.0))
