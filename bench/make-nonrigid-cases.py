#!/usr/bin/python3
"""Random non-rigid 3D cases for coreg's bench (docs/bench.md), made with an independent resampler (scipy), not coreg's.

Usage: /usr/bin/python3 bench/make-nonrigid-cases.py CH2BET.nii.gz OUTDIR SEED [SEED ...] [--noise FRACTION]
For each seed the ground truth maps fixed -> moving points (LPS mm):
    T(x) = A (x + u(x)) + b,   u(x) = sum_k a_k exp(-|x - c_k|^2 / (2 s_k^2))
with a random affine (rotation up to 10 deg about a random axis, scales within +-6 %, shift up to 12 mm, about a
centre 15-30 mm off the grid centre) and 5-8 Gaussian bumps centred inside the brain (s_k 15-25 mm, amplitudes
scaled so that max |u| over the brain is 4-6 mm; redrawn until max ||grad u|| < 0.5 on a 2 mm grid over the whole
field of view, so x + u(x) is invertible and the fixed-point inverse converges).
The moving image is M(y) = ch2bet(T^-1(y)) on ch2bet's grid: x = T^-1(y) by fixed-point iteration on
x = A^-1 (y - b) - u(x) at every voxel (the largest residual |x + u(x) - A^-1 (y - b)| must stay below 1e-4 mm and
is recorded), cubic B-spline interpolation, clipped to ch2bet's range, plus Gaussian noise (sigma = FRACTION of the
brain's intensity range, default 0.02) on the voxels whose preimage lies in the brain. Float32, ch2bet's header.
Writes nr_<seed>.nii.gz and nr_<seed>.json. Needs Debian's python3-numpy, python3-scipy, python3-nibabel.
"""
import argparse
import json
import math
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

MAX_GRAD = 0.5            # contraction bound for the fixed-point inverse (and no folding of x + u(x))
STEP_TOL = 1e-9           # mm; a point stops iterating once its update is this small
RESIDUAL_LIMIT = 1e-4     # mm
CHUNK = 1 << 20           # points per block, to bound memory

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("ch2bet")
parser.add_argument("outdir")
parser.add_argument("seeds", nargs="+", type=int)
parser.add_argument("--noise", type=float, default=0.02, help="noise sigma as a fraction of the brain's intensity range")
args = parser.parse_args()
os.makedirs(args.outdir, exist_ok=True)

img = nib.load(args.ch2bet)
data = np.asanyarray(img.dataobj).astype(np.float64)
shape = data.shape
lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine     # voxel index -> LPS mm
lps_inv = np.linalg.inv(lps)
spacing = np.linalg.norm(lps[:3, :3], axis=0)
coeffs = ndimage.spline_filter(data, order=3, mode="mirror")
brain = data > 0
brain_values = data[brain]
intensity_range = float(brain_values.max() - brain_values.min())
grid_centre = lps[:3, :3] @ ((np.array(shape) - 1) / 2.0) + lps[:3, 3]


def physical(index):
    """(N, 3) voxel indices -> (N, 3) LPS mm."""
    return index @ lps[:3, :3].T + lps[:3, 3]


brain_points = physical(np.argwhere(brain).astype(np.float64))
# Bump centres well inside the brain (10 mm from its edge) when the brain is large enough.
depth = ndimage.distance_transform_edt(brain, sampling=spacing)
deep = np.argwhere(depth >= 10.0)
centre_pool = physical((deep if len(deep) >= 100 else np.argwhere(brain)).astype(np.float64))
# Where the gradient of u is checked: the whole field of view at about 2 mm.
axes = [np.arange(0, n, max(1, int(round(2.0 / s)))) for n, s in zip(shape, spacing)]
coarse_points = physical(np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3).astype(np.float64))


def displacement(x, centres, amplitudes, sigmas):
    """u at points x (N, 3)."""
    out = np.zeros_like(x)
    for c, a, s in zip(centres, amplitudes, sigmas):
        w = np.exp(-np.sum((x - c) ** 2, axis=1) / (2.0 * s * s))
        out += w[:, None] * a[None, :]
    return out


def displacement_blocks(x, centres, amplitudes, sigmas):
    out = np.empty_like(x)
    for i in range(0, len(x), CHUNK):
        out[i:i + CHUNK] = displacement(x[i:i + CHUNK], centres, amplitudes, sigmas)
    return out


