// CAB/MSU benchmark: msu inspect vs cabextract on a generated 1 GB-class MSU, and MSZIP/LZX
// extraction throughput vs cabextract. Run `npm run bench` (builds first). Needs cabextract.
// `node bench/cab.mjs --extract-only` skips the 1 GB-class MSU (inspect) part.
import { mkdirSync, rmSync, writeFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCabinet, layout } from '../dist/src/cab/writer.js';
import { ensureBigMsu, manifest } from './lib/lcu.mjs';
import { Cabinet } from '../dist/src/cab/cabinet.js';
import { decodeFolder } from '../dist/src/cab/folder.js';
import { measure, best, fmt } from './lib/measure.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const out = path.join(here, 'out');
mkdirSync(out, { recursive: true });
const msuBin = path.join(root, 'bin', 'msu.js');
const corpusCab = path.resolve(root, '../shared/corpus/cab/Windows6.1-KB2883457-amd64.cab');
const results = {};

// 1. The 1 GB-class MSU of bench/lib/lcu.mjs: stored outer cab; payload cab with 20,001 members
//    (19,000 manifests in MSZIP folders of ~8,000 files as makecab splits them, 1,000 binaries stored).
const bigMsu = path.join(out, 'Windows10.0-KB5999999-x64.msu');
if (!process.argv.includes('--extract-only')) ensureBigMsu(bigMsu);
const extractOnly = process.argv.includes('--extract-only');
if (!extractOnly) {
  const msuSize = statSync(bigMsu).size;
  const child = path.join(here, 'lib', 'inspect-child.mjs');
  const ours = best(3, () => { const r = measure('node', [child, bigMsu]); return { ...JSON.parse(r.stdout), ms: r.ms, rssMB: r.rssMB ?? JSON.parse(r.stdout).rssMB }; });
  const cli = best(3, () => measure('node', [msuBin, 'inspect', '--json', bigMsu]));
  const list = best(3, () => measure('cabextract', ['-l', bigMsu]));
  const tmp = path.join(out, 'pipeline');
  const pipeline = best(1, () => {
    rmSync(tmp, { recursive: true, force: true });
    const a = measure('cabextract', ['-q', '-d', tmp, bigMsu]);
    const b = measure('cabextract', ['-q', '-d', path.join(tmp, 'inner'), '-F', 'update.mum', path.join(tmp, 'Windows10.0-KB5999999-x64.cab')]);
    return { ms: a.ms + b.ms, rssMB: Math.max(a.rssMB ?? 0, b.rssMB ?? 0) };
  });
  rmSync(tmp, { recursive: true, force: true });
  results.inspect = {
    fileMB: msuSize / 2 ** 20, members: ours.members,
    msuInspectCliMs: cli.ms, msuInspectCliRssMB: cli.rssMB, libraryMs: ours.ms, bytesRead: ours.bytesRead, fractionRead: ours.bytesRead / msuSize,
    cabextractListMs: list.ms, cabextractListRssMB: list.rssMB, cabextractPipelineMs: pipeline.ms, cabextractPipelineRssMB: pipeline.rssMB,
  };
}

// Extraction into `root`: runs alternate between the two tools so both see the same machine
// state (this VM's disk is noisy); the median of 5 each. Run on disk (bench/out) and, where
// there is one, on tmpfs (/dev/shm): the second measures the tools without the disk.
const TMPFS = existsSync('/dev/shm') ? '/dev/shm' : null;
function extractBench(label, cabFile, root = out) {
  const size = statSync(cabFile).size;
  const a = path.join(root, `msu-bench-x-${label}-ours`), b = path.join(root, `msu-bench-x-${label}-cabextract`);
  // both check CFDATA checksums by default; `--no-checksum` shows what the check costs us
  const ours = [], theirs = [], unchecked = [];
  for (let i = 0; i < 5; i++) {
    rmSync(a, { recursive: true, force: true });
    ours.push(measure('node', [msuBin, 'extract', cabFile, '-d', a]));
    rmSync(b, { recursive: true, force: true });
    theirs.push(measure('cabextract', ['-q', '-d', b, cabFile]));
    rmSync(a, { recursive: true, force: true });
    unchecked.push(measure('node', [msuBin, 'extract', '--no-checksum', cabFile, '-d', a]));
  }
  rmSync(a, { recursive: true, force: true }); rmSync(b, { recursive: true, force: true });
  const med = (runs) => runs.map((x) => x.ms).sort((x, y) => x - y)[Math.floor(runs.length / 2)];
  const o = med(ours), t = med(theirs), u = med(unchecked);
  return { cabMB: size / 2 ** 20, msuMs: o, cabextractMs: t, ratio: t / o, noChecksumMs: u, checksumCost: o / u - 1 };
}

