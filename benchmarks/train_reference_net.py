"""Training throughput of the reference SNN as `snnbench run` trains it, against snnTorch and SpikingJelly.

    python benchmarks/train_reference_net.py --T 4 8                    # ~4 min on 2 cores
    python benchmarks/train_reference_net.py --T 4 8 --epoch-seeds 3    # + one-epoch test accuracy
    python benchmarks/train_reference_net.py --T 4 --libs snnbench snnbench-eager snnbench-compiled   # LIF paths

Network (the paper's MNIST net at CPU scale): rate-coded 1x28x28 input, conv3x3(1->32)-BN-LIF-maxpool2,
conv3x3(32->32)-BN-LIF-maxpool2, dropout 0.5, fc(1568->256)-LIF, dropout 0.5, fc(256->100)-LIF, population readout
(10 neurons per class, mean over population and time), MSE against one-hot, Adam(lr 1e-3), batch 50, learnable
per-neuron thresholds initialised at 2.0 (LIF: u = 0.5 u + I, hard reset to 0, arctan surrogate alpha 2).

* ``snnbench``: :data:`SUITE` read by snnbench's suite loader; its cell's network from ``create_model``, the
  parameters the ``stl`` variant trains from ``apply_variant``, the optimiser from ``build_optimizer``, the loss and
  the step of ``train_epoch``, and the process settings ``snnbench run`` applies (its CPU heap; torch's threads =
  the CPUs of the process). Which path each LIF layer takes (eager or compiled) is decided as in a run: measured
  per machine and shape, recorded in the user cache; the script prints the decisions. A run decides against the
  calls its cell will make; the benchmark stands for the paper's MNIST cell (:data:`PAPER_MNIST_CALLS`: 100
  epochs x 1,200 batches). Warm-up time includes the trials and any compiles (a second run of the script loads
  them from the cache).
* ``snnbench-per-sample``: the same with ``model.dropout_mask: per_sample`` (one mask for all steps, as
  SpikingJelly's multi-step dropout); the default mask is fresh per step (as snnTorch's ``nn.Dropout`` per step).
* ``snnbench-eager`` / ``snnbench-compiled``: the LIF path forced (``SNNBENCH_LIF_COMPILE=0`` / ``1``);
  ``snnbench-bf16``: ``model.precision: bf16``. Only with ``--libs``.
* ``snntorch``: the usual loop over time steps with ``snn.Leaky`` (per-neuron learnable thresholds).
* ``spikingjelly``: multi-step layers with its stock ``LIFNode`` (scalar fixed threshold: its fastest
  configuration); ``spikingjelly-learnable``: a per-neuron learnable-threshold node on its ``BaseNode``.

Every library trains on the same batches: snnbench's ``mnist_digits`` (5,000 real MNIST digits, 4,000 train /
1,000 test), rate-coded by snnbench's encoder from one seeded stream. Libraries alternate: each round runs
``--steps`` steps of every library in turn; the table reports the median (and best) step over all timed steps.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    load_note,
    median,
    peak_rss_mb,
    release_free_memory,
    reset_peak_rss,
    rss_mb,
    run_settings,
    table,
)

CLASSES, POP = 10, 10

SUITE = """
name: reference-net
seed: 0
data: {dataset: mnist_digits, encoding: rate}
model:
  name: conv
  depth: 2
  width: 32
  fc_width: 256
  population: 10
  dropout: 0.5
  neuron: {tau: 0.5, theta_init: 2.0, surrogate: arctan, alpha: 2.0, threshold: neuron}
