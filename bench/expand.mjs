// `msu expand` benchmark: a generated 500 MB express package (PSF + cix) expanded by the CLI, beside `cp`
// of the same .psf (the I/O floor: every byte read once and written once). Prints wall time, MB/s, peak RSS
// and the ratio. Run `npm run build` first; `node bench/expand.mjs`. Target: peak RSS < 300 MB.
//
// The PSF holds RAW ranges of random data (up to 64 MB per file, the bulk of the bytes), and, when the
// corpus is beside the repository, real PA30 deltas: cmd.exe as a RAW File, then cmd→where and cmd→notepad
// applied against it (<Basis file=N/>) many times over, so delta decoding is part of the measurement.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, best, fmt } from './lib/measure.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const out = path.join(here, 'out');
const pkg = path.join(out, 'express-500mb');
const msuBin = path.join(root, 'bin', 'msu.js');
const corpus = path.resolve(root, '../shared/corpus/deltas');
const TOTAL = 500 * 1024 * 1024;
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

if (!existsSync(path.join(pkg, 'express.psf.cix.xml'))) {
  console.error('generating the 500 MB express package (once; cached in bench/out)...');
  mkdirSync(pkg, { recursive: true });
  const fd = openSync(path.join(pkg, 'Windows11.0-KB5999999-x64.psf'), 'w');
  let at = 0;
  const files = [];
  const put = (buf) => {
    writeSync(fd, buf);
    const off = at;
    at += buf.length;
    return off;
  };
  put(Buffer.from('PSTREAM\0\x02\x00\x02\x00\0\0\0\0', 'latin1'));
  let id = 1;
  const component = (i) => `amd64_microsoft-windows-component-${i}_31bf3856ad364e35_10.0.26100.2894_none_${i.toString(16).padStart(16, '0')}`;
  if (existsSync(corpus)) {
    const cmd = readFileSync(path.join(corpus, 'sources', 'cmd.exe'));
    const deltas = [
      [readFileSync(path.join(corpus, 'cmd__to__where__raw.pa30')), readFileSync(path.join(corpus, 'sources', 'where.exe'))],
      [readFileSync(path.join(corpus, 'cmd__to__notepad__raw.pa30')), readFileSync(path.join(corpus, 'sources', 'notepad.exe'))],
    ];
    const base = id++;
    const off = put(cmd);
    files.push(`<File id="${base}" name="${component(0)}\\n\\cmd.exe" length="${cmd.length}"><Hash alg="SHA256" value="${sha256(cmd)}"/><Delta><Source type="RAW" offset="${off}" length="${cmd.length}"/></Delta></File>`);
    for (let k = 0; k < 100; k++) {
      const [blob, target] = deltas[k % 2];
      const o = put(blob);
      files.push(`<File id="${id++}" name="${component(k + 1)}\\f\\${k % 2 ? 'notepad' : 'where'}.exe" length="${target.length}"><Hash alg="SHA256" value="${sha256(target)}"/><Delta><Source type="PA30" offset="${o}" length="${blob.length}"/><Basis file="${base}"/></Delta></File>`);
    }
  }
  for (let i = 0; at < TOTAL; i++) {
    const size = Math.min(TOTAL - at, i % 10 === 0 ? 64 << 20 : 1 + ((i * 7919) % (4 << 20)));
    const data = randomBytes(size);
    const o = put(data);
    files.push(`<File id="${id++}" name="${component(1000 + i)}\\f\\file${i}.bin" length="${size}" time="133500000000000000"><Hash alg="SHA256" value="${sha256(data)}"/><Delta><Source type="RAW" offset="${o}" length="${size}"/></Delta></File>`);
  }
  closeSync(fd);
  writeFileSync(path.join(pkg, 'express.psf.cix.xml'), `<?xml version="1.0" encoding="utf-8"?>\n<Container name="Windows11.0-KB5999999-x64.psf" type="PSF" length="${at}" version="1" xmlns="urn:ContainerIndex"><Files>\n${files.join('\n')}\n</Files></Container>\n`);
}

const psfSize = statSync(path.join(pkg, 'Windows11.0-KB5999999-x64.psf')).size;
const dest = path.join(out, 'expand-dest');
const copyDest = path.join(out, 'expand-cp.psf');
const ours = best(3, () => {
  rmSync(dest, { recursive: true, force: true });
  const r = measure('node', [msuBin, 'expand', pkg, '-d', dest, '--json']);
  const report = JSON.parse(r.stdout);
  if (report.notExpanded.length) throw new Error(`not expanded: ${JSON.stringify(report.notExpanded)}`);
  return { ...r, bytes: report.bytes, files: report.files };
});
const cp = best(3, () => {
  rmSync(copyDest, { force: true });
  return measure('cp', [path.join(pkg, 'Windows11.0-KB5999999-x64.psf'), copyDest]);
});
rmSync(dest, { recursive: true, force: true });
rmSync(copyDest, { force: true });

const mb = (n) => n / 1048576;
console.log(`psf ${fmt(mb(psfSize))} MB, ${ours.files} files, ${fmt(mb(ours.bytes))} MB rebuilt`);
console.log(`msu expand  ${fmt(ours.ms / 1000, 2)} s  ${fmt(mb(ours.bytes) / (ours.ms / 1000))} MB/s  peak RSS ${fmt(ours.rssMB)} MB${ours.rssMB !== null && ours.rssMB < 300 ? ' (< 300 MB target: met)' : ''}`);
console.log(`cp          ${fmt(cp.ms / 1000, 2)} s  ${fmt(mb(psfSize) / (cp.ms / 1000))} MB/s  peak RSS ${fmt(cp.rssMB)} MB`);
console.log(`ratio       msu expand takes ${fmt(ours.ms / cp.ms, 2)}x the time of cp (reads, hashes and writes every byte; applies the deltas)`);
