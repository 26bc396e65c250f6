"""Which dropout placement and mask learns best on the reference conv network (the conv/mlp families' null default).

The network is built from a spec through ``snnbench.models.create_model`` and trained by ``snnbench.train.fit`` (the
path ``snnbench run`` takes): conv, width 32, depth 2, fc_width 256, dropout 0.5, population 10, theta_init 2.0,
one epoch on ``mnist_digits`` (first ``--train-subset`` training digits, all 1,000 test digits), seeds 0..n-1.
Every (placement, mask) pair sees the same seeds: the same initial weights, shuffling and input spikes.

    python benchmarks/dropout_default.py                       # 4 settings x 3 seeds, ~2 min on one thread
    python benchmarks/dropout_default.py --seeds 5 --epochs 2

Prints a markdown table (mean and std of the test accuracy over seeds, per seed) and the CPU it ran on.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from snnbench.data import load_data
from snnbench.models import create_model
from snnbench.suite import DataSpec, ModelSpec, NeuronSpec, TrainSpec
from snnbench.train import fit
from snnbench.train.seed import seed_everything

SETTINGS = [("every_block", "per_sample"), ("every_block", "per_step"), ("fc", "per_sample"), ("fc", "per_step")]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def reference_spec(placement: str, mask: str) -> ModelSpec:
    return ModelSpec(
        name="conv",
        depth=2,
        width=32,
        fc_width=256,
        population=10,
        dropout=0.5,
        dropout_placement=placement,
        dropout_mask=mask,
        neuron=NeuronSpec(theta_init=2.0),
    )


def run(bundle, placement: str, mask: str, seed: int, epochs: int) -> float:
    seed_everything(seed)
    model = create_model(reference_spec(placement, mask), bundle.info)
    history = fit(model, bundle, TrainSpec(epochs=epochs), torch.device("cpu"), seed=seed)
    return history[-1]["test_acc"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-subset", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    bundle = load_data(DataSpec(dataset="mnist_digits", train_subset=args.train_subset))
    start = time.perf_counter()
    accs = {s: [] for s in SETTINGS}
    for seed in range(args.seeds):  # seeds outermost: a partial run still compares every setting
        for placement, mask in SETTINGS:
            accs[(placement, mask)].append(run(bundle, placement, mask, seed, args.epochs))
    print(f"conv 32x2, fc 256, dropout 0.5, P 10, theta 2.0; mnist_digits {args.train_subset} train / 1000 test, ")
    print(f"{args.epochs} epoch(s), seeds 0..{args.seeds - 1}; {cpu_model()}, {args.threads} thread(s), ")
    print(f"torch {torch.__version__}, {time.perf_counter() - start:.0f} s\n")
    print("| placement | mask | test accuracy % (mean) | std | per seed |")
    print("| --- | --- | --- | --- | --- |")
    for (placement, mask), values in sorted(accs.items(), key=lambda kv: -statistics.mean(kv[1])):
        pct = [100 * v for v in values]
        std = statistics.stdev(pct) if len(pct) > 1 else float("nan")
        per_seed = ", ".join(f"{v:.1f}" for v in pct)
        print(f"| {placement} | {mask} | {statistics.mean(pct):.2f} | {std:.2f} | {per_seed} |")


if __name__ == "__main__":
    main()
