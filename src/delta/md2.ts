/**
 * MD2 (RFC 1319), for delta target hashes with ALG_ID 0x8001; OpenSSL no longer offers it.
 * PI_SUBST is the RFC's permutation of 0..255, regenerated here from the digits of pi by the
 * shuffle its author described (a Durstenfeld shuffle driven by successive digits); the RFC's test
 * vectors (test/delta/hash.test.ts) confirm it.
 */
const PI_SUBST = Uint8Array.from(Buffer.from(
  '292e43c9a2d87c013d3654a1ecf0061362a705f3c0c7738c98932bd9bc4c82ca1e9b573cfdd4e01667426f188a17e512be4ec4d6da9ede49a0fbf58ebb2fee7aa968799115b2073f94c210890b225f21807f5d9a5a903227353ecce7bff79703ff1930b348a5b5d1d75e922aac56aac64fb838d296a47db676fc6be29c7404f1459d705964718720865bcf65e62da8021b6025adaeb0b9f61c46616934407e0f5547a323dd51af3ac35cf9cebac5ea262c530d6e85288409d3dfcdf441814d526adc37c86cc1abfa24e17b080cbdb14a7888958be363e86de9cbd5fe3b001d39f2efb70e6658d0e4a67772f8eb754b0a314450b48fed1f1adb998d339f118314',
  'hex',
));

export function md2(data: Uint8Array): Uint8Array {
  const pad = 16 - (data.length % 16);
  const msg = new Uint8Array(data.length + pad + 16);
  msg.set(data);
  msg.fill(pad, data.length, data.length + pad);
  const blocks = (data.length + pad) / 16;
  // Checksum block, appended after the padding.
  const c = msg.subarray(data.length + pad);
  let l = 0;
  for (let i = 0; i < blocks; i++) {
    for (let j = 0; j < 16; j++) {
      c[j] = c[j]! ^ PI_SUBST[msg[i * 16 + j]! ^ l]!;
      l = c[j]!;
    }
  }
  const x = new Uint8Array(48);
  for (let i = 0; i <= blocks; i++) {
    for (let j = 0; j < 16; j++) {
      x[16 + j] = msg[i * 16 + j]!;
      x[32 + j] = x[16 + j]! ^ x[j]!;
    }
    let t = 0;
    for (let j = 0; j < 18; j++) {
      for (let k = 0; k < 48; k++) t = x[k] = x[k]! ^ PI_SUBST[t]!;
      t = (t + j) & 0xff;
    }
  }
  return x.slice(0, 16);
}
