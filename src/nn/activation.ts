import { kernels } from '../backend/index.js';
import { checkFinite, checkOptions, checkPositiveInt, describeValue, formatShape } from '../check.js';
import * as init from '../init/index.js';
import { Tensor } from '../tensor.js';
import { Module, Parameter, configOptions, type ModuleConfig } from './module.js';

/** y = max(0, x). Its gradient is 0 where x <= 0: a unit whose input stays there stops learning. */
export class ReLU extends Module {
  toConfig(): ModuleConfig {
    return { type: 'ReLU' };
  }

  static fromConfig(config: ModuleConfig): ReLU {
    configOptions(config, 'ReLU', []);
    return new ReLU();
  }

  protected forwardImpl(x: Tensor): Tensor {
    const y = Tensor.emptyLike(x);
    kernels().reluForward(x.data, y.data);
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const dx = Tensor.emptyLike(x);
    kernels().reluBackward(x.data, gradOutput.data, dx.data);
    return dx;
  }
}

/** y = x where x > 0, else negativeSlope · x: a small gradient keeps negative units alive. */
export class LeakyReLU extends Module {
  readonly negativeSlope: number;

  constructor(options?: { negativeSlope?: number }) {
    super();
    const o = checkOptions(options, 'LeakyReLU');
    this.negativeSlope = checkFinite(o.negativeSlope ?? 0.01, 'LeakyReLU negativeSlope');
  }

  toConfig(): ModuleConfig {
    return { type: 'LeakyReLU', negativeSlope: this.negativeSlope };
  }

  static fromConfig(config: ModuleConfig): LeakyReLU {
    return new LeakyReLU(configOptions(config, 'LeakyReLU', ['negativeSlope']));
  }

  protected forwardImpl(x: Tensor): Tensor {
    const y = Tensor.emptyLike(x);
    kernels().leakyReluForward(x.data, y.data, this.negativeSlope);
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const dx = Tensor.emptyLike(x);
    kernels().leakyReluBackward(x.data, gradOutput.data, dx.data, this.negativeSlope);
    return dx;
  }
}

/**
 * LeakyReLU with a learned slope (He et al. 2015): one for all elements, or one per channel
 * (dimension 1 of the input) when `numParameters > 1`.
 */
export class PReLU extends Module {
  readonly numParameters: number;
  readonly init: number;
  readonly weight: Parameter;

  constructor(options?: { numParameters?: number; init?: number }) {
    super();
    const o = checkOptions(options, 'PReLU');
    this.numParameters = checkPositiveInt(o.numParameters ?? 1, 'PReLU numParameters');
    this.init = checkFinite(o.init ?? 0.25, 'PReLU init');
    this.weight = this.registerParameter('weight', new Parameter(init.constant(Tensor.zeros([this.numParameters]), this.init)));
  }

  toConfig(): ModuleConfig {
    return { type: 'PReLU', numParameters: this.numParameters, init: this.init };
  }

  static fromConfig(config: ModuleConfig): PReLU {
    return new PReLU(configOptions(config, 'PReLU', ['numParameters', 'init']));
  }

  /** Elements per channel per sample, after checking that the input has numParameters channels. */
  #inner(x: Tensor): number {
    if (this.numParameters === 1) return x.size;
    if (x.shape.length < 2 || x.shape[1] !== this.numParameters) {
      throw new RangeError(`PReLU.forward: input of shape ${formatShape(x.shape)} must have ${this.numParameters} channels in dimension 1 (numParameters)`);
    }
    return x.shape.slice(2).reduce((a, b) => a * b, 1);
  }

  protected forwardImpl(x: Tensor): Tensor {
    const inner = this.#inner(x);
    this.weight.data.checkUsable('PReLU.forward: weight');
    const y = Tensor.emptyLike(x);
    kernels().preluForward(x.data, this.weight.data.data, y.data, inner);
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const inner = this.#inner(x);
    this.weight.grad.checkUsable('PReLU.backward: weight gradient');
    const dx = Tensor.emptyLike(x);
    kernels().preluBackward(x.data, this.weight.data.data, gradOutput.data, dx.data, this.weight.grad.data, inner);
    return dx;
  }
}

/**
 * An activation applied element by element: forward and backward are one kernel call each, from
 * the forward's input. The output has the input's shape; any shape is accepted.
 */
abstract class ElementwiseActivation extends Module {
  /** Writes `y = f(x)`. */
  protected abstract apply(x: Float32Array, y: Float32Array): void;
  /** Writes `dx = dy · f'(x)`. */
  protected abstract applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;

  protected forwardImpl(x: Tensor): Tensor {
    const y = Tensor.emptyLike(x);
    this.apply(x.data, y.data);
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const dx = Tensor.emptyLike(x);
    this.applyBackward(x.data, gradOutput.data, dx.data);
    return dx;
  }
}

