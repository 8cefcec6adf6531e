"""NumPy reference for the benchmark: the time of one full-batch epoch of shardnet's network.

One epoch is what shardnet's trainer does: the forward pass (Z1 = X·W1ᵀ + b1, ReLU, the output
logit), the binary cross-entropy loss from the logit, the backward pass (dW2, db2, dZ1, dW1, db1,
all divided by m) and the gradient-descent step, with samples as rows. The rows are random
(standard normal features, alternating labels): the time depends on the shape, not on the values.

    python3 scripts/numpy_epoch.py --samples 32768 --features 256 --hidden 64 --dtype f32 \
        --warmup 1 --repeats 5

prints one JSON object: numpy's version, its BLAS, the BLAS threads when threadpoolctl is
installed, and the wall time of each timed epoch in milliseconds.
"""

import argparse
import json
import time

import numpy as np


def epoch(x, y, w1, b1, w2, b2, lr):
    m = x.shape[0]
    z1 = x @ w1.T + b1
    a1 = np.maximum(z1, 0)
    z = a1 @ w2 + b2
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    dz = 1 / (1 + np.exp(-z)) - y
    g_w2 = a1.T @ dz / m
    g_b2 = dz.sum() / m
    dz1 = np.outer(dz, w2) * (z1 > 0)
    g_w1 = dz1.T @ x / m
    g_b1 = dz1.sum(axis=0) / m
    w1 -= lr * g_w1
    b1 -= lr * g_b1
    w2 -= lr * g_w2
    return b2 - lr * g_b2, loss


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return sum(p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas")


def blas_name():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas['version']}"
    except (KeyError, TypeError):
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, required=True)
    parser.add_argument("--features", type=int, required=True)
    parser.add_argument("--hidden", type=int, required=True)
    parser.add_argument("--dtype", choices=["f32", "f64"], required=True)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    dtype = np.float32 if args.dtype == "f32" else np.float64
    rng = np.random.default_rng(1)
    m, n, h = args.samples, args.features, args.hidden
    x = rng.standard_normal((m, n)).astype(dtype)
    y = (np.arange(m) % 2).astype(dtype)
    w1 = (rng.standard_normal((h, n)) * np.sqrt(2 / n)).astype(dtype)
    b1 = np.zeros(h, dtype)
    w2 = (rng.standard_normal(h) * np.sqrt(2 / h)).astype(dtype)
    b2 = dtype(0)
    lr = dtype(0.5)

    times = []
    for i in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        b2, _ = epoch(x, y, w1, b1, w2, b2, lr)
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({
        "numpy": np.__version__,
        "blas": blas_name(),
        "threads": blas_threads(),
        "epochMs": times,
    }))


if __name__ == "__main__":
    main()
