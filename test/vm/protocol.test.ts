import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { uniform as rng } from '../helpers/rng.js';
import { formatGuestLine, MAX_LINE_BYTES, PROTOCOL_PREFIX, ProtocolParser, SerialTail, type SerialItem } from '../../src/vm/protocol.js';



function parseAll(chunks: Uint8Array[]): SerialItem[] {
  const p = new ProtocolParser();
  const out: SerialItem[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.flush());
  return out;
}

const enc = (s: string) => Buffer.from(s, 'utf8');

// A realistic stream: firmware noise, kernel chatter without newline before a protocol line,
// CRLF and LF endings, a non-ASCII step name, garbage after the prefix, a duplicate, a reboot.
const STREAM = [
  'SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n',
  'Booting from Hard Disk...\r\n',
  formatGuestLine({ type: 'boot', n: 1, seq: 1 }),
  '[    0.000000] Linux version 6.1.0 ',
  `${PROTOCOL_PREFIX}{"type":"step","id":"search","name":"Suche nach Updates – läuft","state":"running","seq":2}\n`,
  `${PROTOCOL_PREFIX}{"type":"progress","pct":42.5,"text":"3/7","seq":3}\r\n`,
  `${PROTOCOL_PREFIX}{"type":"progress","pct":42.5,"text":"3/7","seq":3}\r\n`,
  `${PROTOCOL_PREFIX}{not json at all\r\n`,
  `${PROTOCOL_PREFIX}{"type":"step","id":"x","name":"y","state":"exploded"}\r\n`,
  `${PROTOCOL_PREFIX}{"type":"teleport"}\r\n`,
  '\r\n',
  formatGuestLine({ type: 'heartbeat', seq: 4, data: { cpu: 12 } }),
  formatGuestLine({ type: 'boot', n: 2, seq: 1 }),
  formatGuestLine({ type: 'result', seq: 2, data: { installed: ['KB5034441'] } }),
  formatGuestLine({ type: 'error', code: 'search_failed', message: '0x8024402C' }),
  `${PROTOCOL_PREFIX}{"type":"done","ok":false}`, // last line without LF
].join('');

const EXPECTED: SerialItem[] = [
  { kind: 'event', line: 3, event: { type: 'boot', n: 1, seq: 1 } },
  { kind: 'event', line: 4, event: { type: 'step', id: 'search', name: 'Suche nach Updates – läuft', state: 'running', seq: 2 } },
  { kind: 'event', line: 5, event: { type: 'progress', pct: 42.5, text: '3/7', seq: 3 } },
  { kind: 'warning', line: 6, message: 'duplicate progress event with seq 3 ignored' },
  { kind: 'warning', line: 7, message: 'unparseable protocol line: "{not json at all"' },
  { kind: 'warning', line: 8, message: 'bad protocol event: step: "state" must be one of running | ok | failed | skipped' },
  { kind: 'warning', line: 9, message: 'bad protocol event: unknown type "teleport"' },
  { kind: 'event', line: 11, event: { type: 'heartbeat', seq: 4, data: { cpu: 12 } } },
  { kind: 'event', line: 12, event: { type: 'boot', n: 2, seq: 1 } },
  { kind: 'event', line: 13, event: { type: 'result', seq: 2, data: { installed: ['KB5034441'] } } },
  { kind: 'event', line: 14, event: { type: 'error', code: 'search_failed', message: '0x8024402C' } },
  { kind: 'event', line: 15, event: { type: 'done', ok: false } },
];

