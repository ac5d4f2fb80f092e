/**
 * The cabinet checksum (CSUMCompute in the CAB specification): XOR of the data
 * taken as little-endian u32 words, the 1-3 trailing bytes folded in with the
 * first one highest. A CFDATA.csum covers cbData, cbUncomp, abReserve and the data.
 */
export function csumCompute(data: Uint8Array, seed: number): number {
  let csum = seed | 0;
  const words = data.length >>> 2;
  // checked on every extraction by default: whole words at a time, aligned ones through an
  // Int32Array view (on a little-endian host), about three times the speed of byte loads
  if (LITTLE_ENDIAN && words >= 8) {
    // XOR works lane by lane (byte i lands in lane i % 4), so words read from the aligned
    // address before or after the data's start only need rotating into place: CFDATA blocks
    // lie at any offset of a read buffer, and the view is much faster than DataView loads
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
    csum ^= x ^ lanes;
  } else {
    const v = new DataView(data.buffer, data.byteOffset, data.length);
    for (let i = 0, p = 0; i < words; i++, p += 4) csum ^= v.getInt32(p, true);
  }
  const p = words << 2;
  let ul = 0;
  const rest = data.length & 3;
  if (rest === 3) ul = (data[p]! << 16) | (data[p + 1]! << 8) | data[p + 2]!;
  else if (rest === 2) ul = (data[p]! << 8) | data[p + 1]!;
  else if (rest === 1) ul = data[p]!;
  return (csum ^ ul) >>> 0;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** csum field value for a CFDATA block: data first, then the header fields after csum. */
export function cfdataChecksum(headerAfterCsum: Uint8Array, data: Uint8Array): number {
  return csumCompute(headerAfterCsum, csumCompute(data, 0));
}
