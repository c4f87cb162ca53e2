// BullMQ, loaded only when a queue is used: a user who never passes --redis never loads it, and
// needs it installed only to use the queue.
import type * as BullMQ from 'bullmq';

/** The bullmq version liven is tested with (its devDependency). */
export const BULLMQ_VERSION = '5.81.5';

let loaded: Promise<typeof BullMQ> | null = null;

/** The bullmq module; without it installed, an Error whose one line says what to install. */
export function loadBullmq(): Promise<typeof BullMQ> {
  loaded ??= import('bullmq').catch((e: unknown) => {
    loaded = null;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(`the Redis queue needs the bullmq package, which is not installed: npm install bullmq@${BULLMQ_VERSION}`);
    }
    throw e;
  });
  return loaded;
}

/** ioredis's options for one Redis server. */
export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: object;
}

/**
 * ioredis's connection options from a Redis URL (`redis://[user:password@]host[:port][/db]`, or
 * `rediss://` for TLS). With ioredis's default retries, a submitter's command fails after some
 * seconds without Redis; a worker adds `maxRetriesPerRequest: null` (a command waits for Redis to
 * come back), as BullMQ does for its blocking connections.
 */
export function redisConnection(url: string, what: string): RedisConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError(`${what}: the Redis URL must look like redis://host:port, got ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new RangeError(`${what}: the Redis URL must start with redis:// or rediss://, got ${JSON.stringify(url)}`);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new RangeError(`${what}: the Redis URL's path must be a database number, got ${JSON.stringify(u.pathname)}`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port === '' ? 6379 : Number(u.port),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== '' ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
