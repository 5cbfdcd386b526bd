// The library API in a few lines (run after `npm ci`: node examples/library.mjs).
// In your own project: import { register, defaultConfig, resample, formatItkTransformFile } from 'coreg';
//                      import { readImageFile, writeImageFile } from 'coreg/node';
import { register, defaultConfig, resample, formatItkTransformFile } from '../dist/index.js';
import { readImageFile } from '../dist/node.js';

const fixed = readImageFile(new URL('BrainProtonDensitySliceBorder20.png', import.meta.url).pathname);
const moving = readImageFile(new URL('BrainProtonDensitySliceR10X13Y17.png', import.meta.url).pathname);

// All settings are one plain JSON-able object (the same one `coreg register --config` reads).
const config = defaultConfig(['rigid'], ['mse']);
const controller = new AbortController(); // controller.abort() cancels the run
const result = await register(fixed, moving, config, {
  signal: controller.signal,
  onProgress: (e) => {
    if (e.iteration === 1) console.log(`stage ${e.stage + 1}/${e.stageCount} ${e.transform}/${e.metric}, level ${e.level + 1}/${e.levelCount}`);
  },
});

// result.transforms maps FIXED → MOVING points; resampling the moving image onto the fixed grid uses it directly.
const warped = resample(moving, fixed, result.transforms, { interpolation: 'linear' });
console.log(formatItkTransformFile(result.transforms));
console.log(`${result.seconds.toFixed(2)} s; warped image ${warped.size.join('×')} ${warped.data.constructor.name}`);
