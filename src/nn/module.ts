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

/** A module's description as JSON data: its type and its constructor's arguments by name. */
export interface ModuleConfig {
  type: string;
  [arg: string]: unknown;
}

/**
 * The options of a config entry, after checking that it names `type` and has no key outside
 * `allowed`; layers' static `fromConfig` pass them to their constructor, which checks values.
 */
export function configOptions(config: unknown, type: string, allowed: readonly string[]): Record<string, unknown> {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`a ${type} config must be an object, got ${config === null ? 'null' : typeof config}`);
  }
  const c = config as Record<string, unknown>;
  if (c.type !== type) throw new TypeError(`expected a config of type ${type}, got ${JSON.stringify(c.type)}`);
  const unknown = Object.keys(c).filter((k) => k !== 'type' && !allowed.includes(k));
  if (unknown.length > 0) throw new TypeError(`${type} has no argument ${unknown.map((k) => JSON.stringify(k)).join(', ')}; its arguments are ${allowed.join(', ') || '(none)'}`);
  const { type: _type, ...options } = c;
  return options;
}

/** Called after every successful forward of the module it is registered on. */
export type ForwardHook = (module: Module, input: Tensor, output: Tensor) => void;

/**
 * The base of every layer: explicit `forward` / `backward` (no autograd), parameters and
 * buffers by PyTorch's names, train/eval mode, forward hooks. Subclasses implement
 * `forwardImpl` and `backwardImpl`; the base checks the arguments first, remembers the input
 * for backward and runs the hooks. Children registered with `registerModule` are reached by
 * `namedParameters`, `namedBuffers`, `train`, `eval` and `zeroGrad`.
 */
export abstract class Module {
  #training = true;
  readonly #parameters = new Map<string, Parameter>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();
  readonly #forwardHooks = new Set<ForwardHook>();
  /** The input of the last forward and the shape of its output, for backward. */
  #last: { input: Tensor; outputShape: readonly number[] } | null = null;

  /** Computes the output; `x` has been checked to be a usable Tensor. */
  protected abstract forwardImpl(x: Tensor): Tensor;
  /**
   * The gradient w.r.t. `input` (the last forward's), adding into each parameter's `.grad`;
   * `gradOutput` has been checked to have the last output's shape.
   */
  protected abstract backwardImpl(gradOutput: Tensor, input: Tensor): Tensor;
  /** The constructor's arguments by their API.md names, for `toConfig`. */
  abstract toConfig(): ModuleConfig;

  /** Computes the output and remembers what backward needs. */
  forward(x: Tensor): Tensor {
    const input = checkTensor(x, `${this.kind}.forward: input`);
    const output = this.forwardImpl(input);
    this.#last = { input, outputShape: output.shape };
    for (const hook of this.#forwardHooks) hook(this, input, output);
    return output;
  }

  /**
   * The gradient w.r.t. the last forward's input; adds into each parameter's `.grad`. An Error
   * before any forward, a RangeError for a gradient whose shape is not the last output's.
   */
  backward(gradOutput: Tensor): Tensor {
    if (this.#last === null) {
      throw new Error(`${this.kind}.backward called before forward: there is no input to differentiate at`);
    }
    const g = checkTensor(gradOutput, `${this.kind}.backward: gradOutput`);
    if (!sameShape(g.shape, this.#last.outputShape)) {
      throw new RangeError(`${this.kind}.backward: gradOutput has shape ${formatShape(g.shape)}, but the last forward's output has shape ${formatShape(this.#last.outputShape)}`);
    }
    this.#last.input.checkUsable(`${this.kind}.backward: the saved input`);
    return this.backwardImpl(g, this.#last.input);
  }

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

  /** A state tensor that is not learned (BatchNorm's running statistics), saved in state dicts. */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** Runs `hook` after every forward of this module until the returned `remove` is called. */
  registerForwardHook(hook: ForwardHook): { remove(): void } {
    this.#forwardHooks.add(hook);
    return { remove: () => void this.#forwardHooks.delete(hook) };
  }

  /** Direct children, by name. */
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  /** This module and every module below it, depth first, with their dotted paths ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.#children) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  namedParameters(): [string, Parameter][] {
    return this.#collect((m) => [...m.#parameters]);
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Buffers by PyTorch's names (`running_mean`, ...), with children's prefixed as parameters are. */
  namedBuffers(): [string, Tensor][] {
    return this.#collect((m) => [...m.#buffers]);
  }

  #collect<T>(own: (m: Module) => [string, T][]): [string, T][] {
    const out = own(this);
    for (const [name, child] of this.#children) {
      for (const [sub, v] of child.#collect(own)) out.push([`${name}.${sub}`, v]);
    }
    return out;
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
}
