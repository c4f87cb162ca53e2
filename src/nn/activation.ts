import { kernels } from '../backend/index.js';
import { checkFinite, checkOptions, checkPositiveInt, formatShape } from '../check.js';
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
