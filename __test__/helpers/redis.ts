// A private redis-server for the queue tests: on 127.0.0.1, a free port, a temp dir, no
// persistence; and `liven worker` processes that the tests start, signal and always kill.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** redis-server's path, or null when it is not installed. */
export function findRedisServer(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null;
}

/** A port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once `until()` is true, checking every 50 ms; rejects after `ms` with `what`. */
export async function waitFor(until: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await until())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port }, () => c.write('PING\r\n'));
    c.setTimeout(1000, () => c.destroy());
    c.on('data', (d) => {
      c.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    c.on('error', () => resolve(false));
    c.on('close', () => resolve(false));
  });
}

/** A running liven worker: its process, what it wrote on stderr so far, and how it ended. */
export interface WorkerProcess {
  child: ChildProcess;
  readonly log: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** One redis-server and the worker processes started on it; `stop()` kills them all. */
export class RedisFixture {
  readonly port: number;
  readonly url: string;
  readonly #bin: string;
  readonly #dir = mkdtempSync(join(tmpdir(), 'liven-redis-'));
  #server: ChildProcess | null = null;
  readonly #children = new Set<ChildProcess>();

  private constructor(bin: string, port: number) {
    this.#bin = bin;
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
  }

  static async start(bin: string): Promise<RedisFixture> {
    const r = new RedisFixture(bin, await freePort());
    await r.startServer();
    return r;
  }

  /** Starts redis-server (again, after `stopServer`) on the same port, and waits until it answers. */
  async startServer(): Promise<void> {
    const server = spawn(this.#bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.#dir], { stdio: 'ignore' });
    this.#server = server;
    this.#children.add(server);
    await waitFor(() => pings(this.port), `redis-server on port ${this.port}`, 20_000);
  }

  /** Stops redis-server (SIGKILL: no chance to save anything) and waits until it is gone. */
  async stopServer(): Promise<void> {
    const server = this.#server!;
    this.#server = null;
    const gone = new Promise((r) => server.once('exit', r));
    server.kill('SIGKILL');
    await gone;
    this.#children.delete(server);
  }

  /**
   * Starts `liven worker` on this server with `args` (after --redis) and waits until it serves;
   * `nodeArgs` go to node before the script (a preload, say).
   */
  async worker(args: string[], nodeArgs: string[] = []): Promise<WorkerProcess> {
    const child = spawn(process.execPath, [...nodeArgs, cli, 'worker', '--redis', this.url, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#children.add(child);
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        this.#children.delete(child);
        resolve({ code, signal });
      }),
    );
    let ended = false;
    void exited.then(() => (ended = true));
    await waitFor(() => ended || log.includes('serving queue'), 'the worker to start');
    if (ended) throw new Error(`liven worker exited at start:\n${log}`);
    return { child, log: () => log, exited };
  }

  /** Kills every process started here and removes the temp dir. */
  async stop(): Promise<void> {
    const all = [...this.#children];
    await Promise.all(
      all.map((c) => {
        if (c.exitCode !== null || c.signalCode !== null) return undefined;
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        return gone;
      }),
    );
    this.#children.clear();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
