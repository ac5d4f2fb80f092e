/*
 * The cabinet checksum (CSUMCompute in the CAB specification) for the C halves of the cabinet
 * code: src/cab/checksum.c exports its word loop, src/cab/lzx-symbols.c checks the CFDATA of a
 * run of LZX frames with it. XOR of little-endian u32 words (WebAssembly memory is little-endian),
 * two at a time, at any alignment.
 */
#ifndef MSU_CAB_CHECKSUM_H
#define MSU_CAB_CHECKSUM_H
#include <stdint.h>

/* XOR of the `words` u32 words at `p` with `seed`. */
static inline uint32_t csumWords(const uint8_t *p, uint32_t words, uint32_t seed) {
  uint64_t x = 0;
  uint32_t i = 0;
  for (; i + 2 <= words; i += 2) {
    uint64_t v;
    __builtin_memcpy(&v, p + 4 * i, 8);
    x ^= v;
  }
  uint32_t r = (uint32_t)x ^ (uint32_t)(x >> 32) ^ seed;
  if (i < words) {
    uint32_t v;
    __builtin_memcpy(&v, p + 4 * i, 4);
    r ^= v;
  }
  return r;
}

/* CSUMCompute: the words, then the 1-3 trailing bytes folded in with the first one highest. */
static inline uint32_t csumCompute(const uint8_t *p, uint32_t n, uint32_t seed) {
  uint32_t r = csumWords(p, n >> 2, seed);
  const uint8_t *t = p + (n & ~3u);
  switch (n & 3) {
    case 3: r ^= (uint32_t)t[0] << 16 | (uint32_t)t[1] << 8 | t[2]; break;
    case 2: r ^= (uint32_t)t[0] << 8 | t[1]; break;
    case 1: r ^= t[0]; break;
  }
  return r;
}
#endif
