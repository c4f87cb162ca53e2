// Calls every raw export of the native addon with adversarial arguments: typed arrays of the
// wrong type, detached, shared or resizable; numbers that are NaN, negative, huge or fractional;
// geometry objects whose getters or Proxy traps detach or resize the call's other arrays, or
// throw. Run in a child process by __test__/native-boundary.test.ts: any crash, abort or
// runaway allocation kills this process, which is what the test looks for. Prints a JSON summary.
//
// usage: node addon-fuzz.mjs <runs> <seed>
import { readFileSync } from 'node:fs';
import fc from 'fast-check';

const [runs, seed] = process.argv.slice(2).map(Number);
const { loadNative } = await import(new URL('../../dist/backend/native.js', import.meta.url).href);
const loaded = loadNative();
if (!('addon' in loaded)) throw new Error(loaded.error);
const addon = loaded.addon;

// The exports and their parameter types, read from the `Kernels` interface (the glue's
// signatures), so that every kernel added there is fuzzed too.
const types = readFileSync(new URL('../../src/backend/types.ts', import.meta.url), 'utf8');
const kernelsBody = types.slice(types.indexOf('export interface Kernels'));
const signatures = [...kernelsBody.matchAll(/^ {2}(\w+)\(([^)]*)\): [\w | ]+;$/gm)].map((m) => ({
  name: m[1],
  params: m[2] ? m[2].split(', ') : [],
}));
/** The fields of `interface Name { a: number; ... }` in types.ts. */
const fieldsOf = (name) => {
  const m = types.match(new RegExp(`interface ${name} \\{([^}]*)\\}`));
  return m ? [...m[1].matchAll(/^\s+(\w+): number;/gm)].map((f) => f[1]) : [];
};

const ctors = { Float32Array, Float64Array, Uint32Array, Int32Array, Uint8Array };
// A call is sane (every size 1, paddings 0: valid for every kernel, so that an attack reaches
// the point where the kernel would write) except for the parameters picked as hostile.
const size = fc.integer({ min: 0, max: 6 });
const hostileNumber = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 6 }) },
  fc.constantFrom(NaN, Infinity, -Infinity, -1, -0, 0.5, 1e-9, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -(2 ** 31)),
  fc.constantFrom('3', null, undefined, {}, 3n),
);
const saneNumber = (name) => (/^(p[hw]|pad[HW])$/.test(name) ? 0 : name === 'eps' ? 1e-5 : 1);

/** A typed array of `kind` (a constructor name): sane ones differ only in where their memory is. */
const typedArray = (kind, hostile) =>
  fc
    .record({
      state: hostile
        ? fc.constantFrom('detached', 'offset', 'wrongType', 'notArray', 'proxy', 'resizable', 'shared')
        : fc.constantFrom('plain', 'plain', 'resizable', 'shared'),
      length: hostile ? size : fc.constant(1),
      fill: fc.constantFrom(0, 1, 2, -1, NaN, 2 ** 31, Infinity),
    })
    .map(({ state, length, fill }) => () => {
      const C = ctors[kind];
      const n = C.BYTES_PER_ELEMENT;
      switch (state) {
        case 'shared':
          return new C(new SharedArrayBuffer(length * n)).fill(fill);
        case 'resizable':
          return new C(new ArrayBuffer(length * n, { maxByteLength: 64 * n })).fill(fill);
        case 'detached': {
          const a = new C(length);
          structuredClone(a.buffer, { transfer: [a.buffer] });
          return a;
        }
        case 'offset':
          return new C(new ArrayBuffer((length + 1) * n), n, length).fill(fill);
        case 'wrongType':
          return new (kind === 'Float32Array' ? Float64Array : Float32Array)(length);
        case 'notArray':
          return Array.from({ length }, () => fill);
        case 'proxy':
          return new Proxy(new C(length), {});
        default:
          return new C(length).fill(fill);
      }
    });

