#!/usr/bin/python3
"""Real-scan-like cases for coreg's bench (issue 10), made with an independent resampler (scipy), not coreg's.

Usage: /usr/bin/python3 bench/make-realscan-cases.py MNI_DIR OUTDIR [--subjects N] [--only CASE,CASE]
MNI_DIR holds ch2.nii.gz (T1 with skull) and ch2bet.nii.gz (its brain), both on the same 1 mm grid.

Phantoms on ch2's 1 mm grid (the "source" of every image below):
  T1   = ch2 itself.
  CT   = tissue classes from ch2 + ch2bet, in Hounsfield units: air -1000, fat -90, soft tissue 45, bone 900,
         CSF 8, grey matter 38, white matter 28 (brain classes: 3 intensity classes of ch2 inside ch2bet; outside
         the brain, inside the head: dark T1 = bone, bright T1 = fat, the rest soft tissue), blurred by the scanner
         (sigma 0.5 mm in-plane, FWHM 2.5 mm across slices), noise sd 6 HU, stored int16.
  PET  = uptake per class (GM 4, WM 1.2, CSF 0.2, soft tissue 0.6, fat 0.3, bone 0.3, air 0), blurred to
         6 mm FWHM, a few hot spots (long tail), on 4 mm voxels, Poisson-like noise, float32.
Cases (ground truth T maps FIXED -> MOVING points, LPS mm; moving(T(x)) = fixed(x)):
  ct_ct   fixed CT on a clinical grid 0.9 x 0.9 x 2.5 mm; moving CT on another clinical grid, through T^-1 (rigid)
  ct_t1   fixed CT (clinical grid); moving T1 (1 mm) through T^-1 (rigid), noise
  t1_ct   fixed T1 (ch2); moving CT on a clinical grid through T^-1 (rigid)
  pet_t1  fixed T1 (ch2); moving PET (4 mm) through T^-1 (rigid)
  sub2_<k> fixed = a 2 mm subject: ch2 (whole head) at T(x) = A (x + u(x)) + b on an oblique, LAS-stored 2 mm grid
          with noise (A: rotation <= 8 deg about a random axis, scales within +-6 %, shift <= 6 mm; u: 4-5 Gaussian
          bumps, max |u| over the brain <= 4.5 mm, max |grad u| < 0.5); moving = the template, ch2 at 2 mm.
Rigid T: rotation 3-8 deg about a random axis, shift 4-10 mm, about the head's centre.
For each case: <case>_fixed.nii.gz, <case>_moving.nii.gz, <case>_fixed.csv (TRE points: fixed voxels whose true
image lies in ch2bet's brain, every 3rd voxel along each axis, LPS mm), <case>_moving.csv (their true images T(x)),
<case>.json (parameters). Deterministic (numpy default_rng per case). Needs Debian's numpy, scipy, nibabel.
"""
import argparse
import json
import math
import os

import nibabel as nib
import numpy as np
from scipy import ndimage

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("mni")
parser.add_argument("outdir")
parser.add_argument("--subjects", type=int, default=3)
parser.add_argument("--only", default="")
args = parser.parse_args()
os.makedirs(args.outdir, exist_ok=True)
only = set(filter(None, args.only.split(",")))

ch2img = nib.load(os.path.join(args.mni, "ch2.nii.gz"))
t1 = np.asanyarray(ch2img.dataobj).astype(np.float64)
bet = np.asanyarray(nib.load(os.path.join(args.mni, "ch2bet.nii.gz")).dataobj).astype(np.float64)
shape = t1.shape
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])
src_lps = FLIP @ ch2img.affine                  # source voxel index -> LPS
src_inv = np.linalg.inv(src_lps)

# ---------------- tissue classes ----------------
brain = bet > 0
p99 = np.percentile(t1[t1 > 0], 99)
head = t1 > 0.08 * p99
head = ndimage.binary_closing(head, iterations=3)
for z in range(shape[2]):
    head[:, :, z] = ndimage.binary_fill_holes(head[:, :, z])
head |= brain
bv = t1[brain]
# 3 classes in the brain by k-means on intensity (CSF < GM < WM)
c = np.percentile(bv, [10, 50, 90]).astype(np.float64)
for _ in range(30):
    lab = np.argmin(np.abs(bv[:, None] - c[None, :]), axis=1)
    c = np.array([bv[lab == k].mean() for k in range(3)])
