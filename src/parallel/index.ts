export * from './pool.js';
export * from './serve.js';
export * from './shared.js';
export * from './browser.js';
export * from './team.js';
