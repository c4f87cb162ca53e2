#!/usr/bin/env python3
"""PyTorch's times for the Linear and Conv2d benchmark shapes, for benches/suites/{linear,conv}.js.

Usage: torch_linear_conv.py THREADS CASES_JSON [ROUNDS]
CASES_JSON is a list of {"name", "layer": "linear"|"conv", "pass": "forward"|"forward+backward", ...}
with the layer's sizes (linear: rows, inFeatures, outFeatures; conv: batch, inChannels, height,
width, outChannels, kernel, padding). Prints {"torch": version, "times": {name: median seconds}}.
Run by the suites with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (or set, for the second
column), and OPENBLAS_NUM_THREADS = THREADS, so that OpenBLAS and oneDNN use THREADS threads.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def timer(fn, min_seconds):
    """Median seconds per call over samples of enough calls to last ~min_seconds each."""
    fn()
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        if time.perf_counter() - t0 >= min_seconds / 5 or reps >= 1 << 16:
            break
        reps *= 2
    samples = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        samples.append((time.perf_counter() - t0) / reps)
    samples.sort()
    return samples[len(samples) // 2]


def make(case):
    g = torch.Generator().manual_seed(1)
    backward = case['pass'] == 'forward+backward'
    if case['layer'] == 'linear':
        x = torch.rand(case['rows'], case['inFeatures'], generator=g) * 2 - 1
        m = torch.nn.Linear(case['inFeatures'], case['outFeatures'])
    else:
        x = torch.rand(case['batch'], case['inChannels'], case['height'], case['width'], generator=g) * 2 - 1
        m = torch.nn.Conv2d(case['inChannels'], case['outChannels'], case['kernel'], padding=case['padding'])
    if not backward:
        def forward():
            with torch.no_grad():
                m(x)
        return forward
    x.requires_grad_(True)
    with torch.no_grad():
        gy = torch.randn(m(x).shape, generator=g)

    def step():
        y = m(x)
        y.backward(gy)  # accumulates into x.grad and the parameters' .grad, as liven's backward does
    return step


def main():
    threads = int(sys.argv[1])
    cases = json.loads(sys.argv[2])
    min_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
    torch.set_num_threads(threads)
    times = {c['name']: timer(make(c), min_seconds) for c in cases}
    print(json.dumps({'torch': torch.__version__, 'times': times}))


if __name__ == '__main__':
    main()
