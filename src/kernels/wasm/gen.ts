/**
 * Generates the WebAssembly text of the `wasm` kernel backend.
 *
 * The same text serves f32 (f32x4, four lanes) and f64 (f64x2, two lanes): every kernel is written
 * once against the `Dt` description below and emitted twice, with exported names prefixed `f32_` and
 * `f64_`. Register tiles are unrolled here rather than in hand-written WAT, which would repeat each
 * tile body for every tile shape, tail width and precision. `relaxed` selects relaxed-SIMD
 * multiply-add, fused where the engine fuses it; the plain variant multiplies then adds, the same
 * bits on every engine (and runs where relaxed SIMD does not validate).
 *
 * Every pointer the functions take is a byte address in the imported shared memory; the JS side
 * (../wasm.ts) checks that each typed array is a view on that memory and folds in its offsets.
 *
 * Summation order, which fixes the bits of every result:
 * - dot products (hiddenForward, outputLogits) run a vector accumulator over k in steps of one vector,
 *   the last partial vector zero-filled, then add the lanes as (l0 + l2) + (l1 + l3) (f32) or
 *   l0 + l1 (f64) whether the lanes are reduced one accumulator at a time or four at once by
 *   transposition; so a result depends only on its own row and column, not on which tile computed it.
 * - sums over rows (weightGradient, outputBackward, reduceStep) add row after row in index order,
 *   one lane per output element, like the reference.
 *
 * What the two engines make of it (read from their generated x64 code), which the tiles follow:
 * - V8 (Deno) checks every memory access explicitly: a compare and branch per access, plus, per
 *   loop iteration, a bound per distinct offset immediate, and (when the offset might exceed the
 *   memory's declared minimum) a test of the offset itself. The module therefore declares a
 *   one-page minimum (every offset used is below 64 KiB), which removed that test from every load
 *   (−20% on small weightGradient calls). Loads are the costly part of a loop body.
 * - JavaScriptCore (Bun) checks nothing (guard pages) but makes relaxed_madd a multiply and an
 *   add, and a two-operand i8x16.shuffle two byte shuffles and an or, whose masks it keeps in
 *   registers for the whole function; so lane moves replace such shuffles where a tile needs all
 *   16 registers.
 * Both are then bound by instructions issued per cycle more than by multiply-add throughput, so
 * the tiles aim at few loads and little bookkeeping per multiply-add.
 */

/** Register-tile sizes. Each v128 tile must fit the 16 xmm registers of x64 with room to load. */
export interface Tiles {
  /** hiddenForward: rows × hidden units per tile; `hfR·hfJ` accumulators. */
  hfR: number;
  hfJ: number;
  /** hiddenForward: vector steps of k per loop iteration (loads use offset immediates). */
  hfU: number;
  /** weightGradient: hidden units × k-vectors per tile; `wgJ·wgK` accumulators. */
  wgJ: number;
  wgK: number;
  /** weightGradient: rows per panel, so that a panel's dZ1 rows and X strip stay in L1. */
  wgP: number;
  /** weightGradient: rows per loop iteration (a power of two). */
  wgU: number;
  /** weightGradient: with wgJ = 2, load the two units' dZ1 as one pair (see `pairLanes`). */
  wgPair: boolean;
  /** outputLoss: groups of two rows computed side by side per iteration (a power of two). */
  lossG: number;
}

/**
 * Chosen by measurement (scripts/tune_wasm_tiles.ts, variants interleaved in one process) on Zen 3
 * under V8 and JavaScriptCore, where x64 gives 16 xmm registers:
 * - hiddenForward 4 rows × 2 units: 8 accumulators, 4 X-vectors streamed against 2 held W1-vectors;
 *   the tile's X rows stay in L1 while W1 streams from L2. Unrolling k by 4 (loads with offset
 *   immediates, one pointer bump per 4 steps) was worth ~40% on V8. 3×4 and 4×3 (12 accumulators
 *   plus 4 operands) spill and run at half speed; 6×2 and 5×2 (rows left over going through
 *   4, 2, 1-row tiles) were within ±3% of 4×2 at rows = 32, n = 30, h = 16.
 * - weightGradient 2 units × 6 k-vectors: 12 accumulators, the two units' dZ1 held as a pair (one
 *   load and a shuffle per row, see `pairLanes`; +6% on V8 in f64), X streamed, so 15 registers;
 *   12 independent accumulators cover the FMA latency where 8 (4×2, 2×4) did not (+15–20%).
 *   64-row panels; 16 and 32 were no better at n = 256 (rows 1 KiB apart). f32 takes two rows per
 *   iteration (their loads share V8's bounds; +3% on V8 at 512 × 256 × 64, even on JSC); in f64
 *   JSC spills with two and loses 15%.
 * - outputLoss: four groups of two rows side by side (each is a dependency chain of ~120 cycles)
 *   against one: V8 +45%, JSC +10%.
 */
export const DEFAULT_TILES: Record<"f32" | "f64", Tiles> = {
  f32: { hfR: 4, hfJ: 2, hfU: 4, wgJ: 2, wgK: 6, wgP: 64, wgU: 2, wgPair: true, lossG: 4 },
  f64: { hfR: 4, hfJ: 2, hfU: 4, wgJ: 2, wgK: 6, wgP: 64, wgU: 1, wgPair: true, lossG: 4 },
};

/** One precision: the scalar type, its vector shape, lanes and bytes per element. */
interface Dt {
  t: "f32" | "f64";
  v: "f32x4" | "f64x2";
  lanes: number;
  size: number;
  splat: string;
}

const F32: Dt = { t: "f32", v: "f32x4", lanes: 4, size: 4, splat: "v128.load32_splat" };
const F64: Dt = { t: "f64", v: "f64x2", lanes: 2, size: 8, splat: "v128.load64_splat" };

const ZERO = "(v128.const i64x2 0 0)";

