/*
 * The LZX decoder's per-symbol and per-block work, compiled to WebAssembly: the symbol loop
 * (literals and matches of a verbatim or aligned-offset block) and the trees of a block header
 * (pretree, code lengths, decode tables). src/cab/lzx.ts keeps the rest (frames, block types and
 * sizes, uncompressed blocks, E8) and the words of every error. As JavaScript this code ran
 * interpreted, then optimized and thrown away again as rare branches first appeared: 60 ms or more
 * for a few MB in a fresh process, where WebAssembly is compiled once before it runs
 * (docs/performance.md).
 *
 * Build: node scripts/build-wasm.mjs (clang and wasm-ld; writes src/cab/lzx-wasm.ts). The state
 * block layout is mirrored by LzxDecoder. Each decoder has its own instance, so the tables and
 * lengths below are per decoder.
 */
#include <stdint.h>

#define NUM_CHARS 256
#define MIN_MATCH 2
#define NUM_PRIMARY_LENGTHS 7
#define NUM_SECONDARY_LENGTHS 249
#define PRETREE_NUM_ELEMENTS 20
#define ALIGNED_NUM_ELEMENTS 8
#define MAX_MAIN_ELEMENTS (NUM_CHARS + 50 * 8)
#define MAX_CODE_LENGTH 16
#define MAIN_TB 11
#define LENGTH_TB 12
#define PRETREE_TB 8
#define ALIGNED_TB 7
#define BLOCKTYPE_ALIGNED 2

/*
 * Decode tables. A primary table indexed by the next TB bits holds, per entry, (symbol << 5) | codeLength
 * for codes of at most TB bits. For longer codes the primary entry is (subtableOffset << 5) (low bits 0,
 * never 0 itself); the subtable is indexed by the following (16 - TB) bits. An entry of 0 is a code the
 * tree does not assign (an incomplete tree, or an empty one): hitting it is corrupt input.
 */
#define TABLE_SIZE(tb, n) ((1 << (tb)) + (n) * (1 << (MAX_CODE_LENGTH - (tb))))
static int32_t mainTable[TABLE_SIZE(MAIN_TB, MAX_MAIN_ELEMENTS)];
static int32_t lengthTable[TABLE_SIZE(LENGTH_TB, NUM_SECONDARY_LENGTHS)];
static int32_t alignedTable[TABLE_SIZE(ALIGNED_TB, ALIGNED_NUM_ELEMENTS)];
static int32_t pretreeTable[TABLE_SIZE(PRETREE_TB, PRETREE_NUM_ELEMENTS)];
/* code lengths are sent as deltas from the previous block's: these two carry over */
static uint8_t mainLengths[MAX_MAIN_ELEMENTS];
static uint8_t lengthLengths[NUM_SECONDARY_LENGTHS];
static uint8_t alignedLengths[ALIGNED_NUM_ELEMENTS];
static uint8_t pretreeLengths[PRETREE_NUM_ELEMENTS];

/* Errors, in State.err; the caller words them (with State.errTree, errA, errB). */
#define ERR_MAIN_CODE 1
#define ERR_LENGTH_CODE 2
#define ERR_ALIGNED_CODE 3
#define ERR_OFFSET 4
#define ERR_MATCH_PAST_BLOCK 5
#define ERR_INPUT_ENDS 6
#define ERR_OVERSUBSCRIBED 7
#define ERR_PRETREE_CODE 8
#define ERR_ZERO_RUN 9
#define ERR_EQUAL_RUN 10
#define ERR_RUN_DELTA 11

/* Trees, in State.errTree: the tree a header error is in (+ TREE_PRETREE: its pretree). */
#define TREE_ALIGNED 1
#define TREE_MAIN 2
#define TREE_LENGTH 3
#define TREE_PRETREE 4

/* Footer bits and base of each position slot: slots 0..3 have none, then pairs grow by one bit, capped at 17. */
static const uint8_t FOOTER_BITS[50] = {
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16,
  17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17,
};
static const uint32_t POSITION_BASE[50] = {
  0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144,
  8192, 12288, 16384, 24576, 32768, 49152, 65536, 98304, 131072, 196608, 262144, 393216, 524288, 655360, 786432,
  917504, 1048576, 1179648, 1310720, 1441792, 1572864, 1703936, 1835008, 1966080,
};

