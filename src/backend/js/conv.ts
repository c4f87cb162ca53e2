// Conv2d as direct loops over the definition (PyTorch's cross-correlation, NCHW); the oracle
// for the native im2col + GEMM path.
import { convOutSize, type Conv2dShape } from '../types.js';

/**
 * Calls `f(yIndex, xIndex, wIndex)` for every product x · w that contributes to an output,
 * in output order; positions in the padding are skipped.
 */
function eachTap(s: Conv2dShape, f: (yi: number, xi: number, wi: number) => void): void {
  const oh = convOutSize(s.height, s.padH, s.kernelH, s.strideH, s.dilationH);
  const ow = convOutSize(s.width, s.padW, s.kernelW, s.strideW, s.dilationW);
  const cg = s.inChannels / s.groups;
  const og = s.outChannels / s.groups;
  for (let n = 0; n < s.batch; n++) {
    for (let o = 0; o < s.outChannels; o++) {
      const firstChannel = Math.floor(o / og) * cg;
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const yi = ((n * s.outChannels + o) * oh + i) * ow + j;
          for (let c = 0; c < cg; c++) {
            for (let ki = 0; ki < s.kernelH; ki++) {
              const ih = i * s.strideH + ki * s.dilationH - s.padH;
              if (ih < 0 || ih >= s.height) continue;
              for (let kj = 0; kj < s.kernelW; kj++) {
                const iw = j * s.strideW + kj * s.dilationW - s.padW;
                if (iw < 0 || iw >= s.width) continue;
                const xi = ((n * s.inChannels + firstChannel + c) * s.height + ih) * s.width + iw;
                const wi = ((o * cg + c) * s.kernelH + ki) * s.kernelW + kj;
                f(yi, xi, wi);
              }
            }
          }
        }
      }
    }
  }
}

/** Output elements per channel per sample. */
function planeSize(s: Conv2dShape): number {
  return convOutSize(s.height, s.padH, s.kernelH, s.strideH, s.dilationH) * convOutSize(s.width, s.padW, s.kernelW, s.strideW, s.dilationW);
}

export function conv2dForward(x: Float32Array, weight: Float32Array, bias: Float32Array | null, y: Float32Array, shape: Conv2dShape): void {
  const plane = planeSize(shape);
  const len = shape.batch * shape.outChannels * plane;
  for (let yi = 0; yi < len; yi++) y[yi] = bias === null ? 0 : bias[Math.floor(yi / plane) % shape.outChannels];
  eachTap(shape, (yi, xi, wi) => {
    y[yi] += x[xi] * weight[wi];
  });
}

export function conv2dBackward(x: Float32Array, weight: Float32Array, dy: Float32Array, dx: Float32Array, dweight: Float32Array, dbias: Float32Array | null, shape: Conv2dShape): void {
  dx.fill(0, 0, shape.batch * shape.inChannels * shape.height * shape.width);
  eachTap(shape, (yi, xi, wi) => {
    dx[xi] += dy[yi] * weight[wi];
    dweight[wi] += dy[yi] * x[xi];
  });
  if (dbias !== null) {
    const plane = planeSize(shape);
    const len = shape.batch * shape.outChannels * plane;
    for (let yi = 0; yi < len; yi++) dbias[Math.floor(yi / plane) % shape.outChannels] += dy[yi];
  }
}
