/**
 * CFDATA checksums are checked by default: a byte flipped in a block's data is bad input
 * (exit 3) and nothing is written; `--no-checksum` skips the check. Stored data, so no decoder
 * can notice the damage on its own: only the checksum does.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCabinet } from '../../src/cab/writer.js';
import { Cabinet } from '../../src/cab/cabinet.js';
import { BufferSource } from '../../src/util/source.js';
import { runCli } from '../helpers/cli.js';
import { ensureBuilt, repoRoot } from '../helpers/built-cli.js';
import { spawnSync } from 'node:child_process';

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-csum-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(100));

function damaged(checksums: boolean): Buffer {
  const cab = Buffer.from(buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'fox.txt', data: text }] }], checksums }));
  const at = cab.indexOf('lazy dog');
  cab[at] = 'L'.charCodeAt(0);
  return cab;
}

describe('CFDATA checksums', () => {
  it('a mismatch stops msu extract with exit 3 and writes nothing; --no-checksum writes the damaged data', async () => {
    const f = path.join(root, 'damaged.cab');
    writeFileSync(f, damaged(true));
    const out = path.join(root, 'out');
    const r = await runCli('extract', f, '-d', out);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/damaged\.cab: checksum mismatch: CFDATA csum is 0x[0-9a-f]+, computed 0x[0-9a-f]+ \(folder 0, CFDATA 0 at offset \d+\)/);
    expect(() => readdirSync(out)).toThrow(/ENOENT/);
    const skip = await runCli('extract', f, '-d', out, '--no-checksum');
    expect(skip.code).toBe(0);
    expect(readFileSync(path.join(out, 'fox.txt'), 'utf8')).toContain('Lazy dog');
  });

  it('the library checks by default too (extract and readFile); a cabinet without checksums (csum 0) is read', async () => {
    const cab = await Cabinet.open(new BufferSource(damaged(true), 'd.cab'));
    await expect(cab.readFile(cab.entries[0]!)).rejects.toMatchObject({ code: 'E_CAB', message: expect.stringMatching(/^checksum mismatch/) });
    expect(Buffer.from(await cab.readFile(cab.entries[0]!, { verifyChecksums: false })).toString()).toContain('Lazy dog');
    const unsummed = await Cabinet.open(new BufferSource(damaged(false), 'u.cab'));
    expect(Buffer.from(await unsummed.readFile(unsummed.entries[0]!)).toString()).toContain('Lazy dog');
  });
});

describe('csumCompute', () => {
  it('gives the same value at every alignment and length, through WebAssembly and through the JavaScript loop', async () => {
    const { csumCompute, xorWords } = await import('../../src/cab/checksum.js');
    const base = Buffer.alloc(140_003);
    for (let i = 0; i < base.length; i++) base[i] = (i * 2654435761) >>> 24;
    // reference: the CAB specification's loop, byte by byte
    const ref = (d: Uint8Array, seed: number): number => {
      let c = seed >>> 0, p = 0;
      for (let n = d.length >>> 2; n > 0; n--, p += 4) c = (c ^ (d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16) | (d[p + 3]! << 24))) >>> 0;
      let ul = 0;
      const r = d.length & 3;
      if (r === 3) ul = (d[p]! << 16) | (d[p + 1]! << 8) | d[p + 2]!;
      else if (r === 2) ul = (d[p]! << 8) | d[p + 1]!;
      else if (r === 1) ul = d[p]!;
      return (c ^ ul) >>> 0;
    };
    for (let off = 0; off < 4; off++) {
      // 1024 bytes and up go through WebAssembly, 65,536 bytes at a time
      for (const len of [0, 1, 2, 3, 4, 5, 31, 32, 33, 34, 35, 36, 37, 38, 39, 1001, 1023, 1024, 1025, 1030, 32_767, 32_768, 65_536, 65_539, 70_000 - off, 131_075]) {
        const d = base.subarray(off, off + len);
        expect(csumCompute(d, 0xdeadbeef), `offset ${off}, length ${len}`).toBe(ref(d, 0xdeadbeef));
        const words = len >>> 2;
        expect(xorWords(d, words) >>> 0, `JavaScript loop, offset ${off}, length ${len}`).toBe(ref(d.subarray(0, words * 4), 0));
      }
    }
  });

  it('is computed without WebAssembly too (node --jitless), with the same value', () => {
    ensureBuilt();
    const script = `const { csumCompute } = require(${JSON.stringify(path.join(repoRoot, 'dist/src/cab/checksum.js'))});
      const d = Buffer.alloc(100_001); for (let i = 0; i < d.length; i++) d[i] = (i * 40503) >>> 7;
      process.stdout.write(typeof WebAssembly + ' ' + csumCompute(d.subarray(1), 7));`;
    const run = (flags: string[]) => spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' });
    const plain = run([]);
    const jitless = run(['--jitless']);
    expect(plain.stdout).toMatch(/^object \d+$/);
    expect(jitless.stdout).toMatch(/^undefined \d+$/);
    expect(jitless.stdout.split(' ')[1]).toBe(plain.stdout.split(' ')[1]);
  }, 600_000);
});
