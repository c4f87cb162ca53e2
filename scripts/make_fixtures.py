#!/usr/bin/env python3
"""Writes PyTorch reference numbers for liven's tests into __test__/fixtures/.

Run with Debian's PyTorch (`apt-get install python3-torch`): `npm run fixtures`.
The JSON files are committed, so the tests (and CI) need no Python.

Each case records a layer's constructor options, its input (and parameters), a random
gradient of the output, and PyTorch's output, input gradient and parameter gradients.
Tensors are {"shape": [...], "data": [...]} in row-major order; float32 values are written
as the exact decimal of their float64 widening.
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), '..', '__test__', 'fixtures')


def t(x):
    x = x.detach().to(torch.float32).contiguous()
    return {'shape': list(x.shape), 'data': [float(v) for v in x.flatten().tolist()]}


def sample(shape, gen):
    """Values in [-2, 2) with some exact zeros, where activations have their kink."""
    x = torch.rand(shape, generator=gen) * 4 - 2
    flat = x.view(-1)
    flat[::7] = 0.0
    return x


def case(name, module, options, shape, gen, params=None):
    """Runs `module` forward and backward on a sampled input and records everything."""
    if params:
        with torch.no_grad():
            for pname, value in params.items():
                getattr(module, pname).copy_(value)
    x = sample(shape, gen).requires_grad_(True)
    y = module(x)
    gy = torch.randn(y.shape, generator=gen)
    y.backward(gy)
    out = {
        'name': name,
        'module': type(module).__name__,
        'options': options,
        'input': t(x),
        'gradOutput': t(gy),
        'output': t(y),
        'gradInput': t(x.grad),
        'params': {n: t(p) for n, p in module.named_parameters()},
        'paramGrads': {n: t(p.grad) for n, p in module.named_parameters()},
    }
    return out


def activations():
    gen = torch.Generator().manual_seed(1234)
    nn = torch.nn
    cases = [
        case('relu 4-D', nn.ReLU(), {}, (2, 3, 4, 5), gen),
        case('relu 1-D', nn.ReLU(), {}, (37,), gen),
        case('leaky relu default slope', nn.LeakyReLU(), {}, (4, 9), gen),
        case('leaky relu slope 0.2', nn.LeakyReLU(0.2), {'negativeSlope': 0.2}, (2, 3, 4, 5), gen),
        case('prelu one slope 4-D', nn.PReLU(), {}, (2, 3, 4, 5), gen),
        case('prelu one slope, init 0.1', nn.PReLU(init=0.1), {'init': 0.1}, (3, 7), gen),
        case('prelu per channel [N, C]', nn.PReLU(5), {'numParameters': 5}, (6, 5), gen,
             {'weight': torch.tensor([0.1, 0.2, 0.3, -0.4, 0.5])}),
        case('prelu per channel [N, C, L]', nn.PReLU(3), {'numParameters': 3}, (2, 3, 11), gen,
             {'weight': torch.tensor([0.05, 0.25, 0.6])}),
        case('prelu per channel 4-D', nn.PReLU(4), {'numParameters': 4}, (3, 4, 5, 6), gen,
             {'weight': torch.tensor([0.3, 0.01, 0.25, 1.5])}),
        case('flatten 4-D', nn.Flatten(), {}, (2, 3, 4, 5), gen),
    ]
    return {'torch': torch.__version__, 'cases': cases}


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, 'w') as f:
        json.dump(data, f, separators=(',', ':'))
        f.write('\n')
    print('wrote', os.path.relpath(path))


if __name__ == '__main__':
    torch.set_num_threads(1)
    write('activations.json', activations())
