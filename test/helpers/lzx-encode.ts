/**
 * Test-only LZX encoder (CAB flavour): builds valid streams, one chunk per 32 KB output frame, so the decoder
 * can be round-tripped on data whose bytes we choose. Written from the same format facts as the decoder but
 * independently structured (it emits what the spec describes; it does not share code with src/cab/lzx.ts).
 * Slow and simple on purpose: bit-by-bit writer, greedy hash-chain match finder.
 */
import { cfdataChecksum } from '../../src/cab/checksum.js';

export const FRAME = 32768;
const POSITION_SLOTS: Record<number, number> = { 15: 30, 16: 32, 17: 34, 18: 36, 19: 38, 20: 42, 21: 50 };

export const FOOTER_BITS: number[] = [];
export const POSITION_BASE: number[] = [];
for (let s = 0, base = 0; s < 50; s++) {
  const bits = s < 4 ? 0 : Math.min((s - 2) >> 1, 17);
  FOOTER_BITS.push(bits);
  POSITION_BASE.push(base);
  base += 2 ** bits;
}

/** 16-bit little-endian words filled most significant bit first; byte mode for uncompressed blocks. */
export class LzxBitWriter {
  readonly bytes: number[] = [];
  private acc = 0;
  private n = 0;
  /** Uncompressed block headers that ended on a 16-bit boundary and so got a whole word of padding. */
  fullPads = 0;

  bits(value: number, count: number): this {
    for (let i = count - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | (Math.floor(value / 2 ** i) & 1);
      if (++this.n === 16) {
        this.bytes.push(this.acc & 0xff, (this.acc >> 8) & 0xff);
        this.acc = 0;
        this.n = 0;
      }
    }
    return this;
  }

  get aligned(): boolean {
    return this.n === 0;
  }

  /** Zero bits up to the next 16-bit boundary (none if already there). */
  align(): this {
    if (this.n > 0) this.bits(0, 16 - this.n);
    return this;
  }

  /** The uncompressed block's 1..16 bits of padding. */
  padForUncompressed(): this {
    if (this.n === 0) this.fullPads++;
    return this.bits(0, this.n === 0 ? 16 : 16 - this.n);
  }

  byte(b: number): this {
    if (this.n !== 0) throw new Error('byte write while not 16-bit aligned');
    this.bytes.push(b & 0xff);
    return this;
  }

  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.byte((v >>> (8 * i)) & 0xff);
    return this;
  }
}

/** Huffman code lengths limited to maxLen (rescales frequencies until the tree fits). */
export function huffmanLengths(freqs: ArrayLike<number>, maxLen: number): Uint8Array {
  const n = freqs.length;
  const lens = new Uint8Array(n);
  let f = Array.from(freqs, (x) => x);
  const used = f.map((x, i) => (x > 0 ? i : -1)).filter((i) => i >= 0);
  if (used.length === 0) return lens;
  if (used.length === 1) {
    lens[used[0]!] = 1;
    return lens;
  }
  for (;;) {
    type Node = { w: number; sym: number; l?: Node; r?: Node };
    let q: Node[] = used.map((s) => ({ w: f[s]!, sym: s }));
    while (q.length > 1) {
      q.sort((a, b) => a.w - b.w || a.sym - b.sym);
      const [a, b] = [q[0]!, q[1]!];
      q = q.slice(2);
      q.push({ w: a.w + b.w, sym: Math.min(a.sym, b.sym), l: a, r: b });
    }
    let max = 0;
    const walk = (node: Node, d: number) => {
      if (node.l) {
        walk(node.l, d + 1);
        walk(node.r!, d + 1);
      } else {
        lens[node.sym] = d;
        max = Math.max(max, d);
      }
    };
    walk(q[0]!, 0);
    if (max <= maxLen) return lens;
    f = f.map((x) => (x > 0 ? Math.max(1, x >> 1) : 0));
  }
}

/** Canonical codes for given lengths: shorter codes first, ties by symbol order. */
export function canonicalCodes(lens: Uint8Array): Uint32Array {
  const codes = new Uint32Array(lens.length);
  const count = new Array<number>(18).fill(0);
  for (const l of lens) if (l) count[l]!++;
  const next = new Array<number>(18).fill(0);
  let code = 0;
  for (let l = 1; l <= 17; l++) {
    code = (code + count[l - 1]!) * 2;
    next[l] = code;
  }
  // count[0] is never added because lengths of 0 are skipped above.
  for (let s = 0; s < lens.length; s++) if (lens[s]) codes[s] = next[lens[s]!]!++;
  return codes;
}

