/**
 * Hostile INFs built in code: expansion bombs, huge lines, too many lines or values. Each
 * is refused with one InfError naming the file, the line and the limit, or parsed with
 * bounded output; checkDriverPackage turns them into one finding, never a crash.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { InfError, MAX_EXPANDED_CHARS, MAX_INF_BYTES, MAX_INF_FIELDS, MAX_INF_LINES, parseInf } from '../../src/drivers/inf.js';
import { checkDriverPackage } from '../../src/drivers/package.js';
import { cleanupPackages, makePackage } from './fixtures.js';

afterAll(cleanupPackages);

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The 90 KB INF of the report: 8,200 references to a 65,536-character string. */
const bomb = `[Version]\r\nClass=${'%S%'.repeat(8200)}\r\n[Strings]\r\nS=${'x'.repeat(65536)}\r\n`;

describe('INF limits', () => {
  test('an expansion bomb is one InfError naming file, line and the 4096-character limit', () => {
    expect(bomb.length).toBeGreaterThan(90_000);
    const e = thrown(() => parseInf(enc(bomb), 'bomb.inf'));
    expect(e).toBeInstanceOf(InfError);
    expect((e as InfError).line).toBe(2);
    expect((e as InfError).describe()).toBe(`bomb.inf: %strkey% substitution makes a value longer than ${MAX_EXPANDED_CHARS} characters, the SetupAPI limit (line 2)`);
  });

  test('expansion up to the limit is kept whole; a long literal value is not an expansion', () => {
    const ok = parseInf(enc(`[Version]\nClass=%S%%S%\n[Strings]\nS=${'y'.repeat(2048)}\n`));
    expect(ok.version.class).toBe('y'.repeat(4096));
    const literal = 'z'.repeat(100_000);
    expect(parseInf(enc(`[Version]\nProvider=${literal}\n`)).version.provider).toBe(literal);
    expect(() => parseInf(enc(`[Version]\nClass=%S%%S%a\n[Strings]\nS=${'y'.repeat(2048)}\n`))).toThrow(InfError);
  });

  test('input over MAX_INF_BYTES is refused before decoding', () => {
    const big = Buffer.alloc(MAX_INF_BYTES + 1, 0x20);
    big.write('[Version]\n');
    const e = thrown(() => parseInf(big, 'big.inf'));
    expect(e).toBeInstanceOf(InfError);
    expect((e as InfError).message).toBe(`INF is ${MAX_INF_BYTES + 1} bytes; refusing anything over ${MAX_INF_BYTES} (16 MiB)`);
  });

  test('more than MAX_INF_LINES lines, or more than MAX_INF_FIELDS values, is refused naming the line', () => {
    const lines = thrown(() => parseInf(enc('[Version]\n' + '\n'.repeat(MAX_INF_LINES)), 'lines.inf'));
    expect(lines).toBeInstanceOf(InfError);
    expect((lines as InfError).line).toBe(MAX_INF_LINES + 1);
    expect((lines as InfError).message).toBe(`more than ${MAX_INF_LINES} lines; refusing the INF`);
    const fields = thrown(() => parseInf(enc('[Version]\nClass=X\n[X]\nk=' + 'v,'.repeat(MAX_INF_FIELDS) + '\n'), 'fields.inf'));
    expect(fields).toBeInstanceOf(InfError);
    expect((fields as InfError).line).toBe(4);
  });

  test('a 4 MB line of values parses into its fields (one pass, no quadratic rescans)', () => {
    const n = 1_000_000;
    const inf = parseInf(enc('[X]\nk=' + 'ab,'.repeat(n) + 'end\n'));
    const fields = inf.sections[0]!.entries[0]!.fields;
    expect(fields.length).toBe(n + 1);
    expect(fields[0]).toBe('ab');
    expect(fields[n]).toBe('end');
  });

  test('an unknown %strkey% used 100,000 times is reported once, at its first line', () => {
    const inf = parseInf(enc(`[Version]\nClass=X\n[X]\nk=${'%nope%'.repeat(50_000)}\nj=${'%NOPE%'.repeat(50_000)}\n`), 'u.inf');
    expect(inf.issues).toEqual([{ level: 'warning', code: 'INF_UNKNOWN_STRKEY', message: '%nope% is not defined in [Strings]', file: 'u.inf', line: 4 }]);
  });

  test('keys that name Object.prototype members are unknown keys, not functions', () => {
    const inf = parseInf(enc('[Version]\nClass=%constructor%\nProvider=%__proto__%\n'), 'p.inf');
    expect(inf.version.class).toBe('%constructor%');
    expect(inf.version.provider).toBe('%__proto__%');
    expect(inf.issues.map((i) => i.code)).toEqual(['INF_UNKNOWN_STRKEY', 'INF_UNKNOWN_STRKEY']);
  });

  test('checkDriverPackage reports the bomb as one DRV_INF_SYNTAX finding and goes on', async () => {
    const dir = await makePackage({ 'bomb.inf': bomb });
    const r = await checkDriverPackage(dir, { arch: 'amd64' });
    expect(r.findings).toEqual([
      { level: 'error', code: 'DRV_INF_SYNTAX', message: `%strkey% substitution makes a value longer than ${MAX_EXPANDED_CHARS} characters, the SetupAPI limit`, file: 'bomb.inf', line: 2 },
    ]);
    expect(r.errors).toBe(1);
  });
});
