import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Cabinet } from '../../src/cab/cabinet.js';
import { Chunked } from '../../src/cab/folder.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { BufferSource, FileSource, SliceSource, type ByteSource } from '../../src/util/source.js';
import { seededBytes } from '../helpers/rng.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'msu-chunked-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

/** Bytes in memory served the way a file is: readInto copies, read() gives a fresh buffer. */
class CopyingSource implements ByteSource {
  bytesRead = 0;
  readonly freshReads = true;
  /** Every buffer readInto was asked to fill, as its ArrayBuffer. */
  readonly targets: ArrayBufferLike[] = [];
  constructor(private readonly bytes: Uint8Array, readonly name = 'copying') {}
  get size(): number {
    return this.bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.bytes.slice(offset, offset + length);
  }
  readonly readInto = async (offset: number, dest: Uint8Array): Promise<void> => {
    this.targets.push(dest.buffer);
    // the bytes land at once (a buffer still in use is clobbered before anyone looks), and the
    // promise settles later, like a thread-pool read
    dest.set(this.bytes.subarray(offset, offset + dest.length));
    await new Promise((resolve) => setImmediate(resolve));
  };
  async close(): Promise<void> {}
}

const data = seededBytes(40 << 20, 77);

/** A CFDATA-like walk: a short header, then a block of 1-33 KB, as decodeFolder reads them. */
async function walk(rd: Chunked, check: (ok: boolean) => void): Promise<number> {
  let pos = 0, n = 0, seed = 1;
  while (pos + 8 < data.length) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const len = Math.min(1024 + (seed % 32768), data.length - pos - 8);
    const hb = await rd.get(pos, 8, 'header');
    const block = await rd.get(pos + 8, len, 'block');
    // the header's view is still good after the block's read refilled the buffer
    check(Buffer.compare(hb, data.subarray(pos, pos + 8)) === 0 && Buffer.compare(block, data.subarray(pos + 8, pos + 8 + len)) === 0);
    pos += 8 + len;
    n++;
  }
  return n;
}

describe('Chunked: recycled read buffers', () => {
  for (const readAhead of [false, true]) {
    it(`hands out the right bytes and allocates a bounded number of buffers (read-ahead ${readAhead})`, async () => {
      const src = new CopyingSource(data);
      const rd = new Chunked(src, readAhead);
      let bad = 0;
      const blocks = await walk(rd, (ok) => { if (!ok) bad++; });
      expect(blocks).toBeGreaterThan(2000);
      expect(bad).toBe(0);
      // 64 KiB doubling to 4 MiB is 7 sizes; then current, previous and read-ahead rotate
      // through three 4 MiB buffers. Without recycling, 40 MiB takes 15 or more.
      expect(rd.allocated).toBeLessThanOrEqual(10);
      expect(src.targets.length).toBeGreaterThan(rd.allocated + 3);
      expect(new Set(src.targets).size).toBe(rd.allocated);
      // CFDATA blocks straddle the chunk ends: the read-ahead serves them all the same
      if (readAhead) expect(rd.aheadHits).toBeGreaterThanOrEqual(5);
      else expect(rd.aheadHits).toBe(0);
    });
  }

  it('drops a read-ahead that does not serve the next request, and stays correct', async () => {
    const src = new CopyingSource(data);
    const rd = new Chunked(src, true);
    // sequential reads start a read-ahead; then a jump elsewhere
    for (let pos = 0; pos < 3 << 20; pos += 30_000) {
      expect(Buffer.compare(await rd.get(pos, 30_000, 'a'), data.subarray(pos, pos + 30_000))).toBe(0);
    }
    for (const at of [20 << 20, 5 << 20, 30 << 20, 30 << 20 | 12345]) {
      expect(Buffer.compare(await rd.get(at, 50_000, 'b'), data.subarray(at, at + 50_000))).toBe(0);
    }
  });

  it('reads sources without readInto as before: their views, no buffers of its own', async () => {
    const src = new BufferSource(data);
    const rd = new Chunked(src, true);
    const v = await rd.get(100, 1000, 'x');
    expect(v.buffer).toBe(data.buffer);
    let bad = 0;
    await walk(rd, (ok) => { if (!ok) bad++; });
    expect(bad).toBe(0);
    expect(rd.allocated).toBe(0);
  });

  it('a SliceSource of a file passes readInto through, shifted; of memory, it has none', async () => {
    const file = path.join(tmp, 'slice.bin');
    await writeFile(file, data.subarray(0, 1 << 20));
    const fs = await FileSource.open(file);
    try {
      const slice = new SliceSource(fs, 1000, 50_000, 'inner');
      const dest = new Uint8Array(300);
      await slice.readInto!(200, dest);
      expect(Buffer.compare(dest, data.subarray(1200, 1500))).toBe(0);
      await expect(slice.readInto!(49_900, new Uint8Array(200))).rejects.toThrow(/truncated/);
      expect(new SliceSource(new BufferSource(data), 0, 10, 'm').readInto).toBeUndefined();
    } finally {
      await fs.close();
    }
  });
});

