import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { baseManifestFromWcp } from '../../src/delta/index.js';
import { MsuError } from '../../src/errors.js';
import { isPeImage, listResources, parsePe, resourceData } from '../../src/pe/index.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { buildPe } from '../helpers/pe-build.js';
import { rng } from '../helpers/rng.js';

function thrown(fn: () => unknown): MsuError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MsuError);
    return err as MsuError;
  }
  throw new Error('expected an MsuError');
}

describe('PE reader on a built image', () => {
  const manifest = Buffer.from('<?xml version="1.0"?><assembly/>');
  const img = buildPe([
    { type: 16, name: 1, lang: 0x409, data: Buffer.from('version') },
    { type: 0x266, name: 1, lang: 0, data: manifest },
  ]);

  it('reads headers, sections and the resource tree', () => {
    expect(isPeImage(img)).toBe(true);
    const pe = parsePe(img);
    expect(pe.machine).toBe(0x8664);
    expect(pe.magic).toBe(0x20b);
    expect(pe.imageBase).toBe(0x180000000);
    expect(pe.checkSum).toBe(0xabcd);
    expect(pe.timeDateStamp).toBe(0x12345678);
    expect(pe.sections.map((s) => [s.name, s.virtualAddress, s.pointerToRawData])).toEqual([['.rsrc', 0x1000, 0x200]]);
    const res = listResources(pe, img);
    expect(res.map((r) => [r.type, r.name, r.language, r.size])).toEqual([
      [16, 1, 0x409, 7],
      [0x266, 1, 0, manifest.length],
    ]);
    expect(Buffer.from(resourceData(pe, img, res[0]!)).toString()).toBe('version');
  });

  it('baseManifestFromWcp returns the type 0x266 resource, and says so when there is none', () => {
    expect(Buffer.from(baseManifestFromWcp(img)).toString()).toBe(manifest.toString());
    const none = buildPe([{ type: 16, name: 1, lang: 0, data: Buffer.from('x') }]);
    const e = thrown(() => baseManifestFromWcp(none));
    expect(e.code).toBe('E_WCP_NO_BASE_MANIFEST');
    expect(e.message).toContain('0x266');
  });

  it('hostile images give one MsuError: loops, data outside the sections, truncation, no PE', () => {
    const loop = Buffer.from(img);
    // The first name directory's entry points back at the root.
    const nameDir = 0x200 + 16 + 2 * 8;
    loop.writeUInt32LE(0x80000000, nameDir + 16 + 4);
    expect(thrown(() => listResources(parsePe(loop), loop)).message).toMatch(/refers to itself|deeper/);
    const outside = Buffer.from(img);
    outside.writeUInt32LE(0x9000, 0x200 + 16 + 2 * 8 + 48);
    const pe = parsePe(outside);
    expect(thrown(() => resourceData(pe, outside, listResources(pe, outside)[0]!)).code).toBe('E_PE');
    for (const cut of [10, 0x50, 0x100, 0x160]) expect(thrown(() => parsePe(img.subarray(0, cut))).code).toMatch(/E_TRUNCATED|E_PE/);
    expect(isPeImage(Buffer.from('not a PE at all, just text'))).toBe(false);
    expect(thrown(() => parsePe(Buffer.from('MZ' + '\0'.repeat(100)))).code).toBe('E_PE');
  });
});

describe.skipIf(!hasCorpus)('PE reader on real images (values as objdump -p reports them)', () => {
  const read = (f: string): Buffer => readFileSync(corpusPath('deltas', 'sources', f));

  it('where.exe: headers, sections and resources', () => {
    const b = read('where.exe');
    const pe = parsePe(b);
    expect([pe.machine, pe.magic, pe.imageBase, pe.sizeOfImage, pe.checkSum, pe.subsystem, pe.timeDateStamp]).toEqual([
      0x8664, 0x20b, 0x140000000, 0x10000, 0x1227a, 3, 0x824e0b3b,
    ]);
    expect(pe.sections.map((s) => s.name)).toEqual(['.text', 'fothk', '.rdata', '.data', '.pdata', '.rsrc', '.reloc']);
    expect(pe.sections.find((s) => s.name === '.rsrc')).toMatchObject({ virtualAddress: 0xe000, pointerToRawData: 0xe000 });
    expect(pe.sections[0]).toMatchObject({ virtualSize: 0x7580, virtualAddress: 0x1000 });
    expect(pe.dataDirectories[2]).toEqual({ virtualAddress: 0xe000, size: 0x810 });
    const res = listResources(pe, b);
    expect(res[0]).toMatchObject({ type: 'MUI', name: 1, language: 0x409, rva: 0xe748, size: 0xc8 });
    // RT_VERSION (16) and RT_MANIFEST (24) follow the named MUI type.
    expect(res.map((r) => r.type)).toEqual(['MUI', 16, 24]);
    const manifest = Buffer.from(resourceData(pe, b, res[2]!)).toString('utf8');
    expect(manifest).toContain('<assembly');
    // No base manifest here: where.exe is not wcp.dll.
    expect(thrown(() => baseManifestFromWcp(b)).code).toBe('E_WCP_NO_BASE_MANIFEST');
  });

  it('reads every real PE in deltas/sources without error and keeps sections inside the file', () => {
    for (const f of ['cmd.exe', 'cmd_patched.exe', 'notepad.exe', 'advapi32_old.dll', 'advapi32_new.dll']) {
      const b = read(f);
      const pe = parsePe(b);
      expect(pe.magic, f).toBe(0x20b);
      expect(pe.sections.length, f).toBeGreaterThan(3);
      for (const s of pe.sections) expect(s.pointerToRawData + s.sizeOfRawData, `${f} ${s.name}`).toBeLessThanOrEqual(b.length);
      expect(listResources(pe, b).length, f).toBeGreaterThan(0);
    }
    expect(parsePe(read('advapi32_old.dll')).imageBase).toBe(0x180000000);
    expect(parsePe(read('notepad.exe')).subsystem).toBe(2);
  });
});

describe.skipIf(!hasCorpus)('PE reader on mutated real images', () => {
  it('seeded byte changes in the headers and the resource tree of where.exe give a result or one MsuError', () => {
    const good = readFileSync(corpusPath('deltas', 'sources', 'where.exe'));
    const rnd = rng(0x5045);
    let errors = 0;
    for (let n = 0; n < 300; n++) {
      const m = Buffer.from(good);
      // Half the changes hit the headers and section table, half the resource directory (0xe000..0xe810).
      for (let k = 0; k < 1 + rnd(3); k++) m[n % 2 ? rnd(0x400) : 0xe000 + rnd(0x810)] = rnd(256);
      try {
        const pe = parsePe(m);
        for (const res of listResources(pe, m)) resourceData(pe, m, res);
      } catch (err) {
        if (!(err instanceof MsuError)) throw new Error(`mutation ${n}: ${String(err)}`);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(0);
  });
});

