import { childFromConfig, registerContainer } from './config.js';
import { Graph } from './graph.js';
import { Module, type ModuleConfig } from './module.js';

/**
 * Modules applied one after another: a graph whose nodes are named "0", "1", ... (as PyTorch
 * names them, so the parameters are "0.weight", and "1.0.bias" inside a nested Sequential),
 * each taking the previous one's output. Forward, backward, names and errors are the graph's.
 */
export class Sequential extends Graph {
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw new TypeError(`Sequential: argument ${i} is not a Module`);
    });
    super.output('input');
    for (const m of modules) this.append(m);
  }

  /** A Sequential stays a chain: add layers with `append` (an Error otherwise). */
  override node(name: string, _module?: unknown, _inputs?: unknown): this {
    throw new Error(`Sequential.node(${JSON.stringify(name)}): a Sequential is a chain; add layers with append, or build an nn.Graph`);
  }

  /** A Sequential's output is its last layer's (an Error otherwise). */
  override output(_names?: unknown): this {
    throw new Error('Sequential.output: a Sequential returns its last layer\'s output; build an nn.Graph for others');
  }

  /** Adds a module at the end (named by its index). */
  append(module: Module): this {
    if (!(module instanceof Module)) throw new TypeError('Sequential.append: the argument is not a Module');
    const n = this.length;
    super.node(String(n), module, n === 0 ? 'input' : String(n - 1));
    return super.output(String(n));
  }

  get length(): number {
    return this.namedChildren().length;
  }

  /**
   * The child at `index`; negative indices count from the end, as with `Array.prototype.at`.
   * A string is a node's name, as for a Graph ('0').
   */
  override at(index: number | string): Module {
    if (typeof index === 'string') return super.at(index);
    if (!Number.isInteger(index)) throw new TypeError(`Sequential.at: index must be an integer, got ${index}`);
    const m = this.namedChildren().at(index);
    if (m === undefined) throw new RangeError(`Sequential.at: index ${index} is out of range for ${this.length} layers`);
    return m[1];
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.namedChildren().map(([, m]) => m as Module)[Symbol.iterator]();
  }

  override toConfig(): ModuleConfig {
    return { type: 'Sequential', layers: [...this].map((m) => m.toConfig()) };
  }

  /**
   * Builds the model `toConfig` describes. An unknown type or a bad argument is an error of the
   * same class that names the layer's path ("2", or "1.0" inside a nested Sequential).
   */
  static override fromConfig(config: ModuleConfig): Sequential {
    return sequentialFromConfig(config, '', 'Sequential.fromConfig: layer');
  }
}

function sequentialFromConfig(config: unknown, path: string, where: string): Sequential {
  const at = path === '' ? 'Sequential.fromConfig' : `${where} ${path}`;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`${at}: a Sequential config must be an object, got ${config === null ? 'null' : Array.isArray(config) ? 'an Array' : typeof config}`);
  }
  const c = config as Record<string, unknown>;
  if (c.type !== 'Sequential') throw new TypeError(`${at}: expected a config of type Sequential, got ${JSON.stringify(c.type) ?? 'undefined'}`);
  const extra = Object.keys(c).filter((k) => k !== 'type' && k !== 'layers');
  if (extra.length > 0) throw new TypeError(`${at}: Sequential has no argument ${extra.map((k) => JSON.stringify(k)).join(', ')}; its arguments are layers`);
  if (!Array.isArray(c.layers)) throw new TypeError(`${at}: "layers" must be an array of layer configs`);
  const layers = c.layers.map((layer: unknown, i) => childFromConfig(layer, path === '' ? String(i) : `${path}.${i}`, where));
  return new Sequential(...(layers as Module[]));
}

registerContainer('Sequential', sequentialFromConfig);
