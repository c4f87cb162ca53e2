// The ONNX file → a checked intermediate representation: nodes in an order where every input is
// made before it is used, attributes as plain values, initializers and Constant tensors as
// arrays. Parsed with protobuf-es and ONNX's own schema (onnx_pb.ts, generated from onnx.proto by
// scripts/gen_onnx_proto.sh): decoding a 45 MB resnet18 takes under a millisecond with it (as with
// protobufjs; the weights stay views of the file's bytes), it has no dependency, passes
// protobuf's conformance suite and gives int64 as exact bigints.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType as AttrType, ModelProtoSchema, TensorProto_DataLocation, type AttributeProto, type ModelProto, type TensorProto } from './onnx_pb.js';

/** A constant tensor: float32 data for FLOAT, exact integers (or doubles) as float64 otherwise. */
export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array;
  /** Whether the ONNX element type is an integer or bool type (shape arithmetic). */
  readonly integer: boolean;
}

/** An attribute's value: number, string, ints/floats, or a tensor. */
export type OnnxAttribute = number | string | readonly number[] | OnnxTensor;

/** One node of the graph. */
export interface OnnxNode {
  /** The node's name in the file, or `<opType>_<index>` when it has none. */
  readonly name: string;
  readonly opType: string;
  /** Input names; '' for an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, OnnxAttribute>;
}

/** A graph input that is not an initializer: its name and dimensions (a string for a symbolic one). */
export interface OnnxInput {
  readonly name: string;
  readonly dims: readonly (number | string)[] | null;
}

/** A checked ONNX model: opset of the default domain, graph inputs and outputs, nodes in dependency order. */
export interface OnnxModel {
  readonly opset: number;
  readonly inputs: readonly OnnxInput[];
  readonly outputs: readonly string[];
  readonly nodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, OnnxTensor>;
}

/** Where external data is looked up (null: the model came as bytes) and how files are read. */
export interface OnnxSource {
  readonly dir: string | null;
  /** Reads a whole external-data file (a path inside `dir`); default `fs.readFileSync`. */
  readonly readFile?: (path: string) => Uint8Array;
}

interface Source extends OnnxSource {
  readonly externalFiles: Map<string, Uint8Array>;
}

/** Size limit of one tensor's elements (2^31 - 1, the largest Float32Array index range liven uses). */
const MAX_ELEMENTS = 2 ** 31 - 1;

/**
 * Reads and checks an ONNX model from a path or the file's bytes. Throws an `Error` that says
 * what is wrong for a file that is not ONNX or is truncated, a tensor whose declared size
 * disagrees with its data, an external-data file that is missing or outside the model's folder
 * (or any external data when reading from bytes), a node input that nothing makes, a name made
 * twice and a cycle.
 */
export function readOnnx(pathOrBytes: string | Uint8Array): OnnxModel {
  if (typeof pathOrBytes === 'string') {
    let bytes: Uint8Array;
    try {
      // Only regular files: reading a FIFO or a device could block or never end.
      if (!statSync(pathOrBytes).isFile()) throw new Error('not a regular file');
      bytes = readFileSync(pathOrBytes);
    } catch (e) {
      throw new Error(`loadOnnx: cannot read ${JSON.stringify(pathOrBytes)}: ${(e as Error).message}`);
    }
    return parseOnnx(bytes, { dir: dirname(resolve(pathOrBytes)) });
  }
  if (pathOrBytes instanceof Uint8Array) return parseOnnx(pathOrBytes, { dir: null });
  throw new TypeError(`loadOnnx: expected a path or a Uint8Array, got ${pathOrBytes === null ? 'null' : typeof pathOrBytes}`);
}

/** {@link readOnnx} of a file's bytes, with external data found in `source.dir`. */
export function parseOnnx(bytes: Uint8Array, source: OnnxSource): OnnxModel {
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: false });
  } catch (e) {
    throw new Error(`loadOnnx: not an ONNX model (truncated or not protobuf: ${(e as Error).message})`);
  }
  return toModel(proto, { ...source, externalFiles: new Map() });
}

