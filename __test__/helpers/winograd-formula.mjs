// The formula behind __test__/fixtures/conv-winograd.json and one run of its cases, shared by
// __test__/conv-winograd.test.ts and the child processes it starts at each SIMD level (plain
// JavaScript, so a child can import it next to the built package).

/**
 * Element i is k/2^bits - 1/2 for k the top `bits` (<= 24) bits of a 32-bit hash of (seed, i):
 * exact in float32, the same bits as hash_values in scripts/make_fixtures.py.
 * @param {number} seed @param {number} n @param {number} bits @returns {Float32Array}
 */
export function hashValues(seed, n, bits) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let h = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    out[i] = (h >>> (32 - bits)) / 2 ** bits - 0.5;
  }
  return out;
}

/**
 * Case `c`'s Conv2d (3×3, padding 1) built with `lib` (the package's `{ Tensor, nn }`), its
 * weights, bias, input and output gradient filled by the formula.
 */
export function buildCase({ Tensor, nn }, c) {
  const filled = (key, shape) => Tensor.from(hashValues(c.seeds[key], shape.reduce((a, b) => a * b, 1), c.bits), shape);
  const m = new nn.Conv2d(c.inChannels, c.outChannels, 3, { padding: 1, bias: c.bias });
  m.weight.data.data.set(filled('weight', [...m.weight.data.shape]).data);
  if (m.bias) m.bias.data.data.set(filled('bias', [c.outChannels]).data);
  const [n, , h, w] = c.inputShape;
  return { m, x: filled('input', c.inputShape), dy: filled('gradOutput', [n, c.outChannels, h, w]) };
}

/**
 * Runs case `c` forward and backward with `lib` and reduces each result as the fixture does:
 * the entries at its indices, the float64 sum and the max-abs, by name (output, gradInput,
 * gradWeight, gradBias).
 */
export function runCase(lib, c) {
  const { m, x, dy } = buildCase(lib, c);
  const got = { output: m.forward(x).data, gradInput: m.backward(dy).data, gradWeight: m.weight.grad.data };
  if (m.bias) got.gradBias = m.bias.grad.data;
  return Object.fromEntries(
    Object.entries(got).map(([key, data]) => {
      let sum = 0;
      let maxAbs = 0;
      for (const v of data) {
        sum += v;
        maxAbs = Math.max(maxAbs, Math.abs(v));
      }
      const at = c.tensors[key]?.at ?? [];
      return [key, { values: at.map((i) => data[i]), sum, maxAbs }];
    }),
  );
}
