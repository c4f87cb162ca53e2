// ReDo (Sokar et al. 2023, "The dormant neuron phenomenon in deep reinforcement learning"):
// give dormant units fresh incoming weights and silence their outgoing ones, so that they can
// learn again without changing what the network computes at the moment of recycling.
import { checkOptions, describeValue } from '../check.js';
import * as init from '../init/index.js';
import { Conv2d } from '../nn/conv.js';
import { Flatten } from '../nn/flatten.js';
import { Graph, type GraphNode } from '../nn/graph.js';
import { Linear } from '../nn/linear.js';
import { Module, type AnyModule, type Parameter } from '../nn/module.js';
import { BatchNorm1d, BatchNorm2d, GroupNorm } from '../nn/norm.js';
import { AvgPool2d, GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d } from '../nn/pool.js';
import { Adagrad, AdamW, Adam, SGD, type Optimizer } from '../optim/optimizer.js';
import { Tensor } from '../tensor.js';
import { ActivationMonitor } from './monitor.js';

export interface RecycleOptions {
  /** ReDo's τ: units whose dormancy score is at most this are recycled (dead ones always). Default: the monitor's `dormantThreshold` (0.025). */
  tau?: number;
  /** The optimizer training the model: its state for every entry rewritten is reset. */
  optimizer?: Optimizer;
  /** Only these watched layers (paths as in `monitor.layers`); default all of them. */
  layers?: string[];
}

type Weighted = Linear | Conv2d;
type Norm = BatchNorm1d | BatchNorm2d | GroupNorm;

/** Where a watched activation sits: the layer feeding it (through an optional norm) and the one it feeds. */
interface Site {
  layer: string;
  producer: Weighted;
  norm: Norm | null;
  consumer: Weighted;
  /** Consumer input columns per unit: 1, or H·W when a Flatten turns a channel into a block of Linear columns. */
  block: number;
}

/** Layers a unit's values pass through unchanged in their channel (only its spatial extent changes). */
function passesChannels(m: AnyModule): boolean {
  return m instanceof MaxPool2d || m instanceof AvgPool2d || m instanceof GlobalMaxPool2d || m instanceof GlobalAvgPool2d || m instanceof Flatten;
}

function outUnits(m: Weighted): number {
  return m instanceof Linear ? m.outFeatures : m.outChannels;
}

/** Each node of every graph in `model` (Sequential included), by its module. */
function graphNodes(model: Module): Map<AnyModule, { graph: Graph; where: string; node: GraphNode }> {
  const found = new Map<AnyModule, { graph: Graph; where: string; node: GraphNode }>();
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof Graph)) continue;
    for (const node of m.nodes()) found.set(node.module, { graph: m, where: path, node });
  }
  return found;
}

