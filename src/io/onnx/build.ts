// ONNX nodes → liven modules in an nn.Graph. Each op has one mapper that checks its attributes
// and weights and returns the graph nodes to add; whatever cannot be mapped is collected, so one
// Error lists every unsupported operator with its node name.
import { Tensor } from '../../tensor.js';
import { Graph, configTypes, moduleFromConfig, type Module, type ModuleConfig } from '../../nn/index.js';
import { foldConstants, isSymbol, numbers, type ConstValue, type Folded } from './fold.js';
import { readOnnx, type OnnxAttribute, type OnnxModel, type OnnxNode, type OnnxTensor } from './reader.js';
import { ModelTooLargeError, buildWithWeights } from '../model.js';

/** A module to build: its config and its weights by parameter or buffer name. */
interface Step {
  readonly config: ModuleConfig;
  readonly weights?: Record<string, Tensor>;
}

/** A node of the graph to build: its name, the graph values it takes, its module. */
interface Planned extends Step {
  readonly name: string;
  readonly inputs: readonly string[];
}

/** Why a node cannot be imported. */
class Unsupported extends Error {}

/**
 * The graph node name liven uses for an ONNX node or value name: graph names are letters,
 * digits and `_`, so `/layer1/layer1.0/relu/Relu` becomes `layer1_layer1_0_relu_Relu` (a
 * leading `/` dropped, every other character outside `[A-Za-z0-9_]` replaced by `_`).
 */
export function onnxGraphName(onnxName: string): string {
  const s = onnxName.replace(/^\/+/, '').replace(/[^A-Za-z0-9_]/g, '_');
  return s === '' ? '_' : s;
}

/**
 * Loads a model written by `torch.onnx.export` (opsets 11–17; weights inline or in external-data
 * files beside it, found relative to the model's path) as an `nn.Graph` in eval mode. Its inputs
 * are the ONNX graph's inputs and its nodes the ONNX nodes, named by {@link onnxGraphName} of
 * their ONNX names, in the file's order; Constant nodes and shape arithmetic are evaluated while
 * loading, Identity and Dropout disappear. Activation nodes become liven's activation modules
 * (Clip(0, ∞) a ReLU, Clip(0, 6) a ReLU6, other Clips a Hardtanh), so monitors see them.
 *
 * The modules are built as `io.buildWithWeights` builds them: measured first, refused with a
 * ModelTooLargeError when their parameters, gradients and buffers would take more than
 * `maxBytes` (default 4 GiB), and built without random initialisation.
 *
 * Throws an `Error` that says what for a file that is not ONNX, is truncated or inconsistent
 * (see {@link readOnnx}), and one Error listing every operator it cannot run, with node names.
 */
export function loadOnnx(pathOrBytes: string | Uint8Array, options?: { maxBytes?: number }): Graph {
  return graphFromOnnx(readOnnx(pathOrBytes), options);
}

