import { afterAll, beforeAll, describe } from 'vitest';
import { getBackend, setBackend, type BackendName } from '../../src/index.js';
import { native } from '../../src/backend/index.js';

/** Every backend these tests can run on: both, unless the addon failed to build. */
export const backends: BackendName[] = native ? ['native', 'js'] : ['js'];

/** Runs the same `describe` block once per backend, with that backend selected. */
export function describeEachBackend(title: string, body: (backend: BackendName) => void): void {
  for (const backend of backends) {
    describe(`${title} [${backend}]`, () => {
      let previous: BackendName;
      beforeAll(() => {
        previous = getBackend();
        setBackend(backend);
      });
      afterAll(() => setBackend(previous));
      body(backend);
    });
  }
}

/** Runs `f` with `backend` selected, then restores the previous one. */
export function withBackend<T>(backend: BackendName, f: () => T): T {
  const previous = getBackend();
  setBackend(backend);
  try {
    return f();
  } finally {
    setBackend(previous);
  }
}
