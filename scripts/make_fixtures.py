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
import copy
import json
import math
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


OPTIMISERS = {'SGD': 'SGD', 'Adagrad': 'Adagrad', 'Adam': 'Adam', 'AdamW': 'AdamW'}
# liven's camelCase option names → PyTorch's.
OPTION_NAMES = {'weightDecay': 'weight_decay', 'lrDecay': 'lr_decay',
                'initialAccumulatorValue': 'initial_accumulator_value'}


def torch_options(options):
    out = {}
    for k, v in options.items():
        out[OPTION_NAMES.get(k, k)] = tuple(v) if k == 'betas' else v
    return out


def optim_case(name, kind, options, gen, shapes=((3, 4), (5,)), steps=5, groups=None):
    """`steps` updates of `kind` on parameters of `shapes` with random gradients; with `groups`
    (a list of per-group option overrides), parameter i goes to group i."""
    params = [torch.randn(s, generator=gen).requires_grad_(True) for s in shapes]
    initial = [t(p) for p in params]
    if groups is None:
        opt = getattr(torch.optim, kind)(params, **torch_options(options))
    else:
        opt = getattr(torch.optim, kind)(
            [dict(params=[p], **torch_options(g)) for p, g in zip(params, groups)], **torch_options(options))
    grads, after = [], []
    for _ in range(steps):
        gs = [torch.randn(p.shape, generator=gen) for p in params]
        for p, g in zip(params, gs):
            p.grad = g.clone()
        opt.step()
        grads.append([t(g) for g in gs])
        after.append([t(p) for p in params])
    return {'name': name, 'optimizer': kind, 'options': options, 'groups': groups,
            'params': initial, 'grads': grads, 'after': after}


def schedule_case(name, make, steps=30, lrs=(0.1,)):
    """The lr of each group after construction and after each of `steps` steps."""
    params = [torch.zeros(1, requires_grad=True) for _ in lrs]
    opt = torch.optim.SGD([{'params': [p], 'lr': lr} for p, lr in zip(params, lrs)], lr=lrs[0])
    sched, spec = make(opt)
    seq = [sched.get_last_lr()]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append(sched.get_last_lr())
    return {'name': name, 'lrs': list(lrs), 'scheduler': spec, 'sequence': seq}