function toModel(proto: ModelProto, source: Source): OnnxModel {
  const graph = proto.graph;
  if (graph === undefined || (graph.node.length === 0 && graph.output.length === 0)) {
    throw new Error('loadOnnx: not an ONNX model (no graph with nodes and outputs)');
  }
  const opsetEntry = proto.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (opsetEntry === undefined) throw new Error('loadOnnx: the model imports no opset of the default ONNX domain');
  const opset = toSafeNumber(opsetEntry.version, 'the opset version');
  const foreign = graph.node.filter((n) => n.domain !== '' && n.domain !== 'ai.onnx');
  if (foreign.length > 0) {
    throw new Error(`loadOnnx: unsupported operators from other domains: ${foreign.map((n) => `${n.domain}.${n.opType} (node ${JSON.stringify(n.name)})`).join(', ')}`);
  }
  const initializers = new Map<string, OnnxTensor>();
  for (const t of graph.initializer) {
    if (initializers.has(t.name)) throw new Error(`loadOnnx: initializer ${JSON.stringify(t.name)} is given twice`);
    initializers.set(t.name, readTensor(t, source, `initializer ${JSON.stringify(t.name)}`));
  }
  if (graph.sparseInitializer.length > 0) throw new Error('loadOnnx: sparse initializers are not supported');
  const inputs: OnnxInput[] = graph.input
    .filter((v) => !initializers.has(v.name))
    .map((v) => {
      const shape = v.type?.value.case === 'tensorType' ? v.type.value.value.shape : undefined;
      const dims = shape === undefined ? null : shape.dim.map((d) => (d.value.case === 'dimValue' ? toSafeNumber(d.value.value, `a dimension of input ${JSON.stringify(v.name)}`) : d.value.case === 'dimParam' ? d.value.value : '?'));
      return { name: v.name, dims };
    });
  const nodes: OnnxNode[] = graph.node.map((n, i) => {
    const name = n.name !== '' ? n.name : `${n.opType}_${i}`;
    const attributes = new Map<string, OnnxAttribute>();
    for (const a of n.attribute) attributes.set(a.name, readAttribute(a, source, `attribute ${JSON.stringify(a.name)} of node ${JSON.stringify(name)}`));
    return { name, opType: n.opType, inputs: [...n.input], outputs: [...n.output], attributes };
  });
  const outputs = graph.output.map((o) => o.name);
  return { opset, inputs, outputs, nodes: dependencyOrder(nodes, inputs, initializers, outputs), initializers };
}

/**
 * The nodes in file order when every input is made before it is used (torch.onnx.export's
 * files are), else in a stable topological order; an Error for a dangling input, a name made
 * twice, a missing graph output or a cycle.
 */
