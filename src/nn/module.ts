import { checkBoolean, checkOptions, formatShape } from '../check.js';
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

/** The options of `backward`. */
export interface BackwardOptions {
  /**
   * Whether to compute the gradient w.r.t. the input(s) (default true). A training step never
   * uses the input's: with `false`, backward adds the same parameter gradients (the same bits)
   * and returns null, and Linear and Conv2d skip the input-gradient products; a graph or
   * Sequential passes `false` on to the nodes that read only its inputs, so a network's first
   * layer skips that work.
   */
  inputGrad?: boolean;
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

/**
 * Called after every successful forward of the module it is registered on, with the input (the
 * inputs, as an array, for a module of several inputs such as `nn.Add` or a graph) and the output.
 */
export type ForwardHook<I = Tensor, O = Tensor> = (module: AnyModule, input: I, output: O) => void;

/** The input a forward hook sees: the one Tensor of a single-input module, else the array of inputs. */
export type HookInput<In extends Tensor[]> = 0 extends 1 & In ? any : In extends [Tensor] ? Tensor : Tensor[]; // `any` stays `any` (an AnyModule's hook)

/**
 * Any module, whatever its inputs and outputs: what a graph's node or a container's child may be.
 * `Module` alone means the common case of one input, one output.
 */
export type AnyModule = Module<any, any, any>;

/**
 * How many inputs `m.forward` takes: a number, or `null` for one or more. Set inside the class
 * (it reads a protected method) for the containers, which check a node's inputs when it is added.
 */
export let inputArity: (m: AnyModule) => number | null;

/**
 * The base of every layer: explicit `forward` / `backward` (no autograd), parameters and
 * buffers by PyTorch's names, train/eval mode, forward hooks. Subclasses implement
 * `forwardImpl` and `backwardImpl`; the base checks the arguments first, remembers the input
 * for backward and runs the hooks. Children registered with `registerModule` are reached by
 * `namedParameters`, `namedBuffers`, `train`, `eval` and `zeroGrad`.
 *
 * The type parameters are for modules other than one-in, one-out (the defaults): `In` is the
 * tuple of forward's arguments, `Out` what forward returns (a Tensor, or Tensor[] for a graph
 * with several outputs, which backward then takes), `GradIn` what backward returns (Tensor[]
 * for several inputs). A module of several inputs overrides `inputArity`.
 */
export abstract class Module<In extends Tensor[] = [x: Tensor], Out extends Tensor | Tensor[] = Tensor, GradIn extends Tensor | Tensor[] = Tensor> {
  #training = true;
  readonly #parameters = new Map<string, Parameter>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, AnyModule>();
  readonly #forwardHooks = new Set<ForwardHook<any, any>>();
  /** The inputs of the last forward (unless `keepsInputs` says no) and the shape of its output(s), for backward. */
  #last: { inputs: Tensor[]; outputShapes: readonly (readonly number[])[]; several: boolean } | null = null;

  static {
    inputArity = (m) => m.inputArity();
  }

  /** Computes the output; the inputs have been checked to be usable Tensors, as many as `inputArity` says. */
  protected abstract forwardImpl(...xs: In): Out;
  /**
   * The gradient w.r.t. the input(s) of the last forward, adding into each parameter's `.grad`;
   * `gradOutput` has been checked to have the last output's shape (each of them, for several).
   */
  protected abstract backwardImpl(gradOutput: Out, ...inputs: In): GradIn;

  /**
   * Adds into each parameter's `.grad` what `backwardImpl` adds, for a backward whose caller
   * does not want the input gradient (`inputGrad: false`). By default it runs `backwardImpl`
   * and drops the gradient; a layer that can skip computing it overrides this.
   */
  protected backwardParametersImpl(gradOutput: Out, ...inputs: In): void {
    this.backwardImpl(gradOutput, ...inputs);
  }

  /** The constructor's arguments by their API.md names, for `toConfig`. */
  abstract toConfig(): ModuleConfig;

  /** How many tensors forward takes: 1 unless a subclass says otherwise (`null`: one or more). */
  protected inputArity(): number | null {
    return 1;
  }

  /**
   * Whether forward keeps its inputs for `backwardImpl` (the default). A module whose backward
   * needs none (a sum, a concatenation: only shapes, which it keeps itself) says false, and its
   * `backwardImpl` gets no inputs: activations then live only as long as something else needs them.
   */
  protected keepsInputs(): boolean {
    return true;
  }