export type BlockKind = 'verbatim' | 'aligned' | 'uncompressed';
export interface BlockPlan {
  type: BlockKind;
  size: number;
}
export interface LzxEncodeOptions {
  windowBits: number;
  /** Enables the E8 header bit with this translation size and applies the forward translation per frame. */
  e8TranslationSize?: number;
  /** Block layout; the sizes must add up to the data length. Default: one verbatim block. */
  blocks?: BlockPlan[];
  /** false: literals only (no matches). */
  matches?: boolean;
  /** Put an odd uncompressed block's pad byte after the frame cut when the block ends exactly on it. */
  oddPadInNextFrame?: boolean;
  /** Let matches run across a 32 KB frame boundary (Microsoft's encoder does not; the decoder copes). */
  crossFrames?: boolean;
  /** Filled in by the encoder: how often an uncompressed block needed the 16-bit (whole word) padding. */
  stats?: { fullPads: number };
  /**
   * Make the longest code of each tree at least this long (see deepen), so that a decoder's path for codes
   * longer than its primary table runs even on small data.
   */
  longestCode?: { main?: number; length?: number; pretree?: number };
}
export interface LzxChunk {
  bytes: Uint8Array;
  cbUncomp: number;
}

type Token = { lit: number } | { len: number; slot: number; footer: number };

/** E8 call translation as the compressor applies it to each 32 KB chunk before compression. */
export function applyE8Translation(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(data); // a copy even for a Buffer (whose slice() is a view)
  for (let off = 0; off < out.length && off < 0x40000000; off += FRAME) {
    const chunkSize = Math.min(FRAME, out.length - off);
    if (chunkSize <= 10) continue;
    for (let i = 0; i < chunkSize - 10; i++) {
      const p = off + i;
      if (out[p] !== 0xe8) continue;
      const disp = out[p + 1]! | (out[p + 2]! << 8) | (out[p + 3]! << 16) | (out[p + 4]! << 24);
      let target = p + disp;
      if (target >= 0 && target < size + p) {
        if (target >= size) target = disp - size;
        out[p + 1] = target & 0xff;
        out[p + 2] = (target >>> 8) & 0xff;
        out[p + 3] = (target >>> 16) & 0xff;
        out[p + 4] = (target >>> 24) & 0xff;
      }
      i += 4;
    }
  }
  return out;
}

