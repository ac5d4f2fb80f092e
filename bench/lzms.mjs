// LZMS decoding: the solid LZMS resource of a generated ~96 MB WIM decoded by src/delta/lzms.ts (in a child
// process), beside `wimlib-imagex verify` of the same WIM (which decompresses every blob and checks its
// SHA-1). Run `npm run build` first; `node bench/lzms.mjs`. Needs wimtools.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, best, fmt } from './lib/measure.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'out');
const src = path.join(out, 'lzms-src');
const wim = path.join(out, 'lzms-solid.wim');
const corpusCmd = path.resolve(here, '../../shared/corpus/deltas/sources/cmd.exe');

if (!existsSync(wim)) {
  console.error('generating the LZMS solid WIM (once; cached in bench/out)...');
  mkdirSync(src, { recursive: true });
  const words = ['servicing', 'package', 'component', 'manifest', 'amd64', 'wow64', 'neutral', 'Microsoft', 'Windows'];
  let seed = 1;
  const rnd = (n) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let f = 0; f < 8; f++) {
    const parts = [];
    for (let i = 0; i < 800_000; i++) parts.push(`${words[rnd(words.length)]}${rnd(1000)}`);
    writeFileSync(path.join(src, `text${f}.txt`), parts.join(' '));
  }
  const ramp = Buffer.alloc(16 << 20);
  for (let i = 0; i < ramp.length / 4; i++) ramp.writeUInt32LE((i * 3 + (i >> 5)) >>> 0, i * 4);
  writeFileSync(path.join(src, 'ramp.bin'), ramp);
  writeFileSync(path.join(src, 'random.bin'), randomBytes(8 << 20));
  if (existsSync(corpusCmd)) {
    const cmd = readFileSync(corpusCmd);
    for (let k = 0; k < 16; k++) writeFileSync(path.join(src, `cmd${k}.exe`), Buffer.concat([cmd, Buffer.from([k])]));
  }
  measure('wimlib-imagex', ['capture', src, wim, '--solid', '--compress=LZMS']);
}

const child = path.join(here, 'lib', 'lzms-child.mjs');
const ours = best(3, () => {
  const r = measure('node', [child, wim]);
  return { ...r, ...JSON.parse(r.stdout), wallMs: r.ms };
});
const wimlib = best(3, () => measure('wimlib-imagex', ['verify', wim]));
const mb = ours.bytes / 1048576;
console.log(`solid LZMS resource: ${fmt(mb)} MB decoded`);
console.log(`ours (decode only)     ${fmt(ours.ms / 1000, 2)} s  ${fmt(mb / (ours.ms / 1000))} MB/s  (CPU ${fmt(ours.cpuMs / 1000, 2)} s: ${fmt(mb / (ours.cpuMs / 1000))} MB/s of CPU)  peak RSS ${fmt(ours.rssMB)} MB`);
console.log(`wimlib-imagex verify   ${fmt(wimlib.ms / 1000, 2)} s  ${fmt(mb / (wimlib.ms / 1000))} MB/s  peak RSS ${fmt(wimlib.rssMB)} MB`);
console.log(`ratio                  ours at ${fmt(wimlib.ms / ours.ms, 2)}x wimlib's speed (wall)`);