  /** How an input is called in error messages ('input', or 'input 1' among several). */
  protected inputLabel(index: number): string {
    return this.inputArity() === 1 ? 'input' : `input ${index}`;
  }

  /** Computes the output and remembers what backward needs. */
  forward(...xs: In): Out {
    const arity = this.inputArity();
    if (arity === null ? xs.length === 0 : xs.length !== arity) {
      const want = arity === null ? 'one or more inputs' : arity === 1 ? '1 input' : `${arity} inputs`;
      throw new TypeError(`${this.kind}.forward takes ${want}, got ${xs.length}`);
    }
    const inputs = xs.map((x, i) => checkTensor(x, `${this.kind}.forward: ${this.inputLabel(i)}`));
    const output = this.forwardImpl(...(inputs as In));
    const several = Array.isArray(output);
    this.#last = { inputs: this.keepsInputs() ? inputs : [], outputShapes: several ? output.map((t) => t.shape) : [output.shape], several };
    const hookInput = (arity === 1 ? inputs[0] : inputs) as HookInput<In>;
    for (const hook of this.#forwardHooks) hook(this, hookInput, output);
    return output;
  }

  /**
   * The gradient w.r.t. the last forward's input(s); adds into each parameter's `.grad`. An Error
   * before any forward, a RangeError for a gradient whose shape is not the last output's.
   * A module with several outputs takes their gradients as an array, in the same order.
   * With `{ inputGrad: false }` (a training step, whose input needs no gradient) it adds the
   * same parameter gradients and returns null, skipping the input gradient's work where the
   * layer can.
   */
  backward(gradOutput: Out, options?: BackwardOptions & { inputGrad?: true }): GradIn;
  backward(gradOutput: Out, options: BackwardOptions & { inputGrad: false }): null;
  backward(gradOutput: Out, options?: BackwardOptions): GradIn | null;
  backward(gradOutput: Out, options?: BackwardOptions): GradIn | null {
    const o = checkOptions(options, `${this.kind}.backward`, ['inputGrad']);
    const inputGrad = o.inputGrad ?? true;
    checkBoolean(inputGrad, `${this.kind}.backward: inputGrad`);
    const last = this.#last;
    if (last === null) {
      throw new Error(`${this.kind}.backward called before forward: there is no input to differentiate at`);
    }
    let grads: Tensor[];
    if (last.several) {
      if (!Array.isArray(gradOutput) || gradOutput.length !== last.outputShapes.length) {
        throw new TypeError(`${this.kind}.backward: gradOutput must be an array of ${last.outputShapes.length} Tensors, one per output, got ${Array.isArray(gradOutput) ? `${gradOutput.length}` : typeof gradOutput}`);
      }
      grads = gradOutput.map((g, i) => checkTensor(g, `${this.kind}.backward: gradOutput ${i}`));
    } else {
      grads = [checkTensor(gradOutput, `${this.kind}.backward: gradOutput`)];
    }
    grads.forEach((g, i) => {
      if (!sameShape(g.shape, last.outputShapes[i]!)) {
        const which = last.several ? `gradOutput ${i}` : 'gradOutput';
        const output = last.several ? `output ${i}` : 'output';
        throw new RangeError(`${this.kind}.backward: ${which} has shape ${formatShape(g.shape)}, but the last forward's ${output} has shape ${formatShape(last.outputShapes[i]!)}`);
      }
    });
    last.inputs.forEach((x, i) => x.checkUsable(`${this.kind}.backward: the saved ${this.inputLabel(i)}`));
    const g = (last.several ? grads : grads[0]) as Out;
    if (inputGrad) return this.backwardImpl(g, ...(last.inputs as In));
    this.backwardParametersImpl(g, ...(last.inputs as In));
    return null;
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

  protected registerModule<M extends AnyModule>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** Runs `hook` after every forward of this module until the returned `remove` is called. */
  registerForwardHook(hook: ForwardHook<HookInput<In>, Out>): { remove(): void } {
    this.#forwardHooks.add(hook);
    return { remove: () => void this.#forwardHooks.delete(hook) };
  }

  /** How many forward hooks this module has (its own, not its children's). */
  get forwardHookCount(): number {
    return this.#forwardHooks.size;
  }

  /** Direct children, by name. */
  namedChildren(): [string, AnyModule][] {
    return [...this.#children];
  }

  /** This module and every module below it, depth first, with their dotted paths ('' for this one). */
  namedModules(prefix = ''): [string, AnyModule][] {
    const out: [string, AnyModule][] = [[prefix, this]];
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

  #collect<T>(own: (m: AnyModule) => [string, T][]): [string, T][] {
    const out = own(this);
    for (const [name, child] of this.#children) {
      for (const [sub, v] of child.#collect(own)) out.push([`${name}.${sub}`, v]);
    }
    return out;
  }

  /**
   * Every parameter and buffer by PyTorch's state-dict key (`"0.weight"`, `"2.running_mean"`,
   * `"2.num_batches_tracked"`), module by module as PyTorch orders them: a module's own
   * parameters, then its buffers, then its children's. The tensors are copies: a snapshot that
   * later training does not change, safe to keep, save or send to a worker.
   */
  stateDict(): Record<string, Tensor> {
    const out: [string, Tensor][] = [];
    for (const [key, t] of this.#stateEntries()) out.push([key, new Tensor(t.data.slice(), t.shape)]);
    return Object.fromEntries(out);
  }

  /**
   * Copies every tensor of `dict` into the parameter or buffer of the same key, in place (the
   * module's tensors stay the same objects). Everything is checked first: a missing key, an
   * unexpected key, a value that is not a usable Tensor or has the wrong shape is an Error that
   * lists every problem, and then nothing has been copied. With `strict: false`, missing and
   * unexpected keys are allowed and returned instead (shapes are still checked).
   */
  loadStateDict(dict: Record<string, Tensor>, options?: { strict?: boolean }): { missingKeys: string[]; unexpectedKeys: string[] } {
    if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) {
      throw new TypeError(`${this.kind}.loadStateDict: the state dict must be an object of Tensors by key, got ${dict === null ? 'null' : Array.isArray(dict) ? 'an Array' : typeof dict}`);
    }
    const strict = options?.strict ?? true;
    const own = new Map(this.#stateEntries());
    const given = Object.keys(dict);
    const missingKeys = [...own.keys()].filter((k) => !Object.hasOwn(dict, k));
    const unexpectedKeys = given.filter((k) => !own.has(k));
    const problems: string[] = [];
    if (strict && missingKeys.length > 0) problems.push(`missing ${plural(missingKeys.length, 'key')} ${quoteAll(missingKeys)}`);
    if (strict && unexpectedKeys.length > 0) problems.push(`unexpected ${plural(unexpectedKeys.length, 'key')} ${quoteAll(unexpectedKeys)}`);
    const copies: [Tensor, Tensor][] = [];
    for (const key of given) {
      const target = own.get(key);
      if (target === undefined) continue;
      const value: unknown = dict[key];
      if (!(value instanceof Tensor)) {
        problems.push(`${JSON.stringify(key)} is not a Tensor`);
      } else if (value.data.length !== value.size) {
        problems.push(`${JSON.stringify(key)} can no longer be used: its data has ${value.data.length} elements for shape ${formatShape(value.shape)} (detached?)`);
      } else if (!sameShape(value.shape, target.shape)) {
        problems.push(`${JSON.stringify(key)} has shape ${formatShape(value.shape)} in the state dict but ${formatShape(target.shape)} in the model`);
      } else if (target.data.length !== target.size) {
        problems.push(`the model's ${JSON.stringify(key)} can no longer be used (its data is detached)`);
      } else {
        copies.push([value, target]);
      }
    }
    if (problems.length > 0) {
      throw new Error(`${this.kind}.loadStateDict: ${problems.join('; ')}; nothing was loaded`);
    }
    // `set` copies as if through a temporary buffer, so a source sharing memory with a target is fine.
    for (const [value, target] of copies) target.data.set(value.data);
    return { missingKeys, unexpectedKeys };
  }

  /** The live parameter and buffer tensors by state-dict key, in PyTorch's order. */
  #stateEntries(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this.#parameters) out.push([prefix + name, p.data]);
    for (const [name, b] of this.#buffers) out.push([prefix + name, b]);
    for (const [name, child] of this.#children) out.push(...child.#stateEntries(`${prefix}${name}.`));
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

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

function quoteAll(keys: string[]): string {
  return keys.map((k) => JSON.stringify(k)).join(', ');
}
