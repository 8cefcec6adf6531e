import type { Kernels, KernelsWithBiasRelu } from "./kernels.ts";

/**
 * The reference backend: plain loops that follow the equations term by term.
 * Every other backend is tested against it. Dot products run in JavaScript numbers (float64)
 * and are rounded once when stored; sums kept in an output array round at each `+=`.
 */
export const jsKernels: Kernels = {
  hiddenForward(x, xOff, rows, n, h, w1, b1, a1) {
    for (let r = 0; r < rows; r++) {
      const xr = xOff + r * n;
      for (let j = 0; j < h; j++) {
        let z = b1[j];
        const wj = j * n;
        for (let k = 0; k < n; k++) z += x[xr + k] * w1[wj + k];
        a1[r * h + j] = z > 0 ? z : 0;
      }
    }
  },

  outputLogits(a1, rows, h, w2, b2, z) {
    for (let r = 0; r < rows; r++) {
      let s = b2;
      for (let j = 0; j < h; j++) s += a1[r * h + j] * w2[j];
      z[r] = s;
    }
  },

  outputLoss(z, y, yOff, rows, stats) {
    let loss = 0;
    let correct = 0;
    for (let r = 0; r < rows; r++) {
      const zr = z[r];
      const yr = y[yOff + r];
      loss += Math.max(zr, 0) - zr * yr + Math.log1p(Math.exp(-Math.abs(zr)));
      const t = 1 / (1 + Math.exp(-zr));
      if ((t >= 0.5) === (yr === 1)) correct++;
      z[r] = t - yr;
    }
    stats[0] += loss;
    stats[1] += correct;
  },

  outputBackward(a1, dz2, rows, h, w2, gw2, gb1, gb2) {
    gw2.fill(0, 0, h);
    gb1.fill(0, 0, h);
    let sumDz2 = 0;
    for (let r = 0; r < rows; r++) {
      const d = dz2[r];
      sumDz2 += d;
      for (let j = 0; j < h; j++) {
        const i = r * h + j;
        const a = a1[i];
        gw2[j] += d * a;
        const dz1 = a > 0 ? d * w2[j] : 0;
        a1[i] = dz1;
        gb1[j] += dz1;
      }
    }
    gb2[0] = sumDz2;
  },

  weightGradient(dz1, x, xOff, rows, n, h, gw1) {
    gw1.fill(0, 0, h * n);
    for (let r = 0; r < rows; r++) {
      const xr = xOff + r * n;
      for (let j = 0; j < h; j++) {
        const d = dz1[r * h + j];
        if (d === 0) continue;
        const gj = j * n;
        for (let k = 0; k < n; k++) gw1[gj + k] += d * x[xr + k];
      }
    }
  },

  accumulate(a, aOff, b, bOff, len) {
    for (let i = 0; i < len; i++) a[aOff + i] += b[bOff + i];
  },

  reduceTree(partials, stride, count, p0, p1) {
    for (let s = 1; s < count; s *= 2) {
      for (let c = 0; c + s < count; c += 2 * s) {
        const into = c * stride, from = (c + s) * stride;
        for (let p = p0; p < p1; p++) partials[into + p] += partials[from + p];
      }
    }
  },
};

/** The reference kernels with the bias-and-ReLU pass they lend to blas (see `KernelsWithBiasRelu`). */
export const jsKernelsWithBiasRelu: KernelsWithBiasRelu = {
  ...jsKernels,
  biasRelu(a1, rows, h, b1) {
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < h; j++) {
        const z = a1[r * h + j] + b1[j];
        a1[r * h + j] = z > 0 ? z : 0;
      }
    }
  },
};
