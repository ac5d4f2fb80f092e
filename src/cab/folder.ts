import { MsuError, UnsupportedError } from '../errors.js';
import type { ByteSource } from '../util/source.js';
import { ByteReader } from '../util/reader.js';
import { cfdataChecksum } from './checksum.js';
import { CabError } from './header.js';
import { type FrameRun, LZX_RUN_FRAMES, LzxDecoder } from './lzx.js';
import { MszipDecoder } from './mszip.js';
import { CFDATA_MAX_UNCOMP, type CfData, type CfFolder, type CfHeader, type Compression } from './types.js';

/** One physical cabinet of a (possibly multi-cabinet) set. */
export interface CabPart {
  source: ByteSource;
  header: CfHeader;
  folders: CfFolder[];
}

/** A folder as decoded: one or more CFFOLDER segments (more than one when it spans cabinets). */
export interface FolderSpan {
  index: number;
  compression: Compression;
  segments: { part: CabPart; folder: CfFolder }[];
}

export interface BlockDecoder {
  reset(): void;
  /** One CFDATA block's bytes, valid until the next decodeBlock or reset call (decoders reuse their buffer). */
  decodeBlock(input: Uint8Array, outSize: number): Uint8Array;
  /**
   * A block nobody reads: checked and decoded as far as the blocks after it need (the same
   * errors as decodeBlock), its bytes not produced. A decoder that can save nothing this way
   * leaves it out, and decodeBlock serves.
   */
  skipBlock?(input: Uint8Array, outSize: number): void;
  /**
   * skipBlock for a run of blocks in one call, their raw CFDATA bytes placed in `runArea` (memory
   * of the decoder's own): `entries` holds, per block, the offset of its data in runArea, cbData,
   * cbUncomp and the csum to verify (0: none), which covers the `headerLen` bytes before the
   * data. It says how many blocks it finished and what stopped it. A decoder that has it saves
   * the per-block work of a long skip (LzxDecoder).
   */
  skipRun?(entries: Int32Array, n: number, headerLen: number): FrameRun;
  readonly runArea?: Uint8Array;
}

class StoredDecoder implements BlockDecoder {
  reset(): void {}
  decodeBlock(input: Uint8Array, outSize: number): Uint8Array {
    if (input.length !== outSize) {
      throw new CabError(`stored block holds ${input.length} bytes but CFDATA.cbUncomp says ${outSize}`);
    }
    return input;
  }
}

export function makeDecoder(c: Compression): BlockDecoder {
  switch (c.method) {
    case 'none':
      return new StoredDecoder();
    case 'mszip':
      return new MszipDecoder();
    case 'lzx':
      // CFFOLDER.typeCompress carries the window; the format defines 15..21, anything else is damage
      if (c.windowBits < 15 || c.windowBits > 21) throw new CabError(`CFFOLDER.typeCompress 0x${c.raw.toString(16)}: an LZX window of 2^${c.windowBits} bytes is outside the format's 2^15..2^21`);
      return new LzxDecoder(c.windowBits);
    case 'quantum':
      throw new UnsupportedError('E_CAB_QUANTUM', 'Quantum compression is not supported (no Windows update package uses it)');
    default:
      throw new UnsupportedError('E_CAB_METHOD', `unknown compression type 0x${c.raw.toString(16)}`);
  }
}

/**
 * Buffered sequential reads over a source: CFDATA walking without a syscall per
 * block. The read size starts small (a member near the folder start costs little)
 * and doubles while the walk goes on. With read-ahead, once the walk has gone past one
 * chunk, the next chunk is read while the current one is decoded; a request that straddles
 * the two (a CFDATA block rarely ends where a chunk does) gets the current chunk's tail copied
 * in front of the read-ahead bytes, into room left there for it.
 *
 * From a source with readInto, the buffers are recycled: the first write to a fresh page
 * costs more than reading the bytes into it (about 14 µs a page on a VM measured in
 * docs/performance.md), and an extraction would otherwise fault in its whole input. So a
 * view get() returns stays valid until the second refill after it, no longer: decodeFolder
 * holds a CFDATA header across the read of the block's data, and nothing across two blocks.
 */
