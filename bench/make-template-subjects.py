#!/usr/bin/python3
"""Subjects for coreg's template bench (issue 16), made with an independent resampler (scipy), not coreg's.

Usage: /usr/bin/python3 bench/make-template-subjects.py CH2BET.nii.gz OUTDIR N [--spacing MM] [--seed S]
Writes ref.nii.gz (ch2bet on an isotropic SPACING grid, the undeformed reference) and subj_1..subj_N.nii.gz on
the same grid: subj_i(y) = ch2bet(W_i(y)) with W_i(y) = c + A_i (y + u_i(y) - c) + b_i (LPS mm, c the brain's centre),
A_i = exp of a random small matrix (rotations up to ~6 deg, scales within ~5 %), b_i up to 5 mm, and u_i a sum of
4 Gaussian bumps (sigma 20-30 mm) scaled to max |u| = 3 mm over the brain. The draws come in antithetic pairs
(subject 2k uses (L, b, u), subject 2k+1 uses (-L, -b, -u)), so the group's mean map is the identity to first
order: an unbiased template should sit in ch2bet's own space. Cubic B-spline interpolation (scipy), float32.
Also writes subjects.json with the parameters. Needs python3-numpy, python3-scipy, python3-nibabel.
"""
import argparse
import json
import os

import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.linalg import expm

p = argparse.ArgumentParser()
p.add_argument("ch2bet")
p.add_argument("outdir")
p.add_argument("n", type=int)
p.add_argument("--spacing", type=float, default=3.0)
p.add_argument("--seed", type=int, default=16)
a = p.parse_args()
os.makedirs(a.outdir, exist_ok=True)
rng = np.random.default_rng(a.seed)

img = nib.load(a.ch2bet)
data = np.asanyarray(img.dataobj).astype(np.float64)
lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine          # voxel index -> LPS mm
lps_inv = np.linalg.inv(lps)
coeffs = ndimage.spline_filter(data, order=3, mode="constant")
size_mm = np.linalg.norm(lps[:3, :3], axis=0) * (np.array(data.shape) - 1)
# The coarse grid: same direction and origin, isotropic spacing, covering the same field of view.
direction = lps[:3, :3] / np.linalg.norm(lps[:3, :3], axis=0)
shape = tuple(int(np.floor(s / a.spacing)) + 1 for s in size_mm)
grid = np.eye(4)
grid[:3, :3] = direction * a.spacing
grid[:3, 3] = lps[:3, 3]
idx = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3).astype(np.float64)
pts = idx @ grid[:3, :3].T + grid[:3, 3]
brain = data > 0
centre = (np.argwhere(brain).mean(0) @ lps[:3, :3].T) + lps[:3, 3]


def sample(points):
    vox = (points - lps[:3, 3]) @ lps_inv[:3, :3].T
    return ndimage.map_coordinates(coeffs, vox.T, order=3, mode="constant", cval=0.0, prefilter=False)


def save(values, name):
    out = np.clip(values, data.min(), data.max()).reshape(shape).astype(np.float32)
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ grid
    nib.save(nib.Nifti1Image(out, ras), os.path.join(a.outdir, name))


save(sample(pts), "ref.nii.gz")
brain_pts = np.argwhere(brain)[::50] @ lps[:3, :3].T + lps[:3, 3]
params = []
for k in range((a.n + 1) // 2):
    g = rng.normal(size=(3, 3))
    rot = (g - g.T) / 2 * np.deg2rad(6) / max(1e-9, np.abs(g - g.T).max() / 2)
    L = rot + np.diag(rng.uniform(-0.05, 0.05, 3))
    b = rng.normal(size=3)
    b *= rng.uniform(2, 5) / np.linalg.norm(b)
    centres = brain_pts[rng.choice(len(brain_pts), 4, replace=False)]
    sig = rng.uniform(20, 30, 4)
    amp = rng.normal(size=(4, 3))

    def bumps(x, amp=amp, centres=centres, sig=sig):
        u = np.zeros_like(x)
        for j in range(4):
            u += amp[j] * np.exp(-((x - centres[j]) ** 2).sum(1) / (2 * sig[j] ** 2))[:, None]
        return u

    scale = 3.0 / np.linalg.norm(bumps(brain_pts), axis=1).max()
    for sign in (1, -1):
        i = len(params) + 1
        if i > a.n:
            break
        A = expm(sign * L)
        u = sign * scale * bumps(pts)
        w = centre + (pts + u - centre) @ A.T + sign * b
        save(sample(w), f"subj_{i}.nii.gz")
        params.append({"subject": i, "A": A.tolist(), "b": (sign * b).tolist(), "maxWarpMm": 3.0, "sign": sign, "pair": k})
json.dump({"spacing": a.spacing, "shape": shape, "centre": centre.tolist(), "subjects": params}, open(os.path.join(a.outdir, "subjects.json"), "w"), indent=1)
print(f"wrote ref.nii.gz and {len(params)} subjects on a {shape} grid at {a.spacing} mm")