brain_class = np.zeros(shape, np.int8)
brain_class[brain] = 1 + np.argmin(np.abs(bv[:, None] - c[None, :]), axis=1)      # 1 CSF, 2 GM, 3 WM
outside = head & ~brain
tissue = np.zeros(shape, np.int8)            # 0 air, 1 CSF, 2 GM, 3 WM, 4 soft, 5 fat, 6 bone
tissue[brain] = brain_class[brain]
tissue[outside] = 4
tissue[outside & (t1 < 0.30 * c[2])] = 6
tissue[outside & (t1 > 0.95 * c[2])] = 5
HU = np.array([-1000, 8, 38, 28, 45, -90, 900], np.float64)
UPTAKE = np.array([0.0, 0.2, 4.0, 1.2, 0.6, 0.3, 0.3])


def physical(index, lps):
    return index @ lps[:3, :3].T + lps[:3, 3]


def grid_points(shape_, lps):
    idx = np.indices(shape_).reshape(3, -1).T.astype(np.float64)
    return physical(idx, lps)


def sample(volume, pts, order=1, cval=0.0):
    """volume (on the source grid) at LPS points pts (N, 3)."""
    fi = (pts @ src_inv[:3, :3].T + src_inv[:3, 3]).T
    out = np.empty(len(pts))
    step = 1 << 21
    for i in range(0, len(pts), step):
        out[i:i + step] = ndimage.map_coordinates(volume, fi[:, i:i + step], order=order, mode="constant", cval=cval, prefilter=False)
    return out


def rotation(axis, angle):
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


head_centre = physical(np.argwhere(head).mean(axis=0)[None, :], src_lps)[0]


def random_rigid(rng):
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = math.radians(rng.uniform(3.0, 8.0))
    R = rotation(axis, angle)
    t = rng.normal(size=3)
    t *= rng.uniform(4.0, 10.0) / np.linalg.norm(t)
    b = t + head_centre - R @ head_centre
    return R, b, {"axis": axis.tolist(), "angle_deg": math.degrees(angle), "translation": t.tolist()}


def clinical_grid(spacing, shift, extent=(181.0, 217.0, 181.0)):
    """An axial grid (LPS-aligned, NIfTI RAS affine) covering the head: spacing mm, origin shifted by `shift`."""
    size = [int(math.ceil(e / s)) for e, s in zip(extent, spacing)]
    centre = head_centre + np.asarray(shift)
    lps = np.eye(4)
    lps[:3, :3] = np.diag(spacing)
    lps[:3, 3] = centre - np.diag(spacing) @ ((np.array(size) - 1) / 2.0)
    return size, lps