/* 32-bit fields shared with LzxDecoder (Int32Array view, index = field number). */
typedef struct {
  uint32_t bitbuf;      /* 0: bits left-aligned, most significant first */
  int32_t bitsLeft;     /* 1 */
  uint32_t R0, R1, R2;  /* 2-4 */
  int32_t w;            /* 5: window position of the next byte */
  int32_t blockEnd;     /* 6: window position where the block ends */
  int32_t historyBase;  /* 7: folder position of window position 0 */
  int32_t aligned;      /* 8: an aligned-offset block */
  int32_t err;          /* 9: 0 or an ERR_ code */
  int32_t errA;         /* 10: match offset, or run length */
  int32_t errB;         /* 11: match length, lengths left, or pretree code */
  uint32_t window;      /* 12: address of the window, set once */
  uint32_t windowSize;  /* 13 */
  int32_t inPos;        /* 14: block headers: input position */
  int32_t mainElements; /* 15: set once */
  int32_t errTree;      /* 16 */
} State;

#define REFILL() \
  do { \
    bitbuf |= (uint32_t)(in[inPos] | (in[inPos + 1] << 8)) << (16 - bitsLeft); \
    inPos += 2; \
    bitsLeft += 16; \
  } while (0)

/*
 * Decode symbols into the window from the input at `input`, starting at byte inPos, while the
 * window position is below `end` and a symbol starts at or before `limit`; returns the new input
 * position. Bytes from `inEnd` on are zeros the caller placed: a refill that started more than 2
 * bytes past it (a position more than 4 past it) means the data ended early, which takes
 * precedence over any error found after it. The same contract as LzxDecoder's loop had.
 */
