/**
 * The WIM header and blob table (src/wim/header.ts) against WIMs wimlib-imagex wrote, and the
 * solid-stream fields of `wimlib-imagex dir --detailed` (src/wim/streams.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError, TruncatedError } from '../../src/errors.js';
import {
  parseBlobTable, parseWimHeader, RESHDR_FLAG_COMPRESSED, RESHDR_FLAG_METADATA, RESHDR_FLAG_SOLID, SOLID_RESOURCE_MAGIC, WIM_HEADER_SIZE,
} from '../../src/wim/header.js';
import { wimDirDetailed } from '../../src/wim/streams.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { captureWim, wimBytes } from '../helpers/wim-msu.js';

const HAVE = hasTool('wimlib-imagex');
if (!HAVE) skipNote('WIM header tests on captured WIMs', 'wimlib-imagex (wimtools)');

const FILES = { 'a.txt': 'alpha '.repeat(1000), 'sub/b.txt': 'beta '.repeat(2000), 'c.bin': new Uint8Array(5000).fill(7) };
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'msu-wimhdr-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE)('a WIM wimlib-imagex wrote', () => {
  it('header: one part, one image, the blob table, XML and metadata where the bytes say', async () => {
    const wim = await wimBytes(dir, FILES, { compress: 'LZX' });
    const h = parseWimHeader(wim);
    expect([h.partNumber, h.totalParts, h.imageCount, h.chunkSize]).toEqual([1, 1, 1, 32768]);
    expect(h.blobTable.offset + h.blobTable.size).toBeLessThanOrEqual(wim.length);
    // the XML data is UTF-16LE with a BOM, and names the image count
    const xml = Buffer.from(wim.subarray(h.xmlData.offset, h.xmlData.offset + h.xmlData.size)).toString('utf16le');
    expect(xml.charCodeAt(0)).toBe(0xfeff);
    expect(xml).toContain('<IMAGE INDEX="1">');
    const table = parseBlobTable(wim.subarray(h.blobTable.offset, h.blobTable.offset + h.blobTable.size));
    // three file blobs and one metadata resource, compressed (LZX)
    expect(table).toHaveLength(4);
    expect(table.filter((r) => r.flags & RESHDR_FLAG_METADATA)).toHaveLength(1);
    expect(table.every((r) => r.flags & RESHDR_FLAG_COMPRESSED && r.offset >= WIM_HEADER_SIZE && r.offset + r.size <= wim.length)).toBe(true);
    expect(table.filter((r) => !(r.flags & RESHDR_FLAG_METADATA)).map((r) => r.originalSize).sort((a, b) => a - b)).toEqual([5000, 6000, 10000]);
  });

  it('a solid WIM: the resource entry carries the magic original size; dir --detailed names the resource and the offset in it', async () => {
    const file = path.join(dir, 'solid.wim');
    await captureWim(file, FILES, { solid: true });
    const wim = new Uint8Array(await (await import('node:fs/promises')).readFile(file));
    const h = parseWimHeader(wim);
    const table = parseBlobTable(wim.subarray(h.blobTable.offset, h.blobTable.offset + h.blobTable.size));
    const resources = table.filter((r) => r.flags & RESHDR_FLAG_SOLID && r.originalSize === SOLID_RESOURCE_MAGIC);
    expect(resources).toHaveLength(1);
    const entries = (await wimDirDetailed(file, 1)).filter((e) => !e.isDirectory);
    expect(entries.map((e) => e.path).sort()).toEqual(['/a.txt', '/c.bin', '/sub/b.txt']);
    for (const e of entries) {
      expect(e.solid?.resource).toBe(resources[0]!.offset);
      expect(e.storedInPlace).toBe(false);
    }
    // the streams lie one after another in the resource's uncompressed data
    const spans = entries.map((e) => [e.solid!.at, e.solid!.at + e.size]).sort((a, b) => a[0]! - b[0]!);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]!);
    // a WIM that is not solid has none
    const plain = path.join(dir, 'plain.wim');
    await captureWim(plain, FILES, { compress: 'XPRESS' });
    expect((await wimDirDetailed(plain, 1)).some((e) => e.solid)).toBe(false);
  });
});

describe('bad headers and blob tables', () => {
  const header = (edit: (b: Buffer) => void = () => {}): Buffer => {
    const b = Buffer.alloc(WIM_HEADER_SIZE);
    b.write('MSWIM\0\0\0', 0, 'latin1');
    b.writeUInt32LE(WIM_HEADER_SIZE, 8);
    edit(b);
    return b;
  };

  it('parses the fields of a header made by hand, the RESHDR size and flags split at bit 56', () => {
    const h = parseWimHeader(header((b) => {
      b.writeUInt32LE(32768, 20);
      b.writeUInt16LE(1, 40);
      b.writeUInt16LE(2, 42);
      b.writeUInt32LE(3, 44);
      b.writeBigUInt64LE((0x12n << 56n) | 1000n, 48);
      b.writeBigUInt64LE(5000n, 56);
      b.writeBigUInt64LE(1000n, 64);
      b.writeUInt32LE(2, 120);
    }));
    expect(h).toMatchObject({ chunkSize: 32768, partNumber: 1, totalParts: 2, imageCount: 3, bootIndex: 2, blobTable: { size: 1000, flags: 0x12, offset: 5000, originalSize: 1000 } });
  });

  it('refuses what is not a WIM header, a short one, and a blob table of partial entries', () => {
    expect(() => parseWimHeader(Buffer.from('MSCF\0\0\0\0'.padEnd(208, '\0')), 'x.wim')).toThrow(FormatError);
    expect(() => parseWimHeader(header((b) => b.writeUInt32LE(204, 8)))).toThrow('WIM header size is 204, expected 208');
    expect(() => parseWimHeader(header().subarray(0, 100))).toThrow(TruncatedError);
    expect(() => parseBlobTable(new Uint8Array(75))).toThrow('blob table of 75 bytes is not a whole number of 50-byte entries');
    expect(parseBlobTable(new Uint8Array(0))).toEqual([]);
    // an offset past 2^53 is damage, not a number rounded to a wrong place
    expect(() => parseWimHeader(header((b) => b.writeBigUInt64LE(1n << 60n, 56)))).toThrow('blob table offset is absurdly large');
    const entry = Buffer.alloc(50);
    entry.writeBigUInt64LE((0x04n << 56n) | (2n ** 48n - 1n), 0);
    entry.writeBigUInt64LE(2n ** 53n - 1n, 8);
    expect(parseBlobTable(entry)).toEqual([{ size: 2 ** 48 - 1, flags: 0x04, offset: 2 ** 53 - 1, originalSize: 0 }]);
    entry.writeBigUInt64LE((0x04n << 56n) | (2n ** 54n), 0);
    expect(() => parseBlobTable(entry)).toThrow('blob table entry 0 size is absurdly large');
  });
});