// 2. MSZIP: 250 MB of manifests and semi-compressible binaries.
const mszipCab = path.join(out, 'mszip.cab');
if (!existsSync(mszipCab)) {
  const files = [];
  for (let i = 0; i < 20_000; i++) files.push({ name: `m\\${i}.manifest`, data: manifest(i) });
  for (let i = 0; i < 120; i++) { const b = Buffer.alloc(1 << 20); for (let j = 0; j < b.length; j += 64) randomBytes(16).copy(b, j); files.push({ name: `b\\${i}.dll`, data: b }); }
  writeFileSync(mszipCab, buildCabinet({ folders: [{ compression: 'mszip', files }] }));
}
results.mszip = extractBench('mszip', mszipCab);
if (TMPFS) results.mszipTmpfs = extractBench('mszip', mszipCab, TMPFS);

// 3. LZX: real Microsoft LZX:21 data. The corpus cab's folder is re-packed 300 times (each
//    copy its own folder, so the decoder resets as it does at any folder start).
const lzxCab = path.join(out, 'lzx.cab');
if (existsSync(corpusCab)) {
  if (!existsSync(lzxCab)) {
    const cab = await Cabinet.openFile(corpusCab);
    const part = cab.parts[0];
    const f0 = part.folders[0];
    const raw = await part.source.read(0, part.header.cbCabinet);
    const blocks = [];
    let pos = f0.coffCabStart;
    for (let i = 0; i < f0.cCFData; i++) {
      const dv = new DataView(raw.buffer, raw.byteOffset + pos);
      const cbData = dv.getUint16(4, true), cbUncomp = dv.getUint16(6, true);
      blocks.push({ data: raw.subarray(pos + 8 + part.header.cbCFData, pos + 8 + part.header.cbCFData + cbData), cbUncomp });
      pos += 8 + part.header.cbCFData + cbData;
    }
    const copies = 300, folders = [], rows = [];
    for (let k = 0; k < copies; k++) {
      folders.push({ typeCompress: f0.compression.raw, blocks });
      for (const e of cab.entries) rows.push({ name: `c${k}\\${e.name}`, size: e.cbFile, offset: e.uoffFolderStart, iFolder: k, modified: e.modified ?? '2013-08-28T00:00:00', attribs: e.attribs & 0x7f });
    }
    writeFileSync(lzxCab, layout(folders, rows, { reserve: { header: 0, folder: 0, data: 0 }, checksums: true, setID: 1, iCabinet: 0 }));
    await cab.close();
  }
  results.lzx = extractBench('lzx', lzxCab);
  if (TMPFS) results.lzxTmpfs = extractBench('lzx', lzxCab, TMPFS);
  // Decoder alone (no file writes), to separate LZX speed from I/O.
  const cab = await Cabinet.openFile(lzxCab);
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (const span of cab.folders.slice(0, 100)) bytes += await decodeFolder(span, () => {});
  results.lzx.decoderMBps = bytes / 2 ** 20 / (Number(process.hrtime.bigint() - t0) / 1e9);
  await cab.close();
  results.lzx.decoderChecksumCost = await decoderChecksumCost(lzxCab, 100);

} else console.error('LZX: ../shared/corpus not found, skipped');

results.mszip.decoderChecksumCost = await decoderChecksumCost(mszipCab);