export function lzxEncode(data: Uint8Array, opts: LzxEncodeOptions): LzxChunk[] {
  const slots = POSITION_SLOTS[opts.windowBits];
  if (slots === undefined) throw new Error(`bad windowBits ${opts.windowBits}`);
  const windowSize = 2 ** opts.windowBits;
  const mainElements = 256 + slots * 8;
  const src = opts.e8TranslationSize !== undefined ? applyE8Translation(data, opts.e8TranslationSize) : data;
  const blocks = opts.blocks ?? [{ type: 'verbatim', size: data.length }];
  if (blocks.reduce((a, b) => a + b.size, 0) !== data.length) throw new Error('block sizes do not add up');

  const w = new LzxBitWriter();
  const chunks: LzxChunk[] = [];
  let chunkStart = 0;
  let pos = 0;
  const cutIfFrameDone = () => {
    // A match allowed to cross a frame boundary (crossFrames) puts its tail into the next frame's bytes.
    if (pos >= (chunks.length + 1) * FRAME) {
      w.align();
      chunks.push({ bytes: Uint8Array.from(w.bytes.slice(chunkStart)), cbUncomp: FRAME });
      chunkStart = w.bytes.length;
    }
  };

  // Persistent state shared with the decoder: tree lengths and repeated offsets.
  const prevMain = new Uint8Array(mainElements);
  const prevLength = new Uint8Array(249);
  const R = [1, 1, 1];
  const head = new Map<number, number[]>();

  w.bits(opts.e8TranslationSize !== undefined ? 1 : 0, 1);
  if (opts.e8TranslationSize !== undefined) w.bits(opts.e8TranslationSize >>> 16, 16).bits(opts.e8TranslationSize & 0xffff, 16);

  const hashAt = (p: number) => src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16);
  const remember = (p: number) => {
    if (p + 2 >= src.length) return;
    const h = hashAt(p);
    let list = head.get(h);
    if (!list) head.set(h, (list = []));
    list.push(p);
    if (list.length > 16) list.shift();
  };
  const matchLen = (a: number, b: number, max: number) => {
    let l = 0;
    while (l < max && src[a + l] === src[b + l]) l++;
    return l;
  };

  for (const block of blocks) {
    const blockEnd = pos + block.size;
    if (block.type === 'uncompressed') {
      w.bits(3, 3).bits(block.size >>> 8, 16).bits(block.size & 0xff, 8);
      w.padForUncompressed();
      w.u32(R[0]!).u32(R[1]!).u32(R[2]!);
      while (pos < blockEnd) {
        remember(pos);
        w.byte(src[pos++]!);
        if (pos === blockEnd && block.size & 1 && !opts.oddPadInNextFrame) w.byte(0);
        cutIfFrameDone();
      }
      if (block.size & 1 && opts.oddPadInNextFrame) w.byte(0);
      continue;
    }

    // Tokenize this block: matches never cross a frame boundary or the block end.
    const tokens: Token[] = [];
    let p = pos;
    while (p < blockEnd) {
      const maxLen = Math.min(257, blockEnd - p, opts.crossFrames ? 257 : FRAME - (p % FRAME));
      let bestLen = 0;
      let bestOff = 0;
      if (opts.matches !== false && maxLen >= 2) {
        for (const r of R) {
          if (r <= p && r <= windowSize - 3) {
            const l = matchLen(p, p - r, maxLen);
            if (l >= 2 && l > bestLen) [bestLen, bestOff] = [l, r];
          }
        }
        if (p + 2 < src.length) {
          for (const q of head.get(hashAt(p)) ?? []) {
            const off = p - q;
            if (off > windowSize - 3) continue;
            const l = matchLen(p, q, maxLen);
            if (l >= 3 && l > bestLen + 1) [bestLen, bestOff] = [l, off];
          }
        }
      }
      if (bestLen >= 2) {
        let slot: number;
        let footer = 0;
        if (bestOff === R[0]) slot = 0;
        else if (bestOff === R[1]) [slot, R[1], R[0]] = [1, R[0]!, bestOff];
        else if (bestOff === R[2]) [slot, R[2], R[0]] = [2, R[0]!, bestOff];
        else {
          const formatted = bestOff + 2;
          slot = 3;
          while (slot + 1 < slots && POSITION_BASE[slot + 1]! <= formatted) slot++;
          footer = formatted - POSITION_BASE[slot]!;
          [R[2], R[1], R[0]] = [R[1]!, R[0]!, bestOff];
        }
        tokens.push({ len: bestLen, slot, footer });
        for (let k = 0; k < bestLen; k++) remember(p + k);
        p += bestLen;
      } else {
        tokens.push({ lit: src[p]! });
        remember(p);
        p++;
      }
    }

    const aligned = block.type === 'aligned';
    const mainFreq = new Array<number>(mainElements).fill(0);
    const lengthFreq = new Array<number>(249).fill(0);
    const alignedFreq = new Array<number>(8).fill(0);
    for (const t of tokens) {
      if ('lit' in t) mainFreq[t.lit]!++;
      else {
        const header = Math.min(t.len - 2, 7);
        mainFreq[256 + t.slot * 8 + header]!++;
        if (header === 7) lengthFreq[t.len - 9]!++;
        if (aligned && FOOTER_BITS[t.slot]! >= 3) alignedFreq[t.footer & 7]!++;
      }
    }
    // Keep the main tree complete (a lone symbol would get a single 1-bit code).
    if (mainFreq.filter((x) => x > 0).length < 2) (mainFreq[0]!++, mainFreq[1]!++);
    const mainLens = deepen(huffmanLengths(mainFreq, 16), opts.longestCode?.main);
    const lengthLens = deepen(huffmanLengths(lengthFreq, 16), opts.longestCode?.length);
    let alignedLens = huffmanLengths(alignedFreq, 7);
    if (alignedLens.filter((x) => x > 0).length < 2) alignedLens = new Uint8Array(8).fill(3);

    w.bits(aligned ? 2 : 1, 3).bits(block.size >>> 8, 16).bits(block.size & 0xff, 8);
    if (aligned) for (const l of alignedLens) w.bits(l, 3);
    const pre = opts.longestCode?.pretree;
    writeLengths(w, prevMain, mainLens, 0, 256, pre);
    writeLengths(w, prevMain, mainLens, 256, mainElements, pre);
    writeLengths(w, prevLength, lengthLens, 0, 249, pre);
    const mainCodes = canonicalCodes(mainLens);
    const lengthCodes = canonicalCodes(lengthLens);
    const alignedCodes = canonicalCodes(alignedLens);

    for (const t of tokens) {
      if ('lit' in t) {
        w.bits(mainCodes[t.lit]!, mainLens[t.lit]!);
        pos++;
      } else {
        const header = Math.min(t.len - 2, 7);
        const sym = 256 + t.slot * 8 + header;
        w.bits(mainCodes[sym]!, mainLens[sym]!);
        if (header === 7) w.bits(lengthCodes[t.len - 9]!, lengthLens[t.len - 9]!);
        const fb = FOOTER_BITS[t.slot]!;
        if (t.slot >= 3 && fb > 0) {
          if (aligned && fb >= 3) {
            w.bits(t.footer >>> 3, fb - 3);
            w.bits(alignedCodes[t.footer & 7]!, alignedLens[t.footer & 7]!);
          } else {
            w.bits(t.footer, fb);
          }
        }
        pos += t.len;
      }
      cutIfFrameDone();
    }
    prevMain.set(mainLens);
    prevLength.set(lengthLens);
  }
  if (opts.stats) opts.stats.fullPads = w.fullPads;
  if (pos > chunks.length * FRAME || chunks.length === 0) {
    w.align();
    chunks.push({ bytes: Uint8Array.from(w.bytes.slice(chunkStart)), cbUncomp: pos - chunks.length * FRAME });
  } else if (w.bytes.length > chunkStart) {
    // A trailing pad byte after the last frame belongs to it.
    const last = chunks[chunks.length - 1]!;
    chunks[chunks.length - 1] = { bytes: Uint8Array.from([...last.bytes, ...w.bytes.slice(chunkStart)]), cbUncomp: last.cbUncomp };
  }
  return chunks;
}

