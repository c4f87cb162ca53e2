import { kernels } from '../backend/index.js';
import type { Pool2dGeometry } from '../backend/types.js';
import { checkBoolean, checkOptions, describeValue, formatShape } from '../check.js';
import { Tensor } from '../tensor.js';
import { Module, configOptions, type ModuleConfig } from './module.js';

/** A size given as one number or an `[h, w]` pair. */
export type Size2 = number | [number, number];

function pair(value: unknown, what: string, min: number): [number, number] {
  const check = (v: unknown): number => {
    if (typeof v !== 'number') throw new TypeError(`${what} must be a number or an [h, w] pair, got ${describeValue(v)}`);
    if (!Number.isInteger(v) || v < min) throw new RangeError(`${what} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer, got ${v}`);
    return v;
  };
  if (Array.isArray(value)) {
    if (value.length !== 2) throw new RangeError(`${what} must be a number or an [h, w] pair, got an array of ${value.length}`);
    return [check(value[0]), check(value[1])];
  }
  const v = check(value);
  return [v, v];
}

/** The geometry options shared by MaxPool2d and AvgPool2d, checked. */
interface PoolSpec {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  ceilMode: boolean;
}

function poolSpec(kind: string, kernelSize: unknown, o: { stride?: unknown; padding?: unknown; dilation?: unknown; ceilMode?: unknown }): PoolSpec {
  const kernel = pair(kernelSize, `${kind} kernelSize`, 1);
  const stride = o.stride === undefined || o.stride === null ? kernel : pair(o.stride, `${kind} stride`, 1);
  const padding = pair(o.padding ?? 0, `${kind} padding`, 0);
  const dilation = pair(o.dilation ?? 1, `${kind} dilation`, 1);
  const ceilMode = checkBoolean(o.ceilMode ?? false, `${kind} ceilMode`);
  for (const i of [0, 1]) {
    if (padding[i]! > Math.floor(kernel[i]! / 2)) {
      throw new RangeError(`${kind}: padding ${formatShape(padding)} should be at most half of kernel size ${formatShape(kernel)}`);
    }
  }
  return { kernel, stride, padding, dilation, ceilMode };
}

