# Writes a synthetic DICOM series with pydicom (an independent writer for coreg's DICOM reader tests).
# usage: make-dicom-series.py OUT_FOLDER OPTIONS_JSON
# options: cols, rows, slices, row_spacing, col_spacing, slice_spacing, iop (6), origin (3), slope, intercept,
#          series_uid, description, shuffle (bool), tilt (deg, shifts positions off the normal), gap_at (slice index
#          whose position gets an extra 1 mm), iop_last (orientation of the last slice), no_pixels (bool),
#          enhanced (bool: one Enhanced MR object, frames in reverse order, geometry in functional groups)
# stored value of voxel (i, j, k) = i + 10 j + 100 k (+ 1000 when signed data is asked), uint16.
import json, os, random, sys
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

out, opts = sys.argv[1], json.loads(sys.argv[2])
cols, rows, slices = opts.get('cols', 7), opts.get('rows', 5), opts.get('slices', 4)
iop = np.array(opts.get('iop', [1, 0, 0, 0, 1, 0]), dtype=float)
r, c = iop[:3], iop[3:]
n = np.cross(r, c)
origin = np.array(opts.get('origin', [0, 0, 0]), dtype=float)
dz = opts.get('slice_spacing', 2.5)
series_uid = opts.get('series_uid') or generate_uid()
study_uid = generate_uid()
os.makedirs(out, exist_ok=True)
names = [f'IM{k:04d}' for k in range(slices)]
if opts.get('shuffle'):
    random.Random(3).shuffle(names)
def position(k):
    pos = origin + k * dz * n
    if opts.get('tilt'):
        pos = pos + k * dz * np.tan(np.radians(opts['tilt'])) * c
    return pos

if opts.get('enhanced'):
    from pydicom.sequence import Sequence
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.4.1'
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'MR'
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 5
    ds.SeriesDescription = 'enhanced'
    ds.NumberOfFrames = slices
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    shared = Dataset()
    po = Dataset(); po.ImageOrientationPatient = [float(v) for v in iop]
    pm = Dataset(); pm.PixelSpacing = [opts.get('row_spacing', 0.8), opts.get('col_spacing', 1.3)]; pm.SliceThickness = 9.9
    shared.PlaneOrientationSequence = Sequence([po])
    shared.PixelMeasuresSequence = Sequence([pm])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    frames = []
    for f in range(slices):
        k = slices - 1 - f  # frames stored top to bottom
        fg = Dataset()
        pp = Dataset(); pp.ImagePositionPatient = [float(v) for v in position(k)]
        pv = Dataset(); pv.RescaleSlope = 1.5; pv.RescaleIntercept = k - 5; pv.RescaleType = 'US'
        fg.PlanePositionSequence = Sequence([pp])
        fg.PixelValueTransformationSequence = Sequence([pv])
        per.append(fg)
        j, i = np.mgrid[0:rows, 0:cols]
        frames.append((i + 10 * j + 100 * k - 300).astype('<i2'))  # signed, 12 bits stored
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.PixelData = np.stack(frames).tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(os.path.join(out, 'enhanced.dcm'), write_like_original=False)
    sys.exit(0)

for k in range(slices):
    pos = origin + k * dz * n
    if opts.get('tilt'):
        pos = pos + k * dz * np.tan(np.radians(opts['tilt'])) * c
    if opts.get('gap_at') is not None and k >= opts['gap_at']:
        pos = pos + 1.0 * n
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.4'
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = opts.get('modality', 'MR')
    ds.PatientName = 'Test^Series'
    ds.PatientID = 'T1'
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = opts.get('series_number', 3)
    ds.SeriesDescription = opts.get('description', 'oblique test')
    ds.InstanceNumber = k + 1
    this_iop = opts['iop_last'] if (opts.get('iop_last') and k == slices - 1) else list(iop)
    ds.ImageOrientationPatient = [float(v) for v in this_iop]
    ds.ImagePositionPatient = [float(v) for v in pos]
    ds.PixelSpacing = [opts.get('row_spacing', 0.8), opts.get('col_spacing', 1.3)]
    ds.SliceThickness = 9.9  # deliberately wrong: spacing must come from the positions
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope = opts.get('slope', 1)
    ds.RescaleIntercept = opts.get('intercept', 0)
    j, i = np.mgrid[0:rows, 0:cols]
    if not opts.get('no_pixels'):
        ds.PixelData = (i + 10 * j + 100 * k).astype('<u2').tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(os.path.join(out, names[k]), write_like_original=False)
