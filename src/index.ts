// Public library API of coreg (no Node-only imports here: Node I/O lives in src/io/node.ts and src/cli).
export * from './image/image.js';
export * from './errors.js';
export * from './transform/transform.js';
