#!/usr/bin/env python3
"""Writes the ONNX fixtures of __test__/onnx*.test.ts into __test__/fixtures/onnx/.

Run with Debian's PyTorch, torchvision and onnx (`python3-torch`, `python3-torchvision`,
`python3-onnx`) and PyPI's `safetensors`: `npm run fixtures` runs it. Random weights only.

- toy_opset{11,17}.onnx: a small CNN exported in training mode without constant folding, so
  BatchNormalization stays unfused; it has PRelu, LeakyRelu, an asymmetric Pad, Add, Concat,
  MaxPool and the Shape/Gather/Unsqueeze/Concat/Reshape arithmetic of `x.view(x.size(0), -1)`
  with a dynamic batch dimension.
- acts_opset17.onnx: the saturating and smooth activations (Sigmoid, Tanh, Hardtanh, ...).
- resnet18 (opset 17, weights in an external-data file), mobilenet_v2 (opset 11) and
  squeezenet1_1 (opset 14) from torchvision, num_classes 10. Their weights are drawn from a few
  distinct values (k * 2^-e, BatchNorm the identity but for a bias) so that the files, gzipped,
  stay small; the tests gunzip them into a temporary folder.

expected.json holds, per model, PyTorch's eval-mode logits on the batch in
<model>.input.safetensors (tensor "input") and, per activation node in the ONNX file's node
order, the units (dimension 1) whose pre-activation is <= 0 at every sample and position, and
for the bounded kinds (Sigmoid, Tanh, Hardtanh, Hardsigmoid, ReLU6) the units whose every output
lies within 1% of the range's width of either end, recorded by forward hooks on the same batch.
"""
import gzip
import json
import math
import os
import shutil
import tempfile

import onnx
import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), '..', '__test__', 'fixtures', 'onnx')
# The ONNX ops whose units the tests compare, and the PyTorch modules that make them.
ACT_OPS = {'Relu', 'LeakyRelu', 'PRelu', 'Clip', 'Sigmoid', 'Tanh', 'HardSigmoid'}
HOOKED = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Hardsigmoid)  # ReLU6 is a Hardtanh; both export as Clip


def output_range(mod):
    """A bounded activation's output range (liven's saturation rule), else None."""
    if isinstance(mod, (nn.Sigmoid, nn.Hardsigmoid)):
        return 0.0, 1.0
    if isinstance(mod, nn.Tanh):
        return -1.0, 1.0
    if isinstance(mod, nn.Hardtanh):  # ReLU6 too
        return float(mod.min_val), float(mod.max_val)
    return None


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        # momentum 0: the training-mode trace leaves the running statistics as they are
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8, momentum=0.0)
        self.prelu = nn.PReLU(8)
        self.pad = nn.ZeroPad2d((1, 2, 0, 1))  # left, right, top, bottom
        self.conv2 = nn.Conv2d(8, 8, (2, 4))
        self.leaky = nn.LeakyReLU(0.1)
        self.relu1 = nn.ReLU()
        self.conv3 = nn.Conv2d(16, 8, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8, momentum=0.0)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(72, 16)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        a = self.prelu(self.bn1(self.conv1(x)))
        b = self.leaky(self.conv2(self.pad(a)))
        c = self.relu1(a + b)
        d = torch.cat([c, a], 1)
        e = self.pool(self.relu2(self.bn2(self.conv3(d))))
        f = e.view(e.size(0), -1)
        return self.fc2(self.relu3(self.fc1(f)))


class Acts(nn.Module):
    """One activation of each saturating or smooth kind, on 8 channels."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.acts = nn.ModuleList([nn.Sigmoid(), nn.Tanh(), nn.Hardtanh(-0.5, 0.5), nn.Hardsigmoid(),
                                   nn.ReLU6(), nn.ELU(0.7), nn.SELU(), nn.Softplus(), nn.Hardswish()])
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.conv(x)
        outs = [act(x) for act in self.acts]
        s = outs[0]
        for o in outs[1:]:
            s = s + o
        return torch.softmax(self.fc(torch.flatten(self.gap(s), 1)), 1)


def pow2(x):
    return 2.0 ** round(math.log2(x))


def few_values_(model, gen):
    """Weights k * s (k in -3..3, s a power of two near He's scale), identity BatchNorms but for
    a bias in {-2..2}/16: few distinct float32 values, so that gzip shrinks the files."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                s = pow2(math.sqrt(2.0 / fan_in) / 2)
                mod.weight.copy_(torch.randint(-3, 4, mod.weight.shape, generator=gen) * s)
                if mod.bias is not None:
                    mod.bias.copy_(torch.randint(-2, 3, mod.bias.shape, generator=gen) / 16)
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.fill_(1)
                mod.bias.copy_(torch.randint(-2, 3, mod.bias.shape, generator=gen) / 16)
                mod.running_mean.zero_()
                mod.running_var.fill_(1)


def randomize_bn_(model, gen):
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.3)
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=gen) * 0.2)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)
            if isinstance(mod, nn.PReLU):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=gen) * 0.5)


