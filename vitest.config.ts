import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    // The native addon's thread pool and the child processes some tests start share 2 cores.
    testTimeout: 60_000,
  },
});
