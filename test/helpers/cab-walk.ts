/**
 * Test-only cabinet walker: just enough CFHEADER/CFFOLDER/CFFILE/CFDATA parsing to feed LZX folders to the
 * decoder under test. The real reader lives in src/cab; this one trusts its input and checks nothing.
 */
export interface WalkFolder {
  typeCompress: number;
  /** Compressed payload and cbUncomp of each CFDATA, in order. */
  data: { bytes: Uint8Array; cbUncomp: number }[];
}
export interface WalkFile {
  name: string;
  cbFile: number;
  uoffFolderStart: number;
  iFolder: number;
}
export interface WalkCab {
  folders: WalkFolder[];
  files: WalkFile[];
}

export function walkCab(buf: Uint8Array): WalkCab {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  if (u32(0) !== 0x4643534d) throw new Error('not MSCF');
  const coffFiles = u32(16);
  const cFolders = u16(26);
  const cFiles = u16(28);
  const flags = u16(30);
  let p = 36;
  let cbCFFolder = 0;
  let cbCFData = 0;
  if (flags & 4) {
    const cbCFHeader = u16(36);
    cbCFFolder = buf[38]!;
    cbCFData = buf[39]!;
    p = 40 + cbCFHeader;
  }
  const skipSz = () => {
    while (buf[p] !== 0) p++;
    p++;
  };
  if (flags & 1) (skipSz(), skipSz());
  if (flags & 2) (skipSz(), skipSz());
  const folders: WalkFolder[] = [];
  for (let f = 0; f < cFolders; f++, p += 8 + cbCFFolder) {
    const data: WalkFolder['data'] = [];
    let d = u32(p);
    for (let i = 0; i < u16(p + 4); i++) {
      const cbData = u16(d + 4);
      const start = d + 8 + cbCFData;
      data.push({ bytes: buf.subarray(start, start + cbData), cbUncomp: u16(d + 6) });
      d = start + cbData;
    }
    folders.push({ typeCompress: u16(p + 6), data });
  }
  const files: WalkFile[] = [];
  p = coffFiles;
  for (let i = 0; i < cFiles; i++) {
    const cbFile = u32(p);
    const uoffFolderStart = u32(p + 4);
    const iFolder = u16(p + 8);
    let e = p + 16;
    while (buf[e] !== 0) e++;
    files.push({ name: new TextDecoder('latin1').decode(buf.subarray(p + 16, e)), cbFile, uoffFolderStart, iFolder });
    p = e + 1;
  }
  return { folders, files };
}