/** The nn.Graph of a read model (see {@link loadOnnx}). */
export function graphFromOnnx(model: OnnxModel, options?: { maxBytes?: number }): Graph {
  const folded = foldConstants(model);
  const names = new GraphNames();
  // Graph value name (ONNX) → the liven graph name that makes it.
  const made = new Map<string, string>();
  const inputNames = model.inputs.map((i) => {
    const n = names.take(i.name);
    made.set(i.name, n);
    return n;
  });
  if (inputNames.length === 0) throw new Error('loadOnnx: the graph has no inputs that are not weights');
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of folded.nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const graphOutputs = new Set(model.outputs);
  const plan: Planned[] = [];
  // "<op>: <reason>" → node names, so that 35 Clips liven cannot run make one entry.
  const problems = new Map<string, { op: string; reason: string; nodes: string[] }>();
  for (const node of folded.nodes) {
    try {
      const ctx = new Context(node, folded, made, consumers, model.opset);
      for (let k = 1; k < node.outputs.length; k++) {
        const o = node.outputs[k]!;
        if (o !== '' && (consumers.has(o) || graphOutputs.has(o))) throw new Unsupported(`its output ${k} (${JSON.stringify(o)}) is used`);
      }
      const mapper = MAPPERS[node.opType];
      if (mapper === undefined) throw new Unsupported('no liven module for it');
      const result = mapper(ctx);
      if (result === 'alias') {
        made.set(node.outputs[0]!, ctx.input(0));
        continue;
      }
      const name = names.take(node.name);
      const steps = Array.isArray(result) ? result : [result];
      let prev: readonly string[] = ctx.runtimeInputs();
      steps.forEach((step, i) => {
        const stepName = i === steps.length - 1 ? name : names.take(`${node.name}_${i}`);
        plan.push({ name: stepName, inputs: prev, ...step });
        prev = [stepName];
      });
      made.set(node.outputs[0]!, name);
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
      const key = `${node.opType}: ${e.message}`;
      const entry = problems.get(key) ?? { op: node.opType, reason: e.message, nodes: [] };
      entry.nodes.push(node.name);
      problems.set(key, entry);
      for (const o of node.outputs) made.set(o, '?');
    }
  }
  const constantOutputs = model.outputs.filter((o) => !made.has(o));
  if (problems.size > 0 || constantOutputs.length > 0) {
    const count = [...problems.values()].reduce((n, p) => n + p.nodes.length, 0);
    const list = [...problems.values()].map(({ op, reason, nodes }) => {
      const names = nodes.slice(0, 3).map((n) => JSON.stringify(n)).join(', ') + (nodes.length > 3 ? ', ...' : '');
      return `${op} (${nodes.length === 1 ? 'node' : `${nodes.length} nodes:`} ${names}): ${reason}`;
    });
    for (const o of constantOutputs) list.push(`graph output ${JSON.stringify(o)} is a constant, which liven cannot return`);
    throw new Error(`loadOnnx: ${count} operator${count === 1 ? '' : 's'} cannot be imported: ${list.join('; ')}`);
  }
  const outputs = model.outputs.map((o) => made.get(o)!);
  const weights: Record<string, Tensor> = {};
  for (const p of plan) for (const [key, t] of Object.entries(p.weights ?? {})) weights[`${p.name}.${key}`] = t;
  const build = (): Graph => {
    const graph = new Graph({ inputs: inputNames });
    for (const p of plan) {
      let module: Module;
      try {
        module = moduleFromConfig(p.config);
      } catch (e) {
        throw new Error(`loadOnnx: node ${JSON.stringify(p.name)}: ${(e as Error).message}`);
      }
      graph.node(p.name, module, p.inputs.length === 1 ? p.inputs[0]! : p.inputs);
    }
    return graph.output(outputs.length === 1 ? outputs[0]! : outputs);
  };
  let graph: Graph;
  try {
    graph = buildWithWeights(build, weights, options);
  } catch (e) {
    if (e instanceof ModelTooLargeError || (e as Error).message.startsWith('loadOnnx:')) throw e;
    throw new Error(`loadOnnx: the weights do not fit the modules: ${(e as Error).message}`);
  }
  graph.eval();
  return graph;
}

/** Unique graph names. */
class GraphNames {
  readonly #taken = new Set<string>();
  take(onnxName: string): string {
    const base = onnxGraphName(onnxName);
    let name = base;
    for (let i = 1; this.#taken.has(name); i++) name = `${base}_${i}`;
    this.#taken.add(name);
    return name;
  }
}

/** What a mapper sees of its node. */
class Context {
  constructor(
    readonly node: OnnxNode,
    readonly folded: Folded,
    readonly made: ReadonlyMap<string, string>,
    readonly consumers: ReadonlyMap<string, OnnxNode[]>,
    readonly opset: number,
  ) {}

  /** The graph name of runtime input `i`. */
  input(i: number): string {
    const v = this.node.inputs[i];
    if (v === undefined || v === '') throw new Unsupported(`input ${i} is missing`);
    const g = this.made.get(v);
    if (g === undefined) throw new Unsupported(`input ${i} (${JSON.stringify(v)}) is a constant where liven needs a computed tensor`);
    if (g === '?') throw new Unsupported(`input ${i} comes from an operator that cannot be imported`);
    return g;
  }

