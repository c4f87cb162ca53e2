// Tensor's elementwise helpers and the merge layers on liven-core's elementwise kernels, native
// against the JS backend (the TypeScript loops they replaced): a same-shape add, ResNet residual
// adds through nn.Add (forward and backward), a squeeze-and-excitation gate through nn.Mul, sums
// over dims, and nn.Cat of long rows (channels) and short ones (the last dim). Outputs are fresh tensors, as the API gives them.
import { Tensor, nn, setBackend } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { filled, formatTime, measure, table } from '../harness.js';

const t = (shape, seed) => Tensor.from(filled(shape.reduce((a, b) => a * b, 1), seed), shape);
const fmt = (shape) => `[${shape.join(', ')}]`;

/** `[name, elements of the output, call]` for one backend. */
function cases(quick) {
  const add = (n) => {
    const [a, b] = [t([n], 1), t([n], 2)];
    return [`Tensor.add, ${n.toLocaleString('en')} floats`, n, () => a.add(b)];
  };
  // ResNet-18 on 32×32 inputs (the issue-15 training step, batch 16) and layer1 of an ImageNet ResNet.
  const residual = (shape) => {
    const [a, b] = [t(shape, 3), t(shape, 4)];
    const m = new nn.Add();
    return [`nn.Add forward+backward ${fmt(shape)}`, a.size, () => m.backward(m.forward(a, b))];
  };
  const gate = (shape) => {
    const x = t(shape, 5);
    const s = t([shape[0], shape[1], 1, 1], 6);
    const m = new nn.Mul();
    return [`nn.Mul gate forward+backward ${fmt(shape)} · [N, C, 1, 1]`, x.size, () => m.backward(m.forward(x, s))];
  };
  const sum = (shape, dims) => {
    const x = t(shape, 7);
    return [`Tensor.sum ${fmt(shape)} over ${dims === undefined ? 'all' : fmt(dims)}`, x.size, () => x.sum(dims)];
  };
  const cat = (shapes) => {
    const xs = shapes.map((s, i) => t(s, 8 + i));
    const m = new nn.Cat({ dim: 1 });
    return [`nn.Cat forward+backward ${shapes.map(fmt).join(' ‖ ')}`, xs.reduce((n, x) => n + x.size, 0), () => m.backward(m.forward(...xs))];
  };
  const big = quick ? [1 << 16] : [1 << 16, 1 << 20, 1 << 24];
  return [
    ...big.map(add),
    residual([16, 64, 8, 8]),
    residual([16, 128, 4, 4]),
    ...(quick ? [] : [residual([32, 64, 56, 56])]),
    gate(quick ? [16, 64, 8, 8] : [16, 64, 32, 32]),
    sum(quick ? [16, 64, 8, 8] : [16, 64, 32, 32], [2, 3]),
    sum(quick ? [16, 64, 8, 8] : [16, 64, 32, 32], [0, 2, 3]),
    sum([1 << 20]),
    cat(quick ? [[16, 64, 8, 8], [16, 32, 8, 8]] : [[16, 64, 32, 32], [16, 32, 32, 32]]),
    cat([[quick ? 4096 : 65536, 4], [quick ? 4096 : 65536, 4]]),
  ];
}

export async function run({ quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  const list = cases(quick);
  const on = (backend, f) => () => {
    setBackend(backend);
    f();
  };
  const times = await measure(list.flatMap(([name, , f]) => [[`${name} native`, on('native', f)], [`${name} js`, on('js', f)]]), { quick });
  setBackend('native');
  const results = list.map(([name, n]) => ({ name, n, native: times[`${name} native`], js: times[`${name} js`] }));
  log(table(['operation (fresh outputs)', 'elements', 'native', 'js', 'native speed-up'], results.map((r) => [r.name, r.n.toLocaleString('en'), formatTime(r.native), formatTime(r.js), `${(r.js / r.native).toFixed(1)}x`])));
  return { results };
}
