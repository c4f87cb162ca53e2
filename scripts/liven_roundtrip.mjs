// Has liven write safetensors files for scripts/check_roundtrip.py to load in PyTorch (part of
// `npm run fixtures`; uses the built package in dist/, so run `npm run build:ts` first).
//   liven_sequential_bn.safetensors: PyTorch's BatchNorm state dict, read by liven and written back
//     (int64 num_batches_tracked becomes F32, which load_state_dict converts back)
//   liven_prelu_model.safetensors: the state dict of a liven model built from a config, with
//     liven's forward output in the metadata for PyTorch to compare with its own
//   liven_whole_cnn.safetensors: PyTorch's whole CNN after one training step in liven (the
//     fixture's first step: forward, cross-entropy, backward, SGD), with liven's eval logits
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tensor, io, nn, optim, setNumThreads } from '../dist/index.js';

const dir = fileURLToPath(new URL('../__test__/fixtures/safetensors/', import.meta.url));
const fixture = JSON.parse(readFileSync(`${dir}../safetensors.json`, 'utf8'));
setNumThreads(1);

io.saveSafetensors(`${dir}liven_sequential_bn.safetensors`, io.loadSafetensors(`${dir}sequential_bn.safetensors`), { metadata: { writer: 'liven' } });

const model = nn.Sequential.fromConfig(fixture.preluModel.config);
model.loadStateDict(io.loadSafetensors(`${dir}prelu_model.safetensors`));
const x = fixture.preluModel.input;
const y = model.forward(Tensor.from(x.data, x.shape));
io.saveSafetensors(`${dir}liven_prelu_model.safetensors`, model.stateDict(), {
  metadata: { writer: 'liven', config: JSON.stringify(model.toConfig()), output: JSON.stringify({ shape: y.shape, data: [...y.data] }) },
});

const cnnFixture = JSON.parse(readFileSync(`${dir}../whole-cnn.json`, 'utf8'));
const cnn = nn.Sequential.fromConfig(cnnFixture.config);
cnn.loadStateDict(io.loadSafetensors(`${dir}whole_cnn.safetensors`));
const step = cnnFixture.steps[0];
const batch = Tensor.from(step.input.data, step.input.shape);
const lossFn = new nn.CrossEntropyLoss();
lossFn.forward(cnn.forward(batch), step.target);
cnn.backward(lossFn.backward());
new optim.SGD(cnn.parameters(), cnnFixture.sgd).step();
const logits = cnn.eval().forward(batch);
io.saveSafetensors(`${dir}liven_whole_cnn.safetensors`, cnn.stateDict(), {
  metadata: { writer: 'liven', output: JSON.stringify({ shape: logits.shape, data: [...logits.data] }) },
});
console.log('liven wrote liven_sequential_bn.safetensors, liven_prelu_model.safetensors and liven_whole_cnn.safetensors');
