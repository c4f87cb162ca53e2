// The ONNX reader on its own: every malformed-file case of issue 14 is an Error that says what,
// and the shape arithmetic torch.onnx.export writes is evaluated while loading.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { foldConstants } from '../src/io/onnx/fold.js';
import { readOnnx } from '../src/io/onnx/reader.js';
import { onnxBytes, type TestNode } from './helpers/onnx.js';

const fixtures = fileURLToPath(new URL('./fixtures/onnx/', import.meta.url));
const toy = readFileSync(join(fixtures, 'toy_opset17.onnx'));
const tmp = mkdtempSync(join(tmpdir(), 'liven-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const relu = (name: string, input: string, output: string): TestNode => ({ op: 'Relu', name, inputs: [input], outputs: [output] });

describe('readOnnx: a real file', () => {
  it('reads the toy export: opset, inputs, initializers as float32, nodes in file order', () => {
    const m = readOnnx(toy);
    expect(m.opset).toBe(17);
    expect(m.inputs).toEqual([{ name: 'input', dims: ['batch', 3, 12, 12] }]);
    expect(m.outputs).toEqual(['logits']);
    const w = m.initializers.get('conv1.weight')!;
    expect(w.dims).toEqual([8, 3, 3, 3]);
    expect(w.data).toBeInstanceOf(Float32Array);
    expect(w.data.buffer).not.toBe(toy.buffer);
    expect(m.nodes[0]!.opType).toBe('Conv');
  });

  it('folds the shape arithmetic: the Pad amounts and the Reshape target with the batch kept', () => {
    const f = foldConstants(readOnnx(toy));
    const ops = f.nodes.map((n) => n.opType);
    for (const op of ['Shape', 'Gather', 'Unsqueeze', 'Constant', 'Cast', 'Slice', 'Transpose', 'ConstantOfShape']) expect(ops).not.toContain(op);
    const pad = f.nodes.find((n) => n.opType === 'Pad')!;
    // ZeroPad2d((1, 2, 0, 1)): begins [N, C, H, W] then ends
    expect(f.constants.get(pad.inputs[1]!)!.values).toEqual([0, 0, 0, 1, 0, 0, 1, 2]);
    const reshape = f.nodes.find((n) => n.opType === 'Reshape')!;
    expect(f.constants.get(reshape.inputs[1]!)!.values).toEqual([{ of: reshape.inputs[0], dim: 0 }, -1]);
  });

  it('opset 11 gives the same folded constants', () => {
    const f = foldConstants(readOnnx(readFileSync(join(fixtures, 'toy_opset11.onnx'))));
    const pad = f.nodes.find((n) => n.opType === 'Pad')!;
    expect(f.constants.get(pad.inputs[1]!)!.values).toEqual([0, 0, 0, 1, 0, 0, 1, 2]);
  });
});

describe('readOnnx: bad files are Errors that say what', () => {
  it('a truncated file', () => {
    for (const cut of [10, 100, toy.length >> 1, toy.length - 3]) {
      expect(() => readOnnx(toy.subarray(0, cut))).toThrow(/not an ONNX model|declares|dangling|made by no node|no graph/);
    }
    expect(() => readOnnx(toy.subarray(0, toy.length >> 1))).toThrow(/truncated|premature/i);
  });

  it('garbage, an empty file and another format', () => {
    expect(() => readOnnx(new Uint8Array(0))).toThrow(/not an ONNX model/);
    expect(() => readOnnx(new TextEncoder().encode('{"not": "onnx"}'))).toThrow(/not an ONNX model/);
    expect(() => readOnnx(readFileSync(join(fixtures, 'toy_opset17.input.safetensors')))).toThrow(/not an ONNX model/);
    expect(() => readOnnx(join(tmp, 'nope.onnx'))).toThrow(/cannot read/);
    expect(() => readOnnx(tmp)).toThrow(/cannot read .*: not a regular file/);
    expect(() => readOnnx(42 as never)).toThrow(TypeError);
  });

  it('a tensor whose declared size disagrees with its data', () => {
    const bytes = onnxBytes({ nodes: [{ op: 'PRelu', inputs: ['x', 's'], outputs: ['y'] }], outputs: ['y'], initializers: [{ name: 's', dims: [4], values: [1, 2, 3] }] });
    expect(() => readOnnx(bytes)).toThrow('initializer "s" declares dimensions [4] (4 FLOAT values), 16 bytes, but has 12 bytes of data');
    const ints = onnxBytes({ nodes: [relu('r', 'x', 'y')], outputs: ['y'], initializers: [{ name: 'i', dims: [2, 2], values: [1, 2, 3], int64: true }] });
    expect(() => readOnnx(ints)).toThrow('declares dimensions [2, 2] (4 INT64 values) but has 3 values');
  });

  it('a dangling input, a value made twice, a missing output', () => {
    expect(() => readOnnx(onnxBytes({ nodes: [{ op: 'Add', name: 'sum', inputs: ['x', 'ghost'], outputs: ['y'] }], outputs: ['y'] }))).toThrow('dangling input: nothing makes "ghost" of node "sum"');
    expect(() => readOnnx(onnxBytes({ nodes: [relu('a', 'x', 'y'), relu('b', 'x', 'y')], outputs: ['y'] }))).toThrow('"y" is made twice (again by node "b")');
    expect(() => readOnnx(onnxBytes({ nodes: [relu('a', 'x', 'y')], outputs: ['z'] }))).toThrow('graph output "z" made by no node');
  });

  it('a cycle', () => {
    const bytes = onnxBytes({ nodes: [relu('a', 'x', 'p'), { op: 'Add', name: 'b', inputs: ['p', 'r'], outputs: ['q'] }, relu('c', 'q', 'r')], outputs: ['r'] });
    expect(() => readOnnx(bytes)).toThrow('the graph has a cycle through nodes "b", "c"');
  });

  it('nodes out of order are put in dependency order, stably', () => {
    const m = readOnnx(onnxBytes({ nodes: [relu('second', 'p', 'q'), relu('first', 'x', 'p'), relu('third', 'x', 'r')], outputs: ['q', 'r'] }));
    expect(m.nodes.map((n) => n.name)).toEqual(['first', 'second', 'third']);
  });

  describe('external data', () => {
    const dir = join(tmp, 'model');
    mkdirSync(dir);
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(Float32Array.of(0.5, -1, 2, 3).buffer));
    writeFileSync(join(tmp, 'outside.bin'), new Uint8Array(16));
    symlinkSync(join(tmp, 'outside.bin'), join(dir, 'link.bin'));
    const model = (external: { location: string; offset?: number; length?: number }, dims = [2]): string => {
      const path = join(dir, `m${Math.random().toString(36).slice(2)}.onnx`);
      writeFileSync(path, onnxBytes({ nodes: [{ op: 'PRelu', inputs: ['x', 's'], outputs: ['y'] }], outputs: ['y'], initializers: [{ name: 's', dims, external }] }));
      return path;
    };

    it('reads a slice of a file beside the model', () => {
      const m = readOnnx(model({ location: 'w.bin', offset: 4, length: 8 }));
      expect([...m.initializers.get('s')!.data]).toEqual([-1, 2]);
    });

    it('a missing file, a file outside the folder (by path or by link), a range past its end', () => {
      expect(() => readOnnx(model({ location: 'gone.bin' }))).toThrow('initializer "s" is stored in the external file "gone.bin", which is missing');
      expect(() => readOnnx(model({ location: '../outside.bin' }))).toThrow('names the external file "../outside.bin", which is outside the model\'s folder');
      expect(() => readOnnx(model({ location: join(tmp, 'outside.bin') }))).toThrow('outside the model\'s folder');
      expect(() => readOnnx(model({ location: 'link.bin' }))).toThrow('a link to outside the model\'s folder');
      expect(() => readOnnx(model({ location: 'w.bin', offset: 12, length: 8 }))).toThrow('wants bytes 12..+8 of "w.bin", which has 16 bytes');
      expect(() => readOnnx(model({ location: 'w.bin' }, [3]))).toThrow('declares dimensions [3] (3 FLOAT values), 12 bytes, but has 16 bytes');
    });

    it('external data in a model given as bytes', () => {
      expect(() => readOnnx(readFileSync(model({ location: 'w.bin' })))).toThrow('load the model by its path');
    });
  });
});
