/** MD4 (RFC 1320), for delta target hashes with ALG_ID 0x8002; OpenSSL 3 no longer offers it. */
export function md4(data: Uint8Array): Uint8Array {
  const n = data.length;
  const blocks = ((n + 8) >>> 6) + 1;
  const msg = new Uint8Array(blocks * 64);
  msg.set(data);
  msg[n] = 0x80;
  const view = new DataView(msg.buffer);
  view.setUint32(blocks * 64 - 8, (n * 8) >>> 0, true);
  view.setUint32(blocks * 64 - 4, Math.floor(n / 0x20000000), true);
  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Int32Array(16);
  const rotl = (v: number, s: number): number => (v << s) | (v >>> (32 - s));
  for (let blk = 0; blk < blocks; blk++) {
    for (let i = 0; i < 16; i++) x[i] = view.getInt32(blk * 64 + i * 4, true);
    const aa = a, bb = b, cc = c, dd = d;
    // Round 1: F(x,y,z) = xy | ~x z.
    for (let i = 0; i < 16; i += 4) {
      a = rotl((a + ((b & c) | (~b & d)) + x[i]!) | 0, 3);
      d = rotl((d + ((a & b) | (~a & c)) + x[i + 1]!) | 0, 7);
      c = rotl((c + ((d & a) | (~d & b)) + x[i + 2]!) | 0, 11);
      b = rotl((b + ((c & d) | (~c & a)) + x[i + 3]!) | 0, 19);
    }
    // Round 2: G(x,y,z) = xy | xz | yz, constant 0x5A827999, words in column order.
    for (let i = 0; i < 4; i++) {
      a = rotl((a + ((b & c) | (b & d) | (c & d)) + x[i]! + 0x5a827999) | 0, 3);
      d = rotl((d + ((a & b) | (a & c) | (b & c)) + x[i + 4]! + 0x5a827999) | 0, 5);
      c = rotl((c + ((d & a) | (d & b) | (a & b)) + x[i + 8]! + 0x5a827999) | 0, 9);
      b = rotl((b + ((c & d) | (c & a) | (d & a)) + x[i + 12]! + 0x5a827999) | 0, 13);
    }
    // Round 3: H(x,y,z) = x ^ y ^ z, constant 0x6ED9EBA1, words in bit-reversed order.
    for (const i of [0, 2, 1, 3]) {
      a = rotl((a + (b ^ c ^ d) + x[i]! + 0x6ed9eba1) | 0, 3);
      d = rotl((d + (a ^ b ^ c) + x[i + 8]! + 0x6ed9eba1) | 0, 9);
      c = rotl((c + (d ^ a ^ b) + x[i + 4]! + 0x6ed9eba1) | 0, 11);
      b = rotl((b + (c ^ d ^ a) + x[i + 12]! + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = new Uint8Array(16);
  const ov = new DataView(out.buffer);
  ov.setInt32(0, a, true);
  ov.setInt32(4, b, true);
  ov.setInt32(8, c, true);
  ov.setInt32(12, d, true);
  return out;
}
