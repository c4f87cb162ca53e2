#!/usr/bin/env python3
"""Writes PyTorch reference numbers for liven's tests into __test__/fixtures/.

Run with Debian's PyTorch (`apt-get install python3-torch`): `npm run fixtures`.
The JSON files are committed, so the tests (and CI) need no Python.

Each case records a layer's constructor options, its input (and parameters), a random
gradient of the output, and PyTorch's output, input gradient and parameter gradients.
Tensors are {"shape": [...], "data": [...]} in row-major order; float32 values are written
as the exact decimal of their float64 widening.
"""
import copy
import json
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), '..', '__test__', 'fixtures')


def t(x):
    x = x.detach().to(torch.float32).contiguous()
    return {'shape': list(x.shape), 'data': [float(v) for v in x.flatten().tolist()]}


def t64(x):
    """A float64 tensor, written with all its digits."""
    x = x.detach().to(torch.float64).contiguous()
    return {'shape': list(x.shape), 'data': x.flatten().tolist()}


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


class L2Norm(torch.nn.Module):
    """liven's nn.L2Norm in PyTorch terms: F.normalize along dim, times ParseNet's learned
    per-channel weight (initialised to `scale`) when there is one."""

    def __init__(self, dim=1, eps=1e-12, scale=None, num_channels=None):
        super().__init__()
        self.dim = dim
        self.eps = eps
        if scale is not None:
            self.weight = torch.nn.Parameter(torch.full((num_channels,), float(scale)))
        else:
            self.weight = None

    def forward(self, x):
        y = torch.nn.functional.normalize(x, dim=self.dim, eps=self.eps)
        if self.weight is None:
            return y
        shape = [1] * x.dim()
        shape[self.dim] = -1
        return y * self.weight.view(shape)


def norm_case(name, module, args, options, shape, gen, modes=('train',), offset=0.0, scale=2.0,
              random_affine=True, zero_at=None):
    """Runs `module` through one forward and backward per entry of `modes` ('train' / 'eval'),
    each on a fresh input, recording each step's numbers and buffers after it; the parameter
    gradients accumulate over the steps, as liven's backward adds into them."""
    with torch.no_grad():
        for pname, p in module.named_parameters():
            if random_affine:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + (1.0 if pname == 'weight' else 0.0))
    params = {n: t(p) for n, p in module.named_parameters()}
    steps = []
    grads64 = {}
    for mode in modes:
        module.train(mode == 'train')
        x = torch.randn(shape, generator=gen) * scale + offset
        if zero_at is not None:
            x[zero_at] = 0.0
        # The same step in float64 from the same state: the exact answer, which float32
        # kernels (PyTorch's included) miss by their rounding, most for inputs far from 0.
        m64 = copy.deepcopy(module).double()
        for p in m64.parameters():
            p.grad = None
        x64 = x.double().requires_grad_(True)
        x.requires_grad_(True)
        y = module(x)
        gy = torch.randn(y.shape, generator=gen)
        y.backward(gy)
        y64 = m64(x64)
        y64.backward(gy.double())
        for n, p in m64.named_parameters():
            grads64[n] = grads64.get(n, 0) + p.grad
        steps.append({
            'mode': mode,
            'input': t(x),
            'gradOutput': t(gy),
            'output': t(y),
            'gradInput': t(x.grad),
            'outputF64': t64(y64),
            'gradInputF64': t64(x64.grad),
            'buffers': {n: t(b.to(torch.float32)) for n, b in module.named_buffers()},
        })
    return {
        'name': name,
        'module': type(module).__name__,
        'args': args,
        'options': options,
        'params': params,
        'steps': steps,
        'paramGrads': {n: t(p.grad) for n, p in module.named_parameters()},
        'paramGradsF64': {n: t64(g) for n, g in grads64.items()},
    }


