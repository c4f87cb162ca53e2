// An HTTP service that reports a model's dead units without ever blocking its event loop: each
// analysis runs on a diag.AnalysisPool worker thread, the server thread only parses requests.
// Copy this file and change what you like (it is an ES module: keep it in a package with
// "type": "module", or name it .mjs).
//
//   node examples/analysis-server.js [--port 8080] [--host 127.0.0.1] [--workers N] [--threads-per-worker T]
//
// POST /analyze with the three files of `liven diagnose` one after the other as the body, the
// model config (JSON of model.toConfig()), its weights (safetensors) and the batch (safetensors
// with a tensor "input"), and the first two's sizes in headers; the bytes go to the worker as they
// are, so the server thread never parses a tensor:
//
//   cat model.json model.safetensors batch.safetensors | curl --data-binary @- \
//     -H "x-config-bytes: $(stat -c%s model.json)" -H "x-weights-bytes: $(stat -c%s model.safetensors)" \
//     'http://127.0.0.1:8080/analyze?chunk=64'
//
// It answers 200 with the report rows that `liven diagnose --json` prints for the same files, 422
// with { "error": "<liven diagnose's one-line reason>" } for a model or batch that cannot be
// analysed, 400 for sizes that don't fit the body or a config that is not JSON, 413 for a body
// over --max-body-mb (default 64), 503 when --max-pending jobs (default 100) are already waiting.
// GET /stats gives the jobs pending and the event loop's lag as a 5 ms interval timer sees it
// (p50, p95, max in ms) and its utilization, since the last `GET /stats?reset=1`. On SIGTERM or
// SIGINT it stops listening, finishes the running jobs and exits 0.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { diag } from 'liven';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    workers: { type: 'string' },
    'threads-per-worker': { type: 'string', default: '1' },
    'max-body-mb': { type: 'string', default: '64' },
    'max-pending': { type: 'string', default: '100' },
  },
});
const maxBody = Number(args['max-body-mb']) * 2 ** 20;
const maxPending = Number(args['max-pending']);

const pool = new diag.AnalysisPool({
  workers: args.workers === undefined ? undefined : Number(args.workers),
  threadsPerWorker: Number(args['threads-per-worker']),
});

// The event loop's lag: how late a 5 ms interval timer fires.
const INTERVAL = 5;
let lags = [];
let elu = performance.eventLoopUtilization();
let expected = performance.now() + INTERVAL;
const lagTimer = setInterval(() => {
  const now = performance.now();
  lags.push(Math.max(0, now - expected));
  if (lags.length > 100_000) lags = lags.slice(-50_000);
  expected = now + INTERVAL;
}, INTERVAL);

function lagStats() {
  const sorted = [...lags].sort((a, b) => a - b);
  const at = (q) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  // utilization: the share of the time the event loop was running code rather than waiting.
  return { samples: sorted.length, p50: at(0.5), p95: at(0.95), max: sorted.at(-1) ?? 0, utilization: performance.eventLoopUtilization(elu).utilization };
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The request's body, refused (413) past maxBody bytes. */
async function readBody(req) {
  const parts = [];
  let size = 0;
  for await (const part of req) {
    size += part.length;
    if (size > maxBody) throw new HttpError(413, `the body is over ${args['max-body-mb']} MB`);
    parts.push(part);
  }
  return Buffer.concat(parts);
}

/** A size header: a whole number of bytes (400 otherwise). */
function size(req, name) {
  const text = req.headers[name];
  if (typeof text !== 'string' || !/^\d+$/.test(text)) throw new HttpError(400, `the ${name} header must give a size in bytes`);
  return Number(text);
}

/** The analysis job of a request: the config (parsed here: it is small), the weights and the batch as bytes. */
function parseJob(req, url, body) {
  const configBytes = size(req, 'x-config-bytes');
  const weightsBytes = size(req, 'x-weights-bytes');
  if (configBytes + weightsBytes > body.length) throw new HttpError(400, `the sizes in the headers (${configBytes} + ${weightsBytes} bytes) exceed the body's ${body.length} bytes`);
  let config;
  try {
    config = JSON.parse(body.subarray(0, configBytes).toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `the model config is not valid JSON: ${e.message}`);
  }
  if (config === null || typeof config !== 'object') throw new HttpError(400, 'the model config must be a JSON object');
  const chunk = url.searchParams.get('chunk');
  if (chunk !== null && !/^[1-9]\d*$/.test(chunk)) throw new HttpError(400, 'chunk must be a positive integer');
  return {
    model: { config, weights: body.subarray(configBytes, configBytes + weightsBytes) },
    input: body.subarray(configBytes + weightsBytes),
    options: chunk === null ? undefined : { chunk: Number(chunk) },
  };
}

function send(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/stats') {
      const stats = { pending: pool.pending, workers: pool.workers, threadsPerWorker: pool.threadsPerWorker, lagMs: lagStats() };
      if (url.searchParams.has('reset')) {
        lags = [];
        elu = performance.eventLoopUtilization();
      }
      return send(res, 200, stats);
    }
    if (url.pathname !== '/analyze') throw new HttpError(404, 'POST /analyze or GET /stats');
    if (req.method !== 'POST') throw new HttpError(405, 'POST a model and a batch to /analyze');
    if (pool.pending >= maxPending) throw new HttpError(503, `${pool.pending} jobs are waiting; try again later`);
    const job = parseJob(req, url, await readBody(req));
    send(res, 200, await pool.analyze(job));
  } catch (e) {
    if (e instanceof HttpError) send(res, e.status, { error: e.message });
    else if (e instanceof diag.AnalysisJobError) send(res, 422, { error: e.message });
    else send(res, 500, { error: e instanceof Error ? e.message : String(e) });
  }
});

server.listen(Number(args.port), args.host, () => {
  const { address, port } = server.address();
  console.log(`liven analysis server listening on http://${address}:${port}`);
});

function shutdown() {
  clearInterval(lagTimer);
  server.close();
  server.closeIdleConnections?.();
  pool.close().then(() => process.exit(0));
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
