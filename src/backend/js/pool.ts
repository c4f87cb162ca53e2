// Max and average pooling in plain TypeScript, written as PyTorch's CPU kernels loop: window by
// window, row-major within a window. The reference for liven-core's separable pool.rs.
import type { Pool2dGeometry } from '../types.js';

/** The first tap `i` of a window starting at `start` with `start + i·d >= 0`, as a position. */
function firstValid(start: number, d: number): number {
  let p = start;
  while (p < 0) p += d;
  return p;
}

export function maxPool2dForward(x: Float32Array, y: Float32Array, indices: Uint32Array, planes: number, g: Pool2dGeometry): void {
  const { h, w, oh, ow } = g;
  for (let p = 0; p < planes; p++) {
    const xi = p * h * w;
    const yo = p * oh * ow;
    for (let r = 0; r < oh; r++) {
      const h0 = r * g.sh - g.ph;
      const hEnd = Math.min(h0 + (g.kh - 1) * g.dh + 1, h);
      const hFirst = firstValid(h0, g.dh);
      for (let c = 0; c < ow; c++) {
        const w0 = c * g.sw - g.pw;
        const wEnd = Math.min(w0 + (g.kw - 1) * g.dw + 1, w);
        const wFirst = firstValid(w0, g.dw);
        let best = -Infinity;
        let arg = hFirst * w + wFirst;
        for (let ih = hFirst; ih < hEnd; ih += g.dh) {
          for (let iw = wFirst; iw < wEnd; iw += g.dw) {
            const v = x[xi + ih * w + iw]!;
            // NaN always wins, so the last NaN of a window is the one recorded (PyTorch's rule).
            if (v > best || Number.isNaN(v)) {
              best = v;
              arg = ih * w + iw;
            }
          }
        }
        y[yo + r * ow + c] = best;
        indices[yo + r * ow + c] = arg;
      }
    }
  }
}

export function maxPool2dBackward(dy: Float32Array, indices: Uint32Array, dx: Float32Array, planes: number, g: Pool2dGeometry): void {
  const inPlane = g.h * g.w;
  const outPlane = g.oh * g.ow;
  dx.fill(0);
  for (let p = 0; p < planes; p++) {
    for (let o = 0; o < outPlane; o++) dx[p * inPlane + indices[p * outPlane + o]!]! += dy[p * outPlane + o]!;
  }
}

/** Per output, its window's valid range and PyTorch's divisor, calling `f(o, ..., divisor)`. */
function forEachAvgWindow(g: Pool2dGeometry, countIncludePad: boolean, f: (o: number, h0: number, h1: number, w0: number, w1: number, divisor: number) => void): void {
  for (let r = 0; r < g.oh; r++) {
    let h0 = r * g.sh - g.ph;
    let h1 = Math.min(h0 + g.kh, g.h + g.ph);
    const hPad = h1 - h0;
    h0 = Math.max(h0, 0);
    h1 = Math.min(h1, g.h);
    for (let c = 0; c < g.ow; c++) {
      let w0 = c * g.sw - g.pw;
      let w1 = Math.min(w0 + g.kw, g.w + g.pw);
      const wPad = w1 - w0;
      w0 = Math.max(w0, 0);
      w1 = Math.min(w1, g.w);
      f(r * g.ow + c, h0, h1, w0, w1, countIncludePad ? hPad * wPad : (h1 - h0) * (w1 - w0));
    }
  }
}

export function avgPool2dForward(x: Float32Array, y: Float32Array, planes: number, g: Pool2dGeometry, countIncludePad: boolean): void {
  const inPlane = g.h * g.w;
  const outPlane = g.oh * g.ow;
  for (let p = 0; p < planes; p++) {
    forEachAvgWindow(g, countIncludePad, (o, h0, h1, w0, w1, divisor) => {
      let sum = 0;
      for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) sum += x[p * inPlane + ih * g.w + iw]!;
      y[p * outPlane + o] = sum / divisor;
    });
  }
}

export function avgPool2dBackward(dy: Float32Array, dx: Float32Array, planes: number, g: Pool2dGeometry, countIncludePad: boolean): void {
  const inPlane = g.h * g.w;
  const outPlane = g.oh * g.ow;
  dx.fill(0);
  for (let p = 0; p < planes; p++) {
    forEachAvgWindow(g, countIncludePad, (o, h0, h1, w0, w1, divisor) => {
      const share = dy[p * outPlane + o]! / divisor;
      for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) dx[p * inPlane + ih * g.w + iw]! += share;
    });
  }
}

export function globalAvgPoolForward(x: Float32Array, y: Float32Array, hw: number): void {
  for (let p = 0; p < y.length; p++) {
    let sum = 0;
    for (let i = p * hw; i < (p + 1) * hw; i++) sum += x[i]!;
    y[p] = sum / hw;
  }
}

export function globalAvgPoolBackward(dy: Float32Array, dx: Float32Array, hw: number): void {
  for (let p = 0; p < dy.length; p++) dx.fill(dy[p]! / hw, p * hw, (p + 1) * hw);
}

export function globalMaxPoolForward(x: Float32Array, y: Float32Array, indices: Uint32Array, hw: number): void {
  for (let p = 0; p < y.length; p++) {
    let best = -Infinity;
    let arg = 0;
    for (let i = 0; i < hw; i++) {
      const v = x[p * hw + i]!;
      if (v > best || Number.isNaN(v)) {
        best = v;
        arg = i;
      }
    }
    y[p] = best;
    indices[p] = arg;
  }
}

export function globalMaxPoolBackward(dy: Float32Array, indices: Uint32Array, dx: Float32Array, hw: number): void {
  dx.fill(0);
  for (let p = 0; p < dy.length; p++) dx[p * hw + indices[p]!] = dy[p]!;
}

/** PyTorch's adaptive bin `i` of `out` over an axis of `input`: [⌊i·input/out⌋, ⌈(i+1)·input/out⌉). */
export function adaptiveBin(i: number, input: number, out: number): [number, number] {
  return [Math.floor((i * input) / out), Math.ceil(((i + 1) * input) / out)];
}

export function adaptiveAvgPool2dForward(x: Float32Array, y: Float32Array, planes: number, h: number, w: number, oh: number, ow: number): void {
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < oh; i++) {
      const [h0, h1] = adaptiveBin(i, h, oh);
      for (let j = 0; j < ow; j++) {
        const [w0, w1] = adaptiveBin(j, w, ow);
        let sum = 0;
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) sum += x[(p * h + ih) * w + iw]!;
        y[(p * oh + i) * ow + j] = sum / ((h1 - h0) * (w1 - w0));
      }
    }
  }
}

export function adaptiveAvgPool2dBackward(dy: Float32Array, dx: Float32Array, planes: number, h: number, w: number, oh: number, ow: number): void {
  dx.fill(0, 0, planes * h * w);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < oh; i++) {
      const [h0, h1] = adaptiveBin(i, h, oh);
      for (let j = 0; j < ow; j++) {
        const [w0, w1] = adaptiveBin(j, w, ow);
        const share = dy[(p * oh + i) * ow + j]! / ((h1 - h0) * (w1 - w0));
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) dx[(p * h + ih) * w + iw]! += share;
      }
    }
  }
}
