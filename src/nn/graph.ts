import { checkOptions } from '../check.js';
import { Tensor } from '../tensor.js';
import { childFromConfig, registerContainer } from './config.js';
import { addInto, sumOf } from './merge.js';
import { Module, inputArity, type AnyModule, type ModuleConfig } from './module.js';

/** A node of a graph: its name, its module and the names of the values it takes, in order. */
export interface GraphNode {
  readonly name: string;
  readonly module: AnyModule;
  readonly inputs: readonly string[];
}

/** A graph's config: `nodes` in order, each with its module's config. */
export interface GraphConfig extends ModuleConfig {
  type: 'Graph';
  inputs: string[];
  nodes: { name: string; inputs: string[]; module: ModuleConfig }[];
  outputs: string[];
}

/** Names of inputs and nodes: identifiers without a dot (which separates the levels of a key). */
const NAME = /^[A-Za-z0-9_]+$/;

function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string') throw new TypeError(`${what} must be a string, got ${name === null ? 'null' : typeof name}`);
  if (!NAME.test(name)) throw new Error(`${what} ${JSON.stringify(name)} is not a valid name: use letters, digits and _ (no dots)`);
  return name;
}

function quote(names: readonly string[]): string {
  return names.map((n) => JSON.stringify(n)).join(', ');
}

/**
 * Any directed acyclic graph of modules (residual sums, concatenations), with the backward
 * derived from it (no autograd):
 *
 * ```ts
 * const g = new nn.Graph();                                   // one input, named 'input'
 * g.node('conv', new nn.Conv2d(8, 8, 3, { padding: 1 }), 'input');
 * g.node('sum', new nn.Add(), ['conv', 'input']);             // 'input' fans out
 * g.output('sum');
 * ```
 *
 * Nodes run in the order they were added, which is a topological order because a node may only
 * take the graph's inputs and earlier nodes. `forward(x1, x2, ...)` takes the inputs in the
 * order of `inputs` and returns the output (an array for several outputs); `backward(dy)` (an
 * array for several outputs) returns the input gradient (an array for several inputs), summing
 * the gradients of a value used by several nodes. An input no output depends on gets zeros.
 * `backward(dy, { inputGrad: false })` (training) returns null, and the nodes before the first
 * one with parameters skip their own input gradient (or, without parameters, do not run).
 *
 * Parameters are named `<node>.<name>`, recursively (a nested Sequential gives `layer1.0.conv1.weight`).
 * A module may appear once in a graph (no weight sharing). For several inputs or outputs, give
 * the types: `new nn.Graph<[Tensor, Tensor], Tensor, Tensor[]>({ inputs: ['a', 'b'] })`.
 */
export class Graph<In extends Tensor[] = [x: Tensor], Out extends Tensor | Tensor[] = Tensor, GradIn extends Tensor | Tensor[] = Tensor> extends Module<In, Out, GradIn> {
  readonly #inputs: readonly string[];
  readonly #nodes: GraphNode[] = [];
  readonly #byName = new Map<string, GraphNode>();
  #outputs: readonly string[] | null = null;
  /**
   * What the last forward ran (nodes are only ever appended), for backward; null while a
   * forward is under way or after one failed part-way: the nodes' caches then disagree.
   */
  #ran: { nodes: number; outputs: readonly string[]; inputShapes: (readonly number[])[] } | null = null;

  /** `inputs`: the names of the graph's inputs, in the order forward takes them (default `['input']`). */
  constructor(options?: { inputs?: string[] }) {
    super();
    const o = checkOptions(options, this.kind);
    const inputs = o.inputs ?? ['input'];
    if (!Array.isArray(inputs)) throw new TypeError(`${this.kind} inputs must be an array of names, got ${typeof inputs}`);
    if (inputs.length === 0) throw new Error(`${this.kind} needs at least one input name`);
    inputs.forEach((name, i) => {
      checkName(name, `${this.kind} input ${i}`);
      if (inputs.indexOf(name) !== i) throw new Error(`${this.kind}: the input name ${JSON.stringify(name)} is given twice`);
    });
    this.#inputs = Object.freeze([...inputs]);
  }

  /** The names of the graph's inputs, in the order forward takes them. */
  get inputs(): readonly string[] {
    return this.#inputs;
  }

  /** The names of the values forward returns (empty until `output` is called). */
  get outputs(): readonly string[] {
    return this.#outputs ?? [];
  }

