// AssemblyScript source of coreg's WebAssembly SIMD kernels (compiled by scripts/build-wasm.mjs into the
// gitignored module src/wasm/kernels-bytes.ts; not part of the TypeScript program).
//
// Every kernel mirrors a TypeScript reference in src/register/sample-kernels.ts and src/metric/histogram.ts
// operation for operation (same f64 operations in the same order, SIMD only where two lanes do the same
// independent operations), so the results are bit-identical to the TypeScript ones.
//
// Memory is managed by the caller (src/wasm/kernels.ts): the module imports a shared memory (an arena that the
// instances of several threads use at once) and every pointer argument is a byte offset into it. The module has no
// static data: each instance is given its own scratch (setScratch). Packed outputs are written from position
// `start`, as in the TypeScript kernels.

// Affine + sampler parameters at `par` (f64): A (d·d), t (d), N (d·d, physical → index), origin (d).

@inline function ld(p: usize, k: i32): f64 {
  return load<f64>(p + (<usize>k << 3));
}

@inline function st(p: usize, k: i32, v: f64): void {
  store<f64>(p + (<usize>k << 3), v);
}

@inline function plane<T>(p: usize, k: i32): f64 {
  return <f64>load<T>(p + (<usize>k << alignof<T>()));
}

/** The index gradient of the last bilinear or cubic sample (bilinear<T>, cubic3d). */
let g0: f64 = 0;
let g1: f64 = 0;
let g2: f64 = 0;

/** Bilinear sample + index gradient, as linear2d. */
@inline function bilinear<T>(data: usize, nx: i32, ny: i32, x: f64, y: f64): f64 {
  if (!(x >= -0.5 && x <= <f64>nx - 0.5 && y >= -0.5 && y <= <f64>ny - 0.5)) return NaN;
  const xf = Math.floor(x);
  const yf = Math.floor(y);
  let x0 = <i32>(xf);
  let y0 = <i32>(yf);
  const fx = x - xf;
  const fy = y - yf;
  let ox = 1;
  let oy = nx;
  if (x0 < 0) {
    x0 = 0;
    ox = 0;
  } else if (x0 >= nx - 1) {
    x0 = nx - 1;
    ox = 0;
  }
  if (y0 < 0) {
    y0 = 0;
    oy = 0;
  } else if (y0 >= ny - 1) {
    y0 = ny - 1;
    oy = 0;
  }
  const b = x0 + nx * y0;
  // lanes: (row y0, row y1)
  const lo = f64x2(plane<T>(data, b), plane<T>(data, b + oy)); // v00, v01
  const hi = f64x2(plane<T>(data, b + ox), plane<T>(data, b + ox + oy)); // v10, v11
  const dd = f64x2.sub(hi, lo);
  const a = f64x2.add(lo, f64x2.mul(f64x2.splat(fx), dd)); // a0, a1
  const a0 = f64x2.extract_lane(a, 0);
  const a1 = f64x2.extract_lane(a, 1);
  g0 = (1 - fy) * f64x2.extract_lane(dd, 0) + fy * f64x2.extract_lane(dd, 1);
  g1 = a1 - a0;
  return a0 + fy * (a1 - a0);
}

/**
 * Scratch for sampleLinear3d's chunks, this instance's own (the memory is shared by the instances of several
 * threads): per sample of a chunk, 4 i32 (base index or −1 outside, ox, oy, oz) then 3 f64 (fx, fy, fz).
 */
const CHUNK = 16;
let scratch: usize = 0;

/** Bytes of scratch an instance needs (setScratch). */
export function scratchBytes(): i32 {
  return CHUNK * 40;
}

/** Gives this instance its scratch: scratchBytes() bytes at p (16-byte aligned) that no other instance uses. */
export function setScratch(p: usize): void {
  scratch = p;
}

/**
 * The corner of voxel (x0, y0, z0) = (⌊x⌋, ⌊y⌋, ⌊z⌋) of an inside point, clamped at the edges as linear3d clamps it,
 * at s: its index, then the offsets to the next voxel along x, y and z (0 at the last one).
 */
@inline function storeCorner(s: usize, x0: i32, y0: i32, z0: i32, nx: i32, ny: i32, nz: i32): void {
  let ox = 1;
  let oy = nx;
  let oz = nx * ny;
  if (x0 < 0) {
    x0 = 0;
    ox = 0;
  } else if (x0 >= nx - 1) {
    x0 = nx - 1;
    ox = 0;
  }
  if (y0 < 0) {
    y0 = 0;
    oy = 0;
  } else if (y0 >= ny - 1) {
    y0 = ny - 1;
    oy = 0;
  }
  if (z0 < 0) {
    z0 = 0;
    oz = 0;
  } else if (z0 >= nz - 1) {
    z0 = nz - 1;
    oz = 0;
  }
  store<i32>(s, x0 + nx * y0 + nx * ny * z0);
  store<i32>(s, ox, 4);
  store<i32>(s, oy, 8);
  store<i32>(s, oz, 12);
}

/**
 * Trilinear sampling as linear3d (src/interpolate/kernels.ts) does it, in two passes for the chunked 3D kernels:
 * locateCell puts sample k's corner index and offsets (−1: outside the plane or NaN) at scratch + 16·k and its
 * fractions at scratch + CHUNK·16 + 24·k, clamped at the edges exactly as linear3d; gatherChunk then loads the
 * eight values and interpolates.
 */
@inline function locateCell(k: i32, x: f64, y: f64, z: f64, nx: i32, ny: i32, nz: i32): void {
  const s: usize = scratch + (<usize>k << 4);
  if (!(x >= -0.5 && x <= <f64>nx - 0.5 && y >= -0.5 && y <= <f64>ny - 0.5 && z >= -0.5 && z <= <f64>nz - 0.5)) {
    store<i32>(s, -1);
    return;
  }
  const xf = Math.floor(x);
  const yf = Math.floor(y);
  const zf = Math.floor(z);
  storeCorner(s, <i32>(xf), <i32>(yf), <i32>(zf), nx, ny, nz);
  const f: usize = scratch + CHUNK * 16 + <usize>k * 24;
  store<f64>(f, x - xf);
  store<f64>(f, y - yf, 8);
  store<f64>(f, z - zf, 16);
}

