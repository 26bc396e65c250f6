"""Cost of energy counting: test-set evaluation with the probes attached vs without.

    python benchmarks/energy_overhead.py                    # quick-suite mlp (depth 3, width 256) and conv depth 2
    python benchmarks/energy_overhead.py --nets mlp --rounds 15 --threads 2

The workload is ``snnbench.measure.accuracy.evaluate`` on the mnist_digits test split (1,000 samples, T = 4,
batch 100) with the same seeded encodings as the runner. ``off`` runs it as is; ``on`` runs the same call inside
``attach_probes(model, spiking_input=...)`` (all counters of ``measure_energy``: per-neuron spike totals, SOPs with
conv fan-out maps, dense MACs, BatchNorm/pool elements). Rounds alternate the order (off/on, then on/off) so load
from other processes hits both alike; the table gives, for wall time and for process CPU time (steadier on a
loaded machine with one thread), the medians over rounds, their ratio, and the median of the per-round ratios.
``measure_energy`` is the full call (counting plus the one-off fvcore ANN trace). The network is freshly
initialised with thresholds lowered to 0.5 so that every layer spikes (the counting cost does not depend on the
spike values).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import load_note, median, run_settings, table  # noqa: E402


def build(name: str, bundle):
    import torch

    from snnbench.models import create_model
    from snnbench.suite.schema import ModelSpec

    spec = ModelSpec(name="mlp", depth=3, width=256) if name == "mlp" else ModelSpec(name="conv", depth=2)
    torch.manual_seed(0)
    model = create_model(spec, bundle.info)
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "theta"):
                m.theta.fill_(0.5)
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", nargs="+", default=["mlp", "conv"], choices=["mlp", "conv"])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--T", type=int, default=4)
    args = ap.parse_args(argv)

    import torch

    from snnbench.data import load_data
    from snnbench.measure.accuracy import evaluate
    from snnbench.measure.energy import measure_energy
    from snnbench.measure.probes import attach_probes
    from snnbench.suite.schema import DataSpec, EnergySpec

    settings = run_settings(args.threads)
    device = torch.device("cpu")
    bundle = load_data(DataSpec(dataset="mnist_digits", T=args.T, encoding="rate"))
    print(f"{settings}; torch {torch.__version__}; {load_note()}")
    print(
        f"mnist_digits test split {len(bundle.test)} samples, T = {bundle.T}, batch {args.batch}, {args.rounds} rounds"
    )

    energy_spec = EnergySpec()
    rows = []
    for name in args.nets:
        model = build(name, bundle)

        def off(model=model):
            return evaluate(model, bundle, device, seed=0, batch_size=args.batch)

        def on(model=model):
            with attach_probes(model, spiking_input=bundle.spiking_input) as probes:
                out = evaluate(model, bundle, device, seed=0, batch_size=args.batch)
            probes.firing_rate()  # read the counters (one host sync), as measure_energy does
            return out

        def timed(fn) -> tuple[float, float]:
            """(wall, process CPU) seconds of one call."""
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            return time.perf_counter() - wall, time.process_time() - cpu

        off(), on()  # warm-up (allocator, backend selection)
        t_off, t_on = [], []
        for r in range(args.rounds):
            if r % 2 == 0:
                a, b = timed(off), timed(on)
            else:
                b, a = timed(on), timed(off)
            t_off.append(a)
            t_on.append(b)

        def full(model=model):
            return measure_energy(model, bundle, device, seed=0, spec=energy_spec, batch_size=args.batch)

        t_full = [timed(full)[0] for _ in range(3)]
        params = sum(p.numel() for p in model.parameters())
        row = [f"{name} ({params / 1e3:.0f}k params)"]
        for i in (0, 1):  # wall, CPU
            off_s, on_s = median([t[i] for t in t_off]), median([t[i] for t in t_on])
            per_round = median([b[i] / a[i] for a, b in zip(t_off, t_on, strict=True)])
            row += [f"{off_s * 1e3:.1f}", f"{on_s * 1e3:.1f}", f"{on_s / off_s:.3f}", f"{per_round:.3f}"]
        rows.append([*row, f"{median(t_full) * 1e3:.1f}"])
    print()
    headers = ["net"]
    for clock in ("wall", "CPU"):
        headers += [f"off {clock} ms", f"on {clock} ms", f"on/off {clock}", f"per-round {clock}"]
    print(table([*headers, "measure_energy wall ms"], rows))
    print("on/off: ratio of the medians; per-round: median of the per-round on/off ratios")
    print(f"\nafter: {load_note()}")


if __name__ == "__main__":
    main()