__attribute__((export_name("lzx_run_symbols")))
int32_t lzx_run_symbols(State *s, uint32_t input, int32_t inPos, int32_t limit, int32_t inEnd, int32_t end) {
  const uint8_t *in = (const uint8_t *)(uintptr_t)input;
  uint8_t *win = (uint8_t *)(uintptr_t)s->window;
  const int32_t ws = (int32_t)s->windowSize;
  const int aligned = s->aligned;
  uint32_t bitbuf = s->bitbuf;
  int32_t bitsLeft = s->bitsLeft;
  uint32_t R0 = s->R0, R1 = s->R1, R2 = s->R2;
  int32_t w = s->w;
  const int32_t blockEnd = s->blockEnd;
  const int32_t historyBase = s->historyBase;
  int32_t err = 0, errA = 0, errB = 0;

  while (w < end && inPos <= limit) {
    /* bitsLeft may be 0 here: two words; after a code of at most 16 bits, one is enough */
    while (bitsLeft < 17) REFILL();
    int32_t e = mainTable[bitbuf >> (32 - MAIN_TB)];
    if ((e & 31) == 0) {
      if (e != 0) e = mainTable[(e >> 5) + ((bitbuf >> 16) & ((1 << (MAX_CODE_LENGTH - MAIN_TB)) - 1))];
      if (e == 0) { err = ERR_MAIN_CODE; break; }
    }
    int32_t n = e & 31;
    bitbuf <<= n;
    bitsLeft -= n;
    int32_t sym = e >> 5;
    if (sym < NUM_CHARS) {
      win[w++] = (uint8_t)sym;
      continue;
    }

    /* main element = 256 + positionSlot * 8 + lengthHeader */
    int32_t m = sym - NUM_CHARS;
    int32_t matchLength = m & 7;
    if (matchLength == NUM_PRIMARY_LENGTHS) {
      if (bitsLeft < 17) REFILL();
      e = lengthTable[bitbuf >> (32 - LENGTH_TB)];
      if ((e & 31) == 0) {
        if (e != 0) e = lengthTable[(e >> 5) + ((bitbuf >> 16) & ((1 << (MAX_CODE_LENGTH - LENGTH_TB)) - 1))];
        if (e == 0) { err = ERR_LENGTH_CODE; break; }
      }
      n = e & 31;
      bitbuf <<= n;
      bitsLeft -= n;
      matchLength += e >> 5;
    }
    matchLength += MIN_MATCH;

    int32_t slot = m >> 3;
    uint32_t offset;
    if (slot == 0) {
      offset = R0;
    } else if (slot == 1) {
      offset = R1;
      R1 = R0;
      R0 = offset;
    } else if (slot == 2) {
      offset = R2;
      R2 = R0;
      R0 = offset;
    } else {
      int32_t footer = FOOTER_BITS[slot];
      if (bitsLeft < 17) REFILL();
      offset = POSITION_BASE[slot] - 2;
      if (aligned && footer >= 3) {
        if (footer > 3) {
          /* at most 14 verbatim bits, so at least 3 are left before this refill */
          int32_t v = footer - 3;
          offset += (bitbuf >> (32 - v)) << 3;
          bitbuf <<= v;
          bitsLeft -= v;
          if (bitsLeft < 17) REFILL();
        }
        e = alignedTable[bitbuf >> (32 - ALIGNED_TB)];
        if (e == 0) { err = ERR_ALIGNED_CODE; break; }
        n = e & 31;
        bitbuf <<= n;
        bitsLeft -= n;
        offset += (uint32_t)(e >> 5);
      } else if (footer > 0) {
        offset += bitbuf >> (32 - footer);
        bitbuf <<= footer;
        bitsLeft -= footer;
      }
      R2 = R1;
      R1 = R0;
      R0 = offset;
    }

    /* R0..R2 come from the input too (uncompressed blocks): compare as unsigned */
    if (offset < 1 || offset > (uint32_t)(w + historyBase) || offset > (uint32_t)ws) {
      err = ERR_OFFSET; errA = (int32_t)offset; break;
    }
    if (w + matchLength > blockEnd) {
      err = ERR_MATCH_PAST_BLOCK; errB = matchLength; break;
    }
    int32_t src = w - (int32_t)offset;
    if (src >= 0) {
      if ((int32_t)offset >= 8) {
        /*
         * Words instead of bytes: with the source at least 8 bytes back, each word read is final
         * (it lies below what this copy writes, or was written by an earlier step). The last word
         * ends exactly at the match's end, overlapping the one before it: nothing past the match
         * is written, as the ring's bytes there are still history one window back.
         */
        uint8_t *d = win + w;
        const uint8_t *sp = win + src;
        uint8_t *const stop = d + matchLength;
        if (matchLength >= 8) {
          uint64_t v;
          do {
            __builtin_memcpy(&v, sp, 8);
            __builtin_memcpy(d, &v, 8);
            d += 8;
            sp += 8;
          } while (d < stop - 8);
          __builtin_memcpy(&v, stop - 8 - offset, 8);
          __builtin_memcpy(stop - 8, &v, 8);
        } else if (matchLength >= 4) {
          uint32_t v, u;
          __builtin_memcpy(&v, sp, 4);
          __builtin_memcpy(&u, stop - 4 - offset, 4);
          __builtin_memcpy(d, &v, 4);
          __builtin_memcpy(stop - 4, &u, 4);
        } else {
          uint16_t v, u;
          __builtin_memcpy(&v, sp, 2);
          __builtin_memcpy(&u, stop - 2 - offset, 2);
          __builtin_memcpy(d, &v, 2);
          __builtin_memcpy(stop - 2, &u, 2);
        }
        w += matchLength;
      } else {
        /* forward byte copy: correct for overlapping (run-length) matches */
        const int32_t stop = w + matchLength;
        while (w < stop) win[w++] = win[src++];
      }
    } else {
      /* the source wraps around the ring: its tail, then on from the ring start */
      src += ws;
      int32_t k = ws - src < matchLength ? ws - src : matchLength;
      matchLength -= k;
      while (k-- > 0) win[w++] = win[src++];
      src = 0;
      while (matchLength-- > 0) win[w++] = win[src++];
    }
  }
  if (inPos > inEnd + 4) err = ERR_INPUT_ENDS;

  s->bitbuf = bitbuf;
  s->bitsLeft = bitsLeft;
  s->R0 = R0;
  s->R1 = R1;
  s->R2 = R2;
  s->w = w;
  s->err = err;
  s->errA = errA;
  s->errB = errB;
  return inPos;
}

