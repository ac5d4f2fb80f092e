import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashForAlgId } from '../../src/delta/hash.js';
import { md2 } from '../../src/delta/md2.js';
import { md4 } from '../../src/delta/md4.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const DIGITS = '12345678901234567890123456789012345678901234567890123456789012345678901234567890';

describe('target hashes', () => {
  it('MD2 gives the RFC 1319 test vectors', () => {
    expect(hex(md2(Buffer.from('')))).toBe('8350e5a3e24c153df2275c9f80692773');
    expect(hex(md2(Buffer.from('a')))).toBe('32ec01ec4a6dac72c0ab96fb34c0b5d1');
    expect(hex(md2(Buffer.from('abc')))).toBe('da853b0d3f88d99b30283a69e6ded6bb');
    expect(hex(md2(Buffer.from('message digest')))).toBe('ab4f496bfb2a530b219ff33031fe06b0');
    expect(hex(md2(Buffer.from(DIGITS)))).toBe('d5976f79d83d3a0dc9806c3c66f3efd8');
  });

  it('MD4 gives the RFC 1320 test vectors', () => {
    expect(hex(md4(Buffer.from('')))).toBe('31d6cfe0d16ae931b73c59d7e0c089c0');
    expect(hex(md4(Buffer.from('a')))).toBe('bde52cb31de33e46245e05fbdbd6fb24');
    expect(hex(md4(Buffer.from('abc')))).toBe('a448017aaf21d8525fc10ae87aa6729d');
    expect(hex(md4(Buffer.from('message digest')))).toBe('d9130a8164549fe818874806e1c7014b');
    expect(hex(md4(Buffer.from(DIGITS)))).toBe('e33b4ddc9c38f2199c3e7b164fcc0536');
  });

  it('maps ALG_IDs to the right algorithm and refuses unknown ones', () => {
    const data = Buffer.from('delta target');
    expect(hex(hashForAlgId(0x8003, data)!)).toBe(createHash('md5').update(data).digest('hex'));
    expect(hex(hashForAlgId(0x8004, data)!)).toBe(createHash('sha1').update(data).digest('hex'));
    expect(hex(hashForAlgId(0x800c, data)!)).toBe(createHash('sha256').update(data).digest('hex'));
    expect(hex(hashForAlgId(0x8002, data)!)).toBe(hex(md4(data)));
    expect(hex(hashForAlgId(0x8001, data)!)).toBe(hex(md2(data)));
    expect(hashForAlgId(0x1234, data)).toBeUndefined();
  });
});