/** What a getter or trap does to the call's arrays when the glue reads a field. */
const attack = fc.constantFrom('none', 'detach', 'shrink', 'grow', 'throw');
function hit(how, arrays) {
  for (const a of arrays) {
    if (!ArrayBuffer.isView(a) || a.buffer instanceof SharedArrayBuffer) continue;
    if (how === 'detach' && !a.buffer.detached) structuredClone(a.buffer, { transfer: [a.buffer] });
    if (how === 'shrink' && a.buffer.resizable) a.buffer.resize(0);
    if (how === 'grow' && a.buffer.resizable) a.buffer.resize(a.buffer.maxByteLength);
  }
  if (how === 'throw') throw new Error('getter threw');
}

/**
 * An object argument with `fields` (sane values unless hostile), plain, with one field a getter
 * that attacks the call's arrays, or a Proxy whose trap does.
 */
const objectArg = (fields, hostile) =>
  fc
    .record({
      values: fc.tuple(...fields.map((f) => (hostile ? hostileNumber : fc.constant(saneNumber(f))))),
      form: fc.constantFrom('plain', 'getter', 'getter', 'proxy'),
      at: fc.nat({ max: Math.max(fields.length - 1, 0) }),
      how: attack,
    })
    .map(({ values, form, at, how }) => (arrays) => {
      const o = Object.fromEntries(fields.map((f, i) => [f, values[i]]));
      if (form === 'getter' && fields.length > 0) {
        const v = o[fields[at]];
        Object.defineProperty(o, fields[at], { enumerable: true, get: () => (hit(how, arrays), v) });
      }
      if (form === 'proxy') return new Proxy(o, { get: (t, k) => (hit(how, arrays), t[k]) });
      return o;
    });

/** The arbitrary for one parameter `name: type`, as a thunk (objects take the call's arrays). */
function arbitraryFor(param, hostile) {
  const [name, type] = param.split(': ');
  const base = type.replace(' | null', '');
  if (base in ctors) return typedArray(base, hostile).map((make) => ({ array: true, make }));
  const value = (sane) => (hostile ? hostileNumber : fc.constant(sane));
  if (base === 'number') return value(saneNumber(name)).map((v) => ({ make: () => v }));
  if (base === 'boolean') return (hostile ? hostileNumber : fc.boolean()).map((v) => ({ make: () => v }));
  if (base === 'string') return (hostile ? fc.constantFrom('F16', 'BF16', 'F64', 'I64', 'U8', 'bogus', '', 3) : fc.constant('F32')).map((v) => ({ make: () => v }));
  return objectArg(fieldsOf(base), hostile).map((make) => ({ object: true, make }));
}

const calls = { ok: 0, errors: 0, exports: signatures.length };
const missing = signatures.filter((s) => typeof addon[s.name] !== 'function').map((s) => s.name);
if (missing.length) throw new Error(`the addon lacks ${missing.join(', ')}`);
const property = fc.property(
  fc.constantFrom(...signatures).chain((sig) =>
    fc.tuple(
      fc.constant(sig),
      // Which parameters are hostile: each with probability 1/4.
      fc.tuple(...sig.params.map((p) => fc.integer({ min: 0, max: 3 }).chain((r) => arbitraryFor(p, r === 0)))),
      fc.integer({ min: 0, max: 9 }).map((r) => r === 0),
    ),
  ),
  ([sig, params, dropLast]) => {
    const arrays = [];
    const args = params.map((p) => {
      if (p.object) return p;
      const v = p.make();
      if (p.array) arrays.push(v);
      return v;
    });
    const final = args.map((a) => (a && a.object ? a.make(arrays) : a));
    if (dropLast) final.pop();
    try {
      addon[sig.name](...final);
      calls.ok++;
    } catch (e) {
      if (!(e instanceof Error)) throw new Error(`${sig.name} threw a non-Error: ${String(e)}`);
      calls.errors++;
    }
  },
);
fc.assert(property, { numRuns: runs, seed });
process.stdout.write(JSON.stringify({ ...calls, maxRSS: process.resourceUsage().maxRSS }));