def optim():
    import warnings
    warnings.simplefilter('ignore')
    gen = torch.Generator().manual_seed(4321)
    S = torch.optim.lr_scheduler
    cases = [
        optim_case('sgd plain', 'SGD', {'lr': 0.1}, gen),
        optim_case('sgd weight decay', 'SGD', {'lr': 0.05, 'weightDecay': 0.1}, gen),
        optim_case('sgd momentum', 'SGD', {'lr': 0.1, 'momentum': 0.9}, gen),
        optim_case('sgd momentum dampening', 'SGD', {'lr': 0.1, 'momentum': 0.9, 'dampening': 0.5}, gen),
        optim_case('sgd nesterov', 'SGD', {'lr': 0.1, 'momentum': 0.9, 'nesterov': True}, gen),
        optim_case('sgd nesterov weight decay', 'SGD',
                   {'lr': 0.03, 'momentum': 0.5, 'nesterov': True, 'weightDecay': 0.01}, gen),
        optim_case('sgd momentum dampening weight decay', 'SGD',
                   {'lr': 0.2, 'momentum': 0.7, 'dampening': 0.1, 'weightDecay': 0.05}, gen),
        optim_case('sgd two groups', 'SGD', {'lr': 0.1}, gen,
                   groups=[{'lr': 0.01, 'momentum': 0.9}, {'weightDecay': 0.2}]),
        optim_case('adagrad default', 'Adagrad', {}, gen),
        optim_case('adagrad lr decay', 'Adagrad', {'lr': 0.1, 'lrDecay': 0.3}, gen),
        optim_case('adagrad weight decay', 'Adagrad', {'lr': 0.1, 'weightDecay': 0.05}, gen),
        optim_case('adagrad initial accumulator, eps', 'Adagrad',
                   {'lr': 0.5, 'initialAccumulatorValue': 0.4, 'eps': 1e-3}, gen),
        optim_case('adagrad everything', 'Adagrad',
                   {'lr': 0.2, 'lrDecay': 0.05, 'weightDecay': 0.01, 'initialAccumulatorValue': 0.1, 'eps': 1e-6}, gen),
        optim_case('adam default', 'Adam', {}, gen),
        optim_case('adam lr betas', 'Adam', {'lr': 0.01, 'betas': [0.8, 0.99]}, gen),
        optim_case('adam weight decay', 'Adam', {'lr': 0.01, 'weightDecay': 0.1}, gen),
        optim_case('adam eps', 'Adam', {'lr': 0.05, 'eps': 1e-2, 'betas': [0.5, 0.9]}, gen),
        optim_case('adam beta1 0', 'Adam', {'lr': 0.01, 'betas': [0.0, 0.999]}, gen),
        optim_case('adamw default', 'AdamW', {}, gen),
        optim_case('adamw weight decay', 'AdamW', {'lr': 0.01, 'weightDecay': 0.5}, gen),
        optim_case('adamw betas eps', 'AdamW', {'lr': 0.02, 'betas': [0.7, 0.95], 'eps': 1e-4, 'weightDecay': 0.1}, gen),
        optim_case('adam long run', 'Adam', {'lr': 0.01}, gen, shapes=((40,),), steps=30),
    ]

    schedules = [
        schedule_case('LinearLR default', lambda o: (S.LinearLR(o), {'type': 'LinearLR'})),
        schedule_case('LinearLR 0.1 to 0.9 over 10', lambda o: (
            S.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=10),
            {'type': 'LinearLR', 'startFactor': 0.1, 'endFactor': 0.9, 'totalIters': 10})),
        schedule_case('StepLR 7, 0.5', lambda o: (S.StepLR(o, step_size=7, gamma=0.5),
                                                  {'type': 'StepLR', 'stepSize': 7, 'gamma': 0.5})),
        schedule_case('StepLR default gamma', lambda o: (S.StepLR(o, step_size=3), {'type': 'StepLR', 'stepSize': 3})),
        schedule_case('CosineAnnealingLR 10, eta 1e-3', lambda o: (
            S.CosineAnnealingLR(o, T_max=10, eta_min=1e-3), {'type': 'CosineAnnealingLR', 'tMax': 10, 'etaMin': 1e-3})),
        schedule_case('CosineAnnealingLR 7', lambda o: (
            S.CosineAnnealingLR(o, T_max=7), {'type': 'CosineAnnealingLR', 'tMax': 7}), steps=40),
        schedule_case('CosineAnnealingLR two groups', lambda o: (
            S.CosineAnnealingLR(o, T_max=12, eta_min=0.01), {'type': 'CosineAnnealingLR', 'tMax': 12, 'etaMin': 0.01}),
            lrs=(0.1, 0.5)),
    ]

    def warmup_cosine(o):
        warm = S.LinearLR(o, start_factor=0.1, total_iters=5)
        cos = S.CosineAnnealingLR(o, T_max=20, eta_min=1e-4)
        return S.SequentialLR(o, [warm, cos], milestones=[5]), {
            'type': 'SequentialLR', 'milestones': [5], 'schedulers': [
                {'type': 'LinearLR', 'startFactor': 0.1, 'totalIters': 5},
                {'type': 'CosineAnnealingLR', 'tMax': 20, 'etaMin': 1e-4}]}

    def three(o):
        warm = S.LinearLR(o, start_factor=0.25, total_iters=4)
        step = S.StepLR(o, step_size=3, gamma=0.5)
        cos = S.CosineAnnealingLR(o, T_max=6)
        return S.SequentialLR(o, [warm, step, cos], milestones=[4, 12]), {
            'type': 'SequentialLR', 'milestones': [4, 12], 'schedulers': [
                {'type': 'LinearLR', 'startFactor': 0.25, 'totalIters': 4},
                {'type': 'StepLR', 'stepSize': 3, 'gamma': 0.5},
                {'type': 'CosineAnnealingLR', 'tMax': 6}]}

    schedules.append(schedule_case('SequentialLR warmup then cosine', warmup_cosine, lrs=(0.1, 0.02)))
    schedules.append(schedule_case('SequentialLR linear, step, cosine', three))

    clips = []
    for name, kind, arg, norm_type in [
        ('norm 2 clipped', 'norm', 1.0, 2.0),
        ('norm 2 not clipped', 'norm', 100.0, 2.0),
        ('norm inf clipped', 'norm', 0.5, float('inf')),
        ('norm 1 clipped', 'norm', 2.0, 1.0),
        ('norm 3 clipped', 'norm', 0.7, 3.0),
        ('value 0.3', 'value', 0.3, None),
    ]:
        grads = [torch.randn(s, generator=gen) for s in ((4, 3), (7,), (2, 2, 2))]
        params = [torch.zeros(g.shape, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        case = {'name': name, 'kind': kind, 'grads': [t(g) for g in grads]}
        if kind == 'norm':
            total = torch.nn.utils.clip_grad_norm_(params, arg, norm_type=norm_type)
            case.update(maxNorm=arg, normType='inf' if norm_type == float('inf') else norm_type, total=float(total))
        else:
            torch.nn.utils.clip_grad_value_(params, arg)
            case.update(clipValue=arg)
        case['after'] = [t(p.grad) for p in params]
        clips.append(case)
    return {'torch': torch.__version__, 'cases': cases, 'schedules': schedules, 'clips': clips}


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
        # liven's special paths for 3x3 layers (appended: the cases above keep their numbers).
        conv2d('3x3 pad 1 on 20x21, odd width', 3, 4, 3, (2, 3, 20, 21), padding=1),
        conv2d('3x3 pad 1 on 2x2, batch 6: samples side by side', 8, 5, 3, (6, 8, 2, 2), padding=1),
        conv2d('3x3 pad 1 on 1x1: only the centre tap', 6, 4, 3, (3, 6, 1, 1), padding=1),
        conv2d('3x3 stride 2 pad 1 on 2x2: a 2x2 kernel', 4, 5, 3, (3, 4, 2, 2), stride=2, padding=1, bias=False),
    ]
    return {'torch': torch.__version__, 'cases': cases}


def special_values():
    """NaN and ±inf through every kernel family where PyTorch defines the result: NaN
    propagation, infinite sums, 0·∞ = NaN, -inf log-probabilities, and the slope gradient of
    PReLU over NaN inputs. A layer case's `config` builds the liven layer (nn.moduleFromConfig);
    its parameters and buffers (`buffersBefore`) are set before the forward. Tensors use tf()."""
    gen = torch.Generator().manual_seed(2468)
    nn = torch.nn
    nan, inf = float('nan'), float('inf')
    # Every input value against every output-gradient value, as the two columns of a grid.
    xs = [0.0, -0.0, 1.5, -1.5, nan, inf, -inf]
    gs = [1.0, -0.5, 0.0, nan, inf, -inf]
    grid_x = torch.tensor([[x for x in xs for _ in gs]])
    grid_g = torch.tensor([[g for _ in xs for g in gs]])

    def with_values(x, at):
        """x with the flat positions in `at` set to the given values."""
        x = x.clone()
        for i, v in at.items():
            x.view(-1)[i] = v
        return x

    def rand(*shape):
        return torch.randn(shape, generator=gen)

    def layer(name, module, config, x, gy=None, params=None, buffers=None, train=True):
        with torch.no_grad():
            for n, p in module.named_parameters():
                p.copy_(params[n] if params and n in params else rand(*p.shape) * 0.5 + 0.5)
            for n, b in (buffers or {}).items():
                getattr(module, n).copy_(b)
        module.train(train)
        before = {n: tf(b.float()) for n, b in module.named_buffers() if n != 'num_batches_tracked'}
        x = x.clone().requires_grad_(True)
        y = module(x)
        gy = rand(*y.shape) if gy is None else gy.reshape(y.shape)
        y.backward(gy)
        return {'name': name, 'config': config, 'train': train, 'input': tf(x), 'gradOutput': tf(gy),
                'output': tf(y), 'gradInput': tf(x.grad),
                'params': {n: tf(p) for n, p in module.named_parameters()},
                'paramGrads': {n: tf(p.grad) for n, p in module.named_parameters()},
                'buffersBefore': before,
                'buffers': {n: tf(b.float()) for n, b in module.named_buffers() if n != 'num_batches_tracked'}}

    relu = {'type': 'ReLU'}
    leaky = lambda s: {'type': 'LeakyReLU', 'negativeSlope': s}
    prelu = lambda c, init=0.25: {'type': 'PReLU', 'numParameters': c, 'init': init}
    # [N, C, L]: channel 0 finite, channel 1 with NaN (its slope gradient is NaN), channel 2
    # with -inf (±inf), channel 3 with -inf and one +inf gradient there (inf - inf = NaN).
    pc = with_values(rand(2, 4, 5), {5: nan, 27: nan, 10: -inf, 31: -inf, 36: 2.0})
    pc_g = with_values(rand(2, 4, 5), {31: -1.0, 15: inf, 35: inf})
    layers = [
        layer('relu grid', nn.ReLU(), relu, grid_x, grid_g),
        layer('leaky relu 0.2 grid', nn.LeakyReLU(0.2), leaky(0.2), grid_x, grid_g),
        layer('leaky relu slope 0 grid (-inf·0 = NaN)', nn.LeakyReLU(0.0), leaky(0.0), grid_x, grid_g),
        layer('leaky relu slope -0.5 grid', nn.LeakyReLU(-0.5), leaky(-0.5), grid_x, grid_g),
        layer('prelu one slope grid', nn.PReLU(), prelu(1), grid_x, grid_g, {'weight': torch.tensor([0.25])}),
        layer('prelu one slope, NaN input', nn.PReLU(), prelu(1), with_values(rand(3, 5), {7: nan}),
              params={'weight': torch.tensor([0.25])}),
        layer('prelu one slope 0, -inf input', nn.PReLU(), prelu(1), with_values(rand(3, 5), {2: -inf}),
              params={'weight': torch.tensor([0.0])}),
        layer('prelu per channel [N, C, L]', nn.PReLU(4), prelu(4), pc, pc_g,
              {'weight': torch.tensor([0.1, 0.2, -0.3, 0.0])}),
        layer('prelu per channel [N, C], NaN in channel 2 only', nn.PReLU(3), prelu(3),
              with_values(rand(4, 3), {5: nan, 8: inf}), params={'weight': torch.tensor([0.1, 0.2, 0.3])}),
    ]

    # Pooling: NaN wins its max window; a window with +inf and -inf averages to NaN; gradients
    # of ±inf and NaN are routed or shared like any other.
    px = with_values(rand(2, 2, 6, 7), {0: nan, 9: inf, 10: inf, 20: -inf, 22: inf, 50: -inf, 60: nan, 63: inf})
    pg = lambda *shape: with_values(rand(*shape), {1: inf, 4: nan, 7: -inf})
    mp = lambda k, s, p: {'type': 'MaxPool2d', 'kernelSize': k, 'stride': s, 'padding': p, 'dilation': 1, 'ceilMode': False}
    ap = lambda k, s, p, cip: {'type': 'AvgPool2d', 'kernelSize': k, 'stride': s, 'padding': p, 'ceilMode': False,
                               'countIncludePad': cip}
    layers += [
        layer('max 3x3/2 pad 1, NaN, ±inf and +inf ties', nn.MaxPool2d(3, 2, 1), mp(3, 2, 1), px, pg(2, 2, 3, 4)),
        layer('max 2x2 stride 1, overlapping ±inf gradients', nn.MaxPool2d(2, 1), mp(2, 1, 0), px, pg(2, 2, 5, 6)),
        layer('avg 3x3/2 pad 1, include pad', nn.AvgPool2d(3, 2, 1), ap(3, 2, 1, True), px, pg(2, 2, 3, 4)),
        layer('avg 2x2 stride 1, exclude pad', nn.AvgPool2d(2, 1, 0, count_include_pad=False),
              ap(2, 1, 0, False), px, pg(2, 2, 5, 6)),
    ]

    class GlobalMax(nn.Module):
        def forward(self, x):
            return torch.nn.functional.adaptive_max_pool2d(x, 1).flatten(1)

    class GlobalAvg(nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    layers += [
        layer('global avg', GlobalAvg(), {'type': 'GlobalAvgPool2d'}, px, torch.tensor([inf, nan, -inf, 1.0])),
        layer('global max, +inf ties', GlobalMax(), {'type': 'GlobalMaxPool2d'}, px, torch.tensor([inf, nan, -inf, 1.0])),
    ]

    # Normalisation: a NaN or infinite value makes its group's statistics (and so its outputs
    # and gradients) NaN and leaves the other groups alone.
    bn = lambda kind, c: {'type': kind, 'numFeatures': c, 'eps': 1e-5, 'momentum': 0.1, 'affine': True,
                          'trackRunningStats': True}
    nx = with_values(rand(3, 3, 2, 2), {1: nan, 6: inf})
    ng = with_values(rand(3, 3, 2, 2), {30: inf, 26: nan})
    stats = {'running_mean': torch.tensor([0.5, -0.5, 0.1]), 'running_var': torch.tensor([2.0, 0.5, 1.0])}
    lx = with_values(rand(5, 6), {2: nan, 8: inf, 15: -inf, 16: inf})
    l2x = with_values(rand(2, 4, 3), {0: inf, 4: nan, 14: -inf, 17: inf})
    l2x[1, :, 2] = 0.0
    layers += [
        layer('bn2d train, NaN in channel 0, +inf in channel 1', nn.BatchNorm2d(3), bn('BatchNorm2d', 3), nx,
              with_values(rand(3, 3, 2, 2), {}), buffers=stats),
        layer('bn2d train, ±inf and NaN gradients', nn.BatchNorm2d(3), bn('BatchNorm2d', 3), rand(3, 3, 2, 2), ng,
              buffers=stats),
        layer('bn2d eval, NaN and ±inf inputs and gradients', nn.BatchNorm2d(3), bn('BatchNorm2d', 3),
              with_values(nx, {20: -inf}), ng, buffers=stats, train=False),
        layer('bn1d train [N, C], NaN in channel 1', nn.BatchNorm1d(3), bn('BatchNorm1d', 3),
              with_values(rand(4, 3), {4: nan}), buffers=stats),
        layer('gn 3 groups, NaN in group 0, +inf in group 1', nn.GroupNorm(3, 6),
              {'type': 'GroupNorm', 'numGroups': 3, 'numChannels': 6, 'eps': 1e-5, 'affine': True},
              with_values(rand(2, 6, 3), {1: nan, 7: inf, 30: -inf}), with_values(rand(2, 6, 3), {30: inf})),
        layer('ln rows with NaN, +inf, -inf, ±inf', nn.LayerNorm(6),
              {'type': 'LayerNorm', 'normalizedShape': [6], 'eps': 1e-5, 'elementwiseAffine': True}, lx,
              with_values(rand(5, 6), {25: inf, 26: nan})),
        layer('l2 dim 1, ±inf, NaN and a zero vector', L2Norm(1), {'type': 'L2Norm', 'dim': 1, 'eps': 1e-12},
              l2x, with_values(rand(2, 4, 3), {19: nan})),
        layer('l2 dim -1 with scale, +inf gradient', L2Norm(-1, scale=2.0, num_channels=5),
              {'type': 'L2Norm', 'dim': -1, 'eps': 1e-12, 'scale': 2.0, 'numChannels': 5},
              rand(3, 5), with_values(rand(3, 5), {6: inf})),
    ]

    # Softmax: -inf logits get probability 0 (log-probability -inf); a row of -inf, a +inf or a
    # NaN logit makes its row NaN.
    sx = torch.stack([rand(5), torch.tensor([1.0, -inf, 2.0, -inf, 0.5]), torch.full((5,), -inf),
                      torch.tensor([1.0, inf, 2.0, 0.0, 0.5]), torch.tensor([1.0, nan, 2.0, 0.0, 0.5]), rand(5), rand(5)])
    sg = with_values(rand(7, 5), {27: inf, 33: nan, 6: inf})
    for kind, cls in (('Softmax', nn.Softmax), ('LogSoftmax', nn.LogSoftmax)):
        layers += [
            layer(f'{kind} rows of -inf, +inf and NaN', cls(dim=-1), {'type': kind, 'dim': -1}, sx, sg),
            layer(f'{kind} dim 1 of 3-D', cls(dim=1), {'type': kind, 'dim': 1}, sx.t().reshape(1, 5, 7), sg.t().reshape(1, 5, 7)),
        ]

    # Linear and Conv2d: sums of products; NaN and ±inf spread along their rows and windows.
    layers += [
        layer('linear, NaN and ±inf inputs', nn.Linear(4, 3),
              {'type': 'Linear', 'inFeatures': 4, 'outFeatures': 3, 'bias': True},
              with_values(rand(5, 4), {1: nan, 6: inf, 12: -inf, 13: inf}), with_values(rand(5, 3), {14: inf})),
        layer('conv 3x3 pad 1, NaN and ±inf inputs', nn.Conv2d(2, 3, 3, padding=1),
              {'type': 'Conv2d', 'inChannels': 2, 'outChannels': 3, 'kernelSize': 3, 'stride': 1, 'padding': 1,
               'dilation': 1, 'groups': 1, 'bias': True},
              with_values(rand(1, 2, 5, 5), {7: nan, 18: inf, 30: -inf, 40: inf}),
              with_values(rand(1, 3, 5, 5), {60: inf})),
        # A batch of one takes PyTorch's im2col path, where taps in the zero padding multiply
        # the weight: 0·∞ = NaN. (Its mkldnn path, taken for larger batches, skips those taps.)
        layer('conv 3x3 pad 1, an infinite weight, batch 1', nn.Conv2d(1, 2, 3, padding=1),
              {'type': 'Conv2d', 'inChannels': 1, 'outChannels': 2, 'kernelSize': 3, 'stride': 1, 'padding': 1,
               'dilation': 1, 'groups': 1, 'bias': True},
              rand(1, 1, 4, 4), params={'weight': with_values(rand(2, 1, 3, 3), {0: inf}),
                                        'bias': torch.tensor([0.1, -0.2])}),
    ]

    losses = []

    def ce(name, x, target, smoothing=0.0, reduction='mean'):
        x = x.clone().requires_grad_(True)
        loss = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)(x, torch.tensor(target))
        loss.backward()
        losses.append({'name': name, 'loss': 'CrossEntropyLoss', 'options': {'reduction': reduction, 'labelSmoothing': smoothing},
                       'input': tf(x), 'target': target, 'output': tf(loss.reshape(1)), 'gradInput': tf(x.grad)})

    def mse(name, x, target, reduction='mean'):
        x = x.clone().requires_grad_(True)
        loss = nn.MSELoss(reduction=reduction)(x, target)
        loss.backward()
        losses.append({'name': name, 'loss': 'MSELoss', 'options': {'reduction': reduction}, 'input': tf(x),
                       'target': tf(target), 'output': tf(loss.reshape(1)), 'gradInput': tf(x.grad)})

    ce('ce -inf logits away from the target', with_values(rand(3, 4), {1: -inf, 6: -inf}), [0, 1, 3])
    ce('ce -inf logit at the target (loss +inf)', with_values(rand(3, 4), {5: -inf}), [0, 1, 3], reduction='sum')
    ce('ce -inf logit, label smoothing 0.1 (loss +inf)', with_values(rand(3, 4), {2: -inf}), [0, 1, 3], 0.1)
    ce('ce +inf logit', with_values(rand(3, 4), {4: inf}), [0, 1, 3])
    ce('ce NaN logit', with_values(rand(3, 4), {9: nan}), [0, 1, 3], reduction='sum')
    mse('mse ±inf and NaN', with_values(rand(3, 4), {0: inf, 5: -inf, 9: nan}), rand(3, 4))
    mse('mse inf - inf', with_values(rand(2, 3), {2: inf}), with_values(rand(2, 3), {2: inf}), 'sum')
    return {'torch': torch.__version__, 'cases': layers, 'losses': losses}


class GlobalAvgPool2d(torch.nn.Module):
    """liven's nn.GlobalAvgPool2d ([N, C, H, W] -> [N, C]); torch has none, and a module of its
    own keeps the Sequential's indices, so the state-dict keys, equal to liven's."""
    def forward(self, x):
        return x.mean((2, 3))


WHOLE_CNN_CONFIG = {'type': 'Sequential', 'layers': [
    {'type': 'Conv2d', 'inChannels': 3, 'outChannels': 8, 'kernelSize': 3, 'padding': 1},
    {'type': 'BatchNorm2d', 'numFeatures': 8},
    {'type': 'ReLU'},
    {'type': 'MaxPool2d', 'kernelSize': 3, 'stride': 2, 'padding': 1},
    {'type': 'Sequential', 'layers': [
        {'type': 'Conv2d', 'inChannels': 8, 'outChannels': 12, 'kernelSize': 3, 'padding': 1, 'bias': False},
        {'type': 'GroupNorm', 'numGroups': 4, 'numChannels': 12},
        {'type': 'LeakyReLU', 'negativeSlope': 0.1},
    ]},
    {'type': 'GlobalAvgPool2d'},
    {'type': 'Linear', 'inFeatures': 12, 'outFeatures': 5},
]}

WHOLE_CNN_SGD = (0.05, 0.9, 1e-3)  # lr, momentum, weight decay


def whole_cnn_model():
    """WHOLE_CNN_CONFIG as a torch.nn.Sequential, index for index."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
        nn.Sequential(nn.Conv2d(8, 12, 3, padding=1, bias=False), nn.GroupNorm(4, 12), nn.LeakyReLU(0.1)),
        GlobalAvgPool2d(), nn.Linear(12, 5))


def kink_margins(model, x):
    """How far the pass at x stays from its branch points: the smallest |pre-activation| of the
    ReLU and LeakyReLU, and the smallest gap between the largest and second-largest value of a
    max-pooling window. Above float32 noise, liven's rounding cannot take another branch."""
    nn = torch.nn
    acts, pools = [], []
    hooks = [m.register_forward_hook(lambda m, i, o: (pools if isinstance(m, nn.MaxPool2d) else acts).append(i[0].detach()))
             for m in model.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.MaxPool2d))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    gap = math.inf
    for p, m in zip(pools, [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]):
        k, s, pad = m.kernel_size, m.stride, m.padding
        padded = torch.nn.functional.pad(p, (pad,) * 4, value=-math.inf)
        windows = padded.unfold(2, k, s).unfold(3, k, s).flatten(-2)
        top = windows.topk(2, dim=-1).values
        # A window whose maximum is a ReLU's exact 0 passes no gradient whichever 0 wins.
        live = top[..., 0] > 0
        gap = min(gap, float((top[..., 0] - top[..., 1])[live].min()))
    return min(float(a.abs().min()) for a in acts), gap


