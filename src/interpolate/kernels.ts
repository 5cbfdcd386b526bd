/**
 * Hot-loop interpolation kernels over one scalar plane of pixels (x fastest), at a continuous INDEX.
 *
 * Domain (ITK v4's IsInsideBuffer): a point is inside iff −0.5 ≤ ci ≤ size − 0.5 on every axis. Outside, the
 * kernels return NaN and, when `grad` is given, fill it with 0. Inside, neighbours beyond the edge are clamped
 * to the edge pixel, so the value is extended as a constant across the outer half pixel (gradient 0 there
 * along that axis).
 *
 * `grad` (optional) receives the gradient in index units: ∂/∂x, ∂/∂y[, ∂/∂z]. Nearest is piecewise constant, so
 * its gradient is 0. Linear and barycentric gradients are those of the cell (or simplex) holding the point,
 * taken from floor(ci), so they jump across cell borders.
 *
 * These are plain monomorphic functions meant to be called per sample: callers pass Float32Array or Float64Array
 * planes (see `interpolationPlane`) so that the element access stays monomorphic; no call allocates.
 */

/** The planes the kernels read: float32 or float64 pixel values, one component, x fastest. */
export type Plane = Float32Array | Float64Array;

function outside2d(grad: Float64Array | undefined): number {
  if (grad) {
    grad[0] = 0;
    grad[1] = 0;
  }
  return NaN;
}

function outside3d(grad: Float64Array | undefined): number {
  if (grad) {
    grad[0] = 0;
    grad[1] = 0;
    grad[2] = 0;
  }
  return NaN;
}

/** Linear pixel index of the nearest pixel (round half up, clamped to the edge), or −1 outside the domain. */
export function nearestIndex2d(nx: number, ny: number, x: number, y: number): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5)) return -1;
  let i = Math.floor(x + 0.5);
  let j = Math.floor(y + 0.5);
  if (i > nx - 1) i = nx - 1;
  if (j > ny - 1) j = ny - 1;
  return i + nx * j;
}

/** Linear pixel index of the nearest voxel (round half up, clamped to the edge), or −1 outside the domain. */
export function nearestIndex3d(nx: number, ny: number, nz: number, x: number, y: number, z: number): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5 && z >= -0.5 && z <= nz - 0.5)) return -1;
  let i = Math.floor(x + 0.5);
  let j = Math.floor(y + 0.5);
  let k = Math.floor(z + 0.5);
  if (i > nx - 1) i = nx - 1;
  if (j > ny - 1) j = ny - 1;
  if (k > nz - 1) k = nz - 1;
  return i + nx * (j + ny * k);
}

/*
 * The clamping branches below (a point in the last half voxel) assign no arithmetic result: x0 is nx − 1 there
 * already, since x ≤ nx − 0.5. A rarely taken branch that computed one would be met by V8's optimised code without
 * type feedback for it, and discard that code (for the interpolators called per sample, in every level).
 */

/** Bilinear interpolation. */
export function linear2d(data: Plane, nx: number, ny: number, x: number, y: number, grad?: Float64Array): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5)) return outside2d(grad);
  let x0 = Math.floor(x);
  let y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  // Offsets to the +1 neighbour; 0 where that neighbour would lie beyond the edge (clamping).
  let ox = 1;
  let oy = nx;
  if (x0 < 0) {
    x0 = 0;
    ox = 0;
  } else if (x0 >= nx - 1) {
    // x0 is nx − 1 here (x ≤ nx − 0.5; see the note above linear2d)
    ox = 0;
  }
  if (y0 < 0) {
    y0 = 0;
    oy = 0;
  } else if (y0 >= ny - 1) {
    // y0 is ny − 1 here (y ≤ ny − 0.5; see the note above linear2d)
    oy = 0;
  }
  const b = x0 + nx * y0;
  const v00 = data[b];
  const v10 = data[b + ox];
  const v01 = data[b + oy];
  const v11 = data[b + ox + oy];
  const a0 = v00 + fx * (v10 - v00);
  const a1 = v01 + fx * (v11 - v01);
  if (grad) {
    grad[0] = (1 - fy) * (v10 - v00) + fy * (v11 - v01);
    grad[1] = a1 - a0;
  }
  return a0 + fy * (a1 - a0);
}