  /** The nodes in the order they run. */
  nodes(): readonly GraphNode[] {
    return [...this.#nodes];
  }

  /**
   * Adds a node named `name` that applies `module` to `inputs` (names of graph inputs or of
   * earlier nodes, in the order the module's forward takes them); returns the graph. A bad or
   * taken name, an unknown input, a wrong number of inputs or a module already in the graph is
   * an Error naming it, and the graph is unchanged.
   */
  node(name: string, module: AnyModule, inputs: string | readonly string[]): this {
    const where = `${this.kind}.node`;
    checkName(name, `${where}: the name`);
    if (this.#inputs.includes(name) || this.#byName.has(name)) {
      throw new Error(`${where}: the name ${JSON.stringify(name)} is taken by ${this.#inputs.includes(name) ? 'an input' : 'a node'} of the graph`);
    }
    const at = `${where}(${JSON.stringify(name)})`;
    if (!(module instanceof Module)) throw new TypeError(`${at}: the module is not a Module`);
    const names = typeof inputs === 'string' ? [inputs] : inputs;
    if (!Array.isArray(names)) throw new TypeError(`${at}: inputs must be a name or an array of names`);
    if (names.length === 0) throw new Error(`${at}: a node needs at least one input`);
    for (const input of names) {
      if (typeof input !== 'string') throw new TypeError(`${at}: inputs must be names (strings), got ${input === null ? 'null' : typeof input}`);
      if (!this.#has(input)) throw new Error(`${at}: unknown input ${JSON.stringify(input)}; a node takes the graph's inputs (${quote(this.#inputs)}) or earlier nodes${this.#nodes.length > 0 ? ` (${quote(this.#nodes.map((n) => n.name))})` : ''}`);
    }
    const arity = inputArity(module);
    if (arity !== null && names.length !== arity) {
      throw new Error(`${at}: a ${module.kind} takes ${arity} ${arity === 1 ? 'input' : 'inputs'}, got ${names.length} (${quote(names)})`);
    }
    if (module instanceof Graph && module.#outputs?.length !== 1) {
      throw new Error(`${at}: a nested ${module.kind} must have exactly one output, it has ${module.outputs.length} (call its output first)`);
    }
    // A module used twice would keep only its last input, and backward would differentiate the
    // first use at the wrong point: refuse it (stateless ones too, for the same reason).
    const mine = new Map(this.namedModules().map(([path, m]) => [m, path]));
    for (const [sub, m] of module.namedModules(name)) {
      const seen = mine.get(m);
      if (seen !== undefined) {
        throw new TypeError(`${this.kind}: the ${m.kind} at "${sub}" is the same instance as the one at "${seen || `(the ${this.kind} itself)`}"; a module can appear once, so create a new one`);
      }
      mine.set(m, sub);
    }
    const node: GraphNode = Object.freeze({ name, module, inputs: Object.freeze([...names]) });
    this.registerModule(name, module);
    this.#nodes.push(node);
    this.#byName.set(name, node);
    return this;
  }

  /**
   * Sets what forward returns: one name (forward returns a Tensor) or several (a Tensor[]), of
   * nodes or inputs; returns the graph. An unknown or repeated name is an Error naming it.
   */
  output(names: string | readonly string[]): this {
    const list = typeof names === 'string' ? [names] : names;
    if (!Array.isArray(list)) throw new TypeError(`${this.kind}.output: give a name or an array of names`);
    if (list.length === 0) throw new Error(`${this.kind}.output: give at least one name`);
    list.forEach((name, i) => {
      if (typeof name !== 'string') throw new TypeError(`${this.kind}.output: names must be strings, got ${name === null ? 'null' : typeof name}`);
      if (!this.#has(name)) throw new Error(`${this.kind}.output: unknown output ${JSON.stringify(name)}; the graph has the inputs ${quote(this.#inputs)}${this.#nodes.length > 0 ? ` and the nodes ${quote(this.#nodes.map((n) => n.name))}` : ''}`);
      if (list.indexOf(name) !== i) throw new Error(`${this.kind}.output: ${JSON.stringify(name)} is given twice`);
    });
    this.#outputs = Object.freeze([...list]);
    return this;
  }

  /** The module of the node named `name`. */
  at(name: string | number): AnyModule {
    const node = typeof name === 'string' ? this.#byName.get(name) : undefined;
    if (node === undefined) {
      const why = typeof name === 'string' && this.#inputs.includes(name) ? 'is an input, not a node' : 'is not a node';
      throw new Error(`${this.kind}.at: ${JSON.stringify(name)} ${why}; the nodes are ${quote(this.#nodes.map((n) => n.name)) || '(none)'}`);
    }
    return node.module;
  }

  #has(name: string): boolean {
    return this.#inputs.includes(name) || this.#byName.has(name);
  }

  protected override inputArity(): number {
    return this.#inputs.length;
  }

  /** The nodes keep what they need; the graph needs only the inputs' shapes (kept in #ran). */
  protected override keepsInputs(): boolean {
    return false;
  }

  protected override inputLabel(index: number): string {
    return this.#inputs.length === 1 ? 'input' : `input ${JSON.stringify(this.#inputs[index])}`;
  }

  protected forwardImpl(...xs: In): Out {
    const outputs = this.#outputs;
    if (outputs === null) throw new Error(`${this.kind}.forward: the graph has no outputs yet; call output(names) first`);
    // A value is dropped after the last node that takes it: the nodes keep what their backward
    // needs, and the gradients are routed by name, so the graph keeps no activation itself.
    const lastUse = new Map<string, number>();
    this.#nodes.forEach((node, i) => node.inputs.forEach((name) => lastUse.set(name, i)));
    for (const name of outputs) lastUse.set(name, Infinity);
    const values = new Map<string, Tensor>();
    this.#inputs.forEach((name, i) => values.set(name, xs[i]!));
    this.#ran = null;
    // A node that refuses its input leaves the buffers as they were before the pass (the
    // running statistics of the nodes before it would have moved): they are small, so copied.
    const buffers = this.namedBuffers().map(([, b]) => [b, b.data.slice()] as const);
    try {
      this.#nodes.forEach((node, i) => {
        const y: unknown = node.module.forward(...node.inputs.map((name) => values.get(name)!));
        if (!(y instanceof Tensor)) throw new Error(`${this.kind}.forward: node ${JSON.stringify(node.name)} (${node.module.kind}) did not return one Tensor`);
        if (lastUse.has(node.name)) values.set(node.name, y);
        for (const name of node.inputs) if (lastUse.get(name) === i) values.delete(name);
      });
    } catch (e) {
      for (const [b, data] of buffers) b.data.set(data);
      throw e;
    }
    const ys = outputs.map((name) => values.get(name)!);
    this.#ran = { nodes: this.#nodes.length, outputs, inputShapes: xs.map((x) => x.shape) };
    return (ys.length === 1 ? ys[0] : ys) as Out;
  }