train: {variant: stl, batch_size: 50, lr: 1.0e-3, loss: mse}
"""

# What `snnbench run suites/paper_mnist.yaml` tells the LIF path choice for each cell (runner.cell.lif_calls): 100
# epochs of 60,000 / 50 training batches; 101 test passes of 10,000 / 100 samples
PAPER_MNIST_CALLS = {"train": 100 * 1200, "infer": 101 * 100}

SNNBENCH = {  # name -> (suite overrides, LIF path policy or None for the run's default)
    "snnbench": ([], None),
    "snnbench-per-sample": (["model.dropout_mask=per_sample"], None),
    "snnbench-eager": ([], "never"),
    "snnbench-compiled": ([], "always"),
    "snnbench-bf16": (["model.precision=bf16"], None),
}
DEFAULT_LIBS = ["snnbench", "snnbench-per-sample", "snntorch", "spikingjelly", "spikingjelly-learnable"]
# Dropout semantics: one mask per sample for all steps, or a fresh one per step (moves one-epoch accuracy ~2 points)
DROPOUT_MASK = {
    "snnbench": "per step",
    "snnbench-per-sample": "per sample",
    "snnbench-eager": "per step",
    "snnbench-compiled": "per step",
    "snnbench-bf16": "per step",
    "snntorch": "per step",
    "spikingjelly": "per sample",
    "spikingjelly-learnable": "per sample",
}


def load_spec(T: int, overrides: list[str]):
    """The reference cell's spec, through snnbench's suite loader (``-o`` overrides as on the command line)."""
    from snnbench.suite import load_suite

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference-net.yaml"
        path.write_text(SUITE)
        suite = load_suite(path, [f"data.T={T}", *overrides])
    (cell,) = suite.cells
    return cell.spec


class Library:
    """A model, its optimiser and its training step: ``step(x_seq, labels) -> loss``."""

    def __init__(self, name: str, model, optimizer, loss, policy: str | None = None) -> None:
        self.name, self.model, self.optimizer, self.loss, self.policy = name, model, optimizer, loss, policy

    @contextlib.contextmanager
    def lif_policy(self):
        from snnbench.neurons.backends import dispatch

        before = dispatch.policy()
        dispatch.set_policy(self.policy or before)
        try:
            yield
        finally:
            dispatch.set_policy(before)

    def step(self, x_seq, labels) -> float:
        """The body of snnbench's ``train_epoch`` (the same for the peers)."""
        with self.lif_policy():
            loss = self.loss(self.model(x_seq), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            return float(loss.detach())

    def predict(self, x_seq):
        import torch

        with self.lif_policy(), torch.no_grad():
            return self.model(x_seq).argmax(1)


def build_snnbench(name: str, T: int, device) -> Library:
    from snnbench.data import dataset_info
    from snnbench.models import create_model
    from snnbench.train.loss import loss_fn
    from snnbench.train.optim import build_optimizer
    from snnbench.train.variants import apply_variant

    overrides, policy = SNNBENCH[name]
    spec = load_spec(T, overrides)
    model = create_model(spec.model, dataset_info(spec.data.dataset)).to(device)
    optimizer = build_optimizer(apply_variant(model, spec.train.variant, spec.train.bn_affine), spec.train)
    return Library(name, model, optimizer, lambda rates, y: loss_fn(rates, y, spec.train.loss), policy)


def readout(spikes_tb100):
    T, B = spikes_tb100.shape[:2]
    return spikes_tb100.reshape(T, B, CLASSES, POP).mean(dim=(0, 3))


def build_snntorch(T: int):
    import snntorch as snn
    import torch
    from peers import THETA_INIT
    from snntorch import surrogate
    from torch import nn

    def leaky(shape):
        return snn.Leaky(
            beta=0.5,
            threshold=torch.full(shape, THETA_INIT),
            learn_threshold=True,
            reset_mechanism="zero",
            spike_grad=surrogate.atan(alpha=2.0),
        )

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.bn1, self.lif1 = nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), leaky((32, 28, 28))
            self.conv2, self.bn2, self.lif2 = nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), leaky((32, 14, 14))
            self.drop1, self.fc1, self.lif3 = nn.Dropout(0.5), nn.Linear(1568, 256), leaky((256,))
            self.drop2, self.fc2, self.lif4 = nn.Dropout(0.5), nn.Linear(256, CLASSES * POP), leaky((CLASSES * POP,))
            self.pool = nn.MaxPool2d(2)

        def forward(self, x_seq):
            mems = [lif.reset_mem() for lif in (self.lif1, self.lif2, self.lif3, self.lif4)]
            out = []
            for x in x_seq:
                s, mems[0] = self.lif1(self.bn1(self.conv1(x)), mems[0])
                s, mems[1] = self.lif2(self.bn2(self.conv2(self.pool(s))), mems[1])
                s, mems[2] = self.lif3(self.fc1(self.drop1(self.pool(s).flatten(1))), mems[2])
                s, mems[3] = self.lif4(self.fc2(self.drop2(s)), mems[3])
                out.append(s)
            return readout(torch.stack(out))

    return Net()


