/**
 * Test-side writers for PA30/PA31 deltas, written from docs/delta.md: the LSB-first bitstream
 * (3-bit padding header, Numbers, Buffers, Long Numbers) and a PseudoLzx token writer for the
 * simple format (flat code lengths) and, optionally, a composite format with given lengths.
 */
import { createHash } from 'node:crypto';

export class BitWriter {
  private bits: number[] = [0, 0, 0];

  raw(v: number | bigint, n: number): this {
    const x = BigInt(v);
    for (let i = 0; i < n; i++) this.bits.push(Number((x >> BigInt(i)) & 1n));
    return this;
  }

  /** Number: z zeros, a one, then (z+1) nibbles. */
  int(v: bigint | number): this {
    const x = BigInt(v);
    let nibbles = 1;
    while (x >> BigInt(nibbles * 4) !== 0n) nibbles++;
    for (let i = 0; i < nibbles - 1; i++) this.bits.push(0);
    this.bits.push(1);
    return this.raw(x, nibbles * 4);
  }

  /** Long Number (>= 256): floor(log2 v) - 8 zeros, a one, then the low bits of v without its top bit. */
  long(v: number): this {
    const top = 31 - Math.clz32(v);
    for (let i = 0; i < top - 8; i++) this.bits.push(0);
    this.bits.push(1);
    return this.raw(v - 2 ** top, top);
  }

  buffer(b: Uint8Array): this {
    this.int(b.length);
    while (this.bits.length % 8) this.bits.push(0);
    for (const byte of b) for (let i = 0; i < 8; i++) this.bits.push((byte >> i) & 1);
    return this;
  }

  /** A Huffman code value, top bit first. */
  code(value: number, len: number): this {
    for (let i = len - 1; i >= 0; i--) this.bits.push((value >> i) & 1);
    return this;
  }

  finish(): Uint8Array {
    const pad = (8 - (this.bits.length % 8)) % 8;
    const bits = [...this.bits, ...new Array<number>(pad).fill(0)];
    bits[0] = pad & 1;
    bits[1] = (pad >> 1) & 1;
    bits[2] = (pad >> 2) & 1;
    const out = new Uint8Array(bits.length / 8);
    bits.forEach((b, i) => (out[i >> 3]! |= b << (i & 7)));
    return out;
  }
}

/** Left-leaning canonical codes for the given lengths (longest codes numerically smallest). */
export function canonicalCodes(lengths: ArrayLike<number>): number[] {
  let max = 0;
  const count = new Array<number>(17).fill(0);
  for (let s = 0; s < lengths.length; s++) {
    count[lengths[s]!]!++;
    max = Math.max(max, lengths[s]!);
  }
  const next = new Array<number>(18).fill(0);
  let acc = 0;
  for (let l = max; l >= 1; l--) {
    next[l] = acc;
    acc = (acc + count[l]!) >> 1;
  }
  const codes: number[] = [];
  for (let s = 0; s < lengths.length; s++) codes.push(lengths[s]! ? next[lengths[s]!]!++ : -1);
  return codes;
}

export function flat(n: number): number[] {
  const b = 32 - Math.clz32(n - 1);
  return Array.from({ length: n }, (_, s) => (s < (1 << b) - n ? b - 1 : b));
}

/** Writes PseudoLzx tokens with the simple format's flat codes. */
export class PatchWriter {
  readonly w = new BitWriter();
  private readonly main: number[];
  private readonly mainLen = flat(600);
  private readonly lenCodes: number[];
  private readonly lenLen = flat(256);
  private readonly alCodes: number[];
  private readonly alLen = flat(16);

  constructor() {
    this.w.raw(0, 1); // no rift table
    this.w.raw(1, 1); // simple format
    this.main = canonicalCodes(this.mainLen);
    this.lenCodes = canonicalCodes(this.lenLen);
    this.alCodes = canonicalCodes(this.alLen);
  }

  private sym(s: number): void {
    this.w.code(this.main[s]!, this.mainLen[s]!);
  }

  literal(...bytes: number[]): this {
    for (const b of bytes) this.sym(b);
    return this;
  }