/** Finds the producer and consumer of the activation at `layer`, or throws an Error saying which shape stops it. */
function locate(layer: string, activation: AnyModule, units: number, nodes: ReturnType<typeof graphNodes>): Site {
  const fail = (why: string): never => {
    throw new Error(`diag.recycleDormant: cannot recycle layer "${layer}" (${activation.kind}): ${why}; leave it out with the layers option`);
  };
  const at = nodes.get(activation);
  if (!at) fail('it is not a node of a Sequential or nn.Graph');
  const { graph } = at!;
  const byName = new Map(graph.nodes().map((n) => [n.name, n]));
  const single = (node: GraphNode): GraphNode => {
    if (node.inputs.length !== 1) fail(`its input passes through "${node.name}" (${node.module.kind}), which takes ${node.inputs.length} inputs`);
    const input = byName.get(node.inputs[0]!);
    if (!input) fail(`"${node.name}" takes the graph's input "${node.inputs[0]}", not a Linear or Conv2d`);
    return input!;
  };
  /** The only node taking `node`'s output; fan-out and graph outputs cannot be recycled. */
  const onlyConsumer = (node: GraphNode): GraphNode => {
    if (graph.outputs.includes(node.name)) fail(`the output of "${node.name}" is an output of the graph`);
    const users = graph.nodes().filter((n) => n.inputs.includes(node.name));
    if (users.length !== 1) fail(users.length === 0 ? `nothing takes the output of "${node.name}"` : `the output of "${node.name}" fans out to ${users.map((u) => `"${u.name}" (${u.module.kind})`).join(', ')}`);
    const user = users[0]!;
    if (user.inputs.length !== 1) fail(`the output of "${node.name}" goes into "${user.name}" (${user.module.kind}), which combines ${user.inputs.length} inputs`);
    return user;
  };

  // Backwards: [Linear | Conv2d] → (BatchNorm | GroupNorm)? → activation, each the only user of the one before.
  let back = single(at!.node);
  let norm: Norm | null = null;
  if (back.module instanceof BatchNorm1d || back.module instanceof BatchNorm2d || back.module instanceof GroupNorm) {
    norm = back.module;
    if (onlyConsumer(back) !== at!.node) fail(`"${back.name}" feeds more than the activation`);
    back = single(back);
  }
  if (!(back.module instanceof Linear || back.module instanceof Conv2d)) {
    fail(`its input comes from "${back.name}" (${back.module.kind}), not a Linear or Conv2d (possibly through BatchNorm or GroupNorm)`);
  }
  if (onlyConsumer(back) !== (norm ? byName.get(at!.node.inputs[0]!) : at!.node)) fail(`the output of "${back.name}" is used elsewhere too`);
  const producer = back.module as Weighted;
  if (outUnits(producer) !== units) fail(`it had ${units} units in the monitor's window but "${back.name}" (${producer.kind}) produces ${outUnits(producer)}`);
  const normUnits = norm === null ? units : norm instanceof GroupNorm ? norm.numChannels : norm.numFeatures;
  if (normUnits !== units) fail(`its norm has ${normUnits} channels for ${units} units`);

  // Forwards: activation → (pooling | Flatten)* → [Linear | Conv2d].
  let next = onlyConsumer(at!.node);
  let flattened = false;
  // Whether the values reaching the consumer are [N, units] (a Conv2d's are [N, C, H, W] until pooled globally or flattened).
  let perSample = producer instanceof Linear;
  while (passesChannels(next.module)) {
    if (next.module instanceof GlobalMaxPool2d || next.module instanceof GlobalAvgPool2d) perSample = true;
    if (next.module instanceof Flatten) {
      const f = next.module;
      if (f.startDim !== 1 || f.endDim !== -1) fail(`"${next.name}" flattens dimensions ${f.startDim}..${f.endDim}; only Flatten's default (1..-1) keeps each unit's values together`);
      flattened = true;
      perSample = true;
    }
    next = onlyConsumer(next);
  }
  const consumer = next.module;
  if (!(consumer instanceof Linear || consumer instanceof Conv2d)) {
    fail(`its output goes into "${next.name}" (${consumer.kind}), not a Linear or Conv2d (possibly through pooling or Flatten)`);
  }
  let block = 1;
  if (consumer instanceof Linear && !perSample) fail(`"${next.name}" (Linear) would act on the last dimension of a Conv2d's [N, C, H, W] output, not on its channels`);
  if (consumer instanceof Conv2d && producer instanceof Linear) fail(`"${next.name}" (Conv2d) takes channels, but "${back.name}" is a Linear`);
  if (consumer instanceof Conv2d) {
    if (consumer.inChannels !== units || flattened) fail(`"${next.name}" (Conv2d) takes ${consumer.inChannels} channels, not the ${units} units`);
  } else {
    const columns = (consumer as Linear).inFeatures;
    // A flattened channel of H·W positions is the block of H·W consecutive Linear columns.
    if (flattened ? columns % units !== 0 : columns !== units) fail(`"${next.name}" (Linear) takes ${columns} features, which do not split into ${units} units`);
    block = columns / units;
  }
  return { layer, producer, norm, consumer: consumer as Weighted, block };
}

/** A write into one parameter or buffer: these flat indices get these values (a number: all of them). */
interface Edit {
  target: Tensor;
  param: Parameter | null;
  indices: number[];
  values: Float32Array | number;
}

/** The entries (flat indices) of the rows `rows` of a tensor whose dimension 0 is the unit. */
function rowIndices(t: Tensor, rows: number[]): number[] {
  const len = t.size / t.shape[0]!;
  return rows.flatMap((r) => Array.from({ length: len }, (_, i) => r * len + i));
}

