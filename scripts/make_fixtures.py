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


def linear():
    gen = torch.Generator().manual_seed(4321)
    torch.manual_seed(4321)
    nn = torch.nn

    def lin(name, i, o, shape, bias=True):
        # options: the layer's config (constructor arguments by name), built with fromConfig.
        return case(name, nn.Linear(i, o, bias=bias), {'inFeatures': i, 'outFeatures': o, 'bias': bias}, shape, gen)

    cases = [
        lin('linear [N, in]', 7, 5, (4, 7)),
        lin('linear no bias', 6, 3, (2, 6), bias=False),
        lin('linear batch 1', 9, 4, (1, 9)),
        lin('linear [N, *, in]', 5, 6, (2, 3, 5)),
        lin('linear 1-D input', 4, 3, (4,)),
    ]
    return {'torch': torch.__version__, 'cases': cases}


def conv():
    gen = torch.Generator().manual_seed(8765)
    torch.manual_seed(8765)
    nn = torch.nn

    def conv2d(name, cin, cout, k, shape, stride=1, padding=0, dilation=1, groups=1, bias=True):
        m = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
        options = {'inChannels': cin, 'outChannels': cout, 'kernelSize': k, 'stride': stride,
                   'padding': padding, 'dilation': dilation, 'groups': groups, 'bias': bias}
        return case(name, m, options, shape, gen)

    cases = [
        conv2d('rectangular kernel 3x2', 3, 4, [3, 2], (2, 3, 7, 6)),
        conv2d('stride 2 with padding 1', 2, 3, 3, (2, 2, 9, 8), stride=2, padding=1),
        conv2d('dilation 2', 2, 2, 3, (1, 2, 8, 9), padding=2, dilation=2),
        conv2d('groups 2', 4, 6, 3, (2, 4, 5, 6), padding=1, groups=2),
        conv2d('depthwise, multiplier 2', 3, 6, 3, (2, 3, 6, 5), groups=3),
        conv2d('1x1', 5, 4, 1, (2, 5, 4, 3)),
        conv2d('1x1 stride 2', 3, 2, 1, (1, 3, 5, 5), stride=2),
        conv2d('no bias', 2, 3, 2, (3, 2, 4, 4), bias=False),
        conv2d('batch 1, [h, w] pairs', 2, 2, [2, 3], (1, 2, 6, 7), stride=[2, 1], padding=[1, 2], dilation=[1, 2]),
        conv2d('kernel as large as the padded input', 2, 3, 5, (2, 2, 3, 3), padding=1),
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
    write('linear.json', linear())
    write('conv.json', conv())