  private match(offSlot: number, len: number, extras: () => void): this {
    const lenSlot = len >= 2 && len <= 8 ? len - 1 : 0;
    this.sym(256 + offSlot * 8 + lenSlot);
    extras();
    if (lenSlot === 0) {
      if (len - 8 >= 1 && len - 8 <= 255) this.w.code(this.lenCodes[len - 8]!, 8);
      else {
        this.w.code(this.lenCodes[0]!, 8);
        this.w.long(len - 8);
      }
    }
    return this;
  }

  /** Copy from the rift-mapped position (for RAW: the same index in the reference). */
  sourceCopy(len: number): this {
    return this.match(3, len, () => {});
  }

  /** Signed displacement d in [-0x2000, 0x1FFF] from the rift-mapped position (slot 0). */
  displaced(d: number, len: number): this {
    return this.match(0, len, () => this.w.raw(d + 0x2000, 14));
  }

  repeat(i: 0 | 1 | 2, len: number): this {
    return this.match(4 + i, len, () => {});
  }

  /** Absolute back-distance. */
  distance(dist: number, len: number): this {
    for (let x = 1; x <= 63; x++) {
      let lo: number;
      let hi: number;
      if (x <= 3) lo = hi = x;
      else {
        const h = (x >> 1) - 1;
        lo = (2 + (x & 1)) * 2 ** h;
        hi = lo + 2 ** h - 1;
      }
      if (dist < lo || dist > hi) continue;
      const extra = (): void => {
        if (x >= 36) {
          if (x < 40) this.w.raw(0, 1).raw(x - 36, 2);
          else if (x < 48) this.w.raw(1, 1).raw(0, 1).raw(x - 40, 3);
          else this.w.raw(1, 1).raw(1, 1).raw(x - 48, 4);
        }
        if (x <= 3) return;
        const h = (x >> 1) - 1;
        const rest = dist - lo;
        if (h < 4) this.w.raw(rest, h);
        else {
          this.w.raw(Math.floor(rest / 16), h - 4);
          this.w.code(this.alCodes[rest % 16]!, 4);
        }
      };
      return this.match(x >= 36 ? 7 : x + 7, len, extra);
    }
    throw new Error(`distance ${dist} has no slot`);
  }

  finish(): Uint8Array {
    return this.w.finish();
  }
}

export interface DeltaFields {
  magic?: 'PA30' | 'PA31';
  fileTime?: bigint;
  fileTypeSet?: number;
  fileType?: number;
  flags?: number;
  targetSize: number;
  /** Hash of this target is embedded with the algorithm (0x8003 MD5, 0x8004 SHA-1, 0x800C SHA-256), or none. */
  hashOf?: { alg: number; target: Uint8Array };
  preprocess?: Uint8Array;
  patch: Uint8Array;
}

const NODE_HASH: Record<number, string> = { 0x8003: 'md5', 0x8004: 'sha1', 0x800c: 'sha256' };

export function buildDelta(f: DeltaFields): Uint8Array {
  const head = Buffer.alloc(12);
  head.write(f.magic ?? 'PA30', 0, 'latin1');
  head.writeBigUInt64LE(f.fileTime ?? 0n, 4);
  const fields = new BitWriter()
    .int(f.fileTypeSet ?? 1)
    .int(f.fileType ?? 1)
    .int(f.flags ?? 0)
    .int(f.targetSize)
    .int(f.hashOf?.alg ?? 0)
    .buffer(f.hashOf ? createHash(NODE_HASH[f.hashOf.alg]!).update(f.hashOf.target).digest() : new Uint8Array(0));
  let outer: BitWriter;
  if ((f.magic ?? 'PA30') === 'PA31') {
    const inner = fields.int(0).int(0).int(0).buffer(new Uint8Array(0)).finish();
    outer = new BitWriter().buffer(inner);
  } else {
    outer = fields;
  }
  if ((f.fileTypeSet ?? 1) & 0x100) outer.buffer(f.patch);
  else outer.buffer(f.preprocess ?? new Uint8Array(0)).buffer(f.patch);
  return Buffer.concat([head, outer.finish()]);
}
