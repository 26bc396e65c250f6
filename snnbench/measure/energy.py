r"""Estimated inference energy of a spiking network on the test split, against the same network run as an ANN.

.. math::

    E_\text{SNN} = E_\text{AC}\,(\text{SOPs} + \text{ACs}_\text{extra}) + E_\text{MAC}\,(\text{MACs} +
    \text{MACs}_\text{extra}), \qquad E_\text{ANN} = E_\text{MAC}\,(\text{MACs}_\text{ANN} +
    \text{MACs}_\text{ANN,extra}) + E_\text{AC}\,\text{ACs}_\text{ANN,extra}

per sample, in µJ. SOPs and MACs come from :mod:`snnbench.measure.probes` (running counters over the test split,
with the same seeded encodings as :func:`snnbench.measure.accuracy.evaluate`); the ANN's dense MACs from fvcore
(one pass over one frame, LIF replaced by ReLU). The *extra* terms are off by default: BatchNorm, bias adds,
pooling and neuron updates (``EnergySpec`` flags). ``energy.memory`` adds the memory-access energy
:math:`E_\text{mem}` of :mod:`snnbench.measure.memory` (weights, membranes, thresholds; off by default) as
``est_memory_energy_uj_per_sample`` and ``est_total_energy_uj_per_sample``, leaving :math:`E_\text{SNN}` unchanged.
LIF rows also carry the firing rate per time step, :math:`r[t] = \sum s[t] / (N S)`, and its coefficient of
variation across steps (:func:`step_cv`). Definitions, flags and presets: ``docs/energy.md``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from snnbench.measure.memory import add_memory, lif_accesses, memory_energies
from snnbench.measure.probes import LIFCounter, ModuleCounter, Probes, SynapticCounter, attach_probes
from snnbench.measure.synops import features_root, pool_kernel_area, walk_sites
from snnbench.neurons import LIF
from snnbench.seeds import TEST_STREAM, make_generator

__all__ = [
    "ENERGY_PRESETS",
    "LAYER_KEYS",
    "METRIC_KEYS",
    "EnergyResult",
    "ann_macs",
    "energy_constants",
    "energy_uj",
    "measure_energy",
    "step_cv",
    "summarize",
]

ENERGY_PRESETS: dict[str, tuple[float, float]] = {
    # (E_AC, E_MAC) in pJ, 45 nm CMOS (Horowitz, ISSCC 2014): add; multiply + add
    "45nm_fp32": (0.9, 4.6),
    "45nm_fp16": (0.4, 1.5),
    "45nm_int8": (0.03, 0.23),
}

MAC_OPS = ("conv", "linear", "matmul", "addmm", "bmm", "einsum")  # fvcore operator names that are synaptic MACs

METRIC_KEYS = (
    "firing_rate",
    "silent_fraction",
    "spikes_per_sample",
    "sops_per_sample",
    "macs_per_sample",
    "extra_acs_per_sample",
    "extra_macs_per_sample",
    "est_energy_uj_per_sample",
    "ann_macs_per_sample",
    "ann_extra_acs_per_sample",
    "ann_extra_macs_per_sample",
    "ann_energy_uj_per_sample",
    "energy_ratio_to_ann",
    "e_ac_pj",
    "e_mac_pj",
    "energy_samples",
    "energy_T",
    "firing_rate_step_cv_max",
    "weight_reads_per_sample",
    "membrane_accesses_per_sample",
    "threshold_reads_per_sample",
    "est_memory_energy_uj_per_sample",
    "est_total_energy_uj_per_sample",
    "e_weight_read_pj",
    "e_membrane_access_pj",
    "e_threshold_read_pj",
)

LAYER_KEYS = (
    "layer",
    "module",
    "kind",
    "input",
    "neurons",
    "firing_rate",
    "silent_fraction",
    "spikes_per_sample",
    "input_events_per_sample",
    "input_density",
    "fan_out_mean",
    "sops_per_sample",
    "macs_per_sample",
    "dense_macs_per_step",
    "extra_acs_per_sample",
    "extra_macs_per_sample",
    "est_energy_uj_per_sample",
    "ann_macs_per_sample",
    "ann_extra_acs_per_sample",
    "ann_extra_macs_per_sample",
    "ann_energy_uj_per_sample",
    "firing_rate_per_step",
    "firing_rate_step_cv",
    "weight_reads_per_sample",
    "membrane_accesses_per_sample",
    "threshold_reads_per_sample",
    "est_memory_energy_uj_per_sample",
    "est_total_energy_uj_per_sample",
)


@dataclass
class EnergyResult:
    """``metrics``: flat per-sample totals (:data:`METRIC_KEYS`, plus ``energy_test_acc`` from
    :func:`measure_energy`); ``layers``: one row per LIF and synaptic layer (and per pooling layer under
    ``pool_cost: ac``, per unfoldable BatchNorm), each with every key of :data:`LAYER_KEYS` (None where n/a)."""

    metrics: dict[str, Any]
    layers: list[dict[str, Any]] = field(default_factory=list)


def _flag(spec, name: str, default: str) -> str:
    return getattr(spec, name, default)


def energy_constants(spec) -> tuple[float, float]:
    """``(E_AC, E_MAC)`` in pJ: the preset's, each overridden by ``spec.e_ac_pj`` / ``spec.e_mac_pj`` when set."""
    try:
        e_ac, e_mac = ENERGY_PRESETS[spec.preset]
    except KeyError:
        raise ValueError(f"unknown energy preset {spec.preset!r}; use one of {sorted(ENERGY_PRESETS)}") from None
    return (
        float(spec.e_ac_pj) if spec.e_ac_pj is not None else e_ac,
        float(spec.e_mac_pj) if spec.e_mac_pj is not None else e_mac,
    )


