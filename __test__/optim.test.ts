import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tensor, nn, optim } from '../src/index.js';
import { native } from '../src/backend/index.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import type { FixtureTensor } from './helpers/fixtures.js';
import { expectClose, randomTensor } from './helpers/numeric.js';

interface OptimCase {
  name: string;
  optimizer: 'SGD' | 'Adagrad' | 'Adam' | 'AdamW';
  options: Record<string, unknown>;
  groups: Record<string, unknown>[] | null;
  params: FixtureTensor[];
  grads: FixtureTensor[][];
  after: FixtureTensor[][];
}
interface SchedulerSpec {
  type: 'LinearLR' | 'StepLR' | 'CosineAnnealingLR' | 'SequentialLR';
  schedulers?: SchedulerSpec[];
  [option: string]: unknown;
}
interface ScheduleCase {
  name: string;
  lrs: number[];
  scheduler: SchedulerSpec;
  sequence: number[][];
}
interface ClipCase {
  name: string;
  kind: 'norm' | 'value';
  grads: FixtureTensor[];
  maxNorm?: number;
  normType?: number | 'inf';
  total?: number;
  clipValue?: number;
  after: FixtureTensor[];
}

const fixture: { torch: string; cases: OptimCase[]; schedules: ScheduleCase[]; clips: ClipCase[] } = JSON.parse(
  readFileSync(new URL('./fixtures/optim.json', import.meta.url), 'utf8'),
);

function parameter(t: FixtureTensor): nn.Parameter {
  return new nn.Parameter(Tensor.from(t.data, t.shape));
}

function makeOptimizer(kind: OptimCase['optimizer'], params: optim.Params<never>, options: Record<string, unknown>): optim.Optimizer {
  const Ctor = optim[kind] as unknown as new (p: unknown, o: unknown) => optim.Optimizer;
  return new Ctor(params, options);
}

function makeScheduler(opt: optim.Optimizer, spec: SchedulerSpec): optim.LRScheduler {
  const { type, schedulers, ...options } = spec;
  if (type === 'SequentialLR') {
    const inner = schedulers!.map((s) => makeScheduler(opt, s));
    return new optim.SequentialLR(opt, { schedulers: inner, milestones: options.milestones as number[] });
  }
  const Ctor = optim[type] as unknown as new (o: optim.Optimizer, opts: unknown) => optim.LRScheduler;
  return new Ctor(opt, options);
}

/** Every number an optimiser holds for `params`: the weights and the state arrays. */
function snapshot(opt: optim.Optimizer, params: nn.Parameter[]): number[][] {
  const out = params.map((p) => [...p.data.data]);
  for (const p of params) {
    if (opt instanceof optim.SGD) out.push([...(opt.momentumBuffer(p) ?? [])]);
    if (opt instanceof optim.Adagrad) {
      const s = opt.state(p)!;
      out.push([s.step, ...s.sum]);
    }
    if (opt instanceof optim.Adam || opt instanceof optim.AdamW) {
      const s = opt.state(p);
      out.push(s ? [s.step, ...s.expAvg, ...s.expAvgSq] : []);
    }
  }
  return out;
}

describeEachBackend('optimisers match PyTorch 1.13', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const params = c.params.map(parameter);
    const groups = c.groups ? params.map((p, i) => ({ params: [p], ...c.groups![i] })) : params;
    const opt = makeOptimizer(c.optimizer, groups as optim.Params<never>, c.options);
    c.grads.forEach((grads, step) => {
      grads.forEach((g, i) => params[i]!.grad.data.set(g.data));
      opt.step();
      c.after[step]!.forEach((want, i) => expectClose(params[i]!.data, want, `${c.name}: step ${step + 1}, parameter ${i}`, { atol: 1e-6, rtol: 1e-5 }));
    });
  });
});