/** PyTorch's pooling output size along one axis (the last window must start inside the input or its left padding). */
export function poolOutputSize(input: number, kernel: number, stride: number, padding: number, dilation: number, ceilMode: boolean): number {
  const span = (kernel - 1) * dilation + 1;
  let out = Math.floor((input + 2 * padding - span + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  if (ceilMode && (out - 1) * stride >= input + padding) out--;
  return out;
}

/** The geometry for an input of `shape` (`[N, C, H, W]` or `[C, H, W]`), or a RangeError naming it. */
function geometry(kind: string, spec: PoolSpec, shape: readonly number[]): { planes: number; g: Pool2dGeometry; outShape: number[] } {
  if (shape.length !== 3 && shape.length !== 4) {
    throw new RangeError(`${kind}.forward: input of shape ${formatShape(shape)} must be [N, C, H, W] or [C, H, W]`);
  }
  const h = shape[shape.length - 2]!;
  const w = shape[shape.length - 1]!;
  const lead = shape.slice(0, -2);
  const planes = lead.reduce((a, b) => a * b, 1);
  if (planes === 0 || h === 0 || w === 0) throw new RangeError(`${kind}.forward: input of shape ${formatShape(shape)} is empty`);
  const [kh, kw] = spec.kernel;
  const [sh, sw] = spec.stride;
  const [ph, pw] = spec.padding;
  const [dh, dw] = spec.dilation;
  const oh = poolOutputSize(h, kh, sh, ph, dh, spec.ceilMode);
  const ow = poolOutputSize(w, kw, sw, pw, dw, spec.ceilMode);
  if (oh < 1 || ow < 1) {
    throw new RangeError(`${kind}.forward: input of shape ${formatShape(shape)} is too small: the output would be ${oh}×${ow}`);
  }
  // With dilation a window of the first outputs can fall between the input's edge and its taps.
  const empty = (input: number, out: number, s: number, p: number, d: number, k: number) => {
    for (let o = 0; o < out && o * s - p < 0; o++) {
      const start = o * s - p;
      const skip = Math.ceil(-start / d);
      if (skip >= k || start + skip * d >= input) return true;
    }
    return false;
  };
  if (empty(h, oh, sh, ph, dh, kh) || empty(w, ow, sw, pw, dw, kw)) {
    throw new RangeError(`${kind}.forward: input of shape ${formatShape(shape)} has a window that lies entirely in the padding`);
  }
  return { planes, g: { h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw }, outShape: [...lead, oh, ow] };
}

interface MaxPoolOptions {
  stride?: Size2;
  padding?: Size2;
  dilation?: Size2;
  ceilMode?: boolean;
}

/**
 * 2-D max pooling over `[N, C, H, W]` (or `[C, H, W]`). Backward routes each gradient to its
 * window's first maximum; a NaN in a window wins it (the last NaN), as in PyTorch.
 */
export class MaxPool2d extends Module {
  readonly kernelSize: Size2;
  readonly stride: Size2;
  readonly padding: Size2;
  readonly dilation: Size2;
  readonly ceilMode: boolean;
  readonly #spec: PoolSpec;
  /** The argmax of the last forward, within each plane. */
  #indices: Uint32Array | null = null;

  constructor(kernelSize: Size2, options?: MaxPoolOptions) {
    super();
    const o = checkOptions(options, 'MaxPool2d');
    this.#spec = poolSpec('MaxPool2d', kernelSize, o);
    this.kernelSize = kernelSize;
    this.stride = o.stride ?? kernelSize;
    this.padding = o.padding ?? 0;
    this.dilation = o.dilation ?? 1;
    this.ceilMode = this.#spec.ceilMode;
  }

  toConfig(): ModuleConfig {
    return { type: 'MaxPool2d', kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode };
  }

  static fromConfig(config: ModuleConfig): MaxPool2d {
    const { kernelSize, ...o } = configOptions(config, 'MaxPool2d', ['kernelSize', 'stride', 'padding', 'dilation', 'ceilMode']);
    return new MaxPool2d(kernelSize as Size2, o);
  }

  protected forwardImpl(x: Tensor): Tensor {
    const { planes, g, outShape } = geometry('MaxPool2d', this.#spec, x.shape);
    const y = Tensor.empty(outShape);
    const indices = new Uint32Array(y.size);
    kernels().maxPool2dForward(x.data, y.data, indices, planes, g);
    this.#indices = indices;
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const { planes, g } = geometry('MaxPool2d', this.#spec, x.shape);
    const dx = Tensor.emptyLike(x);
    kernels().maxPool2dBackward(gradOutput.data, this.#indices!, dx.data, planes, g);
    return dx;
  }
}

interface AvgPoolOptions {
  stride?: Size2;
  padding?: Size2;
  ceilMode?: boolean;
  countIncludePad?: boolean;
}

/**
 * 2-D average pooling over `[N, C, H, W]` (or `[C, H, W]`), with PyTorch's divisors: the window
 * clipped to the padded input when `countIncludePad` (the ceil-mode overhang past the padding
 * does not count), to the input itself otherwise.
 */
export class AvgPool2d extends Module {
  readonly kernelSize: Size2;
  readonly stride: Size2;
  readonly padding: Size2;
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly #spec: PoolSpec;

  constructor(kernelSize: Size2, options?: AvgPoolOptions) {
    super();
    const o = checkOptions(options, 'AvgPool2d');
    this.#spec = poolSpec('AvgPool2d', kernelSize, { ...o, dilation: 1 });
    const countIncludePad = checkBoolean(o.countIncludePad ?? true, 'AvgPool2d countIncludePad');
    this.kernelSize = kernelSize;
    this.stride = o.stride ?? kernelSize;
    this.padding = o.padding ?? 0;
    this.ceilMode = this.#spec.ceilMode;
    this.countIncludePad = countIncludePad;
  }

  toConfig(): ModuleConfig {
    return { type: 'AvgPool2d', kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, ceilMode: this.ceilMode, countIncludePad: this.countIncludePad };
  }

  static fromConfig(config: ModuleConfig): AvgPool2d {
    const { kernelSize, ...o } = configOptions(config, 'AvgPool2d', ['kernelSize', 'stride', 'padding', 'ceilMode', 'countIncludePad']);
    return new AvgPool2d(kernelSize as Size2, o);
  }

  protected forwardImpl(x: Tensor): Tensor {
    const { planes, g, outShape } = geometry('AvgPool2d', this.#spec, x.shape);
    const y = Tensor.empty(outShape);
    kernels().avgPool2dForward(x.data, y.data, planes, g, this.countIncludePad);
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const { planes, g } = geometry('AvgPool2d', this.#spec, x.shape);
    const dx = Tensor.emptyLike(x);
    kernels().avgPool2dBackward(gradOutput.data, dx.data, planes, g, this.countIncludePad);
    return dx;
  }
}

function globalShape(kind: string, shape: readonly number[]): { planes: number; hw: number } {
  if (shape.length !== 4 || shape[2]! * shape[3]! === 0) {
    throw new RangeError(`${kind}.forward: input of shape ${formatShape(shape)} must be [N, C, H, W] with H·W > 0`);
  }
  return { planes: shape[0]! * shape[1]!, hw: shape[2]! * shape[3]! };
}

/** `[N, C, H, W]` → `[N, C]`: each channel's mean. */
export class GlobalAvgPool2d extends Module {
  toConfig(): ModuleConfig {
    return { type: 'GlobalAvgPool2d' };
  }

  static fromConfig(config: ModuleConfig): GlobalAvgPool2d {
    configOptions(config, 'GlobalAvgPool2d', []);
    return new GlobalAvgPool2d();
  }

  protected forwardImpl(x: Tensor): Tensor {
    const { hw } = globalShape('GlobalAvgPool2d', x.shape);
    const y = Tensor.empty([x.shape[0]!, x.shape[1]!]);
    kernels().globalAvgPoolForward(x.data, y.data, hw);
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const { hw } = globalShape('GlobalAvgPool2d', x.shape);
    const dx = Tensor.emptyLike(x);
    kernels().globalAvgPoolBackward(gradOutput.data, dx.data, hw);
    return dx;
  }
}

/** `[N, C, H, W]` → `[N, C]`: each channel's maximum (backward to its first maximum; NaN wins). */
export class GlobalMaxPool2d extends Module {
  #indices: Uint32Array | null = null;

  toConfig(): ModuleConfig {
    return { type: 'GlobalMaxPool2d' };
  }

  static fromConfig(config: ModuleConfig): GlobalMaxPool2d {
    configOptions(config, 'GlobalMaxPool2d', []);
    return new GlobalMaxPool2d();
  }

  protected forwardImpl(x: Tensor): Tensor {
    const { planes, hw } = globalShape('GlobalMaxPool2d', x.shape);
    const y = Tensor.empty([x.shape[0]!, x.shape[1]!]);
    const indices = new Uint32Array(planes);
    kernels().globalMaxPoolForward(x.data, y.data, indices, hw);
    this.#indices = indices;
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const { hw } = globalShape('GlobalMaxPool2d', x.shape);
    const dx = Tensor.emptyLike(x);
    kernels().globalMaxPoolBackward(gradOutput.data, this.#indices!, dx.data, hw);
    return dx;
  }
}

/**
 * `[N, C, H, W]` (or `[C, H, W]`) → `[N, C, oh, ow]`: the mean of each of PyTorch's adaptive bins,
 * rows ⌊i·H/oh⌋ .. ⌈(i+1)·H/oh⌉ and likewise columns (bins overlap when the sizes do not divide;
 * an output larger than the input repeats elements). `outputSize` is a number or `[oh, ow]`.
 */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number, number];

  constructor(outputSize: Size2) {
    super();
    this.outputSize = pair(outputSize, 'AdaptiveAvgPool2d outputSize', 1);
  }

  toConfig(): ModuleConfig {
    return { type: 'AdaptiveAvgPool2d', outputSize: [...this.outputSize] };
  }

  static fromConfig(config: ModuleConfig): AdaptiveAvgPool2d {
    const o = configOptions(config, 'AdaptiveAvgPool2d', ['outputSize']);
    return new AdaptiveAvgPool2d(o.outputSize as Size2);
  }

  /** The planes and sizes of an input of `shape`, or a RangeError naming it. */
  #geometry(shape: readonly number[]): { planes: number; h: number; w: number; outShape: number[] } {
    if ((shape.length !== 3 && shape.length !== 4) || shape.at(-1)! === 0 || shape.at(-2)! === 0) {
      throw new RangeError(`AdaptiveAvgPool2d.forward: input of shape ${formatShape(shape)} must be [N, C, H, W] or [C, H, W] with H, W > 0`);
    }
    const [oh, ow] = this.outputSize;
    const lead = shape.slice(0, -2);
    return { planes: lead.reduce((a, b) => a * b, 1), h: shape.at(-2)!, w: shape.at(-1)!, outShape: [...lead, oh, ow] };
  }

  protected forwardImpl(x: Tensor): Tensor {
    const { planes, h, w, outShape } = this.#geometry(x.shape);
    const y = Tensor.empty(outShape);
    kernels().adaptiveAvgPool2dForward(x.data, y.data, planes, h, w, this.outputSize[0], this.outputSize[1]);
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const { planes, h, w } = this.#geometry(x.shape);
    const dx = Tensor.emptyLike(x);
    kernels().adaptiveAvgPool2dBackward(gradOutput.data, dx.data, planes, h, w, this.outputSize[0], this.outputSize[1]);
    return dx;
  }
}
