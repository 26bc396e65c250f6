"""Epoch time of an event dataset without the frame cache, with a cold cache and with a warm one.

    python benchmarks/frame_cache.py                          # dvs_digits train split (4,000), T = 8, batch 64
    python benchmarks/frame_cache.py --subset 1000 --T 16 --binning count --workers 2

An epoch is one pass over a DataLoader of the split (no model). ``no cache`` reads and bins every sample each
epoch; ``cold`` is the first epoch with an empty cache (read, bin and write every entry); ``warm`` is a later epoch
(every entry read from disk), measured on a fresh dataset object as a new run would see it. The cache lives in a
temporary directory unless ``--cache-dir`` is given; dataset construction (e.g. loading the digits) is not timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from snnbench.data import dataset_info, load_data
from snnbench.suite.schema import DataSpec


def epoch_seconds(spec: DataSpec, batch: int, workers: int) -> float:
    bundle = load_data(spec, seed=0)
    loader = bundle.loader("train", batch_size=batch, num_workers=workers)
    start = time.perf_counter()
    n = 0
    for x, _ in loader:
        n += x.shape[0]
    elapsed = time.perf_counter() - start
    assert n == len(bundle.train)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="dvs_digits")
    parser.add_argument("--root", default="data", help="data root (real event datasets need their files here)")
    parser.add_argument("--T", type=int, default=None)
    parser.add_argument("--binning", default="time", choices=("time", "count"))
    parser.add_argument("--subset", type=int, default=None, help="first n training samples (default: all)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="warm epochs to take the median of")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="snnbench-frame-cache-") as tmp:
        cache_dir = args.cache_dir or tmp
        common = dict(dataset=args.dataset, root=args.root, T=args.T, binning=args.binning, train_subset=args.subset)
        load_data(DataSpec(**common, cache=False), seed=0)  # load sources (e.g. the digits) before timing
        no_cache = epoch_seconds(DataSpec(**common, cache=False), args.batch, args.workers)
        cached = DataSpec(**common, cache=True, cache_dir=cache_dir)
        cold = epoch_seconds(cached, args.batch, args.workers)
        warm = statistics.median(epoch_seconds(cached, args.batch, args.workers) for _ in range(args.rounds))
        size = sum(e.stat().st_size for e in os.scandir(next(os.scandir(cache_dir)).path) if e.is_file())

    n = args.subset or "all"
    T = args.T or dataset_info(args.dataset).default_T
    print(
        f"{args.dataset}: train split ({n} samples), T={T}, binning={args.binning}, "
        f"batch {args.batch}, {args.workers} workers, 1 torch thread, cache {size / 2**20:.1f} MiB"
    )
    print(f"{'no cache':>10}: {no_cache:7.2f} s/epoch")
    print(f"{'cold':>10}: {cold:7.2f} s/epoch  ({cold / no_cache:.2f}x no cache)")
    print(f"{'warm':>10}: {warm:7.2f} s/epoch  (median of {args.rounds}; {no_cache / warm:.1f}x faster than no cache)")


if __name__ == "__main__":
    main()
