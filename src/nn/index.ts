export { Module, Parameter, configOptions, type ModuleConfig, type ForwardHook } from './module.js';
export { ReLU, LeakyReLU, PReLU } from './activation.js';
export { Flatten } from './flatten.js';
export { MaxPool2d, AvgPool2d, GlobalMaxPool2d, GlobalAvgPool2d, type Size2 } from './pool.js';
export { Softmax, LogSoftmax } from './softmax.js';
export { Loss, CrossEntropyLoss, MSELoss, type Reduction } from './loss.js';