/**
 * The second pass of a chunk [c0, c1) of the 3D linear kernels (sampleLinear3d, mapSample3dLinear): for each
 * sample the first pass located (scratch: corner index and offsets, −1 outside; fractions after CHUNK·16 bytes),
 * the eight loads and the interpolation of linear3d, then the value (NaN drops the sample, as the TypeScript kernels
 * drop it) and its physical gradient (N from `par`, Nᵀ·index gradient) packed at `valid`, with the sample's index
 * and fixed value. Returns the packed end.
 */
@inline function gatherChunk<T>(data: usize, par: usize, c0: i32, c1: i32, fixed: usize, values: usize, grads: usize, index: usize, fixedPacked: usize, valid: i32): i32 {
  const N0 = ld(par, 12), N1 = ld(par, 13), N2 = ld(par, 14), N3 = ld(par, 15), N4 = ld(par, 16), N5 = ld(par, 17);
  const N6 = ld(par, 18), N7 = ld(par, 19), N8 = ld(par, 20);
  const fractions: usize = scratch + CHUNK * 16;
  for (let i = c0; i < c1; i++) {
    const s: usize = scratch + (<usize>(i - c0) << 4);
    const b = load<i32>(s);
    if (b < 0) continue;
    const ox = load<i32>(s, 4);
    const oy = load<i32>(s, 8);
    const oz = load<i32>(s, 12);
    const f: usize = fractions + <usize>(i - c0) * 24;
    const fx = load<f64>(f);
    const fy = load<f64>(f, 8);
    const fz = load<f64>(f, 16);
    const v000 = plane<T>(data, b);
    const v100 = plane<T>(data, b + ox);
    const v010 = plane<T>(data, b + oy);
    const v110 = plane<T>(data, b + ox + oy);
    const v001 = plane<T>(data, b + oz);
    const v101 = plane<T>(data, b + ox + oz);
    const v011 = plane<T>(data, b + oy + oz);
    const v111 = plane<T>(data, b + ox + oy + oz);
    const a00 = v000 + fx * (v100 - v000);
    const a10 = v010 + fx * (v110 - v010);
    const a01 = v001 + fx * (v101 - v001);
    const a11 = v011 + fx * (v111 - v011);
    const c0v = a00 + fy * (a10 - a00);
    const c1v = a01 + fy * (a11 - a01);
    const v = c0v + fz * (c1v - c0v);
    if (v != v) continue;
    const gy = 1 - fy;
    const gz = 1 - fz;
    const h0 = gz * (gy * (v100 - v000) + fy * (v110 - v010)) + fz * (gy * (v101 - v001) + fy * (v111 - v011));
    const h1 = gz * (a10 - a00) + fz * (a11 - a01);
    const h2 = c1v - c0v;
    st(values, valid, v);
    st(grads, 3 * valid, N0 * h0 + N3 * h1 + N6 * h2);
    st(grads, 3 * valid + 1, N1 * h0 + N4 * h1 + N7 * h2);
    st(grads, 3 * valid + 2, N2 * h0 + N5 * h1 + N8 * h2);
    store<i32>(index + (<usize>valid << 2), i);
    st(fixedPacked, valid, ld(fixed, i));
    valid++;
  }
  return valid;
}

/**
 * sampleMovingLinearRange (3D, trilinear, no moving mask): samples [start, end) at A x + t, packs valid ones
 * from `start` (values, physical gradients, sample index), gathers the fixed values of the packed samples into
 * `fixedPacked`; returns the packed end.
 *
 * Two passes per chunk of CHUNK samples (locateCell's and gatherChunk's operations): the first maps the points
 * and finds each one's voxel, offsets and fractions (the map and the voxel search in f64x2 lanes); the second
 * gathers the eight values and interpolates. The second pass's loads depend on nothing it computes, so the processor can have several
 * samples' cache misses in flight, and each loop keeps fewer values live (measured: about 0.7× the time of
 * the single loop; `npm run bench -- --only kernels`).
 */