export class Chunked {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  private chunk = 64 * 1024;
  /** A read of `len` bytes at `at`, into a buffer with HEADROOM bytes free before them. */
  private ahead: { at: number; len: number; data: Promise<Uint8Array | undefined> } | undefined;
  /** The source reads into buffers given to it: this reader then recycles its own. */
  private readonly readInto: boolean;
  /** The buffer before `buf` (views of it may still be in use), whole. */
  private prev: Uint8Array | undefined;
  /** Recycled buffers, whole: views of them are over. */
  private readonly free: Uint8Array[] = [];
  /** For tests: buffers allocated so far, and requests the read-ahead served. */
  allocated = 0;
  aheadHits = 0;

  /** `readAhead`: for whole-folder work (extraction); a reader after one member must not read more than it needs. */
  constructor(private readonly src: ByteSource, private readonly readAhead = false) {
    this.readInto = src.readInto !== undefined;
  }

  async get(offset: number, length: number, what: string): Promise<Uint8Array> {
    const bufEnd = this.bufStart + this.buf.length;
    if (offset >= this.bufStart && offset + length <= bufEnd) {
      return this.buf.subarray(offset - this.bufStart, offset - this.bufStart + length);
    }
    const want = Math.min(Math.max(this.chunk, length), this.src.size - offset);
    if (want <= length) return this.src.read(offset, length, what); // reports a truncation with context
    let data: Uint8Array | undefined;
    const ahead = this.ahead;
    this.ahead = undefined;
    // the read-ahead serves a request that starts in the current chunk's last HEADROOM bytes
    // (or right after it) and ends within what it read; any other is dropped with its buffer,
    // which may still be being written
    const walking = this.buf.length > 0 && offset >= this.bufStart && offset <= bufEnd;
    if (ahead && walking && ahead.at === bufEnd && bufEnd - offset <= HEADROOM && offset + length <= ahead.at + ahead.len) {
      const got = await ahead.data;
      if (got !== undefined) {
        const tail = bufEnd - offset;
        got.set(this.buf.subarray(offset - this.bufStart), HEADROOM - tail);
        data = got.subarray(HEADROOM - tail, HEADROOM + ahead.len);
        this.aheadHits++;
      }
    }
    if (data === undefined) data = await this.fill(offset, want, 0, what);
    if (this.readInto) {
      if (this.prev) this.free.push(this.prev);
      this.prev = this.buf.length > 0 ? whole(this.buf) : undefined;
      // two spare buffers are all a read-ahead needs; the small ones left from the growth go
      if (this.free.length > 2) this.free.sort((a, b) => b.length - a.length).length = 2;
    }
    this.buf = data;
    this.bufStart = offset;
    this.chunk = Math.min(this.chunk * 2, 4 << 20);
    const next = offset + data.length;
    // only into buffers of its own: the room in front is what joins a straddling request
    if (this.readAhead && this.readInto && walking && next < this.src.size) {
      const len = Math.min(this.chunk, this.src.size - next);
      // a failed read-ahead is retried for real when (and if) the bytes are needed
      this.ahead = { at: next, len, data: this.fill(next, len, HEADROOM, what).catch(() => undefined) };
    }
    return this.buf.subarray(0, length);
  }

  /**
   * `len` bytes at `offset`, in a recycled buffer when the source can read into one: the buffer
   * returned holds `room` free bytes, then the bytes read.
   */
  private async fill(offset: number, len: number, room: number, what: string): Promise<Uint8Array> {
    if (!this.readInto) return this.src.read(offset, len, what);
    const need = room + len;
    const i = this.free.findIndex((b) => b.length >= need);
    let dest: Uint8Array;
    if (i >= 0) dest = this.free.splice(i, 1)[0]!.subarray(0, need);
    else {
      // its own ArrayBuffer (Buffer.allocUnsafe may hand out a slice of a shared pool), not zeroed
      dest = new Uint8Array(Buffer.allocUnsafeSlow(need).buffer, 0, need);
      this.allocated++;
    }
    await this.src.readInto!(offset, dest.subarray(room), what);
    return dest;
  }
}

/**
 * Room in front of a read-ahead for the tail of the chunk before it: more than any request
 * decodeFolder makes that the chunk size does not cover (a CFDATA header and its reserve, then
 * at most 64 KiB of data).
 */
