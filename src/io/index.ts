export { parseSafetensors, serializeSafetensors, saveSafetensors, loadSafetensors, loadSafetensorsFile, safetensorsWeights, SAFETENSORS_LIMITS, type SafetensorsFile, type WeightSource } from './safetensors.js';
export { buildWithWeights, loadModel, WeightsMismatchError, ModelTooLargeError } from './model.js';
export { DEFAULT_MAX_BYTES, FileLimitError, readRegularFile } from './files.js';
export { loadOnnx, onnxGraphName } from './onnx/build.js';
