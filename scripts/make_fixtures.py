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
import math
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


def tf(x):
    """t(x), with NaN and ±inf written as the strings "NaN", "Infinity", "-Infinity" (JSON has no
    such numbers); the tests decode them."""
    out = t(x)
    out['data'] = [v if math.isfinite(v) else ('NaN' if math.isnan(v) else ('Infinity' if v > 0 else '-Infinity'))
                   for v in out['data']]
    return out


def run_case(name, module, kind, options, x, gen):
    """Forward and backward of `module` on the given input, recorded with tf()."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    gy = torch.randn(y.shape, generator=gen)
    y.backward(gy)
    return {'name': name, 'module': kind, 'options': options, 'input': tf(x), 'gradOutput': tf(gy),
            'output': tf(y), 'gradInput': tf(x.grad), 'params': {}, 'paramGrads': {}}


def pooling():
    gen = torch.Generator().manual_seed(4321)
    nn = torch.nn
    F = torch.nn.functional
    rand = lambda *shape: torch.randn(shape, generator=gen)
    ties = lambda *shape: torch.randint(0, 3, shape, generator=gen).float()
    with_nan = rand(2, 2, 7, 8)
    flat = with_nan.view(-1)
    flat[::9] = float('nan')
    flat[4::13] = float('-inf')
    all_neg_inf = torch.full((1, 1, 5, 5), float('-inf'))
    all_neg_inf[0, 0, 2, 3] = 1.0
    mp = lambda k, **o: nn.MaxPool2d(k, **o)
    cases = [
        run_case('max 3x3/2 pad 1', mp(3, stride=2, padding=1), 'MaxPool2d', {'kernelSize': 3, 'stride': 2, 'padding': 1}, rand(2, 3, 9, 9), gen),
        run_case('max 2x2 odd width', mp(2), 'MaxPool2d', {'kernelSize': 2}, rand(2, 2, 6, 7), gen),
        run_case('max 2/2 floor on 7x7', mp(2, stride=2), 'MaxPool2d', {'kernelSize': 2, 'stride': 2}, rand(1, 2, 7, 7), gen),
        run_case('max 2/2 ceil on 7x7', mp(2, stride=2, ceil_mode=True), 'MaxPool2d', {'kernelSize': 2, 'stride': 2, 'ceilMode': True}, rand(1, 2, 7, 7), gen),
        run_case('max 2/2 pad 1 ceil, last window dropped', mp(2, stride=2, padding=1, ceil_mode=True), 'MaxPool2d', {'kernelSize': 2, 'stride': 2, 'padding': 1, 'ceilMode': True}, rand(1, 3, 5, 5), gen),
        run_case('max 3x3/2 pad 1 ceil on 8x10', mp(3, stride=2, padding=1, ceil_mode=True), 'MaxPool2d', {'kernelSize': 3, 'stride': 2, 'padding': 1, 'ceilMode': True}, rand(2, 2, 8, 10), gen),
        run_case('max dilation 2 pad 1', mp(3, stride=1, padding=1, dilation=2), 'MaxPool2d', {'kernelSize': 3, 'stride': 1, 'padding': 1, 'dilation': 2}, rand(1, 2, 7, 8), gen),
        run_case('max kernel (3,2) stride (1,2) dilation (2,1) ceil', mp((3, 2), stride=(1, 2), dilation=(2, 1), padding=(1, 1), ceil_mode=True), 'MaxPool2d',
                 {'kernelSize': [3, 2], 'stride': [1, 2], 'dilation': [2, 1], 'padding': [1, 1], 'ceilMode': True}, rand(2, 2, 9, 7), gen),
        run_case('max kernel (3,2) stride (2,3) pad (1,0)', mp((3, 2), stride=(2, 3), padding=(1, 0)), 'MaxPool2d', {'kernelSize': [3, 2], 'stride': [2, 3], 'padding': [1, 0]}, rand(2, 3, 10, 11), gen),
        run_case('max stride 3 > kernel 2', mp(2, stride=3), 'MaxPool2d', {'kernelSize': 2, 'stride': 3}, rand(1, 2, 11, 10), gen),
        run_case('max ties (first maximum)', mp(3, stride=2, padding=1), 'MaxPool2d', {'kernelSize': 3, 'stride': 2, 'padding': 1}, ties(2, 3, 8, 9), gen),
        run_case('max ties overlapping windows stride 1', mp(3, stride=1), 'MaxPool2d', {'kernelSize': 3, 'stride': 1}, ties(1, 2, 6, 7), gen),
        run_case('max NaN and -inf', mp(3, stride=2, padding=1), 'MaxPool2d', {'kernelSize': 3, 'stride': 2, 'padding': 1}, with_nan, gen),
        run_case('max all -inf windows', mp(3, stride=2, padding=1), 'MaxPool2d', {'kernelSize': 3, 'stride': 2, 'padding': 1}, all_neg_inf, gen),
        run_case('max 3-D input', mp(2), 'MaxPool2d', {'kernelSize': 2}, rand(3, 6, 5), gen),
    ]
    ap = lambda k, **o: nn.AvgPool2d(k, **o)
    for cip in (True, False):
        tag = 'include pad' if cip else 'exclude pad'
        cases += [
            run_case(f'avg 3x3/2 pad 1 ceil on 8x8, {tag}', ap(3, stride=2, padding=1, ceil_mode=True, count_include_pad=cip), 'AvgPool2d',
                     {'kernelSize': 3, 'stride': 2, 'padding': 1, 'ceilMode': True, 'countIncludePad': cip}, rand(2, 2, 8, 8), gen),
            run_case(f'avg 3x3/2 pad 1 floor on 8x8, {tag}', ap(3, stride=2, padding=1, count_include_pad=cip), 'AvgPool2d',
                     {'kernelSize': 3, 'stride': 2, 'padding': 1, 'countIncludePad': cip}, rand(2, 2, 8, 8), gen),
            run_case(f'avg (3,2) stride (2,1) pad (1,1) ceil, {tag}', ap((3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True, count_include_pad=cip), 'AvgPool2d',
                     {'kernelSize': [3, 2], 'stride': [2, 1], 'padding': [1, 1], 'ceilMode': True, 'countIncludePad': cip}, rand(1, 3, 9, 6), gen),
            run_case(f'avg 2 stride 2 pad 1 ceil, last window dropped, {tag}', ap(2, stride=2, padding=1, ceil_mode=True, count_include_pad=cip), 'AvgPool2d',
                     {'kernelSize': 2, 'stride': 2, 'padding': 1, 'ceilMode': True, 'countIncludePad': cip}, rand(1, 2, 5, 5), gen),
            run_case(f'avg 4 stride 3 pad 2 ceil, {tag}', ap(4, stride=3, padding=2, ceil_mode=True, count_include_pad=cip), 'AvgPool2d',
                     {'kernelSize': 4, 'stride': 3, 'padding': 2, 'ceilMode': True, 'countIncludePad': cip}, rand(1, 2, 10, 12), gen),
        ]
    cases += [
        run_case('avg 2x2 default on odd shape', ap(2), 'AvgPool2d', {'kernelSize': 2}, rand(2, 3, 7, 9), gen),
        run_case('avg stride 1 kernel 3', ap(3, stride=1), 'AvgPool2d', {'kernelSize': 3, 'stride': 1}, rand(1, 2, 6, 7), gen),
        run_case('avg 3-D input', ap(2, stride=1, padding=1), 'AvgPool2d', {'kernelSize': 2, 'stride': 1, 'padding': 1}, rand(2, 5, 4), gen),
    ]

    class GlobalMax(nn.Module):
        def forward(self, x):
            return F.adaptive_max_pool2d(x, 1).flatten(1)

    class GlobalAvg(nn.Module):
        def forward(self, x):
            return F.adaptive_avg_pool2d(x, 1).flatten(1)

    gnan = rand(2, 3, 4, 5)
    gnan[0, 1, 1, 2] = float('nan')
    gnan[0, 1, 3, 0] = float('nan')
    gnan[1, 2] = float('-inf')
    cases += [
        run_case('global avg', GlobalAvg(), 'GlobalAvgPool2d', {}, rand(2, 3, 5, 7), gen),
        run_case('global avg 1x1', GlobalAvg(), 'GlobalAvgPool2d', {}, rand(3, 4, 1, 1), gen),
        run_case('global max', GlobalMax(), 'GlobalMaxPool2d', {}, rand(2, 3, 5, 7), gen),
        run_case('global max ties', GlobalMax(), 'GlobalMaxPool2d', {}, ties(2, 3, 6, 6), gen),
        run_case('global max NaN and all -inf', GlobalMax(), 'GlobalMaxPool2d', {}, gnan, gen),
    ]
    return {'torch': torch.__version__, 'cases': cases}


def softmaxes():
    gen = torch.Generator().manual_seed(99)
    nn = torch.nn
    cases = []
    for kind, cls in (('Softmax', nn.Softmax), ('LogSoftmax', nn.LogSoftmax)):
        for shape in ((3, 4, 5), (2, 3, 4, 5)):
            for dim in (0, 1, -1):
                x = torch.randn(shape, generator=gen) * 3
                cases.append(run_case(f'{kind} {list(shape)} dim {dim}', cls(dim=dim), kind, {'dim': dim}, x, gen))
        cases.append(run_case(f'{kind} 4-D dim 2', cls(dim=2), kind, {'dim': 2}, torch.randn(2, 3, 4, 5, generator=gen), gen))
        big = (torch.rand(6, 33, generator=gen) * 2 - 1) * 1e4
        big[1] = 1e4
        big[2, 5] = -1e4
        cases.append(run_case(f'{kind} logits of ±1e4', cls(dim=-1), kind, {'dim': -1}, big, gen))
        cases.append(run_case(f'{kind} logits of ±1e4 dim 0', cls(dim=0), kind, {'dim': 0}, big.t().contiguous(), gen))
        cases.append(run_case(f'{kind} default dim, 1000 classes', cls(dim=-1), kind, {}, torch.randn(3, 1000, generator=gen) * 5, gen))
    return {'torch': torch.__version__, 'cases': cases}


def losses():
    gen = torch.Generator().manual_seed(7)
    nn = torch.nn
    cases = []

    def ce(name, n, c, scale, reduction, smoothing):
        x = (torch.randn(n, c, generator=gen) * scale).requires_grad_(True)
        target = torch.randint(0, c, (n,), generator=gen)
        loss = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)(x, target)
        loss.backward()
        options = {'reduction': reduction, 'labelSmoothing': smoothing}
        cases.append({'name': name, 'loss': 'CrossEntropyLoss', 'options': options, 'input': tf(x),
                      'target': target.tolist(), 'output': loss.item(), 'gradInput': tf(x.grad)})

    def mse(name, shape, reduction):
        x = torch.randn(shape, generator=gen).requires_grad_(True)
        target = torch.randn(shape, generator=gen)
        loss = nn.MSELoss(reduction=reduction)(x, target)
        loss.backward()
        cases.append({'name': name, 'loss': 'MSELoss', 'options': {'reduction': reduction}, 'input': tf(x),
                      'target': tf(target), 'output': loss.item(), 'gradInput': tf(x.grad)})

    for reduction in ('mean', 'sum'):
        ce(f'cross entropy {reduction}', 6, 7, 2.0, reduction, 0.0)
        ce(f'cross entropy {reduction}, label smoothing 0.1', 6, 7, 2.0, reduction, 0.1)
        ce(f'cross entropy {reduction}, label smoothing 0.25, 40 classes', 5, 40, 3.0, reduction, 0.25)
        ce(f'cross entropy {reduction}, logits of ±1e4', 4, 9, 1e4, reduction, 0.0)
        ce(f'cross entropy {reduction}, logits of ±1e4, smoothing 0.2', 4, 9, 1e4, reduction, 0.2)
        mse(f'mse {reduction}', (3, 4, 5), reduction)
    ce('cross entropy one class', 3, 1, 1.0, 'mean', 0.0)
    ce('cross entropy 1000 classes', 8, 1000, 4.0, 'mean', 0.1)
    mse('mse 1-D', (37,), 'mean')
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
    write('pool.json', pooling())
    write('softmax.json', softmaxes())
    write('loss.json', losses())