/**
 * Send lens[from..to) as pretree codes: deltas (prev - new) mod 17, code 17/18 for runs of zeros,
 * code 19 for runs of 4-5 equal lengths.
 */
function writeLengths(w: LzxBitWriter, prev: Uint8Array, lens: Uint8Array, from: number, to: number, longest?: number): void {
  const codes: { code: number; extra?: number; extraBits?: number; delta?: number }[] = [];
  for (let i = from; i < to; ) {
    let run = 1;
    while (i + run < to && lens[i + run] === lens[i]) run++;
    if (lens[i] === 0 && run >= 20) {
      const n = Math.min(run, 51);
      codes.push({ code: 18, extra: n - 20, extraBits: 5 });
      i += n;
    } else if (lens[i] === 0 && run >= 4) {
      const n = Math.min(run, 19);
      codes.push({ code: 17, extra: n - 4, extraBits: 4 });
      i += n;
    } else if (run >= 4) {
      const n = Math.min(run, 5);
      codes.push({ code: 19, extra: n - 4, extraBits: 1, delta: (prev[i]! - lens[i]! + 17) % 17 });
      i += n;
    } else {
      codes.push({ code: (prev[i]! - lens[i]! + 17) % 17 });
      i++;
    }
  }
  const freq = new Array<number>(20).fill(0);
  for (const c of codes) {
    freq[c.code]!++;
    if (c.delta !== undefined) freq[c.delta]!++;
  }
  let preLens = huffmanLengths(freq, 15);
  if (preLens.filter((x) => x > 0).length < 2) {
    freq[freq.findIndex((x) => x === 0)] = 1;
    preLens = huffmanLengths(freq, 15);
  }
  preLens = deepen(preLens, longest);
  const preCodes = canonicalCodes(preLens);
  for (const l of preLens) w.bits(l, 4);
  for (const c of codes) {
    w.bits(preCodes[c.code]!, preLens[c.code]!);
    if (c.extraBits) w.bits(c.extra!, c.extraBits);
    if (c.delta !== undefined) w.bits(preCodes[c.delta]!, preLens[c.delta]!);
  }
}