def gradient_extremes(x, centres, amplitudes, sigmas):
    """max ||grad u||_2 and min det(I + grad u) over points x."""
    worst_norm, worst_det = 0.0, math.inf
    for i in range(0, len(x), CHUNK // 4):
        p = x[i:i + CHUNK // 4]
        J = np.zeros((len(p), 3, 3))
        for c, a, s in zip(centres, amplitudes, sigmas):
            d = p - c
            w = np.exp(-np.sum(d * d, axis=1) / (2.0 * s * s))
            J -= (w / (s * s))[:, None, None] * a[None, :, None] * d[:, None, :]     # du_r/dx_c = -a_r w d_c / s^2
        worst_norm = max(worst_norm, float(np.linalg.norm(J, ord=2, axis=(1, 2)).max()))
        worst_det = min(worst_det, float(np.linalg.det(J + np.eye(3)).min()))
    return worst_norm, worst_det


def invert(xp, centres, amplitudes, sigmas):
    """x with x + u(x) = xp, by the fixed-point iteration x <- xp - u(x); (x, iterations)."""
    x = xp.copy()
    active = np.arange(len(xp))
    iterations = 0
    while len(active) > 0:
        if iterations == 200:
            raise SystemExit(f"fixed-point inverse did not converge at {len(active)} voxels")
        iterations += 1
        nxt = xp[active] - displacement(x[active], centres, amplitudes, sigmas)
        step = np.linalg.norm(nxt - x[active], axis=1)
        x[active] = nxt
        active = active[step > STEP_TOL]
    return x, iterations


def draw_bumps(rng):
    for _ in range(100):
        k = int(rng.integers(5, 9))
        centres = centre_pool[rng.choice(len(centre_pool), size=k, replace=False)]
        sigmas = rng.uniform(15.0, 25.0, size=k)
        directions = rng.normal(size=(k, 3))
        amplitudes = directions / np.linalg.norm(directions, axis=1, keepdims=True) * rng.uniform(0.5, 1.0, size=(k, 1))
        target = rng.uniform(4.0, 6.0)
        amplitudes *= target / np.linalg.norm(displacement_blocks(brain_points, centres, amplitudes, sigmas), axis=1).max()
        max_grad, min_det = gradient_extremes(coarse_points, centres, amplitudes, sigmas)
        if max_grad < MAX_GRAD:
            return centres, amplitudes, sigmas, max_grad, min_det
    raise SystemExit("no smooth enough set of bumps in 100 draws")


for seed in args.seeds:
    rng = np.random.default_rng([5, seed])    # a stream of its own (make-affine-cases.py uses default_rng(seed))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = math.radians(rng.uniform(3.0, 10.0))
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K
    scales = rng.uniform(0.94, 1.06, size=3)
    A = R @ np.diag(scales)
    offset = rng.normal(size=3)
    centre = grid_centre + offset / np.linalg.norm(offset) * rng.uniform(15.0, 30.0)
    t = rng.normal(size=3)
    t *= rng.uniform(4.0, 12.0) / np.linalg.norm(t)
    b = t + centre - A @ centre                                          # affine part: y = A x + b
    centres, amplitudes, sigmas, max_grad, min_det = draw_bumps(rng)

    # Every moving voxel y -> x = T^-1(y) in fixed LPS mm.
    y = physical(np.indices(shape).reshape(3, -1).T.astype(np.float64))
    xp = (y - b) @ np.linalg.inv(A).T
    del y
    x, iterations = invert(xp, centres, amplitudes, sigmas)
    residual = float(np.linalg.norm(x + displacement_blocks(x, centres, amplitudes, sigmas) - xp, axis=1).max())
    del xp
    if not residual < RESIDUAL_LIMIT:
        raise SystemExit(f"seed {seed}: inverse residual {residual:.3g} mm >= {RESIDUAL_LIMIT} mm")
    fi = (x @ lps_inv[:3, :3].T + lps_inv[:3, 3]).T
    del x
    moving = ndimage.map_coordinates(coeffs, fi, order=3, mode="constant", cval=0.0, prefilter=False)
    moving = np.clip(moving, 0.0, float(data.max()))
    in_brain = ndimage.map_coordinates(brain.astype(np.float32), fi, order=1, mode="constant", cval=0.0) >= 0.5
    del fi
    noise_sigma = args.noise * intensity_range
    moving = moving + rng.normal(scale=1.0, size=moving.shape) * noise_sigma * in_brain
    moving = moving.reshape(shape).astype(np.float32)

    hdr = img.header.copy()
    hdr.set_data_dtype(np.float32)
    out_img = nib.Nifti1Image(moving, img.affine, hdr)
    out_img.header["scl_slope"] = 1.0
    out_img.header["scl_inter"] = 0.0
    nib.save(out_img, os.path.join(args.outdir, f"nr_{seed}.nii.gz"))

    u_brain = displacement_blocks(brain_points, centres, amplitudes, sigmas)
    u_norm = np.linalg.norm(u_brain, axis=1)
    gt_norm = np.linalg.norm((brain_points + u_brain) @ A.T + b - brain_points, axis=1)
    truth = {
        "seed": seed,
        "A": A.tolist(), "b": b.tolist(),
        "center": centre.tolist(), "axis": axis.tolist(), "angle_deg": math.degrees(angle), "scales": scales.tolist(), "translation": t.tolist(),
        "bumps": [[c.tolist(), a.tolist(), float(s)] for c, a, s in zip(centres, amplitudes, sigmas)],
        "nonrigid_over_brain_mm": {"mean": float(u_norm.mean()), "max": float(u_norm.max())},
        "gt_displacement_over_brain_mm": {"mean": float(gt_norm.mean()), "max": float(gt_norm.max())},
        "max_grad_u": max_grad, "min_det_jacobian_u": min_det,
        "inverse_residual_mm": residual, "inverse_iterations": iterations,
        "noise_sigma": noise_sigma, "noise_fraction": args.noise,
    }
    with open(os.path.join(args.outdir, f"nr_{seed}.json"), "w") as f:
        json.dump(truth, f, indent=1)
    print(f"nr_{seed}: {math.degrees(angle):.1f} deg, scales {np.round(scales, 3)}, |t| {np.linalg.norm(t):.1f} mm, "
          f"{len(sigmas)} bumps, |u| over the brain mean/max {u_norm.mean():.2f}/{u_norm.max():.2f} mm, "
          f"max |grad u| {max_grad:.3f}, inverse residual {residual:.2g} mm in {iterations} iterations", flush=True)
sys.exit(0)