describe('schedules match PyTorch 1.13 step for step', () => {
  it.each(fixture.schedules.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const params = c.lrs.map(() => new nn.Parameter(Tensor.zeros([1])));
    const opt = new optim.SGD(
      params.map((p, i) => ({ params: [p], lr: c.lrs[i]! })),
      { lr: c.lrs[0]! },
    );
    const sched = makeScheduler(opt, c.scheduler);
    c.sequence.forEach((want, step) => {
      if (step > 0) {
        opt.step();
        sched.step();
      }
      const got = sched.lastLr;
      expect(got.length, `${c.name}: groups`).toBe(want.length);
      got.forEach((lr, i) => {
        expect(Math.abs(lr - want[i]!), `${c.name}: step ${step}, group ${i}: ${lr} vs ${want[i]}`).toBeLessThanOrEqual(1e-13 * Math.abs(want[i]!) + 1e-18);
        expect(opt.paramGroups[i]!.lr).toBe(lr);
      });
    });
  });

  it('the scheduled lr is the one the next step uses', () => {
    const p = new nn.Parameter(Tensor.from([1], [1]));
    const opt = new optim.SGD([p], { lr: 0.3 });
    new optim.LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
    expect(opt.lr).toBe(0.15);
    p.grad.data[0] = 2;
    opt.step();
    expect(p.data.data[0]).toBe(Math.fround(1 - Math.fround(0.15) * 2));
  });
});

describeEachBackend('gradient clipping matches PyTorch', () => {
  it.each(fixture.clips.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const params = c.grads.map((g) => {
      const p = new nn.Parameter(Tensor.zeros(g.shape));
      p.grad.data.set(g.data);
      return p;
    });
    if (c.kind === 'norm') {
      const normType = c.normType === 'inf' ? Infinity : c.normType!;
      const total = optim.clipGradNorm(params, c.maxNorm!, { normType });
      expect(Math.abs(total - c.total!)).toBeLessThanOrEqual(2e-6 * c.total!);
    } else {
      optim.clipGradValue(params, c.clipValue!);
    }
    c.after.forEach((want, i) => expectClose(params[i]!.grad, want, `${c.name}: gradient ${i}`, { atol: 1e-7, rtol: 2e-6 }));
  });

  it('returns 0 for no parameters and accepts one Parameter', () => {
    expect(optim.clipGradNorm([], 1)).toBe(0);
    const p = new nn.Parameter(Tensor.zeros([2]));
    p.grad.data.set([3, 4]);
    expect(optim.clipGradNorm(p, 1)).toBeCloseTo(5, 6);
    expect(Math.hypot(p.grad.data[0]!, p.grad.data[1]!)).toBeCloseTo(1, 5);
  });
});

describe('native kernels = JS kernels on large parameters', () => {
  // 3 × 2^15 + 7 elements: past the parallel threshold, with a ragged tail.
  const n = 3 * (1 << 15) + 7;
  const configs: [OptimCase['optimizer'], Record<string, unknown>][] = [
    ['SGD', { lr: 0.1, momentum: 0.9, weightDecay: 0.01 }],
    ['SGD', { lr: 0.1, momentum: 0.9, nesterov: true }],
    ['SGD', { lr: 0.1 }],
    ['Adagrad', { lr: 0.1, lrDecay: 0.01, weightDecay: 0.01, initialAccumulatorValue: 0.1 }],
    ['Adam', { lr: 0.01, weightDecay: 0.01 }],
    ['AdamW', { lr: 0.01, weightDecay: 0.1 }],
  ];
  it.skipIf(backends.length < 2).each(configs)('%s %o', (kind, options) => {
    const run = (backend: 'native' | 'js'): Float32Array =>
      withBackend(backend, () => {
        const p = new nn.Parameter(randomTensor([n], 1));
        const opt = makeOptimizer(kind, [p] as never, options);
        for (let step = 0; step < 3; step++) {
          p.grad.data.set(randomTensor([n], 10 + step).data);
          opt.step();
        }
        return p.data.data;
      });
    expectClose(run('native'), { data: run('js') }, `${kind} native vs js`, { atol: 1e-6, rtol: 1e-5 });
  });

  it.skipIf(backends.length < 2)('clipping', () => {
    const run = (backend: 'native' | 'js'): [number, number, Float32Array] =>
      withBackend(backend, () => {
        const p = new nn.Parameter(Tensor.zeros([n]));
        p.grad.data.set(randomTensor([n], 3, -2, 2).data);
        const inf = optim.clipGradNorm([p], 1e9, { normType: Infinity });
        const two = optim.clipGradNorm([p], 10);
        optim.clipGradValue([p], 0.001);
        return [inf, two, p.grad.data];
      });
    const [a, b] = [run('native'), run('js')];
    expect(a[0]).toBe(b[0]);
    expect(Math.abs(a[1] - b[1])).toBeLessThanOrEqual(1e-12 * b[1]);
    expectClose(a[2], { data: b[2] }, 'clipped gradients', { atol: 0, rtol: 1e-6 });
  });
});

