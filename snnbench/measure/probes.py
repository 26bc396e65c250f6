"""Running-counter forward hooks on LIF, synaptic, BatchNorm and pooling layers (``docs/energy.md``).

``with attach_probes(model, spiking_input=...) as probes:`` registers the hooks, ``probes`` accumulates, and the
hooks are removed when the block exits (also on error). Counters are sums only — device tensors for data-dependent
totals (spikes, SOPs; no host sync per batch) and Python ints for shape-determined totals (dense MACs, element
counts) — never stored spike tensors. Per-sample figures divide by the samples seen by the root module
(``model.features``): ``samples`` (Σ batch) and ``sample_steps`` (Σ T × batch).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from snnbench.measure.synops import (
    Site,
    conv_synapse_map,
    dense_macs,
    features_root,
    walk_sites,
)

__all__ = [
    "LIFCounter",
    "ModuleCounter",
    "Probes",
    "SynapticCounter",
    "attach_probes",
    "column_sums",
    "lif_layers",
    "step_neuron_sums",
]


def lif_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, LIF module)`` in forward order, names as in ``model.named_modules()`` (e.g. ``features.2``)."""
    return [(s.name, s.module) for s in walk_sites(model, spiking_input=True) if s.kind == "lif"]


class _Ones:
    """A cached ``[1, n]`` row of ones for :func:`column_sums` (one per counter; rebuilt when n/device/dtype change)."""

    def __init__(self) -> None:
        self.row: Tensor | None = None

    def get(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        row = self.row
        if row is None or row.shape[1] != n or row.device != x.device or row.dtype != x.dtype:
            self.row = row = torch.ones(1, n, dtype=x.dtype, device=x.device)
        return row


def _widen(x: Tensor) -> Tensor:
    """float16/bfloat16 -> float32: their results round integers above 2048 / 256."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def column_sums(x2d: Tensor, ones: _Ones) -> Tensor:
    """``x2d.sum(0)`` as a ``[1, n] @ [n, m]`` product: several times faster than the strided reduction on CPU,
    and exact for 0/1 or small integer entries (every partial sum is an integer below 2**24)."""
    if not x2d.is_floating_point():
        return x2d.sum(0)
    x2d = _widen(x2d)
    return (ones.get(x2d) @ x2d)[0]


def step_neuron_sums(x: Tensor, ones: _Ones) -> Tensor:
    """``x [T, B, *features]`` summed over the batch, ``[T, N]``: one batched ``[1, B] @ [B, N]`` product per step
    (the same work as :func:`column_sums` over ``[T·B, N]``), exact for 0/1 or small integer entries."""
    x3d = x.reshape(x.shape[0], x.shape[1], -1)
    if not x3d.is_floating_point():
        return x3d.sum(1)
    x3d = _widen(x3d)
    return torch.matmul(ones.get(x3d[0]), x3d)[:, 0]


class _Counter:
    def __init__(self, site: Site, probes: Probes) -> None:
        self.site = site
        self.name = site.name
        self.probes = probes
        self.calls = 0
        self.out_elements = 0  # Σ output elements over all calls (T·B·features for folded layers)

    def _active(self, module: nn.Module) -> bool:
        return module.training or not self.probes.train_only


class LIFCounter(_Counter):
    """Spikes of one LIF layer: per step (``[T]``, always) and, with ``detail``, per neuron (for silent fractions)."""

    def __init__(self, site: Site, probes: Probes, detail: bool) -> None:
        super().__init__(site, probes)
        self.neurons = site.module.num_neurons
        self.detail = detail
        self.per_step: Tensor | None = None  # Σ spikes at step t over samples and neurons, [T] float64
        self.step_samples: Tensor | None = None  # samples that had step t, [T] int64 on the CPU (all, unless T varies)
        self.per_neuron: Tensor | None = None  # Σ spikes of each neuron over samples and steps (float64), detail=True
        self._ones = _Ones()

    def hook(self, module: nn.Module, args, output: Tensor) -> None:
        if not self._active(module):
            return
        s = output.detach()
        self.calls += 1
        self.out_elements += s.numel()
        T, B = int(s.shape[0]), int(s.shape[1])
        if self.detail:
            counts = step_neuron_sums(s, self._ones)  # [T, B, N] -> [T, N]
            steps = counts.sum(1, dtype=torch.float64)
            per_neuron = counts.sum(0, dtype=torch.float64)
            self.per_neuron = per_neuron if self.per_neuron is None else self.per_neuron.add_(per_neuron)
        else:
            steps = s.reshape(T, -1).sum(1, dtype=torch.float64)
        self._add_steps(steps, B)

    def _add_steps(self, steps: Tensor, batch: int) -> None:
        T = steps.shape[0]
        if self.per_step is None or self.step_samples is None:
            self.per_step, self.step_samples = steps, torch.zeros(T, dtype=torch.int64)
        elif self.per_step.shape[0] < T:  # a longer sequence than before: pad the earlier totals with zeros
            grow = T - self.per_step.shape[0]
            self.per_step = torch.cat([self.per_step, self.per_step.new_zeros(grow)]).add_(steps)
            self.step_samples = torch.cat([self.step_samples, self.step_samples.new_zeros(grow)])
        else:
            self.per_step[:T].add_(steps)
        self.step_samples[:T] += batch

    def total_spikes(self) -> float:
        return float(self.per_step.sum()) if self.per_step is not None else 0.0

    def firing_rate(self) -> float:
        """Spikes / (neurons × T) per sample = Σ spikes / (neurons × Σ T·B)."""
        steps = self.probes.sample_steps
        return self.total_spikes() / (self.neurons * steps) if steps else float("nan")

    def firing_rate_per_step(self) -> list[float]:
        r"""``r[t]`` = spikes at step t / (neurons × samples): :math:`r[t] = \sum_{s,n} s_n[t] / (N S)`."""
        if self.per_step is None or self.step_samples is None:
            return []
        counts, samples = self.per_step.tolist(), self.step_samples.tolist()
        return [c / (self.neurons * n) for c, n in zip(counts, samples, strict=True)]

    def silent_neurons(self) -> int:
        """Neurons that never spiked, over all measured samples and steps (needs ``detail``)."""
        return int((self.per_neuron == 0).sum()) if self.per_neuron is not None else self.neurons

    def silent_fraction(self) -> float:
        """Fraction of neurons that never spiked, over all measured samples and steps."""
        return self.silent_neurons() / self.neurons if self.detail else float("nan")


class SynapticCounter(_Counter):
    """SOPs (spike input) or dense MACs (analog input) of one ``nn.Linear``/``nn.Conv2d``.

    Per batch a spiking linear layer adds ``Σx`` to a scalar and a spiking conv adds its input summed over batch and
    channels (``[H·W]``: one ``[1, N] @ [N, C·H·W]`` product, then a small sum over channels) to a per-position
    total; the SOPs are formed when read: ``Σx · out_features`` and ``per_position · fan-out map``."""

    def __init__(self, site: Site, probes: Probes) -> None:
        super().__init__(site, probes)
        self.spiking = site.input == "spikes"
        self.input_events: Tensor | float = 0.0  # linear: Σ input values (device tensor after the first batch)
        self.per_position: dict[tuple[int, int], Tensor] = {}  # conv: (H, W) -> Σ input per position, float64
        self.dense_macs = 0  # Σ dense MACs of all calls (int)
        self.in_elements = 0  # Σ input elements
        self.fan_out_mean: float | None = None  # mean fan-out of one input element (first input size seen)
        self._maps: dict[tuple[int, int], Tensor] = {}
        self._ones = _Ones()

    def synapse_map(self, hw: tuple[int, int]) -> Tensor:
        """Fan-out of one input element at each position (``[H, W]``, float64, CPU), cached per input size."""
        m = self._maps.get(hw)
        if m is None:
            self._maps[hw] = m = conv_synapse_map(self.site.module, hw)
        return m

    def hook(self, module: nn.Module, args, output: Tensor) -> None:
        if not self._active(module):
            return
        x = args[0].detach()
        self.calls += 1
        self.out_elements += output.numel()
        self.in_elements += x.numel()
        self.dense_macs += dense_macs(module, output)
        if self.site.kind == "linear":
            if self.fan_out_mean is None:
                self.fan_out_mean = float(module.out_features)
            if self.spiking:
                self.input_events = self.input_events + x.sum()
        else:
            hw = (int(x.shape[-2]), int(x.shape[-1]))
            if self.fan_out_mean is None:
                self.fan_out_mean = float(self.synapse_map(hw).mean())
            if self.spiking:
                # [N, C·H·W] column sums, then over channels: faster than reducing [N·C, H·W] directly
                sums = column_sums(x.reshape(x.shape[0], -1), self._ones).view(-1, hw[0] * hw[1]).sum(0)
                acc = self.per_position.get(hw)
                if acc is None:
                    self.per_position[hw] = sums.to(torch.float64)
                else:
                    acc.add_(sums)

    def total_events(self) -> float:
        """Σ input events (times ``event_scale``); 0 for analog input."""
        if not self.spiking:
            return 0.0
        if self.site.kind == "linear":
            return float(self.input_events) * self.site.event_scale
        return sum(float(acc.sum()) for acc in self.per_position.values()) * self.site.event_scale

    def total_sops(self) -> float:
        """Σ (input event × its fan-out); 0 for analog input."""
        if not self.spiking:
            return 0.0
        if self.site.kind == "linear":
            return self.total_events() * self.site.module.out_features
        sops = sum(float((acc.cpu() * self.synapse_map(hw).flatten()).sum()) for hw, acc in self.per_position.items())
        return sops * self.site.event_scale


class ModuleCounter(_Counter):
    """Output elements of a BatchNorm or pooling layer (its optional cost is per output element and step)."""

    def __init__(self, site: Site, probes: Probes) -> None:
        super().__init__(site, probes)
        self.in_elements = 0

    def hook(self, module: nn.Module, args, output: Tensor) -> None:
        if self._active(module):
            self.calls += 1
            self.in_elements += args[0].numel()
            self.out_elements += output.numel()


class Probes:
    """The counters of one ``attach_probes`` block (see module docstring)."""

    def __init__(self, sites: list[Site], *, train_only: bool) -> None:
        self.sites = sites
        self.train_only = train_only
        self.samples = 0
        self.sample_steps = 0
        self.lif: list[LIFCounter] = []
        self.synaptic: list[SynapticCounter] = []
        self.others: list[ModuleCounter] = []  # BatchNorm and pooling
        self.by_site: dict[int, _Counter] = {}

    def root_hook(self, module: nn.Module, args) -> None:
        if module.training or not self.train_only:
            T, B = args[0].shape[:2]
            self.samples += int(B)
            self.sample_steps += int(T) * int(B)

    def counter(self, site: Site) -> _Counter | None:
        return self.by_site.get(id(site))

    def firing_rates(self) -> dict[str, float]:
        """Per-LIF-layer firing rate (spikes / (neurons × T) per sample)."""
        return {c.name: c.firing_rate() for c in self.lif}

    def firing_rate(self) -> float:
        """All LIF neurons pooled: Σ spikes / (Σ neurons × Σ T·B)."""
        neurons = sum(c.neurons for c in self.lif)
        if not neurons or not self.sample_steps:
            return float("nan")
        return sum(c.total_spikes() for c in self.lif) / (neurons * self.sample_steps)


def _without_autocast(hook):
    """Run a counting hook with autocast off: under a bf16 model's autocast the ``ones @ x`` column sums would be
    computed and rounded in bf16, which holds integers exactly only up to 256."""

    def run(module: nn.Module, args, output: Tensor) -> None:
        with torch.autocast(output.device.type, enabled=False):
            hook(module, args, output)

    return run


@contextmanager
def attach_probes(
    model: nn.Module,
    *,
    spiking_input: bool,
    synaptic: bool = True,
    detail: bool = True,
    train_only: bool = False,
    avgpool_spikes: str = "analog",
) -> Iterator[Probes]:
    """Attach counting hooks to ``model`` for the duration of the block.

    ``spiking_input``: whether the network input is spikes/events (``DataBundle.spiking_input``). ``synaptic``:
    also count SOPs/MACs and BatchNorm/pooling elements (False: LIF spikes only). ``detail``: per-neuron spike
    totals for silent-neuron fractions. ``train_only``: count only forward passes in training mode (a model in
    ``eval()`` is ignored). ``avgpool_spikes``: see :func:`~snnbench.measure.synops.walk_sites`.
    """
    sites = walk_sites(model, spiking_input=spiking_input, avgpool_spikes=avgpool_spikes)
    probes = Probes(sites, train_only=train_only)
    root, _ = features_root(model)
    handles: list[RemovableHandle] = []
    try:
        handles.append(root.register_forward_pre_hook(probes.root_hook))
        for site in sites:
            counter: _Counter
            if site.kind == "lif":
                counter = LIFCounter(site, probes, detail)
                probes.lif.append(counter)
            elif not synaptic:
                continue
            elif site.kind in ("linear", "conv"):
                counter = SynapticCounter(site, probes)
                probes.synaptic.append(counter)
            else:
                counter = ModuleCounter(site, probes)
                probes.others.append(counter)
            probes.by_site[id(site)] = counter
            handles.append(site.module.register_forward_hook(_without_autocast(counter.hook)))
        yield probes
    finally:
        for handle in handles:
            handle.remove()
