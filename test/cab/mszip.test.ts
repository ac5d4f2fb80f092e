/**
 * MSZIP block decoding: the reusable native engine (history fed as a stored block) and the
 * public inflateRawSync path (history as a preset dictionary) must agree on every block,
 * including short blocks whose history mixes two earlier blocks, and fail the same way.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { MszipDecoder } from '../../src/cab/mszip.js';
import { seededBytes } from '../helpers/rng.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Blocks of the given sizes, each compressed against the 32 KiB of data before it, as makecab does. */
function encode(data: Buffer, sizes: number[]): Array<{ bytes: Uint8Array; size: number }> {
  const out: Array<{ bytes: Uint8Array; size: number }> = [];
  let at = 0;
  for (const size of sizes) {
    const block = data.subarray(at, at + size);
    const dict = data.subarray(Math.max(0, at - 32768), at);
    out.push({ bytes: Buffer.concat([Buffer.from('CK'), deflateRawSync(block, dict.length ? { dictionary: dict } : {})]), size });
    at += size;
  }
  return out;
}

function decoders(): Array<[string, MszipDecoder]> {
  const fast = new MszipDecoder();
  const pub = new MszipDecoder();
  pub.disableEngine();
  return [['engine', fast], ['public', pub]];
}

// text that refers far back (repeats across block boundaries) with random runs between
const corpus = Buffer.concat(Array.from({ length: 12 }, (_, i) => Buffer.concat([Buffer.from(`<file name="c${i}.dll" destinationPath="$(runtime.system32)\\"/>\n`.repeat(300)), seededBytes(3000, 1001 + i)])));

describe('MszipDecoder', () => {
  it('uses the native engine on this Node', () => {
    expect(new MszipDecoder().usesEngine).toBe(true);
  });

  it.each([
    ['full blocks', [32768, 32768, 32768, 32768]],
    ['short blocks: history mixes earlier blocks', [5000, 100, 32768, 7, 20000, 32768, 1]],
    ['empty block in the middle', [32768, 0, 32768]],
  ])('%s: both paths give the original bytes', (_name, sizes) => {
    const total = sizes.reduce((a, b) => a + b, 0);
    const data = corpus.subarray(0, total);
    const blocks = encode(data, sizes);
    for (const [label, d] of decoders()) {
      const parts = blocks.map((b) => Buffer.from(d.decodeBlock(b.bytes, b.size)));
      expect(sha(Buffer.concat(parts)), label).toBe(sha(data));
      // reset() forgets the history: the first block decodes again on its own
      d.reset();
      expect(sha(d.decodeBlock(blocks[0]!.bytes, blocks[0]!.size)), label).toBe(sha(data.subarray(0, sizes[0])));
    }
  });

  it('refuses a wrong signature, a block that expands past its size, a short block and corrupt data', () => {
    const [b] = encode(corpus, [32768]);
    for (const [label, d] of decoders()) {
      expect(() => d.decodeBlock(Uint8Array.from([0x43, 0x4a, 0, 0]), 1), label).toThrow('MSZIP block does not start with the "CK" signature');
      expect(() => d.decodeBlock(b!.bytes, 32000), label).toThrow(/expands past its declared size/);
      d.reset();
      expect(() => d.decodeBlock(b!.bytes.subarray(0, 200), 32768), label).toThrow(/MSZIP block expanded to \d+ bytes, CFDATA\.cbUncomp says 32768/);
      d.reset();
      expect(() => d.decodeBlock(Uint8Array.from([0x43, 0x4b, 0xff, 0xff, 0xff]), 10), label).toThrow(/corrupt MSZIP block: invalid block type/);
      // the decoder is usable again after an error and a reset
      d.reset();
      expect(sha(d.decodeBlock(b!.bytes, 32768)), label).toBe(sha(corpus.subarray(0, 32768)));
    }
  });

  it('a returned block is a plain Uint8Array view: slice() copies, so callers can keep a copy safely', () => {
    const blocks = encode(corpus, [32768, 32768]);
    const d = new MszipDecoder();
    const first = d.decodeBlock(blocks[0]!.bytes, 32768);
    const copy = first.slice();
    d.decodeBlock(blocks[1]!.bytes, 32768);
    expect(sha(copy)).toBe(sha(corpus.subarray(0, 32768)));
  });
});
