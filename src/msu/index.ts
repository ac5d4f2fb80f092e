export * from './members.js';
export * from './inspect.js';
export { inspectWimMsu } from './wim-msu.js';
export * from './extract.js';
