export * from './line-clamp.js';
export * from './line-source.js';
export * from './codec.js';
export * from './encoder.js';
export * from './publisher.js';
export * from './ship-stream.js';