def norms():
    gen = torch.Generator().manual_seed(4321)
    nn = torch.nn
    te = ('train', 'train', 'train', 'eval')
    cases = [
        norm_case('bn1d [N, C], 3 train steps then eval', nn.BatchNorm1d(5), [5], {}, (8, 5), gen, te),
        norm_case('bn1d [N, C, L], 2 train steps then eval', nn.BatchNorm1d(3), [3], {}, (4, 3, 7), gen,
                  ('train', 'train', 'eval')),
        norm_case('bn1d [N, C] batch 2', nn.BatchNorm1d(3), [3], {}, (2, 3), gen),
        norm_case('bn1d affine false', nn.BatchNorm1d(4, affine=False), [4], {'affine': False}, (6, 4, 5),
                  gen, ('train', 'eval')),
        norm_case('bn1d trackRunningStats false', nn.BatchNorm1d(4, track_running_stats=False), [4],
                  {'trackRunningStats': False}, (6, 4, 3), gen, ('train', 'eval')),
        norm_case('bn1d momentum null (cumulative average)', nn.BatchNorm1d(3, momentum=None), [3],
                  {'momentum': None}, (5, 3), gen, ('train', 'train', 'train', 'eval')),
        norm_case('bn1d momentum 0.3, eps 1e-3', nn.BatchNorm1d(3, eps=1e-3, momentum=0.3), [3],
                  {'eps': 1e-3, 'momentum': 0.3}, (7, 3, 2), gen, te),
        norm_case('bn2d, 3 train steps then eval', nn.BatchNorm2d(3), [3], {}, (4, 3, 5, 6), gen, te),
        norm_case('bn2d odd shape', nn.BatchNorm2d(5), [5], {}, (3, 5, 7, 3), gen, ('train', 'eval')),
        norm_case('bn2d inputs offset by 1e3', nn.BatchNorm2d(4), [4], {}, (3, 4, 9, 11), gen,
                  ('train', 'train', 'eval'), offset=1e3, scale=1.0),
        norm_case('bn2d batch 1 with spatial values', nn.BatchNorm2d(2), [2], {}, (1, 2, 3, 3), gen),
        norm_case('bn2d affine false, trackRunningStats false',
                  nn.BatchNorm2d(3, affine=False, track_running_stats=False), [3],
                  {'affine': False, 'trackRunningStats': False}, (2, 3, 4, 4), gen, ('train', 'eval')),
        norm_case('gn 1 group', nn.GroupNorm(1, 6), [1, 6], {}, (4, 6, 5, 3), gen),
        norm_case('gn C groups', nn.GroupNorm(6, 6), [6, 6], {}, (4, 6, 5, 3), gen),
        norm_case('gn 3 groups of 2, train and eval', nn.GroupNorm(3, 6), [3, 6], {}, (4, 6, 5, 3), gen,
                  ('train', 'eval')),
        norm_case('gn [N, C, L] affine false', nn.GroupNorm(2, 4, affine=False), [2, 4], {'affine': False},
                  (3, 4, 7), gen),
        norm_case('gn [N, C], eps 1e-3', nn.GroupNorm(2, 8, eps=1e-3), [2, 8], {'eps': 1e-3}, (5, 8), gen),
        norm_case('gn inputs offset by 1e3', nn.GroupNorm(4, 8), [4, 8], {}, (2, 8, 6, 5), gen,
                  offset=1e3, scale=1.0),
        norm_case('ln over 1 trailing dim', nn.LayerNorm(7), [7], {}, (3, 5, 7), gen),
        norm_case('ln over 2 trailing dims', nn.LayerNorm([4, 5]), [[4, 5]], {}, (3, 4, 5), gen),
        norm_case('ln elementwiseAffine false, eps 1e-3', nn.LayerNorm(6, eps=1e-3, elementwise_affine=False),
                  [6], {'eps': 1e-3, 'elementwiseAffine': False}, (4, 6), gen),
        norm_case('ln inputs offset by 1e3', nn.LayerNorm(33), [33], {}, (5, 33), gen, offset=1e3, scale=1.0),
        norm_case('l2 dim 1', L2Norm(1), [], {}, (2, 6, 3, 4), gen, zero_at=(0, slice(None), 1, 2)),
        norm_case('l2 dim -1', L2Norm(-1), [], {'dim': -1}, (5, 7), gen, zero_at=(2,)),
        norm_case('l2 dim 1 with scale 20 (ParseNet)', L2Norm(1, scale=20, num_channels=6), [],
                  {'scale': 20, 'numChannels': 6}, (2, 6, 3, 4), gen, random_affine=False),
        norm_case('l2 dim -1 with scale, eps 1e-3', L2Norm(-1, eps=1e-3, scale=2.5, num_channels=5), [],
                  {'dim': -1, 'eps': 1e-3, 'scale': 2.5, 'numChannels': 5}, (3, 4, 5), gen, scale=1e-4,
                  random_affine=False),
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
    write('norm.json', norms())
