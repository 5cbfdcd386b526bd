#!/usr/bin/python3
"""3D affine cases for coreg's accuracy bench, made with an independent resampler (scipy), not coreg's own.

Usage: /usr/bin/python3 bench/make-affine-cases.py CH2BET.nii.gz OUTDIR SEED [SEED ...]
For each seed: a random affine T (fixed -> moving, LPS mm) with rotation up to 15 deg, scale within +-10 %,
translation up to 20 mm, about a centre of rotation away from the grid centre; the moving image is
M(y) = g(ch2bet(T^-1(y))) + noise, sampled with cubic B-splines, float32, on ch2bet's grid (so a bug in coreg's
resampler cannot cancel out).  Odd seeds use a different intensity mapping g (so MI is needed).
Writes case_<seed>.nii.gz and case_<seed>.json ({"A": 3x3, "b": 3, "mapping": ...}: x_moving = A x_fixed + b).
Needs Debian's python3-numpy, python3-scipy, python3-nibabel.
"""
import json
import math
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

src, out = sys.argv[1], sys.argv[2]
seeds = [int(s) for s in sys.argv[3:]]
os.makedirs(out, exist_ok=True)
img = nib.load(src)
data = np.asanyarray(img.dataobj).astype(np.float64)
ras = img.affine
lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras          # voxel index -> LPS mm
lps_inv = np.linalg.inv(lps)
coeffs = ndimage.spline_filter(data, order=3, mode="mirror")


def rot(ax, ay, az):
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Rx @ Ry


for seed in seeds:
    rng = np.random.default_rng(seed)
    # rotation: random axis, angle up to 15 deg
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = math.radians(rng.uniform(5, 15))
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K
    S = np.diag(rng.uniform(0.9, 1.1, size=3))
    A = R @ S
    center = np.array([0.0, 17.0, 19.0]) + rng.uniform(-30, 30, size=3)   # away from the grid centre
    t = rng.normal(size=3)
    t *= rng.uniform(8, 20) / np.linalg.norm(t)
    b = t + center - A @ center                                          # T(x) = A x + b
    # moving voxel index -> moving LPS y -> fixed LPS x = T^-1(y) -> fixed index
    Ainv = np.linalg.inv(A)
    shape = data.shape
    ii, jj, kk = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    idx = np.stack([ii.ravel(), jj.ravel(), kk.ravel(), np.ones(ii.size)])
    y = (lps @ idx)[:3]
    x = Ainv @ (y - b[:, None])
    fi = (lps_inv[:3, :3] @ x) + lps_inv[:3, 3:4]
    warped = ndimage.map_coordinates(coeffs, fi, order=3, mode="constant", cval=0.0, prefilter=False)
    warped = warped.reshape(shape)
    mapping = "identity"
    if seed % 2 == 1:
        # a non-monotonic remapping of the brain's intensities (a different "modality"): MI still works, MSE cannot
        mapping = "remap"
        v = np.clip(warped / 133.0, 0, None)
        warped = np.where(warped > 1.0, 200.0 * (1.0 - v) ** 2 + 40.0 * np.sin(3 * v), 0.0)
    warped = warped + rng.normal(scale=2.0, size=warped.shape) * (warped > 0)
    hdr = img.header.copy()
    hdr.set_data_dtype(np.float32)
    nib.save(nib.Nifti1Image(warped.astype(np.float32), img.affine, hdr), os.path.join(out, f"case_{seed}.nii.gz"))
    with open(os.path.join(out, f"case_{seed}.json"), "w") as f:
        json.dump({"A": A.tolist(), "b": b.tolist(), "center": center.tolist(), "angle_deg": math.degrees(angle),
                   "scales": np.diag(S).tolist(), "translation": t.tolist(), "mapping": mapping}, f, indent=1)
    print(f"case {seed}: angle {math.degrees(angle):.1f} deg, scales {np.round(np.diag(S), 3)}, |t| {np.linalg.norm(t):.1f} mm, {mapping}")
