#!/usr/bin/python3
"""Cases for `npm run bench -- --only autolandmarks`, made with an independent resampler (scipy), not coreg's own.

Usage: /usr/bin/python3 bench/make-autolandmarks-cases.py SHARED_DATA OUTDIR
Each case: a rigid T (fixed -> moving, LPS mm: x_moving = A x_fixed + b) far outside today's initialisers' reach
(rotations of 60-180 deg about oblique axes, shifts of 30-60 mm), and the moving image M(y) = g(F(T^-1(y))) sampled
with cubic B-splines on its own grid (identity direction, 1 mm, big enough to hold the turned head):
  r<angle>      ch2 (with skull) turned and shifted                                 (3D, mono-modal)
  crop<angle>   the same, the moving grid keeping only half of the head              (3D, mono-modal)
  ct<angle>     a CT-like phantom of ch2 (a non-monotonic remap of T1 tissue classes) (3D, multi-modal)
  2d<angle>     the ITK PD slice (Border20) turned by any angle and shifted          (2D, mono-modal)
  2dt1_<angle>  the ITK T1 slice turned, against the PD slice                        (2D, multi-modal)
Writes <case>.nii.gz and cases.json ({"cases":[{"name","dimension","fixed","moving","A","b","angle","shift",
"modality"}]}). Needs Debian's python3-numpy, python3-scipy, python3-nibabel; deterministic.
"""
import json
import math
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

data_dir, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


def rotation(axis, degrees):
    axis = np.asarray(axis, float)
    axis /= np.linalg.norm(axis)
    a = math.radians(degrees)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(a) * K + (1 - math.cos(a)) * K @ K


def ct_like(t1):
    """A CT-like phantom: T1 classes (air, CSF/bone, GM, WM, fat) to CT-like values, non-monotonic, plus noise."""
    q = np.percentile(t1[t1 > 0], [10, 40, 75, 97])
    out = np.full(t1.shape, -1000.0)
    out[t1 > q[0] * 0.5] = 15.0        # dark tissue: CSF, bone (kept dark here), muscle
    out[t1 > q[1]] = 40.0              # grey matter
    out[t1 > q[2]] = 28.0              # white matter: darker than grey in CT
    out[t1 > q[3]] = -90.0             # fat (bright in T1, dark in CT)
    out = ndimage.gaussian_filter(out, 0.7)
    rng = np.random.default_rng(7)
    return out + rng.normal(0, 4, size=out.shape)


def resample3d(vol, lps_fixed, A, b, shape, origin, crop_axis=None):
    """M(y) = vol(T^-1(y)) on an identity-direction 1 mm grid of `shape` at `origin` (LPS)."""
    coeffs = ndimage.spline_filter(vol, order=3, mode="constant")
    ainv = np.linalg.inv(A)
    to_index = np.linalg.inv(lps_fixed)
    # moving index -> LPS y = origin + idx -> x = A^-1 (y - b) -> fixed index
    M = to_index[:3, :3] @ ainv
    o = to_index[:3, :3] @ (ainv @ (np.asarray(origin) - b)) + to_index[:3, 3]
    res = ndimage.affine_transform(coeffs, M, offset=o, output_shape=shape, order=3, mode="constant", cval=0.0,
                                   prefilter=False)
    return res