describeEachBackend('non-finite gradients are reported, not written', () => {
  const kinds: [OptimCase['optimizer'], Record<string, unknown>][] = [
    ['SGD', { lr: 0.1, momentum: 0.9 }],
    ['Adagrad', {}],
    ['Adam', {}],
    ['AdamW', {}],
  ];
  it.each(kinds)('%s.step throws a RangeError naming the parameter and changes nothing', (kind, options) => {
    const params = [new nn.Parameter(randomTensor([3, 4], 1)), new nn.Parameter(randomTensor([50_000], 2)), new nn.Parameter(randomTensor([5], 3))];
    const opt = makeOptimizer(kind, params as never, options);
    for (const p of params) p.grad.data.set(randomTensor([...p.data.shape], 4).data);
    opt.step();
    for (const bad of [NaN, Infinity, -Infinity]) {
      params[1]!.grad.data[31_337] = bad;
      const before = snapshot(opt, params);
      expect(() => opt.step()).toThrow(RangeError);
      expect(() => opt.step()).toThrow(new RegExp(`parameter 1 \\(shape \\[50000\\]\\) has a non-finite gradient: element 31337 is ${bad}`));
      expect(snapshot(opt, params)).toEqual(before);
    }
  });

  it('clipGradNorm with a non-finite total throws and leaves the gradients', () => {
    for (const normType of [2, 1, Infinity]) {
      const p = new nn.Parameter(Tensor.zeros([4]));
      p.grad.data.set([1, NaN, 2, 3]);
      const q = new nn.Parameter(Tensor.zeros([2]));
      q.grad.data.set([10, 10]);
      expect(() => optim.clipGradNorm([q, p], 1, { normType })).toThrow(/total norm of order .* is NaN/);
      expect([...q.grad.data]).toEqual([10, 10]);
    }
    const p = new nn.Parameter(Tensor.zeros([2]));
    p.grad.data.set([Infinity, 1]);
    expect(() => optim.clipGradNorm([p], 1)).toThrow(RangeError);
    expect([...p.grad.data]).toEqual([Infinity, 1]);
  });

  it('clipGradValue clamps infinities as torch.clamp and keeps NaN', () => {
    const p = new nn.Parameter(Tensor.zeros([4]));
    p.grad.data.set([Infinity, -Infinity, NaN, 0.05]);
    optim.clipGradValue([p], 0.1);
    expect([...p.grad.data]).toEqual([Math.fround(0.1), -Math.fround(0.1), NaN, Math.fround(0.05)]);
  });
});