function dependencyOrder(nodes: OnnxNode[], inputs: OnnxInput[], initializers: ReadonlyMap<string, OnnxTensor>, outputs: string[]): OnnxNode[] {
  const producer = new Map<string, OnnxNode | null>();
  for (const i of inputs) producer.set(i.name, null);
  for (const name of initializers.keys()) producer.set(name, null);
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (o === '') continue;
      if (producer.has(o)) throw new Error(`loadOnnx: ${JSON.stringify(o)} is made twice (again by node ${JSON.stringify(n.name)})`);
      producer.set(o, n);
    }
  }
  const dangling = nodes.flatMap((n) => n.inputs.filter((i) => i !== '' && !producer.has(i)).map((i) => `${JSON.stringify(i)} of node ${JSON.stringify(n.name)}`));
  if (dangling.length > 0) throw new Error(`loadOnnx: dangling input${dangling.length > 1 ? 's' : ''}: nothing makes ${dangling.join(', ')}`);
  const missing = outputs.filter((o) => !producer.has(o));
  if (missing.length > 0) throw new Error(`loadOnnx: graph output${missing.length > 1 ? 's' : ''} ${missing.map((o) => JSON.stringify(o)).join(', ')} made by no node`);
  // Kahn's algorithm, taking the earliest ready node in file order each time (linear when sorted).
  const index = new Map(nodes.map((n, i) => [n, i]));
  const waiting = nodes.map((n) => new Set(n.inputs.filter((i) => i !== '' && producer.get(i) != null).map((i) => producer.get(i)!)).size);
  const users = new Map<OnnxNode, OnnxNode[]>();
  for (const n of nodes) {
    for (const p of new Set(n.inputs.filter((i) => i !== '').map((i) => producer.get(i)))) {
      if (p != null) users.set(p, [...(users.get(p) ?? []), n]);
    }
  }
  const ready: number[] = [];
  waiting.forEach((w, i) => w === 0 && ready.push(i));
  const order: OnnxNode[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const n = nodes[ready.shift()!]!;
    order.push(n);
    for (const u of users.get(n) ?? []) {
      const i = index.get(u)!;
      if (--waiting[i]! === 0) ready.push(i);
    }
  }
  if (order.length < nodes.length) {
    const stuck = nodes.filter((_, i) => waiting[i]! > 0).map((n) => JSON.stringify(n.name));
    throw new Error(`loadOnnx: the graph has a cycle through node${stuck.length > 1 ? 's' : ''} ${stuck.slice(0, 10).join(', ')}${stuck.length > 10 ? ', ...' : ''}`);
  }
  return order;
}

function readAttribute(a: AttributeProto, source: Source, what: string): OnnxAttribute {
  switch (a.type) {
    case AttrType.FLOAT:
      return a.f;
    case AttrType.INT:
      return toSafeNumber(a.i, what);
    case AttrType.STRING:
      return new TextDecoder().decode(a.s);
    case AttrType.FLOATS:
      return [...a.floats];
    case AttrType.INTS:
      return a.ints.map((v) => toSafeNumber(v, what));
    case AttrType.TENSOR:
      if (a.t === undefined) throw new Error(`loadOnnx: ${what} has no tensor`);
      return readTensor(a.t, source, what);
    default:
      throw new Error(`loadOnnx: ${what} has an unsupported attribute type (${AttrType[a.type] ?? a.type})`);
  }
}

/** int64 → number; values beyond ±2^53 (Slice's INT64_MAX "to the end") keep their float64 rounding. */
function toSafeNumber(v: bigint, what: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`loadOnnx: ${what} is not a finite number`);
  return n;
}

// ONNX TensorProto.DataType codes → bytes per element and whether the values are integers.
const DTYPES: Record<number, { bytes: number; integer: boolean; name: string }> = {
  1: { bytes: 4, integer: false, name: 'FLOAT' },
  2: { bytes: 1, integer: true, name: 'UINT8' },
  3: { bytes: 1, integer: true, name: 'INT8' },
  5: { bytes: 2, integer: true, name: 'INT16' },
  6: { bytes: 4, integer: true, name: 'INT32' },
  7: { bytes: 8, integer: true, name: 'INT64' },
  9: { bytes: 1, integer: true, name: 'BOOL' },
  11: { bytes: 8, integer: false, name: 'DOUBLE' },
};

