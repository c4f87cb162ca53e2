import { checkFinite, checkOptions, formatShape } from '../check.js';
import { Tensor } from '../tensor.js';
import { Module, configOptions, type ModuleConfig } from './module.js';

type Padding4 = readonly [left: number, right: number, top: number, bottom: number];

/**
 * Pads the last two dimensions of `[..., H, W]` with a constant (PyTorch's `nn.ConstantPad2d`,
 * ONNX's Pad in constant mode): `padding` is one size for all four sides or
 * `[left, right, top, bottom]`. Backward crops the gradient back to the input.
 */
export class ConstantPad2d extends Module {
  readonly padding: Padding4;
  readonly value: number;

  constructor(padding: number | readonly number[], options?: { value?: number }) {
    super();
    const o = checkOptions(options, 'ConstantPad2d');
    const p = typeof padding === 'number' ? [padding, padding, padding, padding] : padding;
    if (!Array.isArray(p) || p.length !== 4 || p.some((v) => typeof v !== 'number')) {
      throw new TypeError(`ConstantPad2d padding must be a number or [left, right, top, bottom], got ${JSON.stringify(padding)}`);
    }
    if (p.some((v) => !Number.isInteger(v) || v < 0)) throw new RangeError(`ConstantPad2d padding ${formatShape(p)} must be non-negative integers`);
    this.padding = [p[0]!, p[1]!, p[2]!, p[3]!];
    this.value = checkFinite(o.value ?? 0, 'ConstantPad2d value');
  }

  #dims(shape: readonly number[]): { outer: number; h: number; w: number; oh: number; ow: number } {
    if (shape.length < 2) throw new RangeError(`ConstantPad2d: input of shape ${formatShape(shape)} needs at least 2 dimensions [..., H, W]`);
    const h = shape[shape.length - 2]!;
    const w = shape[shape.length - 1]!;
    const [l, r, t, b] = this.padding;
    return { outer: shape.slice(0, -2).reduce((a, c) => a * c, 1), h, w, oh: h + t + b, ow: w + l + r };
  }

  toConfig(): ModuleConfig {
    return { type: 'ConstantPad2d', padding: [...this.padding], value: this.value };
  }

  static fromConfig(config: ModuleConfig): ConstantPad2d {
    const o = configOptions(config, 'ConstantPad2d', ['padding', 'value']);
    return new ConstantPad2d(o.padding as number[], { value: o.value as number });
  }

  protected forwardImpl(x: Tensor): Tensor {
    const { outer, h, w, oh, ow } = this.#dims(x.shape);
    const [l, , t] = this.padding;
    const y = Tensor.empty([...x.shape.slice(0, -2), oh, ow]);
    y.data.fill(this.value);
    for (let n = 0; n < outer; n++) {
      for (let i = 0; i < h; i++) {
        const src = (n * h + i) * w;
        y.data.set(x.data.subarray(src, src + w), (n * oh + i + t) * ow + l);
      }
    }
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const { outer, h, w, oh, ow } = this.#dims(x.shape);
    const [l, , t] = this.padding;
    const dx = Tensor.emptyLike(x);
    for (let n = 0; n < outer; n++) {
      for (let i = 0; i < h; i++) {
        const src = (n * oh + i + t) * ow + l;
        dx.data.set(gradOutput.data.subarray(src, src + w), (n * h + i) * w);
      }
    }
    return dx;
  }
}