/** A non-zero finite number, for constants that divide (CELU's alpha, Softplus's beta). */
function checkNonZero(value: unknown, what: string): number {
  const v = checkFinite(value, what);
  if (v === 0) throw new RangeError(`${what} must not be 0`);
  return v;
}

/** y = x where x > 0, else alpha · (exp(x) − 1): smooth, with a bounded negative part that still passes gradient. */
export class ELU extends ElementwiseActivation {
  readonly alpha: number;

  constructor(options?: { alpha?: number }) {
    super();
    this.alpha = checkFinite(checkOptions(options, 'ELU').alpha ?? 1, 'ELU alpha');
  }

  toConfig(): ModuleConfig {
    return { type: 'ELU', alpha: this.alpha };
  }

  static fromConfig(config: ModuleConfig): ELU {
    return new ELU(configOptions(config, 'ELU', ['alpha']));
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().eluForward(x, y, this.alpha, 1, 1);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().eluBackward(x, dy, dx, this.alpha, 1, 1);
  }
}

/** y = x where x > 0, else alpha · (exp(x / alpha) − 1): ELU made continuously differentiable for every alpha (≠ 0). */
export class CELU extends ElementwiseActivation {
  readonly alpha: number;

  constructor(options?: { alpha?: number }) {
    super();
    this.alpha = checkNonZero(checkOptions(options, 'CELU').alpha ?? 1, 'CELU alpha');
  }

  toConfig(): ModuleConfig {
    return { type: 'CELU', alpha: this.alpha };
  }

  static fromConfig(config: ModuleConfig): CELU {
    return new CELU(configOptions(config, 'CELU', ['alpha']));
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().eluForward(x, y, this.alpha, 1, 1 / this.alpha);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().eluBackward(x, dy, dx, this.alpha, 1, 1 / this.alpha);
  }
}

/** PyTorch's SELU constants (Klambauer et al. 2017). */
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

/** y = λ · ELU_α(x) with the self-normalising constants α ≈ 1.6733, λ ≈ 1.0507. */
export class SELU extends ElementwiseActivation {
  toConfig(): ModuleConfig {
    return { type: 'SELU' };
  }

  static fromConfig(config: ModuleConfig): SELU {
    configOptions(config, 'SELU', []);
    return new SELU();
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().eluForward(x, y, SELU_ALPHA, SELU_SCALE, 1);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().eluBackward(x, dy, dx, SELU_ALPHA, SELU_SCALE, 1);
  }
}

/** y = x · Φ(x) (Φ the standard normal CDF), or with `approximate: 'tanh'` PyTorch's tanh approximation of it. */
export class GELU extends ElementwiseActivation {
  readonly approximate: 'none' | 'tanh';

  constructor(options?: { approximate?: 'none' | 'tanh' }) {
    super();
    const a: unknown = checkOptions(options, 'GELU').approximate ?? 'none';
    if (typeof a !== 'string') throw new TypeError(`GELU approximate must be 'none' or 'tanh', got ${describeValue(a)}`);
    if (a !== 'none' && a !== 'tanh') throw new RangeError(`GELU approximate must be 'none' or 'tanh', got ${JSON.stringify(a)}`);
    this.approximate = a;
  }

  toConfig(): ModuleConfig {
    return { type: 'GELU', approximate: this.approximate };
  }

  static fromConfig(config: ModuleConfig): GELU {
    return new GELU(configOptions(config, 'GELU', ['approximate']));
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().geluForward(x, y, this.approximate === 'tanh');
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().geluBackward(x, dy, dx, this.approximate === 'tanh');
  }
}

/** y = x · σ(x) (swish). */
export class SiLU extends ElementwiseActivation {
  toConfig(): ModuleConfig {
    return { type: 'SiLU' };
  }

  static fromConfig(config: ModuleConfig): SiLU {
    configOptions(config, 'SiLU', []);
    return new SiLU();
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().siluForward(x, y);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().siluBackward(x, dy, dx);
  }
}

/** y = x · tanh(softplus(x)) (Misra 2019). */
export class Mish extends ElementwiseActivation {
  toConfig(): ModuleConfig {
    return { type: 'Mish' };
  }

  static fromConfig(config: ModuleConfig): Mish {
    configOptions(config, 'Mish', []);
    return new Mish();
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().mishForward(x, y);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().mishBackward(x, dy, dx);
  }
}

/** y = 1 / (1 + exp(−x)), in (0, 1); its gradient vanishes where the output saturates. */
export class Sigmoid extends ElementwiseActivation {
  toConfig(): ModuleConfig {
    return { type: 'Sigmoid' };
  }

  static fromConfig(config: ModuleConfig): Sigmoid {
    configOptions(config, 'Sigmoid', []);
    return new Sigmoid();
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().sigmoidForward(x, y);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().sigmoidBackward(x, dy, dx);
  }
}

