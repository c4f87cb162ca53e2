// The ONNX side of `liven diagnose`: loading a .onnx model under the command's file limits, and
// the report without data (the units dead from the weights alone, diag.staticDeadUnits).
import { dirname, resolve } from 'node:path';
import { staticDeadUnits, type StaticDeadReport } from './diag/static.js';
import { graphFromOnnx } from './io/onnx/build.js';
import { parseOnnx } from './io/onnx/reader.js';
import type { Graph } from './nn/graph.js';

/** Whether `--model` names an ONNX file (by its extension). */
export function isOnnxPath(path: string): boolean {
  return /\.onnx$/i.test(path);
}

/**
 * The graph of the ONNX file at `path` (null for bytes given in memory), whose bytes are `bytes`; external-data files beside it
 * are read with `readFile` (the caller's size limit applies to each), and a model whose tensors
 * would take more than `maxBytes` is refused before they are allocated (ModelTooLargeError).
 */
export function loadOnnxModel(path: string | null, bytes: Uint8Array, readFile: (path: string) => Uint8Array, maxBytes: number): Graph {
  // Bytes without a path have no folder for external-data files: the reader refuses them.
  return graphFromOnnx(parseOnnx(bytes, { dir: path === null ? null : dirname(resolve(path)), readFile }), { maxBytes });
}

/** The rows of the report without data: per ReLU-family layer, the units dead on every input. */
export function staticReport(model: Graph): StaticDeadReport[] {
  model.eval();
  return staticDeadUnits(model);
}

/** The report without data as an aligned text table. */
export function formatStaticTable(rows: readonly StaticDeadReport[]): string {
  const head = ['layer', 'kind', 'units', 'dead', 'dead %', 'dead units'];
  const list = (u: number[]) => (u.length <= 12 ? u.join(' ') : `${u.slice(0, 12).join(' ')} ... (${u.length})`);
  const cells = rows.map((r) => [r.layer, r.kind, String(r.units), String(r.dead), `${(100 * r.deadFraction).toFixed(1)}%`, list(r.deadUnits)]);
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
  const line = (cs: string[]) => cs.map((s, c) => (c < 2 || c === 5 ? s.padEnd(widths[c]!) : s.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
