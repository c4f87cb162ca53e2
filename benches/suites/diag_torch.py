# The monitor's statistics as a PyTorch forward hook would compute them with torch ops, for the
# diag suite: per unit (dim 1) the count of positive pre-activations, zeros, max |y|, and the
# sums of |y|, y, y^2 in float64, min and max. Prints {"NxCx...": {"relu": s, "stats": s}}: the
# faster of the requested thread count and 1 thread (on a loaded 2-core machine torch's thread
# synchronisation can cost more than its work, so the faster one is the fair baseline).
import json
import sys
import time

import torch

args = json.loads(sys.argv[1])
reps = 3 if args["quick"] else 15


def best_median(fn):
    fn()
    per = []
    for _ in range(reps):
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            dt = time.perf_counter() - t0
            if dt > (0.002 if args["quick"] else 0.02):
                break
            n *= 2
        per.append(dt / n)
    per.sort()
    return per[len(per) // 2]


out = {}
for shape in args["shapes"]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(shape, generator=g) * 2 - 1
    y = torch.relu(x)
    dims = [0] + list(range(2, len(shape)))

    def stats():
        a = y.abs()
        d = y.double()
        return (
            (x > 0).sum(dims),
            (y == 0).sum(dims),
            a.amax(dims),
            a.sum(dims, dtype=torch.float64),
            d.sum(dims),
            (d * d).sum(dims),
            y.amin(dims),
            y.amax(dims),
        )

    times = {}
    for threads in sorted({args["threads"], 1}):
        torch.set_num_threads(threads)
        for name, fn in (("relu", lambda: torch.relu(x)), ("stats", stats)):
            t = best_median(fn)
            times[name] = min(times.get(name, t), t)
    out["x".join(map(str, shape))] = times
print(json.dumps(out))
