#!/usr/bin/env python3
"""Writes PyTorch reference numbers for liven's tests into __test__/fixtures/.

Run with Debian's PyTorch (`apt-get install python3-torch`) and PyPI's `safetensors`
(`/usr/bin/python3 -m pip install --user --break-system-packages safetensors`, Debian has no
package): `npm run fixtures`, which then has liven write files (scripts/liven_roundtrip.mjs)
and checks that PyTorch loads them (scripts/check_roundtrip.py).
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


def bn_model():
    """A torch.nn.Sequential with BatchNorm buffers (int64 num_batches_tracked) and nesting."""
    nn = torch.nn
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(),
                         nn.Sequential(nn.Linear(3, 2), nn.PReLU()))


def prelu_model():
    """A model liven can build from today's layers; its config is in safetensors.json."""
    nn = torch.nn
    return nn.Sequential(nn.PReLU(3), nn.Sequential(nn.LeakyReLU(0.2), nn.PReLU()), nn.Flatten())


PRELU_CONFIG = {'type': 'Sequential', 'layers': [
    {'type': 'PReLU', 'numParameters': 3, 'init': 0.25},
    {'type': 'Sequential', 'layers': [{'type': 'LeakyReLU', 'negativeSlope': 0.2},
                                      {'type': 'PReLU', 'numParameters': 1, 'init': 0.25}]},
    {'type': 'Flatten', 'startDim': 1, 'endDim': -1},
]}


def bits(x):
    """A tensor as float32 bit patterns (exact, NaN included), with its shape."""
    x = x.detach().to(torch.float32).contiguous()
    return {'shape': list(x.shape), 'bits': [v & 0xffffffff for v in x.view(torch.int32).flatten().tolist()]}


def save_file(tensors, path, metadata=None):
    """safetensors.torch.save_file, unless the file already holds exactly this: the reference
    writer orders metadata keys at random (a Rust HashMap), so rewriting would churn the bytes."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file as save
    if os.path.exists(path):
        old = load_file(path)
        with safe_open(path, framework='pt') as f:
            old_meta = f.metadata()
        same = old.keys() == tensors.keys() and all(
            old[k].dtype == v.dtype and old[k].shape == v.shape and
            torch.equal(old[k].view(-1).view(torch.uint8), v.contiguous().view(-1).view(torch.uint8))
            for k, v in tensors.items())
        if same and old_meta == metadata:
            return
    save(tensors, path, metadata=metadata)


def safetensors_fixtures():
    """Files written by PyTorch's own safetensors package, and what liven must read from them."""
    out = os.path.join(OUT, 'safetensors')
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(99)

    bn = bn_model()
    for _ in range(3):
        bn(torch.randn(5, 4))
    sd = bn.state_dict()
    save_file(sd, os.path.join(out, 'sequential_bn.safetensors'), metadata={'format': 'pt'})
    # The same state dict in float32 only: liven's writer must produce these exact bytes.
    save_file({k: v.float() for k, v in sd.items()}, os.path.join(out, 'f32_reference.safetensors'),
              metadata={'format': 'pt'})

    pm = prelu_model()
    with torch.no_grad():
        pm[0].weight.copy_(torch.tensor([0.1, -0.3, 0.7]))
        pm[1][1].weight.fill_(0.05)
    save_file(pm.state_dict(), os.path.join(out, 'prelu_model.safetensors'))
    x = torch.randn(2, 3, 2, 2)

    special = [0.0, -0.0, 1.0, -2.5, float('inf'), float('-inf'), float('nan'), 1e-3, 65504.0, 6e-8]
    dtypes = {
        'f32': torch.tensor(special + [3.4e38, 1e-45], dtype=torch.float32),
        'f64': torch.tensor(special + [1e300, -1e-300, 1 / 3], dtype=torch.float64).reshape(13, 1),
        'f16': torch.tensor(special + [6e-5, -3e-7], dtype=torch.float16).reshape(2, 3, 2),
        'bf16': torch.tensor(special + [3e38, 1e-39], dtype=torch.bfloat16),
        'i64': torch.tensor([0, -1, 3, 2**24 + 1, -(2**53), 2**53], dtype=torch.int64),
        'i32': torch.tensor([[0, -7], [2**31 - 1, -(2**31)], [16777217, 5]], dtype=torch.int32),
        'scalar': torch.tensor(42, dtype=torch.int64),
        'empty': torch.zeros(0, 3),
    }
    meta = {'format': 'pt', 'note': 'ünïcödé ✓ "quoted" \\ back', 'empty': ''}
    save_file(dtypes, os.path.join(out, 'dtypes.safetensors'), metadata=meta)

    return {
        'torch': torch.__version__,
        'sequentialBn': {
            'metadata': {'format': 'pt'},
            'tensors': {k: dict(bits(v), dtype=str(v.dtype)) for k, v in sd.items()},
        },
        'preluModel': {
            'config': PRELU_CONFIG,
            'input': t(x),
            'output': t(pm(x)),
            'tensors': {k: bits(v) for k, v in pm.state_dict().items()},
        },
        'dtypes': {
            'metadata': meta,
            'tensors': {k: bits(v) for k, v in dtypes.items()},
        },
    }


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
    write('safetensors.json', safetensors_fixtures())