@inline function sampleLinear3d<T>(
  data: usize, nx: i32, ny: i32, nz: i32, par: usize, points: usize, fixed: usize, start: i32, end: i32,
  values: usize, grads: usize, index: usize, fixedPacked: usize,
): i32 {
  const xMax = <f64>nx - 0.5;
  const yMax = <f64>ny - 0.5;
  const zMax = <f64>nz - 0.5;
  const fractions: usize = scratch + CHUNK * 16;
  let valid = start;
  for (let c0 = start; c0 < end; c0 += CHUNK) {
    const c1 = min(end, c0 + CHUNK);
    {
      // lanes (x, y) of the map and of the voxel search; z on its own (each lane: the scalar operations in order)
      const Axy0 = f64x2(ld(par, 0), ld(par, 3)), Axy1 = f64x2(ld(par, 1), ld(par, 4)), Axy2 = f64x2(ld(par, 2), ld(par, 5));
      const txy = f64x2(ld(par, 9), ld(par, 10)), oxy = f64x2(ld(par, 21), ld(par, 22));
      const Nxy0 = f64x2(ld(par, 12), ld(par, 15)), Nxy1 = f64x2(ld(par, 13), ld(par, 16)), Nxy2 = f64x2(ld(par, 14), ld(par, 17));
      const A6 = ld(par, 6), A7 = ld(par, 7), A8 = ld(par, 8), t2 = ld(par, 11), o2 = ld(par, 23);
      const N6 = ld(par, 18), N7 = ld(par, 19), N8 = ld(par, 20);
      const lo = f64x2.splat(-0.5);
      const hi = f64x2(xMax, yMax);
      for (let i = c0; i < c1; i++) {
        const s: usize = scratch + (<usize>(i - c0) << 4);
        const p: usize = points + <usize>(24 * i);
        const px = load<f64>(p);
        const py = load<f64>(p, 8);
        const pz = load<f64>(p, 16);
        const dxy = f64x2.sub(f64x2.add(f64x2.add(f64x2.add(f64x2.mul(Axy0, f64x2.splat(px)), f64x2.mul(Axy1, f64x2.splat(py))), f64x2.mul(Axy2, f64x2.splat(pz))), txy), oxy);
        const dz = A6 * px + A7 * py + A8 * pz + t2 - o2;
        const dx = f64x2.extract_lane(dxy, 0);
        const dy = f64x2.extract_lane(dxy, 1);
        const xy = f64x2.add(f64x2.add(f64x2.mul(Nxy0, f64x2.splat(dx)), f64x2.mul(Nxy1, f64x2.splat(dy))), f64x2.mul(Nxy2, f64x2.splat(dz)));
        const z = N6 * dx + N7 * dy + N8 * dz;
        // locateCell's test: outside (or NaN) drops the sample
        if (!(i64x2.all_true(v128.and(f64x2.ge(xy, lo), f64x2.le(xy, hi))) && z >= -0.5 && z <= zMax)) {
          store<i32>(s, -1);
          continue;
        }
        const xyf = f64x2.floor(xy);
        const zf = Math.floor(z);
        const ixy = i32x4.trunc_sat_f64x2_s_zero(xyf);
        storeCorner(s, i32x4.extract_lane(ixy, 0), i32x4.extract_lane(ixy, 1), <i32>(zf), nx, ny, nz);
        const f: usize = fractions + <usize>(i - c0) * 24;
        v128.store(f, f64x2.sub(xy, xyf));
        store<f64>(f, z - zf, 16);
      }
    }
    valid = gatherChunk<T>(data, par, c0, c1, fixed, values, grads, index, fixedPacked, valid);
  }
  return valid;
}

@inline function sampleLinear2d<T>(
  data: usize, nx: i32, ny: i32, par: usize, points: usize, fixed: usize, start: i32, end: i32,
  values: usize, grads: usize, index: usize, fixedPacked: usize,
): i32 {
  const A0 = ld(par, 0), A1 = ld(par, 1), A2 = ld(par, 2), A3 = ld(par, 3), t0 = ld(par, 4), t1 = ld(par, 5);
  const N0 = ld(par, 6), N1 = ld(par, 7), N2 = ld(par, 8), N3 = ld(par, 9), o0 = ld(par, 10), o1 = ld(par, 11);
  let valid = start;
  for (let i = start; i < end; i++) {
    const px = ld(points, 2 * i);
    const py = ld(points, 2 * i + 1);
    const dx = A0 * px + A1 * py + t0 - o0;
    const dy = A2 * px + A3 * py + t1 - o1;
    const x = N0 * dx + N1 * dy;
    const y = N2 * dx + N3 * dy;
    const v = bilinear<T>(data, nx, ny, x, y);
    if (v != v) continue;
    st(values, valid, v);
    st(grads, 2 * valid, N0 * g0 + N2 * g1);
    st(grads, 2 * valid + 1, N1 * g0 + N3 * g1);
    store<i32>(index + (<usize>valid << 2), i);
    st(fixedPacked, valid, ld(fixed, i));
    valid++;
  }
  return valid;
}

export function sampleLinear3dF32(data: usize, nx: i32, ny: i32, nz: i32, par: usize, points: usize, fixed: usize, start: i32, end: i32, values: usize, grads: usize, index: usize, fixedPacked: usize): i32 {
  return sampleLinear3d<f32>(data, nx, ny, nz, par, points, fixed, start, end, values, grads, index, fixedPacked);
}
export function sampleLinear3dF64(data: usize, nx: i32, ny: i32, nz: i32, par: usize, points: usize, fixed: usize, start: i32, end: i32, values: usize, grads: usize, index: usize, fixedPacked: usize): i32 {
  return sampleLinear3d<f64>(data, nx, ny, nz, par, points, fixed, start, end, values, grads, index, fixedPacked);
}
export function sampleLinear2dF32(data: usize, nx: i32, ny: i32, par: usize, points: usize, fixed: usize, start: i32, end: i32, values: usize, grads: usize, index: usize, fixedPacked: usize): i32 {
  return sampleLinear2d<f32>(data, nx, ny, par, points, fixed, start, end, values, grads, index, fixedPacked);
}
export function sampleLinear2dF64(data: usize, nx: i32, ny: i32, par: usize, points: usize, fixed: usize, start: i32, end: i32, values: usize, grads: usize, index: usize, fixedPacked: usize): i32 {
  return sampleLinear2d<f64>(data, nx, ny, par, points, fixed, start, end, values, grads, index, fixedPacked);
}

/**
 * accumulateMomentsRange: G (d × (d+1) at `G`) = Σ_k w_k g_k [x_k; 1]ᵀ over packed samples [start, end).
 * Each row is two f64x2 lanes (columns 0–1, 2–3); lane operations are the scalar ones, so the sums match.
 */
