"""Peer-library LIF layers configured as close as possible to snnbench's LIF, all time-first ``[T, B, *features]``.

snnbench LIF: ``u = 0.5 u + I``, spike ``H(u - theta)`` with an arctan surrogate (alpha 2), hard reset to 0,
learnable per-neuron threshold.

* snnTorch ``snn.Leaky(beta=0.5, threshold=<per-neuron tensor>, learn_threshold=True, reset_mechanism="zero")``
  stepped in a Python loop (snnTorch has no multi-step mode). Differences it keeps: the reset is detached and
  applied one step late (its ``reset_delay=True`` default).
* SpikingJelly ``LIFNode(tau=2, decay_input=False, v_reset=0, ATan(alpha=2), step_mode="m")``: charge
  ``v = v - v / tau + x = 0.5 v + x``; its threshold is a fixed scalar (not learnable). On CUDA it picks its own
  fused Triton kernel by itself, its fastest configuration.
* SpikingJelly learnable threshold: a node on SpikingJelly's ``BaseNode`` with a per-neuron ``nn.Parameter``
  threshold, using SpikingJelly's own charge / ``ATan`` surrogate / hard reset per step.

Both peers are optional (``pip install snnbench[bench]``); :func:`available_peers` reports which import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn


def versions() -> dict[str, str]:
    out = {}
    for name in ("snntorch", "spikingjelly"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:  # not installed
            pass
    return out


def available_peers() -> list[str]:
    return sorted(versions())


THETA_INIT = 2.0  # the suites' threshold init (neuron.theta_init)


class SnnTorchLIF(nn.Module):
    """``snn.Leaky`` stepped over time in Python; input/output ``[T, B, *features]``."""

    def __init__(self, feature_shape: Sequence[int], theta_init: float = THETA_INIT, tau: float = 0.5) -> None:
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.leaky = snn.Leaky(
            beta=tau,
            threshold=torch.full(tuple(feature_shape), float(theta_init)),
            learn_threshold=True,
            reset_mechanism="zero",
            spike_grad=surrogate.atan(alpha=2.0),
        )

    def forward(self, x_seq: Tensor) -> Tensor:
        mem = self.leaky.reset_mem()
        spikes = []
        for x in x_seq:
            spk, mem = self.leaky(x, mem)
            spikes.append(spk)
        return torch.stack(spikes)


def spikingjelly_lif(feature_shape: Sequence[int], theta_init: float = THETA_INIT, tau: float = 0.5) -> nn.Module:
    """SpikingJelly's own multi-step ``LIFNode`` (scalar, fixed threshold)."""
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(
        tau=1.0 / (1.0 - tau),  # v - v / tau_sj + x == tau * v + x
        decay_input=False,
        v_threshold=float(theta_init),
        v_reset=0.0,
        surrogate_function=surrogate.ATan(alpha=2.0),
        detach_reset=False,
        step_mode="m",
    )


def spikingjelly_learnable_lif(
    feature_shape: Sequence[int], theta_init: float = THETA_INIT, tau: float = 0.5
) -> nn.Module:
    """A LIF node with a learnable per-neuron threshold built on SpikingJelly's ``BaseNode``."""
    from spikingjelly.activation_based import surrogate
    from spikingjelly.activation_based.neuron import BaseNode

    class LearnableThresholdLIFNode(BaseNode):
        def __init__(self) -> None:
            super().__init__(
                v_threshold=float(theta_init),
                v_reset=0.0,
                surrogate_function=surrogate.ATan(alpha=2.0),
                detach_reset=False,
                step_mode="m",
            )
            self.decay = float(tau)
            self.v_threshold = nn.Parameter(torch.full(tuple(feature_shape), float(theta_init)))

        def single_step_functional_forward(self, inputs, states, **kwargs):
            x, v = inputs[0], states[0]
            v = self.decay * v + x
            spike = self.surrogate_function(v - self.v_threshold)
            reset = spike.detach() if self.detach_reset else spike
            v = self.apply_hard_reset(v, reset, self.v_reset)
            return (spike,), (v, *states[1:])

    node = LearnableThresholdLIFNode()
    return node


class SnnbenchLIF(nn.Module):
    def __init__(self, feature_shape: Sequence[int], theta_init: float = THETA_INIT, tau: float = 0.5, backend="fused"):
        super().__init__()
        from snnbench.neurons import LIF

        self.lif = LIF(feature_shape, tau=tau, theta_init=theta_init, backend=backend)

    def forward(self, x_seq: Tensor) -> Tensor:
        return self.lif(x_seq)


def reset_state(module: nn.Module) -> None:
    """Clear SpikingJelly's stored membrane between independent sequences (no-op for the others)."""
    try:
        from spikingjelly.activation_based import functional

        functional.reset_net(module)
    except ImportError:
        pass


LIF_FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "snnbench-reference": lambda shape, **kw: SnnbenchLIF(shape, backend="reference", **kw),
    "snnbench-fused": lambda shape, **kw: SnnbenchLIF(shape, backend="fused", **kw),
    "snnbench-triton": lambda shape, **kw: SnnbenchLIF(shape, backend="triton", **kw),  # CUDA only
    "snntorch": SnnTorchLIF,
    "spikingjelly": spikingjelly_lif,
    "spikingjelly-learnable": spikingjelly_learnable_lif,
}
