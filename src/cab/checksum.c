/*
 * The word loop of the cabinet checksum, compiled to WebAssembly: XOR of little-endian u32 words
 * (WebAssembly memory is little-endian), two at a time. As JavaScript the loop runs interpreted
 * in a short-lived process, about 3.5 ms per MB; here it is compiled before it runs
 * (docs/performance.md). src/cab/checksum.ts copies the data into memory, folds in the trailing
 * bytes, and keeps a JavaScript loop for processes without WebAssembly.
 *
 * The loop itself is in src/cab/checksum.h, which src/cab/lzx-symbols.c shares.
 *
 * Build: node scripts/build-wasm.mjs (clang and wasm-ld; writes src/cab/checksum-wasm.ts).
 */
#include "checksum.h"

/* XOR of the `words` u32 words at `p` (4-byte aligned) with `seed`. */
__attribute__((export_name("csum_words")))
uint32_t csum_words(const uint32_t *p, uint32_t words, uint32_t seed) {
  return csumWords((const uint8_t *)p, words, seed);
}
