/*
 * C reference of coreg's hottest per-sample kernel (`npm run bench -- --only kernels`, compiled at run time with
 * gcc -O3): one evaluation of a 3D affine Mattes MI cost over scattered samples, the same operations as
 * src/register/sample-kernels.ts (TypeScript) and asm/kernels.ts (WebAssembly SIMD):
 *   phase 0: y = A x + t, trilinear moving value + gradient (physical), pack the valid samples, gather fixed
 *            values, compensated Parzen joint histogram (cubic B-spline moving window, box fixed bins)
 *   finalize: p, entropies, −MI and the derivative table
 *   phase 1: ∂cost/∂m per sample from the table, moment matrix G (3 × 4) = Σ ∂cost/∂m ∇M [x; 1]ᵀ
 * Input: a binary file written by bench/suites/kernels.ts (header of int32 then doubles, then the arrays).
 * Built twice by the bench: as is, and with -DTWO_PASS, which runs the sample loop in the WebAssembly kernel's
 * two passes per chunk of 16 samples (same operations, same results).
 * One untimed warm-up evaluation first (page faults of the work arrays), then E timed ones. Times are this
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID): the whole loop, and each part summed over the evaluations.
 * Output: one line "evaluations E samples N cpu_seconds S value V g G0 … G11 parts P0 … P4" (parts: sample +
 * gradient + pack, histogram, finalize, derivative, moments; seconds).
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double threadSeconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct {
  int nx, ny, nz, n, bins, evals;
  double A[9], t[3], N[9], o[3];
  double fMin, fScale, mMin, mScale;
  float *plane;
  double *points, *fixed;
} Input;

static void *readAll(FILE *f, size_t bytes) {
  void *p = malloc(bytes);
  if (!p || fread(p, 1, bytes, f) != bytes) {
    fprintf(stderr, "linear-mi: short input\n");
    exit(1);
  }
  return p;
}

#ifndef TWO_PASS
static double trilinear(const float *data, int nx, int ny, int nz, double x, double y, double z, double *g) {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5 && z >= -0.5 && z <= nz - 0.5)) return NAN;
  double xf = floor(x), yf = floor(y), zf = floor(z);
  int x0 = (int)xf, y0 = (int)yf, z0 = (int)zf;
  double fx = x - xf, fy = y - yf, fz = z - zf;
  int nxy = nx * ny, ox = 1, oy = nx, oz = nxy;
  if (x0 < 0) { x0 = 0; ox = 0; } else if (x0 >= nx - 1) { x0 = nx - 1; ox = 0; }
  if (y0 < 0) { y0 = 0; oy = 0; } else if (y0 >= ny - 1) { y0 = ny - 1; oy = 0; }
  if (z0 < 0) { z0 = 0; oz = 0; } else if (z0 >= nz - 1) { z0 = nz - 1; oz = 0; }
  int b = x0 + nx * y0 + nxy * z0;
  double v000 = data[b], v100 = data[b + ox], v010 = data[b + oy], v110 = data[b + ox + oy];
  double v001 = data[b + oz], v101 = data[b + ox + oz], v011 = data[b + oy + oz], v111 = data[b + ox + oy + oz];
  double a00 = v000 + fx * (v100 - v000), a10 = v010 + fx * (v110 - v010);
  double a01 = v001 + fx * (v101 - v001), a11 = v011 + fx * (v111 - v011);
  double c0 = a00 + fy * (a10 - a00), c1 = a01 + fy * (a11 - a01);
  double gy = 1 - fy, gz = 1 - fz;
  g[0] = gz * (gy * (v100 - v000) + fy * (v110 - v010)) + fz * (gy * (v101 - v001) + fy * (v111 - v011));
  g[1] = gz * (a10 - a00) + fz * (a11 - a01);
  g[2] = c1 - c0;
  return c0 + fz * (c1 - c0);
}
#endif

static inline void twoSum(double *hi, double *lo, int k, double x) {
  double a = hi[k], s = a + x, z = s - a;
  lo[k] += a - (s - z) + (x - z);
  hi[k] = s;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: linear-mi INPUT\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  Input in;
  int hdr[6];
  if (fread(hdr, sizeof(int), 6, f) != 6) return 1;
  in.nx = hdr[0]; in.ny = hdr[1]; in.nz = hdr[2]; in.n = hdr[3]; in.bins = hdr[4]; in.evals = hdr[5];
  double par[28];
  if (fread(par, sizeof(double), 28, f) != 28) return 1;
  memcpy(in.A, par, 9 * sizeof(double));
  memcpy(in.t, par + 9, 3 * sizeof(double));
  memcpy(in.N, par + 12, 9 * sizeof(double));
  memcpy(in.o, par + 21, 3 * sizeof(double));
  in.fMin = par[24]; in.fScale = par[25]; in.mMin = par[26]; in.mScale = par[27];
  size_t voxels = (size_t)in.nx * in.ny * in.nz;
  in.plane = readAll(f, voxels * sizeof(float));
  in.points = readAll(f, 3 * (size_t)in.n * sizeof(double));
  in.fixed = readAll(f, (size_t)in.n * sizeof(double));
  fclose(f);

  const int n = in.n, B = in.bins, BB = B * B;
  double *values = malloc(n * sizeof(double)), *grads = malloc(3 * n * sizeof(double)), *fp = malloc(n * sizeof(double));
  double *dv = malloc(n * sizeof(double));
  int *index = malloc(n * sizeof(int));
  double *hi = calloc(BB + 1, sizeof(double)), *lo = calloc(BB + 1, sizeof(double)), *table = malloc(BB * sizeof(double));
  double *pM = malloc(B * sizeof(double)), *logPM = malloc(B * sizeof(double));
  double G[12], value = 0, parts[5] = {0, 0, 0, 0, 0}, seconds = 0;
  const double *A = in.A, *t = in.t, *N = in.N, *o = in.o;
  /* e = -1: the untimed warm-up evaluation */
  for (int e = -1; e < in.evals; e++) {
    double c0 = threadSeconds(), c1, c2, c3, c4, c5;
    if (e == 0) seconds = c0;
    /* phase 0 */
#ifndef TWO_PASS
    int valid = 0;
    double g[3];
    for (int i = 0; i < n; i++) {
      double px = in.points[3 * i], py = in.points[3 * i + 1], pz = in.points[3 * i + 2];
      double dx = A[0] * px + A[1] * py + A[2] * pz + t[0] - o[0];
      double dy = A[3] * px + A[4] * py + A[5] * pz + t[1] - o[1];
      double dz = A[6] * px + A[7] * py + A[8] * pz + t[2] - o[2];
      double x = N[0] * dx + N[1] * dy + N[2] * dz, y = N[3] * dx + N[4] * dy + N[5] * dz, z = N[6] * dx + N[7] * dy + N[8] * dz;
      double v = trilinear(in.plane, in.nx, in.ny, in.nz, x, y, z, g);
      if (v != v) continue;
      values[valid] = v;
      grads[3 * valid] = N[0] * g[0] + N[3] * g[1] + N[6] * g[2];
      grads[3 * valid + 1] = N[1] * g[0] + N[4] * g[1] + N[7] * g[2];
      grads[3 * valid + 2] = N[2] * g[0] + N[5] * g[1] + N[8] * g[2];
      index[valid] = i;
      fp[valid] = in.fixed[i];
      valid++;
    }
#else
    /* the WebAssembly kernel's loop structure (asm/kernels.ts: sampleLinear3d): per chunk of 16 samples, first
       map + voxel, offsets and fractions, then gather + interpolate; the same operations as trilinear() */
    int valid = 0;
    enum { CH = 16 };
    int sb[CH][4];
    double sf[CH][3];
    for (int c0 = 0; c0 < n; c0 += CH) {
      int c1e = c0 + CH < n ? c0 + CH : n;
      for (int i = c0; i < c1e; i++) {
        int j = i - c0;
        double px = in.points[3 * i], py = in.points[3 * i + 1], pz = in.points[3 * i + 2];
        double dx = A[0] * px + A[1] * py + A[2] * pz + t[0] - o[0];
        double dy = A[3] * px + A[4] * py + A[5] * pz + t[1] - o[1];
        double dz = A[6] * px + A[7] * py + A[8] * pz + t[2] - o[2];
        double x = N[0] * dx + N[1] * dy + N[2] * dz, y = N[3] * dx + N[4] * dy + N[5] * dz, z = N[6] * dx + N[7] * dy + N[8] * dz;
        int nx = in.nx, ny = in.ny, nz = in.nz;
        if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5 && z >= -0.5 && z <= nz - 0.5)) { sb[j][0] = -1; continue; }
        double xf = floor(x), yf = floor(y), zf = floor(z);
        int x0 = (int)xf, y0 = (int)yf, z0 = (int)zf;
        int nxy = nx * ny, ox = 1, oy = nx, oz = nxy;
        if (x0 < 0) { x0 = 0; ox = 0; } else if (x0 >= nx - 1) { x0 = nx - 1; ox = 0; }
        if (y0 < 0) { y0 = 0; oy = 0; } else if (y0 >= ny - 1) { y0 = ny - 1; oy = 0; }
        if (z0 < 0) { z0 = 0; oz = 0; } else if (z0 >= nz - 1) { z0 = nz - 1; oz = 0; }
        sb[j][0] = x0 + nx * y0 + nxy * z0; sb[j][1] = ox; sb[j][2] = oy; sb[j][3] = oz;
        sf[j][0] = x - xf; sf[j][1] = y - yf; sf[j][2] = z - zf;
      }
      for (int i = c0; i < c1e; i++) {
        int j = i - c0;
        int b = sb[j][0];
        if (b < 0) continue;
        int ox = sb[j][1], oy = sb[j][2], oz = sb[j][3];
        double fx = sf[j][0], fy = sf[j][1], fz = sf[j][2];
        const float *data = in.plane;
        double v000 = data[b], v100 = data[b + ox], v010 = data[b + oy], v110 = data[b + ox + oy];
        double v001 = data[b + oz], v101 = data[b + ox + oz], v011 = data[b + oy + oz], v111 = data[b + ox + oy + oz];
        double a00 = v000 + fx * (v100 - v000), a10 = v010 + fx * (v110 - v010);
        double a01 = v001 + fx * (v101 - v001), a11 = v011 + fx * (v111 - v011);
        double cc0 = a00 + fy * (a10 - a00), cc1 = a01 + fy * (a11 - a01);
        double gy = 1 - fy, gz = 1 - fz;
        double g0 = gz * (gy * (v100 - v000) + fy * (v110 - v010)) + fz * (gy * (v101 - v001) + fy * (v111 - v011));
        double g1 = gz * (a10 - a00) + fz * (a11 - a01);
        double g2 = cc1 - cc0;
        values[valid] = cc0 + fz * (cc1 - cc0);
        grads[3 * valid] = N[0] * g0 + N[3] * g1 + N[6] * g2;
        grads[3 * valid + 1] = N[1] * g0 + N[4] * g1 + N[7] * g2;
        grads[3 * valid + 2] = N[2] * g0 + N[5] * g1 + N[8] * g2;
        index[valid] = i;
        fp[valid] = in.fixed[i];
        valid++;
      }
    }