const get = (name: string) => `(local.get $${name})`;
const set = (name: string, e: string) => `(local.set $${name} ${e})`;
const i32 = (n: number) => `(i32.const ${n})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const mul = (a: string, b: string) => `(i32.mul ${a} ${b})`;
const inc = (name: string, by: string) => set(name, add(get(name), by));
const off = (o: number) => (o === 0 ? "" : ` offset=${o}`);
const load = (p: string, o = 0) => `(v128.load${off(o)} ${p})`;
const store = (p: string, e: string, o = 0) => `(v128.store${off(o)} ${p} ${e})`;

/** `a·b + c`, fused or not as the runtime pleases (relaxed), or multiply then add (plain). */
function madd(d: Dt, relaxed: boolean, a: string, b: string, c: string): string {
  return relaxed
    ? `(${d.v}.relaxed_madd ${a} ${b} ${c})`
    : `(${d.v}.add (${d.v}.mul ${a} ${b}) ${c})`;
}

/** Loads the first `rem` (< lanes) elements at `p`, zero-filling the rest; never reads past them. */
function loadPartial(d: Dt, p: string, rem: number): string {
  if (d.t === "f64" || rem === 2) return `(v128.load64_zero ${p})`;
  if (rem === 1) return `(v128.load32_zero ${p})`;
  return `(v128.load32_lane offset=8 2 ${p} (v128.load64_zero ${p}))`;
}

/** Stores the first `rem` (< lanes) lanes of `e` at `p` (which must be a local.get: it is reused). */
function storePartial(d: Dt, p: string, e: string, rem: number, tmp: string): string {
  if (d.t === "f64" || rem === 2) return `(v128.store64_lane 0 ${p} ${e})`;
  if (rem === 1) return `(v128.store32_lane 0 ${p} ${e})`;
  return `${set(tmp, e)} (v128.store64_lane 0 ${p} ${get(tmp)})` +
    ` (v128.store32_lane offset=8 2 ${p} ${get(tmp)})`;
}

/** Byte shuffle picking 4-byte (f32) or 8-byte (f64) lanes; indices ≥ lanes come from the second operand. */
function shuffle(d: Dt, lanes: number[], a: string, b: string): string {
  const bytes: number[] = [];
  for (const l of lanes) for (let i = 0; i < d.size; i++) bytes.push(l * d.size + i);
  return `(i8x16.shuffle ${bytes.join(" ")} ${a} ${b})`;
}

/** Scalar sum of the lanes of one accumulator, in the fixed order described at the top. */
function hsum(d: Dt, a: string, tmp: string): string {
  if (d.t === "f64") {
    return `${set(tmp, a)} (f64.add (f64x2.extract_lane 0 ${get(tmp)}) ` +
      `(f64x2.extract_lane 1 ${get(tmp)}))`;
  }
  const t = `(f32x4.add ${a} ${shuffle(d, [2, 3, 0, 1], a, a)})`;
  return `${set(tmp, t)} (f32.add (f32x4.extract_lane 0 ${get(tmp)}) ` +
    `(f32x4.extract_lane 1 ${get(tmp)}))`;
}

/**
 * Lane sums of `lanes` accumulators at once, as one vector (lane i = sum of accumulator i), by
 * transposition; bit-identical to `hsum` on each.
 */
function tsum(d: Dt, accs: string[]): string {
  const [a, b] = [get(accs[0]), get(accs[1])];
  if (d.t === "f64") {
    // [a0, b0] + [a1, b1] by lane moves, not two-operand shuffles: JavaScriptCore makes those of
    // two byte shuffles and an or, and keeps their masks in registers for the whole function.
    return `(f64x2.add (f64x2.replace_lane 1 ${a} (f64x2.extract_lane 0 ${b}))
      (f64x2.replace_lane 0 ${b} (f64x2.extract_lane 1 ${a})))`;
  }
  const [c, e] = [get(accs[2]), get(accs[3])];
  const pair = (x: string, y: string) =>
    `(f32x4.add ${shuffle(d, [0, 4, 1, 5], x, y)} ${shuffle(d, [2, 6, 3, 7], x, y)})`;
  const ab = pair(a, b);
  const ce = pair(c, e);
  return `(f32x4.add ${shuffle(d, [0, 1, 4, 5], ab, ce)} ${shuffle(d, [2, 3, 6, 7], ab, ce)})`;
}

/** `z > 0 ? z : 0` lane-wise, as the reference: +0 for z ≤ 0, for −0 and for NaN. */
function reluV(d: Dt, e: string, tmp: string): string {
  return `${set(tmp, e)} (v128.and ${get(tmp)} (${d.v}.gt ${get(tmp)} ${ZERO}))`;
}

/** A counted loop running `body` `count` times (count may be 0); `cnt` is the counter local. */
function counted(label: string, cnt: string, count: string, body: string): string {
  return `${set(cnt, count)}
    (block $${label}_done (br_if $${label}_done (i32.eqz ${get(cnt)}))
      (loop $${label}
        ${body}
        (br_if $${label} (local.tee $${cnt} (i32.sub ${get(cnt)} ${i32(1)})))))`;
}

/** A loop `while (idx + step <= end) { body; idx += step }` over an i32 local. */
function stepping(label: string, idx: string, step: string, end: string, body: string): string {
  return `(block $${label}_done (loop $${label}
      (br_if $${label}_done (i32.gt_u (i32.add ${get(idx)} ${step}) ${end}))
      ${body}
      ${inc(idx, step)}
      (br $${label})))`;
}

/** Dispatches on the number of tail elements 1 .. lanes−1 held in local `rem`. */
function byRem(d: Dt, rem: string, code: (r: number) => string): string {
  let out = "";
  for (let r = d.lanes - 1; r >= 1; r--) {
    out = `(if (i32.eq ${get(rem)} ${i32(r)}) (then ${code(r)})${out ? ` (else ${out})` : ""})`;
  }
  return out;
}

/** Local declarations for names not yet declared. */
class Locals {
  private seen = new Set<string>();
  private decl: string[] = [];
  need(type: string, ...names: string[]): void {
    for (const n of names) {
      if (this.seen.has(n)) continue;
      this.seen.add(n);
      this.decl.push(`(local $${n} ${type})`);
    }
  }
  toString(): string {
    return this.decl.join(" ");
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Dot-product tile shared by hiddenForward and outputLogits: accumulators acc{r}_{j} for R rows
 * of A (pointers pa{r}) against J rows of B (pointers pb{j}), over `nv` full vectors and the `rem`
 * tail elements. The caller sets the locals `nvU` = ⌊nv / U⌋ and `nvR` = nv mod U once per call,
 * not per tile (JavaScriptCore emits a real division for i32.div_u by a constant). Loads of the
 * smaller operand set are held in registers; the other streams. Leaves the pointers past the row
 * ends. Every row×unit result is summed the same way whatever R and J, so a row's bits do not
 * depend on the tile that computed it.
 */
function dotTile(d: Dt, relaxed: boolean, L: Locals, R: number, J: number, U: number): string {
  const acc = (r: number, j: number) => `acc${r}_${j}`;
  L.need("v128", ...range(R).flatMap((r) => range(J).map((j) => acc(r, j))), "s");
  L.need("v128", ...range(Math.min(R, J)).map((i) => `hold${i}`));
  L.need("i32", "cnt");
  const step = (ld: (p: string) => string) => {
    let s = "";
    const pa = (r: number) => ld(get(`pa${r}`));
    const pb = (j: number) => ld(get(`pb${j}`));
    if (R >= J) {
      for (let j = 0; j < J; j++) s += set(`hold${j}`, pb(j)) + "\n";
      for (let r = 0; r < R; r++) {
        s += set("s", pa(r)) + "\n";
        for (let j = 0; j < J; j++) {
          s += set(acc(r, j), madd(d, relaxed, get("s"), get(`hold${j}`), get(acc(r, j)))) + "\n";
        }
      }
    } else {
      for (let r = 0; r < R; r++) s += set(`hold${r}`, pa(r)) + "\n";
      for (let j = 0; j < J; j++) {
        s += set("s", pb(j)) + "\n";
        for (let r = 0; r < R; r++) {
          s += set(acc(r, j), madd(d, relaxed, get(`hold${r}`), get("s"), get(acc(r, j)))) + "\n";
        }
      }
    }
    return s;
  };
  const bump = (by: number) =>
    [...range(R).map((r) => inc(`pa${r}`, i32(by))), ...range(J).map((j) => inc(`pb${j}`, i32(by)))]
      .join(" ");
  const steps = (count: number) => {
    let s = "";
    for (let u = 0; u < count; u++) s += step((p) => load(p, 16 * u));
    return s + bump(16 * count);
  };
  // The nv mod U leftover vectors: straight-line blocks of 2^b steps for each bit b set (U a power
  // of two), rather than a loop whose every iteration pays V8's loop-header checks.
  let leftover = "";
  if ((U & (U - 1)) === 0) {
    for (let b = U >> 1; b >= 1; b >>= 1) {
      leftover += `(if (i32.and ${get("nvR")} ${i32(b)}) (then ${steps(b)}))\n`;
    }
  } else {
    leftover = counted(`k${R}x${J}`, "cnt", get("nvR"), steps(1));
  }
  return `
    ${range(R).flatMap((r) => range(J).map((j) => set(acc(r, j), ZERO))).join(" ")}
    ;; ${U} vector steps per iteration so that loads use offset immediates instead of pointer adds
    ${counted(`k${R}x${J}u`, "cnt", get("nvU"), steps(U))}
    ${leftover}
    ${byRem(d, "rem", (rem) => step((p) => loadPartial(d, p, rem)))}`;
}

/** Sets the locals `nvU` and `nvR` that `dotTile` reads, for k-vector count `nv` and unrolling U. */
function dotCounts(L: Locals, U: number): string {
  L.need("i32", "nvU", "nvR");
  return `${set("nvU", `(i32.div_u ${get("nv")} ${i32(U)})`)}
    ${set("nvR", `(i32.rem_u ${get("nv")} ${i32(U)})`)}`;
}

/** Tile extents for a dimension: `first`, then the powers of two below it, down to 1. */
function cascade(first: number): number[] {
  const out = [first];
  let p = 1;
  while (p * 2 < first) p *= 2;
  for (; p >= 1; p >>= 1) if (p < first) out.push(p);
  return out;
}

/**
 * hiddenForward: A1[r,j] = relu(b1[j] + X[r,:]·W1[j,:]). Both operands are contiguous along k
 * (X sample-major, W1 h×n), so the tile runs over k in vectors and reduces lanes at the end.
 * Loop order: a block of R rows of X (R·n elements, in L1) against every block of J units of W1
 * (W1 streams from L2 once per row block).
 */
function hiddenForward(d: Dt, relaxed: boolean, tiles: Tiles): string {
  const L = new Locals();
  L.need("i32", "rowBytes", "hBytes", "nv", "rem", "r", "j", "po");
  L.need("v128", "tmp");
  const { hfR: R, hfJ: J, hfU: U } = tiles;
  const S = d.size;

  const tile = (R: number, J: number) => {
    const setPtrs = [
      ...range(R).map((r) =>
        set(`pa${r}`, add(get("x"), mul(add(get("r"), i32(r)), get("rowBytes"))))
      ),
      ...range(J).map((j) =>
        set(`pb${j}`, add(get("w1"), mul(add(get("j"), i32(j)), get("rowBytes"))))
      ),
    ].join(" ");
    L.need("i32", ...range(R).map((r) => `pa${r}`), ...range(J).map((j) => `pb${j}`));
    const out = set("po", add(get("a1"), mul(add(mul(get("r"), get("h")), get("j")), i32(S))));
    const acc = (r: number, j: number) => `acc${r}_${j}`;
    const b1At = (j: number) => add(get("b1"), mul(add(get("j"), i32(j)), i32(S)));
    const rowPtr = (
      r: number,
    ) => (r === 0 ? get("po") : add(get("po"), mul(get("hBytes"), i32(r))));
    let epi = "";
    if (d.t === "f32" && J % 4 === 0) {
      // One row, four units: the four sums are contiguous in A1 and b1.
      for (let r = 0; r < R; r++) {
        for (let j = 0; j < J; j += 4) {
          const v = `(f32x4.add ${tsum(d, range(4).map((i) => acc(r, j + i)))} ${load(b1At(j))})`;
          epi += store(rowPtr(r), reluV(d, v, "tmp"), j * S) + "\n";
        }
      }
    } else if (d.t === "f32" && J % 2 === 0 && R % 2 === 0) {
      // Two rows × two units: each half of the sum vector is a pair of adjacent outputs.
      for (let r = 0; r < R; r += 2) {
        for (let j = 0; j < J; j += 2) {
          const accs = [acc(r, j), acc(r, j + 1), acc(r + 1, j), acc(r + 1, j + 1)];
          const v = `(f32x4.add ${tsum(d, accs)} (v128.load64_splat ${b1At(j)}))`;
          epi += set("tmp", reluV(d, v, "tmp")) + "\n";
          epi += `(v128.store64_lane${off(j * S)} 0 ${rowPtr(r)} ${get("tmp")})\n`;
          epi += `(v128.store64_lane${off(j * S)} 1 ${rowPtr(r + 1)} ${get("tmp")})\n`;
        }
      }
    } else if (d.t === "f64" && J % 2 === 0) {
      for (let r = 0; r < R; r++) {
        for (let j = 0; j < J; j += 2) {
          const v = `(f64x2.add ${tsum(d, [acc(r, j), acc(r, j + 1)])} ${load(b1At(j))})`;
          epi += store(rowPtr(r), reluV(d, v, "tmp"), j * S) + "\n";
        }
      }
    } else {
      for (let r = 0; r < R; r++) {
        for (let j = 0; j < J; j++) {
          const z = `(${d.t}.add ${hsum(d, get(acc(r, j)), "tmp")} (${d.t}.load ${b1At(j)}))`;
          L.need(d.t, "zs");
          epi += set("zs", z) + "\n";
          epi += `(${d.t}.store${off(j * S)} ${rowPtr(r)} (select ${get("zs")} (${d.t}.const 0) ` +
            `(${d.t}.gt ${get("zs")} (${d.t}.const 0))))\n`;
        }
      }
    }
    return `${setPtrs}\n${dotTile(d, relaxed, L, R, J, U)}\n${out}\n${epi}`;
  };

  // Rows and units left over by the full tile go through the narrower tiles of `cascade`.
  const jLoops = (R: number) =>
    set("j", i32(0)) +
    cascade(J).map((j) => stepping(`j${R}x${j}`, "j", i32(j), get("h"), tile(R, j))).join("\n");
  const body = `
    ${set("rowBytes", mul(get("n"), i32(S)))}
    ${set("hBytes", mul(get("h"), i32(S)))}
    ${set("nv", `(i32.div_u ${get("n")} ${i32(d.lanes)})`)}
    ${set("rem", `(i32.rem_u ${get("n")} ${i32(d.lanes)})`)}
    ${dotCounts(L, U)}
    ${set("r", i32(0))}
    ${cascade(R).map((r) => stepping(`r${r}`, "r", i32(r), get("rows"), jLoops(r))).join("\n")}`;
  return `
  ;; hiddenForward (${d.t}): tile ${R} rows × ${J} units, ${U} k-vectors per iteration
  (func $${d.t}_hiddenForward (export "${d.t}_hiddenForward")
    (param $x i32) (param $rows i32) (param $n i32) (param $h i32)
    (param $w1 i32) (param $b1 i32) (param $a1 i32)
    ${L}
    ${body})`;
}

/**
 * outputLogits: Z[r] = b2 + A1[r,:]·W2. The dot tile with J = 1 over four rows (f32; two for f64)
 * whose sums come out as one vector for a single store.
 */
/**
 * biasRelu: A1[r,j] = relu(A1[r,j] + b1[j]) in place, one vector of units at a time, the tail of
 * each row through partial loads and stores. Memory-bound: A1 is read and written once.
 */
function biasRelu(d: Dt): string {
  const L = new Locals();
  L.need("i32", "rowBytes", "nvBytes", "rem", "cnt", "p", "j", "t");
  L.need("v128", "tmp");
  const S = d.size;
  const at = (base: string) => add(get(base), get("j"));
  const vector = store(
    at("p"),
    reluV(d, `(${d.v}.add ${load(at("p"))} ${load(at("b1"))})`, "tmp"),
  );
  const tail = (rem: number) =>
    `${set("t", add(get("p"), get("nvBytes")))} ${
      storePartial(
        d,
        get("t"),
        reluV(
          d,
          `(${d.v}.add ${loadPartial(d, get("t"), rem)} ${
            loadPartial(d, add(get("b1"), get("nvBytes")), rem)
          })`,
          "tmp",
        ),
        rem,
        "tmp",
      )
    }`;
  const body = `
    ${set("rowBytes", mul(get("h"), i32(S)))}
    ${set("nvBytes", `(i32.and ${get("rowBytes")} ${i32(-16)})`)}
    ${set("rem", `(i32.rem_u ${get("h")} ${i32(d.lanes)})`)}
    ${set("p", get("a1"))}
    ${
    counted(
      "rows",
      "cnt",
      get("rows"),
      `${set("j", i32(0))}
      ${stepping("units", "j", i32(16), get("nvBytes"), vector)}
      ${byRem(d, "rem", tail)}
      ${inc("p", get("rowBytes"))}`,
    )
  }`;
  return `
  ;; biasRelu (${d.t}): one vector of units at a time
  (func $${d.t}_biasRelu (export "${d.t}_biasRelu")
    (param $a1 i32) (param $rows i32) (param $h i32) (param $b1 i32)
    ${L}
    ${body})`;
}

function outputLogits(d: Dt, relaxed: boolean): string {
  const L = new Locals();
  L.need("i32", "nv", "rem", "r", "rowBytes");
  L.need("v128", "tmp");
  const S = d.size;
  const R = d.lanes;
  const tile = (R: number) => {
    L.need("i32", ...range(R).map((r) => `pa${r}`), "pb0");
    const setPtrs = range(R)
      .map((r) => set(`pa${r}`, add(get("a1"), mul(add(get("r"), i32(r)), get("rowBytes")))))
      .join(" ") + set("pb0", get("w2"));
    const zAt = add(get("z"), mul(get("r"), i32(S)));
    const b2 = d.t === "f32" ? `(f32.demote_f64 ${get("b2")})` : get("b2");
    const epi = R === 1
      ? `(${d.t}.store ${zAt} (${d.t}.add ${hsum(d, get("acc0_0"), "tmp")} ${b2}))`
      : store(
        zAt,
        `(${d.v}.add ${tsum(d, range(R).map((r) => `acc${r}_0`))} (${d.v}.splat ${b2}))`,
      );
    return `${setPtrs}\n${dotTile(d, relaxed, L, R, 1, 2)}\n${epi}`;
  };
  const body = `
    ${set("rowBytes", mul(get("h"), i32(S)))}
    ${set("nv", `(i32.div_u ${get("h")} ${i32(d.lanes)})`)}
    ${set("rem", `(i32.rem_u ${get("h")} ${i32(d.lanes)})`)}
    ${dotCounts(L, 2)}
    ${set("r", i32(0))}
    ${stepping(`r${R}`, "r", i32(R), get("rows"), tile(R))}
    ${stepping("r1", "r", i32(1), get("rows"), tile(1))}`;
  return `
  ;; outputLogits (${d.t}): ${R} rows per tile, lane sums transposed into one store
  (func $${d.t}_outputLogits (export "${d.t}_outputLogits")
    (param $a1 i32) (param $rows i32) (param $h i32) (param $w2 i32) (param $b2 f64) (param $z i32)
    ${L}
    ${body})`;
}

/** The text of an f64 literal that reads back as exactly `x`. */
const f64lit = (x: number) => (Object.is(x, -0) ? "-0" : String(x));

/**
 * A polynomial in f64x2 lanes by Estrin's scheme, coefficients from the highest degree down;
 * `fma(a, b, c)` forms a·b + c (unfused unless the caller passes a fused form). Pairs of terms
 * combine with x, pairs of those with x², and so on, so the dependency chain is ~log2(degree)
 * multiply-adds long instead of Horner's degree: this kernel is latency-bound.
 * Returns the statements that set the powers (locals `${name}1`, `${name}2`, …) and the expression.
 */
function estrin(
  L: Locals,
  name: string,
  x: string,
  coeffs: number[],
  constant: (c: number) => string,
  fma: (a: string, b: string, c: string) => string = (a, b, c) =>
    `(f64x2.add ${c} (f64x2.mul ${a} ${b}))`,
): [string[], string] {
  let terms = [...coeffs].reverse().map(constant);
  const pre: string[] = [];
  let pw = x;
  for (let level = 1; terms.length > 1; level++) {
    const next: string[] = [];
    for (let i = 0; i < terms.length; i += 2) {
      next.push(
        i + 1 < terms.length ? fma(terms[i + 1], pw, terms[i]) : terms[i],
      );
    }
    terms = next;
    if (terms.length > 1) {
      L.need("v128", `${name}${level}`);
      pre.push(set(`${name}${level}`, `(f64x2.mul ${pw} ${pw})`));
      pw = get(`${name}${level}`);
    }
  }
  return [pre, terms[0]];
}

/**
 * ln 2 in two parts: k·LN2_HI is exact for |k| < 2^21, and LN2_LO holds the rest, including
 * ln 2 − fl(ln 2) = 2.3190468138462996e-17 that Math.LN2 lacks.
 */
const LN2_HI = (() => {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, Math.LN2);
  b.setUint32(4, b.getUint32(4) & ~0x1fffff);
  return b.getFloat64(0);
})();
const LN2_LO = (Math.LN2 - LN2_HI) + 2.3190468138462996e-17;

/** 1.5·2^52: x + MAGIC rounds x to an integer held in the low bits (|x| < 2^51). */
const MAGIC = 1.5 * 2 ** 52;
const MAGIC_BITS = 0x4338000000000000n;
/** The sign bit of an f64 lane, as a signed i64. */
const SIGN = -(2n ** 63n);

/** 1/n! for n = deg .. 0. */
const expCoeffs = (deg: number) => {
  const c = [1];
  for (let n = 1; n <= deg; n++) c.push(c[n - 1] / n);
  return c.reverse();
};

/**
 * outputLoss: two rows per f64x2 vector (f32 data promoted, as the reference computes in JS
 * numbers), `lossG` such groups side by side per iteration. exp and log1p are computed here rather
 * than imported, because a call out to JS per row cost ~130 ns/row, more than the two GEMMs of a
 * 64-row chunk:
 * - e = exp(−|z|): −|z| = k·ln 2 + r with |r| ≤ ln 2 / 2 (Cody–Waite), k rounded by adding
 *   1.5·2^52, e^r by its Taylor polynomial of degree 13 (truncation < 2^−57) by Estrin's scheme,
 *   times 2^k made in the exponent bits from the low bits of that sum. |z| is clamped to 708 so
 *   that 2^k stays normal; past it e < 1e−307 only meets 1 + e.
 * - log1p(e) = log(u) + (e − (u − 1))/u with u = 1 + e ∈ [1, 2]: u halved above √2, then
 *   log m = 2·atanh(s), s = (m − 1)/(m + 1), |s| < 0.172, by the atanh series to s^21.
 * - σ(z) = 1/(1 + e) for z ≥ 0 and e/(1 + e) otherwise, both through one reciprocal of u.
 * Multiply-adds are relaxed (fused where the engine fuses). Relative errors are a few ulps. The
 * prediction σ(z) ≥ 0.5 is decided as the reference's arithmetic decides it:
 * 1/(1 + exp(−z)) ≥ 0.5 exactly when exp(−z) rounds to at most 1 + 2^−52, i.e. z > −1.5·2^−52,
 * so the count of correct predictions is the reference's.
 * The loss terms are added to the sum one row after another, in the reference's order.
 */
function outputLoss(d: Dt, relaxed: boolean, tiles: Tiles): string {
  const S = d.size;
  const L = new Locals();
  L.need("i32", "cnt");
  L.need("f64", "loss");
  L.need("v128", "hits");
  const ld = (p: string, two: boolean, o = 0) =>
    d.t === "f32"
      ? `(f64x2.promote_low_f32x4 (${two ? "v128.load64_zero" : "v128.load32_zero"}${off(o)} ${p}))`
      : two
      ? load(p, o)
      : `(v128.load64_zero${off(o)} ${p})`;
  const st = (p: string, e: string, two: boolean, o = 0) =>
    d.t === "f32"
      ? `(${two ? "v128.store64_lane" : "v128.store32_lane"}${off(o)} 0 ${p} ` +
        `(f32x4.demote_f64x2_zero ${e}))`
      : two
      ? store(p, e, o)
      : `(v128.store64_lane${off(o)} 0 ${p} ${e})`;
  const atanh = range(10).map((i) => 2 / (21 - 2 * i)); // 2/21, 2/19, …, 2/3
  // The constants live in mutable globals, copied to locals on entry. A v128.const in the loop
  // is rebuilt at each use by both engines (V8: movabs, vmovq, vmovddup; JavaScriptCore even
  // where a local holds it, as it sees through the local: ~40 constants made afresh per two rows
  // doubled its time). A global's value is unknown to the compiler, so it stays in a register or
  // is reloaded from the stack.
  const pool = new Map<string, string>();
  const cx = (konst: string) => {
    if (!pool.has(konst)) pool.set(konst, `c${pool.size}`);
    return get(pool.get(konst)!);
  };
  const cv = (c: number) => cx(`(v128.const f64x2 ${f64lit(c)} ${f64lit(c)})`);
  const i64v = (c: bigint) => cx(`(v128.const i64x2 ${c} ${c})`);
  const global = (name: string) => `$${d.t}_loss_${name}`;
  const fma = (a: string, b: string, c: string) => madd(F64, relaxed, a, b, c);
  /**
   * The statements for one group of two rows (one row if !two) at element `at` of z and y, in
   * locals suffixed `g`. The loss terms are left in `term${g}` for the caller to add in row order.
   */
  const group = (g: string, two: boolean, at: number): string[] => {
    const v = (name: string) => {
      L.need("v128", `${name}${g}`);
      return `${name}${g}`;
    };
    const [zv, yv, na, kk, k, e, u, m, big, f, sv, s2, ru, term, mask] = [
      ..."zv yv na kk k e u m big f sv s2 ru term mask".split(" "),
    ].map(v);
    const [expPre, expPoly] = estrin(L, `r${g}_`, get(f), expCoeffs(13), cv, fma);
    const [logPre, logPoly] = estrin(L, `t${g}_`, get(s2), atanh, cv, fma);
    return [
      set(zv, ld(get("z"), two, at * S)),
      set(yv, ld(get("y"), two, at * S)),
      // na = −min(|z|, 708) (−|z| by the sign bit; pmax, one instruction, keeps a NaN)
      set(na, `(f64x2.pmax (v128.or ${get(zv)} ${i64v(SIGN)}) ${cv(-708)})`),
      // kk = k + 1.5·2^52, k = round(na / ln 2): adding 1.5·2^52 rounds to an integer (nearest,
      // ties to even), and k sits in the low bits of kk, whence 2^k below
      set(kk, fma(get(na), cv(1 / Math.LN2), cv(MAGIC))),
      set(k, `(f64x2.sub ${get(kk)} ${cv(MAGIC)})`),
      // f = na − k·ln 2 (Cody–Waite: k·LN2_HI is exact)
      set(f, fma(get(k), cv(-LN2_HI), get(na))),
      set(f, fma(get(k), cv(-LN2_LO), get(f))),
      ...expPre,
      // e = e^f · 2^k, 2^k = (k + 1023) << 52 made from the bits of kk
      set(
        e,
        `(f64x2.mul ${expPoly} (i64x2.shl (i64x2.add ${get(kk)} ${i64v(1023n - MAGIC_BITS)}) ` +
          `(i32.const 52)))`,
      ),
      // log1p(e) through u = 1 + e, halved above √2
      set(u, `(f64x2.add ${cv(1)} ${get(e)})`),
      set(big, `(f64x2.gt ${get(u)} ${cv(Math.SQRT2)})`),
      set(m, `(v128.bitselect (f64x2.mul ${get(u)} ${cv(0.5)}) ${get(u)} ${get(big)})`),
      set(f, `(f64x2.sub ${get(m)} ${cv(1)})`),
      set(sv, `(f64x2.div ${get(f)} (f64x2.add ${get(f)} ${cv(2)}))`),
      set(s2, `(f64x2.mul ${get(sv)} ${get(sv)})`),
      // 1/u, shared by the log1p correction and σ: one division instead of two
      set(ru, `(f64x2.div ${cv(1)} ${get(u)})`),
      ...logPre,
      // term = max(z, 0) − z·y + (ln 2 if halved) + log m + (e − (u − 1))/u; pmax(z, 0) is max
      // but for −0, where the difference vanishes in the sum
      set(
        term,
        `(f64x2.add (f64x2.sub (f64x2.pmax ${get(zv)} ${cv(0)}) (f64x2.mul ${get(zv)} ${get(yv)}))
          (f64x2.add (f64x2.add (v128.and ${get(big)} ${cv(Math.LN2)})
              (f64x2.add (f64x2.add ${get(sv)} ${get(sv)})
                (f64x2.mul (f64x2.mul ${get(sv)} ${get(s2)}) ${logPoly})))
            (f64x2.mul (f64x2.sub ${get(e)} (f64x2.sub ${get(u)} ${cv(1)})) ${get(ru)})))`,
      ),
      // correct: (z > −1.5·2^−52) = (y = 1); each true lane adds −1, negated at the end
      set(
        mask,
        `(i64x2.eq (f64x2.gt ${get(zv)} ${cv(-1.5 * 2 ** -52)}) (f64x2.eq ${get(yv)} ${cv(1)}))`,
      ),
      set(
        "hits",
        `(i64x2.add ${get("hits")} ${
          two ? get(mask) : `(v128.and ${get(mask)} (v128.const i64x2 -1 0))`
        })`,
      ),
      // dZ2 = σ(z) − y, σ = (z ≥ 0 ? 1 : e)/u
      st(
        get("z"),
        `(f64x2.sub (f64x2.mul (v128.bitselect ${cv(1)} ${get(e)} (f64x2.ge ${get(zv)} ${cv(0)}))
          ${get(ru)}) ${get(yv)})`,
        two,
        at * S,
      ),
    ];
  };
  /** Adds the terms of groups `gs` (two rows each unless `single`) to the loss, in row order. */
  const addTerms = (gs: string[], single = false) =>
    gs.flatMap((g) =>
      (single ? [0] : [0, 1]).map((l) =>
        set("loss", `(f64.add ${get("loss")} (f64x2.extract_lane ${l} ${get(`term${g}`)}))`)
      )
    ).join("\n");
  /**
   * Groups' statements interleaved one for one: each group is a long chain of dependent operations
   * (~120 cycles), so side by side they overlap where one group at a time would leave the
   * out-of-order window short of independent work.
   */
  const interleave = (groups: string[][]) => {
    const out: string[] = [];
    for (let i = 0; i < Math.max(...groups.map((x) => x.length)); i++) {
      for (const x of groups) if (i < x.length) out.push(x[i]);
    }
    return out.join("\n");
  };
  const G = tiles.lossG;
  if (G & (G - 1)) throw new Error(`lossG must be a power of two, not ${G}`);
  const quad = interleave(range(G).map((i) => group(String(i), true, 2 * i)));
  const pair = group("0", true, 0).join("\n");
  const single = group("0", false, 0).join("\n");
  L.need("v128", ...pool.values());
  const body = `
    ${[...pool].map(([, name]) => set(name, `(global.get ${global(name)})`)).join("\n")}
    ${
    counted(
      "quads",
      "cnt",
      `(i32.shr_u ${get("rows")} ${i32(Math.log2(2 * G))})`,
      `${quad}
      ${addTerms(range(G).map(String))}
      ${inc("z", i32(2 * G * S))}
      ${inc("y", i32(2 * G * S))}`,
    )
  }
    ${
    G > 1
      ? counted(
        "pairs",
        "cnt",
        `(i32.and (i32.shr_u ${get("rows")} ${i32(1)}) ${i32(G - 1)})`,
        `${pair} ${addTerms(["0"])} ${inc("z", i32(2 * S))} ${inc("y", i32(2 * S))}`,
      )
      : ""
  }
    (if (i32.and ${get("rows")} ${i32(1)}) (then ${single} ${addTerms(["0"], true)}))
    (global.set $correct (i32.wrap_i64 (i64.sub (i64.const 0)
      (i64.add (i64x2.extract_lane 0 ${get("hits")}) (i64x2.extract_lane 1 ${get("hits")})))))
    ${get("loss")}`;
  return `
  ${[...pool].map(([konst, name]) => `(global ${global(name)} (mut v128) ${konst})`).join("\n  ")}
  ;; outputLoss (${d.t}): ${G} groups of two rows per iteration, interleaved
  (func $${d.t}_outputLoss (export "${d.t}_outputLoss")
    (param $z i32) (param $y i32) (param $rows i32) (result f64)
    ${L}
    ${body})`;
}

/**
 * outputBackward: column blocks of B vectors of A1 (one 64-byte line per row for B = 4) swept down
 * the rows, gW2 and gb1 accumulating in registers in row order; multiply and add stay unfused
 * so that f64 results are the reference's bits. Then gb2 = Σ dZ2 in f64 as in the reference.
 */
function outputBackward(d: Dt): string {
  const L = new Locals();
  L.need("i32", "hBytes", "c", "cnt", "pa", "pd", "rem", "jb");
  L.need("v128", "dv", "av", "zv", "tmp");
  L.need("f64", "sum");
  const S = d.size;
  const v = d.v;
  const block = (B: number, rem: number) => {
    const gw = (i: number) => `accW${i}`;
    const gb = (i: number) => `accB${i}`;
    L.need("v128", ...range(B).flatMap((i) => [gw(i), gb(i), `wv${i}`]));
    const ld = (p: string, o: number) => (rem ? loadPartial(d, p, rem) : load(p, o));
    // W2's block is held in registers for the whole sweep down the rows.
    const w2At = add(get("w2"), get("jb"));
    const holdW2 = range(B).map((i) => set(`wv${i}`, ld(w2At, 16 * i))).join(" ");
    let row = `${set("dv", `(${d.splat} ${get("pd")})`)}\n`;
    for (let i = 0; i < B; i++) {
      row += `${set("av", ld(get("pa"), 16 * i))}
        ${set(gw(i), `(${v}.add ${get(gw(i))} (${v}.mul ${get("dv")} ${get("av")}))`)}
        ${
        set(
          "zv",
          `(v128.and (${v}.mul ${get("dv")} ${get(`wv${i}`)}) (${v}.gt ${get("av")} ${ZERO}))`,
        )
      }
        ${
        rem
          ? storePartial(d, get("pa"), get("zv"), rem, "tmp")
          : store(get("pa"), get("zv"), 16 * i)
      }
        ${set(gb(i), `(${v}.add ${get(gb(i))} ${get("zv")})`)}\n`;
    }
    const fin = range(B).map((i) => {
      const [g, b] = [add(get("gw2"), get("jb")), add(get("gb1"), get("jb"))];
      return rem
        ? `${set("c", g)} ${storePartial(d, get("c"), get(gw(i)), rem, "tmp")} ` +
          `${set("c", b)} ${storePartial(d, get("c"), get(gb(i)), rem, "tmp")}`
        : `${store(g, get(gw(i)), 16 * i)} ${store(b, get(gb(i)), 16 * i)}`;
    }).join("\n");
    return `${range(B).map((i) => set(gw(i), ZERO) + set(gb(i), ZERO)).join(" ")}
      ${holdW2}
      ${set("pa", add(get("a1"), get("jb")))}
      ${set("pd", get("dz2"))}
      ${
      counted(
        `rows${B}_${rem}`,
        "cnt",
        get("rows"),
        `${row} ${inc("pa", get("hBytes"))} ${inc("pd", i32(S))}`,
      )
    }
      ${fin}`;
  };
  const ldD = (
    p: string,
  ) => (d.t === "f32" ? `(f64.promote_f32 (f32.load ${p}))` : `(f64.load ${p})`);
  const stD = (p: string, e: string) =>
    d.t === "f32" ? `(f32.store ${p} (f32.demote_f64 ${e}))` : `(f64.store ${p} ${e})`;
  const body = `
    ${set("hBytes", mul(get("h"), i32(S)))}
    ${set("jb", i32(0))}
    ${stepping("j4", "jb", i32(64), `(i32.and ${get("hBytes")} ${i32(-16)})`, block(4, 0))}
    ${stepping("j1", "jb", i32(16), `(i32.and ${get("hBytes")} ${i32(-16)})`, block(1, 0))}
    ${set("rem", `(i32.rem_u ${get("h")} ${i32(d.lanes)})`)}
    ${byRem(d, "rem", (rem) => block(1, rem))}
    ${set("pd", get("dz2"))}
    ${
    counted(
      "sum",
      "cnt",
      get("rows"),
      `${set("sum", `(f64.add ${get("sum")} ${ldD(get("pd"))})`)} ${inc("pd", i32(S))}`,
    )
  }
    ${stD(get("gb2"), get("sum"))}`;
  return `
  (func $${d.t}_outputBackward (export "${d.t}_outputBackward")
    (param $a1 i32) (param $dz2 i32) (param $rows i32) (param $h i32) (param $w2 i32)
    (param $gw2 i32) (param $gb1 i32) (param $gb2 i32)
    ${L}
    ${body})`;
}

/**
 * weightGradient's pair mode: one load gives dZ1[r, j] and dZ1[r, j+1] in alternate lanes (f64:
 * the vector as it is; f32: the pair twice), a shuffle gives the same swapped, and each multiplies
 * the X vector into its own accumulator; so one load and a shuffle replace two broadcast loads per
 * row. Accumulator 0 then holds row j in its even lanes and row j+1 in its odd lanes, accumulator
 * 1 the other way round; `pairLanes(a, b)` (even lanes of a, odd lanes of b) gives row j as
 * pairLanes(acc0, acc1) and row j+1 as pairLanes(acc1, acc0). Each element is still one lane
 * accumulating its rows in order, so the sums are those of the broadcast form, bit for bit.
 */
function pairLanes(d: Dt, a: string, b: string): string {
  // By lane moves: JavaScriptCore keeps a two-operand shuffle's byte masks in two registers for
  // the whole function, which makes it spill the tile's accumulators.
  if (d.t === "f64") return `(f64x2.replace_lane 1 ${a} (f64x2.extract_lane 1 ${b}))`;
  return `(f32x4.replace_lane 3 (f32x4.replace_lane 1 ${a} (f32x4.extract_lane 1 ${b}))
    (f32x4.extract_lane 3 ${b}))`;
}

/**
 * weightGradient: gW1[j, k..] = Σ_r dZ1[r,j]·X[r, k..], a J × K-vector tile of gW1 held in registers
 * while the rows go by, `wgU` rows per loop iteration (dZ1 broadcast per unit, or two units as a
 * pair; X loaded per k-vector). Loop order: panels of P rows, then k blocks, then unit blocks, so
 * that a panel's X strip and dZ1 rows are reused from L1 by every unit block. A tile is stored at
 * the end of a panel and reloaded by the next, which leaves the sums in row order.
 */
function weightGradient(d: Dt, relaxed: boolean, tiles: Tiles): string {
  const L = new Locals();
  L.need("i32", "rowBytes", "hBytes", "nvBytes", "rem", "kb", "j", "cnt", "po");
  L.need("i32", "r0", "pr", "prU", "prR", "first", "xp", "dp", "stepX", "stepD");
  L.need("v128", "s", "tmp");
  const { wgJ: J, wgK: K, wgP: P, wgU: U } = tiles;
  if (U & (U - 1)) throw new Error(`wgU must be a power of two, not ${U}`);
  const S = d.size;
  const tile = (J: number, K: number, rem: number) => {
    const acc = (j: number, k: number) => `acc${j}_${k}`;
    L.need("v128", ...range(J).flatMap((j) => range(K).map((k) => acc(j, k))));
    // Two units as a pair (see `pairLanes`), or units broadcast one by one.
    const paired = J === 2 && tiles.wgPair;
    // The smaller of the two operand sets is held in registers, the other streamed.
    L.need("v128", ...range(Math.min(J, K)).map((i) => `hold${i}`));
    /** One row's update of the tile, through row pointers px{u} (X) and pd{u} (dZ1). */
    const row = (u: number) => {
      const [px, pd] = [get(`px${u}`), get(`pd${u}`)];
      L.need("i32", `px${u}`, `pd${u}`);
      const xv = (k: number) => (rem ? loadPartial(d, px, rem) : load(px, 16 * k));
      const dv = (j: number) => `(${d.splat}${off(j * S)} ${pd})`;
      let s = "";
      if (paired) {
        // hold0 = dZ1[r, j], dZ1[r, j+1] alternating across the lanes; hold1 the same swapped.
        const pair = d.t === "f64" ? load(pd) : `(v128.load64_splat ${pd})`;
        s += set("hold0", pair) + "\n";
        s += set(
          "hold1",
          shuffle(d, d.t === "f64" ? [1, 0] : [1, 0, 3, 2], get("hold0"), get("hold0")),
        );
        for (let k = 0; k < K; k++) {
          s += set("s", xv(k)) + "\n";
          for (let j = 0; j < 2; j++) {
            s += set(acc(j, k), madd(d, relaxed, get(`hold${j}`), get("s"), get(acc(j, k)))) +
              "\n";
          }
        }
      } else if (K <= J) {
        for (let k = 0; k < K; k++) s += set(`hold${k}`, xv(k)) + "\n";
        for (let j = 0; j < J; j++) {
          s += set("s", dv(j)) + "\n";
          for (let k = 0; k < K; k++) {
            s += set(acc(j, k), madd(d, relaxed, get("s"), get(`hold${k}`), get(acc(j, k)))) +
              "\n";
          }
        }
      } else {
        for (let j = 0; j < J; j++) s += set(`hold${j}`, dv(j)) + "\n";
        for (let k = 0; k < K; k++) {
          s += set("s", xv(k)) + "\n";
          for (let j = 0; j < J; j++) {
            s += set(acc(j, k), madd(d, relaxed, get(`hold${j}`), get("s"), get(acc(j, k)))) +
              "\n";
          }
        }
      }
      return s;
    };
    /** Row j of the tile at k-vector k, as a vector (in pair mode, lanes of both accumulators). */
    const out = (j: number, k: number) =>
      paired ? pairLanes(d, get(acc(j, k)), get(acc(1 - j, k))) : get(acc(j, k));
    let fin = "";
    for (let j = 0; j < J; j++) {
      const p = add(get("po"), mul(get("rowBytes"), i32(j)));
      for (let k = 0; k < K; k++) {
        fin += rem
          ? `${set("c", p)} ${storePartial(d, get("c"), out(j, k), rem, "tmp")}\n`
          : store(j === 0 ? get("po") : p, out(j, k), 16 * k) + "\n";
      }
    }
    L.need("i32", "c");
    // The first panel starts from zero; later ones continue the sums stored by the previous.
    let resume = "";
    for (let j = 0; j < J; j++) {
      const p = j === 0 ? get("po") : add(get("po"), mul(get("rowBytes"), i32(j)));
      for (let k = 0; k < K; k++) {
        resume +=
          set(paired ? `tmp${j}_${k}` : acc(j, k), rem ? loadPartial(d, p, rem) : load(p, 16 * k)) +
          "\n";
      }
    }
    if (paired) {
      // pairLanes is its own inverse: the stored rows give back the two accumulators.
      L.need("v128", ...range(2).flatMap((j) => range(K).map((k) => `tmp${j}_${k}`)));
      for (let k = 0; k < K; k++) {
        for (let j = 0; j < 2; j++) {
          resume += set(acc(j, k), pairLanes(d, get(`tmp${j}_${k}`), get(`tmp${1 - j}_${k}`))) +
            "\n";
        }
      }
    }
    // U rows per iteration, each through its own pointers, into the same accumulators in row
    // order. The rows' loads share their offset immediates, and V8 computes one bound per offset
    // and loop iteration (it checks every access explicitly), so this also saves bound arithmetic.
    const ptrs = range(U).map((u) =>
      u === 0
        ? `${set("px0", add(get("xp"), get("kb")))} ${
          set("pd0", add(get("dp"), mul(get("j"), i32(S))))
        }`
        : `${set(`px${u}`, add(get(`px${u - 1}`), get("rowBytes")))} ${
          set(`pd${u}`, add(get(`pd${u - 1}`), get("hBytes")))
        }`
    ).join("\n");
    const bumpAll = range(U).map((u) =>
      `${inc(`px${u}`, get("stepX"))} ${inc(`pd${u}`, get("stepD"))}`
    )
      .join(" ");
    const unrolled = U === 1
      ? ""
      : counted(`rows${J}x${K}_${rem}u`, "cnt", get("prU"), range(U).map(row).join("") + bumpAll);
    const single = counted(
      `rows${J}x${K}_${rem}`,
      "cnt",
      get(U === 1 ? "pr" : "prR"),
      `${row(0)} ${inc("px0", get("rowBytes"))} ${inc("pd0", get("hBytes"))}`,
    );
    return `${set("po", add(add(get("gw1"), mul(get("j"), get("rowBytes"))), get("kb")))}
      (if ${get("first")}
        (then ${range(J).flatMap((j) => range(K).map((k) => set(acc(j, k), ZERO))).join(" ")})
        (else ${resume}))
      ${ptrs}
      ${unrolled}
      ${single}
      ${fin}`;
  };
  // Full vectors left over by K-wide blocks go through narrower tiles, halving down to one.
  const kSteps = [K];
  while (kSteps[kSteps.length - 1] > 1) kSteps.push(Math.ceil(kSteps[kSteps.length - 1] / 2));
  const jLoops = (K: number, rem: number) =>
    set("j", i32(0)) + stepping(`j${J}x${K}_${rem}`, "j", i32(J), get("h"), tile(J, K, rem)) +
    (J > 1 ? stepping(`j1x${K}_${rem}`, "j", i32(1), get("h"), tile(1, K, rem)) : "");
  const body = `
    ${set("rowBytes", mul(get("n"), i32(S)))}
    ${set("hBytes", mul(get("h"), i32(S)))}
    ${set("nvBytes", `(i32.and ${get("rowBytes")} ${i32(-16)})`)}
    ${set("rem", `(i32.rem_u ${get("n")} ${i32(d.lanes)})`)}
    ${set("stepX", mul(get("rowBytes"), i32(U)))}
    ${set("stepD", mul(get("hBytes"), i32(U)))}
    ${set("r0", i32(0))}
    ${set("first", i32(1))}
    ;; at least one panel, so that rows = 0 still overwrites gW1 with zeros
    (loop $panels
      ${set("pr", `(i32.sub ${get("rows")} ${get("r0")})`)}
      ${set("pr", `(select ${i32(P)} ${get("pr")} (i32.gt_u ${get("pr")} ${i32(P)}))`)}
      ${set("xp", add(get("x"), mul(get("r0"), get("rowBytes"))))}
      ${set("dp", add(get("dz1"), mul(get("r0"), get("hBytes"))))}
      ${set("prU", `(i32.shr_u ${get("pr")} ${i32(Math.log2(U))})`)}
      ${set("prR", `(i32.and ${get("pr")} ${i32(U - 1)})`)}
      ${set("kb", i32(0))}
      ${
    kSteps.map((k) => stepping(`k${k}`, "kb", i32(16 * k), get("nvBytes"), jLoops(k, 0))).join("\n")
  }
      ${byRem(d, "rem", (rem) => jLoops(1, rem))}
      ${set("first", i32(0))}
      ${inc("r0", i32(P))}
      (br_if $panels (i32.lt_u ${get("r0")} ${get("rows")})))`;
  return `
  ;; weightGradient (${d.t}): tile ${J} units × ${K} k-vectors, accumulated over all rows
  (func $${d.t}_weightGradient (export "${d.t}_weightGradient")
    (param $dz1 i32) (param $x i32) (param $rows i32) (param $n i32) (param $h i32) (param $gw1 i32)
    ${L}
    ${body})`;
}

/**
 * accumulate: a[i] += b[i] over `len` elements, four vectors a step, then one, then scalars; each
 * sum rounded once in the run's precision, as the reference's typed-array stores round it.
 */
function accumulate(d: Dt): string {
  const L = new Locals();
  L.need("i32", "i", "end", "vend");
  const S = d.size;
  const sumV = (o: number) =>
    store(
      add(get("a"), get("i")),
      `(${d.v}.add ${load(add(get("a"), get("i")), o)} ${load(add(get("b"), get("i")), o)})`,
      o,
    );
  const ld = (p: string) => `(${d.t}.load ${p})`;
  const body = `
    ${set("end", mul(get("len"), i32(S)))}
    ${set("i", i32(0))}
    ${set("vend", `(i32.and ${get("end")} ${i32(-64)})`)}
    ${stepping("v4", "i", i32(64), get("vend"), range(4).map((b) => sumV(16 * b)).join(" "))}
    ${set("vend", `(i32.and ${get("end")} ${i32(-16)})`)}
    ${stepping("v1", "i", i32(16), get("vend"), sumV(0))}
    ${
    stepping(
      "s",
      "i",
      i32(S),
      get("end"),
      `(${d.t}.store ${add(get("a"), get("i"))} (${d.t}.add ${ld(add(get("a"), get("i")))} ${
        ld(add(get("b"), get("i")))
      }))`,
    )
  }`;
  return `
  ;; accumulate (${d.t}): a += b, elementwise
  (func $${d.t}_accumulate (export "${d.t}_accumulate")
    (param $a i32) (param $b i32) (param $len i32)
    ${L}
    ${body})`;
}

/**
 * reduceTree: the pairwise tree of core/reduce_tree.ts over `count` slots `stride` elements apart,
 * `len` elements from `part`, strip by strip (STRIP elements), each edge one call of accumulate.
 */
function reduceTree(d: Dt): string {
  const S = d.size;
  const lt = (a: string, b: string) => `(i32.lt_u ${a} ${b})`;
  return `
  ;; reduceTree (${d.t}): slot 0 += the rest, in the fixed pairwise tree, strip by strip
  (func $${d.t}_reduceTree (export "${d.t}_reduceTree")
    (param $part i32) (param $stride i32) (param $count i32) (param $len i32)
    (local $q i32) (local $w i32) (local $s i32) (local $c i32) (local $a i32)
    ${set("q", i32(0))}
    (block $strips_done (loop $strips
      (br_if $strips_done (i32.eqz ${lt(get("q"), get("len"))}))
      ${set("w", `(i32.sub ${get("len")} ${get("q")})`)}
      (if ${lt(i32(STRIP), get("w"))} (then ${set("w", i32(STRIP))}))
      ${set("s", i32(1))}
      (block $levels_done (loop $levels
        (br_if $levels_done (i32.eqz ${lt(get("s"), get("count"))}))
        ${set("c", i32(0))}
        (block $pairs_done (loop $pairs
          (br_if $pairs_done (i32.eqz ${lt(add(get("c"), get("s")), get("count"))}))
          ${set("a", add(get("part"), mul(add(mul(get("c"), get("stride")), get("q")), i32(S))))}
          (call $${d.t}_accumulate ${get("a")}
            ${add(get("a"), mul(mul(get("s"), get("stride")), i32(S)))} ${get("w")})
          ${set("c", add(get("c"), `(i32.shl ${get("s")} ${i32(1)})`))}
          (br $pairs)))
        ${set("s", `(i32.shl ${get("s")} ${i32(1)})`)}
        (br $levels)))
      ${inc("q", i32(STRIP))}
      (br $strips)))
  )`;
}

/** Parameters per strip of reduceTree: 64 chunks of a strip of float64 are 256 KiB. */
const STRIP = 512;

/** The whole module: the imported shared memory, then every kernel for both precisions. */
export function generateWat(relaxed: boolean, tiles = DEFAULT_TILES): string {
  let out = `;; Generated by src/kernels/wasm/gen.ts (${
    relaxed ? "relaxed SIMD" : "plain SIMD"
  }); edit that file, then run scripts/build_wasm.ts.
(module
  ;; at least one page: V8 then knows that every offset immediate used (< 64 KiB) is in bounds
  (import "env" "memory" (memory 1 65536 shared))
  ;; outputLoss's count of correct predictions, read by JS after the call (stats may lie outside
  ;; this memory, and returning two values would allocate an array per call)
  (global $correct (export "correct") (mut i32) (i32.const 0))
`;
  for (const d of [F32, F64]) {
    out += hiddenForward(d, relaxed, tiles[d.t]);
    out += biasRelu(d);
    out += outputLogits(d, relaxed);
    out += outputLoss(d, relaxed, tiles[d.t]);
    out += outputBackward(d);
    out += weightGradient(d, relaxed, tiles[d.t]);
    out += accumulate(d);
    out += reduceTree(d);
  }
  return out + ")\n";
}