  protected backwardImpl(gradOutput: Out, ..._none: In): GradIn {
    return this.#backward(gradOutput, true)!;
  }

  /**
   * Without the graph's input gradient, only the values that depend on a parameter need one
   * (PyTorch's requires_grad): a node reading none of them runs with `inputGrad: false` (a
   * network's first Linear or Conv2d then skips that product, also behind a Flatten), a node
   * without parameters reading none of them does not run at all, and the other nodes'
   * gradients w.r.t. such values are dropped instead of summed.
   */
  protected override backwardParametersImpl(gradOutput: Out, ..._none: In): void {
    this.#backward(gradOutput, false);
  }

  #backward(gradOutput: Out, inputGrad: boolean): GradIn | null {
    const ran = this.#ran;
    if (ran === null) {
      throw new Error(`${this.kind}.backward: the last forward failed part-way, so the layers hold inputs of different passes; run forward again`);
    }
    // The gradient w.r.t. each value, summed over the nodes that took it. A sum is written into
    // a tensor of our own only: the others are the caller's or a module's and stay untouched.
    const grads = new Map<string, Tensor>();
    const own = new Set<Tensor>();
    const add = (name: string, g: Tensor): void => {
      const sum = grads.get(name);
      if (sum === undefined) {
        grads.set(name, g);
      } else if (own.has(sum)) {
        addInto(sum.data, g.data);
      } else {
        const fresh = sumOf(sum, g);
        own.add(fresh);
        grads.set(name, fresh);
      }
    };
    // The values whose gradient is wanted: the graph inputs' if asked for, and every value
    // computed from a wanted value or by a node with parameters (all of them with inputGrad).
    const wanted = new Set<string>(inputGrad ? this.#inputs : []);
    const readsWanted = (node: GraphNode): boolean => node.inputs.some((name) => wanted.has(name));
    for (const node of this.#nodes.slice(0, ran.nodes)) {
      if (readsWanted(node) || node.module.parameters().length > 0) wanted.add(node.name);
    }
    const gs = (ran.outputs.length === 1 ? [gradOutput] : gradOutput) as Tensor[];
    ran.outputs.forEach((name, i) => {
      if (wanted.has(name)) add(name, gs[i]!);
    });
    for (let i = ran.nodes - 1; i >= 0; i--) {
      const node = this.#nodes[i]!;
      const g = grads.get(node.name);
      if (g === undefined) continue; // no output depends on this node, or it needs no gradient
      grads.delete(node.name);
      if (!readsWanted(node)) {
        node.module.backward(g, { inputGrad: false });
        continue;
      }
      const dx: Tensor | Tensor[] = node.module.backward(g);
      const dxs = Array.isArray(dx) ? dx : [dx];
      node.inputs.forEach((name, j) => {
        if (wanted.has(name)) add(name, dxs[j]!);
      });
    }
    if (!inputGrad) return null;
    const dxs = this.#inputs.map((name, i) => grads.get(name) ?? Tensor.zeros(ran.inputShapes[i]!));
    return (dxs.length === 1 ? dxs[0] : dxs) as GradIn;
  }

