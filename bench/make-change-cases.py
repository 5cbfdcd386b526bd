#!/usr/bin/python3
"""Synthetic longitudinal cases for `npm run bench -- --only change` (issue 14), made with an independent resampler
(scipy), not coreg's. Baseline: ../shared/data/mni/ch2bet.nii.gz. Each follow-up shrinks one AAL structure by a
smooth radial deformation psi (baseline -> follow-up points, LPS mm), psi(x) = c + (x - c) g(r),
g(r) = 1 - a exp(-r^2 / (2 s^2)), c = the structure's centroid, then moves the head rigidly (a few degrees and mm)
and adds Gaussian noise. True volume ratio of the structure S = mean over S's voxels of det(d psi/dx)
= g^2 (g + r g'(r)), exact for the voxelised S. Writes per case: followup_<k>.nii.gz, mask.nii.gz (S in the
baseline), followup_mask_<k>.nii.gz (S carried into the follow-up, nearest) and cases.json with the truths.
Usage: /usr/bin/python3 bench/make-change-cases.py SHARED_MNI_DIR OUTDIR [--set bench|heldout]
  --set heldout: other structures (small to large), changes, motions and noise seeds than the bench's three cases, to
  check that a change of method does not only fit those three (`npm run bench -- --only change --heldout`).
"""
import argparse, json, os
import numpy as np
import nibabel as nib
from scipy.ndimage import map_coordinates

ap = argparse.ArgumentParser()
ap.add_argument('mni')
ap.add_argument('out')
ap.add_argument('--set', choices=['bench', 'heldout'], default='bench')
args = ap.parse_args()
mni, out = args.mni, args.out
os.makedirs(out, exist_ok=True)
base = nib.load(os.path.join(mni, 'ch2bet.nii.gz'))
aal = nib.load(os.path.join(mni, 'aal.nii.gz'))
A = np.asarray(base.dataobj, dtype=np.float64)
L = np.asarray(aal.dataobj)
aff = base.affine  # voxel -> RAS
FLIP = np.diag([-1.0, -1.0, 1.0])
M = FLIP @ aff[:3, :3]          # voxel -> LPS
o = FLIP @ aff[:3, 3]
Minv = np.linalg.inv(M)
shape = A.shape
ijk = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing='ij'), axis=-1)
P = ijk @ M.T + o              # LPS point of every voxel

def det_psi(x, c, a, s):
    r2 = np.sum((x - c) ** 2, axis=-1)
    e = np.exp(-r2 / (2 * s * s))
    g = 1 - a * e
    return g * g * (g + a * r2 / (s * s) * e)

def rot(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx

CASES = [  # label, target % change, rotation (deg), translation (mm), noise (% of the 99th percentile), seed
    (71, -2.0, (1.0, -1.5, 2.0), (1.5, -1.0, 2.0), 1.0, 1),
    (77, -5.0, (-2.0, 1.0, -1.0), (-2.0, 1.5, 1.0), 1.0, 2),
    (37, -10.0, (1.5, 2.0, -2.5), (1.0, 2.0, -1.5), 1.0, 3),
]
HELDOUT = [  # never used to choose a method's settings: Amygdala_R, Hippocampus_R, Caudate_R, Thalamus_R, Insula_R, Lingual_R
    (42, -4.0, (-1.0, 2.5, 1.5), (0.5, -2.0, 1.0), 1.0, 11),
    (38, -8.0, (2.0, -1.0, -1.5), (-1.5, 1.0, 2.5), 1.0, 12),
    (72, -6.0, (-2.5, -1.5, 1.0), (2.0, 0.5, -1.0), 1.0, 13),
    (78, -3.0, (1.0, 1.0, -2.0), (-1.0, -2.5, 0.5), 1.0, 14),
    (30, -9.0, (-1.5, 2.0, 2.5), (1.5, 1.5, -2.0), 1.0, 15),
    (48, -7.0, (2.5, -2.0, 0.5), (-2.0, -1.0, 1.5), 1.0, 16),
]
if args.set == 'heldout':
    CASES = HELDOUT
cases = []
p99 = np.percentile(A[A > 0], 99)
for k, (label, target, angles, shift, noise, seed) in enumerate(CASES, 1):
    S = L == label
    c = P[S].mean(axis=0)
    radius = (S.sum() * 3 / (4 * np.pi)) ** (1 / 3)  # mm (1 mm voxels)
    s = max(4.0, radius)
    lo, hi = 0.0, 0.9
    for _ in range(60):  # bisection for the amplitude a giving the target change
        a = (lo + hi) / 2
        ratio = det_psi(P[S], c, a, s).mean()
        if 100 * (ratio - 1) > target:
            lo = a
        else:
            hi = a
    truth = 100 * (det_psi(P[S], c, a, s).mean() - 1)
    R = rot(*np.radians(angles))
    t = np.array(shift)
    ctr = P.reshape(-1, 3).mean(axis=0)
    # follow-up point y = Rm(psi(x)), Rm(z) = R (z - ctr) + ctr + t; pull: x = psi^-1(Rm^-1(y))
    z = (P - ctr - t) @ R + ctr          # R^T (y - ctr - t) + ctr, row vectors
    x = z.copy()
    for _ in range(50):  # fixed point x = c + (z - c) / g(|x - c|)
        r2 = np.sum((x - c) ** 2, axis=-1, keepdims=True)
        g = 1 - a * np.exp(-r2 / (2 * s * s))
        x = c + (z - c) / g
    idx = (x - o) @ Minv.T
    coords = [idx[..., i] for i in range(3)]
    F = map_coordinates(A, coords, order=3, mode='constant', cval=0.0)
    rng = np.random.default_rng(seed)
    F = F + rng.normal(0, noise / 100 * p99, F.shape) * (F > 0)
    F = np.clip(F, 0, None).astype(np.float32)
    Fm = map_coordinates(S.astype(np.float32), coords, order=0, mode='constant', cval=0.0).astype(np.uint8)
    nib.save(nib.Nifti1Image(F, aff), os.path.join(out, f'followup_{k}.nii.gz'))
    nib.save(nib.Nifti1Image(S.astype(np.uint8), aff), os.path.join(out, f'mask_{k}.nii.gz'))
    nib.save(nib.Nifti1Image(Fm, aff), os.path.join(out, f'followup_mask_{k}.nii.gz'))
    cases.append({'case': k, 'label': int(label), 'truePercentChange': float(truth), 'amplitude': float(a), 'sigmaMm': float(s),
                  'centre': c.tolist(), 'rotationDeg': list(angles), 'translationMm': list(shift), 'noisePercent': noise, 'voxels': int(S.sum())})
    print(f'case {k}: label {label}, {S.sum()} voxels, true change {truth:.4f} %, a={a:.4f}, sigma={s:.1f} mm', flush=True)
json.dump({'cases': cases}, open(os.path.join(out, 'cases.json'), 'w'), indent=2)
