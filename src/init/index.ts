// Weight initialisers with PyTorch's names, laws and fan rules (torch.nn.init). Each fills a
// tensor in place and returns it, drawing from the global generator (`manualSeed`) unless given
// `{ rng }`: the same seed fills bit-identical weights on every run, platform and backend.
import { checkFinite, checkOptions, formatShape } from '../check.js';
import { Tensor, checkTensor, currentBuildMode } from '../tensor.js';
import { Rng, globalRng } from './rng.js';

export { Rng, manualSeed } from './rng.js';

export type Nonlinearity =
  | 'linear'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'conv_transpose1d'
  | 'conv_transpose2d'
  | 'conv_transpose3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'selu';
export type FanMode = 'fan_in' | 'fan_out';

interface RngOption {
  rng?: Rng;
}

function rngOf(o: RngOption, what: string): Rng {
  if (o.rng === undefined) return globalRng;
  if (!(o.rng instanceof Rng)) throw new TypeError(`${what}: rng must be an init.Rng`);
  return o.rng;
}

/** The recommended gain for a nonlinearity (`param`: LeakyReLU's negative slope, 0.01 by default). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'conv_transpose1d':
    case 'conv_transpose2d':
    case 'conv_transpose3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param === undefined ? 0.01 : checkFinite(param, 'calculateGain: negative slope');
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new RangeError(`calculateGain: unsupported nonlinearity ${JSON.stringify(nonlinearity)}`);
  }
}

/**
 * PyTorch's fans: for a weight `[out, in, ...kernel]`, fanIn = in × kernel size and
 * fanOut = out × kernel size. Needs at least 2 dimensions.
 */
export function computeFans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.shape.length < 2) {
    throw new RangeError(`fan in and fan out need a tensor of at least 2 dimensions, got shape ${formatShape(t.shape)}`);
  }
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

/**
 * True while a model is built for loading (`io.buildWithWeights`): its weights come from a file,
 * so every initialiser returns its tensor untouched (drawing nothing from the generator).
 */
function skipped(): boolean {
  return currentBuildMode() !== null;
}

function fill(t: Tensor, draw: () => number): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = draw();
  return t;
}

/** U(a, b). */
export function uniform(t: Tensor, a = 0, b = 1, options: RngOption = {}): Tensor {
  if (skipped()) return t;
  checkTensor(t, 'init.uniform');
  checkFinite(a, 'init.uniform: a');
  checkFinite(b, 'init.uniform: b');
  if (a > b) throw new RangeError(`init.uniform: a (${a}) must not exceed b (${b})`);
  const rng = rngOf(checkOptions(options, 'init.uniform'), 'init.uniform');
  return fill(t, () => a + (b - a) * rng.uniform());
}

/** N(mean, std²). */
export function normal(t: Tensor, mean = 0, std = 1, options: RngOption = {}): Tensor {
  if (skipped()) return t;
  checkTensor(t, 'init.normal');
  checkFinite(mean, 'init.normal: mean');
  checkFinite(std, 'init.normal: std');
  if (std < 0) throw new RangeError(`init.normal: std must be >= 0, got ${std}`);
  const rng = rngOf(checkOptions(options, 'init.normal'), 'init.normal');
  return fill(t, () => mean + std * rng.normal());
}

export function constant(t: Tensor, value: number): Tensor {
  if (skipped()) return t;
  checkTensor(t, 'init.constant');
  if (typeof value !== 'number') throw new TypeError(`init.constant: value must be a number`);
  t.data.fill(value);
  return t;
}

export function zeros(t: Tensor): Tensor {
  return constant(t, 0);
}

export function ones(t: Tensor): Tensor {
  return constant(t, 1);
}

function xavierStd(t: Tensor, gain: number, what: string): number {
  checkTensor(t, what);
  checkFinite(gain, `${what}: gain`);
  const { fanIn, fanOut } = computeFans(t);
  return gain * Math.sqrt(2 / (fanIn + fanOut));
}

/** Glorot & Bengio (2010): U(-a, a) with a = gain · √(6 / (fanIn + fanOut)). */
export function xavierUniform(t: Tensor, options: { gain?: number } & RngOption = {}): Tensor {
  if (skipped()) return t;
  const o = checkOptions(options, 'init.xavierUniform');
  const bound = Math.sqrt(3) * xavierStd(t, o.gain ?? 1, 'init.xavierUniform');
  return uniform(t, -bound, bound, { rng: rngOf(o, 'init.xavierUniform') });
}

