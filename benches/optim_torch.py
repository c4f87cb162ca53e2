#!/usr/bin/env python3
"""PyTorch's optimiser steps on one 10M-parameter tensor, for BENCHMARKS.md's comparison with
`npm run bench -- optim`: `/usr/bin/python3 benches/optim_torch.py [threads]` (default 2).
Medians of per-call times, as the harness reports."""
import statistics
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
n = 10_000_000
p = torch.nn.Parameter(torch.rand(n) * 2 - 1)
p.grad = (torch.rand(n) * 2 - 1) * 1e-3
copy_dst = torch.empty(n)


def median_time(fn, reps=30):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


cases = {
    'Adam step (single-tensor, foreach=False)': torch.optim.Adam([p], foreach=False).step,
    'Adam step (foreach=True)': torch.optim.Adam([p], foreach=True).step,
    'AdamW step (foreach=False)': torch.optim.AdamW([p], foreach=False).step,
    'SGD momentum step (foreach=False)': torch.optim.SGD([p], lr=1e-3, momentum=0.9, foreach=False).step,
    'copy (bandwidth reference)': lambda: copy_dst.copy_(p.detach()),
}
print(f'torch {torch.__version__}, {threads} threads, {n:,} parameters')
for name, fn in cases.items():
    with torch.no_grad():
        print(f'{name}: {median_time(fn) * 1e3:.2f} ms')
