#!/usr/bin/env python3
"""PyTorch's times for benches/suites/pool.js: the same shapes, forward+backward, at the thread
count given by --threads. Prints one JSON object {name: median seconds per call}.

Calls the ATen kernels directly (the ones autograd would run), on preallocated inputs, so that
the comparison is kernel against kernel. Run with Debian's PyTorch: /usr/bin/python3.
"""
import argparse
import json
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument('--threads', type=int, default=1)
parser.add_argument('--quick', action='store_true')
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
aten = torch.ops.aten


def median_time(fn, quick):
    fn()
    reps = 1
    while True:  # calls per sample: about 20 ms (2 ms in quick mode)
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        if time.perf_counter() - t0 >= (0.002 if quick else 0.02):
            break
        reps *= 2
    samples = []
    for _ in range(3 if quick else 15):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        samples.append((time.perf_counter() - t0) / reps)
    samples.sort()
    return samples[len(samples) // 2]


x = torch.randn(32, 64, 56, 56)
k, s, p, d = [3, 3], [2, 2], [1, 1], [1, 1]
gy = torch.randn(32, 64, 28, 28)


def maxpool():
    y, idx = aten.max_pool2d_with_indices(x, k, s, p, d, False)
    aten.max_pool2d_with_indices_backward(gy, x, k, s, p, d, False, idx)


def avgpool():
    aten.avg_pool2d(x, k, s, p, False, True, None)
    aten.avg_pool2d_backward(gy, x, k, s, p, False, True, None)


def avgpool2():
    aten.avg_pool2d(x, [2, 2], [2, 2], [0, 0], False, True, None)
    aten.avg_pool2d_backward(gy, x, [2, 2], [2, 2], [0, 0], False, True, None)


g2 = torch.randn(32, 64)


def global_avg():
    # What nn.AdaptiveAvgPool2d(1) + flatten runs for a 1×1 output: a mean, and its backward.
    x.mean((2, 3))
    (g2 / (56 * 56)).view(32, 64, 1, 1).expand_as(x).contiguous()


logits = torch.randn(4096, 1000) * 3
gs = torch.randn(4096, 1000)


def softmax():
    y = aten._softmax(logits, -1, False)
    aten._softmax_backward_data(gs, y, -1, torch.float32)


def log_softmax():
    y = aten._log_softmax(logits, -1, False)
    aten._log_softmax_backward_data(gs, y, -1, torch.float32)


target = torch.randint(0, 1000, (4096,))


def cross_entropy():
    lg = logits.detach().requires_grad_(True)
    torch.nn.functional.cross_entropy(lg, target, label_smoothing=0.1).backward()


def copy():
    out.copy_(x)


out = torch.empty_like(x)
cases = {
    'MaxPool2d 3x3/2 pad 1': maxpool,
    'AvgPool2d 3x3/2 pad 1': avgpool,
    'AvgPool2d 2x2/2': avgpool2,
    'GlobalAvgPool2d': global_avg,
    'Softmax [4096, 1000]': softmax,
    'LogSoftmax [4096, 1000]': log_softmax,
    'CrossEntropyLoss [4096, 1000], smoothing 0.1': cross_entropy,
    'copy [32, 64, 56, 56]': copy,
}
times = {name: median_time(fn, args.quick) for name, fn in cases.items()}
# CPU time of this process per call, the best of 5 batches (see cpuTime in pool.js).
for name, fn in cases.items():
    reps = max(1, int(0.05 / max(times[name], 1e-6)))
    best = float('inf')
    for _ in range(2 if args.quick else 5):
        c0 = time.process_time()
        for _ in range(reps):
            fn()
        best = min(best, (time.process_time() - c0) / reps)
    times['cpu ' + name] = best
print(json.dumps(times))
