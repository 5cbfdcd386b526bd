/**
 * coreg's library API (browser-safe: no Node-only imports here; Node file I/O and the worker-thread pool are in
 * `coreg/node`, i.e. src/node.ts, and the command line in src/cli).
 *
 * Conventions: physical space is ITK's LPS in mm; matrices are flat row-major arrays; transforms map FIXED →
 * MOVING points (moving(T(x)) ≈ fixed(x)); chains apply first-first.
 */
export * from './image/image.js';
export * from './errors.js';
export * from './transform/transform.js';
export * from './transform/linear.js';
export * from './transform/itk-tfm.js';
export * from './transform/initialize.js';
export * from './transform/chain.js';
export * from './io/chain-io.js';
export * from './transform/displacement-field.js';
export * from './transform/jacobian.js';
export * from './transform/bspline.js';
export { bsplineDisplacementField } from './transform/bspline-field.js';
export { refineBSpline } from './transform/bspline-refine.js';
export * from './transform/bspline-regularizers.js';
export * from './transform/elastix.js';
export * from './transform/matlab.js';
export * from './transform/world-matrices.js';
export * from './transform/inverse.js';
export * from './transform/itk-hdf5.js';
export { readNifti, writeNifti } from './io/nifti.js';
export { readMetaImage, writeMetaImage } from './io/metaimage.js';
export { readNrrd, writeNrrd } from './io/nrrd.js';
export { readPng, writePng } from './io/png.js';
export { readMgh, writeMgh } from './io/mgh.js';
export { parseDicomObject, readDicom, readDicomSeries, groupDicomSeries, summarizeDicomSeries, hasDicomMagic } from './io/dicom.js';
export type { DicomObject, DicomSeriesSummary } from './io/dicom.js';
export * from './io/image-io.js';
export type { ReadContext, EncodedFile } from './io/format.js';
export * from './interpolate/index.js';
export * from './resample/index.js';
export * from './metric/index.js';
export * from './optimize/index.js';
export * from './pyramid/index.js';
export * from './register/config.js';
export { estimateScalesFromPhysicalShift } from './register/scales.js';
export { register, type RegisterOptions, type RegistrationResult, type ProgressEvent, type StageLog, type LevelLog } from './register/register.js';
export type { ParallelFor, BlockSession, BlockKernel } from './register/parallel-for.js';
export { registrationOutputs, type RegistrationOutput, type RegistrationOutputs } from './register/outputs.js';
export { synRegister, type SynOptions, type SynResult } from './register/syn.js';
export * from './transform/dense-field.js';
export * from './landmarks/fit.js';
export * from './transform/tps.js';
export * from './landmarks/field.js';
export * from './landmarks/pairs.js';
export * from './landmarks/point-io.js';
export * from './report/overlap.js';
export * from './report/difference.js';
export * from './report/difference.js';
export * from './segment/index.js';
export * from './parallel/index.js';
export * from './report/picture.js';
export * from './report/html.js';
export * from './report/landscape.js';
export { changeNonrigidStage, detectChange, halfTransform, matrixSqrt, type ChangeOptions, type ChangeResult, type RegionChange } from './register/change.js';
export * from './features/index.js';
