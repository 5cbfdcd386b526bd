/**
 * Box filters: sums over clipped windows by running sums, the one implementation behind local NCC's window sums
 * (metric/lncc.ts) and locally weighted voting's window means (segment/weighted-vote.ts).
 */

/**
 * In place: every value of the nx×ny plane at data[start…] becomes the sum over the (2rx+1)×(2ry+1) box around
 * it, clipped at the edges. Running sums along x (each row copied to scratch first), then
 * along y over whole rows (the plane copied to scratch first).
 */
export function boxFilterPlane(data: Float64Array, start: number, nx: number, ny: number, rx: number, ry: number, scratch: Float64Array): void {
  if (rx > 0) {
    for (let row = start; row < start + nx * ny; row += nx) {
      for (let i = 0; i < nx; i++) scratch[i] = data[row + i];
      let sum = 0;
      for (let i = 0; i <= rx && i < nx; i++) sum += scratch[i];
      data[row] = sum;
      for (let i = 1; i < nx; i++) {
        if (i + rx < nx) sum += scratch[i + rx];
        if (i - rx - 1 >= 0) sum -= scratch[i - rx - 1];
        data[row + i] = sum;
      }
    }
  }
  if (ry > 0) {
    const nxy = nx * ny;
    for (let i = 0; i < nxy; i++) scratch[i] = data[start + i];
    // row 0: rows 0…ry; then add the row entering at j + ry and remove the one leaving at j − ry − 1
    for (let i = 0; i < nx; i++) {
      let sum = 0;
      for (let j = 0; j <= ry && j < ny; j++) sum += scratch[i + nx * j];
      data[start + i] = sum;
    }
    for (let j = 1; j < ny; j++) {
      const out = start + nx * j;
      const prev = out - nx;
      const entering = j + ry < ny ? nx * (j + ry) : -1;
      const leaving = j - ry - 1 >= 0 ? nx * (j - ry - 1) : -1;
      for (let i = 0; i < nx; i++) {
        let sum = data[prev + i];
        if (entering >= 0) sum += scratch[entering + i];
        if (leaving >= 0) sum -= scratch[leaving + i];
        data[out + i] = sum;
      }
    }
  }
}

/**
 * Mean over the (2r+1)^d window around each voxel of a grid nx×ny×nz (x fastest; nz = 1 in 2D), the window cut at the
 * image border: `out` ← box mean of `src`. `scratch` needs nx·ny·nz values.
 */
export function boxMean(src: Float64Array, out: Float64Array, scratch: Float64Array, nx: number, ny: number, nz: number, r: number): void {
  const nxy = nx * ny;
  out.set(src.subarray(0, nxy * nz));
  for (let z = 0; z < nz; z++) boxFilterPlane(out, z * nxy, nx, ny, r, r, scratch);
  // Along z: the same running sums over whole planes (rows of nx·ny values).
  if (nz > 1 && r > 0) boxFilterPlane(out, 0, nxy, nz, 0, r, scratch);
  const count = (k: number, n: number): number => Math.min(k + r, n - 1) - Math.max(k - r, 0) + 1;
  for (let z = 0, v = 0; z < nz; z++) {
    const cz = nz > 1 ? count(z, nz) : 1;
    for (let y = 0; y < ny; y++) {
      const czy = cz * count(y, ny);
      for (let x = 0; x < nx; x++, v++) out[v] /= czy * count(x, nx);
    }
  }
}
