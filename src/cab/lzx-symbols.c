/*
 * The LZX decoder's frames, compiled to WebAssembly: the block headers and trees, uncompressed
 * blocks, the symbol loop (literals and matches of a verbatim or aligned-offset block) and the
 * window's ring, one CFDATA frame at a time or a run of them in one call, with the CFDATA
 * checksums of the run. src/cab/lzx.ts keeps the E8 translation of the frames it hands out and
 * the words of every error. As JavaScript the per-symbol work ran interpreted, then optimized and
 * thrown away again as rare branches first appeared, and the frame loop around it cost more in a
 * short-lived process than the decode of a frame does here (docs/performance.md).
 *
 * Build: node scripts/build-wasm.mjs (clang and wasm-ld; writes src/cab/lzx-wasm.ts). The state
 * block layout is mirrored by LzxDecoder. Each decoder has its own instance, so the tables and
 * lengths below are per decoder.
 */
#include <stdint.h>
#include "checksum.h"

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
#define ERR_BLOCK_TYPE 12
#define ERR_UNCOMPRESSED_HEADER 13
#define ERR_UNCOMPRESSED_DATA 14
#define ERR_FRAME_SHORT 15
#define ERR_CHECKSUM 16

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

/*
 * A frame's input is copied to State.input and followed by INPUT_PAD zeros: the symbol loop reads
 * at most IN_SLACK bytes per symbol (up to two 16-bit words before the main code, then at most
 * one each before the length code, the position footer and the aligned offset code) with no
 * end-of-input test per refill, and may start a symbol up to 4 bytes past the end of the input
 * (look-ahead the bit reader may legitimately take). LzxDecoder lays out the same size.
 */
#define IN_SLACK 10
#define INPUT_PAD (4 + IN_SLACK + 2)

/* bytes of a folder counted past this are all alike to the bounds they are used for */
#define FOLDER_POS_CAP 0x40000000u

#define BLOCKTYPE_VERBATIM 1
#define BLOCKTYPE_UNCOMPRESSED 3

/* 32-bit fields shared with LzxDecoder (Int32Array view, index = field number): the folder's state. */
typedef struct {
  uint32_t R0, R1, R2;    /* 0-2 */
  int32_t w;              /* 3: window position of the next byte (linear in a frame: may pass windowSize) */
  int32_t frameStart;     /* 4: window position of the current frame's first byte (< windowSize) */
  uint32_t decoded;       /* 5: bytes decoded in this folder (capped at FOLDER_POS_CAP): bounds back-references */
  int32_t blockType;      /* 6: 0 before the first block */
  int32_t blockSize;      /* 7 */
  int32_t blockRemaining; /* 8 */
  int32_t pendingPad;     /* 9: an odd uncompressed block ended with its frame's input: skip its pad byte next frame */
  int32_t headerRead;     /* 10: the folder's E8 header */
  uint32_t e8Size;        /* 11: E8 translation size, 0 for none */
  int32_t frameIndex;     /* 12: frames finished in this folder */
  uint32_t frameOffset;   /* 13: folder offset of the current frame (capped at FOLDER_POS_CAP) */
  int32_t err;            /* 14: 0 or an ERR_ code */
  int32_t errA;           /* 15: match offset, run length, block type, byte offset, computed checksum, folder position */
  int32_t errB;           /* 16: folder position, match length, lengths left, pretree code, byte offset */
  int32_t errTree;        /* 17 */
  uint32_t window;        /* 18: addresses and sizes, set once */
  uint32_t windowSize;    /* 19 */
  uint32_t input;         /* 20 */
  uint32_t out;           /* 21 */
  int32_t mainElements;   /* 22 */
  int32_t fastMargin;     /* 23: fastSymbols runs while a symbol starts this many bytes (8 or more) before the input's end */
} State;

/* One frame of a call: its input (anywhere in memory), cbData, cbUncomp, and the CFDATA checksum to verify (0: none). */
typedef struct {
  uint32_t input;
  int32_t len;
  int32_t outSize;
  uint32_t csum;
} Frame;

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

/* ---- the symbol loop ---- */

static inline uint32_t addCapped(uint32_t a, uint32_t n) {
  return a + n < FOLDER_POS_CAP && a + n >= a ? a + n : FOLDER_POS_CAP;
}

/*
 * The ring the window's bytes live in is RING_SLACK bytes longer than the window (LzxDecoder lays
 * out the same): a match copy writes whole 16-byte steps, up to 15 bytes past the match, and the
 * ring bytes there hold data from more than a window back, which no match may reach.
 */
#define RING_SLACK 64

