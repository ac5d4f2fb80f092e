// Offline-scan cabinet at real scale: build the index of a generated wsusscn2-shaped cabinet
// (bench/lib/scancab-gen.mjs), then query one KB on the built index. Wall time and peak RSS
// (GNU time). Targets (docs/performance.md): index <= 60 s and <= 1 GB; query <= 0.5 s with Node's start.
// Usage: npm run build && node bench/scancab.mjs [REVISIONS]
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from './lib/scancab-gen.mjs';
import { measure, best, fmt } from './lib/measure.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const revisions = Number(process.argv[2] ?? 300000);
const work = path.join(here, 'out', 'scancab');
mkdirSync(work, { recursive: true });
const cab = path.join(work, `wsusscn2-${revisions}.cab`);
if (!existsSync(cab)) {
  const t = Date.now();
  const shape = generate(cab, revisions);
  console.log(`generated ${path.basename(cab)}: ${shape.revisions} revisions, package.xml ${fmt(shape.packageXmlBytes / 1048576)} MB, ${shape.cabinets} inner cabinets, ${fmt(shape.bytes / 1048576)} MB (${((Date.now() - t) / 1000).toFixed(1)} s)`);
}
const cache = path.join(work, 'cache');
const msu = path.join(here, '..', 'bin', 'msu.js');
const kb = String(3000000 + Math.floor(revisions / 6));
rmSync(cache, { recursive: true, force: true });
const build = measure(process.execPath, [msu, 'scancab', cab, '--cache-dir', cache, '--kb', kb, '--json']);
const hit = JSON.parse(build.stdout).updates.length;
const query = best(5, () => measure(process.execPath, [msu, 'scancab', cab, '--cache-dir', cache, '--kb', kb, '--json']));
console.log(`cabinet: ${fmt(statSync(cab).size / 1048576)} MB, ${revisions} revisions`);
const version = best(5, () => measure(process.execPath, [msu, '--version']));
console.log(`load average: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);
console.log(`index build (cold cache, incl. the KB query): ${fmt(build.ms / 1000, 2)} s wall, ${fmt(build.cpuS, 1)} s CPU, peak RSS ${fmt(build.rssMB, 0)} MB  (targets 60 s, 1024 MB)`);
console.log(`KB${kb} query on the built index: ${fmt(query.ms / 1000, 3)} s wall, ${fmt(query.cpuS, 2)} s CPU, peak RSS ${fmt(query.rssMB, 0)} MB, ${hit} update(s)  (target 0.5 s)`);
console.log(`msu --version, same run: ${fmt(version.ms / 1000, 3)} s wall, ${fmt(version.cpuS, 2)} s CPU (query / --version: ${fmt(query.ms / version.ms, 2)}x)`);
