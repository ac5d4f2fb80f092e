/**
 * A PE32+ image built from the PE format specification: one .rsrc section at RVA 0x1000 (file
 * offset 0x200) holding a type/name/language tree with one leaf per `resources` entry.
 */
export function buildPe(resources: { type: number; name: number; lang: number; data: Uint8Array }[]): Buffer {
  const img = Buffer.alloc(0x200 + 0x200 + resources.reduce((n, r) => n + r.data.length + 16, 0));
  img.write('MZ', 0, 'latin1');
  img.writeUInt32LE(0x40, 0x3c);
  img.write('PE\0\0', 0x40, 'latin1');
  const coff = 0x44;
  img.writeUInt16LE(0x8664, coff);
  img.writeUInt16LE(1, coff + 2);
  img.writeUInt32LE(0x12345678, coff + 4);
  img.writeUInt16LE(240, coff + 16);
  img.writeUInt16LE(0x2022, coff + 18);
  const opt = coff + 20;
  img.writeUInt16LE(0x20b, opt);
  img.writeBigUInt64LE(0x180000000n, opt + 24);
  img.writeUInt32LE(0x1000, opt + 32);
  img.writeUInt32LE(0x200, opt + 36);
  img.writeUInt32LE(0x3000, opt + 56);
  img.writeUInt32LE(0x200, opt + 60);
  img.writeUInt32LE(0xabcd, opt + 64);
  img.writeUInt16LE(3, opt + 68);
  img.writeUInt32LE(16, opt + 108);
  const rsrcSize = img.length - 0x200;
  img.writeUInt32LE(0x1000, opt + 112 + 2 * 8);
  img.writeUInt32LE(rsrcSize, opt + 112 + 2 * 8 + 4);
  const sec = opt + 240;
  img.write('.rsrc', sec, 'latin1');
  img.writeUInt32LE(rsrcSize, sec + 8);
  img.writeUInt32LE(0x1000, sec + 12);
  img.writeUInt32LE(rsrcSize, sec + 16);
  img.writeUInt32LE(0x200, sec + 20);
  img.writeUInt32LE(0x40000040, sec + 36);

  // Resource tree: root with one entry per resource, each with its own name and language directory.
  const base = 0x200;
  const n = resources.length;
  let at = 16 + n * 8;
  const dir = (off: number, entries: [number, number][]): void => {
    img.writeUInt16LE(entries.length, base + off + 14);
    entries.forEach(([id, target], i) => {
      img.writeUInt32LE(id, base + off + 16 + i * 8);
      img.writeUInt32LE(target >>> 0, base + off + 16 + i * 8 + 4);
    });
  };
  const rootEntries: [number, number][] = [];
  let dataAt = 0x100;
  for (const r of resources) {
    const nameDir = at;
    const langDir = at + 24;
    const leaf = at + 48;
    at += 64;
    rootEntries.push([r.type, 0x80000000 | nameDir]);
    dir(nameDir, [[r.name, 0x80000000 | langDir]]);
    dir(langDir, [[r.lang, leaf]]);
    img.writeUInt32LE(0x1000 + dataAt, base + leaf);
    img.writeUInt32LE(r.data.length, base + leaf + 4);
    Buffer.from(r.data).copy(img, base + dataAt);
    dataAt += r.data.length;
  }
  if (at > 0x100) throw new Error('too many resources for the builder');
  dir(0, rootEntries);
  return img;
}