/** The consumer's weights from the units `units` (its outgoing weights). */
function outgoingIndices(site: Site, units: number[]): number[] {
  const w = site.consumer.weight.data;
  if (site.consumer instanceof Linear) {
    const { inFeatures, outFeatures } = site.consumer;
    const out: number[] = [];
    for (let o = 0; o < outFeatures; o++) for (const u of units) for (let b = 0; b < site.block; b++) out.push(o * inFeatures + u * site.block + b);
    return out;
  }
  // Conv2d weight [outC, inC / groups, kh, kw]: input channel u reaches the output channels of its group.
  const c = site.consumer;
  const perGroupIn = c.inChannels / c.groups;
  const perGroupOut = c.outChannels / c.groups;
  const k = w.size / (c.outChannels * perGroupIn);
  const out: number[] = [];
  for (const u of units) {
    const g = Math.floor(u / perGroupIn);
    for (let o = g * perGroupOut; o < (g + 1) * perGroupOut; o++) {
      for (let i = 0; i < k; i++) out.push((o * perGroupIn + (u % perGroupIn)) * k + i);
    }
  }
  return out;
}

/** Resets the optimizer's per-entry state of `p` at `indices` to what a fresh entry has. */
function resetState(opt: Optimizer, p: Parameter, indices: number[]): void {
  const reset = (a: Float32Array | null | undefined, value: number) => {
    if (a) for (const i of indices) a[i] = value;
  };
  if (opt instanceof SGD) reset(opt.momentumBuffer(p), 0);
  else if (opt instanceof Adam || opt instanceof AdamW) {
    const s = opt.state(p);
    reset(s?.expAvg, 0);
    reset(s?.expAvgSq, 0);
  } else if (opt instanceof Adagrad) {
    const group = opt.paramGroups.find((g) => g.params.includes(p));
    reset(opt.state(p)?.sum, group?.initialAccumulatorValue ?? 0);
  }
}

/**
 * ReDo (Sokar et al. 2023): recycles the dormant units of every watched activation and returns
 * how many it recycled. A unit is recycled when its dormancy score over the monitor's current
 * window (mean |output| over the layer's average, `unitReport(layer).dormancyScore`) is at most
 * `tau`, or when it is dead. For each such unit:
 *
 * - its incoming weights (the unit's row of the Linear / output channel of the Conv2d feeding
 *   the activation) are drawn afresh as the layer's own initialiser draws them (kaiming_uniform
 *   with a = √5, from the global generator: `manualSeed` makes it repeatable), and its bias is
 *   set to 0;
 * - a BatchNorm / GroupNorm between them gets weight 1 and bias 0 for that channel, and a
 *   BatchNorm's running mean and variance for it restart at 0 and 1 (a new BatchNorm's): the
 *   old statistics describe weights that are gone;
 * - its outgoing weights (the columns of the Linear it feeds, the block of H·W columns per
 *   channel behind a Flatten, the input channel of a Conv2d, through any pooling) are set to 0,
 *   so the network computes the same function right after recycling; when a layer is both a
 *   consumer and a producer, the zeros are written last;
 * - the optimizer's state for exactly those entries is reset: SGD's momentum buffer and Adam's
 *   / AdamW's moments to 0, Adagrad's sums to `initialAccumulatorValue` (step counts stay).
 *
 * Every other weight, buffer and state entry stays bit-identical. Gradients are not touched.
 *
 * What it can recycle: an activation that is a node of a Sequential or nn.Graph (at any depth)
 * whose input is the output of a Linear or Conv2d, directly or through a BatchNorm1d /
 * BatchNorm2d / GroupNorm, and whose output goes, directly or through MaxPool2d / AvgPool2d /
 * GlobalMaxPool2d / GlobalAvgPool2d / Flatten (default dimensions), into one Linear or Conv2d,
 * each value on the way used by that path only. What it cannot: an activation fed by a graph
 * input, a nested container or any other layer; a value on the path that fans out to several
 * nodes or is an output of the graph; a node combining several inputs (nn.Add, nn.Cat: a
 * residual sum or a concatenation); another layer between the activation and its consumer. For
 * A Linear straight after a Conv2d's activation (acting on its width, not its channels) is
 * refused too. For such a layer it throws an Error naming the layer and the reason before changing anything
 * (leave the layer out with `layers`). It also throws when a watched layer saw no forward in the
 * monitor's window.
 */