const HEADROOM = 128 << 10;

/** The whole of the buffer `view` starts (fill() makes each at offset 0 of its own ArrayBuffer). */
const whole = (view: Uint8Array): Uint8Array => new Uint8Array(view.buffer, 0, view.buffer.byteLength);

/** Decoders and readers shared by the folders of one extraction: one window allocation, reads that carry on across folders. */
export class DecodeContext {
  private readonly decoders = new Map<string, BlockDecoder>();
  private readonly readers = new Map<CabPart, Chunked>();

  decoder(c: Compression): BlockDecoder {
    const key = `${c.method}:${c.method === 'lzx' ? c.windowBits : ''}`;
    let d = this.decoders.get(key);
    if (!d) {
      d = makeDecoder(c);
      this.decoders.set(key, d);
    }
    return d;
  }

  reader(part: CabPart): Chunked {
    let r = this.readers.get(part);
    if (!r) {
      r = new Chunked(part.source, true);
      this.readers.set(part, r);
    }
    return r;
  }
}

export interface DecodeOptions {
  /** Verify each CFDATA checksum (when non-zero). */
  verify?: boolean;
  /** Stop once this many uncompressed bytes of the folder are produced. */
  until?: number;
  /**
   * No bytes before this folder offset are wanted: blocks that end at or before it are decoded
   * (the blocks after them depend on them) but not handed to onBlock, which skips the decoder's
   * copy out and, in LZX, the E8 translation of those frames.
   */
  from?: number;
  /** Name for error messages. */
  file?: string;
  /** Share decoders and read buffers with other folders of the same extraction. */
  context?: DecodeContext;
}

/**
 * Decode a folder block by block, calling `onBlock(bytes, uncompressedOffset)`.
 * The bytes are only valid during the call. Returns the uncompressed size decoded (blocks
 * skipped for `from` included).
 */
export async function decodeFolder(
  span: FolderSpan,
  onBlock: (out: Uint8Array, at: number) => void | Promise<void>,
  opts: DecodeOptions = {},
): Promise<number> {
  let decoder: BlockDecoder;
  try {
    decoder = opts.context ? opts.context.decoder(span.compression) : makeDecoder(span.compression);
  } catch (err) {
    if (err instanceof MsuError) err.inFile(opts.file ?? span.segments[0]!.part.source.name);
    throw err;
  }
  decoder.reset();
  const from = opts.from ?? 0;
  let produced = 0;
  let carry: Uint8Array | null = null; // first half of a CFDATA block split across cabinets
  let blockNo = 0;
  for (const { part, folder } of span.segments) {
    const file = opts.file ?? part.source.name;
    const hdrSize = 8 + part.header.cbCFData;
    const rd = opts.context ? opts.context.reader(part) : new Chunked(part.source);
    let pos = folder.coffCabStart;
    for (let i = 0; i < folder.cCFData; i++, blockNo++) {
      if (carry === null && produced < from && decoder.skipRun) {
        const at = { i, blockNo, pos, produced };
        await skipRuns(decoder as RunDecoder, part, folder, at, { from, until: opts.until, verify: opts.verify ?? false, file, folderIndex: span.index });
        ({ i, blockNo, pos, produced } = at);
        if (i === folder.cCFData) break;
      }
      const where = cfdataWhere(span.index, blockNo, pos);
      if (pos + hdrSize > part.header.cbCabinet) throw new CabError('truncated: CFDATA header runs past the cabinet end', file, where);
      const hb = await rd.get(pos, hdrSize, 'CFDATA header');
      const hr = new ByteReader(hb, pos);
      const blk: CfData = { csum: hr.u32(), cbData: hr.u16(), cbUncomp: hr.u16(), headerOffset: pos, dataOffset: pos + hdrSize };
      const fault = cfdataFault(blk, part.header.cbCabinet);
      if (fault) throw new CabError(fault, file, where);
      let data = await rd.get(blk.dataOffset, blk.cbData, 'CFDATA');
      if (opts.verify && blk.csum !== 0) {
        const sum = cfdataChecksum(hb.subarray(4), data);
        if (sum !== blk.csum) {
          throw new CabError(checksumMismatch(blk.csum, sum), file, where);
        }
      }
      pos = blk.dataOffset + blk.cbData;
      if (blk.cbUncomp === 0) {
        // Block continues in the next cabinet: keep the bytes, decode once the rest arrives.
        carry = carry ? concat(carry, data) : Uint8Array.from(data);
        continue;
      }
      if (carry) {
        data = concat(carry, data);
        carry = null;
      }
      const skip = produced + blk.cbUncomp <= from;
      let out: Uint8Array | undefined;
      try {
        if (skip && decoder.skipBlock) decoder.skipBlock(data, blk.cbUncomp);
        else out = decoder.decodeBlock(data, blk.cbUncomp);
      } catch (err) {
        if (err instanceof CabError || (err as { code?: string }).code?.startsWith('E_')) {
          const e = err as CabError;
          e.file ??= file;
          e.where ??= where;
        }
        throw err;
      }
      if (out && !skip) await onBlock(out, produced);
      produced += blk.cbUncomp;
      if (opts.until !== undefined && produced >= opts.until) return produced;
    }
  }
  if (carry) throw new CabError('folder ends in the middle of a CFDATA block split across cabinets (next cabinet missing?)', opts.file);
  return produced;
}

