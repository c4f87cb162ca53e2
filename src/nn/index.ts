export { Module, Parameter, configOptions, type ModuleConfig, type ForwardHook } from './module.js';
export { ReLU, LeakyReLU, PReLU } from './activation.js';
export { Flatten } from './flatten.js';
export { BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, L2Norm } from './norm.js';
