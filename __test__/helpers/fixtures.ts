import { readFileSync } from 'node:fs';
import { Tensor } from '../../src/index.js';

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export interface FixtureCase {
  name: string;
  module: string;
  options: Record<string, unknown>;
  input: FixtureTensor;
  gradOutput: FixtureTensor;
  output: FixtureTensor;
  gradInput: FixtureTensor;
  params: Record<string, FixtureTensor>;
  paramGrads: Record<string, FixtureTensor>;
}

/** A fixture file written by scripts/make_fixtures.py (PyTorch's numbers). */
export function loadFixture(name: string): { torch: string; cases: FixtureCase[] } {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'));
}

export function tensor(t: FixtureTensor): Tensor {
  return Tensor.from(t.data, t.shape);
}
