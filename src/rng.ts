/**
 * A seeded pseudo-random generator (xoshiro128**, seeded by splitmix32) whose whole state is four
 * 32-bit words, so that a checkpoint can store it and a resumed run draws the same numbers.
 * Independent streams for the same seed (initialisation, shuffling, generators) come from `stream`.
 *
 * @example
 * ```ts
 * const rng = new Rng(42, "shuffle");
 * const u = rng.uniform(); // in [0, 1)
 * ```
 */
export class Rng {
  #s = new Uint32Array(4);

  constructor(seed: number, stream = "") {
    let h = (seed >>> 0) ^ 0x9e3779b9;
    for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193);
    let x = (h ^ Math.floor(seed / 0x100000000)) >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.#s[0] | this.#s[1] | this.#s[2] | this.#s[3]) === 0) this.#s[0] = 1;
  }

  /** The generator's state, to be stored and later given to `restore`. */
  state(): [number, number, number, number] {
    return [this.#s[0], this.#s[1], this.#s[2], this.#s[3]];
  }

  /** Continues from a state that `state()` returned. */
  restore(state: readonly number[]): void {
    if (state.length !== 4) throw new Error(`an Rng state has 4 words, got ${state.length}`);
    this.#s.set(state);
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform float64 in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [0, n), without modulo bias. */
  below(n: number): number {
    if (!(n >= 1 && n <= 0x100000000)) throw new RangeError(`below(${n}): n must be in [1, 2^32]`);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const u = this.nextU32();
      if (u < limit) return u % n;
    }
  }

  /** A standard normal deviate (Box–Muller; one of the pair is discarded to keep the state simple). */
  normal(): number {
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Shuffles `a` in place (Fisher–Yates). */
  shuffle(a: Int32Array | Uint32Array | number[]): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
