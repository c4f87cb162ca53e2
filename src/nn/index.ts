export { Module, Parameter, configOptions, type ModuleConfig, type ForwardHook } from './module.js';
export { ReLU, LeakyReLU, PReLU } from './activation.js';
export { Flatten } from './flatten.js';
export { Sequential } from './sequential.js';
export { moduleFromConfig, configTypes, registerModuleType } from './config.js';
export { ModelWorker } from './model-worker.js';
export { BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, L2Norm } from './norm.js';