/* A match of `len` bytes from `offset` back (checked: 1..windowSize) to window position w; returns the new w. */
static inline __attribute__((always_inline)) int32_t copyMatch(uint8_t *win, int32_t w, uint32_t offset, int32_t len, int32_t ring) {
  int32_t src = w - (int32_t)offset;
  if (src >= 0 && (int32_t)offset >= 16) {
    /*
     * 16 bytes a step: with the source at least 16 back, each step reads bytes that lie below
     * what it writes or were written by an earlier step. Most matches take one step.
     */
    uint8_t *d = win + w;
    const uint8_t *sp = win + src;
    uint8_t *const stop = d + len;
    do {
      uint64_t a, b;
      __builtin_memcpy(&a, sp, 8);
      __builtin_memcpy(&b, sp + 8, 8);
      __builtin_memcpy(d, &a, 8);
      __builtin_memcpy(d + 8, &b, 8);
      d += 16;
      sp += 16;
    } while (d < stop);
    return w + len;
  }
  if (src >= 0) {
    /* forward byte copy: correct for overlapping (run-length) matches */
    const int32_t stop = w + len;
    while (w < stop) win[w++] = win[src++];
    return w;
  }
  /* the source wraps around the ring: its tail, then on from the ring start */
  src += ring;
  int32_t k = ring - src < len ? ring - src : len;
  len -= k;
  while (k-- > 0) win[w++] = win[src++];
  src = 0;
  while (len-- > 0) win[w++] = win[src++];
  return w;
}

/*
 * Symbols into the window from the frame's input at b->pos while the window position is below
 * `end` (`blockEnd` is where the block ends, `historyBase` the folder position of window position
 * 0, mod 2^32 as the comparisons are), with one of two bit readers over a 64-bit buffer. R0..R2,
 * the window position and the bit reader go in and out through `s` and `b`; an error comes back
 * with errA and errB.
 *
 * - `fast`: while a symbol starts at least State.fastMargin (8) bytes before the input's end. It
 *   tops up (to 49 bits or more) when less than a main code is left, and after a match's main
 *   code when less than the rest of the match is. A symbol takes at most 53 bits, so every bit it
 *   consumes is input, never the zeros after it, and an error it finds is the one the other
 *   reader would. It stops at a symbol's start, leaving the fewest words that hold the bits
 *   consumed.
 * - the 16-bit reader the "ends early" contract is defined on: 16 bits at a time before the main
 *   code (to 17 or more), the length code, the footer and the aligned code, with no end-of-input
 *   test, as the zeros after the input are what it yields past the end. A refill that started
 *   more than 2 bytes past the end (a position more than 4 past it) means the data ended early,
 *   which takes precedence over any error found after it (the bits it decoded were not real).
 *   Its state after the refill at a symbol's start depends only on the bits consumed, which is
 *   how the fast reader hands over to it.
 *
 * Each reader is a function of its own (fastSymbols, exactSymbols): V8 compiles a hot function
 * again with its optimizing compiler in the background, and a process cannot exit while that
 * runs, so each is kept small.
 */