  /** The graph names of the inputs that are computed (not constants). */
  runtimeInputs(): string[] {
    return this.node.inputs.filter((v) => v !== '' && !this.folded.constants.has(v) && !this.folded.tensors.has(v)).map((v) => this.made.get(v)!);
  }

  hasInput(i: number): boolean {
    return (this.node.inputs[i] ?? '') !== '';
  }

  /** Input `i` as a float weight tensor (an initializer or Constant). */
  weight(i: number, what: string): OnnxTensor {
    const v = this.node.inputs[i];
    const t = v === undefined || v === '' ? undefined : this.folded.tensors.get(v);
    if (t === undefined) {
      const c = v === undefined ? undefined : this.folded.constants.get(v);
      if (c !== undefined && numbers(c) !== null) return { name: v!, dims: c.dims, data: Float32Array.from(numbers(c)!), integer: false };
      throw new Unsupported(`its ${what} (input ${i}) is not a constant tensor`);
    }
    return t;
  }

  /** Input `i` as constant numbers (shape arithmetic already folded), or null when omitted. */
  constant(i: number, what: string): ConstValue | null {
    const v = this.node.inputs[i];
    if (v === undefined || v === '') return null;
    const c = this.folded.constants.get(v) ?? (this.folded.tensors.has(v) ? { dims: this.folded.tensors.get(v)!.dims, values: Array.from(this.folded.tensors.get(v)!.data), integer: false } : undefined);
    if (c === undefined) throw new Unsupported(`its ${what} (input ${i}) is computed at run time; liven needs it constant`);
    return c;
  }

  attr(name: string): OnnxAttribute | undefined {
    return this.node.attributes.get(name);
  }

  num(name: string, fallback: number): number {
    const v = this.attr(name);
    if (v === undefined) return fallback;
    if (typeof v !== 'number') throw new Unsupported(`attribute ${name} is not a number`);
    return v;
  }

  ints(name: string, fallback: readonly number[]): readonly number[] {
    const v = this.attr(name);
    if (v === undefined) return fallback;
    if (!Array.isArray(v)) throw new Unsupported(`attribute ${name} is not a list of integers`);
    return v as readonly number[];
  }

  str(name: string, fallback: string): string {
    const v = this.attr(name);
    return typeof v === 'string' ? v : fallback;
  }

