// Optimisers, gradient clipping and learning-rate schedules, with PyTorch's names and rules.
export { Optimizer, SGD, Adagrad, Adam, AdamW } from './optimizer.js';
export type { ParamGroup, Params, SGDOptions, AdagradOptions, AdamOptions } from './optimizer.js';
export { clipGradNorm, clipGradValue } from './clip.js';
export { LRScheduler, LinearLR, StepLR, CosineAnnealingLR, SequentialLR } from './lr_scheduler.js';
