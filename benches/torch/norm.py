#!/usr/bin/env python3
"""PyTorch's BatchNorm2d and GroupNorm forward+backward on the shapes of benches/suites/norm.js.

Usage: norm.py THREADS QUICK(0|1) > JSON: {name: median seconds per call}, with a plain copy
of the input (`out.copy_(x)`) as this process's bandwidth reference. The contenders run
interleaved, one call each per round, so load on a shared machine hits them alike.
Gradients come from torch.autograd.grad, so nothing accumulates into .grad between calls.
"""
import json
import sys
import time

import torch


def main():
    threads, quick = int(sys.argv[1]), sys.argv[2] == '1'
    torch.set_num_threads(threads)
    shape = (8, 64, 28, 28) if quick else (32, 64, 56, 56)
    rounds = 5 if quick else 25
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).requires_grad_(True)
    gy = torch.randn(shape, generator=gen)
    out = torch.empty(shape)
    contenders = {}
    for name, m in [('BatchNorm2d', torch.nn.BatchNorm2d(64).train()), ('GroupNorm(32)', torch.nn.GroupNorm(32, 64))]:
        inputs = [x, *m.parameters()]

        def step(m=m, inputs=inputs):
            torch.autograd.grad(m(x), inputs, gy)

        contenders[name] = step
    xd = x.detach()
    contenders['copy'] = lambda: out.copy_(xd)
    times = {name: [] for name in contenders}
    for r in range(rounds + 2):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            if r >= 2:  # two warm-up rounds
                times[name].append(time.perf_counter() - t0)
    result = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'shape': list(shape)}
    for name, ts in times.items():
        result[name] = sorted(ts)[len(ts) // 2]
    print(json.dumps(result))


if __name__ == '__main__':
    main()
