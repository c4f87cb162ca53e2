import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Unwritten elements of Tensor.empty outputs become NaN, so a kernel that skips one fails.
    env: { LIVEN_POISON_EMPTY: '1' },
    include: ['__test__/**/*.test.ts'],
    // The native addon's thread pool and the child processes some tests start share 2 cores.
    testTimeout: 60_000,
  },
});
