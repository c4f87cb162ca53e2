// Small test-only modules for the diag tests, until nn.Sequential and nn.Linear exist: a
// container, a fixed per-unit offset (to place pre-activations exactly), and a dense layer with
// plain loops (to train a small network that loses units).
import { Tensor, nn } from '../../src/index.js';
import { rng } from './numeric.js';

/** Children '0', '1', ... run in order (as nn.Sequential will). */
export class Chain extends nn.Module {
  readonly layers: nn.Module[];
  constructor(...layers: nn.Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }
  toConfig(): nn.ModuleConfig {
    return { type: 'Chain', layers: this.layers.map((l) => l.toConfig()) };
  }
  protected forwardImpl(x: Tensor): Tensor {
    return this.layers.reduce((h, m) => m.forward(h), x);
  }
  protected backwardImpl(g: Tensor): Tensor {
    return this.layers.reduceRight((h, m) => m.backward(h), g);
  }
}

/** y = x + offset[u] for unit u (dimension 1), a learnable parameter named 'bias'. */
export class Offset extends nn.Module {
  readonly bias: nn.Parameter;
  constructor(offsets: number[]) {
    super();
    this.bias = this.registerParameter('bias', new nn.Parameter(Tensor.from(offsets, [offsets.length])));
  }
  toConfig(): nn.ModuleConfig {
    return { type: 'Offset', offsets: [...this.bias.data.data] };
  }
  #inner(x: Tensor): number {
    return x.shape.slice(2).reduce((a, b) => a * b, 1);
  }
  protected forwardImpl(x: Tensor): Tensor {
    const y = Tensor.zerosLike(x);
    const units = this.bias.data.size;
    const inner = this.#inner(x);
    for (let i = 0; i < x.size; i++) y.data[i] = x.data[i]! + this.bias.data.data[Math.floor(i / inner) % units]!;
    return y;
  }
  protected backwardImpl(g: Tensor, x: Tensor): Tensor {
    const units = this.bias.data.size;
    const inner = this.#inner(x);
    for (let i = 0; i < g.size; i++) this.bias.grad.data[Math.floor(i / inner) % units]! += g.data[i]!;
    return Tensor.from(Float32Array.from(g.data), g.shape);
  }
}

/** y = x Wᵀ + b for x [N, in], uniform(±1/√in) weights from `seed`. */
export class Dense extends nn.Module {
  readonly weight: nn.Parameter;
  readonly bias: nn.Parameter;
  constructor(readonly inFeatures: number, readonly outFeatures: number, seed: number) {
    super();
    const r = rng(seed);
    const bound = 1 / Math.sqrt(inFeatures);
    const w = Tensor.zeros([outFeatures, inFeatures]);
    for (let i = 0; i < w.size; i++) w.data[i] = (2 * r() - 1) * bound;
    const b = Tensor.zeros([outFeatures]);
    for (let i = 0; i < b.size; i++) b.data[i] = (2 * r() - 1) * bound;
    this.weight = this.registerParameter('weight', new nn.Parameter(w));
    this.bias = this.registerParameter('bias', new nn.Parameter(b));
  }
  toConfig(): nn.ModuleConfig {
    return { type: 'Dense', inFeatures: this.inFeatures, outFeatures: this.outFeatures };
  }
  protected forwardImpl(x: Tensor): Tensor {
    const [n, k, m] = [x.shape[0]!, this.inFeatures, this.outFeatures];
    const y = Tensor.zeros([n, m]);
    const W = this.weight.data.data;
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < m; o++) {
        let s = this.bias.data.data[o]!;
        for (let j = 0; j < k; j++) s += x.data[i * k + j]! * W[o * k + j]!;
        y.data[i * m + o] = s;
      }
    }
    return y;
  }
  protected backwardImpl(g: Tensor, x: Tensor): Tensor {
    const [n, k, m] = [x.shape[0]!, this.inFeatures, this.outFeatures];
    const dx = Tensor.zeros([n, k]);
    const W = this.weight.data.data;
    const dW = this.weight.grad.data;
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < m; o++) {
        const go = g.data[i * m + o]!;
        this.bias.grad.data[o]! += go;
        for (let j = 0; j < k; j++) {
          dW[o * k + j]! += go * x.data[i * k + j]!;
          dx.data[i * k + j]! += go * W[o * k + j]!;
        }
      }
    }
    return dx;
  }
}

/** Mean squared error and its gradient. */
export function mse(y: Tensor, target: Float32Array): { loss: number; grad: Tensor } {
  const grad = Tensor.zerosLike(y);
  let loss = 0;
  for (let i = 0; i < y.size; i++) {
    const d = y.data[i]! - target[i]!;
    loss += d * d;
    grad.data[i] = (2 * d) / y.size;
  }
  return { loss: loss / y.size, grad };
}

/** Plain SGD on every parameter, with `lr` readable (the shape diag.gradientStats expects). */
export class PlainSGD {
  constructor(readonly params: nn.Parameter[], public lr: number) {}
  step(): void {
    for (const p of this.params) for (let i = 0; i < p.data.size; i++) p.data.data[i]! -= this.lr * p.grad.data[i]!;
  }
}

/**
 * Trains a 2-16-16-1 MLP on a smooth regression for `steps` steps, raising the learning rate
 * from `lr` to `bigLr` at `switchAt`: the big rate kills ReLU units. Returns what it used.
 */
export function trainDyingMlp(steps: number, { lr = 0.05, bigLr = 0.5, switchAt = 40, onStep }: { lr?: number; bigLr?: number; switchAt?: number; onStep: (info: { step: number; loss: number; lr: number; model: Chain; opt: PlainSGD }) => void }): Chain {
  const model = new Chain(new Dense(2, 16, 1), new nn.ReLU(), new Chain(new Dense(16, 16, 2), new nn.ReLU()), new Dense(16, 1, 3));
  const opt = new PlainSGD(model.parameters(), lr);
  const r = rng(11);
  for (let step = 0; step < steps; step++) {
    if (step === switchAt) opt.lr = bigLr;
    const n = 32;
    const x = Tensor.zeros([n, 2]);
    const t = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const a = 2 * r() - 1;
      const b = 2 * r() - 1;
      x.data[2 * i] = a;
      x.data[2 * i + 1] = b;
      t[i] = Math.sin(2 * a) + b * b;
    }
    model.zeroGrad();
    const { loss, grad } = mse(model.forward(x), t);
    model.backward(grad);
    onStep({ step, loss, lr: opt.lr, model, opt });
    opt.step();
  }
  return model;
}
