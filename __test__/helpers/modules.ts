import { expect } from 'vitest';
import type { nn } from '../../src/index.js';
import { tensor, type FixtureCase } from './fixtures.js';
import { expectClose, randomTensor } from './numeric.js';

/** Replaces every parameter with values from the test generator (parameter i uses seed + i). */
export function randomizeParameters<M extends nn.AnyModule>(m: M, seed: number): M {
  for (const [i, p] of m.parameters().entries()) p.data.data.set(randomTensor([...p.data.shape], seed + i).data);
  return m;
}

/** Every parameter's values and gradient, copied: compare before and after a failed call. */
export function snapshotParameters(m: nn.AnyModule): number[][] {
  return m.parameters().flatMap((p) => [[...p.data.data], [...p.grad.data]]);
}

/**
 * Loads a fixture case's parameters into `m`, runs forward and backward on its input and
 * gradient, and expects PyTorch's output, input gradient and parameter gradients.
 */
export function expectMatchesFixture(m: nn.Module, c: FixtureCase, tolerances: { atol?: number; rtol?: number; gradAtol?: number } = {}): void {
  const { atol = 1e-5, rtol = 1e-4 } = tolerances;
  const gradAtol = tolerances.gradAtol ?? atol;
  for (const [name, p] of m.namedParameters()) p.data.data.set(c.params[name]!.data);
  expect(m.namedParameters().map(([n]) => n)).toEqual(Object.keys(c.params));
  expectClose(m.forward(tensor(c.input)), c.output, 'output', { atol, rtol });
  expectClose(m.backward(tensor(c.gradOutput)), c.gradInput, 'input gradient', { atol, rtol });
  for (const [name, p] of m.namedParameters()) {
    expectClose(p.grad, c.paramGrads[name]!, `gradient of ${name}`, { atol: gradAtol, rtol });
  }
}
