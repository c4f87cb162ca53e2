#!/usr/bin/env python3
"""PyTorch's BatchNorm2d and GroupNorm forward+backward on the shapes of benches/suites/norm.js.

Usage: norm.py THREADS QUICK(0|1) > JSON. Prints {name: median seconds per forward+backward}.
Gradients come from torch.autograd.grad, so nothing accumulates into .grad between calls.
"""
import json
import sys
import time

import torch


def median_time(fn, reps):
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    threads, quick = int(sys.argv[1]), sys.argv[2] == '1'
    torch.set_num_threads(threads)
    shape = (8, 64, 28, 28) if quick else (32, 64, 56, 56)
    reps = 5 if quick else 25
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).requires_grad_(True)
    gy = torch.randn(shape, generator=gen)
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'shape': list(shape)}
    for name, m in [('BatchNorm2d', torch.nn.BatchNorm2d(64).train()), ('GroupNorm(32)', torch.nn.GroupNorm(32, 64))]:
        inputs = [x, *m.parameters()]

        def step():
            y = m(x)
            torch.autograd.grad(y, inputs, gy)

        out[name] = median_time(step, reps)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