/* ---- block headers: a bit reader that checks the end of its input (cold code) ---- */

typedef struct {
  State *s;
  const uint8_t *in; /* zeros follow the input: look-ahead past its end reads them */
  int32_t len;
  int32_t pos;
  uint32_t bitbuf;
  int32_t bitsLeft;
} Bits;

static int refill(Bits *b) {
  /* past the end the reader yields zeros, but only a couple of words of look-ahead are legitimate */
  if (b->pos > b->len + 2) return ERR_INPUT_ENDS;
  b->bitbuf |= (uint32_t)(b->in[b->pos] | (b->in[b->pos + 1] << 8)) << (16 - b->bitsLeft);
  b->pos += 2;
  b->bitsLeft += 16;
  return 0;
}

/* n (1..16) bits into *v */
static int readBits(Bits *b, int n, int32_t *v) {
  while (b->bitsLeft < n) {
    int e = refill(b);
    if (e) return e;
  }
  *v = (int32_t)(b->bitbuf >> (32 - n));
  b->bitbuf <<= n;
  b->bitsLeft -= n;
  return 0;
}

static int readSymbol(Bits *b, const int32_t *table, int tb, int32_t *sym) {
  while (b->bitsLeft < MAX_CODE_LENGTH) {
    int e = refill(b);
    if (e) return e;
  }
  int32_t e = table[b->bitbuf >> (32 - tb)];
  if ((e & 31) == 0) {
    if (e != 0) e = table[(e >> 5) + ((b->bitbuf >> 16) & ((1 << (MAX_CODE_LENGTH - tb)) - 1))];
    if (e == 0) return ERR_PRETREE_CODE;
  }
  int32_t len = e & 31;
  b->bitbuf <<= len;
  b->bitsLeft -= len;
  *sym = e >> 5;
  return 0;
}

/* Canonical Huffman decode table; over-subscribed code lengths are corrupt input, incomplete ones are allowed. */
static int buildTable(int32_t *table, int tb, const uint8_t *lens, int n) {
  int32_t count[MAX_CODE_LENGTH + 1] = {0};
  int32_t next[MAX_CODE_LENGTH + 1];
  for (int s = 0; s < n; s++) count[lens[s]]++;
  int32_t left = 1;
  for (int len = 1; len <= MAX_CODE_LENGTH; len++) {
    left = left * 2 - count[len];
    if (left < 0) return ERR_OVERSUBSCRIBED;
  }
  int32_t code = 0;
  count[0] = 0;
  for (int len = 1; len <= MAX_CODE_LENGTH; len++) {
    code = (code + count[len - 1]) << 1;
    next[len] = code;
  }
  /* only the primary table and the subtables handed out below are ever read: clear just those */
  for (int k = 0; k < (1 << tb); k++) table[k] = 0;
  const int subBits = MAX_CODE_LENGTH - tb;
  int32_t subNext = 1 << tb;
  for (int s = 0; s < n; s++) {
    const int len = lens[s];
    if (len == 0) continue;
    const int32_t c = next[len]++;
    const int32_t entry = (s << 5) | len;
    int32_t start, stop;
    if (len <= tb) {
      start = c << (tb - len);
      stop = start + (1 << (tb - len));
    } else {
      const int32_t prefix = c >> (len - tb);
      int32_t p = table[prefix];
      if (p == 0) {
        p = subNext << 5;
        table[prefix] = p;
        for (int k = 0; k < (1 << subBits); k++) table[subNext + k] = 0;
        subNext += 1 << subBits;
      }
      start = (p >> 5) + ((c & ((1 << (len - tb)) - 1)) << (MAX_CODE_LENGTH - len));
      stop = start + (1 << (MAX_CODE_LENGTH - len));
    }
    for (int32_t k = start; k < stop; k++) table[k] = entry;
  }
  return 0;
}