describe('optimiser API', () => {
  const params = () => [new nn.Parameter(Tensor.zeros([2])), new nn.Parameter(Tensor.zeros([3]))];

  it('lr reads the first group and sets every group; zeroGrad zeroes every gradient', () => {
    const [a, b] = params();
    const opt = new optim.Adam([{ params: [a!], lr: 0.1 }, { params: [b!] }]);
    expect(opt.lr).toBe(0.1);
    expect(opt.paramGroups[1]!.lr).toBe(1e-3);
    opt.lr = 0.5;
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0.5]);
    a!.grad.data.fill(3);
    b!.grad.data.fill(4);
    opt.zeroGrad();
    expect([...a!.grad.data, ...b!.grad.data]).toEqual([0, 0, 0, 0, 0]);
    expect(() => (opt.lr = -1)).toThrow(RangeError);
    expect(opt.lr).toBe(0.5);
  });

  it('defaults are PyTorch 1.13\'s', () => {
    const ps = params();
    const g = (o: optim.Optimizer) => {
      const { params: _p, ...rest } = o.paramGroups[0]!;
      return rest;
    };
    expect(g(new optim.SGD(ps, { lr: 0.1 }))).toEqual({ lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false });
    expect(g(new optim.Adagrad(ps))).toEqual({ lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10 });
    expect(g(new optim.Adam(ps))).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
    expect(g(new optim.AdamW(ps))).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 });
  });

  it('bad options are errors that name the value', () => {
    const ps = params();
    expect(() => new optim.SGD(ps, {} as never)).toThrow(/lr is required/);
    expect(() => new optim.SGD(ps, { lr: -0.1 })).toThrow(/lr must be >= 0, got -0.1/);
    expect(() => new optim.SGD(ps, { lr: NaN })).toThrow(TypeError);
    expect(() => new optim.SGD(ps, { lr: 0.1, momentum: -1 })).toThrow(RangeError);
    expect(() => new optim.SGD(ps, { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum needs momentum > 0 and dampening 0, got momentum 0/);
    expect(() => new optim.SGD(ps, { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(RangeError);
    expect(() => new optim.SGD(ps, { lr: 0.1, weight_decay: 0.1 } as never)).toThrow(/no option "weight_decay"/);
    expect(() => new optim.SGD(ps, { lr: 0.1, weightDecay: -1 })).toThrow(RangeError);
    expect(() => new optim.Adam(ps, { betas: [0.9, 1] })).toThrow(/betas\[1\] must be in \[0, 1\), got 1/);
    expect(() => new optim.Adam(ps, { betas: [-0.1, 0.9] })).toThrow(RangeError);
    expect(() => new optim.AdamW(ps, { betas: [0.9] as never })).toThrow(TypeError);
    expect(() => new optim.Adam(ps, { eps: -1 })).toThrow(RangeError);
    expect(() => new optim.Adagrad(ps, { lrDecay: -1 })).toThrow(RangeError);
    expect(() => new optim.Adagrad(ps, { initialAccumulatorValue: -1 })).toThrow(RangeError);
    expect(() => new optim.Adam([])).toThrow(/empty list/);
    expect(() => new optim.Adam([ps[0]!, ps[0]!])).toThrow(/more than once/);
    expect(() => new optim.Adam([Tensor.zeros([2])] as never)).toThrow(TypeError);
    expect(() => new optim.Adam([{ params: [ps[0]!], lr: -1 }])).toThrow(/parameter group 0: lr must be >= 0/);
    expect(() => new optim.Adam([{ params: [ps[0]!], momentum: 0.9 } as never])).toThrow(/no option "momentum"/);
  });

  it('bad schedule options are errors', () => {
    const opt = new optim.SGD(params(), { lr: 0.1 });
    const other = new optim.SGD(params(), { lr: 0.1 });
    expect(() => new optim.StepLR(opt, { stepSize: 0 })).toThrow(RangeError);
    expect(() => new optim.StepLR(opt, {} as never)).toThrow(TypeError);
    expect(() => new optim.CosineAnnealingLR(opt, { tMax: 0 })).toThrow(RangeError);
    expect(() => new optim.LinearLR(opt, { startFactor: 0 })).toThrow(/startFactor must be in \(0, 1\], got 0/);
    expect(() => new optim.LinearLR(opt, { endFactor: 1.5 })).toThrow(RangeError);
    expect(() => new optim.LinearLR({} as never)).toThrow(TypeError);
    const a = new optim.LinearLR(opt);
    const b = new optim.StepLR(opt, { stepSize: 2 });
    expect(() => new optim.SequentialLR(opt, { schedulers: [a, b], milestones: [] })).toThrow(/2 schedulers need 1 milestones/);
    expect(() => new optim.SequentialLR(opt, { schedulers: [a, new optim.StepLR(other, { stepSize: 2 })], milestones: [3] })).toThrow(/another optimiser/);
    expect(() => new optim.SequentialLR(opt, { schedulers: [a, b, b], milestones: [3, 2] })).toThrow(/must increase/);
  });
});

describe.skipIf(backends.length < 2)('every SIMD level matches PyTorch', () => {
  // The level is chosen once per process (LIVEN_SIMD), so each runs in a child process.
  const dist = new URL('../dist/index.js', import.meta.url).href;
  const child = `
    import { readFileSync } from 'node:fs';
    const { Tensor, nn, optim, simdLevel } = await import(${JSON.stringify(dist)});
    const { cases } = JSON.parse(readFileSync(new URL(${JSON.stringify(new URL('./fixtures/optim.json', import.meta.url).href)}), 'utf8'));
    const out = cases.map((c) => {
      const params = c.params.map((t) => new nn.Parameter(Tensor.from(t.data, t.shape)));
      const groups = c.groups ? params.map((p, i) => ({ params: [p], ...c.groups[i] })) : params;
      const opt = new optim[c.optimizer](groups, c.options);
      for (const grads of c.grads) {
        grads.forEach((g, i) => params[i].grad.data.set(g.data));
        opt.step();
      }
      return params.map((p) => [...p.data.data]);
    });
    process.stdout.write(JSON.stringify({ level: simdLevel(), out }));
  `;
  it.each(native ? native.supportedSimdLevels() : [])('LIVEN_SIMD=%s', (level) => {
    const { level: used, out } = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, LIVEN_SIMD: level }, encoding: 'utf8' }),
    );
    expect(used).toBe(level);
    fixture.cases.forEach((c, i) => {
      c.after[c.after.length - 1]!.forEach((want, j) => expectClose(Float32Array.from(out[i][j]), want, `${c.name} at ${level}: parameter ${j}`, { atol: 1e-6, rtol: 1e-5 }));
    });
  });
});