/**
 * What checking CFDATA checksums costs the decoder, in process (no file writes, so the disk
 * and other processes' I/O do not blur it): decode with and without, alternating, median of 9.
 */
async function decoderChecksumCost(file, maxFolders = Infinity) {
  const cab = await Cabinet.openFile(file);
  const spans = cab.folders.slice(0, maxFolders);
  const run = async (verify) => {
    const t0 = process.hrtime.bigint();
    for (const span of spans) await decodeFolder(span, () => {}, { verify });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const on = [], off = [];
  await run(true);
  for (let i = 0; i < 9; i++) { on.push(await run(true)); off.push(await run(false)); }
  await cab.close();
  const med = (xs) => xs.sort((a, b) => a - b)[4];
  return { onMs: med(on), offMs: med(off), cost: med(on) / med(off) - 1 };
}

const r = results;
const cost = (x) => `checksums cost ${fmt(x.checksumCost * 100, 1)} % (--no-checksum ${fmt(x.noChecksumMs, 0)} ms)`;
const dcost = (x) => `decoder alone: checksums cost ${fmt(x.decoderChecksumCost.cost * 100, 1)} % (${fmt(x.decoderChecksumCost.onMs, 0)} vs ${fmt(x.decoderChecksumCost.offMs, 0)} ms)`;
if (r.inspect) console.log(`
msu inspect on a ${fmt(r.inspect.fileMB, 0)} MiB MSU (${r.inspect.members} payload members)
  msu inspect (CLI, incl. node start)   ${fmt(r.inspect.msuInspectCliMs, 0)} ms   peak RSS ${fmt(r.inspect.msuInspectCliRssMB, 0)} MB
  library call                          ${fmt(r.inspect.libraryMs, 0)} ms   read ${fmt(r.inspect.bytesRead / 2 ** 20, 2)} MiB (${fmt(r.inspect.fractionRead * 100, 3)} % of the file)
  cabextract -l (outer only)            ${fmt(r.inspect.cabextractListMs, 0)} ms   peak RSS ${fmt(r.inspect.cabextractListRssMB, 0)} MB
  cabextract + cabextract -F update.mum ${fmt(r.inspect.cabextractPipelineMs, 0)} ms   ratio ${fmt(r.inspect.cabextractPipelineMs / r.inspect.msuInspectCliMs, 1)}x faster`);
console.log(`MSZIP extraction (${fmt(r.mszip.cabMB, 0)} MiB cab, 20,120 members), target >= 0.8x:
  to disk   msu ${fmt(r.mszip.msuMs, 0)} ms, cabextract ${fmt(r.mszip.cabextractMs, 0)} ms, throughput ratio ${fmt(r.mszip.ratio, 2)}x; ${cost(r.mszip)}${r.mszipTmpfs ? `
  to tmpfs  msu ${fmt(r.mszipTmpfs.msuMs, 0)} ms, cabextract ${fmt(r.mszipTmpfs.cabextractMs, 0)} ms, throughput ratio ${fmt(r.mszipTmpfs.ratio, 2)}x; ${cost(r.mszipTmpfs)}` : ''}
  ${dcost(r.mszip)}`);
if (r.lzx) console.log(`LZX:21 extraction (${fmt(r.lzx.cabMB, 0)} MiB cab), target >= 0.5x; decoder alone ${fmt(r.lzx.decoderMBps, 0)} MB/s:
  to disk   msu ${fmt(r.lzx.msuMs, 0)} ms, cabextract ${fmt(r.lzx.cabextractMs, 0)} ms, throughput ratio ${fmt(r.lzx.ratio, 2)}x; ${cost(r.lzx)}${r.lzxTmpfs ? `
  to tmpfs  msu ${fmt(r.lzxTmpfs.msuMs, 0)} ms, cabextract ${fmt(r.lzxTmpfs.cabextractMs, 0)} ms, throughput ratio ${fmt(r.lzxTmpfs.ratio, 2)}x; ${cost(r.lzxTmpfs)}` : ''}
  ${dcost(r.lzx)}`);
writeFileSync(path.join(out, 'cab-results.json'), JSON.stringify(results, null, 2));
