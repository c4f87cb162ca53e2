// Small ONNX files built in tests with the same protobuf binding the reader uses.
import { create, toBinary } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType as AttrType, ModelProtoSchema, TensorProto_DataLocation, type AttributeProto, type NodeProto, type TensorProto } from '../../src/io/onnx/onnx_pb.js';

export interface TestNode {
  op: string;
  name?: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, number | number[] | string>;
}

export interface TestTensor {
  name: string;
  dims: number[];
  /** float32 values (raw_data), or explicit raw bytes (to disagree with dims). */
  values?: number[];
  raw?: Uint8Array;
  /** external data: location (and offset/length). */
  external?: { location: string; offset?: number; length?: number };
  int64?: boolean;
}

function attribute(name: string, v: number | number[] | string): AttributeProto {
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) } as unknown as AttributeProto;
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: v.map(BigInt) } as unknown as AttributeProto;
  return Number.isInteger(v) ? ({ name, type: AttrType.INT, i: BigInt(v) } as unknown as AttributeProto) : ({ name, type: AttrType.FLOAT, f: v } as unknown as AttributeProto);
}

function tensor(t: TestTensor): Partial<TensorProto> {
  const base = { name: t.name, dims: t.dims.map(BigInt), dataType: t.int64 ? 7 : 1 };
  if (t.external) {
    const entries = [{ key: 'location', value: t.external.location }];
    if (t.external.offset !== undefined) entries.push({ key: 'offset', value: String(t.external.offset) });
    if (t.external.length !== undefined) entries.push({ key: 'length', value: String(t.external.length) });
    return { ...base, dataLocation: TensorProto_DataLocation.EXTERNAL, externalData: entries } as Partial<TensorProto>;
  }
  if (t.raw) return { ...base, rawData: t.raw };
  if (t.int64) return { ...base, int64Data: (t.values ?? []).map(BigInt) };
  return { ...base, rawData: new Uint8Array(Float32Array.from(t.values ?? []).buffer) };
}

/** An ONNX file (bytes) with one graph of these nodes, float inputs of shape `inputDims` and weights. */
export function onnxBytes(o: { nodes: TestNode[]; inputs?: string[]; inputDims?: (number | string)[]; outputs: string[]; initializers?: TestTensor[]; opset?: number }): Uint8Array {
  const model = create(ModelProtoSchema, {
    irVersion: 8n,
    opsetImport: [{ domain: '', version: BigInt(o.opset ?? 17) }],
    graph: {
      name: 'test',
      node: o.nodes.map((n, i) => ({ name: n.name ?? `n${i}`, opType: n.op, input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)) }) as unknown as NodeProto),
      input: (o.inputs ?? ['x']).map((name) => ({
        name,
        type: { value: { case: 'tensorType', value: { elemType: 1, shape: { dim: (o.inputDims ?? ['batch', 4]).map((d) => ({ value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d } })) } } } },
      })),
      output: o.outputs.map((name) => ({ name })),
      initializer: (o.initializers ?? []).map(tensor),
    },
  } as never);
  return toBinary(ModelProtoSchema, model);
}
