// kindsOf works on a cabinet's raw CFFILE name bytes; countKinds/
// findPackageMum on the decoded names are the oracle: both must agree on every name shape,
// including names with bytes over 0x7F (flagged UTF-8 or not) and case variants.
import { describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { parseCfFiles, parseCfFolders, parseCfHeader } from '../../src/cab/header.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCabinet, buildCabinetSet } from '../../src/cab/writer.js';
import { BufferSource } from '../../src/util/source.js';
import { countKinds, findPackageMum, kindsOf } from '../../src/msu/summary.js';

/** A stored cabinet of one-byte members with these names; `raw` patches bytes of a name after writing (and may set the UTF-8 flag). */
function cabOf(names: string[], raw: { name: string; at: number; byte: number; utf8?: boolean }[] = []): Buffer {
  const cab = Buffer.from(buildCabinet({ folders: [{ compression: 'none', files: names.map((name) => ({ name, data: Buffer.from('x') })) }] }));
  for (const r of raw) {
    const p = cab.indexOf(Buffer.from(r.name + '\0', 'latin1'));
    expect(p).toBeGreaterThan(0);
    cab[p + r.at] = r.byte;
    cab.writeUInt16LE(r.utf8 ? 0xa0 : 0x20, p - 2); // CFFILE.attribs: _A_ARCH, with or without _A_NAME_IS_UTF
  }
  return cab;
}

async function both(cab: Buffer): Promise<{ fast: ReturnType<typeof countKinds>; slow: ReturnType<typeof countKinds>; mumFast?: string; mumSlow?: string }> {
  const c = await Cabinet.open(new BufferSource(cab, 'n.cab'));
  // fast paths first, on a cabinet that has not made its entry objects yet
  const { counts: fast, mum } = kindsOf(c);
  const mumFast = mum?.name;
  return { fast, slow: countKinds(c.entries), mumFast, mumSlow: findPackageMum(c.entries)?.name };
}

describe('inspect over raw CFFILE names', () => {
  it('counts kinds and finds update.mum like the string path, whatever the case', async () => {
    const r = await both(cabOf([
      'a.manifest', 'B.MANIFEST', 'x.Mum', 'Update.MUM', 'sub\\update.mum', 'c.cat', 'd.CIX.XML', 'e.xml', 'manifest', 'f.dll',
    ]));
    expect(r.fast).toEqual({ files: 10, mum: 3, manifests: 2, catalogs: 1, cix: 1, other: 3 });
    expect(r.fast).toEqual(r.slow);
    expect(r.mumFast).toBe('Update.MUM');
    expect(r.mumFast).toBe(r.mumSlow);
  });

  it('names whose last letter is m, t or l but whose suffix is none of ours, and high bytes before an ASCII end', async () => {
    const r = await both(cabOf(['f.txt', 'g.com', 'h.xsl', 'i.dat', 'j.cix', 'k.xml.cat', 'lQ.dll', 'mQ.manifest', 'nQ.mum'], [
      { name: 'lQ.dll', at: 1, byte: 0xe9 },
      { name: 'mQ.manifest', at: 1, byte: 0xff },
      { name: 'nQ.mum', at: 1, byte: 0xc3, utf8: true },
    ]));
    expect(r.fast).toEqual(r.slow);
    expect(r.fast).toEqual({ files: 9, mum: 1, manifests: 1, catalogs: 1, cix: 0, other: 6 });
    expect(r.mumFast).toBe(r.mumSlow);
  });

  it('a single top-level .mum that is not update.mum is found; a control byte is not a dot', async () => {
    const r = await both(cabOf(['dir/a.mum', 'Package_1.mum', 'zQmum', 'pQmanifest'], [
      { name: 'zQmum', at: 1, byte: 0x0e }, { name: 'pQmanifest', at: 1, byte: 0x0e },
    ]));
    expect(r.fast).toEqual({ files: 4, mum: 2, manifests: 0, catalogs: 0, cix: 0, other: 2 });
    expect(r.fast).toEqual(r.slow);
    expect(r.mumFast).toBe('Package_1.mum');
    expect(r.mumFast).toBe(r.mumSlow);
  });

  it('names with bytes over 0x7F near the end, flagged UTF-8 or not, agree with the decoded names', async () => {
    const r = await both(cabOf(['aQ.mum', 'bQ.manifest', 'cQcat', 'upQate.mum', 'x.catQ', 'ok.mum'], [
      { name: 'aQ.mum', at: 1, byte: 0xe9 }, // latin1: shown as a\xe9.mum (a backslash: not top-level)
      { name: 'bQ.manifest', at: 1, byte: 0xc3, utf8: true }, // a cut UTF-8 sequence: U+FFFD, then ASCII
      { name: 'cQcat', at: 1, byte: 0xae }, // shown as c\xaecat: ends in "cat" but not ".cat"
      { name: 'upQate.mum', at: 2, byte: 0xe4, utf8: true },
      { name: 'x.catQ', at: 5, byte: 0xff },
    ]));
    expect(r.fast).toEqual(r.slow);
    expect(r.fast).toEqual({ files: 6, mum: 3, manifests: 1, catalogs: 0, cix: 0, other: 2 });
    // a\xe9.mum is not top-level as displayed; the two UTF-8 and plain ones are: no single .mum, no update.mum
    expect(r.mumSlow).toBeUndefined();
    expect(r.mumFast).toBeUndefined();
  });

  it('members made one at a time are the objects parseCfFiles makes, with set-wide index and folder', async () => {
    const cab = Buffer.from(buildCabinet({ folders: [
      { compression: 'none', files: [{ name: 'a.txt', data: Buffer.from('aa'), modified: '2021-02-03T04:05:06' }] },
      { compression: 'mszip', files: [{ name: 'dir\\b.txt', data: Buffer.from('bbb') }, { name: 'c\u00e9.txt', data: Buffer.from('c') }] },
    ] }));
    const h = parseCfHeader(cab, cab.length);
    const files = parseCfFiles(cab, 0, h, parseCfFolders(cab, h).length);
    const c = await Cabinet.open(new BufferSource(cab, 'x.cab'));
    expect(c.entryCount).toBe(3);
    const one = [2, 0, 1].map((i) => c.entry(i));
    expect(one.map((e) => [e.index, e.folder, e.name])).toEqual([[2, 1, 'c\u00e9.txt'], [0, 0, 'a.txt'], [1, 1, 'dir\\b.txt']]);
    expect(c.entries).toEqual(files.map((f, i) => ({ ...f, folder: i === 0 ? 0 : 1 })));
    expect(c.entries[0]!.modified).toBe('2021-02-03T04:05:06');
    expect(Buffer.from(await c.readFile(c.entry(1))).toString()).toBe('bbb');
  });

  it('a cabinet set: the members of every part, in set order, agree with the decoded names', async () => {
    const names = ['set-1.cab', 'set-2.cab', 'set-3.cab', 'set-4.cab', 'set-5.cab', 'set-6.cab'];
    const files = ['a.manifest', 'b.CAT', 'c.cix.xml', 'd.dll', 'update.mum', 'e.MANIFEST', 'f.mum', 'g.txt'].map((name, i) => ({ name, data: Buffer.alloc(9_000 + i, i) }));
    // the second folder starts in a later part, whose CFFILE table lists only its files
    const parts = buildCabinetSet({ folders: [{ compression: 'none', files: files.slice(0, 4) }, { compression: 'none', files: files.slice(4) }], cabinetDataSize: 20_000, names });
    expect(parts.length).toBeGreaterThanOrEqual(3);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-kinds-set-'));
    try {
      parts.forEach((b, i) => writeFileSync(path.join(dir, names[i]!), b));
      const c = await Cabinet.openFile(path.join(dir, names[0]!));
      try {
        const { counts, mum } = kindsOf(c);
        expect(counts).toEqual({ files: 8, mum: 2, manifests: 2, catalogs: 1, cix: 1, other: 2 });
        expect(counts).toEqual(countKinds(c.entries));
        expect(mum?.name).toBe('update.mum');
      } finally {
        await c.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
