// Automated landmarks: keypoint detection and description (2D and 3D, physical space).
export { defaultWorkingSpacing } from './scale-space.js';
export { detectKeypoints, type Keypoints, type KeypointOptions } from './keypoints.js';
export { describeKeypoints, type DescriptorKind, type Descriptors, type DescriptorOptions, type DescribedKeypoints } from './descriptors.js';
export { scaleSpace, type ScaleSpace, type ScaleSpaceOptions } from './scale-space.js';
export { matchDescriptors, type Matches, type MatchOptions } from './match.js';
export { ransacFit, minimalSampleSize, type RansacOptions, type RansacResult, type RobustKind, type LinearMap } from './ransac.js';
export { autoLandmarks, matchesCsv, parseMatchesCsv, DESCRIPTOR_CHOICES, type AutoLandmarkOptions, type AutoLandmarkResult, type AutoLandmarkAttempt, type DescriptorChoice } from './auto.js';
