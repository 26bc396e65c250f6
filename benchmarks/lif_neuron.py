"""Neuron-only microbenchmark: one LIF layer, forward + backward over T steps, snnbench vs peers.

    python benchmarks/lif_neuron.py                      # batch 32 x 128x16x16 neurons, T = 4 and 8, 2 threads
    python benchmarks/lif_neuron.py --T 4 --rounds 9 --libs snnbench-fused snntorch
    python benchmarks/lif_neuron.py --device cuda --T 8 32 --batch 64 --shape 128 32 32    # 8.4 M neurons, GPU

Each round runs every library once (alternating, so load from other processes hits all of them alike); the
table shows the median over rounds. ``saved MiB`` is what the autograd graph keeps for backward (counted with
``saved_tensors_hooks``, unique storages); ``1st call s`` includes compiling the fused kernels.
The input requires grad and the threshold is a learnable per-neuron parameter (except SpikingJelly's stock
``LIFNode``, whose threshold is a fixed scalar).

``GB/s`` is the effective memory bandwidth: the least traffic any fused LIF forward + backward with a learnable
threshold needs, 24 bytes per neuron and step in fp32 (forward reads I and writes s and u - theta; backward reads
dL/ds and u - theta and writes dL/dI), over the measured time; ``% of copy`` relates it to a device-to-device copy
of 1 GiB on the same device (bytes read + written), the practical peak.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import load_note, median, run_settings, table  # noqa: E402


def saved_bytes(fn) -> int:
    """Bytes of unique storages autograd saves while running ``fn``."""
    import torch

    seen: dict[int, int] = {}

    def pack(t):
        try:
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
        except Exception:
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


MIN_BYTES_PER_NEURON_STEP = 24  # fp32: forward I -> s, z; backward dL/ds, z -> dL/dI


def copy_bandwidth_gbs(device, sync, nbytes: int = 1 << 30, reps: int = 5) -> float:
    """Device-to-device copy bandwidth, bytes read + written per second / 1e9 (median of ``reps``)."""
    import torch

    src = torch.empty(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    times = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        dst.copy_(src)
        sync()
        times.append(time.perf_counter() - t0)
    return 2 * nbytes / median(times) / 1e9


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({os.cpu_count()} logical cores)"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--shape", type=int, nargs="+", default=[128, 16, 16], help="features of one sample")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--libs", nargs="+", default=None, help="subset of libraries (default: all importable)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--warmup", type=int, default=5, help="untimed calls per library after the first")
    args = ap.parse_args(argv)

    import peers
    import torch

    settings = run_settings(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    have = set(peers.available_peers())
    libs = args.libs or [
        n
        for n in peers.LIF_FACTORIES
        if (not n.startswith(("snntorch", "spikingjelly")) or n.split("-")[0] in have)
        and (cuda or n != "snnbench-triton")
    ]
    shape = tuple(args.shape)
    neurons = args.batch * torch.Size(shape).numel()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    copy_gbs = copy_bandwidth_gbs(device, sync)
    print(f"{settings}; torch {torch.__version__}; peers {peers.versions()}")
    print(f"device {device_name(device)}: 1 GiB copy {copy_gbs:.0f} GB/s (read + write)")
    print(f"layer: batch {args.batch} x {shape} = {neurons:,} neurons; {load_note()}")

    for T in args.T:
        gen = torch.Generator().manual_seed(0)
        x = (torch.randn(T, args.batch, *shape, generator=gen) + 0.6).to(device)
        grad = torch.randn(T, args.batch, *shape, generator=gen).to(device)
        mods = {n: peers.LIF_FACTORIES[n](shape).to(device) for n in libs}

        def step(name, mods=mods, x=x, grad=grad):
            m = mods[name]
            peers.reset_state(m)
            xs = x.detach().requires_grad_()
            out = m(xs)
            out.backward(grad)
            sync()
            return out

        setup_s, saved, times = {}, {}, {n: [] for n in libs}
        for n in libs:  # warm-up (includes torch.compile of the fused kernels)
            t0 = time.perf_counter()
            step(n)
            setup_s[n] = time.perf_counter() - t0
            for _ in range(args.warmup):  # the first calls after a compile are still slow
                step(n)
            saved[n] = saved_bytes(lambda n=n: step(n)) / 2**20
        for _ in range(args.rounds):
            for n in libs:
                gc.collect()
                sync()
                t0 = time.perf_counter()
                step(n)
                times[n].append(time.perf_counter() - t0)
        ref = median(times["snnbench-reference"]) if "snnbench-reference" in times else None
        fused = median(times["snnbench-fused"]) if "snnbench-fused" in times else None
        rows = []
        for n in libs:
            t = median(times[n])
            gbs = MIN_BYTES_PER_NEURON_STEP * neurons * T / t / 1e9
            rows.append(
                [
                    n,
                    f"{t * 1e3:.2f}",
                    f"{ref / t:.2f}x" if ref else "-",
                    f"{t / fused:.2f}x" if fused else "-",
                    f"{gbs:.0f}",
                    f"{100 * gbs / copy_gbs:.0f}%",
                    f"{saved[n]:.0f}",
                    f"{setup_s[n]:.1f}",
                ]
            )
        print(f"\nT={T}  (median of {args.rounds} alternating rounds; {load_note()})")
        headers = ["library", "fwd+bwd ms", "speed vs reference", "fused is faster by", "GB/s", "% of copy"]
        print(table([*headers, "saved MiB", "1st call s"], rows))


if __name__ == "__main__":
    main()