export function moments3d(start: i32, end: i32, dValue: usize, grads: usize, index: usize, points: usize, G: usize): void {
  let r00 = f64x2.splat(0), r01 = f64x2.splat(0);
  let r10 = f64x2.splat(0), r11 = f64x2.splat(0);
  let r20 = f64x2.splat(0), r21 = f64x2.splat(0);
  for (let k = start; k < end; k++) {
    const s = ld(dValue, k);
    if (s == 0) continue;
    const i = load<i32>(index + (<usize>k << 2));
    const pa = v128.load(points + (<usize>(3 * i) << 3)); // x, y
    const pb = f64x2(ld(points, 3 * i + 2), 1); // z, 1
    const v0 = f64x2.splat(s * ld(grads, 3 * k));
    const v1 = f64x2.splat(s * ld(grads, 3 * k + 1));
    const v2 = f64x2.splat(s * ld(grads, 3 * k + 2));
    r00 = f64x2.add(r00, f64x2.mul(v0, pa));
    r01 = f64x2.add(r01, f64x2.mul(v0, pb));
    r10 = f64x2.add(r10, f64x2.mul(v1, pa));
    r11 = f64x2.add(r11, f64x2.mul(v1, pb));
    r20 = f64x2.add(r20, f64x2.mul(v2, pa));
    r21 = f64x2.add(r21, f64x2.mul(v2, pb));
  }
  v128.store(G, r00);
  v128.store(G + 16, r01);
  v128.store(G + 32, r10);
  v128.store(G + 48, r11);
  v128.store(G + 64, r20);
  v128.store(G + 80, r21);
}

/** moments3d in 2D: G is 2 × 3 (row: x, y, 1). */
export function moments2d(start: i32, end: i32, dValue: usize, grads: usize, index: usize, points: usize, G: usize): void {
  let r0 = f64x2.splat(0), r1 = f64x2.splat(0);
  let s0: f64 = 0, s1: f64 = 0;
  for (let k = start; k < end; k++) {
    const s = ld(dValue, k);
    if (s == 0) continue;
    const i = load<i32>(index + (<usize>k << 2));
    const p = v128.load(points + (<usize>(2 * i) << 3));
    const v0 = s * ld(grads, 2 * k);
    const v1 = s * ld(grads, 2 * k + 1);
    r0 = f64x2.add(r0, f64x2.mul(f64x2.splat(v0), p));
    r1 = f64x2.add(r1, f64x2.mul(f64x2.splat(v1), p));
    s0 += v0;
    s1 += v1;
  }
  v128.store(G, r0);
  st(G, 2, s0);
  v128.store(G + 24, r1);
  st(G, 5, s1);
}

/**
 * The Mattes Parzen joint histogram of histogram.ts (accumulateHistogram, weights all 1): compensated sums
 * [hi (B² + 1), lo (B² + 1)] at `sums` (zeroed by the caller), over samples [start, end) of f and m. The four
 * moving bins of a sample are updated as two f64x2 two-sums (bins are distinct, so the order does not matter).
 * `par`: fixedMin, fixedScale, movingMin, movingScale.
 */
export function histogramAccumulate(B: i32, par: usize, f: usize, m: usize, start: i32, end: i32, sums: usize): void {
  const lastBin = B - 1;
  const uMax = <f64>(B - 2);
  const baseMax = B - 3;
  const fMin = ld(par, 0), fScale = ld(par, 1), mMin = ld(par, 2), mScale = ld(par, 3);
  const BB = B * B;
  const lo: usize = sums + (<usize>(BB + 1) << 3);
  let sw = ld(sums, BB);
  let cw = ld(lo, BB);
  for (let i = start; i < end; i++) {
    let row = <i32>(Math.floor((ld(f, i) - fMin) * fScale));
    if (row < 0) row = 0;
    else if (row > lastBin) row = lastBin;
    let u = 1 + (ld(m, i) - mMin) * mScale;
    if (u < 1) u = 1;
    else if (u > uMax) u = uMax;
    let base = <i32>(Math.floor(u));
    if (base > baseMax) base = baseMax;
    const t = u - <f64>base;
    const t2 = t * t;
    const t3 = t2 * t;
    const r = 1 - t;
    const x0 = (1 * (r * r * r)) / 6;
    const x1 = (1 * (3 * t3 - 6 * t2 + 4)) / 6;
    const x2 = (1 * (-3 * t3 + 3 * t2 + 3 * t + 1)) / 6;
    const x3 = (1 * t3) / 6;
    const off: usize = <usize>(row * B + base - 1) << 3;
    const pa = sums + off;
    const pl = lo + off;
    let x = f64x2(x0, x1);
    let a = v128.load(pa);
    let sum = f64x2.add(a, x);
    let z = f64x2.sub(sum, a);
    v128.store(pl, f64x2.add(v128.load(pl), f64x2.add(f64x2.sub(a, f64x2.sub(sum, z)), f64x2.sub(x, z))));
    v128.store(pa, sum);
    x = f64x2(x2, x3);
    a = v128.load(pa + 16);
    sum = f64x2.add(a, x);
    z = f64x2.sub(sum, a);
    v128.store(pl + 16, f64x2.add(v128.load(pl + 16), f64x2.add(f64x2.sub(a, f64x2.sub(sum, z)), f64x2.sub(x, z))));
    v128.store(pa + 16, sum);
    const s = sw + 1;
    const zz = s - sw;
    cw += sw - (s - zz) + (1 - zz);
    sw = s;
  }
  st(sums, BB, sw);
  st(lo, BB, cw);
}

/**
 * histogramDerivative (weights all 1): out[i] = ∂cost/∂m_i from the B × B table finalize wrote at `table`.
 * Two samples per step in f64x2 lanes (each lane the scalar operations in the same order; conversions and clamps
 * branch-free, a lane outside the moving range computes with clamped bins and is then replaced by 0), then the
 * odd last sample on its own.
 */
