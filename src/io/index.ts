export { parseSafetensors, serializeSafetensors, saveSafetensors, loadSafetensors, loadSafetensorsFile, type SafetensorsFile } from './safetensors.js';
