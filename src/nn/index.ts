import * as activation from './activation.js';
import { registerLayers } from './config.js';
import * as conv from './conv.js';
import * as dropout from './dropout.js';
import * as flatten from './flatten.js';
import * as graph from './graph.js';
import * as linear from './linear.js';
import * as merge from './merge.js';
import * as mul from './mul.js';
import * as norm from './norm.js';
import * as pad from './pad.js';
import * as pool from './pool.js';
import * as reshape from './reshape.js';
import * as sequential from './sequential.js';
import * as softmax from './softmax.js';

export { Module, Parameter, configOptions, type ModuleConfig, type BackwardOptions, type ForwardHook, type HookInput, type AnyModule } from './module.js';
export { ReLU, LeakyReLU, PReLU } from './activation.js';
export { ELU, CELU, SELU, GELU, SiLU, Mish, Sigmoid, Tanh, Softplus, Hardtanh, ReLU6, Hardswish, Hardsigmoid, Identity } from './activation.js';
export { Dropout } from './dropout.js';
export { AdaptiveAvgPool2d } from './pool.js';
export { Flatten } from './flatten.js';
export { Graph, type GraphNode, type GraphConfig } from './graph.js';
export { Add, Cat } from './merge.js';
export { Sequential } from './sequential.js';
export { moduleFromConfig, configTypes, registerModuleType } from './config.js';
export { ModelWorker } from './model-worker.js';
export { BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, L2Norm } from './norm.js';
export { MaxPool2d, AvgPool2d, GlobalMaxPool2d, GlobalAvgPool2d, type Size2 } from './pool.js';
export { Softmax, LogSoftmax } from './softmax.js';
export { Loss, CrossEntropyLoss, MSELoss, type Reduction } from './loss.js';
export { Linear } from './linear.js';
export { Conv2d } from './conv.js';
export { Reshape } from './reshape.js';
export { ConstantPad2d } from './pad.js';
export { Mul } from './mul.js';

// Every layer class of these files (a Module with its own static fromConfig) becomes a config
// type under its name: a new layer file is added to this list, a new class in a listed file
// needs nothing. (Only here, so that no layer file imports the registry's users.)
registerLayers(activation, conv, dropout, flatten, graph, linear, merge, mul, norm, pad, pool, reshape, sequential, softmax);
