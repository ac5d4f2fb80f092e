export * from './members.js';
export * from './inspect.js';
export { inspectWimMsu } from './wim-msu.js';
export * from './extract.js';
export { loadContainerIndex, type LoadedIndex } from './load-index.js';
export { buildSyntheticMsu, SAMPLE_OPTIONS, type SyntheticMsuOptions } from './synthetic.js';
