/**
 * The CFFILE table of a cabinet, read. A large one goes through WebAssembly (src/cab/cffile.c):
 * its bytes are read into the module's memory and its rows land there as typed arrays, which
 * the table keeps. That is only the fast path: small tables, a table the module refuses, and
 * any process without WebAssembly (or its memory) go through scanCfFiles (header.ts), which
 * makes the same checks and words the error.
 */
import { CFFILE_WASM } from './cffile-wasm.js';
import { CfFileTable, NAME_TAIL_NOT_ASCII, scanCfFiles } from './header.js';
import type { CfHeader } from './types.js';
import type { ByteSource } from '../util/source.js';
import { instantiateWasm, type WasmExports } from './wasm.js';

interface CfFileWasm {
  scan_cffiles(b: number, len: number, pos: number, count: number, folderCount: number, rows: number): number;
  suffix_index(b: number, rows: number, count: number, suffixes: number, n: number, out: number): void;
}

/** Bytes of one row in the module's layout (cffile.c): three u32 and five u16 fields. */
const ROW_BYTES = 22;
/** Room for suffix_index's suffixes: up to 254, each a length byte and its bytes. */
const SUFFIX_AREA = 4096;

/**
 * Below this many entries the JavaScript scan is done before the module would be compiled; an
 * LCU payload's 22,000 take about 13 ms as JavaScript in a fresh process, about 2 ms here.
 */
export const WASM_MIN_FILES = 2048;

/**
 * Read the CFFILE table of `source` (its bytes up to `end`, of which `head` holds the first) and
 * check it as scanCfFiles does: same table, same errors. A table of at least `minFiles` entries is
 * read straight into a module's memory and scanned there, where the process has WebAssembly.
 */
export async function readCfFiles(source: ByteSource, head: Uint8Array, end: number, h: CfHeader, folderCount: number, minFiles = WASM_MIN_FILES): Promise<CfFileTable> {
  const n = h.cFiles;
  const inst = n >= minFiles && end > 0 && h.coffFiles <= end ? instantiateWasm<CfFileWasm>(CFFILE_WASM, [end, n * ROW_BYTES, SUFFIX_AREA, n]) : null;
  if (!inst || 'unavailable' in inst) {
    const bytes = end > head.length ? await fill(source, head, new Uint8Array(end)) : head.subarray(0, end);
    return scanCfFiles(bytes, 0, h, folderCount, source.name);
  }
  const wasm = inst.exports;
  const [b, rows, suffixes, out] = inst.addrs as [number, number, number, number];
  const mem = wasm.memory.buffer;
  // read in place: no second copy of an LCU's 2.6 MB of names
  const bytes = await fill(source, head, new Uint8Array(mem, b, end));
  // an entry the module refuses: the JavaScript scan finds it again and says what is wrong
  if (wasm.scan_cffiles(b, end, h.coffFiles, n, folderCount, rows) !== n) return scanCfFiles(bytes, 0, h, folderCount, source.name);
  const u32 = (k: number): Uint32Array => new Uint32Array(mem, rows + 4 * k * n, n);
  const u16 = (k: number): Uint16Array => new Uint16Array(mem, rows + 12 * n + 2 * k * n, n);
  return new WasmCfFileTable(bytes, n, {
    cbFile: u32(0), uoffFolderStart: u32(1), nameStart: u32(2), iFolder: u16(0), date: u16(1), time: u16(2), attribs: u16(3), nameLength: u16(4),
  }, { wasm, b, rows, suffixes, out });
}

/** `dest` filled with the bytes of `source` from 0: those `head` holds copied, only the rest read. */
async function fill(source: ByteSource, head: Uint8Array, dest: Uint8Array): Promise<Uint8Array> {
  const have = Math.min(head.length, dest.length);
  dest.set(head.subarray(0, have));
  if (have < dest.length) {
    const rest = dest.subarray(have);
    if (source.readInto) await source.readInto(have, rest, 'CFFILE table');
    else rest.set(await source.read(have, rest.length, 'CFFILE table'));
  }
  return dest;
}

/** A table whose rows are in a module's memory, so suffixIndex runs there too. */
class WasmCfFileTable extends CfFileTable {
  constructor(
    bytes: Uint8Array,
    count: number,
    arrays: ConstructorParameters<typeof CfFileTable>[2],
    private readonly at: { wasm: CfFileWasm & WasmExports; b: number; rows: number; suffixes: number; out: number },
  ) {
    super(bytes, count, arrays);
  }

  override suffixIndex(suffixes: readonly Uint8Array[]): Uint8Array {
    const size = suffixes.reduce((s, x) => s + 1 + x.length, 0);
    if (suffixes.length >= NAME_TAIL_NOT_ASCII || size > SUFFIX_AREA || suffixes.some((x) => x.length > 255)) return super.suffixIndex(suffixes);
    const { wasm, b, rows, out } = this.at;
    const area = new Uint8Array(wasm.memory.buffer, this.at.suffixes, size);
    let q = 0;
    for (const x of suffixes) {
      area[q++] = x.length;
      area.set(x, q);
      q += x.length;
    }
    wasm.suffix_index(b, rows, this.count, this.at.suffixes, suffixes.length, out);
    return new Uint8Array(wasm.memory.buffer, out, this.count).slice();
  }
}