static inline __attribute__((always_inline)) int symbols(State *s, Bits *b, int32_t end, int32_t blockEnd, int32_t historyBase, const int fast) {
  const uint8_t *in = b->in;
  const int32_t inEnd = b->len;
  /* where the last symbol may start */
  const int32_t limit = fast ? inEnd - s->fastMargin : inEnd + 4;
  uint8_t *win = (uint8_t *)(uintptr_t)s->window;
  const int32_t ws = (int32_t)s->windowSize, ring = ws + RING_SLACK;
  const int aligned = s->blockType == BLOCKTYPE_ALIGNED;
  /* bits left-aligned, most significant first */
  uint64_t bb = (uint64_t)b->bitbuf << 32;
  int32_t bl = b->bitsLeft, ip = b->pos;
  /* R0..R2 as an array: a repeated offset is one swap with R[0], whichever it is */
  uint32_t R[3] = { s->R0, s->R1, s->R2 };
  int32_t w = s->w;
  int32_t err = 0, errA = 0, errB = 0;
#define WORD() \
  do { \
    bb |= (uint64_t)(in[ip] | in[ip + 1] << 8) << (48 - bl); \
    ip += 2; \
    bl += 16; \
  } while (0)
#define TOP_UP() \
  do WORD(); \
  while (bl <= 48)
  /* the 16-bit reader's refill before a code: at most 16 bits are read, and it keeps 17 */
#define REFILL_16() \
  do { \
    if (!fast && bl < 17) WORD(); \
  } while (0)

  while (w < end && ip <= limit) {
    if (fast) {
      if (bl < 16) TOP_UP();
    } else {
      /* bl may be 0 here: two words; after a code of at most 16 bits, one is enough */
      while (bl < 17) WORD();
    }
    int32_t e = mainTable[bb >> (64 - MAIN_TB)];
    if ((e & 31) == 0) {
      if (e != 0) e = mainTable[(e >> 5) + ((bb >> 48) & ((1 << (MAX_CODE_LENGTH - MAIN_TB)) - 1))];
      if (e == 0) { err = ERR_MAIN_CODE; break; }
    }
    int32_t n = e & 31;
    bb <<= n;
    bl -= n;
    const int32_t sym = e >> 5;
    if (sym < NUM_CHARS) {
      win[w++] = (uint8_t)sym;
      continue;
    }
    /* the rest of a match: a length code of at most 16 bits, then a footer of at most 17, or 14
       verbatim bits and a 7-bit aligned code */
    if (fast && bl < 37) TOP_UP();

    /* main element = 256 + positionSlot * 8 + lengthHeader */
    const int32_t m = sym - NUM_CHARS;
    int32_t matchLength = m & 7;
    if (matchLength == NUM_PRIMARY_LENGTHS) {
      REFILL_16();
      e = lengthTable[bb >> (64 - LENGTH_TB)];
      if ((e & 31) == 0) {
        if (e != 0) e = lengthTable[(e >> 5) + ((bb >> 48) & ((1 << (MAX_CODE_LENGTH - LENGTH_TB)) - 1))];
        if (e == 0) { err = ERR_LENGTH_CODE; break; }
      }
      n = e & 31;
      bb <<= n;
      bl -= n;
      matchLength += e >> 5;
    }
    matchLength += MIN_MATCH;

    const int32_t slot = m >> 3;
    uint32_t offset;
    if (slot < 3) {
      offset = R[slot];
      R[slot] = R[0];
      R[0] = offset;
    } else {
      const int32_t footer = FOOTER_BITS[slot];
      REFILL_16();
      offset = POSITION_BASE[slot] - 2;
      if (aligned && footer >= 3) {
        if (footer > 3) {
          /* at most 14 verbatim bits; (bb >> 1) >> (63 - v) takes the top v */
          const int32_t v = footer - 3;
          offset += (uint32_t)((bb >> 1) >> (63 - v)) << 3;
          bb <<= v;
          bl -= v;
          REFILL_16();
        }
        e = alignedTable[bb >> (64 - ALIGNED_TB)];
        if (e == 0) { err = ERR_ALIGNED_CODE; break; }
        n = e & 31;
        bb <<= n;
        bl -= n;
        offset += (uint32_t)(e >> 5);
      } else {
        offset += (uint32_t)((bb >> 1) >> (63 - footer));
        bb <<= footer;
        bl -= footer;
      }
      R[2] = R[1];
      R[1] = R[0];
      R[0] = offset;
    }

    /* R0..R2 come from the input too (uncompressed blocks): compare as unsigned */
    if (offset < 1 || offset > (uint32_t)(w + historyBase) || offset > (uint32_t)ws) {
      err = ERR_OFFSET; errA = (int32_t)offset; break;
    }
    if (w + matchLength > blockEnd) {
      err = ERR_MATCH_PAST_BLOCK; errB = matchLength; break;
    }
    w = copyMatch(win, w, offset, matchLength, ring);
  }
#undef REFILL_16
#undef TOP_UP
#undef WORD
  if (fast) {
    /* the 16-bit reader's state: the fewest words that hold the bits consumed, none below them */
    ip -= 2 * (bl >> 4);
    bl &= 15;
    bb = bl ? bb & ~(~(uint64_t)0 >> bl) : 0;
  } else if (ip > inEnd + 4) {
    err = ERR_INPUT_ENDS;
  }
  /* the 16-bit reader keeps at most 32 bits */
  b->pos = ip;
  b->bitsLeft = bl;
  b->bitbuf = (uint32_t)(bb >> 32);
  s->R0 = R[0];
  s->R1 = R[1];
  s->R2 = R[2];
  s->w = w;
  s->errA = errA;
  s->errB = errB;
  return err;
}

static __attribute__((noinline)) int fastSymbols(State *s, Bits *b, int32_t end, int32_t blockEnd, int32_t historyBase) {
  return symbols(s, b, end, blockEnd, historyBase, 1);
}

static __attribute__((noinline)) int exactSymbols(State *s, Bits *b, int32_t end, int32_t blockEnd, int32_t historyBase) {
  return symbols(s, b, end, blockEnd, historyBase, 0);
}

