/**
 * The cabinet checksum (CSUMCompute in the CAB specification): XOR of the data
 * taken as little-endian u32 words, the 1-3 trailing bytes folded in with the
 * first one highest. A CFDATA.csum covers cbData, cbUncomp, abReserve and the data.
 */
import { CHECKSUM_WASM } from './checksum-wasm.js';
import { instantiateWasm, type WasmExports } from './wasm.js';

export function csumCompute(data: Uint8Array, seed: number): number {
  const words = data.length >>> 2;
  const csum = (seed ^ (words >= WASM_MIN_WORDS ? xorWordsWasm(data, words) ?? xorWords(data, words) : xorWords(data, words))) | 0;
  const p = words << 2;
  let ul = 0;
  const rest = data.length & 3;
  if (rest === 3) ul = (data[p]! << 16) | (data[p + 1]! << 8) | data[p + 2]!;
  else if (rest === 2) ul = (data[p]! << 8) | data[p + 1]!;
  else if (rest === 1) ul = data[p]!;
  return (csum ^ ul) >>> 0;
}

/*
 * Checked on every extraction by default, and a few ms per MB as JavaScript in a fresh process,
 * so the words of a CFDATA block go through WebAssembly (src/cab/checksum.c): copied into its
 * memory a piece at a time. Short data, and processes without WebAssembly, use the loop below.
 */
const WASM_MIN_WORDS = 256;
const PIECE = 65536;
interface CsumWasm {
  csum_words(p: number, words: number, seed: number): number;
}
let wasm: { exports: CsumWasm & WasmExports; addr: number; area: Uint8Array } | null | undefined;

/** XOR of the first `words` little-endian words of `data` through WebAssembly; null without it. */
function xorWordsWasm(data: Uint8Array, words: number): number | null {
  if (wasm === undefined) {
    const inst = instantiateWasm<CsumWasm>(CHECKSUM_WASM, [PIECE]);
    wasm = 'unavailable' in inst ? null : { exports: inst.exports, addr: inst.addrs[0]!, area: new Uint8Array(inst.exports.memory.buffer, inst.addrs[0]!, PIECE) };
  }
  if (!wasm) return null;
  let x = 0;
  for (let p = 0, len = words << 2; p < len; p += PIECE) {
    const n = Math.min(PIECE, len - p);
    wasm.area.set(data.subarray(p, p + n));
    x ^= wasm.exports.csum_words(wasm.addr, n >>> 2, 0);
  }
  return x;
}

/** XOR of the first `words` little-endian words of `data`, in JavaScript. */
export function xorWords(data: Uint8Array, words: number): number {
  if (LITTLE_ENDIAN && words >= 8) {
    // XOR works lane by lane (byte i lands in lane i % 4), so words read from the aligned
    // address before or after the data's start only need rotating into place: CFDATA blocks
    // lie at any offset of a read buffer, and an Int32Array view is about three times the
    // speed of DataView loads
    const len = words << 2;
    const head = (4 - (data.byteOffset & 3)) & 3;
    const n = (len - head) >>> 2;
    const w = new Int32Array(data.buffer, data.byteOffset + head, n);
    let x = 0;
    for (let i = 0; i < n; i++) x ^= w[i]!;
    // bytes j of these words are data[head + j]: lane (head + j) % 4
    if (head !== 0) x = (x << (8 * head)) | (x >>> (32 - 8 * head));
    let lanes = 0;
    for (let i = 0; i < head; i++) lanes ^= data[i]! << (8 * i);
    for (let i = head + (n << 2); i < len; i++) lanes ^= data[i]! << (8 * (i & 3));
    return x ^ lanes;
  }
  const v = new DataView(data.buffer, data.byteOffset, data.length);
  let x = 0;
  for (let i = 0, p = 0; i < words; i++, p += 4) x ^= v.getInt32(p, true);
  return x;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** csum field value for a CFDATA block: data first, then the header fields after csum. */
export function cfdataChecksum(headerAfterCsum: Uint8Array, data: Uint8Array): number {
  return csumCompute(headerAfterCsum, csumCompute(data, 0));
}
