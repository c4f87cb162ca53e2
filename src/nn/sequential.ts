import { Tensor } from '../tensor.js';
import { moduleFromConfig } from './config.js';
import { Module, type ModuleConfig } from './module.js';

/**
 * Modules applied one after another. Children are named "0", "1", ... as in PyTorch, so their
 * parameters are "0.weight", and "1.0.bias" inside a nested Sequential. `backward` runs the
 * children's backward in reverse order.
 */
export class Sequential extends Module {
  readonly #layers: Module[] = [];
  /** True while a forward is under way or after one failed part-way: the children's caches disagree. */
  #broken = false;

  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw new TypeError(`Sequential: argument ${i} is not a Module`);
    });
    for (const m of modules) this.append(m);
  }

  /** Adds a module at the end (named by its index). */
  append(module: Module): this {
    if (!(module instanceof Module)) throw new TypeError('Sequential.append: the argument is not a Module');
    // A module used twice would keep only its last input, and backward would differentiate the
    // first use at the wrong point: refuse it (stateless ones too, for the same reason).
    const mine = new Map(this.namedModules().map(([path, m]) => [m, path]));
    for (const [sub, m] of module.namedModules(String(this.#layers.length))) {
      const at = mine.get(m);
      if (at !== undefined) {
        throw new TypeError(`Sequential: the ${m.kind} at "${sub}" is the same instance as the one at "${at || '(the Sequential itself)'}"; a module can appear once, so create a new one`);
      }
      mine.set(m, sub);
    }
    this.registerModule(String(this.#layers.length), module);
    this.#layers.push(module);
    return this;
  }

  get length(): number {
    return this.#layers.length;
  }

  /** The child at `index`; negative indices count from the end, as with `Array.prototype.at`. */
  at(index: number): Module {
    if (!Number.isInteger(index)) throw new TypeError(`Sequential.at: index must be an integer, got ${index}`);
    const m = this.#layers.at(index);
    if (m === undefined) throw new RangeError(`Sequential.at: index ${index} is out of range for ${this.#layers.length} layers`);
    return m;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.#layers[Symbol.iterator]();
  }

  protected forwardImpl(x: Tensor): Tensor {
    this.#broken = true;
    let y = x;
    for (const m of this.#layers) y = m.forward(y);
    this.#broken = false;
    return y;
  }

  protected backwardImpl(gradOutput: Tensor): Tensor {
    if (this.#broken) {
      throw new Error('Sequential.backward: the last forward failed part-way, so the layers hold inputs of different passes; run forward again');
    }
    let g = gradOutput;
    for (let i = this.#layers.length - 1; i >= 0; i--) g = this.#layers[i]!.backward(g);
    return g;
  }

  toConfig(): ModuleConfig {
    return { type: 'Sequential', layers: this.#layers.map((m) => m.toConfig()) };
  }

  /**
   * Builds the model `toConfig` describes. An unknown type or a bad argument is an error of the
   * same class that names the layer's path ("2", or "1.0" inside a nested Sequential).
   */
  static fromConfig(config: ModuleConfig): Sequential {
    return sequentialFromConfig(config, '');
  }
}

function sequentialFromConfig(config: unknown, path: string): Sequential {
  const where = path === '' ? 'Sequential.fromConfig' : `Sequential.fromConfig: layer ${path}`;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`${where}: a Sequential config must be an object, got ${config === null ? 'null' : Array.isArray(config) ? 'an Array' : typeof config}`);
  }
  const c = config as Record<string, unknown>;
  if (c.type !== 'Sequential') throw new TypeError(`${where}: expected a config of type Sequential, got ${JSON.stringify(c.type) ?? 'undefined'}`);
  const extra = Object.keys(c).filter((k) => k !== 'type' && k !== 'layers');
  if (extra.length > 0) throw new TypeError(`${where}: Sequential has no argument ${extra.map((k) => JSON.stringify(k)).join(', ')}; its arguments are layers`);
  if (!Array.isArray(c.layers)) throw new TypeError(`${where}: "layers" must be an array of layer configs`);
  const layers = c.layers.map((layer: unknown, i) => {
    const sub = path === '' ? String(i) : `${path}.${i}`;
    if (layer !== null && typeof layer === 'object' && (layer as { type?: unknown }).type === 'Sequential') {
      return sequentialFromConfig(layer, sub);
    }
    try {
      return moduleFromConfig(layer as ModuleConfig);
    } catch (e) {
      const type = layer !== null && typeof layer === 'object' ? (layer as { type?: unknown }).type : undefined;
      const what = typeof type === 'string' ? ` (${type})` : '';
      const Err = e instanceof RangeError ? RangeError : e instanceof TypeError ? TypeError : Error;
      throw new Err(`Sequential.fromConfig: layer ${sub}${what}: ${(e as Error).message}`, { cause: e });
    }
  });
  return new Sequential(...layers);
}