#endif
    c1 = threadSeconds();
    memset(hi, 0, (BB + 1) * sizeof(double));
    memset(lo, 0, (BB + 1) * sizeof(double));
    for (int i = 0; i < valid; i++) {
      int row = (int)floor((fp[i] - in.fMin) * in.fScale);
      if (row < 0) row = 0; else if (row > B - 1) row = B - 1;
      double u = 1 + (values[i] - in.mMin) * in.mScale;
      if (u < 1) u = 1; else if (u > B - 2) u = B - 2;
      int base = (int)floor(u);
      if (base > B - 3) base = B - 3;
      double tt = u - base, t2 = tt * tt, t3 = t2 * tt, r = 1 - tt;
      int k0 = row * B + base - 1;
      twoSum(hi, lo, k0, (r * r * r) / 6);
      twoSum(hi, lo, k0 + 1, (3 * t3 - 6 * t2 + 4) / 6);
      twoSum(hi, lo, k0 + 2, (-3 * t3 + 3 * t2 + 3 * tt + 1) / 6);
      twoSum(hi, lo, k0 + 3, t3 / 6);
      twoSum(hi, lo, BB, 1);
    }
    c2 = threadSeconds();
    /* finalize (−MI) */
    double W = hi[BB] + lo[BB], hF = 0, hJ = 0, hM = 0;
    memset(pM, 0, B * sizeof(double));
    for (int row = 0; row < B; row++) {
      double pF = 0;
      for (int k = 0; k < B; k++) {
        double p = (hi[row * B + k] + lo[row * B + k]) / W;
        table[row * B + k] = p;
        pF += p;
        pM[k] += p;
        if (p > 0) hJ -= p * log(p);
      }
      if (pF > 0) hF -= pF * log(pF);
    }
    for (int k = 0; k < B; k++) {
      logPM[k] = pM[k] > 0 ? log(pM[k]) : 0;
      if (pM[k] > 0) hM -= pM[k] * logPM[k];
    }
    value = -(hF + hM - hJ);
    double scale = in.mScale / W;
    for (int j = 0; j < BB; j++) {
      double p = table[j];
      table[j] = p > 0 ? -(log(p) - logPM[j % B]) * scale : 0;
    }
    c3 = threadSeconds();
    /* phase 1 */
    for (int i = 0; i < valid; i++) {
      double u = 1 + (values[i] - in.mMin) * in.mScale;
      if (!(u >= 1 && u <= B - 2)) {
        dv[i] = 0;
        continue;
      }
      int row = (int)floor((fp[i] - in.fMin) * in.fScale);
      if (row < 0) row = 0; else if (row > B - 1) row = B - 1;
      int base = (int)floor(u);
      if (base > B - 3) base = B - 3;
      double tt = u - base, t2 = tt * tt, r = 1 - tt;
      int k0 = row * B + base - 1;
      dv[i] = -0.5 * r * r * table[k0] + (1.5 * t2 - 2 * tt) * table[k0 + 1] + (-1.5 * t2 + tt + 0.5) * table[k0 + 2] + 0.5 * t2 * table[k0 + 3];
    }
    c4 = threadSeconds();
    memset(G, 0, sizeof G);
    for (int k = 0; k < valid; k++) {
      double s = dv[k];
      if (s == 0) continue;
      int i = index[k];
      for (int rr = 0; rr < 3; rr++) {
        double v = s * grads[3 * k + rr];
        for (int c = 0; c < 3; c++) G[rr * 4 + c] += v * in.points[3 * i + c];
        G[rr * 4 + 3] += v;
      }
    }
    c5 = threadSeconds();
    if (e >= 0) {
      parts[0] += c1 - c0;
      parts[1] += c2 - c1;
      parts[2] += c3 - c2;
      parts[3] += c4 - c3;
      parts[4] += c5 - c4;
    }
  }
  seconds = threadSeconds() - seconds;
  printf("evaluations %d samples %d cpu_seconds %.6f value %.17g g", in.evals, n, seconds, value);
  for (int k = 0; k < 12; k++) printf(" %.17g", G[k]);
  printf(" parts");
  for (int k = 0; k < 5; k++) printf(" %.6f", parts[k]);
  printf("\n");
  return 0;
}