/** Trilinear interpolation. */
export function linear3d(data: Plane, nx: number, ny: number, nz: number, x: number, y: number, z: number, grad?: Float64Array): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5 && z >= -0.5 && z <= nz - 0.5)) return outside3d(grad);
  let x0 = Math.floor(x);
  let y0 = Math.floor(y);
  let z0 = Math.floor(z);
  const fx = x - x0;
  const fy = y - y0;
  const fz = z - z0;
  const nxy = nx * ny;
  let ox = 1;
  let oy = nx;
  let oz = nxy;
  if (x0 < 0) {
    x0 = 0;
    ox = 0;
  } else if (x0 >= nx - 1) {
    // x0 is nx − 1 here (x ≤ nx − 0.5; see the note above linear2d)
    ox = 0;
  }
  if (y0 < 0) {
    y0 = 0;
    oy = 0;
  } else if (y0 >= ny - 1) {
    // y0 is ny − 1 here (y ≤ ny − 0.5; see the note above linear2d)
    oy = 0;
  }
  if (z0 < 0) {
    z0 = 0;
    oz = 0;
  } else if (z0 >= nz - 1) {
    // z0 is nz − 1 here (z ≤ nz − 0.5; see the note above linear2d)
    oz = 0;
  }
  return trilinearAt(data, x0 + nx * y0 + nxy * z0, ox, oy, oz, fx, fy, fz, grad);
}

/**
 * linear3d's interpolation once its corner b, the offsets to the next voxel along each axis (0 at the last) and
 * the fractions are known (and the gradient with respect to the index, when asked for).
 */
function trilinearAt(data: Plane, b: number, ox: number, oy: number, oz: number, fx: number, fy: number, fz: number, grad?: Float64Array): number {
  const v000 = data[b];
  const v100 = data[b + ox];
  const v010 = data[b + oy];
  const v110 = data[b + ox + oy];
  const v001 = data[b + oz];
  const v101 = data[b + ox + oz];
  const v011 = data[b + oy + oz];
  const v111 = data[b + ox + oy + oz];
  // Interpolate along x, then y, then z.
  const a00 = v000 + fx * (v100 - v000);
  const a10 = v010 + fx * (v110 - v010);
  const a01 = v001 + fx * (v101 - v001);
  const a11 = v011 + fx * (v111 - v011);
  const c0 = a00 + fy * (a10 - a00);
  const c1 = a01 + fy * (a11 - a01);
  if (grad) {
    const gy = 1 - fy;
    const gz = 1 - fz;
    grad[0] = gz * (gy * (v100 - v000) + fy * (v110 - v010)) + fz * (gy * (v101 - v001) + fy * (v111 - v011));
    grad[1] = gz * (a10 - a00) + fz * (a11 - a01);
    grad[2] = c1 - c0;
  }
  return c0 + fz * (c1 - c0);
}

/**
 * out[c] = linear3d(planes[c], nx, ny, nz, x, y, z) for c = 0, 1, 2 (a vector field's three planes) at the continuous
 * index (x, y, z) = (ci[0], ci[1], ci[2]): linearValues3d's two passes for one point, its corner and fractions found
 * once for the three planes; false (out untouched) outside, where linear3d gives NaN. Only arrays and integers cross
 * its calls: a number that is not a small integer, passed to or returned from a call V8 does not inline (from a row
 * loop such as addDisplacementRow3d's), is a new heap number each time.
 */
