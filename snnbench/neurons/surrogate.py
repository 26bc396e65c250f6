r"""Surrogate gradients for the Heaviside spike function.

Forward, every surrogate is the Heaviside step :math:`H(x) = 1` if :math:`x \ge 0` else 0, where
:math:`x = u - \theta`. Backward, it passes :math:`\partial S / \partial x = g_\alpha(x)`:

==============  =====================================================================  ==========
name            :math:`g_\alpha(x)`                                                    default α
==============  =====================================================================  ==========
``arctan``      :math:`\frac{\alpha / 2}{1 + (\frac{\pi}{2} \alpha x)^2}`               2.0
``sigmoid``     :math:`\alpha\, \sigma(\alpha x)(1 - \sigma(\alpha x))`                 4.0
``rectangular`` :math:`\frac{1}{\alpha}\,[|x| < \alpha / 2]`                            1.0
``triangle``    :math:`\frac{1}{\alpha} \max(0, 1 - |x| / \alpha)`                      1.0
==============  =====================================================================  ==========

Every :math:`g_\alpha` integrates to 1 over the real line. Because :math:`x = u - \theta`, a learnable threshold
receives :math:`\partial L / \partial \theta = -\sum \partial L / \partial S \cdot g_\alpha(x)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from snnbench.registry import Registry


@dataclass(frozen=True)
class Surrogate:
    """A surrogate gradient: Heaviside forward, :meth:`grad` backward."""

    name: str
    alpha: float

    def grad(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def spike(self, x: Tensor) -> Tensor:
        """Heaviside of ``x`` whose backward pass uses :meth:`grad`."""
        return SpikeFunction.apply(x, self)


class SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, surrogate: Surrogate) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_spikes * ctx.surrogate.grad(x), None


def heaviside(x: Tensor) -> Tensor:
    """1 where ``x >= 0`` else 0, in ``x``'s dtype."""
    return (x >= 0).to(x.dtype)


class ArcTan(Surrogate):
    def grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x).square())


class Sigmoid(Surrogate):
    def grad(self, x: Tensor) -> Tensor:
        sig = torch.sigmoid(self.alpha * x)
        return self.alpha * sig * (1 - sig)


class Rectangular(Surrogate):
    def grad(self, x: Tensor) -> Tensor:
        return (x.abs() < self.alpha / 2).to(x.dtype) / self.alpha


class Triangle(Surrogate):
    def grad(self, x: Tensor) -> Tensor:
        return (1 - x.abs() / self.alpha).clamp_min(0) / self.alpha


SURROGATES: Registry[type[Surrogate]] = Registry("surrogate")
SURROGATES.register("arctan", default_alpha=2.0)(ArcTan)
SURROGATES.register("sigmoid", default_alpha=4.0)(Sigmoid)
SURROGATES.register("rectangular", default_alpha=1.0)(Rectangular)
SURROGATES.register("triangle", default_alpha=1.0)(Triangle)


def create_surrogate(name: str = "arctan", alpha: float | None = None) -> Surrogate:
    """Surrogate ``name`` with slope/width ``alpha`` (the surrogate's default when ``None``)."""
    entry = SURROGATES.entry(name)
    return entry.obj(name, float(entry.meta["default_alpha"] if alpha is None else alpha))
