#!/usr/bin/python3
"""Size-scaling cases for coreg's speed bench: how time and memory grow with the image, made with scipy.

Usage: /usr/bin/python3 bench/make-size-cases.py MNI_DIR OUTDIR NAME [NAME ...]
NAME: cube64, cube128, cube256 (ch2bet on an N^3 grid over its own field of view, float32) or ct512 (a CT-like
int16 volume 512 x 512 x 300, 0.45 x 0.5 x 0.75 mm, in Hounsfield units made from ch2/ch2bet: air -1000, soft
tissue 40, bone 900, brain 20-45, noise sd 5 HU). For each: NAME_fixed.nii.gz, NAME_moving.nii.gz (the same source
moved by a known affine T: rotation 5 deg about a tilted axis, scale 1.03, shift (4, -3, 2) mm about the head's
centre, sampled by scipy slice by slice) and NAME.json ({"A", "b"}: x_moving = A x_fixed + b, LPS mm).
Deterministic. Needs Debian's python3-numpy, python3-scipy, python3-nibabel.
"""
import json
import math
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

mni, out = sys.argv[1], sys.argv[2]
names = sys.argv[3:]
os.makedirs(out, exist_ok=True)
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])
bet_img = nib.load(os.path.join(mni, "ch2bet.nii.gz"))
bet = np.asanyarray(bet_img.dataobj).astype(np.float64)
src_lps = FLIP @ bet_img.affine
src_inv = np.linalg.inv(src_lps)
shape = bet.shape
centre = src_lps[:3, :3] @ ((np.array(shape) - 1) / 2.0) + src_lps[:3, 3]

axis = np.array([0.3, -0.2, 1.0])
axis /= np.linalg.norm(axis)
ang = math.radians(5.0)
K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
A = (np.eye(3) + math.sin(ang) * K + (1 - math.cos(ang)) * K @ K) * 1.03
b = np.array([4.0, -3.0, 2.0]) + centre - A @ centre
Ainv = np.linalg.inv(A)


def ct_source():
    t1 = np.asanyarray(nib.load(os.path.join(mni, "ch2.nii.gz")).dataobj).astype(np.float64)
    brain = bet > 0
    p99 = np.percentile(t1[t1 > 0], 99)
    head = ndimage.binary_closing(t1 > 0.08 * p99, iterations=3) | brain
    hu = np.full(shape, -1000.0)
    hu[head] = 40.0
    hu[head & ~brain & (t1 < 0.3 * p99)] = 900.0
    hu[brain] = 20.0 + 25.0 * bet[brain] / np.percentile(bet[brain], 99)
    return ndimage.gaussian_filter(hu, 0.7), -1000.0


def make(name, source, cval, size, spacing, dtype, noise):
    size = np.array(size)
    spacing = np.array(spacing, np.float64)
    lps = np.eye(4)
    lps[:3, :3] = np.diag(spacing)
    lps[:3, 3] = centre - spacing * (size - 1) / 2.0
    rng = np.random.default_rng(7)
    ii, jj = np.meshgrid(np.arange(size[0]), np.arange(size[1]), indexing="ij")
    for which, T in (("fixed", None), ("moving", True)):
        vol = np.empty(tuple(size), dtype)
        for k in range(size[2]):
            idx = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, k)]).astype(np.float64)
            y = lps[:3, :3] @ idx + lps[:3, 3:4]
            x = Ainv @ (y - b[:, None]) if T else y                      # moving(y) = source(T^-1(y))
            fi = src_inv[:3, :3] @ x + src_inv[:3, 3:4]
            v = ndimage.map_coordinates(source, fi, order=1, mode="constant", cval=cval, prefilter=False)
            if noise:
                v = v + rng.normal(scale=noise, size=v.shape)
            if np.issubdtype(dtype, np.integer):
                v = np.clip(np.round(v), -1024, 3071)
            vol[:, :, k] = v.reshape(ii.shape)
        aff = FLIP @ lps
        img = nib.Nifti1Image(vol, aff)
        img.set_qform(aff, code=1)
        img.set_sform(aff, code=1)
        tmp = os.path.join(out, f".{name}_{which}.tmp.nii.gz")
        nib.save(img, tmp)
        os.replace(tmp, os.path.join(out, f"{name}_{which}.nii.gz"))
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump({"A": A.tolist(), "b": b.tolist(), "size": size.tolist(), "spacing": spacing.tolist()}, f, indent=1)


extent = (np.array(shape) - 1) * np.abs(np.diag(src_lps[:3, :3])) + 1
for name in names:
    if name.startswith("cube"):
        n = int(name[4:])
        make(name, bet, 0.0, [n, n, n], extent / n, np.float32, 0.0)
    elif name == "ct512":
        src, cval = ct_source()
        make(name, src, cval, [512, 512, 300], [0.45, 0.5, 0.75], np.int16, 5.0)
    else:
        sys.exit(f"unknown case {name}")