def save(path, arr, lps, dtype):
    aff = FLIP @ lps
    img = nib.Nifti1Image(np.asarray(arr).astype(dtype), aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    img.header["scl_slope"] = 1.0
    img.header["scl_inter"] = 0.0
    nib.save(img, path)


def write_points(name, fixed_pts, moving_pts, meta):
    for suffix, pts in (("fixed", fixed_pts), ("moving", moving_pts)):
        with open(os.path.join(args.outdir, f"{name}_{suffix}.csv"), "w") as f:
            f.write("x,y,z\n")
            for p in pts:
                f.write(f"{p[0]:.6f},{p[1]:.6f},{p[2]:.6f}\n")
    meta["tre_points"] = len(fixed_pts)
    with open(os.path.join(args.outdir, f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=1)


def tre_points(shape_, lps, T):
    """Every 3rd fixed voxel whose true image T(x) lies in the brain; (x, T(x))."""
    idx = np.stack(np.meshgrid(*[np.arange(1, n, 3) for n in shape_], indexing="ij"), axis=-1).reshape(-1, 3).astype(np.float64)
    x = physical(idx, lps)
    y = T(x)
    inside = sample(brain.astype(np.float64), y, order=0) > 0.5
    return x[inside], y[inside]


# Source phantoms (continuous images on the 1 mm source grid)
ct_src = ndimage.gaussian_filter(HU[tissue], sigma=(0.5, 0.5, 2.5 / 2.355))
pet_src = UPTAKE[tissue]
rng_hot = np.random.default_rng(77)
for _ in range(3):                           # a few hot spots: PET's long tail
    cidx = np.argwhere(tissue == 2)[rng_hot.integers(0, int((tissue == 2).sum()))]
    d2 = np.sum((np.indices(shape).transpose(1, 2, 3, 0) - cidx) ** 2, axis=-1)
    pet_src = pet_src + 12.0 * np.exp(-d2 / (2 * 3.0 ** 2))
pet_src = ndimage.gaussian_filter(pet_src, sigma=6.0 / 2.355)
t1_coeffs = ndimage.spline_filter(t1, order=3, mode="mirror")


def ct_image(pts, rng):
    v = sample(ct_src, pts, order=1, cval=-1000.0)
    v += rng.normal(scale=6.0, size=v.shape)
    return np.clip(np.round(v), -1024, 3071)


def t1_image(pts, rng, noise=0.02):
    v = np.clip(sample(t1_coeffs, pts, order=3), 0, None)
    return v + rng.normal(scale=noise * p99, size=v.shape) * (v > 0)


def pet_image(pts, rng):
    v = np.clip(sample(pet_src, pts, order=1), 0, None)
    return np.clip(v + rng.normal(size=v.shape) * np.sqrt(v * 0.05 + 0.0004), 0, None)


def rigid_case(name, seed, fixed_kind, moving_kind):
    if only and name not in only:
        return
    rng = np.random.default_rng([10, seed])
    R, b, meta = random_rigid(rng)
    T = lambda x: x @ R.T + b                                   # noqa: E731
    Tinv = lambda y: (y - b) @ np.linalg.inv(R).T               # noqa: E731
    grids = {"ct": ((0.9, 0.9, 2.5), np.int16), "t1": ((1.0, 1.0, 1.0), np.float32), "pet": ((4.0, 4.0, 4.0), np.float32)}
    makers = {"ct": ct_image, "t1": t1_image, "pet": pet_image}
    # fixed: the phantom itself on its grid; the T1 fixed image is ch2 itself.
    if fixed_kind == "t1":
        fsize, flps = list(shape), src_lps
        fixed = t1
    else:
        fsize, flps = clinical_grid(grids[fixed_kind][0], rng.uniform(-5, 5, size=3))
        fixed = makers[fixed_kind](grid_points(fsize, flps), rng).reshape(fsize)
    msize, mlps = clinical_grid(grids[moving_kind][0], rng.uniform(-5, 5, size=3))
    moving = makers[moving_kind](Tinv(grid_points(msize, mlps)), rng).reshape(msize)
    save(os.path.join(args.outdir, f"{name}_fixed.nii.gz"), fixed, flps, grids[fixed_kind][1])
    save(os.path.join(args.outdir, f"{name}_moving.nii.gz"), moving, mlps, grids[moving_kind][1])
    x, y = tre_points(fsize, flps, T)
    meta.update({"case": name, "A": R.tolist(), "b": b.tolist(), "fixed": fixed_kind, "moving": moving_kind})
    write_points(name, x, y, meta)
    print(f"{name}: {meta['angle_deg']:.1f} deg, |t| {np.linalg.norm(meta['translation']):.1f} mm, {len(x)} TRE points", flush=True)


rigid_case("ct_ct", 1, "ct", "ct")
rigid_case("ct_t1", 2, "ct", "t1")
rigid_case("t1_ct", 3, "t1", "ct")
rigid_case("pet_t1", 4, "t1", "pet")

# ---------------- 2 mm subjects with skull ----------------
# Template = ch2 at 2 mm (anti-aliased, every second voxel), the moving image of every subject case.
tmpl_lps = src_lps.copy()
tmpl_lps[:3, :3] = src_lps[:3, :3] * 2.0
tmpl = ndimage.gaussian_filter(t1, sigma=0.85)[::2, ::2, ::2]
t1_smooth_coeffs = ndimage.spline_filter(ndimage.gaussian_filter(t1, sigma=0.85), order=3, mode="mirror")
brain_pts = physical(np.argwhere(brain)[::7].astype(np.float64), src_lps)
depth = ndimage.distance_transform_edt(brain)
centre_pool = physical(np.argwhere(depth >= 10)[::5].astype(np.float64), src_lps)
coarse = grid_points([int(math.ceil(n / 2)) for n in shape], tmpl_lps)      # where max |grad u| is checked


def bumps_u(x, cs, amps, sig):
    out = np.zeros_like(x)
    for cc, a, s in zip(cs, amps, sig):
        out += np.exp(-np.sum((x - cc) ** 2, axis=1) / (2 * s * s))[:, None] * a[None, :]
    return out


def max_grad(x, cs, amps, sig):
    worst = 0.0
    for i in range(0, len(x), 1 << 17):
        p = x[i:i + (1 << 17)]
        J = np.zeros((len(p), 3, 3))
        for cc, a, s in zip(cs, amps, sig):
            d = p - cc
            w = np.exp(-np.sum(d * d, axis=1) / (2 * s * s))
            J -= (w / (s * s))[:, None, None] * a[None, :, None] * d[:, None, :]
        worst = max(worst, float(np.linalg.norm(J, ord=2, axis=(1, 2)).max()))
    return worst


for k in range(1, args.subjects + 1):
    name = f"sub2_{k}"
    if only and name not in only:
        continue
    rng = np.random.default_rng([20, k])
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = math.radians(rng.uniform(3.0, 8.0))
    A = rotation(axis, angle) @ np.diag(rng.uniform(0.94, 1.06, size=3))
    t = rng.normal(size=3)
    t *= rng.uniform(2.0, 6.0) / np.linalg.norm(t)
    b = t + head_centre - A @ head_centre
    for _ in range(200):
        nb = int(rng.integers(4, 6))
        cs = centre_pool[rng.choice(len(centre_pool), size=nb, replace=False)]
        sig = rng.uniform(15.0, 25.0, size=nb)
        amps = rng.normal(size=(nb, 3))
        amps = amps / np.linalg.norm(amps, axis=1, keepdims=True) * rng.uniform(0.5, 1.0, size=(nb, 1))
        amps *= rng.uniform(3.0, 4.5) / np.linalg.norm(bumps_u(brain_pts, cs, amps, sig), axis=1).max()
        g = max_grad(coarse, cs, amps, sig)
        if g < 0.5:
            break
    else:
        raise SystemExit("no smooth bumps")
    T = lambda x: (x + bumps_u(x, cs, amps, sig)) @ A.T + b      # noqa: E731
    # The subject's own oblique LAS grid (2 mm): RAS direction diag(-1, 1, 1) times a 10-15 deg rotation.
    obl_axis = rng.normal(size=3)
    obl = rotation(obl_axis / np.linalg.norm(obl_axis), math.radians(rng.uniform(10.0, 15.0)))
    las_ras = obl @ np.diag([-1.0, 1.0, 1.0])                     # columns: RAS directions of the voxel axes
    dir_lps = np.diag([-1.0, -1.0, 1.0]) @ las_ras
    size = [96, 114, 96]
    centre = np.linalg.solve(A, head_centre - b)                   # the head's centre in subject space (approx.)
    flps = np.eye(4)
    flps[:3, :3] = dir_lps * 2.0
    flps[:3, 3] = centre - flps[:3, :3] @ ((np.array(size) - 1) / 2.0)
    x = grid_points(size, flps)
    fixed = np.clip(sample(t1_smooth_coeffs, T(x), order=3), 0, None)
    fixed = fixed + rng.normal(scale=0.02 * p99, size=fixed.shape) * (fixed > 0.02 * p99)
    fixed = fixed.reshape(size)
    save(os.path.join(args.outdir, f"{name}_fixed.nii.gz"), fixed, flps, np.float32)
    save(os.path.join(args.outdir, f"{name}_moving.nii.gz"), tmpl, tmpl_lps, np.float32)
    xs, ys = tre_points(size, flps, T)
    u_brain = np.linalg.norm(bumps_u(xs, cs, amps, sig), axis=1)
    meta = {"case": name, "A": A.tolist(), "b": b.tolist(), "angle_deg": math.degrees(angle), "translation": t.tolist(),
            "bumps": [[cc.tolist(), a.tolist(), float(s)] for cc, a, s in zip(cs, amps, sig)], "max_grad_u": g,
            "u_over_brain_mm": {"mean": float(u_brain.mean()), "max": float(u_brain.max())}}
    write_points(name, xs, ys, meta)
    print(f"{name}: {math.degrees(angle):.1f} deg, {nb} bumps, |u| brain max {u_brain.max():.2f} mm, max grad {g:.3f}, {len(xs)} TRE points", flush=True)
