export { IMAGE_SIZE, loadDigits, subset, permutation, trainTestSplit, type Digits } from './mnist.js';
export { TensorDataset, DataLoader, digitsDataset, accuracy, type Column, type DataLoaderOptions } from './loader.js';
