#!/usr/bin/env python3
"""PyTorch's side of benches/suites/training.js: the same models, batch, optimiser and data,
at the same thread count. Reads the MNIST digits liven's loader exported as raw float32
(`images.f32`, `labels.i32` in the directory given) and prints images/s per model as JSON.

usage: torch_training.py DATA_DIR THREADS STEPS REPEATS
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn

data_dir, threads, steps, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
images = torch.from_numpy(np.fromfile(f'{data_dir}/images.f32', dtype=np.float32).reshape(-1, 784))
labels = torch.from_numpy(np.fromfile(f'{data_dir}/labels.i32', dtype=np.int32).astype(np.int64))
BATCH = 64


def mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10))


def images_per_second(model, shape):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    n = images.shape[0]

    def step(i):
        lo = (i * BATCH) % (n - BATCH)
        x = images[lo:lo + BATCH].reshape(shape)
        y = labels[lo:lo + BATCH]
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for i in range(5):
        step(i)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(steps):
            step(i)
        rates.append(steps * BATCH / (time.perf_counter() - t0))
    return sorted(rates)[len(rates) // 2]


print(json.dumps({
    'torch': torch.__version__,
    'mlp': images_per_second(mlp(), (-1, 784)),
    'cnn': images_per_second(cnn(), (-1, 1, 28, 28)),
}))
