#!/usr/bin/python3
"""DIPY peer for the non-rigid bench: affine (MI: translation, rigid, affine) then SyN (CC), fixed -> moving.

Usage: /usr/bin/python3 bench/dipy-syn.py FIXED MOVING OUT_FIELD.mha
FIXED/MOVING: 2D MetaImage (.mha, MET_FLOAT, LOCAL data) or PNG (spacing 1 mm, origin 0, identity: physical
x = column, y = row), or 3D NIfTI (nibabel; DIPY works in RAS). Writes the displacement u of the fixed -> moving
map T(x) = x + u(x) on the fixed grid in ITK's LPS mm, as a float32 vector MetaImage, and prints JSON timings.
DIPY's SyN result maps a static (fixed) world point x to P(x + b(x)), b = mapping.backward on the static grid,
P = the prealign affine passed in (its .prealign attribute holds P^-1).
Needs Debian's python3-dipy (1.6), python3-nibabel, python3-pil. Single-threaded.
"""
import json
import sys
import time

import numpy as np


def read_2d(path):
    if path.lower().endswith(".png"):
        from PIL import Image
        return np.asarray(Image.open(path).convert("L"), dtype=np.float64).T.copy()      # [x, y]
    raw = open(path, "rb").read()
    hdr, pos = {}, 0
    while True:
        nl = raw.index(b"\n", pos)
        k, _, v = raw[pos:nl].decode("latin-1").partition("=")
        pos = nl + 1
        hdr[k.strip()] = v.strip()
        if k.strip() == "ElementDataFile":
            break
    assert hdr["ElementType"] == "MET_FLOAT" and hdr["ElementDataFile"] == "LOCAL", "only float MetaImage with LOCAL data"
    assert hdr.get("TransformMatrix", "1 0 0 1").split() == ["1", "0", "0", "1"], "only identity direction"
    assert [float(v) for v in hdr.get("ElementSpacing", "1 1").split()] == [1.0, 1.0], "only 1 mm spacing"
    assert [float(v) for v in hdr.get("Offset", "0 0").split()] == [0.0, 0.0], "only origin 0"
    nx, ny = [int(v) for v in hdr["DimSize"].split()]
    return np.frombuffer(raw[pos:], dtype="<f4", count=nx * ny).reshape(ny, nx).T.astype(np.float64)


def write_field_mha(path, u, spacing, origin, direction):
    """u: [x, y(, z), d] displacement, LPS mm. direction: d x d, column c = axis c."""
    d = u.shape[-1]
    data = np.ascontiguousarray(np.moveaxis(u, list(range(d)), list(range(d))[::-1]), dtype="<f4")   # z,y,x,c
    cols = " ".join(repr(float(v)) for v in np.asarray(direction).T.ravel())
    hdr = (f"ObjectType = Image\nNDims = {d}\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
           f"CompressedData = False\nTransformMatrix = {cols}\n"
           f"Offset = {' '.join(repr(float(v)) for v in origin)}\n"
           f"ElementSpacing = {' '.join(repr(float(v)) for v in spacing)}\n"
           f"DimSize = {' '.join(str(n) for n in u.shape[:d])}\nElementNumberOfChannels = {d}\n"
           f"ElementType = MET_FLOAT\nElementDataFile = LOCAL\n")
    with open(path, "wb") as fh:
        fh.write(hdr.encode())
        fh.write(data.tobytes())


def main():
    from dipy.align.imaffine import AffineRegistration, MutualInformationMetric, transform_centers_of_mass
    from dipy.align.imwarp import SymmetricDiffeomorphicRegistration
    from dipy.align.metrics import CCMetric
    from dipy.align.transforms import AffineTransform2D, AffineTransform3D, RigidTransform2D, RigidTransform3D, \
        TranslationTransform2D, TranslationTransform3D

    fixed_path, moving_path, out = sys.argv[1:4]
    t0 = time.perf_counter()
    if fixed_path.lower().endswith((".nii", ".nii.gz")):
        import nibabel as nib
        fi, mi = nib.load(fixed_path), nib.load(moving_path)
        static, moving = np.asarray(fi.dataobj, dtype=np.float64), np.asarray(mi.dataobj, dtype=np.float64)
        g_static, g_moving = fi.affine, mi.affine
        kinds = (TranslationTransform3D(), RigidTransform3D(), AffineTransform3D())
        d = 3
    else:
        static, moving = read_2d(fixed_path), read_2d(moving_path)
        g_static = g_moving = np.eye(3)
        kinds = (TranslationTransform2D(), RigidTransform2D(), AffineTransform2D())
        d = 2
    # Affine pre-alignment: centres of mass, then translation -> rigid -> affine, each from the previous one.
    reg = AffineRegistration(metric=MutualInformationMetric(32, None), level_iters=[10000, 1000, 100],
                             sigmas=[3.0, 1.0, 0.0], factors=[4, 2, 1], verbosity=0)
    prealign = transform_centers_of_mass(static, g_static, moving, g_moving).affine
    for kind in kinds:
        prealign = reg.optimize(static, moving, kind, None, g_static, g_moving, starting_affine=prealign).affine
    t1 = time.perf_counter()
    sdr = SymmetricDiffeomorphicRegistration(CCMetric(d, sigma_diff=2.0, radius=4), level_iters=[100, 50, 25])
    mapping = sdr.optimize(static, moving, g_static, g_moving, prealign=prealign)
    t2 = time.perf_counter()
    # T(x) = P (x + b(x)) at every static voxel, in DIPY's world (RAS for NIfTI, pixel (x, y) for 2D).
    idx = np.indices(static.shape).reshape(d, -1).T.astype(np.float64)
    x = idx @ g_static[:d, :d].T + g_static[:d, d]
    b = np.asarray(mapping.backward, dtype=np.float64).reshape(-1, d)
    y = (x + b) @ prealign[:d, :d].T + prealign[:d, d]
    u = (y - x).reshape(static.shape + (d,))
    spacing = np.linalg.norm(g_static[:d, :d], axis=0)
    direction = g_static[:d, :d] / spacing
    origin = g_static[:d, d].copy()
    if d == 3:  # RAS -> LPS: flip the first two axes of positions, directions and displacements
        flip = np.diag([-1.0, -1.0, 1.0])
        u = u @ flip
        direction = flip @ direction
        origin = flip @ origin
    write_field_mha(out, u, spacing, origin, direction)
    print(json.dumps({"affine_seconds": t1 - t0, "syn_seconds": t2 - t1, "prealign": prealign.tolist()}))


if __name__ == "__main__":
    main()
