// Weight initialisers with PyTorch's names, laws and fan rules (torch.nn.init). Each fills a
// tensor in place and returns it, drawing from the global generator (`manualSeed`) unless given
// `{ rng }`: the same seed fills bit-identical weights on every run, platform and backend.
import { checkFinite, checkOptions, formatShape } from '../check.js';
import { Tensor, checkTensor } from '../tensor.js';
import { Rng, globalRng } from './rng.js';

export { Rng, manualSeed } from './rng.js';

export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';
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

function fill(t: Tensor, draw: () => number): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = draw();
  return t;
}

/** U(a, b). */
export function uniform(t: Tensor, a = 0, b = 1, options: RngOption = {}): Tensor {
  checkTensor(t, 'init.uniform');
  checkFinite(a, 'init.uniform: a');
  checkFinite(b, 'init.uniform: b');
  if (a > b) throw new RangeError(`init.uniform: a (${a}) must not exceed b (${b})`);
  const rng = rngOf(checkOptions(options, 'init.uniform'), 'init.uniform');
  return fill(t, () => a + (b - a) * rng.uniform());
}

/** N(mean, std²). */
export function normal(t: Tensor, mean = 0, std = 1, options: RngOption = {}): Tensor {
  checkTensor(t, 'init.normal');
  checkFinite(mean, 'init.normal: mean');
  checkFinite(std, 'init.normal: std');
  if (std < 0) throw new RangeError(`init.normal: std must be >= 0, got ${std}`);
  const rng = rngOf(checkOptions(options, 'init.normal'), 'init.normal');
  return fill(t, () => mean + std * rng.normal());
}

export function constant(t: Tensor, value: number): Tensor {
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
  const o = checkOptions(options, 'init.xavierUniform');
  const bound = Math.sqrt(3) * xavierStd(t, o.gain ?? 1, 'init.xavierUniform');
  return uniform(t, -bound, bound, { rng: rngOf(o, 'init.xavierUniform') });
}

/** Glorot & Bengio (2010): N(0, gain² · 2 / (fanIn + fanOut)). */
export function xavierNormal(t: Tensor, options: { gain?: number } & RngOption = {}): Tensor {
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
  const o = checkOptions(options, 'init.kaimingUniform');
  const bound = Math.sqrt(3) * kaimingStd(t, o, 'init.kaimingUniform');
  return uniform(t, -bound, bound, { rng: rngOf(o, 'init.kaimingUniform') });
}

/** He et al. (2015): N(0, gain² / fan). */
export function kaimingNormal(t: Tensor, options: KaimingOptions = {}): Tensor {
  const o = checkOptions(options, 'init.kaimingNormal');
  return normal(t, 0, kaimingStd(t, o, 'init.kaimingNormal'), { rng: rngOf(o, 'init.kaimingNormal') });
}