export function linearVector3d(p0: Plane, p1: Plane, p2: Plane, nx: number, ny: number, nz: number, ci: Float64Array, out: Float64Array): boolean {
  const corners = CHUNK_CORNERS;
  const fractions = CHUNK_FRACTIONS;
  locateChunk(nx, ny, nz, ci, 0, 1, corners, fractions);
  if (corners[0] < 0) return false;
  gatherChunk(p0, corners, fractions, 1, out, 0);
  gatherChunk(p1, corners, fractions, 1, out, 1);
  gatherChunk(p2, corners, fractions, 1, out, 2);
  return true;
}

/** Samples per chunk of linearValues3d, and its scratch: per sample the corner index and offsets, the fractions. */
const VALUES_CHUNK = 64;
const CHUNK_CORNERS = new Int32Array(4 * VALUES_CHUNK);
const CHUNK_FRACTIONS = new Float64Array(3 * VALUES_CHUNK);

/**
 * out[i] = linear3d(data, nx, ny, nz, ci[3i], ci[3i+1], ci[3i+2]) for i in [start, end), the same arithmetic, in
 * loops whose element loads see only the planes passed here (linear3d's, called with every pixel type, are
 * megamorphic and about 2.5× slower per sample). Two passes per chunk of samples: the first finds each one's
 * corner, offsets and fractions, the second gathers the eight values and interpolates; its loads depend on
 * nothing it computes, so several samples' cache misses are in flight (scattered points of a 1 mm head: ~120 →
 * ~97 ns a sample; the fresh samples of a B-spline registration are ~17 M of them).
 */
export function linearValues3d(data: Plane, nx: number, ny: number, nz: number, ci: Float64Array, start: number, end: number, out: Float64Array): void {
  const corners = CHUNK_CORNERS;
  const fractions = CHUNK_FRACTIONS;
  for (let c0 = start; c0 < end; c0 += VALUES_CHUNK) {
    const c1 = Math.min(end, c0 + VALUES_CHUNK);
    locateChunk(nx, ny, nz, ci, c0, c1, corners, fractions);
    gatherChunk(data, corners, fractions, c1 - c0, out, c0);
  }
}

/**
 * linearValues3d in a vector field's three planes at once, their location found once per point: u0[i], u1[i], u2[i]
 * = linear3d(p0 | p1 | p2, nx, ny, nz, ci[3i], ci[3i+1], ci[3i+2]) for i in [0, n) (NaN outside).
 */
export function linearVectorValues3d(p0: Plane, p1: Plane, p2: Plane, nx: number, ny: number, nz: number, ci: Float64Array, n: number, u0: Float64Array, u1: Float64Array, u2: Float64Array): void {
  const corners = CHUNK_CORNERS;
  const fractions = CHUNK_FRACTIONS;
  for (let c0 = 0; c0 < n; c0 += VALUES_CHUNK) {
    const c1 = Math.min(n, c0 + VALUES_CHUNK);
    locateChunk(nx, ny, nz, ci, c0, c1, corners, fractions);
    gatherChunk(p0, corners, fractions, c1 - c0, u0, c0);
    gatherChunk(p1, corners, fractions, c1 - c0, u1, c0);
    gatherChunk(p2, corners, fractions, c1 - c0, u2, c0);
  }
}

/**
 * linearValues3d's first pass over the samples [c0, c1) of ci: for sample i = c0 + k its corner index and offsets to
 * the next voxel along each axis (corners[4k…4k+3]; corners[4k] = −1 outside) and its fractions (fractions[3k…3k+2]),
 * clamped at the edges as linear3d clamps them.
 */
