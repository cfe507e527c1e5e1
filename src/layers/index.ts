export * from './entry.js';
export * from './layer.js';