/** A TensorProto's values, from raw_data, the typed repeated fields or an external-data file. */
export function readTensor(t: TensorProto, source: Source, what: string): OnnxTensor {
  const dtype = DTYPES[t.dataType];
  if (dtype === undefined) throw new Error(`loadOnnx: ${what} has an unsupported element type (${t.dataType})`);
  const dims = t.dims.map((d) => toSafeNumber(d, `a dimension of ${what}`));
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`loadOnnx: ${what} has dimensions [${dims.join(', ')}]`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS) throw new Error(`loadOnnx: ${what} of dimensions [${dims.join(', ')}] has more than ${MAX_ELEMENTS} elements`);
  const size = `dimensions [${dims.join(', ')}] (${count} ${dtype.name} values)`;
  let raw: Uint8Array | null = null;
  if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) raw = readExternal(t, source, what);
  else if (t.rawData.length > 0 || count === 0) raw = t.rawData;
  if (raw !== null) {
    if (raw.length !== count * dtype.bytes) throw new Error(`loadOnnx: ${what} declares ${size}, ${count * dtype.bytes} bytes, but has ${raw.length} bytes of data`);
    return { name: t.name, dims, data: fromRaw(raw, t.dataType, count), integer: dtype.integer };
  }
  const values: ArrayLike<number> | readonly bigint[] =
    t.dataType === 1 ? t.floatData : t.dataType === 7 ? t.int64Data : t.dataType === 11 ? t.doubleData : t.int32Data;
  if (values.length !== count) throw new Error(`loadOnnx: ${what} declares ${size} but has ${values.length} values`);
  const data = t.dataType === 1 ? new Float32Array(count) : new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = Number(values[i]!);
  return { name: t.name, dims, data, integer: dtype.integer };
}

function fromRaw(raw: Uint8Array, dataType: number, count: number): Float32Array | Float64Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dataType === 1) {
    // A copy: the weights must not alias the file's buffer (and may be unaligned in it).
    const out = new Float32Array(count);
    new Uint8Array(out.buffer).set(raw);
    return out;
  }
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    switch (dataType) {
      case 2: case 9: out[i] = view.getUint8(i); break;
      case 3: out[i] = view.getInt8(i); break;
      case 5: out[i] = view.getInt16(2 * i, true); break;
      case 6: out[i] = view.getInt32(4 * i, true); break;
      case 7: out[i] = Number(view.getBigInt64(8 * i, true)); break;
      default: out[i] = view.getFloat64(8 * i, true);
    }
  }
  return out;
}

/** The bytes of an external-data tensor, from a file inside the model's folder. */
function readExternal(t: TensorProto, source: Source, what: string): Uint8Array {
  const entries = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = entries.get('location');
  if (location === undefined || location === '') throw new Error(`loadOnnx: ${what} is external but names no location`);
  if (source.dir === null) throw new Error(`loadOnnx: ${what} is stored in the external file ${JSON.stringify(location)}; load the model by its path so that the file can be found beside it`);
  const path = resolve(source.dir, location);
  let data = source.externalFiles.get(path);
  if (data === undefined) {
    if (isAbsolute(location) || isOutside(source.dir, path)) throw new Error(`loadOnnx: ${what} names the external file ${JSON.stringify(location)}, which is outside the model's folder`);
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      throw new Error(`loadOnnx: ${what} is stored in the external file ${JSON.stringify(location)}, which is missing`);
    }
    if (isOutside(realpathSync(source.dir), real)) throw new Error(`loadOnnx: ${what} names the external file ${JSON.stringify(location)}, a link to outside the model's folder`);
    if (!statSync(real).isFile()) throw new Error(`loadOnnx: ${what} names the external file ${JSON.stringify(location)}, which is not a file`);
    try {
      data = source.readFile === undefined ? readFileSync(real) : source.readFile(real);
    } catch (e) {
      throw new Error(`loadOnnx: ${what}: cannot read the external file ${JSON.stringify(location)}: ${(e as Error).message}`);
    }
    source.externalFiles.set(path, data);
  }
  const offset = Number(entries.get('offset') ?? '0');
  const length = entries.has('length') ? Number(entries.get('length')) : data.length - offset;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > data.length) {
    throw new Error(`loadOnnx: ${what} wants bytes ${entries.get('offset') ?? 0}..+${entries.get('length') ?? '?'} of ${JSON.stringify(location)}, which has ${data.length} bytes`);
  }
  return data.subarray(offset, offset + length);
}

function isOutside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);
}