def whole_cnn_run(path, seed):
    """whole_cnn's passes from the saved file on the data of `seed`."""
    from safetensors.torch import load_file
    model = whole_cnn_model()
    model.load_state_dict(load_file(path), strict=True)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((5, 3, 11, 9), generator=gen)
    target = torch.randint(0, 5, (5,), generator=gen)
    x2 = torch.randn((5, 3, 11, 9), generator=gen)
    target2 = torch.randint(0, 5, (5,), generator=gen)
    margins = [kink_margins(copy.deepcopy(model).eval(), x)]
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss()
    lr, momentum, weight_decay = WHOLE_CNN_SGD
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps = []
    for inp, tgt in ((x, target), (x2, target2)):
        margins.append(kink_margins(copy.deepcopy(model).train(), inp))
        inp = inp.clone().requires_grad_(True)
        opt.zero_grad()
        logits = model(inp)
        loss = loss_fn(logits, tgt)
        loss.backward()
        record = {
            'input': t(inp), 'target': tgt.tolist(),
            'logits': t(logits), 'loss': float(loss), 'gradInput': t(inp.grad),
            'grads': {n: t(p.grad) for n, p in model.named_parameters()},
            'buffers': {n: t(b) for n, b in model.named_buffers()},
        }
        opt.step()
        record['params'] = {n: t(p) for n, p in model.named_parameters()}
        steps.append(record)
    model.eval()
    margins.append(kink_margins(copy.deepcopy(model), x))
    with torch.no_grad():
        eval_after = model(x)
    return {'seed': seed, 'evalLogits': t(eval_logits), 'steps': steps, 'evalLogitsAfter': t(eval_after),
            'kinkMargins': margins}


