/**
 * LZMS against an independent encoder: wimlib-imagex (run as a black box, its output is the oracle) captures
 * files into a solid LZMS WIM; the solid resource, decoded here, must hold every file byte for byte. The files
 * are chosen to reach what the small corpus samples do not: many adaptive-Huffman rebuilds (megabytes of
 * varied text), delta matches (a table of slowly growing u32 values), the x86 filter (cmd.exe from the corpus)
 * and several chunks (a chunk size below the data size).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSolidResourceHeader, solidResourceChunks } from '../../src/wim/solid-resource.js';
import { ByteReader } from '../../src/util/reader.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { uniform } from '../helpers/rng.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const wimlib = hasTool('wimlib-imagex');
if (!wimlib) skipNote('LZMS decoding of wimlib-imagex solid WIMs', 'wimlib-imagex');

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-lzms-wimlib-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SOLID_RESOURCE_MAGIC = 2 ** 32;
const RESHDR_FLAG_SOLID = 0x10;

/** The solid resources of a WIM, from its blob table (header at 0, blob table reshdr at 0x30, 50-byte entries). */
function solidResources(wim: Uint8Array): Uint8Array[] {
  const r = new ByteReader(wim);
  const reshdr = (at: number) => {
    r.seek(at);
    const lo = r.u32('size');
    const hi = r.u32('size and flags');
    const offset = r.u32('offset') + r.u32('offset') * 2 ** 32;
    const original = r.u32('original size') + r.u32('original size') * 2 ** 32;
    return { size: lo + (hi & 0xffffff) * 2 ** 32, flags: hi >>> 24, offset, original };
  };
  const table = reshdr(0x30);
  const out: Uint8Array[] = [];
  for (let at = table.offset; at + 50 <= table.offset + table.original; at += 50) {
    const e = reshdr(at);
    if (e.flags & RESHDR_FLAG_SOLID && e.original === SOLID_RESOURCE_MAGIC) out.push(wim.subarray(e.offset, e.offset + e.size));
  }
  return out;
}

function joined(chunks: Iterable<Uint8Array>): Buffer {
  return Buffer.concat([...chunks]);
}

describe.skipIf(!wimlib || !hasCorpus)('LZMS streams written by wimlib-imagex', () => {
  const src = path.join(root, 'src');
  mkdirSync(src, { recursive: true });
  const rnd = uniform(10);
  const words = ['servicing', 'package', 'component', 'manifest', 'amd64', 'wow64', 'neutral', 'Microsoft', 'Windows'];
  const text = Array.from({ length: 250_000 }, () => `${words[Math.floor(rnd() * words.length)]}${Math.floor(rnd() * 1000)}`).join(' ');
  const ramp = Buffer.alloc(800_000);
  for (let i = 0; i < ramp.length / 4; i++) ramp.writeUInt32LE((i * 3 + (i >> 5)) >>> 0, i * 4);
  const noise = Buffer.from(Array.from({ length: 300_000 }, () => Math.floor(rnd() * 256)));
  const files: Record<string, Uint8Array> = {
    // the describe body runs at collection even when skipped: read the corpus only when it is there
    'cmd.exe': hasCorpus ? new Uint8Array(readFileSync(corpusPath('deltas', 'sources', 'cmd.exe'))) : new Uint8Array(0),
    'text.txt': Buffer.from(text),
    'ramp.bin': ramp,
    'noise.bin': noise,
  };
  for (const [name, data] of Object.entries(files)) writeFileSync(path.join(src, name), data);

  /** The solid resources of a WIM captured with these extra options (captured once per option set). */
  const captured = new Map<string, Uint8Array[]>();
  function capture(extra: string[]): Uint8Array[] {
    const key = extra.join(' ');
    if (!captured.has(key)) {
      const wim = path.join(root, `${captured.size}.wim`);
      execFileSync('wimlib-imagex', ['capture', src, wim, '--solid', '--compress=LZMS', ...extra], { stdio: 'pipe' });
      captured.set(key, solidResources(new Uint8Array(readFileSync(wim))));
    }
    return captured.get(key)!;
  }

  it.each([[[] as string[]], [['--solid-chunk-size=1M']]])('every file is inside the decoded solid resource (%j)', (extra) => {
    const decoded = capture(extra).map((res) => joined(solidResourceChunks(res)));
    expect(decoded.length).toBeGreaterThan(0);
    const all = Buffer.concat(decoded);
    for (const [name, data] of Object.entries(files)) expect(all.indexOf(Buffer.from(data)), name).toBeGreaterThanOrEqual(0);
    // The resource is the files and little else (metadata lives elsewhere).
    const total = Object.values(files).reduce((n, d) => n + d.length, 0);
    expect(all.length).toBeGreaterThanOrEqual(total);
  }, 120_000);

  it('a 1 MiB chunk size splits the resource into independent chunks', () => {
    const [res] = capture(['--solid-chunk-size=1M']);
    const h = readSolidResourceHeader(res!);
    expect(h.chunkSize).toBe(1 << 20);
    expect(h.chunkSizes.length).toBeGreaterThan(3);
  }, 120_000);
});
