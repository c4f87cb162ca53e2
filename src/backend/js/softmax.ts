// Softmax and log-softmax along `dim` of `[outer, dim, inner]`, in float64 arithmetic: the
// reference for liven-core's softmax.rs. Stable: the maximum is subtracted before exp.

function forEachLine(outer: number, dim: number, inner: number, f: (base: number, step: number) => void): void {
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) f(o * dim * inner + i, inner);
}

function forward(x: Float32Array, y: Float32Array, outer: number, dim: number, inner: number, log: boolean): void {
  forEachLine(outer, dim, inner, (base, step) => {
    const end = base + dim * step;
    let m = -Infinity;
    for (let j = base; j < end; j += step) if (x[j]! > m) m = x[j]!;
    let s = 0;
    for (let j = base; j < end; j += step) s += Math.exp(x[j]! - m);
    if (log) {
      const ls = Math.log(s);
      for (let j = base; j < end; j += step) y[j] = x[j]! - m - ls;
    } else {
      for (let j = base; j < end; j += step) y[j] = Math.exp(x[j]! - m) / s;
    }
  });
}

function backward(y: Float32Array, dy: Float32Array, dx: Float32Array, outer: number, dim: number, inner: number, log: boolean): void {
  forEachLine(outer, dim, inner, (base, step) => {
    const end = base + dim * step;
    let s = 0;
    for (let j = base; j < end; j += step) s += log ? dy[j]! : dy[j]! * y[j]!;
    for (let j = base; j < end; j += step) dx[j] = log ? dy[j]! - Math.exp(y[j]!) * s : y[j]! * (dy[j]! - s);
  });
}

export function softmaxForward(x: Float32Array, y: Float32Array, outer: number, dim: number, inner: number): void {
  forward(x, y, outer, dim, inner, false);
}

export function softmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, outer: number, dim: number, inner: number): void {
  backward(y, dy, dx, outer, dim, inner, false);
}

export function logSoftmaxForward(x: Float32Array, y: Float32Array, outer: number, dim: number, inner: number): void {
  forward(x, y, outer, dim, inner, true);
}

export function logSoftmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, outer: number, dim: number, inner: number): void {
  backward(y, dy, dx, outer, dim, inner, true);
}