def build_spikingjelly(T: int, learnable: bool = False):
    import peers
    from spikingjelly.activation_based import functional, layer
    from torch import nn

    def node(shape):
        return peers.spikingjelly_learnable_lif(shape) if learnable else peers.spikingjelly_lif(shape)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                layer.Conv2d(1, 32, 3, padding=1, step_mode="m"),
                layer.BatchNorm2d(32, step_mode="m"),
                node((32, 28, 28)),
                layer.MaxPool2d(2, step_mode="m"),
                layer.Conv2d(32, 32, 3, padding=1, step_mode="m"),
                layer.BatchNorm2d(32, step_mode="m"),
                node((32, 14, 14)),
                layer.MaxPool2d(2, step_mode="m"),
                layer.Flatten(step_mode="m"),
                layer.Dropout(0.5, step_mode="m"),
                layer.Linear(1568, 256, step_mode="m"),
                node((256,)),
                layer.Dropout(0.5, step_mode="m"),
                layer.Linear(256, CLASSES * POP, step_mode="m"),
                node((CLASSES * POP,)),
            )

        def forward(self, x_seq):
            functional.reset_net(self)
            return readout(self.body(x_seq))

    return Net()


PEERS = {
    "snntorch": build_snntorch,
    "spikingjelly": build_spikingjelly,
    "spikingjelly-learnable": lambda T: build_spikingjelly(T, learnable=True),
}
LIBRARIES = [*SNNBENCH, *PEERS]


def build(name: str, T: int, device, seed: int = 0) -> Library:
    """A fresh library from ``seed``. The peers get ``torch.optim.Adam`` (lr 1e-3, every parameter) and MSE."""
    import torch

    torch.manual_seed(seed)
    if name in SNNBENCH:
        return build_snnbench(name, T, device)
    model = PEERS[name](T).to(device)

    def mse(rates, y):
        return torch.nn.functional.mse_loss(rates, torch.nn.functional.one_hot(y, CLASSES).to(rates.dtype))

    return Library(name, model, torch.optim.Adam(model.parameters(), lr=1e-3), mse)


class Batches:
    """Rate-coded batches of ``mnist_digits`` from snnbench's own loader and encoder, the same for every library."""

    def __init__(self, T: int, device, seed: int = 0) -> None:
        import torch

        from snnbench.data import load_data

        self.spec = load_spec(T, [])
        self.bundle = load_data(self.spec.data, seed)
        self.device, self.T = device, T
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def split(self, split: str, seed: int = 0):
        """``(x_seq, labels)`` batches of a split in the order a training epoch (or the test pass) takes them."""
        loader = self.bundle.loader(split, self.spec.train.batch_size, shuffle=split == "train", seed=seed)
        for x, y in loader:
            x, y = x.to(self.device), y.to(self.device)
            yield self.bundle.to_input(x, self.generator), y

    def forever(self):
        epoch = 0
        while True:
            yield from self.split("train", seed=epoch)
            epoch += 1


def step_peak_memory_mb(lib: Library, batches, device: str, steps: int = 2) -> float:
    """Peak memory growth over the resident baseline during ``steps`` training steps: RSS on the CPU (after returning
    free heap to the OS), allocated CUDA memory on a GPU."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(steps):
            lib.step(*next(batches))
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    release_free_memory()
    base = rss_mb()
    reset_peak_rss()
    for _ in range(steps):
        lib.step(*next(batches))
    return peak_rss_mb() - base


def one_epoch_accuracy(name: str, T: int, device, seed: int) -> float:
    """Train a fresh ``name`` for one epoch of the training split (order and coding from ``seed``); test accuracy."""
    lib = build(name, T, device, seed)
    data = Batches(T, device, seed=1000 + seed)
    lib.model.train()
    for x, y in data.split("train", seed=seed):
        lib.step(x, y)
    lib.model.eval()
    correct = total = 0
    for x, y in data.split("test"):
        correct += int((lib.predict(x) == y).sum())
        total += len(y)
    return correct / total


def print_epoch_accuracy(libs: list[str], T: int, device, n_seeds: int) -> None:
    """One-epoch test accuracy: mean and std over seeds, and each peer's gap to snnbench with the same dropout mask."""
    acc: dict[str, list[float]] = {n: [] for n in libs}
    from snnbench.neurons.backends.dispatch import expected_calls

    for seed in range(n_seeds):  # libraries alternate within each seed
        for n in libs:
            with expected_calls(**PAPER_MNIST_CALLS):
                acc[n].append(100 * one_epoch_accuracy(n, T, device, seed))
    mean = {n: statistics.mean(a) for n, a in acc.items()}
    twin = {DROPOUT_MASK[n]: n for n in ("snnbench-per-sample", "snnbench") if n in acc}  # mask -> snnbench
    rows = []
    for n in libs:
        std = statistics.stdev(acc[n]) if len(acc[n]) > 1 else float("nan")
        ours = twin.get(DROPOUT_MASK[n])
        gap = f"{mean[ours] - mean[n]:+.2f}" if ours and n in PEERS else ""
        rows.append([n, DROPOUT_MASK[n], f"{mean[n]:.2f}", f"{std:.2f}", gap, " ".join(f"{a:.1f}" for a in acc[n])])
    print(f"\nT={T}  one epoch (4,000 samples, batch 50), test on 1,000 held out, {n_seeds} seeds")
    headers = ["library", "dropout mask", "test accuracy %", "std", "snnbench (same mask) minus peer", "per seed"]
    print(table(headers, rows))