def dead_units(model, x):
    """Per call of a hooked activation, in call order: the units dead on the batch."""
    rows = []

    def per_unit(t):
        return t.transpose(0, 1).reshape(t.shape[1], -1)

    def hook(mod, inputs, output):
        pre = inputs[0].detach()
        active = per_unit(pre > 0).any(dim=1)
        row = {'module': type(mod).__name__, 'dead': [i for i, a in enumerate(active.tolist()) if not a]}
        rng = output_range(mod)
        if rng is not None:
            # every output within 1% of the range's width of either end (float32 thresholds)
            lo, hi = rng
            t_lo = torch.tensor(lo + 0.01 * (hi - lo), dtype=torch.float32)
            t_hi = torch.tensor(hi - 0.01 * (hi - lo), dtype=torch.float32)
            flat = per_unit((output <= t_lo) | (output >= t_hi)).all(dim=1)
            row['saturated'] = [i for i, f in enumerate(flat.tolist()) if f]
        rows.append(row)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, HOOKED)]
    with torch.no_grad():
        logits = model(x)
    for h in handles:
        h.remove()
    return logits, rows


def export(model, x, path, opset, training=False, external=False):
    kwargs = dict(opset_version=opset, input_names=['input'], output_names=['logits'],
                  dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
    if training:
        kwargs.update(training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    torch.onnx.export(model, x, path, **kwargs)
    model.eval()
    m = onnx.load(path)
    onnx.checker.check_model(m)
    if external:
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(path) + '.data', size_threshold=0)
    return m


def record(name, model, x, opset, expected, training=False, external=False, gz=False):
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name + '.onnx')
        m = export(model, x, path, opset, training, external)
        model.eval()
        logits, rows = dead_units(model, x)
        nodes = [n for n in m.graph.node if n.op_type in ACT_OPS]
        assert len(nodes) == len(rows), (name, len(nodes), len(rows))
        for n, r in zip(nodes, rows):
            r['node'] = n.name
            r['op'] = n.op_type
        for f in sorted(os.listdir(tmp)):
            src = os.path.join(tmp, f)
            if gz:
                with open(src, 'rb') as fi, gzip.GzipFile(os.path.join(OUT, f + '.gz'), 'wb', 9, mtime=0) as fo:
                    shutil.copyfileobj(fi, fo)
            else:
                shutil.copy(src, os.path.join(OUT, f))
    save_file({'input': x.contiguous()}, os.path.join(OUT, name + '.input.safetensors'))
    expected[name] = {
        'files': sorted(f for f in os.listdir(OUT) if f.startswith(name + '.onnx')),
        'opset': opset,
        'logits': {'shape': list(logits.shape), 'data': [float(v) for v in logits.flatten().tolist()]},
        'activations': rows,
    }
    print(name, 'done', [n['node'] for n in rows][:3])


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if '.onnx' in f or f.endswith('.safetensors') or f == 'expected.json':
            os.remove(os.path.join(OUT, f))
    gen = torch.Generator().manual_seed(14)
    torch.manual_seed(14)
    expected = {}

    toy = Toy()
    randomize_bn_(toy, gen)
    with torch.no_grad():
        toy.bn2.bias[:3] = -5.0  # three channels of relu2 die on any batch
    x = torch.randn(4, 3, 12, 12, generator=gen)
    for opset in (11, 17):
        record(f'toy_opset{opset}', toy, x, opset, expected, training=True)

    acts = Acts()
    with torch.no_grad():
        acts.conv.weight.mul_(3)  # wide pre-activations
        acts.conv.bias[0] = 30.0  # channel 0 saturates at the top of every bounded activation
        acts.conv.bias[1] = -30.0  # channel 1 at the bottom
    record('acts_opset17', acts, torch.randn(4, 3, 8, 8, generator=gen), 17, expected)

    batch = torch.randn(2, 3, 64, 64, generator=gen)
    for name, opset, external in (('resnet18', 17, True), ('mobilenet_v2', 11, False), ('squeezenet1_1', 14, False)):
        model = getattr(torchvision.models, name)(num_classes=10)
        few_values_(model, gen)
        record(f'{name}_opset{opset}', model, batch, opset, expected, external=external, gz=True)

    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)


if __name__ == '__main__':
    main()
