r"""Memory accesses of spiking inference and their energy (``energy.memory``; off by default, ``docs/energy.md``).

The compute-only estimate charges arithmetic (:math:`E_\text{AC}`, :math:`E_\text{MAC}`). This model adds the
accesses an event-driven accelerator makes to the state it keeps, one 32-bit word per access, per sample:

.. math::

    \text{weight reads} &= \text{SOPs} + \text{MACs}
        \quad\text{(one weight per synaptic event and per dense MAC of a conv/linear layer)}\\
    \text{membrane accesses} &= 2\,N\,T
        \quad\text{(a read and a write of } u \text{ per LIF neuron and step)}\\
    \text{threshold reads} &= |\theta|\,T
        \quad\text{(} |\theta| \text{ = threshold values: } N \text{ per neuron, } C \text{ per channel, 1 per layer)}

.. math::

    E_\text{mem} = e_w\,\text{weight reads} + e_u\,\text{membrane accesses} + e_\theta\,\text{threshold reads},
    \qquad E_\text{total} = E_\text{SNN} + E_\text{mem}

A threshold shared by a channel or a layer is read once per step and held in a register for the neurons that share
it; there is no reuse of weights across events, samples or steps (every event fetches its weight). Bias, BatchNorm
and pooling state, the input and the spikes between layers are not charged. Per-access energies are Horowitz's
45 nm figures (ISSCC 2014, Fig. 1.1.9, one 64-bit access) halved for a 32-bit word; writes cost the same as reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "MEMORY_ACCESS_KEYS",
    "MEMORY_LEVELS",
    "MemoryEnergies",
    "add_memory",
    "lif_accesses",
    "memory_energies",
]

# pJ per 32-bit access: half of Horowitz's 64-bit figures (8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ, DRAM 1.3-2.6 nJ,
# the low end taken). None: no memory model.
MEMORY_LEVELS: dict[str, float | None] = {
    "none": None,
    "sram_8kb": 5.0,
    "sram_32kb": 10.0,
    "sram_1mb": 50.0,
    "dram": 650.0,
}

MEMORY_ACCESS_KEYS = ("weight_reads_per_sample", "membrane_accesses_per_sample", "threshold_reads_per_sample")


@dataclass(frozen=True)
class MemoryEnergies:
    """Energy of one 32-bit access, pJ, by what is accessed."""

    weight_read_pj: float
    membrane_access_pj: float
    threshold_read_pj: float

    def energy_uj(self, weight_reads: float, membrane_accesses: float, threshold_reads: float) -> float:
        """:math:`e_w W + e_u U + e_\\theta \\Theta` converted from pJ to µJ."""
        pj = self.weight_read_pj * weight_reads + self.membrane_access_pj * membrane_accesses
        return (pj + self.threshold_read_pj * threshold_reads) * 1e-6


def memory_energies(spec) -> MemoryEnergies | None:
    """Per-access energies of ``spec.memory``'s level, each overridden by ``spec.e_*_pj`` when set; None when
    ``memory`` is ``none`` (or the spec predates the key)."""
    level = getattr(spec, "memory", "none")
    try:
        base = MEMORY_LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown memory level {level!r}; use one of {sorted(MEMORY_LEVELS)}") from None
    if base is None:
        return None

    def pick(name: str) -> float:
        value = getattr(spec, name, None)
        return float(value) if value is not None else base

    return MemoryEnergies(pick("e_weight_read_pj"), pick("e_membrane_access_pj"), pick("e_threshold_read_pj"))


def lif_accesses(neurons: int, threshold_values: int, steps_per_sample: float) -> dict[str, float]:
    """Membrane accesses (read + write per neuron and step) and threshold reads (one per threshold value and step)
    per sample of a LIF layer."""
    return {
        "membrane_accesses_per_sample": 2.0 * neurons * steps_per_sample,
        "threshold_reads_per_sample": float(threshold_values) * steps_per_sample,
    }


def add_memory(rows: list[dict[str, Any]], energies: MemoryEnergies | None) -> dict[str, Any]:
    """Fill each row's ``est_memory_energy_uj_per_sample`` and ``est_total_energy_uj_per_sample`` (None without a
    memory model) from its access counts (None counts as 0), and return the per-cell totals: the access counts
    (always) and the two energies (None without a memory model)."""
    for row in rows:
        if energies is None:
            row["est_memory_energy_uj_per_sample"] = row["est_total_energy_uj_per_sample"] = None
            continue
        mem = energies.energy_uj(*(row[k] or 0.0 for k in MEMORY_ACCESS_KEYS))
        row["est_memory_energy_uj_per_sample"] = mem
        row["est_total_energy_uj_per_sample"] = (row["est_energy_uj_per_sample"] or 0.0) + mem
    totals: dict[str, Any] = {k: float(sum(r[k] or 0.0 for r in rows)) for k in MEMORY_ACCESS_KEYS}
    for key in ("est_memory_energy_uj_per_sample", "est_total_energy_uj_per_sample"):
        totals[key] = float(sum(r[key] for r in rows)) if energies is not None else None
    totals["e_weight_read_pj"] = energies.weight_read_pj if energies else None
    totals["e_membrane_access_pj"] = energies.membrane_access_pj if energies else None
    totals["e_threshold_read_pj"] = energies.threshold_read_pj if energies else None
    return totals
