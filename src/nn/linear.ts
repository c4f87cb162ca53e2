import { kernels } from '../backend/index.js';
import { checkBoolean, checkOptions, checkPositiveInt, formatShape } from '../check.js';
import * as init from '../init/index.js';
import { Tensor } from '../tensor.js';
import { Module, Parameter, configOptions, type ModuleConfig } from './module.js';

/** A `bias` option: a boolean, true by default. */
export function checkBias(value: unknown, what: string): boolean {
  if (value === undefined) return true;
  return checkBoolean(value, `${what} bias`);
}

/**
 * PyTorch's default initialisation of Linear and Conv2d: kaiming_uniform with a = √5 for the
 * weight (U(±1/√fanIn)) and U(±1/√fanIn) for the bias.
 */
export function resetParameters(weight: Tensor, bias: Tensor | null): void {
  init.kaimingUniform(weight, { a: Math.sqrt(5) });
  if (bias !== null) {
    const { fanIn } = init.computeFans(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    init.uniform(bias, -bound, bound);
  }
}

/** y = x · Wᵀ + b over the last dimension: input `[*, inFeatures]`, output `[*, outFeatures]`. */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, options?: { bias?: boolean }) {
    super();
    const o = checkOptions(options, 'Linear');
    this.inFeatures = checkPositiveInt(inFeatures, 'Linear inFeatures');
    this.outFeatures = checkPositiveInt(outFeatures, 'Linear outFeatures');
    const hasBias = checkBias(o.bias, 'Linear');
    this.weight = this.registerParameter('weight', new Parameter(Tensor.zeros([this.outFeatures, this.inFeatures])));
    this.bias = hasBias ? this.registerParameter('bias', new Parameter(Tensor.zeros([this.outFeatures]))) : null;
    resetParameters(this.weight.data, this.bias?.data ?? null);
  }

  toConfig(): ModuleConfig {
    return { type: 'Linear', inFeatures: this.inFeatures, outFeatures: this.outFeatures, bias: this.bias !== null };
  }

  static fromConfig(config: ModuleConfig): Linear {
    const o = configOptions(config, 'Linear', ['inFeatures', 'outFeatures', 'bias']);
    return new Linear(o.inFeatures as number, o.outFeatures as number, { bias: o.bias as boolean | undefined });
  }

  /** Rows of the input (the product of its leading dimensions), after checking its last one. */
  #rows(x: Tensor, what: string): number {
    const last = x.shape[x.shape.length - 1];
    if (x.shape.length === 0 || last !== this.inFeatures) {
      throw new RangeError(`Linear.${what}: input of shape ${formatShape(x.shape)} must have ${this.inFeatures} features (inFeatures) in its last dimension`);
    }
    return x.size / this.inFeatures;
  }

  #checkParameters(what: string, grads: boolean): void {
    for (const [name, p] of this.namedParameters()) {
      p.data.checkUsable(`Linear.${what}: ${name}`);
      if (grads) p.grad.checkUsable(`Linear.${what}: ${name} gradient`);
    }
  }

  protected forwardImpl(x: Tensor): Tensor {
    const rows = this.#rows(x, 'forward');
    this.#checkParameters('forward', false);
    const y = Tensor.empty([...x.shape.slice(0, -1), this.outFeatures]);
    kernels().linearForward(x.data, this.weight.data.data, this.bias?.data.data ?? null, y.data, rows, this.inFeatures, this.outFeatures);
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    return this.#backward(gradOutput, x, true)!;
  }

  /** Without the input gradient, the kernel skips its product (dy · W: a third of the work). */
  protected override backwardParametersImpl(gradOutput: Tensor, x: Tensor): void {
    this.#backward(gradOutput, x, false);
  }

  #backward(gradOutput: Tensor, x: Tensor, inputGrad: boolean): Tensor | null {
    const rows = this.#rows(x, 'backward');
    this.#checkParameters('backward', true);
    const dx = inputGrad ? Tensor.emptyLike(x) : null;
    kernels().linearBackward(x.data, this.weight.data.data, gradOutput.data, dx?.data ?? null, this.weight.grad.data, this.bias?.grad.data ?? null, rows, this.inFeatures, this.outFeatures);
    return dx;
  }
}