/** Where a CFDATA block is, in an error message. */
const cfdataWhere = (folderIndex: number, blockNo: number, pos: number): string => `folder ${folderIndex}, CFDATA ${blockNo} at offset ${pos}`;

const checksumMismatch = (csum: number, computed: number): string => `checksum mismatch: CFDATA csum is 0x${csum.toString(16)}, computed 0x${computed.toString(16)}`;

/** What is wrong with a CFDATA block's header fields in a cabinet of `cbCabinet` bytes, if anything. */
function cfdataFault(blk: Pick<CfData, 'cbData' | 'cbUncomp' | 'dataOffset'>, cbCabinet: number): string | undefined {
  if (blk.cbUncomp > CFDATA_MAX_UNCOMP) return `CFDATA.cbUncomp ${blk.cbUncomp} exceeds 32768`;
  if (blk.dataOffset + blk.cbData > cbCabinet) return `truncated: CFDATA block of ${blk.cbData} bytes runs past the cabinet end`;
  return undefined;
}

type RunDecoder = Required<Pick<BlockDecoder, 'skipRun' | 'runArea'>>;

/** Where decodeFolder stands in a folder segment: block i of the segment (blockNo of the folder) at cabinet offset pos. */
interface Cursor {
  i: number;
  blockNo: number;
  pos: number;
  produced: number;
}

/**
 * The blocks nobody reads from the cursor on, decoded a run at a time by the decoder's skipRun:
 * their raw bytes read straight into its memory, each run one call, where block by block each
 * takes two reads, a checksum call and the decoder's frame work in a short-lived process
 * (docs/performance.md). Moves the cursor past the blocks done; leaves to the block-by-block loop
 * a block it does not take (one that is read, ends at `until`, is split across cabinets, or does
 * not fit in the run area), and throws what that loop would have, in the same order.
 */