def whole_cnn():
    """A whole CNN trained a little in PyTorch, saved with PyTorch's safetensors
    (safetensors/whole_cnn.safetensors), and everything liven must reproduce from that file:
    eval and train logits, the loss, every gradient, the running statistics, and the parameters
    after two SGD steps with momentum and weight decay."""
    torch.manual_seed(2024)
    model = whole_cnn_model()
    with torch.no_grad():
        # Non-trivial affine parameters, and running statistics (and num_batches_tracked) that
        # are not the defaults: a few training-mode forwards on shifted, scaled batches.
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
        model.train()
        for i in range(3):
            model(torch.randn(4, 3, 11, 9) * (1 + 0.5 * i) + 0.3)
    path = os.path.join(OUT, 'safetensors', 'whole_cnn.safetensors')
    save_file(model.state_dict(), path, metadata={'format': 'pt'})

    # Everything below starts from the file, as liven does, on the first data seed whose every
    # pass keeps `margin` from each kink: float32 rounding moves
    # liven's pre-activations by about 1e-6 here, so no ReLU or max-pool choice can flip.
    margin = 1e-5
    for seed in range(7, 100):
        run = whole_cnn_run(path, seed)
        if min(min(m) for m in run['kinkMargins']) > margin:
            break
    else:
        raise RuntimeError('no data seed keeps the passes away from the kinks')
    return {
        'torch': torch.__version__,
        'config': WHOLE_CNN_CONFIG,
        # PyTorch's state_dict() order (the file's is sorted by dtype and name).
        'stateDict': {k: {'shape': list(v.shape), 'dtype': str(v.dtype)} for k, v in whole_cnn_model().state_dict().items()},
        'sgd': {'lr': WHOLE_CNN_SGD[0], 'momentum': WHOLE_CNN_SGD[1], 'weightDecay': WHOLE_CNN_SGD[2]},
        **run,
    }