  /** `{ type: 'Graph', inputs, nodes: [{ name, inputs, module }], outputs }`; an Error before `output` is set. */
  toConfig(): ModuleConfig {
    if (this.#outputs === null) throw new Error(`${this.kind}.toConfig: the graph has no outputs yet; call output(names) first`);
    const config: GraphConfig = {
      type: 'Graph',
      inputs: [...this.#inputs],
      nodes: this.#nodes.map((n) => ({ name: n.name, inputs: [...n.inputs], module: n.module.toConfig() })),
      outputs: [...this.#outputs],
    };
    return config;
  }

  /**
   * Builds the graph `toConfig` describes. A bad config is an error of the same class whose
   * message names the node's path ("layer1.0.conv1" through nested graphs and Sequentials).
   */
  static fromConfig(config: ModuleConfig): Graph {
    return graphFromConfig(config, '', 'Graph.fromConfig: node');
  }
}

/** Rethrows `e` as the same class of error with `prefix` before its message. */
function rethrow(e: unknown, prefix: string): never {
  const Err = e instanceof RangeError ? RangeError : e instanceof TypeError ? TypeError : Error;
  throw new Err(`${prefix}: ${(e as Error).message}`, { cause: e });
}

function graphFromConfig(config: unknown, path: string, where: string): Graph {
  const at = path === '' ? 'Graph.fromConfig' : `${where} ${path}`;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`${at}: a Graph config must be an object, got ${config === null ? 'null' : Array.isArray(config) ? 'an Array' : typeof config}`);
  }
  const c = config as Record<string, unknown>;
  if (c.type !== 'Graph') throw new TypeError(`${at}: expected a config of type Graph, got ${JSON.stringify(c.type) ?? 'undefined'}`);
  const extra = Object.keys(c).filter((k) => !['type', 'inputs', 'nodes', 'outputs'].includes(k));
  if (extra.length > 0) throw new TypeError(`${at}: Graph has no argument ${quote(extra)}; its arguments are inputs, nodes, outputs`);
  if (!Array.isArray(c.nodes)) throw new TypeError(`${at}: "nodes" must be an array of { name, inputs, module }`);
  let g: Graph;
  try {
    g = new Graph(c.inputs === undefined ? undefined : { inputs: c.inputs as string[] });
  } catch (e) {
    rethrow(e, at);
  }
  c.nodes.forEach((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new TypeError(`${at}: node ${i} must be an object { name, inputs, module }`);
    const n = entry as Record<string, unknown>;
    const unknown = Object.keys(n).filter((k) => !['name', 'inputs', 'module'].includes(k));
    if (unknown.length > 0) throw new TypeError(`${at}: node ${i} has no field ${quote(unknown)}; a node has name, inputs, module`);
    let name: string;
    try {
      name = checkName(n.name, `node ${i}: the name`);
    } catch (e) {
      rethrow(e, at);
    }
    const module = childFromConfig(n.module, path === '' ? name : `${path}.${name}`, where);
    try {
      g.node(name, module, n.inputs as string[]);
    } catch (e) {
      rethrow(e, at);
    }
  });
  try {
    g.output(c.outputs as string[]);
  } catch (e) {
    rethrow(e, at);
  }
  return g;
}

registerContainer('Graph', graphFromConfig);