/** y = tanh(x), in (−1, 1); its gradient vanishes where the output saturates. */
export class Tanh extends ElementwiseActivation {
  toConfig(): ModuleConfig {
    return { type: 'Tanh' };
  }

  static fromConfig(config: ModuleConfig): Tanh {
    configOptions(config, 'Tanh', []);
    return new Tanh();
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().tanhForward(x, y);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().tanhBackward(x, dy, dx);
  }
}

/** y = ln(1 + exp(beta · x)) / beta, and y = x where beta · x > threshold (as PyTorch, for stability). */
export class Softplus extends ElementwiseActivation {
  readonly beta: number;
  readonly threshold: number;

  constructor(options?: { beta?: number; threshold?: number }) {
    super();
    const o = checkOptions(options, 'Softplus');
    this.beta = checkNonZero(o.beta ?? 1, 'Softplus beta');
    this.threshold = checkFinite(o.threshold ?? 20, 'Softplus threshold');
  }

  toConfig(): ModuleConfig {
    return { type: 'Softplus', beta: this.beta, threshold: this.threshold };
  }

  static fromConfig(config: ModuleConfig): Softplus {
    return new Softplus(configOptions(config, 'Softplus', ['beta', 'threshold']));
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().softplusForward(x, y, this.beta, this.threshold);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().softplusBackward(x, dy, dx, this.beta, this.threshold);
  }
}

/** y = clamp(x, minVal, maxVal); the gradient is 0 at and beyond both ends. */
export class Hardtanh extends ElementwiseActivation {
  readonly minVal: number;
  readonly maxVal: number;

  constructor(options?: { minVal?: number; maxVal?: number }) {
    super();
    const o = checkOptions(options, 'Hardtanh');
    this.minVal = checkFinite(o.minVal ?? -1, 'Hardtanh minVal');
    this.maxVal = checkFinite(o.maxVal ?? 1, 'Hardtanh maxVal');
    if (!(Math.fround(this.maxVal) > Math.fround(this.minVal))) {
      throw new RangeError(`Hardtanh maxVal (${this.maxVal}) must be greater than minVal (${this.minVal})`);
    }
  }

  toConfig(): ModuleConfig {
    return { type: 'Hardtanh', minVal: this.minVal, maxVal: this.maxVal };
  }

  static fromConfig(config: ModuleConfig): Hardtanh {
    return new Hardtanh(configOptions(config, 'Hardtanh', ['minVal', 'maxVal']));
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().hardtanhForward(x, y, this.minVal, this.maxVal);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().hardtanhBackward(x, dy, dx, this.minVal, this.maxVal);
  }
}

/** y = min(max(0, x), 6) (MobileNet's); the gradient is 0 at and beyond 0 and 6. */
export class ReLU6 extends ElementwiseActivation {
  toConfig(): ModuleConfig {
    return { type: 'ReLU6' };
  }

  static fromConfig(config: ModuleConfig): ReLU6 {
    configOptions(config, 'ReLU6', []);
    return new ReLU6();
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().hardtanhForward(x, y, 0, 6);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().hardtanhBackward(x, dy, dx, 0, 6);
  }
}

/** y = x · ReLU6(x + 3) / 6 (MobileNetV3's). */
export class Hardswish extends ElementwiseActivation {
  toConfig(): ModuleConfig {
    return { type: 'Hardswish' };
  }

  static fromConfig(config: ModuleConfig): Hardswish {
    configOptions(config, 'Hardswish', []);
    return new Hardswish();
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().hardswishForward(x, y);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().hardswishBackward(x, dy, dx);
  }
}

/** y = ReLU6(x + 3) / 6, in [0, 1]; the gradient is 0 outside (−3, 3). */
export class Hardsigmoid extends ElementwiseActivation {
  toConfig(): ModuleConfig {
    return { type: 'Hardsigmoid' };
  }

  static fromConfig(config: ModuleConfig): Hardsigmoid {
    configOptions(config, 'Hardsigmoid', []);
    return new Hardsigmoid();
  }

  protected apply(x: Float32Array, y: Float32Array): void {
    kernels().hardsigmoidForward(x, y);
  }

  protected applyBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    kernels().hardsigmoidBackward(x, dy, dx);
  }
}

/** y = x: a placeholder layer (returns its input and the output gradient themselves, as PyTorch). */
export class Identity extends Module {
  toConfig(): ModuleConfig {
    return { type: 'Identity' };
  }

  static fromConfig(config: ModuleConfig): Identity {
    configOptions(config, 'Identity', []);
    return new Identity();
  }

  protected forwardImpl(x: Tensor): Tensor {
    return x;
  }

  protected backwardImpl(gradOutput: Tensor): Tensor {
    return gradOutput;
  }
}