describe.skipIf(!native)('the native glue keeps direct calls memory-safe', () => {
  const a = () => new Float32Array(8);
  it('lengths, aliasing, a missing buffer and step 0 are errors, before anything is written', () => {
    const p = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const before = [...p];
    expect(() => native!.adamStep(p, new Float32Array(7), a(), a(), 0.1, 0.9, 0.999, 1e-8, 0, 1, false)).toThrow(/adamStep: grad has 7 elements, expected 8/);
    expect(() => native!.adamStep(p, a(), p, a(), 0.1, 0.9, 0.999, 1e-8, 0, 1, false)).toThrow(/param shares memory with expAvg/);
    const shared = new Float32Array(16);
    expect(() => native!.adamStep(p, a(), shared.subarray(0, 8), shared.subarray(4, 12), 0.1, 0.9, 0.999, 1e-8, 0, 1, false)).toThrow(/expAvg shares memory with expAvgSq/);
    expect(() => native!.adamStep(p, a(), a(), a(), 0.1, 0.9, 0.999, 1e-8, 0, 0, false)).toThrow(/steps count from 1/);
    expect(() => native!.sgdStep(p, a(), null, 0.1, 0.9, 0, 0, false, true)).toThrow(/needs a momentumBuffer/);
    expect(() => native!.sgdStep(p, a(), p, 0.1, 0.9, 0, 0, false, true)).toThrow(/momentumBuffer shares memory with param/);
    expect(() => native!.adagradStep(p, p, a(), 0.1, 0, 0, 1e-10, 1)).toThrow(/param shares memory with grad/);
    expect(() => native!.adagradStep(p, a(), new Float32Array(9), 0.1, 0, 0, 1e-10, 1)).toThrow(/stateSum has 9 elements/);
    expect([...p]).toEqual(before);
  });
});