def energy_uj(acs: float, macs: float, e_ac_pj: float, e_mac_pj: float) -> float:
    """``E_AC·ACs + E_MAC·MACs`` converted from pJ to µJ."""
    return (e_ac_pj * acs + e_mac_pj * macs) * 1e-6


# -- ANN baseline ---------------------------------------------------------------------------------------------------
def ann_macs(model: nn.Module, frame: Tensor) -> dict[str, int]:
    """Dense MACs of each synaptic layer (qualified name -> MACs) when ``model``'s layers run once as a
    conventional network on one frame ``[C, H, W]``: every LIF replaced by ReLU, eval mode, input ``[1, 1, C, H, W]``
    (T = 1, batch 1) through the time-folding layers. Counted by ``fvcore.nn.FlopCountAnalysis`` (one MAC = one
    fvcore 'flop' for conv and linear); BatchNorm, pooling and activations are not included here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's import and tracing warn about torch.jit deprecations
        from fvcore.nn import FlopCountAnalysis

    root, prefix = features_root(model)
    synaptic = [s for s in walk_sites(model, spiking_input=False) if s.kind in ("linear", "conv")]
    swaps = [
        (parent, child_name, child)
        for parent in root.modules()
        for child_name, child in parent._modules.items()
        if isinstance(child, LIF)
    ]
    was_training = root.training
    try:
        for parent, child_name, _ in swaps:
            parent._modules[child_name] = nn.ReLU()
        root.eval()
        x = frame.reshape(1, 1, *frame.shape)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            analysis = FlopCountAnalysis(root, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            by_module = analysis.by_module_and_operator()
    finally:
        for parent, child_name, child in swaps:
            parent._modules[child_name] = child
        root.train(was_training)
    out: dict[str, int] = {}
    for site in synaptic:
        rel = site.name[len(prefix) + 1 :] if prefix else site.name
        ops = by_module.get(rel, {})
        out[site.name] = int(sum(ops.get(op, 0) for op in MAC_OPS))
    return out


# -- summary --------------------------------------------------------------------------------------------------------
def _row(name: str, module: str, kind: str, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(LAYER_KEYS)
    row.update(layer=name, module=module, kind=kind, **values)
    return row


def _layer_names(probes: Probes) -> dict[int, str]:
    """Row name per counted site: its top-level entry (``features.3``) when that entry holds one counted module of
    the row kinds, else the full module name."""
    entries: dict[str, int] = {}
    for s in probes.sites:
        if s.kind != "bn":
            entries[s.entry] = entries.get(s.entry, 0) + 1
    return {id(s): (s.entry if entries.get(s.entry) == 1 else s.name) for s in probes.sites}


def step_cv(rates: list[float]) -> float | None:
    r"""Coefficient of variation of a layer's firing rate across time steps, :math:`\sigma_t(r[t]) / \mu_t(r[t])`
    (population std over the T steps, divided by their mean): 0 for a rate that is the same at every step; None
    for a layer that never spiked (or no steps)."""
    if not rates:
        return None
    mean = sum(rates) / len(rates)
    if mean == 0:
        return None
    return math.sqrt(sum((r - mean) ** 2 for r in rates) / len(rates)) / mean


def _lif_row(name: str, counter: LIFCounter, n: int, neuron_cost: str, ann: bool) -> dict[str, Any]:
    """The row of one LIF layer: spikes, rates (overall and per step), flag costs and memory accesses."""
    update = counter.out_elements / n  # neurons × T per sample
    per_step = counter.firing_rate_per_step()
    theta = getattr(counter.site.module, "theta", None)
    thresholds = theta.numel() if theta is not None else counter.neurons
    return _row(
        name,
        counter.site.name,
        "lif",
        input=counter.site.input,
        neurons=counter.neurons,
        firing_rate=counter.firing_rate(),
        firing_rate_per_step=per_step,
        firing_rate_step_cv=step_cv(per_step),
        silent_fraction=counter.silent_fraction(),
        spikes_per_sample=counter.total_spikes() / n,
        sops_per_sample=0.0,
        macs_per_sample=0.0,
        extra_acs_per_sample=update if neuron_cost == "ac" else 0.0,
        extra_macs_per_sample=update if neuron_cost == "mac" else 0.0,
        ann_macs_per_sample=0.0 if ann else None,
        ann_extra_acs_per_sample=0.0 if ann else None,
        ann_extra_macs_per_sample=0.0 if ann else None,
        **lif_accesses(counter.neurons, thresholds, update / counter.neurons),
    )


def summarize(probes: Probes, spec, *, ann: dict[str, int] | None = None) -> EnergyResult:
    """Per-sample metrics and per-layer rows from the counters of an ``attach_probes`` block (see module doc).

    ``ann``: per-synaptic-layer ANN MACs from :func:`ann_macs` (None: no ANN baseline, its keys are None).
    """
    e_ac, e_mac = energy_constants(spec)
    n, steps = probes.samples, probes.sample_steps
    if n == 0:
        raise ValueError("no samples were measured (empty test split or no forward pass inside attach_probes)")
    bn_cost = _flag(spec, "bn_cost", "folded")
    bias_cost = _flag(spec, "bias_cost", "none")
    pool_cost = _flag(spec, "pool_cost", "none")
    neuron_cost = _flag(spec, "neuron_update_cost", "none")
    names = _layer_names(probes)
    rows: list[dict[str, Any]] = []

    def add_energy(row: dict[str, Any]) -> dict[str, Any]:
        acs = (row["sops_per_sample"] or 0.0) + (row["extra_acs_per_sample"] or 0.0)
        macs = (row["macs_per_sample"] or 0.0) + (row["extra_macs_per_sample"] or 0.0)
        row["est_energy_uj_per_sample"] = energy_uj(acs, macs, e_ac, e_mac)
        if ann is not None:
            ann_acs = row["ann_extra_acs_per_sample"] or 0.0
            ann_m = (row["ann_macs_per_sample"] or 0.0) + (row["ann_extra_macs_per_sample"] or 0.0)
            row["ann_energy_uj_per_sample"] = energy_uj(ann_acs, ann_m, e_ac, e_mac)
        return row

    for site in probes.sites:
        counter = probes.counter(site)
        if counter is None:
            continue
        name = names[id(site)]
        if isinstance(counter, LIFCounter):
            rows.append(add_energy(_lif_row(name, counter, n, neuron_cost, ann is not None)))
        elif isinstance(counter, SynapticCounter):
            spiking = counter.spiking
            out_per_sample, out_per_frame = counter.out_elements / n, counter.out_elements / steps
            bn = probes.counter(site.bn) if site.bn is not None else None
            biased = site.has_bias or (site.bn is not None and bn_cost == "folded")
            extra_acs = out_per_sample if (biased and bias_cost == "ac") else 0.0
            ann_extra_acs = out_per_frame if (biased and bias_cost == "ac") else 0.0
            extra_macs = ann_extra_macs = 0.0
            if bn is not None and bn_cost == "mac":
                extra_macs, ann_extra_macs = bn.out_elements / n, bn.out_elements / steps
            rows.append(
                add_energy(
                    _row(
                        name,
                        site.name,
                        site.kind,
                        input=site.input,
                        input_events_per_sample=counter.total_events() / n if spiking else None,
                        input_density=(counter.total_events() / counter.in_elements)
                        if spiking and counter.in_elements
                        else None,
                        fan_out_mean=counter.fan_out_mean,
                        sops_per_sample=counter.total_sops() / n,
                        macs_per_sample=0.0 if spiking else counter.dense_macs / n,
                        weight_reads_per_sample=(counter.total_sops() if spiking else counter.dense_macs) / n,
                        dense_macs_per_step=counter.dense_macs / steps,
                        extra_acs_per_sample=extra_acs,
                        extra_macs_per_sample=extra_macs,
                        ann_macs_per_sample=float(ann[site.name]) if ann is not None else None,
                        ann_extra_acs_per_sample=ann_extra_acs if ann is not None else None,
                        ann_extra_macs_per_sample=ann_extra_macs if ann is not None else None,
                    )
                )
            )
            if ann is not None and ann[site.name] != round(counter.dense_macs / steps):
                warnings.warn(
                    f"energy: fvcore counts {ann[site.name]} MACs for {site.name}, the probes "
                    f"{counter.dense_macs / steps:g} per step",
                    stacklevel=2,
                )
        elif isinstance(counter, ModuleCounter):
            if site.kind == "pool" and pool_cost == "ac":
                area = pool_kernel_area(site.module)
                ops = counter.out_elements * (area - 1) if area else counter.in_elements - counter.out_elements
                rows.append(
                    add_energy(
                        _row(
                            name,
                            site.name,
                            "pool",
                            input=site.input,
                            sops_per_sample=0.0,
                            macs_per_sample=0.0,
                            extra_acs_per_sample=ops / n,
                            extra_macs_per_sample=0.0,
                            ann_macs_per_sample=0.0 if ann is not None else None,
                            ann_extra_acs_per_sample=ops / steps if ann is not None else None,
                            ann_extra_macs_per_sample=0.0 if ann is not None else None,
                        )
                    )
                )
            elif site.kind == "bn" and site.folded_into is None:  # nothing to fold into: always 1 MAC per element
                rows.append(
                    add_energy(
                        _row(
                            name,
                            site.name,
                            "bn",
                            input=site.input,
                            sops_per_sample=0.0,
                            macs_per_sample=0.0,
                            extra_acs_per_sample=0.0,
                            extra_macs_per_sample=counter.out_elements / n,
                            ann_macs_per_sample=0.0 if ann is not None else None,
                            ann_extra_acs_per_sample=0.0 if ann is not None else None,
                            ann_extra_macs_per_sample=counter.out_elements / steps if ann is not None else None,
                        )
                    )
                )

    def total(key: str) -> float:
        return float(sum(r[key] or 0.0 for r in rows))

    lif_rows = [r for r in rows if r["kind"] == "lif"]
    neurons = sum(r["neurons"] for r in lif_rows)
    silent = sum(c.silent_neurons() for c in probes.lif)
    est = total("est_energy_uj_per_sample")
    memory = add_memory(rows, memory_energies(spec))
    cvs = [r["firing_rate_step_cv"] for r in lif_rows if r["firing_rate_step_cv"] is not None]
    ann_energy = total("ann_energy_uj_per_sample") if ann is not None else None
    metrics: dict[str, Any] = {
        "firing_rate": probes.firing_rate(),
        "silent_fraction": silent / neurons if neurons and all(c.detail for c in probes.lif) else None,
        "spikes_per_sample": total("spikes_per_sample"),
        "sops_per_sample": total("sops_per_sample"),
        "macs_per_sample": total("macs_per_sample"),
        "extra_acs_per_sample": total("extra_acs_per_sample"),
        "extra_macs_per_sample": total("extra_macs_per_sample"),
        "est_energy_uj_per_sample": est,
        "ann_macs_per_sample": total("ann_macs_per_sample") if ann is not None else None,
        "ann_extra_acs_per_sample": total("ann_extra_acs_per_sample") if ann is not None else None,
        "ann_extra_macs_per_sample": total("ann_extra_macs_per_sample") if ann is not None else None,
        "ann_energy_uj_per_sample": ann_energy,
        "energy_ratio_to_ann": est / ann_energy if ann_energy else None,
        "e_ac_pj": e_ac,
        "e_mac_pj": e_mac,
        "energy_samples": n,
        "energy_T": steps / n,
        "firing_rate_step_cv_max": max(cvs) if cvs else None,
        **memory,
    }
    return EnergyResult(metrics=metrics, layers=rows)


# -- the runner's entry point ---------------------------------------------------------------------------------------
@torch.no_grad()
def measure_energy(
    model: nn.Module, bundle, device: torch.device, *, seed: int, spec, batch_size: int = 100
) -> EnergyResult:
    """Firing rates, SOPs, MACs and estimated energy per sample on the test split (the first ``spec.test_samples``
    when set), with the same seeded test encodings as :func:`snnbench.measure.accuracy.evaluate` at the same
    ``batch_size`` (each batch is encoded whole, then cut). Adds ``energy_test_acc`` to the metrics (equal to
    ``evaluate``'s ``test_acc`` on the same samples). Does not look at ``spec.enabled``; the caller does."""
    was_training = model.training
    model.eval()
    encode_gen = make_generator(seed, TEST_STREAM, device)
    limit = spec.test_samples
    seen, correct = 0, 0
    frame: Tensor | None = None
    try:
        with attach_probes(
            model, spiking_input=bundle.spiking_input, avgpool_spikes=_flag(spec, "avgpool_spikes", "analog")
        ) as probes:
            for x, y in bundle.loader("test", batch_size):
                if limit is not None and seen >= limit:
                    break
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                x_seq = bundle.to_input(x, encode_gen)
                if limit is not None and seen + len(y) > limit:
                    keep = limit - seen
                    x_seq, y = x_seq[:, :keep].contiguous(), y[:keep]
                if frame is None:
                    frame = x_seq[0, 0].clone()
                rates = model(x_seq)
                correct += int((rates.argmax(1) == y).sum())
                seen += len(y)
        ann = ann_macs(model, frame) if spec.ann_baseline and frame is not None else None
        result = summarize(probes, spec, ann=ann)
    finally:
        model.train(was_training)
    result.metrics["energy_test_acc"] = correct / seen
    return result
