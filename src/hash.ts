/** The 64-bit FNV offset basis, as high and low 32-bit words. */
const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
/** The 64-bit FNV prime is 2^40 + 0x1b3. */
const PRIME_LO = 0x1b3;

/**
 * 64-bit FNV-1a over bytes, fed in pieces. Not a cryptographic hash: it tells apart data sets and
 * detects damaged files, which is all a checkpoint needs, and it is simple enough to run on two
 * 32-bit words without BigInt (which would be many times slower per byte).
 *
 * @example
 * ```ts
 * new Fnv1a64().update(new TextEncoder().encode("a")).hex(); // "af63dc4c8601ec8c"
 * ```
 */
export class Fnv1a64 {
  #hi = OFFSET_HI;
  #lo = OFFSET_LO;

  /** Hashes `bytes` after everything hashed so far. */
  update(bytes: Uint8Array): this {
    let hi = this.#hi;
    let lo = this.#lo;
    for (let i = 0; i < bytes.length; i++) {
      lo ^= bytes[i];
      // h · (2^40 + 0x1b3) mod 2^64 in 32-bit integer arithmetic: the low word times 0x1b3 in
      // 16-bit halves (each product < 2^25), its carry into the high word, and the 2^40 term,
      // which is the low word shifted into the high word by 8.
      const a = (lo & 0xffff) * PRIME_LO;
      const b = (lo >>> 16) * PRIME_LO + (a >>> 16);
      hi = (Math.imul(hi, PRIME_LO) + (b >>> 16) + (lo << 8)) | 0;
      lo = (b << 16) | (a & 0xffff);
    }
    this.#hi = hi >>> 0;
    this.#lo = lo >>> 0;
    return this;
  }

  /** The hash as 16 lowercase hexadecimal digits. */
  hex(): string {
    return this.#hi.toString(16).padStart(8, "0") + this.#lo.toString(16).padStart(8, "0");
  }
}
