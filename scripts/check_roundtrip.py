#!/usr/bin/env python3
"""Checks that PyTorch loads the safetensors files liven wrote (scripts/liven_roundtrip.mjs):
each loads into the same torch.nn.Sequential with load_state_dict(strict=True), every tensor
equals the original exactly, and liven's forward output (in the file's metadata) equals
PyTorch's. Exits with status 1 on any difference. Part of `npm run fixtures`.
"""
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import OUT, bn_model, prelu_model, whole_cnn_model  # noqa: E402

DIR = os.path.join(OUT, 'safetensors')
failures = []


def check(ok, what):
    print(('ok    ' if ok else 'FAIL  ') + what)
    if not ok:
        failures.append(what)


def roundtrip(name, model, original):
    path = os.path.join(DIR, name)
    loaded = load_file(path)
    with safe_open(path, framework='pt') as f:
        metadata = f.metadata()
    check(metadata.get('writer') == 'liven', f'{name}: metadata writer = liven')
    model.load_state_dict(loaded, strict=True)
    for key, want in original.items():
        got = model.state_dict()[key]
        check(got.dtype == want.dtype and torch.equal(got, want), f'{name}: {key} {list(want.shape)} {want.dtype} equal after load_state_dict')
    return model, metadata


torch.manual_seed(0)
orig_bn = load_file(os.path.join(DIR, 'sequential_bn.safetensors'))
roundtrip('liven_sequential_bn.safetensors', bn_model(), orig_bn)

orig_prelu = load_file(os.path.join(DIR, 'prelu_model.safetensors'))
model, metadata = roundtrip('liven_prelu_model.safetensors', prelu_model(), orig_prelu)
fixture = json.load(open(os.path.join(OUT, 'safetensors.json')))
x = fixture['preluModel']['input']
with torch.no_grad():
    want = model(torch.tensor(x['data'], dtype=torch.float32).reshape(x['shape']))
liven = json.loads(metadata['output'])
got = torch.tensor(liven['data'], dtype=torch.float32).reshape(liven['shape'])
check(torch.equal(got, want), 'liven_prelu_model.safetensors: liven\'s forward output equals PyTorch\'s exactly')

# The whole CNN after liven's training step: PyTorch loads it strictly, finds the parameters and
# running statistics its own step gave (float32 summation order aside: 2e-5 of each tensor's
# scale, as in __test__/whole-cnn.test.ts), and its eval logits on those weights match liven's.
path = os.path.join(DIR, 'liven_whole_cnn.safetensors')
cnn_fixture = json.load(open(os.path.join(OUT, 'whole-cnn.json')))
with safe_open(path, framework='pt') as f:
    metadata = f.metadata()
cnn = whole_cnn_model()
cnn.load_state_dict(load_file(path), strict=True)
check(metadata.get('writer') == 'liven', 'liven_whole_cnn.safetensors: metadata writer = liven')
step = cnn_fixture['steps'][0]
state = cnn.state_dict()


def close(got, want, what):
    want = torch.tensor(want['data'], dtype=torch.float32).reshape(want['shape'])
    tol = 2e-5 * float(want.abs().max()) + 2e-5 * want.abs()
    check(got.shape == want.shape and bool(((got.float() - want).abs() <= tol).all()), what)


for key, want in {**step['params'], **step['buffers']}.items():
    close(state[key], want, f'liven_whole_cnn.safetensors: {key} equals PyTorch\'s after its step')
x = torch.tensor(step['input']['data'], dtype=torch.float32).reshape(step['input']['shape'])
with torch.no_grad():
    want = cnn.eval()(x)
close(want, json.loads(metadata['output']), 'liven_whole_cnn.safetensors: PyTorch\'s eval logits equal liven\'s')

print(f'{len(failures)} failure(s)' if failures else 'PyTorch loads what liven wrote')
sys.exit(1 if failures else 0)