cases = []
t1_img = nib.load(os.path.join(data_dir, "mni", "ch2.nii.gz"))
t1 = np.asanyarray(t1_img.dataobj).astype(np.float64)
lps_fixed = FLIP @ t1_img.affine
centre_idx = (np.array(t1.shape) - 1) / 2
centre = (lps_fixed @ np.append(centre_idx, 1))[:3]
ct = ct_like(t1)
specs3d = [
    ("r60", [1, 1, 0.3], 60, [30, -10, 15], "mono", t1, None),
    ("r120", [0.4, -1, 0.7], 120, [-20, 35, 25], "mono", t1, None),
    ("r180", [1, 0.2, 1], 180, [15, 20, -45], "mono", t1, None),
    ("crop100", [-0.5, 1, 1], 100, [35, 5, 30], "mono", t1, 2),
    ("ct90", [1, -0.6, 0.4], 90, [-25, -30, 20], "multi", ct, None),
]
for name, axis, angle, shift, modality, vol, crop in specs3d:
    A = rotation(axis, angle)
    shift = np.asarray(shift, float)
    b = centre + shift - A @ centre               # T(c) = c + shift
    size = 230
    shape = (size, size, size // 2) if crop is not None else (size, size, size)
    origin = centre + shift - (size - 1) / 2
    if crop is not None:
        origin[2] = centre[2] + shift[2]          # keep the moving grid's upper half only
    m = resample3d(vol, lps_fixed, A, b, shape, origin)
    if modality == "multi":
        m[m == 0] = -1000.0                       # outside the phantom: air
    lps = np.eye(4)
    lps[:3, 3] = origin
    img = nib.Nifti1Image(m.astype(np.float32), FLIP @ lps)
    img.set_sform(FLIP @ lps, code=1)
    img.set_qform(FLIP @ lps, code=1)
    nib.save(img, os.path.join(out, name + ".nii.gz"))
    cases.append({"name": name, "dimension": 3, "fixed": "mni/ch2.nii.gz", "moving": name + ".nii.gz",
                  "A": A.tolist(), "b": b.tolist(), "angle": angle, "shift": shift.tolist(), "modality": modality})
    print("made", name, flush=True)

# 2D: PNG slices (spacing 1, origin 0, x = column, y = row); written as 2D NIfTI with that geometry.
try:
    import PIL.Image  # noqa: F401
    have_pil = True
except ImportError:
    have_pil = False


def read_png(path):
    if have_pil:
        import PIL.Image as PI
        im = PI.open(path)
        a = np.asarray(im.convert("L") if im.mode not in ("L", "I", "I;16") else im, dtype=np.float64)
        return a.T                                  # [x, y]
    raise SystemExit("make-autolandmarks-cases.py: needs python3-pil to read the 2D PNG slices")


pd = read_png(os.path.join(data_dir, "itk", "BrainProtonDensitySliceBorder20.png"))
t1s = read_png(os.path.join(data_dir, "itk", "BrainT1SliceBorder20.png"))
c2 = (np.array(pd.shape) - 1) / 2
specs2d = [
    ("2d75", 75, [12, -18], "mono", pd),
    ("2d150", 150, [-25, 10], "mono", pd),
    ("2d-120", -120, [20, 22], "mono", pd),
    ("2dt1_135", 135, [-15, -20], "multi", t1s),
]
for name, angle, shift, modality, vol in specs2d:
    a = math.radians(angle)
    A = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    shift = np.asarray(shift, float)
    b = c2 + shift - A @ c2
    shape = (300, 300)
    origin = c2 + shift - (np.array(shape) - 1) / 2
    coeffs = ndimage.spline_filter(vol, order=3, mode="constant")
    ainv = np.linalg.inv(A)
    m = ndimage.affine_transform(coeffs, ainv, offset=ainv @ (origin - b), output_shape=shape, order=3,
                                 mode="constant", cval=0.0, prefilter=False)
    # 2D NIfTI: x, y in LPS = the PNG's physical x, y; RAS affine flips them.
    lps = np.eye(4)
    lps[:2, 3] = origin
    img = nib.Nifti1Image(m.astype(np.float32), FLIP @ lps)
    img.set_sform(FLIP @ lps, code=1)
    img.set_qform(FLIP @ lps, code=1)
    nib.save(img, os.path.join(out, name + ".nii.gz"))
    cases.append({"name": name, "dimension": 2, "fixed": "itk/BrainProtonDensitySliceBorder20.png",
                  "moving": name + ".nii.gz", "A": A.tolist(), "b": b.tolist(), "angle": angle,
                  "shift": shift.tolist(), "modality": modality})
    print("made", name, flush=True)

with open(os.path.join(out, "cases.json"), "w") as f:
    json.dump({"cases": cases}, f, indent=1)
