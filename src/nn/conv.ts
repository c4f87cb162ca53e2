import { kernels } from '../backend/index.js';
import { convOutSize, type Conv2dShape } from '../backend/types.js';
import { checkOptions, checkPositiveInt, describeValue, formatShape } from '../check.js';
import { Tensor } from '../tensor.js';
import { checkBias, resetParameters } from './linear.js';
import { Module, Parameter, configOptions, type ModuleConfig } from './module.js';

/** A number or an `[h, w]` pair, as Conv2d's options take them. */
export type Pair = number | readonly [number, number];

/** Checks `value` (a number or an [h, w] pair of integers >= min) and returns [h, w]. */
function checkPair(value: unknown, what: string, min: number): [number, number] {
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || pair.some((v) => typeof v !== 'number')) {
    throw new TypeError(`${what} must be a number or an [h, w] pair of numbers, got ${Array.isArray(value) ? formatShape(value) : describeValue(value)}`);
  }
  if (pair.some((v: number) => !Number.isInteger(v) || v < min)) {
    throw new RangeError(`${what} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer or a pair of them, got ${Array.isArray(value) ? formatShape(value) : value}`);
  }
  return [pair[0], pair[1]];
}

/** The option as given (a number, or a copy of the pair), for toConfig. */
function asGiven(value: Pair): Pair {
  return typeof value === 'number' ? value : [value[0], value[1]];
}

/**
 * 2-D convolution over `[N, inChannels, H, W]` (PyTorch's Conv2d, a cross-correlation), with
 * grouped and depthwise (`groups = inChannels`) forms.
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly groups: number;
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly #k: [number, number];
  readonly #s: [number, number];
  readonly #p: [number, number];
  readonly #d: [number, number];

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: Pair,
    options?: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number; bias?: boolean },
  ) {
    super();
    const o = checkOptions(options, 'Conv2d');
    this.inChannels = checkPositiveInt(inChannels, 'Conv2d inChannels');
    this.outChannels = checkPositiveInt(outChannels, 'Conv2d outChannels');
    this.#k = checkPair(kernelSize, 'Conv2d kernelSize', 1);
    this.#s = checkPair(o.stride ?? 1, 'Conv2d stride', 1);
    this.#p = checkPair(o.padding ?? 0, 'Conv2d padding', 0);
    this.#d = checkPair(o.dilation ?? 1, 'Conv2d dilation', 1);
    this.groups = checkPositiveInt(o.groups ?? 1, 'Conv2d groups');
    if (this.inChannels % this.groups !== 0) throw new RangeError(`Conv2d: inChannels (${this.inChannels}) must be divisible by groups (${this.groups})`);
    if (this.outChannels % this.groups !== 0) throw new RangeError(`Conv2d: outChannels (${this.outChannels}) must be divisible by groups (${this.groups})`);
    const hasBias = checkBias(o.bias, 'Conv2d');
    this.kernelSize = asGiven(kernelSize);
    this.stride = asGiven(o.stride ?? 1);
    this.padding = asGiven(o.padding ?? 0);
    this.dilation = asGiven(o.dilation ?? 1);
    const wShape = [this.outChannels, this.inChannels / this.groups, this.#k[0], this.#k[1]];
    this.weight = this.registerParameter('weight', new Parameter(Tensor.zeros(wShape)));
    this.bias = hasBias ? this.registerParameter('bias', new Parameter(Tensor.zeros([this.outChannels]))) : null;
    resetParameters(this.weight.data, this.bias?.data ?? null);
  }

  toConfig(): ModuleConfig {
    return {
      type: 'Conv2d',
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      kernelSize: asGiven(this.kernelSize),
      stride: asGiven(this.stride),
      padding: asGiven(this.padding),
      dilation: asGiven(this.dilation),
      groups: this.groups,
      bias: this.bias !== null,
    };
  }

  static fromConfig(config: ModuleConfig): Conv2d {
    const o = configOptions(config, 'Conv2d', ['inChannels', 'outChannels', 'kernelSize', 'stride', 'padding', 'dilation', 'groups', 'bias']);
    const { inChannels, outChannels, kernelSize, ...options } = o;
    return new Conv2d(inChannels as number, outChannels as number, kernelSize as Pair, options);
  }

  /** The geometry of a call on `x`, after checking that `x` fits this layer. */
  #shape(x: Tensor, what: string): Conv2dShape {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    if (x.shape.length !== 4) {
      throw new RangeError(`Conv2d.${what}: input of shape ${formatShape(x.shape)} must have 4 dimensions [N, C, H, W]`);
    }
    if (c !== this.inChannels) {
      throw new RangeError(`Conv2d.${what}: input of shape ${formatShape(x.shape)} has ${c} channels, expected ${this.inChannels} (inChannels)`);
    }
    const [kh, kw] = this.#k;
    const [sh, sw] = this.#s;
    const [ph, pw] = this.#p;
    const [dh, dw] = this.#d;
    if (convOutSize(h, ph, kh, sh, dh) < 1 || convOutSize(w, pw, kw, sw, dw) < 1) {
      throw new RangeError(`Conv2d.${what}: input of shape ${formatShape(x.shape)} padded to ${h + 2 * ph}x${w + 2 * pw} is smaller than the kernel ${kh}x${kw} with dilation ${dh}x${dw} (extent ${dh * (kh - 1) + 1}x${dw * (kw - 1) + 1})`);
    }
    return { batch: n, inChannels: c, height: h, width: w, outChannels: this.outChannels, kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw, groups: this.groups };
  }

  #checkParameters(what: string, grads: boolean): void {
    for (const [name, p] of this.namedParameters()) {
      p.data.checkUsable(`Conv2d.${what}: ${name}`);
      if (grads) p.grad.checkUsable(`Conv2d.${what}: ${name} gradient`);
    }
  }

  protected forwardImpl(x: Tensor): Tensor {
    const s = this.#shape(x, 'forward');
    this.#checkParameters('forward', false);
    const oh = convOutSize(s.height, s.padH, s.kernelH, s.strideH, s.dilationH);
    const ow = convOutSize(s.width, s.padW, s.kernelW, s.strideW, s.dilationW);
    const y = Tensor.empty([s.batch, this.outChannels, oh, ow]);
    if (s.batch > 0) kernels().conv2dForward(x.data, this.weight.data.data, this.bias?.data.data ?? null, y.data, s);
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    return this.#backward(gradOutput, x, true)!;
  }

  /** Without the input gradient, the kernel skips its product and the col2im (folding it back). */
  protected override backwardParametersImpl(gradOutput: Tensor, x: Tensor): void {
    this.#backward(gradOutput, x, false);
  }

  #backward(gradOutput: Tensor, x: Tensor, inputGrad: boolean): Tensor | null {
    const s = this.#shape(x, 'backward');
    this.#checkParameters('backward', true);
    const dx = inputGrad ? Tensor.emptyLike(x) : null;
    if (s.batch > 0) kernels().conv2dBackward(x.data, this.weight.data.data, gradOutput.data, dx?.data ?? null, this.weight.grad.data, this.bias?.grad.data ?? null, s);
    return dx;
  }
}
