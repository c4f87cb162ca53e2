export { parseSafetensors, serializeSafetensors, saveSafetensors, loadSafetensors, loadSafetensorsFile, type SafetensorsFile } from './safetensors.js';
export { loadOnnx, onnxGraphName } from './onnx/build.js';
