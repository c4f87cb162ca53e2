#!/usr/bin/env python3
"""One ResNet-18 training step in PyTorch, as benches/suites/resnet.js times liven's:
torchvision's resnet18(num_classes=10), a batch of 16 images 3x32x32, cross-entropy, backward,
SGD with momentum 0.9 (zero_grad, forward, loss, backward, step).

Usage: resnet.py THREADS QUICK(0|1) > JSON: {"step": median seconds per step, ...}.
"""
import json
import sys
import time

import torch
import torchvision


def main():
    threads, quick = int(sys.argv[1]), sys.argv[2] == '1'
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(16, 3, 32, 32)
    target = torch.randint(0, 10, (16,))

    def step():
        opt.zero_grad()
        loss_fn(model(x), target).backward()
        opt.step()

    steps = 3 if quick else 30
    for _ in range(2 if quick else 5):  # warm-up
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'step': times[len(times) // 2]}))


if __name__ == '__main__':
    main()
