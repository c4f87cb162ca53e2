import { formatShape } from '../check.js';
import { Tensor, checkTensor, sameShape } from '../tensor.js';

/** A learnable tensor and the gradient that `backward` adds into. */
export class Parameter {
  readonly data: Tensor;
  readonly grad: Tensor;
  constructor(data: Tensor) {
    this.data = data;
    this.grad = Tensor.zeros(data.shape);
  }
}

/**
 * The base of every layer: explicit `forward` / `backward` (no autograd), parameters by
 * PyTorch's names, train/eval mode. Children registered with `registerModule` are reached by
 * `namedParameters`, `train`, `eval` and `zeroGrad`.
 */
export abstract class Module {
  #training = true;
  readonly #parameters = new Map<string, Parameter>();
  readonly #children = new Map<string, Module>();
  /** The input of the last forward and the shape of its output, for backward. */
  #last: { input: Tensor; outputShape: readonly number[] } | null = null;

  abstract forward(x: Tensor): Tensor;
  /** The gradient w.r.t. the last forward's input; adds into each parameter's `.grad`. */
  abstract backward(gradOutput: Tensor): Tensor;

  get training(): boolean {
    return this.#training;
  }

  /** The class name PyTorch would print, e.g. 'ReLU'. */
  get kind(): string {
    return this.constructor.name;
  }

  protected registerParameter(name: string, p: Parameter): Parameter {
    this.#parameters.set(name, p);
    return p;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** Direct children, by name. */
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  namedParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [...this.#parameters];
    for (const [name, child] of this.#children) {
      for (const [sub, p] of child.namedParameters()) out.push([`${name}.${sub}`, p]);
    }
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  train(mode = true): this {
    this.#training = mode;
    for (const child of this.#children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad.data.fill(0);
  }

  /** Checks a forward input; call before any work. */
  protected checkInput(x: unknown): Tensor {
    return checkTensor(x, `${this.kind}.forward: input`);
  }

  /** Remembers what backward needs; call once the forward has succeeded. */
  protected saveForBackward(input: Tensor, output: Tensor): void {
    this.#last = { input, outputShape: output.shape };
  }

  /**
   * The last forward's input, after checking that `gradOutput` fits its output: an Error
   * before any forward, a RangeError for a gradient of another shape.
   */
  protected savedInput(gradOutput: unknown): Tensor {
    if (this.#last === null) {
      throw new Error(`${this.kind}.backward called before forward: there is no input to differentiate at`);
    }
    const g = checkTensor(gradOutput, `${this.kind}.backward: gradOutput`);
    if (!sameShape(g.shape, this.#last.outputShape)) {
      throw new RangeError(`${this.kind}.backward: gradOutput has shape ${formatShape(g.shape)}, but the last forward's output has shape ${formatShape(this.#last.outputShape)}`);
    }
    this.#last.input.checkUsable(`${this.kind}.backward: the saved input`);
    return this.#last.input;
  }
}