def formula_values(key, shape):
    """Deterministic weights for the state-dict entry `key`, bit-identical to the same formula in
    __test__/models.test.ts: each element's 32-bit hash of (key, index) gives u in [0, 1) with
    24 bits, scaled in float64 by the entry's role, then rounded once to float32."""
    import numpy as np
    seed = 0x811c9dc5
    for b in key.encode():
        seed = ((seed ^ b) * 0x01000193) & 0xffffffff
    n = math.prod(shape)
    h = np.uint32(seed) ^ (np.arange(1, n + 1, dtype=np.uint32) * np.uint32(0x9e3779b1))
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85ebca6b)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xc2b2ae35)
    h ^= h >> np.uint32(16)
    u = (h >> np.uint32(8)).astype(np.float64) / 2.0**24
    if key == 'input':
        v = (2 * u - 1) * 2
    elif key.endswith('running_mean'):
        v = (2 * u - 1) * 0.1
    elif key.endswith('running_var'):
        v = 0.5 + u
    elif len(shape) == 1 and key.endswith('weight'):  # BatchNorm's scale
        v = 0.75 + 0.5 * u
    elif len(shape) == 1:  # a bias
        v = (2 * u - 1) * 0.1
    else:  # a conv or linear weight: He-uniform over its fan-in
        v = (2 * u - 1) * math.sqrt(6 / math.prod(shape[1:]))
    return torch.from_numpy(v).to(torch.float32).reshape(shape)


