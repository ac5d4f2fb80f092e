/*
 * The CFFILE table scan and the name-suffix classing of src/cab/header.ts, compiled to
 * WebAssembly. An LCU payload lists 22,000 members: as JavaScript both loops run once, mostly
 * interpreted, about 13 ms in a fresh process; here they are compiled before they run
 * (docs/performance.md). src/cab/cffile-scan.ts lays out the memory and reads the rows back;
 * header.ts keeps the JavaScript scan, which every table this one refuses goes back through, so
 * the words of every error stay there.
 *
 * Build: node scripts/build-wasm.mjs (clang and wasm-ld; writes src/cab/cffile-wasm.ts).
 */
#include <stdint.h>

#define CB_MAX_FILENAME 256
#define ifoldCONTINUED_FROM_PREV 0xFFFD
#define NAME_TAIL_NOT_ASCII 255

/*
 * The rows, laid out from `rows` for `count` entries: cbFile, uoffFolderStart and nameStart as
 * u32 arrays, then iFolder, date, time, attribs and nameLength as u16 arrays (22 bytes a row;
 * cffile-scan.ts mirrors this order).
 */

/*
 * Scan `count` CFFILE entries of `b` (`len` bytes) from `pos`, making the checks scanCfFiles makes.
 * Returns `count` when every entry passed, else the index of the first that did not.
 */
__attribute__((export_name("scan_cffiles")))
uint32_t scan_cffiles(const uint8_t *b, uint32_t len, uint32_t pos, uint32_t count, uint32_t folderCount, uint8_t *rows) {
  uint32_t *cbFile = (uint32_t *)rows, *uoff = cbFile + count, *nameStart = uoff + count;
  uint16_t *iFolder = (uint16_t *)(nameStart + count), *date = iFolder + count, *time = date + count,
           *attribs = time + count, *nameLength = attribs + count;
  for (uint32_t i = 0; i < count; i++) {
    if (pos > len || len - pos < 16) return i;
    const uint8_t *p = b + pos;
    uint32_t cb = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
    uint32_t off = p[4] | p[5] << 8 | p[6] << 16 | (uint32_t)p[7] << 24;
    uint32_t fold = p[8] | p[9] << 8;
    /* a name with no NUL in its first CB_MAX_FILENAME bytes is refused either way (the
       JavaScript scan then says whether it is over-long or cut short) */
    uint32_t start = pos + 16, limit = len - start < CB_MAX_FILENAME ? len : start + CB_MAX_FILENAME, nul = start;
    /* eight bytes a step: the first call runs as baseline code, where a byte loop over an
       LCU's 2.6 MB of names costs more than the rest of the scan */
    for (; limit - nul >= 8; nul += 8) {
      uint64_t w;
      __builtin_memcpy(&w, b + nul, 8);
      uint64_t zero = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
      if (zero) {
        nul += (uint32_t)__builtin_ctzll(zero) >> 3;
        goto found;
      }
    }
    while (nul < limit && b[nul] != 0) nul++;
    if (nul >= limit) return i;
  found:;
    uint32_t length = nul - start;
    if (length == 0) return i;
    if (fold < ifoldCONTINUED_FROM_PREV && fold >= folderCount) return i;
    if ((uint64_t)off + cb > 0xFFFFFFFEu) return i;
    cbFile[i] = cb;
    uoff[i] = off;
    nameStart[i] = start;
    iFolder[i] = (uint16_t)fold;
    date[i] = (uint16_t)(p[10] | p[11] << 8);
    time[i] = (uint16_t)(p[12] | p[13] << 8);
    attribs[i] = (uint16_t)(p[14] | p[15] << 8);
    nameLength[i] = (uint16_t)length;
    pos = nul + 1;
  }
  return count;
}

/*
 * CfFileTable.suffixIndex over the rows: `suffixes` holds `n` lower-case ASCII suffixes, each
 * as its length byte and its bytes; `out[i]` gets the index of the first that row i's name ends
 * with (ASCII case ignored), `n` for none, NAME_TAIL_NOT_ASCII when a byte over 0x7F lies within
 * the name's last (longest suffix) bytes.
 */
__attribute__((export_name("suffix_index")))
void suffix_index(const uint8_t *b, const uint8_t *rows, uint32_t count, const uint8_t *suffixes, uint32_t n, uint8_t *out) {
  const uint32_t *nameStart = (const uint32_t *)rows + 2 * count;
  const uint16_t *nameLength = (const uint16_t *)(nameStart + count) + 4 * count;
  const uint8_t *at[NAME_TAIL_NOT_ASCII];
  uint32_t lens[NAME_TAIL_NOT_ASCII], tail = 0;
  for (uint32_t k = 0, q = 0; k < n; k++) {
    lens[k] = suffixes[q];
    at[k] = suffixes + q + 1;
    if (lens[k] > tail) tail = lens[k];
    q += 1 + lens[k];
  }
  for (uint32_t i = 0; i < count; i++) {
    uint32_t start = nameStart[i], end = start + nameLength[i], k = 0;
    for (uint32_t p = end - start > tail ? end - tail : start; p < end; p++) {
      if (b[p] > 0x7f) {
        k = NAME_TAIL_NOT_ASCII;
        break;
      }
    }
    if (k == 0) {
      for (; k < n; k++) {
        uint32_t m = lens[k], j = 1;
        if (end - start < m) continue;
        for (; j <= m; j++) {
          uint8_t c = b[end - j];
          if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) != at[k][m - j]) break;
        }
        if (j > m) break;
      }
    }
    out[i] = (uint8_t)k;
  }
}