export function histogramDerivative(B: i32, par: usize, table: usize, f: usize, m: usize, start: i32, end: i32, out: usize): void {
  const lastBin = B - 1;
  const uMax = <f64>(B - 2);
  const baseMax = B - 3;
  const fMin = ld(par, 0), fScale = ld(par, 1), mMin = ld(par, 2), mScale = ld(par, 3);
  const one = f64x2.splat(1);
  const vUMax = f64x2.splat(uMax);
  const vMMin = f64x2.splat(mMin);
  const vMScale = f64x2.splat(mScale);
  const vFMin = f64x2.splat(fMin);
  const vFScale = f64x2.splat(fScale);
  const iZero = i32x4.splat(0);
  const iOne = i32x4.splat(1);
  const iLast = i32x4.splat(lastBin);
  const iBaseMax = i32x4.splat(baseMax);
  const iB = i32x4.splat(B);
  const zero = f64x2.splat(0);
  let i = start;
  for (; i + 1 < end; i += 2) {
    const u = f64x2.add(one, f64x2.mul(f64x2.sub(v128.load(m + (<usize>i << 3)), vMMin), vMScale));
    const inside = v128.and(f64x2.ge(u, one), f64x2.le(u, vUMax));
    const rows = i32x4.min_s(i32x4.max_s(i32x4.trunc_sat_f64x2_s_zero(f64x2.floor(f64x2.mul(f64x2.sub(v128.load(f + (<usize>i << 3)), vFMin), vFScale))), iZero), iLast);
    const bases = i32x4.max_s(i32x4.min_s(i32x4.trunc_sat_f64x2_s_zero(f64x2.floor(u)), iBaseMax), iOne);
    const k0 = i32x4.sub(i32x4.add(i32x4.mul(rows, iB), bases), iOne);
    const pa: usize = table + (<usize>i32x4.extract_lane(k0, 0) << 3);
    const pb: usize = table + (<usize>i32x4.extract_lane(k0, 1) << 3);
    const T0 = v128.load64_lane(pb, v128.load64_zero(pa), 1);
    const T1 = v128.load64_lane(pb, v128.load64_zero(pa, 8), 1, 8);
    const T2 = v128.load64_lane(pb, v128.load64_zero(pa, 16), 1, 16);
    const T3 = v128.load64_lane(pb, v128.load64_zero(pa, 24), 1, 24);
    const t = f64x2.sub(u, f64x2.convert_low_i32x4_s(bases));
    const t2 = f64x2.mul(t, t);
    const r = f64x2.sub(one, t);
    const d0 = f64x2.mul(f64x2.mul(f64x2.mul(f64x2.splat(-0.5), r), r), T0);
    const d1 = f64x2.mul(f64x2.sub(f64x2.mul(f64x2.splat(1.5), t2), f64x2.mul(f64x2.splat(2), t)), T1);
    const d2 = f64x2.mul(f64x2.add(f64x2.add(f64x2.mul(f64x2.splat(-1.5), t2), t), f64x2.splat(0.5)), T2);
    const d3 = f64x2.mul(f64x2.mul(f64x2.splat(0.5), t2), T3);
    v128.store(out + (<usize>i << 3), v128.bitselect(f64x2.add(f64x2.add(f64x2.add(d0, d1), d2), d3), zero, inside));
  }
  for (; i < end; i++) {
    const u = 1 + (ld(m, i) - mMin) * mScale;
    if (!(u >= 1 && u <= uMax)) {
      st(out, i, 0);
      continue;
    }
    let row = <i32>(Math.floor((ld(f, i) - fMin) * fScale));
    if (row < 0) row = 0;
    else if (row > lastBin) row = lastBin;
    let base = <i32>(Math.floor(u));
    if (base > baseMax) base = baseMax;
    const t = u - <f64>base;
    const t2 = t * t;
    const r = 1 - t;
    const k0 = row * B + base - 1;
    const d = -0.5 * r * r * ld(table, k0) + (1.5 * t2 - 2 * t) * ld(table, k0 + 1) + (-1.5 * t2 + t + 0.5) * ld(table, k0 + 2) + 0.5 * t2 * ld(table, k0 + 3);
    st(out, i, 1 * d);
  }
}

// --- B-spline transform (sample-kernels.ts: mapAndSample3d, scatter3d; interpolate/bspline.ts: bspline3d) -----