def set_formula_weights(model):
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.dtype == torch.float32:
                v.copy_(formula_values(k, list(v.shape)))


def summary(x):
    """A tensor too large to commit, as its sum, L2 norm and up to 16 evenly spread entries."""
    x = x.detach().to(torch.float64).flatten()
    step = max(1, x.numel() // 16)
    at = list(range(step // 2, x.numel(), step))[:16]
    return {'size': x.numel(), 'sum': float(x.sum()), 'norm': float(x.norm()),
            'at': at, 'values': [float(x[i]) for i in at]}


def model_run(model, shape, target):
    """One training-mode forward and backward from the formula weights on the formula input, then
    eval logits from the formula weights: what liven must reproduce without any weight file."""
    set_formula_weights(model)
    x = formula_values('input', shape)
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    model.train()
    x.requires_grad_(True)
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(target))
    loss.backward()
    return {
        'inputShape': list(shape), 'target': target,
        'evalLogits': t(eval_logits), 'logits': t(logits), 'loss': float(loss),
        'gradInput': summary(x.grad),
        'grads': {n: summary(p.grad) for n, p in model.named_parameters()},
        'buffers': {n: summary(b) for n, b in model.named_buffers()},
    }


def models():
    """torchvision's ResNet-18/34 and MobileNetV2: state-dict keys and shapes for several
    options, and runs from formula weights (formula_values) so that no weights are committed;
    plus a small MobileNetV2 with random weights and trained running statistics saved by
    PyTorch's safetensors (safetensors/mobilenet_v2_w025.safetensors) and its eval logits."""
    import torchvision
    tvm = torchvision.models
    keys = lambda m: {k: list(v.shape) for k, v in m.state_dict().items()}
    out = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'keys': {
        'resnet18': keys(tvm.resnet18()),
        'resnet18 numClasses 10': keys(tvm.resnet18(num_classes=10)),
        'resnet34': keys(tvm.resnet34()),
        'mobilenetV2': keys(tvm.mobilenet_v2()),
        **{f'mobilenetV2 widthMult {w}': keys(tvm.mobilenet_v2(width_mult=w, num_classes=10))
           for w in (0.25, 0.35, 0.5, 0.75, 1.3, 1.4)},
    }}
    probe = ['conv1.weight', 'layer1.0.bn1.running_var', 'fc.bias', 'input']
    out['formulaProbe'] = {k: [float(v) for v in formula_values(k, [5, 3] if k != 'fc.bias' else [5]).flatten()[:5]] for k in probe}
    out['resnet18'] = model_run(tvm.resnet18(num_classes=10), (2, 3, 64, 64), [3, 7])
    out['resnet34'] = model_run(tvm.resnet34(num_classes=10), (2, 3, 64, 64), [0, 9])
    out['mobilenetV2'] = model_run(tvm.mobilenet_v2(num_classes=10, dropout=0.0), (2, 3, 128, 128), [5, 1])

    torch.manual_seed(13)
    small = tvm.mobilenet_v2(num_classes=10, width_mult=0.25)
    with torch.no_grad():
        for m in small.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
        small.train()
        for i in range(3):
            small(torch.randn(4, 3, 32, 32) * (1 + 0.5 * i) + 0.2)
    small.eval()
    save_file(small.state_dict(), os.path.join(OUT, 'safetensors', 'mobilenet_v2_w025.safetensors'),
              metadata={'format': 'pt'})
    x = formula_values('input', [2, 3, 32, 32])
    with torch.no_grad():
        out['mobilenetV2File'] = {'options': {'numClasses': 10, 'widthMult': 0.25}, 'inputShape': [2, 3, 32, 32],
                                  'evalLogits': t(small(x))}
    return out
def graph_model():
    """A residual + concatenation network, the one __test__/graph.test.ts builds as an nn.Graph node
    for node (attributes in node order, so state_dict() keys come in liven's order): 'relu'
    fans out to the block's identity path and to the concatenation."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.relu2 = nn.ReLU()

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
            return self.relu2(out + x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.relu = nn.ReLU()
            self.layer1 = nn.Sequential(Block(8))
            self.head = nn.Conv2d(16, 8, 1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            r = self.relu(self.bn(self.stem(x)))
            y = torch.cat([self.layer1(r), r], dim=1)
            return self.fc(self.head(y).mean((2, 3)))

    return Net()


def graphs():
    """graph_model's training step from random weights and non-default running statistics: logits,
    cross-entropy loss, input gradient, every parameter gradient and the running statistics after
    it, then the eval logits; on the first data seed that keeps every ReLU input 1e-5 from 0."""
    torch.manual_seed(1313)
    model = graph_model()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
        model.train()
        for i in range(2):
            model(torch.randn(4, 3, 7, 6) * (1 + 0.5 * i) + 0.2)
    state = copy.deepcopy(model.state_dict())
    for seed in range(1, 100):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn((4, 3, 7, 6), generator=gen)
        target = torch.randint(0, 5, (4,), generator=gen)
        model.load_state_dict(state)
        margins = [kink_margins(copy.deepcopy(model).train(), x)[0]]  # [1]: max-pool gaps (none here)
        if margins[0] > 1e-5:
            break
    else:
        raise RuntimeError('no data seed keeps the graph away from the kinks')
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    loss = torch.nn.CrossEntropyLoss()(logits, target)
    loss.backward()
    model.eval()
    margins.append(kink_margins(copy.deepcopy(model), x)[0])
    if margins[1] <= 1e-5:
        raise RuntimeError('the eval pass comes within 1e-5 of a kink')
    with torch.no_grad():
        eval_logits = model(x)
    return {
        'torch': torch.__version__,
        'state': {k: t(v) for k, v in state.items()},
        'input': t(x), 'target': target.tolist(),
        'logits': t(logits), 'loss': float(loss), 'gradInput': t(xg.grad),
        'grads': {n: t(p.grad) for n, p in model.named_parameters()},
        'buffers': {n: t(b) for n, b in model.named_buffers()},
        'evalLogits': t(eval_logits),
        'kinkMargins': margins,
    }


def tensor_ops():
    """Tensor's PyTorch-named helpers: broadcast arithmetic, sum/mean over dims, argmax with ties,
    narrow and Python slicing along a dim."""
    gen = torch.Generator().manual_seed(11)
    binary = []
    for a_shape, b_shape in [((2, 3, 4), (3, 1)), ((4,), (2, 3, 4)), ((2, 1, 4), (1, 3, 1)), ((5,), (5,)), ((3, 1), ()), ((0, 3), (3,))]:
        a = torch.randn(a_shape, generator=gen)
        b = torch.randn(b_shape, generator=gen)
        binary.append({'a': t(a), 'b': t(b), 'add': t(a + b), 'sub': t(a - b), 'mul': t(a * b), 'div': t(a / b)})
    x = torch.randn(2, 3, 4, generator=gen)
    reductions = []
    for dim in [None, 0, 1, -1, [0, 2], [2, 0], []]:
        for keepdim in [False, True]:
            if dim is None and keepdim:
                continue
            args = () if dim is None else (dim,)
            reductions.append({'dim': dim, 'keepdim': keepdim,
                               'sum': t(x.sum(*args, keepdim=keepdim) if args else x.sum()),
                               'mean': t(x.mean(*args, keepdim=keepdim) if args else x.mean())})
    # Small integers, so that ties are common: PyTorch returns the first maximum.
    ties = torch.randint(-2, 3, (4, 5, 3), generator=gen).to(torch.float32)
    argmax = {'input': t(ties), 'all': int(ties.argmax()),
              'dims': {str(d): ties.argmax(d).flatten().tolist() for d in [0, 1, 2, -1]}}
    views = {'input': t(x),
             'narrow': [{'dim': d, 'start': s, 'length': n, 'output': t(x.narrow(d, s, n))}
                        for d, s, n in [(0, 1, 1), (1, 1, 2), (-1, -3, 2), (2, 0, 0)]],
             'slice': [{'dim': 1, 'start': 1, 'end': None, 'output': t(x[:, 1:])},
                       {'dim': 2, 'start': -3, 'end': -1, 'output': t(x[:, :, -3:-1])},
                       {'dim': 0, 'start': 5, 'end': 9, 'output': t(x[5:9])},
                       {'dim': 2, 'start': 3, 'end': 1, 'output': t(x[:, :, 3:1])}]}
    # NaN, ±inf and ±0 against each other (a column broadcast against a row), and summed.
    nan, inf = float('nan'), float('inf')
    special = torch.tensor([0.0, -0.0, 1.5, -2.0, nan, inf, -inf])
    sa, sb = special.reshape(7, 1), special.reshape(1, 7)
    special_binary = {'a': tf(sa), 'b': tf(sb), 'add': tf(sa + sb), 'sub': tf(sa - sb), 'mul': tf(sa * sb), 'div': tf(sa / sb)}
    sx = torch.randn(3, 4, 5, generator=gen)
    for i, v in {3: nan, 25: inf, 27: -inf, 45: inf, 46: -inf}.items():
        sx.view(-1)[i] = v
    special_sums = {'x': tf(sx), 'reductions': [{'dim': d, 'sum': tf(sx.sum(d)), 'mean': tf(sx.mean(d))} for d in [0, 1, 2, [0, 2]]]}
    # A Python number meets a float32 tensor as a float32 (rounded first): 0.1 and 1/3 are not
    # float32 values, so computing in float64 then rounding differs in the last bit here and there.
    xs = torch.randn(2000, generator=gen)
    scalars = [{'scalar': c, 'add': t(xs + c), 'sub': t(xs - c), 'mul': t(xs * c), 'div': t(xs / c)}
               for c in [0.1, 1 / 3, -0.7, 1e-3]]
    return {'torch': torch.__version__, 'binary': binary, 'x': t(x), 'reductions': reductions, 'argmax': argmax, 'views': views,
            'specialBinary': special_binary, 'specialSums': special_sums, 'scalarInput': t(xs), 'scalars': scalars}


def activations_more():
    """The layers beyond ReLU (issue 13): every option, with the kinks, 0, large values, ±inf and
    NaN in the input. JSON has no NaN or infinity: those are written as the strings "NaN",
    "Infinity" and "-Infinity" (tensors of this file only)."""
    gen = torch.Generator().manual_seed(1313)
    nn = torch.nn
    special = [0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 6.0, -0.5, 2.0, 0.25, 20.0, 10.0, 30.0, -30.0,
               100.0, -100.0, 1e4, -1e4, 1e-6, -1e-6, math.inf, -math.inf, math.nan]

    def st(x):
        x = x.detach().to(torch.float32).contiguous()
        enc = lambda v: 'NaN' if math.isnan(v) else ('Infinity' if v == math.inf else ('-Infinity' if v == -math.inf else v))
        return {'shape': list(x.shape), 'data': [enc(float(v)) for v in x.flatten().tolist()]}

    def run(name, module, config, x):
        x = x.clone().requires_grad_(True)
        y = module(x)
        gy = torch.randn(y.shape, generator=gen)
        y.backward(gy)
        return {'name': name, 'config': config, 'input': st(x), 'gradOutput': st(gy), 'output': st(y),
                'gradInput': st(x.grad)}

    def elementwise(name, module, config):
        x = torch.randn((2, 3, 4, 5), generator=gen) * 3
        flat = x.view(-1)
        flat[:len(special)] = torch.tensor(special)
        return run(name, module, config, x)

    cases = [
        elementwise('elu', nn.ELU(), {'type': 'ELU'}),
        elementwise('elu alpha 0.5', nn.ELU(0.5), {'type': 'ELU', 'alpha': 0.5}),
        elementwise('celu', nn.CELU(), {'type': 'CELU'}),
        elementwise('celu alpha 2', nn.CELU(2.0), {'type': 'CELU', 'alpha': 2.0}),
        elementwise('selu', nn.SELU(), {'type': 'SELU'}),
        elementwise('gelu', nn.GELU(), {'type': 'GELU'}),
        elementwise('gelu tanh', nn.GELU(approximate='tanh'), {'type': 'GELU', 'approximate': 'tanh'}),
        elementwise('silu', nn.SiLU(), {'type': 'SiLU'}),
        elementwise('mish', nn.Mish(), {'type': 'Mish'}),
        elementwise('sigmoid', nn.Sigmoid(), {'type': 'Sigmoid'}),
        elementwise('tanh', nn.Tanh(), {'type': 'Tanh'}),
        elementwise('softplus', nn.Softplus(), {'type': 'Softplus'}),
        elementwise('softplus beta 2 threshold 5', nn.Softplus(2.0, 5.0),
                    {'type': 'Softplus', 'beta': 2.0, 'threshold': 5.0}),
        elementwise('softplus beta 0.5 threshold 1', nn.Softplus(0.5, 1.0),
                    {'type': 'Softplus', 'beta': 0.5, 'threshold': 1.0}),
        elementwise('hardtanh', nn.Hardtanh(), {'type': 'Hardtanh'}),
        elementwise('hardtanh -0.5 2', nn.Hardtanh(-0.5, 2.0), {'type': 'Hardtanh', 'minVal': -0.5, 'maxVal': 2.0}),
        elementwise('relu6', nn.ReLU6(), {'type': 'ReLU6'}),
        elementwise('hardswish', nn.Hardswish(), {'type': 'Hardswish'}),
        elementwise('hardsigmoid', nn.Hardsigmoid(), {'type': 'Hardsigmoid'}),
        elementwise('identity', nn.Identity(), {'type': 'Identity'}),
    ]
    for size, shape in [(1, (2, 3, 7, 5)), ((2, 3), (2, 3, 5, 7)), ((3, 3), (2, 2, 5, 7)),
                        ((4, 6), (1, 2, 3, 4)), ((7, 7), (2, 1, 14, 14)), (2, (3, 6, 6))]:
        x = torch.randn(shape, generator=gen)
        config = {'type': 'AdaptiveAvgPool2d', 'outputSize': list(size) if isinstance(size, tuple) else size}
        cases.append(run(f'adaptive avg pool {size} of {list(shape)}', nn.AdaptiveAvgPool2d(size), config, x))
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
    write('activations-more.json', activations_more())
    write('optim.json', optim())
    write('safetensors.json', safetensors_fixtures())
    write('norm.json', norms())
    write('pool.json', pooling())
    write('softmax.json', softmaxes())
    write('loss.json', losses())
    write('linear.json', linear())
    write('conv.json', conv())
    write('whole-cnn.json', whole_cnn())
    write('models.json', models())
    write('graph.json', graphs())
    write('tensor-ops.json', tensor_ops())
    write('special-values.json', special_values())