function locateChunk(nx: number, ny: number, nz: number, ci: Float64Array, c0: number, c1: number, corners: Int32Array, fractions: Float64Array): void {
  const nxy = nx * ny;
  for (let i = c0, k = 0; i < c1; i++, k++) {
    const x = ci[3 * i];
    const y = ci[3 * i + 1];
    const z = ci[3 * i + 2];
    if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5 && z >= -0.5 && z <= nz - 0.5)) {
      corners[4 * k] = -1;
      continue;
    }
    let x0 = Math.floor(x);
    let y0 = Math.floor(y);
    let z0 = Math.floor(z);
    fractions[3 * k] = x - x0;
    fractions[3 * k + 1] = y - y0;
    fractions[3 * k + 2] = z - z0;
    let ox = 1;
    let oy = nx;
    let oz = nxy;
    if (x0 < 0) {
      x0 = 0;
      ox = 0;
    } else if (x0 >= nx - 1) {
      // x0 is nx − 1 here (x ≤ nx − 0.5; see the note above linear2d)
      ox = 0;
    }
    if (y0 < 0) {
      y0 = 0;
      oy = 0;
    } else if (y0 >= ny - 1) {
      // y0 is ny − 1 here (y ≤ ny − 0.5; see the note above linear2d)
      oy = 0;
    }
    if (z0 < 0) {
      z0 = 0;
      oz = 0;
    } else if (z0 >= nz - 1) {
      // z0 is nz − 1 here (z ≤ nz − 0.5; see the note above linear2d)
      oz = 0;
    }
    corners[4 * k] = x0 + nx * y0 + nxy * z0;
    corners[4 * k + 1] = ox;
    corners[4 * k + 2] = oy;
    corners[4 * k + 3] = oz;
  }
}

/** linearValues3d's second pass: out[o + k] for k in [0, count), sample k's interpolation in data (NaN outside). */
function gatherChunk(data: Plane, corners: Int32Array, fractions: Float64Array, count: number, out: Float64Array, o: number): void {
  for (let k = 0; k < count; k++) {
    const i = o + k;
    const b = corners[4 * k];
    if (b < 0) {
      out[i] = NaN;
      continue;
    }
    const ox = corners[4 * k + 1];
    const oy = corners[4 * k + 2];
    const oz = corners[4 * k + 3];
    const fx = fractions[3 * k];
    const fy = fractions[3 * k + 1];
    const fz = fractions[3 * k + 2];
    const v000 = data[b];
    const v100 = data[b + ox];
    const v010 = data[b + oy];
    const v110 = data[b + ox + oy];
    const v001 = data[b + oz];
    const v101 = data[b + ox + oz];
    const v011 = data[b + oy + oz];
    const v111 = data[b + ox + oy + oz];
    const a00 = v000 + fx * (v100 - v000);
    const a10 = v010 + fx * (v110 - v010);
    const a01 = v001 + fx * (v101 - v001);
    const a11 = v011 + fx * (v111 - v011);
    const c0v = a00 + fy * (a10 - a00);
    const c1v = a01 + fy * (a11 - a01);
    out[i] = c0v + fz * (c1v - c0v);
  }
}

/**
 * Barycentric (piecewise-linear on simplices) interpolation: each pixel square [x0,x0+1]×[y0,y0+1] is split along
 * its (0,0)–(1,1) diagonal into two triangles; the gradient is constant on each triangle.
 */
export function barycentric2d(data: Plane, nx: number, ny: number, x: number, y: number, grad?: Float64Array): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5)) return outside2d(grad);
  let x0 = Math.floor(x);
  let y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  let ox = 1;
  let oy = nx;
  if (x0 < 0) {
    x0 = 0;
    ox = 0;
  } else if (x0 >= nx - 1) {
    // x0 is nx − 1 here (x ≤ nx − 0.5; see the note above linear2d)
    ox = 0;
  }
  if (y0 < 0) {
    y0 = 0;
    oy = 0;
  } else if (y0 >= ny - 1) {
    // y0 is ny − 1 here (y ≤ ny − 0.5; see the note above linear2d)
    oy = 0;
  }
  const b = x0 + nx * y0;
  const v00 = data[b];
  const v11 = data[b + ox + oy];
  if (fx >= fy) {
    // Triangle (0,0), (1,0), (1,1): weights 1−fx, fx−fy, fy.
    const v10 = data[b + ox];
    if (grad) {
      grad[0] = v10 - v00;
      grad[1] = v11 - v10;
    }
    return v00 + fx * (v10 - v00) + fy * (v11 - v10);
  }
  // Triangle (0,0), (0,1), (1,1): weights 1−fy, fy−fx, fx.
  const v01 = data[b + oy];
  if (grad) {
    grad[0] = v11 - v01;
    grad[1] = v01 - v00;
  }
  return v00 + fy * (v01 - v00) + fx * (v11 - v01);
}

