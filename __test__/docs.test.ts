// docs/API.md names every export of the package, so the reference cannot fall behind the code.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as liven from '../src/index.js';

const doc = readFileSync(new URL('../docs/API.md', import.meta.url), 'utf8');

describe('docs/API.md', () => {
  const missing = (names: string[]) => names.filter((n) => !doc.includes(n));

  it('names every top-level export and every member of each namespace', () => {
    const names: string[] = [];
    for (const [name, value] of Object.entries(liven)) {
      if (value !== null && typeof value === 'object') {
        for (const member of Object.keys(value)) names.push(`${name}.${member}`);
      } else {
        names.push(name);
      }
    }
    expect(names.length).toBeGreaterThan(80);
    expect(missing(names)).toEqual([]);
  });

  it('names every public method and static of Tensor', () => {
    const methods = Object.getOwnPropertyNames(liven.Tensor.prototype).filter((n) => n !== 'constructor');
    const statics = Object.getOwnPropertyNames(liven.Tensor).filter((n) => !['length', 'name', 'prototype'].includes(n));
    expect(missing([...methods.map((m) => `${m}(`), ...statics.map((s) => `static ${s}(`)])).toEqual([]);
  });

  it('links nothing outside the repository', () => {
    expect(doc).not.toMatch(/\.\.\/shared/);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).not.toMatch(/\.\.\/shared/);
  });
});
