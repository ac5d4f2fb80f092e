// Writes the demo sample MSU (deterministic, built by the project's own CAB writer).
import { mkdirSync, writeFileSync } from 'node:fs';
import { buildSyntheticMsu, SAMPLE_OPTIONS } from '../dist/src/msu/synthetic.js';

const out = process.argv[2] ?? 'samples/Windows10.0-KB5099999-x64.msu';
mkdirSync(new URL('../samples/', import.meta.url), { recursive: true });
writeFileSync(out, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
console.error(`wrote ${out}`);
