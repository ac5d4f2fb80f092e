import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32 } from '../../src/util/crc32.js';
import { DeltaHeaderError, parseDeltaHeader } from '../../src/delta/header.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/cli.js';
import { BitWriter } from '../helpers/pa30-build.js';

const read = (...p: string[]): Buffer => readFileSync(corpusPath('deltas', ...p));

function delta(magic: string, fileTime: bigint, stream: Uint8Array): Uint8Array {
  const head = Buffer.alloc(12);
  head.write(magic, 0, 'latin1');
  head.writeBigUInt64LE(fileTime, 4);
  return Buffer.concat([head, stream]);
}

function expectDeltaError(bytes: Uint8Array, file: string): DeltaHeaderError {
  try {
    parseDeltaHeader(bytes, file);
  } catch (err) {
    expect(err).toBeInstanceOf(DeltaHeaderError);
    const e = err as DeltaHeaderError;
    expect(e.code).toBe('E_DELTA_HEADER');
    expect(e.file).toBe(file);
    return e;
  }
  throw new Error(`${file}: expected a DeltaHeaderError`);
}

describe('crc32', () => {
  it('matches the IEEE check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.from('6789'), crc32(Buffer.from('12345')))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe.skipIf(!hasCorpus)('parseDeltaHeader on real deltas', () => {
  // Triples: the target size and hash in the header must describe target.bin in the same folder.
  for (const dir of hasCorpus ? readdirSync(corpusPath('deltas', 'triples')).sort() : []) {
    it(`triples/${dir}: TargetSize and TargetHash describe target.bin`, () => {
      const h = parseDeltaHeader(read('triples', dir, 'delta.pa30'), `${dir}/delta.pa30`);
      const target = read('triples', dir, 'target.bin');
      expect(h.format).toBe('PA30');
      expect(h.headerFieldsParsed).toBe(true);
      expect(h.targetSize).toBe(target.length);
      const alg = { 0x8003: 'md5', 0x8004: 'sha1', 0x800c: 'sha256' }[h.hashAlgId!];
      if (alg) expect(h.targetHash).toBe(createHash(alg).update(target).digest('hex'));
      else expect(h.hashAlgId).toBe(0);
    });
  }

  it('reads the PE file type and the transform flags', () => {
    const kbd = parseDeltaHeader(read('triples', 'amd64_kbdwol', 'delta.pa30'));
    expect(kbd.hashAlgName).toBe('SHA256');
    expect(kbd.fileType).toBe(8);
    expect(kbd.fileTypeName).toBe('AMD64');
    expect(kbd.fileTypeSet).toBe(0x0f);
    expect(kbd.fileTypeSetNames).toEqual(['SET_EXECUTABLES_1', 'RAW', 'I386', 'IA64', 'AMD64']);
    // DELTA_DEFAULT_FLAGS_AMD64 in msdelta.h
    expect(kbd.flags).toBe(0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x200 | 0x400 | 0x2000 | 0x4000 | 0x8000);
    expect(kbd.fileTime).toBe('0');

    const wow = parseDeltaHeader(read('triples', 'wow64_kbdmaori', 'delta.pa30'));
    expect(wow.fileTypeName).toBe('I386');
    // DELTA_DEFAULT_FLAGS_I386
    expect(wow.flagNames).toEqual([
      'MARK', 'IMPORTS', 'EXPORTS', 'RESOURCES', 'RELOCS', 'I386_SMASHLOCK', 'I386_JMPS', 'I386_CALLS', 'UNBIND', 'CLI_DISASM', 'CLI_METADATA',
    ]);
  });

  it('reads RAW deltas, the size-limit flag, and agrees across deltas of the same target', () => {
    const raw = parseDeltaHeader(read('advapi32_raw.pa30'));
    const pe = parseDeltaHeader(read('genuine', 'advapi32_pe_genuine.pa30'));
    expect(raw.fileType).toBe(1);
    expect(raw.fileTypeSetNames).toEqual(['SET_RAW_ONLY', 'RAW']);
    expect(raw.hashAlgName).toBe('none');
    expect(raw.targetHash).toBe('');
    expect(pe.fileTypeName).toBe('AMD64');
    // Two independent deltas that rebuild the same advapi32.dll
    expect(raw.targetSize).toBe(pe.targetSize);
    // RAW deltas carry no preprocessing data; the patch buffer is the rest of the file.
    expect(raw.preprocessSize).toBe(0);
    const big = parseDeltaHeader(read('cmd__to__notepad__raw_flag0x20000.pa30'));
    expect(big.flags).toBe(0x20000);
    expect(big.flagNames).toEqual(['IGNORE_FILE_SIZE_LIMIT']);
    // cmd_pe_genuine rebuilds cmd.exe, which is the source of the raw-apply triple
    const cmd = parseDeltaHeader(read('genuine', 'cmd_pe_genuine.pa30'));
    expect(cmd.targetSize).toBe(statSync(corpusPath('deltas', 'triples', 'raw-apply', 'source.bin')).size);
    expect(cmd.fileTimeIso).toMatch(/^2026-05-29T/);
  });

  it('reads the PA30 inside DCM-compressed WinSxS manifests: RAW, no target hash', () => {
    const dcm = readdirSync(corpusPath('manifests')).filter((f) => readFileSync(corpusPath('manifests', f)).subarray(0, 4).toString('latin1') === 'DCM\x01');
    expect(dcm).toHaveLength(6);
    for (const f of dcm) {
      const bytes = readFileSync(corpusPath('manifests', f));
      const h = parseDeltaHeader(bytes.subarray(4), f);
      expect(h.format).toBe('PA30');
      // docs/cbs.md, "Compressed manifests": DCM deltas carry no target hash (the S256H registry value checks them).
      expect(h.hashAlgId).toBe(0);
      expect(h.fileTypeName).toBe('RAW');
      expect(h.targetSize!).toBeGreaterThan(bytes.length);
    }
  });

  it('gives a DeltaHeaderError for every hostile file, with a specific reason', () => {
    const seen: Record<string, string> = {};
    for (const f of readdirSync(corpusPath('deltas', 'hostile')).sort()) {
      seen[f] = expectDeltaError(read('hostile', f), f).message;
    }
    expect(Object.keys(seen)).toHaveLength(9);
    expect(seen['fuzz_crash_1.pa30']).toBe('3447 bytes follow the last buffer of the PA30 stream');
    expect(seen['fuzz_crash_3.pa30']).toBe('FileType 0x66 is not a single DELTA_FILE_TYPE');
    expect(seen['fuzz_crash_5.pa30']).toBe('unknown TargetHashAlgId 0xa5d0');
    expect(seen['fuzz_crash_10.pa30']).toBe('FileType 0x0 is not a single DELTA_FILE_TYPE');
  });

  it('gives a DeltaHeaderError for every truncation of a genuine delta', () => {
    const whole = read('genuine', 'cmd_pe_genuine.pa30');
    for (let n = 0; n < whole.length; n++) {
      const e = expectDeltaError(whole.subarray(0, n), `cut${n}`);
      if (n < 4) expect(e.message).toMatch(/^not a delta/);
    }
  });

  it('never throws anything but a DeltaHeaderError on bit-flipped input', () => {
    const whole = read('triples', 'amd64_kbdwol', 'delta.pa30');
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let errors = 0;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(whole);
      for (let k = 0; k < 3; k++) {
        const at = 12 + Math.floor(rnd() * 40);
        b[at]! ^= 1 << Math.floor(rnd() * 8);
      }
      try {
        const h = parseDeltaHeader(b, 'flip');
        expect(h.headerFieldsParsed).toBe(true);
      } catch (err) {
        expect(err).toBeInstanceOf(DeltaHeaderError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(0);
  });

  it('detects and checks a CRC32 prefix', () => {
    const body = read('triples', 'amd64_kbdwol', 'delta.pa30');
    const plain = parseDeltaHeader(body);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(crc32(body));
    const framed = parseDeltaHeader(Buffer.concat([prefix, body]), 'framed');
    expect(framed.crcPrefix).toBe(crc32(body).toString(16).padStart(8, '0'));
    expect(framed.crcOk).toBe(true);
    expect(framed.targetHash).toBe(plain.targetHash);
    expect(framed.targetSize).toBe(plain.targetSize);
    expect(framed.size).toBe(body.length + 4);
    expect(plain.crcPrefix).toBeUndefined();
    prefix.writeUInt32LE((crc32(body) ^ 1) >>> 0);
    expect(parseDeltaHeader(Buffer.concat([prefix, body])).crcOk).toBe(false);
  });
});

describe('parseDeltaHeader on built streams', () => {
  const sha = createHash('sha256').update('target').digest();

  it('reads a PA30 whose header fields need more than 32 bits', () => {
    const s = new BitWriter().int(0x0f).int(1).int(0x20000).int(2n ** 40n + 5n).int(0x800c).buffer(sha).buffer(new Uint8Array(0)).buffer(Buffer.from('xyz'));
    const h = parseDeltaHeader(delta('PA30', 116444736000000000n, s.finish()));
    expect(h.targetSize).toBe(2 ** 40 + 5);
    expect(h.targetHash).toBe(sha.toString('hex'));
    expect(h.fileTimeIso).toBe('1970-01-01T00:00:00.000Z');
    expect(h.patchSize).toBe(3);
  });

  it('reads the PA31 header wrapped in its own bitstream, with the extension fields', () => {
    const inner = new BitWriter().int(0x0f).int(8).int(0x2e63e).int(4096).int(0x800c).buffer(sha).int(7).int(0).int(0x12345678).buffer(sha.subarray(0, 20)).finish();
    const outer = new BitWriter().buffer(inner).buffer(Buffer.from([1, 2])).buffer(Buffer.from([3, 4, 5])).finish();
    const h = parseDeltaHeader(delta('PA31', 1n, outer), 'x.pa31');
    expect(h.format).toBe('PA31');
    expect(h.headerFieldsParsed).toBe(true);
    expect(h.fileTypeName).toBe('AMD64');
    expect(h.targetSize).toBe(4096);
    expect(h.pa31).toEqual({ fields: [7, 0, 0x12345678], extensionHash: sha.subarray(0, 20).toString('hex') });
    expect(h.preprocessSize).toBe(2);
    expect(h.patchSize).toBe(3);
  });

  it('refuses a hash that does not fit its algorithm and a buffer longer than the data', () => {
    const md5short = new BitWriter().int(1).int(1).int(0).int(10).int(0x8003).buffer(new Uint8Array(15)).buffer(new Uint8Array(0)).buffer(new Uint8Array(0));
    expect(expectDeltaError(delta('PA30', 0n, md5short.finish()), 'h').message).toBe('TargetHash is 15 bytes but MD5 (0x8003) needs 16');
    const s = new BitWriter().int(1).int(1).int(0).int(10).int(0).buffer(new Uint8Array(0)).buffer(new Uint8Array(0)).int(5000).finish();
    expect(expectDeltaError(delta('PA30', 0n, s), 'b').message).toMatch(/^truncated patch buffer: 5000 bytes declared, 0 left/);
    const longPrefix = new Uint8Array(4).fill(0);
    expect(expectDeltaError(delta('PA30', 0n, longPrefix), 'p').message).toBe('invalid FileTypeSet: length prefix longer than 16 bits');
  });

  it('reads a PA19 header: options, timestamp, target size and CRC', () => {
    const b = Buffer.alloc(4 + 4 + 4 + 2 + 4 + 1);
    b.write('PA19', 0, 'latin1');
    b.writeUInt32LE(0x00840001, 4); // USE_LZX_A | NO_REBASE | (timestamp stored)
    b.writeUInt32LE(86400, 8);
    b[12] = 300 & 0x7f; // 300 = 0x2c + (2 << 7); the last byte has bit 7 set
    b[13] = 0x80 | (300 >> 7);
    b.writeUInt32LE(0xdeadbeef, 14);
    b[18] = 1;
    const h = parseDeltaHeader(b, 'p.pa19');
    expect(h.format).toBe('PA19');
    expect(h.headerFieldsParsed).toBe(true);
    expect(h.targetSize).toBe(300);
    expect(h.fileTimeIso).toBe('1970-01-02T00:00:00.000Z');
    expect(h.pa19).toEqual({ options: 0x00840001, optionNames: ['USE_LZX_A', 'NO_REBASE', 'NO_TIMESTAMP'], timestamp: 86400, targetCrc32: 'deadbeef', inputFileCount: 1 });
    b[18] = 0;
    expect(expectDeltaError(b, 'p.pa19').message).toMatch(/no input file/);
    expect(expectDeltaError(b.subarray(0, 13), 'p.pa19').message).toMatch(/^truncated PA19 target size/);
  });

  it('names the file when there is no magic', () => {
    const e = expectDeltaError(Buffer.from('<?xml version="1.0"?>'), 'update.mum');
    expect(e.describe()).toBe('update.mum: not a delta: no PA30/PA31/PA19 magic at offset 0 or 4 (starts 3c3f786d6c207665)');
  });
});

describe.skipIf(!hasCorpus)('msu delta-header', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'msu-dh-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('prints the header and --json gives the same model', async () => {
    const file = corpusPath('deltas', 'triples', 'wow64_kbdmaori', 'delta.pa30');
    const text = await runCli('delta-header', file);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('targetSize  7168\n');
    expect(text.stdout).toContain('fileType    I386 (0x2)\n');
    const json = await runCli('delta-header', file, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(JSON.stringify(parseDeltaHeader(readFileSync(file)))));
  });

  it('exits 1 on a CRC32 mismatch and 3 on a hostile file', async () => {
    const body = read('triples', 'amd64_kbdwol', 'delta.pa30');
    const bad = path.join(tmp, 'bad-crc.pa30');
    writeFileSync(bad, Buffer.concat([Buffer.from([1, 2, 3, 4]), body]));
    const r = await runCli('delta-header', bad);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('crc32       04030201 (MISMATCH)');
    const h = await runCli('delta-header', corpusPath('deltas', 'hostile', 'fuzz_crash_2.pa30'));
    expect(h.code).toBe(3);
    expect(h.stderr).toMatch(/fuzz_crash_2\.pa30: unknown TargetHashAlgId 0x3\n$/);
  });
});
