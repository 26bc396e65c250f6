"""Neuron-only microbenchmark: one LIF layer, forward + backward over T steps, snnbench vs peers.

    python benchmarks/lif_neuron.py                      # batch 32 x 128x16x16 neurons, T = 4 and 8, 2 threads
    python benchmarks/lif_neuron.py --T 4 --rounds 9 --libs snnbench-fused snntorch

Each round runs every library once (alternating, so load from other processes hits all of them alike); the
table shows the median over rounds. ``saved MiB`` is what the autograd graph keeps for backward (counted with
``saved_tensors_hooks``, unique storages); ``1st call s`` includes compiling the fused kernels.
The input requires grad and the threshold is a learnable per-neuron parameter (except SpikingJelly's stock
``LIFNode``, whose threshold is a fixed scalar).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

os.environ.setdefault("SNNBENCH_LIF_COMPILE", "1")  # the compiled kernels are what is measured here, on CPU too

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import load_note, malloc_note, median, reexec_with_malloc_env, table  # noqa: E402


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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--shape", type=int, nargs="+", default=[128, 16, 16], help="features of one sample")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--libs", nargs="+", default=None, help="subset of libraries (default: all importable)")
    ap.add_argument("--no-malloc-env", action="store_true", help="keep glibc's default malloc settings")
    args = ap.parse_args(argv)
    reexec_with_malloc_env(not args.no_malloc_env)

    import peers
    import torch

    torch.set_num_threads(args.threads)
    have = set(peers.available_peers())
    libs = args.libs or [
        n for n in peers.LIF_FACTORIES if not n.startswith(("snntorch", "spikingjelly")) or n.split("-")[0] in have
    ]
    shape = tuple(args.shape)
    print(f"torch {torch.__version__}, peers {peers.versions()}, threads {torch.get_num_threads()}, {malloc_note()}")
    print(f"layer: batch {args.batch} x {shape} = {args.batch * torch.Size(shape).numel():,} neurons; {load_note()}")

    for T in args.T:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(T, args.batch, *shape, generator=gen) + 0.6
        grad = torch.randn(T, args.batch, *shape, generator=gen)
        mods = {n: peers.LIF_FACTORIES[n](shape) for n in libs}

        def step(name, mods=mods, x=x, grad=grad):
            m = mods[name]
            peers.reset_state(m)
            xs = x.detach().requires_grad_()
            out = m(xs)
            out.backward(grad)
            return out

        setup_s, saved, times = {}, {}, {n: [] for n in libs}
        for n in libs:  # warm-up (includes torch.compile of the fused kernels)
            t0 = time.perf_counter()
            step(n)
            setup_s[n] = time.perf_counter() - t0
            step(n)
            saved[n] = saved_bytes(lambda n=n: step(n)) / 2**20
        for _ in range(args.rounds):
            for n in libs:
                gc.collect()
                t0 = time.perf_counter()
                step(n)
                times[n].append(time.perf_counter() - t0)
        ref = median(times["snnbench-reference"]) if "snnbench-reference" in times else None
        fused = median(times["snnbench-fused"]) if "snnbench-fused" in times else None
        rows = []
        for n in libs:
            ms = median(times[n]) * 1e3
            rows.append(
                [
                    n,
                    f"{ms:.1f}",
                    f"{ref / median(times[n]):.2f}x" if ref else "-",
                    f"{median(times[n]) / fused:.2f}x" if fused else "-",
                    f"{saved[n]:.0f}",
                    f"{setup_s[n]:.1f}",
                ]
            )
        print(f"\nT={T}  (median of {args.rounds} alternating rounds; {load_note()})")
        print(
            table(
                ["library", "fwd+bwd ms", "speed vs reference", "fused is faster by", "saved MiB", "1st call s"],
                rows,
            )
        )


if __name__ == "__main__":
    main()
