export { Module, Parameter, configOptions, type ModuleConfig, type ForwardHook } from './module.js';
export { ReLU, LeakyReLU, PReLU } from './activation.js';
export { Flatten } from './flatten.js';
export { Linear } from './linear.js';
export { Conv2d } from './conv.js';