export function recycleDormant(model: Module, monitor: ActivationMonitor, options?: RecycleOptions): number {
  if (!(model instanceof Module)) throw new TypeError(`diag.recycleDormant: model must be a Module, got ${describeValue(model)}`);
  if (!(monitor instanceof ActivationMonitor)) throw new TypeError(`diag.recycleDormant: monitor must be a diag.ActivationMonitor, got ${describeValue(monitor)}`);
  const o = checkOptions(options, 'diag.recycleDormant');
  const tau = o.tau ?? monitor.dormantThreshold;
  if (typeof tau !== 'number') throw new TypeError(`diag.recycleDormant: tau must be a number, got ${describeValue(tau)}`);
  if (!(tau >= 0) || !Number.isFinite(tau)) throw new RangeError(`diag.recycleDormant: tau must be a finite number >= 0, got ${tau}`);
  const opt = o.optimizer;
  if (opt !== undefined && !(opt instanceof SGD || opt instanceof Adam || opt instanceof AdamW || opt instanceof Adagrad)) {
    throw new TypeError(`diag.recycleDormant: optimizer must be an optim.SGD, Adam, AdamW or Adagrad, got ${describeValue(opt)}`);
  }
  const layers = o.layers ?? monitor.layers;
  if (!Array.isArray(layers)) throw new TypeError(`diag.recycleDormant: layers must be an array of layer paths, got ${describeValue(layers)}`);

  // Plan everything (every check can throw) before writing anything.
  const modules = new Map(model.namedModules());
  const nodes = graphNodes(model);
  const plans: { site: Site; units: number[] }[] = [];
  for (const layer of layers) {
    if (!monitor.layers.includes(layer)) throw new RangeError(`diag.recycleDormant: no watched layer ${JSON.stringify(layer)}; the watched layers are ${monitor.layers.map((l) => JSON.stringify(l)).join(', ') || '(none)'}`);
    const activation = modules.get(layer);
    if (activation === undefined || monitor.module(layer) !== activation) throw new Error(`diag.recycleDormant: the monitor's layer "${layer}" is not in this model; pass the model the monitor watches`);
    // An Error when no forward reached the layer in the window: nothing tells which units are dormant.
    const r = monitor.unitReport(layer);
    const site = locate(layer, activation, r.dead.length, nodes);
    const units: number[] = [];
    for (let u = 0; u < r.dead.length; u++) if (r.dead[u] === 1 || r.dormancyScore[u]! <= tau) units.push(u);
    if (units.length > 0) plans.push({ site, units });
  }

  const fresh: Edit[] = [];
  const zeros: Edit[] = [];
  for (const { site, units } of plans) {
    const w = site.producer.weight;
    // One draw per unit, as a [1, ...] slice of the weight: the same fan-in, so the same bound.
    const values = new Float32Array(units.length * (w.data.size / w.data.shape[0]!));
    const row = values.length / units.length;
    units.forEach((_, i) => {
      const t = Tensor.zeros([1, ...w.data.shape.slice(1)]);
      init.kaimingUniform(t, { a: Math.sqrt(5) });
      values.set(t.data, i * row);
    });
    fresh.push({ target: w.data, param: w, indices: rowIndices(w.data, units), values });
    if (site.producer.bias) fresh.push({ target: site.producer.bias.data, param: site.producer.bias, indices: units, values: 0 });
    const n = site.norm;
    if (n?.weight) fresh.push({ target: n.weight.data, param: n.weight, indices: units, values: 1 });
    if (n?.bias) fresh.push({ target: n.bias.data, param: n.bias, indices: units, values: 0 });
    if (n && !(n instanceof GroupNorm) && n.runningMean && n.runningVar) {
      fresh.push({ target: n.runningMean, param: null, indices: units, values: 0 }, { target: n.runningVar, param: null, indices: units, values: 1 });
    }
    zeros.push({ target: site.consumer.weight.data, param: site.consumer.weight, indices: outgoingIndices(site, units), values: 0 });
  }
  for (const e of [...fresh, ...zeros]) {
    const d = e.target.data;
    e.indices.forEach((index, i) => {
      d[index] = typeof e.values === 'number' ? e.values : e.values[i]!;
    });
    if (opt && e.param) resetState(opt, e.param, e.indices);
  }
  return plans.reduce((a, p) => a + p.units.length, 0);
}
