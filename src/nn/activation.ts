import { kernels } from '../backend/index.js';
import { checkFinite, checkOptions, checkPositiveInt, formatShape } from '../check.js';
import { Tensor } from '../tensor.js';
import { Module, Parameter } from './module.js';

/** y = max(0, x). Its gradient is 0 where x <= 0: a unit whose input stays there stops learning. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const y = Tensor.zerosLike(x);
    kernels().reluForward(x.data, y.data);
    this.saveForBackward(x, y);
    return y;
  }

  backward(gradOutput: Tensor): Tensor {
    const x = this.savedInput(gradOutput);
    const dx = Tensor.zerosLike(x);
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

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const y = Tensor.zerosLike(x);
    kernels().leakyReluForward(x.data, y.data, this.negativeSlope);
    this.saveForBackward(x, y);
    return y;
  }

  backward(gradOutput: Tensor): Tensor {
    const x = this.savedInput(gradOutput);
    const dx = Tensor.zerosLike(x);
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
  readonly weight: Parameter;

  constructor(options?: { numParameters?: number; init?: number }) {
    super();
    const o = checkOptions(options, 'PReLU');
    this.numParameters = checkPositiveInt(o.numParameters ?? 1, 'PReLU numParameters');
    const init = checkFinite(o.init ?? 0.25, 'PReLU init');
    this.weight = this.registerParameter('weight', new Parameter(Tensor.from(new Float32Array(this.numParameters).fill(init), [this.numParameters])));
  }

  /** Elements per channel per sample, after checking that the input has numParameters channels. */
  #inner(x: Tensor): number {
    if (this.numParameters === 1) return x.size;
    if (x.shape.length < 2 || x.shape[1] !== this.numParameters) {
      throw new RangeError(`PReLU.forward: input of shape ${formatShape(x.shape)} must have ${this.numParameters} channels in dimension 1 (numParameters)`);
    }
    return x.shape.slice(2).reduce((a, b) => a * b, 1);
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const inner = this.#inner(x);
    this.weight.data.checkUsable('PReLU.forward: weight');
    const y = Tensor.zerosLike(x);
    kernels().preluForward(x.data, this.weight.data.data, y.data, inner);
    this.saveForBackward(x, y);
    return y;
  }

  backward(gradOutput: Tensor): Tensor {
    const x = this.savedInput(gradOutput);
    const inner = this.#inner(x);
    this.weight.grad.checkUsable('PReLU.backward: weight gradient');
    const dx = Tensor.zerosLike(x);
    kernels().preluBackward(x.data, this.weight.data.data, gradOutput.data, dx.data, this.weight.grad.data, inner);
    return dx;
  }
}