describe('ProtocolParser', () => {
  it('parses a noisy stream into events and warnings, with line numbers', () => {
    const p = new ProtocolParser();
    const items = [...p.push(enc(STREAM)), ...p.flush()];
    expect(items).toEqual(EXPECTED);
    // SeaBIOS, Booting…, and the kernel line's text before the prefix does not count: 2 noise lines
    expect(p.noiseLines).toBe(2);
  });

  it('yields the same items for any chunking of the same bytes (300 random splits, incl. inside UTF-8 sequences)', () => {
    const bytes = enc(STREAM);
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const chunks: Uint8Array[] = [];
      let i = 0;
      while (i < bytes.length) {
        const n = 1 + Math.floor(r() * (r() < 0.3 ? 3 : 80));
        chunks.push(bytes.subarray(i, Math.min(bytes.length, i + n)));
        i += n;
      }
      expect(parseAll(chunks), `seed ${seed}`).toEqual(EXPECTED);
    }
  });

  it('byte-at-a-time input gives the same result', () => {
    const bytes = enc(STREAM);
    expect(parseAll([...bytes].map((b) => Uint8Array.of(b)))).toEqual(EXPECTED);
  });

  it('survives random garbage after the prefix without throwing', () => {
    const r = rng(7);
    for (let k = 0; k < 200; k++) {
      const junk = Buffer.from(Array.from({ length: Math.floor(r() * 60) }, () => Math.floor(r() * 256)).filter((b) => b !== 0x0a));
      const items = parseAll([enc(PROTOCOL_PREFIX), junk, enc('\n'), enc(formatGuestLine({ type: 'heartbeat' }))]);
      // whatever the junk was, the following valid line still comes through
      expect(items[items.length - 1]).toEqual({ kind: 'event', line: 2, event: { type: 'heartbeat' } });
      expect(items.slice(0, -1).every((i) => i.kind === 'warning')).toBe(true);
    }
  });

  it('discards an over-long line with one warning and keeps going', () => {
    const long = PROTOCOL_PREFIX + 'x'.repeat(MAX_LINE_BYTES + 10) + '\n';
    const items = parseAll([enc(long.slice(0, 1000)), enc(long.slice(1000)), enc(formatGuestLine({ type: 'done' }))]);
    expect(items).toEqual([
      { kind: 'warning', line: 1, message: `line longer than ${MAX_LINE_BYTES} bytes discarded` },
      { kind: 'event', line: 2, event: { type: 'done' } },
    ]);
  });

  it('accepts the same seq again after a new boot (guests may restart their counter)', () => {
    const items = parseAll([enc(formatGuestLine({ type: 'step', id: 'a', name: 'a', state: 'ok', seq: 5 }) + formatGuestLine({ type: 'boot', n: 2 }) + formatGuestLine({ type: 'step', id: 'a', name: 'a', state: 'ok', seq: 5 }))]);
    expect(items.map((i) => i.kind)).toEqual(['event', 'event', 'event']);
  });

  it('names the field in shape errors', () => {
    const items = parseAll([enc(`${PROTOCOL_PREFIX}{"type":"boot"}\n${PROTOCOL_PREFIX}{"type":"progress","pct":101}\n${PROTOCOL_PREFIX}{"type":"boot","n":1,"seq":-1}\n${PROTOCOL_PREFIX}[1]\n`)]);
    expect(items.map((i) => (i.kind === 'warning' ? i.message : ''))).toEqual([
      'bad protocol event: boot: "n" must be a non-negative integer',
      'bad protocol event: progress: "pct" must be a number 0..100',
      'bad protocol event: boot: "seq" must be a non-negative integer',
      'bad protocol event: not a JSON object',
    ]);
  });
});

describe('SerialTail', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-tail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('returns nothing while the file does not exist, then follows appends including split lines', () => {
    const f = path.join(dir, 'a.log');
    const t = new SerialTail(f);
    expect(t.poll()).toEqual([]);
    writeFileSync(f, 'noise\r\n@@MSU {"type":"bo');
    expect(t.poll()).toEqual([]);
    appendFileSync(f, 'ot","n":1}\r\n@@MSU {"type":"heartbeat"}\r\n');
    expect(t.poll()).toEqual([
      { kind: 'event', line: 2, event: { type: 'boot', n: 1 } },
      { kind: 'event', line: 3, event: { type: 'heartbeat' } },
    ]);
    expect(t.position).toBe(64);
    appendFileSync(f, '@@MSU {"type":"done"}');
    expect(t.poll()).toEqual([]);
    expect(t.drain()).toEqual([{ kind: 'event', line: 4, event: { type: 'done' } }]);
  });

  it('starts over with a warning when the file is truncated', () => {
    const f = path.join(dir, 'b.log');
    writeFileSync(f, formatGuestLine({ type: 'boot', n: 1 }) + formatGuestLine({ type: 'heartbeat' }));
    const t = new SerialTail(f);
    expect(t.poll()).toHaveLength(2);
    truncateSync(f, 0);
    appendFileSync(f, formatGuestLine({ type: 'done' }));
    expect(t.poll()).toEqual([
      { kind: 'warning', line: 0, message: 'serial log shrank from 57 to 23 bytes; reading again from the start' },
      { kind: 'event', line: 3, event: { type: 'done' } },
    ]);
  });

  it('starts over with a warning when the file is replaced (rotation)', () => {
    const f = path.join(dir, 'c.log');
    writeFileSync(f, 'partial line without end @@MSU {"type":');
    const t = new SerialTail(f);
    expect(t.poll()).toEqual([]);
    const g = path.join(dir, 'c.new');
    writeFileSync(g, 'fresh boot chatter that is long enough to be bigger\r\n' + formatGuestLine({ type: 'boot', n: 7 }));
    renameSync(g, f);
    const items = t.poll();
    expect(items[0]).toEqual({ kind: 'warning', line: 0, message: 'serial log was replaced; reading the new file from the start' });
    // the stale partial line of the old file is dropped, not glued onto the new one
    expect(items.slice(1)).toEqual([{ kind: 'event', line: 2, event: { type: 'boot', n: 7 } }]);
  });
});
