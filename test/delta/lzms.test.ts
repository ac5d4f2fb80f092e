/**
 * LZMS and its containers against real data: the Compression-API containers made by cabinet.dll
 * (../shared/corpus/lzms/*.lzms and their .raw), and two WIM solid LZMS resources whose contents are
 * documented in the corpus PROVENANCE (180,000 bytes of repeated text; 140 MiB of zeros in 3 chunks).
 * Bad input: every mutation gives the output or one MsuError, quickly.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { rng } from '../helpers/rng.js';
import { FormatError, MsuError, TruncatedError, UnsupportedError } from '../../src/errors.js';
import {
  COMPRESS_API_MAGIC,
  decodeCompressApiContainer,
  isCompressApiContainer,
  readCompressApiHeader,
} from '../../src/delta/compress-api.js';
import { decompressLzms, lzmsNumOffsetSlots, lzmsX86Filter } from '../../src/delta/lzms.js';
import { decodeSolidResource, readSolidResourceHeader, solidResourceChunks } from '../../src/wim/solid-resource.js';
import { crc32 } from '../../src/util/crc32.js';

const NAMES = ['english', 'pattern', 'random', 'sequential', 'single_byte', 'small', 'zeros'];
const lzms = (n: string) => new Uint8Array(readFileSync(corpusPath('lzms', `${n}.lzms`)));
const raw = (n: string) => new Uint8Array(readFileSync(corpusPath('lzms', `${n}.raw`)));

/** A Compression-API header with a correct CRC, for building hostile containers in code. */
function header(algorithm: number, size: number, chunk: number): Uint8Array {
  const h = new Uint8Array(0x18);
  const v = new DataView(h.buffer);
  v.setUint32(0, COMPRESS_API_MAGIC, true);
  v.setUint16(4, 0x18, true);
  h[7] = algorithm;
  v.setUint32(8, size, true);
  v.setUint32(16, chunk, true);
  h[6] = crc32(h.subarray(7), crc32(h.subarray(0, 6))) & 0xff;
  return h;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe.skipIf(!hasCorpus)('Compression-API LZMS containers from ../shared/corpus/lzms', () => {
  it.each(NAMES)('%s.lzms decodes to %s.raw byte for byte', (name) => {
    const data = lzms(name);
    expect(isCompressApiContainer(data)).toBe(true);
    const expected = raw(name);
    const h = readCompressApiHeader(data);
    expect(h.algorithm).toBe(5);
    expect(h.uncompressedSize).toBe(expected.length);
    expect(Buffer.from(decodeCompressApiContainer(data)).equals(Buffer.from(expected))).toBe(true);
  });

  it('random.lzms is one stored chunk; the others are compressed', () => {
    const data = lzms('random');
    expect(Buffer.from(data).readUInt32LE(0x18)).toBe(2048);
    expect(Buffer.from(data.subarray(0x1c)).equals(Buffer.from(raw('random')))).toBe(true);
    const english = lzms('english');
    expect(Buffer.from(english).readUInt32LE(0x18)).toBe(english.length - 0x1c);
    expect(english.length - 0x1c).toBeLessThan(raw('english').length);
  });

  it('decompressLzms decodes the bare chunk of a container', () => {
    const data = lzms('english');
    const out = decompressLzms(data.subarray(0x1c), 1600);
    expect(Buffer.from(out).equals(Buffer.from(raw('english')))).toBe(true);
  });

  it('a corrupted header byte fails the header CRC', () => {
    const data = lzms('english');
    data[0x0a] ^= 0x01;
    expect(() => decodeCompressApiContainer(data)).toThrow(/header CRC mismatch/);
  });

  it('a declared size above maxSize is refused before anything is decoded', () => {
    expect(() => decodeCompressApiContainer(lzms('zeros'), { maxSize: 4095 })).toThrow(FormatError);
    expect(decodeCompressApiContainer(lzms('zeros'), { maxSize: 4096 }).length).toBe(4096);
  });

  it('a too-short output size makes a match run past the end', () => {
    const data = lzms('english');
    expect(() => decompressLzms(data.subarray(0x1c), 100)).toThrow(/runs past the end|reaches before/);
  });

  it('every cut of english.lzms is a TruncatedError or a FormatError', () => {
    const data = lzms('english');
    for (let n = 0; n < data.length; n++) {
      let err: unknown;
      try {
        decodeCompressApiContainer(data.subarray(0, n));
      } catch (e) {
        err = e;
      }
      expect(err, `cut at ${n}`).toBeInstanceOf(MsuError);
    }
  });

  it('seeded mutations: the right output or one MsuError, each in bounded time', () => {
    const rnd = rng(0x1a5);
    let failures = 0;
    for (const name of NAMES) {
      const good = lzms(name);
      for (let k = 0; k < 150; k++) {
        const b = good.slice();
        // Leave the header CRC intact on most cases so the chunk decoder itself sees the damage.
        const from = rnd(3) === 0 ? 0 : 0x1c;
        for (let f = 1 + rnd(4); f > 0; f--) b[from + rnd(b.length - from)] = rnd(256);
        const t0 = performance.now();
        try {
          decodeCompressApiContainer(b, { maxSize: 1 << 20 });
        } catch (e) {
          expect(e, `${name} case ${k}: ${String(e)}`).toBeInstanceOf(MsuError);
          failures++;
        }
        expect(performance.now() - t0, `${name} case ${k}`).toBeLessThan(2000);
      }
    }
    expect(failures).toBeGreaterThan(0);
  });
});

describe('Compression-API containers built in code', () => {
  it('stored chunks of a multi-chunk container are joined in order', () => {
    const a = new Uint8Array(8).map((_, i) => i + 1);
    const b = new Uint8Array(3).map((_, i) => 0xa0 + i);
    const size = (n: number) => new Uint8Array([n, 0, 0, 0]);
    const data = concat(header(5, 11, 8), size(8), a, size(3), b);
    expect(Array.from(decodeCompressApiContainer(data))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 0xa0, 0xa1, 0xa2]);
    expect(() => decodeCompressApiContainer(concat(data, new Uint8Array(1)))).toThrow(/trailing/);
    expect(() => decodeCompressApiContainer(data.subarray(0, data.length - 1))).toThrow(TruncatedError);
  });

  it('other algorithms are unsupported, unknown ones malformed', () => {
    expect(() => decodeCompressApiContainer(header(3, 4, 4))).toThrow(UnsupportedError);
    expect(() => decodeCompressApiContainer(header(3, 4, 4))).toThrow(/XPRESS/);
    expect(() => decodeCompressApiContainer(header(9, 4, 4))).toThrow(FormatError);
  });

  it('a huge declared size with no chunks is refused before allocating', () => {
    const h = header(5, 0x7fff0000, 0x10000);
    expect(() => decodeCompressApiContainer(h)).toThrow(TruncatedError);
    expect(() => decodeCompressApiContainer(header(5, 16, 0))).toThrow(/chunk size 0/);
  });

  it('an odd-sized LZMS chunk is malformed', () => {
    expect(() => decompressLzms(new Uint8Array(5), 10)).toThrow(FormatError);
  });
});

