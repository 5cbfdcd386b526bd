// Atlas-based segmentation: label fusion, atlas selection, label tables and the segment() pipeline.
export * from './fusion.js';
export * from './weighted-vote.js';
export * from './staple.js';
export * from './joint-fusion.js';
export * from './select.js';
export * from './label-table.js';
export { processAtlas, validateAtlas, type Atlas, type AtlasOutcome, type AtlasRunOptions, type SegmentProgress, type WarpedAtlas } from './atlas.js';
export * from './segment.js';
export * from './tasks.js';