/** Glorot & Bengio (2010): N(0, gain² · 2 / (fanIn + fanOut)). */
export function xavierNormal(t: Tensor, options: { gain?: number } & RngOption = {}): Tensor {
  if (skipped()) return t;
  const o = checkOptions(options, 'init.xavierNormal');
  return normal(t, 0, xavierStd(t, o.gain ?? 1, 'init.xavierNormal'), { rng: rngOf(o, 'init.xavierNormal') });
}

interface KaimingOptions extends RngOption {
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

function kaimingStd(t: Tensor, o: KaimingOptions, what: string): number {
  checkTensor(t, what);
  const mode = o.mode ?? 'fan_in';
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new RangeError(`${what}: mode must be 'fan_in' or 'fan_out', got ${JSON.stringify(mode)}`);
  const { fanIn, fanOut } = computeFans(t);
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', checkFinite(o.a ?? 0, `${what}: a`));
  return fan === 0 ? 0 : gain / Math.sqrt(fan);
}

/** He et al. (2015): U(-b, b) with b = gain · √(3 / fan). */
export function kaimingUniform(t: Tensor, options: KaimingOptions = {}): Tensor {
  if (skipped()) return t;
  const o = checkOptions(options, 'init.kaimingUniform');
  const bound = Math.sqrt(3) * kaimingStd(t, o, 'init.kaimingUniform');
  return uniform(t, -bound, bound, { rng: rngOf(o, 'init.kaimingUniform') });
}

/** He et al. (2015): N(0, gain² / fan). */
export function kaimingNormal(t: Tensor, options: KaimingOptions = {}): Tensor {
  if (skipped()) return t;
  const o = checkOptions(options, 'init.kaimingNormal');
  return normal(t, 0, kaimingStd(t, o, 'init.kaimingNormal'), { rng: rngOf(o, 'init.kaimingNormal') });
}

/**
 * A (semi-)orthogonal matrix, as PyTorch's `orthogonal_` (Saxe et al. 2014): the tensor viewed
 * as `[rows, cols]` (cols = the product of the other dims) is filled from N(0, 1), transposed
 * when rows < cols, factored A = QR (Householder, in float64), Q's columns multiplied by the
 * signs of R's diagonal (which makes Q uniformly, Haar, distributed), transposed back, and
 * scaled by `gain`. So WᵀW = gain²·I when rows >= cols, and WWᵀ = gain²·I otherwise.
 */
export function orthogonal(t: Tensor, options: { gain?: number } & RngOption = {}): Tensor {
  if (skipped()) return t;
  const what = 'init.orthogonal';
  checkTensor(t, what);
  const o = checkOptions(options, what);
  const gain = checkFinite(o.gain ?? 1, `${what}: gain`);
  const rng = rngOf(o, what);
  if (t.shape.length < 2) throw new RangeError(`${what}: only tensors with 2 or more dimensions are supported, got shape ${formatShape(t.shape)}`);
  if (t.size === 0) return t;
  const rows = t.shape[0]!;
  const cols = t.size / rows;
  const flat = new Float64Array(t.size);
  for (let i = 0; i < flat.length; i++) flat[i] = Math.fround(rng.normal());
  // A is m × n with m >= n, row-major: the drawn matrix or its transpose.
  const transposed = rows < cols;
  const [m, n] = transposed ? [cols, rows] : [rows, cols];
  const a = transposed ? transpose(flat, rows, cols) : flat;
  const q = householderQ(a, m, n);
  const out = transposed ? transpose(q, m, n) : q;
  for (let i = 0; i < out.length; i++) t.data[i] = gain * out[i]!;
  return t;
}

/** The transpose of a row-major rows × cols matrix. */
function transpose(x: Float64Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) y[c * rows + r] = x[r * cols + c]!;
  return y;
}

/**
 * The m × n factor Q of A = QR (m >= n, row-major, A overwritten) with R's diagonal made
 * non-negative, i.e. Q's column j multiplied by sign(R[j][j]) as PyTorch does.
 */