def print_lif_paths() -> None:
    from snnbench.neurons.backends.dispatch import paths_used

    used = paths_used()
    if used:
        print("snnbench LIF paths (measured on this machine, or recorded from an earlier run):")
        for signature, path in sorted(used.items()):
            print(f"  {path:8s} {signature}")


def run_T(T: int, libs: list[str], args) -> None:
    from snnbench.neurons.backends.dispatch import expected_calls, reset_paths_used

    reset_paths_used()
    with expected_calls(**PAPER_MNIST_CALLS):
        _run_T(T, libs, args)


def _run_T(T: int, libs: list[str], args) -> None:
    batches = Batches(T, args.device).forever()
    built = {name: build(name, T, args.device) for name in libs}
    setup = {}
    for name, lib in built.items():
        lib.model.train()
        t0 = time.perf_counter()
        for _ in range(args.warmup):
            lib.step(*next(batches))
        setup[name] = time.perf_counter() - t0
    times: dict[str, list[float]] = {n: [] for n in libs}
    losses = dict.fromkeys(libs, float("nan"))
    for _ in range(args.rounds):
        for name, lib in built.items():
            for _ in range(args.steps):
                x, y = next(batches)
                t0 = time.perf_counter()
                losses[name] = lib.step(x, y)
                times[name].append(time.perf_counter() - t0)
    peaks = {name: step_peak_memory_mb(lib, batches, args.device) for name, lib in built.items()}
    print_lif_paths()

    tput = {n: 50 / median(times[n]) for n in libs}
    memory = "step peak CUDA MiB" if args.device.startswith("cuda") else "step peak RSS MiB"
    headers = ["library", "samples/s", "step ms", "best ms", memory, "warm-up s", "last loss"]
    rows = [
        [n, f"{tput[n]:.0f}", f"{median(times[n]) * 1e3:.1f}", f"{min(times[n]) * 1e3:.1f}", f"{peaks[n]:.0f}",
         f"{setup[n]:.1f}", f"{losses[n]:.4f}"]
        for n in libs
    ]  # fmt: skip
    print(f"\nT={T}  ({args.rounds} rounds x {args.steps} steps, alternating; median step; {load_note()})")
    print(table(headers, rows))
    ours = [n for n in libs if n in SNNBENCH]
    peers = [n for n in libs if n in PEERS]
    if ours and peers:
        fastest = max(peers, key=lambda n: tput[n])
        k = args.steps

        def per_round(n):
            return [median(times[n][r * k : (r + 1) * k]) for r in range(args.rounds)]

        for n in ours:
            ratios = [b / a for a, b in zip(per_round(n), per_round(fastest), strict=True)]
            print(
                f"{n} / fastest peer ({fastest}): {tput[n] / tput[fastest]:.2f}x (medians over all steps), "
                f"{median(ratios):.2f}x (median of per-round ratios)"
            )
    built.clear()
    gc.collect()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--libs", nargs="+", default=None, help=f"subset of {LIBRARIES} (default: {DEFAULT_LIBS})")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per T")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps per library per round")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per library (path trials, compiles)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (timing includes a sync: the loss's float())")
    ap.add_argument(
        "--epoch-seeds", type=int, default=0, metavar="N", help="also train every library one epoch from N seeds"
    )
    args = ap.parse_args(argv)

    import peers
    import torch

    have = set(peers.available_peers())
    libs = args.libs or [n for n in DEFAULT_LIBS if n in SNNBENCH or n.split("-")[0] in have]
    unknown = [n for n in libs if n not in LIBRARIES]
    if unknown:
        ap.error(f"unknown --libs {unknown}; choose from {LIBRARIES}")
    print(f"{run_settings()}; torch {torch.__version__}; peers {peers.versions()}; device {args.device}")
    for T in args.T:
        run_T(T, libs, args)
        if args.epoch_seeds:
            print_epoch_accuracy(libs, T, args.device, args.epoch_seeds)


if __name__ == "__main__":
    main()