@inline function mirror(k: i32, n: i32): i32 {
  if (k >= 0 && k < n) return k;
  if (n == 1) return 0;
  const period = 2 * n - 2;
  let m = k % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

/** Cubic B-spline value + index gradient (g0..g2) from the coefficients `coef` (f64), as bspline3d. */
@inline function cubic3d(coef: usize, nx: i32, ny: i32, nz: i32, x: f64, y: f64, z: f64): f64 {
  if (!(x >= -0.5 && x <= <f64>nx - 0.5 && y >= -0.5 && y <= <f64>ny - 0.5 && z >= -0.5 && z <= <f64>nz - 0.5)) return NaN;
  const fx = Math.floor(x);
  const fy = Math.floor(y);
  const fz = Math.floor(z);
  let t = x - fx;
  let s = 1 - t;
  let t2 = t * t;
  let t3 = t2 * t;
  // x weights and derivatives side by side: lanes (value, derivative)
  const wd0 = f64x2((s * s * s) / 6, -0.5 * s * s);
  const wd1 = f64x2((4 - 6 * t2 + 3 * t3) / 6, -2 * t + 1.5 * t2);
  const wd2 = f64x2((1 + 3 * t + 3 * t2 - 3 * t3) / 6, 0.5 + t - 1.5 * t2);
  const wd3 = f64x2(t3 / 6, 0.5 * t2);
  t = y - fy;
  s = 1 - t;
  t2 = t * t;
  t3 = t2 * t;
  const wy0 = (s * s * s) / 6;
  const wy1 = (4 - 6 * t2 + 3 * t3) / 6;
  const wy2 = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  const wy3 = t3 / 6;
  // y: lanes (value weight, derivative weight)
  const yd0 = f64x2(wy0, -0.5 * s * s);
  const yd1 = f64x2(wy1, -2 * t + 1.5 * t2);
  const yd2 = f64x2(wy2, 0.5 + t - 1.5 * t2);
  const yd3 = f64x2(wy3, 0.5 * t2);
  t = z - fz;
  s = 1 - t;
  t2 = t * t;
  t3 = t2 * t;
  const wz0 = (s * s * s) / 6;
  const wz1 = (4 - 6 * t2 + 3 * t3) / 6;
  const wz2 = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  const wz3 = t3 / 6;
  const dz0 = -0.5 * s * s;
  const dz1 = -2 * t + 1.5 * t2;
  const dz2 = 0.5 + t - 1.5 * t2;
  const dz3 = 0.5 * t2;
  const ix = <i32>fx;
  const iy = <i32>fy;
  const iz = <i32>fz;
  let i0 = ix - 1, i1 = ix, i2 = ix + 1, i3 = ix + 2;
  if (i0 < 0 || i3 >= nx) {
    i0 = mirror(i0, nx);
    i1 = mirror(i1, nx);
    i2 = mirror(i2, nx);
    i3 = mirror(i3, nx);
  }
  let j0 = iy - 1, j1 = iy, j2 = iy + 1, j3 = iy + 2;
  if (j0 < 0 || j3 >= ny) {
    j0 = mirror(j0, ny);
    j1 = mirror(j1, ny);
    j2 = mirror(j2, ny);
    j3 = mirror(j3, ny);
  }
  let k0 = iz - 1, k1 = iz, k2 = iz + 1, k3 = iz + 2;
  if (k0 < 0 || k3 >= nz) {
    k0 = mirror(k0, nz);
    k1 = mirror(k1, nz);
    k2 = mirror(k2, nz);
    k3 = mirror(k3, nz);
  }
  const nxy = nx * ny;
  j0 *= nx;
  j1 *= nx;
  j2 *= nx;
  j3 *= nx;
  // lanes (v, gy) and scalars gx, gz, accumulated over the four z slices in order
  let vgy = f64x2.splat(0);
  let gx: f64 = 0;
  let gz: f64 = 0;
  for (let c = 0; c < 4; c++) {
    const slice = (c == 0 ? k0 : c == 1 ? k1 : c == 2 ? k2 : k3) * nxy;
    const wz = c == 0 ? wz0 : c == 1 ? wz1 : c == 2 ? wz2 : wz3;
    const dzc = c == 0 ? dz0 : c == 1 ? dz1 : c == 2 ? dz2 : dz3;
    // each row: lanes (v_r, d_r) = Σ_a (wx_a, dx_a)·coef
    let r = slice + j0;
    const vd0 = f64x2.add(f64x2.add(f64x2.add(f64x2.mul(wd0, f64x2.splat(ld(coef, r + i0))), f64x2.mul(wd1, f64x2.splat(ld(coef, r + i1)))), f64x2.mul(wd2, f64x2.splat(ld(coef, r + i2)))), f64x2.mul(wd3, f64x2.splat(ld(coef, r + i3))));
    r = slice + j1;
    const vd1 = f64x2.add(f64x2.add(f64x2.add(f64x2.mul(wd0, f64x2.splat(ld(coef, r + i0))), f64x2.mul(wd1, f64x2.splat(ld(coef, r + i1)))), f64x2.mul(wd2, f64x2.splat(ld(coef, r + i2)))), f64x2.mul(wd3, f64x2.splat(ld(coef, r + i3))));
    r = slice + j2;
    const vd2 = f64x2.add(f64x2.add(f64x2.add(f64x2.mul(wd0, f64x2.splat(ld(coef, r + i0))), f64x2.mul(wd1, f64x2.splat(ld(coef, r + i1)))), f64x2.mul(wd2, f64x2.splat(ld(coef, r + i2)))), f64x2.mul(wd3, f64x2.splat(ld(coef, r + i3))));
    r = slice + j3;
    const vd3 = f64x2.add(f64x2.add(f64x2.add(f64x2.mul(wd0, f64x2.splat(ld(coef, r + i0))), f64x2.mul(wd1, f64x2.splat(ld(coef, r + i1)))), f64x2.mul(wd2, f64x2.splat(ld(coef, r + i2)))), f64x2.mul(wd3, f64x2.splat(ld(coef, r + i3))));
    const v0 = f64x2.extract_lane(vd0, 0), v1 = f64x2.extract_lane(vd1, 0), v2 = f64x2.extract_lane(vd2, 0), v3 = f64x2.extract_lane(vd3, 0);
    // lanes (pv, Σ dy·v)
    const pg = f64x2.add(f64x2.add(f64x2.add(f64x2.mul(yd0, f64x2.splat(v0)), f64x2.mul(yd1, f64x2.splat(v1))), f64x2.mul(yd2, f64x2.splat(v2))), f64x2.mul(yd3, f64x2.splat(v3)));
    vgy = f64x2.add(vgy, f64x2.mul(f64x2.splat(wz), pg));
    gx += wz * (wy0 * f64x2.extract_lane(vd0, 1) + wy1 * f64x2.extract_lane(vd1, 1) + wy2 * f64x2.extract_lane(vd2, 1) + wy3 * f64x2.extract_lane(vd3, 1));
    gz += dzc * f64x2.extract_lane(pg, 0);
  }
  g0 = gx;
  g1 = f64x2.extract_lane(vgy, 1);
  g2 = gz;
  return f64x2.extract_lane(vgy, 0);
}

/** splineShift's result: u(x) of sample i (zero outside the grid). */
let ux: f64 = 0;
let uy: f64 = 0;
let uz: f64 = 0;

/**
 * u(x_i) from the interleaved coefficients cI (d per control point) over the sample's 4³ support (first control
 * point bases[i], separable f32 weights W[12 i …]), into ux, uy, uz: mapAndSample3d's sums in its order.
 */
@inline function splineShift(bases: usize, W: usize, cI: usize, gnx: i32, gnxy: i32, i: i32): void {
  let uxy = f64x2.splat(0);
  let sz: f64 = 0;
  const base = load<i32>(bases + (<usize>i << 2));
  if (base >= 0) {
    const o: usize = W + (<usize>(12 * i) << 2);
    const wx0 = <f64>load<f32>(o), wx1 = <f64>load<f32>(o, 4), wx2 = <f64>load<f32>(o, 8), wx3 = <f64>load<f32>(o, 12);
    for (let kz = 0; kz < 4; kz++) {
      const wz = <f64>load<f32>(o + 32 + (<usize>kz << 2));
      for (let ky = 0; ky < 4; ky++) {
        const wyz = wz * <f64>load<f32>(o + 16 + (<usize>ky << 2));
        const r = 3 * (base + kz * gnxy + ky * gnx);
        const w0 = wyz * wx0;
        const w1 = wyz * wx1;
        const w2 = wyz * wx2;
        const w3 = wyz * wx3;
        const p: usize = cI + (<usize>r << 3);
        // lanes (ux, uy): Σ w·(cI[r], cI[r+1]) over the row, added to the running sums as the reference does
        uxy = f64x2.add(uxy, f64x2.add(f64x2.add(f64x2.add(f64x2.mul(f64x2.splat(w0), v128.load(p)), f64x2.mul(f64x2.splat(w1), v128.load(p, 24))), f64x2.mul(f64x2.splat(w2), v128.load(p, 48))), f64x2.mul(f64x2.splat(w3), v128.load(p, 72))));
        sz += w0 * load<f64>(p, 16) + w1 * load<f64>(p, 40) + w2 * load<f64>(p, 64) + w3 * load<f64>(p, 88);
      }
    }
  }
  ux = f64x2.extract_lane(uxy, 0);
  uy = f64x2.extract_lane(uxy, 1);
  uz = sz;
}

/**
 * mapAndSample3d with the cubic B-spline moving image: y = A (x + u(x)) + t (u: splineShift), then the moving
 * value and physical gradient at y, packed from `start` with the fixed values gathered. `par`: A (9), t (3),
 * N (9), origin (3).
 */
@inline function mapSample3dCubicAt(
  data: usize, nx: i32, ny: i32, nz: i32, par: usize, points: usize, bases: usize, W: usize, cI: usize, gnx: i32, gnxy: i32,
  fixed: usize, start: i32, end: i32, values: usize, grads: usize, index: usize, fixedPacked: usize,
): i32 {
  const A0 = ld(par, 0), A1 = ld(par, 1), A2 = ld(par, 2), A3 = ld(par, 3), A4 = ld(par, 4), A5 = ld(par, 5);
  const A6 = ld(par, 6), A7 = ld(par, 7), A8 = ld(par, 8), t0 = ld(par, 9), t1 = ld(par, 10), t2 = ld(par, 11);
  const N0 = ld(par, 12), N1 = ld(par, 13), N2 = ld(par, 14), N3 = ld(par, 15), N4 = ld(par, 16), N5 = ld(par, 17);
  const N6 = ld(par, 18), N7 = ld(par, 19), N8 = ld(par, 20), o0 = ld(par, 21), o1 = ld(par, 22), o2 = ld(par, 23);
  let valid = start;
  for (let i = start; i < end; i++) {
    splineShift(bases, W, cI, gnx, gnxy, i);
    const px = ld(points, 3 * i) + ux;
    const py = ld(points, 3 * i + 1) + uy;
    const pz = ld(points, 3 * i + 2) + uz;
    const dx = A0 * px + A1 * py + A2 * pz + t0 - o0;
    const dy = A3 * px + A4 * py + A5 * pz + t1 - o1;
    const dz = A6 * px + A7 * py + A8 * pz + t2 - o2;
    const x = N0 * dx + N1 * dy + N2 * dz;
    const y = N3 * dx + N4 * dy + N5 * dz;
    const z = N6 * dx + N7 * dy + N8 * dz;
    const v = cubic3d(data, nx, ny, nz, x, y, z);
    if (v != v) continue;
    st(values, valid, v);
    st(grads, 3 * valid, N0 * g0 + N3 * g1 + N6 * g2);
    st(grads, 3 * valid + 1, N1 * g0 + N4 * g1 + N7 * g2);
    st(grads, 3 * valid + 2, N2 * g0 + N5 * g1 + N8 * g2);
    store<i32>(index + (<usize>valid << 2), i);
    st(fixedPacked, valid, ld(fixed, i));
    valid++;
  }
  return valid;
}

/**
 * mapAndSample3d with a linear moving plane (f32 or f64): the cubic path's mapping, then trilinear sampling in
 * two passes per chunk of CHUNK samples, as sampleLinear3d splits it: the first maps the points (the B-spline
 * sums) and locates each one's cell (locateCell); the second gathers the eight values and interpolates
 * (gatherChunk). In one loop the moving image's cache misses of a sample waited behind its 64-term
 * B-spline sums; the second pass's loads depend on nothing it computes, so several samples' misses are in flight.
 */
@inline function mapSample3dLinear<T>(
  data: usize, nx: i32, ny: i32, nz: i32, par: usize, points: usize, bases: usize, W: usize, cI: usize, gnx: i32, gnxy: i32,
  fixed: usize, start: i32, end: i32, values: usize, grads: usize, index: usize, fixedPacked: usize,
): i32 {
  const A0 = ld(par, 0), A1 = ld(par, 1), A2 = ld(par, 2), A3 = ld(par, 3), A4 = ld(par, 4), A5 = ld(par, 5);
  const A6 = ld(par, 6), A7 = ld(par, 7), A8 = ld(par, 8), t0 = ld(par, 9), t1 = ld(par, 10), t2 = ld(par, 11);
  const N0 = ld(par, 12), N1 = ld(par, 13), N2 = ld(par, 14), N3 = ld(par, 15), N4 = ld(par, 16), N5 = ld(par, 17);
  const N6 = ld(par, 18), N7 = ld(par, 19), N8 = ld(par, 20), o0 = ld(par, 21), o1 = ld(par, 22), o2 = ld(par, 23);
  let valid = start;
  for (let c0 = start; c0 < end; c0 += CHUNK) {
    const c1 = min(end, c0 + CHUNK);
    for (let i = c0; i < c1; i++) {
      splineShift(bases, W, cI, gnx, gnxy, i);
      const px = ld(points, 3 * i) + ux;
      const py = ld(points, 3 * i + 1) + uy;
      const pz = ld(points, 3 * i + 2) + uz;
      const dx = A0 * px + A1 * py + A2 * pz + t0 - o0;
      const dy = A3 * px + A4 * py + A5 * pz + t1 - o1;
      const dz = A6 * px + A7 * py + A8 * pz + t2 - o2;
      const x = N0 * dx + N1 * dy + N2 * dz;
      const y = N3 * dx + N4 * dy + N5 * dz;
      const z = N6 * dx + N7 * dy + N8 * dz;
      locateCell(i - c0, x, y, z, nx, ny, nz);
    }
    valid = gatherChunk<T>(data, par, c0, c1, fixed, values, grads, index, fixedPacked, valid);
  }
  return valid;
}

export function mapSample3dCubic(data: usize, nx: i32, ny: i32, nz: i32, par: usize, points: usize, bases: usize, W: usize, cI: usize, gnx: i32, gnxy: i32, fixed: usize, start: i32, end: i32, values: usize, grads: usize, index: usize, fixedPacked: usize): i32 {
  return mapSample3dCubicAt(data, nx, ny, nz, par, points, bases, W, cI, gnx, gnxy, fixed, start, end, values, grads, index, fixedPacked);
}
export function mapSample3dLinearF32(data: usize, nx: i32, ny: i32, nz: i32, par: usize, points: usize, bases: usize, W: usize, cI: usize, gnx: i32, gnxy: i32, fixed: usize, start: i32, end: i32, values: usize, grads: usize, index: usize, fixedPacked: usize): i32 {
  return mapSample3dLinear<f32>(data, nx, ny, nz, par, points, bases, W, cI, gnx, gnxy, fixed, start, end, values, grads, index, fixedPacked);
}
export function mapSample3dLinearF64(data: usize, nx: i32, ny: i32, nz: i32, par: usize, points: usize, bases: usize, W: usize, cI: usize, gnx: i32, gnxy: i32, fixed: usize, start: i32, end: i32, values: usize, grads: usize, index: usize, fixedPacked: usize): i32 {
  return mapSample3dLinear<f64>(data, nx, ny, nz, par, points, bases, W, cI, gnx, gnxy, fixed, start, end, values, grads, index, fixedPacked);
}

/**
 * scatter3d: gI[o0 + …] (interleaved) += Σ_k β(x_k) Aᵀ (∂cost/∂m_k ∇M_k) over packed samples [start, end).
 * The 12 values of a row (4 control points × 3) are updated as six f64x2 lanes. `par`: A (9).
 */
export function scatter3d(start: i32, end: i32, dv: usize, G: usize, index: usize, bases: usize, W: usize, par: usize, gnx: i32, gnxy: i32, gI: usize): void {
  const A0 = ld(par, 0), A1 = ld(par, 1), A2 = ld(par, 2), A3 = ld(par, 3), A4 = ld(par, 4), A5 = ld(par, 5);
  const A6 = ld(par, 6), A7 = ld(par, 7), A8 = ld(par, 8);
  for (let k = start; k < end; k++) {
    const s = ld(dv, k);
    if (s == 0) continue;
    const i = load<i32>(index + (<usize>k << 2));
    const base = load<i32>(bases + (<usize>i << 2));
    if (base < 0) continue;
    const gx = s * ld(G, 3 * k);
    const gy = s * ld(G, 3 * k + 1);
    const gz = s * ld(G, 3 * k + 2);
    const vx = A0 * gx + A3 * gy + A6 * gz;
    const vy = A1 * gx + A4 * gy + A7 * gz;
    const vz = A2 * gx + A5 * gy + A8 * gz;
    const vxy = f64x2(vx, vy);
    const vzx = f64x2(vz, vx);
    const vyz = f64x2(vy, vz);
    const o: usize = W + (<usize>(12 * i) << 2);
    const wx0 = <f64>load<f32>(o), wx1 = <f64>load<f32>(o, 4), wx2 = <f64>load<f32>(o, 8), wx3 = <f64>load<f32>(o, 12);
    for (let kz = 0; kz < 4; kz++) {
      const wz = <f64>load<f32>(o + 32 + (<usize>kz << 2));
      for (let ky = 0; ky < 4; ky++) {
        const wyz = wz * <f64>load<f32>(o + 16 + (<usize>ky << 2));
        const p: usize = gI + (<usize>(3 * (base + kz * gnxy + ky * gnx)) << 3);
        const w0 = wyz * wx0;
        const w1 = wyz * wx1;
        const w2 = wyz * wx2;
        const w3 = wyz * wx3;
        v128.store(p, f64x2.add(v128.load(p), f64x2.mul(f64x2.splat(w0), vxy)));
        v128.store(p, f64x2.add(v128.load(p, 16), f64x2.mul(f64x2(w0, w1), vzx)), 16);
        v128.store(p, f64x2.add(v128.load(p, 32), f64x2.mul(f64x2.splat(w1), vyz)), 32);
        v128.store(p, f64x2.add(v128.load(p, 48), f64x2.mul(f64x2.splat(w2), vxy)), 48);
        v128.store(p, f64x2.add(v128.load(p, 64), f64x2.mul(f64x2(w2, w3), vzx)), 64);
        v128.store(p, f64x2.add(v128.load(p, 80), f64x2.mul(f64x2.splat(w3), vyz)), 80);
      }
    }
  }
}

/** The range [lo, hi] of the first supporting control points of packed samples [start, end) (hi < 0: none). */
let rangeLo: i32 = 0;
export function supportRange(start: i32, end: i32, index: usize, bases: usize): i32 {
  let lo = 0x7fffffff;
  let hi = -1;
  for (let k = start; k < end; k++) {
    const base = load<i32>(bases + (<usize>load<i32>(index + (<usize>k << 2)) << 2));
    if (base < 0) continue;
    if (base < lo) lo = base;
    if (base > hi) hi = base;
  }
  rangeLo = lo;
  return hi;
}
export function supportRangeLo(): i32 {
  return rangeLo;
}