async function skipRuns(
  decoder: RunDecoder, part: CabPart, folder: CfFolder, at: Cursor,
  o: { from: number; until: number | undefined; verify: boolean; file: string; folderIndex: number },
): Promise<void> {
  const area = decoder.runArea;
  const hdrSize = 8 + part.header.cbCFData;
  const end = Math.min(part.header.cbCabinet, part.source.size);
  const entries = new Int32Array(LZX_RUN_FRAMES * 4);
  const where = (blockNo: number, pos: number): string => cfdataWhere(o.folderIndex, blockNo, pos);
  // a member near the folder's start costs little: the reads grow as the skip goes on (from a
  // size any one block fits in)
  for (let want = 128 << 10; ; want = Math.min(want * 2, area.length)) {
    const len = Math.min(want, area.length, end - at.pos);
    if (at.i >= folder.cCFData || at.produced >= o.from || len < hdrSize) return;
    const raw = area.subarray(0, len);
    if (part.source.readInto) await part.source.readInto(at.pos, raw, 'CFDATA');
    else raw.set(await part.source.read(at.pos, len, 'CFDATA'));
    const dv = new DataView(raw.buffer, raw.byteOffset, len);
    let n = 0, off = 0, produced = at.produced;
    let pending: CabError | undefined;
    while (at.i + n < folder.cCFData && n < LZX_RUN_FRAMES && off + hdrSize <= len) {
      const pos = at.pos + off;
      const csum = dv.getUint32(off, true), cbData = dv.getUint16(off + 4, true), cbUncomp = dv.getUint16(off + 6, true);
      // (a header past the cabinet's end is past the bytes read: the block-by-block loop reports it)
      const fault = cfdataFault({ cbData, cbUncomp, dataOffset: pos + hdrSize }, part.header.cbCabinet);
      if (fault) {
        pending = new CabError(fault, o.file, where(at.blockNo + n, pos));
        break;
      }
      const taken = cbUncomp !== 0 && produced + cbUncomp <= o.from && (o.until === undefined || produced + cbUncomp < o.until);
      if (!taken || off + hdrSize + cbData > len) break;
      const e = n * 4;
      entries[e] = off + hdrSize;
      entries[e + 1] = cbData;
      entries[e + 2] = cbUncomp;
      entries[e + 3] = o.verify ? csum : 0;
      n++;
      off += hdrSize + cbData;
      produced += cbUncomp;
    }
    const run = n > 0 ? decoder.skipRun(entries, n, hdrSize - 4) : { done: 0 };
    for (let k = 0; k < run.done; k++) {
      at.i++;
      at.blockNo++;
      at.pos += hdrSize + entries[k * 4 + 1]!;
      at.produced += entries[k * 4 + 2]!;
    }
    if (run.badChecksum !== undefined) {
      const csum = entries[run.done * 4 + 3]! >>> 0;
      throw new CabError(checksumMismatch(csum, run.badChecksum), o.file, where(at.blockNo, at.pos));
    }
    if (run.error) {
      run.error.file ??= o.file;
      run.error.where ??= where(at.blockNo, at.pos);
      throw run.error;
    }
    if (pending) throw pending;
    if (n === 0) return;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * In-place view of a stored (uncompressed) single-cabinet folder as a ByteSource:
 * lets an inner cabinet inside an outer MSU be parsed without copying it out.
 * CFDATA headers interleave the data, so logical offsets go through a block map.
 * The map is built lazily; Microsoft's stored folders have full 32 KiB blocks, so
 * the position of block k is predicted and the header there is checked before use;
 * anything unexpected falls back to walking the headers one by one.
 */
export class StoredFolderSource implements ByteSource {
  /** Known blocks, ascending: [headerOffset, uncompressedStart, size]. */
  private blocks: { hdr: number; start: number; size: number }[] = [];
  private walkedTo = 0; // blocks[0..walkedTo) were reached by the sequential walk or verified prediction
  private readonly hdrSize: number;

  constructor(
    private readonly part: CabPart,
    private readonly folder: CfFolder,
    private readonly offset: number,
    readonly size: number,
    readonly name: string,
  ) {
    this.hdrSize = 8 + part.header.cbCFData;
  }

  get bytesRead(): number {
    return this.part.source.bytesRead;
  }

  private async header(hdr: number, k: number): Promise<{ cbData: number; cbUncomp: number }> {
    const b = await this.part.source.read(hdr, this.hdrSize, `CFDATA ${k} header`);
    const r = new ByteReader(b, hdr);
    r.u32();
    return { cbData: r.u16(), cbUncomp: r.u16() };
  }

  /** Block containing uncompressed folder offset `at`. */
  private async locate(at: number): Promise<{ hdr: number; start: number; size: number }> {
    for (let i = this.blocks.length - 1; i >= 0; i--) {
      const b = this.blocks[i]!;
      if (at >= b.start && at < b.start + b.size) return b;
      if (at >= b.start + b.size) break;
    }
    const full = CFDATA_MAX_UNCOMP;
    const last = this.blocks[this.blocks.length - 1];
    const nextHdr = last ? last.hdr + this.hdrSize + last.size : this.folder.coffCabStart;
    const nextStart = last ? last.start + last.size : 0;
    const nextK = this.blocks.length;
    // Prediction: every block from here on is full.
    const k = nextK + Math.floor((at - nextStart) / full);
    if (k < this.folder.cCFData && (!last || last.size === full)) {
      const hdr = nextHdr + (k - nextK) * (this.hdrSize + full);
      if (hdr + this.hdrSize <= this.part.header.cbCabinet) {
        const h = await this.header(hdr, k);
        const isLast = k === this.folder.cCFData - 1;
        if (h.cbData === h.cbUncomp && (h.cbUncomp === full || (isLast && h.cbUncomp > 0))) {
          const start = nextStart + (k - nextK) * full;
          const b = { hdr, start, size: h.cbUncomp };
          if (k === nextK) this.blocks.push(b);
          else {
            // fill the predicted gap so later lookups stay ordered
            for (let j = nextK; j < k; j++) this.blocks.push({ hdr: nextHdr + (j - nextK) * (this.hdrSize + full), start: nextStart + (j - nextK) * full, size: full });
            this.blocks.push(b);
          }
          if (at >= b.start && at < b.start + b.size) return b;
        }
      }
    }
    // Sequential walk from the last known block.
    let hdr = nextHdr, start = nextStart;
    for (let j = this.blocks.length; j < this.folder.cCFData; j++) {
      const h = await this.header(hdr, j);
      if (h.cbData !== h.cbUncomp) {
        throw new CabError(`stored CFDATA ${j} has cbData ${h.cbData} != cbUncomp ${h.cbUncomp}`, this.part.source.name);
      }
      const b = { hdr, start, size: h.cbUncomp };
      this.blocks.push(b);
      if (at >= start && at < start + h.cbUncomp) return b;
      hdr += this.hdrSize + h.cbData;
      start += h.cbUncomp;
    }
    throw new CabError(`offset ${at} is past the end of stored folder ${this.folder.index}`, this.part.source.name);
  }

  /**
   * Check the CFDATA checksums of the blocks that hold [offset, offset + length): a member
   * read in place is verified without decoding the folder from its start.
   */
  async verify(offset: number, length: number): Promise<void> {
    const end = this.offset + offset + length;
    for (let at = this.offset + offset; at < end;) {
      const b = await this.locate(at);
      const raw = await this.part.source.read(b.hdr, this.hdrSize + b.size, 'CFDATA');
      const csum = new ByteReader(raw, b.hdr).u32();
      if (csum !== 0) {
        const sum = cfdataChecksum(raw.subarray(4, this.hdrSize), raw.subarray(this.hdrSize));
        if (sum !== csum) {
          throw new CabError(checksumMismatch(csum, sum), this.part.source.name, `folder ${this.folder.index}, CFDATA at offset ${b.hdr}`);
        }
      }
      at = b.start + b.size;
    }
  }

  async read(offset: number, length: number, what = 'data'): Promise<Uint8Array> {
    this.checkRead(offset, length, what);
    const out = new Uint8Array(length);
    const parent = this.part.source;
    await this.fill(offset, out, what, parent.readInto ?? (async (at, to, w) => to.set(await parent.read(at, to.length, w))));
    return out;
  }

  /** read() into the caller's buffer (for Chunked, which then recycles its buffers), when the cabinet's source can. */
  get readInto(): ByteSource['readInto'] {
    const into = this.part.source.readInto;
    return into && (async (offset: number, dest: Uint8Array, what = 'data') => {
      this.checkRead(offset, dest.length, what);
      await this.fill(offset, dest, what, into);
    });
  }

  private checkRead(offset: number, length: number, what: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new CabError(`truncated ${what}: needs ${length} bytes at offset ${offset}, member has ${this.size}`, this.name);
    }
  }

  /**
   * Fill `dest` with the member's bytes from `offset`, read from the cabinet by `into`: a span of
   * full blocks in one piece (spanInto), else block by block.
   */
  private async fill(offset: number, dest: Uint8Array, what: string, into: NonNullable<ByteSource['readInto']>): Promise<void> {
    const first = await this.locate(this.offset + offset);
    const inFirst = this.offset + offset - first.start;
    if (dest.length > first.size - inFirst && await this.spanInto(into, first, inFirst, dest, what)) return;
    let done = 0;
    while (done < dest.length) {
      const at = this.offset + offset + done;
      const b = await this.locate(at);
      const inBlock = at - b.start;
      const n = Math.min(dest.length - done, b.size - inBlock);
      await into(b.hdr + this.hdrSize + inBlock, dest.subarray(done, done + n), what);
      done += n;
    }
  }

  /**
   * Where a read across blocks lies in the cabinet, when Microsoft's full blocks make that
   * computable: `rawStart`, `rawLen` bytes holding `length` bytes of data and `more` CFDATA
   * headers. Null when the blocks say otherwise (the caller then walks block by block).
   */
  private spanOf(first: { hdr: number; start: number; size: number }, inFirst: number, length: number): { k0: number; headLen: number; more: number; rawStart: number; rawLen: number } | null {
    const full = CFDATA_MAX_UNCOMP;
    const k0 = this.blocks.indexOf(first);
    const headLen = first.size - inFirst;
    const more = Math.ceil((length - headLen) / full);
    const rawStart = first.hdr + this.hdrSize + inFirst;
    const rawLen = length + more * this.hdrSize;
    if (k0 < 0 || first.size !== full || k0 + more >= this.folder.cCFData || rawStart + rawLen > this.part.header.cbCabinet) return null;
    return { k0, headLen, more, rawStart, rawLen };
  }

  /**
   * A read across blocks as one read of the cabinet bytes, the CFDATA headers then squeezed
   * out in place: an LCU payload's CFFILE table is 2-3 MB of 32 KiB blocks, read block by
   * block it would be a hundred reads. The raw bytes past `dest` (the headers' worth) go to a
   * small second buffer. Expects full blocks as Microsoft's stored folders have them; false
   * when the bytes say otherwise (the caller then walks block by block).
   */
  private async spanInto(into: NonNullable<ByteSource['readInto']>, first: { hdr: number; start: number; size: number }, inFirst: number, dest: Uint8Array, what: string): Promise<boolean> {
    const span = this.spanOf(first, inFirst, dest.length);
    if (!span) return false;
    const extra = new Uint8Array(span.rawLen - dest.length);
    await into(span.rawStart, dest, what);
    await into(span.rawStart + dest.length, extra, what);
    return this.squeeze(span, dest, extra, dest.length);
  }

  /**
   * Squeeze the CFDATA headers out of a span's raw bytes, which lie in `head` and then `tail`:
   * the data ends up in head[0, length). False when a header is not a full stored block's.
   */
  private squeeze(span: { k0: number; headLen: number; more: number; rawStart: number }, head: Uint8Array, tail: Uint8Array, length: number): boolean {
    const full = CFDATA_MAX_UNCOMP;
    const split = head.length;
    // raw bytes [from, to) moved to head[at, …): the data only ever moves down
    const move = (at: number, from: number, to: number): void => {
      if (from < split) head.copyWithin(at, from, Math.min(to, split));
      if (to > split) head.set(tail.subarray(Math.max(from, split) - split, to - split), at + Math.max(0, split - from));
    };
    const hb = new Uint8Array(this.hdrSize);
    let write = span.headLen, pos = span.headLen, start = this.blocks[span.k0]!.start + full;
    for (let j = 1; j <= span.more; j++) {
      // the header, wherever it lies, before any data is moved over it
      for (let i = 0; i < this.hdrSize; i++) hb[i] = pos + i < split ? head[pos + i]! : tail[pos + i - split]!;
      const hr = new ByteReader(hb, span.rawStart + pos);
      hr.u32();
      const cbData = hr.u16(), cbUncomp = hr.u16();
      const k = span.k0 + j;
      const isLast = k === this.folder.cCFData - 1;
      if (cbData !== cbUncomp || !(cbUncomp === full || (isLast && cbUncomp > 0))) return false;
      if (k === this.blocks.length) this.blocks.push({ hdr: span.rawStart + pos, start, size: cbUncomp });
      const n = Math.min(length - write, cbUncomp);
      move(write, pos + this.hdrSize, pos + this.hdrSize + n);
      write += n;
      pos += this.hdrSize + cbUncomp;
      start += cbUncomp;
    }
    return write === length;
  }

  async close(): Promise<void> {}
}