/**
 * Lengthen the code of one used symbol to `target` bits while keeping the code complete: its leaf at depth L
 * becomes a chain with unused symbols at depths L+1..target and itself at target (2^-L = sum of the new
 * leaves). Leaves the lengths alone when the longest code is already that long or when fewer than target - L
 * symbols are unused (a pretree often uses most of its 20).
 */
export function deepen(lens: Uint8Array, target: number | undefined): Uint8Array {
  if (target === undefined) return lens;
  let s = -1;
  for (let i = 0; i < lens.length; i++) if (lens[i]! > 0 && (s < 0 || lens[i]! > lens[s]!)) s = i;
  if (s < 0 || lens[s]! >= target) return lens;
  if (lens.filter((l) => l === 0).length < target - lens[s]!) return lens;
  const out = new Uint8Array(lens);
  for (let depth = out[s]! + 1; depth <= target; depth++) out[out.indexOf(0)] = depth;
  out[s] = target;
  return out;
}

/**
 * Wrap LZX chunks in a one-folder cabinet so an independent decoder such as cabextract can check
 * what the encoder emits. Members are consecutive slices of the folder's data. By default no
 * checksums and no reserve; `cbCFData` gives each CFDATA that many reserved bytes (0xa5), and
 * `checksums` fills in each CFDATA.csum.
 */
export function buildLzxCab(
  windowBits: number, chunks: LzxChunk[], members: { name: string; size: number }[],
  opts: { cbCFData?: number; checksums?: boolean } = {},
): Uint8Array {
  const enc = new TextEncoder();
  const reserve = opts.cbCFData ?? 0;
  const fileRecs: Uint8Array[] = [];
  let uoff = 0;
  for (const m of members) {
    const name = enc.encode(`${m.name}\0`);
    const rec = new Uint8Array(16 + name.length);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, m.size, true);
    dv.setUint32(4, uoff, true);
    dv.setUint16(10, 0x5821, true); // 2024-01-01
    dv.setUint16(14, 0x20, true);
    rec.set(name, 16);
    fileRecs.push(rec);
    uoff += m.size;
  }
  const filesLen = fileRecs.reduce((a, r) => a + r.length, 0);
  const folderAt = reserve > 0 ? 40 : 36;
  const coffFiles = folderAt + 8;
  const coffCabStart = coffFiles + filesLen;
  const dataLen = chunks.reduce((a, c) => a + 8 + reserve + c.bytes.length, 0);
  const out = new Uint8Array(coffCabStart + dataLen);
  const dv = new DataView(out.buffer);
  out.set([0x4d, 0x53, 0x43, 0x46]);
  dv.setUint32(8, out.length, true);
  dv.setUint32(16, coffFiles, true);
  out[24] = 3;
  out[25] = 1;
  dv.setUint16(26, 1, true);
  dv.setUint16(28, members.length, true);
  if (reserve > 0) {
    dv.setUint16(30, 4, true); // cfhdrRESERVE_PRESENT: cbCFHeader 0, cbCFFolder 0, cbCFData
    out[39] = reserve;
  }
  dv.setUint32(folderAt, coffCabStart, true);
  dv.setUint16(folderAt + 4, chunks.length, true);
  dv.setUint16(folderAt + 6, 3 | (windowBits << 8), true);
  let p = coffFiles;
  for (const r of fileRecs) (out.set(r, p), (p += r.length));
  for (const c of chunks) {
    dv.setUint16(p + 4, c.bytes.length, true);
    dv.setUint16(p + 6, c.cbUncomp, true);
    out.fill(0xa5, p + 8, p + 8 + reserve);
    out.set(c.bytes, p + 8 + reserve);
    if (opts.checksums) dv.setUint32(p, cfdataChecksum(out.subarray(p + 4, p + 8 + reserve), c.bytes), true);
    p += 8 + reserve + c.bytes.length;
  }
  return out;
}
