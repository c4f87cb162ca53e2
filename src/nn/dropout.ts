import { kernels } from '../backend/index.js';
import { checkOptions, describeValue } from '../check.js';
import { globalRng } from '../init/rng.js';
import { Tensor } from '../tensor.js';
import { Module, configOptions, type ModuleConfig } from './module.js';

/**
 * In training, zeroes each element with probability `p` and scales the rest by 1/(1 − p), so the
 * expected output is the input; in eval mode, the identity. The mask is drawn from the global
 * generator (`init.manualSeed` makes it reproducible): element i is kept when the generator's
 * i-th `uniform()` is below 1 − p. Backward multiplies by the same mask. As PyTorch's, the mask is
 * a product, so a dropped NaN or ±∞ gives NaN, and p = 1 zeroes everything.
 */
export class Dropout extends Module {
  readonly p: number;
  /** The last training forward's mask: 0 or 1/(1 − p) per element (null after an eval forward). */
  #mask: Float32Array | null = null;

  constructor(options?: { p?: number }) {
    super();
    const p: unknown = checkOptions(options, 'Dropout').p ?? 0.5;
    if (typeof p !== 'number') throw new TypeError(`Dropout p must be a number, got ${describeValue(p)}`);
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout p must be a probability in [0, 1], got ${p}`);
    this.p = p;
  }

  toConfig(): ModuleConfig {
    return { type: 'Dropout', p: this.p };
  }

  static fromConfig(config: ModuleConfig): Dropout {
    return new Dropout(configOptions(config, 'Dropout', ['p']));
  }

  protected forwardImpl(x: Tensor): Tensor {
    if (!this.training) {
      this.#mask = null;
      return x;
    }
    const keep = 1 - this.p;
    // PyTorch's scale: 1/(1 − p) in float32; p = 1 keeps nothing (and divides by nothing).
    const scale = keep > 0 ? Math.fround(1 / Math.fround(keep)) : 0;
    const mask = new Float32Array(x.size);
    for (let i = 0; i < mask.length; i++) mask[i] = globalRng.uniform() < keep ? scale : 0;
    const y = Tensor.emptyLike(x);
    kernels().dropoutApply(x.data, mask, y.data);
    this.#mask = mask;
    return y;
  }

  protected backwardImpl(gradOutput: Tensor): Tensor {
    // The mask of the forward that backward differentiates; null when it ran in eval mode.
    if (this.#mask === null) return gradOutput;
    const dx = Tensor.emptyLike(gradOutput);
    kernels().dropoutApply(gradOutput.data, this.#mask, dx.data);
    return dx;
  }
}