  /** The op type of the node that makes input `i`, if a node does. */
  producerOp(i: number): string | null {
    const v = this.node.inputs[i];
    const p = this.folded.nodes.find((n) => n.outputs.includes(v ?? ''));
    return p?.opType ?? null;
  }
}

type Mapper = (c: Context) => Step | Step[] | 'alias';

/** A module built from its config; a type liven lacks is an unsupported op, found while planning. */
function config(type: string, options: Record<string, unknown> = {}, weights?: Record<string, Tensor>): Step {
  if (!configTypes().includes(type)) throw new Unsupported(`liven has no nn.${type}`);
  return { config: { type, ...options }, ...(weights === undefined ? {} : { weights }) };
}

/** An ONNX weight as a tensor of `shape` (its element count checked by loadStateDict). */
function tensor(t: OnnxTensor, shape: readonly number[] = t.dims): Tensor {
  const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Unsupported(`${JSON.stringify(t.name)} has ${data.length} values, not [${shape.join(', ')}]`);
  return Tensor.from(data, shape);
}

/** ONNX's `pads` [x1_begin, x2_begin, x1_end, x2_end] for 2-D ops as liven's symmetric [h, w]. */
function symmetricPads(c: Context): [number, number] | null {
  const autoPad = c.str('auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') throw new Unsupported(`auto_pad ${autoPad}`);
  const p = c.ints('pads', [0, 0, 0, 0]);
  if (p.length !== 4) throw new Unsupported(`pads [${p.join(', ')}] is not 2-D`);
  return p[0] === p[2] && p[1] === p[3] ? [p[0]!, p[1]!] : null;
}

function pair(c: Context, name: string, fallback: number): [number, number] {
  const v = c.ints(name, [fallback, fallback]);
  if (v.length !== 2) throw new Unsupported(`${name} [${v.join(', ')}] is not 2-D`);
  return [v[0]!, v[1]!];
}

function activation(type: string, options?: Record<string, unknown>): Mapper {
  return () => config(type, options);
}

const MAPPERS: Record<string, Mapper> = {
  Identity: () => 'alias',
  Dropout: () => 'alias',
  Relu: activation('ReLU'),
  Sigmoid: activation('Sigmoid'),
  Tanh: activation('Tanh'),
  HardSwish: activation('Hardswish'),
  Softplus: activation('Softplus'),
  LeakyRelu: (c) => config('LeakyReLU', { negativeSlope: c.num('alpha', 0.01) }),
  Elu: (c) => config('ELU', { alpha: c.num('alpha', 1) }),
  Celu: (c) => config('CELU', { alpha: c.num('alpha', 1) }),
  Selu: (c) => {
    if (Math.abs(c.num('alpha', 1.67326319217681884765625) - 1.6732632) > 1e-6 || Math.abs(c.num('gamma', 1.05070102214813232421875) - 1.050701) > 1e-6) {
      throw new Unsupported('alpha and gamma other than SELU\'s constants');
    }
    return config('SELU');
  },
  HardSigmoid: (c) => {
    if (Math.abs(c.num('alpha', 0.2) - 1 / 6) > 1e-6 || Math.abs(c.num('beta', 0.5) - 0.5) > 1e-6) throw new Unsupported('alpha and beta other than 1/6 and 1/2 (PyTorch\'s Hardsigmoid)');
    return config('Hardsigmoid');
  },
  Clip: (c) => {
    let lo: number;
    let hi: number;
    if (c.opset >= 11) {
      const min = c.constant(1, 'min');
      const max = c.constant(2, 'max');
      lo = min === null ? -Infinity : (numbers(min)![0] ?? -Infinity);
      hi = max === null ? Infinity : (numbers(max)![0] ?? Infinity);
    } else {
      lo = c.num('min', -Infinity);
      hi = c.num('max', Infinity);
    }
    if (lo === 0 && hi === Infinity) return config('ReLU');
    if (lo === 0 && hi === 6) return config('ReLU6');
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo >= hi) throw new Unsupported(`a clip to [${lo}, ${hi}]`);
    return config('Hardtanh', { minVal: lo, maxVal: hi });
  },
  PRelu: (c) => {
    const slope = c.weight(1, 'slope');
    const n = slope.data.length;
    if (n > 1 && slope.dims.filter((d) => d !== 1).length !== 1) throw new Unsupported(`a slope of dimensions [${slope.dims.join(', ')}] (liven's PReLU has one per channel)`);
    return config('PReLU', { numParameters: n }, { weight: tensor(slope, [n]) });
  },
  Conv: (c) => {
    const w = c.weight(1, 'weight');
    if (w.dims.length !== 4) throw new Unsupported(`a weight of dimensions [${w.dims.join(', ')}] (liven has 2-D convolutions)`);
    const b = c.hasInput(2) ? c.weight(2, 'bias') : null;
    const groups = c.num('group', 1);
    const [o, ig, kh, kw] = w.dims as [number, number, number, number];
    const k = c.ints('kernel_shape', [kh, kw]);
    if (k[0] !== kh || k[1] !== kw) throw new Unsupported(`kernel_shape [${k.join(', ')}] disagrees with the weight [${w.dims.join(', ')}]`);
    const stride = pair(c, 'strides', 1);
    const dilation = pair(c, 'dilations', 1);
    const sym = symmetricPads(c);
    const weights: Record<string, Tensor> = { weight: tensor(w) };
    if (b !== null) weights.bias = tensor(b, [o]);
    const conv = config('Conv2d', { inChannels: ig * groups, outChannels: o, kernelSize: [kh, kw], stride, padding: sym ?? [0, 0], dilation, groups, bias: b !== null }, weights);
    if (sym !== null) return conv;
    const p = c.ints('pads', []);
    return [config('ConstantPad2d', { padding: [p[1], p[3], p[0], p[2]], value: 0 }), conv];
  },
  Gemm: (c) => {
    if (c.num('transA', 0) !== 0) throw new Unsupported('transA = 1');
    const bT = c.weight(1, 'B');
    if (bT.dims.length !== 2) throw new Unsupported(`B of dimensions [${bT.dims.join(', ')}]`);
    const transB = c.num('transB', 0) !== 0;
    const alpha = c.num('alpha', 1);
    const beta = c.num('beta', 1);
    const [out, inp] = transB ? bT.dims : [bT.dims[1]!, bT.dims[0]!];
    const bias = c.hasInput(2) ? c.weight(2, 'C') : null;
    if (bias !== null && bias.data.length !== out && bias.data.length !== 1) throw new Unsupported(`C of dimensions [${bias.dims.join(', ')}] for ${out} outputs`);
    const w = new Float32Array(out! * inp!);
    for (let i = 0; i < out!; i++) for (let j = 0; j < inp!; j++) w[i * inp! + j] = alpha * bT.data[transB ? i * inp! + j : j * out! + i]!;
    const weights: Record<string, Tensor> = { weight: Tensor.from(w, [out!, inp!]) };
    if (bias !== null) weights.bias = Tensor.from(Float32Array.from({ length: out! }, (_, i) => beta * bias.data[bias.data.length === 1 ? 0 : i]!), [out!]);
    return config('Linear', { inFeatures: inp, outFeatures: out, bias: bias !== null }, weights);
  },
  MatMul: (c) => {
    const b = c.weight(1, 'B');
    if (b.dims.length !== 2) throw new Unsupported(`B of dimensions [${b.dims.join(', ')}] (liven maps MatMul by a 2-D weight to Linear)`);
    const [inp, out] = b.dims as [number, number];
    const w = new Float32Array(out * inp);
    for (let i = 0; i < out; i++) for (let j = 0; j < inp; j++) w[i * inp + j] = b.data[j * out + i]!;
    return config('Linear', { inFeatures: inp, outFeatures: out, bias: false }, { weight: Tensor.from(w, [out, inp]) });
  },
  BatchNormalization: (c) => {
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => c.weight(i, ['scale', 'B', 'mean', 'var'][i - 1]!));
    const n = scale!.data.length;
    const eps = c.num('epsilon', 1e-5);
    const momentum = 1 - c.num('momentum', 0.9);
    const flat = ['Gemm', 'MatMul', 'Flatten', 'Reshape'].includes(c.producerOp(0) ?? '');
    const weights = { weight: tensor(scale!, [n]), bias: tensor(bias!, [n]), running_mean: tensor(mean!, [n]), running_var: tensor(variance!, [n]), num_batches_tracked: Tensor.zeros([]) };
    return config(flat ? 'BatchNorm1d' : 'BatchNorm2d', { numFeatures: n, eps, momentum }, weights);
  },
  Add: (c) => {
    if (c.runtimeInputs().length !== 2) throw new Unsupported('an addend that is a constant (liven adds two computed tensors)');
    return config('Add');
  },
  Mul: (c) => {
    if (c.runtimeInputs().length !== 2) throw new Unsupported('a factor that is a constant (liven multiplies two computed tensors)');
    return config('Mul');
  },
  Concat: (c) => {
    if (c.runtimeInputs().length !== c.node.inputs.length) throw new Unsupported('a constant part');
    return config('Cat', { dim: c.num('axis', 1) });
  },
  MaxPool: (c) => {
    if (c.num('storage_order', 0) !== 0) throw new Unsupported('storage_order 1');
    const k = c.ints('kernel_shape', []);
    if (k.length !== 2) throw new Unsupported(`kernel_shape [${k.join(', ')}] is not 2-D`);
    const padding = symmetricPads(c);
    if (padding === null) throw new Unsupported(`asymmetric pads [${c.ints('pads', []).join(', ')}]`);
    return config('MaxPool2d', { kernelSize: [k[0], k[1]], stride: pair(c, 'strides', 1), padding, dilation: pair(c, 'dilations', 1), ceilMode: c.num('ceil_mode', 0) !== 0 });
  },
  AveragePool: (c) => {
    const k = c.ints('kernel_shape', []);
    if (k.length !== 2) throw new Unsupported(`kernel_shape [${k.join(', ')}] is not 2-D`);
    const padding = symmetricPads(c);
    if (padding === null) throw new Unsupported(`asymmetric pads [${c.ints('pads', []).join(', ')}]`);
    if (pair(c, 'dilations', 1).some((d) => d !== 1)) throw new Unsupported('dilations');
    return config('AvgPool2d', { kernelSize: [k[0], k[1]], stride: pair(c, 'strides', 1), padding, ceilMode: c.num('ceil_mode', 0) !== 0, countIncludePad: c.num('count_include_pad', 0) !== 0 });
  },
  GlobalAveragePool: (c) => globalPool(c, 'GlobalAvgPool2d'),
  GlobalMaxPool: (c) => globalPool(c, 'GlobalMaxPool2d'),
  Flatten: (c) => {
    const axis = c.num('axis', 1);
    if (axis < 1) throw new Unsupported(`axis ${axis} (liven keeps the batch dimension)`);
    return config('Flatten', { startDim: axis });
  },
  Reshape: (c) => {
    const shape = c.constant(1, 'shape')!;
    if (c.num('allowzero', 0) !== 0 && shape.values.includes(0)) throw new Unsupported('allowzero with a 0 in the shape');
    const data = c.node.inputs[0]!;
    const dims = shape.values.map((e, i) => {
      if (!isSymbol(e)) return e;
      if (e.of === data && e.dim === i) return 0;
      throw new Unsupported('a target shape that takes a dimension from another tensor or position');
    });
    return config('Reshape', { shape: dims });
  },
  Pad: (c) => {
    const mode = c.str('mode', 'constant');
    if (mode !== 'constant') throw new Unsupported(`mode ${mode}`);
    let pads: readonly number[];
    let value = 0;
    if (c.opset >= 11) {
      const p = c.constant(1, 'pads');
      if (p === null || numbers(p) === null) throw new Unsupported('no constant pads');
      pads = numbers(p)!;
      const v = c.constant(2, 'constant value');
      if (v !== null) value = numbers(v)![0] ?? 0;
      if (c.hasInput(3)) throw new Unsupported('axes input');
    } else {
      pads = c.ints('pads', []);
      value = c.num('value', 0);
    }
    const rank = pads.length / 2;
    if (rank < 2 || pads.some((p, i) => p < 0 || (i % rank < rank - 2 && p !== 0))) throw new Unsupported(`pads [${pads.join(', ')}] (liven pads the last two dimensions by non-negative amounts)`);
    return config('ConstantPad2d', { padding: [pads[rank - 1], pads[2 * rank - 1], pads[rank - 2], pads[2 * rank - 2]], value });
  },
  Softmax: (c) => softmax(c, 'Softmax'),
  LogSoftmax: (c) => softmax(c, 'LogSoftmax'),
};

/** ONNX keeps `[N, C, 1, 1]`; liven's global pools give `[N, C]`, reshaped back unless only Flatten follows. */
function globalPool(c: Context, type: string): Step | Step[] {
  const users = c.consumers.get(c.node.outputs[0]!) ?? [];
  const flattened = users.length > 0 && users.every((u) => u.opType === 'Flatten' && (u.attributes.get('axis') ?? 1) === 1);
  return flattened ? config(type) : [config(type), config('Reshape', { shape: [0, 0, 1, 1] })];
}

function softmax(c: Context, type: string): Step {
  const axis = c.num('axis', c.opset >= 13 ? -1 : 1);
  // Before opset 13 the axis splits the input into 2-D; on the usual [N, classes] that is dim 1.
  if (c.opset < 13 && axis !== 1 && axis !== -1) throw new Unsupported(`axis ${axis} before opset 13`);
  return config(type, { dim: axis });
}
