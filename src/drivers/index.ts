export * from './inf.js';
export * from './hwid.js';
export * from './devices.js';
export * from './package.js';