function householderQ(a: Float64Array, m: number, n: number): Float64Array {
  const vs: Float64Array[] = [];
  const diag = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    // The reflector that maps A[k:, k] to (alpha, 0, ..., 0), alpha = -sign(x0)·|x|.
    const v = new Float64Array(m - k);
    let norm2 = 0;
    for (let i = k; i < m; i++) {
      v[i - k] = a[i * n + k]!;
      norm2 += v[i - k]! ** 2;
    }
    const norm = Math.sqrt(norm2);
    const alpha = v[0]! > 0 ? -norm : norm;
    v[0]! -= alpha;
    let vnorm = 0;
    for (let i = 0; i < v.length; i++) vnorm += v[i]! ** 2;
    vnorm = Math.sqrt(vnorm);
    if (vnorm > 0) for (let i = 0; i < v.length; i++) v[i]! /= vnorm;
    // A[k:, k:] -= 2 v (vᵀ A[k:, k:])
    for (let j = k; j < n; j++) {
      let dot = 0;
      for (let i = k; i < m; i++) dot += v[i - k]! * a[i * n + j]!;
      for (let i = k; i < m; i++) a[i * n + j]! -= 2 * v[i - k]! * dot;
    }
    diag[k] = a[k * n + k]!;
    vs.push(v);
  }
  // Q = H_0 ⋯ H_{n-1} applied to the first n columns of the identity.
  const q = new Float64Array(m * n);
  for (let j = 0; j < n; j++) q[j * n + j] = 1;
  for (let k = n - 1; k >= 0; k--) {
    const v = vs[k]!;
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let i = k; i < m; i++) dot += v[i - k]! * q[i * n + j]!;
      for (let i = k; i < m; i++) q[i * n + j]! -= 2 * v[i - k]! * dot;
    }
  }
  for (let j = 0; j < n; j++) {
    const s = Math.sign(diag[j]!);
    for (let i = 0; i < m; i++) q[i * n + j]! *= s;
  }
  return q;
}

/** σ·√fanIn of RAI's symmetric entries (Lu et al., for P = Beta(2, 1)). */
const RAI_SIGMA = 0.6007;

/** An integer uniform on [0, n) without modulo bias. */
function uniformInt(rng: Rng, n: number): number {
  const limit = 2 ** 32 - (2 ** 32 % n);
  for (;;) {
    const x = rng.nextUint32();
    if (x < limit) return x % n;
  }
}

/**
 * Randomized asymmetric initialisation (RAI) of a ReLU layer's weight and bias: Lu, Shin, Su &
 * Karniadakis, "Dying ReLU and Initialization: Theory and Numerical Examples", Communications
 * in Computational Physics 28(5), 1671–1706 (2020), arXiv:1903.06733 (2019), Section 5.
 *
 * Each output unit j has the row V_j = [W_j, b_j] of fanIn + 1 entries (fanIn = in × kernel
 * size; the weight is `[out, ...]`, the bias `[out]`). One entry of each row, at an index
 * chosen uniformly among the fanIn + 1 (so it is the bias with probability 1/(fanIn + 1)), is
 * drawn from the asymmetric law P = Beta(2, 1) (density 2x on [0, 1], drawn as √U); every other
 * entry is drawn from N(0, σ²) with σ = 0.6007 / √fanIn, the constant the paper gives for
 * P = Beta(2, 1) (its reference implementation draws `randn(fan_out, fan_in + 1) · 0.6007 /
 * √fan_in`, then overwrites one uniformly chosen entry per row with `beta(2, 1)`). The one
 * positive entry per unit makes a deep, narrow ReLU network much less likely to be born dead
 * than a symmetric initialisation does (the paper's analysis and experiments).
 *
 * With `bias` null (a layer without bias) the asymmetric entry is chosen among the fanIn
 * weights of the row. Draw order: the normals for every row (weights, then bias), row by row;
 * then, per row, the index and the Beta value.
 */
export function rai(weight: Tensor, bias: Tensor | null, options: RngOption = {}): { weight: Tensor; bias: Tensor | null } {
  if (skipped()) return { weight, bias };
  const what = 'init.rai';
  checkTensor(weight, `${what}: weight`);
  if (bias !== null) checkTensor(bias, `${what}: bias`);
  const rng = rngOf(checkOptions(options, what), what);
  if (weight.shape.length < 2) throw new RangeError(`${what}: the weight needs at least 2 dimensions [out, in, ...], got shape ${formatShape(weight.shape)}`);
  const out = weight.shape[0]!;
  const fanIn = computeFans(weight).fanIn;
  if (bias !== null && (bias.shape.length !== 1 || bias.shape[0] !== out)) {
    throw new RangeError(`${what}: a weight of shape ${formatShape(weight.shape)} needs a bias of shape [${out}], got ${formatShape(bias.shape)}`);
  }
  if (weight.size === 0) return { weight, bias };
  const sigma = RAI_SIGMA / Math.sqrt(fanIn);
  const w = weight.data;
  for (let j = 0; j < out; j++) {
    for (let i = 0; i < fanIn; i++) w[j * fanIn + i] = sigma * rng.normal();
    if (bias !== null) bias.data[j] = sigma * rng.normal();
  }
  const width = bias === null ? fanIn : fanIn + 1;
  for (let j = 0; j < out; j++) {
    const k = uniformInt(rng, width);
    const beta = Math.sqrt(1 - rng.uniform()); // Beta(2, 1): P(X <= x) = x², so X = √U, U in (0, 1]
    if (k < fanIn) w[j * fanIn + k] = beta;
    else bias!.data[j] = beta;
  }
  return { weight, bias };
}
