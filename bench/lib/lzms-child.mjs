// Decode every solid LZMS resource of a WIM in this process; print bytes, decode time and CPU time as JSON.
import { readFileSync } from 'node:fs';
import { solidResourceChunks } from '../../dist/src/wim/solid-resource.js';

const wim = new Uint8Array(readFileSync(process.argv[2]));
const dv = new DataView(wim.buffer, wim.byteOffset, wim.byteLength);
const u64 = (at) => dv.getUint32(at, true) + dv.getUint32(at + 4, true) * 2 ** 32;
// Blob table reshdr at 0x30: size (7 bytes) + flags, offset, original size; 50-byte entries.
const tableOffset = u64(0x38);
const tableSize = u64(0x40);
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let bytes = 0;
for (let at = tableOffset; at + 50 <= tableOffset + tableSize; at += 50) {
  const flags = wim[at + 7];
  if (!(flags & 0x10) || u64(at + 16) !== 2 ** 32) continue;
  const size = dv.getUint32(at, true) + (dv.getUint32(at + 4, true) & 0xffffff) * 2 ** 32;
  const offset = u64(at + 8);
  for (const chunk of solidResourceChunks(wim.subarray(offset, offset + size))) bytes += chunk.length;
}
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
const cpuMs = process.cpuUsage(cpu0).user / 1000;
console.log(JSON.stringify({ bytes, ms, cpuMs }));