/**
 * Barycentric interpolation on the Kuhn (Freudenthal) split of each voxel cube into 6 tetrahedra: the tetrahedron
 * holding fractional offsets (fx, fy, fz) is the path 000 → +e_a → +e_b → 111 with f_a ≥ f_b ≥ f_c, its weights
 * 1−f_a, f_a−f_b, f_b−f_c, f_c. The gradient is constant on each tetrahedron.
 */
export function barycentric3d(data: Plane, nx: number, ny: number, nz: number, x: number, y: number, z: number, grad?: Float64Array): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5 && z >= -0.5 && z <= nz - 0.5)) return outside3d(grad);
  let x0 = Math.floor(x);
  let y0 = Math.floor(y);
  let z0 = Math.floor(z);
  const fx = x - x0;
  const fy = y - y0;
  const fz = z - z0;
  const nxy = nx * ny;
  let ox = 1;
  let oy = nx;
  let oz = nxy;
  if (x0 < 0) {
    x0 = 0;
    ox = 0;
  } else if (x0 >= nx - 1) {
    // x0 is nx − 1 here (x ≤ nx − 0.5; see the note above linear2d)
    ox = 0;
  }
  if (y0 < 0) {
    y0 = 0;
    oy = 0;
  } else if (y0 >= ny - 1) {
    // y0 is ny − 1 here (y ≤ ny − 0.5; see the note above linear2d)
    oy = 0;
  }
  if (z0 < 0) {
    z0 = 0;
    oz = 0;
  } else if (z0 >= nz - 1) {
    // z0 is nz − 1 here (z ≤ nz − 0.5; see the note above linear2d)
    oz = 0;
  }
  const b = x0 + nx * y0 + nxy * z0;
  // Order the axes by decreasing fractional offset: a (largest), m (middle), c (smallest).
  let fa: number, fm: number, fc: number;
  let oa: number, om: number;
  let ia: number, im: number, ic: number;
  if (fx >= fy) {
    if (fy >= fz) {
      fa = fx; fm = fy; fc = fz; oa = ox; om = oy; ia = 0; im = 1; ic = 2;
    } else if (fx >= fz) {
      fa = fx; fm = fz; fc = fy; oa = ox; om = oz; ia = 0; im = 2; ic = 1;
    } else {
      fa = fz; fm = fx; fc = fy; oa = oz; om = ox; ia = 2; im = 0; ic = 1;
    }
  } else if (fx >= fz) {
    fa = fy; fm = fx; fc = fz; oa = oy; om = ox; ia = 1; im = 0; ic = 2;
  } else if (fy >= fz) {
    fa = fy; fm = fz; fc = fx; oa = oy; om = oz; ia = 1; im = 2; ic = 0;
  } else {
    fa = fz; fm = fy; fc = fx; oa = oz; om = oy; ia = 2; im = 1; ic = 0;
  }
  const v0 = data[b];
  const v1 = data[b + oa];
  const v2 = data[b + oa + om];
  const v3 = data[b + ox + oy + oz];
  if (grad) {
    grad[ia] = v1 - v0;
    grad[im] = v2 - v1;
    grad[ic] = v3 - v2;
  }
  return v0 + fa * (v1 - v0) + fm * (v2 - v1) + fc * (v3 - v2);
}
