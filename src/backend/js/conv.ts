// Conv2d as direct loops over the definition (PyTorch's cross-correlation, NCHW); the oracle
// for the native im2col + GEMM path. Taps that fall in the zero padding multiply a zero, as
// PyTorch's im2col does: 0·∞ is NaN, so an infinite weight or gradient spreads there too.
import { convOutSize, type Conv2dShape } from '../types.js';

/** Output height and width. */
function outSize(s: Conv2dShape): [number, number] {
  return [convOutSize(s.height, s.padH, s.kernelH, s.strideH, s.dilationH), convOutSize(s.width, s.padW, s.kernelW, s.strideW, s.dilationW)];
}

/** y[n, o, i, j] = bias[o] + Σ_{c, ki, kj} x[n, g·cg + c, i·sh + ki·dh − ph, j·sw + kj·dw − pw] · w[o, c, ki, kj]. */
export function conv2dForward(x: Float32Array, weight: Float32Array, bias: Float32Array | null, y: Float32Array, s: Conv2dShape): void {
  const [oh, ow] = outSize(s);
  const cg = s.inChannels / s.groups;
  const og = s.outChannels / s.groups;
  for (let n = 0; n < s.batch; n++) {
    for (let o = 0; o < s.outChannels; o++) {
      const firstChannel = Math.floor(o / og) * cg;
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let acc = bias === null ? 0 : bias[o]!;
          for (let c = 0; c < cg; c++) {
            const xPlane = (n * s.inChannels + firstChannel + c) * s.height;
            const wBase = (o * cg + c) * s.kernelH;
            for (let ki = 0; ki < s.kernelH; ki++) {
              const ih = i * s.strideH + ki * s.dilationH - s.padH;
              const rowIn = ih >= 0 && ih < s.height;
              for (let kj = 0; kj < s.kernelW; kj++) {
                const iw = j * s.strideW + kj * s.dilationW - s.padW;
                const v = rowIn && iw >= 0 && iw < s.width ? x[(xPlane + ih) * s.width + iw]! : 0;
                acc += v * weight[(wBase + ki) * s.kernelW + kj]!;
              }
            }
          }
          y[((n * s.outChannels + o) * oh + i) * ow + j] = acc;
        }
      }
    }
  }
}

/** Writes dx = ∂L/∂x (unless null); adds ∂L/∂w into dweight and Σ dy over batch and positions into dbias. */
export function conv2dBackward(x: Float32Array, weight: Float32Array, dy: Float32Array, dx: Float32Array | null, dweight: Float32Array, dbias: Float32Array | null, s: Conv2dShape): void {
  const [oh, ow] = outSize(s);
  const cg = s.inChannels / s.groups;
  const og = s.outChannels / s.groups;
  dx?.fill(0, 0, s.batch * s.inChannels * s.height * s.width);
  for (let n = 0; n < s.batch; n++) {
    for (let o = 0; o < s.outChannels; o++) {
      const firstChannel = Math.floor(o / og) * cg;
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const g = dy[((n * s.outChannels + o) * oh + i) * ow + j]!;
          if (dbias !== null) dbias[o] += g;
          for (let c = 0; c < cg; c++) {
            const xPlane = (n * s.inChannels + firstChannel + c) * s.height;
            const wBase = (o * cg + c) * s.kernelH;
            for (let ki = 0; ki < s.kernelH; ki++) {
              const ih = i * s.strideH + ki * s.dilationH - s.padH;
              const rowIn = ih >= 0 && ih < s.height;
              for (let kj = 0; kj < s.kernelW; kj++) {
                const iw = j * s.strideW + kj * s.dilationW - s.padW;
                const wi = (wBase + ki) * s.kernelW + kj;
                if (rowIn && iw >= 0 && iw < s.width) {
                  const xi = (xPlane + ih) * s.width + iw;
                  if (dx !== null) dx[xi] += g * weight[wi]!;
                  dweight[wi] += g * x[xi]!;
                } else {
                  dweight[wi] += g * 0;
                }
              }
            }
          }
        }
      }
    }
  }
}