/* Code lengths lens[from..to) through a fresh pretree; values are deltas (mod 17) from the previous lengths. */
static int readLengths(Bits *b, uint8_t *lens, int from, int to, int tree) {
  State *s = b->s;
  int e;
  int32_t v;
  for (int i = 0; i < PRETREE_NUM_ELEMENTS; i++) {
    if ((e = readBits(b, 4, &v))) return e;
    pretreeLengths[i] = (uint8_t)v;
  }
  s->errTree = tree + TREE_PRETREE;
  if ((e = buildTable(pretreeTable, PRETREE_TB, pretreeLengths, PRETREE_NUM_ELEMENTS))) return e;
  int i = from;
  while (i < to) {
    int32_t code;
    if ((e = readSymbol(b, pretreeTable, PRETREE_TB, &code))) return e;
    if (code <= 16) {
      lens[i] = (uint8_t)((lens[i] + 17 - code) % 17);
      i++;
    } else if (code == 17 || code == 18) {
      if ((e = readBits(b, code == 17 ? 4 : 5, &v))) return e;
      const int run = code == 17 ? 4 + v : 20 + v;
      if (i + run > to) {
        s->errTree = tree; s->errA = run; s->errB = to - i;
        return ERR_ZERO_RUN;
      }
      for (int k = 0; k < run; k++) lens[i + k] = 0;
      i += run;
    } else {
      if ((e = readBits(b, 1, &v))) return e;
      const int run = 4 + v;
      if (i + run > to) {
        s->errTree = tree; s->errA = run; s->errB = to - i;
        return ERR_EQUAL_RUN;
      }
      int32_t delta;
      if ((e = readSymbol(b, pretreeTable, PRETREE_TB, &delta))) return e;
      if (delta > 16) {
        s->errTree = tree; s->errB = delta;
        return ERR_RUN_DELTA;
      }
      const uint8_t l = (uint8_t)((lens[i] + 17 - delta) % 17);
      for (int k = 0; k < run; k++) lens[i + k] = l;
      i += run;
    }
  }
  return 0;
}

static int readTrees(Bits *b, int aligned) {
  State *s = b->s;
  int e;
  int32_t v;
  if (aligned) {
    for (int i = 0; i < ALIGNED_NUM_ELEMENTS; i++) {
      if ((e = readBits(b, 3, &v))) return e;
      alignedLengths[i] = (uint8_t)v;
    }
    s->errTree = TREE_ALIGNED;
    if ((e = buildTable(alignedTable, ALIGNED_TB, alignedLengths, ALIGNED_NUM_ELEMENTS))) return e;
  }
  if ((e = readLengths(b, mainLengths, 0, NUM_CHARS, TREE_MAIN))) return e;
  if ((e = readLengths(b, mainLengths, NUM_CHARS, s->mainElements, TREE_MAIN))) return e;
  s->errTree = TREE_MAIN;
  if ((e = buildTable(mainTable, MAIN_TB, mainLengths, s->mainElements))) return e;
  if ((e = readLengths(b, lengthLengths, 0, NUM_SECONDARY_LENGTHS, TREE_LENGTH))) return e;
  s->errTree = TREE_LENGTH;
  return buildTable(lengthTable, LENGTH_TB, lengthLengths, NUM_SECONDARY_LENGTHS);
}

/*
 * The trees of a verbatim or aligned-offset block, read from the `len` bytes of input at `input`
 * starting at State.inPos with State.bitbuf/bitsLeft (the block type and size already read).
 * Returns 0, or an ERR_ code with State.errTree (and errA, errB) saying where.
 */
__attribute__((export_name("lzx_read_trees")))
int32_t lzx_read_trees(State *s, uint32_t input, int32_t len, int32_t aligned) {
  Bits b = { s, (const uint8_t *)(uintptr_t)input, len, s->inPos, s->bitbuf, s->bitsLeft };
  s->errTree = 0;
  int e = readTrees(&b, aligned);
  s->inPos = b.pos;
  s->bitbuf = b.bitbuf;
  s->bitsLeft = b.bitsLeft;
  s->err = e;
  return e;
}

/* Start of a folder: the previous lengths every block's deltas start from are zeros. */
__attribute__((export_name("lzx_reset")))
void lzx_reset(void) {
  for (int i = 0; i < MAX_MAIN_ELEMENTS; i++) mainLengths[i] = 0;
  for (int i = 0; i < NUM_SECONDARY_LENGTHS; i++) lengthLengths[i] = 0;
}