describe('extraction through recycled buffers', () => {
  it('a 24 MB two-folder cabinet read from a file comes out byte for byte, checksums verified', async () => {
    const members = Array.from({ length: 12 }, (_, i) => ({ name: `m${i}.bin`, data: seededBytes((2 << 20) + i * 4099, 900 + i) }));
    const bytes = buildCabinet({
      folders: [
        { compression: 'mszip', files: members.slice(0, 6) },
        { compression: 'none', files: members.slice(6) },
      ],
    });
    const file = path.join(tmp, 'big.cab');
    await writeFile(file, bytes);
    const cab = await Cabinet.openFile(file);
    try {
      const got = await cab.readFiles(cab.entries);
      const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
      for (const e of cab.entries) expect(sha(got.get(e)!), e.name).toBe(sha(members.find((m) => m.name === e.name)!.data));
    } finally {
      await cab.close();
    }
  });
});

describe('StoredFolderSource.readInto: an inner cabinet read in place, into the caller buffer', () => {
  for (const reserve of [0, 5]) {
    it(`gives what read() gives, for spans in one block, across blocks, with a header split at the buffer end (CFDATA reserve ${reserve})`, async () => {
      const payload = seededBytes(40 * 32768 + 1234, 4242 + reserve);
      const bytes = buildCabinet({
        folders: [{ compression: 'none', files: [{ name: 'head.txt', data: seededBytes(5000, 1) }, { name: 'inner.cab', data: payload }] }],
        ...(reserve ? { reserve: { data: reserve } } : {}),
      });
      // read as from a file (readInto), counting the reads
      const src = new CopyingSource(bytes, `stored-${reserve}.cab`);
      const cab = await Cabinet.open(src);
      try {
        const entry = cab.entries.find((e) => e.name === 'inner.cab')!;
        const inner = cab.storedSource(entry)!;
        expect(inner.readInto).toBeTypeOf('function');
        // the member starts 5000 bytes into the folder: spans start mid-block
        const cases: [number, number][] = [[0, 0], [0, 10], [100, 32768], [0, payload.length], [payload.length - 5, 5], [27_768, 65_536 + 3]];
        // a span whose end falls inside a CFDATA header: the header is split between the two buffers
        const hdr = 8 + reserve, first = 32768 - 5000;
        for (let d = 1; d < hdr; d++) cases.push([0, first + 32768 + hdr + d]);
        let seed = 9;
        for (let i = 0; i < 40; i++) {
          seed = (seed * 1103515245 + 12345) >>> 0;
          const o = seed % payload.length;
          seed = (seed * 1103515245 + 12345) >>> 0;
          cases.push([o, Math.min(payload.length - o, seed % 300_000)]);
        }
        for (const [o, l] of cases) {
          const want = payload.subarray(o, o + l);
          const dest = new Uint8Array(l).fill(0xee);
          const before = src.targets.length;
          await inner.readInto!(o, dest);
          expect(Buffer.compare(dest, want), `readInto ${o}+${l}`).toBe(0);
          // a span of full blocks is one read into the buffer and one of the headers' worth after it
          if (o === 0 && l > first + 32768 && l < first + 2 * 32768) expect(src.targets.length - before, `reads for ${l}`).toBe(2);
          expect(Buffer.compare(await inner.read(o, l), want), `read ${o}+${l}`).toBe(0);
        }
        await expect(inner.readInto!(payload.length - 2, new Uint8Array(3))).rejects.toThrow(/truncated/);
      } finally {
        await cab.close();
      }
    });
  }

  it('has none over a cabinet in memory', async () => {
    const bytes = buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'a', data: seededBytes(70_000, 3) }] }] });
    const cab = await Cabinet.open(new BufferSource(bytes));
    expect(cab.storedSource(cab.entries[0]!)!.readInto).toBeUndefined();
  });
});