describe('LZMS offset slots', () => {
  it('cover exactly the offsets a buffer can use', () => {
    // Slots 0..8 are offsets 1..9 one each, then 9 slots of 4 offsets (9..44), then slots of 8.
    expect(lzmsNumOffsetSlots(2)).toBe(1);
    expect(lzmsNumOffsetSlots(10)).toBe(9);
    expect(lzmsNumOffsetSlots(13)).toBe(9);
    expect(lzmsNumOffsetSlots(14)).toBe(10);
    expect(lzmsNumOffsetSlots(1600)).toBeGreaterThan(lzmsNumOffsetSlots(1000));
    expect(lzmsNumOffsetSlots(2 ** 31 - 1)).toBeLessThanOrEqual(799);
  });
});

describe('LZMS x86 filter', () => {
  /** 100 bytes of filler with opcodes placed by hand. */
  function code(): Uint8Array {
    const d = new Uint8Array(100);
    const put = (at: number, bytes: number[]) => d.set(bytes, at);
    put(10, [0xe8, 0x00, 0x01, 0x00, 0x00]); // call: target low 16 = 10 + 0x100 = 0x10a
    put(20, [0xe8, 0xf6, 0x00, 0x00, 0x00]); // call to the same target: marks position 24 as x86 code
    put(30, [0xe8, 0x78, 0x56, 0x34, 0x12]); // 6 bytes later: translated (+30 = 0x12345696)
    put(40, [0xf0, 0x83, 0x0d, 0x11, 0x22, 0x33, 0x44]); // lock or: not a lock add, left alone
    put(50, [0xf0, 0x83, 0x05, 0x10, 0x00, 0x00, 0x00]); // lock add: translated (+50)
    put(86, [0xe8, 0x01, 0x02, 0x03, 0x04]); // inside the last 16 bytes: never translated
    return d;
  }

  it('translates only likely x86 operands, and undoes exactly that', () => {
    const plain = code();
    const filtered = plain.slice();
    lzmsX86Filter(filtered, false);
    const v = new DataView(filtered.buffer);
    expect(v.getUint32(11, true)).toBe(0x100);
    expect(v.getUint32(21, true)).toBe(0xf6);
    expect(v.getUint32(31, true)).toBe(0x12345678 + 30);
    expect(v.getUint32(43, true)).toBe(0x44332211);
    expect(v.getUint32(53, true)).toBe(0x10 + 50);
    expect(v.getUint32(87, true)).toBe(0x04030201);
    lzmsX86Filter(filtered, true);
    expect(Array.from(filtered)).toEqual(Array.from(plain));
  });
});

describe.skipIf(!hasCorpus)('WIM solid LZMS resources from ../shared/corpus/lzms', () => {
  it('wim_solid_lzms_ms.resource is 180,000 bytes of the repeated pangram', () => {
    const data = new Uint8Array(readFileSync(corpusPath('lzms', 'wim_solid_lzms_ms.resource')));
    const h = readSolidResourceHeader(data);
    expect(h).toMatchObject({ uncompressedSize: 180000, chunkSize: 64 << 20, format: 3, chunkSizes: [58] });
    const out = decodeSolidResource(data);
    const line = 'The quick brown fox jumps over the lazy dog. ';
    expect(Buffer.from(out).toString('latin1')).toBe(line.repeat(180000 / line.length));
  });

  it('wim_solid_lzms_ms_3chunk.resource is 140 MiB of zeros in chunks of 64, 64 and 12 MiB', () => {
    const data = new Uint8Array(readFileSync(corpusPath('lzms', 'wim_solid_lzms_ms_3chunk.resource')));
    const sizes: number[] = [];
    const zero = Buffer.alloc(1 << 20);
    for (const chunk of solidResourceChunks(data)) {
      sizes.push(chunk.length);
      const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      let nonZero = 0;
      for (let at = 0; at < b.length; at += zero.length) if (!b.subarray(at, at + zero.length).equals(zero)) nonZero++;
      expect(nonZero).toBe(0);
    }
    expect(sizes).toEqual([64 << 20, 64 << 20, 12 << 20]);
    expect(() => decodeSolidResource(data, { maxSize: 1 << 20 })).toThrow(FormatError);
  }, 60_000);
});
