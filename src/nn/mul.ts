// The elementwise product of two tensors with broadcasting: squeeze-and-excitation gates
// (`x * scale` with scale [N, C, 1, 1]) and ONNX's Mul of two computed tensors.
import { formatShape } from '../check.js';
import { Tensor } from '../tensor.js';
import { Module, configOptions, type ModuleConfig } from './module.js';

/** Sums `t` over the dimensions that broadcasting added or stretched, back to `shape`. */
function sumTo(t: Tensor, shape: readonly number[]): Tensor {
  const lead = t.shape.length - shape.length;
  const dims: number[] = [];
  t.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) dims.push(i);
  });
  return dims.length === 0 ? t : t.sum(dims, { keepdim: true }).reshape([...shape]);
}

/**
 * `a * b` elementwise, the shapes broadcast as in PyTorch (`torch.mul`): a graph node of two
 * inputs, `g.node('gate', new nn.Mul(), ['features', 'scale'])`. `backward(dy)` returns
 * `[dy·b, dy·a]`, each summed back to its input's shape where it was broadcast.
 */
export class Mul extends Module<[a: Tensor, b: Tensor], Tensor, Tensor[]> {
  protected override inputArity(): number {
    return 2;
  }

  toConfig(): ModuleConfig {
    return { type: 'Mul' };
  }

  static fromConfig(config: ModuleConfig): Mul {
    configOptions(config, 'Mul', []);
    return new Mul();
  }

  protected forwardImpl(a: Tensor, b: Tensor): Tensor {
    try {
      return a.mul(b);
    } catch (e) {
      throw new RangeError(`Mul.forward: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} do not broadcast (${(e as Error).message})`);
    }
  }

  protected backwardImpl(gradOutput: Tensor, a: Tensor, b: Tensor): Tensor[] {
    return [sumTo(gradOutput.mul(b), a.shape), sumTo(gradOutput.mul(a), b.shape)];
  }
}