/* Symbols until the window position reaches `end` (the frame's or the block's end). */
static inline int runSymbols(State *s, Bits *b, int32_t end) {
  const int32_t w0 = s->w;
  const int32_t blockEnd = w0 + s->blockRemaining;
  const int32_t historyBase = (int32_t)(s->decoded - (uint32_t)w0);
  int err = fastSymbols(s, b, end, blockEnd, historyBase);
  if (!err) err = exactSymbols(s, b, end, blockEnd, historyBase);
  s->blockRemaining -= s->w - w0;
  s->decoded = addCapped(s->decoded, (uint32_t)(s->w - w0));
  /* the folder position of the symbol that failed */
  if (err == ERR_OFFSET) s->errB = s->w + historyBase;
  else if (err == ERR_MATCH_PAST_BLOCK) s->errA = s->w + historyBase;
  return err;
}

/* ---- frames ---- */

static uint32_t load32(const uint8_t *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

/* An uncompressed block's odd size is padded with a byte, which may be the next frame's first. */
static void endUncompressed(State *s, Bits *b) {
  if (s->blockSize & 1) {
    if (b->pos < b->len) b->pos++;
    else s->pendingPad = 1;
  }
}

/* 1..16 bits of padding up to the next 16-bit boundary, then the byte stream: R0..R2 first. */
static int startUncompressed(State *s, Bits *b) {
  const int32_t partial = b->bitsLeft & 15;
  if (partial != 0) {
    b->bitbuf <<= partial;
    b->bitsLeft -= partial;
  } else {
    int32_t v;
    int e = readBits(b, 16, &v);
    if (e) return e;
  }
  b->pos -= b->bitsLeft >> 3;
  b->bitbuf = 0;
  b->bitsLeft = 0;
  const int32_t p = b->pos;
  if (p + 12 > b->len) {
    s->errA = p;
    return ERR_UNCOMPRESSED_HEADER;
  }
  s->R0 = load32(b->in + p);
  s->R1 = load32(b->in + p + 4);
  s->R2 = load32(b->in + p + 8);
  b->pos = p + 12;
  if (s->blockSize == 0) endUncompressed(s, b);
  return 0;
}

static int copyUncompressed(State *s, Bits *b, int32_t frameEnd) {
  const int32_t n = s->blockRemaining < frameEnd - s->w ? s->blockRemaining : frameEnd - s->w;
  if (b->pos + n > b->len) {
    s->errA = n;
    s->errB = b->pos;
    return ERR_UNCOMPRESSED_DATA;
  }
  __builtin_memcpy((uint8_t *)(uintptr_t)s->window + s->w, b->in + b->pos, (uint32_t)n);
  b->pos += n;
  s->w += n;
  s->decoded = addCapped(s->decoded, (uint32_t)n);
  s->blockRemaining -= n;
  if (s->blockRemaining == 0) endUncompressed(s, b);
  return 0;
}

/* A 3-bit type and a 24-bit size, then the trees of a verbatim or aligned-offset block. */
static int readBlockHeader(State *s, Bits *b) {
  int32_t type, high, low;
  int e;
  /* coming back from byte mode: the bitstream resumes at the current byte */
  if (s->blockType == BLOCKTYPE_UNCOMPRESSED) {
    b->bitbuf = 0;
    b->bitsLeft = 0;
  }
  if ((e = readBits(b, 3, &type)) || (e = readBits(b, 16, &high)) || (e = readBits(b, 8, &low))) return e;
  if (type < BLOCKTYPE_VERBATIM || type > BLOCKTYPE_UNCOMPRESSED) {
    s->errA = type;
    return ERR_BLOCK_TYPE;
  }
  s->blockType = type;
  s->blockSize = s->blockRemaining = (high << 8) | low;
  if (type == BLOCKTYPE_UNCOMPRESSED) return startUncompressed(s, b);
  s->errTree = 0;
  return readTrees(b, type == BLOCKTYPE_ALIGNED);
}

/*
 * One frame: `outSize` bytes into the window from [frameStart, frameStart + outSize), from the
 * `len` bytes at `in` (INPUT_PAD zeros follow them). Every 32 KB of output the bitstream is
 * realigned to 16 bits, so the bit reader starts empty. A match may run past the frame's end
 * (into the next frame's bytes) but never past its block's end.
 */
static inline __attribute__((always_inline)) int decodeFrame(State *s, const uint8_t *in, int32_t len, int32_t outSize) {
  Bits b = { s, in, len, 0, 0, 0 };
  int e;
  if (s->pendingPad) {
    s->pendingPad = 0;
    if (len > 0) b.pos = 1;
  }
  const int32_t frameEnd = s->frameStart + outSize;
  if (!s->headerRead && outSize > 0) {
    int32_t on, high, low;
    if ((e = readBits(&b, 1, &on))) return e;
    if (on) {
      if ((e = readBits(&b, 16, &high)) || (e = readBits(&b, 16, &low))) return e;
      s->e8Size = (uint32_t)high << 16 | (uint32_t)low;
    }
    s->headerRead = 1;
  }
  while (s->w < frameEnd) {
    if (s->blockRemaining == 0 && (e = readBlockHeader(s, &b))) return e;
    if (s->blockType == BLOCKTYPE_UNCOMPRESSED) {
      if ((e = copyUncompressed(s, &b, frameEnd))) return e;
    } else {
      const int32_t blockEnd = s->w + s->blockRemaining;
      if ((e = runSymbols(s, &b, frameEnd < blockEnd ? frameEnd : blockEnd))) return e;
    }
  }
  /* whole 16-bit words: a word's second byte holds its first bits, so a word the frame has only
     the first byte of was read as zeros where its bits were needed */
  const int32_t needed = b.pos - 2 * (b.bitsLeft >> 4);
  if (needed > len) {
    s->errA = needed;
    return ERR_FRAME_SHORT;
  }
  return 0;
}

/*
 * The window is used linearly within a frame; bytes written past the ring's end are mirrored to
 * its start so later back-references (which wrap modulo its size) see them, and positions are
 * rebased once the next frame starts past its end.
 */
static void finishFrame(State *s, int32_t outSize) {
  uint8_t *win = (uint8_t *)(uintptr_t)s->window;
  const int32_t ring = (int32_t)s->windowSize + RING_SLACK;
  s->frameOffset = addCapped(s->frameOffset, (uint32_t)outSize);
  s->frameIndex++;
  if (s->w > ring) __builtin_memmove(win, win + ring, (uint32_t)(s->w - ring));
  s->frameStart += outSize;
  if (s->frameStart >= ring) {
    s->frameStart -= ring;
    s->w -= ring;
  }
}

/*
 * Decode `n` frames in order. A frame's CFDATA checksum, when it has one to verify, covers the
 * `headerLen` bytes before its input (cbData, cbUncomp, abReserve) and the input, and is checked
 * before the frame is decoded. With `copyOut`, the last frame's bytes are copied to State.out
 * before the ring moves on. Returns the number of frames finished; State.err says why it stopped
 * short (with errA, errB and errTree; State.frameIndex is the frame that failed).
 */
__attribute__((export_name("lzx_frames")))
int32_t lzx_frames(State *s, const Frame *frames, int32_t n, int32_t headerLen, int32_t copyOut) {
  uint8_t *const input = (uint8_t *)(uintptr_t)s->input;
  s->err = 0;
  for (int32_t i = 0; i < n; i++) {
    const Frame *f = &frames[i];
    const uint8_t *src = (const uint8_t *)(uintptr_t)f->input;
    if (f->csum != 0) {
      const uint32_t sum = csumCompute(src - headerLen, (uint32_t)headerLen, csumCompute(src, (uint32_t)f->len, 0));
      if (sum != f->csum) {
        s->err = ERR_CHECKSUM;
        s->errA = (int32_t)sum;
        return i;
      }
    }
    if (src != input) __builtin_memcpy(input, src, (uint32_t)f->len);
    __builtin_memset(input + f->len, 0, INPUT_PAD);
    const int e = decodeFrame(s, input, f->len, f->outSize);
    if (e) {
      s->err = e;
      return i;
    }
    if (copyOut && i == n - 1) __builtin_memcpy((uint8_t *)(uintptr_t)s->out, (uint8_t *)(uintptr_t)s->window + s->frameStart, (uint32_t)f->outSize);
    finishFrame(s, f->outSize);
  }
  return n;
}

/* Start of a folder: forget the window's contents, the block, R0..R2, the E8 header, and the code lengths (every block's deltas start from zeros). */
__attribute__((export_name("lzx_reset")))
void lzx_reset(State *s) {
  s->R0 = s->R1 = s->R2 = 1;
  s->w = s->frameStart = 0;
  s->decoded = 0;
  s->blockType = s->blockSize = s->blockRemaining = 0;
  s->pendingPad = s->headerRead = 0;
  s->e8Size = 0;
  s->frameIndex = 0;
  s->frameOffset = 0;
  s->err = s->errA = s->errB = s->errTree = 0;
  for (int i = 0; i < MAX_MAIN_ELEMENTS; i++) mainLengths[i] = 0;
  for (int i = 0; i < NUM_SECONDARY_LENGTHS; i++) lengthLengths[i] = 0;
}
